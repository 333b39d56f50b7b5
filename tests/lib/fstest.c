/*
 * fstest: mount/unmount/cleanup and check helpers for the C integration tests. See fstest.h
 * for the contract and the DESIGN.
 */
#include "fstest.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FT_MAX_MOUNTS 16
#define FT_MAX_DISKS 4
#define FT_MAX_ARGS 16

static char tmpdir[PATH_MAX];
static char daemon_path[PATH_MAX];
static int fake;
static int npass;
static struct ft_mount *mounts[FT_MAX_MOUNTS];	/* registered by ft_mount, for cleanup */
static struct ft_disk *disks[FT_MAX_DISKS];	/* registered by ft_disk_create, for cleanup */
static void (*fail_hook)(void);
static const char *args[FT_MAX_ARGS];
static int nargs;
static int nlog;

const char *ft_tmpdir(void) { return tmpdir; }
const char *ft_daemon(void) { return daemon_path; }
int ft_fake(void) { return fake; }
void ft_set_fail_hook(void (*hook)(void)) { fail_hook = hook; }

long long ft_sys_(long long r, const char *what, const char *file, int line)
{
	if (r < 0)
		ft_fail("%s:%d: %s: %s", file, line, what, strerror(errno));
	return r;
}

const char *ft_fmt(const char *fmt, ...)
{
	static _Thread_local char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

static int is_mounted(const char *mnt)
{
	char parent[PATH_MAX];
	struct stat a, b;

	snprintf(parent, sizeof(parent), "%s/..", mnt);
	if (stat(mnt, &a) < 0 || stat(parent, &b) < 0)
		return errno == ENOTCONN;	/* a dead FUSE mount is still a mount */
	return a.st_dev != b.st_dev;
}

/* Is @path a mount point according to /proc/self/mountinfo (field 5)? Works for bind mounts
 * on the same filesystem too, where st_dev cannot tell. */
static int in_mountinfo(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192], mp[PATH_MAX];
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 && strcmp(mp, path) == 0)
			found = 1;
	if (f)
		fclose(f);
	return found;
}

/* Runs argv, waits, returns the exit status (or 128+signal, or -1). */
static int run(char *const argv[], int quiet)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void print_log_tail(const struct ft_mount *m)
{
	char line[512];
	char *ring[30] = { 0 };
	int n = 0, i;
	FILE *f = fopen(m->log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		free(ring[n % 30]);
		ring[n % 30] = strdup(line);
		n++;
	}
	fclose(f);
	if (n)
		fprintf(stderr, "# daemon log %s (last lines):\n", m->log);
	for (i = n > 30 ? n - 30 : 0; i < n; i++) {
		fprintf(stderr, "#   %s", ring[i % 30]);
		free(ring[i % 30]);
	}
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(p);
	return 0;
}

/* Lazily unmounts everything, kills daemons, removes tmpdir. Safe to call twice. */
static void cleanup(void)
{
	int i, any = 0;

	for (i = 0; i < FT_MAX_MOUNTS; i++) {
		struct ft_mount *m = mounts[i];

		if (!m)
			continue;
		if (in_mountinfo(m->mnt)) {
			if (fake) {
				umount2(m->mnt, MNT_DETACH);
			} else {
				char *argv[] = { "fusermount3", "-uz", m->mnt, NULL };

				if (run(argv, 1) != 0)
					umount2(m->mnt, MNT_DETACH);
			}
		}
		if (m->pid > 0) {
			int st, k;

			kill(m->pid, SIGTERM);
			for (k = 0; k < 500 && waitpid(m->pid, &st, WNOHANG) == 0; k++)
				usleep(10000);
			if (k == 500) {
				kill(m->pid, SIGKILL);
				waitpid(m->pid, &st, 0);
			}
			m->pid = 0;
		}
		mounts[i] = NULL;
	}
	for (i = 0; i < FT_MAX_DISKS; i++) {
		if (disks[i] && in_mountinfo(disks[i]->dir))
			umount2(disks[i]->dir, MNT_DETACH);
		disks[i] = NULL;
	}
	if (!tmpdir[0])
		return;
	/* Never rm -rf through a live mount. */
	{
		FILE *f = fopen("/proc/self/mountinfo", "r");
		char line[4096];

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, tmpdir))
				any = 1;
		if (f)
			fclose(f);
	}
	if (any)
		fprintf(stderr, "# cleanup: something is still mounted below %s; leaving it\n",
			tmpdir);
	else if (getenv("FT_KEEP") && strcmp(getenv("FT_KEEP"), "1") == 0)
		fprintf(stderr, "# cleanup: kept %s\n", tmpdir);
	else
		nftw(tmpdir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

static void on_signal(int sig)
{
	/* Not async-signal-safe, but the process is going away and a leaked mount is worse. */
	fprintf(stderr, "FAIL: killed by signal %d\n", sig);
	if (fail_hook)
		fail_hook();
	cleanup();
	_exit(1);
}

void ft_fail(const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	va_list ap;
	int i;

	/* One failing thread reports; the others block here until exit. */
	pthread_mutex_lock(&lock);
	fflush(stdout);
	fprintf(stderr, "not ok - ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nFAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (fail_hook)
		fail_hook();
	for (i = 0; i < FT_MAX_MOUNTS; i++)
		if (mounts[i])
			print_log_tail(mounts[i]);
	printf("%d passed, 1 failed\n", npass);
	fflush(stdout);
	exit(1);
}

void ft_check(const char *fmt, ...)
{
	va_list ap;

	printf("# check: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void ft_ok(const char *fmt, ...)
{
	va_list ap;

	printf("ok %d - ", ++npass);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int ft_done(void)
{
	printf("%d passed, 0 failed\n", npass);
	fflush(stdout);
	return 0;
}

const char *ft_arg(const char *name)
{
	static char env[64];
	size_t n = strlen(name);
	int i;

	for (i = 0; i < nargs; i++)
		if (strncmp(args[i] + 2, name, n) == 0 && args[i][2 + n] == '=')
			return args[i] + 3 + n;
	snprintf(env, sizeof(env), "FT_%s", name);
	for (i = 3; env[i]; i++)
		if (env[i] >= 'a' && env[i] <= 'z')
			env[i] -= 'a' - 'A';
	return getenv(env);
}

long ft_arg_long(const char *name, long def, long min)
{
	const char *v = ft_arg(name);
	char *end;
	long r;

	if (!v)
		return def;
	errno = 0;
	r = strtol(v, &end, 0);
	if (!*v || *end || errno)
		ft_fail("--%s=%s is not a whole number", name, v);
	return r < min ? min : r;
}

uint64_t ft_seed(void)
{
	const char *v = ft_arg("seed");

	if (v)
		return strtoull(v, NULL, 0);
	return (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

static int in_path(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
		if (access(buf, X_OK) == 0)
			return 1;
		path = end ? end + 1 : NULL;
	}
	return 0;
}

void ft_init(int argc, char **argv)
{
	const char *d = NULL;
	struct sigaction sa;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) == 0 && nargs < FT_MAX_ARGS)
			args[nargs++] = argv[i];
		else if (!d)
			d = argv[i];
	}
	if (!d)
		d = getenv("FROZENFS");
	fake = getenv("FT_FAKE") && getenv("FT_FAKE")[0];
	if (!fake) {
		if (!d || !*d)
			ft_fail("no daemon: pass the frozenfs binary as the first argument or set "
				"FROZENFS");
		if (access(d, X_OK) < 0)
			ft_fail("daemon '%s' is missing or not executable: %s", d,
				strerror(errno));
		if (!realpath(d, daemon_path))
			ft_fail("realpath(%s): %s", d, strerror(errno));
		if (access("/dev/fuse", F_OK) < 0)
			ft_fail("/dev/fuse is missing (load the fuse module / pass the device)");
		if (access("/dev/fuse", R_OK | W_OK) < 0)
			ft_fail("/dev/fuse is not readable and writable by uid %d: %s",
				(int)getuid(), strerror(errno));
		if (!in_path("fusermount3"))
			ft_fail("fusermount3 is missing from PATH (apt-get install fuse3)");
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/frozenfs-it.XXXXXX");
	if (!mkdtemp(tmpdir))
		ft_fail("mkdtemp: %s", strerror(errno));
	atexit(cleanup);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	printf("# daemon: %s%s; temp dir: %s\n", fake ? "(fake bind mount) " : "",
	       fake ? "none" : daemon_path, tmpdir);
}

static void mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		ft_fail("mkdir %s: %s", path, strerror(errno));
}

static void do_mount(struct ft_mount *m)
{
	int i, st, logfd;
	pid_t pid;

	mkdir_p(m->mnt);
	mkdir_p(m->backing);
	for (i = 0; i < FT_MAX_MOUNTS && mounts[i] != m; i++)
		;
	if (i == FT_MAX_MOUNTS) {
		for (i = 0; i < FT_MAX_MOUNTS && mounts[i]; i++)
			;
		if (i == FT_MAX_MOUNTS)
			ft_fail("too many mounts");
		mounts[i] = m;
	}
	if (fake) {
		if (mount(m->backing, m->mnt, NULL, MS_BIND, NULL) < 0)
			ft_fail("fake bind mount %s on %s: %s", m->backing, m->mnt,
				strerror(errno));
		m->mounted = 1;
		return;
	}
	if (snprintf(m->log, sizeof(m->log), "%s/daemon.%d.log", tmpdir, ++nlog) >=
	    (int)sizeof(m->log))
		ft_fail("path too long");
	logfd = open(m->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (logfd < 0)
		ft_fail("open %s: %s", m->log, strerror(errno));
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		ft_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[8];
		int n = 0;

		argv[n++] = daemon_path;
		argv[n++] = "-f";
		if (m->opts[0]) {
			argv[n++] = "-o";
			argv[n++] = m->opts;
		}
		argv[n++] = m->backing;
		argv[n++] = m->mnt;
		argv[n] = NULL;
		dup2(logfd, 1);
		dup2(logfd, 2);
		execv(daemon_path, argv);
		_exit(127);
	}
	close(logfd);
	m->pid = pid;
	for (i = 0; i < 1000; i++) {
		if (is_mounted(m->mnt)) {
			m->mounted = 1;
			return;
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			m->pid = 0;
			ft_fail("frozenfs exited with status %d before mounting %s (see its log)",
				WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), m->mnt);
		}
		usleep(10000);
	}
	ft_fail("%s is not mounted 10 s after starting frozenfs (pid %d)", m->mnt, (int)pid);
}

void ft_mount(struct ft_mount *m, const char *backing, const char *mnt, const char *opts)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->backing, sizeof(m->backing), "%s", backing);
	snprintf(m->mnt, sizeof(m->mnt), "%s", mnt);
	snprintf(m->opts, sizeof(m->opts), "%s", opts ? opts : "");
	do_mount(m);
	printf("# mounted %s on %s%s%s%s\n", m->backing, m->mnt, m->opts[0] ? " (-o " : "",
	       m->opts, m->opts[0] ? ")" : "");
}

void ft_umount(struct ft_mount *m)
{
	int st = ft_umount_status(m);

	if (!WIFEXITED(st))
		ft_fail("frozenfs killed by signal %d after unmounting %s", WTERMSIG(st), m->mnt);
	if (WEXITSTATUS(st) != 0)
		ft_fail("frozenfs exited with status %d after unmounting %s", WEXITSTATUS(st),
			m->mnt);
}

int ft_umount_status(struct ft_mount *m)
{
	int i, st = 0, rc;

	if (!m->mounted)
		ft_fail("ft_umount: %s is not mounted by this test", m->mnt);
	if (fake) {
		if (umount(m->mnt) < 0)
			ft_fail("fake umount %s: %s", m->mnt, strerror(errno));
		m->mounted = 0;
		return 0;
	}
	/* EBUSY is possible for a moment after the last close elsewhere: retry. */
	for (i = 0;; i++) {
		char *argv[] = { "fusermount3", "-u", m->mnt, NULL };

		rc = run(argv, i < 100);
		if (rc == 0)
			break;
		if (i >= 100)
			ft_fail("fusermount3 -u %s exited %d", m->mnt, rc);
		usleep(50000);
	}
	m->mounted = 0;
	for (i = 0; i < 12000; i++) {
		pid_t r = waitpid(m->pid, &st, WNOHANG);

		if (r == m->pid)
			break;
		if (r < 0)
			ft_fail("waitpid(%d): %s", (int)m->pid, strerror(errno));
		usleep(10000);
	}
	if (i == 12000)
		ft_fail("frozenfs (pid %d) still running 120 s after unmounting %s",
			(int)m->pid, m->mnt);
	m->pid = 0;
	return st;
}

int ft_kill(struct ft_mount *m, int sig)
{
	int st = 0, i;

	if (!m->mounted || m->pid <= 0)
		ft_fail("ft_kill: nothing running for %s", m->mnt);
	if (kill(m->pid, sig) < 0)
		ft_fail("kill(%d, %d): %s", (int)m->pid, sig, strerror(errno));
	while (waitpid(m->pid, &st, 0) < 0)
		if (errno != EINTR)
			ft_fail("waitpid(%d): %s", (int)m->pid, strerror(errno));
	m->pid = 0;
	for (i = 0; i < 500 && in_mountinfo(m->mnt); i++) {
		char *argv[] = { "fusermount3", "-uz", m->mnt, NULL };

		if (run(argv, 1) != 0)
			umount2(m->mnt, MNT_DETACH);
		if (in_mountinfo(m->mnt))
			usleep(10000);
	}
	if (in_mountinfo(m->mnt))
		ft_fail("ft_kill: %s still mounted after lazy unmount", m->mnt);
	m->mounted = 0;
	return st;
}

void ft_remount(struct ft_mount *m)
{
	if (m->mounted)
		ft_umount(m);
	do_mount(m);
}

#define EXT4_IOC_SHUTDOWN_		_IOR('X', 125, uint32_t)
#define EXT4_GOING_FLAGS_NOLOGFLUSH_	2u

void ft_disk_create(struct ft_disk *d, const char *name, unsigned size_mb)
{
	int i, fd;

	memset(d, 0, sizeof(*d));
	if (snprintf(d->img, sizeof(d->img), "%s/%s.img", tmpdir, name) >= (int)sizeof(d->img) ||
	    snprintf(d->dir, sizeof(d->dir), "%s/%s", tmpdir, name) >= (int)sizeof(d->dir))
		ft_fail("path too long");
	if (!in_path("mkfs.ext4") && access("/sbin/mkfs.ext4", X_OK) < 0)
		ft_fail("mkfs.ext4 is missing (apt-get install e2fsprogs)");
	if (access("/dev/loop-control", R_OK | W_OK) < 0)
		ft_fail("/dev/loop-control is not usable: %s (loop devices are needed to emulate "
			"power loss and ENOSPC)", strerror(errno));
	fd = open(d->img, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size_mb << 20) < 0)
		ft_fail("creating %s: %s", d->img, strerror(errno));
	close(fd);
	{
		char *argv[] = { "mkfs.ext4", "-q", "-F", "-E", "nodiscard", d->img, NULL };

		if (run(argv, 1) != 0)
			ft_fail("mkfs.ext4 %s failed", d->img);
	}
	mkdir_p(d->dir);
	for (i = 0; i < FT_MAX_DISKS && disks[i]; i++)
		;
	if (i == FT_MAX_DISKS)
		ft_fail("too many disks");
	disks[i] = d;
	ft_disk_mount(d);
}

void ft_disk_mount(struct ft_disk *d)
{
	char *argv[] = { "mount", "-o", "loop", d->img, d->dir, NULL };

	if (run(argv, 0) != 0)
		ft_fail("mount -o loop %s %s failed (are loop devices available?)", d->img,
			d->dir);
	d->mounted = 1;
}

void ft_disk_goingdown(struct ft_disk *d)
{
	uint32_t flags = EXT4_GOING_FLAGS_NOLOGFLUSH_;
	int fd = open(d->dir, O_RDONLY | O_DIRECTORY);

	if (fd < 0)
		ft_fail("open %s: %s", d->dir, strerror(errno));
	if (ioctl(fd, EXT4_IOC_SHUTDOWN_, &flags) < 0)
		ft_fail("EXT4_IOC_SHUTDOWN on %s: %s", d->dir, strerror(errno));
	close(fd);
}

void ft_disk_umount(struct ft_disk *d)
{
	int i;

	/* The dead FUSE mount may take a moment to let go of its files. */
	for (i = 0; umount(d->dir) < 0; i++) {
		if (errno != EBUSY || i == 500)
			ft_fail("umount %s: %s", d->dir, strerror(errno));
		usleep(10000);
	}
	d->mounted = 0;
}

void ft_disk_shutdown(struct ft_disk *d)
{
	ft_disk_goingdown(d);
	ft_disk_umount(d);
}

const char *ft_path(const struct ft_mount *m, const char *name)
{
	static _Thread_local char buf[8][PATH_MAX];
	static _Thread_local int slot;
	char *b = buf[slot++ % 8];

	if (snprintf(b, PATH_MAX, "%s/%s", m->mnt, name) >= PATH_MAX)
		ft_fail("path too long: %s/%s", m->mnt, name);
	return b;
}

void ft_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ft_fail("pwrite(fd %d, %zu bytes at %lld): %s", fd, len, (long long)off,
				strerror(errno));
		if (n == 0)
			ft_fail("pwrite(fd %d, %zu bytes at %lld) returned 0", fd, len,
				(long long)off);
		p += n;
		len -= n;
		off += n;
	}
}

void ft_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ft_fail("pread(fd %d, %zu bytes at %lld): %s", fd, len, (long long)off,
				strerror(errno));
		if (n == 0)
			ft_fail("pread(fd %d, %zu bytes at %lld): early EOF", fd, len,
				(long long)off);
		p += n;
		len -= n;
		off += n;
	}
}

uint8_t *ft_read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	size_t cap, n = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		ft_fail("open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		ft_fail("fstat %s: %s", path, strerror(errno));
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf)
		ft_fail("malloc");
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ft_fail("read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		n += r;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				ft_fail("realloc");
		}
	}
	close(fd);
	*len = n;
	return buf;
}

void ft_write_file(const char *path, const void *buf, size_t len, int sync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		ft_fail("open %s: %s", path, strerror(errno));
	ft_pwrite_all(fd, buf, len, 0);
	if (sync && fsync(fd) < 0)
		ft_fail("fsync %s: %s", path, strerror(errno));
	if (close(fd) < 0)
		ft_fail("close %s: %s", path, strerror(errno));
}

long long ft_memdiff(const void *a, const void *b, size_t len)
{
	const uint8_t *x = a, *y = b;
	size_t i;

	if (memcmp(a, b, len) == 0)
		return -1;
	for (i = 0; i < len; i++)
		if (x[i] != y[i])
			return (long long)i;
	return -1;
}

uint64_t ft_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t ft_rand_below(uint64_t *s, uint64_t n)
{
	return n ? ft_rand(s) % n : 0;
}

void ft_rand_fill(uint64_t *s, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len >= 8) {
		uint64_t v = ft_rand(s);

		memcpy(p, &v, 8);
		p += 8;
		len -= 8;
	}
	while (len--)
		*p++ = (uint8_t)ft_rand(s);
}

double ft_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void ft_write_in_child(const char *path, const void *buf, size_t len)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	FT_ASSERT(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

		if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd) < 0)
			_exit(1);
		_exit(0);
	}
	FT_SYS(waitpid(pid, &st, 0));
	FT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child writing %s failed", path);
}

void ft_pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		ft_fail("path too long: %s...", buf);
}
