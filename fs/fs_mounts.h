/*
 * fs_mounts: which names of the mount have another mount on top of them.
 *
 * The descriptor reclaim (fs_reclaim.h) asks the kernel to forget cached names, and the
 * kernel does that with d_invalidate(), which also detaches every mount on top of the name:
 * a bind mount over a file inside frozenfs (a container's /etc/resolv.conf in a root file
 * system stored here) silently disappeared the first time that file's name was picked
 * (measured: with a limit of 1024 descriptors, 900 creates next to it were enough). So the
 * reclaim skips every file something is mounted on, in any mount namespace the daemon can
 * read (/proc/PID/mountinfo of one process per namespace).
 *
 * A mount M sits on a name of frozenfs when its parent mount P is a mount of frozenfs (same
 * device as ours); the name's path inside frozenfs is P's root joined with M's mount point
 * taken relative to P's mount point (a bind mount of a subdirectory has a root other than
 * "/"). The backing tree mirrors the mount's names, so the path is looked up in the backing
 * directory to get the (dev, ino) the inode table is keyed by.
 *
 * The parsing functions are pure (unit-tested in test_fs_mounts.c); no FUSE headers here.
 */
#ifndef FROZENFS_FS_MOUNTS_H
#define FROZENFS_FS_MOUNTS_H

#include <stddef.h>
#include <sys/types.h>

/* A backing file, as the inode table keys it. */
struct fs_file_id {
	dev_t dev;		/* FS_DEV_ANY: any device (known by inode number only) */
	ino_t ino;
};

#define FS_DEV_ANY ((dev_t)-1)

/* Sorts @ids by inode number (then device), for a binary search by inode number. */
void fs_file_id_sort(struct fs_file_id *ids, size_t n);

/*
 * The device ("major:minor" of mountinfo) of the last mount in @text whose mount point is
 * @mountpoint (an absolute path, as the kernel prints it before escaping). 0, or -ENOENT.
 */
int fs_mountinfo_dev(const char *text, const char *mountpoint, unsigned *major,
		     unsigned *minor);

/* fs_mountinfo_dev() on this process's /proc/self/mountinfo. */
int fs_mounts_self_dev(const char *mountpoint, unsigned *major, unsigned *minor);

/*
 * Calls @cb once for every mount in @text that sits on a name of the filesystem mounted
 * with device @major:@minor, with that name's path inside the filesystem: relative (no
 * leading '/'), "" for its root. Returns the number of calls.
 */
size_t fs_mountinfo_covered(const char *text, unsigned major, unsigned minor,
			    void (*cb)(const char *path, void *arg), void *arg);

/*
 * Reads /proc/PID/mountinfo of one process per mount namespace (the daemon's own first) and
 * stores in @out, up to @max, the backing (dev, ino) of every covered name and of every
 * directory above it (invalidating a directory detaches the mounts anywhere below it),
 * looked up from @backing_dirfd without following a final symlink. Names missing in the
 * backing tree are left out. Returns the number stored.
 */
size_t fs_mounts_covered(int backing_dirfd, unsigned major, unsigned minor,
			 struct fs_file_id *out, size_t max);

/*
 * Appends to @out[0..@n) (up to @max entries, no duplicates) the (dev, ino) of @path,
 * relative to @dirfd and not followed if a symlink, and of every directory above it below
 * @dirfd; names that do not exist are left out. Returns the new count.
 */
size_t fs_mounts_add_path(int dirfd, const char *path, struct fs_file_id *out, size_t n,
			  size_t max);

/*
 * Stores in @out, up to @max, the directories of the filesystem with device @major:@minor
 * that a thread uses as its working or root directory (/proc/PID/task/TID/cwd and root of
 * every thread the caller may inspect), as (FS_DEV_ANY, inode number the mount reports).
 * An invalidated name of such a directory would make getcwd() fail with ENOENT. Attributes
 * are not refreshed (AT_STATX_DONT_SYNC), so no request reaches a FUSE server. Returns the
 * number stored.
 */
size_t fs_procs_pinned(unsigned major, unsigned minor, struct fs_file_id *out, size_t max);

#endif
