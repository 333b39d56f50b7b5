/*
 * fs_chan: custom I/O on /dev/fuse that asks for FUSE_HANDLE_KILLPRIV_V2 and writes no reply
 * after the session's end (see fs_chan.h).
 *
 * libfuse reads the first request, INIT, before it starts any worker thread, and answers it
 * before reading another, so init_unique is written and read by one thread before the
 * session goes multi-threaded; killpriv is read by worker threads afterwards (acquire).
 */
#include "fs_chan.h"
#include "fs_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* FUSE_DIRECT_IO_ALLOW_MMAP (protocol 7.39, Linux 6.6; bit 36, so bit 4 of flags2), which
 * Debian 12's linux/fuse.h (7.38) does not define yet. */
#define DIRECT_IO_ALLOW_MMAP_HI	(1u << (36 - 32))

static uint64_t init_unique;		/* INIT's unique; see above */
static bool init_offered;		/* the kernel offered FUSE_HANDLE_KILLPRIV_V2 */
static bool init_dio_mmap;		/* ... and FUSE_DIRECT_IO_ALLOW_MMAP */
static atomic_bool init_answered;	/* relaxed: only a fast path for the hooks */
static atomic_int killpriv;		/* release on set, acquire on read */
static char ra_path[64];		/* set before the session runs; "" if none */
static unsigned ra_kb;			/* likewise */

/* Finds the sysfs read-ahead file of the mount at @mountpoint; 0 or -errno. */
static int find_bdi(const char *mountpoint, char *path, size_t len)
{
	unsigned major, minor;
	int rc = fs_mounts_self_dev(mountpoint, &major, &minor);

	if (rc == 0)
		snprintf(path, len, "/sys/class/bdi/%u:%u/read_ahead_kb", major, minor);
	return rc;
}

static void set_readahead(void)
{
	char val[16];
	int fd = open(ra_path, O_WRONLY | O_CLOEXEC);
	int n = snprintf(val, sizeof(val), "%u", ra_kb);

	if (fd < 0)
		return;
	/* A failure is not fatal: reads only keep the kernel default. */
	if (write(fd, val, (size_t)n) != n)
		ra_kb = 0;
	close(fd);
}

/*
 * ThreadSanitizer cannot see that the kernel orders a request after the replies it saw
 * before sending it (a FORGET after its LOOKUP's reply, a READDIR after its OPENDIR's), so
 * without this every object one request makes and a later one uses is reported as a race.
 * A request read after a reply was written is ordered after it (the release comes before
 * the write, for everything the reply covers, and after it, for the write itself: the
 * session's end closes the descriptor); requests that overlap are not ordered, so races
 * between concurrent requests are still reported.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
static char chan_order;
#define AFTER_REPLIES() __tsan_acquire(&chan_order)
#define REPLY_SENT() __tsan_release(&chan_order)
#else
#define AFTER_REPLIES() ((void)0)
#define REPLY_SENT() ((void)0)
#endif

static ssize_t chan_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t r = read(fd, buf, len);

	(void)userdata;
	AFTER_REPLIES();
	if (r >= (ssize_t)(sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in)) &&
	    !atomic_load_explicit(&init_answered, memory_order_relaxed)) {
		struct fuse_in_header in;
		struct fuse_init_in init;

		memcpy(&in, buf, sizeof(in));
		if (in.opcode == FUSE_INIT) {
			memcpy(&init, (char *)buf + sizeof(in), sizeof(init));
			init_unique = in.unique;
			init_offered = init.major == FUSE_KERNEL_VERSION && init.minor >= 33 &&
				       (init.flags & FUSE_HANDLE_KILLPRIV_V2);
			init_dio_mmap = init.major == FUSE_KERNEL_VERSION && init.minor >= 39 &&
					(init.flags & FUSE_INIT_EXT) &&
					(init.flags2 & DIRECT_IO_ALLOW_MMAP_HI);
		}
	}
	return r < 0 ? -1 : r;
}

static ssize_t chan_writev_raw(int fd, struct iovec *iov, int count, void *userdata)
{
	(void)userdata;
	if (count >= 2 && iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    iov[1].iov_len >= offsetof(struct fuse_init_out, flags) + sizeof(uint32_t) &&
	    !atomic_load_explicit(&init_answered, memory_order_relaxed)) {
		struct fuse_out_header out;

		memcpy(&out, iov[0].iov_base, sizeof(out));
		if (out.unique == init_unique && out.error == 0) {
			struct fuse_init_out *io = iov[1].iov_base;

			if (init_offered) {
				io->flags |= FUSE_HANDLE_KILLPRIV_V2;
				atomic_store_explicit(&killpriv, 1, memory_order_release);
			}
			/* The kernel reads flags2 only with FUSE_INIT_EXT; libfuse 3.14 zeroes it. */
			if (init_dio_mmap && iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) +
							sizeof(uint32_t)) {
				io->flags |= FUSE_INIT_EXT;
				io->flags2 |= DIRECT_IO_ALLOW_MMAP_HI;
			}
			atomic_store_explicit(&init_answered, true, memory_order_relaxed);
			/* The kernel applies the reply (and its read-ahead) within this write. */
			ssize_t r = writev(fd, iov, count);

			if (r >= 0 && ra_path[0])
				set_readahead();
			return r;
		}
	}
	return writev(fd, iov, count);
}

/*
 * A pipeline thread may still answer a request after the session has ended (a FLUSH or
 * FSYNC whose sync ends during the drain, after the connection was aborted). By then the
 * descriptor is closed and its number may belong to another file: every write to the
 * channel holds chan_lock shared and checks chan_closed, and fs_chan_unmount() closes the
 * descriptor holding it exclusively.
 */
static pthread_rwlock_t chan_lock = PTHREAD_RWLOCK_INITIALIZER;
static bool chan_closed;	/* under chan_lock */

static bool chan_hold(void)
{
	pthread_rwlock_rdlock(&chan_lock);
	if (!chan_closed)
		return true;
	pthread_rwlock_unlock(&chan_lock);
	errno = ENOENT;		/* "no such request any more": libfuse does not complain */
	return false;
}

void fs_chan_unmount(struct fuse_session *se)
{
	pthread_rwlock_wrlock(&chan_lock);
	chan_closed = true;
	fuse_session_unmount(se);
	pthread_rwlock_unlock(&chan_lock);
}

static ssize_t chan_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	ssize_t r;

	if (!chan_hold())
		return -1;
	REPLY_SENT();
	r = chan_writev_raw(fd, iov, count, userdata);
	REPLY_SENT();
	pthread_rwlock_unlock(&chan_lock);
	return r;
}

/* READ replies spliced from a backing file (fs_op_read): pipe -> /dev/fuse, unchanged. */
static ssize_t chan_splice_send(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
				unsigned int flags, void *userdata)
{
	ssize_t r;

	(void)userdata;
	if (!chan_hold())
		return -1;
	REPLY_SENT();
	r = splice(fdin, offin, fdout, offout, len, flags);
	REPLY_SENT();
	pthread_rwlock_unlock(&chan_lock);
	return r;
}

/* WRITE requests spliced from /dev/fuse into libfuse's pipe (fs_op_write_buf). */
static ssize_t chan_splice_receive(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
				   unsigned int flags, void *userdata)
{
	ssize_t r;

	(void)userdata;
	r = splice(fdin, offin, fdout, offout, len, flags);
	AFTER_REPLIES();
	return r;
}

int fs_chan_install(struct fuse_session *se, const char *mountpoint, unsigned readahead_kb)
{
	static const struct fuse_custom_io io = {
		.read = chan_read,
		.writev = chan_writev,
		.splice_receive = chan_splice_receive,
		.splice_send = chan_splice_send,
	};

	if (readahead_kb && find_bdi(mountpoint, ra_path, sizeof(ra_path)) == 0)
		ra_kb = readahead_kb;
	else
		ra_path[0] = '\0';
	return fuse_session_custom_io(se, &io, fuse_session_fd(se)) == 0 ? 0 : -1;
}

int fs_chan_killpriv(void)
{
	return atomic_load_explicit(&killpriv, memory_order_acquire);
}

