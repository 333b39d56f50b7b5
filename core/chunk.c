/*
 * chunk: one chunked backing file (see chunk.h and DURABILITY.md section 2.1).
 *
 * DESIGN
 *
 * A struct chunk_file is an fd, a chunk size, a name for messages and an I/O ops table; all
 * of it is immutable after open, so every function may run concurrently from any thread
 * (positional I/O only; lseek() in chunk_file_check_size() moves the shared file position,
 * which nothing here uses).
 *
 * Transfers never return short except a read at end of file: writes loop until every byte is
 * written, advancing a private copy of the caller's iovec array (the caller's array is const
 * and may be shared), split at IOV_MAX iovecs per call (the kernel refuses more with EINVAL),
 * and retry EINTR. A pwritev() that returns 0 for a nonzero length would loop forever; it is
 * reported as -EIO. Reads loop until the requested length or a 0 return (EOF).
 *
 * Offsets are uint64_t in the API and off_t (int64_t with _FILE_OFFSET_BITS=64) in the
 * kernel: anything above INT64_MAX, or an index whose byte offset (index * chunk size)
 * overflows, is -EFBIG before any syscall, the errno the kernel gives for a write or
 * truncate past the filesystem's maximum file size.
 *
 * Every failure is recorded with err_set(code, op, name): the op names the syscall.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>	/* renameat2 */
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk.h"
#include "err.h"

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

struct chunk_file {
	const struct chunk_io *io;	/* immutable after open */
	int fd;				/* immutable after open; -1 while half built */
	size_t chunk_size;		/* immutable after open */
	char *name;			/* immutable after open; for messages */
};

/* ---- the real system calls, returning -errno ---- */

static int sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	int r = openat(dirfd, path, flags, mode);

	return r < 0 ? -errno : r;
}

static int sys_close(int fd)
{
	int r = close(fd);

	return r < 0 ? -errno : 0;
}

static ssize_t sys_preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t r = preadv(fd, iov, cnt, off);

	return r < 0 ? -errno : r;
}

static ssize_t sys_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	ssize_t r = pwritev(fd, iov, cnt, off);

	return r < 0 ? -errno : r;
}

static int sys_fdatasync(int fd)
{
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int sys_fsync(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

static int sys_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len) < 0 ? -errno : 0;
}

static int sys_fallocate(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}

static int sys_flock(int fd, int op)
{
	return flock(fd, op) < 0 ? -errno : 0;
}

static int sys_fstat(int fd, struct stat *st)
{
	return fstat(fd, st) < 0 ? -errno : 0;
}

static int sys_futimens(int fd, const struct timespec ts[2])
{
	return futimens(fd, ts) < 0 ? -errno : 0;
}

static off_t sys_lseek(int fd, off_t off, int whence)
{
	off_t r = lseek(fd, off, whence);

	return r < 0 ? -errno : r;
}

static int sys_mkdirat(int dirfd, const char *path, mode_t mode)
{
	return mkdirat(dirfd, path, mode) < 0 ? -errno : 0;
}

static int sys_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	return mknodat(dirfd, path, mode, dev) < 0 ? -errno : 0;
}

static int sys_symlinkat(const char *target, int dirfd, const char *path)
{
	return symlinkat(target, dirfd, path) < 0 ? -errno : 0;
}

static int sys_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		      int flags)
{
	return linkat(olddirfd, oldpath, newdirfd, newpath, flags) < 0 ? -errno : 0;
}

static int sys_unlinkat(int dirfd, const char *path, int flags)
{
	return unlinkat(dirfd, path, flags) < 0 ? -errno : 0;
}

static int sys_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
			 unsigned flags)
{
	return renameat2(olddirfd, oldpath, newdirfd, newpath, flags) < 0 ? -errno : 0;
}

static int sys_writeback(int fd, off_t off, off_t len)
{
	return sync_file_range(fd, off, len, SYNC_FILE_RANGE_WRITE) < 0 ? -errno : 0;
}

static const struct chunk_io default_io = {
	.openat = sys_openat,
	.close = sys_close,
	.preadv = sys_preadv,
	.pwritev = sys_pwritev,
	.fdatasync = sys_fdatasync,
	.fsync = sys_fsync,
	.ftruncate = sys_ftruncate,
	.fallocate = sys_fallocate,
	.flock = sys_flock,
	.fstat = sys_fstat,
	.futimens = sys_futimens,
	.lseek = sys_lseek,
	.writeback = sys_writeback,
	.mkdirat = sys_mkdirat,
	.mknodat = sys_mknodat,
	.symlinkat = sys_symlinkat,
	.linkat = sys_linkat,
	.unlinkat = sys_unlinkat,
	.renameat2 = sys_renameat2,
};

const struct chunk_io *chunk_io_default(void)
{
	return &default_io;
}

int chunk_size_valid(size_t size)
{
	return size >= CHUNK_SIZE_MIN && size <= CHUNK_SIZE_MAX && (size & (size - 1)) == 0;
}

/* ---- lifecycle ---- */

static const char *cname(const struct chunk_file *c)
{
	return c->name ? c->name : "";
}

/* Takes the store/file lock; the detail says why EWOULDBLOCK happened, not just that it did. */
static int take_lock(struct chunk_file *c)
{
	int rc = c->io->flock(c->fd, LOCK_EX | LOCK_NB);

	if (rc == -EWOULDBLOCK)
		return err_set(rc, "flock (file is locked by another process)", cname(c));
	if (rc < 0)
		return err_set(rc, "flock", cname(c));
	return 0;
}

static int chunk_file_new(const struct chunk_io *io, const char *name, size_t chunk_size,
			  struct chunk_file **out)
{
	struct chunk_file *c;

	if (!chunk_size_valid(chunk_size))
		return err_set(-EINVAL, "chunk_file_open (invalid chunk size)", name);
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(-ENOMEM, "chunk_file_open", name);
	c->io = io ? io : &default_io;
	c->fd = -1;
	c->chunk_size = chunk_size;
	c->name = strdup(name ? name : "");
	if (!c->name) {
		free(c);
		return err_set(-ENOMEM, "chunk_file_open", name);
	}
	*out = c;
	return 0;
}

int chunk_file_open(const struct chunk_io *io, int dirfd, const char *path, unsigned flags,
		    mode_t mode, size_t chunk_size, struct chunk_file **out)
{
	struct chunk_file *c = NULL;	/* set whenever chunk_file_new() succeeds; gcc -O3 cannot tell */
	int oflags = O_CLOEXEC | O_NOFOLLOW;
	int rc;

	if (!path)
		return err_set(-EINVAL, "openat", NULL);
	rc = chunk_file_new(io, path, chunk_size, &c);
	if (rc < 0)
		return rc;
	oflags |= (flags & CHUNK_RDONLY) ? O_RDONLY : O_RDWR;
	if (flags & CHUNK_CREATE) {
		oflags |= O_CREAT;
		if (flags & CHUNK_EXCL)
			oflags |= O_EXCL;
	}
	rc = c->io->openat(dirfd, path, oflags, mode);
	if (rc < 0) {
		err_set(rc, "openat", path);
		goto fail;
	}
	c->fd = rc;
	if (flags & CHUNK_LOCK) {
		rc = take_lock(c);
		if (rc < 0)
			goto fail;
	}
	*out = c;
	return 0;
fail:
	chunk_file_close(c);		/* copes with fd == -1; keeps the recorded detail */
	return rc;
}

int chunk_file_adopt(const struct chunk_io *io, int fd, const char *name, size_t chunk_size,
		     unsigned flags, struct chunk_file **out)
{
	struct chunk_file *c = NULL;	/* as in chunk_file_open() */
	int rc;

	if (fd < 0)
		return err_set(-EBADF, "chunk_file_adopt", name);
	rc = chunk_file_new(io, name, chunk_size, &c);
	if (rc < 0)
		return rc;
	c->fd = fd;
	if (flags & CHUNK_LOCK) {
		rc = take_lock(c);
		if (rc < 0) {
			c->fd = -1;	/* ownership of @fd passes on success only */
			chunk_file_close(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

void chunk_file_close(struct chunk_file *c)
{
	if (!c)
		return;
	if (c->fd >= 0) {
		/*
		 * Never retry close(): on Linux the fd is gone even on EINTR, and a retry could
		 * close an fd another thread just got. Write errors surface through fdatasync,
		 * which callers run before closing, so the result is not needed.
		 */
		int saved = errno;

		(void)c->io->close(c->fd);
		errno = saved;
	}
	free(c->name);
	free(c);
}

int chunk_file_fd(const struct chunk_file *c)
{
	return c->fd;
}

size_t chunk_file_chunk_size(const struct chunk_file *c)
{
	return c->chunk_size;
}

const char *chunk_file_name(const struct chunk_file *c)
{
	return cname(c);
}

const struct chunk_io *chunk_file_io(const struct chunk_file *c)
{
	return c->io;
}

/* ---- offsets ---- */

/* Byte offset of chunk @index, or -EFBIG when it does not fit in an off_t. */
static int index_off(const struct chunk_file *c, uint64_t index, uint64_t *off)
{
	if (index > (uint64_t)INT64_MAX / c->chunk_size)
		return -EFBIG;
	*off = index * c->chunk_size;
	return 0;
}

/* -EFBIG unless [off, off + len) is representable as off_t. */
static int range_ok(uint64_t off, uint64_t len)
{
	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EFBIG;
	return 0;
}

/* ---- reads ---- */

/*
 * Transfers @iov[0..cnt) at @off, looping over short counts and EINTR, at most IOV_MAX
 * entries per call (a private copy of them is advanced past what has been transferred).
 * A read stops early only at EOF and returns the count; a write that transfers 0 bytes for
 * a nonzero length is -EIO, not EOF.
 */
static ssize_t transfer(struct chunk_file *c, uint64_t off, const struct iovec *iov, int cnt,
			bool write)
{
	const char *op = write ? "pwritev" : "preadv";
	struct iovec tmp[IOV_MAX];
	ssize_t total = 0;
	int i = 0;

	if (cnt < 0)
		return err_set(-EINVAL, op, cname(c));
	while (i < cnt) {
		int n = cnt - i < IOV_MAX ? cnt - i : IOV_MAX;
		struct iovec *v = tmp;
		size_t want = 0;

		memcpy(tmp, iov + i, (size_t)n * sizeof(*tmp));
		for (int k = 0; k < n; k++)
			want += tmp[k].iov_len;
		i += n;
		while (want > 0) {
			ssize_t r;

			if (range_ok(off, want) < 0)
				return err_set(-EFBIG, op, cname(c));
			r = write ? c->io->pwritev(c->fd, v, n, (off_t)off) :
				    c->io->preadv(c->fd, v, n, (off_t)off);
			if (r == -EINTR)
				continue;
			if (r < 0)
				return err_set((int)r, op, cname(c));
			if (r == 0 && write)
				return err_set(-EIO, "pwritev (wrote 0 bytes)", cname(c));
			if (r == 0)
				return total;		/* EOF */
			total += r;
			off += (uint64_t)r;
			want -= (size_t)r;
			/* Advance the private copy past @r bytes. */
			while (n > 0 && (size_t)r >= v->iov_len) {
				r -= (ssize_t)v->iov_len;
				v++;
				n--;
			}
			if (n > 0) {
				v->iov_base = (char *)v->iov_base + r;
				v->iov_len -= (size_t)r;
			}
		}
	}
	return total;
}

static ssize_t read_all(struct chunk_file *c, uint64_t off, const struct iovec *iov, int cnt)
{
	return transfer(c, off, iov, cnt, false);
}

ssize_t chunk_file_pread_at(struct chunk_file *c, uint64_t off, void *buf, size_t len)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };

	return read_all(c, off, &v, 1);
}

ssize_t chunk_file_pread(struct chunk_file *c, uint64_t index, void *buf, size_t len)
{
	uint64_t off;

	if (index_off(c, index, &off) < 0)
		return err_set(-EFBIG, "preadv", cname(c));
	return chunk_file_pread_at(c, off, buf, len);
}

ssize_t chunk_file_preadv(struct chunk_file *c, uint64_t index, const struct iovec *iov,
			  int cnt)
{
	uint64_t off;

	if (index_off(c, index, &off) < 0)
		return err_set(-EFBIG, "preadv", cname(c));
	return read_all(c, off, iov, cnt);
}

/* ---- writes ---- */

static int write_all(struct chunk_file *c, uint64_t off, const struct iovec *iov, int cnt)
{
	ssize_t r = transfer(c, off, iov, cnt, true);

	return r < 0 ? (int)r : 0;
}

int chunk_file_pwritev_at(struct chunk_file *c, uint64_t off, const struct iovec *iov, int cnt)
{
	return write_all(c, off, iov, cnt);
}

int chunk_file_pwrite(struct chunk_file *c, uint64_t index, const void *buf, size_t len)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };
	uint64_t off;

	if (index_off(c, index, &off) < 0)
		return err_set(-EFBIG, "pwritev", cname(c));
	return write_all(c, off, &v, 1);
}

int chunk_file_pwritev(struct chunk_file *c, uint64_t index, const struct iovec *iov, int cnt)
{
	uint64_t off;

	if (index_off(c, index, &off) < 0)
		return err_set(-EFBIG, "pwritev", cname(c));
	return write_all(c, off, iov, cnt);
}

/* ---- size and space ---- */

int chunk_file_stat(struct chunk_file *c, struct stat *st)
{
	int rc = c->io->fstat(c->fd, st);

	return rc < 0 ? err_set(rc, "fstat", cname(c)) : 0;
}

int chunk_file_size(struct chunk_file *c, uint64_t *size)
{
	struct stat st;
	int rc = chunk_file_stat(c, &st);

	if (rc < 0)
		return rc;
	*size = (uint64_t)st.st_size;
	return 0;
}

int chunk_file_truncate(struct chunk_file *c, uint64_t size)
{
	int rc;

	if (size > (uint64_t)INT64_MAX)
		return err_set(-EFBIG, "ftruncate", cname(c));
	/* EFBIG (beyond s_maxbytes) and ENOSPC pass through as they are. */
	rc = c->io->ftruncate(c->fd, (off_t)size);
	return rc < 0 ? err_set(rc, "ftruncate", cname(c)) : 0;
}

int chunk_file_grow(struct chunk_file *c, uint64_t nchunks)
{
	uint64_t want, cur;
	int rc;

	if (index_off(c, nchunks, &want) < 0)
		return err_set(-EFBIG, "ftruncate", cname(c));
	rc = chunk_file_size(c, &cur);
	if (rc < 0)
		return rc;
	return cur < want ? chunk_file_truncate(c, want) : 0;
}

int chunk_file_check_size(struct chunk_file *c, uint64_t size)
{
	off_t r;

	if (size > (uint64_t)INT64_MAX)
		return err_set(-EFBIG, "lseek (size check)", cname(c));
	/*
	 * generic_file_llseek_size() refuses SEEK_SET past the filesystem's s_maxbytes with
	 * EINVAL; truncate and write check the same limit (inode_newsize_ok(),
	 * generic_write_check_limits()) and answer EFBIG, so translate.
	 */
	r = c->io->lseek(c->fd, (off_t)size, SEEK_SET);
	if (r == -EINVAL)
		return err_set(-EFBIG, "lseek (size check)", cname(c));
	if (r < 0)
		return err_set((int)r, "lseek (size check)", cname(c));
	return 0;
}

int chunk_file_seek_data(struct chunk_file *c, uint64_t off, int hole, uint64_t *out)
{
	off_t r;

	if (off > (uint64_t)INT64_MAX)
		return -ENXIO;
	r = c->io->lseek(c->fd, (off_t)off, hole ? SEEK_HOLE : SEEK_DATA);
	if (r == -ENXIO)
		return -ENXIO;		/* past EOF, or no data after @off: not a failure */
	if (r < 0)
		return err_set((int)r, hole ? "lseek (SEEK_HOLE)" : "lseek (SEEK_DATA)", cname(c));
	*out = (uint64_t)r;
	return 0;
}

int chunk_file_fallocate(struct chunk_file *c, int mode, uint64_t off, uint64_t len)
{
	int rc;

	if (range_ok(off, len) < 0)
		return err_set(-EFBIG, "fallocate", cname(c));
	rc = c->io->fallocate(c->fd, mode, (off_t)off, (off_t)len);
	return rc < 0 ? err_set(rc, "fallocate", cname(c)) : 0;
}

int chunk_file_reserve(struct chunk_file *c, uint64_t off, uint64_t len)
{
	int rc;

	if (len == 0)
		return 0;		/* fallocate() refuses a zero length with EINVAL */
	if (range_ok(off, len) < 0)
		return err_set(-EFBIG, "fallocate (reserve)", cname(c));
	rc = c->io->fallocate(c->fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	/* A backing FS without fallocate (some FUSE and network filesystems): no reservation. */
	if (rc == -EOPNOTSUPP || rc == -ENOSYS)
		return 0;
	return rc < 0 ? err_set(rc, "fallocate (reserve)", cname(c)) : 0;
}

int chunk_file_sync(struct chunk_file *c, int datasync)
{
	int rc;

	/*
	 * No EINTR retry: fsync is not interrupted by signals on Linux, and a failed fsync must
	 * never be retried to "clear" the error (DURABILITY.md section 3).
	 */
	if (datasync) {
		rc = c->io->fdatasync(c->fd);
		return rc < 0 ? err_set(rc, "fdatasync", cname(c)) : 0;
	}
	rc = c->io->fsync(c->fd);
	return rc < 0 ? err_set(rc, "fsync", cname(c)) : 0;
}

void chunk_file_writeback(struct chunk_file *c, uint64_t off, uint64_t len)
{
	if (c->io->writeback && range_ok(off, len) == 0)
		(void)c->io->writeback(c->fd, (off_t)off, (off_t)len);
}

int chunk_file_set_mtime(struct chunk_file *c, const struct timespec *mtime)
{
	struct timespec ts[2] = {
		{ .tv_sec = 0, .tv_nsec = UTIME_OMIT },
		*mtime,
	};
	int rc = c->io->futimens(c->fd, ts);

	return rc < 0 ? err_set(rc, "futimens", cname(c)) : 0;
}
