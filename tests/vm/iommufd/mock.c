/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vm test iommufd-mock: the iommufd backend against CONFIG_IOMMUFD_TEST mock
 * domains, whose IO page tables and page pin counts the test reads back.
 *
 * Proves, with the kernel's own view rather than the backend's word:
 * - map: every IO page of the returned IOVA range points at the right page
 *   of the buffer (IOMMU_TEST_OP_MD_CHECK_MAP), and each page is pinned once
 *   (IOMMU_TEST_OP_MD_CHECK_REFS);
 * - copy of a whole area and of a sub-range into a second IOAS point at the
 *   same pages and pin nothing again (refs stay 1);
 * - unmap / unmap_all / destroy return the pin counts to baseline (0);
 * - hugepage memory maps correctly (pin counts of compound pages are not
 *   observable with MD_CHECK_REFS, so only the page table is checked);
 * - feature detection: COPY present; MAP_FILE and CHANGE_PROCESS absent on
 *   6.12, confirmed with raw ioctls answering ENOTTY;
 * - options: HUGE_PAGES per IOAS, RLIMIT_MODE global (EBUSY once objects
 *   exist); IOVA ranges with the EMSGSIZE path.
 * Invariants: every IOVA range is [start, last], 'last' inclusive.
 */
#include <sys/utsname.h>

#include "vmtest.h"

#define BUF_LEN	 (1u << 20) /* 256 pages of 4 KiB */
#define SUB_OFF	 (64u << 10)
#define SUB_LEN	 (128u << 10)
#define HUGE_LEN (4u << 20)

static const struct dmac_backend_ops *ops;

static void test_features(struct dmac_backend *be)
{
	uint64_t f = ops->features(be);
	int fd = dmac_iommufd_backend_fd(be);
	uint32_t zero[4] = {0};
	struct utsname u;
	uint64_t iova = 0;

	CHECK(f & DMAC_BACKEND_F_COPY, "features 0x%llx lack COPY", (unsigned long long)f);
	CHECK(f & DMAC_BACKEND_F_UNMAP_ALL, "no UNMAP_ALL");
	CHECK(f & DMAC_BACKEND_F_HUGE_PAGES, "no HUGE_PAGES");
	CHECK(f & DMAC_BACKEND_F_RLIMIT_MODE, "no RLIMIT_MODE");
	CHECK(f & DMAC_BACKEND_F_HW_INFO, "no HW_INFO");
	CHECK(f & DMAC_BACKEND_F_REPLACE, "no REPLACE");

	/* The test bed is 6.12: no IOAS_MAP_FILE (0x8f) / IOAS_CHANGE_PROCESS
	 * (0x92) yet. Check the raw answer too, not only the backend's bit. */
	CHECK(uname(&u) == 0 && !strncmp(u.release, "6.12", 4), "kernel %s is not 6.12", u.release);
	CHECK(!(f & DMAC_BACKEND_F_MAP_FILE), "MAP_FILE reported on 6.12");
	CHECK(!(f & DMAC_BACKEND_F_CHANGE_PROCESS), "CHANGE_PROCESS reported on 6.12");
	errno = 0;
	CHECK(ioctl(fd, _IO(IOMMUFD_TYPE, 0x8f), zero) == -1 && errno == ENOTTY,
	      "raw IOAS_MAP_FILE: errno %d", errno);
	errno = 0;
	CHECK(ioctl(fd, _IO(IOMMUFD_TYPE, 0x92), zero) == -1 && errno == ENOTTY,
	      "raw IOAS_CHANGE_PROCESS: errno %d", errno);
	/* And a known command with size 0 is EINVAL, not ENOTTY: the probe's
	 * premise. */
	errno = 0;
	CHECK(ioctl(fd, IOMMU_IOAS_COPY, zero) == -1 && errno == EINVAL, "COPY probe errno %d",
	      errno);
	vt_log_reset();
	CHECK_RET(ops->map_file(be, 1, 0, 0, 4096, DMAC_PROT_READ, 0, &iova), -EOPNOTSUPP);
	CHECK_LOG("IOMMU_IOAS_MAP_FILE", "6.13");
	CHECK_RET(ops->change_process(be), -EOPNOTSUPP);
	CHECK_LOG("IOMMU_IOAS_CHANGE_PROCESS");
}

/* RLIMIT_MODE is global and only settable while the iommufd holds no object:
 * run this on a fresh instance. */
static void test_rlimit_mode(void)
{
	struct dmac_backend *be = NULL;
	uint64_t v = 99;
	uint32_t ioas;

	CHECK_RET(ops->open(NULL, &be), 0);
	if (!be)
		return;
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 0, &v), 0);
	CHECK(v == 0, "default RLIMIT_MODE %llu", (unsigned long long)v);
	CHECK_RET(ops->option_set(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 0, 1), 0);
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 0, &v), 0);
	CHECK(v == 1, "RLIMIT_MODE after set 1: %llu", (unsigned long long)v);
	CHECK_RET(ops->option_set(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 0, 2), -EINVAL);
	/* Global option: a space id is refused before the kernel is asked. */
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 7, &v), -EINVAL);
	CHECK_RET(ops->space_alloc(be, &ioas), 0);
	vt_log_reset();
	CHECK_RET(ops->option_set(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 0, 0), -EBUSY);
	CHECK_LOG("IOMMU_OPTION(SET)", "RLIMIT_MODE", "EBUSY");
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 0, &v), 0);
	CHECK(v == 1, "RLIMIT_MODE changed by a refused set: %llu", (unsigned long long)v);
	CHECK_RET(ops->space_destroy(be, ioas), 0);
	CHECK_RET(ops->option_set(be, DMAC_BACKEND_OPT_RLIMIT_MODE, 0, 0), 0);
	ops->close(be);
}

static void test_ranges(struct dmac_backend *be, uint32_t ioas)
{
	struct dmac_iova_range r[4];
	uint64_t align = 0;
	uint32_t nr = 0;

	/* Capacity 0: EMSGSIZE and the count needed. */
	CHECK_RET(ops->iova_ranges(be, ioas, NULL, &nr, &align), -EMSGSIZE);
	CHECK(nr == 1, "mock IOAS has %u ranges", nr);
	nr = 4;
	CHECK_RET(ops->iova_ranges(be, ioas, r, &nr, &align), 0);
	CHECK(nr == 1 && r[0].start == DMAC_TEST_MOCK_APERTURE_START &&
		  r[0].last == DMAC_TEST_MOCK_APERTURE_LAST,
	      "ranges: %u, [0x%llx, 0x%llx]", nr, (unsigned long long)r[0].start,
	      (unsigned long long)r[0].last);
	CHECK(align && !(align & (align - 1)) && align <= 4096, "alignment %llu",
	      (unsigned long long)align);
}

static void test_map_copy_unmap(struct dmac_backend *be)
{
	int fd = dmac_iommufd_backend_fd(be);
	uint32_t a, b, stdev_a, hwpt_a, stdev_b, hwpt_b;
	uint64_t iova = 0, iova_b, sub_iova = 0, n = 0;
	unsigned char *buf = vt_anon(BUF_LEN);

	CHECK(buf != NULL, "mmap %u", BUF_LEN);
	if (!buf)
		return;
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 0), 0);

	CHECK_RET(ops->space_alloc(be, &a), 0);
	CHECK_RET(ops->space_alloc(be, &b), 0);
	CHECK(a && b && a != b, "ioas ids %u %u", a, b);
	CHECK_RET(vt_mock_domain(fd, a, &stdev_a, &hwpt_a), 0);
	CHECK_RET(vt_mock_domain(fd, b, &stdev_b, &hwpt_b), 0);
	test_ranges(be, a);

	/* map, kernel-chosen IOVA */
	CHECK_RET(ops->map(be, a, buf, BUF_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE, 0, &iova), 0);
	CHECK(iova >= DMAC_TEST_MOCK_APERTURE_START &&
		  iova + BUF_LEN - 1 <= DMAC_TEST_MOCK_APERTURE_LAST,
	      "iova 0x%llx outside the mock aperture", (unsigned long long)iova);
	CHECK_RET(vt_check_map(fd, hwpt_a, iova, BUF_LEN, buf), 0);
	/* Negative control: the same IOVAs do not map the next page's data. */
	CHECK_RET(vt_check_map(fd, hwpt_a, iova, BUF_LEN - 4096, buf + 4096), -EINVAL);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 1), 0);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 2), -EIO);

	/* copy the whole area into b at the same IOVA: no new pin */
	iova_b = iova;
	CHECK_RET(ops->copy(be, b, a, iova, BUF_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE,
			    DMAC_MAP_FIXED_IOVA, &iova_b),
		  0);
	CHECK(iova_b == iova, "fixed copy moved to 0x%llx", (unsigned long long)iova_b);
	CHECK_RET(vt_check_map(fd, hwpt_b, iova, BUF_LEN, buf), 0);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 1), 0);

	/* copy a sub-range of the area into b, kernel-chosen IOVA */
	CHECK_RET(ops->copy(be, b, a, iova + SUB_OFF, SUB_LEN, DMAC_PROT_READ, 0, &sub_iova), 0);
	CHECK(sub_iova + SUB_LEN <= iova || sub_iova >= iova + BUF_LEN,
	      "sub-range copy at 0x%llx overlaps the whole copy", (unsigned long long)sub_iova);
	CHECK_RET(vt_check_map(fd, hwpt_b, sub_iova, SUB_LEN, buf + SUB_OFF), 0);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 1), 0);

	/* unmap the source area: the copies keep their pages and the pin */
	CHECK_RET(ops->unmap(be, a, iova, BUF_LEN, &n), 0);
	CHECK(n == BUF_LEN, "unmapped %llu", (unsigned long long)n);
	CHECK_RET(vt_check_map(fd, hwpt_a, iova, 4096, buf), -EINVAL);
	CHECK_RET(vt_check_map(fd, hwpt_b, iova, BUF_LEN, buf), 0);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 1), 0);

	/* unmap the sub-range copy exactly, then everything */
	CHECK_RET(ops->unmap(be, b, sub_iova, SUB_LEN, &n), 0);
	CHECK(n == SUB_LEN, "unmapped %llu", (unsigned long long)n);
	CHECK_RET(vt_check_map(fd, hwpt_b, iova, BUF_LEN, buf), 0);
	CHECK_RET(ops->unmap_all(be, b, &n), 0);
	CHECK(n == BUF_LEN, "unmap_all unmapped %llu", (unsigned long long)n);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 0), 0);
	CHECK_RET(ops->unmap_all(be, b, &n), 0);
	CHECK(n == 0, "unmap_all of an empty IOAS unmapped %llu", (unsigned long long)n);

	/* destroy with mappings still present: pins return to baseline too */
	CHECK_RET(ops->map(be, a, buf, BUF_LEN, DMAC_PROT_READ, 0, &iova), 0);
	iova_b = iova;
	CHECK_RET(ops->copy(be, b, a, iova, BUF_LEN, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &iova_b),
		  0);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 1), 0);
	CHECK_RET(vt_destroy(fd, stdev_a), 0);
	CHECK_RET(ops->space_destroy(be, a), 0);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 1), 0); /* b still holds them */
	CHECK_RET(vt_destroy(fd, stdev_b), 0);
	CHECK_RET(ops->space_destroy(be, b), 0);
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 0), 0);
	munmap(buf, BUF_LEN);
}

static void test_hugepages(struct dmac_backend *be)
{
	int fd = dmac_iommufd_backend_fd(be);
	uint32_t a, c, stdev, hwpt;
	uint64_t iova = 32ull << 20, v = 9, n = 0;
	unsigned char *huge = vt_huge(HUGE_LEN);

	CHECK(huge != NULL, "hugetlb mmap of %u bytes: %s (vmrun --hugepages?)", HUGE_LEN,
	      strerror(errno));
	if (!huge)
		return;
	CHECK_RET(ops->space_alloc(be, &a), 0);
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_HUGE_PAGES, a, &v), 0);
	CHECK(v == 1, "HUGE_PAGES default %llu", (unsigned long long)v);
	CHECK_RET(vt_mock_domain(fd, a, &stdev, &hwpt), 0);
	CHECK_RET(ops->map(be, a, huge, HUGE_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE,
			   DMAC_MAP_FIXED_IOVA, &iova),
		  0);
	CHECK(iova == 32ull << 20, "fixed map moved to 0x%llx", (unsigned long long)iova);
	CHECK_RET(vt_check_map(fd, hwpt, iova, HUGE_LEN, huge), 0);
	CHECK_RET(vt_check_map(fd, hwpt, iova + (2u << 20), 2u << 20, huge), -EINVAL);
	/* With a domain and an area present, large pages cannot be disabled. */
	CHECK_RET(ops->option_set(be, DMAC_BACKEND_OPT_HUGE_PAGES, a, 0), -EINVAL);
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_HUGE_PAGES, a, &v), 0);
	CHECK(v == 1, "HUGE_PAGES changed by a refused set: %llu", (unsigned long long)v);
	CHECK_RET(ops->unmap(be, a, iova, HUGE_LEN, &n), 0);
	CHECK(n == HUGE_LEN, "unmapped %llu", (unsigned long long)n);

	/* A fresh IOAS with HUGE_PAGES=0 still maps hugepage memory right. */
	CHECK_RET(ops->space_alloc(be, &c), 0);
	CHECK_RET(ops->option_set(be, DMAC_BACKEND_OPT_HUGE_PAGES, c, 0), 0);
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_HUGE_PAGES, c, &v), 0);
	CHECK(v == 0, "HUGE_PAGES after set 0: %llu", (unsigned long long)v);
	CHECK_RET(ops->option_set(be, DMAC_BACKEND_OPT_HUGE_PAGES, c, 2), -EINVAL);
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_HUGE_PAGES, 0, &v), -EINVAL);
	{
		uint32_t stdev_c, hwpt_c;
		uint64_t iova_c = 0;

		CHECK_RET(vt_mock_domain(fd, c, &stdev_c, &hwpt_c), 0);
		CHECK_RET(ops->map(be, c, huge, HUGE_LEN, DMAC_PROT_READ, 0, &iova_c), 0);
		CHECK_RET(vt_check_map(fd, hwpt_c, iova_c, HUGE_LEN, huge), 0);
		CHECK_RET(vt_destroy(fd, stdev_c), 0);
	}
	CHECK_RET(ops->space_destroy(be, c), 0);
	CHECK_RET(vt_destroy(fd, stdev), 0);
	CHECK_RET(ops->space_destroy(be, a), 0);
	munmap(huge, HUGE_LEN);
}

int main(void)
{
	struct dmac_backend *be;

	vt_init();
	be = vt_open_backend(&ops, 0);
	if (!be)
		return vt_finish("iommufd-mock");
	test_features(be);
	test_map_copy_unmap(be);
	test_hugepages(be);
	ops->close(be);
	test_rlimit_mode();
	return vt_finish("iommufd-mock");
}
