/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake dmacached of the libdmacache unit tests (see fake_server.h for its
 * invariants). It speaks the real protocol through lib/proto's codec and fd
 * layer, so the client is tested against what the daemon will parse, not
 * against hand-made bytes.
 *
 * The loop ends when the client hangs up, on a hang-up injection, or on a
 * request the codec refuses (that answers ENOTTY/EINVAL and goes on unless the
 * error is session-ending).
 */
#include <errno.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dmac/proto.h"
#include "fake_server.h"

static alignas(8) _Thread_local unsigned char rxbuf[DMAC_PROTO_MAX_MSG];
static alignas(8) _Thread_local unsigned char txbuf[DMAC_PROTO_MAX_MSG];

static int reg_index(struct fake_server *s, uint64_t reg_id)
{
	for (unsigned int k = 0; k < s->nregs; k++)
		if (s->reg_ids[k] == reg_id && s->reg_live[k])
			return (int)k;
	return -1;
}

static int find_lease(struct fake_server *s, uint64_t id)
{
	for (unsigned int i = 0; i < s->nleases; i++)
		if (s->leases[i].lease_id == id)
			return (int)i;
	return -1;
}

/* Build the reply to a valid request; returns its length, 0 to hang up. */
static size_t handle(struct fake_server *s, const struct dmac_proto_view *v, const int *fds)
{
	size_t len = 0;
	int rc = 0;

	switch (v->opcode) {
	case DMAC_OP_HELLO: {
		struct dmac_proto_hello_rep h = {
		    .version = DMAC_PROTO_VERSION,
		    .max_vec = s->max_vec,
		    .session_id = 42,
		    .quota_pinned_bytes = UINT64_C(1) << 30,
		    .quota_leases = 1000,
		    .iova_start = FAKE_IOVA_BASE,
		    .iova_last = UINT64_C(0xffffffffffff),
		    .max_fds = DMAC_PROTO_MAX_FDS,
		    .max_msg = DMAC_PROTO_MAX_MSG,
		};
		s->admin = dmac_proto_is_admin_tenant(
		    ((const struct dmac_proto_hello_req *)v->hdr)->tenant);
		rc = dmac_proto_encode_hello_rep(txbuf, sizeof(txbuf), v->tag, &h, &len);
		break;
	}
	case DMAC_OP_REGISTER: {
		struct dmac_proto_reg_result res[DMAC_PROTO_MAX_VEC];

		if (s->nregs + v->count > FAKE_MAX_REGS) {
			rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode, v->tag,
						     ENOSPC, &len);
			break;
		}
		s->last_nfds = v->nfds;
		for (unsigned int i = 0; i < v->nfds; i++) {
			struct stat st;

			s->last_ino[i] = fstat(fds[i], &st) ? 0 : st.st_ino;
		}
		for (uint32_t i = 0; i < v->count; i++) {
			const struct dmac_proto_reg_range *r = dmac_proto_view_elem(v, i);
			unsigned int k = s->nregs++;

			s->reg_ids[k] = UINT64_C(1000) + k;
			s->reg_len[k] = r->length;
			s->reg_live[k] = true;
			res[i] = (struct dmac_proto_reg_result){.reg_id = s->reg_ids[k],
								.page_shift = 12};
		}
		rc = dmac_proto_encode_register_rep(txbuf, sizeof(txbuf), v->tag, res, v->count,
						    &len);
		break;
	}
	case DMAC_OP_UNREGISTER: {
		struct dmac_proto_item_status st[DMAC_PROTO_MAX_VEC];

		for (uint32_t i = 0; i < v->count; i++) {
			const struct dmac_proto_unreg_item *u = dmac_proto_view_elem(v, i);
			int k = reg_index(s, u->reg_id);

			st[i] = (struct dmac_proto_item_status){.id = u->reg_id,
								.status = k < 0 ? ENOENT : 0};
			if (i == 0 && s->item_fail_next)
				st[i].status = (uint32_t)s->item_fail_next;
			else if (k >= 0)
				s->reg_live[k] = false;
		}
		rc = dmac_proto_encode_unregister_rep(txbuf, sizeof(txbuf), v->tag, st, v->count,
						      &len);
		break;
	}
	case DMAC_OP_LEASE: {
		struct dmac_proto_lease_grant g[DMAC_PROTO_MAX_VEC];

		if (s->nleases + v->count > FAKE_MAX_LEASES) {
			rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode, v->tag,
						     EDQUOT, &len);
			break;
		}
		for (uint32_t i = 0; i < v->count; i++) {
			const struct dmac_proto_lease_item *it = dmac_proto_view_elem(v, i);
			int k = reg_index(s, it->reg_id);

			if (k < 0 || it->offset + it->length > s->reg_len[k]) {
				rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode,
							     v->tag, k < 0 ? ENOENT : ERANGE, &len);
				return rc ? 0 : len;
			}
			g[i].lease_id = ++s->lease_counter * UINT64_C(0x9E3779B97F4A7C15);
			g[i].generation = 1;
			g[i].iova = fake_iova((unsigned int)k, it->offset);
			g[i].length = it->length;
			if (s->short_grant_next && it->length > DMAC_PROTO_MIN_PAGE)
				g[i].length -= DMAC_PROTO_MIN_PAGE;
		}
		for (uint32_t i = 0; i < v->count; i++) {
			const struct dmac_proto_lease_item *it = dmac_proto_view_elem(v, i);

			if (s->lease_hook)
				s->lease_hook(s->hook_arg, g[i].iova, g[i].length, 1);
			s->leases[s->nleases++] = (struct fake_lease){
			    .lease_id = g[i].lease_id,
			    .generation = g[i].generation,
			    .iova = g[i].iova,
			    .length = g[i].length,
			    .reg_id = it->reg_id,
			    .reg_offset = it->offset,
			    .prot = it->prot,
			};
		}
		rc = dmac_proto_encode_lease_rep(txbuf, sizeof(txbuf), v->tag, g, v->count, &len);
		break;
	}
	case DMAC_OP_RELEASE: {
		struct dmac_proto_item_status st[DMAC_PROTO_MAX_VEC];

		for (uint32_t i = 0; i < v->count; i++) {
			const struct dmac_proto_release_item *r = dmac_proto_view_elem(v, i);
			int k = find_lease(s, r->lease_id);

			st[i] = (struct dmac_proto_item_status){.id = r->lease_id};
			if (k < 0)
				st[i].status = ENOENT;
			else if (s->leases[k].generation != r->generation)
				st[i].status = ESTALE;
			else if (i == 0 && s->item_fail_next)
				st[i].status = (uint32_t)s->item_fail_next;
			else {
				if (s->lease_hook)
					s->lease_hook(s->hook_arg, s->leases[k].iova,
						      s->leases[k].length, -1);
				s->leases[k] = s->leases[--s->nleases];
			}
		}
		rc =
		    dmac_proto_encode_release_rep(txbuf, sizeof(txbuf), v->tag, st, v->count, &len);
		break;
	}
	case DMAC_OP_QUERY: {
		const struct dmac_proto_query_req *q = (const void *)v->hdr;
		struct dmac_proto_lease_info info[DMAC_PROTO_MAX_VEC];
		uint64_t from = q->cursor, next;
		uint32_t n = 0;

		if (from > s->nleases) {
			rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode, v->tag,
						     EINVAL, &len);
			break;
		}
		while (n < q->max_count && from + n < s->nleases) {
			const struct fake_lease *l = &s->leases[from + n];

			info[n++] = (struct dmac_proto_lease_info){
			    .lease_id = l->lease_id,
			    .generation = l->generation,
			    .iova = l->iova,
			    .length = l->length,
			    .reg_id = l->reg_id,
			    .reg_offset = l->reg_offset,
			    .prot = l->prot,
			};
		}
		next = from + n < s->nleases ? from + n : 0;
		rc = dmac_proto_encode_query_rep(txbuf, sizeof(txbuf), v->tag, next, info, n, &len);
		break;
	}
	case DMAC_OP_STATS: {
		struct dmac_proto_stats st = {
		    .cache_hits = 7,
		    .leases = s->nleases,
		    .registrations = s->nregs,
		    .sessions = 1,
		    .tenants = 1,
		};
		rc = dmac_proto_encode_stats_rep(txbuf, sizeof(txbuf), v->tag, DMAC_PROTO_VERSION,
						 &st, &len);
		break;
	}
	case DMAC_OP_ADMIN_HISTOGRAM: {
		const struct dmac_proto_histogram_req *q = (const void *)v->hdr;
		const struct dmac_proto_hist_bucket b[] = {{1024, 2}, {4096, 1}, {UINT64_MAX, 1}};

		if (!s->admin || q->id != DMAC_PROTO_HIST_LEASE)
			rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode, v->tag,
						     s->admin ? ENOENT : EPERM, &len);
		else
			rc = dmac_proto_encode_histogram_rep(txbuf, sizeof(txbuf), v->tag, q->id, 4,
							     9000, b, 3, &len);
		break;
	}
	case DMAC_OP_ADMIN_SESSIONS: {
		const struct dmac_proto_query_req *q = (const void *)v->hdr;
		static _Thread_local struct dmac_proto_session_info si[DMAC_PROTO_MAX_VEC];
		uint64_t from = q->cursor;
		uint32_t n = 0;

		if (!s->admin || from > FAKE_SESSIONS) {
			rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode, v->tag,
						     s->admin ? EINVAL : EPERM, &len);
			break;
		}
		for (; n < q->max_count && from + n < FAKE_SESSIONS; n++) {
			uint32_t k = (uint32_t)(from + n);

			memset(&si[n], 0, sizeof(si[n]));
			si[n].session_id = 42 + k;
			si[n].pid = 1000 + k;
			si[n].uid = 4001;
			si[n].gid = 4100;
			si[n].flags = DMAC_PROTO_SESSION_F_PIDFD;
			snprintf(si[n].tenant, sizeof(si[n].tenant), "tenant-%u", k);
			snprintf(si[n].comm, sizeof(si[n].comm), "proc-%u", k);
			si[n].leases = k;
			si[n].bytes_leased = (uint64_t)k << 12;
		}
		rc = dmac_proto_encode_admin_sessions_rep(txbuf, sizeof(txbuf), v->tag,
							  from + n < FAKE_SESSIONS ? from + n : 0,
							  si, n, &len);
		break;
	}
	case DMAC_OP_ADMIN_TENANTS:
	case DMAC_OP_ADMIN_LEASES: {
		const struct dmac_proto_query_req *q = (const void *)v->hdr;
		static _Thread_local struct dmac_proto_tenant_info t[DMAC_PROTO_MAX_VEC];
		static _Thread_local struct dmac_proto_admin_lease a[DMAC_PROTO_MAX_VEC];
		uint64_t total = v->opcode == DMAC_OP_ADMIN_TENANTS ? FAKE_TENANTS : s->nleases;
		uint64_t from = q->cursor, next;
		uint32_t n = 0;

		if (!s->admin || from > total) {
			rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode, v->tag,
						     s->admin ? EINVAL : EPERM, &len);
			break;
		}
		for (; n < q->max_count && from + n < total; n++) {
			uint64_t k = from + n;

			if (v->opcode == DMAC_OP_ADMIN_TENANTS) {
				memset(&t[n], 0, sizeof(t[n]));
				snprintf(t[n].name, sizeof(t[n].name), "tenant-%u", (unsigned)k);
				t[n].sessions = k;
				t[n].quota_leases = 100 + k;
				t[n].iova_start = 0;
				t[n].iova_last = UINT64_MAX;
				t[n].bytes_registered = k << 20;
				t[n].bytes_pinned = 2 * k << 20;
				t[n].lease_requests = 7 * k;
			} else {
				const struct fake_lease *l = &s->leases[k];

				memset(&a[n], 0, sizeof(a[n]));
				a[n].info = (struct dmac_proto_lease_info){
				    .lease_id = l->lease_id,
				    .generation = l->generation,
				    .iova = l->iova,
				    .length = l->length,
				    .reg_id = l->reg_id,
				    .reg_offset = l->reg_offset,
				    .prot = l->prot,
				};
				a[n].session_id = 42;
				strcpy(a[n].tenant, "tenant-a");
			}
		}
		next = from + n < total ? from + n : 0;
		rc = v->opcode == DMAC_OP_ADMIN_TENANTS
			 ? dmac_proto_encode_admin_tenants_rep(
			       txbuf, sizeof(txbuf), v->tag, s->v2_tenants ? 2 : DMAC_PROTO_VERSION,
			       next, t, n, &len)
			 : dmac_proto_encode_admin_leases_rep(txbuf, sizeof(txbuf), v->tag, next, a,
							      n, &len);
		break;
	}
	default:
		rc = dmac_proto_encode_error(txbuf, sizeof(txbuf), v->opcode, v->tag, ENOTTY, &len);
	}
	if (rc) {
		fprintf(stderr, "fake_server: encoding the reply failed: %d\n", rc);
		abort();
	}
	return len;
}

static void *serve(void *arg)
{
	struct fake_server *s = arg;

	for (;;) {
		int fds[DMAC_PROTO_MAX_FDS];
		unsigned int nfds = 0;
		struct dmac_proto_view v;
		size_t len = 0, out = 0;
		int rc;

		rc = dmac_proto_recv(s->sock, rxbuf, sizeof(rxbuf), &len, fds, &nfds);
		if (rc)
			break; /* hang-up or a session-ending error */
		rc = dmac_proto_decode_request(rxbuf, len, nfds, &v);

		pthread_mutex_lock(&s->lock);
		s->requests++;
		if (rc) {
			if (!dmac_proto_err_is_fatal(rc))
				dmac_proto_encode_error(
				    txbuf, sizeof(txbuf),
				    ((const struct dmac_proto_hdr *)rxbuf)->opcode,
				    ((const struct dmac_proto_hdr *)rxbuf)->tag, rc, &out);
		} else if (s->hangup_next) {
			s->hangup_next = false;
		} else if (s->mute_next) {
			s->mute_next = false;
			pthread_mutex_unlock(&s->lock);
			continue;
		} else {
			if (v.opcode < 16)
				s->op_count[v.opcode]++;
			if (s->fail_next) {
				dmac_proto_encode_error(txbuf, sizeof(txbuf), v.opcode, v.tag,
							s->fail_next, &out);
				s->fail_next = 0;
			} else {
				out = handle(s, &v, fds);
				s->short_grant_next = false;
				s->item_fail_next = 0;
			}
			if (s->bad_tag_next) {
				((struct dmac_proto_hdr *)txbuf)->tag ^= 0x5555;
				s->bad_tag_next = false;
			}
		}
		pthread_mutex_unlock(&s->lock);
		dmac_proto_close_fds(fds, nfds);
		if (!out)
			break;
		if (dmac_proto_send(s->sock, txbuf, out, NULL, 0))
			break;
	}
	shutdown(s->sock, SHUT_RDWR);
	return NULL;
}

void fake_server_start(struct fake_server *s)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	s->max_vec = DMAC_PROTO_MAX_VEC;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		perror("socketpair");
		abort();
	}
	s->sock = sv[0];
	s->client_sock = sv[1];
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_create(&s->thread, NULL, serve, s)) {
		perror("pthread_create");
		abort();
	}
}

void fake_server_start_fd(struct fake_server *s, int sock)
{
	memset(s, 0, sizeof(*s));
	s->max_vec = DMAC_PROTO_MAX_VEC;
	s->sock = sock;
	s->client_sock = -1;
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_create(&s->thread, NULL, serve, s)) {
		perror("pthread_create");
		abort();
	}
}

void fake_server_join(struct fake_server *s)
{
	pthread_join(s->thread, NULL);
	close(s->sock);
	pthread_mutex_destroy(&s->lock);
}

unsigned int fake_server_leases(struct fake_server *s)
{
	unsigned int n;

	pthread_mutex_lock(&s->lock);
	n = s->nleases;
	pthread_mutex_unlock(&s->lock);
	return n;
}

unsigned int fake_server_requests(struct fake_server *s)
{
	unsigned int n;

	pthread_mutex_lock(&s->lock);
	n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}
