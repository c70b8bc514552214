/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-lease-bench: the lease round-trip target (docs/performance.md), measured end to end.
 *
 * One run starts dmacached-test (the daemon with its in-process test backend:
 * the host has no /dev/iommu) on a private socket in a temp directory, connects
 * libdmacache, registers one sealed memfd once, and then measures, interleaved
 * block by block so that load on the shared machine hits every series alike:
 *
 *   pingpong_lease    a raw SOCK_SEQPACKET round trip between two processes
 *                     with the sizes of a 1-element LEASE (72 B out, 72 B back)
 *   lease             dmac_client_lease() of 4 KiB of the registration (memory
 *                     already in the daemon's master cache)
 *   pingpong_epoll    informative: the same round trip with a peer that waits
 *                     in epoll_wait() first, as the daemon's loop does
 *   pingpong_release  the same raw round trip with RELEASE sizes (56 B, 56 B)
 *   release           dmac_client_release() of that lease (includes the
 *                     client's RCU grace period, urcu_memb_synchronize_rcu())
 *
 * Each iteration is timed with clock_gettime(CLOCK_MONOTONIC); p50, p90, p99,
 * min and mean are computed from the stored samples. The difference of the
 * lease and ping-pong medians is the daemon's service time plus the codec and
 * client-library cost (an upper bound on the service time; no hook in the
 * daemon is used). A second phase reads the daemon's CPU time per LEASE and
 * per RELEASE from /proc/PID/task/N/schedstat around batches of NLEASE leases
 * of distinct pages (then their releases), interleaved with batches of the
 * epoll peer's round trips, whose CPU time per round trip is what the same
 * syscalls cost with no work; medians of the batches are printed.
 *
 * Invariants: every sample is in nanoseconds; sample arrays hold exactly
 * 'iters' entries per series (iters a multiple of BLOCK and of NLEASE); the
 * daemon and both ping-pong children are killed and reaped on every exit path
 * after they were started; the temp directory is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"
#include "dmac/dmacache.h"
#include "dmac_alloc.h"

#ifndef DMAC_BENCH_DAEMON
#define DMAC_BENCH_DAEMON "dmacached-test"
#endif

#define REG_LEN	  (2u << 20)
#define LEASE_LEN 4096u
#define BLOCK	  500u
#define NLEASE	  50u /* outstanding leases per CPU-time batch, <= REG_LEN / LEASE_LEN */

enum { S_PP_LEASE, S_PP_EPOLL, S_LEASE, S_PP_REL, S_REL, S_N };
static const char *const s_name[S_N] = {"pingpong_lease(72B/72B)", "pingpong_epoll(72B/72B)",
					"lease(4KiB,cached)", "pingpong_release(56B/56B)",
					"release(4KiB)"};

static char dir[64], sock_path[128], conf[128];
static pid_t daemon_pid = -1, pp_pid = -1, pe_pid = -1;

static void cleanup(void)
{
	char cmd[160];

	if (pp_pid > 0) {
		kill(pp_pid, SIGKILL);
		waitpid(pp_pid, NULL, 0);
		pp_pid = -1;
	}
	if (pe_pid > 0) {
		kill(pe_pid, SIGKILL);
		waitpid(pe_pid, NULL, 0);
		pe_pid = -1;
	}
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = -1;
	}
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
		dir[0] = 0;
	}
}

static int start_daemon(const char *bin)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/dmac-lease-bench-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		return -errno;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/run/dmacached.sock", dir);
	snprintf(conf, sizeof(conf), "%s/dmacached.conf", dir);
	f = fopen(conf, "w");
	if (!f)
		return -errno;
	fprintf(f,
		"[daemon]\nsocket = %s\nbackend = test\nlog_level = warn\n"
		"[tenant bench]\nuids = %u\n",
		sock_path, (unsigned int)getuid());
	fclose(f);
	daemon_pid = fork();
	if (daemon_pid < 0)
		return -errno;
	if (daemon_pid == 0) {
		execl(bin, bin, "--foreground", "--config", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int ok;

		strcpy(sa.sun_path, sock_path);
		ok = s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (s >= 0)
			close(s);
		if (ok)
			return 0;
		if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
			daemon_pid = -1;
			return -ECHILD;
		}
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/*
 * The same peer shaped like the daemon's loop: wait in epoll_wait(), then a
 * non-blocking recv() and the send(); one syscall more per request than pp_child.
 */
static void pe_child(int s)
{
	unsigned char buf[256];
	struct epoll_event ev = {.events = EPOLLIN};
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev))
		_exit(1);
	for (;;) {
		ssize_t n;

		if (epoll_wait(ep, &ev, 1, -1) < 0)
			continue;
		n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			_exit(0);
		if (n < 0)
			continue;
		if (send(s, buf, buf[0], 0) < 0)
			_exit(1);
	}
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--daemon PATH] [--iters N]\n", argv0);
}

int main(int argc, char **argv)
{
	const char *bin = DMAC_BENCH_DAEMON;
	unsigned long iters = 20000;
	struct dmac_client *c = NULL;
	struct bd_summary sum[S_N];
	uint64_t *samp[S_N] = {0};
	uint64_t reg = 0, *cpu = NULL; /* per batch: lease, release, echo (ns per request) */
	unsigned long nb;
	double cpu_l, cpu_r, cpu_e;
	int sv[2] = {-1, -1}, se[2] = {-1, -1}, fd = -1, rc = 1, err;
	void *va = MAP_FAILED;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--daemon") && i + 1 < argc) {
			bin = argv[++i];
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = strtoul(argv[++i], NULL, 0);
		} else {
			usage(argv[0]);
			return 2;
		}
	}
	if (iters < BLOCK || iters % BLOCK) {
		fprintf(stderr, "--iters must be a positive multiple of %u\n", BLOCK);
		return 2;
	}
	for (int s = 0; s < S_N; s++) {
		samp[s] = dmac__calloc(iters, sizeof(uint64_t));
		if (!samp[s]) {
			fprintf(stderr, "out of memory\n");
			goto out;
		}
	}

	err = bd_echo_start(-1, &sv[0], &pp_pid);
	if (err) {
		fprintf(stderr, "echo peer: %s\n", strerror(-err));
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, se)) {
		perror("socketpair");
		goto out;
	}
	pe_pid = fork();
	if (pe_pid < 0) {
		perror("fork");
		goto out;
	}
	if (pe_pid == 0) {
		close(se[0]);
		pe_child(se[1]);
	}
	close(se[1]);
	se[1] = -1;

	err = start_daemon(bin);
	if (err) {
		fprintf(stderr, "starting %s: %s\n", bin,
			err == -ECHILD ? "it exited before listening" : strerror(-err));
		goto out;
	}
	err = dmac_client_connect(sock_path, "bench", 0, &c);
	if (err) {
		fprintf(stderr, "connect: %s\n", strerror(-err));
		goto out;
	}
	fd = memfd_create("dmac-lease-bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, REG_LEN) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW)) {
		perror("memfd");
		goto out;
	}
	va = mmap(NULL, REG_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (va == MAP_FAILED) {
		perror("mmap");
		goto out;
	}
	memset(va, 0, REG_LEN);
	err = dmac_client_register(c, fd, 0, REG_LEN,
				   DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, va, &reg);
	if (err) {
		fprintf(stderr, "register: %s\n", strerror(-err));
		goto out;
	}

	/* Warm-up: page in code paths, the daemon's tables and the socket buffers. */
	for (unsigned i = 0; i < 2000; i++) {
		struct dmac_client_lease l;

		if (bd_echo_round(sv[0], 72, 72) || bd_echo_round(sv[0], 56, 56) ||
		    bd_echo_round(se[0], 72, 72))
			goto pp_fail;
		err = dmac_client_lease(c, reg, 0, LEASE_LEN, DMAC_CLIENT_PROT_READ, &l);
		if (!err)
			err = dmac_client_release(c, l.lease_id);
		if (err)
			goto lease_fail;
	}

	/* Blocks of BLOCK iterations per series, series interleaved. */
	for (unsigned long b = 0; b < iters; b += BLOCK) {
		for (unsigned i = 0; i < BLOCK; i++) {
			uint64_t t0 = bd_now_ns();

			if (bd_echo_round(sv[0], 72, 72))
				goto pp_fail;
			samp[S_PP_LEASE][b + i] = bd_now_ns() - t0;
		}
		for (unsigned i = 0; i < BLOCK; i++) {
			uint64_t t0 = bd_now_ns();

			if (bd_echo_round(se[0], 72, 72))
				goto pp_fail;
			samp[S_PP_EPOLL][b + i] = bd_now_ns() - t0;
		}
		for (unsigned i = 0; i < BLOCK; i++) {
			struct dmac_client_lease l;
			uint64_t t0 = bd_now_ns(), t1, t2;

			err = dmac_client_lease(c, reg, 0, LEASE_LEN, DMAC_CLIENT_PROT_READ, &l);
			t1 = bd_now_ns();
			if (err)
				goto lease_fail;
			err = dmac_client_release(c, l.lease_id);
			t2 = bd_now_ns();
			if (err)
				goto lease_fail;
			samp[S_LEASE][b + i] = t1 - t0;
			samp[S_REL][b + i] = t2 - t1;
		}
		for (unsigned i = 0; i < BLOCK; i++) {
			uint64_t t0 = bd_now_ns();

			if (bd_echo_round(sv[0], 56, 56))
				goto pp_fail;
			samp[S_PP_REL][b + i] = bd_now_ns() - t0;
		}
	}

	/*
	 * CPU time per request, read from the scheduler (no daemon hook): batches
	 * of NLEASE leases of distinct pages, then their releases, with the
	 * daemon's CPU time taken around each batch; the epoll echo peer's CPU
	 * time per round trip is the same for a process doing only the syscalls.
	 * Batches are interleaved; the median batch is reported (on a shared
	 * virtual machine, steal time lands in a task's run time).
	 */
	nb = iters / NLEASE;
	cpu = dmac__calloc(3 * nb, sizeof(*cpu));
	if (!cpu) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	for (unsigned long b = 0; b < nb; b++) {
		static struct dmac_client_lease l[NLEASE];
		uint64_t c0 = bd_proc_cpu_ns(daemon_pid), c1, c2, e0;

		for (unsigned i = 0; i < NLEASE; i++) {
			err = dmac_client_lease(c, reg, (uint64_t)i * LEASE_LEN, LEASE_LEN,
						DMAC_CLIENT_PROT_READ, &l[i]);
			if (err)
				goto lease_fail;
		}
		c1 = bd_proc_cpu_ns(daemon_pid);
		for (unsigned i = 0; i < NLEASE; i++) {
			err = dmac_client_release(c, l[i].lease_id);
			if (err)
				goto lease_fail;
		}
		c2 = bd_proc_cpu_ns(daemon_pid);
		e0 = bd_proc_cpu_ns(pe_pid);
		for (unsigned i = 0; i < NLEASE; i++)
			if (bd_echo_round(se[0], 72, 72))
				goto pp_fail;
		cpu[b] = (c1 - c0) / NLEASE;
		cpu[nb + b] = (c2 - c1) / NLEASE;
		cpu[2 * nb + b] = (bd_proc_cpu_ns(pe_pid) - e0) / NLEASE;
	}
	cpu_l = bd_summarize(cpu, nb).p50;
	cpu_r = bd_summarize(cpu + nb, nb).p50;
	cpu_e = bd_summarize(cpu + 2 * nb, nb).p50;

	for (int s = 0; s < S_N; s++)
		sum[s] = bd_summarize(samp[s], iters);
	printf("# dmacache-lease-bench: %lu iterations per series, ns per round trip\n", iters);
	printf("%-27s %9s %9s %9s %9s %9s\n", "series", "min", "p50", "p90", "p99", "mean");
	for (int s = 0; s < S_N; s++)
		printf("%-27s %9.0f %9.0f %9.0f %9.0f %9.0f\n", s_name[s], sum[s].min, sum[s].p50,
		       sum[s].p90, sum[s].p99, sum[s].mean);
	printf("ratio lease/pingpong       p50 %.2fx  p99 %.2fx  (target p50 <= 1.30x)\n",
	       sum[S_LEASE].p50 / sum[S_PP_LEASE].p50, sum[S_LEASE].p99 / sum[S_PP_LEASE].p99);
	printf("ratio lease/pingpong_epoll p50 %.2fx  p99 %.2fx\n",
	       sum[S_LEASE].p50 / sum[S_PP_EPOLL].p50, sum[S_LEASE].p99 / sum[S_PP_EPOLL].p99);
	printf("ratio release/pingpong     p50 %.2fx  p99 %.2fx\n",
	       sum[S_REL].p50 / sum[S_PP_REL].p50, sum[S_REL].p99 / sum[S_PP_REL].p99);
	printf("lease p50 - pingpong p50 = %.0f ns (daemon service + codec + client library; "
	       "target service <= 1000 ns)\n",
	       sum[S_LEASE].p50 - sum[S_PP_LEASE].p50);
	printf("daemon CPU per LEASE   %.0f ns, per RELEASE %.0f ns (all its threads, user + "
	       "kernel, /proc schedstat, median of %lu batches of %u)\n",
	       cpu_l, cpu_r, nb, NLEASE);
	printf("epoll echo peer CPU per round trip %.0f ns (the same syscalls, no work)\n", cpu_e);
	printf("daemon CPU per LEASE beyond the echo peer: %.0f ns (target service <= 1000 ns)\n",
	       cpu_l - cpu_e);
	rc = 0;
	goto out;

pp_fail:
	fprintf(stderr, "ping-pong round trip failed\n");
	goto out;
lease_fail:
	fprintf(stderr, "lease/release: %s\n", strerror(-err));
out:
	if (c)
		dmac_client_close(c);
	if (va != MAP_FAILED)
		munmap(va, REG_LEN);
	if (fd >= 0)
		close(fd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (se[0] >= 0)
		close(se[0]);
	cleanup();
	for (int s = 0; s < S_N; s++)
		dmac__free(samp[s]);
	dmac__free(cpu);
	return rc;
}
