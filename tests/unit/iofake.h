/*
 * iofake: a struct chunk_io for unit tests that performs the real system calls but can
 * inject faults and delays, and counts calls per operation.
 *
 * Operations are named like the chunk_io fields: "openat", "close", "preadv", "pwritev",
 * "fdatasync", "fsync", "ftruncate", "fallocate", "flock", "fstat", "futimens", "lseek".
 * Thread-safe (one mutex); counters are global to the process.
 */
#ifndef FROZENFS_IOFAKE_H
#define FROZENFS_IOFAKE_H

#include <pthread.h>

#include "chunk.h"

#define IOFAKE_SHORT	1	/* as @err: transfer only half the bytes (at least 1), succeed */
#define IOFAKE_EINTR	2	/* as @err: return -EINTR without doing anything */

/* The fake table. */
const struct chunk_io *iofake_io(void);

/* Forgets all rules, delays and counters. */
void iofake_reset(void);

/*
 * From now on, the @nth call (1-based, counted from this call) of @op fails with @err (a
 * negative errno, not performing the syscall) or misbehaves as IOFAKE_SHORT / IOFAKE_EINTR.
 * @nth == 0 means every call from now on (until iofake_reset()).
 */
void iofake_fail(const char *op, unsigned nth, int err);

/* Sleeps @us microseconds before every call of @op (0 to stop). */
void iofake_delay(const char *op, unsigned us);

/* Calls of @op since the last reset (including failed ones). */
unsigned iofake_count(const char *op);

/* The thread that made the latest call of @op (undefined if there was none). */
pthread_t iofake_last_thread(const char *op);

/* Number of rules that fired since the last reset. */
unsigned iofake_fired(void);

#endif
