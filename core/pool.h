/*
 * pool: the bounded set of chunk buffers every queued write lives in.
 *
 * A pool is one preallocated arena of @nbufs buffers of @buf_size bytes (page aligned),
 * handed out through a lock-free free list (a Treiber stack of buffer indices whose head
 * carries an ABA tag). When the list is empty, pool_get(POOL_WAIT) blocks until buffers come
 * back (backpressure): the memory of a whole mount is bounded by the pool. A request for more
 * buffers than the whole pool holds cannot ever be met from the arena and falls back to
 * dynamic allocation (counted separately). pool_put() tells arena buffers from dynamic ones
 * by address.
 *
 * Thread safety: every function may be called from any thread, except pool_destroy().
 */
#ifndef FROZENFS_POOL_H
#define FROZENFS_POOL_H

#include <stddef.h>
#include <stdint.h>

struct pool;

#define POOL_WAIT	0	/* block while the pool is empty */
#define POOL_NOWAIT	1	/* return -EAGAIN instead of blocking */

struct pool_stats {
	size_t nbufs;		/* arena size, in buffers */
	size_t buf_size;	/* bytes per buffer */
	size_t in_use;		/* arena buffers handed out now */
	size_t high_water;	/* most arena buffers ever handed out at once */
	size_t waiters;		/* threads blocked in pool_get() now */
	size_t dynamic_in_use;	/* dynamically allocated buffers outstanding */
	uint64_t gets;		/* buffers handed out, in total */
	uint64_t waits;		/* pool_get() calls that had to block */
	uint64_t dynamic_allocs;/* buffers allocated outside the arena, in total */
};

/*
 * Allocates the arena (@nbufs >= 1 buffers of @buf_size bytes, @buf_size a multiple of 4096
 * is best) and the free list. Returns 0 or -EINVAL / -ENOMEM.
 */
int pool_create(size_t buf_size, size_t nbufs, struct pool **out);

/*
 * Waits until every buffer handed out has come back, then frees the pool. NULL is a no-op.
 * Must not race with other calls on @p.
 */
void pool_destroy(struct pool *p);

/*
 * Hands out @n buffers into @bufs[0..n-1], all or none. If @n exceeds the arena, all @n are
 * allocated dynamically. Otherwise, with POOL_WAIT, blocks while the arena is empty
 * (several multi-buffer requests never deadlock each other); with POOL_NOWAIT returns -EAGAIN
 * if the @n buffers are not all free now. Returns 0, -EAGAIN or -ENOMEM. Buffer contents are
 * undefined.
 */
int pool_get(struct pool *p, size_t n, int flags, void **bufs);

/* Returns one buffer (arena or dynamic) and wakes a blocked pool_get(). */
void pool_put(struct pool *p, void *buf);

/* Returns @n buffers. */
void pool_put_n(struct pool *p, size_t n, void **bufs);

/* Allocates one buffer outside the arena (counted as dynamic); pool_put() frees it. */
int pool_get_dynamic(struct pool *p, void **buf);

/*
 * Makes every page of the arena resident now (madvise MADV_POPULATE_WRITE), so that the first
 * writes into the pool do not each take page faults (on these VMs, memory touched for the
 * first time fills at a few hundred MB/s). Changes no byte, so it may run while the pool is
 * in use, from a background thread; must not race with pool_destroy(). Returns 0 or -errno
 * (EINVAL before Linux 5.14): only a lost speed-up.
 */
int pool_prefault(struct pool *p);

size_t pool_buf_size(const struct pool *p);

/* A consistent-enough snapshot of the counters (each read atomically). */
void pool_get_stats(struct pool *p, struct pool_stats *st);

#endif
