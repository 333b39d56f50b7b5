/*
 * fsck: checks, and on request repairs, a frozenfs store that is not mounted.
 *
 * What is checked, in order:
 *   1. the superblock STORE_SB_NAME: present, a regular file, exactly STORE_SB_SIZE bytes,
 *      magic, CRC32C, format version, chunk size (store_sb_decode());
 *   2. the store lock: the superblock's flock(LOCK_EX|LOCK_NB) is taken and held for the whole
 *      run, so a mounted store (or a second fsck) is refused and no mount can start meanwhile;
 *   3. crash leftovers at the root: STORE_SB_TMP (store creation interrupted) and
 *      FSCK_SB_TMP (an interrupted superblock repair);
 *   4. every file below the root: each regular file is read in full (an I/O error is reported
 *      with the file's name and offset; the bytes read must equal the size stat reports),
 *      every directory listed; a permission error counts as an unreadable file. Symlinks
 *      and special files (FIFOs, sockets, devices: frozenfs creates them through mknod) are
 *      counted and, with -v, listed, but are not errors. FSCK_LOST_FOUND at the root is
 *      skipped.
 *
 * Repair (o->repair) does only what is safe, and never deletes:
 *   - a missing, corrupt or non-regular superblock is rewritten (temp file FSCK_SB_TMP, fsync,
 *     rename over, fsync of the directory), with o->chunk_size, else the chunk size the
 *     damaged superblock still records (its magic intact and the value valid); the UUID and
 *     creation time are kept when they can be read. A superblock with a valid CRC and a
 *     newer format version is never touched. The old superblock is kept in FSCK_LOST_FOUND.
 *     Under DURABILITY.md section 2.1 a backing file is its plain content whatever the chunk
 *     size, so a wrong guess costs speed, never data;
 *   - a complete, valid STORE_SB_TMP or FSCK_SB_TMP where the superblock is missing is
 *     renamed into place (the crash came between its fsync and its rename);
 *   - other leftovers are moved into FSCK_LOST_FOUND (created 0700 if missing) under a
 *     unique name.
 *
 * Output: one line per finding on o->out ("PATH: what"), and a closing summary line. The
 * process exit status is the return value, as e2fsck's: FSCK_* bits or-ed together.
 */
#ifndef FROZENFS_FSCK_H
#define FROZENFS_FSCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chunk.h"

#define FSCK_CLEAN		0	/* no errors */
#define FSCK_CORRECTED		1	/* errors found and all of them corrected */
#define FSCK_UNCORRECTED	4	/* errors left uncorrected */
#define FSCK_OPERATIONAL	8	/* could not check: not a store, mounted, cannot open */
#define FSCK_USAGE		16	/* bad command line (the caller's verdict) */

#define FSCK_LOST_FOUND		"lost+found"
#define FSCK_SB_TMP		".frozenfs.fsck"

struct fsck_opts {
	int repair;		/* fix what is safe (see above); else change nothing */
	int verbose;		/* list every file and directory checked */
	uint32_t chunk_size;	/* -c: for rewriting a superblock; 0: not given */
	FILE *out;		/* findings and summary; NULL: silent */
	int progress_fd;	/* draw a progress bar here (a terminal), or -1 */
};

/*
 * Checks the store in @dirpath. Reads go through @io (NULL: chunk_io_default()); directory
 * changes of a repair use the system calls directly. Returns the FSCK_* bits. On
 * FSCK_OPERATIONAL the reason is one line in @why ("store is mounted: ...",
 * "not a frozenfs store: ...", "is a FUSE mount: ..." for a mountpoint, "cannot open ...");
 * @why is left empty otherwise. Blocks for as
 * long as reading every file takes. Not thread-safe with itself on one store (the lock makes
 * a second call fail).
 */
int fsck_run(const struct chunk_io *io, const char *dirpath, const struct fsck_opts *o,
	     char *why, size_t whylen);

#endif
