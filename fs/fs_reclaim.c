/*
 * fs_reclaim: see fs_reclaim.h. One thread, woken by inode_get() when the table passes the
 * high watermark; it invalidates the oldest unopened names in one pass, gives the kernel a
 * moment to send the FORGETs, makes the data of the forgotten files durable so that their
 * descriptors can be closed, and looks again.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/resource.h>

#include "fs_reclaim.h"

#define RECLAIM_RESERVE		256	/* descriptors kept for everything but inodes */
#define RECLAIM_SETTLE_MS	5	/* after a pass: FORGETs arrive meanwhile */
#define RECLAIM_IDLE_MS		1000	/* nothing reclaimable: look again after this */
#define COVERED_MAX		4096	/* names never picked: mounts, working directories */
#define COVERED_TTL_MS		1000	/* how long a read of the mount tables is trusted */

/*
 * The names never to invalidate (fs_mounts.h): those something is mounted on and the
 * directories above them (invalidating would detach the mount), and the directories that
 * processes work in or are rooted in (their getcwd() would fail with ENOENT). Read from
 * /proc at most once per COVERED_TTL_MS, so a storm of creates costs one read per second,
 * not one per pass.
 */
struct covered {
	struct fs_file_id id[COVERED_MAX];
	size_t n;
	bool dev_known;
	unsigned major, minor;
	struct timespec at;
};

static void covered_refresh(struct fs *fs, struct covered *cv)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - cv->at.tv_sec) * 1000 + (now.tv_nsec - cv->at.tv_nsec) / 1000000;
	if (cv->at.tv_sec && ms >= 0 && ms < COVERED_TTL_MS)
		return;
	cv->at = now;
	if (!cv->dev_known)
		cv->dev_known = fs_mounts_self_dev(fs->opts.mountpoint, &cv->major,
						   &cv->minor) == 0;
	cv->n = 0;
	if (cv->dev_known) {
		cv->n = fs_mounts_covered(store_dirfd(fs->store), cv->major, cv->minor, cv->id,
					  COVERED_MAX);
		cv->n += fs_procs_pinned(cv->major, cv->minor, cv->id + cv->n,
					 COVERED_MAX - cv->n);
		fs_file_id_sort(cv->id, cv->n);	/* fs_reclaim_pick() searches it */
	}
}

void fs_deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *reclaim_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_dentry_ref *refs;
	struct covered *cv;
	struct timespec ts;
	size_t cap = fs->reclaim_high + 1, pressure, want, n, k, failed;
	bool warned = false;

	refs = malloc(cap * sizeof(*refs));
	cv = calloc(1, sizeof(*cv));
	pthread_mutex_lock(&fs->lock);
	while (!fs->reclaim_stop) {
		if (!refs || !cv || fs_fd_pressure(fs) <= fs->reclaim_high) {
			pthread_cond_wait(&fs->reclaim_cv, &fs->lock);
			continue;
		}
		pressure = fs_fd_pressure(fs);
		want = pressure - fs->reclaim_low;
		pthread_mutex_unlock(&fs->lock);
		/* Closed files whose mtime waits for the next timed flush keep their chunk
		 * file open until then: flush now. */
		pipeline_kick(fs->pipe);
		covered_refresh(fs, cv);
		n = fs_reclaim_pick(fs, refs, want < cap ? want : cap, cv->id, cv->n);
		for (k = 0, failed = 0; k < n; k++)
			if (fuse_lowlevel_notify_inval_entry(fs->se, refs[k].parent, refs[k].name,
							     strlen(refs[k].name)) < 0)
				failed++;
		if (n)
			fs_log(LOG_DEBUG, "reclaim: %zu of %zu descriptors: %zu cached names invalidated, "
			       "%zu not cached", want, pressure, n - failed, failed);
		else if (!warned) {
			warned = true;
			fs_log(LOG_WARNING, "warning: %zu files are open or in use at once: close to "
			       "the descriptor limit (ulimit -n)", fs->reclaim_high);
		}
		pthread_mutex_lock(&fs->lock);
		fs_deadline_in(&ts, n ? RECLAIM_SETTLE_MS : RECLAIM_IDLE_MS);
		while (!fs->reclaim_stop &&
		       pthread_cond_timedwait(&fs->reclaim_cv, &fs->lock, &ts) != ETIMEDOUT)
			;
		if (n && !fs->reclaim_stop) {
			/* The forgotten files with data still queued keep their descriptors
			 * until it is durable: make it so now rather than at the next flush. */
			pthread_mutex_unlock(&fs->lock);
			fs_reclaim_reap(fs);
			pthread_mutex_lock(&fs->lock);
		}
	}
	pthread_mutex_unlock(&fs->lock);
	free(refs);
	free(cv);
	return NULL;
}

int fs_reclaim_start(struct fs *fs)
{
	struct rlimit rl;
	sigset_t all, old;
	size_t budget;
	int rc;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)1 << 40)
		rl.rlim_cur = (rlim_t)1 << 40;
	budget = rl.rlim_cur > 2 * RECLAIM_RESERVE ? (size_t)(rl.rlim_cur - RECLAIM_RESERVE) :
						     RECLAIM_RESERVE;
	pthread_cond_init(&fs->reclaim_cv, NULL);
	fs->reclaim_stop = false;
	/* Half the budget: the kernel's FORGETs (and the invalidations, which wait for the
	 * directory lock that creates in the same directory hold) lag behind a fast creator. */
	fs->reclaim_high = budget / 2;
	fs->reclaim_low = budget / 4;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&fs->reclaim_thread, NULL, reclaim_main, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		fs->reclaim_high = 0;
		pthread_cond_destroy(&fs->reclaim_cv);
		return -rc;
	}
	fs->reclaim_running = true;
	(void)pthread_setname_np(fs->reclaim_thread, "fz-reclaim");
	fs_log(LOG_DEBUG, "descriptor limit %llu: cached names are dropped past %zu descriptors",
	       (unsigned long long)rl.rlim_cur, fs->reclaim_high);
	return 0;
}

void fs_reclaim_stop(struct fs *fs)
{
	if (!fs->reclaim_running)
		return;
	pthread_mutex_lock(&fs->lock);
	fs->reclaim_stop = true;
	pthread_cond_signal(&fs->reclaim_cv);
	pthread_mutex_unlock(&fs->lock);
	pthread_join(fs->reclaim_thread, NULL);
	fs->reclaim_running = false;
	fs->reclaim_high = 0;
	pthread_cond_destroy(&fs->reclaim_cv);
}
