/*
 * t1: recorded I/O replay (DURABILITY.md 4.1, T1): shared types of the workload runner
 * (t1.c) and the crash-state generator and checker (t1_model.c).
 *
 * Vocabulary
 * - A view is a directory tree below one workload directory W: entries (path relative to W,
 *   inode, type) and the content of every regular file, keyed by inode. The inode is always
 *   the ORIGINAL backing inode: views read from a materialised crash state map the new inode
 *   numbers back through the table kept while materialising.
 * - Logical states S_0..S_n are views the workload read through the mount: S_0 before its
 *   first operation, S_k right after operation k returned.
 * - Acknowledgements: an fsync(2)/fdatasync(2) that returned 0, with the CLOCK_MONOTONIC time
 *   it returned at, the state index it covers and what it promises (section 4.2 rules 2, 3).
 * - Records: the daemon's backing calls from FROZENFS_IOREC (core/iorec.h), same clock.
 */
#ifndef FROZENFS_T1_H
#define FROZENFS_T1_H

#include <stddef.h>
#include <stdint.h>

#define T1_PATH		48	/* longest path below W, with its NUL */
#define T1_MAXV		24	/* entries / files in a view */
#define T1_MAXSTEPS	3
#define T1_MAXACKS	(2 * T1_MAXSTEPS + 4)

struct t1_ent {
	char path[T1_PATH];
	uint64_t ino;
	int isdir;
};

struct t1_file {
	uint64_t ino;
	size_t size;
	uint8_t *data;		/* malloc'd, size bytes (NULL when 0) */
};

struct t1_view {
	int ne, nf;
	struct t1_ent e[T1_MAXV];
	struct t1_file f[T1_MAXV];
};

enum { ACK_DATA = 1, ACK_NAME = 2, ACK_DIR = 4 };

struct t1_ack {
	uint64_t ns;		/* when the sync call returned 0 (0: the setup, before S_0) */
	int state;		/* index of the logical state it acknowledges */
	unsigned what;		/* ACK_* bits */
	uint64_t ino;		/* the fsynced object (ACK_DATA/ACK_NAME) or directory (ACK_DIR) */
};

/* One recorded backing call (see core/iorec.h for the fields). */
enum { R_PWRITE, R_FTRUNCATE, R_FALLOCATE, R_FUTIMENS, R_SYNC, R_CREATE, R_MKDIR, R_MKNOD,
       R_SYMLINK, R_LINK, R_UNLINK, R_RENAME, R_NOPS };

struct t1_rec {
	uint64_t seq, ns;
	int op;
	long long res;
	uint64_t ino, dino, ndino, nino, begin;
	char name[T1_PATH], nname[T1_PATH];
	long long off, len;
	int mode, flags, isdir, end, datasync;
	uint8_t *data;
};

struct t1_log {
	size_t n;
	struct t1_rec *r;
	long off;		/* bytes of the file consumed so far */
	uint64_t next_seq;	/* sequence number the next record must have */
};

/* One workload as run, with everything the checker needs. */
struct t1_wl {
	int id;
	char dir[16];			/* W, relative to the store root */
	uint64_t wino;			/* backing inode of W */
	int nsteps;
	int op[T1_MAXSTEPS], sync[T1_MAXSTEPS];
	uint64_t t_start, t_end;	/* its window in the log */
	uint64_t op_ns[T1_MAXSTEPS + 1];	/* op k (1-based) started at op_ns[k] */
	struct t1_view st[T1_MAXSTEPS + 1];	/* S_0..S_n */
	int nacks;
	struct t1_ack acks[T1_MAXACKS];
};

/* Counters of one run of the generator/checker. */
struct t1_stats {
	unsigned long long points;	/* crash points */
	unsigned long long generated;	/* crash states built (with duplicates) */
	unsigned long long checked;	/* distinct states materialised, read back, checked */
	unsigned long long mounted;	/* of those, also checked through two frozenfs mounts */
	unsigned long long renames;	/* renames over a target checked for requirement 28 */
	unsigned long long violations;
};

/* Log mutations for the checker's self-test: drop every sync of a directory, or of a file. */
#define T1_DROP_DIRSYNC		1
#define T1_DROP_FILESYNC	2

/* Hooks the runner gives the generator. */
struct t1_env {
	const char *workdir;		/* where states are materialised */
	const uint8_t *sb;		/* the store's superblock bytes, copied into each state */
	size_t sblen;
	int materialise;		/* 0: check in memory only (the self-test) */
	int verbose;			/* print every violation, not just the first few */
	/* Mount the materialised store at @root, read W into @out twice over two mounts; 0 if
	 * not done (sampling), 1 if done. NULL: never. */
	int (*mount_read)(const char *root, const char *wdir, const struct t1_view *direct,
			  uint64_t (*map)(uint64_t), struct t1_view *out);
	int (*want_mount)(const struct t1_wl *w, unsigned long long distinct);
};

const char *t1_op_name(int op);
const char *t1_sync_name(int sync);
#define T1_NOPS 9
#define T1_NSYNCS 3

void t1_view_free(struct t1_view *v);
void t1_view_copy(struct t1_view *dst, const struct t1_view *src);
const struct t1_ent *t1_view_ent(const struct t1_view *v, const char *path);
const struct t1_file *t1_view_file(const struct t1_view *v, uint64_t ino);
/* Adds or replaces the content of @ino (copied). */
void t1_view_set_file(struct t1_view *v, uint64_t ino, const uint8_t *data, size_t size);
void t1_view_add_ent(struct t1_view *v, const char *path, uint64_t ino, int isdir);
/* Sorts entries by path (parents first). */
void t1_view_sort(struct t1_view *v);
/* 0 if equal (entries, inodes, contents), else a description in @why. */
int t1_view_diff(const struct t1_view *a, const struct t1_view *b, char *why, size_t len);

/*
 * Reads the records appended to a FROZENFS_IOREC log since the last call (@log zeroed the
 * first time), replacing those read before. A last line without its newline is left for the
 * next call. Fails the test on a malformed or gappy log.
 */
void t1_log_update(const char *path, struct t1_log *log);
void t1_log_free(struct t1_log *log);

/* rm -rf; @strict: fail the test on an error (else ignore it, for exit handlers). */
void t1_rm_tree(const char *path, int strict);

/* Reads the tree below @wpath into @v, inodes translated by @map. */
void t1_read_view(const char *wpath, uint64_t (*map)(uint64_t), struct t1_view *v);

/*
 * Generates every crash state of workload @w from the records in its window, checks each
 * against the section 4.2 rules and adds to @st. @drop: T1_DROP_* mutations (0 normally).
 * Returns the number of violations found in this workload.
 */
unsigned t1_check_workload(const struct t1_env *env, const struct t1_log *log,
			   const struct t1_wl *w, unsigned drop, struct t1_stats *st);

#endif
