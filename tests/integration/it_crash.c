/*
 * it_crash: kill -9 the daemon and check what applications were told and what the store kept.
 *
 * A process crash is not a power loss: the backing filesystem's page cache survives, so
 * everything frozenfs handed to the backing files is still there (DURABILITY.md section 4.1,
 * T2). What this test can check without a loop device:
 *
 *   1. Ten threads loop { write a tagged 4 KiB block at the next offset of their own file;
 *      fsync }. Once every thread has completed 20 fsyncs, the daemon is SIGKILLed. Every
 *      thread's first failing call must fail with ECONNABORTED or ENOTCONN (requirement 21:
 *      never a success for lost data, never a hang). After a remount, every block whose fsync
 *      returned 0 is present (checker rule 2), nothing past the size is garbage (rule 4: each
 *      block is its tag or zeros), and the size covers the last acknowledged block (rule 5).
 *   2. With a slow flusher, 2 MiB written and fsynced, then overwritten and extended to 3 MiB
 *      without fsync, then SIGKILL: after remount the size is 2..3 MiB, every byte of the
 *      first 2 MiB is old or new data, every byte after is new data or zero (rules 4, 5).
 *   3. Recovery is idempotent (rule 1): two mounts after the crash show the same tree, byte for
 *      byte, and the daemon exits 0 each time.
 *
 * Usage: it_crash FROZENFS_BINARY
 */
#include "fstest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NTH		10
#define BLK		4096
#define MAXBLK		4096		/* 16 MiB per file at most */

static struct ft_mount m;

struct th {
	pthread_t t;
	int id;
	int fd;
	long acked;		/* blocks [0, acked) had a successful fsync after their write */
	long written;		/* blocks whose write(2) returned success */
	int err;		/* errno of the first failing call */
	const char *failed_call;
	_Atomic long fsyncs;	/* written by the thread (relaxed), read by main */
};

static struct th th[NTH];
static _Atomic int stop;	/* main -> threads: give up (relaxed: only a bound) */

static void fill_block(uint64_t *b, int t, long k)
{
	uint64_t tag = 0xC0DE000000000000ull | ((uint64_t)t << 32) | (uint64_t)(k + 1);
	size_t i;

	for (i = 0; i < BLK / 8; i++)
		b[i] = tag;
}

static void *writer(void *arg)
{
	struct th *me = arg;
	uint64_t *b = malloc(BLK);
	long k;

	if (!b)
		ft_fail("out of memory");
	for (k = 0; k < MAXBLK && !atomic_load_explicit(&stop, memory_order_relaxed); k++) {
		fill_block(b, me->id, k);
		if (pwrite(me->fd, b, BLK, k * BLK) != BLK) {
			me->err = errno;
			me->failed_call = "pwrite";
			break;
		}
		me->written = k + 1;
		if (fsync(me->fd) < 0) {
			me->err = errno;
			me->failed_call = "fsync";
			break;
		}
		me->acked = k + 1;
		atomic_fetch_add_explicit(&me->fsyncs, 1, memory_order_relaxed);
	}
	free(b);
	return NULL;
}

static const char *fname(int t)
{
	static char buf[NTH][16];

	snprintf(buf[t], sizeof(buf[t]), "c%d", t);
	return buf[t];
}

static void test_kill_during_fsync(void)
{
	double t0;
	int i, st;

	ft_check("SIGKILL the daemon while 10 threads loop write+fsync: each thread's first "
		 "failure is ECONNABORTED or ENOTCONN (req 21)");
	for (i = 0; i < NTH; i++) {
		th[i].id = i;
		th[i].fd = FT_SYS(open(ft_path(&m, fname(i)), O_RDWR | O_CREAT | O_EXCL, 0644));
	}
	for (i = 0; i < NTH; i++)
		if (pthread_create(&th[i].t, NULL, writer, &th[i]))
			ft_fail("pthread_create");
	/* Poll until every thread has really been through the fsync path a few times. */
	t0 = ft_now();
	for (i = 0; i < NTH; i++) {
		while (atomic_load_explicit(&th[i].fsyncs, memory_order_relaxed) < 20) {
			if (ft_now() - t0 > 60)
				ft_fail("thread %d did only %ld fsyncs in 60 s", i,
					atomic_load_explicit(&th[i].fsyncs, memory_order_relaxed));
			usleep(1000);
		}
	}
	st = ft_kill(&m, SIGKILL);
	FT_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "daemon status 0x%x", st);
	/* The threads must notice on their own; bound the wait so a hang is a failure. */
	t0 = ft_now();
	for (i = 0; i < NTH; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 30;
		if (pthread_timedjoin_np(th[i].t, NULL, &ts) != 0)
			ft_fail("thread %d still blocked 30 s after the daemon was killed", i);
	}
	for (i = 0; i < NTH; i++) {
		FT_ASSERT(th[i].acked < MAXBLK, "thread %d never failed", i);
		FT_ASSERT(th[i].err == ECONNABORTED || th[i].err == ENOTCONN,
			  "thread %d: first failure %s gave %s (%d), expected ECONNABORTED or "
			  "ENOTCONN", i, th[i].failed_call, strerror(th[i].err), th[i].err);
		close(th[i].fd);
	}
	ft_ok("all threads failed with ECONNABORTED/ENOTCONN (acked blocks: %ld..%ld)",
	      th[0].acked, th[NTH - 1].acked);
}

static void verify_kill_during_fsync(const char *when)
{
	uint64_t *want = malloc(BLK);
	int i;

	FT_ASSERT(want, "out of memory");
	for (i = 0; i < NTH; i++) {
		size_t len, k, nblk;
		uint8_t *d = ft_read_file(ft_path(&m, fname(i)), &len);

		FT_ASSERT(len >= (size_t)th[i].acked * BLK,
			  "%s: %s has %zu bytes, but fsync acknowledged %ld blocks (%ld bytes)",
			  when, fname(i), len, th[i].acked, th[i].acked * BLK);
		FT_ASSERT(len <= (size_t)th[i].written * BLK,
			  "%s: %s has %zu bytes, more than the %ld blocks ever written", when,
			  fname(i), len, th[i].written);
		nblk = (len + BLK - 1) / BLK;
		for (k = 0; k < nblk; k++) {
			size_t n = len - k * BLK < BLK ? len - k * BLK : BLK;
			int zero = 1;
			size_t j;

			fill_block(want, i, (long)k);
			if (memcmp(d + k * BLK, want, n) == 0)
				continue;
			for (j = 0; j < n; j++)
				zero &= d[k * BLK + j] == 0;
			FT_ASSERT(k >= (size_t)th[i].acked,
				  "%s: %s block %zu was acknowledged by fsync but does not "
				  "hold its data%s", when, fname(i), k,
				  zero ? " (zeros)" : " (garbage)");
			FT_ASSERT(zero, "%s: %s block %zu (unacknowledged) holds garbage, neither "
				  "its data nor zeros", when, fname(i), k);
		}
		free(d);
	}
	free(want);
	ft_ok("%s: every fsync-acknowledged block present; nothing else but data or zeros",
	      when);
}

#define OLD_LEN (2 << 20)
#define NEW_LEN (3 << 20)
static uint8_t *old_data, *new_data;

static void test_kill_unsynced(void)
{
	uint64_t seed = 77;
	int fd, st;

	ft_check("slow flusher: 2 MiB written and fsynced, then overwritten and extended to 3 MiB "
		 "without fsync, then SIGKILL");
	old_data = malloc(NEW_LEN);
	new_data = malloc(NEW_LEN);
	FT_ASSERT(old_data && new_data, "out of memory");
	ft_rand_fill(&seed, old_data, NEW_LEN);
	ft_rand_fill(&seed, new_data, NEW_LEN);
	fd = FT_SYS(open(ft_path(&m, "unsynced"), O_WRONLY | O_CREAT | O_EXCL, 0644));
	ft_pwrite_all(fd, old_data, OLD_LEN, 0);
	FT_SYS(fsync(fd));
	ft_pwrite_all(fd, new_data, NEW_LEN, 0);
	st = ft_kill(&m, SIGKILL);
	close(fd);
	FT_ASSERT(WIFSIGNALED(st), "daemon status 0x%x", st);
	ft_ok("killed with 3 MiB queued over 2 MiB fsynced");
}

/* DURABILITY.md 2.4: an unsynced overwrite may leave any mix of old and new per block, an
 * unsynced extension may be absent or read as zeros, never garbage; the fsynced size stays. */
static void verify_kill_unsynced(const char *when)
{
	size_t len, i;
	uint8_t *d = ft_read_file(ft_path(&m, "unsynced"), &len);
	size_t n_new = 0;

	FT_ASSERT(len >= OLD_LEN && len <= NEW_LEN, "%s: size %zu, expected %d..%d", when, len,
		  OLD_LEN, NEW_LEN);
	for (i = 0; i < len; i++) {
		int ok = d[i] == new_data[i] || (i < OLD_LEN ? d[i] == old_data[i] : d[i] == 0);

		if (!ok)
			ft_fail("%s: byte %zu is 0x%02x: neither new (0x%02x) nor %s (0x%02x)",
				when, i, d[i], new_data[i],
				i < OLD_LEN ? "the fsynced old data" : "zero",
				i < OLD_LEN ? old_data[i] : 0);
		n_new += d[i] == new_data[i];
	}
	free(d);
	ft_ok("%s: size %zu, every byte old, new or (past the fsynced size) zero; %zu bytes new",
	      when, len, n_new);
}

/* A listing with sizes and content hashes (FNV-1a) of the mount root, for idempotence. */
static char *tree_digest(void)
{
	size_t cap = 1 << 16, used = 0;
	char *out = malloc(cap);
	struct dirent **list;
	int n, i;

	FT_ASSERT(out, "out of memory");
	n = scandir(m.mnt, &list, NULL, alphasort);
	FT_ASSERT(n >= 0, "scandir: %s", strerror(errno));
	out[0] = 0;
	for (i = 0; i < n; i++) {
		uint64_t h = 1469598103934665603ull;
		size_t len = 0, j;
		uint8_t *d;

		if (list[i]->d_name[0] != '.') {
			d = ft_read_file(ft_path(&m, list[i]->d_name), &len);
			for (j = 0; j < len; j++)
				h = (h ^ d[j]) * 1099511628211ull;
			free(d);
			used += snprintf(out + used, cap - used, "%s %zu %016" PRIx64 "\n",
					 list[i]->d_name, len, h);
			FT_ASSERT(used < cap, "listing too long");
		}
		free(list[i]);
	}
	free(list);
	return out;
}

int main(int argc, char **argv)
{
	char store[PATH_MAX], mp[PATH_MAX];
	char *a, *b;

	ft_init(argc, argv);
	if (ft_fake())
		ft_fail("it_crash needs the real daemon (FT_FAKE is set)");
	snprintf(store, sizeof(store), "%s/store", ft_tmpdir());
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());

	ft_mount(&m, store, mp, "chunk_size=4096,flush_interval_ms=50");
	test_kill_during_fsync();
	ft_remount(&m);
	ft_ok("remounted after SIGKILL");
	verify_kill_during_fsync("after crash + remount");

	ft_umount(&m);
	ft_mount(&m, store, mp, "flush_interval_ms=10000");
	test_kill_unsynced();
	ft_remount(&m);
	verify_kill_unsynced("after crash + remount");
	verify_kill_during_fsync("after a second crash + remount");

	ft_check("recovery is idempotent: two more mounts show the same files, byte for byte");
	a = tree_digest();
	ft_remount(&m);
	b = tree_digest();
	FT_ASSERT(strcmp(a, b) == 0, "trees differ between mounts:\n%s---\n%s", a, b);
	ft_umount(&m);
	ft_ok("two mounts after the crashes: identical listing and content, daemon exited 0");
	free(a);
	free(b);
	free(old_data);
	free(new_data);
	return ft_done();
}
