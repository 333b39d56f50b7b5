/*
 * iorec: a recording struct chunk_io (DURABILITY.md section 4.1, T1).
 *
 * iorec_start() wraps an ops table so that every backing mutation and every sync the daemon
 * makes is appended to a log file, one line per record, in the order the calls took effect.
 * The T1 crash-state generator (tests/t1/) replays the log to rebuild what the backing
 * filesystem may hold after a power loss at any point.
 *
 * DESIGN
 * - chunk_io entries have no context argument, so the recorder is process-global: one per
 *   process, started once before the table is handed out, never stopped while in use.
 * - Order is exact. A mutation (pwritev, ftruncate, fallocate, futimens, a create through
 *   openat(O_CREAT), mkdirat, mknodat, symlinkat, linkat, unlinkat, renameat2) runs with the
 *   recorder's lock held and is logged, after it returned, before the lock is dropped. A sync
 *   (fdatasync, fsync) is logged twice: "begin" under the lock before the call and "end"
 *   (naming its begin) after it, but the call itself runs unlocked so syncs still overlap.
 *   Hence a mutation logged before a sync's begin had completed when the sync started and is
 *   covered by it; one logged after may not be.
 * - Targets are named twice: by inode number (st_ino of the fd, or of the name for directory
 *   operations) and by the path relative to the backing root, read from /proc/self/fd at
 *   call time (" (deleted)" kept for unlinked files). Names in directory operations are the
 *   entry names passed by the caller.
 * - Times are CLOCK_MONOTONIC nanoseconds, taken under the lock right after the call, so a
 *   test process on the same host can order its own events (an fsync(2) that returned) with
 *   the daemon's.
 * - Unrecorded (pass-through): close, preadv, flock, fstat, lseek, and openat without O_CREAT.
 *
 * Line format: space-separated key=value fields; values are decimal numbers or strings with
 * bytes outside '!'..'~' and '%', '=' written as %XX ("-" is the empty string, "%2d" a
 * dash); "data" is the payload in hex.
 *
 *   seq=N ns=N op=OP res=R ...
 *   op=pwrite    ino path off len data
 *   op=ftruncate ino path len
 *   op=fallocate ino path mode off len
 *   op=futimens  ino path
 *   op=sync      ino path kind=(fsync|fdatasync) dir=(0|1) phase=(begin|end) [begin=SEQ]
 *   op=create|mkdir|mknod|symlink   dino dpath name ino        (ino: the new node)
 *   op=link      ino dino dpath name                           (ino: the linked node)
 *   op=unlink    dino dpath name ino flags                     (ino: the removed node)
 *   op=rename    dino dpath name ndino ndpath nname ino nino flags
 *                                    (ino: the source node, nino: the replaced one or 0)
 *
 * res is the call's result (0 or -errno; the byte count for pwrite). Failed calls are
 * logged too; a replay ignores them.
 */
#ifndef FROZENFS_IOREC_H
#define FROZENFS_IOREC_H

#include "chunk.h"

/*
 * Starts recording to @logpath (created or appended to) the calls made through *@out, which
 * forwards to @inner. @root is the backing directory: paths are logged relative to it.
 * Returns 0 or -errno (-EBUSY if a recorder already runs). Main thread, before other
 * threads use the table.
 */
int iorec_start(const char *logpath, const char *root, const struct chunk_io *inner,
		const struct chunk_io **out);

#endif
