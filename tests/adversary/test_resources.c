/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Suite 'adversary', host part: a hostile or broken tenant cannot exhaust,
 * stall or desynchronise the daemon (issue 11). dmacached-test with the test
 * backend; every client a t_as() child (non-root, no capabilities) speaking
 * the wire protocol directly. One test per run (argv[1]); each reproduces a
 * row of the issue and fails on the daemon before it:
 *
 *   flood-caps        connections over max_sessions_per_uid / max_sessions
 *                     are closed at once; a real tenant still gets served
 *   hello-deadline    a connection silent past hello_timeout_ms is ended
 *   emfile            accept() at EMFILE does not spin the loop
 *   ctrunc-shortage   a request whose fds the daemon cannot receive (its own
 *                     fd shortage) is answered EMFILE; the session goes on
 *   pipeline          300 STATS and 40 QUERY of 256 leases sent before
 *                     reading: every reply arrives, in order, session kept
 *   quota-cache       register/unregister cycles cannot pin beyond the quota
 *   fds-per-area      1,100 cached areas hold no fd in the daemon
 *   window            whole-space tenants stay out of explicit windows; a
 *                     full window evicts its unused areas before ENOSPC
 *   unmap-failure     a failed unmap keeps the mapping (IOVA not reused),
 *                     counted, retried until it succeeds
 *   iova-intersection areas go where every space (device attached) can map
 *   echo              error replies echo opcode and tag (16-byte packets,
 *                     session-ending errors)
 *
 * Invariants: the root parent starts, controls and reads the daemon; waits
 * are bounded; timings are only bounds on correctness (a loop that spins
 * burns a whole second of CPU per second), never performance figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "adv.h"

#define RW  DMAC_PROTO_PROT_ALL
#define BDF "0000:00:04.0"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A connected socket, or -1 (connect failed). */
static int try_connect(const struct tdaemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, d->sock);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa))) {
		close(s);
		return -1;
	}
	return s;
}

/* Whether the daemon closed @p s within @p ms (EOF or reset). */
static int closed_within(int s, int ms)
{
	struct pollfd p = {.fd = s, .events = POLLIN};
	char c;

	if (poll(&p, 1, ms) != 1)
		return 0;
	return recv(s, &c, 1, MSG_DONTWAIT) <= 0;
}

/* ---- flood-caps ------------------------------------------------------------ */

static void flood_tenant(void *arg)
{
	struct tdaemon *d = arg;
	uint64_t reg;
	int s = adv_hello(d, "a"), fd = t_memfd(MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, MB, RW, &reg), 0);
	close(fd);
	close(s);
}

/* holds 4 connections of uid C open until told to go */
struct hold {
	struct tdaemon *d;
	int go, ack;
	int n;
};

static void holder(void *arg)
{
	struct hold *h = arg;
	int s[16], kept = 0;
	char c;

	for (int i = 0; i < h->n; i++) {
		s[i] = try_connect(h->d);
		if (s[i] >= 0 && !closed_within(s[i], 300))
			kept++;
	}
	if (write(h->ack, &kept, sizeof(kept)) != sizeof(kept) || read(h->go, &c, 1) != 1)
		exit(100);
	for (int i = 0; i < h->n; i++)
		if (s[i] >= 0)
			close(s[i]);
}

static void test_flood_caps(void)
{
	char conf[256];
	struct tdaemon d;
	struct hold h;
	int go[2], ack[2], kept = -1;
	pid_t p;

	snprintf(conf, sizeof(conf),
		 "max_sessions = 6\nmax_sessions_per_uid = 4\n[tenant a]\nuids = %u\n", T_UID_A);
	td_start(&d, conf);
	if (pipe2(go, O_CLOEXEC) || pipe2(ack, O_CLOEXEC))
		exit(1);
	/* uid C (in no tenant) opens 10: 4 stay */
	h = (struct hold){&d, go[0], ack[1], 10};
	p = t_as_spawn(T_UID_C, T_UID_C, NULL, 0, holder, &h);
	CHECK_EQ(read(ack[0], &kept, sizeof(kept)), (ssize_t)sizeof(kept));
	CHECK_EQ(kept, 4);
	CHECK_EQ(td_wait(&d, "sessions", 4), 0);
	/* the tenant (another uid) is served: 5 sessions of 6 */
	t_as_user(T_UID_A, flood_tenant, &d);
	/* uid B fills the last slot; then max_sessions refuses everyone */
	{
		struct hold h2 = {&d, go[0], ack[1], 3};
		pid_t p2 = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, holder, &h2);

		CHECK_EQ(read(ack[0], &kept, sizeof(kept)), (ssize_t)sizeof(kept));
		CHECK_EQ(kept, 2);
		CHECK_EQ(td_wait(&d, "sessions", 6), 0);
		CHECK(write(go[1], "gg", 2) == 2);
		adv_reap(p2);
	}
	adv_reap(p);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	t_as_user(T_UID_A, flood_tenant, &d);
	td_stop(&d);
}

/* ---- hello-deadline --------------------------------------------------------- */

static void deadline_client(void *arg)
{
	struct tdaemon *d = arg;
	uint64_t t0 = now_ms(), dt;
	int idle = try_connect(d), polite = try_connect(d);

	CHECK(idle >= 0 && polite >= 0);
	CHECK_EQ(tc_hello(polite, "a"), 0);
	CHECK_EQ(closed_within(idle, 3000), 1);
	dt = now_ms() - t0;
	CHECK(dt >= 250); /* not before the deadline (300 ms) */
	/* the bound session is not subject to it */
	CHECK_EQ(closed_within(polite, 700), 0);
	close(idle);
	close(polite);
}

static void test_hello_deadline(void)
{
	char conf[128];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "hello_timeout_ms = 300\n[tenant a]\nuids = %u\n", T_UID_A);
	td_start(&d, conf);
	t_as_user(T_UID_A, deadline_client, &d);
	td_stop(&d);
}

/* ---- emfile, ctrunc-shortage ---------------------------------------------------- */

static void emfile_client(void *arg)
{
	struct tdaemon *d = arg;
	long cpu0, cpu1;
	int s;

	td_sync(d, "hog_fds fill\n");
	CHECK(td_get(d, "hog_fds") > 0);
	cpu0 = td_cpu_ms(d->pid);
	/* a connection the daemon cannot give an fd: taken off the queue and
	 * closed, never left to wake the loop forever */
	s = try_connect(d);
	CHECK(s >= 0);
	CHECK_EQ(closed_within(s, 2000), 1);
	close(s);
	usleep(1000 * 1000);
	cpu1 = td_cpu_ms(d->pid);
	fprintf(stderr, "daemon CPU over the second at EMFILE: %ld ms\n", cpu1 - cpu0);
	CHECK(cpu0 >= 0 && cpu1 - cpu0 < 300);
	/* fds back: served again */
	td_sync(d, "hog_fds 0\n");
	s = try_connect(d);
	CHECK(s >= 0);
	CHECK_EQ(tc_hello(s, "a"), 0);
	close(s);
}

static void ctrunc_client(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_stats st;
	uint64_t reg;
	int s = adv_hello(d, "a"), fd = t_memfd(MB, 1);

	td_sync(d, "hog_fds fill\n");
	/* the fd cannot be installed in the daemon: MSG_CTRUNC of its making */
	CHECK_EQ(tc_register(s, fd, 0, MB, RW, &reg), EMFILE);
	CHECK_EQ(tc_stats(s, &st), 0); /* the session goes on */
	td_sync(d, "hog_fds 0\n");
	CHECK_EQ(tc_register(s, fd, 0, MB, RW, &reg), 0);
	close(fd);
	close(s);
}

static void test_fd_shortage(int ctrunc)
{
	char conf[128];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n", T_UID_A);
	td_start(&d, conf);
	t_as_user(T_UID_A, ctrunc ? ctrunc_client : emfile_client, &d);
	td_stop(&d);
}

/* ---- pipeline --------------------------------------------------------------- */

/* Send @p n requests built by @p enc on a non-blocking socket, reading
 * only once the socket is full, and check n replies in order, all 0. */
static void pipelined(int s, int n, int (*enc)(void *buf, uint64_t tag, size_t *len))
{
	static uint64_t buf[DMAC_PROTO_MAX_MSG / 8], rbuf[DMAC_PROTO_MAX_MSG / 8];
	int sent = 0, got = 0, stalled = 0;

	fcntl(s, F_SETFL, O_NONBLOCK);
	while (got < n) {
		int fds[DMAC_PROTO_MAX_FDS];
		unsigned int nfds;
		size_t len, rlen;
		int rc;

		while (sent < n) {
			if (enc(buf, (uint64_t)sent + 1, &len))
				exit(100);
			rc = dmac_proto_send(s, buf, len, NULL, 0);
			if (rc == -EAGAIN)
				break;
			CHECK_EQ(rc, 0);
			if (rc)
				return;
			sent++;
		}
		if (!stalled) {
			/* let the daemon fill our receive queue and stall */
			usleep(300 * 1000);
			stalled = 1;
		}
		{
			struct pollfd p = {.fd = s, .events = POLLIN};

			if (poll(&p, 1, 5000) != 1) {
				CHECK(!"no reply within 5 s");
				return;
			}
		}
		rc = dmac_proto_recv(s, rbuf, sizeof(rbuf), &rlen, fds, &nfds);
		if (rc == -EAGAIN)
			continue;
		CHECK_EQ(rc, 0);
		if (rc)
			return;
		CHECK_EQ(((struct dmac_proto_hdr *)rbuf)->status, 0);
		CHECK_EQ(((struct dmac_proto_hdr *)rbuf)->tag, (uint64_t)got + 1);
		got++;
	}
	fcntl(s, F_SETFL, 0);
}

static int enc_stats(void *buf, uint64_t tag, size_t *len)
{
	return dmac_proto_encode_stats_req(buf, DMAC_PROTO_MAX_MSG, tag, len);
}

static int enc_query(void *buf, uint64_t tag, size_t *len)
{
	return dmac_proto_encode_query_req(buf, DMAC_PROTO_MAX_MSG, tag, 0, 256, len);
}

static void pipeline_client(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_stats st;
	uint64_t reg;
	int s = adv_hello(d, "a"), fd = t_memfd(256 * 4096, 1);

	pipelined(s, 300, enc_stats);
	CHECK_EQ(tc_register(s, fd, 0, 256 * 4096, RW, &reg), 0);
	for (int i = 0; i < 256; i++)
		CHECK_EQ(tc_lease(s, reg, (uint64_t)i * 4096, 4096, RW, NULL), 0);
	pipelined(s, 40, enc_query);
	/* the session and its 256 leases are intact */
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.leases, 256);
	close(fd);
	close(s);
}

static void test_pipeline(void)
{
	char conf[128];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n", T_UID_A);
	td_start(&d, conf);
	t_as_user(T_UID_A, pipeline_client, &d);
	td_stop(&d);
}

/* ---- quota-cache, fds-per-area ----------------------------------------------------- */

static void cycle_client(void *arg)
{
	struct tdaemon *d = arg;
	int s = adv_hello(d, "q");

	for (int i = 0; i < 64; i++) {
		int fd = t_memfd(MB, 1);
		uint64_t reg;

		CHECK_EQ(tc_register(s, fd, 0, MB, RW, &reg), 0);
		CHECK_EQ(tc_unregister(s, reg), 0);
		close(fd); /* the client's memory: gone from its side */
		td_sync(d, NULL);
		CHECK(td_get(d, "bytes_pinned") <= (long long)MB);
	}
	close(s);
}

static void test_quota_cache(void)
{
	char conf[128];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "[tenant q]\nuids = %u\nquota_pinned_bytes = 1M\n", T_UID_A);
	td_start(&d, conf);
	t_as_user(T_UID_A, cycle_client, &d);
	CHECK(td_get(&d, "areas") <= 1);
	CHECK(adv_tstat(&d, "q", "unref_bytes") <= (long long)MB);
	td_stop(&d);
}

static void many_client(void *arg)
{
	struct tdaemon *d = arg;
	int s = adv_hello(d, "a");

	for (int i = 0; i < 1100; i++) {
		int fd = t_memfd(4096, 1);
		uint64_t reg;

		CHECK_EQ(tc_register(s, fd, 0, 4096, RW, &reg), 0);
		close(fd);
	}
	td_sync(d, NULL);
	CHECK_EQ(td_get(d, "registrations"), 1100);
	CHECK_EQ(td_get(d, "areas"), 1100);
	close(s);
}

static void test_fds_per_area(void)
{
	char conf[128];
	struct tdaemon d;
	int fds0;

	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n", T_UID_A);
	td_start(&d, conf);
	fds0 = td_fds(&d);
	t_as_user(T_UID_A, many_client, &d);
	/* the session is gone, its 1,100 areas cached: not one fd for them */
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	CHECK_EQ(td_get(&d, "areas"), 1100);
	CHECK_EQ(td_fds(&d), fds0);
	td_stop(&d);
}

/* ---- window ----------------------------------------------------------------- */

struct win {
	struct tdaemon *d;
	int go, ack;
};

static void whole_tenant(void *arg)
{
	struct win *w = arg;
	uint64_t reg;
	int s = adv_hello(w->d, "z"), fd = t_memfd(8 * MB, 1);
	char c;

	CHECK_EQ(tc_register(s, fd, 0, 8 * MB, RW, &reg), 0);
	if (write(w->ack, "k", 1) != 1 || read(w->go, &c, 1) != 1)
		exit(100);
	close(fd);
	close(s);
}

static void window_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg, reg2;
	int s = adv_hello(d, "w"), a = t_memfd(16 * MB, 1), b = t_memfd(16 * MB, 1);

	/* the whole window is w's, although z registered 8 MiB before */
	CHECK_EQ(tc_register(s, a, 0, 16 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 16 * MB, RW, &g), 0);
	CHECK_EQ(g.iova, 2 * MB);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(tc_unregister(s, reg), 0);
	/* a's area stays cached in the window, unused: evicted for b */
	CHECK_EQ(tc_register(s, b, 0, 16 * MB, RW, &reg2), 0);
	close(a);
	close(b);
	close(s);
}

static void test_window(void)
{
	char conf[256];
	struct tdaemon d;
	struct win w;
	int go[2], ack[2];
	pid_t z;
	char c;

	snprintf(conf, sizeof(conf),
		 "[tenant w]\nuids = %u\niova_start = 0x200000\niova_last = 0x11fffff\n"
		 "[tenant z]\nuids = %u\n",
		 T_UID_A, T_UID_B);
	td_start(&d, conf);
	if (pipe2(go, O_CLOEXEC) || pipe2(ack, O_CLOEXEC))
		exit(1);
	w = (struct win){&d, go[0], ack[1]};
	z = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, whole_tenant, &w);
	CHECK_EQ(read(ack[0], &c, 1), 1);
	t_as_user(T_UID_A, window_tenant, &d);
	td_sync(&d, NULL);
	CHECK(td_get(&d, "evictions") >= 1);
	CHECK(write(go[1], "g", 1) == 1);
	adv_reap(z);
	td_stop(&d);
}

/* ---- unmap-failure ------------------------------------------------------------- */

static void unmap_client(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g, g2;
	uint64_t reg, reg2;
	int s = adv_hello(d, "a"), fd = t_memfd(2 * MB, 1), i;

	/* a tenant copy whose unmap fails at RELEASE */
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	td_sync(d, "backend_fail 1 5\n"); /* the next backend call: EIO */
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	td_sync(d, NULL);
	CHECK_EQ(td_get(d, "unmap_failures"), 1);
	CHECK_EQ(td_get(d, "tenant_copies"), 1); /* kept, still mapped */
	/* its IOVA is not handed out again while it is mapped */
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, NULL), EEXIST);
	/* retried (once a second) until it goes */
	CHECK_EQ(td_wait(d, "unmap_failures", 0), 0);
	CHECK_EQ(td_get(d, "tenant_copies"), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g2), 0);
	CHECK_EQ(g2.iova, g.iova);
	CHECK_EQ(tc_release(s, g2.lease_id, g2.generation), 0);
	/* a master area whose unmap fails at eviction (pinned_budget = 0) */
	td_sync(d, "backend_fail 1 5\n");
	CHECK_EQ(tc_unregister(s, reg), 0);
	td_sync(d, NULL);
	CHECK_EQ(td_get(d, "unmap_failures"), 1);
	CHECK_EQ(td_get(d, "areas"), 0); /* out of the cache, but still mapped: */
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg2), 0);
	CHECK_EQ(tc_lease(s, reg2, 0, 2 * MB, RW, &g2), 0);
	CHECK(g2.iova != g.iova); /* the old IOVA is still taken */
	for (i = 0; i < 500 && td_get(d, "unmap_failures"); i++) {
		usleep(10000);
		td_sync(d, NULL);
	}
	CHECK_EQ(td_get(d, "unmap_failures"), 0);
	CHECK_EQ(tc_release(s, g2.lease_id, g2.generation), 0);
	close(fd);
	close(s);
}

static void test_unmap_failure(void)
{
	char conf[128];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "pinned_budget = 0\n[tenant a]\nuids = %u\nrelease = strict\n",
		 T_UID_A);
	td_start(&d, conf);
	t_as_user(T_UID_A, unmap_client, &d);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "alloc_check"), 0);
	CHECK_EQ(td_get(&d, "cache_check"), 0);
	td_stop(&d);
}

/* ---- iova-intersection ----------------------------------------------------------- */

static void intersect_client(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g;
	const uint64_t big = 0xfee00000ull - 2 * MB; /* [2 MiB, the MSI window) */
	uint64_t reg, reg2;
	int s = adv_hello(d, "a"), fb = t_memfd(big, 1), fs = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fb, 0, big, RW, &reg), 0);
	CHECK_EQ(tc_register(s, fs, 0, 2 * MB, RW, &reg2), 0);
	/* a's space (a device attached) cannot map the MSI window: the area
	 * must not be there, and the lease works */
	CHECK_EQ(tc_lease(s, reg2, 0, 2 * MB, RW, &g), 0);
	CHECK(g.iova + 2 * MB <= 0xfee00000ull || g.iova > 0xfeefffffull);
	CHECK(g.iova + 2 * MB - 1 < (1ull << 48));
	close(fb);
	close(fs);
	close(s);
}

static void test_iova_intersection(void)
{
	char conf[128], dir[64], cmd[128];
	struct tdaemon d;

	snprintf(dir, sizeof(dir), "/tmp/dmacd-adv-XXXXXX");
	if (!mkdtemp(dir))
		exit(1);
	setenv("DMAC_TEST_DEVICES", BDF, 1);
	setenv("DMAC_TEST_SYSFS", dir, 1);
	td_fake_device(dir, BDF);
	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\ndevices = 00:04.0\n", T_UID_A);
	td_start(&d, conf);
	/* the plan: no usable range crosses the MSI window or 2^48 */
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "usable 0x200000 0xfedfffff"), 1);
	CHECK_EQ(td_count(&d, "usable 0xfef00000 0xffffffffffff"), 1);
	t_as_user(T_UID_A, intersect_client, &d);
	td_stop(&d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		t_failures++;
}

/* ---- echo ------------------------------------------------------------------------- */

static void echo_client(void *arg)
{
	struct tdaemon *d = arg;
	struct {
		uint32_t size, opcode;
		uint64_t tag;
	} shorty = {16, DMAC_OP_STATS, 0x1234abcdull};
	static uint64_t buf[DMAC_PROTO_MAX_MSG / 8];
	const struct dmac_proto_hdr *h = (const void *)tc_reply;
	struct dmac_proto_reg_range r = {0, RW, 0, 4096, 0, 0};
	int s = adv_hello(d, "a"), p[2];
	size_t len;

	/* a 16-byte packet: too short, but it holds opcode and tag */
	CHECK_EQ(tc_rpc_raw(s, &shorty, sizeof(shorty), NULL, 0), EINVAL);
	CHECK_EQ(h->opcode, DMAC_OP_STATS);
	CHECK_EQ(h->tag, 0x1234abcdull);
	/* a session-ending error (a pipe as memory): echoed, then the end */
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(dmac_proto_encode_register_req(buf, sizeof(buf), 77, &r, 1, 1, &len), 0);
	CHECK_EQ(tc_rpc_raw(s, buf, len, &p[0], 1), EBADFD);
	CHECK_EQ(h->opcode, DMAC_OP_REGISTER);
	CHECK_EQ(h->tag, 77);
	CHECK_EQ(tc_closed(s), 1);
	close(p[0]);
	close(p[1]);
	close(s);
}

static void test_echo(void)
{
	char conf[128];
	struct tdaemon d;

	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n", T_UID_A);
	td_start(&d, conf);
	t_as_user(T_UID_A, echo_client, &d);
	td_stop(&d);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "flood-caps"))
		test_flood_caps();
	else if (!strcmp(t, "hello-deadline"))
		test_hello_deadline();
	else if (!strcmp(t, "emfile"))
		test_fd_shortage(0);
	else if (!strcmp(t, "ctrunc-shortage"))
		test_fd_shortage(1);
	else if (!strcmp(t, "pipeline"))
		test_pipeline();
	else if (!strcmp(t, "quota-cache"))
		test_quota_cache();
	else if (!strcmp(t, "fds-per-area"))
		test_fds_per_area();
	else if (!strcmp(t, "window"))
		test_window();
	else if (!strcmp(t, "unmap-failure"))
		test_unmap_failure();
	else if (!strcmp(t, "iova-intersection"))
		test_iova_intersection();
	else if (!strcmp(t, "echo"))
		test_echo();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		return 2;
	}
	if (t_failures)
		fprintf(stderr, "%s: %d check(s) failed\n", t, t_failures);
	return t_failures ? 1 : 0;
}
