/*
 * it_eio: the backing filesystem dies under a running daemon; errors must be reported, every
 * time, and never turn into a success (DURABILITY.md section 3; requirements 11, 13, 15, 17,
 * 18, 43; technique T6: EXT4_IOC_SHUTDOWN without the kill makes backing I/O fail with EIO).
 *
 * With a slow flusher (10 s): G is written and fsynced; F is created and fsynced (its name is
 * durable), then gets 256 KiB of queued writes; H is created and written but never synced.
 * Then the backing ext4 is shut down while frozenfs runs, and:
 *   - fsync(H) fails (its name cannot be made durable), and the close(2) right after it must
 *     not report success either: H's data is not durable and never can be, the daemon knows
 *     it, and a 0 from close is a false success (requirement 15, section 3 item 11). This
 *     check is recorded and reported at the end, so the others still run;
 *   - fsync(F) fails (EIO), a second fsync(F) fails too, fsync through a new descriptor
 *     fails, fdatasync fails: the error is sticky (req 13) and never a false success (req 15);
 *   - F's written data is still readable through its descriptor (req 17);
 *   - close() of a descriptor of F reports the error (req 43, via FLUSH);
 *   - a create fails, and once a metadata operation has failed the mount is read-only: a
 *     second create gives EROFS, while stat of G still works (req 18, errors=remount-ro);
 *   - after fusermount3 -u the daemon exits non-zero (req 11: outstanding sticky error);
 *   - once the disk is back, the store mounts and G's fsynced data is intact.
 *
 * Usage: it_eio FROZENFS_BINARY
 */
#include "fstest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLEN (256 * 1024)
#define GLEN (100 * 1024)

static struct ft_mount m;
static struct ft_disk disk;

static const char *P(const char *name) { return ft_path(&m, name); }

static char deferred[1024];	/* a failed check that must not stop the others */

/* The call must fail; returns its errno. */
static int must_fail(int r, const char *what)
{
	int e = errno;

	if (r >= 0)
		ft_fail("%s returned success after the backing filesystem died (a false success: "
			"DURABILITY.md requirement 15)", what);
	ft_ok("%s fails: %s", what, strerror(e));
	return e;
}

int main(int argc, char **argv)
{
	char store[PATH_MAX], mp[PATH_MAX];
	uint64_t seed = 43;
	uint8_t *f = malloc(FLEN), *g = malloc(GLEN), *r = malloc(FLEN);
	struct stat st;
	int ffd, ffd2, gfd, hfd, fd, e, status;
	size_t len;
	uint8_t *got;

	FT_ASSERT(f && g && r, "out of memory");
	ft_init(argc, argv);
	if (ft_fake())
		ft_fail("it_eio needs the real daemon (FT_FAKE is set)");
	ft_rand_fill(&seed, f, FLEN);
	ft_rand_fill(&seed, g, GLEN);
	ft_disk_create(&disk, "dying", 128);
	if (snprintf(store, sizeof(store), "%s/store", disk.dir) >= (int)sizeof(store))
		ft_fail("path too long");
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	ft_mount(&m, store, mp, "chunk_size=4096,flush_interval_ms=10000");

	ft_check("G written and fsynced, F created and fsynced then written (queued), H created "
		 "and written (queued), then the backing ext4 shuts down");
	gfd = FT_SYS(open(P("G"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(gfd, g, GLEN, 0);
	FT_SYS(fsync(gfd));
	ffd = FT_SYS(open(P("F"), O_RDWR | O_CREAT | O_EXCL, 0644));
	FT_SYS(fsync(ffd));
	fd = FT_SYS(open(m.mnt, O_RDONLY | O_DIRECTORY));
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	ffd2 = FT_SYS(open(P("F"), O_RDWR));
	ft_pwrite_all(ffd, f, FLEN, 0);
	hfd = FT_SYS(open(P("H"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(hfd, f, 8192, 0);
	ft_disk_goingdown(&disk);
	ft_ok("backing filesystem shut down under the running daemon");

	ft_check("H (name never synced): fsync fails, and the close right after it must not "
		 "return 0 (req 15: no false success from FLUSH)");
	must_fail(fsync(hfd), "fsync(H)");
	errno = 0;
	if (close(hfd) == 0) {
		snprintf(deferred, sizeof(deferred), "close(H) returned 0 right after fsync(H) "
			 "failed: H's 8 KiB are not durable and cannot become durable (backing fs "
			 "dead, mount read-only), so this is a false success (DURABILITY.md "
			 "req 15, section 3 items 8 and 11)");
		printf("not ok - %s\n", deferred);
	} else {
		ft_ok("close(H) fails: %s", strerror(errno));
	}

	ft_check("fsync of F fails, every time, through every descriptor (reqs 13, 15)");
	e = must_fail(fsync(ffd), "fsync(F) #1");
	FT_ASSERT(e == EIO, "fsync(F) #1 gave %s, expected EIO", strerror(e));
	e = must_fail(fsync(ffd), "fsync(F) #2");
	FT_ASSERT(e == EIO, "fsync(F) #2 gave %s, expected EIO (sticky)", strerror(e));
	e = must_fail(fdatasync(ffd2), "fdatasync(F) through a second descriptor");
	fd = open(P("F"), O_RDONLY);
	FT_ASSERT(fd >= 0, "open F after the failure: %s", strerror(errno));
	e = must_fail(fsync(fd), "fsync(F) through a descriptor opened after the failure");
	FT_ASSERT(e == EIO, "gave %s, expected EIO", strerror(e));

	ft_check("F's data stays readable through its descriptor (req 17)");
	memset(r, 0, FLEN);
	FT_ASSERT(pread(ffd, r, FLEN, 0) == FLEN, "pread of F after the failure: %s",
		  strerror(errno));
	FT_ASSERT(memcmp(r, f, FLEN) == 0, "F's data changed after the failure");
	ft_ok("F reads back its written data");

	ft_check("close of F reports the error (req 43)");
	must_fail(close(fd), "close(F) of the late descriptor");
	must_fail(close(ffd2), "close(F) of the second descriptor");

	ft_check("creates fail; then the mount is read-only (EROFS), stat still works (req 18)");
	e = must_fail(open(P("new1"), O_WRONLY | O_CREAT | O_EXCL, 0644), "create new1");
	errno = 0;
	FT_ASSERT(open(P("new2"), O_WRONLY | O_CREAT | O_EXCL, 0644) < 0 && errno == EROFS,
		  "second create gave %s, expected EROFS (remount-ro after a metadata failure)",
		  errno ? strerror(errno) : "success");
	ft_ok("second create: EROFS");
	FT_ASSERT(stat(P("G"), &st) == 0 && st.st_size == GLEN, "stat of G: %s",
		  strerror(errno));
	ft_ok("stat of G still works (size %lld)", (long long)st.st_size);
	must_fail(close(ffd), "close(F) of the writing descriptor");
	close(gfd);

	ft_check("after fusermount3 -u the daemon exits non-zero (req 11: sticky error "
		 "outstanding)");
	status = ft_umount_status(&m);
	FT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		  "daemon exit status %d (signal %d): expected a non-zero exit",
		  WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ft_ok("daemon exited with status %d", WEXITSTATUS(status));

	ft_check("disk back: the store mounts and G's fsynced data is intact");
	ft_disk_umount(&disk);
	ft_disk_mount(&disk);
	ft_mount(&m, store, mp, NULL);
	got = ft_read_file(P("G"), &len);
	FT_ASSERT(len == GLEN && memcmp(got, g, GLEN) == 0, "G after recovery: %zu bytes%s", len,
		  len == GLEN ? ", content differs" : "");
	free(got);
	ft_ok("G intact");
	ft_umount(&m);
	ft_ok("unmounted, daemon exited 0");
	free(f);
	free(g);
	free(r);
	if (deferred[0])
		ft_fail("%s", deferred);
	return ft_done();
}
