/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake dmacached for the libdmacache unit tests: one thread serving one end of
 * a socketpair(AF_UNIX, SOCK_SEQPACKET) with the real codec and fd layer.
 *
 * Invariants:
 * - IOVAs are deterministic: the lease of [offset, offset + length) of the
 *   registration with index k (the k-th range ever registered, from 0) gets
 *   iova = FAKE_IOVA_BASE + k * FAKE_IOVA_STRIDE + offset. So a VA always maps
 *   to the same IOVA and a reader can check a translation without asking.
 * - Lease ids are unguessable-looking (an odd multiplier times a counter);
 *   generations start at 1.
 * - Every field of struct fake_server below the mutex is read and written with
 *   the mutex held; the injection fields apply to the next request only.
 * - The server closes every fd it receives after recording its inode.
 * - Admin messages: ADMIN_TENANTS lists FAKE_TENANTS tenants "tenant-0"..
 *   (tenant k: k sessions, k << 20 bytes registered, 2k << 20 charged;
 *   version-2 elements of 120 bytes when v2_tenants is set), ADMIN_LEASES
 *   every lease the server holds (tenant "tenant-a", session 42),
 *   ADMIN_SESSIONS FAKE_SESSIONS sessions (id 42 + k, pid 1000 + k, comm
 *   "proc-k"), all paged by index; ADMIN_HISTOGRAM id 1: buckets 1024 (2),
 *   4096 (1), +Inf (1), sum 9000, other ids ENOENT; EPERM unless HELLO named
 *   "@admin".
 */
#ifndef DMAC_TEST_FAKE_SERVER_H
#define DMAC_TEST_FAKE_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define FAKE_IOVA_BASE	 UINT64_C(0x100000000)
#define FAKE_IOVA_STRIDE UINT64_C(0x100000000)
#define FAKE_MAX_REGS	 64
#define FAKE_MAX_LEASES	 4096
#define FAKE_TENANTS	 5
#define FAKE_SESSIONS	 3

struct fake_lease {
	uint64_t lease_id, generation, iova, length, reg_id, reg_offset;
	uint32_t prot;
};

struct fake_server {
	pthread_t thread;
	int sock;	 /* the server's end */
	int client_sock; /* the client's end, handed to dmac_client_connect_fd() */
	pthread_mutex_t lock;
	/* counters and state */
	unsigned int requests;	   /* requests received, HELLO included */
	unsigned int op_count[16]; /* per opcode */
	uint32_t max_vec;	   /* announced in HELLO (default 256) */
	unsigned int nregs;
	uint64_t reg_ids[FAKE_MAX_REGS];
	uint64_t reg_len[FAKE_MAX_REGS];
	bool reg_live[FAKE_MAX_REGS];
	ino_t last_ino[16]; /* st_ino of the fds of the last REGISTER */
	unsigned int last_nfds;
	unsigned int nleases;
	struct fake_lease leases[FAKE_MAX_LEASES];
	uint64_t lease_counter;
	bool admin;	 /* HELLO said "@admin": the admin messages are allowed */
	bool v2_tenants; /* ADMIN_TENANTS answers as a version-2 daemon */
	/* injection, for the next request only */
	int fail_next;	       /* reply with this errno as the status */
	bool hangup_next;      /* close the socket instead of replying */
	bool mute_next;	       /* do not reply, keep serving (a hung daemon) */
	bool bad_tag_next;     /* reply with a wrong tag */
	bool short_grant_next; /* LEASE: grant one page less than asked */
	int item_fail_next;    /* RELEASE/UNREGISTER: this status for item 0 */
	/* called (server thread, under lock) when a lease is granted (+1) or released (-1) */
	void (*lease_hook)(void *arg, uint64_t iova, uint64_t length, int delta);
	void *hook_arg;
};

/* Create the socketpair and start the thread. Aborts on setup failure. */
void fake_server_start(struct fake_server *s);
/* Serve @p sock, a connected SOCK_SEQPACKET socket the server now owns
 * (client_sock is -1). Aborts on setup failure. */
void fake_server_start_fd(struct fake_server *s, int sock);
/* Wait for the thread to end (it ends when the client hangs up) and free. */
void fake_server_join(struct fake_server *s);
/* Number of live leases the server holds. */
unsigned int fake_server_leases(struct fake_server *s);
/* Requests received so far. */
unsigned int fake_server_requests(struct fake_server *s);
/* The IOVA a byte at @p offset of registration index @p k gets. */
static inline uint64_t fake_iova(unsigned int k, uint64_t offset)
{
	return FAKE_IOVA_BASE + k * FAKE_IOVA_STRIDE + offset;
}

#endif /* DMAC_TEST_FAKE_SERVER_H */
