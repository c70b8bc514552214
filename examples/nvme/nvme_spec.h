/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parts of the NVMe base specification (2.0) and NVM command set the
 * example driver uses: controller registers, the 64-byte submission entry,
 * the 16-byte completion entry, opcodes, the Identify data fields read, and
 * status codes. Written for this project from the specification's tables;
 * field names follow the specification's abbreviations.
 *
 * Invariants: every register offset is a byte offset into BAR0; every
 * bit-field helper takes the whole register value; structures are packed to
 * the specification's sizes (checked with static asserts below). All
 * multi-byte fields are little-endian (the driver only runs on x86-64 and
 * other little-endian hosts; nvme.c refuses to build elsewhere).
 */
#ifndef DMAC_NVME_SPEC_H
#define DMAC_NVME_SPEC_H

#include <stdint.h>

/* ---- controller registers (BAR0) ----------------------------------------- */
#define NVME_REG_CAP   0x00   /* 64 bit: capabilities */
#define NVME_REG_VS    0x08   /* version */
#define NVME_REG_INTMS 0x0c   /* interrupt mask set (pin-based / single MSI) */
#define NVME_REG_INTMC 0x10   /* interrupt mask clear */
#define NVME_REG_CC    0x14   /* controller configuration */
#define NVME_REG_CSTS  0x1c   /* controller status */
#define NVME_REG_AQA   0x24   /* admin queue attributes */
#define NVME_REG_ASQ   0x28   /* 64 bit: admin SQ base */
#define NVME_REG_ACQ   0x30   /* 64 bit: admin CQ base */
#define NVME_REG_DBS   0x1000 /* first doorbell */

/* CAP fields */
#define NVME_CAP_MQES(cap)   ((uint32_t)((cap)&0xffff))		/* max queue entries, 0's based */
#define NVME_CAP_CQR(cap)    ((uint32_t)(((cap) >> 16) & 1))	/* contiguous queues required */
#define NVME_CAP_TO(cap)     ((uint32_t)(((cap) >> 24) & 0xff)) /* ready timeout, 500 ms units */
#define NVME_CAP_DSTRD(cap)  ((uint32_t)(((cap) >> 32) & 0xf))	/* doorbell stride 2^(2+n) */
#define NVME_CAP_NSSRS(cap)  ((uint32_t)(((cap) >> 36) & 1))
#define NVME_CAP_CSS(cap)    ((uint32_t)(((cap) >> 37) & 0xff)) /* command sets supported */
#define NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf))	/* min page 2^(12+n) */
#define NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))	/* max page 2^(12+n) */
#define NVME_CAP_CSS_NVM     0x01u /* bit 0 of CSS: the NVM command set */

/* CC fields */
#define NVME_CC_EN	   (1u << 0)
#define NVME_CC_CSS_NVM	   (0u << 4)
#define NVME_CC_MPS(n)	   ((uint32_t)(n) << 7) /* page size 2^(12+n) */
#define NVME_CC_AMS_RR	   (0u << 11)
#define NVME_CC_SHN_MASK   (3u << 14)
#define NVME_CC_SHN_NORMAL (1u << 14)
#define NVME_CC_IOSQES(n)  ((uint32_t)(n) << 16) /* SQ entry 2^n bytes */
#define NVME_CC_IOCQES(n)  ((uint32_t)(n) << 20) /* CQ entry 2^n bytes */

/* CSTS fields */
#define NVME_CSTS_RDY	    (1u << 0)
#define NVME_CSTS_CFS	    (1u << 1) /* controller fatal status */
#define NVME_CSTS_SHST_MASK (3u << 2)
#define NVME_CSTS_SHST_DONE (2u << 2)

/* AQA: admin CQ size (27:16) and SQ size (11:0), both 0's based */
#define NVME_AQA(sq, cq) ((((uint32_t)(cq)-1) << 16) | ((uint32_t)(sq)-1))

/* ---- queue entries ------------------------------------------------------- */
/** Submission queue entry (64 bytes). */
struct nvme_sqe {
	uint8_t opc;   /* opcode */
	uint8_t flags; /* FUSE (1:0), PSDT (7:6): 0 = PRPs */
	uint16_t cid;  /* command identifier */
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1;
	uint64_t prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

/** Completion queue entry (16 bytes). */
struct nvme_cqe {
	uint32_t dw0; /* command specific result */
	uint32_t dw1;
	uint16_t sqhd; /* SQ head pointer */
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* bit 0: phase tag; 15:1 status field */
};

_Static_assert(sizeof(struct nvme_sqe) == 64, "SQ entry is 64 bytes");
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQ entry is 16 bytes");

#define NVME_SQES_LOG2 6
#define NVME_CQES_LOG2 4

/* Status field (the CQE's status >> 1): SC 7:0, SCT 10:8, CRD 12:11, M 13, DNR 14 */
#define NVME_STATUS_PHASE(st) ((st)&1u)
#define NVME_SF(st)	      ((uint16_t)((st) >> 1))
#define NVME_SF_SC(sf)	      ((sf)&0xffu)
#define NVME_SF_SCT(sf)	      (((sf) >> 8) & 0x7u)
#define NVME_SF_MORE(sf)      (((sf) >> 13) & 1u)
#define NVME_SF_DNR(sf)	      (((sf) >> 14) & 1u)

/* Status code types */
#define NVME_SCT_GENERIC 0
#define NVME_SCT_CMD	 1
#define NVME_SCT_MEDIA	 2
#define NVME_SCT_PATH	 3
#define NVME_SCT_VENDOR	 7

/* ---- opcodes --------------------------------------------------------------- */
#define NVME_ADM_DELETE_SQ    0x00
#define NVME_ADM_CREATE_SQ    0x01
#define NVME_ADM_DELETE_CQ    0x04
#define NVME_ADM_CREATE_CQ    0x05
#define NVME_ADM_IDENTIFY     0x06
#define NVME_ADM_SET_FEATURES 0x09

#define NVME_CMD_FLUSH 0x00
#define NVME_CMD_WRITE 0x01
#define NVME_CMD_READ  0x02

/* Identify CNS values (CDW10 7:0) */
#define NVME_CNS_NS	     0x00
#define NVME_CNS_CTRL	     0x01
#define NVME_CNS_ACTIVE_NSID 0x02

/* Features */
#define NVME_FEAT_NUM_QUEUES 0x07

/* Create I/O CQ CDW11: PC bit 0, IEN bit 1, IV 31:16; create I/O SQ CDW11:
 * PC bit 0, QPRIO 2:1, CQID 31:16. CDW10 of both: QSIZE (0's based) 31:16,
 * QID 15:0. */
#define NVME_QUEUE_PC	    (1u << 0)
#define NVME_CQ_IEN	    (1u << 1)
#define NVME_QCDW10(qid, n) ((((uint32_t)(n)-1) << 16) | (uint32_t)(qid))

/* ---- Identify data (4096 bytes each) --------------------------------------- */
/* Identify Controller: byte offsets of the fields read */
#define NVME_IDC_VID	0   /* u16 PCI vendor id */
#define NVME_IDC_SN	4   /* 20 ASCII, space padded */
#define NVME_IDC_MN	24  /* 40 ASCII */
#define NVME_IDC_FR	64  /* 8 ASCII */
#define NVME_IDC_MDTS	77  /* u8: max transfer 2^n x min page, 0 = no limit */
#define NVME_IDC_CNTLID 78  /* u16 */
#define NVME_IDC_VER	80  /* u32 */
#define NVME_IDC_SQES	512 /* u8: required (3:0) / max (7:4) SQ entry size log2 */
#define NVME_IDC_CQES	513
#define NVME_IDC_NN	516 /* u32: number of namespaces */

/* Identify Namespace */
#define NVME_IDNS_NSZE	0   /* u64 size in logical blocks */
#define NVME_IDNS_NCAP	8   /* u64 */
#define NVME_IDNS_NUSE	16  /* u64 */
#define NVME_IDNS_NLBAF 25  /* u8: number of LBA formats, 0's based */
#define NVME_IDNS_FLBAS 26  /* u8: 3:0 format index low bits, 6:5 high bits */
#define NVME_IDNS_LBAF	128 /* 64 x u32: MS 15:0, LBADS 23:16, RP 25:24 */

#define NVME_FLBAS_INDEX(f) (((f)&0xfu) | ((((f) >> 5) & 0x3u) << 4))
#define NVME_LBAF_MS(l)	    ((l)&0xffffu)
#define NVME_LBAF_LBADS(l)  (((l) >> 16) & 0xffu)

#define NVME_IDENTIFY_LEN 4096u

#endif /* DMAC_NVME_SPEC_H */
