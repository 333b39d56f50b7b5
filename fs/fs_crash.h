/*
 * fs_crash: the FROZENFS_CRASH_AT test hook (DURABILITY.md section 4.1, T2).
 *
 *	FROZENFS_CRASH_AT=<op>:<n>[:before|after]
 *
 * makes the daemon raise(SIGKILL) right before (the default) or right after its n-th backing
 * call of kind <op>, counted from the moment the store is open, so a crash test can stop
 * frozenfs at a deterministic point of its I/O and then check what recovery finds. <op> is
 * one of pwritev, fdatasync, fsync, ftruncate, fallocate, futimens, openat, mkdirat, mknodat,
 * symlinkat, linkat, unlinkat, renameat2, or `any`: any call that changes or syncs the
 * backing store (every kind listed except openat, and openat with O_CREAT). n is a decimal
 * number from 1 to 2^63-1.
 *
 * It works by wrapping the struct chunk_io every backing call goes through (fs->io). With
 * the variable unset nothing is wrapped and the daemon runs exactly as without this file.
 * Not documented in --help: a test hook, like the test_* mount options.
 *
 * Threads: fs_crash_parse() and fs_crash_wrap() run on the main thread before the session;
 * the wrapped calls may then run on any thread (the counter is atomic).
 */
#ifndef FROZENFS_FS_CRASH_H
#define FROZENFS_FS_CRASH_H

#include "chunk.h"

#define FS_CRASH_ENV	"FROZENFS_CRASH_AT"

/*
 * Parses @spec (the variable's value; NULL means unset). Returns 0, or -EINVAL after printing
 * one line on stderr ("frozenfs: invalid FROZENFS_CRASH_AT '...': ..."), for exit 1.
 */
int fs_crash_parse(const char *spec);

/*
 * Returns a table that passes every call on to @inner and crashes as parsed, or @inner itself
 * when no crash point is set. The table is static: it lives until exit.
 */
const struct chunk_io *fs_crash_wrap(const struct chunk_io *inner);

#endif
