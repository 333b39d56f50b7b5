/*
 * frozenfs-ctl: status, sync and durability waits of a mounted frozenfs.
 *
 *	frozenfs-ctl status MOUNTPOINT
 *	frozenfs-ctl sync MOUNTPOINT
 *	frozenfs-ctl wait MOUNTPOINT EPOCH
 *	frozenfs-ctl durable FILE...
 *
 * DESIGN
 *
 * Everything goes through the mount itself, as the virtual extended attributes described in
 * fs/fs_ctl.h: no socket, no privileges beyond access to the mount, and the daemon that
 * answers is the one serving the path. MOUNTPOINT may be any path inside the mount; the tool
 * walks up to the mount's root (the last directory on the same st_dev).
 *
 * sync(1) never reaches a FUSE daemon (the kernel has nothing of ours to write back), so
 * `sync` first calls syncfs(2) on the mount, which sends the kernel's dirty pages (shared
 * writable mmaps) to the daemon, then sets FS_CTL_SYNC, which returns once the daemon has
 * made everything durable. Where setting is refused (a read-only mount, or a caller who may
 * not write the root), reading FS_CTL_SYNC does the same.
 *
 * Exit status: 0 success; 1 failure (the reason on stderr); 2 `durable`: some file is not
 * durable yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs_ctl.h"

#ifndef FROZENFS_VERSION
#define FROZENFS_VERSION "unknown"
#endif

static void usage(FILE *out)
{
	fprintf(out,
"usage: frozenfs-ctl status MOUNTPOINT        show the state of the mount's write pipeline\n"
"       frozenfs-ctl sync MOUNTPOINT          make everything written so far durable\n"
"       frozenfs-ctl wait MOUNTPOINT EPOCH    wait until epoch EPOCH is durable\n"
"       frozenfs-ctl durable FILE...          tell whether each file's data is durable\n"
"       frozenfs-ctl -h | --help | -V | --version\n");
}

static int fail(const char *what, const char *path, int err)
{
	fprintf(stderr, "frozenfs-ctl: %s %s: %s\n", what, path, strerror(err));
	return 1;
}

/* The root of the mount holding @path, malloc'd; NULL with errno set. */
static char *mount_root(const char *path)
{
	struct stat st, up;
	char *dir = realpath(path, NULL), *parent, *slash;
	int e;

	if (!dir)
		return NULL;
	if (stat(dir, &st) < 0)
		goto fail;
	while (strcmp(dir, "/") != 0) {
		slash = strrchr(dir, '/');
		parent = strndup(dir, slash == dir ? 1 : (size_t)(slash - dir));
		if (!parent)
			goto fail;
		if (stat(parent, &up) < 0) {
			free(parent);
			goto fail;
		}
		if (up.st_dev != st.st_dev) {
			free(parent);
			break;
		}
		free(dir);
		dir = parent;
		st = up;
	}
	return dir;
fail:
	e = errno;
	free(dir);
	errno = e;
	return NULL;
}

/* Reads attribute @name of @path into a malloc'd NUL-terminated string; NULL with errno. */
static char *get_attr(const char *path, const char *name)
{
	char *buf = malloc(FS_CTL_VALUE_MAX + 1);
	ssize_t n;

	if (!buf)
		return NULL;
	n = getxattr(path, name, buf, FS_CTL_VALUE_MAX);
	if (n < 0) {
		int e = errno;

		free(buf);
		errno = e;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* The status text of the mount whose root is @root; explains a non-frozenfs mount. */
static char *get_status(const char *root)
{
	char *s = get_attr(root, FS_CTL_STATUS);

	if (!s && (errno == ENODATA || errno == ENOTSUP))
		fprintf(stderr, "frozenfs-ctl: %s is not a frozenfs mount\n", root);
	else if (!s)
		fail("reading the status of", root, errno);
	return s;
}

/* The number after "@key: " in status text @s, or -1 if absent. */
static long long status_num(const char *s, const char *key)
{
	size_t k = strlen(key);

	for (const char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : l)
		if (strncmp(l, key, k) == 0 && l[k] == ':')
			return strtoll(l + k + 1, NULL, 10);
	return -1;
}

/* After a refused sync or wait: print the files with a sticky error. */
static void print_errors(const char *root)
{
	char *s = get_attr(root, FS_CTL_STATUS);

	if (!s)
		return;
	for (char *l = strtok(s, "\n"); l; l = strtok(NULL, "\n"))
		if (strncmp(l, "error: ", 7) == 0)
			fprintf(stderr, "frozenfs-ctl: %s\n", l);
	free(s);
}

static int cmd_status(const char *root)
{
	char *s = get_status(root);

	if (!s)
		return 1;
	fputs(s, stdout);
	free(s);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The daemon-side barrier: set FS_CTL_SYNC, or read it where setting is refused. */
static int daemon_sync(const char *root)
{
	char buf[64];

	if (setxattr(root, FS_CTL_SYNC, "", 0, 0) == 0)
		return 0;
	if (errno != EROFS && errno != EACCES && errno != EPERM)
		return -errno;
	return getxattr(root, FS_CTL_SYNC, buf, sizeof(buf)) < 0 ? -errno : 0;
}

static int sync_failed(const char *root, int err)
{
	if (err == EIO) {
		fprintf(stderr, "frozenfs-ctl: %s: some data could not be made durable\n", root);
		print_errors(root);
		return 1;
	}
	return fail("sync of", root, err);
}

static int cmd_sync(const char *root)
{
	char *s = get_status(root);
	int fd, rc;

	if (!s)
		return 1;
	free(s);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail("open", root, errno);
	rc = syncfs(fd);	/* the kernel's dirty pages (mmap) first */
	close(fd);
	if (rc < 0 && errno != ENOSYS)
		return fail("syncfs", root, errno);
	rc = daemon_sync(root);
	return rc < 0 ? sync_failed(root, -rc) : 0;
}

static int cmd_wait(const char *root, const char *arg)
{
	unsigned long long e;
	long long open_epoch, durable;
	char *end, *s;
	int rc;

	errno = 0;
	e = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-') {
		fprintf(stderr, "frozenfs-ctl: invalid epoch '%s': must be a whole number\n", arg);
		return 1;
	}
	s = get_status(root);
	if (!s)
		return 1;
	durable = status_num(s, "durable_epoch");
	open_epoch = status_num(s, "open_epoch");
	free(s);
	if (setxattr(root, FS_CTL_WAIT, arg, strlen(arg), 0) == 0)
		return 0;
	rc = errno;
	if (rc == EROFS || rc == EACCES || rc == EPERM) {
		/* Cannot set attributes here: the sync barrier covers every open epoch. */
		if (durable >= 0 && e <= (unsigned long long)durable)
			return 0;
		if (open_epoch >= 0 && e > (unsigned long long)open_epoch)
			rc = ERANGE;
		else
			rc = -daemon_sync(root);
		if (rc == 0)
			return 0;
	}
	if (rc == ERANGE) {
		fprintf(stderr, "frozenfs-ctl: epoch %llu is not open yet on %s "
			"(open epoch: %lld)\n", e, root, open_epoch);
		return 1;
	}
	return sync_failed(root, rc);
}

static int cmd_durable(int n, char **files)
{
	int ret = 0;

	for (int k = 0; k < n; k++) {
		char *v = get_attr(files[k], FS_CTL_DURABLE);

		if (!v) {
			if (errno == ENODATA || errno == ENOTSUP)
				fprintf(stderr, "frozenfs-ctl: %s: not a regular file on "
					"a frozenfs mount\n", files[k]);
			else
				fail("reading the durability of", files[k], errno);
			ret = 1;
			continue;
		}
		printf("%s: %s\n", files[k], v);
		if (strncmp(v, "yes ", 4) != 0 && ret == 0)
			ret = strncmp(v, "no ", 3) == 0 ? 2 : 1;
		free(v);
	}
	return fflush(stdout) == 0 ? ret : 1;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	char *root;
	int ret;

	if (!cmd) {
		usage(stderr);
		return 1;
	}
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("frozenfs-ctl version %s\n", FROZENFS_VERSION);
		return 0;
	}
	if (strcmp(cmd, "durable") == 0 && argc > 2)
		return cmd_durable(argc - 2, argv + 2);
	if (!((strcmp(cmd, "status") == 0 && argc == 3) ||
	      (strcmp(cmd, "sync") == 0 && argc == 3) ||
	      (strcmp(cmd, "wait") == 0 && argc == 4))) {
		usage(stderr);
		return 1;
	}
	root = mount_root(argv[2]);
	if (!root)
		return fail("cannot resolve", argv[2], errno);
	if (strcmp(cmd, "status") == 0)
		ret = cmd_status(root);
	else if (strcmp(cmd, "sync") == 0)
		ret = cmd_sync(root);
	else
		ret = cmd_wait(root, argv[3]);
	free(root);
	return ret;
}
