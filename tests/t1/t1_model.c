/*
 * t1_model: from a FROZENFS_IOREC log to checked crash states (DURABILITY.md 4.1, T1).
 *
 * DESIGN
 *
 * Persistence model of the backing filesystem (ALICE-style, per object, deliberately weaker
 * than ext4): a file's data and length are durable up to its last fdatasync/fsync; a
 * directory's entries up to its last fsync. "Up to" a sync means every record logged before
 * the sync's begin record (core/iorec.h: such a call had completed when the sync started).
 * Nothing else is durable: in particular an fsync of a file does not persist its name, which
 * ext4 would; the daemon must fsync the parent itself (requirement 27).
 *
 * Crash points of a workload: just before the end of each successful sync in its window,
 * just after each acknowledgement the workload received, and after its end. At a crash
 * point the base state is everything durable then; the states checked are the base plus
 *   - each single not-yet-durable operation logged before the point, applied on top
 *     (a rename or unlink only if its source entry is there);
 *   - the last such pwrite of each file torn at 4 KiB boundaries: one block alone, or all
 *     blocks but one;
 *   - for each such pwrite past the durable length: the new length with zeros (size
 *     persisted, data not).
 * Identical states at one crash point are checked once.
 *
 * Each state is materialised as a real store (superblock copied, W's tree created with hard
 * links where inodes are shared), read back directly (the layout is the identity, so the
 * backing tree is the logical tree) and, for a sample, through two frozenfs mounts. The
 * check (section 4.2, rules 2 to 7) compares it with the logical states S_0..S_n and the
 * acknowledgements received before the crash point:
 *   names: a path P may hold any object (or nothing) that P held in a state S_m with
 *     m0 <= m <= last, where last is the last operation started before the crash and m0 the
 *     newest acknowledgement covering P: an fsync of P's directory (rules 3, 7), or an
 *     fsync/fdatasync of the object P named then (requirement 27). That is also rename
 *     atomicity (rule 6): only whole old or new objects, and no name nobody made.
 *   data: every byte of a file found must equal that byte in some S_m, m0 <= m <= last, or
 *     be zero where that state's file was shorter; m0 is the newest fsync/fdatasync of that
 *     file (rules 2, 4, 7). Its length must lie within those states' lengths (rule 5).
 */
#include "t1.h"
#include "fstest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/falloc.h>

#define BLOCK	4096
#define MAXD	8

static const char *op_names[] = { "create", "write", "append", "truncate", "fallocate", "link",
				  "rename", "unlink", "mkdir" };
static const char *sync_names[] = { "fsync", "fdatasync", "dirfsync", "O_DSYNC" };

const char *t1_op_name(int op) { return op_names[op]; }
const char *t1_sync_name(int sync) { return sync_names[sync]; }

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		ft_fail("out of memory");
	return p;
}

/* ---- views ---- */

void t1_view_free(struct t1_view *v)
{
	int k;

	for (k = 0; k < v->nf; k++)
		free(v->f[k].data);
	v->nf = v->ne = 0;
}

void t1_view_copy(struct t1_view *dst, const struct t1_view *src)
{
	int k;

	*dst = *src;
	for (k = 0; k < src->nf; k++) {
		dst->f[k].data = NULL;
		if (src->f[k].size) {
			dst->f[k].data = xmalloc(src->f[k].size);
			memcpy(dst->f[k].data, src->f[k].data, src->f[k].size);
		}
	}
}

const struct t1_ent *t1_view_ent(const struct t1_view *v, const char *path)
{
	int k;

	for (k = 0; k < v->ne; k++)
		if (strcmp(v->e[k].path, path) == 0)
			return &v->e[k];
	return NULL;
}

const struct t1_file *t1_view_file(const struct t1_view *v, uint64_t ino)
{
	int k;

	for (k = 0; k < v->nf; k++)
		if (v->f[k].ino == ino)
			return &v->f[k];
	return NULL;
}

void t1_view_set_file(struct t1_view *v, uint64_t ino, const uint8_t *data, size_t size)
{
	struct t1_file *f = (struct t1_file *)t1_view_file(v, ino);

	if (!f) {
		if (v->nf == T1_MAXV)
			ft_fail("t1: more than %d files in a view", T1_MAXV);
		f = &v->f[v->nf++];
		f->ino = ino;
	} else {
		free(f->data);
	}
	f->size = size;
	f->data = NULL;
	if (size) {
		f->data = xmalloc(size);
		memcpy(f->data, data, size);
	}
}

void t1_view_add_ent(struct t1_view *v, const char *path, uint64_t ino, int isdir)
{
	if (v->ne == T1_MAXV)
		ft_fail("t1: more than %d entries in a view", T1_MAXV);
	if (strlen(path) >= T1_PATH)
		ft_fail("t1: path too long: %s", path);
	snprintf(v->e[v->ne].path, T1_PATH, "%s", path);
	v->e[v->ne].ino = ino;
	v->e[v->ne].isdir = isdir;
	v->ne++;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct t1_ent *)a)->path, ((const struct t1_ent *)b)->path);
}

void t1_view_sort(struct t1_view *v)
{
	qsort(v->e, (size_t)v->ne, sizeof(v->e[0]), ent_cmp);
}

int t1_view_diff(const struct t1_view *a, const struct t1_view *b, char *why, size_t len)
{
	int k;

	if (a->ne != b->ne) {
		snprintf(why, len, "%d entries vs %d", a->ne, b->ne);
		return 1;
	}
	for (k = 0; k < a->ne; k++) {
		const struct t1_ent *x = &a->e[k], *y = t1_view_ent(b, a->e[k].path);
		const struct t1_file *fx, *fy;

		if (!y || y->ino != x->ino || y->isdir != x->isdir) {
			snprintf(why, len, "%s: inode %" PRIu64 " vs %s", x->path, x->ino,
				 y ? "another" : "missing");
			return 1;
		}
		if (x->isdir)
			continue;
		fx = t1_view_file(a, x->ino);
		fy = t1_view_file(b, x->ino);
		if (!fx || !fy || fx->size != fy->size ||
		    (fx->size && memcmp(fx->data, fy->data, fx->size) != 0)) {
			snprintf(why, len, "%s: content differs (%zu vs %zu bytes)", x->path,
				 fx ? fx->size : 0, fy ? fy->size : 0);
			return 1;
		}
	}
	return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--) {
		h ^= *b++;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Entries must be sorted. */
static uint64_t view_hash(const struct t1_view *v)
{
	uint64_t h = 0xcbf29ce484222325ull;
	int k;

	for (k = 0; k < v->ne; k++) {
		const struct t1_file *f;

		h = fnv(h, v->e[k].path, strlen(v->e[k].path) + 1);
		h = fnv(h, &v->e[k].ino, sizeof(v->e[k].ino));
		h = fnv(h, &v->e[k].isdir, sizeof(v->e[k].isdir));
		f = v->e[k].isdir ? NULL : t1_view_file(v, v->e[k].ino);
		if (f) {
			h = fnv(h, &f->size, sizeof(f->size));
			h = fnv(h, f->data, f->size);
		}
	}
	return h;
}

/* ---- the log ---- */

static const char *rec_ops[] = { "pwrite", "ftruncate", "fallocate", "futimens", "sync",
				 "create", "mkdir", "mknod", "symlink", "link", "unlink",
				 "rename" };

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void unescape(char *dst, size_t len, const char *s, size_t n)
{
	size_t o = 0, k;

	if (n == 1 && s[0] == '-')
		n = 0;		/* the empty string; a real "-" comes as %2d */
	for (k = 0; k < n && o + 1 < len; k++) {
		if (s[k] == '%' && k + 2 < n && hexval(s[k + 1]) >= 0 &&
		    hexval(s[k + 2]) >= 0) {
			dst[o++] = (char)(hexval(s[k + 1]) * 16 + hexval(s[k + 2]));
			k += 2;
		} else {
			dst[o++] = s[k];
		}
	}
	dst[o] = '\0';
}

static void parse_line(char *line, struct t1_rec *r, size_t lineno)
{
	char *p = line, *tok, *val;
	size_t vlen, k;

	memset(r, 0, sizeof(*r));
	r->op = -1;
	while (*p) {
		tok = p;
		p = strchr(p, ' ');
		if (p)
			*p++ = '\0';
		else
			p = tok + strlen(tok);
		val = strchr(tok, '=');
		if (!val)
			ft_fail("t1: log line %zu: field without '=': %s", lineno, tok);
		*val++ = '\0';
		vlen = strlen(val);
		if (strcmp(tok, "seq") == 0) {
			r->seq = strtoull(val, NULL, 10);
		} else if (strcmp(tok, "ns") == 0) {
			r->ns = strtoull(val, NULL, 10);
		} else if (strcmp(tok, "op") == 0) {
			for (k = 0; k < R_NOPS; k++)
				if (strcmp(val, rec_ops[k]) == 0)
					r->op = (int)k;
		} else if (strcmp(tok, "res") == 0) {
			r->res = strtoll(val, NULL, 10);
		} else if (strcmp(tok, "ino") == 0) {
			r->ino = strtoull(val, NULL, 10);
		} else if (strcmp(tok, "dino") == 0) {
			r->dino = strtoull(val, NULL, 10);
		} else if (strcmp(tok, "ndino") == 0) {
			r->ndino = strtoull(val, NULL, 10);
		} else if (strcmp(tok, "nino") == 0) {
			r->nino = strtoull(val, NULL, 10);
		} else if (strcmp(tok, "begin") == 0) {
			r->begin = strtoull(val, NULL, 10);
		} else if (strcmp(tok, "name") == 0) {
			unescape(r->name, sizeof(r->name), val, vlen);
		} else if (strcmp(tok, "nname") == 0) {
			unescape(r->nname, sizeof(r->nname), val, vlen);
		} else if (strcmp(tok, "off") == 0) {
			r->off = strtoll(val, NULL, 10);
		} else if (strcmp(tok, "len") == 0) {
			r->len = strtoll(val, NULL, 10);
		} else if (strcmp(tok, "mode") == 0) {
			r->mode = atoi(val);
		} else if (strcmp(tok, "flags") == 0) {
			r->flags = atoi(val);
		} else if (strcmp(tok, "dir") == 0) {
			r->isdir = atoi(val);
		} else if (strcmp(tok, "kind") == 0) {
			r->datasync = strcmp(val, "fdatasync") == 0;
		} else if (strcmp(tok, "phase") == 0) {
			r->end = strcmp(val, "end") == 0;
		} else if (strcmp(tok, "data") == 0) {
			if (vlen % 2)
				ft_fail("t1: log line %zu: odd payload length", lineno);
			r->data = xmalloc(vlen / 2);
			for (k = 0; k < vlen / 2; k++) {
				int hi = hexval(val[2 * k]), lo = hexval(val[2 * k + 1]);

				if (hi < 0 || lo < 0)
					ft_fail("t1: log line %zu: bad payload", lineno);
				r->data[k] = (uint8_t)(hi * 16 + lo);
			}
		}
		/* path, dpath, ndpath: for people reading the log; the replay uses inodes */
	}
	if (r->op < 0)
		ft_fail("t1: log line %zu: unknown or missing op", lineno);
	if (r->op == R_PWRITE && r->res > 0 && (!r->data || r->len != r->res))
		ft_fail("t1: log line %zu: pwrite payload does not match its length", lineno);
}

void t1_log_update(const char *path, struct t1_log *log)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, alloc = 0, k;
	ssize_t n;

	if (!f)
		ft_fail("t1: open %s: %s", path, strerror(errno));
	for (k = 0; k < log->n; k++)
		free(log->r[k].data);
	free(log->r);
	log->r = NULL;
	log->n = 0;
	if (!log->next_seq)
		log->next_seq = 1;
	if (fseek(f, log->off, SEEK_SET) < 0)
		ft_fail("t1: seek %s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;	/* being written: next time */
		log->off += n;
		line[--n] = '\0';
		if (n == 0)
			continue;
		if (log->n == alloc) {
			alloc = alloc ? 2 * alloc : 4096;
			log->r = realloc(log->r, alloc * sizeof(*log->r));
			if (!log->r)
				ft_fail("out of memory");
		}
		parse_line(line, &log->r[log->n], (size_t)log->next_seq);
		if (log->r[log->n].seq != log->next_seq)
			ft_fail("t1: log record %" PRIu64 " where %" PRIu64 " was due (records lost?)",
				log->r[log->n].seq, log->next_seq);
		log->next_seq++;
		log->n++;
	}
	free(line);
	fclose(f);
}

void t1_log_free(struct t1_log *log)
{
	size_t k;

	for (k = 0; k < log->n; k++)
		free(log->r[k].data);
	free(log->r);
	log->r = NULL;
	log->n = 0;
}

/* ---- backing state model ---- */

struct bent {
	char name[T1_PATH];
	uint64_t ino;
};

struct bdir {
	uint64_t ino;
	int n;
	struct bent e[T1_MAXV];
};

struct bstate {
	int nd, nf;
	struct bdir d[MAXD];
	struct t1_file f[T1_MAXV];	/* content of every known regular file */
};

static void bs_free(struct bstate *s)
{
	int k;

	for (k = 0; k < s->nf; k++)
		free(s->f[k].data);
	s->nf = s->nd = 0;
}

static void bs_copy(struct bstate *dst, const struct bstate *src)
{
	int k;

	memcpy(dst, src, sizeof(*dst));
	for (k = 0; k < src->nf; k++) {
		dst->f[k].data = NULL;
		if (src->f[k].size) {
			dst->f[k].data = xmalloc(src->f[k].size);
			memcpy(dst->f[k].data, src->f[k].data, src->f[k].size);
		}
	}
}

static struct t1_file *bs_file(struct bstate *s, uint64_t ino)
{
	int k;

	for (k = 0; k < s->nf; k++)
		if (s->f[k].ino == ino)
			return &s->f[k];
	return NULL;
}

static struct bdir *bs_dir(struct bstate *s, uint64_t ino)
{
	int k;

	for (k = 0; k < s->nd; k++)
		if (s->d[k].ino == ino)
			return &s->d[k];
	return NULL;
}

static void file_resize(struct t1_file *f, size_t size)
{
	if (size > f->size) {
		uint8_t *d = realloc(f->data, size);

		if (!d)
			ft_fail("out of memory");
		memset(d + f->size, 0, size - f->size);
		f->data = d;
	}
	f->size = size;
}

static void file_write(struct t1_file *f, size_t off, const uint8_t *d, size_t len)
{
	if (off + len > f->size)
		file_resize(f, off + len);
	memcpy(f->data + off, d, len);
}

static void dir_del(struct bdir *d, const char *name)
{
	int k;

	for (k = 0; k < d->n; k++) {
		if (strcmp(d->e[k].name, name) == 0) {
			d->e[k] = d->e[--d->n];
			return;
		}
	}
}

static void dir_set(struct bdir *d, const char *name, uint64_t ino)
{
	int k;

	for (k = 0; k < d->n; k++) {
		if (strcmp(d->e[k].name, name) == 0) {
			d->e[k].ino = ino;
			return;
		}
	}
	if (d->n == T1_MAXV)
		ft_fail("t1: directory too large");
	snprintf(d->e[d->n].name, T1_PATH, "%s", name);
	d->e[d->n++].ino = ino;
}

static uint64_t dir_get(const struct bdir *d, const char *name)
{
	int k;

	for (k = 0; k < d->n; k++)
		if (strcmp(d->e[k].name, name) == 0)
			return d->e[k].ino;
	return 0;
}

/* The objects (one or two) whose durability covers record @r. */
static int rec_objs(const struct t1_rec *r, uint64_t objs[2])
{
	switch (r->op) {
	case R_PWRITE:
	case R_FTRUNCATE:
	case R_FALLOCATE:
		objs[0] = r->ino;
		return 1;
	case R_RENAME:
		objs[0] = r->dino;
		objs[1] = r->ndino;
		return r->dino == r->ndino ? 1 : 2;
	default:
		objs[0] = r->dino;
		return 1;
	}
}

/* Applies the part of @r that changes object @only (0: every part). */
static void apply(struct bstate *s, const struct t1_rec *r, uint64_t only)
{
	struct t1_file *f = NULL;
	struct bdir *d;

	if (r->op <= R_FALLOCATE) {
		if (only && only != r->ino)
			return;
		f = bs_file(s, r->ino);
		if (!f)
			return;
	}
	switch (r->op) {
	case R_PWRITE:
		file_write(f, (size_t)r->off, r->data, (size_t)r->len);
		break;
	case R_FTRUNCATE:
		file_resize(f, (size_t)r->len);
		break;
	case R_FALLOCATE: {
		size_t end = (size_t)(r->off + r->len);

		if (r->mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
			size_t lim = end < f->size ? end : f->size;

			if ((size_t)r->off < lim)
				memset(f->data + r->off, 0, lim - (size_t)r->off);
		}
		if (!(r->mode & FALLOC_FL_KEEP_SIZE) && end > f->size)
			file_resize(f, end);
		break;
	}
	case R_CREATE:
	case R_MKDIR:
	case R_MKNOD:
	case R_SYMLINK:
	case R_LINK:
		d = bs_dir(s, r->dino);
		if (d && (!only || only == r->dino))
			dir_set(d, r->name, r->ino);
		break;
	case R_UNLINK:
		d = bs_dir(s, r->dino);
		if (d && (!only || only == r->dino))
			dir_del(d, r->name);
		break;
	case R_RENAME:
		d = bs_dir(s, r->dino);
		if (d && (!only || only == r->dino)) {
			if (r->flags & RENAME_EXCHANGE)
				dir_set(d, r->name, r->nino);
			else
				dir_del(d, r->name);
		}
		d = bs_dir(s, r->ndino);
		if (d && (!only || only == r->ndino))
			dir_set(d, r->nname, r->ino);
		break;
	default:
		break;
	}
}

/* A state's tree below W, as a view (entries sorted). */
static void bs_walk(const struct bstate *s, uint64_t dino, const char *prefix, int depth,
		    struct t1_view *v)
{
	const struct bdir *d = bs_dir((struct bstate *)s, dino);
	char path[T1_PATH * 2];
	int k;

	if (!d || depth > 6)
		return;
	for (k = 0; k < d->n; k++) {
		const struct t1_file *f;
		int isdir = bs_dir((struct bstate *)s, d->e[k].ino) != NULL;

		ft_pathf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "/" : "", d->e[k].name);
		t1_view_add_ent(v, path, d->e[k].ino, isdir);
		if (isdir) {
			bs_walk(s, d->e[k].ino, path, depth + 1, v);
		} else if (!t1_view_file(v, d->e[k].ino)) {
			f = bs_file((struct bstate *)s, d->e[k].ino);
			if (f)
				t1_view_set_file(v, f->ino, f->data, f->size);
			else
				t1_view_set_file(v, d->e[k].ino, NULL, 0);
		}
	}
}

/* ---- materialising and reading back ---- */


struct inomap {
	int n;
	uint64_t from[T1_MAXV], to[T1_MAXV];
};

static struct inomap imap;	/* materialised inode -> original inode, for the last state */

static uint64_t map_ino(uint64_t ino)
{
	int k;

	for (k = 0; k < imap.n; k++)
		if (imap.from[k] == ino)
			return imap.to[k];
	return ino | (1ull << 63);	/* not ours: can match nothing in the model */
}

static int rm_strict;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((flag == FTW_DP ? rmdir(p) : unlink(p)) < 0 && rm_strict)
		ft_fail("t1: remove %s: %s", p, strerror(errno));
	return 0;
}

void t1_rm_tree(const char *path, int strict)
{
	rm_strict = strict;
	if (access(path, F_OK) == 0)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void rm_tree(const char *path)
{
	t1_rm_tree(path, 1);
}

static void write_all(int fd, const uint8_t *b, size_t n, const char *what)
{
	while (n) {
		ssize_t r = write(fd, b, n);

		if (r <= 0)
			ft_fail("t1: write %s: %s", what, strerror(errno));
		b += r;
		n -= (size_t)r;
	}
}

static void materialise(const struct t1_env *env, const char *root, const char *wdir,
			const struct t1_view *v)
{
	char p[PATH_MAX], first[PATH_MAX];
	struct stat st;
	int k, j, fd;

	rm_tree(root);
	if (mkdir(root, 0755) < 0)
		ft_fail("t1: mkdir %s: %s", root, strerror(errno));
	ft_pathf(p, sizeof(p), "%s/.frozenfs", root);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		ft_fail("t1: create %s: %s", p, strerror(errno));
	write_all(fd, env->sb, env->sblen, p);
	close(fd);
	ft_pathf(p, sizeof(p), "%s/%s", root, wdir);
	if (mkdir(p, 0755) < 0)
		ft_fail("t1: mkdir %s: %s", p, strerror(errno));
	imap.n = 0;
	for (k = 0; k < v->ne; k++) {
		const struct t1_ent *e = &v->e[k];

		ft_pathf(p, sizeof(p), "%s/%s/%s", root, wdir, e->path);
		if (e->isdir) {
			if (mkdir(p, 0755) < 0)
				ft_fail("t1: mkdir %s: %s", p, strerror(errno));
			continue;
		}
		for (j = 0; j < k; j++)
			if (v->e[j].ino == e->ino)
				break;
		if (j < k) {
			ft_pathf(first, sizeof(first), "%s/%s/%s", root, wdir, v->e[j].path);
			if (link(first, p) < 0)
				ft_fail("t1: link %s: %s", p, strerror(errno));
			continue;
		}
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			ft_fail("t1: create %s: %s", p, strerror(errno));
		{
			const struct t1_file *f = t1_view_file(v, e->ino);

			if (f && f->size) {
				/* Zero runs stay holes, as they would in a crashed backing file. */
				if (ftruncate(fd, (off_t)f->size) < 0)
					ft_fail("t1: ftruncate %s: %s", p, strerror(errno));
				for (size_t o = 0; o < f->size; o += BLOCK) {
					size_t n = f->size - o < BLOCK ? f->size - o : BLOCK, z;

					for (z = 0; z < n && !f->data[o + z]; z++)
						;
					if (z < n && pwrite(fd, f->data + o, n, (off_t)o) != (ssize_t)n)
						ft_fail("t1: pwrite %s: %s", p, strerror(errno));
				}
			}
		}
		if (fstat(fd, &st) < 0)
			ft_fail("t1: fstat %s: %s", p, strerror(errno));
		close(fd);
		if (imap.n == T1_MAXV)
			ft_fail("t1: inode map full");
		imap.from[imap.n] = (uint64_t)st.st_ino;
		imap.to[imap.n++] = e->ino;
	}
	/* Directories map too: their inodes are the identity the checker compares. */
	for (k = 0; k < v->ne; k++) {
		if (!v->e[k].isdir)
			continue;
		ft_pathf(p, sizeof(p), "%s/%s/%s", root, wdir, v->e[k].path);
		if (lstat(p, &st) < 0)
			ft_fail("t1: lstat %s: %s", p, strerror(errno));
		if (imap.n == T1_MAXV)
			ft_fail("t1: inode map full");
		imap.from[imap.n] = (uint64_t)st.st_ino;
		imap.to[imap.n++] = v->e[k].ino;
	}
}

static void read_tree(const char *dir, const char *prefix, uint64_t (*map)(uint64_t),
		      struct t1_view *v, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		ft_fail("t1: opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		char p[PATH_MAX], rel[T1_PATH * 2];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		ft_pathf(p, sizeof(p), "%s/%s", dir, de->d_name);
		ft_pathf(rel, sizeof(rel), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
		if (lstat(p, &st) < 0)
			ft_fail("t1: lstat %s: %s", p, strerror(errno));
		t1_view_add_ent(v, rel, map(st.st_ino), S_ISDIR(st.st_mode));
		if (S_ISDIR(st.st_mode)) {
			if (depth < 6)
				read_tree(p, rel, map, v, depth + 1);
		} else if (!t1_view_file(v, map(st.st_ino))) {
			size_t n;
			uint8_t *b = ft_read_file(p, &n);

			if ((off_t)n != st.st_size)
				ft_fail("t1: %s: read %zu bytes, st_size %lld", p, n,
					(long long)st.st_size);
			t1_view_set_file(v, map(st.st_ino), b, n);
			free(b);
		}
	}
	closedir(d);
}

void t1_read_view(const char *wpath, uint64_t (*map)(uint64_t), struct t1_view *v)
{
	memset(v, 0, sizeof(*v));
	read_tree(wpath, "", map, v, 0);
	t1_view_sort(v);
}

/* ---- the checker ---- */

struct point {
	uint64_t tc;		/* crash just before this time */
	const char *why;
};

static void parent_of(const char *path, char *out)
{
	const char *s = strrchr(path, '/');

	if (!s) {
		out[0] = '\0';
		return;
	}
	memcpy(out, path, (size_t)(s - path));
	out[s - path] = '\0';
}

/* Inode of directory @pp ("" = W) in logical state @s, 0 if none. */
static uint64_t dir_ino_in(const struct t1_wl *w, const struct t1_view *s, const char *pp)
{
	const struct t1_ent *e;

	if (!pp[0])
		return w->wino;
	e = t1_view_ent(s, pp);
	return e && e->isdir ? e->ino : 0;
}

static uint64_t path_ino(const struct t1_view *s, const char *p)
{
	const struct t1_ent *e = t1_view_ent(s, p);

	return e ? e->ino : 0;
}

/* Appends a violation message; returns 1. */
__attribute__((format(printf, 3, 4)))
static int violation(char *msg, size_t len, const char *fmt, ...)
{
	size_t n = strlen(msg);
	va_list ap;

	if (n + 2 >= len)
		return 1;
	va_start(ap, fmt);
	vsnprintf(msg + n, len - n, fmt, ap);
	va_end(ap);
	n = strlen(msg);
	if (n + 2 < len) {
		msg[n] = '\n';
		msg[n + 1] = '\0';
	}
	return 1;
}

/*
 * Checks crash state @c of @w at crash time @tc. Returns the number of violations; @msg gets
 * their descriptions.
 */
static unsigned check_state(const struct t1_wl *w, uint64_t tc, const struct t1_view *c,
			    char *msg, size_t len)
{
	const char *paths[4 * T1_MAXV * (T1_MAXSTEPS + 1)];
	unsigned bad = 0;
	int np = 0, last = 0, k, m, a, j;

	msg[0] = '\0';
	for (k = 1; k <= w->nsteps; k++)
		if (w->op_ns[k] && w->op_ns[k] < tc)
			last = k;
	/* Every path any state or the crash state has. */
	for (m = 0; m <= last; m++)
		for (k = 0; k < w->st[m].ne; k++)
			paths[np++] = w->st[m].e[k].path;
	for (k = 0; k < c->ne; k++)
		paths[np++] = c->e[k].path;

	for (j = 0; j < np; j++) {
		const char *p = paths[j];
		char pp[T1_PATH];
		uint64_t got;
		int m0 = 0, ok = 0;

		for (k = 0; k < j && strcmp(paths[k], p) != 0; k++)
			;
		if (k < j)
			continue;	/* done already */
		parent_of(p, pp);
		for (a = 0; a < w->nacks; a++) {
			const struct t1_ack *ak = &w->acks[a];
			const struct t1_view *s = &w->st[ak->state];

			if (ak->ns >= tc || ak->state < m0)
				continue;
			if (((ak->what & ACK_DIR) && dir_ino_in(w, s, pp) == ak->ino) ||
			    ((ak->what & ACK_NAME) && path_ino(s, p) == ak->ino))
				m0 = ak->state;
		}
		got = path_ino(c, p);
		for (m = m0; m <= last && !ok; m++)
			ok = path_ino(&w->st[m], p) == got;
		if (!ok) {
			char cand[256] = "";

			for (m = m0; m <= last; m++) {
				uint64_t i = path_ino(&w->st[m], p);
				size_t n = strlen(cand);

				snprintf(cand + n, sizeof(cand) - n, "%s%s", m > m0 ? ", " : "",
					 i ? ft_fmt("inode %" PRIu64, i) : "absent");
			}
			bad += violation(msg, len, "name %s: %s, but acknowledged states "
					 "S%d..S%d allow only: %s", p,
					 got ? ft_fmt("inode %" PRIu64, got) : "absent",
					 m0, last, cand);
		}
	}

	for (k = 0; k < c->nf; k++) {
		const struct t1_file *f = &c->f[k];
		size_t smin = SIZE_MAX, smax = 0, x;
		int m0 = 0, found = 0;

		for (j = 0; j < c->ne && (c->e[j].ino != f->ino || c->e[j].isdir); j++)
			;
		if (j == c->ne)
			continue;	/* not reachable */
		for (a = 0; a < w->nacks; a++)
			if (w->acks[a].ns < tc && (w->acks[a].what & ACK_DATA) &&
			    w->acks[a].ino == f->ino && w->acks[a].state > m0)
				m0 = w->acks[a].state;
		for (m = m0; m <= last; m++) {
			const struct t1_file *s = t1_view_file(&w->st[m], f->ino);
			size_t sz = s ? s->size : 0;

			found |= s != NULL;
			smin = sz < smin ? sz : smin;
			smax = sz > smax ? sz : smax;
		}
		if (!found) {
			/* Its name check failed already unless a later state knows it. */
			continue;
		}
		if (f->size < smin || f->size > smax) {
			bad += violation(msg, len, "file inode %" PRIu64 " (%s): size %zu outside "
					 "[%zu, %zu] of states S%d..S%d", f->ino, c->e[j].path,
					 f->size, smin, smax, m0, last);
			continue;
		}
		for (x = 0; x < f->size; x++) {
			int okb = 0;

			for (m = m0; m <= last && !okb; m++) {
				const struct t1_file *s = t1_view_file(&w->st[m], f->ino);

				if (!s || x >= s->size)
					okb = f->data[x] == 0;
				else
					okb = s->data[x] == f->data[x];
			}
			if (!okb) {
				bad += violation(msg, len, "file inode %" PRIu64 " (%s): byte %zu is "
						 "0x%02x, which no state S%d..S%d has there (size %zu)",
						 f->ino, c->e[j].path, x, f->data[x], m0, last,
						 f->size);
				break;
			}
		}
	}
	return bad;
}

/* ---- generating crash states ---- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#define MAXOPS	256

struct wctx {
	const struct t1_env *env;
	const struct t1_wl *w;
	struct t1_stats *st;
	const struct t1_rec *ops[MAXOPS];	/* mutations, in order */
	int nops;
	const struct t1_rec *ends[MAXOPS];	/* successful sync ends */
	int nends;
	uint64_t seen[4096];			/* state hashes at the current point */
	int nseen;
	unsigned bad;
	unsigned printed;
};

static void describe_wl(const struct t1_wl *w, char *buf, size_t len)
{
	size_t n;
	int k;

	snprintf(buf, len, "workload %d (%s):", w->id, w->dir);
	for (k = 0; k < w->nsteps; k++) {
		n = strlen(buf);
		snprintf(buf + n, len - n, " %s+%s", t1_op_name(w->op[k]), t1_sync_name(w->sync[k]));
	}
}

static void one_state(struct wctx *x, uint64_t tc, const char *point, const struct bstate *s,
		      const char *variant)
{
	static unsigned long long distinct;
	const struct t1_env *env = x->env;
	struct t1_view v, c, mv;
	char msg[2048], why[256], root[PATH_MAX], wpath[PATH_MAX];
	uint64_t h;
	unsigned bad;
	int k;

	x->st->generated++;
	memset(&v, 0, sizeof(v));
	bs_walk(s, x->w->wino, "", 0, &v);
	t1_view_sort(&v);
	h = view_hash(&v);
	for (k = 0; k < x->nseen; k++) {
		if (x->seen[k] == h) {
			t1_view_free(&v);
			return;
		}
	}
	if (x->nseen < (int)(sizeof(x->seen) / sizeof(x->seen[0])))
		x->seen[x->nseen++] = h;
	x->st->checked++;
	distinct++;
	if (env->materialise) {
		ft_pathf(root, sizeof(root), "%s/state", env->workdir);
		materialise(env, root, x->w->dir, &v);
		ft_pathf(wpath, sizeof(wpath), "%s/%s", root, x->w->dir);
		t1_read_view(wpath, map_ino, &c);
		if (t1_view_diff(&v, &c, why, sizeof(why)))
			ft_fail("t1: materialised state reads back differently: %s", why);
		if (env->mount_read && env->want_mount && env->want_mount(x->w, distinct) &&
		    env->mount_read(root, x->w->dir, &c, map_ino, &mv)) {
			x->st->mounted++;
			t1_view_free(&mv);
		}
		bad = check_state(x->w, tc, &c, msg, sizeof(msg));
		t1_view_free(&c);
	} else {
		bad = check_state(x->w, tc, &v, msg, sizeof(msg));
	}
	if (bad) {
		x->bad += bad;
		if (env->verbose || (env->materialise && x->printed < 3)) {
			char d[256];

			describe_wl(x->w, d, sizeof(d));
			printf("# VIOLATION %s\n#   crash %s, state: %s\n", d, point, variant);
			for (k = 0; k < v.ne; k++) {
				const struct t1_file *f = t1_view_file(&v, v.e[k].ino);

				printf("#   has %s -> inode %" PRIu64 "%s%s\n", v.e[k].path,
				       v.e[k].ino, v.e[k].isdir ? " (dir)" : "",
				       f ? ft_fmt(", %zu bytes", f->size) : "");
			}
			for (char *l = strtok(msg, "\n"); l; l = strtok(NULL, "\n"))
				printf("#   %s\n", l);
			x->printed++;
		}
	}
	t1_view_free(&v);
}

static void gen_point(struct wctx *x, const struct bstate *base, uint64_t tc, const char *point)
{
	struct bstate dur, var;
	uint64_t objs[2], synced[MAXOPS][2];
	const struct t1_rec *uns[MAXOPS];
	uint64_t uobj[MAXOPS][2];	/* the parts of uns[k] not durable yet (0: none) */
	int nun = 0, k, j, o, n;
	char what[128];

	/* Per object: the newest sync begin whose end came before tc. */
	int nsy = 0;

	for (k = 0; k < x->nends; k++) {
		if (x->ends[k]->ns >= tc)
			continue;
		for (j = 0; j < nsy && synced[j][0] != x->ends[k]->ino; j++)
			;
		if (j == nsy) {
			synced[nsy][0] = x->ends[k]->ino;
			synced[nsy++][1] = 0;
		}
		if (x->ends[k]->begin > synced[j][1])
			synced[j][1] = x->ends[k]->begin;
	}
	bs_copy(&dur, base);
	for (k = 0; k < x->nops; k++) {
		const struct t1_rec *r = x->ops[k];
		int pending = 0;

		if (r->ns >= tc)
			break;
		n = rec_objs(r, objs);
		uobj[nun][0] = uobj[nun][1] = 0;
		for (o = 0; o < n; o++) {
			uint64_t upto = 0;

			for (j = 0; j < nsy; j++)
				if (synced[j][0] == objs[o])
					upto = synced[j][1];
			if (r->seq < upto)
				apply(&dur, r, objs[o]);
			else
				uobj[nun][pending++] = objs[o];
		}
		if (pending)
			uns[nun++] = r;
	}
	x->nseen = 0;
	x->st->points++;
	one_state(x, tc, point, &dur, "durable only");

	for (k = 0; k < nun; k++) {
		const struct t1_rec *r = uns[k];

		if (r->op == R_UNLINK) {
			struct bdir *d = bs_dir(&dur, r->dino);

			if (!d || !dir_get(d, r->name))
				continue;
		}
		/* A rename whose source side is pending needs its source entry there. */
		if (r->op == R_RENAME && !(r->flags & RENAME_EXCHANGE) &&
		    (uobj[k][0] == r->dino || uobj[k][1] == r->dino)) {
			struct bdir *d = bs_dir(&dur, r->dino);

			if (!d || dir_get(d, r->name) != r->ino)
				continue;
		}
		/*
		 * Only the parts not durable yet: a rename across directories may be durable in
		 * one of them already, and later operations there must not be undone.
		 */
		bs_copy(&var, &dur);
		apply(&var, r, uobj[k][0]);
		if (uobj[k][1])
			apply(&var, r, uobj[k][1]);
		snprintf(what, sizeof(what), "durable + %s (record %" PRIu64 ")", rec_ops[r->op],
			 r->seq);
		one_state(x, tc, point, &var, what);
		bs_free(&var);

		if (r->op == R_PWRITE) {
			struct t1_file *f = bs_file(&dur, r->ino);
			size_t end = (size_t)(r->off + r->len), b0, b1, nb, bj;
			int last_one = 1;

			if (f && end > f->size) {
				bs_copy(&var, &dur);
				file_resize(bs_file(&var, r->ino), end);
				snprintf(what, sizeof(what), "durable + size of pwrite %" PRIu64
					 ", data zero", r->seq);
				one_state(x, tc, point, &var, what);
				bs_free(&var);
			}
			for (j = k + 1; j < nun; j++)
				if (uns[j]->op == R_PWRITE && uns[j]->ino == r->ino)
					last_one = 0;
			b0 = (size_t)r->off / BLOCK;
			b1 = (end + BLOCK - 1) / BLOCK;
			nb = b1 - b0;
			if (!last_one || nb < 2)
				continue;
			for (bj = b0; bj < b1; bj++) {
				int only;

				for (only = 0; only < 2; only++) {
					size_t q;

					bs_copy(&var, &dur);
					for (q = b0; q < b1; q++) {
						size_t lo = q * BLOCK, hi = lo + BLOCK;
						struct t1_rec part = *r;

						if (only ? q != bj : q == bj)
							continue;
						lo = lo < (size_t)r->off ? (size_t)r->off : lo;
						hi = hi > end ? end : hi;
						part.off = (long long)lo;
						part.len = (long long)(hi - lo);
						part.data = r->data + (lo - (size_t)r->off);
						apply(&var, &part, 0);
					}
					snprintf(what, sizeof(what), "durable + pwrite %" PRIu64
						 " torn: %s block %zu", r->seq,
						 only ? "only" : "all but", bj);
					one_state(x, tc, point, &var, what);
					bs_free(&var);
					if (nb == 2)
						break;	/* "all but one" of two is "only" the other */
				}
			}
		}
	}
	bs_free(&dur);
}

/*
 * Requirement 28: a rename that replaces its target comes after every queued write of the
 * source reached the source's backing file (no sync needed), so the backing FS's
 * replace-by-rename ordering covers them. Replays the source's data records logged before
 * the rename and compares with what the workload had written before it called rename(2).
 */
static void check_rename_order(struct wctx *x, const struct bstate *base)
{
	const struct t1_wl *w = x->w;
	int k, j, step;

	for (k = 0; k < x->nops; k++) {
		const struct t1_rec *r = x->ops[k];
		const struct t1_file *want;
		struct t1_file *got;
		struct bstate s;

		if (r->op != R_RENAME || !r->nino || (r->flags & (RENAME_EXCHANGE |
								  RENAME_NOREPLACE)))
			continue;
		for (step = 1, j = 1; j <= w->nsteps; j++)
			if (w->op_ns[j] && w->op_ns[j] <= r->ns)
				step = j;
		want = t1_view_file(&w->st[step - 1], r->ino);
		if (!want)
			continue;
		bs_copy(&s, base);
		for (j = 0; j < k; j++)
			if (x->ops[j]->op <= R_FALLOCATE && x->ops[j]->ino == r->ino)
				apply(&s, x->ops[j], 0);
		got = bs_file(&s, r->ino);
		x->st->renames++;
		if (!got || got->size != want->size ||
		    (want->size && memcmp(got->data, want->data, want->size) != 0)) {
			char d[256];

			describe_wl(w, d, sizeof(d));
			printf("# VIOLATION %s\n#   requirement 28: rename over %s (record %" PRIu64
			       ") before the source's %zu bytes reached its backing file (it has "
			       "%zu)\n", d, r->nname, r->seq, want->size, got ? got->size : 0);
			x->bad++;
		}
		bs_free(&s);
	}
}

unsigned t1_check_workload(const struct t1_env *env, const struct t1_log *log,
			   const struct t1_wl *w, unsigned drop, struct t1_stats *st)
{
	struct wctx *x = calloc(1, sizeof(*x));
	struct bstate base;
	uint64_t pts[MAXOPS + T1_MAXACKS + 1];
	int np = 0, k;
	size_t i;
	uint64_t first_seq = 0;		/* first record of the window */
	unsigned bad;

	if (!x)
		ft_fail("out of memory");
	x->env = env;
	x->w = w;
	x->st = st;

	/* The base: S_0, durable by the setup's fsyncs. */
	memset(&base, 0, sizeof(base));
	base.nd = 1;
	base.d[0].ino = w->wino;
	for (k = 0; k < w->st[0].ne; k++) {
		const struct t1_ent *e = &w->st[0].e[k];
		char pp[T1_PATH];
		struct bdir *d;

		if (e->isdir) {
			base.d[base.nd].ino = e->ino;
			base.d[base.nd++].n = 0;
		}
		parent_of(e->path, pp);
		d = bs_dir(&base, dir_ino_in(w, &w->st[0], pp));
		if (!d)
			ft_fail("t1: S_0 of workload %d: no parent for %s", w->id, e->path);
		dir_set(d, strrchr(e->path, '/') ? strrchr(e->path, '/') + 1 : e->path, e->ino);
	}
	for (k = 0; k < w->st[0].nf; k++) {
		const struct t1_file *f = &w->st[0].f[k];

		if (base.nf == T1_MAXV)
			ft_fail("t1: too many files");
		base.f[base.nf] = *f;
		base.f[base.nf].data = NULL;
		if (f->size) {
			base.f[base.nf].data = xmalloc(f->size);
			memcpy(base.f[base.nf].data, f->data, f->size);
		}
		base.nf++;
	}

	/* The window's records that touch W's objects; new objects join as they appear. */
	for (i = 0; i < log->n; i++) {
		const struct t1_rec *r = &log->r[i];
		int mine = 0;

		if (r->ns < w->t_start || r->ns > w->t_end)
			continue;
		if (!first_seq)
			first_seq = r->seq;
		switch (r->op) {
		case R_PWRITE:
		case R_FTRUNCATE:
		case R_FALLOCATE:
			mine = bs_file(&base, r->ino) != NULL;
			break;
		case R_SYNC:
			mine = bs_file(&base, r->ino) || bs_dir(&base, r->ino);
			break;
		case R_CREATE:
		case R_MKDIR:
		case R_MKNOD:
		case R_SYMLINK:
			mine = bs_dir(&base, r->dino) != NULL;
			if (mine && r->res == 0) {
				if (r->op == R_MKDIR) {
					if (base.nd == MAXD)
						ft_fail("t1: too many directories");
					base.d[base.nd].ino = r->ino;
					base.d[base.nd++].n = 0;
				} else if (!bs_file(&base, r->ino)) {
					if (base.nf == T1_MAXV)
						ft_fail("t1: too many files");
					memset(&base.f[base.nf], 0, sizeof(base.f[0]));
					base.f[base.nf++].ino = r->ino;
				}
			}
			break;
		case R_LINK:
		case R_UNLINK:
			mine = bs_dir(&base, r->dino) != NULL;
			break;
		case R_RENAME:
			mine = bs_dir(&base, r->dino) || bs_dir(&base, r->ndino);
			break;
		default:
			break;
		}
		if (!mine || r->res < 0)
			continue;
		if (r->op == R_SYNC) {
			if ((drop & T1_DROP_DIRSYNC) && r->isdir)
				continue;
			if ((drop & T1_DROP_FILESYNC) && !r->isdir)
				continue;
			if (r->end && r->begin >= first_seq) {
				if (x->nends == MAXOPS)
					ft_fail("t1: too many syncs in workload %d", w->id);
				x->ends[x->nends++] = r;
				pts[np++] = r->ns;
			}
			continue;
		}
		if (r->op == R_FUTIMENS)
			continue;
		if (x->nops == MAXOPS)
			ft_fail("t1: too many records in workload %d", w->id);
		x->ops[x->nops++] = r;
	}
	if (!drop)
		check_rename_order(x, &base);
	for (k = 0; k < w->nacks; k++)
		if (w->acks[k].ns)
			pts[np++] = w->acks[k].ns + 1;
	pts[np++] = UINT64_MAX;
	qsort(pts, (size_t)np, sizeof(pts[0]), u64_cmp);
	for (k = 0; k < np; k++) {
		char why[96];
		int a;

		if (k && pts[k] == pts[k - 1])
			continue;
		snprintf(why, sizeof(why), "at +%.3f ms",
			 pts[k] == UINT64_MAX ? -1.0 : (double)(pts[k] - w->t_start) / 1e6);
		for (a = 0; a < w->nacks; a++)
			if (w->acks[a].ns && w->acks[a].ns + 1 == pts[k])
				snprintf(why, sizeof(why), "right after the ack of step %d",
					 w->acks[a].state);
		if (pts[k] == UINT64_MAX)
			snprintf(why, sizeof(why), "after the end");
		gen_point(x, &base, pts[k], why);
	}
	bad = x->bad;
	st->violations += bad;
	bs_free(&base);
	free(x);
	return bad;
}
