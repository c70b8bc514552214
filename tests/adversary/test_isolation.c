/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Suite 'adversary', host part: hostile tenants against the real
 * dmacached-test (test backend), speaking the wire protocol directly (never
 * through libdmacache's own checks), as non-root uids with no capabilities
 * (t_as(): setresuid, setresgid, setgroups, no_new_privs; verified). One test
 * per run (argv[1]); each names the attack in the issue it reproduces and
 * fails on a daemon that lets it through.
 *
 *   ro-fd           a read-only reopen of another tenant's memfd: READ only,
 *                   never a WRITE registration or lease, on a cache hit as on
 *                   a miss, also after the owner unregistered; the master and
 *                   tenant mappings carry READ only
 *   opath-fd        an O_PATH fd of another tenant's hugetlbfs memfd: EBADF,
 *                   the session goes on
 *   write-seal      a write-sealed memfd (F_SEAL_FUTURE_WRITE): READ only
 *   ident-collision two live files reporting the same (st_dev, st_ino)
 *                   (tmpfs's inode counter wraps): never a cache hit
 *   stats-scope     STATS tells a tenant its own figures only
 *   query-cursor    QUERY refuses cursors it never issued
 *   sighup-revoke   removing a uid, a supplementary gid or an admin gid ends
 *                   the sessions that held that permission, reclaimed with
 *                   their leases, device stopped
 *   reload-atomic   a reload that cannot open a device changes nothing (the
 *                   tenant it would remove keeps working); a valid one applies
 *   stale-bar       a device is not claimed again while any process still has
 *                   a BAR file of an earlier claim: fd, mapping, inherited
 *                   mapping, fd in flight; not in the same tenant, not after a
 *                   reload moved it to another tenant; bus master stays off
 *   msi-unsafe      with allow_unsafe_interrupts set the daemon refuses devices
 *
 * Invariants: the root parent only starts, reloads, reads and stops the
 * daemon; every tenant action runs in a t_as() child (or a t_as_spawn() child
 * for a tenant that must stay alive while another acts). Waits are bounded.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adv.h"

#define R   DMAC_PROTO_PROT_READ
#define W   DMAC_PROTO_PROT_WRITE
#define RW  (R | W)
#define BDF "0000:00:04.0"

/* Two tenants: a (uid A), b (uid B), and extra text. */
static const char *conf2(const char *extra)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "[tenant a]\nuids = %u\n[tenant b]\nuids = %u\n%s", T_UID_A,
		 T_UID_B, extra ? extra : "");
	return buf;
}

/* ---- ro-fd, opath-fd, write-seal: fds a tenant should not turn into writes --- */

struct pair {
	struct tdaemon *d;
	int sock;     /* this child's end of the peer socketpair */
	int variant;  /* per test */
	int result_w; /* pipe to the parent: what the attacker saw */
};

enum { V_RO, V_OPATH, V_SEAL };

/*
 * Victim (tenant a): registers and leases its memory read-write, then hands
 * the attacker an fd it should not be able to turn into writes: an O_RDONLY
 * reopen (V_RO), an O_PATH fd of a hugetlbfs memfd (V_OPATH), or its own
 * O_RDWR fd after sealing the memfd with F_SEAL_FUTURE_WRITE (V_SEAL).
 * Second round (V_RO): it releases and unregisters, leaving the area cached.
 */
static void victim(void *arg)
{
	struct pair *p = arg;
	struct dmac_proto_lease_grant g;
	struct adv_msg m;
	char path[64];
	uint64_t reg, len = p->variant == V_OPATH ? 2 * MB : 4 * MB;
	int s = adv_hello(p->d, "a"), fd, give;

	if (p->variant == V_OPATH) {
		fd = memfd_create("victim-huge", MFD_CLOEXEC | MFD_HUGETLB);
		CHECK(fd >= 0);
		CHECK_EQ(ftruncate(fd, (off_t)len), 0);
	} else {
		fd = t_memfd(len, 1);
	}
	CHECK_EQ(tc_register(s, fd, 0, len, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, len, RW, &g), 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	switch (p->variant) {
	case V_RO:
		give = open(path, O_RDONLY | O_CLOEXEC);
		break;
	case V_OPATH:
		give = open(path, O_PATH | O_CLOEXEC);
		break;
	default:
		CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
		give = fd;
		break;
	}
	CHECK(give >= 0);
	adv_send(p->sock, g.iova, len, give);
	adv_recv(p->sock, &m); /* the attacker's first round is over */
	if (p->variant == V_RO) {
		/* the area stays cached after its owner is gone from it */
		CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
		CHECK_EQ(tc_unregister(s, reg), 0);
		adv_send(p->sock, 0, 0, -1);
		adv_recv(p->sock, &m);
	}
	close(s);
}

static void attacker(void *arg)
{
	struct pair *p = arg;
	struct dmac_proto_lease_grant g;
	struct dmac_proto_stats st;
	struct adv_msg m;
	uint64_t reg = 0, reg2;
	int s = adv_hello(p->d, "b");
	int fd = adv_recv(p->sock, &m);
	uint64_t len = m.b;

	CHECK(fd >= 0);
	switch (p->variant) {
	case V_RO:
		/* the daemon must look at how the fd was opened */
		CHECK_EQ(tc_register(s, fd, 0, len, RW, &reg2), EACCES);
		CHECK_EQ(tc_register(s, fd, 0, len, W, &reg2), EACCES);
		CHECK_EQ(tc_register(s, fd, 0, len, R, &reg), 0);
		CHECK_EQ(tc_lease(s, reg, 0, len, RW, &g), EACCES);
		CHECK_EQ(tc_lease(s, reg, 0, len, W, &g), EACCES);
		CHECK_EQ(tc_lease(s, reg, 0, len, R, &g), 0);
		/* its own, read-only area: not the victim's IOVA */
		CHECK(g.iova != m.a);
		if (write(p->result_w, &g.iova, sizeof(g.iova)) != sizeof(g.iova))
			t_failures++;
		break;
	case V_OPATH:
		CHECK_EQ(tc_register(s, fd, 0, len, RW, &reg2), EBADF);
		CHECK_EQ(tc_register(s, fd, 0, len, R, &reg2), EBADF);
		break;
	default: /* V_SEAL: writable fd, write-sealed file */
		CHECK_EQ(tc_register(s, fd, 0, len, RW, &reg2), EPERM);
		CHECK_EQ(tc_register(s, fd, 0, len, W, &reg2), EPERM);
		CHECK_EQ(tc_register(s, fd, 0, len, R, &reg), 0);
		CHECK_EQ(tc_lease(s, reg, 0, len, R, &g), 0);
		CHECK(g.iova != m.a);
		break;
	}
	/* refusals are replies: the session goes on */
	CHECK_EQ(tc_stats(s, &st), 0);
	adv_send(p->sock, 0, 0, -1);
	if (p->variant == V_RO) {
		adv_recv(p->sock, &m); /* the victim unregistered */
		CHECK_EQ(tc_register(s, fd, 0, len, RW, &reg2), EACCES);
		CHECK_EQ(tc_register(s, fd, 0, len, W, &reg2), EACCES);
		adv_send(p->sock, 0, 0, -1);
	}
	close(fd);
	close(s);
}

static void test_fd_rights(int variant)
{
	struct tdaemon d;
	struct pair pv, pa;
	uint64_t iova_a = 0;
	int sv[2], res[2];
	pid_t v;

	td_start(&d, conf2(NULL));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) || pipe2(res, O_CLOEXEC)) {
		perror("socketpair");
		exit(1);
	}
	pv = (struct pair){&d, sv[0], variant, -1};
	pa = (struct pair){&d, sv[1], variant, res[1]};
	v = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, victim, &pv);
	t_as_user(T_UID_B, attacker, &pa);
	adv_reap(v);
	if (variant == V_RO) {
		CHECK_EQ(read(res[0], &iova_a, sizeof(iova_a)), (ssize_t)sizeof(iova_a));
		/* neither the master area nor b's copy carries more than READ */
		CHECK_EQ(adv_map_prot(&d, adv_space_of(&d, NULL), iova_a), R);
		CHECK_EQ(adv_map_prot(&d, adv_space_of(&d, "b"), iova_a),
			 -1); /* b's session ended */
	}
	close(sv[0]);
	close(sv[1]);
	close(res[0]);
	close(res[1]);
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	td_stop(&d);
}

/* ---- ident-collision ------------------------------------------------------ */

static void collide_victim(void *arg)
{
	struct pair *p = arg;
	struct dmac_proto_lease_grant g;
	struct adv_msg m;
	uint64_t reg;
	int s = adv_hello(p->d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	adv_send(p->sock, g.iova, 0, -1);
	adv_recv(p->sock, &m);
	close(s);
}

static void collide_attacker(void *arg)
{
	struct pair *p = arg;
	struct dmac_proto_lease_grant g;
	struct dmac_proto_stats st;
	struct adv_msg m;
	uint64_t reg;
	int s = adv_hello(p->d, "b"), fd = t_memfd(2 * MB, 1);

	adv_recv(p->sock, &m);
	/* a different file that reports the victim's (st_dev, st_ino) */
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.cache_hits, 0);
	CHECK_EQ(st.cache_misses, 1);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK(g.iova != m.a);
	td_sync(p->d, NULL);
	CHECK_EQ(td_get(p->d, "areas"), 2);
	adv_send(p->sock, 0, 0, -1);
	close(s);
}

static void test_ident_collision(void)
{
	struct tdaemon d;
	struct pair pv, pa;
	int sv[2];
	pid_t v;

	td_start(&d, conf2(NULL));
	td_sync(&d, "fake_ino 4242\n");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		exit(1);
	pv = (struct pair){&d, sv[0], 0, -1};
	pa = (struct pair){&d, sv[1], 0, -1};
	v = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, collide_victim, &pv);
	t_as_user(T_UID_B, collide_attacker, &pa);
	adv_reap(v);
	close(sv[0]);
	close(sv[1]);
	td_stop(&d);
}

/* ---- stats-scope, query-cursor --------------------------------------------- */

static void stats_victim(void *arg)
{
	struct pair *p = arg;
	struct adv_msg m;
	uint64_t reg;
	int s = adv_hello(p->d, "a"), fd = t_memfd(8 * MB, 1);

	for (int i = 0; i < 3; i++)
		CHECK_EQ(tc_register(s, fd, (uint64_t)i * 2 * MB, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, MB, RW, NULL), 0);
	adv_send(p->sock, 0, 0, -1);
	adv_recv(p->sock, &m);
	close(s);
}

static void stats_attacker(void *arg)
{
	struct pair *p = arg;
	struct dmac_proto_stats st;
	struct adv_msg m;
	uint64_t reg;
	int s = adv_hello(p->d, "b"), fd = t_memfd(2 * MB, 1);

	adv_recv(p->sock, &m);
	/* nothing of a's shows: hits, misses, pinned bytes, areas, leases */
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.cache_hits, 0);
	CHECK_EQ(st.cache_misses, 0);
	CHECK_EQ(st.bytes_pinned, 0);
	CHECK_EQ(st.areas, 0);
	CHECK_EQ(st.evictions, 0);
	CHECK_EQ(st.leases, 0);
	CHECK_EQ(st.registrations, 0);
	CHECK_EQ(st.tenants, 1);
	CHECK_EQ(st.sessions, 1);
	/* its own figures do show */
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.cache_misses, 1);
	CHECK_EQ(st.bytes_pinned, 2 * MB);
	CHECK_EQ(st.registrations, 1);
	adv_send(p->sock, 0, 0, -1);
	close(s);
}

static void test_stats_scope(void)
{
	struct dmac_proto_stats st;
	struct tdaemon d;
	struct pair pv, pa;
	int sv[2], adm;
	pid_t v;

	td_start(&d, conf2(NULL));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		exit(1);
	pv = (struct pair){&d, sv[0], 0, -1};
	pa = (struct pair){&d, sv[1], 0, -1};
	v = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, stats_victim, &pv);
	t_as_user(T_UID_B, stats_attacker, &pa);
	adv_reap(v);
	/* an admin session (root is the point here) still sees the daemon */
	adm = adv_hello(&d, "@admin");
	CHECK_EQ(tc_stats(adm, &st), 0);
	CHECK_EQ(st.tenants, 2);
	CHECK(st.areas >= 2);
	close(adm);
	close(sv[0]);
	close(sv[1]);
	td_stop(&d);
}

static void query_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_info info[2];
	uint64_t reg, next = 0;
	uint32_t n;
	int s = adv_hello(d, "a"), fd = t_memfd(4 * MB, 1);

	/* no cursor issued yet: only 0 is valid */
	CHECK_EQ(tc_query(s, 0x12345, 2, info, &n, &next), EINVAL);
	CHECK_EQ(tc_query(s, 1, 2, info, &n, &next), EINVAL);
	CHECK_EQ(tc_query(s, 0, 2, info, &n, &next), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(tc_register(s, fd, 0, 4 * MB, RW, &reg), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(tc_lease(s, reg, (uint64_t)i * MB, MB, RW, NULL), 0);
	CHECK_EQ(tc_query(s, 0, 1, info, &n, &next), 0);
	CHECK_EQ(n, 1);
	CHECK(next != 0);
	CHECK_EQ(tc_query(s, next + 1000, 1, info, &n, &next), EINVAL);
	CHECK_EQ(tc_query(s, next, 2, info, &n, &next), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(next, 0);
	close(s);
	close(fd);
}

static void test_query_cursor(void)
{
	struct tdaemon d;

	td_start(&d, conf2(NULL));
	t_as_user(T_UID_A, query_tenant, &d);
	td_stop(&d);
}

/* ---- sighup-revoke --------------------------------------------------------- */

struct held {
	struct tdaemon *d;
	const char *tenant;
	int ctl;	/* pipe from the parent: "go" after the reload */
	int claim;	/* also claim the device */
	int expect_end; /* the reload must end this session */
};

/* A tenant session with a registration, a lease (and the device), that
 * waits for the parent's reload, then checks whether its session ended. */
static void held_session(void *arg)
{
	struct held *h = arg;
	struct dmac_proto_stats st;
	int s = adv_hello(h->d, h->tenant), fd = t_memfd(2 * MB, 1), fds[16];
	unsigned int nfds = 0;
	uint64_t reg;
	char c;

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, NULL), 0);
	if (h->claim) {
		CHECK_EQ(tc_device(s, 0, NULL, fds, &nfds), 0);
		dmac_proto_close_fds(fds, nfds);
	}
	if (write(STDOUT_FILENO, "", 0) < 0 || read(h->ctl, &c, 1) != 1)
		exit(100);
	if (h->expect_end) {
		CHECK_EQ(tc_closed(s), 1);
		CHECK(tc_register(s, fd, 0, 2 * MB, RW, &reg) < 0);
	} else {
		CHECK_EQ(tc_stats(s, &st), 0);
		CHECK_EQ(st.leases, 1);
	}
	close(s);
	close(fd);
}

static void admin_held(void *arg)
{
	struct held *h = arg;
	struct dmac_proto_stats st;
	int s = adv_hello(h->d, "@admin");
	char c;

	CHECK_EQ(tc_stats(s, &st), 0);
	if (read(h->ctl, &c, 1) != 1)
		exit(100);
	CHECK_EQ(tc_closed(s), 1);
	close(s);
}

static void test_sighup_revoke(void)
{
	const gid_t x[] = {T_GID_X};
	char conf[1024], logdir[64], buf[8192];
	struct tdaemon d;
	struct held h1, h2, h3, h4;
	int c1[2], c2[2], c3[2], c4[2];
	pid_t p1, p2, p3, p4;
	FILE *f;
	size_t n;

	snprintf(logdir, sizeof(logdir), "/tmp/dmacd-adv-XXXXXX");
	if (!mkdtemp(logdir))
		exit(1);
	snprintf(buf, sizeof(buf), "%s/devices.log", logdir);
	setenv("DMAC_TEST_DEVICE_LOG", buf, 1);
	setenv("DMAC_TEST_DEVICES", BDF, 1);
	setenv("DMAC_TEST_SYSFS", logdir, 1);
	td_fake_device(logdir, BDF);
	/* a: uid A and gid X (X only as a supplementary group of uid C);
	 * admin_gids X */
	snprintf(conf, sizeof(conf),
		 "admin_gids = %u\n[tenant a]\nuids = %u\ngids = %u\ndevices = 00:04.0\n"
		 "[tenant b]\nuids = %u\n",
		 T_GID_X, T_UID_A, T_GID_X, T_UID_B);
	td_start(&d, conf);
	if (pipe2(c1, O_CLOEXEC) || pipe2(c2, O_CLOEXEC) || pipe2(c3, O_CLOEXEC) ||
	    pipe2(c4, O_CLOEXEC))
		exit(1);
	h1 = (struct held){&d, "a", c1[0], 1, 1}; /* uid A: removed second */
	h2 = (struct held){&d, "a", c2[0], 0, 1}; /* uid C via group X: removed first */
	h3 = (struct held){&d, "b", c3[0], 0, 0}; /* b untouched */
	h4 = (struct held){&d, "@admin", c4[0], 0, 1};
	p1 = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, held_session, &h1);
	p2 = t_as_spawn(T_UID_C, T_UID_C, x, 1, held_session, &h2);
	p3 = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, held_session, &h3);
	p4 = t_as_spawn(T_UID_C, T_UID_C, x, 1, admin_held, &h4);
	CHECK_EQ(td_wait(&d, "leases", 3), 0);
	CHECK_EQ(td_wait(&d, "sessions", 4), 0);
	/* the reload takes gid X away from a and from admin_gids, and uid A */
	snprintf(conf, sizeof(conf),
		 "[tenant a]\nuids = %u\ndevices = 00:04.0\n[tenant b]\nuids = %u\n", T_UID_B,
		 T_UID_B);
	td_write_conf(&d, conf);
	td_kill(&d, SIGHUP);
	td_sync(&d, NULL);
	/* everything a's and the admin's sessions held is reclaimed at once */
	CHECK_EQ(td_get(&d, "sessions"), 1);
	CHECK_EQ(td_get(&d, "leases"), 1);
	CHECK_EQ(td_get(&d, "registrations"), 1);
	CHECK_EQ(td_get(&d, "tenant_copies"), 1);
	CHECK(write(c1[1], "g", 1) == 1 && write(c2[1], "g", 1) == 1 && write(c3[1], "g", 1) == 1 &&
	      write(c4[1], "g", 1) == 1);
	adv_reap(p1);
	adv_reap(p2);
	adv_reap(p3);
	adv_reap(p4);
	/* the claimed device was stopped, and stays stopped */
	snprintf(buf, sizeof(buf), "%s/devices.log", logdir);
	f = fopen(buf, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	{
		const char *on = strstr(buf, "bus_master " BDF " 1\n");
		const char *off = on ? strstr(on, "bus_master " BDF " 0\n") : NULL;

		CHECK(on && off);
		CHECK(off && !strstr(off, "bus_master " BDF " 1\n"));
	}
	td_stop(&d);
	snprintf(buf, sizeof(buf), "rm -rf '%s'", logdir);
	if (system(buf))
		t_failures++;
}

/* ---- reload-atomic --------------------------------------------------------- */

static void atomic_b(void *arg)
{
	struct held *h = arg;
	struct dmac_proto_stats st;
	int s = adv_hello(h->d, "b"), fd = t_memfd(2 * MB, 1);
	uint64_t reg;
	char c;

	CHECK_EQ(tc_register(s, fd, 0, MB, RW, &reg), 0);
	if (read(h->ctl, &c, 1) != 1) /* after the refused reload */
		exit(100);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(tc_register(s, fd, MB, MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, MB, RW, NULL), 0);
	if (read(h->ctl, &c, 1) != 1) /* after the applied reload */
		exit(100);
	CHECK_EQ(tc_closed(s), 1);
	close(s);
	close(fd);
}

static void test_reload_atomic(void)
{
	char conf[512];
	struct tdaemon d;
	struct held h;
	int c[2];
	pid_t p;

	setenv("DMAC_TEST_DEVICES", BDF, 1); /* 00:06.0 does not exist */
	td_start(&d, conf2(NULL));
	if (pipe2(c, O_CLOEXEC))
		exit(1);
	h = (struct held){&d, "b", c[0], 0, 0};
	p = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, atomic_b, &h);
	CHECK_EQ(td_wait(&d, "registrations", 1), 0);
	/* drop b, add c with a device that cannot be opened, change a */
	snprintf(conf, sizeof(conf),
		 "[tenant a]\nuids = %u\nquota_leases = 1\n[tenant c]\nuids = %u\n"
		 "devices = 00:06.0\n",
		 T_UID_A, T_UID_C);
	td_write_conf(&d, conf);
	td_kill(&d, SIGHUP);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "tenants"), 2);
	CHECK_EQ(td_count(&d, "tenant c "), 0);
	CHECK_EQ(td_count(&d, "tenant b "), 1);
	CHECK_EQ(td_get(&d, "sessions"), 1);
	CHECK(write(c[1], "g", 1) == 1);
	CHECK_EQ(td_wait(&d, "leases", 1), 0);
	/* the same without the bad device: applied, b's session ended */
	snprintf(conf, sizeof(conf), "[tenant a]\nuids = %u\n[tenant c]\nuids = %u\n", T_UID_A,
		 T_UID_C);
	td_write_conf(&d, conf);
	td_kill(&d, SIGHUP);
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "tenant c "), 1);
	CHECK_EQ(td_count(&d, "tenant b "), 0);
	CHECK_EQ(td_get(&d, "sessions"), 0);
	CHECK_EQ(td_get(&d, "leases"), 0);
	CHECK(write(c[1], "g", 1) == 1);
	adv_reap(p);
	td_stop(&d);
}

/* ---- stale-bar ------------------------------------------------------------- */

struct bar {
	struct tdaemon *d;
	const char *tenant;
	int ctl_r, ack_w; /* parent -> holder steps, holder -> parent acks */
	int want;	  /* bar_claim: the DEVICE status expected */
};

static void step_ack(struct bar *b)
{
	char c;

	if (write(b->ack_w, "k", 1) != 1 || read(b->ctl_r, &c, 1) != 1)
		exit(100);
}

/*
 * The holder: claims the device, ends its session, and keeps the BAR file
 * one way per step: 1 the fd; 2 a mapping with the fd closed; 3 only a
 * mapping inherited by its child; 4 nothing.
 */
static void bar_holder(void *arg)
{
	struct bar *b = arg;
	int s = adv_hello(b->d, b->tenant), fds[16], kidpipe[2];
	unsigned int nfds = 0;
	void *m;
	pid_t kid;

	CHECK_EQ(tc_device(s, 0, NULL, fds, &nfds), 0);
	CHECK(nfds >= 1);
	for (unsigned int i = 1; i < nfds; i++)
		close(fds[i]);
	close(s);    /* the session ends; the BAR fd (fds[0]) stays */
	step_ack(b); /* 1 */
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	CHECK(m != MAP_FAILED);
	close(fds[0]);
	step_ack(b); /* 2 */
	CHECK_EQ(pipe2(kidpipe, O_CLOEXEC), 0);
	kid = fork();
	if (kid == 0) {
		char c;

		close(kidpipe[1]);
		if (read(kidpipe[0], &c, 1) < 0) /* until the parent goes */
			_exit(1);
		_exit(0);
	}
	close(kidpipe[0]);
	munmap(m, 4096);
	step_ack(b); /* 3 */
	close(kidpipe[1]);
	waitpid(kid, NULL, 0);
	step_ack(b); /* 4 */
}

/* One claim; with ack_w >= 0 the claimant then keeps the BAR fd only in
 * flight (sent into a socket nobody reads), ends its session, acks and
 * waits to be killed. */
static void bar_claim(void *arg)
{
	struct bar *b = arg;
	int s = adv_hello(b->d, b->tenant), fds[16], sv[2];
	unsigned int nfds = 0;

	CHECK_EQ(tc_device(s, 0, NULL, fds, &nfds), b->want);
	if (b->want == 0 && nfds && b->ack_w >= 0) {
		CHECK_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
		adv_send(sv[0], 0, 0, fds[0]);
		dmac_proto_close_fds(fds, nfds);
		close(s);
		if (write(b->ack_w, "k", 1) != 1)
			exit(100);
		pause();
	}
	dmac_proto_close_fds(fds, nfds);
	close(s);
}

static void claim_as(struct tdaemon *d, uid_t uid, const char *tenant, int want)
{
	struct bar b = {d, tenant, -1, -1, want};

	t_as_user(uid, bar_claim, &b);
}

/* The device's bus master bit from the dump ("device BDF SPACE BM"). */
static int bus_master(struct tdaemon *d)
{
	char line[128];
	int bm = -1;
	FILE *f;

	td_sync(d, NULL);
	f = fopen(d->dump, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "device " BDF " ", strlen("device " BDF " ")))
			bm = line[strlen(line) - 2] - '0';
	if (f)
		fclose(f);
	return bm;
}

static void test_stale_bar(void)
{
	char conf[512], dir[64], path[160];
	struct tdaemon d;
	struct bar b;
	int ctl[2], ack[2], fd;
	pid_t h;
	char c;

	snprintf(dir, sizeof(dir), "/tmp/dmacd-adv-XXXXXX");
	if (!mkdtemp(dir))
		exit(1);
	setenv("DMAC_TEST_DEVICES", BDF, 1);
	setenv("DMAC_TEST_SYSFS", dir, 1);
	td_fake_device(dir, BDF);
	snprintf(path, sizeof(path), "%s/bus/pci/devices/" BDF "/resource0", dir);
	fd = open(path, O_RDWR);
	CHECK(fd >= 0 && ftruncate(fd, 16384) == 0);
	close(fd);
	snprintf(conf, sizeof(conf),
		 "[tenant a]\nuids = %u\ndevices = 00:04.0\n[tenant b]\nuids = %u\n", T_UID_A,
		 T_UID_B);
	td_start(&d, conf);
	if (pipe2(ctl, O_CLOEXEC) || pipe2(ack, O_CLOEXEC))
		exit(1);
	b = (struct bar){&d, "a", ctl[0], ack[1], 0};
	h = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, bar_holder, &b);
	for (int step = 1; step <= 3; step++) {
		CHECK_EQ(read(ack[0], &c, 1), 1);
		CHECK_EQ(td_wait(&d, "sessions", 0), 0);
		/* another session of the same tenant: refused, bus master off */
		claim_as(&d, T_UID_A, "a", EBUSY);
		CHECK_EQ(bus_master(&d), 0);
		CHECK(write(ctl[1], "n", 1) == 1);
	}
	CHECK_EQ(read(ack[0], &c, 1), 1);
	/* nothing held any more: claimed again (and released) */
	claim_as(&d, T_UID_A, "a", 0);
	CHECK(write(ctl[1], "n", 1) == 1);
	adv_reap(h);

	/* an fd in flight, then the operator moves the device to b */
	{
		struct bar b2 = {&d, "a", -1, ack[1], 0};
		pid_t k = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, bar_claim, &b2);

		CHECK_EQ(read(ack[0], &c, 1), 1);
		CHECK_EQ(td_wait(&d, "sessions", 0), 0);
		claim_as(&d, T_UID_A, "a", EBUSY);
		snprintf(conf, sizeof(conf),
			 "[tenant a]\nuids = %u\n[tenant b]\nuids = %u\ndevices = 00:04.0\n",
			 T_UID_A, T_UID_B);
		td_write_conf(&d, conf);
		td_kill(&d, SIGHUP);
		td_sync(&d, NULL);
		/* b owns it now, but cannot claim it while the old fd lives */
		claim_as(&d, T_UID_B, "b", EBUSY);
		CHECK_EQ(bus_master(&d), 0);
		kill(k, SIGKILL);
		waitpid(k, NULL, 0);
		claim_as(&d, T_UID_B, "b", 0);
	}
	td_stop(&d);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path))
		t_failures++;
}

/* ---- msi-unsafe ------------------------------------------------------------ */

static void test_msi_unsafe(void)
{
	char dir[64], path[256], conf[256];
	const char *bin = getenv("DMACACHED_TEST");
	int status = -1, fd;
	pid_t p;
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/dmacd-adv-XXXXXX");
	if (!bin || !mkdtemp(dir))
		exit(1);
	setenv("DMAC_TEST_DEVICES", BDF, 1);
	setenv("DMAC_TEST_SYSFS", dir, 1);
	td_fake_device(dir, BDF);
	snprintf(path, sizeof(path), "mkdir -p %s/module/iommufd/parameters", dir);
	CHECK_EQ(system(path), 0);
	for (int unsafe = 1; unsafe >= 0; unsafe--) {
		char err[4096] = "";
		size_t n;

		snprintf(path, sizeof(path), "%s/module/iommufd/parameters/allow_unsafe_interrupts",
			 dir);
		f = fopen(path, "w");
		fputs(unsafe ? "Y\n" : "N\n", f);
		fclose(f);
		snprintf(conf, sizeof(conf), "%s/c.conf", dir);
		f = fopen(conf, "w");
		fprintf(f,
			"[daemon]\nsocket = %s/run/s.sock\nbackend = test\n[tenant a]\nuids = %u\n"
			"devices = 00:04.0\n",
			dir, T_UID_A);
		fclose(f);
		snprintf(path, sizeof(path), "%s/stderr", dir);
		p = fork();
		if (p == 0) {
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			dup2(fd, 2);
			alarm(5);
			execl(bin, bin, "--foreground", "--config", conf, (char *)NULL);
			_exit(127);
		}
		if (unsafe) {
			waitpid(p, &status, 0);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
			f = fopen(path, "r");
			n = f ? fread(err, 1, sizeof(err) - 1, f) : 0;
			err[n] = '\0';
			if (f)
				fclose(f);
			CHECK(strstr(err, "allow_unsafe_interrupts") != NULL);
		} else {
			/* starts: give it the time to listen, then stop it */
			snprintf(path, sizeof(path), "%s/run/s.sock", dir);
			for (int i = 0; i < 500 && access(path, F_OK); i++)
				usleep(10000);
			CHECK_EQ(access(path, F_OK), 0);
			kill(p, SIGTERM);
			waitpid(p, &status, 0);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
	}
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path))
		t_failures++;
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "ro-fd"))
		test_fd_rights(V_RO);
	else if (!strcmp(t, "opath-fd"))
		test_fd_rights(V_OPATH);
	else if (!strcmp(t, "write-seal"))
		test_fd_rights(V_SEAL);
	else if (!strcmp(t, "ident-collision"))
		test_ident_collision();
	else if (!strcmp(t, "stats-scope"))
		test_stats_scope();
	else if (!strcmp(t, "query-cursor"))
		test_query_cursor();
	else if (!strcmp(t, "sighup-revoke"))
		test_sighup_revoke();
	else if (!strcmp(t, "reload-atomic"))
		test_reload_atomic();
	else if (!strcmp(t, "stale-bar"))
		test_stale_bar();
	else if (!strcmp(t, "msi-unsafe"))
		test_msi_unsafe();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		return 2;
	}
	if (t_failures)
		fprintf(stderr, "%s: %d check(s) failed\n", t, t_failures);
	return t_failures ? 1 : 0;
}
