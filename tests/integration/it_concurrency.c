/*
 * it_concurrency: eight writer threads at once, three ways, each thread fsyncing now and then.
 *
 *   1. disjoint: each thread owns a 1 MiB range of one shared file and fills it with writes of
 *      random length (1 B .. 20 KiB) in random order; afterwards every byte is the owner's.
 *   2. overlapping: all threads write 1..4 whole tagged 4 KiB blocks at random block-aligned
 *      offsets of one 1 MiB file. A tag is (thread, write sequence) repeated over the block.
 *      Afterwards every block must hold exactly one whole tag, never a mix of two writes, and
 *      that tag must belong to a write that covered that block (DURABILITY.md requirement 35).
 *      The final content is recorded and must be identical after the remount.
 *   3. separate files: each thread writes its own file (appends and overwrites, checked against
 *      a private model).
 *   4. O_APPEND from 4 processes: each appends 10,000 tagged 100-byte records to one file;
 *      the size must be 4,000,000 and every record intact, each process's records in order
 *      (DURABILITY.md requirement 34).
 *
 * Everything is verified live, then after unmount + remount (daemon exit 0), so the data came
 * back from the store. The store uses 4 KiB chunks, so tagged blocks map one-to-one to chunks.
 *
 * Usage: it_concurrency FROZENFS_BINARY [--seed=N]
 */
#include "fstest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS	8
#define BLK		4096
#define RANGE		(1 << 20)		/* per thread in test 1 */
#define OV_BLOCKS	256			/* test 2 file: 1 MiB */
#define OV_WRITES	600			/* per thread in test 2 */
#define SEP_SIZE	(2 << 20)		/* per file in test 3 */
#define SEP_WRITES	800

static struct ft_mount m;
static uint64_t seed;

struct worker {
	pthread_t th;
	int id;
	int fd;
	uint64_t rng;
	uint8_t *model;		/* test 3: the thread's own file */
	size_t size;		/* test 3: model size */
	/* test 2: for each write sequence number, the first block and the count */
	uint16_t first[OV_WRITES];
	uint8_t count[OV_WRITES];
};

static struct worker w[NTHREADS];

static void start_all(void *(*fn)(void *))
{
	int i;

	for (i = 0; i < NTHREADS; i++) {
		w[i].id = i;
		w[i].rng = seed * 1000003 + (uint64_t)i * 7919 + 1;
		if (pthread_create(&w[i].th, NULL, fn, &w[i]))
			ft_fail("pthread_create");
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(w[i].th, NULL);
}

static void do_sync(int fd, uint64_t *rng)
{
	if (ft_rand_below(rng, 2) ? fsync(fd) < 0 : fdatasync(fd) < 0)
		ft_fail("fsync in a writer thread: %s", strerror(errno));
}

/* --- 1. disjoint ranges ------------------------------------------------------------------- */

static uint8_t disjoint_byte(int t, size_t off)
{
	return (uint8_t)(t * 31 + off * 7 + (off >> 9));
}

static void *disjoint_worker(void *arg)
{
	struct worker *me = arg;
	size_t base = (size_t)me->id * RANGE, done = 0, i;
	uint8_t *buf = malloc(20 * 1024);
	int n = 0;

	if (!buf)
		ft_fail("out of memory");
	/* Fill the range in random-length pieces, walking from a random start and wrapping. */
	size_t start = ft_rand_below(&me->rng, RANGE), pos = start;

	while (done < RANGE) {
		size_t len = 1 + ft_rand_below(&me->rng, 20 * 1024);

		if (len > RANGE - done)
			len = RANGE - done;
		if (pos + len > RANGE)
			len = RANGE - pos;
		for (i = 0; i < len; i++)
			buf[i] = disjoint_byte(me->id, base + pos + i);
		ft_pwrite_all(me->fd, buf, len, base + pos);
		done += len;
		pos = (pos + len) % RANGE;
		if (++n % 16 == 0)
			do_sync(me->fd, &me->rng);
	}
	do_sync(me->fd, &me->rng);
	free(buf);
	return NULL;
}

static void verify_disjoint(const char *when)
{
	size_t len, i;
	uint8_t *d = ft_read_file(ft_path(&m, "disjoint"), &len);

	if (len != (size_t)NTHREADS * RANGE)
		ft_fail("%s: disjoint file has %zu bytes, expected %d", when, len,
			NTHREADS * RANGE);
	for (i = 0; i < len; i++)
		if (d[i] != disjoint_byte((int)(i / RANGE), i))
			ft_fail("%s: disjoint file byte %zu is 0x%02x, expected 0x%02x "
				"(thread %zu)", when, i, d[i], disjoint_byte((int)(i / RANGE), i),
				i / RANGE);
	free(d);
	ft_ok("%s: 8 threads x 1 MiB disjoint ranges of one file: every byte correct", when);
}

static void test_disjoint(void)
{
	int fd, i;

	ft_check("8 threads writing disjoint ranges of one file, fsync every 16 writes");
	fd = FT_SYS(open(ft_path(&m, "disjoint"), O_RDWR | O_CREAT | O_EXCL, 0644));
	for (i = 0; i < NTHREADS; i++)
		w[i].fd = fd;
	start_all(disjoint_worker);
	FT_SYS(close(fd));
	verify_disjoint("live");
}

/* --- 2. overlapping tagged blocks --------------------------------------------------------- */

static uint64_t tag_of(int t, int seq)
{
	/* Never zero, so a block that nobody wrote (a hole) cannot pass for a tag. */
	return 0x7A00000000000000ull | ((uint64_t)t << 32) | (uint64_t)(seq + 1);
}

static void *overlap_worker(void *arg)
{
	struct worker *me = arg;
	uint64_t *buf = malloc(4 * BLK);
	int seq;
	size_t i;

	if (!buf)
		ft_fail("out of memory");
	for (seq = 0; seq < OV_WRITES; seq++) {
		int nblk = 1 + (int)ft_rand_below(&me->rng, 4);
		int first = (int)ft_rand_below(&me->rng, OV_BLOCKS - nblk + 1);
		uint64_t tag = tag_of(me->id, seq);

		me->first[seq] = (uint16_t)first;
		me->count[seq] = (uint8_t)nblk;
		for (i = 0; i < (size_t)nblk * BLK / 8; i++)
			buf[i] = tag;
		ft_pwrite_all(me->fd, buf, (size_t)nblk * BLK, (off_t)first * BLK);
		if (seq % 25 == 24)
			do_sync(me->fd, &me->rng);
	}
	free(buf);
	return NULL;
}

static uint64_t ov_final[OV_BLOCKS];

/* Every block: one tag repeated, from a write that covered this block. */
static void verify_overlap(const char *when, int compare_final)
{
	size_t len, b, i;
	uint8_t *d = ft_read_file(ft_path(&m, "overlap"), &len);
	int mixed = 0;

	if (len != (size_t)OV_BLOCKS * BLK)
		ft_fail("%s: overlap file has %zu bytes, expected %d", when, len, OV_BLOCKS * BLK);
	for (b = 0; b < OV_BLOCKS; b++) {
		uint64_t *blk = (uint64_t *)(d + b * BLK), tag = blk[0];
		int t = (int)((tag >> 32) & 0xFFFFFF), seq = (int)(tag & 0xFFFFFFFF) - 1;

		for (i = 1; i < BLK / 8; i++)
			if (blk[i] != tag)
				break;
		if (i < BLK / 8) {
			fprintf(stderr, "# block %zu mixes tags 0x%016" PRIx64 " (word 0) and "
				"0x%016" PRIx64 " (word %zu)\n", b, tag, blk[i], i);
			mixed++;
			continue;
		}
		if ((tag >> 56) != 0x7A || t >= NTHREADS || seq < 0 || seq >= OV_WRITES)
			ft_fail("%s: block %zu holds 0x%016" PRIx64 ", not a writer's tag", when,
				b, tag);
		if (b < w[t].first[seq] || b >= (size_t)w[t].first[seq] + w[t].count[seq])
			ft_fail("%s: block %zu holds the tag of thread %d write %d, which covered "
				"blocks %d..%d only", when, b, t, seq, w[t].first[seq],
				w[t].first[seq] + w[t].count[seq] - 1);
		if (compare_final && ov_final[b] != tag)
			ft_fail("%s: block %zu changed from 0x%016" PRIx64 " to 0x%016" PRIx64,
				when, b, ov_final[b], tag);
		ov_final[b] = tag;
	}
	free(d);
	if (mixed)
		ft_fail("%s: %d of %d blocks mix two writers' tags", when, mixed, OV_BLOCKS);
	ft_ok("%s: 8 threads x %d overlapping tagged writes: every block holds one whole tag "
	      "of a write that covered it", when, OV_WRITES);
}

static void test_overlap(void)
{
	int fd, i;

	ft_check("8 threads writing overlapping tagged 4 KiB blocks of one file, fsync every 25");
	fd = FT_SYS(open(ft_path(&m, "overlap"), O_RDWR | O_CREAT | O_EXCL, 0644));
	/* 8 x 600 writes of 1..4 blocks cover each of the 256 blocks ~47 times on average, so
	 * a block that reads as zeros (no tag) is a lost write, not bad luck. */
	for (i = 0; i < NTHREADS; i++)
		w[i].fd = fd;
	start_all(overlap_worker);
	FT_SYS(fsync(fd));
	FT_SYS(close(fd));
	verify_overlap("live", 0);
}

/* --- 3. separate files -------------------------------------------------------------------- */

static void *separate_worker(void *arg)
{
	struct worker *me = arg;
	uint8_t *buf = malloc(64 * 1024);
	char name[32];
	int k;

	if (!buf)
		ft_fail("out of memory");
	snprintf(name, sizeof(name), "sep%d", me->id);
	me->fd = open(ft_path(&m, name), O_RDWR | O_CREAT | O_EXCL, 0644);
	if (me->fd < 0)
		ft_fail("create %s: %s", name, strerror(errno));
	for (k = 0; k < SEP_WRITES; k++) {
		size_t len = 1 + ft_rand_below(&me->rng, 64 * 1024);
		size_t off = ft_rand_below(&me->rng, 2) ? me->size
						       : ft_rand_below(&me->rng, me->size + 1);

		if (off + len > SEP_SIZE)
			off = ft_rand_below(&me->rng, SEP_SIZE - len);
		ft_rand_fill(&me->rng, buf, len);
		ft_pwrite_all(me->fd, buf, len, off);
		memcpy(me->model + off, buf, len);
		if (off + len > me->size)
			me->size = off + len;
		if (k % 40 == 39)
			do_sync(me->fd, &me->rng);
	}
	do_sync(me->fd, &me->rng);
	if (close(me->fd) < 0)
		ft_fail("close %s: %s", name, strerror(errno));
	free(buf);
	return NULL;
}

static void verify_separate(const char *when)
{
	char name[32];
	size_t len;
	int i;

	for (i = 0; i < NTHREADS; i++) {
		uint8_t *d;
		long long diff;

		snprintf(name, sizeof(name), "sep%d", i);
		d = ft_read_file(ft_path(&m, name), &len);
		if (len != w[i].size)
			ft_fail("%s: %s has %zu bytes, expected %zu", when, name, len, w[i].size);
		diff = ft_memdiff(d, w[i].model, len);
		if (diff >= 0)
			ft_fail("%s: %s differs at byte %lld", when, name, diff);
		free(d);
	}
	ft_ok("%s: 8 threads x 8 separate files match their models", when);
}

static void test_separate(void)
{
	int i;

	ft_check("8 threads each writing its own file, fsync every 40 writes");
	for (i = 0; i < NTHREADS; i++) {
		w[i].model = calloc(1, SEP_SIZE);
		w[i].size = 0;
		FT_ASSERT(w[i].model, "out of memory");
	}
	start_all(separate_worker);
	verify_separate("live");
}

/* --- 4. O_APPEND from concurrent processes ------------------------------------------------ */

#define AP_PROCS	4
#define AP_RECS		10000
#define AP_LEN		100

static void ap_record(char *r, int p, int k)
{
	int n = snprintf(r, AP_LEN + 1, "<p%d r%05d ", p, k);

	memset(r + n, 'a' + p, AP_LEN - n - 1);
	r[AP_LEN - 1] = '\n';
}

static void verify_append(const char *when)
{
	size_t len, i;
	uint8_t *d = ft_read_file(ft_path(&m, "append"), &len);
	int next[AP_PROCS] = { 0 };
	char want[AP_LEN + 1];

	if (len != (size_t)AP_PROCS * AP_RECS * AP_LEN)
		ft_fail("%s: append file has %zu bytes, expected %d", when, len,
			AP_PROCS * AP_RECS * AP_LEN);
	for (i = 0; i < len; i += AP_LEN) {
		int p = d[i + 2] - '0';

		if (d[i] != '<' || d[i + 1] != 'p' || p < 0 || p >= AP_PROCS || next[p] >= AP_RECS)
			ft_fail("%s: no record header at offset %zu: '%.20s'", when, i, d + i);
		ap_record(want, p, next[p]);
		if (memcmp(d + i, want, AP_LEN))
			ft_fail("%s: record at offset %zu is not process %d's record %d: '%.*s'",
				when, i, p, next[p], AP_LEN - 1, d + i);
		next[p]++;
	}
	free(d);
	ft_ok("%s: %d processes x %d O_APPEND records: size %d, every record intact and in "
	      "order", when, AP_PROCS, AP_RECS, AP_PROCS * AP_RECS * AP_LEN);
}

static void test_append(void)
{
	pid_t pids[AP_PROCS];
	int p, st;

	ft_check("4 processes appending 10,000 tagged 100-byte records each through O_APPEND");
	ft_write_file(ft_path(&m, "append"), "", 0, 0);
	fflush(stdout);
	for (p = 0; p < AP_PROCS; p++) {
		pids[p] = fork();
		if (pids[p] < 0)
			ft_fail("fork: %s", strerror(errno));
		if (pids[p] == 0) {
			char r[AP_LEN + 1];
			int fd = open(ft_path(&m, "append"), O_WRONLY | O_APPEND), k;

			if (fd < 0)
				_exit(2);
			for (k = 0; k < AP_RECS; k++) {
				ap_record(r, p, k);
				if (write(fd, r, AP_LEN) != AP_LEN)
					_exit(3);
				if (k % 1000 == 999 && fdatasync(fd) < 0)
					_exit(4);
			}
			_exit(close(fd) < 0 ? 5 : 0);
		}
	}
	for (p = 0; p < AP_PROCS; p++) {
		FT_SYS(waitpid(pids[p], &st, 0));
		FT_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "appending process %d failed (status 0x%x)", p, st);
	}
	verify_append("live");
}

int main(int argc, char **argv)
{
	char store[PATH_MAX], mp[PATH_MAX];
	const char *a;
	int i;

	ft_init(argc, argv);
	seed = (uint64_t)time(NULL);
	if ((a = ft_arg("seed")))
		seed = strtoull(a, NULL, 0);
	printf("# it_concurrency: seed %" PRIu64 " (rerun with --seed=%" PRIu64 ")\n", seed, seed);
	snprintf(store, sizeof(store), "%s/store", ft_tmpdir());
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	ft_mount(&m, store, mp, "chunk_size=4096,flush_interval_ms=50");

	test_disjoint();
	test_overlap();
	test_separate();
	test_append();

	ft_check("unmount, remount, verify all three from the store");
	ft_remount(&m);
	verify_disjoint("after remount");
	verify_overlap("after remount", 1);
	verify_separate("after remount");
	verify_append("after remount");
	ft_umount(&m);
	ft_ok("unmounted, daemon exited 0");
	for (i = 0; i < NTHREADS; i++)
		free(w[i].model);
	return ft_done();
}
