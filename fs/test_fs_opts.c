/*
 * test_fs_opts: the command line: defaults, every value's range and its one-line refusal,
 * the mkfs and fsck subcommands, and that parsing keeps no pointer into argv.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>
#include <cmocka.h>

#include <fuse_log.h>

#include "chunk.h"
#include "fs_opts.h"

#define PARSE(o, why, ...) parse((o), (why), (char *[]){ "frozenfs", __VA_ARGS__, NULL })

static int parse(struct fs_opts *o, char *why, char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return fs_opts_parse(argc, argv, o, why, 256);
}

__attribute__((format(printf, 2, 0)))
static void quiet(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

static void test_fs_opts_mount_defaults(void **state)
{
	struct fs_opts o;
	char why[256];

	(void)state;
	assert_int_equal(PARSE(&o, why, "store", "mnt"), 0);
	assert_int_equal(o.cmd, FS_CMD_MOUNT);
	assert_string_equal(o.backing_arg, "store");
	assert_string_equal(o.mountpoint_arg, "mnt");
	assert_int_equal(o.chunk_size, CHUNK_SIZE_DEFAULT);
	assert_int_equal(o.flush_interval_ms, FS_FLUSH_MS_DEFAULT);
	assert_int_equal(o.pool_mb, FS_POOL_MB_DEFAULT);
	assert_int_equal(o.errors, FS_ERRORS_REMOUNT_RO);
	assert_int_equal(o.log_level, LOG_INFO);
	assert_int_equal(o.sync_threads_set, 0);
	assert_int_equal(o.foreground, 0);
	assert_int_equal(o.show_help, 0);
	assert_int_equal(o.args.argc, 1);	/* only argv[0] is left for libfuse */
	assert_string_equal(o.args.argv[0], "frozenfs");
	fs_opts_fini(&o);
}

static void test_fs_opts_mount_values(void **state)
{
	struct fs_opts o;
	char why[256];

	(void)state;
	assert_int_equal(PARSE(&o, why, "-f", "-s", "-o",
			       "chunk_size=4K,flush_interval_ms=200,pool_mb=8,sync_threads=3",
			       "-o",
			       "errors=continue,ro,direct_io,noacl,allow_other,fsname=x,max_read=4096",
			       "-otest_flush_delay_us=7", "store", "mnt"), 0);
	assert_int_equal(o.chunk_size, 4096);
	assert_int_equal(o.flush_interval_ms, 200);
	assert_int_equal(o.pool_mb, 8);
	assert_int_equal(o.sync_threads, 3);
	assert_int_equal(o.sync_threads_set, 1);
	assert_int_equal(o.errors, FS_ERRORS_CONTINUE);
	assert_int_equal(o.ro, 1);
	assert_int_equal(o.direct_io, 1);
	assert_int_equal(o.acl, 0);
	assert_int_equal(o.allow_other, 1);
	assert_int_equal(o.fsname, 1);
	assert_int_equal(o.foreground, 1);
	assert_int_equal(o.singlethread, 1);
	assert_int_equal(o.test_flush_delay_us, 7);
	/* ro, allow_other, fsname and unknown options go on to libfuse; ours do not. */
	assert_int_equal(o.args.argc, 3);
	assert_string_equal(o.args.argv[1], "-o");
	assert_string_equal(o.args.argv[2], "ro,allow_other,fsname=x,max_read=4096");
	fs_opts_fini(&o);

	assert_int_equal(PARSE(&o, why, "-d", "a", "b"), 0);
	assert_int_equal(o.acl, 1);	/* POSIX ACLs unless -o noacl */
	assert_int_equal(o.debug, 1);
	assert_int_equal(o.foreground, 1);	/* -d implies -f */
	assert_int_equal(o.log_level, LOG_DEBUG);	/* and debug logging, unless told */
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "-d", "-o", "log_level=error", "a", "b"), 0);
	assert_int_equal(o.log_level, LOG_ERR);
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "-o", "log_level=warn", "a", "b"), 0);
	assert_int_equal(o.log_level, LOG_WARNING);
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "-o", "chunk_size=16MiB", "a", "b"), 0);
	assert_int_equal(o.chunk_size, 16u << 20);
	fs_opts_fini(&o);
}

static void expect_refusal(const char *why_want, char **argv)
{
	struct fs_opts o;
	char why[256];

	assert_int_equal(parse(&o, why, argv), -EINVAL);
	assert_string_equal(why, why_want);
	fs_opts_fini(&o);
}

#define REFUSED(want, ...) expect_refusal((want), (char *[]){ "frozenfs", __VA_ARGS__, NULL })

static void test_fs_opts_bad_values_one_line(void **state)
{
	(void)state;
	REFUSED("invalid chunk_size '3000': must be a power of two between 4096 and 16777216",
		"-o", "chunk_size=3000", "a", "b");
	REFUSED("invalid chunk_size '32M': must be a power of two between 4096 and 16777216",
		"-o", "chunk_size=32M", "a", "b");
	REFUSED("invalid chunk_size '-4096': must be a power of two between 4096 and 16777216",
		"-o", "chunk_size=-4096", "a", "b");
	REFUSED("invalid flush_interval_ms 'abc': must be a whole number of milliseconds "
		"from 1 to 3600000", "-o", "flush_interval_ms=abc", "a", "b");
	REFUSED("invalid flush_interval_ms '0': must be a whole number of milliseconds "
		"from 1 to 3600000", "-o", "flush_interval_ms=0", "a", "b");
	REFUSED("invalid pool_mb '1048577': must be a whole number of MiB from 1 to 1048576",
		"-o", "pool_mb=1048577", "a", "b");
	REFUSED("invalid sync_threads '257': must be a whole number from 0 to 256",
		"-o", "sync_threads=257", "a", "b");
	REFUSED("invalid errors 'bogus': must be continue or remount-ro",
		"-o", "errors=bogus", "a", "b");
	REFUSED("invalid log_level 'loud': must be error, warn, info or debug",
		"-o", "log_level=loud", "a", "b");
	REFUSED("invalid test_submit_delay_us '1x': must be a whole number of microseconds",
		"-o", "test_submit_delay_us=1x", "a", "b");
	/* A number too large for 64 bits is refused, not wrapped. */
	REFUSED("invalid chunk_size '18446744073709551616': must be a power of two between "
		"4096 and 16777216", "-o", "chunk_size=18446744073709551616", "a", "b");
}

static void test_fs_opts_missing_and_extra_arguments(void **state)
{
	(void)state;
	expect_refusal("missing BACKING_DIR (usage: frozenfs [options] BACKING_DIR MOUNTPOINT; "
		       "see --help)", (char *[]){ "frozenfs", NULL });
	REFUSED("missing MOUNTPOINT (usage: frozenfs [options] BACKING_DIR MOUNTPOINT; "
		"see --help)", "a");
	REFUSED("unexpected argument 'c' (usage: frozenfs [options] BACKING_DIR MOUNTPOINT)",
		"a", "b", "c", "d");
}

static void test_fs_opts_help_and_version_skip_validation(void **state)
{
	struct fs_opts o;
	char why[256];

	(void)state;
	assert_int_equal(PARSE(&o, why, "-o", "chunk_size=3", "--help"), 0);
	assert_int_equal(o.show_help, 1);
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "-V", "x", "y", "z"), 0);
	assert_int_equal(o.show_version, 1);
	fs_opts_fini(&o);
}

static void test_fs_opts_malformed_o_left_to_libfuse(void **state)
{
	struct fs_opts o;
	char why[256];

	(void)state;
	fuse_set_log_func(quiet);
	assert_int_equal(PARSE(&o, why, "a", "b", "-o"), -EINVAL);
	assert_string_equal(why, "");	/* libfuse logged "missing argument after -o" */
	assert_int_equal(o.cmd, FS_CMD_MOUNT);
	fs_opts_fini(&o);
}

static void test_fs_opts_mkfs(void **state)
{
	struct fs_opts o;
	char why[256];

	(void)state;
	assert_int_equal(PARSE(&o, why, "mkfs", "dir"), 0);
	assert_int_equal(o.cmd, FS_CMD_MKFS);
	assert_string_equal(o.backing_arg, "dir");
	assert_int_equal(o.chunk_size, CHUNK_SIZE_DEFAULT);
	assert_int_equal(o.chunk_size_set, 0);
	assert_null(o.mountpoint_arg);
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "mkfs", "-c", "8K", "dir"), 0);
	assert_int_equal(o.chunk_size, 8192);
	assert_int_equal(o.chunk_size_set, 1);
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "mkfs", "dir", "-c1M"), 0);
	assert_int_equal(o.chunk_size, 1u << 20);
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "mkfs", "--help"), 0);
	assert_int_equal(o.show_help, 1);
	fs_opts_fini(&o);

	REFUSED("mkfs: missing DIR (usage: frozenfs mkfs [-c CHUNK] DIR)", "mkfs");
	REFUSED("mkfs: unexpected argument 'b' (usage: frozenfs mkfs [-c CHUNK] DIR)",
		"mkfs", "a", "b");
	REFUSED("mkfs: option -c needs a chunk size (usage: frozenfs mkfs [-c CHUNK] DIR)",
		"mkfs", "a", "-c");
	REFUSED("invalid chunk size '3000': must be a power of two between 4096 and 16777216",
		"mkfs", "-c", "3000", "a");
	REFUSED("mkfs: unknown option '-v' (usage: frozenfs mkfs [-c CHUNK] DIR)",
		"mkfs", "-v", "a");
	REFUSED("mkfs: unknown option '--repair' (usage: frozenfs mkfs [-c CHUNK] DIR)",
		"mkfs", "--repair", "a");
}

static void test_fs_opts_fsck(void **state)
{
	struct fs_opts o;
	char why[256];

	(void)state;
	assert_int_equal(PARSE(&o, why, "fsck", "--repair", "-v", "-c", "4096", "dir"), 0);
	assert_int_equal(o.cmd, FS_CMD_FSCK);
	assert_int_equal(o.repair, 1);
	assert_int_equal(o.verbose, 1);
	assert_int_equal(o.chunk_size, 4096);
	assert_int_equal(o.chunk_size_set, 1);
	assert_string_equal(o.backing_arg, "dir");
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "fsck", "-nv", "--", "-dir"), 0);
	assert_int_equal(o.no_change, 1);
	assert_int_equal(o.verbose, 1);
	assert_int_equal(o.repair, 0);
	assert_string_equal(o.backing_arg, "-dir");
	fs_opts_fini(&o);

	REFUSED("fsck: --repair and -n contradict each other (usage: frozenfs fsck [--repair] "
		"[-n] [-v] [-c CHUNK] DIR)", "fsck", "--repair", "-n", "dir");
	REFUSED("fsck: missing DIR (usage: frozenfs fsck [--repair] [-n] [-v] [-c CHUNK] DIR)",
		"fsck", "-v");
	REFUSED("fsck: unknown option '--force' (usage: frozenfs fsck [--repair] [-n] [-v] "
		"[-c CHUNK] DIR)", "fsck", "--force", "dir");
	REFUSED("fsck: unknown option '-y' (usage: frozenfs fsck [--repair] [-n] [-v] "
		"[-c CHUNK] DIR)", "fsck", "-vy", "dir");
	/* The caller maps a refused fsck command line to exit status 16: cmd says which. */
	assert_int_equal(PARSE(&o, why, "fsck", "-x", "dir"), -EINVAL);
	assert_int_equal(o.cmd, FS_CMD_FSCK);
	fs_opts_fini(&o);
}

static void test_fs_opts_subcommand_only_as_first_argument(void **state)
{
	struct fs_opts o;
	char why[256];

	(void)state;
	assert_int_equal(PARSE(&o, why, "store", "mkfs"), 0);
	assert_int_equal(o.cmd, FS_CMD_MOUNT);
	assert_string_equal(o.mountpoint_arg, "mkfs");
	fs_opts_fini(&o);
	assert_int_equal(PARSE(&o, why, "./fsck", "mnt"), 0);
	assert_int_equal(o.cmd, FS_CMD_MOUNT);
	fs_opts_fini(&o);
}

static void test_fs_opts_keeps_no_pointer_into_argv(void **state)
{
	char a0[] = "frozenfs", a1[] = "-o", a2[] = "max_read=4096", a3[] = "store", a4[] = "mnt";
	char *argv[] = { a0, a1, a2, a3, a4, NULL };
	struct fs_opts o;
	char why[256];

	(void)state;
	assert_int_equal(fs_opts_parse(5, argv, &o, why, sizeof(why)), 0);
	memset(a2, 'X', sizeof(a2) - 1);
	memset(a3, 'X', sizeof(a3) - 1);
	assert_string_equal(o.backing_arg, "store");
	assert_string_equal(o.args.argv[2], "max_read=4096");
	fs_opts_fini(&o);
	fs_opts_fini(&o);	/* idempotent */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_opts_mount_defaults),
		cmocka_unit_test(test_fs_opts_mount_values),
		cmocka_unit_test(test_fs_opts_bad_values_one_line),
		cmocka_unit_test(test_fs_opts_missing_and_extra_arguments),
		cmocka_unit_test(test_fs_opts_help_and_version_skip_validation),
		cmocka_unit_test(test_fs_opts_malformed_o_left_to_libfuse),
		cmocka_unit_test(test_fs_opts_mkfs),
		cmocka_unit_test(test_fs_opts_fsck),
		cmocka_unit_test(test_fs_opts_subcommand_only_as_first_argument),
		cmocka_unit_test(test_fs_opts_keeps_no_pointer_into_argv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
