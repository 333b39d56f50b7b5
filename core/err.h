/*
 * err: the detail behind every -errno returned by core/.
 *
 * Core functions return 0 (or a count) on success and -errno on failure; they never
 * return -1 with errno set and there is no private error-code space. Where a failure is
 * first seen, err_set() records what failed (code, operation, path, source file and line)
 * in a thread-local slot and returns the code unchanged, so the caller can write
 *
 *	return err_set(-errno, "fdatasync", c->name);
 *
 * The boundary (fs/, a test, a tool) reads the record back with err_last() and logs it once.
 * A record can be copied out of the thread that made it (the flusher copies the detail of a
 * sticky error into the pipeline so any thread can report it).
 */
#ifndef FROZENFS_ERR_H
#define FROZENFS_ERR_H

#include <stddef.h>

#define ERR_PATH_MAX 256

struct err_detail {
	int code;			/* -errno, or 0 when nothing failed */
	const char *op;			/* static string: "pwritev", "fdatasync", ... */
	char path[ERR_PATH_MAX];	/* file the operation was on (truncated), or "" */
	const char *src_file;		/* __FILE__ of the err_set() call */
	int src_line;			/* __LINE__ of the err_set() call */
};

/*
 * Records @code (a negative errno) for the calling thread and returns @code unchanged.
 * @op must be a string with static storage; @path may be NULL. A @code of 0 or a positive
 * value is returned as is and records nothing.
 */
int err_set_at(int code, const char *op, const char *path, const char *src_file, int src_line);
#define err_set(code, op, path) err_set_at((code), (op), (path), __FILE__, __LINE__)

/* The calling thread's last record; code == 0 when none. Never NULL. */
const struct err_detail *err_last(void);

/* Forgets the calling thread's record. */
void err_clear(void);

/* Makes @d the calling thread's record (used to re-raise a detail copied from another thread). */
void err_restore(const struct err_detail *d);

/*
 * Formats @d as one line without a newline: "fdatasync a/b.dat: Input/output error
 * (chunk.c:123)". Returns the length snprintf() would have written.
 */
int err_format(const struct err_detail *d, char *buf, size_t len);

#endif
