/*
 * fault_durability: the shipped daemon under injected backing-store faults (DURABILITY.md
 * section 3, technique T5; requirements 1, 5, 11, 13, 14, 15, 16, 17, 18, 20, 43).
 *
 * Each test function mounts the real daemon with LD_PRELOAD=fault shim (tests/fault/
 * fault_shim.c) and its own FROZENFS_FAULTS rules, on its own store in the temporary
 * directory, exercises the mount through ordinary syscalls, and then:
 *   - checks in the shim's log (FROZENFS_FAULTS_LOG) that each planned fault really fired
 *     in the daemon's process, and that no unplanned one did;
 *   - unmounts and checks the daemon's exit status: non-zero exactly when a sticky error
 *     was outstanding (requirement 11), and that its stderr names the failed file.
 * Faults are aimed at one file through the shim's path filter (rule "sync@/F13:1:EIO"
 * touches only backing paths containing "/F13"), so other files and the store's own
 * superblock are unaffected. File syncs are targeted as "sync" (fdatasync or fsync, counted
 * together): which of the two the daemon uses for a write-out is its own business. At the
 * end the number of faults injected (fault lines in the logs) and verified (planned faults
 * whose effect a test checked) is printed.
 *
 * With an ASan+UBSan daemon, ASAN_OPTIONS gets verify_asan_link_order=0 so that the shim
 * may come first in the library list (fault_shim.c explains why that is enough).
 *
 * Usage: fault_durability FROZENFS_BINARY [--only=TEST_NAME]   (env FT_SHIM: the shim)
 * Needs root for /proc/sys/vm/drop_caches (requirement 17's test reads back after it).
 */
#include "fstest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOW	"flush_interval_ms=10000"	/* the test decides when batches run */
#define FAST_MS	100
#define FAST	"flush_interval_ms=100"		/* background write-out within 100 ms */

struct fault_mount {
	struct ft_mount m;
	char name[64];
	char dir[PATH_MAX - 64];	/* leaves room for "/store", "/faults.log" */
	char log[PATH_MAX];	/* the shim's fault log */
	pid_t pid;		/* the daemon, for matching log lines */
};

static const char *shim;
static unsigned faults_injected, faults_verified;

/* ---- helpers ----------------------------------------------------------------------------- */

static void set_or_unset(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

/* Mounts a new store for test @name with -o @opts and the shim armed with @rules. */
static int close_syncs;	/* the next fmount keeps the default sync_on_close */

static void fmount(struct fault_mount *f, const char *name, const char *opts, const char *rules)
{
	char store[PATH_MAX], mnt[PATH_MAX], asan[512];
	const char *old_asan = getenv("ASAN_OPTIONS");
	char *saved_asan = old_asan ? strdup(old_asan) : NULL;

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	if (snprintf(f->dir, sizeof(f->dir), "%s/%s", ft_tmpdir(), name) >= (int)sizeof(f->dir))
		ft_fail("path too long");
	snprintf(store, sizeof(store), "%s/store", f->dir);
	snprintf(mnt, sizeof(mnt), "%s/mnt", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/faults.log", f->dir);

	/* Only the daemon gets the shim: set for the fork in ft_mount, then restored. */
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old_asan ? old_asan : "",
		 old_asan && *old_asan ? ":" : "");
	setenv("LD_PRELOAD", shim, 1);
	setenv("FROZENFS_FAULTS", rules, 1);
	setenv("FROZENFS_FAULTS_LOG", f->log, 1);
	setenv("ASAN_OPTIONS", asan, 1);
	/* close(2) only reports errors here (section 3 item 10): these tests decide with
	 * fsync and the flusher when syncs happen; test_close_waits_and_reports covers the
	 * default, durable close. */
	{
		char o[512];

		snprintf(o, sizeof(o), "%s%s%s", close_syncs ? "" : "nosync_on_close",
			 opts && *opts && !close_syncs ? "," : "", opts ? opts : "");
		close_syncs = 0;
		ft_mount(&f->m, store, mnt, o);
	}
	unsetenv("LD_PRELOAD");
	unsetenv("FROZENFS_FAULTS");
	unsetenv("FROZENFS_FAULTS_LOG");
	set_or_unset("ASAN_OPTIONS", saved_asan);
	free(saved_asan);
	f->pid = f->m.pid;
	printf("# faults: %s\n", rules);
}

static const char *P(const struct fault_mount *f, const char *name)
{
	return ft_path(&f->m, name);
}

/* Path of @name in the backing store (not through the mount). */
static const char *B(const struct fault_mount *f, const char *name)
{
	static _Thread_local char buf[4][PATH_MAX + 64];
	static _Thread_local int slot;
	char *b = buf[slot++ % 4];

	if (snprintf(b, PATH_MAX + 64, "%s/%.60s", f->m.backing, name) >= PATH_MAX)
		ft_fail("path too long");
	return b;
}

/* Fault lines of this daemon's log that contain @what (NULL: all). */
static unsigned count_faults(const struct fault_mount *f, const char *what, int *loaded)
{
	char line[8192], me[32];
	unsigned n = 0;
	FILE *fp = fopen(f->log, "r");

	if (!fp)
		ft_fail("%s: no fault log %s: was the shim loaded into the daemon?", f->name,
			f->log);
	snprintf(me, sizeof(me), " pid=%d ", (int)f->pid);
	while (fgets(line, sizeof(line), fp)) {
		if (loaded && strncmp(line, "loaded", 6) == 0 &&
		    strncmp(line + 6, me, strlen(me)) == 0)
			(*loaded)++;
		if (strncmp(line, "fault", 5) != 0 || strncmp(line + 5, me, strlen(me)) != 0)
			continue;
		if (!what || strstr(line, what))
			n++;
	}
	fclose(fp);
	return n;
}

/* Waits (up to 10 s) until a fault containing @what has fired in the daemon. */
static void wait_fault(const struct fault_mount *f, const char *what)
{
	double until = ft_now() + 10;

	while (count_faults(f, what, NULL) == 0) {
		if (ft_now() > until)
			ft_fail("%s: the fault '%s' did not fire within 10 s (the daemon "
				"never made that call)", f->name, what);
		usleep(10000);
	}
}

/*
 * The planned faults: exactly @n fault lines contain @what. Counts them as verified (the
 * caller has checked, or is about to check, their effect).
 */
static void expect_faults(const struct fault_mount *f, const char *what, unsigned n)
{
	unsigned got = count_faults(f, what, NULL);

	FT_ASSERT(got == n, "%s: %u injected faults match '%s', expected %u (see %s)", f->name,
		  got, what, n, f->log);
	faults_verified += n;
	ft_ok("the shim injected %u fault(s) '%s' into the daemon", n, what);
}

static int contains_file(const char *path, const char *what)
{
	size_t len;
	uint8_t *d = ft_read_file(path, &len);
	int found;

	d = realloc(d, len + 1);
	FT_ASSERT(d, "out of memory");
	d[len] = 0;
	found = strstr((char *)d, what) != NULL;
	free(d);
	return found;
}

/*
 * Unmounts and checks the exit status: non-zero with each of @names (NULL-terminated) in
 * the daemon's stderr when @failed, else 0. Also checks that every fault in the log was
 * planned (@planned in total) and adds them to the count of injected faults.
 */
static void fumount(struct fault_mount *f, int failed, const char *const *names,
		    unsigned planned)
{
	int loaded = 0, st;
	unsigned all;

	st = ft_umount_status(&f->m);
	all = count_faults(f, NULL, &loaded);	/* after unmount: its final write-out too */
	FT_ASSERT(loaded == 1, "%s: the shim's log has %d 'loaded' lines for the daemon (pid "
		  "%d), expected 1: was it preloaded?", f->name, loaded, (int)f->pid);
	FT_ASSERT(all == planned, "%s: %u faults injected, %u planned: the daemon made a backing "
		  "call the test did not expect (see %s)", f->name, all, planned, f->log);
	faults_injected += all;
	FT_ASSERT(WIFEXITED(st), "%s: daemon killed by signal %d", f->name,
		  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (!failed) {
		FT_ASSERT(WEXITSTATUS(st) == 0, "%s: daemon exited %d, expected 0: nothing was "
			  "left undurable", f->name, WEXITSTATUS(st));
		ft_ok("daemon exited 0 (no sticky error outstanding)");
		return;
	}
	FT_ASSERT(WEXITSTATUS(st) != 0, "%s: daemon exited 0 with a sticky error outstanding "
		  "(DURABILITY.md requirement 11: exit non-zero)", f->name);
	for (; names && *names; names++)
		FT_ASSERT(contains_file(f->m.log, *names), "%s: the daemon's stderr (%s) does not "
			  "name the failed '%s'", f->name, f->m.log, *names);
	ft_ok("daemon exited %d and its stderr names the failed file(s)", WEXITSTATUS(st));
}

static void drop_caches(void)
{
	int fd = FT_SYS(open("/proc/sys/vm/drop_caches", O_WRONLY));

	FT_SYS(write(fd, "3\n", 2));
	FT_SYS(close(fd));
}

/* errno of a call that must fail with @err. */
#define EXPECT_ERR(call, err, ...) do {						\
	errno = 0;								\
	long long r_ = (long long)(call);					\
	FT_ASSERT(r_ < 0 && errno == (err), "%s returned %lld (%s), expected %s: %s", #call, \
		  r_, r_ < 0 ? strerror(errno) : "success", strerror(err),		\
		  ft_fmt(__VA_ARGS__));						\
	ft_ok("%s: %s", ft_fmt(__VA_ARGS__), strerror(err));			\
} while (0)

#define EXPECT_OK(call, ...) do {						\
	errno = 0;								\
	long long r_ = (long long)(call);					\
	FT_ASSERT(r_ >= 0, "%s failed: %s: %s", #call, strerror(errno),		\
		  ft_fmt(__VA_ARGS__));						\
	ft_ok("%s: success", ft_fmt(__VA_ARGS__));				\
} while (0)

static uint8_t *random_buf(size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len);

	FT_ASSERT(b, "out of memory");
	ft_rand_fill(&seed, b, len);
	return b;
}

/* Reads @len bytes of @path through a new descriptor and compares them with @want. */
static void verify_file(const char *path, const uint8_t *want, size_t len, const char *when)
{
	size_t got;
	uint8_t *d = ft_read_file(path, &got);
	long long diff;

	FT_ASSERT(got == len, "%s: %s has %zu bytes, expected %zu", when, path, got, len);
	diff = ft_memdiff(d, want, len);
	FT_ASSERT(diff < 0, "%s: %s differs at byte %lld", when, path, diff);
	free(d);
	ft_ok("%s: %s reads back all %zu bytes", when, strrchr(path, '/') + 1, len);
}

/* Writes @len bytes in 64 KiB pieces (several FUSE WRITEs, several chunks). */
static void write_pieces(int fd, const uint8_t *buf, size_t len)
{
	for (size_t off = 0; off < len; off += 65536)
		ft_pwrite_all(fd, buf + off, len - off < 65536 ? len - off : 65536, (off_t)off);
}

/* Counts "opcode: NAME (" request lines and error replies in a -o debug log. */
static unsigned count_in_log(const char *path, const char *what)
{
	char line[4096];
	unsigned n = 0;
	FILE *fp = fopen(path, "r");

	FT_ASSERT(fp, "open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, what))
			n++;
	fclose(fp);
	return n;
}

/* ---- requirement 1 ----------------------------------------------------------------------- */

/*
 * Requirement 1: FLUSH, FSYNC and FSYNCDIR are implemented and never answer ENOSYS (the
 * kernel would turn that into a success for every later fsync of the mount). 100 calls:
 * 25 fsync, 25 fdatasync, 25 close, 25 fsync of a directory, each its own request in the
 * -o debug log, none answered -38. Then with fdatasync EIO injected, a second fsync (and a
 * third, and close) still return EIO: the kernel did not latch anything.
 */
static void test_req1_fsync_family_answered_never_enosys(void)
{
	struct fault_mount f;
	static const char *const names[] = { "V1", NULL };
	uint8_t *data = random_buf(8192, 1);
	int fd, dfd, vfd, k;
	unsigned fsyncs, flushes, fsyncdirs;

	ft_check("req 1: fsync, fdatasync, close and fsync(dirfd) each reach the daemon and are "
		 "answered (never ENOSYS); with fdatasync EIO injected a second fsync still "
		 "fails");
	fmount(&f, "req1", "debug," SLOW, "sync@/V1:1:EIO");
	FT_SYS(mkdir(P(&f, "d1"), 0755));
	fd = FT_SYS(open(P(&f, "a1"), O_RDWR | O_CREAT | O_EXCL, 0644));
	dfd = FT_SYS(open(P(&f, "d1"), O_RDONLY | O_DIRECTORY));
	for (k = 0; k < 25; k++) {
		ft_pwrite_all(fd, data + k * 64, 64, k * 64);
		FT_ASSERT(fsync(fd) == 0, "fsync #%d of a1: %s", k, strerror(errno));
		ft_pwrite_all(fd, data + k * 64, 64, 4096 + k * 64);
		FT_ASSERT(fdatasync(fd) == 0, "fdatasync #%d of a1: %s", k, strerror(errno));
		int cfd = FT_SYS(open(P(&f, "a1"), O_RDONLY));

		FT_ASSERT(close(cfd) == 0, "close #%d of a1: %s", k, strerror(errno));
		FT_ASSERT(fsync(dfd) == 0, "fsync #%d of directory d1: %s", k, strerror(errno));
	}
	ft_ok("25 x (fsync, fdatasync, close, fsync(dirfd)) returned 0");
	fsyncs = count_in_log(f.m.log, "opcode: FSYNC (");
	flushes = count_in_log(f.m.log, "opcode: FLUSH (");
	fsyncdirs = count_in_log(f.m.log, "opcode: FSYNCDIR (");
	FT_ASSERT(fsyncs >= 50 && flushes >= 25 && fsyncdirs >= 25, "the -o debug log shows %u "
		  "FSYNC, %u FLUSH, %u FSYNCDIR requests for 50 fsync/fdatasync, 25 close and 25 "
		  "fsync(dirfd) calls: some never reached the daemon", fsyncs, flushes, fsyncdirs);
	ft_ok("each call was its own request: %u FSYNC, %u FLUSH, %u FSYNCDIR", fsyncs, flushes,
	      fsyncdirs);
	FT_ASSERT(count_in_log(f.m.log, "error: -38") == 0, "a request was answered ENOSYS "
		  "(-38) in %s", f.m.log);
	ft_ok("no request was answered ENOSYS");

	vfd = FT_SYS(open(P(&f, "V1"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(vfd, data, 8192, 0);
	EXPECT_ERR(fdatasync(vfd), EIO, "fdatasync(V1), its backing fdatasync fails");
	EXPECT_ERR(fsync(vfd), EIO, "a second fsync(V1)");
	EXPECT_ERR(fsync(vfd), EIO, "a third fsync(V1)");
	EXPECT_ERR(fdatasync(vfd), EIO, "another fdatasync(V1)");
	FT_ASSERT(count_in_log(f.m.log, "error: -38") == 0, "a request was answered ENOSYS");
	EXPECT_ERR(close(vfd), EIO, "close(V1)");
	expect_faults(&f, "rule=sync@/V1:1:EIO", 1);
	FT_SYS(close(fd));
	FT_SYS(close(dfd));
	fumount(&f, 1, names, 1);
	free(data);
}

/* ---- requirement 11 ---------------------------------------------------------------------- */

/*
 * Requirement 11: unmount writes and syncs everything queued, and a failure there is the
 * exit status. F11 and G11 are written and closed without fsync (close returns 0: nothing
 * has failed yet); the drain's fdatasync of F11 fails. The daemon exits non-zero naming
 * F11; G11 was drained and reads back after a remount without faults.
 */
static void test_req11_unmount_drain_failure_exits_nonzero(void)
{
	struct fault_mount f;
	static const char *const names[] = { "F11", NULL };
	uint8_t *data = random_buf(150000, 11);
	int fd;

	ft_check("req 11: the final write-out at unmount fails for F11: the daemon exits "
		 "non-zero naming it; G11, drained too, is intact");
	fmount(&f, "req11", SLOW, "sync@/F11:1:EIO");
	fd = FT_SYS(open(P(&f, "F11"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(fd, data, 150000);
	EXPECT_OK(close(fd), "close(F11) before any write-out");
	fd = FT_SYS(open(P(&f, "G11"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(fd, data, 150000);
	EXPECT_OK(close(fd), "close(G11) before any write-out");
	FT_ASSERT(count_faults(&f, NULL, NULL) == 0, "a fault fired before unmount");
	fumount(&f, 1, names, 1);
	expect_faults(&f, "rule=sync@/F11:1:EIO", 1);	/* fired during the drain */
	ft_remount(&f.m);	/* the same store and options, no shim */
	verify_file(P(&f, "G11"), data, 150000, "after remount");
	ft_umount(&f.m);
	free(data);
}

/* ---- requirement 13 ---------------------------------------------------------------------- */

/*
 * Requirement 13: EIO in F's first (background) sync. fsync #1, fsync #2, fdatasync, fsync
 * through a descriptor opened after the failure and close all get EIO; fsync of G gets 0.
 * The rule fails every sync of F13, so the log shows any later one: the daemon must not
 * retry a failed sync to "clear" it (DURABILITY.md section 3 item 4).
 */
static void test_req13_sticky_error_any_fd(void)
{
	struct fault_mount f;
	static const char *const names[] = { "F13", NULL };
	uint8_t *fdata = random_buf(200000, 13), *gdata = random_buf(100000, 14);
	int ffd, gfd, nfd, rfd;

	ft_check("req 13: after EIO in F's first sync, every fsync and close of F fails, "
		 "through any descriptor, new ones too; G is unaffected");
	fmount(&f, "req13", FAST, "sync@/F13:*:EIO");
	ffd = FT_SYS(open(P(&f, "F13"), O_RDWR | O_CREAT | O_EXCL, 0644));
	gfd = FT_SYS(open(P(&f, "G13"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(ffd, fdata, 200000);
	write_pieces(gfd, gdata, 100000);
	wait_fault(&f, "rule=sync@/F13:*:EIO");
	ft_ok("the daemon's background write-out of F13 hit the injected EIO");
	EXPECT_ERR(fsync(ffd), EIO, "fsync(F13) #1");
	EXPECT_ERR(fsync(ffd), EIO, "fsync(F13) #2");
	EXPECT_ERR(fdatasync(ffd), EIO, "fdatasync(F13)");
	nfd = FT_SYS(open(P(&f, "F13"), O_RDWR));
	EXPECT_ERR(fsync(nfd), EIO, "fsync(F13) through a descriptor opened after the failure");
	rfd = FT_SYS(open(P(&f, "F13"), O_RDONLY));
	EXPECT_ERR(fdatasync(rfd), EIO, "fdatasync(F13) through a new O_RDONLY descriptor");
	EXPECT_OK(fsync(gfd), "fsync(G13)");
	EXPECT_ERR(close(rfd), EIO, "close(F13) of the O_RDONLY descriptor");
	EXPECT_ERR(close(nfd), EIO, "close(F13) of the late descriptor");
	EXPECT_ERR(close(ffd), EIO, "close(F13) of the writing descriptor");
	EXPECT_OK(close(gfd), "close(G13)");
	verify_file(P(&f, "G13"), gdata, 100000, "live");
	expect_faults(&f, "path=", 1);	/* no second sync of F13 was attempted */
	fumount(&f, 1, names, 1);
	free(fdata);
	free(gdata);
}

/*
 * Requirement 13 for the other steps of a file's write-out: the backing ftruncate of a
 * queued truncate (T13) and the futimens that persists the mtime before an fsync (M13).
 * Either failure is the file's sticky error; T13 keeps its logical size.
 */
static void test_req13_truncate_and_mtime_failures_sticky(void)
{
	struct fault_mount f;
	static const char *const names[] = { "T13", "M13", NULL };
	uint8_t *data = random_buf(100000, 131), back[16];
	struct stat st;
	int tfd, mfd, fd;

	ft_check("req 13: EIO in the backing ftruncate of a queued truncate, and in the "
		 "futimens before an fsync, are sticky like a failed fdatasync");
	fmount(&f, "req13trunc", SLOW, "ftruncate@/T13:1:EIO,futimens@/M13:1:EIO");
	tfd = FT_SYS(open(P(&f, "T13"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(tfd, data, 100000);
	EXPECT_OK(fdatasync(tfd), "fdatasync(T13) of 100000 bytes");
	EXPECT_OK(ftruncate(tfd, 10), "ftruncate(T13, 10): queued in the file's stream");
	EXPECT_ERR(fdatasync(tfd), EIO, "fdatasync(T13), its backing ftruncate fails");
	expect_faults(&f, "kind=ftruncate", 1);
	EXPECT_ERR(fsync(tfd), EIO, "fsync(T13) again");
	FT_SYS(fstat(tfd, &st));
	FT_ASSERT(st.st_size == 10, "T13 has size %lld after the failed truncate, expected the "
		  "acknowledged 10", (long long)st.st_size);
	FT_ASSERT(pread(tfd, back, sizeof(back), 0) == 10 && memcmp(back, data, 10) == 0,
		  "T13 does not read back its first 10 bytes");
	ft_ok("T13 keeps its logical size 10 and content");
	EXPECT_ERR(ftruncate(tfd, 5), EIO, "a further ftruncate(T13) (fail-stop)");
	EXPECT_ERR(close(tfd), EIO, "close(T13)");

	mfd = FT_SYS(open(P(&f, "M13"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(mfd, data, 50000);
	EXPECT_ERR(fsync(mfd), EIO, "fsync(M13), the futimens of its write-out fails");
	expect_faults(&f, "kind=futimens", 1);
	fd = FT_SYS(open(P(&f, "M13"), O_RDONLY));
	EXPECT_ERR(fdatasync(fd), EIO, "fdatasync(M13) through a new descriptor");
	EXPECT_ERR(close(fd), EIO, "close(M13), new descriptor");
	EXPECT_ERR(close(mfd), EIO, "close(M13)");
	fumount(&f, 1, names, 2);
	free(data);
}

#define NCONC 8

struct conc {
	struct fault_mount *f;
	const uint8_t *data;
	pthread_barrier_t *written;
	int id;
	int rc, err;
};

static void *conc_main(void *arg)
{
	struct conc *c = arg;
	int fd = FT_SYS(open(P(c->f, "C13"), O_RDWR));

	ft_pwrite_all(fd, c->data + c->id * 16384, 16384, c->id * 16384);
	pthread_barrier_wait(c->written);
	errno = 0;
	c->rc = c->id % 2 ? fdatasync(fd) : fsync(fd);
	c->err = errno;
	close(fd);
	return NULL;
}

/*
 * Requirement 13 with concurrent callers: 8 threads write their own 16 KiB of C13, then all
 * call fsync or fdatasync at once, so several FSYNC requests wait on the same failing
 * write-out. Every one of them must get EIO: none may be answered by a later batch.
 */
static void test_req13_concurrent_fsyncs_all_fail(void)
{
	struct fault_mount f;
	static const char *const names[] = { "C13", NULL };
	uint8_t *data = random_buf(NCONC * 16384, 132);
	struct conc c[NCONC];
	pthread_t th[NCONC];
	pthread_barrier_t written;
	int fd, k, bad = 0;

	ft_check("req 13: %d threads fsync/fdatasync C13 at once while its write-out fails: "
		 "all get EIO", NCONC);
	fmount(&f, "req13conc", SLOW, "sync@/C13:*:EIO");	/* any further sync shows */
	fd = FT_SYS(open(P(&f, "C13"), O_RDWR | O_CREAT | O_EXCL, 0644));
	pthread_barrier_init(&written, NULL, NCONC);
	for (k = 0; k < NCONC; k++) {
		c[k] = (struct conc){ .f = &f, .data = data, .written = &written, .id = k };
		FT_ASSERT(pthread_create(&th[k], NULL, conc_main, &c[k]) == 0, "pthread_create");
	}
	for (k = 0; k < NCONC; k++) {
		pthread_join(th[k], NULL);
		if (c[k].rc == 0 || c[k].err != EIO) {
			printf("# thread %d: %s returned %s\n", k, k % 2 ? "fdatasync" : "fsync",
			       c[k].rc == 0 ? "success" : strerror(c[k].err));
			bad++;
		}
	}
	pthread_barrier_destroy(&written);
	FT_ASSERT(bad == 0, "%d of %d concurrent syncs of C13 did not return EIO", bad, NCONC);
	ft_ok("all %d concurrent fsync/fdatasync calls returned EIO", NCONC);
	expect_faults(&f, "path=", 1);
	EXPECT_ERR(close(fd), EIO, "close(C13)");
	fumount(&f, 1, names, 1);
	free(data);
}

/* ---- requirement 14 ---------------------------------------------------------------------- */

struct req14 {
	struct fault_mount *f;
	const uint8_t *data;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage;		/* 1: the writer wrote in epoch E; 2: E+1 succeeded */
	int fsync_rc, fsync_errno, fdatasync_errno;
};

static void stage_set(struct req14 *s, int v)
{
	pthread_mutex_lock(&s->lock);
	s->stage = v;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void stage_wait(struct req14 *s, int v)
{
	pthread_mutex_lock(&s->lock);
	while (s->stage < v)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/* The writer of epoch E: writes, lets the others run E and E+1, then asks for fsync. */
static void *req14_writer(void *arg)
{
	struct req14 *s = arg;
	int fd = FT_SYS(open(P(s->f, "F14"), O_RDWR));

	ft_pwrite_all(fd, s->data + 65536, 65536, 65536);
	stage_set(s, 1);
	stage_wait(s, 2);
	errno = 0;
	s->fsync_rc = fsync(fd);
	s->fsync_errno = errno;
	errno = 0;
	if (fdatasync(fd) < 0)
		s->fdatasync_errno = errno;
	close(fd);
	return NULL;
}

/*
 * Requirement 14: F14's first epoch is durable; its second (E) fails when fsync of the
 * mount root (a global barrier: every file's accepted data) writes it out; then G14 and H14
 * write and sync (E+1: a backing fdatasync returned 0 after E failed). The thread that wrote
 * in E calls fsync only now: it must get EIO, never the success of E+1. A write to F14
 * after the failure is refused (fail-stop, section 3 item 5), so no later epoch of F14
 * exists either.
 */
static void test_req14_later_epoch_never_acks_failed_one(void)
{
	struct fault_mount f;
	static const char *const names[] = { "F14", NULL };
	uint8_t *data = random_buf(131072, 141);
	struct req14 s = { .f = &f, .data = data, .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER };
	pthread_t th;
	int ffd, gfd, hfd, rfd;
	uint8_t *back = malloc(131072);

	ft_check("req 14: EIO in epoch E of F14 only; the thread that wrote in E calls fsync "
		 "after epoch E+1 succeeded and still gets EIO");
	fmount(&f, "req14", SLOW, "sync@/F14:2:EIO");	/* its 2nd sync, fdatasync or fsync */
	ffd = FT_SYS(open(P(&f, "F14"), O_RDWR | O_CREAT | O_EXCL, 0644));
	gfd = FT_SYS(open(P(&f, "G14"), O_RDWR | O_CREAT | O_EXCL, 0644));
	hfd = FT_SYS(open(P(&f, "H14"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(ffd, data, 65536, 0);
	EXPECT_OK(fdatasync(ffd), "epoch E-1: fdatasync(F14) of its first 64 KiB");

	FT_ASSERT(pthread_create(&th, NULL, req14_writer, &s) == 0, "pthread_create");
	stage_wait(&s, 1);
	rfd = FT_SYS(open(f.m.mnt, O_RDONLY | O_DIRECTORY));
	errno = 0;
	FT_ASSERT(fsync(rfd) == 0 || errno == EIO, "fsync of the mount root: %s",
		  strerror(errno));
	ft_ok("epoch E: fsync of the mount root wrote out F14 (the root's own result is not "
	      "F14's to report)");
	FT_SYS(close(rfd));
	expect_faults(&f, "rule=sync@/F14:2:EIO", 1);
	EXPECT_ERR(pwrite(ffd, data, 4096, 200000), EIO, "a new write to F14 after the "
		   "failure (fail-stop)");
	ft_pwrite_all(gfd, data, 8192, 0);
	ft_pwrite_all(hfd, data, 8192, 0);
	EXPECT_OK(fsync(gfd), "epoch E+1: fsync(G14)");
	EXPECT_OK(fdatasync(hfd), "epoch E+1: fdatasync(H14)");
	stage_set(&s, 2);
	pthread_join(th, NULL);
	FT_ASSERT(s.fsync_rc < 0 && s.fsync_errno == EIO, "the writer of epoch E got %s from "
		  "fsync after E+1 succeeded: expected EIO (a later epoch acknowledged a failed "
		  "one)", s.fsync_rc < 0 ? strerror(s.fsync_errno) : "success");
	ft_ok("the writer of epoch E: fsync(F14) after E+1 succeeded: EIO");
	FT_ASSERT(s.fdatasync_errno == EIO, "the writer's fdatasync: %s, expected EIO",
		  s.fdatasync_errno ? strerror(s.fdatasync_errno) : "success");
	ft_ok("the writer of epoch E: fdatasync(F14): EIO");
	ft_pread_all(ffd, back, 131072, 0);
	FT_ASSERT(memcmp(back, data, 131072) == 0, "F14 does not read back epochs E-1 and E");
	ft_ok("F14 still reads back what epochs E-1 and E wrote");
	EXPECT_ERR(close(ffd), EIO, "close(F14)");
	EXPECT_OK(close(gfd), "close(G14)");
	EXPECT_OK(close(hfd), "close(H14)");
	fumount(&f, 1, names, 1);
	free(back);
	free(data);
}

/* ---- requirement 15: O_SYNC and O_DSYNC writes ----------------------------------------- */

/*
 * Requirement 15 (and 5): an O_DSYNC or O_SYNC write returns only once durable, so a failed
 * write-out is that write(2)'s error, in cached and in direct_io mode. The next such write
 * fails too (the file is poisoned).
 */
static void sync_writes(const char *test, const char *opts)
{
	struct fault_mount f;
	static const char *const names[] = { "D15", "S15", NULL };
	uint8_t *data = random_buf(16384, 15);
	int dfd, sfd;

	ft_check("req 15: O_DSYNC / O_SYNC writes report a failed write-out themselves "
		 "(-o %s)", opts);
	fmount(&f, test, opts, "sync@/D15:1:EIO,sync@/S15:1:EIO");
	dfd = FT_SYS(open(P(&f, "D15"), O_RDWR | O_CREAT | O_EXCL | O_DSYNC, 0644));
	sfd = FT_SYS(open(P(&f, "S15"), O_RDWR | O_CREAT | O_EXCL | O_SYNC, 0644));
	EXPECT_ERR(pwrite(dfd, data, 8192, 0), EIO, "O_DSYNC write(2) to D15, its fdatasync "
		   "fails");
	expect_faults(&f, "rule=sync@/D15:1:EIO", 1);
	EXPECT_ERR(pwrite(dfd, data, 8192, 8192), EIO, "the next O_DSYNC write(2) to D15");
	EXPECT_ERR(pwrite(sfd, data, 8192, 0), EIO, "O_SYNC write(2) to S15, its fsync fails");
	expect_faults(&f, "rule=sync@/S15:1:EIO", 1);
	EXPECT_ERR(fsync(sfd), EIO, "fsync(S15)");
	EXPECT_ERR(close(dfd), EIO, "close(D15)");
	EXPECT_ERR(close(sfd), EIO, "close(S15)");
	fumount(&f, 1, names, 2);
	free(data);
}

static void test_req15_osync_write_reports_error(void)
{
	sync_writes("req15cached", SLOW);
}

static void test_req15_osync_write_reports_error_direct_io(void)
{
	sync_writes("req15direct", "direct_io," SLOW);
}

/* ---- requirement 16 ---------------------------------------------------------------------- */

/* Writes @len random bytes to @name, fsyncs (must succeed), verifies live, after dropping
 * caches, in the backing file and after a remount without faults. */
static void write_sync_verify(struct fault_mount *f, const char *name, size_t len,
			      uint64_t seed)
{
	uint8_t *data = random_buf(len, seed);
	int fd = FT_SYS(open(P(f, name), O_RDWR | O_CREAT | O_EXCL, 0644));

	write_pieces(fd, data, len);
	EXPECT_OK(fsync(fd), "fsync(%s) after the flusher's faulty pwritev calls", name);
	EXPECT_OK(close(fd), "close(%s)", name);
	verify_file(P(f, name), data, len, "live");
	drop_caches();
	verify_file(P(f, name), data, len, "after drop_caches");
	verify_file(B(f, name), data, len, "backing file");
	free(data);
}

/*
 * Requirement 16, with the writeback hint: every sync_file_range(SYNC_FILE_RANGE_WRITE) the
 * write-out of W16 starts fails with EIO. That call only starts writeback early; the
 * fdatasync after it decides durability, so fsync returns 0 and the content verifies.
 */
static void test_req16_writeback_start_eio_ignored(void)
{
	struct fault_mount f;
	unsigned n;

	ft_check("req 16: sync_file_range fails with EIO on every call; it is only a hint: "
		 "fsync returns 0, content verifies, the daemon exits 0");
	fmount(&f, "req16wb", SLOW, "sync_file_range@/W16:*:EIO");
	write_sync_verify(&f, "W16", 4 << 20, 161);
	n = count_faults(&f, "kind=sync_file_range", NULL);
	FT_ASSERT(n >= 1, "the 4 MiB write-out of W16 started no writeback: no fault injected");
	expect_faults(&f, "kind=sync_file_range", n);
	fumount(&f, 0, NULL, n);
}

/*
 * Requirement 16 (short transfers): the flusher's first two pwritev calls of F16 transfer
 * only half of their bytes. It must complete them: fsync 0, content verifies.
 */
static void test_req16_short_pwritev_completed(void)
{
	struct fault_mount f;

	ft_check("req 16: pwritev:1:half and pwritev:2:half; the flusher completes the short "
		 "writes, fsync returns 0, content verifies");
	fmount(&f, "req16half", SLOW, "pwritev@/F16:1:half,pwritev@/F16:2:half");
	write_sync_verify(&f, "F16", 1 << 20, 16);
	expect_faults(&f, "result=half(", 2);
	fumount(&f, 0, NULL, 2);
	ft_remount(&f.m);	/* the same store and options, no shim */
	ft_ok("remounted without faults");
	{
		uint8_t *data = random_buf(1 << 20, 16);

		verify_file(P(&f, "F16"), data, 1 << 20, "after remount");
		free(data);
	}
	ft_umount(&f.m);
}

/* Requirement 16 (EINTR): the first two pwritev calls of F16b fail with EINTR; retried. */
static void test_req16_eintr_pwritev_retried(void)
{
	struct fault_mount f;

	ft_check("req 16: pwritev:1:EINTR and pwritev:2:EINTR; the flusher retries, fsync "
		 "returns 0, content verifies");
	fmount(&f, "req16eintr", SLOW, "pwritev@/F16b:1:EINTR,pwritev@/F16b:2:EINTR");
	write_sync_verify(&f, "F16b", 300000, 161);
	expect_faults(&f, "result=EINTR", 2);
	fumount(&f, 0, NULL, 2);
}

/*
 * Requirement 16 (EIO): the first pwritev of F16c fails. fsync returns EIO (twice), and
 * reads, also after dropping the page cache, return the written data, although the backing
 * file never received a byte: the failed buffers are kept and served.
 */
static void test_req16_pwritev_eio_keeps_data(void)
{
	struct fault_mount f;
	static const char *const names[] = { "F16c", NULL };
	uint8_t *data = random_buf(262144, 162), *back = malloc(262144);
	struct stat st;
	int fd;

	ft_check("req 16: pwritev:1:EIO; fsync returns EIO and reads return the written data");
	fmount(&f, "req16eio", SLOW, "pwritev@/F16c:1:EIO");
	fd = FT_SYS(open(P(&f, "F16c"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(fd, data, 262144);
	EXPECT_ERR(fsync(fd), EIO, "fsync(F16c), its backing pwritev fails");
	EXPECT_ERR(fsync(fd), EIO, "fsync(F16c) again");
	expect_faults(&f, "rule=pwritev@/F16c:1:EIO", 1);
	ft_pread_all(fd, back, 262144, 0);
	FT_ASSERT(memcmp(back, data, 262144) == 0, "F16c does not read back its data");
	ft_ok("F16c reads back its 256 KiB through the open descriptor");
	drop_caches();
	ft_pread_all(fd, back, 262144, 0);
	FT_ASSERT(memcmp(back, data, 262144) == 0, "F16c after drop_caches differs");
	FT_SYS(stat(B(&f, "F16c"), &st));
	FT_ASSERT(st.st_size == 0, "the backing F16c has %lld bytes: expected none",
		  (long long)st.st_size);
	ft_ok("after drop_caches F16c still reads back, from the kept buffers (backing file "
	      "empty)");
	EXPECT_ERR(close(fd), EIO, "close(F16c)");
	fumount(&f, 1, names, 1);
	free(data);
	free(back);
}

/* ---- requirement 17 ---------------------------------------------------------------------- */

/* Writes @name, fails its sync (injected), closes every fd, drops caches, reopens, reads. */
static void failed_survives_close(struct fault_mount *f, const char *name, size_t len,
				  uint64_t seed, int backing_empty)
{
	uint8_t *data = random_buf(len, seed);
	int fd = FT_SYS(open(P(f, name), O_RDWR | O_CREAT | O_EXCL, 0644));
	int fd2 = FT_SYS(open(P(f, name), O_RDONLY));
	size_t got;
	uint8_t *d;
	struct stat st;

	write_pieces(fd, data, len);
	EXPECT_ERR(fdatasync(fd), EIO, "fdatasync(%s) fails (injected)", name);
	EXPECT_ERR(close(fd2), EIO, "close(%s), read-only descriptor", name);
	EXPECT_ERR(close(fd), EIO, "close(%s), last descriptor", name);
	drop_caches();
	ft_ok("all descriptors of %s closed, page cache, dentries and inodes dropped", name);
	fd = FT_SYS(open(P(f, name), O_RDONLY));
	d = ft_read_file(P(f, name), &got);
	FT_ASSERT(got == len && memcmp(d, data, len) == 0, "%s after reopen: %zu bytes%s", name,
		  got, got == len ? ", content differs" : "");
	free(d);
	ft_ok("%s reopened: all %zu bytes intact", name, len);
	if (backing_empty) {
		FT_SYS(stat(B(f, name), &st));
		FT_ASSERT(st.st_size == 0, "backing %s has %lld bytes, expected 0", name,
			  (long long)st.st_size);
		ft_ok("(the backing %s is empty: the daemon served its kept buffers)", name);
	}
	EXPECT_ERR(fsync(fd), EIO, "fsync(%s) after reopen", name);
	EXPECT_ERR(close(fd), EIO, "close(%s) after reopen", name);
	free(data);
}

/*
 * Requirement 17: failed epochs' buffers survive RELEASE and FORGET. F17: fdatasync EIO;
 * F17b: pwritev EIO (the backing file never gets the data, so only the kept buffers can
 * serve the read).
 */
static void test_req17_failed_buffers_survive_release_forget(void)
{
	struct fault_mount f;
	static const char *const names[] = { "F17", "F17b", NULL };

	ft_check("req 17: fdatasync EIO, close all fds, drop_caches, reopen, read: data intact, "
		 "fsync EIO");
	fmount(&f, "req17", SLOW, "sync@/F17:1:EIO,pwritev@/F17b:1:EIO");
	failed_survives_close(&f, "F17", 300000, 17, 0);
	failed_survives_close(&f, "F17b", 200000, 171, 1);
	expect_faults(&f, "result=EIO", 2);
	fumount(&f, 1, names, 2);
}

/* ---- requirement 18 ---------------------------------------------------------------------- */

struct ro_check {
	int keep_fd;		/* open O_RDWR descriptor of "keep", durable */
	const uint8_t *keep;	/* its content, KEEP_LEN bytes */
};

#define KEEP_LEN 20000

/* Before the fault: a file "keep" written, fsynced, its name fsynced; left open. */
static void ro_setup(struct fault_mount *f, struct ro_check *c, const uint8_t *data)
{
	int dfd;

	c->keep = data;
	c->keep_fd = FT_SYS(open(P(f, "keep"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(c->keep_fd, data, KEEP_LEN, 0);
	FT_SYS(fsync(c->keep_fd));
	dfd = FT_SYS(open(f->m.mnt, O_RDONLY | O_DIRECTORY));
	FT_SYS(fsync(dfd));
	FT_SYS(close(dfd));
}

/* After a metadata failure with errors=remount-ro: changes fail with EROFS, reads work. */
static void ro_verify(struct fault_mount *f, struct ro_check *c)
{
	struct stat st;
	uint8_t buf[KEEP_LEN];
	int fd;

	EXPECT_ERR(open(P(f, "new18"), O_WRONLY | O_CREAT | O_EXCL, 0644), EROFS,
		   "create after the metadata failure");
	EXPECT_ERR(pwrite(c->keep_fd, "x", 1, 0), EROFS, "write to keep");
	EXPECT_ERR(rename(P(f, "keep"), P(f, "renamed18")), EROFS, "rename keep");
	EXPECT_ERR(mkdir(P(f, "dir18"), 0755), EROFS, "mkdir");
	EXPECT_ERR(unlink(P(f, "keep")), EROFS, "unlink keep");
	EXPECT_OK(stat(P(f, "keep"), &st), "stat keep");
	FT_ASSERT(st.st_size == KEEP_LEN, "keep has size %lld", (long long)st.st_size);
	fd = FT_SYS(open(P(f, "keep"), O_RDONLY));
	ft_pread_all(fd, buf, KEEP_LEN, 0);
	FT_ASSERT(memcmp(buf, c->keep, KEEP_LEN) == 0, "keep reads back different data");
	ft_ok("keep (durable before the failure) reads back through a new descriptor");
	EXPECT_OK(close(fd), "close of keep's read-only descriptor");
	EXPECT_OK(fsync(c->keep_fd), "fsync(keep): nothing of it is unsynced");
	EXPECT_OK(close(c->keep_fd), "close(keep)");
	fd = FT_SYS(open(f->m.mnt, O_RDONLY | O_DIRECTORY));
	EXPECT_OK(close(fd), "opendir of the root");
}

/*
 * Requirement 18: EIO from the fsync of a backing directory (FSYNCDIR of d18). The mount
 * becomes read-only: create, write, rename, mkdir, unlink get EROFS; stat and reads work;
 * fsync of a file whose name was in d18 gets EIO.
 */
static void test_req18_dir_fsync_eio_remounts_ro(void)
{
	struct fault_mount f;
	static const char *const names[] = { "d18", NULL };
	uint8_t *data = random_buf(KEEP_LEN, 18);
	struct ro_check c;
	int dfd, xfd;

	ft_check("req 18: EIO in the backing directory fsync: the next create, write and rename "
		 "return EROFS; reads and stat still work");
	fmount(&f, "req18dir", SLOW, "fsync@dir@/d18:1:EIO");
	ro_setup(&f, &c, data);
	FT_SYS(mkdir(P(&f, "d18"), 0755));
	xfd = FT_SYS(open(P(&f, "d18/x"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(xfd, data, 4096, 0);
	dfd = FT_SYS(open(P(&f, "d18"), O_RDONLY | O_DIRECTORY));
	EXPECT_ERR(fsync(dfd), EIO, "fsync(d18), its backing fsync fails");
	expect_faults(&f, "kind=fsync", 1);
	EXPECT_ERR(fsync(dfd), EIO, "fsync(d18) again");
	ro_verify(&f, &c);
	EXPECT_ERR(fsync(xfd), EIO, "fsync(d18/x): its name is in the failed directory");
	close(xfd);
	close(dfd);
	fumount(&f, 1, names, 1);
	free(data);
}

/* Requirement 18 via a file's fsync: fsync(d18b/y) fsyncs its new parent, which fails. */
static void test_req18_parent_fsync_eio_remounts_ro(void)
{
	struct fault_mount f;
	static const char *const names[] = { "y", NULL };
	uint8_t *data = random_buf(KEEP_LEN, 181);
	struct ro_check c;
	int yfd;

	ft_check("req 18: EIO in the fsync of a new file's backing parent: fsync(file) fails, "
		 "then the mount is read-only");
	fmount(&f, "req18parent", SLOW, "fsync@dir@/d18b:1:EIO");
	ro_setup(&f, &c, data);
	FT_SYS(mkdir(P(&f, "d18b"), 0755));
	yfd = FT_SYS(open(P(&f, "d18b/y"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(yfd, data, 8192, 0);
	EXPECT_ERR(fsync(yfd), EIO, "fsync(d18b/y), the fsync of its backing parent fails");
	expect_faults(&f, "kind=fsync", 1);
	EXPECT_ERR(fsync(yfd), EIO, "fsync(d18b/y) again");
	ro_verify(&f, &c);
	EXPECT_ERR(close(yfd), EIO, "close(d18b/y)");
	fumount(&f, 1, names, 1);
	free(data);
}

/* Requirement 18 for one backing namespace call: @rule fails @what with EIO. */
static void meta_call_eio(const char *test, const char *rule, const char *what,
			  const char *failed_name, int (*op)(struct fault_mount *))
{
	struct fault_mount f;
	const char *const names[] = { failed_name, NULL };
	uint8_t *data = random_buf(KEEP_LEN, 182);
	struct ro_check c;

	ft_check("req 18: EIO from the backing %s: it fails, then the mount is read-only", what);
	fmount(&f, test, SLOW, rule);
	ro_setup(&f, &c, data);
	errno = 0;
	FT_ASSERT(op(&f) < 0 && errno == EIO, "%s gave %s, expected EIO", what,
		  errno ? strerror(errno) : "success");
	ft_ok("%s: EIO", what);
	expect_faults(&f, "result=EIO", 1);
	ro_verify(&f, &c);
	fumount(&f, 1, names, 1);
	free(data);
}

static int op_rename(struct fault_mount *f)
{
	int fd = FT_SYS(open(P(f, "r18a"), O_WRONLY | O_CREAT | O_EXCL, 0644));

	FT_SYS(close(fd));
	return rename(P(f, "r18a"), P(f, "r18b"));
}

static int op_unlink(struct fault_mount *f)
{
	int fd = FT_SYS(open(P(f, "u18"), O_WRONLY | O_CREAT | O_EXCL, 0644));

	FT_SYS(close(fd));
	return unlink(P(f, "u18"));
}

static int op_mkdir(struct fault_mount *f)
{
	return mkdir(P(f, "m18"), 0755);
}

static int op_create(struct fault_mount *f)
{
	return open(P(f, "c18"), O_WRONLY | O_CREAT | O_EXCL, 0644);
}

static void test_req18_renameat2_eio_remounts_ro(void)
{
	meta_call_eio("req18rename", "renameat2@/r18a:1:EIO", "renameat2", "r18a", op_rename);
}

static void test_req18_unlinkat_eio_remounts_ro(void)
{
	meta_call_eio("req18unlink", "unlinkat@/u18:1:EIO", "unlinkat", "u18", op_unlink);
}

static void test_req18_mkdirat_eio_remounts_ro(void)
{
	meta_call_eio("req18mkdir", "mkdirat@/m18:1:EIO", "mkdirat", "m18", op_mkdir);
}

static void test_req18_create_eio_remounts_ro(void)
{
	/* @creat: the create's openat, not the O_PATH lookup the kernel's LOOKUP makes first. */
	meta_call_eio("req18create", "openat@creat@/c18:1:EIO", "openat (create)", "c18",
		      op_create);
}

/*
 * Requirement 18 when a file has more new parents than the daemon tracks (4): its fsync
 * falls back to syncfs of the backing filesystem, which fails. fsync reports EIO and the
 * mount becomes read-only.
 */
static void test_req18_syncfs_eio_remounts_ro(void)
{
	struct fault_mount f;
	static const char *const names[] = { "X18", NULL };
	uint8_t *data = random_buf(KEEP_LEN, 185);
	static const char *const dirs[] = { "a", "b", "c", "d", "e" };
	struct ro_check c;
	char name[16];
	int fd;

	ft_check("req 18: a file linked into 5 new directories: its fsync needs syncfs, which "
		 "fails: EIO, then the mount is read-only");
	fmount(&f, "req18syncfs", SLOW, "syncfs:1:EIO");
	ro_setup(&f, &c, data);
	for (int k = 0; k < 5; k++)
		FT_SYS(mkdir(P(&f, dirs[k]), 0755));
	fd = FT_SYS(open(P(&f, "a/X18"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, data, 4096, 0);
	for (int k = 1; k < 5; k++) {
		snprintf(name, sizeof(name), "%s/X18", dirs[k]);
		FT_SYS(link(P(&f, "a/X18"), P(&f, name)));
	}
	EXPECT_ERR(fsync(fd), EIO, "fsync(X18), the syncfs for its 5 new parents fails");
	expect_faults(&f, "kind=syncfs", 1);
	ro_verify(&f, &c);
	EXPECT_ERR(close(fd), EIO, "close(X18)");
	fumount(&f, 1, names, 1);
	free(data);
}

/*
 * Requirement 18, "any EROFS from below": the flusher's pwritev of E18 fails with EROFS.
 * fsync reports EROFS, and the mount no longer takes changes.
 */
static void test_req18_erofs_from_below_remounts_ro(void)
{
	struct fault_mount f;
	static const char *const names[] = { "E18", NULL };
	uint8_t *data = random_buf(KEEP_LEN, 183);
	struct ro_check c;
	int fd;

	ft_check("req 18: EROFS from the backing pwritev: fsync reports it, and the mount is "
		 "read-only from then on");
	fmount(&f, "req18erofs", SLOW, "pwritev@/E18:1:EROFS");
	ro_setup(&f, &c, data);
	fd = FT_SYS(open(P(&f, "E18"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, data, 8192, 0);
	EXPECT_ERR(fsync(fd), EROFS, "fsync(E18), its backing pwritev fails with EROFS");
	expect_faults(&f, "result=EROFS", 1);
	ro_verify(&f, &c);
	EXPECT_ERR(close(fd), EROFS, "close(E18)");
	fumount(&f, 1, names, 1);
	free(data);
}

/*
 * Requirement 18 with -o errors=continue: the same failures (directory fsync, mkdirat)
 * are reported, but the mount keeps taking changes.
 */
static void test_req18_errors_continue_stays_writable(void)
{
	struct fault_mount f;
	static const char *const names[] = { "d18c", NULL };
	uint8_t *data = random_buf(KEEP_LEN, 184);
	int dfd, fd;

	ft_check("req 18: with -o errors=continue a failed directory fsync and mkdirat are "
		 "reported and the mount stays writable");
	fmount(&f, "req18continue", "errors=continue," SLOW,
	       "fsync@dir@/d18c:1:EIO,mkdirat@/m18c:1:EIO");
	FT_SYS(mkdir(P(&f, "d18c"), 0755));
	dfd = FT_SYS(open(P(&f, "d18c"), O_RDONLY | O_DIRECTORY));
	EXPECT_ERR(fsync(dfd), EIO, "fsync(d18c), its backing fsync fails");
	EXPECT_ERR(mkdir(P(&f, "m18c"), 0755), EIO, "mkdir m18c, its backing mkdirat fails");
	expect_faults(&f, "result=EIO", 2);
	fd = FT_SYS(open(P(&f, "new18c"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_ok("create after the failures: success (no read-only switch)");
	ft_pwrite_all(fd, data, KEEP_LEN, 0);
	ft_ok("write after the failures: success");
	EXPECT_OK(rename(P(&f, "new18c"), P(&f, "renamed18c")), "rename after the failures");
	EXPECT_OK(mkdir(P(&f, "m18c"), 0755), "mkdir m18c again");
	/*
	 * Not checked: fsync of the new file. Once a directory sync failed the daemon cannot
	 * promise any new name durable and answers EIO (section 3 item 8); continue only
	 * means it keeps taking changes.
	 */
	close(fd);
	close(dfd);
	verify_file(P(&f, "renamed18c"), data, KEEP_LEN, "live");
	fumount(&f, 1, names, 2);
	free(data);
}

/* ---- requirement 20: ENOSPC and EDQUOT ---------------------------------------------------- */

/*
 * Requirement 20: the backing space reservation (fallocate) made when a WRITE needs new
 * chunks fails with @err: write(2) reports @err, nothing is poisoned: the next write
 * succeeds, fsync and close return 0, and the data survives a remount.
 */
static void fallocate_full(const char *test, const char *file, int err, const char *rule)
{
	struct fault_mount f;
	uint8_t *data = random_buf(65536, 20);
	int fd;

	ft_check("req 20: %s injected into the reservation fallocate: write(2) reports it, "
		 "nothing else fails", strerror(err));
	fmount(&f, test, SLOW, rule);
	fd = FT_SYS(open(P(&f, file), O_RDWR | O_CREAT | O_EXCL, 0644));
	EXPECT_ERR(pwrite(fd, data, 4096, 0), err, "the first write(2) to %s", file);
	expect_faults(&f, "kind=fallocate", 1);
	ft_pwrite_all(fd, data, 65536, 0);
	ft_ok("the next write succeeds");
	EXPECT_OK(fsync(fd), "fsync(%s)", file);
	EXPECT_OK(close(fd), "close(%s)", file);
	fumount(&f, 0, NULL, 1);
	ft_remount(&f.m);	/* the same store and options, no shim */
	verify_file(P(&f, file), data, 65536, "after remount");
	ft_umount(&f.m);
	free(data);
}

static void test_req20_fallocate_enospc_reported_by_write(void)
{
	fallocate_full("req20falloc", "S20", ENOSPC, "fallocate@/S20:1:ENOSPC");
}

static void test_req20_fallocate_edquot_reported_by_write(void)
{
	fallocate_full("req20quota", "Q20", EDQUOT, "fallocate@/Q20:1:EDQUOT");
}

/*
 * Requirement 20, the sticky path: the reservation succeeded but the flusher's pwritev
 * fails with @err. fsync reports @err every time, through any descriptor, and close too.
 */
static void pwritev_full(const char *test, const char *file, int err, const char *rule)
{
	struct fault_mount f;
	const char *const names[] = { file, NULL };
	uint8_t *data = random_buf(131072, 201), *back = malloc(131072);
	int fd, fd2;

	ft_check("req 20: %s injected into the flusher's pwritev: sticky on fsync and close",
		 strerror(err));
	fmount(&f, test, SLOW, rule);
	fd = FT_SYS(open(P(&f, file), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(fd, data, 131072);
	EXPECT_ERR(fsync(fd), err, "fsync(%s) #1", file);
	expect_faults(&f, "kind=pwritev", 1);
	EXPECT_ERR(fsync(fd), err, "fsync(%s) #2", file);
	fd2 = FT_SYS(open(P(&f, file), O_RDWR));
	EXPECT_ERR(fdatasync(fd2), err, "fdatasync(%s) through a new descriptor", file);
	EXPECT_ERR(pwrite(fd2, data, 10, 0), EIO, "a new write to %s (fail-stop)", file);
	ft_pread_all(fd2, back, 131072, 0);
	FT_ASSERT(memcmp(back, data, 131072) == 0, "%s does not read back", file);
	ft_ok("%s still reads back its data", file);
	EXPECT_ERR(close(fd2), err, "close(%s) of the new descriptor", file);
	EXPECT_ERR(close(fd), err, "close(%s)", file);
	fumount(&f, 1, names, 1);
	free(data);
	free(back);
}

static void test_req20_pwritev_enospc_sticky(void)
{
	pwritev_full("req20pwritev", "S20b", ENOSPC, "pwritev@/S20b:1:ENOSPC");
}

static void test_req20_pwritev_edquot_sticky(void)
{
	pwritev_full("req20pwritevq", "Q20b", EDQUOT, "pwritev@/Q20b:1:EDQUOT");
}

/*
 * Requirement 20 for names: ENOSPC from the backing create is the create's error, not a
 * metadata failure (only EIO and EROFS are): the mount stays writable and exits 0.
 */
static void test_req20_create_enospc_not_readonly(void)
{
	struct fault_mount f;
	int fd;

	ft_check("req 20: ENOSPC injected into a backing create: open(O_CREAT) reports it, the "
		 "mount stays writable");
	fmount(&f, "req20create", SLOW, "openat@creat@/N20:1:ENOSPC");
	EXPECT_ERR(open(P(&f, "N20"), O_RDWR | O_CREAT | O_EXCL, 0644), ENOSPC,
		   "create N20");
	expect_faults(&f, "result=ENOSPC", 1);
	fd = FT_SYS(open(P(&f, "N20"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, "retry", 5, 0);
	EXPECT_OK(fsync(fd), "create N20 again, write, fsync");
	EXPECT_OK(close(fd), "close(N20)");
	fumount(&f, 0, NULL, 1);
}

/*
 * Requirement 20 for fallocate(2) itself (requirement 10's mode 0): the reservation fails
 * with ENOSPC, fallocate reports it and the size does not change; a retry succeeds.
 */
static void test_req20_fallocate_call_enospc(void)
{
	struct fault_mount f;
	struct stat st;
	int fd;

	ft_check("req 20: ENOSPC injected into the backing fallocate of fallocate(2): reported, "
		 "size unchanged");
	fmount(&f, "req20fcall", SLOW, "fallocate@/A20:1:ENOSPC");
	fd = FT_SYS(open(P(&f, "A20"), O_RDWR | O_CREAT | O_EXCL, 0644));
	EXPECT_ERR(fallocate(fd, 0, 0, 1 << 20), ENOSPC, "fallocate(A20, 1 MiB)");
	expect_faults(&f, "kind=fallocate", 1);
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_size == 0, "A20 has size %lld after the failed fallocate",
		  (long long)st.st_size);
	ft_ok("A20 still has size 0");
	EXPECT_OK(fallocate(fd, 0, 0, 1 << 20), "fallocate(A20, 1 MiB) again");
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_size == 1 << 20, "A20 has size %lld", (long long)st.st_size);
	EXPECT_OK(fsync(fd), "fsync(A20)");
	EXPECT_OK(close(fd), "close(A20)");
	fumount(&f, 0, NULL, 1);
}

/* ---- requirement 43 ---------------------------------------------------------------------- */

/*
 * Requirement 43: the background write-out of F43 fails (fdatasync EIO) while the test
 * only waits; nobody calls fsync. close() of a still-open descriptor returns EIO, also of
 * one that never wrote.
 */
static void test_req43_close_reports_sticky_error(void)
{
	struct fault_mount f;
	static const char *const names[] = { "F43", NULL };
	uint8_t *data = random_buf(100000, 43);
	int fd, fd2;

	ft_check("req 43: fdatasync EIO in the background, wait one flush interval, close() of "
		 "a still-open fd returns EIO");
	fmount(&f, "req43", FAST, "sync@/F43:1:EIO");
	fd = FT_SYS(open(P(&f, "F43"), O_RDWR | O_CREAT | O_EXCL, 0644));
	fd2 = FT_SYS(open(P(&f, "F43"), O_RDONLY));
	write_pieces(fd, data, 100000);
	usleep(FAST_MS * 1000);
	wait_fault(&f, "rule=sync@/F43:1:EIO");
	ft_ok("the flusher hit the injected EIO within one flush interval or so");
	expect_faults(&f, "rule=sync@/F43:1:EIO", 1);
	EXPECT_ERR(close(fd2), EIO, "close(F43) of a descriptor that never wrote");
	EXPECT_ERR(close(fd), EIO, "close(F43) of the writing descriptor");
	fumount(&f, 1, names, 1);
	free(data);
}

/*
 * DURABILITY.md section 3 item 7: a sticky error is cleared when the file is unlinked and its
 * last descriptor closed. Nothing of it can be reached any more, so unmount owes nobody an
 * error: the daemon exits 0 (and other files are unaffected throughout).
 */
static void test_sec3_7_unlink_and_close_clear_sticky_error(void)
{
	struct fault_mount f;
	uint8_t *data = random_buf(100000, 37);
	struct stat st;
	int fd, g;

	ft_check("section 3.7: fdatasync EIO on F37, then unlink and close: the error is gone");
	fmount(&f, "sec3_7", SLOW, "sync@/F37:1:EIO");
	fd = FT_SYS(open(P(&f, "F37"), O_RDWR | O_CREAT | O_EXCL, 0644));
	g = FT_SYS(open(P(&f, "G37"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(fd, data, 100000);
	write_pieces(g, data, 100000);
	EXPECT_ERR(fdatasync(fd), EIO, "fdatasync(F37) with the injected EIO");
	EXPECT_ERR(fsync(fd), EIO, "fsync(F37) again: sticky");
	FT_SYS(fsync(g));
	ft_ok("fsync(G37) still 0");
	FT_SYS(unlink(P(&f, "F37")));
	EXPECT_ERR(close(fd), EIO, "close(F37): FLUSH reports the error while it is open");
	FT_ASSERT(stat(P(&f, "F37"), &st) < 0 && errno == ENOENT, "F37 still there");
	/* The kernel sends FORGET once the unlinked inode is evicted; give it a moment. */
	usleep(200 * 1000);
	FT_SYS(close(g));
	expect_faults(&f, "rule=sync@/F37:1:EIO", 1);
	fumount(&f, 0, NULL, 1);
	free(data);
}

/*
 * The default close(2) waits for the file's data (DURABILITY.md, the promise): when that
 * sync fails, close itself returns the error, never 0, and the error stays sticky.
 */
static void test_close_waits_and_reports(void)
{
	struct fault_mount f;
	static const char *const names[] = { "C1", NULL };
	uint8_t *data = random_buf(50000, 71);
	int fd;

	ft_check("default sync_on_close: a close whose sync fails returns EIO");
	close_syncs = 1;
	fmount(&f, "close", SLOW, "sync@reg@/C1:1:EIO");
	fd = FT_SYS(open(P(&f, "C1"), O_RDWR | O_CREAT | O_EXCL, 0644));
	write_pieces(fd, data, 50000);
	EXPECT_ERR(close(fd), EIO, "close(C1) waited for its data and got the failed sync");
	fd = FT_SYS(open(P(&f, "C1"), O_RDONLY));
	EXPECT_ERR(fsync(fd), EIO, "fsync(C1) on a new descriptor: sticky");
	EXPECT_ERR(close(fd), EIO, "close(C1) again");
	expect_faults(&f, "rule=sync@reg@/C1:1:EIO", 1);
	fumount(&f, 1, names, 1);
	free(data);
}

/* ---- main -------------------------------------------------------------------------------- */

struct test {
	const char *name;
	void (*fn)(void);
};

#define T(fn) { #fn, fn }

static const struct test tests[] = {
	T(test_req1_fsync_family_answered_never_enosys),
	T(test_req11_unmount_drain_failure_exits_nonzero),
	T(test_req13_sticky_error_any_fd),
	T(test_req13_truncate_and_mtime_failures_sticky),
	T(test_req13_concurrent_fsyncs_all_fail),
	T(test_req14_later_epoch_never_acks_failed_one),
	T(test_req15_osync_write_reports_error),
	T(test_req15_osync_write_reports_error_direct_io),
	T(test_req16_short_pwritev_completed),
	T(test_req16_writeback_start_eio_ignored),
	T(test_req16_eintr_pwritev_retried),
	T(test_req16_pwritev_eio_keeps_data),
	T(test_req17_failed_buffers_survive_release_forget),
	T(test_req18_dir_fsync_eio_remounts_ro),
	T(test_req18_parent_fsync_eio_remounts_ro),
	T(test_req18_renameat2_eio_remounts_ro),
	T(test_req18_unlinkat_eio_remounts_ro),
	T(test_req18_mkdirat_eio_remounts_ro),
	T(test_req18_create_eio_remounts_ro),
	T(test_req18_syncfs_eio_remounts_ro),
	T(test_req18_erofs_from_below_remounts_ro),
	T(test_req18_errors_continue_stays_writable),
	T(test_req20_fallocate_enospc_reported_by_write),
	T(test_req20_fallocate_edquot_reported_by_write),
	T(test_req20_pwritev_enospc_sticky),
	T(test_req20_pwritev_edquot_sticky),
	T(test_req20_fallocate_call_enospc),
	T(test_req20_create_enospc_not_readonly),
	T(test_req43_close_reports_sticky_error),
	T(test_sec3_7_unlink_and_close_clear_sticky_error),
	T(test_close_waits_and_reports),
};

int main(int argc, char **argv)
{
	const char *only;
	double t0;
	int ran = 0;

	ft_init(argc, argv);
	if (ft_fake())
		ft_fail("fault_durability needs the real daemon (FT_FAKE is set)");
	shim = ft_arg("shim");
	if (!shim || access(shim, R_OK) < 0)
		ft_fail("the fault shim is missing: pass --shim=PATH or set FT_SHIM to "
			"libfrozenfs_fault_shim.so (meson test does)");
	if (access("/proc/sys/vm/drop_caches", W_OK) < 0)
		ft_fail("/proc/sys/vm/drop_caches is not writable (%s): run as root",
			strerror(errno));
	only = ft_arg("only");
	t0 = ft_now();
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		double t;

		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		printf("# === %s\n", tests[i].name);
		t = ft_now();
		tests[i].fn();
		printf("# %s passed in %.2f s\n", tests[i].name, ft_now() - t);
		ran++;
	}
	if (!ran)
		ft_fail("no test named '%s'", only);
	printf("# %d test functions passed in %.1f s; faults injected: %u, verified: %u\n", ran,
	       ft_now() - t0, faults_injected, faults_verified);
	return ft_done();
}
