/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test backend: struct dmac_backend_ops simulated in process, for the
 * 'daemon' test suite (linked into dmacached-test only).
 *
 * Invariants:
 * - A space is a set of disjoint mappings [iova, iova + length) (end
 *   exclusive), in an AVL tree by iova, so that a call costs O(log n) as in
 *   the kernel's interval trees (a benchmark of the daemon at 100,000
 *   mappings measures the daemon, not this simulation). map and copy refuse
 *   any overlap with -EEXIST; copy needs its source range inside one mapping
 *   (-ENOENT); unmap removes the mappings lying entirely inside the range and
 *   refuses with -ENOENT (changing nothing) when a mapping would be split or
 *   none is inside - iommufd's rules.
 * - Every call of open, space_alloc, space_destroy, iova_ranges, map, copy,
 *   unmap and unmap_all is counted and logged (op, space, iova, length, va,
 *   result); the Nth counted call after dmd_test_backend_fail(N, err) fails
 *   with -err before changing anything, once.
 * - The backend plays the kernel: its own bookkeeping uses plain malloc, not
 *   dmac__malloc, so allocation fault injection targets the daemon only.
 * - IOVA ranges, as the kernel reports them: a space with no device attached
 *   can map everything, [0, 2^64 - 1]; one with a device only what the
 *   device's IOMMU can: [0, 0xfedfffff] and [0xfef00000, 2^48 - 1] (a hole
 *   where x86's MSI window is, a 48-bit aperture). Alignment 4 KiB. map and
 *   copy outside the ranges are -EINVAL, as IOMMU_IOAS_MAP/COPY say.
 * - Devices: the PCI addresses listed (comma-separated, full form) in
 *   $DMAC_TEST_DEVICES exist; device_open of any other is -ENODEV, of one
 *   already open -EINVAL. A device is attached to at most one space (0 =
 *   detached); device_close detaches first. Device calls are logged in the
 *   call log (space = the device's space) and, one line each ("open BDF RC",
 *   "attach BDF SPACE RC", "bus_master BDF 0|1", "detach BDF RC", "close
 *   BDF", "irqs BDF INDEX N", "reset BDF"; and "unmap SPACE IOVA LENGTH" for
 *   every successful unmap, so tests can check that a device's DMA stops
 *   before its tenant's copies go), appended to $DMAC_TEST_DEVICE_LOG if set:
 *   that file outlives the daemon, so tests read what shutdown did. Device
 *   calls are not counted for fault injection. Every device supports reset
 *   and has 4 MSI-X vectors (no MSI, no INTx); its sysfs tree (vendor,
 *   device, numa_node, resource, resourceN) and its "VFIO device node"
 *   (dev/vfio/devices/BDF, opened for trusted mode) are files the test
 *   creates under $DMAC_TEST_SYSFS (bk.c reads them there).
 * Concurrency: single-threaded (the daemon's event loop).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/backend.h"
#include "dmac_avl.h"
#include "test_backend.h"

struct tb_map {
	struct dmac__avl node; /* first: a node is its map */
	uint64_t iova, length, va;
	uint32_t prot;
};

struct tb_space {
	uint32_t id;
	int live;
	struct dmac__avl *maps; /* struct tb_map by iova */
	size_t nmaps;
};

struct tb_call {
	const char *op;
	uint32_t space;
	uint64_t iova, length, va;
	int rc;
};

struct dmac_backend {
	int open;
};

static struct dmac_backend tb_instance;
static struct tb_space *spaces;
static size_t nspaces;
static struct tb_call *calls;
static size_t ncalls, calls_cap;
static uint64_t ncounted, nfailed;
/* map and copy calls refused because the range was mapped already: a daemon
 * that reuses an IOVA still mapped in a space shows up here */
static uint64_t noverlap;
static uint64_t fail_countdown;
static int fail_errno;

static const struct dmac_iova_range tb_ranges[] = {
    {0, 0xfedfffffull},
    {0xfef00000ull, (UINT64_C(1) << 48) - 1},
};
static const struct dmac_iova_range tb_ranges_all[] = {{0, UINT64_MAX}};

static int tb_space_has_device(uint32_t id);

/* The ranges of space @p id now (see the top of this file). */
static const struct dmac_iova_range *tb_ranges_of(uint32_t id, uint32_t *n)
{
	if (tb_space_has_device(id)) {
		*n = sizeof(tb_ranges) / sizeof(tb_ranges[0]);
		return tb_ranges;
	}
	*n = 1;
	return tb_ranges_all;
}

/* Whether [iova, iova + length) lies inside one usable range of the space. */
static int tb_in_ranges(uint32_t id, uint64_t iova, uint64_t length)
{
	uint32_t n;
	const struct dmac_iova_range *r = tb_ranges_of(id, &n);

	for (uint32_t i = 0; i < n; i++)
		if (iova >= r[i].start && iova + (length - 1) <= r[i].last)
			return 1;
	return 0;
}

void dmd_test_backend_fail(uint64_t n, int err)
{
	fail_countdown = n;
	fail_errno = err > 0 ? err : EIO;
}

/* Count a call; returns -errno if this one must fail. */
static int tb_enter(void)
{
	ncounted++;
	if (fail_countdown && --fail_countdown == 0) {
		nfailed++;
		return -fail_errno;
	}
	return 0;
}

static int tb_log(const char *op, uint32_t space, uint64_t iova, uint64_t length, uint64_t va,
		  int rc)
{
	if (ncalls == calls_cap) {
		size_t ncap = calls_cap ? calls_cap * 2 : 256;
		struct tb_call *n = realloc(calls, ncap * sizeof(*n));

		if (!n)
			return rc; /* the log is best effort; the call itself stands */
		calls = n;
		calls_cap = ncap;
	}
	calls[ncalls++] = (struct tb_call){op, space, iova, length, va, rc};
	return rc;
}

static struct tb_space *tb_space(uint32_t id)
{
	for (size_t i = 0; i < nspaces; i++)
		if (spaces[i].id == id && spaces[i].live)
			return &spaces[i];
	return NULL;
}

static int tb_probe(char *reason, size_t reason_len)
{
	snprintf(reason, reason_len, "in-process test backend (dmacached-test)");
	return 0;
}

static int tb_open(const struct dmac_backend_config *cfg, struct dmac_backend **out)
{
	int rc = tb_enter();

	tb_log("open", 0, 0, 0, 0, rc);
	if (rc)
		return rc;
	tb_instance.open = 1;
	*out = &tb_instance;
	return 0;
}

static struct dmac_device *tb_devices;
static void tb_devlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tb_device_close(struct dmac_backend *be, struct dmac_device *dev);
static void tb_free_maps(struct tb_space *s);

static void tb_close(struct dmac_backend *be)
{
	while (tb_devices) /* the backend contract: close closes open devices */
		tb_device_close(be, tb_devices);
	tb_log("close", 0, 0, 0, 0, 0);
	for (size_t i = 0; i < nspaces; i++)
		tb_free_maps(&spaces[i]);
	free(spaces);
	spaces = NULL;
	nspaces = 0;
	free(calls);
	calls = NULL;
	ncalls = calls_cap = 0;
	if (be)
		be->open = 0;
}

static uint64_t tb_features(const struct dmac_backend *be)
{
	return DMAC_BACKEND_F_COPY | DMAC_BACKEND_F_MULTI_SPACE;
}

static const char *tb_strerror(int err)
{
	switch (err) {
	case ENOENT:
		return "test backend: no such space, or no mapping exactly at that range";
	case EEXIST:
		return "test backend: range overlaps an existing mapping";
	default:
		return strerror(err);
	}
}

static int tb_space_alloc(struct dmac_backend *be, uint32_t *id)
{
	static uint32_t next_id = 1;
	struct tb_space *n;
	int rc = tb_enter();

	if (rc)
		return tb_log("space_alloc", 0, 0, 0, 0, rc);
	n = realloc(spaces, (nspaces + 1) * sizeof(*n));
	if (!n)
		return tb_log("space_alloc", 0, 0, 0, 0, -ENOMEM);
	spaces = n;
	memset(&spaces[nspaces], 0, sizeof(spaces[nspaces]));
	spaces[nspaces].id = next_id++;
	spaces[nspaces].live = 1;
	*id = spaces[nspaces].id;
	nspaces++;
	return tb_log("space_alloc", *id, 0, 0, 0, 0);
}

static int tb_space_destroy(struct dmac_backend *be, uint32_t id)
{
	struct tb_space *s = tb_space(id);
	int rc = tb_enter();

	if (rc)
		return tb_log("space_destroy", id, 0, 0, 0, rc);
	if (!s)
		return tb_log("space_destroy", id, 0, 0, 0, -ENOENT);
	tb_free_maps(s);
	s->live = 0;
	return tb_log("space_destroy", id, 0, 0, 0, 0);
}

static int tb_iova_ranges(struct dmac_backend *be, uint32_t id, struct dmac_iova_range *ranges,
			  uint32_t *nr, uint64_t *alignment)
{
	uint32_t want;
	const struct dmac_iova_range *r = tb_ranges_of(id, &want);
	int rc = tb_enter();

	if (rc)
		return tb_log("iova_ranges", id, 0, 0, 0, rc);
	if (!tb_space(id))
		return tb_log("iova_ranges", id, 0, 0, 0, -ENOENT);
	for (uint32_t i = 0; i < want && i < *nr; i++)
		ranges[i] = r[i];
	rc = *nr < want ? -EMSGSIZE : 0;
	*nr = want;
	if (alignment)
		*alignment = 4096;
	return tb_log("iova_ranges", id, 0, 0, 0, rc);
}

static int tb_allow_iovas(struct dmac_backend *be, uint32_t id, const struct dmac_iova_range *r,
			  uint32_t nr)
{
	return -EOPNOTSUPP;
}

static int tb_check_args(uint64_t iova, uint64_t length, uint32_t prot, uint32_t flags)
{
	uint64_t last;

	if (!length || __builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	if (!prot || (prot & ~(uint32_t)(DMAC_PROT_READ | DMAC_PROT_WRITE)) ||
	    flags != DMAC_MAP_FIXED_IOVA)
		return -EOPNOTSUPP;
	if (iova % 4096 || length % 4096)
		return -EINVAL;
	return 0;
}

static int tb_map_cmp(const struct dmac__avl *a, const struct dmac__avl *b)
{
	const struct tb_map *x = (const struct tb_map *)a, *y = (const struct tb_map *)b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

static struct tb_map *tb_search(const struct tb_space *s, uint64_t iova, enum dmac__avl_mode mode)
{
	struct tb_map key = {.iova = iova};

	return (struct tb_map *)dmac__avl_search(s->maps, &key.node, tb_map_cmp, mode);
}

/* The mapping after @p m in iova order, or NULL. */
static struct tb_map *tb_next(const struct tb_space *s, const struct tb_map *m)
{
	return tb_search(s, m->iova, DMAC__AVL_GT);
}

/* The first mapping whose end is > iova, or NULL (mappings are disjoint). */
static struct tb_map *tb_lower(const struct tb_space *s, uint64_t iova)
{
	struct tb_map *m = tb_search(s, iova, DMAC__AVL_LE);

	if (m && m->iova + m->length > iova)
		return m;
	return tb_search(s, iova, DMAC__AVL_GT);
}

static void tb_free_tree(struct dmac__avl *n)
{
	if (!n)
		return;
	tb_free_tree(n->left);
	tb_free_tree(n->right);
	free(n);
}

static void tb_free_maps(struct tb_space *s)
{
	tb_free_tree(s->maps);
	s->maps = NULL;
	s->nmaps = 0;
}

static int tb_insert(struct tb_space *s, uint64_t iova, uint64_t length, uint64_t va, uint32_t prot)
{
	struct tb_map *m = tb_lower(s, iova);

	if (m && m->iova < iova + length) {
		noverlap++;
		return -EEXIST;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	*m = (struct tb_map){.iova = iova, .length = length, .va = va, .prot = prot};
	if (dmac__avl_insert(&s->maps, &m->node, tb_map_cmp)) {
		free(m); /* cannot happen: nothing overlaps */
		return -EEXIST;
	}
	s->nmaps++;
	return 0;
}

static int tb_map(struct dmac_backend *be, uint32_t id, void *va, uint64_t length, uint32_t prot,
		  uint32_t flags, uint64_t *iova)
{
	struct tb_space *s = tb_space(id);
	int rc = tb_enter();

	if (!rc)
		rc = tb_check_args(*iova, length, prot, flags);
	if (!rc && !s)
		rc = -ENOENT;
	if (!rc && !tb_in_ranges(id, *iova, length))
		rc = -EINVAL;
	if (!rc)
		rc = tb_insert(s, *iova, length, (uint64_t)(uintptr_t)va, prot);
	return tb_log("map", id, *iova, length, (uint64_t)(uintptr_t)va, rc);
}

static int tb_map_file(struct dmac_backend *be, uint32_t id, int fd, uint64_t offset,
		       uint64_t length, uint32_t prot, uint32_t flags, uint64_t *iova)
{
	return -EOPNOTSUPP;
}

static int tb_copy(struct dmac_backend *be, uint32_t dst, uint32_t src, uint64_t src_iova,
		   uint64_t length, uint32_t prot, uint32_t flags, uint64_t *dst_iova)
{
	struct tb_space *d = tb_space(dst), *s = tb_space(src);
	uint64_t va = 0;
	int rc = tb_enter();

	if (!rc)
		rc = tb_check_args(*dst_iova, length, prot, flags);
	if (!rc && (!d || !s))
		rc = -ENOENT;
	if (!rc && !tb_in_ranges(dst, *dst_iova, length))
		rc = -EINVAL;
	if (!rc) {
		const struct tb_map *m = tb_lower(s, src_iova);

		if (!m || m->iova > src_iova || src_iova + length > m->iova + m->length)
			rc = -ENOENT;
		else
			va = m->va + (src_iova - m->iova);
	}
	if (!rc)
		rc = tb_insert(d, *dst_iova, length, va, prot);
	return tb_log("copy", dst, *dst_iova, length, va, rc);
}

static int tb_unmap(struct dmac_backend *be, uint32_t id, uint64_t iova, uint64_t length,
		    uint64_t *unmapped)
{
	struct tb_space *s = tb_space(id);
	struct tb_map *first, *m, *next;
	uint64_t end = iova + length, bytes = 0;
	int rc = tb_enter();

	if (!rc && (!length || end < iova))
		rc = -EOVERFLOW;
	if (!rc && !s)
		rc = -ENOENT;
	if (rc)
		return tb_log("unmap", id, iova, length, 0, rc);
	first = tb_lower(s, iova);
	for (m = first; m && m->iova < end; m = tb_next(s, m)) {
		if (m->iova < iova || m->iova + m->length > end)
			return tb_log("unmap", id, iova, length, 0, -ENOENT);
		bytes += m->length;
	}
	if (!bytes)
		return tb_log("unmap", id, iova, length, 0, -ENOENT);
	for (m = first; m && m->iova < end; m = next) {
		next = tb_next(s, m);
		dmac__avl_erase(&s->maps, &m->node, tb_map_cmp);
		free(m);
		s->nmaps--;
	}
	if (unmapped)
		*unmapped = bytes;
	tb_devlog("unmap %u 0x%" PRIx64 " 0x%" PRIx64, id, iova, length);
	return tb_log("unmap", id, iova, length, 0, 0);
}

static int tb_unmap_all(struct dmac_backend *be, uint32_t id, uint64_t *unmapped)
{
	struct tb_space *s = tb_space(id);
	int rc = tb_enter();

	if (!rc && !s)
		rc = -ENOENT;
	if (!rc)
		tb_free_maps(s);
	return tb_log("unmap_all", id, 0, 0, 0, rc);
}

static int tb_option_get(struct dmac_backend *be, uint32_t option, uint32_t id, uint64_t *value)
{
	return -EOPNOTSUPP;
}

static int tb_option_set(struct dmac_backend *be, uint32_t option, uint32_t id, uint64_t value)
{
	return -EOPNOTSUPP;
}

static int tb_change_process(struct dmac_backend *be)
{
	return -EOPNOTSUPP;
}

struct dmac_device {
	char bdf[32];
	uint32_t space; /* 0: detached */
	int bus_master;
	struct dmac_device *next;
};

static void tb_devlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void tb_devlog(const char *fmt, ...)
{
	const char *path = getenv("DMAC_TEST_DEVICE_LOG");
	va_list ap;
	FILE *f;

	if (!path)
		return;
	f = fopen(path, "ae");
	if (!f)
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

/* Whether bdf is listed in $DMAC_TEST_DEVICES. */
static int tb_device_exists(const char *bdf)
{
	const char *list = getenv("DMAC_TEST_DEVICES");
	size_t n = strlen(bdf);

	for (const char *c = list; c && *c;) {
		const char *e = strchr(c, ',');
		size_t len = e ? (size_t)(e - c) : strlen(c);

		if (len == n && !strncmp(c, bdf, n))
			return 1;
		c = e ? e + 1 : NULL;
	}
	return 0;
}

static int tb_device_open(struct dmac_backend *be, const char *bdf, struct dmac_device **out)
{
	struct dmac_device *d;
	int rc = 0;

	if (!tb_device_exists(bdf)) {
		rc = -ENODEV;
		goto out;
	}
	for (d = tb_devices; d; d = d->next)
		if (!strcmp(d->bdf, bdf))
			rc = -EINVAL;
	if (rc)
		goto out;
	d = calloc(1, sizeof(*d));
	if (!d) {
		rc = -ENOMEM;
		goto out;
	}
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	d->next = tb_devices;
	tb_devices = d;
	*out = d;
out:
	tb_log("device_open", 0, 0, 0, 0, rc);
	tb_devlog("open %s %d", bdf, rc);
	return rc;
}

static int tb_device_detach(struct dmac_backend *be, struct dmac_device *dev)
{
	int rc = dev->space ? 0 : -EINVAL;

	tb_log("device_detach", dev->space, 0, 0, 0, rc);
	tb_devlog("detach %s %d", dev->bdf, rc);
	dev->space = 0;
	return rc;
}

static void tb_device_close(struct dmac_backend *be, struct dmac_device *dev)
{
	struct dmac_device **pp;

	if (!dev)
		return;
	if (dev->space)
		tb_device_detach(be, dev);
	for (pp = &tb_devices; *pp != dev; pp = &(*pp)->next)
		;
	*pp = dev->next;
	tb_log("device_close", 0, 0, 0, 0, 0);
	tb_devlog("close %s", dev->bdf);
	free(dev);
}

static int tb_device_attach(struct dmac_backend *be, struct dmac_device *dev, uint32_t id)
{
	int rc = dev->space ? -EBUSY : tb_space(id) ? 0 : -ENOENT;

	if (!rc)
		dev->space = id;
	tb_log("device_attach", id, 0, 0, 0, rc);
	tb_devlog("attach %s %u %d", dev->bdf, id, rc);
	return rc;
}

/* Replace (iommufd semantics): an attached device moves to another space;
 * on failure it stays where it was. */
static int tb_device_replace(struct dmac_backend *be, struct dmac_device *dev, uint32_t id)
{
	int rc = !dev->space ? -EINVAL : tb_space(id) ? 0 : -ENOENT;

	(void)be;
	if (!rc)
		dev->space = id;
	tb_log("device_replace", id, 0, 0, 0, rc);
	tb_devlog("attach %s %u %d", dev->bdf, id, rc);
	return rc;
}

static int tb_space_has_device(uint32_t id)
{
	for (const struct dmac_device *d = tb_devices; d; d = d->next)
		if (d->space == id)
			return 1;
	return 0;
}

int dmd_test_backend_bus_master(struct dmac_device *dev, bool on)
{
	dev->bus_master = on;
	tb_log("device_bus_master", dev->space, on, 0, 0, 0);
	tb_devlog("bus_master %s %d", dev->bdf, on);
	return 0;
}

uint32_t dmd_test_backend_irq_count(struct dmac_device *dev, unsigned int index)
{
	(void)dev;
	return index == 2 ? 4 : 0; /* VFIO_PCI_MSIX_IRQ_INDEX: 4 vectors; no MSI, no INTx */
}

int dmd_test_backend_set_irqs(struct dmac_device *dev, unsigned int index, uint32_t n)
{
	tb_log("device_irqs", dev->space, index, n, 0, 0);
	tb_devlog("irqs %s %u %u", dev->bdf, index, n);
	return 0;
}

int dmd_test_backend_reset(struct dmac_device *dev)
{
	tb_log("device_reset", dev->space, 0, 0, 0, 0);
	tb_devlog("reset %s", dev->bdf);
	return 0;
}

static int tb_device_hw_info(struct dmac_backend *be, struct dmac_device *dev,
			     struct dmac_hw_info *info)
{
	return -EOPNOTSUPP;
}

static int tb_device_fd(const struct dmac_device *dev)
{
	return -1;
}

static uint32_t tb_device_space(const struct dmac_device *dev)
{
	return dev->space;
}

static const struct dmac_backend_ops tb_ops = {
    .name = "test",
    .priority = -100,
    .probe = tb_probe,
    .open = tb_open,
    .close = tb_close,
    .features = tb_features,
    .strerror = tb_strerror,
    .space_alloc = tb_space_alloc,
    .space_destroy = tb_space_destroy,
    .iova_ranges = tb_iova_ranges,
    .allow_iovas = tb_allow_iovas,
    .map = tb_map,
    .map_file = tb_map_file,
    .copy = tb_copy,
    .unmap = tb_unmap,
    .unmap_all = tb_unmap_all,
    .option_get = tb_option_get,
    .option_set = tb_option_set,
    .change_process = tb_change_process,
    .device_open = tb_device_open,
    .device_close = tb_device_close,
    .device_attach = tb_device_attach,
    .device_replace = tb_device_replace,
    .device_detach = tb_device_detach,
    .device_hw_info = tb_device_hw_info,
    .device_fd = tb_device_fd,
    .device_space = tb_device_space,
};

void dmd_test_backend_register(void)
{
	const char *env = getenv("DMAC_TEST_BACKEND_FAIL");

	dmac_backend_register(&tb_ops);
	if (env) {
		unsigned long long n = 0;
		int err = 0;

		if (sscanf(env, "%llu:%d", &n, &err) == 2)
			dmd_test_backend_fail(n, err);
	}
}

void dmd_test_backend_dump(FILE *f)
{
	size_t total = 0;

	fprintf(f, "calls %" PRIu64 "\nfailed %" PRIu64 "\noverlap_refused %" PRIu64 "\n", ncounted,
		nfailed, noverlap);
	for (size_t i = 0; i < nspaces; i++) {
		const struct tb_space *s = &spaces[i];

		if (!s->live)
			continue;
		fprintf(f, "space %u %zu\n", s->id, s->nmaps);
		for (const struct tb_map *m = tb_search(s, 0, DMAC__AVL_GE); m; m = tb_next(s, m))
			fprintf(f, "map %u 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %u\n", s->id,
				m->iova, m->length, m->va, m->prot);
		total += s->nmaps;
	}
	fprintf(f, "mapped %zu\n", total);
	for (const struct dmac_device *d = tb_devices; d; d = d->next)
		fprintf(f, "device %s %u %d\n", d->bdf, d->space, d->bus_master);
	for (size_t i = 0; i < ncalls; i++)
		fprintf(f, "call %s %u 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %d\n", calls[i].op,
			calls[i].space, calls[i].iova, calls[i].length, calls[i].va, calls[i].rc);
}
