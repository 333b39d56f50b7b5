/*
 * it_diff: a randomized differential test of names, modes, links, xattrs, ACLs and data:
 * every operation is applied to a directory of the raw backing filesystem (the oracle) and to
 * a frozenfs mount, and the two must answer alike.
 *
 * DESIGN
 * Paths are one to three components from {a, b, c, d}, so operations keep meeting each
 * other's results: a name is a file in one step, a directory or a symlink in the next. Each
 * step draws one operation with its arguments, applies it to the raw side and then to the
 * mount, and compares the two results: 0 or the errno, plus what the operation reads
 * (contents, attributes, a listing, a link target). The operations: mkdir, rmdir, create
 * (with O_EXCL or O_TRUNC, and data), pwrite into an existing file, truncate, unlink, rename
 * with no flag, RENAME_NOREPLACE or RENAME_EXCHANGE (some also with RENAME_WHITEOUT), link,
 * symlink (relative targets only, some dangling, some looping), chmod, set and remove a user
 * xattr, set a default ACL on a directory (nodes created under it inherit it, and it replaces
 * the umask), set an access ACL (the mode's group bits follow its mask), O_APPEND writes,
 * mkfifo, lchown, utimensat (now, or explicit times in 2001 or 2100: only its answer, as
 * times are not compared; but no ctime of the mount may ever go back), umask changes
 * (applied once, to the test process), read, lstat, readlink, readdir, fallocate (allocate,
 * KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE), access(2), open with O_DIRECTORY, O_NOFOLLOW, O_TRUNC
 * or O_PATH, setxattr with XATTR_CREATE or XATTR_REPLACE, listxattr, and ftruncate through a
 * read-only or a write-only descriptor. A quarter of the steps run as user 65534 in a child
 * (the mount has allow_other, dev, and ACLs on), so permissions, the ACLs granting that user
 * access, the owner of what it creates and what it may not change are compared too.
 *
 * Every --check-every operations (default 250) the whole tree of both sides is compared:
 * name, type, mode, size, link count, link target, a hash of the contents, the user xattr and
 * the access and default ACLs of every node. Every --remount-every (default 2000) the mount
 * is unmounted (the daemon must exit 0) and mounted again before that comparison, in turn
 * with a slow flusher, a slow flusher and -o direct_io (reads and writes bypass the kernel's
 * page cache of the mount) and a fast flusher, so the tree read back comes from the backing
 * store and data still queued in the pipeline is read both ways.
 * Times are not compared: the two sides write at different moments. But each stat of the
 * mount checks that the inode's ctime is not earlier than the last one seen. Every open is
 * O_NONBLOCK, so that opening a FIFO answers (ENXIO for a writer without a reader) instead of
 * waiting for the other end.
 *
 * Reproducing: the seed is printed at start; on a difference the seed, the step and the last
 * 20 operations are printed. Run again with --seed=N (and --ops=N); --check-from=STEP compares
 * the trees after every step from STEP on, to find the step that made them differ.
 *
 * Usage: it_diff FROZENFS_BINARY [--seed=N] [--ops=N] [--check-every=N] [--remount-every=N]
 *                                [--check-from=STEP]
 */
#include "fstest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#define HIST		20
#define MAXDATA		(48 * 1024)
#define RES_LEN		1024
#define MAXLINES	4096

enum kind { K_MKDIR, K_RMDIR, K_CREATE, K_PWRITE, K_TRUNCATE, K_UNLINK, K_RENAME, K_LINK,
	    K_SYMLINK, K_CHMOD, K_SETXATTR, K_RMXATTR, K_DEFACL, K_UMASK, K_READ, K_STAT,
	    K_READLINK, K_LIST, K_ACCACL, K_APPEND, K_MKFIFO, K_CHOWN, K_TOUCH, K_FALLOC, K_ACCESS,
	    K_OPEN, K_XATTRFL, K_LISTXATTR, K_FTRUNC, K_NKINDS };

static const char *const kname[K_NKINDS] = {
	"mkdir", "rmdir", "create", "pwrite", "truncate", "unlink", "rename", "link", "symlink",
	"chmod", "setxattr", "removexattr", "default-acl", "umask", "read", "lstat", "readlink",
	"readdir", "access-acl", "append", "mkfifo", "chown", "touch", "fallocate", "access",
	"open", "setxattr-flags", "listxattr", "ftruncate",
};

/* How often each kind is drawn, out of the sum. */
static const int weight[K_NKINDS] = {
	8, 4, 12, 6, 4, 6, 8, 4, 4, 4, 3, 2, 2, 1, 6, 6, 2, 4, 2, 3, 1, 3, 2, 4, 3, 4, 2, 2, 2,
};

struct op {
	enum kind k;
	char p1[16], p2[16];	/* relative paths */
	char target[16];	/* symlink target */
	mode_t mode;
	int flags;
	int sub;		/* a variant, 0..7: fallocate mode, access mask, open flags */
	uint64_t off, len, seed;
	int other;		/* run as user and group 65534, not as root */
};

static uint64_t rng, seed;
static long step;
static char hist[HIST][128];
static char raw_root[PATH_MAX];
static struct ft_mount m;

static const char *const targets[] = { "a", "b", "a/b", "c/d", "d/a/b", "zz", "b/zz" };
static const mode_t modes[] = { 0755, 0700, 0644, 0600, 0777, 02775, 0640, 01777 };
static const mode_t umasks[] = { 022, 077, 002, 0, 027 };

static void rand_path(char *buf, size_t len)
{
	int depth = 1 + (int)ft_rand_below(&rng, 3);
	size_t n = 0;

	for (int i = 0; i < depth; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%c", i ? "/" : "",
				      "abcd"[ft_rand_below(&rng, 4)]);
}

static void draw(struct op *o)
{
	int total = 0, r;

	memset(o, 0, sizeof(*o));
	for (int k = 0; k < K_NKINDS; k++)
		total += weight[k];
	r = (int)ft_rand_below(&rng, (uint64_t)total);
	for (o->k = 0; r >= weight[o->k]; o->k++)
		r -= weight[o->k];
	rand_path(o->p1, sizeof(o->p1));
	rand_path(o->p2, sizeof(o->p2));
	snprintf(o->target, sizeof(o->target), "%s",
		 targets[ft_rand_below(&rng, sizeof(targets) / sizeof(targets[0]))]);
	o->mode = modes[ft_rand_below(&rng, sizeof(modes) / sizeof(modes[0]))];
	o->flags = (int)ft_rand_below(&rng, 3);
	o->sub = (int)ft_rand_below(&rng, 8);
	o->off = ft_rand_below(&rng, 4) == 0 ? ft_rand_below(&rng, MAXDATA) :
					       ft_rand_below(&rng, 3) * 4096;
	o->len = ft_rand_below(&rng, 3) == 0 ? ft_rand_below(&rng, 16) :
					       ft_rand_below(&rng, MAXDATA / 2);
	o->seed = ft_rand(&rng) | 1;
	o->other = ft_rand_below(&rng, 4) == 0;
	if (o->k == K_UMASK)
		o->mode = umasks[ft_rand_below(&rng, sizeof(umasks) / sizeof(umasks[0]))];
}

static void describe(const struct op *o, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s %s %s target=%s mode=%04o flags=%d sub=%d off=%" PRIu64
		 " len=%" PRIu64, o->other ? "(as 65534) " : "", kname[o->k], o->p1, o->p2,
		 o->target, (unsigned)o->mode, o->flags, o->sub, o->off, o->len);
}

static char store_root[PATH_MAX];
static struct op cur;		/* the step's operation, for report() */

/* One line: what lstat of @rel gives under @root now, as root. */
static void report_node(const char *what, const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (lstat(path, &st) < 0)
		fprintf(stderr, "#   %-9s %s: %s\n", what, rel, strerror(errno));
	else
		fprintf(stderr, "#   %-9s %s: mode %06o ino %lu nlink %lu size %lld\n", what, rel,
			(unsigned)st.st_mode, (unsigned long)st.st_ino, (unsigned long)st.st_nlink,
			(long long)st.st_size);
}

static void report(void)
{
	fprintf(stderr, "# it_diff: seed %" PRIu64 " (rerun with --seed=%" PRIu64 "), step %ld; "
		"last operations:\n", seed, seed, step);
	for (long i = step - HIST + 1; i <= step; i++)
		if (i >= 0)
			fprintf(stderr, "#   %ld: %s\n", i, hist[i % HIST]);
	/* Whether the mount or the store below it lost the way: the step's paths now. */
	fprintf(stderr, "# the step's paths now (the store is the mount's backing directory):\n");
	for (int k = 0; k < 2 && raw_root[0] && m.mnt[0]; k++) {
		const char *rel = k ? cur.p2 : cur.p1;

		report_node("raw", raw_root, rel);
		report_node("store", store_root, rel);
		report_node("mount", m.mnt, rel);
	}
}

static uint64_t fnv(const void *buf, size_t len, uint64_t h)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* "0" or the errno's name, for a call that returned < 0 on failure. */
static void rc_str(char *out, long r)
{
	if (r < 0)
		snprintf(out, RES_LEN, "%s", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
	else
		snprintf(out, RES_LEN, "0");
}

/* Contents, as length and hash, of a file read through the path (following links). */
static void read_file(const char *path, char *out)
{
	static uint8_t buf[MAXDATA * 2];
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		rc_str(out, -1);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		rc_str(out, -1);
	else
		snprintf(out, RES_LEN, "len %zd hash %016" PRIx64, n,
			 fnv(buf, (size_t)n, 0xcbf29ce484222325ULL));
	close(fd);
}

static const char *ftype(mode_t mode)
{
	return S_ISREG(mode) ? "file" : S_ISDIR(mode) ? "dir" : S_ISLNK(mode) ? "symlink" :
	       S_ISFIFO(mode) ? "fifo" : "?";
}

/* The xattrs and ACLs of @path (not following a symlink), appended to @out. */
static void xattrs(const char *path, char *out, size_t len)
{
	static const char *const names[] = { "user.k", "system.posix_acl_access",
					     "system.posix_acl_default" };
	uint8_t v[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ssize_t n = lgetxattr(path, names[i], v, sizeof(v));
		size_t used = strlen(out);

		if (n >= 0)
			snprintf(out + used, len - used, " %s=%016" PRIx64, names[i],
				 fnv(v, (size_t)n, 0xcbf29ce484222325ULL));
	}
}

/*
 * Times differ between the sides, but a ctime never goes back: the latest ctime seen of each
 * inode of the mount (open addressing by inode number; a reused number belongs to a newer
 * inode, whose ctime is later still). Catches a status change hidden behind an older write
 * time, and a ctime shown from an explicit mtime that later falls back to the real one.
 */
#define CT_SLOTS 8192
static struct { ino_t ino; struct timespec c; } ct_seen[CT_SLOTS];

static void check_ctime(const char *path, const struct stat *st)
{
	size_t mlen = strlen(m.mnt), k = (size_t)st->st_ino % CT_SLOTS;

	if (strncmp(path, m.mnt, mlen) || path[mlen] != '/')
		return;
	for (size_t n = 0; n < CT_SLOTS && ct_seen[k].ino && ct_seen[k].ino != st->st_ino; n++)
		k = (k + 1) % CT_SLOTS;
	if (ct_seen[k].ino == st->st_ino &&
	    (st->st_ctim.tv_sec < ct_seen[k].c.tv_sec ||
	     (st->st_ctim.tv_sec == ct_seen[k].c.tv_sec &&
	      st->st_ctim.tv_nsec < ct_seen[k].c.tv_nsec)))
		ft_fail("step %ld: the ctime of %s went back from %lld.%09ld to %lld.%09ld", step,
			path, (long long)ct_seen[k].c.tv_sec, ct_seen[k].c.tv_nsec,
			(long long)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
	if (!ct_seen[k].ino && st->st_ino) {
		ct_seen[k].ino = st->st_ino;
		ct_seen[k].c = st->st_ctim;
	} else if (ct_seen[k].ino == st->st_ino) {
		ct_seen[k].c = st->st_ctim;
	}
}

static void attrs(const char *path, char *out)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		rc_str(out, -1);
		return;
	}
	check_ctime(path, &st);
	snprintf(out, RES_LEN, "%s mode %04o nlink %lu uid %u gid %u size %lld",
		 ftype(st.st_mode), (unsigned)(st.st_mode & 07777), (unsigned long)st.st_nlink,
		 (unsigned)st.st_uid, (unsigned)st.st_gid,
		 S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
	xattrs(path, out, RES_LEN);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* @names[0..n) sorted, each followed by a space, into @out. */
static void join_sorted(char **names, int n, char *out)
{
	size_t used = 0;

	qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
	out[0] = 0;
	for (int i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, RES_LEN - used, "%s ", names[i]);
}

static void list_dir(const char *path, char *out)
{
	char *names[64];
	int n = 0;
	struct dirent *e;
	DIR *d = opendir(path);

	if (!d) {
		rc_str(out, -1);
		return;
	}
	while ((e = readdir(d)) && n < 64)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			names[n++] = strdup(e->d_name);
	closedir(d);
	join_sorted(names, n, out);
	for (int i = 0; i < n; i++)
		free(names[i]);
}

static void fill(uint8_t *buf, size_t len, uint64_t from)
{
	uint64_t s = from;

	ft_rand_fill(&s, buf, len);
}

/*
 * An ACL granting user 65534 everything (xattr form, linux/posix_acl_xattr.h), as the
 * default ACL or the access ACL (which also sets the mode's group bits to the mask) of @path.
 */
static int set_acl(const char *path, const char *name)
{
	static const uint32_t acl[] = {
		2,
		0x01 | 7u << 16, 0xffffffffu,	/* user::rwx */
		0x02 | 7u << 16, 65534,		/* user:65534:rwx */
		0x04 | 5u << 16, 0xffffffffu,	/* group::r-x */
		0x10 | 7u << 16, 0xffffffffu,	/* mask::rwx */
		0x20 | 5u << 16, 0xffffffffu,	/* other::r-x */
	};

	return setxattr(path, name, acl, sizeof(acl), 0);
}

/* The names listxattr gives @path (not following a symlink), sorted, into @out. */
static void list_xattrs(const char *path, char *out)
{
	char names[1024], *v[32];
	ssize_t n = llistxattr(path, names, sizeof(names));
	int nv = 0;

	if (n < 0) {
		rc_str(out, -1);
		return;
	}
	for (char *p = names; p < names + n && nv < 32; p += strlen(p) + 1)
		v[nv++] = p;
	join_sorted(v, nv, out);
}

/* fallocate modes, and open flags beyond the plain ones, for K_FALLOC and K_OPEN. */
static const int fmodes[5] = {
	0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE,
	FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
};
static const int oflags[8] = {
	O_RDONLY, O_WRONLY, O_RDWR, O_RDONLY | O_DIRECTORY, O_WRONLY | O_NOFOLLOW,
	O_RDONLY | O_TRUNC, O_RDWR | O_TRUNC, O_PATH | O_NOFOLLOW,
};

static uint8_t buf[MAXDATA];

/* What the operations that write through a descriptor do with it (-1 and errno on failure). */
static long act_create(int fd, const struct op *o)
{
	fill(buf, o->len, o->seed);
	return pwrite(fd, buf, o->len, 0);
}

static long act_pwrite(int fd, const struct op *o)
{
	fill(buf, o->len, o->seed);
	return pwrite(fd, buf, o->len, (off_t)o->off);
}

static long act_append(int fd, const struct op *o)
{
	fill(buf, o->len % 9000, o->seed);
	return write(fd, buf, o->len % 9000);
}

static long act_falloc(int fd, const struct op *o)
{
	return fallocate(fd, fmodes[o->sub % 5], (off_t)o->off, (off_t)(o->len ? o->len : 1));
}

static long act_ftrunc(int fd, const struct op *o)
{
	return ftruncate(fd, (off_t)o->off);
}

/* Opens @path, applies @act to the descriptor and closes it; @out gets each failure. */
static void with_fd(const char *path, int flags, mode_t mode, const struct op *o, char *out,
		    long (*act)(int fd, const struct op *o))
{
	int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, mode);

	if (fd < 0) {
		rc_str(out, -1);
		return;
	}
	rc_str(out, act(fd, o) < 0 ? -1 : 0);
	if (close(fd) < 0)
		rc_str(out, -1);
}

/* Applies @o under @root and describes what it returned and read into @out. */
static void apply(const char *root, const struct op *o, char *out)
{
	char p1[PATH_MAX], p2[PATH_MAX];
	static const unsigned rflags[3] = { 0, RENAME_NOREPLACE, RENAME_EXCHANGE };
	ssize_t n;
	int fd;

	ft_pathf(p1, sizeof(p1), "%s/%s", root, o->p1);
	ft_pathf(p2, sizeof(p2), "%s/%s", root, o->p2);
	switch (o->k) {
	case K_MKDIR:
		rc_str(out, mkdir(p1, o->mode));
		break;
	case K_RMDIR:
		rc_str(out, rmdir(p1));
		break;
	case K_CREATE:
		with_fd(p1, O_CREAT | O_WRONLY |
			    (o->flags == 1 ? O_EXCL : o->flags == 2 ? O_TRUNC : 0), o->mode, o, out,
			act_create);
		break;
	case K_PWRITE:
		with_fd(p1, O_WRONLY, 0, o, out, act_pwrite);
		break;
	case K_TRUNCATE:
		rc_str(out, truncate(p1, (off_t)o->off));
		break;
	case K_UNLINK:
		rc_str(out, unlink(p1));
		break;
	case K_RENAME:
		/* sub 7: RENAME_WHITEOUT, alone or with the flag drawn (EINVAL with EXCHANGE) */
		rc_str(out, renameat2(AT_FDCWD, p1, AT_FDCWD, p2,
				      rflags[o->flags] | (o->sub == 7 ? RENAME_WHITEOUT : 0)));
		break;
	case K_LINK:
		rc_str(out, link(p1, p2));
		break;
	case K_SYMLINK:
		rc_str(out, symlink(o->target, p1));
		break;
	case K_CHMOD:
		rc_str(out, chmod(p1, o->mode));
		break;
	case K_SETXATTR:
		fill(buf, o->len % 200, o->seed);
		rc_str(out, lsetxattr(p1, "user.k", buf, o->len % 200, 0));
		break;
	case K_RMXATTR:
		rc_str(out, lremovexattr(p1, "user.k"));
		break;
	case K_DEFACL:
		rc_str(out, set_acl(p1, "system.posix_acl_default"));
		break;
	case K_ACCACL:
		rc_str(out, set_acl(p1, "system.posix_acl_access"));
		break;
	case K_APPEND:
		with_fd(p1, O_WRONLY | O_APPEND, 0, o, out, act_append);
		break;
	case K_MKFIFO:
		rc_str(out, mknod(p1, S_IFIFO | o->mode, 0));
		break;
	case K_CHOWN:
		/* flags picks the owner: root, 65534, or unchanged with group 65534 */
		rc_str(out, lchown(p1, o->flags == 0 ? 0 : o->flags == 1 ? 65534 : (uid_t)-1,
				   o->flags == 2 ? 65534 : (gid_t)-1));
		break;
	case K_TOUCH: {
		/* Now, or explicit times (the owner only) in 2100 or 2001: touch -d. */
		struct timespec when[2] = { { o->sub < 6 ? 4102444800 : 1000000000, 0 },
					    { o->sub < 6 ? 4102444800 : 1000000000, 0 } };

		rc_str(out, utimensat(AT_FDCWD, p1, o->sub < 4 ? NULL : when, 0));
		break;
	}
	case K_FALLOC:
		with_fd(p1, O_WRONLY, 0, o, out, act_falloc);
		break;
	case K_ACCESS:
		rc_str(out, access(p1, o->sub ? o->sub : F_OK));
		break;
	case K_OPEN:
		fd = open(p1, oflags[o->sub] | O_NONBLOCK | O_CLOEXEC);
		rc_str(out, fd);
		if (fd >= 0 && close(fd) < 0)
			rc_str(out, -1);
		break;
	case K_XATTRFL:
		fill(buf, o->len % 200, o->seed);
		rc_str(out, lsetxattr(p1, "user.k", buf, o->len % 200,
				      o->flags == 2 ? 0 : o->flags ? XATTR_REPLACE : XATTR_CREATE));
		break;
	case K_LISTXATTR:
		list_xattrs(p1, out);
		break;
	case K_FTRUNC:
		with_fd(p1, o->flags ? O_WRONLY : O_RDONLY, 0, o, out, act_ftrunc);
		break;
	case K_UMASK:
		snprintf(out, RES_LEN, "-");	/* applied once, by the caller */
		break;
	case K_READ:
		read_file(p1, out);
		break;
	case K_STAT:
		attrs(p1, out);
		break;
	case K_READLINK:
		n = readlink(p1, (char *)buf, sizeof(buf) - 1);
		if (n < 0) {
			rc_str(out, -1);
		} else {
			snprintf(out, RES_LEN, "-> %.*s", (int)(n < 256 ? n : 256), (char *)buf);
		}
		break;
	case K_LIST:
		list_dir(p1, out);
		break;
	case K_NKINDS:
		break;
	}
}

/* apply(), as user and group 65534 in a child when @o says so. */
static void apply_as(const char *root, const struct op *o, char *out)
{
	int pfd[2], st;
	ssize_t n;
	pid_t pid;

	if (!o->other || o->k == K_UMASK) {
		apply(root, o, out);
		return;
	}
	FT_SYS(pipe(pfd));
	pid = FT_SYS(fork());
	if (pid == 0) {
		char res[RES_LEN];

		close(pfd[0]);
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(2);
		apply(root, o, res);
		_exit(write(pfd[1], res, strlen(res) + 1) > 0 ? 0 : 3);
	}
	close(pfd[1]);
	n = read(pfd[0], out, RES_LEN - 1);
	close(pfd[0]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || n <= 0)
		ft_fail("step %ld: the child acting as user 65534 failed (status %d)", step, st);
	out[n] = 0;
}

/* ---- whole-tree comparison ---------------------------------------------------------------- */

struct tree {
	char *line[MAXLINES];
	int n;
};

static void walk(const char *root, const char *rel, struct tree *t)
{
	char path[PATH_MAX], res[RES_LEN], sub[PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;

	ft_pathf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	d = opendir(path);
	if (!d)
		ft_fail("opendir %s: %s", path, strerror(errno));
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		ft_pathf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
		ft_pathf(path, sizeof(path), "%s/%s", root, sub);
		attrs(path, res);
		FT_SYS(lstat(path, &st));
		if (S_ISREG(st.st_mode)) {
			char data[RES_LEN];
			size_t used = strlen(res);

			read_file(path, data);
			snprintf(res + used, sizeof(res) - used, " %.64s", data);
		} else if (S_ISLNK(st.st_mode)) {
			char target[64];
			ssize_t n = readlink(path, target, sizeof(target) - 1);
			size_t used = strlen(res);

			target[n < 0 ? 0 : n] = 0;
			snprintf(res + used, sizeof(res) - used, " -> %s", target);
		}
		if (t->n == MAXLINES)
			ft_fail("tree too large");
		t->line[t->n++] = strdup(ft_fmt("%s: %s", sub, res));
		if (S_ISDIR(st.st_mode))
			walk(root, sub, t);
	}
	closedir(d);
}

static void tree_free(struct tree *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->line[i]);
	t->n = 0;
}

static void compare_trees(const char *why)
{
	static struct tree a, b;
	int diffs = 0;

	walk(raw_root, "", &a);
	walk(m.mnt, "", &b);
	qsort(a.line, (size_t)a.n, sizeof(a.line[0]), name_cmp);
	qsort(b.line, (size_t)b.n, sizeof(b.line[0]), name_cmp);
	for (int i = 0; i < a.n || i < b.n; i++) {
		const char *x = i < a.n ? a.line[i] : "(none)";
		const char *y = i < b.n ? b.line[i] : "(none)";

		if (strcmp(x, y)) {
			fprintf(stderr, "#   raw:      %s\n#   frozenfs: %s\n", x, y);
			if (++diffs == 10)
				break;
		}
	}
	if (diffs)
		ft_fail("step %ld (%s): the trees differ (lines above)", step, why);
	tree_free(&a);
	tree_free(&b);
}

int main(int argc, char **argv)
{
	long nops, check_every, remount_every, check_from;
	char mp[PATH_MAX], opts[128], ra[RES_LEN], rb[RES_LEN];
	int nremounts = 0;

	ft_init(argc, argv);
	ft_set_fail_hook(report);
	seed = ft_seed();
	nops = ft_arg_long("ops", 10000, 0);
	check_every = ft_arg_long("check-every", 250, 1);
	check_from = ft_arg_long("check-from", -1, -1);
	remount_every = ft_arg_long("remount-every", 2000, 1);
	rng = seed ? seed : 1;
	printf("# it_diff: seed %" PRIu64 " (rerun with --seed=%" PRIu64 "), %ld operations\n",
	       seed, seed, nops);

	ft_pathf(raw_root, sizeof(raw_root), "%s/raw", ft_tmpdir());
	ft_pathf(store_root, sizeof(store_root), "%s/store", ft_tmpdir());
	ft_pathf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	FT_SYS(mkdir(raw_root, 0755));
	/* Other users reach both sides: the temporary directory is private. */
	FT_SYS(chmod(ft_tmpdir(), 0755));
	ft_mount(&m, store_root, mp, "allow_other,dev,chunk_size=4096,flush_interval_ms=20");
	FT_SYS(chmod(m.mnt, 0755));
	umask(022);

	ft_check("%ld random operations on raw ext4 and on frozenfs answer alike", nops);
	for (step = 0; step < nops; step++) {
		struct op o;

		draw(&o);
		cur = o;
		describe(&o, hist[step % HIST], sizeof(hist[0]));
		if (o.k == K_UMASK)
			umask(o.mode);
		apply_as(raw_root, &o, ra);
		apply_as(m.mnt, &o, rb);
		if (strcmp(ra, rb))
			ft_fail("step %ld: %s: raw gave '%s', frozenfs '%s'", step,
				hist[step % HIST], ra, rb);
		if ((step + 1) % remount_every == 0) {
			ft_umount(&m);
			static const char *const rot[] = { "flush_interval_ms=10000",
				"flush_interval_ms=10000,direct_io", "flush_interval_ms=20" };
			snprintf(opts, sizeof(opts), "allow_other,dev,chunk_size=4096,%s",
				 rot[nremounts++ % 3]);
			ft_mount(&m, store_root, mp, opts);
			compare_trees("after a remount");
		} else if ((step + 1) % check_every == 0 || (check_from >= 0 && step >= check_from)) {
			compare_trees("periodic check");
		}
	}
	compare_trees("at the end");
	ft_ok("%ld operations, %d remounts, the same answers and the same tree", nops,
	      nremounts);
	ft_umount(&m);
	ft_mount(&m, store_root, mp, "allow_other,dev,chunk_size=4096");
	compare_trees("after the last remount");
	ft_umount(&m);
	return ft_done();
}
