/*
 * iofake: a struct chunk_io that performs the real system calls (through chunk_io_default())
 * but can inject faults and delays and counts calls per operation (see iofake.h).
 *
 * DESIGN
 *
 * All state (rules, delays, counters) sits behind one mutex, taken once per call to decide
 * what the call does; the syscall and any delay run outside it, so a delayed call does not
 * stall other threads' calls. A rule counts down the calls of its op made after it was
 * installed and fires on the @nth one (or on every call when @nth == 0). The first rule that
 * fires for a call decides its fate; a rule that fires on its @nth call is then spent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iofake.h"

enum {
	OP_OPENAT, OP_CLOSE, OP_PREADV, OP_PWRITEV, OP_FDATASYNC, OP_FSYNC, OP_FTRUNCATE,
	OP_FALLOCATE, OP_FLOCK, OP_FSTAT, OP_FUTIMENS, OP_LSEEK, OP_WRITEBACK, OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"openat", "close", "preadv", "pwritev", "fdatasync", "fsync", "ftruncate",
	"fallocate", "flock", "fstat", "futimens", "lseek", "writeback",
};

#define MAX_RULES 64

struct rule {
	int op;
	unsigned left;		/* calls until it fires; 0: fires on every call */
	int err;		/* -errno, IOFAKE_SHORT or IOFAKE_EINTR */
	int used;		/* slot in use */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rule rules[MAX_RULES];		/* protected by lock */
static unsigned delays[OP_COUNT];		/* protected by lock */
static unsigned counts[OP_COUNT];		/* protected by lock */
static pthread_t last_thread[OP_COUNT];		/* protected by lock */
static unsigned fired;				/* protected by lock */

static int op_index(const char *op)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (!strcmp(op, op_names[i]))
			return i;
	abort();		/* a typo in a test must not silently inject nothing */
}

void iofake_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(rules, 0, sizeof(rules));
	memset(delays, 0, sizeof(delays));
	memset(counts, 0, sizeof(counts));
	fired = 0;
	pthread_mutex_unlock(&lock);
}

void iofake_fail(const char *op, unsigned nth, int err)
{
	int o = op_index(op);

	pthread_mutex_lock(&lock);
	for (int i = 0; i < MAX_RULES; i++) {
		if (!rules[i].used) {
			rules[i] = (struct rule){ .op = o, .left = nth, .err = err, .used = 1 };
			pthread_mutex_unlock(&lock);
			return;
		}
	}
	pthread_mutex_unlock(&lock);
	abort();		/* more rules than a test could mean */
}

void iofake_delay(const char *op, unsigned us)
{
	int o = op_index(op);

	pthread_mutex_lock(&lock);
	delays[o] = us;
	pthread_mutex_unlock(&lock);
}

unsigned iofake_count(const char *op)
{
	int o = op_index(op);
	unsigned n;

	pthread_mutex_lock(&lock);
	n = counts[o];
	pthread_mutex_unlock(&lock);
	return n;
}

pthread_t iofake_last_thread(const char *op)
{
	int i = op_index(op);
	pthread_t t;

	pthread_mutex_lock(&lock);
	t = last_thread[i];
	pthread_mutex_unlock(&lock);
	return t;
}

unsigned iofake_fired(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = fired;
	pthread_mutex_unlock(&lock);
	return n;
}

/* Counts the call and decides it: 0 to perform it, else the rule's @err. Sleeps if asked. */
static int enter(int op)
{
	unsigned us;
	int action = 0;

	pthread_mutex_lock(&lock);
	counts[op]++;
	last_thread[op] = pthread_self();
	us = delays[op];
	for (int i = 0; i < MAX_RULES; i++) {
		struct rule *r = &rules[i];

		if (!r->used || r->op != op)
			continue;
		if (r->left == 0) {
			if (!action)
				action = r->err;
			continue;
		}
		if (--r->left == 0) {
			r->used = 0;
			if (!action)
				action = r->err;
		}
	}
	if (action)
		fired++;
	pthread_mutex_unlock(&lock);
	if (us) {
		struct timespec ts = {
			.tv_sec = us / 1000000,
			.tv_nsec = (long)(us % 1000000) * 1000,
		};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return action;
}

/* For ops that transfer nothing, SHORT means "behave normally". */
static int plain_action(int op)
{
	int a = enter(op);

	if (a == IOFAKE_SHORT)
		return 0;
	if (a == IOFAKE_EINTR)
		return -EINTR;
	return a;
}

static const struct chunk_io *real(void)
{
	return chunk_io_default();
}

static int f_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int a = plain_action(OP_OPENAT);

	return a ? a : real()->openat(dirfd, path, flags, mode);
}

static int f_close(int fd)
{
	int a = plain_action(OP_CLOSE);

	return a ? a : real()->close(fd);
}

/*
 * Cuts @iov down to half its bytes (at least 1) into @out; returns the new count. chunk_
 * never passes more than IOV_MAX (1024) iovecs, so the cap at SHORT_MAX only shortens more.
 */
#define SHORT_MAX 1024
static int halve(const struct iovec *iov, int cnt, struct iovec *out)
{
	size_t total = 0, want;
	int n = 0;

	for (int i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	want = total / 2 ? total / 2 : 1;
	for (int i = 0; i < cnt && i < SHORT_MAX && want > 0; i++) {
		out[n] = iov[i];
		if (out[n].iov_len > want)
			out[n].iov_len = want;
		want -= out[n].iov_len;
		n++;
	}
	return n;
}

static ssize_t f_preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	struct iovec tmp[SHORT_MAX];
	int a = enter(OP_PREADV);

	if (a == IOFAKE_EINTR)
		return -EINTR;
	if (a == IOFAKE_SHORT)
		return real()->preadv(fd, tmp, halve(iov, cnt, tmp), off);
	return a ? a : real()->preadv(fd, iov, cnt, off);
}

static ssize_t f_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	struct iovec tmp[SHORT_MAX];
	int a = enter(OP_PWRITEV);

	if (a == IOFAKE_EINTR)
		return -EINTR;
	if (a == IOFAKE_SHORT)
		return real()->pwritev(fd, tmp, halve(iov, cnt, tmp), off);
	return a ? a : real()->pwritev(fd, iov, cnt, off);
}

static int f_fdatasync(int fd)
{
	int a = plain_action(OP_FDATASYNC);

	return a ? a : real()->fdatasync(fd);
}

static int f_fsync(int fd)
{
	int a = plain_action(OP_FSYNC);

	return a ? a : real()->fsync(fd);
}

static int f_ftruncate(int fd, off_t len)
{
	int a = plain_action(OP_FTRUNCATE);

	return a ? a : real()->ftruncate(fd, len);
}

static int f_fallocate(int fd, int mode, off_t off, off_t len)
{
	int a = plain_action(OP_FALLOCATE);

	return a ? a : real()->fallocate(fd, mode, off, len);
}

static int f_flock(int fd, int op)
{
	int a = plain_action(OP_FLOCK);

	return a ? a : real()->flock(fd, op);
}

static int f_fstat(int fd, struct stat *st)
{
	int a = plain_action(OP_FSTAT);

	return a ? a : real()->fstat(fd, st);
}

static int f_futimens(int fd, const struct timespec ts[2])
{
	int a = plain_action(OP_FUTIMENS);

	return a ? a : real()->futimens(fd, ts);
}

static off_t f_lseek(int fd, off_t off, int whence)
{
	int a = plain_action(OP_LSEEK);

	return a ? a : real()->lseek(fd, off, whence);
}

static int f_writeback(int fd, off_t off, off_t len)
{
	int a = plain_action(OP_WRITEBACK);

	return a ? a : real()->writeback(fd, off, len);
}

static const struct chunk_io fake_io = {
	.openat = f_openat,
	.close = f_close,
	.preadv = f_preadv,
	.pwritev = f_pwritev,
	.fdatasync = f_fdatasync,
	.fsync = f_fsync,
	.ftruncate = f_ftruncate,
	.fallocate = f_fallocate,
	.flock = f_flock,
	.fstat = f_fstat,
	.futimens = f_futimens,
	.lseek = f_lseek,
	.writeback = f_writeback,
};

const struct chunk_io *iofake_io(void)
{
	return &fake_io;
}
