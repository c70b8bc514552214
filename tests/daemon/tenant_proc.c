/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tenant process the root test program directs one step at a time (see
 * tenant_proc.h).
 *
 * Invariants: one fixed-size request, then one fixed-size reply, strictly
 * alternating; the tenant leaves its loop when the parent says so or its end
 * of the channel closes (the parent died: PR_SET_PDEATHSIG kills it anyway).
 */
#include <errno.h>
#include <stdlib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tenant_proc.h"

enum { TP_CONNECT = 1, TP_HELLO, TP_DEVICE, TP_CLOSE, TP_CLOSED, TP_EXIT };

struct tp_req {
	int op;
	int s;		/* the connection (the tenant's fd) */
	uint32_t index; /* TP_DEVICE */
	int has_text;	/* TP_DEVICE: a BDF is given */
	char text[80];	/* TP_HELLO: the tenant; TP_DEVICE: the BDF */
};

struct tp_rep {
	int rc;
	unsigned int nfds;
	struct dmac_proto_hello_rep hello;
};

struct tp_args {
	int chan;  /* the tenant's end */
	int other; /* the parent's end: closed in the tenant */
	struct tdaemon d;
	tp_device_fn on_device;
	void *ctx;
};

/* LeakSanitizer's entry point, when the program has it (ASan or LSan builds). */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

void tp_leak_check(void)
{
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) {
		fprintf(stderr, "tenant (pid %d): LeakSanitizer found leaks\n", (int)getpid());
		t_failures++;
	}
}

static void tp_main(void *arg)
{
	struct tp_args *a = arg;
	struct tp_req rq;
	struct tp_rep rp;

	close(a->other);
	for (;;) {
		ssize_t n = recv(a->chan, &rq, sizeof(rq), 0);
		int fds[16];
		unsigned int nfds = 0;

		if (n != (ssize_t)sizeof(rq)) {
			if (n != 0) {
				fprintf(stderr, "tenant_proc: bad request (%zd)\n", n);
				t_failures++;
			}
			return;
		}
		memset(&rp, 0, sizeof(rp));
		switch (rq.op) {
		case TP_CONNECT:
			rp.rc = tc_connect(&a->d);
			break;
		case TP_HELLO:
			rp.rc = tc_hello(rq.s, rq.text);
			if (rp.rc == 0)
				memcpy(&rp.hello, tc_reply, sizeof(rp.hello));
			break;
		case TP_DEVICE:
			rp.rc = tc_device(rq.s, rq.index, rq.has_text ? rq.text : NULL, fds, &nfds);
			rp.nfds = nfds;
			if (nfds && rp.rc == 0 && a->on_device)
				a->on_device(fds, nfds, a->ctx);
			else if (nfds)
				dmac_proto_close_fds(fds, nfds);
			break;
		case TP_CLOSE:
			rp.rc = close(rq.s) ? -errno : 0;
			break;
		case TP_CLOSED:
			rp.rc = tc_closed(rq.s);
			break;
		case TP_EXIT:
			tp_leak_check();
			rp.rc = t_failures;
			send(a->chan, &rp, sizeof(rp), MSG_NOSIGNAL);
			return;
		default:
			fprintf(stderr, "tenant_proc: unknown request %d\n", rq.op);
			t_failures++;
			rp.rc = -EINVAL;
		}
		fflush(NULL);
		if (send(a->chan, &rp, sizeof(rp), MSG_NOSIGNAL) != (ssize_t)sizeof(rp))
			return;
	}
}

void tp_start(struct tproc *p, const struct tdaemon *d, uid_t uid, tp_device_fn on_device,
	      void *ctx)
{
	struct tp_args a;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		perror("tenant_proc: socketpair");
		exit(1);
	}
	memset(&a, 0, sizeof(a));
	a.chan = sv[1];
	a.other = sv[0];
	a.d = *d;
	a.on_device = on_device;
	a.ctx = ctx;
	p->pid = t_as_spawn(uid, (gid_t)uid, NULL, 0, tp_main, &a);
	close(sv[1]);
	p->ctl = sv[0];
}

/* One request and its reply; -3 (and a message) if the tenant did not answer. */
static int tp_call(struct tproc *p, const struct tp_req *rq, struct tp_rep *rp)
{
	struct pollfd pf = {.fd = p->ctl, .events = POLLIN};

	memset(rp, 0, sizeof(*rp));
	if (send(p->ctl, rq, sizeof(*rq), MSG_NOSIGNAL) != (ssize_t)sizeof(*rq) ||
	    poll(&pf, 1, TP_WAIT_S * 1000) != 1 ||
	    recv(p->ctl, rp, sizeof(*rp), 0) != (ssize_t)sizeof(*rp)) {
		fprintf(stderr, "tenant_proc: the tenant (pid %d) did not answer request %d\n",
			(int)p->pid, rq->op);
		return -3;
	}
	return rp->rc;
}

int tp_connect(struct tproc *p)
{
	struct tp_req rq = {.op = TP_CONNECT};
	struct tp_rep rp;

	return tp_call(p, &rq, &rp);
}

int tp_hello(struct tproc *p, int s, const char *tenant, struct dmac_proto_hello_rep *rep)
{
	struct tp_req rq = {.op = TP_HELLO, .s = s};
	struct tp_rep rp;
	int rc;

	snprintf(rq.text, sizeof(rq.text), "%s", tenant);
	rc = tp_call(p, &rq, &rp);
	if (rc == 0 && rep)
		*rep = rp.hello;
	return rc;
}

int tp_device(struct tproc *p, int s, uint32_t index, const char *bdf, unsigned int *nfds)
{
	struct tp_req rq = {.op = TP_DEVICE, .s = s, .index = index, .has_text = bdf != NULL};
	struct tp_rep rp;
	int rc;

	if (bdf)
		snprintf(rq.text, sizeof(rq.text), "%s", bdf);
	rc = tp_call(p, &rq, &rp);
	*nfds = rp.nfds;
	return rc;
}

void tp_close(struct tproc *p, int s)
{
	struct tp_req rq = {.op = TP_CLOSE, .s = s};
	struct tp_rep rp;

	CHECK_EQ(tp_call(p, &rq, &rp), 0);
}

int tp_closed(struct tproc *p, int s)
{
	struct tp_req rq = {.op = TP_CLOSED, .s = s};
	struct tp_rep rp;

	return tp_call(p, &rq, &rp);
}

void tp_stop(struct tproc *p)
{
	struct tp_req rq = {.op = TP_EXIT};
	struct tp_rep rp;
	int status = 0, i;

	if (!p->pid)
		return;
	tp_call(p, &rq, &rp);
	close(p->ctl);
	for (i = 0; i < TP_WAIT_S * 100; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid)
			break;
		nanosleep(&(struct timespec){0, 10000000L}, NULL);
	}
	if (i == TP_WAIT_S * 100) {
		fprintf(stderr, "tenant_proc: the tenant (pid %d) did not exit: killed\n",
			(int)p->pid);
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &status, 0);
		t_failures++;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "tenant_proc: the tenant (pid %d): status 0x%x\n", (int)p->pid,
			status);
		t_failures += WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	p->pid = 0;
}
