/*
 * err: the thread-local detail record behind every -errno returned by core/.
 *
 * DESIGN
 *
 * Each thread owns exactly one struct err_detail (a _Thread_local variable), so recording an
 * error never takes a lock and never allocates: it is safe on any error path, including
 * ENOMEM ones. The record is overwritten by the next err_set() on the same thread; a caller
 * that needs it later, or in another thread (the flusher hands the detail of a sticky
 * fdatasync failure to whoever calls pipeline_wait_durable()), copies the struct out and
 * re-raises it with err_restore(). The struct is self-contained for that purpose: @op and
 * @src_file point at string literals (static storage) and @path is copied in.
 *
 * Invariants: err_last() never returns NULL; code == 0 means "no record". err_set_at()
 * preserves errno, so "return err_set(-errno, ...)" followed by cleanup that inspects errno
 * keeps working.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

static _Thread_local struct err_detail last;	/* this thread only */

int err_set_at(int code, const char *op, const char *path, const char *src_file, int src_line)
{
	int saved = errno;

	if (code >= 0)
		return code;
	last.code = code;
	last.op = op ? op : "?";
	if (path) {
		/* Keep the tail of a long path: the file name is the useful part. */
		size_t n = strlen(path);

		if (n >= ERR_PATH_MAX)
			path += n - (ERR_PATH_MAX - 1);
		memcpy(last.path, path, strlen(path) + 1);
	} else {
		last.path[0] = '\0';
	}
	last.src_file = src_file ? src_file : "?";
	last.src_line = src_line;
	errno = saved;
	return code;
}

const struct err_detail *err_last(void)
{
	return &last;
}

void err_clear(void)
{
	memset(&last, 0, sizeof(last));
}

void err_restore(const struct err_detail *d)
{
	if (!d) {
		err_clear();
		return;
	}
	if (d != &last)
		last = *d;
	/* A copied record may come from a writer that did not NUL-terminate a full buffer. */
	last.path[ERR_PATH_MAX - 1] = '\0';
}

/* "core/chunk.c" -> "chunk.c": the short form is what the one-line message shows. */
static const char *base_name(const char *file)
{
	const char *slash = file ? strrchr(file, '/') : NULL;

	if (!file)
		return "?";
	return slash ? slash + 1 : file;
}

static const char *errno_text(int errnum, char *buf, size_t len)
{
	/*
	 * With _GNU_SOURCE this is the GNU strerror_r(): thread-safe (strerror() is not), and it
	 * returns a pointer that may or may not be @buf.
	 */
	const char *s = strerror_r(errnum, buf, len);

	return s ? s : "Unknown error";
}

int err_format(const struct err_detail *d, char *buf, size_t len)
{
	char tmp[128];
	/* @d may be a copy from elsewhere: never read past its path buffer. */
	int plen = (int)strnlen(d ? d->path : "", ERR_PATH_MAX);

	if (!d || d->code == 0)
		return snprintf(buf, len, "no error");
	return snprintf(buf, len, "%s%s%.*s: %s (%s:%d)", d->op ? d->op : "?", plen ? " " : "",
			plen, d->path, errno_text(-d->code, tmp, sizeof(tmp)),
			base_name(d->src_file), d->src_line);
}
