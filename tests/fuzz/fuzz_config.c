/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target for dmacached's configuration parser: the input bytes are a
 * whole configuration file, parsed from memory with dmd_config_parse_mem()
 * (the same reader, handler and validator as dmd_config_load()).
 *
 * Input format: the file itself. The length of the input also picks an
 * allocation to fail in a second parse of the same bytes (1 + size % 8), so
 * the unwinding of every early allocation is exercised as well.
 *
 * Invariants checked (abort() on violation):
 * - the result is 0 with a config, or -EINVAL / -ENOMEM with none;
 * - an accepted config satisfies every invariant config.h states: socket
 *   absolute and NUL-terminated within 108 bytes, tenant names valid (the
 *   protocol's rule) and unique, every tenant allows someone, windows with
 *   start <= last on 4 KiB boundaries and pairwise disjoint when explicit,
 *   id lists within DMD_CONFIG_MAX_IDS, socket modes at most 0777 and a
 *   socket directory mode that gives its owner rwx and nobody else write;
 * - with an allocation failed: the parse fails with -ENOMEM (or succeeds when
 *   that allocation was not needed), never anything else;
 * - no leak: after dmd_config_free() the count of outstanding dmac__*
 *   allocations is back where it was (LeakSanitizer covers the rest).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dmac/proto.h"
#include "dmac_alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c)                                                                             \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__, __LINE__, #c);       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static FILE *g_null;

static void check_config(const struct dmd_config *cfg)
{
	FUZZ_ASSERT(memchr(cfg->socket, '\0', sizeof(cfg->socket)));
	FUZZ_ASSERT(cfg->socket[0] == '/');
	FUZZ_ASSERT(memchr(cfg->backend, '\0', sizeof(cfg->backend)));
	FUZZ_ASSERT(cfg->nadmin_gids <= DMD_CONFIG_MAX_IDS);
	FUZZ_ASSERT(cfg->socket_mode <= 0777);
	FUZZ_ASSERT(cfg->socket_dir_mode <= 0777);
	FUZZ_ASSERT((cfg->socket_dir_mode & 0700) == 0700 && !(cfg->socket_dir_mode & 0022));
	FUZZ_ASSERT(cfg->socket_group_set || cfg->socket_group == 0);
	FUZZ_ASSERT(cfg->ntenants == 0 || cfg->tenants);
	for (unsigned int i = 0; i < cfg->ntenants; i++) {
		const struct dmd_tenant_config *t = &cfg->tenants[i];
		char field[DMAC_PROTO_TENANT_MAX] = {0};

		FUZZ_ASSERT(memchr(t->name, '\0', sizeof(t->name)));
		memcpy(field, t->name, strlen(t->name));
		FUZZ_ASSERT(dmac_proto_check_tenant(field) == 0);
		FUZZ_ASSERT(t->nuids <= DMD_CONFIG_MAX_IDS && t->ngids <= DMD_CONFIG_MAX_IDS);
		FUZZ_ASSERT(t->nuids + t->ngids > 0);
		FUZZ_ASSERT(t->iova_start <= t->iova_last);
		FUZZ_ASSERT(t->iova_start % 4096 == 0 && (t->iova_last + 1) % 4096 == 0);
		FUZZ_ASSERT(dmd_config_tenant(cfg, t->name) == t);
		for (unsigned int j = 0; j < i; j++) {
			const struct dmd_tenant_config *o = &cfg->tenants[j];

			FUZZ_ASSERT(strcmp(o->name, t->name) != 0);
			if (t->window_set && o->window_set)
				FUZZ_ASSERT(t->iova_last < o->iova_start ||
					    o->iova_last < t->iova_start);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmd_config *cfg = NULL;
	int64_t base;
	int rc;

	if (!g_null) {
		g_null = fopen("/dev/null", "w");
		FUZZ_ASSERT(g_null);
	}
	base = dmac__alloc_outstanding();
	rc = dmd_config_parse_mem("fuzz.conf", data, size, NULL, g_null, &cfg);
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	FUZZ_ASSERT((rc == 0) == (cfg != NULL));
	if (cfg) {
		check_config(cfg);
		dmd_config_free(cfg);
		cfg = NULL;
	}
	FUZZ_ASSERT(dmac__alloc_outstanding() == base);

	/* again, with one allocation failed */
	dmac__fault_alloc_arm(1 + size % 8);
	rc = dmd_config_parse_mem("fuzz.conf", data, size, NULL, g_null, &cfg);
	if (dmac__fault_alloc_fired())
		FUZZ_ASSERT(rc == -ENOMEM && !cfg);
	dmac__fault_alloc_arm(0);
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (cfg) {
		check_config(cfg);
		dmd_config_free(cfg);
	}
	FUZZ_ASSERT(dmac__alloc_outstanding() == base);
	return 0;
}

#ifdef DMAC_FUZZ_REPLAY
#include "replay.h"

static const struct {
	const char *name, *text;
} seeds[] = {
    {"full", "; comment\n# comment\n[daemon]\nsocket = /run/dmacache/dmacached.sock\n"
	     "backend = auto\npinned_budget = 8G\nlog_level = info\nlog_target = syslog\n"
	     "admin_gids = 0, root\n\n[tenant dpdk]\nuids = 0\ngids = 0\n"
	     "quota_pinned_bytes = 4G\nquota_leases = 65536\niova_start = 0x100000000\n"
	     "iova_last = 0x1ffffffff\n\n[tenant nvme-0]\nuids = root 1 2\n"
	     "quota_pinned_bytes = unlimited\nquota_leases = unlimited\n"},
    {"empty", ""},
    {"tenants_many", "[tenant a]\nuids=1\n[tenant b]\ngids=2\n[tenant c.d_e-f]\nuids=3,4\n"
		     "iova_start=0\niova_last=0xfff\n[tenant 9]\nuids=5\niova_start=0x1000\n"
		     "iova_last=0x1fff\n"},
    {"errors", "key = 1\n[daemon\n[daemon]\nsocket = rel\nsocket = /x\nbackend = nope\n"
	       "pinned_budget = 99999999999999999999\nlog_level = loud\nlog_target = file\n"
	       "admin_gids = nosuchgroup, 4294967295\nbogus = 1\n[daemon]\n[tenant]\n"
	       "[tenant -bad]\n[tenant a]\n[tenant a]\nuids = nosuchuser\nquota_leases = x\n"
	       "iova_start = 0x1001\niova_last = 0\n[other]\nnot a key line\n"},
    {"overlap", "[tenant a]\nuids=1\niova_start=0x0\niova_last=0x1fff\n[tenant b]\nuids=1\n"
		"iova_start=0x1000\niova_last=0x2fff\n"},
    {"long_line",
     "[daemon]\nsocket = /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "\n"},
    {"ids_33", "[tenant a]\nuids = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 "
	       "25 26 27 28 29 30 31 32 33\n"},
    {"continuation", "[tenant a]\nuids = 1\n  2\n[daemon]\n  socket = /tmp/x\n"},
    {"socket_ok", "[daemon]\nsocket_group = 7\nsocket_dir_mode = 0711\n"},
    {"socket_keys", "[daemon]\nsocket_group = root\nsocket_mode = 0660\nsocket_dir_mode = 0750\n"
		    "[daemon]\nsocket_mode = 01777\nsocket_dir_mode = 0777\nsocket_group = 1, 2\n"},
};

int fuzz_write_seeds(const char *dir)
{
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char path[4096];
		size_t len = strlen(seeds[i].text);
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
		f = fopen(path, "wb");
		if (!f || fwrite(seeds[i].text, 1, len, f) != len) {
			perror(path);
			if (f)
				fclose(f);
			return -1;
		}
		if (fclose(f))
			return -1;
	}
	return 0;
}
#endif
