/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Suite 'adversary', vm part: hostile tenants against dmacached on the
 * guest's real /dev/iommu (iommufd backend), with real DMA from the emulated
 * NVMe controller behind the emulated VT-d (run by tests/vm/vmrun). The test
 * program is root only to run the daemon and to reload it; every tenant is a
 * t_as_spawn() child (tests/daemon/harness.c): a non-root uid with no
 * capabilities. QEMU's NVMe completes a DMA the IOMMU blocked with a success
 * status, so every verdict is the content of memory, never a status code,
 * and every attack is first run against the attacker's own memory, where it
 * must work: that proves the attack code does what it claims.
 *
 * argv[1]:
 *   ro-fd      tenant a (the device) holds a read-only reopen of tenant b's
 *              hugetlb memfd: a WRITE registration is refused (EACCES, on the
 *              wire); its READ lease is mapped read-only, so the controller
 *              reading a disk block "into" it leaves b's memory unchanged, as
 *              it does for b's own lease IOVA; the same read into a's pool
 *              delivers the block.
 *   stale-bar  a process claims the device, keeps its BAR0 mapping after its
 *              session; the operator moves the device to tenant b. The old
 *              process disables the controller, points the admin queues at
 *              b's buffer and rings the doorbell (the same sequence first
 *              run on its own buffer, while it held the claim, makes the
 *              controller write there). b's memory stays unchanged, b's DEVICE
 *              is EBUSY until the old process is gone, then b drives the
 *              device and its data is intact.
 *   msix       tenant a rewrites its MSI-X table (it maps the whole BAR) so
 *              that vector 0 writes a chosen value to an address: to its own
 *              pool the value arrives (an MSI is a DMA write translated in its
 *              own IOAS); to tenant b's lease nothing arrives.
 *   strict     tenant a (the device, release = strict) leases a buffer: the
 *              controller reading the bait block into it delivers it; after
 *              RELEASE (the memory still registered) the same read leaves
 *              the memory unchanged; leased again, it arrives again.
 *   lazy       tenant a (the device, release = lazy, the default): after
 *              RELEASE the read into the kept IOVA still arrives (the
 *              documented lazy behaviour: a's own registered memory); after
 *              UNREGISTER, after the end of another session of a that kept a
 *              mapping, and after SIGKILL of another process of a that kept
 *              one (its memfd watched through a's own mapping), the same read
 *              leaves the memory unchanged. Tenant b keeps a released lazy
 *              mapping of its own memory at IOVA X: a's controller reading
 *              into X leaves b's memory unchanged, while the same read into
 *              a's own lease arrives.
 *   msi-window tenant a (the device) has the window [0xfee00000, 0xffffffff],
 *              which covers the x86 MSI window [0xfee00000, 0xfeefffff] that
 *              VT-d reserves in a space with a device (--check-config accepts
 *              it): its first area, 1 MiB, and its pool land outside the MSI
 *              window, the LEASE succeeds, and the controller's reads into
 *              the area's first, middle and last pages arrive. Before the
 *              IOVA plan took the intersection of every space's ranges
 *              (fe8bc17), the area sat at 0xfee00000 and the LEASE failed
 *              with EINVAL from IOMMU_IOAS_COPY.
 *
 * Every "unchanged" verdict is followed by a read into a's pool that must
 * deliver the block: the controller was alive, the DMA went nowhere.
 *
 * Invariants: CHECK counts (never aborts); exit 0 only when checks ran and
 * none failed; every wait is bounded; the daemon is killed at exit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dmac/dmacache.h"
#include "env_daemon.h"
#include "harness.h"
#include "nvme.h"
#include "nvme_spec.h"
#include "vtophys.h"

#define MB	   (1024ull * 1024)
#define PATTERN_B  0x5a
#define PATTERN_LB 0xc3 /* the bait block on the disk */
#define BAIT_LBA   100

static void msleep(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- the daemon (root) -------------------------------------------------------- */

static struct {
	pid_t pid;
	char dir[64], sock[128], log[128], conf[128];
	const char *bdf;
	const char *a_extra; /* more lines for [tenant a] (release, window), or NULL */
	struct tdaemon td;   /* only .sock is used (tc_connect) */
} dmn;

static void daemon_conf(const char *a_devs, const char *b_devs)
{
	FILE *f = fopen(dmn.conf, "w");

	if (!f)
		exit(1);
	fprintf(f,
		"[daemon]\nsocket = %s\nbackend = iommufd\nlog_level = debug\n"
		"[tenant a]\nuids = %u\n%s%s%s%s[tenant b]\nuids = %u\n%s%s%s",
		dmn.sock, T_UID_A, a_devs ? "devices = " : "", a_devs ? a_devs : "",
		a_devs ? "\n" : "", dmn.a_extra ? dmn.a_extra : "", T_UID_B,
		b_devs ? "devices = " : "", b_devs ? b_devs : "", b_devs ? "\n" : "");
	fclose(f);
}

static void daemon_kill(void)
{
	if (dmn.pid > 0) {
		kill(dmn.pid, SIGKILL);
		waitpid(dmn.pid, NULL, 0);
		dmn.pid = 0;
	}
}

static int daemon_start(void)
{
	const char *bin = getenv("DMACACHED_TEST");

	snprintf(dmn.dir, sizeof(dmn.dir), "/tmp/dmac-adv-XXXXXX");
	if (!bin || !mkdtemp(dmn.dir) || chmod(dmn.dir, 0755))
		return -1;
	snprintf(dmn.sock, sizeof(dmn.sock), "%s/run/dmacached.sock", dmn.dir);
	snprintf(dmn.log, sizeof(dmn.log), "%s/dmacached.log", dmn.dir);
	snprintf(dmn.conf, sizeof(dmn.conf), "%s/dmacached.conf", dmn.dir);
	snprintf(dmn.td.sock, sizeof(dmn.td.sock), "%s", dmn.sock);
	daemon_conf(dmn.bdf, NULL);
	atexit(daemon_kill);
	dmn.pid = fork();
	if (dmn.pid == 0) {
		int fd = open(dmn.log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0)
			dup2(fd, 2);
		execl(bin, bin, "--foreground", "--config", dmn.conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (access(dmn.sock, F_OK) == 0)
			return 0;
		if (waitpid(dmn.pid, NULL, WNOHANG) == dmn.pid) {
			dmn.pid = 0;
			return -1;
		}
		msleep(10);
	}
	return -1;
}

static void daemon_reload(const char *a_devs, const char *b_devs)
{
	daemon_conf(a_devs, b_devs);
	kill(dmn.pid, SIGHUP);
	msleep(500); /* the daemon handles it at once; the log says so */
}

static void daemon_stop(void)
{
	FILE *f;
	char buf[8192];
	size_t n;
	int status = 0, i;

	if (dmn.pid <= 0)
		return;
	kill(dmn.pid, SIGTERM);
	for (i = 0; i < 1000 && waitpid(dmn.pid, &status, WNOHANG) != dmn.pid; i++)
		msleep(10);
	CHECK(i < 1000 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (i == 1000)
		daemon_kill();
	dmn.pid = 0;
	f = fopen(dmn.log, "r");
	if (f) {
		fseek(f, -(long)sizeof(buf) + 1, SEEK_END);
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		fprintf(stderr, "---- dmacached log (tail) ----\n%s\n", buf);
	}
}

/* Whether the daemon's log contains @p s. */
static int log_has(const char *s)
{
	static char buf[1 << 20];
	FILE *f = fopen(dmn.log, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return strstr(buf, s) != NULL;
}

/* ---- helpers ------------------------------------------------------------------ */

struct msg {
	uint64_t a, b;
};

static void peer_send(int sock, uint64_t a, uint64_t b, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msg m = {a, b};
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		exit(100);
}

/* 60 s at most (TCG is slow); returns the fd that came along, or -1. */
static int peer_recv(int sock, struct msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct pollfd p = {.fd = sock, .events = POLLIN};
	struct cmsghdr *c;
	int fd = -1;

	if (poll(&p, 1, 60000) != 1 ||
	    recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*m)) {
		fprintf(stderr, "peer_recv: nothing from the peer\n");
		exit(100);
	}
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static void reap(pid_t p)
{
	int status = 0;

	for (int i = 0; i < 12000 && waitpid(p, &status, WNOHANG) == 0; i++)
		msleep(10);
	if (waitpid(p, &status, WNOHANG) == 0) {
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		fprintf(stderr, "a tenant did not exit within 120 s\n");
		t_failures++;
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "tenant child %d: status 0x%x\n", (int)p, status);
		t_failures += WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
}

static int all_bytes(const volatile uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/* A sealed hugetlb memfd of @p len bytes, mapped and filled with @p v. */
static int victim_mem(size_t len, uint8_t v, uint8_t **va)
{
	int fd = memfd_create("adv-victim", MFD_CLOEXEC | MFD_HUGETLB | MFD_ALLOW_SEALING);

	CHECK(fd >= 0);
	CHECK(ftruncate(fd, (off_t)len) == 0);
	CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
	*va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(*va != MAP_FAILED);
	memset(*va, v, len);
	return fd;
}

/* denv_open for tenant @p tenant, retrying while EBUSY (at most @p tries). */
static int open_env(const char *tenant, int poll_only, int tries, struct dmac_nvme_denv **out)
{
	struct dmac_nvme_denv_cfg cfg = {.socket = dmn.sock, .tenant = tenant, .poll = poll_only};
	int rc = -EBUSY;

	for (int i = 0; i < tries && rc == -EBUSY; i++) {
		rc = dmac_nvme_denv_open(&cfg, out);
		if (rc == -EBUSY)
			msleep(20);
	}
	return rc;
}

/* The driver's read with one page translated to a chosen IOVA. */
static struct {
	const void *va;
	uint64_t iova;
} lie;

static uint64_t lying_vtophys(void *ctx, const void *va, uint64_t *len)
{
	const char *p = va, *b = lie.va;

	if (p >= b && p < b + 4096) {
		if (len && *len > (uint64_t)(b + 4096 - p))
			*len = (uint64_t)(b + 4096 - p);
		return lie.iova + (uint64_t)(p - b);
	}
	return dmac_vtophys_cb(ctx, va, len);
}

static int read_into(struct dmac_nvme_ctrl *c, const struct dmac_nvme_ops *ops, void *buf,
		     uint64_t iova, uint32_t lba_size)
{
	int rc;

	lie.va = buf;
	lie.iova = iova;
	dmac_nvme_ctrl_set_vtophys(c, lying_vtophys, ops->ctx);
	rc = dmac_nvme_read(c, buf, BAIT_LBA, 4096 / lba_size);
	dmac_nvme_ctrl_set_vtophys(c, ops->vtophys, ops->ctx);
	return rc;
}

/* ---- ro-fd -------------------------------------------------------------------- */

struct ro {
	int sock;
};

static void ro_victim(void *arg)
{
	struct ro *p = arg;
	struct dmac_client *c = NULL;
	struct dmac_client_lease l;
	struct msg m;
	char path[64];
	uint64_t reg;
	uint8_t *va;
	int fd = victim_mem(2 * MB, PATTERN_B, &va), ro;

	CHECK(dmac_client_connect(dmn.sock, "b", 0, &c) == 0);
	if (!c)
		return;
	CHECK(dmac_client_register(c, fd, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				   va, &reg) == 0);
	CHECK(dmac_client_lease(c, reg, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				&l) == 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(ro >= 0);
	peer_send(p->sock, l.iova, 2 * MB, ro);
	close(ro);
	peer_recv(p->sock, &m); /* the attacker is done */
	/* the verdict: not one byte of b's memory changed */
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	fprintf(stderr, "tenant b's memory after the attack: %s\n",
		all_bytes(va, 2 * MB, PATTERN_B) ? "unchanged" : "CHANGED");
	peer_send(p->sock, 0, 0, -1);
	dmac_client_close(c);
}

static void ro_attacker(void *arg)
{
	struct ro *p = arg;
	struct dmac_nvme_denv *e = NULL;
	struct dmac_nvme_ctrl *c = NULL;
	const struct dmac_nvme_ops *ops;
	struct dmac_proto_lease_grant g;
	struct dmac_nvme_info info;
	struct msg m;
	uint64_t reg, reg2, v_iova, len;
	uint8_t *buf, *src;
	int s, ro, rc;

	ro = peer_recv(p->sock, &m);
	v_iova = m.a;
	len = m.b;
	CHECK(ro >= 0);
	/* on the wire, no library in the way */
	s = tc_connect(&dmn.td);
	CHECK(tc_hello(s, "a") == 0);
	CHECK_EQ(tc_register(s, ro, 0, len, DMAC_PROTO_PROT_ALL, &reg2), EACCES);
	CHECK_EQ(tc_register(s, ro, 0, len, DMAC_PROTO_PROT_WRITE, &reg2), EACCES);
	CHECK_EQ(tc_register(s, ro, 0, len, DMAC_PROTO_PROT_READ, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, len, DMAC_PROTO_PROT_ALL, &g), EACCES);
	CHECK_EQ(tc_lease(s, reg, 0, len, DMAC_PROTO_PROT_READ, &g), 0);
	CHECK(g.iova != v_iova);
	fprintf(stderr,
		"tenant a: b's lease at 0x%llx, a's read-only lease of b's memory at 0x%llx\n",
		(unsigned long long)v_iova, (unsigned long long)g.iova);

	rc = open_env("a", 1, 100, &e);
	CHECK(rc == 0);
	if (rc)
		goto out;
	ops = dmac_nvme_denv_ops(e);
	rc = dmac_nvme_ctrl_open(ops, NULL, &c);
	CHECK(rc == 0);
	if (rc)
		goto out_env;
	dmac_nvme_ctrl_info(c, &info);
	src = ops->dma_alloc(ops->ctx, 4096, 4096);
	buf = ops->dma_alloc(ops->ctx, 4096, 4096);
	memset(src, PATTERN_LB, 4096);
	CHECK(dmac_nvme_write(c, src, BAIT_LBA, 4096 / info.lba_size) == 0);
	/* the controller writes the block into a's read-only lease of b's
	 * memory, then into b's own lease IOVA: both blocked */
	fprintf(stderr, "read into a's read-only lease: %d\n",
		read_into(c, ops, buf, g.iova + 8192, info.lba_size));
	fprintf(stderr, "read into b's lease IOVA: %d\n",
		read_into(c, ops, buf, v_iova + 8192, info.lba_size));
	CHECK(all_bytes(buf, 4096, 0)); /* a's buffer untouched too */
	/* the same read into a's own pool works: the attack path is live */
	memset(buf, 0, 4096);
	CHECK(dmac_nvme_read(c, buf, BAIT_LBA, 4096 / info.lba_size) == 0);
	CHECK(all_bytes(buf, 4096, PATTERN_LB));
	ops->dma_free(ops->ctx, src, 4096);
	ops->dma_free(ops->ctx, buf, 4096);
	dmac_nvme_ctrl_close(c);
out_env:
	dmac_nvme_denv_close(e);
out:
	peer_send(p->sock, 0, 0, -1);
	peer_recv(p->sock, &m); /* the victim's verdict is in its exit status */
	close(ro);
	close(s);
}

static void test_ro_fd(void)
{
	struct ro pv, pa;
	int sv[2];
	pid_t v, a;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		exit(1);
	pv.sock = sv[0];
	pa.sock = sv[1];
	v = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, ro_victim, &pv);
	a = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, ro_attacker, &pa);
	reap(a);
	reap(v);
	CHECK(log_has("prot 0x3 refused"));
}

/* ---- stale-bar ---------------------------------------------------------------- */

/*
 * The attack through BAR0: disable the controller, put the admin queues at
 * @p iova (SQ) and @p iova + 4096 (CQ), enable it and ring the admin SQ
 * doorbell: the controller fetches the (garbage) command from the SQ and
 * writes a completion entry into the CQ page.
 */
static void bar_attack(volatile uint8_t *bar, uint64_t iova)
{
	volatile uint32_t *cc = (volatile uint32_t *)(bar + NVME_REG_CC);
	volatile uint32_t *csts = (volatile uint32_t *)(bar + NVME_REG_CSTS);

	*cc = 0;
	for (int i = 0; i < 500 && (*csts & 1); i++)
		msleep(2);
	*(volatile uint32_t *)(bar + NVME_REG_AQA) = NVME_AQA(2, 2);
	*(volatile uint32_t *)(bar + NVME_REG_ASQ) = (uint32_t)iova;
	*(volatile uint32_t *)(bar + NVME_REG_ASQ + 4) = (uint32_t)(iova >> 32);
	*(volatile uint32_t *)(bar + NVME_REG_ACQ) = (uint32_t)(iova + 4096);
	*(volatile uint32_t *)(bar + NVME_REG_ACQ + 4) = (uint32_t)((iova + 4096) >> 32);
	*cc = NVME_CC_EN | NVME_CC_IOSQES(6) | NVME_CC_IOCQES(4);
	for (int i = 0; i < 500 && !(*csts & 1); i++)
		msleep(2);
	*(volatile uint32_t *)(bar + NVME_REG_DBS) = 1; /* admin SQ tail = 1 */
	msleep(300);
}

struct stale {
	int ctl, ack; /* root -> holder steps; holder -> root acks */
	int vsock;    /* holder <-> victim (b's lease IOVA) */
};

static void stale_holder(void *arg)
{
	struct stale *p = arg;
	struct dmac_client *c = NULL;
	struct dmac_client_device dv;
	struct dmac_client_lease l;
	struct msg m;
	volatile uint8_t *bar;
	uint64_t reg;
	uint8_t *own;
	char ch;
	int fd, rc;

	CHECK(dmac_client_connect(dmn.sock, "a", 0, &c) == 0);
	if (!c)
		exit(t_failures);
	rc = dmac_client_device_get(c, NULL, 0, &dv);
	CHECK(rc == 0);
	if (rc)
		exit(t_failures);
	bar = mmap(NULL, dv.bars[0].size, PROT_READ | PROT_WRITE, MAP_SHARED, dv.bars[0].fd, 0);
	CHECK(bar != MAP_FAILED);
	/* the control run: while a holds the claim, the same attack on a's own
	 * buffer makes the controller write a completion there */
	fd = victim_mem(2 * MB, PATTERN_B, &own);
	CHECK(dmac_client_register(c, fd, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				   own, &reg) == 0);
	CHECK(dmac_client_lease(c, reg, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				&l) == 0);
	bar_attack(bar, l.iova);
	CHECK(!all_bytes(own + 4096, 4096, PATTERN_B));
	fprintf(stderr, "control: the attack on a's own buffer %s it\n",
		all_bytes(own + 4096, 4096, PATTERN_B) ? "did NOT change" : "changed");
	/* the session ends; the BAR mapping stays (the fds go) */
	for (unsigned int i = 0; i < 6; i++)
		if (dv.bars[i].fd >= 0)
			close(dv.bars[i].fd);
	for (uint32_t i = 0; i < dv.nirqs; i++)
		close(dv.irq_fds[i]);
	dmac_client_close(c);
	munmap(own, 2 * MB);
	close(fd);
	if (write(p->ack, "k", 1) != 1 || read(p->ctl, &ch, 1) != 1)
		exit(100);
	/* the device now belongs to b: attack b's buffer */
	peer_recv(p->vsock, &m);
	fprintf(stderr, "old holder: attacking b's buffer at 0x%llx through the stale BAR\n",
		(unsigned long long)m.a);
	bar_attack(bar, m.a);
	peer_send(p->vsock, 0, 0, -1);
	if (read(p->ctl, &ch, 1) != 1) /* wait to be told to go */
		exit(100);
}

static void stale_victim(void *arg)
{
	struct stale *p = arg;
	struct dmac_client *c = NULL;
	struct dmac_client_device dv;
	struct dmac_client_lease l;
	struct dmac_nvme_denv *e = NULL;
	struct dmac_nvme_ctrl *ctrl = NULL;
	struct msg m;
	uint64_t reg;
	uint8_t *va;
	int fd = victim_mem(2 * MB, PATTERN_B, &va), rc;

	CHECK(dmac_client_connect(dmn.sock, "b", 0, &c) == 0);
	if (!c)
		return;
	CHECK(dmac_client_register(c, fd, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				   va, &reg) == 0);
	CHECK(dmac_client_lease(c, reg, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				&l) == 0);
	/* the device is b's, but the old holder still maps its BAR: refused */
	CHECK_EQ(dmac_client_device_get(c, NULL, 0, &dv), -EBUSY);
	peer_send(p->vsock, l.iova, 0, -1);
	peer_recv(p->vsock, &m); /* the attack is over */
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	fprintf(stderr, "tenant b's memory after the stale-BAR attack: %s\n",
		all_bytes(va, 2 * MB, PATTERN_B) ? "unchanged" : "CHANGED");
	CHECK_EQ(dmac_client_device_get(c, NULL, 0, &dv), -EBUSY);
	if (write(p->ack, "v", 1) != 1)
		exit(100);
	/* the holder exits: b drives the device (retried while it goes) */
	rc = open_env("b", 0, 3000, &e);
	CHECK(rc == 0);
	if (!rc) {
		struct dmac_nvme_info info;
		const struct dmac_nvme_ops *ops = dmac_nvme_denv_ops(e);
		uint8_t *w, *r;

		CHECK(dmac_nvme_ctrl_open(ops, NULL, &ctrl) == 0);
		if (ctrl) {
			dmac_nvme_ctrl_info(ctrl, &info);
			w = ops->dma_alloc(ops->ctx, 65536, 4096);
			r = ops->dma_alloc(ops->ctx, 65536, 4096);
			for (int i = 0; i < 65536; i++)
				w[i] = (uint8_t)(i * 7 + 1);
			CHECK(dmac_nvme_write(ctrl, w, 2048, 65536 / info.lba_size) == 0);
			CHECK(dmac_nvme_read(ctrl, r, 2048, 65536 / info.lba_size) == 0);
			CHECK(!memcmp(w, r, 65536));
			dmac_nvme_ctrl_close(ctrl);
		}
		dmac_nvme_denv_close(e);
	}
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	dmac_client_close(c);
}

static void test_stale_bar(void)
{
	struct stale ph, pv;
	int ctl[2], ack[2], sv[2];
	pid_t h, v;
	char ch;

	if (pipe2(ctl, O_CLOEXEC) || pipe2(ack, O_CLOEXEC) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		exit(1);
	ph = (struct stale){ctl[0], ack[1], sv[0]};
	pv = (struct stale){-1, ack[1], sv[1]};
	h = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, stale_holder, &ph);
	CHECK(read(ack[0], &ch, 1) == 1 && ch == 'k');
	/* the operator moves the device from a to b */
	daemon_reload(NULL, dmn.bdf);
	CHECK(log_has("moved from tenant a to tenant b"));
	v = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, stale_victim, &pv);
	CHECK(write(ctl[1], "a", 1) == 1); /* holder: attack */
	CHECK(read(ack[0], &ch, 1) == 1 && ch == 'v');
	CHECK(log_has("still open or mapped by an earlier holder"));
	CHECK(write(ctl[1], "x", 1) == 1); /* holder: exit */
	reap(h);
	reap(v);
}

/* ---- msix --------------------------------------------------------------------- */

/* The MSI-X table's BAR and offset, from the config space (root). */
static int msix_table(uint32_t *bir, uint32_t *off)
{
	char path[128];
	uint8_t cfg[256];
	int fd;
	uint8_t p;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", dmn.bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, cfg, sizeof(cfg), 0) != (ssize_t)sizeof(cfg)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	for (p = cfg[0x34] & 0xfc; p; p = cfg[p + 1] & 0xfc) {
		if (cfg[p] == 0x11) {
			uint32_t v;

			memcpy(&v, cfg + p + 4, 4);
			*bir = v & 7;
			*off = v & ~7u;
			return 0;
		}
	}
	return -1;
}

struct mx {
	int sock;
	uint32_t table;
};

static void msix_victim(void *arg)
{
	struct mx *p = arg;
	struct dmac_client *c = NULL;
	struct dmac_client_lease l;
	struct msg m;
	uint64_t reg;
	uint8_t *va;
	int fd = victim_mem(2 * MB, PATTERN_B, &va);

	CHECK(dmac_client_connect(dmn.sock, "b", 0, &c) == 0);
	if (!c)
		return;
	CHECK(dmac_client_register(c, fd, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				   va, &reg) == 0);
	CHECK(dmac_client_lease(c, reg, 0, 2 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
				&l) == 0);
	peer_send(p->sock, l.iova, 0, -1);
	peer_recv(p->sock, &m);
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	fprintf(stderr, "tenant b's memory after the MSI-X redirect: %s\n",
		all_bytes(va, 2 * MB, PATTERN_B) ? "unchanged" : "CHANGED");
	peer_send(p->sock, 0, 0, -1);
	dmac_client_close(c);
}

/* Point MSI-X vector 0 at @p addr with @p data (through the BAR mapping). */
static void msix_redirect(volatile uint8_t *bar, uint32_t table, uint64_t addr, uint32_t data)
{
	volatile uint32_t *e = (volatile uint32_t *)(bar + table);

	e[0] = (uint32_t)addr;
	e[1] = (uint32_t)(addr >> 32);
	e[2] = data;
}

static void msix_attacker(void *arg)
{
	struct mx *p = arg;
	struct dmac_nvme_denv *e = NULL;
	struct dmac_nvme_ctrl *c = NULL;
	const struct dmac_nvme_ops *ops;
	struct msg m;
	volatile uint32_t *own;
	uint64_t own_iova;
	int rc;

	peer_recv(p->sock, &m);
	rc = open_env("a", 1, 100, &e);
	CHECK(rc == 0);
	if (rc)
		goto out;
	ops = dmac_nvme_denv_ops(e);
	own = ops->dma_alloc(ops->ctx, 4096, 4096);
	own_iova = ops->vtophys(ops->ctx, (const void *)own, NULL);
	/* control: vector 0 (the admin queue's) to a's own pool; bringing the
	 * controller up completes admin commands, each an MSI */
	msix_redirect(ops->bar0, p->table, own_iova + 64, 0xc0ffee01);
	rc = dmac_nvme_ctrl_open(ops, NULL, &c);
	CHECK(rc == 0);
	if (c)
		dmac_nvme_ctrl_close(c);
	c = NULL;
	CHECK_EQ(own[16], 0xc0ffee01);
	fprintf(stderr, "control: MSI to a's own pool %s (0x%08x)\n",
		own[16] == 0xc0ffee01 ? "arrived" : "did NOT arrive", own[16]);
	/* the attack: vector 0 to b's lease */
	msix_redirect(ops->bar0, p->table, m.a + 64, 0xbadbad01);
	rc = dmac_nvme_ctrl_open(ops, NULL, &c);
	CHECK(rc == 0);
	if (c)
		dmac_nvme_ctrl_close(c);
	ops->dma_free(ops->ctx, (void *)own, 4096);
	dmac_nvme_denv_close(e);
out:
	peer_send(p->sock, 0, 0, -1);
	peer_recv(p->sock, &m);
}

static void test_msix(void)
{
	struct mx pv, pa;
	uint32_t bir = 9, off = 0;
	int sv[2];
	pid_t v, a;

	CHECK(msix_table(&bir, &off) == 0);
	CHECK_EQ(bir, 0);
	if (bir)
		return;
	fprintf(stderr, "MSI-X table at BAR%u + 0x%x\n", bir, off);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		exit(1);
	pv = (struct mx){sv[0], off};
	pa = (struct mx){sv[1], off};
	v = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, msix_victim, &pv);
	a = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, msix_attacker, &pa);
	reap(a);
	reap(v);
}

/* ---- tenant a's device, for strict, lazy and msi-window ------------------------ */

/* Tenant a's controller, brought up by polling, with the bait block on the disk. */
struct dev {
	struct dmac_nvme_denv *e;
	struct dmac_nvme_ctrl *c;
	const struct dmac_nvme_ops *ops;
	struct dmac_nvme_info info;
	uint8_t *buf; /* the reads' buffer: read_into() sends its page elsewhere */
};

static void dev_close(struct dev *d)
{
	d->ops->dma_free(d->ops->ctx, d->buf, 4096);
	dmac_nvme_ctrl_close(d->c);
	dmac_nvme_denv_close(d->e);
}

static int dev_open(struct dev *d)
{
	uint8_t *src;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = open_env("a", 1, 100, &d->e);
	CHECK(rc == 0);
	if (rc)
		return rc;
	d->ops = dmac_nvme_denv_ops(d->e);
	rc = dmac_nvme_ctrl_open(d->ops, NULL, &d->c);
	CHECK(rc == 0);
	if (rc) {
		dmac_nvme_denv_close(d->e);
		return rc;
	}
	dmac_nvme_ctrl_info(d->c, &d->info);
	src = d->ops->dma_alloc(d->ops->ctx, 4096, 4096);
	d->buf = d->ops->dma_alloc(d->ops->ctx, 4096, 4096);
	CHECK(src && d->buf);
	if (!src || !d->buf)
		exit(100);
	memset(src, PATTERN_LB, 4096);
	rc = dmac_nvme_write(d->c, src, BAIT_LBA, 4096 / d->info.lba_size);
	CHECK(rc == 0);
	d->ops->dma_free(d->ops->ctx, src, 4096);
	if (rc)
		dev_close(d);
	return rc;
}

/*
 * The controller reads the bait block into @p iova. @p mem is the page the
 * caller sees at that IOVA through its own mapping (or NULL: another process
 * judges); it is filled with PATTERN_B before and after.
 * @return 1 the block arrived, 0 the page is unchanged, -1 anything else
 * (also for @p mem NULL). The driver's own buffer stays untouched either way.
 */
static int bait_read(struct dev *d, uint64_t iova, uint8_t *mem, const char *what)
{
	int rc, r = -1;

	if (mem)
		memset(mem, PATTERN_B, 4096);
	memset(d->buf, 0, 4096);
	rc = read_into(d->c, d->ops, d->buf, iova, d->info.lba_size);
	if (mem)
		r = all_bytes(mem, 4096, PATTERN_LB) ? 1 : all_bytes(mem, 4096, PATTERN_B) ? 0 : -1;
	CHECK(all_bytes(d->buf, 4096, 0));
	fprintf(stderr, "%s: read into 0x%llx (status %d): %s\n", what, (unsigned long long)iova,
		rc,
		!mem	 ? "judged by its owner"
		: r == 1 ? "the block arrived"
		: r == 0 ? "memory unchanged"
			 : "memory CHANGED in part");
	if (mem)
		memset(mem, PATTERN_B, 4096);
	return r;
}

/* After a read that went nowhere, the controller still works: the same read
 * into a's pool delivers the block (so "unchanged" never means "dead"). */
static void dev_alive(struct dev *d)
{
	memset(d->buf, 0, 4096);
	CHECK(dmac_nvme_read(d->c, d->buf, BAIT_LBA, 4096 / d->info.lba_size) == 0);
	CHECK(all_bytes(d->buf, 4096, PATTERN_LB));
	memset(d->buf, 0, 4096);
}

/* STATS of @p s (tenant a's own figures). */
static struct dmac_proto_stats stats_of(int s)
{
	struct dmac_proto_stats st;

	memset(&st, 0, sizeof(st));
	CHECK_EQ(tc_stats(s, &st), 0);
	return st;
}

/* Wait (10 s at most) until tenant a has @p n sessions: the daemon has
 * handled a session's end, synchronously, reclaim included. */
static void wait_sessions(int s, uint64_t n)
{
	struct dmac_proto_stats st = stats_of(s);

	for (int i = 0; i < 1000 && st.sessions != n; i++) {
		msleep(10);
		st = stats_of(s);
	}
	CHECK_EQ(st.sessions, n);
}

/* A session of tenant @p tenant on the wire. */
static int wire_session(const char *tenant)
{
	int s = tc_connect(&dmn.td);

	CHECK_EQ(tc_hello(s, tenant), 0);
	return s;
}

/* ---- strict ------------------------------------------------------------------- */

#define OFF 8192 /* where in a victim buffer the bait block is aimed */

static void strict_tenant(void *arg)
{
	struct dmac_proto_lease_grant g;
	struct dev d;
	uint64_t reg;
	uint8_t *va;
	int s, fd;

	(void)arg;
	if (dev_open(&d))
		return;
	s = wire_session("a");
	fd = victim_mem(2 * MB, PATTERN_B, &va);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &g), 0);
	/* control: while leased, the read into the lease arrives */
	CHECK_EQ(bait_read(&d, g.iova + OFF, va + OFF, "control, a's lease"), 1);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(stats_of(s).copies_kept_bytes, 0);
	/* released, still registered: strict unmapped it before the reply */
	CHECK_EQ(bait_read(&d, g.iova + OFF, va + OFF, "after RELEASE (strict)"), 0);
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	dev_alive(&d);
	/* leased again, it is mapped again: the same read arrives */
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &g), 0);
	CHECK_EQ(bait_read(&d, g.iova + OFF, va + OFF, "leased again"), 1);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(tc_unregister(s, reg), 0);
	close(s);
	munmap(va, 2 * MB);
	close(fd);
	dev_close(&d);
}

static void test_strict(void)
{
	reap(t_as_spawn(T_UID_A, T_UID_A, NULL, 0, strict_tenant, NULL));
}

/* ---- lazy --------------------------------------------------------------------- */

struct lz {
	int parent; /* a <-> root: the kill */
	int keeper; /* a <-> the process that holds a registration and is killed */
	int other;  /* a <-> tenant b */
};

/* 1. RELEASE keeps the mapping (a's own memory); UNREGISTER removes it. */
static void lazy_unregister(struct dev *d, int s)
{
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	uint8_t *va;
	int fd = victim_mem(2 * MB, PATTERN_B, &va);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &g), 0);
	CHECK_EQ(bait_read(d, g.iova + OFF, va + OFF, "control, a's lease"), 1);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(stats_of(s).copies_kept_bytes, 2 * MB);
	/* lazy, as documented: the tenant's own registered memory stays reachable */
	CHECK_EQ(bait_read(d, g.iova + OFF, va + OFF, "after RELEASE (lazy, kept)"), 1);
	CHECK_EQ(tc_unregister(s, reg), 0);
	CHECK_EQ(stats_of(s).copies_kept_bytes, 0);
	CHECK_EQ(bait_read(d, g.iova + OFF, va + OFF, "after UNREGISTER"), 0);
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	dev_alive(d);
	munmap(va, 2 * MB);
	close(fd);
}

/* 2. A kept mapping of another session of tenant a goes when that session ends. */
static void lazy_session_end(struct dev *d, int s)
{
	struct dmac_proto_lease_grant g;
	uint64_t reg, n;
	uint8_t *va;
	int fd = victim_mem(2 * MB, PATTERN_B, &va), s2 = wire_session("a");

	CHECK_EQ(tc_register(s2, fd, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &reg), 0);
	CHECK_EQ(tc_lease(s2, reg, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &g), 0);
	CHECK_EQ(tc_release(s2, g.lease_id, g.generation), 0);
	CHECK_EQ(bait_read(d, g.iova + OFF, va + OFF, "control, kept by a session"), 1);
	n = stats_of(s).sessions;
	close(s2); /* the session ends, its registration still there */
	wait_sessions(s, n - 1);
	CHECK_EQ(stats_of(s).copies_kept_bytes, 0);
	CHECK_EQ(bait_read(d, g.iova + OFF, va + OFF, "after the session ended"), 0);
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	dev_alive(d);
	munmap(va, 2 * MB);
	close(fd);
}

/* 3. The process holding a registration with a kept mapping is SIGKILLed;
 * a watches the memory through its own mapping of that process's memfd. */
static void lazy_kill(struct dev *d, int s, const struct lz *p)
{
	struct msg m, ack;
	uint64_t n;
	uint8_t *va;
	int fd;

	peer_send(p->keeper, 0, 0, -1); /* go */
	fd = peer_recv(p->keeper, &m);	/* its kept IOVA, its memfd */
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	va = mmap(NULL, 2 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(va != MAP_FAILED);
	if (va == MAP_FAILED)
		return;
	CHECK_EQ(bait_read(d, m.a + OFF, va + OFF, "control, kept by a live process"), 1);
	n = stats_of(s).sessions;
	peer_send(p->parent, 0, 0, -1); /* kill it */
	peer_recv(p->parent, &ack);	/* killed and reaped */
	wait_sessions(s, n - 1);
	CHECK_EQ(stats_of(s).copies_kept_bytes, 0);
	CHECK_EQ(bait_read(d, m.a + OFF, va + OFF, "after SIGKILL of the holder"), 0);
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	dev_alive(d);
	munmap(va, 2 * MB);
	close(fd);
}

/* 4. Tenant b's kept mapping is in b's space only. */
static void lazy_other(struct dev *d, const struct lz *p)
{
	struct msg m;

	peer_send(p->other, 0, 0, -1); /* go */
	peer_recv(p->other, &m);       /* b's kept IOVA */
	/* control: the same read into a's own lease (the pool) arrives */
	{
		uint8_t *own = d->ops->dma_alloc(d->ops->ctx, 4096, 4096);
		uint64_t own_iova = d->ops->vtophys(d->ops->ctx, own, NULL);

		CHECK(own != NULL);
		if (own) {
			CHECK_EQ(bait_read(d, own_iova, own, "control, a's own lease"), 1);
			d->ops->dma_free(d->ops->ctx, own, 4096);
		}
	}
	bait_read(d, m.a + OFF, NULL, "at b's kept IOVA");
	dev_alive(d);
	peer_send(p->other, 0, 0, -1); /* b judges its memory */
	peer_recv(p->other, &m);
}

static void lazy_holder(void *arg)
{
	const struct lz *p = arg;
	struct dev d;
	int s;

	if (dev_open(&d))
		return;
	s = wire_session("a");
	lazy_unregister(&d, s);
	lazy_session_end(&d, s);
	lazy_kill(&d, s, p);
	lazy_other(&d, p);
	close(s);
	dev_close(&d);
}

/* Tenant a's second process: registers, leases, releases, and waits to be killed. */
static void lazy_keeper(void *arg)
{
	const struct lz *p = arg;
	struct dmac_proto_lease_grant g;
	struct msg m;
	uint64_t reg;
	uint8_t *va;
	int s, fd;

	peer_recv(p->keeper, &m);
	s = wire_session("a");
	fd = victim_mem(2 * MB, PATTERN_B, &va);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(stats_of(s).copies_kept_bytes, 2 * MB);
	peer_send(p->keeper, g.iova, 2 * MB, fd);
	peer_recv(p->keeper, &m); /* never answered: SIGKILL comes first */
	fprintf(stderr, "the keeper was not killed\n");
	t_failures++;
}

/* Tenant b: a kept (released, lazy) mapping of its own memory, aimed at by a. */
static void lazy_victim(void *arg)
{
	const struct lz *p = arg;
	struct dmac_proto_lease_grant g;
	struct dmac_proto_stats st;
	struct msg m;
	uint64_t reg;
	uint8_t *va;
	int s, fd;

	peer_recv(p->other, &m);
	s = wire_session("b");
	fd = victim_mem(2 * MB, PATTERN_B, &va);
	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, DMAC_PROTO_PROT_ALL, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	memset(&st, 0, sizeof(st));
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.copies_kept_bytes, 2 * MB); /* kept, mapped in b's space */
	peer_send(p->other, g.iova, 2 * MB, -1);
	peer_recv(p->other, &m); /* the attack is over */
	CHECK(all_bytes(va, 2 * MB, PATTERN_B));
	fprintf(stderr, "tenant b's memory after the read at its kept IOVA: %s\n",
		all_bytes(va, 2 * MB, PATTERN_B) ? "unchanged" : "CHANGED");
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.copies_kept_bytes, 2 * MB); /* still kept: it was there all along */
	peer_send(p->other, 0, 0, -1);
	CHECK_EQ(tc_unregister(s, reg), 0);
	close(s);
	munmap(va, 2 * MB);
	close(fd);
}

static void test_lazy(void)
{
	int pa[2], ak[2], ab[2], status = 0;
	struct lz pl, pk, pv, me;
	pid_t a, k, v;
	struct msg m;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pa) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ak) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ab))
		exit(1);
	pl = (struct lz){pa[1], ak[0], ab[0]};
	pk = (struct lz){-1, ak[1], -1};
	pv = (struct lz){-1, -1, ab[1]};
	me = (struct lz){pa[0], -1, -1};
	k = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, lazy_keeper, &pk);
	v = t_as_spawn(T_UID_B, T_UID_B, NULL, 0, lazy_victim, &pv);
	a = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, lazy_holder, &pl);
	peer_recv(me.parent, &m); /* a: kill the keeper */
	kill(k, SIGKILL);
	CHECK(waitpid(k, &status, 0) == k && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	peer_send(me.parent, 0, 0, -1);
	reap(a);
	reap(v);
}

/* ---- msi-window --------------------------------------------------------------- */

#define MSI_FIRST  0xfee00000ull /* the x86 MSI window, reserved in every VT-d space */
#define MSI_LAST   0xfeefffffull
#define WIN_START  MSI_FIRST
#define WIN_LAST   0xffffffffull
#define MSI_WINDOW "iova_start = 0xfee00000\niova_last = 0xffffffff\n"

static int msi_outside(uint64_t iova, uint64_t len)
{
	return iova + len - 1 < MSI_FIRST || iova > MSI_LAST;
}

static void msi_tenant(void *arg)
{
	struct dmac_proto_lease_grant g;
	struct dev d;
	uint64_t reg, pool_iova;
	size_t pool_len;
	uint8_t *va;
	int s, fd, rc, huge;

	(void)arg;
	/* the first area of the window: 1 MiB of 4 KiB pages (first fit from
	 * iova_start, so before the fix it sat at 0xfee00000) */
	s = wire_session("a");
	fd = t_memfd(MB, 1);
	va = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(va != MAP_FAILED);
	if (va == MAP_FAILED)
		exit(100);
	memset(va, PATTERN_B, MB);
	CHECK_EQ(tc_register(s, fd, 0, MB, DMAC_PROTO_PROT_ALL, &reg), 0);
	rc = tc_lease(s, reg, 0, MB, DMAC_PROTO_PROT_ALL, &g);
	CHECK_EQ(rc, 0);
	if (rc) {
		fprintf(stderr, "LEASE of the window's first area: %s\n", strerror(rc));
		close(s);
		return;
	}
	fprintf(stderr, "1 MiB area at [0x%llx, 0x%llx]\n", (unsigned long long)g.iova,
		(unsigned long long)(g.iova + MB - 1));
	CHECK(g.iova >= WIN_START && g.iova + MB - 1 <= WIN_LAST);
	CHECK(msi_outside(g.iova, MB));
	/* the device's pool (a 2 MiB-aligned area, leased by the environment) */
	if (dev_open(&d)) {
		close(s);
		return;
	}
	dmac_nvme_denv_pool(d.e, &pool_iova, &pool_len, &huge);
	fprintf(stderr, "pool at [0x%llx, 0x%llx]\n", (unsigned long long)pool_iova,
		(unsigned long long)(pool_iova + pool_len - 1));
	CHECK(pool_iova >= WIN_START && pool_iova + pool_len - 1 <= WIN_LAST);
	CHECK(msi_outside(pool_iova, pool_len));
	/* real DMA into the area: its first, a middle and its last page */
	CHECK_EQ(bait_read(&d, g.iova, va, "the area's first page"), 1);
	CHECK_EQ(bait_read(&d, g.iova + MB / 2, va + MB / 2, "a middle page"), 1);
	CHECK_EQ(bait_read(&d, g.iova + MB - 4096, va + MB - 4096, "the last page"), 1);
	CHECK(all_bytes(va, MB, PATTERN_B));
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(tc_unregister(s, reg), 0);
	close(s);
	munmap(va, MB);
	close(fd);
	dev_close(&d);
}

/* The configuration validates (--check-config), then the tenant's test. */
static void test_msi_window(void)
{
	const char *bin = getenv("DMACACHED_TEST");
	int status = 0;
	pid_t p = fork();

	if (p == 0) {
		execl(bin, bin, "--check-config", dmn.conf, (char *)NULL);
		_exit(127);
	}
	CHECK(p > 0 && waitpid(p, &status, 0) == p && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	CHECK(log_has("window [0xfee00000, 0xffffffff]"));
	reap(t_as_spawn(T_UID_A, T_UID_A, NULL, 0, msi_tenant, NULL));
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	dmn.bdf = getenv("DMAC_VM_NVME_BDF");
	if (!dmn.bdf) {
		fprintf(stderr, "DMAC_VM_NVME_BDF is not set: run me with tests/vm/vmrun\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(t, "strict"))
		dmn.a_extra = "release = strict\n";
	else if (!strcmp(t, "msi-window"))
		dmn.a_extra = MSI_WINDOW;
	if (daemon_start()) {
		fprintf(stderr, "dmacached did not start\n");
		return 1;
	}
	if (!strcmp(t, "ro-fd"))
		test_ro_fd();
	else if (!strcmp(t, "stale-bar"))
		test_stale_bar();
	else if (!strcmp(t, "msix"))
		test_msix();
	else if (!strcmp(t, "strict"))
		test_strict();
	else if (!strcmp(t, "lazy"))
		test_lazy();
	else if (!strcmp(t, "msi-window"))
		test_msi_window();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		t_failures++;
	}
	daemon_stop();
	fprintf(stderr, "%s: %d check(s) failed\n", t, t_failures);
	return t_failures ? 1 : 0;
}
