/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vm test: dmacached-test on the guest's real /dev/iommu (iommufd backend),
 * with an IOMMUFD_TEST mock domain on the master IOAS and on every tenant IOAS
 * (DMAC_TEST_MOCK_DOMAINS=1; the guest boots with `vmrun --no-iommu`, as mock
 * domains get no device under VT-d). Clients are libdmacache processes. One
 * boot, one daemon, the scenarios in order:
 *
 *  1. tenant ta's client registers a hugetlb memfd (2 MiB pages) and a 4 KiB
 *     shmem memfd and leases both: MD_CHECK_MAP (in the daemon, see
 *     apps/dmacached/test_hooks.c) proves each leased IOVA of ta's IOAS maps
 *     the client's pages, and the same check against the wrong offset fails;
 *     MD_CHECK_REFS proves every 4 KiB page is pinned exactly once.
 *  2. tenant tb's client registers and leases the same memory: same IOVAs
 *     (cache hit), MD_CHECK_MAP proves tb's IOAS maps the same pages, and
 *     MD_CHECK_REFS proves no new pin (IOMMU_IOAS_COPY shares the pin).
 *  3. both clients die without closing: the dump shows no lease, session,
 *     registration or tenant copy; the tenants' IOASes no longer map the
 *     IOVAs (MD_CHECK_MAP fails); the master area stays cached and pinned.
 *  4. pinned_budget = 0 and SIGHUP: every area is evicted and the pins are
 *     back to the baseline (0) measured before the daemon saw the memory.
 *  5. budget back to unlimited (SIGHUP): a new client pins the memory again
 *     (MD_CHECK_MAP, one pin); it dies, the areas stay cached and pinned;
 *     SIGTERM: the daemon exits 0 and the pins are back to 0.
 *
 * Who checks what, and why:
 * - MD_CHECK_MAP needs the mock domain's id, an object of the daemon's
 *   iommufd context, so it runs in the daemon (control line md_check_map).
 * - MD_CHECK_REFS takes no object: it reads the pin count (page refcount /
 *   GUP_PIN_COUNTING_BIAS) of the pages behind a VA of the caller. Pin counts
 *   are per page, so this process checks them on its own MAP_SHARED view of
 *   the memfd through its own /dev/iommu fd, before, during and after the
 *   clients' lifetime. The kernel skips compound pages in that check (it
 *   would pass vacuously on hugetlb memory), so pins are counted on the 4 KiB
 *   shmem memfd; the hugetlb memfd is checked through MD_CHECK_MAP only.
 *
 * Who runs what: this process is root to run the daemon (start, SIGHUP,
 * SIGTERM, the control lines and the dump) and to count pins through its own
 * /dev/iommu fd. The clients are tenants and run as the uids the
 * configuration lists for them: ta as T_UID_A (4001), tb as T_UID_B (4002),
 * each a t_as_spawn() child (tests/daemon/harness.c) that has dropped root
 * for good and closed this process's /dev/iommu fd; they inherit only the two
 * memfds and their mappings, as a dataplane would get its memory.
 *
 * Invariants: this process creates both memfds and keeps them open (the
 * daemon's md_check_map reopens them as /proc/<this pid>/fd/N); every wait is
 * bounded; the daemon is killed if this process dies (PR_SET_PDEATHSIG).
 * Usage: vm-daemon-test PATH_TO_dmacached-test (as root, in the guest).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dmac/dmacache.h"
#include "harness.h" /* t_as_spawn(), T_UID_*: its CHECK macros are not used here */
#include "iommufd_test_abi.h"

#undef CHECK
#undef CHECK_EQ

#define MB	 (1ull << 20)
#define HUGE_LEN (8 * MB) /* hugetlb memfd: 4 huge pages */
#define SHM_LEN	 (4 * MB) /* shmem memfd: 1024 small pages */
#define DIR	 "/tmp/dmacd-vm"

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

static void die(const char *what)
{
	fprintf(stderr, "vm-daemon: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- the daemon ----------------------------------------------------------- */

static pid_t dpid;

static void write_conf(const char *budget)
{
	FILE *f = fopen(DIR "/d.conf", "w");

	if (!f)
		die("write config");
	fprintf(f,
		"[daemon]\nsocket = " DIR "/s.sock\nbackend = iommufd\npinned_budget = %s\n"
		"log_level = info\nlog_target = stderr\n\n"
		"[tenant ta]\nuids = %u\n\n[tenant tb]\nuids = %u\n",
		budget, T_UID_A, T_UID_B);
	fclose(f);
}

static void start_daemon(const char *bin)
{
	int i;

	/* 0755, root's: the daemon trusts it and the tenants reach the socket */
	if (system("rm -rf " DIR) || mkdir(DIR, 0700) || chmod(DIR, 0755))
		die("mkdir " DIR);
	write_conf("unlimited");
	dpid = fork();
	if (dpid < 0)
		die("fork");
	if (dpid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() == 1)
			_exit(127);
		setenv("DMAC_TEST_MOCK_DOMAINS", "1", 1);
		setenv("DMAC_TEST_CTL", DIR "/ctl", 1);
		setenv("DMAC_TEST_DUMP", DIR "/dump", 1);
		execl(bin, bin, "--foreground", "--config", DIR "/d.conf", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 600; i++) {
		if (access(DIR "/s.sock", F_OK) == 0)
			return;
		if (waitpid(dpid, NULL, WNOHANG) == dpid) {
			fprintf(stderr, "vm-daemon: the daemon exited at start\n");
			exit(1);
		}
		msleep(50);
	}
	fprintf(stderr, "vm-daemon: no socket within 30 s\n");
	exit(1);
}

/* Apply a control line (NULL: none) and wait for a fresh dump (bounded). */
static void sync_dump(const char *ctl)
{
	if (ctl) {
		FILE *f = fopen(DIR "/ctl.tmp", "w");

		if (!f)
			die("write ctl");
		fprintf(f, "%s\n", ctl);
		fclose(f);
		rename(DIR "/ctl.tmp", DIR "/ctl");
	}
	unlink(DIR "/dump");
	kill(dpid, SIGUSR1);
	for (int i = 0; i < 600; i++) {
		if (access(DIR "/dump", F_OK) == 0)
			return;
		msleep(50);
	}
	fprintf(stderr, "vm-daemon: no dump within 30 s\n");
	exit(1);
}

/* "key value" of the last dump; -1 if absent. */
static long long dump_get(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long long v = -1;
	FILE *f = fopen(DIR "/dump", "r");

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

/* The IOAS id of a tenant ("tenant NAME SPACE SESSIONS" line); -1 if absent. */
static long long tenant_space(const char *name)
{
	char line[256], n[64];
	unsigned int space;
	unsigned long long s;
	long long v = -1;
	FILE *f = fopen(DIR "/dump", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "tenant %63s %u %llu", n, &space, &s) == 3 && !strcmp(n, name))
			v = space;
	fclose(f);
	return v;
}

/*
 * md_check_map in the daemon: does [iova, iova + len) of space's mock domain
 * map the pages of this process's fd at offset? Returns the daemon's result
 * (0 or -errno), or 1 if the line did not run.
 */
static int md_check_map(long long space, uint64_t iova, uint64_t len, int fd, uint64_t offset)
{
	char ctl[160];
	long long before;

	sync_dump(NULL);
	before = dump_get("md_checks");
	snprintf(ctl, sizeof(ctl), "md_check_map %lld 0x%" PRIx64 " 0x%" PRIx64 " %d %d 0x%" PRIx64,
		 space, iova, len, (int)getpid(), fd, offset);
	sync_dump(ctl);
	if (dump_get("md_checks") != before + 1)
		return 1;
	return (int)dump_get("md_last_rc");
}

/* ---- pins, seen from this process ----------------------------------------- */

static int iommufd = -1;

/* 0 iff every (4 KiB, non-compound) page of [va, va + len) has @refs pins. */
static int check_refs(const void *va, uint64_t len, uint32_t refs)
{
	struct dmac_test_cmd c = {
	    .size = sizeof(c),
	    .op = DMAC_TEST_OP_MD_CHECK_REFS,
	    .check_refs = {.length = len, .uptr = (uintptr_t)va, .refs = refs},
	};

	return ioctl(iommufd, DMAC_TEST_IOMMU_TEST_CMD, &c) ? -errno : 0;
}

/* ---- clients ---------------------------------------------------------------- */

struct grant {
	int rc;		   /* 0, or the -errno of the first failing call */
	const char *where; /* that call */
	uint64_t iova[3];  /* huge [0, 4M), huge [4M, 8M), shm [0, 4M) */
	uint64_t hits;	   /* STATS cache_hits of the session after registering */
};

struct client {
	pid_t pid;
	int res, go; /* result pipe (read end), exit pipe (write end) */
};

static int hfd = -1, sfd = -1;
static void *hva, *sva;

/* Child: connect as tenant, register both memfds, lease three ranges, report,
 * then wait for the parent and die WITHOUT closing the session. */
static void client_main(const char *tenant, int res, int go)
{
	struct dmac_client_lease l;
	struct dmac_client_stats st;
	struct grant g = {0};
	struct dmac_client *c;
	uint64_t hreg, sreg;
	char b;

#define STEP(call)                                                                                 \
	do {                                                                                       \
		g.rc = (call);                                                                     \
		if (g.rc) {                                                                        \
			g.where = #call;                                                           \
			goto report;                                                               \
		}                                                                                  \
	} while (0)

	STEP(dmac_client_connect(DIR "/s.sock", tenant, 0, &c));
	STEP(dmac_client_register(c, hfd, 0, HUGE_LEN,
				  DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, hva, &hreg));
	STEP(dmac_client_register(c, sfd, 0, SHM_LEN,
				  DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE, sva, &sreg));
	STEP(dmac_client_lease(c, hreg, 0, 4 * MB, DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE,
			       &l));
	g.iova[0] = l.iova;
	STEP(dmac_client_lease(c, hreg, 4 * MB, 4 * MB, DMAC_CLIENT_PROT_READ, &l));
	g.iova[1] = l.iova;
	STEP(dmac_client_lease(c, sreg, 0, SHM_LEN, DMAC_CLIENT_PROT_WRITE, &l));
	g.iova[2] = l.iova;
	STEP(dmac_client_stats(c, &st));
	g.hits = st.cache_hits;
report:
	if (write(res, &g, sizeof(g)) != sizeof(g))
		_exit(2);
	/* hold the leases until the parent closes the pipe, then die */
	while (read(go, &b, 1) > 0)
		;
	_exit(0);
#undef STEP
}

struct client_args {
	const char *tenant;
	int res[2], go[2];
};

/* In the tenant's process (root dropped): keep only what a client has. */
static void client_child(void *arg)
{
	const struct client_args *a = arg;

	close(a->res[0]);
	close(a->go[1]);
	close(iommufd); /* the test's own /dev/iommu: never a tenant's */
	client_main(a->tenant, a->res[1], a->go[0]);
}

/* A client of @p tenant, running as @p uid. */
static struct client client_start(const char *tenant, uid_t uid, struct grant *g)
{
	struct client_args a = {.tenant = tenant};
	struct client cl;
	int *res = a.res, *go = a.go;

	if (pipe2(res, O_CLOEXEC) || pipe2(go, O_CLOEXEC))
		die("pipe");
	cl.pid = t_as_spawn(uid, (gid_t)uid, NULL, 0, client_child, &a);
	close(res[1]);
	close(go[0]);
	cl.res = res[0];
	cl.go = go[1];
	memset(g, 0, sizeof(*g));
	if (read(cl.res, g, sizeof(*g)) != sizeof(*g)) {
		g->rc = -EPIPE;
		g->where = "the client died";
	}
	return cl;
}

/*
 * Let the client die (it does not close its session). Close the exit pipes of
 * every client before reaping any: a client forked later inherited the exit
 * pipes of the earlier ones and keeps them open until it dies itself.
 */
static void client_let_go(struct client *cl)
{
	close(cl->go);
	close(cl->res);
}

static void client_reap(struct client *cl)
{
	int status;

	waitpid(cl->pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status 0x%x", status);
}

/* Poll the dump until key == want (bounded, 30 s). */
static long long wait_dump(const char *key, long long want)
{
	long long v = -1;

	for (int i = 0; i < 300; i++) {
		sync_dump(NULL);
		v = dump_get(key);
		if (v == want)
			break;
		msleep(100);
	}
	return v;
}

/* ---- the scenarios ---------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct client ca, cb, cc;
	struct grant ga, gb, gc;
	long long sa, sb, v;
	int status = 0, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH_TO_dmacached-test\n", argv[0]);
		return 1;
	}
	/*
	 * Without an IOMMU no device is bound to vfio-pci, so /dev/vfio/devices
	 * does not exist here: the daemon must still choose iommufd (its probe
	 * reads VFIO cdev support from /sys/class/vfio-dev).
	 */
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("open /dev/iommu");

	/* the client memory; this process keeps both fds and a view of each */
	hfd = memfd_create("vm-daemon-huge", MFD_HUGETLB | MFD_CLOEXEC);
	if (hfd < 0 || ftruncate(hfd, HUGE_LEN))
		die("hugetlb memfd (vmrun --hugepages?)");
	sfd = memfd_create("vm-daemon-shm", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (sfd < 0 || ftruncate(sfd, SHM_LEN) ||
	    fcntl(sfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		die("shmem memfd");
	hva = mmap(NULL, HUGE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, hfd, 0);
	sva = mmap(NULL, SHM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, sfd, 0);
	if (hva == MAP_FAILED || sva == MAP_FAILED)
		die("mmap");
	memset(hva, 0xa5, HUGE_LEN);
	memset(sva, 0x5a, SHM_LEN);
	CHECK((rc = check_refs(sva, SHM_LEN, 0)) == 0, "baseline: pages already pinned (%d)", rc);

	start_daemon(argv[1]);
	sync_dump(NULL);
	/* master + ta + tb, each with a mock device */
	CHECK((v = dump_get("mock_domains")) == 3, "mock_domains %lld", v);
	sa = tenant_space("ta");
	sb = tenant_space("tb");
	CHECK(sa > 0 && sb > 0 && sa != sb, "tenant spaces %lld %lld", sa, sb);

	/* 1. tenant ta */
	printf("== 1. tenant ta registers and leases\n");
	ca = client_start("ta", T_UID_A, &ga);
	CHECK(ga.rc == 0, "ta: %s: %s", ga.where, strerror(-ga.rc));
	for (int i = 0; i < 3; i++)
		CHECK(ga.iova[i] >= 2 * MB && ga.iova[i] % (2 * MB) == 0, "ta iova[%d] 0x%" PRIx64,
		      i, ga.iova[i]);
	CHECK(ga.iova[1] == ga.iova[0] + 4 * MB, "one area: 0x%" PRIx64 " 0x%" PRIx64, ga.iova[0],
	      ga.iova[1]);
	CHECK((rc = md_check_map(sa, ga.iova[0], 4 * MB, hfd, 0)) == 0, "ta huge [0,4M): %d", rc);
	CHECK((rc = md_check_map(sa, ga.iova[1], 4 * MB, hfd, 4 * MB)) == 0, "ta huge [4M,8M): %d",
	      rc);
	CHECK((rc = md_check_map(sa, ga.iova[2], SHM_LEN, sfd, 0)) == 0, "ta shm: %d", rc);
	/* the check discriminates: the wrong pages, and a tenant without the lease */
	CHECK((rc = md_check_map(sa, ga.iova[0], 2 * MB, hfd, 2 * MB)) < 0,
	      "wrong offset passed (%d)", rc);
	CHECK((rc = md_check_map(sb, ga.iova[0], 2 * MB, hfd, 0)) < 0,
	      "tb maps ta's lease before leasing (%d)", rc);
	CHECK((rc = check_refs(sva, SHM_LEN, 1)) == 0, "ta: shm pages not pinned once (%d)", rc);
	sync_dump(NULL);
	CHECK((v = dump_get("leases")) == 3, "leases %lld", v);
	CHECK((v = dump_get("tenant_copies")) == 3, "tenant_copies %lld", v);

	/* 2. tenant tb, the same memory */
	printf("== 2. tenant tb leases the same memory\n");
	cb = client_start("tb", T_UID_B, &gb);
	CHECK(gb.rc == 0, "tb: %s: %s", gb.where, strerror(-gb.rc));
	for (int i = 0; i < 3; i++)
		CHECK(gb.iova[i] == ga.iova[i], "tb iova[%d] 0x%" PRIx64 " != 0x%" PRIx64, i,
		      gb.iova[i], ga.iova[i]);
	CHECK(gb.hits == 2, "tb cache_hits %" PRIu64 " (both registrations should hit)", gb.hits);
	CHECK((rc = md_check_map(sb, gb.iova[0], 4 * MB, hfd, 0)) == 0, "tb huge [0,4M): %d", rc);
	CHECK((rc = md_check_map(sb, gb.iova[1], 4 * MB, hfd, 4 * MB)) == 0, "tb huge [4M,8M): %d",
	      rc);
	CHECK((rc = md_check_map(sb, gb.iova[2], SHM_LEN, sfd, 0)) == 0, "tb shm: %d", rc);
	CHECK((rc = check_refs(sva, SHM_LEN, 1)) == 0, "tb: a second pin (%d)", rc);
	sync_dump(NULL);
	CHECK((v = dump_get("leases")) == 6, "leases %lld", v);
	CHECK((v = dump_get("areas")) == 2, "areas %lld (the same two master areas)", v);

	/* 3. the clients die holding their leases */
	printf("== 3. both clients exit without closing\n");
	client_let_go(&ca);
	client_let_go(&cb);
	client_reap(&ca);
	client_reap(&cb);
	CHECK((v = wait_dump("sessions", 0)) == 0, "sessions %lld", v);
	CHECK((v = dump_get("leases")) == 0, "leases %lld", v);
	CHECK((v = dump_get("registrations")) == 0, "registrations %lld", v);
	CHECK((v = dump_get("tenant_copies")) == 0, "tenant_copies %lld", v);
	CHECK((v = dump_get("areas")) == 2, "areas %lld (cached)", v);
	CHECK((v = dump_get("bytes_pinned")) == (long long)(HUGE_LEN + SHM_LEN),
	      "bytes_pinned %lld", v);
	CHECK((rc = md_check_map(sa, ga.iova[0], 4 * MB, hfd, 0)) < 0, "ta still maps (%d)", rc);
	CHECK((rc = md_check_map(sb, ga.iova[2], SHM_LEN, sfd, 0)) < 0, "tb still maps (%d)", rc);
	CHECK((rc = check_refs(sva, SHM_LEN, 1)) == 0, "cached area lost its pin (%d)", rc);

	/* 4. eviction: budget 0, SIGHUP */
	printf("== 4. pinned_budget = 0, SIGHUP: eviction\n");
	write_conf("0");
	kill(dpid, SIGHUP);
	CHECK((v = wait_dump("areas", 0)) == 0, "areas %lld after budget 0", v);
	CHECK((v = dump_get("bytes_pinned")) == 0, "bytes_pinned %lld", v);
	CHECK((v = dump_get("evictions")) == 2, "evictions %lld", v);
	CHECK((rc = check_refs(sva, SHM_LEN, 0)) == 0, "pins not back to baseline (%d)", rc);
	CHECK((v = dump_get("cache_check")) == 0, "cache_check %lld", v);
	CHECK((v = dump_get("lease_check")) == 0, "lease_check %lld", v);
	CHECK((v = dump_get("alloc_check")) == 0, "alloc_check %lld", v);

	/* 5. back to an unlimited budget: the memory pins again; SIGTERM unpins */
	printf("== 5. re-register after eviction, then SIGTERM with a cached area\n");
	write_conf("unlimited");
	kill(dpid, SIGHUP);
	/* a dump taken after it means the reload is done: the signalfd hands
	 * pending signals over lowest number first, SIGHUP before SIGUSR1 */
	sync_dump(NULL);
	cc = client_start("ta", T_UID_A, &gc);
	CHECK(gc.rc == 0, "ta again: %s: %s", gc.where, strerror(-gc.rc));
	CHECK((rc = md_check_map(sa, gc.iova[2], SHM_LEN, sfd, 0)) == 0, "ta shm again: %d", rc);
	CHECK((rc = check_refs(sva, SHM_LEN, 1)) == 0, "re-registered: not pinned once (%d)", rc);
	client_let_go(&cc);
	client_reap(&cc);
	CHECK((v = wait_dump("sessions", 0)) == 0, "sessions %lld", v);
	CHECK((v = dump_get("areas")) == 2, "areas %lld (cached again)", v);
	CHECK((rc = check_refs(sva, SHM_LEN, 1)) == 0, "cached again: not pinned (%d)", rc);
	kill(dpid, SIGTERM);
	for (int i = 0; i < 600 && waitpid(dpid, &status, WNOHANG) != dpid; i++)
		msleep(50);
	CHECK(kill(dpid, 0) != 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "daemon exit status 0x%x", status);
	CHECK((rc = check_refs(sva, SHM_LEN, 0)) == 0, "pins left after the daemon's exit (%d)",
	      rc);

	printf("vm-daemon: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
