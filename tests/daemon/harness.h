/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Test harness of the 'daemon' suite: starts a private dmacached-test on a
 * socket in its own temp dir, talks to it with the protocol codec, reads the
 * test backend's state through the SIGUSR1 dump, and stops it.
 *
 * Invariants: every daemon started is stopped (SIGTERM, exit status 0
 * checked) or killed at the end of the test; every wait is bounded (5 s) so a
 * hung daemon fails the test instead of hanging it.
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

/* Write the config (socket/backend lines are added) and start the daemon. */
void td_start(struct tdaemon *d, const char *extra_conf);
/* Rewrite the config file (for SIGHUP tests). */
void td_write_conf(struct tdaemon *d, const char *extra_conf);
/* SIGTERM, wait (bounded), check exit status 0, remove the temp dir. */
void td_stop(struct tdaemon *d);
/* Number of open fds of the daemon. */
int td_fds(const struct tdaemon *d);
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

/* A memfd of size bytes, sealed with F_SEAL_SHRINK|F_SEAL_GROW if seal. */
int t_memfd(uint64_t size, int seal);

#endif /* DMD_TEST_HARNESS_H */
