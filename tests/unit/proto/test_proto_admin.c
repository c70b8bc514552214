/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The admin messages of the codec: ADMIN_TENANTS and ADMIN_LEASES (round trips,
 * field rules, unknown tails, reply matching) and the reserved admin tenant
 * name of HELLO.
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
     .iova_last = 0x1ffffffff},
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
	CHECK_EQ(sizeof(struct dmac_proto_tenant_info), 120);
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

	for (int op = 0; op < 2; op++) {
		int (*enc)(void *, size_t, uint64_t, uint64_t, uint32_t, size_t *) =
		    op ? dmac_proto_encode_admin_leases_req : dmac_proto_encode_admin_tenants_req;
		uint32_t want = op ? DMAC_OP_ADMIN_LEASES : DMAC_OP_ADMIN_TENANTS;

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

	/* ADMIN_TENANTS. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(
	    dmac_proto_encode_admin_tenants_rep(m.w, sizeof(m.w), 9, 0, sample_tenants, 2, &m.len),
	    0);
	CHECK_EQ(m.len, 40 + 2 * 120);
	CHECK_EQ(dec_rep(&m, &rep), 0);
	CHECK_EQ(rep.count, 2);
	CHECK_EQ(rep.elem_size, 120);
	CHECK(!memcmp(dmac_proto_view_elem(&rep, 1), &sample_tenants[1], 120));
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
	CHECK_EQ(dmac_proto_encode_admin_tenants_rep(t.w, sizeof(t.w), 9, 0, NULL, 0, &t.len), 0);
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
	test_admin_tenant();
	return check_report("test_proto_admin");
}
