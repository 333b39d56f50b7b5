/*
 * pipeline: batched, asynchronous writes for many chunk files, made durable in
 * group-committed batches ("durability epochs").
 *
 * One pipeline serves a whole mount: one buffer pool, one flusher thread (the timer) and
 * sync_threads threads that write and sync files. Each open backing file is attached as a
 * struct pipeline_file.
 *
 * Writes: pipeline_write() copies bytes into the file's queued buffer for that chunk (a queued
 * chunk holds one contiguous byte range, so a new chunk needs no read-modify-write), so a
 * chunk is queued at most once per flush and later writes are absorbed into it. It returns a
 * ticket: the file's mutation sequence number. Tickets are per file and assigned under the
 * same lock that queues the write, so a flush that takes a file's queue takes exactly the
 * tickets issued so far: a wait can never return before its write is on disk (the frozen-core
 * epoch race is impossible by construction).
 *
 * Durability: pipeline_wait()/pipeline_wait_async() on (file, ticket) return once every
 * mutation of that file up to the ticket is written and fdatasync'd, or with the file's
 * sticky error. A wait hands its file to a sync thread at once; writes queued while that
 * file's flush is running go out together in its next flush (group commit: one fdatasync for
 * every writer waiting on the file). Files are flushed independently and in parallel, each
 * published as soon as its own sync returns, so a wait on file A never waits for file B. Data
 * nobody waits for is written by the flusher within one flush interval.
 *
 * Sticky errors (DURABILITY.md section 3): a failed write or sync poisons the file: every
 * later wait, write and truncate returns the error, a later good batch never clears it, and
 * the failed buffers are kept and stay readable until pipeline_destroy().
 *
 * Reads: pipeline_read() sees queued and in-flight data, masks stale backing bytes behind a
 * queued truncate, and returns zeros for holes; it is short only at the logical EOF.
 *
 * Size: the logical size (pipeline_file_size) includes queued writes and truncates; the
 * backing length catches up when the batch is written. Truncates are ordered with the file's
 * writes; queued data beyond a smaller size is dropped.
 *
 * Threads: every function may be called from any thread, except that pipeline_stop() and
 * pipeline_destroy() must not race with other calls on the same pipeline, and callbacks run
 * on the flusher (or a sync) thread and must not block on the pipeline.
 */
#ifndef FROZENFS_PIPELINE_H
#define FROZENFS_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "chunk.h"
#include "err.h"

struct pipeline;
struct pipeline_file;

/*
 * A write-out sends adjacent chunks in one pwritev of at most this many bytes. ext4 holds
 * the backing inode's lock for a whole buffered pwritev, and a writer reserving space
 * (fallocate) spins on that lock meanwhile: with 4 MiB per call, a 1 GiB dd conv=fsync ran
 * at 350-496 MB/s with 2.1-3.4 s of daemon CPU; at 256 KiB to 1 MiB at 660-875 MB/s with
 * 0.9-1.0 s (bench/RESULTS.md, session 14).
 */
#define PIPELINE_PWRITEV_MAX	(512u << 10)

struct pipeline_opts {
	size_t chunk_size;		/* bytes; must be chunk_size_valid() */
	size_t pool_bufs;		/* chunk buffers in the pool (>= 4) */
	unsigned flush_interval_ms;	/* flush at least this often (> 0) */
	unsigned sync_threads;		/* threads that write and sync files (0 means 1) */
	uint64_t reserve_ahead_from;	/* a file growing past this reserves ahead of its end
					   (default 1 MiB; tests set it low) */
	bool prefault;			/* make the pool resident in the background right after
					   create (pool_prefault()): the first large write after a
					   mount then runs at full speed */
	unsigned flush_delay_us;	/* tests only: sleep after taking a batch, before writing */
	unsigned submit_delay_us;	/* tests only: sleep inside pipeline_write's critical section */
};

/* Fills @o with the defaults: 64 KiB chunks, 1024 buffers, 1000 ms, 4 sync threads. */
void pipeline_opts_default(struct pipeline_opts *o);

/* Creates the pool and starts the flusher. Returns 0 or -errno. */
int pipeline_create(const struct pipeline_opts *o, struct pipeline **out);

/*
 * Writes and syncs everything queued, stops the threads. Returns 0, or the first sticky error
 * of any file (its detail is err_last() of the caller afterwards). Idempotent.
 */
int pipeline_stop(struct pipeline *p);

/* Stops if needed, then frees everything, failed files' kept buffers included. NULL: no-op. */
void pipeline_destroy(struct pipeline *p);

/*
 * Attaches @cf (ownership passes to the pipeline on success; it is closed when the last
 * reference is gone and nothing of the file is queued). Reads the backing length as the
 * logical size. Returns 0 and a file with one reference, or -errno.
 */
int pipeline_file_attach(struct pipeline *p, struct chunk_file *cf, struct pipeline_file **out);

/*
 * For a file that is gone (unlinked, no descriptor left): drops its queued, untaken writes
 * and, if it failed, its kept buffers and its sticky error (DURABILITY.md section 2.3, and
 * section 3 item 7: clearing by unlink and last close), so the pipeline neither writes data
 * nobody can reach nor reports it at stop. A flush already running completes. The caller
 * still holds its reference. Any thread; never blocks on I/O.
 */
void pipeline_file_discard(struct pipeline_file *f);

/* Takes another reference. */
void pipeline_file_get(struct pipeline_file *f);

/*
 * Drops a reference. Queued data is still written and synced; the chunk file is closed once
 * nothing is queued and no reference is left. A failed file keeps its buffers until
 * pipeline_destroy(). NULL is a no-op.
 */
void pipeline_file_put(struct pipeline_file *f);

struct chunk_file *pipeline_file_chunk(struct pipeline_file *f);

/*
 * Queues @len bytes from @src at byte @off of chunk @index (@off + @len <= chunk size).
 * Raises the logical size to cover them and sets the mtime to now. Reserves backing space
 * first when the write extends the file (-ENOSPC here, not later). Blocks only when the pool
 * is empty (backpressure), never for a sync in progress.
 * Returns 0 and the write's ticket in *ticket (may be NULL), or -errno: the sticky error
 * (-EIO after a failed batch), -EFBIG beyond the backing FS's maximum size, -ENOSPC.
 */
int pipeline_write(struct pipeline_file *f, uint64_t index, size_t off, const void *src,
		   size_t len, uint64_t *ticket);

/*
 * Fills @len bytes at @dst, the queued buffer itself (one copy for sources that are not
 * memory, such as a pipe). Called with the file's lock held: it must not call into the
 * pipeline. Returns 0, or -errno with err_set() detail.
 */
typedef int (*pipeline_fill_fn)(void *arg, void *dst, size_t len);

/*
 * pipeline_write() with the bytes produced by @fill(@arg, ...) instead of copied from memory.
 * If @fill fails, its error is returned and nothing is queued beyond what the file's queued
 * range already held (those bytes may hold part of the new data: a torn, failed write).
 */
int pipeline_write_from(struct pipeline_file *f, uint64_t index, size_t off, size_t len,
			pipeline_fill_fn fill, void *arg, uint64_t *ticket);

/*
 * Reads up to @len bytes at byte @off of the logical file into @dst: queued data first, then
 * in-flight, then the backing file, zeros for holes. Returns the count (short only at the
 * logical EOF, 0 at or past it) or -errno.
 */
ssize_t pipeline_read(struct pipeline_file *f, uint64_t off, void *dst, size_t len);

/*
 * Whether [@off, @off + *@len) can be read straight from the backing file (the descriptor
 * of pipeline_file_chunk()), which is what lets the FUSE layer splice it: 1 if nothing is
 * queued, in flight or truncated for the file and the backing file holds the whole range,
 * after clamping *@len to the file's size (0 at or past EOF, which also returns 1); 0 if
 * the caller must use pipeline_read(). Like pipeline_read(), a write accepted meanwhile may
 * or may not be seen.
 */
int pipeline_read_direct(struct pipeline_file *f, uint64_t off, size_t *len);

/*
 * Sets the logical size to @size, ordered after the file's queued writes: a shrink drops
 * queued chunks past the end and zeroes the tail of the boundary chunk; a grow leaves a
 * hole. Sets the mtime to now. -EFBIG beyond the backing maximum, or the sticky error.
 */
int pipeline_truncate(struct pipeline_file *f, uint64_t size, uint64_t *ticket);

/*
 * Makes bytes [@off, @off + @len) of the file read as zeros, ordered after its queued writes,
 * without changing the size: FALLOC_FL_PUNCH_HOLE (@zero false: the backing blocks are
 * freed) or FALLOC_FL_ZERO_RANGE (@zero true: they are zeroed and allocated, also past the
 * end). Queued bytes in the range are dropped; a flight in progress is waited for first, so
 * it cannot write old bytes back over the range. Done on the backing file before it
 * returns, made durable by the file's next sync (the ticket). Sets the mtime to now.
 * Returns 0, or -errno: the sticky error (-EIO), the backing fallocate's error (nothing
 * changed), -EINVAL for a zero length, -EFBIG past 2^63.
 */
int pipeline_punch(struct pipeline_file *f, uint64_t off, uint64_t len, bool zero,
		   uint64_t *ticket);

/*
 * lseek(SEEK_DATA) (@hole false) or lseek(SEEK_HOLE) (@hole true) on the logical file from
 * byte @off: the backing file's holes, with every chunk that has queued or in-flight bytes
 * counted as data and stale backing bytes (past a pending truncate) as a hole. 0 and the
 * offset in *@out; -ENXIO at or past the size, or for SEEK_DATA when only a hole follows;
 * or the backing lseek's -errno.
 */
int pipeline_seek_data(struct pipeline_file *f, uint64_t off, bool hole, uint64_t *out);

/* Sets the logical mtime (persisted to the backing file with the next batch). */
void pipeline_file_set_mtime(struct pipeline_file *f, const struct timespec *mtime);

/*
 * Marks the file's metadata (mode, owner, times, link count) as changed on the backing
 * inode, so the next batch uses fsync rather than fdatasync for it, and returns a ticket
 * covering that.
 */
uint64_t pipeline_file_touch_meta(struct pipeline_file *f);

/* Ticket of the file's latest accepted mutation (0 if none since attach). */
uint64_t pipeline_file_ticket(struct pipeline_file *f);

#define PIPELINE_PENDING	1	/* pipeline_wait_async: the callback will be called */
#define PIPELINE_FSYNC		0x1	/* wait flag: also make metadata durable (fsync) */
#define PIPELINE_WRITTEN	0x2	/* wait flag: return once written to the backing file,
					   before its sync (ordering, not durability) */

typedef void (*pipeline_cb)(void *arg, int rc);

/*
 * Waits until every mutation of @f with a ticket <= @ticket is durable (with PIPELINE_WRITTEN:
 * only written to the backing file, whose sync may still fail later and then poisons the
 * file as usual). @ticket 0 means "the file's latest" (pipeline_file_ticket()). Returns 0, or
 * the file's sticky error. Blocks.
 */
int pipeline_wait(struct pipeline_file *f, uint64_t ticket, unsigned flags);

/*
 * The same without blocking: returns 0 or -errno if the answer is known now (the callback is
 * not called), or PIPELINE_PENDING, in which case @cb(@arg, rc) is called exactly once, from
 * a sync thread, when the answer is known. Hands the file to a sync thread at once.
 */
int pipeline_wait_async(struct pipeline_file *f, uint64_t ticket, unsigned flags,
			pipeline_cb cb, void *arg);

/* The file's sticky error (0 if none); its detail is copied into *d when @d is not NULL. */
int pipeline_file_error(struct pipeline_file *f, struct err_detail *d);

struct pipeline_file_stat {
	uint64_t size;			/* logical size, queued operations included */
	struct timespec mtime;		/* logical mtime (tv_nsec == UTIME_OMIT: never set) */
	/* The time of the latest write, truncate or fallocate, which the backing ctime may not
	 * show yet; not changed by pipeline_file_set_mtime() (UTIME_OMIT: none since attach). */
	struct timespec ctime;
	uint64_t queued_chunks;		/* chunks queued or in flight, not yet durable */
	uint64_t ticket;		/* latest accepted mutation */
	uint64_t durable_ticket;	/* latest durable mutation */
	int error;			/* sticky error or 0 */
	int flushing;			/* a flush of the file has been taken and not published */
	/*
	 * The realtime window [flush_t0, flush_t1] in which the latest write-out changed the
	 * backing inode (flush_window): a backing ctime inside it was stamped by that write-out,
	 * not by a call.
	 */
	int flush_window;
	struct timespec flush_t0, flush_t1;
};

void pipeline_file_stat(struct pipeline_file *f, struct pipeline_file_stat *st);

/* The logical size alone. */
uint64_t pipeline_file_size(struct pipeline_file *f);

/*
 * Hands @f to a sync thread now if it has anything not yet durable (does not wait), so that
 * its flush can overlap other work of the caller before a pipeline_wait*() on it.
 */
void pipeline_file_flush(struct pipeline_file *f);

/*
 * Gives back backing space reserved past the file's end (a growing file reserves ahead of its
 * writes), in the file's next flush, which is started now if none is due. For the last close
 * of a file. Does not wait; never changes the file's length or data.
 */
void pipeline_file_trim(struct pipeline_file *f);

/*
 * Tells the file that the caller has reserved (fallocate) its backing bytes from @off to
 * @end, where a truncate is about to set the size: a grow over reserved space leaves no hole
 * that later writes would have to reserve one by one. For fallocate mode 0.
 */
void pipeline_file_reserved(struct pipeline_file *f, uint64_t off, uint64_t end);

/* Starts a batch now (does not wait). */
void pipeline_kick(struct pipeline *p);

/*
 * Global barrier: kicks the flusher and waits until everything accepted (on any file) before
 * the call is durable. Returns 0 or the first sticky error of any file.
 */
int pipeline_sync_all(struct pipeline *p);

struct pipeline_stats {
	uint64_t batches;		/* file flushes published (the durable epoch) */
	uint64_t queued_chunks;		/* chunks queued or in flight */
	uint64_t queued_bytes;		/* queued_chunks * chunk size */
	uint64_t kept_chunks;		/* buffers kept for failed files */
	uint64_t bytes_written;		/* to backing files, in total */
	uint64_t chunks_written;
	uint64_t writes_absorbed;	/* writes that landed in an already queued chunk */
	uint64_t syncs;			/* fdatasync/fsync calls made */
	uint64_t waits;			/* durability waits served */
	uint64_t failed_files;		/* files with a sticky error */
	uint64_t flush_p50_us;		/* flush latency (write .. sync done), recent flushes */
	uint64_t flush_p99_us;
	size_t pool_in_use, pool_high_water, pool_nbufs, pool_waiters;
	int first_error;		/* first sticky error, 0 if none */
};

void pipeline_get_stats(struct pipeline *p, struct pipeline_stats *st);

/*
 * Files attached and not yet freed: each holds its chunk file's descriptor, also after the
 * caller's last put while the file still has a flush due (a timed flush persists its
 * mtime). Any thread; a snapshot.
 */
size_t pipeline_file_count(struct pipeline *p);

size_t pipeline_chunk_size(const struct pipeline *p);

#endif
