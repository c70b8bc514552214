/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tenants, their devices, and reload.
 *
 * - A tenant's devices (config key 'devices') are opened and attached to its
 *   space when the tenant is created, before any lease exists, with bus
 *   master OFF; they are taken back (bus master off, detach, close) when it
 *   is freed, before its space is destroyed. The VFIO device fd never leaves
 *   the daemon (except in trusted mode).
 * - A device is claimed by at most one session (dev_owner) at a time, and
 *   bus master is on exactly while it is claimed.
 * - Hand-over: a claim is granted only when no writable open file of the
 *   device's BAR files (sysfs resourceN) exists anywhere: no fd, mapping,
 *   inherited or in-flight fd of an earlier claimant (or of anyone), as the
 *   kernel reports it (dmd_bk_device_bars_free()). Until then DEVICE answers
 *   EBUSY, and the device, bus master off, cannot DMA or raise an MSI: a
 *   stale mapping can poke its registers but cannot reach any memory.
 * - Tenants are listed by id (increasing, never reused): the stable cursor of
 *   ADMIN_TENANTS.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "dmac_alloc.h"
#include "engine_internal.h"
#include "log.h"

void dmd__admin_set(struct dmd_engine *e, const struct dmd_config *cfg)
{
	memcpy(e->admin_gids, cfg->admin_gids, sizeof(e->admin_gids));
	e->nadmin_gids = cfg->nadmin_gids;
}

/* ---- tenants ------------------------------------------------------------ */

static const char *dmd__dev_err(struct dmd_engine *e, int rc)
{
	return rc == -ENODEV   ? "no such device bound to vfio-pci"
	       : rc == -EINVAL ? "already open (another tenant or process?)"
			       : dmd_bk_strerror(e->bk, rc);
}

/*
 * A tenant that is not linked yet: its space and lease-table entry exist, no
 * device is open. Undone by dmd__tenant_unprepare().
 */
static int dmd__tenant_prepare(struct dmd_engine *e, const struct dmd_tenant_config *cfg,
			       struct dmd_tenant **out)
{
	struct dmd_tenant *t;
	int rc;

	t = dmac__calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->id = ++e->next_tenant_id;
	rc = dmd_bk_space_alloc(e->bk, &t->space);
	if (rc)
		goto err_free_tenant;
	rc = dmac_lease_tenant_add(e->leases, t->id, cfg->quota_leases, cfg->quota_pinned_bytes);
	if (rc)
		goto err_destroy_space;
	*out = t;
	return 0;

err_destroy_space:
	dmd_bk_space_destroy(e->bk, t->space);
err_free_tenant:
	dmac__free(t);
	return rc;
}

static void dmd__tenant_unprepare(struct dmd_engine *e, struct dmd_tenant *t)
{
	while (t->ndevs)
		dmd_bk_device_close(e->bk, t->devs[--t->ndevs]);
	dmac_lease_tenant_remove(e->leases, t->id);
	dmd_bk_space_destroy(e->bk, t->space);
	dmac__free(t);
}

static void dmd__tenant_link(struct dmd_engine *e, struct dmd_tenant *t)
{
	t->next = e->tenants;
	e->tenants = t;
	e->ntenants++;
	dmd_info("tenant %s: space %u, window [0x%" PRIx64 ", 0x%" PRIx64 "], %u device(s)",
		 t->cfg.name, t->space, t->cfg.iova_start, t->cfg.iova_last, t->ndevs);
}

int dmd__tenant_add(struct dmd_engine *e, const struct dmd_tenant_config *cfg)
{
	struct dmd_tenant *t;
	int rc;

	rc = dmd__tenant_prepare(e, cfg, &t);
	if (rc)
		return rc;
	for (t->ndevs = 0; t->ndevs < cfg->ndevices; t->ndevs++) {
		const char *bdf = cfg->devices[t->ndevs];

		rc = dmd_bk_device_open(e->bk, bdf, t->space, &t->devs[t->ndevs]);
		if (rc) {
			dmd_err("tenant %s: device %s: %s", cfg->name, bdf, dmd__dev_err(e, rc));
			dmd__tenant_unprepare(e, t);
			return rc;
		}
		dmd_info("tenant %s: device %s attached to space %u, bus master off until claimed",
			 cfg->name, bdf, t->space);
	}
	dmd__tenant_link(e, t);
	return 0;
}

/* Unlink and free a tenant with no session (hence no lease, no copy). */
void dmd__tenant_free(struct dmd_engine *e, struct dmd_tenant *t)
{
	struct dmd_tenant **pp;

	for (pp = &e->tenants; *pp != t; pp = &(*pp)->next)
		;
	*pp = t->next;
	e->ntenants--;
	dmac_lease_tenant_remove(e->leases, t->id);
	while (t->ndevs) {
		struct dmd_bk_dev *d = t->devs[--t->ndevs];

		dmd_info("tenant %s: device %s bus master off, detached, closed", t->cfg.name,
			 dmd_bk_device_bdf(d));
		dmd_bk_device_close(e->bk, d);
	}
	/* the space goes first, with every mapping in it (zombies included):
	 * only then do the copies drop their area references, so no master
	 * area is unmapped while a tenant space still maps it */
	dmd_bk_space_destroy(e->bk, t->space);
	dmd__copy_destroy_all(e, t);
	dmd__area_disown(e, t);
	dmd_info("tenant %s removed", t->cfg.name);
	dmac__free(t);
}

struct dmd_tenant *dmd__tenant_find(struct dmd_engine *e, const char *name)
{
	for (struct dmd_tenant *t = e->tenants; t; t = t->next)
		if (!strcmp(t->cfg.name, name))
			return t;
	return NULL;
}

/* ---- reload ------------------------------------------------------------- */

/*
 * Reload, all or nothing (engine.h). Two phases:
 *
 * Prepare (may fail; nothing visible changes): a struct dmd_tenant for every
 * new tenant (space, lease-table entry), and every device the new file lists
 * that no tenant holds now is opened and attached to its future tenant's
 * space (bus master off). On any failure all of it is undone and the running
 * configuration stays exactly as it was.
 *
 * Commit (cannot fail):
 * 1. Revocation: every session whose peer the new file no longer allows
 *    (tenant gone, uid/groups no longer listed, admin group gone), and every
 *    session that claims a device its tenant loses, is ended through the
 *    owner's hook exactly as a client death (devices stopped first, leases
 *    reclaimed). Removed tenants are freed when their last session ends.
 * 2. Devices that leave a tenant: dropped ones are closed; moved ones are
 *    moved to their new tenant's space with the backend's replace (removals
 *    before additions, so one reload can move a device between tenants).
 *    A move is the one step the kernel can still refuse after the commit
 *    point (it cannot be tried earlier: the device is in use until step 1);
 *    the device then stays in no tenant (closed), which is logged as an
 *    error.
 * 3. New tenants are linked, kept tenants take their new settings and their
 *    device lists in the new file's order (DEVICE indexes follow it).
 */

/* Which tenant holds @p bdf now: *idx its index in t->devs. */
static struct dmd_tenant *dmd__dev_holder(struct dmd_engine *e, const char *bdf, unsigned int *idx)
{
	for (struct dmd_tenant *t = e->tenants; t; t = t->next)
		for (unsigned int i = 0; i < t->ndevs; i++)
			if (!strcmp(dmd_bk_device_bdf(t->devs[i]), bdf)) {
				*idx = i;
				return t;
			}
	return NULL;
}

/* The tenant config of the new file that lists @p bdf, or NULL. */
static const struct dmd_tenant_config *dmd__dev_new_owner(const struct dmd_config *cfg,
							  const char *bdf)
{
	for (unsigned int i = 0; i < cfg->ntenants; i++)
		for (unsigned int k = 0; k < cfg->tenants[i].ndevices; k++)
			if (!strcmp(cfg->tenants[i].devices[k], bdf))
				return &cfg->tenants[i];
	return NULL;
}

/* Per tenant of the new file: its target, and the devices opened for it. */
struct dmd__rt {
	struct dmd_tenant *t; /* existing tenant, or a prepared new one */
	bool fresh;
	struct dmd_bk_dev *opened[DMD_CONFIG_MAX_DEVICES]; /* by position in its list */
};

static bool dmd__session_allowed(const struct dmd_config *cfg, const struct dmd_session *s)
{
	const struct dmd_tenant_config *tc;

	if (s->admin)
		return dmd_config_is_admin(cfg, &s->peer);
	if (!s->tenant)
		return true; /* not bound yet: HELLO decides */
	tc = dmd_config_tenant(cfg, s->tenant->cfg.name);
	return tc && dmd_config_allows(tc, &s->peer);
}

/* Whether the session claims a device its tenant does not keep. */
static bool dmd__session_loses_device(const struct dmd_config *cfg, const struct dmd_session *s)
{
	const struct dmd_tenant *t = s->tenant;

	for (unsigned int i = 0; t && i < t->ndevs; i++)
		if (t->dev_owner[i] == s &&
		    dmd__dev_new_owner(cfg, dmd_bk_device_bdf(t->devs[i])) !=
			dmd_config_tenant(cfg, t->cfg.name))
			return true;
	return false;
}

int dmd_engine_reload(struct dmd_engine *e, const struct dmd_config *cfg)
{
	struct dmd__rt *rt;
	struct dmd_tenant *t, *tnext;
	struct dmd_session *s, *snext;
	unsigned int i, k, nended = 0;
	int rc = 0;

	/* ---- prepare ---- */
	rt = dmac__calloc(cfg->ntenants ? cfg->ntenants : 1, sizeof(*rt));
	if (!rt) {
		dmd_err("reload refused: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < cfg->ntenants && !rc; i++) {
		const struct dmd_tenant_config *tc = &cfg->tenants[i];

		rt[i].t = dmd__tenant_find(e, tc->name);
		if (!rt[i].t) {
			rc = dmd__tenant_prepare(e, tc, &rt[i].t);
			if (rc) {
				dmd_err("reload refused: tenant %s: %s", tc->name, strerror(-rc));
				break;
			}
			rt[i].fresh = true;
		}
		for (k = 0; k < tc->ndevices; k++) {
			unsigned int idx;

			if (dmd__dev_holder(e, tc->devices[k], &idx))
				continue; /* kept, or moved at commit */
			rc = dmd_bk_device_open(e->bk, tc->devices[k], rt[i].t->space,
						&rt[i].opened[k]);
			if (rc) {
				dmd_err("reload refused: tenant %s: device %s: %s", tc->name,
					tc->devices[k], dmd__dev_err(e, rc));
				break;
			}
		}
	}
	if (rc) {
		for (i = 0; i < cfg->ntenants; i++) {
			for (k = 0; k < DMD_CONFIG_MAX_DEVICES; k++)
				if (rt[i].opened[k])
					dmd_bk_device_close(e->bk, rt[i].opened[k]);
			if (rt[i].fresh)
				dmd__tenant_unprepare(e, rt[i].t);
		}
		dmac__free(rt);
		return rc;
	}

	/* ---- commit ---- */
	/* 1. Revocation. Tenants leaving the file are only marked here: they
	 * are freed after their devices have moved out (step 2). */
	for (t = e->tenants; t; t = t->next)
		t->leaving = !dmd_config_tenant(cfg, t->cfg.name);
	for (s = e->sessions; s; s = snext) {
		const char *why = NULL;

		snext = s->next; /* ending s unlinks s only */
		if (!dmd__session_allowed(cfg, s))
			why = s->admin ? "admin permission revoked by reload"
			      : s->tenant && s->tenant->leaving
				  ? "tenant removed by reload"
				  : "peer no longer allowed for the tenant";
		else if (dmd__session_loses_device(cfg, s))
			why = "its device was taken from the tenant by reload";
		if (!why)
			continue;
		dmd_warn("session %" PRIu64 " (pid %d, uid %u): %s: ending it", s->id,
			 (int)s->peer.pid, (unsigned int)s->peer.uid, why);
		nended++;
		if (e->hooks.end_session)
			e->hooks.end_session(e->hooks.arg, s->owner, why);
	}
	/* 2. Devices leaving a tenant (no session claims them any more):
	 * moves first out of every tenant, then the drops. */
	for (t = e->tenants; t; t = t->next) {
		for (k = 0; k < t->ndevs;) {
			const char *bdf = dmd_bk_device_bdf(t->devs[k]);
			const struct dmd_tenant_config *to = dmd__dev_new_owner(cfg, bdf);
			struct dmd_bk_dev *d = t->devs[k];

			if (to && !t->leaving && to == dmd_config_tenant(cfg, t->cfg.name)) {
				k++;
				continue; /* stays */
			}
			if (t->dev_owner[k]) {
				/* only without an end_session hook (tests of the engine) */
				dmd_bk_device_stop(e->bk, d);
			}
			/* out of t: shift the arrays down */
			memmove(&t->devs[k], &t->devs[k + 1],
				(t->ndevs - k - 1) * sizeof(t->devs[0]));
			memmove(&t->dev_owner[k], &t->dev_owner[k + 1],
				(t->ndevs - k - 1) * sizeof(t->dev_owner[0]));
			t->ndevs--;
			t->devs[t->ndevs] = NULL;
			t->dev_owner[t->ndevs] = NULL;
			if (!to) {
				dmd_info("tenant %s: device %s dropped by reload: bus master off, "
					 "detached, closed",
					 t->cfg.name, bdf);
				dmd_bk_device_close(e->bk, d);
				continue;
			}
			i = (unsigned int)(to - cfg->tenants);
			for (unsigned int p = 0; p < to->ndevices; p++) {
				if (strcmp(to->devices[p], bdf))
					continue;
				rc = dmd_bk_device_move(e->bk, d, rt[i].t->space);
				if (rc) {
					dmd_err(
					    "reload: device %s could not move from tenant %s to "
					    "tenant %s (%s): closed, in no tenant",
					    bdf, t->cfg.name, to->name, dmd_bk_strerror(e->bk, rc));
					dmd_bk_device_close(e->bk, d);
				} else {
					dmd_info("device %s moved from tenant %s to tenant %s by "
						 "reload (bus master off until claimed)",
						 bdf, t->cfg.name, to->name);
					rt[i].opened[p] = d;
				}
				break;
			}
		}
	}
	/* Removed tenants whose sessions all ended (or that had none). */
	for (t = e->tenants; t; t = tnext) {
		tnext = t->next;
		if (!t->leaving)
			continue;
		t->leaving = 0;
		t->removed = 1; /* refused to HELLO, freed with its last session */
		if (!t->nsessions)
			dmd__tenant_free(e, t);
		else
			dmd_warn("tenant %s: gone from the config; %" PRIu64
				 " session(s) still to end",
				 t->cfg.name, t->nsessions);
	}
	/* 3. New and kept tenants take the new file's settings and devices. */
	for (i = 0; i < cfg->ntenants; i++) {
		const struct dmd_tenant_config *tc = &cfg->tenants[i];
		struct dmd_bk_dev *devs[DMD_CONFIG_MAX_DEVICES] = {0};
		struct dmd_session *owners[DMD_CONFIG_MAX_DEVICES] = {0};
		unsigned int n = 0;

		t = rt[i].t;
		for (k = 0; k < tc->ndevices; k++) {
			struct dmd_bk_dev *d = rt[i].opened[k];
			struct dmd_session *o = NULL;

			for (unsigned int j = 0; !d && j < t->ndevs; j++)
				if (t->devs[j] &&
				    !strcmp(dmd_bk_device_bdf(t->devs[j]), tc->devices[k])) {
					d = t->devs[j];
					o = t->dev_owner[j];
				}
			if (!d)
				continue; /* a move that failed: logged */
			devs[n] = d;
			owners[n++] = o;
		}
		memcpy(t->devs, devs, sizeof(devs));
		memcpy(t->dev_owner, owners, sizeof(owners));
		t->ndevs = n;
		t->cfg = *tc;
		t->removed = 0;
		if (rt[i].fresh) {
			dmd__tenant_link(e, t);
			continue;
		}
		dmac_lease_tenant_set_quota(e->leases, t->id, tc->quota_leases,
					    tc->quota_pinned_bytes);
		dmd_info("tenant %s: updated (quotas %" PRIu64 " bytes, %" PRIu64
			 " leases, %u device(s))",
			 tc->name, tc->quota_pinned_bytes, tc->quota_leases, t->ndevs);
	}
	dmac_cache_set_budget(e->cache, cfg->pinned_budget);
	dmd__admin_set(e, cfg);
	e->max_regs_per_session = cfg->max_registrations_per_session;
	/* new spaces and attached devices may narrow what every space can map */
	dmd__iova_refresh(e);
	dmac__free(rt);
	if (nended)
		dmd_info("reload ended %u session(s) whose permission it took away", nended);
	return 0;
}

int dmd_engine_device(struct dmd_engine *e, struct dmd_session *s, uint32_t index, const char *bdf,
		      unsigned int max_fds, struct dmd_bk_dev_info *info, bool *trusted)
{
	struct dmd_tenant *t = s->tenant;
	char full[DMD_CONFIG_BDF_MAX];
	int rc;

	if (!t)
		return -EPERM;
	if (bdf) {
		if (dmd_config_parse_bdf(bdf, full))
			return -ENOENT;
		for (index = 0; index < t->ndevs; index++)
			if (!strcmp(dmd_bk_device_bdf(t->devs[index]), full))
				break;
	}
	if (index >= t->ndevs)
		return -ENOENT;
	if (t->dev_owner[index])
		return t->dev_owner[index] == s ? -EALREADY : -EBUSY;
	/* Never hand a device over while an earlier holder can still reach its
	 * registers: its BAR files must have no writable open file left. */
	rc = dmd_bk_device_bars_free(e->bk, t->devs[index]);
	if (rc)
		return rc == -ENODEV ? rc : -EBUSY;
	rc = dmd_bk_device_restart(e->bk, t->devs[index]);
	if (rc)
		return rc;
	rc = dmd_bk_device_export(e->bk, t->devs[index], t->cfg.trusted, max_fds, info);
	if (rc) {
		dmd_bk_device_stop(e->bk, t->devs[index]);
		return rc;
	}
	t->dev_owner[index] = s;
	*trusted = t->cfg.trusted;
	dmd_info("tenant %s: device %s claimed by session %" PRIu64 " (pid %d, %s mode)",
		 t->cfg.name, info->bdf, s->id, (int)s->peer.pid,
		 t->cfg.trusted ? "trusted" : "strict");
	return 0;
}

void dmd_engine_device_unclaim(struct dmd_engine *e, struct dmd_session *s, const char *bdf)
{
	struct dmd_tenant *t = s->tenant;

	for (unsigned int i = 0; t && i < t->ndevs; i++) {
		if (t->dev_owner[i] != s || strcmp(dmd_bk_device_bdf(t->devs[i]), bdf))
			continue;
		dmd_bk_device_stop(e->bk, t->devs[i]);
		t->dev_owner[i] = NULL;
	}
}

int dmd_engine_admin_tenants(struct dmd_engine *e, struct dmd_session *s, uint64_t cursor,
			     uint32_t max, struct dmd_tenant_view *out, uint32_t *n, uint64_t *next)
{
	uint64_t from = cursor;
	uint32_t k = 0;

	if (!s->admin)
		return -EPERM;
	if (cursor > e->next_tenant_id)
		return -EINVAL; /* never issued */
	*next = 0;
	/* The list is newest first; list by id, increasing: pick the smallest id
	 * >= from each time (a handful of configured tenants). */
	for (;;) {
		const struct dmd_tenant *best = NULL;
		struct dmac_lease_tenant_stats ts;

		for (const struct dmd_tenant *t = e->tenants; t; t = t->next)
			if (t->id >= from && (!best || t->id < best->id))
				best = t;
		if (!best)
			break;
		if (k == max) {
			*next = best->id;
			break;
		}
		memset(&out[k], 0, sizeof(out[k]));
		memcpy(out[k].name, best->cfg.name, sizeof(out[k].name));
		out[k].sessions = best->nsessions;
		if (dmac_lease_tenant_stats(e->leases, best->id, &ts) == 0) {
			out[k].leases = ts.leases;
			out[k].bytes_leased = ts.bytes;
		}
		out[k].quota_pinned_bytes = best->cfg.quota_pinned_bytes;
		out[k].quota_leases = best->cfg.quota_leases;
		out[k].iova_start = best->cfg.iova_start;
		out[k].iova_last = best->cfg.iova_last;
		out[k].bytes_registered = best->reg_bytes;
		out[k].bytes_pinned = best->reg_bytes + best->unref_bytes;
		out[k].bytes_kept = best->kept_bytes;
		out[k].registrations = best->nregs;
		out[k].cache_hits = best->cache_hits;
		out[k].cache_misses = best->cache_misses;
		out[k].copy_hits = best->copy_hits;
		out[k].copy_misses = best->copy_misses;
		out[k].lease_requests = best->lease_requests;
		k++;
		from = best->id + 1;
	}
	*n = k;
	return 0;
}
