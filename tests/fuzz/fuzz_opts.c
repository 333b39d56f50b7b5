/*
 * fuzz_opts: the input bytes, split on NUL and newline, are the arguments after argv[0]
 * ("frozenfs"); fs_opts_parse() must never crash, leak or hang, must give the same answer
 * twice, and whatever it accepts must be within the documented ranges. A refusal carries a
 * one-line reason unless libfuse logged it (a malformed -o).
 *
 * Built with clang -fsanitize=fuzzer by tests/fuzz/build.sh, and with the project's compiler
 * plus tests/fuzz/replay.c as a meson test that replays the corpus.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <fuse_log.h>

#include "chunk.h"
#include "fs_opts.h"

#define MAX_ARGS	64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((format(printf, 2, 0)))
static void quiet(enum fuse_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

static void check(int rc, const struct fs_opts *o, const char *why)
{
	if (rc != 0 && rc != -EINVAL && rc != -ENOMEM)
		abort();
	if (strchr(why, '\n'))
		abort();
	if (rc == -EINVAL && !why[0] && o->cmd != FS_CMD_MOUNT)
		abort();	/* only fuse_opt_parse() may refuse without a reason */
	if (rc != 0 || o->show_help || o->show_version)
		return;
	if (!chunk_size_valid(o->chunk_size))
		abort();
	if (o->cmd == FS_CMD_MOUNT) {
		if (!o->backing_arg || !o->mountpoint_arg)
			abort();
		if (o->flush_interval_ms < 1 || o->flush_interval_ms > 3600000)
			abort();
		if (o->pool_mb < 1 || o->pool_mb > (1u << 20) || o->sync_threads > 256)
			abort();
		if (o->errors != FS_ERRORS_REMOUNT_RO && o->errors != FS_ERRORS_CONTINUE)
			abort();
		if (o->debug && !o->foreground)
			abort();
		if (o->log_level != LOG_ERR && o->log_level != LOG_WARNING &&
		    o->log_level != LOG_INFO && o->log_level != LOG_DEBUG)
			abort();
	} else {
		if (!o->backing_arg || o->mountpoint_arg || (o->repair && o->no_change))
			abort();
		if (o->cmd == FS_CMD_MKFS && (o->repair || o->no_change || o->verbose))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *copy, why[256], why2[256];
	struct fs_opts o, o2;
	int argc = 1, rc, rc2;
	size_t start = 0;

	fuse_set_log_func(quiet);
	if (size > 4096)
		return 0;
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[0] = "frozenfs";
	for (size_t i = 0; i <= size && argc <= MAX_ARGS; i++) {
		if (i == size || copy[i] == '\0' || copy[i] == '\n') {
			copy[i] = '\0';
			argv[argc++] = copy + start;
			start = i + 1;
		}
	}
	argv[argc] = NULL;

	rc = fs_opts_parse(argc, argv, &o, why, sizeof(why));
	check(rc, &o, why);
	/* Pure: a second parse of the same arguments gives the same verdict. */
	rc2 = fs_opts_parse(argc, argv, &o2, why2, sizeof(why2));
	if (rc2 != rc || strcmp(why, why2) != 0 || o.cmd != o2.cmd ||
	    o.chunk_size != o2.chunk_size || o.show_help != o2.show_help)
		abort();
	/* The parse must not keep pointers into argv. */
	memset(copy, 'X', size);
	if (rc == 0 && o.backing_arg && strchr(o.backing_arg, 'X') && !memchr(data, 'X', size))
		abort();
	for (int i = 0; i < o.args.argc; i++)
		if (o.args.argv[i] == NULL)
			abort();
	fs_opts_fini(&o);
	fs_opts_fini(&o2);
	free(copy);
	return 0;
}
