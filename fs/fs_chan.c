/*
 * fs_chan: custom I/O on /dev/fuse that asks for FUSE_HANDLE_KILLPRIV_V2 (see fs_chan.h).
 *
 * libfuse reads the first request, INIT, before it starts any worker thread, and answers it
 * before reading another, so init_unique is written and read by one thread before the
 * session goes multi-threaded; killpriv is read by worker threads afterwards (acquire).
 */
#include "fs_chan.h"

#include <linux/fuse.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static uint64_t init_unique;		/* INIT's unique; see above */
static bool init_offered;		/* the kernel offered FUSE_HANDLE_KILLPRIV_V2 */
static atomic_bool init_answered;	/* relaxed: only a fast path for the hooks */
static atomic_int killpriv;		/* release on set, acquire on read */

static ssize_t chan_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t r = read(fd, buf, len);

	(void)userdata;
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
		}
	}
	return r < 0 ? -1 : r;
}

static ssize_t chan_writev(int fd, struct iovec *iov, int count, void *userdata)
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
			atomic_store_explicit(&init_answered, true, memory_order_relaxed);
		}
	}
	return writev(fd, iov, count);
}

int fs_chan_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = chan_read,
		.writev = chan_writev,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se)) == 0 ? 0 : -1;
}

int fs_chan_killpriv(void)
{
	return atomic_load_explicit(&killpriv, memory_order_acquire);
}
