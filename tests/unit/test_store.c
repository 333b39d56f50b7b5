/*
 * test_store: the superblock codec, store creation, refusal of foreign or corrupt
 * directories (touching nothing), and the mount lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "iofake.h"
#include "testdir.h"
#include "store.h"

struct fixture {
	char dir[PATH_MAX];
	char why[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (testdir_make(f->dir, sizeof(f->dir), "test_store") < 0)
		return -1;
	iofake_reset();
	err_clear();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	testdir_remove(f->dir);
	free(f);
	return 0;
}

static void path_of(const struct fixture *f, const char *name, char *out)
{
	testdir_path(f->dir, name, out);
}

static void write_file(const struct fixture *f, const char *name, const void *buf, size_t len)
{
	testdir_write(f->dir, name, buf, len);
}

static ssize_t read_file(const struct fixture *f, const char *name, void *buf, size_t len)
{
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	path_of(f, name, p);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	close(fd);
	return n;
}

/* Number of entries besides "." and "..". */
static int count_entries(const struct fixture *f)
{
	DIR *d = opendir(f->dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void good_sb(uint8_t *buf, uint32_t version, uint32_t chunk_size)
{
	struct store_sb sb = { .version = version, .chunk_size = chunk_size, .ctime = 1700000000 };

	for (int i = 0; i < 16; i++)
		sb.uuid[i] = (uint8_t)(i * 17);
	store_sb_encode(&sb, buf);
}

/* ---- codec ---- */

static void test_store_crc32c_vector(void **state)
{
	(void)state;
	assert_int_equal(store_crc32c("123456789", 9), 0xE3069283u);
	assert_int_equal(store_crc32c("", 0), 0);
	/* iSCSI (RFC 3720 B.4) vector: 32 bytes of zeros. */
	{
		uint8_t z[32] = { 0 };

		assert_int_equal(store_crc32c(z, sizeof(z)), 0x8A9136AAu);
	}
}

static void test_store_sb_roundtrip_little_endian(void **state)
{
	struct store_sb in = { .version = STORE_VERSION, .chunk_size = 1u << 20,
			       .ctime = 0x0102030405060708ull };
	struct store_sb out;
	uint8_t buf[STORE_SB_SIZE];
	const char *why = NULL;

	(void)state;
	for (int i = 0; i < 16; i++)
		in.uuid[i] = (uint8_t)(0xa0 + i);
	store_sb_encode(&in, buf);
	assert_memory_equal(buf, "FROZENFS", 8);
	assert_memory_equal(buf + 8, "\x01\x00\x00\x00", 4);
	assert_memory_equal(buf + 12, "\x00\x00\x10\x00", 4);
	assert_memory_equal(buf + 16, in.uuid, 16);
	assert_memory_equal(buf + 32, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	for (int i = 40; i < 60; i++)
		assert_int_equal(buf[i], 0);
	{
		uint32_t crc = store_crc32c(buf, 60);

		assert_int_equal(buf[60], crc & 0xff);
		assert_int_equal(buf[63], crc >> 24);
	}
	memset(&out, 0, sizeof(out));
	assert_int_equal(store_sb_decode(buf, sizeof(buf), &out, &why), 0);
	assert_int_equal(out.version, in.version);
	assert_int_equal(out.chunk_size, in.chunk_size);
	assert_memory_equal(out.uuid, in.uuid, 16);
	assert_int_equal(out.ctime, in.ctime);
}

static void expect_refused(const uint8_t *buf, size_t len, const char *want)
{
	struct store_sb sb;
	const char *why = NULL;

	assert_int_equal(store_sb_decode(buf, len, &sb, &why), -EINVAL);
	assert_non_null(why);
	assert_string_equal(why, want);
}

static void test_store_sb_every_corruption_refused(void **state)
{
	uint8_t good[STORE_SB_SIZE], b[STORE_SB_SIZE];

	(void)state;
	good_sb(good, STORE_VERSION, 65536);

	memcpy(b, good, sizeof(b));
	b[0] = 'f';
	expect_refused(b, sizeof(b), "bad magic");

	memcpy(b, good, sizeof(b));
	b[61] ^= 0x40;
	expect_refused(b, sizeof(b), "bad checksum");

	/* Any flipped bit in the covered bytes, reserved ones included. */
	for (int i = 8; i < 60; i++) {
		memcpy(b, good, sizeof(b));
		b[i] ^= 0x01;
		expect_refused(b, sizeof(b), "bad checksum");
	}

	good_sb(b, 7, 65536);			/* a well-formed superblock from the future */
	expect_refused(b, sizeof(b), "unsupported format version 7");

	good_sb(b, STORE_VERSION, 65536 + 4096);
	expect_refused(b, sizeof(b), "bad chunk size");
	good_sb(b, STORE_VERSION, 2048);
	expect_refused(b, sizeof(b), "bad chunk size");
	good_sb(b, STORE_VERSION, 32u << 20);
	expect_refused(b, sizeof(b), "bad chunk size");

	expect_refused(good, STORE_SB_SIZE - 1, "short superblock");
	expect_refused(good, 0, "short superblock");
}

/* ---- store_open ---- */

static void test_store_create_in_empty_dir(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[STORE_SB_SIZE + 8];
	const struct store_sb *sb;
	struct store_sb disk;
	struct store *s;
	char lf[PATH_MAX];
	int created = -1;

	/* A freshly made filesystem's lost+found does not count. */
	path_of(f, "lost+found", lf);
	assert_int_equal(mkdir(lf, 0700), 0);
	assert_int_equal(store_open(iofake_io(), f->dir, 16384, &s, f->why, sizeof(f->why),
				    &created), 0);
	assert_int_equal(created, 1);
	assert_string_equal(f->why, "");
	sb = store_superblock(s);
	assert_int_equal(sb->version, STORE_VERSION);
	assert_int_equal(sb->chunk_size, 16384);
	assert_int_equal(sb->uuid[6] >> 4, 4);		/* UUID version 4 */
	assert_int_equal(sb->uuid[8] >> 6, 2);		/* RFC 4122 variant */
	assert_true(sb->ctime > 1600000000);
	assert_true(store_dirfd(s) >= 0);
	/* Temp file locked, fsync, rename, fsync of the directory; then the store locked. */
	assert_int_equal(iofake_count("fsync"), 2);
	assert_int_equal(iofake_count("flock"), 2);

	assert_int_equal(read_file(f, STORE_SB_NAME, buf, sizeof(buf)), STORE_SB_SIZE);
	assert_int_equal(store_sb_decode(buf, STORE_SB_SIZE, &disk, NULL), 0);
	assert_memory_equal(disk.uuid, sb->uuid, 16);
	assert_int_equal(read_file(f, ".frozenfs.tmp", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(count_entries(f), 2);		/* lost+found and .frozenfs */
	store_close(s);
	store_close(NULL);
}

static void test_store_default_chunk_size(void **state)
{
	struct fixture *f = *state;
	struct store *s;

	assert_int_equal(store_open(NULL, f->dir, 0, &s, NULL, 0, NULL), 0);
	assert_int_equal(store_superblock(s)->chunk_size, CHUNK_SIZE_DEFAULT);
	store_close(s);
}

static void test_store_refuses_nonempty_foreign_dir(void **state)
{
	struct fixture *f = *state;
	struct store *s = (struct store *)(uintptr_t)0x1;
	struct stat before, after;
	char buf[64];

	write_file(f, "precious.txt", "my data", 7);
	assert_int_equal(stat(f->dir, &before), 0);
	assert_int_equal(store_open(NULL, f->dir, 0, &s, f->why, sizeof(f->why), NULL),
			 -EINVAL);
	assert_ptr_equal(s, (struct store *)(uintptr_t)0x1);
	assert_string_equal(f->why, "not a frozenfs store: directory is not empty and has no "
			    ".frozenfs superblock");
	/* Untouched: same single entry, same content, directory not modified. */
	assert_int_equal(count_entries(f), 1);
	assert_int_equal(read_file(f, "precious.txt", buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "my data", 7);
	assert_int_equal(stat(f->dir, &after), 0);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_int_equal(after.st_nlink, before.st_nlink);

	assert_int_equal(store_mkfs(NULL, f->dir, 0, f->why, sizeof(f->why)), -EINVAL);
	assert_int_equal(count_entries(f), 1);
}

static void test_store_second_open_wouldblock(void **state)
{
	struct fixture *f = *state;
	struct store *a, *b;
	int created = -1;

	assert_int_equal(store_open(NULL, f->dir, 0, &a, NULL, 0, NULL), 0);
	assert_int_equal(store_open(NULL, f->dir, 0, &b, f->why, sizeof(f->why), &created),
			 -EWOULDBLOCK);
	assert_string_equal(f->why,
			    "already mounted: the store is in use by another frozenfs process");
	assert_int_equal(err_last()->code, -EWOULDBLOCK);
	store_close(a);
	/* Unlocked by close: now it opens, and is not created again. */
	assert_int_equal(store_open(NULL, f->dir, 0, &b, f->why, sizeof(f->why), &created), 0);
	assert_int_equal(created, 0);
	store_close(b);
}

/* A busy store tells a daemon still serving it from one that is draining after an unmount. */
static void test_store_busy_draining(void **state)
{
	struct fixture *f = *state;
	struct store *a, *b;

	assert_int_equal(store_busy_draining(NULL, f->dir), 0);	/* nobody holds it */
	assert_int_equal(store_open(NULL, f->dir, 0, &a, NULL, 0, NULL), 0);
	assert_int_equal(store_open(NULL, f->dir, 0, &b, NULL, 0, NULL), -EWOULDBLOCK);
	assert_int_equal(store_busy_draining(NULL, f->dir), 0);	/* serving */
	/* The check's shared lock is gone at once: it never delays the daemon's mark. */
	assert_int_equal(store_mark_draining(a), 0);
	assert_int_equal(store_busy_draining(NULL, f->dir), 1);
	assert_int_equal(store_busy_draining(NULL, f->dir), 1);
	assert_int_equal(store_open(NULL, f->dir, 0, &b, NULL, 0, NULL), -EWOULDBLOCK);
	store_close(a);
	/* Both locks went with the store. */
	assert_int_equal(store_busy_draining(NULL, f->dir), 0);
	assert_int_equal(store_open(NULL, f->dir, 0, &b, NULL, 0, NULL), 0);
	store_close(b);

	/* Errors are reported as such, not as "draining" or "serving". */
	iofake_reset();
	iofake_fail("flock", 1, -ENOLCK);
	assert_int_equal(store_busy_draining(iofake_io(), f->dir), -ENOLCK);
	iofake_fail("openat", 1, -EACCES);
	assert_int_equal(store_busy_draining(iofake_io(), f->dir), -EACCES);
	assert_int_equal(iofake_count("close"), 1);	/* the first check closed its fd */
	iofake_reset();
}

static void test_store_chunk_size_from_superblock_wins(void **state)
{
	struct fixture *f = *state;
	uint8_t before[STORE_SB_SIZE], after[STORE_SB_SIZE];
	struct store *s;
	int created = -1;

	assert_int_equal(store_open(NULL, f->dir, 4096, &s, NULL, 0, &created), 0);
	assert_int_equal(created, 1);
	store_close(s);
	assert_int_equal(read_file(f, STORE_SB_NAME, before, sizeof(before)), STORE_SB_SIZE);
	assert_int_equal(store_open(NULL, f->dir, 1u << 20, &s, NULL, 0, &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(store_superblock(s)->chunk_size, 4096);
	store_close(s);
	/* Never rewritten. */
	assert_int_equal(read_file(f, STORE_SB_NAME, after, sizeof(after)), STORE_SB_SIZE);
	assert_memory_equal(before, after, STORE_SB_SIZE);
}

/* Puts @buf as the superblock, opens, expects -EINVAL with @want, and the file unchanged. */
static void expect_open_refused(struct fixture *f, const uint8_t *buf, size_t len,
				const char *want)
{
	uint8_t after[STORE_SB_SIZE + 8];
	struct store *s;

	write_file(f, STORE_SB_NAME, buf, len);
	assert_int_equal(store_open(NULL, f->dir, 0, &s, f->why, sizeof(f->why), NULL), -EINVAL);
	assert_string_equal(f->why, want);
	assert_int_equal(read_file(f, STORE_SB_NAME, after, sizeof(after)), (ssize_t)len);
	assert_memory_equal(after, buf, len);
	assert_int_equal(count_entries(f), 1);
}

static void test_store_corrupt_superblock_refused_untouched(void **state)
{
	struct fixture *f = *state;
	uint8_t b[STORE_SB_SIZE + 1];

	good_sb(b, STORE_VERSION, 65536);
	b[20] ^= 0xff;
	expect_open_refused(f, b, STORE_SB_SIZE, "corrupt superblock: bad checksum");
	good_sb(b, STORE_VERSION, 65536);
	memcpy(b, "NOTFROZN", 8);
	expect_open_refused(f, b, STORE_SB_SIZE, "corrupt superblock: bad magic");
	good_sb(b, 2, 65536);
	expect_open_refused(f, b, STORE_SB_SIZE, "unsupported store format version 2");
	good_sb(b, STORE_VERSION, 12345);
	expect_open_refused(f, b, STORE_SB_SIZE, "corrupt superblock: bad chunk size");
	good_sb(b, STORE_VERSION, 65536);
	expect_open_refused(f, b, 10, "corrupt superblock: short superblock");
	expect_open_refused(f, b, 0, "corrupt superblock: short superblock");
	good_sb(b, STORE_VERSION, 65536);
	b[STORE_SB_SIZE] = 0;
	expect_open_refused(f, b, STORE_SB_SIZE + 1,
			    "corrupt superblock: superblock longer than 64 bytes");
	/* mkfs never replaces a superblock, even a corrupt one. */
	assert_int_equal(store_mkfs(NULL, f->dir, 0, f->why, sizeof(f->why)), -EEXIST);
}

static void test_store_bad_directory(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct store *s;

	path_of(f, "missing", p);
	assert_int_equal(store_open(NULL, p, 0, &s, f->why, sizeof(f->why), NULL), -ENOENT);
	assert_non_null(strstr(f->why, "backing directory does not exist"));
	write_file(f, "file", "x", 1);
	path_of(f, "file", p);
	assert_int_equal(store_open(NULL, p, 0, &s, f->why, sizeof(f->why), NULL), -ENOTDIR);
	assert_non_null(strstr(f->why, "not a directory"));
	assert_int_equal(store_open(NULL, f->dir, 1000, &s, f->why, sizeof(f->why), NULL),
			 -EINVAL);
	assert_non_null(strstr(f->why, "invalid chunk size 1000"));
}

static void test_store_mkfs_then_open(void **state)
{
	struct fixture *f = *state;
	struct store *s;
	int created = -1;

	assert_int_equal(store_mkfs(NULL, f->dir, 8192, f->why, sizeof(f->why)), 0);
	assert_int_equal(count_entries(f), 1);
	assert_int_equal(store_mkfs(NULL, f->dir, 8192, f->why, sizeof(f->why)), -EEXIST);
	assert_non_null(strstr(f->why, "already holds a frozenfs store"));
	assert_int_equal(store_open(NULL, f->dir, 0, &s, NULL, 0, &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(store_superblock(s)->chunk_size, 8192);
	store_close(s);
}

static void test_store_failed_creation_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct store *s;

	/* fsync of the temp file fails: no superblock, no temp file. */
	iofake_fail("fsync", 1, -EIO);
	assert_int_equal(store_open(iofake_io(), f->dir, 0, &s, f->why, sizeof(f->why), NULL),
			 -EIO);
	assert_int_equal(err_last()->code, -EIO);
	assert_string_equal(err_last()->op, "fsync");
	assert_int_equal(count_entries(f), 0);

	/* So does a failed truncate of the temp file, or a failed lock. */
	iofake_reset();
	iofake_fail("ftruncate", 1, -EIO);
	assert_int_equal(store_open(iofake_io(), f->dir, 0, &s, f->why, sizeof(f->why), NULL),
			 -EIO);
	assert_int_equal(count_entries(f), 0);
	iofake_reset();
	iofake_fail("flock", 1, -ENOLCK);
	assert_int_equal(store_open(iofake_io(), f->dir, 0, &s, f->why, sizeof(f->why), NULL),
			 -ENOLCK);
	assert_non_null(strstr(f->why, "cannot create superblock"));
	assert_int_equal(count_entries(f), 1);	/* the empty temp file, taken over next time */
	/* The temp file's fstat fails: its errno, not EINVAL. */
	iofake_reset();
	iofake_fail("fstat", 1, -EIO);
	assert_int_equal(store_open(iofake_io(), f->dir, 0, &s, f->why, sizeof(f->why), NULL),
			 -EIO);
	assert_string_equal(err_last()->op, "fstat");
	assert_int_equal(count_entries(f), 1);

	/* A short write and an EINTR on the way are retried. */
	iofake_reset();
	iofake_fail("pwritev", 1, IOFAKE_SHORT);
	iofake_fail("pwritev", 2, IOFAKE_EINTR);
	assert_int_equal(store_open(iofake_io(), f->dir, 0, &s, f->why, sizeof(f->why), NULL), 0);
	assert_int_equal(iofake_fired(), 2);
	store_close(s);
}

/* What a creation killed before its rename leaves is taken over by the next one. */
static void test_store_leftover_temp_file_taken_over(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[STORE_SB_SIZE + 8];
	struct store_sb disk;
	struct store *s;
	int created = -1;
	static const char junk[] = "half a superblock, and more than 64 bytes of it: "
				   "the rest must be truncated away";

	write_file(f, ".frozenfs.tmp", junk, sizeof(junk) - 1);
	assert_int_equal(store_open(NULL, f->dir, 8192, &s, f->why, sizeof(f->why), &created),
			 0);
	assert_int_equal(created, 1);
	assert_int_equal(read_file(f, STORE_SB_NAME, buf, sizeof(buf)), STORE_SB_SIZE);
	assert_int_equal(store_sb_decode(buf, STORE_SB_SIZE, &disk, NULL), 0);
	assert_int_equal(disk.chunk_size, 8192);
	assert_int_equal(read_file(f, ".frozenfs.tmp", buf, sizeof(buf)), -ENOENT);
	store_close(s);
}

/* One another creator holds locked is left alone, and creation is refused. */
static void test_store_temp_file_of_another_creator(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], buf[8];
	struct store *s;
	int fd;

	write_file(f, ".frozenfs.tmp", "half", 4);
	path_of(f, ".frozenfs.tmp", p);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(store_open(NULL, f->dir, 0, &s, f->why, sizeof(f->why), NULL), -EEXIST);
	assert_string_equal(f->why,
			    "cannot create store: another frozenfs is creating it at this moment");
	assert_int_equal(count_entries(f), 1);
	assert_int_equal(read_file(f, ".frozenfs.tmp", buf, sizeof(buf)), 4);
	close(fd);
}

/* A FIFO named .frozenfs is refused at once: opening it must not wait for a writer. */
static void test_store_fifo_superblock_refused_without_blocking(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	struct store *s;

	path_of(f, STORE_SB_NAME, p);
	assert_int_equal(mkfifo(p, 0644), 0);
	alarm(10);	/* a regression hangs in open(): turn it into a failure */
	assert_int_equal(store_open(NULL, f->dir, 0, &s, f->why, sizeof(f->why), NULL),
			 -EINVAL);
	assert_string_equal(f->why, "corrupt superblock: not a regular file");
	assert_int_equal(store_mkfs(NULL, f->dir, 0, f->why, sizeof(f->why)), -EEXIST);
	alarm(0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_crc32c_vector),
		cmocka_unit_test(test_store_sb_roundtrip_little_endian),
		cmocka_unit_test(test_store_sb_every_corruption_refused),
		T(test_store_create_in_empty_dir),
		T(test_store_default_chunk_size),
		T(test_store_refuses_nonempty_foreign_dir),
		T(test_store_second_open_wouldblock),
		T(test_store_busy_draining),
		T(test_store_chunk_size_from_superblock_wins),
		T(test_store_corrupt_superblock_refused_untouched),
		T(test_store_bad_directory),
		T(test_store_mkfs_then_open),
		T(test_store_failed_creation_leaves_nothing),
		T(test_store_leftover_temp_file_taken_over),
		T(test_store_temp_file_of_another_creator),
		T(test_store_fifo_superblock_refused_without_blocking),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
