/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dpdk-testpmd-iommufd (suite vm): Debian's unmodified dpdk-testpmd forwards
 * packets between two net_null ports with every mbuf from a "dmacache" pool
 * (`-d` the plugin, `--mbuf-pool-ops-name dmacache`, no code change), against
 * the shipped dmacached on the guest's real /dev/iommu, as the tenant uid
 * 4001 (a t_as_spawn() child: no capability).
 *
 * testpmd runs under coreutils' stdbuf -oL (its stdout is a file, which
 * would hold "Press enter to exit" in its buffer until exit).
 *
 * Checks: testpmd says it picked the dmacache ops for its pool; while it
 * forwards, the daemon holds the tenant's leases (an admin session, root);
 * after a few seconds of io forwarding and a clean exit (the newline testpmd
 * waits for), its forward statistics show packets received and sent on both
 * ports and in total, and the daemon holds no lease and no registration.
 *
 * Environment: DMACACHED_TEST (the daemon to run: the shipped dmacached),
 * DMAC_DPDK_TEST_BACKEND (iommufd), DMAC_DPDK_PLUGIN, DMAC_DPDK_TESTPMD,
 * DMAC_CLIENT_LIBDIR. Invariants: every wait is bounded; a program that
 * cannot run fails the test. Concurrency: single-threaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dmac/dmacache.h"
#include "dpdk_harness.h"

const struct dh_config dh_cfg = {
    .prog = "test_dpdk_testpmd",
    .daemon_name = "dmacached",
    .default_backend = "iommufd",
    .dir_template = "/tmp/dmac-dpdk-tp-XXXXXX",
    .copy_name = "dmac-dpdk-tp-XXXXXX",
    .eal_prefix = "dmactp",
    .daemon_log = 1,
};

/* Seconds of forwarding before testpmd is told to stop. */
#define FORWARD_S 4

/*
 * The number after "label" in the first line at or after @p from that holds
 * it, e.g. "RX-packets:"; UINT64_MAX when there is none.
 */
static uint64_t number_after(const char *from, const char *label)
{
	const char *p = from ? strstr(from, label) : NULL;

	return p ? strtoull(p + strlen(label), NULL, 10) : UINT64_MAX;
}

int main(void)
{
	const char *app = getenv("DMAC_DPDK_TESTPMD");
	char out_path[96], prefix[64];
	struct dmac_client_stats st;
	const char *o, *acc, *port;
	int in, rc, i;
	pid_t pid;

	signal(SIGPIPE, SIG_IGN);
	if (!app || access(app, X_OK)) {
		fprintf(stderr, "dpdk-testpmd not found (DMAC_DPDK_TESTPMD=%s): install dpdk-dev\n",
			app ? app : "");
		return 1;
	}
	snprintf(out_path, sizeof(out_path), "/tmp/dmac-dpdk-tp-out-%d", (int)getpid());
	snprintf(prefix, sizeof(prefix), "--file-prefix=%s%d", dh_cfg.eal_prefix, (int)getpid());
	dh_need_hugepages(32);
	dh_daemon_start("[tenant a]\nuids = 4001\n");
	setenv("DMACACHE_SOCKET", dh_dmn.sock, 1);
	setenv("DMACACHE_TENANT", "a", 1);
	{
		/* stdbuf: testpmd's stdout is a file here, line-buffered so that
		 * "Press enter to exit" shows up when it is printed */
		char *argv[] = {"/usr/bin/stdbuf",
				"-oL",
				(char *)app,
				"-l",
				"0-1",
				"--no-pci",
				"--in-memory",
				"--no-telemetry",
				prefix,
				"--vdev",
				"net_null0",
				"--vdev",
				"net_null1",
				"-d",
				(char *)dh_plugin_path(),
				"--mbuf-pool-ops-name",
				"dmacache",
				"--",
				"--forward-mode=io",
				"--total-num-mbufs=8192",
				NULL};

		pid = dh_spawn_tenant(argv, 0, out_path, &in);
	}
	/* testpmd forwards once it asks for the newline that stops it */
	for (i = 0; i < 15000 && !strstr(dh_slurp(out_path), "Press enter to exit"); i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		dh_msleep(10);
	}
	CHECK(strstr(dh_slurp(out_path), "Press enter to exit") != NULL);
	CHECK_EQ(dh_admin_stats(&st, 0), 0);
	CHECK(st.leases > 0);
	CHECK(st.registrations > 0);
	fprintf(stderr, "while forwarding: %" PRIu64 " lease(s), %" PRIu64 " registration(s)\n",
		st.leases, st.registrations);
	sleep(FORWARD_S);
	if (write(in, "\n", 1) != 1)
		fprintf(stderr, "cannot stop testpmd: %s\n", strerror(errno));
	close(in);
	rc = dh_wait_tenant(pid, 120);
	o = dh_slurp(out_path);
	fprintf(stderr, "---- dpdk-testpmd exited %d ----\n%s---- end ----\n", rc, o);
	CHECK_EQ(rc, 0);
	CHECK(strstr(o, "preferred mempool ops selected: dmacache") != NULL);
	CHECK(strstr(o, "create a new mbuf pool <mb_pool_0>") != NULL);
	for (i = 0; i < 2; i++) {
		char label[64];

		snprintf(label, sizeof(label), "Forward statistics for port %d", i);
		port = strstr(o, label);
		CHECK(port != NULL);
		CHECK(number_after(port, "RX-packets:") > 0);
		CHECK(number_after(port, "RX-packets:") != UINT64_MAX);
		CHECK(number_after(port, "TX-packets:") > 0);
		CHECK(number_after(port, "TX-packets:") != UINT64_MAX);
		CHECK_EQ(number_after(port, "RX-dropped:"), 0);
	}
	acc = strstr(o, "Accumulated forward statistics for all ports");
	CHECK(acc != NULL);
	CHECK(number_after(acc, "RX-packets:") > 0 &&
	      number_after(acc, "RX-packets:") != UINT64_MAX);
	CHECK(number_after(acc, "TX-packets:") > 0 &&
	      number_after(acc, "TX-packets:") != UINT64_MAX);
	fprintf(stderr, "forwarded: %" PRIu64 " packets received, %" PRIu64 " sent\n",
		number_after(acc, "RX-packets:"), number_after(acc, "TX-packets:"));
	CHECK(strstr(o, "Bye...") != NULL);
	/* the pool's leases went with testpmd */
	CHECK_EQ(dh_admin_stats(&st, 1), 0);
	CHECK_EQ(st.leases, 0);
	CHECK_EQ(st.registrations, 0);
	dh_daemon_stop();
	unlink(out_path);
	fprintf(stderr, "testpmd: %s (%d failed checks)\n", dh_failures ? "FAIL" : "ok",
		dh_failures);
	return dh_failures ? 1 : 0;
}
