/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the protocol codec (lib/proto/proto.c).
 *
 * Invariants of this file: every sample message is built with the public
 * encoders into an 8-byte aligned buffer and must decode before any test
 * mutates a copy of it; mutations always work on a copy (struct msg), never on
 * the sample; every expected error is the one docs/protocol.md gives for that
 * case. Ranges are [offset, offset + length), end exclusive.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define CHECK_EQ_SIGNED /* errno-style values: print CHECK_EQ operands in decimal */
#include "../check.h"
#include "dmac/proto.h"

#define ARR(a) (sizeof(a) / sizeof((a)[0]))

/* An aligned message buffer with its length and decoding context. */
struct msg {
	uint64_t w[DMAC_PROTO_MAX_MSG / 8 + 16];
	size_t len;
	bool reply;
	unsigned int nfds;
};

static unsigned char *bytes(struct msg *m)
{
	return (unsigned char *)m->w;
}

static struct dmac_proto_hdr *hdr(struct msg *m)
{
	return (struct dmac_proto_hdr *)m->w;
}

static int decode(struct msg *m, struct dmac_proto_view *v)
{
	struct dmac_proto_view tmp;

	if (!v)
		v = &tmp;
	return m->reply ? dmac_proto_decode_reply(m->w, m->len, m->nfds, v)
			: dmac_proto_decode_request(m->w, m->len, m->nfds, v);
}

/* Set the length and the size field together. */
static void set_len(struct msg *m, size_t len)
{
	m->len = len;
	hdr(m)->size = (uint32_t)len;
}

/* ---- samples -------------------------------------------------------------- */

static const struct dmac_proto_reg_range sample_ranges[] = {
    {.fd_index = 0,
     .prot = DMAC_PROTO_PROT_READ | DMAC_PROTO_PROT_WRITE,
     .offset = 0,
     .length = 1 << 21},
    {.fd_index = 1, .prot = DMAC_PROTO_PROT_READ, .offset = 4096, .length = 8192},
    {.fd_index = 0, .prot = DMAC_PROTO_PROT_WRITE, .offset = 1 << 21, .length = 1 << 21},
};
static const struct dmac_proto_reg_result sample_regres[] = {
    {.reg_id = 0x1111222233334444ull, .page_shift = 21},
    {.reg_id = 0x5555666677778888ull, .page_shift = 12},
    {.reg_id = 0x9999aaaabbbbccccull, .page_shift = 21},
};
static const struct dmac_proto_unreg_item sample_unreg[] = {{.reg_id = 7}, {.reg_id = 9}};
static const struct dmac_proto_item_status sample_unreg_st[] = {{.id = 7, .status = 0},
								{.id = 9, .status = EBUSY}};
static const struct dmac_proto_lease_item sample_lease[] = {
    {.reg_id = 42, .offset = 0, .length = 1 << 21, .prot = DMAC_PROTO_PROT_READ},
    {.reg_id = 43, .offset = 1 << 21, .length = 4096, .prot = DMAC_PROTO_PROT_ALL},
};
static const struct dmac_proto_lease_grant sample_grant[] = {
    {.lease_id = 0xdeadbeefcafef00dull, .generation = 3, .iova = 1ull << 32, .length = 1 << 21},
    {.lease_id = 0x0123456789abcdefull, .generation = 4, .iova = UINT64_MAX - 4095, .length = 4096},
};
static const struct dmac_proto_release_item sample_rel[] = {
    {.lease_id = 0xdeadbeefcafef00dull, .generation = 3},
    {.lease_id = 0x0123456789abcdefull, .generation = 4},
};
static const struct dmac_proto_item_status sample_rel_st[] = {
    {.id = 0xdeadbeefcafef00dull, .status = 0},
    {.id = 0x0123456789abcdefull, .status = ESTALE},
};
static const struct dmac_proto_lease_info sample_info[] = {
    {.lease_id = 5,
     .generation = 1,
     .iova = 0x100000,
     .length = 0x200000,
     .reg_id = 42,
     .reg_offset = 0,
     .prot = DMAC_PROTO_PROT_READ},
    {.lease_id = 6,
     .generation = 2,
     .iova = 0x400000,
     .length = 0x1000,
     .reg_id = 43,
     .reg_offset = 0x1000,
     .prot = DMAC_PROTO_PROT_ALL},
};
static const struct dmac_proto_hello_rep sample_hello_rep = {
    .version = 1,
    .max_vec = DMAC_PROTO_MAX_VEC,
    .session_id = 0x8877665544332211ull,
    .quota_pinned_bytes = 1ull << 34,
    .quota_leases = 4096,
    .iova_start = 1ull << 32,
    .iova_last = (1ull << 48) - 1,
    .max_fds = DMAC_PROTO_MAX_FDS,
    .max_msg = DMAC_PROTO_MAX_MSG,
};
static const struct dmac_proto_stats sample_stats = {1, 2,  3,	4,  5,	6,  7,	8,
						     9, 10, 11, 12, 13, 14, 15, 16};

enum {
	S_HELLO_REQ,
	S_HELLO_REP,
	S_REGISTER_REQ,
	S_REGISTER_REP,
	S_UNREGISTER_REQ,
	S_UNREGISTER_REP,
	S_LEASE_REQ,
	S_LEASE_REP,
	S_RELEASE_REQ,
	S_RELEASE_REP,
	S_QUERY_REQ,
	S_QUERY_REP,
	S_QUERY_REP_EMPTY,
	S_STATS_REQ,
	S_STATS_REP,
	S_ERROR_REP,
	S__COUNT
};

/* Build sample s into m; the tag is 1000 + s. */
static void build(int s, struct msg *m)
{
	const size_t cap = sizeof(m->w);
	uint64_t tag = 1000 + (uint64_t)s;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	m->reply = true;
	switch (s) {
	case S_HELLO_REQ:
		m->reply = false;
		rc = dmac_proto_encode_hello_req(m->w, cap, tag, "tenant-A.1_x", &m->len);
		break;
	case S_HELLO_REP:
		rc = dmac_proto_encode_hello_rep(m->w, cap, tag, &sample_hello_rep, &m->len);
		break;
	case S_REGISTER_REQ:
		m->reply = false;
		m->nfds = 2;
		rc = dmac_proto_encode_register_req(m->w, cap, tag, sample_ranges,
						    ARR(sample_ranges), 2, &m->len);
		break;
	case S_REGISTER_REP:
		rc = dmac_proto_encode_register_rep(m->w, cap, tag, sample_regres,
						    ARR(sample_regres), &m->len);
		break;
	case S_UNREGISTER_REQ:
		m->reply = false;
		rc = dmac_proto_encode_unregister_req(m->w, cap, tag, sample_unreg,
						      ARR(sample_unreg), &m->len);
		break;
	case S_UNREGISTER_REP:
		rc = dmac_proto_encode_unregister_rep(m->w, cap, tag, sample_unreg_st,
						      ARR(sample_unreg_st), &m->len);
		break;
	case S_LEASE_REQ:
		m->reply = false;
		rc = dmac_proto_encode_lease_req(m->w, cap, tag, sample_lease, ARR(sample_lease),
						 &m->len);
		break;
	case S_LEASE_REP:
		rc = dmac_proto_encode_lease_rep(m->w, cap, tag, sample_grant, ARR(sample_grant),
						 &m->len);
		break;
	case S_RELEASE_REQ:
		m->reply = false;
		rc = dmac_proto_encode_release_req(m->w, cap, tag, sample_rel, ARR(sample_rel),
						   &m->len);
		break;
	case S_RELEASE_REP:
		rc = dmac_proto_encode_release_rep(m->w, cap, tag, sample_rel_st,
						   ARR(sample_rel_st), &m->len);
		break;
	case S_QUERY_REQ:
		m->reply = false;
		rc = dmac_proto_encode_query_req(m->w, cap, tag, 77, 2, &m->len);
		break;
	case S_QUERY_REP:
		rc = dmac_proto_encode_query_rep(m->w, cap, tag, 99, sample_info, ARR(sample_info),
						 &m->len);
		break;
	case S_QUERY_REP_EMPTY:
		rc = dmac_proto_encode_query_rep(m->w, cap, tag, 0, NULL, 0, &m->len);
		break;
	case S_STATS_REQ:
		m->reply = false;
		rc = dmac_proto_encode_stats_req(m->w, cap, tag, &m->len);
		break;
	case S_STATS_REP:
		rc = dmac_proto_encode_stats_rep(m->w, cap, tag, DMAC_PROTO_VERSION, &sample_stats,
						 &m->len);
		break;
	case S_ERROR_REP:
		rc = dmac_proto_encode_error(m->w, cap, DMAC_OP_LEASE, tag, -EDQUOT, &m->len);
		break;
	}
	if (rc) {
		fprintf(stderr, "sample %d: encode failed: %d\n", s, rc);
		abort();
	}
}

/* ---- round trips ---------------------------------------------------------- */

static void test_round_trip(void)
{
	struct dmac_proto_view v, rv;
	struct msg m, r;

	for (int s = 0; s < S__COUNT; s++) {
		build(s, &m);
		CHECK_EQ(decode(&m, &v), 0);
		CHECK_EQ(v.tag, 1000 + s);
		CHECK_EQ(v.size, m.len);
		CHECK(v.hdr == (const void *)m.w);
		CHECK_EQ(m.len % 8, 0);
	}

	build(S_HELLO_REQ, &m);
	CHECK_EQ(m.len, 96);
	CHECK_EQ(decode(&m, &v), 0);
	CHECK_EQ(v.opcode, DMAC_OP_HELLO);
	{
		const struct dmac_proto_hello_req *h = (const void *)v.hdr;

		CHECK_EQ(h->version, DMAC_PROTO_VERSION);
		CHECK(strcmp(h->tenant, "tenant-A.1_x") == 0);
	}
	build(S_HELLO_REP, &r);
	CHECK_EQ(r.len, 80);
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK(memcmp((const char *)rv.hdr + 24, (const char *)&sample_hello_rep + 24, 56) == 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), -EPROTO); /* tags differ */
	hdr(&r)->tag = v.tag;
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), 0);

	build(S_REGISTER_REQ, &m);
	CHECK_EQ(m.len, 40 + 3 * 32);
	CHECK_EQ(decode(&m, &v), 0);
	CHECK_EQ(v.count, 3);
	CHECK_EQ(v.elem_size, 32);
	CHECK_EQ(v.nfds, 2);
	for (uint32_t i = 0; i < v.count; i++)
		CHECK(memcmp(dmac_proto_view_elem(&v, i), &sample_ranges[i], 32) == 0);
	build(S_REGISTER_REP, &r);
	CHECK_EQ(r.len, 40 + 3 * 16);
	hdr(&r)->tag = v.tag;
	CHECK_EQ(decode(&r, &rv), 0);
	for (uint32_t i = 0; i < rv.count; i++)
		CHECK(memcmp(dmac_proto_view_elem(&rv, i), &sample_regres[i], 16) == 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), 0);
	/* A reply with fewer results than ranges is refused. */
	CHECK_EQ(dmac_proto_encode_register_rep(r.w, sizeof(r.w), v.tag, sample_regres, 2, &r.len),
		 0);
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), -EPROTO);

	build(S_UNREGISTER_REQ, &m);
	CHECK_EQ(m.len, 40 + 2 * 8);
	CHECK_EQ(decode(&m, &v), 0);
	build(S_UNREGISTER_REP, &r);
	hdr(&r)->tag = v.tag;
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), 0);
	CHECK_EQ(((const struct dmac_proto_item_status *)dmac_proto_view_elem(&rv, 1))->status,
		 EBUSY);

	build(S_LEASE_REQ, &m);
	CHECK_EQ(m.len, 40 + 2 * 32);
	CHECK_EQ(decode(&m, &v), 0);
	for (uint32_t i = 0; i < v.count; i++)
		CHECK(memcmp(dmac_proto_view_elem(&v, i), &sample_lease[i], 32) == 0);
	build(S_LEASE_REP, &r);
	hdr(&r)->tag = v.tag;
	CHECK_EQ(decode(&r, &rv), 0);
	for (uint32_t i = 0; i < rv.count; i++)
		CHECK(memcmp(dmac_proto_view_elem(&rv, i), &sample_grant[i], 32) == 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), 0);

	build(S_RELEASE_REQ, &m);
	CHECK_EQ(m.len, 40 + 2 * 16);
	CHECK_EQ(decode(&m, &v), 0);
	build(S_RELEASE_REP, &r);
	hdr(&r)->tag = v.tag;
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), 0);
	/* Ids out of order do not match. */
	((struct dmac_proto_item_status *)(bytes(&r) + 40))->id = 12345;
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), -EPROTO);

	build(S_QUERY_REQ, &m);
	CHECK_EQ(m.len, 40);
	CHECK_EQ(decode(&m, &v), 0);
	CHECK_EQ(((const struct dmac_proto_query_req *)v.hdr)->cursor, 77);
	build(S_QUERY_REP, &r);
	CHECK_EQ(r.len, 40 + 2 * 56);
	hdr(&r)->tag = v.tag;
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(((const struct dmac_proto_query_rep *)rv.hdr)->next_cursor, 99);
	for (uint32_t i = 0; i < rv.count; i++)
		CHECK(memcmp(dmac_proto_view_elem(&rv, i), &sample_info[i], 56) == 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), 0);
	/* More entries than max_count (1) do not match. */
	CHECK_EQ(dmac_proto_encode_query_req(m.w, sizeof(m.w), v.tag, 0, 1, &m.len), 0);
	CHECK_EQ(decode(&m, &v), 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), -EPROTO);
	build(S_QUERY_REP_EMPTY, &r);
	CHECK_EQ(r.len, 40);
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(rv.count, 0);

	build(S_STATS_REQ, &m);
	CHECK_EQ(m.len, 24);
	build(S_STATS_REP, &r);
	CHECK_EQ(r.len, 152);
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK(memcmp(&((const struct dmac_proto_stats_rep *)rv.hdr)->stats, &sample_stats,
		     sizeof(sample_stats)) == 0);
	/* version 1: the first nine counters, 96 bytes, and it decodes */
	CHECK_EQ(dmac_proto_encode_stats_rep(r.w, sizeof(r.w), 5, 1, &sample_stats, &r.len), 0);
	CHECK_EQ(r.len, DMAC_PROTO_STATS_REP_V1_SIZE);
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK(memcmp(&((const struct dmac_proto_stats_rep *)rv.hdr)->stats, &sample_stats,
		     DMAC_PROTO_STATS_REP_V1_SIZE - 24) == 0);
	/* between the two sizes: the known tail past the length is not read;
	 * a longer one with a non-zero unknown tail is E2BIG */
	CHECK_EQ(dmac_proto_encode_stats_rep(r.w, sizeof(r.w), 5, 0, &sample_stats, &r.len),
		 -EINVAL);

	/* An error reply answers any request, whatever its opcode. */
	build(S_ERROR_REP, &r);
	CHECK_EQ(r.len, 24);
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(rv.status, EDQUOT);
	CHECK_EQ(rv.count, 0);
	CHECK(rv.vec == NULL);
	build(S_LEASE_REQ, &m);
	CHECK_EQ(decode(&m, &v), 0);
	hdr(&r)->tag = v.tag;
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(dmac_proto_reply_matches(&v, &rv), 0);
	CHECK_EQ(dmac_proto_encode_error(r.w, sizeof(r.w), 0xabcdef, 5, ENOTTY, &r.len), 0);
	CHECK_EQ(decode(&r, &rv), 0);
	CHECK_EQ(rv.opcode, 0xabcdef);
	CHECK_EQ(dmac_proto_encode_error(r.w, sizeof(r.w), 1, 5, 0, &r.len), -EINVAL);
	CHECK_EQ(r.len, 0);
	CHECK_EQ(dmac_proto_encode_error(r.w, sizeof(r.w), 1, 5, 4096, &r.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_error(r.w, sizeof(r.w), 1, 5, -4095, &r.len), 0);
}

/* ---- header and size rules, for every sample ------------------------------ */

/* Offset of the vector in a valid vector message, else 0. */
static size_t vec_offset(struct msg *m)
{
	struct dmac_proto_view v;

	FATAL_IF(decode(m, &v) != 0);
	if (!v.vec || v.status)
		return 0;
	return (size_t)((const unsigned char *)v.vec - bytes(m));
}

/* Grow the fixed part by xf bytes and every element by xe bytes (zeros). */
static void extend(struct msg *m, size_t xf, size_t xe)
{
	struct dmac_proto_vec *vec = (void *)(bytes(m) + 24);
	size_t off = vec_offset(m), esz = vec->elem_size, n = vec->count;
	static struct msg t;

	t = *m;
	memset(bytes(m) + off, 0, sizeof(m->w) - off);
	for (size_t i = 0; i < n; i++)
		memcpy(bytes(m) + off + xf + i * (esz + xe), bytes(&t) + off + i * esz, esz);
	vec->vec_offset = (uint16_t)(off + xf);
	vec->elem_size = (uint16_t)(esz + xe);
	set_len(m, off + xf + n * (esz + xe));
}

static void test_header_rules(void)
{
	struct dmac_proto_view v;
	struct msg m, t;

	for (int s = 0; s < S__COUNT; s++) {
		size_t voff;

		build(s, &m);
		voff = vec_offset(&m);

		/* Size field must equal the packet length. */
		t = m;
		hdr(&t)->size += 8;
		CHECK_EQ(decode(&t, NULL), -EINVAL);
		t = m;
		t.len += 8;
		CHECK_EQ(decode(&t, NULL), -EINVAL);
		/* Shorter than the header, or not a multiple of 8. */
		for (size_t l = 0; l < 24; l++) {
			t = m;
			set_len(&t, l);
			CHECK_EQ(decode(&t, NULL), -EINVAL);
		}
		t = m;
		set_len(&t, m.len + 4);
		CHECK_EQ(decode(&t, NULL), -EINVAL);
		/* One word short (of the minimum: a STATS reply may end after the
		 * version-1 counters). */
		if (m.len > 24) {
			t = m;
			set_len(&t, (s == S_STATS_REP ? DMAC_PROTO_STATS_REP_V1_SIZE : m.len) - 8);
			CHECK_EQ(decode(&t, NULL), -EINVAL);
		}
		/* Longer than any message. */
		t = m;
		set_len(&t, DMAC_PROTO_MAX_MSG + 8);
		CHECK_EQ(decode(&t, NULL), -EMSGSIZE);
		/* Misaligned buffer. */
		{
			static uint64_t mis[DMAC_PROTO_MAX_MSG / 8 + 2];

			memcpy((char *)mis + 4, m.w, m.len);
			CHECK_EQ(
			    m.reply ? dmac_proto_decode_reply((char *)mis + 4, m.len, m.nfds, &v)
				    : dmac_proto_decode_request((char *)mis + 4, m.len, m.nfds, &v),
			    -EINVAL);
		}
		/* Unknown header flags; the reply bit in the wrong direction. */
		for (int b = 1; b < 32; b++) {
			t = m;
			hdr(&t)->flags |= 1u << b;
			CHECK_EQ(decode(&t, NULL), -EOPNOTSUPP);
		}
		t = m;
		hdr(&t)->flags ^= DMAC_PROTO_F_REPLY;
		CHECK_EQ(decode(&t, NULL), -EINVAL);
		t = m;
		t.reply = !t.reply;
		CHECK_EQ(decode(&t, NULL), -EINVAL);
		/* Unknown opcodes. */
		if (!m.reply || !hdr(&m)->status) {
			uint32_t bad[] = {0, DMAC_OP__COUNT, 0x100, UINT32_MAX};

			for (size_t i = 0; i < ARR(bad); i++) {
				t = m;
				hdr(&t)->opcode = bad[i];
				CHECK_EQ(decode(&t, NULL), -ENOTTY);
			}
		}
		/* Requests: status is reserved. Replies: status bounded. */
		t = m;
		if (!m.reply) {
			hdr(&t)->status = 1;
			CHECK_EQ(decode(&t, NULL), -EOPNOTSUPP);
		} else {
			hdr(&t)->status = DMAC_PROTO_MAX_STATUS + 1;
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			hdr(&t)->status = DMAC_PROTO_MAX_STATUS;
			/* A successful reply's body is not allowed with an error status. */
			CHECK_EQ(decode(&t, NULL), m.len > 24 ? -E2BIG : 0);
		}
		/* Too many fds, and fds where none are referenced. */
		t = m;
		t.nfds = DMAC_PROTO_MAX_FDS + 1;
		CHECK_EQ(decode(&t, NULL), -ETOOMANYREFS);
		if (s != S_REGISTER_REQ) {
			t = m;
			t.nfds = 1;
			CHECK_EQ(decode(&t, NULL), -EBADR);
			CHECK(dmac_proto_err_is_fatal(-EBADR));
		}

		if (!voff) {
			/* Fixed messages: a zero tail is accepted, a non-zero one is E2BIG. */
			for (size_t extra = 8; extra <= 64; extra += 8) {
				t = m;
				set_len(&t, m.len + extra);
				CHECK_EQ(decode(&t, &v), 0);
				CHECK_EQ(v.size, m.len + extra);
				bytes(&t)[m.len + extra - 1] = 1;
				CHECK_EQ(decode(&t, NULL), -E2BIG);
				bytes(&t)[m.len + extra - 1] = 0;
				bytes(&t)[m.len] = 0x80;
				CHECK_EQ(decode(&t, NULL), -E2BIG);
			}
			/* A tail right up to the largest message. */
			t = m;
			set_len(&t, DMAC_PROTO_MAX_MSG);
			CHECK_EQ(decode(&t, NULL), 0);
			continue;
		}

		/* Vector messages: vec_offset + count * elem_size must equal the size. */
		{
			struct dmac_proto_vec *vec;
			size_t n, esz;

			t = m;
			vec = (void *)(bytes(&t) + 24);
			n = vec->count;
			esz = vec->elem_size;
			vec->count++;
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->count = n;
			set_len(&t, m.len + 8);
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			t = m;
			vec = (void *)(bytes(&t) + 24);
			vec->elem_size = 0;
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->elem_size = (uint16_t)(esz - 8);
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->elem_size = (uint16_t)(esz + 4);
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->elem_size = UINT16_MAX - 7;
			/* With no elements any valid stride describes the same message. */
			CHECK_EQ(decode(&t, NULL), n ? -EINVAL : 0);
			vec->elem_size = (uint16_t)esz;
			vec->vec_offset = (uint16_t)(voff - 8);
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->vec_offset = (uint16_t)(voff + 4);
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->vec_offset = 0;
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->vec_offset = (uint16_t)voff;
			vec->count = UINT32_MAX;
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			vec->count = DMAC_PROTO_MAX_VEC + 1;
			CHECK_EQ(decode(&t, NULL), -EINVAL);
			if (n) {
				/* Count 0 is refused where a vector is required. */
				t = m;
				vec = (void *)(bytes(&t) + 24);
				vec->count = 0;
				set_len(&t, voff);
				CHECK_EQ(decode(&t, NULL), s == S_QUERY_REP ? 0 : -EINVAL);
			}

			/* Longer fixed part and elements with zero tails: accepted. */
			for (size_t xf = 0; xf <= 16; xf += 8) {
				for (size_t xe = 0; xe <= 16; xe += 8) {
					struct dmac_proto_view v2;

					t = m;
					extend(&t, xf, xe);
					CHECK_EQ(decode(&t, &v2), 0);
					CHECK_EQ(v2.elem_size, esz + xe);
					CHECK_EQ(v2.count, n);
					CHECK_EQ(decode(&m, &v), 0);
					for (uint32_t i = 0; i < v2.count; i++)
						CHECK(memcmp(dmac_proto_view_elem(&v2, i),
							     dmac_proto_view_elem(&v, i),
							     esz) == 0);
					if (xf) {
						bytes(&t)[voff + xf - 1] = 1;
						CHECK_EQ(decode(&t, NULL), -E2BIG);
						bytes(&t)[voff + xf - 1] = 0;
					}
					if (xe && n) {
						/* The last element's tail. */
						bytes(&t)[t.len - 1] = 0x40;
						CHECK_EQ(decode(&t, NULL), -E2BIG);
						bytes(&t)[t.len - 1] = 0;
						bytes(&t)[voff + xf + esz] = 1;
						CHECK_EQ(decode(&t, NULL), -E2BIG);
					}
				}
			}
		}
	}
}

/* ---- reserved fields, flags and values, per message ----------------------- */

/* Mutate sample s at byte offset off with a width-w value val; expect want. */
static void poke(int s, size_t off, unsigned int w, uint64_t val, int want, int line)
{
	struct msg m;
	int rc;

	build(s, &m);
	FATAL_IF(off + w > m.len);
	memcpy(bytes(&m) + off, &val, w);
	rc = decode(&m, NULL);
	check_count++;
	if (rc != want) {
		fprintf(stderr, "line %d: sample %d off %zu val 0x%llx: got %d want %d\n", line, s,
			off, (unsigned long long)val, rc, want);
		check_failures++;
	}
}
#define POKE(s, off, w, val, want) poke(s, off, w, val, want, __LINE__)

static void test_fields(void)
{
	/* HELLO request. */
	POKE(S_HELLO_REQ, 28, 4, 1, -EOPNOTSUPP); /* reserved */
	POKE(S_HELLO_REQ, 24, 4, 0, -EINVAL);	  /* version 0 */
	POKE(S_HELLO_REQ, 24, 4, 7, 0);		  /* newer client: accepted */
	/* HELLO reply. */
	POKE(S_HELLO_REP, 32, 8, 0, -EINVAL);	       /* session_id */
	POKE(S_HELLO_REP, 24, 4, 0, -EINVAL);	       /* version */
	POKE(S_HELLO_REP, 56, 8, UINT64_MAX, -EINVAL); /* start > last */
	POKE(S_HELLO_REP, 64, 8, 1ull << 32, 0);       /* one-byte window */
	POKE(S_HELLO_REP, 64, 8, UINT64_MAX, 0);       /* window to the top */

	/* Vector request fixed part: flags and reserved. */
	for (int s = S_REGISTER_REQ; s <= S_RELEASE_REQ; s += 2) {
		for (int b = 0; b < 32; b++) {
			POKE(s, 32, 4, 1ull << b, -EOPNOTSUPP);
			POKE(s, 36, 4, 1ull << b, -EOPNOTSUPP);
		}
		POKE(s + 1, 32, 8, 1, -EOPNOTSUPP); /* reply reserved */
	}

	/* REGISTER ranges (element 0 at 40, element 1 at 72). */
	POKE(S_REGISTER_REQ, 40 + 4, 4, 0, -EINVAL);	 /* prot 0 */
	POKE(S_REGISTER_REQ, 40 + 4, 4, 4, -EOPNOTSUPP); /* unknown prot */
	POKE(S_REGISTER_REQ, 40 + 4, 4, 0x80000001, -EOPNOTSUPP);
	POKE(S_REGISTER_REQ, 40 + 24, 4, 1, -EOPNOTSUPP);		/* flags */
	POKE(S_REGISTER_REQ, 40 + 28, 4, 1, -EOPNOTSUPP);		/* reserved */
	POKE(S_REGISTER_REQ, 72 + 16, 8, 0, -EINVAL);			/* length 0 */
	POKE(S_REGISTER_REQ, 72 + 16, 8, 4095, -EINVAL);		/* length misaligned */
	POKE(S_REGISTER_REQ, 72 + 8, 8, 4097, -EINVAL);			/* offset misaligned */
	POKE(S_REGISTER_REQ, 72 + 8, 8, UINT64_MAX - 4095, -EOVERFLOW); /* wraps */
	POKE(S_REGISTER_REQ, 72 + 8, 8, UINT64_MAX - 4000, -EINVAL);	/* misaligned first */
	POKE(S_REGISTER_REQ, 72 + 8, 8, UINT64_MAX - 8191, -EOVERFLOW); /* ends at 2^64 */
	POKE(S_REGISTER_REQ, 72 + 8, 8, UINT64_MAX - 12287, 0);		/* ends at 2^64 - 4096 */
	POKE(S_REGISTER_REQ, 72 + 16, 8, UINT64_MAX & ~4095ull, -EOVERFLOW);
	/* fd indexes: must be exactly 0..nfds-1. */
	POKE(S_REGISTER_REQ, 72, 4, 2, -EBADR); /* index past nfds */
	POKE(S_REGISTER_REQ, 72, 4, 0, -EBADR); /* fd 1 unreferenced */
	POKE(S_REGISTER_REQ, 72, 4, UINT32_MAX, -EBADR);
	{
		struct msg m;

		build(S_REGISTER_REQ, &m);
		for (unsigned int n = 0; n <= DMAC_PROTO_MAX_FDS; n++) {
			m.nfds = n;
			CHECK_EQ(decode(&m, NULL), n == 2 ? 0 : -EBADR);
		}
	}
	/* REGISTER results. */
	POKE(S_REGISTER_REP, 40, 8, 0, -EINVAL);  /* reg_id 0 */
	POKE(S_REGISTER_REP, 48, 4, 11, -EINVAL); /* page_shift */
	POKE(S_REGISTER_REP, 48, 4, 41, -EINVAL);
	POKE(S_REGISTER_REP, 48, 4, 30, 0);
	POKE(S_REGISTER_REP, 52, 4, 1, -EOPNOTSUPP); /* reserved */

	/* UNREGISTER. */
	POKE(S_UNREGISTER_REQ, 48, 8, 0, -EINVAL);
	POKE(S_UNREGISTER_REP, 56, 8, 0, -EINVAL);
	POKE(S_UNREGISTER_REP, 64, 4, 4096, -EINVAL); /* status too large */
	POKE(S_UNREGISTER_REP, 68, 4, 1, -EOPNOTSUPP);

	/* LEASE items (element 0 at 40). */
	POKE(S_LEASE_REQ, 40, 8, 0, -EINVAL);	    /* reg_id 0 */
	POKE(S_LEASE_REQ, 40 + 8, 8, 512, -EINVAL); /* misaligned offset */
	POKE(S_LEASE_REQ, 40 + 16, 8, 0, -EINVAL);  /* length 0 */
	POKE(S_LEASE_REQ, 40 + 8, 8, UINT64_MAX - 4095, -EOVERFLOW);
	POKE(S_LEASE_REQ, 40 + 24, 4, 0, -EINVAL);     /* prot 0 */
	POKE(S_LEASE_REQ, 40 + 24, 4, 8, -EOPNOTSUPP); /* prot unknown */
	POKE(S_LEASE_REQ, 40 + 28, 4, 1, -EOPNOTSUPP); /* flags */
	/* LEASE grants. */
	POKE(S_LEASE_REP, 40, 8, 0, -EINVAL);		 /* lease id 0 */
	POKE(S_LEASE_REP, 40 + 24, 8, 0, -EINVAL);	 /* length 0 */
	POKE(S_LEASE_REP, 72 + 24, 8, 4097, -EOVERFLOW); /* last byte wraps */

	/* RELEASE. */
	POKE(S_RELEASE_REQ, 40, 8, 0, -EINVAL);
	POKE(S_RELEASE_REQ, 48, 8, 0, 0); /* generation 0 is a value like any other */
	POKE(S_RELEASE_REP, 40, 8, 0, -EINVAL);
	POKE(S_RELEASE_REP, 48, 4, UINT32_MAX, -EINVAL);
	POKE(S_RELEASE_REP, 52, 4, 1, -EOPNOTSUPP);

	/* QUERY. */
	POKE(S_QUERY_REQ, 32, 4, 0, -EINVAL);
	POKE(S_QUERY_REQ, 32, 4, DMAC_PROTO_MAX_VEC, 0);
	POKE(S_QUERY_REQ, 32, 4, DMAC_PROTO_MAX_VEC + 1, -EINVAL);
	POKE(S_QUERY_REQ, 36, 4, 1, -EOPNOTSUPP);
	POKE(S_QUERY_REQ, 24, 8, UINT64_MAX, 0); /* any cursor decodes */
	POKE(S_QUERY_REP, 40 + 52, 4, 1, -EOPNOTSUPP);
	POKE(S_QUERY_REP, 40 + 48, 4, 0, -EINVAL);
	POKE(S_QUERY_REP, 40, 8, 0, -EINVAL);
	POKE(S_QUERY_REP, 40 + 32, 8, 0, -EINVAL);
	POKE(S_QUERY_REP, 40 + 24, 8, 0, -EINVAL);
	POKE(S_QUERY_REP, 40 + 16, 8, UINT64_MAX, -EOVERFLOW);

	/* STATS counters take any value. */
	POKE(S_STATS_REP, 24, 8, UINT64_MAX, 0);
	POKE(S_STATS_REP, 88, 8, UINT64_MAX, 0);
}

/* ---- tenant names --------------------------------------------------------- */

static void test_tenant(void)
{
	char f[DMAC_PROTO_TENANT_MAX];
	struct msg m;

	memset(f, 0, sizeof(f));
	strcpy(f, "a");
	CHECK_EQ(dmac_proto_check_tenant(f), 0);
	memset(f, 'x', sizeof(f) - 1);
	f[sizeof(f) - 1] = 0;
	CHECK_EQ(dmac_proto_check_tenant(f), 0); /* 63 characters */
	memset(f, 'x', sizeof(f));
	CHECK_EQ(dmac_proto_check_tenant(f), -EINVAL); /* no NUL */
	memset(f, 0, sizeof(f));
	CHECK_EQ(dmac_proto_check_tenant(f), -EINVAL); /* empty */
	strcpy(f, "ok");
	f[10] = 'z';
	CHECK_EQ(dmac_proto_check_tenant(f), -EINVAL); /* garbage after the NUL */
	{
		const char *bad[] = {"-lead",  ".lead",	   "_lead",	"sp ace",
				     "sl/ash", "per%cent", "new\nline", "\x80high",
				     "tab\t",  "colon:",   "ü"};

		for (size_t i = 0; i < ARR(bad); i++) {
			memset(f, 0, sizeof(f));
			strcpy(f, bad[i]);
			CHECK_EQ(dmac_proto_check_tenant(f), -EINVAL);
			CHECK_EQ(dmac_proto_encode_hello_req(m.w, sizeof(m.w), 1, bad[i], &m.len),
				 -EINVAL);
			CHECK_EQ(m.len, 0);
		}
	}
	{
		const char *good[] = {"A", "z9", "dpdk-primary", "spdk.nvme_0", "0-._x"};

		for (size_t i = 0; i < ARR(good); i++) {
			memset(f, 0, sizeof(f));
			strcpy(f, good[i]);
			CHECK_EQ(dmac_proto_check_tenant(f), 0);
		}
	}
	memset(f, 'y', sizeof(f));
	f[sizeof(f) - 1] = 0;
	CHECK_EQ(dmac_proto_encode_hello_req(m.w, sizeof(m.w), 1, f, &m.len), 0);
	{
		char longer[DMAC_PROTO_TENANT_MAX + 1];

		memset(longer, 'y', sizeof(longer));
		longer[sizeof(longer) - 1] = 0;
		CHECK_EQ(dmac_proto_encode_hello_req(m.w, sizeof(m.w), 1, longer, &m.len), -EINVAL);
	}
	CHECK_EQ(dmac_proto_encode_hello_req(m.w, sizeof(m.w), 1, NULL, &m.len), -EINVAL);

	/* In a message: the field with no NUL, and a bad character. */
	build(S_HELLO_REQ, &m);
	memset(bytes(&m) + 32, 'a', DMAC_PROTO_TENANT_MAX);
	CHECK_EQ(decode(&m, NULL), -EINVAL);
	build(S_HELLO_REQ, &m);
	bytes(&m)[33] = '/';
	CHECK_EQ(decode(&m, NULL), -EINVAL);
}

/* ---- vector counts and encoder limits ------------------------------------- */

static void test_counts_and_encoders(void)
{
	static struct dmac_proto_release_item items[DMAC_PROTO_MAX_VEC + 1];
	static struct dmac_proto_reg_range ranges[DMAC_PROTO_MAX_VEC + 1];
	static struct dmac_proto_lease_info infos[DMAC_PROTO_MAX_VEC + 1];
	struct dmac_proto_view v;
	static struct msg m;
	size_t need;

	for (uint32_t i = 0; i <= DMAC_PROTO_MAX_VEC; i++) {
		items[i] = (struct dmac_proto_release_item){.lease_id = i + 1, .generation = i};
		ranges[i] = (struct dmac_proto_reg_range){.fd_index = i % DMAC_PROTO_MAX_FDS,
							  .prot = DMAC_PROTO_PROT_READ,
							  .offset = (uint64_t)i << 12,
							  .length = 4096};
		infos[i] = (struct dmac_proto_lease_info){.lease_id = i + 1,
							  .iova = (uint64_t)i << 21,
							  .length = 1 << 21,
							  .reg_id = 1,
							  .prot = DMAC_PROTO_PROT_WRITE};
	}
	CHECK_EQ(dmac_proto_encode_release_req(m.w, sizeof(m.w), 1, items, 0, &m.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_release_req(m.w, sizeof(m.w), 1, items, 1, &m.len), 0);
	CHECK_EQ(
	    dmac_proto_encode_release_req(m.w, sizeof(m.w), 1, items, DMAC_PROTO_MAX_VEC, &m.len),
	    0);
	CHECK_EQ(m.len, 40 + 16 * DMAC_PROTO_MAX_VEC);
	CHECK_EQ(dmac_proto_decode_request(m.w, m.len, 0, &v), 0);
	CHECK_EQ(v.count, DMAC_PROTO_MAX_VEC);
	CHECK_EQ(dmac_proto_encode_release_req(m.w, sizeof(m.w), 1, items, DMAC_PROTO_MAX_VEC + 1,
					       &m.len),
		 -EINVAL);
	/* Hand-built count MAX+1 with a consistent size. */
	CHECK_EQ(
	    dmac_proto_encode_release_req(m.w, sizeof(m.w), 1, items, DMAC_PROTO_MAX_VEC, &m.len),
	    0);
	memcpy(bytes(&m) + m.len, &items[DMAC_PROTO_MAX_VEC], 16);
	((struct dmac_proto_vec *)(bytes(&m) + 24))->count = DMAC_PROTO_MAX_VEC + 1;
	set_len(&m, m.len + 16);
	CHECK_EQ(decode(&m, NULL), -EINVAL);

	/* 256 ranges over all 16 fds; then 15 fds is a mismatch. */
	CHECK_EQ(dmac_proto_encode_register_req(m.w, sizeof(m.w), 1, ranges, DMAC_PROTO_MAX_VEC,
						DMAC_PROTO_MAX_FDS, &m.len),
		 0);
	CHECK_EQ(dmac_proto_encode_register_req(m.w, sizeof(m.w), 1, ranges, DMAC_PROTO_MAX_VEC,
						DMAC_PROTO_MAX_FDS - 1, &m.len),
		 -EBADR);
	CHECK_EQ(dmac_proto_encode_register_req(m.w, sizeof(m.w), 1, ranges, 0, 0, &m.len),
		 -EINVAL);
	CHECK_EQ(dmac_proto_encode_register_req(m.w, sizeof(m.w), 1, ranges, 1, 0, &m.len), -EBADR);

	/* The largest reply fits DMAC_PROTO_MAX_MSG. */
	CHECK_EQ(
	    dmac_proto_encode_query_rep(m.w, sizeof(m.w), 1, 0, infos, DMAC_PROTO_MAX_VEC, &m.len),
	    0);
	CHECK(m.len <= DMAC_PROTO_MAX_MSG);
	CHECK_EQ(dmac_proto_encode_query_rep(m.w, sizeof(m.w), 1, 0, infos, DMAC_PROTO_MAX_VEC + 1,
					     &m.len),
		 -EINVAL);

	/* Every capacity below the message size: -EMSGSIZE, never a partial message. */
	need = 40 + 56 * 3;
	for (size_t cap = 0; cap < need; cap += 8) {
		CHECK_EQ(dmac_proto_encode_query_rep(m.w, cap, 1, 0, infos, 3, &m.len), -EMSGSIZE);
		CHECK_EQ(m.len, 0);
	}
	CHECK_EQ(dmac_proto_encode_query_rep(m.w, need, 1, 0, infos, 3, &m.len), 0);
	CHECK_EQ(m.len, need);
	for (size_t cap = 0; cap < 96; cap++)
		CHECK_EQ(dmac_proto_encode_hello_req(m.w, cap, 1, "t", &m.len), -EMSGSIZE);
	CHECK_EQ(dmac_proto_encode_stats_req(m.w, 23, 1, &m.len), -EMSGSIZE);
	CHECK_EQ(dmac_proto_encode_stats_rep(m.w, 95, 1, 1, &sample_stats, &m.len), -EMSGSIZE);
	CHECK_EQ(dmac_proto_encode_error(m.w, 16, 1, 1, EINVAL, &m.len), -EMSGSIZE);
	/* Misaligned output buffer. */
	CHECK_EQ(dmac_proto_encode_stats_req((char *)m.w + 4, 100, 1, &m.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_lease_req((char *)m.w + 1, 1000, 1, sample_lease, 1, &m.len),
		 -EINVAL);
	/* Encoders refuse what decoders refuse. */
	{
		struct dmac_proto_lease_item bad = sample_lease[0];
		struct dmac_proto_hello_rep h = sample_hello_rep;

		bad.length = 0;
		CHECK_EQ(dmac_proto_encode_lease_req(m.w, sizeof(m.w), 1, &bad, 1, &m.len),
			 -EINVAL);
		bad = sample_lease[0];
		bad.flags = 2;
		CHECK_EQ(dmac_proto_encode_lease_req(m.w, sizeof(m.w), 1, &bad, 1, &m.len),
			 -EOPNOTSUPP);
		h.session_id = 0;
		CHECK_EQ(dmac_proto_encode_hello_rep(m.w, sizeof(m.w), 1, &h, &m.len), -EINVAL);
		CHECK_EQ(dmac_proto_encode_query_req(m.w, sizeof(m.w), 1, 0, 0, &m.len), -EINVAL);
		CHECK_EQ(dmac_proto_encode_stats_rep(m.w, sizeof(m.w), 1, 2, NULL, &m.len),
			 -EINVAL);
	}
	/* NULL arguments. */
	CHECK_EQ(dmac_proto_decode_request(NULL, 24, 0, &v), -EINVAL);
	build(S_STATS_REQ, &m);
	CHECK_EQ(dmac_proto_decode_request(m.w, m.len, 0, NULL), -EINVAL);
}

/* ---- names ---------------------------------------------------------------- */

static void test_names(void)
{
	const int errs[] = {EINVAL,	  E2BIG,  EOPNOTSUPP, ENOTTY, EOVERFLOW,  EMSGSIZE,
			    ETOOMANYREFS, EPROTO, EBADR,      EBADFD, ECONNRESET, EBADF,
			    EPERM,	  ERANGE, EACCES,     ENOENT, EALREADY,	  EPROTONOSUPPORT,
			    EDQUOT,	  ENOSPC, ENOMEM,     EBUSY,  ESTALE,	  EAGAIN};
	const int fatal[] = {ETOOMANYREFS, EMSGSIZE, EPROTO, EBADR, EBADFD, ECONNRESET};
	const char *generic = dmac_proto_strerror(EXDEV);

	for (uint32_t op = 1; op < DMAC_OP__COUNT; op++) {
		CHECK(strcmp(dmac_proto_op_name(op), "UNKNOWN") != 0);
		for (uint32_t o2 = 1; o2 < op; o2++)
			CHECK(strcmp(dmac_proto_op_name(op), dmac_proto_op_name(o2)) != 0);
	}
	CHECK(strcmp(dmac_proto_op_name(0), "UNKNOWN") == 0);
	CHECK(strcmp(dmac_proto_op_name(DMAC_OP__COUNT), "UNKNOWN") == 0);
	CHECK(strcmp(dmac_proto_op_name(UINT32_MAX), "UNKNOWN") == 0);
	CHECK(strcmp(dmac_proto_op_name(DMAC_OP_LEASE), "LEASE") == 0);
	for (size_t i = 0; i < ARR(errs); i++) {
		CHECK(dmac_proto_strerror(errs[i]) != generic);
		CHECK(dmac_proto_strerror(-errs[i]) == dmac_proto_strerror(errs[i]));
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(dmac_proto_strerror(errs[i]), dmac_proto_strerror(errs[j])) !=
			      0);
	}
	CHECK(strcmp(dmac_proto_strerror(0), "OK") == 0);
	for (size_t i = 0; i < ARR(errs); i++) {
		bool want = false;

		for (size_t j = 0; j < ARR(fatal); j++)
			want |= errs[i] == fatal[j];
		CHECK_EQ(dmac_proto_err_is_fatal(-errs[i]), want);
		CHECK_EQ(dmac_proto_err_is_fatal(errs[i]), want);
	}
	CHECK(!dmac_proto_err_is_fatal(0));
}

int main(void)
{
	test_round_trip();
	test_header_rules();
	test_fields();
	test_tenant();
	test_counts_and_encoders();
	test_names();
	return check_report("test_proto_codec");
}
