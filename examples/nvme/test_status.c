/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * unit test nvme_status: NVMe status fields (CQE status bits 15:1) decoded
 * into -errno and a message by dmac_nvme_status_errno()/_str(), including
 * the DNR and More bits being ignored for the decision and unknown codes
 * falling back to -EIO with a message naming the status code type.
 *
 * Invariants: CHECK() counts, never aborts; exit 0 only if checks ran and
 * none failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nvme.h"

static int failures, checks;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);            \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* A status field from its type and code (DNR bit 14, More bit 13). */
static uint16_t sf(unsigned int sct, unsigned int sc, int dnr)
{
	return (uint16_t)((sct << 8) | sc | (dnr ? 1u << 14 : 0u));
}

int main(void)
{
	CHECK(dmac_nvme_status_errno(0) == 0);
	CHECK(strstr(dmac_nvme_status_str(0), "success"));
	CHECK(dmac_nvme_status_errno(sf(0, 0x01, 1)) == -EOPNOTSUPP);
	CHECK(dmac_nvme_status_errno(sf(0, 0x02, 1)) == -EINVAL);
	CHECK(dmac_nvme_status_errno(sf(0, 0x04, 0)) == -EIO);
	CHECK(strstr(dmac_nvme_status_str(sf(0, 0x04, 0)), "data transfer error"));
	CHECK(dmac_nvme_status_errno(sf(0, 0x07, 0)) == -ECANCELED);
	CHECK(dmac_nvme_status_errno(sf(0, 0x0b, 1)) == -ENODEV);
	CHECK(dmac_nvme_status_errno(sf(0, 0x80, 1)) == -ERANGE);
	CHECK(strstr(dmac_nvme_status_str(sf(0, 0x80, 1)), "LBA out of range"));
	CHECK(dmac_nvme_status_errno(sf(0, 0x81, 0)) == -ENOSPC);
	CHECK(dmac_nvme_status_errno(sf(0, 0x82, 0)) == -EAGAIN);
	CHECK(dmac_nvme_status_errno(sf(1, 0x01, 1)) == -EINVAL);
	CHECK(strstr(dmac_nvme_status_str(sf(1, 0x01, 1)), "invalid queue identifier"));
	CHECK(dmac_nvme_status_errno(sf(1, 0x02, 1)) == -EINVAL);
	CHECK(dmac_nvme_status_errno(sf(1, 0x08, 1)) == -EINVAL);
	CHECK(dmac_nvme_status_errno(sf(1, 0x82, 1)) == -EROFS);
	CHECK(dmac_nvme_status_errno(sf(2, 0x81, 0)) == -EIO);
	CHECK(strstr(dmac_nvme_status_str(sf(2, 0x81, 0)), "unrecovered read error"));
	CHECK(dmac_nvme_status_errno(sf(2, 0x86, 0)) == -EACCES);
	/* More (bit 13) does not change the meaning */
	CHECK(dmac_nvme_status_errno((uint16_t)(sf(0, 0x80, 0) | (1u << 13))) == -ERANGE);
	/* unknown codes: -EIO, message by type */
	CHECK(dmac_nvme_status_errno(sf(0, 0x7f, 0)) == -EIO);
	CHECK(strstr(dmac_nvme_status_str(sf(0, 0x7f, 0)), "generic: unknown"));
	CHECK(dmac_nvme_status_errno(sf(1, 0x7f, 0)) == -EIO);
	CHECK(strstr(dmac_nvme_status_str(sf(2, 0x00, 0)), "media"));
	CHECK(strstr(dmac_nvme_status_str(sf(3, 0x00, 0)), "path"));
	CHECK(dmac_nvme_status_errno(sf(7, 0x01, 0)) == -EIO);
	CHECK(strstr(dmac_nvme_status_str(sf(7, 0x01, 0)), "vendor"));
	CHECK(strstr(dmac_nvme_status_str(sf(5, 0x01, 0)), "reserved"));
	printf("nvme_status: %d checks, %d failed\n", checks, failures);
	return failures || !checks ? 1 : 0;
}
