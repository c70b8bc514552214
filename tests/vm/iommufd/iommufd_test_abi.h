/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The IOMMUFD_TEST ioctl ABI of Linux 6.12 (CONFIG_IOMMUFD_TEST), as facts:
 * the command number, the op numbers and the layout of the command struct,
 * written here from the kernel's test-interface description. Test-only: the
 * daemon never uses it.
 *
 * Invariants (checked by the static asserts below): the struct is 72 bytes,
 * 'last' (the kernel's minimum-size marker) ends at byte 68, the union starts
 * at byte 16 and is 8-byte aligned. All ids are iommufd object ids.
 */
#ifndef DMAC_IOMMUFD_TEST_ABI_H
#define DMAC_IOMMUFD_TEST_ABI_H

#include <linux/iommufd.h>
#include <stddef.h>
#include <stdint.h>

/* Command IOMMUFD_CMD_BASE + 32 of the iommufd ioctl type. */
#define DMAC_TEST_IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

/* Op numbers (a contiguous enum starting at 1 in 6.12). */
enum {
	DMAC_TEST_OP_ADD_RESERVED = 1,
	DMAC_TEST_OP_MOCK_DOMAIN = 2,	/* id: IOAS; out: stdev, hwpt, idev ids */
	DMAC_TEST_OP_MD_CHECK_MAP = 3,	/* id: mock hwpt; every IO page -> uptr page */
	DMAC_TEST_OP_MD_CHECK_REFS = 4, /* pin count (refcount / 1024) of each page */
};

/* The mock IOMMU's aperture: IOVAs outside it are reserved once a mock domain
 * is attached to an IOAS. 'last' inclusive. */
#define DMAC_TEST_MOCK_APERTURE_START (1ULL << 24)
#define DMAC_TEST_MOCK_APERTURE_LAST  ((1ULL << 31) - 1)

struct dmac_test_cmd {
	uint32_t size;
	uint32_t op;
	uint32_t id;
	uint32_t reserved;
	union {
		struct {
			uint64_t start;
			uint64_t length;
		} add_reserved;
		struct {
			uint32_t out_stdev_id;
			uint32_t out_hwpt_id;
			uint32_t out_idev_id;
		} mock_domain;
		struct {
			uint64_t iova;
			uint64_t length;
			uint64_t uptr;
		} check_map;
		struct {
			uint64_t length;
			uint64_t uptr;
			uint32_t refs;
		} check_refs;
		/* The largest member (dirty tracking) is 48 bytes. */
		uint64_t pad[6];
	};
	uint32_t last;
};

_Static_assert(sizeof(struct dmac_test_cmd) == 72, "iommu_test_cmd is 72 bytes on 6.12");
_Static_assert(offsetof(struct dmac_test_cmd, add_reserved) == 16, "union at 16");
_Static_assert(offsetof(struct dmac_test_cmd, last) == 64, "'last' at 64");

#endif /* DMAC_IOMMUFD_TEST_ABI_H */
