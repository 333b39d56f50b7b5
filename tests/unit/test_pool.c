/*
 * test_pool: the buffer pool's free list, blocking, multi-buffer requests, dynamic fallback,
 * counters and destroy. Run under TSan as well (see STYLE.md section 6).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool.h"

#define BUF	4096u
#define NBUFS	8u

static int setup(void **state)
{
	struct pool *p;

	if (pool_create(BUF, NBUFS, &p) < 0)
		return -1;
	*state = p;
	return 0;
}

/* Every buffer came back: nothing leaked, nothing put twice. */
static int teardown(void **state)
{
	struct pool *p = *state;
	struct pool_stats st;

	pool_get_stats(p, &st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.dynamic_in_use, 0);
	assert_int_equal(st.waiters, 0);
	pool_destroy(p);
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits (up to 10 s) until @n threads are blocked in pool_get(). */
static void wait_for_waiters(struct pool *p, size_t n)
{
	double end = now_s() + 10;
	struct pool_stats st;

	do {
		pool_get_stats(p, &st);
		if (st.waiters == n)
			return;
		usleep(1000);
	} while (now_s() < end);
	fail_msg("expected %zu blocked getters, have %zu", n, st.waiters);
}

static void test_pool_create_invalid(void **state)
{
	struct pool *p = (struct pool *)(uintptr_t)0x1;

	(void)state;
	assert_int_equal(pool_create(0, 4, &p), -EINVAL);
	assert_int_equal(pool_create(BUF, 0, &p), -EINVAL);
	assert_ptr_equal(p, (struct pool *)(uintptr_t)0x1);
	pool_destroy(NULL);
}

static void test_pool_get_put_all(void **state)
{
	struct pool *p = *state;
	void *b[NBUFS], *extra = NULL;
	struct pool_stats st;

	assert_int_equal(pool_buf_size(p), BUF);
	for (unsigned i = 0; i < NBUFS; i++) {
		assert_int_equal(pool_get(p, 1, POOL_NOWAIT, &b[i]), 0);
		assert_int_equal((uintptr_t)b[i] % 4096, 0);
		memset(b[i], (int)i, BUF);		/* the whole buffer is ours */
		for (unsigned k = 0; k < i; k++)
			assert_ptr_not_equal(b[i], b[k]);
	}
	assert_int_equal(pool_get(p, 1, POOL_NOWAIT, &extra), -EAGAIN);
	assert_null(extra);
	for (unsigned i = 0; i < NBUFS; i++) {
		unsigned char *c = b[i];

		/* Nobody else wrote into a buffer we held. */
		assert_int_equal(c[0], i);
		assert_int_equal(c[BUF - 1], i);
	}
	pool_get_stats(p, &st);
	assert_int_equal(st.nbufs, NBUFS);
	assert_int_equal(st.buf_size, BUF);
	assert_int_equal(st.in_use, NBUFS);
	pool_put_n(p, NBUFS, b);
	pool_get_stats(p, &st);
	assert_int_equal(st.in_use, 0);
	/* All of them are free again. */
	assert_int_equal(pool_get(p, NBUFS, POOL_NOWAIT, b), 0);
	pool_put_n(p, NBUFS, b);
}

static void test_pool_nowait_multi_all_or_none(void **state)
{
	struct pool *p = *state;
	void *held[4], *want[5], *rest[4];
	struct pool_stats st;

	assert_int_equal(pool_get(p, 4, POOL_NOWAIT, held), 0);
	/* Only 4 free: a request for 5 takes nothing. */
	assert_int_equal(pool_get(p, 5, POOL_NOWAIT, want), -EAGAIN);
	pool_get_stats(p, &st);
	assert_int_equal(st.in_use, 4);
	assert_int_equal(pool_get(p, 4, POOL_NOWAIT, rest), 0);
	pool_put_n(p, 4, held);
	pool_put_n(p, 4, rest);
	assert_int_equal(pool_get(p, 0, POOL_NOWAIT, want), 0);
}

struct getter {
	struct pool *p;
	size_t n;
	void *bufs[NBUFS];
	atomic_int done;
	int rc;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;

	g->rc = pool_get(g->p, g->n, POOL_WAIT, g->bufs);
	atomic_store(&g->done, 1);
	return NULL;
}

static void test_pool_blocked_get_woken_by_put(void **state)
{
	struct pool *p = *state;
	struct getter g = { .p = p, .n = 1 };
	void *b[NBUFS];
	struct pool_stats st;
	pthread_t t;

	assert_int_equal(pool_get(p, NBUFS, POOL_WAIT, b), 0);
	assert_int_equal(pthread_create(&t, NULL, getter_main, &g), 0);
	wait_for_waiters(p, 1);
	usleep(20000);
	assert_int_equal(atomic_load(&g.done), 0);	/* really blocked */
	pool_put(p, b[3]);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(g.rc, 0);
	assert_ptr_equal(g.bufs[0], b[3]);		/* the one that came back */
	pool_get_stats(p, &st);
	assert_int_equal(st.waits, 1);
	assert_int_equal(st.waiters, 0);
	b[3] = g.bufs[0];
	pool_put_n(p, NBUFS, b);
}

static void test_pool_put_wakes_every_waiter(void **state)
{
	struct pool *p = *state;
	struct getter g[3];
	pthread_t t[3];
	void *b[NBUFS];

	assert_int_equal(pool_get(p, NBUFS, POOL_WAIT, b), 0);
	for (int i = 0; i < 3; i++) {
		g[i] = (struct getter){ .p = p, .n = 1 };
		assert_int_equal(pthread_create(&t[i], NULL, getter_main, &g[i]), 0);
	}
	wait_for_waiters(p, 3);
	for (int i = 0; i < 3; i++)
		pool_put(p, b[i]);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(g[i].rc, 0);
		pool_put(p, g[i].bufs[0]);
	}
	pool_put_n(p, NBUFS - 3, b + 3);
}

static void test_pool_multi_get_waits_for_all(void **state)
{
	struct pool *p = *state;
	struct getter g = { .p = p, .n = 4 };
	void *b[6];
	pthread_t t;

	assert_int_equal(pool_get(p, 6, POOL_WAIT, b), 0);
	assert_int_equal(pthread_create(&t, NULL, getter_main, &g), 0);
	/* 2 free, 4 wanted: it takes the 2 and sleeps for the rest. */
	wait_for_waiters(p, 1);
	pool_put(p, b[0]);
	usleep(20000);
	assert_int_equal(atomic_load(&g.done), 0);
	pool_put(p, b[1]);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(g.rc, 0);
	for (int i = 0; i < 4; i++)
		for (int k = 2; k < 6; k++)
			assert_ptr_not_equal(g.bufs[i], b[k]);
	pool_put_n(p, 4, g.bufs);
	pool_put_n(p, 4, b + 2);
}

struct multi_arg {
	struct pool *p;
	int iters;
};

static void *multi_main(void *arg)
{
	struct multi_arg *a = arg;
	void *b[5];

	for (int i = 0; i < a->iters; i++) {
		if (pool_get(a->p, 5, POOL_WAIT, b) != 0)
			return (void *)1;
		pool_put_n(a->p, 5, b);
	}
	return NULL;
}

static void test_pool_two_multi_requests_never_deadlock(void **state)
{
	struct pool *p = *state;
	struct multi_arg a = { .p = p, .iters = 20000 };
	pthread_t t[3];
	void *ret;

	/* 3 x 5 > 8: without the multi-request lock two of them could each hold 4 and wait. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, multi_main, &a), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
}

static void test_pool_dynamic_fallback(void **state)
{
	struct pool *p = *state;
	void *b[NBUFS + 1], *one;
	struct pool_stats st;

	/* More than the whole arena can never be met from it: allocated outside. */
	assert_int_equal(pool_get(p, NBUFS + 1, POOL_NOWAIT, b), 0);
	for (unsigned i = 0; i < NBUFS + 1; i++) {
		assert_int_equal((uintptr_t)b[i] % 4096, 0);
		memset(b[i], 0x5a, BUF);
	}
	assert_int_equal(pool_get_dynamic(p, &one), 0);
	memset(one, 1, BUF);
	pool_get_stats(p, &st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.dynamic_in_use, NBUFS + 2);
	assert_int_equal(st.dynamic_allocs, NBUFS + 2);
	assert_int_equal(st.gets, NBUFS + 2);
	/* The arena is untouched and still fully available. */
	{
		void *all[NBUFS];

		assert_int_equal(pool_get(p, NBUFS, POOL_NOWAIT, all), 0);
		pool_put_n(p, NBUFS, all);
	}
	pool_put_n(p, NBUFS + 1, b);
	pool_put(p, one);
	pool_get_stats(p, &st);
	assert_int_equal(st.dynamic_in_use, 0);
	assert_int_equal(st.dynamic_allocs, NBUFS + 2);
}

static void test_pool_high_water_and_counters(void **state)
{
	struct pool *p = *state;
	void *a[3], *b[2];
	struct pool_stats st;

	assert_int_equal(pool_get(p, 3, POOL_WAIT, a), 0);
	pool_put(p, a[0]);
	assert_int_equal(pool_get(p, 2, POOL_WAIT, b), 0);
	pool_get_stats(p, &st);
	assert_int_equal(st.in_use, 4);
	assert_int_equal(st.high_water, 4);
	assert_int_equal(st.gets, 5);
	assert_int_equal(st.waits, 0);
	assert_int_equal(st.dynamic_allocs, 0);
	pool_put_n(p, 2, a + 1);
	pool_put_n(p, 2, b);
	pool_get_stats(p, &st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.high_water, 4);		/* a high-water mark only rises */
}

static void test_pool_odd_buf_size_still_page_aligned(void **state)
{
	struct pool *p;
	void *b[3];

	(void)state;
	assert_int_equal(pool_create(100, 3, &p), 0);
	assert_int_equal(pool_buf_size(p), 100);
	assert_int_equal(pool_get(p, 3, POOL_NOWAIT, b), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal((uintptr_t)b[i] % 4096, 0);
		memset(b[i], i, 100);
	}
	pool_put_n(p, 3, b);
	pool_destroy(p);
}

/* ---- prefault ---- */

/* Buffers in use keep every byte; the counters do not move. */
static void test_pool_prefault_leaves_buffers_in_use_alone(void **state)
{
	struct pool *p = *state;
	struct pool_stats before, after;
	unsigned char *held[2];

	assert_int_equal(pool_get(p, 2, POOL_NOWAIT, (void **)held), 0);
	memset(held[0], 0xa5, BUF);
	memset(held[1], 0x5a, BUF);
	pool_get_stats(p, &before);
	assert_int_equal(pool_prefault(p), 0);
	pool_get_stats(p, &after);
	for (unsigned i = 0; i < BUF; i++) {
		assert_int_equal(held[0][i], 0xa5);
		assert_int_equal(held[1][i], 0x5a);
	}
	assert_int_equal(after.in_use, 2);
	assert_int_equal(after.gets, before.gets);
	assert_int_equal(after.high_water, before.high_water);
	assert_int_equal(after.waits, before.waits);
	pool_put_n(p, 2, (void **)held);
}

#define PF_BUF		(64u << 10)
#define PF_NBUFS	64u

/* Every page of every buffer is resident afterwards, and the free list kept its order. */
static void test_pool_prefault_makes_the_arena_resident_in_order(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char vec[PF_BUF / 4096];
	void *seq1[PF_NBUFS], *seq2[PF_NBUFS];
	struct pool_stats st;
	struct pool *p;

	(void)state;
	assert_true(PF_BUF / page <= sizeof(vec));
	/* 4 MiB: above malloc's mmap threshold, so the arena starts out as fresh mappings. */
	assert_int_equal(pool_create(PF_BUF, PF_NBUFS, &p), 0);
	for (unsigned i = 0; i < PF_NBUFS; i++)
		assert_int_equal(pool_get(p, 1, POOL_NOWAIT, &seq1[i]), 0);
	for (unsigned i = PF_NBUFS; i-- > 0;)
		pool_put(p, seq1[i]);
	assert_int_equal(pool_prefault(p), 0);
	for (unsigned i = 0; i < PF_NBUFS; i++) {
		assert_int_equal(mincore(seq1[i], PF_BUF, vec), 0);
		for (size_t k = 0; k < PF_BUF / page; k++)
			assert_true(vec[k] & 1);
	}
	for (unsigned i = 0; i < PF_NBUFS; i++)
		assert_int_equal(pool_get(p, 1, POOL_NOWAIT, &seq2[i]), 0);
	for (unsigned i = 0; i < PF_NBUFS; i++)
		assert_ptr_equal(seq2[i], seq1[i]);
	pool_put_n(p, PF_NBUFS, seq2);
	pool_get_stats(p, &st);
	assert_int_equal(st.gets, 2 * PF_NBUFS);
	assert_int_equal(st.in_use, 0);
	pool_destroy(p);
}

/* ---- stress ---- */

#define STRESS_THREADS	8
#define STRESS_ITERS	100000
#define STRESS_NBUFS	3u

struct stress {
	struct pool *p;
	void *addr[STRESS_NBUFS];		/* the arena's buffers, learned up front */
	atomic_int owner[STRESS_NBUFS];		/* 0 free, else thread id + 1 */
	atomic_int failures;
	atomic_uint takes;
	atomic_int stop;
	atomic_int prefaults;
};

struct stress_arg {
	struct stress *s;
	int id;
};

static int stress_index(struct stress *s, void *b)
{
	for (unsigned i = 0; i < STRESS_NBUFS; i++)
		if (s->addr[i] == b)
			return (int)i;
	return -1;
}

/* Claims @b for thread @id; checks nobody else holds it, and marks it inside. */
static void stress_take(struct stress *s, int id, void *b)
{
	int i = stress_index(s, b);
	uint64_t *w = b;

	if (i < 0 || atomic_exchange(&s->owner[i], id + 1) != 0) {
		atomic_fetch_add(&s->failures, 1);
		return;
	}
	w[0] = (uint64_t)id;
	w[BUF / 8 - 1] = ~(uint64_t)id;
	/* Now and then hold it across a reschedule, so other getters find the pool empty. */
	if ((atomic_fetch_add_explicit(&s->takes, 1, memory_order_relaxed) & 15) == 0)
		sched_yield();
}

static void stress_give(struct stress *s, int id, void *b)
{
	int i = stress_index(s, b);
	uint64_t *w = b;

	if (i < 0 || w[0] != (uint64_t)id || w[BUF / 8 - 1] != ~(uint64_t)id ||
	    atomic_exchange(&s->owner[i], 0) != id + 1)
		atomic_fetch_add(&s->failures, 1);
	pool_put(s->p, b);
}

static void *stress_main(void *arg)
{
	struct stress_arg *a = arg;
	struct stress *s = a->s;
	unsigned seed = (unsigned)a->id * 2654435761u;
	void *b[2];

	for (int it = 0; it < STRESS_ITERS; it++) {
		seed = seed * 1103515245u + 12345u;
		switch ((seed >> 16) % 8) {
		case 0:		/* a multi-buffer request */
			if (pool_get(s->p, 2, POOL_WAIT, b) != 0) {
				atomic_fetch_add(&s->failures, 1);
				break;
			}
			stress_take(s, a->id, b[0]);
			stress_take(s, a->id, b[1]);
			stress_give(s, a->id, b[1]);
			stress_give(s, a->id, b[0]);
			break;
		case 1:		/* non-blocking */
			if (pool_get(s->p, 1, POOL_NOWAIT, b) == 0) {
				stress_take(s, a->id, b[0]);
				stress_give(s, a->id, b[0]);
			}
			break;
		default:
			if (pool_get(s->p, 1, POOL_WAIT, b) != 0) {
				atomic_fetch_add(&s->failures, 1);
				break;
			}
			stress_take(s, a->id, b[0]);
			stress_give(s, a->id, b[0]);
		}
	}
	return NULL;
}

/*
 * Prefaults over and over while the others run: the marks stress_give() checks in the
 * buffers they hold must survive it.
 */
static void *prefault_main(void *arg)
{
	struct stress *s = arg;

	while (!atomic_load(&s->stop)) {
		if (pool_prefault(s->p) != 0)
			atomic_fetch_add(&s->failures, 1);
		atomic_fetch_add(&s->prefaults, 1);
		sched_yield();
	}
	return NULL;
}

static void test_pool_stress_no_buffer_handed_out_twice(void **state)
{
	static struct stress s;
	struct stress_arg args[STRESS_THREADS];
	pthread_t t[STRESS_THREADS], pf;
	struct pool_stats st;

	(void)state;
	memset(&s, 0, sizeof(s));
	/* Fewer buffers than threads, so getters really block and wake. */
	assert_int_equal(pool_create(BUF, STRESS_NBUFS, &s.p), 0);
	assert_int_equal(pool_get(s.p, STRESS_NBUFS, POOL_NOWAIT, s.addr), 0);
	pool_put_n(s.p, STRESS_NBUFS, s.addr);
	for (int i = 0; i < STRESS_THREADS; i++) {
		args[i] = (struct stress_arg){ .s = &s, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, stress_main, &args[i]), 0);
	}
	assert_int_equal(pthread_create(&pf, NULL, prefault_main, &s), 0);
	for (int i = 0; i < STRESS_THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	atomic_store(&s.stop, 1);
	assert_int_equal(pthread_join(pf, NULL), 0);
	assert_int_equal(atomic_load(&s.failures), 0);
	assert_true(atomic_load(&s.prefaults) > 0);
	pool_get_stats(s.p, &st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.waiters, 0);
	assert_true(st.high_water <= STRESS_NBUFS);
	assert_true(st.gets >= STRESS_THREADS * (uint64_t)STRESS_ITERS / 2);
	assert_true(st.waits > 0);
	assert_int_equal(st.dynamic_allocs, 0);
	/* Every buffer is back on the free list exactly once. */
	assert_int_equal(pool_get(s.p, STRESS_NBUFS, POOL_NOWAIT, s.addr), 0);
	for (unsigned i = 0; i < STRESS_NBUFS; i++)
		for (unsigned k = 0; k < i; k++)
			assert_ptr_not_equal(s.addr[i], s.addr[k]);
	pool_put_n(s.p, STRESS_NBUFS, s.addr);
	pool_destroy(s.p);
}

/* ---- destroy ---- */

struct late_put {
	struct pool *p;
	void *bufs[2];
	atomic_int put_done;
};

static void *late_put_main(void *arg)
{
	struct late_put *l = arg;

	usleep(100000);
	atomic_store(&l->put_done, 1);
	pool_put_n(l->p, 2, l->bufs);
	return NULL;
}

static void test_pool_destroy_waits_for_outstanding(void **state)
{
	struct late_put l = { 0 };
	pthread_t t;
	double t0;

	(void)state;
	assert_int_equal(pool_create(BUF, 2, &l.p), 0);
	assert_int_equal(pool_get(l.p, 1, POOL_WAIT, &l.bufs[0]), 0);
	assert_int_equal(pool_get_dynamic(l.p, &l.bufs[1]), 0);
	assert_int_equal(pthread_create(&t, NULL, late_put_main, &l), 0);
	t0 = now_s();
	pool_destroy(l.p);		/* must not return (or free) before both puts */
	assert_int_equal(atomic_load(&l.put_done), 1);
	assert_true(now_s() - t0 >= 0.09);
	assert_int_equal(pthread_join(t, NULL), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_create_invalid),
		T(test_pool_get_put_all),
		T(test_pool_prefault_leaves_buffers_in_use_alone),
		cmocka_unit_test(test_pool_prefault_makes_the_arena_resident_in_order),
		T(test_pool_nowait_multi_all_or_none),
		T(test_pool_blocked_get_woken_by_put),
		T(test_pool_put_wakes_every_waiter),
		T(test_pool_multi_get_waits_for_all),
		T(test_pool_two_multi_requests_never_deadlock),
		T(test_pool_dynamic_fallback),
		T(test_pool_high_water_and_counters),
		cmocka_unit_test(test_pool_odd_buf_size_still_page_aligned),
		cmocka_unit_test(test_pool_stress_no_buffer_handed_out_twice),
		cmocka_unit_test(test_pool_destroy_waits_for_outstanding),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
