/*
 * fs_mounts: see fs_mounts.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_mounts.h"

#define MAX_NAMESPACES 512

/* One line of mountinfo: "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT ...". */
struct mline {
	long id, parent;
	unsigned major, minor;
	char *root, *mp;	/* unescaped, malloc'd */
};

/* Copies the first space-delimited field of @s, decoding the kernel's \ooo escapes. */
static char *field_dup(const char *s, const char **end)
{
	size_t n = strcspn(s, " \n");
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t k = 0; k < n; k++) {
		if (s[k] == '\\' && k + 3 < n && s[k + 1] >= '0' && s[k + 1] <= '3' &&
		    s[k + 2] >= '0' && s[k + 2] <= '7' && s[k + 3] >= '0' && s[k + 3] <= '7') {
			*o++ = (char)((s[k + 1] - '0') * 64 + (s[k + 2] - '0') * 8 + (s[k + 3] - '0'));
			k += 3;
		} else {
			*o++ = s[k];
		}
	}
	*o = '\0';
	*end = s + n;
	return out;
}

static bool parse_line(const char *line, struct mline *m)
{
	const char *p;
	int used = 0;

	m->root = m->mp = NULL;
	if (sscanf(line, "%ld %ld %u:%u %n", &m->id, &m->parent, &m->major, &m->minor,
		   &used) != 4 || !used)
		return false;
	p = line + used;
	m->root = field_dup(p, &p);
	if (!m->root || *p != ' ')
		goto bad;
	m->mp = field_dup(p + 1, &p);
	if (!m->mp)
		goto bad;
	return true;
bad:
	free(m->root);
	free(m->mp);
	m->root = m->mp = NULL;
	return false;
}

/* Parses every line of @text; *n gets the count. NULL only when out of memory. */
static struct mline *parse_all(const char *text, size_t *n)
{
	struct mline *a = NULL;
	size_t cap = 0;

	*n = 0;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		struct mline m;

		if (parse_line(line, &m)) {
			if (*n == cap) {
				struct mline *b = realloc(a, (cap ? 2 * cap : 32) * sizeof(*a));

				if (!b) {
					free(m.root);
					free(m.mp);
					break;
				}
				a = b;
				cap = cap ? 2 * cap : 32;
			}
			a[(*n)++] = m;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	if (!a)
		a = malloc(sizeof(*a));
	return a;
}

static void free_all(struct mline *a, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(a[k].root);
		free(a[k].mp);
	}
	free(a);
}

int fs_mountinfo_dev(const char *text, const char *mountpoint, unsigned *major,
		     unsigned *minor)
{
	size_t n;
	struct mline *a = parse_all(text, &n);
	int rc = -ENOENT;

	if (!a)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		if (strcmp(a[k].mp, mountpoint) == 0) {
			*major = a[k].major;
			*minor = a[k].minor;
			rc = 0;
		}
	free_all(a, n);
	return rc;
}

size_t fs_mountinfo_covered(const char *text, unsigned major, unsigned minor,
			    void (*cb)(const char *path, void *arg), void *arg)
{
	size_t n, calls = 0;
	struct mline *a = parse_all(text, &n);

	if (!a)
		return 0;
	for (size_t k = 0; k < n; k++) {
		const struct mline *m = &a[k], *par = NULL;
		const char *rel;
		char *path;
		size_t lp;

		for (size_t j = 0; j < n; j++)
			if (a[j].id == m->parent && j != k) {
				par = &a[j];
				break;
			}
		if (!par || par->major != major || par->minor != minor)
			continue;
		/* M's mount point relative to P's: P at "/" keeps it whole. */
		lp = strcmp(par->mp, "/") == 0 ? 0 : strlen(par->mp);
		if (strncmp(m->mp, par->mp, lp) != 0 || (m->mp[lp] != '/' && m->mp[lp] != '\0'))
			continue;
		rel = m->mp + lp;
		/* ...joined with P's root inside the filesystem. */
		if (asprintf(&path, "%s%s", strcmp(par->root, "/") == 0 ? "" : par->root, rel) < 0)
			continue;
		cb(path + strspn(path, "/"), arg);
		calls++;
		free(path);
	}
	free_all(a, n);
	return calls;
}

/* Reads a whole /proc file (size 0 in stat) into a NUL-terminated buffer. */
static char *read_proc(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 16384;
	char *buf;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	while (buf) {
		ssize_t r;

		if (len + 1 >= cap) {
			char *b = realloc(buf, cap * 2);

			if (!b) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = b;
			cap *= 2;
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r < 0) {
				free(buf);
				buf = NULL;
			}
			break;
		}
		len += (size_t)r;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

int fs_mounts_self_dev(const char *mountpoint, unsigned *major, unsigned *minor)
{
	char *text = read_proc(AT_FDCWD, "/proc/self/mountinfo");
	int rc;

	if (!text)
		return -errno ? -errno : -EIO;
	rc = fs_mountinfo_dev(text, mountpoint, major, minor);
	free(text);
	return rc;
}

/* A /proc entry naming a process or thread (the rest are files like "self" or "meminfo"). */
static bool is_pid(const char *name)
{
	return name[0] >= '1' && name[0] <= '9';
}

/* A directory stream for @path under @dirfd, or NULL. */
static DIR *opendir_at(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0)
		close(fd);
	return d;
}

static int id_cmp(const void *a, const void *b)
{
	const struct fs_file_id *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->dev < y->dev ? -1 : x->dev > y->dev;
}

void fs_file_id_sort(struct fs_file_id *ids, size_t n)
{
	qsort(ids, n, sizeof(*ids), id_cmp);
}

struct collect {
	int dirfd;
	struct fs_file_id *out;
	size_t max, n;
};

static size_t id_add(struct fs_file_id *out, size_t n, size_t max, dev_t dev, ino_t ino)
{
	for (size_t k = 0; k < n; k++)
		if (out[k].dev == dev && out[k].ino == ino)
			return n;
	if (n < max) {
		out[n].dev = dev;
		out[n].ino = ino;
		n++;
	}
	return n;
}

size_t fs_mounts_add_path(int dirfd, const char *path, struct fs_file_id *out, size_t n,
			  size_t max)
{
	char *p = strdup(path), *slash;
	struct stat st;

	if (!p)
		return n;
	for (slash = p; *p;) {
		slash = strchr(slash, '/');
		if (slash)
			*slash = '\0';
		if (fstatat(dirfd, p, &st, AT_SYMLINK_NOFOLLOW) == 0)
			n = id_add(out, n, max, st.st_dev, st.st_ino);
		if (!slash)
			break;
		*slash++ = '/';
	}
	free(p);
	return n;
}

static void collect_cb(const char *path, void *arg)
{
	struct collect *c = arg;

	c->n = fs_mounts_add_path(c->dirfd, path, c->out, c->n, c->max);
}

/* The namespace's number from a /proc/PID/ns/mnt link ("mnt:[4026531841]"), or 0. */
static unsigned long long ns_id(int procfd, const char *pid)
{
	char path[64], link[64];
	ssize_t r;

	snprintf(path, sizeof(path), "%s/ns/mnt", pid);
	r = readlinkat(procfd, path, link, sizeof(link) - 1);
	if (r <= 0)
		return 0;
	link[r] = '\0';
	return strtoull(link + strcspn(link, "0123456789"), NULL, 10);
}

struct ns_seen {
	unsigned long long id[MAX_NAMESPACES];
	size_t n;
};

/* Reads the mountinfo of process @pid unless its mount namespace was read already. */
static void scan_ns(int procfd, const char *pid, struct ns_seen *seen, unsigned major,
		    unsigned minor, struct collect *c)
{
	unsigned long long ns = ns_id(procfd, pid);
	char path[64];
	char *text;

	if (!ns || seen->n == MAX_NAMESPACES)
		return;
	for (size_t k = 0; k < seen->n; k++)
		if (seen->id[k] == ns)
			return;
	seen->id[seen->n++] = ns;
	snprintf(path, sizeof(path), "%s/mountinfo", pid);
	text = read_proc(procfd, path);
	if (text) {
		fs_mountinfo_covered(text, major, minor, collect_cb, c);
		free(text);
	}
}

size_t fs_mounts_covered(int backing_dirfd, unsigned major, unsigned minor,
			 struct fs_file_id *out, size_t max)
{
	struct collect c = { .dirfd = backing_dirfd, .out = out, .max = max, .n = 0 };
	struct ns_seen seen = { .n = 0 };
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (procfd < 0)
		return 0;
	scan_ns(procfd, "self", &seen, major, minor, &c);
	d = opendir_at(procfd, ".");
	while (d && c.n < max && (de = readdir(d)))
		if (is_pid(de->d_name))
			scan_ns(procfd, de->d_name, &seen, major, minor, &c);
	if (d)
		closedir(d);
	close(procfd);
	return c.n;
}

/* Adds @dir/@what ("cwd", "root" of a task) if it leads into device @major:@minor. */
static void pin_link(int dirfd, const char *dir, const char *what, unsigned major,
		     unsigned minor, struct collect *c)
{
	char path[NAME_MAX + 16];
	struct statx stx;

	snprintf(path, sizeof(path), "%s/%s", dir, what);
	if (statx(dirfd, path, AT_STATX_DONT_SYNC, STATX_INO, &stx) == 0 &&
	    stx.stx_dev_major == major && stx.stx_dev_minor == minor)
		c->n = id_add(c->out, c->n, c->max, FS_DEV_ANY, (ino_t)stx.stx_ino);
}

/* Every thread of process @pid: a thread that called unshare(CLONE_FS) has its own cwd. */
static void pin_process(int procfd, const char *pid, unsigned major, unsigned minor,
			struct collect *c)
{
	char path[NAME_MAX + 16];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/task", pid);
	d = opendir_at(procfd, path);
	if (!d) {
		pin_link(procfd, pid, "cwd", major, minor, c);
		pin_link(procfd, pid, "root", major, minor, c);
		return;
	}
	while (c->n < c->max && (de = readdir(d)))
		if (is_pid(de->d_name)) {
			pin_link(dirfd(d), de->d_name, "cwd", major, minor, c);
			pin_link(dirfd(d), de->d_name, "root", major, minor, c);
		}
	closedir(d);
}

size_t fs_procs_pinned(unsigned major, unsigned minor, struct fs_file_id *out, size_t max)
{
	struct collect c = { .dirfd = -1, .out = out, .max = max, .n = 0 };
	int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (procfd < 0)
		return 0;
	d = opendir_at(procfd, ".");
	while (d && c.n < max && (de = readdir(d)))
		if (is_pid(de->d_name))
			pin_process(procfd, de->d_name, major, minor, &c);
	if (d)
		closedir(d);
	close(procfd);
	return c.n;
}
