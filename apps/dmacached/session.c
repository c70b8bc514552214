/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Request dispatcher: decodes each request with the protocol codec, checks
 * received fds with the protocol's fd helpers, calls the engine and encodes
 * the reply with the codec.
 *
 * Invariants:
 * - Every request gets exactly one reply unless the session ends first (peer
 *   gone). Session-ending errors (dmac_proto_err_is_fatal()) are answered with
 *   an error reply when the socket still works, then the session ends.
 * - Before HELLO every opcode but HELLO is refused with EPERM; ADMIN_TENANTS,
 *   ADMIN_LEASES, ADMIN_SESSIONS and ADMIN_HISTOGRAM are refused with EPERM
 *   on any but an admin session (the engine decides), and
 *   an admin session gets EPERM for REGISTER and LEASE (the engine decides).
 * - Every fd that arrived with a message is closed on every path before
 *   dmd_conn_handle() returns; the engine dups the fds it keeps.
 * - A failed request changes nothing (the engine's batches are all or
 *   nothing); RELEASE and UNREGISTER answer per item.
 * - Buffers are static: one thread, one request at a time.
 * Concurrency: event-loop thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bk.h"
#include "dmac/proto.h"
#include "dmac_alloc.h"
#include "log.h"
#include "session.h"
#ifdef DMACD_TEST_BUILD
#include "test_hooks.h"
#endif

static uint64_t rbuf[DMAC_PROTO_MAX_MSG / 8];
static uint64_t wbuf[DMAC_PROTO_MAX_MSG / 8];

static union {
	struct dmd_reg_in reg[DMAC_PROTO_MAX_VEC];
	struct dmd_lease_in lease[DMAC_PROTO_MAX_VEC];
} in;
static union {
	struct dmd_reg_out reg[DMAC_PROTO_MAX_VEC];
	struct dmd_lease_out lease[DMAC_PROTO_MAX_VEC];
	struct dmd_lease_view view[DMAC_PROTO_MAX_VEC];
	struct dmd_tenant_view tenant[DMAC_PROTO_MAX_VEC];
	struct dmd_admin_lease_view alease[DMAC_PROTO_MAX_VEC];
	struct dmd_session_view session[DMAC_PROTO_MAX_VEC];
} out;
static union {
	struct dmac_proto_reg_result reg[DMAC_PROTO_MAX_VEC];
	struct dmac_proto_lease_grant grant[DMAC_PROTO_MAX_VEC];
	struct dmac_proto_item_status st[DMAC_PROTO_MAX_VEC];
	struct dmac_proto_lease_info info[DMAC_PROTO_MAX_VEC];
	struct dmac_proto_tenant_info tenant[DMAC_PROTO_MAX_VEC];
	struct dmac_proto_admin_lease alease[DMAC_PROTO_MAX_VEC];
	struct dmac_proto_session_info session[DMAC_PROTO_MAX_VEC];
	struct dmac_proto_hist_bucket bucket[DMD_HIST_NBUCKETS];
} wire;

_Static_assert(sizeof(((struct dmd_tenant_view *)0)->name) ==
		   sizeof(((struct dmac_proto_tenant_info *)0)->name),
	       "tenant name field");
_Static_assert(sizeof(((struct dmd_session_view *)0)->comm) == DMAC_PROTO_COMM_MAX, "comm");
_Static_assert(DMD_HIST_LEASE == DMAC_PROTO_HIST_LEASE, "histogram id");
_Static_assert(DMD_HIST_NBUCKETS <= DMAC_PROTO_HIST_MAX_BUCKETS, "histogram buckets");

/* CLOCK_MONOTONIC in nanoseconds. */
static uint64_t dmd__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Send a reply with @p nfds fds (the caller's; closed by the caller unless
 * queued). A full socket (EAGAIN) is not an error: the reply is copied and
 * queued on the connection, which takes the fds over (*queued = true); the
 * server stops reading the connection until it is sent.
 */
static int dmd__send_fds(struct dmd_conn *c, size_t len, const int *fds, unsigned int nfds,
			 bool *queued)
{
	int rc = dmac_proto_send(c->sock, wbuf, len, fds, nfds);

	*queued = false;
	if (rc == -EAGAIN) {
		c->out = dmac__malloc(len);
		if (!c->out) {
			dmd_warn("session pid %d: socket full and no memory to queue the reply",
				 (int)c->pid);
			return -ENOMEM;
		}
		memcpy(c->out, wbuf, len);
		c->out_len = len;
		if (nfds)
			memcpy(c->out_fds, fds, nfds * sizeof(int));
		c->out_nfds = nfds;
		*queued = true;
		dmd_debug("session pid %d: reply queued (socket full)", (int)c->pid);
		return 0;
	}
	if (rc)
		dmd_warn("session pid %d: cannot send reply: %s", (int)c->pid, strerror(-rc));
	return rc;
}

static int dmd__send(struct dmd_conn *c, size_t len)
{
	bool queued;

	return dmd__send_fds(c, len, NULL, 0, &queued);
}

int dmd_conn_flush(struct dmd_conn *c)
{
	int rc;

	if (!c->out)
		return 0;
	rc = dmac_proto_send(c->sock, c->out, c->out_len, c->out_fds, c->out_nfds);
	if (rc == -EAGAIN)
		return rc;
	dmd_conn_drop_output(c);
	if (rc)
		dmd_warn("session pid %d: cannot send queued reply: %s", (int)c->pid,
			 strerror(-rc));
	return rc;
}

void dmd_conn_drop_output(struct dmd_conn *c)
{
	dmac_proto_close_fds(c->out_fds, c->out_nfds);
	c->out_nfds = 0;
	dmac__free(c->out);
	c->out = NULL;
	c->out_len = 0;
}

bool dmd_fds_short(void)
{
	struct rlimit rl;
	struct dirent *de;
	unsigned long n = 0;
	DIR *d;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	d = opendir("/proc/self/fd");
	if (!d)
		return errno == EMFILE || errno == ENFILE;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n + 2 * DMAC_PROTO_MAX_FDS >= rl.rlim_cur;
}

static int dmd__reply_error(struct dmd_conn *c, uint32_t opcode, uint64_t tag, int err)
{
	size_t len;
	int rc = dmac_proto_encode_error(wbuf, sizeof(wbuf), opcode, tag, err, &len);

	if (rc) {
		dmd_err("encode error reply: %s", strerror(-rc));
		return rc;
	}
	return dmd__send(c, len);
}

static int dmd__hello(struct dmd_engine *e, struct dmd_conn *c, const struct dmac_proto_view *v,
		      size_t *len)
{
	const struct dmac_proto_hello_req *m = (const void *)v->hdr;
	struct dmac_proto_hello_rep rep;
	struct dmd_hello_out ho;
	int rc;

	rc = dmd_engine_hello(e, c->es, m->tenant, &ho);
	if (rc)
		return rc;
	memset(&rep, 0, sizeof(rep));
	rep.version = m->version < DMAC_PROTO_VERSION ? m->version : DMAC_PROTO_VERSION;
	c->version = rep.version;
	rep.max_vec = DMAC_PROTO_MAX_VEC;
	rep.session_id = ho.session_id;
	rep.quota_pinned_bytes = ho.quota_pinned_bytes;
	rep.quota_leases = ho.quota_leases;
	rep.iova_start = ho.iova_start;
	rep.iova_last = ho.iova_last;
	rep.max_fds = DMAC_PROTO_MAX_FDS;
	rep.max_msg = DMAC_PROTO_MAX_MSG;
	return dmac_proto_encode_hello_rep(wbuf, sizeof(wbuf), v->tag, &rep, len);
}

/* REGISTER: inspect every fd once, check every range, then the engine. */
static int dmd__register(struct dmd_engine *e, struct dmd_conn *c, const struct dmac_proto_view *v,
			 const int *fds, size_t *len)
{
	struct dmac_proto_fdinfo fi[DMAC_PROTO_MAX_FDS];
	uint32_t i;
	int rc;

	for (i = 0; i < v->nfds; i++) {
		rc = dmac_proto_fd_inspect(fds[i], &fi[i]);
		if (rc) {
			dmd_info("session pid %d: REGISTER fd %u refused: %s", (int)c->pid, i,
				 dmac_proto_strerror(rc));
			return rc;
		}
#ifdef DMACD_TEST_BUILD
		if (dmd_test_hooks_fake_ino()) {
			fi[i].dev = 1;
			fi[i].ino = dmd_test_hooks_fake_ino();
		}
#endif
	}
	for (i = 0; i < v->count; i++) {
		const struct dmac_proto_reg_range *r = dmac_proto_view_elem(v, i);
		const struct dmac_proto_fdinfo *f = &fi[r->fd_index];

		rc = dmac_proto_fd_check_range(f, r->offset, r->length);
		if (rc)
			return rc;
		/* The fd's access mode and write seals bound the prot (on a
		 * cache hit exactly as on a miss: checked before the engine). */
		rc = dmac_proto_fd_check_prot(fds[r->fd_index], f, r->prot);
		if (rc) {
			dmd_info("session pid %d: REGISTER range %u: prot 0x%x refused: %s",
				 (int)c->pid, i, r->prot, dmac_proto_strerror(rc));
			return rc;
		}
		in.reg[i] = (struct dmd_reg_in){
		    .fd = fds[r->fd_index],
		    .dev = f->dev,
		    .ino = f->ino,
		    .page_size = f->page_size,
		    .offset = r->offset,
		    .length = r->length,
		    .prot = r->prot,
		};
	}
	rc = dmd_engine_register(e, c->es, in.reg, v->count, out.reg);
	if (rc)
		return rc;
	for (i = 0; i < v->count; i++)
		wire.reg[i] =
		    (struct dmac_proto_reg_result){out.reg[i].reg_id, out.reg[i].page_shift, 0};
	return dmac_proto_encode_register_rep(wbuf, sizeof(wbuf), v->tag, wire.reg, v->count, len);
}

static int dmd__lease(struct dmd_engine *e, struct dmd_conn *c, const struct dmac_proto_view *v,
		      size_t *len)
{
	uint64_t t0;
	uint32_t i;
	int rc;

	for (i = 0; i < v->count; i++) {
		const struct dmac_proto_lease_item *it = dmac_proto_view_elem(v, i);

		in.lease[i] = (struct dmd_lease_in){it->reg_id, it->offset, it->length, it->prot};
	}
	/* the lease-latency histogram: the engine's processing, kernel calls
	 * included, whatever the outcome (two vDSO clock reads) */
	t0 = dmd__now_ns();
	rc = dmd_engine_lease(e, c->es, in.lease, v->count, out.lease);
	dmd_engine_lease_observed(e, c->es, dmd__now_ns() - t0);
	if (rc)
		return rc;
	for (i = 0; i < v->count; i++)
		wire.grant[i] =
		    (struct dmac_proto_lease_grant){out.lease[i].lease_id, out.lease[i].generation,
						    out.lease[i].iova, out.lease[i].length};
	return dmac_proto_encode_lease_rep(wbuf, sizeof(wbuf), v->tag, wire.grant, v->count, len);
}

static int dmd__release(struct dmd_engine *e, struct dmd_conn *c, const struct dmac_proto_view *v,
			size_t *len)
{
	for (uint32_t i = 0; i < v->count; i++) {
		const struct dmac_proto_release_item *it = dmac_proto_view_elem(v, i);
		int rc = dmd_engine_release(e, c->es, it->lease_id, it->generation);

		wire.st[i] = (struct dmac_proto_item_status){it->lease_id, (uint32_t)-rc, 0};
	}
	return dmac_proto_encode_release_rep(wbuf, sizeof(wbuf), v->tag, wire.st, v->count, len);
}

static int dmd__unregister(struct dmd_engine *e, struct dmd_conn *c,
			   const struct dmac_proto_view *v, size_t *len)
{
	for (uint32_t i = 0; i < v->count; i++) {
		const struct dmac_proto_unreg_item *it = dmac_proto_view_elem(v, i);
		int rc = dmd_engine_unregister(e, c->es, it->reg_id);

		wire.st[i] = (struct dmac_proto_item_status){it->reg_id, (uint32_t)-rc, 0};
	}
	return dmac_proto_encode_unregister_rep(wbuf, sizeof(wbuf), v->tag, wire.st, v->count, len);
}

static struct dmac_proto_lease_info dmd__info(const struct dmd_lease_view *v)
{
	return (struct dmac_proto_lease_info){v->lease_id, v->generation, v->iova, v->length,
					      v->reg_id,   v->reg_offset, v->prot, 0};
}

static int dmd__query(struct dmd_engine *e, struct dmd_conn *c, const struct dmac_proto_view *v,
		      size_t *len)
{
	const struct dmac_proto_query_req *m = (const void *)v->hdr;
	uint64_t next;
	uint32_t n;
	int rc;

	rc = dmd_engine_query(e, c->es, m->cursor, m->max_count, out.view, &n, &next);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n; i++)
		wire.info[i] = dmd__info(&out.view[i]);
	return dmac_proto_encode_query_rep(wbuf, sizeof(wbuf), v->tag, next, wire.info, n, len);
}

static int dmd__admin_tenants(struct dmd_engine *e, struct dmd_conn *c,
			      const struct dmac_proto_view *v, size_t *len)
{
	const struct dmac_proto_query_req *m = (const void *)v->hdr;
	uint64_t next;
	uint32_t n;
	int rc;

	rc = dmd_engine_admin_tenants(e, c->es, m->cursor, m->max_count, out.tenant, &n, &next);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		const struct dmd_tenant_view *t = &out.tenant[i];
		struct dmac_proto_tenant_info *w = &wire.tenant[i];

		memset(w, 0, sizeof(*w));
		memcpy(w->name, t->name, sizeof(w->name));
		w->sessions = t->sessions;
		w->leases = t->leases;
		w->bytes_leased = t->bytes_leased;
		w->quota_pinned_bytes = t->quota_pinned_bytes;
		w->quota_leases = t->quota_leases;
		w->iova_start = t->iova_start;
		w->iova_last = t->iova_last;
		w->bytes_registered = t->bytes_registered;
		w->bytes_pinned = t->bytes_pinned;
		w->bytes_kept = t->bytes_kept;
		w->registrations = t->registrations;
		w->cache_hits = t->cache_hits;
		w->cache_misses = t->cache_misses;
		w->copy_hits = t->copy_hits;
		w->copy_misses = t->copy_misses;
		w->lease_requests = t->lease_requests;
	}
	return dmac_proto_encode_admin_tenants_rep(wbuf, sizeof(wbuf), v->tag, c->version, next,
						   wire.tenant, n, len);
}

static int dmd__admin_leases(struct dmd_engine *e, struct dmd_conn *c,
			     const struct dmac_proto_view *v, size_t *len)
{
	const struct dmac_proto_query_req *m = (const void *)v->hdr;
	uint64_t next;
	uint32_t n;
	int rc;

	rc = dmd_engine_admin_leases(e, c->es, m->cursor, m->max_count, out.alease, &n, &next);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		struct dmac_proto_admin_lease *w = &wire.alease[i];

		memset(w, 0, sizeof(*w));
		w->info = dmd__info(&out.alease[i].lease);
		w->session_id = out.alease[i].session_id;
		memcpy(w->tenant, out.alease[i].tenant, sizeof(w->tenant));
	}
	return dmac_proto_encode_admin_leases_rep(wbuf, sizeof(wbuf), v->tag, next, wire.alease, n,
						  len);
}

static int dmd__admin_sessions(struct dmd_engine *e, struct dmd_conn *c,
			       const struct dmac_proto_view *v, size_t *len)
{
	const struct dmac_proto_query_req *m = (const void *)v->hdr;
	uint64_t next;
	uint32_t n;
	int rc;

	rc = dmd_engine_admin_sessions(e, c->es, m->cursor, m->max_count, out.session, &n, &next);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n; i++) {
		const struct dmd_session_view *s = &out.session[i];
		struct dmac_proto_session_info *w = &wire.session[i];

		memset(w, 0, sizeof(*w));
		w->session_id = s->session_id;
		w->pid = s->pid > 0 ? (uint32_t)s->pid : 0;
		w->uid = (uint32_t)s->uid;
		w->gid = (uint32_t)s->gid;
		w->flags = s->pidfd ? DMAC_PROTO_SESSION_F_PIDFD : 0;
		memcpy(w->tenant, s->tenant, sizeof(w->tenant));
		memcpy(w->comm, s->comm, strnlen(s->comm, sizeof(w->comm) - 1));
		w->registrations = s->registrations;
		w->bytes_registered = s->bytes_registered;
		w->leases = s->leases;
		w->bytes_leased = s->bytes_leased;
	}
	return dmac_proto_encode_admin_sessions_rep(wbuf, sizeof(wbuf), v->tag, next, wire.session,
						    n, len);
}

static int dmd__admin_histogram(struct dmd_engine *e, struct dmd_conn *c,
				const struct dmac_proto_view *v, size_t *len)
{
	const struct dmac_proto_histogram_req *m = (const void *)v->hdr;
	struct dmd_hist h;
	int rc;

	rc = dmd_engine_admin_histogram(e, c->es, m->id, &h);
	if (rc)
		return rc;
	for (unsigned int i = 0; i < DMD_HIST_NBUCKETS; i++)
		wire.bucket[i] = (struct dmac_proto_hist_bucket){dmd_hist_le(i), h.buckets[i]};
	return dmac_proto_encode_histogram_rep(wbuf, sizeof(wbuf), v->tag, m->id, h.count, h.sum,
					       wire.bucket, DMD_HIST_NBUCKETS, len);
}

/*
 * DEVICE: claim, then reply with the fds in the protocol's order (BAR fds
 * ascending, eventfds, device fd when trusted). The daemon's copies of the
 * fds are closed once sent (the kernel keeps the eventfds wired: VFIO holds
 * its own reference). Sends the reply itself; *sent tells the caller.
 */
static int dmd__device(struct dmd_engine *e, struct dmd_conn *c, const struct dmac_proto_view *v,
		       bool *sent)
{
	const struct dmac_proto_device_req *m = (const void *)v->hdr;
	struct dmac_proto_device_rep rep;
	struct dmd_bk_dev_info info;
	int fds[DMAC_PROTO_MAX_FDS];
	unsigned int n = 0;
	bool trusted = false;
	size_t len;
	int rc;

	rc = dmd_engine_device(e, c->es, m->index,
			       (m->flags & DMAC_PROTO_DEVICE_F_BY_BDF) ? m->bdf : NULL,
			       DMAC_PROTO_MAX_FDS, &info, &trusted);
	if (rc)
		return rc;
	memset(&rep, 0, sizeof(rep));
	memcpy(rep.bdf, info.bdf, strnlen(info.bdf, sizeof(rep.bdf) - 1));
	rep.vendor_id = info.vendor_id;
	rep.device_id = info.device_id;
	rep.numa_node = info.numa_node;
	rep.mode = trusted ? DMAC_PROTO_DEVICE_TRUSTED : DMAC_PROTO_DEVICE_STRICT;
	rep.irq_type = info.irq_type;
	rep.nirqs = info.nirqs;
	for (unsigned int i = 0; i < DMAC_PROTO_NUM_BARS; i++) {
		rep.bars[i].size = info.bars[i].size;
		rep.bars[i].flags = info.bars[i].flags;
		rep.bars[i].fd_index = DMAC_PROTO_NO_FD;
		if (info.bars[i].fd >= 0) {
			rep.bars[i].fd_index = n;
			fds[n++] = info.bars[i].fd;
		}
	}
	rep.irq_fd_first = info.nirqs ? n : DMAC_PROTO_NO_FD;
	for (uint32_t i = 0; i < info.nirqs; i++)
		fds[n++] = info.irq_fds[i];
	rep.device_fd_index = DMAC_PROTO_NO_FD;
	if (trusted) {
		rep.device_fd_index = n;
		fds[n++] = info.device_fd;
	}
	rep.nfds = n;
	rc = dmac_proto_encode_device_rep(wbuf, sizeof(wbuf), v->tag, &rep, &len);
	if (!rc) {
		bool queued;

		rc = dmd__send_fds(c, len, fds, n, &queued);
		*sent = true;
		if (queued)
			return 0; /* the connection owns the fds now */
	} else {
		dmd_err("session pid %d: DEVICE reply refused by the codec: %s", (int)c->pid,
			dmac_proto_strerror(rc));
		dmd_engine_device_unclaim(e, c->es, info.bdf);
	}
	dmac_proto_close_fds(fds, n);
	return rc;
}

static int dmd__stats(struct dmd_engine *e, struct dmd_conn *c, const struct dmac_proto_view *v,
		      size_t *len)
{
	struct dmd_engine_stats st;
	struct dmac_proto_stats ps;

	dmd_engine_session_stats(e, c->es, &st);
	ps = (struct dmac_proto_stats){
	    .cache_hits = st.cache_hits,
	    .cache_misses = st.cache_misses,
	    .evictions = st.evictions,
	    .bytes_pinned = st.bytes_pinned,
	    .areas = st.areas,
	    .leases = st.leases,
	    .tenants = st.tenants,
	    .sessions = st.sessions,
	    .registrations = st.registrations,
	    .copy_hits = st.copy_hits,
	    .copy_misses = st.copy_misses,
	    .kernel_copies = st.kernel_copies,
	    .kernel_unmaps = st.kernel_unmaps,
	    .copies_kept_bytes = st.copies_kept_bytes,
	    .unmap_failures = st.unmap_failures,
	    .tenant_copies = st.tenant_copies,
	};
	/* the layout of the version HELLO negotiated (1 before HELLO: never,
	 * the server refuses STATS before HELLO) */
	return dmac_proto_encode_stats_rep(wbuf, sizeof(wbuf), v->tag, c->version ? c->version : 1,
					   &ps, len);
}

int dmd_conn_handle(struct dmd_engine *e, struct dmd_conn *c)
{
	int fds[DMAC_PROTO_MAX_FDS];
	struct dmac_proto_view v;
	unsigned int nfds = 0;
	uint32_t opcode = 0;
	uint64_t tag = 0;
	size_t len = 0, rlen = 0;
	int rc;

	rc = dmac_proto_recv(c->sock, rbuf, sizeof(rbuf), &rlen, fds, &nfds);
	if (rc == -EAGAIN)
		return 0;
	/* Echo opcode and tag whenever the packet holds them (protocol.md 6.11). */
	if (rlen >= offsetof(struct dmac_proto_hdr, flags)) {
		const struct dmac_proto_hdr *h = (const void *)rbuf;

		opcode = h->opcode;
		tag = h->tag;
	}
	if (rc == -ETOOMANYREFS && dmd_fds_short()) {
		/* MSG_CTRUNC because the daemon could not install the fds: the
		 * daemon's shortage, not a protocol violation. The request is not
		 * processed; the session goes on. */
		dmd_warn("session pid %d: %s request arrived without its fds: the daemon is out "
			 "of file descriptors (RLIMIT_NOFILE); answered EMFILE",
			 (int)c->pid, dmac_proto_op_name(opcode));
		return dmd__reply_error(c, opcode, tag, -EMFILE);
	}
	if (rc) {
		/* nothing to close: the fd layer closed what arrived */
		if (rc != -ECONNRESET) {
			dmd_warn("session pid %d: %s; session ends", (int)c->pid,
				 dmac_proto_strerror(rc));
			dmd__reply_error(c, opcode, tag, rc);
		}
		return rc;
	}
	rc = dmac_proto_decode_request(rbuf, rlen, nfds, &v);
	if (rc) {
		dmd_info("session pid %d: bad %s request: %s", (int)c->pid,
			 dmac_proto_op_name(opcode), dmac_proto_strerror(rc));
		goto out_reply_error;
	}
	if (!dmd_engine_session_bound(c->es) && v.opcode != DMAC_OP_HELLO) {
		rc = -EPERM;
		goto out_reply_error;
	}
	switch (v.opcode) {
	case DMAC_OP_HELLO:
		rc = dmd__hello(e, c, &v, &len);
		break;
	case DMAC_OP_REGISTER:
		rc = dmd__register(e, c, &v, fds, &len);
		break;
	case DMAC_OP_UNREGISTER:
		rc = dmd__unregister(e, c, &v, &len);
		break;
	case DMAC_OP_LEASE:
		rc = dmd__lease(e, c, &v, &len);
		break;
	case DMAC_OP_RELEASE:
		rc = dmd__release(e, c, &v, &len);
		break;
	case DMAC_OP_QUERY:
		rc = dmd__query(e, c, &v, &len);
		break;
	case DMAC_OP_STATS:
		rc = dmd__stats(e, c, &v, &len);
		break;
	case DMAC_OP_ADMIN_TENANTS:
		rc = dmd__admin_tenants(e, c, &v, &len);
		break;
	case DMAC_OP_ADMIN_LEASES:
		rc = dmd__admin_leases(e, c, &v, &len);
		break;
	case DMAC_OP_ADMIN_SESSIONS:
		rc = dmd__admin_sessions(e, c, &v, &len);
		break;
	case DMAC_OP_ADMIN_HISTOGRAM:
		rc = dmd__admin_histogram(e, c, &v, &len);
		break;
	case DMAC_OP_DEVICE: {
		bool sent = false;

		rc = dmd__device(e, c, &v, &sent);
		if (sent) {
			dmac_proto_close_fds(fds, nfds);
			return rc;
		}
		break;
	}
	default:
		rc = -ENOTTY;
		break;
	}
	if (rc)
		goto out_reply_error;
	dmac_proto_close_fds(fds, nfds);
	return dmd__send(c, len);

out_reply_error:
	dmac_proto_close_fds(fds, nfds);
	if (rc < -(int)DMAC_PROTO_MAX_STATUS || rc >= 0)
		rc = -EIO;
	dmd_debug("session pid %d: %s -> %s", (int)c->pid, dmac_proto_op_name(opcode),
		  dmac_proto_strerror(rc));
	{
		int frc = dmd__reply_error(c, opcode, tag, rc);

		if (dmac_proto_err_is_fatal(rc)) {
			dmd_warn("session pid %d: %s; session ends", (int)c->pid,
				 dmac_proto_strerror(rc));
			return rc;
		}
		return frc;
	}
}
