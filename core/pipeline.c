/*
 * pipeline: batched, asynchronous chunk writes with group-committed durability.
 *
 * DESIGN
 *
 * Threads.
 *   - Any number of writer/reader threads call pipeline_write/read/truncate/wait. They touch a
 *     file's state only under that file's lock (f->lock) and never wait for a sync: a writer
 *     blocks only in pool_get() when every buffer of the pool is queued (backpressure).
 *   - sync_threads sync threads flush files: a thread pops a file off the ready list (p->ready,
 *     FIFO), moves its queued chunks into the file's "flight" set under f->lock, writes and
 *     syncs them with no lock held, publishes the result, and goes on with the same file while
 *     a waiter wants more of it (what was queued during the flight: group commit). A file is
 *     on the ready list or with a sync thread at most once (f->scheduled), so its flights are
 *     ordered; different files are flushed in parallel and published independently (no batch
 *     barrier: ext4 and XFS merge concurrent fdatasyncs into one journal commit anyway).
 *   - A waiter schedules its own file (pipeline_wait_async). The flusher thread is the timer:
 *     every flush interval, on pipeline_kick() (pool pressure) and at stop it drains the MPSC
 *     queue of dirty files (in the order they became dirty) and schedules each, or sets
 *     f->retake when a sync thread has it already.
 *
 * Per-file state (struct pipeline_file), all under f->lock unless said otherwise:
 *   open     chunks accepted since the file was last taken, a hash map index -> buffer. A
 *            queued chunk holds one contiguous byte range [lo, hi) of the chunk: a new chunk
 *            holds just the bytes written (no read-modify-write, so a 4 KiB write costs a
 *            4 KiB backing write, not a chunk); a later write to it is absorbed, and a gap
 *            between the two is filled from the layers below. Reads lay the open range over
 *            the flight range over the backing file.
 *   flight   the chunks of the flush being written (sorted array), immutable while in flight:
 *            a write to an in-flight chunk copies it into a new open buffer (copy on write),
 *            so a buffer is never modified while the kernel reads it (DURABILITY.md I2).
 *   seq      ticket of the last accepted mutation. Tickets are per file and are issued under
 *            f->lock together with the queueing of the mutation; the take moves the open set
 *            and records flight_seq = seq under the same lock. So "ticket <= flight_seq" is
 *            exactly "this mutation is in the flight": a waiter can never be released by a
 *            flight that does not hold its write. (frozen-core hands out current_epoch + 1
 *            without ordering it against the flusher's drain, so its wait can return before
 *            the write reached the disk.)
 *   durable_seq  the last ticket known durable. Only the flusher raises it, after the file's
 *            fdatasync returned 0. It never moves past a failed flight.
 *   err      sticky error. Set by the flusher when a write or sync of the file fails; never
 *            cleared (a later good fdatasync says nothing about pages the failed writeback
 *            dropped: errseq semantics). The failed flight buffers are kept and stay readable.
 *
 * Truncate ordering (DURABILITY.md I1, I3): a truncate down drops open chunks past the end,
 * zeroes the boundary chunk's tail and records open_trunc = the smallest size truncated to
 * since the last take. The flusher applies ftruncate(flight_trunc) before the flight's chunk
 * writes, and a final ftruncate(flight_size) if the file grew past what the writes cover.
 * Until then, bytes read from the flight set at or past open_trunc, and from the backing file
 * at or past min(open_trunc, flight_trunc), are stale and read as zeros.
 *
 * Lock order: no thread holds f->lock and p->lock at once (pool_get's
 * internal lock is taken under f->lock only with POOL_NOWAIT, which never sleeps). The
 * flusher never holds f->lock while doing I/O.
 *
 * Lifetime: f->refs counts callers' references, plus one while the file is on the MPSC queue
 * (taken when it becomes queued), plus one while it is scheduled (on the ready list or with a
 * sync thread), which becomes the failed list's reference, held until pipeline_destroy(), if
 * its flush fails (so the kept buffers stay readable after the last close). The file is freed
 * at zero. p->files lists every attached file without owning it, for pipeline_sync_all().
 *
 * Backpressure: every queued or in-flight chunk holds one pool buffer, so the queue is bounded
 * by the pool. When more than half of the pool is queued, writers kick the flusher so that the
 * pool drains before they have to block.
 */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpsc.h"
#include "pool.h"

#define NO_TRUNC UINT64_MAX
#define LAT_RING 256

struct pchunk {
	uint64_t index;
	void *buf;			/* chunk_size bytes; only [lo, hi) is meaningful */
	uint32_t lo, hi;		/* the bytes this chunk holds (and will write) */
	struct pchunk *hnext;		/* hash chain (open set only) */
};

/* index -> chunk; chained hash, power-of-two buckets. Protected by the owner's f->lock. */
struct cmap {
	struct pchunk **b;
	size_t nb;
	size_t n;
};

struct waiter {
	uint64_t target;
	unsigned flags;			/* PIPELINE_FSYNC, PIPELINE_WRITTEN */
	pipeline_cb cb;
	void *arg;
	struct waiter *next;
};

struct pipeline_file {
	struct pipeline *p;
	struct chunk_file *cf;
	_Atomic unsigned refs;		/* see Lifetime; acq_rel on decrement */
	struct mpsc_node qnode;		/* on p->dirty while queued */
	pthread_mutex_t lock;

	/* protected by lock */
	uint64_t size;			/* logical size */
	struct timespec mtime;		/* logical mtime; tv_nsec UTIME_OMIT: never set */
	struct timespec ctime;		/* last data change (not a set mtime); same */
	bool mtime_dirty;		/* mtime changed since the last take */
	struct cmap open;
	uint64_t open_trunc;		/* NO_TRUNC or the smallest size truncated to */
	bool need_fsync;		/* metadata changed: use fsync for the next take */
	uint64_t seq;			/* last ticket issued */
	uint64_t durable_seq;		/* last ticket durable */
	uint64_t written_seq;		/* last ticket written to the backing file (not synced) */
	bool queued;			/* on p->dirty, not yet taken */
	bool in_flight;			/* flight set valid (also after a failure: kept) */
	struct pchunk **flight;		/* sorted by index; immutable while in flight */
	size_t nflight;
	uint64_t flight_trunc;
	uint64_t flight_size;
	uint64_t flight_seq;
	bool flight_fsync;
	bool flight_mtime_set;
	struct timespec flight_mtime;
	int err;			/* sticky; 0 or -errno */
	struct err_detail errd;
	bool listed;			/* on p->failed (which holds a reference for it) */
	struct waiter *waiters;

	/*
	 * Backing space reserved (fallocate KEEP_SIZE) up to here. Raised only by reserve()
	 * under resv_lock; lowered under f->lock (truncate; the trim also holds resv_lock). A
	 * writer that finds its end below it, under f->lock, may raise the size without
	 * reserving: a trim lowers it under f->lock before freeing anything.
	 */
	_Atomic uint64_t reserved_end;
	pthread_mutex_t resv_lock;	/* serializes reservations and the trim; before f->lock */
	uint64_t run_start;		/* under resv_lock: where the growth from the end began
					   (0, or the latest write that jumped past the end) */
	/*
	 * Bit 0: the backing file may have holes below the size that nothing reserved, so a
	 * write into one reserves its bytes first (see pipeline_write_from()). Set when a write
	 * jumps past the end, a truncate grows past the reservation, a hole is punched, or the
	 * file came with fewer blocks than its size; cleared by a truncate to 0, and after a
	 * write-out that left no hole (a file filled in). The bits above count the sets, so a
	 * clear based on an older look (the flight's) fails if anything set it since.
	 */
	_Atomic uint64_t holes;
	uint64_t flight_holes;		/* holes when the flight was taken */
	bool trim_wanted;		/* give back space reserved past the end (last close) */
	bool flight_trim;		/* ... in the current flight */

	bool scheduled;			/* on p->ready or being flushed by a sync thread */
	bool retake;			/* dirtied again while scheduled: flush once more */

	/*
	 * The backing ctime is stamped by our own write-outs, at flush time, not at the time of
	 * the call (DURABILITY.md requirement 37). [flush_t0, flush_t1] is the realtime window in
	 * which the latest flight changed the backing inode (t0 from the coarse clock the backing
	 * FS stamps with). Clock readings, not fstat: a ctime query makes the kernel stamp the
	 * next write with a fine-grained time, which costs every later write-out an inode update
	 * (measured: +90 us per 4 KiB write + wait). Under lock.
	 */
	bool flush_window;
	struct timespec flush_t0, flush_t1;

	/* the sync thread flushing this file only */
	uint64_t backing_size;

	/* protected by p->lock */
	struct pipeline_file *rnext;	/* p->ready list */
	struct pipeline_file *fail_next;/* p->failed list */
	int fail_rc;			/* its error, as recorded on that list */
	struct err_detail fail_errd;
	struct pipeline_file *all_prev, *all_next;	/* p->files: every attached file */
};

/*
 * A sync thread. Idle ones wait on their own condition variable, stacked last-idle-first, so
 * the thread woken for a file is the one that ran last (its stack and caches are warm); a
 * shared condition variable would rotate through all of them.
 */
struct worker {
	struct pipeline *p;
	pthread_t th;
	pthread_cond_t cond;
	bool wake;			/* under p->lock */
	struct worker *next_idle;	/* under p->lock */
};

struct pipeline {
	struct pipeline_opts o;
	struct pool *pool;
	struct mpsc *dirty;		/* files with accepted, untaken mutations */

	pthread_mutex_t lock;
	pthread_cond_t kick_cond;	/* flusher sleeps here */
	struct worker *idle;		/* under lock: sync threads waiting, last idle first */
	pthread_cond_t idle_cond;	/* stop waits here for nscheduled == 0 */
	/* protected by lock */
	bool kick;
	bool stopping;
	bool stopped;
	bool wstop;			/* sync threads: exit once the ready list is empty */
	struct pipeline_file *ready_head, *ready_tail;	/* files to flush, FIFO */
	unsigned nscheduled;		/* files on the ready list or being flushed */
	struct pipeline_file *files;	/* every attached file (not owning references) */
	_Atomic size_t nfiles;		/* relaxed: length of files, for pipeline_file_count() */
	uint64_t batches_done;		/* file flushes published */
	int first_err;
	struct err_detail first_errd;
	struct pipeline_file *failed;	/* files that failed, each holding a reference */
	uint64_t lat_us[LAT_RING];
	uint64_t nlat;

	_Atomic bool kick_hint;		/* kick already requested; relaxed, an optimisation */
	_Atomic bool stopping_hint;	/* pipeline_stop() called; relaxed (checked under p->lock
					   by the flusher loop anyway) */
	pthread_t flusher;
	bool flusher_started;
	pthread_t prefaulter;		/* pool_prefault() in the background, joined at stop */
	bool prefault_started;
	struct worker *workers;		/* the sync threads */
	unsigned nworkers;

	/* counters: relaxed, statistics only */
	_Atomic uint64_t queued_chunks;
	_Atomic uint64_t kept_chunks;
	_Atomic uint64_t bytes_written;
	_Atomic uint64_t chunks_written;
	_Atomic uint64_t absorbed;
	_Atomic uint64_t syncs;
	_Atomic uint64_t waits;
	_Atomic uint64_t failed_files;
};

/* ---- chunk map ------------------------------------------------------------------------ */

static size_t hash64(uint64_t x, size_t nb)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (nb - 1);
}

static struct pchunk *cmap_find(const struct cmap *m, uint64_t index)
{
	if (!m->n)
		return NULL;
	for (struct pchunk *c = m->b[hash64(index, m->nb)]; c; c = c->hnext)
		if (c->index == index)
			return c;
	return NULL;
}

static int cmap_insert(struct cmap *m, struct pchunk *c)
{
	if (m->n + 1 > m->nb) {
		size_t nb = m->nb ? m->nb * 2 : 16;
		struct pchunk **b = calloc(nb, sizeof(*b));

		if (!b)
			return -ENOMEM;
		for (size_t i = 0; i < m->nb; i++) {
			struct pchunk *x = m->b[i], *next;

			for (; x; x = next) {
				size_t h = hash64(x->index, nb);

				next = x->hnext;
				x->hnext = b[h];
				b[h] = x;
			}
		}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	size_t h = hash64(c->index, m->nb);

	c->hnext = m->b[h];
	m->b[h] = c;
	m->n++;
	return 0;
}

/* Moves every entry into a new array (caller frees); the map is left empty. */
static struct pchunk **cmap_take(struct cmap *m, size_t *n)
{
	struct pchunk **a;
	size_t k = 0;

	*n = 0;
	if (!m->n)
		return NULL;
	a = malloc(m->n * sizeof(*a));
	if (!a)
		return NULL;
	for (size_t i = 0; i < m->nb; i++) {
		for (struct pchunk *x = m->b[i]; x; x = x->hnext)
			a[k++] = x;
		m->b[i] = NULL;
	}
	m->n = 0;
	*n = k;
	return a;
}

static int pchunk_cmp(const void *a, const void *b)
{
	const struct pchunk *x = *(struct pchunk *const *)a, *y = *(struct pchunk *const *)b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static struct pchunk *flight_find(const struct pipeline_file *f, uint64_t index)
{
	size_t lo = 0, hi = f->nflight;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t x = f->flight[mid]->index;

		if (x == index)
			return f->flight[mid];
		if (x < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- small helpers ---------------------------------------------------------------------- */

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void chunk_release(struct pipeline *p, struct pchunk *c)
{
	pool_put(p->pool, c->buf);
	free(c);
	atomic_fetch_sub_explicit(&p->queued_chunks, 1, memory_order_relaxed);
}

void pipeline_kick(struct pipeline *p)
{
	/* The hint saves the lock when a kick is already pending; the flusher clears it
	 * under p->lock before draining the queue, so a kick after that clear is never lost. */
	if (atomic_load_explicit(&p->kick_hint, memory_order_relaxed))
		return;
	pthread_mutex_lock(&p->lock);
	atomic_store_explicit(&p->kick_hint, true, memory_order_relaxed);
	p->kick = true;
	pthread_cond_signal(&p->kick_cond);
	pthread_mutex_unlock(&p->lock);
}

/* Under f->lock: issue the next ticket and make sure the file is on the dirty queue. */
static uint64_t mutation_locked(struct pipeline_file *f)
{
	f->seq++;
	if (f->p->o.submit_delay_us)
		usleep(f->p->o.submit_delay_us);	/* tests: widen the ticket/take window */
	if (!f->queued) {
		f->queued = true;
		/* The queue's reference; dropped when the flusher drains it. */
		atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
		mpsc_push(f->p->dirty, &f->qnode);
	}
	return f->seq;
}

/*
 * The mtime from the fine clock: never earlier than a clock reading taken before the call
 * (requirement 37). The ctime from the coarse clock, as the kernel stamps inodes
 * (current_time()): the backing ctime the write-out stamps later is then never earlier, so
 * the ctime shown does not step back when that stamp shows (after the inode is forgotten,
 * or a remount); a fine reading can be up to a tick ahead of it (found by it_diff). So the
 * ctime may trail the mtime by less than a tick, as the requirement's test allows.
 */
static void set_mtime_now_locked(struct pipeline_file *f)
{
	clock_gettime(CLOCK_REALTIME, &f->mtime);
	clock_gettime(CLOCK_REALTIME_COARSE, &f->ctime);
	f->mtime_dirty = true;
}

/*
 * Under f->lock: bytes [a, b) of chunk @index as they are without the open set: the backing
 * file (zero at and past every pending truncate, the logical size, and its EOF) with the
 * flight chunk's bytes laid over it (zero at and past the open set's truncate).
 */
static int read_base_locked(struct pipeline_file *f, uint64_t index, size_t a, size_t b,
			    uint8_t *dst)
{
	uint64_t base = index * f->p->o.chunk_size;
	uint64_t vis_flight = min64(f->size, f->open_trunc);
	struct pchunk *fc = f->in_flight ? flight_find(f, index) : NULL;
	size_t flo = 0, fhi = 0;

	if (fc) {
		/* The flight chunk's bytes that are still visible. */
		flo = fc->lo;
		fhi = fc->hi;
		if (base + fhi > vis_flight)
			fhi = vis_flight > base ? (size_t)(vis_flight - base) : 0;
		if (fhi < flo)
			fhi = flo;
	}
	if (!(flo <= a && fhi >= b)) {
		uint64_t vis = f->in_flight ? min64(vis_flight, f->flight_trunc) : vis_flight;
		size_t have = 0;

		if (vis > base + a) {
			ssize_t r = chunk_file_pread_at(f->cf, base + a, dst,
							(size_t)min64(b - a, vis - base - a));

			if (r < 0)
				return (int)r;
			have = (size_t)r;
		}
		memset(dst + have, 0, b - a - have);
	}
	size_t lo = flo > a ? flo : a, hi = fhi < b ? fhi : b;

	if (lo < hi)
		memcpy(dst + (lo - a), (uint8_t *)fc->buf + lo, hi - lo);
	return 0;
}

/* ---- writes ------------------------------------------------------------------------------ */

/* Sizes up to this are allowed on every backing FS we support; beyond, ask the FS. */
#define SIZE_CHECK_FROM (1ULL << 40)
/* Files growing past opts.reserve_ahead_from reserve an eighth of their size ahead, at most: */
#define RESERVE_AHEAD_MAX (8ULL << 20)

static uint64_t round_up64(uint64_t x, uint64_t m)
{
	return x % m ? x + (m - x % m) : x;
}

/* Marks @f as maybe having holes (@on) or as having none, counting the change. */
static void holes_set(struct pipeline_file *f, bool on)
{
	uint64_t o = atomic_load_explicit(&f->holes, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(&f->holes, &o,
						      (((o >> 1) + 1) << 1) | (on ? 1 : 0),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/*
 * Reserves backing space for a write extending the file to @end (EFBIG and ENOSPC are
 * reported here, before anything is queued: DURABILITY.md requirement 20). Called without
 * f->lock.
 *
 * A small file is reserved exactly, so it never shows more blocks than its data. Past the
 * first chunk the reservation runs to the end of the chunk (small appends cost one fallocate
 * per chunk), and a file growing from its end past opts.reserve_ahead_from (1 MiB by
 * default) reserves ahead of the end by an eighth of the size, up to 8 MiB:
 * fallocate takes the backing inode's lock exclusively, and so does the sync thread's pwritev
 * for as long as it copies, so a writer reserving every chunk of a large sequential write
 * stalls behind every write-out (measured: dd bs=1M ran at a third of the speed). What is
 * reserved past the end is given back at the last close (pipeline_file_trim()). If the
 * larger reservation does not fit, the exact one is tried before ENOSPC is reported.
 */
static int reserve(struct pipeline_file *f, uint64_t start, uint64_t end, uint64_t size)
{
	uint64_t cs = f->p->o.chunk_size, rend = end, exact, rsv;
	int rc = 0;

	if (end > SIZE_CHECK_FROM) {
		rc = chunk_file_check_size(f->cf, end);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&f->resv_lock);
	rsv = atomic_load_explicit(&f->reserved_end, memory_order_relaxed);
	if (end <= rsv)
		goto out;		/* another writer reserved it meanwhile */
	if (start > size && start > rsv) {
		/*
		 * A write past the end leaves a hole behind it: reserved exactly, so that a
		 * file written sparsely takes no more space than on the backing filesystem
		 * (rounding up to the chunk would take a chunk per write).
		 */
		holes_set(f, true);
		f->run_start = start;
	} else if (end > cs) {
		rend = round_up64(end, cs);
	}
	if (start < f->run_start)
		f->run_start = 0;	/* truncated below it since */
	exact = rend;
	/*
	 * Ahead only for growth from the end, by an eighth of what has grown since the last
	 * jump: a region written at a far offset (tar extracting a sparse file) is not given
	 * megabytes inside the file that the last close cannot give back.
	 */
	if (end - f->run_start > f->p->o.reserve_ahead_from && start <= rsv) {
		uint64_t ahead = round_up64((end - f->run_start) / 8, cs);

		rend += ahead < RESERVE_AHEAD_MAX ? ahead : round_up64(RESERVE_AHEAD_MAX, cs);
	}
	rc = chunk_file_reserve(f->cf, start, rend - start);
	if ((rc == -ENOSPC || rc == -EDQUOT) && rend > exact) {
		rend = exact;
		rc = chunk_file_reserve(f->cf, start, rend - start);
	}
	if (rc == 0 && rend > atomic_load_explicit(&f->reserved_end, memory_order_relaxed))
		atomic_store_explicit(&f->reserved_end, rend, memory_order_relaxed);
out:
	pthread_mutex_unlock(&f->resv_lock);
	return rc;
}

void pipeline_file_reserved(struct pipeline_file *f, uint64_t off, uint64_t end)
{
	pthread_mutex_lock(&f->resv_lock);
	/* Only joined to what is reserved already: a gap before @off stays a hole. */
	if (off <= atomic_load_explicit(&f->reserved_end, memory_order_relaxed) &&
	    end > atomic_load_explicit(&f->reserved_end, memory_order_relaxed))
		atomic_store_explicit(&f->reserved_end, end, memory_order_relaxed);
	pthread_mutex_unlock(&f->resv_lock);
}

static int fill_copy(void *arg, void *dst, size_t len)
{
	memcpy(dst, arg, len);
	return 0;
}

int pipeline_write(struct pipeline_file *f, uint64_t index, size_t off, const void *src,
		   size_t len, uint64_t *ticket)
{
	return pipeline_write_from(f, index, off, len, fill_copy, (void *)src, ticket);
}

int pipeline_write_from(struct pipeline_file *f, uint64_t index, size_t off, size_t len,
			pipeline_fill_fn fill, void *arg, uint64_t *ticket)
{
	struct pipeline *p = f->p;
	size_t cs = p->o.chunk_size;
	struct pchunk *c, *fresh = NULL;
	uint64_t start, end, t;
	int rc;

	if (off > cs || len > cs - off)
		return err_set(-EINVAL, "pipeline_write", chunk_file_name(f->cf));
	if (index > (UINT64_MAX - off - len) / cs)
		return err_set(-EFBIG, "pipeline_write", chunk_file_name(f->cf));
	start = index * cs + off;
	end = start + len;

	pthread_mutex_lock(&f->lock);
	if (f->err)
		goto fail_sticky;
	if (!len) {
		t = f->seq;
		goto out;
	}
	for (bool hole_done = false;;) {
		uint64_t lo = start, hi = end;

		if (end > f->size &&
		    end > atomic_load_explicit(&f->reserved_end, memory_order_relaxed)) {
			/* Extending past the reservation: reserve first (checked again under
			 * f->lock, which a trim of the reservation takes too). */
			uint64_t size = f->size;

			pthread_mutex_unlock(&f->lock);
			rc = reserve(f, start, end, size);
		} else if (!hole_done && start < f->size &&
			   (atomic_load_explicit(&f->holes, memory_order_relaxed) & 1)) {
			/*
			 * The bytes may land in a hole: reserve what this chunk will write (its
			 * queued range joins the new bytes), so that a full disk fails this
			 * write(2) with ENOSPC instead of the write-out (the sticky path). On an
			 * allocated range the fallocate changes nothing; random 4 KiB writes
			 * filling a sparse file lose 10-30% of their IOPS to it (RESULTS.md).
			 * An append (from the end on) is the branch above's: reserved ahead.
			 */
			c = cmap_find(&f->open, index);
			if (c) {
				lo = min64(lo, index * cs + c->lo);
				hi = end > index * cs + c->hi ? end : index * cs + c->hi;
			}
			hole_done = true;
			pthread_mutex_unlock(&f->lock);
			rc = chunk_file_reserve(f->cf, lo, hi - lo);
		} else {
			break;
		}
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&f->lock);
		if (f->err)
			goto fail_sticky;
	}

	c = cmap_find(&f->open, index);
	if (!c) {
		void *buf = NULL;

		fresh = malloc(sizeof(*fresh));
		if (!fresh) {
			pthread_mutex_unlock(&f->lock);
			return err_set(-ENOMEM, "pipeline_write", chunk_file_name(f->cf));
		}
		rc = pool_get(p->pool, 1, POOL_NOWAIT, &buf);
		if (rc < 0 && atomic_load_explicit(&p->kept_chunks, memory_order_relaxed) >
				      p->o.pool_bufs / 2) {
			/* Failed files hold most of the pool and never give it back: blocking
			 * would block forever, so other files get memory outside the pool. */
			rc = pool_get_dynamic(p->pool, &buf);
		}
		if (rc < 0) {
			/* Pool empty: never block holding f->lock (the flusher needs it to take
			 * this file's chunks, which is what will give buffers back). */
			pthread_mutex_unlock(&f->lock);
			pipeline_kick(p);
			rc = pool_get(p->pool, 1, POOL_WAIT, &buf);
			if (rc < 0) {
				free(fresh);
				return err_set(rc, "pool_get", chunk_file_name(f->cf));
			}
			pthread_mutex_lock(&f->lock);
			if (f->err) {
				pool_put(p->pool, buf);
				free(fresh);
				goto fail_sticky;
			}
			c = cmap_find(&f->open, index);	/* someone may have queued it meanwhile */
			if (c) {
				pool_put(p->pool, buf);
				free(fresh);
				fresh = NULL;
			}
		}
		if (!c) {
			/* A new chunk holds just the bytes written: no read-modify-write. */
			fresh->index = index;
			fresh->buf = buf;
			fresh->lo = (uint32_t)off;
			fresh->hi = (uint32_t)(off + len);
			rc = fill(arg, (uint8_t *)buf + off, len);
			if (rc < 0)
				goto fail_fresh;
			rc = cmap_insert(&f->open, fresh);
			if (rc < 0)
				goto fail_fresh;
			atomic_fetch_add_explicit(&p->queued_chunks, 1, memory_order_relaxed);
			c = fresh;
		}
	}
	if (c != fresh) {
		atomic_fetch_add_explicit(&p->absorbed, 1, memory_order_relaxed);
		/* Keep [lo, hi) one contiguous range: fill a gap between it and the new bytes
		 * with the current content underneath. */
		if (off + len < c->lo) {
			rc = read_base_locked(f, index, off + len, c->lo,
					      (uint8_t *)c->buf + off + len);
			if (rc < 0)
				goto fail_locked;
		} else if (off > c->hi) {
			rc = read_base_locked(f, index, c->hi, off, (uint8_t *)c->buf + c->hi);
			if (rc < 0)
				goto fail_locked;
		}
		/* The range grows only over filled bytes; a failed fill may leave part of the
		 * new bytes inside the old range (a torn, failed write) but never garbage. */
		rc = fill(arg, (uint8_t *)c->buf + off, len);
		if (rc < 0)
			goto fail_locked;
		if (off < c->lo)
			c->lo = (uint32_t)off;
		if (off + len > c->hi)
			c->hi = (uint32_t)(off + len);
	}

	if (end > f->size)
		f->size = end;
	set_mtime_now_locked(f);
	t = mutation_locked(f);
out:
	pthread_mutex_unlock(&f->lock);
	if (ticket)
		*ticket = t;
	if (atomic_load_explicit(&p->queued_chunks, memory_order_relaxed) > p->o.pool_bufs / 2)
		pipeline_kick(p);
	return 0;

fail_fresh:
	pthread_mutex_unlock(&f->lock);
	pool_put(p->pool, fresh->buf);
	free(fresh);
	return rc;
fail_locked:
	pthread_mutex_unlock(&f->lock);
	return rc;
fail_sticky:
	pthread_mutex_unlock(&f->lock);
	/* Fail-stop: a file whose data could not be made durable takes no new data. */
	return err_set(-EIO, "pipeline_write (file has a sticky error)", chunk_file_name(f->cf));
}

int pipeline_truncate(struct pipeline_file *f, uint64_t size, uint64_t *ticket)
{
	struct pipeline *p = f->p;
	size_t cs = p->o.chunk_size;
	uint64_t t;
	int rc;

	if (size > (uint64_t)INT64_MAX)
		return err_set(-EFBIG, "truncate", chunk_file_name(f->cf));
	if (size > SIZE_CHECK_FROM) {
		rc = chunk_file_check_size(f->cf, size);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&f->lock);
	if (f->err) {
		pthread_mutex_unlock(&f->lock);
		return err_set(-EIO, "truncate (file has a sticky error)", chunk_file_name(f->cf));
	}
	if (size < f->size) {
		/* Drop queued bytes at and past the end: whole chunks, and the boundary chunk's
		 * tail (I1). */
		for (size_t i = 0; i < f->open.nb && f->open.n; i++) {
			struct pchunk **pp = &f->open.b[i];

			while (*pp) {
				struct pchunk *c = *pp;
				uint64_t base = c->index * cs;

				if (base + c->lo >= size) {
					*pp = c->hnext;
					f->open.n--;
					chunk_release(p, c);
					continue;
				}
				if (base + c->hi > size)
					c->hi = (uint32_t)(size - base);
				pp = &c->hnext;
			}
		}
		f->open_trunc = min64(f->open_trunc, size);
		/* The shrink frees what was reserved past @size when the flight applies it. */
		if (atomic_load_explicit(&f->reserved_end, memory_order_relaxed) > size)
			atomic_store_explicit(&f->reserved_end, size, memory_order_relaxed);
		if (size == 0)
			holes_set(f, false);
	} else if (size > f->size &&
		   size > atomic_load_explicit(&f->reserved_end, memory_order_relaxed)) {
		holes_set(f, true);	/* grown over a hole */
	}
	f->size = size;
	set_mtime_now_locked(f);
	t = mutation_locked(f);
	pthread_mutex_unlock(&f->lock);
	if (ticket)
		*ticket = t;
	return 0;
}

/*
 * Under f->lock: removes bytes [@off, @end) of the file from the open set. A chunk wholly
 * inside is dropped; one the range cuts at an edge is trimmed to the part outside; one the
 * range cuts in the middle keeps its range with the cut bytes zeroed (a chunk holds one
 * contiguous range).
 */
static void open_cut_locked(struct pipeline_file *f, uint64_t off, uint64_t end)
{
	struct pipeline *p = f->p;
	size_t cs = p->o.chunk_size;

	for (size_t i = 0; i < f->open.nb && f->open.n; i++) {
		struct pchunk **pp = &f->open.b[i];

		while (*pp) {
			struct pchunk *c = *pp;
			uint64_t base = c->index * cs, lo = base + c->lo, hi = base + c->hi;

			if (hi <= off || lo >= end) {
				pp = &c->hnext;
				continue;
			}
			if (off <= lo && end >= hi) {
				*pp = c->hnext;
				f->open.n--;
				chunk_release(p, c);
				continue;
			}
			if (off <= lo)
				c->lo = (uint32_t)(end - base);
			else if (end >= hi)
				c->hi = (uint32_t)(off - base);
			else
				memset((uint8_t *)c->buf + (off - base), 0, (size_t)(end - off));
			pp = &c->hnext;
		}
	}
}

/*
 * Zeroes and allocates [@off, @off + @len) of the backing file. Where the backing filesystem
 * has no ZERO_RANGE (tmpfs, NFS), as a punched hole allocated again: the same bytes, so that
 * the mount offers the mode whether or not the range has reached the backing file yet. If
 * the allocation then fails (ENOSPC), the range already reads as zeros; the caller reports
 * the error as the backing filesystem's own ZERO_RANGE would.
 */
static int zero_backing(struct chunk_file *cf, uint64_t off, uint64_t len)
{
	int rc = chunk_file_fallocate(cf, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);

	if (rc != -EOPNOTSUPP)
		return rc;
	rc = chunk_file_fallocate(cf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
	if (rc == 0)
		rc = chunk_file_reserve(cf, off, len);
	return rc;
}

int pipeline_punch(struct pipeline_file *f, uint64_t off, uint64_t len, bool zero,
		   uint64_t *ticket)
{
	uint64_t end, blen, t;
	int rc = 0;

	if (!len || off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return err_set(len ? -EFBIG : -EINVAL, zero ? "zero range" : "punch hole",
			       chunk_file_name(f->cf));
	end = off + len;
	pthread_mutex_lock(&f->lock);
	/*
	 * A flight being written may cover the range: its pwritev landing after the punch would
	 * bring the old bytes back. Wait until no flight is in progress; none can start while
	 * f->lock is held below, since a take needs it.
	 */
	while (!f->err && f->in_flight) {
		uint64_t s = f->flight_seq;

		pthread_mutex_unlock(&f->lock);
		(void)pipeline_wait(f, s, 0);
		pthread_mutex_lock(&f->lock);
	}
	if (f->err) {
		pthread_mutex_unlock(&f->lock);
		return err_set(-EIO, zero ? "zero range (file has a sticky error)" :
					    "punch hole (file has a sticky error)",
			       chunk_file_name(f->cf));
	}
	/* Only flights change the backing length, and none is in progress. */
	blen = f->backing_size;
	if (zero) {
		/* Zeroed and allocated: the backing bytes in place, a reservation past them. */
		if (off < blen)
			rc = zero_backing(f->cf, off, min64(end, blen) - off);
		if (rc == 0 && end > blen && end > off)
			rc = chunk_file_reserve(f->cf, off > blen ? off : blen,
						end - (off > blen ? off : blen));
	} else {
		/* Deallocated where the backing file has bytes of the file; past them there is
		 * nothing to free but reservations that queued writes rely on. */
		uint64_t bend = min64(end, min64(blen, f->size));

		if (off < bend)
			rc = chunk_file_fallocate(f->cf, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						  off, bend - off);
	}
	if (rc < 0) {
		pthread_mutex_unlock(&f->lock);
		return rc;	/* nothing queued was changed */
	}
	if (!zero)
		holes_set(f, true);
	open_cut_locked(f, off, end);
	set_mtime_now_locked(f);
	t = mutation_locked(f);
	pthread_mutex_unlock(&f->lock);
	if (ticket)
		*ticket = t;
	return 0;
}

/* Under f->lock: whether chunk @index has queued or in-flight bytes. */
static bool chunk_queued_locked(const struct pipeline_file *f, uint64_t index)
{
	return cmap_find(&f->open, index) || (f->in_flight && flight_find(f, index));
}

int pipeline_seek_data(struct pipeline_file *f, uint64_t off, bool hole, uint64_t *out)
{
	size_t cs = f->p->o.chunk_size;
	uint64_t vis, x, r;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (off >= f->size) {
		pthread_mutex_unlock(&f->lock);
		return -ENXIO;
	}
	/* Backing bytes at or past this are stale (a truncate is pending) or past the end. */
	vis = min64(f->size, f->open_trunc);
	if (f->in_flight)
		vis = min64(vis, f->flight_trunc);
	if (!hole) {
		/* The first data: the backing file's, or the first chunk with queued bytes
		 * (counted whole: data where there is a hole is allowed, the reverse is not). */
		x = UINT64_MAX;
		if (off < vis) {
			rc = chunk_file_seek_data(f->cf, off, 0, &r);
			if (rc == 0 && r < vis)
				x = r;
		}
		if (rc == 0 || rc == -ENXIO) {
			rc = 0;
			for (size_t i = 0; i < f->open.nb && f->open.n; i++)
				for (struct pchunk *c = f->open.b[i]; c; c = c->hnext)
					if ((c->index + 1) * cs > off)
						x = min64(x, c->index * cs > off ? c->index * cs : off);
			for (size_t k = 0; f->in_flight && k < f->nflight; k++)
				if ((f->flight[k]->index + 1) * cs > off) {
					uint64_t b = f->flight[k]->index * cs;

					x = min64(x, b > off ? b : off);
					break;	/* sorted: the first one past @off is the lowest */
				}
			if (x >= f->size)
				rc = -ENXIO;
		}
	} else {
		/*
		 * The first byte that is a hole in the backing file (or stale there) and in no
		 * chunk with queued bytes; the end of the file at the latest. A hole counts only
		 * from a chunk boundary: one that starts inside a chunk starts at the backing
		 * file's end or at a pending truncate, inside a block that becomes data as soon as
		 * a flight extends the file past it, and a SEEK_DATA after that flight would find
		 * data where this answer put a hole (it_model caught it).
		 */
		x = off;
		while (rc == 0 && x < f->size) {
			if (chunk_queued_locked(f, x / cs)) {
				x = (x / cs + 1) * cs;
				continue;
			}
			if (x < vis) {
				rc = chunk_file_seek_data(f->cf, x, 1, &r);
				if (rc == -ENXIO) {
					rc = 0;		/* the backing file ends before x */
					r = x;
				}
				if (rc == 0 && r > x) {
					x = min64(r, vis);
					continue;
				}
			}
			if (rc == 0 && x % cs) {
				x = round_up64(x, cs);
				continue;
			}
			break;
		}
		if (x > f->size)
			x = f->size;
	}
	pthread_mutex_unlock(&f->lock);
	if (rc == 0)
		*out = x;
	return rc;
}

void pipeline_file_set_mtime(struct pipeline_file *f, const struct timespec *mtime)
{
	pthread_mutex_lock(&f->lock);
	f->mtime = *mtime;
	f->mtime_dirty = true;
	mutation_locked(f);
	pthread_mutex_unlock(&f->lock);
}

uint64_t pipeline_file_touch_meta(struct pipeline_file *f)
{
	uint64_t t;

	pthread_mutex_lock(&f->lock);
	f->need_fsync = true;
	t = mutation_locked(f);
	pthread_mutex_unlock(&f->lock);
	return t;
}

uint64_t pipeline_file_ticket(struct pipeline_file *f)
{
	uint64_t t;

	pthread_mutex_lock(&f->lock);
	t = f->seq;
	pthread_mutex_unlock(&f->lock);
	return t;
}

/* ---- reads ------------------------------------------------------------------------------- */

int pipeline_read_direct(struct pipeline_file *f, uint64_t off, size_t *len)
{
	int direct;

	pthread_mutex_lock(&f->lock);
	if (off >= f->size) {
		*len = 0;
		direct = 1;
	} else {
		*len = (size_t)min64(*len, f->size - off);
		direct = !f->in_flight && !f->open.n && f->open_trunc == NO_TRUNC &&
			 off + *len <= f->backing_size;
	}
	pthread_mutex_unlock(&f->lock);
	return direct;
}

ssize_t pipeline_read(struct pipeline_file *f, uint64_t off, void *dst, size_t len)
{
	size_t cs = f->p->o.chunk_size;
	uint8_t *out = dst;
	size_t done = 0;

	pthread_mutex_lock(&f->lock);
	if (off >= f->size) {
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	len = (size_t)min64(len, f->size - off);
	if (!f->in_flight && !f->open.n && f->open_trunc == NO_TRUNC) {
		/* Nothing queued: the backing file is the whole truth, read it in one go. */
		pthread_mutex_unlock(&f->lock);
		ssize_t r = chunk_file_pread_at(f->cf, off, dst, len);

		if (r < 0)
			return r;
		memset(out + r, 0, len - (size_t)r);	/* a hole at the end reads as zeros */
		return (ssize_t)len;
	}

	/* Backing bytes at or past this are stale (a truncate is queued) or past EOF. */
	uint64_t vis_back = min64(f->size, f->open_trunc);

	if (f->in_flight)
		vis_back = min64(vis_back, f->flight_trunc);
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t index = pos / cs;
		size_t in = (size_t)(pos % cs);
		size_t n = (size_t)min64(cs - in, len - done);
		struct pchunk *c = cmap_find(&f->open, index);
		int rc;

		if (c && c->lo <= in && c->hi >= in + n) {
			memcpy(out + done, (uint8_t *)c->buf + in, n);	/* all queued */
		} else if (c || (f->in_flight && flight_find(f, index))) {
			/* Partly queued or in flight: the layers below, then the queued bytes. */
			rc = read_base_locked(f, index, in, in + n, out + done);
			if (rc < 0) {
				pthread_mutex_unlock(&f->lock);
				return rc;
			}
			if (c) {
				size_t lo = c->lo > in ? c->lo : in;
				size_t hi = c->hi < in + n ? c->hi : in + n;

				if (lo < hi)
					memcpy(out + done + (lo - in), (uint8_t *)c->buf + lo, hi - lo);
			}
		} else {
			/* Only on the backing file: read a run of such chunks in one go. */
			while (done + n < len) {
				uint64_t ni = (off + done + n) / cs;

				if (cmap_find(&f->open, ni) || (f->in_flight && flight_find(f, ni)))
					break;
				n += (size_t)min64(cs, len - done - n);
			}
			size_t have = vis_back > pos ? (size_t)min64(n, vis_back - pos) : 0;
			ssize_t r = have ? chunk_file_pread_at(f->cf, pos, out + done, have) : 0;

			if (r < 0) {
				pthread_mutex_unlock(&f->lock);
				return r;
			}
			memset(out + done + r, 0, n - (size_t)r);
		}
		done += n;
	}
	pthread_mutex_unlock(&f->lock);
	return (ssize_t)len;
}

/* ---- waits ------------------------------------------------------------------------------- */

static void ready_push(struct pipeline *p, struct pipeline_file *f);

/*
 * f->lock held: marks the file scheduled, with a reference for the sync thread, unless a
 * sync thread has it already. True if the caller must ready_push() it (after unlocking).
 */
static bool claim_locked(struct pipeline_file *f)
{
	if (f->scheduled)
		return false;
	f->scheduled = true;
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	return true;
}

#define PIPELINE_SERVE 2	/* wait_enqueue(): the caller claimed the file and flushes it */

/*
 * pipeline_wait_async(); with @serve, a file no sync thread has is claimed for the caller,
 * who must serve_file() it (PIPELINE_SERVE) instead of handing it to a sync thread.
 */
static int wait_enqueue(struct pipeline_file *f, uint64_t ticket, unsigned flags,
			pipeline_cb cb, void *arg, bool serve)
{
	struct waiter *w;

	atomic_fetch_add_explicit(&f->p->waits, 1, memory_order_relaxed);
	pthread_mutex_lock(&f->lock);
	if (!ticket)
		ticket = f->seq;
	if (f->err) {
		int e = f->err;

		pthread_mutex_unlock(&f->lock);
		return e;
	}
	if (ticket <= f->durable_seq ||
	    ((flags & PIPELINE_WRITTEN) && ticket <= f->written_seq)) {
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	if (flags & PIPELINE_FSYNC) {
		/* The flush that takes the open set will use fsync. If the ticket is in a batch
		 * already in flight with fdatasync, wait for the next flush instead. */
		f->need_fsync = true;
		if (f->in_flight && ticket <= f->flight_seq && !f->flight_fsync)
			ticket = mutation_locked(f);
	}
	w = malloc(sizeof(*w));
	if (!w) {
		pthread_mutex_unlock(&f->lock);
		return -ENOMEM;
	}
	w->target = ticket;
	w->flags = flags;
	w->cb = cb;
	w->arg = arg;
	w->next = f->waiters;
	f->waiters = w;
	/*
	 * Schedule the file now (no timer, no flusher round trip). If a sync thread has it, that
	 * thread sees this waiter when it publishes and takes the file again: whatever was
	 * queued meanwhile goes out in one flight (group commit).
	 */
	bool schedule = claim_locked(f);

	pthread_mutex_unlock(&f->lock);
	if (schedule && serve)
		return PIPELINE_SERVE;
	if (schedule)
		ready_push(f->p, f);
	return PIPELINE_PENDING;
}

int pipeline_wait_async(struct pipeline_file *f, uint64_t ticket, unsigned flags,
			pipeline_cb cb, void *arg)
{
	return wait_enqueue(f, ticket, flags, cb, arg, false);
}

void pipeline_file_trim(struct pipeline_file *f)
{
	bool schedule;

	pthread_mutex_lock(&f->lock);
	schedule = !f->err &&
		   atomic_load_explicit(&f->reserved_end, memory_order_relaxed) >
			   round_up64(f->size, f->p->o.chunk_size);
	if (schedule) {
		f->trim_wanted = true;
		schedule = claim_locked(f);
		if (!schedule)
			f->retake = true;	/* a sync thread has it: one more flight */
	}
	pthread_mutex_unlock(&f->lock);
	if (schedule)
		ready_push(f->p, f);
}

void pipeline_file_flush(struct pipeline_file *f)
{
	bool schedule;

	pthread_mutex_lock(&f->lock);
	schedule = !f->err && f->seq != f->durable_seq && claim_locked(f);
	pthread_mutex_unlock(&f->lock);
	if (schedule)
		ready_push(f->p, f);
}

struct sync_wait {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool done;
	int rc;
};

static void sync_wait_cb(void *arg, int rc)
{
	struct sync_wait *s = arg;

	pthread_mutex_lock(&s->m);
	s->rc = rc;
	s->done = true;
	pthread_cond_signal(&s->c);
	pthread_mutex_unlock(&s->m);
}

static void serve_file(struct pipeline *p, struct pipeline_file *f, const bool *mine_done);

/*
 * Blocking wait. A caller that would only sleep until a sync thread flushed its file flushes
 * it itself when no sync thread has it (two thread hand-offs less per wait: a 1-thread
 * write+wait loop runs as fast as pwrite+fdatasync), and hands the file to the sync threads
 * once its own ticket is answered. Otherwise it sleeps like any waiter.
 */
int pipeline_wait(struct pipeline_file *f, uint64_t ticket, unsigned flags)
{
	struct pipeline *p = f->p;
	struct sync_wait s = { .done = false, .rc = 0 };
	int rc;

	pthread_mutex_init(&s.m, NULL);
	pthread_cond_init(&s.c, NULL);
	/* A PIPELINE_WRITTEN waiter is answered before the flight's sync, which it must not
	 * have to sit through: the sync threads serve it. */
	rc = wait_enqueue(f, ticket, flags, sync_wait_cb, &s, !(flags & PIPELINE_WRITTEN));
	if (rc == PIPELINE_SERVE) {
		pthread_mutex_lock(&p->lock);
		p->nscheduled++;
		pthread_mutex_unlock(&p->lock);
		serve_file(p, f, &s.done);
		pthread_mutex_lock(&p->lock);
		if (--p->nscheduled == 0)
			pthread_cond_broadcast(&p->idle_cond);
		pthread_mutex_unlock(&p->lock);
		rc = PIPELINE_PENDING;
	}
	if (rc == PIPELINE_PENDING) {
		pthread_mutex_lock(&s.m);
		while (!s.done)
			pthread_cond_wait(&s.c, &s.m);
		pthread_mutex_unlock(&s.m);
		rc = s.rc;
	}
	pthread_cond_destroy(&s.c);
	pthread_mutex_destroy(&s.m);
	if (rc < 0) {
		struct err_detail d;

		if (pipeline_file_error(f, &d) == rc)
			err_restore(&d);
	}
	return rc;
}

int pipeline_file_error(struct pipeline_file *f, struct err_detail *d)
{
	int e;

	pthread_mutex_lock(&f->lock);
	e = f->err;
	if (d)
		*d = f->errd;
	pthread_mutex_unlock(&f->lock);
	return e;
}

void pipeline_file_stat(struct pipeline_file *f, struct pipeline_file_stat *st)
{
	pthread_mutex_lock(&f->lock);
	st->size = f->size;
	st->mtime = f->mtime;
	st->ctime = f->ctime;
	st->queued_chunks = f->open.n + (f->in_flight ? f->nflight : 0);
	st->ticket = f->seq;
	st->durable_ticket = f->durable_seq;
	st->error = f->err;
	st->flushing = f->in_flight && !f->err;
	st->flush_window = f->flush_window;
	st->flush_t0 = f->flush_t0;
	st->flush_t1 = f->flush_t1;
	pthread_mutex_unlock(&f->lock);
}

uint64_t pipeline_file_size(struct pipeline_file *f)
{
	uint64_t s;

	pthread_mutex_lock(&f->lock);
	s = f->size;
	pthread_mutex_unlock(&f->lock);
	return s;
}

struct chunk_file *pipeline_file_chunk(struct pipeline_file *f)
{
	return f->cf;
}

/* ---- file lifetime ----------------------------------------------------------------------- */

int pipeline_file_attach(struct pipeline *p, struct chunk_file *cf, struct pipeline_file **out)
{
	struct pipeline_file *f;
	struct stat st;
	uint64_t size;
	int rc;

	if (chunk_file_chunk_size(cf) != p->o.chunk_size)
		return err_set(-EINVAL, "pipeline_file_attach (chunk size)", chunk_file_name(cf));
	rc = chunk_file_stat(cf, &st);
	if (rc < 0)
		return rc;
	size = (uint64_t)st.st_size;
	f = calloc(1, sizeof(*f));
	if (!f)
		return err_set(-ENOMEM, "pipeline_file_attach", chunk_file_name(cf));
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->resv_lock, NULL);
	f->p = p;
	f->cf = cf;
	atomic_init(&f->refs, 1);
	f->size = size;
	f->backing_size = size;
	f->mtime.tv_nsec = UTIME_OMIT;
	f->ctime.tv_nsec = UTIME_OMIT;
	f->open_trunc = NO_TRUNC;
	f->flight_trunc = NO_TRUNC;
	atomic_init(&f->reserved_end, size);
	/* Fewer blocks than bytes: the file has holes (a filesystem that compresses, too). */
	atomic_init(&f->holes, (uint64_t)st.st_blocks * 512 < size ? 1 : 0);
	pthread_mutex_lock(&p->lock);
	f->all_next = p->files;
	if (p->files)
		p->files->all_prev = f;
	p->files = f;
	atomic_fetch_add_explicit(&p->nfiles, 1, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
	*out = f;
	return 0;
}

static void run_waiters(struct waiter *w, int rc);

void pipeline_file_discard(struct pipeline_file *f)
{
	struct pipeline *p = f->p;
	struct pchunk **a;
	struct waiter *w;
	size_t n = 0, nkept = 0;
	bool failed;

	pthread_mutex_lock(&f->lock);
	a = cmap_take(&f->open, &n);	/* on ENOMEM the chunks stay queued: written, harmless */
	for (size_t i = 0; i < n; i++)
		chunk_release(p, a[i]);
	free(a);
	if (!f->open.n)
		f->open_trunc = NO_TRUNC;
	f->mtime_dirty = false;
	f->need_fsync = false;
	/*
	 * A sticky error is cleared only once the file is on p->failed: a sync thread that has
	 * just seen a flight fail lists it moments later, and clearing under it would put a
	 * reference the list does not hold yet and unbalance the kept-buffer count; such a file
	 * keeps its error (a false failure, which is safe).
	 */
	failed = f->err != 0 && f->listed;
	if (failed) {
		/* Listed, so not scheduled: its failed flight is kept, nobody else touches it. */
		nkept = f->in_flight ? f->nflight : 0;
		for (size_t i = 0; i < f->nflight; i++)
			chunk_release(p, f->flight[i]);
		free(f->flight);
		f->flight = NULL;
		f->nflight = 0;
		f->in_flight = false;
		f->flight_trunc = NO_TRUNC;
		f->err = 0;
		f->listed = false;
	}
	/* What was accepted is settled now: written (a running flight) or dropped. */
	if (!f->open.n)
		f->seq = f->in_flight ? f->flight_seq : f->durable_seq;
	w = f->open.n ? NULL : f->waiters;	/* none expected: waiting needs an open file */
	if (w)
		f->waiters = NULL;
	pthread_mutex_unlock(&f->lock);
	run_waiters(w, 0);
	if (!failed)
		return;

	pthread_mutex_lock(&p->lock);
	struct pipeline_file **pp = &p->failed, *oldest = NULL;

	while (*pp && *pp != f)
		pp = &(*pp)->fail_next;
	if (*pp)
		*pp = f->fail_next;
	/* The list is newest first: the first error is now the last one left. */
	for (struct pipeline_file *x = p->failed; x; x = x->fail_next)
		oldest = x;
	p->first_err = oldest ? oldest->fail_rc : 0;
	if (oldest)
		p->first_errd = oldest->fail_errd;
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_sub_explicit(&p->failed_files, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&p->kept_chunks, nkept, memory_order_relaxed);
	pipeline_file_put(f);		/* the failed list's reference; the caller holds one */
}

void pipeline_file_get(struct pipeline_file *f)
{
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
}

/* Gives back every buffer the file holds (open and flight sets). f->lock held or sole owner. */
static void release_all_locked(struct pipeline *p, struct pipeline_file *f)
{
	size_t n;
	struct pchunk **a = cmap_take(&f->open, &n);

	for (size_t i = 0; i < n; i++)
		chunk_release(p, a[i]);
	free(a);
	if (f->in_flight) {
		for (size_t i = 0; i < f->nflight; i++)
			chunk_release(p, f->flight[i]);
		atomic_fetch_sub_explicit(&p->kept_chunks, f->nflight, memory_order_relaxed);
	}
	free(f->flight);
	f->flight = NULL;
	f->nflight = 0;
	f->in_flight = false;
}

static void file_free(struct pipeline_file *f)
{
	struct pipeline *p = f->p;

	pthread_mutex_lock(&p->lock);
	if (f->all_prev)
		f->all_prev->all_next = f->all_next;
	else
		p->files = f->all_next;
	if (f->all_next)
		f->all_next->all_prev = f->all_prev;
	atomic_fetch_sub_explicit(&p->nfiles, 1, memory_order_relaxed);
	pthread_mutex_unlock(&p->lock);
	/* Only a failed file can still hold buffers here (at pipeline_destroy). */
	release_all_locked(p, f);
	free(f->open.b);
	for (struct waiter *w = f->waiters, *next; w; w = next) {
		next = w->next;
		w->cb(w->arg, f->err ? f->err : -EIO);
		free(w);
	}
	chunk_file_close(f->cf);
	pthread_mutex_destroy(&f->resv_lock);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void pipeline_file_put(struct pipeline_file *f)
{
	if (!f)
		return;
	/* acq_rel: the last putter must see every other thread's writes to *f. */
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		file_free(f);
}

/* ---- the flusher ------------------------------------------------------------------------- */

/*
 * Gives back the backing space reserved past the flight's end, unless the file has grown
 * since the take (a writer may be relying on that space). An ftruncate to the current length
 * frees the blocks past it on ext4 and XFS; the length and data do not change, so a failure
 * costs nothing but the space and is not an error of the file. Sync thread.
 */
static void trim_reserve(struct pipeline_file *f)
{
	bool go;

	pthread_mutex_lock(&f->resv_lock);
	pthread_mutex_lock(&f->lock);
	go = !f->err && f->size == f->flight_size && f->backing_size == f->flight_size &&
	     atomic_load_explicit(&f->reserved_end, memory_order_relaxed) > f->flight_size;
	if (go)	/* from here on, a writer extending the file reserves anew (after the trim) */
		atomic_store_explicit(&f->reserved_end, f->flight_size, memory_order_relaxed);
	pthread_mutex_unlock(&f->lock);
	if (go)
		(void)chunk_file_truncate(f->cf, f->flight_size);
	pthread_mutex_unlock(&f->resv_lock);
}

/*
 * After a write-out: a file that was marked as maybe having holes when the flight was taken
 * and whose backing file now has none (filled in, or laid out by ftruncate and then written
 * from start to end, as fio does) stops reserving every write. Everything that could make a
 * hole before the take is in the backing file by now (a punch at once, truncates and writes
 * in this flight); anything since has counted a change, and the clear then fails.
 */
static void holes_recheck(struct pipeline_file *f)
{
	uint64_t hole, seen = f->flight_holes;

	if (!(seen & 1))
		return;
	if (chunk_file_seek_data(f->cf, 0, 1, &hole) == 0 && hole >= f->backing_size)
		atomic_compare_exchange_strong_explicit(&f->holes, &seen, seen & ~(uint64_t)1,
							memory_order_relaxed, memory_order_relaxed);
}

/* Writes the file's flight set, applies its truncates and mtime (flush_sync() follows). */
static int flush_write(struct pipeline *p, struct pipeline_file *f)
{
	size_t cs = p->o.chunk_size;
	struct iovec iov[64];
	int rc;

	if (f->flight_trunc != NO_TRUNC) {
		pthread_mutex_lock(&f->resv_lock);
		rc = chunk_file_truncate(f->cf, f->flight_trunc);
		/*
		 * The shrink freed every block past flight_trunc, also the space that writes
		 * accepted after the truncate reserved (reserved_end, lowered by the truncate, was
		 * raised again by them): reserve it again. Best effort: if it no longer fits, the
		 * write-out below reports ENOSPC through the sticky path.
		 */
		uint64_t rend = atomic_load_explicit(&f->reserved_end, memory_order_relaxed);

		if (rc == 0 && rend > f->flight_trunc)
			(void)chunk_file_reserve(f->cf, f->flight_trunc, rend - f->flight_trunc);
		pthread_mutex_unlock(&f->resv_lock);
		if (rc < 0)
			return rc;
		f->backing_size = f->flight_trunc;
	}
	for (size_t i = 0; i < f->nflight;) {
		uint64_t start = 0, end = 0;
		int cnt = 0;

		/* Byte-adjacent chunk ranges go out in one pwritev, clipped to the flight's
		 * logical size so the backing length never passes it (DURABILITY.md 2.1). */
		while (i < f->nflight && cnt < (int)(sizeof(iov) / sizeof(iov[0]))) {
			struct pchunk *c = f->flight[i];
			uint64_t b = c->index * cs;
			uint64_t lo = b + c->lo, hi = min64(b + c->hi, f->flight_size);

			if (lo >= hi) {
				i++;
				continue;
			}
			if (cnt && (lo != end || end - start >= PIPELINE_PWRITEV_MAX))
				break;
			iov[cnt].iov_base = (uint8_t *)c->buf + c->lo;
			iov[cnt].iov_len = (size_t)(hi - lo);
			if (!cnt)
				start = lo;
			end = hi;
			cnt++;
			i++;
		}
		if (!cnt)
			continue;
		rc = chunk_file_pwritev_at(f->cf, start, iov, cnt);
		if (rc < 0)
			return rc;
		/* A long run: its writeback to the device overlaps the copy of the next one. */
		if (end - start >= PIPELINE_PWRITEV_MAX)
			chunk_file_writeback(f->cf, start, end - start);
		atomic_fetch_add_explicit(&p->bytes_written, end - start, memory_order_relaxed);
		atomic_fetch_add_explicit(&p->chunks_written, (uint64_t)cnt, memory_order_relaxed);
		if (end > f->backing_size)
			f->backing_size = end;
	}
	if (f->flight_size > f->backing_size) {
		/* A grow (truncate up) not covered by data: extend with a hole. */
		rc = chunk_file_truncate(f->cf, f->flight_size);
		if (rc < 0)
			return rc;
		f->backing_size = f->flight_size;
	}
	if (f->flight_mtime_set) {
		rc = chunk_file_set_mtime(f->cf, &f->flight_mtime);
		if (rc < 0)
			return rc;
	}
	if (f->flight_trim)
		trim_reserve(f);
	holes_recheck(f);
	return 0;
}

static int flush_sync(struct pipeline *p, struct pipeline_file *f)
{
	atomic_fetch_add_explicit(&p->syncs, 1, memory_order_relaxed);
	return chunk_file_sync(f->cf, !f->flight_fsync);
}

/*
 * Takes the file's open set into its flight set. Flusher, f->lock held. Returns false (and
 * takes nothing) when there is no memory for the flight array.
 */
static bool take_locked(struct pipeline_file *f)
{
	size_t n;
	struct pchunk **a = cmap_take(&f->open, &n);

	if (f->open.n)
		return false;	/* cmap_take could not allocate: the chunks are still queued */
	f->flight = a;
	f->nflight = n;
	if (n > 1)
		qsort(f->flight, n, sizeof(*f->flight), pchunk_cmp);
	f->flight_trunc = f->open_trunc;
	f->flight_holes = atomic_load_explicit(&f->holes, memory_order_relaxed);
	f->open_trunc = NO_TRUNC;
	f->flight_size = f->size;
	f->flight_seq = f->seq;
	f->flight_fsync = f->need_fsync;
	f->need_fsync = false;
	f->flight_trim = f->trim_wanted;
	f->trim_wanted = false;
	/*
	 * futimens before an fdatasync that someone waits for costs a journal commit on ext4
	 * (about half the latency of a 4 KiB write + fdatasync here), and fdatasync does not
	 * promise the mtime anyway. So the logical mtime is persisted by flushes nobody waits
	 * for (the timer, unmount) and by fsync (metadata wanted); until then the backing mtime
	 * is the time of the write-out, and stat shows the logical one.
	 */
	f->flight_mtime_set = f->mtime_dirty &&
		(f->flight_fsync || !f->waiters ||
		 atomic_load_explicit(&f->p->stopping_hint, memory_order_relaxed));
	f->flight_mtime = f->mtime;
	if (f->flight_mtime_set)
		f->mtime_dirty = false;
	f->in_flight = true;
	return true;
}

/* Detaches and returns the waiters satisfied by the file's state. f->lock held. */
static struct waiter *ready_waiters_locked(struct pipeline_file *f)
{
	struct waiter *ready = NULL, **pp = &f->waiters;

	while (*pp) {
		struct waiter *w = *pp;

		if (f->err || w->target <= f->durable_seq ||
		    ((w->flags & PIPELINE_WRITTEN) && w->target <= f->written_seq)) {
			*pp = w->next;
			w->next = ready;
			ready = w;
		} else {
			pp = &w->next;
		}
	}
	return ready;
}

static void run_waiters(struct waiter *w, int rc)
{
	while (w) {
		struct waiter *next = w->next;

		w->cb(w->arg, rc);
		free(w);
		w = next;
	}
}

/*
 * Puts a failed file on p->failed, which takes over the caller's reference, unless it is
 * there already or its error was cleared meanwhile (pipeline_file_discard()): then the
 * caller keeps its reference and must drop it. Called with no lock held by the sync thread
 * whose flight failed, once it has let go of the file (f->listed tells
 * pipeline_file_discard() whether the list holds the file yet).
 */
static bool record_failure(struct pipeline *p, struct pipeline_file *f)
{
	int err;
	struct err_detail errd;
	size_t kept;

	pthread_mutex_lock(&f->lock);
	if (!f->err || f->listed) {
		pthread_mutex_unlock(&f->lock);
		return false;
	}
	f->listed = true;
	err = f->err;
	errd = f->errd;
	kept = f->in_flight ? f->nflight : 0;
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_lock(&p->lock);
	if (!p->first_err) {
		p->first_err = err;
		p->first_errd = errd;
	}
	f->fail_rc = err;
	f->fail_errd = errd;
	f->fail_next = p->failed;
	p->failed = f;
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_add_explicit(&p->failed_files, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->kept_chunks, kept, memory_order_relaxed);
	return true;
}

static struct pipeline_file *node_file(struct mpsc_node *node)
{
	return (struct pipeline_file *)((char *)node - offsetof(struct pipeline_file, qnode));
}

/* Under f->lock: something accepted is not durable yet, or the mtime still has to go out. */
static bool dirty_locked(const struct pipeline_file *f)
{
	return f->seq != f->durable_seq || f->mtime_dirty || f->trim_wanted;
}

/*
 * Hands a file (with one reference, which passes to the sync thread) to the sync threads.
 * The caller set f->scheduled under f->lock and holds no lock now.
 */
static void ready_push(struct pipeline *p, struct pipeline_file *f)
{
	pthread_mutex_lock(&p->lock);
	f->rnext = NULL;
	if (p->ready_tail)
		p->ready_tail->rnext = f;
	else
		p->ready_head = f;
	p->ready_tail = f;
	p->nscheduled++;
	if (p->idle) {
		struct worker *w = p->idle;

		p->idle = w->next_idle;
		w->wake = true;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&p->lock);
}

/*
 * A file taken off the dirty queue (with the queue's reference): schedule it, or, when a sync
 * thread has it already, tell that thread to take it once more. Flusher thread.
 */
static void schedule_queued(struct pipeline *p, struct pipeline_file *f)
{
	struct waiter *w;
	int e;

	pthread_mutex_lock(&f->lock);
	f->queued = false;
	if (f->err) {
		/* Poisoned: its chunks stay queued and readable, never written. */
		w = ready_waiters_locked(f);
		e = f->err;
		pthread_mutex_unlock(&f->lock);
		run_waiters(w, e);
		pipeline_file_put(f);
		return;
	}
	if (f->scheduled || !dirty_locked(f)) {
		if (f->scheduled)
			f->retake = true;
		pthread_mutex_unlock(&f->lock);
		pipeline_file_put(f);	/* refs > 1 while scheduled: never the last one */
		return;
	}
	f->scheduled = true;
	pthread_mutex_unlock(&f->lock);
	ready_push(p, f);
}

/* Publishes the outcome @rc of the file's flight. f->lock held. */
static void publish_locked(struct pipeline *p, struct pipeline_file *f, int rc,
			   const struct err_detail *errd)
{
	if (rc == 0) {
		for (size_t k = 0; k < f->nflight; k++)
			chunk_release(p, f->flight[k]);
		free(f->flight);
		f->flight = NULL;
		f->nflight = 0;
		f->in_flight = false;
		f->flight_trunc = NO_TRUNC;
		f->durable_seq = f->flight_seq;
		if (f->mtime_dirty && !f->queued) {
			/* The mtime still has to reach the disk: the next timed flush. */
			f->queued = true;
			atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
			mpsc_push(p->dirty, &f->qnode);
		}
	} else {
		/* ENOSPC, EDQUOT, EIO and EROFS as returned; anything else is EIO. */
		f->err = (rc == -ENOSPC || rc == -EDQUOT || rc == -EIO || rc == -EROFS) ? rc : -EIO;
		f->errd = *errd;
	}
}

/*
 * Sync thread: flushes @f (whose scheduled reference it holds) until nothing more is wanted
 * of it. A file is flushed by one thread at a time (f->scheduled), so its flights reach the
 * backing file in ticket order; different files are flushed by different threads at once,
 * each published as soon as its own sync returns (no batch barrier).
 */
static void serve_file(struct pipeline *p, struct pipeline_file *f, const bool *mine_done)
{
	for (;;) {
		struct err_detail errd;
		struct waiter *w;
		uint64_t t0;
		bool again;
		int rc, e;

		pthread_mutex_lock(&f->lock);
		f->retake = false;
		if (f->err || !dirty_locked(f)) {
			w = ready_waiters_locked(f);
			e = f->err;
			f->scheduled = false;
			pthread_mutex_unlock(&f->lock);
			run_waiters(w, e);
			pipeline_file_put(f);
			return;
		}
		if (!take_locked(f)) {
			/* No memory for the flight array: the chunks stay queued; try again. */
			pthread_mutex_unlock(&f->lock);
			usleep(1000);
			continue;
		}
		pthread_mutex_unlock(&f->lock);

		if (p->o.flush_delay_us)
			usleep(p->o.flush_delay_us);	/* tests: widen the take/write window */
		t0 = now_us();
		/* Does this flight change the backing inode (and so its ctime)? */
		bool mutates = f->nflight || f->flight_trunc != NO_TRUNC || f->flight_mtime_set ||
			       f->flight_size != f->backing_size || f->flight_trim;
		struct timespec w0, w1;

		clock_gettime(CLOCK_REALTIME_COARSE, &w0);
		rc = flush_write(p, f);
		if (rc == 0) {
			clock_gettime(CLOCK_REALTIME, &w1);
			/* Written, not yet synced: release PIPELINE_WRITTEN waiters (a rename over
			 * a target needs the data in the backing file first, not durable). */
			pthread_mutex_lock(&f->lock);
			if (mutates) {
				f->flush_t0 = w0;
				f->flush_t1 = w1;
				f->flush_window = true;
			}
			f->written_seq = f->flight_seq;
			w = ready_waiters_locked(f);
			pthread_mutex_unlock(&f->lock);
			run_waiters(w, 0);
			/* A flight that only gave back reserved space has nothing to make durable. */
			if (f->flight_seq != f->durable_seq || f->flight_fsync || f->flight_mtime_set)
				rc = flush_sync(p, f);
		}
		if (rc < 0)
			errd = *err_last();

		pthread_mutex_lock(&f->lock);
		publish_locked(p, f, rc, &errd);
		w = ready_waiters_locked(f);
		e = f->err;
		/*
		 * Go on with this file while a waiter wants more of it (group commit: what was
		 * queued while this flight was written goes out in the next one) or the flusher
		 * asked for it. Cleared under the same lock a waiter checks, so a waiter arriving
		 * after this either is seen here or schedules the file itself.
		 */
		again = !e && (f->retake || f->waiters);
		if (!again)
			f->scheduled = false;
		pthread_mutex_unlock(&f->lock);

		uint64_t dt = now_us() - t0;

		pthread_mutex_lock(&p->lock);
		p->batches_done++;
		p->lat_us[p->nlat++ % LAT_RING] = dt;
		pthread_mutex_unlock(&p->lock);
		if (e && !record_failure(p, f))	/* keeps the reference; before waiters look */
			pipeline_file_put(f);
		run_waiters(w, e);
		if (e)
			return;
		if (!again) {
			pipeline_file_put(f);
			return;
		}
		if (mine_done && *mine_done) {
			/* A waiter serving its own file is done: the sync threads take the rest. */
			ready_push(p, f);
			return;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct pipeline *p = w->p;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct pipeline_file *f = p->ready_head;

		if (!f) {
			if (p->wstop)
				break;
			w->wake = false;
			w->next_idle = p->idle;
			p->idle = w;
			while (!w->wake && !p->wstop)
				pthread_cond_wait(&w->cond, &p->lock);
			if (!w->wake) {
				/* Stopping: take ourselves off the idle stack. */
				struct worker **pp = &p->idle;

				while (*pp && *pp != w)
					pp = &(*pp)->next_idle;
				if (*pp)
					*pp = w->next_idle;
			}
			continue;
		}
		p->ready_head = f->rnext;
		if (!p->ready_head)
			p->ready_tail = NULL;
		pthread_mutex_unlock(&p->lock);
		serve_file(p, f, NULL);
		pthread_mutex_lock(&p->lock);
		if (--p->nscheduled == 0)
			pthread_cond_broadcast(&p->idle_cond);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/*
 * The flusher: every flush interval, on pipeline_kick() (memory pressure, sync_all) and at
 * stop, it schedules every dirty file. Waiters do not go through it: a wait schedules its own
 * file directly, so an fsync never waits for the timer or for unrelated files.
 */
static void *flusher_main(void *arg)
{
	struct pipeline *p = arg;
	struct timespec deadline;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += p->o.flush_interval_ms / 1000;
		deadline.tv_nsec += (long)(p->o.flush_interval_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		while (!p->kick && !p->stopping) {
			if (pthread_cond_timedwait(&p->kick_cond, &p->lock, &deadline) == ETIMEDOUT)
				break;
		}
		p->kick = false;
		atomic_store_explicit(&p->kick_hint, false, memory_order_relaxed);
		bool stopping = p->stopping;

		pthread_mutex_unlock(&p->lock);
		for (struct mpsc_node *node = mpsc_drain(p->dirty), *next; node; node = next) {
			/* Read before scheduling: a writer may push the node again right after. */
			next = node->next;
			schedule_queued(p, node_file(node));
		}
		pthread_mutex_lock(&p->lock);
		if (stopping) {
			/* Drain: wait for the sync threads, then look again (a flush may have
			 * queued its file's mtime), until nothing is left. */
			while (p->nscheduled)
				pthread_cond_wait(&p->idle_cond, &p->lock);
			if (mpsc_empty(p->dirty))
				break;
			p->kick = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- pipeline lifecycle ------------------------------------------------------------------ */

static void *prefault_main(void *arg)
{
	(void)pool_prefault(arg);	/* a failure only loses the speed-up */
	return NULL;
}

void pipeline_opts_default(struct pipeline_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->chunk_size = CHUNK_SIZE_DEFAULT;
	o->pool_bufs = 1024;
	o->reserve_ahead_from = 1ULL << 20;
	o->flush_interval_ms = 1000;
	o->sync_threads = 8;
}

int pipeline_create(const struct pipeline_opts *o, struct pipeline **out)
{
	struct pipeline *p;
	pthread_condattr_t ca;
	int rc;

	if (!chunk_size_valid(o->chunk_size) || o->pool_bufs < 4 || !o->flush_interval_ms)
		return err_set(-EINVAL, "pipeline_create", NULL);
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(-ENOMEM, "pipeline_create", NULL);
	p->o = *o;
	if (!p->o.reserve_ahead_from)
		p->o.reserve_ahead_from = 1ULL << 20;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->kick_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&p->idle_cond, NULL);

	rc = pool_create(o->chunk_size, o->pool_bufs, &p->pool);
	if (rc < 0)
		goto fail;
	rc = mpsc_create(&p->dirty);
	if (rc < 0)
		goto fail;
	unsigned nw = o->sync_threads ? o->sync_threads : 1;

	p->workers = calloc(nw, sizeof(*p->workers));
	if (!p->workers) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < nw; i++) {
		struct worker *w = &p->workers[i];

		w->p = p;
		pthread_cond_init(&w->cond, NULL);
		rc = -pthread_create(&w->th, NULL, worker_main, w);
		if (rc < 0) {
			pthread_cond_destroy(&w->cond);
			goto fail;
		}
		/* Names for top -H, perf and /proc/PID/task; a failure is harmless. */
		(void)pthread_setname_np(w->th, "fz-sync");
		p->nworkers++;
	}
	/* Best effort: without the thread or the madvise, writes fault the pages in. */
	if (o->prefault) {
		p->prefault_started = pthread_create(&p->prefaulter, NULL, prefault_main,
						     p->pool) == 0;
		if (p->prefault_started)
			(void)pthread_setname_np(p->prefaulter, "fz-prefault");
	}
	rc = -pthread_create(&p->flusher, NULL, flusher_main, p);
	if (rc < 0)
		goto fail;
	(void)pthread_setname_np(p->flusher, "fz-flush");
	p->flusher_started = true;
	*out = p;
	return 0;
fail:
	pipeline_destroy(p);
	return err_set(rc, "pipeline_create", NULL);
}

int pipeline_stop(struct pipeline *p)
{
	int rc;

	pthread_mutex_lock(&p->lock);
	if (!p->stopped && p->flusher_started) {
		p->stopping = true;
		atomic_store_explicit(&p->stopping_hint, true, memory_order_relaxed);
		pthread_cond_signal(&p->kick_cond);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->flusher, NULL);		/* returns once everything is flushed */
		pthread_mutex_lock(&p->lock);
	}
	p->stopped = true;
	p->wstop = true;
	for (unsigned i = 0; i < p->nworkers; i++)
		pthread_cond_signal(&p->workers[i].cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nworkers; i++) {
		pthread_join(p->workers[i].th, NULL);
		pthread_cond_destroy(&p->workers[i].cond);
	}
	p->nworkers = 0;
	if (p->prefault_started) {
		pthread_join(p->prefaulter, NULL);
		p->prefault_started = false;
	}

	pthread_mutex_lock(&p->lock);
	rc = p->first_err;
	if (rc)
		err_restore(&p->first_errd);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void pipeline_destroy(struct pipeline *p)
{
	if (!p)
		return;
	pipeline_stop(p);
	while (p->failed) {
		struct pipeline_file *f = p->failed;

		p->failed = f->fail_next;
		/* The kept buffers go back to the pool now, even if a caller still holds the
		 * file: the pool (and with it every buffer) is about to be freed. */
		pthread_mutex_lock(&f->lock);
		release_all_locked(p, f);
		pthread_mutex_unlock(&f->lock);
		pipeline_file_put(f);
	}
	pool_destroy(p->pool);
	mpsc_destroy(p->dirty);
	free(p->workers);
	pthread_cond_destroy(&p->idle_cond);
	pthread_cond_destroy(&p->kick_cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

struct countdown {
	pthread_mutex_t m;
	pthread_cond_t c;
	size_t left;
};

static void countdown_cb(void *arg, int rc)
{
	struct countdown *cd = arg;

	(void)rc;	/* a file's error stays with the file; the caller gets first_err */
	pthread_mutex_lock(&cd->m);
	if (--cd->left == 0)
		pthread_cond_signal(&cd->c);
	pthread_mutex_unlock(&cd->m);
}

int pipeline_sync_all(struct pipeline *p)
{
	struct countdown cd = { .left = 1 };
	struct pipeline_file **a = NULL;
	size_t n = 0, cap = 0;
	int rc;

	/* Pin every attached file that is not being freed. */
	pthread_mutex_lock(&p->lock);
	for (struct pipeline_file *f = p->files; f; f = f->all_next)
		cap++;
	a = cap ? malloc(cap * sizeof(*a)) : NULL;
	for (struct pipeline_file *f = p->files; f && a; f = f->all_next) {
		unsigned r = atomic_load_explicit(&f->refs, memory_order_relaxed);

		/* Increment unless zero: a file at zero is in file_free(), waiting for p->lock. */
		while (r && !atomic_compare_exchange_weak_explicit(&f->refs, &r, r + 1,
								   memory_order_relaxed,
								   memory_order_relaxed))
			;
		if (r)
			a[n++] = f;
	}
	pthread_mutex_unlock(&p->lock);
	if (cap && !a)
		return err_set(-ENOMEM, "pipeline_sync_all", NULL);

	/* Wait for all of them at once, so their flushes overlap. */
	pthread_mutex_init(&cd.m, NULL);
	pthread_cond_init(&cd.c, NULL);
	for (size_t i = 0; i < n; i++) {
		struct pipeline_file *f = a[i];
		uint64_t t = 0;
		unsigned flags = 0;

		pthread_mutex_lock(&f->lock);
		/* A flight already writing the mtime out with fdatasync does not make it durable
		 * either (fdatasync may skip the inode's times). */
		bool meta = f->mtime_dirty ||
			    (f->in_flight && !f->err && f->flight_mtime_set && !f->flight_fsync);

		pthread_mutex_unlock(&f->lock);
		if (meta) {
			/* The logical mtime too: a flush with fsync persists it. */
			t = pipeline_file_touch_meta(f);
			flags = PIPELINE_FSYNC;
		}
		pthread_mutex_lock(&cd.m);
		cd.left++;
		pthread_mutex_unlock(&cd.m);
		if (pipeline_wait_async(f, t, flags, countdown_cb, &cd) != PIPELINE_PENDING)
			countdown_cb(&cd, 0);
	}
	pthread_mutex_lock(&cd.m);
	cd.left--;
	while (cd.left)
		pthread_cond_wait(&cd.c, &cd.m);
	pthread_mutex_unlock(&cd.m);
	pthread_cond_destroy(&cd.c);
	pthread_mutex_destroy(&cd.m);
	for (size_t i = 0; i < n; i++)
		pipeline_file_put(a[i]);
	free(a);

	pthread_mutex_lock(&p->lock);
	rc = p->first_err;
	if (rc)
		err_restore(&p->first_errd);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void pipeline_get_stats(struct pipeline *p, struct pipeline_stats *st)
{
	struct pool_stats ps;
	uint64_t lat[LAT_RING];
	size_t n;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->lock);
	st->batches = p->batches_done;
	st->first_error = p->first_err;
	n = p->nlat < LAT_RING ? (size_t)p->nlat : LAT_RING;
	memcpy(lat, p->lat_us, n * sizeof(lat[0]));
	pthread_mutex_unlock(&p->lock);
	if (n) {
		qsort(lat, n, sizeof(lat[0]), u64_cmp);
		st->flush_p50_us = lat[n / 2];
		st->flush_p99_us = lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	}
	st->queued_chunks = atomic_load_explicit(&p->queued_chunks, memory_order_relaxed);
	st->queued_bytes = st->queued_chunks * p->o.chunk_size;
	st->kept_chunks = atomic_load_explicit(&p->kept_chunks, memory_order_relaxed);
	st->bytes_written = atomic_load_explicit(&p->bytes_written, memory_order_relaxed);
	st->chunks_written = atomic_load_explicit(&p->chunks_written, memory_order_relaxed);
	st->writes_absorbed = atomic_load_explicit(&p->absorbed, memory_order_relaxed);
	st->syncs = atomic_load_explicit(&p->syncs, memory_order_relaxed);
	st->waits = atomic_load_explicit(&p->waits, memory_order_relaxed);
	st->failed_files = atomic_load_explicit(&p->failed_files, memory_order_relaxed);
	pool_get_stats(p->pool, &ps);
	st->pool_in_use = ps.in_use;
	st->pool_high_water = ps.high_water;
	st->pool_nbufs = ps.nbufs;
	st->pool_waiters = ps.waiters;
}

size_t pipeline_file_count(struct pipeline *p)
{
	return atomic_load_explicit(&p->nfiles, memory_order_relaxed);
}

size_t pipeline_chunk_size(const struct pipeline *p)
{
	return p->o.chunk_size;
}
