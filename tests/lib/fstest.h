/*
 * fstest: shared code for the C integration tests (tests/integration/it_<topic>.c).
 *
 * A test calls ft_init() with its argv, then mounts the built daemon on private temporary
 * directories with ft_mount(), does its work through the ordinary syscalls, and unmounts with
 * ft_umount(), which runs `fusermount3 -u` and insists that the daemon exits 0.
 *
 * DESIGN
 * - The daemon is found as the first non-option argument (meson passes the built target) or
 *   in env FROZENFS. ft_init() FAILS, naming what is missing, when the daemon, /dev/fuse or
 *   fusermount3 is unusable: FUSE works wherever frozenfs is built and tested (STYLE.md §6).
 * - ft_mount() fork/execs `frozenfs -f [-o OPTS] BACKING MNT` with stdout and stderr sent to a
 *   log file, then polls (every 10 ms, up to 10 s) until st_dev of MNT differs from st_dev of
 *   its parent; if the daemon exits first, the test fails with its exit status and log.
 * - Everything lives in one directory made by mkdtemp under /tmp. At exit (normal, ft_fail, or
 *   SIGINT/SIGTERM/SIGHUP from the test runner) every mount still up is lazily unmounted
 *   (fusermount3 -uz), its daemon killed, and the directory removed (unless FT_KEEP=1). The
 *   directory is removed only if nothing is mounted below it.
 * - FT_FAKE=bind in the environment replaces the daemon by a bind mount of BACKING on MNT, so
 *   the test logic can be checked against plain ext4 before the daemon exists.
 * - Failures print "FAIL: <message>" plus the tail of each daemon log, call the hook set with
 *   ft_set_fail_hook() (a model tester prints its seed and last operations there), and exit 1.
 *
 * Single-threaded apart from the check macros, which any thread may use (a failing thread
 * exits the whole process).
 */
#ifndef FROZENFS_FSTEST_H
#define FROZENFS_FSTEST_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct ft_mount {
	char backing[PATH_MAX];
	char mnt[PATH_MAX];
	char opts[512];
	char log[PATH_MAX];
	pid_t pid;		/* daemon pid while mounted, else 0 */
	int mounted;
};

/* Parses argv (daemon path, "--seed=N", "--ops=N" are kept for ft_arg()), checks FUSE, makes
 * the temporary directory. Fails the test when something is missing. */
void ft_init(int argc, char **argv);

/* Value of "--NAME=VALUE" on the command line, or env FT_<NAME> uppercased, or NULL. */
const char *ft_arg(const char *name);

/* ft_arg(NAME) as a whole number of at least @min, or @def when not given; fails on junk. */
long ft_arg_long(const char *name, long def, long min);

/* --seed=N, or one drawn from the time and the pid; printed by the caller for a rerun. */
uint64_t ft_seed(void);

const char *ft_tmpdir(void);
const char *ft_daemon(void);
int ft_fake(void);

/* Mounts BACKING on MNT (both are created if missing) with -o OPTS (NULL or "" for none). */
void ft_mount(struct ft_mount *m, const char *backing, const char *mnt, const char *opts);

/* fusermount3 -u, waits for the daemon (up to 120 s) and fails unless it exited 0. */
void ft_umount(struct ft_mount *m);

/* The same, but returns the daemon's wait status instead of insisting on 0. */
int ft_umount_status(struct ft_mount *m);

/* Crash: sends SIG to the daemon, reaps it, then lazily unmounts the dead mount so MNT can
 * be mounted again. Returns the daemon's wait status. */
int ft_kill(struct ft_mount *m, int sig);

/* ft_umount + ft_mount with the same arguments (also after ft_kill). */
void ft_remount(struct ft_mount *m);

/*
 * A small ext4 filesystem on a loop device (image file in the temporary directory), for
 * power-loss emulation (DURABILITY.md 4.1, T3) and real ENOSPC (T6). ft_disk_create() fails
 * the test, naming what is missing, when mkfs.ext4 or loop devices are unusable.
 */
struct ft_disk {
	char img[PATH_MAX];
	char dir[PATH_MAX];	/* where it is mounted */
	int mounted;
};

void ft_disk_create(struct ft_disk *d, const char *name, unsigned size_mb);
/* Power loss: EXT4_IOC_SHUTDOWN with EXT4_GOING_FLAGS_NOLOGFLUSH, then umount. Whatever was
 * not made durable by fsync/fdatasync/sync is lost. Nothing may have files open on it. */
void ft_disk_shutdown(struct ft_disk *d);
/* Only the EXT4_IOC_SHUTDOWN part: from now on every I/O on the disk fails with EIO. */
void ft_disk_goingdown(struct ft_disk *d);
/* Only the umount part (retries EBUSY for up to 5 s). */
void ft_disk_umount(struct ft_disk *d);
/* Mounts the image again (the journal is replayed). */
void ft_disk_mount(struct ft_disk *d);

/* snprintf into a path buffer; a path that does not fit fails the test. */
__attribute__((format(printf, 3, 4)))
void ft_pathf(char *buf, size_t len, const char *fmt, ...);

/* Path of NAME inside the mount, in a rotating static buffer (8 slots). */
const char *ft_path(const struct ft_mount *m, const char *name);

void ft_set_fail_hook(void (*hook)(void));

__attribute__((noreturn, format(printf, 1, 2)))
void ft_fail(const char *fmt, ...);

/* "# check: ..." before a group of assertions. */
__attribute__((format(printf, 1, 2)))
void ft_check(const char *fmt, ...);

/* "ok N - ..." after a passed assertion. */
__attribute__((format(printf, 1, 2)))
void ft_ok(const char *fmt, ...);

/* Prints "N passed, 0 failed" and returns 0, for main() to return. */
int ft_done(void);

#define FT_ASSERT(cond, ...) do {						\
	if (!(cond))								\
		ft_fail("%s:%d: assertion '%s' failed: %s", __FILE__, __LINE__,	\
			#cond, ft_fmt(__VA_ARGS__));				\
} while (0)

/* A syscall that must succeed: evaluates to its (>= 0) result, else fails the test. */
#define FT_SYS(call) ft_sys_((long long)(call), #call, __FILE__, __LINE__)
long long ft_sys_(long long r, const char *what, const char *file, int line);

/* A syscall that must fail with errno ERR. */
#define FT_SYS_ERR(call, err) do {						\
	errno = 0;								\
	long long ft_r_ = (long long)(call);					\
	if (ft_r_ >= 0 || errno != (err))					\
		ft_fail("%s:%d: %s: returned %lld errno %d (%s), expected %s",	\
			__FILE__, __LINE__, #call, ft_r_, errno, strerror(errno), #err); \
} while (0)

__attribute__((format(printf, 1, 2)))
const char *ft_fmt(const char *fmt, ...);

/* Full-length I/O that fails the test on error or a short count. */
void ft_pwrite_all(int fd, const void *buf, size_t len, off_t off);
void ft_pread_all(int fd, void *buf, size_t len, off_t off);

/* In a child process: creates @path (O_EXCL), writes @len bytes of @buf, closes; fails the
 * test unless all of it succeeded. No fsync: "another process wrote it". */
void ft_write_in_child(const char *path, const void *buf, size_t len);

/* Reads a whole file (path) into a malloc'd buffer; *len gets the size. Fails the test. */
uint8_t *ft_read_file(const char *path, size_t *len);

/* Writes LEN bytes to PATH (O_CREAT|O_TRUNC), fsyncs if @sync. */
void ft_write_file(const char *path, const void *buf, size_t len, int sync);

/* Index of the first differing byte, or -1. */
long long ft_memdiff(const void *a, const void *b, size_t len);

/* xorshift64* PRNG. */
uint64_t ft_rand(uint64_t *state);
/* Uniform in [0, n). */
uint64_t ft_rand_below(uint64_t *state, uint64_t n);
void ft_rand_fill(uint64_t *state, void *buf, size_t len);

/* Monotonic seconds. */
double ft_now(void);

#endif
