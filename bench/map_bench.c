/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-map-bench: a cached lease (IOMMU_IOAS_COPY from a master IOAS into a
 * tenant IOAS) against mapping the same memory fresh (IOMMU_IOAS_MAP into the
 * tenant IOAS) and against VFIO type1 VFIO_IOMMU_MAP_DMA, each with its unmap,
 * through the backend ops table (include/dmac/backend.h). Targets: docs/performance.md.
 * Runs in the test-bed VM (bench/run-map-bench.sh), which has a real
 * /dev/iommu, an emulated VT-d and an NVMe controller bound to vfio-pci.
 *
 * Why domains: iommufd pins nothing for an IOAS no domain is attached to, so
 * both IOASes get a real VT-d domain: the master (source) IOAS one allocated
 * with IOMMU_HWPT_ALLOC for the NVMe (the domain is added to the IOAS at
 * allocation and populated by every map, without attaching the device), the
 * tenant (destination) IOAS the NVMe itself attached (device_attach). A COPY
 * then shares the pages the master already pinned; a MAP pins them again. The
 * type1 container holds the NVMe's group, so MAP_DMA pins and programs VT-d too.
 * With --mock (guest booted vmrun --no-iommu) both IOASes get a CONFIG_IOMMUFD_TEST
 * mock domain instead (a software page table in the kernel), and there is no
 * type1 phase: it separates iommufd's own work from the VT-d driver's.
 *
 * Memory: one anonymous MAP_HUGETLB buffer (2 MiB pages) of the largest size,
 * faulted in before anything is timed. Times are CLOCK_MONOTONIC around the
 * single backend call; every series is repeated, iommufd COPY and MAP
 * interleaved per repetition, type1 after the iommufd backend is closed (the
 * NVMe can be bound to one of them at a time). Reported: the median and the
 * minimum per series, and the ratios of the medians.
 *
 * Invariants: sizes are multiples of 4 KiB and at most the buffer; every
 * mapping made is unmapped before the next repetition; on any error the
 * program prints it and exits non-zero (the backends undo on close).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "bench_daemon.h"
#include "dmac/backend.h"
#include "dmac/iommufd_backend.h"
#include "iommufd_test_abi.h"

#define KiB	 (UINT64_C(1) << 10)
#define MiB	 (UINT64_C(1) << 20)
#define GiB	 (UINT64_C(1) << 30)
#define MAX_REPS 32
#define RW	 (DMAC_PROT_READ | DMAC_PROT_WRITE)

enum { C_COPY, C_COPY_UN, C_MAP, C_MAP_UN, C_VFIO, C_VFIO_UN, C_N };

struct row {
	uint64_t size;
	int reps;
	uint64_t ns[C_N][MAX_REPS];
	int have_vfio;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of @p n samples (sorted in place); the minimum goes to *min. */
static double median(uint64_t *v, int n, double *min)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	*min = (double)v[0];
	return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

#define FAIL(what, rc)                                                                             \
	do {                                                                                       \
		fprintf(stderr, "map-bench: %s: %s\n", what, strerror(-(rc)));                     \
		return rc;                                                                         \
	} while (0)

/* A real VT-d domain for @p ioas, allocated for @p dev_id, not attached. */
static int hwpt_alloc(int iommufd, uint32_t dev_id, uint32_t ioas, uint32_t *hwpt)
{
	struct iommu_hwpt_alloc a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.dev_id = dev_id;
	a.pt_id = ioas;
	a.data_type = IOMMU_HWPT_DATA_NONE;
	if (ioctl(iommufd, IOMMU_HWPT_ALLOC, &a))
		return -errno;
	*hwpt = a.out_hwpt_id;
	return 0;
}

/* A CONFIG_IOMMUFD_TEST mock device + mock domain attached to @p ioas. */
static int mock_domain(int iommufd, uint32_t ioas)
{
	struct dmac_test_cmd c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.op = DMAC_TEST_OP_MOCK_DOMAIN;
	c.id = ioas;
	return ioctl(iommufd, DMAC_TEST_IOMMU_TEST_CMD, &c) ? -errno : 0;
}

/* @p bdf NULL: mock domains on both IOASes instead of the NVMe (--mock). */
static int iommufd_phase(const char *bdf, void *buf, uint64_t buf_len, struct row *rows, int nrows,
			 double *master_ns, double *nodomain_ns)
{
	const struct dmac_backend_ops *ops = &dmac_iommufd_backend_ops;
	struct dmac_backend *be = NULL;
	struct dmac_device *dev = NULL;
	uint32_t src, dst, bare, hwpt;
	uint64_t src_iova = 0, iova, t0;
	int rc;

	rc = ops->open(NULL, &be);
	if (rc)
		FAIL("iommufd open", rc);
	if ((rc = ops->space_alloc(be, &src)) || (rc = ops->space_alloc(be, &dst)) ||
	    (rc = ops->space_alloc(be, &bare)))
		FAIL("space_alloc", rc);
	if (!bdf) {
		if ((rc = mock_domain(dmac_iommufd_backend_fd(be), src)) ||
		    (rc = mock_domain(dmac_iommufd_backend_fd(be), dst)))
			FAIL("IOMMU_TEST_OP_MOCK_DOMAIN (boot with vmrun --no-iommu)", rc);
	} else {
		rc = ops->device_open(be, bdf, &dev);
		if (rc)
			FAIL("iommufd device_open", rc);
		rc = hwpt_alloc(dmac_iommufd_backend_fd(be), dmac_iommufd_device_id(dev), src,
				&hwpt);
		if (rc)
			FAIL("IOMMU_HWPT_ALLOC for the master IOAS", rc);
		rc = ops->device_attach(be, dev, dst);
		if (rc)
			FAIL("attach the NVMe to the tenant IOAS", rc);
	}

	/* The master: the whole buffer pinned once (the cache's one-time cost). */
	t0 = now_ns();
	rc = ops->map(be, src, buf, buf_len, RW, 0, &src_iova);
	*master_ns = (double)(now_ns() - t0);
	if (rc)
		FAIL("IOAS_MAP of the master", rc);

	/* Sanity row: the same MAP into an IOAS without any domain pins nothing. */
	t0 = now_ns();
	rc = ops->map(be, bare, buf, rows[nrows - 1].size, RW, 0, &iova);
	*nodomain_ns = (double)(now_ns() - t0);
	if (rc)
		FAIL("IOAS_MAP without a domain", rc);
	rc = ops->unmap(be, bare, iova, rows[nrows - 1].size, NULL);
	if (rc)
		FAIL("IOAS_UNMAP without a domain", rc);

	for (int r = 0; r < nrows; r++) {
		struct row *w = &rows[r];

		for (int k = 0; k < w->reps; k++) {
			t0 = now_ns();
			rc = ops->copy(be, dst, src, src_iova, w->size, RW, 0, &iova);
			w->ns[C_COPY][k] = now_ns() - t0;
			if (rc)
				FAIL("IOAS_COPY", rc);
			t0 = now_ns();
			rc = ops->unmap(be, dst, iova, w->size, NULL);
			w->ns[C_COPY_UN][k] = now_ns() - t0;
			if (rc)
				FAIL("IOAS_UNMAP of a copy", rc);

			t0 = now_ns();
			rc = ops->map(be, dst, buf, w->size, RW, 0, &iova);
			w->ns[C_MAP][k] = now_ns() - t0;
			if (rc)
				FAIL("IOAS_MAP", rc);
			t0 = now_ns();
			rc = ops->unmap(be, dst, iova, w->size, NULL);
			w->ns[C_MAP_UN][k] = now_ns() - t0;
			if (rc)
				FAIL("IOAS_UNMAP of a map", rc);
		}
	}
	ops->close(be); /* detaches and closes the NVMe, destroys the spaces */
	return 0;
}

static int vfio_phase(const char *bdf, void *buf, struct row *rows, int nrows)
{
	const struct dmac_backend_ops *ops = &dmac_vfio_compat_ops;
	struct dmac_backend *be = NULL;
	struct dmac_device *dev = NULL;
	uint64_t iova, t0;
	uint32_t sp;
	int rc;

	rc = ops->open(NULL, &be);
	if (rc)
		FAIL("vfio open", rc);
	rc = ops->space_alloc(be, &sp);
	if (rc)
		FAIL("vfio space_alloc", rc);
	rc = ops->device_open(be, bdf, &dev);
	if (rc)
		FAIL("vfio device_open", rc);
	rc = ops->device_attach(be, dev, sp);
	if (rc)
		FAIL("vfio device_attach", rc);
	for (int r = 0; r < nrows; r++) {
		struct row *w = &rows[r];

		for (int k = 0; k < w->reps; k++) {
			t0 = now_ns();
			rc = ops->map(be, sp, buf, w->size, RW, 0, &iova);
			w->ns[C_VFIO][k] = now_ns() - t0;
			if (rc)
				FAIL("VFIO_IOMMU_MAP_DMA", rc);
			t0 = now_ns();
			rc = ops->unmap(be, sp, iova, w->size, NULL);
			w->ns[C_VFIO_UN][k] = now_ns() - t0;
			if (rc)
				FAIL("VFIO_IOMMU_UNMAP_DMA", rc);
		}
		w->have_vfio = 1;
	}
	ops->close(be);
	return 0;
}

static void us(double ns, char *out, size_t n)
{
	if (ns >= 100000)
		snprintf(out, n, "%.0f", ns / 1000);
	else
		snprintf(out, n, "%.1f", ns / 1000);
}

int main(int argc, char **argv)
{
	static struct row rows[4];
	const char *bdf = getenv("DMAC_VM_NVME_BDF");
	uint64_t max = GiB;
	int nrows = 0, rc, mock = 0;
	double master_ns, nodomain_ns;
	void *buf;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--max-mib") && i + 1 < argc) {
			max = strtoull(argv[++i], NULL, 0) * MiB;
		} else if (!strcmp(argv[i], "--mock")) {
			mock = 1;
		} else {
			fprintf(stderr,
				"usage: %s [--max-mib N] [--mock]  (in the VM: "
				"bench/run-map-bench.sh)\n",
				argv[0]);
			return 2;
		}
	}
	if (mock) {
		bdf = NULL;
	} else if (!bdf || !*bdf) {
		fprintf(stderr, "map-bench: DMAC_VM_NVME_BDF is not set: run it in the VM "
				"(bench/run-map-bench.sh)\n");
		return 2;
	}
	if (max < 64 * MiB || max % (2 * MiB)) {
		fprintf(stderr, "map-bench: --max-mib must be an even number >= 64\n");
		return 2;
	}
	rows[nrows++] = (struct row){.size = 4 * KiB, .reps = 21};
	rows[nrows++] = (struct row){.size = 2 * MiB, .reps = 11};
	rows[nrows++] = (struct row){.size = 64 * MiB, .reps = 7};
	if (max > 64 * MiB)
		rows[nrows++] = (struct row){.size = max, .reps = 3};

	buf = mmap(NULL, max, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1,
		   0);
	if (buf == MAP_FAILED) {
		perror("map-bench: mmap MAP_HUGETLB (reserve pages: vmrun --hugepages)");
		return 1;
	}
	for (uint64_t o = 0; o < max; o += 2 * MiB)
		((volatile char *)buf)[o] = 1;

	rc = iommufd_phase(bdf, buf, max, rows, nrows, &master_ns, &nodomain_ns);
	if (rc)
		return 1;
	rc = mock ? -ENODEV : vfio_phase(bdf, buf, rows, nrows);
	if (rc)
		fprintf(stderr, "map-bench: no type1 phase%s; its columns are n/a\n",
			mock ? " with --mock" : " (it failed)");

	printf("# dmacache-map-bench: %s%s, hugetlb 2 MiB pages, times in us "
	       "(median of reps; min in the second table)\n",
	       mock ? "IOMMUFD_TEST mock domains" : "VT-d domains, NVMe ", mock ? "" : bdf);
	printf("# master IOAS_MAP of the whole %llu MiB buffer (one-time pin): %.0f us; "
	       "IOAS_MAP of %llu MiB into an IOAS with no domain: %.0f us\n",
	       (unsigned long long)(max / MiB), master_ns / 1000,
	       (unsigned long long)(rows[nrows - 1].size / MiB), nodomain_ns / 1000);
	printf("| size | reps | IOAS_COPY | unmap | IOAS_MAP | unmap | VFIO MAP_DMA | unmap "
	       "| MAP/COPY | MAP_DMA/COPY | (MAP+unmap)/(COPY+unmap) |\n");
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int r = 0; r < nrows; r++) {
		struct row *w = &rows[r];
		double med[C_N], mn[C_N];
		char sz[32], s[C_N][16], rv[16] = "n/a", rt[16] = "n/a";

		for (int c = 0; c < C_N; c++) {
			if ((c == C_VFIO || c == C_VFIO_UN) && !w->have_vfio) {
				med[c] = mn[c] = 0;
				snprintf(s[c], sizeof(s[c]), "n/a");
				continue;
			}
			med[c] = median(w->ns[c], w->reps, &mn[c]);
			us(med[c], s[c], sizeof(s[c]));
		}
		if (w->have_vfio)
			snprintf(rv, sizeof(rv), "%.1fx", med[C_VFIO] / med[C_COPY]);
		snprintf(rt, sizeof(rt), "%.1fx",
			 (med[C_MAP] + med[C_MAP_UN]) / (med[C_COPY] + med[C_COPY_UN]));
		bd_size_name(w->size, sz, sizeof(sz));
		printf("| %s | %d | %s | %s | %s | %s | %s | %s | %.1fx | %s | %s |\n", sz, w->reps,
		       s[C_COPY], s[C_COPY_UN], s[C_MAP], s[C_MAP_UN], s[C_VFIO], s[C_VFIO_UN],
		       med[C_MAP] / med[C_COPY], rv, rt);
	}
	printf("\nminimum of the reps, us\n| size | IOAS_COPY | unmap | IOAS_MAP | unmap "
	       "| VFIO MAP_DMA | unmap |\n|---|---:|---:|---:|---:|---:|---:|\n");
	for (int r = 0; r < nrows; r++) {
		struct row *w = &rows[r];
		char sz[32], s[C_N][16];

		bd_size_name(w->size, sz, sizeof(sz));
		for (int c = 0; c < C_N; c++) {
			if ((c == C_VFIO || c == C_VFIO_UN) && !w->have_vfio)
				snprintf(s[c], sizeof(s[c]), "n/a");
			else
				us((double)w->ns[c][0], s[c], sizeof(s[c])); /* sorted above */
		}
		printf("| %s | %s | %s | %s | %s | %s | %s |\n", sz, s[C_COPY], s[C_COPY_UN],
		       s[C_MAP], s[C_MAP_UN], s[C_VFIO], s[C_VFIO_UN]);
	}
	munmap(buf, max);
	return 0;
}
