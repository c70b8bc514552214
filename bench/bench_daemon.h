/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the self-timed daemon benchmarks (dmacache-lease-scale,
 * dmacache-copy-cache-bench): start and stop a private dmacached-test, pin
 * processes to a CPU, read CPU time from the scheduler, summarize samples,
 * and a raw SOCK_SEQPACKET echo peer.
 *
 * Invariants: every function that can fail returns 0 or -errno and leaves
 * nothing behind on failure (a daemon that did not come up is killed and
 * reaped, its directory removed); bd_stop() is safe on a daemon that was never
 * started and after a failed bd_start(). Samples are nanoseconds.
 * Concurrency: single-threaded benchmark programs.
 */
#ifndef DMAC_BENCH_DAEMON_H
#define DMAC_BENCH_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct bd_daemon {
	pid_t pid; /* 0: not running */
	char dir[64];
	char sock[128];
	char conf[128];
	char log[128];
};

/*
 * Start @p bin --foreground on a socket in a fresh /tmp directory, with the
 * configuration "[daemon]\nsocket = ...\n" followed by @p conf_rest (which names
 * the backend, the log level and the tenants). The daemon's stderr goes to
 * d->log. @p cpu >= 0 pins it to that CPU. Waits (10 s at most) until the
 * socket accepts a connection.
 * @return 0; -ECHILD (it exited: see d->log, kept), -ETIMEDOUT, -errno.
 */
int bd_start(struct bd_daemon *d, const char *bin, const char *conf_rest, int cpu);

/*
 * SIGTERM, wait (10 s, then SIGKILL); print the log's tail to stderr when
 * the exit status is not 0; remove the directory. Returns the exit status
 * (0 clean), -1 when it had to be killed.
 */
int bd_stop(struct bd_daemon *d);

/* Pin process @p pid (0: the caller) to CPU @p cpu; cpu < 0 is a no-op. 0/-errno. */
int bd_pin(pid_t pid, int cpu);

/* CLOCK_MONOTONIC, ns. */
uint64_t bd_now_ns(void);

/* CPU time (ns) every thread of @p pid has run (/proc/PID/task/N/schedstat). */
uint64_t bd_proc_cpu_ns(pid_t pid);

/* CPU time (ns) of the calling thread (CLOCK_THREAD_CPUTIME_ID). */
uint64_t bd_thread_cpu_ns(void);

struct bd_summary {
	size_t n;
	double min, p50, p90, p99, max, mean;
};

/* Sorts @p v in place; percentile p = v[floor(n * p)]. n == 0 gives zeros. */
struct bd_summary bd_summarize(uint64_t *v, size_t n);

/* One JSON object member: "name": {"n": .., "min": .., "p50": .., ...} */
void bd_json_summary(FILE *f, const char *name, const struct bd_summary *s);

/* "4 KiB", "2 MiB", "1 GiB": @p bytes in the largest unit that divides it. */
void bd_size_name(uint64_t bytes, char *out, size_t n);

/* The three load averages of /proc/loadavg into @p la (zeros if unreadable). */
void bd_loadavg(double la[3]);

/*
 * A raw echo peer: fork a child that blocks in recv() on one end of a
 * socketpair(AF_UNIX, SOCK_SEQPACKET) and sends back as many bytes as the
 * first byte of each packet says. @p cpu >= 0 pins the child.
 * @return 0 with *sock (the caller's end) and *pid; -errno.
 */
int bd_echo_start(int cpu, int *sock, pid_t *pid);

/* Kill and reap the echo child, close the socket. */
void bd_echo_stop(int sock, pid_t pid);

/* One round trip: @p out bytes out, @p back bytes asked back. 0 or -EIO. */
int bd_echo_round(int sock, unsigned char out, unsigned char back);

#endif /* DMAC_BENCH_DAEMON_H */
