/*
 * dur_crash: crash-and-check cycles against a model of what fsync acknowledged
 * (DURABILITY.md 4.1 T2 and T3, checker rules 1-7 of 4.2, requirements 21, 22, 26, 27, 29, 42).
 *
 *	dur_crash FROZENFS_BINARY --mode=t2|t3
 *
 * DESIGN
 *
 * Names. A fixed universe: files a, b, c, d in the root and a, b in directories d0 and d1,
 * plus an always-empty directory e (so mkdir and rmdir keep happening in an old store). Each
 * name has its current binding (absent, a directory, or a model file) and the set of bindings
 * it may show after a crash: the binding at its last acknowledgement plus every binding since.
 * Acknowledgements of a name: fsyncdir of its directory returned 0 (the directory's own name
 * too: fsyncdir syncs it like a file's, requirement 27), or fsync/fdatasync of the file it
 * names returned 0 (requirement 27: created, linked or renamed names are synced with it).
 *
 * Files. A model file is one inode (links share it). It keeps the versions of its content
 * since its last acknowledgement (fsync or fdatasync through any descriptor, or an O_SYNC or
 * O_DSYNC write, returned 0; close(2) is not one, see section 3 item 10): the
 * acknowledged version first, then one per accepted change. After a crash the file may show
 * any size between the smallest and the largest of those versions (rule 5), and each byte
 * must be what some version has there, or zero where some version is shorter (rules 2, 4, 7;
 * DURABILITY.md 2.4: old or new per block, extension tails zero, never garbage). With no change
 * since the acknowledgement that is exactly the acknowledged content. Every written byte is
 * part of a 16-byte record (file tag, sequence number, offset) so data from another file,
 * offset or write, and stale bytes from before a truncate, never match by accident.
 *
 * A name found after the crash maps, through st_ino, to one of the model files it may be
 * bound to (rule 6: the old or the new inode of a rename, never a third); that file's content
 * is checked. A name under a directory that is (allowed to be) missing is not checked.
 *
 * The operation that was in flight when the daemon died may or may not have happened: its
 * effect is added to the model like an accepted, unacknowledged one. Nothing else failing is
 * expected: any other errno fails the test at once.
 *
 * Cycle. Mount with FROZENFS_CRASH_AT=<kind>:<n>[:before|after] (kinds and n cycle
 * deterministically, before and after alternate) or, for one kind in 14, without it and a
 * thread sends SIGKILL at a random time. The seeded workload (write, append, overwrite,
 * truncate up and down by ftruncate, truncate(2) and O_TRUNC, fallocate mode 0 and KEEP_SIZE,
 * create, symlink, mknod of a FIFO, rename, also over an existing target and across
 * directories, unlink, mkdir, rmdir, link, fsync and fdatasync, also through a new O_RDONLY
 * descriptor, fsync of directories, O_DSYNC and O_SYNC writes; offsets and sizes biased to
 * 4 KiB boundaries, chunk size 4 KiB or 16 KiB) runs until a call fails with ENOTCONN or
 * ECONNABORTED, or for at most MAX_OPS operations, after which the daemon is SIGKILLed anyway.
 * Then: reap it and lazily unmount (ft_kill); in t3 mode also cut the power of the backing ext4
 * (EXT4_IOC_SHUTDOWN with NOLOGFLUSH, umount, mount: journal replay); mount the same store,
 * snapshot the tree and check it against the model; unmount (the daemon must exit 0). The next
 * mount, which is the next cycle's crash mount (or a mount of its own after a store's last
 * cycle), must show the same tree, byte for byte and inode for inode (rule 1); the backing
 * store is then syncfs'd so that tree is the durable baseline of the next model. Every SERIES
 * cycles the store is new. Mount options rotate: flush interval 10 ms, 50 ms or 1 s, and
 * direct_io.
 *
 * Both modes keep their stores on one ext4 image, made once, on a private tmpfs. In t2 the
 * backing page cache survives the crash, so t2 tests recovery and that nothing is
 * acknowledged before frozenfs handed it to the backing FS; t3 tests durability. Limits:
 * ext4 commits its whole journal on any fsync, so a missing directory fsync in frozenfs
 * rarely loses a name here (T1 is the tool for that); FROZENFS_CRASH_AT accepts openat, but
 * fs/ creates files with a plain openat(2), so the workload makes none through fs->io.
 *
 * Environment: FROZENFS_CRASH_CYCLES (t2, default 200), FROZENFS_POWERLOSS_CYCLES (t3,
 * default 50), FROZENFS_CRASH_SEED (default 1), FROZENFS_CRASH_FROM (first cycle to run,
 * rounded down to the start of its store's series; with the same seed the workload and crash
 * points are the same, timing aside). A violation prints the cycle, seed, crash point, mount
 * options, what was wrong and the cycle's operations; the run goes on and fails at the end.
 * Totals are printed last: cycles, crashes at the chosen point, acknowledgements checked,
 * bytes verified, violations.
 */
#include "fstest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERIES		8	/* cycles per store */
#define MAX_OPS		250	/* workload operations per cycle at most */
#define FMAX		40000	/* largest file size the workload makes */
#define REC		16	/* bytes per tagged record */
#define MAX_FILES	512	/* model files per cycle */
#define LOG_LINES	(2 * MAX_OPS + 16)	/* an operation and its outcome */
#define MAX_VIOLATIONS	20	/* printed in full; the rest are counted */

/* ---- names ------------------------------------------------------------------------------ */

enum {
	N_A, N_B, N_C, N_D, N_D0A, N_D0B, N_D1A, N_D1B,	/* files */
	N_D0, N_D1, N_E,				/* directories */
	NNAMES
};
#define NFILENAMES	N_D0

static const struct {
	const char *path;
	const char *base;
	int parent;	/* index of the directory name, -1 for the root */
} names[NNAMES] = {
	{ "a", "a", -1 }, { "b", "b", -1 }, { "c", "c", -1 }, { "d", "d", -1 },
	{ "d0/a", "a", N_D0 }, { "d0/b", "b", N_D0 }, { "d1/a", "a", N_D1 },
	{ "d1/b", "b", N_D1 }, { "d0", "d0", -1 }, { "d1", "d1", -1 }, { "e", "e", -1 },
};

#define B_NONE	0	/* binding: absent */
#define B_DIR	(-1)	/* binding: a directory; > 0: model file index */
#define B_SYM	(-2)	/* binding: a symbolic link to SYM_TARGET */
#define B_FIFO	(-3)	/* binding: a FIFO (mknod) */
#define SYM_TARGET	"frozenfs-crash-target"

struct name_state {
	int cur;
	int allowed[MAX_OPS + 2];	/* each operation adds at most one binding */
	int nallowed;
};

/* ---- model files ------------------------------------------------------------------------ */

struct version {
	size_t size;
	uint8_t *data;
};

struct mfile {
	uint32_t tag;		/* unique over the run, in every record */
	ino_t ino;		/* 0: unknown (created by a call that did not return) */
	int fd;			/* O_RDWR on the crash mount, or -1 */
	struct version v[MAX_OPS + 2];	/* v[0] acknowledged or baseline, v[nv-1] now */
	int nv;
};

static struct name_state nm[NNAMES];
static struct mfile *files[MAX_FILES];	/* index 0 unused */
static int nfiles;
static uint32_t next_tag = 1;
static uint32_t next_seq = 1;

/* ---- run state -------------------------------------------------------------------------- */

static struct ft_mount m;
static struct ft_disk disk;
static int t3;
static char ram[PATH_MAX], store[PATH_MAX], mp[PATH_MAX];
static uint64_t base_seed = 1;
static int cur_cycle = -1;
static char cur_desc[512];	/* crash point and options of the running cycle */
static char oplog[LOG_LINES][160];
static int noplog;

static struct {
	long cycles, crashed_at_point, random_kills, end_kills;
	long acks_checked, bytes, names_checked, violations, eio_on_death;
	long loop_waits;
} tot;
static long cycle_acks;
static char eio_call[64];	/* for the cycle's summary line */

static void logop(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logop(const char *fmt, ...)
{
	va_list ap;

	if (noplog >= LOG_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(oplog[noplog++], sizeof(oplog[0]), fmt, ap);
	va_end(ap);
}

static void print_oplog(FILE *out)
{
	int i;

	fprintf(out, "# operations of cycle %d (%s):\n", cur_cycle, cur_desc);
	for (i = 0; i < noplog; i++)
		fprintf(out, "#   %3d %s\n", i, oplog[i]);
}

static void on_fail(void)
{
	if (cur_cycle < 0)
		return;
	fprintf(stderr, "# failed in cycle %d, seed %" PRIu64 ": %s\n", cur_cycle, base_seed,
		cur_desc);
	print_oplog(stderr);
}

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
	va_list ap;

	tot.violations++;
	if (tot.violations > MAX_VIOLATIONS)
		return;
	printf("not ok - VIOLATION in cycle %d (seed %" PRIu64 ", %s): ", cur_cycle, base_seed,
	       cur_desc);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	print_oplog(stdout);
	fflush(stdout);
}

/* ---- model operations ------------------------------------------------------------------- */

static void allow(int n, int b)
{
	struct name_state *s = &nm[n];
	int k;

	for (k = 0; k < s->nallowed; k++)
		if (s->allowed[k] == b)
			return;
	if (s->nallowed == (int)(sizeof(s->allowed) / sizeof(s->allowed[0])))
		ft_fail("model: too many bindings for %s since its last acknowledgement",
			names[n].path);
	s->allowed[s->nallowed++] = b;
}

static int allowed(int n, int b)
{
	int k;

	for (k = 0; k < nm[n].nallowed; k++)
		if (nm[n].allowed[k] == b)
			return 1;
	return 0;
}

static void bind(int n, int b)
{
	nm[n].cur = b;
	allow(n, b);
}

static void ack_name(int n)
{
	nm[n].allowed[0] = nm[n].cur;
	nm[n].nallowed = 1;
}

static struct version *vcur(struct mfile *f)
{
	return &f->v[f->nv - 1];
}

/* Appends a copy of the current version with @size (new bytes zero); returns it. */
static struct version *vpush(struct mfile *f, size_t size)
{
	struct version *o = vcur(f), *v;

	if (f->nv == (int)(sizeof(f->v) / sizeof(f->v[0])))
		ft_fail("model: too many versions");
	v = &f->v[f->nv++];
	v->size = size;
	v->data = calloc(1, size ? size : 1);
	if (!v->data)
		ft_fail("out of memory");
	memcpy(v->data, o->data, o->size < size ? o->size : size);
	return v;
}

static void ack_file(struct mfile *f)
{
	int k;

	for (k = 0; k < f->nv - 1; k++)
		free(f->v[k].data);
	f->v[0] = f->v[f->nv - 1];
	f->nv = 1;
}

static int file_new(ino_t ino, const uint8_t *data, size_t len)
{
	struct mfile *f;

	if (nfiles + 1 >= MAX_FILES)
		ft_fail("model: too many files");
	f = calloc(1, sizeof(*f));
	if (!f)
		ft_fail("out of memory");
	f->tag = next_tag++;
	f->ino = ino;
	f->fd = -1;
	f->v[0].size = len;
	f->v[0].data = malloc(len ? len : 1);
	if (!f->v[0].data)
		ft_fail("out of memory");
	if (len)
		memcpy(f->v[0].data, data, len);
	f->nv = 1;
	files[++nfiles] = f;
	return nfiles;
}

static void model_reset(void)
{
	int i, k;

	for (i = 1; i <= nfiles; i++) {
		for (k = 0; k < files[i]->nv; k++)
			free(files[i]->v[k].data);
		if (files[i]->fd >= 0)
			close(files[i]->fd);
		free(files[i]);
		files[i] = NULL;
	}
	nfiles = 0;
	for (i = 0; i < NNAMES; i++) {
		nm[i].cur = B_NONE;
		nm[i].allowed[0] = B_NONE;
		nm[i].nallowed = 1;
	}
}

static int nnames_of(int fi)
{
	int n, c = 0;

	for (n = 0; n < NFILENAMES; n++)
		c += nm[n].cur == fi;
	return c;
}

/* The byte a write with @seq puts at offset @x of @f: part of a record for (tag, seq, x). */
static uint8_t rec_byte(const struct mfile *f, uint32_t seq, uint64_t x)
{
	uint64_t unit = x & ~(uint64_t)(REC - 1);
	uint8_t r[REC];
	uint32_t tag = 0xA5000000u ^ f->tag;

	memcpy(r, &tag, 4);
	memcpy(r + 4, &seq, 4);
	memcpy(r + 8, &unit, 8);
	return r[x % REC];
}

/* ---- the workload ----------------------------------------------------------------------- */

/* Result of a workload step: the daemon died during it, or not. */
#define ALIVE	0
#define DEAD	1

static uint64_t rs;	/* workload PRNG state */

static uint64_t rnd(uint64_t n)
{
	return ft_rand_below(&rs, n);
}

static const char *mpath(int n)
{
	return ft_path(&m, names[n].path);
}

/* Has the daemon exited (within @wait seconds)? Does not reap it: ft_kill() does. */
static int daemon_exited(double wait)
{
	double t0 = ft_now();
	siginfo_t si;

	do {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)m.pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == m.pid)
			return 1;
		usleep(10000);
	} while (ft_now() - t0 < wait);
	return 0;
}

/*
 * A failed call: the daemon died (ENOTCONN, ECONNABORTED), or the test fails. EIO counts as
 * the daemon's death only if it is dead: when a daemon thread is killed while copying a
 * reply into /dev/fuse, the kernel fails that request with EIO (fuse_dev_do_write), and an
 * O_DIRECT-style write that got a partial answer reports EIO too (fuse_get_res_by_io).
 */
static int failed(const char *what, int n)
{
	int e = errno;

	if (e == ENOTCONN || e == ECONNABORTED) {
		logop("  -> %s: %s (daemon gone)", what, strerror(e));
		return DEAD;
	}
	if (e == EIO && daemon_exited(2.0)) {
		logop("  -> %s: %s (the daemon died during the call)", what, strerror(e));
		snprintf(eio_call, sizeof(eio_call), ", %s failed with EIO", what);
		tot.eio_on_death++;
		return DEAD;
	}
	ft_fail("cycle %d: %s %s: unexpected %s (%d)", cur_cycle, what,
		n >= 0 ? names[n].path : "", strerror(e), e);
}

/* A random name: @want_file 1 bound to a regular file, 2 also to a symlink or FIFO. */
static int pick_name(int want_file, int want_absent)
{
	int cand[NNAMES], nc = 0, n;

	for (n = 0; n < NFILENAMES; n++) {
		int par = names[n].parent;

		if (par >= 0 && nm[par].cur != B_DIR)
			continue;
		if ((want_file && nm[n].cur > 0) ||
		    (want_file == 2 && (nm[n].cur == B_SYM || nm[n].cur == B_FIFO)))
			cand[nc++] = n;
		if (want_absent && nm[n].cur == B_NONE)
			cand[nc++] = n;
	}
	return nc ? cand[rnd((uint64_t)nc)] : -1;
}

/* The open O_RDWR descriptor of model file @fi, opened through its name @n if needed. */
static int file_fd(int fi, int n, int *fd)
{
	struct mfile *f = files[fi];

	if (f->fd < 0) {
		f->fd = open(mpath(n), O_RDWR | O_CLOEXEC);
		if (f->fd < 0)
			return failed("open", n);
	}
	*fd = f->fd;
	return ALIVE;
}

static void drop_if_unnamed(int fi)
{
	if (fi > 0 && nnames_of(fi) == 0 && files[fi]->fd >= 0) {
		close(files[fi]->fd);	/* error ignored: the name is gone anyway */
		files[fi]->fd = -1;
	}
}

/* @dsync: 0 a plain write through the file's descriptor, 1 O_DSYNC, 2 O_SYNC. */
static int do_write(int n, uint64_t off, size_t len, int dsync)
{
	int fi = nm[n].cur, fd = -1, r, own = 0;
	struct mfile *f = files[fi];
	uint32_t seq = next_seq++;
	struct version *v;
	uint8_t *buf = malloc(len);
	ssize_t w;
	size_t k;

	if (!buf)
		ft_fail("out of memory");
	for (k = 0; k < len; k++)
		buf[k] = rec_byte(f, seq, off + k);
	logop("%s %s off %" PRIu64 " len %zu seq %u (size was %zu)",
	      dsync == 2 ? "O_SYNC write" : dsync ? "O_DSYNC write" : "write", names[n].path,
	      off, len, seq, vcur(f)->size);
	if (dsync) {
		fd = open(mpath(n), O_WRONLY | (dsync == 2 ? O_SYNC : O_DSYNC) | O_CLOEXEC);
		if (fd < 0) {
			free(buf);
			return failed("open O_DSYNC", n);
		}
		own = 1;
	} else if ((r = file_fd(fi, n, &fd)) != ALIVE) {
		free(buf);
		return r;
	}
	/*
	 * The kernel splits a write into several WRITE requests; if the daemon dies between
	 * them, write(2) returns the part done and the next call fails.
	 */
	for (k = 0, r = ALIVE; k < len && r == ALIVE; k += (size_t)w) {
		w = pwrite(fd, buf + k, len - k, (off_t)(off + k));
		if (w <= 0) {
			if (w == 0)
				ft_fail("cycle %d: pwrite returned 0", cur_cycle);
			r = failed("pwrite", n);
		}
	}
	/* Applied, or maybe applied if the daemon died during it. */
	v = vpush(f, off + len > vcur(f)->size ? off + len : vcur(f)->size);
	memcpy(v->data + off, buf, len);
	if (dsync && r == ALIVE) {
		ack_file(f);	/* data and size durable; the name is not promised here */
		cycle_acks++;
	}
	if (own)
		close(fd);
	free(buf);
	return r;
}

/*
 * ftruncate, or truncate(2) by name (SETATTR without a file handle, requirement 8), or for
 * size 0 sometimes an open with O_TRUNC (requirement 7).
 */
static int do_truncate(int n, uint64_t size, int how)
{
	int fi = nm[n].cur, fd = -1, r;

	logop("%s %s to %" PRIu64 " (was %zu)", how == 0 ? "ftruncate" : how == 1 ?
	      "truncate(path)" : "open O_TRUNC", names[n].path, size, vcur(files[fi])->size);
	if (how == 0) {
		if ((r = file_fd(fi, n, &fd)) != ALIVE)
			return r;
		r = ftruncate(fd, (off_t)size) < 0 ? failed("ftruncate", n) : ALIVE;
	} else if (how == 1) {
		r = truncate(mpath(n), (off_t)size) < 0 ? failed("truncate", n) : ALIVE;
	} else {
		fd = open(mpath(n), O_WRONLY | O_TRUNC | O_CLOEXEC);
		r = fd < 0 ? failed("open O_TRUNC", n) : ALIVE;
		if (fd >= 0)
			close(fd);	/* FLUSH waits for nothing (section 3 item 10) */
	}
	vpush(files[fi], size);
	return r;
}

static int do_fallocate(int n, int mode, uint64_t off, uint64_t len)
{
	int fi = nm[n].cur, fd = -1, r;
	size_t size = vcur(files[fi])->size;

	logop("fallocate %s mode %d off %" PRIu64 " len %" PRIu64, names[n].path, mode, off,
	      len);
	if ((r = file_fd(fi, n, &fd)) != ALIVE)
		return r;
	r = fallocate(fd, mode, (off_t)off, (off_t)len) < 0 ? failed("fallocate", n) : ALIVE;
	if (mode == 0 && off + len > size)
		vpush(files[fi], off + len);
	return r;
}

static int do_create(int n)
{
	struct stat st;
	int fd, fi;

	logop("create %s", names[n].path);
	fd = open(mpath(n), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		fi = file_new(0, NULL, 0);	/* maybe created, inode unknown */
		bind(n, fi);
		return failed("create", n);
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		fi = file_new(0, NULL, 0);
		bind(n, fi);
		return failed("fstat", n);
	}
	fi = file_new(st.st_ino, NULL, 0);
	files[fi]->fd = fd;
	bind(n, fi);
	return ALIVE;
}

static int do_rename(int s, int d)
{
	int src = nm[s].cur, old = nm[d].cur;
	int r;

	logop("rename %s -> %s%s", names[s].path, names[d].path,
	      old > 0 ? " (over an existing file)" : "");
	r = rename(mpath(s), mpath(d)) < 0 ? failed("rename", s) : ALIVE;
	bind(d, src);
	bind(s, B_NONE);
	drop_if_unnamed(old);
	return r;
}

static int do_unlink(int n)
{
	int fi = nm[n].cur, r;

	logop("unlink %s", names[n].path);
	r = unlink(mpath(n)) < 0 ? failed("unlink", n) : ALIVE;
	bind(n, B_NONE);
	drop_if_unnamed(fi);
	return r;
}

static int do_link(int s, int d)
{
	int r;

	logop("link %s -> %s", names[s].path, names[d].path);
	r = link(mpath(s), mpath(d)) < 0 ? failed("link", s) : ALIVE;
	bind(d, nm[s].cur);
	return r;
}

static int do_mkdir(int n)
{
	int r;

	logop("mkdir %s", names[n].path);
	r = mkdir(mpath(n), 0755) < 0 ? failed("mkdir", n) : ALIVE;
	bind(n, B_DIR);
	return r;
}

static int do_symlink(int n)
{
	int r;

	logop("symlink %s", names[n].path);
	r = symlink(SYM_TARGET, mpath(n)) < 0 ? failed("symlink", n) : ALIVE;
	bind(n, B_SYM);
	return r;
}

static int do_mkfifo(int n)
{
	int r;

	logop("mknod %s (FIFO)", names[n].path);
	r = mknod(mpath(n), S_IFIFO | 0644, 0) < 0 ? failed("mknod", n) : ALIVE;
	bind(n, B_FIFO);
	return r;
}

static int do_rmdir(int n)
{
	int r;

	logop("rmdir %s", names[n].path);
	r = rmdir(mpath(n)) < 0 ? failed("rmdir", n) : ALIVE;
	bind(n, B_NONE);
	return r;
}

/*
 * fsync or fdatasync through the file's descriptor, or through a new O_RDONLY one: fsync is
 * per inode and covers writes made through any descriptor (requirement 42).
 */
static int do_fsync(int n, int data_only)
{
	int fi = nm[n].cur, fd = -1, r, k, fresh = rnd(3) == 0;

	logop("%s %s%s", data_only ? "fdatasync" : "fsync", names[n].path,
	      fresh ? " (through a new O_RDONLY descriptor)" : "");
	if (fresh) {
		fd = open(mpath(n), O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return failed("open O_RDONLY", n);
	} else if ((r = file_fd(fi, n, &fd)) != ALIVE) {
		return r;
	}
	r = (data_only ? fdatasync(fd) : fsync(fd)) < 0;
	if (r)
		r = failed(data_only ? "fdatasync" : "fsync", n);
	if (fresh)
		close(fd);
	if (r)
		return r;
	/* Data and size (rule 2), and every name of the file (requirement 27). */
	ack_file(files[fi]);
	for (k = 0; k < NFILENAMES; k++)
		if (nm[k].cur == fi)
			ack_name(k);
	cycle_acks++;
	logop("  -> acknowledged");
	return ALIVE;
}

/* fsync of directory @dn (-1: the root). */
static int do_fsyncdir(int dn)
{
	const char *p = dn < 0 ? m.mnt : mpath(dn);
	int fd, k;

	logop("fsyncdir %s", dn < 0 ? "/" : names[dn].path);
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return failed("open directory", dn);
	if (fsync(fd) < 0) {
		close(fd);
		return failed("fsync directory", dn);
	}
	close(fd);
	/* The entries (rule 3) and the directory's own name (requirement 27). */
	for (k = 0; k < NNAMES; k++)
		if (names[k].parent == dn || k == dn)
			ack_name(k);
	cycle_acks++;
	logop("  -> acknowledged");
	return ALIVE;
}

static uint64_t rnd_len(uint64_t max)
{
	/* Mostly small, sometimes several chunks; never 0. */
	switch (rnd(4)) {
	case 0:
		return 1 + rnd(64);
	case 1:
		return 1 + rnd(4096 < max ? 4096 : max);
	default:
		return 1 + rnd(max);
	}
}

/* A random offset, biased towards 4 KiB boundaries +-3 (chunk and page edges). */
static uint64_t rnd_off(uint64_t max)
{
	uint64_t o;

	if (rnd(2))
		return rnd(max + 1);
	o = (rnd(max / 4096 + 1) * 4096) + rnd(7);
	o = o >= 3 ? o - 3 : 0;
	return o > max ? max : o;
}

/* One random operation; returns ALIVE or DEAD. */
static int step(void)
{
	for (;;) {
		uint64_t w = rnd(100), off, len;
		int n, d, fi;
		size_t size;

		if (w < 14) {			/* write anywhere */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			off = rnd_off(FMAX - 1);
			len = rnd_len(FMAX - off);
			return do_write(n, off, (size_t)len, 0);
		} else if (w < 23) {		/* append */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			size = vcur(files[nm[n].cur])->size;
			if (size >= FMAX - 1)
				continue;
			return do_write(n, size, (size_t)rnd_len(FMAX - size), 0);
		} else if (w < 30) {		/* overwrite inside the file */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			size = vcur(files[nm[n].cur])->size;
			if (size == 0)
				continue;
			off = rnd(size);
			len = 1 + rnd(size - off);
			return do_write(n, off, (size_t)len, 0);
		} else if (w < 37) {		/* truncate up or down */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			size = vcur(files[nm[n].cur])->size;
			if (rnd(8) == 0)
				return do_truncate(n, 0, 2);
			if (rnd(2) && size > 0)
				return do_truncate(n, rnd_off(size - 1), (int)rnd(2));
			return do_truncate(n, rnd_off(FMAX), (int)rnd(2));
		} else if (w < 41) {		/* fallocate, mode 0 or KEEP_SIZE */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			off = rnd_off(FMAX - 1);
			len = rnd_len(FMAX - off);
			return do_fallocate(n, rnd(3) ? 0 : FALLOC_FL_KEEP_SIZE, off, len);
		} else if (w < 49) {		/* create, sometimes a symlink or a FIFO */
			if ((n = pick_name(0, 1)) < 0)
				continue;
			if (w >= 47)
				return rnd(2) ? do_symlink(n) : do_mkfifo(n);
			return do_create(n);
		} else if (w < 56) {		/* rename, maybe over an existing file */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			d = pick_name(rnd(2), 1);
			if (d < 0 || d == n || nm[d].cur == nm[n].cur)
				continue;	/* two links to one inode: rename is a no-op */
			return do_rename(n, d);
		} else if (w < 61) {		/* unlink */
			if ((n = pick_name(2, 0)) < 0)
				continue;
			return do_unlink(n);
		} else if (w < 64) {		/* link */
			if ((n = pick_name(1, 0)) < 0 || (d = pick_name(0, 1)) < 0)
				continue;
			return do_link(n, d);
		} else if (w < 68) {		/* mkdir or rmdir */
			n = N_D0 + (int)rnd(3);
			if (nm[n].cur == B_NONE)
				return do_mkdir(n);
			if (n == N_E || (nm[n == N_D0 ? N_D0A : N_D1A].cur == B_NONE &&
					 nm[n == N_D0 ? N_D0B : N_D1B].cur == B_NONE))
				return do_rmdir(n);
			continue;
		} else if (w < 77) {		/* fsync */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			return do_fsync(n, 0);
		} else if (w < 84) {		/* fdatasync */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			return do_fsync(n, 1);
		} else if (w < 92) {		/* fsync of a directory */
			d = (int)rnd(3) - 1;
			if (d >= 0) {
				d += N_D0;
				if (nm[d].cur != B_DIR)
					continue;
			}
			return do_fsyncdir(d);
		} else {			/* O_DSYNC or O_SYNC write */
			if ((n = pick_name(1, 0)) < 0)
				continue;
			fi = nm[n].cur;
			size = vcur(files[fi])->size;
			off = rnd(2) ? size : rnd_off(size);
			if (off >= FMAX - 1)
				continue;
			return do_write(n, off, (size_t)rnd_len(FMAX - off), 1 + (int)rnd(2));
		}
	}
}

/* ---- snapshots and the checker ---------------------------------------------------------- */

struct snap_ent {
	int type;		/* B_NONE, B_DIR, or 1: a regular file */
	ino_t ino;
	size_t len;
	uint8_t *data;
};

struct snap {
	struct snap_ent e[NNAMES];
};

static void snap_free(struct snap *s)
{
	int n;

	for (n = 0; n < NNAMES; n++)
		free(s->e[n].data);
	memset(s, 0, sizeof(*s));
}

/* Entries of directory @dn (-1: root) not in the name universe are violations. */
static void check_listing(int dn)
{
	const char *p = dn < 0 ? m.mnt : ft_path(&m, names[dn].path);
	struct dirent *de;
	DIR *dp = opendir(p);
	int n, known;

	if (!dp)
		ft_fail("opendir %s: %s", p, strerror(errno));
	while ((de = readdir(dp))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		known = 0;
		for (n = 0; n < NNAMES; n++)
			known |= names[n].parent == dn && strcmp(names[n].base, de->d_name) == 0;
		if (!known)
			violation("rule 4: unexpected entry '%s' in %s", de->d_name,
				  dn < 0 ? "/" : names[dn].path);
	}
	closedir(dp);
}

static void snapshot(struct snap *s)
{
	struct stat st;
	int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < NNAMES; i++) {
		/* Directories first: a name below a missing directory is not looked up. */
		int n = (i + NFILENAMES) % NNAMES;
		struct snap_ent *e = &s->e[n];

		if (names[n].parent >= 0 && s->e[names[n].parent].type != B_DIR)
			continue;
		if (lstat(mpath(n), &st) < 0) {
			if (errno != ENOENT)
				ft_fail("lstat %s: %s", mpath(n), strerror(errno));
			continue;
		}
		e->ino = st.st_ino;
		if (S_ISDIR(st.st_mode)) {
			e->type = B_DIR;
		} else if (S_ISLNK(st.st_mode) || S_ISFIFO(st.st_mode)) {
			char target[64];
			ssize_t tl;

			e->type = S_ISLNK(st.st_mode) ? B_SYM : B_FIFO;
			if (e->type == B_SYM &&
			    ((tl = readlink(mpath(n), target, sizeof(target))) !=
			     (ssize_t)strlen(SYM_TARGET) ||
			     memcmp(target, SYM_TARGET, (size_t)tl) != 0))
				violation("rule 4: symlink %s does not point to %s", names[n].path,
					  SYM_TARGET);
		} else if (S_ISREG(st.st_mode)) {
			e->type = 1;
			e->data = ft_read_file(mpath(n), &e->len);
			if (e->len != (size_t)st.st_size)
				violation("%s: st_size %lld but %zu bytes read", names[n].path,
					  (long long)st.st_size, e->len);
		} else {
			violation("%s has unexpected type 0%o", names[n].path,
				  (unsigned)(st.st_mode & S_IFMT));
			e->type = 2;
		}
	}
}

/* Is @d (@len bytes) a state model file @f may show after the crash? "" or a reason. */
static int content_ok(const struct mfile *f, const uint8_t *d, size_t len, char *why,
		      size_t whylen)
{
	size_t lo = SIZE_MAX, hi = 0, x;
	int k;

	for (k = 0; k < f->nv; k++) {
		lo = f->v[k].size < lo ? f->v[k].size : lo;
		hi = f->v[k].size > hi ? f->v[k].size : hi;
	}
	if (len < lo || len > hi) {
		snprintf(why, whylen, "rule 5: size %zu outside [%zu, %zu] (acknowledged %zu, "
			 "%d later version(s))", len, lo, hi, f->v[0].size, f->nv - 1);
		return 0;
	}
	for (x = 0; x < len; x++) {
		for (k = 0; k < f->nv; k++)
			if (x < f->v[k].size ? d[x] == f->v[k].data[x] : d[x] == 0)
				break;
		if (k == f->nv) {
			size_t u = x & ~(size_t)(REC - 1);
			uint32_t tag = 0, seq = 0;
			uint64_t off = 0;
			char rec[96] = "not a whole record";

			if (u + REC <= len) {
				memcpy(&tag, d + u, 4);
				memcpy(&seq, d + u + 4, 4);
				memcpy(&off, d + u + 8, 8);
				if ((tag & 0xFF000000u) == 0xA5000000u)
					snprintf(rec, sizeof(rec), "a record of file tag %u, "
						 "seq %u, offset %" PRIu64, tag ^ 0xA5000000u,
						 seq, off);
				else
					snprintf(rec, sizeof(rec), "no record");
			}
			snprintf(why, whylen, "rule %s: byte %zu is 0x%02x, the acknowledged "
				 "version has %s0x%02x, no later version (%d) has it either; the "
				 "16 bytes there hold %s (this file's tag is %u)",
				 f->nv == 1 ? "2/7 (acknowledged data lost or changed)" :
				 d[x] ? "4 (garbage)" : "2/7 (zeros where data was acknowledged)",
				 x, d[x], x < f->v[0].size ? "" : "no byte, i.e. ",
				 x < f->v[0].size ? f->v[0].data[x] : 0, f->nv - 1, rec, f->tag);
			return 0;
		}
	}
	return 1;
}

static void check(const struct snap *s)
{
	char why[512], first[512];
	int n, k, ok, par;

	check_listing(-1);
	for (n = N_D0; n <= N_E; n++)
		if (s->e[n].type == B_DIR)
			check_listing(n);
	for (n = 0; n < NNAMES; n++) {
		const struct snap_ent *e = &s->e[n];

		par = names[n].parent;
		if (par >= 0 && s->e[par].type != B_DIR)
			continue;	/* its directory is gone (checked on its own) */
		tot.names_checked++;
		if (n >= NFILENAMES) {
			if (e->type == B_NONE ? !allowed(n, B_NONE) : !allowed(n, B_DIR))
				violation("rule 3: directory %s is %s, but the model allows only "
					  "%s", names[n].path, e->type == B_NONE ? "missing" :
					  "present", e->type == B_NONE ? "present" : "missing");
			continue;
		}
		if (e->type == B_NONE) {
			if (!allowed(n, B_NONE))
				violation("rule 2/3: %s is missing, but its name was acknowledged "
					  "(bound to file tag %u)", names[n].path,
					  nm[n].allowed[0] > 0 ? files[nm[n].allowed[0]]->tag : 0);
			continue;
		}
		if (e->type == B_SYM || e->type == B_FIFO) {
			if (!allowed(n, e->type))
				violation("rule 3/6: %s is a %s, which the model does not allow "
					  "there", names[n].path, e->type == B_SYM ? "symlink" :
					  "FIFO");
			continue;
		}
		if (e->type != 1)
			continue;	/* reported by snapshot() */
		ok = 0;
		first[0] = 0;
		for (k = 0; k < nm[n].nallowed && !ok; k++) {
			int fi = nm[n].allowed[k];

			if (fi <= 0 || (files[fi]->ino && files[fi]->ino != e->ino))
				continue;
			if (content_ok(files[fi], e->data, e->len, why, sizeof(why)))
				ok = 1;
			else if (!first[0])
				snprintf(first, sizeof(first), "file tag %u: %.480s",
					 files[fi]->tag, why);
		}
		if (ok) {
			tot.bytes += (long)e->len;
		} else if (first[0]) {
			violation("%s (inode %lu): %s", names[n].path, (unsigned long)e->ino,
				  first);
		} else {
			violation("rule 3/6: %s is inode %lu, none of the inodes the model "
				  "allows for it", names[n].path, (unsigned long)e->ino);
		}
	}
}

static void compare_snaps(const struct snap *a, const struct snap *b)
{
	int n;

	for (n = 0; n < NNAMES; n++) {
		const struct snap_ent *x = &a->e[n], *y = &b->e[n];

		if (x->type != y->type || x->ino != y->ino || x->len != y->len ||
		    (x->len && memcmp(x->data, y->data, x->len) != 0))
			violation("rule 1: recovery is not idempotent: %s was type %d inode %lu "
				  "%zu bytes, is type %d inode %lu %zu bytes on the next mount",
				  names[n].path, x->type, (unsigned long)x->ino, x->len, y->type,
				  (unsigned long)y->ino, y->len);
	}
}

/* The tree as found becomes the model: a durable baseline (the caller syncs it). */
static void model_from_snap(const struct snap *s)
{
	int n, k;

	model_reset();
	for (n = 0; n < NNAMES; n++) {
		const struct snap_ent *e = &s->e[n];

		if (e->type == B_DIR || e->type == B_SYM || e->type == B_FIFO) {
			bind(n, e->type);
		} else if (e->type == 1) {
			for (k = 0; k < n; k++)
				if (s->e[k].type == 1 && s->e[k].ino == e->ino)
					break;
			bind(n, k < n ? nm[k].cur : file_new(e->ino, e->data, e->len));
		}
		ack_name(n);
	}
}

/* ---- cycles ----------------------------------------------------------------------------- */

static const struct {
	const char *kind;	/* NULL: SIGKILL from a thread at a random time */
	int nmax;
} kinds[] = {
	{ "pwritev", 40 }, { "fdatasync", 20 }, { "fsync", 24 }, { "ftruncate", 16 },
	{ "fallocate", 48 }, { "futimens", 24 }, { "renameat2", 12 }, { "unlinkat", 12 },
	{ "mkdirat", 5 }, { "linkat", 6 }, { "symlinkat", 3 }, { "mknodat", 2 },
	{ "any", 200 }, { NULL, 0 },
};
#define NKINDS ((int)(sizeof(kinds) / sizeof(kinds[0])))

struct killer {
	pthread_t t;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;		/* protected by lock */
	int fired;		/* written by the killer before it exits, read after join */
	unsigned delay_ms;
	pid_t pid;
};

static void *killer_main(void *arg)
{
	struct killer *k = arg;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += k->delay_ms / 1000;
	ts.tv_nsec += (long)(k->delay_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&k->lock);
	while (!k->stop && pthread_cond_timedwait(&k->cond, &k->lock, &ts) == 0)
		;
	if (!k->stop) {
		kill(k->pid, SIGKILL);
		k->fired = 1;
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	remove(p);
	return 0;
}

/* A new, empty store directory whose own name is durable (t3 cuts the power). */
static void new_store(int series)
{
	const char *parent = disk.dir;
	int fd;

	if (store[0])
		nftw(store, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (snprintf(store, sizeof(store), "%s/store%d", parent, series) >= (int)sizeof(store))
		ft_fail("path too long");
	if (mkdir(store, 0755) < 0)
		ft_fail("mkdir %s: %s", store, strerror(errno));
	fd = FT_SYS(open(parent, O_RDONLY | O_DIRECTORY));
	FT_SYS(fsync(fd));
	close(fd);
	model_reset();
}

/* The device (/dev/loopN) mounted on @dir, from mountinfo; "" if none. */
static void mount_source(const char *dir, char *dev, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[8192], mpt[PATH_MAX], src[PATH_MAX];
	char *dash;

	dev[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		dash = strstr(line, " - ");
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mpt) == 1 && strcmp(mpt, dir) == 0 &&
		    dash && sscanf(dash + 3, "%*s %4095s", src) == 1)
			snprintf(dev, len, "%s", src);
	}
	if (f)
		fclose(f);
}

/* Is the loop device @dev (/dev/loopN) still bound to our image? */
static int loop_bound(const char *dev)
{
	char path[PATH_MAX], back[PATH_MAX];
	const char *base = strrchr(dev, '/');
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", base ? base + 1 : dev);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(back, 1, sizeof(back) - 1, f);
	fclose(f);
	back[n] = 0;
	if (n && back[n - 1] == '\n')
		back[n - 1] = 0;
	return strcmp(back, disk.img) == 0;
}

/*
 * T3: EXT4_IOC_SHUTDOWN (NOLOGFLUSH), umount, mount. The loop device of the old mount must
 * be gone first: `mount -o loop` reuses a device still bound to the same image, and with it
 * the old, shut-down superblock if anything still pins it (a mount namespace cloned by some
 * other process meanwhile, or the kernel's deferred autoclear), so every open would fail with
 * EIO. Then the superblock file must be readable through the new mount.
 */
static void power_cut(void)
{
	char dev[PATH_MAX], sb[PATH_MAX + 16], buf[64];
	double t0;
	int fd;

	mount_source(disk.dir, dev, sizeof(dev));
	ft_disk_shutdown(&disk);
	t0 = ft_now();
	if (dev[0] && loop_bound(dev)) {
		tot.loop_waits++;
		while (loop_bound(dev)) {
			if (ft_now() - t0 > 20)
				ft_fail("%s is still bound to %s 20 s after unmounting it: "
					"something else holds the filesystem (another mount "
					"namespace?)", dev, disk.img);
			usleep(10000);
		}
	}
	ft_disk_mount(&disk);
	snprintf(sb, sizeof(sb), "%s/.frozenfs", store);
	fd = open(sb, O_RDONLY);
	if (fd < 0 || read(fd, buf, sizeof(buf)) <= 0)
		ft_fail("after the power cut, %s is unreadable on the backing filesystem: %s",
			sb, strerror(errno));
	close(fd);
}

static void sync_store(void)
{
	int fd = FT_SYS(open(store, O_RDONLY | O_DIRECTORY));

	FT_SYS(syncfs(fd));
	close(fd);
}

/*
 * The second mount after a crash (rule 1) is the next cycle's crash mount, checked before its
 * workload starts; only the last cycle of a store needs a mount of its own for it.
 */
static struct snap pending;	/* first mount's tree, not yet compared with the second's */
static int have_pending;

/* On the mount that is up: the tree must equal the pending one; it becomes the baseline. */
static void finish_pending(void)
{
	struct snap s2;

	snapshot(&s2);
	compare_snaps(&pending, &s2);
	sync_store();	/* the baseline must be durable before the next workload */
	model_from_snap(&s2);
	snap_free(&pending);
	snap_free(&s2);
	have_pending = 0;
}

static void finish_pending_alone(void)
{
	ft_mount(&m, store, mp, "flush_interval_ms=50");
	finish_pending();
	ft_umount(&m);
}

static void cycle(int c)
{
	int kind = c % NKINDS, round = c / NKINDS, dead = 0, ops, st, i;
	static const unsigned flush_ms[] = { 10, 50, 1000 };
	char spec[64], opts[128];
	struct killer k;
	double t0 = ft_now(), t1;

	if ((c % SERIES == 0 || !store[0]) && have_pending)
		finish_pending_alone();
	if (c % SERIES == 0 || !store[0])
		new_store(c / SERIES);
	rs = base_seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)c + 1) * 0xBF58476D1CE4E5B9ull;
	snprintf(opts, sizeof(opts), "flush_interval_ms=%u%s%s", flush_ms[c % 3],
		 (c / 3) % 4 == 3 ? ",direct_io" : "",
		 c % SERIES == 0 ? ((c / SERIES) % 3 == 2 ? ",chunk_size=16384" :
				    ",chunk_size=4096") : "");
	spec[0] = 0;
	if (kinds[kind].kind)
		snprintf(spec, sizeof(spec), "%s:%d:%s", kinds[kind].kind,
			 1 + (round / 2 * 7) % kinds[kind].nmax, round % 2 ? "after" : "before");
	memset(&k, 0, sizeof(k));
	k.delay_ms = (unsigned)rnd(kinds[kind].kind ? 1 : 150);

	if (spec[0])
		setenv("FROZENFS_CRASH_AT", spec, 1);
	ft_mount(&m, store, mp, opts);
	unsetenv("FROZENFS_CRASH_AT");
	if (have_pending)
		finish_pending();	/* reads and syncfs only: no crash point is reached */

	cur_cycle = c;
	noplog = 0;
	cycle_acks = 0;
	snprintf(cur_desc, sizeof(cur_desc), "%s %s, -o %s, store %.100s",
		 t3 ? "t3 power loss" : "t2 process crash",
		 spec[0] ? spec : ft_fmt("kill -9 after %u ms", k.delay_ms), opts, store);
	if (!spec[0]) {
		k.pid = m.pid;
		pthread_mutex_init(&k.lock, NULL);
		pthread_cond_init(&k.cond, NULL);
		if (pthread_create(&k.t, NULL, killer_main, &k))
			ft_fail("pthread_create");
	}
	for (ops = 0; ops < MAX_OPS && !dead; ops++)
		dead = step() == DEAD;
	if (!spec[0]) {
		pthread_mutex_lock(&k.lock);
		k.stop = 1;
		pthread_cond_signal(&k.cond);
		pthread_mutex_unlock(&k.lock);
		pthread_join(k.t, NULL);
		pthread_mutex_destroy(&k.lock);
		pthread_cond_destroy(&k.cond);
	}
	t1 = ft_now();
	st = ft_kill(&m, SIGKILL);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		ft_fail("cycle %d: daemon status 0x%x, expected death by SIGKILL", c, st);
	if (spec[0] && dead)
		tot.crashed_at_point++;
	else if (k.fired)
		tot.random_kills++;
	else
		tot.end_kills++;
	logop("daemon killed after %d operations (%s)", ops,
	      spec[0] && dead ? "at the crash point" : k.fired ? "by the timer" :
	      "at the end of the workload");
	/* Requirement 21: once the daemon is gone, no fsync may claim success. */
	for (i = 1; i <= nfiles; i++) {
		if (files[i]->fd < 0)
			continue;
		errno = 0;
		if (fsync(files[i]->fd) == 0 || (errno != ENOTCONN && errno != ECONNABORTED))
			violation("requirement 21: fsync of file tag %u after the crash returned "
				  "%s", files[i]->tag, errno ? strerror(errno) : "0");
		close(files[i]->fd);
		files[i]->fd = -1;
	}
	if (t3)
		power_cut();

	ft_mount(&m, store, mp, "flush_interval_ms=50");
	snapshot(&pending);
	check(&pending);
	ft_umount(&m);
	have_pending = 1;
	tot.cycles++;
	tot.acks_checked += cycle_acks;
	printf("# cycle %d: %s: %d ops, %ld acks, %s%s; %.2f s (workload %.2f s)\n", c,
	       cur_desc, ops, cycle_acks, spec[0] && dead ? "died at the crash point" :
	       k.fired ? "killed by the timer" : "killed after the workload", eio_call,
	       ft_now() - t0, t1 - t0);
	eio_call[0] = 0;
}

/* The disk first: it is mounted on the tmpfs that holds its image. Lazy: a daemon may
 * still hold files when the test fails. */
static void ram_cleanup(void)
{
	if (disk.mounted)
		umount2(disk.dir, MNT_DETACH);
	disk.mounted = 0;
	umount2(ram, MNT_DETACH);
}

/* SIGINT/SIGTERM/SIGHUP from the test runner: fstest's own handler would _exit without
 * unmounting the tmpfs, and then leave the temporary directory behind. */
static void on_signal(int sig)
{
	fprintf(stderr, "FAIL: killed by signal %d\n", sig);
	on_fail();
	ram_cleanup();
	exit(1);	/* not async-signal-safe, as in fstest: runs its cleanup */
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);
	char *end;
	long r;

	if (!v || !*v)
		return def;
	r = strtol(v, &end, 10);
	if (*end || r < 0)
		ft_fail("%s='%s' is not a whole number", name, v);
	return r;
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	const char *mode;
	long ncycles, from, c;
	double t0;

	ft_init(argc, argv);
	if (ft_fake())
		ft_fail("dur_crash needs the real daemon (FT_FAKE is set)");
	ft_set_fail_hook(on_fail);
	mode = ft_arg("mode");
	if (!mode || (strcmp(mode, "t2") && strcmp(mode, "t3")))
		ft_fail("usage: dur_crash FROZENFS_BINARY --mode=t2|t3");
	t3 = strcmp(mode, "t3") == 0;
	ncycles = t3 ? env_long("FROZENFS_POWERLOSS_CYCLES", 50) :
		       env_long("FROZENFS_CRASH_CYCLES", 200);
	base_seed = (uint64_t)env_long("FROZENFS_CRASH_SEED", 1);
	from = env_long("FROZENFS_CRASH_FROM", 0) / SERIES * SERIES;
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	/*
	 * Both modes keep their stores on one small ext4 made once, whose image lives on a
	 * private tmpfs: a flush of the loop device then costs a memcpy rather than a wait for
	 * the shared disk, and the power cut of t3 works the same.
	 */
	if (snprintf(ram, sizeof(ram), "%s/ram", ft_tmpdir()) >= (int)sizeof(ram))
		ft_fail("path too long");
	FT_SYS(mkdir(ram, 0700));
	if (mount("tmpfs", ram, "tmpfs", 0, "size=256m,mode=0700") < 0)
		ft_fail("mount -t tmpfs %s: %s", ram, strerror(errno));
	atexit(ram_cleanup);	/* runs before fstest's cleanup, which would leave it */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	ft_disk_create(&disk, "ram/disk", 128);
	printf("# %s: cycles %ld..%ld, seed %" PRIu64 "\n", t3 ? "t3 power loss" :
	       "t2 process crash", from, from + ncycles - 1, base_seed);
	t0 = ft_now();
	for (c = from; c < from + ncycles; c++)
		cycle((int)c);
	if (have_pending)
		finish_pending_alone();
	model_reset();
	printf("# totals: %ld cycles (%ld died at the FROZENFS_CRASH_AT point, %ld killed at a "
	       "random time, %ld killed after the workload), %ld acknowledged fsyncs checked, "
	       "%ld names checked, %ld bytes verified, %ld violations, %.1f s\n", tot.cycles,
	       tot.crashed_at_point, tot.random_kills, tot.end_kills, tot.acks_checked,
	       tot.names_checked, tot.bytes, tot.violations, ft_now() - t0);
	printf("# calls that failed with EIO as the daemon died: %ld; power cuts that waited "
	       "for the old loop device to go: %ld\n", tot.eio_on_death, tot.loop_waits);
	if (tot.violations)
		ft_fail("%ld durability violations in %ld cycles (seed %" PRIu64 ")",
			tot.violations, tot.cycles, base_seed);
	ft_ok("%ld %s cycles, no violations", tot.cycles, t3 ? "power-loss" : "crash");
	return ft_done();
}
