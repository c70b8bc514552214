/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DEVICE message of the codec: layout, round trips, every field rule of
 * docs/protocol.md, and the fd order of the reply (BAR fds ascending, then
 * the interrupt eventfds, then - trusted mode only - the VFIO device fd)
 * checked against the number of fds that actually came.
 *
 * Invariants: every mutation works on a copy of an encoded sample; every
 * expected errno is the one docs/protocol.md gives for that field.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define CHECK_EQ_SIGNED /* errno-style values: print CHECK_EQ operands in decimal */
#include "../check.h"
#include "dmac/proto.h"

struct msg {
	uint64_t w[DMAC_PROTO_MAX_MSG / 8 + 8];
	size_t len;
};

static void poke(struct msg *m, size_t off, size_t n, uint64_t val)
{
	memcpy((unsigned char *)m->w + off, &val, n);
}

static int dec_req(struct msg *m, unsigned int nfds)
{
	struct dmac_proto_view v;

	return dmac_proto_decode_request(m->w, m->len, nfds, &v);
}

static int dec_rep(struct msg *m, unsigned int nfds)
{
	struct dmac_proto_view v;

	return dmac_proto_decode_reply(m->w, m->len, nfds, &v);
}

static struct dmac_proto_device_rep *rep(struct msg *m)
{
	return (struct dmac_proto_device_rep *)m->w;
}

/* Strict: BAR0 (64-bit mem, fd 0), BAR2 mem without fd, BAR4 I/O; 3 MSI-X. */
static struct dmac_proto_device_rep strict_sample(void)
{
	struct dmac_proto_device_rep r;

	memset(&r, 0, sizeof(r));
	strcpy(r.bdf, "0000:00:04.0");
	r.vendor_id = 0x1b36;
	r.device_id = 0x0010;
	r.numa_node = -1;
	r.mode = DMAC_PROTO_DEVICE_STRICT;
	r.irq_type = DMAC_PROTO_IRQ_MSIX;
	r.nirqs = 3;
	r.irq_fd_first = 1;
	r.device_fd_index = DMAC_PROTO_NO_FD;
	r.nfds = 4;
	for (unsigned int i = 0; i < DMAC_PROTO_NUM_BARS; i++)
		r.bars[i].fd_index = DMAC_PROTO_NO_FD;
	r.bars[0] = (struct dmac_proto_bar){
	    16384, DMAC_PROTO_BAR_MEM | DMAC_PROTO_BAR_64 | DMAC_PROTO_BAR_MMAP, 0};
	r.bars[2] = (struct dmac_proto_bar){4096, DMAC_PROTO_BAR_MEM, DMAC_PROTO_NO_FD};
	r.bars[4] = (struct dmac_proto_bar){256, DMAC_PROTO_BAR_IO, DMAC_PROTO_NO_FD};
	return r;
}

static void test_sizes(void)
{
	CHECK_EQ(sizeof(struct dmac_proto_device_req), 48);
	CHECK_EQ(sizeof(struct dmac_proto_device_rep), 176);
	CHECK_EQ(sizeof(struct dmac_proto_bar), 16);
	CHECK_EQ(offsetof(struct dmac_proto_device_req, bdf), 32);
	CHECK_EQ(offsetof(struct dmac_proto_device_rep, vendor_id), 40);
	CHECK_EQ(offsetof(struct dmac_proto_device_rep, nfds), 68);
	CHECK_EQ(offsetof(struct dmac_proto_device_rep, bars), 72);
	CHECK_EQ(offsetof(struct dmac_proto_device_rep, reserved), 168);
	CHECK_EQ(DMAC_OP_DEVICE, 10);
	CHECK(strcmp(dmac_proto_op_name(DMAC_OP_DEVICE), "DEVICE") == 0);
}

static void test_request(void)
{
	struct dmac_proto_view v;
	struct msg m, t;

	/* By index. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_device_req(m.w, sizeof(m.w), 9, 3, NULL, &m.len), 0);
	CHECK_EQ(m.len, 48);
	CHECK_EQ(dmac_proto_decode_request(m.w, m.len, 0, &v), 0);
	CHECK_EQ(v.opcode, DMAC_OP_DEVICE);
	CHECK_EQ(((const struct dmac_proto_device_req *)v.hdr)->index, 3);
	CHECK_EQ(((const struct dmac_proto_device_req *)v.hdr)->flags, 0);
	t = m;
	poke(&t, 24, 4, DMAC_PROTO_MAX_DEVICES);
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* index 0..7 */
	t = m;
	poke(&t, 32, 1, '0');
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* bdf must be zero without BY_BDF */
	t = m;
	poke(&t, 28, 4, 0x2);
	CHECK_EQ(dec_req(&t, 0), -EOPNOTSUPP); /* unknown flag */
	CHECK_EQ(dec_req(&m, 1), -EBADR);      /* no fds with a request */
	t = m;
	t.len = 56;
	poke(&t, 0, 4, 56);
	CHECK_EQ(dec_req(&t, 0), 0); /* longer, zero tail */
	poke(&t, 48, 8, 1);
	CHECK_EQ(dec_req(&t, 0), -E2BIG);
	t = m;
	t.len = 40;
	poke(&t, 0, 4, 40);
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* shorter than the minimum */

	/* By BDF. */
	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_device_req(m.w, sizeof(m.w), 9, 0, "0000:00:04.0", &m.len), 0);
	CHECK_EQ(dmac_proto_decode_request(m.w, m.len, 0, &v), 0);
	CHECK_EQ(((const struct dmac_proto_device_req *)v.hdr)->flags, DMAC_PROTO_DEVICE_F_BY_BDF);
	CHECK(strcmp(((const struct dmac_proto_device_req *)v.hdr)->bdf, "0000:00:04.0") == 0);
	CHECK_EQ(dmac_proto_encode_device_req(t.w, sizeof(t.w), 9, 0, "00:04.0", &t.len), 0);
	t = m;
	poke(&t, 24, 4, 1);
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* index must be 0 with BY_BDF */
	t = m;
	poke(&t, 36, 1, 'x');
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* not [0-9a-fA-F:.] */
	t = m;
	poke(&t, 46, 1, '1');
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* byte after the NUL */
	t = m;
	memset((char *)t.w + 32, '0', DMAC_PROTO_BDF_MAX);
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* no NUL */
	t = m;
	memset((char *)t.w + 32, 0, DMAC_PROTO_BDF_MAX);
	CHECK_EQ(dec_req(&t, 0), -EINVAL); /* empty with BY_BDF */
	/* The encoder refuses what the decoder would. */
	CHECK_EQ(dmac_proto_encode_device_req(t.w, sizeof(t.w), 1, 0, "0000:00:04.0:0000", &t.len),
		 -EINVAL);
	CHECK_EQ(t.len, 0);
	CHECK_EQ(dmac_proto_encode_device_req(t.w, sizeof(t.w), 1, 0, "", &t.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_device_req(t.w, sizeof(t.w), 1, 1, "00:04.0", &t.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_device_req(t.w, sizeof(t.w), 1, 8, NULL, &t.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_device_req(t.w, 40, 1, 0, NULL, &t.len), -EMSGSIZE);
}

static void test_reply(void)
{
	struct dmac_proto_device_rep s = strict_sample();
	struct dmac_proto_view req, v;
	struct msg m, t, q;

	memset(&m, 0, sizeof(m));
	CHECK_EQ(dmac_proto_encode_device_rep(m.w, sizeof(m.w), 9, &s, &m.len), 0);
	CHECK_EQ(m.len, 176);
	CHECK_EQ(dmac_proto_decode_reply(m.w, m.len, 4, &v), 0);
	CHECK_EQ(v.nfds, 4);
	CHECK_EQ(rep(&m)->vendor_id, 0x1b36);
	CHECK_EQ(rep(&m)->bars[4].size, 256);
	/* The fds that came must be exactly nfds. */
	CHECK_EQ(dec_rep(&m, 3), -EBADR);
	CHECK_EQ(dec_rep(&m, 5), -EBADR);
	CHECK_EQ(dec_rep(&m, 0), -EBADR);
	/* It answers a DEVICE request with its tag. */
	memset(&q, 0, sizeof(q));
	CHECK_EQ(dmac_proto_encode_device_req(q.w, sizeof(q.w), 9, 0, NULL, &q.len), 0);
	CHECK_EQ(dmac_proto_decode_request(q.w, q.len, 0, &req), 0);
	CHECK_EQ(dmac_proto_reply_matches(&req, &v), 0);

	/* Trusted: the device fd comes last. */
	s.mode = DMAC_PROTO_DEVICE_TRUSTED;
	CHECK_EQ(dmac_proto_encode_device_rep(t.w, sizeof(t.w), 9, &s, &t.len), -EBADR);
	s.device_fd_index = 4;
	s.nfds = 5;
	CHECK_EQ(dmac_proto_encode_device_rep(t.w, sizeof(t.w), 9, &s, &t.len), 0);
	CHECK_EQ(dec_rep(&t, 5), 0);
	s.device_fd_index = 0;
	CHECK_EQ(dmac_proto_encode_device_rep(t.w, sizeof(t.w), 9, &s, &t.len), -EBADR);
	/* Strict with a device fd index: refused. */
	t = m;
	rep(&t)->device_fd_index = 4;
	rep(&t)->nfds = 5;
	CHECK_EQ(dec_rep(&t, 5), -EBADR);

	/* BAR rules. */
	t = m;
	rep(&t)->bars[0].fd_index = 1;
	CHECK_EQ(dec_rep(&t, 4), -EBADR); /* BAR fds start at 0, ascending */
	t = m;
	rep(&t)->bars[2].flags |= DMAC_PROTO_BAR_MMAP;
	CHECK_EQ(dec_rep(&t, 4), -EBADR); /* MMAP without its fd */
	rep(&t)->bars[2].fd_index = 1;
	rep(&t)->irq_fd_first = 2;
	rep(&t)->nfds = 5;
	CHECK_EQ(dec_rep(&t, 5), 0); /* two BAR fds, then the eventfds */
	t = m;
	rep(&t)->bars[4].flags |= DMAC_PROTO_BAR_MMAP;
	rep(&t)->bars[4].fd_index = 1;
	CHECK_EQ(dec_rep(&t, 4), -EINVAL); /* MMAP only with MEM */
	t = m;
	rep(&t)->bars[4].flags |= DMAC_PROTO_BAR_MEM;
	CHECK_EQ(dec_rep(&t, 4), -EINVAL); /* MEM and IO */
	t = m;
	rep(&t)->bars[1].flags = DMAC_PROTO_BAR_MEM;
	CHECK_EQ(dec_rep(&t, 4), -EINVAL); /* flags with size 0 */
	t = m;
	rep(&t)->bars[1].size = 4096;
	CHECK_EQ(dec_rep(&t, 4), -EINVAL); /* size with flags 0 */
	t = m;
	rep(&t)->bars[2].flags |= 0x20;
	CHECK_EQ(dec_rep(&t, 4), -EOPNOTSUPP);

	/* Interrupts, mode, identity, reserved. */
	t = m;
	rep(&t)->irq_fd_first = 2;
	CHECK_EQ(dec_rep(&t, 4), -EBADR);
	t = m;
	rep(&t)->nirqs = 0;
	rep(&t)->irq_fd_first = DMAC_PROTO_NO_FD;
	rep(&t)->nfds = 1;
	CHECK_EQ(dec_rep(&t, 1), -EINVAL); /* MSI-X with no vector */
	rep(&t)->irq_type = DMAC_PROTO_IRQ_NONE;
	CHECK_EQ(dec_rep(&t, 1), 0);
	rep(&t)->irq_type = DMAC_PROTO_IRQ_MSIX + 1;
	CHECK_EQ(dec_rep(&t, 1), -EOPNOTSUPP);
	t = m;
	rep(&t)->mode = 2;
	CHECK_EQ(dec_rep(&t, 4), -EOPNOTSUPP);
	t = m;
	rep(&t)->reserved = 1;
	CHECK_EQ(dec_rep(&t, 4), -EOPNOTSUPP);
	t = m;
	rep(&t)->numa_node = -2;
	CHECK_EQ(dec_rep(&t, 4), -EINVAL);
	t = m;
	memset(rep(&t)->bdf, 0, DMAC_PROTO_BDF_MAX);
	CHECK_EQ(dec_rep(&t, 4), -EINVAL);
	t = m;
	rep(&t)->nirqs = DMAC_PROTO_MAX_FDS;
	rep(&t)->nfds = DMAC_PROTO_MAX_FDS + 1;
	CHECK_EQ(dec_rep(&t, DMAC_PROTO_MAX_FDS), -EBADR); /* more than 16 fds */
	t = m;
	t.len = 184;
	poke(&t, 0, 4, 184);
	CHECK_EQ(dec_rep(&t, 4), 0);
	poke(&t, 176, 8, 1);
	CHECK_EQ(dec_rep(&t, 4), -E2BIG);

	/* Error replies and every other reply still carry no fds. */
	memset(&t, 0, sizeof(t));
	CHECK_EQ(dmac_proto_encode_error(t.w, sizeof(t.w), DMAC_OP_DEVICE, 9, EBUSY, &t.len), 0);
	CHECK_EQ(dec_rep(&t, 0), 0);
	CHECK_EQ(dec_rep(&t, 1), -EBADR);
	{
		struct dmac_proto_stats st = {0};

		CHECK_EQ(dmac_proto_encode_stats_rep(t.w, sizeof(t.w), 9, DMAC_PROTO_VERSION, &st, &t.len), 0);
		CHECK_EQ(dec_rep(&t, 1), -EBADR);
	}
	CHECK_EQ(dmac_proto_encode_device_rep(t.w, sizeof(t.w), 9, NULL, &t.len), -EINVAL);
	CHECK_EQ(dmac_proto_encode_device_rep(t.w, 175, 9, &s, &t.len), -EMSGSIZE);
}

int main(void)
{
	test_sizes();
	test_request();
	test_reply();
	return check_report("test_proto_device");
}
