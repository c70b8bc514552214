/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A peer's process name (proc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc.h"

int dmd_proc_comm(pid_t pid, int pidfd, char out[16])
{
	char path[32], buf[17];
	ssize_t n;
	int fd, rc = 0;

	memset(out, 0, 16);
	if (pid <= 0)
		return -EINVAL;
	if (pidfd < 0)
		return -ESRCH; /* nothing ties the pid to the peer */
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		rc = -errno;
	close(fd);
	if (rc)
		return rc;
	/* the kernel ends the name with one newline (the name itself may hold
	 * any byte but NUL, newlines included: clients escape it) */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	/* the name was the peer's only if the peer still holds the pid now */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) && errno != EPERM)
		return -errno;
	memcpy(out, buf, strnlen(buf, 15));
	return 0;
}
