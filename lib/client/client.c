/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libdmacache: connection, requests and the local VA -> IOVA table.
 *
 * Invariants of this file:
 * - Every request call validates its arguments, then takes c->lock, then checks
 *   the arguments against the local records, and only then sends anything. One
 *   request is in flight per connection; its reply must carry the same opcode and
 *   tag (dmac_proto_reply_matches()).
 * - c->map is the local table: [va, va + length - 1] -> iova for every live lease,
 *   'last' inclusive. It is written only under c->lock, in one imap batch per
 *   call, and read by translate inside an imap read-side section. c->map is
 *   published with a release store and set to NULL when the connection dies or
 *   closes; the old map is destroyed only after a grace period.
 * - Release order: remove from c->map (one batch), wait for a grace period, then
 *   send RELEASE. So once the daemon may unmap an IOVA, no translate in progress
 *   or to come can return it.
 * - Lease order: the daemon grants first, then the batch is inserted; when the
 *   insert fails the grants are released again, so nothing changes.
 * - A transport or protocol failure makes the client dead (c->dead != 0): the
 *   daemon reclaims everything on hang-up, so the local table and every record
 *   are dropped at once (dmac__go_dead) and later requests get -ECONNRESET.
 *   A receive that times out (SO_RCVTIMEO: EAGAIN on a blocking socket) is
 *   -ETIMEDOUT and such a failure too (the reply may still come, for a
 *   request the daemon may have carried out); a send that times out sent
 *   nothing (one packet is sent whole or not at all): -ETIMEDOUT, alive.
 * - Registration records live in a chained id table, lease records in the slots
 *   of the lease index (client_table.h); a lease record points at its
 *   registration, whose nleases counts them. A pointer to a lease slot is used
 *   only until the index next changes.
 * - Allocation goes through dmac_alloc.h; every allocation a call may need is made
 *   before its request is sent, except the imap batch (handled by the lease order).
 *   Lease and release calls of up to DMAC__STACK_VEC elements keep their per-call
 *   arrays on the stack, so their only allocations are the imap batch's and, now
 *   and then, a growth of the lease index.
 * - Nothing is sent on a socket before its peer's uid (SO_PEERCRED, fixed by the
 *   kernel at connect()/socketpair()) is one the caller trusts: 0, the uid in
 *   DMACACHE_DAEMON_UID, or the one given to a *_uid connect. Whoever else
 *   serves the path would get the tenant name and, later, memory fds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client_table.h"
#include "dmac/dmacache.h"
#include "dmac/imap.h"
#include "dmac/proto.h"
#include "dmac_alloc.h"

_Static_assert(DMAC_CLIENT_PROT_READ == DMAC_PROTO_PROT_READ, "prot read");
_Static_assert(DMAC_CLIENT_PROT_WRITE == DMAC_PROTO_PROT_WRITE, "prot write");
_Static_assert(DMAC_CLIENT_PAGE == DMAC_PROTO_MIN_PAGE, "page");
_Static_assert(DMAC_CLIENT_COMM_MAX == DMAC_PROTO_COMM_MAX, "comm");
_Static_assert(DMAC_CLIENT_HIST_LEASE == DMAC_PROTO_HIST_LEASE, "histogram id");
_Static_assert(DMAC_CLIENT_HIST_MAX_BUCKETS == DMAC_PROTO_HIST_MAX_BUCKETS, "histogram buckets");
_Static_assert(DMAC_CLIENT_TENANT_MAX == DMAC_PROTO_TENANT_MAX, "tenant");
_Static_assert(DMAC_CLIENT_MAX_VEC == DMAC_PROTO_MAX_VEC, "vec");
_Static_assert(DMAC_CLIENT_MAX_FDS == DMAC_PROTO_MAX_FDS, "fds");
_Static_assert(sizeof(struct dmac_client_stats) == sizeof(struct dmac_proto_stats), "stats");
_Static_assert(DMAC_CLIENT_BAR_MEM == DMAC_PROTO_BAR_MEM &&
		   DMAC_CLIENT_BAR_IO == DMAC_PROTO_BAR_IO &&
		   DMAC_CLIENT_BAR_64 == DMAC_PROTO_BAR_64 &&
		   DMAC_CLIENT_BAR_PREFETCH == DMAC_PROTO_BAR_PREFETCH &&
		   DMAC_CLIENT_BAR_MMAP == DMAC_PROTO_BAR_MMAP,
	       "bar flags");
_Static_assert(DMAC_CLIENT_IRQ_MSIX == DMAC_PROTO_IRQ_MSIX &&
		   DMAC_CLIENT_IRQ_MSI == DMAC_PROTO_IRQ_MSI &&
		   DMAC_CLIENT_IRQ_INTX == DMAC_PROTO_IRQ_INTX,
	       "irq types");

#define DMAC__PROT_ALL (DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE)

struct dmac__reg {
	struct dmac__rec r; /* r.id: reg_id */
	uintptr_t va;
	uint64_t offset, length;
	uint32_t prot, page_shift;
	uint64_t nleases;
};

/* Per-call arrays of lease and release calls: on the stack up to this many elements. */
#define DMAC__STACK_VEC 16

struct dmac_client {
	pthread_mutex_t lock;
	int sock;
	int dead;	       /* 0, or the -errno that ended the connection */
	bool shut_on_death;    /* false during HELLO: the caller may still own sock */
	struct dmac_imap *map; /* the local table; NULL once dead */
	uint64_t tag;
	struct dmac_client_info info;
	uint32_t max_vec, max_fds;
	struct dmac__table regs;
	struct dmac__ltab leases; /* the lease records, in the index's slots */
	void *tx, *rx;		  /* DMAC_PROTO_MAX_MSG bytes each, 8-byte aligned */
	/* DMAC_CLIENT_DEFER_RELEASE: leases out of the table whose RELEASE is not sent */
	bool defer;
	size_t npend;
	uint64_t pend_since; /* CLOCK_MONOTONIC ns of the oldest pending release */
	int pend_err;	     /* first per-lease failure of a flush, for dmac_client_flush() */
	struct dmac_proto_release_item pend[DMAC_CLIENT_DEFER_MAX];
};

/* ---------------------------------------------------------------- RCU threads */

static pthread_once_t dmac__key_once = PTHREAD_ONCE_INIT;
static pthread_key_t dmac__key;
static int dmac__key_err;
static __thread bool dmac__we_registered;

static void dmac__key_dtor(void *arg)
{
	(void)arg;
	if (dmac__we_registered) {
		dmac__we_registered = false;
		urcu_memb_unregister_thread();
	}
}

static void dmac__key_make(void)
{
	dmac__key_err = pthread_key_create(&dmac__key, dmac__key_dtor);
}

DMAC_EXPORT int dmac_client_thread_register(void)
{
	if (URCU_TLS(urcu_memb_reader).registered)
		return 0;
	urcu_memb_register_thread();
	dmac__we_registered = true;
	pthread_once(&dmac__key_once, dmac__key_make);
	if (dmac__key_err || pthread_setspecific(dmac__key, (void *)1))
		return -EAGAIN;
	return 0;
}

DMAC_EXPORT void dmac_client_thread_unregister(void)
{
	if (!dmac__we_registered)
		return;
	dmac__we_registered = false;
	urcu_memb_unregister_thread();
	if (!dmac__key_err)
		pthread_setspecific(dmac__key, NULL);
}

static __attribute__((noinline, cold)) void dmac__thread_autoreg(void)
{
	(void)dmac_client_thread_register();
}

static inline void dmac__thread_ready(void)
{
	if (dmac_unlikely(!URCU_TLS(urcu_memb_reader).registered))
		dmac__thread_autoreg();
}

/* Deferred releases (DMAC_CLIENT_DEFER_RELEASE), defined with release below. */
static int dmac__flush(struct dmac_client *c);
static int dmac__flush_if_old(struct dmac_client *c);

/* ---------------------------------------------------------------- records */

static void dmac__free_rec(struct dmac__rec *r)
{
	dmac__free(r);
}

static struct dmac__reg *dmac__reg_find(struct dmac_client *c, uint64_t id)
{
	return (struct dmac__reg *)dmac__table_find(&c->regs, id);
}

static struct dmac__lease *dmac__lease_find(struct dmac_client *c, uint64_t id)
{
	return dmac__ltab_find(&c->leases, id);
}

/*
 * The connection is gone (or must go): drop the local table after a grace period,
 * every record, and shut the socket down so the daemon reclaims the session.
 * Never fails.
 */
static void dmac__go_dead(struct dmac_client *c, int err)
{
	struct dmac_imap *m = c->map;

	if (c->dead)
		return;
	c->dead = err ? err : -ECONNRESET;
	c->npend = 0; /* the daemon reclaims them with the session */
	if (c->shut_on_death)
		shutdown(c->sock, SHUT_RDWR);
	__atomic_store_n(&c->map, NULL, __ATOMIC_RELEASE);
	dmac_imap_synchronize();
	dmac_imap_destroy(m);
	dmac__ltab_clear(&c->leases);
	dmac__table_drain(&c->regs, dmac__free_rec);
}

/* ---------------------------------------------------------------- transport */

/*
 * Send the request of len bytes in c->tx with its fds, receive the reply into
 * c->rx and validate it against the request. 0: *rep is a matching reply (its
 * status may be non-zero). Else -errno: a request that could not be sent (the
 * client lives on, except for -EPIPE/-ECONNRESET), or a failed receive or a reply
 * that does not answer the request (the client is then dead; -ECONNRESET or
 * -EPROTO).
 */
static int dmac__call_fds(struct dmac_client *c, size_t len, const int *fds, unsigned int nfds,
			  struct dmac_proto_view *rep, int *out_fds, unsigned int *out_nfds);

static int dmac__call(struct dmac_client *c, size_t len, const int *fds, unsigned int nfds,
		      struct dmac_proto_view *rep)
{
	return dmac__call_fds(c, len, fds, nfds, rep, NULL, NULL);
}

/*
 * dmac__call() for the one reply that may carry fds (DEVICE): with @p out_fds
 * (room for DMAC_PROTO_MAX_FDS) the fds received are handed to the caller on
 * success (*out_nfds), else closed; without it any fd is a protocol error.
 */
static int dmac__call_fds(struct dmac_client *c, size_t len, const int *fds, unsigned int nfds,
			  struct dmac_proto_view *rep, int *out_fds, unsigned int *out_nfds)
{
	struct dmac_proto_view req;
	int rfds[DMAC_PROTO_MAX_FDS];
	unsigned int nrfds = 0;
	size_t rlen = 0;
	int rc;

	rc = dmac_proto_decode_request(c->tx, len, nfds, &req);
	if (rc)
		return rc; /* the encoders validate: cannot happen */
	rc = dmac_proto_send(c->sock, c->tx, len, fds, nfds);
	if (rc) {
		if (rc == -EAGAIN)
			rc = -ETIMEDOUT;
		if (rc == -EPIPE || rc == -ECONNRESET || rc == -ENOTCONN) {
			rc = rc == -ENOTCONN ? -EPIPE : rc;
			dmac__go_dead(c, rc);
		}
		return rc;
	}
	rc = dmac_proto_recv(c->sock, c->rx, DMAC_PROTO_MAX_MSG, &rlen, rfds, &nrfds);
	if (rc) {
		if (rc == -EAGAIN)
			rc = -ETIMEDOUT;
		/* Session-ending receive errors other than a hang-up are protocol errors. */
		if (rc != -ECONNRESET && dmac_proto_err_is_fatal(rc))
			rc = -EPROTO;
		dmac__go_dead(c, rc);
		return rc;
	}
	if (nrfds && !out_fds) {
		dmac_proto_close_fds(rfds, nrfds);
		dmac__go_dead(c, -EPROTO);
		return -EPROTO;
	}
	if (dmac_proto_decode_reply(c->rx, rlen, nrfds, rep) ||
	    dmac_proto_reply_matches(&req, rep)) {
		dmac_proto_close_fds(rfds, nrfds);
		dmac__go_dead(c, -EPROTO);
		return -EPROTO;
	}
	if (out_fds) {
		memcpy(out_fds, rfds, nrfds * sizeof(int));
		*out_nfds = nrfds;
	}
	return 0;
}

static int dmac__lock(struct dmac_client *c)
{
	dmac__thread_ready();
	pthread_mutex_lock(&c->lock);
	if (c->dead) {
		pthread_mutex_unlock(&c->lock);
		return -ECONNRESET;
	}
	return 0;
}

static void dmac__unlock(struct dmac_client *c)
{
	pthread_mutex_unlock(&c->lock);
}

/* ---------------------------------------------------------------- connect */

/*
 * Free the client: empty the local table first (after a grace period), then, if
 * asked, close the socket - so the daemon can only see the hang-up, and unmap,
 * once no translate can return an IOVA. Never fails.
 */
static void dmac__client_free(struct dmac_client *c, bool close_sock)
{
	struct dmac_imap *m = c->map;

	__atomic_store_n(&c->map, NULL, __ATOMIC_RELEASE);
	if (m) {
		dmac_imap_synchronize();
		dmac_imap_destroy(m);
	}
	dmac__table_drain(&c->regs, dmac__free_rec);
	dmac__ltab_fini(&c->leases);
	dmac__table_fini(&c->regs);
	if (close_sock)
		close(c->sock);
	dmac__free(c->rx);
	dmac__free(c->tx);
	pthread_mutex_destroy(&c->lock);
	dmac__free(c);
}

static int dmac__check_tenant(const char *tenant, char field[DMAC_PROTO_TENANT_MAX])
{
	size_t n;

	if (!tenant)
		return -EINVAL;
	n = strnlen(tenant, DMAC_PROTO_TENANT_MAX);
	if (n >= DMAC_PROTO_TENANT_MAX)
		return -EINVAL;
	memset(field, 0, DMAC_PROTO_TENANT_MAX);
	memcpy(field, tenant, n);
	if (dmac_proto_is_admin_tenant(field))
		return 0;
	return dmac_proto_check_tenant(field);
}

/* The uid in DMACACHE_DAEMON_UID: 0 and *uid, 1 if unset, -EINVAL if malformed. */
static int dmac__env_daemon_uid(uid_t *uid)
{
	const char *s = secure_getenv(DMAC_CLIENT_DAEMON_UID_ENV);
	unsigned long long v = 0;

	if (!s)
		return 1;
	if (!*s)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long long)(*c - '0');
		if (v >= (uid_t)-1)
			return -EINVAL; /* also stops the loop before any overflow */
	}
	*uid = (uid_t)v;
	return 0;
}

/*
 * Whether the peer of @p sock runs as a trusted uid: 0, DMACACHE_DAEMON_UID,
 * or *extra (NULL: none). @return 0, -EPERM (not trusted), -EINVAL (a
 * malformed DMACACHE_DAEMON_UID), or getsockopt()'s -errno.
 */
static int dmac__check_daemon(int sock, const uid_t *extra)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uid_t env_uid;
	int env;

	env = dmac__env_daemon_uid(&env_uid);
	if (env < 0)
		return env;
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	if (len != sizeof(cred))
		return -EPERM;
	if (cred.uid == 0 || (env == 0 && cred.uid == env_uid) || (extra && cred.uid == *extra))
		return 0;
	return -EPERM;
}

static int dmac__hello(struct dmac_client *c, const char *tenant)
{
	const struct dmac_proto_hello_rep *h;
	struct dmac_proto_view rep;
	size_t len;
	int rc;

	rc = dmac_proto_encode_hello_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, tenant, &len);
	if (rc)
		return rc;
	rc = dmac__call(c, len, NULL, 0, &rep);
	if (rc)
		return rc;
	if (rep.status)
		return -(int)rep.status;
	h = (const void *)rep.hdr;
	if (h->version > DMAC_PROTO_VERSION)
		return -EPROTO;
	c->info.version = h->version;
	c->info.max_vec = h->max_vec;
	c->info.session_id = h->session_id;
	c->info.quota_pinned_bytes = h->quota_pinned_bytes;
	c->info.quota_leases = h->quota_leases;
	c->info.iova_start = h->iova_start;
	c->info.iova_last = h->iova_last;
	c->info.max_fds = h->max_fds;
	c->info.max_msg = h->max_msg;
	c->max_vec = h->max_vec < DMAC_PROTO_MAX_VEC ? h->max_vec : DMAC_PROTO_MAX_VEC;
	c->max_fds = h->max_fds < DMAC_PROTO_MAX_FDS ? h->max_fds : DMAC_PROTO_MAX_FDS;
	return 0;
}

static int dmac__connect_fd(int sock, const char *tenant, uint32_t flags, const uid_t *daemon_uid,
			    struct dmac_client **out)
{
	char field[DMAC_PROTO_TENANT_MAX];
	struct dmac_client *c;
	int rc;

	if (sock < 0 || !out || (flags & ~DMAC_CLIENT_DEFER_RELEASE) ||
	    (daemon_uid && *daemon_uid == (uid_t)-1))
		return -EINVAL;
	rc = dmac__check_tenant(tenant, field);
	if (rc)
		return rc;
	rc = dmac__check_daemon(sock, daemon_uid);
	if (rc)
		return rc;
	dmac__thread_ready();

	c = dmac__calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->sock = sock;
	c->defer = flags & DMAC_CLIENT_DEFER_RELEASE;
	memcpy(c->info.tenant, field, sizeof(field));
	rc = pthread_mutex_init(&c->lock, NULL);
	if (rc) {
		dmac__free(c);
		return -rc;
	}
	c->tx = dmac__aligned_alloc(8, DMAC_PROTO_MAX_MSG);
	c->rx = dmac__aligned_alloc(8, DMAC_PROTO_MAX_MSG);
	if (!c->tx || !c->rx)
		goto free_client;
	if (dmac__table_init(&c->regs) || dmac__ltab_init(&c->leases))
		goto free_client;
	if (dmac_imap_create(&c->map))
		goto free_client;
	rc = dmac__hello(c, field);
	if (rc)
		goto free_client_rc;
	c->shut_on_death = true;
	*out = c;
	return 0;

free_client:
	rc = -ENOMEM;
free_client_rc:
	dmac__client_free(c, false);
	return rc;
}

DMAC_EXPORT int dmac_client_connect_fd(int sock, const char *tenant, uint32_t flags,
				       struct dmac_client **out)
{
	return dmac__connect_fd(sock, tenant, flags, NULL, out);
}

DMAC_EXPORT int dmac_client_connect_fd_uid(int sock, const char *tenant, uint32_t flags,
					   uid_t daemon_uid, struct dmac_client **out)
{
	return dmac__connect_fd(sock, tenant, flags, &daemon_uid, out);
}

/* Bound the socket's sends (connect() included) and receives: 0 or -errno. */
static int dmac__set_timeout(int sock, unsigned int timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
			     .tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000};

	if (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

static int dmac__connect(const char *path, const char *tenant, uint32_t flags,
			 const uid_t *daemon_uid, unsigned int timeout_ms, struct dmac_client **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char field[DMAC_PROTO_TENANT_MAX];
	uid_t env_uid;
	size_t n;
	int sock, rc;

	if (!out || (flags & ~DMAC_CLIENT_DEFER_RELEASE) ||
	    (daemon_uid && *daemon_uid == (uid_t)-1))
		return -EINVAL;
	rc = dmac__check_tenant(tenant, field);
	if (rc)
		return rc;
	/* a malformed DMACACHE_DAEMON_UID fails before any connect() */
	if (dmac__env_daemon_uid(&env_uid) < 0)
		return -EINVAL;
	if (!path)
		path = DMAC_CLIENT_DEFAULT_SOCKET;
	n = strlen(path);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);

	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	if (timeout_ms) {
		rc = dmac__set_timeout(sock, timeout_ms);
		if (rc)
			goto close_sock;
	}
	if (connect(sock, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* a full listen queue past SO_SNDTIMEO is EAGAIN */
		rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
		goto close_sock;
	}
	rc = dmac__connect_fd(sock, tenant, flags, daemon_uid, out);
	if (rc)
		goto close_sock;
	return 0;

close_sock:
	close(sock);
	return rc;
}

DMAC_EXPORT int dmac_client_connect(const char *path, const char *tenant, uint32_t flags,
				    struct dmac_client **out)
{
	return dmac__connect(path, tenant, flags, NULL, 0, out);
}

DMAC_EXPORT int dmac_client_connect_timeout(const char *path, const char *tenant, uint32_t flags,
					    unsigned int timeout_ms, struct dmac_client **out)
{
	return dmac__connect(path, tenant, flags, NULL, timeout_ms, out);
}

DMAC_EXPORT int dmac_client_connect_uid(const char *path, const char *tenant, uint32_t flags,
					uid_t daemon_uid, struct dmac_client **out)
{
	return dmac__connect(path, tenant, flags, &daemon_uid, 0, out);
}

DMAC_EXPORT void dmac_client_close(struct dmac_client *c)
{
	if (!c)
		return;
	dmac__thread_ready();
	dmac__client_free(c, true);
}

DMAC_EXPORT int dmac_client_info(const struct dmac_client *c, struct dmac_client_info *out)
{
	if (!c || !out)
		return -EINVAL;
	*out = c->info;
	return 0;
}

/* ---------------------------------------------------------------- register */

static int dmac__check_prot(uint32_t prot)
{
	if (prot & ~DMAC__PROT_ALL)
		return -EOPNOTSUPP;
	return prot ? 0 : -EINVAL;
}

/* Offset/length checks shared by register and lease: granule, non-empty, no wrap. */
static int dmac__check_range(uint64_t offset, uint64_t length)
{
	uint64_t end;

	if (!length || (offset | length) % DMAC_CLIENT_PAGE)
		return -EINVAL;
	if (__builtin_add_overflow(offset, length, &end))
		return -EOVERFLOW;
	return 0;
}

static int dmac__check_reg_range(const struct dmac_client_range *r)
{
	struct dmac_proto_fdinfo fi;
	uint64_t end;
	int rc;

	if (!r->va)
		return -EINVAL;
	rc = dmac__check_prot(r->prot);
	if (!rc)
		rc = dmac__check_range(r->offset, r->length);
	if (rc)
		return rc;
	if (__builtin_add_overflow((uint64_t)(uintptr_t)r->va, r->length, &end))
		return -EOVERFLOW;
	if (r->fd < 0)
		return -EBADF;
	rc = dmac_proto_fd_inspect(r->fd, &fi);
	if (rc)
		return rc;
	rc = dmac_proto_fd_check_range(&fi, r->offset, r->length);
	if (rc)
		return rc;
	/* the daemon decides the same from the same facts (protocol.md 5.4) */
	return dmac_proto_fd_check_prot(r->fd, &fi, r->prot);
}

DMAC_EXPORT int dmac_client_register_v(struct dmac_client *c,
				       const struct dmac_client_range *ranges, size_t n,
				       uint64_t *reg_ids)
{
	struct dmac_proto_reg_range *wire = NULL;
	struct dmac__reg **recs = NULL;
	int fds[DMAC_PROTO_MAX_FDS];
	const struct dmac_proto_reg_result *res;
	struct dmac_proto_view rep;
	unsigned int nfds = 0;
	size_t len, i;
	int rc;

	if (!c || !ranges || !reg_ids || !n)
		return -EINVAL;
	if (n > DMAC_PROTO_MAX_VEC)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		rc = dmac__check_reg_range(&ranges[i]);
		if (rc)
			return rc;
	}
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac__flush_if_old(c);
	if (rc)
		goto unlock;
	rc = -E2BIG;
	if (n > c->max_vec)
		goto unlock;

	rc = -ENOMEM;
	wire = dmac__calloc(n, sizeof(*wire));
	recs = dmac__calloc(n, sizeof(*recs));
	if (!wire || !recs)
		goto free_arrays;
	for (i = 0; i < n; i++) {
		unsigned int k;

		for (k = 0; k < nfds && fds[k] != ranges[i].fd; k++)
			;
		if (k == nfds) {
			if (nfds == c->max_fds) {
				rc = -E2BIG;
				goto free_arrays;
			}
			fds[nfds++] = ranges[i].fd;
		}
		wire[i].fd_index = k;
		wire[i].prot = ranges[i].prot;
		wire[i].offset = ranges[i].offset;
		wire[i].length = ranges[i].length;
	}
	for (i = 0; i < n; i++) {
		recs[i] = dmac__calloc(1, sizeof(*recs[i]));
		if (!recs[i])
			goto free_recs;
	}
	if (dmac__table_reserve(&c->regs, n))
		goto free_recs;

	rc = dmac_proto_encode_register_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, wire, (uint32_t)n,
					    nfds, &len);
	if (rc)
		goto free_recs;
	rc = dmac__call(c, len, fds, nfds, &rep);
	if (rc)
		goto free_recs;
	if (rep.status) {
		rc = -(int)rep.status;
		goto free_recs;
	}
	/* A duplicate id would corrupt the table: treat it as a broken daemon. */
	for (i = 0; i < n; i++) {
		res = dmac_proto_view_elem(&rep, (uint32_t)i);
		for (size_t k = 0; k < i; k++)
			if (recs[k]->r.id == res->reg_id)
				goto bad_reply;
		if (dmac__reg_find(c, res->reg_id))
			goto bad_reply;
		recs[i]->r.id = res->reg_id;
	}
	for (i = 0; i < n; i++) {
		res = dmac_proto_view_elem(&rep, (uint32_t)i);
		recs[i]->va = (uintptr_t)ranges[i].va;
		recs[i]->offset = ranges[i].offset;
		recs[i]->length = ranges[i].length;
		recs[i]->prot = ranges[i].prot;
		recs[i]->page_shift = res->page_shift;
		dmac__table_insert(&c->regs, &recs[i]->r);
		reg_ids[i] = res->reg_id;
	}
	rc = 0;
	goto free_arrays;

bad_reply:
	dmac__go_dead(c, -EPROTO);
	rc = -EPROTO;
free_recs:
	for (i = 0; i < n; i++)
		dmac__free(recs[i]);
free_arrays:
	dmac__free(recs);
	dmac__free(wire);
unlock:
	dmac__unlock(c);
	return rc;
}

DMAC_EXPORT int dmac_client_register(struct dmac_client *c, int fd, uint64_t offset,
				     uint64_t length, uint32_t prot, void *va, uint64_t *reg_id)
{
	struct dmac_client_range r = {
	    .fd = fd, .prot = prot, .offset = offset, .length = length, .va = va};

	return dmac_client_register_v(c, &r, 1, reg_id);
}

DMAC_EXPORT int dmac_client_unregister(struct dmac_client *c, uint64_t reg_id)
{
	struct dmac_proto_unreg_item item = {.reg_id = reg_id};
	const struct dmac_proto_item_status *st;
	struct dmac_proto_view rep;
	struct dmac__reg *reg;
	size_t len;
	int rc;

	if (!c || !reg_id)
		return -EINVAL;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac__flush(c); /* deferred releases first: the daemon must see them */
	if (rc)
		goto unlock;
	reg = dmac__reg_find(c, reg_id);
	rc = -ENOENT;
	if (!reg)
		goto unlock;
	rc = -EBUSY;
	if (reg->nleases)
		goto unlock;
	rc = dmac_proto_encode_unregister_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, &item, 1, &len);
	if (rc)
		goto unlock;
	rc = dmac__call(c, len, NULL, 0, &rep);
	if (rc)
		goto unlock;
	if (rep.status) {
		rc = -(int)rep.status;
		goto unlock;
	}
	st = dmac_proto_view_elem(&rep, 0);
	rc = -(int)st->status;
	if (!rc) {
		dmac__table_remove(&c->regs, reg_id);
		dmac__free(reg);
	}
unlock:
	dmac__unlock(c);
	return rc;
}

/* ---------------------------------------------------------------- lease */

/* True when [va, last] meets an interval of the local table. */
static bool dmac__va_busy(const struct dmac_imap *m, uint64_t va, uint64_t last)
{
	const struct dmac_imap_snap *s;
	struct dmac_imap_entry e;
	bool busy;

	/* Both reads from one snapshot: one version answers both questions. */
	dmac_imap_read_lock();
	s = dmac_imap_snapshot(m);
	busy = !dmac_imap_snap_lookup(s, va, &e) ||
	       (!dmac_imap_snap_next(s, va, &e) && e.start <= last);
	dmac_imap_read_unlock();
	return busy;
}

/* Check lease requests against the records; fills va[] (the VA of each). Under lock. */
static int dmac__check_leases(struct dmac_client *c, const struct dmac_client_lease_req *reqs,
			      size_t n, uintptr_t *va)
{
	for (size_t i = 0; i < n; i++) {
		const struct dmac_client_lease_req *q = &reqs[i];
		struct dmac__reg *reg;
		uint64_t end;
		int rc;

		if (q->reserved || !q->reg_id)
			return -EINVAL;
		rc = dmac__check_prot(q->prot);
		if (!rc)
			rc = dmac__check_range(q->offset, q->length);
		if (rc)
			return rc;
		reg = dmac__reg_find(c, q->reg_id);
		if (!reg)
			return -ENOENT;
		if (q->prot & ~reg->prot)
			return -EACCES;
		end = q->offset + q->length; /* no wrap: checked above */
		if (end > reg->length)
			return -ERANGE;
		va[i] = reg->va + (uintptr_t)q->offset;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t last = va[i] + reqs[i].length - 1;

		for (size_t k = 0; k < i; k++)
			if (va[k] <= last && va[i] <= va[k] + reqs[k].length - 1)
				return -EINVAL;
		if (dmac__va_busy(c->map, va[i], last))
			return -EEXIST;
	}
	return 0;
}

/*
 * Give back leases the daemon granted but the library could not record. Best
 * effort: a failure kills the connection, which reclaims them as well.
 */
static void dmac__undo_grants(struct dmac_client *c, const struct dmac_proto_release_item *items,
			      size_t n)
{
	struct dmac_proto_view rep;
	size_t len;

	if (dmac_proto_encode_release_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, items, (uint32_t)n,
					  &len) ||
	    dmac__call(c, len, NULL, 0, &rep))
		dmac__go_dead(c, -EPIPE);
}

/* The per-call arrays of a lease call; on the stack for n <= DMAC__STACK_VEC. */
struct dmac__lease_arrays {
	struct dmac_proto_lease_item *wire;
	struct dmac_proto_lease_grant *grant; /* copied out of the reply: rx is reused */
	struct dmac_proto_release_item *undo;
	uintptr_t *va;
	void *heap; /* the arrays' block when n > DMAC__STACK_VEC, else NULL */
};

/* One block for the four arrays of n elements. 0, -ENOMEM. */
static int dmac__lease_arrays_alloc(struct dmac__lease_arrays *a, size_t n)
{
	char *p = dmac__malloc(
	    n * (sizeof(*a->wire) + sizeof(*a->grant) + sizeof(*a->undo) + sizeof(*a->va)));

	if (!p)
		return -ENOMEM;
	a->heap = p;
	a->wire = (void *)p;
	a->grant = (void *)(a->wire + n);
	a->undo = (void *)(a->grant + n);
	a->va = (void *)(a->undo + n);
	return 0;
}

DMAC_EXPORT int dmac_client_lease_v(struct dmac_client *c, const struct dmac_client_lease_req *reqs,
				    size_t n, struct dmac_client_lease *out)
{
	struct dmac_proto_lease_item wire_s[DMAC__STACK_VEC];
	struct dmac_proto_lease_grant grant_s[DMAC__STACK_VEC];
	struct dmac_proto_release_item undo_s[DMAC__STACK_VEC];
	uintptr_t va_s[DMAC__STACK_VEC];
	struct dmac__lease_arrays a = {wire_s, grant_s, undo_s, va_s, NULL};
	struct dmac_imap_batch *b;
	struct dmac_proto_view rep;
	size_t len, i;
	int rc;

	if (!c || !reqs || !out || !n)
		return -EINVAL;
	if (n > DMAC_PROTO_MAX_VEC)
		return -E2BIG;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac__flush_if_old(c);
	if (rc)
		goto unlock;
	rc = -E2BIG;
	if (n > c->max_vec)
		goto unlock;

	if (n > DMAC__STACK_VEC) {
		rc = dmac__lease_arrays_alloc(&a, n);
		if (rc)
			goto unlock;
	}
	rc = dmac__check_leases(c, reqs, n, a.va);
	if (rc)
		goto free_arrays;
	for (i = 0; i < n; i++)
		a.wire[i] = (struct dmac_proto_lease_item){.reg_id = reqs[i].reg_id,
							   .offset = reqs[i].offset,
							   .length = reqs[i].length,
							   .prot = reqs[i].prot};
	/* Room in the lease index now: once granted, a lease must find its slot. */
	rc = dmac__ltab_reserve(&c->leases, n);
	if (rc)
		goto free_arrays;

send:
	rc = dmac_proto_encode_lease_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, a.wire, (uint32_t)n,
					 &len);
	if (rc)
		goto free_arrays;
	rc = dmac__call(c, len, NULL, 0, &rep);
	if (rc)
		goto free_arrays;
	if (rep.status) {
		rc = -(int)rep.status;
		/*
		 * Deferred releases still count at the daemon (quota, IOVA window) and
		 * still hold their ranges (a partial overlap is EEXIST): send them, then
		 * ask again, once.
		 */
		if (c->npend && (rc == -EDQUOT || rc == -ENOSPC || rc == -EEXIST)) {
			rc = dmac__flush(c);
			if (rc)
				goto free_arrays;
			goto send;
		}
		goto free_arrays;
	}
	/* rx is reused below: everything needed from the reply is copied now. */
	for (i = 0; i < n; i++) {
		a.grant[i] =
		    *(const struct dmac_proto_lease_grant *)dmac_proto_view_elem(&rep, (uint32_t)i);
		a.undo[i].lease_id = a.grant[i].lease_id;
		a.undo[i].generation = a.grant[i].generation;
	}
	for (i = 0; i < n; i++) {
		uint64_t id = a.grant[i].lease_id;
		bool bad =
		    !id || a.grant[i].length != reqs[i].length || dmac__lease_find(c, id) != NULL;

		for (size_t k = 0; k < i && !bad; k++)
			bad = a.grant[k].lease_id == id;
		if (bad) {
			/* Not what was asked: the session cannot be trusted any more. */
			dmac__go_dead(c, -EPROTO);
			rc = -EPROTO;
			goto free_arrays;
		}
	}

	rc = dmac_imap_batch_begin(c->map, &b);
	if (rc)
		goto undo_grants;
	for (i = 0; i < n; i++)
		dmac_imap_batch_insert(b, a.va[i], a.va[i] + reqs[i].length - 1, a.grant[i].iova);
	rc = dmac_imap_batch_commit(b); /* reports the first insert error too */
	if (rc)
		goto undo_grants;

	for (i = 0; i < n; i++) {
		struct dmac__lease *l = dmac__ltab_insert(&c->leases, a.grant[i].lease_id);

		l->generation = a.grant[i].generation;
		l->va = a.va[i];
		l->length = a.grant[i].length;
		l->reg = dmac__reg_find(c, reqs[i].reg_id);
		l->reg->nleases++;
		out[i].lease_id = l->id;
		out[i].generation = l->generation;
		out[i].iova = a.grant[i].iova;
		out[i].length = l->length;
		out[i].va = (void *)a.va[i];
	}
	rc = 0;
	goto free_arrays;

undo_grants:
	dmac__undo_grants(c, a.undo, n);
free_arrays:
	dmac__free(a.heap);
unlock:
	dmac__unlock(c);
	return rc;
}

DMAC_EXPORT int dmac_client_lease(struct dmac_client *c, uint64_t reg_id, uint64_t offset,
				  uint64_t length, uint32_t prot, struct dmac_client_lease *out)
{
	struct dmac_client_lease_req q = {
	    .reg_id = reg_id, .offset = offset, .length = length, .prot = prot};

	return dmac_client_lease_v(c, &q, 1, out);
}

/* ---------------------------------------------------------------- release */

/* Send RELEASE for n leases, chunk by chunk; fills results (NULL: none). */
static int dmac__send_releases(struct dmac_client *c, const struct dmac_proto_release_item *items,
			       size_t n, int *results)
{
	int first = 0;

	for (size_t done = 0; done < n;) {
		size_t k = n - done < c->max_vec ? n - done : c->max_vec;
		struct dmac_proto_view rep;
		size_t len;
		int rc;

		rc = c->dead ? -ECONNRESET : 0;
		if (!rc)
			rc = dmac_proto_encode_release_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag,
							   items + done, (uint32_t)k, &len);
		if (!rc)
			rc = dmac__call(c, len, NULL, 0, &rep);
		if (!rc && rep.status)
			rc = -(int)rep.status;
		for (size_t i = 0; i < k; i++) {
			int r = rc;

			if (!rc) {
				const struct dmac_proto_item_status *st =
				    dmac_proto_view_elem(&rep, (uint32_t)i);

				r = -(int)st->status;
			}
			if (results)
				results[done + i] = r;
			if (r && !first)
				first = r;
		}
		done += k;
	}
	return first;
}

static uint64_t dmac__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Send the deferred RELEASEs: one grace period covers all of them (their
 * translations left the table before they were queued), then one message per
 * max_vec leases. Under c->lock. A per-lease failure is kept in c->pend_err for
 * dmac_client_flush(); a transport failure kills the client and is returned.
 */
static int dmac__flush(struct dmac_client *c)
{
	int rc;

	if (!c->npend)
		return 0;
	/* Every translate that could still return these IOVAs has returned. */
	dmac_imap_synchronize();
	rc = dmac__send_releases(c, c->pend, c->npend, NULL);
	c->npend = 0;
	if (rc && !c->pend_err)
		c->pend_err = rc;
	return c->dead ? c->dead : 0;
}

/* Flush if the oldest pending release waited DMAC_CLIENT_DEFER_USEC or more. */
static int dmac__flush_if_old(struct dmac_client *c)
{
	if (!c->npend || dmac__now_ns() - c->pend_since < DMAC_CLIENT_DEFER_USEC * 1000u)
		return 0;
	return dmac__flush(c);
}

DMAC_EXPORT int dmac_client_flush(struct dmac_client *c)
{
	int rc;

	if (!c)
		return -EINVAL;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac__flush(c);
	if (!rc) {
		rc = c->pend_err;
		c->pend_err = 0;
	}
	dmac__unlock(c);
	return rc;
}

/*
 * Release step 1, under c->lock: the n marked leases out of the local table in one
 * batch. 0, or -ENOMEM with nothing changed (the records are still marked).
 */
static int dmac__unpublish(struct dmac_client *c, struct dmac__lease *const *recs, size_t n)
{
	struct dmac_imap_batch *b;
	int rc;

	rc = dmac_imap_batch_begin(c->map, &b);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		dmac_imap_batch_remove(b, recs[i]->va, recs[i]->va + recs[i]->length - 1);
	return dmac_imap_batch_commit(b);
}

/*
 * After step 1: drop the records of items[0..n-1] (their ids) from the lease
 * index, then either (2) a grace period and (3) RELEASE now, or, deferred, queue
 * them for dmac__flush(). Under c->lock. Each removal may move other slots, so
 * only the ids are used here, never a slot pointer taken before.
 */
static int dmac__release_unpublished(struct dmac_client *c,
				     const struct dmac_proto_release_item *items, size_t n,
				     int *results, bool defer)
{
	size_t i;

	/* Detach the records: a connection death below must not find them. */
	for (i = 0; i < n; i++) {
		struct dmac__lease l;

		if (dmac__ltab_remove(&c->leases, items[i].lease_id, &l))
			l.reg->nleases--;
	}
	if (defer) {
		/* 2 and 3 later: a batch of releases behind one grace period. */
		if (!c->npend)
			c->pend_since = dmac__now_ns();
		memcpy(c->pend + c->npend, items, n * sizeof(*items));
		c->npend += n;
		for (i = 0; results && i < n; i++)
			results[i] = 0;
		if (c->npend == DMAC_CLIENT_DEFER_MAX)
			return dmac__flush(c);
		return dmac__flush_if_old(c);
	}
	/* 2: every translate that could see the old table has returned. */
	dmac_imap_synchronize();
	/* 3: now the daemon may unmap. */
	return dmac__send_releases(c, items, n, results);
}

DMAC_EXPORT int dmac_client_release_v(struct dmac_client *c, const uint64_t *lease_ids, size_t n,
				      int *results)
{
	struct dmac_proto_release_item items_s[DMAC__STACK_VEC];
	struct dmac__lease *recs_s[DMAC__STACK_VEC];
	struct dmac_proto_release_item *items = items_s;
	struct dmac__lease **recs = recs_s;
	void *heap = NULL;
	bool defer;
	size_t i;
	int rc;

	if (!c || !lease_ids || !n)
		return -EINVAL;
	if (n > SIZE_MAX / (sizeof(*items) + sizeof(*recs)))
		return -ENOMEM;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	if (n > DMAC__STACK_VEC) {
		heap = dmac__malloc(n * (sizeof(*items) + sizeof(*recs)));
		rc = -ENOMEM;
		if (!heap)
			goto unlock;
		items = heap;
		recs = (void *)(items + n);
	}
	/* Slot pointers stay valid until the index changes: after step 1. */
	for (i = 0; i < n; i++) {
		recs[i] = dmac__lease_find(c, lease_ids[i]);
		rc = !recs[i] ? -ENOENT : recs[i]->mark ? -EINVAL : 0;
		if (rc)
			goto unmark;
		recs[i]->mark = 1;
		items[i].lease_id = recs[i]->id;
		items[i].generation = recs[i]->generation;
	}
	/* Room for them in the pending list: a flush sends the older ones first; more
	 * than it holds at once are released at once, as without the flag. */
	defer = c->defer && n <= DMAC_CLIENT_DEFER_MAX;
	if (defer && c->npend + n > DMAC_CLIENT_DEFER_MAX) {
		rc = dmac__flush(c);
		if (rc)
			goto free_arrays; /* only when dead: dmac__go_dead() emptied the index */
	}
	rc = dmac__unpublish(c, recs, n);
	if (rc)
		goto unmark;
	rc = dmac__release_unpublished(c, items, n, results, defer);
	goto free_arrays;

unmark:
	/* a lookup failed at i, or step 1 after all n were marked (i == n) */
	while (i-- > 0)
		recs[i]->mark = 0;
free_arrays:
	dmac__free(heap);
unlock:
	dmac__unlock(c);
	return rc;
}

DMAC_EXPORT int dmac_client_release(struct dmac_client *c, uint64_t lease_id)
{
	int result = 0;
	int rc = dmac_client_release_v(c, &lease_id, 1, &result);

	return rc ? rc : result;
}

/* ---------------------------------------------------------------- query, stats */

DMAC_EXPORT int dmac_client_query(struct dmac_client *c, uint64_t *cursor,
				  struct dmac_client_lease_info *out, size_t max, size_t *count)
{
	const struct dmac_proto_query_rep *q;
	struct dmac_proto_view rep;
	uint32_t ask;
	size_t len;
	int rc;

	if (!c || !cursor || !out || !max || !count)
		return -EINVAL;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac__flush(c); /* deferred releases first: the daemon must see them */
	if (rc)
		goto unlock;
	ask = max < c->max_vec ? (uint32_t)max : c->max_vec;
	rc = dmac_proto_encode_query_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, *cursor, ask, &len);
	if (rc)
		goto unlock;
	rc = dmac__call(c, len, NULL, 0, &rep);
	if (rc)
		goto unlock;
	if (rep.status) {
		rc = -(int)rep.status;
		goto unlock;
	}
	q = (const void *)rep.hdr;
	for (uint32_t i = 0; i < rep.count; i++) {
		const struct dmac_proto_lease_info *e = dmac_proto_view_elem(&rep, i);
		const struct dmac__lease *l = dmac__lease_find(c, e->lease_id);

		memset(&out[i], 0, sizeof(out[i]));
		out[i].lease_id = e->lease_id;
		out[i].generation = e->generation;
		out[i].iova = e->iova;
		out[i].length = e->length;
		out[i].reg_id = e->reg_id;
		out[i].reg_offset = e->reg_offset;
		out[i].prot = e->prot;
		out[i].va = l && l->generation == e->generation ? (void *)l->va : NULL;
	}
	*count = rep.count;
	*cursor = q->next_cursor;
unlock:
	dmac__unlock(c);
	return rc;
}

DMAC_EXPORT int dmac_client_stats(struct dmac_client *c, struct dmac_client_stats *out)
{
	const struct dmac_proto_stats_rep *s;
	struct dmac_proto_view rep;
	size_t len;
	int rc;

	if (!c || !out)
		return -EINVAL;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac__flush(c); /* deferred releases first: the daemon must see them */
	if (rc)
		goto unlock;
	rc = dmac_proto_encode_stats_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, &len);
	if (rc)
		goto unlock;
	rc = dmac__call(c, len, NULL, 0, &rep);
	if (rc)
		goto unlock;
	if (rep.status) {
		rc = -(int)rep.status;
		goto unlock;
	}
	s = (const void *)rep.hdr;
	/* a version-1 daemon sends the first nine counters; the others are 0 */
	memset(out, 0, sizeof(*out));
	memcpy(out, &s->stats,
	       rep.hdr->size - sizeof(s->hdr) < sizeof(*out) ? rep.hdr->size - sizeof(s->hdr)
							     : sizeof(*out));
unlock:
	dmac__unlock(c);
	return rc;
}

/* ---------------------------------------------------------------- devices */

DMAC_EXPORT void dmac_client_device_close(struct dmac_client_device *d)
{
	if (!d)
		return;
	for (unsigned int i = 0; i < 6; i++)
		if (d->bars[i].fd >= 0) {
			close(d->bars[i].fd);
			d->bars[i].fd = -1;
		}
	for (uint32_t i = 0; i < d->nirqs && i < DMAC_CLIENT_MAX_FDS; i++)
		if (d->irq_fds[i] >= 0) {
			close(d->irq_fds[i]);
			d->irq_fds[i] = -1;
		}
	if (d->device_fd >= 0)
		close(d->device_fd);
	d->device_fd = -1;
}

DMAC_EXPORT int dmac_client_device_get(struct dmac_client *c, const char *bdf, unsigned int index,
				       struct dmac_client_device *out)
{
	const struct dmac_proto_device_rep *r;
	int fds[DMAC_PROTO_MAX_FDS];
	struct dmac_proto_view rep;
	unsigned int nfds = 0;
	size_t len;
	int rc;

	if (!c || !out || (!bdf && index >= DMAC_PROTO_MAX_DEVICES))
		return -EINVAL;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac_proto_encode_device_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, bdf ? 0 : index, bdf,
					  &len);
	if (rc)
		goto unlock;
	rc = dmac__call_fds(c, len, NULL, 0, &rep, fds, &nfds);
	if (rc)
		goto unlock;
	if (rep.status) {
		rc = -(int)rep.status;
		goto unlock;
	}
	/* The codec checked the fd order against the fds received. */
	r = (const void *)rep.hdr;
	memset(out, 0, sizeof(*out));
	memcpy(out->bdf, r->bdf, sizeof(out->bdf));
	out->vendor_id = r->vendor_id;
	out->device_id = r->device_id;
	out->numa_node = r->numa_node;
	out->trusted = r->mode == DMAC_PROTO_DEVICE_TRUSTED;
	out->irq_type = r->irq_type;
	out->nirqs = r->nirqs;
	for (uint32_t i = 0; i < r->nirqs; i++)
		out->irq_fds[i] = fds[r->irq_fd_first + i];
	for (uint32_t i = r->nirqs; i < DMAC_CLIENT_MAX_FDS; i++)
		out->irq_fds[i] = -1;
	for (unsigned int i = 0; i < 6; i++) {
		out->bars[i].size = r->bars[i].size;
		out->bars[i].flags = r->bars[i].flags;
		out->bars[i].fd =
		    r->bars[i].fd_index == DMAC_PROTO_NO_FD ? -1 : fds[r->bars[i].fd_index];
	}
	out->device_fd = r->device_fd_index == DMAC_PROTO_NO_FD ? -1 : fds[r->device_fd_index];
unlock:
	dmac__unlock(c);
	return rc;
}

/* ---------------------------------------------------------------- admin */

/*
 * One page of a QUERY-shaped admin request; copies each element out with
 * @p copy (given the view, to copy elements of any size the codec accepted).
 * Same contract as dmac_client_query().
 */
static int dmac__admin_page(struct dmac_client *c, uint32_t op, uint64_t *cursor, void *out,
			    size_t max, size_t *count,
			    void (*copy)(void *out, size_t i, const struct dmac_proto_view *rep))
{
	const struct dmac_proto_query_rep *q;
	struct dmac_proto_view rep;
	uint32_t ask;
	size_t len;
	int rc;

	if (!c || !cursor || !out || !max || !count)
		return -EINVAL;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac__flush(c); /* deferred releases first: the daemon must see them */
	if (rc)
		goto unlock;
	ask = max < c->max_vec ? (uint32_t)max : c->max_vec;
	if (op == DMAC_OP_ADMIN_TENANTS)
		rc = dmac_proto_encode_admin_tenants_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag,
							 *cursor, ask, &len);
	else if (op == DMAC_OP_ADMIN_LEASES)
		rc = dmac_proto_encode_admin_leases_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag,
							*cursor, ask, &len);
	else
		rc = dmac_proto_encode_admin_sessions_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag,
							  *cursor, ask, &len);
	if (rc)
		goto unlock;
	rc = dmac__call(c, len, NULL, 0, &rep);
	if (rc)
		goto unlock;
	if (rep.status) {
		rc = -(int)rep.status;
		goto unlock;
	}
	q = (const void *)rep.hdr;
	for (uint32_t i = 0; i < rep.count; i++)
		copy(out, i, &rep);
	*count = rep.count;
	*cursor = q->next_cursor;
unlock:
	dmac__unlock(c);
	return rc;
}

static void dmac__copy_tenant(void *out, size_t i, const struct dmac_proto_view *rep)
{
	struct dmac_proto_tenant_info e; /* an older daemon's element is shorter */
	struct dmac_client_tenant_info *t = (struct dmac_client_tenant_info *)out + i;

	dmac_proto_view_elem_copy(rep, (uint32_t)i, &e, sizeof(e));
	memcpy(t->name, e.name, sizeof(t->name));
	t->sessions = e.sessions;
	t->leases = e.leases;
	t->bytes_leased = e.bytes_leased;
	t->quota_pinned_bytes = e.quota_pinned_bytes;
	t->quota_leases = e.quota_leases;
	t->iova_start = e.iova_start;
	t->iova_last = e.iova_last;
	t->bytes_registered = e.bytes_registered;
	t->bytes_pinned = e.bytes_pinned;
	t->bytes_kept = e.bytes_kept;
	t->registrations = e.registrations;
	t->cache_hits = e.cache_hits;
	t->cache_misses = e.cache_misses;
	t->copy_hits = e.copy_hits;
	t->copy_misses = e.copy_misses;
	t->lease_requests = e.lease_requests;
}

static void dmac__copy_session(void *out, size_t i, const struct dmac_proto_view *rep)
{
	const struct dmac_proto_session_info *e = dmac_proto_view_elem(rep, (uint32_t)i);
	struct dmac_client_session_info *s = (struct dmac_client_session_info *)out + i;

	memset(s, 0, sizeof(*s));
	s->session_id = e->session_id;
	s->pid = e->pid;
	s->uid = e->uid;
	s->gid = e->gid;
	s->pidfd = !!(e->flags & DMAC_PROTO_SESSION_F_PIDFD);
	memcpy(s->tenant, e->tenant, sizeof(s->tenant));
	memcpy(s->comm, e->comm, sizeof(s->comm)); /* NUL-terminated: the codec checked */
	s->registrations = e->registrations;
	s->bytes_registered = e->bytes_registered;
	s->leases = e->leases;
	s->bytes_leased = e->bytes_leased;
}

static void dmac__copy_admin_lease(void *out, size_t i, const struct dmac_proto_view *rep)
{
	const struct dmac_proto_admin_lease *e = dmac_proto_view_elem(rep, (uint32_t)i);
	struct dmac_client_admin_lease *l = (struct dmac_client_admin_lease *)out + i;

	memset(l, 0, sizeof(*l));
	l->info.lease_id = e->info.lease_id;
	l->info.generation = e->info.generation;
	l->info.iova = e->info.iova;
	l->info.length = e->info.length;
	l->info.reg_id = e->info.reg_id;
	l->info.reg_offset = e->info.reg_offset;
	l->info.prot = e->info.prot;
	l->session_id = e->session_id;
	memcpy(l->tenant, e->tenant, sizeof(l->tenant));
}

DMAC_EXPORT int dmac_client_admin_tenants(struct dmac_client *c, uint64_t *cursor,
					  struct dmac_client_tenant_info *out, size_t max,
					  size_t *count)
{
	return dmac__admin_page(c, DMAC_OP_ADMIN_TENANTS, cursor, out, max, count,
				dmac__copy_tenant);
}

DMAC_EXPORT int dmac_client_admin_leases(struct dmac_client *c, uint64_t *cursor,
					 struct dmac_client_admin_lease *out, size_t max,
					 size_t *count)
{
	return dmac__admin_page(c, DMAC_OP_ADMIN_LEASES, cursor, out, max, count,
				dmac__copy_admin_lease);
}

DMAC_EXPORT int dmac_client_admin_sessions(struct dmac_client *c, uint64_t *cursor,
					   struct dmac_client_session_info *out, size_t max,
					   size_t *count)
{
	return dmac__admin_page(c, DMAC_OP_ADMIN_SESSIONS, cursor, out, max, count,
				dmac__copy_session);
}

DMAC_EXPORT int dmac_client_admin_histogram(struct dmac_client *c, uint32_t id,
					    struct dmac_client_histogram *out)
{
	const struct dmac_proto_histogram_rep *h;
	struct dmac_proto_view rep;
	size_t len;
	int rc;

	if (!c || !out || !id)
		return -EINVAL;
	rc = dmac__lock(c);
	if (rc)
		return rc;
	rc = dmac_proto_encode_histogram_req(c->tx, DMAC_PROTO_MAX_MSG, ++c->tag, id, &len);
	if (rc)
		goto unlock;
	rc = dmac__call(c, len, NULL, 0, &rep);
	if (rc)
		goto unlock;
	if (rep.status) {
		rc = -(int)rep.status;
		goto unlock;
	}
	/* the codec checked: 1..64 buckets, bounds increasing, counts adding up */
	h = (const void *)rep.hdr;
	memset(out, 0, sizeof(*out));
	out->count = h->count;
	out->sum = h->sum;
	out->nbuckets = rep.count;
	for (uint32_t i = 0; i < rep.count; i++) {
		const struct dmac_proto_hist_bucket *b = dmac_proto_view_elem(&rep, i);

		out->buckets[i].le = b->le;
		out->buckets[i].count = b->count;
	}
unlock:
	dmac__unlock(c);
	return rc;
}

/* ---------------------------------------------------------------- translate */

DMAC_EXPORT uint64_t dmac_client_translate(const struct dmac_client *c, const void *va, size_t *len)
{
	uint64_t want = len ? *len : 1, got = 0, iova;
	const struct dmac_imap *m;

	if (dmac_unlikely(!c)) {
		if (len)
			*len = 0;
		return DMAC_CLIENT_IOVA_ERROR;
	}
	dmac__thread_ready();
	dmac_imap_read_lock();
	m = __atomic_load_n(&c->map, __ATOMIC_ACQUIRE);
	iova = dmac_imap_translate(m, (uintptr_t)va, want, &got);
	dmac_imap_read_unlock();
	if (len)
		*len = iova == DMAC_IMAP_NONE ? 0 : (size_t)got;
	return iova;
}

DMAC_EXPORT size_t dmac_client_translate_burst(const struct dmac_client *c, const void *const *va,
					       size_t *len, uint64_t *iova, size_t n)
{
	const struct dmac_imap_snap *s;
	size_t hits = 0;

	if (dmac_unlikely(!c)) {
		for (size_t i = 0; i < n; i++) {
			iova[i] = DMAC_CLIENT_IOVA_ERROR;
			if (len)
				len[i] = 0;
		}
		return 0;
	}
	dmac__thread_ready();
	dmac_imap_read_lock();
	s = dmac_imap_snapshot(__atomic_load_n(&c->map, __ATOMIC_ACQUIRE));
	for (size_t i = 0; i < n; i++) {
		uint64_t want = len ? len[i] : 1, got = 0;
		uint64_t t = dmac_imap_snap_translate(s, (uintptr_t)va[i], want, &got);

		iova[i] = t;
		if (len)
			len[i] = t == DMAC_IMAP_NONE ? 0 : (size_t)got;
		hits += t != DMAC_IMAP_NONE;
	}
	dmac_imap_read_unlock();
	return hits;
}

DMAC_EXPORT const char *dmac_client_strerror(int err)
{
	return dmac_proto_strerror(err);
}
