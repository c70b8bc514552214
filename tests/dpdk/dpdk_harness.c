/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DPDK test programs' shared harness (see dpdk_harness.h for the
 * contract). Invariants: dh_dmn.pid is 0 or a child not yet reaped (0 in
 * the tenant child); the plugin copy's paths are empty until made, and only
 * plugin_copy_owner removes them. Concurrency: single-threaded.
 */
#include "harness.h"	 /* t_as_spawn(); its CHECK macros give way to ours */
#include "tenant_proc.h" /* tp_leak_check() */
#undef CHECK
#undef CHECK_EQ

#include "dpdk_harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include <rte_eal.h>
#include <rte_errno.h>

#include "dmac/dmacache.h"

int dh_failures;
struct dh_daemon dh_dmn;
int dh_eal_telemetry;

void dh_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", dh_cfg.prog, what, strerror(errno));
	exit(1);
}

void dh_msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- the daemon ---------------------------------------------------------- */

/* exit() on a fatal path: do not leave the daemon behind. */
void dh_daemon_kill(void)
{
	if (dh_dmn.pid > 0) {
		kill(dh_dmn.pid, SIGKILL);
		waitpid(dh_dmn.pid, NULL, 0);
		dh_dmn.pid = 0;
	}
}

void dh_daemon_start(const char *body)
{
	const char *bin = getenv("DMACACHED_TEST");
	const char *backend = getenv("DMAC_DPDK_TEST_BACKEND");
	char conf[128];
	FILE *f;
	int i;

	if (!bin) {
		fprintf(stderr, "DMACACHED_TEST is not set\n");
		exit(1);
	}
	snprintf(dh_dmn.dir, sizeof(dh_dmn.dir), "%s", dh_cfg.dir_template);
	/* 0755, root's (mkdtemp makes it 0700): the daemon trusts it as the
	 * socket's directory and the tenant can reach the socket */
	if (!mkdtemp(dh_dmn.dir) || chmod(dh_dmn.dir, 0755))
		dh_die("mkdtemp");
	snprintf(dh_dmn.sock, sizeof(dh_dmn.sock), "%s/dmacached.sock", dh_dmn.dir);
	snprintf(dh_dmn.log, sizeof(dh_dmn.log), "%s/dmacached.log", dh_dmn.dir);
	snprintf(conf, sizeof(conf), "%s/dmacached.conf", dh_dmn.dir);
	f = fopen(conf, "w");
	if (!f)
		dh_die("write config");
	fprintf(f, "[daemon]\nsocket = %s\nbackend = %s\nlog_level = info\n%s", dh_dmn.sock,
		backend ? backend : dh_cfg.default_backend, body);
	fclose(f);
	atexit(dh_daemon_kill);
	dh_dmn.pid = fork();
	if (dh_dmn.pid < 0)
		dh_die("fork");
	if (dh_dmn.pid == 0) {
		/* never outlive the test, whatever way it ends */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dh_cfg.daemon_log) {
			int fd = open(dh_dmn.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (fd >= 0)
				dup2(fd, 2);
		}
		execl(bin, bin, "--foreground", "--config", conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 500; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		strcpy(sa.sun_path, dh_dmn.sock);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(s);
			return;
		}
		close(s);
		if (waitpid(dh_dmn.pid, NULL, WNOHANG) == dh_dmn.pid) {
			dh_dmn.pid = 0;
			if (dh_cfg.daemon_log) {
				char cmd[384];

				fprintf(stderr, "%s exited at start; its log:\n",
					dh_cfg.daemon_name);
				snprintf(cmd, sizeof(cmd), "cat '%s' >&2", dh_dmn.log);
				if (system(cmd) != 0)
					fprintf(stderr, "(no log)\n");
			} else {
				fprintf(stderr, "%s exited at start\n", dh_cfg.daemon_name);
			}
			exit(1);
		}
		dh_msleep(10);
	}
	fprintf(stderr, "%s did not listen within 5 s\n", dh_cfg.daemon_name);
	exit(1); /* dh_daemon_kill() at exit */
}

void dh_daemon_stop(void)
{
	char cmd[384];
	int status = 0, i;

	if (!dh_dmn.pid)
		return;
	kill(dh_dmn.pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (waitpid(dh_dmn.pid, &status, WNOHANG) == dh_dmn.pid)
			break;
		dh_msleep(10);
	}
	if (i == 500) {
		fprintf(stderr, "%s did not exit within 5 s of SIGTERM\n", dh_cfg.daemon_name);
		kill(dh_dmn.pid, SIGKILL);
		waitpid(dh_dmn.pid, &status, 0);
		dh_failures++;
	} else {
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	dh_dmn.pid = 0;
	if (dh_cfg.daemon_log)
		snprintf(cmd, sizeof(cmd),
			 "echo '---- dmacached log ----' >&2; cat '%s' >&2; rm -rf '%s'",
			 dh_dmn.log, dh_dmn.dir);
	else
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dh_dmn.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dh_dmn.dir);
}

/* ---- hugepages ------------------------------------------------------------- */

static long hugepages_free(void)
{
	char line[128];
	long free_pages = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		dh_die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &free_pages) == 1)
			break;
	fclose(f);
	return free_pages;
}

void dh_need_hugepages(long want)
{
	long free_pages = hugepages_free();
	FILE *f;

	if (free_pages >= want)
		return;
	if (!dh_cfg.reserve_hugepages) {
		fprintf(stderr, "need %ld free 2 MiB hugepages, have %ld\n", want, free_pages);
		exit(1);
	}
	f = fopen("/proc/sys/vm/nr_hugepages", "r+");
	if (f) {
		long total = 0;

		if (fscanf(f, "%ld", &total) == 1) {
			rewind(f);
			fprintf(f, "%ld\n", total + want - (free_pages < 0 ? 0 : free_pages));
		}
		fclose(f);
	}
	free_pages = hugepages_free();
	if (free_pages < want) {
		fprintf(stderr,
			"need %ld free 2 MiB hugepages, have %ld (reserve them through "
			"/proc/sys/vm/nr_hugepages)\n",
			want, free_pages);
		exit(1);
	}
}

/* ---- the plugin -------------------------------------------------------------- */

/*
 * EAL refuses a -d path below any world-writable directory ("directory path
 * /tmp is world-writable and insecure"), which a checkout in /tmp is; the
 * test then loads a copy from a private directory under /run (root) or $HOME,
 * removed at exit.
 */
static char plugin_copy_dir[PATH_MAX];
static char plugin_copy[PATH_MAX];
static pid_t plugin_copy_owner;

static int under_world_writable(const char *path)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	while ((slash = strrchr(dir, '/')) != NULL) {
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH))
			return 1;
		if (slash == dir)
			break;
	}
	return 0;
}

static void plugin_copy_remove(void)
{
	if (getpid() != plugin_copy_owner) /* a forked child's exit() */
		return;
	if (plugin_copy[0])
		unlink(plugin_copy);
	if (plugin_copy_dir[0])
		rmdir(plugin_copy_dir);
}

const char *dh_plugin_path(void)
{
	const char *plugin = getenv("DMAC_DPDK_PLUGIN");
	const char *bases[] = {"/run", getenv("HOME")};
	char cmd[3 * PATH_MAX];
	unsigned int i;

	if (!plugin) {
		fprintf(stderr, "DMAC_DPDK_PLUGIN is not set\n");
		exit(1);
	}
	if (plugin_copy[0])
		return plugin_copy;
	if (!dh_cfg.always_copy && !under_world_writable(plugin))
		return plugin;
	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		struct stat st;

		if (!bases[i] || stat(bases[i], &st) || (st.st_mode & S_IWOTH) ||
		    under_world_writable(bases[i]) || access(bases[i], W_OK))
			continue;
		snprintf(plugin_copy_dir, sizeof(plugin_copy_dir), "%s/%s", bases[i],
			 dh_cfg.copy_name);
		/* root's, 0755: the tenant (dh_run_tenant()) loads the copy */
		if (mkdtemp(plugin_copy_dir) && chmod(plugin_copy_dir, 0755) == 0)
			break;
		plugin_copy_dir[0] = '\0';
	}
	if (!plugin_copy_dir[0]) {
		fprintf(stderr,
			"%s is below a world-writable directory, which EAL refuses for -d, "
			"and no private directory could be made under /run or $HOME\n",
			plugin);
		exit(1);
	}
	snprintf(plugin_copy, sizeof(plugin_copy), "%s/%s", plugin_copy_dir,
		 strrchr(plugin, '/') ? strrchr(plugin, '/') + 1 : plugin);
	plugin_copy_owner = getpid();
	atexit(plugin_copy_remove);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 0755 '%s'", plugin, plugin_copy,
		 plugin_copy);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot copy %s to %s\n", plugin, plugin_copy);
		exit(1);
	}
	return plugin_copy;
}

/* ---- EAL ------------------------------------------------------------------- */

void dh_eal_start(const char *const *mem_opts, void (*on_fail)(void))
{
	const char *plugin = dh_plugin_path();
	char prefix[64];
	char *argv[32];
	int argc = 0;

	snprintf(prefix, sizeof(prefix), "--file-prefix=%s%d", dh_cfg.eal_prefix, (int)getpid());
	argv[argc++] = (char *)dh_cfg.prog;
	argv[argc++] = "-d";
	argv[argc++] = (char *)plugin;
	argv[argc++] = "-l";
	argv[argc++] = "0";
	argv[argc++] = "--no-pci";
	if (!dh_eal_telemetry)
		argv[argc++] = "--no-telemetry";
	argv[argc++] = "--iova-mode=va";
	argv[argc++] = prefix;
	if (getenv("DMAC_TEST_EAL_DEBUG"))
		argv[argc++] = "--log-level=lib.eal:debug";
	while (*mem_opts && argc < (int)(sizeof(argv) / sizeof(argv[0])) - 1)
		argv[argc++] = (char *)*mem_opts++;
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		if (on_fail)
			on_fail();
		exit(1);
	}
}

/* The driver's functions, from the object EAL loaded. */
struct dmac_client *dh_plugin_client(void)
{
	struct dmac_client *(*fn)(void);
	void *h = dlopen(dh_plugin_path(), RTLD_NOW | RTLD_NOLOAD);

	if (!h) {
		fprintf(stderr, "the plugin is not loaded: %s\n", dlerror());
		exit(1);
	}
	*(void **)&fn = dlsym(h, "dmac_dpdk_mempool_client");
	dlclose(h);
	if (!fn) {
		fprintf(stderr, "dmac_dpdk_mempool_client: %s\n", dlerror());
		exit(1);
	}
	return fn();
}

/* ---- the application, a tenant ---------------------------------------------- */

struct dh_app {
	void (*app)(void);
};

/* In the t_as_spawn() child: the application; its failed checks are its exit status. */
static void dh_tenant_main(void *arg)
{
	const struct dh_app *a = arg;

	dh_dmn.pid = 0; /* the daemon is root's: never stopped or killed from here */
	dh_failures = 0;
	a->app();
	fflush(NULL);
	t_failures = dh_failures;
	tp_leak_check(); /* the child _exit()s: LeakSanitizer's check at exit is skipped */
}

void dh_run_tenant(void (*app)(void))
{
	struct dh_app a = {app};
	char xdg[] = "/tmp/dmac-dpdk-xdg-XXXXXX", cmd[64];
	int status = 0, i;
	pid_t p;

	dh_plugin_path(); /* the copy, if one is needed, is made now by root */
	if (!mkdtemp(xdg) || chown(xdg, DH_TENANT_UID, DH_TENANT_UID))
		dh_die("the tenant's runtime directory");
	setenv("XDG_RUNTIME_DIR", xdg, 1);
	p = t_as_spawn(DH_TENANT_UID, DH_TENANT_UID, NULL, 0, dh_tenant_main, &a);
	for (i = 0; i < 20000 && waitpid(p, &status, WNOHANG) == 0; i++)
		dh_msleep(10);
	if (i == 20000) {
		fprintf(stderr, "the DPDK application did not exit within 200 s: killed\n");
		kill(p, SIGKILL);
		waitpid(p, &status, 0);
		dh_failures++;
	} else if (WIFEXITED(status)) {
		dh_failures += WEXITSTATUS(status);
	} else {
		fprintf(stderr, "the DPDK application (uid %d) was killed by signal %d\n",
			DH_TENANT_UID, WTERMSIG(status));
		dh_failures++;
	}
	unsetenv("XDG_RUNTIME_DIR");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", xdg);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", xdg);
}

/* ---- an unmodified DPDK program as the tenant -------------------------------- */

static char spawn_xdg[64];

struct dh_exec {
	char *const *argv;
	int in, out;
};

/*
 * In the child: the environment (see dh_spawn_tenant()), stdin, stdout and
 * stderr, then the program.
 */
static void dh_exec_child(void *arg)
{
	const struct dh_exec *x = arg;
	const char *libdir = getenv("DMAC_CLIENT_LIBDIR"), *ld = getenv("LD_LIBRARY_PATH");
	const char *preload = getenv("DMAC_DPDK_PRELOAD"), *asan = getenv("ASAN_OPTIONS");
	char buf[PATH_MAX];

	setenv("XDG_RUNTIME_DIR", spawn_xdg, 1);
	if (libdir && libdir[0]) {
		snprintf(buf, sizeof(buf), "%s%s%s", libdir, ld ? ":" : "", ld ? ld : "");
		setenv("LD_LIBRARY_PATH", buf, 1);
	}
	if (preload && preload[0]) {
		/* an ASan build's plugin in a program built without ASan: the
		 * runtime must come first; that program's leaks are not ours */
		setenv("LD_PRELOAD", preload, 1);
		snprintf(buf, sizeof(buf), "%s%sdetect_leaks=0", asan ? asan : "", asan ? ":" : "");
		setenv("ASAN_OPTIONS", buf, 1);
	}
	if (dup2(x->in, 0) < 0 || dup2(x->out, 1) < 0 || dup2(x->out, 2) < 0)
		_exit(126);
	execv(x->argv[0], x->argv);
	fprintf(stderr, "exec %s: %s\n", x->argv[0], strerror(errno));
	_exit(127);
}

pid_t dh_spawn_tenant(char *const argv[], int sys_admin, const char *out_path, int *in)
{
	struct dh_exec x = {argv, -1, -1};
	char uid[16];
	int p[2];
	pid_t pid;

	dh_plugin_path(); /* the copy, if one is needed, is made now by root */
	snprintf(spawn_xdg, sizeof(spawn_xdg), "/tmp/dmac-dpdk-xdg-XXXXXX");
	if (!mkdtemp(spawn_xdg) || chown(spawn_xdg, DH_TENANT_UID, DH_TENANT_UID))
		dh_die("the tenant's runtime directory");
	if (pipe2(p, O_CLOEXEC))
		dh_die("pipe");
	x.in = p[0];
	x.out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (x.out < 0)
		dh_die(out_path);
	if (!sys_admin) {
		pid = t_as_spawn(DH_TENANT_UID, DH_TENANT_UID, NULL, 0, dh_exec_child, &x);
	} else {
		snprintf(uid, sizeof(uid), "%d", DH_TENANT_UID);
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			dh_die("fork");
		if (pid == 0) {
			char *sp[64] = {"/usr/bin/setpriv",
					"--reuid",
					uid,
					"--regid",
					uid,
					"--clear-groups",
					"--inh-caps=-all,+sys_admin",
					"--ambient-caps=+sys_admin",
					"--bounding-set=-all,+sys_admin",
					"--pdeathsig=KILL",
					"--"};
			int n = 11;

			for (int i = 0; argv[i] && n < 63; i++)
				sp[n++] = argv[i];
			sp[n] = NULL;
			x.argv = sp;
			dh_exec_child(&x);
		}
	}
	close(x.in);
	close(x.out);
	*in = p[1];
	return pid;
}

int dh_wait_tenant(pid_t pid, int timeout_s)
{
	char cmd[96];
	int status = 0, i, rc;

	for (i = 0; i < timeout_s * 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
		dh_msleep(10);
	if (i == timeout_s * 100) {
		fprintf(stderr, "%s: the DPDK program did not exit within %d s: killed\n",
			dh_cfg.prog, timeout_s);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spawn_xdg);
	if (spawn_xdg[0] && system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", spawn_xdg);
	spawn_xdg[0] = '\0';
	return rc;
}

/* ---- the daemon's figures, the programs' output -------------------------------- */

int dh_admin_stats(struct dmac_client_stats *st, int idle)
{
	struct dmac_client *c;
	int rc, i;

	for (i = 0; i < 500; i++) {
		rc = dmac_client_connect(dh_dmn.sock, DMAC_CLIENT_ADMIN_TENANT, 0, &c);
		if (rc) {
			fprintf(stderr, "admin session at %s: %s\n", dh_dmn.sock, strerror(-rc));
			return rc;
		}
		rc = dmac_client_stats(c, st);
		dmac_client_close(c);
		if (rc) {
			fprintf(stderr, "admin STATS: %s\n", strerror(-rc));
			return rc;
		}
		if (!idle || (st->leases == 0 && st->registrations == 0))
			break;
		dh_msleep(10);
	}
	return 0;
}

const char *dh_slurp(const char *path)
{
	static char buf[1 << 20];
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return buf;
}
