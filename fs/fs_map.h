/*
 * fs_map: file offset <-> (chunk index, offset in chunk) arithmetic.
 *
 * Pure functions, no I/O and no state beyond the chunk size, so the FUSE handlers and the
 * tests agree on one definition of where a byte lives. A store's chunk size C is a power of
 * two (CHUNK_SIZE_MIN .. CHUNK_SIZE_MAX); byte b of a file is byte (b mod C) of chunk (b / C)
 * (DURABILITY.md section 2.1). Offsets and indices are 64-bit everywhere; a range whose end
 * does not fit in off_t is rejected rather than wrapped.
 */
#ifndef FROZENFS_FS_MAP_H
#define FROZENFS_FS_MAP_H

#include <stddef.h>
#include <stdint.h>

/* Largest byte offset + 1 a file may reach: off_t is signed 64-bit. */
#define FS_MAP_OFF_MAX	((uint64_t)INT64_MAX)

struct fs_map {
	size_t chunk_size;	/* C, a power of two */
	unsigned shift;		/* log2(C) */
};

/* One piece of a byte range that lies inside a single chunk. */
struct fs_map_piece {
	uint64_t index;		/* chunk index */
	size_t off;		/* offset inside the chunk, < C */
	size_t len;		/* bytes, off + len <= C, > 0 */
};

/* Splits a byte range into chunk pieces, in ascending order. */
struct fs_map_iter {
	const struct fs_map *m;
	uint64_t pos;		/* next byte to hand out */
	uint64_t end;		/* one past the last byte */
};

/* 0, or -EINVAL unless @chunk_size is a power of two >= 2. */
int fs_map_init(struct fs_map *m, size_t chunk_size);

/* Index of the chunk holding byte @off. */
uint64_t fs_map_index(const struct fs_map *m, uint64_t off);

/* Offset of byte @off inside its chunk. */
size_t fs_map_offset(const struct fs_map *m, uint64_t off);

/* Number of chunks needed to hold @size bytes (0 for 0). */
uint64_t fs_map_nchunks(const struct fs_map *m, uint64_t size);

/*
 * 0 if [@off, @off + @len) lies below FS_MAP_OFF_MAX, else -EFBIG (what write(2) and
 * truncate(2) report for a position past the maximum file size).
 */
int fs_map_check_range(uint64_t off, uint64_t len);

/* Prepares @it for [@off, @off + @len); the range must pass fs_map_check_range(). */
void fs_map_iter_init(struct fs_map_iter *it, const struct fs_map *m, uint64_t off,
		      uint64_t len);

/* Fills @p with the next piece and returns 1, or returns 0 when the range is used up. */
int fs_map_next(struct fs_map_iter *it, struct fs_map_piece *p);

#endif
