/*
 * testdir: temporary directories for the unit tests (see testdir.h).
 */
#include "testdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

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
