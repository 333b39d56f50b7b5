/*
 * test_mpsc: the intrusive MPSC queue hands nodes back in push order, under concurrency too.
 * Run under TSan as well (see STYLE.md section 6).
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "mpsc.h"

struct item {
	struct mpsc_node node;
	int producer;
	int seq;
};

static struct item *item_of(struct mpsc_node *n)
{
	return (struct item *)((char *)n - offsetof(struct item, node));
}

static int setup(void **state)
{
	struct mpsc *q;

	if (mpsc_create(&q) < 0)
		return -1;
	*state = q;
	return 0;
}

static int teardown(void **state)
{
	struct mpsc *q = *state;

	assert_true(mpsc_empty(q));
	mpsc_destroy(q);
	return 0;
}

static void test_mpsc_empty_drain_is_null(void **state)
{
	struct mpsc *q = *state;

	assert_true(mpsc_empty(q));
	assert_null(mpsc_drain(q));
	mpsc_destroy(NULL);
}

static void test_mpsc_single_thread_fifo(void **state)
{
	struct mpsc *q = *state;
	static struct item it[1000];
	struct mpsc_node *n;
	int expect = 0;

	for (int i = 0; i < 1000; i++) {
		it[i].seq = i;
		mpsc_push(q, &it[i].node);
		assert_false(mpsc_empty(q));
	}
	n = mpsc_drain(q);
	assert_true(mpsc_empty(q));
	/* Oldest first: two queued writes to one chunk must land in the order they came. */
	for (; n; n = n->next)
		assert_int_equal(item_of(n)->seq, expect++);
	assert_int_equal(expect, 1000);
}

static void test_mpsc_drain_between_pushes_and_reuse(void **state)
{
	struct mpsc *q = *state;
	struct item a = { .seq = 1 }, b = { .seq = 2 }, c = { .seq = 3 };
	struct mpsc_node *n;

	mpsc_push(q, &a.node);
	n = mpsc_drain(q);
	assert_ptr_equal(n, &a.node);
	assert_null(n->next);
	mpsc_push(q, &b.node);
	mpsc_push(q, &c.node);
	mpsc_push(q, &a.node);			/* taken by the last drain: may be pushed again */
	n = mpsc_drain(q);
	assert_ptr_equal(n, &b.node);
	assert_ptr_equal(n->next, &c.node);
	assert_ptr_equal(n->next->next, &a.node);
	assert_null(n->next->next->next);
	assert_null(mpsc_drain(q));
}

/* ---- concurrent producers ---- */

#define PRODUCERS	8
#define PER_PRODUCER	100000

struct shared {
	struct mpsc *q;
	struct item *items;		/* PRODUCERS * PER_PRODUCER, never reused */
	atomic_int producers_done;
	atomic_int go;			/* set by the consumer after its first drain */
};

struct producer_arg {
	struct shared *s;
	int id;
};

static void *producer_main(void *arg)
{
	struct producer_arg *a = arg;
	struct item *mine = a->s->items + (size_t)a->id * PER_PRODUCER;

	/* So that the consumer drains while they push, whatever the scheduler does (a CI
	 * run once had every producer finish before the first drain). */
	while (!atomic_load(&a->s->go))
		sched_yield();
	for (int i = 0; i < PER_PRODUCER; i++) {
		mine[i].producer = a->id;
		mine[i].seq = i;
		mpsc_push(a->s->q, &mine[i].node);
	}
	atomic_fetch_add(&a->s->producers_done, 1);
	return NULL;
}

static void test_mpsc_concurrent_producers_keep_order(void **state)
{
	struct shared s = { .q = *state };
	struct producer_arg args[PRODUCERS];
	pthread_t t[PRODUCERS];
	int next[PRODUCERS] = { 0 };
	long drains = 0, total = 0, bad = 0;

	s.items = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(*s.items));
	assert_non_null(s.items);
	for (int i = 0; i < PRODUCERS; i++) {
		args[i] = (struct producer_arg){ .s = &s, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, producer_main, &args[i]), 0);
	}
	/* Drain while they push; after they are all done, one more drain takes the rest. */
	for (;;) {
		int done = atomic_load(&s.producers_done) == PRODUCERS;
		struct mpsc_node *n = mpsc_drain(s.q);

		drains++;
		atomic_store(&s.go, 1);
		for (; n; n = n->next) {
			struct item *it = item_of(n);

			/* Per producer, exactly the next sequence number: none lost or twice. */
			if (it->producer < 0 || it->producer >= PRODUCERS ||
			    it->seq != next[it->producer])
				bad++;
			else
				next[it->producer]++;
			total++;
		}
		if (done)
			break;
	}
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(total, (long)PRODUCERS * PER_PRODUCER);
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(next[i], PER_PRODUCER);
	assert_true(drains > 1);
	free(s.items);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_mpsc_empty_drain_is_null),
		T(test_mpsc_single_thread_fifo),
		T(test_mpsc_drain_between_pushes_and_reuse),
		T(test_mpsc_concurrent_producers_keep_order),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
