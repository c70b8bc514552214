/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vm test nvme-daemon: the example NVMe driver through dmacached in strict
 * mode in the test-bed guest (run by tests/vm/vmrun). The real daemon
 * ($DMACACHED_TEST, iommufd) gives the guest's NVMe controller
 * ($DMAC_VM_NVME_BDF) to tenant "a" (config key 'devices'); tenant "b" has no
 * device. No process of the test opens /dev/vfio or /dev/iommu.
 *
 * Who runs what: this program (root) only starts, reloads (SIGHUP) and stops
 * the daemon, reads its log, and reads its figures through an admin session
 * (STATS on a tenant session reports that tenant's own figures only). Every
 * tenant is a t_as_spawn() child (tests/daemon/harness.c) that has dropped
 * root for good: tenant a as uid T_UID_A (4001), tenant b as uid T_UID_B
 * (4002), the uids the configuration lists for them; the example program is
 * exec'ed by such a child of tenant a. One child per phase below.
 *
 * 1. integrity: examples/nvme/env_daemon.c (BAR0 from the DEVICE reply's
 *    resource0 fd, interrupts from its eventfd, DMA memory leased) with the
 *    driver; 512 B, 4 KiB, 128 KiB and 1 MiB written at the first, a middle
 *    and the last LBAs and read back, by interrupt and by polling; the
 *    interrupt counter moves only in the interrupt pass.
 * 2. strict mode: every fd this process holds is inspected (readlink): none
 *    is a VFIO device, a VFIO group/container or the iommufd.
 * 3. isolation: tenant a's controller is told to read into an IOVA leased
 *    only to tenant b (a process of its own, which checks its memory after
 *    each read), and into one leased to nobody: b's memory is unchanged and
 *    a's own buffer too (the command may still "succeed" under QEMU; the
 *    memory is the judge).
 * 4. crash: a child claims the device and loops 1 MiB reads; it is
 *    SIGKILLed with I/O in flight; the daemon's log shows "DMA stopped"
 *    before "released by session"; the lease count returns to the baseline
 *    (STATS of an admin session); a new client drives the device again and
 *    its data is intact.
 * 5. the example program (argv[1]) in --daemon mode reports "ok".
 * 6. with `trusted = true` the reply also carries the device fd: a dup of
 *    the daemon's /dev/vfio/devices/vfioN fd (VFIO_DEVICE_GET_INFO works).
 *
 * Invariants: CHECK() counts, never aborts; a tenant child's failed checks
 * are its exit status and count here; exit 0 only if checks ran and none
 * failed; every wait is bounded; nothing is timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <poll.h>
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
#include "harness.h" /* t_as_spawn(), T_UID_*: its CHECK macros are not used here */
#include "nvme.h"
#include "vtophys.h"

#undef CHECK
#undef CHECK_EQ

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static void msleep(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- the daemon ------------------------------------------------------------ */

static struct {
	pid_t pid;
	char dir[64], sock[100], log[128], conf[128];
	const char *bdf;
	int trusted;
} dmn;

/* (Re)write the daemon's configuration; 'extra' goes into [daemon]. */
static void daemon_write_conf(const char *extra)
{
	FILE *f = fopen(dmn.conf, "w");

	if (!f) {
		perror(dmn.conf);
		exit(1);
	}
	fprintf(f,
		"[daemon]\nsocket = %s\nbackend = iommufd\nlog_level = debug\n%s"
		"[tenant a]\nuids = %u\ndevices = %s\n%s[tenant b]\nuids = %u\n",
		dmn.sock, extra, T_UID_A, dmn.bdf, dmn.trusted ? "trusted = true\n" : "", T_UID_B);
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

static void daemon_start(const char *bdf, int trusted)
{
	const char *bin = getenv("DMACACHED_TEST");

	if (!bin) {
		fprintf(stderr, "DMACACHED_TEST is not set\n");
		exit(1);
	}
	snprintf(dmn.dir, sizeof(dmn.dir), "/tmp/dmac-nvme-daemon-XXXXXX");
	/* 0755 (mkdtemp makes it 0700): the tenants' uids reach the socket below */
	if (!mkdtemp(dmn.dir) || chmod(dmn.dir, 0755)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(dmn.sock, sizeof(dmn.sock), "%s/run/dmacached.sock", dmn.dir);
	snprintf(dmn.log, sizeof(dmn.log), "%s/dmacached.log", dmn.dir);
	snprintf(dmn.conf, sizeof(dmn.conf), "%s/dmacached.conf", dmn.dir);
	dmn.bdf = bdf;
	dmn.trusted = trusted;
	daemon_write_conf("");
	atexit(daemon_kill);
	dmn.pid = fork();
	if (dmn.pid == 0) {
		int fd = open(dmn.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0)
			dup2(fd, 2);
		execl(bin, bin, "--foreground", "--config", dmn.conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		memcpy(sa.sun_path, dmn.sock, strlen(dmn.sock) + 1);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			return;
		}
		close(s);
		if (waitpid(dmn.pid, NULL, WNOHANG) == dmn.pid) {
			fprintf(stderr, "dmacached exited at start\n");
			dmn.pid = 0;
			return;
		}
		msleep(10);
	}
	fprintf(stderr, "dmacached did not listen within 5 s\n");
}

static const char *daemon_log(void)
{
	static char buf[1 << 20];
	FILE *f = fopen(dmn.log, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static int log_count(const char *s)
{
	int n = 0;

	for (const char *p = daemon_log(); (p = strstr(p, s)); p++)
		n++;
	return n;
}

/* Wait (5 s) until the daemon has released the device n times in all. */
static int wait_released(int n)
{
	for (int i = 0; i < 500; i++) {
		if (log_count("released by session") >= n)
			return 1;
		msleep(10);
	}
	return 0;
}

static void daemon_stop(void)
{
	int status = 0, i;

	if (!dmn.pid)
		return;
	kill(dmn.pid, SIGTERM);
	for (i = 0; i < 500 && waitpid(dmn.pid, &status, WNOHANG) != dmn.pid; i++)
		msleep(10);
	CHECK(i < 500 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "dmacached did not exit cleanly on SIGTERM");
	if (i == 500)
		daemon_kill();
	dmn.pid = 0;
	fprintf(stderr, "---- dmacached log (tail) ----\n");
	{
		const char *l = daemon_log();
		size_t n = strlen(l);

		fputs(n > 6000 ? l + n - 6000 : l, stderr);
	}
}

/* denv_open, retrying while the previous session's release is pending. */
static int open_env(int poll, struct dmac_nvme_denv **out)
{
	struct dmac_nvme_denv_cfg cfg = {.socket = dmn.sock, .tenant = "a", .poll = poll};
	int rc = -EBUSY;

	for (int i = 0; i < 500 && rc == -EBUSY; i++) {
		rc = dmac_nvme_denv_open(&cfg, out);
		if (rc == -EBUSY)
			msleep(10);
	}
	return rc;
}

/* ---- 1. integrity ------------------------------------------------------------ */

static void fill(uint8_t *p, uint32_t len, uint64_t lba, uint32_t seed)
{
	uint64_t *w = (uint64_t *)p;

	for (uint32_t i = 0; i < len / 8; i++)
		w[i] = (lba << 32) ^ ((uint64_t)seed << 20) ^ i;
}

static void integrity(struct dmac_nvme_ctrl *c, const struct dmac_nvme_ops *ops, uint32_t seed)
{
	static const uint32_t sizes[] = {512, 4096, 128u << 10, 1u << 20};
	struct dmac_nvme_info info;

	dmac_nvme_ctrl_info(c, &info);
	for (size_t s = 0; s < 4; s++) {
		uint32_t len = sizes[s] < info.lba_size ? info.lba_size : sizes[s];
		uint32_t nlb = len / info.lba_size;
		uint64_t lbas[3] = {0, info.nsze / 2 + 3, info.nsze - nlb};
		uint8_t *wb = ops->dma_alloc(ops->ctx, len, 4096);
		uint8_t *rb = ops->dma_alloc(ops->ctx, len, 4096);

		CHECK(wb && rb, "no DMA memory for %u bytes", len);
		if (!wb || !rb)
			return;
		for (int k = 0; k < 3; k++) {
			int rc;

			fill(wb, len, lbas[k], seed + (uint32_t)s);
			memset(rb, 0xee, len);
			rc = dmac_nvme_write(c, wb, lbas[k], nlb);
			CHECK(rc == 0, "write %u bytes at LBA %llu: %d", len,
			      (unsigned long long)lbas[k], rc);
			rc = dmac_nvme_read(c, rb, lbas[k], nlb);
			CHECK(rc == 0, "read %u bytes at LBA %llu: %d", len,
			      (unsigned long long)lbas[k], rc);
			CHECK(!memcmp(wb, rb, len), "%u bytes at LBA %llu: data differs", len,
			      (unsigned long long)lbas[k]);
		}
		ops->dma_free(ops->ctx, wb, len);
		ops->dma_free(ops->ctx, rb, len);
	}
}

/* ---- 2. strict mode: no fd that can re-attach the device ---------------------- */

static void check_no_vfio_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int seen = 0;

	CHECK(d != NULL, "opendir /proc/self/fd");
	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[300], link[512];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
		n = readlink(p, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		seen++;
		CHECK(strncmp(link, "/dev/vfio", 9) && strcmp(link, "/dev/iommu") &&
			  !strstr(link, "vfio-device") && !strstr(link, "[vfio"),
		      "fd %s is %s", de->d_name, link);
	}
	closedir(d);
	CHECK(seen > 3, "only %d fds seen", seen);
}

/* ---- tenant processes ------------------------------------------------------------ */

struct phase {
	void (*fn)(void *);
	void *arg;
};

/* In the child: the phase with fresh counters; its failures become its exit status. */
static void run_phase(void *arg)
{
	const struct phase *ph = arg;

	failures = 0;
	checks = 0;
	ph->fn(ph->arg);
	t_failures += failures;
}

/* Run @p fn(@p arg) in a child that dropped root for good and is @p uid. */
static pid_t spawn(uid_t uid, void (*fn)(void *), void *arg)
{
	struct phase ph = {fn, arg};

	return t_as_spawn(uid, (gid_t)uid, NULL, 0, run_phase, &ph);
}

/* Reap a tenant child (200 s at most); its exit status is its failure count. */
static void reap(pid_t p, const char *what)
{
	int status = 0, i;

	for (i = 0; i < 20000 && waitpid(p, &status, WNOHANG) == 0; i++)
		msleep(10);
	if (i == 20000) {
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
	}
	CHECK(i < 20000 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "%s (pid %d): %s, status 0x%x", what, (int)p,
	      i == 20000 ? "did not exit within 200 s" : "failed", status);
	if (i < 20000 && WIFEXITED(status) && WEXITSTATUS(status) > 1)
		failures += WEXITSTATUS(status) - 1; /* the check above counted one */
}

/* Messages between tenant a and tenant b (a SOCK_SEQPACKET socketpair). */
enum { PM_IOVA = 1, PM_NONE, PM_CHECK, PM_OK, PM_DONE };

struct peer_msg {
	uint64_t op, v;
};

static void peer_send(int s, uint64_t op, uint64_t v)
{
	struct peer_msg m = {op, v};

	if (send(s, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		fprintf(stderr, "peer_send: %s\n", strerror(errno));
}

/* 0, or -1 if the peer closed or was silent for 200 s. */
static int peer_recv(int s, struct peer_msg *m)
{
	struct pollfd p = {.fd = s, .events = POLLIN};

	memset(m, 0, sizeof(*m));
	if (poll(&p, 1, 200000) != 1 || recv(s, m, sizeof(*m), 0) != (ssize_t)sizeof(*m))
		return -1;
	return 0;
}

/* The two ends of the a-b socketpair, as each tenant sees them. */
struct peer_ends {
	int mine, other;
};

/* ---- 3. isolation --------------------------------------------------------------- */

static struct {
	const void *bad_va;
	uint64_t bad_iova;
} lie;

/* The translation that lies for one page: bad_va -> bad_iova. */
static uint64_t lying_vtophys(void *ctx, const void *va, uint64_t *len)
{
	const char *p = va, *b = lie.bad_va;

	if (p >= b && p < b + 4096) {
		if (len && *len > (uint64_t)(b + 4096 - p))
			*len = (uint64_t)(b + 4096 - p);
		return lie.bad_iova + (uint64_t)(p - b);
	}
	return dmac_vtophys_cb(ctx, va, len);
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/*
 * Tenant b (uid T_UID_B): leases 2 MiB of its own memory filled with 0x5a,
 * tells tenant a the IOVA, and checks its memory each time a says it aimed a
 * read there; releases everything when a is done.
 */
static void tenant_b(void *arg)
{
	const struct peer_ends *pe = arg;
	struct dmac_client *b = NULL;
	struct dmac_client_lease bl;
	struct peer_msg m;
	uint8_t *bm = MAP_FAILED;
	uint64_t reg;
	int fd = -1, rc, leased = 0;

	close(pe->other);
	rc = dmac_client_connect(dmn.sock, "b", 0, &b);
	CHECK(rc == 0, "tenant b connects: %d", rc);
	if (b) {
		fd = memfd_create("tenant-b", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		CHECK(fd >= 0 && ftruncate(fd, 2 << 20) == 0 &&
			  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0,
		      "b's memfd");
		bm = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		CHECK(bm != MAP_FAILED, "mmap b");
	}
	if (bm != MAP_FAILED) {
		memset(bm, 0x5a, 2 << 20);
		rc = dmac_client_register(b, fd, 0, 2 << 20,
					  DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, bm, &reg);
		CHECK(rc == 0, "b registers: %d", rc);
		rc = rc ? rc
			: dmac_client_lease(b, reg, 0, 2 << 20,
					    DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, &bl);
		CHECK(rc == 0, "b leases: %d", rc);
		leased = rc == 0;
	}
	peer_send(pe->mine, leased ? PM_IOVA : PM_NONE, leased ? bl.iova : 0);
	while (peer_recv(pe->mine, &m) == 0 && m.op == PM_CHECK) {
		int ok = all_bytes(bm, 2 << 20, 0x5a);

		CHECK(ok, "tenant b's memory changed (target %d)", (int)m.v);
		peer_send(pe->mine, PM_OK, (uint64_t)ok);
	}
	if (leased) {
		dmac_client_release(b, bl.lease_id);
		dmac_client_unregister(b, reg);
	}
	if (bm != MAP_FAILED)
		munmap(bm, 2 << 20);
	if (fd >= 0)
		close(fd);
	dmac_client_close(b);
}

/* In tenant a: reads aimed at tenant b's lease and at an unleased IOVA. */
static void isolation(struct dmac_nvme_ctrl *c, const struct dmac_nvme_ops *ops, uint64_t pool_iova,
		      size_t pool_len, int peer)
{
	struct dmac_nvme_info info;
	struct peer_msg m;
	uint64_t b_iova;
	uint8_t *src, *dst;
	int rc;

	dmac_nvme_ctrl_info(c, &info);
	CHECK(peer_recv(peer, &m) == 0 && m.op == PM_IOVA, "tenant b's lease (message %llu)",
	      (unsigned long long)m.op);
	if (m.op != PM_IOVA)
		return;
	b_iova = m.v;
	fprintf(stderr, "tenant b leased IOVA 0x%llx; tenant a's pool at 0x%llx\n",
		(unsigned long long)b_iova, (unsigned long long)pool_iova);
	CHECK(b_iova + (2 << 20) <= pool_iova || b_iova >= pool_iova + pool_len,
	      "b's IOVA overlaps a's pool");

	/* a known block on the disk, then read it "into" b's IOVA */
	src = ops->dma_alloc(ops->ctx, 4096, 4096);
	dst = ops->dma_alloc(ops->ctx, 4096, 4096);
	CHECK(src && dst, "dma_alloc");
	if (!src || !dst)
		return;
	memset(src, 0xc3, 4096);
	CHECK(dmac_nvme_write(c, src, 100, 4096 / info.lba_size) == 0, "write the bait block");
	for (int target = 0; target < 2; target++) {
		/* 0: b's lease; 1: an IOVA nobody leased (far above both) */
		uint64_t iova = target ? (pool_iova > b_iova ? pool_iova : b_iova) + (1ull << 32)
				       : b_iova + 8192;

		memset(dst, 0, 4096);
		lie.bad_va = dst;
		lie.bad_iova = iova;
		dmac_nvme_ctrl_set_vtophys(c, lying_vtophys, ops->ctx);
		rc = dmac_nvme_read(c, dst, 100, 4096 / info.lba_size);
		dmac_nvme_ctrl_set_vtophys(c, ops->vtophys, ops->ctx);
		fprintf(stderr, "read into %s IOVA 0x%llx: %d (%s)\n", target ? "unleased" : "b's",
			(unsigned long long)iova, rc,
			rc ? strerror(-rc) : "the device said success");
		/* tenant b judges its own memory (its check counts in its exit status) */
		peer_send(peer, PM_CHECK, (uint64_t)target);
		CHECK(peer_recv(peer, &m) == 0 && m.op == PM_OK,
		      "tenant b did not check its memory (target %d)", target);
		fprintf(stderr, "tenant b's memory after it: %s\n", m.v ? "unchanged" : "CHANGED");
		CHECK(all_bytes(dst, 4096, 0), "a's buffer changed (target %d)", target);
	}
	/* the controller still works for a's own memory */
	memset(dst, 0, 4096);
	CHECK(dmac_nvme_read(c, dst, 100, 4096 / info.lba_size) == 0 && all_bytes(dst, 4096, 0xc3),
	      "a's read after the blocked ones");
	ops->dma_free(ops->ctx, src, 4096);
	ops->dma_free(ops->ctx, dst, 4096);
}

/* ---- 1.-3. tenant a ------------------------------------------------------------- */

/* Tenant a (uid T_UID_A): integrity by interrupt, strict mode, isolation, then
 * integrity by polling, in one session. */
static void tenant_a(void *arg)
{
	const struct peer_ends *pe = arg;
	struct dmac_nvme_denv *e = NULL;
	struct dmac_nvme_ctrl *c = NULL;
	struct dmac_nvme_stats st;
	const struct dmac_nvme_ops *ops;
	struct dmac_nvme_ops pops;
	uint64_t pool_iova;
	size_t pool_len;
	int huge, rc;

	close(pe->other);
	rc = open_env(0, &e);
	CHECK(rc == 0, "daemon environment: %d (%s)", rc, strerror(-rc));
	if (rc)
		goto out;
	ops = dmac_nvme_denv_ops(e);
	dmac_nvme_denv_pool(e, &pool_iova, &pool_len, &huge);
	CHECK(!dmac_nvme_denv_device(e)->trusted && dmac_nvme_denv_device(e)->device_fd == -1,
	      "strict mode");
	CHECK(ops->irq_eventfd >= 0, "an interrupt eventfd came (irq type %u, %u vectors)",
	      dmac_nvme_denv_device(e)->irq_type, dmac_nvme_denv_device(e)->nirqs);
	check_no_vfio_fd();
	rc = dmac_nvme_ctrl_open(ops, NULL, &c);
	CHECK(rc == 0, "controller (interrupts): %d", rc);
	if (!rc) {
		integrity(c, ops, 1);
		dmac_nvme_ctrl_stats(c, &st);
		CHECK(st.interrupts > 0, "no interrupt counted");
		/* 3. isolation, with the interrupt-driven controller */
		isolation(c, ops, pool_iova, pool_len, pe->mine);
		dmac_nvme_ctrl_close(c);
	}
	peer_send(pe->mine, PM_DONE, 0); /* tenant b releases its lease and exits */
	pops = *ops;
	pops.irq_eventfd = -1;
	rc = dmac_nvme_ctrl_open(&pops, NULL, &c);
	CHECK(rc == 0, "controller (polling): %d", rc);
	if (!rc) {
		integrity(c, &pops, 2);
		dmac_nvme_ctrl_stats(c, &st);
		CHECK(st.interrupts == 0, "%llu interrupts while polling",
		      (unsigned long long)st.interrupts);
		dmac_nvme_ctrl_close(c);
	}
	dmac_nvme_denv_close(e);
out:
	peer_send(pe->mine, PM_DONE, 0);
}

/* ---- 4. crash with I/O in flight ---------------------------------------------- */

/* Tenant a (uid T_UID_A): claims the device and loops 1 MiB reads until killed. */
static void crash_tenant(void *arg)
{
	const int *pfd = arg;
	struct dmac_nvme_denv *e = NULL;
	struct dmac_nvme_ctrl *c = NULL;
	const struct dmac_nvme_ops *ops;
	uint8_t *buf;

	close(pfd[0]);
	if (open_env(0, &e) || dmac_nvme_ctrl_open(dmac_nvme_denv_ops(e), NULL, &c))
		_exit(3);
	ops = dmac_nvme_denv_ops(e);
	buf = ops->dma_alloc(ops->ctx, 1 << 20, 4096);
	if (!buf || write(pfd[1], "y", 1) != 1)
		_exit(4);
	for (uint64_t lba = 0;; lba = (lba + 2048) % (1 << 16))
		dmac_nvme_read(c, buf, lba, 2048);
}

static void crash(void)
{
	struct dmac_client *probe = NULL;
	struct dmac_client_stats st;
	int pfd[2], released, status;
	char ch = 0;
	pid_t child;

	released = log_count("released by session");
	CHECK(pipe(pfd) == 0, "pipe");
	child = spawn(T_UID_A, crash_tenant, pfd);
	close(pfd[1]);
	CHECK(read(pfd[0], &ch, 1) == 1 && ch == 'y', "the child drives the device");
	close(pfd[0]);
	/* the daemon's figures, as root (an admin session: STATS of a tenant
	 * session counts that tenant only); opened after the tenant was forked,
	 * so no tenant holds it */
	CHECK(dmac_client_connect(dmn.sock, DMAC_CLIENT_ADMIN_TENANT, 0, &probe) == 0,
	      "admin stats client");
	msleep(200);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	CHECK(WIFSIGNALED(status), "child killed");
	CHECK(wait_released(released + 1), "device released after the kill");
	{
		const char *l = daemon_log();
		const char *stop = NULL, *rel = NULL, *p;

		for (p = l; (p = strstr(p, "DMA stopped")); p++)
			stop = p;
		for (p = l; (p = strstr(p, "released by session")); p++)
			rel = p;
		CHECK(stop && rel && stop < rel, "DMA stopped before the release");
		/* and before the session's leases went: its "reclaimed" line follows */
		p = stop ? strstr(stop, "reclaimed") : NULL;
		CHECK(p && rel && p > rel, "session reclaimed after DMA stop and release");
	}
	if (probe) {
		int i;

		for (i = 0; i < 500; i++) {
			if (dmac_client_stats(probe, &st) == 0 && st.leases == 0)
				break;
			msleep(10);
		}
		CHECK(i < 500, "leases back to 0 (now %llu)", (unsigned long long)st.leases);
		/*
		 * Pins: the master cache keeps the dead client's area pinned for
		 * reuse until evicted. With the budget at 0 (SIGHUP) every area
		 * without a lease is evicted, so the pinned bytes must come back
		 * to 0: nothing the crashed client registered stays pinned.
		 */
		daemon_write_conf("pinned_budget = 0\n");
		kill(dmn.pid, SIGHUP);
		for (i = 0; i < 500; i++) {
			if (dmac_client_stats(probe, &st) == 0 && st.bytes_pinned == 0 &&
			    st.areas == 0)
				break;
			msleep(10);
		}
		CHECK(i < 500, "pins back to 0 after eviction (now %llu bytes in %llu areas)",
		      (unsigned long long)st.bytes_pinned, (unsigned long long)st.areas);
		dmac_client_close(probe);
	}
}

/* Tenant a (uid T_UID_A) after the crash: the device works, the data is intact. */
static void tenant_a_again(void *arg)
{
	struct dmac_nvme_denv *e = NULL;
	struct dmac_nvme_ctrl *c = NULL;
	int rc = open_env(0, &e);

	(void)arg;
	CHECK(rc == 0, "new client after the crash: %d", rc);
	if (rc)
		return;
	rc = dmac_nvme_ctrl_open(dmac_nvme_denv_ops(e), NULL, &c);
	CHECK(rc == 0, "controller after the crash: %d", rc);
	if (!rc) {
		integrity(c, dmac_nvme_denv_ops(e), 3);
		dmac_nvme_ctrl_close(c);
	}
	dmac_nvme_denv_close(e);
}

/* ---- 5. the example, 6. trusted mode ------------------------------------------- */

/* Tenant a (uid T_UID_A) becomes the example program in daemon mode. */
static void run_example(void *arg)
{
	const char *path = arg;

	fflush(NULL);
	execl(path, path, "--daemon", dmn.sock, "--tenant", "a", "--lba", "4096", (char *)NULL);
	CHECK(0, "exec %s: %s", path, strerror(errno));
}

/* Tenant a (uid T_UID_A), trusted: the reply also carries the device fd. */
static void trusted_tenant(void *arg)
{
	struct dmac_client *tc = NULL;
	struct dmac_client_device dv;
	char p[64], link[256] = "";
	int rc;

	(void)arg;
	CHECK(dmac_client_connect(dmn.sock, "a", 0, &tc) == 0, "trusted tenant connects");
	rc = tc ? dmac_client_device_get(tc, NULL, 0, &dv) : -1;
	CHECK(rc == 0, "trusted DEVICE: %d", rc);
	if (!rc) {
		struct vfio_device_info di = {.argsz = sizeof(di)};

		CHECK(dv.trusted == 1 && dv.device_fd >= 0, "no device fd in trusted mode");
		snprintf(p, sizeof(p), "/proc/self/fd/%d", dv.device_fd);
		if (readlink(p, link, sizeof(link) - 1) < 0)
			link[0] = '\0';
		CHECK(!strncmp(link, "/dev/vfio/devices/", 18), "device fd is %s", link);
		CHECK(ioctl(dv.device_fd, VFIO_DEVICE_GET_INFO, &di) == 0 &&
			  (di.flags & VFIO_DEVICE_FLAGS_PCI),
		      "VFIO_DEVICE_GET_INFO on the trusted fd");
		dmac_client_device_close(&dv);
	}
	dmac_client_close(tc);
}

int main(int argc, char **argv)
{
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	struct peer_ends ea, eb;
	int sv[2];
	pid_t pa, pb;

	if (!bdf) {
		fprintf(stderr, "DMAC_VM_NVME_BDF is not set: run me with tests/vm/vmrun\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	daemon_start(bdf, 0);
	CHECK(dmn.pid > 0, "dmacached runs");
	if (!dmn.pid)
		goto out;

	/* 1.-3. tenant a drives the device, tenant b is the victim of 3. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		perror("socketpair");
		return 1;
	}
	ea = (struct peer_ends){sv[0], sv[1]};
	eb = (struct peer_ends){sv[1], sv[0]};
	pb = spawn(T_UID_B, tenant_b, &eb);
	pa = spawn(T_UID_A, tenant_a, &ea);
	close(sv[0]);
	close(sv[1]);
	reap(pa, "tenant a (integrity, strict mode, isolation)");
	reap(pb, "tenant b (the isolation victim)");
	CHECK(wait_released(1), "device released at the session's end");

	/* 4. crash, then a new client drives the device */
	crash();
	reap(spawn(T_UID_A, tenant_a_again, NULL), "tenant a after the crash");
	CHECK(wait_released(3), "released again");

	/* 5. the example program in daemon mode, as tenant a's uid */
	if (argc > 1)
		reap(spawn(T_UID_A, run_example, argv[1]), "example --daemon");
	daemon_stop();

	/* 6. trusted mode hands the real VFIO device fd (a dup), last */
	daemon_start(bdf, 1);
	CHECK(dmn.pid > 0, "dmacached (trusted tenant) runs");
	if (dmn.pid)
		reap(spawn(T_UID_A, trusted_tenant, NULL), "trusted tenant a");
out:
	daemon_stop();
	fprintf(stderr, "%d checks, %d failed\n", checks, failures);
	return failures || !checks ? 1 : 0;
}
