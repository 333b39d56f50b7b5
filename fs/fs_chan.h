/*
 * fs_chan: the /dev/fuse channel, read and written through libfuse's custom I/O hooks.
 *
 * The only reason to sit between libfuse 3.14 and the kernel is FUSE_HANDLE_KILLPRIV_V2,
 * which that libfuse cannot ask for. Without it the kernel sends a GETXATTR of
 * security.capability before every WRITE (file_remove_privs() finds no S_NOSEC on a FUSE
 * inode), doubling the round trips of small writes. With it the kernel sets SB_NOSEC, latches
 * S_NOSEC on an inode after its first write, and leaves killing set-user-ID and set-group-ID
 * bits to the filesystem: fs_ops.c does that on WRITE, size SETATTR and OPEN(O_TRUNC) by a
 * caller other than root (see fs_kill_suidgid()).
 *
 * The hooks pass every request and reply through unchanged, except that the INIT reply gets
 * FUSE_HANDLE_KILLPRIV_V2 added when the kernel offered it.
 */
#ifndef FROZENFS_FS_CHAN_H
#define FROZENFS_FS_CHAN_H

#include "fs.h"

/*
 * Installs the hooks on @se's channel. Main thread, after fuse_session_mount() and before the
 * session loop. Returns 0 or -1 (libfuse printed why).
 */
int fs_chan_install(struct fuse_session *se);

/* 1 once the kernel was told that frozenfs kills set-ID bits itself. Any thread. */
int fs_chan_killpriv(void);

#endif
