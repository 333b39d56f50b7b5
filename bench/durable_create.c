/*
 * durable_create: what a durable close of a new small file costs on the raw backing disk.
 *
 *   durable_create [-d DIR] [-n FILES] [-s BYTES]
 *
 * frozenfs makes close(2) a durability point: a new file's data, size and name are durable
 * when close returns (DURABILITY.md, first paragraph; section 2.3 for the name). On the raw
 * disk that is a create + write + fdatasync of the file + fsync of its directory. This
 * program times the ways to order those syncs, per file, against a plain create + write +
 * close that makes nothing durable (what `cp -r` does on the raw disk):
 *
 *   none                    create, write, close
 *   dir || fdatasync        the directory's fsync on a second thread, overlapping the data's
 *                           (what frozenfs's FLUSH does)
 *   fdatasync; dir          one after the other
 *   fsync; dir              fsync of the file first (its journal commit carries the name on
 *                           ext4), then the directory's
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"

static const char *base = "/var/tmp/frozenfs-bench";
static int nfiles = 300;
static size_t fsize = 5000;
static int dfd;

static void *dir_sync(void *arg)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	(void)arg;
	if (fd < 0 || fsync(fd) < 0) {
		perror("fsync of the directory");
		exit(1);
	}
	close(fd);
	return NULL;
}

static void check(int rc, const char *what)
{
	if (rc < 0) {
		perror(what);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const char *names[] = { "none", "dir || fdatasync", "fdatasync; dir",
				       "fsync; dir" };
	char path[512], *buf;
	double us[4][3];
	int opt;

	while ((opt = getopt(argc, argv, "d:n:s:")) != -1) {
		switch (opt) {
		case 'd': base = optarg; break;
		case 'n': nfiles = atoi(optarg); break;
		case 's': fsize = (size_t)strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: %s [-d DIR] [-n FILES] [-s BYTES]\n", argv[0]);
			return 2;
		}
	}
	if (nfiles < 1 || fsize < 1 || fsize > (64u << 20))
		return 2;
	buf = malloc(fsize);
	if (!buf)
		return 1;
	memset(buf, 0x42, fsize);
	mkdir(base, 0755);
	/* Three rounds, the modes interleaved in each (these machines drift). */
	for (int r = 0; r < 3; r++) {
		for (int m = 0; m < 4; m++) {
			snprintf(path, sizeof(path), "%s/dc-%d-%d", base, r, m);
			check(mkdir(path, 0755), path);
			dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			check(dfd, path);
			double t0 = bench_now();

			for (int i = 0; i < nfiles; i++) {
				char n[32];
				pthread_t th;
				int fd;

				snprintf(n, sizeof(n), "f%d", i);
				fd = openat(dfd, n, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
				check(fd, "create");
				check(pwrite(fd, buf, fsize, 0) == (ssize_t)fsize ? 0 : -1, "pwrite");
				switch (m) {
				case 1:
					pthread_create(&th, NULL, dir_sync, NULL);
					check(fdatasync(fd), "fdatasync");
					pthread_join(th, NULL);
					break;
				case 2:
					check(fdatasync(fd), "fdatasync");
					dir_sync(NULL);
					break;
				case 3:
					check(fsync(fd), "fsync");
					dir_sync(NULL);
					break;
				}
				close(fd);
			}
			us[m][r] = (bench_now() - t0) / nfiles * 1e6;
			/* Untimed: settle what "none" left dirty, so the next mode does not pay it. */
			syncfs(dfd);
			close(dfd);
			snprintf(path, sizeof(path), "rm -rf %s/dc-%d-%d", base, r, m);
			if (system(path) != 0)
				return 1;
			snprintf(path, sizeof(path), "%s", base);
			int bfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

			if (bfd >= 0) {
				syncfs(bfd);
				close(bfd);
			}
		}
	}
	printf("durable_create: %d files of %zu bytes in %s, us per file (3 rounds, median)\n",
	       nfiles, fsize, base);
	for (int m = 0; m < 4; m++) {
		double a = us[m][0], b = us[m][1], c = us[m][2];
		double med = a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));

		printf("%-18s %8.0f us   (rounds: %.0f %.0f %.0f)\n", names[m], med, a, b, c);
	}
	free(buf);
	return 0;
}
