/*
 * it_mmap: memory-mapped I/O on a frozenfs mount.
 *
 * Programs that map files (SQLite's mmap mode and its WAL index, git's pack reading, linkers,
 * editors) see the file through the kernel's page cache, which FUSE fills with READ and
 * empties with WRITEs of whole pages (the writepage path) that arrive later and from the
 * kernel, not from the program. Checked here, each against a model of the file kept in memory:
 *
 *   - a MAP_SHARED read sees data still queued in the pipeline (slow flusher), past chunk
 *     boundaries and up to an unaligned end of file, and reads zeros past it in the last page;
 *   - stores into a MAP_SHARED mapping, across chunk boundaries and into the short last page,
 *     reach the file: another descriptor reads them after msync(MS_SYNC), the size does not
 *     change, and the bytes past the end of file that the last page holds never reach it;
 *   - a write(2) to a mapped range shows in the mapping at once;
 *   - MAP_PRIVATE stores stay private;
 *   - a write through a write-only descriptor (which the mount serves without its page cache
 *     on Linux >= 6.6) shows at once in the cached pages and the mapping of another
 *     descriptor, also an unaligned one inside a page, and a dirty page of a shared
 *     mapping next to it keeps its own store; on Linux >= 6.6 the pages such a write
 *     covered are no longer cached (mincore), which shows it bypassed the page cache;
 *   - ftruncate grows a mapped file and stores into the new part reach it; after a shrink the
 *     dropped part reads as zeros when the file grows again;
 *   - msync(MS_SYNC) is a durability point: stores followed by msync(MS_SYNC) survive a power
 *     loss (kill -9 of the daemon, ext4 shutdown without log flush, remount), and so do the
 *     stores of a mapping that was unmapped before an fdatasync of its descriptor;
 *   - with -o direct_io a MAP_SHARED mapping works (Linux >= 6.6) and read(2) and write(2)
 *     see its stores and it sees theirs.
 *
 * Usage: it_mmap FROZENFS_BINARY (run as root: power loss needs a loop device)
 */
#include "fstest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

/* Slow flusher: nothing reaches the backing file unless something waits for it. */
#define OPTS "chunk_size=64K,flush_interval_ms=30000"
#define CHUNK 65536

static struct ft_disk disk;
static struct ft_mount m;
static char store[PATH_MAX], mp[PATH_MAX];
static uint64_t seed = 0x6d6d6170;	/* "mmap" */

#define P(name) ft_path(&m, name)

static uint8_t *random_bytes(size_t len)
{
	uint8_t *b = malloc(len ? len : 1);

	FT_ASSERT(b, "out of memory");
	ft_rand_fill(&seed, b, len);
	return b;
}

/* The file at PATH must hold exactly LEN bytes equal to WANT, read through a new descriptor. */
static void expect_file(const char *what, const char *path, const uint8_t *want, size_t len)
{
	size_t got_len;
	uint8_t *got = ft_read_file(path, &got_len);
	long long d;

	FT_ASSERT(got_len == len, "%s: %zu bytes, expected %zu", what, got_len, len);
	d = ft_memdiff(got, want, len);
	FT_ASSERT(d < 0, "%s: byte %lld is 0x%02x, expected 0x%02x", what, d, got[d], want[d]);
	free(got);
	ft_ok("%s (%zu bytes)", what, len);
}

static void drop_caches(void)
{
	int fd = FT_SYS(open("/proc/sys/vm/drop_caches", O_WRONLY));

	sync();
	FT_SYS(write(fd, "3", 1));
	FT_SYS(close(fd));
}

static void *map(int fd, size_t len, int prot, int flags)
{
	void *a = mmap(NULL, len, prot, flags, fd, 0);

	FT_ASSERT(a != MAP_FAILED, "mmap %zu bytes: %s", len, strerror(errno));
	return a;
}

/* Stores at a few offsets (chunk boundaries, page boundaries, the last byte) into both the
 * mapping and the model. */
static void store_pattern(uint8_t *map_, uint8_t *model, size_t len, uint8_t tag)
{
	const size_t offs[] = { 0, 4095, 4096, CHUNK - 3, CHUNK, 2 * CHUNK + 17, len / 2,
				len - 5000, len - 1 };
	size_t k, j;

	for (k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		size_t o = offs[k];

		for (j = 0; j < 700 && o + j < len; j++) {
			uint8_t v = (uint8_t)(tag + k * 31 + j);

			map_[o + j] = v;
			model[o + j] = v;
		}
	}
}

static void queued_data_is_mapped(void)
{
	const size_t len = 3 * CHUNK + 1234;	/* the last page is short */
	uint8_t *want = random_bytes(len), *a;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), mapped = (len + page - 1) / page * page, i;
	int fd;

	ft_check("a MAP_SHARED read sees writes still queued in the pipeline");
	fd = FT_SYS(open(P("queued"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, want, len, 0);
	a = map(fd, len, PROT_READ, MAP_SHARED);
	FT_ASSERT(ft_memdiff(a, want, len) < 0, "mapping differs from what write(2) wrote");
	for (i = len; i < mapped; i++)
		FT_ASSERT(a[i] == 0, "byte %zu past the end of file in the last page is 0x%02x", i,
			  a[i]);
	ft_ok("mapping equals the %zu queued bytes, zeros after the end of file", len);

	ft_check("write(2) to a mapped range shows in the mapping at once");
	memset(want + CHUNK - 10, 0xA5, 20);
	ft_pwrite_all(fd, want + CHUNK - 10, 20, CHUNK - 10);
	FT_ASSERT(ft_memdiff(a, want, len) < 0, "mapping missed a write(2)");
	ft_ok("mapping shows the write(2) across the chunk boundary");
	FT_SYS(munmap(a, len));
	FT_SYS(close(fd));
	free(want);
}

static void shared_stores_reach_the_file(void)
{
	const size_t len = 4 * CHUNK + 777;
	uint8_t *model = random_bytes(len), *a;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), mapped = (len + page - 1) / page * page;
	struct stat st;
	int fd;

	ft_check("stores into a MAP_SHARED mapping reach the file");
	ft_write_file(P("shared"), model, len, 1);
	fd = FT_SYS(open(P("shared"), O_RDWR));
	a = map(fd, mapped, PROT_READ | PROT_WRITE, MAP_SHARED);
	store_pattern(a, model, len, 1);
	/* Past the end of file inside the last page: must never reach the file. */
	memset(a + len, 0xEE, mapped - len);
	FT_SYS(msync(a, mapped, MS_SYNC));
	expect_file("after msync(MS_SYNC), a new descriptor reads the stores", P("shared"), model,
		    len);
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_size == (off_t)len, "size %lld after the stores, expected %zu",
		  (long long)st.st_size, len);
	ft_ok("size unchanged by stores past the end of file in the last page");

	/* Stores with no msync: munmap and close, then fsync on a new descriptor. */
	store_pattern(a, model, len, 77);
	FT_SYS(munmap(a, mapped));
	FT_SYS(close(fd));
	fd = FT_SYS(open(P("shared"), O_RDONLY));
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	drop_caches();
	expect_file("stores of an unmapped, closed mapping, after the page cache was dropped",
		    P("shared"), model, len);
	free(model);
}

static void private_stores_stay_private(void)
{
	const size_t len = 2 * CHUNK;
	uint8_t *model = random_bytes(len), *a;
	int fd;

	ft_check("MAP_PRIVATE stores never reach the file");
	ft_write_file(P("private"), model, len, 0);
	fd = FT_SYS(open(P("private"), O_RDWR));
	a = map(fd, len, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	memset(a + 100, 0x5A, CHUNK);
	FT_SYS(msync(a, len, MS_SYNC));
	FT_SYS(munmap(a, len));
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	expect_file("file unchanged by private stores", P("private"), model, len);
	free(model);
}

static int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	FT_SYS(uname(&u));
	if (sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		ft_fail("cannot parse the kernel release '%s'", u.release);
	return ma > major || (ma == major && mi >= minor);
}

static void write_only_writer_is_seen(void)
{
	const size_t len = 3 * CHUNK;
	uint8_t *model = random_bytes(len), *a, *mw, *got = malloc(len);
	int rfd, wfd, mfd;

	FT_ASSERT(got, "out of memory");
	ft_check("a write through an O_WRONLY descriptor shows in other descriptors' cached "
		 "pages and mappings");
	ft_write_file(P("wronly"), model, len, 0);
	rfd = FT_SYS(open(P("wronly"), O_RDONLY));
	ft_pread_all(rfd, got, len, 0);		/* the pages are cached now */
	a = map(rfd, len, PROT_READ, MAP_SHARED);
	FT_ASSERT(a[5000] == model[5000], "mapping differs before the write");
	wfd = FT_SYS(open(P("wronly"), O_WRONLY));
	memset(model + 4000, 0x42, CHUNK);	/* across pages and a chunk boundary */
	ft_pwrite_all(wfd, model + 4000, CHUNK, 4000);
	if (kernel_at_least(6, 6)) {
		/* Proof that the write went around the page cache (fs_op_init): a cached
		 * write-through write leaves the pages it wrote cached, a direct one drops them. */
		unsigned char vec[3];

		FT_SYS(mincore(a + 4096, 3 * 4096, vec));
		FT_ASSERT(!(vec[0] & 1) && !(vec[1] & 1) && !(vec[2] & 1),
			  "pages written through O_WRONLY are still cached (%d %d %d): the write "
			  "did not bypass the page cache", vec[0] & 1, vec[1] & 1, vec[2] & 1);
		ft_ok("Linux >= 6.6: the pages the O_WRONLY write covered are no longer cached");
	}
	memset(model + 2 * CHUNK + 4097, 0x43, 7);	/* inside one page */
	ft_pwrite_all(wfd, model + 2 * CHUNK + 4097, 7, 2 * CHUNK + 4097);
	ft_pread_all(rfd, got, len, 0);
	FT_ASSERT(ft_memdiff(got, model, len) < 0, "read(2) of another descriptor is stale at "
		  "byte %lld", ft_memdiff(got, model, len));
	FT_ASSERT(ft_memdiff(a, model, len) < 0, "mapping is stale at byte %lld",
		  ft_memdiff(a, model, len));
	ft_ok("read(2) and the mapping of another descriptor see both writes");

	/* A dirty shared page, then a write-only write next to its store. */
	mfd = FT_SYS(open(P("wronly"), O_RDWR));
	mw = map(mfd, len, PROT_READ | PROT_WRITE, MAP_SHARED);
	mw[10] = 0x44;
	model[10] = 0x44;
	model[11] = 0x45;
	ft_pwrite_all(wfd, model + 11, 1, 11);
	FT_SYS(msync(mw, len, MS_SYNC));
	ft_pread_all(rfd, got, len, 0);
	FT_ASSERT(got[10] == 0x44 && got[11] == 0x45, "bytes 10, 11 are 0x%02x 0x%02x, expected "
		  "0x44 0x45", got[10], got[11]);
	ft_ok("a dirty mapped page and a write-only write to the same page both land");
	FT_SYS(munmap(mw, len));
	FT_SYS(munmap(a, len));
	FT_SYS(close(mfd));
	FT_SYS(close(wfd));
	FT_SYS(close(rfd));
	expect_file("file after the write-only writes", P("wronly"), model, len);
	free(model);
	free(got);
}

static void truncate_while_mapped(void)
{
	const size_t small = CHUNK + 100, big = 3 * CHUNK;
	uint8_t *model = calloc(1, big), *a;
	int fd;

	FT_ASSERT(model, "out of memory");
	ft_check("ftruncate grows and shrinks a mapped file");
	fd = FT_SYS(open(P("trunc"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_rand_fill(&seed, model, small);
	ft_pwrite_all(fd, model, small, 0);
	a = map(fd, big, PROT_READ | PROT_WRITE, MAP_SHARED);
	FT_SYS(ftruncate(fd, (off_t)big));
	memset(a + small, 0x11, CHUNK);		/* into the grown part */
	memset(model + small, 0x11, CHUNK);
	FT_SYS(msync(a, big, MS_SYNC));
	expect_file("stores into the part a truncate grew", P("trunc"), model, big);

	/* Shrink into the first chunk, grow back: the dropped part reads as zeros, also
	 * through the mapping (the kernel unmaps the dropped pages on a shrink). */
	FT_SYS(ftruncate(fd, 1000));
	FT_SYS(ftruncate(fd, (off_t)big));
	memset(model + 1000, 0, big - 1000);
	FT_ASSERT(ft_memdiff(a, model, big) < 0, "mapping shows data dropped by the shrink");
	ft_ok("mapping reads zeros where the shrink dropped data");
	FT_SYS(fsync(fd));
	expect_file("file reads zeros where the shrink dropped data", P("trunc"), model, big);
	FT_SYS(munmap(a, big));
	FT_SYS(close(fd));
	free(model);
}

static void msync_is_durable(void)
{
	const size_t len = 5 * CHUNK + 4321;
	uint8_t *model = random_bytes(len), *model2, *a, *a2;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), mapped = (len + page - 1) / page * page;
	int fd, fd2, st;

	ft_check("msync(MS_SYNC) is a durability point: its stores survive a power loss");
	ft_write_file(P("dur"), model, len, 1);
	ft_write_file(P("dur2"), model, len, 1);
	{
		/* the directory entries of both files are durable before the power loss */
		int dfd = FT_SYS(open(m.mnt, O_RDONLY | O_DIRECTORY));

		FT_SYS(fsync(dfd));
		FT_SYS(close(dfd));
	}
	model2 = malloc(len);
	FT_ASSERT(model2, "out of memory");
	memcpy(model2, model, len);

	/* Both descriptors stay open across the power loss: close(2) would write the dirty
	 * pages and wait for them (FLUSH) and so hide a msync or fdatasync that did nothing. */
	fd = FT_SYS(open(P("dur"), O_RDWR));
	a = map(fd, mapped, PROT_READ | PROT_WRITE, MAP_SHARED);
	store_pattern(a, model, len, 200);
	FT_SYS(msync(a, mapped, MS_SYNC));

	fd2 = FT_SYS(open(P("dur2"), O_RDWR));
	a2 = map(fd2, mapped, PROT_READ | PROT_WRITE, MAP_SHARED);
	store_pattern(a2, model2, len, 99);
	FT_SYS(munmap(a2, mapped));	/* leaves the pages dirty in the page cache */
	FT_SYS(fdatasync(fd2));

	st = ft_kill(&m, SIGKILL);
	FT_ASSERT(WIFSIGNALED(st), "daemon status 0x%x", st);
	ft_disk_shutdown(&disk);
	ft_disk_mount(&disk);
	FT_SYS(munmap(a, mapped));
	close(fd);			/* on the dead mount: the result does not matter */
	close(fd2);
	ft_mount(&m, store, mp, OPTS);
	expect_file("msync(MS_SYNC)'d stores after the power loss", P("dur"), model, len);
	expect_file("stores of an unmapped mapping, then fdatasync, after the power loss",
		    P("dur2"), model2, len);
	free(model);
	free(model2);
}

/*
 * With -o direct_io, read(2) and write(2) bypass the page cache, but a shared mapping needs it:
 * the kernel allows one only when the daemon says FUSE_DIRECT_IO_ALLOW_MMAP (Linux >= 6.6),
 * and then writes dirty mapped pages back before a direct read and drops them after a direct
 * write. Without it mmap(MAP_SHARED) fails with ENODEV, and SQLite's WAL index with it.
 */
static void direct_io_maps(void)
{
	const size_t len = 2 * CHUNK + 4096;
	uint8_t *model = random_bytes(len), *a, got[64];
	int fd, fd2;

	ft_check("-o direct_io: MAP_SHARED works and stays coherent with read(2) and write(2)");
	ft_umount(&m);
	ft_mount(&m, store, mp, OPTS ",direct_io");
	fd = FT_SYS(open(P("dio"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, model, len, 0);
	if (!kernel_at_least(6, 6)) {
		errno = 0;
		FT_ASSERT(mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED &&
			  errno == ENODEV, "before Linux 6.6 a shared mapping should fail with ENODEV");
		ft_ok("Linux < 6.6: MAP_SHARED fails with ENODEV, as this kernel has it");
		close(fd);
		free(model);
		return;
	}
	a = map(fd, len, PROT_READ | PROT_WRITE, MAP_SHARED);
	FT_ASSERT(ft_memdiff(a, model, len) < 0, "the mapping differs from what write(2) wrote");
	/* A store, then a direct read through another descriptor, with no msync between. */
	store_pattern(a, model, len, 9);
	fd2 = FT_SYS(open(P("dio"), O_RDONLY));
	FT_ASSERT(pread(fd2, got, sizeof(got), CHUNK - 32) == (ssize_t)sizeof(got) &&
		  memcmp(got, model + CHUNK - 32, sizeof(got)) == 0,
		  "read(2) missed a store into the mapping");
	/* A direct write shows in the mapping. */
	memset(model + CHUNK + 100, 0x5A, 300);
	ft_pwrite_all(fd, model + CHUNK + 100, 300, CHUNK + 100);
	FT_ASSERT(ft_memdiff(a, model, len) < 0, "the mapping missed a write(2)");
	FT_SYS(msync(a, len, MS_SYNC));
	FT_SYS(munmap(a, len));
	close(fd2);
	close(fd);
	drop_caches();
	expect_file("stores and writes, read back on a direct_io mount", P("dio"), model, len);
	ft_umount(&m);
	ft_mount(&m, store, mp, OPTS);
	expect_file("the same after a remount without direct_io", P("dio"), model, len);
	free(model);
}

int main(int argc, char **argv)
{
	ft_init(argc, argv);
	if (ft_fake())
		ft_fail("it_mmap needs the real daemon (FT_FAKE is set)");
	ft_disk_create(&disk, "disk", 64);
	ft_pathf(store, sizeof(store), "%s/store", disk.dir);
	ft_pathf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	ft_mount(&m, store, mp, OPTS);

	queued_data_is_mapped();
	shared_stores_reach_the_file();
	private_stores_stay_private();
	write_only_writer_is_seen();
	truncate_while_mapped();
	msync_is_durable();
	direct_io_maps();

	ft_umount(&m);
	ft_disk_umount(&disk);
	return ft_done();
}
