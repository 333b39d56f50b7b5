/*
 * test_err: the thread-local error detail record.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static int setup(void **state)
{
	(void)state;
	err_clear();
	return 0;
}

static void test_err_set_records_and_returns_code(void **state)
{
	const struct err_detail *d;
	int line;

	(void)state;
	line = __LINE__ + 1;
	assert_int_equal(err_set(-EIO, "fdatasync", "a/b.dat"), -EIO);
	d = err_last();
	assert_non_null(d);
	assert_int_equal(d->code, -EIO);
	assert_string_equal(d->op, "fdatasync");
	assert_string_equal(d->path, "a/b.dat");
	assert_non_null(strstr(d->src_file, "test_err.c"));
	assert_int_equal(d->src_line, line);
}

static void test_err_nonnegative_records_nothing(void **state)
{
	(void)state;
	assert_int_equal(err_set(-ENOSPC, "pwritev", "x"), -ENOSPC);
	assert_int_equal(err_set(0, "other", "y"), 0);
	assert_int_equal(err_set(42, "other", "y"), 42);
	assert_int_equal(err_last()->code, -ENOSPC);
	assert_string_equal(err_last()->op, "pwritev");
}

static void test_err_null_path_is_empty(void **state)
{
	(void)state;
	err_set(-ENOMEM, "pool_create", NULL);
	assert_int_equal(err_last()->code, -ENOMEM);
	assert_string_equal(err_last()->path, "");
}

static void test_err_clear_forgets(void **state)
{
	(void)state;
	err_set(-EIO, "fsync", "f");
	err_clear();
	assert_non_null(err_last());
	assert_int_equal(err_last()->code, 0);
}

static void test_err_long_path_keeps_tail(void **state)
{
	char path[ERR_PATH_MAX * 2];
	size_t n;

	(void)state;
	memset(path, 'd', sizeof(path));
	memcpy(path + sizeof(path) - 10, "/file.dat", 10);	/* includes the NUL */
	err_set(-EIO, "pwritev", path);
	n = strlen(err_last()->path);
	assert_int_equal(n, ERR_PATH_MAX - 1);
	assert_string_equal(err_last()->path + n - 9, "/file.dat");
}

static void test_err_preserves_errno(void **state)
{
	(void)state;
	errno = EBADF;
	err_set(-EIO, "fsync", "f");
	assert_int_equal(errno, EBADF);
}

static void test_err_format_one_line(void **state)
{
	char buf[256];
	char want[256];
	int line, n;

	(void)state;
	line = __LINE__ + 1;
	err_set(-EIO, "fdatasync", "a/b.dat");
	n = err_format(err_last(), buf, sizeof(buf));
	snprintf(want, sizeof(want), "fdatasync a/b.dat: %s (test_err.c:%d)",
		 strerrordesc_np(EIO), line);
	assert_string_equal(buf, want);
	assert_int_equal(n, (int)strlen(want));
	assert_null(strchr(buf, '\n'));
}

static void test_err_format_without_path_and_truncated(void **state)
{
	char small[8], full[256];
	int n;

	(void)state;
	err_set(-ENOMEM, "pool_create", NULL);
	n = err_format(err_last(), full, sizeof(full));
	assert_true(!strncmp(full, "pool_create: ", 13));
	/* Like snprintf: the return is the full length, the buffer is cut and terminated. */
	assert_int_equal(err_format(err_last(), small, sizeof(small)), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	err_clear();
	err_format(err_last(), full, sizeof(full));
	assert_string_equal(full, "no error");
}

static void *other_thread(void *arg)
{
	struct err_detail *out = arg;

	/* A new thread starts with no record, whatever the main thread recorded. */
	if (err_last()->code != 0)
		return (void *)1;
	err_set(-EDQUOT, "fallocate", "other");
	*out = *err_last();
	return NULL;
}

static void test_err_thread_local_and_restore(void **state)
{
	struct err_detail copy;
	pthread_t t;
	void *ret;

	(void)state;
	err_set(-EIO, "fsync", "main");
	assert_int_equal(pthread_create(&t, NULL, other_thread, &copy), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_null(ret);
	/* The other thread's record did not touch ours... */
	assert_int_equal(err_last()->code, -EIO);
	assert_string_equal(err_last()->path, "main");
	/* ...and its copy can be re-raised here. */
	err_restore(&copy);
	assert_int_equal(err_last()->code, -EDQUOT);
	assert_string_equal(err_last()->op, "fallocate");
	assert_string_equal(err_last()->path, "other");
	err_restore(NULL);
	assert_int_equal(err_last()->code, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_err_set_records_and_returns_code, setup),
		cmocka_unit_test_setup(test_err_nonnegative_records_nothing, setup),
		cmocka_unit_test_setup(test_err_null_path_is_empty, setup),
		cmocka_unit_test_setup(test_err_clear_forgets, setup),
		cmocka_unit_test_setup(test_err_long_path_keeps_tail, setup),
		cmocka_unit_test_setup(test_err_preserves_errno, setup),
		cmocka_unit_test_setup(test_err_format_one_line, setup),
		cmocka_unit_test_setup(test_err_format_without_path_and_truncated, setup),
		cmocka_unit_test_setup(test_err_thread_local_and_restore, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
