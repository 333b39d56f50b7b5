/*
 * mpsc: intrusive multi-producer single-consumer queue.
 *
 * Producers push with one lock-free CAS loop on the queue head. The single consumer takes the
 * whole queue at once (one atomic exchange) and gets it back in push order: the order in which
 * the pushes' CASes succeeded. (frozen-core's drain hands back its stack newest-first, so two
 * queued writes to one chunk would land oldest-last and the older data would win; this queue
 * reverses the taken stack before returning it.)
 *
 * Nodes are embedded in the caller's structures; the queue never allocates after create.
 * A node must not be pushed again until the consumer has taken it.
 */
#ifndef FROZENFS_MPSC_H
#define FROZENFS_MPSC_H

#include <stdbool.h>
#include <stddef.h>

struct mpsc_node {
	struct mpsc_node *next;	/* owned by the queue from push until drain; then the consumer's */
};

struct mpsc;

int mpsc_create(struct mpsc **out);

/* Frees the queue; nodes still queued are not touched. NULL is a no-op. */
void mpsc_destroy(struct mpsc *q);

/* Any thread; lock-free. */
void mpsc_push(struct mpsc *q, struct mpsc_node *n);

/*
 * Consumer only. Takes every queued node and returns the first one pushed, linked through
 * ->next in push order and NULL-terminated; NULL if the queue was empty.
 */
struct mpsc_node *mpsc_drain(struct mpsc *q);

/* Any thread; a hint (may be stale by the time it returns). */
bool mpsc_empty(struct mpsc *q);

#endif
