/*
 * it_ctl_durable: `frozenfs-ctl sync` makes queued data durable, proven by a power loss.
 *
 * The store lives on a 64 MiB ext4 on a loop device and is mounted with a one-hour flush
 * interval, so nothing written without fsync reaches the disk on its own during the test.
 * Files are created in a new subdirectory and written without any fsync; `frozenfs-ctl
 * durable` must say "not yet" (exit 2). Then `frozenfs-ctl sync`; `durable` must say yes.
 * One more file is written after the sync, as a control. Power loss: SIGKILL the daemon,
 * EXT4_IOC_SHUTDOWN with NOLOGFLUSH (whatever was not synced is lost), umount, mount,
 * frozenfs again. Every synced file must be there, byte for byte, names included (the sync
 * also syncs the backing filesystem); the control file's data must not be (it only ever
 * lived in the daemon's memory), which shows that the sync, not luck, saved the rest.
 *
 * Then the failure side: a file is written, the backing ext4 is shut down under the running
 * daemon (every backing I/O fails with EIO) and `frozenfs-ctl sync` must fail (exit 1). The
 * status must count the failed file and name it on an "error:" line, report the metadata
 * error and the switch to read-only, and the daemon's log must name the file even at
 * log_level=error; the daemon then exits non-zero on unmount.
 *
 * Usage: it_ctl_durable FROZENFS_BINARY   (env FROZENFS_CTL: the frozenfs-ctl binary)
 */
#include "fstest.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define OPTS "flush_interval_ms=3600000,nosync_on_close"
#define NFILES 4

static struct ft_mount m;
static struct ft_disk disk;
static char store[PATH_MAX], mp[PATH_MAX];
static const char *ctl;

/* Runs frozenfs-ctl with @a1, @a2 (may be NULL); returns its exit status. */
static int run_ctl(const char *a1, const char *a2)
{
	char *argv[] = { (char *)ctl, (char *)a1, (char *)a2, NULL };
	int st;
	pid_t pid = fork();

	if (pid < 0)
		ft_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		execv(ctl, argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		ft_fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st))
		ft_fail("frozenfs-ctl %s %s died (status 0x%x)", a1, a2 ? a2 : "", st);
	return WEXITSTATUS(st);
}

static size_t file_len(int k)
{
	return 100000 + (size_t)k * 70001;
}

static uint8_t *pattern(int k)
{
	uint64_t seed = 1000 + (uint64_t)k;
	uint8_t *b = malloc(file_len(k));

	if (!b)
		ft_fail("out of memory");
	ft_rand_fill(&seed, b, file_len(k));
	return b;
}

/* The daemon's status text, NUL-terminated, in a static buffer. */
static const char *status_text(void)
{
	static char buf[65537];
	ssize_t n = getxattr(mp, "user.frozenfs.status", buf, sizeof(buf) - 1);

	if (n < 0)
		ft_fail("getxattr user.frozenfs.status of %s: %s", mp, strerror(errno));
	buf[n] = '\0';
	return buf;
}

static void check_failure(void)
{
	static const char *want[] = {
		"failed_files: 1\n", "\nerror: doomed: ", "metadata_error: yes\n",
		"read_only: yes (errors=remount-ro",
	};
	uint8_t *d = pattern(7);
	const char *st;
	size_t k, len;
	char *log;
	int rc, status;

	ft_check("backing I/O fails: frozenfs-ctl sync fails and status names the file");
	ft_mount(&m, store, mp, OPTS ",log_level=error");
	ft_write_file(ft_path(&m, "doomed"), d, file_len(7), 0);
	ft_disk_goingdown(&disk);
	rc = run_ctl("sync", mp);
	FT_ASSERT(rc == 1, "frozenfs-ctl sync exited %d with the backing filesystem down", rc);
	ft_ok("frozenfs-ctl sync fails (exit 1)");
	rc = run_ctl("durable", ft_path(&m, "doomed"));
	FT_ASSERT(rc == 1, "frozenfs-ctl durable of the failed file exited %d, expected 1", rc);
	st = status_text();
	for (k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		FT_ASSERT(strstr(st, want[k]), "status lacks '%s':\n%s", want[k], st);
	ft_ok("status: failed_files 1, 'error: doomed: ...', metadata error, read-only");
	rc = run_ctl("sync", mp);
	FT_ASSERT(rc == 1, "a second frozenfs-ctl sync exited %d: errors are sticky", rc);
	status = ft_umount_status(&m);
	FT_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		  "daemon exit status 0x%x: expected a non-zero exit", status);
	log = (char *)ft_read_file(m.log, &len);
	log = realloc(log, len + 1);
	FT_ASSERT(log, "out of memory");
	log[len] = '\0';
	FT_ASSERT(strstr(log, "doomed: data could not be made durable"),
		  "the log (log_level=error) does not name the failed file:\n%s", log);
	FT_ASSERT(strstr(log, "errors=remount-ro: the mount is read-only"),
		  "the log does not report the switch to read-only:\n%s", log);
	ft_ok("the log names the failed file and the read-only switch at log_level=error");
	free(log);
	free(d);
	ft_disk_umount(&disk);
}

int main(int argc, char **argv)
{
	uint8_t *data[NFILES], *got, *late;
	char name[64];
	size_t len;
	int k, rc, st;

	ft_init(argc, argv);
	if (ft_fake())
		ft_fail("it_ctl_durable needs the real daemon (FT_FAKE is set)");
	ctl = getenv("FROZENFS_CTL");
	if (!ctl || access(ctl, X_OK) < 0)
		ft_fail("frozenfs-ctl is missing: set FROZENFS_CTL (meson does)");
	ft_disk_create(&disk, "disk", 64);
	if (snprintf(store, sizeof(store), "%s/store", disk.dir) >= (int)sizeof(store))
		ft_fail("path too long");
	snprintf(mp, sizeof(mp), "%s/mnt", ft_tmpdir());
	ft_mount(&m, store, mp, OPTS);

	ft_check("files written without fsync under a 1 h flush interval are not durable");
	FT_SYS(mkdir(ft_path(&m, "dir"), 0755));
	for (k = 0; k < NFILES; k++) {
		data[k] = pattern(k);
		snprintf(name, sizeof(name), "dir/f%d", k);
		ft_write_file(ft_path(&m, name), data[k], file_len(k), 0);
	}
	rc = run_ctl("durable", ft_path(&m, "dir/f0"));
	FT_ASSERT(rc == 2, "frozenfs-ctl durable exited %d before the sync, expected 2", rc);
	ft_ok("frozenfs-ctl durable: not yet durable");

	ft_check("frozenfs-ctl sync; then everything is durable");
	rc = run_ctl("sync", mp);
	FT_ASSERT(rc == 0, "frozenfs-ctl sync exited %d", rc);
	for (k = 0; k < NFILES; k++) {
		snprintf(name, sizeof(name), "dir/f%d", k);
		rc = run_ctl("durable", ft_path(&m, name));
		FT_ASSERT(rc == 0, "frozenfs-ctl durable %s exited %d after the sync", name, rc);
	}
	ft_ok("frozenfs-ctl durable: every file durable after the sync");

	/* The control: queued in the daemon only, when the power goes. */
	late = pattern(NFILES);
	ft_write_file(ft_path(&m, "dir/late"), late, file_len(NFILES), 0);
	rc = run_ctl("durable", ft_path(&m, "dir/late"));
	FT_ASSERT(rc == 2, "frozenfs-ctl durable of the control file exited %d, expected 2", rc);

	ft_check("power loss: kill -9, ext4 shutdown without log flush, remount");
	st = ft_kill(&m, SIGKILL);
	FT_ASSERT(WIFSIGNALED(st), "daemon status 0x%x", st);
	ft_disk_shutdown(&disk);
	ft_disk_mount(&disk);
	ft_mount(&m, store, mp, OPTS);
	for (k = 0; k < NFILES; k++) {
		long long d;

		snprintf(name, sizeof(name), "dir/f%d", k);
		if (access(ft_path(&m, name), F_OK) < 0)
			ft_fail("%s is missing after the power loss: %s", name, strerror(errno));
		got = ft_read_file(ft_path(&m, name), &len);
		FT_ASSERT(len == file_len(k), "%s has %zu bytes after the power loss, "
			  "expected %zu", name, len, file_len(k));
		d = ft_memdiff(got, data[k], len);
		FT_ASSERT(d < 0, "%s differs at byte %lld after the power loss", name, d);
		free(got);
		free(data[k]);
		ft_ok("%s intact (%zu bytes)", name, len);
	}
	if (access(ft_path(&m, "dir/late"), F_OK) == 0) {
		got = ft_read_file(ft_path(&m, "dir/late"), &len);
		FT_ASSERT(len < file_len(NFILES) || ft_memdiff(got, late, len) >= 0,
			  "the control file, never synced, survived the power loss intact: the "
			  "flush interval did not hold data back, so this test proves nothing");
		free(got);
	}
	ft_ok("the control file written after the sync was lost, as expected");
	free(late);
	ft_umount(&m);

	check_failure();
	return ft_done();
}
