/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the daemon's intake path: a packet with 0..20 fds of
 * assorted kinds (sealed and unsealed memfds, pipe, socket, directory,
 * /dev/null, hugetlbfs memfd) and optionally SCM_CREDENTIALS goes over a real
 * SOCK_SEQPACKET socketpair; the receiver runs dmac_proto_recv (with a
 * fuzzer-chosen control buffer of 1..16 fds), dmac_proto_decode_request and, for
 * a REGISTER, dmac_proto_fd_inspect and dmac_proto_fd_check_range on every
 * range, then closes what it received - exactly what the daemon does.
 *
 * Input format: byte 0: fds to send (mod 21); byte 1: control buffer size in fds
 * (mod 16, plus 1); byte 2: bit 0 send credentials, bit 1 receive into a buffer
 * half the packet's size; then one byte per fd (pool index mod 8); the rest is
 * the packet.
 *
 * Invariants checked (abort() on violation):
 * - no fd leaks: after every input the lowest free fd number is the one seen
 *   at start-up, so any fd left open by the receive path is caught at once;
 * - an error from dmac_proto_recv() reports no fds, and is session-ending
 *   (dmac_proto_err_is_fatal) - nothing else can happen on this socket;
 * - more fds than the control buffer holds always fail with ETOOMANYREFS;
 * - a decoded REGISTER has exactly as many fds as it references.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dmac/proto.h"
#include "proto_internal.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define POOL	 8
#define MAX_SEND 20

static int g_pool[POOL];
static int g_sv[2];
static int g_lowest_free;
static uint64_t g_rx[DMAC_PROTO_MAX_MSG / 8];

static int memfd(size_t size, unsigned int flags, int seals)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC | flags);

	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(ftruncate(fd, (off_t)size) == 0);
	if (seals)
		FUZZ_ASSERT(fcntl(fd, F_ADD_SEALS, seals) == 0);
	return fd;
}

static int lowest_free_fd(void)
{
	int fd = fcntl(g_sv[0], F_DUPFD_CLOEXEC, 0);

	FUZZ_ASSERT(fd >= 0);
	close(fd);
	return fd;
}

static void setup(void)
{
	int p[2], s[2];

	g_pool[0] = memfd(1 << 20, MFD_ALLOW_SEALING, F_SEAL_SHRINK | F_SEAL_GROW);
	g_pool[1] = memfd(64 << 10, MFD_ALLOW_SEALING, F_SEAL_SHRINK);
	g_pool[2] = memfd(64 << 10, MFD_ALLOW_SEALING, 0);
	FUZZ_ASSERT(pipe2(p, O_CLOEXEC) == 0);
	close(p[1]);
	g_pool[3] = p[0];
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
	close(s[1]);
	g_pool[4] = s[0];
	g_pool[5] = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g_pool[6] = open("/dev/null", O_RDWR | O_CLOEXEC);
	/* A hugetlbfs memfd when the kernel has hugetlbfs, else one more plain memfd. */
	g_pool[7] = memfd_create("fuzz-huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (g_pool[7] < 0)
		g_pool[7] = memfd(4096, 0, 0);
	for (int i = 0; i < POOL; i++)
		FUZZ_ASSERT(g_pool[i] >= 0);
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, g_sv) == 0);
	FUZZ_ASSERT(fcntl(g_sv[1], F_SETFL, O_NONBLOCK) == 0);
	g_lowest_free = lowest_free_fd();
}

static ssize_t send_raw(const void *buf, size_t len, const int *fds, unsigned int n, bool creds)
{
	static union {
		char b[CMSG_SPACE(sizeof(int) * MAX_SEND) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b};
	struct cmsghdr *c = (struct cmsghdr *)ctl.b;
	size_t clen = 0;

	memset(&ctl, 0, sizeof(ctl));
	if (n) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
		clen = CMSG_SPACE(sizeof(int) * n);
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
	return sendmsg(g_sv[0], &msg, MSG_NOSIGNAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds[MAX_SEND], got[DMAC_PROTO_MAX_FDS];
	unsigned int nsend, ctl_fds, nfds = 0;
	struct dmac_proto_view v;
	bool creds, small;
	size_t len = 0, plen, cap;
	const uint8_t *pkt;
	int one, rc;

	if (!g_lowest_free)
		setup();
	if (size < 3)
		return 0;
	nsend = data[0] % (MAX_SEND + 1);
	ctl_fds = data[1] % DMAC_PROTO_MAX_FDS + 1;
	creds = data[2] & 1;
	small = data[2] & 2;
	if (size < 3 + nsend)
		return 0;
	for (unsigned int i = 0; i < nsend; i++)
		fds[i] = g_pool[data[3 + i] % POOL];
	pkt = data + 3 + nsend;
	plen = size - 3 - nsend;
	if (plen > DMAC_PROTO_MAX_MSG)
		return 0;

	one = creds;
	FUZZ_ASSERT(setsockopt(g_sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
	if (send_raw(pkt, plen, fds, nsend, creds) != (ssize_t)plen)
		return 0;
	cap = small ? plen / 2 + 8 : sizeof(g_rx);
	rc = dmac__proto_recv_ctl(g_sv[1], g_rx, cap, &len, got, &nfds, ctl_fds);
	if (rc) {
		FUZZ_ASSERT(nfds == 0);
		FUZZ_ASSERT(dmac_proto_err_is_fatal(rc));
		if (nsend > ctl_fds)
			FUZZ_ASSERT(rc == -ETOOMANYREFS);
		goto check;
	}
	FUZZ_ASSERT(nfds == nsend && nfds <= ctl_fds && len == plen && plen > 0);
	for (unsigned int i = 0; i < nfds; i++)
		FUZZ_ASSERT(fcntl(got[i], F_GETFD) & FD_CLOEXEC);

	rc = dmac_proto_decode_request(g_rx, len, nfds, &v);
	if (!rc && v.opcode == DMAC_OP_REGISTER) {
		uint32_t seen = 0;

		for (uint32_t i = 0; i < v.count; i++) {
			const struct dmac_proto_reg_range *e = dmac_proto_view_elem(&v, i);
			struct dmac_proto_fdinfo fi;

			FUZZ_ASSERT(e->fd_index < nfds);
			seen |= 1u << e->fd_index;
			rc = dmac_proto_fd_inspect(got[e->fd_index], &fi);
			if (rc) {
				FUZZ_ASSERT(rc == -EBADFD || rc == -EPERM);
				break;
			}
			rc = dmac_proto_fd_check_range(&fi, e->offset, e->length);
			FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ERANGE || rc == -EOVERFLOW);
		}
		if (!rc)
			FUZZ_ASSERT(seen == (nfds ? (1u << nfds) - 1 : 0));
	} else if (!rc) {
		FUZZ_ASSERT(nfds == 0);
	}
	dmac_proto_close_fds(got, nfds);
check:
	FUZZ_ASSERT(lowest_free_fd() == g_lowest_free);
	return 0;
}

#ifdef DMAC_FUZZ_REPLAY
#include "replay.h"

static int seed(const char *dir, const char *name, const uint8_t *pre, size_t npre, const void *msg,
		size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(pre, 1, npre, f) != npre || fwrite(msg, 1, len, f) != len) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f) ? -1 : 0;
}

int fuzz_write_seeds(const char *dir)
{
	static uint64_t b[1024];
	const struct dmac_proto_reg_range rr[] = {
	    {.fd_index = 0, .prot = DMAC_PROTO_PROT_ALL, .offset = 0, .length = 1 << 20},
	    {.fd_index = 1, .prot = DMAC_PROTO_PROT_READ, .offset = 4096, .length = 4096},
	};
	/* nfds, ctl_fds - 1, flags, pool indexes... */
	const uint8_t ok2[] = {2, 15, 0, 0, 1};
	const uint8_t unsealed[] = {2, 15, 0, 0, 2};
	const uint8_t pipe_fd[] = {2, 15, 0, 3, 1};
	const uint8_t three[] = {3, 15, 0, 0, 1, 6};
	const uint8_t ctrunc[] = {2, 0, 0, 0, 1};
	const uint8_t creds[] = {2, 15, 1, 0, 1};
	const uint8_t trunc[] = {2, 15, 2, 0, 1};
	const uint8_t many[] = {17, 15, 0, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0};
	const uint8_t huge[] = {2, 15, 0, 7, 1};
	const uint8_t one_fd[] = {1, 15, 0, 0};
	size_t l;
	int rc;

	rc = dmac_proto_encode_register_req(b, sizeof(b), 1, rr, 2, 2, &l);
	if (!rc)
		rc = seed(dir, "register_ok", ok2, sizeof(ok2), b, l);
	if (!rc)
		rc = seed(dir, "register_unsealed", unsealed, sizeof(unsealed), b, l);
	if (!rc)
		rc = seed(dir, "register_pipe", pipe_fd, sizeof(pipe_fd), b, l);
	if (!rc)
		rc = seed(dir, "register_extra_fd", three, sizeof(three), b, l);
	if (!rc)
		rc = seed(dir, "register_ctrunc", ctrunc, sizeof(ctrunc), b, l);
	if (!rc)
		rc = seed(dir, "register_creds", creds, sizeof(creds), b, l);
	if (!rc)
		rc = seed(dir, "register_trunc", trunc, sizeof(trunc), b, l);
	if (!rc)
		rc = seed(dir, "register_17fds", many, sizeof(many), b, l);
	if (!rc)
		rc = seed(dir, "register_huge", huge, sizeof(huge), b, l);
	if (!rc)
		rc = dmac_proto_encode_stats_req(b, sizeof(b), 2, &l);
	if (!rc)
		rc = seed(dir, "stats_with_fd", one_fd, sizeof(one_fd), b, l);
	return rc;
}
#endif /* DMAC_FUZZ_REPLAY */
