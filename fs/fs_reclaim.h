/*
 * fs_reclaim: keeps the daemon's descriptors within RLIMIT_NOFILE.
 *
 * The daemon holds an O_PATH descriptor for every inode the kernel has looked up, and a
 * second one (the chunk file) once the file was opened, until the kernel sends FORGET; the
 * kernel sends FORGET only when it drops the dentry, which on a machine with free memory
 * is never. Without a bound, a `tar x` or `cp -r` of more files than half the limit fails
 * with EMFILE (measured: 9994 files with a limit of 20000).
 *
 * A FUSE inode the kernel no longer references is evicted at once (and FORGET sent), so the
 * fix is to make the kernel drop cached names: when the inode table passes a high
 * watermark, a reclaim thread asks the kernel to invalidate the least recently looked-up
 * names nobody has open (fuse_lowlevel_notify_inval_entry), down to a low watermark.
 * Never invalidated: a directory the kernel still caches a name under (the kernel's
 * d_invalidate() would drop the cached tree below it and detach any mount in it; leaves go
 * first, so a tree of directories is reclaimed from the bottom up), a name something is
 * mounted on and every directory above it (a bind mount over a file in the mount would
 * vanish; fs_mounts.h), a process's working or root directory (getcwd() would fail with
 * ENOENT). What the kernel still uses (an mmap, a path walk in progress) stays; a file
 * with data not yet durable stays in the table after its FORGET until the data is durable.
 * Invalidation only drops caches: the next access looks the name up again.
 */
#ifndef FROZENFS_FS_RECLAIM_H
#define FROZENFS_FS_RECLAIM_H

#include "fs.h"

/*
 * Computes the watermarks from the current RLIMIT_NOFILE and starts the thread (with the
 * session-ending signals blocked). Main thread, after fs->se is set and before the session
 * loop. Returns 0 or -errno.
 */
int fs_reclaim_start(struct fs *fs);

/* Stops and joins the thread; before the session is destroyed. Safe if never started. */
void fs_reclaim_stop(struct fs *fs);

#endif
