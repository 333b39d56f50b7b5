/*
 * fs_opts: the frozenfs command line (see fs_opts.h).
 *
 * DESIGN
 *
 * Two steps, so a bad value gets a precise message: fuse_opt_parse() collects our options as
 * raw strings (and passes every other FUSE or mount option through in o->args for
 * fuse_session_new() to accept or refuse), then validate() turns them into numbers. The
 * subcommands take a handful of short options each and are parsed by hand: getopt() keeps
 * global state, and this parser must be callable any number of times (tests, the fuzzer).
 *
 * Nothing here exits, prints or looks at the filesystem; fs_main.c prints "frozenfs: WHY"
 * and picks the exit status.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "chunk.h"
#include "fs_opts.h"

/* Raw option strings; validated after parsing so a bad value gets a precise message. */
struct raw_opts {
	char *chunk_size;
	char *flush_interval_ms;
	char *pool_mb;
	char *sync_threads;
	char *errors;
	char *log_level;
	char *test_flush_delay_us;
	char *test_submit_delay_us;
	char *test_reserve_ahead_from;
	int direct_io;
	int nosync_on_close;
	int noacl;
	int show_help;
	int show_version;
	int foreground;
	int debug;
	int singlethread;
	int ro;
	int allow_other;
	int default_permissions;
	int fsname;
	int nargs;
	char *args[2];
	char *extra_arg;
	int nomem;		/* a strdup() of a positional argument failed */
};

enum {
	KEY_HELP, KEY_VERSION, KEY_FOREGROUND, KEY_DEBUG, KEY_SINGLE, KEY_RO, KEY_ALLOW_OTHER,
	KEY_DEFAULT_PERMISSIONS, KEY_FSNAME,
};

#define RAW(t, f, v) { t, offsetof(struct raw_opts, f), v }

static const struct fuse_opt opt_spec[] = {
	RAW("chunk_size=%s", chunk_size, 0),
	RAW("flush_interval_ms=%s", flush_interval_ms, 0),
	RAW("pool_mb=%s", pool_mb, 0),
	RAW("sync_threads=%s", sync_threads, 0),
	RAW("errors=%s", errors, 0),
	RAW("log_level=%s", log_level, 0),
	RAW("direct_io", direct_io, 1),
	RAW("nosync_on_close", nosync_on_close, 1),
	RAW("noacl", noacl, 1),
	/* Hidden test hooks: widen the pipeline's race windows (STYLE.md section 6). */
	RAW("test_flush_delay_us=%s", test_flush_delay_us, 0),
	RAW("test_submit_delay_us=%s", test_submit_delay_us, 0),
	RAW("test_reserve_ahead_from=%s", test_reserve_ahead_from, 0),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE),
	/* Ours to know about, and passed on to the kernel mount as well. */
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("default_permissions", KEY_DEFAULT_PERMISSIONS),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct raw_opts *r = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		r->show_help = 1;
		return 0;
	case KEY_VERSION:
		r->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		r->foreground = 1;
		return 0;
	case KEY_DEBUG:
		r->debug = 1;
		r->foreground = 1;
		return 1;	/* libfuse prints the request log */
	case KEY_SINGLE:
		r->singlethread = 1;
		return 0;
	case KEY_RO:
		r->ro = 1;
		return 1;
	case KEY_ALLOW_OTHER:
		r->allow_other = 1;
		return 1;
	case KEY_DEFAULT_PERMISSIONS:
		r->default_permissions = 1;
		return 1;
	case KEY_FSNAME:
		r->fsname = 1;
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (r->nargs < 2) {
			r->args[r->nargs] = strdup(arg);
			if (!r->args[r->nargs++])
				r->nomem = 1;
		} else if (!r->extra_arg) {
			r->extra_arg = strdup(arg);
			if (!r->extra_arg)
				r->nomem = 1;
		}
		return 0;
	default:
		return 1;	/* ordinary FUSE and mount options: fuse_session_new's */
	}
}

#define MKFS_USAGE "frozenfs mkfs [-c CHUNK] DIR"
#define FSCK_USAGE "frozenfs fsck [--repair] [-n] [-v] [-c CHUNK] DIR"

static void usage_mkfs(FILE *out)
{
	fprintf(out,
"usage: " MKFS_USAGE "\n"
"\n"
"Creates a frozenfs store in DIR, which must exist and be empty (a lost+found directory is\n"
"allowed). A directory that holds files, or a store already, is refused and left alone.\n"
"\n"
"options:\n"
"    -c CHUNK                 chunk size in bytes, K and M suffixes allowed; a power of two\n"
"                             from 4K to 16M (default 64K)\n"
"    -h, --help               print this help and exit\n");
}

static void usage_fsck(FILE *out)
{
	fprintf(out,
"usage: " FSCK_USAGE "\n"
"\n"
"Checks the frozenfs store in DIR, which must not be mounted: the superblock, that every file\n"
"can be read in full, and leftovers of a crash. Exit status (as e2fsck's, added together):\n"
"0 clean, 1 errors corrected, 4 errors left uncorrected, 8 operational error, 16 usage error.\n"
"\n"
"options:\n"
"    --repair                 fix what is safe: rewrite a missing or corrupt superblock (with\n"
"                             the chunk size from -c or the one it records) and move crash\n"
"                             leftovers into DIR/lost+found; never deletes anything\n"
"    -n                       check only, change nothing (the default)\n"
"    -v                       list every file checked\n"
"    -c CHUNK                 the store's chunk size, for rewriting a superblock that lost it\n"
"    -h, --help               print this help and exit\n");
}

static void usage_mount(FILE *out)
{
	fprintf(out,
"usage: frozenfs [options] BACKING_DIR MOUNTPOINT\n"
"       " MKFS_USAGE "\n"
"       " FSCK_USAGE "\n"
"\n"
"Mounts the frozenfs store in BACKING_DIR (an empty directory becomes a new store) at\n"
"MOUNTPOINT. Writes are batched in memory and made durable in group commits; fsync,\n"
"fdatasync and O_SYNC/O_DSYNC writes return only once their data is on stable storage.\n"
"mkfs creates a store explicitly; fsck checks (and with --repair fixes) an unmounted one;\n"
"see frozenfs mkfs --help and frozenfs fsck --help.\n"
"\n"
"options:\n"
"    -h, --help               print this help and exit\n"
"    -V, --version            print the version and exit\n"
"    -f                       stay in the foreground\n"
"    -d                       FUSE debug output (implies -f)\n"
"    -s                       single-threaded session loop\n"
"    -o chunk_size=N          chunk size of a new store in bytes, K and M suffixes allowed;\n"
"                             a power of two from 4K to 16M (default 64K); ignored for an\n"
"                             existing store, whose superblock decides\n"
"    -o flush_interval_ms=N   write queued data at least this often (default %u)\n"
"    -o pool_mb=N             memory for queued chunks in MiB (default %u)\n"
"    -o sync_threads=N        threads writing and syncing files in parallel (default 8)\n"
"    -o errors=MODE           after a metadata I/O error: remount-ro (default) makes every\n"
"                             later change fail with EROFS; continue keeps going\n"
"    -o log_level=LEVEL       what to log: error, warn, info (default) or debug; one line\n"
"                             per event, to stderr with -f, else to syslog\n"
"    -o ro                    mount read-only\n"
"    -o direct_io             bypass the kernel page cache for file data\n"
"    -o nosync_on_close       close(2) returns without waiting for the file's data to be\n"
"                             durable (faster; fsync and the flush interval still bound\n"
"                             the loss)\n"
"    -o noacl                 no POSIX ACLs: the kernel checks only file modes, and only\n"
"                             with default_permissions (by default ACLs are enforced as\n"
"                             on the backing filesystem, which implies default_permissions)\n"
"    -o allow_other           let other users access the mount (with default_permissions)\n"
"    -o default_permissions   let the kernel check permissions from file modes\n"
"    -o fsname=NAME           name shown in the mount table (default BACKING_DIR)\n"
"    -o OPT[,OPT...]          other FUSE and mount options are passed on to libfuse\n",
		FS_FLUSH_MS_DEFAULT, FS_POOL_MB_DEFAULT);
}

void fs_opts_usage(FILE *out, int cmd)
{
	if (cmd == FS_CMD_MKFS)
		usage_mkfs(out);
	else if (cmd == FS_CMD_FSCK)
		usage_fsck(out);
	else
		usage_mount(out);
}

/* Parses a decimal unsigned number with an optional K or M suffix (when @suffix). */
static int parse_num(const char *s, int suffix, unsigned long long max,
		     unsigned long long *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (suffix && *end) {
		if (*end == 'k' || *end == 'K')
			mul = 1024;
		else if (*end == 'm' || *end == 'M')
			mul = 1024 * 1024;
		else
			return -EINVAL;
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (*end)
		return -EINVAL;
	if (v > max / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* Formats a one-line reason into @why and returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
static int usage_err(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int bad_opt(char *why, size_t whylen, const char *name, const char *val,
		   const char *reason)
{
	return usage_err(why, whylen, "invalid %s '%s': %s", name, val, reason);
}

static int parse_chunk_size(const char *s, size_t *out)
{
	unsigned long long v;

	if (parse_num(s, 1, CHUNK_SIZE_MAX, &v) < 0 || !chunk_size_valid((size_t)v))
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int validate(struct raw_opts *r, struct fs_opts *o, char *why, size_t whylen)
{
	unsigned long long v;

	o->log_level = r->debug ? LOG_DEBUG : LOG_INFO;
	if (r->chunk_size) {
		if (parse_chunk_size(r->chunk_size, &o->chunk_size) < 0)
			return bad_opt(why, whylen, "chunk_size", r->chunk_size,
				       "must be a power of two between 4096 and 16777216");
	}
	if (r->flush_interval_ms) {
		if (parse_num(r->flush_interval_ms, 0, 3600000, &v) < 0 || v == 0)
			return bad_opt(why, whylen, "flush_interval_ms", r->flush_interval_ms,
				       "must be a whole number of milliseconds from 1 to 3600000");
		o->flush_interval_ms = (unsigned)v;
	}
	if (r->pool_mb) {
		if (parse_num(r->pool_mb, 0, 1u << 20, &v) < 0 || v == 0)
			return bad_opt(why, whylen, "pool_mb", r->pool_mb,
				       "must be a whole number of MiB from 1 to 1048576");
		o->pool_mb = (unsigned)v;
	}
	if (r->sync_threads) {
		if (parse_num(r->sync_threads, 0, 256, &v) < 0)
			return bad_opt(why, whylen, "sync_threads", r->sync_threads,
				       "must be a whole number from 0 to 256");
		o->sync_threads = (unsigned)v;
		o->sync_threads_set = 1;
	}
	if (r->errors) {
		if (strcmp(r->errors, "remount-ro") == 0)
			o->errors = FS_ERRORS_REMOUNT_RO;
		else if (strcmp(r->errors, "continue") == 0)
			o->errors = FS_ERRORS_CONTINUE;
		else
			return bad_opt(why, whylen, "errors", r->errors,
				       "must be continue or remount-ro");
	}
	if (r->log_level) {
		static const struct { const char *name; int prio; } levels[] = {
			{ "error", LOG_ERR }, { "warn", LOG_WARNING }, { "info", LOG_INFO },
			{ "debug", LOG_DEBUG },
		};
		size_t k;

		for (k = 0; k < sizeof(levels) / sizeof(levels[0]); k++)
			if (strcmp(r->log_level, levels[k].name) == 0)
				break;
		if (k == sizeof(levels) / sizeof(levels[0]))
			return bad_opt(why, whylen, "log_level", r->log_level,
				       "must be error, warn, info or debug");
		o->log_level = levels[k].prio;
	}
	if (r->test_flush_delay_us) {
		if (parse_num(r->test_flush_delay_us, 0, 60000000, &v) < 0)
			return bad_opt(why, whylen, "test_flush_delay_us", r->test_flush_delay_us,
				       "must be a whole number of microseconds");
		o->test_flush_delay_us = (unsigned)v;
	}
	if (r->test_submit_delay_us) {
		if (parse_num(r->test_submit_delay_us, 0, 60000000, &v) < 0)
			return bad_opt(why, whylen, "test_submit_delay_us",
				       r->test_submit_delay_us,
				       "must be a whole number of microseconds");
		o->test_submit_delay_us = (unsigned)v;
	}
	if (r->test_reserve_ahead_from) {
		if (parse_num(r->test_reserve_ahead_from, 1, 1ULL << 40, &v) < 0)
			return bad_opt(why, whylen, "test_reserve_ahead_from",
				       r->test_reserve_ahead_from, "must be a size in bytes");
		o->test_reserve_ahead_from = v;
	}
	o->ro = r->ro;
	o->direct_io = r->direct_io;
	o->sync_on_close = !r->nosync_on_close;
	o->acl = !r->noacl;
	o->allow_other = r->allow_other;
	o->default_permissions = r->default_permissions;
	o->foreground = r->foreground;
	o->debug = r->debug;
	o->singlethread = r->singlethread;
	return 0;
}

static void raw_free(struct raw_opts *r)
{
	free(r->chunk_size);
	free(r->flush_interval_ms);
	free(r->pool_mb);
	free(r->sync_threads);
	free(r->errors);
	free(r->log_level);
	free(r->test_flush_delay_us);
	free(r->test_submit_delay_us);
	free(r->test_reserve_ahead_from);
	free(r->args[0]);
	free(r->args[1]);
	free(r->extra_arg);
}

static int parse_mount(int argc, char **argv, struct fs_opts *o, char *why, size_t whylen)
{
	struct raw_opts raw;
	int rc;

	memset(&raw, 0, sizeof(raw));
	o->args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	rc = fuse_opt_parse(&o->args, &raw, opt_spec, opt_proc);
	/* argc == 0: nothing was copied; never point at argv. */
	if (!o->args.allocated)
		o->args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	if (rc < 0) {
		rc = raw.nomem ? -ENOMEM : -EINVAL;	/* libfuse logged why */
		goto out;
	}
	rc = -ENOMEM;
	if (raw.nomem)
		goto out;
	o->show_help = raw.show_help;
	o->show_version = raw.show_version;
	o->fsname = raw.fsname;
	rc = 0;
	if (raw.show_help || raw.show_version)
		goto out;
	if (raw.extra_arg) {
		rc = usage_err(why, whylen, "unexpected argument '%s' (usage: frozenfs [options] "
			       "BACKING_DIR MOUNTPOINT)", raw.extra_arg);
		goto out;
	}
	if (raw.nargs < 2) {
		rc = usage_err(why, whylen, "missing %s (usage: frozenfs [options] BACKING_DIR "
			       "MOUNTPOINT; see --help)",
			       raw.nargs ? "MOUNTPOINT" : "BACKING_DIR");
		goto out;
	}
	rc = validate(&raw, o, why, whylen);
	if (rc < 0)
		goto out;
	/* Moved, not copied: raw_free() below frees only what was not taken. */
	o->backing_arg = raw.args[0];
	o->mountpoint_arg = raw.args[1];
	raw.args[0] = raw.args[1] = NULL;
out:
	raw_free(&raw);
	return rc;
}

/*
 * mkfs and fsck: short options may be bundled ("-nv"), -c takes its value attached ("-c64K")
 * or as the next argument, "--" ends the options, and exactly one DIR is required.
 */
static int parse_tool(int argc, char **argv, struct fs_opts *o, char *why, size_t whylen)
{
	const char *name = o->cmd == FS_CMD_MKFS ? "mkfs" : "fsck";
	const char *use = o->cmd == FS_CMD_MKFS ? MKFS_USAGE : FSCK_USAGE;
	const char *dir = NULL;
	int i, only_args = 0;

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (only_args || a[0] != '-' || a[1] == '\0') {
			if (dir)
				return usage_err(why, whylen, "%s: unexpected argument '%s' "
						 "(usage: %s)", name, a, use);
			dir = a;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_args = 1;
		} else if (strcmp(a, "--help") == 0) {
			o->show_help = 1;
			return 0;
		} else if (o->cmd == FS_CMD_FSCK && strcmp(a, "--repair") == 0) {
			o->repair = 1;
		} else if (a[1] == '-') {
			return usage_err(why, whylen, "%s: unknown option '%s' (usage: %s)", name,
					 a, use);
		} else {
			for (const char *p = a + 1; *p; p++) {
				const char *val;

				if (*p == 'h') {
					o->show_help = 1;
					return 0;
				} else if (*p == 'c') {
					val = p[1] ? p + 1 : (i + 1 < argc ? argv[++i] : NULL);
					if (!val)
						return usage_err(why, whylen, "%s: option -c "
								 "needs a chunk size (usage: "
								 "%s)", name, use);
					if (parse_chunk_size(val, &o->chunk_size) < 0)
						return bad_opt(why, whylen, "chunk size", val,
							       "must be a power of two between "
							       "4096 and 16777216");
					o->chunk_size_set = 1;
					break;
				} else if (o->cmd == FS_CMD_FSCK && *p == 'n') {
					o->no_change = 1;
				} else if (o->cmd == FS_CMD_FSCK && *p == 'v') {
					o->verbose = 1;
				} else {
					return usage_err(why, whylen, "%s: unknown option '-%c' "
							 "(usage: %s)", name, *p, use);
				}
			}
		}
	}
	if (o->repair && o->no_change)
		return usage_err(why, whylen, "fsck: --repair and -n contradict each other "
				 "(usage: %s)", use);
	if (!dir)
		return usage_err(why, whylen, "%s: missing DIR (usage: %s)", name, use);
	o->backing_arg = strdup(dir);
	return o->backing_arg ? 0 : -ENOMEM;
}

int fs_opts_parse(int argc, char **argv, struct fs_opts *o, char *why, size_t whylen)
{
	memset(o, 0, sizeof(*o));
	o->chunk_size = CHUNK_SIZE_DEFAULT;
	o->flush_interval_ms = FS_FLUSH_MS_DEFAULT;
	o->pool_mb = FS_POOL_MB_DEFAULT;
	o->errors = FS_ERRORS_REMOUNT_RO;
	o->log_level = LOG_INFO;
	if (why && whylen)
		why[0] = '\0';
	if (argc >= 2 && argv[1] && strcmp(argv[1], "mkfs") == 0)
		o->cmd = FS_CMD_MKFS;
	else if (argc >= 2 && argv[1] && strcmp(argv[1], "fsck") == 0)
		o->cmd = FS_CMD_FSCK;
	if (o->cmd != FS_CMD_MOUNT)
		return parse_tool(argc, argv, o, why, whylen);
	return parse_mount(argc, argv, o, why, whylen);
}

void fs_opts_fini(struct fs_opts *o)
{
	fuse_opt_free_args(&o->args);
	free(o->backing_arg);
	free(o->mountpoint_arg);
	o->backing_arg = o->mountpoint_arg = NULL;
}
