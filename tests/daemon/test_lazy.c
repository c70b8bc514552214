/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The 'daemon' suite, the tenant copy cache (release = lazy | strict): the
 * real dmacached-test with the test backend, whose call log ("call copy",
 * "call unmap") and mappings ("map SPACE IOVA LEN VA PROT") the dump shows.
 * Tenants run as uid 4001 (t_as()). One test per run (argv[1]):
 *
 *   lazy-reuse     a released copy stays mapped; the same lease again costs
 *                  no copy and no unmap; STATS counts the hit
 *   lazy-prot      a kept copy serves only a lease of the same prot: a READ
 *                  lease after a RW one gets a read-only mapping
 *   lazy-unregister, lazy-session-end, lazy-kill
 *                  kept copies are unmapped before UNREGISTER's reply, at
 *                  session end and when the process is killed
 *   lazy-bound     copy_cache_bytes bounds the kept copies; under churn of
 *                  distinct pages the unmaps come in batches (<= 1 per 64
 *                  releases)
 *   lazy-quota     kept copies count in quota_pinned_bytes and go first
 *   lazy-tenant    a kept copy is in its tenant's space only
 *   strict         release = strict unmaps before RELEASE's reply
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MB  (1024ull * 1024)
#define KB4 4096ull
#define R   DMAC_PROTO_PROT_READ
#define RW  DMAC_PROTO_PROT_ALL

static char conf_buf[512];

static const char *conf(const char *a_extra)
{
	snprintf(conf_buf, sizeof(conf_buf), "[tenant a]\nuids = %u\n%s[tenant b]\nuids = %u\n",
		 T_UID_A, a_extra ? a_extra : "", T_UID_B);
	return conf_buf;
}

static int hello(const struct tdaemon *d, const char *tenant)
{
	int s = tc_connect(d);

	CHECK_EQ(tc_hello(s, tenant), 0);
	return s;
}

/* Refresh the dump and check the lazy guarantee's invariant there: no kept
 * mapping outside every live registration of its tenant (copy_check). */
static void sync_check(struct tdaemon *d)
{
	td_sync(d, NULL);
	CHECK_EQ(td_get(d, "copy_check"), 0);
}

/* The prot of the mapping at @p iova in @p space ("map" lines), or -1. */
static int map_prot(struct tdaemon *d, long space, uint64_t iova)
{
	char line[256];
	long sp;
	unsigned long long io, len, va;
	unsigned int prot;
	int found = -1;
	FILE *f;

	sync_check(d);
	f = fopen(d->dump, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "map %ld %llx %llx %llx %u", &sp, &io, &len, &va, &prot) == 5 &&
		    sp == space && io == iova)
			found = (int)prot;
	if (f)
		fclose(f);
	return found;
}

static long space_of(struct tdaemon *d, const char *tenant)
{
	char line[256], want[64];
	long space = -1;
	FILE *f;

	sync_check(d);
	snprintf(want, sizeof(want), "tenant %s ", tenant);
	f = fopen(d->dump, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, want, strlen(want)))
			space = strtol(line + strlen(want), NULL, 10);
	if (f)
		fclose(f);
	return space;
}

/* ---- lazy-reuse ---------------------------------------------------------------- */

static void reuse_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g, g2;
	struct dmac_proto_stats st;
	uint64_t reg;
	int s = hello(d, "a"), fd = t_memfd(4 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 4 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	sync_check(d);
	CHECK_EQ(td_count(d, "call copy "), 1);
	CHECK_EQ(td_count(d, "call unmap "), 0); /* still mapped */
	CHECK_EQ(td_get(d, "tenant_copies"), 1);
	CHECK_EQ(td_get(d, "copies_kept_bytes"), 2 * MB);
	/* the same lease again: bookkeeping only */
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g2), 0);
	CHECK_EQ(g2.iova, g.iova);
	CHECK(g2.lease_id != g.lease_id && g2.generation > g.generation);
	sync_check(d);
	CHECK_EQ(td_count(d, "call copy "), 1);
	CHECK_EQ(td_count(d, "call unmap "), 0);
	CHECK_EQ(td_get(d, "copies_kept_bytes"), 0);
	/* the tenant's STATS (protocol version 2) count it */
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.copy_hits, 1);
	CHECK_EQ(st.copy_misses, 1);
	CHECK_EQ(st.kernel_copies, 1);
	CHECK_EQ(st.kernel_unmaps, 0);
	CHECK_EQ(st.tenant_copies, 1);
	CHECK_EQ(st.unmap_failures, 0);
	CHECK_EQ(tc_release(s, g2.lease_id, g2.generation), 0);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.copies_kept_bytes, 2 * MB);
	close(fd);
	close(s);
}

/* ---- lazy-prot ---------------------------------------------------------------- */

struct ctx {
	struct tdaemon *d;
	long space;
};

static void prot_tenant(void *arg)
{
	struct ctx *c = arg;
	struct dmac_proto_lease_grant g, g2;
	uint64_t reg;
	int s = hello(c->d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(map_prot(c->d, c->space, g.iova), RW); /* kept, writable */
	/* a READ lease never rides the writable copy */
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, R, &g2), 0);
	CHECK_EQ(g2.iova, g.iova);
	CHECK_EQ(map_prot(c->d, c->space, g.iova), R);
	sync_check(c->d);
	CHECK_EQ(td_count(c->d, "call unmap "), 1);
	CHECK_EQ(td_count(c->d, "call copy "), 2);
	close(fd);
	close(s);
}

/* ---- lazy-unregister, lazy-session-end, lazy-kill -------------------------------------- */

static void unregister_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	int s = hello(d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(tc_lease(s, reg, (uint64_t)i * 128 * KB4, 128 * KB4, RW, &g), 0);
		CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	}
	sync_check(d);
	CHECK_EQ(td_get(d, "tenant_copies"), 4);
	/* the registration goes: so do its kept copies, before the reply, in
	 * one unmap (they are adjacent) */
	CHECK_EQ(tc_unregister(s, reg), 0);
	sync_check(d);
	CHECK_EQ(td_get(d, "tenant_copies"), 0);
	CHECK_EQ(td_count(d, "call unmap "), 1);
	close(fd);
	close(s);
}

static void keep_some(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	int s = hello(d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, MB, RW, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(tc_lease(s, reg, MB, MB, RW, &g), 0); /* one still leased */
	sync_check(d);
	CHECK_EQ(td_get(d, "tenant_copies"), 2);
	close(fd);
	close(s); /* session end */
}

struct killed {
	struct tdaemon *d;
	int ready; /* pipe: "set up" */
};

/* Spawned: a kept copy and a live lease, then wait to be killed. */
static void kill_tenant(void *arg)
{
	struct killed *k = arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	int s = hello(k->d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, MB, RW, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(tc_lease(s, reg, MB, MB, RW, &g), 0);
	if (write(k->ready, "k", 1) != 1)
		exit(100);
	pause();
}

/* ---- lazy-bound ----------------------------------------------------------------- */

static void bound_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g;
	const int n = 1280;
	uint64_t reg;
	int s = hello(d, "a"), fd = t_memfd((uint64_t)n * KB4, 1), unmaps;

	CHECK_EQ(tc_register(s, fd, 0, (uint64_t)n * KB4, RW, &reg), 0);
	/* churn: distinct 4 KiB leases, each released at once */
	for (int i = 0; i < n; i++) {
		CHECK_EQ(tc_lease(s, reg, (uint64_t)i * KB4, KB4, RW, &g), 0);
		CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	}
	sync_check(d);
	/* bounded: 1 MiB of kept copies at most */
	CHECK(td_get(d, "copies_kept_bytes") <= (long long)MB);
	CHECK(td_get(d, "copies_kept_bytes") > 0);
	unmaps = td_count(d, "call unmap ");
	fprintf(stderr, "%d releases, %d unmap calls\n", n, unmaps);
	CHECK(unmaps >= 1);
	CHECK(unmaps <= n / 64 + 1);
	close(fd);
	close(s);
}

/* ---- lazy-quota ----------------------------------------------------------------- */

static void quota_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g, b1, b2;
	uint64_t reg;
	int s = hello(d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, MB, RW, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	/* 1 MiB leased + 1 MiB kept: within the 2 MiB quota, both stay */
	CHECK_EQ(tc_lease(s, reg, MB, MB, RW, &b1), 0);
	sync_check(d);
	CHECK_EQ(td_get(d, "copies_kept_bytes"), MB);
	/* 2 MiB leased (two leases of one copy count twice) + 1 MiB kept: the
	 * kept copy goes first */
	CHECK_EQ(tc_lease(s, reg, MB, MB, RW, &b2), 0);
	sync_check(d);
	CHECK_EQ(td_get(d, "copies_kept_bytes"), 0);
	CHECK_EQ(td_get(d, "tenant_copies"), 1);
	/* beyond the quota itself: EDQUOT, nothing changes */
	CHECK_EQ(tc_lease(s, reg, MB, MB, RW, NULL), EDQUOT);
	sync_check(d);
	CHECK_EQ(td_get(d, "leases"), 2);
	close(fd);
	close(s);
}

/* ---- lazy-tenant, strict ----------------------------------------------------------- */

static void other_tenant(void *arg)
{
	struct ctx *c = arg;
	struct dmac_proto_lease_grant g;
	uint64_t reg;
	int s = hello(c->d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	CHECK_EQ(map_prot(c->d, space_of(c->d, "a"), g.iova), RW);
	CHECK_EQ(map_prot(c->d, space_of(c->d, "b"), g.iova), -1);
	close(fd);
	close(s);
}

static void strict_tenant(void *arg)
{
	struct tdaemon *d = arg;
	struct dmac_proto_lease_grant g;
	struct dmac_proto_stats st;
	uint64_t reg;
	int s = hello(d, "a"), fd = t_memfd(2 * MB, 1);

	CHECK_EQ(tc_register(s, fd, 0, 2 * MB, RW, &reg), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK_EQ(tc_release(s, g.lease_id, g.generation), 0);
	/* unmapped before the reply */
	sync_check(d);
	CHECK_EQ(td_count(d, "call unmap "), 1);
	CHECK_EQ(td_get(d, "tenant_copies"), 0);
	CHECK_EQ(td_get(d, "copies_kept_bytes"), 0);
	CHECK_EQ(tc_lease(s, reg, 0, 2 * MB, RW, &g), 0);
	CHECK_EQ(tc_stats(s, &st), 0);
	CHECK_EQ(st.copy_hits, 0);
	CHECK_EQ(st.copy_misses, 2);
	CHECK_EQ(st.kernel_unmaps, 1);
	close(fd);
	close(s);
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";
	struct tdaemon d;
	struct ctx c;

	if (!strcmp(t, "lazy-reuse")) {
		td_start(&d, conf(NULL));
		t_as_user(T_UID_A, reuse_tenant, &d);
	} else if (!strcmp(t, "lazy-prot")) {
		td_start(&d, conf(NULL));
		c = (struct ctx){&d, space_of(&d, "a")};
		t_as_user(T_UID_A, prot_tenant, &c);
	} else if (!strcmp(t, "lazy-unregister")) {
		td_start(&d, conf(NULL));
		t_as_user(T_UID_A, unregister_tenant, &d);
	} else if (!strcmp(t, "lazy-session-end") || !strcmp(t, "lazy-kill")) {
		td_start(&d, conf(NULL));
		if (t[5] == 's') {
			t_as_user(T_UID_A, keep_some, &d);
		} else {
			int ready[2];
			struct killed k = {&d, -1};
			pid_t p;
			char ch;

			if (pipe(ready))
				return 1;
			k.ready = ready[1];
			p = t_as_spawn(T_UID_A, T_UID_A, NULL, 0, kill_tenant, &k);
			CHECK_EQ(read(ready[0], &ch, 1), 1);
			sync_check(&d);
			CHECK_EQ(td_get(&d, "tenant_copies"), 2);
			CHECK_EQ(td_get(&d, "copies_kept_bytes"), MB);
			kill(p, SIGKILL);
			waitpid(p, NULL, 0);
		}
		CHECK_EQ(td_wait(&d, "sessions", 0), 0);
		CHECK_EQ(td_get(&d, "tenant_copies"), 0);
		CHECK_EQ(td_get(&d, "copies_kept_bytes"), 0);
		CHECK_EQ(td_get(&d, "leases"), 0);
	} else if (!strcmp(t, "lazy-bound")) {
		td_start(&d, conf("copy_cache_bytes = 1M\n"));
		t_as_user(T_UID_A, bound_tenant, &d);
	} else if (!strcmp(t, "lazy-quota")) {
		td_start(&d, conf("quota_pinned_bytes = 2M\n"));
		t_as_user(T_UID_A, quota_tenant, &d);
	} else if (!strcmp(t, "lazy-tenant")) {
		td_start(&d, conf(NULL));
		c = (struct ctx){&d, 0};
		t_as_user(T_UID_A, other_tenant, &c);
	} else if (!strcmp(t, "strict")) {
		td_start(&d, conf("release = strict\n"));
		t_as_user(T_UID_A, strict_tenant, &d);
	} else {
		fprintf(stderr, "unknown test '%s'\n", t);
		return 2;
	}
	td_stop(&d);
	if (t_failures)
		fprintf(stderr, "%s: %d check(s) failed\n", t, t_failures);
	return t_failures ? 1 : 0;
}
