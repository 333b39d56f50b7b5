/*
 * chunk: one chunked backing file.
 *
 * A chunk file is an ordinary file whose length is the logical size of the frozenfs file it
 * stores; chunk i (chunk size C, a power of two) lives at bytes [i*C, min((i+1)*C, size)), so
 * the last chunk may be short and there is no header or padding (DURABILITY.md section 2.1).
 * Offsets and indices are 64-bit.
 *
 * All system calls go through a struct chunk_io ops table so tests can inject faults and
 * record I/O, and another backend can be added later. Every op returns what the syscall
 * returns on success and -errno on failure (never -1 with errno set). NULL for the table
 * means chunk_io_default(), the real syscalls.
 *
 * Transfers loop over short counts and retry EINTR, and split at IOV_MAX, so callers see
 * either "all done" (or, for reads, "all up to EOF") or an error. Failures are recorded with
 * err_set() (operation and file name).
 *
 * Thread safety: after open, every function may be called from any thread concurrently;
 * the file keeps no mutable state besides the fd (reads and writes use positional I/O).
 */
#ifndef FROZENFS_CHUNK_H
#define FROZENFS_CHUNK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

struct chunk_io {
	int (*openat)(int dirfd, const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*preadv)(int fd, const struct iovec *iov, int cnt, off_t off);
	ssize_t (*pwritev)(int fd, const struct iovec *iov, int cnt, off_t off);
	int (*fdatasync)(int fd);
	int (*fsync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*fallocate)(int fd, int mode, off_t off, off_t len);
	int (*flock)(int fd, int op);
	int (*fstat)(int fd, struct stat *st);
	int (*futimens)(int fd, const struct timespec ts[2]);
	off_t (*lseek)(int fd, off_t off, int whence);
	/* sync_file_range(SYNC_FILE_RANGE_WRITE): starts writeback, promises nothing. */
	int (*writeback)(int fd, off_t off, off_t len);

	/*
	 * Mutations of the backing tree. core/ itself never calls these; fs/ does, so that a
	 * recorder or a crash/fault injector wrapping the table sees every backing mutation.
	 */
	int (*mkdirat)(int dirfd, const char *path, mode_t mode);
	int (*mknodat)(int dirfd, const char *path, mode_t mode, dev_t dev);
	int (*symlinkat)(const char *target, int dirfd, const char *path);
	int (*linkat)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		      int flags);
	int (*unlinkat)(int dirfd, const char *path, int flags);
	int (*renameat2)(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
			 unsigned flags);
};

/* The real system calls, wrapped to return -errno. */
const struct chunk_io *chunk_io_default(void);

struct chunk_file;

/* Flags for chunk_file_open() and chunk_file_adopt(). */
#define CHUNK_CREATE	0x1	/* create the file if missing (O_CREAT) */
#define CHUNK_EXCL	0x2	/* with CHUNK_CREATE: fail with -EEXIST if it exists */
#define CHUNK_LOCK	0x4	/* take flock(LOCK_EX|LOCK_NB); -EWOULDBLOCK if held elsewhere */
#define CHUNK_RDONLY	0x8	/* open read-only */

/* Chunk sizes allowed for a store: powers of two in [CHUNK_SIZE_MIN, CHUNK_SIZE_MAX]. */
#define CHUNK_SIZE_MIN	4096u
#define CHUNK_SIZE_MAX	(16u << 20)
#define CHUNK_SIZE_DEFAULT (64u << 10)

/* 1 if @size is a valid chunk size, else 0. */
int chunk_size_valid(size_t size);

/*
 * Opens (or creates) @path relative to @dirfd (AT_FDCWD allowed) with O_CLOEXEC and
 * O_NOFOLLOW, never O_APPEND/O_TRUNC/O_DIRECT/O_SYNC. @name is kept for messages (may be
 * NULL: @path is used). Returns 0 and sets *out, or -errno (*out untouched); with CHUNK_LOCK
 * a store already locked by another open file description gives -EWOULDBLOCK. @chunk_size
 * must pass chunk_size_valid() (else -EINVAL), here and in chunk_file_adopt().
 */
int chunk_file_open(const struct chunk_io *io, int dirfd, const char *path, unsigned flags,
		    mode_t mode, size_t chunk_size, struct chunk_file **out);

/*
 * Wraps an already open @fd. Takes ownership of @fd on success only. @flags may hold
 * CHUNK_LOCK. @name is used in messages.
 */
int chunk_file_adopt(const struct chunk_io *io, int fd, const char *name, size_t chunk_size,
		     unsigned flags, struct chunk_file **out);

/* Closes the fd (dropping the flock). NULL is a no-op. Does not sync. */
void chunk_file_close(struct chunk_file *c);

int chunk_file_fd(const struct chunk_file *c);
size_t chunk_file_chunk_size(const struct chunk_file *c);
const char *chunk_file_name(const struct chunk_file *c);
const struct chunk_io *chunk_file_io(const struct chunk_file *c);

/*
 * Reads up to @len bytes starting at chunk @index (byte index * chunk size). Returns the
 * number of bytes read, which is less than @len only at end of file, or -errno.
 */
ssize_t chunk_file_pread(struct chunk_file *c, uint64_t index, void *buf, size_t len);
ssize_t chunk_file_preadv(struct chunk_file *c, uint64_t index, const struct iovec *iov,
			  int cnt);

/* Same, at an arbitrary byte offset. */
ssize_t chunk_file_pread_at(struct chunk_file *c, uint64_t off, void *buf, size_t len);

/*
 * Writes all of @buf / @iov at chunk @index; returns 0 or -errno (a failure may leave part
 * written). @cnt may exceed IOV_MAX.
 */
int chunk_file_pwrite(struct chunk_file *c, uint64_t index, const void *buf, size_t len);
int chunk_file_pwritev(struct chunk_file *c, uint64_t index, const struct iovec *iov, int cnt);

/* Writes all of @iov at byte offset @off. */
int chunk_file_pwritev_at(struct chunk_file *c, uint64_t off, const struct iovec *iov, int cnt);

/* The backing length (fstat st_size). */
int chunk_file_size(struct chunk_file *c, uint64_t *size);

/* fstat of the backing file. */
int chunk_file_stat(struct chunk_file *c, struct stat *st);

/*
 * Sets the backing length to @size with ftruncate: a grow leaves a hole that reads as zeros
 * and takes no space; a shrink frees the tail. -EFBIG beyond the backing FS's limit.
 */
int chunk_file_truncate(struct chunk_file *c, uint64_t size);

/* Grows the file to hold @nchunks whole chunks (truncate to nchunks * chunk size) if shorter. */
int chunk_file_grow(struct chunk_file *c, uint64_t nchunks);

/*
 * 0 if a file of @size bytes is allowed by the backing filesystem, -EFBIG if not. Changes
 * nothing on disk (asks lseek(SEEK_SET), which checks the same s_maxbytes limit as truncate
 * and write).
 */
int chunk_file_check_size(struct chunk_file *c, uint64_t size);

/*
 * lseek(SEEK_DATA) (@hole 0) or lseek(SEEK_HOLE) (@hole 1) from byte @off: 0 and the offset
 * in *@out, -ENXIO at or past EOF (and for SEEK_DATA when only a hole follows), or -errno.
 */
int chunk_file_seek_data(struct chunk_file *c, uint64_t off, int hole, uint64_t *out);

/*
 * Reserves space for [off, off+len) with fallocate(FALLOC_FL_KEEP_SIZE), leaving the length
 * alone, so ENOSPC shows up now rather than when queued data is written. Returns 0 when the
 * backing FS does not support it (-EOPNOTSUPP is swallowed), -ENOSPC/-EDQUOT/... otherwise.
 */
int chunk_file_reserve(struct chunk_file *c, uint64_t off, uint64_t len);

/* fallocate with an explicit @mode (0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE, ...). */
int chunk_file_fallocate(struct chunk_file *c, int mode, uint64_t off, uint64_t len);

/* fdatasync (@datasync != 0) or fsync. */
int chunk_file_sync(struct chunk_file *c, int datasync);

/*
 * Starts writeback of [off, off+len) to the device without waiting for it
 * (sync_file_range SYNC_FILE_RANGE_WRITE), so that the sync that follows has less to do.
 * Durability still comes only from chunk_file_sync(); a failure here is not an error of the
 * data (the sync reports that) and is ignored.
 */
void chunk_file_writeback(struct chunk_file *c, uint64_t off, uint64_t len);

/* Sets the backing mtime (atime untouched). */
int chunk_file_set_mtime(struct chunk_file *c, const struct timespec *mtime);

#endif
