/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacachectl: the operator's CLI for dmacached, built on libdmacache.
 *
 *   dmacachectl [--socket PATH] [--tenant NAME] [--json] status|stats|leases|tenants
 *
 * Invariants:
 * - Exit status 0 when the command did what it says, 1 on any error, with one
 *   clear line on stderr naming the socket, the step and the errno's meaning.
 *   (Usage errors are exit 1 too; --help is exit 0.)
 * - With --json, stdout holds exactly one JSON object (also for `status` of an
 *   unreachable daemon, which still exits 1); strings are escaped, numbers are
 *   unsigned decimal integers.
 * - Every command opens its own session as the tenant given with --tenant or
 *   DMACACHE_TENANT, and closes it before exit; the daemon reclaims nothing
 *   because a ctl session never registers or leases.
 * - `leases` lists the leases of THIS session (QUERY), which is empty for the
 *   fresh session the ctl opens. `leases --all` and `tenants` open an admin
 *   session instead (HELLO as "@admin", docs/protocol.md section 6.9) and page
 *   through ADMIN_LEASES / ADMIN_TENANTS; a daemon without them answers ENOTTY
 *   (or refuses the name), which is reported as such. In --json mode a failure
 *   after the listing started still closes the JSON object before exiting 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dmac/dmacache.h"

struct ctl {
	const char *socket;
	const char *tenant;
	bool json;
	bool all;
};

/* ---------------------------------------------------------------- output */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* One "key": value member; first is false for every member but the first. */
static void json_u64(bool *first, const char *key, uint64_t v)
{
	printf("%s\"%s\": %" PRIu64, *first ? "" : ", ", key, v);
	*first = false;
}

static void json_kstr(bool *first, const char *key, const char *v)
{
	printf("%s\"%s\": ", *first ? "" : ", ", key);
	json_str(v);
	*first = false;
}

static void json_bool(bool *first, const char *key, bool v)
{
	printf("%s\"%s\": %s", *first ? "" : ", ", key, v ? "true" : "false");
	*first = false;
}

/*
 * One line on stderr: the step, the socket, the C library's text for the errno
 * and dmacache's meaning of it (the same errno may come from the socket layer
 * or from the daemon: ENOENT is "no socket file" or "no such tenant").
 */
static int fail(const struct ctl *o, const char *what, int err)
{
	fprintf(stderr, "dmacachectl: %s (socket %s): %s [%s]\n", what, o->socket, strerror(-err),
		dmac_client_strerror(err));
	return 1;
}

/* ---------------------------------------------------------------- commands */

static int open_session(const struct ctl *o, struct dmac_client **c)
{
	if (!o->tenant) {
		fprintf(stderr,
			"dmacachectl: no tenant: use --tenant NAME or set DMACACHE_TENANT\n");
		return -EINVAL;
	}
	return dmac_client_connect(o->socket, o->tenant, 0, c);
}

static int cmd_status(const struct ctl *o)
{
	struct dmac_client_info info;
	struct dmac_client *c = NULL;
	bool first = true;
	int rc = open_session(o, &c);

	if (rc) {
		if (o->json) {
			printf("{");
			json_kstr(&first, "socket", o->socket);
			json_bool(&first, "reachable", false);
			json_kstr(&first, "error", dmac_client_strerror(rc));
			json_u64(&first, "errno", (uint64_t)-rc);
			printf("}\n");
		}
		if (o->tenant)
			fail(o, "connect", rc);
		return 1;
	}
	dmac_client_info(c, &info);
	if (o->json) {
		printf("{");
		json_kstr(&first, "socket", o->socket);
		json_bool(&first, "reachable", true);
		json_u64(&first, "protocol_version", info.version);
		json_kstr(&first, "tenant", info.tenant);
		json_u64(&first, "session_id", info.session_id);
		json_u64(&first, "quota_pinned_bytes", info.quota_pinned_bytes);
		json_u64(&first, "quota_leases", info.quota_leases);
		json_u64(&first, "iova_start", info.iova_start);
		json_u64(&first, "iova_last", info.iova_last);
		json_u64(&first, "max_vec", info.max_vec);
		json_u64(&first, "max_fds", info.max_fds);
		json_u64(&first, "max_msg", info.max_msg);
		printf("}\n");
	} else {
		printf("daemon:        reachable at %s\n", o->socket);
		printf("protocol:      version %" PRIu32 "\n", info.version);
		printf("tenant:        %s (session %" PRIu64 ")\n", info.tenant, info.session_id);
		printf("quota pinned:  %" PRIu64 " bytes\n", info.quota_pinned_bytes);
		printf("quota leases:  %" PRIu64 "\n", info.quota_leases);
		printf("iova window:   0x%" PRIx64 "-0x%" PRIx64 "\n", info.iova_start,
		       info.iova_last);
		printf("limits:        %" PRIu32 " elements, %" PRIu32 " fds, %" PRIu32
		       " bytes per message\n",
		       info.max_vec, info.max_fds, info.max_msg);
	}
	dmac_client_close(c);
	return 0;
}

static int cmd_stats(const struct ctl *o)
{
	struct dmac_client_stats st;
	struct dmac_client *c = NULL;
	bool first = true;
	int rc = open_session(o, &c);

	if (rc)
		return o->tenant ? fail(o, "connect", rc) : 1;
	rc = dmac_client_stats(c, &st);
	dmac_client_close(c);
	if (rc)
		return fail(o, "STATS", rc);

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
	};
	if (o->json)
		printf("{");
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (o->json)
			json_u64(&first, f[i].name, f[i].v);
		else
			printf("%-14s %" PRIu64 "\n", f[i].name, f[i].v);
	}
	if (o->json)
		printf("}\n");
	return 0;
}

/*
 * Open an admin session (HELLO as "@admin"; --tenant does not apply). A refusal
 * is explained: the peer must be uid 0 or in an admin group, and a daemon
 * without admin support does not know the name.
 */
static int open_admin(const struct ctl *o, struct dmac_client **c)
{
	struct stat st;
	int rc;

	if (stat(o->socket, &st))
		return fail(o, "connect as " DMAC_CLIENT_ADMIN_TENANT, -errno);
	rc = dmac_client_connect(o->socket, DMAC_CLIENT_ADMIN_TENANT, 0, c);
	if (rc == -EACCES || rc == -ENOENT)
		fprintf(stderr,
			"dmacachectl: the daemon refused an admin session (HELLO as %s): run as "
			"root or a member of an admin group; a daemon without admin support "
			"does not know the name\n",
			DMAC_CLIENT_ADMIN_TENANT);
	if (rc)
		return fail(o, "connect as " DMAC_CLIENT_ADMIN_TENANT, rc);
	return 0;
}

static const char *prot_str(uint32_t prot)
{
	static const char *const s[] = {"--", "r-", "-w", "rw"};

	return s[prot & 3];
}

static void print_lease(const struct ctl *o, const struct dmac_client_lease_info *l,
			const char *tenant, uint64_t session, bool comma)
{
	if (o->json) {
		bool first = true;

		printf("%s{", comma ? ", " : "");
		if (tenant) {
			json_kstr(&first, "tenant", tenant);
			json_u64(&first, "session_id", session);
		}
		json_u64(&first, "lease_id", l->lease_id);
		json_u64(&first, "generation", l->generation);
		json_u64(&first, "iova", l->iova);
		json_u64(&first, "length", l->length);
		json_u64(&first, "reg_id", l->reg_id);
		json_u64(&first, "reg_offset", l->reg_offset);
		json_u64(&first, "prot", l->prot);
		printf("}");
		return;
	}
	if (tenant)
		printf("%-16s %-8" PRIu64 " ", tenant, session);
	printf("0x%016" PRIx64 " %-6" PRIu64 " 0x%016" PRIx64 " %-12" PRIu64 " %-8" PRIu64
	       " %-12" PRIu64 " %s\n",
	       l->lease_id, l->generation, l->iova, l->length, l->reg_id, l->reg_offset,
	       prot_str(l->prot));
}

static int cmd_leases(const struct ctl *o)
{
	static struct dmac_client_admin_lease all[256];
	static struct dmac_client_lease_info info[256];
	struct dmac_client *c = NULL;
	uint64_t cursor = 0, total = 0;
	size_t n = 0;
	int rc;

	rc = o->all ? open_admin(o, &c) : open_session(o, &c);
	if (rc)
		return !o->all && o->tenant ? fail(o, "connect", rc) : 1;
	if (o->json)
		printf("{\"leases\": [");
	else
		printf("%s%-18s %-6s %-18s %-12s %-8s %-12s %s\n",
		       o->all ? "tenant           session  " : "", "lease", "gen", "iova", "length",
		       "reg", "reg_offset", "prot");
	do {
		if (o->all)
			rc = dmac_client_admin_leases(c, &cursor, all, 256, &n);
		else
			rc = dmac_client_query(c, &cursor, info, 256, &n);
		if (rc)
			break;
		for (size_t i = 0; i < n; i++, total++) {
			if (o->all)
				print_lease(o, &all[i].info, all[i].tenant, all[i].session_id,
					    total != 0);
			else
				print_lease(o, &info[i], NULL, 0, total != 0);
		}
	} while (cursor);
	dmac_client_close(c);
	if (o->json)
		printf("], \"count\": %" PRIu64 "}\n", total);
	if (rc)
		return fail(o, o->all ? "ADMIN_LEASES" : "QUERY", rc);
	return 0;
}

static int cmd_tenants(const struct ctl *o)
{
	static struct dmac_client_tenant_info t[256];
	struct dmac_client *c = NULL;
	uint64_t cursor = 0, total = 0;
	size_t n = 0;
	int rc = open_admin(o, &c);

	if (rc)
		return 1;
	if (o->json)
		printf("{\"tenants\": [");
	else
		printf("%-24s %-8s %-8s %-14s %-14s %-8s %s\n", "tenant", "sessions", "leases",
		       "bytes_leased", "quota_pinned", "q_leases", "iova window");
	do {
		rc = dmac_client_admin_tenants(c, &cursor, t, 256, &n);
		if (rc)
			break;
		for (size_t i = 0; i < n; i++, total++) {
			if (o->json) {
				bool first = true;

				printf("%s{", total ? ", " : "");
				json_kstr(&first, "name", t[i].name);
				json_u64(&first, "sessions", t[i].sessions);
				json_u64(&first, "leases", t[i].leases);
				json_u64(&first, "bytes_leased", t[i].bytes_leased);
				json_u64(&first, "quota_pinned_bytes", t[i].quota_pinned_bytes);
				json_u64(&first, "quota_leases", t[i].quota_leases);
				json_u64(&first, "iova_start", t[i].iova_start);
				json_u64(&first, "iova_last", t[i].iova_last);
				printf("}");
			} else {
				printf("%-24s %-8" PRIu64 " %-8" PRIu64 " %-14" PRIu64
				       " %-14" PRIu64 " %-8" PRIu64 " 0x%" PRIx64 "-0x%" PRIx64
				       "\n",
				       t[i].name, t[i].sessions, t[i].leases, t[i].bytes_leased,
				       t[i].quota_pinned_bytes, t[i].quota_leases, t[i].iova_start,
				       t[i].iova_last);
			}
		}
	} while (cursor);
	dmac_client_close(c);
	if (o->json)
		printf("], \"count\": %" PRIu64 "}\n", total);
	if (rc)
		return fail(o, "ADMIN_TENANTS", rc);
	return 0;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dmacachectl [--socket PATH] [--tenant NAME] [--json] COMMAND\n"
		"\n"
		"commands:\n"
		"  status         daemon reachability, protocol version, the tenant's quotas\n"
		"                 and IOVA window (HELLO)\n"
		"  stats          the daemon's counters (STATS)\n"
		"  leases [--all] this session's leases (QUERY); --all: every session's\n"
		"                 (admin session: root or an admin group)\n"
		"  tenants        every tenant with its sessions, leases and quotas (admin)\n"
		"\n"
		"options:\n"
		"  --socket PATH  daemon socket (default %s)\n"
		"  --tenant NAME  tenant to say HELLO as (default: $DMACACHE_TENANT)\n"
		"  --json         one JSON object on stdout\n"
		"  --help         this text\n"
		"\n"
		"exit status: 0 ok, 1 error (with a message on stderr)\n",
		DMAC_CLIENT_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"tenant", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},	      {"all", no_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},	      {NULL, 0, NULL, 0},
	};
	struct ctl o = {.socket = DMAC_CLIENT_DEFAULT_SOCKET, .tenant = getenv("DMACACHE_TENANT")};
	const char *cmd;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:t:jah", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o.socket = optarg;
			break;
		case 't':
			o.tenant = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'a':
			o.all = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (o.tenant && !*o.tenant)
		o.tenant = NULL;
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	cmd = argv[optind];
	if (o.all && strcmp(cmd, "leases")) {
		fprintf(stderr, "dmacachectl: --all applies to 'leases' only\n");
		return 1;
	}
	if (!strcmp(cmd, "status"))
		return cmd_status(&o);
	if (!strcmp(cmd, "stats"))
		return cmd_stats(&o);
	if (!strcmp(cmd, "leases"))
		return cmd_leases(&o);
	if (!strcmp(cmd, "tenants"))
		return cmd_tenants(&o);
	fprintf(stderr, "dmacachectl: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
