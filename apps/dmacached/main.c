/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacached entry point: command line, configuration, logging, daemonizing.
 *
 *   dmacached [--config FILE] [--foreground] [--backend NAME]
 *   dmacached --check-config FILE
 *   dmacached --version
 *
 * Invariants: the shipped dmacached registers only the iommufd and VFIO type1
 * backends; dmacached-test (DMACD_TEST_BUILD, never installed) also registers
 * the in-process "test" backend. A name not registered is refused by the
 * config check and by the backend selector alike, so `--backend test` fails
 * cleanly in the shipped binary. Exit status: 0 clean exit / valid config;
 * 2 usage (unknown flag, missing argument, stray operand, a --backend this
 * binary does not offer), before anything is read; 1 otherwise.
 * Detaching (no --foreground): the process forks before anything is opened;
 * the parent waits on a pipe and exits 0 only when the child's socket
 * listens (one byte), 1 when the pipe closes without it (the child failed
 * and exits 1; until ready its log lines also go to the caller's stderr).
 * So a failed start is a non-zero exit, never a detached daemon that died.
 * Concurrency: single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bk.h"
#include "config.h"
#include "log.h"
#include "numa.h"
#include "server.h"
#ifdef DMACD_TEST_BUILD
#include "test_backend.h"
#define DMD_PROG "dmacached-test"
#else
#define DMD_PROG "dmacached"
#endif

/* meson: get_option('sysconfdir') / 'dmacache/dmacached.conf' */
#ifndef DMD_DEFAULT_CONFIG
#error "DMD_DEFAULT_CONFIG comes from the build (apps/dmacached/meson.build)"
#endif

/*
 * Detach: fork, and in the parent wait for the child's verdict. The child
 * becomes a session leader in /, and gets the pipe's write end in
 * *ready_fd. @return 0 in the child, -errno before the fork; the parent
 * never returns (exit 0 when the child is ready, else the child's status).
 */
static int dmd__detach(int *ready_fd)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;
	char b;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int rc = -errno;

		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &b, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(0);
		/* the child failed before it was ready: its status, never 0 */
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status))
			_exit(WEXITSTATUS(status));
		_exit(1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/")) {
		int rc = -errno;

		close(p[1]);
		return rc;
	}
	*ready_fd = p[1];
	return 0;
}

/* opts->ready of a detached daemon: tell the parent, let go of the terminal. */
static void dmd__detached_ready(void *arg)
{
	int *fd = arg, nul;

	if (write(*fd, "1", 1) != 1)
		dmd_warn("cannot tell the starting process that the daemon is ready: %s",
			 strerror(errno));
	close(*fd);
	*fd = -1;
	dmd_log_mirror_stderr(0);
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		dup2(nul, 2);
		close(nul);
	}
}

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: " DMD_PROG " [--config FILE] [--foreground] [--backend NAME]\n"
	       "       " DMD_PROG " --check-config FILE\n"
	       "       " DMD_PROG " --version\n"
	       "  --config FILE        configuration (default " DMD_DEFAULT_CONFIG ")\n"
	       "  --check-config FILE  validate FILE, report every error as FILE:LINE, exit 0/1\n"
	       "  --foreground         do not detach; log to stderr unless the config says syslog\n"
	       "  --backend NAME       override the config's backend (auto, iommufd, vfio)\n"
	       "  --version            print the version\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", required_argument, NULL, 'C'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"backend", required_argument, NULL, 'b'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct dmd_server_opts opts = {0};
	const char *config = NULL, *check = NULL;
	struct dmd_config *cfg = NULL;
	char *config_abs = NULL;
	int foreground = 0, ready_fd = -1, opt, rc;

	while ((opt = getopt_long(argc, argv, "c:C:fb:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			check = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'b':
			opts.backend = optarg;
			break;
		case 'V':
			printf(DMD_PROG " %s\n", DMACACHE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, DMD_PROG ": unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	dmd_bk_register_builtin();
#ifdef DMACD_TEST_BUILD
	dmd_test_backend_register();
#endif
	if (opts.backend && strcmp(opts.backend, "auto") && !dmd_bk_known(opts.backend)) {
		fprintf(stderr, DMD_PROG ": --backend %s: not offered by this binary\n",
			opts.backend);
		return 2;
	}

	if (check) {
		const char *warning;

		rc = dmd_config_load(check, dmd_bk_known, stderr, &cfg);
		if (rc) {
			fprintf(stderr, "%s: invalid configuration\n", check);
			return 1;
		}
		warning = dmd_config_warning(cfg);
		if (warning)
			fprintf(stderr, "%s: warning: %s\n", check, warning);
		printf("%s: OK (%u tenant(s), socket %s, backend %s, admin gids", check,
		       cfg->ntenants, cfg->socket, cfg->backend);
		for (unsigned int i = 0; i < cfg->nadmin_gids; i++)
			printf("%s%u", i ? "," : " ", (unsigned int)cfg->admin_gids[i]);
		printf("%s)\n", cfg->nadmin_gids ? "" : " none: root only");
		dmd_config_free(cfg);
		return 0;
	}

	if (!config)
		config = DMD_DEFAULT_CONFIG;
	rc = dmd_config_load(config, dmd_bk_known, stderr, &cfg);
	if (rc) {
		fprintf(stderr, DMD_PROG ": cannot start: configuration %s is invalid\n", config);
		return 1;
	}
	/* detaching changes to /: keep an absolute path for SIGHUP reloads */
	config_abs = realpath(config, NULL);
	opts.config_path = config_abs ? config_abs : config;
	opts.foreground = foreground;
	dmd_log_setup(foreground ? cfg->log_target : DMD_LOG_SYSLOG, cfg->log_level);
	if (!foreground) {
		/* until ready, the caller sees why a start fails */
		dmd_log_mirror_stderr(1);
		rc = dmd__detach(&ready_fd);
		if (rc) {
			dmd_err("cannot detach: %s", strerror(-rc));
			dmd_config_free(cfg);
			free(config_abs);
			return 1;
		}
		opts.ready = dmd__detached_ready;
		opts.ready_arg = &ready_fd;
	}
	dmd_info(DMD_PROG " %s starting (pid %d): config %s, backend %s%s", DMACACHE_VERSION,
		 (int)getpid(), opts.config_path, opts.backend ? opts.backend : cfg->backend,
		 opts.backend ? " (--backend)" : "");
	if (dmd_config_warning(cfg))
		dmd_warn("config %s: %s", opts.config_path, dmd_config_warning(cfg));
	dmd_numa_init();
	rc = dmd_server_run(cfg, &opts);
	dmd_numa_fini();
	free(config_abs); /* realpath()'s buffer: libc malloc */
	if (ready_fd >= 0)
		close(ready_fd); /* never ready: the waiting parent exits 1 */
	return rc ? 1 : 0;
}
