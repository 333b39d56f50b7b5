/*
 * it_model: randomized model-based test of file data and names on a frozenfs mount.
 *
 * DESIGN
 * Six names f0..f5 in the mount root are backed by an in-memory model: each name points to a
 * model inode (a byte array, its link count and open count), and up to six open descriptors
 * point to model inodes too, so unlinked-but-open files, hard links and renames over open
 * files are modelled exactly as POSIX has them. Each step picks a random operation:
 *
 *   open (create with O_EXCL, or open O_RDWR, sometimes O_TRUNC), close, pwrite, pread,
 *   ftruncate down/up, truncate(path) with no descriptor, fsync, fdatasync, rename, unlink,
 *   link, whole-file read by name, stat (size and st_nlink) by name, fstat size, fallocate
 *   (0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE), write through a fresh O_APPEND descriptor and
 *   pwrite through a fresh O_WRONLY one (both bypass the page cache on Linux >= 6.6),
 *   pread through an O_DIRECT descriptor, posix_fadvise(DONTNEED).
 *
 * and applies it to the mount and to the model, comparing every result. The store is created
 * with chunk_size=4096 and offsets/sizes are biased towards chunk boundaries +-1..3, so writes
 * and truncates constantly straddle chunks. Every --remount-every operations (default 2000)
 * all descriptors are closed, the mount is unmounted (the daemon must exit 0) and remounted,
 * and every file is compared byte for byte, plus the directory listing and hard-link inode
 * numbers. Mounts rotate between a fast flusher (20 ms), a slow one (10 s) and a slow one
 * with -o direct_io, so data still queued in the pipeline, data already in the backing file,
 * and reads that bypass the kernel page cache (direct_io, O_DIRECT descriptors, fadvise
 * DONTNEED) all get exercised. fallocate mode 0 and KEEP_SIZE must work (DURABILITY.md
 * requirement 10); PUNCH_HOLE and ZERO_RANGE may answer EOPNOTSUPP.
 *
 * Reproducing: the seed is printed at start; on failure the seed, the operation index and the
 * last 20 operations are printed. Run again with --seed=N (and --ops=N).
 *
 * Usage: it_model FROZENFS_BINARY [--seed=N] [--ops=N] [--remount-every=N]
 */
#include "fstest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NNAMES		6
#define NFDS		6
#define CHUNK		4096
#define MAXSIZE		(192 * 1024)	/* model files stay below this */
#define HIST		20

struct inode {
	uint8_t *data;
	size_t size;
	int nlink;		/* names pointing here */
	int nopen;		/* descriptors pointing here */
	int id;
};

struct ofd {
	int fd;			/* -1: slot unused */
	struct inode *ino;
};

static struct ft_mount mnt;
static struct inode *names[NNAMES];
static struct ofd fds[NFDS];
static uint64_t seed, rng;
static long op_index;
static char hist[HIST][200];
static long hist_n;
static int next_id;
static uint8_t *scratch;
static int cycle;

static void report(void)
{
	long i;

	fprintf(stderr, "# it_model: seed %" PRIu64 ", failed at operation %ld (mount cycle %d)\n",
		seed, op_index, cycle);
	fprintf(stderr, "# last %d operations (oldest first):\n", HIST);
	for (i = hist_n > HIST ? hist_n - HIST : 0; i < hist_n; i++)
		fprintf(stderr, "#   %s\n", hist[i % HIST]);
	fprintf(stderr, "# reproduce: it_model FROZENFS --seed=%" PRIu64 "\n", seed);
}

__attribute__((format(printf, 1, 2)))
static void logop(const char *fmt, ...)
{
	va_list ap;
	char *h = hist[hist_n++ % HIST];
	int n = snprintf(h, sizeof(hist[0]), "#%ld ", op_index);

	va_start(ap, fmt);
	vsnprintf(h + n, sizeof(hist[0]) - n, fmt, ap);
	va_end(ap);
}

static const char *name_of(int i)
{
	static const char *const n[NNAMES] = { "f0", "f1", "f2", "f3", "f4", "f5" };

	return n[i];
}

static struct inode *inode_new(void)
{
	struct inode *ino = calloc(1, sizeof(*ino));

	if (!ino || !(ino->data = calloc(1, MAXSIZE)))
		ft_fail("out of memory");
	ino->id = next_id++;
	return ino;
}

static void inode_put(struct inode *ino)
{
	if (ino && ino->nlink == 0 && ino->nopen == 0) {
		free(ino->data);
		free(ino);
	}
}

/* Resize the model: bytes past a shrink are zeroed, so a later grow reads zeros (I1). */
static void model_resize(struct inode *ino, size_t n)
{
	if (n < ino->size)
		memset(ino->data + n, 0, ino->size - n);
	ino->size = n;
}

static uint64_t rnd(uint64_t n) { return ft_rand_below(&rng, n); }

/* An offset in [0, limit], biased to chunk boundaries +-1..3 and to the ends. */
static size_t pick_offset(size_t size, size_t limit)
{
	size_t off;

	switch (rnd(10)) {
	case 0: case 1: case 2: case 3: {
		size_t k = rnd(size / CHUNK + 3);
		long d = (long)rnd(7) - 3;

		off = k * CHUNK;
		off = (d < 0 && (size_t)-d > off) ? 0 : off + d;
		break;
	}
	case 4:
		off = size;
		break;
	case 5:
		off = size ? size - 1 - rnd(size < 8 ? size : 8) : 0;
		break;
	default:
		off = rnd(size + 2 * CHUNK + 1);
	}
	return off > limit ? limit : off;
}

static size_t pick_len(void)
{
	switch (rnd(10)) {
	case 0: case 1: case 2:
		return 1 + rnd(16);
	case 3: case 4: case 5:
		return 1 + rnd(CHUNK);
	case 6: case 7:
		return CHUNK - 3 + rnd(7);
	case 8:
		return 1 + rnd(3 * CHUNK + 7);
	default:
		return 1 + rnd(64 * 1024);
	}
}

static int pick_fd(void)
{
	int i, n = 0, pick[NFDS];

	for (i = 0; i < NFDS; i++)
		if (fds[i].fd >= 0)
			pick[n++] = i;
	return n ? pick[rnd(n)] : -1;
}

static int pick_name(int exists)
{
	int i, n = 0, pick[NNAMES];

	for (i = 0; i < NNAMES; i++)
		if ((names[i] != NULL) == exists)
			pick[n++] = i;
	return n ? pick[rnd(n)] : -1;
}

static void compare(const char *what, const uint8_t *got, const uint8_t *want, size_t len,
		    size_t base)
{
	long long d = ft_memdiff(got, want, len);

	if (d >= 0)
		ft_fail("%s: byte %lld differs: got 0x%02x, model 0x%02x", what,
			(long long)base + d, got[d], want[d]);
}

static void check_name(int n, const char *when)
{
	struct inode *ino = names[n];
	const char *path = ft_path(&mnt, name_of(n));
	struct stat st;

	if (!ino) {
		errno = 0;
		if (lstat(path, &st) == 0 || errno != ENOENT)
			ft_fail("%s: %s should not exist (lstat: %s)", when, name_of(n),
				strerror(errno));
		return;
	}
	if (lstat(path, &st) < 0)
		ft_fail("%s: lstat %s: %s", when, name_of(n), strerror(errno));
	if (!S_ISREG(st.st_mode))
		ft_fail("%s: %s is not a regular file", when, name_of(n));
	if ((size_t)st.st_size != ino->size)
		ft_fail("%s: %s st_size %lld, model %zu", when, name_of(n), (long long)st.st_size,
			ino->size);
	if ((int)st.st_nlink != ino->nlink)
		ft_fail("%s: %s st_nlink %lu, model %d", when, name_of(n),
			(unsigned long)st.st_nlink, ino->nlink);
}

static void read_whole(int n, const char *when)
{
	size_t len;
	uint8_t *buf = ft_read_file(ft_path(&mnt, name_of(n)), &len);

	if (len != names[n]->size)
		ft_fail("%s: read %zu bytes from %s, model size %zu", when, len, name_of(n),
			names[n]->size);
	compare(ft_fmt("%s: whole-file read of %s", when, name_of(n)), buf, names[n]->data,
		len, 0);
	free(buf);
}

static void close_all(void)
{
	int i;

	for (i = 0; i < NFDS; i++) {
		if (fds[i].fd < 0)
			continue;
		if (close(fds[i].fd) < 0)
			ft_fail("close: %s", strerror(errno));
		fds[i].ino->nopen--;
		inode_put(fds[i].ino);
		fds[i].fd = -1;
	}
}

/* After a remount: every name, every byte, the directory listing, shared inodes. */
static void verify_all(const char *when)
{
	int i, j, seen[NNAMES] = { 0 };
	ino_t inos[NNAMES] = { 0 };
	struct dirent *de;
	DIR *d;

	for (i = 0; i < NNAMES; i++) {
		struct stat st;

		check_name(i, when);
		if (!names[i])
			continue;
		read_whole(i, when);
		if (stat(ft_path(&mnt, name_of(i)), &st) == 0)
			inos[i] = st.st_ino;
	}
	for (i = 0; i < NNAMES; i++)
		for (j = 0; j < i; j++)
			if (names[i] && names[j] && (names[i] == names[j]) != (inos[i] == inos[j]))
				ft_fail("%s: %s and %s: model says %s, st_ino %lu vs %lu", when,
					name_of(i), name_of(j),
					names[i] == names[j] ? "hard links" : "different files",
					(unsigned long)inos[i], (unsigned long)inos[j]);
	d = opendir(mnt.mnt);
	if (!d)
		ft_fail("opendir %s: %s", mnt.mnt, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ft_fake() && !strcmp(de->d_name, ".frozenfs"))
			continue;
		for (i = 0; i < NNAMES && strcmp(de->d_name, name_of(i)); i++)
			;
		if (i == NNAMES || !names[i])
			ft_fail("%s: readdir lists unexpected '%s'", when, de->d_name);
		seen[i]++;
	}
	closedir(d);
	for (i = 0; i < NNAMES; i++)
		if ((names[i] != NULL) != (seen[i] == 1))
			ft_fail("%s: readdir lists %s %d times, model %d", when, name_of(i),
				seen[i], names[i] != NULL);
}

static void op_open(void)
{
	int slot, n, fd, flags = O_RDWR;

	for (slot = 0; slot < NFDS && fds[slot].fd >= 0; slot++)
		;
	if (slot == NFDS)
		return;
	n = (int)rnd(NNAMES);
	if (names[n]) {
		if (rnd(8) == 0)
			flags |= O_TRUNC;
		logop("open %s%s", name_of(n), flags & O_TRUNC ? " O_TRUNC" : "");
		fd = open(ft_path(&mnt, name_of(n)), flags);
		if (fd < 0)
			ft_fail("open %s: %s", name_of(n), strerror(errno));
		if (flags & O_TRUNC)
			model_resize(names[n], 0);
	} else {
		logop("create %s", name_of(n));
		fd = open(ft_path(&mnt, name_of(n)), O_RDWR | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			ft_fail("create %s: %s", name_of(n), strerror(errno));
		names[n] = inode_new();
		names[n]->nlink = 1;
	}
	fds[slot].fd = fd;
	fds[slot].ino = names[n];
	names[n]->nopen++;
}

static void op_close(int s)
{
	logop("close fd%d (inode %d)", s, fds[s].ino->id);
	if (close(fds[s].fd) < 0)
		ft_fail("close: %s", strerror(errno));
	fds[s].fd = -1;
	fds[s].ino->nopen--;
	inode_put(fds[s].ino);
}

static void op_pwrite(int s)
{
	struct inode *ino = fds[s].ino;
	size_t off = pick_offset(ino->size, MAXSIZE - 1);
	size_t len = pick_len();
	ssize_t r;

	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	ft_rand_fill(&rng, scratch, len);
	logop("pwrite fd%d (inode %d) off %zu len %zu (size %zu)", s, ino->id, off, len,
	      ino->size);
	r = pwrite(fds[s].fd, scratch, len, off);
	if (r != (ssize_t)len)
		ft_fail("pwrite %zu at %zu returned %zd: %s", len, off, r,
			r < 0 ? strerror(errno) : "short");
	memcpy(ino->data + off, scratch, len);
	if (off + len > ino->size)
		ino->size = off + len;
}

static void op_pread(int s)
{
	struct inode *ino = fds[s].ino;
	size_t off = pick_offset(ino->size, MAXSIZE + CHUNK);
	size_t len = pick_len();
	size_t want = off >= ino->size ? 0 : (ino->size - off < len ? ino->size - off : len);
	ssize_t r;

	logop("pread fd%d (inode %d) off %zu len %zu (size %zu)", s, ino->id, off, len,
	      ino->size);
	r = pread(fds[s].fd, scratch, len, off);
	if (r != (ssize_t)want)
		ft_fail("pread %zu at %zu returned %zd (%s), model %zu", len, off, r,
			r < 0 ? strerror(errno) : "count", want);
	compare(ft_fmt("pread at %zu", off), scratch, ino->data + off, want, off);
}

static size_t pick_new_size(size_t size)
{
	if (rnd(2) && size)
		return pick_offset(size, size);			/* down (or same) */
	return pick_offset(size + 3 * CHUNK, MAXSIZE);		/* mostly up */
}

static void op_ftruncate(int s)
{
	struct inode *ino = fds[s].ino;
	size_t n = pick_new_size(ino->size);

	logop("ftruncate fd%d (inode %d) %zu -> %zu", s, ino->id, ino->size, n);
	if (ftruncate(fds[s].fd, n) < 0)
		ft_fail("ftruncate to %zu: %s", n, strerror(errno));
	model_resize(ino, n);
}

static void op_truncate_path(void)
{
	int n = pick_name(1);
	size_t sz;

	if (n < 0)
		return;
	sz = pick_new_size(names[n]->size);
	logop("truncate(%s) %zu -> %zu", name_of(n), names[n]->size, sz);
	if (truncate(ft_path(&mnt, name_of(n)), sz) < 0)
		ft_fail("truncate %s to %zu: %s", name_of(n), sz, strerror(errno));
	model_resize(names[n], sz);
}

static void op_sync(int s, int data)
{
	logop("%s fd%d (inode %d)", data ? "fdatasync" : "fsync", s, fds[s].ino->id);
	if ((data ? fdatasync(fds[s].fd) : fsync(fds[s].fd)) < 0)
		ft_fail("%s: %s", data ? "fdatasync" : "fsync", strerror(errno));
}

static void op_fstat(int s)
{
	struct stat st;

	logop("fstat fd%d (inode %d)", s, fds[s].ino->id);
	if (fstat(fds[s].fd, &st) < 0)
		ft_fail("fstat: %s", strerror(errno));
	if ((size_t)st.st_size != fds[s].ino->size)
		ft_fail("fstat: st_size %lld, model %zu", (long long)st.st_size, fds[s].ino->size);
}

static void unname(int n)
{
	struct inode *ino = names[n];

	names[n] = NULL;
	ino->nlink--;
	inode_put(ino);
}

static void op_rename(void)
{
	int a = pick_name(1), b = (int)rnd(NNAMES);

	if (a < 0 || a == b)
		return;
	logop("rename %s -> %s%s", name_of(a), name_of(b), names[b] ? " (replacing)" : "");
	if (rename(ft_path(&mnt, name_of(a)), ft_path(&mnt, name_of(b))) < 0)
		ft_fail("rename %s %s: %s", name_of(a), name_of(b), strerror(errno));
	if (names[b] == names[a])
		return;		/* both names are links to one inode: rename does nothing */
	if (names[b])
		unname(b);
	names[b] = names[a];
	names[a] = NULL;
}

static void op_unlink(void)
{
	int n = pick_name(1);

	if (n < 0)
		return;
	logop("unlink %s (inode %d, open %d)", name_of(n), names[n]->id, names[n]->nopen);
	if (unlink(ft_path(&mnt, name_of(n))) < 0)
		ft_fail("unlink %s: %s", name_of(n), strerror(errno));
	unname(n);
}

static void op_link(void)
{
	int a = pick_name(1), b = pick_name(0);

	if (a < 0 || b < 0)
		return;
	logop("link %s -> %s", name_of(a), name_of(b));
	if (link(ft_path(&mnt, name_of(a)), ft_path(&mnt, name_of(b))) < 0)
		ft_fail("link %s %s: %s", name_of(a), name_of(b), strerror(errno));
	names[b] = names[a];
	names[b]->nlink++;
}

static void op_fallocate(int s)
{
	static const struct { int mode; const char *name; } modes[] = {
		{ 0, "fallocate" },
		{ FALLOC_FL_KEEP_SIZE, "fallocate KEEP_SIZE" },
		{ FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "fallocate PUNCH_HOLE" },
		{ FALLOC_FL_ZERO_RANGE, "fallocate ZERO_RANGE" },
		{ FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "fallocate ZERO_RANGE KEEP_SIZE" },
	};
	struct inode *ino = fds[s].ino;
	int k = (int)rnd(5);
	size_t off = pick_offset(ino->size, MAXSIZE - 1), len = pick_len(), end;

	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	end = off + len;
	logop("%s fd%d (inode %d) off %zu len %zu (size %zu)", modes[k].name, s, ino->id, off,
	      len, ino->size);
	/* All four are offered (punch and zero range go through the pipeline, ordered with
	 * the queued writes), so EOPNOTSUPP is a failure too. */
	if (fallocate(fds[s].fd, modes[k].mode, off, len) < 0)
		ft_fail("%s off %zu len %zu: %s", modes[k].name, off, len, strerror(errno));
	if (k >= 2 && off < ino->size)
		memset(ino->data + off, 0, (end < ino->size ? end : ino->size) - off);
	if ((k == 0 || k == 3) && end > ino->size)
		ino->size = end;
}

/* write(2) through a fresh O_APPEND descriptor: lands at the current end. */
static void op_append(void)
{
	int n = pick_name(1), fd;
	size_t len = pick_len();
	struct inode *ino;

	if (n < 0)
		return;
	ino = names[n];
	if (ino->size + len > MAXSIZE)
		return;
	ft_rand_fill(&rng, scratch, len);
	logop("append %zu to %s (size %zu)", len, name_of(n), ino->size);
	fd = open(ft_path(&mnt, name_of(n)), O_WRONLY | O_APPEND);
	if (fd < 0)
		ft_fail("open O_APPEND %s: %s", name_of(n), strerror(errno));
	if (write(fd, scratch, len) != (ssize_t)len)
		ft_fail("append write to %s: %s", name_of(n), strerror(errno));
	if (close(fd) < 0)
		ft_fail("close %s: %s", name_of(n), strerror(errno));
	memcpy(ino->data + ino->size, scratch, len);
	ino->size += len;
}

/*
 * pwrite(2) through a fresh O_WRONLY descriptor, which the mount serves without its page
 * cache (Linux >= 6.6): the cached pages of the O_RDWR descriptors must not go stale.
 */
static void op_wronly_write(void)
{
	int n = pick_name(1), fd;
	struct inode *ino;
	size_t off, len;

	if (n < 0)
		return;
	ino = names[n];
	off = pick_offset(ino->size, MAXSIZE - 1);
	len = pick_len();
	if (off + len > MAXSIZE)
		len = MAXSIZE - off;
	ft_rand_fill(&rng, scratch, len);
	logop("O_WRONLY pwrite %s off %zu len %zu (size %zu)", name_of(n), off, len, ino->size);
	fd = open(ft_path(&mnt, name_of(n)), O_WRONLY);
	if (fd < 0)
		ft_fail("open O_WRONLY %s: %s", name_of(n), strerror(errno));
	if (pwrite(fd, scratch, len, off) != (ssize_t)len)
		ft_fail("O_WRONLY pwrite to %s: %s", name_of(n), strerror(errno));
	if (close(fd) < 0)
		ft_fail("close %s: %s", name_of(n), strerror(errno));
	memcpy(ino->data + off, scratch, len);
	if (off + len > ino->size)
		ino->size = off + len;
}

/* pread through an O_DIRECT descriptor: the daemon must answer, not the page cache. */
static void op_direct_read(void)
{
	int n = pick_name(1), fd;
	struct inode *ino;
	size_t off, len, want;
	ssize_t r;

	if (n < 0)
		return;
	ino = names[n];
	off = pick_offset(ino->size, MAXSIZE);
	len = pick_len();
	if (ft_fake()) {
		/* ext4 wants O_DIRECT aligned; FUSE does not, so only the self-test aligns. */
		off &= ~(size_t)4095;
		len = (len + 4095) & ~(size_t)4095;
	}
	want = off >= ino->size ? 0 : (ino->size - off < len ? ino->size - off : len);
	logop("O_DIRECT pread %s off %zu len %zu (size %zu)", name_of(n), off, len, ino->size);
	fd = open(ft_path(&mnt, name_of(n)), O_RDONLY | O_DIRECT);
	if (fd < 0)
		ft_fail("open O_DIRECT %s: %s", name_of(n), strerror(errno));
	r = pread(fd, scratch, len, off);
	if (r != (ssize_t)want)
		ft_fail("O_DIRECT pread %zu at %zu returned %zd (%s), model %zu", len, off, r,
			r < 0 ? strerror(errno) : "count", want);
	compare(ft_fmt("O_DIRECT pread at %zu", off), scratch, ino->data + off, want, off);
	close(fd);
}

/* Drop the kernel's cached pages of an open file, so the next reads ask the daemon. */
static void op_dontneed(int s)
{
	logop("fadvise DONTNEED fd%d (inode %d)", s, fds[s].ino->id);
	errno = posix_fadvise(fds[s].fd, 0, 0, POSIX_FADV_DONTNEED);
	if (errno)
		ft_fail("posix_fadvise DONTNEED: %s", strerror(errno));
}

/*
 * SEEK_DATA / SEEK_HOLE through a fresh read-only descriptor (with no writable one open, the
 * holes are the real ones): data is never reported as a hole, so every byte SEEK_DATA skips
 * and every byte of the hole SEEK_HOLE finds reads as zero in the model.
 */
static void op_seek(void)
{
	int n = pick_name(1), fd;
	struct inode *ino;
	size_t off, x, y;
	off_t r;

	if (n < 0)
		return;
	ino = names[n];
	/* Usually close its descriptors first: with a writable one open, there are no holes. */
	for (int s = 0; s < NFDS && rnd(4); s++)
		if (fds[s].fd >= 0 && fds[s].ino == ino)
			op_close(s);
	off = pick_offset(ino->size, MAXSIZE + CHUNK);
	logop("seek data/hole %s (inode %d) from %zu (size %zu, %d open)", name_of(n), ino->id,
	      off, ino->size, ino->nopen);
	fd = open(ft_fmt("%s/%s", mnt.mnt, name_of(n)), O_RDONLY);
	if (fd < 0)
		ft_fail("open %s: %s", name_of(n), strerror(errno));
	r = lseek(fd, (off_t)off, SEEK_DATA);
	if (off >= ino->size) {
		if (r >= 0 || errno != ENXIO || lseek(fd, (off_t)off, SEEK_HOLE) >= 0 ||
		    errno != ENXIO)
			ft_fail("SEEK_DATA/HOLE at %zu past size %zu: not ENXIO", off, ino->size);
		close(fd);
		return;
	}
	if (r < 0 && errno != ENXIO)
		ft_fail("SEEK_DATA at %zu: %s", off, strerror(errno));
	x = r < 0 ? ino->size : (size_t)r;
	if (x < off || x > ino->size)
		ft_fail("SEEK_DATA at %zu gave %zu (size %zu)", off, x, ino->size);
	for (size_t b = off; b < x; b++)
		if (ino->data[b])
			ft_fail("SEEK_DATA at %zu skipped data at %zu", off, b);
	r = lseek(fd, (off_t)off, SEEK_HOLE);
	if (r < 0 || (size_t)r < off || (size_t)r > ino->size)
		ft_fail("SEEK_HOLE at %zu gave %lld (%s)", off, (long long)r, strerror(errno));
	x = (size_t)r;
	if (x < ino->size) {
		r = lseek(fd, (off_t)x, SEEK_DATA);
		if (r < 0 && errno != ENXIO)
			ft_fail("SEEK_DATA at %zu: %s", x, strerror(errno));
		y = r < 0 ? ino->size : (size_t)r;
		if (y <= x)
			ft_fail("SEEK_HOLE at %zu gave %zu, but SEEK_DATA there gives %zu", off, x, y);
		for (size_t b = x; b < y; b++)
			if (ino->data[b])
				ft_fail("SEEK_HOLE at %zu: hole %zu..%zu holds data at %zu", off, x,
					y, b);
	}
	close(fd);
}

static void step(void)
{
	int s = pick_fd();
	unsigned r = (unsigned)rnd(100);
	int n;

	if (s < 0 && r < 70)
		r = 99;		/* nothing open: open something */
	if (r < 26)
		op_pwrite(s);
	else if (r < 39)
		op_pread(s);
	else if (r < 44)
		op_ftruncate(s);
	else if (r < 47)
		op_sync(s, 0);
	else if (r < 50)
		op_sync(s, 1);
	else if (r < 55)
		op_close(s);
	else if (r < 57)
		op_fstat(s);
	else if (r < 60)
		op_fallocate(s);
	else if (r < 62)
		op_dontneed(s);
	else if (r < 66)
		op_truncate_path();
	else if (r < 70)
		op_rename();
	else if (r < 73)
		op_unlink();
	else if (r < 75)
		op_link();
	else if (r < 76)
		op_append();
	else if (r < 78)
		op_wronly_write();
	else if (r < 81)
		op_direct_read();
	else if (r < 83)
		op_seek();
	else if (r < 85) {
		n = pick_name(1);
		if (n >= 0) {
			logop("read whole %s", name_of(n));
			read_whole(n, "live");
		}
	} else if (r < 90) {
		n = (int)rnd(NNAMES);
		logop("stat %s", name_of(n));
		check_name(n, "live");
	} else {
		op_open();
	}
}

static const char *mount_opts(void)
{
	/*
	 * Cycle through a fast flusher, a slow one (data stays queued, also after close, so
	 * reads and lseek must come from the queue) and a slow one with direct_io (no kernel
	 * page cache: every read and write reaches the daemon).
	 */
	switch (cycle % 3) {
	case 0:
		/* Files past 16 KiB reserve ahead and give it back at the last close. */
		return "chunk_size=4096,flush_interval_ms=20,test_reserve_ahead_from=16384";
	case 1:
		return "chunk_size=4096,flush_interval_ms=10000,test_reserve_ahead_from=16384,"
		       "nosync_on_close";
	default:
		return "chunk_size=4096,flush_interval_ms=10000,direct_io";
	}
}

int main(int argc, char **argv)
{
	long nops, every;
	char store[PATH_MAX], mp[PATH_MAX];
	double t0;
	int i;

	ft_init(argc, argv);
	ft_set_fail_hook(report);
	seed = ft_seed();
	nops = ft_arg_long("ops", 50000, 0);
	every = ft_arg_long("remount-every", 2000, 1);
	rng = seed ? seed : 1;
	printf("# it_model: seed %" PRIu64 " (rerun with --seed=%" PRIu64 "), %ld operations, "
	       "remount every %ld\n", seed, seed, nops, every);
	scratch = aligned_alloc(4096, MAXSIZE + 2 * CHUNK + 64 * 1024);
	if (!scratch)
		ft_fail("out of memory");
	for (i = 0; i < NFDS; i++)
		fds[i].fd = -1;

	snprintf(store, sizeof(store), "%s/store", ft_tmpdir());
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	ft_mount(&mnt, store, mp, mount_opts());
	t0 = ft_now();
	ft_check("%ld random operations against the model, full verification after each remount",
		 nops);
	for (op_index = 0; op_index < nops; op_index++) {
		step();
		if ((op_index + 1) % every == 0 || op_index + 1 == nops) {
			logop("close all, unmount, remount, verify");
			close_all();
			ft_umount(&mnt);
			cycle++;
			ft_mount(&mnt, store, mp, mount_opts());
			verify_all(ft_fmt("after remount %d", cycle));
			ft_ok("%ld operations, remount %d: every file matches the model (%.1f s)",
			      op_index + 1, cycle, ft_now() - t0);
		}
	}
	ft_umount(&mnt);
	ft_ok("final unmount, daemon exited 0");
	for (i = 0; i < NNAMES; i++)
		if (names[i])
			unname(i);
	free(scratch);
	return ft_done();
}
