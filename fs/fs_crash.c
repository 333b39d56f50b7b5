/*
 * fs_crash: FROZENFS_CRASH_AT, a crash point at the n-th backing call of one kind (see
 * fs_crash.h for the contract).
 *
 * DESIGN
 * - The wrapper table starts as a copy of the inner one, so an op added to struct chunk_io
 *   later passes through untouched, and overrides the ops that can be crash points.
 * - One counter: only calls of the chosen kind (or, for `any`, of a mutating kind) are
 *   counted. atomic_fetch_add hands out each number exactly once, so exactly one call, on
 *   whatever thread, is the n-th; relaxed order is enough, since the counter orders nothing
 *   else and the process dies right there.
 * - "before" kills the daemon without making the call: the backing store never sees it.
 *   "after" makes the call, whatever its result, and dies before its caller can act on it
 *   (reply to the kernel, publish a durable epoch). raise(SIGKILL) takes the whole process
 *   at once; no handler, atexit or destroy runs, as in a real crash.
 * - Counting starts when fs_crash_wrap() installs the table, after store_open(): the crash
 *   windows of store creation are store.c's and are tested there with fake I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_crash.h"

enum crash_kind {
	K_PWRITEV, K_FDATASYNC, K_FSYNC, K_FTRUNCATE, K_FALLOCATE, K_FUTIMENS, K_OPENAT,
	K_MKDIRAT, K_MKNODAT, K_SYMLINKAT, K_LINKAT, K_UNLINKAT, K_RENAMEAT2, K_ANY, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
	"pwritev", "fdatasync", "fsync", "ftruncate", "fallocate", "futimens", "openat",
	"mkdirat", "mknodat", "symlinkat", "linkat", "unlinkat", "renameat2", "any",
};

/* Set by fs_crash_parse() on the main thread before any other thread exists. */
static struct {
	int set;
	enum crash_kind kind;
	uint64_t n;
	int after;
	const struct chunk_io *inner;
} cfg;

static _Atomic uint64_t ncalls;	/* calls of the chosen kind so far; relaxed (see DESIGN) */
static struct chunk_io wrapped;	/* filled once by fs_crash_wrap(), then read-only */

static int refuse(const char *spec, const char *why)
{
	fprintf(stderr, "frozenfs: invalid %s '%s': %s\n", FS_CRASH_ENV, spec, why);
	return -EINVAL;
}

int fs_crash_parse(const char *spec)
{
	const char *p, *colon;
	uint64_t n = 0;
	size_t len;
	int k;

	if (!spec)
		return 0;
	colon = strchr(spec, ':');
	if (!colon)
		return refuse(spec, "must be OP:N[:before|after]");
	len = (size_t)(colon - spec);
	for (k = 0; k < K_COUNT; k++)
		if (strlen(kind_names[k]) == len && strncmp(spec, kind_names[k], len) == 0)
			break;
	if (k == K_COUNT)
		return refuse(spec, "OP must be one of pwritev, fdatasync, fsync, ftruncate, "
			      "fallocate, futimens, openat, mkdirat, mknodat, symlinkat, linkat, "
			      "unlinkat, renameat2, any");
	p = colon + 1;
	if (*p < '0' || *p > '9')
		return refuse(spec, "N must be a whole number from 1 to 9223372036854775807");
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(*p - '0')) / 10)
			return refuse(spec, "N must be a whole number from 1 to "
				      "9223372036854775807");
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (n == 0)
		return refuse(spec, "N must be a whole number from 1 to 9223372036854775807");
	if (*p == ':') {
		if (strcmp(p + 1, "before") == 0)
			cfg.after = 0;
		else if (strcmp(p + 1, "after") == 0)
			cfg.after = 1;
		else
			return refuse(spec, "the third field must be before or after");
	} else if (*p) {
		return refuse(spec, "must be OP:N[:before|after]");
	}
	cfg.kind = (enum crash_kind)k;
	cfg.n = n;
	cfg.set = 1;
	return 0;
}

/* Is this call the n-th of the chosen kind? @mutates: counts for `any`. */
static int is_crash_point(enum crash_kind kind, int mutates)
{
	if (cfg.kind != kind && !(cfg.kind == K_ANY && mutates))
		return 0;
	return atomic_fetch_add_explicit(&ncalls, 1, memory_order_relaxed) + 1 == cfg.n;
}

static void crash(void)
{
	raise(SIGKILL);
	abort();	/* not reached: SIGKILL cannot be caught or blocked */
}

/* The call is made between BEFORE and AFTER; @hit is whether it is the crash point. */
#define BEFORE(kind, mutates)						\
	int hit = is_crash_point(kind, mutates);			\
	if (hit && !cfg.after)						\
		crash()
#define AFTER()								\
	do {								\
		if (hit)						\
			crash();					\
	} while (0)

static int c_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	BEFORE(K_OPENAT, (flags & O_CREAT) != 0);
	int r = cfg.inner->openat(dirfd, path, flags, mode);
	AFTER();
	return r;
}

static ssize_t c_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	BEFORE(K_PWRITEV, 1);
	ssize_t r = cfg.inner->pwritev(fd, iov, cnt, off);
	AFTER();
	return r;
}

static int c_fdatasync(int fd)
{
	BEFORE(K_FDATASYNC, 1);
	int r = cfg.inner->fdatasync(fd);
	AFTER();
	return r;
}

static int c_fsync(int fd)
{
	BEFORE(K_FSYNC, 1);
	int r = cfg.inner->fsync(fd);
	AFTER();
	return r;
}

static int c_ftruncate(int fd, off_t len)
{
	BEFORE(K_FTRUNCATE, 1);
	int r = cfg.inner->ftruncate(fd, len);
	AFTER();
	return r;
}

static int c_fallocate(int fd, int mode, off_t off, off_t len)
{
	BEFORE(K_FALLOCATE, 1);
	int r = cfg.inner->fallocate(fd, mode, off, len);
	AFTER();
	return r;
}

static int c_futimens(int fd, const struct timespec ts[2])
{
	BEFORE(K_FUTIMENS, 1);
	int r = cfg.inner->futimens(fd, ts);
	AFTER();
	return r;
}

static int c_mkdirat(int dirfd, const char *path, mode_t mode)
{
	BEFORE(K_MKDIRAT, 1);
	int r = cfg.inner->mkdirat(dirfd, path, mode);
	AFTER();
	return r;
}

static int c_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	BEFORE(K_MKNODAT, 1);
	int r = cfg.inner->mknodat(dirfd, path, mode, dev);
	AFTER();
	return r;
}

static int c_symlinkat(const char *target, int dirfd, const char *path)
{
	BEFORE(K_SYMLINKAT, 1);
	int r = cfg.inner->symlinkat(target, dirfd, path);
	AFTER();
	return r;
}

static int c_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		    int flags)
{
	BEFORE(K_LINKAT, 1);
	int r = cfg.inner->linkat(olddirfd, oldpath, newdirfd, newpath, flags);
	AFTER();
	return r;
}

static int c_unlinkat(int dirfd, const char *path, int flags)
{
	BEFORE(K_UNLINKAT, 1);
	int r = cfg.inner->unlinkat(dirfd, path, flags);
	AFTER();
	return r;
}

static int c_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		       unsigned flags)
{
	BEFORE(K_RENAMEAT2, 1);
	int r = cfg.inner->renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
	AFTER();
	return r;
}

const struct chunk_io *fs_crash_wrap(const struct chunk_io *inner)
{
	if (!cfg.set)
		return inner;
	cfg.inner = inner;
	wrapped = *inner;
	wrapped.openat = c_openat;
	wrapped.pwritev = c_pwritev;
	wrapped.fdatasync = c_fdatasync;
	wrapped.fsync = c_fsync;
	wrapped.ftruncate = c_ftruncate;
	wrapped.fallocate = c_fallocate;
	wrapped.futimens = c_futimens;
	wrapped.mkdirat = c_mkdirat;
	wrapped.mknodat = c_mknodat;
	wrapped.symlinkat = c_symlinkat;
	wrapped.linkat = c_linkat;
	wrapped.unlinkat = c_unlinkat;
	wrapped.renameat2 = c_renameat2;
	return &wrapped;
}
