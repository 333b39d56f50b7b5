/*
 * testdir: a private temporary directory per unit test (under $TMPDIR, default /tmp).
 */
#ifndef FROZENFS_TESTDIR_H
#define FROZENFS_TESTDIR_H

#include <stddef.h>

/* Creates DIR/<prefix>.XXXXXX into @buf (@len bytes). Returns 0 or -1. */
int testdir_make(char *buf, size_t len, const char *prefix);

/* Removes @dir and everything below it (best effort). */
void testdir_remove(const char *dir);

#endif
