/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The harness the DPDK test programs (test_dpdk_mempool, test_dpdk_nvme)
 * share: check macros and their failure counter, a dmacached started in a
 * fresh mkdtemp() directory, the private copy of the plugin EAL loads with
 * -d, the hugepage check, EAL start-up and the driver's client.
 *
 * Invariants:
 * - Each program defines dh_cfg; it is read-only and holds what the programs
 *   differ in (name, daemon name, default backend, directory prefixes, whether
 *   the daemon's stderr goes to a log file, whether the plugin is always
 *   copied).
 * - At most one daemon per process (dh_dmn); it never outlives the test
 *   (PR_SET_PDEATHSIG, and dh_daemon_kill() at exit); every wait is bounded
 *   (5 s).
 * - The plugin copy, when made, lives in a private directory under /run or
 *   $HOME and is removed at exit by the process that made it.
 * - Fatal set-up errors print a message and exit(1); checks only count.
 * - Root only starts and stops the daemon, reserves hugepages and makes the
 *   plugin copy; the DPDK application (EAL, the driver, the checks) is the
 *   tenant and runs as the non-root uid DH_TENANT_UID (dh_run_tenant()).
 * Concurrency: single-threaded.
 */
#ifndef DMAC_TESTS_DPDK_HARNESS_H
#define DMAC_TESTS_DPDK_HARNESS_H

#include <stdio.h>
#include <sys/types.h>

struct dmac_client;
struct dmac_client_stats;

/**
 * The uid of the DPDK application, a tenant (T_UID_A of
 * tests/daemon/harness.h); the configurations list it in `uids`.
 */
#define DH_TENANT_UID 4001

/** What the programs differ in; each program defines dh_cfg. */
struct dh_config {
	const char *prog;	     /**< message prefix of dh_die(), EAL's argv[0] */
	const char *daemon_name;     /**< the daemon, as messages name it */
	const char *default_backend; /**< when $DMAC_DPDK_TEST_BACKEND is unset */
	const char *dir_template;    /**< mkdtemp() template of the daemon's directory */
	const char *copy_name;	     /**< name of the plugin copy's directory, XXXXXX-suffixed */
	const char *eal_prefix;	     /**< EAL --file-prefix, the pid appended */
	int daemon_log;		     /**< daemon stderr to <dir>/dmacached.log, shown on stop */
	int always_copy;       /**< copy the plugin even when no directory is world-writable */
	int reserve_hugepages; /**< raise nr_hugepages when too few are free */
};

extern const struct dh_config dh_cfg;

/** Count of failed checks; the program's exit status derives from it. */
extern int dh_failures;

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			dh_failures++;                                                             \
		}                                                                                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b) {                                                                    \
			fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld)\n",          \
				__FILE__, __LINE__, #a, #b, _a, _b);                               \
			dh_failures++;                                                             \
		}                                                                                  \
	} while (0)

/** The daemon: pid 0 when none runs; dir, sock and log are absolute paths. */
struct dh_daemon {
	pid_t pid;
	char dir[64];
	char sock[128];
	char log[128];
};

extern struct dh_daemon dh_dmn;

/** Print "<prog>: what: strerror(errno)" and exit(1). Never returns. */
void dh_die(const char *what) __attribute__((noreturn));

/** Sleep ms milliseconds (not resumed after a signal). */
void dh_msleep(int ms);

/** SIGKILL and reap the daemon, if any. Also registered with atexit(). */
void dh_daemon_kill(void);

/**
 * Start $DMACACHED_TEST with a [daemon] section (socket, backend, log_level
 * info) followed by body, and wait until its socket accepts. Exits the
 * process on any failure (unset $DMACACHED_TEST, daemon exit, 5 s timeout).
 */
void dh_daemon_start(const char *body);

/**
 * SIGTERM the daemon and wait 5 s for it; a timeout or a non-zero exit
 * counts as a failure. Shows its log (dh_cfg.daemon_log) and removes its
 * directory. No-op when none runs.
 */
void dh_daemon_stop(void);

/** Exit(1) unless want 2 MiB hugepages are free (reserving them if dh_cfg says so). */
void dh_need_hugepages(long want);

/**
 * The path EAL loads the plugin from: $DMAC_DPDK_PLUGIN, or a private copy of
 * it (made once) when it lies below a world-writable directory, which EAL
 * refuses for -d, or always with dh_cfg.always_copy. Exits on failure.
 */
const char *dh_plugin_path(void);

/** dh_eal_start() keeps EAL's telemetry socket when set (default 0: --no-telemetry). */
extern int dh_eal_telemetry;

/**
 * rte_eal_init() with the plugin (-d), core 0, no PCI, no telemetry (unless
 * dh_eal_telemetry), IOVA as VA, a per-pid file prefix and the
 * NULL-terminated mem_opts. On failure calls on_fail (if not NULL) and exits.
 */
void dh_eal_start(const char *const *mem_opts, void (*on_fail)(void));

/** dmac_dpdk_mempool_client() of the loaded plugin; exits if it is not loaded. */
struct dmac_client *dh_plugin_client(void);

/**
 * Run @p app as the DPDK application: in a t_as_spawn() child
 * (tests/daemon/harness.c) that has dropped root for good and is uid
 * DH_TENANT_UID (gid the same, no groups, no capabilities). EAL runs there
 * as a non-root process: --in-memory backs its memory with hugetlb memfds,
 * which need no privilege, only free hugepages (dh_need_hugepages(), root,
 * before); its runtime directory is $XDG_RUNTIME_DIR/dpdk, a fresh 0700
 * directory of the tenant's, as /tmp/dpdk would belong to whichever uid made
 * it first. Before the child starts, root makes the plugin copy
 * (dh_plugin_path()) readable by it. Waits for the child (200 s at most),
 * adds its failed checks (its exit status) to dh_failures, removes the
 * runtime directory. @p app runs with dh_dmn.pid 0 (the daemon is root's).
 */
void dh_run_tenant(void (*app)(void));

/**
 * Start an unmodified DPDK program (argv[0] an absolute path, e.g. Debian's
 * dpdk-test or dpdk-testpmd) as the tenant: uid DH_TENANT_UID, its stdout and
 * stderr to @p out_path, its stdin the read end of a pipe whose write end is
 * returned in *in (the caller writes commands, closes it for EOF). Its
 * environment is the test's plus XDG_RUNTIME_DIR (a fresh 0700 directory of
 * the tenant's, as dh_run_tenant()), LD_LIBRARY_PATH led by
 * $DMAC_CLIENT_LIBDIR when set (libdmacache for a copy of the plugin, whose
 * $ORIGIN run path no longer leads to it), and in an ASan build LD_PRELOAD
 * of $DMAC_DPDK_PRELOAD (the ASan runtime, which must come first) with
 * detect_leaks=0 added to ASAN_OPTIONS (the program's leaks are not ours).
 * Root makes the plugin copy first.
 *
 * sys_admin 0: a t_as_spawn() child, no capability (checked). sys_admin 1:
 * util-linux setpriv(1) with CAP_SYS_ADMIN alone (ambient, inheritable,
 * bounding set), --pdeathsig KILL: DPDK's IOVA-as-PA mode reads physical
 * addresses from /proc/self/pagemap, which the kernel shows only to
 * CAP_SYS_ADMIN; the daemon still sees uid DH_TENANT_UID. One such child at a
 * time. Exits on set-up failure. @return its pid.
 */
pid_t dh_spawn_tenant(char *const argv[], int sys_admin, const char *out_path, int *in);

/**
 * The daemon's figures (STATS of an admin session: root may always open one),
 * once its leases and registrations are back to 0 when @p idle (polled 5 s at
 * most: a client that exited is reclaimed at its hang-up). @return 0 or -errno
 * (logged).
 */
int dh_admin_stats(struct dmac_client_stats *st, int idle);

/** The contents of a small file (up to 1 MiB), NUL-terminated; a static buffer. */
const char *dh_slurp(const char *path);

/**
 * Wait up to timeout_s for the child of dh_spawn_tenant() (SIGKILL at the
 * bound) and remove its runtime directory. @return its exit status, or -1
 * when a signal ended it (the bound included).
 */
int dh_wait_tenant(pid_t pid, int timeout_s);

#endif
