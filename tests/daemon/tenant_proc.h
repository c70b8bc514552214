/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tenant process the root test program directs one step at a time: a
 * t_as_spawn() child (a non-root uid, no capabilities) that holds the
 * tenant's connections to the daemon and carries out one request at a time
 * (connect, HELLO, DEVICE, close, ...) on the root parent's word. Between two
 * steps the parent is free to read what only root may read (the daemon's
 * logs, the test backend's device log, the state dump) and to reload or
 * signal the daemon, so a test keeps its order of actions and checks while
 * every tenant action happens in the non-root process.
 *
 * Invariants: the parent's calls are strictly request/reply over a
 * SOCK_SEQPACKET socketpair; every reply is awaited at most TP_WAIT_S seconds
 * (the tenant's own waits on the daemon are 5 s); a connection handle is the
 * tenant's fd number, meaningful only to the tenant; tp_stop() always reaps
 * the tenant and adds its failed checks (those of on_device and any it could
 * not count) to t_failures.
 * Concurrency: single-threaded test programs; one parent per tenant process.
 */
#ifndef DMD_TEST_TENANT_PROC_H
#define DMD_TEST_TENANT_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define TP_WAIT_S 30

struct tproc {
	pid_t pid; /* the tenant process; 0 once reaped */
	int ctl;   /* the parent's end of the request channel */
};

/*
 * Called in the tenant with the fds of every DEVICE reply of status 0 (the
 * reply is in tc_reply/tc_view); it must close them. NULL: they are closed.
 */
typedef void (*tp_device_fn)(int *fds, unsigned int nfds, void *ctx);

/*
 * Start a tenant process as @p uid (primary gid the same number, no
 * supplementary groups) for the daemon @p d (only its socket path is used).
 */
void tp_start(struct tproc *p, const struct tdaemon *d, uid_t uid, tp_device_fn on_device,
	      void *ctx);
/* A new connection of the tenant to the daemon; its handle. */
int tp_connect(struct tproc *p);
/* HELLO on connection @p s: status as tc_hello(); when @p rep is not NULL and
 * the status is 0, the reply is copied there. */
int tp_hello(struct tproc *p, int s, const char *tenant, struct dmac_proto_hello_rep *rep);
/* DEVICE on connection @p s: status as tc_device(); *nfds the fds received
 * (on_device had them on status 0, else the tenant closed them). */
int tp_device(struct tproc *p, int s, uint32_t index, const char *bdf, unsigned int *nfds);
/* Close connection @p s in the tenant. */
void tp_close(struct tproc *p, int s);
/* tc_closed() on connection @p s in the tenant (waits up to 5 s there). */
int tp_closed(struct tproc *p, int s);
/* End the tenant process (bounded), reap it, add its failures to t_failures. */
void tp_stop(struct tproc *p);

/*
 * In a t_as()/t_as_spawn() child about to end: run LeakSanitizer now when the
 * program is built with it (the child _exit()s, which skips the check at
 * exit that the same code had when it ran in the test process itself); a
 * leak counts as one failed check. No-op without LeakSanitizer.
 */
void tp_leak_check(void);

#endif /* DMD_TEST_TENANT_PROC_H */
