/*
 * fuzz_superblock: the input bytes (after a mode byte, see LLVMFuzzerTestOneInput()) are the
 * whole content of STORE_SB_NAME in a private store directory; store_open() (decode and
 * verify) must never crash, leak or hang, and must accept only a valid superblock: exactly
 * STORE_SB_SIZE bytes, magic "FROZENFS", a matching CRC32C, format version STORE_VERSION and
 * a valid chunk size. A refusal must leave the file alone.
 *
 * fsck_run() then gets the same store: it must call exactly those superblocks clean and every
 * other one damaged, and fsck --repair -c 4096 must leave a store that store_open() accepts,
 * unless the superblock is a newer format version (valid CRC), which it must not touch.
 * Fuzz with TMPDIR on a tmpfs: a repair fsyncs.
 *
 * Built two ways: with clang -fsanitize=fuzzer (tests/fuzz/build.sh) for fuzzing, and with
 * the project's compiler plus tests/fuzz/replay.c as a meson test that replays the corpus.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk.h"
#include "fsck.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[PATH_MAX];
static char sbpath[PATH_MAX];

static char lfpath[PATH_MAX];

/* Empties lost+found, where a repair keeps the damaged superblock. */
static void clear_lost_found(void)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/superblock.damaged", lfpath);
	unlink(p);
	rmdir(lfpath);
}

static void cleanup(void)
{
	clear_lost_found();
	unlink(sbpath);
	rmdir(dir);
}

static void init_dir(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/fuzz_superblock.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	if (snprintf(sbpath, sizeof(sbpath), "%s/%s", dir, STORE_SB_NAME) >= (int)sizeof(sbpath))
		abort();
	if (snprintf(lfpath, sizeof(lfpath), "%s/%s", dir, FSCK_LOST_FOUND) >= (int)sizeof(lfpath))
		abort();
	atexit(cleanup);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The acceptance rule, written independently of store.c. */
static int valid(const uint8_t *d, size_t n)
{
	return n == STORE_SB_SIZE && memcmp(d, "FROZENFS", 8) == 0 &&
	       le32(d + 60) == store_crc32c(d, 60) && le32(d + 8) == STORE_VERSION &&
	       chunk_size_valid(le32(d + 12));
}

static void write_sb(const uint8_t *data, size_t size)
{
	int fd = open(sbpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size)) {
		perror("write superblock");
		abort();
	}
	close(fd);
}

static void check_unchanged(const uint8_t *data, size_t size)
{
	uint8_t buf[STORE_SB_SIZE + 1];
	int fd = open(sbpath, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	size_t want = size < sizeof(buf) ? size : sizeof(buf);

	if (fd < 0)
		abort();
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != (ssize_t)want || memcmp(buf, data, want) != 0) {
		fprintf(stderr, "store_open changed the superblock file\n");
		abort();
	}
}

static void check_fsck(const uint8_t *data, size_t size, int expect)
{
	struct fsck_opts o = { .chunk_size = 0, .progress_fd = -1 };
	int newer, rc, rc2;
	struct store *s;
	char why[256];

	/*
	 * A newer format: CRC-valid, magic right, version not ours; never touched, whatever
	 * follows the 64 bytes (a newer format may have a longer superblock).
	 */
	newer = size >= STORE_SB_SIZE && memcmp(data, "FROZENFS", 8) == 0 &&
		le32(data + 60) == store_crc32c(data, 60) && le32(data + 8) != STORE_VERSION;
	rc = fsck_run(NULL, dir, &o, why, sizeof(why));
	if (rc != (expect ? FSCK_CLEAN : FSCK_UNCORRECTED) || why[0]) {
		fprintf(stderr, "fsck returned %d (%s) for a %s superblock\n", rc, why,
			expect ? "valid" : "invalid");
		abort();
	}
	check_unchanged(data, size);	/* without --repair, nothing changes */
	o.repair = 1;
	o.chunk_size = 4096;
	rc = fsck_run(NULL, dir, &o, why, sizeof(why));
	rc2 = fsck_run(NULL, dir, &(struct fsck_opts){ .progress_fd = -1 }, why, sizeof(why));
	if (expect && (rc != FSCK_CLEAN || rc2 != FSCK_CLEAN))
		abort();
	if (newer && (rc != FSCK_UNCORRECTED || rc2 != FSCK_UNCORRECTED))
		abort();
	if (!expect && !newer) {
		if (rc != FSCK_CORRECTED || rc2 != FSCK_CLEAN) {
			fprintf(stderr, "fsck --repair returned %d, then fsck %d\n", rc, rc2);
			abort();
		}
		if (store_open(NULL, dir, 0, &s, why, sizeof(why), NULL) != 0) {
			fprintf(stderr, "repaired store refused: %s\n", why);
			abort();
		}
		store_close(s);
	}
	if (newer)
		check_unchanged(data, size);
	clear_lost_found();
}

static void one(const uint8_t *data, size_t size)
{
	struct store_sb sb;
	struct store *s = NULL;
	const char *reason = NULL;
	char why[256];
	int rc, created = -1, expect;

	expect = valid(data, size);

	/* The pure decoder agrees with the rule, on any length. */
	rc = store_sb_decode(data, size, &sb, &reason);
	if (size >= STORE_SB_SIZE && (rc == 0) != valid(data, STORE_SB_SIZE))
		abort();
	if (size < STORE_SB_SIZE && rc == 0)
		abort();
	if (rc < 0 && (!reason || !*reason))
		abort();

	write_sb(data, size);
	rc = store_open(NULL, dir, 0, &s, why, sizeof(why), &created);
	if ((rc == 0) != expect) {
		fprintf(stderr, "store_open returned %d (%s) for a %s superblock of %zu bytes\n",
			rc, why, expect ? "valid" : "invalid", size);
		abort();
	}
	if (rc == 0) {
		if (created != 0 || store_superblock(s)->chunk_size != le32(data + 12) ||
		    memcmp(store_superblock(s)->uuid, data + 16, 16) != 0)
			abort();
		store_close(s);
	} else if (!why[0] || strchr(why, '\n')) {
		abort();	/* a refusal is one non-empty line */
	}
	check_unchanged(data, size);
	check_fsck(data, size, expect);
}

/*
 * The input is a mode byte, then the file content (at most 4096 bytes: the verdict on a longer
 * file is the one on 65 bytes). Mode bit 0 set: bytes 60..63 of the content are replaced by
 * the CRC32C of bytes 0..59 first, so the fuzzer also explores what lies behind the checksum
 * (format version, chunk size, fsck's salvage), which it cannot reach by forging a CRC.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[4096];
	uint32_t crc;

	if (!dir[0])
		init_dir();
	if (size == 0 || size - 1 > sizeof(buf))
		return 0;
	memcpy(buf, data + 1, size - 1);
	if ((data[0] & 1) && size - 1 >= STORE_SB_SIZE) {
		crc = store_crc32c(buf, 60);
		for (int i = 0; i < 4; i++)
			buf[60 + i] = (uint8_t)(crc >> (8 * i));
	}
	one(buf, size - 1);
	return 0;
}
