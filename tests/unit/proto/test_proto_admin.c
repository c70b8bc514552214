/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The admin messages of the codec: ADMIN_TENANTS (both element layouts:
 * version 2's 120 bytes and version 3's 192), ADMIN_LEASES, ADMIN_SESSIONS
 * and ADMIN_HISTOGRAM (round trips, field rules, unknown tails, reply
 * matching) and the reserved admin tenant name of HELLO.
 *
 * Invariants: every mutation works on a copy of an encoded sample; every
 * expected errno is the one docs/protocol.md gives for that field.
 */
#include <errno.h>
#include <string.h>

#define CHECK_EQ_SIGNED /* errno-style values: print CHECK_EQ operands in decimal */
#include "../check.h"
#include "dmac/proto.h"

struct msg {
	uint64_t w[DMAC_PROTO_MAX_MSG / 8 + 8];
	size_t len;
};

static int dec_rep(struct msg *m, struct dmac_proto_view *v)
{
	struct dmac_proto_view tmp;

	return dmac_proto_decode_reply(m->w, m->len, 0, v ? v : &tmp);
}

static int dec_req(struct msg *m, struct dmac_proto_view *v)
{
	struct dmac_proto_view tmp;

	return dmac_proto_decode_request(m->w, m->len, 0, v ? v : &tmp);
}

static void poke(struct msg *m, size_t off, size_t n, uint64_t val)
{
	memcpy((unsigned char *)m->w + off, &val, n);
}

static const struct dmac_proto_tenant_info sample_tenants[] = {
    {.name = "dpdk-1",
     .sessions = 2,
     .leases = 5,
     .bytes_leased = 5 << 21,
     .quota_pinned_bytes = 1 << 30,
     .quota_leases = 100,
     .iova_start = 0x100000000,
     .iova_last = 0x1ffffffff,
     .bytes_registered = 8 << 20,
     .bytes_pinned = 14 << 20,
     .bytes_kept = 1 << 21,
     .registrations = 3,
     .cache_hits = 4,
     .cache_misses = 5,
     .copy_hits = 6,
     .copy_misses = 7,
     .lease_requests = 8},
    {.name = "spdk", .iova_start = 0, .iova_last = UINT64_MAX},
};

static const struct dmac_proto_admin_lease sample_leases[] = {
    {.info = {.lease_id = 0x1234,
	      .generation = 1,
	      .iova = 0x200000,
	      .length = 0x200000,
	      .reg_id = 9,
	      .reg_offset = 0,
	      .prot = DMAC_PROTO_PROT_READ},
     .session_id = 3,
     .tenant = "dpdk-1"},
    {.info = {.lease_id = 0x5678,
	      .generation = 2,
	      .iova = 0x400000,
	      .length = 4096,
	      .reg_id = 10,
	      .reg_offset = 8192,
	      .prot = DMAC_PROTO_PROT_ALL},
     .session_id = 4,
     .tenant = "spdk"},
};

static void test_sizes(void)
{
	CHECK_EQ(sizeof(struct dmac_proto_tenant_info), 192);
	CHECK_EQ(DMAC_PROTO_TENANT_INFO_V2_SIZE, 120);
	CHECK_EQ(sizeof(struct dmac_proto_session_info), 136);
	CHECK_EQ(sizeof(struct dmac_proto_histogram_req), 32);
	CHECK_EQ(sizeof(struct dmac_proto_histogram_rep), 56);
	CHECK_EQ(DMAC_OP_ADMIN_SESSIONS, 11);
	CHECK_EQ(DMAC_OP_ADMIN_HISTOGRAM, 12);
	CHECK_EQ(DMAC_PROTO_VERSION, 3);
	CHECK(strcmp(dmac_proto_op_name(DMAC_OP_ADMIN_SESSIONS), "ADMIN_SESSIONS") == 0);
	CHECK(strcmp(dmac_proto_op_name(DMAC_OP_ADMIN_HISTOGRAM), "ADMIN_HISTOGRAM") == 0);
	CHECK(strcmp(dmac_proto_op_name(13), "UNKNOWN") == 0);
	CHECK(40 + DMAC_PROTO_MAX_VEC * sizeof(struct dmac_proto_tenant_info) <=
	      DMAC_PROTO_MAX_MSG);
	CHECK(40 + DMAC_PROTO_MAX_VEC * sizeof(struct dmac_proto_session_info) <=
	      DMAC_PROTO_MAX_MSG);
	CHECK_EQ(sizeof(struct dmac_proto_admin_lease), 128);
	CHECK_EQ(DMAC_OP_ADMIN_TENANTS, 8);
	CHECK_EQ(DMAC_OP_ADMIN_LEASES, 9);
	/* A full page of either fits one message. */
	CHECK(40 + DMAC_PROTO_MAX_VEC * sizeof(struct dmac_proto_admin_lease) <=
	      DMAC_PROTO_MAX_MSG);
	CHECK(strcmp(dmac_proto_op_name(DMAC_OP_ADMIN_TENANTS), "ADMIN_TENANTS") == 0);
	CHECK(strcmp(dmac_proto_op_name(DMAC_OP_ADMIN_LEASES), "ADMIN_LEASES") == 0);
}

static void test_requests(void)
{
	struct dmac_proto_view v;
	struct msg m, t;

	for (int op = 0; op < 3; op++) {
		int (*enc)(void *, size_t, uint64_t, uint64_t, uint32_t, size_t *) =
		    op == 2   ? dmac_proto_encode_admin_sessions_req
		    : op == 1 ? dmac_proto_encode_admin_leases_req
			      : dmac_proto_encode_admin_tenants_req;
		uint32_t want = op == 2	  ? DMAC_OP_ADMIN_SESSIONS
				: op == 1 ? DMAC_OP_ADMIN_LEASES
					  : DMAC_OP_ADMIN_TENANTS;

		memset(&m, 0, sizeof(m));
		CHECK_EQ(enc(m.w, sizeof(m.w), 77, 5, 10, &m.len), 0);
		CHECK_EQ(m.len, 40);
		CHECK_EQ(dec_req(&m, &v), 0);
		CHECK_EQ(v.opcode, want);
		CHECK_EQ(v.tag, 77);
		CHECK_EQ(((const struct dmac_proto_query_req *)v.hdr)->cursor, 5);
		CHECK_EQ(((const struct dmac_proto_query_req *)v.hdr)->max_count, 10);

		/* max_count 1..256, flags 0, unknown tail zero. */
		t = m;
		poke(&t, 32, 4, 0);
		CHECK_EQ(dec_req(&t, NULL), -EINVAL);
		poke(&t, 32, 4, DMAC_PROTO_MAX_VEC + 1);
		CHECK_EQ(dec_req(&t, NULL), -EINVAL);
		poke(&t, 32, 4, DMAC_PROTO_MAX_VEC);
		CHECK_EQ(dec_req(&t, NULL), 0);
		poke(&t, 36, 4, 1);
		CHECK_EQ(dec_req(&t, NULL), -EOPNOTSUPP);
		t = m;
		t.len = 48;
		poke(&t, 0, 4, 48);
		CHECK_EQ(dec_req(&t, NULL), 0); /* longer with a zero tail */
		poke(&t, 40, 8, 1);
		CHECK_EQ(dec_req(&t, NULL), -E2BIG);
		t = m;
		t.len = 32;
		poke(&t, 0, 4, 32);
		CHECK_EQ(dec_req(&t, NULL), -EINVAL); /* shorter than the minimum */
		/* Encoder refuses what the decoder would. */
		CHECK_EQ(enc(t.w, sizeof(t.w), 1, 0, 0, &t.len), -EINVAL);
		CHECK_EQ(t.len, 0);
		CHECK_EQ(enc(t.w, 39, 1, 0, 1, &t.len), -EMSGSIZE);
		/* No fds on an admin request. */
		CHECK_EQ(dmac_proto_decode_request(m.w, m.len, 1, &v), -EBADR);
	}
}

static void test_replies(void)
{
	struct dmac_proto_view req, rep;
	struct msg q, m, t;

	/* ADMIN_TENANTS, version 2: 120-byte elements, the newer fields left out. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_admin_tenants_rep(m.w, sizeof(m.w), 9, 2, 0, sample_tenants, 2,
						     &m.len),
		 0);
	CHECK_EQ(m.len, 40 + 2 * 120);
	CHECK_EQ(dec_rep(&m, &rep), 0);
	CHECK_EQ(rep.count, 2);
	CHECK_EQ(rep.elem_size, 120);
	CHECK(!memcmp(dmac_proto_view_elem(&rep, 1), &sample_tenants[1], 120));
	{
		struct dmac_proto_tenant_info got;

		/* a v2 element reads as the struct with the v3 fields 0 */
		memset(&got, 0xff, sizeof(got));
		dmac_proto_view_elem_copy(&rep, 0, &got, sizeof(got));
		CHECK(!memcmp(&got, &sample_tenants[0], 120));
		CHECK_EQ(got.bytes_registered, 0);
		CHECK_EQ(got.lease_requests, 0);
	}
	CHECK_EQ(dmac_proto_encode_admin_tenants_rep(t.w, sizeof(t.w), 9, 0, 0, sample_tenants, 2,
						     &t.len),
		 -EINVAL); /* version 0 has no layout */
	CHECK_EQ(dmac_proto_encode_admin_tenants_rep(t.w, sizeof(t.w), 9, 1, 0, sample_tenants, 2,
						     &t.len),
		 0);
	CHECK_EQ(t.len, 40 + 2 * 120);
	/* shorter than 120 is below the minimum */
	t = m;
	poke(&t, 28, 2, 112);
	poke(&t, 0, 4, 40 + 2 * 112);
	t.len = 40 + 2 * 112;
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);

	/* Version 3: 192-byte elements with the accounting. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_admin_tenants_rep(m.w, sizeof(m.w), 9, 3, 0, sample_tenants, 2,
						     &m.len),
		 0);
	CHECK_EQ(m.len, 40 + 2 * 192);
	CHECK_EQ(dec_rep(&m, &rep), 0);
	CHECK_EQ(rep.elem_size, 192);
	CHECK(!memcmp(dmac_proto_view_elem(&rep, 0), &sample_tenants[0], 192));
	t = m;
	poke(&t, 40 + 128, 8, (8 << 20) - 4096); /* pinned below registered */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 184, 8, UINT64_MAX); /* counters take any value */
	CHECK_EQ(dec_rep(&t, NULL), 0);
	/* an element between the two sizes: fields it does not hold are 0 */
	memset(&t, 0, sizeof(t));
	memcpy(t.w, m.w, 40);
	for (int i = 0; i < 2; i++)
		memcpy((unsigned char *)t.w + 40 + i * 136, &sample_tenants[i], 136);
	t.len = 40 + 2 * 136;
	poke(&t, 0, 4, t.len);
	poke(&t, 28, 2, 136);
	CHECK_EQ(dec_rep(&t, &rep), 0); /* bytes_pinned 14 MiB >= bytes_registered 8 MiB */
	poke(&t, 40 + 128, 8, 0);	/* pinned 0 < registered 8 MiB */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	/* a newer sender's longer element with a zero tail, then a non-zero one */
	memset(&t, 0, sizeof(t));
	memcpy(t.w, m.w, 40);
	for (int i = 0; i < 2; i++)
		memcpy((unsigned char *)t.w + 40 + i * 200, &sample_tenants[i], 192);
	t.len = 40 + 2 * 200;
	poke(&t, 0, 4, t.len);
	poke(&t, 28, 2, 200);
	CHECK_EQ(dec_rep(&t, &rep), 0);
	poke(&t, 40 + 200 + 196, 1, 1);
	CHECK_EQ(dec_rep(&t, NULL), -E2BIG);
	t = m;
	poke(&t, 40, 1, '@'); /* name must be a valid tenant name */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40, 8, 0); /* empty name */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 104, 8, 0x200000000); /* iova_start > iova_last */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 64, 8, UINT64_MAX); /* counters take any value */
	CHECK_EQ(dec_rep(&t, NULL), 0);
	CHECK_EQ(dmac_proto_encode_admin_tenants_rep(t.w, sizeof(t.w), 9, 3, 0, NULL, 0, &t.len),
		 0);
	CHECK_EQ(dec_rep(&t, &rep), 0); /* an empty page is valid */
	CHECK_EQ(rep.count, 0);

	/* Matching: same opcode and tag, at most max_count. */
	memset(&q, 0, sizeof(q));
	CHECK_EQ(dmac_proto_encode_admin_tenants_req(q.w, sizeof(q.w), 9, 0, 2, &q.len), 0);
	CHECK_EQ(dec_req(&q, &req), 0);
	CHECK_EQ(dec_rep(&m, &rep), 0);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), 0);
	CHECK_EQ(dmac_proto_encode_admin_tenants_req(q.w, sizeof(q.w), 9, 0, 1, &q.len), 0);
	CHECK_EQ(dec_req(&q, &req), 0);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), -EPROTO);
	CHECK_EQ(dmac_proto_encode_admin_leases_req(q.w, sizeof(q.w), 9, 0, 2, &q.len), 0);
	CHECK_EQ(dec_req(&q, &req), 0);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), -EPROTO); /* other opcode */

	/* ADMIN_LEASES. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(
	    dmac_proto_encode_admin_leases_rep(m.w, sizeof(m.w), 9, 1234, sample_leases, 2, &m.len),
	    0);
	CHECK_EQ(m.len, 40 + 2 * 128);
	CHECK_EQ(dec_rep(&m, &rep), 0);
	CHECK_EQ(((const struct dmac_proto_query_rep *)rep.hdr)->next_cursor, 1234);
	CHECK(!memcmp(dmac_proto_view_elem(&rep, 0), &sample_leases[0], 128));
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), 0);
	t = m;
	poke(&t, 40 + 56, 8, 0); /* session id 0 */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 64, 8, 0); /* no tenant name */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40, 8, 0); /* lease id 0: the QUERY element rules apply */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 52, 4, 1);
	CHECK_EQ(dec_rep(&t, NULL), -EOPNOTSUPP);
	t = m;
	poke(&t, 40 + 48, 4, 4);
	CHECK_EQ(dec_rep(&t, NULL), -EOPNOTSUPP);
	t = m;
	poke(&t, 40 + 16, 8, UINT64_MAX);
	CHECK_EQ(dec_rep(&t, NULL), -EOVERFLOW);
	/* A wider element with a zero tail is accepted; a non-zero tail is E2BIG. */
	memset(&t, 0, sizeof(t));
	memcpy(t.w, m.w, 40);
	for (int i = 0; i < 2; i++)
		memcpy((unsigned char *)t.w + 40 + i * 136, &sample_leases[i], 128);
	t.len = 40 + 2 * 136;
	poke(&t, 0, 4, t.len);
	poke(&t, 28, 2, 136); /* elem_size */
	CHECK_EQ(dec_rep(&t, &rep), 0);
	CHECK_EQ(rep.elem_size, 136);
	poke(&t, 40 + 130, 1, 1);
	CHECK_EQ(dec_rep(&t, NULL), -E2BIG);
	/* An error reply (EPERM: not an admin session; ENOTTY: an older daemon). */
	CHECK_EQ(dmac_proto_encode_error(t.w, sizeof(t.w), DMAC_OP_ADMIN_LEASES, 9, EPERM, &t.len),
		 0);
	CHECK_EQ(dec_rep(&t, &rep), 0);
	CHECK_EQ(rep.status, EPERM);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), 0);
}

static const struct dmac_proto_session_info sample_sessions[] = {
    {.session_id = 7,
     .pid = 1234,
     .uid = 4001,
     .gid = 4001,
     .flags = DMAC_PROTO_SESSION_F_PIDFD,
     .tenant = "dpdk-1",
     .comm = "testpmd",
     .registrations = 2,
     .bytes_registered = 8 << 20,
     .leases = 3,
     .bytes_leased = 3 << 21},
    {.session_id = 8, .tenant = DMAC_PROTO_ADMIN_TENANT, .comm = "dmacachectl"},
    {.session_id = 9}, /* no HELLO yet, name unknown */
};

static void test_sessions(void)
{
	struct dmac_proto_view req, rep;
	struct msg q, m, t;

	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_admin_sessions_rep(m.w, sizeof(m.w), 5, 77, sample_sessions, 3,
						      &m.len),
		 0);
	CHECK_EQ(m.len, 40 + 3 * 136);
	CHECK_EQ(dec_rep(&m, &rep), 0);
	CHECK_EQ(rep.opcode, DMAC_OP_ADMIN_SESSIONS);
	CHECK_EQ(rep.count, 3);
	CHECK_EQ(((const struct dmac_proto_query_rep *)rep.hdr)->next_cursor, 77);
	CHECK(!memcmp(dmac_proto_view_elem(&rep, 0), &sample_sessions[0], 136));
	memset(&q, 0, sizeof(q));
	CHECK_EQ(dmac_proto_encode_admin_sessions_req(q.w, sizeof(q.w), 5, 0, 3, &q.len), 0);
	CHECK_EQ(dec_req(&q, &req), 0);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), 0);
	CHECK_EQ(dmac_proto_encode_admin_sessions_req(q.w, sizeof(q.w), 5, 0, 2, &q.len), 0);
	CHECK_EQ(dec_req(&q, &req), 0);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), -EPROTO); /* more than max_count */

	/* field rules */
	t = m;
	poke(&t, 40, 8, 0); /* session id 0 */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 20, 4, 2); /* unknown flag */
	CHECK_EQ(dec_rep(&t, NULL), -EOPNOTSUPP);
	t = m;
	poke(&t, 40 + 24, 1, '@'); /* "@pdk-1": neither a tenant nor the admin name */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 136 + 24 + 7, 1, 'x'); /* junk after "@admin" */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 2 * 136 + 30, 1, 'x'); /* a tenant field that is neither zero nor a name */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 88 + 8, 8, 0x4141414141414141ull); /* comm without a NUL */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 88 + 10, 1, 'x'); /* junk after comm's NUL ("testpmd\0" + 'x') */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 40 + 88, 8, 0x0a1b5b33316d0aull); /* any bytes but NUL: escapes, newlines */
	CHECK_EQ(dec_rep(&t, NULL), 0);
	t = m;
	poke(&t, 40 + 104, 8, UINT64_MAX); /* counters take any value */
	CHECK_EQ(dec_rep(&t, NULL), 0);
	/* an older element size is below the minimum */
	t = m;
	poke(&t, 28, 2, 128);
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	CHECK_EQ(
	    dmac_proto_encode_error(t.w, sizeof(t.w), DMAC_OP_ADMIN_SESSIONS, 5, EPERM, &t.len), 0);
	CHECK_EQ(dec_rep(&t, &rep), 0);
	CHECK_EQ(rep.status, EPERM);
}

static void test_histogram(void)
{
	struct dmac_proto_hist_bucket b[4] = {
	    {1024, 3}, {2048, 0}, {1ull << 34, 2}, {UINT64_MAX, 1}};
	struct dmac_proto_view req, rep;
	struct msg q, m, t;

	/* request: id non-zero, flags 0, 32 bytes */
	memset(&q, 0, sizeof(q));
	CHECK_EQ(
	    dmac_proto_encode_histogram_req(q.w, sizeof(q.w), 6, DMAC_PROTO_HIST_LEASE, &q.len), 0);
	CHECK_EQ(q.len, 32);
	CHECK_EQ(dec_req(&q, &req), 0);
	CHECK_EQ(req.opcode, DMAC_OP_ADMIN_HISTOGRAM);
	t = q;
	poke(&t, 24, 4, 0);
	CHECK_EQ(dec_req(&t, NULL), -EINVAL);
	t = q;
	poke(&t, 28, 4, 1);
	CHECK_EQ(dec_req(&t, NULL), -EOPNOTSUPP);
	t = q;
	t.len = 24;
	poke(&t, 0, 4, 24);
	CHECK_EQ(dec_req(&t, NULL), -EINVAL);
	CHECK_EQ(dmac_proto_encode_histogram_req(t.w, sizeof(t.w), 6, 0, &t.len), -EINVAL);
	CHECK_EQ(dmac_proto_decode_request(q.w, q.len, 1, &req), -EBADR);

	/* reply */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_histogram_rep(m.w, sizeof(m.w), 6, DMAC_PROTO_HIST_LEASE, 6,
						 12345, b, 4, &m.len),
		 0);
	CHECK_EQ(m.len, 56 + 4 * 16);
	CHECK_EQ(dec_rep(&m, &rep), 0);
	CHECK_EQ(rep.count, 4);
	CHECK_EQ(((const struct dmac_proto_histogram_rep *)rep.hdr)->sum, 12345);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), 0);
	/* the same id, else EPROTO */
	CHECK_EQ(dmac_proto_encode_histogram_req(q.w, sizeof(q.w), 6, 2, &q.len), 0);
	CHECK_EQ(dec_req(&q, &req), 0);
	CHECK_EQ(dmac_proto_reply_matches(&req, &rep), -EPROTO);
	/* the count is the sum of the buckets */
	CHECK_EQ(dmac_proto_encode_histogram_rep(t.w, sizeof(t.w), 6, 1, 7, 0, b, 4, &t.len),
		 -EINVAL);
	t = m;
	poke(&t, 40, 8, 5);
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	/* bounds strictly increasing, the last +Inf */
	t = m;
	poke(&t, 56 + 16, 8, 1024);
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	t = m;
	poke(&t, 56 + 48, 8, UINT64_MAX - 1);
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	/* at least one bucket, at most 64 */
	CHECK_EQ(dmac_proto_encode_histogram_rep(t.w, sizeof(t.w), 6, 1, 0, 0, b, 0, &t.len),
		 -EINVAL);
	{
		struct dmac_proto_hist_bucket many[65];

		for (unsigned int i = 0; i < 65; i++)
			many[i] = (struct dmac_proto_hist_bucket){i == 64 ? UINT64_MAX : i + 1, 0};
		CHECK_EQ(
		    dmac_proto_encode_histogram_rep(t.w, sizeof(t.w), 6, 1, 0, 0, many, 65, &t.len),
		    -EINVAL);
		CHECK_EQ(dmac_proto_encode_histogram_rep(t.w, sizeof(t.w), 6, 1, 0, 0, many + 1, 64,
							 &t.len),
			 0);
	}
	/* counts that overflow when added are refused, whatever 'count' says */
	b[0].count = UINT64_MAX;
	CHECK_EQ(dmac_proto_encode_histogram_rep(t.w, sizeof(t.w), 6, 1, 5, 0, b, 4, &t.len),
		 -EINVAL);
	t = m;
	poke(&t, 36, 4, 1); /* reserved */
	CHECK_EQ(dec_rep(&t, NULL), -EOPNOTSUPP);
	t = m;
	poke(&t, 32, 4, 0); /* id 0 */
	CHECK_EQ(dec_rep(&t, NULL), -EINVAL);
	/* a wider bucket with a zero tail is accepted, a non-zero one E2BIG */
	memset(&t, 0, sizeof(t));
	memcpy(t.w, m.w, 56);
	for (int i = 0; i < 4; i++)
		memcpy((unsigned char *)t.w + 56 + i * 24, (unsigned char *)m.w + 56 + i * 16, 16);
	t.len = 56 + 4 * 24;
	poke(&t, 0, 4, t.len);
	poke(&t, 28, 2, 24);
	CHECK_EQ(dec_rep(&t, &rep), 0);
	CHECK_EQ(rep.elem_size, 24);
	poke(&t, 56 + 20, 1, 1);
	CHECK_EQ(dec_rep(&t, NULL), -E2BIG);
}

static void test_admin_tenant(void)
{
	char f[DMAC_PROTO_TENANT_MAX];
	struct dmac_proto_view v;
	struct msg m;

	memset(f, 0, sizeof(f));
	strcpy(f, DMAC_PROTO_ADMIN_TENANT);
	CHECK(dmac_proto_is_admin_tenant(f));
	CHECK_EQ(dmac_proto_check_tenant(f), -EINVAL); /* never a configured tenant */
	f[sizeof(DMAC_PROTO_ADMIN_TENANT) + 1] = 'x';  /* junk after the NUL */
	CHECK(!dmac_proto_is_admin_tenant(f));
	memset(f, 0, sizeof(f));
	strcpy(f, "@admin2");
	CHECK(!dmac_proto_is_admin_tenant(f));
	strcpy(f, "admin");
	CHECK(!dmac_proto_is_admin_tenant(f));

	/* HELLO accepts "@admin" and no other '@' name. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_hello_req(m.w, sizeof(m.w), 1, DMAC_PROTO_ADMIN_TENANT, &m.len),
		 0);
	CHECK_EQ(dec_req(&m, &v), 0);
	CHECK_EQ(dmac_proto_encode_hello_req(m.w, sizeof(m.w), 1, "@root", &m.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_hello_req(m.w, sizeof(m.w), 1, "@admi", &m.len), -EINVAL);
}

int main(void)
{
	test_sizes();
	test_requests();
	test_replies();
	test_sessions();
	test_histogram();
	test_admin_tenant();
	return check_report("test_proto_admin");
}
