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

int dmd__tenant_add(struct dmd_engine *e, const struct dmd_tenant_config *cfg)
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
	for (t->ndevs = 0; t->ndevs < cfg->ndevices; t->ndevs++) {
		const char *bdf = cfg->devices[t->ndevs];

		rc = dmd_bk_device_open(e->bk, bdf, t->space, &t->devs[t->ndevs]);
		if (rc) {
			dmd_err("tenant %s: device %s: %s", cfg->name, bdf,
				rc == -ENODEV	? "no such device bound to vfio-pci"
				: rc == -EINVAL ? "already open (another tenant or process?)"
						: dmd_bk_strerror(e->bk, rc));
			goto err_close_devices;
		}
		dmd_info("tenant %s: device %s attached to space %u, bus master on", cfg->name, bdf,
			 t->space);
	}
	rc = dmac_lease_tenant_add(e->leases, t->id, cfg->quota_leases, cfg->quota_pinned_bytes);
	if (rc)
		goto err_close_devices;
	t->next = e->tenants;
	e->tenants = t;
	e->ntenants++;
	dmd_info("tenant %s: space %u, window [0x%" PRIx64 ", 0x%" PRIx64 "], %u device(s)",
		 cfg->name, t->space, cfg->iova_start, cfg->iova_last, t->ndevs);
	return 0;

err_close_devices:
	while (t->ndevs)
		dmd_bk_device_close(e->bk, t->devs[--t->ndevs]);
	dmd_bk_space_destroy(e->bk, t->space);
err_free_tenant:
	dmac__free(t);
	return rc;
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
	dmd_bk_space_destroy(e->bk, t->space);
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

int dmd_engine_reload(struct dmd_engine *e, const struct dmd_config *cfg)
{
	struct dmd_tenant *t, *next;
	int rc;

	dmac_cache_set_budget(e->cache, cfg->pinned_budget);
	dmd__admin_set(e, cfg);
	for (unsigned int i = 0; i < cfg->ntenants; i++) {
		const struct dmd_tenant_config *tc = &cfg->tenants[i];

		t = dmd__tenant_find(e, tc->name);
		if (!t) {
			rc = dmd__tenant_add(e, tc);
			if (rc)
				return rc;
			continue;
		}
		if (tc->ndevices != t->cfg.ndevices ||
		    memcmp(tc->devices, t->cfg.devices, sizeof(tc->devices)))
			dmd_warn("tenant %s: devices changed in the config; the change takes "
				 "effect at the next start",
				 tc->name);
		t->cfg = *tc;
		t->removed = 0;
		dmac_lease_tenant_set_quota(e->leases, t->id, tc->quota_leases,
					    tc->quota_pinned_bytes);
		dmd_info("tenant %s: updated (quotas %" PRIu64 " bytes, %" PRIu64 " leases)",
			 tc->name, tc->quota_pinned_bytes, tc->quota_leases);
	}
	for (t = e->tenants; t; t = next) {
		next = t->next;
		if (dmd_config_tenant(cfg, t->cfg.name))
			continue;
		if (t->nsessions) {
			t->removed = 1;
			dmd_warn("tenant %s: gone from the config but has %" PRIu64
				 " live session(s); kept until they end, new HELLOs refused",
				 t->cfg.name, t->nsessions);
			continue;
		}
		dmd__tenant_free(e, t);
	}
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
		k++;
		from = best->id + 1;
	}
	*n = k;
	return 0;
}
