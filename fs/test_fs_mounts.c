/*
 * test_fs_mounts: which names of a FUSE mount have mounts on top of them, from mountinfo
 * text (fs_mounts.h): plain and nested bind mounts, a bind mount of a subdirectory of the
 * FUSE filesystem (root other than "/"), the kernel's \ooo escapes, a mount over the whole
 * mount point, lookalike prefixes and other filesystems' mounts, which must not count; the
 * directories above a covered name; processes' working directories.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <cmocka.h>

#include "fs_mounts.h"

#define MAXP 16

struct paths {
	char *p[MAXP];
	size_t n;
};

static void add(const char *path, void *arg)
{
	struct paths *ps = arg;

	assert_true(ps->n < MAXP);
	ps->p[ps->n++] = strdup(path);
}

static int has(const struct paths *ps, const char *path)
{
	for (size_t k = 0; k < ps->n; k++)
		if (strcmp(ps->p[k], path) == 0)
			return 1;
	return 0;
}

static void clear(struct paths *ps)
{
	for (size_t k = 0; k < ps->n; k++)
		free(ps->p[k]);
	ps->n = 0;
}

/* The FUSE mount is 0:53 on /var/tmp/m; ext4 is 254:1. */
static const char *table =
	"22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
	"60 22 0:53 / /var/tmp/m rw,nosuid shared:30 - fuse.frozenfs /var/tmp/s rw\n"
	/* a file bind-mounted over a file of the mount */
	"61 60 254:1 /tmp/resolv /var/tmp/m/etc/resolv.conf rw shared:1 - ext4 /dev/vda rw\n"
	/* a name with a space, escaped by the kernel */
	"62 60 254:1 /tmp/x /var/tmp/m/a\\040b rw shared:1 - ext4 /dev/vda rw\n"
	/* a lookalike prefix: /var/tmp/mm is not inside /var/tmp/m */
	"63 22 254:1 /tmp/y /var/tmp/mm/f rw shared:1 - ext4 /dev/vda rw\n"
	/* a subdirectory of the FUSE filesystem bind-mounted elsewhere, and a mount on it */
	"64 22 0:53 /sub/dir /srv/b rw shared:30 - fuse.frozenfs /var/tmp/s rw\n"
	"65 64 254:1 /tmp/z /srv/b/inner/f rw shared:1 - ext4 /dev/vda rw\n"
	/* a tmpfs over the whole mount point */
	"66 60 0:60 / /var/tmp/m rw shared:31 - tmpfs tmpfs rw\n"
	/* a mount on another filesystem's name */
	"67 22 0:61 / /mnt/other rw shared:32 - tmpfs tmpfs rw\n";

static void test_covered(void **state)
{
	struct paths ps = { .n = 0 };

	(void)state;
	assert_int_equal(fs_mountinfo_covered(table, 0, 53, add, &ps), 4);
	assert_true(has(&ps, "etc/resolv.conf"));
	assert_true(has(&ps, "a b"));
	assert_true(has(&ps, "sub/dir/inner/f"));
	assert_true(has(&ps, ""));		/* the root: over the mount point itself */
	clear(&ps);
	/* Another device: only what sits on it. */
	assert_int_equal(fs_mountinfo_covered(table, 0, 60, add, &ps), 0);
	assert_int_equal(fs_mountinfo_covered(table, 254, 1, add, &ps), 4);
	assert_true(has(&ps, "var/tmp/m"));
	assert_true(has(&ps, "var/tmp/mm/f"));
	assert_true(has(&ps, "srv/b"));
	assert_true(has(&ps, "mnt/other"));
	clear(&ps);
}

static void test_dev(void **state)
{
	unsigned ma = 9, mi = 9;

	(void)state;
	assert_int_equal(fs_mountinfo_dev(table, "/var/tmp/m", &ma, &mi), 0);
	/* The last mount on the path wins: the tmpfs over the FUSE mount. */
	assert_int_equal(ma, 0);
	assert_int_equal(mi, 60);
	assert_int_equal(fs_mountinfo_dev(table, "/srv/b", &ma, &mi), 0);
	assert_int_equal(mi, 53);
	assert_int_equal(fs_mountinfo_dev(table, "/nowhere", &ma, &mi), -ENOENT);
}

static void test_garbage(void **state)
{
	struct paths ps = { .n = 0 };
	unsigned ma, mi;

	(void)state;
	assert_int_equal(fs_mountinfo_covered("", 0, 53, add, &ps), 0);
	assert_int_equal(fs_mountinfo_covered("not a mountinfo line\n\n1 2\n", 0, 53, add, &ps), 0);
	/* A truncated last line (no mount point) is skipped, the rest still counts. */
	assert_int_equal(fs_mountinfo_covered(
		"60 22 0:53 / /m rw\n61 60 8:1 / /m/f rw\n62 60 8:1 /x", 0, 53, add, &ps), 1);
	assert_true(has(&ps, "f"));
	clear(&ps);
	assert_int_equal(fs_mountinfo_dev("garbage", "/m", &ma, &mi), -ENOENT);
}

static bool has_id(const struct fs_file_id *ids, size_t n, dev_t dev, ino_t ino)
{
	for (size_t k = 0; k < n; k++)
		if (ids[k].dev == dev && ids[k].ino == ino)
			return true;
	return false;
}

/* A covered name brings every directory above it (not the base itself), once each. */
static void test_add_path(void **state)
{
	char base[] = "/tmp/test_fs_mounts.XXXXXX";
	struct fs_file_id ids[8];
	struct stat a, ab, abc, ax;
	size_t n;
	int dfd;

	(void)state;
	assert_non_null(mkdtemp(base));
	dfd = open(base, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(mkdirat(dfd, "a", 0755), 0);
	assert_int_equal(mkdirat(dfd, "a/b", 0755), 0);
	assert_int_equal(mkdirat(dfd, "a/b/c", 0755), 0);
	assert_int_equal(mkdirat(dfd, "a/x", 0755), 0);
	assert_int_equal(fstatat(dfd, "a", &a, 0), 0);
	assert_int_equal(fstatat(dfd, "a/b", &ab, 0), 0);
	assert_int_equal(fstatat(dfd, "a/b/c", &abc, 0), 0);
	assert_int_equal(fstatat(dfd, "a/x", &ax, 0), 0);

	n = fs_mounts_add_path(dfd, "a/b/c", ids, 0, 8);
	assert_int_equal(n, 3);
	assert_true(has_id(ids, n, a.st_dev, a.st_ino));
	assert_true(has_id(ids, n, ab.st_dev, ab.st_ino));
	assert_true(has_id(ids, n, abc.st_dev, abc.st_ino));
	/* a shared ancestor is not added twice; a missing name adds only its ancestors */
	n = fs_mounts_add_path(dfd, "a/x", ids, n, 8);
	assert_int_equal(n, 4);
	assert_true(has_id(ids, n, ax.st_dev, ax.st_ino));
	assert_int_equal(fs_mounts_add_path(dfd, "a/b/gone", ids, n, 8), 4);
	/* the root of the tree ("") adds nothing; @max is respected */
	assert_int_equal(fs_mounts_add_path(dfd, "", ids, 0, 8), 0);
	assert_int_equal(fs_mounts_add_path(dfd, "a/b/c", ids, 0, 2), 2);

	unlinkat(dfd, "a/b/c", AT_REMOVEDIR);
	unlinkat(dfd, "a/b", AT_REMOVEDIR);
	unlinkat(dfd, "a/x", AT_REMOVEDIR);
	unlinkat(dfd, "a", AT_REMOVEDIR);
	close(dfd);
	assert_int_equal(rmdir(base), 0);
}

struct cwd_thread {
	const char *dir;
	pthread_mutex_t m;
	pthread_cond_t c;
	int state;		/* 0 starting, 1 in @dir (or -errno), 2 told to exit */
};

/* A thread with a working directory of its own (unshare(CLONE_FS), as Samba's workers do). */
static void *cwd_thread_main(void *arg)
{
	struct cwd_thread *t = arg;
	int rc = 1;

	if (unshare(CLONE_FS) < 0 || chdir(t->dir) < 0)
		rc = -errno;
	pthread_mutex_lock(&t->m);
	t->state = rc;
	pthread_cond_broadcast(&t->c);
	while (t->state != 2)
		pthread_cond_wait(&t->c, &t->m);
	pthread_mutex_unlock(&t->m);
	return NULL;
}

/* This process's own working directory is found, by inode number, on its device only. */
static void test_procs_pinned(void **state)
{
	char base[] = "/tmp/test_fs_mounts.XXXXXX", old[4096];
	struct fs_file_id ids[256];
	struct stat st;
	size_t n;

	(void)state;
	assert_non_null(getcwd(old, sizeof(old)));
	assert_non_null(mkdtemp(base));
	assert_int_equal(chdir(base), 0);
	assert_int_equal(stat(".", &st), 0);
	n = fs_procs_pinned(major(st.st_dev), minor(st.st_dev), ids, 256);
	assert_true(n >= 1);
	assert_true(has_id(ids, n, FS_DEV_ANY, st.st_ino));
	/* a thread's own working directory, elsewhere than the process's */
	{
		char tdir[] = "/tmp/test_fs_mounts.XXXXXX";
		struct cwd_thread t = { .dir = tdir, .state = 0 };
		struct stat tst;
		pthread_t th;

		assert_non_null(mkdtemp(tdir));
		assert_int_equal(stat(tdir, &tst), 0);
		pthread_mutex_init(&t.m, NULL);
		pthread_cond_init(&t.c, NULL);
		assert_int_equal(pthread_create(&th, NULL, cwd_thread_main, &t), 0);
		pthread_mutex_lock(&t.m);
		while (t.state == 0)
			pthread_cond_wait(&t.c, &t.m);
		pthread_mutex_unlock(&t.m);
		assert_int_equal(t.state, 1);
		n = fs_procs_pinned(major(tst.st_dev), minor(tst.st_dev), ids, 256);
		assert_true(has_id(ids, n, FS_DEV_ANY, tst.st_ino));
		assert_true(has_id(ids, n, FS_DEV_ANY, st.st_ino));
		pthread_mutex_lock(&t.m);
		t.state = 2;
		pthread_cond_broadcast(&t.c);
		pthread_mutex_unlock(&t.m);
		pthread_join(th, NULL);
		assert_int_equal(rmdir(tdir), 0);
	}
	/* a device nobody works on */
	assert_int_equal(fs_procs_pinned(4095, 1048575, ids, 256), 0);
	assert_int_equal(fs_procs_pinned(major(st.st_dev), minor(st.st_dev), ids, 0), 0);
	assert_int_equal(chdir(old), 0);
	assert_int_equal(rmdir(base), 0);
}

/* The reclaim's binary search needs the ids ordered by inode number first. */
static void test_id_sort(void **state)
{
	struct fs_file_id ids[] = {
		{ 7, 30 }, { FS_DEV_ANY, 10 }, { 3, 30 }, { 7, 10 }, { 1, 20 },
	};

	(void)state;
	fs_file_id_sort(ids, 5);
	assert_int_equal(ids[0].ino, 10);
	assert_int_equal(ids[0].dev, 7);
	assert_true(ids[1].ino == 10 && ids[1].dev == FS_DEV_ANY);
	assert_true(ids[2].ino == 20 && ids[2].dev == 1);
	assert_true(ids[3].ino == 30 && ids[3].dev == 3);
	assert_true(ids[4].ino == 30 && ids[4].dev == 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covered),
		cmocka_unit_test(test_dev),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_add_path),
		cmocka_unit_test(test_procs_pinned),
		cmocka_unit_test(test_id_sort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
