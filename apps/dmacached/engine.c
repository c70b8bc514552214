/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dmacached engine (see engine.h): creation and teardown, sessions,
 * HELLO, counters. The object model is in engine_internal.h; each noun has
 * its own file.
 *
 * Sessions: the reclaim order (session close; docs/security.md):
 *   1. stop the DMA of every device the session claimed with DEVICE (bus
 *      master off, reset when supported, interrupts off), so nothing can
 *      still target memory about to be unmapped;
 *   2. leases newest first (tenant copy unmapped when its last lease goes,
 *      then the master reference dropped);
 *   3. registrations (master references dropped; areas stay cached, LRU,
 *      until the pinned budget evicts them);
 *   4. the claims are released; the devices stay stopped (bus master off)
 *      until a session claims them again.
 * An admin session (HELLO as "@admin" from uid 0 or an admin gid) has no
 * tenant, hence no registration and no lease: everything that takes a tenant
 * refuses it with -EPERM.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/random.h>

#include "dmac_alloc.h"
#include "engine_internal.h"
#include "log.h"

/* ---- engine ------------------------------------------------------------- */

int dmd__random_u64(struct dmd_engine *e, uint64_t *out)
{
	/* one getrandom() per DMD_RANDOM_BUF ids: the ids stay unguessable
	 * (the kernel's CSPRNG), the syscall leaves the per-request path */
	if (e->rnd_n == 0) {
		ssize_t n = getrandom(e->rnd_buf, sizeof(e->rnd_buf), 0);

		if (n != (ssize_t)sizeof(e->rnd_buf))
			return n < 0 ? -errno : -EIO;
		e->rnd_n = DMD_RANDOM_BUF;
	}
	*out = e->rnd_buf[--e->rnd_n];
	e->rnd_buf[e->rnd_n] = 0; /* no id stays in memory once handed out */
	return 0;
}

/*
 * The lease table's source of ids: the buffered draw above, so that a LEASE
 * costs no getrandom() (the table asks for 8 bytes per id).
 */
static int dmd__lease_random(void *arg, void *buf, size_t len)
{
	for (size_t off = 0; off < len; off += sizeof(uint64_t)) {
		uint64_t v;
		int rc = dmd__random_u64(arg, &v);

		if (rc)
			return rc;
		memcpy((char *)buf + off, &v, len - off < sizeof(v) ? len - off : sizeof(v));
	}
	return 0;
}

int dmd_engine_create(const struct dmd_config *cfg, const struct dmd_engine_hooks *hooks,
		      struct dmd_engine **out)
{
	struct dmd_engine *e;
	int rc;

	e = dmac__calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (hooks)
		e->hooks = *hooks;
	rc = dmd_ident_create(&e->ident);
	if (rc)
		goto err_free_engine;
	rc = dmd_bk_open(cfg->backend, &e->bk);
	if (rc)
		goto err_destroy_ident;
	rc = dmd_bk_space_alloc(e->bk, &e->master);
	if (rc)
		goto err_close_bk;
	rc = dmac_lease_table_create(&e->leases);
	if (rc)
		goto err_destroy_master;
	dmac__lease_set_random(e->leases, dmd__lease_random, e);
	dmd__admin_set(e, cfg);
	e->max_regs_per_session = cfg->max_registrations_per_session;
	/* every tenant space exists and every device is attached before the
	 * IOVA plan reads the ranges all of them can map (iova.c) */
	for (unsigned int i = 0; i < cfg->ntenants; i++) {
		rc = dmd__tenant_add(e, &cfg->tenants[i]);
		if (rc)
			goto err_remove_tenants;
	}
	rc = dmd__iova_setup(e);
	if (rc)
		goto err_remove_tenants;
	rc = dmac_cache_create(cfg->pinned_budget, dmd__evict, e, &e->cache);
	if (rc)
		goto err_destroy_alloc;
	dmd_info("engine: backend %s, master space %u, %u IOVA range(s), budget %" PRIu64
		 " bytes, %u tenant(s)",
		 dmd_bk_name(e->bk), e->master, e->nusable, cfg->pinned_budget, cfg->ntenants);
	*out = e;
	return 0;

err_destroy_alloc:
	dmac_iova_alloc_destroy(e->alloc);
err_remove_tenants:
	while (e->tenants)
		dmd__tenant_free(e, e->tenants);
	dmac_lease_table_destroy(e->leases);
err_destroy_master:
	dmd_bk_space_destroy(e->bk, e->master);
err_close_bk:
	dmd_bk_close(e->bk);
err_destroy_ident:
	dmd_ident_destroy(e->ident);
err_free_engine:
	dmac__free(e);
	return rc;
}

void dmd_engine_destroy(struct dmd_engine *e)
{
	if (!e)
		return;
	while (e->sessions)
		dmd_engine_session_close(e, e->sessions);
	/* the copies go with their spaces, then the areas are unused */
	while (e->tenants)
		dmd__tenant_free(e, e->tenants);
	dmac_cache_evict_all(e->cache);
	dmd__area_retry(e);
	if (e->zombie_areas)
		dmd_err("%" PRIu64 " master area(s) could not be unmapped; the master space "
			"goes with them",
			e->unmap_failures);
	while (e->zombie_areas) {
		struct dmd_area *p = e->zombie_areas;

		e->zombie_areas = p->znext;
		dmd_ident_put(e->ident, p->ident);
		dmac__free(p); /* VA and pins go with the space and the process */
	}
	dmac_lease_table_destroy(e->leases);
	dmac_cache_destroy(e->cache);
	dmac_iova_alloc_destroy(e->alloc);
	dmd_bk_space_destroy(e->bk, e->master);
	dmd_bk_close(e->bk);
	dmd_ident_destroy(e->ident);
	dmac__free(e);
}

int dmd_engine_poll_fd(const struct dmd_engine *e)
{
	return dmd_ident_fd(e->ident);
}

void dmd_engine_poll(struct dmd_engine *e)
{
	dmd_ident_drain(e->ident);
}

uint64_t dmd_engine_unmap_failures(const struct dmd_engine *e)
{
	return e->unmap_failures;
}

void dmd_engine_retry(struct dmd_engine *e)
{
	for (struct dmd_tenant *t = e->tenants; t; t = t->next)
		dmd__copy_retry(e, t);
	dmd__area_retry(e);
}

/* ---- sessions ----------------------------------------------------------- */

int dmd_engine_session_open(struct dmd_engine *e, const struct dmd_peer *peer, void *owner,
			    struct dmd_session **out)
{
	struct dmd_session *s = dmac__calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->id = ++e->next_session_id;
	s->peer = *peer;
	s->owner = owner;
	s->next_seq = 1;
	s->next = e->sessions;
	if (e->sessions)
		e->sessions->prev = s;
	e->sessions = s;
	e->nsessions++;
	*out = s;
	return 0;
}

void dmd_engine_session_close(struct dmd_engine *e, struct dmd_session *s)
{
	struct dmd_tenant *t = s->tenant;

	/* 1. Stop the DMA of the devices this session drives: FIRST. */
	for (unsigned int i = 0; t && i < t->ndevs; i++)
		if (t->dev_owner[i] == s)
			dmd_bk_device_stop(e->bk, t->devs[i]);
	/* 2. Then unmap the tenant copies of its leases, 3. drop references. */
	while (s->ltail)
		dmd__lease_drop(e, s, s->ltail);
	while (s->regs)
		dmd__reg_drop(e, s, s->regs);
	dmac_hmap_clear(&s->reg_by_id);
	/* 4. The claims go; bus master stays off until the next claim, which
	 * first proves that no earlier holder still has the BAR files. */
	for (unsigned int i = 0; t && i < t->ndevs; i++) {
		if (t->dev_owner[i] != s)
			continue;
		t->dev_owner[i] = NULL;
		dmd_info("tenant %s: device %s released by session %" PRIu64
			 " (bus master off until the next claim)",
			 t->cfg.name, dmd_bk_device_bdf(t->devs[i]), s->id);
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		e->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	e->nsessions--;
	e->nadmin -= s->admin ? 1 : 0;
	if (t && --t->nsessions == 0 && t->removed)
		dmd__tenant_free(e, t);
	dmd_debug("session %" PRIu64 " (pid %d) reclaimed", s->id, (int)s->peer.pid);
	dmac__free(s);
}

int dmd_engine_session_bound(const struct dmd_session *s)
{
	return s->tenant != NULL || s->admin;
}

uint64_t dmd_engine_session_id(const struct dmd_session *s)
{
	return s->id;
}

const char *dmd_engine_session_tenant(const struct dmd_session *s)
{
	return s->tenant ? s->tenant->cfg.name : s->admin ? DMD_ADMIN_TENANT : "";
}

int dmd_engine_hello(struct dmd_engine *e, struct dmd_session *s, const char *tenant,
		     struct dmd_hello_out *out)
{
	struct dmd_tenant *t;

	if (s->tenant || s->admin)
		return -EALREADY;
	if (!strcmp(tenant, DMD_ADMIN_TENANT)) {
		bool admin = s->peer.uid == 0;

		for (unsigned int i = 0; i < e->nadmin_gids && !admin; i++)
			admin = dmd_peer_in_group(&s->peer, e->admin_gids[i]);
		if (!admin) {
			dmd_warn("session %" PRIu64 ": uid %u gid %u (pid %d) refused an admin "
				 "session (not root, no group in admin_gids)",
				 s->id, (unsigned int)s->peer.uid, (unsigned int)s->peer.gid,
				 (int)s->peer.pid);
			return -EACCES;
		}
		s->admin = 1;
		e->nadmin++;
		*out = (struct dmd_hello_out){.session_id = s->id, .iova_last = UINT64_MAX};
		dmd_info("session %" PRIu64 ": pid %d (%s) uid %u opened an admin session", s->id,
			 (int)s->peer.pid, s->peer.comm[0] ? s->peer.comm : "?",
			 (unsigned int)s->peer.uid);
		return 0;
	}
	t = dmd__tenant_find(e, tenant);
	if (!t || t->removed)
		return -ENOENT;
	if (!dmd_config_allows(&t->cfg, &s->peer)) {
		dmd_warn("session %" PRIu64 ": uid %u gid %u (pid %d) not allowed for tenant %s",
			 s->id, (unsigned int)s->peer.uid, (unsigned int)s->peer.gid,
			 (int)s->peer.pid, tenant);
		return -EACCES;
	}
	s->tenant = t;
	t->nsessions++;
	out->session_id = s->id;
	out->quota_pinned_bytes = t->cfg.quota_pinned_bytes;
	out->quota_leases = t->cfg.quota_leases;
	out->iova_start = t->cfg.iova_start;
	out->iova_last = t->cfg.iova_last;
	dmd_info("session %" PRIu64 ": pid %d (%s) uid %u bound to tenant %s", s->id,
		 (int)s->peer.pid, s->peer.comm[0] ? s->peer.comm : "?", (unsigned int)s->peer.uid,
		 tenant);
	return 0;
}

int dmd_engine_admin_sessions(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor,
			      uint32_t max, struct dmd_session_view *out, uint32_t *n,
			      uint64_t *next)
{
	struct dmd_session *p, *last = NULL;
	uint32_t k = 0;

	if (!s->admin)
		return -EPERM;
	if (cursor > e->next_session_id)
		return -EINVAL; /* never issued */
	*next = 0;
	/* The list is by id decreasing: the sessions >= cursor are a prefix of
	 * it; list from its end (the smallest id), backwards. */
	for (p = e->sessions; p && p->id >= cursor; p = p->next)
		last = p;
	for (p = last; p; p = p->prev) {
		struct dmd_session_view *v = &out[k];

		if (k == max) {
			*next = p->id;
			break;
		}
		memset(v, 0, sizeof(*v));
		v->session_id = p->id;
		v->pid = p->peer.pid;
		v->uid = p->peer.uid;
		v->gid = p->peer.gid;
		v->pidfd = p->peer.pidfd;
		if (p->tenant)
			memcpy(v->tenant, p->tenant->cfg.name, sizeof(v->tenant));
		else if (p->admin)
			memcpy(v->tenant, DMD_ADMIN_TENANT, sizeof(DMD_ADMIN_TENANT));
		memcpy(v->comm, p->peer.comm, sizeof(v->comm));
		v->comm[sizeof(v->comm) - 1] = '\0';
		v->registrations = p->nregs;
		v->bytes_registered = p->reg_bytes;
		v->leases = p->nleases;
		v->bytes_leased = p->lease_bytes;
		k++;
	}
	*n = k;
	return 0;
}

void dmd_engine_lease_observed(struct dmd_engine *e, struct dmd_session *s, uint64_t ns)
{
	dmd_hist_add(&e->lease_hist, ns);
	if (s->tenant)
		s->tenant->lease_requests++;
}

int dmd_engine_admin_histogram(const struct dmd_engine *e, const struct dmd_session *s, uint32_t id,
			       struct dmd_hist *out)
{
	if (!s->admin)
		return -EPERM;
	if (id != DMD_HIST_LEASE)
		return -ENOENT;
	*out = e->lease_hist;
	return 0;
}

void dmd_engine_stats(const struct dmd_engine *e, struct dmd_engine_stats *st)
{
	struct dmac_cache_stats cs;
	struct dmac_lease_stats ls;

	dmac_cache_stats(e->cache, &cs);
	dmac_lease_stats(e->leases, &ls);
	st->cache_hits = cs.hits;
	st->cache_misses = cs.misses;
	st->evictions = cs.evictions;
	st->bytes_pinned = cs.bytes_pinned;
	st->areas = cs.areas;
	st->leases = ls.leases;
	st->tenants = e->ntenants;
	/* operator tools (admin sessions) are not counted: dmacachectl's own
	 * session does not inflate what it reports (protocol.md 6.7) */
	st->sessions = e->nsessions - e->nadmin;
	st->registrations = e->nregs;
	st->tenant_copies = e->ncopies;
	st->copy_hits = st->copy_misses = st->kernel_copies = st->kernel_unmaps = 0;
	st->copies_kept_bytes = 0;
	for (const struct dmd_tenant *t = e->tenants; t; t = t->next) {
		st->copy_hits += t->copy_hits;
		st->copy_misses += t->copy_misses;
		st->kernel_copies += t->kernel_copies;
		st->kernel_unmaps += t->kernel_unmaps;
		st->copies_kept_bytes += t->kept_bytes;
	}
	st->unmap_failures = e->unmap_failures;
}

void dmd_engine_session_stats(const struct dmd_engine *e, const struct dmd_session *s,
			      struct dmd_engine_stats *st)
{
	const struct dmd_tenant *t = s->tenant;
	struct dmac_lease_tenant_stats ts;

	if (!t) {
		/* an admin session (or not bound yet: the server refuses that) */
		dmd_engine_stats(e, st);
		return;
	}
	memset(st, 0, sizeof(*st));
	st->cache_hits = t->cache_hits;
	st->cache_misses = t->cache_misses;
	st->bytes_pinned = t->reg_bytes;
	if (dmac_lease_tenant_stats(e->leases, t->id, &ts) == 0)
		st->leases = ts.leases;
	st->tenants = 1;
	st->sessions = t->nsessions;
	st->registrations = t->nregs;
	st->tenant_copies = t->ncopies;
	st->copy_hits = t->copy_hits;
	st->copy_misses = t->copy_misses;
	st->kernel_copies = t->kernel_copies;
	st->kernel_unmaps = t->kernel_unmaps;
	st->copies_kept_bytes = t->kept_bytes;
	st->unmap_failures = t->unmap_failures;
}

void dmd_engine_dump(const struct dmd_engine *e, FILE *f)
{
	struct dmd_engine_stats st;

	dmd_engine_stats(e, &st);
	fprintf(f,
		"cache_hits %" PRIu64 "\ncache_misses %" PRIu64 "\nevictions %" PRIu64
		"\nbytes_pinned %" PRIu64 "\nareas %" PRIu64 "\nleases %" PRIu64
		"\ntenants %" PRIu64 "\nsessions %" PRIu64 "\nregistrations %" PRIu64
		"\ntenant_copies %" PRIu64 "\nmaster_space %u\n",
		st.cache_hits, st.cache_misses, st.evictions, st.bytes_pinned, st.areas, st.leases,
		st.tenants, e->nsessions, st.registrations, st.tenant_copies, e->master);
	fprintf(f, "admin_sessions %" PRIu64 "\nlease_hist_count %" PRIu64 "\n", e->nadmin,
		e->lease_hist.count);
	fprintf(f,
		"copy_hits %" PRIu64 "\ncopy_misses %" PRIu64 "\nkernel_copies %" PRIu64
		"\nkernel_unmaps %" PRIu64 "\ncopies_kept_bytes %" PRIu64
		"\nunmap_failures %" PRIu64 "\nhole_bytes %" PRIu64 "\n",
		st.copy_hits, st.copy_misses, st.kernel_copies, st.kernel_unmaps,
		st.copies_kept_bytes, st.unmap_failures, e->hole_bytes);
	/* "tenant NAME SPACE SESSIONS" (tests parse these four fields), then
	 * "tstat NAME key value" lines per tenant */
	for (const struct dmd_tenant *t = e->tenants; t; t = t->next) {
		fprintf(f, "tenant %s %u %" PRIu64 "\n", t->cfg.name, t->space, t->nsessions);
		fprintf(f,
			"tstat %s reg_bytes %" PRIu64 "\ntstat %s unref_bytes %" PRIu64
			"\ntstat %s kept_bytes %" PRIu64 "\ntstat %s copies %" PRIu64
			"\ntstat %s zombies %" PRIu64 "\n",
			t->cfg.name, t->reg_bytes, t->cfg.name, t->unref_bytes, t->cfg.name,
			t->kept_bytes, t->cfg.name, t->ncopies, t->cfg.name, t->unmap_failures);
	}
	for (uint32_t i = 0; i < e->nusable; i++)
		fprintf(f, "usable 0x%" PRIx64 " 0x%" PRIx64 "\n", e->usable[i].start,
			e->usable[i].last);
	fprintf(f, "cache_check %d\nlease_check %d\nalloc_check %d\ncopy_check %" PRIu64 "\n",
		dmac__cache_check(e->cache), dmac__lease_check(e->leases),
		dmac__iova_alloc_check(e->alloc), dmd__copy_check(e));
}
