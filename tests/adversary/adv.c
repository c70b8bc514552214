/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers of the host adversary tests: see adv.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adv.h"

/* ---- coordination between tenant children: a message and maybe an fd ---- */

void adv_send(int sock, uint64_t a, uint64_t b, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct adv_msg m = {a, b};
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
		perror("adv_send");
		exit(100);
	}
}

/* Receive (10 s at most); returns the fd that came with it, or -1. */
int adv_recv(int sock, struct adv_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {m, sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf)};
	struct pollfd p = {.fd = sock, .events = POLLIN};
	struct cmsghdr *c;
	int fd = -1;

	if (poll(&p, 1, 10000) != 1 ||
	    recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*m)) {
		fprintf(stderr, "adv_recv: nothing from the peer\n");
		exit(100);
	}
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* Wait for a spawned child; add its failures. */
void adv_reap(pid_t p)
{
	int status = 0;

	for (int i = 0; i < 1500 && waitpid(p, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (waitpid(p, &status, WNOHANG) == 0) {
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		fprintf(stderr, "a tenant child did not exit within 15 s\n");
		t_failures++;
		return;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "tenant child: status 0x%x\n", status);
		t_failures += WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
}

int adv_hello(const struct tdaemon *d, const char *tenant)
{
	int s = tc_connect(d);

	CHECK_EQ(tc_hello(s, tenant), 0);
	return s;
}

/* "map SPACE IOVA LEN VA PROT" of the dump: the prot of the map at @p iova
 * in @p space, or -1. Root parent only (reads the dump file). */
int adv_map_prot(struct tdaemon *d, long space, uint64_t iova)
{
	char line[256];
	long sp;
	unsigned long long io, len, va;
	unsigned int prot;
	int found = -1;
	FILE *f;

	td_sync(d, NULL);
	f = fopen(d->dump, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "map %ld %llx %llx %llx %u", &sp, &io, &len, &va, &prot) == 5 &&
		    sp == space && io == iova)
			found = (int)prot;
	if (f)
		fclose(f);
	return found;
}

/* The space of a tenant ("tenant NAME SPACE SESSIONS"), or the master. */
long adv_space_of(struct tdaemon *d, const char *tenant)
{
	char line[256], want[80];
	long space = -1;
	FILE *f;

	td_sync(d, NULL);
	if (!tenant)
		return td_get(d, "master_space");
	snprintf(want, sizeof(want), "tenant %s ", tenant);
	f = fopen(d->dump, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			space = strtol(line + strlen(want), NULL, 10);
	if (f)
		fclose(f);
	return space;
}

long long adv_tstat(struct tdaemon *d, const char *tenant, const char *key)
{
	char line[256], want[128];
	long long v = -1;
	FILE *f;

	td_sync(d, NULL);
	snprintf(want, sizeof(want), "tstat %s %s ", tenant, key);
	f = fopen(d->dump, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			v = strtoll(line + strlen(want), NULL, 10);
	if (f)
		fclose(f);
	return v;
}
