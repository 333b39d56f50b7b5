/*
 * it_posix: a POSIX conformance battery, run on the raw backing filesystem and on a frozenfs
 * mount of it, compared line by line.
 *
 * Each case states what POSIX (or Linux, where POSIX leaves a choice) expects: an errno, or
 * success. The battery runs twice, first in a directory of the raw backing filesystem (the
 * oracle), then on a frozenfs mount (`allow_other,default_permissions`, as users mount it for
 * others). It fails when a case gives something else than expected on either side, and when
 * the two transcripts differ: the transcript also records what POSIX leaves to the
 * implementation (ownership of new files, setgid inheritance, which times an operation
 * changes, nlink of directories, readdir contents, mode bits a write clears), where frozenfs
 * must behave as the filesystem below it.
 *
 * Covered: O_CREAT|O_EXCL (also on a dangling symlink), ENOENT, EISDIR, ENOTDIR, ELOOP,
 * O_NOFOLLOW, ENAMETOOLONG, mkdir/rmdir/unlink errors, every rename error, rename of two links
 * of one file, hard links and nlink, directory nlink, permissions of another user (open,
 * access, create in a read-only directory, truncate), the sticky directory, chmod and chown
 * by a non-owner, setgid directory inheritance, set-user-ID cleared by a write (and
 * set-group-ID without group execute, for a writer outside the file's group), ftruncate
 * errors, utimensat (UTIME_NOW, UTIME_OMIT, explicit times, by a non-owner), O_APPEND, FIFOs
 * and device nodes, symlink size and readlink, unlink of an open file, readdir, which of
 * atime/mtime/ctime each operation changes on the file and on its directory, and POSIX ACLs:
 * named user and group entries and the mask granting and denying access to other users, the
 * mask after a chmod, set-group-ID lost by setting an ACL outside the file's group, a default
 * ACL replacing the umask for new files, directories and FIFOs
 * (and the umask applying without one), -o noacl, and a backing filesystem without ACLs
 * (ramfs), where the modes decide.
 *
 * Usage: it_posix FROZENFS_BINARY (run as root: it acts as two other users too)
 */
#include "fstest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <grp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define U1 65534	/* two unprivileged users (nobody and one below it) */
#define U2 65533
#define G1 65534
#define G2 65533
#define MAXLINES 1024

struct side {
	const char *name;	/* "raw" or "frozenfs" */
	char root[PATH_MAX];	/* the battery's directory on this side */
	char *line[MAXLINES];	/* the transcript */
	int n;
	int nbattery;		/* lines of the battery itself (n grows after it) */
	int bad;		/* cases that gave something unexpected */
};

static struct side *S;		/* the side running now */

static const char *p(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;

	k = (k + 1) % 4;
	if (snprintf(buf[k], sizeof(buf[k]), "%s/%s", S->root, name) >= (int)sizeof(buf[k]))
		ft_fail("path too long");
	return buf[k];
}

__attribute__((format(printf, 1, 2)))
static void note(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (S->n == MAXLINES)
		ft_fail("transcript too long");
	S->line[S->n++] = strdup(buf);
}

static const char *ename(int e)
{
	static char buf[32];

	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EBADF: return "EBADF";
	case EACCES: return "EACCES";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ELOOP: return "ELOOP";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EFBIG: return "EFBIG";
	case EROFS: return "EROFS";
	case ENODATA: return "ENODATA";
	default:
		snprintf(buf, sizeof(buf), "errno %d", e);
		return buf;
	}
}

/* Records case @what with result @got (0 or an errno); @want is what POSIX expects. */
static void expect(const char *what, int got, int want)
{
	note("%s -> %s", what, ename(got));
	if (got != want) {
		fprintf(stderr, "# %s: %s: got %s, expected %s\n", S->name, what, ename(got),
			ename(want));
		S->bad++;
	}
}

/* errno of a call returning < 0 on failure, else 0 (closing a returned fd). */
#define R(call) res_((long)(call))
static int res_(long r)
{
	return r < 0 ? errno : 0;
}
#define ROPEN(call) ropen_((int)(call))
static int ropen_(int fd)
{
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* The xattr form of a POSIX ACL (linux/posix_acl_xattr.h), so no libacl is needed. */
enum { A_USER_OBJ = 0x01, A_USER = 0x02, A_GROUP_OBJ = 0x04, A_GROUP = 0x08, A_MASK = 0x10,
       A_OTHER = 0x20 };
struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

#define NOID 0xffffffffu
#define ACL_MAX 16

/* user::rwx user:U1:rwx group::r-x mask::rwx other::r-x */
static const struct acl_ent acl_u1_rwx[] = {
	{ A_USER_OBJ, 7, NOID }, { A_USER, 7, U1 }, { A_GROUP_OBJ, 5, NOID },
	{ A_MASK, 7, NOID }, { A_OTHER, 5, NOID },
};

/* The xattr value of the ACL @e[0..n) (sorted by tag, then id) into @buf; its length. */
static size_t acl_xattr(unsigned char buf[4 + 8 * ACL_MAX], const struct acl_ent *e, int n)
{
	uint32_t version = 2;

	memcpy(buf, &version, 4);
	memcpy(buf + 4, e, 8 * (size_t)n);
	return 4 + 8 * (size_t)n;
}

/* ---- acting as another user ------------------------------------------------------------- */

enum uop { U_OPEN, U_CREATE, U_UNLINK, U_CHMOD, U_CHOWN, U_UTIMES_NOW, U_UTIMES_SET,
	   U_ACCESS, U_TRUNCATE, U_MKDIR, U_WRITE, U_RENAME, U_SETACL, U_FALLOCATE };

/* Runs one operation as @uid/@gid in a child; returns 0 or its errno. */
static int as_user(uid_t uid, gid_t gid, enum uop op, const char *a, const char *b, long n)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		ft_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int r = 0, fd;

		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			_exit(200);
		errno = 0;
		switch (op) {
		case U_OPEN: r = ropen_(open(a, (int)n | O_CLOEXEC)); break;
		case U_CREATE: r = ropen_(open(a, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, (mode_t)n)); break;
		case U_UNLINK: r = res_(unlink(a)); break;
		case U_CHMOD: r = res_(chmod(a, (mode_t)n)); break;
		case U_CHOWN: r = res_(chown(a, (uid_t)n, (gid_t)-1)); break;
		case U_UTIMES_NOW: r = res_(utimensat(AT_FDCWD, a, NULL, 0)); break;
		case U_UTIMES_SET: {
			struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

			r = res_(utimensat(AT_FDCWD, a, ts, 0));
			break;
		}
		case U_ACCESS: r = res_(access(a, (int)n)); break;
		case U_TRUNCATE: r = res_(truncate(a, n)); break;
		case U_MKDIR: r = res_(mkdir(a, (mode_t)n)); break;
		case U_WRITE:
		case U_FALLOCATE:	/* n: the mode, over bytes 0..4095 */
			fd = open(a, O_WRONLY | O_CLOEXEC);
			if (fd < 0) {
				r = errno;
				break;
			}
			if (op == U_WRITE)
				r = write(fd, "data", 4) == 4 ? 0 : errno;
			else
				r = res_(fallocate(fd, (int)n, 0, 4096));
			close(fd);
			break;
		case U_RENAME: r = res_(rename(a, b)); break;
		case U_SETACL: {
			unsigned char x[4 + 8 * ACL_MAX];

			r = res_(setxattr(a, "system.posix_acl_access", x,
					  acl_xattr(x, acl_u1_rwx, 5), 0));
			break;
		}
		}
		_exit(r);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) == 200)
		ft_fail("%s: child as uid %u failed to run", S->name, (unsigned)uid);
	return WEXITSTATUS(st);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void mkfile(const char *name, mode_t mode, const char *data)
{
	int fd = FT_SYS(open(p(name), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode));

	if (data)
		ft_pwrite_all(fd, data, strlen(data), 0);
	close(fd);
	FT_SYS(chmod(p(name), mode));	/* no umask */
}

/* An empty file owned by @uid and @gid, with @mode (set again: chown clears set-ID bits). */
static void mkfile_owned(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	mkfile(name, mode, NULL);
	FT_SYS(chown(p(name), uid, gid));
	FT_SYS(chmod(p(name), mode));
}

static struct stat st_of(const char *name)
{
	struct stat st;

	FT_SYS(lstat(p(name), &st));
	return st;
}

static const char *ftype(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" :
	       S_ISFIFO(m) ? "fifo" : S_ISCHR(m) ? "chardev" : S_ISBLK(m) ? "blockdev" :
	       S_ISSOCK(m) ? "socket" : "?";
}

/* Records the attributes POSIX leaves to the filesystem: frozenfs must match the raw side. */
static void note_attrs(const char *name)
{
	struct stat st = st_of(name);

	note("attrs %s: %s mode %04o nlink %lu uid %u gid %u size %lld", name, ftype(st.st_mode),
	     (unsigned)(st.st_mode & 07777), (unsigned long)st.st_nlink, (unsigned)st.st_uid,
	     (unsigned)st.st_gid, S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
}

static int ts_cmp(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec ? (a.tv_sec < b.tv_sec ? -1 : 1) :
	       a.tv_nsec != b.tv_nsec ? (a.tv_nsec < b.tv_nsec ? -1 : 1) : 0;
}

/* Timestamps move in coarse steps: make the next change land on a later tick. */
static void tick(void)
{
	struct timespec ts = { 0, 30 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

struct times {
	struct stat f, d;
};

static struct times times_of(const char *file, const char *dir)
{
	struct times t = { st_of(file), st_of(dir) };

	return t;
}

/* Records which of mtime/ctime of @file and its directory @dir changed since @t0. */
static void note_changed(const char *op, const char *file, const char *dir, struct times t0)
{
	struct times t = times_of(file, dir);

	note("times after %s: file mtime %s ctime %s, dir mtime %s ctime %s", op,
	     ts_cmp(t.f.st_mtim, t0.f.st_mtim) ? "changed" : "same",
	     ts_cmp(t.f.st_ctim, t0.f.st_ctim) ? "changed" : "same",
	     ts_cmp(t.d.st_mtim, t0.d.st_mtim) ? "changed" : "same",
	     ts_cmp(t.d.st_ctim, t0.d.st_ctim) ? "changed" : "same");
}

/* ---- the battery ------------------------------------------------------------------------ */

static void open_errors(void)
{
	char longname[300];

	mkfile("f", 0644, "hello");
	FT_SYS(mkdir(p("d"), 0755));
	FT_SYS(symlink("nowhere", p("dangling")));
	FT_SYS(symlink("loop2", p("loop1")));
	FT_SYS(symlink("loop1", p("loop2")));
	FT_SYS(symlink("f", p("lf")));
	expect("open O_CREAT|O_EXCL of an existing file",
	       ROPEN(open(p("f"), O_CREAT | O_EXCL | O_WRONLY, 0644)), EEXIST);
	expect("open O_CREAT|O_EXCL of a dangling symlink",
	       ROPEN(open(p("dangling"), O_CREAT | O_EXCL | O_WRONLY, 0644)), EEXIST);
	expect("open of a missing file", ROPEN(open(p("missing"), O_RDONLY)), ENOENT);
	expect("open of a directory for writing", ROPEN(open(p("d"), O_WRONLY)), EISDIR);
	expect("open O_DIRECTORY of a file", ROPEN(open(p("f"), O_RDONLY | O_DIRECTORY)), ENOTDIR);
	expect("open through a file (f/x)", ROPEN(open(p("f/x"), O_RDONLY)), ENOTDIR);
	expect("open of a symlink loop", ROPEN(open(p("loop1"), O_RDONLY)), ELOOP);
	expect("open O_NOFOLLOW of a symlink", ROPEN(open(p("lf"), O_RDONLY | O_NOFOLLOW)), ELOOP);
	expect("open of a symlink to a file", ROPEN(open(p("lf"), O_RDONLY)), 0);
	memset(longname, 'n', 255);
	longname[255] = 0;
	expect("create a 255-byte name", ROPEN(open(p(longname), O_CREAT | O_WRONLY, 0644)), 0);
	expect("unlink it", R(unlink(p(longname))), 0);
	memset(longname, 'n', 256);
	longname[256] = 0;
	expect("create a 256-byte name", ROPEN(open(p(longname), O_CREAT | O_WRONLY, 0644)),
	       ENAMETOOLONG);
	expect("symlink with an empty target", R(symlink("", p("empty"))), ENOENT);
}

static void dir_errors(void)
{
	mkfile("d/inside", 0644, NULL);
	expect("mkdir of an existing name", R(mkdir(p("d"), 0755)), EEXIST);
	expect("mkdir of an existing file", R(mkdir(p("f"), 0755)), EEXIST);
	expect("rmdir of a non-empty directory", R(rmdir(p("d"))), ENOTEMPTY);
	expect("rmdir of a file", R(rmdir(p("f"))), ENOTDIR);
	expect("rmdir of d/.", R(rmdir(p("d/."))), EINVAL);
	expect("unlink of a directory", R(unlink(p("d"))), EISDIR);
	expect("unlink of a missing name", R(unlink(p("missing"))), ENOENT);
	FT_SYS(mkdir(p("nl"), 0755));
	note_attrs("nl");
	FT_SYS(mkdir(p("nl/a"), 0755));
	FT_SYS(mkdir(p("nl/b"), 0755));
	note_attrs("nl");
	FT_SYS(rmdir(p("nl/a")));
	note_attrs("nl");
	expect("rmdir of an empty directory", R(rmdir(p("nl/b"))), 0);
}

static void rename_cases(void)
{
	FT_SYS(mkdir(p("r"), 0755));
	mkfile("r/file", 0644, "one");
	mkfile("r/file2", 0644, "two");
	FT_SYS(mkdir(p("r/dir"), 0755));
	FT_SYS(mkdir(p("r/full"), 0755));
	mkfile("r/full/x", 0644, NULL);
	FT_SYS(mkdir(p("r/empty"), 0755));
	FT_SYS(mkdir(p("r/dir/sub"), 0755));
	expect("rename a file over a directory", R(rename(p("r/file"), p("r/dir"))), EISDIR);
	expect("rename a directory over a file", R(rename(p("r/dir"), p("r/file"))), ENOTDIR);
	expect("rename a directory over a non-empty one", R(rename(p("r/dir"), p("r/full"))),
	       ENOTEMPTY);
	expect("rename a directory into its own subdirectory",
	       R(rename(p("r/dir"), p("r/dir/sub/in"))), EINVAL);
	expect("rename of a missing name", R(rename(p("r/missing"), p("r/x"))), ENOENT);
	expect("rename a file to itself", R(rename(p("r/file"), p("r/file"))), 0);
	FT_SYS(link(p("r/file"), p("r/hard")));
	expect("rename one link of a file over another link of it",
	       R(rename(p("r/file"), p("r/hard"))), 0);
	note("after it, file %s, hard %s", access(p("r/file"), F_OK) == 0 ? "exists" : "gone",
	     access(p("r/hard"), F_OK) == 0 ? "exists" : "gone");
	expect("rename a directory over an empty one", R(rename(p("r/dir"), p("r/empty"))), 0);
	note_attrs("r/empty");
	expect("rename a file over a file", R(rename(p("r/file2"), p("r/hard"))), 0);
	note_attrs("r/hard");
	{
		char buf[8] = { 0 };
		int fd = FT_SYS(open(p("r/hard"), O_RDONLY));

		FT_SYS(read(fd, buf, sizeof(buf) - 1));
		close(fd);
		note("content after rename over: %s", buf);
	}
}

static void link_cases(void)
{
	struct times t0;

	mkfile("l", 0644, "abc");
	note_attrs("l");
	t0 = times_of("l", ".");
	tick();
	expect("link a file", R(link(p("l"), p("l2"))), 0);
	note_attrs("l");
	note_changed("link", "l", ".", t0);
	expect("link over an existing name", R(link(p("l"), p("f"))), EEXIST);
	expect("link a directory", R(link(p("d"), p("d2"))), EPERM);
	expect("link a missing file", R(link(p("missing"), p("m2"))), ENOENT);
	expect("unlink one link", R(unlink(p("l2"))), 0);
	note_attrs("l");
}

/* Makes @dir (group @gid, @mode), where user 1 then creates @file and @sub. */
static void shared_dir(const char *dir, gid_t gid, mode_t mode, const char *file,
		       const char *sub, const char *what)
{
	FT_SYS(mkdir(p(dir), 0777));
	FT_SYS(chown(p(dir), 0, gid));
	FT_SYS(chmod(p(dir), mode));
	expect(ft_fmt("user 1 creates a file in %s", what),
	       as_user(U1, G1, U_CREATE, p(file), NULL, 0644), 0);
	note_attrs(file);
	expect(ft_fmt("user 1 makes a directory in %s", what),
	       as_user(U1, G1, U_MKDIR, p(sub), NULL, 0755), 0);
	note_attrs(sub);
}

static void perm_cases(void)
{
	FT_SYS(mkdir(p("perm"), 0755));
	mkfile("perm/private", 0600, "secret");
	mkfile("perm/public", 0644, "shared");
	expect("another user opens a 0600 file", as_user(U1, G1, U_OPEN, p("perm/private"),
								 NULL, O_RDONLY), EACCES);
	expect("another user reads a 0644 file", as_user(U1, G1, U_OPEN, p("perm/public"),
								 NULL, O_RDONLY), 0);
	expect("another user opens a 0644 file for writing",
	       as_user(U1, G1, U_OPEN, p("perm/public"), NULL, O_WRONLY), EACCES);
	expect("another user: access(W_OK) of a 0644 file",
	       as_user(U1, G1, U_ACCESS, p("perm/public"), NULL, W_OK), EACCES);
	expect("another user: access(R_OK)", as_user(U1, G1, U_ACCESS, p("perm/public"), NULL,
						     R_OK), 0);
	expect("another user creates in a 0755 directory",
	       as_user(U1, G1, U_CREATE, p("perm/new"), NULL, 0644), EACCES);
	expect("another user truncates a 0644 file",
	       as_user(U1, G1, U_TRUNCATE, p("perm/public"), NULL, 0), EACCES);
	expect("another user chmods a file it does not own",
	       as_user(U1, G1, U_CHMOD, p("perm/public"), NULL, 0666), EPERM);
	expect("another user chowns a file it does not own",
	       as_user(U1, G1, U_CHOWN, p("perm/public"), NULL, U1), EPERM);
	expect("another user: utimensat(NULL) without write permission",
	       as_user(U1, G1, U_UTIMES_NOW, p("perm/public"), NULL, 0), EACCES);
	expect("another user: utimensat(times) of a file it does not own",
	       as_user(U1, G1, U_UTIMES_SET, p("perm/public"), NULL, 0), EPERM);
	expect("root opens a 0000 file", (FT_SYS(chmod(p("perm/private"), 0)),
					   ROPEN(open(p("perm/private"), O_RDONLY))), 0);

	/* A directory everyone may write, with the sticky bit. */
	shared_dir("tmp", 0, 01777, "tmp/u1file", "tmp/u1dir", "a sticky directory");
	expect("user 2 unlinks user 1's file in a sticky directory",
	       as_user(U2, G2, U_UNLINK, p("tmp/u1file"), NULL, 0), EPERM);
	expect("user 2 renames user 1's file in a sticky directory",
	       as_user(U2, G2, U_RENAME, p("tmp/u1file"), p("tmp/stolen"), 0), EPERM);
	expect("user 1 chowns its own file to user 2",
	       as_user(U1, G1, U_CHOWN, p("tmp/u1file"), NULL, U2), EPERM);
	expect("user 1 chmods its own file", as_user(U1, G1, U_CHMOD, p("tmp/u1file"), NULL,
						     0640), 0);
	note_attrs("tmp/u1file");
	expect("user 1 sets times of its own file",
	       as_user(U1, G1, U_UTIMES_SET, p("tmp/u1file"), NULL, 0), 0);
	note("mtime of tmp/u1file: %lld", (long long)st_of("tmp/u1file").st_mtim.tv_sec);

	/* Set-user-ID is cleared when someone other than root writes. */
	expect("user 1 sets mode 04755 on its file",
	       as_user(U1, G1, U_CHMOD, p("tmp/u1file"), NULL, 04755), 0);
	expect("user 1 writes it", as_user(U1, G1, U_WRITE, p("tmp/u1file"), NULL, 0), 0);
	note_attrs("tmp/u1file");
	expect("user 1 truncates it", as_user(U1, G1, U_TRUNCATE, p("tmp/u1file"), NULL, 1), 0);
	note_attrs("tmp/u1file");
	/* fallocate changes the file too (file_modified), in every mode, even KEEP_SIZE. */
	for (int k = 0; k < 3; k++) {
		static const int fmode[3] = { FALLOC_FL_KEEP_SIZE, 0,
					      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE };

		expect("user 1 sets mode 06755 on its file",
		       as_user(U1, G1, U_CHMOD, p("tmp/u1file"), NULL, 06755), 0);
		expect("user 1 fallocates it", as_user(U1, G1, U_FALLOCATE, p("tmp/u1file"), NULL,
							fmode[k]), 0);
		note_attrs("tmp/u1file");
	}
	/*
	 * Set-group-ID without group execute: kept for a writer in the file's group, dropped
	 * for one outside it (setattr_should_drop_sgid, Linux 6.x).
	 */
	mkfile_owned("tmp/sg_in", 02600, U1, G1);
	mkfile_owned("tmp/sg_out", 02600, U1, 0);
	expect("user 1 writes its 02600 file of its own group",
	       as_user(U1, G1, U_WRITE, p("tmp/sg_in"), NULL, 0), 0);
	note_attrs("tmp/sg_in");
	expect("user 1 writes its 02600 file of group 0",
	       as_user(U1, G1, U_WRITE, p("tmp/sg_out"), NULL, 0), 0);
	note_attrs("tmp/sg_out");
	FT_SYS(chmod(p("tmp/sg_out"), 02600));
	expect("user 1 truncates it", as_user(U1, G1, U_TRUNCATE, p("tmp/sg_out"), NULL, 1), 0);
	note_attrs("tmp/sg_out");
	expect("user 1 unlinks its own file in the sticky directory",
	       as_user(U1, G1, U_UNLINK, p("tmp/u1file"), NULL, 0), 0);
	expect("root unlinks in the sticky directory", R(rmdir(p("tmp/u1dir"))), 0);

	/* A set-group-ID directory passes its group on, and the bit to subdirectories. */
	shared_dir("sgid", G2, 02777, "sgid/file", "sgid/sub", "a set-group-ID directory");
	mkfile("sgid/rootfile", 0644, NULL);
	note_attrs("sgid/rootfile");
}

/* ---- POSIX ACLs ----------------------------------------------------------------------- */

/* Sets the ACL @e[0..n) (sorted by tag, then id) as @name on @file. */
static void set_acl(const char *file, const char *name, const struct acl_ent *e, int n)
{
	unsigned char buf[4 + 8 * ACL_MAX];

	FT_ASSERT(n <= ACL_MAX, "ACL too long");
	FT_SYS(setxattr(p(file), name, buf, acl_xattr(buf, e, n), 0));
}

/* Records a node's ACL entries (tag:id:perm), or that it has none. */
static void note_acl(const char *file, const char *name)
{
	unsigned char buf[4 + 8 * 32];
	char line[512];
	size_t len = 0;
	ssize_t n = getxattr(p(file), name, buf, sizeof(buf));

	if (n < 0) {
		note("%s of %s: %s", name, file, ename(errno));
		return;
	}
	for (ssize_t k = 4; k + 8 <= n && len < sizeof(line) - 32; k += 8) {
		struct acl_ent e;

		memcpy(&e, buf + k, 8);
		len += (size_t)snprintf(line + len, sizeof(line) - len, " %x:%d:%o", e.tag,
					e.id == NOID ? -1 : (int)e.id, e.perm);
	}
	line[len] = 0;
	note("%s of %s:%s", name, file, line);
}

static void acl_cases(void)
{
	const char *acc = "system.posix_acl_access", *def = "system.posix_acl_default";
	static const struct acl_ent u1_rw[] = {
		{ A_USER_OBJ, 6, NOID }, { A_USER, 6, U1 }, { A_GROUP_OBJ, 4, NOID },
		{ A_MASK, 6, NOID }, { A_OTHER, 4, NOID },
	};
	static const struct acl_ent u1_none[] = {
		{ A_USER_OBJ, 6, NOID }, { A_USER, 0, U1 }, { A_GROUP_OBJ, 6, NOID },
		{ A_MASK, 6, NOID }, { A_OTHER, 6, NOID },
	};
	static const struct acl_ent g2_r[] = {
		{ A_USER_OBJ, 6, NOID }, { A_GROUP_OBJ, 0, NOID }, { A_GROUP, 4, G2 },
		{ A_MASK, 4, NOID }, { A_OTHER, 0, NOID },
	};
	mode_t old;

	FT_SYS(mkdir(p("acl"), 0755));
	mkfile("acl/u1rw", 0644, "granted");
	set_acl("acl/u1rw", acc, u1_rw, 5);
	note_attrs("acl/u1rw");
	expect("an ACL entry lets user 1 write a 0644 file",
	       as_user(U1, G1, U_OPEN, p("acl/u1rw"), NULL, O_WRONLY), 0);
	expect("user 2, not in the ACL, may not",
	       as_user(U2, G2, U_OPEN, p("acl/u1rw"), NULL, O_WRONLY), EACCES);
	mkfile("acl/u1none", 0666, "denied");
	set_acl("acl/u1none", acc, u1_none, 5);
	expect("an ACL entry with no permissions keeps user 1 out of a 0666 file",
	       as_user(U1, G1, U_OPEN, p("acl/u1none"), NULL, O_RDONLY), EACCES);
	expect("user 2 falls under 'other' and may write",
	       as_user(U2, G2, U_OPEN, p("acl/u1none"), NULL, O_WRONLY), 0);
	mkfile("acl/g2r", 0600, "group");
	set_acl("acl/g2r", acc, g2_r, 5);
	expect("a named group entry lets group 2 read a file",
	       as_user(U2, G2, U_OPEN, p("acl/g2r"), NULL, O_RDONLY), 0);
	expect("but not write it (the entry and the mask give r only)",
	       as_user(U2, G2, U_OPEN, p("acl/g2r"), NULL, O_WRONLY), EACCES);
	FT_SYS(chmod(p("acl/u1rw"), 0600));
	note_acl("acl/u1rw", acc);
	expect("chmod 0600 sets the mask to none, and user 1's entry no longer grants",
	       as_user(U1, G1, U_OPEN, p("acl/u1rw"), NULL, O_RDONLY), EACCES);

	/* A directory whose ACL lets user 1 create in it, and passes it on by default. */
	FT_SYS(mkdir(p("acl/shared"), 0755));
	set_acl("acl/shared", acc, acl_u1_rwx, 5);
	set_acl("acl/shared", def, acl_u1_rwx, 5);
	expect("an ACL entry lets user 1 create in a 0755 directory",
	       as_user(U1, G1, U_CREATE, p("acl/shared/u1"), NULL, 0666), 0);
	note_attrs("acl/shared/u1");
	note_acl("acl/shared/u1", acc);
	old = umask(077);
	FT_SYS(close(FT_SYS(open(p("acl/shared/f"), O_CREAT | O_EXCL | O_WRONLY, 0666))));
	FT_SYS(mkdir(p("acl/shared/d"), 0777));
	FT_SYS(mknod(p("acl/shared/fifo"), S_IFIFO | 0666, 0));
	FT_SYS(mkdir(p("acl/plain"), 0777));
	umask(027);
	FT_SYS(close(FT_SYS(open(p("acl/plain/f"), O_CREAT | O_EXCL | O_WRONLY, 0666))));
	FT_SYS(mkdir(p("acl/plain/d"), 0777));
	FT_SYS(mknod(p("acl/plain/fifo"), S_IFIFO | 0666, 0));
	umask(old);
	/* With a default ACL the umask (077) is not applied; without one (027) it is. */
	note_attrs("acl/shared/f");
	note_attrs("acl/shared/d");
	note_attrs("acl/shared/fifo");
	note_acl("acl/shared/f", acc);
	note_acl("acl/shared/d", def);
	note_attrs("acl/plain/f");
	note_attrs("acl/plain/d");
	note_attrs("acl/plain/fifo");
	note_acl("acl/plain/f", acc);
	expect("user 1 may write the file that inherited its entry",
	       as_user(U1, G1, U_WRITE, p("acl/shared/f"), NULL, 0), 0);

	/* Setting an ACL takes set-group-ID away from an owner outside the file's group. */
	mkfile_owned("acl/sgid", 02775, U1, 0);
	expect("user 1 sets an ACL on its 02775 file of group 0",
	       as_user(U1, G1, U_SETACL, p("acl/sgid"), NULL, 0), 0);
	note_attrs("acl/sgid");
	FT_SYS(chmod(p("acl/sgid"), 02775));
	set_acl("acl/sgid", acc, acl_u1_rwx, 5);	/* root keeps set-group-ID */
	note_attrs("acl/sgid");
}

static void truncate_cases(void)
{
	int fd;

	mkfile("t", 0644, "0123456789");
	fd = FT_SYS(open(p("t"), O_RDONLY));
	expect("ftruncate of a read-only descriptor", R(ftruncate(fd, 0)), EINVAL);
	close(fd);
	fd = FT_SYS(open(p("t"), O_RDWR));
	expect("ftruncate to a negative length", R(ftruncate(fd, -1)), EINVAL);
	expect("ftruncate to 4", R(ftruncate(fd, 4)), 0);
	note_attrs("t");
	close(fd);
	expect("truncate of a directory", R(truncate(p("d"), 0)), EISDIR);
	expect("truncate of a missing file", R(truncate(p("missing"), 0)), ENOENT);
	expect("truncate to 100000", R(truncate(p("t"), 100000)), 0);
	note_attrs("t");
	{
		char buf[8];

		fd = FT_SYS(open(p("t"), O_RDONLY));
		ft_pread_all(fd, buf, 8, 0);
		close(fd);
		note("bytes 0..7 after grow: %.4s %d %d %d %d", buf, buf[4], buf[5], buf[6], buf[7]);
	}
}

/* The operations whose effect on the times of a file ("tm") and its directory is recorded. */
static const struct {
	const char *name, *before, *after;	/* the file's name before and after it */
} time_ops[] = {
	{ "write", "tm", "tm" },
	{ "chmod", "tm", "tm" },
	{ "chown", "tm", "tm" },
	{ "chown -1 -1", "tm", "tm" },
	{ "truncate down", "tm", "tm" },
	{ "truncate to the same size", "tm", "tm" },
	{ "rename", "tm", "tm2" },
	{ "create of another file", "tm2", "tm2" },
	{ "unlink of another file", "tm2", "tm2" },
	{ "fallocate KEEP_SIZE", "tm2", "tm2" },
	{ "fallocate inside the size", "tm2", "tm2" },
	{ "open O_TRUNC", "tm2", "tm2" },
};

static void time_op(size_t k)
{
	int fd;

	switch (k) {
	case 0:
		fd = FT_SYS(open(p("tm"), O_WRONLY));
		ft_pwrite_all(fd, "yy", 2, 0);
		close(fd);
		break;
	case 1: FT_SYS(chmod(p("tm"), 0600)); break;
	case 2: FT_SYS(chown(p("tm"), U1, G1)); break;
	case 3: FT_SYS(chown(p("tm"), (uid_t)-1, (gid_t)-1)); break;
	case 4:
	case 5: FT_SYS(truncate(p("tm"), 1)); break;
	case 6: FT_SYS(rename(p("tm"), p("tm2"))); break;
	case 7: mkfile("tm3", 0644, NULL); break;
	case 8: FT_SYS(unlink(p("tm3"))); break;
	case 9:
	case 10:	/* tm2 has 1 byte */
		fd = FT_SYS(open(p("tm2"), O_WRONLY));
		FT_SYS(fallocate(fd, k == 9 ? FALLOC_FL_KEEP_SIZE : 0, 0, 1));
		close(fd);
		break;
	default:
		fd = FT_SYS(open(p("tm2"), O_WRONLY | O_TRUNC));
		close(fd);
		break;
	}
}

static void times_cases(void)
{
	struct timespec set[2] = { { 1234567890, 123456789 }, { 1300000000, 500000000 } };
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	struct stat a, b;
	struct times t0;

	mkfile("tm", 0644, "x");
	expect("utimensat explicit times", R(utimensat(AT_FDCWD, p("tm"), set, 0)), 0);
	a = st_of("tm");
	note("after explicit times: atime %lld.%09ld mtime %lld.%09ld", (long long)a.st_atim.tv_sec,
	     a.st_atim.tv_nsec, (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec);
	tick();
	expect("utimensat UTIME_OMIT both", R(utimensat(AT_FDCWD, p("tm"), omit, 0)), 0);
	b = st_of("tm");
	note("after UTIME_OMIT: atime %s mtime %s", ts_cmp(a.st_atim, b.st_atim) ? "changed" : "same",
	     ts_cmp(a.st_mtim, b.st_mtim) ? "changed" : "same");
	expect("utimensat NULL (now)", R(utimensat(AT_FDCWD, p("tm"), NULL, 0)), 0);
	b = st_of("tm");
	note("after NULL: mtime %s", ts_cmp(a.st_mtim, b.st_mtim) < 0 ? "later" : "not later");

	/* Which times each operation changes. */
	for (size_t k = 0; k < sizeof(time_ops) / sizeof(time_ops[0]); k++) {
		t0 = times_of(time_ops[k].before, ".");
		tick();
		time_op(k);
		note_changed(time_ops[k].name, time_ops[k].after, ".", t0);
	}

	/*
	 * An explicit mtime is not a change time (touch -d): set with a write still queued, to
	 * a date after now and one before, the ctime stays at the call, before the write-out
	 * and after it.
	 */
	for (int k = 0; k < 2; k++) {
		struct timespec when[2] = { { k ? 1000000000 : 4102444800, 0 },
					    { k ? 1000000000 : 4102444800, 0 } };
		int fd = FT_SYS(open(p("tm2"), O_WRONLY));
		const char *op = k ? "futimens to 2001" : "futimens to 2100";

		ft_pwrite_all(fd, "z", 1, 0);
		expect(op, R(futimens(fd, when)), 0);
		a = st_of("tm2");
		note("after a write and %s: ctime %s the mtime", op,
		     ts_cmp(a.st_ctim, a.st_mtim) < 0 ? "before" : "not before");
		FT_SYS(fsync(fd));
		close(fd);
		a = st_of("tm2");
		note("... after fsync and close: ctime %s the mtime, mtime %s",
		     ts_cmp(a.st_ctim, a.st_mtim) < 0 ? "before" : "not before",
		     ts_cmp(a.st_mtim, when[1]) ? "other" : "as set");
	}
}

static void misc_cases(void)
{
	char buf[64];
	struct stat st;
	int fd, fd2;
	ssize_t n;

	/* O_APPEND writes at the end, whatever the offset. */
	mkfile("ap", 0644, "abc");
	fd = FT_SYS(open(p("ap"), O_WRONLY | O_APPEND));
	FT_SYS(lseek(fd, 0, SEEK_SET));
	FT_SYS(write(fd, "de", 2));
	note("offset after an O_APPEND write: %lld", (long long)lseek(fd, 0, SEEK_CUR));
	expect("pwrite on an O_APPEND descriptor", R(pwrite(fd, "f", 1, 0)), 0);
	close(fd);
	fd = FT_SYS(open(p("ap"), O_RDONLY));
	n = FT_SYS(read(fd, buf, sizeof(buf)));
	close(fd);
	note("O_APPEND content: %.*s", (int)n, buf);
	fd = FT_SYS(open(p("ap"), O_RDONLY));
	expect("write on a read-only descriptor", R(write(fd, "x", 1)), EBADF);
	close(fd);

	/* Special files. */
	expect("mkfifo", R(mkfifo(p("fifo"), 0644)), 0);
	note_attrs("fifo");
	expect("mknod of a character device", R(mknod(p("null"), S_IFCHR | 0666, makedev(1, 3))), 0);
	note_attrs("null");
	note("rdev of it: %u:%u", major(st_of("null").st_rdev), minor(st_of("null").st_rdev));
	fd = open(p("null"), O_WRONLY);
	expect("open the device node", fd < 0 ? errno : 0, 0);
	if (fd >= 0) {
		expect("write to it", R(write(fd, "x", 1)), 0);
		close(fd);
	}

	/* RENAME_WHITEOUT (overlayfs's upper layer): a 0/0 character device at the old name. */
	mkfile("wo", 0644, "w");
	expect("rename with RENAME_WHITEOUT",
	       R(renameat2(AT_FDCWD, p("wo"), AT_FDCWD, p("wo2"), RENAME_WHITEOUT)), 0);
	note_attrs("wo");
	note("rdev of the whiteout: %u:%u", major(st_of("wo").st_rdev), minor(st_of("wo").st_rdev));
	note_attrs("wo2");
	expect("RENAME_WHITEOUT | RENAME_NOREPLACE onto an existing name",
	       R(renameat2(AT_FDCWD, p("wo2"), AT_FDCWD, p("ap"), RENAME_WHITEOUT |
			   RENAME_NOREPLACE)), EEXIST);
	expect("RENAME_WHITEOUT | RENAME_EXCHANGE",
	       R(renameat2(AT_FDCWD, p("wo2"), AT_FDCWD, p("ap"), RENAME_WHITEOUT |
			   RENAME_EXCHANGE)), EINVAL);
	expect("RENAME_WHITEOUT of a missing name",
	       R(renameat2(AT_FDCWD, p("nowo"), AT_FDCWD, p("wo3"), RENAME_WHITEOUT)), ENOENT);
	expect("link to the whiteout", R(link(p("wo"), p("wo-link"))), 0);
	note_attrs("wo");

	/* Symlinks. */
	FT_SYS(symlink("some/target/path", p("sl")));
	note_attrs("sl");
	n = FT_SYS(readlink(p("sl"), buf, sizeof(buf)));
	note("readlink: %.*s", (int)n, buf);
	expect("readlink of a file", R(readlink(p("f"), buf, sizeof(buf))), EINVAL);
	expect("chmod of a symlink itself (fchmodat AT_SYMLINK_NOFOLLOW)",
	       R(fchmodat(AT_FDCWD, p("sl"), 0600, AT_SYMLINK_NOFOLLOW)), EOPNOTSUPP);

	/* Unlink of an open file: still readable, nlink 0. */
	mkfile("open-unlinked", 0644, "still here");
	fd = FT_SYS(open(p("open-unlinked"), O_RDWR));
	expect("unlink an open file", R(unlink(p("open-unlinked"))), 0);
	FT_SYS(fstat(fd, &st));
	note("fstat after unlink: nlink %lu size %lld", (unsigned long)st.st_nlink,
	     (long long)st.st_size);
	n = FT_SYS(pread(fd, buf, sizeof(buf), 0));
	note("read after unlink: %.*s", (int)n, buf);
	close(fd);

	/* Rename over a file open elsewhere: the descriptor keeps the old content. */
	mkfile("old", 0644, "old content");
	mkfile("new", 0644, "new content");
	fd = FT_SYS(open(p("old"), O_RDONLY));
	FT_SYS(rename(p("new"), p("old")));
	n = FT_SYS(pread(fd, buf, sizeof(buf), 0));
	note("open descriptor after rename over: %.*s", (int)n, buf);
	close(fd);
	fd2 = FT_SYS(open(p("old"), O_RDONLY));
	n = FT_SYS(pread(fd2, buf, sizeof(buf), 0));
	note("the name after rename over: %.*s", (int)n, buf);
	close(fd2);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void readdir_case(void)
{
	char *names[256];
	int n = 0;
	DIR *d = opendir(p("r"));
	struct dirent *e;

	FT_ASSERT(d != NULL, "opendir r: %s", strerror(errno));
	while ((e = readdir(d)) && n < 256)
		names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
	for (int i = 0; i < n; i++) {
		note("readdir r: %s", names[i]);
		free(names[i]);
	}
}

static void run_battery(struct side *s)
{
	S = s;
	ft_check("%s: the battery in %s", s->name, s->root);
	FT_SYS(mkdir(s->root, 0755));
	open_errors();
	dir_errors();
	rename_cases();
	link_cases();
	perm_cases();
	acl_cases();
	truncate_cases();
	times_cases();
	misc_cases();
	readdir_case();
	s->nbattery = s->n;
	if (s->bad)
		ft_fail("%s: %d case(s) gave something POSIX does not expect (lines above)",
			s->name, s->bad);
	ft_ok("%s: %d cases and observations as POSIX expects", s->name, s->n);
}

/* Fails unless the battery's transcripts are the same, line by line. */
static void compare(const struct side *raw, const struct side *fz)
{
	int diffs = 0;

	ft_check("%s and %s transcripts are the same", raw->name, fz->name);
	for (int i = 0; i < raw->nbattery || i < fz->nbattery; i++) {
		const char *a = i < raw->nbattery ? raw->line[i] : "(none)";
		const char *b = i < fz->nbattery ? fz->line[i] : "(none)";

		if (strcmp(a, b) != 0) {
			fprintf(stderr, "# line %d:\n#   %s: %s\n#   %s: %s\n", i + 1, raw->name, a,
				fz->name, b);
			diffs++;
		}
	}
	if (diffs)
		ft_fail("%s differs from the raw backing filesystem in %d line(s)", fz->name, diffs);
	ft_ok("%s behaves as the raw backing filesystem in all %d lines", fz->name, raw->nbattery);
}

static char ramfs_dir[PATH_MAX];

static void ramfs_detach(void)
{
	if (ramfs_dir[0])
		umount2(ramfs_dir, MNT_DETACH);
}

/*
 * A backing filesystem without ACLs: its getxattr of system.posix_acl_access fails with
 * EOPNOTSUPP, which the kernel must see as "no ACL", or every check of another user fails.
 */
static void no_acl_backing(const char *mp)
{
	struct ft_mount m;
	int fd;

	ft_check("a backing filesystem without ACLs (ramfs): another user is checked by the modes");
	ft_pathf(ramfs_dir, sizeof(ramfs_dir), "%s/ramfs", ft_tmpdir());
	FT_SYS(mkdir(ramfs_dir, 0755));
	FT_SYS(mount("ramfs", ramfs_dir, "ramfs", 0, "mode=0755"));
	ft_set_fail_hook(ramfs_detach);
	ft_mount(&m, ramfs_dir, mp, "allow_other,chunk_size=4096");
	fd = FT_SYS(open(ft_path(&m, "f"), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
	ft_pwrite_all(fd, "data", 4, 0);
	close(fd);
	FT_SYS(chmod(ft_path(&m, "f"), 0644));
	FT_ASSERT(getxattr(ft_path(&m, "f"), "system.posix_acl_access", NULL, 0) < 0 &&
		  errno == ENODATA, "getxattr of the ACL: %s, expected ENODATA", strerror(errno));
	S = &(struct side){ .name = "ramfs" };
	FT_ASSERT(as_user(U1, G1, U_OPEN, ft_path(&m, "f"), NULL, O_RDONLY) == 0,
		  "user 1 could not read a 0644 file on a ramfs-backed mount");
	FT_ASSERT(as_user(U1, G1, U_OPEN, ft_path(&m, "f"), NULL, O_WRONLY) == EACCES,
		  "user 1 could open a 0644 file for writing on a ramfs-backed mount");
	ft_umount(&m);
	FT_SYS(umount(ramfs_dir));
	ramfs_dir[0] = 0;
	ft_ok("reads allowed and writes refused by the modes; no ACL reported (ENODATA)");
}

int main(int argc, char **argv)
{
	static struct side raw = { .name = "raw" }, fz = { .name = "frozenfs" };
	char store[PATH_MAX], mp[PATH_MAX];
	struct ft_mount m;
	ft_init(argc, argv);
	FT_ASSERT(geteuid() == 0, "it_posix runs as root (it acts as other users too)");
	/* Other users must reach both sides: the temporary directory is private. */
	FT_SYS(chmod(ft_tmpdir(), 0755));
	snprintf(store, sizeof(store), "%s/store", ft_tmpdir());
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	/* dev,suid: device nodes and set-user-ID bits work as on the raw side (a FUSE mount is
	 * nodev,nosuid unless asked; checked at the end). */
	ft_mount(&m, store, mp, "allow_other,default_permissions,dev,suid,chunk_size=4096");
	FT_SYS(chmod(store, 0755));
	FT_SYS(chmod(mp, 0755));

	/* The oracle: the backing filesystem itself, beside the store. */
	ft_pathf(raw.root, sizeof(raw.root), "%s/raw", ft_tmpdir());
	run_battery(&raw);
	ft_pathf(fz.root, sizeof(fz.root), "%s/battery", mp);
	run_battery(&fz);

	compare(&raw, &fz);
	if (getenv("IT_POSIX_VERBOSE"))
		for (int i = 0; i < fz.n; i++)
			fprintf(stderr, "# %s\n", fz.line[i]);

	ft_check("the battery's tree survives a remount");
	ft_remount(&m);
	S = &fz;
	note_attrs("sgid/sub");
	note_attrs("tmp");
	note_attrs("null");
	S = &raw;
	note_attrs("sgid/sub");
	note_attrs("tmp");
	note_attrs("null");
	for (int k = 1; k <= 3; k++)
		FT_ASSERT(strcmp(raw.line[raw.n - k], fz.line[fz.n - k]) == 0,
			  "after remount: raw '%s', frozenfs '%s'", raw.line[raw.n - k],
			  fz.line[fz.n - k]);
	ft_ok("attributes after remount match");
	ft_umount(&m);

	ft_check("without -o dev, the mount is nodev: a device node cannot be opened");
	ft_mount(&m, store, mp, "allow_other,default_permissions,chunk_size=4096");
	{
		int fd = open(ft_path(&m, "battery/null"), O_WRONLY);

		FT_ASSERT(fd < 0 && errno == EACCES, "open of a device node on a nodev mount: %s",
			  fd < 0 ? strerror(errno) : "opened");
	}
	ft_ok("device node refused (EACCES) on the default nodev mount");
	ft_umount(&m);

	ft_check("with -o noacl, only the modes count: an ACL entry no longer keeps user 1 out");
	ft_mount(&m, store, mp, "allow_other,default_permissions,noacl,chunk_size=4096");
	S = &fz;
	FT_ASSERT(as_user(U1, G1, U_OPEN, ft_path(&m, "battery/acl/u1none"), NULL, O_RDONLY) == 0,
		  "user 1 could not read a 0666 file under -o noacl");
	ft_ok("user 1 reads the 0666 file whose ACL denies it, as the modes allow");
	ft_umount(&m);
	no_acl_backing(mp);
	for (int i = 0; i < raw.n; i++)
		free(raw.line[i]);
	for (int i = 0; i < fz.n; i++)
		free(fz.line[i]);
	return ft_done();
}
