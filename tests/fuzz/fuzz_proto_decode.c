/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for the protocol decoder (dmac_proto_decode_request/reply).
 *
 * Input format: byte 0 selects the direction (bit 0: reply) and the fd count
 * (bits 1..5: 0..31, so counts past DMAC_PROTO_MAX_FDS are exercised); the
 * message is bytes 1..end, copied into an 8-byte aligned buffer.
 *
 * Invariants checked on every input (abort() on violation, so libFuzzer and the
 * replay driver both report it):
 * - decoding never reads outside the message (ASan) and never overflows (UBSan);
 * - a message that decodes has a view inside the buffer: size == length,
 *   vec_offset + count * elem_size == size, count <= DMAC_PROTO_MAX_VEC;
 * - a reply carries fds only when it is a successful DEVICE reply, exactly
 *   as many as its nfds field says;
 * - decoding is deterministic (a second decode gives the same result), and a
 *   decoded request answered by an error reply matches it;
 * - a canonical request (known element size and vector offset, no tail)
 *   re-encodes to exactly the same bytes with the public encoders.
 *
 * Built two ways: with -fsanitize=fuzzer as the libFuzzer target
 * (tests/fuzz/meson.build, -Dfuzz=true, clang), and with -DDMAC_FUZZ_REPLAY plus
 * replay_main.c as a plain program that replays the seed corpus in
 * tests/fuzz/corpus/, registered in suite 'unit'. That program also writes the
 * seed corpus: fuzz_proto_decode_replay --write-seeds DIR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmac/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * The message, in a heap block of exactly its length (malloc aligns to 16), so
 * AddressSanitizer reports any read past its end.
 */
static uint64_t *g_msg;
static uint64_t g_out[DMAC_PROTO_MAX_MSG / 8 + 1];

/* Re-encode a canonical request and compare; returns silently otherwise. */
static void reencode_request(const struct dmac_proto_view *v, size_t len)
{
	const struct dmac_proto_vec_req *vr = (const void *)v->hdr;
	size_t olen = 0;
	int rc;

	switch (v->opcode) {
	case DMAC_OP_HELLO: {
		const struct dmac_proto_hello_req *h = (const void *)v->hdr;

		if (len != sizeof(*h) || h->version != DMAC_PROTO_VERSION)
			return;
		rc = dmac_proto_encode_hello_req(g_out, sizeof(g_out), v->tag, h->tenant, &olen);
		break;
	}
	case DMAC_OP_REGISTER:
		if (vr->vec.vec_offset != sizeof(*vr) || v->elem_size != 32)
			return;
		rc = dmac_proto_encode_register_req(g_out, sizeof(g_out), v->tag, v->vec, v->count,
						    v->nfds, &olen);
		break;
	case DMAC_OP_UNREGISTER:
		if (vr->vec.vec_offset != sizeof(*vr) || v->elem_size != 8)
			return;
		rc = dmac_proto_encode_unregister_req(g_out, sizeof(g_out), v->tag, v->vec,
						      v->count, &olen);
		break;
	case DMAC_OP_LEASE:
		if (vr->vec.vec_offset != sizeof(*vr) || v->elem_size != 32)
			return;
		rc = dmac_proto_encode_lease_req(g_out, sizeof(g_out), v->tag, v->vec, v->count,
						 &olen);
		break;
	case DMAC_OP_RELEASE:
		if (vr->vec.vec_offset != sizeof(*vr) || v->elem_size != 16)
			return;
		rc = dmac_proto_encode_release_req(g_out, sizeof(g_out), v->tag, v->vec, v->count,
						   &olen);
		break;
	case DMAC_OP_QUERY: {
		const struct dmac_proto_query_req *q = (const void *)v->hdr;

		if (len != sizeof(*q))
			return;
		rc = dmac_proto_encode_query_req(g_out, sizeof(g_out), v->tag, q->cursor,
						 q->max_count, &olen);
		break;
	}
	case DMAC_OP_ADMIN_TENANTS:
	case DMAC_OP_ADMIN_LEASES:
	case DMAC_OP_ADMIN_SESSIONS: {
		const struct dmac_proto_query_req *q = (const void *)v->hdr;

		if (len != sizeof(*q))
			return;
		rc = v->opcode == DMAC_OP_ADMIN_TENANTS
			 ? dmac_proto_encode_admin_tenants_req(g_out, sizeof(g_out), v->tag,
							       q->cursor, q->max_count, &olen)
		     : v->opcode == DMAC_OP_ADMIN_LEASES
			 ? dmac_proto_encode_admin_leases_req(g_out, sizeof(g_out), v->tag,
							      q->cursor, q->max_count, &olen)
			 : dmac_proto_encode_admin_sessions_req(g_out, sizeof(g_out), v->tag,
								q->cursor, q->max_count, &olen);
		break;
	}
	case DMAC_OP_ADMIN_HISTOGRAM: {
		const struct dmac_proto_histogram_req *h = (const void *)v->hdr;

		if (len != sizeof(*h))
			return;
		rc = dmac_proto_encode_histogram_req(g_out, sizeof(g_out), v->tag, h->id, &olen);
		break;
	}
	case DMAC_OP_DEVICE: {
		const struct dmac_proto_device_req *d = (const void *)v->hdr;

		if (len != sizeof(*d))
			return;
		rc = dmac_proto_encode_device_req(
		    g_out, sizeof(g_out), v->tag, d->index,
		    (d->flags & DMAC_PROTO_DEVICE_F_BY_BDF) ? d->bdf : NULL, &olen);
		break;
	}
	case DMAC_OP_STATS:
		if (len != sizeof(struct dmac_proto_stats_req))
			return;
		rc = dmac_proto_encode_stats_req(g_out, sizeof(g_out), v->tag, &olen);
		break;
	default:
		FUZZ_ASSERT(0);
		return;
	}
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(olen == len);
	FUZZ_ASSERT(memcmp(g_out, g_msg, len) == 0);
}

/* Decode g_msg (len bytes) and check every invariant. */
static int check_one(bool reply, unsigned int nfds, size_t len)
{
	struct dmac_proto_view v, v2;
	int rc, rc2;

	rc = reply ? dmac_proto_decode_reply(g_msg, len, nfds, &v)
		   : dmac_proto_decode_request(g_msg, len, nfds, &v);
	rc2 = reply ? dmac_proto_decode_reply(g_msg, len, nfds, &v2)
		    : dmac_proto_decode_request(g_msg, len, nfds, &v2);
	FUZZ_ASSERT(rc == rc2);
	FUZZ_ASSERT(rc <= 0 && rc >= -4095);
	(void)dmac_proto_strerror(rc);
	if (rc)
		return 0;
	FUZZ_ASSERT(memcmp(&v, &v2, sizeof(v)) == 0);

	/* The view lies inside the message. */
	FUZZ_ASSERT((const void *)v.hdr == (const void *)g_msg);
	FUZZ_ASSERT(v.size == len && len % 8 == 0 && len >= sizeof(struct dmac_proto_hdr));
	FUZZ_ASSERT(v.nfds == nfds && nfds <= DMAC_PROTO_MAX_FDS);
	FUZZ_ASSERT(v.count <= DMAC_PROTO_MAX_VEC);
	(void)dmac_proto_op_name(v.opcode);
	if (v.vec) {
		size_t off = (size_t)((const char *)v.vec - (const char *)g_msg);
		uint64_t sum = 0;

		FUZZ_ASSERT(off + (size_t)v.count * v.elem_size == len);
		FUZZ_ASSERT(v.elem_size % 8 == 0 && off % 8 == 0);
		/* Touch every byte of every element (ASan checks the bounds). */
		for (uint32_t i = 0; i < v.count; i++) {
			const unsigned char *e = dmac_proto_view_elem(&v, i);

			for (uint32_t b = 0; b < v.elem_size; b++)
				sum += e[b];
		}
		(void)sum;
	} else {
		FUZZ_ASSERT(v.count == 0);
	}

	if (!reply) {
		uint64_t err[4];
		struct dmac_proto_view ev;
		size_t elen;

		FUZZ_ASSERT(v.status == 0);
		if (v.opcode != DMAC_OP_REGISTER)
			FUZZ_ASSERT(nfds == 0);
		FUZZ_ASSERT(
		    dmac_proto_encode_error(err, sizeof(err), v.opcode, v.tag, EINVAL, &elen) == 0);
		FUZZ_ASSERT(dmac_proto_decode_reply(err, elen, 0, &ev) == 0);
		FUZZ_ASSERT(dmac_proto_reply_matches(&v, &ev) == 0);
		reencode_request(&v, len);
	} else {
		/* Only a successful DEVICE reply carries fds, exactly its nfds field. */
		if (v.opcode == DMAC_OP_DEVICE && !v.status)
			FUZZ_ASSERT(nfds == ((const struct dmac_proto_device_rep *)v.hdr)->nfds);
		else
			FUZZ_ASSERT(nfds == 0);
		FUZZ_ASSERT(v.status <= DMAC_PROTO_MAX_STATUS);
		if (v.status)
			FUZZ_ASSERT(v.vec == NULL);
		/* a histogram that decodes adds up and ends at +Inf */
		if (v.opcode == DMAC_OP_ADMIN_HISTOGRAM && !v.status) {
			const struct dmac_proto_histogram_rep *h = (const void *)v.hdr;
			const struct dmac_proto_hist_bucket *last;
			uint64_t total = 0;

			FUZZ_ASSERT(v.count >= 1 && v.count <= DMAC_PROTO_HIST_MAX_BUCKETS);
			for (uint32_t i = 0; i < v.count; i++) {
				const struct dmac_proto_hist_bucket *x =
				    dmac_proto_view_elem(&v, i);

				total += x->count;
			}
			last = dmac_proto_view_elem(&v, v.count - 1);
			FUZZ_ASSERT(total == h->count && last->le == UINT64_MAX);
		}
		/* a tenant element shorter than the struct copies out zero-padded */
		if (v.opcode == DMAC_OP_ADMIN_TENANTS && !v.status && v.count) {
			struct dmac_proto_tenant_info ti;

			dmac_proto_view_elem_copy(&v, 0, &ti, sizeof(ti));
			FUZZ_ASSERT(ti.iova_start <= ti.iova_last);
			FUZZ_ASSERT(ti.bytes_pinned >= ti.bytes_registered);
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int nfds;
	bool reply;
	size_t len;
	int rc;

	if (size < 1 || size - 1 > DMAC_PROTO_MAX_MSG)
		return 0;
	reply = data[0] & 1;
	nfds = (data[0] >> 1) & 31;
	len = size - 1;
	g_msg = malloc(len ? len : 1);
	FUZZ_ASSERT(g_msg != NULL);
	memcpy(g_msg, data + 1, len);
	rc = check_one(reply, nfds, len);
	free(g_msg);
	g_msg = NULL;
	return rc;
}

#ifdef DMAC_FUZZ_REPLAY
#include "replay.h"

/* Write one seed: mode byte then the message. */
static int write_seed(const char *dir, const char *name, uint8_t mode, const void *msg, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(&mode, 1, 1, f) != 1 || fwrite(msg, 1, len, f) != len) {
		perror(path);
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f) ? -1 : 0;
}

int fuzz_write_seeds(const char *dir)
{
	static uint64_t b[DMAC_PROTO_MAX_MSG / 8];
	const struct dmac_proto_reg_range rr[] = {
	    {.fd_index = 0, .prot = DMAC_PROTO_PROT_ALL, .offset = 0, .length = 1 << 21},
	    {.fd_index = 1, .prot = DMAC_PROTO_PROT_READ, .offset = 1 << 21, .length = 4096},
	};
	const struct dmac_proto_reg_result res[] = {{.reg_id = 10, .page_shift = 21},
						    {.reg_id = 11, .page_shift = 12}};
	const struct dmac_proto_unreg_item ui[] = {{.reg_id = 10}};
	const struct dmac_proto_item_status st[] = {{.id = 10, .status = 0},
						    {.id = 11, .status = ESTALE}};
	const struct dmac_proto_lease_item li[] = {
	    {.reg_id = 10, .offset = 0, .length = 1 << 21, .prot = DMAC_PROTO_PROT_READ}};
	const struct dmac_proto_lease_grant lg[] = {
	    {.lease_id = 99, .generation = 1, .iova = 1ull << 32, .length = 1 << 21}};
	const struct dmac_proto_release_item ri[] = {{.lease_id = 99, .generation = 1},
						     {.lease_id = 100, .generation = 2}};
	const struct dmac_proto_lease_info qi[] = {{.lease_id = 99,
						    .generation = 1,
						    .iova = 1ull << 32,
						    .length = 1 << 21,
						    .reg_id = 10,
						    .prot = DMAC_PROTO_PROT_READ}};
	const struct dmac_proto_hello_rep hr = {.version = 1,
						.max_vec = DMAC_PROTO_MAX_VEC,
						.session_id = 5,
						.quota_pinned_bytes = 1ull << 30,
						.quota_leases = 64,
						.iova_start = 1ull << 32,
						.iova_last = (1ull << 40) - 1,
						.max_fds = DMAC_PROTO_MAX_FDS,
						.max_msg = DMAC_PROTO_MAX_MSG};
	const struct dmac_proto_stats sr = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	size_t l;
	int rc = 0;

#define SEED(name, mode, enc)                                                                      \
	do {                                                                                       \
		if (!rc)                                                                           \
			rc = (enc);                                                                \
		if (!rc)                                                                           \
			rc = write_seed(dir, name, mode, b, l);                                    \
	} while (0)
	SEED("hello_req", 0, dmac_proto_encode_hello_req(b, sizeof(b), 1, "tenant-a", &l));
	SEED("hello_rep", 1, dmac_proto_encode_hello_rep(b, sizeof(b), 1, &hr, &l));
	SEED("register_req", 2 << 1, dmac_proto_encode_register_req(b, sizeof(b), 2, rr, 2, 2, &l));
	SEED("register_req_badfds", 3 << 1,
	     dmac_proto_encode_register_req(b, sizeof(b), 2, rr, 2, 2, &l));
	SEED("register_rep", 1, dmac_proto_encode_register_rep(b, sizeof(b), 2, res, 2, &l));
	SEED("unregister_req", 0, dmac_proto_encode_unregister_req(b, sizeof(b), 3, ui, 1, &l));
	SEED("unregister_rep", 1, dmac_proto_encode_unregister_rep(b, sizeof(b), 3, st, 1, &l));
	SEED("lease_req", 0, dmac_proto_encode_lease_req(b, sizeof(b), 4, li, 1, &l));
	SEED("lease_rep", 1, dmac_proto_encode_lease_rep(b, sizeof(b), 4, lg, 1, &l));
	SEED("release_req", 0, dmac_proto_encode_release_req(b, sizeof(b), 5, ri, 2, &l));
	SEED("release_rep", 1, dmac_proto_encode_release_rep(b, sizeof(b), 5, st, 2, &l));
	SEED("query_req", 0, dmac_proto_encode_query_req(b, sizeof(b), 6, 0, 16, &l));
	SEED("query_rep", 1, dmac_proto_encode_query_rep(b, sizeof(b), 6, 0, qi, 1, &l));
	SEED("stats_req", 0, dmac_proto_encode_stats_req(b, sizeof(b), 7, &l));
	SEED("stats_rep", 1,
	     dmac_proto_encode_stats_rep(b, sizeof(b), 7, DMAC_PROTO_VERSION, &sr, &l));
	SEED("error_rep", 1, dmac_proto_encode_error(b, sizeof(b), 4, 8, EDQUOT, &l));
	{
		const struct dmac_proto_tenant_info ti[] = {{.name = "dpdk-1",
							     .sessions = 1,
							     .iova_last = UINT64_MAX,
							     .bytes_registered = 1 << 23,
							     .bytes_pinned = 14 << 20,
							     .lease_requests = 3}};
		const struct dmac_proto_session_info si[] = {
		    {.session_id = 3,
		     .pid = 100,
		     .uid = 4001,
		     .gid = 4001,
		     .flags = DMAC_PROTO_SESSION_F_PIDFD,
		     .tenant = "dpdk-1",
		     .comm = "testpmd"},
		    {.session_id = 4, .tenant = DMAC_PROTO_ADMIN_TENANT}};
		const struct dmac_proto_hist_bucket hb[] = {{512, 1}, {1024, 2}, {UINT64_MAX, 0}};

		SEED("admin_tenants_req", 0,
		     dmac_proto_encode_admin_tenants_req(b, sizeof(b), 11, 0, 8, &l));
		SEED("admin_tenants_rep", 1,
		     dmac_proto_encode_admin_tenants_rep(b, sizeof(b), 11, 3, 0, ti, 1, &l));
		SEED("admin_tenants_rep_v2", 1,
		     dmac_proto_encode_admin_tenants_rep(b, sizeof(b), 11, 2, 0, ti, 1, &l));
		SEED("admin_sessions_req", 0,
		     dmac_proto_encode_admin_sessions_req(b, sizeof(b), 12, 0, 8, &l));
		SEED("admin_sessions_rep", 1,
		     dmac_proto_encode_admin_sessions_rep(b, sizeof(b), 12, 0, si, 2, &l));
		SEED("histogram_req", 0,
		     dmac_proto_encode_histogram_req(b, sizeof(b), 13, DMAC_PROTO_HIST_LEASE, &l));
		SEED("histogram_rep", 1,
		     dmac_proto_encode_histogram_rep(b, sizeof(b), 13, DMAC_PROTO_HIST_LEASE, 3,
						     2000, hb, 3, &l));
	}
	SEED("device_req", 0, dmac_proto_encode_device_req(b, sizeof(b), 10, 1, NULL, &l));
	SEED("device_req_bdf", 0,
	     dmac_proto_encode_device_req(b, sizeof(b), 10, 0, "0000:00:04.0", &l));
	{
		struct dmac_proto_device_rep dr = {.bdf = "0000:00:04.0",
						   .vendor_id = 0x1b36,
						   .device_id = 0x0010,
						   .numa_node = -1,
						   .mode = DMAC_PROTO_DEVICE_STRICT,
						   .irq_type = DMAC_PROTO_IRQ_MSIX,
						   .nirqs = 4,
						   .irq_fd_first = 1,
						   .device_fd_index = DMAC_PROTO_NO_FD,
						   .nfds = 5};

		for (unsigned int i = 0; i < DMAC_PROTO_NUM_BARS; i++)
			dr.bars[i].fd_index = DMAC_PROTO_NO_FD;
		dr.bars[0].size = 16384;
		dr.bars[0].flags = DMAC_PROTO_BAR_MEM | DMAC_PROTO_BAR_64 | DMAC_PROTO_BAR_MMAP;
		dr.bars[0].fd_index = 0;
		SEED("device_rep", 1 | (5 << 1),
		     dmac_proto_encode_device_rep(b, sizeof(b), 10, &dr, &l));
	}
	/* An extended request: element tails of zeros (accepted). */
	if (!rc) {
		struct dmac_proto_vec_req *h = (void *)b;
		uint64_t tmp[2 * 4];

		rc = dmac_proto_encode_release_req(b, sizeof(b), 9, ri, 2, &l);
		memcpy(tmp, (char *)b + 40, 32);
		memset((char *)b + 40, 0, 64);
		memcpy((char *)b + 40, tmp, 16);
		memcpy((char *)b + 72, (char *)tmp + 16, 16);
		h->vec.elem_size = 32;
		h->hdr.size = 40 + 64;
		if (!rc)
			rc = write_seed(dir, "release_req_ext", 0, b, 40 + 64);
	}
#undef SEED
	return rc;
}

#endif /* DMAC_FUZZ_REPLAY */
