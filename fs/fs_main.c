/*
 * fs_main: the frozenfs daemon: options, store, mount lifecycle.
 *
 *	frozenfs [options] BACKING_DIR MOUNTPOINT
 *
 * Order of events, and why:
 *   1. Parse and validate every option; a bad value is one line on stderr and exit 1.
 *   2. Check both directories; fuse_session_new() (it rejects unknown FUSE options); then
 *      store_open(): create the store in an empty directory or verify and lock an existing
 *      one. Any refusal is one line and exit 1, before anything is mounted or daemonized,
 *      and nothing on disk is touched.
 *   3. Mount, then fuse_daemonize() (unless -f): it forks, so the pipeline's threads and
 *      the /proc/self/fd handle are created only after it.
 *   4. The session loop runs until unmount (fusermount3 -u, umount) or SIGTERM/SIGINT/SIGHUP.
 *   5. pipeline_stop() writes and syncs everything still queued (plain FUSE mounts get no
 *      DESTROY and umount does not wait for us: DURABILITY.md fact 3). Exit 0 only if every
 *      file is durable; otherwise log each failed file and exit 1 (section 3 item 6).
 *
 * Test hook, not in --help: env FROZENFS_CRASH_AT=<op>:<n>[:before|after] kills the daemon
 * with SIGKILL at its n-th backing call of that kind (fs_crash.h); a bad value is refused
 * in step 1 like a bad option.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fs.h"
#include "fs_chan.h"
#include "fs_crash.h"

#define FS_POOL_MB_DEFAULT	64
#define FS_FLUSH_MS_DEFAULT	1000

/* Both set by the main thread before any other thread exists, then only read. */
static int log_to_syslog;
static int log_level = LOG_INFO;	/* -o log_level: LOG_ERR .. LOG_DEBUG */
static int log_fuse_debug;		/* -d: libfuse's request log is never filtered */

void fs_log(int prio, const char *fmt, ...)
{
	char line[ERR_PATH_MAX + 512];
	va_list ap;

	/* LOG_ERR is the lowest level one can ask for: errors are always logged. */
	if (prio > log_level)
		return;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsyslog(prio, fmt, ap);
	} else {
		/* One stdio call per line: lines of different threads never interleave. */
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "frozenfs: %s\n", line);
	}
	va_end(ap);
}

/* libfuse's own messages follow ours: to syslog once daemonized. */
__attribute__((format(printf, 2, 0)))
static void fuse_log_sink(enum fuse_log_level level, const char *fmt, va_list ap)
{
	static int at_line_start = 1;	/* best effort if threads log at once */
	char line[1024];
	size_t n;

	if ((int)level > log_level && !log_fuse_debug)
		return;
	if (log_to_syslog) {
		vsyslog((int)level, fmt, ap);
		return;
	}
	/*
	 * Errors read "frozenfs: fuse: ..."; the -d request log stays as libfuse prints it.
	 * libfuse builds some lines from several calls: prefix only at a line's start.
	 */
	vsnprintf(line, sizeof(line), fmt, ap);
	if (level <= FUSE_LOG_WARNING && at_line_start)
		fputs("frozenfs: ", stderr);
	fputs(line, stderr);
	n = strlen(line);
	at_line_start = n == 0 ? at_line_start : line[n - 1] == '\n';
}

/* ---- options ----------------------------------------------------------------------------- */

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
	int direct_io;
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
	/* Hidden test hooks: widen the pipeline's race windows (STYLE.md section 6). */
	RAW("test_flush_delay_us=%s", test_flush_delay_us, 0),
	RAW("test_submit_delay_us=%s", test_submit_delay_us, 0),
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
		if (r->nargs < 2)
			r->args[r->nargs++] = strdup(arg);
		else if (!r->extra_arg)
			r->extra_arg = strdup(arg);
		return 0;
	default:
		return 1;	/* ordinary FUSE and mount options: fuse_session_new's */
	}
}

static void usage(FILE *out)
{
	fprintf(out,
"usage: frozenfs [options] BACKING_DIR MOUNTPOINT\n"
"\n"
"Mounts the frozenfs store in BACKING_DIR (an empty directory becomes a new store) at\n"
"MOUNTPOINT. Writes are batched in memory and made durable in group commits; fsync,\n"
"fdatasync and O_SYNC/O_DSYNC writes return only once their data is on stable storage.\n"
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
"    -o sync_threads=N        threads writing and syncing files of a batch in parallel\n"
"    -o errors=MODE           after a metadata I/O error: remount-ro (default) makes every\n"
"                             later change fail with EROFS; continue keeps going\n"
"    -o log_level=LEVEL       what to log: error, warn, info (default) or debug; one line\n"
"                             per event, to stderr with -f, else to syslog\n"
"    -o ro                    mount read-only\n"
"    -o direct_io             bypass the kernel page cache for file data\n"
"    -o allow_other           let other users access the mount (with default_permissions)\n"
"    -o default_permissions   let the kernel check permissions from file modes\n"
"    -o fsname=NAME           name shown in the mount table (default BACKING_DIR)\n"
"    -o OPT[,OPT...]          other FUSE and mount options are passed on to libfuse\n",
		FS_FLUSH_MS_DEFAULT, FS_POOL_MB_DEFAULT);
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

static int bad_opt(const char *name, const char *val, const char *why)
{
	fprintf(stderr, "frozenfs: invalid %s '%s': %s\n", name, val, why);
	return -EINVAL;
}

static int validate(struct raw_opts *r, struct fs_opts *o)
{
	unsigned long long v;

	o->chunk_size = CHUNK_SIZE_DEFAULT;
	o->flush_interval_ms = FS_FLUSH_MS_DEFAULT;
	o->pool_mb = FS_POOL_MB_DEFAULT;
	o->errors = FS_ERRORS_REMOUNT_RO;
	o->log_level = r->debug ? LOG_DEBUG : LOG_INFO;
	if (r->chunk_size) {
		if (parse_num(r->chunk_size, 1, CHUNK_SIZE_MAX, &v) < 0 ||
		    !chunk_size_valid((size_t)v))
			return bad_opt("chunk_size", r->chunk_size,
				       "must be a power of two between 4096 and 16777216");
		o->chunk_size = (size_t)v;
	}
	if (r->flush_interval_ms) {
		if (parse_num(r->flush_interval_ms, 0, 3600000, &v) < 0 || v == 0)
			return bad_opt("flush_interval_ms", r->flush_interval_ms,
				       "must be a whole number of milliseconds from 1 to 3600000");
		o->flush_interval_ms = (unsigned)v;
	}
	if (r->pool_mb) {
		if (parse_num(r->pool_mb, 0, 1u << 20, &v) < 0 || v == 0)
			return bad_opt("pool_mb", r->pool_mb,
				       "must be a whole number of MiB from 1 to 1048576");
		o->pool_mb = (unsigned)v;
	}
	if (r->sync_threads) {
		if (parse_num(r->sync_threads, 0, 256, &v) < 0)
			return bad_opt("sync_threads", r->sync_threads,
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
			return bad_opt("errors", r->errors, "must be continue or remount-ro");
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
			return bad_opt("log_level", r->log_level,
				       "must be error, warn, info or debug");
		o->log_level = levels[k].prio;
	}
	if (r->test_flush_delay_us) {
		if (parse_num(r->test_flush_delay_us, 0, 60000000, &v) < 0)
			return bad_opt("test_flush_delay_us", r->test_flush_delay_us,
				       "must be a whole number of microseconds");
		o->test_flush_delay_us = (unsigned)v;
	}
	if (r->test_submit_delay_us) {
		if (parse_num(r->test_submit_delay_us, 0, 60000000, &v) < 0)
			return bad_opt("test_submit_delay_us", r->test_submit_delay_us,
				       "must be a whole number of microseconds");
		o->test_submit_delay_us = (unsigned)v;
	}
	o->ro = r->ro;
	o->direct_io = r->direct_io;
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
	free(r->args[0]);
	free(r->args[1]);
	free(r->extra_arg);
}

/* A directory that exists, resolved to an absolute path; else one line and -1. */
static char *check_dir(const char *what, const char *path)
{
	struct stat st;
	char *abs;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "frozenfs: %s '%s': %s\n", what, path,
			errno == ENOENT ? "does not exist" : strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "frozenfs: %s '%s': not a directory\n", what, path);
		return NULL;
	}
	abs = realpath(path, NULL);
	if (!abs)
		fprintf(stderr, "frozenfs: %s '%s': %s\n", what, path, strerror(errno));
	return abs;
}

/* "-ofsname=..." with the mount option separators escaped as libfuse expects. */
static int add_fsname(struct fuse_args *args, const char *backing)
{
	size_t n = strlen(backing);
	char *opt = malloc(2 * n + 16), *p;
	int rc;

	if (!opt)
		return -1;
	p = opt + sprintf(opt, "-ofsname=");
	for (; *backing; backing++) {
		if (*backing == ',' || *backing == '\\')
			*p++ = '\\';
		*p++ = *backing;
	}
	*p = '\0';
	rc = fuse_opt_add_arg(args, opt);
	free(opt);
	return rc;
}

/* The pipeline's threads must not take the signals that end the session loop. */
static void block_exit_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static int start_pipeline(struct fs *fs)
{
	struct pipeline_opts po;
	sigset_t old;
	size_t bufs;
	int rc;

	pipeline_opts_default(&po);
	po.chunk_size = fs->chunk_size;
	bufs = ((size_t)fs->opts.pool_mb << 20) / fs->chunk_size;
	po.pool_bufs = bufs < 4 ? 4 : bufs;
	po.flush_interval_ms = fs->opts.flush_interval_ms;
	if (fs->opts.sync_threads_set)
		po.sync_threads = fs->opts.sync_threads;
	po.flush_delay_us = fs->opts.test_flush_delay_us;
	po.submit_delay_us = fs->opts.test_submit_delay_us;
	block_exit_signals(&old);
	rc = pipeline_create(&po, &fs->pipe);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Drains the pipeline; returns 0 if every accepted byte is durable. */
static int stop_pipeline(struct fs *fs)
{
	char msg[ERR_PATH_MAX + 128];
	int rc, failed;

	rc = pipeline_stop(fs->pipe);
	if (rc < 0) {
		err_format(err_last(), msg, sizeof(msg));
		fs_log(LOG_ERR, "unmount: queued data could not be made durable: %s", msg);
	}
	failed = fs_inodes_fini(fs);
	if (failed)
		fs_log(LOG_ERR, "unmount: %d file(s) have data that is not durable", failed);
	pipeline_destroy(fs->pipe);
	fs->pipe = NULL;
	return rc < 0 || failed ? -EIO : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct raw_opts raw;
	struct fs fs;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *lc;
	char why[256];
	char *backing = NULL, *mnt = NULL;
	int rc, created = 0, ret = 1, mounted = 0, handlers = 0;

	memset(&raw, 0, sizeof(raw));
	memset(&fs, 0, sizeof(fs));
	fs.proc_fd = -1;
	if (fuse_opt_parse(&args, &raw, opt_spec, opt_proc) < 0)
		goto out;	/* libfuse printed the reason */
	if (raw.show_help) {
		usage(stdout);
		printf("\nFUSE options:\n");
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (raw.show_version) {
		printf("frozenfs version %s\n", FROZENFS_VERSION);
		printf("FUSE library version %s\n", fuse_pkgversion());
		fflush(stdout);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (raw.extra_arg) {
		fprintf(stderr, "frozenfs: unexpected argument '%s' (usage: frozenfs [options] "
			"BACKING_DIR MOUNTPOINT)\n", raw.extra_arg);
		goto out;
	}
	if (raw.nargs < 2) {
		fprintf(stderr, "frozenfs: missing %s (usage: frozenfs [options] BACKING_DIR "
			"MOUNTPOINT; see --help)\n", raw.nargs ? "MOUNTPOINT" : "BACKING_DIR");
		goto out;
	}
	if (validate(&raw, &fs.opts) < 0)
		goto out;
	log_level = fs.opts.log_level;
	log_fuse_debug = fs.opts.debug;
	if (fs_crash_parse(getenv(FS_CRASH_ENV)) < 0)
		goto out;
	backing = check_dir("backing directory", raw.args[0]);
	if (!backing)
		goto out;
	mnt = check_dir("mountpoint", raw.args[1]);
	if (!mnt)
		goto out;
	if (strcmp(backing, mnt) == 0) {
		fprintf(stderr, "frozenfs: the backing directory cannot be the mountpoint\n");
		goto out;
	}
	fs.opts.backing = backing;
	fs.opts.mountpoint = mnt;

	/*
	 * Options first: an unknown FUSE option must be refused before store_open() may
	 * create a store in an empty directory.
	 */
	if (!raw.fsname && add_fsname(&args, backing) < 0)
		goto out;
	if (fuse_opt_add_arg(&args, "-osubtype=frozenfs") < 0)
		goto out;
	fuse_set_log_func(fuse_log_sink);
	se = fuse_session_new(&args, &fs_op_table, sizeof(fs_op_table), &fs);
	if (!se)
		goto out;	/* libfuse printed the reason (unknown option, ...) */
	fs.se = se;

	/* The kernel already applied the caller's umask to the modes it sends. */
	umask(0);
	fs.io = chunk_io_default();
	rc = store_open(fs.io, backing, (uint32_t)fs.opts.chunk_size, &fs.store, why,
			sizeof(why), &created);
	if (rc < 0) {
		fprintf(stderr, "frozenfs: %s: %s\n", backing, why[0] ? why : strerror(-rc));
		goto out;
	}
	/* From here on every backing call may be a FROZENFS_CRASH_AT crash point. */
	fs.io = fs_crash_wrap(fs.io);
	fs.chunk_size = store_superblock(fs.store)->chunk_size;
	fs_map_init(&fs.map, fs.chunk_size);
	fs.as_root = geteuid() == 0;
	fs.timeout = 1.0;
	atomic_init(&fs.readonly, fs.opts.ro);
	atomic_init(&fs.meta_failed, 0);
	atomic_init(&fs.ctl_open_epoch, 1);
	atomic_init(&fs.ctl_durable_epoch, 0);
	rc = fs_inodes_init(&fs);
	if (rc < 0) {
		fprintf(stderr, "frozenfs: %s: %s\n", backing, strerror(-rc));
		goto out;
	}
	if (fs.opts.allow_other && !fs.opts.default_permissions && fs.as_root)
		fs_log(LOG_WARNING, "warning: allow_other without default_permissions lets "
		       "every user act as root on %s", mnt);

	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = 1;
	if (fuse_session_mount(se, mnt) != 0)
		goto out;
	mounted = 1;
	/* Read-ahead of 1 MiB, the largest READ (max_pages): a round trip per MiB. */
	if (fs_chan_install(se, mnt, 1024) != 0)
		goto out;

	if (fuse_daemonize(fs.opts.foreground) != 0)
		goto out;
	if (!fs.opts.foreground) {
		openlog("frozenfs", LOG_PID, LOG_DAEMON);
		log_to_syslog = 1;
	}
	/* After daemonizing: mount(8) and the helper stay silent on success. */
	fs_log(LOG_INFO, "%s store %s (chunk size %zu) mounted on %s%s",
	       created ? "new" : "existing", backing, fs.chunk_size, mnt,
	       fs.opts.ro ? " read-only" : "");
	/* After the fork: /proc/self must name the daemon, and threads do not survive it. */
	fs.proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fs.proc_fd < 0) {
		fs_log(LOG_ERR, "/proc/self/fd: %s", strerror(errno));
		goto out;
	}
	rc = start_pipeline(&fs);
	if (rc < 0) {
		fs_log(LOG_ERR, "cannot start the pipeline: %s", strerror(-rc));
		goto out;
	}

	if (fs.opts.singlethread) {
		rc = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc) {
			fs_log(LOG_ERR, "out of memory");
			goto out;
		}
		fuse_loop_cfg_set_clone_fd(lc, 0);
		fuse_loop_cfg_set_idle_threads(lc, 10);
		rc = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	/* libfuse returns the signal number after SIGTERM/SIGINT/SIGHUP: a normal end. */
	if (rc > 0)
		rc = 0;
	if (rc < 0)
		fs_log(LOG_ERR, "session loop failed: %s", strerror(-rc));
	/*
	 * New requests would hang or fail from here on; make the mount go away (a no-op when
	 * it was unmounted already) before the possibly long drain.
	 */
	fuse_session_unmount(se);
	mounted = 0;
	ret = stop_pipeline(&fs) == 0 && rc == 0 ? 0 : 1;
	/*
	 * A failed backing namespace or directory operation (logged with its name when it
	 * happened) is outstanding too: names and directories may not be durable, so exit 0
	 * would be a false success (DURABILITY.md section 3 items 6 and 8, requirement 11).
	 */
	if (atomic_load_explicit(&fs.meta_failed, memory_order_relaxed)) {
		fs_log(LOG_ERR, "unmount: a metadata operation failed during this mount; names "
		       "and directories may not be durable");
		ret = 1;
	}
	if (ret == 0)
		fs_log(LOG_INFO, "%s unmounted; all data durable", mnt);
out:
	if (fs.pipe) {
		/* Failed after the pipeline started: still drain what was accepted. */
		if (mounted) {
			fuse_session_unmount(se);
			mounted = 0;
		}
		stop_pipeline(&fs);
	} else if (fs.buckets) {
		fs_inodes_fini(&fs);
	}
	if (se) {
		if (mounted)
			fuse_session_unmount(se);
		if (handlers)	/* else libfuse complains about an unknown session */
			fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	if (fs.proc_fd >= 0)
		close(fs.proc_fd);
	store_close(fs.store);
	fuse_opt_free_args(&args);
	raw_free(&raw);
	free(backing);
	free(mnt);
	if (log_to_syslog)
		closelog();
	return ret;
}
