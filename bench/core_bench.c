/*
 * core_bench: the pipeline against the naive baseline, side by side in one run.
 *
 * T writer threads x F files; each thread writes 4 KiB at a random chunk index of its file
 * (thread i uses file i % F) and waits for durability after every write. The naive baseline
 * does the same with pwrite + fdatasync on the same files. Each mode runs in a child process
 * so its peak RSS is its own. Reports ops/s, p50/p99 wait latency, ratio and peak RSS.
 *
 *   core_bench [-d DIR] [-s SECONDS] [-c CHUNK] [-p POOL_MB] [-r ROUNDS] [T:F ...]
 *
 * Default configurations: 8:1 8:8 1:1. DIR must be on the disk to measure (not tmpfs).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "chunk.h"
#include "err.h"
#include "pipeline.h"

#define FILE_CHUNKS 1024
#define WSIZE 4096

static const char *dir = "/var/tmp/frozenfs-bench";
static double seconds = 3.0;
static size_t chunk = 64 << 10;
static size_t pool_mb = 64;
static int rounds = 3;
static int sync_threads = -1;

struct result {
	double ops;
	double p50_us, p99_us;
	long rss_kb;
	double ops_per_sync;	/* pipeline only: writes made durable per fdatasync */
};

struct thr {
	int id, mode, nfiles;
	int *fds;
	struct pipeline_file **pf;
	uint64_t n;
	double *lat;
	size_t nlat, cap;
	double stop_at;
};

static void *writer(void *arg)
{
	struct thr *t = arg;
	unsigned seed = (unsigned)t->id * 7919u + 1;
	uint8_t buf[WSIZE];

	memset(buf, t->id + 1, sizeof(buf));
	while (bench_now() < t->stop_at) {
		uint64_t idx = (uint64_t)(rand_r(&seed) % FILE_CHUNKS);
		size_t in = (size_t)(rand_r(&seed) % (chunk / WSIZE)) * WSIZE;
		int fi = t->id % t->nfiles;
		double t0 = bench_now();

		if (t->mode == 0) {
			if (pwrite(t->fds[fi], buf, WSIZE, (off_t)(idx * chunk + in)) != WSIZE ||
			    fdatasync(t->fds[fi]) < 0) {
				perror("naive");
				exit(1);
			}
		} else {
			uint64_t tk;

			if (pipeline_write(t->pf[fi], idx, in, buf, WSIZE, &tk) < 0 ||
			    pipeline_wait(t->pf[fi], tk, 0) < 0) {
				char m[256];

				err_format(err_last(), m, sizeof(m));
				fprintf(stderr, "pipeline: %s\n", m);
				exit(1);
			}
		}
		if (t->nlat == t->cap) {
			t->cap = t->cap ? t->cap * 2 : 4096;
			t->lat = realloc(t->lat, t->cap * sizeof(double));
		}
		t->lat[t->nlat++] = (bench_now() - t0) * 1e6;
		t->n++;
	}
	return NULL;
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Runs one mode in this (child) process and writes the result to @out. */
static void run_mode(int mode, int nthreads, int nfiles, int out)
{
	struct pipeline *p = NULL;
	struct pipeline_opts o;
	int fds[64];
	struct pipeline_file *pf[64];
	struct thr th[64];
	pthread_t tid[64];
	struct result r = { 0 };
	char name[64];
	double t0, all_n = 0;
	size_t total = 0;
	double *lat;

	if (mode == 1) {
		pipeline_opts_default(&o);
		o.chunk_size = chunk;
		o.pool_bufs = pool_mb * (1 << 20) / chunk;
		if (sync_threads >= 0)
			o.sync_threads = (unsigned)sync_threads;
		if (pipeline_create(&o, &p) < 0) {
			fprintf(stderr, "pipeline_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof(name), "%s/f%d", dir, i);
		fds[i] = open(name, O_RDWR | O_CLOEXEC);
		if (fds[i] < 0) {
			perror(name);
			exit(1);
		}
		if (mode == 1) {
			struct chunk_file *cf;

			if (chunk_file_adopt(NULL, fds[i], name, chunk, 0, &cf) < 0 ||
			    pipeline_file_attach(p, cf, &pf[i]) < 0) {
				fprintf(stderr, "attach failed\n");
				exit(1);
			}
		}
	}
	t0 = bench_now();
	for (int i = 0; i < nthreads; i++) {
		th[i] = (struct thr){ .id = i, .mode = mode, .nfiles = nfiles, .fds = fds, .pf = pf,
				      .stop_at = t0 + seconds };
		pthread_create(&tid[i], NULL, writer, &th[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		all_n += (double)th[i].n;
		total += th[i].nlat;
	}
	r.ops = all_n / (bench_now() - t0);
	lat = malloc((total ? total : 1) * sizeof(double));
	total = 0;
	for (int i = 0; i < nthreads; i++) {
		memcpy(lat + total, th[i].lat, th[i].nlat * sizeof(double));
		total += th[i].nlat;
		free(th[i].lat);
	}
	qsort(lat, total, sizeof(double), dcmp);
	r.p50_us = total ? lat[total / 2] : 0;
	r.p99_us = total ? lat[total * 99 / 100] : 0;
	free(lat);
	if (mode == 1) {
		struct pipeline_stats st;

		pipeline_get_stats(p, &st);
		r.ops_per_sync = st.syncs ? all_n / (double)st.syncs : 0;
		for (int i = 0; i < nfiles; i++)
			pipeline_file_put(pf[i]);
		pipeline_destroy(p);
	} else {
		for (int i = 0; i < nfiles; i++)
			close(fds[i]);
	}
	if (write(out, &r, sizeof(r)) != sizeof(r))
		exit(1);
	exit(0);
}

static struct result run_child(int mode, int nthreads, int nfiles)
{
	struct result r = { 0 };
	struct rusage ru;
	int pfd[2], status;
	pid_t pid;

	if (pipe(pfd) < 0)
		exit(1);
	fflush(stdout);		/* or the child would print our buffered lines again */
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		run_mode(mode, nthreads, nfiles, pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &r, sizeof(r)) != sizeof(r)) {
		fprintf(stderr, "benchmark child failed\n");
		exit(1);
	}
	close(pfd[0]);
	wait4(pid, &status, 0, &ru);
	r.rss_kb = ru.ru_maxrss;
	return r;
}

static void prepare(int nfiles)
{
	static uint8_t buf[1 << 20];
	char name[64];

	mkdir(dir, 0755);
	memset(buf, 0x5a, sizeof(buf));
	for (int i = 0; i < nfiles; i++) {
		struct stat st;
		int fd;

		snprintf(name, sizeof(name), "%s/f%d", dir, i);
		if (stat(name, &st) == 0 && (uint64_t)st.st_size == FILE_CHUNKS * chunk)
			continue;
		fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
		for (uint64_t off = 0; off < FILE_CHUNKS * chunk; off += sizeof(buf))
			if (pwrite(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
				exit(1);
		fsync(fd);
		close(fd);
	}
}

static int cmp_res(const void *a, const void *b)
{
	return dcmp(&((const struct result *)a)->ops, &((const struct result *)b)->ops);
}

int main(int argc, char **argv)
{
	int opt;
	const char *defaults[] = { "8:1", "8:8", "1:1" };
	const char **cfgs = defaults;
	int ncfg = 3;

	while ((opt = getopt(argc, argv, "d:s:c:p:r:t:")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 's': seconds = atof(optarg); break;
		case 'c': chunk = (size_t)strtoul(optarg, NULL, 0); break;
		case 'p': pool_mb = (size_t)strtoul(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 't': sync_threads = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-d DIR] [-s SEC] [-c CHUNK] [-p POOL_MB] [-r ROUNDS] [-t SYNC_THREADS] "
				"[T:F ...]\n", argv[0]);
			return 2;
		}
	}
	if (optind < argc) {
		cfgs = (const char **)argv + optind;
		ncfg = argc - optind;
	}
	printf("core_bench: dir %s, %.1f s per run, %d rounds (median), chunk %zu, pool %zu MiB\n",
	       dir, seconds, rounds, chunk, pool_mb);
	printf("%-6s %12s %12s %7s %10s %10s %10s %10s %9s %9s\n", "T:F", "naive op/s",
	       "pipe op/s", "ratio", "naive p50", "pipe p50", "naive p99", "pipe p99", "pipe RSS",
	       "ops/sync");
	for (int c = 0; c < ncfg; c++) {
		int t, f;
		struct result nv[16], pp[16];

		if (sscanf(cfgs[c], "%d:%d", &t, &f) != 2 || t < 1 || t > 64 || f < 1 || f > 64)
			return 2;
		prepare(f);
		for (int r = 0; r < rounds && r < 16; r++) {
			nv[r] = run_child(0, t, f);
			pp[r] = run_child(1, t, f);
		}
		qsort(nv, (size_t)rounds, sizeof(nv[0]), cmp_res);
		qsort(pp, (size_t)rounds, sizeof(pp[0]), cmp_res);
		struct result n = nv[rounds / 2], q = pp[rounds / 2];
		long rss = 0;

		for (int r = 0; r < rounds; r++)
			if (pp[r].rss_kb > rss)
				rss = pp[r].rss_kb;
		printf("%-6s %12.0f %12.0f %6.2fx %8.0fus %8.0fus %8.0fus %8.0fus %7ldMiB %9.2f\n",
		       cfgs[c], n.ops, q.ops, q.ops / n.ops, n.p50_us, q.p50_us, n.p99_us, q.p99_us,
		       rss / 1024, q.ops_per_sync);
		fflush(stdout);
	}
	return 0;
}
