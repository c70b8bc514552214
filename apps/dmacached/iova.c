/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The IOVA plan: where master areas go.
 *
 * Every master area sits at the same IOVA in the master space and, once
 * leased, in the tenant spaces, so an IOVA is usable only if EVERY space can
 * map it: the allocator's ranges are the intersection of the usable ranges
 * of the master space and of every tenant space (IOMMU_IOAS_IOVA_RANGES:
 * a space with a device attached reports its IOMMU's aperture minus reserved
 * regions such as the x86 MSI window; one without reports everything),
 * clipped below DMD_IOVA_FLOOR. The plan is read when the engine is created
 * (after every tenant space exists and every device is attached) and again
 * after every reload (dmd__iova_refresh()): a range that stopped being usable
 * is taken out of the allocator (its free parts reserved as holes; areas
 * already inside stay, logged, and their leases fail in the spaces that
 * cannot map them, as the kernel says).
 *
 * Windows: a tenant with an explicit window [iova_start, iova_last] gets its
 * areas inside it, first fit from its start; a tenant without one gets the
 * allocator's best fit OUTSIDE every explicit window, so no other tenant's
 * areas ever take room in a window. When a window (or the whole space) is
 * full, the unreferenced cached areas in it are evicted and the allocation is
 * tried once more before ENOSPC.
 *
 * Invariants: IOVAs and lengths are multiples of 4 KiB; 'last' is inclusive;
 * alignment is the backing page size when above 2 MiB, else 2 MiB for
 * lengths from 2 MiB, else 4 KiB (the IOMMU can use large entries).
 * Concurrency: event-loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "dmac_alloc.h"
#include "engine_internal.h"
#include "log.h"

/*
 * No IOVA below 2 MiB is ever handed out, in any space (tenant copies sit at
 * the master IOVA, so clipping the master allocator covers them): many
 * drivers treat IOVA 0 as NULL (an NVMe PRP entry of 0, DPDK code testing an
 * IOVA against 0), and a whole 2 MiB keeps the first area 2 MiB aligned.
 */
#define DMD_IOVA_FLOOR (2ULL << 20)

/* Intersect the range set @p a (n, sorted, disjoint) with @p b (m): into out. */
static uint32_t dmd__intersect(const struct dmd_bk_range *a, uint32_t n,
			       const struct dmd_bk_range *b, uint32_t m, struct dmd_bk_range *out,
			       uint32_t cap)
{
	uint32_t i = 0, j = 0, k = 0;

	while (i < n && j < m && k < cap) {
		uint64_t s = a[i].start > b[j].start ? a[i].start : b[j].start;
		uint64_t l = a[i].last < b[j].last ? a[i].last : b[j].last;

		if (s <= l)
			out[k++] = (struct dmd_bk_range){s, l};
		if (a[i].last < b[j].last)
			i++;
		else
			j++;
	}
	return k;
}

/* The usable ranges of every space, intersected and clipped (sorted). */
static int dmd__usable(struct dmd_engine *e, struct dmd_bk_range *out, uint32_t *nout)
{
	struct dmd_bk_range acc[DMD_MAX_RANGES], r[DMD_MAX_RANGES], tmp[DMD_MAX_RANGES];
	uint32_t na = DMD_MAX_RANGES, nr, k = 0;
	int rc;

	rc = dmd_bk_iova_ranges(e->bk, e->master, acc, &na);
	if (rc)
		return rc;
	for (struct dmd_tenant *t = e->tenants; t; t = t->next) {
		nr = DMD_MAX_RANGES;
		rc = dmd_bk_iova_ranges(e->bk, t->space, r, &nr);
		if (rc)
			return rc;
		na = dmd__intersect(acc, na, r, nr, tmp, DMD_MAX_RANGES);
		memcpy(acc, tmp, na * sizeof(acc[0]));
	}
	for (uint32_t i = 0; i < na; i++) {
		uint64_t s = acc[i].start < DMD_IOVA_FLOOR ? DMD_IOVA_FLOOR : acc[i].start;

		s = (s + DMAC_IOVA_PAGE - 1) & ~(DMAC_IOVA_PAGE - 1);
		if (acc[i].last < s || acc[i].last - s < DMAC_IOVA_PAGE - 1)
			continue;
		out[k++] = (struct dmd_bk_range){s, acc[i].last};
	}
	*nout = k;
	return k ? 0 : -ENOSPC;
}

int dmd__iova_setup(struct dmd_engine *e)
{
	struct dmd_bk_range u[DMD_MAX_RANGES];
	struct dmac_iova_range ir[DMD_MAX_RANGES];
	uint32_t n;
	int rc;

	rc = dmd__usable(e, u, &n);
	if (rc) {
		dmd_err("no IOVA usable by every space (%s)", strerror(-rc));
		return rc;
	}
	for (uint32_t i = 0; i < n; i++)
		ir[i] = (struct dmac_iova_range){u[i].start, u[i].last};
	rc = dmac_iova_alloc_create(ir, n, &e->alloc);
	if (rc)
		return rc;
	memcpy(e->usable, u, n * sizeof(u[0]));
	e->nusable = n;
	for (uint32_t i = 0; i < n; i++)
		dmd_info("IOVA usable by every space: [0x%" PRIx64 ", 0x%" PRIx64 "]", u[i].start,
			 u[i].last);
	return 0;
}

/* Take [s, l] out of the allocator: its free parts become holes; what is
 * allocated inside (areas) stays, logged. */
static void dmd__carve(struct dmd_engine *e, uint64_t s, uint64_t l)
{
	uint64_t cur = s, fs, fl;

	while (cur <= l && dmac_iova_alloc_next_free(e->alloc, cur, &fs, &fl) == 0 && fs <= l) {
		uint64_t end = fl < l ? fl : l;

		if (fs > cur)
			dmd_warn("IOVA [0x%" PRIx64 ", 0x%" PRIx64 "] holds areas but is no longer "
				 "usable by every space: their leases fail where it is not",
				 cur, fs - 1);
		if (dmac_iova_alloc_reserve(e->alloc, fs, end - fs + 1) == 0)
			e->hole_bytes += end - fs + 1;
		else
			dmd_warn("cannot reserve the IOVA hole [0x%" PRIx64 ", 0x%" PRIx64 "]", fs,
				 end);
		if (end == UINT64_MAX)
			return;
		cur = end + 1;
	}
	if (cur <= l)
		dmd_warn("IOVA [0x%" PRIx64 ", 0x%" PRIx64 "] holds areas but is no longer usable "
			 "by every space: their leases fail where it is not",
			 cur, l);
}

void dmd__iova_refresh(struct dmd_engine *e)
{
	struct dmd_bk_range u[DMD_MAX_RANGES];
	uint32_t n, j = 0;
	uint64_t cur;

	if (dmd__usable(e, u, &n)) {
		dmd_err("after the reload no IOVA is usable by every space: new areas will fail");
		n = 0;
	}
	/* everything usable before and not now is carved out (ranges only
	 * shrink here: growth is ignored until a restart) */
	for (uint32_t i = 0; i < e->nusable; i++) {
		cur = e->usable[i].start;
		while (cur <= e->usable[i].last) {
			while (j < n && u[j].last < cur)
				j++;
			if (j == n || u[j].start > e->usable[i].last) {
				dmd__carve(e, cur, e->usable[i].last);
				break;
			}
			if (u[j].start > cur)
				dmd__carve(e, cur, u[j].start - 1);
			if (u[j].last >= e->usable[i].last)
				break;
			cur = u[j].last + 1;
		}
	}
	if (n)
		memcpy(e->usable, u, n * sizeof(u[0]));
	e->nusable = n;
}

static uint64_t dmd__align(uint64_t length, uint64_t page_size)
{
	if (page_size > DMAC_IOVA_ALIGN_2M)
		return page_size;
	return length >= DMAC_IOVA_ALIGN_2M ? DMAC_IOVA_ALIGN_2M : DMAC_IOVA_PAGE;
}

/* First fit of [length, align] inside [lo, hi]; reserves it. */
static int dmd__first_fit(struct dmd_engine *e, uint64_t lo, uint64_t hi, uint64_t length,
			  uint64_t align, uint64_t *iova)
{
	uint64_t cur = lo, fs, fl;

	while (cur <= hi && dmac_iova_alloc_next_free(e->alloc, cur, &fs, &fl) == 0 && fs <= hi) {
		uint64_t end = fl < hi ? fl : hi, cand, last;

		if (__builtin_add_overflow(fs, align - 1, &cand))
			return -ENOSPC;
		cand &= ~(align - 1);
		if (!__builtin_add_overflow(cand, length - 1, &last) && last <= end &&
		    dmac_iova_alloc_reserve(e->alloc, cand, length) == 0) {
			*iova = cand;
			return 0;
		}
		if (end == UINT64_MAX)
			break;
		cur = end + 1;
	}
	return -ENOSPC;
}

/* Explicit windows of the configuration, sorted by start (at most the tenants). */
static uint32_t dmd__windows(const struct dmd_engine *e, struct dmd_bk_range *w, uint32_t cap)
{
	uint32_t n = 0;

	for (const struct dmd_tenant *t = e->tenants; t && n < cap; t = t->next) {
		uint32_t i;

		if (t->cfg.iova_start == 0 && t->cfg.iova_last == UINT64_MAX)
			continue;
		for (i = n; i > 0 && w[i - 1].start > t->cfg.iova_start; i--)
			w[i] = w[i - 1];
		w[i] = (struct dmd_bk_range){t->cfg.iova_start, t->cfg.iova_last};
		n++;
	}
	return n;
}

/* Whole-space tenant: best fit; if it lands in a window, first fit between windows. */
static int dmd__alloc_outside(struct dmd_engine *e, uint64_t length, uint64_t align, uint64_t *iova)
{
	struct dmd_bk_range w[64];
	uint32_t nw = dmd__windows(e, w, 64);
	uint64_t lo = 0;
	int rc;

	rc = dmac_iova_alloc_alloc(e->alloc, length,
				   align == DMAC_IOVA_PAGE ? DMAC_IOVA_PAGE : align, iova);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < nw; i++)
		if (*iova <= w[i].last && w[i].start <= *iova + length - 1) {
			dmac_iova_alloc_free(e->alloc, *iova, length);
			rc = -ENOSPC;
			break;
		}
	if (!rc)
		return 0;
	for (uint32_t i = 0; i <= nw; i++) {
		uint64_t hi = i < nw ? (w[i].start ? w[i].start - 1 : 0) : UINT64_MAX;

		if ((i == nw || w[i].start > lo) &&
		    dmd__first_fit(e, lo, hi, length, align, iova) == 0)
			return 0;
		if (i == nw || w[i].last == UINT64_MAX)
			break;
		lo = w[i].last + 1;
	}
	return -ENOSPC;
}

struct dmd__evict_in {
	struct dmd_engine *e;
	uint64_t lo, hi, n;
	int outside; /* evict only areas outside every window */
};

static int dmd__evict_in_cb(void *arg, struct dmac_cache_area *area,
			    const struct dmac_cache_area_info *info)
{
	struct dmd__evict_in *x = arg;

	if (info->refs || info->iova > x->hi || info->iova + info->range.length - 1 < x->lo)
		return 0;
	if (x->outside) {
		struct dmd_bk_range w[64];
		uint32_t nw = dmd__windows(x->e, w, 64);

		for (uint32_t i = 0; i < nw; i++)
			if (info->iova <= w[i].last &&
			    w[i].start <= info->iova + info->range.length - 1)
				return 0;
	}
	if (dmac_cache_evict(x->e->cache, area) == 0)
		x->n++;
	return 0;
}

int dmd__iova_alloc(struct dmd_engine *e, const struct dmd_tenant *t, uint64_t length,
		    uint64_t page_size, uint64_t *iova)
{
	uint64_t align = dmd__align(length, page_size);
	bool whole = t->cfg.iova_start == 0 && t->cfg.iova_last == UINT64_MAX;
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct dmd__evict_in x = {e, t->cfg.iova_start, t->cfg.iova_last, 0, whole};

		rc = whole ? dmd__alloc_outside(e, length, align, iova)
			   : dmd__first_fit(e, t->cfg.iova_start, t->cfg.iova_last, length, align,
					    iova);
		if (rc != -ENOSPC || attempt)
			break;
		/* full: evict what nobody uses in that room, then once more */
		dmac_cache_foreach(e->cache, dmd__evict_in_cb, &x);
		if (!x.n)
			break;
		dmd_info("tenant %s: IOVA %s full: %" PRIu64 " unused area(s) evicted", t->cfg.name,
			 whole ? "space" : "window", x.n);
	}
	if (rc == -ENOSPC)
		dmd_info("tenant %s: no IOVA for 0x%" PRIx64 " bytes %s", t->cfg.name, length,
			 whole ? "outside the explicit windows" : "inside its window");
	return rc;
}

void dmd__iova_free(struct dmd_engine *e, uint64_t iova, uint64_t length)
{
	if (dmac_iova_alloc_free(e->alloc, iova, length))
		dmd_err("IOVA [0x%" PRIx64 ", +0x%" PRIx64 ") freed but not allocated", iova,
			length);
}
