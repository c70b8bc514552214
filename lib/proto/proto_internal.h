/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private parts of the protocol library, visible to its unit tests.
 *
 * Invariants: these functions have the same contracts as the public functions
 * they implement; the extra parameters exist only so tests can inject
 * conditions the machine cannot produce on demand (a small control buffer, a
 * filesystem type).
 */
#ifndef DMAC_PROTO_INTERNAL_H
#define DMAC_PROTO_INTERNAL_H

#include <sys/stat.h>
#include <sys/vfs.h>

#include "dmac/proto.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

/*
 * dmac_proto_recv() with a control buffer for ctl_fds fds (1..DMAC_PROTO_MAX_FDS)
 * instead of DMAC_PROTO_MAX_FDS: lets a test provoke MSG_CTRUNC.
 */
int dmac__proto_recv_ctl(int sock, void *buf, size_t cap, size_t *len, int *fds, unsigned int *nfds,
			 unsigned int ctl_fds);

/*
 * The decision of dmac_proto_fd_inspect() on already gathered facts: st from
 * fstat(), f_type and f_bsize from fstatfs(), seals the F_GET_SEALS result or a
 * negative errno when it failed. Returns 0 (info filled), -EBADFD or -EPERM.
 */
int dmac__proto_fd_classify(const struct stat *st, long f_type, long f_bsize, int seals,
			    struct dmac_proto_fdinfo *info);

/*
 * The decision of dmac_proto_fd_check_prot() on gathered facts: fl from
 * F_GETFL, seals from the inspected fdinfo. Returns 0, -EINVAL, -EBADF,
 * -EACCES or -EPERM.
 */
int dmac__proto_fd_prot_decide(int fl, uint32_t seals, uint32_t prot);

#endif /* DMAC_PROTO_INTERNAL_H */
