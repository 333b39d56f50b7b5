/*
 * fault_shim_self: checks the fault shim's rule language on plain files in a temporary
 * directory, without the daemon, so that a fault_durability failure can be blamed on
 * frozenfs and not on the shim.
 *
 * The program re-executes itself with LD_PRELOAD=$FT_SHIM, FROZENFS_FAULTS and
 * FROZENFS_FAULTS_LOG set (and ASAN_OPTIONS=verify_asan_link_order=0, so that the same
 * check proves the shim works in front of an ASan runtime). The child makes calls through
 * the same entry points as the daemon (this file is built with _FILE_OFFSET_BITS=64, so
 * pwrite64, pwritev64, ftruncate64, fallocate64, openat64, ...) and checks which ones fail;
 * the parent then checks the log and that malformed rules stop a process at load time.
 *
 * Usage: fault_shim_self   (env FT_SHIM: path of libfrozenfs_fault_shim.so)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define NTHREADS	4
#define PER_THREAD	250

static const char RULES[] =
	"fdatasync@sf_a:2:EIO,"
	"pwritev@sf_b:1:half,"
	"pwrite@sf_b:2:EINTR,"
	"fsync@dir@sfdir:1:EROFS,"
	"ftruncate@sf_t:2+:ENOSPC,"
	"fallocate@sf_c:*:EDQUOT,"
	"renameat2@sf_r:1:EIO,"
	"unlinkat@sf_u:1:EIO,"
	"mkdirat@sf_m:1:EIO,"
	"openat@sf_o:1:EIO,"
	"open@creat@sf_k:1:EIO,"
	"write@sf_w:2:ENOSPC,"
	"writev@sf_w:3:half,"
	"sync@sf_s:2:EIO,"
	"fsync@sf_d:1:delay300,"
	"ftruncate@sf_conc:501+:EIO";
#define EXPECTED_FAULTS	(1 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 1 + 1 + 1 + 2 + 1 + 1 + 500)

static int npass;

__attribute__((format(printf, 1, 2), noreturn))
static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

__attribute__((format(printf, 1, 2)))
static void ok(const char *fmt, ...)
{
	va_list ap;

	printf("ok %d - ", ++npass);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* @r is the call's result; @err the errno it must fail with, or 0 for success. */
static void expect(long r, int err, const char *what)
{
	int e = errno;

	if (err == 0 && r < 0)
		fail("%s: %s, expected success", what, strerror(e));
	if (err && r >= 0)
		fail("%s: succeeded, expected %s", what, strerror(err));
	if (err && e != err)
		fail("%s: %s, expected %s", what, strerror(e), strerror(err));
	ok("%s: %s", what, err ? strerror(err) : "success");
}

static int thr_fd;
static _Atomic int thr_failed;

static void *thr_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++)
		if (ftruncate(thr_fd, 0) < 0) {
			if (errno != EIO)
				fail("ftruncate(sf_conc): %s", strerror(errno));
			thr_failed++;
		}
	return NULL;
}

/* The child: runs with the shim and RULES, in directory @dir. */
static int child(const char *dir)
{
	char buf[200], p1[4096], p2[4096];
	struct iovec iov[2] = { { buf, 100 }, { buf + 100, 50 } };
	pthread_t th[NTHREADS];
	struct stat st;
	int a, b, c, t, d, fd;

	memset(buf, 'x', sizeof(buf));
	if (chdir(dir) < 0)
		fail("chdir %s: %s", dir, strerror(errno));
	a = open("sf_a", O_RDWR | O_CREAT, 0600);
	b = open("sf_b", O_RDWR | O_CREAT, 0600);
	c = open("sf_c", O_RDWR | O_CREAT, 0600);
	t = open("sf_t", O_RDWR | O_CREAT, 0600);
	thr_fd = open("sf_conc", O_RDWR | O_CREAT, 0600);
	if (a < 0 || b < 0 || c < 0 || t < 0 || thr_fd < 0 || mkdir("sfdir", 0700) < 0)
		fail("setup: %s", strerror(errno));
	d = open("sfdir", O_RDONLY | O_DIRECTORY);
	if (d < 0)
		fail("open sfdir: %s", strerror(errno));

	expect(fdatasync(a), 0, "fdatasync(sf_a) #1");
	expect(fdatasync(b), 0, "fdatasync(sf_b) is not counted against sf_a's rule");
	expect(fdatasync(a), EIO, "fdatasync(sf_a) #2 (rule fdatasync@sf_a:2:EIO)");
	expect(fdatasync(a), 0, "fdatasync(sf_a) #3");

	if (pwritev(b, iov, 2, 0) != 75)
		fail("pwritev(sf_b, 150 bytes) with a half rule did not write 75 bytes");
	ok("pwritev(sf_b, 150 bytes) #1 wrote 75 (half)");
	expect(pwrite(b, buf, 10, 0), 0, "pwrite(sf_b) #1");
	expect(pwrite(b, buf, 10, 0), EINTR, "pwrite(sf_b) #2 (EINTR)");
	if (pwritev(b, iov, 2, 0) != 150)
		fail("pwritev(sf_b) #2 did not write all 150 bytes");
	ok("pwritev(sf_b) #2 wrote 150");

	expect(fsync(a), 0, "fsync(sf_a): a regular file does not match @dir");
	expect(fsync(d), EROFS, "fsync(sfdir) #1 (rule fsync@dir@sfdir:1:EROFS)");
	expect(fsync(d), 0, "fsync(sfdir) #2");

	expect(ftruncate(t, 10), 0, "ftruncate(sf_t) #1");
	expect(ftruncate(t, 20), ENOSPC, "ftruncate(sf_t) #2 (2+)");
	expect(ftruncate(t, 30), ENOSPC, "ftruncate(sf_t) #3 (2+)");
	expect(fallocate(c, 0, 0, 4096), EDQUOT, "fallocate(sf_c) (*)");

	fd = open("sf_r1", O_WRONLY | O_CREAT, 0600);
	close(fd);
	expect(renameat2(AT_FDCWD, "sf_r1", AT_FDCWD, "sf_r2", 0), EIO, "renameat2 sf_r1");
	expect(rename("sf_r1", "sf_r2"), 0, "rename sf_r1 (same kind, call #2)");
	if (stat("sf_r2", &st) < 0)
		fail("sf_r2 missing after the rename");

	fd = open("sf_u", O_WRONLY | O_CREAT, 0600);
	close(fd);
	expect(unlinkat(AT_FDCWD, "sf_u", 0), EIO, "unlinkat sf_u #1");
	expect(unlink("sf_u"), 0, "unlink(2) of sf_u: not an interposed call");
	expect(mkdirat(AT_FDCWD, "sf_m", 0700), EIO, "mkdirat sf_m #1");
	expect(mkdirat(AT_FDCWD, "sf_m", 0700), 0, "mkdirat sf_m #2");

	/* The path filter of a relative *at name includes the directory's path. */
	snprintf(p1, sizeof(p1), "%s", dir);
	fd = open(p1, O_RDONLY | O_DIRECTORY);
	expect(openat(fd, "sf_o", O_RDWR | O_CREAT, 0640), EIO, "openat(dirfd, sf_o) #1");
	snprintf(p2, sizeof(p2), "%s/sf_o", dir);
	expect(open(p2, O_RDWR | O_CREAT, 0640), 0, "open(sf_o) #2 (mode passed on)");
	if (stat(p2, &st) < 0 || (st.st_mode & 0777) != 0640)
		fail("sf_o mode %o, expected 640: the variadic mode was not passed on",
		     (unsigned)(st.st_mode & 0777));
	ok("sf_o has mode 0640");
	close(fd);
	expect(open("sf_k", O_RDONLY), ENOENT, "open(sf_k) without O_CREAT: not counted");
	expect(open("sf_k", O_RDWR | O_CREAT, 0600), EIO, "open(sf_k, O_CREAT) (@creat)");
	expect(open("sf_k", O_RDWR | O_CREAT, 0600), 0, "open(sf_k, O_CREAT) #2");

	/* write and writev are one kind: the counter runs across both. */
	fd = open("sf_w", O_RDWR | O_CREAT, 0600);
	expect(write(fd, buf, 10), 0, "write(sf_w) #1");
	expect(write(fd, buf, 10), ENOSPC, "write(sf_w) #2 (ENOSPC)");
	if (writev(fd, iov, 2) != 75)
		fail("writev(sf_w, 150 bytes) #3 with a half rule did not write 75 bytes");
	ok("writev(sf_w) #3 wrote 75 (half)");
	close(fd);

	/* sync counts fdatasync and fsync together. */
	fd = open("sf_s", O_RDWR | O_CREAT, 0600);
	expect(fdatasync(fd), 0, "fdatasync(sf_s): sync #1");
	expect(fsync(fd), EIO, "fsync(sf_s): sync #2 (rule sync@sf_s:2:EIO)");
	expect(fdatasync(fd), 0, "fdatasync(sf_s): sync #3");
	close(fd);
	{
		struct timespec t0, t1;
		long ms;

		fd = open("sf_d", O_RDWR | O_CREAT, 0600);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		expect(fsync(fd), 0, "fsync(sf_d) #1 (rule fsync@sf_d:1:delay300) succeeds");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms < 290)
			fail("fsync(sf_d) #1 took %ld ms: the delay rule did not sleep", ms);
		ok("fsync(sf_d) #1 was delayed %ld ms", ms);
	}
	close(fd);

	for (int i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, thr_main, NULL);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	if (thr_failed != NTHREADS * PER_THREAD - 500)
		fail("%d threads x %d ftruncate with rule 501+: %d failed, expected %d (counter "
		     "not atomic?)", NTHREADS, PER_THREAD, (int)thr_failed,
		     NTHREADS * PER_THREAD - 500);
	ok("%d concurrent calls: exactly calls 501..%d failed", NTHREADS * PER_THREAD,
	   NTHREADS * PER_THREAD);
	printf("%d passed, 0 failed\n", npass);
	return 0;
}

/* Runs this program with the shim and @rules; returns the wait status. */
static int spawn(const char *self, const char *shim, const char *rules, const char *log,
		 const char *dir, int quiet)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 2);
		}
		setenv("LD_PRELOAD", shim, 1);
		setenv("FROZENFS_FAULTS", rules, 1);
		setenv("FROZENFS_FAULTS_LOG", log, 1);
		setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
		execl(self, self, "--child", dir, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail("waitpid: %s", strerror(errno));
	return st;
}

static void rm_rf(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
	static const char *const bad[] = {
		"fsync:0:EIO", "fsync:1:half", "bogus:1:EIO", "fsync:1:EWHAT", "fsync:x:EIO",
		"fsync@:1:EIO", "fsync:1", "fsync@creat:1:EIO", "pwrite:1:delay10", "fsync:1:delay",
	};
	const char *shim = getenv("FT_SHIM");
	char self[4096], dir[] = "/tmp/frozenfs-shim.XXXXXX", log[4200], line[8192];
	int st, faults = 0, loaded = 0;
	ssize_t n;
	FILE *f;

	if (argc == 3 && strcmp(argv[1], "--child") == 0)
		return child(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!shim || access(shim, R_OK) < 0)
		fail("env FT_SHIM must name libfrozenfs_fault_shim.so (meson test sets it)");
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		fail("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	if (!mkdtemp(dir))
		fail("mkdtemp: %s", strerror(errno));
	snprintf(log, sizeof(log), "%s/faults.log", dir);

	st = spawn(self, shim, RULES, log, dir, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("the child under the shim failed (status %d)", st);
	f = fopen(log, "r");
	if (!f)
		fail("no fault log %s: %s", log, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "loaded ", 7) == 0)
			loaded++;
		else if (strncmp(line, "fault ", 6) == 0)
			faults++;
		else
			fail("unexpected line in the fault log: %s", line);
	}
	fclose(f);
	if (loaded != 1 || faults != EXPECTED_FAULTS)
		fail("fault log: %d loaded lines, %d faults; expected 1 and %d", loaded, faults,
		     EXPECTED_FAULTS);
	ok("fault log: the shim was loaded once and logged all %d faults", faults);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = spawn(self, shim, bad[i], log, dir, 1);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
			fail("rule '%s' was accepted (status %d): a typo must stop the process",
			     bad[i], st);
		ok("malformed rule '%s' stops the process at load time", bad[i]);
	}
	rm_rf(dir);
	printf("%d passed, 0 failed\n", npass);
	return 0;
}
