/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vm test iommufd-errors: every error class of the iommufd backend against
 * the real kernel, each checked for its errno, for a log message naming the
 * call, the object and the range, and for leaving the state unchanged
 * (IO page table read back with MD_CHECK_MAP, IOVA ranges compared, pin
 * counts, and a subsequent operation that must succeed).
 *
 * Runs in a guest booted --no-iommu (mock domains need it, see meson.build).
 * Invariants: BUF is mapped once at 'iova' in IOAS 'a' for the whole test;
 * every check that expects a failure re-verifies that mapping afterwards.
 */
#include <fcntl.h>

#include "vmtest.h"

#define BUF_LEN (256u << 10)
#define PG	4096u

static const struct dmac_backend_ops *ops;
static struct dmac_backend *be;
static int fd;
static uint32_t a, b, stdev_a, hwpt_a;
static uint64_t iova;
static unsigned char *buf;

/* The reference state: BUF mapped at iova in a, one pin per page. */
static void check_state(const char *after)
{
	struct dmac_iova_range r[4];
	uint32_t nr = 4;
	int ret;

	ret = vt_check_map(fd, hwpt_a, iova, BUF_LEN, buf);
	CHECK(ret == 0, "after %s: mapping at 0x%llx changed (%d)", after, (unsigned long long)iova,
	      ret);
	ret = vt_check_refs(fd, buf, BUF_LEN, 1);
	CHECK(ret == 0, "after %s: pin count changed (%d)", after, ret);
	ret = ops->iova_ranges(be, a, r, &nr, NULL);
	CHECK(ret == 0 && nr == 1 && r[0].start == DMAC_TEST_MOCK_APERTURE_START &&
		  r[0].last == DMAC_TEST_MOCK_APERTURE_LAST,
	      "after %s: IOVA ranges changed (%d, %u)", after, ret, nr);
}

/* Nothing is mapped at [at, at+len) in a (a failed map left no trace). */
static void check_unmapped(const char *after, uint64_t at, uint64_t len)
{
	uint64_t n = 0;

	CHECK(ops->unmap(be, a, at, len, &n) == -ENOENT, "after %s: something mapped at 0x%llx",
	      after, (unsigned long long)at);
}

static void test_split_unmap(void)
{
	char range[64];

	vt_log_reset();
	CHECK_RET(ops->unmap(be, a, iova, PG, NULL), -ENOENT);
	snprintf(range, sizeof(range), "iova [0x%llx, 0x%llx]", (unsigned long long)iova,
		 (unsigned long long)(iova + PG - 1));
	CHECK_LOG("IOMMU_IOAS_UNMAP", "ENOENT", range, "never splits");
	{
		char obj[32];

		snprintf(obj, sizeof(obj), "ioas %u", a);
		CHECK_LOG(obj);
	}
	check_state("split unmap (head)");
	CHECK_RET(ops->unmap(be, a, iova + PG, BUF_LEN - PG, NULL), -ENOENT);
	check_state("split unmap (tail)");
	/* A range covering the area and more is fine for iommufd only when it
	 * covers whole areas; one that truncates it is not. */
	CHECK_RET(ops->unmap(be, a, iova - PG, 2 * PG, NULL), -ENOENT);
	check_state("truncating unmap");
}

static void test_overlap(void)
{
	uint64_t at = iova + 16 * PG;

	vt_log_reset();
	CHECK_RET(ops->map(be, a, buf, 4 * PG, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at), -EEXIST);
	CHECK_LOG("IOMMU_IOAS_MAP", "EEXIST", "overlaps");
	check_state("overlapping map (inside)");
	at = iova - 2 * PG;
	CHECK_RET(ops->map(be, a, buf, 4 * PG, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at), -EEXIST);
	check_state("overlapping map (head)");
	check_unmapped("overlapping map (head)", iova - 2 * PG, 2 * PG);
	/* A copy onto an occupied range: EEXIST too. */
	at = iova;
	CHECK_RET(ops->copy(be, a, a, iova, BUF_LEN, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at),
		  -EEXIST);
	check_state("overlapping copy");
}

static void test_unknown_ids(void)
{
	uint64_t at = iova, v;
	uint32_t bogus = 0x7fff;

	vt_log_reset();
	CHECK_RET(ops->map(be, bogus, buf, PG, DMAC_PROT_READ, 0, &at), -ENOENT);
	CHECK_LOG("IOMMU_IOAS_MAP", "ioas 32767", "ENOENT", "no such object id");
	CHECK_RET(ops->unmap(be, bogus, iova, BUF_LEN, NULL), -ENOENT);
	CHECK_RET(ops->unmap_all(be, bogus, NULL), -ENOENT);
	CHECK_RET(ops->copy(be, b, bogus, iova, BUF_LEN, DMAC_PROT_READ, 0, &at), -ENOENT);
	CHECK_LOG("IOMMU_IOAS_COPY", "src ioas 32767");
	CHECK_RET(ops->copy(be, bogus, a, iova, BUF_LEN, DMAC_PROT_READ, 0, &at), -ENOENT);
	CHECK_RET(ops->space_destroy(be, bogus), -ENOENT);
	CHECK_LOG("IOMMU_DESTROY", "ioas 32767");
	CHECK_RET(ops->option_get(be, DMAC_BACKEND_OPT_HUGE_PAGES, bogus, &v), -ENOENT);
	{
		uint32_t nr = 0;

		CHECK_RET(ops->iova_ranges(be, bogus, NULL, &nr, NULL), -ENOENT);
	}
	/* An id of the wrong type (the mock hw_pagetable) is not an IOAS. */
	CHECK_RET(ops->map(be, hwpt_a, buf, PG, DMAC_PROT_READ, 0, &at), -ENOENT);
	/* Copy of a source range that is not mapped. */
	CHECK_RET(ops->copy(be, b, a, iova + BUF_LEN, PG, DMAC_PROT_READ, 0, &at), -ENOENT);
	CHECK_LOG("IOMMU_IOAS_COPY", "source range not fully mapped");
	check_state("unknown ids");
	/* A subsequent successful op on the same objects. */
	at = 0;
	CHECK_RET(ops->copy(be, b, a, iova, BUF_LEN, DMAC_PROT_READ, 0, &at), 0);
	CHECK_RET(ops->unmap(be, b, at, BUF_LEN, NULL), 0);
}

/* Raw ioctls: the kernel's own answers to malformed structs. */
static void test_raw_struct_rules(void)
{
	struct {
		struct iommu_ioas_map m;
		uint64_t extra;
	} big;
	struct iommu_ioas_map m;
	uint64_t target = iova + BUF_LEN + 64 * PG;

	/* non-zero reserved field: EOPNOTSUPP */
	memset(&m, 0, sizeof(m));
	m.size = sizeof(m);
	m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE;
	m.ioas_id = a;
	m.__reserved = 1;
	m.user_va = (uintptr_t)buf;
	m.length = PG;
	m.iova = target;
	errno = 0;
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &m) == -1 && errno == EOPNOTSUPP, "reserved != 0: errno %d",
	      errno);
	check_unmapped("reserved field", target, PG);

	/* unknown flag bit: EOPNOTSUPP */
	m.__reserved = 0;
	m.flags |= 1u << 7;
	errno = 0;
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &m) == -1 && errno == EOPNOTSUPP, "flag 1<<7: errno %d",
	      errno);
	check_unmapped("unknown flag", target, PG);

	/* larger struct with non-zero trailing bytes: E2BIG; zero: accepted */
	memset(&big, 0, sizeof(big));
	big.m = m;
	big.m.flags &= ~(1u << 7);
	big.m.size = sizeof(big);
	big.extra = 1;
	errno = 0;
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &big) == -1 && errno == E2BIG, "trailing != 0: errno %d",
	      errno);
	check_unmapped("E2BIG", target, PG);
	big.extra = 0;
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &big) == 0, "trailing zero refused: errno %d", errno);
	CHECK_RET(ops->unmap(be, a, target, PG, NULL), 0);

	/* size below the minimum: EINVAL */
	m.flags &= ~(1u << 7);
	m.size = 8;
	errno = 0;
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &m) == -1 && errno == EINVAL, "size 8: errno %d", errno);

	/* kernel overflow check: iova + length wraps */
	m.size = sizeof(m);
	m.iova = UINT64_MAX & ~(uint64_t)(PG - 1);
	m.length = 2 * PG;
	errno = 0;
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &m) == -1 && errno == EOVERFLOW, "wrap: errno %d", errno);
	check_state("raw struct rules");
}

static void test_backend_validation(void)
{
	uint64_t at = UINT64_MAX & ~(uint64_t)(PG - 1);
	int nlogs;

	/* Refused before any ioctl, with a message. */
	vt_log_reset();
	nlogs = vt_nr_logs;
	CHECK_RET(ops->unmap(be, a, at, 2 * PG, NULL), -EOVERFLOW);
	CHECK(vt_nr_logs == nlogs + 1, "no log for EOVERFLOW");
	CHECK_LOG("IOMMU_IOAS_UNMAP", "EOVERFLOW");
	CHECK_RET(ops->map(be, a, buf, 2 * PG, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at),
		  -EOVERFLOW);
	CHECK_RET(ops->map(be, a, buf, 0, DMAC_PROT_READ, 0, &at), -EINVAL);
	CHECK_RET(ops->map(be, a, buf, PG, 0, 0, &at), -EINVAL);
	CHECK_RET(ops->map(be, a, buf, PG, DMAC_PROT_READ | 8, 0, &at), -EOPNOTSUPP);
	CHECK_RET(ops->map(be, a, buf, PG, DMAC_PROT_READ, 1u << 5, &at), -EOPNOTSUPP);
	CHECK_RET(ops->option_get(be, 77, a, &at), -EOPNOTSUPP);
	check_state("backend validation");
}

/* IOVAs outside the usable ranges. With the mock domain attached, everything
 * outside its aperture [2^24, 2^31 - 1] is reserved: a fixed map there is
 * EINVAL ("IOVA intersects a reserved region"). */
static void test_outside_ranges(void)
{
	struct dmac_iova_range allow = {0x4000000, 0x4000000 + BUF_LEN - 1};
	struct dmac_iova_range bad = {0x1000, 0x4000000};
	uint64_t at = 0x1000, at2 = 0;

	vt_log_reset();
	CHECK_RET(ops->map(be, a, buf, PG, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at), -EINVAL);
	CHECK_LOG("IOMMU_IOAS_MAP", "EINVAL", "iova [0x1000, 0x1fff]");
	at = DMAC_TEST_MOCK_APERTURE_LAST + 1 - PG;
	CHECK_RET(ops->map(be, a, buf, 2 * PG, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at), -EINVAL);
	check_state("map outside the aperture");
	/* ... while the last page inside it is fine. */
	CHECK_RET(ops->map(be, a, buf, PG, DMAC_PROT_READ, DMAC_MAP_FIXED_IOVA, &at), 0);
	CHECK_RET(ops->unmap(be, a, at, PG, NULL), 0);

	/* ALLOW_IOVAS over a reserved region: EADDRINUSE, nothing changes. */
	vt_log_reset();
	CHECK_RET(ops->allow_iovas(be, a, &bad, 1), -EADDRINUSE);
	CHECK_LOG("IOMMU_IOAS_ALLOW_IOVAS");
	/* Unsorted / inverted ranges are refused before the kernel sees them. */
	{
		struct dmac_iova_range inv[2] = {{0x5000000, 0x5ffffff}, {0x4000000, 0x4ffffff}};

		CHECK_RET(ops->allow_iovas(be, a, inv, 2), -EINVAL);
	}
	/* An allowed window steers automatic allocation, and runs out. */
	CHECK_RET(ops->allow_iovas(be, a, &allow, 1), 0);
	at2 = 0;
	CHECK_RET(ops->map(be, a, buf, BUF_LEN, DMAC_PROT_READ, 0, &at2), 0);
	CHECK(at2 == allow.start, "auto IOVA 0x%llx outside the allowed window",
	      (unsigned long long)at2);
	vt_log_reset();
	at = 0;
	CHECK_RET(ops->map(be, a, buf, PG, DMAC_PROT_READ, 0, &at), -ENOSPC);
	CHECK_LOG("IOMMU_IOAS_MAP", "ENOSPC");
	CHECK_RET(ops->unmap(be, a, at2, BUF_LEN, NULL), 0);
	CHECK_RET(ops->allow_iovas(be, a, NULL, 0), 0);
	at = 0;
	CHECK_RET(ops->map(be, a, buf, PG, DMAC_PROT_READ, 0, &at), 0);
	CHECK_RET(ops->unmap(be, a, at, PG, NULL), 0);
	check_state("allowed IOVAs");
}

static void test_busy(void)
{
	/* An IOAS with a (mock) device attached cannot be destroyed. */
	vt_log_reset();
	CHECK_RET(ops->space_destroy(be, a), -EBUSY);
	CHECK_LOG("IOMMU_DESTROY", "EBUSY");
	check_state("destroy of a busy IOAS");
}

int main(void)
{
	vt_init();
	be = vt_open_backend(&ops, 0);
	if (!be)
		return vt_finish("iommufd-errors");
	fd = dmac_iommufd_backend_fd(be);
	buf = vt_anon(BUF_LEN);
	CHECK(buf != NULL, "mmap");
	if (!buf)
		return vt_finish("iommufd-errors");
	CHECK_RET(ops->space_alloc(be, &a), 0);
	CHECK_RET(ops->space_alloc(be, &b), 0);
	CHECK_RET(vt_mock_domain(fd, a, &stdev_a, &hwpt_a), 0);
	iova = 0x2000000;
	CHECK_RET(ops->map(be, a, buf, BUF_LEN, DMAC_PROT_READ | DMAC_PROT_WRITE,
			   DMAC_MAP_FIXED_IOVA, &iova),
		  0);
	check_state("setup");

	test_split_unmap();
	test_overlap();
	test_unknown_ids();
	test_raw_struct_rules();
	test_backend_validation();
	test_outside_ranges();
	test_busy();

	CHECK_RET(vt_destroy(fd, stdev_a), 0);
	ops->close(be);
	/* Closing the backend released every pin (checked through a fresh
	 * iommufd: MD_CHECK_REFS needs no object). */
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0, "reopen /dev/iommu: %s", strerror(errno));
	CHECK_RET(vt_check_refs(fd, buf, BUF_LEN, 0), 0);
	close(fd);
	return vt_finish("iommufd-errors");
}
