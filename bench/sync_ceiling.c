/*
 * sync_ceiling: how many 4 KiB random writes per second can any batcher make durable on this
 * disk, measured against the naive baseline core_bench uses, in the same run.
 *
 *   sync_ceiling [-d DIR] [-s SECONDS] [-t THREADS]
 *
 * "batch N": one thread writes N random 4 KiB blocks of a 64 MiB file with pwrite, then calls
 * fdatasync once; no queue, no thread hand-off, no copy. That is the best a group commit of N
 * writes per sync can do with data written in place. "naive T": T threads, each pwrite +
 * fdatasync per write on the same file (the kernel merges their concurrent device flushes).
 * The ratio column is batch N / naive T: an upper bound on core_bench's T:1 ratio when a
 * sync covers N writes.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"

#define FILE_BYTES (64ULL << 20)
#define BS 4096

static const char *dir = "/var/tmp/frozenfs-bench";
static double seconds = 2.0;
static int nthreads = 8;
static int fd;

static off_t rand_off(unsigned *seed)
{
	return (off_t)(rand_r(seed) % (FILE_BYTES / BS)) * BS;
}

struct naive {
	unsigned seed;
	double stop;
	uint64_t n;
};

static void *naive_thread(void *arg)
{
	struct naive *t = arg;
	uint8_t buf[BS];

	memset(buf, (int)t->seed, sizeof(buf));
	while (bench_now() < t->stop) {
		if (pwrite(fd, buf, BS, rand_off(&t->seed)) != BS || fdatasync(fd) < 0) {
			perror("naive");
			exit(1);
		}
		t->n++;
	}
	return NULL;
}

static double run_naive(void)
{
	pthread_t th[64];
	struct naive t[64];
	double t0 = bench_now();
	uint64_t n = 0;

	for (int i = 0; i < nthreads; i++) {
		t[i] = (struct naive){ .seed = (unsigned)i * 7919u + 1, .stop = t0 + seconds };
		pthread_create(&th[i], NULL, naive_thread, &t[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		n += t[i].n;
	}
	return (double)n / (bench_now() - t0);
}

/* Returns writes/s; *sync_us gets the mean fdatasync time per batch. */
static double run_batch(int per_sync, double *sync_us)
{
	uint8_t buf[BS];
	unsigned seed = 12345;
	double t0 = bench_now(), stop = t0 + seconds, in_sync = 0;
	uint64_t n = 0, batches = 0;

	memset(buf, 0x33, sizeof(buf));
	while (bench_now() < stop) {
		for (int i = 0; i < per_sync; i++)
			if (pwrite(fd, buf, BS, rand_off(&seed)) != BS) {
				perror("pwrite");
				exit(1);
			}
		double a = bench_now();

		if (fdatasync(fd) < 0) {
			perror("fdatasync");
			exit(1);
		}
		in_sync += bench_now() - a;
		n += (uint64_t)per_sync;
		batches++;
	}
	*sync_us = in_sync / (double)batches * 1e6;
	return (double)n / (bench_now() - t0);
}

int main(int argc, char **argv)
{
	static uint8_t fillbuf[1 << 20];
	char name[512];
	int opt;

	while ((opt = getopt(argc, argv, "d:s:t:")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 's': seconds = atof(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-d DIR] [-s SECONDS] [-t THREADS]\n", argv[0]);
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > 64 || seconds <= 0)
		return 2;
	mkdir(dir, 0755);
	snprintf(name, sizeof(name), "%s/ceiling", dir);
	fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(name);
		return 1;
	}
	/* Written, not sparse: every write below is an overwrite, as in core_bench. */
	memset(fillbuf, 0x5a, sizeof(fillbuf));
	for (uint64_t off = 0; off < FILE_BYTES; off += sizeof(fillbuf))
		if (pwrite(fd, fillbuf, sizeof(fillbuf), (off_t)off) != (ssize_t)sizeof(fillbuf))
			return 1;
	fsync(fd);

	/* A warm-up run, then naive before and after the batches: their mean is the baseline. */
	(void)run_naive();
	double naive0 = run_naive(), w[5], us[5];

	for (int k = 0, n = 1; k < 5; k++, n *= 2)
		w[k] = run_batch(n, &us[k]);
	double naive1 = run_naive(), naive = (naive0 + naive1) / 2;

	printf("sync_ceiling: %s, %.1f s per run; naive %d threads: %.0f and %.0f writes/s "
	       "(before, after)\n", dir, seconds, nthreads, naive0, naive1);
	printf("%-9s %12s %14s %16s\n", "batch N", "writes/s", "fdatasync us", "vs naive");
	for (int k = 0, n = 1; k < 5; k++, n *= 2)
		printf("%-9d %12.0f %14.0f %15.2fx\n", n, w[k], us[k], w[k] / naive);
	close(fd);
	unlink(name);
	return 0;
}
