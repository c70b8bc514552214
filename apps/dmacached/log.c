/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacached logging (see log.h).
 *
 * Invariants: 'cur_level' and 'cur_target' change only in dmd_log_setup();
 * syslog is opened once, the first time it is selected, and never closed
 * (openlog(3) is idempotent and the daemon exits with it open).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "dmac/backend.h"
#include "log.h"

static enum dmd_log_level cur_level = DMD_LOG_INFO;
static enum dmd_log_target cur_target = DMD_LOG_STDERR;
static int syslog_open;

static const char *const level_names[] = {"err", "warn", "info", "debug"};

int dmd_log_level_parse(const char *s, enum dmd_log_level *out)
{
	for (unsigned int i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcmp(s, level_names[i])) {
			*out = (enum dmd_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

int dmd_log_target_parse(const char *s, enum dmd_log_target *out)
{
	if (!strcmp(s, "stderr"))
		*out = DMD_LOG_STDERR;
	else if (!strcmp(s, "syslog"))
		*out = DMD_LOG_SYSLOG;
	else
		return -EINVAL;
	return 0;
}

static void dmd__vlog(enum dmd_log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	char msg[1024];
	int saved = errno;

	if (level > cur_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (cur_target == DMD_LOG_SYSLOG)
		syslog(prio[level], "%s", msg);
	else
		fprintf(stderr, "dmacached: %s: %s\n", level_names[level], msg);
	errno = saved;
}

void dmd_log(enum dmd_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dmd__vlog(level, fmt, ap);
	va_end(ap);
}

static void dmd__backend_sink(enum dmac_log_level level, const char *msg, void *arg)
{
	dmd_log((enum dmd_log_level)level, "backend: %s", msg);
}

void dmd_log_setup(enum dmd_log_target target, enum dmd_log_level level)
{
	_Static_assert((int)DMAC_LOG_DEBUG == (int)DMD_LOG_DEBUG, "log levels match");
	cur_target = target;
	cur_level = level;
	if (target == DMD_LOG_SYSLOG && !syslog_open) {
		openlog("dmacached", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		syslog_open = 1;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	dmac_backend_set_log(dmd__backend_sink, NULL, (enum dmac_log_level)level);
}
