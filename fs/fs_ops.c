/*
 * fs_ops: one handler per FUSE operation, and the inode table they share.
 *
 * DESIGN
 *
 * Inodes. A struct fs_inode stands for one backing inode, keyed by its (st_dev, st_ino), and
 * holds an O_PATH|O_NOFOLLOW fd to it: every backing access goes through that fd and the
 * *at() calls, never through a joined path (a racing rename cannot redirect us). The FUSE
 * node id is the struct's address (FUSE_ROOT_ID for the root), as in libfuse's
 * example/passthrough_ll.c. Hard links share one fs_inode because they share (dev, ino).
 *
 * Pipeline files. A regular file gets one struct pipeline_file, attached on its first open,
 * create or truncate and shared by every handle and every link (DURABILITY.md fact 7: fsync
 * is per inode). Its backing fd is opened O_RDWR once, through /proc/self/fd on the O_PATH
 * fd, and lives as long as the pipeline file (I5). When O_RDWR is refused (EACCES for a
 * non-root daemon, EROFS) a read-only pipeline file is attached; a later write open replaces
 * it (it never has anything queued, so no ordering is lost) and the old one is retired, not
 * freed, because readers may still hold its pointer.
 *
 * Lifetime. An inode is referenced by the kernel's lookup count (nlookup), by open handles
 * (nopen) and by children whose "dentry dirty" list names it as a parent (nref). When all
 * three reach zero:
 *   - a file whose pipeline file has a sticky error is kept forever, so the error survives
 *     close, FORGET and reopen (DURABILITY.md section 3 items 5-7);
 *   - a file with mutations not yet durable goes on the idle list and stays findable by
 *     (dev, ino): a new lookup revives it with the same pipeline file, so a file reopened
 *     quickly never gets a second pipeline file racing the first (I3). Idle inodes are freed
 *     by reap_idle() once their data is durable;
 *   - anything else is freed.
 *
 * Durability of names (DURABILITY.md section 2.3, requirement 27). create, mknod, mkdir,
 * symlink, link and rename record the backing parent directories on the inode ("dentry
 * dirty"); fsync/fsyncdir of that inode fsyncs them in the handler before waiting for the
 * data, so the flusher thread is never blocked by a directory sync.
 *
 * Replies from other threads. FSYNC and O_SYNC/O_DSYNC WRITE start pipeline_wait_async() and
 * return; the callback replies from the flusher thread (fact 8). Callbacks only reply: they
 * take no fs lock and make no pipeline call.
 *
 * Locks. fs->lock protects the table, every inode's nlookup/nopen/nref/keep and the idle
 * list. i->lock serializes attaching a pipeline file and protects the name, the dentry-dirty
 * list and dentry_err. Order: i->lock before fs->lock; pipeline locks are innermost
 * (pipeline_file_stat() is called under fs->lock). No lock is held across a reply.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include "fs.h"
#include "fs_chan.h"
#include "fs_ctl.h"

#define FS_NAME_LEN		64	/* last name of an inode, for messages (truncated) */
#define FS_DIRTY_PARENTS	4	/* parents remembered per inode; beyond: syncfs */
/*
 * Largest WRITE: 1 MiB less a page, so that libfuse's request buffer (max_write plus a 4 KiB
 * header) is exactly 1 MiB and fits the pipe a WRITE is spliced into without CAP_SYS_RESOURCE
 * (fs.pipe-max-size, 1 MiB by default); with a full 1 MiB every request would be read(2)
 * into the buffer and copied again (fs_op_write_buf).
 */
#define FS_MAX_WRITE		((1u << 20) - (4u << 10))
#define FS_BLKSIZE_MAX		(1u << 20)	/* st_blksize: the chunk size, at most this */
/*
 * Largest READ answered by splicing: libfuse needs a pipe of the reply plus 16 KiB, and
 * without CAP_SYS_RESOURCE a pipe is at most fs.pipe-max-size (1 MiB by default); a larger
 * reply makes libfuse fall back to a fresh 1 MiB mapping per READ, which is slower than
 * our own pread path. The mount's read-ahead is set to this (fs_main.c), so the kernel's
 * READs fit.
 */
#define FS_SPLICE_MAX		((1u << 20) - (16u << 10))
#define FS_IDLE_REAP		16	/* idle inodes checked per FORGET/RELEASE */

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t), "fuse_ino_t must hold a pointer");

struct fs_inode {
	/* immutable after creation */
	dev_t dev;
	ino_t ino;
	mode_t type;			/* S_IFMT bits */
	int fd;				/* O_PATH | O_NOFOLLOW */

	/* protected by fs->lock */
	struct fs_inode *hnext;		/* hash chain */
	struct fs_inode *inext;		/* idle list */
	struct fs_inode *iprev;
	bool idle;
	bool keep;			/* sticky error seen: never freed before unmount */
	bool unlinked;			/* backing link count reached 0 through our unlink */
	uint64_t nlookup;
	uint64_t nopen;
	uint64_t nref;

	pthread_mutex_t lock;
	/* Published with release after the pipeline file is complete; loaded with acquire. */
	_Atomic(struct pipeline_file *) pf;
	atomic_int pf_rdonly;		/* the published pf was opened O_RDONLY */
	struct pipeline_file *pf_retired;	/* protected by lock */
	char name[FS_NAME_LEN];		/* protected by lock */
	/* The name the kernel last reached it by, for fs_reclaim_pick(); written under lock
	 * (dent_parent atomically, so that the reclaim can read it under fs->lock alone).
	 * Not maintained for the root. */
	_Atomic fuse_ino_t dent_parent;
	char *dent_name;
	uint64_t stamp;			/* protected by fs->lock: fs->lookups at the last lookup */
	struct fs_inode *dparents[FS_DIRTY_PARENTS];	/* protected by lock; each holds nref */
	int ndparents;			/* protected by lock */
	bool dparents_overflow;		/* protected by lock: syncfs needed */
	int dentry_err;			/* protected by lock: sticky parent fsync failure */

	atomic_bool meta_dirty;		/* mode/owner/times/links changed since the last fsync */
	/* Backing ctime (ns) of our latest status change: the least ctime stat_fix() shows. */
	_Atomic int64_t ctime_floor;
	atomic_int nwopen;		/* open descriptors with write access (relaxed) */
	atomic_bool err_logged;		/* relaxed: only limits logging to once */
};

struct fs_dir {
	DIR *dp;
	struct dirent *entry;		/* read but not yet returned */
	off_t offset;
	struct fs_dir *prev, *next;	/* fs->dirs, under fs->lock */
};

/* Unlinks @d from fs->dirs and frees it. */
static void dir_free(struct fs *fs, struct fs_dir *d)
{
	pthread_mutex_lock(&fs->lock);
	if (d->prev)
		d->prev->next = d->next;
	else
		fs->dirs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	pthread_mutex_unlock(&fs->lock);
	closedir(d->dp);
	free(d);
}

/* Context of an asynchronous durability wait; freed by the callback. */
struct fs_wait {
	fuse_req_t req;
	size_t count;			/* WRITE: bytes to acknowledge */
	bool is_write;
};

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_inode *ino_get(struct fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return fs->root;
	return (struct fs_inode *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct fs *fs, struct fs_inode *i)
{
	return i == fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

static void fd_name(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "%d", fd);
}

static bool is_hidden(fuse_ino_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && strcmp(name, STORE_SB_NAME) == 0;
}

static void inode_name(struct fs_inode *i, char *buf, size_t len)
{
	pthread_mutex_lock(&i->lock);
	snprintf(buf, len, "%s", i->name);
	pthread_mutex_unlock(&i->lock);
}

/*
 * Records @name in @dir as the inode's name (for messages, and for fs_reclaim_pick()). Out
 * of memory for the long copy only leaves the previous one, which at worst names an entry
 * that is gone: invalidating it drops nothing.
 */
static void inode_set_name(struct fs *fs, struct fs_inode *i, struct fs_inode *dir,
			   const char *name)
{
	char *dup = NULL;

	pthread_mutex_lock(&i->lock);
	snprintf(i->name, sizeof(i->name), "%s", name);
	atomic_store_explicit(&i->dent_parent, ino_of(fs, dir), memory_order_relaxed);
	if (!i->dent_name || strcmp(i->dent_name, name) != 0) {
		dup = strdup(name);
		if (dup) {
			free(i->dent_name);
			i->dent_name = dup;
		}
	}
	pthread_mutex_unlock(&i->lock);
}

static struct pipeline_file *inode_pf(struct fs_inode *i)
{
	return atomic_load_explicit(&i->pf, memory_order_acquire);
}

static int fs_check_writable(struct fs *fs)
{
	return atomic_load_explicit(&fs->readonly, memory_order_relaxed) ? -EROFS : 0;
}

/*
 * A backing namespace or directory operation failed. EIO and EROFS mean the backing store
 * can no longer be trusted with metadata: with errors=remount-ro every later mutation gets
 * EROFS (DURABILITY.md section 3 item 8). Returns @err (a positive errno).
 */
static int meta_error(struct fs *fs, const char *op, const char *name, int err)
{
	if (err != EIO && err != EROFS)
		return err;
	if (!atomic_exchange_explicit(&fs->meta_failed, 1, memory_order_relaxed))
		fs_log(LOG_ERR, "metadata failure: %s %s: %s", op, name, strerror(err));
	if (fs->opts.errors == FS_ERRORS_REMOUNT_RO &&
	    !atomic_exchange_explicit(&fs->readonly, 1, memory_order_relaxed))
		fs_log(LOG_ERR, "%s: %s failed (%s); errors=remount-ro: the mount is read-only "
		       "from now on", name, op, strerror(err));
	return err;
}

/*
 * The daemon holds a descriptor per inode the kernel caches (two once the file was opened),
 * so a big tree can exhaust RLIMIT_NOFILE (fs_main.c raises it as far as it may). The caller
 * gets EMFILE/ENFILE; the log says why, once per mount. Returns @e.
 */
static int fd_shortage(int e)
{
	static atomic_bool said;
	struct rlimit rl;

	if ((e == -EMFILE || e == -ENFILE) && !atomic_exchange(&said, true)) {
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = 0;
		fs_log(LOG_WARNING, "warning: out of file descriptors (%s, limit %llu): frozenfs holds "
		       "one or two per file the kernel caches; raise the daemon's limit (ulimit -n, "
		       "or LimitNOFILE=) or drop the kernel's caches", e == -EMFILE ?
		       "EMFILE" : "ENFILE", (unsigned long long)rl.rlim_cur);
	}
	return e;
}

/*
 * A file's data could not be made durable (@rc < 0). EROFS from below means the backing
 * store no longer takes changes at all, even when a data write-out hit it first: a
 * metadata failure (DURABILITY.md section 3 item 8). Returns @rc. Takes no lock.
 */
static int data_error(struct fs *fs, int rc)
{
	if (rc == -EROFS)
		meta_error(fs, "data write-out", "(backing store)", EROFS);
	return rc;
}

static void log_sticky(struct fs_inode *i, struct pipeline_file *pf)
{
	struct err_detail d;
	char name[FS_NAME_LEN];
	char msg[ERR_PATH_MAX + 128];

	if (atomic_exchange_explicit(&i->err_logged, true, memory_order_relaxed))
		return;
	if (!pipeline_file_error(pf, &d))
		return;
	inode_name(i, name, sizeof(name));
	if (d.code)
		err_format(&d, msg, sizeof(msg));
	else
		snprintf(msg, sizeof(msg), "%s", strerror(EIO));
	fs_log(LOG_ERR, "%s: data could not be made durable: %s", name, msg);
}

/* ---- inode table ------------------------------------------------------------------------- */

static size_t hash_key(dev_t dev, ino_t ino, size_t nb)
{
	uint64_t x = (uint64_t)ino ^ ((uint64_t)dev << 32) ^ ((uint64_t)dev >> 32);

	x *= 0x9e3779b97f4a7c15ull;
	return (size_t)(x >> 32) & (nb - 1);
}

/* fs->lock held. */
static struct fs_inode *table_find(struct fs *fs, dev_t dev, ino_t ino)
{
	struct fs_inode *i;

	for (i = fs->buckets[hash_key(dev, ino, fs->nbuckets)]; i; i = i->hnext)
		if (i->dev == dev && i->ino == ino)
			return i;
	return NULL;
}

/* fs->lock held. Growing is best effort: a failed allocation keeps longer chains. */
static void table_insert(struct fs *fs, struct fs_inode *i)
{
	size_t h;

	if (fs->ninodes >= fs->nbuckets * 2) {
		size_t nb = fs->nbuckets * 2, k;
		struct fs_inode **b = calloc(nb, sizeof(*b));

		if (b) {
			for (k = 0; k < fs->nbuckets; k++) {
				struct fs_inode *n, *next;

				for (n = fs->buckets[k]; n; n = next) {
					next = n->hnext;
					h = hash_key(n->dev, n->ino, nb);
					n->hnext = b[h];
					b[h] = n;
				}
			}
			free(fs->buckets);
			fs->buckets = b;
			fs->nbuckets = nb;
		}
	}
	h = hash_key(i->dev, i->ino, fs->nbuckets);
	i->hnext = fs->buckets[h];
	fs->buckets[h] = i;
	fs->ninodes++;
}

/* fs->lock held. */
static void table_remove(struct fs *fs, struct fs_inode *i)
{
	struct fs_inode **pp = &fs->buckets[hash_key(i->dev, i->ino, fs->nbuckets)];

	while (*pp && *pp != i)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = i->hnext;
		fs->ninodes--;
	}
}

/* fs->lock held. */
static void idle_add(struct fs *fs, struct fs_inode *i)
{
	if (i->idle)
		return;
	i->idle = true;
	i->iprev = NULL;
	i->inext = fs->idle;
	if (fs->idle)
		fs->idle->iprev = i;
	fs->idle = i;
}

/* fs->lock held. */
static void idle_del(struct fs *fs, struct fs_inode *i)
{
	if (!i->idle)
		return;
	if (i->iprev)
		i->iprev->inext = i->inext;
	else
		fs->idle = i->inext;
	if (i->inext)
		i->inext->iprev = i->iprev;
	i->idle = false;
	i->inext = i->iprev = NULL;
}

static struct fs_inode *inode_alloc(int fd, const struct stat *st, const char *name)
{
	struct fs_inode *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	i->dev = st->st_dev;
	i->ino = st->st_ino;
	i->type = st->st_mode & S_IFMT;
	i->fd = fd;
	pthread_mutex_init(&i->lock, NULL);
	atomic_init(&i->pf, NULL);
	atomic_init(&i->pf_rdonly, 0);
	atomic_init(&i->meta_dirty, false);
	atomic_init(&i->ctime_floor, 0);
	atomic_init(&i->err_logged, false);
	snprintf(i->name, sizeof(i->name), "%s", name);
	return i;
}

/* Frees an inode already out of the table; drops its parent references. No lock held. */
static void inode_drop(struct fs *fs, struct fs_inode *i, uint64_t nlookup, uint64_t nopen,
		       uint64_t nref);

static void inode_free(struct fs *fs, struct fs_inode *i)
{
	struct pipeline_file *pf = inode_pf(i);
	int k;

	pipeline_file_put(pf);
	free(i->dent_name);
	pipeline_file_put(i->pf_retired);
	if (i->fd >= 0)
		close(i->fd);
	pthread_mutex_lock(&fs->lock);
	if (fs->fd_waiters)
		pthread_cond_broadcast(&fs->freed);	/* see fd_relief() */
	pthread_mutex_unlock(&fs->lock);
	if (i->unlinked) {
		/* Its blocks are free now (unless the pipeline still holds a failed file). */
		pthread_mutex_lock(&fs->lock);
		fs->nunlinked--;
		pthread_cond_broadcast(&fs->freed);
		pthread_mutex_unlock(&fs->lock);
	}
	for (k = 0; k < i->ndparents; k++)
		inode_drop(fs, i->dparents[k], 0, 0, 1);
	pthread_mutex_destroy(&i->lock);
	free(i);
}

enum { KEEP, FREE };

/*
 * fs->lock held, @i unreferenced. Decides what happens to it (see Lifetime above) and, for
 * FREE, unlinks it from the table and the idle list.
 */
static int inode_settle(struct fs *fs, struct fs_inode *i)
{
	struct pipeline_file *pf = inode_pf(i);

	if (i == fs->root || i->keep)
		return KEEP;
	if (pf) {
		struct pipeline_file_stat ps;

		/*
		 * Unlinked and closed: nobody can reach its data any more, so queued writes are
		 * dropped and a sticky error is cleared (DURABILITY.md 2.3, section 3 item 7).
		 */
		if (i->unlinked)
			pipeline_file_discard(pf);
		pipeline_file_stat(pf, &ps);
		/*
		 * A failed file keeps its state until remount, or until it is unlinked and
		 * closed (DURABILITY.md section 3 item 7).
		 */
		if (ps.error && !i->unlinked) {
			i->keep = true;
			idle_del(fs, i);
			return KEEP;
		}
		if (!ps.error && (ps.queued_chunks || ps.durable_ticket < ps.ticket)) {
			idle_add(fs, i);
			return KEEP;
		}
	}
	idle_del(fs, i);
	table_remove(fs, i);
	return FREE;
}

static void inode_drop(struct fs *fs, struct fs_inode *i, uint64_t nlookup, uint64_t nopen,
		       uint64_t nref)
{
	int verdict = KEEP;

	if (!i)
		return;
	pthread_mutex_lock(&fs->lock);
	i->nlookup -= nlookup < i->nlookup ? nlookup : i->nlookup;
	i->nopen -= nopen < i->nopen ? nopen : i->nopen;
	i->nref -= nref < i->nref ? nref : i->nref;
	if (!i->nlookup && !i->nopen && !i->nref)
		verdict = inode_settle(fs, i);
	pthread_mutex_unlock(&fs->lock);
	if (verdict == FREE)
		inode_free(fs, i);
}

/* Frees up to @max idle inodes whose data has become durable. */
static void reap_idle(struct fs *fs, int max)
{
	struct fs_inode *i, *next, *dead = NULL;

	pthread_mutex_lock(&fs->lock);
	for (i = fs->idle; i && max > 0; i = next, max--) {
		next = i->inext;
		if (i->nlookup || i->nopen || i->nref) {
			idle_del(fs, i);	/* revived; settled again when dropped */
			continue;
		}
		if (inode_settle(fs, i) == FREE) {
			i->inext = dead;
			dead = i;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	for (i = dead; i; i = next) {
		next = i->inext;
		inode_free(fs, i);
	}
}

/*
 * Out of descriptors (@e is -EMFILE or -ENFILE): most are likely held by files the kernel
 * has forgotten whose data is not durable yet (they keep their chunk file until it is).
 * Makes everything durable, frees those inodes and wakes the reclaim thread, so the caller
 * can try once more. An emergency path: it parks this worker for a sync of everything.
 * Returns false (nothing done) for any other error.
 */
static bool fd_relief(struct fs *fs, int e)
{
	if (e != -EMFILE && e != -ENFILE)
		return false;
	pthread_mutex_lock(&fs->lock);
	if (fs->reclaim_high)
		pthread_cond_signal(&fs->reclaim_cv);
	pthread_mutex_unlock(&fs->lock);
	pipeline_sync_all(fs->pipe);	/* a file's own failure stays with the file */
	reap_idle(fs, INT_MAX);
	/*
	 * And give the FORGETs of names already invalidated a moment to arrive. Bounded: the
	 * reclaim thread may itself wait for the directory lock the kernel holds for us.
	 */
	pthread_mutex_lock(&fs->lock);
	if (fs->reclaim_high && fs_fd_pressure(fs) > fs->reclaim_high) {
		struct timespec ts;

		fs_deadline_in(&ts, 200);
		fs->fd_waiters++;
		while (fs_fd_pressure(fs) > fs->reclaim_high &&
		       pthread_cond_timedwait(&fs->freed, &fs->lock, &ts) == 0)
			;
		fs->fd_waiters--;
	}
	pthread_mutex_unlock(&fs->lock);
	return true;
}

void fs_reclaim_reap(struct fs *fs)
{
	bool any;

	pthread_mutex_lock(&fs->lock);
	any = fs->idle != NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!any)
		return;
	pipeline_sync_all(fs->pipe);
	reap_idle(fs, INT_MAX);
}

size_t fs_fd_pressure(struct fs *fs)
{
	return fs->ninodes + (fs->pipe ? pipeline_file_count(fs->pipe) : 0);
}

/* Past the reclaim thread's high watermark (fs_reclaim.h). */
static bool over_fd_budget(struct fs *fs)
{
	bool over;

	pthread_mutex_lock(&fs->lock);
	over = fs->reclaim_high && fs_fd_pressure(fs) > fs->reclaim_high;
	pthread_mutex_unlock(&fs->lock);
	return over;
}

/*
 * Finds or creates the inode for backing fd @fd (O_PATH, consumed) with attributes @st and
 * takes one lookup reference. Returns it, or NULL (ENOMEM).
 */
static struct fs_inode *inode_get(struct fs *fs, int fd, const struct stat *st,
				  struct fs_inode *dir, const char *name)
{
	struct fs_inode *i, *fresh = NULL;

	for (;;) {
		pthread_mutex_lock(&fs->lock);
		i = table_find(fs, st->st_dev, st->st_ino);
		if (i) {
			i->nlookup++;
			i->stamp = ++fs->lookups;
			idle_del(fs, i);
			pthread_mutex_unlock(&fs->lock);
			close(fd);
			if (fresh) {
				fresh->fd = -1;
				inode_free(fs, fresh);
			}
			inode_set_name(fs, i, dir, name);
			return i;
		}
		if (fresh) {
			fresh->nlookup = 1;
			fresh->stamp = ++fs->lookups;
			table_insert(fs, fresh);
			if (fs->reclaim_high && fs_fd_pressure(fs) > fs->reclaim_high)
				pthread_cond_signal(&fs->reclaim_cv);
			pthread_mutex_unlock(&fs->lock);
			inode_set_name(fs, fresh, dir, name);
			return fresh;
		}
		pthread_mutex_unlock(&fs->lock);
		/* Allocate unlocked, then look again: another thread may have won. */
		fresh = inode_alloc(fd, st, name);
		if (!fresh) {
			close(fd);
			return NULL;
		}
	}
}

/* Takes an nref on the inode of (@dev, @ino) if it is in the table; NULL if not. */
static struct fs_inode *inode_pin(struct fs *fs, dev_t dev, ino_t ino)
{
	struct fs_inode *i;

	pthread_mutex_lock(&fs->lock);
	i = table_find(fs, dev, ino);
	if (i)
		i->nref++;
	pthread_mutex_unlock(&fs->lock);
	return i;
}

struct reclaim_cand {
	uint64_t stamp;
	struct fs_inode *i;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct reclaim_cand *x = a, *y = b;

	return x->stamp < y->stamp ? -1 : x->stamp > y->stamp;
}

/* @skip is sorted by inode number (fs_file_id_sort()): a binary search, then the equals. */
static bool in_skip(const struct fs_inode *i, const struct fs_file_id *skip, size_t nskip)
{
	size_t lo = 0, hi = nskip;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (skip[mid].ino < i->ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < nskip && skip[lo].ino == i->ino; lo++)
		if (skip[lo].dev == i->dev || skip[lo].dev == FS_DEV_ANY)
			return true;
	return false;
}

static int ino_cmp(const void *a, const void *b)
{
	fuse_ino_t x = *(const fuse_ino_t *)a, y = *(const fuse_ino_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * fs->lock held. The sorted node ids of the directories that are the parent of a name the
 * kernel caches (into @out, room for fs->ninodes); returns how many. A directory that is
 * not among them is a leaf of the kernel's cached tree: invalidating it drops no cached
 * name below it and detaches no mount below it.
 */
static size_t cached_parents(struct fs *fs, fuse_ino_t *out)
{
	size_t n = 0, k;

	for (k = 0; k < fs->nbuckets; k++)
		for (struct fs_inode *i = fs->buckets[k]; i; i = i->hnext)
			if (i->nlookup && n < fs->ninodes)
				out[n++] = atomic_load_explicit(&i->dent_parent,
								memory_order_relaxed);
	qsort(out, n, sizeof(*out), ino_cmp);
	return n;
}

size_t fs_reclaim_pick(struct fs *fs, struct fs_dentry_ref *out, size_t max,
		       const struct fs_file_id *skip, size_t nskip)
{
	struct reclaim_cand *c;
	struct fs_inode *i;
	fuse_ino_t *parents, id;
	size_t n = 0, k, got = 0, np;

	pthread_mutex_lock(&fs->lock);
	c = malloc((fs->ninodes + 1) * sizeof(*c));
	parents = malloc((fs->ninodes + 1) * sizeof(*parents));
	if (!c || !parents) {
		pthread_mutex_unlock(&fs->lock);
		free(c);
		free(parents);
		return 0;
	}
	np = cached_parents(fs, parents);
	for (k = 0; k < fs->nbuckets; k++)
		for (i = fs->buckets[k]; i; i = i->hnext) {
			if (i == fs->root || !i->nlookup || i->nopen || i->keep || i->idle ||
			    n > fs->ninodes || in_skip(i, skip, nskip))
				continue;
			id = ino_of(fs, i);
			if (S_ISDIR(i->type) &&
			    bsearch(&id, parents, np, sizeof(*parents), ino_cmp))
				continue;
			c[n++] = (struct reclaim_cand){ i->stamp, i };
		}
	free(parents);
	qsort(c, n, sizeof(*c), cand_cmp);
	if (n > max)
		n = max;
	for (k = 0; k < n; k++) {
		c[k].i->nref++;		/* pinned while its name is copied */
		/* To the back of the line: a name the kernel no longer caches, or a FORGET
		 * still on its way, must not be picked again before everything else. */
		c[k].i->stamp = ++fs->lookups;
	}
	pthread_mutex_unlock(&fs->lock);
	for (k = 0; k < n; k++) {
		i = c[k].i;
		pthread_mutex_lock(&i->lock);
		if (i->dent_name && strlen(i->dent_name) < sizeof(out[got].name)) {
			out[got].parent = atomic_load_explicit(&i->dent_parent,
							       memory_order_relaxed);
			strcpy(out[got].name, i->dent_name);
			got++;
		}
		pthread_mutex_unlock(&i->lock);
		inode_drop(fs, i, 0, 0, 1);
	}
	free(c);
	return got;
}

int fs_inodes_init(struct fs *fs)
{
	struct stat st;
	int fd;

	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->freed, NULL);
	fs->nbuckets = 1024;
	fs->buckets = calloc(fs->nbuckets, sizeof(*fs->buckets));
	if (!fs->buckets)
		return -ENOMEM;
	fd = openat(store_dirfd(fs->store), ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	fs->root = inode_alloc(fd, &st, "/");
	if (!fs->root) {
		close(fd);
		return -ENOMEM;
	}
	fs->root->nlookup = 1;
	table_insert(fs, fs->root);
	return 0;
}

int fs_inodes_fini(struct fs *fs)
{
	size_t k;
	int failed = 0;

	if (!fs->buckets)
		return 0;
	/* RELEASEDIRs the kernel had queued when the mount went away (they are dropped). */
	while (fs->dirs)
		dir_free(fs, fs->dirs);
	for (k = 0; k < fs->nbuckets; k++) {
		struct fs_inode *i, *next;

		for (i = fs->buckets[k]; i; i = next) {
			struct pipeline_file *pf = inode_pf(i);

			next = i->hnext;
			if (pf && pipeline_file_error(pf, NULL)) {
				atomic_store_explicit(&i->err_logged, false, memory_order_relaxed);
				log_sticky(i, pf);
				failed++;
			}
			/* Parents are freed by this loop too: forget the references. */
			i->ndparents = 0;
			inode_free(fs, i);
		}
	}
	free(fs->buckets);
	fs->buckets = NULL;
	fs->root = NULL;
	pthread_cond_destroy(&fs->freed);
	pthread_mutex_destroy(&fs->lock);
	return failed;
}

/* ---- pipeline files ---------------------------------------------------------------------- */

/*
 * Returns the inode's pipeline file, attaching one if needed. @need_write asks for one whose
 * backing fd is writable (-EACCES/-EROFS if that cannot be had). @fd, if >= 0, is an O_RDWR
 * fd of the backing file to use (consumed).
 */
static int inode_attach(struct fs *fs, struct fs_inode *i, bool need_write, int fd,
			struct pipeline_file **out)
{
	struct pipeline_file *pf = inode_pf(i), *old;
	struct chunk_file *cf;
	char buf[32];
	int rdonly = 0, rc;

	if (pf && !need_write && fd < 0) {
		*out = pf;
		return 0;
	}
	if (!S_ISREG(i->type)) {
		if (fd >= 0)
			close(fd);
		return S_ISDIR(i->type) ? -EISDIR : -EINVAL;
	}
	pthread_mutex_lock(&i->lock);
	old = inode_pf(i);
	if (old && !(need_write && atomic_load_explicit(&i->pf_rdonly, memory_order_relaxed))) {
		pthread_mutex_unlock(&i->lock);
		if (fd >= 0)
			close(fd);
		*out = old;
		return 0;
	}
	if (fd < 0) {
		fd_name(buf, sizeof(buf), i->fd);
		/* Never O_APPEND/O_TRUNC/O_DIRECT/O_SYNC: DURABILITY.md requirement 6. */
		fd = openat(fs->proc_fd, buf, O_RDWR | O_CLOEXEC);
		if (fd < 0 && fd_relief(fs, -errno))
			fd = openat(fs->proc_fd, buf, O_RDWR | O_CLOEXEC);
		if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM) &&
		    !need_write) {
			fd = openat(fs->proc_fd, buf, O_RDONLY | O_CLOEXEC);
			rdonly = 1;
		}
		if (fd < 0) {
			rc = fd_shortage(-errno);
			pthread_mutex_unlock(&i->lock);
			return rc;
		}
	}
	rc = chunk_file_adopt(fs->io, fd, i->name, fs->chunk_size, 0, &cf);
	if (rc < 0) {
		close(fd);
		pthread_mutex_unlock(&i->lock);
		return rc;
	}
	rc = pipeline_file_attach(fs->pipe, cf, &pf);
	if (rc < 0) {
		chunk_file_close(cf);
		pthread_mutex_unlock(&i->lock);
		return rc;
	}
	if (old) {
		/* A read-only predecessor has nothing queued; readers may still use it. */
		pipeline_file_put(i->pf_retired);
		i->pf_retired = old;
	}
	atomic_store_explicit(&i->pf_rdonly, rdonly, memory_order_relaxed);
	atomic_store_explicit(&i->pf, pf, memory_order_release);
	pthread_mutex_unlock(&i->lock);
	*out = pf;
	return 0;
}

/* ---- attributes -------------------------------------------------------------------------- */

static bool ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/*
 * Records the backing ctime a status change of ours (chmod, chown, utimens, xattr, link,
 * rename, unlink) has just stamped. stat_fix() hides ctimes inside the latest write-out's
 * window; one of these may fall inside it too (a chmod just before a timer write-out, or in
 * the same coarse-clock tick), and must not be hidden behind an older mtime.
 */
static void ctime_note(struct fs_inode *i)
{
	struct stat st;
	int64_t ns, old;

	/* Only regular files have write-outs (and stat_fix() reads it only for them). */
	if (!i || !S_ISREG(i->type) ||
	    fstatat(i->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return;
	ns = ts_ns(&st.st_ctim);
	old = atomic_load_explicit(&i->ctime_floor, memory_order_relaxed);
	while (old < ns && !atomic_compare_exchange_weak_explicit(&i->ctime_floor, &old, ns,
								     memory_order_relaxed,
								     memory_order_relaxed))
		;
}

/* A status change: the next fsync must sync the inode, and stat_fix() must show its ctime. */
static void meta_changed(struct fs_inode *i)
{
	atomic_store_explicit(&i->meta_dirty, true, memory_order_relaxed);
	ctime_note(i);
}

/*
 * The ctime stat shows for a backing ctime @c. Our own write-outs stamp the backing ctime
 * with the flush time; requirement 37 wants the time of the call. So a backing ctime inside
 * the latest write-out's window becomes the latest data change (a write, truncate or
 * fallocate), or our latest status change if that came later (ctime_note()); and a data
 * change still queued, later than the backing ctime, shows. An explicit mtime (utimens) is
 * not a change time: touch -d of a future date leaves the ctime at the call, as on ext4.
 */
static void ctime_fix(struct fs_inode *i, const struct pipeline_file_stat *ps,
		      struct timespec *c)
{
	bool changed = ps->ctime.tv_nsec != UTIME_OMIT;

	if (ps->flush_window && !ts_after(&ps->flush_t0, c) && !ts_after(c, &ps->flush_t1)) {
		int64_t floor = atomic_load_explicit(&i->ctime_floor, memory_order_relaxed);

		if (changed && ts_ns(&ps->ctime) >= floor) {
			*c = ps->ctime;
		} else if (floor) {
			c->tv_sec = (time_t)(floor / 1000000000);
			c->tv_nsec = (long)(floor % 1000000000);
		}
	}
	if (changed && ts_after(&ps->ctime, c))
		*c = ps->ctime;
}

/*
 * Overrides what the backing fstat cannot know yet: size and mtime including queued
 * operations (DURABILITY.md fact 6, requirement 32) and the blocks they will take.
 */
static void stat_fix(struct fs *fs, struct fs_inode *i, struct stat *st)
{
	struct pipeline_file *pf = inode_pf(i);

	if (pf && S_ISREG(st->st_mode)) {
		struct pipeline_file_stat ps;
		blkcnt_t q;

		pipeline_file_stat(pf, &ps);
		st->st_size = (off_t)ps.size;
		if (ps.mtime.tv_nsec != UTIME_OMIT)
			st->st_mtim = ps.mtime;
		ctime_fix(i, &ps, &st->st_ctim);
		/*
		 * pipeline_write() reserves the chunks of an extending write in the backing
		 * file at once (fallocate KEEP_SIZE), so the backing count usually includes
		 * queued chunks already: adding them again would count them twice. Report at
		 * least the queued chunks (requirement 36), which covers a backing FS that
		 * cannot reserve.
		 */
		q = (blkcnt_t)(ps.queued_chunks * (fs->chunk_size / 512));
		if (st->st_blocks < q)
			st->st_blocks = q;
	}
	st->st_blksize = (blksize_t)(fs->chunk_size < FS_BLKSIZE_MAX ? fs->chunk_size
								      : FS_BLKSIZE_MAX);
}

static int inode_stat(struct fs *fs, struct fs_inode *i, struct stat *st)
{
	if (fstatat(i->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	stat_fix(fs, i, st);
	return 0;
}

static void entry_fill(struct fs *fs, struct fs_inode *i, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(fs, i);
	e->attr = *st;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
}

/* Opens @name in @parent as O_PATH and stats it. Returns 0 or -errno. */
static int open_path(struct fs *fs, struct fs_inode *parent, const char *name, int *fd,
		     struct stat *st)
{
	*fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0 && fd_relief(fs, -errno))
		*fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return fd_shortage(-errno);
	if (fstatat(*fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int e = -errno;

		close(*fd);
		return e;
	}
	return 0;
}

/* Looks up @name in @parent and takes a lookup reference on the result. */
static int do_lookup(struct fs *fs, struct fs_inode *parent, const char *name,
		     struct fuse_entry_param *e, struct fs_inode **out)
{
	struct fs_inode *i;
	struct stat st;
	int fd, rc;

	rc = open_path(fs, parent, name, &fd, &st);
	if (rc < 0)
		return rc;
	i = inode_get(fs, fd, &st, parent, name);
	if (!i)
		return -ENOMEM;
	stat_fix(fs, i, &st);
	entry_fill(fs, i, &st, e);
	if (out)
		*out = i;
	return 0;
}

/* ---- names and their durability ---------------------------------------------------------- */

/* Records @dir as a backing directory to fsync before an fsync of @i completes. */
static void mark_dentry_dirty(struct fs *fs, struct fs_inode *i, struct fs_inode *dir)
{
	int k;

	pthread_mutex_lock(&i->lock);
	for (k = 0; k < i->ndparents; k++)
		if (i->dparents[k] == dir)
			break;
	if (k == i->ndparents) {
		if (i->ndparents < FS_DIRTY_PARENTS) {
			pthread_mutex_lock(&fs->lock);
			dir->nref++;
			pthread_mutex_unlock(&fs->lock);
			i->dparents[i->ndparents++] = dir;
		} else {
			i->dparents_overflow = true;
		}
	}
	pthread_mutex_unlock(&i->lock);
}

/* *@opened: 0 if the directory could not even be opened (nothing was tried). */
static int fsync_dir_fd(const struct chunk_io *io, int opath_fd, int *opened)
{
	int fd = openat(opath_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	*opened = fd >= 0;
	if (fd < 0)
		return -errno;
	rc = io->fsync(fd);
	close(fd);
	return rc;
}

/*
 * Puts back parents sync_dentry() took but could not sync; each holds an nref, which moves
 * back into the list or is dropped when the list has it already or is full.
 */
static void requeue_dparents(struct fs *fs, struct fs_inode *i, struct fs_inode **dirs, int n,
			     bool overflow)
{
	struct fs_inode *drop[FS_DIRTY_PARENTS];
	int k, j, ndrop = 0;

	pthread_mutex_lock(&i->lock);
	for (k = 0; k < n; k++) {
		for (j = 0; j < i->ndparents && i->dparents[j] != dirs[k]; j++)
			;
		if (j < i->ndparents) {
			drop[ndrop++] = dirs[k];
		} else if (i->ndparents < FS_DIRTY_PARENTS) {
			i->dparents[i->ndparents++] = dirs[k];
		} else {
			i->dparents_overflow = true;
			drop[ndrop++] = dirs[k];
		}
	}
	if (overflow)
		i->dparents_overflow = true;
	pthread_mutex_unlock(&i->lock);
	for (k = 0; k < ndrop; k++)
		inode_drop(fs, drop[k], 0, 0, 1);
}

/*
 * fsyncs the backing parents recorded by mark_dentry_dirty() (DURABILITY.md requirement 27).
 * A failure is sticky for the inode and counts as a metadata failure. Not being able to open
 * a parent at all (EMFILE, ENFILE, ENOMEM: the daemon holds a descriptor per inode the kernel
 * caches) is not a backing failure and nothing was lost: the parents not synced stay recorded
 * for the next fsync, and the caller gets that errno, logged. Runs in the FSYNC
 * handler itself: the kernel holds the inode lock during FSYNC, so two of these never run
 * for one inode at once.
 */
static int sync_dentry(struct fs *fs, struct fs_inode *i)
{
	struct fs_inode *dirs[FS_DIRTY_PARENTS];
	char name[FS_NAME_LEN];
	bool overflow;
	int n, k, j, opened = 1, rc = 0;

	pthread_mutex_lock(&i->lock);
	if (i->dentry_err) {
		rc = i->dentry_err;
		pthread_mutex_unlock(&i->lock);
		return rc;
	}
	n = i->ndparents;
	memcpy(dirs, i->dparents, sizeof(dirs));
	overflow = i->dparents_overflow;
	i->ndparents = 0;
	i->dparents_overflow = false;
	snprintf(name, sizeof(name), "%s", i->name);
	pthread_mutex_unlock(&i->lock);

	if (n == 0 && !overflow)
		return 0;
	if (atomic_load_explicit(&fs->meta_failed, memory_order_relaxed))
		rc = -EIO;	/* its name may be among what failed to persist */
	for (k = 0; k < n && !rc; k++) {
		rc = fsync_dir_fd(fs->io, dirs[k]->fd, &opened);
		if (!opened) {
			fs_log(LOG_ERR, "%s: cannot open its parent directory to fsync it: %s", name,
			       strerror(-rc));
			requeue_dparents(fs, i, dirs + k, n - k, overflow);
			for (j = 0; j < k; j++)
				inode_drop(fs, dirs[j], 0, 0, 1);
			return rc;
		}
	}
	if (!rc && overflow && syncfs(store_dirfd(fs->store)) < 0)
		rc = -errno;
	if (rc) {
		meta_error(fs, "fsync of parent directory of", name, -rc);
		pthread_mutex_lock(&i->lock);
		i->dentry_err = -EIO;
		pthread_mutex_unlock(&i->lock);
		rc = -EIO;
	}
	for (k = 0; k < n; k++)
		inode_drop(fs, dirs[k], 0, 0, 1);
	return rc;
}

/* chmod of the backing node behind @fd (O_PATH), through /proc/self/fd: 0 or -errno. */
static int chmod_fd(struct fs *fs, int fd, mode_t mode)
{
	char buf[32];

	fd_name(buf, sizeof(buf), fd);
	return fchmodat(fs->proc_fd, buf, mode & 07777, 0) < 0 ? -errno : 0;
}

/*
 * The caller's umask, for a node about to be created. The daemon runs with umask 0, and with
 * POSIX ACLs on (FUSE_CAP_POSIX_ACL and FUSE_CAP_DONT_MASK, fs_op_init) the kernel sends the
 * mode without the umask, because POSIX says a parent's default ACL replaces the umask. The
 * backing filesystem makes that choice when the node is created, from its own parent's
 * default ACL and the creating thread's umask, so the worker thread takes a umask of its own
 * (unshare(CLONE_FS), once per thread) and sets the caller's for the one create call. If it
 * cannot, the umask is applied to @mode here, as before ACLs were passed on.
 */
static mode_t umask_begin(fuse_req_t req, mode_t mode)
{
	static _Thread_local int own;	/* 0 not tried, 1 own umask, -1 unshare failed */
	mode_t um = fuse_req_ctx(req)->umask & 0777;

	if (own == 0)
		own = unshare(CLONE_FS) == 0 ? 1 : -1;
	if (own < 0)
		return mode & ~um;
	umask(um);
	return mode;
}

/* After the create call: the thread's umask back to the daemon's 0. */
static void umask_end(void)
{
	umask(0);
}

/*
 * As root (allow_other), a new node belongs to the caller, not to the daemon. The group is
 * the caller's unless the parent is set-group-ID (then the backing FS already chose it).
 */
static int set_owner(fuse_req_t req, struct fs *fs, struct fs_inode *parent, int fd,
		     mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat pst, st;
	gid_t gid;

	if (!fs->as_root || (ctx->uid == 0 && ctx->gid == 0))
		return 0;
	gid = ctx->gid;
	if (fstatat(parent->fd, "", &pst, AT_EMPTY_PATH) == 0 && (pst.st_mode & S_ISGID))
		gid = (gid_t)-1;
	/* The mode as created (umask or default ACL applied), to restore after the chown. */
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (fchownat(fd, "", ctx->uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	/* chown clears set-user/group-ID bits on non-directories; put back what was created. */
	if ((st.st_mode & (S_ISUID | S_ISGID)) && !S_ISDIR(mode) && !S_ISLNK(mode))
		return chmod_fd(fs, fd, st.st_mode);
	return 0;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/*
	 * Write-only opens bypass the mount's page cache (FOPEN_DIRECT_IO): the writer's pages
	 * go to the request as they are, where a cached write first copies them into page
	 * cache pages of the mount, a copy into memory that is new to the VM and costs as much
	 * as the backing file's own (dd 1 GiB conv=fsync: 400-500 -> 680-740 MB/s). A
	 * write-only descriptor can neither read nor map the file, so nothing is lost, provided
	 * the kernel drops the cached pages of other descriptors that a direct write overwrites:
	 * Linux 6.6 does ("fuse: invalidate page cache pages before direct write", merged with
	 * protocol 7.39), 6.1 does not, and there readers could see stale data.
	 */
	fs->wronly_direct = conn->proto_major > 7 ||
			    (conn->proto_major == 7 && conn->proto_minor >= 39);
	/* Write-through only: DURABILITY.md fact 4 and requirement 2. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* No flock/getlk/setlk handlers: the kernel keeps locks locally. */
	conn->want &= ~(FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_POSIX_LOCKS);
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/*
	 * POSIX ACLs, as on the backing ext4: the kernel checks access with the ACLs it reads
	 * through getxattr (this turns on default_permissions), and sends modes without the
	 * umask, which the backing filesystem applies at create unless the parent has a default
	 * ACL (umask_begin). Both or neither: ACL checks with the kernel's umask would give a
	 * node in a directory with a default ACL the wrong mask.
	 */
	if (fs->opts.acl) {
		unsigned both = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;

		if ((conn->capable & both) == both)
			conn->want |= both;
		else
			fs_log(LOG_WARNING, "warning: the kernel offers no POSIX ACLs; only modes "
			       "are checked, and only with default_permissions");
	}
	/* READ replies spliced from the backing file (fs_op_read). */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/*
	 * WRITE data spliced from /dev/fuse into a pipe (page references), then read once into
	 * the queued chunk buffer (fs_op_write_buf). libfuse falls back to read(2) for threads
	 * whose pipe cannot grow to a whole request (above pipe-max-size without privilege).
	 */
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	/* libfuse derives max_pages from max_write (1 MiB: 256 pages) and sizes its buffers. */
	conn->max_write = FS_MAX_WRITE;
	/*
	 * max_readahead can only lower the kernel's proposal (the bdi default), so it is left
	 * alone; raising it needs /sys/class/bdi/<dev>/read_ahead_kb after the mount.
	 */
	if (conn->max_background < 64)
		conn->max_background = 64;
	if (conn->congestion_threshold < 48)
		conn->congestion_threshold = 48;
	conn->time_gran = 1;
}

static void fs_op_destroy(void *userdata)
{
	/* The pipeline is drained by main() once the session loop has ended. */
	(void)userdata;
}

/* ---- lookups ------------------------------------------------------------------------------- */

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	int rc;

	if (is_hidden(parent, name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = do_lookup(fs, ino_get(fs, parent), name, &e, NULL);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_entry(req, &e);
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_of(req);

	inode_drop(fs, ino_get(fs, ino), nlookup, 0, 0);
	reap_idle(fs, FS_IDLE_REAP);
	fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);
	size_t k;

	for (k = 0; k < count; k++)
		inode_drop(fs, ino_get(fs, forgets[k].ino), forgets[k].nlookup, 0, 0);
	reap_idle(fs, FS_IDLE_REAP);
	fuse_reply_none(req);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	int rc;

	(void)fi;
	rc = inode_stat(fs, ino_get(fs, ino), &st);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, fs->timeout);
}

static int set_times(struct fs *fs, struct fs_inode *i, const struct stat *attr, int valid)
{
	struct timespec tv[2], now;
	struct pipeline_file *pf;
	char buf[32];
	int r;

	clock_gettime(CLOCK_REALTIME, &now);
	tv[0].tv_sec = tv[1].tv_sec = 0;
	tv[0].tv_nsec = tv[1].tv_nsec = UTIME_OMIT;
	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0] = now;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	/* An explicit "now" so the logical mtime below equals the backing one. */
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1] = now;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (S_ISLNK(i->type)) {
		r = utimensat(i->fd, "", tv, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
		if (r < 0 && errno == EINVAL)
			return -EOPNOTSUPP;
	} else {
		fd_name(buf, sizeof(buf), i->fd);
		r = utimensat(fs->proc_fd, buf, tv, 0);
	}
	if (r < 0)
		return -errno;
	/* Else the flusher would later persist the older logical mtime over this one. */
	pf = inode_pf(i);
	if (pf && tv[1].tv_nsec != UTIME_OMIT)
		pipeline_file_set_mtime(pf, &tv[1]);
	return 0;
}

/* Whether the caller is root or in group @gid (in_group_or_capable() of the kernel). */
static bool caller_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	gid_t small[32], *list = small;
	int n, k;
	bool in = false;

	if (ctx->uid == 0 || ctx->gid == gid)
		return true;
	n = fuse_req_getgroups(req, 32, list);
	if (n > 32) {
		list = malloc((size_t)n * sizeof(*list));
		if (!list)
			return false;
		n = fuse_req_getgroups(req, n, list);
	}
	for (k = 0; k < n && !in; k++)
		in = list[k] == gid;
	if (list != small)
		free(list);
	return in;
}

/*
 * With FUSE_HANDLE_KILLPRIV_V2 (fs_chan.h) the kernel leaves it to frozenfs to clear the
 * set-user-ID bit, and the set-group-ID bit of a group-executable file or of a caller outside
 * the file's group (setattr_should_drop_sgid), when a caller without CAP_FSETID writes or
 * truncates a regular file, as the VFS does. The backing write is made
 * by the daemon, whose own CAP_FSETID would keep the bits. libfuse 3.14 does not pass on the
 * kernel's KILL_SUIDGID flags of WRITE and OPEN, so there a caller other than root counts as
 * lacking CAP_FSETID; SETATTR carries the kernel's own verdict (@force).
 */
static int kill_suidgid(struct fs *fs, struct fs_inode *i, fuse_req_t req, bool force)
{
	struct stat st;
	mode_t kill;
	int rc;

	if (!fs_chan_killpriv() || (!force && fuse_req_ctx(req)->uid == 0))
		return 0;
	if (fstatat(i->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	kill = st.st_mode & S_ISUID;
	if ((st.st_mode & S_ISGID) &&
	    ((st.st_mode & S_IXGRP) || !caller_in_group(req, st.st_gid)))
		kill |= S_ISGID;
	if (!kill || !S_ISREG(st.st_mode))
		return 0;
	rc = chmod_fd(fs, i->fd, st.st_mode & ~kill);
	if (rc < 0)
		return rc;
	meta_changed(i);
	/* The kernel caches the old mode until the attribute timeout: drop it now (attributes
	 * only, a negative offset: no page is touched, so no lock the writer holds is needed). */
	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino_of(fs, i), -1, 0);
	return 0;
}

/* The attributes a SETATTR can change (the rest say which handle or lock owner asks). */
#define FS_SET_ATTR_CHANGES                                                                   \
	(FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE |     \
	 FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |                 \
	 FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
			  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct pipeline_file *pf = NULL;
	struct stat st;
	bool changed = false;	/* a status change: meta_changed() once, error or not */
	int rc = 0;

	(void)fi;	/* truncate is per inode, with or without a handle (fact 7) */
	rc = fs_check_writable(fs);
	if (rc < 0)
		goto out;
	if (!(valid & FS_SET_ATTR_CHANGES)) {
		/*
		 * chown(f, -1, -1): the kernel sends no attribute (it keeps the ctime to itself
		 * without a write-back cache), yet the backing filesystem would set the ctime.
		 */
		if (fchownat(i->fd, "", (uid_t)-1, (gid_t)-1,
			     AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out;
		}
		changed = true;
	}
	if (valid & FUSE_SET_ATTR_MODE) {
		if (S_ISLNK(i->type)) {
			rc = -EOPNOTSUPP;
			goto out;
		}
		rc = chmod_fd(fs, i->fd, attr->st_mode);
		if (rc < 0)
			goto out;
		changed = true;
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t gid = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;

		if (fchownat(i->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			rc = -errno;
			goto out;
		}
		changed = true;
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		/* Through the inode's ordered stream: DURABILITY.md I3, requirement 8. */
		rc = inode_attach(fs, i, true, -1, &pf);
		if (rc == 0 && atomic_load_explicit(&i->pf_rdonly, memory_order_relaxed))
			rc = -EACCES;
		if (rc == 0)
			rc = pipeline_truncate(pf, (uint64_t)attr->st_size, NULL);
		if (rc < 0) {
			if (rc != -EFBIG && pf && pipeline_file_error(pf, NULL))
				log_sticky(i, pf);
			goto out;
		}
		/* FATTR_KILL_SUIDGID, which libfuse 3.14 calls FUSE_SET_ATTR_KILL_SUID. */
		if (!(valid & FUSE_SET_ATTR_MODE)) {
			rc = kill_suidgid(fs, i, req, valid & FUSE_SET_ATTR_KILL_SUID);
			if (rc < 0)
				goto out;
		}
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		     FUSE_SET_ATTR_MTIME_NOW)) {
		rc = set_times(fs, i, attr, valid);
		if (rc < 0)
			goto out;
		changed = true;
	}
out:
	if (changed)
		meta_changed(i);
	if (rc == 0)
		rc = inode_stat(fs, i, &st);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fuse_reply_attr(req, &st, fs->timeout);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	char buf[PATH_MAX + 1];
	ssize_t n;

	n = readlinkat(ino_get(fs, ino)->fd, "", buf, sizeof(buf));
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if ((size_t)n == sizeof(buf)) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- namespace --------------------------------------------------------------------------- */

static struct fs_inode *pin_name(struct fs *fs, struct fs_inode *dir, const char *name,
				 bool *exists);

/* mknod, mkdir and symlink: create, own, look up, remember the parent for fsync. */
/*
 * 0 if @name in @parent may be created or renamed to/from: -EPERM for the hidden superblock
 * name, -EROFS (or the recorded error) when the mount no longer takes changes.
 */
static int check_new_name(struct fs *fs, fuse_ino_t parent, const char *name)
{
	if (is_hidden(parent, name))
		return -EPERM;
	return fs_check_writable(fs);
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev, const char *link)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = ino_get(fs, parent), *i;
	struct fuse_entry_param e;
	struct stat st;
	const char *op;
	int fd, r, rc;

	rc = check_new_name(fs, parent, name);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (link) {
		op = "symlink";
		r = fs->io->symlinkat(link, dir->fd, name);
		mode = S_IFLNK | 0777;
	} else if (S_ISDIR(mode)) {
		op = "mkdir";
		r = fs->io->mkdirat(dir->fd, name, umask_begin(req, mode) & 07777);
		umask_end();
	} else {
		op = "mknod";
		r = fs->io->mknodat(dir->fd, name, umask_begin(req, mode), rdev);
		umask_end();
	}
	if (r < 0) {
		fuse_reply_err(req, meta_error(fs, op, name, -r));
		return;
	}
	rc = open_path(fs, dir, name, &fd, &st);
	if (rc == 0) {
		rc = set_owner(req, fs, dir, fd, mode);
		if (rc == 0 && fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
		if (rc < 0)
			close(fd);
	}
	if (rc < 0) {
		/* Do not leave a node owned by the wrong user behind. */
		fs->io->unlinkat(dir->fd, name, S_ISDIR(mode) ? AT_REMOVEDIR : 0);
		fuse_reply_err(req, -rc);
		return;
	}
	i = inode_get(fs, fd, &st, dir, name);
	if (!i) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	mark_dentry_dirty(fs, i, dir);
	stat_fix(fs, i, &st);
	entry_fill(fs, i, &st, &e);
	if (fuse_reply_entry(req, &e) != 0)
		inode_drop(fs, i, 1, 0, 0);
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			dev_t rdev)
{
	make_node(req, parent, name, mode, rdev, NULL);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	make_node(req, parent, name, S_IFLNK, 0, link);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino), *dir = ino_get(fs, newparent);
	struct fuse_entry_param e;
	struct stat st;
	char buf[32];
	int r, rc;

	rc = check_new_name(fs, newparent, newname);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fs->as_root) {
		r = fs->io->linkat(i->fd, "", dir->fd, newname, AT_EMPTY_PATH);
	} else {
		fd_name(buf, sizeof(buf), i->fd);
		r = fs->io->linkat(fs->proc_fd, buf, dir->fd, newname, AT_SYMLINK_FOLLOW);
	}
	if (r < 0) {
		fuse_reply_err(req, meta_error(fs, "link", newname, -r));
		return;
	}
	meta_changed(i);	/* st_nlink */
	rc = inode_stat(fs, i, &st);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	i->nlookup++;
	i->stamp = ++fs->lookups;
	pthread_mutex_unlock(&fs->lock);
	inode_set_name(fs, i, dir, newname);
	mark_dentry_dirty(fs, i, dir);
	entry_fill(fs, i, &st, &e);
	if (fuse_reply_entry(req, &e) != 0)
		inode_drop(fs, i, 1, 0, 0);
}

/*
 * Deleting a file frees its blocks only when the last backing fd closes, and ours close
 * when the kernel's FORGET arrives, which races with the caller's next request. Record the
 * unlinked inode so that a write failing with ENOSPC can wait for it (wait_unlinked()).
 */
static void note_unlinked(struct fs *fs, struct fs_inode *i)
{
	struct stat st;

	if (!i || fstatat(i->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_nlink != 0)
		return;
	pthread_mutex_lock(&fs->lock);
	if (!i->unlinked) {
		i->unlinked = true;
		fs->nunlinked++;
	}
	pthread_mutex_unlock(&fs->lock);
}

/*
 * After ENOSPC: if unlinked files are still held, give their FORGETs up to 100 ms to
 * release them. Returns 1 if one was freed (worth retrying), else 0.
 */
static int wait_unlinked(struct fs *fs)
{
	struct timespec until;
	unsigned before;
	int freed = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 100 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&fs->lock);
	before = fs->nunlinked;
	while (before && fs->nunlinked >= before) {
		if (pthread_cond_timedwait(&fs->freed, &fs->lock, &until) == ETIMEDOUT)
			break;
	}
	freed = fs->nunlinked < before;
	pthread_mutex_unlock(&fs->lock);
	return freed;
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = ino_get(fs, parent), *victim = NULL;
	bool exists;
	int rc, r;

	if (is_hidden(parent, name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = fs_check_writable(fs);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!flags)
		victim = pin_name(fs, dir, name, &exists);
	r = fs->io->unlinkat(dir->fd, name, flags);
	if (r < 0) {
		rc = meta_error(fs, flags ? "rmdir" : "unlink", name, -r);
	} else {
		note_unlinked(fs, victim);
		ctime_note(victim);	/* a link count that stays above 0 */
		rc = 0;
	}
	inode_drop(fs, victim, 0, 0, 1);
	fuse_reply_err(req, rc);
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, 0);
}

static void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, AT_REMOVEDIR);
}

/* The table's inode for @name in @dir, pinned (nref), or NULL. */
static struct fs_inode *pin_name(struct fs *fs, struct fs_inode *dir, const char *name,
				 bool *exists)
{
	struct stat st;

	if (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		*exists = false;
		return NULL;
	}
	*exists = true;
	return inode_pin(fs, st.st_dev, st.st_ino);
}

/* The whiteout a rename left at @name in @dir belongs to the caller, as a node it made. */
static void whiteout_owner(fuse_req_t req, struct fs *fs, struct fs_inode *dir,
			   const char *name)
{
	int fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int rc = fd < 0 ? -errno : set_owner(req, fs, dir, fd, S_IFCHR);

	if (rc < 0)
		fs_log(LOG_WARNING, "whiteout %s: cannot give it the caller's owner: %s", name,
		       strerror(-rc));
	if (fd >= 0)
		close(fd);
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = ino_get(fs, parent), *ndir = ino_get(fs, newparent);
	struct fs_inode *src, *dst = NULL;
	struct pipeline_file *pf;
	bool src_exists, dst_exists;
	int rc;

	/*
	 * RENAME_WHITEOUT (the VFS has checked CAP_MKNOD and refused it with EXCHANGE) leaves
	 * a 0/0 character device at the old name: overlayfs needs it, with xattrs and d_type,
	 * to take a FUSE mount as its upper layer.
	 */
	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = is_hidden(parent, name) ? -EPERM : check_new_name(fs, newparent, newname);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	src = pin_name(fs, dir, name, &src_exists);
	dst = pin_name(fs, ndir, newname, &dst_exists);
	if (!(flags & RENAME_EXCHANGE)) {
		inode_drop(fs, dst, 0, 0, 1);	/* replaced, not moved */
		dst = NULL;
	}
	/*
	 * "Write temp, rename over": the source's queued chunks reach the backing file before
	 * the rename does, so the backing FS's replace-via-rename protection (ext4
	 * auto_da_alloc) covers them (DURABILITY.md section 2.3, requirement 28). Only the
	 * write-out is waited for; the sync goes on in the background.
	 */
	pf = src ? inode_pf(src) : NULL;
	if (pf && dst_exists && !(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE))) {
		struct pipeline_file_stat ps;

		pipeline_file_stat(pf, &ps);
		if (ps.durable_ticket < ps.ticket && !ps.error)
			pipeline_wait(pf, ps.ticket, PIPELINE_WRITTEN);	/* errors stay sticky */
	}
	rc = fs->io->renameat2(dir->fd, name, ndir->fd, newname, flags);
	if (rc < 0) {
		rc = meta_error(fs, "rename", name, -rc);
		goto out;
	}
	if (flags & RENAME_WHITEOUT)
		whiteout_owner(req, fs, dir, name);
	ctime_note(src);	/* the backing rename stamps the moved inodes' ctimes */
	ctime_note(dst);
	if (src) {
		inode_set_name(fs, src, ndir, newname);
		mark_dentry_dirty(fs, src, dir);
		if (ndir != dir)
			mark_dentry_dirty(fs, src, ndir);
	}
	if (dst) {
		inode_set_name(fs, dst, dir, name);
		mark_dentry_dirty(fs, dst, ndir);
		if (ndir != dir)
			mark_dentry_dirty(fs, dst, dir);
	}
	rc = 0;
out:
	inode_drop(fs, src, 0, 0, 1);
	inode_drop(fs, dst, 0, 0, 1);
	fuse_reply_err(req, rc);
}

/* ---- files ------------------------------------------------------------------------------- */

/*
 * Counts the open descriptors with write access (@d = 1 at open, -1 at release): while one
 * exists, the kernel may hold dirty pages of a shared mapping that we cannot see, so lseek
 * reports no holes (fs_op_lseek).
 */
static void wopen_add(struct fs_inode *i, const struct fuse_file_info *fi, int d)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		atomic_fetch_add_explicit(&i->nwopen, d, memory_order_relaxed);
}

static void set_open_flags(struct fs *fs, struct fuse_file_info *fi)
{
	fi->fh = 0;
	if (fs->opts.direct_io || (fs->wronly_direct && (fi->flags & O_ACCMODE) == O_WRONLY)) {
		fi->direct_io = 1;
	} else {
		/* Nobody else changes the backing store while it is mounted. */
		fi->keep_cache = 1;
	}
}

/*
 * The open part shared by OPEN and CREATE-of-an-existing-file: attach the pipeline file,
 * apply O_TRUNC through the ordered stream (DURABILITY.md requirement 7) and count the
 * handle. O_APPEND, O_SYNC, O_DSYNC and O_DIRECT are the kernel's and the WRITE handler's
 * business; none of them reaches a backing open.
 */
static int open_inode(struct fs *fs, struct fs_inode *i, struct fuse_file_info *fi,
		      fuse_req_t req)
{
	struct pipeline_file *pf = NULL;
	bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	int rc;

	if (want_write) {
		rc = fs_check_writable(fs);
		if (rc < 0)
			return rc;
	}
	rc = inode_attach(fs, i, want_write, -1, &pf);
	if (rc < 0)
		return rc;
	if (fi->flags & O_TRUNC) {
		rc = pipeline_truncate(pf, 0, NULL);
		if (rc < 0) {
			if (pipeline_file_error(pf, NULL))
				log_sticky(i, pf);
			return rc;
		}
		rc = kill_suidgid(fs, i, req, false);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&fs->lock);
	i->nopen++;
	pthread_mutex_unlock(&fs->lock);
	wopen_add(i, fi, 1);
	set_open_flags(fs, fi);
	return 0;
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	int rc;

	rc = open_inode(fs, i, fi, req);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (fuse_reply_open(req, fi) != 0) {
		wopen_add(i, fi, -1);
		inode_drop(fs, i, 0, 1, 0);	/* interrupted: no RELEASE will come */
	}
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = ino_get(fs, parent), *i;
	struct pipeline_file *pf;
	struct fuse_entry_param e;
	struct stat st;
	char buf[32];
	int fd, pfd = -1, rc;

	rc = check_new_name(fs, parent, name);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* Through the table, so that a recorder sees the new name (DURABILITY.md 4.1, T1). */
	fd = fs->io->openat(dir->fd, name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC,
			    umask_begin(req, mode) & 07777);
	umask_end();
	if (fd_relief(fs, fd)) {
		fd = fs->io->openat(dir->fd, name,
				    O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC,
				    umask_begin(req, mode) & 07777);
		umask_end();
	}
	if (fd == -EEXIST && !(fi->flags & O_EXCL)) {
		/* Lost a race with another creator: open(O_CREAT) opens what is there. */
		rc = do_lookup(fs, dir, name, &e, &i);
		if (rc < 0) {
			fuse_reply_err(req, -rc);
			return;
		}
		rc = open_inode(fs, i, fi, req);
		if (rc < 0) {
			inode_drop(fs, i, 1, 0, 0);
			fuse_reply_err(req, -rc);
			return;
		}
		if (fuse_reply_create(req, &e, fi) != 0) {
			wopen_add(i, fi, -1);
			inode_drop(fs, i, 1, 1, 0);
		}
		return;
	}
	if (fd == -EMFILE || fd == -ENFILE) {
		fuse_reply_err(req, -fd_shortage(fd));	/* not a backing failure */
		return;
	}
	if (fd < 0) {
		fuse_reply_err(req, meta_error(fs, "create", name, -fd));
		return;
	}
	rc = set_owner(req, fs, dir, fd, S_IFREG | mode);
	if (rc == 0 && fstat(fd, &st) < 0)
		rc = -errno;
	if (rc == 0) {
		fd_name(buf, sizeof(buf), fd);
		pfd = openat(fs->proc_fd, buf, O_PATH | O_CLOEXEC);
		if (pfd < 0 && fd_relief(fs, -errno))
			pfd = openat(fs->proc_fd, buf, O_PATH | O_CLOEXEC);
		if (pfd < 0)
			rc = fd_shortage(-errno);
	}
	if (rc < 0) {
		close(fd);
		fs->io->unlinkat(dir->fd, name, 0);
		fuse_reply_err(req, -rc);
		return;
	}
	i = inode_get(fs, pfd, &st, dir, name);
	if (!i) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	mark_dentry_dirty(fs, i, dir);
	rc = inode_attach(fs, i, true, fd, &pf);
	if (rc < 0) {
		inode_drop(fs, i, 1, 0, 0);
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	i->nopen++;
	pthread_mutex_unlock(&fs->lock);
	wopen_add(i, fi, 1);
	set_open_flags(fs, fi);
	stat_fix(fs, i, &st);
	entry_fill(fs, i, &st, &e);
	if (fuse_reply_create(req, &e, fi) != 0) {
		wopen_add(i, fi, -1);
		inode_drop(fs, i, 1, 1, 0);
	}
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct pipeline_file *pf = inode_pf(ino_get(fs, ino));
	ssize_t n;
	char *buf;

	(void)fi;
	if (!pf) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (size == 0 || off < 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size <= FS_SPLICE_MAX && pipeline_read_direct(pf, (uint64_t)off, &size)) {
		/*
		 * All on the backing file: libfuse splices it into the reply (page references
		 * into a pipe, one copy into the kernel's request) instead of pread into a
		 * buffer and a second copy out of it.
		 */
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

		if (size == 0) {
			fuse_reply_buf(req, NULL, 0);
			return;
		}
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		bv.buf[0].fd = chunk_file_fd(pipeline_file_chunk(pf));
		bv.buf[0].pos = off;
		fuse_reply_data(req, &bv, 0);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Full length except at EOF, holes as zeros: DURABILITY.md fact 6, requirement 31. */
	n = pipeline_read(pf, (uint64_t)off, buf, size);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

/* Runs on the flusher (or a sync) thread: reply only. */
static void wait_done(void *arg, int rc)
{
	struct fs_wait *w = arg;

	if (rc < 0)
		fuse_reply_err(w->req, -data_error(fuse_req_userdata(w->req), rc));
	else if (w->is_write)
		fuse_reply_write(w->req, w->count);
	else
		fuse_reply_err(w->req, 0);
	free(w);
}

/*
 * Replies to @req once @ticket of @pf is durable (or failed), from the flusher thread when
 * it is not known yet. @is_write: reply fuse_reply_write(@count) on success.
 */
static void reply_when_durable(fuse_req_t req, struct pipeline_file *pf, uint64_t ticket,
			       unsigned flags, bool is_write, size_t count)
{
	struct fs_wait *w = malloc(sizeof(*w));
	int rc;

	if (w) {
		w->req = req;
		w->count = count;
		w->is_write = is_write;
		rc = pipeline_wait_async(pf, ticket, flags, wait_done, w);
		if (rc == PIPELINE_PENDING)
			return;
		free(w);
	} else {
		rc = pipeline_wait(pf, ticket, flags);	/* no memory: block this worker */
	}
	if (rc < 0)
		fuse_reply_err(req, -data_error(fs_of(req), rc));
	else if (is_write)
		fuse_reply_write(req, count);
	else
		fuse_reply_err(req, 0);
}

/*
 * Where a WRITE's bytes are: in libfuse's request buffer, or still in the pipe libfuse spliced
 * the request into (FUSE_CAP_SPLICE_READ). From the pipe they are read straight into the
 * queued chunk buffer: one copy, where reading /dev/fuse into the request buffer and copying
 * that into the chunk buffer made two.
 */
struct wsrc {
	const char *mem;	/* NULL: the bytes are in the pipe @fd */
	int fd;
	size_t taken;		/* bytes read from the pipe so far */
};

/* pipeline_fill_fn for a pipe source: the request is all in the pipe, so it never waits. */
static int fill_from_pipe(void *arg, void *dst, size_t len)
{
	struct wsrc *s = arg;
	char *d = dst;

	while (len) {
		ssize_t r = read(s->fd, d, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)	/* EAGAIN or EOF: bytes missing from the request */
			return err_set(-EIO, "read (WRITE request pipe)", NULL);
		s->taken += (size_t)r;
		d += r;
		len -= (size_t)r;
	}
	return 0;
}

static int write_piece(struct pipeline_file *pf, const struct fs_map_piece *p, struct wsrc *src,
		       size_t done, uint64_t *t)
{
	if (src->mem)
		return pipeline_write(pf, p->index, p->off, src->mem + done, p->len, t);
	return pipeline_write_from(pf, p->index, p->off, p->len, fill_from_pipe, src, t);
}

/* The WRITE itself, from either source; replies. */
static void do_write(fuse_req_t req, fuse_ino_t ino, struct wsrc *src, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct pipeline_file *pf = inode_pf(i);
	struct fs_map_iter it;
	struct fs_map_piece p;
	uint64_t ticket = 0, t;
	size_t done = 0;
	int rc;

	rc = fs_check_writable(fs);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!pf || atomic_load_explicit(&i->pf_rdonly, memory_order_relaxed)) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = fs_map_check_range((uint64_t)off, size);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	/* Before the data, as the VFS does (file_remove_privs). */
	rc = kill_suidgid(fs, i, req, false);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fs_map_iter_init(&it, &fs->map, (uint64_t)off, size);
	while (fs_map_next(&it, &p)) {
		size_t taken = src->taken;

		rc = write_piece(pf, &p, src, done, &t);
		/* ENOSPC comes from the reservation, before any byte is taken from @src. */
		if (rc == -ENOSPC && src->taken == taken && wait_unlinked(fs))
			rc = write_piece(pf, &p, src, done, &t);
		if (rc < 0)
			break;
		ticket = t;
		done += p.len;
	}
	if (done == 0) {
		if (rc == -EIO && pipeline_file_error(pf, NULL))
			log_sticky(i, pf);
		fuse_reply_err(req, rc < 0 ? -rc : EIO);
		return;
	}
	/*
	 * O_SYNC/O_DSYNC: with direct_io the kernel sends no FSYNC after the write (fact 5),
	 * so the write itself waits for its epoch (requirement 5). fi->flags carries the
	 * per-write IOCB_SYNC/IOCB_DSYNC too (RWF_SYNC/RWF_DSYNC).
	 */
	if (fi->flags & O_DSYNC) {
		unsigned flags = (fi->flags & O_SYNC) == O_SYNC ? PIPELINE_FSYNC : 0;

		reply_when_durable(req, pf, ticket, flags, true, done);
		return;
	}
	fuse_reply_write(req, done);
}

/*
 * WRITE (write_buf, so that libfuse can hand over a spliced request). A pipe that is not
 * read to its end (an error before or during the copy) is reset by libfuse afterwards.
 */
static void fs_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			    struct fuse_file_info *fi)
{
	size_t size = fuse_buf_size(bufv);
	const struct fuse_buf *b = &bufv->buf[bufv->idx];
	struct wsrc src = { .mem = NULL, .fd = -1, .taken = 0 };
	void *copy = NULL;

	if (bufv->count - bufv->idx == 1 && !(b->flags & FUSE_BUF_IS_FD)) {
		src.mem = (const char *)b->mem + bufv->off;
	} else if (bufv->count - bufv->idx == 1 && !(b->flags & FUSE_BUF_FD_SEEK) &&
		   bufv->off == 0) {
		src.fd = b->fd;
	} else {
		/* Not what libfuse 3.14 produces; copied once into memory to stay correct. */
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
		ssize_t r;

		copy = malloc(size ? size : 1);
		if (!copy) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		dst.buf[0].mem = copy;
		r = fuse_buf_copy(&dst, bufv, 0);
		if (r < 0 || (size_t)r != size) {
			free(copy);
			fuse_reply_err(req, r < 0 ? (int)-r : EIO);
			return;
		}
		src.mem = copy;
	}
	do_write(req, ino, &src, size, off, fi);
	if (copy || (!src.mem && src.taken == size))
		bufv->idx = bufv->count;	/* consumed: libfuse keeps the pipe */
	free(copy);
}

/*
 * The error close(2) must report for @i now, without waiting (DURABILITY.md section 3 item
 * 10): the sticky data error; a failed fsync of its name; or, once metadata has failed,
 * anything of it not yet durable, which can no longer be trusted to become so (items 8, 11).
 */
static int inode_flush_error(struct fs *fs, struct fs_inode *i, struct pipeline_file *pf)
{
	struct pipeline_file_stat ps;
	bool dirty;
	int e;

	if (pf) {
		e = pipeline_file_error(pf, NULL);
		if (e) {
			log_sticky(i, pf);
			return data_error(fs, e);
		}
	}
	pthread_mutex_lock(&i->lock);
	e = i->dentry_err;
	dirty = i->ndparents || i->dparents_overflow;
	pthread_mutex_unlock(&i->lock);
	if (e || !atomic_load_explicit(&fs->meta_failed, memory_order_relaxed))
		return e;
	if (pf) {
		pipeline_file_stat(pf, &ps);
		dirty = dirty || ps.queued_chunks || ps.durable_ticket < ps.ticket;
	}
	return dirty ? -EIO : 0;
}

/*
 * FLUSH, at every close(2) of a descriptor. The promise (DURABILITY.md, first paragraph, and
 * section 3 item 11) is that a close returning 0 means the file's data and size are durable,
 * so by default it waits like fdatasync: the file's name first (requirement 27), then the data
 * written before the close, answered from the sync thread (no worker parked). With
 * -o nosync_on_close it only reports a sticky error (section 3 item 10).
 */
static void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct pipeline_file *pf = inode_pf(i);
	struct pipeline_file_stat ps;
	int rc;

	(void)fi;
	rc = inode_flush_error(fs, i, pf);
	if (rc < 0 || !fs->opts.sync_on_close || !pf) {
		fuse_reply_err(req, -rc);
		return;
	}
	pipeline_file_flush(pf);	/* the data's sync overlaps the directory's */
	rc = sync_dentry(fs, i);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pipeline_file_stat(pf, &ps);
	if (ps.durable_ticket >= ps.ticket) {
		fuse_reply_err(req, 0);
		return;
	}
	reply_when_durable(req, pf, ps.ticket, 0, false, 0);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);

	struct fs_inode *i = ino_get(fs, ino);
	bool last;

	if (i)
		wopen_add(i, fi, -1);
	/* The last descriptor: give back the space a growing file reserved past its end. */
	pthread_mutex_lock(&fs->lock);
	last = i && i->nopen == 1;
	pthread_mutex_unlock(&fs->lock);
	if (last && inode_pf(i) && !atomic_load_explicit(&i->pf_rdonly, memory_order_relaxed))
		pipeline_file_trim(inode_pf(i));
	/* Cleanup only; errors were reported by FLUSH and FSYNC. */
	inode_drop(fs, i, 0, 1, 0);
	reap_idle(fs, FS_IDLE_REAP);
	fuse_reply_err(req, 0);
}

static void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct pipeline_file *pf = inode_pf(i);
	uint64_t ticket;
	unsigned flags;
	char buf[32];
	int rc, fd;

	(void)fi;
	if (pf) {
		rc = pipeline_file_error(pf, NULL);
		if (rc) {
			log_sticky(i, pf);
			fuse_reply_err(req, -data_error(fs, rc));
			return;
		}
	}
	/* The name first, synchronously here; the flusher must never wait for it. */
	rc = sync_dentry(fs, i);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!pf) {
		/* Never written through us: only metadata can be pending. */
		if (datasync || !atomic_exchange_explicit(&i->meta_dirty, false,
							  memory_order_relaxed)) {
			fuse_reply_err(req, 0);
			return;
		}
		fd_name(buf, sizeof(buf), i->fd);
		fd = openat(fs->proc_fd, buf, O_RDONLY | O_CLOEXEC);
		rc = 0;
		if (fd < 0)
			rc = errno;
		else
			rc = -fs->io->fsync(fd);
		if (fd >= 0)
			close(fd);
		if (rc)
			atomic_store_explicit(&i->meta_dirty, true, memory_order_relaxed);
		fuse_reply_err(req, rc);
		return;
	}
	if (!datasync && atomic_exchange_explicit(&i->meta_dirty, false, memory_order_relaxed))
		ticket = pipeline_file_touch_meta(pf);
	else
		ticket = pipeline_file_ticket(pf);
	flags = datasync ? 0 : PIPELINE_FSYNC;
	/* Never ENOSYS (fact 1); replied from the flusher (fact 8, requirement 3). */
	reply_when_durable(req, pf, ticket, flags, false, 0);
}

static void fs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			    struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct pipeline_file *pf;
	uint64_t end;
	int rc;

	(void)fi;
	/* What the kernel passes on (fuse_file_fallocate): KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE. */
	if ((mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ||
	    ((mode & FALLOC_FL_PUNCH_HOLE) &&
	     (mode & (FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE)) != FALLOC_FL_KEEP_SIZE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	rc = fs_check_writable(fs);
	if (rc == 0)
		rc = fs_map_check_range((uint64_t)off, (uint64_t)len);
	if (rc == 0)
		rc = inode_attach(fs, i, true, -1, &pf);
	if (rc == 0 && atomic_load_explicit(&i->pf_rdonly, memory_order_relaxed))
		rc = -EBADF;
	if (rc == 0 && pipeline_file_error(pf, NULL)) {
		log_sticky(i, pf);
		rc = -EIO;	/* fail-stop (DURABILITY.md section 3 item 5) */
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	/* Every mode changes the file, so a caller's fallocate drops set-user/group-ID as a
	 * write does (file_modified() in the backing filesystem's own fallocate). */
	rc = kill_suidgid(fs, i, req, false);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	end = (uint64_t)off + (uint64_t)len;
	if (!(mode & FALLOC_FL_KEEP_SIZE)) {
		rc = chunk_file_check_size(pipeline_file_chunk(pf), end);
		if (rc < 0) {
			fuse_reply_err(req, -rc);
			return;
		}
	}
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		/*
		 * Ordered with the queued writes in the pipeline (queued bytes in the range
		 * dropped, the backing range punched or zeroed once no flight writes the file).
		 * The kernel wrote back and waits on its cached pages of the range first, and
		 * drops them after this reply.
		 */
		bool zero = mode & FALLOC_FL_ZERO_RANGE;

		rc = pipeline_punch(pf, (uint64_t)off, (uint64_t)len, zero, NULL);
		if (rc == -ENOSPC && wait_unlinked(fs))
			rc = pipeline_punch(pf, (uint64_t)off, (uint64_t)len, zero, NULL);
		if (rc == 0 && zero && !(mode & FALLOC_FL_KEEP_SIZE) && end > pipeline_file_size(pf))
			rc = pipeline_truncate(pf, end, NULL);
		if (rc == -EIO && pipeline_file_error(pf, NULL))
			log_sticky(i, pf);
		fuse_reply_err(req, -rc);
		return;
	}
	/* Reserve without touching the backing length; the size goes through the stream. */
	rc = chunk_file_fallocate(pipeline_file_chunk(pf), FALLOC_FL_KEEP_SIZE, (uint64_t)off,
				  (uint64_t)len);
	if (rc == -ENOSPC && wait_unlinked(fs))
		rc = chunk_file_fallocate(pipeline_file_chunk(pf), FALLOC_FL_KEEP_SIZE,
					  (uint64_t)off, (uint64_t)len);
	/*
	 * The kernel holds the inode lock across FALLOCATE, WRITE and SETATTR, so no size
	 * change slips in between this check and the truncate.
	 */
	if (rc == 0 && mode == 0 && end > pipeline_file_size(pf)) {
		pipeline_file_reserved(pf, (uint64_t)off, end);
		rc = pipeline_truncate(pf, end, NULL);	/* sets the mtime itself */
	} else if (rc == 0) {
		/* Like the backing filesystem's own fallocate, also one that changes no size;
		 * else the flusher would persist the older logical mtime over the backing one. */
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		pipeline_file_set_mtime(pf, &now);
		ctime_note(i);	/* the backing fallocate's ctime, a change of ours */
	}
	fuse_reply_err(req, -rc);
}

/*
 * SEEK_DATA and SEEK_HOLE (the kernel answers the other whences itself), so that cp, tar
 * --sparse and image tools keep a sparse file sparse: the backing file's holes, with queued
 * chunks counted as data (pipeline_seek_data). While a descriptor with write access is open,
 * a shared mapping may have dirty pages in the kernel that never reached us: then, like a
 * filesystem without holes, all of the file is data.
 */
static void fs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct pipeline_file *pf = inode_pf(i);
	uint64_t out, size;
	int rc;

	(void)fi;
	if (!pf) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (atomic_load_explicit(&i->nwopen, memory_order_relaxed) > 0) {
		size = pipeline_file_size(pf);
		if ((uint64_t)off >= size)
			fuse_reply_err(req, ENXIO);
		else
			fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)size);
		return;
	}
	rc = pipeline_seek_data(pf, (uint64_t)off, whence == SEEK_HOLE, &out);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_lseek(req, (off_t)out);
}

/* ---- directories ------------------------------------------------------------------------- */

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct fs_dir *d = calloc(1, sizeof(*d));
	int fd, e;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(i->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		free(d);
		fuse_reply_err(req, e);
		return;
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		e = errno;
		close(fd);
		free(d);
		fuse_reply_err(req, e);
		return;
	}
	pthread_mutex_lock(&fs->lock);
	i->nopen++;
	d->next = fs->dirs;
	if (fs->dirs)
		fs->dirs->prev = d;
	fs->dirs = d;
	pthread_mutex_unlock(&fs->lock);
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0) {
		dir_free(fs, d);
		inode_drop(fs, i, 0, 1, 0);
	}
}

static bool is_dot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		       struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = ino_get(fs, ino);
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size), *p;
	size_t rem = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		struct fs_inode *child = NULL;
		const char *name;
		size_t entsize;
		off_t next;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		next = d->entry->d_off;
		name = d->entry->d_name;
		if (is_hidden(ino, name)) {
			d->entry = NULL;
			d->offset = next;
			continue;
		}
		if (plus) {
			struct fuse_entry_param e;

			int rc = -EMFILE;

			/*
			 * Near the descriptor budget an entry goes without attributes (node id
			 * 0: the kernel looks it up when it is used), rather than creating an
			 * inode per entry of a big directory (fs_reclaim.h).
			 */
			if (!is_dot(name) && !over_fd_budget(fs))
				rc = do_lookup(fs, dir, name, &e, &child);
			if (rc == -ENOENT) {	/* gone since readdir: skip it */
				d->entry = NULL;
				d->offset = next;
				continue;
			}
			if (rc == -EMFILE || rc == -ENFILE) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = (mode_t)d->entry->d_type << 12;
			} else if (rc < 0) {
				err = -rc;
				break;
			}
			entsize = fuse_add_direntry_plus(req, p, rem, name, &e, next);
		} else {
			struct stat st;

			memset(&st, 0, sizeof(st));
			st.st_ino = d->entry->d_ino;
			st.st_mode = (mode_t)d->entry->d_type << 12;
			entsize = fuse_add_direntry(req, p, rem, name, &st, next);
		}
		if (entsize > rem) {
			inode_drop(fs, child, 1, 0, 0);
			break;
		}
		p += entsize;
		rem -= entsize;
		d->entry = NULL;
		d->offset = next;
	}
	/* Entries already in the buffer carry lookup counts: report them, drop the error. */
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;

	dir_free(fs, d);
	inode_drop(fs, ino_get(fs, ino), 0, 1, 0);
	fuse_reply_err(req, 0);
}

static void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			   struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	struct fs_dir *d = (struct fs_dir *)(uintptr_t)fi->fh;
	char name[FS_NAME_LEN];
	int rc, r;

	(void)datasync;	/* a directory's entries are its data: always fsync */
	/* On the root, a global barrier: every file's accepted data first. */
	if (i == fs->root)
		pipeline_sync_all(fs->pipe);	/* files' own errors stay with the files */
	rc = sync_dentry(fs, i);
	if (rc == 0 && atomic_load_explicit(&fs->meta_failed, memory_order_relaxed))
		rc = -EIO;	/* some directory operation failed to persist */
	if (rc == 0 && (r = fs->io->fsync(dirfd(d->dp))) < 0) {
		inode_name(i, name, sizeof(name));
		rc = -meta_error(fs, "fsync of directory", name, -r);
	}
	/* Never ENOSYS (fact 1). */
	fuse_reply_err(req, -rc);
}

/* ---- the rest ---------------------------------------------------------------------------- */

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct pipeline_stats ps;
	struct statvfs sv;
	uint64_t queued;

	(void)ino;
	if (fstatvfs(store_dirfd(fs->store), &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	/* Less what queued chunks will take (DURABILITY.md requirement 38). */
	pipeline_get_stats(fs->pipe, &ps);
	queued = sv.f_frsize ? ps.queued_bytes / sv.f_frsize : 0;
	sv.f_bfree = sv.f_bfree > queued ? sv.f_bfree - queued : 0;
	sv.f_bavail = sv.f_bavail > queued ? sv.f_bavail - queued : 0;
	fuse_reply_statfs(req, &sv);
}

/* ---- control attributes (fs_ctl.h) ------------------------------------------------------- */

enum { CTL_NONE, CTL_STATUS, CTL_SYNC, CTL_WAIT, CTL_DURABLE };

/*
 * Seq_cst, as the fetch_add in ctl_sync(): a reader that still sees epoch E open is ordered
 * before the barrier that closes E, so that barrier finds what the reader's file held.
 */
static uint64_t ctl_open_epoch(struct fs *fs)
{
	return atomic_load(&fs->ctl_open_epoch);
}

static uint64_t ctl_durable_epoch(struct fs *fs)
{
	return atomic_load_explicit(&fs->ctl_durable_epoch, memory_order_acquire);
}

/* Which control attribute @name is on @ino; CTL_NONE: an ordinary one, for the backing file. */
static int ctl_attr(struct fs *fs, fuse_ino_t ino, const char *name)
{
	if (strncmp(name, FS_CTL_PREFIX, sizeof(FS_CTL_PREFIX) - 1) != 0)
		return CTL_NONE;
	if (ino == FUSE_ROOT_ID) {
		if (strcmp(name, FS_CTL_STATUS) == 0)
			return CTL_STATUS;
		if (strcmp(name, FS_CTL_SYNC) == 0)
			return CTL_SYNC;
		if (strcmp(name, FS_CTL_WAIT) == 0)
			return CTL_WAIT;
		return CTL_NONE;
	}
	if (S_ISREG(ino_get(fs, ino)->type) && strcmp(name, FS_CTL_DURABLE) == 0)
		return CTL_DURABLE;
	return CTL_NONE;
}

/* Answers a getxattr with the @len bytes of @val: the length alone when @size is 0. */
static void ctl_reply_value(fuse_req_t req, const char *val, size_t len, size_t size)
{
	if (!size)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

/*
 * Pins (nref) up to @max inodes whose pipeline file has a sticky error; *total gets how many
 * there are. The caller reads their names unlocked (i->lock comes before fs->lock) and drops
 * the pins with inode_drop().
 */
static size_t ctl_failed_inodes(struct fs *fs, struct fs_inode **out, size_t max,
				size_t *total)
{
	size_t k, n = 0;

	*total = 0;
	pthread_mutex_lock(&fs->lock);
	for (k = 0; k < fs->nbuckets; k++) {
		struct fs_inode *i;

		for (i = fs->buckets[k]; i; i = i->hnext) {
			struct pipeline_file *pf = inode_pf(i);

			if (!pf || !pipeline_file_error(pf, NULL))
				continue;
			(*total)++;
			if (n < max) {
				i->nref++;
				out[n++] = i;
			}
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return n;
}

/* A file name as one line of text: control characters become '?'. */
static void ctl_clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* The sticky error of @pf as text: the failed operation and path when known. */
static void ctl_error_text(struct pipeline_file *pf, char *buf, size_t len)
{
	struct err_detail d;
	int e = pipeline_file_error(pf, &d);

	if (d.code)
		err_format(&d, buf, len);
	else
		snprintf(buf, len, "%s", strerror(e ? -e : EIO));
	ctl_clean(buf);
}

/* The FS_CTL_STATUS text (malloc'd, not NUL-terminated in *len), or NULL: no memory. */
static char *ctl_status(struct fs *fs, size_t *len)
{
	struct fs_inode *failed[FS_CTL_MAX_ERRORS];
	struct pipeline_stats ps;
	char name[FS_NAME_LEN], msg[ERR_PATH_MAX + 128];
	char *buf = NULL;
	size_t k, n, total;
	FILE *m = open_memstream(&buf, len);

	if (!m)
		return NULL;
	pipeline_get_stats(fs->pipe, &ps);
	fprintf(m, "version: %s\n", FROZENFS_VERSION);
	fprintf(m, "backing: %s\n", fs->opts.backing);
	fprintf(m, "mountpoint: %s\n", fs->opts.mountpoint);
	fprintf(m, "chunk_size: %zu\n", fs->chunk_size);
	fprintf(m, "flush_interval_ms: %u\n", fs->opts.flush_interval_ms);
	fprintf(m, "durable_epoch: %llu\n", (unsigned long long)ctl_durable_epoch(fs));
	fprintf(m, "open_epoch: %llu\n", (unsigned long long)ctl_open_epoch(fs));
	fprintf(m, "flushes: %llu\n", (unsigned long long)ps.batches);
	fprintf(m, "queued_chunks: %llu\n", (unsigned long long)ps.queued_chunks);
	fprintf(m, "queued_bytes: %llu\n", (unsigned long long)ps.queued_bytes);
	fprintf(m, "pool_in_use: %zu\n", ps.pool_in_use);
	fprintf(m, "pool_high_water: %zu\n", ps.pool_high_water);
	fprintf(m, "pool_buffers: %zu\n", ps.pool_nbufs);
	fprintf(m, "writers_blocked: %zu\n", ps.pool_waiters);
	fprintf(m, "flush_p50_us: %llu\n", (unsigned long long)ps.flush_p50_us);
	fprintf(m, "flush_p99_us: %llu\n", (unsigned long long)ps.flush_p99_us);
	fprintf(m, "bytes_written: %llu\n", (unsigned long long)ps.bytes_written);
	fprintf(m, "chunks_written: %llu\n", (unsigned long long)ps.chunks_written);
	fprintf(m, "syncs: %llu\n", (unsigned long long)ps.syncs);
	fprintf(m, "fsyncs_served: %llu\n", (unsigned long long)ps.waits);
	fprintf(m, "failed_files: %llu\n", (unsigned long long)ps.failed_files);
	fprintf(m, "metadata_error: %s\n",
		atomic_load_explicit(&fs->meta_failed, memory_order_relaxed) ? "yes" : "no");
	if (fs->opts.ro)
		fprintf(m, "read_only: yes (-o ro)\n");
	else if (atomic_load_explicit(&fs->readonly, memory_order_relaxed))
		fprintf(m, "read_only: yes (errors=remount-ro after a metadata error)\n");
	else
		fprintf(m, "read_only: no\n");
	n = ctl_failed_inodes(fs, failed, FS_CTL_MAX_ERRORS, &total);
	for (k = 0; k < n; k++) {
		/* A failure nobody has asked about yet is logged now, once, with its name. */
		log_sticky(failed[k], inode_pf(failed[k]));
		inode_name(failed[k], name, sizeof(name));
		ctl_clean(name);
		ctl_error_text(inode_pf(failed[k]), msg, sizeof(msg));
		fprintf(m, "error: %s: %s\n", name, msg);
		inode_drop(fs, failed[k], 0, 0, 1);
	}
	if (total > n)
		fprintf(m, "error: (%zu more files)\n", total - n);
	if (fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * FS_CTL_DURABLE of regular file @i. The file is read before the open epoch: the barrier that
 * closes the epoch read afterwards starts later, so it covers everything the file had then.
 */
static void ctl_durable(fuse_req_t req, struct fs *fs, struct fs_inode *i, size_t size)
{
	struct pipeline_file *pf = inode_pf(i);
	struct pipeline_file_stat st;
	char val[ERR_PATH_MAX + 384], msg[ERR_PATH_MAX + 128];
	const char *state;
	uint64_t epoch;
	int n;

	memset(&st, 0, sizeof(st));
	if (pf)		/* none: never written through this mount, or freed once durable */
		pipeline_file_stat(pf, &st);
	epoch = ctl_open_epoch(fs);
	if (st.error)
		state = "failed";
	else if (st.queued_chunks || st.durable_ticket < st.ticket)
		state = "no";
	else
		state = "yes";
	n = snprintf(val, sizeof(val),
		     "%s ticket=%llu durable_ticket=%llu queued_chunks=%llu epoch=%llu", state,
		     (unsigned long long)st.ticket, (unsigned long long)st.durable_ticket,
		     (unsigned long long)st.queued_chunks,
		     (unsigned long long)epoch);
	if (st.error) {
		ctl_error_text(pf, msg, sizeof(msg));
		n += snprintf(val + n, sizeof(val) - (size_t)n, " error=%s", msg);
	}
	ctl_reply_value(req, val, (size_t)n < sizeof(val) ? (size_t)n : sizeof(val) - 1, size);
}

/*
 * A global barrier: closes the open epoch, then makes everything accepted before the call
 * durable: pipeline_sync_all(), then syncfs on the backing filesystem, which makes names,
 * directories and metadata durable too. On success the closed epoch is published durable.
 * Blocks this worker thread while the queued data is written: libfuse starts another worker
 * if requests arrive meanwhile and does not cancel a worker inside a handler, so the pipeline
 * outlives the wait. Returns 0, or -EIO if any file has a sticky error (or syncfs failed);
 * after a failure no later epoch is ever published durable.
 */
static int ctl_sync(struct fs *fs)
{
	uint64_t e, d;
	int rc;

	e = atomic_fetch_add(&fs->ctl_open_epoch, 1);	/* seq_cst: see ctl_open_epoch() */
	rc = pipeline_sync_all(fs->pipe);
	if (syncfs(store_dirfd(fs->store)) < 0) {
		int err = meta_error(fs, "syncfs", "/", errno);

		if (rc == 0)
			rc = -err;
	}
	if (rc == 0) {
		/*
		 * Barriers may finish out of order; a later one covers every earlier epoch, so
		 * the durable epoch only moves up. Release: a reader that sees e durable sees
		 * the state the barrier left.
		 */
		d = atomic_load_explicit(&fs->ctl_durable_epoch, memory_order_relaxed);
		while (d < e && !atomic_compare_exchange_weak_explicit(&fs->ctl_durable_epoch, &d,
								       e, memory_order_release,
								       memory_order_relaxed))
			;
	}
	fs_log(LOG_DEBUG, "control: sync of epoch %llu %s", (unsigned long long)e,
	       rc ? "failed: some data is not durable" : "done");
	return rc;
}

/* FS_CTL_WAIT: @value is a decimal epoch, not NUL-terminated. */
static int ctl_wait(struct fs *fs, const char *value, size_t size)
{
	char num[24];
	char *end;
	unsigned long long e;

	if (size == 0 || size >= sizeof(num))
		return -EINVAL;
	memcpy(num, value, size);
	num[size] = '\0';
	if (num[size - 1] == '\n')
		num[size - 1] = '\0';
	errno = 0;
	e = strtoull(num, &end, 10);
	if (errno || end == num || *end || num[0] == '-')
		return -EINVAL;
	fs_log(LOG_DEBUG, "control: wait for epoch %llu", e);
	if (e <= ctl_durable_epoch(fs))
		return 0;
	if (e > ctl_open_epoch(fs))
		return -ERANGE;		/* not open yet: nobody can have been promised it */
	/* The barrier closes the open epoch, which is e or later. */
	return ctl_sync(fs);
}

static int xattr_path(struct fs_inode *i, char *buf, size_t len)
{
	/* An O_PATH fd has no f*xattr; its /proc magic link names the inode itself. */
	if (S_ISLNK(i->type))
		return -ENOTSUP;
	snprintf(buf, len, "/proc/self/fd/%d", i->fd);
	return 0;
}

/*
 * Setting an access ACL also sets the mode (the backing filesystem does that), and takes the
 * set-group-ID bit away when the caller is neither in the file's group nor privileged
 * (posix_acl_update_mode). The backing call is the daemon's, whose CAP_FSETID keeps the bit,
 * and libfuse 3.14 does not pass on the kernel's FUSE_SETXATTR_ACL_KILL_SGID: found by
 * it_diff, with a 02775 file of another group.
 */
static int acl_kill_sgid(struct fs *fs, struct fs_inode *i, fuse_req_t req)
{
	struct stat st;

	if (fstatat(i->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!(st.st_mode & S_ISGID) || S_ISLNK(st.st_mode) || caller_in_group(req, st.st_gid))
		return 0;
	return chmod_fd(fs, i->fd, st.st_mode & ~S_ISGID);
}

static void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	char path[64];
	int rc;

	/* Before the read-only check: a sync is still wanted after errors=remount-ro. */
	switch (ctl_attr(fs, ino, name)) {
	case CTL_SYNC:
		fuse_reply_err(req, -ctl_sync(fs));
		return;
	case CTL_WAIT:
		fuse_reply_err(req, -ctl_wait(fs, value, size));
		return;
	case CTL_STATUS:
	case CTL_DURABLE:
		fuse_reply_err(req, EPERM);
		return;
	}
	rc = fs_check_writable(fs);
	if (rc == 0)
		rc = xattr_path(i, path, sizeof(path));
	if (rc == 0 && setxattr(path, name, value, size, flags) < 0)
		rc = -errno;
	if (rc == 0 && !strcmp(name, "system.posix_acl_access"))
		rc = acl_kill_sgid(fs, i, req);
	if (rc == 0)
		meta_changed(i);
	fuse_reply_err(req, -rc);
}

/*
 * Answers a getxattr (@name set) or listxattr (@name NULL) on the backing @path: with @size 0
 * the length the value needs (fuse_reply_xattr), else the value itself.
 */
static void reply_xattr_query(fuse_req_t req, const char *path, const char *name, size_t size)
{
	char *val = NULL;
	ssize_t n;

	if (size) {
		val = malloc(size);
		if (!val) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	n = name ? getxattr(path, name, val, size) : listxattr(path, val, size);
	/*
	 * A backing filesystem without ACLs (ramfs, ext4 -o noacl) has none to give: the
	 * kernel checks access with the ACLs it reads here (FUSE_CAP_POSIX_ACL) and would fail
	 * every check of another user with EOPNOTSUPP; "no ACL" lets it use the modes.
	 */
	if (n < 0 && errno == EOPNOTSUPP && name &&
	    (!strcmp(name, "system.posix_acl_access") || !strcmp(name, "system.posix_acl_default")))
		errno = ENODATA;
	if (n < 0)
		fuse_reply_err(req, errno);
	else if (!size)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, val, (size_t)n);
	free(val);
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fs *fs = fs_of(req);
	char path[64], *val, num[48];
	size_t len;
	int rc;

	switch (ctl_attr(fs, ino, name)) {
	case CTL_STATUS:
		val = ctl_status(fs, &len);
		if (!val) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		ctl_reply_value(req, val, len, size);
		free(val);
		return;
	case CTL_SYNC:
		rc = ctl_sync(fs);
		if (rc < 0) {
			fuse_reply_err(req, -rc);
			return;
		}
		/* Fixed width: a size query and the read that follows agree on the length. */
		len = (size_t)snprintf(num, sizeof(num), "durable_epoch: %20llu\n",
				       (unsigned long long)ctl_durable_epoch(fs));
		ctl_reply_value(req, num, len, size);
		return;
	case CTL_DURABLE:
		ctl_durable(req, fs, ino_get(fs, ino), size);
		return;
	}
	rc = xattr_path(ino_get(fs, ino), path, sizeof(path));
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	reply_xattr_query(req, path, name, size);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	char path[64];
	int rc = xattr_path(ino_get(fs, ino), path, sizeof(path));

	if (rc == -ENOTSUP) {	/* a symlink: no attributes to list */
		if (size)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_xattr(req, 0);
		return;
	}
	reply_xattr_query(req, path, NULL, size);
}

static void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = ino_get(fs, ino);
	char path[64];
	int rc = fs_check_writable(fs);

	if (ctl_attr(fs, ino, name) != CTL_NONE)
		rc = -EPERM;
	if (rc == 0)
		rc = xattr_path(i, path, sizeof(path));
	if (rc == 0 && removexattr(path, name) < 0)
		rc = -errno;
	if (rc == 0)
		meta_changed(i);
	fuse_reply_err(req, -rc);
}

/*
 * Not implemented on purpose: copy_file_range (DURABILITY.md requirement 9: the backing file
 * does not hold queued data; the kernel then copies through READ and WRITE, which see it;
 * lseek does, through pipeline_seek_data()), flock/getlk/setlk (the kernel handles locks
 * locally, which is right for a single-host mount), access (default_permissions or the
 * backing checks at open), write (write_buf takes every WRITE, spliced or not).
 */
const struct fuse_lowlevel_ops fs_op_table = {
	.init		= fs_op_init,
	.destroy	= fs_op_destroy,
	.lookup		= fs_op_lookup,
	.forget		= fs_op_forget,
	.forget_multi	= fs_op_forget_multi,
	.getattr	= fs_op_getattr,
	.setattr	= fs_op_setattr,
	.readlink	= fs_op_readlink,
	.mknod		= fs_op_mknod,
	.mkdir		= fs_op_mkdir,
	.unlink		= fs_op_unlink,
	.rmdir		= fs_op_rmdir,
	.symlink	= fs_op_symlink,
	.rename		= fs_op_rename,
	.link		= fs_op_link,
	.open		= fs_op_open,
	.read		= fs_op_read,
	.write_buf	= fs_op_write_buf,
	.flush		= fs_op_flush,
	.release	= fs_op_release,
	.fsync		= fs_op_fsync,
	.opendir	= fs_op_opendir,
	.readdir	= fs_op_readdir,
	.readdirplus	= fs_op_readdirplus,
	.releasedir	= fs_op_releasedir,
	.fsyncdir	= fs_op_fsyncdir,
	.statfs		= fs_op_statfs,
	.setxattr	= fs_op_setxattr,
	.getxattr	= fs_op_getxattr,
	.listxattr	= fs_op_listxattr,
	.removexattr	= fs_op_removexattr,
	.create		= fs_op_create,
	.fallocate	= fs_op_fallocate,
	.lseek		= fs_op_lseek,
};
