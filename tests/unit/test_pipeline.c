/*
 * Unit tests for core/pipeline.c: batching, absorption, reads of queued data, truncate
 * ordering, sticky errors with fault injection, the epoch race, concurrency and crashes.
 *
 * Every test runs in a fresh temporary directory with backing files opened through the
 * iofake ops table, so faults can be injected into pwritev, fdatasync and fallocate. Teardown
 * destroys the pipeline (which waits for every pool buffer to come back).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chunk.h"
#include "iofake.h"
#include "pipeline.h"

#define CS 4096u

struct ctx {
	char dir[64];
	int dirfd;
	struct pipeline *p;
	struct pipeline_opts o;
};

static void opts_for_test(struct pipeline_opts *o)
{
	pipeline_opts_default(o);
	o->chunk_size = CS;
	o->pool_bufs = 64;
	o->flush_interval_ms = 20;
	o->sync_threads = 2;
}

static int make_dir(struct ctx *c)
{
	strcpy(c->dir, "/tmp/fz-pipe-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	c->dirfd = open(c->dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	return c->dirfd < 0 ? -1 : 0;
}

static int setup_opts(void **state, const struct pipeline_opts *o)
{
	struct ctx *c = calloc(1, sizeof(*c));

	iofake_reset();
	if (!c || make_dir(c) < 0)
		return -1;
	c->o = *o;
	if (pipeline_create(&c->o, &c->p) < 0)
		return -1;
	*state = c;
	return 0;
}

static int setup(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	return setup_opts(state, &o);
}

/* A flusher that never runs on its own: only waits and kicks start batches. */
static int setup_slow(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	o.flush_interval_ms = 60000;
	return setup_opts(state, &o);
}

/* The pool made resident by a background thread while the test runs (as frozenfs mounts). */
static int setup_prefault(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	o.prefault = true;
	return setup_opts(state, &o);
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	iofake_reset();
	pipeline_destroy(c->p);
	close(c->dirfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
	assert_int_equal(system(cmd), 0);
	free(c);
	return 0;
}

/* Creates @name with the pipeline's chunk size and attaches it. */
static struct pipeline_file *attach(struct ctx *c, const char *name)
{
	struct chunk_file *cf;
	struct pipeline_file *f;

	assert_int_equal(chunk_file_open(iofake_io(), c->dirfd, name, CHUNK_CREATE, 0644,
					 pipeline_chunk_size(c->p), &cf), 0);
	assert_int_equal(pipeline_file_attach(c->p, cf, &f), 0);
	return f;
}

/* Writes [off, off+len) of @src through the pipeline, splitting at chunk edges. */
static uint64_t write_at(struct pipeline_file *f, uint64_t off, const void *src, size_t len)
{
	const uint8_t *s = src;
	uint64_t t = 0;

	while (len) {
		size_t in = (size_t)(off % CS), n = CS - in < len ? CS - in : len;

		assert_int_equal(pipeline_write(f, off / CS, in, s, n, &t), 0);
		off += n;
		s += n;
		len -= n;
	}
	return t;
}

/* The backing file's bytes as another process would read them now. */
static size_t backing_read(struct ctx *c, const char *name, uint64_t off, void *buf, size_t len)
{
	int fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	assert_true(fd >= 0);
	r = pread(fd, buf, len, (off_t)off);
	close(fd);
	assert_true(r >= 0);
	return (size_t)r;
}

static uint64_t backing_size(struct ctx *c, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(c->dirfd, name, &st, 0), 0);
	return (uint64_t)st.st_size;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 8));
}

/* ---- basics ---------------------------------------------------------------------------- */

static void test_pipeline_write_wait_durable(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "a");
	uint8_t w[3 * CS + 100], r[sizeof(w)];
	uint64_t t;

	fill(w, sizeof(w), 1);
	t = write_at(f, 0, w, sizeof(w));
	assert_true(t > 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_true(iofake_count("fdatasync") >= 1);
	/* On the backing file: length is the logical size, chunk i at i * CS. */
	assert_int_equal(backing_size(c, "a"), sizeof(w));
	assert_int_equal(backing_read(c, "a", 0, r, sizeof(r)), sizeof(w));
	assert_memory_equal(r, w, sizeof(w));
	assert_int_equal(pipeline_file_size(f), sizeof(w));
	pipeline_file_put(f);
}

static void test_pipeline_wait_clean_file_returns_at_once(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "clean");
	unsigned syncs = iofake_count("fdatasync");

	assert_int_equal(pipeline_wait_async(f, 0, 0, NULL, NULL), 0);
	assert_int_equal(pipeline_wait(f, 0, 0), 0);
	assert_int_equal(iofake_count("fdatasync"), syncs);
	pipeline_file_put(f);
}

static void test_pipeline_absorbs_writes_to_queued_chunk(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "abs");
	uint8_t a[CS], r[CS];
	struct pipeline_stats st;
	uint64_t t = 0;

	memset(a, 'a', sizeof(a));
	for (unsigned i = 0; i < 64; i++) {
		uint8_t v = (uint8_t)i;

		assert_int_equal(pipeline_write(f, 0, i * 64u, &v, 1, &t), 0);
	}
	pipeline_get_stats(c->p, &st);
	assert_true(st.writes_absorbed >= 63 - 1);	/* a batch may have started in between */
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "abs", 0, r, 64 * 64), 63 * 64 + 1);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(r[i * 64], i);
	pipeline_file_put(f);
}

static void test_pipeline_later_write_wins(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "order");
	uint8_t a[CS], b[CS], r[CS];
	uint64_t t;

	memset(a, 'A', sizeof(a));
	memset(b, 'B', sizeof(b));
	for (int round = 0; round < 50; round++) {
		write_at(f, 0, a, CS);
		t = write_at(f, 0, b, CS);
		assert_int_equal(pipeline_wait(f, t, 0), 0);
		assert_int_equal(backing_read(c, "order", 0, r, CS), CS);
		assert_memory_equal(r, b, CS);
	}
	pipeline_file_put(f);
}

static void test_pipeline_coalesces_adjacent_chunks(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "co");
	static uint8_t w[16 * CS];
	uint64_t t;

	fill(w, sizeof(w), 3);
	iofake_reset();
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	/* 16 adjacent chunks: one pwritev (unless a timed batch split them: at most 2). */
	assert_true(iofake_count("pwritev") >= 1 && iofake_count("pwritev") <= 2);
	pipeline_file_put(f);
}

/* A fill source for pipeline_write_from: copies from @src, failing after @ok bytes. */
struct fill_src {
	const uint8_t *src;
	size_t ok;		/* bytes it delivers before failing */
	size_t taken;
	unsigned calls;
};

static int fill_some(void *arg, void *dst, size_t len)
{
	struct fill_src *s = arg;
	size_t n = len < s->ok - s->taken ? len : s->ok - s->taken;

	s->calls++;
	memcpy(dst, s->src + s->taken, n);
	s->taken += n;
	return n == len ? 0 : err_set(-EIO, "fill_some", NULL);
}

static void test_pipeline_write_from_fill(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "from");
	uint8_t w[CS], x[CS], r[CS];
	struct fill_src ok = { .src = w, .ok = SIZE_MAX }, bad = { .src = x, .ok = 10 };
	uint64_t t = 0, t2 = 77;

	fill(w, sizeof(w), 11);
	memset(x, 'x', sizeof(x));
	/* A fresh chunk filled by the callback, in place: the bytes land as with a copy. */
	assert_int_equal(pipeline_write_from(f, 0, 100, 200, fill_some, &ok, &t), 0);
	assert_int_equal(ok.calls, 1);
	assert_int_equal(pipeline_file_size(f), 300);
	/* A fill that fails on a fresh chunk queues nothing: size and ticket unchanged. */
	assert_int_equal(pipeline_write_from(f, 1, 0, 50, fill_some, &bad, &t2), -EIO);
	assert_int_equal(t2, 77);
	assert_int_equal(pipeline_file_size(f), 300);
	assert_int_equal(pipeline_file_ticket(f), t);
	/* A fill that fails on the queued chunk does not widen its range past the old one:
	 * [100, 300) stays, and bytes beyond it do not appear (size unchanged, reads short). */
	bad.taken = 0;
	assert_int_equal(pipeline_write_from(f, 0, 250, 100, fill_some, &bad, NULL), -EIO);
	assert_int_equal(pipeline_file_size(f), 300);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), 300);
	/* The torn part inside the old range is the new bytes (10 of them), the rest old. */
	assert_memory_equal(r + 100, w, 150);
	assert_memory_equal(r + 250, x, 10);
	assert_memory_equal(r + 260, w + 160, 40);
	/* After the failures the file is fine: a good fill extends the range and is durable. */
	assert_int_equal(pipeline_write_from(f, 0, 300, 100, fill_some, &ok, &t), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "from", 0, r, sizeof(r)), 400);
	for (int i = 0; i < 100; i++)
		assert_int_equal(r[i], 0);
	assert_memory_equal(r + 300, w + 200, 100);
	assert_int_equal(pipeline_file_error(f, NULL), 0);
	pipeline_file_put(f);
}

/* ---- reads of queued and in-flight data ---------------------------------------------------- */

static void test_pipeline_read_sees_queued(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "rq");
	uint8_t w[2 * CS + 17], r[sizeof(w) + 100];

	fill(w, sizeof(w), 5);
	write_at(f, 10, w, sizeof(w));
	/* Slow flusher: nothing on disk yet, everything readable. */
	assert_int_equal(backing_size(c, "rq"), 0);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), 10 + sizeof(w));
	for (int i = 0; i < 10; i++)
		assert_int_equal(r[i], 0);
	assert_memory_equal(r + 10, w, sizeof(w));
	/* Unaligned read across the chunk edge. */
	assert_int_equal(pipeline_read(f, CS - 3, r, 7), 7);
	assert_memory_equal(r, w + CS - 13, 7);
	/* At and past EOF. */
	assert_int_equal(pipeline_read(f, 10 + sizeof(w), r, 5), 0);
	assert_int_equal(pipeline_read(f, 1ULL << 40, r, 5), 0);
	assert_int_equal(pipeline_wait(f, 0, 0), 0);
	assert_int_equal(pipeline_read(f, 10, r, sizeof(w)), sizeof(w));
	assert_memory_equal(r, w, sizeof(w));
	pipeline_file_put(f);
}

struct inflight_arg {
	struct pipeline_file *f;
	uint64_t t;
	int rc;
};

static void *wait_thread(void *arg)
{
	struct inflight_arg *a = arg;

	a->rc = pipeline_wait(a->f, a->t, 0);
	return NULL;
}

static void test_pipeline_read_sees_in_flight_and_cow(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "inf");
	uint8_t a[CS], b[100], r[CS];
	struct inflight_arg arg = { .f = f };
	pthread_t th;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	/* Slow down the sync so the chunk stays in flight while we read and write it. */
	iofake_delay("fdatasync", 300000);
	arg.t = write_at(f, 0, a, CS);
	assert_int_equal(pthread_create(&th, NULL, wait_thread, &arg), 0);
	usleep(100000);		/* the batch is now in fdatasync */
	assert_int_equal(pipeline_read(f, 0, r, CS), CS);
	assert_memory_equal(r, a, CS);
	/* Writing an in-flight chunk must not touch the buffer being written (copy on write). */
	write_at(f, 50, b, sizeof(b));
	assert_int_equal(pipeline_read(f, 0, r, CS), CS);
	assert_memory_equal(r + 50, b, sizeof(b));
	assert_memory_equal(r, a, 50);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(arg.rc, 0);
	iofake_delay("fdatasync", 0);
	assert_int_equal(pipeline_wait(f, 0, 0), 0);
	assert_int_equal(backing_read(c, "inf", 0, r, CS), CS);
	assert_memory_equal(r + 50, b, sizeof(b));
	assert_memory_equal(r + 150, a, CS - 150);
	pipeline_file_put(f);
}

/* ---- truncate ------------------------------------------------------------------------------ */

static void test_pipeline_truncate_drops_queued_tail(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "tr");
	uint8_t w[4 * CS], r[4 * CS];
	uint64_t t;

	memset(w, 'A', sizeof(w));
	write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_truncate(f, 10, NULL), 0);
	assert_int_equal(pipeline_file_size(f), 10);
	assert_int_equal(pipeline_truncate(f, 3 * CS, &t), 0);
	/* Down then up: bytes 10.. read zero, queued or not (I1). */
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), 3 * CS);
	for (size_t i = 0; i < 3 * CS; i++)
		assert_int_equal(r[i], i < 10 ? 'A' : 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_size(c, "tr"), 3 * CS);
	assert_int_equal(backing_read(c, "tr", 0, r, sizeof(r)), 3 * CS);
	for (size_t i = 0; i < 3 * CS; i++)
		assert_int_equal(r[i], i < 10 ? 'A' : 0);
	pipeline_file_put(f);
}

static void test_pipeline_truncate_masks_stale_backing(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "mask");
	uint8_t w[2 * CS], r[2 * CS];
	uint8_t x = 'x';
	uint64_t t;

	memset(w, 'A', sizeof(w));
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(f, t, 0), 0);	/* 'A' x 2 chunks on disk */
	/* Queue truncate down to 100 then a write at 2*CS-1: the backing still has 'A's, but
	 * the logical file is 'A' x 100, zeros, then 'x' (slow flusher: nothing applied). */
	assert_int_equal(pipeline_truncate(f, 100, NULL), 0);
	t = write_at(f, 2 * CS - 1, &x, 1);
	assert_int_equal(backing_read(c, "mask", 0, r, sizeof(r)), 2 * CS);
	assert_int_equal(r[200], 'A');			/* stale bytes still on disk */
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), 2 * CS);
	for (size_t i = 0; i < 2 * CS; i++)
		assert_int_equal(r[i], i < 100 ? 'A' : i == 2 * CS - 1 ? 'x' : 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "mask", 0, r, sizeof(r)), 2 * CS);
	for (size_t i = 0; i < 2 * CS; i++)
		assert_int_equal(r[i], i < 100 ? 'A' : i == 2 * CS - 1 ? 'x' : 0);
	pipeline_file_put(f);
}

static void test_pipeline_truncate_in_flight_masks_backing(void **state)
{
	struct pipeline_opts o;
	struct ctx *c;
	struct pipeline_file *f;
	uint8_t w[2 * CS], r[2 * CS];
	uint8_t x = 'x';
	uint64_t t;

	opts_for_test(&o);
	o.flush_interval_ms = 60000;
	o.flush_delay_us = 300000;	/* a taken batch waits 300 ms before touching the disk */
	assert_int_equal(setup_opts(state, &o), 0);
	c = *state;
	f = attach(c, "tif");
	memset(w, 'A', sizeof(w));
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	/* The truncate is taken into a batch but not yet applied to the backing file. */
	assert_int_equal(pipeline_truncate(f, 100, NULL), 0);
	pipeline_kick(c->p);
	usleep(100000);
	t = write_at(f, CS + 10, &x, 1);	/* a partial chunk over stale backing bytes */
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), CS + 11);
	for (size_t i = 0; i < CS + 11; i++)
		assert_int_equal(r[i], i < 100 ? 'A' : i == CS + 10 ? 'x' : 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "tif", 0, r, sizeof(r)), CS + 11);
	for (size_t i = 0; i < CS + 11; i++)
		assert_int_equal(r[i], i < 100 ? 'A' : i == CS + 10 ? 'x' : 0);
	pipeline_file_put(f);
	teardown(state);
}

static void test_pipeline_grow_is_a_hole(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "grow");
	uint8_t r[CS];
	uint64_t big = 5ULL << 30;	/* 5 GiB, above 2^32 */
	uint8_t x = 7;
	uint64_t t;
	struct stat st;

	assert_int_equal(pipeline_truncate(f, big, NULL), 0);
	t = write_at(f, (1ULL << 32) + 5, &x, 1);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_size(c, "grow"), big);
	assert_int_equal(fstatat(c->dirfd, "grow", &st, 0), 0);
	assert_true(st.st_blocks <= 2 * CS / 512 + 8);
	assert_int_equal(pipeline_read(f, (1ULL << 32), r, 16), 16);
	assert_int_equal(r[5], 7);
	assert_int_equal(r[4], 0);
	assert_int_equal(pipeline_read(f, big - 10, r, 100), 10);
	pipeline_file_put(f);
}

static void test_pipeline_truncate_efbig(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "efbig");
	uint8_t x = 1;
	int rc;

	/* 2^62 is past every Linux filesystem's maximum (s_maxbytes <= 2^63-1 but ext4 and
	 * tmpfs are far below); beyond INT64_MAX is always EFBIG. */
	assert_int_equal(pipeline_truncate(f, UINT64_MAX - 5, NULL), -EFBIG);
	rc = pipeline_truncate(f, 1ULL << 62, NULL);
	assert_true(rc == -EFBIG || rc == 0);
	if (rc == -EFBIG)
		assert_int_equal(pipeline_file_size(f), 0);
	assert_int_equal(pipeline_write(f, (UINT64_MAX / CS), 0, &x, 1, NULL), -EFBIG);
	pipeline_file_put(f);
}

/* ---- sticky errors ------------------------------------------------------------------------- */

static void test_pipeline_sticky_fdatasync_error(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "F");
	struct pipeline_file *g = attach(c, "G");
	uint8_t w[CS], r[CS];
	struct err_detail d;
	uint64_t t;

	fill(w, CS, 9);
	t = write_at(f, 0, w, CS);
	iofake_fail("fdatasync", 1, -EIO);
	assert_int_equal(pipeline_wait(f, t, 0), -EIO);
	assert_int_equal(pipeline_file_error(f, &d), -EIO);
	assert_string_equal(d.op, "fdatasync");
	/* Sticky: again, with a later ticket, and after a successful batch of another file. */
	assert_int_equal(pipeline_wait(f, t, 0), -EIO);
	assert_int_equal(pipeline_wait(f, 0, PIPELINE_FSYNC), -EIO);
	t = write_at(g, 0, w, CS);
	assert_int_equal(pipeline_wait(g, t, 0), 0);
	assert_int_equal(pipeline_wait(f, 0, 0), -EIO);
	/* Fail-stop for new writes; the failed data stays readable. */
	assert_int_equal(pipeline_write(f, 0, 0, w, 1, NULL), -EIO);
	assert_int_equal(pipeline_truncate(f, 0, NULL), -EIO);
	assert_int_equal(pipeline_read(f, 0, r, CS), CS);
	assert_memory_equal(r, w, CS);
	assert_int_equal(pipeline_stop(c->p), -EIO);
	pipeline_file_put(f);
	pipeline_file_put(g);
}

static void test_pipeline_failed_epoch_never_acked_by_later(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "E");
	uint8_t w[CS];
	uint64_t t1, t2;

	memset(w, 1, CS);
	t1 = write_at(f, 0, w, CS);
	iofake_fail("pwritev", 1, -EIO);
	assert_int_equal(pipeline_wait(f, t1, 0), -EIO);
	/* A write accepted after the failure is refused; nothing can make t1 durable. */
	assert_int_equal(pipeline_write(f, 1, 0, w, CS, &t2), -EIO);
	assert_int_equal(pipeline_wait(f, t1, 0), -EIO);
	/* The failed buffers are kept, counted, and freed only at destroy. */
	struct pipeline_stats st;

	pipeline_get_stats(c->p, &st);
	assert_int_equal(st.kept_chunks, 1);
	assert_int_equal(st.failed_files, 1);
	assert_int_equal(st.first_error, -EIO);
	pipeline_file_put(f);
	/* Still readable after the last reference is gone? The pipeline keeps it; a new attach
	 * is a new file, so only the stats can tell: the chunk is still kept. */
	pipeline_get_stats(c->p, &st);
	assert_int_equal(st.kept_chunks, 1);
}

static void test_pipeline_enospc_on_pwritev_is_sticky(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "nospc");
	uint8_t w[CS];
	uint64_t t;

	memset(w, 2, CS);
	t = write_at(f, 0, w, CS);
	iofake_fail("pwritev", 1, -ENOSPC);
	assert_int_equal(pipeline_wait(f, t, 0), -ENOSPC);
	assert_int_equal(pipeline_wait(f, t, 0), -ENOSPC);
	pipeline_file_put(f);
}

static void test_pipeline_enospc_at_write_time(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "res");
	uint8_t w[CS];

	memset(w, 3, CS);
	iofake_fail("fallocate", 1, -ENOSPC);
	/* An extending write reserves first: ENOSPC now, nothing queued, no sticky error. */
	assert_int_equal(pipeline_write(f, 0, 0, w, CS, NULL), -ENOSPC);
	assert_int_equal(pipeline_file_size(f), 0);
	assert_int_equal(pipeline_file_error(f, NULL), 0);
	assert_int_equal(pipeline_wait(f, write_at(f, 0, w, CS), 0), 0);
	pipeline_file_put(f);
}

/* Allocated bytes of the backing file. */
static uint64_t backing_alloc(struct ctx *c, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(c->dirfd, name, &st, 0), 0);
	return (uint64_t)st.st_blocks * 512u;
}

/* Waits up to 5 s for the backing file's allocation to drop to at most @max bytes. */
static uint64_t wait_alloc_at_most(struct ctx *c, const char *name, uint64_t max)
{
	uint64_t a = backing_alloc(c, name);

	for (int i = 0; i < 500 && a > max; i++) {
		usleep(10000);
		a = backing_alloc(c, name);
	}
	return a;
}

/* Waits up to 0.5 s until a flush of @f has been taken (and not yet published). */
static void wait_flushing(struct pipeline_file *f)
{
	for (int i = 0; i < 5000; i++) {
		struct pipeline_file_stat ps;

		pipeline_file_stat(f, &ps);
		if (ps.flushing)
			return;
		usleep(100);
	}
}

#define BIG (3u << 20)

/*
 * A growing file reserves ahead of its end past 1 MiB (one fallocate per eighth of its size,
 * not one per chunk: fallocate and the sync thread's pwritev contend for the backing inode's
 * lock), and pipeline_file_trim() gives the excess back without a sync.
 */
static void test_pipeline_reserves_ahead_then_trims(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "big");
	uint8_t *w = malloc(BIG), *r = malloc(BIG);
	unsigned syncs, truncs;
	uint64_t t = 0, a;

	assert_non_null(w);
	assert_non_null(r);
	fill(w, BIG, 11);
	for (uint64_t off = 0; off < BIG; off += CS)
		t = write_at(f, off, w + off, CS);
	/* FSYNC: the mtime goes out too, so no later flush owes anything but the trim. */
	assert_int_equal(pipeline_wait(f, t, PIPELINE_FSYNC), 0);
	/* Per chunk up to 1 MiB (256), then about 8 per doubling, not 768. */
	assert_true(iofake_count("fallocate") < 320);
	a = backing_alloc(c, "big");
	assert_true(a > BIG);			/* reserved past the end */
	assert_int_equal(backing_size(c, "big"), BIG);

	syncs = iofake_count("fdatasync") + iofake_count("fsync");
	truncs = iofake_count("ftruncate");
	pipeline_file_trim(f);
	a = wait_alloc_at_most(c, "big", BIG + 8192);
	assert_true(a <= BIG + 8192);
	assert_int_equal(iofake_count("ftruncate"), truncs + 1);
	/* Trimming changes neither length nor data, so nothing is synced for it. */
	assert_int_equal(iofake_count("fdatasync") + iofake_count("fsync"), syncs);
	assert_int_equal(backing_size(c, "big"), BIG);
	assert_int_equal(backing_read(c, "big", 0, r, BIG), BIG);
	assert_memory_equal(r, w, BIG);
	/* Nothing left to trim: no flight at all. */
	pipeline_file_trim(f);
	assert_int_equal(pipeline_wait(f, 0, 0), 0);
	assert_int_equal(iofake_count("ftruncate"), truncs + 1);
	free(w);
	free(r);
	pipeline_file_put(f);
}

/* The reservation ahead is a bonus: if it does not fit, the exact one is tried. */
static void test_pipeline_reserve_ahead_falls_back_on_enospc(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "fb");
	uint8_t w[CS];
	unsigned n;

	memset(w, 5, CS);
	for (uint64_t off = 0; off < (1u << 20); off += CS)
		write_at(f, off, w, CS);
	n = iofake_count("fallocate");
	/* Appending past 1 MiB: the reservation ahead fails, the exact one fits. */
	iofake_fail("fallocate", 1, -ENOSPC);
	assert_int_equal(pipeline_write(f, (1u << 20) / CS, 0, w, CS, NULL), 0);
	assert_int_equal(iofake_count("fallocate"), n + 2);
	iofake_fail("fallocate", 0, -ENOSPC);
	assert_int_equal(pipeline_write(f, (1u << 20) / CS + 1, 0, w, CS, NULL), -ENOSPC);
	assert_int_equal(pipeline_file_size(f), (1u << 20) + CS);
	assert_int_equal(pipeline_file_error(f, NULL), 0);
	iofake_reset();
	assert_int_equal(pipeline_wait(f, 0, 0), 0);
	pipeline_file_put(f);
}

/*
 * Every flight sleeps 100 ms after its take; the pool holds BIG without reaching half full
 * (which would kick the flusher into flights of its own).
 */
static int setup_delayed_take(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	o.flush_interval_ms = 60000;
	o.flush_delay_us = 100000;
	o.pool_bufs = 2 * BIG / CS + 64;
	return setup_opts(state, &o);
}

/*
 * A write that extends the file into its reservation while a trim flight is between its take
 * and the trim relies on that reservation: the trim must leave it alone.
 */
static void test_pipeline_trim_skipped_when_file_grew(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "grow");
	uint8_t *w = malloc(BIG + CS);
	unsigned truncs;
	uint64_t t = 0;

	assert_non_null(w);
	fill(w, BIG + CS, 12);
	for (uint64_t off = 0; off < BIG; off += CS)
		t = write_at(f, off, w + off, CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_true(backing_alloc(c, "grow") > BIG + CS);
	truncs = iofake_count("ftruncate");

	pipeline_file_trim(f);		/* taken, then asleep for 100 ms */
	wait_flushing(f);
	t = write_at(f, BIG, w + BIG, CS);	/* inside the reservation: no fallocate */
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(iofake_count("ftruncate"), truncs);
	assert_true(backing_alloc(c, "grow") > BIG + CS);

	pipeline_file_trim(f);		/* now nothing grows: trimmed */
	assert_true(wait_alloc_at_most(c, "grow", BIG + CS + 8192) <= BIG + CS + 8192);
	assert_int_equal(iofake_count("ftruncate"), truncs + 1);
	assert_int_equal(backing_size(c, "grow"), BIG + CS);
	free(w);
	pipeline_file_put(f);
}

/*
 * A truncate down frees the blocks past the new size when its flight applies it, also the
 * space that writes accepted after the truncate reserved: the flight reserves it again.
 */
static void test_pipeline_truncate_keeps_later_reservations(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "tr");
	uint8_t w[3 * CS], r[3 * CS];
	uint64_t t;
	unsigned n;

	fill(w, sizeof(w), 31);
	assert_int_equal(pipeline_wait(f, write_at(f, 0, w, sizeof(w)), 0), 0);
	assert_int_equal(pipeline_truncate(f, 0, NULL), 0);
	t = write_at(f, 0, w, 2 * CS);		/* reserved now, freed by the flight's shrink */
	n = iofake_count("fallocate");
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(iofake_count("fallocate"), n + 1);
	assert_int_equal(backing_size(c, "tr"), 2 * CS);
	assert_int_equal(backing_read(c, "tr", 0, r, sizeof(r)), 2 * CS);
	assert_memory_equal(r, w, 2 * CS);
	pipeline_file_put(f);
}

/*
 * pipeline_sync_all() makes the logical mtime durable (fsync) also when a timer flush is
 * already writing it out with fdatasync.
 */
static void test_pipeline_sync_all_fsyncs_mtime_in_flight(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "mt");
	uint8_t w[CS];
	unsigned fsyncs;

	memset(w, 6, CS);
	/* A waited flush leaves the mtime for a later one (waiters get fdatasync only). */
	assert_int_equal(pipeline_wait(f, write_at(f, 0, w, CS), 0), 0);
	fsyncs = iofake_count("fsync");
	pipeline_kick(c->p);			/* the timer flush takes the mtime, sleeps 100 ms */
	wait_flushing(f);
	assert_int_equal(pipeline_sync_all(c->p), 0);
	assert_true(iofake_count("fsync") > fsyncs);
	pipeline_file_put(f);
}

static bool ts_ge(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/* The stat's ctime is the latest data change; an explicit mtime (utimens) leaves it alone. */
static void test_pipeline_stat_ctime_is_data_change(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "ct");
	struct timespec future = { 4102444800, 0 }, before, t0, t0c;
	struct pipeline_file_stat ps;
	uint8_t w[8] = { 1 };

	pipeline_file_stat(f, &ps);
	assert_int_equal(ps.ctime.tv_nsec, UTIME_OMIT);	/* no change since attach */
	clock_gettime(CLOCK_REALTIME_COARSE, &t0c);
	clock_gettime(CLOCK_REALTIME, &t0);
	write_at(f, 0, w, sizeof(w));
	pipeline_file_stat(f, &ps);
	/* The mtime from the fine clock, the ctime from the coarse one (set_mtime_now_locked). */
	assert_int_not_equal(ps.ctime.tv_nsec, UTIME_OMIT);
	assert_true(ts_ge(&ps.mtime, &t0));
	assert_true(ts_ge(&ps.ctime, &t0c));
	assert_true(ts_ge(&ps.mtime, &ps.ctime));
	before = ps.ctime;
	pipeline_file_set_mtime(f, &future);
	pipeline_file_stat(f, &ps);
	assert_int_equal(ps.mtime.tv_sec, future.tv_sec);
	assert_int_equal(ps.ctime.tv_sec, before.tv_sec);
	assert_int_equal(ps.ctime.tv_nsec, before.tv_nsec);
	/* A truncate is a data change again. */
	assert_int_equal(pipeline_truncate(f, 4, NULL), 0);
	pipeline_file_stat(f, &ps);
	assert_true(ps.ctime.tv_sec < future.tv_sec);
	assert_true(ts_ge(&ps.ctime, &before));
	assert_int_equal(pipeline_wait(f, pipeline_file_ticket(f), 0), 0);
	pipeline_file_put(f);
}

/* A blocking wait on a file no sync thread has flushes it on the caller's own thread. */
static void test_pipeline_blocking_wait_flushes_on_caller(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "inline");
	uint8_t w[CS];
	uint64_t t;

	memset(w, 9, CS);
	t = write_at(f, 0, w, CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_true(pthread_equal(iofake_last_thread("fdatasync"), pthread_self()));
	assert_true(pthread_equal(iofake_last_thread("pwritev"), pthread_self()));
	pipeline_file_put(f);
}

struct bwait {
	struct pipeline_file *f;
	uint64_t t;
	int rc;
	double took;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *bwait_main(void *arg)
{
	struct bwait *b = arg;
	double t0 = mono_s();

	b->rc = pipeline_wait(b->f, b->t, 0);
	b->took = mono_s() - t0;
	return NULL;
}

/*
 * The caller flushing its own file stops once its ticket is durable: a second writer that
 * arrived during that flush is served by a sync thread, not by the first caller.
 */
static void test_pipeline_inline_flush_hands_off(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "handoff");
	struct bwait a = { .f = f }, b = { .f = f };
	pthread_t ta, tb;
	uint8_t w[CS];

	memset(w, 4, CS);
	iofake_delay("fdatasync", 150000);
	a.t = write_at(f, 0, w, CS);
	assert_int_equal(pthread_create(&ta, NULL, bwait_main, &a), 0);
	usleep(50000);				/* a is inside its fdatasync */
	b.t = write_at(f, CS, w, CS);		/* b's write misses a's flight */
	assert_int_equal(pthread_create(&tb, NULL, bwait_main, &b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_true(a.took < 0.28);		/* one sync, not a's and b's */
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(b.rc, 0);
	assert_false(pthread_equal(iofake_last_thread("fdatasync"), ta));
	assert_false(pthread_equal(iofake_last_thread("fdatasync"), tb));
	assert_int_equal(iofake_count("fdatasync"), 2);
	pipeline_file_put(f);
}

static void test_pipeline_short_writes_and_eintr(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "short");
	static uint8_t w[8 * CS], r[8 * CS];
	uint64_t t;

	fill(w, sizeof(w), 11);
	t = write_at(f, 0, w, sizeof(w));
	iofake_fail("pwritev", 1, IOFAKE_SHORT);
	iofake_fail("pwritev", 2, IOFAKE_EINTR);
	iofake_fail("pwritev", 3, IOFAKE_SHORT);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "short", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(w));
	assert_true(iofake_fired() >= 3);
	pipeline_file_put(f);
}

/* ---- callbacks ----------------------------------------------------------------------------- */

struct cb_state {
	pthread_mutex_t m;
	pthread_cond_t cv;
	int calls;
	int rc;
	pthread_t thread;
};

static void cb_record(void *arg, int rc)
{
	struct cb_state *s = arg;

	pthread_mutex_lock(&s->m);
	s->calls++;
	s->rc = rc;
	s->thread = pthread_self();
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void test_pipeline_async_callback_from_flusher(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "cb");
	struct cb_state s = { .calls = 0 };
	uint8_t w[100];
	uint64_t t;

	pthread_mutex_init(&s.m, NULL);
	pthread_cond_init(&s.cv, NULL);
	memset(w, 4, sizeof(w));
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait_async(f, t, 0, cb_record, &s), PIPELINE_PENDING);
	pthread_mutex_lock(&s.m);
	while (!s.calls)
		pthread_cond_wait(&s.cv, &s.m);
	pthread_mutex_unlock(&s.m);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.rc, 0);
	assert_false(pthread_equal(s.thread, pthread_self()));
	/* Now durable: answered at once, no callback. */
	assert_int_equal(pipeline_wait_async(f, t, 0, cb_record, &s), 0);
	usleep(50000);
	assert_int_equal(s.calls, 1);
	pipeline_file_put(f);
}


static void test_pipeline_fsync_flag_uses_fsync(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "meta");
	unsigned before = iofake_count("fsync");

	assert_int_equal(pipeline_wait(f, pipeline_file_touch_meta(f), PIPELINE_FSYNC), 0);
	assert_true(iofake_count("fsync") > before);
	pipeline_file_put(f);
}

/* ---- the epoch race ------------------------------------------------------------------------ */

struct race_arg {
	struct ctx *c;
	struct pipeline_file *f;
	const char *name;
	unsigned id;
	int violations;
};

static void *race_writer(void *arg)
{
	struct race_arg *a = arg;
	uint8_t w[256], r[256];

	for (unsigned i = 0; i < 40; i++) {
		uint64_t off = (uint64_t)(a->id * 40 + i) * 256;
		uint64_t t;

		memset(w, (int)(1 + (a->id * 40 + i) % 250), sizeof(w));
		assert_int_equal(pipeline_write(a->f, off / CS, off % CS, w, sizeof(w), &t), 0);
		assert_int_equal(pipeline_wait(a->f, t, 0), 0);
		/* Durable means written before the sync: the bytes must be in the file now. */
		if (backing_read(a->c, a->name, off, r, sizeof(r)) != sizeof(r) ||
		    memcmp(r, w, sizeof(w)))
			a->violations++;
	}
	return NULL;
}

static void test_pipeline_epoch_race_never_acks_early(void **state)
{
	struct pipeline_opts o;
	struct ctx *c;
	struct pipeline_file *f;
	pthread_t th[4];
	struct race_arg a[4];

	/* Widen both windows: inside the write's critical section (ticket issued, file not
	 * yet queued) and between the flusher's take and its writes. */
	opts_for_test(&o);
	o.flush_interval_ms = 1;
	o.submit_delay_us = 200;
	o.flush_delay_us = 2000;
	assert_int_equal(setup_opts(state, &o), 0);
	c = *state;
	f = attach(c, "race");
	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct race_arg){ .c = c, .f = f, .name = "race", .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, race_writer, &a[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(a[i].violations, 0);
	}
	pipeline_file_put(f);
	teardown(state);
}

/* ---- concurrency --------------------------------------------------------------------------- */

#define NPROD 8
#define NFILES 4
#define PER_PROD 3000

struct stress_arg {
	struct pipeline_file **files;
	unsigned id;
};

/* Producer id owns bytes [id * 512 + k * NPROD * 512, +512) of each file for k in 0..: disjoint
 * from every other producer, but sharing chunks with them (CS = 4096 = 8 producers x 512). */
static void *stress_producer(void *arg)
{
	struct stress_arg *a = arg;
	uint8_t w[512];

	for (unsigned i = 0; i < PER_PROD; i++) {
		unsigned fi = i % NFILES;
		uint64_t slot = (uint64_t)(i / NFILES) % 64;
		uint64_t off = (slot * NPROD + a->id) * 512;
		uint64_t t;

		memset(w, (int)((a->id << 4) | (slot & 15)), sizeof(w));
		w[0] = (uint8_t)(i / NFILES / 64);	/* generation: later writes overwrite */
		assert_int_equal(pipeline_write(a->files[fi], off / CS, off % CS, w, 512, &t), 0);
		if (i % 97 == 0)
			assert_int_equal(pipeline_wait(a->files[fi], t, 0), 0);
	}
	return NULL;
}

static void test_pipeline_stress_8_producers(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *files[NFILES];
	struct stress_arg a[NPROD];
	pthread_t th[NPROD];
	char name[16];
	uint8_t r[512];
	unsigned last_gen = (PER_PROD / NFILES - 1) / 64;

	for (unsigned i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		files[i] = attach(c, name);
	}
	for (unsigned i = 0; i < NPROD; i++) {
		a[i] = (struct stress_arg){ .files = files, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, stress_producer, &a[i]), 0);
	}
	for (unsigned i = 0; i < NPROD; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (unsigned i = 0; i < NFILES; i++)
		pipeline_file_put(files[i]);
	assert_int_equal(pipeline_stop(c->p), 0);

	/* Reopen: every producer's last write of every slot, byte for byte. */
	for (unsigned fi = 0; fi < NFILES; fi++) {
		snprintf(name, sizeof(name), "s%u", fi);
		assert_int_equal(backing_size(c, name), 64 * NPROD * 512);
		for (unsigned id = 0; id < NPROD; id++) {
			for (uint64_t slot = 0; slot < 64; slot++) {
				uint64_t off = (slot * NPROD + id) * 512;
				/* how many times (id, file fi, slot) was written, last generation */
				unsigned writes = 0, gen = 0;

				for (unsigned i = fi; i < PER_PROD; i += NFILES)
					if ((i / NFILES) % 64 == slot) {
						writes++;
						gen = i / NFILES / 64;
					}
				assert_true(writes > 0);
				assert_true(gen <= last_gen);
				assert_int_equal(backing_read(c, name, off, r, 512), 512);
				assert_int_equal(r[0], gen);
				for (int k = 1; k < 512; k++)
					assert_int_equal(r[k], (id << 4) | (slot & 15));
			}
		}
	}
}

static void test_pipeline_pool_backpressure(void **state)
{
	struct pipeline_opts o;
	struct ctx *c;
	struct pipeline_file *f;
	static uint8_t w[64 * CS], r[64 * CS];
	struct pipeline_stats st;
	uint64_t t;

	opts_for_test(&o);
	o.pool_bufs = 4;			/* 16x smaller than one write burst */
	o.flush_interval_ms = 60000;		/* only backpressure kicks can flush */
	assert_int_equal(setup_opts(state, &o), 0);
	c = *state;
	f = attach(c, "bp");
	fill(w, sizeof(w), 13);
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	pipeline_get_stats(c->p, &st);
	assert_true(st.pool_high_water <= 4);
	assert_int_equal(backing_read(c, "bp", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(w));
	pipeline_file_put(f);
	teardown(state);
}

static void test_pipeline_sync_all(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "sa1"), *g = attach(c, "sa2");
	uint8_t w[10];

	memset(w, 9, sizeof(w));
	write_at(f, 0, w, sizeof(w));
	write_at(g, CS * 3, w, sizeof(w));
	assert_int_equal(pipeline_sync_all(c->p), 0);
	assert_int_equal(backing_size(c, "sa1"), 10);
	assert_int_equal(backing_size(c, "sa2"), CS * 3 + 10);
	pipeline_file_put(f);
	pipeline_file_put(g);
}

/*
 * Files are flushed independently: a wait on A is answered while B's fdatasync is still
 * stuck, and mtime-only leftovers never cost a sync on the waiters' path.
 */
static int slow_fd = -1;	/* written before the flush starts, read by the sync thread */

static int slow_fdatasync(int fd)
{
	if (fd == slow_fd)
		usleep(600 * 1000);
	return iofake_io()->fdatasync(fd);
}

struct flag_cb {
	pthread_mutex_t m;
	int done, rc;
};

static void flag_cb_fn(void *arg, int rc)
{
	struct flag_cb *fc = arg;

	pthread_mutex_lock(&fc->m);
	fc->rc = rc;
	fc->done = 1;
	pthread_mutex_unlock(&fc->m);
}

static int flag_done(struct flag_cb *fc)
{
	int d;

	pthread_mutex_lock(&fc->m);
	d = fc->done;
	pthread_mutex_unlock(&fc->m);
	return d;
}

static void test_pipeline_wait_not_held_by_other_file(void **state)
{
	struct ctx *c = *state;
	static struct chunk_io slow_io;
	struct chunk_file *cf;
	struct pipeline_file *a = attach(c, "ind_a"), *b;
	struct flag_cb fb = { .m = PTHREAD_MUTEX_INITIALIZER };
	uint8_t w[100];
	uint64_t t;
	double t0;

	slow_io = *iofake_io();
	slow_io.fdatasync = slow_fdatasync;
	assert_int_equal(chunk_file_open(&slow_io, c->dirfd, "ind_b", CHUNK_CREATE, 0644, CS, &cf),
			 0);
	assert_int_equal(pipeline_file_attach(c->p, cf, &b), 0);
	slow_fd = chunk_file_fd(cf);

	memset(w, 'b', sizeof(w));
	assert_int_equal(pipeline_write(b, 0, 0, w, sizeof(w), &t), 0);
	assert_int_equal(pipeline_wait_async(b, t, 0, flag_cb_fn, &fb), PIPELINE_PENDING);
	usleep(50 * 1000);	/* B's flush is in its slow fdatasync now */

	memset(w, 'a', sizeof(w));
	t0 = mono_s();
	write_at(a, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(a, 0, 0), 0);
	assert_true(mono_s() - t0 < 0.4);	/* not behind B's 600 ms sync */
	assert_false(flag_done(&fb));		/* and B is really still syncing */
	assert_int_equal(backing_size(c, "ind_a"), 100);

	assert_int_equal(pipeline_wait(b, t, 0), 0);
	assert_true(flag_done(&fb));
	assert_int_equal(fb.rc, 0);
	slow_fd = -1;
	pipeline_file_put(a);
	pipeline_file_put(b);
}

/* Many writers waiting on one file share fdatasyncs (group commit per file). */
struct gc_arg {
	struct pipeline_file *f;
	int id;
};

static void *gc_writer(void *arg)
{
	struct gc_arg *g = arg;
	uint8_t w[64];

	memset(w, g->id, sizeof(w));
	for (int k = 0; k < 20; k++) {
		uint64_t t;

		if (pipeline_write(g->f, (uint64_t)(g->id * 20 + k), 0, w, sizeof(w), &t) < 0 ||
		    pipeline_wait(g->f, t, 0) < 0)
			return (void *)1;
	}
	return NULL;
}

static void test_pipeline_group_commit_one_file(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "gc");
	struct pipeline_stats st0, st;
	struct gc_arg ga[8];
	pthread_t th[8];

	iofake_delay("fdatasync", 20 * 1000);	/* a slow disk: writers pile up behind a sync */
	pipeline_get_stats(c->p, &st0);
	for (int i = 0; i < 8; i++) {
		ga[i] = (struct gc_arg){ .f = f, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, gc_writer, &ga[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *r;

		pthread_join(th[i], &r);
		assert_null(r);
	}
	pipeline_get_stats(c->p, &st);
	/* 160 acknowledged writes; one sync each would be 160. */
	assert_true(st.syncs - st0.syncs <= 60);
	for (int i = 0; i < 8; i++) {
		for (int k = 0; k < 20; k++) {
			uint8_t r[64], w[64];

			memset(w, i, sizeof(w));
			assert_int_equal(backing_read(c, "gc", (uint64_t)(i * 20 + k) * CS, r,
						      sizeof(r)), sizeof(r));
			assert_memory_equal(r, w, sizeof(w));
		}
	}
	iofake_delay("fdatasync", 0);
	pipeline_file_put(f);
}

/* A file that is gone: queued writes are dropped, never written. */
static void test_pipeline_discard_drops_queued(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "gone");
	struct pipeline_stats st;
	uint8_t w[100];

	memset(w, 7, sizeof(w));
	write_at(f, 0, w, sizeof(w));
	write_at(f, CS * 5, w, sizeof(w));
	pipeline_get_stats(c->p, &st);
	assert_int_equal(st.queued_chunks, 2);
	pipeline_file_discard(f);
	pipeline_get_stats(c->p, &st);
	assert_int_equal(st.queued_chunks, 0);
	assert_int_equal(pipeline_sync_all(c->p), 0);
	assert_int_equal(pipeline_wait(f, 0, 0), 0);	/* nothing left to wait for */
	assert_int_equal(iofake_count("pwritev"), 0);
	assert_int_equal(backing_size(c, "gone"), 0);
	pipeline_file_put(f);
	assert_int_equal(pipeline_stop(c->p), 0);
}

/* DURABILITY.md section 3 item 7: unlink and last close clear a sticky error. */
static void test_pipeline_discard_clears_sticky_error(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "failed"), *g = attach(c, "fine");
	struct pipeline_stats st;
	uint8_t w[100];

	memset(w, 3, sizeof(w));
	iofake_fail("fdatasync", 1, -EIO);
	write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(f, 0, 0), -EIO);
	pipeline_get_stats(c->p, &st);
	assert_int_equal(st.failed_files, 1);
	assert_int_equal(st.kept_chunks, 1);
	assert_int_equal(st.first_error, -EIO);

	pipeline_file_discard(f);
	pipeline_get_stats(c->p, &st);
	assert_int_equal(st.failed_files, 0);
	assert_int_equal(st.kept_chunks, 0);
	assert_int_equal(st.queued_chunks, 0);
	assert_int_equal(st.first_error, 0);
	pipeline_file_put(f);

	write_at(g, 0, w, sizeof(w));			/* the others go on as before */
	assert_int_equal(pipeline_wait(g, 0, 0), 0);
	assert_int_equal(pipeline_stop(c->p), 0);	/* nothing outstanding any more */
	pipeline_file_put(g);
}

/* PIPELINE_WRITTEN returns once the data is in the backing file, before its sync. */
static void test_pipeline_wait_written_before_sync(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "wr");
	struct flag_cb fb = { .m = PTHREAD_MUTEX_INITIALIZER };
	uint8_t w[100], r[100];
	uint64_t t;
	double t0;

	iofake_delay("fdatasync", 500 * 1000);
	memset(w, 'w', sizeof(w));
	t = write_at(f, 0, w, sizeof(w));
	t0 = mono_s();
	assert_int_equal(pipeline_wait(f, t, PIPELINE_WRITTEN), 0);
	assert_true(mono_s() - t0 < 0.4);		/* not behind the 500 ms sync */
	assert_int_equal(backing_read(c, "wr", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(w));		/* but in the backing file already */
	assert_int_equal(pipeline_wait_async(f, t, 0, flag_cb_fn, &fb), PIPELINE_PENDING);
	assert_int_equal(pipeline_wait(f, t, 0), 0);	/* durable: after the sync */
	assert_true(mono_s() - t0 >= 0.45);
	assert_true(flag_done(&fb));
	assert_int_equal(pipeline_wait(f, t, PIPELINE_WRITTEN), 0);	/* known now */
	iofake_delay("fdatasync", 0);
	pipeline_file_put(f);
}

/* ---- randomized model check ------------------------------------------------------------- */

#define MODEL_MAX (24 * CS)

/* Offsets near chunk edges are where the range, gap and mask logic has its corners. */
/* ---- punch hole and zero range ------------------------------------------------------- */

/* Only waits and kicks start flights, and a taken flight waits 200 ms before writing. */
static int setup_slow_flight(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	o.flush_interval_ms = 60000;
	o.flush_delay_us = 200000;
	return setup_opts(state, &o);
}

/*
 * Queued bytes in the range are dropped (a chunk wholly inside), trimmed (cut at an edge) or
 * zeroed (cut in the middle); the backing range is freed; bytes outside stay.
 */
static void test_pipeline_punch_queued_and_backing(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "punch");
	static uint8_t model[8 * CS], w[8 * CS], r[8 * CS];
	uint64_t t, a0, a1;

	fill(w, sizeof(w), 3);
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	memcpy(model, w, sizeof(w));
	a0 = backing_alloc(c, "punch");
	fill(w, sizeof(w), 4);
	write_at(f, CS + 100, w, 2000);		/* chunk 1: inside the range, middle cut */
	write_at(f, 3 * CS, w, CS);		/* chunk 3: wholly inside */
	write_at(f, 5 * CS + 10, w, CS - 10);	/* chunk 5: the range ends inside it */
	memcpy(model + CS + 100, w, 2000);
	memcpy(model + 3 * CS, w, CS);
	memcpy(model + 5 * CS + 10, w, CS - 10);
	assert_int_equal(pipeline_punch(f, CS + 50, 4 * CS + 500 - 50, false, &t), 0);
	memset(model + CS + 50, 0, 4 * CS + 500 - 50);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, model, sizeof(r));
	assert_int_equal(pipeline_file_size(f), 8 * CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "punch", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, model, sizeof(r));
	/* Chunks 2 and 3 are wholly inside and were not written back: freed. */
	a1 = backing_alloc(c, "punch");
	assert_true(a1 + 2 * CS <= a0);
	pipeline_file_put(f);
}

/*
 * A flight covering the range is being written when the punch comes: the punch must wait
 * for it, or its pwritev lands after the punch and the old bytes come back.
 */
static void test_pipeline_punch_waits_for_flight(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "pf");
	uint8_t w[2 * CS], r[2 * CS], z[2 * CS] = { 0 };
	uint64_t t;

	memset(w, 'A', sizeof(w));
	assert_int_equal(pipeline_truncate(f, sizeof(w), NULL), 0);
	t = write_at(f, 0, w, sizeof(w));
	pipeline_file_flush(f);
	wait_flushing(f);
	assert_int_equal(pipeline_punch(f, 0, sizeof(w), false, &t), 0);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, z, sizeof(r));
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "pf", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, z, sizeof(r));
	pipeline_file_put(f);
}

/* Zero range: allocated zeros in place and past the backing end, size unchanged. */
static void test_pipeline_zero_range_allocates(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "zr");
	uint8_t w[4 * CS], r[4 * CS];
	uint64_t t;

	fill(w, sizeof(w), 5);
	t = write_at(f, 0, w, 2 * CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	write_at(f, 2 * CS, w + 2 * CS, 2 * CS);	/* queued, past the backing end */
	assert_int_equal(pipeline_punch(f, CS, 2 * CS, true, &t), 0);
	memset(w + CS, 0, 2 * CS);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	/* Past the end: reserved (allocated), the size stays. */
	assert_int_equal(pipeline_punch(f, 4 * CS, 4 * CS, true, &t), 0);
	assert_int_equal(pipeline_file_size(f), 4 * CS);
	assert_true(backing_alloc(c, "zr") >= 8 * CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_size(c, "zr"), 4 * CS);
	assert_int_equal(backing_read(c, "zr", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	assert_int_equal(pipeline_punch(f, 0, 0, false, NULL), -EINVAL);
	pipeline_file_put(f);
}

/* ---- reservations of sparse files ------------------------------------------------------- */

#define BIG_CS (16 * CS)	/* 64 KiB, the default chunk size */

static int setup_big_chunks(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	o.chunk_size = BIG_CS;
	o.flush_interval_ms = 60000;
	return setup_opts(state, &o);
}

/*
 * A long run of adjacent chunks goes out in pwritevs of at most PIPELINE_PWRITEV_MAX bytes,
 * so that a writer's fallocate never waits behind one long copy, each followed by a start of
 * its writeback; the bytes land intact, and a failed writeback start (only a hint) fails
 * nothing.
 */
static void test_pipeline_pwritev_is_bounded(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f;
	static uint8_t w[32 * BIG_CS], r[32 * BIG_CS];
	uint64_t t;

	f = attach(c, "pw");
	fill(w, sizeof(w), 7);
	iofake_reset();
	iofake_fail("writeback", 0, -EIO);
	for (uint64_t i = 0; i < 32; i++)
		assert_int_equal(pipeline_write(f, i, 0, w + i * BIG_CS, BIG_CS, &t), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	/* 2 MiB in one flight (a 60 s interval): 4 calls of 512 KiB, not one of 2 MiB. */
	assert_int_equal(iofake_count("pwritev"), sizeof(w) / PIPELINE_PWRITEV_MAX);
	assert_int_equal(iofake_count("writeback"), sizeof(w) / PIPELINE_PWRITEV_MAX);
	assert_int_equal(pipeline_file_error(f, NULL), 0);
	assert_int_equal(backing_read(c, "pw", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	pipeline_file_put(f);
}

/*
 * Writes that jump past the end reserve their own bytes, not the rest of their chunk: 16
 * one-byte writes 1 MiB apart take about 16 blocks, as on the backing filesystem, not 16
 * chunks (1 MiB).
 */
static void test_pipeline_sparse_writes_reserve_exactly(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f;
	uint64_t t = 0, a0;
	uint8_t y[512];

	f = attach(c, "sp");
	for (uint64_t i = 0; i < 16; i++)
		assert_int_equal(pipeline_write(f, i * ((1u << 20) / BIG_CS), 0, "x", 1, &t), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_size(c, "sp"), 15 * (1u << 20) + 1);
	a0 = backing_alloc(c, "sp");
	assert_true(a0 <= 32 * CS);
	/*
	 * A region written in small pieces far past the end (tar extracting a sparse file): its
	 * growth is reserved by the chunk, not ahead by an eighth of the offset (4 MiB here).
	 */
	memset(y, 'y', sizeof(y));
	for (uint64_t k = 0; k < 8; k++)
		assert_int_equal(pipeline_write(f, (32u << 20) / BIG_CS, k * 512, y, 512, &t), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_true(backing_alloc(c, "sp") <= a0 + BIG_CS);
	pipeline_file_put(f);
}

/*
 * A write that may land in a hole reserves its bytes first, so that a full disk fails the
 * write itself (ENOSPC, nothing queued) instead of its write-out, which would poison the file.
 * A file without holes pays nothing for it.
 */
static void test_pipeline_hole_write_reserves(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "hw"), *g = attach(c, "full");
	uint8_t w[4 * CS], r[CS], z[CS] = { 0 };
	uint64_t t;

	fill(w, sizeof(w), 9);
	/* Grown by a truncate: a hole. */
	assert_int_equal(pipeline_truncate(f, 64 * CS, NULL), 0);
	iofake_reset();
	iofake_fail("fallocate", 1, -ENOSPC);
	assert_int_equal(pipeline_write(f, 5, 100, w, 200, &t), -ENOSPC);
	assert_int_equal(pipeline_read(f, 5 * CS, r, CS), CS);
	assert_memory_equal(r, z, CS);
	assert_int_equal(pipeline_write(f, 5, 100, w, 200, &t), 0);
	assert_int_equal(iofake_count("fallocate"), 2);
	/* Joining the queued range (and the gap between): reserved again, all of it. */
	iofake_fail("fallocate", 1, -ENOSPC);
	assert_int_equal(pipeline_write(f, 5, 2000, w, 100, &t), -ENOSPC);
	assert_int_equal(pipeline_write(f, 5, 2000, w, 100, &t), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	/* Appends are reserved as growth (a chunk ahead), not one by one as holes. */
	iofake_reset();
	write_at(f, 64 * CS, w, 100);
	write_at(f, 64 * CS + 100, w, 100);
	t = write_at(f, 64 * CS + 200, w, 100);
	assert_int_equal(iofake_count("fallocate"), 1);
	assert_int_equal(pipeline_wait(f, t, 0), 0);

	/* Written from start to end: overwrites reserve nothing. */
	t = write_at(g, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(g, t, 0), 0);
	iofake_reset();
	t = write_at(g, CS + 10, w, 2 * CS);
	assert_int_equal(iofake_count("fallocate"), 0);
	/* Until a hole is punched into it. */
	assert_int_equal(pipeline_punch(g, 0, CS, false, NULL), 0);
	iofake_reset();
	write_at(g, 10, w, 10);
	assert_int_equal(iofake_count("fallocate"), 1);
	/* A truncate to 0 leaves no hole behind. */
	assert_int_equal(pipeline_truncate(g, 0, NULL), 0);
	iofake_reset();
	t = write_at(g, 0, w, sizeof(w));
	assert_int_equal(iofake_count("fallocate"), 4);	/* the extending writes' (a chunk each) */
	write_at(g, CS, w, CS);
	assert_int_equal(iofake_count("fallocate"), 4);
	assert_int_equal(pipeline_wait(g, t, 0), 0);
	pipeline_file_put(f);
	pipeline_file_put(g);
}

/*
 * Laid out by ftruncate, then written from start to end (fio does so): once a write-out has
 * left no hole, writes stop reserving. A truncate queued after the flight was taken keeps
 * the mark: its hole is not in the backing file yet.
 */
static void test_pipeline_filled_file_stops_reserving(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "fill");
	uint8_t w[8 * CS];
	uint64_t t;

	fill(w, sizeof(w), 12);
	assert_int_equal(pipeline_truncate(f, sizeof(w), NULL), 0);
	iofake_reset();
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(iofake_count("fallocate"), 8);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	iofake_reset();
	t = write_at(f, 3 * CS + 5, w, 100);
	assert_int_equal(iofake_count("fallocate"), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);

	/*
	 * Again, but grown once more while the filling flight is in progress (the test's flush
	 * delay holds it): that flight leaves no hole below its own size, yet the mark stays.
	 */
	assert_int_equal(pipeline_truncate(f, 0, NULL), 0);
	assert_int_equal(pipeline_truncate(f, sizeof(w), NULL), 0);
	write_at(f, 0, w, sizeof(w));
	pipeline_file_flush(f);
	wait_flushing(f);
	assert_int_equal(pipeline_truncate(f, 16 * CS, &t), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	iofake_reset();
	write_at(f, 12 * CS, w, 10);
	assert_int_equal(iofake_count("fallocate"), 1);
	pipeline_file_put(f);
}

/* Grown over space the caller reserved (fallocate mode 0): no hole. */
static void test_pipeline_reserved_grow_has_no_hole(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "fa");
	uint8_t w[CS];

	fill(w, sizeof(w), 10);
	assert_int_equal(chunk_file_fallocate(pipeline_file_chunk(f), FALLOC_FL_KEEP_SIZE, 0,
					      16 * CS), 0);
	pipeline_file_reserved(f, 0, 16 * CS);
	assert_int_equal(pipeline_truncate(f, 16 * CS, NULL), 0);
	iofake_reset();
	write_at(f, 3 * CS, w, CS);
	write_at(f, 9 * CS + 5, w, 7);
	assert_int_equal(iofake_count("fallocate"), 0);
	pipeline_file_put(f);
}

/* A backing file that already has holes when attached (fewer blocks than bytes). */
static void test_pipeline_attached_sparse_file_reserves(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f;
	int fd;

	fd = openat(c->dirfd, "old", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	f = attach(c, "old");
	iofake_reset();
	assert_int_equal(pipeline_write(f, 7, 0, "abc", 3, NULL), 0);
	assert_int_equal(iofake_count("fallocate"), 1);
	pipeline_file_put(f);
}

/*
 * A backing filesystem without ZERO_RANGE (tmpfs): the range is punched and allocated again,
 * the same zeros. Without PUNCH_HOLE either, the mode is refused and nothing changes.
 */
static void test_pipeline_zero_range_emulated(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "ze");
	uint8_t w[4 * CS], r[4 * CS];
	uint64_t t, a0;

	fill(w, sizeof(w), 7);
	t = write_at(f, 0, w, sizeof(w));
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	a0 = backing_alloc(c, "ze");
	iofake_reset();
	iofake_fail("fallocate", 1, -EOPNOTSUPP);
	assert_int_equal(pipeline_punch(f, CS / 2, 2 * CS, true, &t), 0);
	assert_int_equal(iofake_count("fallocate"), 3);	/* zero, punch, allocate */
	memset(w + CS / 2, 0, 2 * CS);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(backing_read(c, "ze", 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	assert_true(backing_alloc(c, "ze") >= a0);	/* allocated again */

	iofake_reset();
	iofake_fail("fallocate", 1, -EOPNOTSUPP);
	iofake_fail("fallocate", 2, -EOPNOTSUPP);
	assert_int_equal(pipeline_punch(f, 0, CS, true, NULL), -EOPNOTSUPP);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	pipeline_file_put(f);
}

/* A failed backing fallocate changes nothing; a file with a sticky error refuses. */
static void test_pipeline_punch_errors(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "pe");
	uint8_t w[2 * CS], r[2 * CS];
	uint64_t t;

	fill(w, sizeof(w), 6);
	t = write_at(f, 0, w, CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	write_at(f, CS, w + CS, CS);
	iofake_fail("fallocate", 1, -EIO);
	assert_int_equal(pipeline_punch(f, 0, 2 * CS, false, NULL), -EIO);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	iofake_fail("fallocate", 1, -ENOSPC);
	assert_int_equal(pipeline_punch(f, 0, 2 * CS, true, NULL), -ENOSPC);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	t = pipeline_file_ticket(f);
	iofake_fail("fdatasync", 1, -EIO);
	assert_int_equal(pipeline_wait(f, t, 0), -EIO);
	assert_int_equal(pipeline_punch(f, 0, CS, false, NULL), -EIO);
	assert_int_equal(pipeline_punch(f, 0, CS, true, NULL), -EIO);
	assert_int_equal(pipeline_read(f, 0, r, sizeof(r)), sizeof(r));
	assert_memory_equal(r, w, sizeof(r));
	assert_int_equal(pipeline_stop(c->p), -EIO);
	pipeline_file_put(f);
}

/* ---- SEEK_DATA / SEEK_HOLE ----------------------------------------------------------- */

static uint64_t seek_ok(struct pipeline_file *f, uint64_t off, bool hole)
{
	uint64_t out = UINT64_MAX;

	assert_int_equal(pipeline_seek_data(f, off, hole, &out), 0);
	return out;
}

/*
 * Holes of the backing file, queued chunks as data, stale backing bytes past a pending
 * truncate as a hole, ENXIO at the end, and the backing lseek's error passed on.
 */
static void test_pipeline_seek_data_hole(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "seek");
	uint8_t w[CS];
	uint64_t t, out;

	fill(w, CS, 8);
	/* Durable: data in chunk 2 of a 16-chunk file. */
	assert_int_equal(pipeline_truncate(f, 16 * CS, NULL), 0);
	t = write_at(f, 2 * CS, w, CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(seek_ok(f, 0, false), 2 * CS);
	assert_int_equal(seek_ok(f, 0, true), 0);
	assert_int_equal(seek_ok(f, 2 * CS + 5, true), 3 * CS);
	assert_int_equal(pipeline_seek_data(f, 3 * CS, false, &out), -ENXIO);
	assert_int_equal(seek_ok(f, 3 * CS, true), 3 * CS);
	/* Queued: 100 bytes in chunk 7 and a chunk right after the durable one. */
	write_at(f, 7 * CS + 50, w, 100);
	write_at(f, 3 * CS, w, CS);
	assert_int_equal(seek_ok(f, 3 * CS + 1, false), 3 * CS + 1);
	assert_int_equal(seek_ok(f, 4 * CS, false), 7 * CS);
	assert_int_equal(seek_ok(f, 2 * CS, true), 4 * CS);
	assert_int_equal(seek_ok(f, 7 * CS, true), 8 * CS);
	assert_int_equal(seek_ok(f, 15 * CS, true), 15 * CS);
	assert_int_equal(pipeline_seek_data(f, 16 * CS, false, &out), -ENXIO);
	assert_int_equal(pipeline_seek_data(f, 16 * CS, true, &out), -ENXIO);
	/* Truncated to nothing and grown again, not yet written: all of it is a hole. */
	assert_int_equal(pipeline_truncate(f, 0, NULL), 0);
	assert_int_equal(pipeline_truncate(f, 16 * CS, &t), 0);
	assert_int_equal(pipeline_seek_data(f, 0, false, &out), -ENXIO);
	assert_int_equal(seek_ok(f, 0, true), 0);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(pipeline_seek_data(f, 0, false, &out), -ENXIO);
	/* The backing lseek failing. */
	t = write_at(f, 2 * CS, w, CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	iofake_fail("lseek", 1, -EIO);
	assert_int_equal(pipeline_seek_data(f, 0, false, &out), -EIO);
	pipeline_file_put(f);
}

/*
 * A hole never starts inside a chunk. The backing file ends inside chunk 0 while a write
 * two chunks on is queued; once that write lands, the block holding the old end is data
 * (it_model caught SEEK_HOLE answering the old end, then SEEK_DATA there finding data).
 */
static void test_pipeline_seek_hole_at_backing_end(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "eof");
	uint8_t w[CS];
	uint64_t t;

	fill(w, CS, 10);
	t = write_at(f, 0, w, CS / 2 + 3);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(seek_ok(f, 0, true), CS / 2 + 3);	/* the end of the file */
	t = write_at(f, 2 * CS + 7, w, 10);
	assert_int_equal(seek_ok(f, 0, true), CS);
	assert_int_equal(seek_ok(f, CS, false), 2 * CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(seek_ok(f, 0, true), CS);
	assert_int_equal(seek_ok(f, CS, false), 2 * CS);
	assert_int_equal(seek_ok(f, 2 * CS, true), 2 * CS + 17);
	pipeline_file_put(f);
}

/* A chunk in flight is data too, before and after it lands. */
static void test_pipeline_seek_sees_in_flight(void **state)
{
	struct ctx *c = *state;
	struct pipeline_file *f = attach(c, "sf");
	uint8_t w[CS];
	uint64_t t;

	fill(w, CS, 9);
	assert_int_equal(pipeline_truncate(f, 8 * CS, NULL), 0);
	t = write_at(f, 5 * CS, w, CS);
	pipeline_file_flush(f);
	wait_flushing(f);
	assert_int_equal(seek_ok(f, 0, false), 5 * CS);
	assert_int_equal(seek_ok(f, 5 * CS, true), 6 * CS);
	assert_int_equal(pipeline_wait(f, t, 0), 0);
	assert_int_equal(seek_ok(f, 0, false), 5 * CS);
	assert_int_equal(seek_ok(f, 5 * CS, true), 6 * CS);
	pipeline_file_put(f);
}

static uint64_t pick_off(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed);

	if (r % 3 == 0) {
		uint64_t edge = (uint64_t)(rand_r(seed) % 24) * CS;
		int d = rand_r(seed) % 7 - 3;

		return edge + (uint64_t)(d < 0 && edge < (uint64_t)-d ? 0 : d);
	}
	return (uint64_t)(rand_r(seed) % (MODEL_MAX - 1));
}

static void model_run(struct ctx *c, unsigned seed, unsigned nops)
{
	static uint8_t model[MODEL_MAX], buf[MODEL_MAX], w[3 * CS];
	struct pipeline_file *f = attach(c, "model");
	uint64_t size = 0, t = 0;

	print_message("model seed %u\n", seed);
	memset(model, 0, sizeof(model));
	for (unsigned op = 0; op < nops; op++) {
		unsigned kind = (unsigned)rand_r(&seed) % 100;

		if (kind < 55) {
			uint64_t off = pick_off(&seed);
			size_t len = 1 + (size_t)rand_r(&seed) % (rand_r(&seed) % 4 ? 300 : 3 * CS);

			if (off + len > MODEL_MAX)
				len = (size_t)(MODEL_MAX - off);
			for (size_t i = 0; i < len; i++)
				w[i] = (uint8_t)rand_r(&seed);
			t = write_at(f, off, w, len);
			memcpy(model + off, w, len);
			if (off + len > size)
				size = off + len;
		} else if (kind < 65) {
			uint64_t ns = pick_off(&seed) % (MODEL_MAX / 2 + 1);

			if (rand_r(&seed) % 2)
				ns = ns * 2 > MODEL_MAX ? MODEL_MAX : ns * 2;
			assert_int_equal(pipeline_truncate(f, ns, &t), 0);
			if (ns < size)
				memset(model + ns, 0, size - ns);
			size = ns;
		} else if (kind < 69) {
			uint64_t off = pick_off(&seed);
			uint64_t len = 1 + (uint64_t)rand_r(&seed) % (rand_r(&seed) % 2 ? 300 : 5 * CS);

			assert_int_equal(pipeline_punch(f, off, len, rand_r(&seed) % 2, &t), 0);
			if (off < size)
				memset(model + off, 0, (size_t)min_u64(len, size - off));
		} else if (kind < 72) {
			/* Data is never reported as a hole: bytes skipped by SEEK_DATA, and the
			 * hole SEEK_HOLE lands on, read as zeros. */
			uint64_t off = pick_off(&seed), x;
			int rc = pipeline_seek_data(f, off, false, &x);

			if (off >= size) {
				assert_int_equal(rc, -ENXIO);
				assert_int_equal(pipeline_seek_data(f, off, true, &x), -ENXIO);
				continue;
			}
			if (rc == -ENXIO)
				x = size;
			else
				assert_int_equal(rc, 0);
			assert_true(x >= off && x <= size);
			for (uint64_t b = off; b < x; b++)
				assert_int_equal(model[b], 0);
			assert_int_equal(pipeline_seek_data(f, off, true, &x), 0);
			assert_true(x >= off && x <= size);
			if (x < size) {
				/* The hole runs to the next data: all of it zeros. */
				uint64_t y;

				rc = pipeline_seek_data(f, x, false, &y);
				if (rc == -ENXIO)
					y = size;
				else
					assert_int_equal(rc, 0);
				assert_true(y > x && y <= size);
				for (uint64_t b = x; b < y; b++)
					assert_int_equal(model[b], 0);
			}
		} else if (kind < 90) {
			uint64_t off = pick_off(&seed);
			size_t len = 1 + (size_t)rand_r(&seed) % (2 * CS);
			size_t want = off >= size ? 0 : (size_t)min_u64(len, size - off);
			ssize_t r = pipeline_read(f, off, buf, len);

			if (r != (ssize_t)want || memcmp(buf, model + off, want)) {
				print_error("model mismatch: seed-run op %u read %zu@%llu got %zd\n", op,
					    len, (unsigned long long)off, r);
				fail();
			}
		} else if (kind < 95) {
			assert_int_equal(pipeline_wait(f, t, 0), 0);
			assert_int_equal(backing_size(c, "model"), size);
			assert_int_equal(backing_read(c, "model", 0, buf, MODEL_MAX), size);
			assert_memory_equal(buf, model, size);
		} else {
			assert_int_equal(pipeline_file_size(f), size);
		}
	}
	assert_int_equal(pipeline_wait(f, 0, 0), 0);
	assert_int_equal(backing_read(c, "model", 0, buf, MODEL_MAX), size);
	assert_memory_equal(buf, model, size);
	pipeline_file_put(f);
}

static void test_pipeline_random_model_fast_flusher(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	o.flush_interval_ms = 1;	/* batches overlap the operations: flight layers */
	assert_int_equal(setup_opts(state, &o), 0);
	model_run(*state, (unsigned)time(NULL), 20000);
	teardown(state);
}

static void test_pipeline_random_model_slow_sync(void **state)
{
	struct pipeline_opts o;

	opts_for_test(&o);
	o.flush_interval_ms = 2;
	o.flush_delay_us = 1500;		/* taken but not yet written: truncates pending */
	assert_int_equal(setup_opts(state, &o), 0);
	iofake_delay("fdatasync", 1500);	/* long flights: reads and writes meet them */
	model_run(*state, (unsigned)time(NULL) * 7u + 1u, 8000);
	teardown(state);
}

/* ---- crash: SIGKILL a writer process; every acknowledged write must be on disk ------------- */

static void crash_child(const char *dir, int ackfd)
{
	struct pipeline_opts o;
	struct pipeline *p;
	struct chunk_file *cf;
	struct pipeline_file *f;
	int dirfd = open(dir, O_DIRECTORY | O_RDONLY);
	uint8_t rec[600];

	opts_for_test(&o);
	o.flush_interval_ms = 5;
	if (dirfd < 0 || pipeline_create(&o, &p) < 0 ||
	    chunk_file_open(NULL, dirfd, "crash", CHUNK_CREATE, 0644, CS, &cf) < 0 ||
	    pipeline_file_attach(p, cf, &f) < 0)
		_exit(2);
	for (uint32_t i = 0;; i++) {
		uint64_t off = (uint64_t)i * sizeof(rec), t = 0;
		size_t done = 0;

		memset(rec, (int)(i % 251 + 1), sizeof(rec));
		memcpy(rec, &i, sizeof(i));
		while (done < sizeof(rec)) {
			uint64_t pos = off + done;
			size_t n = CS - pos % CS < sizeof(rec) - done ? CS - pos % CS : sizeof(rec) - done;

			if (pipeline_write(f, pos / CS, pos % CS, rec + done, n, &t) < 0)
				_exit(3);
			done += n;
		}
		if (i % 7 == 0) {
			if (pipeline_wait(f, t, 0) < 0)
				_exit(4);
			if (write(ackfd, &i, sizeof(i)) != sizeof(i))
				_exit(5);
		}
	}
}

static void test_pipeline_crash_sigkill_keeps_acked(void **state)
{
	struct ctx *c = *state;

	for (int round = 0; round < 5; round++) {
		int pfd[2];
		pid_t pid;
		uint32_t acked = 0, v;
		int status;
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -f %s/crash", c->dir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* exec a fresh copy of this binary: forking a multi-threaded process and
			 * starting threads in the child is undefined (and TSan refuses it). */
			char fdarg[16];

			close(pfd[0]);
			snprintf(fdarg, sizeof(fdarg), "%d", pfd[1]);
			execl("/proc/self/exe", "test_pipeline", "--crash-child", c->dir, fdarg,
			      (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		/* Let the writer get going (first acknowledgement), then kill it at random. */
		assert_int_equal(read(pfd[0], &acked, sizeof(acked)), sizeof(acked));
		usleep(10000 + (useconds_t)(rand() % 200000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
			acked = v;
		close(pfd[0]);
		assert_true(acked > 0);

		/* Every record up to the last acknowledged one is complete on disk. */
		int fd = openat(c->dirfd, "crash", O_RDONLY);
		uint8_t rec[600];

		assert_true(fd >= 0);
		for (uint32_t i = 0; i <= acked; i++) {
			uint32_t id;

			assert_int_equal(pread(fd, rec, sizeof(rec), (off_t)i * 600), 600);
			memcpy(&id, rec, sizeof(id));
			assert_int_equal(id, i);
			for (size_t k = sizeof(id); k < sizeof(rec); k++)
				assert_int_equal(rec[k], i % 251 + 1);
		}
		close(fd);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipeline_write_wait_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_wait_clean_file_returns_at_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_absorbs_writes_to_queued_chunk,
						setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_later_write_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_coalesces_adjacent_chunks, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_write_from_fill, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_read_sees_queued, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_read_sees_in_flight_and_cow, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_truncate_drops_queued_tail, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_truncate_masks_stale_backing,
						setup_slow, teardown),
		cmocka_unit_test(test_pipeline_truncate_in_flight_masks_backing),
		cmocka_unit_test_setup_teardown(test_pipeline_grow_is_a_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_truncate_efbig, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_sticky_fdatasync_error, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_failed_epoch_never_acked_by_later,
						setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_enospc_on_pwritev_is_sticky, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_enospc_at_write_time, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_short_writes_and_eintr, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_async_callback_from_flusher, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_fsync_flag_uses_fsync, setup, teardown),
		cmocka_unit_test(test_pipeline_epoch_race_never_acks_early),
		cmocka_unit_test_setup_teardown(test_pipeline_stress_8_producers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_stress_8_producers, setup_prefault,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_write_wait_durable, setup_prefault,
						teardown),
		cmocka_unit_test(test_pipeline_pool_backpressure),
		cmocka_unit_test_setup_teardown(test_pipeline_sync_all, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_wait_not_held_by_other_file, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_group_commit_one_file, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_discard_drops_queued, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_wait_written_before_sync, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_discard_clears_sticky_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_reserves_ahead_then_trims, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_reserve_ahead_falls_back_on_enospc,
						setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_trim_skipped_when_file_grew,
						setup_delayed_take, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_stat_ctime_is_data_change, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_blocking_wait_flushes_on_caller,
						setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_inline_flush_hands_off, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_truncate_keeps_later_reservations,
						setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_sync_all_fsyncs_mtime_in_flight,
						setup_delayed_take, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_punch_queued_and_backing, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_punch_waits_for_flight,
						setup_slow_flight, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_zero_range_allocates, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_zero_range_emulated, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_pwritev_is_bounded, setup_big_chunks,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_sparse_writes_reserve_exactly,
						setup_big_chunks, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_hole_write_reserves, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_filled_file_stops_reserving,
						setup_slow_flight, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_reserved_grow_has_no_hole, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_attached_sparse_file_reserves,
						setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_punch_errors, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_seek_data_hole, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_seek_hole_at_backing_end, setup_slow,
						teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_seek_sees_in_flight, setup_slow_flight,
						teardown),
		cmocka_unit_test(test_pipeline_random_model_fast_flusher),
		cmocka_unit_test(test_pipeline_random_model_slow_sync),
		cmocka_unit_test_setup_teardown(test_pipeline_crash_sigkill_keeps_acked, setup,
						teardown),
	};

	if (argc == 4 && !strcmp(argv[1], "--crash-child"))
		crash_child(argv[2], atoi(argv[3]));
	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
