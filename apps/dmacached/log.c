/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacached logging (see log.h).
 *
 * Invariants: 'cur_level' and 'cur_target' change only in dmd_log_setup();
 * syslog is opened once, the first time it is selected, and never closed
 * (openlog(3) is idempotent and the daemon exits with it open).
 * One event, one line: control characters of a message (a peer's process
 * name may hold a newline) are written as '?'.
 * journald: when $JOURNAL_STREAM names the device and inode of stderr (the
 * service manager connected stderr to the journal), a stderr line is
 * "<N>LEVEL: message" with N the syslog priority (sd-daemon.h's SD_ERR...),
 * which journald takes as the line's priority and strips; otherwise it is
 * "dmacached: LEVEL: message". Checked at every dmd_log_setup().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include <systemd/sd-daemon.h>

#include "dmac/backend.h"
#include "log.h"

static enum dmd_log_level cur_level = DMD_LOG_INFO;
static enum dmd_log_target cur_target = DMD_LOG_STDERR;
static int syslog_open;
static int to_journal; /* stderr is the journal's stream */
static int mirror;     /* syslog target: also to stderr (a detaching start) */

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
	static const char *const sd_prio[] = {SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG};
	char msg[1024];
	int saved = errno;

	if (level > cur_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (cur_target == DMD_LOG_SYSLOG)
		syslog(prio[level], "%s", msg);
	if (cur_target == DMD_LOG_SYSLOG && !mirror) {
		/* syslog only */
	} else if (to_journal) {
		fprintf(stderr, "%s%s: %s\n", sd_prio[level], level_names[level], msg);
	} else {
		fprintf(stderr, "dmacached: %s: %s\n", level_names[level], msg);
	}
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

/* Is stderr the stream $JOURNAL_STREAM ("DEV:INO") names? */
static int dmd__stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (!e || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 || e[n] != '\0')
		return 0;
	if (fstat(2, &st))
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void dmd_log_mirror_stderr(int on)
{
	mirror = on;
}

void dmd_log_setup(enum dmd_log_target target, enum dmd_log_level level)
{
	_Static_assert((int)DMAC_LOG_DEBUG == (int)DMD_LOG_DEBUG, "log levels match");
	to_journal = dmd__stderr_is_journal();
	cur_target = target;
	cur_level = level;
	if (target == DMD_LOG_SYSLOG && !syslog_open) {
		openlog("dmacached", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		syslog_open = 1;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	dmac_backend_set_log(dmd__backend_sink, NULL, (enum dmac_log_level)level);
}
