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
 * - no fd leaks (fd_check() below): after every input, every fd number that
 *   the kernel could have handed to the target during it is either free, or
 *   was open before it, or is a new fd that refers to none of the target's
 *   files; the receive path can only leave open the files the target sent
 *   (SCM_RIGHTS installs the sender's open file) or a dup of one of its own
 *   fds, so any such fd is caught at once. New fds of other files belong
 *   to the fuzzing runtime (llvm-symbolizer's pipes, started by the sanitizer
 *   when libFuzzer first prints a NEW_FUNC line): each is reported once and
 *   tolerated, at most FD_FOREIGN_MAX of them in a run, so a leak of some
 *   other kind of fd still fails after a few inputs;
 * - none of the target's own fds (the pool, the socketpair) is closed;
 * - an error from dmac_proto_recv() reports no fds, and is session-ending
 *   (dmac_proto_err_is_fatal) - nothing else can happen on this socket;
 * - more fds than the control buffer holds always fail with ETOOMANYREFS;
 * - a decoded REGISTER has exactly as many fds as it references.
 *
 * -DDMAC_FUZZ_INTAKE_LEAK=N builds a deliberately broken variant that proves
 * the fd check: 1 keeps the last fd received by each input open, 2 keeps a dup
 * of the socket, 3 keeps a new descriptor of /proc/self/stat per input; with
 * -DDMAC_FUZZ_INTAKE_LEAK_AFTER=K only from input K+1 on (under libFuzzer:
 * after the symbolizer's pipes are open). -DDMAC_FUZZ_INTAKE_FULL_EVERY=N
 * runs the full fd check every N inputs (default 1024).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

#ifndef DMAC_FUZZ_INTAKE_LEAK
#define DMAC_FUZZ_INTAKE_LEAK 0 /* the real target */
#endif
#ifndef DMAC_FUZZ_INTAKE_LEAK_AFTER
#define DMAC_FUZZ_INTAKE_LEAK_AFTER 0 /* inputs run before a variant leaks */
#endif

#define POOL	 8
#define MAX_SEND 20

static int g_pool[POOL];
static int g_sv[2];
static bool g_ready;
static unsigned long g_runs; /* inputs run (the leaking variants) */
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

/* ---- fd accounting --------------------------------------------------------
 *
 * The kernel gives every new fd the lowest free number. One input opens at
 * most MAX_SEND received fds (a leaking variant one more), and at most
 * FD_FOREIGN_MAX fds of the runtime are ever tolerated, so every fd the target
 * can leave open lands below g_nwin = (the lowest free fd at set-up) +
 * FD_WINDOW. g_fd[] holds what was last seen of each number in [0, g_nwin).
 *
 * - After every input, one poll() of the FD_QUICK lowest numbers that were
 *   free before it (POLLNVAL: still free): unless the input also closed an fd
 *   that was open before it, its new fds took numbers among those, so a leak
 *   is caught on the input that made it.
 * - When that poll sees an open number, and every FD_FULL_EVERY inputs, the
 *   full check (fd_full_check) compares every number of the window with
 *   g_fd[]: new fds are classified (the target's files abort, others are the
 *   runtime's), the target's own fds must be open, the runtime's must still
 *   be the same files (a close of a wrong fd, whose number a leak could then
 *   take, is caught within FD_FULL_EVERY inputs), and the quick list is
 *   rebuilt. The runtime's fds opened between inputs (the symbolizer's pipes)
 *   are seen by the quick poll when they take one of its numbers.
 * A leak is never missed, since a leaked fd stays open: at worst (an input
 * that closed a wrong fd, or the runtime that closed one of its own, before
 * the leak took that number) the full check finds it up to FD_FULL_EVERY
 * inputs later, and libFuzzer then saves a later input than the guilty one.
 */
#define FD_FOREIGN_MAX 16
#define FD_WINDOW      64
#define FD_QUICK       (MAX_SEND + 4)
#ifdef DMAC_FUZZ_INTAKE_FULL_EVERY
#define FD_FULL_EVERY DMAC_FUZZ_INTAKE_FULL_EVERY
#else
#define FD_FULL_EVERY 1024
#endif

_Static_assert(FD_WINDOW >= FD_FOREIGN_MAX + FD_QUICK, "the window holds every leak");
_Static_assert(FD_QUICK <= 32, "poll() of the quick list needs no allocation");

enum fd_owner { FD_FREE, FD_TARGET, FD_FOREIGN };

struct fd_seen {
	enum fd_owner owner;
	dev_t dev; /* FD_FOREIGN: the file it was */
	ino_t ino;
};

static struct fd_seen *g_fd;
static struct pollfd *g_win;
static int g_nwin;
static unsigned int g_foreign; /* runtime fds accepted since set-up */
static struct pollfd g_quick[FD_QUICK];
static unsigned int g_since_full;

static bool own_fd(int fd)
{
	for (int i = 0; i < POOL; i++)
		if (g_pool[i] == fd)
			return true;
	return fd == g_sv[0] || fd == g_sv[1];
}

/* Whether fd is an open file of the target's (the same struct file as one of
 * its own fds: a received fd or a dup). kcmp(KCMP_FILE) is exact; without it
 * (no CONFIG_KCMP, or a seccomp filter) the inode decides, which may blame
 * the target for a runtime fd of "/" or /dev/null: loud, never silent. */
static bool target_file(int fd, const struct stat *st)
{
	pid_t me = getpid();

	for (int i = 0; i < POOL + 2; i++) {
		int own = i < POOL ? g_pool[i] : g_sv[i - POOL];
		long r = syscall(SYS_kcmp, me, me, KCMP_FILE, fd, own);
		struct stat ost;

		if (r == 0)
			return true;
		if (r > 0)
			continue;
		FUZZ_ASSERT(fstat(own, &ost) == 0);
		if (ost.st_dev == st->st_dev && ost.st_ino == st->st_ino)
			return true;
	}
	return false;
}

static void fd_name(int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, size - 1);
	buf[n > 0 ? n : 0] = '\0';
}

/* fd is open and was not (or is another file than before): the target's leak
 * (abort) or the runtime's fd (remembered, counted). */
static void fd_new(int fd)
{
	char name[256];
	struct stat st;

	FUZZ_ASSERT(fstat(fd, &st) == 0);
	fd_name(fd, name, sizeof(name));
	if (target_file(fd, &st)) {
		fprintf(stderr,
			"fuzz_proto_intake: invariant failed: fd leak: fd %d (%s) is a file of the "
			"target's, left open\n",
			fd, name);
		abort();
	}
	if (++g_foreign > FD_FOREIGN_MAX) {
		fprintf(stderr,
			"fuzz_proto_intake: invariant failed: fd leak: fd %d (%s) is the %u-th fd "
			"opened outside the target (at most %d): not the runtime's\n",
			fd, name, g_foreign, FD_FOREIGN_MAX);
		abort();
	}
	fprintf(stderr,
		"fuzz_proto_intake: fd %d (%s) opened outside the target: the runtime's, not a "
		"leak (%u of at most %d)\n",
		fd, name, g_foreign, FD_FOREIGN_MAX);
	g_fd[fd] = (struct fd_seen){FD_FOREIGN, st.st_dev, st.st_ino};
}

/* The full check of the fd accounting above. */
static void fd_full_check(void)
{
	FUZZ_ASSERT(poll(g_win, (nfds_t)g_nwin, 0) >= 0);
	for (int fd = 0; fd < g_nwin; fd++) {
		bool open = !(g_win[fd].revents & POLLNVAL);
		struct stat st;

		switch (g_fd[fd].owner) {
		case FD_TARGET:
			if (!open) {
				fprintf(stderr,
					"fuzz_proto_intake: invariant failed: the target's fd %d "
					"was closed\n",
					fd);
				abort();
			}
			break;
		case FD_FOREIGN:
			if (!open)
				g_fd[fd].owner = FD_FREE; /* the runtime closed it */
			else if (fstat(fd, &st) || st.st_dev != g_fd[fd].dev ||
				 st.st_ino != g_fd[fd].ino)
				fd_new(fd); /* closed and the number reused */
			break;
		case FD_FREE:
			if (open)
				fd_new(fd);
			break;
		}
	}
}

static void fd_quick_rebuild(void)
{
	int n = 0;

	for (int fd = 0; fd < g_nwin && n < FD_QUICK; fd++)
		if (g_fd[fd].owner == FD_FREE)
			g_quick[n++] = (struct pollfd){.fd = fd, .events = 0};
	FUZZ_ASSERT(n == FD_QUICK); /* FD_WINDOW's bound */
}

/* After every input. */
static void fd_check(void)
{
	bool clean;

	FUZZ_ASSERT(poll(g_quick, FD_QUICK, 0) >= 0);
	clean = true;
	for (int i = 0; i < FD_QUICK; i++)
		clean &= g_quick[i].revents == POLLNVAL;
	if (clean && ++g_since_full < FD_FULL_EVERY)
		return;
	fd_full_check();
	fd_quick_rebuild();
	g_since_full = 0;
}

/* The baseline, once the target's fds are open: everything below the lowest
 * free number is open, the target's or the runtime's (not counted against
 * FD_FOREIGN_MAX: they lie below every number a leak can take). */
static void fd_setup(void)
{
	int lowest = fcntl(g_sv[0], F_DUPFD_CLOEXEC, 0);

	FUZZ_ASSERT(lowest >= 0);
	close(lowest);
	g_nwin = lowest + FD_WINDOW;
	g_fd = calloc((size_t)g_nwin, sizeof(*g_fd));
	g_win = calloc((size_t)g_nwin, sizeof(*g_win));
	FUZZ_ASSERT(g_fd && g_win);
	for (int fd = 0; fd < g_nwin; fd++)
		g_win[fd] = (struct pollfd){.fd = fd, .events = 0};
	FUZZ_ASSERT(poll(g_win, (nfds_t)g_nwin, 0) >= 0);
	for (int fd = 0; fd < g_nwin; fd++) {
		struct stat st;

		if (g_win[fd].revents & POLLNVAL)
			continue;
		if (own_fd(fd)) {
			g_fd[fd].owner = FD_TARGET;
			continue;
		}
		FUZZ_ASSERT(fstat(fd, &st) == 0);
		g_fd[fd] = (struct fd_seen){FD_FOREIGN, st.st_dev, st.st_ino};
		if (fd > lowest)
			g_foreign++; /* it narrows the window like a later one */
	}
	fd_quick_rebuild();
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
	fd_setup();
	g_ready = true;
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

	if (!g_ready)
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
#if DMAC_FUZZ_INTAKE_LEAK == 1
	if (nfds && g_runs + 1 > DMAC_FUZZ_INTAKE_LEAK_AFTER)
		nfds--; /* the last one stays open */
#endif
	dmac_proto_close_fds(got, nfds);
check:
#if DMAC_FUZZ_INTAKE_LEAK == 2
	if (g_runs + 1 > DMAC_FUZZ_INTAKE_LEAK_AFTER)
		FUZZ_ASSERT(fcntl(g_sv[0], F_DUPFD_CLOEXEC, 0) >= 0);
#elif DMAC_FUZZ_INTAKE_LEAK == 3
	if (g_runs + 1 > DMAC_FUZZ_INTAKE_LEAK_AFTER)
		FUZZ_ASSERT(open("/proc/self/stat", O_RDONLY | O_CLOEXEC) >= 0);
#endif
	g_runs++;
	fd_check();
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
