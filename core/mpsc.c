/*
 * mpsc: intrusive multi-producer single-consumer queue (see mpsc.h).
 *
 * DESIGN
 *
 * Threads. Producers (FUSE workers queueing a dirty file) call mpsc_push() from any thread;
 * one consumer (the flusher) calls mpsc_drain(). The queue owns a node from the successful
 * push until the drain that takes it; after that the consumer owns it, ->next included.
 *
 * Structure. A Treiber stack: @head points at the most recently pushed node, each node's
 * ->next at the one pushed before it. A push is one CAS loop on @head; a drain takes the
 * whole stack with one atomic exchange against NULL. Neither side ever pops a single node,
 * so there is no ABA problem: a node cannot leave and re-enter the stack between a producer's
 * load of @head and its CAS, because only the consumer removes nodes and it removes all of
 * them at once; a stale @head just makes the CAS fail. Producers never read a node's ->next
 * after publishing it, so the consumer may reuse nodes freely.
 *
 * Order. The stack comes off newest-first. frozen-core's seed handed it to the flusher that
 * way, so two queued writes to one chunk landed oldest-last and the older data overwrote the
 * newer on disk. mpsc_drain() reverses the taken list in place (O(n), consumer-private memory)
 * and returns it oldest-first: in the order the pushes' CASes succeeded, which for each
 * producer is its program order.
 *
 * Memory order. A push CASes with release so the node's contents (and ->next) are visible to
 * the consumer; the drain's exchange is acquire. Every push is a read-modify-write on @head,
 * so all of them belong to one release sequence and the exchange synchronises with every push
 * it takes, not only the last one.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "err.h"
#include "mpsc.h"

struct mpsc {
	/* Newest node; CAS by producers, exchanged by the consumer. */
	_Atomic(struct mpsc_node *) head;
};

int mpsc_create(struct mpsc **out)
{
	struct mpsc *q = malloc(sizeof(*q));

	if (!q)
		return err_set(-ENOMEM, "mpsc_create", NULL);
	atomic_init(&q->head, NULL);
	*out = q;
	return 0;
}

void mpsc_destroy(struct mpsc *q)
{
	free(q);
}

void mpsc_push(struct mpsc *q, struct mpsc_node *n)
{
	/* Relaxed: the value only seeds the CAS, which re-reads @head on failure. */
	struct mpsc_node *old = atomic_load_explicit(&q->head, memory_order_relaxed);

	do {
		n->next = old;		/* @n is still ours: not yet published */
		/* Release on success: publishes *n to the consumer's acquire exchange. */
	} while (!atomic_compare_exchange_weak_explicit(&q->head, &old, n, memory_order_release,
							memory_order_relaxed));
}

struct mpsc_node *mpsc_drain(struct mpsc *q)
{
	/* Acquire: see every taken node as its producer wrote it. */
	struct mpsc_node *n = atomic_exchange_explicit(&q->head, NULL, memory_order_acquire);
	struct mpsc_node *prev = NULL;

	/* Newest-first stack -> oldest-first list. */
	while (n) {
		struct mpsc_node *next = n->next;

		n->next = prev;
		prev = n;
		n = next;
	}
	return prev;
}

bool mpsc_empty(struct mpsc *q)
{
	/* Relaxed: a hint only; nothing is dereferenced. */
	return atomic_load_explicit(&q->head, memory_order_relaxed) == NULL;
}
