/* bench_clock: the monotonic clock in seconds, shared by the benchmark programs. */
#ifndef FROZENFS_BENCH_CLOCK_H
#define FROZENFS_BENCH_CLOCK_H

#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
