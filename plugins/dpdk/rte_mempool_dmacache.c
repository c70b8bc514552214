/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "dmacache" DPDK mempool driver (DPDK 22.11 mempool ops).
 *
 * Free objects live in an rte_ring (alloc/free/enqueue/dequeue/get_count);
 * memory is leased from dmacached in populate, one lease per fd-contiguous piece
 * of each chunk, and every object's IOVA is what libdmacache translates for it.
 *
 * Invariants:
 * - A piece is [va, va + len) of one memory chunk, backed by [foff, foff + len)
 *   of one DPDK segment fd; 'len' and both starts are multiples of the segment
 *   list's page size; 'end' values are exclusive. Pieces of a chunk are in VA
 *   order and never overlap.
 * - Only whole pages inside a chunk are leased, so no two pools (and nothing
 *   else) share a leased page: a VA is covered by at most one lease.
 * - Segment fds are DPDK's own: read under rte_mcfg_mem_read_lock(), used only
 *   while the chunk (and so each of its segments) stays allocated, never closed
 *   here; the daemon keeps its own reference once REGISTER returns.
 * - No object crosses a piece, so one lease covers each object and its IOVA range
 *   is contiguous; an object's IOVA is never DPDK's (ms->iova is not read).
 * - Every registration and lease taken for a pool is in its 'held' array until
 *   the pool's free op releases it; a populate that fails releases what it took
 *   itself and leaves 'held' as it found it.
 * - One libdmacache connection per process (g_client), opened under g_lock by
 *   the first alloc that needs it and never closed (the daemon reclaims on
 *   exit); g_sock/g_tenant say what it was opened with, and are written
 *   before g_client is published, never after.
 * - Every pool of the driver is on g_pools from its alloc to its free; its
 *   'held' array and its count change only under g_pools_lock, so the
 *   telemetry commands (/dmacache/info, /dmacache/leases) read a consistent
 *   copy. No daemon round trip is made under g_pools_lock.
 * - Every refusal and failure of the driver logs one line (MEMPOOL, prefixed
 *   "dmacache: ") saying what failed and, where the user can act, what to do.
 *
 * Concurrency: DPDK calls alloc/calc_mem_size/populate/free of one pool from one
 * control thread at a time; enqueue/dequeue/get_count from any lcore (the ring
 * is lock-free); the telemetry callbacks from EAL's telemetry thread. The
 * process-wide state is guarded by g_lock, the pool list by g_pools_lock;
 * g_client is read without either (an atomic pointer that goes from NULL to a
 * client once).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <rte_eal_memconfig.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_memory.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_telemetry.h>

#include "dmac/dmacache.h"
#include "dmac_alloc.h"
#include "rte_mempool_dmacache.h"

#define DMAC__LOG(level, ...) RTE_LOG(level, MEMPOOL, "dmacache: " __VA_ARGS__)

#define DMAC__SOCK_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* One piece of a chunk (see the invariants). */
struct dmac__piece {
	char *va;
	uint64_t len;
	int fd;
	uint64_t foff;
	unsigned int nobj; /* objects placed in it */
};

/* A registration and the lease taken on all of it (lease_id 0: not yet). */
struct dmac__held {
	uint64_t reg_id;
	uint64_t lease_id;
	uint64_t iova;
	uint64_t length;
	void *va;
};

/* mp->pool_data. */
struct dmac__pool {
	struct rte_ring *ring;
	struct dmac_client *c;
	struct dmac__held *held; /* held[0..nheld): under g_pools_lock */
	size_t nheld, capheld;
	char name[RTE_MEMPOOL_NAMESIZE];
	struct dmac__pool *next; /* g_pools */
};

static pthread_mutex_t g_pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dmac__pool *g_pools;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dmac_client *_Atomic g_client;
static char g_sock[DMAC__SOCK_MAX];
static char g_tenant[DMAC_CLIENT_TENANT_MAX];
/* dmac_dpdk_mempool_configure(); empty string: not set. */
static char g_cfg_sock[DMAC__SOCK_MAX];
static char g_cfg_tenant[DMAC_CLIENT_TENANT_MAX];

int dmac_dpdk_mempool_configure(const struct dmac_dpdk_mempool_config *cfg)
{
	int rc = 0;

	if (cfg && cfg->socket_path && strlen(cfg->socket_path) >= DMAC__SOCK_MAX)
		return -ENAMETOOLONG;
	if (cfg && cfg->tenant && strlen(cfg->tenant) >= DMAC_CLIENT_TENANT_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&g_lock);
	if (atomic_load(&g_client)) {
		rc = -EBUSY;
		goto unlock;
	}
	strcpy(g_cfg_sock, cfg && cfg->socket_path ? cfg->socket_path : "");
	strcpy(g_cfg_tenant, cfg && cfg->tenant ? cfg->tenant : "");
unlock:
	pthread_mutex_unlock(&g_lock);
	return rc;
}

struct dmac_client *dmac_dpdk_mempool_client(void)
{
	return atomic_load(&g_client);
}

/* First non-empty of the pool's field, configure(), the environment. */
static const char *dmac__pick(const char *pool, const char *global, const char *env)
{
	if (pool && pool[0])
		return pool;
	if (global[0])
		return global;
	env = getenv(env);
	return env && env[0] ? env : NULL;
}

/*
 * The shared client, opened on first use with the pool's configuration.
 * Returns 0 or -errno (logged with what to change). Takes g_lock.
 */
static int dmac__get_client(const struct rte_mempool *mp, struct dmac_client **out)
{
	const struct dmac_dpdk_mempool_config *cfg = mp->pool_config;
	const char *sock, *tenant;
	struct dmac_client *c;
	int rc = 0;

	pthread_mutex_lock(&g_lock);
	sock = dmac__pick(cfg ? cfg->socket_path : NULL, g_cfg_sock, DMAC_DPDK_ENV_SOCKET);
	if (!sock)
		sock = DMAC_CLIENT_DEFAULT_SOCKET;
	tenant = dmac__pick(cfg ? cfg->tenant : NULL, g_cfg_tenant, DMAC_DPDK_ENV_TENANT);
	if (!tenant) {
		DMAC__LOG(ERR,
			  "pool %s: no tenant: set " DMAC_DPDK_ENV_TENANT
			  " (or the tenant of struct dmac_dpdk_mempool_config)\n",
			  mp->name);
		rc = -EINVAL;
		goto unlock;
	}
	if (strlen(sock) >= DMAC__SOCK_MAX || strlen(tenant) >= DMAC_CLIENT_TENANT_MAX) {
		DMAC__LOG(ERR, "pool %s: socket path or tenant name too long\n", mp->name);
		rc = -ENAMETOOLONG;
		goto unlock;
	}
	c = atomic_load(&g_client);
	if (c) {
		if (strcmp(sock, g_sock) || strcmp(tenant, g_tenant)) {
			DMAC__LOG(ERR,
				  "pool %s: asks for tenant '%s' at %s, but this process is "
				  "already connected as tenant '%s' at %s: one tenant per "
				  "process\n",
				  mp->name, tenant, sock, g_tenant, g_sock);
			rc = -EINVAL;
			goto unlock;
		}
		*out = c;
		goto unlock;
	}
	rc = dmac_client_connect(sock, tenant, 0, &c);
	if (rc) {
		/* -ENOENT is also connect()'s "no such socket" */
		if (rc == -EPERM || (rc == -ENOENT && access(sock, F_OK) == 0))
			DMAC__LOG(ERR,
				  "pool %s: dmacached at %s refused tenant '%s': %s (%s); "
				  "set " DMAC_DPDK_ENV_TENANT
				  " to a tenant of the daemon's config that allows this uid/gid\n",
				  mp->name, sock, tenant, dmac_client_strerror(rc), strerror(-rc));
		else
			DMAC__LOG(ERR,
				  "pool %s: cannot reach dmacached at %s: %s; start dmacached or "
				  "set " DMAC_DPDK_ENV_SOCKET
				  " (or the socket_path of struct dmac_dpdk_mempool_config)\n",
				  mp->name, sock, strerror(-rc));
		goto unlock;
	}
	strcpy(g_sock, sock);
	strcpy(g_tenant, tenant);
	atomic_store(&g_client, c);
	*out = c;
unlock:
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* What dmac__probe_seg() found. */
enum dmac__mem_kind { DMAC__MEM_OK, DMAC__MEM_NO_FD, DMAC__MEM_UNSEALED };

struct dmac__probe {
	enum dmac__mem_kind kind;
	int err; /* rte_errno of the fd lookup (NO_FD) */
};

/*
 * rte_memseg_walk callback (the walk holds the memory read lock, hence the
 * _thread_unsafe variant): classify the fd of the first heap segment as
 * libdmacache will (hugetlbfs file, or memfd sealed against shrinking).
 */
static int dmac__probe_seg(const struct rte_memseg_list *msl, const struct rte_memseg *ms,
			   void *arg)
{
	struct dmac__probe *pr = arg;
	struct statfs sfs;
	int fd, seals;

	if (msl->external)
		return 0;
	fd = rte_memseg_get_fd_thread_unsafe(ms);
	if (fd < 0) {
		pr->kind = DMAC__MEM_NO_FD;
		pr->err = rte_errno;
		return 1;
	}
	if (fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == (unsigned long)TMPFS_MAGIC) {
		seals = fcntl(fd, F_GET_SEALS);
		if (seals < 0 || !(seals & F_SEAL_SHRINK))
			pr->kind = DMAC__MEM_UNSEALED;
	}
	return 1;
}

static const char *dmac__fd_hint(int err)
{
	return err == ENOTSUP ? "DPDK keeps no segment fds in this mode (--legacy-mem?)"
			      : "this segment has no fd";
}

/* Fail early, before any daemon call, when DPDK's memory cannot be leased. */
static int dmac__probe_memory(const struct rte_mempool *mp)
{
	struct dmac__probe pr = {DMAC__MEM_OK, 0};

	if (rte_memseg_walk(dmac__probe_seg, &pr) < 0) {
		DMAC__LOG(ERR, "pool %s: cannot walk DPDK's memory segments\n", mp->name);
		return -EINVAL;
	}
	switch (pr.kind) {
	case DMAC__MEM_NO_FD:
		DMAC__LOG(ERR,
			  "pool %s: DPDK memory is not fd-backed (%s: %s); start EAL with "
			  "hugepages and --in-memory or --single-file-segments\n",
			  mp->name, dmac__fd_hint(pr.err), strerror(pr.err));
		return -ENOTSUP;
	case DMAC__MEM_UNSEALED:
		DMAC__LOG(ERR,
			  "pool %s: DPDK memory is an unsealed memfd, not hugepages (EAL "
			  "--no-huge?); dmacached leases hugepage memory only: drop --no-huge "
			  "and start EAL with hugepages and --in-memory or "
			  "--single-file-segments\n",
			  mp->name);
		return -ENOTSUP;
	default:
		return 0;
	}
}

static int dmac__alloc(struct rte_mempool *mp)
{
	char name[RTE_RING_NAMESIZE];
	struct dmac__pool *st;
	unsigned int rflags = 0;
	int rc;

	rc = dmac__probe_memory(mp);
	if (rc)
		goto fail;
	st = dmac__calloc(1, sizeof(*st));
	if (!st) {
		rc = -ENOMEM;
		DMAC__LOG(ERR, "pool %s: out of memory for the driver's state\n", mp->name);
		goto fail;
	}
	rc = dmac__get_client(mp, &st->c);
	if (rc)
		goto free_st;
	if (snprintf(name, sizeof(name), "dm_%s", mp->name) >= (int)sizeof(name)) {
		rc = -ENAMETOOLONG;
		DMAC__LOG(ERR,
			  "pool %s: its name is too long for the driver's ring name '%s' "
			  "(at most %d characters)\n",
			  mp->name, name, (int)RTE_RING_NAMESIZE - 4);
		goto free_st;
	}
	if (mp->flags & RTE_MEMPOOL_F_SP_PUT)
		rflags |= RING_F_SP_ENQ;
	if (mp->flags & RTE_MEMPOOL_F_SC_GET)
		rflags |= RING_F_SC_DEQ;
	st->ring = rte_ring_create(name, rte_align32pow2(mp->size + 1), mp->socket_id, rflags);
	if (!st->ring) {
		rc = -rte_errno;
		DMAC__LOG(ERR, "pool %s: cannot create ring %s: %s\n", mp->name, name,
			  rte_strerror(rte_errno));
		goto free_st;
	}
	snprintf(st->name, sizeof(st->name), "%s", mp->name);
	pthread_mutex_lock(&g_pools_lock);
	st->next = g_pools;
	g_pools = st;
	pthread_mutex_unlock(&g_pools_lock);
	mp->pool_data = st;
	return 0;

free_st:
	dmac__free(st);
fail:
	rte_errno = -rc;
	return rc;
}

/*
 * Release leases and registrations held[from..nheld), newest first; each
 * leaves the array (under g_pools_lock) before its round trips.
 */
static void dmac__drop_held(struct dmac__pool *st, size_t from)
{
	struct dmac__held h;
	int rc;

	for (;;) {
		pthread_mutex_lock(&g_pools_lock);
		if (st->nheld <= from) {
			pthread_mutex_unlock(&g_pools_lock);
			break;
		}
		h = st->held[--st->nheld];
		pthread_mutex_unlock(&g_pools_lock);
		if (h.lease_id) {
			rc = dmac_client_release(st->c, h.lease_id);
			if (rc)
				DMAC__LOG(WARNING, "pool %s: release of lease %#" PRIx64 ": %s\n",
					  st->name, h.lease_id, strerror(-rc));
		}
		rc = dmac_client_unregister(st->c, h.reg_id);
		if (rc)
			DMAC__LOG(WARNING, "pool %s: unregister of %#" PRIx64 ": %s\n", st->name,
				  h.reg_id, strerror(-rc));
	}
}

static void dmac__free_pool(struct rte_mempool *mp)
{
	struct dmac__pool *st = mp->pool_data, **pp;

	if (!st)
		return;
	pthread_mutex_lock(&g_pools_lock);
	for (pp = &g_pools; *pp && *pp != st; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = st->next;
	pthread_mutex_unlock(&g_pools_lock);
	dmac__drop_held(st, 0);
	rte_ring_free(st->ring);
	dmac__free(st->held);
	dmac__free(st);
	mp->pool_data = NULL;
}

static int dmac__enqueue(struct rte_mempool *mp, void *const *objs, unsigned int n)
{
	struct dmac__pool *st = mp->pool_data;

	return rte_ring_enqueue_bulk(st->ring, objs, n, NULL) ? 0 : -ENOBUFS;
}

static int dmac__dequeue(struct rte_mempool *mp, void **objs, unsigned int n)
{
	struct dmac__pool *st = mp->pool_data;

	return rte_ring_dequeue_bulk(st->ring, objs, n, NULL) ? 0 : -ENOBUFS;
}

static unsigned int dmac__get_count(const struct rte_mempool *mp)
{
	const struct dmac__pool *st = mp->pool_data;

	return rte_ring_count(st->ring);
}

struct dmac__pg_walk {
	int socket;	   /* the pool's socket, or SOCKET_ID_ANY */
	uint64_t used_max; /* largest page size of lists holding memory */
	uint64_t min;	   /* smallest page size of all lists */
};

/* rte_memseg_list_walk callback for dmac__page_size(). */
static int dmac__pg_walk(const struct rte_memseg_list *msl, void *arg)
{
	struct dmac__pg_walk *w = arg;

	if (msl->external || !msl->heap)
		return 0;
	if (w->socket != SOCKET_ID_ANY && msl->socket_id != w->socket)
		return 0;
	if (msl->memseg_arr.count && msl->page_sz > w->used_max)
		w->used_max = msl->page_sz;
	if (!w->min || msl->page_sz < w->min)
		w->min = msl->page_sz;
	return 0;
}

/*
 * The page size chunks are aligned to: the largest page size DPDK's heap on
 * the pool's socket holds memory in (memory grows in the page sizes it already
 * uses; a list of 1 GiB pages with no page allocated does not count), else the
 * smallest page size of its lists, else the system page size.
 */
static uint64_t dmac__page_size(const struct rte_mempool *mp)
{
	struct dmac__pg_walk w = {.socket = mp->socket_id};

	rte_memseg_list_walk(dmac__pg_walk, &w);
	if (w.used_max)
		return w.used_max;
	if (w.min)
		return w.min;
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * As DPDK's default, but the size is a whole number of pages and the chunk is
 * page-aligned, so every page of the chunk is the pool's alone and is leased
 * whole (a pool sharing a page with other data would lease that data too, and
 * two pools sharing a page could not both lease it).
 */
static ssize_t dmac__calc_mem_size(const struct rte_mempool *mp, uint32_t obj_num,
				   uint32_t pg_shift, size_t *min_chunk_size, size_t *align)
{
	uint64_t pg = dmac__page_size(mp);
	ssize_t sz;

	/* Objects never cross a piece, and a piece may be one page. */
	if (!pg_shift || ((uint64_t)1 << pg_shift) > pg)
		pg_shift = rte_bsf64(pg);
	sz = rte_mempool_op_calc_mem_size_default(mp, obj_num, pg_shift, min_chunk_size, align);
	if (sz < 0) {
		DMAC__LOG(ERR, "pool %s: cannot size %u objects: %s\n", mp->name, obj_num,
			  strerror((int)-sz));
		return sz;
	}
	*align = RTE_MAX(*align, (size_t)pg);
	*min_chunk_size = RTE_MAX(*min_chunk_size, (size_t)pg);
	sz = (ssize_t)RTE_ALIGN_CEIL((size_t)sz, (size_t)pg);
	/*
	 * DPDK 22.11's rte_mempool_populate_default() reads min_chunk_size ==
	 * mem_size as "this pool wants one IOVA-contiguous block" and reserves
	 * its memzone with RTE_MEMZONE_IOVA_CONTIG. For a pool of one page
	 * that is a page-aligned zone whose malloc header lies in the page
	 * before it: in IOVA-as-PA mode the heap then needs two physically
	 * adjacent hugepages and usually fails. This driver never uses DPDK's
	 * IOVA (an object's IOVA is its leased IOVA), so no chunk needs to be
	 * IOVA-contiguous: keep min_chunk_size below mem_size. One byte less
	 * is still more than half of it, so the halving retries of
	 * populate_default never go below what holds a whole page.
	 */
	if (*min_chunk_size >= (size_t)sz)
		*min_chunk_size = (size_t)sz - 1;
	DMAC__LOG(DEBUG,
		  "pool %s: %u objects in %zd bytes, chunks of at least %zu bytes aligned to "
		  "%zu\n",
		  mp->name, obj_num, sz, *min_chunk_size, *align);
	return sz;
}

/*
 * Split [start, end) into fd-contiguous pieces (DPDK's segment fds, under the
 * memory read lock). Returns the number of pieces or -errno (logged).
 */
static int dmac__pieces(const struct rte_mempool *mp, const struct rte_memseg_list *msl,
			char *start, char *end, uint64_t pg, struct dmac__piece *p)
{
	int n = 0, rc = 0;
	char *a;

	rte_mcfg_mem_read_lock();
	for (a = start; a < end; a += pg) {
		struct rte_memseg *ms = rte_mem_virt2memseg(a, msl);
		size_t foff;
		int fd;

		if (!ms) {
			DMAC__LOG(ERR, "pool %s: no DPDK segment at %p\n", mp->name, (void *)a);
			rc = -EFAULT;
			break;
		}
		fd = rte_memseg_get_fd_thread_unsafe(ms);
		if (fd < 0 || rte_memseg_get_fd_offset_thread_unsafe(ms, &foff) < 0) {
			rc = -rte_errno;
			DMAC__LOG(ERR,
				  "pool %s: DPDK memory at %p is not fd-backed (%s: %s); start "
				  "EAL with hugepages and --in-memory or "
				  "--single-file-segments\n",
				  mp->name, (void *)a, dmac__fd_hint(rte_errno),
				  rte_strerror(rte_errno));
			if (rc != -ENOTSUP)
				rc = -ENODEV;
			break;
		}
		foff += (size_t)(a - (char *)ms->addr);
		if (n && p[n - 1].fd == fd && p[n - 1].foff + p[n - 1].len == foff) {
			p[n - 1].len += pg;
			continue;
		}
		p[n++] = (struct dmac__piece){.va = a, .len = pg, .fd = fd, .foff = foff};
	}
	rte_mcfg_mem_read_unlock();
	return rc ? rc : n;
}

/* Room for more entries in st->held (under g_pools_lock: telemetry reads it). */
static int dmac__grow_held(struct dmac__pool *st, size_t more)
{
	struct dmac__held *h;
	size_t cap;
	int rc = 0;

	pthread_mutex_lock(&g_pools_lock);
	if (st->nheld + more <= st->capheld)
		goto unlock;
	cap = RTE_MAX(st->capheld * 2, st->nheld + more);
	h = dmac__realloc(st->held, cap * sizeof(*h));
	if (!h) {
		rc = -ENOMEM;
		goto unlock;
	}
	st->held = h;
	st->capheld = cap;
unlock:
	pthread_mutex_unlock(&g_pools_lock);
	return rc;
}

static void dmac__log_daemon_error(const struct rte_mempool *mp, const char *what, int rc)
{
	const char *hint = "";

	if (rc == -EPERM)
		hint = "; the segment is a memfd without F_SEAL_SHRINK (DPDK --no-huge?): "
		       "use hugepages";
	else if (rc == -EBADFD)
		hint = "; the segment fd is neither a memfd nor a hugetlbfs file";
	else if (rc == -EDQUOT)
		hint = "; raise the tenant's quota in dmacached's config";
	DMAC__LOG(ERR, "pool %s: %s: %s (%s)%s\n", mp->name, what, dmac_client_strerror(rc),
		  strerror(-rc), hint);
}

/*
 * Register and lease pieces p[0..n), in batches of at most max_vec ranges and
 * DMAC_CLIENT_MAX_FDS distinct fds (one REGISTER and one LEASE message each).
 * Appends to st->held; on error the caller drops what was appended.
 */
static int dmac__lease_pieces(const struct rte_mempool *mp, struct dmac__pool *st,
			      const struct dmac__piece *p, int n)
{
	const uint32_t prot = DMAC_CLIENT_PROT_READ | DMAC_CLIENT_PROT_WRITE;
	struct dmac_client_range ranges[DMAC_CLIENT_MAX_VEC];
	struct dmac_client_lease_req reqs[DMAC_CLIENT_MAX_VEC];
	struct dmac_client_lease leases[DMAC_CLIENT_MAX_VEC];
	uint64_t reg_ids[DMAC_CLIENT_MAX_VEC];
	struct dmac_client_info info;
	size_t max = DMAC_CLIENT_MAX_VEC;
	int i = 0, rc;

	if (!dmac_client_info(st->c, &info) && info.max_vec && info.max_vec < max)
		max = info.max_vec;
	while (i < n) {
		int fds[DMAC_CLIENT_MAX_FDS], nfds = 0, k, f;
		size_t b = 0, j;

		/* The batch: pieces i.. while the vector and fd limits hold. */
		for (k = i; k < n && b < max; k++, b++) {
			for (f = 0; f < nfds && fds[f] != p[k].fd; f++)
				;
			if (f == nfds) {
				if (nfds == (int)DMAC_CLIENT_MAX_FDS)
					break;
				fds[nfds++] = p[k].fd;
			}
			ranges[b] = (struct dmac_client_range){.fd = p[k].fd,
							       .prot = prot,
							       .offset = p[k].foff,
							       .length = p[k].len,
							       .va = p[k].va};
		}
		rc = dmac__grow_held(st, b);
		if (rc) {
			DMAC__LOG(ERR, "pool %s: out of memory for its lease records\n", mp->name);
			return rc;
		}
		rc = dmac_client_register_v(st->c, ranges, b, reg_ids);
		if (rc) {
			dmac__log_daemon_error(mp, "register of the pool's memory", rc);
			return rc;
		}
		pthread_mutex_lock(&g_pools_lock);
		for (j = 0; j < b; j++) {
			st->held[st->nheld++] = (struct dmac__held){.reg_id = reg_ids[j]};
			reqs[j] = (struct dmac_client_lease_req){
			    .reg_id = reg_ids[j], .length = ranges[j].length, .prot = prot};
		}
		pthread_mutex_unlock(&g_pools_lock);
		rc = dmac_client_lease_v(st->c, reqs, b, leases);
		if (rc) {
			dmac__log_daemon_error(mp, "lease of the pool's memory", rc);
			return rc;
		}
		pthread_mutex_lock(&g_pools_lock);
		for (j = 0; j < b; j++) {
			struct dmac__held *h = &st->held[st->nheld - b + j];

			h->lease_id = leases[j].lease_id;
			h->iova = leases[j].iova;
			h->length = leases[j].length;
			h->va = leases[j].va;
		}
		pthread_mutex_unlock(&g_pools_lock);
		i += (int)b;
	}
	return 0;
}

static int dmac__populate(struct rte_mempool *mp, unsigned int max_objs, void *vaddr,
			  rte_iova_t iova, size_t len, rte_mempool_populate_obj_cb_t *obj_cb,
			  void *obj_cb_arg)
{
	struct dmac__pool *st = mp->pool_data;
	size_t total = mp->header_size + mp->elt_size + mp->trailer_size;
	const struct rte_memseg_list *msl;
	struct dmac__piece *p = NULL;
	size_t held0 = st->nheld;
	unsigned int count = 0, i, o;
	char *start, *end;
	void **objs = NULL;
	rte_iova_t *iovas = NULL;
	int n, k, used = 0, rc = 0;
	uint64_t pg;

	msl = rte_mem_virt2memseg_list(vaddr);
	if (!msl || msl->external) {
		DMAC__LOG(ERR,
			  "pool %s: chunk %p is not DPDK heap memory: only memory of DPDK's "
			  "hugepage heap (memzones, rte_mempool_populate_default) can be "
			  "leased\n",
			  mp->name, vaddr);
		rc = -ENOTSUP;
		goto fail;
	}
	pg = msl->page_sz;
	start = RTE_PTR_ALIGN_CEIL((char *)vaddr, pg);
	end = RTE_PTR_ALIGN_FLOOR((char *)vaddr + len, pg);
	if (end <= start || total == 0) {
		/* no whole page: nothing we could lease alone */
		DMAC__LOG(WARNING,
			  "pool %s: chunk %p of %zu bytes holds no whole %" PRIu64
			  "-byte page: no object placed in it\n",
			  mp->name, vaddr, len, pg);
		return 0;
	}

	p = dmac__calloc((size_t)(end - start) / pg, sizeof(*p));
	if (!p) {
		rc = -ENOMEM;
		DMAC__LOG(ERR, "pool %s: out of memory for the chunk's pieces\n", mp->name);
		goto fail;
	}
	n = dmac__pieces(mp, msl, start, end, pg, p);
	if (n < 0) {
		rc = n;
		goto free_p;
	}
	/* Place objects (no object crosses a piece); drop unused pieces. */
	for (k = 0; k < n && count < max_objs; k++) {
		p[k].nobj = (unsigned int)RTE_MIN(p[k].len / total, (uint64_t)(max_objs - count));
		count += p[k].nobj;
		if (p[k].nobj)
			p[used++] = p[k];
	}
	if (!count) {
		DMAC__LOG(WARNING,
			  "pool %s: no %zu-byte object fits in a piece of chunk %p (an object "
			  "larger than a page needs --single-file-segments)\n",
			  mp->name, total, vaddr);
		goto free_p;
	}

	objs = dmac__calloc(count, sizeof(*objs));
	iovas = dmac__calloc(count, sizeof(*iovas));
	if (!objs || !iovas) {
		rc = -ENOMEM;
		DMAC__LOG(ERR, "pool %s: out of memory for %u objects' addresses\n", mp->name,
			  count);
		goto free_arrays;
	}
	rc = dmac__lease_pieces(mp, st, p, used);
	if (rc)
		goto drop_leases;

	/* Every object's IOVA from the local table, checked before any is used. */
	for (k = 0, o = 0; k < used; k++) {
		for (i = 0; i < p[k].nobj; i++, o++) {
			char *obj = p[k].va + (size_t)i * total + mp->header_size;
			size_t want = mp->elt_size;

			objs[o] = obj;
			iovas[o] = dmac_client_translate(st->c, obj, &want);
			if (iovas[o] == DMAC_CLIENT_IOVA_ERROR || want != mp->elt_size) {
				DMAC__LOG(ERR, "pool %s: object %p is not covered by its lease\n",
					  mp->name, obj);
				rc = -EFAULT;
				goto drop_leases;
			}
		}
	}
	for (o = 0; o < count; o++)
		obj_cb(mp, obj_cb_arg, objs[o], iovas[o]);
	if (rte_ring_enqueue_bulk(st->ring, objs, count, NULL) != count)
		DMAC__LOG(ERR, "pool %s: ring full at populate (cannot happen)\n", mp->name);
	dmac__free(iovas);
	dmac__free(objs);
	dmac__free(p);
	(void)iova; /* DPDK's IOVA of the chunk is deliberately not used */
	return (int)count;

drop_leases:
	dmac__drop_held(st, held0);
free_arrays:
	dmac__free(iovas);
	dmac__free(objs);
free_p:
	dmac__free(p);
	if (!rc)
		return 0;
fail:
	rte_errno = -rc;
	return rc;
}

#ifdef DMAC_DPDK_TEST_HOOKS
/*
 * Test build only (librte_mempool_dmacache_test.so, never installed): the
 * allocation fault hooks of this object's copy of dmac_alloc, for tests that
 * load the driver with -d and cannot reach its hidden symbols otherwise.
 */
DMAC_EXPORT void dmac_dpdk_test_fault_arm(uint64_t n);
DMAC_EXPORT int dmac_dpdk_test_fault_fired(void);
DMAC_EXPORT int64_t dmac_dpdk_test_outstanding(void);

void dmac_dpdk_test_fault_arm(uint64_t n)
{
	dmac__fault_alloc_arm(n);
}

int dmac_dpdk_test_fault_fired(void)
{
	return dmac__fault_alloc_fired();
}

int64_t dmac_dpdk_test_outstanding(void)
{
	return dmac__alloc_outstanding();
}
#endif

/* ---- telemetry ------------------------------------------------------------ */

/* Leases /dmacache/leases lists in one reply (its JSON stays below 16 KiB). */
#define DMAC__TEL_MAX_LEASES 128

/* Add a u64 as a decimal string (ids: exact in every JSON reader) to an array. */
static int dmac__tel_dec(struct rte_tel_data *a, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	return rte_tel_data_add_array_string(a, b);
}

/* Add a u64 as a 0x hex string (addresses) to an array. */
static int dmac__tel_hex(struct rte_tel_data *a, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "0x%" PRIx64, v);
	return rte_tel_data_add_array_string(a, b);
}

/* Allocate @p n telemetry arrays of the given types; all or none. */
static int dmac__tel_arrays(struct rte_tel_data **a, const enum rte_tel_value_type *type,
			    unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		a[i] = rte_tel_data_alloc();
		if (!a[i] || rte_tel_data_start_array(a[i], type[i])) {
			rte_tel_data_free(a[i]);
			while (i--)
				rte_tel_data_free(a[i]);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Hand the arrays to dict d under their names (d frees them); free what is left. */
static int dmac__tel_attach(struct rte_tel_data *d, struct rte_tel_data **a,
			    const char *const *name, unsigned int n)
{
	unsigned int i;
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (!rc)
			rc = rte_tel_data_add_dict_container(d, name[i], a[i], 0);
		if (rc)
			rte_tel_data_free(a[i]);
	}
	return rc;
}

/*
 * /dmacache/info: the connection (connected, socket, tenant, session_id,
 * protocol) and, over every pool of the driver, the pools, leases,
 * leased_bytes and registrations, with parallel arrays pool_names,
 * pool_leases and pool_bytes.
 */
static int dmac__tel_info(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const enum rte_tel_value_type type[] = {RTE_TEL_STRING_VAL, RTE_TEL_U64_VAL,
						       RTE_TEL_U64_VAL};
	static const char *const name[] = {"pool_names", "pool_leases", "pool_bytes"};
	struct dmac_client *c = atomic_load(&g_client);
	uint64_t pools = 0, leases = 0, bytes = 0, regs = 0;
	struct rte_tel_data *a[3];
	struct dmac_client_info info;
	const struct dmac__pool *st;
	char id[24];

	(void)cmd;
	(void)params;
	if (dmac__tel_arrays(a, type, 3))
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "ops", DMAC_DPDK_MEMPOOL_OPS);
	rte_tel_data_add_dict_int(d, "connected", c != NULL);
	if (c && !dmac_client_info(c, &info)) {
		/* g_sock and g_tenant are fixed before g_client is published */
		rte_tel_data_add_dict_string(d, "socket", g_sock);
		rte_tel_data_add_dict_string(d, "tenant", g_tenant);
		snprintf(id, sizeof(id), "%" PRIu64, info.session_id);
		rte_tel_data_add_dict_string(d, "session_id", id);
		rte_tel_data_add_dict_u64(d, "protocol", info.version);
	}
	pthread_mutex_lock(&g_pools_lock);
	for (st = g_pools; st; st = st->next) {
		uint64_t pl = 0, pb = 0;

		for (size_t i = 0; i < st->nheld; i++) {
			pl += st->held[i].lease_id != 0;
			pb += st->held[i].lease_id ? st->held[i].length : 0;
		}
		pools++;
		leases += pl;
		bytes += pb;
		regs += st->nheld;
		if (pools <= RTE_TEL_MAX_ARRAY_ENTRIES) {
			rte_tel_data_add_array_string(a[0], st->name);
			rte_tel_data_add_array_u64(a[1], pl);
			rte_tel_data_add_array_u64(a[2], pb);
		}
	}
	pthread_mutex_unlock(&g_pools_lock);
	rte_tel_data_add_dict_u64(d, "pools", pools);
	rte_tel_data_add_dict_u64(d, "leases", leases);
	rte_tel_data_add_dict_u64(d, "leased_bytes", bytes);
	rte_tel_data_add_dict_u64(d, "registrations", regs);
	return dmac__tel_attach(d, a, name, 3);
}

/*
 * /dmacache/leases[,POOL]: the leases of every pool of the driver, or of
 * POOL: count and bytes (all of them), listed (at most DMAC__TEL_MAX_LEASES
 * in one reply), and parallel arrays pool, lease_id (decimal strings),
 * iova and va (hex strings), length. An unknown POOL is -EINVAL (null).
 */
static int dmac__tel_leases(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const enum rte_tel_value_type type[] = {RTE_TEL_STRING_VAL, RTE_TEL_STRING_VAL,
						       RTE_TEL_STRING_VAL, RTE_TEL_STRING_VAL,
						       RTE_TEL_U64_VAL};
	static const char *const name[] = {"pool", "lease_id", "iova", "va", "length"};
	uint64_t count = 0, bytes = 0, listed = 0;
	const char *want = params && params[0] ? params : NULL;
	struct rte_tel_data *a[5];
	const struct dmac__pool *st;
	int found = 0;

	(void)cmd;
	if (dmac__tel_arrays(a, type, 5))
		return -ENOMEM;
	rte_tel_data_start_dict(d);
	pthread_mutex_lock(&g_pools_lock);
	for (st = g_pools; st; st = st->next) {
		if (want && strcmp(want, st->name))
			continue;
		found = 1;
		for (size_t i = 0; i < st->nheld; i++) {
			const struct dmac__held *h = &st->held[i];

			if (!h->lease_id)
				continue;
			count++;
			bytes += h->length;
			if (listed == DMAC__TEL_MAX_LEASES)
				continue;
			listed++;
			rte_tel_data_add_array_string(a[0], st->name);
			dmac__tel_dec(a[1], h->lease_id);
			dmac__tel_hex(a[2], h->iova);
			dmac__tel_hex(a[3], (uint64_t)(uintptr_t)h->va);
			rte_tel_data_add_array_u64(a[4], h->length);
		}
	}
	pthread_mutex_unlock(&g_pools_lock);
	if (want && !found) {
		for (unsigned int i = 0; i < 5; i++)
			rte_tel_data_free(a[i]);
		return -EINVAL;
	}
	rte_tel_data_add_dict_u64(d, "count", count);
	rte_tel_data_add_dict_u64(d, "bytes", bytes);
	rte_tel_data_add_dict_u64(d, "listed", listed);
	return dmac__tel_attach(d, a, name, 5);
}

RTE_INIT(dmac__telemetry_init)
{
	int rc;

	rc = rte_telemetry_register_cmd("/dmacache/info", dmac__tel_info,
					"The dmacache mempool driver: its connection to dmacached "
					"and the leases of its pools. No parameters");
	if (!rc)
		rc = rte_telemetry_register_cmd(
		    "/dmacache/leases", dmac__tel_leases,
		    "Leases of the dmacache pools: pool, lease_id, iova, "
		    "va, length. Parameters: a pool name (optional)");
	if (rc)
		DMAC__LOG(WARNING, "telemetry commands /dmacache/*: not registered: %s\n",
			  strerror(-rc));
}

static struct rte_mempool_ops dmac__ops = {
    .name = DMAC_DPDK_MEMPOOL_OPS,
    .alloc = dmac__alloc,
    .free = dmac__free_pool,
    .enqueue = dmac__enqueue,
    .dequeue = dmac__dequeue,
    .get_count = dmac__get_count,
    .calc_mem_size = dmac__calc_mem_size,
    .populate = dmac__populate,
};

RTE_MEMPOOL_REGISTER_OPS(dmac__ops);
