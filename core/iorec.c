/*
 * iorec: the recording chunk_io (see iorec.h for the DESIGN and the line format).
 *
 * Every wrapper forwards to the inner table and returns its result unchanged; recording never
 * changes what the daemon sees. A record that cannot be written (log full, ...) is reported
 * once on stderr and recording goes on: the T1 replay then fails on the gap it finds (sequence
 * numbers are dense), not the daemon.
 */
#include "iorec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

struct iorec {
	const struct chunk_io *inner;	/* immutable after start */
	int fd;				/* the log; immutable after start */
	char root[PATH_MAX];		/* immutable after start; realpath of the backing dir */
	size_t rootlen;
	pthread_mutex_t lock;		/* orders calls and records, see iorec.h DESIGN */
	unsigned long long seq;		/* protected by lock: last sequence number used */
	int write_failed;		/* protected by lock: reported once */
	struct chunk_io table;		/* immutable after start */
};

static struct iorec *rec;	/* set once by iorec_start(), before any other thread runs */

/* ---- record building ---- */

struct line {
	char *buf;
	size_t len, cap;
};

static void line_reserve(struct line *l, size_t more)
{
	char *b;

	if (l->len + more + 1 <= l->cap)
		return;
	l->cap = (l->len + more + 1) * 2;
	b = realloc(l->buf, l->cap);
	if (!b)
		abort();	/* a test-only recorder: no way to report it to the caller */
	l->buf = b;
}

__attribute__((format(printf, 2, 3)))
static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	line_reserve(l, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(l->buf + l->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	l->len += (size_t)n;
}

/* " key=value" with the value escaped. */
static void put_str(struct line *l, const char *key, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s);

	put(l, " %s=", key);
	line_reserve(l, 3 * n + 1);
	if (n == 0)
		l->buf[l->len++] = '-';	/* keeps the field non-empty; a real "-" is escaped */
	if (n == 1 && s[0] == '-') {
		memcpy(l->buf + l->len, "%2d", 3);
		l->len += 3;
		s++;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c > '~' || c == '%' || c == '=') {
			l->buf[l->len++] = '%';
			l->buf[l->len++] = hex[c >> 4];
			l->buf[l->len++] = hex[c & 15];
		} else {
			l->buf[l->len++] = (char)c;
		}
	}
	l->buf[l->len] = '\0';
}

static void put_data(struct line *l, const struct iovec *iov, int cnt, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t done = 0;
	int k;

	put(l, " data=");
	line_reserve(l, 2 * len + 1);
	for (k = 0; k < cnt && done < len; k++) {
		const unsigned char *p = iov[k].iov_base;
		size_t n = iov[k].iov_len, j;

		if (n > len - done)
			n = len - done;
		for (j = 0; j < n; j++) {
			l->buf[l->len++] = hex[p[j] >> 4];
			l->buf[l->len++] = hex[p[j] & 15];
		}
		done += n;
	}
	l->buf[l->len] = '\0';
}

/* Path of @fd relative to the backing root ("." for the root itself). */
static void fd_path(int fd, char *out, size_t size)
{
	char link[64], buf[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, sizeof(buf) - 1);
	if (n < 0) {
		snprintf(out, size, "?");
		return;
	}
	buf[n] = '\0';
	if (strncmp(buf, rec->root, rec->rootlen) == 0 &&
	    (buf[rec->rootlen] == '/' || buf[rec->rootlen] == '\0'))
		snprintf(out, size, "%s", buf[rec->rootlen] ? buf + rec->rootlen + 1 : ".");
	else
		snprintf(out, size, "%s", buf);
}

static unsigned long long fd_ino(int fd)
{
	struct stat st;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	return (unsigned long long)st.st_ino;
}

/* Inode of @name in @dirfd without following a final symlink; 0 if there is none. */
static unsigned long long name_ino(int dirfd, const char *name, int flags)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, flags) < 0)
		return 0;
	return (unsigned long long)st.st_ino;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* Lock held. Starts a record: "seq=N ns=N op=OP res=R". */
static void begin_line(struct line *l, const char *op, long long res)
{
	memset(l, 0, sizeof(*l));
	put(l, "seq=%llu ns=%llu op=%s res=%lld", ++rec->seq, now_ns(), op, res);
}

/* Lock held. Writes the line and frees it. */
static void emit(struct line *l)
{
	size_t done = 0;

	put(l, "\n");
	while (done < l->len) {
		ssize_t n = write(rec->fd, l->buf + done, l->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!rec->write_failed)
				fprintf(stderr, "frozenfs: iorec: cannot write the log: %s\n",
					n < 0 ? strerror(errno) : "short write");
			rec->write_failed = 1;
			break;
		}
		done += (size_t)n;
	}
	free(l->buf);
}

/* Lock held. " ino=N path=P" for a file or directory fd. */
static void put_fd(struct line *l, const char *key_ino, const char *key_path, int fd)
{
	char path[PATH_MAX];

	fd_path(fd, path, sizeof(path));
	put(l, " %s=%llu", key_ino, fd_ino(fd));
	put_str(l, key_path, path);
}

/* ---- data operations ---- */

static ssize_t rec_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	struct line l;
	size_t len = 0;
	ssize_t r;
	int k;

	for (k = 0; k < cnt; k++)
		len += iov[k].iov_len;
	pthread_mutex_lock(&rec->lock);
	r = rec->inner->pwritev(fd, iov, cnt, off);
	begin_line(&l, "pwrite", (long long)r);
	put_fd(&l, "ino", "path", fd);
	/* A short write wrote a prefix: the payload logged is exactly what reached the file. */
	len = r > 0 ? (size_t)r : 0;
	put(&l, " off=%lld len=%zu", (long long)off, len);
	put_data(&l, iov, cnt, len);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_ftruncate(int fd, off_t len)
{
	struct line l;
	int r;

	pthread_mutex_lock(&rec->lock);
	r = rec->inner->ftruncate(fd, len);
	begin_line(&l, "ftruncate", r);
	put_fd(&l, "ino", "path", fd);
	put(&l, " len=%lld", (long long)len);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_fallocate(int fd, int mode, off_t off, off_t len)
{
	struct line l;
	int r;

	pthread_mutex_lock(&rec->lock);
	r = rec->inner->fallocate(fd, mode, off, len);
	begin_line(&l, "fallocate", r);
	put_fd(&l, "ino", "path", fd);
	put(&l, " mode=%d off=%lld len=%lld", mode, (long long)off, (long long)len);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_futimens(int fd, const struct timespec ts[2])
{
	struct line l;
	int r;

	pthread_mutex_lock(&rec->lock);
	r = rec->inner->futimens(fd, ts);
	begin_line(&l, "futimens", r);
	put_fd(&l, "ino", "path", fd);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

/* Both syncs: "begin" before the call, "end" after it; the call runs unlocked. */
static int rec_sync(int fd, int datasync)
{
	const char *kind = datasync ? "fdatasync" : "fsync";
	unsigned long long begin;
	struct line l;
	struct stat st;
	int r, dir;

	dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
	pthread_mutex_lock(&rec->lock);
	begin_line(&l, "sync", 0);
	begin = rec->seq;
	put_fd(&l, "ino", "path", fd);
	put(&l, " kind=%s dir=%d phase=begin", kind, dir);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);

	r = datasync ? rec->inner->fdatasync(fd) : rec->inner->fsync(fd);

	pthread_mutex_lock(&rec->lock);
	begin_line(&l, "sync", r);
	put_fd(&l, "ino", "path", fd);
	put(&l, " kind=%s dir=%d phase=end begin=%llu", kind, dir, begin);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_fdatasync(int fd)
{
	return rec_sync(fd, 1);
}

static int rec_fsync(int fd)
{
	return rec_sync(fd, 0);
}

/* ---- the backing tree ---- */

/* Lock held. " dino=N dpath=P name=NAME" for an entry of directory @dirfd. */
static void put_entry(struct line *l, const char *kino, const char *kpath, const char *kname,
		      int dirfd, const char *name)
{
	put_fd(l, kino, kpath, dirfd);
	put_str(l, kname, name);
}

static int rec_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	struct line l;
	int r, existed;

	if (!(flags & O_CREAT))
		return rec->inner->openat(dirfd, path, flags, mode);
	pthread_mutex_lock(&rec->lock);
	existed = name_ino(dirfd, path, AT_SYMLINK_NOFOLLOW) != 0;
	r = rec->inner->openat(dirfd, path, flags, mode);
	if (r >= 0 && !existed) {
		begin_line(&l, "create", 0);
		put_entry(&l, "dino", "dpath", "name", dirfd, path);
		put(&l, " ino=%llu", fd_ino(r));
		emit(&l);
	} else if (r < 0) {
		begin_line(&l, "create", r);
		put_entry(&l, "dino", "dpath", "name", dirfd, path);
		put(&l, " ino=0");
		emit(&l);
	}
	pthread_mutex_unlock(&rec->lock);
	return r;
}

/* mkdirat, mknodat and symlinkat: a new node @name in @dirfd. */
static void log_new(const char *op, int r, int dirfd, const char *name)
{
	struct line l;

	begin_line(&l, op, r);
	put_entry(&l, "dino", "dpath", "name", dirfd, name);
	put(&l, " ino=%llu", r == 0 ? name_ino(dirfd, name, AT_SYMLINK_NOFOLLOW) : 0);
	emit(&l);
}

static int rec_mkdirat(int dirfd, const char *path, mode_t mode)
{
	int r;

	pthread_mutex_lock(&rec->lock);
	r = rec->inner->mkdirat(dirfd, path, mode);
	log_new("mkdir", r, dirfd, path);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	int r;

	pthread_mutex_lock(&rec->lock);
	r = rec->inner->mknodat(dirfd, path, mode, dev);
	log_new("mknod", r, dirfd, path);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_symlinkat(const char *target, int dirfd, const char *path)
{
	int r;

	pthread_mutex_lock(&rec->lock);
	r = rec->inner->symlinkat(target, dirfd, path);
	log_new("symlink", r, dirfd, path);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		      int flags)
{
	unsigned long long ino;
	struct line l;
	int r;

	pthread_mutex_lock(&rec->lock);
	if (flags & AT_EMPTY_PATH && oldpath[0] == '\0')
		ino = fd_ino(olddirfd);
	else
		ino = name_ino(olddirfd, oldpath,
			       flags & AT_SYMLINK_FOLLOW ? 0 : AT_SYMLINK_NOFOLLOW);
	r = rec->inner->linkat(olddirfd, oldpath, newdirfd, newpath, flags);
	begin_line(&l, "link", r);
	put(&l, " ino=%llu", ino);
	put_entry(&l, "dino", "dpath", "name", newdirfd, newpath);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_unlinkat(int dirfd, const char *path, int flags)
{
	unsigned long long ino;
	struct line l;
	int r;

	pthread_mutex_lock(&rec->lock);
	ino = name_ino(dirfd, path, AT_SYMLINK_NOFOLLOW);
	r = rec->inner->unlinkat(dirfd, path, flags);
	begin_line(&l, "unlink", r);
	put_entry(&l, "dino", "dpath", "name", dirfd, path);
	put(&l, " ino=%llu flags=%d", ino, flags);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

static int rec_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
			 unsigned flags)
{
	unsigned long long ino, nino;
	struct line l;
	int r;

	pthread_mutex_lock(&rec->lock);
	ino = name_ino(olddirfd, oldpath, AT_SYMLINK_NOFOLLOW);
	nino = name_ino(newdirfd, newpath, AT_SYMLINK_NOFOLLOW);
	r = rec->inner->renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
	begin_line(&l, "rename", r);
	put_entry(&l, "dino", "dpath", "name", olddirfd, oldpath);
	put_entry(&l, "ndino", "ndpath", "nname", newdirfd, newpath);
	put(&l, " ino=%llu nino=%llu flags=%u", ino, nino, flags);
	emit(&l);
	pthread_mutex_unlock(&rec->lock);
	return r;
}

int iorec_start(const char *logpath, const char *root, const struct chunk_io *inner,
		const struct chunk_io **out)
{
	struct iorec *r;
	char *abs;

	if (rec)
		return -EBUSY;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	abs = realpath(root, NULL);
	if (!abs || strlen(abs) >= sizeof(r->root)) {
		int e = abs ? -ENAMETOOLONG : -errno;

		free(abs);
		free(r);
		return e;
	}
	snprintf(r->root, sizeof(r->root), "%s", abs);
	r->rootlen = strlen(abs);
	free(abs);
	r->fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (r->fd < 0) {
		int e = -errno;

		free(r);
		return e;
	}
	pthread_mutex_init(&r->lock, NULL);
	r->inner = inner;
	r->table = *inner;	/* pass-through for what is not recorded */
	r->table.openat = rec_openat;
	r->table.pwritev = rec_pwritev;
	r->table.fdatasync = rec_fdatasync;
	r->table.fsync = rec_fsync;
	r->table.ftruncate = rec_ftruncate;
	r->table.fallocate = rec_fallocate;
	r->table.futimens = rec_futimens;
	r->table.mkdirat = rec_mkdirat;
	r->table.mknodat = rec_mknodat;
	r->table.symlinkat = rec_symlinkat;
	r->table.linkat = rec_linkat;
	r->table.unlinkat = rec_unlinkat;
	r->table.renameat2 = rec_renameat2;
	rec = r;
	*out = &r->table;
	return 0;
}
