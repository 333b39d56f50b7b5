/*
 * fault_shim: LD_PRELOAD fault injection into the running daemon (DURABILITY.md 4.1, T5).
 *
 *	LD_PRELOAD=.../libfrozenfs_fault_shim.so \
 *	FROZENFS_FAULTS='fdatasync@victim:1:EIO,pwritev:5:half' \
 *	FROZENFS_FAULTS_LOG=/tmp/faults.log frozenfs -f BACKING MNT
 *
 * The shim interposes the libc entry points through which the daemon changes its backing
 * store (check with `nm -D --undefined-only frozenfs`) and makes chosen calls fail. The unit
 * tests inject through the chunk_io table (STYLE.md section 6); this smoke-tests the shipped
 * binary. syscall(2), io_uring and static linking bypass it.
 *
 * RULES (FROZENFS_FAULTS, comma separated)
 *
 *	KIND[@FILTER...]:WHICH:FAULT
 *
 *   KIND   pwrite (pwrite, pwrite64), pwritev (pwritev, pwritev64, pwritev2, pwritev64v2),
 *          write (write, writev: the daemon uses them for /dev/fuse and sysfs only),
 *          fdatasync, fsync, ftruncate (+64), fallocate (+64), rename (rename, renameat,
 *          renameat2), unlink (unlinkat), mkdir (mkdirat), open (open, open64, openat,
 *          openat64), link (linkat), symlink (symlinkat), mknod (mknodat), syncfs, futimens,
 *          sync_file_range (a writeback start, not a sync: "sync" does not count it).
 *          Any of the libc names in brackets is accepted as well ("renameat2", "openat64").
 *          sync means fdatasync or fsync, counted together: "the N-th sync of this file",
 *          whichever of the two the daemon chooses for it.
 *   FILTER @dir or @reg: only calls on a directory / regular file (for fd calls the fd's
 *          type; for path calls fstatat() of the name before the call, and mkdirat counts as
 *          a directory). @creat: only opens with O_CREAT (not the O_PATH lookups that
 *          precede a create). Anything else is a substring the call's path must contain: the
 *          /proc/self/fd link of the fd, or dirfd's link + "/" + name for *at calls (either
 *          name for rename and link). Several filters must all hold: fsync@dir@/d18.
 *   WHICH  N (the N-th matching call, 1-based), N+ (the N-th and every later one), or *.
 *          Each rule counts the calls that match its kind and filters, atomically (the
 *          daemon is multi-threaded), whether or not another rule fires on them.
 *   FAULT  EIO, ENOSPC, EDQUOT, EROFS, EINTR (or a decimal errno): return -1 with that errno
 *          and do not make the call. half (pwrite, pwritev, write kinds only): a short transfer
 *          of half the bytes (at least 1; a 1-byte transfer is passed through unchanged).
 *          delayMS (every kind but the transfers): sleep MS milliseconds, then make the call.
 *
 * The first rule (in FROZENFS_FAULTS order) that fires decides a call's fate. A malformed
 * FROZENFS_FAULTS is one line on stderr and _exit(2) at load time, so a typo can never turn
 * into a test that injected nothing.
 *
 * LOG (FROZENFS_FAULTS_LOG, optional): one line when the shim is loaded, and one per injected
 * fault, each written with a single write(2) to an O_APPEND descriptor (lines of concurrent
 * threads and processes do not interleave):
 *
 *	loaded pid=PID rules=N
 *	fault pid=PID kind=KIND sym=SYMBOL call=N rule=RULE result=RESULT path=P
 *
 * RESULT is the errno's name (EIO), half(DONE/WANTED) or delay(MSms).
 *
 * SANITIZERS: with an ASan daemon, libasan must normally come first in the library list.
 * LD_PRELOAD of this shim alone works when ASAN_OPTIONS contains verify_asan_link_order=0;
 * the shim then sits in front of ASan's interceptors and reaches them through
 * dlsym(RTLD_NEXT). In such a build the shim is itself instrumented (b_sanitize applies to
 * every target), which ASan accepts; an uninstrumented shim in front of an ASan daemon works
 * too (both checked with tests/fault/fault_durability.c).
 *
 * Thread safety: the rules are parsed once, in the constructor, before the daemon starts a
 * thread, and are read-only afterwards; counters are atomics; the resolved libc function
 * pointers are published with release/acquire (a racing second dlsym() gives the same value).
 */

/* This file defines pwrite and friends under their own names: no 64-bit redirection. */
#undef _FILE_OFFSET_BITS
#ifdef _FORTIFY_SOURCE
#undef _FORTIFY_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/uio.h>

#define MAX_RULES	32
#define MAX_SUBS	4
#define SUB_LEN		128
#define RULE_TEXT	192
#define PATH_BUF	(2 * PATH_MAX)

enum kind {
	K_PWRITE, K_PWRITEV, K_WRITE, K_FDATASYNC, K_FSYNC, K_FTRUNCATE, K_FALLOCATE, K_RENAME,
	K_UNLINK, K_MKDIR, K_OPEN, K_LINK, K_SYMLINK, K_MKNOD, K_SYNCFS, K_FUTIMENS, K_SYNCRANGE,
	K_COUNT
};

static const char *const kind_name[K_COUNT] = {
	"pwrite", "pwritev", "write", "fdatasync", "fsync", "ftruncate", "fallocate", "rename",
	"unlink", "mkdir", "open", "link", "symlink", "mknod", "syncfs", "futimens",
	"sync_file_range",
};

/* Other names accepted in rules: the libc symbols of each kind. */
static const struct { const char *name; enum kind k; } kind_alias[] = {
	{ "pwrite64", K_PWRITE }, { "pwritev64", K_PWRITEV }, { "pwritev2", K_PWRITEV },
	{ "pwritev64v2", K_PWRITEV }, { "writev", K_WRITE }, { "ftruncate64", K_FTRUNCATE },
	{ "fallocate64", K_FALLOCATE }, { "renameat", K_RENAME }, { "renameat2", K_RENAME },
	{ "unlinkat", K_UNLINK }, { "mkdirat", K_MKDIR }, { "open64", K_OPEN },
	{ "openat", K_OPEN }, { "openat64", K_OPEN }, { "linkat", K_LINK },
	{ "symlinkat", K_SYMLINK }, { "mknodat", K_MKNOD },
};

enum { TYPE_ANY, TYPE_DIR, TYPE_REG };

#define BIT(k)	(1u << (k))

struct rule {
	/* immutable after the constructor */
	unsigned kinds;			/* BIT(kind) of each kind of call it counts */
	int type;			/* TYPE_* filter */
	bool creat;			/* only opens with O_CREAT */
	int nsubs;
	char subs[MAX_SUBS][SUB_LEN];	/* path substrings that must all occur */
	unsigned long first, last;	/* matching calls first..last (1-based) fault */
	int err;			/* errno to fail with, or 0 for a half transfer or delay */
	unsigned delay_ms;		/* a delay rule: sleep this long, then make the call */
	char text[RULE_TEXT];		/* as written, for the log */

	_Atomic unsigned long calls;	/* relaxed: only a unique ticket per call is needed */
};

static struct rule rules[MAX_RULES];	/* written by the constructor only */
static int nrules;
static bool kind_used[K_COUNT];		/* any rule of this kind: else no work per call */
static int log_fd = -1;			/* O_APPEND; set by the constructor */

/* ---- the real functions ---- */

/* Resolves @name once; dlsym(RTLD_NEXT) skips this library (and finds ASan's interceptor
 * when there is one). */
static void *real_sym(_Atomic(void *) *slot, const char *name)
{
	void *f = atomic_load_explicit(slot, memory_order_acquire);

	if (!f) {
		f = dlsym(RTLD_NEXT, name);
		if (!f) {
			fprintf(stderr, "frozenfs fault shim: dlsym(%s): %s\n", name, dlerror());
			abort();
		}
		/* A racing thread stores the same pointer: harmless. */
		atomic_store_explicit(slot, f, memory_order_release);
	}
	return f;
}

/* Declares the slot and a typed accessor REAL_name() for one libc function. A function
 * pointer is copied out of the void * with memcpy: ISO C has no cast between the two. */
#define DEFINE_REAL(name)							\
	static _Atomic(void *) real_slot_##name;				\
	static __typeof__(&name) real_##name(void)				\
	{									\
		__typeof__(&name) fp;						\
		void *p = real_sym(&real_slot_##name, #name);			\
		memcpy(&fp, &p, sizeof(fp));					\
		return fp;							\
	}

DEFINE_REAL(pwrite)
DEFINE_REAL(pwrite64)
DEFINE_REAL(pwritev)
DEFINE_REAL(pwritev64)
DEFINE_REAL(pwritev2)
DEFINE_REAL(pwritev64v2)
DEFINE_REAL(write)
DEFINE_REAL(writev)
DEFINE_REAL(fdatasync)
DEFINE_REAL(fsync)
DEFINE_REAL(ftruncate)
DEFINE_REAL(ftruncate64)
DEFINE_REAL(fallocate)
DEFINE_REAL(fallocate64)
DEFINE_REAL(rename)
DEFINE_REAL(renameat)
DEFINE_REAL(renameat2)
DEFINE_REAL(unlinkat)
DEFINE_REAL(mkdirat)
DEFINE_REAL(open)
DEFINE_REAL(open64)
DEFINE_REAL(openat)
DEFINE_REAL(openat64)
DEFINE_REAL(linkat)
DEFINE_REAL(symlinkat)
DEFINE_REAL(mknodat)
DEFINE_REAL(syncfs)
DEFINE_REAL(sync_file_range)
DEFINE_REAL(futimens)

/* ---- parsing ---- */

static const struct { const char *name; int err; } err_names[] = {
	{ "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT }, { "EROFS", EROFS },
	{ "EINTR", EINTR },
};

static const char *err_name(int e)
{
	static _Thread_local char buf[16];

	for (size_t i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
		if (err_names[i].err == e)
			return err_names[i].name;
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

__attribute__((noreturn))
static void bad_rule(const char *rule, const char *why)
{
	fprintf(stderr, "frozenfs fault shim: FROZENFS_FAULTS: bad rule '%s': %s\n", rule, why);
	_exit(2);
}

/* The kinds a rule's KIND names, as a BIT() mask; 0 if unknown. */
static unsigned kinds_of(const char *s, size_t n)
{
	if (n == 4 && strncmp(s, "sync", 4) == 0)
		return BIT(K_FDATASYNC) | BIT(K_FSYNC);
	for (int k = 0; k < K_COUNT; k++)
		if (strlen(kind_name[k]) == n && strncmp(kind_name[k], s, n) == 0)
			return BIT(k);
	for (size_t i = 0; i < sizeof(kind_alias) / sizeof(kind_alias[0]); i++)
		if (strlen(kind_alias[i].name) == n && strncmp(kind_alias[i].name, s, n) == 0)
			return BIT(kind_alias[i].k);
	return 0;
}

static unsigned long parse_count(const char *s, const char *end, const char *rule)
{
	unsigned long v = 0;

	if (s == end)
		bad_rule(rule, "missing call number");
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || v > ULONG_MAX / 10 - 1)
			bad_rule(rule, "the call number must be N, N+ or *");
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0)
		bad_rule(rule, "call numbers start at 1");
	return v;
}

/* Parses one rule "KIND[@FILTER...]:WHICH:FAULT" of length @n at @s into @r. */
static void parse_rule(const char *s, size_t n, struct rule *r)
{
	const char *end = s + n, *c1, *c2, *p, *q;
	char text[RULE_TEXT];

	if (n >= sizeof(text))
		bad_rule("(too long)", "a rule has at most 191 characters");
	memcpy(text, s, n);
	text[n] = '\0';
	memcpy(r->text, text, n + 1);
	c1 = memchr(s, ':', n);
	c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
	if (!c1 || !c2 || memchr(c2 + 1, ':', (size_t)(end - c2 - 1)))
		bad_rule(text, "expected KIND[@FILTER]:WHICH:FAULT");

	/* KIND and filters */
	p = memchr(s, '@', (size_t)(c1 - s));
	r->kinds = kinds_of(s, (size_t)((p ? p : c1) - s));
	if (!r->kinds)
		bad_rule(text, "unknown call kind");
	while (p) {
		p++;
		q = memchr(p, '@', (size_t)(c1 - p));
		if (!q)
			q = c1;
		if (q == p)
			bad_rule(text, "empty filter");
		if (q - p == 3 && strncmp(p, "dir", 3) == 0) {
			r->type = TYPE_DIR;
		} else if (q - p == 3 && strncmp(p, "reg", 3) == 0) {
			r->type = TYPE_REG;
		} else if (q - p == 5 && strncmp(p, "creat", 5) == 0) {
			if (r->kinds != BIT(K_OPEN))
				bad_rule(text, "@creat applies to open calls only");
			r->creat = true;
		} else {
			if (r->nsubs == MAX_SUBS || q - p >= SUB_LEN)
				bad_rule(text, "at most 4 path filters of up to 127 characters");
			memcpy(r->subs[r->nsubs], p, (size_t)(q - p));
			r->subs[r->nsubs++][q - p] = '\0';
		}
		p = q < c1 ? q : NULL;
	}

	/* WHICH */
	if (c2 - c1 == 2 && c1[1] == '*') {
		r->first = 1;
		r->last = ULONG_MAX;
	} else if (c2[-1] == '+') {
		r->first = parse_count(c1 + 1, c2 - 1, text);
		r->last = ULONG_MAX;
	} else {
		r->first = r->last = parse_count(c1 + 1, c2, text);
	}

	/* FAULT */
	p = c2 + 1;
	n = (size_t)(end - p);
	r->err = -1;
	if (n == 4 && strncmp(p, "half", 4) == 0) {
		if (r->kinds & ~(BIT(K_PWRITE) | BIT(K_PWRITEV) | BIT(K_WRITE)))
			bad_rule(text, "half applies to pwrite, pwritev and write only");
		r->err = 0;
	}
	if (n > 5 && n < 11 && strncmp(p, "delay", 5) == 0 && strspn(p + 5, "0123456789") == n - 5) {
		if (r->kinds & (BIT(K_PWRITE) | BIT(K_PWRITEV) | BIT(K_WRITE)))
			bad_rule(text, "delay applies to every kind but pwrite, pwritev and write");
		r->delay_ms = (unsigned)atoi(p + 5);
		r->err = 0;
	}
	for (size_t i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
		if (strlen(err_names[i].name) == n && strncmp(err_names[i].name, p, n) == 0)
			r->err = err_names[i].err;
	if (r->err < 0 && n > 0 && n < 4 && strspn(p, "0123456789") >= n) {
		r->err = atoi(p);
		if (r->err <= 0)
			r->err = -1;
	}
	if (r->err < 0)
		bad_rule(text, "the fault must be EIO, ENOSPC, EDQUOT, EROFS, EINTR, half, delayMS "
			 "or an errno number");
	atomic_init(&r->calls, 0);
}

__attribute__((constructor))
static void shim_init(void)
{
	const char *spec = getenv("FROZENFS_FAULTS");
	const char *logp = getenv("FROZENFS_FAULTS_LOG");

	while (spec && *spec) {
		const char *comma = strchr(spec, ',');
		size_t n = comma ? (size_t)(comma - spec) : strlen(spec);

		if (n) {
			if (nrules == MAX_RULES)
				bad_rule(spec, "too many rules (at most 32)");
			parse_rule(spec, n, &rules[nrules]);
			for (int k = 0; k < K_COUNT; k++)
				if (rules[nrules].kinds & BIT(k))
					kind_used[k] = true;
			nrules++;
		}
		spec = comma ? comma + 1 : NULL;
	}
	if (logp && *logp) {
		char line[64];
		int len;

		log_fd = real_open()(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, "frozenfs fault shim: FROZENFS_FAULTS_LOG %s: %s\n", logp,
				strerror(errno));
			_exit(2);
		}
		len = snprintf(line, sizeof(line), "loaded pid=%d rules=%d\n", (int)getpid(),
			       nrules);
		if (real_write()(log_fd, line, (size_t)len) < 0)
			_exit(2);
	}
}

/* ---- matching ---- */

/* What a call is about, for the filters and the log. */
struct call {
	enum kind kind;
	const char *sym;
	int fd;				/* fd calls: the fd; else -1 */
	int dirfd[2];			/* path calls: up to two (dirfd, name) pairs */
	const char *name[2];
	int type_hint;			/* mkdirat: TYPE_DIR; else TYPE_ANY (look it up) */
	int oflags;			/* open calls: the flags */
	bool have_path;
	char path[PATH_BUF];		/* filled lazily: "A" or "A -> B" for two names */
};

static void fd_link(int fd, char *buf, size_t len)
{
	char proc[32];
	ssize_t n;

	if (fd == AT_FDCWD) {
		if (!getcwd(buf, len))
			snprintf(buf, len, "?");
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, len - 1);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
}

/* @a @sep @b into @dst (of @len bytes), cut short if need be: paths are for matching and
 * messages only. */
static void join(char *dst, size_t len, const char *a, const char *sep, const char *b)
{
	size_t n = 0;
	const char *parts[3] = { a, sep, b };

	for (int i = 0; i < 3; i++) {
		size_t k = strlen(parts[i]);

		if (k > len - 1 - n)
			k = len - 1 - n;
		memmove(dst + n, parts[i], k);
		n += k;
	}
	dst[n] = '\0';
}

/* dirfd's link + "/" + name; a name reached through /proc/self/fd is resolved further. */
static void at_path(int dirfd, const char *name, char *buf, size_t len)
{
	char tmp[PATH_MAX];
	ssize_t n;

	if (!name || !*name) {
		fd_link(dirfd, buf, len);
		return;
	}
	if (name[0] == '/') {
		join(buf, len, name, "", "");
	} else {
		fd_link(dirfd, tmp, sizeof(tmp));
		join(buf, len, tmp, "/", name);
	}
	if (strncmp(buf, "/proc/", 6) == 0 && strstr(buf, "/fd/")) {
		n = readlink(buf, tmp, sizeof(tmp) - 1);
		if (n > 0 && tmp[0] == '/') {
			tmp[n] = '\0';
			join(buf, len, tmp, "", "");
		}
	}
}

static const char *call_path(struct call *c)
{
	if (c->have_path)
		return c->path;
	if (c->fd >= 0) {
		fd_link(c->fd, c->path, sizeof(c->path));
	} else {
		char a[PATH_MAX], b[PATH_MAX];

		at_path(c->dirfd[0], c->name[0], a, sizeof(a));
		if (c->name[1]) {
			at_path(c->dirfd[1], c->name[1], b, sizeof(b));
			join(c->path, sizeof(c->path), a, " -> ", b);
		} else {
			join(c->path, sizeof(c->path), a, "", "");
		}
	}
	c->have_path = true;
	return c->path;
}

static int call_type(const struct call *c)
{
	struct stat st;

	if (c->type_hint != TYPE_ANY)
		return c->type_hint;
	if (c->fd >= 0) {
		if (fstat(c->fd, &st) < 0)
			return TYPE_ANY;
	} else if (fstatat(c->dirfd[0], c->name[0] ? c->name[0] : "", &st,
			   AT_SYMLINK_NOFOLLOW | (c->name[0] && *c->name[0] ? 0 : AT_EMPTY_PATH))
		   < 0) {
		return TYPE_ANY;
	}
	return S_ISDIR(st.st_mode) ? TYPE_DIR : S_ISREG(st.st_mode) ? TYPE_REG : TYPE_ANY;
}

static bool rule_matches(const struct rule *r, struct call *c, int *type)
{
	if (r->creat && !(c->oflags & O_CREAT))
		return false;
	if (r->type != TYPE_ANY) {
		if (*type < 0)
			*type = call_type(c);
		if (*type != r->type)
			return false;
	}
	for (int i = 0; i < r->nsubs; i++)
		if (!strstr(call_path(c), r->subs[i]))
			return false;
	return true;
}

static void log_fault(struct call *c, const struct rule *r, unsigned long n, const char *result)
{
	char line[PATH_BUF + 512];
	int len;

	if (log_fd < 0)
		return;
	len = snprintf(line, sizeof(line), "fault pid=%d kind=%s sym=%s call=%lu rule=%s "
		       "result=%s path=%s\n", (int)getpid(), kind_name[c->kind], c->sym, n,
		       r->text, result, call_path(c));
	if (len < 0)
		return;
	if ((size_t)len >= sizeof(line))
		len = (int)sizeof(line) - 1;
	/* Not write(): this library's own write() would count (and might fault) the log. */
	if (real_write()(log_fd, line, (size_t)len) < 0)
		return;		/* nothing better to do inside someone else's syscall */
}

/*
 * Counts the call against every rule of its kind that matches it. Returns the rule that
 * fires (and its call number in *nth), or NULL.
 */
static const struct rule *decide(struct call *c, unsigned long *nth)
{
	const struct rule *fire = NULL;
	int type = -1;

	if (!kind_used[c->kind])
		return NULL;
	for (int i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];
		unsigned long n;

		if (!(r->kinds & BIT(c->kind)) || !rule_matches(r, c, &type))
			continue;
		n = atomic_fetch_add_explicit(&r->calls, 1, memory_order_relaxed) + 1;
		if (!fire && n >= r->first && n <= r->last) {
			fire = r;
			*nth = n;
		}
	}
	return fire;
}

/* Fails the call with the rule's errno (logged); returns -1 for the caller to return. */
static int fail_call(struct call *c, const struct rule *r, unsigned long n)
{
	log_fault(c, r, n, err_name(r->err));
	errno = r->err;
	return -1;
}

#define FD_CALL(k, s, f) struct call c = { .kind = (k), .sym = (s), .fd = (f),		\
					   .dirfd = { -1, -1 } }
#define AT_CALL(k, s, d0, n0, d1, n1) struct call c = { .kind = (k), .sym = (s), .fd = -1, \
					   .dirfd = { (d0), (d1) }, .name = { (n0), (n1) } }

/* Sleeps as a delay rule says (logged), before the caller makes the call. */
static void delay_call(struct call *c, const struct rule *r, unsigned long n)
{
	struct timespec ts = { r->delay_ms / 1000, (long)(r->delay_ms % 1000) * 1000000L };
	char res[32];

	snprintf(res, sizeof(res), "delay(%ums)", r->delay_ms);
	log_fault(c, r, n, res);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Returns -1 from the wrapper if a rule fails this call (errno faults; half transfers are
 * the transfer wrappers' business), or sleeps first for a delay rule. Calls of a kind no
 * rule names cost one load. */
#define MAYBE_FAIL(c)								\
	do {									\
		unsigned long n_;						\
		const struct rule *r_ = decide(&(c), &n_);			\
		if (r_ && r_->delay_ms)						\
			delay_call(&(c), r_, n_);				\
		else if (r_ && r_->err)						\
			return fail_call(&(c), r_, n_);			\
	} while (0)
#define FAULT_FD(k, s, f)							\
	do {									\
		if (kind_used[k]) {						\
			FD_CALL(k, s, f);					\
			MAYBE_FAIL(c);						\
		}								\
	} while (0)
#define FAULT_AT(k, s, d0, n0, d1, n1, hint)	FAULT_OPEN(k, s, d0, n0, d1, n1, hint, 0)
#define FAULT_OPEN(k, s, d0, n0, d1, n1, hint, flags)				\
	do {									\
		if (kind_used[k]) {						\
			AT_CALL(k, s, d0, n0, d1, n1);				\
			c.type_hint = (hint);					\
			c.oflags = (flags);					\
			MAYBE_FAIL(c);						\
		}								\
	} while (0)

/* ---- transfers: errno faults and half transfers ---- */

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;

	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/*
 * For a half rule: copies @iov cut down to half its bytes into @tmp, returns the new count
 * (0: too small to shorten, use @iov as is). @cnt <= IOV_MAX.
 */
static int iov_half(const struct iovec *iov, int cnt, struct iovec *tmp, size_t *want,
		    size_t *total)
{
	size_t left;
	int n = 0;

	*total = iov_total(iov, cnt);
	if (*total < 2 || cnt > IOV_MAX || cnt <= 0)
		return 0;
	left = *want = *total / 2;
	while (left) {
		tmp[n] = iov[n];
		if (tmp[n].iov_len > left)
			tmp[n].iov_len = left;
		left -= tmp[n].iov_len;
		n++;
	}
	return n;
}

static void log_half(struct call *c, const struct rule *r, unsigned long n, ssize_t done,
		     size_t total)
{
	char res[64];

	snprintf(res, sizeof(res), "half(%zd/%zu)", done, total);
	log_fault(c, r, n, res);
}

typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off64_t, int);

/* One body for the pwritev family and writev; @off and @flags go where they exist. */
static ssize_t do_pwritev(enum kind kind, const char *sym, int fd, const struct iovec *iov,
			  int cnt, off64_t off, int flags, pwritev_fn real)
{
	if (!kind_used[kind])
		return real(fd, iov, cnt, off, flags);

	FD_CALL(kind, sym, fd);
	struct iovec tmp[IOV_MAX];
	const struct rule *r;
	unsigned long n;
	size_t want, total;
	ssize_t done;
	int k;

	r = decide(&c, &n);
	if (!r)
		return real(fd, iov, cnt, off, flags);
	if (r->err)
		return fail_call(&c, r, n);
	k = iov_half(iov, cnt, tmp, &want, &total);
	if (!k)
		return real(fd, iov, cnt, off, flags);
	done = real(fd, tmp, k, off, flags);
	log_half(&c, r, n, done, total);
	return done;
}

static ssize_t call_pwritev(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	(void)flags;
	return real_pwritev()(fd, iov, cnt, (off_t)off);
}

static ssize_t call_pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	(void)flags;
	return real_pwritev64()(fd, iov, cnt, off);
}

static ssize_t call_pwritev2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return real_pwritev2()(fd, iov, cnt, (off_t)off, flags);
}

static ssize_t call_pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off,
				int flags)
{
	return real_pwritev64v2()(fd, iov, cnt, off, flags);
}

static ssize_t call_writev(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	(void)off;
	(void)flags;
	return real_writev()(fd, iov, cnt);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	return do_pwritev(K_WRITE, "writev", fd, iov, cnt, 0, 0, call_writev);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return do_pwritev(K_PWRITEV, "pwritev", fd, iov, cnt, off, 0, call_pwritev);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return do_pwritev(K_PWRITEV, "pwritev64", fd, iov, cnt, off, 0, call_pwritev64);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return do_pwritev(K_PWRITEV, "pwritev2", fd, iov, cnt, off, flags, call_pwritev2);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return do_pwritev(K_PWRITEV, "pwritev64v2", fd, iov, cnt, off, flags, call_pwritev64v2);
}

static ssize_t raw_pwrite(enum kind kind, int fd, const void *buf, size_t len, off64_t off,
			  bool is64)
{
	if (kind == K_WRITE)
		return real_write()(fd, buf, len);
	if (is64)
		return real_pwrite64()(fd, buf, len, off);
	return real_pwrite()(fd, buf, len, (off_t)off);
}

/* pwrite, pwrite64 and write (@kind K_WRITE: no offset). */
static ssize_t do_pwrite(enum kind kind, const char *sym, int fd, const void *buf, size_t len,
			 off64_t off, bool is64)
{
	if (!kind_used[kind])
		return raw_pwrite(kind, fd, buf, len, off, is64);

	FD_CALL(kind, sym, fd);
	const struct rule *r;
	unsigned long n;
	ssize_t done;

	r = decide(&c, &n);
	if (r && r->err)
		return fail_call(&c, r, n);
	if (!r || len < 2)
		return raw_pwrite(kind, fd, buf, len, off, is64);
	done = raw_pwrite(kind, fd, buf, len / 2, off, is64);
	log_half(&c, r, n, done, len);
	return done;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return do_pwrite(K_PWRITE, "pwrite", fd, buf, len, off, false);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
	return do_pwrite(K_PWRITE, "pwrite64", fd, buf, len, off, true);
}

ssize_t write(int fd, const void *buf, size_t len)
{
	return do_pwrite(K_WRITE, "write", fd, buf, len, 0, false);
}

/* ---- fd calls ---- */

int fdatasync(int fd)
{
	FAULT_FD(K_FDATASYNC, "fdatasync", fd);
	return real_fdatasync()(fd);
}

int fsync(int fd)
{
	FAULT_FD(K_FSYNC, "fsync", fd);
	return real_fsync()(fd);
}

int ftruncate(int fd, off_t len)
{
	FAULT_FD(K_FTRUNCATE, "ftruncate", fd);
	return real_ftruncate()(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
	FAULT_FD(K_FTRUNCATE, "ftruncate64", fd);
	return real_ftruncate64()(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	FAULT_FD(K_FALLOCATE, "fallocate", fd);
	return real_fallocate()(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	FAULT_FD(K_FALLOCATE, "fallocate64", fd);
	return real_fallocate64()(fd, mode, off, len);
}

int syncfs(int fd)
{
	FAULT_FD(K_SYNCFS, "syncfs", fd);
	return real_syncfs()(fd);
}

int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	FAULT_FD(K_SYNCRANGE, "sync_file_range", fd);
	return real_sync_file_range()(fd, off, n, flags);
}

int futimens(int fd, const struct timespec ts[2])
{
	FAULT_FD(K_FUTIMENS, "futimens", fd);
	return real_futimens()(fd, ts);
}

/* ---- path calls ---- */

int rename(const char *from, const char *to)
{
	FAULT_AT(K_RENAME, "rename", AT_FDCWD, from, AT_FDCWD, to, TYPE_ANY);
	return real_rename()(from, to);
}

int renameat(int fromfd, const char *from, int tofd, const char *to)
{
	FAULT_AT(K_RENAME, "renameat", fromfd, from, tofd, to, TYPE_ANY);
	return real_renameat()(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned int flags)
{
	FAULT_AT(K_RENAME, "renameat2", fromfd, from, tofd, to, TYPE_ANY);
	return real_renameat2()(fromfd, from, tofd, to, flags);
}

int unlinkat(int dirfd, const char *name, int flags)
{
	FAULT_AT(K_UNLINK, "unlinkat", dirfd, name, -1, NULL, TYPE_ANY);
	return real_unlinkat()(dirfd, name, flags);
}

int mkdirat(int dirfd, const char *name, mode_t mode)
{
	FAULT_AT(K_MKDIR, "mkdirat", dirfd, name, -1, NULL, TYPE_DIR);
	return real_mkdirat()(dirfd, name, mode);
}

int linkat(int fromfd, const char *from, int tofd, const char *to, int flags)
{
	FAULT_AT(K_LINK, "linkat", fromfd, from, tofd, to, TYPE_ANY);
	return real_linkat()(fromfd, from, tofd, to, flags);
}

int symlinkat(const char *target, int dirfd, const char *name)
{
	FAULT_AT(K_SYMLINK, "symlinkat", dirfd, name, -1, NULL, TYPE_ANY);
	return real_symlinkat()(target, dirfd, name);
}

int mknodat(int dirfd, const char *name, mode_t mode, dev_t dev)
{
	FAULT_AT(K_MKNOD, "mknodat", dirfd, name, -1, NULL, TYPE_ANY);
	return real_mknodat()(dirfd, name, mode, dev);
}

/* The mode argument exists only with O_CREAT or O_TMPFILE (glibc's __OPEN_NEEDS_MODE). */
#define NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)

#define OPEN_MODE(flags, mode)							\
	do {									\
		if (NEEDS_MODE(flags)) {					\
			va_list ap_;						\
			va_start(ap_, flags);					\
			mode = va_arg(ap_, mode_t);				\
			va_end(ap_);						\
		}								\
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	FAULT_OPEN(K_OPEN, "open", AT_FDCWD, path, -1, NULL, TYPE_ANY, flags);
	return real_open()(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	FAULT_OPEN(K_OPEN, "open64", AT_FDCWD, path, -1, NULL, TYPE_ANY, flags);
	return real_open64()(path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	FAULT_OPEN(K_OPEN, "openat", dirfd, path, -1, NULL, TYPE_ANY, flags);
	return real_openat()(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;

	OPEN_MODE(flags, mode);
	FAULT_OPEN(K_OPEN, "openat64", dirfd, path, -1, NULL, TYPE_ANY, flags);
	return real_openat64()(dirfd, path, flags, mode);
}
