/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The dmacache wire codec: validation of every request and reply, encoders,
 * names for logs. docs/protocol.md is the normative description.
 *
 * Invariants of this file:
 * - No allocation, no global state, no syscalls: every function is a pure
 *   function of its arguments and may run in any thread.
 * - Validation order is fixed and documented (docs/protocol.md, "Validation
 *   order"): header, opcode, size and vector layout (EINVAL), unknown tails
 *   (E2BIG), reserved fields and flags (EOPNOTSUPP), field values (EINVAL,
 *   EOVERFLOW), and last the fd accounting (EBADR).
 * - In version 1 the minimum size of every struct equals the size this codec
 *   understands ('fixed' and 'elem' in the tables below); a later version that
 *   appends fields keeps the old minimum and raises what it understands.
 * - Ranges are [offset, offset + length): 'end' exclusive, and 'end' may not
 *   wrap (offset + length <= 2^64 - 1 is not enough: the sum itself must not
 *   overflow, so a range can never end at 2^64).
 * - Every encoder runs the decoder on its own output, so nothing this file
 *   emits is refused by a peer running the same version.
 */
#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include "dmac/proto.h"

_Static_assert(sizeof(struct dmac_proto_hdr) == 24, "hdr");
_Static_assert(sizeof(struct dmac_proto_vec) == 8, "vec");
_Static_assert(sizeof(struct dmac_proto_hello_req) == 96, "hello req");
_Static_assert(sizeof(struct dmac_proto_hello_rep) == 80, "hello rep");
_Static_assert(sizeof(struct dmac_proto_vec_req) == 40, "vec req");
_Static_assert(sizeof(struct dmac_proto_vec_rep) == 40, "vec rep");
_Static_assert(sizeof(struct dmac_proto_reg_range) == 32, "reg range");
_Static_assert(sizeof(struct dmac_proto_reg_result) == 16, "reg result");
_Static_assert(sizeof(struct dmac_proto_unreg_item) == 8, "unreg item");
_Static_assert(sizeof(struct dmac_proto_lease_item) == 32, "lease item");
_Static_assert(sizeof(struct dmac_proto_lease_grant) == 32, "lease grant");
_Static_assert(sizeof(struct dmac_proto_release_item) == 16, "release item");
_Static_assert(sizeof(struct dmac_proto_item_status) == 16, "item status");
_Static_assert(sizeof(struct dmac_proto_query_req) == 40, "query req");
_Static_assert(sizeof(struct dmac_proto_query_rep) == 40, "query rep");
_Static_assert(sizeof(struct dmac_proto_lease_info) == 56, "lease info");
_Static_assert(sizeof(struct dmac_proto_stats_req) == 24, "stats req");
_Static_assert(sizeof(struct dmac_proto_stats_rep) == 152, "stats rep");
_Static_assert(offsetof(struct dmac_proto_stats_rep, stats.copy_hits) ==
		   DMAC_PROTO_STATS_REP_V1_SIZE,
	       "stats rep v1 size");
_Static_assert(offsetof(struct dmac_proto_hello_req, tenant) == 32, "tenant");
_Static_assert(sizeof(struct dmac_proto_tenant_info) == 192, "tenant info");
_Static_assert(offsetof(struct dmac_proto_tenant_info, bytes_registered) ==
		   DMAC_PROTO_TENANT_INFO_V2_SIZE,
	       "tenant info v2 size");
_Static_assert(sizeof(struct dmac_proto_session_info) == 136, "session info");
_Static_assert(offsetof(struct dmac_proto_session_info, comm) == 88, "session comm");
_Static_assert(sizeof(struct dmac_proto_histogram_req) == 32, "histogram req");
_Static_assert(sizeof(struct dmac_proto_histogram_rep) == 56, "histogram rep");
_Static_assert(sizeof(struct dmac_proto_hist_bucket) == 16, "histogram bucket");
_Static_assert(offsetof(struct dmac_proto_histogram_rep, vec) == 24, "vec offset");
_Static_assert(sizeof(struct dmac_proto_admin_lease) == 128, "admin lease");
_Static_assert(offsetof(struct dmac_proto_admin_lease, tenant) == 64, "admin lease tenant");
_Static_assert(offsetof(struct dmac_proto_vec_req, vec) == 24, "vec offset");
_Static_assert(offsetof(struct dmac_proto_query_rep, vec) == 24, "vec offset");
_Static_assert(DMAC_PROTO_MAX_FDS <= 32, "fd bitmap");
_Static_assert(DMAC_PROTO_MAX_MSG <= UINT16_MAX + 1u, "vec_offset is 16 bits");

/* Per-opcode layout and checks for one direction. */
struct dmac__msg_desc {
	uint16_t fixed;	    /* known fixed size */
	uint16_t elem;	    /* known (= minimum) element size; 0: no vector */
	uint16_t min_count; /* fewest elements when there is a vector */
	int (*check_fixed)(const struct dmac_proto_view *v);
	int (*check_elem)(const void *elem);
	uint16_t min;	   /* minimum fixed size when smaller than fixed (0: = fixed) */
	uint16_t min_elem; /* minimum element size when smaller than elem (0: = elem) */
};

/* Largest known element that may arrive shorter (checked through a copy). */
#define DMAC__MAX_SHORT_ELEM sizeof(struct dmac_proto_tenant_info)

static bool dmac__is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static int dmac__check_prot(uint32_t prot)
{
	if (prot & ~DMAC_PROTO_PROT_ALL)
		return -EOPNOTSUPP;
	if (!prot)
		return -EINVAL;
	return 0;
}

/* A request range: non-empty, not wrapping, in DMAC_PROTO_MIN_PAGE units. */
static int dmac__check_range(uint64_t offset, uint64_t length)
{
	uint64_t end;

	/* protocol.md 6.2: zero length and misalignment (EINVAL) before the
	 * overflow (EOVERFLOW) */
	if (!length || (offset | length) % DMAC_PROTO_MIN_PAGE)
		return -EINVAL;
	if (__builtin_add_overflow(offset, length, &end))
		return -EOVERFLOW;
	return 0;
}

/* An IOVA range [iova, iova + length - 1]: non-empty, last byte does not wrap. */
static int dmac__check_iova(uint64_t iova, uint64_t length)
{
	uint64_t last;

	if (!length)
		return -EINVAL;
	if (__builtin_add_overflow(iova, length - 1, &last))
		return -EOVERFLOW;
	return 0;
}

int dmac_proto_check_tenant(const char field[DMAC_PROTO_TENANT_MAX])
{
	const char *nul = memchr(field, '\0', DMAC_PROTO_TENANT_MAX);
	size_t n;

	if (!nul)
		return -EINVAL;
	n = (size_t)(nul - field);
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = field[i];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return -EINVAL;
	}
	if (!dmac__is_zero(nul, DMAC_PROTO_TENANT_MAX - n))
		return -EINVAL;
	return 0;
}

bool dmac_proto_is_admin_tenant(const char field[DMAC_PROTO_TENANT_MAX])
{
	const size_t n = sizeof(DMAC_PROTO_ADMIN_TENANT); /* NUL included */

	return !memcmp(field, DMAC_PROTO_ADMIN_TENANT, n) &&
	       dmac__is_zero(field + n, DMAC_PROTO_TENANT_MAX - n);
}

/* ---- fixed-part checks ---------------------------------------------------- */

static int dmac__hello_req_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_hello_req *m = (const void *)v->hdr;

	if (m->reserved)
		return -EOPNOTSUPP;
	if (!m->version)
		return -EINVAL;
	if (dmac_proto_is_admin_tenant(m->tenant))
		return 0;
	return dmac_proto_check_tenant(m->tenant);
}

static int dmac__hello_rep_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_hello_rep *m = (const void *)v->hdr;

	if (!m->version || !m->session_id || !m->max_vec || !m->max_msg)
		return -EINVAL;
	if (m->iova_start > m->iova_last)
		return -EINVAL;
	return 0;
}

static int dmac__vec_req_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_vec_req *m = (const void *)v->hdr;

	if (m->flags || m->reserved)
		return -EOPNOTSUPP;
	return 0;
}

static int dmac__vec_rep_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_vec_rep *m = (const void *)v->hdr;

	return m->reserved ? -EOPNOTSUPP : 0;
}

static int dmac__query_req_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_query_req *m = (const void *)v->hdr;

	if (m->flags)
		return -EOPNOTSUPP;
	if (!m->max_count || m->max_count > DMAC_PROTO_MAX_VEC)
		return -EINVAL;
	return 0;
}

/*
 * A PCI address field: 'nonempty' says whether it must hold one; characters
 * [0-9a-fA-F:.] up to a NUL, then zero bytes only. The full syntax is the
 * daemon's business (it parses it like the config's 'devices').
 */
static int dmac__check_bdf(const char f[DMAC_PROTO_BDF_MAX], bool nonempty)
{
	size_t n = strnlen(f, DMAC_PROTO_BDF_MAX);

	if (n == DMAC_PROTO_BDF_MAX || !n != !nonempty)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((f[i] >= '0' && f[i] <= '9') || (f[i] >= 'a' && f[i] <= 'f') ||
		      (f[i] >= 'A' && f[i] <= 'F') || f[i] == ':' || f[i] == '.'))
			return -EINVAL;
	return dmac__is_zero(f + n, DMAC_PROTO_BDF_MAX - n) ? 0 : -EINVAL;
}

static int dmac__device_req_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_device_req *m = (const void *)v->hdr;
	bool by_bdf = m->flags & DMAC_PROTO_DEVICE_F_BY_BDF;

	if (m->flags & ~DMAC_PROTO_DEVICE_F_ALL)
		return -EOPNOTSUPP;
	if (m->index >= DMAC_PROTO_MAX_DEVICES || (by_bdf && m->index))
		return -EINVAL;
	return dmac__check_bdf(m->bdf, by_bdf);
}

/*
 * DEVICE reply: fields, then the fd order (BAR fds ascending, eventfds, the
 * device fd last in trusted mode) against the fds that actually came.
 */
static int dmac__device_rep_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_device_rep *m = (const void *)v->hdr;
	uint32_t next = 0;

	if (m->reserved)
		return -EOPNOTSUPP;
	if (m->mode > DMAC_PROTO_DEVICE_TRUSTED || m->irq_type > DMAC_PROTO_IRQ_MSIX)
		return -EOPNOTSUPP;
	if (dmac__check_bdf(m->bdf, true))
		return -EINVAL;
	if (!m->nirqs != (m->irq_type == DMAC_PROTO_IRQ_NONE) || m->numa_node < -1)
		return -EINVAL;
	for (unsigned int i = 0; i < DMAC_PROTO_NUM_BARS; i++) {
		const struct dmac_proto_bar *b = &m->bars[i];

		if (b->flags & ~DMAC_PROTO_BAR_F_ALL)
			return -EOPNOTSUPP;
		if (!b->size != !b->flags)
			return -EINVAL;
		if ((b->flags & DMAC_PROTO_BAR_MEM) && (b->flags & DMAC_PROTO_BAR_IO))
			return -EINVAL;
		if ((b->flags & DMAC_PROTO_BAR_MMAP) && !(b->flags & DMAC_PROTO_BAR_MEM))
			return -EINVAL;
		if ((b->flags & DMAC_PROTO_BAR_MMAP) ? b->fd_index != next++
						     : b->fd_index != DMAC_PROTO_NO_FD)
			return -EBADR;
	}
	if (m->nirqs > DMAC_PROTO_MAX_FDS)
		return -EBADR;
	if (m->irq_fd_first != (m->nirqs ? next : DMAC_PROTO_NO_FD))
		return -EBADR;
	next += m->nirqs;
	if (m->device_fd_index !=
	    (m->mode == DMAC_PROTO_DEVICE_TRUSTED ? next++ : DMAC_PROTO_NO_FD))
		return -EBADR;
	if (next > DMAC_PROTO_MAX_FDS || m->nfds != next || v->nfds != next)
		return -EBADR;
	return 0;
}

/* ---- element checks ------------------------------------------------------- */

static int dmac__reg_range_elem(const void *p)
{
	const struct dmac_proto_reg_range *e = p;
	int rc;

	if (e->flags || e->reserved)
		return -EOPNOTSUPP;
	rc = dmac__check_prot(e->prot);
	if (rc)
		return rc;
	return dmac__check_range(e->offset, e->length);
}

static int dmac__reg_result_elem(const void *p)
{
	const struct dmac_proto_reg_result *e = p;

	if (e->reserved)
		return -EOPNOTSUPP;
	if (!e->reg_id || e->page_shift < 12 || e->page_shift > 40)
		return -EINVAL;
	return 0;
}

static int dmac__unreg_item_elem(const void *p)
{
	const struct dmac_proto_unreg_item *e = p;

	return e->reg_id ? 0 : -EINVAL;
}

static int dmac__lease_item_elem(const void *p)
{
	const struct dmac_proto_lease_item *e = p;
	int rc;

	if (e->flags)
		return -EOPNOTSUPP;
	rc = dmac__check_prot(e->prot);
	if (rc)
		return rc;
	if (!e->reg_id)
		return -EINVAL;
	return dmac__check_range(e->offset, e->length);
}

static int dmac__lease_grant_elem(const void *p)
{
	const struct dmac_proto_lease_grant *e = p;

	if (!e->lease_id)
		return -EINVAL;
	return dmac__check_iova(e->iova, e->length);
}

static int dmac__release_item_elem(const void *p)
{
	const struct dmac_proto_release_item *e = p;

	return e->lease_id ? 0 : -EINVAL;
}

static int dmac__item_status_elem(const void *p)
{
	const struct dmac_proto_item_status *e = p;

	if (e->reserved)
		return -EOPNOTSUPP;
	if (!e->id || e->status > DMAC_PROTO_MAX_STATUS)
		return -EINVAL;
	return 0;
}

static int dmac__lease_info_elem(const void *p)
{
	const struct dmac_proto_lease_info *e = p;
	int rc;

	if (e->reserved)
		return -EOPNOTSUPP;
	rc = dmac__check_prot(e->prot);
	if (rc)
		return rc;
	if (!e->lease_id || !e->reg_id)
		return -EINVAL;
	return dmac__check_iova(e->iova, e->length);
}

static int dmac__tenant_info_elem(const void *p)
{
	const struct dmac_proto_tenant_info *e = p;

	if (dmac_proto_check_tenant(e->name))
		return -EINVAL;
	if (e->bytes_pinned < e->bytes_registered)
		return -EINVAL;
	return e->iova_start <= e->iova_last ? 0 : -EINVAL;
}

static int dmac__session_info_elem(const void *p)
{
	const struct dmac_proto_session_info *e = p;
	const char *nul = memchr(e->comm, '\0', sizeof(e->comm));

	if (e->flags & ~DMAC_PROTO_SESSION_F_ALL)
		return -EOPNOTSUPP;
	if (!e->session_id)
		return -EINVAL;
	if (!dmac__is_zero(e->tenant, sizeof(e->tenant)) &&
	    !dmac_proto_is_admin_tenant(e->tenant) && dmac_proto_check_tenant(e->tenant))
		return -EINVAL;
	if (!nul || !dmac__is_zero(nul, sizeof(e->comm) - (size_t)(nul - e->comm)))
		return -EINVAL;
	return 0;
}

static int dmac__histogram_req_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_histogram_req *m = (const void *)v->hdr;

	if (m->flags)
		return -EOPNOTSUPP;
	return m->id ? 0 : -EINVAL;
}

/* Bounds strictly increasing up to UINT64_MAX, counts adding up to 'count'. */
static int dmac__histogram_rep_fixed(const struct dmac_proto_view *v)
{
	const struct dmac_proto_histogram_rep *m = (const void *)v->hdr;
	const struct dmac_proto_hist_bucket *b = NULL;
	uint64_t total = 0;

	if (m->reserved)
		return -EOPNOTSUPP;
	if (!m->id || v->count > DMAC_PROTO_HIST_MAX_BUCKETS)
		return -EINVAL;
	for (uint32_t i = 0; i < v->count; i++) {
		const struct dmac_proto_hist_bucket *x = dmac_proto_view_elem(v, i);

		if (b && x->le <= b->le)
			return -EINVAL;
		if (__builtin_add_overflow(total, x->count, &total))
			return -EINVAL;
		b = x;
	}
	if (!b || b->le != UINT64_MAX || total != m->count)
		return -EINVAL;
	return 0;
}

static int dmac__admin_lease_elem(const void *p)
{
	const struct dmac_proto_admin_lease *e = p;
	int rc = dmac__lease_info_elem(&e->info);

	if (rc)
		return rc;
	if (!e->session_id || dmac_proto_check_tenant(e->tenant))
		return -EINVAL;
	return 0;
}

/* ---- tables --------------------------------------------------------------- */

static const struct dmac__msg_desc dmac__req_desc[DMAC_OP__COUNT] = {
    [DMAC_OP_HELLO] = {sizeof(struct dmac_proto_hello_req), 0, 0, dmac__hello_req_fixed, NULL},
    [DMAC_OP_REGISTER] = {sizeof(struct dmac_proto_vec_req), sizeof(struct dmac_proto_reg_range), 1,
			  dmac__vec_req_fixed, dmac__reg_range_elem},
    [DMAC_OP_UNREGISTER] = {sizeof(struct dmac_proto_vec_req), sizeof(struct dmac_proto_unreg_item),
			    1, dmac__vec_req_fixed, dmac__unreg_item_elem},
    [DMAC_OP_LEASE] = {sizeof(struct dmac_proto_vec_req), sizeof(struct dmac_proto_lease_item), 1,
		       dmac__vec_req_fixed, dmac__lease_item_elem},
    [DMAC_OP_RELEASE] = {sizeof(struct dmac_proto_vec_req), sizeof(struct dmac_proto_release_item),
			 1, dmac__vec_req_fixed, dmac__release_item_elem},
    [DMAC_OP_QUERY] = {sizeof(struct dmac_proto_query_req), 0, 0, dmac__query_req_fixed, NULL},
    [DMAC_OP_STATS] = {sizeof(struct dmac_proto_stats_req), 0, 0, NULL, NULL},
    [DMAC_OP_ADMIN_TENANTS] = {sizeof(struct dmac_proto_query_req), 0, 0, dmac__query_req_fixed,
			       NULL},
    [DMAC_OP_ADMIN_LEASES] = {sizeof(struct dmac_proto_query_req), 0, 0, dmac__query_req_fixed,
			      NULL},
    [DMAC_OP_DEVICE] = {sizeof(struct dmac_proto_device_req), 0, 0, dmac__device_req_fixed, NULL},
    [DMAC_OP_ADMIN_SESSIONS] = {sizeof(struct dmac_proto_query_req), 0, 0, dmac__query_req_fixed,
				NULL},
    [DMAC_OP_ADMIN_HISTOGRAM] = {sizeof(struct dmac_proto_histogram_req), 0, 0,
				 dmac__histogram_req_fixed, NULL},
};

static const struct dmac__msg_desc dmac__rep_desc[DMAC_OP__COUNT] = {
    [DMAC_OP_HELLO] = {sizeof(struct dmac_proto_hello_rep), 0, 0, dmac__hello_rep_fixed, NULL},
    [DMAC_OP_REGISTER] = {sizeof(struct dmac_proto_vec_rep), sizeof(struct dmac_proto_reg_result),
			  1, dmac__vec_rep_fixed, dmac__reg_result_elem},
    [DMAC_OP_UNREGISTER] = {sizeof(struct dmac_proto_vec_rep),
			    sizeof(struct dmac_proto_item_status), 1, dmac__vec_rep_fixed,
			    dmac__item_status_elem},
    [DMAC_OP_LEASE] = {sizeof(struct dmac_proto_vec_rep), sizeof(struct dmac_proto_lease_grant), 1,
		       dmac__vec_rep_fixed, dmac__lease_grant_elem},
    [DMAC_OP_RELEASE] = {sizeof(struct dmac_proto_vec_rep), sizeof(struct dmac_proto_item_status),
			 1, dmac__vec_rep_fixed, dmac__item_status_elem},
    [DMAC_OP_QUERY] = {sizeof(struct dmac_proto_query_rep), sizeof(struct dmac_proto_lease_info), 0,
		       NULL, dmac__lease_info_elem},
    /* a version-1 reply (96 bytes) is complete too: the newer counters are 0 */
    [DMAC_OP_STATS] = {sizeof(struct dmac_proto_stats_rep), 0, 0, NULL, NULL,
		       DMAC_PROTO_STATS_REP_V1_SIZE},
    /* a version-2 element (120 bytes) is complete too: the newer fields are 0 */
    [DMAC_OP_ADMIN_TENANTS] = {sizeof(struct dmac_proto_query_rep),
			       sizeof(struct dmac_proto_tenant_info), 0, NULL,
			       dmac__tenant_info_elem, 0, DMAC_PROTO_TENANT_INFO_V2_SIZE},
    [DMAC_OP_ADMIN_LEASES] = {sizeof(struct dmac_proto_query_rep),
			      sizeof(struct dmac_proto_admin_lease), 0, NULL,
			      dmac__admin_lease_elem},
    [DMAC_OP_DEVICE] = {sizeof(struct dmac_proto_device_rep), 0, 0, dmac__device_rep_fixed, NULL},
    [DMAC_OP_ADMIN_SESSIONS] = {sizeof(struct dmac_proto_query_rep),
				sizeof(struct dmac_proto_session_info), 0, NULL,
				dmac__session_info_elem},
    [DMAC_OP_ADMIN_HISTOGRAM] = {sizeof(struct dmac_proto_histogram_rep),
				 sizeof(struct dmac_proto_hist_bucket), 1,
				 dmac__histogram_rep_fixed, NULL},
};

/* ---- decoding ------------------------------------------------------------- */

/* REGISTER: the fd indexes used must be exactly 0..nfds-1. */
static int dmac__check_fd_refs(const struct dmac_proto_view *v, unsigned int nfds)
{
	uint32_t seen = 0;

	for (uint32_t i = 0; i < v->count; i++) {
		const struct dmac_proto_reg_range *e = dmac_proto_view_elem(v, i);

		if (e->fd_index >= nfds)
			return -EBADR;
		seen |= UINT32_C(1) << e->fd_index;
	}
	if (seen != (nfds ? (UINT32_MAX >> (32 - nfds)) : 0))
		return -EBADR;
	return 0;
}

static int dmac__decode(const void *buf, size_t len, unsigned int nfds, bool reply,
			struct dmac_proto_view *out)
{
	const struct dmac_proto_hdr *h = buf;
	const struct dmac__msg_desc *d;
	struct dmac_proto_view v;
	int rc;

	if (!buf || !out || ((uintptr_t)buf % alignof(uint64_t)))
		return -EINVAL;
	if (len > DMAC_PROTO_MAX_MSG)
		return -EMSGSIZE;
	if (len < sizeof(*h) || h->size != len || len % 8)
		return -EINVAL;
	if (nfds > DMAC_PROTO_MAX_FDS)
		return -ETOOMANYREFS;
	if (!(h->flags & DMAC_PROTO_F_REPLY) != !reply)
		return -EINVAL;
	if (h->flags & ~DMAC_PROTO_F_ALL)
		return -EOPNOTSUPP;
	if (!reply && h->status)
		return -EOPNOTSUPP;

	memset(&v, 0, sizeof(v));
	v.hdr = h;
	v.opcode = h->opcode;
	v.status = h->status;
	v.tag = h->tag;
	v.size = h->size;
	v.nfds = nfds;

	/* Only a successful DEVICE reply carries fds (checked with its fields). */
	if (reply && nfds && (h->status || h->opcode != DMAC_OP_DEVICE))
		return -EBADR;
	if (reply && h->status) {
		/* An error reply is the header alone, for any opcode. */
		if (h->status > DMAC_PROTO_MAX_STATUS)
			return -EINVAL;
		if (!dmac__is_zero(h + 1, len - sizeof(*h)))
			return -E2BIG;
		*out = v;
		return 0;
	}
	if (!h->opcode || h->opcode >= DMAC_OP__COUNT)
		return -ENOTTY;
	if (!reply && h->opcode != DMAC_OP_REGISTER && nfds)
		return -EBADR;

	d = reply ? &dmac__rep_desc[h->opcode] : &dmac__req_desc[h->opcode];
	if (len < (d->min ? d->min : d->fixed))
		return -EINVAL;
	if (d->elem) {
		const struct dmac_proto_vec *vec = (const void *)(h + 1);
		size_t bytes, total;

		if (vec->elem_size < (d->min_elem ? d->min_elem : d->elem) || vec->elem_size % 8)
			return -EINVAL;
		if (vec->vec_offset < d->fixed || vec->vec_offset % 8)
			return -EINVAL;
		if (vec->count < d->min_count || vec->count > DMAC_PROTO_MAX_VEC)
			return -EINVAL;
		if (__builtin_mul_overflow((size_t)vec->count, (size_t)vec->elem_size, &bytes) ||
		    __builtin_add_overflow(bytes, (size_t)vec->vec_offset, &total) || total != len)
			return -EINVAL;
		v.vec = (const char *)buf + vec->vec_offset;
		v.count = vec->count;
		v.elem_size = vec->elem_size;
		if (!dmac__is_zero((const char *)buf + d->fixed, vec->vec_offset - d->fixed))
			return -E2BIG;
		for (uint32_t i = 0; v.elem_size > d->elem && i < v.count; i++)
			if (!dmac__is_zero((const char *)dmac_proto_view_elem(&v, i) + d->elem,
					   v.elem_size - d->elem))
				return -E2BIG;
	} else if (len > d->fixed && !dmac__is_zero((const char *)buf + d->fixed, len - d->fixed)) {
		return -E2BIG;
	}

	if (d->check_fixed) {
		rc = d->check_fixed(&v);
		if (rc)
			return rc;
	}
	for (uint32_t i = 0; d->check_elem && i < v.count; i++) {
		uint64_t pad[DMAC__MAX_SHORT_ELEM / 8];
		const void *e = dmac_proto_view_elem(&v, i);

		/* an element shorter than the known struct is checked as a
		 * zero-padded copy: the check never reads past it */
		if (v.elem_size < d->elem) {
			if (d->elem > sizeof(pad))
				return -EINVAL; /* a table entry this copy cannot hold */
			dmac_proto_view_elem_copy(&v, i, pad, d->elem);
			e = pad;
		}
		rc = d->check_elem(e);
		if (rc)
			return rc;
	}
	if (!reply && h->opcode == DMAC_OP_REGISTER) {
		rc = dmac__check_fd_refs(&v, nfds);
		if (rc)
			return rc;
	}
	*out = v;
	return 0;
}

int dmac_proto_decode_request(const void *buf, size_t len, unsigned int nfds,
			      struct dmac_proto_view *out)
{
	return dmac__decode(buf, len, nfds, false, out);
}

int dmac_proto_decode_reply(const void *buf, size_t len, unsigned int nfds,
			    struct dmac_proto_view *out)
{
	return dmac__decode(buf, len, nfds, true, out);
}

int dmac_proto_reply_matches(const struct dmac_proto_view *req, const struct dmac_proto_view *rep)
{
	if (req->opcode != rep->opcode || req->tag != rep->tag)
		return -EPROTO;
	if (rep->status)
		return 0;
	switch (req->opcode) {
	case DMAC_OP_REGISTER:
	case DMAC_OP_LEASE:
		return rep->count == req->count ? 0 : -EPROTO;
	case DMAC_OP_UNREGISTER:
	case DMAC_OP_RELEASE:
		if (rep->count != req->count)
			return -EPROTO;
		for (uint32_t i = 0; i < req->count; i++) {
			/* Both request elements start with the id. */
			const uint64_t *id = dmac_proto_view_elem(req, i);
			const struct dmac_proto_item_status *st = dmac_proto_view_elem(rep, i);

			if (st->id != *id)
				return -EPROTO;
		}
		return 0;
	case DMAC_OP_QUERY:
	case DMAC_OP_ADMIN_TENANTS:
	case DMAC_OP_ADMIN_LEASES:
	case DMAC_OP_ADMIN_SESSIONS: {
		const struct dmac_proto_query_req *q = (const void *)req->hdr;

		return rep->count <= q->max_count ? 0 : -EPROTO;
	}
	case DMAC_OP_ADMIN_HISTOGRAM: {
		const struct dmac_proto_histogram_req *q = (const void *)req->hdr;
		const struct dmac_proto_histogram_rep *r = (const void *)rep->hdr;

		return r->id == q->id ? 0 : -EPROTO;
	}
	default:
		return 0;
	}
}

/* ---- encoding ------------------------------------------------------------- */

/* Zero 'need' bytes of buf and write the header. */
static int dmac__enc_begin(void *buf, size_t cap, size_t need, uint32_t op, uint64_t tag,
			   bool reply)
{
	struct dmac_proto_hdr *h = buf;

	if (!buf || ((uintptr_t)buf % alignof(uint64_t)))
		return -EINVAL;
	if (need > cap || need > DMAC_PROTO_MAX_MSG)
		return -EMSGSIZE;
	memset(buf, 0, need);
	h->size = (uint32_t)need;
	h->opcode = op;
	h->tag = tag;
	h->flags = reply ? DMAC_PROTO_F_REPLY : 0;
	return 0;
}

/*
 * Write header, vector descriptor and elements; fixed fields stay zero. The
 * caller's elements lie @p stride bytes apart; the first @p esz bytes of each
 * are sent (esz <= stride: an older version's shorter element).
 */
static int dmac__enc_vec_stride(void *buf, size_t cap, uint32_t op, uint64_t tag, bool reply,
				size_t fixed, const void *elems, size_t stride, size_t esz,
				uint32_t n)
{
	struct dmac_proto_vec *vec;
	int rc;

	if (n > DMAC_PROTO_MAX_VEC || (n && !elems) || esz > stride)
		return -EINVAL;
	rc = dmac__enc_begin(buf, cap, fixed + (size_t)n * esz, op, tag, reply);
	if (rc)
		return rc;
	vec = (struct dmac_proto_vec *)((struct dmac_proto_hdr *)buf + 1);
	vec->count = n;
	vec->elem_size = (uint16_t)esz;
	vec->vec_offset = (uint16_t)fixed;
	for (uint32_t i = 0; i < n; i++)
		memcpy((char *)buf + fixed + (size_t)i * esz,
		       (const char *)elems + (size_t)i * stride, esz);
	return 0;
}

/* dmac__enc_vec_stride() of whole elements. */
static int dmac__enc_vec(void *buf, size_t cap, uint32_t op, uint64_t tag, bool reply, size_t fixed,
			 const void *elems, size_t esz, uint32_t n)
{
	return dmac__enc_vec_stride(buf, cap, op, tag, reply, fixed, elems, esz, esz, n);
}

/* Validate what was written; report its length. */
static int dmac__enc_finish(void *buf, bool reply, unsigned int nfds, int rc, size_t *len)
{
	struct dmac_proto_view v;

	if (!rc)
		rc = dmac__decode(buf, ((struct dmac_proto_hdr *)buf)->size, nfds, reply, &v);
	if (len)
		*len = rc ? 0 : ((struct dmac_proto_hdr *)buf)->size;
	return rc;
}

int dmac_proto_encode_hello_req(void *buf, size_t cap, uint64_t tag, const char *tenant,
				size_t *len)
{
	struct dmac_proto_hello_req *m = buf;
	size_t n;
	int rc;

	if (!tenant)
		return dmac__enc_finish(buf, false, 0, -EINVAL, len);
	n = strnlen(tenant, DMAC_PROTO_TENANT_MAX);
	if (n >= DMAC_PROTO_TENANT_MAX)
		return dmac__enc_finish(buf, false, 0, -EINVAL, len);
	rc = dmac__enc_begin(buf, cap, sizeof(*m), DMAC_OP_HELLO, tag, false);
	if (!rc) {
		m->version = DMAC_PROTO_VERSION;
		memcpy(m->tenant, tenant, n);
	}
	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_hello_rep(void *buf, size_t cap, uint64_t tag,
				const struct dmac_proto_hello_rep *info, size_t *len)
{
	struct dmac_proto_hello_rep *m = buf;
	int rc = info ? dmac__enc_begin(buf, cap, sizeof(*m), DMAC_OP_HELLO, tag, true) : -EINVAL;

	if (!rc) {
		struct dmac_proto_hdr h = m->hdr;

		*m = *info;
		m->hdr = h;
	}
	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_register_req(void *buf, size_t cap, uint64_t tag,
				   const struct dmac_proto_reg_range *ranges, uint32_t n,
				   unsigned int nfds, size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_REGISTER, tag, false,
			       sizeof(struct dmac_proto_vec_req), ranges, sizeof(*ranges), n);

	return dmac__enc_finish(buf, false, nfds, rc, len);
}

int dmac_proto_encode_register_rep(void *buf, size_t cap, uint64_t tag,
				   const struct dmac_proto_reg_result *res, uint32_t n, size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_REGISTER, tag, true,
			       sizeof(struct dmac_proto_vec_rep), res, sizeof(*res), n);

	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_unregister_req(void *buf, size_t cap, uint64_t tag,
				     const struct dmac_proto_unreg_item *items, uint32_t n,
				     size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_UNREGISTER, tag, false,
			       sizeof(struct dmac_proto_vec_req), items, sizeof(*items), n);

	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_unregister_rep(void *buf, size_t cap, uint64_t tag,
				     const struct dmac_proto_item_status *st, uint32_t n,
				     size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_UNREGISTER, tag, true,
			       sizeof(struct dmac_proto_vec_rep), st, sizeof(*st), n);

	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_lease_req(void *buf, size_t cap, uint64_t tag,
				const struct dmac_proto_lease_item *items, uint32_t n, size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_LEASE, tag, false,
			       sizeof(struct dmac_proto_vec_req), items, sizeof(*items), n);

	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_lease_rep(void *buf, size_t cap, uint64_t tag,
				const struct dmac_proto_lease_grant *grants, uint32_t n,
				size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_LEASE, tag, true,
			       sizeof(struct dmac_proto_vec_rep), grants, sizeof(*grants), n);

	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_release_req(void *buf, size_t cap, uint64_t tag,
				  const struct dmac_proto_release_item *items, uint32_t n,
				  size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_RELEASE, tag, false,
			       sizeof(struct dmac_proto_vec_req), items, sizeof(*items), n);

	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_release_rep(void *buf, size_t cap, uint64_t tag,
				  const struct dmac_proto_item_status *st, uint32_t n, size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_RELEASE, tag, true,
			       sizeof(struct dmac_proto_vec_rep), st, sizeof(*st), n);

	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_query_req(void *buf, size_t cap, uint64_t tag, uint64_t cursor,
				uint32_t max_count, size_t *len)
{
	struct dmac_proto_query_req *m = buf;
	int rc = dmac__enc_begin(buf, cap, sizeof(*m), DMAC_OP_QUERY, tag, false);

	if (!rc) {
		m->cursor = cursor;
		m->max_count = max_count;
	}
	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_query_rep(void *buf, size_t cap, uint64_t tag, uint64_t next_cursor,
				const struct dmac_proto_lease_info *infos, uint32_t n, size_t *len)
{
	int rc = dmac__enc_vec(buf, cap, DMAC_OP_QUERY, tag, true,
			       sizeof(struct dmac_proto_query_rep), infos, sizeof(*infos), n);

	if (!rc)
		((struct dmac_proto_query_rep *)buf)->next_cursor = next_cursor;
	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_stats_req(void *buf, size_t cap, uint64_t tag, size_t *len)
{
	int rc = dmac__enc_begin(buf, cap, sizeof(struct dmac_proto_stats_req), DMAC_OP_STATS, tag,
				 false);

	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_stats_rep(void *buf, size_t cap, uint64_t tag, uint32_t version,
				const struct dmac_proto_stats *stats, size_t *len)
{
	struct dmac_proto_stats_rep *m = buf;
	size_t size = version >= 2 ? sizeof(*m) : DMAC_PROTO_STATS_REP_V1_SIZE;
	int rc =
	    stats && version ? dmac__enc_begin(buf, cap, size, DMAC_OP_STATS, tag, true) : -EINVAL;

	if (!rc)
		memcpy(&m->stats, stats, size - sizeof(m->hdr));
	return dmac__enc_finish(buf, true, 0, rc, len);
}

/* QUERY-shaped requests: cursor and max_count. */
static int dmac__enc_paged_req(void *buf, size_t cap, uint32_t op, uint64_t tag, uint64_t cursor,
			       uint32_t max_count, size_t *len)
{
	struct dmac_proto_query_req *m = buf;
	int rc = dmac__enc_begin(buf, cap, sizeof(*m), op, tag, false);

	if (!rc) {
		m->cursor = cursor;
		m->max_count = max_count;
	}
	return dmac__enc_finish(buf, false, 0, rc, len);
}

/* QUERY-shaped replies: vector and next_cursor; elements as dmac__enc_vec_stride(). */
static int dmac__enc_paged_rep(void *buf, size_t cap, uint32_t op, uint64_t tag,
			       uint64_t next_cursor, const void *elems, size_t stride, size_t esz,
			       uint32_t n, size_t *len)
{
	int rc = dmac__enc_vec_stride(buf, cap, op, tag, true, sizeof(struct dmac_proto_query_rep),
				      elems, stride, esz, n);

	if (!rc)
		((struct dmac_proto_query_rep *)buf)->next_cursor = next_cursor;
	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_admin_tenants_req(void *buf, size_t cap, uint64_t tag, uint64_t cursor,
					uint32_t max_count, size_t *len)
{
	return dmac__enc_paged_req(buf, cap, DMAC_OP_ADMIN_TENANTS, tag, cursor, max_count, len);
}

int dmac_proto_encode_admin_tenants_rep(void *buf, size_t cap, uint64_t tag, uint32_t version,
					uint64_t next_cursor,
					const struct dmac_proto_tenant_info *t, uint32_t n,
					size_t *len)
{
	size_t esz = version >= 3 ? sizeof(*t) : DMAC_PROTO_TENANT_INFO_V2_SIZE;

	if (!version)
		return dmac__enc_finish(buf, true, 0, -EINVAL, len);
	return dmac__enc_paged_rep(buf, cap, DMAC_OP_ADMIN_TENANTS, tag, next_cursor, t, sizeof(*t),
				   esz, n, len);
}

int dmac_proto_encode_admin_leases_req(void *buf, size_t cap, uint64_t tag, uint64_t cursor,
				       uint32_t max_count, size_t *len)
{
	return dmac__enc_paged_req(buf, cap, DMAC_OP_ADMIN_LEASES, tag, cursor, max_count, len);
}

int dmac_proto_encode_admin_leases_rep(void *buf, size_t cap, uint64_t tag, uint64_t next_cursor,
				       const struct dmac_proto_admin_lease *l, uint32_t n,
				       size_t *len)
{
	return dmac__enc_paged_rep(buf, cap, DMAC_OP_ADMIN_LEASES, tag, next_cursor, l, sizeof(*l),
				   sizeof(*l), n, len);
}

int dmac_proto_encode_admin_sessions_req(void *buf, size_t cap, uint64_t tag, uint64_t cursor,
					 uint32_t max_count, size_t *len)
{
	return dmac__enc_paged_req(buf, cap, DMAC_OP_ADMIN_SESSIONS, tag, cursor, max_count, len);
}

int dmac_proto_encode_admin_sessions_rep(void *buf, size_t cap, uint64_t tag, uint64_t next_cursor,
					 const struct dmac_proto_session_info *s, uint32_t n,
					 size_t *len)
{
	return dmac__enc_paged_rep(buf, cap, DMAC_OP_ADMIN_SESSIONS, tag, next_cursor, s,
				   sizeof(*s), sizeof(*s), n, len);
}

int dmac_proto_encode_histogram_req(void *buf, size_t cap, uint64_t tag, uint32_t id, size_t *len)
{
	struct dmac_proto_histogram_req *m = buf;
	int rc = dmac__enc_begin(buf, cap, sizeof(*m), DMAC_OP_ADMIN_HISTOGRAM, tag, false);

	if (!rc)
		m->id = id;
	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_histogram_rep(void *buf, size_t cap, uint64_t tag, uint32_t id,
				    uint64_t count, uint64_t sum,
				    const struct dmac_proto_hist_bucket *b, uint32_t n, size_t *len)
{
	struct dmac_proto_histogram_rep *m = buf;
	int rc = n > DMAC_PROTO_HIST_MAX_BUCKETS
		     ? -EINVAL
		     : dmac__enc_vec(buf, cap, DMAC_OP_ADMIN_HISTOGRAM, tag, true, sizeof(*m), b,
				     sizeof(*b), n);

	if (!rc) {
		m->id = id;
		m->count = count;
		m->sum = sum;
	}
	return dmac__enc_finish(buf, true, 0, rc, len);
}

int dmac_proto_encode_device_req(void *buf, size_t cap, uint64_t tag, uint32_t index,
				 const char *bdf, size_t *len)
{
	struct dmac_proto_device_req *m = buf;
	int rc = dmac__enc_begin(buf, cap, sizeof(*m), DMAC_OP_DEVICE, tag, false);

	if (!rc) {
		m->index = index;
		if (bdf) {
			if (strnlen(bdf, DMAC_PROTO_BDF_MAX) == DMAC_PROTO_BDF_MAX)
				rc = -EINVAL;
			else
				memcpy(m->bdf, bdf, strlen(bdf));
			m->flags = DMAC_PROTO_DEVICE_F_BY_BDF;
		}
	}
	return dmac__enc_finish(buf, false, 0, rc, len);
}

int dmac_proto_encode_device_rep(void *buf, size_t cap, uint64_t tag,
				 const struct dmac_proto_device_rep *info, size_t *len)
{
	struct dmac_proto_device_rep *m = buf;
	int rc = info ? dmac__enc_begin(buf, cap, sizeof(*m), DMAC_OP_DEVICE, tag, true) : -EINVAL;

	if (!rc) {
		struct dmac_proto_hdr h = m->hdr;

		*m = *info;
		m->hdr = h;
	}
	return dmac__enc_finish(buf, true,
				info && info->nfds <= DMAC_PROTO_MAX_FDS ? info->nfds : 0, rc, len);
}

int dmac_proto_encode_error(void *buf, size_t cap, uint32_t opcode, uint64_t tag, int err,
			    size_t *len)
{
	unsigned int status = err < 0 ? (unsigned int)-(long)err : (unsigned int)err;
	int rc;

	if (!status || status > DMAC_PROTO_MAX_STATUS)
		return dmac__enc_finish(buf, true, 0, -EINVAL, len);
	rc = dmac__enc_begin(buf, cap, sizeof(struct dmac_proto_hdr), opcode, tag, true);
	if (!rc)
		((struct dmac_proto_hdr *)buf)->status = status;
	return dmac__enc_finish(buf, true, 0, rc, len);
}

/* ---- names ---------------------------------------------------------------- */

const char *dmac_proto_op_name(uint32_t opcode)
{
	static const char *const names[DMAC_OP__COUNT] = {
	    [DMAC_OP_HELLO] = "HELLO",
	    [DMAC_OP_REGISTER] = "REGISTER",
	    [DMAC_OP_UNREGISTER] = "UNREGISTER",
	    [DMAC_OP_LEASE] = "LEASE",
	    [DMAC_OP_RELEASE] = "RELEASE",
	    [DMAC_OP_QUERY] = "QUERY",
	    [DMAC_OP_STATS] = "STATS",
	    [DMAC_OP_ADMIN_TENANTS] = "ADMIN_TENANTS",
	    [DMAC_OP_ADMIN_LEASES] = "ADMIN_LEASES",
	    [DMAC_OP_DEVICE] = "DEVICE",
	    [DMAC_OP_ADMIN_SESSIONS] = "ADMIN_SESSIONS",
	    [DMAC_OP_ADMIN_HISTOGRAM] = "ADMIN_HISTOGRAM",
	};

	if (opcode < DMAC_OP__COUNT && names[opcode])
		return names[opcode];
	return "UNKNOWN";
}

const char *dmac_proto_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "OK";
	case EINVAL:
		return "EINVAL: malformed message or field (size, layout, count, value)";
	case E2BIG:
		return "E2BIG: bytes beyond the struct the receiver knows are not zero";
	case EOPNOTSUPP:
		return "EOPNOTSUPP: reserved field non-zero, or unknown flag or prot bit";
	case ENOTTY:
		return "ENOTTY: unknown opcode";
	case EOVERFLOW:
		return "EOVERFLOW: offset + length wraps";
	case EMSGSIZE:
		return "EMSGSIZE: message too large (MSG_TRUNC: session ends) or buffer too small";
	case ETOOMANYREFS:
		return "ETOOMANYREFS: more than 16 fds (MSG_CTRUNC: session ends)";
	case EPROTO:
		return "EPROTO: unexpected control message or mismatched reply (session ends)";
	case EBADR:
		return "EBADR: fd count does not match the fds referenced (session ends)";
	case EBADFD:
		return "EBADFD: fd of the wrong type, not a memfd or hugetlbfs file (session ends)";
	case ECONNRESET:
		return "ECONNRESET: peer closed the connection or sent an empty packet (session "
		       "ends)";
	case EBADF:
		return "EBADF: not an open fd, or an O_PATH fd (it carries no access right)";
	case EPERM:
		return "EPERM: memfd lacks F_SEAL_SHRINK, or is write-sealed and WRITE was asked, "
		       "or request before HELLO; at connect: the "
		       "socket's peer is not a trusted daemon uid (0, DMACACHE_DAEMON_UID)";
	case ERANGE:
		return "ERANGE: range beyond the end of the file";
	case EACCES:
		return "EACCES: peer credentials not allowed for this tenant, an fd's access mode "
		       "does not allow the prot asked (READ needs read access, WRITE needs "
		       "O_RDWR), or prot beyond the registration's";
	case ENOENT:
		return "ENOENT: no such tenant, registration or lease";
	case EALREADY:
		return "EALREADY: HELLO already done, or device already claimed, on this session";
	case EPROTONOSUPPORT:
		return "EPROTONOSUPPORT: protocol version not supported";
	case EDQUOT:
		return "EDQUOT: tenant quota (pinned bytes or leases) exceeded";
	case ENOSPC:
		return "ENOSPC: no free IOVA in the tenant window";
	case ENOMEM:
		return "ENOMEM: out of memory";
	case EBUSY:
		return "EBUSY: registration still has leases, or device claimed by another session "
		       "or still open or mapped (BAR files) by an earlier holder";
	case ESTALE:
		return "ESTALE: lease generation does not match";
	case EAGAIN:
		return "EAGAIN: nothing to receive yet";
	default:
		return "unexpected error";
	}
}

bool dmac_proto_err_is_fatal(int err)
{
	switch (err < 0 ? -err : err) {
	case ETOOMANYREFS:
	case EMSGSIZE:
	case EPROTO:
	case EBADR:
	case EBADFD:
	case ECONNRESET:
		return true;
	default:
		return false;
	}
}
