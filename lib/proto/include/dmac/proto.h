/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * The dmacache wire protocol: message layouts, the codec and the fd layer.
 *
 * docs/protocol.md is the normative description; this header is its C form.
 * The daemon (apps/dmacached) and the client library (libdmacache) share it.
 *
 * Invariants of this header:
 * - Every message is one SOCK_SEQPACKET packet and starts with struct
 *   dmac_proto_hdr; hdr.size is the whole message, equal to the packet length,
 *   a multiple of 8 and at most DMAC_PROTO_MAX_MSG.
 * - Integers are in host byte order (little-endian on every supported host);
 *   the socket is local (AF_UNIX), so both ends are on the same host.
 * - Every field is naturally aligned; every struct is a multiple of 8 bytes;
 *   padding is explicit ("reserved") and must be zero.
 * - A vector message has struct dmac_proto_vec at offset 24; its vector starts at
 *   vec_offset and holds count elements of elem_size bytes, and
 *   vec_offset + count * elem_size == hdr.size exactly.
 * - Ranges are [offset, offset + length): 'end' exclusive; IOVA windows carry an
 *   inclusive 'last'.
 * - The codec never allocates and never keeps a pointer past the call; a
 *   struct dmac_proto_view points into the caller's buffer and lives as long as
 *   that buffer.
 */
#ifndef DMAC_PROTO_H
#define DMAC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Protocol version this codec speaks (HELLO negotiates min(client, daemon)).
 * Version 2 appends counters to the STATS reply (docs/protocol.md 6.7);
 * version 3 appends accounting to the ADMIN_TENANTS element and adds
 * ADMIN_SESSIONS and ADMIN_HISTOGRAM (6.8, 6.12, 6.13). */
#define DMAC_PROTO_VERSION 3u
/** Largest message, in bytes, either side may send. */
#define DMAC_PROTO_MAX_MSG 65536u
/** Most elements in one vector. */
#define DMAC_PROTO_MAX_VEC 256u
/** Most fds in one message (SCM_RIGHTS). */
#define DMAC_PROTO_MAX_FDS 16u
/** Size of the tenant name field, terminating NUL included. */
#define DMAC_PROTO_TENANT_MAX 64u
/** Granule every offset and length in a request must be a multiple of. */
#define DMAC_PROTO_MIN_PAGE 4096u
/** Largest status value a reply may carry (a positive errno). */
#define DMAC_PROTO_MAX_STATUS 4095u

/** Opcodes. 0 is never valid. */
enum dmac_proto_op {
	DMAC_OP_HELLO = 1,
	DMAC_OP_REGISTER = 2,
	DMAC_OP_UNREGISTER = 3,
	DMAC_OP_LEASE = 4,
	DMAC_OP_RELEASE = 5,
	DMAC_OP_QUERY = 6,
	DMAC_OP_STATS = 7,
	DMAC_OP_ADMIN_TENANTS = 8,    /**< operator view: every tenant (admin sessions only) */
	DMAC_OP_ADMIN_LEASES = 9,     /**< operator view: every lease (admin sessions only) */
	DMAC_OP_DEVICE = 10,	      /**< claim one of the tenant's devices; reply carries fds */
	DMAC_OP_ADMIN_SESSIONS = 11,  /**< operator view: every session (admin sessions only) */
	DMAC_OP_ADMIN_HISTOGRAM = 12, /**< a latency histogram of the daemon (admin only) */
	DMAC_OP__COUNT
};

/** hdr.flags: set in every reply, clear in every request. */
#define DMAC_PROTO_F_REPLY 0x1u
#define DMAC_PROTO_F_ALL   DMAC_PROTO_F_REPLY

/** prot bits of REGISTER and LEASE elements (at least one must be set). */
#define DMAC_PROTO_PROT_READ  0x1u /**< the device may read the memory */
#define DMAC_PROTO_PROT_WRITE 0x2u /**< the device may write the memory */
#define DMAC_PROTO_PROT_ALL   (DMAC_PROTO_PROT_READ | DMAC_PROTO_PROT_WRITE)

/** Common header of every request and reply (24 bytes). */
struct dmac_proto_hdr {
	uint32_t size;	 /**< 0: whole message in bytes */
	uint32_t opcode; /**< 4: enum dmac_proto_op; a reply repeats the request's */
	uint64_t tag;	 /**< 8: chosen by the client, echoed by the reply */
	uint32_t flags;	 /**< 16: DMAC_PROTO_F_* */
	uint32_t status; /**< 20: replies: 0 or a positive errno; requests: 0 */
};

/** Vector descriptor, at offset 24 of every vector message (8 bytes). */
struct dmac_proto_vec {
	uint32_t count;	     /**< number of elements */
	uint16_t elem_size;  /**< bytes per element, multiple of 8 */
	uint16_t vec_offset; /**< offset of element 0 from the message start */
};

/* ---- HELLO ---------------------------------------------------------------- */

struct dmac_proto_hello_req {
	struct dmac_proto_hdr hdr;
	uint32_t version;		    /**< 24: highest version the client speaks, >= 1 */
	uint32_t reserved;		    /**< 28 */
	char tenant[DMAC_PROTO_TENANT_MAX]; /**< 32: NUL-terminated, zero-padded */
};

struct dmac_proto_hello_rep {
	struct dmac_proto_hdr hdr;
	uint32_t version;	     /**< 24: negotiated version */
	uint32_t max_vec;	     /**< 28: DMAC_PROTO_MAX_VEC of the daemon */
	uint64_t session_id;	     /**< 32: non-zero */
	uint64_t quota_pinned_bytes; /**< 40: tenant's pinned-bytes quota */
	uint64_t quota_leases;	     /**< 48: tenant's lease-count quota */
	uint64_t iova_start;	     /**< 56: tenant's IOVA window, first byte */
	uint64_t iova_last;	     /**< 64: tenant's IOVA window, last byte (inclusive) */
	uint32_t max_fds;	     /**< 72: DMAC_PROTO_MAX_FDS of the daemon */
	uint32_t max_msg;	     /**< 76: DMAC_PROTO_MAX_MSG of the daemon */
};

/* ---- vector requests: REGISTER, UNREGISTER, LEASE, RELEASE ---------------- */

/** Fixed part shared by every vector request (40 bytes). */
struct dmac_proto_vec_req {
	struct dmac_proto_hdr hdr;
	struct dmac_proto_vec vec; /**< 24 */
	uint32_t flags;		   /**< 32: none defined, must be 0 */
	uint32_t reserved;	   /**< 36 */
};

/** Fixed part shared by REGISTER/UNREGISTER/LEASE/RELEASE replies (40 bytes). */
struct dmac_proto_vec_rep {
	struct dmac_proto_hdr hdr;
	struct dmac_proto_vec vec; /**< 24 */
	uint64_t reserved;	   /**< 32 */
};

/** REGISTER request element (32 bytes). */
struct dmac_proto_reg_range {
	uint32_t fd_index; /**< 0: index into the message's SCM_RIGHTS fds */
	uint32_t prot;	   /**< 4: DMAC_PROT_* */
	uint64_t offset;   /**< 8: byte offset in the file */
	uint64_t length;   /**< 16: bytes, non-zero */
	uint32_t flags;	   /**< 24: none defined, must be 0 */
	uint32_t reserved; /**< 28 */
};

/** REGISTER reply element, one per range in request order (16 bytes). */
struct dmac_proto_reg_result {
	uint64_t reg_id;     /**< 0: non-zero registration id */
	uint32_t page_shift; /**< 8: log2 of the backing page size, 12..40 */
	uint32_t reserved;   /**< 12 */
};

/** UNREGISTER request element (8 bytes). */
struct dmac_proto_unreg_item {
	uint64_t reg_id; /**< 0: non-zero */
};

/** LEASE request element (32 bytes). */
struct dmac_proto_lease_item {
	uint64_t reg_id; /**< 0: non-zero registration id */
	uint64_t offset; /**< 8: byte offset inside the registration */
	uint64_t length; /**< 16: bytes, non-zero */
	uint32_t prot;	 /**< 24: DMAC_PROT_*, within the registration's prot */
	uint32_t flags;	 /**< 28: none defined, must be 0 */
};

/** LEASE reply element, one per item in request order (32 bytes). */
struct dmac_proto_lease_grant {
	uint64_t lease_id;   /**< 0: non-zero, unguessable */
	uint64_t generation; /**< 8 */
	uint64_t iova;	     /**< 16 */
	uint64_t length;     /**< 24: non-zero; iova + length - 1 does not wrap */
};

/** RELEASE request element (16 bytes). */
struct dmac_proto_release_item {
	uint64_t lease_id;   /**< 0: non-zero */
	uint64_t generation; /**< 8: must match the lease's */
};

/** RELEASE and UNREGISTER reply element, one per item in order (16 bytes). */
struct dmac_proto_item_status {
	uint64_t id;	   /**< 0: lease id (RELEASE) or registration id (UNREGISTER) */
	uint32_t status;   /**< 8: 0 or a positive errno */
	uint32_t reserved; /**< 12 */
};

/* ---- QUERY ---------------------------------------------------------------- */

struct dmac_proto_query_req {
	struct dmac_proto_hdr hdr;
	uint64_t cursor;    /**< 24: 0 = from the start, else a next_cursor */
	uint32_t max_count; /**< 32: 1..DMAC_PROTO_MAX_VEC */
	uint32_t flags;	    /**< 36: none defined, must be 0 */
};

struct dmac_proto_query_rep {
	struct dmac_proto_hdr hdr;
	struct dmac_proto_vec vec; /**< 24: count 0..max_count */
	uint64_t next_cursor;	   /**< 32: 0 = no more leases */
};

/** QUERY reply element (56 bytes). */
struct dmac_proto_lease_info {
	uint64_t lease_id;   /**< 0 */
	uint64_t generation; /**< 8 */
	uint64_t iova;	     /**< 16 */
	uint64_t length;     /**< 24 */
	uint64_t reg_id;     /**< 32 */
	uint64_t reg_offset; /**< 40 */
	uint32_t prot;	     /**< 48 */
	uint32_t reserved;   /**< 52 */
};

/* ---- STATS ---------------------------------------------------------------- */

/** STATS request: the header alone (24 bytes). */
struct dmac_proto_stats_req {
	struct dmac_proto_hdr hdr;
};

/** STATS counters; new counters are appended (72 bytes in version 1). */
struct dmac_proto_stats {
	uint64_t cache_hits;	/**< 24 (offset in the reply) */
	uint64_t cache_misses;	/**< 32 */
	uint64_t evictions;	/**< 40 */
	uint64_t bytes_pinned;	/**< 48 */
	uint64_t areas;		/**< 56 */
	uint64_t leases;	/**< 64 */
	uint64_t tenants;	/**< 72 */
	uint64_t sessions;	/**< 80 */
	uint64_t registrations; /**< 88; the version-1 reply ends here (96 bytes) */
	/* version 2 */
	uint64_t copy_hits;	    /**< 96: leases served by an existing mapping */
	uint64_t copy_misses;	    /**< 104: leases that needed IOMMU_IOAS_COPY */
	uint64_t kernel_copies;	    /**< 112: copy calls made */
	uint64_t kernel_unmaps;	    /**< 120: unmap calls made for tenant mappings */
	uint64_t copies_kept_bytes; /**< 128: released but still mapped (lazy) */
	uint64_t unmap_failures;    /**< 136: mappings whose unmap failed, kept, retried */
	uint64_t tenant_copies;	    /**< 144: mappings in tenant spaces */
};

/** Size of a version-1 STATS reply: the fields up to registrations. */
#define DMAC_PROTO_STATS_REP_V1_SIZE 96u

struct dmac_proto_stats_rep {
	struct dmac_proto_hdr hdr;
	struct dmac_proto_stats stats; /**< 24 */
};

/* ---- ADMIN_TENANTS, ADMIN_LEASES ------------------------------------------ */

/*
 * The operator's view across tenants. Both requests have the layout of QUERY
 * (struct dmac_proto_query_req: cursor, max_count 1..DMAC_PROTO_MAX_VEC, flags
 * 0) and both replies the layout of QUERY's reply (vector at 24, next_cursor at
 * 32, elements from 40). The daemon answers them only on an admin session: one
 * that said HELLO as DMAC_PROTO_ADMIN_TENANT and whose peer uid is 0 or whose
 * gid is one of the daemon's admin groups (else EPERM); a daemon without them
 * answers ENOTTY.
 */

/** The reserved tenant name of an admin session (HELLO accepts it as well). */
#define DMAC_PROTO_ADMIN_TENANT "@admin"

/**
 * ADMIN_TENANTS reply element: 120 bytes up to iova_last (versions 1 and 2),
 * 192 bytes from version 3. A receiver accepts elements of 120 bytes and more
 * (the version-3 fields of a shorter element read as 0).
 */
struct dmac_proto_tenant_info {
	char name[DMAC_PROTO_TENANT_MAX]; /**< 0: a valid tenant name, zero-padded */
	uint64_t sessions;		  /**< 64: sessions bound to it now */
	uint64_t leases;		  /**< 72: live leases */
	uint64_t bytes_leased;		  /**< 80: sum of their lengths */
	uint64_t quota_pinned_bytes;	  /**< 88 */
	uint64_t quota_leases;		  /**< 96 */
	uint64_t iova_start;		  /**< 104: IOVA window, first byte */
	uint64_t iova_last;		  /**< 112: last byte (inclusive), >= iova_start */
	/* version 3 */
	uint64_t bytes_registered; /**< 120: bytes its sessions have registered */
	uint64_t bytes_pinned;	   /**< 128: charged to quota_pinned_bytes at REGISTER:
				    *   bytes_registered plus the unused cached areas it
				    *   brought in; >= bytes_registered */
	uint64_t bytes_kept;	   /**< 136: released but still mapped (release = lazy) */
	uint64_t registrations;	   /**< 144: live registrations of its sessions */
	uint64_t cache_hits;	   /**< 152: REGISTER ranges found in the master cache */
	uint64_t cache_misses;	   /**< 160: REGISTER ranges that needed a new pin */
	uint64_t copy_hits;	   /**< 168: LEASE items served by an existing mapping */
	uint64_t copy_misses;	   /**< 176: LEASE items that needed a new mapping */
	uint64_t lease_requests;   /**< 184: LEASE requests its sessions sent (any status) */
};

/** Size of an ADMIN_TENANTS element in versions 1 and 2 (up to iova_last). */
#define DMAC_PROTO_TENANT_INFO_V2_SIZE 120u

/** ADMIN_LEASES reply element (128 bytes): a QUERY element plus its owner. */
struct dmac_proto_admin_lease {
	struct dmac_proto_lease_info info;  /**< 0: as QUERY */
	uint64_t session_id;		    /**< 56: non-zero */
	char tenant[DMAC_PROTO_TENANT_MAX]; /**< 64: a valid tenant name, zero-padded */
};

/* ---- ADMIN_SESSIONS (version 3) ------------------------------------------- */

/*
 * Every connection of the daemon, bound or not. Request: QUERY's layout
 * (cursor, max_count, flags 0); reply: QUERY's reply layout with one struct
 * dmac_proto_session_info per session, by session id increasing.
 */

/** Size of the process name field (Linux TASK_COMM_LEN), NUL included. */
#define DMAC_PROTO_COMM_MAX 16u

/** Session flags. */
#define DMAC_PROTO_SESSION_F_PIDFD 0x1u /**< the daemon watches the process with a pidfd */
#define DMAC_PROTO_SESSION_F_ALL   DMAC_PROTO_SESSION_F_PIDFD

/** ADMIN_SESSIONS reply element (136 bytes). */
struct dmac_proto_session_info {
	uint64_t session_id;		    /**< 0: non-zero */
	uint32_t pid;			    /**< 8: SO_PEERCRED at accept; 0 = unknown */
	uint32_t uid;			    /**< 12: SO_PEERCRED at accept */
	uint32_t gid;			    /**< 16: SO_PEERCRED at accept */
	uint32_t flags;			    /**< 20: DMAC_PROTO_SESSION_F_* */
	char tenant[DMAC_PROTO_TENANT_MAX]; /**< 24: tenant name, DMAC_PROTO_ADMIN_TENANT,
					     *   or all zero (no HELLO yet) */
	char comm[DMAC_PROTO_COMM_MAX];	    /**< 88: process name read at accept; any
					     *   bytes but NUL, NUL-terminated,
					     *   zero-padded; empty = unknown */
	uint64_t registrations;		    /**< 104 */
	uint64_t bytes_registered;	    /**< 112 */
	uint64_t leases;		    /**< 120 */
	uint64_t bytes_leased;		    /**< 128 */
};

/* ---- ADMIN_HISTOGRAM (version 3) ------------------------------------------ */

/** Histogram ids. */
enum dmac_proto_hist_id {
	DMAC_PROTO_HIST_LEASE = 1, /**< LEASE request processing time, nanoseconds */
};

/** Most buckets in one histogram. */
#define DMAC_PROTO_HIST_MAX_BUCKETS 64u

/** ADMIN_HISTOGRAM request (32 bytes). */
struct dmac_proto_histogram_req {
	struct dmac_proto_hdr hdr;
	uint32_t id;	/**< 24: enum dmac_proto_hist_id, non-zero */
	uint32_t flags; /**< 28: none defined, must be 0 */
};

/** ADMIN_HISTOGRAM reply, fixed part (56 bytes); buckets follow. */
struct dmac_proto_histogram_rep {
	struct dmac_proto_hdr hdr;
	struct dmac_proto_vec vec; /**< 24: buckets, count 1..DMAC_PROTO_HIST_MAX_BUCKETS */
	uint32_t id;		   /**< 32: the request's id */
	uint32_t reserved;	   /**< 36 */
	uint64_t count;		   /**< 40: observations = the sum of the bucket counts */
	uint64_t sum;		   /**< 48: sum of the observed values (wraps at 2^64) */
};

/** One bucket (16 bytes). Counts are per bucket, not cumulative. */
struct dmac_proto_hist_bucket {
	uint64_t le;	/**< 0: upper bound, inclusive; strictly increasing; the
			 *   last bucket's is UINT64_MAX (+Inf) */
	uint64_t count; /**< 8: observations v with previous le < v <= le */
};

/* ---- DEVICE --------------------------------------------------------------- */

/*
 * A session claims one of its tenant's devices (config key 'devices') and
 * receives what it needs to drive it. The reply is the only message that
 * carries fds from the daemon, in this fixed order: one fd per BAR whose
 * flags have DMAC_PROTO_BAR_MMAP (ascending BAR number; the sysfs resourceN
 * file opened O_RDWR), then nirqs interrupt eventfds (vector 0 first), then,
 * in trusted mode only, the VFIO device fd. Every index field names a
 * position in that order; nfds is their total and equals the fds received.
 */

/** Size of a PCI address field ("DDDD:BB:DD.F", NUL-terminated, zero-padded). */
#define DMAC_PROTO_BDF_MAX 16u
/** Most devices a tenant can have (index 0..7). */
#define DMAC_PROTO_MAX_DEVICES 8u
/** Number of standard PCI BARs. */
#define DMAC_PROTO_NUM_BARS 6u
/** "No fd" in an fd index field. */
#define DMAC_PROTO_NO_FD UINT32_MAX

/** DEVICE request flags. */
#define DMAC_PROTO_DEVICE_F_BY_BDF 0x1u /**< select by 'bdf', not by 'index' */
#define DMAC_PROTO_DEVICE_F_ALL	   DMAC_PROTO_DEVICE_F_BY_BDF

/** DEVICE request (48 bytes). */
struct dmac_proto_device_req {
	struct dmac_proto_hdr hdr;
	uint32_t index; /**< 24: position in the tenant's 'devices', 0..7; 0 with BY_BDF */
	uint32_t flags; /**< 28: DMAC_PROTO_DEVICE_F_* */
	char
	    bdf[DMAC_PROTO_BDF_MAX]; /**< 32: with BY_BDF: "DDDD:BB:DD.F" or "BB:DD.F"; else zero */
};

/** Device access modes (tenant config key 'trusted'). */
enum dmac_proto_device_mode {
	DMAC_PROTO_DEVICE_STRICT = 0,  /**< BAR fds and eventfds, never the device fd */
	DMAC_PROTO_DEVICE_TRUSTED = 1, /**< plus the VFIO device fd: NOT an isolation boundary */
};

/** Interrupt kinds the daemon wired (VFIO_DEVICE_SET_IRQS). */
enum dmac_proto_irq_type {
	DMAC_PROTO_IRQ_NONE = 0,
	DMAC_PROTO_IRQ_INTX = 1,
	DMAC_PROTO_IRQ_MSI = 2,
	DMAC_PROTO_IRQ_MSIX = 3,
};

/** BAR flags. A BAR of size 0 (absent) has flags 0 and no fd. */
#define DMAC_PROTO_BAR_MEM	0x01u /**< memory BAR */
#define DMAC_PROTO_BAR_IO	0x02u /**< I/O port BAR (never mmap-able) */
#define DMAC_PROTO_BAR_64	0x04u /**< 64-bit memory BAR (takes two BAR slots) */
#define DMAC_PROTO_BAR_PREFETCH 0x08u /**< prefetchable memory */
#define DMAC_PROTO_BAR_MMAP	0x10u /**< an fd of its resourceN file came with the reply */
#define DMAC_PROTO_BAR_F_ALL	0x1fu

/** One BAR of a DEVICE reply (16 bytes). */
struct dmac_proto_bar {
	uint64_t size;	   /**< 0: bytes; 0 = absent */
	uint32_t flags;	   /**< 8: DMAC_PROTO_BAR_* */
	uint32_t fd_index; /**< 12: with BAR_MMAP its fd's position, else DMAC_PROTO_NO_FD */
};

/** DEVICE reply (176 bytes). */
struct dmac_proto_device_rep {
	struct dmac_proto_hdr hdr;
	char bdf[DMAC_PROTO_BDF_MAX]; /**< 24: full form "DDDD:BB:DD.F" */
	uint16_t vendor_id;	      /**< 40 */
	uint16_t device_id;	      /**< 42 */
	int32_t numa_node;	      /**< 44: -1 = unknown */
	uint32_t mode;		      /**< 48: enum dmac_proto_device_mode */
	uint32_t irq_type;	      /**< 52: enum dmac_proto_irq_type */
	uint32_t nirqs;		      /**< 56: eventfds sent; 0 iff IRQ_NONE */
	uint32_t irq_fd_first;	      /**< 60: position of vector 0's eventfd, or NO_FD */
	uint32_t device_fd_index;     /**< 64: trusted: the device fd's position; strict: NO_FD */
	uint32_t nfds;		      /**< 68: fds sent with this reply, 0..16 */
	struct dmac_proto_bar bars[DMAC_PROTO_NUM_BARS]; /**< 72 */
	uint64_t reserved;				 /**< 168 */
};

/* ---- decoding ------------------------------------------------------------- */

/**
 * A validated message: pointers into the caller's buffer.
 *
 * For a reply with a non-zero status, vec is NULL and count 0.
 */
struct dmac_proto_view {
	const struct dmac_proto_hdr *hdr; /**< the message; cast per opcode */
	uint32_t opcode;
	uint32_t status; /**< replies only */
	uint64_t tag;
	uint32_t size;	    /**< hdr->size */
	uint32_t nfds;	    /**< fds that came with the message */
	const void *vec;    /**< element 0, or NULL */
	uint32_t count;	    /**< number of elements */
	uint32_t elem_size; /**< stride between elements (>= the known element size) */
};

/** Element @p i of a validated vector (i < v->count). */
static inline const void *dmac_proto_view_elem(const struct dmac_proto_view *v, uint32_t i)
{
	return (const char *)v->vec + (size_t)i * v->elem_size;
}

/**
 * Copy element @p i of a validated vector into @p dst (@p size bytes, the
 * receiver's struct): the bytes both know, then zeros. An element may be
 * shorter than the receiver's struct (an older sender: ADMIN_TENANTS) or
 * longer (a newer one: its tail was checked to be zero).
 */
static inline void dmac_proto_view_elem_copy(const struct dmac_proto_view *v, uint32_t i, void *dst,
					     size_t size)
{
	size_t n = v->elem_size < size ? v->elem_size : size;
	const void *src = dmac_proto_view_elem(v, i);

	__builtin_memcpy(dst, src, n);
	__builtin_memset((char *)dst + n, 0, size - n);
}

/**
 * Validate a request received from a client.
 *
 * @param buf   the packet; must be 8-byte aligned
 * @param len   the packet length as received
 * @param nfds  number of fds received with it (0..DMAC_PROTO_MAX_FDS)
 * @param out   filled on success only
 * @return 0, or:
 *  -EINVAL  shorter than its opcode's minimum, size field != len, size not a
 *           multiple of 8, misaligned buffer, bad vector descriptor, count out of
 *           range, bad field value (length 0, misaligned offset, bad tenant name)
 *  -E2BIG   bytes beyond what this codec understands are not zero
 *  -EOPNOTSUPP  a reserved field or the hdr status is non-zero, unknown flags or
 *           prot bits
 *  -ENOTTY  unknown opcode
 *  -EOVERFLOW  offset + length wraps
 *  -EMSGSIZE  len > DMAC_PROTO_MAX_MSG
 *  -EBADR   fd count does not match the fds the request references (REGISTER:
 *           indexes must be exactly 0..nfds-1; others: nfds must be 0).
 *  DEVICE requests: index > 7, index non-zero with BY_BDF, or a 'bdf' that is
 *  not [0-9a-fA-F:.] characters NUL-terminated and zero-padded (empty with
 *  BY_BDF, non-zero without it) give -EINVAL; unknown flags -EOPNOTSUPP.
 *           Session-ending (see dmac_proto_err_is_fatal()).
 * Concurrency: pure function of its arguments; any thread.
 */
DMAC_EXPORT int dmac_proto_decode_request(const void *buf, size_t len, unsigned int nfds,
					  struct dmac_proto_view *out);

/**
 * Validate a reply received from the daemon. Same rules and errors as
 * dmac_proto_decode_request(); replies carry no fds (else -EBADR) except a
 * DEVICE reply with status 0, whose nfds field must equal @p nfds and whose fd
 * indexes must follow the order given above struct dmac_proto_device_req (else
 * -EBADR); its other rules: bdf a non-empty NUL-terminated zero-padded field
 * of [0-9a-fA-F:.], mode and irq_type known, nirqs == 0 iff IRQ_NONE, BAR
 * flags known (else -EOPNOTSUPP), MEM and IO not both, MMAP only with MEM,
 * size 0 iff flags 0 (else -EINVAL). A reply
 * with a non-zero status carries no body (tail must be zero, else -E2BIG), and
 * its status must be <= DMAC_PROTO_MAX_STATUS (else -EINVAL).
 * Concurrency: pure function; any thread.
 */
DMAC_EXPORT int dmac_proto_decode_reply(const void *buf, size_t len, unsigned int nfds,
					struct dmac_proto_view *out);

/**
 * Check that a validated reply answers a validated request: same opcode and
 * tag and, when the status is 0, one element per request element for
 * REGISTER, UNREGISTER, LEASE and RELEASE, at most max_count for QUERY,
 * ADMIN_TENANTS, ADMIN_LEASES and ADMIN_SESSIONS, and the same id for
 * ADMIN_HISTOGRAM.
 * @return 0 or -EPROTO. Concurrency: pure function; any thread.
 */
DMAC_EXPORT int dmac_proto_reply_matches(const struct dmac_proto_view *req,
					 const struct dmac_proto_view *rep);

/**
 * Check a tenant name field: NUL-terminated within DMAC_PROTO_TENANT_MAX bytes,
 * 1..63 characters of [A-Za-z0-9._-] starting with a letter or digit, and only
 * zero bytes after the NUL.
 * @return 0 or -EINVAL. Concurrency: pure function; any thread.
 */
DMAC_EXPORT int dmac_proto_check_tenant(const char field[DMAC_PROTO_TENANT_MAX]);

/**
 * True when a tenant name field is exactly DMAC_PROTO_ADMIN_TENANT, zero-padded.
 * HELLO accepts this name besides those dmac_proto_check_tenant() accepts; no
 * configured tenant can have it (it does not start with a letter or digit).
 * Concurrency: pure function; any thread.
 */
DMAC_EXPORT bool dmac_proto_is_admin_tenant(const char field[DMAC_PROTO_TENANT_MAX]);

/* ---- encoding ------------------------------------------------------------- */

/*
 * Every encoder writes one whole message into buf (8-byte aligned, cap bytes),
 * stores its length in *len and then validates the result with the decoder, so
 * it never emits what a peer would refuse. Errors: -EMSGSIZE when cap is too
 * small, -EINVAL on a misaligned buffer or a count out of range, and any error
 * of the decoder for a bad field. On error *len is 0 and buf is unspecified.
 * Concurrency: pure functions of their arguments; any thread.
 */

/** HELLO request, version DMAC_PROTO_VERSION. */
DMAC_EXPORT int dmac_proto_encode_hello_req(void *buf, size_t cap, uint64_t tag, const char *tenant,
					    size_t *len);
/** HELLO reply (status 0); info->hdr is ignored, every other field is copied. */
DMAC_EXPORT int dmac_proto_encode_hello_rep(void *buf, size_t cap, uint64_t tag,
					    const struct dmac_proto_hello_rep *info, size_t *len);
/** REGISTER request of n ranges referencing nfds fds (the fds sent with it). */
DMAC_EXPORT int dmac_proto_encode_register_req(void *buf, size_t cap, uint64_t tag,
					       const struct dmac_proto_reg_range *ranges,
					       uint32_t n, unsigned int nfds, size_t *len);
/** REGISTER reply: one result per range, in request order (n 1..256). */
DMAC_EXPORT int dmac_proto_encode_register_rep(void *buf, size_t cap, uint64_t tag,
					       const struct dmac_proto_reg_result *res, uint32_t n,
					       size_t *len);
/** UNREGISTER request of n registration ids (1..256). */
DMAC_EXPORT int dmac_proto_encode_unregister_req(void *buf, size_t cap, uint64_t tag,
						 const struct dmac_proto_unreg_item *items,
						 uint32_t n, size_t *len);
/** UNREGISTER reply: one item status per request item, in order. */
DMAC_EXPORT int dmac_proto_encode_unregister_rep(void *buf, size_t cap, uint64_t tag,
						 const struct dmac_proto_item_status *st,
						 uint32_t n, size_t *len);
/** LEASE request of n items (1..256); carries no fds. */
DMAC_EXPORT int dmac_proto_encode_lease_req(void *buf, size_t cap, uint64_t tag,
					    const struct dmac_proto_lease_item *items, uint32_t n,
					    size_t *len);
/** LEASE reply: one grant per item, in request order. */
DMAC_EXPORT int dmac_proto_encode_lease_rep(void *buf, size_t cap, uint64_t tag,
					    const struct dmac_proto_lease_grant *grants, uint32_t n,
					    size_t *len);
/** RELEASE request of n leases (1..256). */
DMAC_EXPORT int dmac_proto_encode_release_req(void *buf, size_t cap, uint64_t tag,
					      const struct dmac_proto_release_item *items,
					      uint32_t n, size_t *len);
/** RELEASE reply: one item status per lease, in request order. */
DMAC_EXPORT int dmac_proto_encode_release_rep(void *buf, size_t cap, uint64_t tag,
					      const struct dmac_proto_item_status *st, uint32_t n,
					      size_t *len);
/** QUERY request: leases from @p cursor (0 = start), at most max_count (1..256). */
DMAC_EXPORT int dmac_proto_encode_query_req(void *buf, size_t cap, uint64_t tag, uint64_t cursor,
					    uint32_t max_count, size_t *len);
/** QUERY reply: n (0..256) entries and the cursor of the next page (0 = end). */
DMAC_EXPORT int dmac_proto_encode_query_rep(void *buf, size_t cap, uint64_t tag,
					    uint64_t next_cursor,
					    const struct dmac_proto_lease_info *infos, uint32_t n,
					    size_t *len);
/** STATS request: the header alone. */
DMAC_EXPORT int dmac_proto_encode_stats_req(void *buf, size_t cap, uint64_t tag, size_t *len);
/**
 * STATS reply carrying *stats in the layout of protocol @p version: 96 bytes
 * (the version-1 fields) for version 1, the whole struct from version 2.
 */
DMAC_EXPORT int dmac_proto_encode_stats_rep(void *buf, size_t cap, uint64_t tag, uint32_t version,
					    const struct dmac_proto_stats *stats, size_t *len);
/** ADMIN_TENANTS request (layout of QUERY's). */
DMAC_EXPORT int dmac_proto_encode_admin_tenants_req(void *buf, size_t cap, uint64_t tag,
						    uint64_t cursor, uint32_t max_count,
						    size_t *len);
/**
 * ADMIN_TENANTS reply of n tenants (0..256) in the layout of protocol
 * @p version: elements of DMAC_PROTO_TENANT_INFO_V2_SIZE bytes (the fields
 * up to iova_last) before version 3, the whole struct from version 3.
 */
DMAC_EXPORT int dmac_proto_encode_admin_tenants_rep(void *buf, size_t cap, uint64_t tag,
						    uint32_t version, uint64_t next_cursor,
						    const struct dmac_proto_tenant_info *t,
						    uint32_t n, size_t *len);
/** ADMIN_LEASES request (layout of QUERY's). */
DMAC_EXPORT int dmac_proto_encode_admin_leases_req(void *buf, size_t cap, uint64_t tag,
						   uint64_t cursor, uint32_t max_count,
						   size_t *len);
/** ADMIN_LEASES reply of n leases (0..256). */
DMAC_EXPORT int dmac_proto_encode_admin_leases_rep(void *buf, size_t cap, uint64_t tag,
						   uint64_t next_cursor,
						   const struct dmac_proto_admin_lease *l,
						   uint32_t n, size_t *len);
/** ADMIN_SESSIONS request (layout of QUERY's). */
DMAC_EXPORT int dmac_proto_encode_admin_sessions_req(void *buf, size_t cap, uint64_t tag,
						     uint64_t cursor, uint32_t max_count,
						     size_t *len);
/** ADMIN_SESSIONS reply of n sessions (0..256). */
DMAC_EXPORT int dmac_proto_encode_admin_sessions_rep(void *buf, size_t cap, uint64_t tag,
						     uint64_t next_cursor,
						     const struct dmac_proto_session_info *s,
						     uint32_t n, size_t *len);
/** ADMIN_HISTOGRAM request for histogram @p id (non-zero). */
DMAC_EXPORT int dmac_proto_encode_histogram_req(void *buf, size_t cap, uint64_t tag, uint32_t id,
						size_t *len);
/**
 * ADMIN_HISTOGRAM reply: histogram @p id, n buckets (1..64, bounds strictly
 * increasing, the last UINT64_MAX), @p count the sum of their counts.
 */
DMAC_EXPORT int dmac_proto_encode_histogram_rep(void *buf, size_t cap, uint64_t tag, uint32_t id,
						uint64_t count, uint64_t sum,
						const struct dmac_proto_hist_bucket *b, uint32_t n,
						size_t *len);
/**
 * DEVICE request: by @p index (0..7) when @p bdf is NULL, else by PCI address
 * (index must be 0).
 */
DMAC_EXPORT int dmac_proto_encode_device_req(void *buf, size_t cap, uint64_t tag, uint32_t index,
					     const char *bdf, size_t *len);
/**
 * DEVICE reply (status 0); info->hdr is ignored, every other field is copied;
 * it is validated against info->nfds fds.
 */
DMAC_EXPORT int dmac_proto_encode_device_rep(void *buf, size_t cap, uint64_t tag,
					     const struct dmac_proto_device_rep *info, size_t *len);
/**
 * Error reply: the header alone with status = @p err (positive or negative
 * errno, 1..DMAC_PROTO_MAX_STATUS in magnitude). @p opcode may be any value,
 * so an unknown opcode can be answered with ENOTTY.
 */
DMAC_EXPORT int dmac_proto_encode_error(void *buf, size_t cap, uint32_t opcode, uint64_t tag,
					int err, size_t *len);

/* ---- names ---------------------------------------------------------------- */

/** Name of an opcode ("HELLO", ...), or "UNKNOWN". Never NULL; static storage. */
DMAC_EXPORT const char *dmac_proto_op_name(uint32_t opcode);
/**
 * What an errno means in this protocol (sign ignored): e.g. "E2BIG: bytes
 * beyond the known struct are not zero". Every error the codec, the fd layer
 * and the daemon's documented replies use has an entry; others get a generic
 * text. Never NULL; static storage; any thread.
 */
DMAC_EXPORT const char *dmac_proto_strerror(int err);
/**
 * True when @p err (sign ignored) from dmac_proto_recv(), the decoders or
 * dmac_proto_fd_inspect() means "end this client's session": ETOOMANYREFS
 * (MSG_CTRUNC, > 16 fds), EMSGSIZE (MSG_TRUNC), EPROTO (unexpected control
 * message), EBADR (fd count mismatch), EBADFD (wrong fd type), ECONNRESET
 * (peer closed or empty packet).
 */
DMAC_EXPORT bool dmac_proto_err_is_fatal(int err);

/* ---- fd layer ------------------------------------------------------------- */

/**
 * Send one message with 0..DMAC_PROTO_MAX_FDS fds (SCM_RIGHTS) on a
 * SOCK_SEQPACKET socket; MSG_NOSIGNAL; retried on EINTR. The caller keeps its fds.
 * @return 0, -EINVAL (nfds > 16, len 0 or > DMAC_PROTO_MAX_MSG), -EMSGSIZE (short
 * send), or the -errno of sendmsg() (send() when nfds is 0: the same packet).
 * Concurrency: one sender per socket at a time.
 */
DMAC_EXPORT int dmac_proto_send(int sock, const void *buf, size_t len, const int *fds,
				unsigned int nfds);

/**
 * Receive one message and its fds (recvmsg with MSG_CMSG_CLOEXEC, a control
 * buffer for DMAC_PROTO_MAX_FDS fds).
 *
 * On success the caller owns fds[0..*nfds-1] and must close them. On every
 * error every fd that arrived has been closed and *nfds is 0; *len is the
 * number of bytes that arrived (at most @p cap; 0 when recvmsg() itself
 * failed), so that a receiver can echo the opcode and tag of a message it
 * refuses.
 * @param buf  receive buffer, cap bytes (DMAC_PROTO_MAX_MSG to receive anything)
 * @param fds  room for DMAC_PROTO_MAX_FDS fds
 * @return 0, or: -ETOOMANYREFS (MSG_CTRUNC: more fds than the buffer holds),
 *  -EMSGSIZE (MSG_TRUNC: packet longer than cap), -EPROTO (a control message
 *  other than SOL_SOCKET/SCM_RIGHTS, e.g. SCM_CREDENTIALS), -ECONNRESET (peer
 *  closed, or an empty packet) - all session-ending - or -EAGAIN on a
 *  non-blocking socket with nothing queued, or another -errno of recvmsg().
 *  EINTR is retried.
 * Concurrency: one receiver per socket at a time.
 */
DMAC_EXPORT int dmac_proto_recv(int sock, void *buf, size_t cap, size_t *len, int *fds,
				unsigned int *nfds);

/** Close fds[0..n-1] and set them to -1. Never fails. */
DMAC_EXPORT void dmac_proto_close_fds(int *fds, unsigned int n);

/** Kinds of backing objects the daemon accepts. */
enum dmac_proto_fd_kind {
	DMAC_FD_SHMEM = 1,     /**< memfd (tmpfs), F_SEAL_SHRINK required */
	DMAC_FD_HUGETLBFS = 2, /**< hugetlbfs file or MFD_HUGETLB memfd */
};

/** What dmac_proto_fd_inspect() found. */
struct dmac_proto_fdinfo {
	enum dmac_proto_fd_kind kind;
	uint32_t seals;	    /**< F_GET_SEALS result (F_SEAL_*), 0 if unsealable */
	uint64_t size;	    /**< st_size */
	uint64_t page_size; /**< granule for offset and length */
	uint64_t dev;	    /**< st_dev: with ino, the backing object's identity */
	uint64_t ino;	    /**< st_ino */
	/** fcntl(F_GETFL) as dmac_proto_fd_inspect() read it (the access mode
	 * cannot change while the fd is open), or -1 when not read */
	int open_flags;
};

/**
 * Decide whether an fd is an acceptable backing object.
 *
 * Accepted: a regular file on tmpfs whose seals include F_SEAL_SHRINK (a sealed
 * memfd); a regular file on hugetlbfs whose seals include F_SEAL_SHRINK, or which
 * cannot be sealed at all (F_SEAL_SEAL set without F_SEAL_SHRINK, as for files
 * created in a hugetlbfs mount; the IOMMU pin keeps its pages alive).
 * F_SEAL_GROW and F_SEAL_SEAL are reported in info->seals, not required.
 * An fd opened with O_PATH is refused (-EBADF): it carries no access right.
 * A failing F_GET_SEALS is -EBADFD on tmpfs and hugetlbfs alike: it is never
 * taken to mean "cannot be sealed".
 * @return 0, or -EBADFD (wrong type: not a regular file, or not on tmpfs or
 *  hugetlbfs, or F_GET_SEALS fails - session-ending), -EPERM (sealable
 *  but F_SEAL_SHRINK missing), -EBADF (not an open fd, or an O_PATH fd),
 *  another -errno of fcntl/fstat/fstatfs.
 * Concurrency: any thread; the fd must stay open during the call.
 */
DMAC_EXPORT int dmac_proto_fd_inspect(int fd, struct dmac_proto_fdinfo *info);

/**
 * Check that the way @p fd was opened allows a registration with @p prot
 * (DMAC_PROTO_PROT_*), on an fd already accepted by dmac_proto_fd_inspect():
 * any prot needs read access (O_RDONLY or O_RDWR: the daemon maps the file
 * MAP_SHARED, and a device that reads memory discloses it); PROT_WRITE needs
 * O_RDWR and no write seal (F_SEAL_WRITE, F_SEAL_FUTURE_WRITE) in
 * info->seals. The access mode is info->open_flags when inspect read it
 * (so a request of many ranges of one fd asks the kernel once), else
 * fcntl(F_GETFL) on @p fd.
 * @return 0; -EACCES (access mode: O_WRONLY, or O_RDONLY with PROT_WRITE);
 *  -EPERM (write-sealed with PROT_WRITE); -EBADF (not an open fd, O_PATH);
 *  -EINVAL (info NULL, prot 0 or unknown bits).
 * Concurrency: any thread; the fd must stay open during the call.
 */
DMAC_EXPORT int dmac_proto_fd_check_prot(int fd, const struct dmac_proto_fdinfo *info,
					 uint32_t prot);

/**
 * Check a range against an inspected object: length non-zero, offset and
 * length multiples of info->page_size (-EINVAL), offset + length does not wrap
 * (-EOVERFLOW) and does not pass info->size (-ERANGE).
 * Concurrency: pure function; any thread.
 */
DMAC_EXPORT int dmac_proto_fd_check_range(const struct dmac_proto_fdinfo *info, uint64_t offset,
					  uint64_t length);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_PROTO_H */
