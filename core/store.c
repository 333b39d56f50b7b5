/*
 * store: the superblock that marks a directory as a frozenfs store (see store.h).
 *
 * On-disk layout of STORE_SB_NAME, 64 bytes, every integer little-endian, encoded and decoded
 * byte by byte (never by copying a struct, whose padding and byte order are the compiler's):
 *
 *	offset size field
 *	0      8    magic "FROZENFS" (ASCII, no NUL)
 *	8      4    format version, STORE_VERSION (1)
 *	12     4    chunk size in bytes: a power of two, CHUNK_SIZE_MIN .. CHUNK_SIZE_MAX
 *	16     16   UUID, random, RFC 4122 version 4 / variant 1
 *	32     8    creation time, seconds since the epoch
 *	40     20   reserved, written as zero, ignored when read (covered by the CRC)
 *	60     4    CRC32C (Castagnoli, reflected, init ~0, final ~0) of bytes 0..59
 *
 * DESIGN
 *
 * Creation is atomic with respect to crashes and other frozenfs processes: the superblock is
 * written to STORE_SB_TMP under its flock (so two concurrent creators cannot share it),
 * fsynced, then renamed into place with RENAME_NOREPLACE (never replacing a superblock
 * another process created meanwhile) while the lock is still held, and the directory is
 * fsynced so the name is durable. A crash leaves either no superblock (and maybe an
 * unlocked STORE_SB_TMP, which the next creation takes over and rewrites) or a complete,
 * synced one; never a torn one.
 *
 * An existing store is only ever read: the superblock is opened O_RDONLY and locked with
 * flock(LOCK_EX|LOCK_NB), which needs no write access, so a refused open (bad CRC, foreign
 * directory, locked) leaves the directory exactly as it was.
 *
 * A store is created only in an empty directory (a fresh mkfs'd filesystem's "lost+found" is
 * allowed): pointing frozenfs at the wrong, non-empty directory must fail, not adopt it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "store.h"

#define STORE_MAGIC	"FROZENFS"
#define SB_CRC_OFF	60
#define SB_OPEN_FLAGS	(O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)

struct store {
	const struct chunk_io *io;	/* immutable */
	int dirfd;			/* O_DIRECTORY fd of BACKING_DIR */
	int sbfd;			/* superblock, O_RDONLY, holds the flock */
	struct store_sb sb;		/* as read from disk */
};

/* ---- CRC32C ---- */

/* Reflected Castagnoli polynomial 0x1EDC6F41. Built once; a 1 KiB table is cheap. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t store_crc32c(const void *buf, size_t len)
{
	const uint8_t *b = buf;
	uint32_t crc = ~0u;

	pthread_once(&crc_once, crc_init);
	for (size_t i = 0; i < len; i++)
		crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- encode / decode ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void store_sb_encode(const struct store_sb *sb, uint8_t *buf)
{
	memset(buf, 0, STORE_SB_SIZE);
	memcpy(buf, STORE_MAGIC, 8);
	put_le32(buf + 8, sb->version);
	put_le32(buf + 12, sb->chunk_size);
	memcpy(buf + 16, sb->uuid, 16);
	put_le64(buf + 32, sb->ctime);
	put_le32(buf + SB_CRC_OFF, store_crc32c(buf, SB_CRC_OFF));
}

int store_sb_decode(const uint8_t *buf, size_t len, struct store_sb *sb, const char **why)
{
	/* Per thread, so concurrent decodes cannot garble each other's reason. */
	static _Thread_local char version_why[48];
	const char *dummy;
	uint32_t version, chunk_size;

	if (!why)
		why = &dummy;
	if (len < STORE_SB_SIZE) {
		*why = "short superblock";
		return -EINVAL;
	}
	if (memcmp(buf, STORE_MAGIC, 8) != 0) {
		*why = "bad magic";
		return -EINVAL;
	}
	if (get_le32(buf + SB_CRC_OFF) != store_crc32c(buf, SB_CRC_OFF)) {
		*why = "bad checksum";
		return -EINVAL;
	}
	/* After the CRC: a valid CRC with another version is a newer frozenfs, not corruption. */
	version = get_le32(buf + 8);
	if (version != STORE_VERSION) {
		snprintf(version_why, sizeof(version_why), "unsupported format version %u",
			 (unsigned)version);
		*why = version_why;
		return -EINVAL;
	}
	chunk_size = get_le32(buf + 12);
	if (!chunk_size_valid(chunk_size)) {
		*why = "bad chunk size";
		return -EINVAL;
	}
	sb->version = version;
	sb->chunk_size = chunk_size;
	memcpy(sb->uuid, buf + 16, 16);
	sb->ctime = get_le64(buf + 32);
	return 0;
}

/* ---- helpers ---- */

/* strerror() is not thread-safe; strerrordesc_np() (glibc >= 2.32) is, and never allocates. */
static const char *errstr(int code)
{
	const char *s = strerrordesc_np(-code);

	return s ? s : "Unknown error";
}

/* Formats a one-line reason into @why (if given) and returns @code. */
static int fail(int code, char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(int code, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int get_uuid(uint8_t uuid[16])
{
	size_t got = 0;

	while (got < 16) {
		ssize_t r = getrandom(uuid + got, 16 - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(-errno, "getrandom", NULL);
		got += (size_t)r;
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);	/* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);	/* variant 1 */
	return 0;
}

static int write_full(const struct chunk_io *io, int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct iovec v = { .iov_base = (void *)(buf + done), .iov_len = len - done };
		ssize_t r = io->pwritev(fd, &v, 1, (off_t)done);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return err_set((int)r, "pwritev", STORE_SB_TMP);
		if (r == 0)
			return err_set(-EIO, "pwritev (wrote 0 bytes)", STORE_SB_TMP);
		done += (size_t)r;
	}
	return 0;
}

static ssize_t read_full(const struct chunk_io *io, int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct iovec v = { .iov_base = buf + done, .iov_len = len - done };
		ssize_t r = io->preadv(fd, &v, 1, (off_t)done);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return err_set((int)r, "preadv", STORE_SB_NAME);
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

/*
 * 1 if @dirfd holds nothing but ".", "..", "lost+found" and a leftover STORE_SB_TMP (which
 * create_sb() then takes over or refuses), 0 if it holds anything else, -errno on error.
 * Reads a fresh open file description so @dirfd's position is left alone.
 */
static int dir_is_empty(const struct chunk_io *io, int dirfd)
{
	struct dirent *de;
	int fd, rc = 1;
	DIR *d;

	fd = io->openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return err_set(fd, "openat", ".");
	d = fdopendir(fd);
	if (!d) {
		rc = err_set(-errno, "fdopendir", ".");
		io->close(fd);
		return rc;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "lost+found") ||
		    !strcmp(n, STORE_SB_TMP))
			continue;
		rc = 0;
		break;
	}
	if (rc == 1 && errno != 0)
		rc = err_set(-errno, "readdir", ".");
	closedir(d);			/* closes @fd */
	return rc;
}

/* Moves STORE_SB_TMP to STORE_SB_NAME without ever replacing an existing superblock. */
static int publish(int dirfd)
{
	if (renameat2(dirfd, STORE_SB_TMP, dirfd, STORE_SB_NAME, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return err_set(-errno, "renameat2", STORE_SB_NAME);
	/* A backing FS without RENAME_NOREPLACE: link() also refuses an existing target. */
	if (linkat(dirfd, STORE_SB_TMP, dirfd, STORE_SB_NAME, 0) < 0)
		return err_set(-errno, "linkat", STORE_SB_NAME);
	if (unlinkat(dirfd, STORE_SB_TMP, 0) < 0)
		return err_set(-errno, "unlinkat", STORE_SB_TMP);
	return 0;
}

/*
 * Opens STORE_SB_TMP for writing, created if missing, and locks it: the descriptor, or
 * -EWOULDBLOCK while another creator holds it, -ESTALE if that creator has published it as
 * the superblock meanwhile (the name no longer leads to the file locked), or -errno. One left
 * by an interrupted creation is unlocked and is taken over.
 */
static int take_tmp(const struct chunk_io *io, int dirfd)
{
	struct stat a, b;
	int fd, rc;

	fd = io->openat(dirfd, STORE_SB_TMP,
			O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0)
		return err_set(fd, "openat", STORE_SB_TMP);
	rc = io->flock(fd, LOCK_EX | LOCK_NB);
	if (rc < 0) {
		err_set(rc, "flock", STORE_SB_TMP);
	} else if ((rc = io->fstat(fd, &a)) < 0) {
		err_set(rc, "fstat", STORE_SB_TMP);
	} else if (!S_ISREG(a.st_mode)) {
		rc = err_set(-EINVAL, "fstat (not a regular file)", STORE_SB_TMP);
	} else if (fstatat(dirfd, STORE_SB_TMP, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
		   a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		rc = err_set(-ESTALE, "fstatat", STORE_SB_TMP);
	}
	if (rc < 0) {
		io->close(fd);
		return rc;
	}
	return fd;
}

/* A creation that lost the race to another process's (which published its superblock). */
#define SB_MEANWHILE "cannot create store: another process created a superblock in %s meanwhile"

/*
 * Creates the superblock in @dirfd, which the caller found without one. @chunk_size is
 * valid. On failure nothing is left behind except, after a failed directory fsync, the
 * complete superblock itself.
 */
static int create_sb(const struct chunk_io *io, int dirfd, const char *dirpath,
		     uint32_t chunk_size, char *why, size_t whylen)
{
	struct store_sb sb = { .version = STORE_VERSION, .chunk_size = chunk_size };
	uint8_t buf[STORE_SB_SIZE];
	struct timespec now;
	int fd, rc;

	rc = dir_is_empty(io, dirfd);
	if (rc < 0)
		return fail(rc, why, whylen, "cannot list backing directory %s: %s", dirpath,
			    errstr(rc));
	if (rc == 0)
		return fail(err_set(-EINVAL, "store_open", dirpath), why, whylen,
			    "not a frozenfs store: directory is not empty and has no "
			    STORE_SB_NAME " superblock");
	rc = get_uuid(sb.uuid);
	if (rc < 0)
		return fail(rc, why, whylen, "cannot generate a store UUID: %s", errstr(rc));
	clock_gettime(CLOCK_REALTIME, &now);
	sb.ctime = (uint64_t)now.tv_sec;
	store_sb_encode(&sb, buf);

	fd = take_tmp(io, dirfd);
	if (fd == -EWOULDBLOCK)
		return fail(err_set(-EEXIST, "flock", STORE_SB_TMP), why, whylen,
			    "cannot create store: another frozenfs is creating it at this moment");
	if (fd == -ESTALE)
		return fail(err_set(-EEXIST, "create_sb", STORE_SB_TMP), why, whylen,
			    SB_MEANWHILE, dirpath);
	if (fd < 0)
		return fail(fd, why, whylen, "cannot create superblock in %s: %s", dirpath,
			    errstr(fd));
	rc = io->ftruncate(fd, 0);	/* an interrupted attempt's bytes */
	if (rc < 0)
		err_set(rc, "ftruncate", STORE_SB_TMP);
	if (rc == 0)
		rc = write_full(io, fd, buf, sizeof(buf));
	if (rc == 0) {
		rc = io->fsync(fd);
		if (rc < 0)
			err_set(rc, "fsync", STORE_SB_TMP);
	}
	/* Published under the lock, so no one takes the file over between fsync and rename. */
	if (rc == 0)
		rc = publish(dirfd);
	if (rc < 0)
		unlinkat(dirfd, STORE_SB_TMP, 0);
	io->close(fd);	/* drops the lock; fsync has reported any deferred write error */
	if (rc == -EEXIST)
		return fail(rc, why, whylen, SB_MEANWHILE, dirpath);
	if (rc < 0)
		return fail(rc, why, whylen, "cannot write superblock in %s: %s", dirpath,
			    errstr(rc));
	/* The rename is only durable once the directory is (fsync(2)). */
	rc = io->fsync(dirfd);
	if (rc < 0)
		return fail(err_set(rc, "fsync", dirpath), why, whylen,
			    "cannot sync backing directory %s after creating the superblock: %s",
			    dirpath, errstr(rc));
	return 0;
}

static int open_dir(const struct chunk_io *io, const char *dirpath, char *why, size_t whylen)
{
	int fd = io->openat(AT_FDCWD, dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

	if (fd >= 0)
		return fd;
	err_set(fd, "openat", dirpath);
	if (fd == -ENOENT)
		return fail(fd, why, whylen, "backing directory does not exist: %s", dirpath);
	if (fd == -ENOTDIR)
		return fail(fd, why, whylen, "backing path is not a directory: %s", dirpath);
	return fail(fd, why, whylen, "cannot open backing directory %s: %s", dirpath,
		    errstr(fd));
}

static int check_chunk_size(uint32_t *chunk_size, char *why, size_t whylen)
{
	if (*chunk_size == 0)
		*chunk_size = CHUNK_SIZE_DEFAULT;
	if (!chunk_size_valid(*chunk_size))
		return fail(err_set(-EINVAL, "store_open (chunk size)", NULL), why, whylen,
			    "invalid chunk size %u: must be a power of two from %u to %u",
			    (unsigned)*chunk_size, CHUNK_SIZE_MIN, CHUNK_SIZE_MAX);
	return 0;
}

/* ---- open / close ---- */

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->sbfd >= 0)
		s->io->close(s->sbfd);	/* drops the flock */
	if (s->dirfd >= 0)
		s->io->close(s->dirfd);
	free(s);
}

int store_open(const struct chunk_io *io, const char *dirpath, uint32_t chunk_size,
	       struct store **out, char *why, size_t whylen, int *created)
{
	uint8_t buf[STORE_SB_SIZE + 1];
	const char *reason;
	struct store *s;
	struct stat st;
	bool made = false;
	ssize_t n;
	int rc;

	if (!io)
		io = chunk_io_default();
	if (why && whylen)
		why[0] = '\0';
	rc = check_chunk_size(&chunk_size, why, whylen);
	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return fail(err_set(-ENOMEM, "store_open", dirpath), why, whylen,
			    "out of memory");
	s->io = io;
	s->sbfd = -1;
	s->dirfd = open_dir(io, dirpath, why, whylen);
	if (s->dirfd < 0) {
		rc = s->dirfd;
		goto fail;
	}

	/*
	 * O_NONBLOCK: a FIFO named .frozenfs would otherwise block open() until a writer
	 * appears (it is refused below as "not a regular file"); on a regular file it is a no-op.
	 */
	rc = io->openat(s->dirfd, STORE_SB_NAME, SB_OPEN_FLAGS, 0);
	if (rc == -ENOENT) {
		rc = create_sb(io, s->dirfd, dirpath, chunk_size, why, whylen);
		if (rc < 0)
			goto fail;
		made = true;
		rc = io->openat(s->dirfd, STORE_SB_NAME, SB_OPEN_FLAGS, 0);
	}
	if (rc < 0) {
		fail(err_set(rc, "openat", STORE_SB_NAME), why, whylen,
		     "cannot open superblock %s/" STORE_SB_NAME ": %s", dirpath, errstr(rc));
		goto fail;
	}
	s->sbfd = rc;

	rc = io->fstat(s->sbfd, &st);
	if (rc < 0) {
		fail(err_set(rc, "fstat", STORE_SB_NAME), why, whylen,
		     "cannot stat superblock: %s", errstr(rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(err_set(-EINVAL, "store_open", STORE_SB_NAME), why, whylen,
			  "corrupt superblock: not a regular file");
		goto fail;
	}
	n = read_full(io, s->sbfd, buf, sizeof(buf));
	if (n < 0) {
		rc = fail((int)n, why, whylen, "cannot read superblock: %s", errstr((int)n));
		goto fail;
	}
	rc = store_sb_decode(buf, (size_t)n, &s->sb, &reason);
	if (rc == 0 && n > STORE_SB_SIZE) {
		rc = -EINVAL;
		reason = "superblock longer than 64 bytes";
	}
	if (rc < 0) {
		err_set(rc, "store_open (superblock)", STORE_SB_NAME);
		if (!strncmp(reason, "unsupported format version ", 27))
			fail(rc, why, whylen, "unsupported store format version %s",
			     reason + 27);
		else
			fail(rc, why, whylen, "corrupt superblock: %s", reason);
		goto fail;
	}

	rc = io->flock(s->sbfd, LOCK_EX | LOCK_NB);
	if (rc == -EWOULDBLOCK) {
		fail(err_set(rc, "flock (store in use)", STORE_SB_NAME), why, whylen,
		     "already mounted: the store is in use by another frozenfs process");
		goto fail;
	}
	if (rc < 0) {
		fail(err_set(rc, "flock", STORE_SB_NAME), why, whylen,
		     "cannot lock superblock: %s", errstr(rc));
		goto fail;
	}
	*out = s;
	if (created)
		*created = made;
	return 0;
fail:
	store_close(s);
	return rc;
}

int store_mkfs(const struct chunk_io *io, const char *dirpath, uint32_t chunk_size,
	       char *why, size_t whylen)
{
	int dirfd, fd, rc;

	if (!io)
		io = chunk_io_default();
	if (why && whylen)
		why[0] = '\0';
	rc = check_chunk_size(&chunk_size, why, whylen);
	if (rc < 0)
		return rc;
	dirfd = open_dir(io, dirpath, why, whylen);
	if (dirfd < 0)
		return dirfd;
	/* An existing superblock, even a corrupt one, is never replaced. */
	fd = io->openat(dirfd, STORE_SB_NAME, SB_OPEN_FLAGS, 0);
	if (fd >= 0) {
		io->close(fd);
		rc = fail(err_set(-EEXIST, "store_mkfs", STORE_SB_NAME), why, whylen,
			  "%s already holds a frozenfs store", dirpath);
	} else if (fd != -ENOENT) {
		rc = fail(err_set(fd, "openat", STORE_SB_NAME), why, whylen,
			  "cannot check for a superblock in %s: %s", dirpath, errstr(fd));
	} else {
		rc = create_sb(io, dirfd, dirpath, chunk_size, why, whylen);
	}
	io->close(dirfd);
	return rc;
}

int store_mark_draining(struct store *s)
{
	/* Blocking: a store_busy_draining() holds its shared lock only for a moment. */
	int rc = s->io->flock(s->dirfd, LOCK_EX);

	return rc < 0 ? err_set(rc, "flock (draining)", NULL) : 0;
}

int store_busy_draining(const struct chunk_io *io, const char *dirpath)
{
	int fd, rc;

	if (!io)
		io = chunk_io_default();
	fd = io->openat(AT_FDCWD, dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return err_set(fd, "openat", dirpath);
	rc = io->flock(fd, LOCK_SH | LOCK_NB);
	io->close(fd);		/* and with it the shared lock, if it was granted */
	if (rc == -EWOULDBLOCK)
		return 1;
	return rc < 0 ? err_set(rc, "flock (draining?)", dirpath) : 0;
}

int store_dirfd(const struct store *s)
{
	return s->dirfd;
}

const struct store_sb *store_superblock(const struct store *s)
{
	return &s->sb;
}
