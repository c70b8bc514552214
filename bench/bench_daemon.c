/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helpers of the self-timed daemon benchmarks; see bench_daemon.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_daemon.h"

uint64_t bd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bd_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bd_sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int bd_pin(pid_t pid, int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(pid, sizeof(set), &set) ? -errno : 0;
}

/* rm -r of a directory holding only files and one level of subdirectories. */
static void bd_rmdir(const char *path, int depth)
{
	DIR *dh = opendir(path);
	struct dirent *e;
	char sub[512];

	if (!dh)
		return;
	while ((e = readdir(dh))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (!lstat(sub, &st) && S_ISDIR(st.st_mode) && depth > 0)
			bd_rmdir(sub, depth - 1);
		else
			unlink(sub);
	}
	closedir(dh);
	rmdir(path);
}

static int bd_probe(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), ok;

	if (s < 0)
		return 0;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(s);
		return 0;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(s);
	return ok;
}

int bd_start(struct bd_daemon *d, const char *bin, const char *conf_rest, int cpu)
{
	FILE *f;
	int rc;

	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), "/tmp/dmac-bench-XXXXXX");
	if (!mkdtemp(d->dir)) {
		d->dir[0] = 0;
		return -errno;
	}
	/* root-owned and not writable by others: the daemon trusts the path */
	if (chmod(d->dir, 0755)) {
		rc = -errno;
		goto err_dir;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/run/dmacached.sock", d->dir);
	snprintf(d->conf, sizeof(d->conf), "%s/dmacached.conf", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/dmacached.log", d->dir);
	f = fopen(d->conf, "w");
	if (!f) {
		rc = -errno;
		goto err_dir;
	}
	fprintf(f, "[daemon]\nsocket = %s\n%s", d->sock, conf_rest);
	if (fclose(f)) {
		rc = -errno;
		goto err_dir;
	}
	d->pid = fork();
	if (d->pid < 0) {
		rc = -errno;
		d->pid = 0;
		goto err_dir;
	}
	if (d->pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0)
			dup2(fd, 2);
		if (bd_pin(0, cpu))
			_exit(126);
		execl(bin, bin, "--foreground", "--config", d->conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		if (bd_probe(d->sock))
			return 0;
		if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
			d->pid = 0;
			fprintf(stderr, "bench: %s exited before listening; its log: %s\n", bin,
				d->log);
			return -ECHILD; /* the directory stays: the log says why */
		}
		bd_sleep_ms(10);
	}
	rc = -ETIMEDOUT;
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
err_dir:
	bd_rmdir(d->dir, 1);
	d->dir[0] = 0;
	return rc;
}

static void bd_log_tail(const char *path)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return;
	if (fseek(f, -(long)sizeof(buf) + 1, SEEK_END))
		rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	fprintf(stderr, "---- dmacached log (tail) ----\n%s\n", buf);
}

int bd_stop(struct bd_daemon *d)
{
	int status = 0, rc = -1, i;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (i = 0; i < 1000 && waitpid(d->pid, &status, WNOHANG) != d->pid; i++)
			bd_sleep_ms(10);
		if (i == 1000) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, NULL, 0);
		} else if (WIFEXITED(status)) {
			rc = WEXITSTATUS(status);
		}
		d->pid = 0;
		if (rc)
			bd_log_tail(d->log);
	} else {
		rc = 0;
	}
	if (d->dir[0])
		bd_rmdir(d->dir, 1);
	d->dir[0] = 0;
	return rc;
}

uint64_t bd_proc_cpu_ns(pid_t pid)
{
	char path[64], line[384];
	struct dirent *e;
	uint64_t sum = 0;
	DIR *dh;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dh = opendir(path);
	if (!dh)
		return 0;
	while ((e = readdir(dh))) {
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(line, sizeof(line), "%s/%s/schedstat", path, e->d_name);
		f = fopen(line, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		fclose(f);
	}
	closedir(dh);
	return sum;
}

static int bd_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct bd_summary bd_summarize(uint64_t *v, size_t n)
{
	struct bd_summary s = {0};
	double sum = 0;

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), bd_cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	s.n = n;
	s.min = (double)v[0];
	s.p50 = (double)v[n / 2];
	s.p90 = (double)v[(n * 90) / 100];
	s.p99 = (double)v[(n * 99) / 100];
	s.max = (double)v[n - 1];
	s.mean = sum / (double)n;
	return s;
}

void bd_json_summary(FILE *f, const char *name, const struct bd_summary *s)
{
	fprintf(f,
		"\"%s\": {\"n\": %zu, \"min\": %.0f, \"p50\": %.0f, \"p90\": %.0f, "
		"\"p99\": %.0f, \"max\": %.0f, \"mean\": %.1f}",
		name, s->n, s->min, s->p50, s->p90, s->p99, s->max, s->mean);
}

void bd_size_name(uint64_t bytes, char *out, size_t n)
{
	static const struct {
		const char *unit;
		unsigned int shift;
	} u[] = {{"GiB", 30}, {"MiB", 20}, {"KiB", 10}};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (bytes >> u[i].shift && !(bytes & ((UINT64_C(1) << u[i].shift) - 1))) {
			snprintf(out, n, "%llu %s", (unsigned long long)(bytes >> u[i].shift),
				 u[i].unit);
			return;
		}
	snprintf(out, n, "%llu B", (unsigned long long)bytes);
}

void bd_loadavg(double la[3])
{
	FILE *f = fopen("/proc/loadavg", "r");

	la[0] = la[1] = la[2] = 0;
	if (!f)
		return;
	if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3)
		la[0] = la[1] = la[2] = 0;
	fclose(f);
}

static void bd_echo_child(int s)
{
	unsigned char buf[256];

	for (;;) {
		ssize_t n = recv(s, buf, sizeof(buf), 0);

		if (n <= 0)
			_exit(0);
		if (send(s, buf, buf[0], 0) < 0)
			_exit(1);
	}
}

int bd_echo_start(int cpu, int *sock, pid_t *pid)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		int rc = -errno;

		close(sv[0]);
		close(sv[1]);
		return rc;
	}
	if (*pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (bd_pin(0, cpu))
			_exit(126);
		bd_echo_child(sv[1]);
	}
	close(sv[1]);
	*sock = sv[0];
	return 0;
}

void bd_echo_stop(int sock, pid_t pid)
{
	if (sock >= 0)
		close(sock);
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

int bd_echo_round(int sock, unsigned char out, unsigned char back)
{
	unsigned char buf[256] = {0};

	buf[0] = back;
	if (send(sock, buf, out, 0) != out)
		return -EIO;
	return recv(sock, buf, sizeof(buf), 0) == back ? 0 : -EIO;
}
