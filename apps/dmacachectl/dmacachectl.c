/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacachectl: the operator's CLI for dmacached, built on libdmacache.
 *
 *   dmacachectl [--socket PATH] [--tenant NAME] [--timeout MS] [--json] COMMAND
 *
 * Invariants:
 * - Exit status: 0 the command did what it says; 1 the daemon refused or
 *   failed a request (its errno is reported); 2 usage (bad option, command
 *   or argument, nothing sent); 3 the daemon is unreachable (no socket, a
 *   stale socket, no answer within --timeout, the connection lost); 4
 *   permission denied (socket permissions, a tenant or admin session the
 *   caller may not open, an admin request on a tenant session, a socket
 *   served by an untrusted uid). docs/client.md lists them.
 * - Every failure prints one line on stderr that names the cause and the
 *   socket; with --json, stdout then holds exactly one JSON object
 *   {"error": "ENAME", "errno": N, "message": "...", ...} and nothing else.
 * - With --json, a success prints exactly one JSON object (jansson), built
 *   whole before anything is printed. Ids (lease, registration, session,
 *   generation) are decimal strings, IOVAs "0x..." hex strings, counters
 *   and byte counts numbers, an unlimited quota null. Text output uses the
 *   same bases (ids decimal, IOVAs hex) and prints "unlimited".
 * - No wait is unbounded: the socket has SO_SNDTIMEO and SO_RCVTIMEO of
 *   --timeout (default 5000 ms), connect() included, so a stopped daemon
 *   costs exit 3 after the timeout.
 * - Every command opens its own session and closes it before exit: as the
 *   tenant of --tenant or $DMACACHE_TENANT; `stats` and `status` without a
 *   tenant, and `tenants`, `sessions`, `metrics`, `leases --all` always,
 *   as an admin session (HELLO as "@admin": root or an admin_gids member).
 *   A ctl session never registers or leases.
 * - Strings the daemon reports about other processes (comm) are printed
 *   with every byte outside printable ASCII replaced by '?': a tenant
 *   cannot send escape sequences to the operator's terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "dmac/dmacache.h"

#ifndef DMACACHE_VERSION
#define DMACACHE_VERSION "unknown"
#endif

/** Environment variable naming the socket (after --socket, before the default). */
#define CTL_SOCKET_ENV "DMACACHE_SOCKET"
/** Default --timeout, milliseconds. */
#define CTL_TIMEOUT_MS 5000u
/** Entries asked per page. */
#define CTL_PAGE 256u

enum ctl_exit {
	CTL_OK = 0,
	CTL_EDAEMON = 1,
	CTL_EUSAGE = 2,
	CTL_EUNREACHABLE = 3,
	CTL_EPERM = 4,
};

struct ctl {
	const char *socket;
	const char *tenant; /* NULL: none given */
	unsigned int timeout_ms;
	bool json;
	bool all;
};

/* ---------------------------------------------------------------- output */

/* Printable ASCII only (a process name is any bytes but NUL). */
static void sanitize(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i]; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

/* A JSON string of anything: invalid UTF-8 (a path, a name) sanitized. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	char buf[4096];

	if (j)
		return j;
	sanitize(buf, sizeof(buf), s);
	return json_string(buf);
}

/* A counter or byte count: a number (a string past INT64_MAX, never reached). */
static json_t *jnum(uint64_t v)
{
	char buf[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

/* An id: a decimal string (64-bit ids do not survive a double). */
static json_t *jid(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

/* An address: a "0x..." hex string. */
static json_t *jaddr(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
	return json_string(buf);
}

/* A quota: a number, or null for unlimited. */
static json_t *jquota(uint64_t v)
{
	return v == DMAC_CLIENT_UNLIMITED ? json_null() : jnum(v);
}

static void jset(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v);
}

/* Print one JSON object on stdout, then free it. */
static void jprint(json_t *o)
{
	json_dumpf(o, stdout, JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(o);
}

/* Bytes, exactly, in the configuration's syntax: "8M", "12K", "4097", "unlimited". */
static const char *fmt_bytes(char *buf, size_t cap, uint64_t v)
{
	static const char suffix[] = "KMGT";
	unsigned int k = 0;

	if (v == DMAC_CLIENT_UNLIMITED)
		return "unlimited";
	while (v && v % 1024 == 0 && k < 4) {
		v /= 1024;
		k++;
	}
	if (k)
		snprintf(buf, cap, "%" PRIu64 "%c", v, suffix[k - 1]);
	else
		snprintf(buf, cap, "%" PRIu64, v);
	return buf;
}

static const char *fmt_count(char *buf, size_t cap, uint64_t v)
{
	if (v == DMAC_CLIENT_UNLIMITED)
		return "unlimited";
	snprintf(buf, cap, "%" PRIu64, v);
	return buf;
}

static const char *prot_str(uint32_t prot)
{
	static const char *const s[] = {"--", "r-", "-w", "rw"};

	return s[prot & 3];
}

/* ---------------------------------------------------------------- failures */

/*
 * Report a failure and return its exit status: one line on stderr, and with
 * --json one JSON object on stdout. @p err is a negative errno (0 for a usage
 * error: "usage"/EINVAL).
 */
__attribute__((format(printf, 4, 5))) static int fail(const struct ctl *o, enum ctl_exit code,
						      int err, const char *fmt, ...)
{
	char msg[1024];
	const char *name;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "dmacachectl: %s\n", msg);
	if (o->json) {
		json_t *j = json_object();

		name = code == CTL_EUSAGE && !err ? "usage" : strerrorname_np(-err);
		jset(j, "error", jstr(name ? name : "unknown"));
		jset(j, "errno", json_integer(err ? -err : EINVAL));
		jset(j, "message", jstr(msg));
		jset(j, "exit", json_integer(code));
		if (o->socket)
			jset(j, "socket", jstr(o->socket));
		jprint(j);
	}
	return code;
}

/* A failure of connect() on the socket path. */
static int fail_connect(const struct ctl *o, int err)
{
	switch (-err) {
	case ENOENT:
		return fail(o, CTL_EUNREACHABLE, err, "is dmacached running? no socket at %s",
			    o->socket);
	case ECONNREFUSED:
		return fail(o, CTL_EUNREACHABLE, err,
			    "connection refused: stale socket, daemon not running (%s)", o->socket);
	case ETIMEDOUT:
		return fail(o, CTL_EUNREACHABLE, err,
			    "no answer from %s within %u ms: the daemon is stopped or hung",
			    o->socket, o->timeout_ms);
	case EACCES:
	case EPERM:
		return fail(o, CTL_EPERM, err,
			    "permission denied: cannot connect to %s (the socket's or its "
			    "directory's mode and group: socket_group, socket_mode)",
			    o->socket);
	case ENOTSOCK:
	case ENOTDIR:
		return fail(o, CTL_EUNREACHABLE, err, "%s is not a socket: %s", o->socket,
			    strerror(-err));
	default:
		return fail(o, CTL_EUNREACHABLE, err, "cannot connect to %s: %s", o->socket,
			    strerror(-err));
	}
}

/* A failure of a request (HELLO included) on a connected socket. */
static int fail_request(const struct ctl *o, const char *step, const char *tenant, int err)
{
	bool admin = tenant && !strcmp(tenant, DMAC_CLIENT_ADMIN_TENANT);

	switch (-err) {
	case ETIMEDOUT:
		return fail(o, CTL_EUNREACHABLE, err,
			    "%s: no answer from %s within %u ms: the daemon is stopped or hung",
			    step, o->socket, o->timeout_ms);
	case ECONNRESET:
	case EPIPE:
		return fail(o, CTL_EUNREACHABLE, err, "%s: the daemon at %s closed the connection",
			    step, o->socket);
	case EACCES:
		if (admin)
			return fail(o, CTL_EPERM, err,
				    "permission denied: uid %u may not open an admin session at %s "
				    "(needs root or a group in the daemon's admin_gids)",
				    (unsigned int)getuid(), o->socket);
		return fail(o, CTL_EPERM, err,
			    "permission denied: uid %u may not act as tenant '%s' at %s (its uids "
			    "and gids)",
			    (unsigned int)getuid(), tenant ? tenant : "", o->socket);
	case EPERM:
		if (!strcmp(step, "connect"))
			return fail(o, CTL_EPERM, err,
				    "permission denied: %s is served by a uid this client does not "
				    "trust (root, or DMACACHE_DAEMON_UID)",
				    o->socket);
		return fail(o, CTL_EPERM, err, "%s: permission denied by the daemon at %s (%s)",
			    step, o->socket, dmac_client_strerror(err));
	case ENOENT:
		if (!strcmp(step, "connect"))
			return fail(o, CTL_EDAEMON, err,
				    "no tenant '%s' in the configuration of the daemon at %s",
				    tenant ? tenant : "", o->socket);
		break;
	case ENOTTY:
		return fail(o, CTL_EDAEMON, err,
			    "%s: the daemon at %s does not implement it (an older version)", step,
			    o->socket);
	case EINVAL:
		if (!strcmp(step, "connect"))
			return fail(o, CTL_EUSAGE, err,
				    "invalid tenant name '%s', or a malformed DMACACHE_DAEMON_UID",
				    tenant ? tenant : "");
		break;
	default:
		break;
	}
	return fail(o, CTL_EDAEMON, err, "%s (socket %s): %s [%s]", step, o->socket, strerror(-err),
		    dmac_client_strerror(err));
}

/* ---------------------------------------------------------------- sessions */

/*
 * Connect to the socket with both timeouts set and say HELLO as @p tenant.
 * @return 0 and *out, or the exit status (reported).
 */
static int ctl_connect(const struct ctl *o, const char *tenant, struct dmac_client **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = o->timeout_ms / 1000,
			     .tv_usec = (suseconds_t)(o->timeout_ms % 1000) * 1000};
	size_t n = strlen(o->socket);
	int sock, rc;

	if (n == 0 || n >= sizeof(sa.sun_path))
		return fail(o, CTL_EUSAGE, -ENAMETOOLONG, "socket path '%s' is empty or too long",
			    o->socket);
	memcpy(sa.sun_path, o->socket, n + 1);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return fail(o, CTL_EDAEMON, -errno, "socket: %s", strerror(errno));
	if (o->timeout_ms && (setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
			      setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))) {
		rc = fail(o, CTL_EDAEMON, -errno, "setsockopt: %s", strerror(errno));
		goto err_close_sock;
	}
	if (connect(sock, (const struct sockaddr *)&sa, sizeof(sa))) {
		/* a full listen queue past SO_SNDTIMEO is EAGAIN */
		rc = fail_connect(o, errno == EAGAIN ? -ETIMEDOUT : -errno);
		goto err_close_sock;
	}
	rc = dmac_client_connect_fd(sock, tenant, 0, out);
	if (rc) {
		rc = fail_request(o, "connect", tenant, rc);
		goto err_close_sock;
	}
	return 0;

err_close_sock:
	close(sock);
	return rc;
}

static bool is_admin_name(const char *tenant)
{
	return tenant && !strcmp(tenant, DMAC_CLIENT_ADMIN_TENANT);
}

/* The session a command runs in: its tenant, or an admin session when none. */
static const char *session_tenant(const struct ctl *o)
{
	return o->tenant ? o->tenant : DMAC_CLIENT_ADMIN_TENANT;
}

/* ---------------------------------------------------------------- status, stats */

static int cmd_status(const struct ctl *o)
{
	const char *tenant = session_tenant(o);
	struct dmac_client_info info;
	struct dmac_client *c = NULL;
	char b1[32], b2[32];
	bool admin = is_admin_name(tenant);
	int rc = ctl_connect(o, tenant, &c);

	if (rc)
		return rc;
	dmac_client_info(c, &info);
	dmac_client_close(c);
	if (o->json) {
		json_t *j = json_object();

		jset(j, "socket", jstr(o->socket));
		jset(j, "reachable", json_true());
		jset(j, "protocol_version", jnum(info.version));
		jset(j, "tenant", jstr(info.tenant));
		jset(j, "admin", json_boolean(admin));
		jset(j, "session_id", jid(info.session_id));
		if (!admin) {
			jset(j, "quota_pinned_bytes", jquota(info.quota_pinned_bytes));
			jset(j, "quota_leases", jquota(info.quota_leases));
			jset(j, "iova_start", jaddr(info.iova_start));
			jset(j, "iova_last", jaddr(info.iova_last));
		}
		jset(j, "max_vec", jnum(info.max_vec));
		jset(j, "max_fds", jnum(info.max_fds));
		jset(j, "max_msg", jnum(info.max_msg));
		jprint(j);
		return CTL_OK;
	}
	printf("daemon:        reachable at %s\n", o->socket);
	printf("protocol:      version %" PRIu32 "\n", info.version);
	if (admin) {
		printf("session:       %" PRIu64 ", admin session (no tenant, no quotas)\n",
		       info.session_id);
	} else {
		printf("tenant:        %s (session %" PRIu64 ")\n", info.tenant, info.session_id);
		printf("quota pinned:  %s\n", fmt_bytes(b1, sizeof(b1), info.quota_pinned_bytes));
		printf("quota leases:  %s\n", fmt_count(b2, sizeof(b2), info.quota_leases));
		printf("iova window:   0x%" PRIx64 "-0x%" PRIx64 "\n", info.iova_start,
		       info.iova_last);
	}
	printf("limits:        %" PRIu32 " elements, %" PRIu32 " fds, %" PRIu32
	       " bytes per message\n",
	       info.max_vec, info.max_fds, info.max_msg);
	return CTL_OK;
}

static int cmd_stats(const struct ctl *o)
{
	const char *tenant = session_tenant(o);
	bool admin = is_admin_name(tenant);
	struct dmac_client_stats st;
	struct dmac_client *c = NULL;
	int rc = ctl_connect(o, tenant, &c);

	if (rc)
		return rc;
	rc = dmac_client_stats(c, &st);
	dmac_client_close(c);
	if (rc)
		return fail_request(o, "STATS", tenant, rc);
	/* A tenant's figures count this session among the tenant's; an admin
	 * session is never counted (protocol.md 6.7). */
	if (!admin && st.sessions)
		st.sessions--;

	const struct {
		const char *name;
		uint64_t v;
	} f[] = {
	    {"cache_hits", st.cache_hits},
	    {"cache_misses", st.cache_misses},
	    {"evictions", st.evictions},
	    {"bytes_pinned", st.bytes_pinned},
	    {"areas", st.areas},
	    {"leases", st.leases},
	    {"tenants", st.tenants},
	    {"sessions", st.sessions},
	    {"registrations", st.registrations},
	    {"copy_hits", st.copy_hits},
	    {"copy_misses", st.copy_misses},
	    {"kernel_copies", st.kernel_copies},
	    {"kernel_unmaps", st.kernel_unmaps},
	    {"copies_kept_bytes", st.copies_kept_bytes},
	    {"unmap_failures", st.unmap_failures},
	    {"tenant_copies", st.tenant_copies},
	};
	json_t *j = o->json ? json_object() : NULL;

	if (j)
		jset(j, "scope", jstr(admin ? "daemon" : tenant));
	else
		printf("%-18s %s\n", "scope", admin ? "daemon" : tenant);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (j)
			jset(j, f[i].name, jnum(f[i].v));
		else
			printf("%-18s %" PRIu64 "\n", f[i].name, f[i].v);
	}
	if (j)
		jprint(j);
	return CTL_OK;
}

/* ---------------------------------------------------------------- leases */

static json_t *lease_json(const struct dmac_client_lease_info *l, const char *tenant,
			  uint64_t session)
{
	json_t *j = json_object();

	if (tenant) {
		jset(j, "tenant", jstr(tenant));
		jset(j, "session_id", jid(session));
	}
	jset(j, "lease_id", jid(l->lease_id));
	jset(j, "generation", jid(l->generation));
	jset(j, "iova", jaddr(l->iova));
	jset(j, "length", jnum(l->length));
	jset(j, "reg_id", jid(l->reg_id));
	jset(j, "reg_offset", jnum(l->reg_offset));
	jset(j, "prot", jstr(prot_str(l->prot)));
	return j;
}

static void lease_text(const struct dmac_client_lease_info *l, const char *tenant, uint64_t session)
{
	char b[32];

	if (tenant)
		printf("%-16s %-8" PRIu64 " ", tenant, session);
	printf("%-20" PRIu64 " %-6" PRIu64 " 0x%-16" PRIx64 " %-10s %-20" PRIu64 " %-10" PRIu64
	       " %s\n",
	       l->lease_id, l->generation, l->iova, fmt_bytes(b, sizeof(b), l->length), l->reg_id,
	       l->reg_offset, prot_str(l->prot));
}

static int cmd_leases(const struct ctl *o)
{
	static struct dmac_client_admin_lease all[CTL_PAGE];
	static struct dmac_client_lease_info info[CTL_PAGE];
	const char *tenant = o->all ? DMAC_CLIENT_ADMIN_TENANT : o->tenant;
	json_t *arr = o->json ? json_array() : NULL;
	struct dmac_client *c = NULL;
	uint64_t cursor = 0, total = 0;
	size_t n = 0;
	int rc;

	if (!tenant) {
		json_decref(arr);
		return fail(o, CTL_EUSAGE, 0,
			    "'leases' lists the leases of a tenant session: give --tenant NAME (or "
			    "DMACACHE_TENANT); 'leases --all' lists every session's");
	}
	rc = ctl_connect(o, tenant, &c);
	if (rc) {
		json_decref(arr);
		return rc;
	}
	if (!arr)
		printf("%s%-20s %-6s %-18s %-10s %-20s %-10s %s\n",
		       o->all ? "tenant           session  " : "", "lease", "gen", "iova", "length",
		       "reg", "reg_offset", "prot");
	do {
		if (o->all)
			rc = dmac_client_admin_leases(c, &cursor, all, CTL_PAGE, &n);
		else
			rc = dmac_client_query(c, &cursor, info, CTL_PAGE, &n);
		if (rc)
			break;
		for (size_t i = 0; i < n; i++, total++) {
			const struct dmac_client_lease_info *l = o->all ? &all[i].info : &info[i];
			const char *t = o->all ? all[i].tenant : NULL;
			uint64_t sid = o->all ? all[i].session_id : 0;

			if (arr)
				json_array_append_new(arr, lease_json(l, t, sid));
			else
				lease_text(l, t, sid);
		}
	} while (cursor);
	dmac_client_close(c);
	if (rc) {
		json_decref(arr);
		return fail_request(o, o->all ? "ADMIN_LEASES" : "QUERY", tenant, rc);
	}
	if (arr) {
		json_t *j = json_object();

		jset(j, "leases", arr);
		jset(j, "count", jnum(total));
		jprint(j);
	}
	return CTL_OK;
}

/* ---------------------------------------------------------------- tenants */

/* Every tenant, all pages. @return 0 and *out (free()), or -errno. */
static int fetch_tenants(struct dmac_client *c, struct dmac_client_tenant_info **out, size_t *nout)
{
	struct dmac_client_tenant_info *t = NULL, *nt;
	uint64_t cursor = 0;
	size_t have = 0, n = 0;
	int rc;

	do {
		nt = realloc(t, (have + CTL_PAGE) * sizeof(*t));
		if (!nt) {
			rc = -ENOMEM;
			goto err_free;
		}
		t = nt;
		rc = dmac_client_admin_tenants(c, &cursor, t + have, CTL_PAGE, &n);
		if (rc)
			goto err_free;
		have += n;
	} while (cursor);
	*out = t;
	*nout = have;
	return 0;

err_free:
	free(t);
	return rc;
}

static int cmd_tenants(const struct ctl *o)
{
	struct dmac_client_tenant_info *t = NULL;
	struct dmac_client *c = NULL;
	size_t n = 0;
	int rc = ctl_connect(o, DMAC_CLIENT_ADMIN_TENANT, &c);

	if (rc)
		return rc;
	rc = fetch_tenants(c, &t, &n);
	dmac_client_close(c);
	if (rc)
		return fail_request(o, "ADMIN_TENANTS", DMAC_CLIENT_ADMIN_TENANT, rc);
	if (o->json) {
		json_t *arr = json_array(), *j = json_object();

		for (size_t i = 0; i < n; i++) {
			json_t *e = json_object();

			jset(e, "name", jstr(t[i].name));
			jset(e, "sessions", jnum(t[i].sessions));
			jset(e, "registrations", jnum(t[i].registrations));
			jset(e, "bytes_registered", jnum(t[i].bytes_registered));
			jset(e, "bytes_pinned", jnum(t[i].bytes_pinned));
			jset(e, "leases", jnum(t[i].leases));
			jset(e, "bytes_leased", jnum(t[i].bytes_leased));
			jset(e, "bytes_kept", jnum(t[i].bytes_kept));
			jset(e, "lease_requests", jnum(t[i].lease_requests));
			jset(e, "cache_hits", jnum(t[i].cache_hits));
			jset(e, "cache_misses", jnum(t[i].cache_misses));
			jset(e, "copy_hits", jnum(t[i].copy_hits));
			jset(e, "copy_misses", jnum(t[i].copy_misses));
			jset(e, "quota_pinned_bytes", jquota(t[i].quota_pinned_bytes));
			jset(e, "quota_leases", jquota(t[i].quota_leases));
			jset(e, "iova_start", jaddr(t[i].iova_start));
			jset(e, "iova_last", jaddr(t[i].iova_last));
			json_array_append_new(arr, e);
		}
		jset(j, "tenants", arr);
		jset(j, "count", jnum(n));
		jprint(j);
	} else {
		printf("%-20s %5s %5s %10s %10s %6s %10s %10s %11s %11s %10s %9s %s\n", "tenant",
		       "sess", "regs", "registered", "pinned", "leases", "leased", "kept",
		       "copy_hit", "copy_miss", "q_pinned", "q_leases", "iova window");
		for (size_t i = 0; i < n; i++) {
			char b[6][32];

			printf("%-20s %5" PRIu64 " %5" PRIu64 " %10s %10s %6" PRIu64
			       " %10s %10s %11" PRIu64 " %11" PRIu64 " %10s %9s 0x%" PRIx64
			       "-0x%" PRIx64 "\n",
			       t[i].name, t[i].sessions, t[i].registrations,
			       fmt_bytes(b[0], 32, t[i].bytes_registered),
			       fmt_bytes(b[1], 32, t[i].bytes_pinned), t[i].leases,
			       fmt_bytes(b[2], 32, t[i].bytes_leased),
			       fmt_bytes(b[3], 32, t[i].bytes_kept), t[i].copy_hits,
			       t[i].copy_misses, fmt_bytes(b[4], 32, t[i].quota_pinned_bytes),
			       fmt_count(b[5], 32, t[i].quota_leases), t[i].iova_start,
			       t[i].iova_last);
		}
	}
	free(t);
	return CTL_OK;
}

/* ---------------------------------------------------------------- sessions */

static int cmd_sessions(const struct ctl *o)
{
	static struct dmac_client_session_info s[CTL_PAGE];
	json_t *arr = o->json ? json_array() : NULL;
	struct dmac_client_info self;
	struct dmac_client *c = NULL;
	uint64_t cursor = 0, total = 0;
	size_t n = 0;
	int rc = ctl_connect(o, DMAC_CLIENT_ADMIN_TENANT, &c);

	if (rc) {
		json_decref(arr);
		return rc;
	}
	dmac_client_info(c, &self);
	if (!arr)
		printf("%-8s %-8s %-6s %-6s %-16s %-20s %5s %10s %6s %10s\n", "session", "pid",
		       "uid", "gid", "comm", "tenant", "regs", "registered", "leases", "leased");
	do {
		rc = dmac_client_admin_sessions(c, &cursor, s, CTL_PAGE, &n);
		if (rc)
			break;
		for (size_t i = 0; i < n; i++) {
			char comm[DMAC_CLIENT_COMM_MAX], b1[32], b2[32];

			if (s[i].session_id == self.session_id)
				continue; /* this command's own session */
			total++;
			sanitize(comm, sizeof(comm), s[i].comm);
			if (arr) {
				json_t *e = json_object();

				jset(e, "session_id", jid(s[i].session_id));
				jset(e, "pid", jnum(s[i].pid));
				jset(e, "uid", jnum(s[i].uid));
				jset(e, "gid", jnum(s[i].gid));
				jset(e, "comm", jstr(comm));
				jset(e, "tenant", s[i].tenant[0] ? jstr(s[i].tenant) : json_null());
				jset(e, "pidfd", json_boolean(s[i].pidfd));
				jset(e, "registrations", jnum(s[i].registrations));
				jset(e, "bytes_registered", jnum(s[i].bytes_registered));
				jset(e, "leases", jnum(s[i].leases));
				jset(e, "bytes_leased", jnum(s[i].bytes_leased));
				json_array_append_new(arr, e);
			} else {
				printf("%-8" PRIu64 " %-8" PRIu32 " %-6" PRIu32 " %-6" PRIu32
				       " %-16s %-20s %5" PRIu64 " %10s %6" PRIu64 " %10s\n",
				       s[i].session_id, s[i].pid, s[i].uid, s[i].gid,
				       comm[0] ? comm : "?", s[i].tenant[0] ? s[i].tenant : "-",
				       s[i].registrations,
				       fmt_bytes(b1, sizeof(b1), s[i].bytes_registered),
				       s[i].leases, fmt_bytes(b2, sizeof(b2), s[i].bytes_leased));
			}
		}
	} while (cursor);
	dmac_client_close(c);
	if (rc) {
		json_decref(arr);
		return fail_request(o, "ADMIN_SESSIONS", DMAC_CLIENT_ADMIN_TENANT, rc);
	}
	if (arr) {
		json_t *j = json_object();

		jset(j, "sessions", arr);
		jset(j, "count", jnum(total));
		jprint(j);
	}
	return CTL_OK;
}

/* ---------------------------------------------------------------- metrics */

/*
 * OpenMetrics text (docs/operations.md, "Metrics"): a family's HELP, TYPE
 * and UNIT lines, then its samples; counters' samples end in _total.
 */
static void om_family(const char *name, const char *type, const char *unit, const char *help)
{
	printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	if (unit)
		printf("# UNIT %s %s\n", name, unit);
}

/* One sample; @p tenant: the tenant label (names are [A-Za-z0-9._-]: no escaping). */
static void om_sample(const char *name, const char *suffix, const char *tenant, uint64_t v)
{
	printf("%s%s", name, suffix);
	if (tenant)
		printf("{tenant=\"%s\"}", tenant);
	if (v == DMAC_CLIENT_UNLIMITED)
		printf(" +Inf\n");
	else
		printf(" %" PRIu64 "\n", v);
}

/* Nanoseconds as seconds, exactly ("0.000000512"). */
static void om_seconds(uint64_t ns)
{
	printf("%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

static int cmd_metrics(const struct ctl *o)
{
	struct dmac_client_tenant_info *t = NULL;
	struct dmac_client_histogram h;
	struct dmac_client_stats st;
	struct dmac_client *c = NULL;
	uint64_t cum = 0;
	size_t n = 0;
	int rc = ctl_connect(o, DMAC_CLIENT_ADMIN_TENANT, &c);

	if (rc)
		return rc;
	rc = dmac_client_stats(c, &st);
	if (rc) {
		dmac_client_close(c);
		return fail_request(o, "STATS", DMAC_CLIENT_ADMIN_TENANT, rc);
	}
	rc = fetch_tenants(c, &t, &n);
	if (rc) {
		dmac_client_close(c);
		return fail_request(o, "ADMIN_TENANTS", DMAC_CLIENT_ADMIN_TENANT, rc);
	}
	rc = dmac_client_admin_histogram(c, DMAC_CLIENT_HIST_LEASE, &h);
	dmac_client_close(c);
	if (rc) {
		free(t);
		return fail_request(o, "ADMIN_HISTOGRAM", DMAC_CLIENT_ADMIN_TENANT, rc);
	}

	/* daemon-wide */
	const struct {
		const char *name, *type, *unit, *help;
		uint64_t v;
	} d[] = {
	    {"dmacache_pinned_bytes", "gauge", "bytes", "Bytes pinned in the master space now.",
	     st.bytes_pinned},
	    {"dmacache_areas", "gauge", NULL, "Master areas (one pin and map each) now.", st.areas},
	    {"dmacache_leases", "gauge", NULL, "Live leases.", st.leases},
	    {"dmacache_registrations", "gauge", NULL, "Live registrations.", st.registrations},
	    {"dmacache_tenants", "gauge", NULL, "Tenants configured.", st.tenants},
	    {"dmacache_sessions", "gauge", NULL, "Sessions connected, admin sessions not counted.",
	     st.sessions},
	    {"dmacache_tenant_mappings", "gauge", NULL,
	     "Mappings in tenant spaces now (live, kept and failed).", st.tenant_copies},
	    {"dmacache_kept_bytes", "gauge", "bytes",
	     "Bytes released but still mapped in tenant spaces (release = lazy).",
	     st.copies_kept_bytes},
	    {"dmacache_unmap_failures", "gauge", NULL,
	     "Mappings whose unmap the kernel refused, kept and retried.", st.unmap_failures},
	    {"dmacache_register_cache_hits", "counter", NULL,
	     "REGISTER ranges whose memory was already pinned.", st.cache_hits},
	    {"dmacache_register_cache_misses", "counter", NULL,
	     "REGISTER ranges that needed a new pin.", st.cache_misses},
	    {"dmacache_evictions", "counter", NULL, "Master areas evicted.", st.evictions},
	    {"dmacache_copy_cache_hits", "counter", NULL,
	     "LEASE items served by a mapping the tenant space already had.", st.copy_hits},
	    {"dmacache_copy_cache_misses", "counter", NULL,
	     "LEASE items that needed a new mapping.", st.copy_misses},
	    {"dmacache_kernel_copies", "counter", NULL,
	     "Map (IOMMU_IOAS_COPY) calls into tenant "
	     "spaces.",
	     st.kernel_copies},
	    {"dmacache_kernel_unmaps", "counter", NULL, "Unmap calls in tenant spaces.",
	     st.kernel_unmaps},
	    {"dmacache_lease_requests", "counter", NULL, "LEASE requests processed.", h.count},
	};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		om_family(d[i].name, d[i].type, d[i].unit, d[i].help);
		om_sample(d[i].name, strcmp(d[i].type, "counter") ? "" : "_total", NULL, d[i].v);
	}

	/* per tenant */
#define TV(field) offsetof(struct dmac_client_tenant_info, field)
	const struct {
		const char *name, *type, *unit, *help;
		size_t off;
	} p[] = {
	    {"dmacache_tenant_sessions", "gauge", NULL, "Sessions bound to the tenant.",
	     TV(sessions)},
	    {"dmacache_tenant_registrations", "gauge", NULL, "Live registrations of its sessions.",
	     TV(registrations)},
	    {"dmacache_tenant_registered_bytes", "gauge", "bytes",
	     "Bytes its sessions have registered.", TV(bytes_registered)},
	    {"dmacache_tenant_pinned_bytes", "gauge", "bytes",
	     "Bytes charged to its quota_pinned_bytes: registered plus unused cached memory it "
	     "brought in.",
	     TV(bytes_pinned)},
	    {"dmacache_tenant_leases", "gauge", NULL, "Its live leases.", TV(leases)},
	    {"dmacache_tenant_leased_bytes", "gauge", "bytes", "Sum of its leases' lengths.",
	     TV(bytes_leased)},
	    {"dmacache_tenant_kept_bytes", "gauge", "bytes",
	     "Bytes released but still mapped in its space (release = lazy).", TV(bytes_kept)},
	    {"dmacache_tenant_quota_pinned_bytes", "gauge", "bytes",
	     "Its quota_pinned_bytes (+Inf: unlimited).", TV(quota_pinned_bytes)},
	    {"dmacache_tenant_quota_leases", "gauge", NULL, "Its quota_leases (+Inf: unlimited).",
	     TV(quota_leases)},
	    {"dmacache_tenant_register_cache_hits", "counter", NULL,
	     "Its REGISTER ranges whose memory was already pinned.", TV(cache_hits)},
	    {"dmacache_tenant_register_cache_misses", "counter", NULL,
	     "Its REGISTER ranges that needed a new pin.", TV(cache_misses)},
	    {"dmacache_tenant_copy_cache_hits", "counter", NULL,
	     "Its LEASE items served by an existing mapping.", TV(copy_hits)},
	    {"dmacache_tenant_copy_cache_misses", "counter", NULL,
	     "Its LEASE items that needed a new mapping.", TV(copy_misses)},
	    {"dmacache_tenant_lease_requests", "counter", NULL, "LEASE requests of its sessions.",
	     TV(lease_requests)},
	};
#undef TV
	for (size_t k = 0; k < sizeof(p) / sizeof(p[0]); k++) {
		om_family(p[k].name, p[k].type, p[k].unit, p[k].help);
		for (size_t i = 0; i < n; i++) {
			uint64_t v;

			memcpy(&v, (const char *)&t[i] + p[k].off, sizeof(v));
			om_sample(p[k].name, strcmp(p[k].type, "counter") ? "" : "_total",
				  t[i].name, v);
		}
	}
	free(t);

	/* the lease-latency histogram: cumulative buckets, bounds in seconds */
	om_family("dmacache_lease_duration_seconds", "histogram", "seconds",
		  "Time the daemon took to process a LEASE request.");
	for (uint32_t i = 0; i < h.nbuckets; i++) {
		cum += h.buckets[i].count;
		printf("dmacache_lease_duration_seconds_bucket{le=\"");
		if (h.buckets[i].le == UINT64_MAX)
			printf("+Inf");
		else
			om_seconds(h.buckets[i].le);
		printf("\"} %" PRIu64 "\n", cum);
	}
	printf("dmacache_lease_duration_seconds_count %" PRIu64 "\n", h.count);
	printf("dmacache_lease_duration_seconds_sum ");
	om_seconds(h.sum);
	printf("\n# EOF\n");
	return CTL_OK;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dmacachectl [--socket PATH] [--tenant NAME] [--timeout MS] [--json] "
		"COMMAND\n"
		"       dmacachectl --version | --help\n"
		"\n"
		"commands:\n"
		"  status         daemon reachability, protocol version, the tenant's quotas\n"
		"                 and IOVA window (HELLO); without a tenant: an admin session\n"
		"  stats          counters (STATS): the tenant's with --tenant, else the\n"
		"                 daemon's (admin session: root or an admin group)\n"
		"  leases         the leases of this tenant session (QUERY; needs a tenant)\n"
		"  leases --all   every session's leases (admin)\n"
		"  tenants        every tenant: sessions, registered, pinned, leased and kept\n"
		"                 bytes, copy cache, quotas, window (admin)\n"
		"  sessions       every other connection: pid, uid, gid, process name,\n"
		"                 tenant, registrations, leases (admin)\n"
		"  metrics        OpenMetrics text for node_exporter's textfile collector\n"
		"                 (admin)\n"
		"\n"
		"options:\n"
		"  --socket PATH  daemon socket (default: $" CTL_SOCKET_ENV ", else %s)\n"
		"  --tenant NAME  tenant to say HELLO as (default: $DMACACHE_TENANT)\n"
		"  --timeout MS   bound on connecting and on each reply (default %u; 0: none)\n"
		"  --json         one JSON object on stdout, also on failure\n"
		"  --version      print the version\n"
		"  --help         this text\n"
		"\n"
		"exit status: 0 ok, 1 error from the daemon, 2 usage, 3 daemon unreachable\n"
		"(no socket, stale socket, no answer in time), 4 permission denied\n",
		DMAC_CLIENT_DEFAULT_SOCKET, CTL_TIMEOUT_MS);
}

/* A usage error: one line and a pointer to --help on stderr (plus the JSON object). */
__attribute__((format(printf, 2, 3))) static int usage_error(const struct ctl *o, const char *fmt,
							     ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(o, CTL_EUSAGE, 0, "%s (dmacachectl --help: usage)", msg);
}

static int parse_timeout(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 3600000ul)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},  {"tenant", required_argument, NULL, 't'},
	    {"timeout", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},	       {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},	       {NULL, 0, NULL, 0},
	};
	struct ctl o = {.socket = getenv(CTL_SOCKET_ENV),
			.tenant = getenv("DMACACHE_TENANT"),
			.timeout_ms = CTL_TIMEOUT_MS};
	const char *cmd;
	int ch;

	if (!o.socket || !*o.socket)
		o.socket = DMAC_CLIENT_DEFAULT_SOCKET;
	/* --json anywhere: even a usage error is answered in JSON */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		o.json |= !strcmp(argv[i], "--json");
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "s:t:T:jaVh", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o.socket = optarg;
			break;
		case 't':
			o.tenant = optarg;
			break;
		case 'T':
			if (parse_timeout(optarg, &o.timeout_ms))
				return usage_error(
				    &o, "--timeout takes milliseconds, 0..3600000: '%s'", optarg);
			break;
		case 'j':
			o.json = true;
			break;
		case 'a':
			o.all = true;
			break;
		case 'V':
			printf("dmacachectl %s\n", DMACACHE_VERSION);
			return CTL_OK;
		case 'h':
			usage(stdout);
			return CTL_OK;
		default:
			return usage_error(&o, "unknown option or missing argument: '%s'",
					   argv[optind - 1]);
		}
	}
	if (o.tenant && !*o.tenant)
		o.tenant = NULL;
	if (optind != argc - 1)
		return usage_error(&o, optind < argc ? "one command only" : "no command");
	cmd = argv[optind];
	if (o.all && strcmp(cmd, "leases"))
		return usage_error(&o, "--all applies to 'leases' only");
	if (!strcmp(cmd, "status"))
		return cmd_status(&o);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(&o);
	if (!strcmp(cmd, "leases"))
		return cmd_leases(&o);
	if (!strcmp(cmd, "tenants"))
		return cmd_tenants(&o);
	if (!strcmp(cmd, "sessions"))
		return cmd_sessions(&o);
	if (!strcmp(cmd, "metrics")) {
		if (o.json)
			return usage_error(&o, "'metrics' prints OpenMetrics text, not JSON");
		return cmd_metrics(&o);
	}
	return usage_error(&o, "unknown command '%s'", cmd);
}
