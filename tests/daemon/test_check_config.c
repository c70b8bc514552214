/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * 'check-config' (suite daemon): the configuration rules of issue 13
 * section 3 through the binaries, as an operator meets them.
 *
 * - `dmacached --check-config`: an empty or tenant-less file is OK (exit 0)
 *   with a warning on stderr, a file with a tenant has none; a directory is
 *   refused (exit 1, "is a directory"); a line longer than the reader's
 *   limit is one error at its own line and the next line keeps its number;
 *   a number with a leading zero is refused;
 * - usage errors exit 2, before any file is read: an unknown flag, a
 *   missing argument, a stray operand, a --backend the binary does not
 *   offer;
 * - a reload (SIGHUP) to a tenant-less file logs the warning too
 * - `dmacached-test --foreground` on a tenant-less file logs the warning at
 *   start (and not on a file with a tenant), then stops cleanly on SIGTERM.
 *
 * Environment: DMACACHED (the shipped binary), DMACACHED_TEST.
 * Invariants: every child is waited for with a bound (5 s); the temp dir is
 * removed at the end. Concurrency: single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char dir[64];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Write text to DIR/name; the path in path (128 bytes). */
static void put(const char *name, const char *text, char *path)
{
	FILE *f;

	snprintf(path, 128, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f))
		die(path);
}

/* The whole of a small file, NUL-terminated (static buffer). */
static const char *slurp(const char *path)
{
	static char buf[16384];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Start argv with stdout and stderr to DIR/out and DIR/err. */
static pid_t spawn(char *const argv[])
{
	char out[128], err[128];
	pid_t pid;

	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	/* nothing of the last run may be read as this one's */
	unlink(out);
	unlink(err);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Wait up to 5 s for pid; its exit status, or -1 (killed: a signal or the bound). */
static int reap(pid_t pid)
{
	int status, i;

	for (i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		msleep(10);
	}
	fprintf(stderr, "pid %d did not exit within 5 s: killed\n", (int)pid);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Run argv to its end; exit status; its stdout and stderr in *out, *err (static). */
static int run(char *const argv[], char *out, char *err)
{
	char path[128];
	int rc = reap(spawn(argv));

	snprintf(path, sizeof(path), "%s/out", dir);
	snprintf(out, 16384, "%s", slurp(path));
	snprintf(path, sizeof(path), "%s/err", dir);
	snprintf(err, 16384, "%s", slurp(path));
	return rc;
}

/* Lines of text that start with prefix. */
static int lines_starting(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	int count = 0;

	for (const char *l = text; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
		count += !strncmp(l, prefix, n);
	return count;
}

static char out[16384], err[16384];

static void test_check_config(const char *bin)
{
	char empty[128], notenant[128], ok[128], longl[128], zero[128], want[256];
	char text[1024];
	int rc;

	put("empty.conf", "", empty);
	put("notenant.conf", "[daemon]\nlog_level = debug\n", notenant);
	put("ok.conf", "[tenant a]\nuids = 4001\n", ok);

	/* valid, but nobody can connect: exit 0 and a warning */
	rc = run((char *const[]){(char *)bin, "--check-config", empty, NULL}, out, err);
	CHECK_EQ(rc, 0);
	CHECK(strstr(out, "OK (0 tenant(s)") != NULL);
	snprintf(want, sizeof(want), "%s: warning: no [tenant NAME] section", empty);
	CHECK(strstr(err, want) != NULL);
	rc = run((char *const[]){(char *)bin, "--check-config", notenant, NULL}, out, err);
	CHECK_EQ(rc, 0);
	snprintf(want, sizeof(want), "%s: warning: no [tenant NAME] section", notenant);
	CHECK(strstr(err, want) != NULL);
	rc = run((char *const[]){(char *)bin, "--check-config", ok, NULL}, out, err);
	CHECK_EQ(rc, 0);
	CHECK(strstr(out, "OK (1 tenant(s)") != NULL);
	CHECK(strstr(err, "warning") == NULL);

	/* a directory is not an empty configuration */
	rc = run((char *const[]){(char *)bin, "--check-config", dir, NULL}, out, err);
	CHECK_EQ(rc, 1);
	snprintf(want, sizeof(want), "%s: is a directory, not a configuration file", dir);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(out, "OK") == NULL);

	/* a long line: one error at line 2; line 3's error keeps its number */
	{
		int o = snprintf(text, sizeof(text), "[tenant a]\nuids = 4001 ");

		memset(text + o, '7', 400);
		snprintf(text + o + 400, sizeof(text) - (size_t)o - 400, "\nnope = 1\n");
	}
	put("long.conf", text, longl);
	rc = run((char *const[]){(char *)bin, "--check-config", longl, NULL}, out, err);
	CHECK_EQ(rc, 1);
	snprintf(want, sizeof(want), "%s:2: line longer than", longl);
	CHECK(strstr(err, want) != NULL);
	snprintf(want, sizeof(want), "%s:3: unknown key 'nope' in [tenant a]", longl);
	CHECK(strstr(err, want) != NULL);
	/* the long uids line is dropped whole, not cut: tenant a allows nobody */
	snprintf(want, sizeof(want), "%s:1: tenant 'a' allows nobody", longl);
	CHECK(strstr(err, want) != NULL);
	/* the three errors, "invalid configuration", and nothing else */
	snprintf(want, sizeof(want), "%s:", longl);
	CHECK_EQ(lines_starting(err, want), 4);
	if (lines_starting(err, want) != 4)
		fprintf(stderr, "stderr:\n%s", err);

	/* 0100 is not 64 */
	put("zero.conf", "[tenant a]\nuids = 4001\nquota_leases = 0100\n", zero);
	rc = run((char *const[]){(char *)bin, "--check-config", zero, NULL}, out, err);
	CHECK_EQ(rc, 1);
	snprintf(want, sizeof(want), "%s:3: quota_leases: '0100' has a leading zero", zero);
	CHECK(strstr(err, want) != NULL);

	/* usage errors: exit 2, nothing read */
	rc = run((char *const[]){(char *)bin, "--bogus", NULL}, out, err);
	CHECK_EQ(rc, 2);
	CHECK(strstr(err, "usage:") != NULL);
	rc = run((char *const[]){(char *)bin, "--check-config", NULL}, out, err);
	CHECK_EQ(rc, 2);
	rc = run((char *const[]){(char *)bin, "--check-config", ok, "stray", NULL}, out, err);
	CHECK_EQ(rc, 2);
	CHECK(strstr(err, "unexpected argument 'stray'") != NULL);
	rc = run((char *const[]){(char *)bin, "--backend", "test", "--check-config", ok, NULL}, out,
		 err);
	CHECK_EQ(rc, 2);
	CHECK(strstr(err, "--backend test: not offered by this binary") != NULL);
	rc = run((char *const[]){(char *)bin, "--foreground", "--backend", "nope", "--config",
				 "/nonexistent/dmacached.conf", NULL},
		 out, err);
	CHECK_EQ(rc, 2);
	rc = run((char *const[]){(char *)bin, "--version", NULL}, out, err);
	CHECK_EQ(rc, 0);
}

/* The daemon on @p conf_body: whether its start-up log has the warning. */
static int start_warns(const char *bin, const char *conf_body)
{
	char conf[128], body[512], errpath[128];
	int i, rc, warned;
	pid_t pid;

	snprintf(body, sizeof(body), "[daemon]\nsocket = %s/s/dmacached.sock\nbackend = test\n%s",
		 dir, conf_body);
	put("start.conf", body, conf);
	snprintf(errpath, sizeof(errpath), "%s/err", dir);
	pid = spawn((char *const[]){(char *)bin, "--foreground", "--config", conf, NULL});
	for (i = 0; i < 500 && !strstr(slurp(errpath), "listening on"); i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "the daemon exited at start:\n%s", slurp(errpath));
			t_failures++;
			return -1;
		}
		msleep(10);
	}
	CHECK(i < 500);
	kill(pid, SIGTERM);
	rc = reap(pid);
	CHECK_EQ(rc, 0);
	snprintf(body, sizeof(body), "warn: config %s: no [tenant NAME] section", conf);
	warned = strstr(slurp(errpath), body) != NULL;
	if (!warned && strstr(conf_body, "tenant") == NULL)
		fprintf(stderr, "no warning in the log:\n%s", slurp(errpath));
	return warned;
}

/* Started with a tenant, reloaded (SIGHUP) without: whether the log warns. */
static int reload_warns(const char *bin)
{
	char conf[128], body[512], errpath[128];
	int i, warned;
	pid_t pid;

	snprintf(
	    body, sizeof(body),
	    "[daemon]\nsocket = %s/s/dmacached.sock\nbackend = test\n[tenant a]\nuids = 4001\n",
	    dir);
	put("reload.conf", body, conf);
	snprintf(errpath, sizeof(errpath), "%s/err", dir);
	pid = spawn((char *const[]){(char *)bin, "--foreground", "--config", conf, NULL});
	for (i = 0; i < 500 && !strstr(slurp(errpath), "listening on"); i++)
		msleep(10);
	CHECK(i < 500);
	snprintf(body, sizeof(body), "[daemon]\nsocket = %s/s/dmacached.sock\nbackend = test\n",
		 dir);
	put("reload.conf", body, conf);
	kill(pid, SIGHUP);
	snprintf(body, sizeof(body), "warn: SIGHUP: config %s: no [tenant NAME] section", conf);
	for (i = 0; i < 500 && !strstr(slurp(errpath), "reloaded"); i++)
		msleep(10);
	warned = strstr(slurp(errpath), body) != NULL;
	if (!warned)
		fprintf(stderr, "no warning in the log after the reload:\n%s", slurp(errpath));
	kill(pid, SIGTERM);
	CHECK_EQ(reap(pid), 0);
	return warned;
}

int main(int argc, char **argv)
{
	const char *shipped = getenv("DMACACHED"), *test = getenv("DMACACHED_TEST");
	char cmd[128];

	(void)argc;
	(void)argv;
	if (!shipped || !test) {
		fprintf(stderr, "DMACACHED and DMACACHED_TEST must be set\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/dmacd-check-XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0755))
		die("mkdtemp");
	test_check_config(shipped);
	CHECK_EQ(start_warns(test, ""), 1);
	CHECK_EQ(start_warns(test, "[tenant a]\nuids = 4001\n"), 0);
	CHECK_EQ(reload_warns(test), 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	if (t_failures) {
		fprintf(stderr, "check-config: %d check(s) failed\n", t_failures);
		return 1;
	}
	printf("check-config: all checks passed\n");
	return 0;
}
