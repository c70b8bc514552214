/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The 'daemon' suite, DEVICE request: the real dmacached-test with the test
 * backend, whose simulated devices ($DMAC_TEST_DEVICES) have a fake sysfs
 * tree under $DMAC_TEST_SYSFS (vendor, device, numa_node, resource, a
 * resource0 file for the memory BAR 0, an I/O BAR 2) and a fake VFIO device
 * node (dev/vfio/devices/BDF). Device calls and every unmap go to
 * $DMAC_TEST_DEVICE_LOG. One test per run (argv[1]).
 *
 * Checked: a strict reply carries only resourceN files and eventfds (every
 * received fd is inspected with fstat and readlink), a trusted reply also the
 * device node; a second session gets EBUSY, the same one EALREADY; and when
 * the claiming client is SIGKILLed with a lease held, the device log shows
 * bus master off and reset BEFORE the first unmap of its copies, then bus
 * master on, and a new session can claim the device.
 *
 * Who runs what: this program is root only to start, signal and stop the
 * daemon and to read its device log and state dump. Every tenant (HELLO,
 * REGISTER, LEASE, DEVICE, the received fds) runs as the non-root uid
 * T_UID_A (4001), configured as tenant a's `uids`: a tenant_proc.h process
 * directed step by step where the device log is read between the tenant's
 * steps, else a t_as_user() or t_as_spawn() child. A tenant checks the fds it
 * received itself (they are its own) and closes them before the device can be
 * claimed again (the daemon refuses a claim while any process holds the BAR
 * file open: EBUSY).
 *
 * Invariants: every daemon started is stopped; every wait is bounded (5 s);
 * every received fd is closed; the temp dir is removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmac/dmacache.h"
#include "harness.h"
#include "tenant_proc.h"

#define BDF "0000:00:04.0"

static char dir[64], logpath[160];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	char p[256];

	snprintf(dir, sizeof(dir), "/tmp/dmacd-devreq-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(logpath, sizeof(logpath), "%s/devices.log", dir);
	setenv("DMAC_TEST_DEVICE_LOG", logpath, 1);
	setenv("DMAC_TEST_DEVICES", BDF ",0000:00:05.0", 1);
	setenv("DMAC_TEST_SYSFS", dir, 1);
	snprintf(p, sizeof(p), "mkdir -p %s/bus/pci/devices/" BDF " %s/dev/vfio/devices", dir, dir);
	if (system(p)) {
		fprintf(stderr, "%s failed\n", p);
		exit(1);
	}
#define DEVFILE(name, text)                                                                        \
	do {                                                                                       \
		snprintf(p, sizeof(p), "%s/bus/pci/devices/" BDF "/%s", dir, name);                \
		write_file(p, text);                                                               \
	} while (0)
	DEVFILE("vendor", "0x1b36\n");
	DEVFILE("device", "0x0010\n");
	DEVFILE("numa_node", "0\n");
	/* BAR 0: 16 KiB 64-bit memory; BAR 2: 256 B I/O; others absent. */
	DEVFILE("resource", "0x00000000febf0000 0x00000000febf3fff 0x0000000000140204\n"
			    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
			    "0x000000000000c000 0x000000000000c0ff 0x0000000000040101\n"
			    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
			    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
			    "0x0000000000000000 0x0000000000000000 0x0000000000000000\n");
	DEVFILE("resource0", "");
	snprintf(p, sizeof(p), "%s/dev/vfio/devices/" BDF, dir);
	write_file(p, "");
}

static void cleanup(void)
{
	char p[256];

	snprintf(p, sizeof(p), "rm -rf %s", dir);
	if (system(p))
		fprintf(stderr, "cannot remove %s\n", dir);
}

static const char *conf(int trusted)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "[tenant a]\nuids = %u\ndevices = 00:04.0\n%s", T_UID_A,
		 trusted ? "trusted = true\n" : "");
	return buf;
}

static void fd_link(int fd, char *out, size_t cap)
{
	char p[64];
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, out, cap - 1);
	out[n > 0 ? n : 0] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* In the tenant: check a successful reply (tc_reply) and its fds; closes them. */
static void check_reply(int *fds, unsigned int nfds, int trusted)
{
	const struct dmac_proto_device_rep *r = (const void *)tc_reply;
	char link[512];
	struct stat st;

	CHECK(!strcmp(r->bdf, BDF));
	CHECK_EQ(r->vendor_id, 0x1b36);
	CHECK_EQ(r->device_id, 0x0010);
	CHECK_EQ(r->numa_node, 0);
	CHECK_EQ(r->mode, trusted ? DMAC_PROTO_DEVICE_TRUSTED : DMAC_PROTO_DEVICE_STRICT);
	CHECK_EQ(r->bars[0].size, 0x4000);
	CHECK_EQ(r->bars[0].flags, DMAC_PROTO_BAR_MEM | DMAC_PROTO_BAR_64 | DMAC_PROTO_BAR_MMAP);
	CHECK_EQ(r->bars[0].fd_index, 0);
	CHECK_EQ(r->bars[1].size, 0);
	CHECK_EQ(r->bars[2].size, 0x100);
	CHECK_EQ(r->bars[2].flags, DMAC_PROTO_BAR_IO);
	CHECK_EQ(r->irq_type, DMAC_PROTO_IRQ_MSIX);
	CHECK_EQ(r->nirqs, 4);
	CHECK_EQ(r->irq_fd_first, 1);
	CHECK_EQ(nfds, trusted ? 6 : 5);
	CHECK_EQ(r->nfds, nfds);
	for (unsigned int i = 0; i < nfds; i++) {
		CHECK_EQ(fstat(fds[i], &st), 0);
		fd_link(fds[i], link, sizeof(link));
		if (i == 0) {
			CHECK(S_ISREG(st.st_mode));
			CHECK(ends_with(link, "/bus/pci/devices/" BDF "/resource0"));
			CHECK_EQ(fcntl(fds[i], F_GETFL) & O_ACCMODE, O_RDWR);
		} else if (i <= 4) {
			CHECK(!strcmp(link, "anon_inode:[eventfd]"));
		} else {
			/* trusted only: the (fake) VFIO device node, last */
			CHECK(trusted);
			CHECK_EQ(r->device_fd_index, i);
			CHECK(ends_with(link, "/dev/vfio/devices/" BDF));
		}
		if (!trusted)
			CHECK(strstr(link, "vfio") == NULL && strstr(link, "iommu") == NULL);
	}
	if (!trusted)
		CHECK_EQ(r->device_fd_index, DMAC_PROTO_NO_FD);
	dmac_proto_close_fds(fds, nfds);
}

static const char *slurp(char *buf, size_t cap)
{
	FILE *f = fopen(logpath, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* In the tenant: every granted reply is checked there (its fds are the
 * tenant's) and its fds closed. */
static void tenant_check_reply(int *fds, unsigned int nfds, void *ctx)
{
	check_reply(fds, nfds, *(const int *)ctx);
}

static void test_modes(int trusted)
{
	unsigned int nfds;
	struct tdaemon d;
	struct tproc t;
	char buf[8192];
	int s1, s2;

	td_start(&d, conf(trusted));
	/* tenant a's process, uid T_UID_A, with two connections */
	tp_start(&t, &d, T_UID_A, tenant_check_reply, &trusted);
	s1 = tp_connect(&t);
	s2 = tp_connect(&t);
	/* before HELLO: EPERM */
	CHECK_EQ(tp_device(&t, s1, 0, NULL, &nfds), EPERM);
	CHECK_EQ(tp_hello(&t, s1, "a", NULL), 0);
	CHECK_EQ(tp_hello(&t, s2, "a", NULL), 0);
	CHECK_EQ(tp_device(&t, s1, 1, NULL, &nfds), ENOENT);
	CHECK_EQ(tp_device(&t, s1, 0, "00:05.0", &nfds), ENOENT); /* not the tenant's */
	CHECK_EQ(tp_device(&t, s1, 0, NULL, &nfds), 0);		  /* checked by the tenant */
	CHECK_EQ(nfds, trusted ? 6 : 5);
	CHECK_EQ(tp_device(&t, s1, 0, NULL, &nfds), EALREADY);
	CHECK_EQ(tp_device(&t, s2, 0, NULL, &nfds), EBUSY);
	CHECK_EQ(tp_device(&t, s2, 0, "00:04.0", &nfds), EBUSY);
	CHECK_EQ(nfds, 0);
	slurp(buf, sizeof(buf));
	CHECK(strstr(buf, "irqs " BDF " 2 4\n") != NULL);
	/* s1 hangs up: the device is stopped (its session reclaimed), then
	 * (bus master on with the new claim) usable by s2 */
	tp_close(&t, s1);
	CHECK_EQ(td_wait(&d, "sessions", 1), 0);
	CHECK_EQ(tp_device(&t, s2, 0, "0000:00:04.0", &nfds), 0);
	slurp(buf, sizeof(buf));
	CHECK(strstr(buf, "bus_master " BDF " 0\nreset " BDF "\nirqs " BDF " 2 0\nbus_master " BDF
			  " 1\n") != NULL);
	tp_close(&t, s2);
	tp_stop(&t);
	td_stop(&d);
}

struct kill_tenant {
	const struct tdaemon *d;
	int ready; /* the write end of the parent's pipe */
};

/* The tenant that claims the device with a lease held, then waits for SIGKILL. */
static void kill_order_tenant(void *arg)
{
	const struct kill_tenant *k = arg;
	struct dmac_proto_lease_grant g;
	int fds[DMAC_PROTO_MAX_FDS];
	unsigned int nfds;
	uint64_t reg;
	int cs = tc_connect(k->d), mfd = t_memfd(1 << 21, 1);
	int ok = tc_hello(cs, "a") == 0 && tc_register(cs, mfd, 0, 1 << 21, 3, &reg) == 0 &&
		 tc_lease(cs, reg, 0, 1 << 21, 3, &g) == 0 &&
		 tc_device(cs, 0, NULL, fds, &nfds) == 0;

	if (write(k->ready, ok ? "y" : "n", 1) != 1)
		_exit(2);
	pause();
	_exit(0);
}

/* SIGKILL of the claiming client holding a lease: DMA stopped first. */
static void test_kill_order(void)
{
	int trusted = 0, pipefd[2], status;
	struct kill_tenant k;
	unsigned int nfds;
	struct tdaemon d;
	char buf[16384], c;
	struct tproc t;
	size_t mark;
	pid_t child;

	td_start(&d, conf(0));
	CHECK_EQ(pipe(pipefd), 0);
	k.d = &d;
	k.ready = pipefd[1];
	child = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, kill_order_tenant, &k);
	close(pipefd[1]);
	CHECK_EQ(read(pipefd[0], &c, 1), 1);
	CHECK_EQ(c, 'y');
	close(pipefd[0]);
	mark = strlen(slurp(buf, sizeof(buf)));
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	/* wait (5 s) until the daemon has reclaimed the session */
	CHECK_EQ(td_wait(&d, "sessions", 0), 0);
	slurp(buf, sizeof(buf));
	{
		const char *tail = buf + mark;
		const char *off = strstr(tail, "bus_master " BDF " 0\n");
		const char *rst = strstr(tail, "reset " BDF "\n");
		const char *unm = strstr(tail, "unmap ");

		CHECK(off && rst && unm);
		if (off && rst && unm) {
			CHECK(off < rst);
			CHECK(rst < unm); /* DMA stopped before the first unmap */
		}
		/* bus master stays off without a claim */
		CHECK(strstr(tail, "bus_master " BDF " 1\n") == NULL);
	}
	/* leases back to baseline, and a new client gets the device: bus
	 * master on again with the new claim */
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "leases"), 0);
	mark = strlen(slurp(buf, sizeof(buf)));
	tp_start(&t, &d, T_UID_A, tenant_check_reply, &trusted);
	{
		int s = tp_connect(&t);

		CHECK_EQ(tp_hello(&t, s, "a", NULL), 0);
		CHECK_EQ(tp_device(&t, s, 0, NULL, &nfds), 0); /* checked by the tenant */
		CHECK(strstr(slurp(buf, sizeof(buf)) + mark, "bus_master " BDF " 1\n") != NULL);
		tp_close(&t, s);
	}
	tp_stop(&t);
	td_stop(&d);
}

/* The same through libdmacache: dmac_client_device_get() hands the fds over
 * (in the tenant, uid T_UID_A). */
static void client_tenant(void *arg)
{
	const struct tdaemon *d = arg;
	struct dmac_client *c1 = NULL, *c2 = NULL;
	struct dmac_client_device dv, dv2;
	char link[512];

	CHECK_EQ(dmac_client_connect(d->sock, "a", 0, &c1), 0);
	CHECK_EQ(dmac_client_connect(d->sock, "a", 0, &c2), 0);
	if (!c1 || !c2)
		goto out;
	CHECK_EQ(dmac_client_device_get(c1, NULL, 8, &dv), -EINVAL);
	CHECK_EQ(dmac_client_device_get(c1, "zz:04.0", 0, &dv), -EINVAL);
	CHECK_EQ(dmac_client_device_get(c1, "00:06.0", 0, &dv), -ENOENT);
	CHECK_EQ(dmac_client_device_get(c1, "00:04.0", 0, &dv), 0);
	CHECK(!strcmp(dv.bdf, BDF));
	CHECK_EQ(dv.vendor_id, 0x1b36);
	CHECK_EQ(dv.trusted, 0);
	CHECK_EQ(dv.device_fd, -1);
	CHECK_EQ(dv.irq_type, DMAC_CLIENT_IRQ_MSIX);
	CHECK_EQ(dv.nirqs, 4);
	CHECK_EQ(dv.bars[0].flags & DMAC_CLIENT_BAR_MMAP, DMAC_CLIENT_BAR_MMAP);
	CHECK(dv.bars[0].fd >= 0);
	CHECK_EQ(dv.bars[2].fd, -1);
	fd_link(dv.bars[0].fd, link, sizeof(link));
	CHECK(ends_with(link, "/resource0"));
	for (uint32_t i = 0; i < dv.nirqs; i++) {
		fd_link(dv.irq_fds[i], link, sizeof(link));
		CHECK(!strcmp(link, "anon_inode:[eventfd]"));
	}
	CHECK_EQ(dmac_client_device_get(c2, NULL, 0, &dv2), -EBUSY);
	CHECK_EQ(dmac_client_device_get(c1, NULL, 0, &dv2), -EALREADY);
	dmac_client_device_close(&dv);
	CHECK_EQ(dv.bars[0].fd, -1);
	CHECK_EQ(dv.irq_fds[0], -1);
	dmac_client_device_close(NULL);
out:
	dmac_client_close(c1);
	dmac_client_close(c2);
	tp_leak_check();
}

static void test_client(void)
{
	struct tdaemon d;

	td_start(&d, conf(0));
	t_as_user(T_UID_A, client_tenant, &d);
	td_stop(&d);
}

/* --check-config: 'trusted' takes true/false (also yes/no/1/0), else refused. */
static void test_config(void)
{
	const char *bin = getenv("DMACACHED_TEST");
	static const struct {
		const char *value;
		int ok;
	} cases[] = {{"true", 1}, {"false", 1}, {"yes", 1}, {"0", 1}, {"maybe", 0}, {"", 0}};
	char path[160], cmd[512], err[160], buf[1024];

	CHECK(bin != NULL);
	if (!bin)
		return;
	snprintf(path, sizeof(path), "%s/check.conf", dir);
	snprintf(err, sizeof(err), "%s/check.err", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");
		int st;

		if (!f)
			break;
		fprintf(f, "[tenant a]\nuids = %u\ndevices = 00:04.0\ntrusted = %s\n", T_UID_A,
			cases[i].value);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "'%s' --check-config '%s' >/dev/null 2>'%s'", bin, path,
			 err);
		st = system(cmd);
		CHECK_EQ(WIFEXITED(st) && WEXITSTATUS(st) == 0, cases[i].ok);
		if (!cases[i].ok) {
			FILE *e = fopen(err, "r");
			size_t n = e ? fread(buf, 1, sizeof(buf) - 1, e) : 0;

			if (e)
				fclose(e);
			buf[n] = '\0';
			CHECK(strstr(buf, "trusted: expected true or false") != NULL);
		}
	}
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	setup();
	if (!strcmp(t, "device-strict"))
		test_modes(0);
	else if (!strcmp(t, "device-trusted"))
		test_modes(1);
	else if (!strcmp(t, "device-config"))
		test_config();
	else if (!strcmp(t, "device-client"))
		test_client();
	else if (!strcmp(t, "device-kill-order"))
		test_kill_order();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		t_failures++;
	}
	cleanup();
	if (t_failures)
		fprintf(stderr, "%d check(s) failed\n", t_failures);
	return t_failures ? 1 : 0;
}
