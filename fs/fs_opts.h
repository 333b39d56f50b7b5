/*
 * fs_opts: the frozenfs command line, parsed and validated; pure.
 *
 *	frozenfs [options] BACKING_DIR MOUNTPOINT	mount (FS_CMD_MOUNT)
 *	frozenfs mkfs [-c CHUNK] DIR			create a store (FS_CMD_MKFS)
 *	frozenfs fsck [--repair] [-n] [-v] [-c CHUNK] DIR	check a store (FS_CMD_FSCK)
 *
 * fs_opts_parse() never exits, never prints (except what fuse_opt_parse() itself logs through
 * fuse_log() for a malformed "-o"), and touches no file: paths are checked by the caller.
 * A subcommand is recognised only as the first argument, spelled exactly "mkfs" or "fsck";
 * a backing directory with one of those names is given as "./mkfs".
 */
#ifndef FROZENFS_FS_OPTS_H
#define FROZENFS_FS_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <fuse_opt.h>

#define FS_ERRORS_REMOUNT_RO	0
#define FS_ERRORS_CONTINUE	1

#define FS_POOL_MB_DEFAULT	64
#define FS_FLUSH_MS_DEFAULT	1000

#define FS_CMD_MOUNT	0
#define FS_CMD_MKFS	1
#define FS_CMD_FSCK	2

/* Values taken from the command line; immutable once the session runs. */
struct fs_opts {
	const char *backing;		/* BACKING_DIR as given (realpath'd) */
	const char *mountpoint;		/* MOUNTPOINT (realpath'd) */
	size_t chunk_size;		/* only used when the store is created */
	unsigned flush_interval_ms;
	unsigned pool_mb;
	unsigned sync_threads;		/* 0: pipeline default */
	int sync_threads_set;
	int errors;			/* FS_ERRORS_* */
	int log_level;			/* LOG_ERR, LOG_WARNING, LOG_INFO or LOG_DEBUG */
	int ro;				/* -o ro: refuse mutations (the kernel does too) */
	int direct_io;			/* -o direct_io: FOPEN_DIRECT_IO on every open */
	int sync_on_close;		/* FLUSH waits for durability (not -o nosync_on_close) */
	int acl;			/* POSIX ACLs passed on and enforced (not -o noacl) */
	int allow_other;
	int default_permissions;
	int foreground;
	int debug;
	int singlethread;
	unsigned test_flush_delay_us;	/* hidden test hooks, see fs_main.c */
	unsigned test_submit_delay_us;
	uint64_t test_reserve_ahead_from;	/* 0: the pipeline's default */

	/* Set by fs_opts_parse(); the strings and @args are owned, freed by fs_opts_fini(). */
	int cmd;			/* FS_CMD_*: set even when parsing fails */
	int show_help;			/* -h: print help, nothing else was validated */
	int show_version;		/* -V */
	int fsname;			/* -o fsname= was given */
	char *backing_arg;		/* BACKING_DIR (mkfs, fsck: DIR) exactly as given */
	char *mountpoint_arg;		/* MOUNTPOINT as given */
	struct fuse_args args;		/* the rest, for fuse_session_new() (mount only) */
	int chunk_size_set;		/* mkfs, fsck: -c given */
	int repair;			/* fsck --repair */
	int no_change;			/* fsck -n */
	int verbose;			/* fsck -v */
};

/*
 * Parses @argc/@argv (argv[0] is the program) into @o, which it initialises first: every
 * field has its default afterwards, even on failure. Returns 0, or -EINVAL with a one-line
 * reason in @why (no "frozenfs: " prefix, no newline; empty when fuse_opt_parse() already
 * logged the reason), or -ENOMEM. With -h or -V it returns 0 without validating the rest.
 * @argv is not modified and need not outlive @o. Call fs_opts_fini() after either outcome.
 */
int fs_opts_parse(int argc, char **argv, struct fs_opts *o, char *why, size_t whylen);

/* Frees what fs_opts_parse() allocated; @o may be all zero. */
void fs_opts_fini(struct fs_opts *o);

/* The --help text for @cmd (FS_CMD_*), without libfuse's own option list. */
void fs_opts_usage(FILE *out, int cmd);

#endif
