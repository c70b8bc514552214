/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * libdmacache: the client library dataplanes link to talk to dmacached.
 *
 * A client connects to the daemon's Unix socket as a tenant, registers memory it
 * has mapped (sealed memfd or hugetlbfs files, sent to the daemon as fds), takes
 * IOVA leases on that memory and translates virtual addresses to IOVAs on its hot
 * path from a local lock-free table, with no IPC per lookup. docs/client.md is the
 * user's guide; docs/protocol.md describes the messages behind every call.
 *
 * Invariants of this header:
 * - Every call that can fail returns 0 or a negative errno and, on error, changes
 *   nothing (no registration, lease or local translation is added or removed),
 *   except where its comment says otherwise (release: the local translation is
 *   removed first and stays removed; a lost connection, see below).
 * - Ranges are [offset, offset + length): 'end' exclusive; offsets and lengths
 *   of registrations and leases are multiples of DMAC_CLIENT_PAGE (4 KiB), and
 *   no range may wrap.
 * - A virtual address byte is covered by at most one lease of a client at a time
 *   (the local table maps each VA to one IOVA).
 * - Errors from the daemon are its reply status, negated (-EPERM, -EDQUOT,
 *   ...). A connection that is closed or broken gives -ECONNRESET (receiving) or
 *   -EPIPE (sending); from then on the client is "dead": the daemon reclaims all
 *   it held on hang-up, so the library has already emptied its local table and
 *   every later request returns -ECONNRESET; only dmac_client_close() remains.
 *   A reply that does not come within a client's timeout
 *   (dmac_client_connect_timeout(), or SO_RCVTIMEO on a socket given to
 *   dmac_client_connect_fd()) is -ETIMEDOUT and makes the client dead the
 *   same way: the daemon may or may not have carried the request out.
 *
 * Thread-safety, in one place (each function repeats its own):
 * - Request calls (register, unregister, lease, release, flush, query, stats) may be
 *   called from any thread; they are serialized by a mutex inside the client
 *   (one request in flight per connection; replies are matched by tag).
 * - dmac_client_translate() and dmac_client_translate_burst() are lock-free and
 *   make no system call in steady state; any number of threads may call them
 *   concurrently with each other and with the request calls. A thread is registered with liburcu
 * (urcu-memb) lazily, on its first translate or request call, and unregistered automatically when
 * it exits (see dmac_client_thread_register()).
 * - dmac_client_info() reads data fixed at connect time: any thread, no lock.
 * - dmac_client_close() must be the last call on a client: no other thread may be
 *   inside, or later enter, any call on it (translate included).
 * - fork(): the child shares the parent's connection. It must not make any call
 *   on a client created before the fork (not even close); it connects anew.
 *
 * Who the daemon is: every connect call first asks the kernel who serves the
 * socket (SO_PEERCRED) and refuses, with -EPERM and before sending anything,
 * a peer whose uid is not trusted: 0, the uid in the environment variable
 * DMACACHE_DAEMON_UID, or the uid given to dmac_client_connect_uid(). So a
 * socket path that someone else managed to bind never receives a tenant name
 * or a memory fd.
 */
#ifndef DMAC_DMACACHE_H
#define DMAC_DMACACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dmac/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The daemon's default socket path (dmacached's "socket" config key). */
#define DMAC_CLIENT_DEFAULT_SOCKET "/run/dmacache/dmacached.sock"
/**
 * Environment variable naming one more uid the daemon may run as (decimal,
 * e.g. "998"); uid 0 is always trusted. Read with secure_getenv(): ignored in
 * set-uid and set-gid programs.
 */
#define DMAC_CLIENT_DAEMON_UID_ENV "DMACACHE_DAEMON_UID"
/** What dmac_client_translate() returns for an address no lease covers. */
#define DMAC_CLIENT_IOVA_ERROR UINT64_MAX
/** Granule of every offset and length. */
#define DMAC_CLIENT_PAGE 4096u
/** Size of a tenant name, terminating NUL included (1..63 characters). */
#define DMAC_CLIENT_TENANT_MAX 64u
/** Most elements one vector call sends (the daemon may announce fewer). */
#define DMAC_CLIENT_MAX_VEC 256u
/** Most distinct fds one dmac_client_register_v() call may send. */
#define DMAC_CLIENT_MAX_FDS 16u

/**
 * Connect flag: defer the RELEASE messages of dmac_client_release_v() so that up to
 * DMAC_CLIENT_DEFER_MAX releases share one RCU grace period and one message (see
 * dmac_client_release_v() and dmac_client_flush()).
 */
#define DMAC_CLIENT_DEFER_RELEASE 0x1u
/** Most releases a DMAC_CLIENT_DEFER_RELEASE client keeps pending. */
#define DMAC_CLIENT_DEFER_MAX 64u
/** A pending release older than this (microseconds) is sent by the next request. */
#define DMAC_CLIENT_DEFER_USEC 1000u

/** Device access rights of a registration or a lease (at least one). */
#define DMAC_CLIENT_PROT_READ  0x1u /**< the device may read the memory */
#define DMAC_CLIENT_PROT_WRITE 0x2u /**< the device may write the memory */

struct dmac_client; /* opaque */

/** What HELLO negotiated; fixed for the life of the connection. */
struct dmac_client_info {
	uint32_t version;		     /**< negotiated protocol version */
	uint32_t max_vec;		     /**< most elements per vector call */
	uint64_t session_id;		     /**< the daemon's id of this session */
	uint64_t quota_pinned_bytes;	     /**< the tenant's pinned-bytes quota */
	uint64_t quota_leases;		     /**< the tenant's lease-count quota */
	uint64_t iova_start;		     /**< the tenant's IOVA window, first byte */
	uint64_t iova_last;		     /**< the tenant's IOVA window, last byte (inclusive) */
	uint32_t max_fds;		     /**< most fds per message */
	uint32_t max_msg;		     /**< largest message, bytes */
	char tenant[DMAC_CLIENT_TENANT_MAX]; /**< the tenant name sent in HELLO */
};

/** One range of dmac_client_register_v(). */
struct dmac_client_range {
	int fd;		 /**< sealed memfd or hugetlbfs file; the caller keeps it */
	uint32_t prot;	 /**< DMAC_CLIENT_PROT_* */
	uint64_t offset; /**< byte offset in the file */
	uint64_t length; /**< bytes */
	void *va;	 /**< where the caller has [offset, offset + length) mapped */
};

/** One request of dmac_client_lease_v(). */
struct dmac_client_lease_req {
	uint64_t reg_id;   /**< a registration of this client */
	uint64_t offset;   /**< byte offset inside the registration */
	uint64_t length;   /**< bytes */
	uint32_t prot;	   /**< DMAC_CLIENT_PROT_*, within the registration's */
	uint32_t reserved; /**< must be 0 */
};

/** A granted lease. */
struct dmac_client_lease {
	uint64_t lease_id;   /**< unguessable id, the handle for release */
	uint64_t generation; /**< detects a stale IOVA */
	uint64_t iova;	     /**< IOVA of the first byte */
	uint64_t length;     /**< bytes */
	void *va;	     /**< local VA of the first byte (registration va + offset) */
};

/** One lease as dmac_client_query() reports it. */
struct dmac_client_lease_info {
	uint64_t lease_id;
	uint64_t generation;
	uint64_t iova;
	uint64_t length;
	uint64_t reg_id;
	uint64_t reg_offset; /**< offset of the lease inside its registration */
	uint32_t prot;
	uint32_t reserved;
	void *va; /**< local VA, or NULL when this client has no record of it */
};

/** Tenant name that opens an admin session (see dmac_client_admin_tenants()). */
#define DMAC_CLIENT_ADMIN_TENANT "@admin"

/** A quota of UINT64_MAX means "unlimited". */
#define DMAC_CLIENT_UNLIMITED UINT64_MAX

/** One tenant as dmac_client_admin_tenants() reports it. */
struct dmac_client_tenant_info {
	char name[DMAC_CLIENT_TENANT_MAX];
	uint64_t sessions;	     /**< sessions bound to it now */
	uint64_t leases;	     /**< live leases */
	uint64_t bytes_leased;	     /**< sum of their lengths */
	uint64_t quota_pinned_bytes; /**< DMAC_CLIENT_UNLIMITED: none */
	uint64_t quota_leases;	     /**< DMAC_CLIENT_UNLIMITED: none */
	uint64_t iova_start;	     /**< IOVA window, first byte */
	uint64_t iova_last;	     /**< last byte (inclusive) */
	/* protocol version 3 (0 from an older daemon) */
	uint64_t bytes_registered; /**< registered by its sessions */
	uint64_t bytes_pinned;	   /**< charged to quota_pinned_bytes: bytes_registered plus
				    *   the unused cached memory it brought in */
	uint64_t bytes_kept;	   /**< released but still mapped ('release = lazy') */
	uint64_t registrations;	   /**< live registrations of its sessions */
	uint64_t cache_hits;	   /**< registered ranges found pinned already */
	uint64_t cache_misses;	   /**< registered ranges that needed a new pin */
	uint64_t copy_hits;	   /**< leases served by an existing mapping */
	uint64_t copy_misses;	   /**< leases that needed a new mapping */
	uint64_t lease_requests;   /**< LEASE requests its sessions sent */
};

/** Size of a process name, NUL included. */
#define DMAC_CLIENT_COMM_MAX 16u

/** One connection as dmac_client_admin_sessions() reports it (protocol version 3). */
struct dmac_client_session_info {
	uint64_t session_id;
	uint32_t pid;			     /**< the peer's pid at connect (0: unknown) */
	uint32_t uid;			     /**< the peer's uid at connect */
	uint32_t gid;			     /**< the peer's primary gid at connect */
	uint32_t pidfd;			     /**< 1: the daemon watches the process with a pidfd */
	char tenant[DMAC_CLIENT_TENANT_MAX]; /**< its tenant, DMAC_CLIENT_ADMIN_TENANT, or ""
					      *   before HELLO */
	char comm[DMAC_CLIENT_COMM_MAX];     /**< process name read at connect, "" unknown;
					      *   any bytes but NUL: escape before printing */
	uint64_t registrations, bytes_registered;
	uint64_t leases, bytes_leased;
};

/** Histogram ids of dmac_client_admin_histogram(). */
#define DMAC_CLIENT_HIST_LEASE 1u /**< LEASE request processing time in the daemon, ns */
/** Most buckets of a histogram. */
#define DMAC_CLIENT_HIST_MAX_BUCKETS 64u

/** A histogram of the daemon, as dmac_client_admin_histogram() reports it. */
struct dmac_client_histogram {
	uint64_t count;	   /**< observations; the sum of the bucket counts */
	uint64_t sum;	   /**< sum of the observed values (ns), wraps at 2^64 */
	uint32_t nbuckets; /**< 1..DMAC_CLIENT_HIST_MAX_BUCKETS */
	uint32_t reserved;
	struct {
		uint64_t le;	/**< upper bound, inclusive; UINT64_MAX (+Inf) for the last */
		uint64_t count; /**< observations in (previous le, le]: not cumulative */
	} buckets[DMAC_CLIENT_HIST_MAX_BUCKETS];
};

/** One lease of any session, as dmac_client_admin_leases() reports it. */
struct dmac_client_admin_lease {
	struct dmac_client_lease_info info;  /**< info.va is always NULL */
	uint64_t session_id;		     /**< the owning session */
	char tenant[DMAC_CLIENT_TENANT_MAX]; /**< the owning tenant */
};

/** The daemon's counters (STATS). */
struct dmac_client_stats {
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t evictions;
	uint64_t bytes_pinned;
	uint64_t areas;
	uint64_t leases;
	uint64_t tenants;
	uint64_t sessions;
	uint64_t registrations;
	/* protocol version 2 (0 from a version-1 daemon) */
	uint64_t copy_hits;	    /**< leases served by an existing mapping: no kernel copy */
	uint64_t copy_misses;	    /**< leases that needed a kernel copy */
	uint64_t kernel_copies;	    /**< IOMMU_IOAS_COPY (or VFIO map) calls */
	uint64_t kernel_unmaps;	    /**< unmap calls for tenant mappings */
	uint64_t copies_kept_bytes; /**< released but still mapped ('release = lazy') */
	uint64_t unmap_failures;    /**< mappings whose unmap failed: kept, retried */
	uint64_t tenant_copies;	    /**< mappings in tenant spaces */
};

/**
 * Connect to dmacached and say HELLO as @p tenant.
 *
 * Opens an AF_UNIX SOCK_SEQPACKET|SOCK_CLOEXEC socket, connects it to @p path,
 * checks that the daemon's uid (SO_PEERCRED) is trusted - 0, or the uid in
 * DMAC_CLIENT_DAEMON_UID_ENV - and only then negotiates the protocol version;
 * the reply's quotas and window are kept (see dmac_client_info()).
 * @param path   socket path, or NULL for DMAC_CLIENT_DEFAULT_SOCKET
 * @param tenant tenant name, 1..63 characters of [A-Za-z0-9._-], starting with a
 *               letter or digit; or DMAC_CLIENT_ADMIN_TENANT for an admin session
 *               (operator tools: no register or lease, but the admin calls)
 * @param flags  0, or DMAC_CLIENT_DEFER_RELEASE (deferred, batched RELEASEs)
 * @param out    receives the client
 * @return 0, or -EINVAL (NULL tenant or out, bad tenant name, unknown flags, or
 *  DMAC_CLIENT_DAEMON_UID_ENV set but not a decimal uid below 4294967295),
 *  -ENAMETOOLONG (path too long for a sockaddr_un), -ENOMEM, the -errno of
 *  socket()/connect() (-ENOENT, -ECONNREFUSED, -EACCES, ...), -EPERM (the
 *  socket is served by a uid that is not trusted: nothing was sent), the
 *  -errno of getsockopt(SO_PEERCRED), the daemon's
 *  refusal (-EACCES: this uid/gid may not act as the tenant; -ENOENT: no such
 *  tenant; -EPROTONOSUPPORT: no common version), -EPROTO (a reply that does not answer HELLO),
 * -ECONNRESET (the daemon closed the connection). Concurrency: any thread; the new client is not
 * shared until this returns.
 */
DMAC_EXPORT int dmac_client_connect(const char *path, const char *tenant, uint32_t flags,
				    struct dmac_client **out);

/**
 * dmac_client_connect() over an already connected SOCK_SEQPACKET socket (socket
 * activation, tests). The socket must be in blocking mode; the caller may
 * bound its waits with SO_SNDTIMEO and SO_RCVTIMEO (a timed-out send or
 * receive is -ETIMEDOUT, as with dmac_client_connect_timeout()). The peer's uid is checked as by
 * dmac_client_connect() before anything is sent. On success the client owns
 * @p sock and closes it in dmac_client_close(); on error the caller still owns it.
 * @return as dmac_client_connect(); -EINVAL also for sock < 0.
 * Concurrency: any thread.
 */
DMAC_EXPORT int dmac_client_connect_fd(int sock, const char *tenant, uint32_t flags,
				       struct dmac_client **out);

/**
 * dmac_client_connect() to a daemon that may also run as @p daemon_uid: for
 * applications that know their daemon's account (a dmacached run as a
 * dedicated user) without setting DMAC_CLIENT_DAEMON_UID_ENV. The trusted
 * uids are 0, @p daemon_uid, and the uid in DMAC_CLIENT_DAEMON_UID_ENV when
 * set; the check happens before anything is sent.
 * @param daemon_uid one more uid the daemon may run as; (uid_t)-1 is invalid
 * @return as dmac_client_connect(); -EINVAL also for daemon_uid (uid_t)-1;
 *  -EPERM when the socket's peer has none of the trusted uids.
 * Concurrency: any thread; the new client is not shared until this returns.
 */
DMAC_EXPORT int dmac_client_connect_uid(const char *path, const char *tenant, uint32_t flags,
					uid_t daemon_uid, struct dmac_client **out);

/**
 * dmac_client_connect_fd() with one more trusted daemon uid, as
 * dmac_client_connect_uid().
 * @return as dmac_client_connect_fd(); -EINVAL also for daemon_uid (uid_t)-1;
 *  -EPERM when the socket's peer has none of the trusted uids.
 * Concurrency: any thread.
 */
DMAC_EXPORT int dmac_client_connect_fd_uid(int sock, const char *tenant, uint32_t flags,
					   uid_t daemon_uid, struct dmac_client **out);

/**
 * dmac_client_connect() with a bound on every wait: connect() (a full
 * listen queue), HELLO, and every later request's send and reply each wait
 * at most @p timeout_ms milliseconds (SO_SNDTIMEO and SO_RCVTIMEO on the
 * socket), so a stopped or hung daemon cannot hang the caller.
 * @param timeout_ms  the bound; 0 means none (as dmac_client_connect())
 * @return as dmac_client_connect(); -ETIMEDOUT when connect() or HELLO did
 *  not complete in time. Later, a request whose message could not be sent
 *  in time returns -ETIMEDOUT and nothing was sent (the client lives on);
 *  a reply that does not come in time returns -ETIMEDOUT and the client is
 *  dead (see the top of this file).
 * Concurrency: any thread; the new client is not shared until this returns.
 */
DMAC_EXPORT int dmac_client_connect_timeout(const char *path, const char *tenant, uint32_t flags,
					    unsigned int timeout_ms, struct dmac_client **out);

/**
 * Close the connection and free the client. The daemon reclaims every lease and
 * registration of the session when it sees the hang-up; the library empties its
 * local table first (so no translate can return an IOVA after the daemon unmaps
 * it), closes the socket and frees everything. Never fails.
 * @param c the client, or NULL (no-op).
 * Concurrency: no other thread may be inside or later call any function on @p c,
 * translate included.
 */
DMAC_EXPORT void dmac_client_close(struct dmac_client *c);

/**
 * Copy what HELLO negotiated.
 * @return 0, -EINVAL (NULL args).
 * Concurrency: any thread, lock-free (the data is fixed at connect).
 */
DMAC_EXPORT int dmac_client_info(const struct dmac_client *c, struct dmac_client_info *out);

/**
 * Register one range of a memory file with the daemon (REGISTER).
 *
 * The fd is checked locally first (dmac_proto_fd_inspect rules: a memfd sealed
 * with F_SEAL_SHRINK, or a hugetlbfs file) so a wrong fd is refused here and
 * does not end the session. The caller keeps its fd and may close it after the
 * call; the daemon keeps its own reference.
 * @param fd     the file
 * @param offset byte offset in the file, a multiple of DMAC_CLIENT_PAGE and of
 *               the file's page size
 * @param length bytes, non-zero, same granule; offset + length <= file size
 * @param prot   DMAC_CLIENT_PROT_* (at least one)
 * @param va     where the caller has [offset, offset + length) of the file mapped;
 *               non-NULL, va + length must not wrap
 * @param reg_id receives the registration id
 * @return 0, or -EINVAL (NULL c/va/reg_id, length 0, misaligned offset or length,
 *  prot 0), -EOPNOTSUPP (unknown prot bits), -EOVERFLOW (offset + length or
 *  va + length wraps), -ERANGE (past the end of the file), -EBADF (fd not open,
 *  or an O_PATH fd), -EBADFD (not a memfd or hugetlbfs file), -EPERM (sealable
 *  but F_SEAL_SHRINK missing, or PROT_WRITE on a write-sealed file), -EACCES
 *  (the fd's access mode does not allow @p prot: any prot needs read access,
 *  PROT_WRITE needs O_RDWR), -ENOMEM, the daemon's status (-EDQUOT, -ENOSPC,
 *  ...), -ECONNRESET, -EPIPE, -EPROTO. The local fd checks are the daemon's
 *  (docs/protocol.md 5.3, 5.4); the daemon makes them again.
 * Concurrency: any thread; serialized with other requests by the client mutex.
 */
DMAC_EXPORT int dmac_client_register(struct dmac_client *c, int fd, uint64_t offset,
				     uint64_t length, uint32_t prot, void *va, uint64_t *reg_id);

/**
 * Register @p n ranges in one message, all or nothing: either every range is
 * registered (reg_ids[i] for ranges[i]) or none is.
 *
 * One message carries at most DMAC_CLIENT_MAX_FDS distinct fds (fds with the
 * same number are sent once) and at most dmac_client_info().max_vec ranges;
 * larger vectors are refused with -E2BIG rather than split, because a split
 * request could fail half-way and all-or-nothing could not be kept.
 * @return 0, or the errors of dmac_client_register() (checked for every range
 *  before anything is sent), -EINVAL also for n == 0 or NULL arrays, -E2BIG.
 * Concurrency: as dmac_client_register().
 */
DMAC_EXPORT int dmac_client_register_v(struct dmac_client *c,
				       const struct dmac_client_range *ranges, size_t n,
				       uint64_t *reg_ids);

/**
 * Drop a registration (UNREGISTER). It must have no live lease of this client.
 * @return 0, or -EINVAL (NULL c, reg_id 0), -ENOENT (not a registration of this
 *  client), -EBUSY (it still has leases), the daemon's status, -ECONNRESET,
 *  -EPIPE, -EPROTO.
 * Concurrency: any thread; serialized by the client mutex.
 */
DMAC_EXPORT int dmac_client_unregister(struct dmac_client *c, uint64_t reg_id);

/**
 * Lease [offset, offset + length) of a registration (LEASE) and make its VA range
 * translatable: on success [va, va + length - 1] -> [iova, ...] is in the local
 * table before this returns.
 * @param out receives the lease (its va is the registration's va + offset)
 * @return as dmac_client_lease_v() with n == 1.
 * Concurrency: as dmac_client_lease_v().
 */
DMAC_EXPORT int dmac_client_lease(struct dmac_client *c, uint64_t reg_id, uint64_t offset,
				  uint64_t length, uint32_t prot, struct dmac_client_lease *out);

/**
 * Lease @p n ranges in one message, all or nothing.
 *
 * Every request is checked against the local records first. The daemon grants
 * all or none; the grants are then inserted into the local table in one batch,
 * published at once. If that insert fails (-ENOMEM), the library releases the
 * grants again and returns the error, so nothing changes.
 * @param out receives n leases, out[i] for reqs[i]; untouched on error
 * @return 0, or -EINVAL (NULL args, n == 0, length 0, misaligned offset or
 *  length, prot 0, reserved != 0, the same VA range twice in @p reqs),
 *  -EOPNOTSUPP (unknown prot bits), -E2BIG (n > max_vec), -ENOENT (unknown
 *  reg_id), -EACCES (prot not within the registration's), -EOVERFLOW (wraps),
 *  -ERANGE (past the end of the registration), -EEXIST (a VA byte is already
 *  covered by a lease of this client), -ENOMEM, the daemon's status (-EDQUOT,
 *  -ENOSPC, ...), -ECONNRESET, -EPIPE, -EPROTO (a grant whose length is not the
 *  requested one: the connection is then closed, see the file comment).
 * Concurrency: any thread; serialized by the client mutex; translate may run
 *  concurrently in other threads and sees either none or all of the n leases.
 */
DMAC_EXPORT int dmac_client_lease_v(struct dmac_client *c, const struct dmac_client_lease_req *reqs,
				    size_t n, struct dmac_client_lease *out);

/**
 * Release one lease: as dmac_client_release_v() with n == 1; returns that
 * lease's result.
 */
DMAC_EXPORT int dmac_client_release(struct dmac_client *c, uint64_t lease_id);

/**
 * Release @p n leases (RELEASE).
 *
 * Order (the release rule): (1) the n VA ranges are removed from the local table
 * in one batch; (2) the library waits for an RCU grace period, so every translate
 * that could still see the old table has returned; (3) only then is RELEASE sent
 * and the daemon may unmap. A translate that starts after step 1 misses; one that
 * ran before may have returned the IOVA: the caller must have stopped using the
 * leased IOVAs (no DMA in flight, no thread about to program one) before calling.
 * Per-lease failures reported by the daemon do not restore the translation (the
 * lease may be gone at the daemon); the local record is dropped either way.
 * More than max_vec leases are sent in several messages (release is per lease).
 *
 * Deferred (client connected with DMAC_CLIENT_DEFER_RELEASE, n <=
 * DMAC_CLIENT_DEFER_MAX): step 1 happens in the call, which then returns 0 with
 * results[i] = 0; steps 2 and 3 happen later for all pending releases at once,
 * in this order (one grace period, then RELEASE), so the release rule holds as
 * above: the daemon unmaps only after no translate can return the IOVA. Until
 * then the daemon keeps the mapping (of the client's own registered memory) and
 * counts the lease in the tenant's quota. The pending releases are sent: when
 * DMAC_CLIENT_DEFER_MAX are pending; by the first release, lease or register
 * call made DMAC_CLIENT_DEFER_USEC or more after the oldest; before unregister,
 * query, stats and the admin calls; by a lease the daemon refuses with -EDQUOT,
 * -ENOSPC or -EEXIST (then asked again once); by dmac_client_flush(). At close
 * the hang-up makes the daemon reclaim them (after the local table is emptied
 * and a grace period, as always). The daemon's per-lease failures of deferred
 * releases are reported by dmac_client_flush(). An application that goes idle
 * with releases pending calls dmac_client_flush().
 * @param lease_ids ids of leases of this client, each at most once
 * @param results   NULL, or n ints: 0 or the -errno of each lease
 * @return 0 when every lease was released; -EINVAL (NULL args, n == 0, an id
 *  twice), -ENOENT (an id this client does not hold), -ENOMEM (local batch):
 *  nothing changed; else, after step 1, the -errno of the first lease that
 *  failed (its daemon status, or -ECONNRESET/-EPIPE for all that were not
 *  answered).
 * Concurrency: any thread; serialized by the client mutex; must not be called
 *  inside a read-side section (it waits for a grace period, deferred or not: a
 *  release may flush the pending ones).
 */
DMAC_EXPORT int dmac_client_release_v(struct dmac_client *c, const uint64_t *lease_ids, size_t n,
				      int *results);

/**
 * Send the releases a DMAC_CLIENT_DEFER_RELEASE client has pending (see
 * dmac_client_release_v()): one grace period, then RELEASE for all of them. A
 * no-op (0) without pending releases or without the flag.
 * @return 0; the first per-lease failure the daemon reported for a deferred release
 *  since the last call (-ENOENT, -ESTALE: the lease was already gone there; its
 *  translation was removed anyway); -EINVAL (c NULL); -ECONNRESET, -EPIPE,
 *  -EPROTO (the client is then dead and the daemon reclaimed them).
 * Concurrency: any thread; serialized by the client mutex; not inside a read-side
 *  section (it waits for a grace period).
 */
DMAC_EXPORT int dmac_client_flush(struct dmac_client *c);

/**
 * List this session's leases as the daemon sees them (QUERY), one page per call.
 * @param cursor in: 0 for the first page, else the value a previous call left;
 *               out: the cursor of the next page, 0 when there is none
 * @param out    room for @p max entries (max >= 1; more than max_vec are not
 *               asked for at once)
 * @param count  receives the number of entries written
 * @return 0, or -EINVAL (NULL args, max 0), the daemon's status (-EINVAL for a
 *  stale cursor), -ECONNRESET, -EPIPE, -EPROTO.
 * Concurrency: any thread; serialized by the client mutex. Pages are not a
 *  snapshot: leases taken or released between calls may be seen or missed.
 */
DMAC_EXPORT int dmac_client_query(struct dmac_client *c, uint64_t *cursor,
				  struct dmac_client_lease_info *out, size_t max, size_t *count);

/**
 * Read the daemon's counters (STATS).
 * @return 0, or -EINVAL (NULL args), the daemon's status, -ECONNRESET, -EPIPE,
 *  -EPROTO.
 * Concurrency: any thread; serialized by the client mutex.
 */
DMAC_EXPORT int dmac_client_stats(struct dmac_client *c, struct dmac_client_stats *out);

/**
 * Operator view: every configured tenant (ADMIN_TENANTS), one page per call.
 *
 * Only on an admin session: connected with tenant DMAC_CLIENT_ADMIN_TENANT by a
 * process whose uid is 0 or whose gid is one of the daemon's admin groups.
 * @param cursor, out, max, count  as dmac_client_query()
 * @return 0, or -EINVAL (NULL args, max 0), -EPERM (not an admin session),
 *  -ENOTTY (the daemon does not implement the admin messages), the daemon's
 *  status, -ECONNRESET, -EPIPE, -EPROTO.
 * Concurrency: any thread; serialized by the client mutex.
 */
DMAC_EXPORT int dmac_client_admin_tenants(struct dmac_client *c, uint64_t *cursor,
					  struct dmac_client_tenant_info *out, size_t max,
					  size_t *count);

/**
 * Operator view: every lease of every session (ADMIN_LEASES), one page per call.
 * @return as dmac_client_admin_tenants().
 * Concurrency: any thread; serialized by the client mutex. Pages are not a
 *  snapshot.
 */
DMAC_EXPORT int dmac_client_admin_leases(struct dmac_client *c, uint64_t *cursor,
					 struct dmac_client_admin_lease *out, size_t max,
					 size_t *count);

/**
 * Operator view: every connection of the daemon (ADMIN_SESSIONS), bound or
 * not, by session id, one page per call: pid, uid, gid and process name as
 * the daemon saw them at connect, tenant, registrations and leases.
 * @return as dmac_client_admin_tenants(); -ENOTTY from a daemon older than
 *  protocol version 3.
 * Concurrency: any thread; serialized by the client mutex. Pages are not a
 *  snapshot.
 */
DMAC_EXPORT int dmac_client_admin_sessions(struct dmac_client *c, uint64_t *cursor,
					   struct dmac_client_session_info *out, size_t max,
					   size_t *count);

/**
 * Operator view: histogram @p id of the daemon (ADMIN_HISTOGRAM), e.g.
 * DMAC_CLIENT_HIST_LEASE, the time the daemon took to process each LEASE
 * request since it started.
 * @return 0, or -EINVAL (NULL args), -EPERM (not an admin session), -ENOENT
 *  (the daemon has no such histogram), -ENOTTY (a daemon older than protocol
 *  version 3), the daemon's status, -ECONNRESET, -EPIPE, -EPROTO, -ETIMEDOUT.
 * Concurrency: any thread; serialized by the client mutex.
 */
DMAC_EXPORT int dmac_client_admin_histogram(struct dmac_client *c, uint32_t id,
					    struct dmac_client_histogram *out);

/**
 * Translate a virtual address to its IOVA: the hot path.
 * @param va  any address
 * @param len NULL (one byte wanted), or in: bytes wanted (0: as many as are
 *            contiguous), out: bytes contiguous in VA and IOVA from @p va, at most
 *            the bytes wanted; 0 on a miss
 * @return the IOVA of @p va, or DMAC_CLIENT_IOVA_ERROR when no lease of this
 *  client covers it (c NULL included). A lease whose IOVA range ends at
 *  UINT64_MAX would make its last byte ambiguous; daemon windows never reach it.
 * Concurrency: lock-free, no system call in steady state, any number of threads
 *  at once, concurrently with every call but dmac_client_close(). The calling
 *  thread is registered with liburcu-memb on its first call (see
 *  dmac_client_thread_register()). Must not be called from a signal handler that
 *  interrupted a libdmacache call on the same thread.
 */
DMAC_EXPORT uint64_t dmac_client_translate(const struct dmac_client *c, const void *va,
					   size_t *len);

/**
 * Translate @p n addresses in one read-side section, from one version of the local
 * table (a burst, as a dataplane translates the buffers of a batch of packets or
 * the pages of an I/O): iova[i] and len[i] as dmac_client_translate() would give
 * for va[i] and len[i], the section's cost paid once.
 * @param va   n addresses
 * @param len  NULL (one byte wanted each), or n lengths in/out as the len of
 *             dmac_client_translate() (0 on a miss)
 * @param iova receives n IOVAs (DMAC_CLIENT_IOVA_ERROR on a miss)
 * @return the number of addresses that hit (0 for c NULL: all miss).
 * Concurrency: as dmac_client_translate(); all n translations see one version of
 *  the table (a lease_v or release_v batch is seen whole or not at all).
 */
DMAC_EXPORT size_t dmac_client_translate_burst(const struct dmac_client *c, const void *const *va,
					       size_t *len, uint64_t *iova, size_t n);

/**
 * Register the calling thread with liburcu-memb now rather than lazily.
 *
 * Threads need not call this: translate and every request call register their
 * thread on first use, and a pthread key destructor unregisters it at thread
 * exit. A thread that the application registered itself (rcu_register_thread()
 * of urcu-memb) is left alone, now and at exit. Idempotent.
 * @return 0, -EAGAIN (no pthread key could be created; the thread is still
 *  registered but will not be unregistered at exit: call
 *  dmac_client_thread_unregister() before it exits).
 * Concurrency: any thread, for itself.
 */
DMAC_EXPORT int dmac_client_thread_register(void);

/**
 * Unregister the calling thread if libdmacache registered it; no-op otherwise.
 * The thread may translate again later (it is registered again on first use).
 * Concurrency: any thread, for itself, outside any translate call.
 */
DMAC_EXPORT void dmac_client_thread_unregister(void);

/* ---- devices (DEVICE request) ------------------------------------------- */

/** BAR flags of struct dmac_client_device (values of the protocol's). */
#define DMAC_CLIENT_BAR_MEM	 0x01u /**< memory BAR */
#define DMAC_CLIENT_BAR_IO	 0x02u /**< I/O port BAR */
#define DMAC_CLIENT_BAR_64	 0x04u /**< 64-bit memory BAR */
#define DMAC_CLIENT_BAR_PREFETCH 0x08u /**< prefetchable */
#define DMAC_CLIENT_BAR_MMAP	 0x10u /**< bars[i].fd is its sysfs resourceN file: mmap it */

/** Interrupt kinds of struct dmac_client_device. */
#define DMAC_CLIENT_IRQ_NONE 0u
#define DMAC_CLIENT_IRQ_INTX 1u
#define DMAC_CLIENT_IRQ_MSI  2u
#define DMAC_CLIENT_IRQ_MSIX 3u

/** A device claimed with dmac_client_device_get(); the caller owns every fd. */
struct dmac_client_device {
	char bdf[16]; /**< "DDDD:BB:DD.F" */
	uint16_t vendor_id;
	uint16_t device_id;
	int32_t numa_node; /**< -1 unknown */
	uint32_t trusted;  /**< 1: device_fd is the VFIO device fd (not an isolation boundary) */
	uint32_t irq_type; /**< DMAC_CLIENT_IRQ_* */
	uint32_t nirqs;	   /**< irq_fds[0..nirqs-1]: eventfds, vector 0 first */
	int irq_fds[DMAC_CLIENT_MAX_FDS];
	struct {
		uint64_t size;	/**< 0: absent */
		uint32_t flags; /**< DMAC_CLIENT_BAR_* */
		int fd;		/**< with DMAC_CLIENT_BAR_MMAP: O_RDWR resourceN; else -1 */
	} bars[6];
	int device_fd; /**< trusted mode only, else -1 */
};

/**
 * Claim one of the tenant's devices for this session (DEVICE): by PCI
 * address when @p bdf is not NULL ("DDDD:BB:DD.F" or "BB:DD.F"), else by
 * @p index in the tenant's 'devices' list. The device stays claimed until the
 * session ends; the daemon then stops its DMA before reclaiming the leases.
 * @return 0 and *out (every fd in it belongs to the caller: see
 *  dmac_client_device_close()), or -EINVAL (NULL args, bad bdf, index > 7),
 *  the daemon's status (-ENOENT no such device for the tenant, -EBUSY held by
 *  another session, -EALREADY held by this one, -EPERM admin session,
 *  -ENOTTY daemon without DEVICE), -ECONNRESET, -EPIPE, -EPROTO.
 * Concurrency: any thread; serialized by the client mutex.
 */
DMAC_EXPORT int dmac_client_device_get(struct dmac_client *c, const char *bdf, unsigned int index,
				       struct dmac_client_device *out);

/**
 * Close every fd of @p d and set them to -1 (the claim itself lasts as long
 * as the session). NULL is a no-op. Never fails. Any thread.
 */
DMAC_EXPORT void dmac_client_device_close(struct dmac_client_device *d);

/**
 * What an errno means in dmacache terms (sign ignored), e.g. for -EDQUOT "tenant
 * quota exceeded". Never NULL; static storage.
 * Concurrency: any thread.
 */
DMAC_EXPORT const char *dmac_client_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* DMAC_DMACACHE_H */
