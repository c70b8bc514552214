/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the protocol fd layer (lib/proto/proto_fd.c) over a real
 * socketpair(AF_UNIX, SOCK_SEQPACKET).
 *
 * Invariants of this file: every test starts and ends with the same number of
 * open fds in the process (counted in /proc/self/fd), so a leak on any path of
 * dmac_proto_recv() fails the test that caused it; fds the test creates are
 * closed by the test itself. Ranges are [offset, offset + length).
 *
 * hugetlbfs: the real path uses memfd_create(MFD_HUGETLB) (it needs no free huge
 * pages: nothing is faulted in). The decision itself is also tested with
 * injected statfs results, so it is covered on hosts without hugetlbfs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CHECK_EQ_SIGNED /* errno-style values: print CHECK_EQ operands in decimal */
#include "../check.h"
#include "dmac/proto.h"
#include "proto_internal.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	FATAL_IF(!d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void pair(int sv[2])
{
	FATAL_IF(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
}

/* A memfd of 'size' bytes with 'seals' added (0: none; -1: sealing not allowed). */
static int make_memfd(size_t size, int seals)
{
	int fd = memfd_create("dmac-test", MFD_CLOEXEC | (seals >= 0 ? MFD_ALLOW_SEALING : 0));

	FATAL_IF(fd < 0);
	FATAL_IF(ftruncate(fd, (off_t)size));
	if (seals > 0)
		FATAL_IF(fcntl(fd, F_ADD_SEALS, seals));
	return fd;
}

/* sendmsg with any number of fds and an optional extra control message. */
static ssize_t raw_send(int sock, const void *buf, size_t len, const int *fds, unsigned int n,
			bool creds)
{
	static union {
		char b[CMSG_SPACE(sizeof(int) * 64) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	size_t clen = 0;

	memset(&ctl, 0, sizeof(ctl));
	msg.msg_control = ctl.b;
	msg.msg_controllen = sizeof(ctl.b);
	c = CMSG_FIRSTHDR(&msg);
	if (n) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
		clen += CMSG_SPACE(sizeof(int) * n);
		c = (struct cmsghdr *)(ctl.b + clen);
	}
	if (creds) {
		struct ucred u = {.pid = getpid(), .uid = getuid(), .gid = getgid()};

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(u));
		memcpy(CMSG_DATA(c), &u, sizeof(u));
		clen += CMSG_SPACE(sizeof(u));
	}
	msg.msg_controllen = clen;
	if (!clen)
		msg.msg_control = NULL;
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

static uint64_t g_buf[DMAC_PROTO_MAX_MSG / 8];

static void test_sixteen_fds(void)
{
	int base = count_fds(), sv[2], sent[DMAC_PROTO_MAX_FDS], got[DMAC_PROTO_MAX_FDS];
	const char payload[64] = "sixteen";
	unsigned int nfds = 99;
	size_t len = 0;

	pair(sv);
	for (unsigned int i = 0; i < DMAC_PROTO_MAX_FDS; i++)
		sent[i] = make_memfd(4096 * (i + 1), F_SEAL_SHRINK);
	CHECK_EQ(dmac_proto_send(sv[0], payload, sizeof(payload), sent, DMAC_PROTO_MAX_FDS), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds), 0);
	CHECK_EQ(len, sizeof(payload));
	CHECK_EQ(nfds, DMAC_PROTO_MAX_FDS);
	CHECK(memcmp(g_buf, payload, sizeof(payload)) == 0);
	for (unsigned int i = 0; i < nfds && i < DMAC_PROTO_MAX_FDS; i++) {
		struct stat a, b;
		struct dmac_proto_fdinfo fi;

		CHECK_EQ(fstat(sent[i], &a), 0);
		CHECK_EQ(fstat(got[i], &b), 0);
		CHECK(a.st_ino == b.st_ino && a.st_dev == b.st_dev); /* same objects, in order */
		CHECK(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
		CHECK_EQ(dmac_proto_fd_inspect(got[i], &fi), 0);
		CHECK_EQ(fi.size, 4096 * (i + 1));
	}
	dmac_proto_close_fds(got, nfds);
	CHECK_EQ(got[0], -1);
	dmac_proto_close_fds(sent, DMAC_PROTO_MAX_FDS);
	/* The sender refuses 17 fds itself. */
	CHECK_EQ(dmac_proto_send(sv[0], payload, sizeof(payload), sent, DMAC_PROTO_MAX_FDS + 1),
		 -EINVAL);
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(count_fds(), base);
}

/* 17 fds: MSG_CTRUNC, session-ending, nothing leaked. */
static void test_seventeen_fds(void)
{
	int base = count_fds(), sv[2], sent[DMAC_PROTO_MAX_FDS + 1], got[DMAC_PROTO_MAX_FDS];
	const uint64_t payload[4] = {1, 2, 3, 4};
	unsigned int nfds = 99;
	size_t len = 99;
	int rc;

	pair(sv);
	for (unsigned int i = 0; i < DMAC_PROTO_MAX_FDS + 1; i++)
		sent[i] = make_memfd(4096, F_SEAL_SHRINK);
	CHECK_EQ(raw_send(sv[0], payload, sizeof(payload), sent, DMAC_PROTO_MAX_FDS + 1, false),
		 sizeof(payload));
	dmac_proto_close_fds(sent, DMAC_PROTO_MAX_FDS + 1);
	/* Only the fds in flight are open beyond the baseline now: none in this process. */
	rc = dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds);
	CHECK_EQ(rc, -ETOOMANYREFS);
	CHECK(dmac_proto_err_is_fatal(rc));
	CHECK_EQ(nfds, 0);
	/* the bytes are reported, so that the receiver can echo the header */
	CHECK_EQ(len, sizeof(payload));
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(count_fds(), base);
}

/* MSG_CTRUNC provoked with a receive buffer for 2 fds and 4 sent. */
static void test_ctrunc_small_buffer(void)
{
	int base = count_fds(), sv[2], sent[4], got[DMAC_PROTO_MAX_FDS];
	const uint64_t payload[3] = {7, 8, 9};
	unsigned int nfds = 99;
	size_t len;

	pair(sv);
	for (int i = 0; i < 4; i++)
		sent[i] = make_memfd(4096, F_SEAL_SHRINK);
	CHECK_EQ(dmac_proto_send(sv[0], payload, sizeof(payload), sent, 4), 0);
	CHECK_EQ(dmac__proto_recv_ctl(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds, 2),
		 -ETOOMANYREFS);
	CHECK_EQ(nfds, 0);
	/* A buffer for 1 fd has alignment room for a second: still refused, both closed. */
	CHECK_EQ(dmac_proto_send(sv[0], payload, sizeof(payload), sent, 2), 0);
	CHECK_EQ(dmac__proto_recv_ctl(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds, 1),
		 -ETOOMANYREFS);
	CHECK_EQ(nfds, 0);
	CHECK_EQ(count_fds(), base + 6);
	/* Exactly fitting: accepted. */
	CHECK_EQ(dmac_proto_send(sv[0], payload, sizeof(payload), sent, 2), 0);
	CHECK_EQ(dmac__proto_recv_ctl(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds, 2), 0);
	CHECK_EQ(nfds, 2);
	dmac_proto_close_fds(got, nfds);
	CHECK_EQ(dmac__proto_recv_ctl(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds, 0), -EINVAL);
	CHECK_EQ(dmac__proto_recv_ctl(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds,
				      DMAC_PROTO_MAX_FDS + 1),
		 -EINVAL);
	dmac_proto_close_fds(sent, 4);
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(count_fds(), base);
}

/* MSG_TRUNC, SCM_CREDENTIALS, empty packets, EOF, EAGAIN: fds closed each time. */
static void test_session_ending(void)
{
	int base = count_fds(), sv[2], sent[3], got[DMAC_PROTO_MAX_FDS];
	uint64_t payload[16] = {0};
	unsigned int nfds;
	size_t len;
	int one = 1;

	pair(sv);
	for (int i = 0; i < 3; i++)
		sent[i] = make_memfd(4096, F_SEAL_SHRINK);

	/* Longer than the receive buffer. */
	CHECK_EQ(dmac_proto_send(sv[0], payload, sizeof(payload), sent, 3), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, 64, &len, got, &nfds), -EMSGSIZE);
	CHECK_EQ(nfds, 0);
	CHECK_EQ(count_fds(), base + 5);

	/* A credentials message next to the fds. */
	CHECK_EQ(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	CHECK_EQ(raw_send(sv[0], payload, 32, sent, 3, true), 32);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds), -EPROTO);
	CHECK_EQ(nfds, 0);
	CHECK_EQ(count_fds(), base + 5);
	/* Even without fds, credentials are a control message we never accept. */
	CHECK_EQ(dmac_proto_send(sv[0], payload, 32, NULL, 0), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds), -EPROTO);
	one = 0;
	CHECK_EQ(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);

	/* An empty packet carrying fds. */
	CHECK_EQ(raw_send(sv[0], payload, 0, sent, 2, false), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds), -ECONNRESET);
	CHECK_EQ(nfds, 0);
	CHECK_EQ(count_fds(), base + 5);

	/* Nothing queued on a non-blocking socket. */
	CHECK_EQ(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds), -EAGAIN);
	CHECK(!dmac_proto_err_is_fatal(-EAGAIN));

	/* A well-formed message still goes through after all that. */
	CHECK_EQ(dmac_proto_send(sv[0], payload, 24, sent, 1), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds), 0);
	CHECK_EQ(nfds, 1);
	CHECK_EQ(len, 24);
	dmac_proto_close_fds(got, nfds);

	/* Peer closed. */
	close(sv[0]);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &len, got, &nfds), -ECONNRESET);
	CHECK_EQ(dmac_proto_send(sv[1], payload, 24, NULL, 0), -EPIPE);
	close(sv[1]);
	/* Bad arguments. */
	CHECK_EQ(dmac_proto_send(-1, payload, 0, NULL, 0), -EINVAL);
	CHECK_EQ(dmac_proto_send(-1, payload, DMAC_PROTO_MAX_MSG + 1, NULL, 0), -EINVAL);
	CHECK_EQ(dmac_proto_send(-1, payload, 8, NULL, 1), -EINVAL);
	CHECK_EQ(dmac_proto_send(-1, payload, 8, NULL, 0), -EBADF);
	CHECK_EQ(dmac_proto_recv(-1, g_buf, sizeof(g_buf), &len, got, &nfds), -EBADF);
	CHECK_EQ(dmac_proto_recv(-1, NULL, 8, &len, got, &nfds), -EINVAL);
	dmac_proto_close_fds(sent, 3);
	CHECK_EQ(count_fds(), base);
}

/* REGISTER end to end: encode, send with fds, receive, decode, inspect. */
static void test_register_flow(void)
{
	static uint64_t out[DMAC_PROTO_MAX_MSG / 8];
	int base = count_fds(), sv[2], sent[3], got[DMAC_PROTO_MAX_FDS];
	const struct dmac_proto_reg_range r[] = {
	    {.fd_index = 0, .prot = DMAC_PROTO_PROT_READ, .offset = 0, .length = 8192},
	    {.fd_index = 1, .prot = DMAC_PROTO_PROT_ALL, .offset = 4096, .length = 4096},
	};
	struct dmac_proto_view v;
	unsigned int nfds;
	size_t len, rlen;

	pair(sv);
	sent[0] = make_memfd(8192, F_SEAL_SHRINK | F_SEAL_GROW);
	sent[1] = make_memfd(16384, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	sent[2] = make_memfd(4096, F_SEAL_SHRINK);
	CHECK_EQ(dmac_proto_encode_register_req(out, sizeof(out), 55, r, 2, 2, &len), 0);
	CHECK_EQ(dmac_proto_send(sv[0], out, len, sent, 2), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &rlen, got, &nfds), 0);
	CHECK_EQ(rlen, len);
	CHECK_EQ(dmac_proto_decode_request(g_buf, rlen, nfds, &v), 0);
	CHECK_EQ(v.count, 2);
	for (uint32_t i = 0; i < v.count; i++) {
		const struct dmac_proto_reg_range *e = dmac_proto_view_elem(&v, i);
		struct dmac_proto_fdinfo fi;

		CHECK_EQ(dmac_proto_fd_inspect(got[e->fd_index], &fi), 0);
		CHECK_EQ(fi.kind, DMAC_FD_SHMEM);
		CHECK_EQ(dmac_proto_fd_check_range(&fi, e->offset, e->length), 0);
	}
	dmac_proto_close_fds(got, nfds);

	/* The same request with a third fd it does not reference: session-ending. */
	CHECK_EQ(dmac_proto_send(sv[0], out, len, sent, 3), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &rlen, got, &nfds), 0);
	CHECK_EQ(nfds, 3);
	CHECK_EQ(dmac_proto_decode_request(g_buf, rlen, nfds, &v), -EBADR);
	dmac_proto_close_fds(got, nfds);
	/* And with one fd too few. */
	CHECK_EQ(dmac_proto_send(sv[0], out, len, sent, 1), 0);
	CHECK_EQ(dmac_proto_recv(sv[1], g_buf, sizeof(g_buf), &rlen, got, &nfds), 0);
	CHECK_EQ(dmac_proto_decode_request(g_buf, rlen, nfds, &v), -EBADR);
	dmac_proto_close_fds(got, nfds);

	dmac_proto_close_fds(sent, 3);
	close(sv[0]);
	close(sv[1]);
	CHECK_EQ(count_fds(), base);
}

static void test_inspect_types(void)
{
	int base = count_fds(), p[2], sv[2], fd;
	struct dmac_proto_fdinfo fi;
	struct statfs sfs;

	/* memfd without seals, with sealing allowed: refused. */
	fd = make_memfd(4096, 0);
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), -EPERM);
	CHECK(!dmac_proto_err_is_fatal(-EPERM));
	/* Growing is not enough; shrinking must be sealed. */
	FATAL_IF(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW));
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), -EPERM);
	FATAL_IF(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK));
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), 0);
	CHECK_EQ(fi.kind, DMAC_FD_SHMEM);
	CHECK_EQ(fi.seals & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
	CHECK_EQ(fi.seals & F_SEAL_SEAL, 0);
	CHECK_EQ(fi.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
	CHECK_EQ(fi.size, 4096);
	close(fd);
	/* memfd that cannot be sealed: refused (it can always shrink). */
	fd = make_memfd(4096, -1);
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), -EPERM);
	close(fd);
	/* Fully sealed: accepted, F_SEAL_SEAL reported. */
	fd = make_memfd(1 << 20, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), 0);
	CHECK(fi.seals & F_SEAL_SEAL);
	CHECK(fi.ino != 0);
	close(fd);

	/* Wrong types: pipe, socket, directory, character device, disk file. */
	FATAL_IF(pipe2(p, O_CLOEXEC));
	CHECK_EQ(dmac_proto_fd_inspect(p[0], &fi), -EBADFD);
	CHECK_EQ(dmac_proto_fd_inspect(p[1], &fi), -EBADFD);
	CHECK(dmac_proto_err_is_fatal(-EBADFD));
	close(p[0]);
	close(p[1]);
	pair(sv);
	CHECK_EQ(dmac_proto_fd_inspect(sv[0], &fi), -EBADFD);
	close(sv[0]);
	close(sv[1]);
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FATAL_IF(fd < 0);
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), -EBADFD);
	close(fd);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	FATAL_IF(fd < 0);
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), -EBADFD);
	close(fd);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	FATAL_IF(fd < 0);
	FATAL_IF(fstatfs(fd, &sfs));
	/* The test binary lives on a disk filesystem (tmpfs would be an unsealed shmem file). */
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi),
		 (unsigned long)sfs.f_type == TMPFS_MAGIC ? -EPERM : -EBADFD);
	close(fd);
	/* An O_PATH fd of an acceptable memfd: no access right, refused. */
	fd = make_memfd(4096, F_SEAL_SHRINK);
	{
		char path[64];
		int op;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		op = open(path, O_PATH | O_CLOEXEC);
		FATAL_IF(op < 0);
		CHECK_EQ(dmac_proto_fd_inspect(op, &fi), -EBADF);
		CHECK(!dmac_proto_err_is_fatal(-EBADF));
		close(op);
	}
	close(fd);
	/* Not an fd at all. */
	CHECK_EQ(dmac_proto_fd_inspect(-1, &fi), -EBADF);
	CHECK_EQ(dmac_proto_fd_inspect(0, NULL), -EINVAL);
	CHECK_EQ(count_fds(), base);
}

static void test_hugetlbfs_real(void)
{
	int fd = memfd_create("dmac-huge", MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING);
	struct dmac_proto_fdinfo fi;

	if (fd < 0) {
		printf("note: memfd_create(MFD_HUGETLB) failed (%s): hugetlbfs covered by the "
		       "injected test only\n",
		       strerror(errno));
		return;
	}
	FATAL_IF(ftruncate(fd, 2 << 20));
	/* Sealable and not sealed: refused. */
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), -EPERM);
	FATAL_IF(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), 0);
	CHECK_EQ(fi.kind, DMAC_FD_HUGETLBFS);
	CHECK(fi.page_size >= (2u << 20));
	CHECK_EQ(fi.size, 2 << 20);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 0, 2 << 20), 0);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 0, 4096), -EINVAL);
	close(fd);
	/* A hugetlbfs memfd that can never be sealed: accepted, seals report that. */
	fd = memfd_create("dmac-huge2", MFD_CLOEXEC | MFD_HUGETLB);
	FATAL_IF(fd < 0);
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), 0);
	CHECK_EQ(fi.kind, DMAC_FD_HUGETLBFS);
	CHECK(fi.seals & F_SEAL_SEAL);
	CHECK_EQ(fi.size, 0);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 0, fi.page_size), -ERANGE);
	close(fd);
}

static void test_classify_injected(void)
{
	struct dmac_proto_fdinfo fi;
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_mode = S_IFREG | 0600;
	st.st_size = 1ll << 31;
	st.st_blksize = 1 << 21;
	st.st_ino = 77;

	/* hugetlbfs: the page size comes from f_bsize, else st_blksize. */
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 1l << 30, F_SEAL_SHRINK, &fi), 0);
	CHECK_EQ(fi.kind, DMAC_FD_HUGETLBFS);
	CHECK_EQ(fi.page_size, 1ull << 30);
	CHECK_EQ(fi.ino, 77);
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 0, F_SEAL_SHRINK, &fi), 0);
	CHECK_EQ(fi.page_size, 1ull << 21);
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 3000, F_SEAL_SHRINK, &fi), -EBADFD);
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 1l << 21, 0, &fi), -EPERM);
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 1l << 21, F_SEAL_GROW, &fi), -EPERM);
	/* Unsealable hugetlbfs file (created in a mount): accepted. */
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 1l << 21, F_SEAL_SEAL, &fi), 0);
	CHECK_EQ(fi.seals, F_SEAL_SEAL);
	/* A failing F_GET_SEALS is never "unsealable": wrong kind of fd. */
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 1l << 21, -EINVAL, &fi), -EBADFD);
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 1l << 21, -EBADF, &fi), -EBADFD);
	/* tmpfs: seals required, and must be supported. */
	CHECK_EQ(dmac__proto_fd_classify(&st, TMPFS_MAGIC, 4096, F_SEAL_SHRINK, &fi), 0);
	CHECK_EQ(fi.kind, DMAC_FD_SHMEM);
	CHECK_EQ(dmac__proto_fd_classify(&st, TMPFS_MAGIC, 4096, F_SEAL_SEAL, &fi), -EPERM);
	CHECK_EQ(dmac__proto_fd_classify(&st, TMPFS_MAGIC, 4096, -EINVAL, &fi), -EBADFD);
	/* Other filesystems (ext4, xfs, btrfs magics) and non-regular files. */
	CHECK_EQ(dmac__proto_fd_classify(&st, 0xEF53, 4096, F_SEAL_SHRINK, &fi), -EBADFD);
	CHECK_EQ(dmac__proto_fd_classify(&st, 0x58465342, 4096, -EINVAL, &fi), -EBADFD);
	CHECK_EQ(dmac__proto_fd_classify(&st, 0x9123683E, 4096, -EINVAL, &fi), -EBADFD);
	st.st_mode = S_IFDIR | 0700;
	CHECK_EQ(dmac__proto_fd_classify(&st, HUGETLBFS_MAGIC, 1l << 21, F_SEAL_SHRINK, &fi),
		 -EBADFD);
	st.st_mode = S_IFSOCK | 0700;
	CHECK_EQ(dmac__proto_fd_classify(&st, TMPFS_MAGIC, 4096, F_SEAL_SHRINK, &fi), -EBADFD);
}

static void test_check_range(void)
{
	struct dmac_proto_fdinfo fi = {
	    .kind = DMAC_FD_HUGETLBFS, .size = 8ull << 21, .page_size = 1ull << 21};

	CHECK_EQ(dmac_proto_fd_check_range(&fi, 0, 8ull << 21), 0);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 7ull << 21, 1ull << 21), 0);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 7ull << 21, 2ull << 21), -ERANGE);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 8ull << 21, 1ull << 21), -ERANGE);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 0, 0), -EINVAL);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 4096, 1ull << 21), -EINVAL);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 0, (1ull << 21) + 4096), -EINVAL);
	/* misaligned and wrapping: the misalignment is reported (EINVAL first) */
	CHECK_EQ(dmac_proto_fd_check_range(&fi, UINT64_MAX - (1ull << 21) + 2, 1ull << 21),
		 -EINVAL);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, ~((1ull << 21) - 1), 1ull << 21), -EOVERFLOW);
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 1ull << 21, UINT64_MAX & ~((1ull << 21) - 1)),
		 -EOVERFLOW);
	CHECK_EQ(dmac_proto_fd_check_range(NULL, 0, 4096), -EINVAL);
	fi.page_size = 0;
	CHECK_EQ(dmac_proto_fd_check_range(&fi, 0, 4096), -EINVAL);
}

/* Access mode and write seals bound the prot a registration may ask. */
static void test_check_prot(void)
{
	const uint32_t R = DMAC_PROTO_PROT_READ, W = DMAC_PROTO_PROT_WRITE, RW = R | W;
	struct dmac_proto_fdinfo fi;
	char path[64];
	int fd, ro, wo;

	/* the pure decision, every combination */
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, 0, RW), 0);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, 0, W), 0);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, 0, R), 0);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDONLY, 0, R), 0);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDONLY, 0, W), -EACCES);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDONLY, 0, RW), -EACCES);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_WRONLY, 0, R), -EACCES);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_WRONLY, 0, W), -EACCES);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR | O_PATH, 0, R), -EBADF);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, F_SEAL_WRITE, RW), -EPERM);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, F_SEAL_FUTURE_WRITE, W), -EPERM);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, F_SEAL_WRITE | F_SEAL_SHRINK, R), 0);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, F_SEAL_SHRINK | F_SEAL_GROW, RW), 0);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, 0, 0), -EINVAL);
	CHECK_EQ(dmac__proto_fd_prot_decide(O_RDWR, 0, 4), -EINVAL);

	/* real fds: a read-only reopen of a memfd, a write-only one, a write seal */
	fd = make_memfd(8192, F_SEAL_SHRINK);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	wo = open(path, O_WRONLY | O_CLOEXEC);
	FATAL_IF(ro < 0 || wo < 0);
	CHECK_EQ(dmac_proto_fd_inspect(ro, &fi), 0);
	CHECK_EQ(dmac_proto_fd_check_prot(ro, &fi, R), 0);
	CHECK_EQ(dmac_proto_fd_check_prot(ro, &fi, RW), -EACCES);
	CHECK_EQ(dmac_proto_fd_check_prot(ro, &fi, W), -EACCES);
	CHECK_EQ(dmac_proto_fd_inspect(wo, &fi), 0);
	CHECK_EQ(dmac_proto_fd_check_prot(wo, &fi, R), -EACCES);
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), 0);
	CHECK_EQ(dmac_proto_fd_check_prot(fd, &fi, RW), 0);
	FATAL_IF(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	CHECK_EQ(dmac_proto_fd_inspect(fd, &fi), 0);
	CHECK_EQ(dmac_proto_fd_check_prot(fd, &fi, RW), -EPERM);
	CHECK_EQ(dmac_proto_fd_check_prot(fd, &fi, R), 0);
	/* the access mode inspect read is the one checked (one fcntl per fd);
	 * without it (open_flags -1) the fd is asked */
	CHECK_EQ(dmac_proto_fd_inspect(ro, &fi), 0);
	CHECK_EQ(fi.open_flags & O_ACCMODE, O_RDONLY);
	CHECK_EQ(dmac_proto_fd_check_prot(-1, &fi, RW), -EACCES);
	fi.open_flags = -1;
	CHECK_EQ(dmac_proto_fd_check_prot(-1, &fi, R), -EBADF);
	CHECK_EQ(dmac_proto_fd_check_prot(ro, &fi, RW), -EACCES);
	CHECK_EQ(dmac_proto_fd_check_prot(ro, &fi, R), 0);
	CHECK_EQ(dmac_proto_fd_check_prot(fd, NULL, R), -EINVAL);
	close(wo);
	close(ro);
	close(fd);
}

int main(void)
{
	int base = count_fds();

	test_sixteen_fds();
	test_seventeen_fds();
	test_ctrunc_small_buffer();
	test_session_ending();
	test_register_flow();
	test_inspect_types();
	test_hugetlbfs_real();
	test_classify_injected();
	test_check_range();
	test_check_prot();
	CHECK_EQ(count_fds(), base);
	return check_report("test_proto_fd");
}
