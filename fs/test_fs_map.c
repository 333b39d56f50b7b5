/*
 * test_fs_map: fs_map's offset <-> chunk arithmetic, including the 64-bit edges
 * (DURABILITY.md requirement 39) and the EFBIG boundary (requirement 40).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fs_map.h"

static void test_fs_map_init(void **state)
{
	struct fs_map m;

	(void)state;
	assert_int_equal(fs_map_init(&m, 65536), 0);
	assert_int_equal(m.shift, 16);
	assert_int_equal(fs_map_init(&m, 3000), -EINVAL);
	assert_int_equal(fs_map_init(&m, 0), -EINVAL);
	assert_int_equal(fs_map_init(&m, 16u << 20), 0);
	assert_int_equal(m.shift, 24);
}

static void test_fs_map_index_offset(void **state)
{
	struct fs_map m;

	(void)state;
	fs_map_init(&m, 4096);
	assert_int_equal(fs_map_index(&m, 0), 0);
	assert_int_equal(fs_map_index(&m, 4095), 0);
	assert_int_equal(fs_map_index(&m, 4096), 1);
	assert_int_equal(fs_map_offset(&m, 4097), 1);
	/* Across 2^31, 2^32 and 5 GiB: no 32-bit truncation. */
	assert_true(fs_map_index(&m, (1ull << 32) + 5) == (1ull << 20));
	assert_int_equal(fs_map_offset(&m, (1ull << 32) + 5), 5);
	assert_true(fs_map_index(&m, 5ull << 30) == (5ull << 30) / 4096);
	assert_true(fs_map_index(&m, INT64_MAX) == (uint64_t)INT64_MAX >> 12);
}

static void test_fs_map_nchunks(void **state)
{
	struct fs_map m;

	(void)state;
	fs_map_init(&m, 65536);
	assert_int_equal(fs_map_nchunks(&m, 0), 0);
	assert_int_equal(fs_map_nchunks(&m, 1), 1);
	assert_int_equal(fs_map_nchunks(&m, 65536), 1);
	assert_int_equal(fs_map_nchunks(&m, 65537), 2);
	assert_true(fs_map_nchunks(&m, UINT64_MAX) == (UINT64_MAX >> 16) + 1);
}

static void test_fs_map_split(void **state)
{
	struct fs_map m;
	struct fs_map_iter it;
	struct fs_map_piece p;

	(void)state;
	fs_map_init(&m, 4096);
	/* 10 bytes before a boundary, two whole chunks, 7 bytes after. */
	fs_map_iter_init(&it, &m, 4096 - 10, 10 + 8192 + 7);
	assert_int_equal(fs_map_next(&it, &p), 1);
	assert_true(p.index == 0 && p.off == 4086 && p.len == 10);
	assert_int_equal(fs_map_next(&it, &p), 1);
	assert_true(p.index == 1 && p.off == 0 && p.len == 4096);
	assert_int_equal(fs_map_next(&it, &p), 1);
	assert_true(p.index == 2 && p.off == 0 && p.len == 4096);
	assert_int_equal(fs_map_next(&it, &p), 1);
	assert_true(p.index == 3 && p.off == 0 && p.len == 7);
	assert_int_equal(fs_map_next(&it, &p), 0);
	/* Inside one chunk. */
	fs_map_iter_init(&it, &m, 100, 50);
	assert_int_equal(fs_map_next(&it, &p), 1);
	assert_true(p.index == 0 && p.off == 100 && p.len == 50);
	assert_int_equal(fs_map_next(&it, &p), 0);
	/* Empty. */
	fs_map_iter_init(&it, &m, 100, 0);
	assert_int_equal(fs_map_next(&it, &p), 0);
}

static void test_fs_map_check_range(void **state)
{
	(void)state;
	assert_int_equal(fs_map_check_range(0, 0), 0);
	assert_int_equal(fs_map_check_range(INT64_MAX, 0), 0);
	assert_int_equal(fs_map_check_range(INT64_MAX - 10, 10), 0);
	assert_int_equal(fs_map_check_range(INT64_MAX - 10, 11), -EFBIG);
	assert_int_equal(fs_map_check_range((uint64_t)INT64_MAX + 1, 0), -EFBIG);
	assert_int_equal(fs_map_check_range(UINT64_MAX, UINT64_MAX), -EFBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_map_init),
		cmocka_unit_test(test_fs_map_index_offset),
		cmocka_unit_test(test_fs_map_nchunks),
		cmocka_unit_test(test_fs_map_split),
		cmocka_unit_test(test_fs_map_check_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
