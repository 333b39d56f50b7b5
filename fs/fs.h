/*
 * fs: the FUSE frontend of frozenfs (low-level libfuse 3.14 API).
 *
 * fs_main.c parses the command line, opens the store, mounts, runs the session loop and,
 * once the loop has ended, drains the pipeline and exits with its verdict. fs_ops.c holds one
 * handler per FUSE operation plus the inode table they share. This header is the contract
 * between the two; nothing outside fs/ includes it.
 *
 * Threads: libfuse worker threads run the handlers; the pipeline's flusher (and sync threads)
 * run the durability callbacks, which only reply to requests (they never take fs locks and
 * never call back into the pipeline). The main thread sets up and tears down.
 */
#ifndef FROZENFS_FS_H
#define FROZENFS_FS_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#include <fuse_lowlevel.h>

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "fs_map.h"
#include "fs_mounts.h"
#include "fs_opts.h"
#include "pipeline.h"
#include "store.h"

#ifndef FROZENFS_VERSION
#define FROZENFS_VERSION "unknown"
#endif

struct fs_inode;
struct fs_dir;

/* The whole mount; the libfuse userdata. */
struct fs {
	struct fs_opts opts;
	const struct chunk_io *io;	/* every backing mutation and sync goes through it */
	struct fuse_session *se;	/* set before the session loop runs */
	struct store *store;
	struct pipeline *pipe;
	struct fs_map map;
	size_t chunk_size;		/* from the superblock */
	int proc_fd;			/* O_PATH of /proc/self/fd, opened after daemonizing */
	int as_root;			/* geteuid() == 0: chown new nodes to the caller */
	double timeout;			/* attr and entry timeout, seconds */
	bool wronly_direct;		/* set by INIT: O_WRONLY opens get FOPEN_DIRECT_IO */

	/*
	 * Set once, never cleared: by -o ro, or by a metadata failure with errors=remount-ro
	 * (DURABILITY.md section 3 item 8). Relaxed: a mutation racing with the failure may
	 * still go through, as it could have arrived a moment earlier.
	 */
	atomic_int readonly;
	atomic_int meta_failed;		/* a metadata operation failed with EIO/EROFS */

	/*
	 * Control epochs (fs_ctl.h), kept here rather than in the pipeline so that they mean
	 * the same whatever the pipeline's batching: a global sync (frozenfs-ctl sync or wait)
	 * closes the open epoch (seq_cst fetch_add) and, once everything accepted before it is
	 * durable, raises the durable epoch to it (release; readers acquire). Start at 1 and 0.
	 */
	_Atomic uint64_t ctl_open_epoch;
	_Atomic uint64_t ctl_durable_epoch;

	/* Inode table: see fs_ops.c. */
	pthread_mutex_t lock;		/* protects the table, counts and the idle list */
	struct fs_inode **buckets;	/* protected by lock */
	size_t nbuckets;		/* protected by lock */
	size_t ninodes;			/* protected by lock */
	struct fs_inode *idle;		/* protected by lock: forgotten, data not yet durable */
	struct fs_dir *dirs;		/* protected by lock: open directory handles (a
					   RELEASEDIR still queued at unmount never comes) */
	unsigned nunlinked;		/* protected by lock: unlinked inodes still held */
	pthread_cond_t freed;		/* broadcast (under lock) when nunlinked drops, and
					 * when an inode is freed while fd_waiters */
	unsigned fd_waiters;		/* protected by lock: threads in fd_relief() */
	struct fs_inode *root;		/* FUSE_ROOT_ID; never freed before fs_inodes_fini() */
	uint64_t lookups;		/* protected by lock: stamps inodes at each lookup */

	/* Descriptor reclaim (fs_reclaim.h); watermarks in descriptors as counted by
	 * fs_fd_pressure(), 0: not running. */
	size_t reclaim_high;		/* set before the session loop, then read-only */
	size_t reclaim_low;
	pthread_cond_t reclaim_cv;	/* with lock: signalled past reclaim_high, or stop */
	bool reclaim_stop;		/* protected by lock */
	bool reclaim_running;		/* main thread only */
	pthread_t reclaim_thread;
};

/* A cached name to invalidate: the parent's node id and the entry's name. */
struct fs_dentry_ref {
	fuse_ino_t parent;
	char name[NAME_MAX + 1];
};

/*
 * Fills @out with up to @max names that the kernel caches but nobody has open, least
 * recently looked up first: files, and directories under which the kernel caches no name
 * (leaves of the cached tree, so that no mount below one is detached), leaving out the
 * inodes in @skip (@nskip of them, sorted by fs_file_id_sort(): names a mount sits on and
 * the directories above them, threads' working and root directories). Takes fs->lock and inode locks; any thread but
 * a FUSE request handler's. Returns the count.
 */
size_t fs_reclaim_pick(struct fs *fs, struct fs_dentry_ref *out, size_t max,
		       const struct fs_file_id *skip, size_t nskip);

/* @ts = now + @ms on CLOCK_REALTIME, for pthread_cond_timedwait() (fs_reclaim.c). */
void fs_deadline_in(struct timespec *ts, long ms);

/*
 * The descriptors the inode table accounts for: one O_PATH per inode plus one per live
 * pipeline file (which can outlive its inode until its last flush). fs->lock held.
 */
size_t fs_fd_pressure(struct fs *fs);

/*
 * If files the kernel has forgotten still hold descriptors because their data is not
 * durable yet, makes everything durable and frees them. Blocks for the sync; the reclaim
 * thread only.
 */
void fs_reclaim_reap(struct fs *fs);

/* One handler per FUSE operation, fs_ops.c. */
extern const struct fuse_lowlevel_ops fs_op_table;

/*
 * Creates the inode table and the root inode from the store's directory. Main thread,
 * before the session runs. Returns 0 or -errno.
 */
int fs_inodes_init(struct fs *fs);

/*
 * After pipeline_stop(): logs every file left with a sticky error (name and detail), drops
 * every pipeline file reference and frees the table. Returns the number of failed files.
 */
int fs_inodes_fini(struct fs *fs);

/*
 * Logging: one line per event, stderr ("frozenfs: ...") in the foreground, syslog once
 * daemonized. Lines above -o log_level (a syslog priority) are dropped; LOG_ERR never is.
 */
void fs_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
