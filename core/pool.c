/*
 * pool: the bounded set of chunk buffers every queued write lives in (see pool.h).
 *
 * DESIGN
 *
 * Threads. Any thread may get and put: FUSE workers get buffers and fill them, the flusher
 * puts them back once their epoch is durable, and a put may come from a thread that never got
 * anything. pool_destroy() runs alone with respect to gets, but waits for puts from others.
 *
 * Memory. One aligned_alloc() arena of nbufs buffers, each @stride bytes apart (buf_size
 * rounded up to 4096 so every buffer is page aligned, as O_DIRECT or a future io_uring
 * backend would want). The arena and the geometry are immutable after create. A buffer is
 * owned by exactly one party at a time: the free list, or the caller that got it.
 *
 * Free list. A Treiber stack of buffer indices. next[i] holds (index + 1) of the buffer below
 * i, 0 at the bottom; @head packs (tag << 32 | (index + 1)), 0 in the low half meaning empty.
 * A pop reads head, reads next[top], and CASes head from (tag, top) to (tag + 1, next[top]).
 *
 * ABA defence. Without the tag, a popper that has read top = A and next[A] = B can stall while
 * others pop A, pop B, and push A back: head is A again, the CAS succeeds, and B (now owned by
 * someone else) becomes the head and is handed out twice. Every successful CAS (push or pop)
 * increments the 32-bit tag, so that stale CAS fails: it would need exactly 2^32 successful
 * operations between the stalled popper's load and its CAS to wrap, which a stall of a few
 * microseconds to milliseconds cannot produce at realistic rates. A 64-bit CAS is lock-free on
 * every 64-bit target and on i386 (cmpxchg8b). next[] is an array of atomics because the
 * stalled popper's read of next[A] races with the owner of A pushing it back (which writes
 * next[A]); the value it reads may be stale, but then its CAS fails.
 *
 * Blocking (backpressure). pool_get(POOL_WAIT) on an empty list sleeps on @cond under @lock.
 * Puts must stay lock-free in the common case, so a put takes @lock only when @sleepers is
 * nonzero. Lost-wakeup argument (a Dekker pattern, hence seq_cst on both sides):
 *
 *	sleeper S (holding lock):		putter P:
 *	  sleepers++ (seq_cst)			  push buffer: CAS head (seq_cst)
 *	  try pop: load head (seq_cst)		  load sleepers (seq_cst)
 *	  empty -> cond_wait (drops lock)	  if > 0: lock, broadcast, unlock
 *
 * In the single total order of seq_cst operations, if S's load of head does not see P's push
 * then it precedes it, so S's increment precedes P's load of @sleepers, and P sees S counted
 * (S only decrements after it has got its buffer). P then takes @lock, which it can only get
 * once S is inside cond_wait (S held it from the increment on), so the broadcast reaches S.
 * Either S sees the buffer or S is woken. Broadcast, not signal: a sleeper may be a
 * multi-buffer request or pool_destroy(), which a single signal could pick and strand others.
 * The same argument covers pool_destroy(), which counts itself in @sleepers and waits for
 * @in_use and @dynamic_in_use (decremented seq_cst by put before it loads @sleepers) to be 0.
 *
 * Multi-buffer requests (1 < n <= nbufs) take @multi_lock first and then pop one buffer at a
 * time, sleeping like a single get. Two partial allocators could otherwise deadlock, each
 * holding half the pool and waiting for the other's half; with @multi_lock only one request
 * ever holds buffers while it waits, and single gets never wait while holding any. POOL_NOWAIT
 * only trylocks @multi_lock (it must not block behind a sleeping request) and gives back what
 * it popped if it cannot get all @n. Lock order: multi_lock, then lock.
 *
 * Dynamic buffers (n > nbufs, or pool_get_dynamic()) are separate aligned_alloc()s;
 * pool_put() tells them from arena buffers by address range.
 *
 * Destroy and puts in flight. A putter still touches the pool (push, load of @sleepers, the
 * broadcast) after its decrement of @in_use; pool_destroy() must not free the pool under it.
 * Every put brackets its work with @putting++ / @putting-- and destroy, after seeing the
 * counts reach 0, spins until @putting is 0 (a window of a few instructions). A put that
 * starts after destroy saw @in_use == 0 would be returning a buffer nobody holds: a bug.
 *
 * Counters (gets, waits, dynamic_allocs, high_water) are statistics and use relaxed order:
 * nothing is synchronised through them.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "pool.h"

#define POOL_ALIGN	4096u
#define IDX_MASK	0xffffffffull

struct pool {
	size_t buf_size;		/* immutable */
	size_t nbufs;			/* immutable; < 2^32 */
	size_t stride;			/* immutable: buf_size rounded up to POOL_ALIGN */
	unsigned char *arena;		/* immutable; nbufs * stride bytes */

	_Atomic uint64_t head;		/* free list: tag << 32 | (index + 1); seq_cst (DESIGN) */
	_Atomic uint32_t *next;		/* next[i]: index + 1 below i; relaxed, ordered by @head */

	pthread_mutex_t lock;		/* protects only the sleep/wake handshake on @cond */
	pthread_cond_t cond;		/* "a buffer came back" or "a count dropped", broadcast */
	_Atomic size_t sleepers;	/* inc/dec under @lock, read lock-free by put; seq_cst */
	_Atomic size_t getters;		/* sleepers that are pool_get() calls; for stats only */
	pthread_mutex_t multi_lock;	/* held by the one multi-buffer request in progress */

	_Atomic size_t in_use;		/* arena buffers out; seq_cst where destroy relies on it */
	_Atomic size_t dynamic_in_use;	/* same, dynamic buffers */
	_Atomic size_t putting;		/* puts in progress; destroy waits for 0 */

	_Atomic size_t high_water;	/* statistics: relaxed */
	_Atomic uint64_t gets;
	_Atomic uint64_t waits;
	_Atomic uint64_t dynamic_allocs;
};

/* ---- the free list ---- */

/* Pops one index; false when the list is empty. */
static bool list_pop(struct pool *p, uint32_t *idx)
{
	/* seq_cst: this load is the sleeper's re-check in the lost-wakeup argument. */
	uint64_t old = atomic_load_explicit(&p->head, memory_order_seq_cst);
	uint64_t new;

	do {
		uint32_t top = (uint32_t)(old & IDX_MASK);

		if (top == 0)
			return false;
		/*
		 * May be stale if another thread popped @top meanwhile; then @head's tag has
		 * moved on and the CAS below fails. Ordered after the push that wrote it by the
		 * seq_cst (hence acquire) load of @head that returned that push's value.
		 */
		new = (((old >> 32) + 1) << 32) |
		      atomic_load_explicit(&p->next[top - 1], memory_order_relaxed);
		/* On success we own buffer top-1: acquire its contents from the put (seq_cst). */
	} while (!atomic_compare_exchange_weak_explicit(&p->head, &old, new,
							memory_order_seq_cst,
							memory_order_seq_cst));
	*idx = (uint32_t)(old & IDX_MASK) - 1;
	return true;
}

static void list_push(struct pool *p, uint32_t idx)
{
	uint64_t old = atomic_load_explicit(&p->head, memory_order_relaxed);
	uint64_t new;

	do {
		/* Buffer idx is ours until the CAS publishes it, so this store cannot race. */
		atomic_store_explicit(&p->next[idx], (uint32_t)(old & IDX_MASK),
				      memory_order_relaxed);
		new = (((old >> 32) + 1) << 32) | (uint64_t)(idx + 1);
		/*
		 * seq_cst: releases next[idx] and the buffer's contents to the next popper, and is
		 * the putter's store in the lost-wakeup argument (it must precede the load of
		 * @sleepers in the total order).
		 */
	} while (!atomic_compare_exchange_weak_explicit(&p->head, &old, new,
							memory_order_seq_cst,
							memory_order_relaxed));
}

static void *buf_at(struct pool *p, uint32_t idx)
{
	return p->arena + (size_t)idx * p->stride;
}

/* ---- counters ---- */

static void note_get(struct pool *p, size_t n)
{
	/* Relaxed: statistics, and destroy waits on the decrements, not on this increment. */
	size_t now = atomic_fetch_add_explicit(&p->in_use, n, memory_order_relaxed) + n;
	size_t hw = atomic_load_explicit(&p->high_water, memory_order_relaxed);

	while (now > hw && !atomic_compare_exchange_weak_explicit(&p->high_water, &hw, now,
								   memory_order_relaxed,
								   memory_order_relaxed))
		;
	atomic_fetch_add_explicit(&p->gets, n, memory_order_relaxed);
}

/* Wakes every sleeper if there is one; see the lost-wakeup argument in DESIGN. */
static void wake(struct pool *p)
{
	if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) == 0)
		return;
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* ---- get ---- */

/* Pops one buffer, sleeping while the list is empty. Never fails. */
static uint32_t pop_wait(struct pool *p, bool *waited)
{
	uint32_t idx;

	if (list_pop(p, &idx))
		return idx;
	pthread_mutex_lock(&p->lock);
	/* seq_cst: the sleeper's store in the lost-wakeup argument. */
	atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&p->getters, 1, memory_order_relaxed);
	if (!*waited) {
		*waited = true;
		atomic_fetch_add_explicit(&p->waits, 1, memory_order_relaxed);
	}
	while (!list_pop(p, &idx))
		pthread_cond_wait(&p->cond, &p->lock);
	atomic_fetch_sub_explicit(&p->getters, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&p->lock);
	return idx;
}

static void free_dynamic(void **bufs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
}

static int get_dynamic(struct pool *p, size_t n, void **bufs)
{
	for (size_t i = 0; i < n; i++) {
		bufs[i] = aligned_alloc(POOL_ALIGN, p->stride);
		if (!bufs[i]) {
			free_dynamic(bufs, i);
			return err_set(-ENOMEM, "pool_get (dynamic)", NULL);
		}
	}
	atomic_fetch_add_explicit(&p->dynamic_in_use, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->dynamic_allocs, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->gets, n, memory_order_relaxed);
	return 0;
}

static int get_multi(struct pool *p, size_t n, int flags, void **bufs)
{
	bool waited = false;
	size_t got = 0;
	uint32_t idx;

	if (flags & POOL_NOWAIT) {
		/* Another request is collecting (maybe sleeping): our n are not all free now. */
		if (pthread_mutex_trylock(&p->multi_lock) != 0)
			return -EAGAIN;
		for (; got < n; got++) {
			if (!list_pop(p, &idx))
				break;
			bufs[got] = buf_at(p, idx);
		}
		pthread_mutex_unlock(&p->multi_lock);
		if (got == n) {
			note_get(p, n);
			return 0;
		}
		/* All or none: give back what we took, and wake anyone who slept meanwhile. */
		while (got > 0)
			list_push(p, (uint32_t)(((unsigned char *)bufs[--got] - p->arena) /
						p->stride));
		wake(p);
		return -EAGAIN;
	}
	pthread_mutex_lock(&p->multi_lock);
	for (; got < n; got++)
		bufs[got] = buf_at(p, pop_wait(p, &waited));
	pthread_mutex_unlock(&p->multi_lock);
	note_get(p, n);
	return 0;
}

int pool_get(struct pool *p, size_t n, int flags, void **bufs)
{
	bool waited = false;
	uint32_t idx;

	if (n == 0)
		return 0;
	if (n > p->nbufs)
		return get_dynamic(p, n, bufs);
	if (n > 1)
		return get_multi(p, n, flags, bufs);
	if (flags & POOL_NOWAIT) {
		/* Expected backpressure, not a failure: no err_set(). */
		if (!list_pop(p, &idx))
			return -EAGAIN;
	} else {
		idx = pop_wait(p, &waited);
	}
	bufs[0] = buf_at(p, idx);
	note_get(p, 1);
	return 0;
}

int pool_get_dynamic(struct pool *p, void **buf)
{
	return get_dynamic(p, 1, buf);
}

/* ---- put ---- */

void pool_put(struct pool *p, void *buf)
{
	uintptr_t a = (uintptr_t)buf, lo = (uintptr_t)p->arena;

	if (!buf)
		return;
	/* seq_cst: destroy must see us in flight if it sees our decrement (DESIGN). */
	atomic_fetch_add_explicit(&p->putting, 1, memory_order_seq_cst);
	if (a >= lo && a - lo < p->nbufs * p->stride) {
		size_t idx = (a - lo) / p->stride;

		if (a - lo != idx * p->stride)
			abort();	/* not a buffer start: memory corruption in the caller */
		/*
		 * Uncount before the push: once pushed, another thread may pop and count it, and
		 * in_use (and high_water) must never exceed nbufs. seq_cst: destroy's condition,
		 * ordered before wake()'s load of @sleepers.
		 */
		atomic_fetch_sub_explicit(&p->in_use, 1, memory_order_seq_cst);
		list_push(p, (uint32_t)idx);
	} else {
		free(buf);
		atomic_fetch_sub_explicit(&p->dynamic_in_use, 1, memory_order_seq_cst);
	}
	wake(p);
	/* Release: our last touch of @p (the unlock in wake()) happens before destroy frees it. */
	atomic_fetch_sub_explicit(&p->putting, 1, memory_order_release);
}

void pool_put_n(struct pool *p, size_t n, void **bufs)
{
	for (size_t i = 0; i < n; i++)
		pool_put(p, bufs[i]);
}

/* ---- lifecycle ---- */

int pool_create(size_t buf_size, size_t nbufs, struct pool **out)
{
	struct pool *p;
	size_t stride;

	if (buf_size == 0 || nbufs == 0 || nbufs >= UINT32_MAX ||
	    buf_size > SIZE_MAX - (POOL_ALIGN - 1))
		return err_set(-EINVAL, "pool_create", NULL);
	stride = (buf_size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
	if (nbufs > SIZE_MAX / stride)
		return err_set(-ENOMEM, "pool_create", NULL);
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(-ENOMEM, "pool_create", NULL);
	p->buf_size = buf_size;
	p->nbufs = nbufs;
	p->stride = stride;
	p->arena = aligned_alloc(POOL_ALIGN, nbufs * stride);
	p->next = calloc(nbufs, sizeof(*p->next));
	if (!p->arena || !p->next)
		goto nomem;
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		goto nomem;
	if (pthread_cond_init(&p->cond, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		goto nomem;
	}
	if (pthread_mutex_init(&p->multi_lock, NULL) != 0) {
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		goto nomem;
	}
	/* Buffer 0 on top, so a lightly used pool keeps touching the same few pages. */
	for (size_t i = 0; i < nbufs; i++)
		atomic_init(&p->next[i], i + 1 < nbufs ? (uint32_t)(i + 2) : 0);
	atomic_init(&p->head, 1);
	*out = p;
	return 0;
nomem:
	free(p->next);
	free(p->arena);
	free(p);
	return err_set(-ENOMEM, "pool_create", NULL);
}

void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	/* seq_cst: the sleeper's side of the handshake, as in pop_wait(). */
	atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&p->in_use, memory_order_seq_cst) != 0 ||
	       atomic_load_explicit(&p->dynamic_in_use, memory_order_seq_cst) != 0)
		pthread_cond_wait(&p->cond, &p->lock);
	atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&p->lock);
	/* Acquire: pairs with the release decrement that ends each put. */
	while (atomic_load_explicit(&p->putting, memory_order_acquire) != 0)
		sched_yield();
	pthread_mutex_destroy(&p->multi_lock);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->next);
	free(p->arena);
	free(p);
}

/* ---- prefault ---- */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23	/* Linux 5.14 */
#endif

int pool_prefault(struct pool *p)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)p->arena & ~(page - 1);
	uintptr_t end = (uintptr_t)p->arena + p->nbufs * p->stride;

	/*
	 * Faults every page in as a write would, without writing: buffers in use are safe.
	 * (Touching a byte per page of borrowed free buffers instead measured the same.)
	 */
	if (madvise((void *)start, end - start, MADV_POPULATE_WRITE) < 0)
		return err_set(-errno, "madvise(MADV_POPULATE_WRITE)", NULL);
	return 0;
}

/* ---- accessors ---- */

size_t pool_buf_size(const struct pool *p)
{
	return p->buf_size;
}

void pool_get_stats(struct pool *p, struct pool_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nbufs = p->nbufs;
	st->buf_size = p->buf_size;
	/* Relaxed: each counter is read atomically; the set is only roughly consistent. */
	st->in_use = atomic_load_explicit(&p->in_use, memory_order_relaxed);
	st->high_water = atomic_load_explicit(&p->high_water, memory_order_relaxed);
	st->waiters = atomic_load_explicit(&p->getters, memory_order_relaxed);
	st->dynamic_in_use = atomic_load_explicit(&p->dynamic_in_use, memory_order_relaxed);
	st->gets = atomic_load_explicit(&p->gets, memory_order_relaxed);
	st->waits = atomic_load_explicit(&p->waits, memory_order_relaxed);
	st->dynamic_allocs = atomic_load_explicit(&p->dynamic_allocs, memory_order_relaxed);
}
