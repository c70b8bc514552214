/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fd layer of the dmacache protocol: one message per SOCK_SEQPACKET packet,
 * fds with SCM_RIGHTS, and the checks an fd must pass to become a backing
 * object (docs/protocol.md, "File descriptors").
 *
 * Invariants of this file:
 * - dmac_proto_recv() owns every fd the kernel installs until it returns: on
 *   success they are handed to the caller, on every error path they are closed
 *   before returning, so no path leaks an fd. *len is the number of bytes
 *   received on success and on the errors detected after recvmsg() returned
 *   (so the header of a refused message can be echoed), 0 otherwise.
 * - At most ctl_fds (normally DMAC_PROTO_MAX_FDS) fds are accepted: a sender
 *   that sends more triggers MSG_CTRUNC (the kernel drops what does not fit in
 *   the control buffer) or, when the buffer's alignment slack holds one more,
 *   our own count check; either way the session ends with -ETOOMANYREFS.
 * - Received fds are always close-on-exec (MSG_CMSG_CLOEXEC).
 * - Ranges are [offset, offset + length), end exclusive, never wrapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "proto_internal.h"

#ifndef F_GET_SEALS
#define F_ADD_SEALS   1033
#define F_GET_SEALS   1034
#define F_SEAL_SEAL   0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW   0x0004
#endif
#ifndef F_SEAL_WRITE
#define F_SEAL_WRITE 0x0008
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

/* Control buffer big enough for DMAC_PROTO_MAX_FDS fds, suitably aligned. */
union dmac__ctl {
	char buf[CMSG_SPACE(sizeof(int) * DMAC_PROTO_MAX_FDS)];
	struct cmsghdr align;
};

void dmac_proto_close_fds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int dmac_proto_send(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	union dmac__ctl ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (!buf || !len || len > DMAC_PROTO_MAX_MSG || nfds > DMAC_PROTO_MAX_FDS || (nfds && !fds))
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/*
	 * Without fds the same packet goes out with send(): one request or reply
	 * per round trip on both sides, and send() skips sendmsg()'s msghdr and
	 * iovec import (docs/performance.md, "Lease scale").
	 */
	do
		n = nfds ? sendmsg(sock, &msg, MSG_NOSIGNAL) : send(sock, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != len)
		return -EMSGSIZE;
	return 0;
}

int dmac__proto_recv_ctl(int sock, void *buf, size_t cap, size_t *len, int *fds, unsigned int *nfds,
			 unsigned int ctl_fds)
{
	union dmac__ctl ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	unsigned int got = 0;
	struct cmsghdr *c;
	int rc = 0;
	ssize_t n;

	if (nfds)
		*nfds = 0;
	if (len)
		*len = 0;
	if (!buf || !cap || !len || !fds || !nfds || !ctl_fds || ctl_fds > DMAC_PROTO_MAX_FDS)
		return -EINVAL;

	memset(&ctl, 0, sizeof(ctl));
	msg.msg_control = ctl.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * ctl_fds);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/* Take ownership of every fd that arrived before judging the message. */
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			rc = -EPROTO;
			continue;
		}
		if (c->cmsg_len < CMSG_LEN(0))
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < ctl_fds) {
				fds[got++] = fd;
			} else {
				/*
				 * CMSG_SPACE() rounds up, so a buffer for an odd
				 * number of fds holds one more: the limit is ours.
				 */
				close(fd);
				rc = -ETOOMANYREFS;
			}
		}
	}

	if (msg.msg_flags & MSG_CTRUNC)
		rc = -ETOOMANYREFS;
	else if (!rc && (msg.msg_flags & MSG_TRUNC))
		rc = -EMSGSIZE;
	else if (!rc && n == 0)
		rc = -ECONNRESET;
	/* the bytes that arrived, also on error: the caller may echo the header */
	*len = (size_t)n < cap ? (size_t)n : cap;
	if (rc)
		goto close_fds;
	*nfds = got;
	return 0;

close_fds:
	dmac_proto_close_fds(fds, got);
	return rc;
}

int dmac_proto_recv(int sock, void *buf, size_t cap, size_t *len, int *fds, unsigned int *nfds)
{
	return dmac__proto_recv_ctl(sock, buf, cap, len, fds, nfds, DMAC_PROTO_MAX_FDS);
}

int dmac__proto_fd_classify(const struct stat *st, long f_type, long f_bsize, int seals,
			    struct dmac_proto_fdinfo *info)
{
	uint64_t page;

	if (!S_ISREG(st->st_mode) || st->st_size < 0)
		return -EBADFD;
	memset(info, 0, sizeof(*info));
	info->open_flags = -1;
	info->size = (uint64_t)st->st_size;
	info->dev = (uint64_t)st->st_dev;
	info->ino = (uint64_t)st->st_ino;

	if ((unsigned long)f_type == (unsigned long)HUGETLBFS_MAGIC) {
		/* f_bsize is the huge page size of the mount (st_blksize agrees). */
		page = f_bsize > 0 ? (uint64_t)f_bsize : (uint64_t)st->st_blksize;
		if (page < DMAC_PROTO_MIN_PAGE || (page & (page - 1)))
			return -EBADFD;
		/* hugetlbfs answers F_GET_SEALS on every open file (Linux >= 4.16);
		 * a failure is never taken to mean "cannot be sealed". */
		if (seals < 0)
			return -EBADFD;
		info->kind = DMAC_FD_HUGETLBFS;
		info->seals = (uint32_t)seals;
		/* Sealable but not sealed against shrinking: refuse. */
		if (!(seals & F_SEAL_SHRINK) && !(seals & F_SEAL_SEAL))
			return -EPERM;
	} else if ((unsigned long)f_type == (unsigned long)TMPFS_MAGIC) {
		if (seals < 0)
			return -EBADFD;
		info->kind = DMAC_FD_SHMEM;
		info->seals = (uint32_t)seals;
		page = (uint64_t)sysconf(_SC_PAGESIZE);
		if (!(seals & F_SEAL_SHRINK))
			return -EPERM;
	} else {
		return -EBADFD;
	}
	info->page_size = page;
	return 0;
}

int dmac_proto_fd_inspect(int fd, struct dmac_proto_fdinfo *info)
{
	struct statfs sfs;
	struct stat st;
	int fl, seals, rc;

	if (!info)
		return -EINVAL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	/* An O_PATH fd grants no access to the file: fstat() works on it, I/O
	 * and mmap() do not, and no permission was checked to obtain it. */
	if (fl & O_PATH)
		return -EBADF;
	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADFD;
	if (fstatfs(fd, &sfs))
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		seals = -errno;
	rc = dmac__proto_fd_classify(&st, (long)sfs.f_type, (long)sfs.f_bsize, seals, info);
	if (rc == 0)
		info->open_flags = fl;
	return rc;
}

int dmac_proto_fd_check_range(const struct dmac_proto_fdinfo *info, uint64_t offset,
			      uint64_t length)
{
	uint64_t end;

	if (!info || !info->page_size || !length)
		return -EINVAL;
	/* protocol.md 5.3: alignment (EINVAL), then overflow, then the size */
	if (offset % info->page_size || length % info->page_size)
		return -EINVAL;
	if (__builtin_add_overflow(offset, length, &end))
		return -EOVERFLOW;
	if (end > info->size)
		return -ERANGE;
	return 0;
}

int dmac__proto_fd_prot_decide(int fl, uint32_t seals, uint32_t prot)
{
	int acc = fl & O_ACCMODE;

	if (!prot || (prot & ~DMAC_PROTO_PROT_ALL))
		return -EINVAL;
	if (fl & O_PATH)
		return -EBADF;
	/* The daemon maps the file MAP_SHARED, which needs read access for any
	 * prot; a device that reads the memory learns its contents. */
	if (acc != O_RDONLY && acc != O_RDWR)
		return -EACCES;
	if (prot & DMAC_PROTO_PROT_WRITE) {
		if (acc != O_RDWR)
			return -EACCES;
		if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
			return -EPERM;
	}
	return 0;
}

int dmac_proto_fd_check_prot(int fd, const struct dmac_proto_fdinfo *info, uint32_t prot)
{
	int fl;

	if (!info)
		return -EINVAL;
	/* the access mode inspect read (one fcntl() per fd, not per range) */
	fl = info->open_flags >= 0 ? info->open_flags : fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	return dmac__proto_fd_prot_decide(fl, info->seals, prot);
}
