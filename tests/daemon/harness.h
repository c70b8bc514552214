/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test harness of the 'daemon' suite: starts a private dmacached-test on a
 * socket in its own temp dir, talks to it with the protocol codec, reads the
 * test backend's state through the SIGUSR1 dump, and stops it; runs tenant
 * code as non-root uids (t_as()).
 *
 * Invariants: every daemon started is stopped (SIGTERM, exit status 0
 * checked) or killed at the end of the test; every wait is bounded (5 s for
 * the daemon, T_AS_IDLE_S for a t_as() child) so a hung daemon or child fails
 * the test instead of hanging it. The temp dir is 0755 and owned by root, so
 * the daemon trusts it and non-root tenants can reach the socket in it.
 * Concurrency: single-threaded test programs.
 */
#ifndef DMD_TEST_HARNESS_H
#define DMD_TEST_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

#include "dmac/proto.h"

extern int t_failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			t_failures++;                                                              \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b) {                                                                    \
			fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n",          \
				__FILE__, __LINE__, #a, #b, _a, _b);                               \
			t_failures++;                                                              \
		}                                                                                  \
	} while (0)

struct tdaemon {
	pid_t pid;
	char dir[64];
	char sock[128];
	char conf[128];
	char dump[128];
	char ctl[128];
};

/* The daemon's log_level in td_write_conf() ("debug"; benchmarks lower it). */
extern const char *td_log_level;

/* Write the config (socket/backend lines are added) and start the daemon.
 * Root only (not in a t_as() child). */
void td_start(struct tdaemon *d, const char *extra_conf);
/* Rewrite the config file (for SIGHUP tests). */
void td_write_conf(struct tdaemon *d, const char *extra_conf);
/* Send the daemon a signal (SIGHUP for a reload). */
void td_kill(struct tdaemon *d, int sig);
/* SIGTERM, wait (bounded), check exit status 0, remove the temp dir. */
void td_stop(struct tdaemon *d);
/* Number of open fds of the daemon. */
int td_fds(const struct tdaemon *d);
/* utime + stime of process @p pid in ms (/proc/PID/stat), or -1. */
long td_cpu_ms(pid_t pid);
/* Apply a control line (NULL: none) and refresh the dump. */
void td_sync(struct tdaemon *d, const char *ctl);
/* A value of the last dump ("key value" line); -1 if absent. */
long long td_get(const struct tdaemon *d, const char *key);
/* Poll the dump (td_sync) until key == value, at most 5 s.
 * Returns 0, or -1 on time-out (the last value stays in the dump). */
int td_wait(struct tdaemon *d, const char *key, long long value);
/* Number of dump lines starting with prefix. */
int td_count(const struct tdaemon *d, const char *prefix);

/* Client side. */
int tc_connect(const struct tdaemon *d);
/* Send raw bytes with fds, receive the reply; returns the reply status
 * (0/positive errno), or -1 if the daemon closed the session without reply,
 * -2 on a malformed reply. The reply is left in tc_reply. */
int tc_rpc_raw(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds);
extern uint64_t tc_reply[DMAC_PROTO_MAX_MSG / 8];
extern struct dmac_proto_view tc_view;

int tc_hello(int sock, const char *tenant);
int tc_stats(int sock, struct dmac_proto_stats *st);
int tc_register(int sock, int fd, uint64_t offset, uint64_t length, uint32_t prot,
		uint64_t *reg_id);
int tc_unregister(int sock, uint64_t reg_id);
int tc_lease(int sock, uint64_t reg_id, uint64_t offset, uint64_t length, uint32_t prot,
	     struct dmac_proto_lease_grant *g);
int tc_release(int sock, uint64_t lease_id, uint64_t generation);
/* QUERY one page; returns status; count in *n, infos copied to out. */
int tc_query(int sock, uint64_t cursor, uint32_t max, struct dmac_proto_lease_info *out,
	     uint32_t *n, uint64_t *next);
/* Whether the daemon has closed this session (recv returns 0 within 5 s). */
int tc_closed(int sock);

/*
 * Run a shell command (popen); return its exit status (-1: it did not exit)
 * and, when @p out is given, the first line of its stdout without the newline.
 * The rest of stdout is read and dropped.
 */
int t_run(const char *cmd, char *out, size_t cap);

/* A memfd of size bytes, sealed with F_SEAL_SHRINK|F_SEAL_GROW if seal. */
int t_memfd(uint64_t size, int seal);

/* ---- non-root tenants ------------------------------------------------------
 *
 * t_as() runs tenant code in a child that has dropped root for good. The
 * daemon stays under the root parent's control: in a t_as() child td_sync(),
 * td_get(), td_count(), td_wait(), td_fds(), td_write_conf() and td_kill()
 * are requests the parent carries out on the daemon it started (matched by
 * pid) and answers, so the checks read as before while the child holds no
 * privilege; td_start() and td_stop() abort there. Numeric ids, no passwd or
 * group entries needed.
 */
#define T_UID_A	    4001 /* tenant uids (primary gid = the same number) */
#define T_UID_B	    4002
#define T_UID_C	    4003
#define T_GID_X	    4100 /* a group used only as a supplementary group */
#define T_GID_Y	    4101
#define T_AS_IDLE_S 60 /* a t_as() child silent this long is killed */

/*
 * Fork; in the child drop every privilege - setgroups(groups), setresgid(gid
 * x3), setresuid(uid x3), PR_SET_NO_NEW_PRIVS - and verify it (getresuid,
 * getresgid, getgroups, CapEff and CapPrm 0 in /proc/self/status), else
 * abort(); then run fn(arg) with t_failures at 0 and exit with the number of
 * failed checks. The parent serves the child's daemon requests (above) until
 * the child exits, kills it after T_AS_IDLE_S without a request or exit, and
 * adds the child's failures (1 for a signal, a kill or an exit it did not
 * count) to t_failures.
 * @return the child's failure count as added.
 */
int t_as(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, void (*fn)(void *), void *arg);
/* t_as(uid, uid, no supplementary groups, ...). */
int t_as_user(uid_t uid, void (*fn)(void *), void *arg);
/*
 * The child half of t_as() without the parent's service: returns the child's
 * pid at once (the caller waits for it; its exit status is its failure
 * count). The child cannot use the daemon requests. For long-lived tenants
 * the parent kills (soak workers).
 */
pid_t t_as_spawn(uid_t uid, gid_t gid, const gid_t *groups, int ngroups, void (*fn)(void *),
		 void *arg);
/* Whether this process is a t_as() child (or one of its descendants). */
int t_as_child(void);

/*
 * A simulated PCI device's sysfs files under @p root (the test backend reads
 * $DMAC_TEST_SYSFS): vendor 0x1b36, device 0x0010, numa_node 0, BAR 0 a
 * 16 KiB 64-bit memory BAR with an (empty) resource0 file, BAR 2 a 256-byte
 * I/O BAR, and a fake VFIO device node root/dev/vfio/devices/BDF. Exits on
 * failure (test set-up).
 */
void td_fake_device(const char *root, const char *bdf);

/* DEVICE request: status (0/positive errno), -1 daemon closed the session,
 * -2 malformed reply. Received fds in fds[0..*nfds-1] (room for 16), owned
 * by the caller; the reply stays in tc_reply/tc_view. */
int tc_device(int sock, uint32_t index, const char *bdf, int *fds, unsigned int *nfds);

#endif /* DMD_TEST_HARNESS_H */
