/*
 * it_enospc: a full backing filesystem is reported by write(2), never silently
 * (DURABILITY.md requirement 20, technique T6).
 *
 * The store lives on a 48 MiB ext4 on a loop device. Three files are written in turn with
 * 100 KiB writes (a size that straddles 64 KiB chunks), fsyncing every 8 writes, until a write
 * fails. Checks:
 *   - the failing call is write(2) (not fsync or close) and its errno is ENOSPC; a short write
 *     just before it counts as written;
 *   - fsync of every file afterwards returns 0: everything acknowledged fits;
 *   - after unmount (daemon exit 0) and remount every acknowledged byte reads back, and each
 *     size is exactly what was acknowledged;
 *   - after deleting one file, writing works again (the failure was not sticky for others);
 *   - a file grown by ftruncate past the free space: writes into its hole fail at write(2)
 *     with ENOSPC too, and what was acknowledged reads back, live and after a remount.
 *
 * Usage: it_enospc FROZENFS_BINARY
 */
#include "fstest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NF	3
#define WLEN	(100 * 1024)
#define MAXF	(64u << 20)

static struct ft_mount m;
static struct ft_disk disk;
static uint8_t *data[NF];
static size_t acked[NF];

static const char *fname(int i)
{
	static const char *const n[NF] = { "full0", "full1", "full2" };

	return n[i];
}

static void verify(const char *when)
{
	int i;

	for (i = 0; i < NF; i++) {
		size_t len;
		uint8_t *d = ft_read_file(ft_path(&m, fname(i)), &len);
		long long diff;

		FT_ASSERT(len == acked[i], "%s: %s has %zu bytes, %zu were acknowledged", when,
			  fname(i), len, acked[i]);
		diff = ft_memdiff(d, data[i], len);
		FT_ASSERT(diff < 0, "%s: %s differs at byte %lld", when, fname(i), diff);
		free(d);
	}
	ft_ok("%s: all %zu + %zu + %zu acknowledged bytes read back", when, acked[0], acked[1],
	      acked[2]);
}

/* The sparse file's content: acked_sparse bytes of data[2], zeros up to SPARSE_SIZE. */
#define SPARSE_SIZE	(MAXF)
static size_t acked_sparse;

static void verify_sparse(const char *when)
{
	size_t len;
	uint8_t *d = ft_read_file(ft_path(&m, "sparse"), &len);
	long long diff;

	FT_ASSERT(len == SPARSE_SIZE, "%s: sparse has %zu bytes, not %u", when, len, SPARSE_SIZE);
	diff = ft_memdiff(d, data[2], acked_sparse);
	FT_ASSERT(diff < 0, "%s: sparse differs at byte %lld", when, diff);
	for (size_t i = acked_sparse; i < len; i++)
		FT_ASSERT(d[i] == 0, "%s: sparse byte %zu, in the hole, is %u", when, i, d[i]);
	free(d);
	ft_ok("%s: the %zu acknowledged bytes and the hole after them read back", when,
	      acked_sparse);
}

/*
 * Writes into the hole of a file grown by ftruncate, on the nearly full disk: they too must
 * fail at write(2). Before, nothing reserved them, the write-out failed, and the file was
 * poisoned: fsync returned the error and every later write EIO.
 */
static void sparse_phase(void)
{
	int fd, err = 0, k = 0;

	ft_check("a file grown by ftruncate past the free space: a write into its hole fails "
		 "with ENOSPC at write(2), never at fsync");
	fd = FT_SYS(open(ft_path(&m, "sparse"), O_WRONLY | O_CREAT | O_EXCL, 0644));
	FT_SYS(ftruncate(fd, SPARSE_SIZE));
	for (;;) {
		ssize_t r;

		FT_ASSERT(acked_sparse + WLEN <= SPARSE_SIZE, "%u bytes written into the hole of "
			  "a 64 MiB file on a full 48 MiB disk without ENOSPC", SPARSE_SIZE);
		r = pwrite(fd, data[2] + acked_sparse, WLEN, (off_t)acked_sparse);
		if (r < 0) {
			err = errno;
			break;
		}
		acked_sparse += (size_t)r;
		if (r == WLEN && ++k % 8 == 0 && fsync(fd) < 0)
			ft_fail("fsync of sparse failed with %s after %zu bytes: ENOSPC must be "
				"reported by write(2)", strerror(errno), acked_sparse);
	}
	FT_ASSERT(err == ENOSPC, "the failing write gave %s, expected ENOSPC", strerror(err));
	ft_ok("pwrite(2) into the hole failed with ENOSPC after %zu bytes", acked_sparse);
	if (fsync(fd) < 0)
		ft_fail("fsync of sparse after the ENOSPC write: %s", strerror(errno));
	FT_SYS(close(fd));
	verify_sparse("live");
	ft_remount(&m);
	verify_sparse("after remount");
}

int main(int argc, char **argv)
{
	char store[PATH_MAX], mp[PATH_MAX];
	int fd[NF], i, k = 0, failed = 0, err = 0;
	uint64_t seed = 20;

	ft_init(argc, argv);
	if (ft_fake())
		ft_fail("it_enospc needs the real daemon (FT_FAKE is set)");
	ft_disk_create(&disk, "small", 48);
	if (snprintf(store, sizeof(store), "%s/store", disk.dir) >= (int)sizeof(store))
		ft_fail("path too long");
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	ft_mount(&m, store, mp, NULL);

	ft_check("fill a 48 MiB backing ext4 with 100 KiB writes: the first failure is write(2) "
		 "with ENOSPC");
	for (i = 0; i < NF; i++) {
		data[i] = malloc(MAXF);
		FT_ASSERT(data[i], "out of memory");
		ft_rand_fill(&seed, data[i], MAXF);
		fd[i] = FT_SYS(open(ft_path(&m, fname(i)), O_WRONLY | O_CREAT | O_EXCL, 0644));
	}
	while (!failed) {
		i = k % NF;
		FT_ASSERT(acked[i] + WLEN <= MAXF, "%s reached %u bytes on a 48 MiB disk without "
			  "ENOSPC", fname(i), MAXF);
		ssize_t r = write(fd[i], data[i] + acked[i], WLEN);

		if (r < 0) {
			err = errno;
			failed = 1;
			break;
		}
		acked[i] += (size_t)r;
		if (r < WLEN)		/* short: the next write must say why */
			continue;
		if (++k % 8 == 0) {
			int j;

			for (j = 0; j < NF; j++)
				if (fsync(fd[j]) < 0)
					ft_fail("fsync of %s failed with %s after %zu bytes: "
						"ENOSPC must be reported by write(2), not by "
						"fsync", fname(j), strerror(errno), acked[j]);
		}
	}
	FT_ASSERT(err == ENOSPC, "the failing write gave %s, expected ENOSPC", strerror(err));
	ft_ok("write(2) failed with ENOSPC after %zu bytes in total",
	      acked[0] + acked[1] + acked[2]);

	ft_check("after ENOSPC: fsync of every file returns 0 and close returns 0");
	for (i = 0; i < NF; i++) {
		if (fsync(fd[i]) < 0)
			ft_fail("fsync of %s after the ENOSPC write: %s (acknowledged data "
				"must be durable)", fname(i), strerror(errno));
		if (close(fd[i]) < 0)
			ft_fail("close of %s after the ENOSPC write: %s", fname(i),
				strerror(errno));
	}
	ft_ok("fsync and close return 0");
	verify("live");

	ft_check("unmount (daemon exits 0), remount, every acknowledged byte is there");
	ft_remount(&m);
	verify("after remount");

	ft_check("after deleting a file there is room again");
	FT_SYS(unlink(ft_path(&m, fname(2))));
	{
		int f = FT_SYS(open(ft_path(&m, "again"), O_WRONLY | O_CREAT | O_EXCL, 0644));

		ft_pwrite_all(f, data[2], 1 << 20, 0);
		FT_SYS(fsync(f));
		FT_SYS(close(f));
	}
	ft_ok("1 MiB written and fsynced after freeing space");
	acked[2] = 0;
	sparse_phase();
	ft_umount(&m);
	ft_ok("unmounted, daemon exited 0");
	for (i = 0; i < NF; i++)
		free(data[i]);
	return ft_done();
}
