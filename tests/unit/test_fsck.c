/*
 * test_fsck: fsck_run() on small stores: clean, mounted (locked), not a store, every kind of
 * superblock damage with and without repair, crash leftovers, special files, and read
 * errors injected through iofake (reported with the file's name, never repaired).
 */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "fsck.h"
#include "iofake.h"
#include "testdir.h"
#include "store.h"

struct fixture {
	char dir[PATH_MAX];
	char why[256];
	char *out;		/* what fsck printed, after run() */
	size_t outlen;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (testdir_make(f->dir, sizeof(f->dir), "test_fsck") < 0)
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
	free(f->out);
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

static int exists(const struct fixture *f, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(f, name, p);
	return lstat(p, &st) == 0;
}

/* A store with chunk size 8192, a file "a" (5 bytes) and "d/b" (100000 bytes). */
static void make_store(struct fixture *f)
{
	static uint8_t big[100000];
	char p[PATH_MAX];

	assert_int_equal(store_mkfs(NULL, f->dir, 8192, f->why, sizeof(f->why)), 0);
	write_file(f, "a", "hello", 5);
	path_of(f, "d", p);
	assert_int_equal(mkdir(p, 0755), 0);
	memset(big, 0x5a, sizeof(big));
	write_file(f, "d/b", big, sizeof(big));
}

static int run(struct fixture *f, const struct chunk_io *io, int repair, uint32_t chunk_size)
{
	struct fsck_opts o = { .repair = repair, .chunk_size = chunk_size, .progress_fd = -1 };
	FILE *mem;
	int rc;

	free(f->out);
	f->out = NULL;
	mem = open_memstream(&f->out, &f->outlen);
	assert_non_null(mem);
	o.out = mem;
	rc = fsck_run(io, f->dir, &o, f->why, sizeof(f->why));
	fclose(mem);
	return rc;
}

static void expect_out(const struct fixture *f, const char *needle)
{
	if (!strstr(f->out, needle))
		fail_msg("fsck output lacks \"%s\":\n%s", needle, f->out);
}

static uint32_t sb_chunk_size(const struct fixture *f)
{
	struct store *s;
	uint32_t cs;

	assert_int_equal(store_open(NULL, f->dir, 0, &s, NULL, 0, NULL), 0);
	cs = store_superblock(s)->chunk_size;
	store_close(s);
	return cs;
}

static void test_fsck_clean_store(void **state)
{
	struct fixture *f = *state;

	make_store(f);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
	assert_string_equal(f->why, "");
	expect_out(f, "2 files (97.7 KiB), 1 directories, 0 symlinks, 0 special files: clean");
	/* --repair on a clean store changes nothing and still says clean. */
	assert_int_equal(run(f, NULL, 1, 0), FSCK_CLEAN);
	assert_false(exists(f, FSCK_LOST_FOUND));
}

static void test_fsck_mounted_store_refused(void **state)
{
	struct fixture *f = *state;
	struct store *s;

	make_store(f);
	assert_int_equal(store_open(NULL, f->dir, 0, &s, NULL, 0, NULL), 0);	/* "mounted" */
	assert_int_equal(run(f, NULL, 1, 4096), FSCK_OPERATIONAL);
	assert_non_null(strstr(f->why, "store is mounted"));
	store_close(s);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
}

static void test_fsck_not_a_store(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(run(f, NULL, 1, 4096), FSCK_OPERATIONAL);
	assert_non_null(strstr(f->why, "not a frozenfs store"));
	assert_false(exists(f, STORE_SB_NAME));	/* an empty dir is not made a store */
	strcpy(f->dir + strlen(f->dir), "/missing");
	assert_int_equal(run(f, NULL, 0, 0), FSCK_OPERATIONAL);
	assert_non_null(strstr(f->why, "does not exist"));
	f->dir[strlen(f->dir) - strlen("/missing")] = '\0';
}

static void test_fsck_corrupt_superblock_repaired_with_recorded_chunk_size(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];
	uint8_t b[STORE_SB_SIZE];
	int fd;

	make_store(f);
	path_of(f, STORE_SB_NAME, p);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
	b[40] ^= 1;				/* a reserved byte: only the CRC notices */
	assert_int_equal(pwrite(fd, b, sizeof(b), 0), (ssize_t)sizeof(b));
	close(fd);

	assert_int_equal(run(f, NULL, 0, 0), FSCK_UNCORRECTED);
	expect_out(f, "corrupt superblock: bad checksum");
	expect_out(f, "(see --repair)");
	assert_int_equal(run(f, NULL, 1, 0), FSCK_CORRECTED);
	expect_out(f, "wrote a new superblock (chunk size 8192, the damaged superblock)");
	assert_true(exists(f, FSCK_LOST_FOUND "/superblock.damaged"));
	assert_false(exists(f, FSCK_SB_TMP));
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
	assert_int_equal(sb_chunk_size(f), 8192);
}

static void test_fsck_truncated_superblock_needs_chunk_size(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];

	make_store(f);
	path_of(f, STORE_SB_NAME, p);
	assert_int_equal(truncate(p, 5), 0);	/* magic gone: nothing recorded */
	assert_int_equal(run(f, NULL, 1, 0), FSCK_UNCORRECTED);
	expect_out(f, "the chunk size is not recorded anywhere");
	assert_int_equal(run(f, NULL, 1, 16384), FSCK_CORRECTED);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
	assert_int_equal(sb_chunk_size(f), 16384);
}

static void test_fsck_missing_superblock(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];

	make_store(f);
	path_of(f, STORE_SB_NAME, p);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(run(f, NULL, 0, 4096), FSCK_UNCORRECTED);
	expect_out(f, "no superblock, but the directory holds files");
	assert_false(exists(f, STORE_SB_NAME));
	assert_int_equal(run(f, NULL, 1, 4096), FSCK_CORRECTED);
	assert_int_equal(sb_chunk_size(f), 4096);
}

static void test_fsck_superblock_not_a_regular_file(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];

	make_store(f);
	path_of(f, STORE_SB_NAME, p);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);	/* must not block */
	assert_int_equal(run(f, NULL, 0, 0), FSCK_UNCORRECTED);
	expect_out(f, "the superblock is not a regular file");
	assert_int_equal(run(f, NULL, 1, 65536), FSCK_CORRECTED);
	assert_true(exists(f, FSCK_LOST_FOUND "/superblock.damaged"));
	assert_int_equal(sb_chunk_size(f), 65536);
}

static void test_fsck_newer_version_left_alone(void **state)
{
	struct fixture *f = *state;
	struct store_sb sb = { .version = STORE_VERSION + 1, .chunk_size = 4096 };
	uint8_t b[STORE_SB_SIZE];
	char p[PATH_MAX];

	make_store(f);
	path_of(f, STORE_SB_NAME, p);
	assert_int_equal(unlink(p), 0);
	store_sb_encode(&sb, b);
	write_file(f, STORE_SB_NAME, b, sizeof(b));
	assert_int_equal(run(f, NULL, 1, 4096), FSCK_UNCORRECTED);
	expect_out(f, "written by a newer frozenfs; left alone");
	assert_false(exists(f, FSCK_LOST_FOUND));
}

static void test_fsck_creation_leftover_installed(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX], q[PATH_MAX];

	/* A crash between the temp superblock's fsync and its rename. */
	make_store(f);
	path_of(f, STORE_SB_NAME, p);
	path_of(f, STORE_SB_TMP, q);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_UNCORRECTED);
	expect_out(f, "leftover of an interrupted store creation (a complete superblock)");
	assert_int_equal(run(f, NULL, 1, 0), FSCK_CORRECTED);
	expect_out(f, "moved to lost+found/frozenfs.tmp");
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
	assert_int_equal(sb_chunk_size(f), 8192);
}

static void test_fsck_leftover_beside_valid_superblock_moved(void **state)
{
	struct fixture *f = *state;

	make_store(f);
	write_file(f, FSCK_SB_TMP, "junk", 4);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_UNCORRECTED);
	expect_out(f, "leftover of an interrupted fsck repair");
	assert_int_equal(run(f, NULL, 1, 0), FSCK_CORRECTED);
	assert_true(exists(f, FSCK_LOST_FOUND "/frozenfs.fsck"));
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
	/* A second leftover of the same name gets a unique name in lost+found. */
	write_file(f, FSCK_SB_TMP, "junk", 4);
	assert_int_equal(run(f, NULL, 1, 0), FSCK_CORRECTED);
	assert_true(exists(f, FSCK_LOST_FOUND "/frozenfs.fsck.1"));
}

static void test_fsck_special_files_counted_not_read(void **state)
{
	struct fixture *f = *state;
	char p[PATH_MAX];

	make_store(f);
	path_of(f, "d/fifo", p);
	assert_int_equal(mkfifo(p, 0644), 0);
	path_of(f, "link", p);
	assert_int_equal(symlink("a", p), 0);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
	expect_out(f, "1 symlinks, 1 special files: clean");
}

static void test_fsck_read_error_named(void **state)
{
	struct fixture *f = *state;

	make_store(f);
	/* Every read of file data fails; the superblock is read before the rule is set... */
	iofake_fail("preadv", 3, -EIO);		/* 1, 2: the superblock (data, then EOF) */
	assert_int_equal(run(f, iofake_io(), 1, 0), FSCK_UNCORRECTED);
	assert_int_equal(iofake_fired(), 1);
	expect_out(f, "read error at byte 0: Input/output error");
	expect_out(f, "1 left uncorrected");
	/* ...and the file it hit is named (the walk order is the directory's). */
	assert_true(strstr(f->out, "/a: read error") || strstr(f->out, "/d/b: read error"));
	assert_false(exists(f, FSCK_LOST_FOUND));	/* nothing to repair */
}

static void test_fsck_unreadable_file(void **state)
{
	struct fixture *f = *state;

	make_store(f);
	iofake_fail("openat", 2, -EACCES);	/* 1: the superblock */
	assert_int_equal(run(f, iofake_io(), 0, 0), FSCK_UNCORRECTED);
	expect_out(f, "unreadable: cannot open: Permission denied");
}

static void test_fsck_interrupted_creation_in_empty_dir(void **state)
{
	struct fixture *f = *state;
	struct store *s;

	/* A half-written temp superblock and nothing else: the store was never created. */
	write_file(f, STORE_SB_TMP, "FROZ", 4);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_UNCORRECTED);
	expect_out(f, "leftover of an interrupted store creation");
	expect_out(f, "0 errors corrected, 1 left uncorrected (see --repair)");
	assert_int_equal(run(f, NULL, 1, 0), FSCK_CORRECTED);
	assert_false(exists(f, STORE_SB_NAME));
	/* Now empty but for lost+found: a mount creates the store as usual. */
	assert_int_equal(store_open(NULL, f->dir, 0, &s, f->why, sizeof(f->why), NULL), 0);
	store_close(s);
	assert_int_equal(run(f, NULL, 0, 0), FSCK_CLEAN);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_fsck_clean_store),
		T(test_fsck_mounted_store_refused),
		T(test_fsck_not_a_store),
		T(test_fsck_corrupt_superblock_repaired_with_recorded_chunk_size),
		T(test_fsck_truncated_superblock_needs_chunk_size),
		T(test_fsck_missing_superblock),
		T(test_fsck_superblock_not_a_regular_file),
		T(test_fsck_newer_version_left_alone),
		T(test_fsck_creation_leftover_installed),
		T(test_fsck_interrupted_creation_in_empty_dir),
		T(test_fsck_leftover_beside_valid_superblock_moved),
		T(test_fsck_special_files_counted_not_read),
		T(test_fsck_read_error_named),
		T(test_fsck_unreadable_file),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
