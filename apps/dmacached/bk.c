/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backend wrapper (see bk.h): the only daemon translation unit besides the
 * test backend that includes include/dmac/backend.h.
 *
 * Invariants: 'ops' and 'be' are both set for the whole life of a struct
 * dmd_bk; every failing call is logged with the call, the space and the range
 * (the backend logs the kernel's side too).
 * Concurrency: event-loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "bk.h"
#include "dmac/backend.h"
#include "dmac_alloc.h"
#include "log.h"
#ifdef DMACD_TEST_BUILD
#include "dmac/iommufd_backend.h"
#include "test_hooks.h"
#endif

_Static_assert(DMD_PROT_READ == (unsigned int)DMAC_PROT_READ, "prot read");
_Static_assert(DMD_PROT_WRITE == (unsigned int)DMAC_PROT_WRITE, "prot write");
_Static_assert(sizeof(struct dmd_bk_range) == sizeof(struct dmac_iova_range), "range layout");

struct dmd_bk {
	const struct dmac_backend_ops *ops;
	struct dmac_backend *be;
};

#ifdef DMACD_TEST_BUILD
/* The iommufd of the iommufd backend, else -1 (test hooks only). */
static int dmd__bk_test_iommufd(const struct dmd_bk *bk)
{
	return bk->ops == &dmac_iommufd_backend_ops ? dmac_iommufd_backend_fd(bk->be) : -1;
}
#endif

void dmd_bk_register_builtin(void)
{
	dmac_backend_register(&dmac_iommufd_backend_ops);
	dmac_backend_register(&dmac_vfio_compat_ops);
}

bool dmd_bk_known(const char *name)
{
	return dmac_backend_find(name) != NULL;
}

int dmd_bk_open(const char *force, struct dmd_bk **out)
{
	const struct dmac_backend_ops *ops;
	struct dmd_bk *bk;
	char reason[256] = "";
	int rc;

	rc = dmac_backend_choose(force, &ops, reason, sizeof(reason));
	if (rc) {
		dmd_err("no backend: %s (%s)", reason, strerror(-rc));
		return rc;
	}
	dmd_info("backend %s: %s", ops->name, reason);
	bk = dmac__calloc(1, sizeof(*bk));
	if (!bk)
		return -ENOMEM;
	rc = ops->open(NULL, &bk->be);
	if (rc) {
		dmd_err("backend %s: open failed: %s", ops->name, ops->strerror(-rc));
		goto err_free_bk;
	}
	bk->ops = ops;
	*out = bk;
	return 0;

err_free_bk:
	dmac__free(bk);
	return rc;
}

void dmd_bk_close(struct dmd_bk *bk)
{
	if (!bk)
		return;
	bk->ops->close(bk->be);
	dmac__free(bk);
}

const char *dmd_bk_name(const struct dmd_bk *bk)
{
	return bk->ops->name;
}

const char *dmd_bk_strerror(const struct dmd_bk *bk, int err)
{
	return bk->ops->strerror(err < 0 ? -err : err);
}

int dmd_bk_space_alloc(struct dmd_bk *bk, uint32_t *id)
{
	int rc = bk->ops->space_alloc(bk->be, id);

	if (rc)
		dmd_err("space_alloc: %s", dmd_bk_strerror(bk, rc));
#ifdef DMACD_TEST_BUILD
	if (!rc) {
		rc = dmd_test_hooks_space_alloc(dmd__bk_test_iommufd(bk), *id);
		if (rc)
			bk->ops->space_destroy(bk->be, *id);
	}
#endif
	return rc;
}

void dmd_bk_space_destroy(struct dmd_bk *bk, uint32_t id)
{
	int rc;

#ifdef DMACD_TEST_BUILD
	dmd_test_hooks_space_destroy(dmd__bk_test_iommufd(bk), id);
#endif
	rc = bk->ops->space_destroy(bk->be, id);

	if (rc)
		dmd_err("space_destroy(%u): %s", id, dmd_bk_strerror(bk, rc));
}

int dmd_bk_iova_ranges(struct dmd_bk *bk, uint32_t space, struct dmd_bk_range *r, uint32_t *nr)
{
	int rc = bk->ops->iova_ranges(bk->be, space, (struct dmac_iova_range *)r, nr, NULL);

	if (rc)
		dmd_err("iova_ranges(space %u): %s", space, dmd_bk_strerror(bk, rc));
	return rc;
}

int dmd_bk_map(struct dmd_bk *bk, uint32_t space, void *va, uint64_t len, uint64_t iova,
	       uint32_t prot)
{
	int rc = bk->ops->map(bk->be, space, va, len, prot, DMAC_MAP_FIXED_IOVA, &iova);

	if (rc)
		dmd_err("map(space %u, iova 0x%" PRIx64 ", length 0x%" PRIx64 "): %s", space, iova,
			len, dmd_bk_strerror(bk, rc));
	return rc;
}

int dmd_bk_copy(struct dmd_bk *bk, uint32_t dst, uint32_t src, uint64_t iova, uint64_t len,
		uint32_t prot)
{
	uint64_t dst_iova = iova;
	int rc = bk->ops->copy(bk->be, dst, src, iova, len, prot, DMAC_MAP_FIXED_IOVA, &dst_iova);

	if (rc)
		dmd_err("copy(space %u -> %u, iova 0x%" PRIx64 ", length 0x%" PRIx64 "): %s", src,
			dst, iova, len, dmd_bk_strerror(bk, rc));
	return rc;
}

int dmd_bk_unmap(struct dmd_bk *bk, uint32_t space, uint64_t iova, uint64_t len)
{
	int rc = bk->ops->unmap(bk->be, space, iova, len, NULL);

	if (rc)
		dmd_err("unmap(space %u, iova 0x%" PRIx64 ", length 0x%" PRIx64 "): %s", space,
			iova, len, dmd_bk_strerror(bk, rc));
	return rc;
}
