/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacached configuration: the parsed form of the INI file (see
 * docs/operations.md for the reference and etc/dmacached.conf for an example).
 *
 * Invariants of a struct dmd_config returned by dmd_config_load():
 * - socket is an absolute filesystem path (never abstract), < 108 bytes;
 * - socket_mode <= 0777; socket_dir_mode <= 0777, gives its owner rwx and
 *   grants no write to group or others; both hold their defaults when the
 *   file does not set them (0660/0750 with socket_group, else 0666/0755);
 * - tenant names are unique, 1..63 characters of [A-Za-z0-9._-] starting with
 *   a letter or digit (the wire protocol's rule);
 * - every tenant allows at least one uid or gid; its IOVA window is
 *   [iova_start, iova_last] with 'last' INCLUSIVE, start <= last, start and
 *   last + 1 multiples of 4 KiB; explicit windows of two tenants never overlap;
 * - quotas are byte/lease counts, UINT64_MAX meaning unlimited;
 * - device addresses are PCI BDFs in the full form "DDDD:BB:DD.F" (lower-case
 *   hex, normalised at parse time), at most DMD_CONFIG_MAX_DEVICES per
 *   tenant, and no address is listed twice in the whole config.
 * Concurrency: a config is plain data; the event-loop thread owns it.
 */
#ifndef DMD_CONFIG_H
#define DMD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"

#define DMD_CONFIG_MAX_IDS	  32
#define DMD_CONFIG_NAME_MAX	  64
#define DMD_CONFIG_MAX_DEVICES	  8
#define DMD_CONFIG_BDF_MAX	  16 /**< "DDDD:BB:DD.F" + NUL, rounded up */
#define DMD_CONFIG_DEFAULT_SOCKET "/run/dmacache/dmacached.sock"

struct dmd_tenant_config {
	char name[DMD_CONFIG_NAME_MAX];
	unsigned int line; /**< line of its [tenant NAME] header */
	uid_t uids[DMD_CONFIG_MAX_IDS];
	unsigned int nuids;
	gid_t gids[DMD_CONFIG_MAX_IDS];
	unsigned int ngids;
	uint64_t quota_pinned_bytes; /**< UINT64_MAX: unlimited */
	uint64_t quota_leases;	     /**< UINT64_MAX: unlimited */
	uint64_t iova_start;
	uint64_t iova_last; /**< inclusive */
	bool window_set;    /**< iova_start or iova_last given */
	unsigned int window_line;
	/** devices: PCI addresses the daemon opens and attaches to the space */
	char devices[DMD_CONFIG_MAX_DEVICES][DMD_CONFIG_BDF_MAX];
	unsigned int ndevices;
	unsigned int devices_line;
	/** trusted: DEVICE also hands the VFIO device fd (not an isolation boundary) */
	bool trusted;
	uint64_t quota_registrations; /**< registrations of its sessions; UINT64_MAX: unlimited */
	/** release = lazy (true, default) | strict: see docs/protocol.md 6.5 */
	bool release_lazy;
	/** bytes of released-but-mapped copies kept under lazy release */
	uint64_t copy_cache_bytes;
};

/** Defaults of the resource bounds (docs/operations.md). */
#define DMD_CONFIG_DEFAULT_MAX_SESSIONS		1024
#define DMD_CONFIG_DEFAULT_MAX_SESSIONS_PER_UID 64
#define DMD_CONFIG_DEFAULT_HELLO_TIMEOUT_MS	5000
#define DMD_CONFIG_DEFAULT_MAX_REGS_PER_SESSION 65536
#define DMD_CONFIG_DEFAULT_QUOTA_REGISTRATIONS	1048576
#define DMD_CONFIG_DEFAULT_COPY_CACHE_BYTES	(1ull << 30)
/** max_sessions and max_sessions_per_uid cannot exceed this. */
#define DMD_CONFIG_MAX_SESSIONS_LIMIT 65536

/** socket_mode and socket_dir_mode defaults, with and without socket_group. */
#define DMD_CONFIG_SOCKET_MODE_GROUP  0660
#define DMD_CONFIG_SOCKET_MODE_ALL    0666
#define DMD_CONFIG_SOCKET_DMODE_GROUP 0750
#define DMD_CONFIG_SOCKET_DMODE_ALL   0755

struct dmd_config {
	char socket[108];
	/*
	 * Who may reach the socket at all: a coarse gate before HELLO, which
	 * decides who acts as which tenant (dmd_config_allows()). By default any
	 * local user may connect; socket_group with 0660/0750 narrows it.
	 */
	bool socket_group_set;	/**< socket_group given: the socket's and directory's group */
	gid_t socket_group;	/**< valid when socket_group_set */
	mode_t socket_mode;	/**< permission bits of the socket file */
	mode_t socket_dir_mode; /**< permission bits of the socket's directory */
	char backend[32];	/**< "auto", or a backend name */
	uint64_t pinned_budget; /**< UINT64_MAX: unlimited; default dmd_config_default_budget() */
	uint64_t max_sessions;	/**< connections at once, HELLO or not */
	uint64_t max_sessions_per_uid;		/**< connections at once of one peer uid */
	uint64_t hello_timeout_ms;		/**< a connection must say HELLO within this */
	uint64_t max_registrations_per_session; /**< UINT64_MAX: unlimited */
	enum dmd_log_level log_level;
	enum dmd_log_target log_target;
	gid_t admin_gids[DMD_CONFIG_MAX_IDS]; /**< admin_gids: may open admin sessions */
	unsigned int nadmin_gids;
	struct dmd_tenant_config *tenants;
	unsigned int ntenants;
};

/**
 * Says whether a backend name is offered by this binary ("auto" is always
 * accepted by the parser without asking).
 */
typedef bool (*dmd_backend_known_fn)(const char *name);

/**
 * Parse and validate a configuration file.
 * Every error is written to @p errs (may be NULL) as "FILE:LINE: message"; the
 * parser goes on after an error so that one run reports all of them.
 * @param known  backend-name check (NULL: only "auto", "iommufd", "vfio")
 * A line longer than the reader's limit (libinih's line buffer less its NUL:
 * 199 characters with Debian's libinih) is one error at its own line.
 * @return 0 and *out (free with dmd_config_free()), or -EINVAL (errors
 * reported), -ENOENT/-EACCES (cannot open the file), -EISDIR (a directory),
 * another -errno of a failed read, -ENOMEM; every one but -ENOMEM is also
 * written to @p errs.
 * Concurrency: any thread; reads the user/group databases.
 */
int dmd_config_load(const char *path, dmd_backend_known_fn known, FILE *errs,
		    struct dmd_config **out);

/**
 * Parse and validate a configuration held in memory: same rules, errors and
 * result as dmd_config_load(), with @p name standing for the file name in
 * messages. @p buf needs no terminating NUL; a NUL byte inside it ends the line
 * it is on (the rest of that line is ignored).
 * @return 0 and *out, -EINVAL (errors reported), -ENOMEM.
 * Concurrency: any thread; reads the user/group databases.
 */
int dmd_config_parse_mem(const char *name, const void *buf, size_t len, dmd_backend_known_fn known,
			 FILE *errs, struct dmd_config **out);

/**
 * What is worth a warning in a valid configuration, as one line without
 * the file name, or NULL: today only a file without any tenant (empty or
 * not), which no dataplane can use.
 */
const char *dmd_config_warning(const struct dmd_config *cfg);

/** The default pinned_budget: a quarter of the machine's physical memory. */
uint64_t dmd_config_default_budget(void);

/** Free a config. NULL is a no-op. Never fails. */
void dmd_config_free(struct dmd_config *cfg);

/** Find a tenant by name. @return the tenant or NULL. */
const struct dmd_tenant_config *dmd_config_tenant(const struct dmd_config *cfg, const char *name);

/** Most supplementary groups of a peer the daemon keeps (SO_PEERGROUPS). */
#define DMD_PEER_MAX_GROUPS 64

/**
 * A client's identity as the kernel gave it at accept(): SO_PEERCRED (uid,
 * gid, pid) and SO_PEERGROUPS (supplementary groups, as of connect()). Never
 * taken from a message.
 */
struct dmd_peer {
	uid_t uid;
	gid_t gid; /**< primary group */
	pid_t pid;
	unsigned int ngroups; /**< groups[0..ngroups-1]; at most DMD_PEER_MAX_GROUPS */
	gid_t groups[DMD_PEER_MAX_GROUPS];
	/** process name (/proc/PID/comm) read at accept, NUL-terminated; empty
	 * when unknown or not provably the peer's (proc.h); display only */
	char comm[16];
	bool pidfd; /**< the server watches the peer process with a pidfd */
};

/** Whether @p g is the peer's primary group or one of its supplementary groups. */
bool dmd_peer_in_group(const struct dmd_peer *p, gid_t g);

/**
 * Whether a peer may act as tenant @p t: its uid is in t->uids, or its
 * primary or any supplementary group is in t->gids.
 */
bool dmd_config_allows(const struct dmd_tenant_config *t, const struct dmd_peer *p);

/**
 * Whether a peer may open an admin session: uid 0, or its primary or any
 * supplementary group listed in admin_gids.
 */
bool dmd_config_is_admin(const struct dmd_config *cfg, const struct dmd_peer *p);

/**
 * Parse a byte count: decimal or 0x-hex, optional suffix K, M, G, T (powers of
 * 1024), or "unlimited" when @p allow_unlimited (UINT64_MAX). A leading zero
 * before a digit ("0100") is refused, never read as octal.
 * @return 0, -EINVAL (syntax), -EDOM (leading zero), -ERANGE (overflow).
 */
int dmd_config_parse_bytes(const char *s, bool allow_unlimited, uint64_t *out);

/**
 * Parse a PCI address "DDDD:BB:DD.F" or "BB:DD.F" (hex; domain 0 when
 * omitted; device <= 0x1f, function <= 7) into its full lower-case form.
 * @return 0 and @p out (DMD_CONFIG_BDF_MAX bytes), or -EINVAL.
 * Concurrency: any thread.
 */
int dmd_config_parse_bdf(const char *s, char out[DMD_CONFIG_BDF_MAX]);

#endif /* DMD_CONFIG_H */
