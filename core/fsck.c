/*
 * fsck: checks and repairs an unmounted frozenfs store (see fsck.h for what and why).
 *
 * DESIGN
 *
 * One pass over the tree, read-only, holding the superblock's flock (the same lock a mount
 * takes) from before the first read to the end, so the store cannot be mounted while it is
 * checked or repaired. A progress bar needs the total first: only then is the tree walked
 * once more beforehand, stat()ing and reading nothing else.
 *
 * Every repair is a rename or a new file made durable before it is published: a new
 * superblock goes to FSCK_SB_TMP, is fsynced and locked, then renamed over the damaged one,
 * and the directory is fsynced. A crash at any point leaves either the old state or the new
 * one plus, at worst, a complete FSCK_SB_TMP that the next fsck installs. Nothing is
 * deleted: what is in the way moves to FSCK_LOST_FOUND (the old superblock is hard-linked
 * there before it is replaced).
 *
 * The tree is walked with openat()/fstatat(AT_SYMLINK_NOFOLLOW) relative to directory fds
 * and never follows a symlink; files are opened O_NONBLOCK so a FIFO cannot block the walk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "fsck.h"
#include "store.h"

#define READ_BUF	(1u << 20)
#define FUSE_SUPER_MAGIC 0x65735546	/* statfs(2) */
#define BAR_WIDTH	40
#define BAR_DELAY_NS	500000000LL	/* no bar for checks shorter than this */
#define BAR_PERIOD_NS	100000000LL

enum sb_state { SB_OK, SB_MISSING, SB_CORRUPT, SB_NOTREG, SB_NEWER };
enum kind { K_LEFT, K_FIXED, K_NOTE, K_INFO };

struct fsck {
	const struct chunk_io *io;
	const struct fsck_opts *o;
	const char *root;	/* as given, for messages */
	int dirfd;		/* the store's root */
	int sbfd;		/* holds the store lock, or -1 */
	int lfd;		/* FSCK_LOST_FOUND, opened on first use, or -1 */
	int status;		/* FSCK_* bits */
	unsigned nfixed, nleft;
	bool need_repair;	/* something left that --repair would fix */
	uint64_t files, dirs, symlinks, specials, bytes;

	/* The superblock as found, and what can be salvaged from it or a temp copy. */
	enum sb_state sb;
	struct store_sb good;	/* valid when sb == SB_OK */
	uint32_t rec_chunk;	/* 0: none recorded */
	const char *rec_from;	/* where rec_chunk came from */
	uint8_t rec_uuid[16];
	bool have_uuid;
	uint64_t rec_ctime;

	/* Progress bar. */
	bool counting;		/* the sizing pass: no reports, no reads */
	uint64_t total, done;
	struct timespec start, last;
	bool bar_shown;

	uint8_t *buf;
	char path[PATH_MAX];	/* path of the current entry, relative to the root */
};

/* ---- reporting ---- */

/* strerror() is not thread-safe; strerrordesc_np() (glibc >= 2.32) is, and never allocates. */
static const char *errstr(int code)
{
	const char *s = strerrordesc_np(code < 0 ? -code : code);

	return s ? s : "Unknown error";
}

static void bar_clear(struct fsck *c)
{
	if (c->bar_shown) {
		dprintf(c->o->progress_fd, "\r\033[K");
		c->bar_shown = false;
	}
}

/* One line about @rel (relative path; "" is the store root). */
__attribute__((format(printf, 4, 5)))
static void report(struct fsck *c, enum kind k, const char *rel, const char *fmt, ...)
{
	FILE *out = c->o->out;
	va_list ap;

	if (c->counting)
		return;
	if (k == K_LEFT) {
		c->status |= FSCK_UNCORRECTED;
		c->nleft++;
	} else if (k == K_FIXED) {
		c->status |= FSCK_CORRECTED;
		c->nfixed++;
	}
	if (!out || (k == K_INFO && !c->o->verbose))
		return;
	bar_clear(c);
	fprintf(out, "%s%s%s: ", c->root, rel[0] ? "/" : "", rel);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

__attribute__((format(printf, 4, 5)))
static int operational(struct fsck *c, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	c->status |= FSCK_OPERATIONAL;
	return -1;
}

static void human(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
}

static long long ns_since(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

static void progress(struct fsck *c, uint64_t add)
{
	char done[32], total[32], bar[BAR_WIDTH + 1];
	struct timespec now;
	int pct, fill;

	c->done += add;
	if (c->o->progress_fd < 0 || c->counting)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ns_since(&c->start, &now) < BAR_DELAY_NS || ns_since(&c->last, &now) < BAR_PERIOD_NS)
		return;
	c->last = now;
	pct = c->total ? (int)(c->done * 100 / c->total) : 100;
	pct = pct > 100 ? 100 : pct;
	fill = pct * BAR_WIDTH / 100;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
	bar[BAR_WIDTH] = '\0';
	human(c->done, done, sizeof(done));
	human(c->total, total, sizeof(total));
	dprintf(c->o->progress_fd, "\r\033[Kfsck [%s] %3d%%  %s / %s  %llu files", bar, pct,
		done, total, (unsigned long long)c->files);
	c->bar_shown = true;
}

/* ---- small helpers ---- */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* Reads up to @len bytes from offset 0; returns the count (short only at EOF) or -errno. */
static ssize_t read_prefix(struct fsck *c, int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct iovec v = { .iov_base = buf + done, .iov_len = len - done };
		ssize_t r = c->io->preadv(fd, &v, 1, (off_t)done);

		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, buf + done, len - done, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

/* Opens (creating it 0700 if missing) FSCK_LOST_FOUND at the root. */
static int lost_found(struct fsck *c)
{
	int fd;

	if (c->lfd >= 0)
		return c->lfd;
	if (mkdirat(c->dirfd, FSCK_LOST_FOUND, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(c->dirfd, FSCK_LOST_FOUND, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP ? -ENOTDIR : -errno;
	c->lfd = fd;
	return fd;
}

/*
 * Moves (or with @link, hard-links) @name in the root into FSCK_LOST_FOUND as "@base", or
 * "@base.N" for the first free N. Returns 0 or -errno; the directories are not fsynced.
 */
static int to_lost_found(struct fsck *c, const char *name, const char *base, bool link,
			 char *dest, size_t destlen)
{
	int lfd = lost_found(c), r;

	if (lfd < 0)
		return lfd;
	for (unsigned n = 0; n < 1000; n++) {
		if (n == 0)
			snprintf(dest, destlen, "%s", base);
		else
			snprintf(dest, destlen, "%s.%u", base, n);
		if (link)
			r = linkat(c->dirfd, name, lfd, dest, 0);
		else
			r = renameat2(c->dirfd, name, lfd, dest, RENAME_NOREPLACE);
		if (r == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* ---- the superblock ---- */

/* Remembers what a damaged superblock (or a temp copy) still says, if it says it. */
static void salvage(struct fsck *c, const uint8_t *b, ssize_t n, const char *from)
{
	uint32_t cs;

	if (n < 16 || memcmp(b, "FROZENFS", 8) != 0)
		return;
	cs = get_le32(b + 12);
	if (!c->rec_chunk && chunk_size_valid(cs)) {
		c->rec_chunk = cs;
		c->rec_from = from;
	}
	if (!c->have_uuid && n >= 32) {
		memcpy(c->rec_uuid, b + 16, 16);
		c->have_uuid = true;
	}
	if (!c->rec_ctime && n >= 40)
		c->rec_ctime = get_le64(b + 32);
}

/* Looks at STORE_SB_NAME and takes the store lock. -1 (and *why) on an operational error. */
static int sb_examine(struct fsck *c, char *why, size_t whylen)
{
	uint8_t b[STORE_SB_SIZE + 1];
	const char *reason = NULL;
	struct stat st;
	ssize_t n;
	int fd, rc;

	if (fstatat(c->dirfd, STORE_SB_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT) {
			c->sb = SB_MISSING;
			return 0;
		}
		return operational(c, why, whylen, "cannot stat %s: %s", STORE_SB_NAME,
				   errstr(errno));
	}
	if (!S_ISREG(st.st_mode)) {
		/* Nothing to lock: no frozenfs can have mounted this, so none can hold it. */
		c->sb = SB_NOTREG;
		report(c, K_LEFT, STORE_SB_NAME, "the superblock is not a regular file");
		return 0;
	}
	fd = c->io->openat(c->dirfd, STORE_SB_NAME,
			   O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0)
		return operational(c, why, whylen, "cannot open the superblock %s: %s",
				   STORE_SB_NAME, errstr(fd));
	c->sbfd = fd;
	rc = c->io->flock(fd, LOCK_EX | LOCK_NB);
	if (rc == -EWOULDBLOCK)
		return operational(c, why, whylen, "store is mounted: its superblock is locked "
				   "by a running frozenfs (or another fsck); unmount it first");
	if (rc < 0)
		return operational(c, why, whylen, "cannot lock the superblock: %s", errstr(rc));
	n = read_prefix(c, fd, b, sizeof(b));
	if (n < 0) {
		c->sb = SB_CORRUPT;
		report(c, K_LEFT, STORE_SB_NAME, "cannot read the superblock: %s", errstr((int)n));
		return 0;
	}
	rc = store_sb_decode(b, (size_t)n, &c->good, &reason);
	if (rc == 0 && n > STORE_SB_SIZE) {
		rc = -EINVAL;
		reason = "longer than 64 bytes";
	}
	if (rc == 0) {
		c->sb = SB_OK;
		return 0;
	}
	if (!strncmp(reason, "unsupported format version", 26)) {
		c->sb = SB_NEWER;
		report(c, K_LEFT, STORE_SB_NAME, "%s: written by a newer frozenfs; left alone",
		       reason);
		return 0;
	}
	c->sb = SB_CORRUPT;
	salvage(c, b, n, "the damaged superblock");
	report(c, K_LEFT, STORE_SB_NAME, "corrupt superblock: %s (%zd bytes)", reason, n);
	return 0;
}

/*
 * A temp superblock at the root is a crash leftover: store creation (STORE_SB_TMP) or a repair
 * (FSCK_SB_TMP) stopped before its rename. Its content is remembered if valid; with repair it
 * moves to lost+found (the rewrite below installs its values).
 */
static void sb_leftover(struct fsck *c, const char *name)
{
	uint8_t b[STORE_SB_SIZE + 1];
	struct store_sb sb;
	char dest[NAME_MAX + 1];
	struct stat st;
	bool valid = false;
	ssize_t n;
	int fd, rc;

	if (fstatat(c->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (S_ISREG(st.st_mode)) {
		fd = c->io->openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
				   0);
		if (fd >= 0) {
			n = read_prefix(c, fd, b, sizeof(b));
			c->io->close(fd);
			valid = n == STORE_SB_SIZE && store_sb_decode(b, STORE_SB_SIZE, &sb,
								      NULL) == 0;
			if (valid && c->sb != SB_OK && c->sb != SB_NEWER) {
				/* Complete: it outranks a damaged superblock's remains. */
				c->rec_chunk = 0;
				c->have_uuid = false;
				c->rec_ctime = 0;
				salvage(c, b, n, name);
			}
		}
	}
	if (!c->o->repair) {
		c->need_repair = true;
		report(c, K_LEFT, name, "leftover of an interrupted %s%s",
		       strcmp(name, STORE_SB_TMP) ? "fsck repair" : "store creation",
		       valid ? " (a complete superblock)" : "");
		return;
	}
	rc = to_lost_found(c, name, name + 1, false, dest, sizeof(dest));
	if (rc < 0)
		report(c, K_LEFT, name, "leftover of an interrupted %s; cannot move it to "
		       FSCK_LOST_FOUND ": %s", strcmp(name, STORE_SB_TMP) ? "fsck repair" :
		       "store creation", errstr(rc));
	else
		report(c, K_FIXED, name, "leftover of an interrupted %s: moved to "
		       FSCK_LOST_FOUND "/%s", strcmp(name, STORE_SB_TMP) ? "fsck repair" :
		       "store creation", dest);
}

/* 1 if the root holds anything but the superblock, temp superblocks and lost+found. */
static int root_has_data(struct fsck *c)
{
	struct dirent *de;
	int fd, rc = 0;
	DIR *d;

	fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, STORE_SB_NAME) ||
		    !strcmp(n, STORE_SB_TMP) || !strcmp(n, FSCK_SB_TMP) ||
		    !strcmp(n, FSCK_LOST_FOUND))
			continue;
		rc = 1;
		break;
	}
	closedir(d);
	return rc;
}

/* Writes a new superblock with @chunk_size and puts it in place; see DESIGN. */
static int sb_rewrite(struct fsck *c, uint32_t chunk_size, char *what, size_t whatlen)
{
	struct store_sb sb = { .version = STORE_VERSION, .chunk_size = chunk_size };
	uint8_t b[STORE_SB_SIZE];
	char dest[NAME_MAX + 1];
	struct timespec now;
	int fd, rc;

	what[0] = '\0';
	if (c->have_uuid) {
		memcpy(sb.uuid, c->rec_uuid, 16);
	} else {
		for (size_t got = 0; got < 16;) {
			ssize_t r = getrandom(sb.uuid + got, 16 - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			got += (size_t)r;
		}
		sb.uuid[6] = (uint8_t)((sb.uuid[6] & 0x0f) | 0x40);
		sb.uuid[8] = (uint8_t)((sb.uuid[8] & 0x3f) | 0x80);
	}
	clock_gettime(CLOCK_REALTIME, &now);
	sb.ctime = c->rec_ctime ? c->rec_ctime : (uint64_t)now.tv_sec;
	store_sb_encode(&sb, b);

	fd = openat(c->dirfd, FSCK_SB_TMP, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, b, sizeof(b));
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	/* Locked before it is published: no mount can slip in between rename and lock. */
	if (rc == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
		rc = -errno;
	if (rc == 0 && c->sb == SB_CORRUPT) {
		/* Keep the damaged one for inspection; rename() then replaces it atomically. */
		rc = to_lost_found(c, STORE_SB_NAME, "superblock.damaged", true, dest,
				   sizeof(dest));
		if (rc == 0) {
			snprintf(what, whatlen, "; the damaged one is kept as " FSCK_LOST_FOUND
				 "/%s", dest);
			if (renameat(c->dirfd, FSCK_SB_TMP, c->dirfd, STORE_SB_NAME) < 0)
				rc = -errno;
		}
	} else if (rc == 0) {
		if (c->sb == SB_NOTREG) {
			rc = to_lost_found(c, STORE_SB_NAME, "superblock.damaged", false, dest,
					   sizeof(dest));
			if (rc == 0)
				snprintf(what, whatlen, "; the old one was moved to "
					 FSCK_LOST_FOUND "/%s", dest);
		}
		if (rc == 0 && renameat2(c->dirfd, FSCK_SB_TMP, c->dirfd, STORE_SB_NAME,
					 RENAME_NOREPLACE) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		close(fd);
		unlinkat(c->dirfd, FSCK_SB_TMP, 0);	/* ours, never published */
		return rc;
	}
	/* The renames are durable once the directories are (fsync(2)). */
	if (fsync(c->dirfd) < 0 || (c->lfd >= 0 && fsync(c->lfd) < 0)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (c->sbfd >= 0)
		c->io->close(c->sbfd);
	c->sbfd = fd;		/* keeps the store locked for the rest of the run */
	c->good = sb;
	c->sb = SB_OK;
	return 0;
}

/* Steps 1 to 3 of fsck.h. -1 (and *why) on an operational error. */
static int check_superblock(struct fsck *c, char *why, size_t whylen)
{
	const char *damage;
	char what[NAME_MAX + 64];
	bool empty = false;
	uint32_t cs;
	int rc;

	if (sb_examine(c, why, whylen) < 0)
		return -1;
	if (c->sb == SB_MISSING) {
		rc = root_has_data(c);
		if (rc < 0)
			return operational(c, why, whylen, "cannot list the directory: %s",
					   errstr(rc));
		empty = rc == 0;
		if (rc == 0 && faccessat(c->dirfd, STORE_SB_TMP, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
		    faccessat(c->dirfd, FSCK_SB_TMP, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
			return operational(c, why, whylen, "not a frozenfs store: no %s "
					   "superblock and nothing else (frozenfs mkfs creates a "
					   "store)", STORE_SB_NAME);
	}
	sb_leftover(c, STORE_SB_TMP);
	sb_leftover(c, FSCK_SB_TMP);

	if (c->sb == SB_OK) {
		report(c, K_INFO, STORE_SB_NAME, "format version %u, chunk size %u",
		       (unsigned)c->good.version, (unsigned)c->good.chunk_size);
		if (c->o->chunk_size && c->o->chunk_size != c->good.chunk_size)
			report(c, K_NOTE, STORE_SB_NAME, "note: the superblock records chunk size "
			       "%u; -c %u is ignored", (unsigned)c->good.chunk_size,
			       (unsigned)c->o->chunk_size);
		return 0;
	}
	if (c->sb == SB_NEWER)
		return 0;
	if (c->sb == SB_MISSING && empty && !c->rec_chunk)
		return 0;	/* creation stopped before a complete superblock: the leftover
				 * was reported, and once it is gone a mount creates the store */
	if (c->sb == SB_MISSING)
		report(c, K_LEFT, STORE_SB_NAME, "%s", empty ? "no superblock: store creation "
		       "was interrupted after writing it" : "no superblock, but the directory "
		       "holds files");

	damage = c->sb == SB_MISSING ? "missing" : "damaged";
	cs = c->o->chunk_size ? c->o->chunk_size : c->rec_chunk;
	if (!cs) {
		c->need_repair = true;
		report(c, K_NOTE, STORE_SB_NAME, "the chunk size is not recorded anywhere: "
		       "rewrite the superblock with --repair -c CHUNK (the size the store was "
		       "made with; any valid size keeps the data readable)");
		return 0;
	}
	if (!c->o->repair) {
		c->need_repair = true;
		report(c, K_NOTE, STORE_SB_NAME, "--repair would write a new superblock with "
		       "chunk size %u (%s)", (unsigned)cs,
		       c->o->chunk_size ? "from -c" : c->rec_from);
		return 0;
	}
	rc = sb_rewrite(c, cs, what, sizeof(what));
	if (rc < 0) {
		report(c, K_LEFT, STORE_SB_NAME, "cannot rewrite the %s superblock: %s", damage,
		       errstr(rc));
		return 0;
	}
	/* The damage was counted as left; it is now fixed instead. */
	c->nleft--;
	if (c->nleft == 0)
		c->status &= ~FSCK_UNCORRECTED;
	report(c, K_FIXED, STORE_SB_NAME, "wrote a new superblock (chunk size %u, %s)%s",
	       (unsigned)cs, c->o->chunk_size ? "from -c" : c->rec_from, what);
	return 0;
}

/* ---- the tree ---- */

static void check_file(struct fsck *c, int dfd, const char *name, const struct stat *st)
{
	uint64_t off = 0;
	int fd;

	if (c->counting) {
		c->total += (uint64_t)st->st_size;
		return;
	}
	if (!c->buf) {
		/* On first use: a store without files (most fuzzed ones) never needs it. */
		c->buf = malloc(READ_BUF);
		if (!c->buf) {
			report(c, K_LEFT, c->path, "not checked: out of memory");
			return;
		}
	}
	fd = c->io->openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOATIME,
			   0);
	if (fd == -EPERM)	/* O_NOATIME needs ownership */
		fd = c->io->openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
	if (fd < 0) {
		report(c, K_LEFT, c->path, "unreadable: cannot open: %s", errstr(fd));
		progress(c, (uint64_t)st->st_size);
		return;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		struct iovec v = { .iov_base = c->buf, .iov_len = READ_BUF };
		ssize_t r = c->io->preadv(fd, &v, 1, (off_t)off);

		if (r == -EINTR)
			continue;
		if (r < 0) {
			report(c, K_LEFT, c->path, "read error at byte %llu: %s",
			       (unsigned long long)off, errstr((int)r));
			progress(c, off < (uint64_t)st->st_size ? (uint64_t)st->st_size - off : 0);
			off = (uint64_t)st->st_size;	/* reported; no size message too */
			goto done;
		}
		if (r == 0)
			break;
		off += (uint64_t)r;
		progress(c, (uint64_t)r);
	}
	if (off != (uint64_t)st->st_size)
		report(c, K_LEFT, c->path, "size is %lld bytes but %llu could be read",
		       (long long)st->st_size, (unsigned long long)off);
	else
		report(c, K_INFO, c->path, "ok, %llu bytes", (unsigned long long)off);
	c->bytes += off;
done:
	/* Checking a large store should not evict everything else from the page cache. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	c->io->close(fd);
	c->files++;
}

static const char *special_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "FIFO";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISCHR(m))
		return "character device";
	if (S_ISBLK(m))
		return "block device";
	return "file of unknown type";
}

/* Walks the directory open as @dfd (taken over), whose relative path is c->path[0..plen). */
static void walk(struct fsck *c, int dfd, size_t plen)
{
	struct dirent *de;
	struct stat st;
	DIR *d = fdopendir(dfd);

	if (!d) {
		report(c, K_LEFT, c->path, "cannot list directory: %s", errstr(errno));
		close(dfd);
		return;
	}
	for (;;) {
		const char *n;
		size_t nlen;
		int fd;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				c->path[plen] = '\0';
				report(c, K_LEFT, c->path, "cannot list directory: %s",
				       errstr(errno));
			}
			break;
		}
		n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		if (plen == 0 && (!strcmp(n, STORE_SB_NAME) || !strcmp(n, STORE_SB_TMP) ||
				  !strcmp(n, FSCK_SB_TMP) || !strcmp(n, FSCK_LOST_FOUND)))
			continue;	/* handled by check_superblock(), or not ours */
		nlen = strlen(n);
		if (plen + 1 + nlen >= sizeof(c->path)) {
			c->path[plen] = '\0';
			report(c, K_LEFT, c->path, "a name inside is too long to check "
			       "(path over %zu bytes)", sizeof(c->path));
			continue;
		}
		if (plen)
			c->path[plen] = '/';
		memcpy(c->path + plen + (plen ? 1 : 0), n, nlen + 1);
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			report(c, K_LEFT, c->path, "cannot stat: %s", errstr(errno));
			continue;
		}
		if (S_ISREG(st.st_mode)) {
			check_file(c, dirfd(d), n, &st);
		} else if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				report(c, K_LEFT, c->path, "unreadable directory: %s",
				       errstr(errno));
				continue;
			}
			if (!c->counting)
				c->dirs++;
			report(c, K_INFO, c->path, "directory");
			walk(c, fd, plen + (plen ? 1 : 0) + nlen);
		} else if (S_ISLNK(st.st_mode)) {
			if (!c->counting)
				c->symlinks++;
			report(c, K_INFO, c->path, "symlink");
		} else {
			if (!c->counting)
				c->specials++;
			report(c, K_INFO, c->path, "%s (not read)", special_kind(st.st_mode));
		}
	}
	closedir(d);
	c->path[plen] = '\0';
}

static int walk_root(struct fsck *c)
{
	int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	c->path[0] = '\0';
	walk(c, fd, 0);
	return 0;
}

int fsck_run(const struct chunk_io *io, const char *dirpath, const struct fsck_opts *o,
	     char *why, size_t whylen)
{
	struct statfs sfs;
	struct fsck *c;
	char size[32];
	int rc, status;

	if (why && whylen)
		why[0] = '\0';
	c = calloc(1, sizeof(*c));
	if (!c) {
		if (why && whylen)
			snprintf(why, whylen, "out of memory");
		return FSCK_OPERATIONAL;
	}
	c->io = io ? io : chunk_io_default();
	c->o = o;
	c->root = dirpath;
	c->sbfd = -1;
	c->lfd = -1;
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	c->dirfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dirfd < 0) {
		operational(c, why, whylen, "cannot open the store directory: %s",
			    errno == ENOENT ? "it does not exist" : errstr(errno));
		goto out;
	}
	/*
	 * The mountpoint instead of the backing directory: the mount hides the superblock, so
	 * this would look like a store that lost it, and a repair would write through FUSE.
	 */
	if (fstatfs(c->dirfd, &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC) {
		operational(c, why, whylen, "is a FUSE mount: give fsck the backing directory "
			    "of an unmounted store, not a mountpoint");
		goto out;
	}
	if (check_superblock(c, why, whylen) < 0)
		goto out;
	if (o->progress_fd >= 0) {
		c->counting = true;
		walk_root(c);
		c->counting = false;
		c->done = 0;
	}
	rc = walk_root(c);
	bar_clear(c);
	if (rc < 0) {
		operational(c, why, whylen, "cannot list the store directory: %s", errstr(rc));
		goto out;
	}
	if (o->out) {
		human(c->bytes, size, sizeof(size));
		fprintf(o->out, "%s: %llu files (%s), %llu directories, %llu symlinks, "
			"%llu special files: ", dirpath, (unsigned long long)c->files, size,
			(unsigned long long)c->dirs, (unsigned long long)c->symlinks,
			(unsigned long long)c->specials);
		if (c->status == FSCK_CLEAN)
			fprintf(o->out, "clean\n");
		else if (c->nleft == 0)
			fprintf(o->out, "%u error%s corrected\n", c->nfixed,
				c->nfixed == 1 ? "" : "s");
		else
			fprintf(o->out, "%u error%s corrected, %u left uncorrected%s\n", c->nfixed,
				c->nfixed == 1 ? "" : "s", c->nleft,
				c->need_repair && !o->repair ? " (see --repair)" : "");
	}
out:
	bar_clear(c);
	if (o->out)
		fflush(o->out);
	if (c->sbfd >= 0)
		c->io->close(c->sbfd);	/* drops the store lock */
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->dirfd >= 0)
		close(c->dirfd);
	status = c->status;
	free(c->buf);
	free(c);
	return status;
}
