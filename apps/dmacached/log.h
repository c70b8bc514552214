/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmacached logging: one sink (stderr or syslog) and one maximum level for the
 * whole process. Backends log through the same sink (dmac_backend_set_log()).
 *
 * Invariants: messages less severe than the configured level are dropped
 * before formatting; a message is one line without a trailing newline.
 * Concurrency: the daemon is single-threaded; dmd_log() may nevertheless be
 * called from any thread (one write(2) or syslog(3) call per message).
 */
#ifndef DMD_LOG_H
#define DMD_LOG_H

enum dmd_log_level {
	DMD_LOG_ERR = 0,
	DMD_LOG_WARN = 1,
	DMD_LOG_INFO = 2,
	DMD_LOG_DEBUG = 3,
};

enum dmd_log_target {
	DMD_LOG_STDERR = 0,
	DMD_LOG_SYSLOG = 1,
};

/** Parse "err", "warn", "info", "debug". @return 0 or -EINVAL. */
int dmd_log_level_parse(const char *s, enum dmd_log_level *out);
/** Parse "stderr", "syslog". @return 0 or -EINVAL. */
int dmd_log_target_parse(const char *s, enum dmd_log_target *out);

/**
 * Set the sink and level; also routes backend messages here. Looks again
 * whether stderr is journald's stream ($JOURNAL_STREAM): then stderr lines
 * carry a "<N>" syslog priority prefix. Never fails.
 */
void dmd_log_setup(enum dmd_log_target target, enum dmd_log_level level);

/** With the syslog sink, also write each line to stderr (1) or not (0). */
void dmd_log_mirror_stderr(int on);

/** Log one message (printf format). Preserves errno. */
void dmd_log(enum dmd_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define dmd_err(...)   dmd_log(DMD_LOG_ERR, __VA_ARGS__)
#define dmd_warn(...)  dmd_log(DMD_LOG_WARN, __VA_ARGS__)
#define dmd_info(...)  dmd_log(DMD_LOG_INFO, __VA_ARGS__)
#define dmd_debug(...) dmd_log(DMD_LOG_DEBUG, __VA_ARGS__)

#endif /* DMD_LOG_H */
