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

/* @dir/@name into @out (PATH_MAX bytes); fails the cmocka test if too long. */
void testdir_path(const char *dir, const char *name, char *out);

/* Creates or truncates @dir/@name and writes @len bytes of @buf (cmocka asserts). */
void testdir_write(const char *dir, const char *name, const void *buf, size_t len);

#endif
