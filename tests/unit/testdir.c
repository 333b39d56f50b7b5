/*
 * testdir: temporary directories for the unit tests (see testdir.h).
 */
#include "testdir.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

int testdir_make(char *buf, size_t len, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");

	if (snprintf(buf, len, "%s/%s.XXXXXX", tmp ? tmp : "/tmp", prefix) >= (int)len)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void testdir_remove(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void testdir_path(const char *dir, const char *name, char *out)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		fail_msg("path too long");
}

void testdir_write(const char *dir, const char *name, const void *buf, size_t len)
{
	char p[PATH_MAX];
	int fd;

	testdir_path(dir, name, p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}
