/*
 * fs_chan: the /dev/fuse channel, read and written through libfuse's custom I/O hooks.
 *
 * The first reason to sit between libfuse 3.14 and the kernel is FUSE_HANDLE_KILLPRIV_V2,
 * which that libfuse cannot ask for (the second: no reply may be written once the session
 * has closed the descriptor, fs_chan_unmount()). Without it the kernel sends a GETXATTR of
 * security.capability before every WRITE (file_remove_privs() finds no S_NOSEC on a FUSE
 * inode), doubling the round trips of small writes. With it the kernel sets SB_NOSEC, latches
 * S_NOSEC on an inode after its first write, and leaves killing set-user-ID and set-group-ID
 * bits to the filesystem: fs_ops.c does that on WRITE, size SETATTR and OPEN(O_TRUNC) by a
 * caller other than root (see fs_kill_suidgid()).
 *
 * The hooks pass every request and reply through unchanged, except that the INIT reply gets
 * FUSE_HANDLE_KILLPRIV_V2 added when the kernel offered it, and FUSE_DIRECT_IO_ALLOW_MMAP
 * (Linux >= 6.6) likewise: without it a file opened with FOPEN_DIRECT_IO (-o direct_io)
 * cannot be mapped MAP_SHARED (ENODEV), so SQLite's WAL mode failed on such a mount. The
 * splice hooks are plain splice(2): with custom I/O, libfuse offers FUSE_CAP_SPLICE_READ and
 * _WRITE only when they exist (spliced WRITE requests and READ replies, fs_ops.c). Being
 * there when INIT is answered is also the only moment to raise the mount's read-ahead (see
 * fs_chan_install()).
 */
#ifndef FROZENFS_FS_CHAN_H
#define FROZENFS_FS_CHAN_H

#include "fs.h"

/*
 * Installs the hooks on @se's channel. Main thread, after fuse_session_mount() and before the
 * session loop. Returns 0 or -1 (libfuse printed why).
 *
 * With @readahead_kb, right after the INIT reply (the kernel sets the mount's read-ahead from
 * INIT, to at most the block-device default of 128 KiB) it raises the read-ahead of the mount
 * at @mountpoint through /sys/class/bdi/0:N/read_ahead_kb (found in /proc/self/mountinfo, so
 * no FUSE request is needed), so a sequential read takes one round trip per READ of up to
 * 1 MiB instead of per 128 KiB. Failing that (not root, no sysfs) changes nothing else.
 */
int fs_chan_install(struct fuse_session *se, const char *mountpoint, unsigned readahead_kb);

/*
 * fuse_session_unmount(), after which no reply is written to the channel: one still sent
 * (by a pipeline thread, during the drain) fails with ENOENT instead of reaching whatever
 * file reuses the closed descriptor's number. Main thread, once the session loop is over.
 */
void fs_chan_unmount(struct fuse_session *se);

/* 1 once the kernel was told that frozenfs kills set-ID bits itself. Any thread. */
int fs_chan_killpriv(void);

#endif
