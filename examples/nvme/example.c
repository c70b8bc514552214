/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacache-nvme-example: identify an NVMe controller, write patterns of
 * several sizes and read them back, through the example driver on the backend
 * environment (no daemon yet).
 *
 *   dmacache-nvme-example [--bdf BDF] [--backend iommufd|vfio|auto]
 *                         [--irq|--poll] [--bar vfio|sysfs] [--lba N]
 *
 * DESTROYS DATA: it overwrites the first megabytes of the first active
 * namespace from --lba (default 0). Meant for the test-bed's scratch disk.
 *
 * Invariants: every buffer comes from the environment's DMA pool; a size is
 * written from one buffer and read into another, and both are compared; the
 * exit status is 0 only if every round trip matched.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_backend.h"
#include "env_daemon.h"
#include "nvme.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: dmacache-nvme-example [--bdf BDF] [--backend iommufd|vfio|auto]\n"
		   "                             [--irq|--poll] [--bar vfio|sysfs] [--lba N]\n"
		   "       dmacache-nvme-example --daemon SOCKET --tenant NAME [--bdf BDF]\n"
		   "                             [--irq|--poll] [--lba N]\n"
		   "With --daemon the device comes from dmacached (DEVICE request, strict mode:\n"
		   "BAR0 from its resource0 fd, interrupts from its eventfd, leased DMA memory).\n"
		   "Overwrites data on the namespace from --lba (default 0).\n"
		   "--bdf defaults to $DMAC_VM_NVME_BDF.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"bdf", required_argument, NULL, 'b'},    {"backend", required_argument, NULL, 'k'},
	    {"irq", no_argument, NULL, 'i'},	      {"poll", no_argument, NULL, 'p'},
	    {"bar", required_argument, NULL, 'r'},    {"lba", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},	      {"daemon", required_argument, NULL, 'd'},
	    {"tenant", required_argument, NULL, 't'}, {NULL, 0, NULL, 0},
	};
	static const uint32_t sizes[] = {512, 4096, 128u << 10, 1u << 20};
	struct dmac_nvme_env_cfg cfg = {.irq = DMAC_NVME_ENV_IRQ_AUTO};
	struct dmac_nvme_env_info ei;
	struct dmac_nvme_ctrl *ctrl = NULL;
	struct dmac_nvme_env *env = NULL;
	struct dmac_nvme_denv *denv = NULL;
	struct dmac_nvme_denv_cfg dcfg = {0};
	struct dmac_nvme_info info;
	struct dmac_nvme_stats st;
	const struct dmac_nvme_ops *ops;
	uint64_t lba0 = 0;
	int opt, ret, bad = 0;

	cfg.bdf = getenv("DMAC_VM_NVME_BDF");
	while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (opt) {
		case 'b':
			cfg.bdf = optarg;
			break;
		case 'k':
			cfg.backend = optarg;
			break;
		case 'i':
			cfg.irq = DMAC_NVME_ENV_IRQ_AUTO;
			break;
		case 'p':
			cfg.irq = DMAC_NVME_ENV_IRQ_POLL;
			break;
		case 'r':
			if (!strcmp(optarg, "vfio"))
				cfg.bar = DMAC_NVME_ENV_BAR_VFIO;
			else if (!strcmp(optarg, "sysfs"))
				cfg.bar = DMAC_NVME_ENV_BAR_SYSFS;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'l':
			lba0 = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			dcfg.socket = optarg;
			break;
		case 't':
			dcfg.tenant = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dcfg.socket || dcfg.tenant) {
		const struct dmac_client_device *dv;
		uint64_t piova;
		size_t plen;
		int huge;

		if (!dcfg.socket || !dcfg.tenant) {
			fprintf(stderr, "--daemon and --tenant go together\n");
			usage(stderr);
			return 2;
		}
		dcfg.bdf = cfg.bdf && *cfg.bdf ? cfg.bdf : NULL;
		dcfg.poll = cfg.irq == DMAC_NVME_ENV_IRQ_POLL;
		ret = dmac_nvme_denv_open(&dcfg, &denv);
		if (ret) {
			fprintf(stderr, "daemon environment (tenant %s): %s\n", dcfg.tenant,
				strerror(-ret));
			return 1;
		}
		dv = dmac_nvme_denv_device(denv);
		dmac_nvme_denv_pool(denv, &piova, &plen, &huge);
		printf("device %s from dmacached (%s mode): BAR0 via resource0 fd (%llu bytes), "
		       "%u interrupt eventfd(s), DMA pool %zu bytes leased at IOVA 0x%llx (%s)\n",
		       dv->bdf, dv->trusted ? "trusted" : "strict",
		       (unsigned long long)dv->bars[0].size, dv->nirqs, plen,
		       (unsigned long long)piova, huge ? "hugepages" : "4 KiB");
		ops = dmac_nvme_denv_ops(denv);
	} else {
		if (!cfg.bdf || !*cfg.bdf) {
			fprintf(stderr, "no --bdf and no DMAC_VM_NVME_BDF\n");
			usage(stderr);
			return 2;
		}
		ret = dmac_nvme_env_open(&cfg, &env);
		if (ret) {
			fprintf(stderr, "environment for %s: %s\n", cfg.bdf, strerror(-ret));
			return 1;
		}
		dmac_nvme_env_info(env, &ei);
		printf("device %s: backend %s, BAR0 via %s (%zu of %llu bytes mapped), interrupts "
		       "%s (%u MSI-X vectors), DMA pool %zu bytes at IOVA 0x%llx (%s)\n",
		       cfg.bdf, ei.backend, ei.bar, ei.bar_len, (unsigned long long)ei.bar_size,
		       ei.irq, ei.msix_count, ei.pool_len, (unsigned long long)ei.pool_iova,
		       ei.pool_huge ? "hugepages" : "4 KiB");
		ops = dmac_nvme_env_ops(env);
	}
	ret = dmac_nvme_ctrl_open(ops, NULL, &ctrl);
	if (ret) {
		fprintf(stderr, "controller: %s\n", strerror(-ret));
		dmac_nvme_env_close(env);
		dmac_nvme_denv_close(denv);
		return 1;
	}
	dmac_nvme_ctrl_info(ctrl, &info);
	printf("controller: model '%s' serial '%s' firmware '%s' vid 0x%04x, NVMe %u.%u\n",
	       info.model, info.serial, info.firmware, info.vid, info.version >> 16,
	       (info.version >> 8) & 0xff);
	printf("  CAP: MQES+1 %u, DSTRD %u, TO %u ms; page %u; MDTS %u -> %u bytes per command; "
	       "I/O queue depth %u, completions by %s\n",
	       info.mqes, info.dstrd, info.timeout_ms, info.page_size, info.mdts, info.max_xfer,
	       info.io_depth, info.irq ? "interrupt eventfd" : "polling");
	printf("namespace %u: %llu blocks of %u bytes (%llu MiB)\n", info.nsid,
	       (unsigned long long)info.nsze, info.lba_size,
	       (unsigned long long)(info.nsze * info.lba_size >> 20));

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t len = sizes[i] < info.lba_size ? info.lba_size : sizes[i];
		uint32_t nlb = len / info.lba_size;
		uint8_t *wbuf = ops->dma_alloc(ops->ctx, len, 4096);
		uint8_t *rbuf = ops->dma_alloc(ops->ctx, len, 4096);

		if (!wbuf || !rbuf || lba0 + nlb > info.nsze) {
			fprintf(stderr, "%u bytes: no DMA memory or past the namespace end\n", len);
			bad++;
			ops->dma_free(ops->ctx, wbuf, len);
			ops->dma_free(ops->ctx, rbuf, len);
			break;
		}
		for (uint32_t j = 0; j < len; j++)
			wbuf[j] = (uint8_t)(j * 7u + i * 31u + 1u);
		memset(rbuf, 0, len);
		ret = dmac_nvme_write(ctrl, wbuf, lba0, nlb);
		if (!ret)
			ret = dmac_nvme_read(ctrl, rbuf, lba0, nlb);
		if (ret) {
			printf("%8u bytes at LBA %llu: %s\n", len, (unsigned long long)lba0,
			       strerror(-ret));
			bad++;
		} else {
			int same = !memcmp(wbuf, rbuf, len);

			printf("%8u bytes at LBA %llu: written and read back, %s\n", len,
			       (unsigned long long)lba0, same ? "data matches" : "DATA DIFFERS");
			bad += !same;
		}
		ops->dma_free(ops->ctx, wbuf, len);
		ops->dma_free(ops->ctx, rbuf, len);
	}
	dmac_nvme_ctrl_stats(ctrl, &st);
	printf("stats: %llu commands, %llu with a PRP list, %llu split off by MDTS, "
	       "%llu interrupts\n",
	       (unsigned long long)st.commands, (unsigned long long)st.prp_lists,
	       (unsigned long long)st.splits, (unsigned long long)st.interrupts);
	dmac_nvme_ctrl_close(ctrl);
	dmac_nvme_env_close(env);
	dmac_nvme_denv_close(denv);
	printf("%s\n", bad ? "FAILED" : "ok");
	return bad ? 1 : 0;
}
