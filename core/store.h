/*
 * store: the superblock that marks a directory as a frozenfs store.
 *
 * One file, STORE_SB_NAME, at the root of BACKING_DIR. On-disk layout, little-endian,
 * STORE_SB_SIZE (64) bytes:
 *
 *	offset size field
 *	0      8    magic "FROZENFS"
 *	8      4    format version (STORE_VERSION)
 *	12     4    chunk size in bytes (power of two, 4 KiB .. 16 MiB)
 *	16     16   UUID (random, version 4)
 *	32     8    creation time, seconds since the epoch
 *	40     20   reserved, zero
 *	60     4    CRC32C (Castagnoli) of bytes 0..59
 *
 * Written once when the store is created (temp file, fsync, rename, fsync of the directory),
 * verified at every mount, never rewritten. While mounted, the daemon holds
 * flock(LOCK_EX|LOCK_NB) on it, so a second mount of the same store is refused.
 */
#ifndef FROZENFS_STORE_H
#define FROZENFS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "chunk.h"

#define STORE_SB_NAME	".frozenfs"
/* Where a new superblock is written before it is renamed to STORE_SB_NAME. */
#define STORE_SB_TMP	".frozenfs.tmp"
#define STORE_SB_SIZE	64
#define STORE_VERSION	1

struct store_sb {
	uint32_t version;
	uint32_t chunk_size;
	uint8_t uuid[16];
	uint64_t ctime;
};

/* CRC32C (Castagnoli, reflected, init ~0, final xor ~0) of @len bytes. */
uint32_t store_crc32c(const void *buf, size_t len);

/* Encodes @sb into @buf (STORE_SB_SIZE bytes) with magic and CRC. */
void store_sb_encode(const struct store_sb *sb, uint8_t *buf);

/*
 * Decodes and verifies @len bytes. Returns 0, or -EINVAL with a reason in *why (a static
 * string: "bad magic", "bad checksum", "bad chunk size", "short superblock"; or
 * "unsupported format version 7", which lives in thread-local storage and is valid until the
 * thread's next call). @why may be NULL. Checked in that order: size, magic, CRC, version,
 * chunk size, so a flipped bit anywhere is "bad checksum".
 */
int store_sb_decode(const uint8_t *buf, size_t len, struct store_sb *sb, const char **why);

struct store;

/*
 * Opens the store at @dirpath: if the directory is empty (ignoring "lost+found"), creates a
 * superblock with @chunk_size (0: CHUNK_SIZE_DEFAULT); if it holds a valid superblock, uses it
 * (its chunk size wins over @chunk_size). Then locks the superblock. On failure returns -errno
 * and a one-line reason in @why (e.g. -EINVAL "not a frozenfs store: directory is not empty
 * and has no .frozenfs superblock", -EWOULDBLOCK "already mounted: the store is in use by
 * another frozenfs process", -EINVAL "corrupt superblock: bad checksum", -EINVAL
 * "unsupported store format version 2", -ENOENT "backing directory does not exist: PATH");
 * the directory is left untouched except by a successful creation. *created tells whether a
 * new store was made (may be NULL).
 */
int store_open(const struct chunk_io *io, const char *dirpath, uint32_t chunk_size,
	       struct store **out, char *why, size_t whylen, int *created);

/* Unlocks and frees. NULL is a no-op. */
void store_close(struct store *s);

/*
 * A daemon that has stopped serving its mount and is writing out what it still holds marks
 * its store "draining" (an exclusive flock of the backing directory, released with the
 * store). An unmount returns before that write-out is done, so a store_open() right after
 * one fails with -EWOULDBLOCK: store_busy_draining() then tells whether the holder is
 * draining (1: the lock will be free when it is done) or still serving (0), or -errno.
 */
int store_mark_draining(struct store *s);
int store_busy_draining(const struct chunk_io *io, const char *dirpath);

/* O_DIRECTORY fd of BACKING_DIR (owned by the store). */
int store_dirfd(const struct store *s);
const struct store_sb *store_superblock(const struct store *s);

/*
 * Creates a store in an empty directory without opening it (mkfs). -EEXIST if @dirpath
 * already holds a superblock (even a corrupt one: it is never replaced), -EINVAL if the
 * directory is not empty; @why as for store_open().
 */
int store_mkfs(const struct chunk_io *io, const char *dirpath, uint32_t chunk_size,
	       char *why, size_t whylen);

#endif
