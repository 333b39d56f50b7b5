/*
 * test_chunk: chunked backing files, their offsets, transfer loops and error paths.
 *
 * Each test gets a fresh temporary directory (under $TMPDIR or /tmp) and the iofake table,
 * reset, so faults can be injected into exactly the calls a test is about.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "chunk.h"
#include "err.h"
#include "iofake.h"
#include "testdir.h"

#define CS 4096u

struct fixture {
	char dir[PATH_MAX];
	int dirfd;
	struct chunk_file *c;		/* "data", created by setup */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (testdir_make(f->dir, sizeof(f->dir), "test_chunk") < 0)
		return -1;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0)
		return -1;
	iofake_reset();
	err_clear();
	if (chunk_file_open(iofake_io(), f->dirfd, "data", CHUNK_CREATE, 0644, CS, &f->c) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	chunk_file_close(f->c);
	close(f->dirfd);
	testdir_remove(f->dir);
	free(f);
	return 0;
}

static void fill(unsigned char *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static uint64_t file_size(struct chunk_file *c)
{
	uint64_t size = UINT64_MAX;

	assert_int_equal(chunk_file_size(c, &size), 0);
	return size;
}

static void test_chunk_size_valid(void **state)
{
	(void)state;
	assert_true(chunk_size_valid(4096));
	assert_true(chunk_size_valid(CHUNK_SIZE_DEFAULT));
	assert_true(chunk_size_valid(CHUNK_SIZE_MAX));
	assert_false(chunk_size_valid(0));
	assert_false(chunk_size_valid(2048));
	assert_false(chunk_size_valid(4097));
	assert_false(chunk_size_valid(3 * 4096));
	assert_false(chunk_size_valid((size_t)CHUNK_SIZE_MAX * 2));
}

static void test_chunk_accessors(void **state)
{
	struct fixture *f = *state;

	assert_true(chunk_file_fd(f->c) >= 0);
	assert_int_equal(chunk_file_chunk_size(f->c), CS);
	assert_string_equal(chunk_file_name(f->c), "data");
	assert_ptr_equal(chunk_file_io(f->c), iofake_io());
}

static void test_chunk_index_maps_to_offset(void **state)
{
	struct fixture *f = *state;
	unsigned char w[CS], r[4 * CS];

	fill(w, sizeof(w), 3);
	assert_int_equal(chunk_file_pwrite(f->c, 3, w, CS), 0);
	assert_int_equal(file_size(f->c), 4 * CS);
	/* Chunk 3 is bytes [3C, 4C); the hole before it reads as zeros. */
	assert_int_equal(pread(chunk_file_fd(f->c), r, sizeof(r), 0), (ssize_t)sizeof(r));
	for (size_t i = 0; i < 3 * CS; i++)
		assert_int_equal(r[i], 0);
	assert_memory_equal(r + 3 * CS, w, CS);
	memset(r, 0xee, CS);
	assert_int_equal(chunk_file_pread(f->c, 3, r, CS), CS);
	assert_memory_equal(r, w, CS);
}

static void test_chunk_short_last_chunk(void **state)
{
	struct fixture *f = *state;
	unsigned char w[2 * CS + 100], r[CS];
	struct iovec v = { .iov_base = w, .iov_len = sizeof(w) };

	fill(w, sizeof(w), 5);
	assert_int_equal(chunk_file_pwritev_at(f->c, 0, &v, 1), 0);
	assert_int_equal(file_size(f->c), sizeof(w));
	/* The last chunk is short and nothing pads it. */
	assert_int_equal(chunk_file_pread(f->c, 2, r, CS), 100);
	assert_memory_equal(r, w + 2 * CS, 100);
	assert_int_equal(chunk_file_pread(f->c, 1, r, CS), CS);
	assert_memory_equal(r, w + CS, CS);
}

static void test_chunk_pread_at_eof_is_short(void **state)
{
	struct fixture *f = *state;
	unsigned char w[1000], r[4000];
	struct iovec rv[2] = { { r, 600 }, { r + 600, 3400 } };

	fill(w, sizeof(w), 7);
	assert_int_equal(chunk_file_pwrite(f->c, 0, w, sizeof(w)), 0);
	assert_int_equal(chunk_file_pread_at(f->c, 900, r, sizeof(r)), 100);
	assert_memory_equal(r, w + 900, 100);
	assert_int_equal(chunk_file_pread_at(f->c, 1000, r, sizeof(r)), 0);
	assert_int_equal(chunk_file_pread_at(f->c, 5000, r, sizeof(r)), 0);
	assert_int_equal(chunk_file_pread(f->c, 1, r, sizeof(r)), 0);
	assert_int_equal(chunk_file_preadv(f->c, 0, rv, 2), 1000);
	assert_memory_equal(r, w, 1000);
}

static void test_chunk_pwritev_more_than_iov_max(void **state)
{
	struct fixture *f = *state;
	enum { N = 2 * IOV_MAX + 77, LEN = 7 };
	static unsigned char w[N * LEN], r[N * LEN];
	static struct iovec v[N];

	fill(w, sizeof(w), 11);
	for (int i = 0; i < N; i++)
		v[i] = (struct iovec){ .iov_base = w + i * LEN, .iov_len = LEN };
	assert_int_equal(chunk_file_pwritev(f->c, 2, v, N), 0);
	/* The kernel refuses more than IOV_MAX iovecs per call: three batches. */
	assert_int_equal(iofake_count("pwritev"), 3);
	assert_int_equal(file_size(f->c), 2 * CS + sizeof(w));
	for (int i = 0; i < N; i++)
		v[i].iov_base = r + i * LEN;
	assert_int_equal(chunk_file_preadv(f->c, 2, v, N), (ssize_t)sizeof(r));
	assert_memory_equal(r, w, sizeof(w));
}

static void test_chunk_short_writes_and_eintr(void **state)
{
	struct fixture *f = *state;
	unsigned char w[3 * CS + 10], r[sizeof(w)];
	struct iovec v[4] = {
		{ w, 10 }, { w + 10, CS }, { w + 10 + CS, CS + 1 },
		{ w + 10 + 2 * CS + 1, CS - 1 },
	};

	fill(w, sizeof(w), 13);
	iofake_fail("pwritev", 1, IOFAKE_SHORT);
	iofake_fail("pwritev", 2, IOFAKE_EINTR);
	iofake_fail("pwritev", 3, IOFAKE_SHORT);
	iofake_fail("pwritev", 4, IOFAKE_SHORT);
	assert_int_equal(chunk_file_pwritev(f->c, 1, v, 4), 0);
	assert_int_equal(iofake_fired(), 4);
	assert_true(iofake_count("pwritev") >= 5);
	assert_int_equal(pread(chunk_file_fd(f->c), r, sizeof(r), CS), (ssize_t)sizeof(r));
	assert_memory_equal(r, w, sizeof(w));
	/* The caller's iovec array is untouched: the loop advanced a private copy. */
	assert_ptr_equal(v[0].iov_base, w);
	assert_int_equal(v[0].iov_len, 10);
	assert_int_equal(v[2].iov_len, CS + 1);
}

static void test_chunk_short_reads_and_eintr(void **state)
{
	struct fixture *f = *state;
	unsigned char w[2 * CS], r[2 * CS];

	fill(w, sizeof(w), 17);
	assert_int_equal(chunk_file_pwrite(f->c, 0, w, sizeof(w)), 0);
	iofake_fail("preadv", 1, IOFAKE_SHORT);
	iofake_fail("preadv", 2, IOFAKE_EINTR);
	iofake_fail("preadv", 3, IOFAKE_SHORT);
	assert_int_equal(chunk_file_pread(f->c, 0, r, sizeof(r)), (ssize_t)sizeof(r));
	assert_int_equal(iofake_fired(), 3);
	assert_memory_equal(r, w, sizeof(r));
}

static void test_chunk_pwritev_eio_names_op(void **state)
{
	struct fixture *f = *state;
	unsigned char w[CS];

	memset(w, 1, sizeof(w));
	iofake_fail("pwritev", 1, -EIO);
	assert_int_equal(chunk_file_pwrite(f->c, 0, w, CS), -EIO);
	assert_int_equal(err_last()->code, -EIO);
	assert_string_equal(err_last()->op, "pwritev");
	assert_string_equal(err_last()->path, "data");
	/* A fault is not sticky in chunk_: the next write goes through. */
	assert_int_equal(chunk_file_pwrite(f->c, 0, w, CS), 0);
}

static void test_chunk_pwritev_enospc_midway(void **state)
{
	struct fixture *f = *state;
	unsigned char w[2 * CS];

	memset(w, 2, sizeof(w));
	/* The first call writes half, the retry for the rest hits ENOSPC. */
	iofake_fail("pwritev", 1, IOFAKE_SHORT);
	iofake_fail("pwritev", 2, -ENOSPC);
	assert_int_equal(chunk_file_pwrite(f->c, 0, w, sizeof(w)), -ENOSPC);
	assert_int_equal(err_last()->code, -ENOSPC);
	assert_string_equal(err_last()->op, "pwritev");
}

static ssize_t zero_pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	(void)fd;
	(void)iov;
	(void)cnt;
	(void)off;
	return 0;
}

static void test_chunk_pwritev_zero_progress_is_eio(void **state)
{
	struct fixture *f = *state;
	struct chunk_io io = *chunk_io_default();
	struct chunk_file *c;
	unsigned char w[16] = { 0 };

	io.pwritev = zero_pwritev;
	assert_int_equal(chunk_file_open(&io, f->dirfd, "zero", CHUNK_CREATE, 0644, CS, &c), 0);
	assert_int_equal(chunk_file_pwrite(c, 0, w, sizeof(w)), -EIO);
	assert_int_equal(err_last()->code, -EIO);
	assert_non_null(strstr(err_last()->op, "pwritev"));
	/* Zero bytes asked is not an error and makes no call. */
	assert_int_equal(chunk_file_pwrite(c, 0, w, 0), 0);
	chunk_file_close(c);
}

static void test_chunk_sync_errors_name_op(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(chunk_file_sync(f->c, 1), 0);
	assert_int_equal(chunk_file_sync(f->c, 0), 0);
	assert_int_equal(iofake_count("fdatasync"), 1);
	assert_int_equal(iofake_count("fsync"), 1);

	iofake_fail("fdatasync", 1, -EIO);
	assert_int_equal(chunk_file_sync(f->c, 1), -EIO);
	assert_string_equal(err_last()->op, "fdatasync");
	assert_string_equal(err_last()->path, "data");

	iofake_fail("fsync", 1, -ENOSPC);
	assert_int_equal(chunk_file_sync(f->c, 0), -ENOSPC);
	assert_int_equal(err_last()->code, -ENOSPC);
	assert_string_equal(err_last()->op, "fsync");
}

static void test_chunk_reserve_errors(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	/* Real reservation: KEEP_SIZE leaves the length alone (ext4, xfs and tmpfs support it). */
	assert_int_equal(chunk_file_reserve(f->c, 0, 4 * CS), 0);
	assert_int_equal(file_size(f->c), 0);

	iofake_fail("fallocate", 1, -ENOSPC);
	assert_int_equal(chunk_file_reserve(f->c, 0, CS), -ENOSPC);
	assert_int_equal(err_last()->code, -ENOSPC);
	assert_non_null(strstr(err_last()->op, "fallocate"));

	iofake_fail("fallocate", 1, -EIO);
	assert_int_equal(chunk_file_fallocate(f->c, 0, 0, CS), -EIO);
	assert_string_equal(err_last()->op, "fallocate");

	/* A backing FS without fallocate: no reservation, no error. */
	iofake_fail("fallocate", 1, -EOPNOTSUPP);
	iofake_fail("fallocate", 2, -ENOSYS);
	assert_int_equal(chunk_file_reserve(f->c, 0, CS), 0);
	assert_int_equal(chunk_file_reserve(f->c, 0, CS), 0);
	/* But the explicit call reports it. */
	iofake_fail("fallocate", 1, -EOPNOTSUPP);
	assert_int_equal(chunk_file_fallocate(f->c, 0, 0, CS), -EOPNOTSUPP);

	/* Mode 0 extends the file. */
	assert_int_equal(chunk_file_fallocate(f->c, 0, 0, 2 * CS), 0);
	assert_int_equal(chunk_file_stat(f->c, &st), 0);
	assert_int_equal(st.st_size, 2 * CS);
	assert_int_equal(chunk_file_reserve(f->c, 0, 0), 0);
	assert_int_equal(chunk_file_reserve(f->c, UINT64_MAX - 1, 2), -EFBIG);
}

static void test_chunk_flock_second_opener_wouldblock(void **state)
{
	struct fixture *f = *state;
	struct chunk_file *a, *b = NULL;

	assert_int_equal(chunk_file_open(NULL, f->dirfd, "locked", CHUNK_CREATE | CHUNK_LOCK,
					 0644, CS, &a), 0);
	/* A second open file description (as a second process would have) is refused. */
	assert_int_equal(chunk_file_open(NULL, f->dirfd, "locked", CHUNK_LOCK, 0, CS, &b),
			 -EWOULDBLOCK);
	assert_null(b);
	assert_int_equal(err_last()->code, -EWOULDBLOCK);
	assert_non_null(strstr(err_last()->op, "locked by another process"));
	assert_string_equal(err_last()->path, "locked");
	/* Without CHUNK_LOCK it opens fine; after the holder closes, the lock is free. */
	assert_int_equal(chunk_file_open(NULL, f->dirfd, "locked", 0, 0, CS, &b), 0);
	chunk_file_close(b);
	chunk_file_close(a);
	assert_int_equal(chunk_file_open(NULL, f->dirfd, "locked", CHUNK_LOCK, 0, CS, &b), 0);
	chunk_file_close(b);
}

static void test_chunk_open_flags(void **state)
{
	struct fixture *f = *state;
	struct chunk_file *c = (struct chunk_file *)(uintptr_t)0x1;
	unsigned char w[8] = { 0 };

	assert_int_equal(chunk_file_open(NULL, f->dirfd, "missing", 0, 0, CS, &c), -ENOENT);
	assert_ptr_equal(c, (struct chunk_file *)(uintptr_t)0x1);	/* untouched */
	assert_string_equal(err_last()->op, "openat");
	assert_string_equal(err_last()->path, "missing");
	assert_int_equal(chunk_file_open(NULL, f->dirfd, "data", CHUNK_CREATE | CHUNK_EXCL, 0644,
					 CS, &c), -EEXIST);
	assert_int_equal(chunk_file_open(NULL, f->dirfd, "data", 0, 0, 1000, &c), -EINVAL);

	/* O_NOFOLLOW: a symlink is refused, not followed. */
	assert_int_equal(symlinkat("data", f->dirfd, "link"), 0);
	assert_int_equal(chunk_file_open(NULL, f->dirfd, "link", 0, 0, CS, &c), -ELOOP);

	assert_int_equal(chunk_file_open(NULL, f->dirfd, "data", CHUNK_RDONLY, 0, CS, &c), 0);
	assert_int_equal(chunk_file_pwrite(c, 0, w, sizeof(w)), -EBADF);
	assert_true(fcntl(chunk_file_fd(c), F_GETFD) & FD_CLOEXEC);
	chunk_file_close(c);
	chunk_file_close(NULL);
}

static void test_chunk_adopt_owns_fd_on_success_only(void **state)
{
	struct fixture *f = *state;
	struct chunk_file *a, *c;
	int fd, fd2;

	fd = openat(f->dirfd, "adopt", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(chunk_file_adopt(NULL, fd, "adopted", CS, CHUNK_LOCK, &c), 0);
	assert_int_equal(chunk_file_fd(c), fd);
	assert_string_equal(chunk_file_name(c), "adopted");
	assert_ptr_equal(chunk_file_io(c), chunk_io_default());

	/* A failed adopt (lock held) leaves the fd open and the caller's. */
	fd2 = openat(f->dirfd, "adopt", O_RDWR | O_CLOEXEC);
	assert_true(fd2 >= 0);
	assert_int_equal(chunk_file_adopt(NULL, fd2, "second", CS, CHUNK_LOCK, &a), -EWOULDBLOCK);
	assert_int_not_equal(fcntl(fd2, F_GETFD), -1);
	close(fd2);

	chunk_file_close(c);
	assert_int_equal(fcntl(fd, F_GETFD), -1);	/* closed with the chunk file */
	assert_int_equal(errno, EBADF);
}

static void test_chunk_truncate_and_grow(void **state)
{
	struct fixture *f = *state;
	unsigned char w[CS], r[CS];

	fill(w, sizeof(w), 19);
	assert_int_equal(chunk_file_pwrite(f->c, 0, w, CS), 0);
	assert_int_equal(chunk_file_truncate(f->c, 100), 0);
	assert_int_equal(file_size(f->c), 100);
	assert_int_equal(chunk_file_grow(f->c, 3), 0);
	assert_int_equal(file_size(f->c), 3 * CS);
	/* Truncating down then up: the old tail reads as zeros. */
	assert_int_equal(chunk_file_pread(f->c, 0, r, CS), CS);
	assert_memory_equal(r, w, 100);
	for (size_t i = 100; i < CS; i++)
		assert_int_equal(r[i], 0);
	/* grow never shrinks. */
	assert_int_equal(chunk_file_grow(f->c, 1), 0);
	assert_int_equal(file_size(f->c), 3 * CS);
	assert_int_equal(chunk_file_grow(f->c, UINT64_MAX), -EFBIG);
	assert_int_equal(chunk_file_truncate(f->c, (uint64_t)INT64_MAX + 1), -EFBIG);
	assert_string_equal(err_last()->op, "ftruncate");
	iofake_fail("ftruncate", 1, -EIO);
	assert_int_equal(chunk_file_truncate(f->c, 0), -EIO);
	assert_int_equal(err_last()->code, -EIO);
}

static void test_chunk_truncate_grow_to_1pb(void **state)
{
	struct fixture *f = *state;
	const uint64_t pb = 1ull << 50;
	unsigned char r[CS];
	struct stat st;
	int rc;

	rc = chunk_file_truncate(f->c, pb);
	if (rc == 0) {
		/* A sparse grow: instant, no blocks, reads as zeros. */
		assert_int_equal(chunk_file_stat(f->c, &st), 0);
		assert_int_equal((uint64_t)st.st_size, pb);
		assert_true(st.st_blocks < 64);
		memset(r, 0xaa, sizeof(r));
		assert_int_equal(chunk_file_pread_at(f->c, pb - CS, r, CS), CS);
		for (size_t i = 0; i < CS; i++)
			assert_int_equal(r[i], 0);
		assert_int_equal(chunk_file_check_size(f->c, pb), 0);
	} else {
		/* ext4 with 4 KiB blocks stops at 16 TiB: a clean EFBIG that changes nothing. */
		assert_int_equal(rc, -EFBIG);
		assert_int_equal(err_last()->code, -EFBIG);
		assert_string_equal(err_last()->op, "ftruncate");
		assert_int_equal(file_size(f->c), 0);
		assert_int_equal(chunk_file_check_size(f->c, pb), -EFBIG);
	}
}

static void test_chunk_check_size_matches_truncate(void **state)
{
	struct fixture *f = *state;
	const uint64_t sizes[] = {
		0, 4096, 5ull << 30, 1ull << 44, 1ull << 50, 1ull << 62, (uint64_t)INT64_MAX,
	};

	assert_int_equal(chunk_file_check_size(f->c, (uint64_t)INT64_MAX + 1), -EFBIG);
	assert_int_equal(chunk_file_check_size(f->c, UINT64_MAX), -EFBIG);
	assert_int_equal(err_last()->code, -EFBIG);
	/* The probe agrees with what a truncate would do, and changes nothing. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int want = chunk_file_check_size(f->c, sizes[i]);

		assert_true(want == 0 || want == -EFBIG);
		assert_int_equal(file_size(f->c), 0);
		assert_int_equal(chunk_file_truncate(f->c, sizes[i]), want);
		assert_int_equal(chunk_file_truncate(f->c, 0), 0);
	}
	assert_int_equal(chunk_file_check_size(f->c, 4096), 0);
	/* lseek's EINVAL (beyond s_maxbytes) is reported as EFBIG; other errors pass through. */
	iofake_fail("lseek", 1, -EINVAL);
	assert_int_equal(chunk_file_check_size(f->c, 4096), -EFBIG);
	iofake_fail("lseek", 1, -EIO);
	assert_int_equal(chunk_file_check_size(f->c, 4096), -EIO);
}

static void test_chunk_offsets_above_4gib(void **state)
{
	struct fixture *f = *state;
	const uint64_t index = (5ull << 30) / CS + 3;	/* byte 5 GiB + 12 KiB */
	unsigned char w[CS], r[CS];
	struct stat st;

	fill(w, sizeof(w), 23);
	assert_int_equal(chunk_file_pwrite(f->c, index, w, CS), 0);
	assert_int_equal(file_size(f->c), (index + 1) * CS);
	assert_int_equal(chunk_file_stat(f->c, &st), 0);
	assert_true(st.st_blocks < 1024);		/* sparse: only the written chunk */
	assert_int_equal(chunk_file_pread(f->c, index, r, CS), CS);
	assert_memory_equal(r, w, CS);
	/* The low 32 bits alone (index * C mod 4 GiB) must hold nothing. */
	assert_int_equal(chunk_file_pread_at(f->c, (index * CS) & 0xffffffffu, r, CS), CS);
	for (size_t i = 0; i < CS; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(pread(chunk_file_fd(f->c), r, CS, (off_t)(index * CS)), CS);
	assert_memory_equal(r, w, CS);
}

static void test_chunk_index_overflow_is_efbig(void **state)
{
	struct fixture *f = *state;
	unsigned char b[16] = { 0 };
	struct iovec v = { b, sizeof(b) };

	assert_int_equal(chunk_file_pwrite(f->c, UINT64_MAX / CS, b, sizeof(b)), -EFBIG);
	assert_int_equal(err_last()->code, -EFBIG);
	assert_int_equal(chunk_file_pwrite(f->c, (uint64_t)INT64_MAX / CS + 1, b, 1), -EFBIG);
	assert_int_equal(chunk_file_pread(f->c, UINT64_MAX, b, sizeof(b)), -EFBIG);
	assert_int_equal(chunk_file_preadv(f->c, UINT64_MAX / 2, &v, 1), -EFBIG);
	assert_int_equal(chunk_file_pwritev(f->c, UINT64_MAX / 2, &v, 1), -EFBIG);
	assert_int_equal(chunk_file_pwritev_at(f->c, (uint64_t)INT64_MAX - 4, &v, 1), -EFBIG);
	/* Nothing reached the kernel. */
	assert_int_equal(iofake_count("pwritev"), 0);
	assert_int_equal(iofake_count("preadv"), 0);
}

static void test_chunk_set_mtime_keeps_atime(void **state)
{
	struct fixture *f = *state;
	const struct timespec mt = { .tv_sec = 1000000000, .tv_nsec = 123456789 };
	struct stat before, after;

	assert_int_equal(chunk_file_stat(f->c, &before), 0);
	assert_int_equal(chunk_file_set_mtime(f->c, &mt), 0);
	assert_int_equal(chunk_file_stat(f->c, &after), 0);
	assert_int_equal(after.st_mtim.tv_sec, mt.tv_sec);
	assert_int_equal(after.st_mtim.tv_nsec, mt.tv_nsec);
	assert_int_equal(after.st_atim.tv_sec, before.st_atim.tv_sec);
	assert_int_equal(after.st_atim.tv_nsec, before.st_atim.tv_nsec);
	iofake_fail("futimens", 1, -EROFS);
	assert_int_equal(chunk_file_set_mtime(f->c, &mt), -EROFS);
	assert_string_equal(err_last()->op, "futimens");
	iofake_fail("fstat", 1, -EIO);
	assert_int_equal(chunk_file_stat(f->c, &after), -EIO);
	assert_string_equal(err_last()->op, "fstat");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_chunk_size_valid),
		T(test_chunk_accessors),
		T(test_chunk_index_maps_to_offset),
		T(test_chunk_short_last_chunk),
		T(test_chunk_pread_at_eof_is_short),
		T(test_chunk_pwritev_more_than_iov_max),
		T(test_chunk_short_writes_and_eintr),
		T(test_chunk_short_reads_and_eintr),
		T(test_chunk_pwritev_eio_names_op),
		T(test_chunk_pwritev_enospc_midway),
		T(test_chunk_pwritev_zero_progress_is_eio),
		T(test_chunk_sync_errors_name_op),
		T(test_chunk_reserve_errors),
		T(test_chunk_flock_second_opener_wouldblock),
		T(test_chunk_open_flags),
		T(test_chunk_adopt_owns_fd_on_success_only),
		T(test_chunk_truncate_and_grow),
		T(test_chunk_truncate_grow_to_1pb),
		T(test_chunk_check_size_matches_truncate),
		T(test_chunk_offsets_above_4gib),
		T(test_chunk_index_overflow_is_efbig),
		T(test_chunk_set_mtime_keeps_atime),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
