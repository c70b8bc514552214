/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The DPDK peer of the translate benchmark: rte_mem_virt2iova() on memory from
 * rte_malloc(), with DPDK 22.11's EAL started once.
 *
 * Invariants:
 * - One block of 'nchunks' 2 MiB-aligned 2 MiB chunks is allocated at start and
 *   freed at exit; a case of N intervals uses the first min(N, nchunks) chunks
 *   (the cap is reported in the benchmark's label).
 * - EAL arguments never come from the benchmark's argv: they are an internal set
 *   or the whitespace-separated DMAC_BENCH_EAL_ARGS ("none": do not start EAL).
 * - Lookups run on benchmark threads that are not EAL lcores; rte_mem_virt2iova()
 *   and rte_mem_virt2memseg() take no lock and memory is not hot-(un)plugged while
 *   the benchmarks run.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_memory.h>

#include "bench_loop.h"

#define MAX_EAL_ARGS 32

static struct {
	int eal_up;
	uint8_t *block;
	size_t nchunks;
	char mode[96];
} dp;

/* Free 2 MiB hugepages, from sysfs; 0 if unknown. */
static long free_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	long n = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

/* Split DMAC_BENCH_EAL_ARGS in place into argv[1..]; returns argc. */
static int split_args(char *s, char **argv, int max)
{
	int argc = 1;
	char *save = NULL, *tok;

	for (tok = strtok_r(s, " \t\n", &save); tok != NULL && argc < max;
	     tok = strtok_r(NULL, " \t\n", &save))
		argv[argc++] = tok;
	return argc;
}

int dmac__bench_dpdk_init(const char *prog, size_t want, char *why, size_t whylen)
{
	static char env_copy[1024];
	static char mem_arg[32];
	char *argv[MAX_EAL_ARGS + 1] = {(char *)prog};
	const char *env = getenv("DMAC_BENCH_EAL_ARGS");
	long hp = free_hugepages();
	int argc, huge, ret;
	cpu_set_t saved;
	size_t n;

	if (env != NULL && strcmp(env, "none") == 0) {
		snprintf(why, whylen, "EAL not started (DMAC_BENCH_EAL_ARGS=none)");
		return -ECANCELED;
	}
	if (env != NULL) {
		snprintf(env_copy, sizeof(env_copy), "%s", env);
		argc = split_args(env_copy, argv, MAX_EAL_ARGS);
		huge = strstr(env, "--no-huge") == NULL;
	} else {
		/* One lcore (CPU 0) for EAL; the affinity it sets is undone below. */
		static char *fixed[] = {"--no-pci", "--no-telemetry", "--log-level=4", "-l", "0"};

		argc = 1;
		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			argv[argc++] = fixed[i];
		huge = hp >= 2;
		if (huge) {
			argv[argc++] = "--in-memory";
		} else {
			/*
			 * --no-huge: one anonymous region of -m MiB of 4 KiB pages, legacy
			 * memory (so --no-shconf: --in-memory refuses legacy memory). EAL
			 * then has no physical addresses and runs with IOVA = VA.
			 */
			argv[argc++] = "--no-huge";
			argv[argc++] = "--no-shconf";
			snprintf(mem_arg, sizeof(mem_arg), "-m%zu",
				 (want + 8) * 2 > 2304 ? 2304 : (want + 8) * 2);
			argv[argc++] = mem_arg;
		}
	}
	argv[argc] = NULL;
	if (sched_getaffinity(0, sizeof(saved), &saved) < 0) {
		ret = -errno;
		snprintf(why, whylen, "sched_getaffinity: %s", strerror(-ret));
		return ret;
	}
	ret = rte_eal_init(argc, argv);
	/* EAL pinned this thread (and so every benchmark thread it creates) to one CPU. */
	sched_setaffinity(0, sizeof(saved), &saved);
	if (ret < 0) {
		ret = rte_errno > 0 ? -rte_errno : -EIO;
		snprintf(why, whylen, "rte_eal_init failed: %s", rte_strerror(-ret));
		return ret;
	}
	dp.eal_up = 1;

	/* As many chunks as memory allows, up to want. */
	n = want;
	if (huge && env == NULL && (size_t)(hp - 1) < n)
		n = (size_t)(hp - 1);
	/* The heap needs some room of its own: step down by 1/16 on failure. */
	for (; n >= 1; n -= n / 16 + 1) {
		dp.block = rte_malloc("dmac_bench", n * DMAC__BENCH_2M, DMAC__BENCH_2M);
		if (dp.block != NULL)
			break;
	}
	if (dp.block == NULL) {
		snprintf(why, whylen, "rte_malloc of one 2 MiB chunk failed");
		ret = -ENOMEM;
		goto fini;
	}
	dp.nchunks = n;
	/* Touch every chunk so no page fault lands in a timed loop. */
	for (size_t i = 0; i < n; i++)
		dp.block[i * DMAC__BENCH_2M] = 1;
	snprintf(dp.mode, sizeof(dp.mode), "%s,iova=%s", huge ? "hugepages" : "no-huge",
		 rte_eal_iova_mode() == RTE_IOVA_VA ? "va" : "pa");
	return 0;

fini:
	rte_eal_cleanup();
	dp.eal_up = 0;
	return ret;
}

size_t dmac__bench_dpdk_chunks(void)
{
	return dp.nchunks;
}

const char *dmac__bench_dpdk_mode(void)
{
	return dp.mode;
}

void dmac__bench_dpdk_addrs(size_t chunks, uint64_t seed, uint64_t *out, size_t n)
{
	uint64_t s = seed;

	for (size_t i = 0; i < n; i++) {
		uint64_t c = dmac__bench_rand(&s) % chunks;

		out[i] = (uint64_t)(uintptr_t)dp.block + c * DMAC__BENCH_2M +
			 dmac__bench_rand(&s) % DMAC__BENCH_2M;
	}
}

static inline uint64_t lookup_one(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	return rte_mem_virt2iova((const void *)(uintptr_t)va);
}

/*
 * DPDK has no ranged translate; a dataplane walks memsegs: the segment of va,
 * then the following ones while their IOVAs continue, up to max_len.
 */
static inline uint64_t lookup_range(void *map, uint64_t va, uint64_t max_len, uint64_t *len)
{
	const struct rte_memseg *ms = rte_mem_virt2memseg((const void *)(uintptr_t)va, NULL);
	uint64_t iova, got;

	if (ms == NULL || ms->iova == RTE_BAD_IOVA) {
		*len = 0;
		return RTE_BAD_IOVA;
	}
	iova = ms->iova + (va - ms->addr_64);
	got = ms->len - (va - ms->addr_64);
	while (got < max_len) {
		ms = rte_mem_virt2memseg((const void *)(uintptr_t)(va + got), NULL);
		if (ms == NULL || ms->iova != iova + got)
			break;
		got += ms->len;
	}
	*len = got < max_len ? got : max_len;
	return iova;
}

int dmac__bench_dpdk_check(void)
{
	for (size_t i = 0; i < dp.nchunks; i++) {
		uint64_t va = (uint64_t)(uintptr_t)dp.block + i * DMAC__BENCH_2M, len;
		uint64_t iova = rte_mem_virt2iova((void *)(uintptr_t)va);

		if (iova == RTE_BAD_IOVA ||
		    rte_mem_virt2iova((void *)(uintptr_t)(va + 12345)) != iova + 12345) {
			fprintf(stderr, "dpdk: chunk %zu at %#" PRIx64 " has no usable IOVA\n", i,
				va);
			return -EIO;
		}
		if (lookup_range(NULL, va + 4096, DMAC__BENCH_RANGE, &len) != iova + 4096 ||
		    len == 0 || len > DMAC__BENCH_RANGE) {
			fprintf(stderr, "dpdk: ranged lookup of chunk %zu disagrees\n", i);
			return -EIO;
		}
	}
	return 0;
}

void dmac__bench_dpdk_translate(gbench_state *st, void *arg)
{
	struct dmac__bench_case *c = dmac__bench_case_of(st, arg);

	dmac__bench_loop(st, c, lookup_one, 0);
}

void dmac__bench_dpdk_translate_range(gbench_state *st, void *arg)
{
	struct dmac__bench_case *c = dmac__bench_case_of(st, arg);

	dmac__bench_loop(st, c, lookup_range, DMAC__BENCH_RANGE);
}

void dmac__bench_dpdk_fini(void)
{
	if (!dp.eal_up)
		return;
	rte_free(dp.block);
	dp.block = NULL;
	dp.nchunks = 0;
	rte_eal_cleanup();
	dp.eal_up = 0;
}
