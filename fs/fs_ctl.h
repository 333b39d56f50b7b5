/*
 * fs_ctl: the control interface of a mounted frozenfs, as virtual extended attributes.
 *
 * frozenfs-ctl (tools/frozenfs_ctl.c) and any script talk to the daemon through the mount
 * itself, with getxattr(2)/setxattr(2): no socket, no extra privileges, and it reaches the
 * right daemon whatever the namespace. The names are in the user. namespace because the
 * kernel lets any user read and write user.* attributes of the directories and regular
 * files they may read and write; trusted.* would need CAP_SYS_ADMIN.
 *
 * The names below are answered by the daemon and never reach the backing files. listxattr
 * does not list them, so cp -a, rsync -X and tar --xattrs neither copy them out of a mount
 * nor try to set them on one. Every other user.* name passes through to the backing file.
 *
 *   On the mount root:
 *   FS_CTL_STATUS  get: a text block, one "key: value" line each (keys below, in order;
 *                  "error:" lines repeat, one per file with a sticky error).
 *   FS_CTL_SYNC    set (any value): makes everything accepted before the call durable;
 *                  the call returns 0 once it is, or EIO if any file has a sticky error.
 *                  get: the same, then the value "durable_epoch: N\n" (for callers that
 *                  may read the root but not write it, and for read-only mounts).
 *   FS_CTL_WAIT    set to a decimal epoch E: returns once durable_epoch >= E (running the
 *                  sync above if needed); ERANGE if E is beyond open_epoch, EIO if the
 *                  sync fails.
 *   On a regular file:
 *   FS_CTL_DURABLE get: one line, "yes|no|failed ticket=T durable_ticket=D queued_chunks=Q
 *                  epoch=E[ error=TEXT]": whether everything written to the file so far is
 *                  durable; T is the file's latest write, D its latest durable one, and E the
 *                  open epoch: once E is durable, so is T.
 *
 * Where a name is answered by the daemon, setting FS_CTL_STATUS or FS_CTL_DURABLE, or
 * removing any of them, fails with EPERM. Elsewhere (FS_CTL_STATUS on a file, say) the name
 * is an ordinary attribute of the backing file.
 *
 * Status keys: version, backing, mountpoint, chunk_size, flush_interval_ms, durable_epoch,
 * open_epoch, flushes, queued_chunks, queued_bytes, pool_in_use, pool_high_water, pool_buffers,
 * writers_blocked, flush_p50_us, flush_p99_us, bytes_written, chunks_written, syncs,
 * fsyncs_served, failed_files, metadata_error, read_only, error.
 *
 * Epochs belong to the daemon's frontend, not to the pipeline's batching: each sync (set or
 * read FS_CTL_SYNC, or a wait that needs one) closes the open epoch and, once everything
 * accepted before it is durable, makes that epoch the durable one. So data written while
 * open_epoch is E is durable once durable_epoch >= E (fsync and the flush interval may make
 * it durable sooner). After a failed sync the durable epoch never moves again. "flushes"
 * counts the pipeline's published flushes (timer, fsync and sync alike).
 *
 * This header holds only names; it is shared by the daemon and frozenfs-ctl.
 */
#ifndef FROZENFS_FS_CTL_H
#define FROZENFS_FS_CTL_H

#define FS_CTL_PREFIX	"user.frozenfs."
#define FS_CTL_STATUS	FS_CTL_PREFIX "status"
#define FS_CTL_SYNC	FS_CTL_PREFIX "sync"
#define FS_CTL_WAIT	FS_CTL_PREFIX "wait"
#define FS_CTL_DURABLE	FS_CTL_PREFIX "durable"

/* Largest value a getxattr can return (the kernel's XATTR_SIZE_MAX). */
#define FS_CTL_VALUE_MAX	65536
/* Files with a sticky error named in the status; the rest are counted. */
#define FS_CTL_MAX_ERRORS	32

#endif
