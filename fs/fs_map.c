/*
 * fs_map: file offset <-> chunk arithmetic; see fs_map.h.
 *
 * Everything is shifts and masks on uint64_t, so no intermediate can overflow once a range
 * has passed fs_map_check_range() (its end is at most INT64_MAX).
 */
#include <errno.h>

#include "fs_map.h"

int fs_map_init(struct fs_map *m, size_t chunk_size)
{
	unsigned shift = 0;

	if (chunk_size < 2 || (chunk_size & (chunk_size - 1)) != 0)
		return -EINVAL;
	while (((size_t)1 << shift) != chunk_size)
		shift++;
	m->chunk_size = chunk_size;
	m->shift = shift;
	return 0;
}

uint64_t fs_map_index(const struct fs_map *m, uint64_t off)
{
	return off >> m->shift;
}

size_t fs_map_offset(const struct fs_map *m, uint64_t off)
{
	return (size_t)(off & ((uint64_t)m->chunk_size - 1));
}

uint64_t fs_map_nchunks(const struct fs_map *m, uint64_t size)
{
	/* (size + C - 1) / C without the overflow of the addition near UINT64_MAX. */
	return (size >> m->shift) + ((size & ((uint64_t)m->chunk_size - 1)) != 0);
}

int fs_map_check_range(uint64_t off, uint64_t len)
{
	if (off > FS_MAP_OFF_MAX || len > FS_MAP_OFF_MAX - off)
		return -EFBIG;
	return 0;
}

void fs_map_iter_init(struct fs_map_iter *it, const struct fs_map *m, uint64_t off,
		      uint64_t len)
{
	it->m = m;
	it->pos = off;
	it->end = off + len;
}

int fs_map_next(struct fs_map_iter *it, struct fs_map_piece *p)
{
	uint64_t room;

	if (it->pos >= it->end)
		return 0;
	p->index = fs_map_index(it->m, it->pos);
	p->off = fs_map_offset(it->m, it->pos);
	room = it->m->chunk_size - p->off;
	p->len = (size_t)(it->end - it->pos < room ? it->end - it->pos : room);
	it->pos += p->len;
	return 1;
}
