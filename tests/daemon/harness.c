/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Harness of the 'daemon' suite (see harness.h).
 *
 * Invariants: the daemon binary comes from $DMACACHED_TEST (set by meson);
 * all paths live in a fresh mkdtemp() directory; the dump file is replaced
 * atomically by the daemon (rename), so a dump read is whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

int t_failures;
uint64_t tc_reply[DMAC_PROTO_MAX_MSG / 8];
struct dmac_proto_view tc_view;
static uint64_t reqbuf[DMAC_PROTO_MAX_MSG / 8];
static uint64_t next_tag = 1;

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

void td_write_conf(struct tdaemon *d, const char *extra)
{
	FILE *f = fopen(d->conf, "w");

	if (!f)
		die("write config");
	fprintf(f, "[daemon]\nsocket = %s\nbackend = test\nlog_level = debug\n%s", d->sock,
		extra ? extra : "");
	fclose(f);
}

void td_start(struct tdaemon *d, const char *extra)
{
	const char *bin = getenv("DMACACHED_TEST");
	int i;

	if (!bin) {
		fprintf(stderr, "harness: DMACACHED_TEST is not set\n");
		exit(1);
	}
	snprintf(d->dir, sizeof(d->dir), "/tmp/dmacd-test-XXXXXX");
	if (!mkdtemp(d->dir))
		die("mkdtemp");
	snprintf(d->sock, sizeof(d->sock), "%s/run/dmacached.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/dmacached.conf", d->dir);
	snprintf(d->dump, sizeof(d->dump), "%s/dump", d->dir);
	snprintf(d->ctl, sizeof(d->ctl), "%s/ctl", d->dir);
	td_write_conf(d, extra);
	d->pid = fork();
	if (d->pid < 0)
		die("fork");
	if (d->pid == 0) {
		/* The daemon dies with the test, even if the test crashes: an
		 * orphaned daemon would hold the test's output pipes open and
		 * turn a failure into a meson timeout. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(127);
		setenv("DMAC_TEST_DUMP", d->dump, 1);
		setenv("DMAC_TEST_CTL", d->ctl, 1);
		execl(bin, bin, "--foreground", "--config", d->conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		strcpy(sa.sun_path, d->sock);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			return;
		}
		close(s);
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			fprintf(stderr, "harness: daemon exited at start\n");
			exit(1);
		}
		msleep(10);
	}
	fprintf(stderr, "harness: daemon did not listen within 5 s\n");
	kill(d->pid, SIGKILL);
	exit(1);
}

static void rmtree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "harness: cannot remove %s\n", dir);
}

void td_stop(struct tdaemon *d)
{
	int status = 0, i;

	kill(d->pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			break;
		msleep(10);
	}
	if (i == 500) {
		fprintf(stderr, "harness: daemon did not exit within 5 s of SIGTERM\n");
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		t_failures++;
	} else {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK(access(d->sock, F_OK) != 0); /* socket unlinked at exit */
	rmtree(d->dir);
}

int td_fds(const struct tdaemon *d)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)d->pid);
	dir = opendir(path);
	if (!dir)
		die("opendir /proc/pid/fd");
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

void td_sync(struct tdaemon *d, const char *ctl)
{
	int i;

	if (ctl) {
		char tmp[160];
		FILE *f;

		snprintf(tmp, sizeof(tmp), "%s.tmp", d->ctl);
		f = fopen(tmp, "w");
		if (!f)
			die("write ctl");
		fprintf(f, "%s\n", ctl);
		fclose(f);
		rename(tmp, d->ctl);
	}
	unlink(d->dump);
	kill(d->pid, SIGUSR1);
	for (i = 0; i < 500; i++) {
		if (access(d->dump, F_OK) == 0)
			return;
		msleep(10);
	}
	fprintf(stderr, "harness: no dump within 5 s\n");
	exit(1);
}

long long td_get(const struct tdaemon *d, const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long long v = -1;
	FILE *f = fopen(d->dump, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ' ') {
			v = strtoll(line + kl + 1, NULL, 0);
			break;
		}
	}
	fclose(f);
	return v;
}

int td_count(const struct tdaemon *d, const char *prefix)
{
	char line[256];
	int n = 0;
	FILE *f = fopen(d->dump, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, prefix, strlen(prefix)))
			n++;
	fclose(f);
	return n;
}

int tc_connect(const struct tdaemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (s < 0)
		die("socket");
	strcpy(sa.sun_path, d->sock);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	return s;
}

int tc_rpc_raw(int sock, const void *buf, size_t len, const int *fds, unsigned int nfds)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	int rfds[DMAC_PROTO_MAX_FDS];
	unsigned int rn = 0;
	size_t rlen = 0;
	int rc;

	rc = dmac_proto_send(sock, buf, len, fds, nfds);
	if (rc)
		return -1;
	if (poll(&p, 1, 5000) != 1) {
		fprintf(stderr, "harness: no reply within 5 s\n");
		exit(1);
	}
	rc = dmac_proto_recv(sock, tc_reply, sizeof(tc_reply), &rlen, rfds, &rn);
	if (rc)
		return -1;
	rc = dmac_proto_decode_reply(tc_reply, rlen, rn, &tc_view);
	if (rc) {
		fprintf(stderr, "harness: malformed reply: %s\n", dmac_proto_strerror(rc));
		return -2;
	}
	return (int)tc_view.status;
}

int tc_closed(int sock)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	char b[64];

	if (poll(&p, 1, 5000) != 1)
		return 0;
	return recv(sock, b, sizeof(b), MSG_DONTWAIT) == 0;
}

int tc_hello(int sock, const char *tenant)
{
	size_t len;

	if (dmac_proto_encode_hello_req(reqbuf, sizeof(reqbuf), next_tag++, tenant, &len))
		return -2;
	return tc_rpc_raw(sock, reqbuf, len, NULL, 0);
}

int tc_stats(int sock, struct dmac_proto_stats *st)
{
	size_t len;
	int rc;

	if (dmac_proto_encode_stats_req(reqbuf, sizeof(reqbuf), next_tag++, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0)
		*st = ((const struct dmac_proto_stats_rep *)tc_reply)->stats;
	return rc;
}

int tc_register(int sock, int fd, uint64_t offset, uint64_t length, uint32_t prot, uint64_t *reg_id)
{
	struct dmac_proto_reg_range r = {
	    .fd_index = 0, .prot = prot, .offset = offset, .length = length};
	size_t len;
	int rc;

	if (dmac_proto_encode_register_req(reqbuf, sizeof(reqbuf), next_tag++, &r, 1, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, &fd, 1);
	if (rc == 0)
		*reg_id = ((const struct dmac_proto_reg_result *)tc_view.vec)->reg_id;
	return rc;
}

int tc_unregister(int sock, uint64_t reg_id)
{
	struct dmac_proto_unreg_item it = {reg_id};
	size_t len;
	int rc;

	if (dmac_proto_encode_unregister_req(reqbuf, sizeof(reqbuf), next_tag++, &it, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0)
		rc = (int)((const struct dmac_proto_item_status *)tc_view.vec)->status;
	return rc;
}

int tc_lease(int sock, uint64_t reg_id, uint64_t offset, uint64_t length, uint32_t prot,
	     struct dmac_proto_lease_grant *g)
{
	struct dmac_proto_lease_item it = {reg_id, offset, length, prot, 0};
	size_t len;
	int rc;

	if (dmac_proto_encode_lease_req(reqbuf, sizeof(reqbuf), next_tag++, &it, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0 && g)
		*g = *(const struct dmac_proto_lease_grant *)tc_view.vec;
	return rc;
}

int tc_release(int sock, uint64_t lease_id, uint64_t generation)
{
	struct dmac_proto_release_item it = {lease_id, generation};
	size_t len;
	int rc;

	if (dmac_proto_encode_release_req(reqbuf, sizeof(reqbuf), next_tag++, &it, 1, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0)
		rc = (int)((const struct dmac_proto_item_status *)tc_view.vec)->status;
	return rc;
}

int tc_query(int sock, uint64_t cursor, uint32_t max, struct dmac_proto_lease_info *out,
	     uint32_t *n, uint64_t *next)
{
	size_t len;
	int rc;

	if (dmac_proto_encode_query_req(reqbuf, sizeof(reqbuf), next_tag++, cursor, max, &len))
		return -2;
	rc = tc_rpc_raw(sock, reqbuf, len, NULL, 0);
	if (rc == 0) {
		*n = tc_view.count;
		*next = ((const struct dmac_proto_query_rep *)tc_reply)->next_cursor;
		for (uint32_t i = 0; i < tc_view.count; i++)
			memcpy(&out[i], dmac_proto_view_elem(&tc_view, i), sizeof(out[i]));
	}
	return rc;
}

int t_memfd(uint64_t size, int seal)
{
	int fd = memfd_create("dmacd-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		die("memfd_create");
	if (ftruncate(fd, (off_t)size))
		die("ftruncate");
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		die("F_ADD_SEALS");
	return fd;
}

int td_wait(struct tdaemon *d, const char *key, long long value)
{
	for (int i = 0; i < 500; i++) {
		td_sync(d, NULL);
		if (td_get(d, key) == value)
			return 0;
		msleep(10);
	}
	fprintf(stderr, "harness: %s stayed %lld, expected %lld\n", key, td_get(d, key), value);
	return -1;
}
