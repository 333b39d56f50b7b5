/*
 * it_basic: POSIX basics on a frozenfs mount, each checked live and again after a remount.
 *
 *   write/pwrite/fsync; ftruncate grow (zeros) and shrink-then-grow (zeros, DURABILITY.md
 *   requirement 23); truncate(path) with no open fd (req 8); O_TRUNC (write 100 KiB, reopen
 *   O_TRUNC, write "x\n": size 2, req 7); O_APPEND from two descriptors; unlink of an open file
 *   with queued writes (still readable through the fd, gone after close, no backing file left);
 *   rename over an existing file; a hard link sharing data; a symlink; mkdir/rmdir; user xattrs;
 *   chmod/chown/utimensat; statfs; offsets across 2^31, 2^32 and 5 GiB in a sparse file
 *   (req 39); truncate to 20 TiB and pwrite at 17 TiB give what the raw backing filesystem gives
 *   (EFBIG on ext4) and change no size (req 40); the superblock .frozenfs is invisible to
 *   readdir and lookup and cannot be created; mtime after a write is not earlier than a clock
 *   reading taken before it and stays the same after two flush intervals and after remount
 *   (req 37).
 *
 * Usage: it_basic FROZENFS_BINARY
 */
#include "fstest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define EXT4_MAGIC	0xEF53
#define TMPFS_MAGIC_	0x01021994
#define FLUSH_MS	100
#define OPTS		"chunk_size=4096,flush_interval_ms=100"
#define SLOW_OPTS	"chunk_size=4096,flush_interval_ms=10000"

static struct ft_mount m, slow;
static char store[PATH_MAX], slow_store[PATH_MAX];

static const char *P(const char *name) { return ft_path(&m, name); }

/* Path of NAME in the backing directory. */
static const char *B(const char *name)
{
	static char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s/%s", store, name) >= (int)sizeof(buf))
		ft_fail("path too long");
	return buf;
}

static uint8_t *pattern(size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len ? len : 1);

	if (!b)
		ft_fail("out of memory");
	ft_rand_fill(&seed, b, len);
	return b;
}

/* The "punch" file of check_misc: 192 KiB of pattern 7, then the punches it makes. */
#define PUNCH_LEN (192u * 1024)
static void punch_model(uint8_t *d)
{
	memset(d + 65536, 0, 65536);
	memset(d + 139000, 0, 2000);
	memset(d + PUNCH_LEN - 100, 0, 100);
}

static void expect_file(const char *name, const void *want, size_t len, const char *what)
{
	size_t got_len;
	uint8_t *got = ft_read_file(P(name), &got_len);
	long long d;

	if (got_len != len)
		ft_fail("%s: %s has %zu bytes, expected %zu", what, name, got_len, len);
	d = ft_memdiff(got, want, len);
	if (d >= 0)
		ft_fail("%s: %s differs at byte %lld (got 0x%02x, want 0x%02x)", what, name, d,
			got[d], ((const uint8_t *)want)[d]);
	free(got);
	ft_ok("%s: %s has the expected %zu bytes", what, name, len);
}

static off_t size_of(const char *name)
{
	struct stat st;

	FT_SYS(stat(P(name), &st));
	return st.st_size;
}

static int is_zero(const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

/* --- the individual checks; each has a verify step that runs again after remount ---------- */

static uint8_t *rw_data;
#define RW_LEN (3 * 4096 + 1234)

static void t_write_pwrite(void)
{
	int fd;

	ft_check("write, pwrite over it, fsync");
	rw_data = pattern(RW_LEN, 1);
	fd = FT_SYS(open(P("rw"), O_RDWR | O_CREAT | O_EXCL, 0644));
	FT_ASSERT(write(fd, rw_data, 0) == 0, "zero-length write: %s", strerror(errno));
	FT_ASSERT(write(fd, rw_data, RW_LEN) == RW_LEN, "short write");
	FT_ASSERT(pwrite(fd, rw_data, 0, 1 << 20) == 0, "zero-length pwrite past EOF: %s",
		  strerror(errno));
	memset(rw_data + 4090, 0xAB, 20);		/* across the first chunk boundary */
	ft_pwrite_all(fd, rw_data + 4090, 20, 4090);
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	expect_file("rw", rw_data, RW_LEN, "write+pwrite (zero-length writes change nothing)");
}

static void v_write_pwrite(const char *when)
{
	expect_file("rw", rw_data, RW_LEN, when);
}

#define TR_BIG (1024 * 1024)
static void t_truncate(void)
{
	uint8_t *a = malloc(TR_BIG), *z = calloc(1, TR_BIG);
	int fd;

	FT_ASSERT(a && z, "out of memory");
	ft_check("ftruncate grow reads zeros");
	fd = FT_SYS(open(P("grow"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, "abc", 3, 0);
	FT_SYS(ftruncate(fd, 10000));
	FT_ASSERT(size_of("grow") == 10000, "size %lld", (long long)size_of("grow"));
	ft_pread_all(fd, a, 10000, 0);
	FT_ASSERT(memcmp(a, "abc", 3) == 0 && is_zero(a + 3, 9997), "grown part not zero");
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	ft_ok("ftruncate grow: size 10000, zeros after 'abc'");

	ft_check("1 MiB of 'A', ftruncate to 10, then to 1 MiB: bytes 10.. are zero (req 23)");
	memset(a, 'A', TR_BIG);
	fd = FT_SYS(open(P("shrinkgrow"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, a, TR_BIG, 0);
	FT_SYS(ftruncate(fd, 10));
	FT_SYS(ftruncate(fd, TR_BIG));
	memset(a + 10, 0, TR_BIG - 10);
	ft_pread_all(fd, z, TR_BIG, 0);
	FT_ASSERT(memcmp(a, z, TR_BIG) == 0, "first difference at %lld", ft_memdiff(a, z, TR_BIG));
	ft_ok("shrink then grow, live and unsynced: zeros past 10");
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	expect_file("shrinkgrow", a, TR_BIG, "shrink then grow after fsync");

	ft_check("the same through truncate(path) with no open descriptor (req 8)");
	memset(a, 'B', TR_BIG);
	ft_write_file(P("pathtrunc"), a, 50000, 0);
	FT_SYS(truncate(P("pathtrunc"), 4095));
	FT_SYS(truncate(P("pathtrunc"), 20000));
	memset(a + 4095, 0, 20000 - 4095);
	expect_file("pathtrunc", a, 20000, "truncate(path) down then up");
	free(a);
	free(z);
}

static void v_truncate(const char *when)
{
	uint8_t *a = calloc(1, TR_BIG);

	FT_ASSERT(a, "out of memory");
	memcpy(a, "abc", 3);
	expect_file("grow", a, 10000, when);
	memset(a, 'A', 10);
	memset(a + 3, 'A', 7);
	expect_file("shrinkgrow", a, TR_BIG, when);
	memset(a, 0, TR_BIG);
	memset(a, 'B', 4095);
	expect_file("pathtrunc", a, 20000, when);
	free(a);
}

static void t_otrunc(void)
{
	uint8_t *big = pattern(100 * 1024, 2);
	int fd;

	ft_check("write 100 KiB, open O_TRUNC, write \"x\\n\": size 2 (req 7)");
	ft_write_file(P("otrunc"), big, 100 * 1024, 0);
	fd = FT_SYS(open(P("otrunc"), O_WRONLY | O_TRUNC));
	FT_ASSERT(write(fd, "x\n", 2) == 2, "write x");
	FT_SYS(close(fd));
	FT_ASSERT(size_of("otrunc") == 2, "size %lld", (long long)size_of("otrunc"));
	expect_file("otrunc", "x\n", 2, "O_TRUNC");
	free(big);
}

static void v_otrunc(const char *when)
{
	expect_file("otrunc", "x\n", 2, when);
}

static void t_append(void)
{
	int a, b;

	ft_check("O_APPEND writes from two descriptors land at the end");
	ft_write_file(P("append"), "start:", 6, 0);
	a = FT_SYS(open(P("append"), O_WRONLY | O_APPEND));
	b = FT_SYS(open(P("append"), O_WRONLY | O_APPEND));
	FT_ASSERT(write(a, "aaa", 3) == 3, "write a");
	FT_ASSERT(write(b, "bbbb", 4) == 4, "write b");
	/* Linux: with O_APPEND the offset of pwrite(2) is ignored. */
	FT_ASSERT(pwrite(a, "cc", 2, 0) == 2, "pwrite a");
	FT_SYS(fsync(a));
	FT_SYS(close(a));
	FT_SYS(close(b));
	expect_file("append", "start:aaabbbbcc", 15, "O_APPEND");
}

static void v_append(const char *when)
{
	expect_file("append", "start:aaabbbbcc", 15, when);
}

static void t_unlink_open(void)
{
	size_t len = 1 << 20;
	uint8_t *d = pattern(len, 3), *r = malloc(len);
	struct stat st;
	int fd;

	FT_ASSERT(r, "out of memory");
	ft_check("unlink of an open file with queued writes");
	fd = FT_SYS(open(P("doomed"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, d, len, 0);
	FT_SYS(unlink(P("doomed")));
	FT_SYS_ERR(open(P("doomed"), O_RDONLY), ENOENT);
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_nlink == 0, "st_nlink %lu after unlink", (unsigned long)st.st_nlink);
	FT_ASSERT(st.st_size == (off_t)len, "st_size %lld", (long long)st.st_size);
	ft_pread_all(fd, r, len, 0);
	FT_ASSERT(memcmp(r, d, len) == 0, "data read through the fd after unlink differs");
	ft_pwrite_all(fd, "more", 4, len);		/* writing on keeps working */
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	ft_ok("unlinked file readable and writable through its fd, fsync 0");
	FT_SYS_ERR(open(P("doomed"), O_RDONLY), ENOENT);
	FT_SYS_ERR(access(B("doomed"), F_OK), ENOENT);
	ft_ok("no name, and no backing file, after the last close");
	free(d);
	free(r);
}

static void v_unlink_open(const char *when)
{
	FT_SYS_ERR(open(P("doomed"), O_RDONLY), ENOENT);
	ft_ok("%s: unlinked file stays gone", when);
}

static void t_rename_link_symlink_dirs(void)
{
	struct stat a, b;
	char buf[64];
	ssize_t n;
	int fd;

	ft_check("rename over an existing file");
	ft_write_file(P("new"), "new content", 11, 0);
	ft_write_file(P("old"), "old", 3, 1);
	fd = FT_SYS(open(P("old"), O_RDONLY));	/* an fd on the replaced file */
	FT_SYS(rename(P("new"), P("old")));
	FT_SYS_ERR(access(P("new"), F_OK), ENOENT);
	expect_file("old", "new content", 11, "rename over existing");
	FT_ASSERT(pread(fd, buf, sizeof(buf), 0) == 3 && memcmp(buf, "old", 3) == 0,
		  "fd on the replaced file no longer reads its old content");
	FT_SYS(close(fd));
	ft_ok("an fd on the replaced file still reads the old content");

	ft_check("hard link shares data");
	ft_write_file(P("l1"), "one", 3, 0);
	FT_SYS(link(P("l1"), P("l2")));
	fd = FT_SYS(open(P("l2"), O_WRONLY | O_APPEND));
	FT_ASSERT(write(fd, "two", 3) == 3, "write");
	FT_SYS(close(fd));
	expect_file("l1", "onetwo", 6, "write through the other link");
	FT_SYS(stat(P("l1"), &a));
	FT_SYS(stat(P("l2"), &b));
	FT_ASSERT(a.st_ino == b.st_ino && a.st_nlink == 2 && b.st_nlink == 2,
		  "st_ino %lu/%lu nlink %lu/%lu", (unsigned long)a.st_ino, (unsigned long)b.st_ino,
		  (unsigned long)a.st_nlink, (unsigned long)b.st_nlink);
	ft_ok("hard links: same st_ino, st_nlink 2");

	ft_check("symlink");
	FT_SYS(symlink("target/of/link", P("sym")));
	n = FT_SYS(readlink(P("sym"), buf, sizeof(buf)));
	FT_ASSERT(n == 14 && memcmp(buf, "target/of/link", 14) == 0, "readlink");
	FT_SYS(lstat(P("sym"), &a));
	FT_ASSERT(S_ISLNK(a.st_mode), "not a symlink");
	FT_SYS(symlink("l1", P("sym2")));
	expect_file("sym2", "onetwo", 6, "read through a symlink");

	ft_check("mkdir/rmdir");
	FT_SYS(mkdir(P("dir"), 0755));
	FT_SYS(mkdir(P("dir/sub"), 0700));
	ft_write_file(P("dir/sub/f"), "f", 1, 0);
	FT_SYS_ERR(rmdir(P("dir/sub")), ENOTEMPTY);
	FT_SYS_ERR(mkdir(P("dir"), 0755), EEXIST);
	FT_SYS(unlink(P("dir/sub/f")));
	FT_SYS(rmdir(P("dir/sub")));
	FT_SYS_ERR(access(P("dir/sub"), F_OK), ENOENT);
	FT_SYS(mkdir(P("dir/keep"), 0750));
	ft_write_file(P("dir/keep/f"), "kept", 4, 1);
	ft_ok("mkdir, ENOTEMPTY, EEXIST, rmdir");
}

static void v_rename_link_symlink_dirs(const char *when)
{
	struct stat a, b, d;
	char buf[64];

	expect_file("old", "new content", 11, when);
	FT_SYS_ERR(access(P("new"), F_OK), ENOENT);
	expect_file("l2", "onetwo", 6, when);
	FT_SYS(stat(P("l1"), &a));
	FT_SYS(stat(P("l2"), &b));
	FT_ASSERT(a.st_ino == b.st_ino && a.st_nlink == 2, "%s: hard link lost", when);
	FT_ASSERT(readlink(P("sym"), buf, sizeof(buf)) == 14 && !memcmp(buf, "target/of/link", 14),
		  "%s: readlink", when);
	FT_SYS(stat(P("dir/keep"), &d));
	FT_ASSERT(S_ISDIR(d.st_mode) && (d.st_mode & 07777) == 0750, "%s: dir mode %o", when,
		  d.st_mode & 07777);
	FT_SYS_ERR(access(P("dir/sub"), F_OK), ENOENT);
	expect_file("dir/keep/f", "kept", 4, when);
	ft_ok("%s: rename, links, symlink, directories intact", when);
}

static void t_xattr_attrs(void)
{
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1200000000, 987654321 } };
	char buf[64];
	struct stat st;
	ssize_t n;

	ft_check("user xattr set/get/list/remove");
	ft_write_file(P("attrs"), "attrs", 5, 0);
	FT_SYS(setxattr(P("attrs"), "user.frozen", "value-1", 7, 0));
	FT_SYS(setxattr(P("attrs"), "user.gone", "x", 1, 0));
	n = FT_SYS(getxattr(P("attrs"), "user.frozen", buf, sizeof(buf)));
	FT_ASSERT(n == 7 && memcmp(buf, "value-1", 7) == 0, "getxattr");
	FT_SYS(removexattr(P("attrs"), "user.gone"));
	FT_SYS_ERR(getxattr(P("attrs"), "user.gone", buf, sizeof(buf)), ENODATA);
	FT_SYS_ERR(setxattr(P("attrs"), "user.frozen", "v", 1, XATTR_CREATE), EEXIST);
	ft_ok("xattrs");

	ft_check("chmod, chown, utimensat");
	FT_SYS(chmod(P("attrs"), 0604));
	FT_SYS(chown(P("attrs"), 1234, 5678));
	FT_SYS(utimensat(AT_FDCWD, P("attrs"), ts, 0));
	FT_SYS(stat(P("attrs"), &st));
	FT_ASSERT((st.st_mode & 07777) == 0604, "mode %o", st.st_mode & 07777);
	FT_ASSERT(st.st_uid == 1234 && st.st_gid == 5678, "owner %d:%d", (int)st.st_uid,
		  (int)st.st_gid);
	FT_ASSERT(st.st_atim.tv_sec == ts[0].tv_sec && st.st_atim.tv_nsec == ts[0].tv_nsec &&
		  st.st_mtim.tv_sec == ts[1].tv_sec && st.st_mtim.tv_nsec == ts[1].tv_nsec,
		  "times %lld.%09ld %lld.%09ld", (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
		  (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	ft_ok("chmod/chown/utimensat visible in stat");
}

static void v_xattr_attrs(const char *when)
{
	char buf[64];
	struct stat st;

	FT_ASSERT(getxattr(P("attrs"), "user.frozen", buf, sizeof(buf)) == 7 &&
		  memcmp(buf, "value-1", 7) == 0, "%s: xattr lost", when);
	FT_SYS(stat(P("attrs"), &st));
	FT_ASSERT((st.st_mode & 07777) == 0604 && st.st_uid == 1234 && st.st_gid == 5678,
		  "%s: mode %o owner %d:%d", when, st.st_mode & 07777, (int)st.st_uid,
		  (int)st.st_gid);
	FT_ASSERT(st.st_mtim.tv_sec == 1200000000 && st.st_mtim.tv_nsec == 987654321,
		  "%s: mtime %lld.%09ld", when, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	ft_ok("%s: xattr, mode, owner, mtime kept", when);
}

static void t_statfs(void)
{
	struct statfs sf;

	ft_check("statfs reports non-zero numbers");
	FT_SYS(statfs(m.mnt, &sf));
	FT_ASSERT(sf.f_bsize > 0 && sf.f_blocks > 0 && sf.f_bfree > 0 && sf.f_bavail > 0 &&
		  sf.f_namelen > 0, "bsize %ld blocks %llu bfree %llu bavail %llu namelen %ld",
		  (long)sf.f_bsize, (unsigned long long)sf.f_blocks,
		  (unsigned long long)sf.f_bfree, (unsigned long long)sf.f_bavail,
		  (long)sf.f_namelen);
	ft_ok("statfs: bsize %ld, %llu blocks, %llu available, namelen %ld", (long)sf.f_bsize,
	      (unsigned long long)sf.f_blocks, (unsigned long long)sf.f_bavail,
	      (long)sf.f_namelen);
}

/* Offsets that need 64 bits: below and across 2^31, 2^32, and at 5 GiB (sparse). */
static const off_t big_offs[] = { (1ll << 31) - 5, (1ll << 32) - 3, 5ll << 30 };
#define BIG_LEN 9000

static void t_bigoffsets(void)
{
	uint8_t *d = pattern(BIG_LEN, 4), r[BIG_LEN], z[4096];
	size_t i;
	int fd;

	ft_check("writes across 2^31, 2^32 and at 5 GiB in a sparse file (req 39)");
	fd = FT_SYS(open(P("sparse"), O_RDWR | O_CREAT | O_EXCL, 0644));
	for (i = 0; i < 3; i++)
		ft_pwrite_all(fd, d, BIG_LEN, big_offs[i]);
	FT_SYS(fdatasync(fd));
	for (i = 0; i < 3; i++) {
		ft_pread_all(fd, r, BIG_LEN, big_offs[i]);
		FT_ASSERT(memcmp(r, d, BIG_LEN) == 0, "data at %lld", (long long)big_offs[i]);
	}
	ft_pread_all(fd, z, sizeof(z), 3ll << 30);
	FT_ASSERT(is_zero(z, sizeof(z)), "hole at 3 GiB not zero");
	FT_SYS(close(fd));
	FT_ASSERT(size_of("sparse") == (5ll << 30) + BIG_LEN, "size %lld",
		  (long long)size_of("sparse"));
	ft_ok("64-bit offsets: data, hole, st_size");
	free(d);
}

static void v_bigoffsets(const char *when)
{
	uint8_t *d = pattern(BIG_LEN, 4), r[BIG_LEN];
	size_t i;
	int fd = FT_SYS(open(P("sparse"), O_RDONLY));

	for (i = 0; i < 3; i++) {
		ft_pread_all(fd, r, BIG_LEN, big_offs[i]);
		FT_ASSERT(memcmp(r, d, BIG_LEN) == 0, "%s: data at %lld", when,
			  (long long)big_offs[i]);
	}
	FT_SYS(close(fd));
	FT_ASSERT(size_of("sparse") == (5ll << 30) + BIG_LEN, "%s: size", when);
	ft_ok("%s: 64-bit offsets intact", when);
	free(d);
}

/* What the raw backing filesystem answers: errno of the call, or 0. */
static int raw_errno(int is_truncate, off_t where)
{
	char probe[PATH_MAX];
	int fd, e = 0;

	snprintf(probe, sizeof(probe), "%s/efbig-probe", ft_tmpdir());
	fd = FT_SYS(open(probe, O_RDWR | O_CREAT | O_TRUNC, 0644));
	if ((is_truncate ? ftruncate(fd, where) : pwrite(fd, "x", 1, where)) < 0)
		e = errno;
	close(fd);
	unlink(probe);
	return e;
}

static void t_efbig(void)
{
	struct statfs sf;
	off_t t20 = 20ll << 40, t17 = 17ll << 40;
	int raw_t, raw_w, fd;
	ssize_t r;

	FT_SYS(statfs(store, &sf));
	raw_t = raw_errno(1, t20);
	raw_w = raw_errno(0, t17);
	ft_check("truncate to 20 TiB and pwrite at 17 TiB (req 40); backing f_type 0x%lx, raw "
		 "gives %s / %s", (unsigned long)sf.f_type, raw_t ? strerror(raw_t) : "success",
		 raw_w ? strerror(raw_w) : "success");
	if (sf.f_type == EXT4_MAGIC)
		FT_ASSERT(raw_t == EFBIG && raw_w == EFBIG, "raw ext4 did not give EFBIG");
	else if (sf.f_type == TMPFS_MAGIC_)
		FT_ASSERT(raw_t == 0 || raw_t == EFBIG, "raw tmpfs truncate: %s", strerror(raw_t));
	ft_write_file(P("efbig"), "12345", 5, 0);
	fd = FT_SYS(open(P("efbig"), O_RDWR));
	errno = 0;
	r = ftruncate(fd, t20);
	FT_ASSERT((r < 0 ? errno : 0) == raw_t, "ftruncate 20T: got %s, backing fs gives %s",
		  r < 0 ? strerror(errno) : "success", raw_t ? strerror(raw_t) : "success");
	if (raw_t) {
		FT_ASSERT(size_of("efbig") == 5, "size after failed truncate %lld",
			  (long long)size_of("efbig"));
		errno = 0;
		r = truncate(P("efbig"), t20);
		FT_ASSERT(r < 0 && errno == raw_t, "truncate(path) 20T: got %s",
			  r < 0 ? strerror(errno) : "success");
		FT_ASSERT(size_of("efbig") == 5, "size after failed truncate(path) %lld",
			  (long long)size_of("efbig"));
	} else {
		FT_ASSERT(size_of("efbig") == t20, "size after truncate 20T %lld",
			  (long long)size_of("efbig"));
		FT_SYS(ftruncate(fd, 5));
	}
	errno = 0;
	r = pwrite(fd, "x", 1, t17);
	FT_ASSERT((r < 0 ? errno : 0) == raw_w, "pwrite at 17T: got %s, backing fs gives %s",
		  r < 0 ? strerror(errno) : "success", raw_w ? strerror(raw_w) : "success");
	if (raw_w)
		FT_ASSERT(size_of("efbig") == 5, "size after failed pwrite %lld",
			  (long long)size_of("efbig"));
	else
		FT_SYS(ftruncate(fd, 5));
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	expect_file("efbig", "12345", 5, "after the oversized calls");
}

static void v_efbig(const char *when)
{
	expect_file("efbig", "12345", 5, when);
}

static void t_superblock_hidden(void)
{
	char sb[PATH_MAX];
	struct dirent *de;
	uint8_t *before, *after;
	size_t lb, la;
	DIR *d;
	int fd;

	if (ft_fake())
		return;
	ft_check(".frozenfs is invisible in readdir and lookup and cannot be created");
	snprintf(sb, sizeof(sb), "%s", B(".frozenfs"));
	before = ft_read_file(sb, &lb);
	d = opendir(m.mnt);
	FT_ASSERT(d, "opendir: %s", strerror(errno));
	while ((de = readdir(d)))
		FT_ASSERT(strcmp(de->d_name, ".frozenfs") != 0, "readdir lists .frozenfs");
	closedir(d);
	FT_SYS_ERR(access(P(".frozenfs"), F_OK), ENOENT);
	errno = 0;
	fd = open(P(".frozenfs"), O_RDWR | O_CREAT, 0644);
	FT_ASSERT(fd < 0, "creating .frozenfs in the mount succeeded");
	ft_ok("creating .frozenfs fails (%s)", strerror(errno));
	FT_ASSERT(mkdir(P(".frozenfs"), 0755) < 0, "mkdir .frozenfs succeeded");
	FT_ASSERT(rename(P("rw"), P(".frozenfs")) < 0, "rename onto .frozenfs succeeded");
	FT_ASSERT(symlink("x", P(".frozenfs")) < 0, "symlink .frozenfs succeeded");
	after = ft_read_file(sb, &la);
	FT_ASSERT(la == lb && memcmp(before, after, la) == 0, "the superblock changed");
	ft_ok(".frozenfs hidden, not creatable, superblock unchanged");
	free(before);
	free(after);
}

static struct timespec mt_write;

static void t_mtime(void)
{
	struct timespec before;
	struct stat st;
	int fd;

	ft_check("mtime after a write: not earlier than the clock before it, stable after two "
		 "flush intervals (req 37)");
	ft_write_file(P("mtime"), "0123456789", 10, 1);
	clock_gettime(CLOCK_REALTIME_COARSE, &before);
	fd = FT_SYS(open(P("mtime"), O_WRONLY));
	ft_pwrite_all(fd, "abc", 3, 4);
	FT_SYS(fstat(fd, &st));
	mt_write = st.st_mtim;
	FT_ASSERT(mt_write.tv_sec > before.tv_sec ||
		  (mt_write.tv_sec == before.tv_sec && mt_write.tv_nsec >= before.tv_nsec),
		  "mtime %lld.%09ld is before the clock reading %lld.%09ld taken before the write",
		  (long long)mt_write.tv_sec, mt_write.tv_nsec, (long long)before.tv_sec,
		  before.tv_nsec);
	FT_SYS(close(fd));
	/* Not synchronization: we want wall-clock time to pass, so a flush would show. */
	usleep(3 * FLUSH_MS * 1000);
	FT_SYS(stat(P("mtime"), &st));
	FT_ASSERT(st.st_mtim.tv_sec == mt_write.tv_sec && st.st_mtim.tv_nsec == mt_write.tv_nsec,
		  "mtime moved from %lld.%09ld to %lld.%09ld after the flush",
		  (long long)mt_write.tv_sec, mt_write.tv_nsec, (long long)st.st_mtim.tv_sec,
		  st.st_mtim.tv_nsec);
	ft_ok("mtime %lld.%09ld stable across flushes", (long long)mt_write.tv_sec,
	      mt_write.tv_nsec);
}

static void v_mtime(const char *when)
{
	struct stat st;

	FT_SYS(stat(P("mtime"), &st));
	FT_ASSERT(st.st_mtim.tv_sec == mt_write.tv_sec && st.st_mtim.tv_nsec == mt_write.tv_nsec,
		  "%s: mtime %lld.%09ld, was %lld.%09ld", when, (long long)st.st_mtim.tv_sec,
		  st.st_mtim.tv_nsec, (long long)mt_write.tv_sec, mt_write.tv_nsec);
	expect_file("mtime", "0123abc789", 10, when);
}


/* Path of NAME in the slow store's backing directory / in the slow mount. */
static const char *SB(const char *name)
{
	static char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s/%s", slow_store, name) >= (int)sizeof(buf))
		ft_fail("path too long");
	return buf;
}

static const char *SP(const char *name) { return ft_path(&slow, name); }

/* The file at PATH must hold exactly WANT. */
static void expect_path(const char *path, const void *want, size_t len, const char *what)
{
	size_t got_len;
	uint8_t *got = ft_read_file(path, &got_len);
	long long d;

	if (got_len != len)
		ft_fail("%s: %s has %zu bytes, expected %zu", what, path, got_len, len);
	d = ft_memdiff(got, want, len);
	if (d >= 0)
		ft_fail("%s: %s differs at byte %lld", what, path, d);
	free(got);
	ft_ok("%s: %s holds the expected %zu bytes", what, path, len);
}

/* The backing file (DURABILITY.md 2.1: same relative path, length = logical size) must hold
 * exactly WANT: proof that the data left the pipeline, not just the page cache. */
static void expect_backing(const char *bpath, const void *want, size_t len, const char *what)
{
	expect_path(bpath, want, len, ft_fmt("%s (backing file)", what));
}

static int run_cmd(char *const argv[])
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		ft_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define SLOW_BIG (10 << 20)
static uint8_t *slow_big;

/* Everything that must hold while data is still queued (flush interval 10 s). */
static void t_slow(void)
{
	uint8_t buf[4096], *d;
	double lat[20];
	struct stat st;
	size_t i;
	int fd, st2;
	pid_t pid;

	ft_check("slow flusher: write 4 KiB + fsync has a median latency < 200 ms (req 4)");
	memset(buf, 'L', sizeof(buf));
	fd = FT_SYS(open(SP("lat"), O_RDWR | O_CREAT | O_EXCL, 0644));
	for (i = 0; i < 20; i++) {
		double t0 = ft_now();

		ft_pwrite_all(fd, buf, sizeof(buf), (off_t)i * 4096);
		FT_SYS(fsync(fd));
		lat[i] = ft_now() - t0;
	}
	FT_SYS(close(fd));
	qsort(lat, 20, sizeof(lat[0]), cmp_double);
	FT_ASSERT(lat[10] < 0.2, "median write+fsync latency %.3f s with a 10 s flush interval "
		  "(fsync does not close the epoch at once)", lat[10]);
	ft_ok("median write+fsync latency %.1f ms, max %.1f ms", lat[10] * 1e3, lat[19] * 1e3);

	ft_check("another process writes without fsync; fsync on our O_RDONLY fd puts it in the "
		 "backing file (req 42)");
	d = pattern(65536 + 17, 42);
	ft_write_in_child(SP("f42"), d, 65536 + 17);
	fd = FT_SYS(open(SP("f42"), O_RDONLY));
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	expect_backing(SB("f42"), d, 65536 + 17,
		       "fsync through an O_RDONLY fd of another process's writes");
	free(d);

	ft_check("O_DSYNC write returns only once its data is in the backing file (req 5)");
	d = pattern(3 * 4096 + 5, 5);
	fd = FT_SYS(open(SP("dsync"), O_WRONLY | O_CREAT | O_EXCL | O_DSYNC, 0644));
	FT_ASSERT(write(fd, d, 3 * 4096 + 5) == 3 * 4096 + 5, "O_DSYNC write");
	expect_backing(SB("dsync"), d, 3 * 4096 + 5, "O_DSYNC write, before close");
	FT_SYS(close(fd));
	free(d);

	ft_check("a write 1 MiB past EOF is visible at once to stat in another process, whose "
		 "O_APPEND write lands after it (req 32)");
	fd = FT_SYS(open(SP("far"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, "far", 3, 1 << 20);
	pid = fork();
	FT_ASSERT(pid >= 0, "fork");
	if (pid == 0) {
		struct stat cst;
		int cfd;

		if (stat(SP("far"), &cst) < 0 || cst.st_size != (1 << 20) + 3)
			_exit(2);
		cfd = open(SP("far"), O_WRONLY | O_APPEND);
		if (cfd < 0 || write(cfd, "tail", 4) != 4 || close(cfd) < 0)
			_exit(3);
		_exit(0);
	}
	FT_SYS(waitpid(pid, &st2, 0));
	FT_ASSERT(WIFEXITED(st2) && WEXITSTATUS(st2) != 2, "the other process saw the old size");
	FT_ASSERT(WIFEXITED(st2) && WEXITSTATUS(st2) == 0, "the other process's append failed");
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_size == (1 << 20) + 7, "size %lld", (long long)st.st_size);
	ft_pread_all(fd, buf, 7, 1 << 20);
	FT_ASSERT(memcmp(buf, "fartail", 7) == 0, "append did not land after the far write");
	FT_SYS(close(fd));
	ft_ok("size visible to another process; its O_APPEND landed at the end");

	ft_check("100 bytes queued at offset 10 read back through O_DIRECT and after "
		 "fadvise(DONTNEED) (req 33)");
	d = pattern(100, 33);
	fd = FT_SYS(open(SP("q33"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, d, 100, 10);
	{
		uint8_t *ab = aligned_alloc(4096, 4096);
		int dfd = FT_SYS(open(SP("q33"), O_RDONLY | O_DIRECT));
		ssize_t r = pread(dfd, ab, 4096, 0);

		FT_ASSERT(r == 110, "O_DIRECT read returned %zd (%s)", r,
			  r < 0 ? strerror(errno) : "");
		FT_ASSERT(is_zero(ab, 10) && memcmp(ab + 10, d, 100) == 0,
			  "O_DIRECT read content");
		FT_SYS(close(dfd));
		FT_ASSERT(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "fadvise");
		memset(ab, 0xEE, 4096);
		r = pread(fd, ab, 4096, 0);
		FT_ASSERT(r == 110 && is_zero(ab, 10) && memcmp(ab + 10, d, 100) == 0,
			  "read after DONTNEED returned %zd / wrong content", r);
		free(ab);
	}
	FT_SYS(close(fd));
	ft_ok("queued data served by the daemon");
	free(d);

	ft_check("st_blocks counts queued data: >= 2048 right after writing 1 MiB (req 36)");
	d = pattern(1 << 20, 36);
	fd = FT_SYS(open(SP("blocks"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, d, 1 << 20, 0);
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_blocks >= 2048, "st_blocks %lld right after writing 1 MiB",
		  (long long)st.st_blocks);
	FT_SYS(close(fd));
	ft_ok("st_blocks %lld", (long long)st.st_blocks);

	ft_check("cp inside the mount and cp --sparse=always out of it, right after writing "
		 "(req 9: no lseek/copy_file_range shortcut may miss queued data)");
	fd = FT_SYS(open(SP("cpsrc"), O_RDWR | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, d, 300000, 0);
	ft_pwrite_all(fd, d, 5000, 2 << 20);		/* a hole in between */
	FT_SYS(close(fd));
	{
		char out[PATH_MAX];
		char *cp1[] = { "cp", (char *)SP("cpsrc"), (char *)SP("cpdst"), NULL };
		char *cp2[5];
		uint8_t *want = calloc(1, (2 << 20) + 5000);

		FT_ASSERT(want, "out of memory");
		memcpy(want, d, 300000);
		memcpy(want + (2 << 20), d, 5000);
		FT_ASSERT(run_cmd(cp1) == 0, "cp inside the mount failed");
		expect_path(SP("cpdst"), want, (2 << 20) + 5000, "cp inside the mount");
		snprintf(out, sizeof(out), "%s/cp-out", ft_tmpdir());
		cp2[0] = "cp";
		cp2[1] = "--sparse=always";
		cp2[2] = (char *)SP("cpsrc");
		cp2[3] = out;
		cp2[4] = NULL;
		FT_ASSERT(run_cmd(cp2) == 0, "cp --sparse=always out of the mount failed");
		expect_path(out, want, (2 << 20) + 5000, "cp --sparse=always out of the mount");
		free(want);
	}
	free(d);

	ft_check("10 MiB written without fsync must be in the backing file once the daemon has "
		 "exited after unmount (req 11)");
	slow_big = pattern(SLOW_BIG, 11);
	fd = FT_SYS(open(SP("big"), O_WRONLY | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, slow_big, SLOW_BIG, 0);
	FT_SYS(close(fd));
}

static void v_slow(const char *when)
{
	uint8_t *d = pattern(65536 + 17, 42), *far;
	struct stat st;
	size_t len;

	expect_path(SP("f42"), d, 65536 + 17, when);
	free(d);
	d = pattern(3 * 4096 + 5, 5);
	expect_path(SP("dsync"), d, 3 * 4096 + 5, when);
	free(d);
	far = ft_read_file(SP("far"), &len);
	FT_ASSERT(len == (1 << 20) + 7 && is_zero(far, 1 << 20) &&
		  memcmp(far + (1 << 20), "fartail", 7) == 0, "%s: far file", when);
	free(far);
	FT_SYS(stat(SP("big"), &st));
	expect_path(SP("big"), slow_big, SLOW_BIG, when);
	ft_ok("%s: slow-flusher files intact", when);
}

static void t_misc(void)
{
	struct statfs sf;
	char name[1024];
	struct stat st;
	uint8_t buf[8192];
	int fd, r;

	ft_check("fsync on directory descriptors returns 0 (FSYNCDIR implemented, req 1)");
	fd = FT_SYS(open(m.mnt, O_RDONLY | O_DIRECTORY));
	FT_SYS(fsync(fd));
	FT_SYS(fdatasync(fd));
	FT_SYS(close(fd));
	fd = FT_SYS(open(P("dir"), O_RDONLY | O_DIRECTORY));
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	ft_ok("fsync/fdatasync of the root and a subdirectory: 0");

	ft_check("fallocate mode 0 grows with zeros, KEEP_SIZE keeps the size, PUNCH_HOLE and "
		 "ZERO_RANGE zero, COLLAPSE_RANGE gives EOPNOTSUPP (req 10)");
	ft_write_file(P("falloc"), "0123456789", 10, 0);
	fd = FT_SYS(open(P("falloc"), O_RDWR));
	FT_SYS(fallocate(fd, 0, 5, 8000));
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_size == 8005, "size after fallocate mode 0: %lld", (long long)st.st_size);
	ft_pread_all(fd, buf, 8005, 0);
	FT_ASSERT(memcmp(buf, "0123456789", 10) == 0 && is_zero(buf + 10, 7995),
		  "content after fallocate mode 0");
	FT_SYS(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 64 * 1024));
	FT_SYS(fstat(fd, &st));
	FT_ASSERT(st.st_size == 8005, "size after fallocate KEEP_SIZE: %lld",
		  (long long)st.st_size);
	if (!ft_fake())		/* ext4 itself supports it */
		FT_SYS_ERR(fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096), EOPNOTSUPP);
	FT_SYS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2, 3));
	ft_pread_all(fd, buf, 10, 0);
	FT_ASSERT(memcmp(buf, "01\0\0\0" "56789", 10) == 0, "punched range not zero");
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));

	/* A durable file: a punched chunk frees its blocks; a queued write into the range is
	 * cut; ZERO_RANGE past the end grows the file with zeros. */
	{
		uint8_t *d = pattern(PUNCH_LEN, 7), *rb = malloc(PUNCH_LEN + 8192);
		struct stat b0, b1;

		FT_ASSERT(rb != NULL, "malloc");
		ft_write_file(P("punch"), d, PUNCH_LEN, 0);
		fd = FT_SYS(open(P("punch"), O_RDWR));
		FT_SYS(fsync(fd));
		FT_SYS(fstat(fd, &b0));
		FT_SYS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 65536));
		FT_SYS(pwrite(fd, "queued", 6, 140000));	/* queued, not yet written */
		FT_SYS(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 139000, 2000));
		FT_SYS(fallocate(fd, FALLOC_FL_ZERO_RANGE, PUNCH_LEN - 100, 8292));
		FT_SYS(fsync(fd));
		FT_SYS(fstat(fd, &b1));
		FT_ASSERT(b1.st_size == PUNCH_LEN + 8192, "size after ZERO_RANGE: %lld",
			  (long long)b1.st_size);
		/* -128 blocks punched, +16 (and a partial one) for the 8 KiB zeroed past the end */
		FT_ASSERT(b1.st_blocks <= b0.st_blocks - 128 + 24,
			  "a punched 64 KiB did not free its blocks: %lld -> %lld blocks",
			  (long long)b0.st_blocks, (long long)b1.st_blocks);
		ft_pread_all(fd, rb, PUNCH_LEN + 8192, 0);
		punch_model(d);
		FT_ASSERT(memcmp(rb, d, PUNCH_LEN) == 0 && is_zero(rb + PUNCH_LEN, 8192),
			  "content after PUNCH_HOLE and ZERO_RANGE");
		FT_SYS(close(fd));
		free(d);
		free(rb);
	}
	ft_ok("fallocate: mode 0, KEEP_SIZE, PUNCH_HOLE (blocks freed), ZERO_RANGE, "
	      "COLLAPSE_RANGE EOPNOTSUPP");

	ft_check("SEEK_DATA/SEEK_HOLE see a sparse file's holes, cp keeps it sparse, and a hole "
		 "written through a shared mapping is never reported as a hole");
	{
		char src[PATH_MAX], dst[PATH_MAX];
		struct stat sb;
		char *map;
		off_t d;
		int rfd;

		snprintf(src, sizeof(src), "%s", P("holes"));
		snprintf(dst, sizeof(dst), "%s", P("holes2"));
		fd = FT_SYS(open(src, O_CREAT | O_RDWR | O_TRUNC, 0644));
		FT_SYS(ftruncate(fd, 4 << 20));
		FT_SYS(pwrite(fd, "data", 4, 1 << 20));
		FT_SYS(fsync(fd));
		FT_SYS(close(fd));
		rfd = FT_SYS(open(src, O_RDONLY));
		d = lseek(rfd, 0, SEEK_DATA);
		FT_ASSERT(d > 0 && d <= 1 << 20, "SEEK_DATA from 0: %lld", (long long)d);
		d = lseek(rfd, 1 << 20, SEEK_HOLE);
		FT_ASSERT(d > 1 << 20 && d < 2 << 20, "SEEK_HOLE from 1 MiB: %lld", (long long)d);
		FT_SYS_ERR(lseek(rfd, 3 << 20, SEEK_DATA), ENXIO);
		FT_SYS_ERR(lseek(rfd, 4 << 20, SEEK_HOLE), ENXIO);
		FT_SYS(close(rfd));
		FT_ASSERT(system(ft_fmt("cp '%s' '%s'", src, dst)) == 0, "cp failed");
		FT_SYS(stat(B("holes2"), &sb));
		FT_ASSERT(sb.st_size == 4 << 20 && sb.st_blocks <= 256,
			  "cp of a 4 MiB file with 4 bytes of data: %lld blocks in the backing file",
			  (long long)sb.st_blocks);
		FT_ASSERT(system(ft_fmt("cmp -s '%s' '%s'", src, dst)) == 0, "the copy differs");
		/* Dirty pages of a shared mapping stay in the kernel, unseen by the daemon, as long
		 * as the mapping lives; its descriptor is writable, so no holes are reported. */
		fd = FT_SYS(open(src, O_RDWR));
		map = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		FT_ASSERT(map != MAP_FAILED, "mmap: %s", strerror(errno));
		memcpy(map + (3 << 20), "mapped", 6);
		rfd = FT_SYS(open(src, O_RDONLY));
		d = lseek(rfd, (1 << 20) + 65536, SEEK_DATA);
		FT_ASSERT(d >= 0 && d <= 3 << 20, "SEEK_DATA with a dirty mapping: %lld",
			  (long long)d);
		FT_SYS(close(rfd));
		FT_SYS(munmap(map, 4 << 20));
		FT_SYS(close(fd));
	}
	ft_ok("SEEK_DATA/SEEK_HOLE, cp of a sparse file, holes under a shared mapping");

	ft_check("a name of f_namemax bytes can be created, one byte longer gives ENAMETOOLONG "
		 "(req 38)");
	FT_SYS(statfs(m.mnt, &sf));
	FT_ASSERT(sf.f_namelen > 0 && sf.f_namelen < (long)sizeof(name) - 1, "f_namelen %ld",
		  (long)sf.f_namelen);
	memset(name, 'n', sizeof(name));
	name[sf.f_namelen] = 0;
	fd = open(P(name), O_WRONLY | O_CREAT | O_EXCL, 0644);
	FT_ASSERT(fd >= 0, "creating a %ld-byte name: %s", (long)sf.f_namelen, strerror(errno));
	FT_SYS(close(fd));
	FT_SYS(unlink(P(name)));
	name[sf.f_namelen] = 'n';
	name[sf.f_namelen + 1] = 0;
	FT_SYS_ERR(open(P(name), O_WRONLY | O_CREAT | O_EXCL, 0644), ENAMETOOLONG);
	ft_ok("f_namemax %ld: created; %ld bytes: ENAMETOOLONG", (long)sf.f_namelen,
	      (long)sf.f_namelen + 1);

	ft_check("renameat2 RENAME_NOREPLACE onto an existing name gives EEXIST; "
		 "RENAME_EXCHANGE swaps or gives EINVAL (req 41)");
	ft_write_file(P("rn-a"), "A", 1, 0);
	ft_write_file(P("rn-b"), "B", 1, 0);
	FT_SYS_ERR(renameat2(AT_FDCWD, P("rn-a"), AT_FDCWD, P("rn-b"), RENAME_NOREPLACE), EEXIST);
	expect_file("rn-a", "A", 1, "NOREPLACE left the source");
	expect_file("rn-b", "B", 1, "NOREPLACE left the target");
	r = renameat2(AT_FDCWD, P("rn-a"), AT_FDCWD, P("rn-b"), RENAME_EXCHANGE);
	FT_ASSERT(r == 0 || errno == EINVAL, "RENAME_EXCHANGE: %s", strerror(errno));
	if (r == 0) {
		expect_file("rn-a", "B", 1, "RENAME_EXCHANGE");
		expect_file("rn-b", "A", 1, "RENAME_EXCHANGE");
		FT_SYS(rename(P("rn-a"), P("rn-c")));
		FT_SYS(rename(P("rn-b"), P("rn-a")));
		FT_SYS(rename(P("rn-c"), P("rn-b")));
	}
	FT_SYS(renameat2(AT_FDCWD, P("rn-a"), AT_FDCWD, P("rn-new"), RENAME_NOREPLACE));
	expect_file("rn-new", "A", 1, "NOREPLACE onto a free name");

	ft_check("write (queued), unlink, close, two flush intervals: no backing file reappears "
		 "(req 25)");
	fd = FT_SYS(open(P("ghost"), O_WRONLY | O_CREAT | O_EXCL, 0644));
	memset(buf, 'g', sizeof(buf));
	ft_pwrite_all(fd, buf, sizeof(buf), 0);
	FT_SYS(unlink(P("ghost")));
	ft_pwrite_all(fd, buf, sizeof(buf), sizeof(buf));
	FT_SYS(close(fd));
	usleep(3 * FLUSH_MS * 1000);	/* waiting for something NOT to happen: no condition */
	FT_SYS_ERR(access(B("ghost"), F_OK), ENOENT);
	FT_SYS_ERR(access(P("ghost"), F_OK), ENOENT);
	ft_ok("no ghost backing file");
}

static void v_misc(const char *when)
{
	uint8_t buf[8005], *d = pattern(PUNCH_LEN, 7);
	size_t len;
	uint8_t *got = ft_read_file(P("falloc"), &len);

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "01\0\0\0" "56789", 10);
	FT_ASSERT(len == 8005 && memcmp(got, buf, 8005) == 0, "%s: falloc file", when);
	free(got);
	got = ft_read_file(P("punch"), &len);
	punch_model(d);
	FT_ASSERT(len == PUNCH_LEN + 8192 && memcmp(got, d, PUNCH_LEN) == 0 &&
		  is_zero(got + PUNCH_LEN, 8192), "%s: punched file", when);
	free(got);
	free(d);
	expect_file("rn-new", "A", 1, when);
	expect_file("rn-b", "B", 1, when);
	FT_SYS_ERR(access(P("rn-a"), F_OK), ENOENT);
	FT_SYS_ERR(access(B("ghost"), F_OK), ENOENT);
	ft_ok("%s: fallocate, renameat2 results and no ghost", when);
}

static void verify_all(const char *when)
{
	v_write_pwrite(when);
	v_truncate(when);
	v_otrunc(when);
	v_append(when);
	v_unlink_open(when);
	v_rename_link_symlink_dirs(when);
	v_xattr_attrs(when);
	v_bigoffsets(when);
	v_efbig(when);
	v_mtime(when);
	v_misc(when);
}

int main(int argc, char **argv)
{
	char mp[PATH_MAX];

	ft_init(argc, argv);
	snprintf(store, sizeof(store), "%s/store", ft_tmpdir());
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	ft_mount(&m, store, mp, OPTS);

	t_write_pwrite();
	t_truncate();
	t_otrunc();
	t_append();
	t_unlink_open();
	t_rename_link_symlink_dirs();
	t_xattr_attrs();
	t_statfs();
	t_bigoffsets();
	t_efbig();
	t_superblock_hidden();
	t_mtime();
	t_misc();
	verify_all("live");

	snprintf(slow_store, sizeof(slow_store), "%s/slowstore", ft_tmpdir());
	snprintf(mp, sizeof(mp), "%s/slowmnt", ft_tmpdir());
	ft_mount(&slow, slow_store, mp, SLOW_OPTS);
	t_slow();
	ft_umount(&slow);
	expect_backing(SB("big"), slow_big, SLOW_BIG, "unsynced 10 MiB after the daemon exited");
	ft_mount(&slow, slow_store, mp, SLOW_OPTS);
	v_slow("slow store after remount");
	ft_umount(&slow);

	ft_check("unmount, remount, verify everything");
	ft_remount(&m);
	verify_all("after remount");
	t_superblock_hidden();
	ft_remount(&m);
	verify_all("after a second remount");
	ft_umount(&m);
	ft_ok("unmounted, daemon exited 0");
	free(rw_data);
	return ft_done();
}
