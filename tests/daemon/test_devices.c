/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The 'daemon' suite, tenant devices (config key 'devices'): the real
 * dmacached-test with the test backend, whose simulated PCI devices are the
 * addresses listed in $DMAC_TEST_DEVICES and whose device calls are appended
 * to $DMAC_TEST_DEVICE_LOG (a file that outlives the daemon, so shutdown can
 * be checked). One test per run (argv[1]).
 *
 * Who runs what: this program is root only to start, reload and stop the
 * daemon and to read its device log and state dump. Tenants connect as
 * non-root uids (tenant a as T_UID_A 4001, b as T_UID_B 4002, c as T_UID_C
 * 4003, as configured in their `uids`): a t_as_user() child, or a
 * tenant_proc.h process directed step by step where the device log and the
 * dump are read between the tenant's steps.
 *
 * Invariants: every daemon started is stopped or reaped; every wait is
 * bounded (5 s); the device log lives in a private temp dir removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "tenant_proc.h"

static char logdir[64], logpath[128];
static char conf_buf[1024];

/* Tenant a (devices = a_devs) and tenant b (devices = b_devs; NULL: none). */
static const char *conf(const char *a_devs, const char *b_devs)
{
	int n = snprintf(conf_buf, sizeof(conf_buf), "[tenant a]\nuids = %u\n", T_UID_A);

	if (a_devs)
		n += snprintf(conf_buf + n, sizeof(conf_buf) - n, "devices = %s\n", a_devs);
	n += snprintf(conf_buf + n, sizeof(conf_buf) - n, "[tenant b]\nuids = %u\n", T_UID_B);
	if (b_devs)
		snprintf(conf_buf + n, sizeof(conf_buf) - n, "devices = %s\n", b_devs);
	return conf_buf;
}

/* Whole content of a file into buf (NUL-terminated; "" if absent). */
static const char *slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, cap - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static void log_setup(void)
{
	snprintf(logdir, sizeof(logdir), "/tmp/dmacd-devtest-XXXXXX");
	if (!mkdtemp(logdir)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(logpath, sizeof(logpath), "%s/devices.log", logdir);
	setenv("DMAC_TEST_DEVICE_LOG", logpath, 1);
	setenv("DMAC_TEST_DEVICES", "0000:00:04.0,0000:00:05.0,0000:81:00.1", 1);
	setenv("DMAC_TEST_SYSFS", logdir, 1);
	td_fake_device(logdir, "0000:00:04.0");
	td_fake_device(logdir, "0000:00:05.0");
	td_fake_device(logdir, "0000:81:00.1");
}

static void log_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", logdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", logdir);
}
/*
 * Run the daemon (or --check-config) on a config that must be refused: it
 * exits 1 within 5 s; its stderr goes to errbuf. Returns the exit status.
 */
static int run_failing(const char *mode, const char *extra, char *errbuf, size_t cap)
{
	const char *bin = getenv("DMACACHED_TEST");
	struct tdaemon d;
	char errpath[160];
	int status = -1, i;
	pid_t p;

	snprintf(d.dir, sizeof(d.dir), "%s", logdir);
	snprintf(d.sock, sizeof(d.sock), "%s/dmacached.sock", logdir);
	snprintf(d.conf, sizeof(d.conf), "%s/dmacached.conf", logdir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", logdir);
	td_write_conf(&d, extra);
	p = fork();
	if (p == 0) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 2);
		if (!strcmp(mode, "check"))
			execl(bin, bin, "--check-config", d.conf, (char *)NULL);
		else
			execl(bin, bin, "--foreground", "--config", d.conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		if (waitpid(p, &status, WNOHANG) == p)
			break;
		usleep(10000);
	}
	if (i == 500) {
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		t_failures++;
		fprintf(stderr, "daemon did not exit within 5 s\n");
	}
	CHECK(access(d.sock, F_OK) != 0); /* never listened */
	slurp(errpath, errbuf, cap);
	unlink(d.conf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* In tenant a's process (uid T_UID_A): HELLO works. */
static void hello_a(void *arg)
{
	int s = tc_connect(arg);

	CHECK_EQ(tc_hello(s, "a"), 0);
	close(s);
	tp_leak_check();
}

/* A tenant with two devices: open + attach + bus master at start, visible in
 * the dump; bus master off + detach + close at SIGTERM. */
static void test_devices(void)
{
	struct tdaemon d;
	char buf[4096];

	td_start(&d, conf("00:04.0, 0000:81:00.1", NULL));
	td_sync(&d, NULL);
	CHECK_EQ(td_count(&d, "device "), 2);
	/* "device BDF SPACE BUS_MASTER": attached to a's space (not 0), bus
	 * master off until a session claims the device */
	CHECK_EQ(td_count(&d, "device 0000:00:04.0 0 "), 0);
	CHECK_EQ(td_count(&d, "device 0000:81:00.1 0 "), 0);
	CHECK_EQ(td_count(&d, "call device_open "), 2);
	CHECK_EQ(td_count(&d, "call device_attach "), 2);
	slurp(logpath, buf, sizeof(buf));
	CHECK(strstr(buf, "open 0000:00:04.0 0\n") != NULL);
	CHECK(strstr(buf, "bus_master 0000:00:04.0 0\n") != NULL);
	CHECK(strstr(buf, "bus_master 0000:00:04.0 1\n") == NULL);
	CHECK(strstr(buf, "open 0000:81:00.1 0\n") != NULL);
	CHECK(strstr(buf, "bus_master 0000:81:00.1 0\n") != NULL);
	CHECK(strstr(buf, "bus_master 0000:81:00.1 1\n") == NULL);
	CHECK(strstr(buf, "detach") == NULL);
	CHECK(strstr(buf, "close") == NULL);
	/* both attached to the same space (tenant a's), with rc 0 */
	{
		unsigned int sp1 = 0, sp2 = 0;
		const char *a1 = strstr(buf, "attach 0000:00:04.0 ");
		const char *a2 = strstr(buf, "attach 0000:81:00.1 ");
		int r1 = -1, r2 = -1;

		CHECK(a1 && a2);
		if (a1 && a2) {
			CHECK_EQ(sscanf(a1, "attach 0000:00:04.0 %u %d", &sp1, &r1), 2);
			CHECK_EQ(sscanf(a2, "attach 0000:81:00.1 %u %d", &sp2, &r2), 2);
			CHECK(sp1 != 0);
			CHECK_EQ(sp1, sp2);
			CHECK_EQ(r1, 0);
			CHECK_EQ(r2, 0);
		}
	}
	/* the tenant still works, and its session never sees a device fd */
	t_as_user(T_UID_A, hello_a, &d);
	td_stop(&d);
	slurp(logpath, buf, sizeof(buf));
	CHECK(
	    strstr(buf, "bus_master 0000:00:04.0 0\ndetach 0000:00:04.0 0\nclose 0000:00:04.0\n") !=
	    NULL);
	CHECK(
	    strstr(buf, "bus_master 0000:81:00.1 0\ndetach 0000:81:00.1 0\nclose 0000:81:00.1\n") !=
	    NULL);
}

/* The same device for two tenants (two spellings): a config error, so both
 * --check-config and start-up refuse it with the message; nothing opened. */
static void test_duplicate(void)
{
	char err[4096], buf[256];

	CHECK_EQ(run_failing("check", conf("00:04.0", "0000:00:04.0"), err, sizeof(err)), 1);
	CHECK(strstr(err, "device 0000:00:04.0 is listed for tenant 'b' and for tenant 'a'") !=
	      NULL);
	CHECK_EQ(run_failing("start", conf("00:04.0", "0000:00:04.0"), err, sizeof(err)), 1);
	CHECK(strstr(err, "device 0000:00:04.0 is listed for tenant 'b' and for tenant 'a'") !=
	      NULL);
	CHECK_EQ(strlen(slurp(logpath, buf, sizeof(buf))), 0);
}

/* A well-formed address that does not exist: start-up fails (exit 1) with the
 * tenant and device in the message, and the device opened before it in the
 * same tenant is taken back. --check-config (syntax only) accepts it. */
static void test_missing(void)
{
	char err[4096], buf[4096];

	CHECK_EQ(run_failing("check", conf("00:04.0,00:06.0", NULL), err, sizeof(err)), 0);
	CHECK_EQ(run_failing("start", conf("00:04.0,00:06.0", NULL), err, sizeof(err)), 1);
	CHECK(strstr(err, "tenant a: device 0000:00:06.0: no such device") != NULL);
	slurp(logpath, buf, sizeof(buf));
	CHECK(strstr(buf, "open 0000:00:06.0 -19\n") != NULL);
	CHECK(
	    strstr(buf, "bus_master 0000:00:04.0 0\ndetach 0000:00:04.0 0\nclose 0000:00:04.0\n") !=
	    NULL);
}

/* Malformed addresses: --check-config reports each with its line. */
static void test_malformed(void)
{
	static const char *const bad[] = {"00:04",     "0000:00:20.0",	"00:04.8",   "zz:04.0",
					  "1:2:3:4.0", "00000:00:04.0", "00:04.0.1", "00:004.0",
					  "00:04.0x",  ":00:04.0"};
	char err[4096], line[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(run_failing("check", conf(bad[i], NULL), err, sizeof(err)), 1);
		snprintf(line, sizeof(line), ":7: devices: bad PCI address '%s'", bad[i]);
		if (!strstr(err, line)) {
			fprintf(stderr, "missing '%s' in: %s\n", line, err);
			t_failures++;
		}
	}
	/* the good forms pass, a listed-twice one does not */
	CHECK_EQ(run_failing("check", conf("0000:00:04.0 00:05.0, ABCD:fe:1f.7", NULL), err,
			     sizeof(err)),
		 0);
	CHECK_EQ(run_failing("check", conf("00:04.0, 0000:00:04.0", NULL), err, sizeof(err)), 1);
	CHECK(strstr(err, "devices: 0000:00:04.0 listed twice") != NULL);
}

/* SIGHUP: a new tenant's devices are opened; a removed tenant's devices are
 * taken back; a changed device list of a kept tenant is left as it was. */
/* The space of tenant @p name, from the dump ("tenant NAME SPACE SESSIONS"); -1 if absent. */
static long tenant_space(const struct tdaemon *d, const char *name)
{
	char line[256], want[80];
	long space = -1;
	FILE *f = fopen(d->dump, "r");

	snprintf(want, sizeof(want), "tenant %s ", name);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			space = strtol(line + strlen(want), NULL, 10);
	if (f)
		fclose(f);
	return space;
}

/* The space a device is attached to, from the dump ("device BDF SPACE BM"); -1 if absent. */
static long device_space(const struct tdaemon *d, const char *bdf)
{
	char line[256], want[80];
	long space = -1;
	FILE *f = fopen(d->dump, "r");

	snprintf(want, sizeof(want), "device %s ", bdf);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			space = strtol(line + strlen(want), NULL, 10);
	if (f)
		fclose(f);
	return space;
}

/*
 * SIGHUP changes device sets, all or nothing: a tenant's list can change, a
 * device can move between tenants in one reload (removals before
 * additions), a claimed device that moves ends its claiming session first,
 * and a reload that cannot open a device changes nothing at all.
 */
static void test_sighup(void)
{
	char extra[512], buf[8192];
	struct dmac_proto_hello_rep hr;
	struct tdaemon d;
	struct tproc c; /* tenant c's process, uid T_UID_C */
	unsigned int nfds;
	size_t mark;
	int s;

	td_start(&d, conf("00:04.0", NULL));
	/* a: 04.0 -> 05.0 (04.0 closed, 05.0 opened); b dropped; c new with 81:00.1 */
	snprintf(extra, sizeof(extra),
		 "[tenant a]\nuids = %u\ndevices = 00:05.0\n[tenant c]\nuids = %u\n"
		 "devices = 81:00.1\n",
		 T_UID_A, T_UID_C);
	td_write_conf(&d, extra);
	kill(d.pid, SIGHUP);
	td_sync(&d, NULL); /* signals are handled in order: the reload is done */
	CHECK_EQ(td_count(&d, "device "), 2);
	CHECK_EQ(td_count(&d, "device 0000:00:04.0 "), 0);
	CHECK_EQ(device_space(&d, "0000:00:05.0"), tenant_space(&d, "a"));
	CHECK_EQ(device_space(&d, "0000:81:00.1"), tenant_space(&d, "c"));
	CHECK_EQ(td_get(&d, "tenants"), 2);
	slurp(logpath, buf, sizeof(buf));
	CHECK(
	    strstr(buf, "bus_master 0000:00:04.0 0\ndetach 0000:00:04.0 0\nclose 0000:00:04.0\n") !=
	    NULL);

	/* one reload moves 05.0 from a (removed) to c: no close, c's space */
	snprintf(extra, sizeof(extra), "[tenant c]\nuids = %u\ndevices = 81:00.1, 00:05.0\n",
		 T_UID_C);
	td_write_conf(&d, extra);
	mark = strlen(slurp(logpath, buf, sizeof(buf)));
	kill(d.pid, SIGHUP);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "tenants"), 1);
	CHECK_EQ(td_count(&d, "device "), 2);
	CHECK_EQ(device_space(&d, "0000:00:05.0"), tenant_space(&d, "c"));
	slurp(logpath, buf, sizeof(buf));
	CHECK(strstr(buf + mark, "close 0000:00:05.0") == NULL);
	CHECK(strstr(buf + mark, "open 0000:00:05.0") == NULL);
	/* DEVICE index 1 of c is the moved device (the file's order) */
	tp_start(&c, &d, T_UID_C, NULL, NULL); /* closes the fds it receives */
	s = tp_connect(&c);
	CHECK_EQ(tp_hello(&c, s, "c", NULL), 0);
	CHECK_EQ(tp_device(&c, s, 1, NULL, &nfds), 0);
	CHECK(strstr(slurp(logpath, buf, sizeof(buf)) + mark, "bus_master 0000:00:05.0 1\n") !=
	      NULL);

	/* a reload that cannot open a device is refused as a whole: the new
	 * tenant e does not appear, c's quota does not change, 05.0 stays */
	snprintf(extra, sizeof(extra),
		 "[tenant c]\nuids = %u\nquota_leases = 3\ndevices = 81:00.1, 00:05.0\n"
		 "[tenant e]\nuids = %u\ndevices = 00:06.0\n",
		 T_UID_C, T_UID_A);
	td_write_conf(&d, extra);
	mark = strlen(slurp(logpath, buf, sizeof(buf)));
	kill(d.pid, SIGHUP);
	td_sync(&d, NULL);
	CHECK_EQ(td_get(&d, "tenants"), 1);
	CHECK_EQ(tenant_space(&d, "e"), -1);
	CHECK_EQ(td_count(&d, "device "), 2);
	CHECK(tp_closed(&c, s) == 0); /* c's session untouched */
	{
		int s2 = tp_connect(&c);

		memset(&hr, 0, sizeof(hr));
		CHECK_EQ(tp_hello(&c, s2, "c", &hr), 0);
		CHECK(hr.quota_leases != 3);
		tp_close(&c, s2);
	}
	slurp(logpath, buf, sizeof(buf));
	CHECK(strstr(buf + mark, "close ") == NULL);
	CHECK(strstr(buf + mark, "attach ") == NULL);

	/* 05.0, claimed by c's session, moves to a new tenant f: the claiming
	 * session ends first (its DMA stopped), then the device moves */
	snprintf(extra, sizeof(extra),
		 "[tenant c]\nuids = %u\ndevices = 81:00.1\n[tenant f]\nuids = %u\n"
		 "devices = 00:05.0\n",
		 T_UID_C, T_UID_B);
	td_write_conf(&d, extra);
	mark = strlen(slurp(logpath, buf, sizeof(buf)));
	kill(d.pid, SIGHUP);
	td_sync(&d, NULL);
	CHECK(tp_closed(&c, s) == 1);
	CHECK_EQ(device_space(&d, "0000:00:05.0"), tenant_space(&d, "f"));
	slurp(logpath, buf, sizeof(buf));
	{
		const char *off = strstr(buf + mark, "bus_master 0000:00:05.0 0\n");
		const char *mv = strstr(buf + mark, "attach 0000:00:05.0 ");

		CHECK(off && mv && off < mv);
	}
	tp_close(&c, s);
	tp_stop(&c);
	td_stop(&d);
	slurp(logpath, buf, sizeof(buf));
	CHECK(strstr(buf, "close 0000:81:00.1\n") != NULL);
	CHECK(strstr(buf, "close 0000:00:05.0\n") != NULL);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	log_setup();
	if (!strcmp(t, "devices"))
		test_devices();
	else if (!strcmp(t, "devices-duplicate"))
		test_duplicate();
	else if (!strcmp(t, "devices-missing"))
		test_missing();
	else if (!strcmp(t, "devices-malformed"))
		test_malformed();
	else if (!strcmp(t, "devices-sighup"))
		test_sighup();
	else {
		fprintf(stderr, "unknown test '%s'\n", t);
		t_failures++;
	}
	log_cleanup();
	if (t_failures)
		fprintf(stderr, "%d check(s) failed\n", t_failures);
	return t_failures ? 1 : 0;
}
