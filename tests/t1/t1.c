/*
 * t1: recorded I/O replay against the real daemon (DURABILITY.md 4.1 T1; requirements 5, 15,
 * 22, 26, 27, 28, 30; checker rules of section 4.2).
 *
 * One frozenfs mount runs with FROZENFS_IOREC, so every backing call it makes lands in a log
 * (core/iorec.h). Bounded workloads run on it one after another, each in its own directory W
 * holding two fsynced files, f (10000 bytes) and e (3000 bytes). A workload is 1 to 3 steps;
 * a step is one operation followed by one sync:
 *   create     a new file n<k> in the current directory (W, or the last mkdir)
 *   write      6000 bytes at offset 3000 of the current file (overwrite and extend)
 *   append     5000 bytes through O_APPEND
 *   truncate   to a third of the size (above 4000 bytes), else 7000 bytes longer
 *   fallocate  mode 0 from 100 bytes before the end, 8292 bytes (extends)
 *   link       l<k> in the current directory
 *   rename     over f when the current file is another one, else to r<k>
 *   unlink     one name of the current file (then the current file is f, e or another)
 *   mkdir      d<k>, which becomes the current directory
 * and the sync is fsync or fdatasync of the object (the new directory after mkdir), or fsync
 * of the directory holding the name the operation touched. Every 1- and 2-step workload runs,
 * plus a seeded sample of 3-step ones (--three=N, --seed=S), plus every workload whose last
 * step is acknowledged by an O_DSYNC write instead (the write itself for write and append,
 * else a rewrite of the first byte; requirement 5). The store has 4 KiB chunks so that the
 * files span several. The 1-step and O_DSYNC workloads run once more on a direct_io mount,
 * where no FSYNC follows an O_DSYNC write (DURABILITY.md fact 5).
 *
 * The workload notes the CLOCK_MONOTONIC time each operation starts and each sync returns
 * (the acknowledgements), and reads the whole of W through the mount after each operation
 * (the logical states). After its last step an fsync of the mount root (a global flush
 * barrier) ends its window in the log. Every batch of workloads is then checked by
 * t1_model.c: every crash state is materialised as a store, read back, checked; a sample is
 * also mounted twice (recovery, idempotence, and the mount shows what the backing tree has).
 *
 * The checker is proven able to fail: the same logs with every directory fsync, or every file
 * sync, removed must produce violations.
 *
 * Prints: workloads run, crash points, states generated, states checked, states mounted,
 * violations (0 to pass).
 *
 * Usage: t1 FROZENFS_BINARY [--three=N] [--seed=S] [--mounts=N] [--verbose=1|2]
 *        (--from=N --limit=M: only workloads N..M-1, for debugging)
 */
#include "fstest.h"
#include "t1.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH		40
#define F_SIZE		10000
#define E_SIZE		3000

enum { OP_CREATE, OP_WRITE, OP_APPEND, OP_TRUNCATE, OP_FALLOCATE, OP_LINK, OP_RENAME,
       OP_UNLINK, OP_MKDIR };
enum { S_FSYNC, S_FDATASYNC, S_DIRFSYNC, S_DSYNC };

static struct ft_mount m;
static char logpath[PATH_MAX], crashmnt[PATH_MAX];
static int rootfd = -1;
static unsigned long long max_mounts = 300, mount_stride = 1;
static struct t1_stats stats, drop_dir, drop_file;
static unsigned long long late;		/* sync/futimens records after a barrier */
static char statedir[PATH_MAX];		/* crash states are materialised here */

static void rm_statedir(void)
{
	if (statedir[0] && !getenv("FT_KEEP"))
		t1_rm_tree(statedir, 0);
}

struct hobj {
	uint64_t ino;
	int fd;
	int isdir;
};

/* The workload being run. */
struct run {
	struct t1_wl *w;
	char wabs[PATH_MAX];
	struct hobj o[T1_MAXV];
	int no;
	uint64_t cur;			/* inode of the current file */
	char cdir[T1_PATH];		/* current directory, relative to W ("" = W) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Non-zero pseudo-random bytes: a zero found after a crash is never "the data". */
static uint8_t *pattern(size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len);
	size_t k;

	if (!b)
		ft_fail("out of memory");
	seed = seed * 0x9e3779b97f4a7c15ull + 1;
	for (k = 0; k < len; k++)
		b[k] = (uint8_t)(1 + ft_rand_below(&seed, 255));
	return b;
}

/* Absolute path of @rel below W, in one of 4 rotating buffers. */
static const char *wpath(struct run *r, const char *rel)
{
	static char buf[4][PATH_MAX];
	static int next;
	char *b = buf[next++ % 4];

	if (snprintf(b, PATH_MAX, "%s%s%s", r->wabs, rel[0] ? "/" : "", rel) >= PATH_MAX)
		ft_fail("t1: path too long: %s", rel);
	return b;
}

static struct hobj *obj(struct run *r, uint64_t ino)
{
	int k;

	for (k = 0; k < r->no; k++)
		if (r->o[k].ino == ino)
			return &r->o[k];
	return NULL;
}

static void add_obj(struct run *r, int fd, int isdir)
{
	struct stat st;

	FT_SYS(fstat(fd, &st));
	if (r->no == T1_MAXV)
		ft_fail("t1: too many objects");
	r->o[r->no].ino = (uint64_t)st.st_ino;
	r->o[r->no].fd = fd;
	r->o[r->no++].isdir = isdir;
}

/* Names below @dir (readdir and lstat only: no file is opened, see snapshot()). */
static void read_names(const char *dir, const char *prefix, struct t1_view *v)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		ft_fail("t1: opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char p[PATH_MAX], rel[T1_PATH];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p) ||
		    snprintf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] ? "/" : "",
			     de->d_name) >= (int)sizeof(rel))
			ft_fail("t1: path too long below %s", dir);
		FT_SYS(lstat(p, &st));
		t1_view_add_ent(v, rel, (uint64_t)st.st_ino, S_ISDIR(st.st_mode));
		if (S_ISDIR(st.st_mode))
			read_names(p, rel, v);
	}
	closedir(d);
}

/*
 * S_k: W's names through the mount, and the content of every file through the descriptor we
 * hold. Opening a file to read it would make its close a durability point (FLUSH syncs the
 * file unless -o nosync_on_close) and leave little unsynced for the crash states.
 */
static void snapshot(struct run *r, int k)
{
	struct t1_view *v = &r->w->st[k];
	int j;

	memset(v, 0, sizeof(*v));
	read_names(r->wabs, "", v);
	t1_view_sort(v);
	for (j = 0; j < v->ne; j++)
		if (!v->e[j].isdir && !obj(r, v->e[j].ino))
			ft_fail("t1: %s/%s is no file of ours", r->w->dir, v->e[j].path);
	for (j = 0; j < r->no; j++) {
		struct stat st;
		uint8_t *b;

		if (r->o[j].isdir)
			continue;
		FT_SYS(fstat(r->o[j].fd, &st));
		b = malloc((size_t)st.st_size + 1);
		if (!b)
			ft_fail("out of memory");
		ft_pread_all(r->o[j].fd, b, (size_t)st.st_size, 0);
		t1_view_set_file(v, r->o[j].ino, b, (size_t)st.st_size);
		free(b);
	}
}

/* First name of @ino in state @v, or NULL. */
static const char *name_of(const struct t1_view *v, uint64_t ino)
{
	int k;

	for (k = 0; k < v->ne; k++)
		if (v->e[k].ino == ino)
			return v->e[k].path;
	return NULL;
}

static void parent(const char *path, char *out)
{
	const char *s = strrchr(path, '/');

	snprintf(out, T1_PATH, "%.*s", s ? (int)(s - path) : 0, path);
}

/* "DIR/<c><k>" (or "<c><k>" in W). */
static const char *join(const char *dir, char c, int k)
{
	static char buf[T1_PATH];

	if (snprintf(buf, sizeof(buf), "%s%s%c%d", dir, dir[0] ? "/" : "", c, k) >=
	    (int)sizeof(buf))
		ft_fail("t1: path too long below %s", dir);
	return buf;
}

static void add_ack(struct t1_wl *w, uint64_t ns, int state, unsigned what, uint64_t ino)
{
	if (w->nacks == T1_MAXACKS)
		ft_fail("t1: too many acknowledgements");
	w->acks[w->nacks].ns = ns;
	w->acks[w->nacks].state = state;
	w->acks[w->nacks].what = what;
	w->acks[w->nacks++].ino = ino;
}

/* A second, O_DSYNC descriptor of the file behind @fd (works for unlinked files too). */
static int open_dsync(int fd, int flags)
{
	return (int)FT_SYS(open(ft_fmt("/proc/self/fd/%d", fd), O_WRONLY | O_DSYNC | flags));
}

static void run_step(struct run *r, int k)
{
	struct t1_wl *w = r->w;
	const struct t1_view *prev = &w->st[k - 1];
	const char *cur_name = name_of(prev, r->cur), *rel;
	char namedir[T1_PATH] = "", rel2[T1_PATH];
	struct hobj *target = obj(r, r->cur);
	uint64_t seed = (uint64_t)w->id * 16 + (uint64_t)k;
	int op = w->op[k - 1], sync = w->sync[k - 1], fd, done = 1;
	struct stat st;
	uint8_t *b;

	if (cur_name)
		parent(cur_name, namedir);
	w->op_ns[k] = now_ns();
	switch (op) {
	case OP_CREATE:
		rel = join(r->cdir, 'n', k);
		fd = FT_SYS(open(wpath(r, rel), O_CREAT | O_EXCL | O_RDWR, 0644));
		add_obj(r, fd, 0);
		target = &r->o[r->no - 1];
		r->cur = target->ino;
		snprintf(namedir, sizeof(namedir), "%s", r->cdir);
		break;
	case OP_WRITE:
		b = pattern(6000, seed);
		if (sync == S_DSYNC) {
			/* The write is the sync (requirement 5). */
			fd = open_dsync(target->fd, 0);
			ft_pwrite_all(fd, b, 6000, 3000);
			add_ack(w, now_ns(), k, ACK_DATA, target->ino);
			close(fd);
		} else {
			ft_pwrite_all(target->fd, b, 6000, 3000);
		}
		free(b);
		break;
	case OP_APPEND:
		b = pattern(5000, seed);
		if (sync == S_DSYNC) {
			fd = open_dsync(target->fd, O_APPEND);
			FT_ASSERT(write(fd, b, 5000) == 5000, "append");
			add_ack(w, now_ns(), k, ACK_DATA, target->ino);
			close(fd);
		} else {
			FT_SYS(fcntl(target->fd, F_SETFL, O_APPEND));
			FT_ASSERT(write(target->fd, b, 5000) == 5000, "append");
			FT_SYS(fcntl(target->fd, F_SETFL, 0));
		}
		free(b);
		break;
	case OP_TRUNCATE:
		FT_SYS(fstat(target->fd, &st));
		FT_SYS(ftruncate(target->fd, st.st_size > 4000 ? st.st_size / 3
							       : st.st_size + 7000));
		break;
	case OP_FALLOCATE:
		FT_SYS(fstat(target->fd, &st));
		FT_SYS(fallocate(target->fd, 0, st.st_size > 100 ? st.st_size - 100 : 0, 8292));
		break;
	case OP_LINK:
		if (!cur_name) {
			done = 0;
			break;
		}
		rel = join(r->cdir, 'l', k);
		FT_SYS(link(wpath(r, cur_name), wpath(r, rel)));
		snprintf(namedir, sizeof(namedir), "%s", r->cdir);
		break;
	case OP_RENAME: {
		const struct t1_ent *f = t1_view_ent(prev, "f");

		if (!cur_name) {
			done = 0;
			break;
		}
		if (strcmp(cur_name, "f") != 0 && f && !f->isdir && f->ino != r->cur)
			snprintf(rel2, sizeof(rel2), "f");
		else
			snprintf(rel2, sizeof(rel2), "%s", join(r->cdir, 'r', k));
		FT_SYS(rename(wpath(r, cur_name), wpath(r, rel2)));
		parent(rel2, namedir);
		break;
	}
	case OP_UNLINK:
		if (!cur_name) {
			done = 0;
			break;
		}
		FT_SYS(unlink(wpath(r, cur_name)));
		break;
	case OP_MKDIR:
		rel = join(r->cdir, 'd', k);
		FT_SYS(mkdir(wpath(r, rel), 0755));
		fd = FT_SYS(open(wpath(r, rel), O_RDONLY | O_DIRECTORY));
		add_obj(r, fd, 1);
		target = &r->o[r->no - 1];
		snprintf(namedir, sizeof(namedir), "%s", r->cdir);
		snprintf(r->cdir, sizeof(r->cdir), "%s", rel);
		break;
	}
	(void)done;
	snapshot(r, k);

	if (sync == S_DIRFSYNC) {
		fd = FT_SYS(open(wpath(r, namedir), O_RDONLY | O_DIRECTORY));
		FT_SYS(fstat(fd, &st));
		FT_SYS(fsync(fd));
		add_ack(w, now_ns(), k, ACK_DIR, (uint64_t)st.st_ino);
		close(fd);
	} else if (sync == S_DSYNC && (op == OP_WRITE || op == OP_APPEND)) {
		/* acknowledged by the write itself */
	} else if (sync == S_DSYNC && !target->isdir &&
		   (FT_SYS(fstat(target->fd, &st)), st.st_size > 0)) {
		/* Rewrite the first byte through O_DSYNC: it covers all the file's data. */
		uint8_t c;

		ft_pread_all(target->fd, &c, 1, 0);
		fd = open_dsync(target->fd, 0);
		ft_pwrite_all(fd, &c, 1, 0);
		add_ack(w, now_ns(), k, ACK_DATA, target->ino);
		close(fd);
	} else {
		if (sync == S_FSYNC)
			FT_SYS(fsync(target->fd));
		else
			FT_SYS(fdatasync(target->fd));
		add_ack(w, now_ns(), k, target->isdir ? ACK_DIR | ACK_NAME : ACK_DATA | ACK_NAME,
			target->ino);
	}

	/* After an unlink the current file is one that still has a name. */
	if (!name_of(&w->st[k], r->cur)) {
		static const char *pref[] = { "f", "e" };
		const struct t1_ent *e;
		int j;

		for (j = 0; j < 2; j++) {
			e = t1_view_ent(&w->st[k], pref[j]);
			if (e && !e->isdir) {
				r->cur = e->ino;
				return;
			}
		}
		for (j = 0; j < w->st[k].ne; j++) {
			if (!w->st[k].e[j].isdir && obj(r, w->st[k].e[j].ino)) {
				r->cur = w->st[k].e[j].ino;
				return;
			}
		}
	}
}

static void setup_dir(struct t1_wl *w)
{
	uint8_t *b;
	int fd;

	FT_SYS(mkdir(ft_path(&m, w->dir), 0755));
	b = pattern(F_SIZE, (uint64_t)w->id * 16 + 14);
	ft_write_file(ft_path(&m, ft_fmt("%s/f", w->dir)), b, F_SIZE, 1);
	free(b);
	b = pattern(E_SIZE, (uint64_t)w->id * 16 + 15);
	ft_write_file(ft_path(&m, ft_fmt("%s/e", w->dir)), b, E_SIZE, 1);
	free(b);
	fd = FT_SYS(open(ft_path(&m, w->dir), O_RDONLY | O_DIRECTORY));
	FT_SYS(fsync(fd));
	close(fd);
}

static void run_workload(struct t1_wl *w)
{
	struct run r;
	struct stat st;
	int k, fd;

	memset(&r, 0, sizeof(r));
	r.w = w;
	snprintf(r.wabs, sizeof(r.wabs), "%s", ft_path(&m, w->dir));
	FT_SYS(stat(r.wabs, &st));
	w->wino = (uint64_t)st.st_ino;
	fd = FT_SYS(open(ft_path(&m, ft_fmt("%s/f", w->dir)), O_RDWR));
	add_obj(&r, fd, 0);
	r.cur = r.o[0].ino;
	fd = FT_SYS(open(ft_path(&m, ft_fmt("%s/e", w->dir)), O_RDWR));
	add_obj(&r, fd, 0);
	snapshot(&r, 0);
	/* The setup made all of S_0 durable. */
	add_ack(w, 0, 0, ACK_DIR, w->wino);
	for (k = 0; k < w->st[0].nf; k++)
		add_ack(w, 0, 0, ACK_DATA | ACK_NAME, w->st[0].f[k].ino);

	w->t_start = now_ns();
	for (k = 1; k <= w->nsteps; k++)
		run_step(&r, k);
	FT_SYS(fsync(rootfd));	/* barrier: the window ends with everything durable */
	w->t_end = now_ns();
	for (k = 0; k < r.no; k++)
		close(r.o[k].fd);
}

/* ---- mounting crash states ---- */

static int want_mount(const struct t1_wl *w, unsigned long long distinct)
{
	(void)w;
	return stats.mounted < max_mounts && (distinct - 1) % mount_stride == 0;
}

static int mount_read(const char *root, const char *wdir, const struct t1_view *direct,
		      uint64_t (*map)(uint64_t), struct t1_view *out)
{
	static struct ft_mount cm;	/* fstest keeps a pointer to it for its cleanup */
	struct t1_view again;
	char why[256];
	int round;

	for (round = 0; round < 2; round++) {
		struct t1_view *v = round ? &again : out;

		ft_mount(&cm, root, crashmnt, NULL);
		t1_read_view(ft_fmt("%s/%s", crashmnt, wdir), map, v);
		ft_umount(&cm);	/* recovery left nothing undurable: exit 0 */
		if (t1_view_diff(direct, v, why, sizeof(why)))
			ft_fail("t1: crash state %s: mount %d shows other than the backing tree: "
				"%s", root, round + 1, why);
	}
	t1_view_free(&again);
	return 1;
}

/* ---- main ---- */

static void check_batch(const struct t1_env *env, const struct t1_env *mem, struct t1_log *log,
			struct t1_wl *ws, int n, uint64_t run_start)
{
	size_t i;
	int k;

	t1_log_update(logpath, log);
	/*
	 * Filtering by window is exact only if the daemon touched the backing store for nothing
	 * else once the setup was done: between windows we only open, read and close.
	 */
	for (i = 0; i < log->n; i++) {
		const struct t1_rec *r = &log->r[i];

		if (r->ns < run_start)
			continue;
		for (k = 0; k < n && (r->ns < ws[k].t_start || r->ns > ws[k].t_end); k++)
			;
		/*
		 * A sync or an mtime update may outlive the barrier: pipeline_sync_all() does
		 * not wait for a flush of nothing but the mtime that is already in flight. It
		 * changes no data or name, and the checker ignores a sync that began outside
		 * the window.
		 */
		if (k == n && (r->op == R_SYNC || r->op == R_FUTIMENS)) {
			late++;
			continue;
		}
		if (k == n)
			ft_fail("t1: backing call %" PRIu64 " (op %d on inode %" PRIu64 ") falls "
				"outside every workload's window", r->seq, r->op,
				r->ino ? r->ino : r->dino);
	}
	for (k = 0; k < n; k++) {
		t1_check_workload(env, log, &ws[k], 0, &stats);
		t1_check_workload(mem, log, &ws[k], T1_DROP_DIRSYNC, &drop_dir);
		t1_check_workload(mem, log, &ws[k], T1_DROP_FILESYNC, &drop_file);
	}
	for (k = 0; k < n; k++) {
		int j;

		for (j = 0; j <= ws[k].nsteps; j++)
			t1_view_free(&ws[k].st[j]);
	}
}

/* ---- the workload list ---- */

static unsigned n1 = T1_NOPS * T1_NSYNCS, n2, n3, nd, three = 800;
static unsigned *three_codes;		/* the seeded sample of 3-step workloads */

/*
 * Workload @k: 0..n1-1 one step, then every 2-step one, then those ending in an O_DSYNC step
 * (none or any step first), then the 3-step sample.
 */
static void decode(unsigned k, struct t1_wl *w)
{
	unsigned code, j;

	memset(w, 0, sizeof(*w));
	w->id = (int)k;
	snprintf(w->dir, sizeof(w->dir), "w%u", k);
	if (k >= n1 + n2 && k < n1 + n2 + nd) {
		code = k - n1 - n2;
		w->nsteps = code < T1_NOPS ? 1 : 2;
		if (w->nsteps == 2) {
			code -= T1_NOPS;
			w->op[0] = (int)(code % n1 / T1_NSYNCS);
			w->sync[0] = (int)(code % n1 % T1_NSYNCS);
			code /= n1;
		}
		w->op[w->nsteps - 1] = (int)code;
		w->sync[w->nsteps - 1] = S_DSYNC;
		return;
	}
	if (k < n1) {
		code = k;
		w->nsteps = 1;
	} else if (k < n1 + n2) {
		code = k - n1;
		w->nsteps = 2;
	} else {
		code = three_codes[k - n1 - n2 - nd];
		w->nsteps = 3;
	}
	for (j = 0; j < (unsigned)w->nsteps; j++) {
		w->op[j] = (int)(code % n1 / T1_NSYNCS);
		w->sync[j] = (int)(code % n1 % T1_NSYNCS);
		code /= n1;
	}
}

struct config {
	const char *name;
	const char *opts;
	int dsync_and_one_step_only;	/* run only the 1-step and O_DSYNC workloads */
};

static struct timing {
	double setup, run, check;
} tm;

/*
 * Runs workloads [@from, @to) (those @c selects) on a fresh recorded mount and checks them
 * batch by batch. Returns how many ran.
 */
static unsigned run_config(const struct config *c, unsigned from, unsigned to,
			   const struct t1_env *env0, const struct t1_env *mem0)
{
	struct t1_env env = *env0, mem = *mem0;
	struct t1_log log;
	struct t1_wl *ws;
	char store[PATH_MAX];
	size_t sblen;
	uint8_t *sb;
	unsigned k, nrun = 0;
	int nb = 0;

	snprintf(store, sizeof(store), "%s/store-%s", ft_tmpdir(), c->name);
	snprintf(logpath, sizeof(logpath), "%s/iorec-%s.log", ft_tmpdir(), c->name);
	FT_SYS(setenv("FROZENFS_IOREC", logpath, 1));
	ft_mount(&m, store, ft_fmt("%s/mnt-%s", ft_tmpdir(), c->name), c->opts);
	FT_SYS(unsetenv("FROZENFS_IOREC"));	/* the crash-state mounts are not recorded */
	rootfd = FT_SYS(open(m.mnt, O_RDONLY | O_DIRECTORY));
	sb = ft_read_file(ft_fmt("%s/.frozenfs", store), &sblen);
	env.sb = mem.sb = sb;
	env.sblen = mem.sblen = sblen;

	ws = calloc(BATCH, sizeof(*ws));
	memset(&log, 0, sizeof(log));
	if (!ws)
		ft_fail("out of memory");
	for (k = from; k < to; k++) {
		if (c->dsync_and_one_step_only && k >= n1 && (k < n1 + n2 || k >= n1 + n2 + nd))
			continue;
		decode(k, &ws[nb++]);
		nrun++;
		if (nb == BATCH || k + 1 == to) {
			double ta = ft_now(), tb, tc;
			uint64_t run_start;
			int j;

			for (j = 0; j < nb; j++)
				setup_dir(&ws[j]);
			FT_SYS(fsync(rootfd));
			tb = ft_now();
			run_start = now_ns();
			for (j = 0; j < nb; j++)
				run_workload(&ws[j]);
			tc = ft_now();
			check_batch(&env, &mem, &log, ws, nb, run_start);
			/*
			 * The daemon holds a descriptor or two for every inode the kernel still
			 * caches, so thousands of workload directories would run it out of
			 * descriptors (see the report of this test). Removing them lets the kernel
			 * forget their inodes; the unlinks fall before the next batch's windows.
			 */
			for (j = 0; j < nb; j++)
				t1_rm_tree(ft_path(&m, ws[j].dir), 1);
			tm.setup += tb - ta;
			tm.run += tc - tb;
			tm.check += ft_now() - tc;
			nb = 0;
		}
	}
	close(rootfd);
	ft_umount(&m);
	t1_log_free(&log);
	free(ws);
	free(sb);
	printf("# t1: %s (-o %s): %u workloads\n", c->name, c->opts, nrun);
	return nrun;
}

/* On failure: what the recorded daemon saw go wrong below it, and how many fds it holds. */
static void fail_hook(void)
{
	char line[512];
	FILE *f;
	int n = 0;

	if (m.pid > 0) {
		DIR *d = opendir(ft_fmt("/proc/%d/fd", (int)m.pid));

		if (d) {
			while (readdir(d))
				n++;
			closedir(d);
			printf("# t1: the recorded daemon holds %d fds\n", n - 2);
		}
	}
	f = logpath[0] ? fopen(logpath, "r") : NULL;
	for (n = 0; f && fgets(line, sizeof(line), f);) {
		if (strstr(line, " res=-") && n++ < 10)
			printf("# t1: failed backing call: %.200s\n", line);
	}
	if (f) {
		printf("# t1: %d failed backing calls in %s\n", n, logpath);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	static const struct config configs[] = {
		{ "cached", "chunk_size=4096,flush_interval_ms=20", 0 },
		/* Fact 5: with direct_io no FSYNC follows an O_DSYNC write; WRITE must wait. */
		{ "direct_io", "chunk_size=4096,flush_interval_ms=20,direct_io", 1 },
	};
	struct t1_env env, mem;
	uint64_t seed = 1;
	unsigned total, k, from = 0, nrun = 0;
	int verbose = 0;
	double t0;

	atexit(rm_statedir);	/* registered first: runs after fstest has unmounted all */
	ft_init(argc, argv);
	ft_set_fail_hook(fail_hook);
	if (ft_fake())
		ft_fail("t1 needs the real daemon (FT_FAKE is set)");
	n2 = n1 * n1;
	n3 = n2 * n1;
	nd = T1_NOPS + n1 * T1_NOPS;
	if (ft_arg("three"))
		three = (unsigned)strtoul(ft_arg("three"), NULL, 10);
	if (ft_arg("seed"))
		seed = strtoull(ft_arg("seed"), NULL, 10);
	if (ft_arg("mounts"))
		max_mounts = strtoull(ft_arg("mounts"), NULL, 10);
	if (ft_arg("verbose"))
		verbose = atoi(ft_arg("verbose"));
	if (three > n3)
		three = n3;
	three_codes = calloc(three + 1, sizeof(*three_codes));
	if (!three_codes)
		ft_fail("out of memory");
	for (k = 0; k < three; k++)
		three_codes[k] = (unsigned)ft_rand_below(&seed, n3);
	total = n1 + n2 + nd + three;
	if (ft_arg("from"))	/* debugging: workloads [from, limit) only */
		from = (unsigned)strtoul(ft_arg("from"), NULL, 10);
	if (ft_arg("limit") && (unsigned)strtoul(ft_arg("limit"), NULL, 10) < total)
		total = (unsigned)strtoul(ft_arg("limit"), NULL, 10);
	printf("# t1: workloads: %u of 1 step, %u of 2, %u ending with O_DSYNC, %u of %u of 3 "
	       "(seed %s)\n", n1, n2, nd, three, n3, ft_arg("seed") ? ft_arg("seed") : "1");
	t0 = ft_now();

	snprintf(crashmnt, sizeof(crashmnt), "%s/crashmnt", ft_tmpdir());
	FT_SYS(mkdir(crashmnt, 0755));
	/* States are small and many: on tmpfs if there is one (real stores all the same). */
	snprintf(statedir, sizeof(statedir), "/dev/shm/frozenfs-t1.XXXXXX");
	if (!mkdtemp(statedir))
		snprintf(statedir, sizeof(statedir), "%s", ft_tmpdir());
	memset(&env, 0, sizeof(env));
	env.workdir = statedir;
	env.materialise = 1;
	env.verbose = verbose;
	env.mount_read = mount_read;
	env.want_mount = want_mount;
	mem = env;
	mem.materialise = 0;
	mem.verbose = verbose > 1;	/* --verbose=2: the self-test's violations too */
	mem.mount_read = NULL;
	/* Spread the mounted sample over the whole run (about 12 distinct states a workload). */
	mount_stride = max_mounts ? (total * 12ull * 5 / 4) / max_mounts + 1 : 1;

	for (k = 0; k < sizeof(configs) / sizeof(configs[0]); k++)
		nrun += run_config(&configs[k], from, total, &env, &mem);
	free(three_codes);

	printf("# t1: %u workloads run, %llu crash points, %llu crash states generated, "
	       "%llu distinct states checked (%llu also through two mounts), %llu violations, "
	       "%.1f s\n", nrun, stats.points, stats.generated, stats.checked, stats.mounted,
	       stats.violations, ft_now() - t0);
	printf("# t1: %llu renames over a target replayed for requirement 28\n", stats.renames);
	printf("# t1: %llu sync or futimens records came after their workload's barrier\n", late);
	printf("# t1: time: setup %.1f s, workloads %.1f s, crash states %.1f s\n", tm.setup,
	       tm.run, tm.check);
	printf("# t1 self-test: without directory fsyncs %llu violations in %llu states; "
	       "without file syncs %llu violations in %llu states\n", drop_dir.violations,
	       drop_dir.checked, drop_file.violations, drop_file.checked);
	FT_ASSERT(stats.violations == 0, "%llu crash states violate DURABILITY.md 4.2 (see the "
		  "VIOLATION lines above)", stats.violations);
	ft_ok("every crash state of %u workloads passes the checker (requirement 30)", nrun);
	FT_ASSERT(drop_dir.violations > 0, "the checker found nothing with directory fsyncs "
		  "removed from the logs");
	FT_ASSERT(drop_file.violations > 0, "the checker found nothing with file syncs removed "
		  "from the logs");
	ft_ok("the checker catches missing directory and file syncs");
	FT_ASSERT(stats.mounted > 0, "no crash state was mounted");
	ft_ok("%llu crash states mount twice and show their backing tree", stats.mounted);
	return ft_done();
}
