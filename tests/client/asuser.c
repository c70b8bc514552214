/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Non-root children for the libdmacache tests (see asuser.h).
 *
 * Invariants: the client end of a spawned server's socketpair travels to the
 * parent with SCM_RIGHTS over a socketpair made before the fork; readiness of
 * a listening server is one byte on that same channel, written after
 * listen(). Exit statuses above 100 mean the child could not set up.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asuser.h"
#include "fake_server.h"

static void as_user_bug(const char *what)
{
	fprintf(stderr, "asuser: %s: %s\n", what, strerror(errno));
	fflush(NULL);
	abort();
}

/* Whether capability set @p name ("CapEff") in /proc/self/status is empty. */
static int caps_empty(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	int empty = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':')
			empty = strtoull(line + n + 1, NULL, 16) == 0;
	fclose(f);
	return empty;
}

void as_user_drop(uid_t uid, gid_t gid)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	pid_t parent = getppid();

	if (uid == 0)
		as_user_bug("as_user_drop(0)");
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid))
		as_user_bug("dropping root");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		as_user_bug("PR_SET_NO_NEW_PRIVS");
	/* keep /proc/self ours (LeakSanitizer), and die with the test */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) || prctl(PR_SET_PDEATHSIG, SIGKILL))
		as_user_bug("prctl");
	if (getppid() != parent)
		_exit(127);
	if (getresuid(&r, &e, &s) || r != uid || e != uid || s != uid || getresgid(&rg, &eg, &sg) ||
	    rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0)
		as_user_bug("ids not all dropped");
	if (!caps_empty("CapEff") || !caps_empty("CapPrm"))
		as_user_bug("capabilities left");
}

/* Bounded wait: the exit status, or 101. */
static int wait_bounded(pid_t pid, int timeout_s)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int status;

	for (int i = 0; i < timeout_s * 100; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 101;
		if (w < 0)
			return 101;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "asuser: child %d did not exit within %d s: killed\n", (int)pid, timeout_s);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 101;
}

int as_user_run(uid_t uid, int timeout_s, int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		as_user_bug("fork");
	if (pid == 0) {
		int rc;

		as_user_drop(uid, (gid_t)uid);
		rc = fn(arg);
		fflush(NULL);
		_exit(rc < 0 ? 100 : rc > 100 ? 100 : rc);
	}
	return wait_bounded(pid, timeout_s);
}

static int send_fd(int chan, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	char byte = 'f';
	struct iovec iov = {&byte, 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(chan, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int recv_fd(int chan)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	char byte;
	struct iovec iov = {&byte, 1};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(chan, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The child of fake_server_spawn_as(): never returns. */
static void spawned_server(uid_t uid, const char *path, int chan)
{
	struct fake_server s;
	unsigned int n;

	as_user_drop(uid, (gid_t)uid);
	if (!path) {
		fake_server_start(&s);
		if (send_fd(chan, s.client_sock))
			_exit(102);
		close(s.client_sock);
	} else {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), c;

		if (l < 0 || strlen(path) >= sizeof(sa.sun_path))
			_exit(103);
		strcpy(sa.sun_path, path);
		umask(0); /* an impostor lets everyone connect */
		if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4)) {
			fprintf(stderr, "asuser: bind %s: %s\n", path, strerror(errno));
			_exit(104);
		}
		if (write(chan, "l", 1) != 1)
			_exit(105);
		c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			_exit(106);
		close(l);
		unlink(path);
		fake_server_start_fd(&s, c);
	}
	close(chan);
	fake_server_join(&s);
	n = fake_server_requests(&s);
	fflush(NULL);
	_exit(n > 100 ? 100 : (int)n);
}

pid_t fake_server_spawn_as(uid_t uid, const char *path, int *client_sock)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		as_user_bug("socketpair");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		as_user_bug("fork");
	if (pid == 0) {
		close(sv[0]);
		spawned_server(uid, path, sv[1]);
	}
	close(sv[1]);
	if (!path) {
		*client_sock = recv_fd(sv[0]);
		if (*client_sock < 0)
			as_user_bug("receiving the fake server's socket");
	} else {
		char b;

		if (read(sv[0], &b, 1) != 1)
			as_user_bug("the fake server did not listen");
		if (client_sock)
			*client_sock = -1;
	}
	close(sv[0]);
	return pid;
}

int fake_server_spawn_wait(pid_t pid)
{
	int rc = wait_bounded(pid, 10);

	return rc > 100 ? -1 : rc;
}
