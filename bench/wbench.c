/*
 * wbench: small write benchmarks that fio does not express directly (or that should not
 * depend on fio being installed), used by bench/fsbench.sh. Plain psync I/O: pwrite(2),
 * fdatasync(2)/fsync(2), no O_DIRECT, so the same code runs on the raw backing directory and
 * on a frozenfs mount.
 *
 * Modes (DIR is the directory the files go in; each prints one "name=value" line):
 *
 *   wbench randwrite DIR [--bs=4096] [--size=64M] [--jobs=1] [--shared] [--lat]
 *                        [--sync=none|fdatasync] [--sparse]
 *                        [--seconds=5]
 *       Random block-aligned writes from JOBS threads, each into its own file (or all into one
 *       file with --shared), each write followed by fdatasync if --sync=fdatasync. Files are
 *       laid out (written in full, fsynced) before the clock starts, or with --sparse only
 *       grown by ftruncate, so that the writes land in a hole. Prints iops=N (total);
 *       with --lat, "iops=N p50_us=N p99_us=N" (latency of one write plus its fdatasync).
 *
 *   wbench seqwrite DIR [--bs=128K] [--size=256M] [--fsync-every=32]
 *       Sequential writes of BS into a new file, fsync every N writes and at the end.
 *       Prints mbps=N (MB = 10^6 bytes).
 *
 *   wbench unaligned DIR [--count=1000] [--max=10000] [--size=16M]
 *       COUNT writes of 1..MAX bytes at random unaligned offsets below SIZE of a laid-out
 *       file, each followed by fsync. Prints seconds=N.
 *
 * Sizes take K, M, G suffixes (powers of 1024). --seed=N makes the offsets repeatable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"

#define MAXJOBS 64

static const char *dir;
static size_t bs = 4096, size = 64u << 20;
static int jobs = 1, shared, dosync, fsync_every = 32, lat, sparse;
static double seconds = 5;
static long count = 1000, maxlen = 10000;
static uint64_t seed = 12345;

static void die(const char *what)
{
	fprintf(stderr, "wbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t xrand(uint64_t *s)
{
	uint64_t x = *s ? *s : 88172645463325252ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	switch (*end) {
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= 1024 * 1024; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
	case 0: break;
	default:
		fprintf(stderr, "wbench: bad size '%s'\n", s);
		exit(2);
	}
	return (size_t)v;
}

static void pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("pwrite");
		p += n;
		len -= n;
		off += n;
	}
}

/* Creates DIR/name of SIZE bytes of non-zero data, fsynced (--sparse: a hole of SIZE bytes). */
static int layout(const char *name, size_t len)
{
	char path[4096];
	size_t chunk = 1 << 20, off;
	char *buf = malloc(chunk);
	int fd;

	if (!buf)
		die("malloc");
	memset(buf, 0x5A, chunk);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	if (sparse) {
		if (ftruncate(fd, (off_t)len) < 0)
			die("ftruncate");
		len = 0;
	}
	for (off = 0; off < len; off += chunk)
		pwrite_all(fd, buf, len - off < chunk ? len - off : chunk, off);
	if (fsync(fd) < 0)
		die("fsync");
	free(buf);
	return fd;
}

#define LAT_MAX (1 << 20)	/* latency samples kept per job */

struct job {
	pthread_t th;
	int fd;
	uint64_t rng;
	long ops;
	double stop;
	float *lat;		/* --lat: microseconds per operation, the first LAT_MAX */
};

static void *randwrite_job(void *arg)
{
	struct job *j = arg;
	size_t nblocks = size / bs;
	char *buf = aligned_alloc(4096, (bs + 4095) / 4096 * 4096);

	if (!buf)
		die("aligned_alloc");
	memset(buf, 0xA5, bs);
	while (bench_now() < j->stop) {
		int k;

		/* Check the clock every 16 writes: cheap enough, exact enough. */
		for (k = 0; k < 16; k++) {
			off_t off = (off_t)(xrand(&j->rng) % nblocks) * bs;
			double t = j->lat ? bench_now() : 0;

			buf[0] = (char)j->ops;
			pwrite_all(j->fd, buf, bs, off);
			if (dosync && fdatasync(j->fd) < 0)
				die("fdatasync");
			if (j->lat && j->ops < LAT_MAX)
				j->lat[j->ops] = (float)((bench_now() - t) * 1e6);
			j->ops++;
		}
	}
	free(buf);
	return NULL;
}

static int fcmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static int randwrite(void)
{
	struct job j[MAXJOBS];
	double t0, t1;
	long total = 0;
	int i, sfd = -1;

	if (shared)
		sfd = layout("wbench.shared", size);
	for (i = 0; i < jobs; i++) {
		char name[64];

		snprintf(name, sizeof(name), "wbench.job%d", i);
		j[i].fd = shared ? sfd : layout(name, size);
		j[i].rng = seed + 1000003u * (i + 1);
		j[i].ops = 0;
		j[i].lat = lat ? malloc(LAT_MAX * sizeof(float)) : NULL;
		if (lat && !j[i].lat)
			die("malloc");
	}
	t0 = bench_now();
	for (i = 0; i < jobs; i++) {
		j[i].stop = t0 + seconds;
		if (pthread_create(&j[i].th, NULL, randwrite_job, &j[i]))
			die("pthread_create");
	}
	for (i = 0; i < jobs; i++) {
		pthread_join(j[i].th, NULL);
		total += j[i].ops;
	}
	t1 = bench_now();
	for (i = 0; i < jobs; i++)
		if (!shared)
			close(j[i].fd);
	if (shared)
		close(sfd);
	if (!lat) {
		printf("iops=%.0f\n", total / (t1 - t0));
		return 0;
	}
	float *all = malloc((size_t)jobs * LAT_MAX * sizeof(float));
	size_t n = 0;

	if (!all)
		die("malloc");
	for (i = 0; i < jobs; i++) {
		long k = j[i].ops < LAT_MAX ? j[i].ops : LAT_MAX;

		memcpy(all + n, j[i].lat, (size_t)k * sizeof(float));
		n += (size_t)k;
		free(j[i].lat);
	}
	qsort(all, n, sizeof(float), fcmp);
	printf("iops=%.0f p50_us=%.0f p99_us=%.0f\n", total / (t1 - t0),
	       n ? all[n / 2] : 0.0, n ? all[n * 99 / 100] : 0.0);
	free(all);
	return 0;
}

static int seqwrite(void)
{
	char path[4096];
	char *buf = malloc(bs);
	size_t off;
	long n = 0;
	double t0, t1;
	int fd;

	if (!buf)
		die("malloc");
	memset(buf, 0x3C, bs);
	snprintf(path, sizeof(path), "%s/wbench.seq", dir);
	t0 = bench_now();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	for (off = 0; off < size; off += bs) {
		buf[0] = (char)n;
		pwrite_all(fd, buf, bs, off);
		if (++n % fsync_every == 0 && fsync(fd) < 0)
			die("fsync");
	}
	if (fsync(fd) < 0)
		die("fsync");
	close(fd);
	t1 = bench_now();
	printf("mbps=%.1f\n", size / (t1 - t0) / 1e6);
	free(buf);
	return 0;
}

static int unaligned(void)
{
	char *buf = malloc(maxlen);
	uint64_t rng = seed;
	double t0, t1;
	long i;
	int fd;

	if (!buf)
		die("malloc");
	memset(buf, 0x77, maxlen);
	fd = layout("wbench.unaligned", size);
	t0 = bench_now();
	for (i = 0; i < count; i++) {
		size_t len = 1 + xrand(&rng) % maxlen;
		off_t off = (off_t)(xrand(&rng) % (size - len));

		buf[0] = (char)i;
		pwrite_all(fd, buf, len, off);
		if (fsync(fd) < 0)
			die("fsync");
	}
	t1 = bench_now();
	close(fd);
	printf("seconds=%.3f\n", t1 - t0);
	free(buf);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: wbench randwrite|seqwrite|unaligned DIR [--bs=N] [--size=N] "
		"[--jobs=N] [--shared] [--lat] [--sync=none|fdatasync] [--sparse] [--seconds=N] "
		"[--fsync-every=N] "
		"[--count=N] [--max=N] [--seed=N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode;
	int i;

	if (argc < 3)
		usage();
	mode = argv[1];
	dir = argv[2];
	for (i = 3; i < argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "--bs=", 5))
			bs = parse_size(a + 5);
		else if (!strncmp(a, "--size=", 7))
			size = parse_size(a + 7);
		else if (!strncmp(a, "--jobs=", 7))
			jobs = atoi(a + 7);
		else if (!strcmp(a, "--shared"))
			shared = 1;
		else if (!strcmp(a, "--sparse"))
			sparse = 1;
		else if (!strcmp(a, "--lat"))
			lat = 1;
		else if (!strcmp(a, "--sync=fdatasync"))
			dosync = 1;
		else if (!strcmp(a, "--sync=none"))
			dosync = 0;
		else if (!strncmp(a, "--seconds=", 10))
			seconds = atof(a + 10);
		else if (!strncmp(a, "--fsync-every=", 14))
			fsync_every = atoi(a + 14);
		else if (!strncmp(a, "--count=", 8))
			count = atol(a + 8);
		else if (!strncmp(a, "--max=", 6))
			maxlen = atol(a + 6);
		else if (!strncmp(a, "--seed=", 7))
			seed = strtoull(a + 7, NULL, 0);
		else
			usage();
	}
	if (jobs < 1 || jobs > MAXJOBS || bs == 0 || size < bs || fsync_every < 1 ||
	    maxlen < 1 || (size_t)maxlen >= size)
		usage();
	if (!strcmp(mode, "randwrite"))
		return randwrite();
	if (!strcmp(mode, "seqwrite"))
		return seqwrite();
	if (!strcmp(mode, "unaligned"))
		return unaligned();
	usage();
	return 2;
}
