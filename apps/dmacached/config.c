/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration parser (libinih) and validator.
 *
 * Invariants:
 * - The parser never stops at the first error: every error found is written
 *   as "FILE:LINE: message" and counted; the load fails if the count is not 0.
 * - Line numbers come from our own line reader (ini_parse_stream), which also
 *   sees every section header, so empty and duplicate sections are caught even
 *   though inih only calls back for keys. It reads a FILE (dmd_config_load) or
 *   a memory buffer [mem, mem + mem_len) (dmd_config_parse_mem, the fuzz
 *   target's entry point) one whole line per call, whatever inih's buffer
 *   size: one call, one line, one line number. A line longer than inih's
 *   buffer (less its NUL) is consumed whole, reported once at its own line and
 *   handed to inih as an empty line, so it can never split into phantom lines.
 *   A NUL byte ends the line's content (the rest of that line is ignored); a
 *   '\r' before the newline is dropped.
 * - Numbers are decimal or 0x hex; a leading zero before a digit is refused
 *   (-EDOM from the parsers), never read as octal. Only socket_mode and
 *   socket_dir_mode are octal, by design.
 * - A directory is not a configuration (-EISDIR), and a read that fails is
 *   its -errno, never a file that ends early.
 * - All heap memory goes through dmac__* (fault injection); on error nothing
 *   is returned and nothing leaks.
 * Concurrency: any thread; no global state (getpwnam/getgrnam are called from
 * the daemon's single thread only).
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <inttypes.h>
#include <unistd.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "dmac_alloc.h"

enum dmd__sect { SECT_NONE, SECT_DAEMON, SECT_TENANT, SECT_BAD };

enum {
	K_SOCKET = 1u << 0,
	K_BACKEND = 1u << 1,
	K_BUDGET = 1u << 2,
	K_LEVEL = 1u << 3,
	K_TARGET = 1u << 4,
	K_UIDS = 1u << 5,
	K_GIDS = 1u << 6,
	K_QBYTES = 1u << 7,
	K_QLEASES = 1u << 8,
	K_START = 1u << 9,
	K_LAST = 1u << 10,
	K_ADMIN = 1u << 11,
	K_DEVICES = 1u << 12,
	K_TRUSTED = 1u << 13,
	K_SGROUP = 1u << 14,
	K_SMODE = 1u << 15,
	K_SDMODE = 1u << 16,
	K_MAXSESS = 1u << 17,
	K_MAXSESSUID = 1u << 18,
	K_HELLOTO = 1u << 19,
	K_MAXREGSESS = 1u << 20,
	K_QREGS = 1u << 21,
	K_RELEASE = 1u << 22,
	K_COPYCACHE = 1u << 23,
};

struct dmd__parse {
	const char *path;
	FILE *file;	 /* NULL: read from mem */
	const char *mem; /* dmd_config_parse_mem(): [mem, mem + mem_len) */
	size_t mem_len, mem_pos;
	int read_err; /* errno of a failed read of file, 0 if none */
	FILE *errs;
	dmd_backend_known_fn known;
	unsigned int line;
	unsigned int nerr;
	int oom;
	enum dmd__sect sect;
	int tenant; /* index in cfg->tenants while sect == SECT_TENANT */
	unsigned int daemon_keys;
	unsigned int daemon_line;
	unsigned int *tenant_keys; /* parallel to cfg->tenants */
	struct dmd_config *cfg;
};

static void dmd__perr(struct dmd__parse *p, unsigned int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dmd__perr(struct dmd__parse *p, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	p->nerr++;
	if (!p->errs)
		return;
	fprintf(p->errs, "%s:%u: ", p->path, line);
	va_start(ap, fmt);
	vfprintf(p->errs, fmt, ap);
	va_end(ap);
	fputc('\n', p->errs);
}

static char *dmd__trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static bool dmd__name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= DMD_CONFIG_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/*
 * The digits of a number at s: decimal, or hex after "0x"/"0X". A leading
 * zero followed by a digit is -EDOM (strtoull(..., 0) would read it as octal:
 * "0100" as 64). @return 0 and *out, *end past the digits; -EINVAL (no
 * digits), -EDOM, -ERANGE (above UINT64_MAX).
 */
static int dmd__strtou64(const char *s, uint64_t *out, char **end)
{
	int base = 10;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		/* strtoull() base 16 would take a second "0x" */
		if (!isxdigit((unsigned char)s[0]) || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
			return -EINVAL;
		base = 16;
	} else if (s[0] == '0' && isdigit((unsigned char)s[1])) {
		return -EDOM;
	}
	errno = 0;
	*out = strtoull(s, end, base);
	if (errno == ERANGE)
		return -ERANGE;
	return 0;
}

int dmd_config_parse_bytes(const char *s, bool allow_unlimited, uint64_t *out)
{
	uint64_t v, mul = 1;
	char *end;
	int rc;

	while (isspace((unsigned char)*s))
		s++;
	if (allow_unlimited && !strcmp(s, "unlimited")) {
		*out = UINT64_MAX;
		return 0;
	}
	rc = dmd__strtou64(s, &v, &end);
	if (rc)
		return rc;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = UINT64_C(1) << 10;
		end++;
		break;
	case 'm':
	case 'M':
		mul = UINT64_C(1) << 20;
		end++;
		break;
	case 'g':
	case 'G':
		mul = UINT64_C(1) << 30;
		end++;
		break;
	case 't':
	case 'T':
		mul = UINT64_C(1) << 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0')
		return -EINVAL;
	if (__builtin_mul_overflow(v, mul, out))
		return -ERANGE;
	return 0;
}

/* A whole value that is one number (dmd__strtou64()): 0, -EINVAL, -EDOM, -ERANGE. */
static int dmd__parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;
	char *end;
	int rc = dmd__strtou64(s, &v, &end);

	if (rc)
		return rc;
	if (*end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

/* KEY: 'VALUE' has a leading zero: the one message for -EDOM. */
static void dmd__leading_zero(struct dmd__parse *p, const char *key, const char *value)
{
	dmd__perr(p, p->line,
		  "%s: '%s' has a leading zero: numbers are decimal or 0x hex, never octal "
		  "(write it without the zero, or in 0x hex)",
		  key, value);
}

/*
 * A count in [min, max] (decimal or 0x hex), or "unlimited" (UINT64_MAX) when
 * @p allow_unlimited; an error is reported and *out left as it was.
 */
static void dmd__parse_count(struct dmd__parse *p, const char *key, const char *value,
			     bool allow_unlimited, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	int rc;

	if (allow_unlimited && !strcmp(value, "unlimited")) {
		*out = UINT64_MAX;
		return;
	}
	rc = dmd__parse_u64(value, &v);
	if (!rc && (v < min || v > max))
		rc = -ERANGE;
	if (rc == -EDOM) {
		dmd__leading_zero(p, key, value);
		return;
	}
	if (rc) {
		dmd__perr(p, p->line, "%s: %s '%s' (%" PRIu64 "..%" PRIu64 "%s)", key,
			  rc == -ERANGE ? "out of range" : "bad number", value, min, max,
			  allow_unlimited ? ", or unlimited" : "");
		return;
	}
	*out = v;
}

/* Parse 1..maxd hex digits at *c up to a separator; advances *c. */
static int dmd__hex_field(const char **c, unsigned int maxd, unsigned long *v)
{
	unsigned int n = 0;

	*v = 0;
	while (isxdigit((unsigned char)**c)) {
		if (++n > maxd)
			return -EINVAL;
		*v = *v * 16 + (unsigned long)(isdigit((unsigned char)**c)
						   ? **c - '0'
						   : tolower((unsigned char)**c) - 'a' + 10);
		(*c)++;
	}
	return n ? 0 : -EINVAL;
}

int dmd_config_parse_bdf(const char *s, char out[DMD_CONFIG_BDF_MAX])
{
	unsigned long dom = 0, bus, dev, fn;
	const char *c = s;
	unsigned int colons = 0;

	for (const char *q = s; *q; q++)
		colons += *q == ':';
	if (colons == 2) {
		if (dmd__hex_field(&c, 4, &dom) || *c++ != ':')
			return -EINVAL;
	} else if (colons != 1) {
		return -EINVAL;
	}
	if (dmd__hex_field(&c, 2, &bus) || *c++ != ':')
		return -EINVAL;
	if (dmd__hex_field(&c, 2, &dev) || *c++ != '.')
		return -EINVAL;
	if (dmd__hex_field(&c, 1, &fn) || *c != '\0')
		return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, DMD_CONFIG_BDF_MAX, "%04lx:%02lx:%02lx.%lx", dom, bus, dev, fn);
	return 0;
}

/*
 * Parse a permission mode: octal digits only (a leading 0 is allowed, as in
 * 0660), at most 0777. @return 0, -EINVAL (syntax), -ERANGE (above 0777).
 */
static int dmd__parse_mode(const char *s, mode_t *out)
{
	unsigned int v = 0;

	if (!*s)
		return -EINVAL;
	for (const char *c = s; *c; c++) {
		if (*c < '0' || *c > '7')
			return -EINVAL;
		v = v * 8 + (unsigned int)(*c - '0');
		if (v > 07777)
			return -ERANGE;
	}
	if (v > 0777)
		return -ERANGE;
	*out = (mode_t)v;
	return 0;
}

/* socket_mode / socket_dir_mode = value. */
static void dmd__parse_socket_mode(struct dmd__parse *p, const char *key, const char *value,
				   bool dir, mode_t *out)
{
	mode_t m;
	int rc = dmd__parse_mode(value, &m);

	if (rc == -EINVAL) {
		dmd__perr(p, p->line, "%s: bad mode '%s' (octal, e.g. %s)", key, value,
			  dir ? "0750" : "0660");
		return;
	}
	if (rc) {
		dmd__perr(p, p->line,
			  "%s: '%s' is above 0777 (setuid, setgid and sticky bits are refused)",
			  key, value);
		return;
	}
	if (dir && (m & 0022)) {
		dmd__perr(p, p->line,
			  "%s: %04o lets group or others write in the socket directory (they "
			  "could replace the socket); refused",
			  key, (unsigned int)m);
		return;
	}
	if (dir && (m & 0700) != 0700) {
		dmd__perr(p, p->line,
			  "%s: %04o must give the owner rwx (the daemon creates and removes its "
			  "socket there)",
			  key, (unsigned int)m);
		return;
	}
	*out = m;
}

/* socket_group = one group, by number or name. */
static void dmd__parse_socket_group(struct dmd__parse *p, const char *value)
{
	struct dmd_config *cfg = p->cfg;
	uint64_t v;

	if (!*value || strpbrk(value, ", \t")) {
		dmd__perr(p, p->line, "socket_group: one group expected, got '%s'", value);
		return;
	}
	if (isdigit((unsigned char)value[0])) {
		int rc = dmd__parse_u64(value, &v);

		if (rc == -EDOM) {
			dmd__leading_zero(p, "socket_group", value);
			return;
		}
		if (rc || v >= UINT32_MAX) {
			dmd__perr(p, p->line, "socket_group: bad group id '%s'", value);
			return;
		}
		cfg->socket_group = (gid_t)v;
	} else {
		struct group *gr = getgrnam(value);

		if (!gr) {
			dmd__perr(p, p->line, "socket_group: no such group '%s'", value);
			return;
		}
		cfg->socket_group = gr->gr_gid;
	}
	cfg->socket_group_set = true;
}

/* Parse the devices list of tenant t. */
static void dmd__parse_devices(struct dmd__parse *p, struct dmd_tenant_config *t, const char *value)
{
	char buf[1024];
	char *save = NULL, *tok;

	t->ndevices = 0;
	t->devices_line = p->line;
	if (strlen(value) >= sizeof(buf)) {
		dmd__perr(p, p->line, "devices: list too long");
		return;
	}
	strcpy(buf, value);
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char bdf[DMD_CONFIG_BDF_MAX];
		bool dup = false;

		if (dmd_config_parse_bdf(tok, bdf)) {
			dmd__perr(
			    p, p->line,
			    "devices: bad PCI address '%s' (expected DDDD:BB:DD.F or BB:DD.F, "
			    "hex)",
			    tok);
			continue;
		}
		for (unsigned int i = 0; i < t->ndevices; i++)
			dup |= !strcmp(t->devices[i], bdf);
		if (dup) {
			dmd__perr(p, p->line, "devices: %s listed twice", bdf);
			continue;
		}
		if (t->ndevices == DMD_CONFIG_MAX_DEVICES) {
			dmd__perr(p, p->line, "devices: more than %u entries",
				  DMD_CONFIG_MAX_DEVICES);
			return;
		}
		strcpy(t->devices[t->ndevices++], bdf);
	}
}

/* Parse a list of users (gid == false) or groups: numbers or names. */
static void dmd__parse_ids(struct dmd__parse *p, const char *key, const char *value, bool group,
			   uint32_t *ids, unsigned int *nids)
{
	char buf[1024];
	char *save = NULL, *tok;

	if (strlen(value) >= sizeof(buf)) {
		dmd__perr(p, p->line, "%s: list too long", key);
		return;
	}
	strcpy(buf, value);
	unsigned int ntok = 0;

	*nids = 0;
	for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		uint64_t v;
		uint32_t id;

		ntok++;
		if (isdigit((unsigned char)tok[0])) {
			int rc = dmd__parse_u64(tok, &v);

			if (rc == -EDOM) {
				dmd__leading_zero(p, key, tok);
				continue;
			}
			if (rc || v >= UINT32_MAX) {
				dmd__perr(p, p->line, "%s: bad %s id '%s'", key,
					  group ? "group" : "user", tok);
				continue;
			}
			id = (uint32_t)v;
		} else if (group) {
			struct group *gr = getgrnam(tok);

			if (!gr) {
				dmd__perr(p, p->line, "%s: no such group '%s'", key, tok);
				continue;
			}
			id = gr->gr_gid;
		} else {
			struct passwd *pw = getpwnam(tok);

			if (!pw) {
				dmd__perr(p, p->line, "%s: no such user '%s'", key, tok);
				continue;
			}
			id = pw->pw_uid;
		}
		if (*nids == DMD_CONFIG_MAX_IDS) {
			dmd__perr(p, p->line, "%s: more than %u entries", key, DMD_CONFIG_MAX_IDS);
			return;
		}
		ids[(*nids)++] = id;
	}
	if (ntok == 0)
		dmd__perr(p, p->line, "%s: empty list", key);
}

/* A [section] header seen by the line reader. */
static void dmd__section(struct dmd__parse *p, char *text)
{
	struct dmd_config *cfg = p->cfg;
	char *name;

	text = dmd__trim(text);
	if (!strcmp(text, "daemon")) {
		if (p->daemon_line)
			dmd__perr(p, p->line, "duplicate [daemon] section (first at line %u)",
				  p->daemon_line);
		p->daemon_line = p->line;
		p->sect = SECT_DAEMON;
		return;
	}
	if (strncmp(text, "tenant", 6) || !isspace((unsigned char)text[6])) {
		dmd__perr(p, p->line, "unknown section [%s] (expected [daemon] or [tenant NAME])",
			  text);
		p->sect = SECT_BAD;
		return;
	}
	name = dmd__trim(text + 6);
	p->sect = SECT_BAD;
	if (!dmd__name_ok(name)) {
		dmd__perr(p, p->line,
			  "bad tenant name '%s' (1..63 of [A-Za-z0-9._-], starting with a letter "
			  "or digit)",
			  name);
		return;
	}
	for (unsigned int i = 0; i < cfg->ntenants; i++) {
		if (!strcmp(cfg->tenants[i].name, name)) {
			dmd__perr(p, p->line, "duplicate tenant '%s' (first at line %u)", name,
				  cfg->tenants[i].line);
			return;
		}
	}
	{
		struct dmd_tenant_config *nt;
		unsigned int *nk;
		struct dmd_tenant_config *t;

		nt = dmac__realloc(cfg->tenants, (cfg->ntenants + 1) * sizeof(*nt));
		if (!nt) {
			p->oom = 1;
			return;
		}
		cfg->tenants = nt;
		nk = dmac__realloc(p->tenant_keys, (cfg->ntenants + 1) * sizeof(*nk));
		if (!nk) {
			p->oom = 1;
			return;
		}
		p->tenant_keys = nk;
		t = &cfg->tenants[cfg->ntenants];
		memset(t, 0, sizeof(*t));
		strcpy(t->name, name);
		t->line = p->line;
		t->quota_pinned_bytes = UINT64_MAX;
		t->quota_leases = UINT64_MAX;
		t->quota_registrations = DMD_CONFIG_DEFAULT_QUOTA_REGISTRATIONS;
		t->release_lazy = true;
		t->copy_cache_bytes = DMD_CONFIG_DEFAULT_COPY_CACHE_BYTES;
		t->iova_start = 0;
		t->iova_last = UINT64_MAX;
		nk[cfg->ntenants] = 0;
		p->tenant = (int)cfg->ntenants++;
		p->sect = SECT_TENANT;
	}
}

/* The next byte of the input, or EOF (a read error is kept in p->read_err). */
static int dmd__getc(struct dmd__parse *p)
{
	int ch;

	if (!p->file)
		return p->mem_pos < p->mem_len ? (unsigned char)p->mem[p->mem_pos++] : EOF;
	ch = getc(p->file);
	if (ch == EOF && ferror(p->file) && !p->read_err)
		p->read_err = errno ? errno : EIO;
	return ch;
}

/* The longest line the reader hands on: inih's buffer and ours, less a NUL. */
#define DMD__LINE_BUF 512

/*
 * ini_reader: one whole line per call (see the invariants), counted, with
 * sections and syntax tracked.
 */
static char *dmd__reader(char *str, int num, void *stream)
{
	struct dmd__parse *p = stream;
	char copy[DMD__LINE_BUF];
	size_t cap, n = 0, len = 0;
	bool nul = false;
	char *s, *end;
	int ch, last = 0;

	if (num < 2 || p->read_err)
		return NULL;
	cap = (size_t)num - 1 < sizeof(copy) - 1 ? (size_t)num - 1 : sizeof(copy) - 1;
	ch = dmd__getc(p);
	if (ch == EOF)
		return NULL;
	for (; ch != EOF && ch != '\n'; ch = dmd__getc(p)) {
		if (ch == '\0')
			nul = true;
		if (nul)
			continue;
		len++;
		last = ch;
		/* one byte beyond cap is kept: it may be the '\r' of "\r\n" */
		if (n <= cap)
			str[n++] = (char)ch;
	}
	if (p->read_err)
		return NULL;
	p->line++;
	if (last == '\r') {
		len--;
		if (n > len)
			n = len;
	}
	if (len > cap) {
		dmd__perr(p, p->line,
			  "line longer than %zu characters (the configuration reader's limit): "
			  "shorten it (a long uids or gids list can name a group instead)",
			  cap);
		str[0] = '\0';
		return str;
	}
	str[n] = '\0';
	memcpy(copy, str, n + 1);
	s = dmd__trim(copy);
	if (*s == '\0' || *s == ';' || *s == '#')
		return str;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end) {
			dmd__perr(p, p->line, "section header without ']'");
			p->sect = SECT_BAD;
			return str;
		}
		*end = '\0';
		dmd__section(p, s + 1);
		return str;
	}
	if (!strchr(s, '=') && !strchr(s, ':') && !isspace((unsigned char)str[0]))
		dmd__perr(p, p->line, "expected 'key = value', got '%s'", s);
	return str;
}

static int dmd__handler(void *user, const char *section, const char *key, const char *value)
{
	struct dmd__parse *p = user;
	struct dmd_config *cfg = p->cfg;
	unsigned int bit = 0, *seen;
	uint64_t v;
	int rc;

	if (p->sect == SECT_BAD)
		return 1;
	if (p->sect == SECT_NONE) {
		dmd__perr(p, p->line, "key '%s' outside any section", key);
		return 1;
	}
	if (p->sect == SECT_DAEMON) {
		seen = &p->daemon_keys;
		if (!strcmp(key, "socket")) {
			bit = K_SOCKET;
			if (value[0] != '/')
				dmd__perr(p, p->line,
					  "socket: '%s' must be an absolute path (abstract sockets "
					  "are refused)",
					  value);
			else if (strlen(value) >= sizeof(cfg->socket))
				dmd__perr(p, p->line, "socket: path longer than %zu bytes",
					  sizeof(cfg->socket) - 1);
			else
				strcpy(cfg->socket, value);
		} else if (!strcmp(key, "backend")) {
			bit = K_BACKEND;
			if (strlen(value) >= sizeof(cfg->backend) ||
			    (strcmp(value, "auto") &&
			     !(p->known ? p->known(value)
					: (!strcmp(value, "iommufd") || !strcmp(value, "vfio")))))
				dmd__perr(p, p->line,
					  "backend: '%s' is not offered by this binary (auto, "
					  "iommufd, vfio)",
					  value);
			else
				strcpy(cfg->backend, value);
		} else if (!strcmp(key, "pinned_budget")) {
			bit = K_BUDGET;
			rc = dmd_config_parse_bytes(value, true, &v);
			if (rc == -EDOM)
				dmd__leading_zero(p, key, value);
			else if (rc)
				dmd__perr(p, p->line,
					  "pinned_budget: %s '%s' (bytes, with optional K/M/G/T, "
					  "or 'unlimited')",
					  rc == -ERANGE ? "number too large" : "bad number", value);
			else
				cfg->pinned_budget = v;
		} else if (!strcmp(key, "log_level")) {
			bit = K_LEVEL;
			if (dmd_log_level_parse(value, &cfg->log_level))
				dmd__perr(p, p->line,
					  "log_level: '%s' (expected err, warn, info or debug)",
					  value);
		} else if (!strcmp(key, "log_target")) {
			bit = K_TARGET;
			if (dmd_log_target_parse(value, &cfg->log_target))
				dmd__perr(p, p->line,
					  "log_target: '%s' (expected stderr or syslog)", value);
		} else if (!strcmp(key, "admin_gids")) {
			bit = K_ADMIN;
			dmd__parse_ids(p, key, value, true, cfg->admin_gids, &cfg->nadmin_gids);
		} else if (!strcmp(key, "socket_group")) {
			bit = K_SGROUP;
			dmd__parse_socket_group(p, value);
		} else if (!strcmp(key, "socket_mode")) {
			bit = K_SMODE;
			dmd__parse_socket_mode(p, key, value, false, &cfg->socket_mode);
		} else if (!strcmp(key, "socket_dir_mode")) {
			bit = K_SDMODE;
			dmd__parse_socket_mode(p, key, value, true, &cfg->socket_dir_mode);
		} else if (!strcmp(key, "max_sessions")) {
			bit = K_MAXSESS;
			dmd__parse_count(p, key, value, false, 1, DMD_CONFIG_MAX_SESSIONS_LIMIT,
					 &cfg->max_sessions);
		} else if (!strcmp(key, "max_sessions_per_uid")) {
			bit = K_MAXSESSUID;
			dmd__parse_count(p, key, value, false, 1, DMD_CONFIG_MAX_SESSIONS_LIMIT,
					 &cfg->max_sessions_per_uid);
		} else if (!strcmp(key, "hello_timeout_ms")) {
			bit = K_HELLOTO;
			dmd__parse_count(p, key, value, false, 1, 3600000, &cfg->hello_timeout_ms);
		} else if (!strcmp(key, "max_registrations_per_session")) {
			bit = K_MAXREGSESS;
			dmd__parse_count(p, key, value, true, 1, UINT64_MAX,
					 &cfg->max_registrations_per_session);
		} else {
			dmd__perr(p, p->line, "unknown key '%s' in [daemon]", key);
			return 1;
		}
	} else {
		struct dmd_tenant_config *t = &cfg->tenants[p->tenant];

		seen = &p->tenant_keys[p->tenant];
		if (!strcmp(key, "uids")) {
			bit = K_UIDS;
			dmd__parse_ids(p, key, value, false, t->uids, &t->nuids);
		} else if (!strcmp(key, "gids")) {
			bit = K_GIDS;
			dmd__parse_ids(p, key, value, true, t->gids, &t->ngids);
		} else if (!strcmp(key, "quota_pinned_bytes") || !strcmp(key, "quota_leases")) {
			bool bytes = key[6] == 'p';

			bit = bytes ? K_QBYTES : K_QLEASES;
			rc = bytes ? dmd_config_parse_bytes(value, true, &v)
				   : (!strcmp(value, "unlimited") ? (v = UINT64_MAX, 0)
								  : dmd__parse_u64(value, &v));
			if (rc == -EDOM)
				dmd__leading_zero(p, key, value);
			else if (rc)
				dmd__perr(p, p->line, "%s: %s '%s'", key,
					  rc == -ERANGE ? "number too large" : "bad number", value);
			else if (bytes)
				t->quota_pinned_bytes = v;
			else
				t->quota_leases = v;
		} else if (!strcmp(key, "release")) {
			bit = K_RELEASE;
			if (!strcmp(value, "lazy"))
				t->release_lazy = true;
			else if (!strcmp(value, "strict"))
				t->release_lazy = false;
			else
				dmd__perr(p, p->line, "release: expected lazy or strict, not '%s'",
					  value);
		} else if (!strcmp(key, "copy_cache_bytes")) {
			bit = K_COPYCACHE;
			rc = dmd_config_parse_bytes(value, false, &v);
			if (rc == -EDOM)
				dmd__leading_zero(p, key, value);
			else if (rc)
				dmd__perr(p, p->line, "copy_cache_bytes: %s '%s'",
					  rc == -ERANGE ? "number too large" : "bad number", value);
			else
				t->copy_cache_bytes = v;
		} else if (!strcmp(key, "quota_registrations")) {
			bit = K_QREGS;
			dmd__parse_count(p, key, value, true, 1, UINT64_MAX,
					 &t->quota_registrations);
		} else if (!strcmp(key, "trusted")) {
			bit = K_TRUSTED;
			if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))
				t->trusted = true;
			else if (!strcmp(value, "false") || !strcmp(value, "no") ||
				 !strcmp(value, "0"))
				t->trusted = false;
			else
				dmd__perr(p, p->line, "trusted: expected true or false, not '%s'",
					  value);
		} else if (!strcmp(key, "devices")) {
			bit = K_DEVICES;
			dmd__parse_devices(p, t, value);
		} else if (!strcmp(key, "iova_start") || !strcmp(key, "iova_last")) {
			bool start = key[5] == 's';

			bit = start ? K_START : K_LAST;
			rc = dmd__parse_u64(value, &v);
			if (rc == -EDOM) {
				dmd__leading_zero(p, key, value);
			} else if (rc) {
				dmd__perr(p, p->line, "%s: %s '%s'", key,
					  rc == -ERANGE ? "number too large" : "bad number", value);
			} else {
				if (start)
					t->iova_start = v;
				else
					t->iova_last = v;
				if (!t->window_set)
					t->window_line = p->line;
				t->window_set = true;
			}
		} else {
			dmd__perr(p, p->line, "unknown key '%s' in [tenant %s]", key, t->name);
			return 1;
		}
	}
	if (*seen & bit)
		dmd__perr(p, p->line, "duplicate key '%s' in [%s]", key, section);
	*seen |= bit;
	return 1;
}

static void dmd__validate(struct dmd__parse *p)
{
	struct dmd_config *cfg = p->cfg;

	/* the socket's modes default on whether a group narrows who may connect */
	if (!(p->daemon_keys & K_SMODE))
		cfg->socket_mode = cfg->socket_group_set ? DMD_CONFIG_SOCKET_MODE_GROUP
							 : DMD_CONFIG_SOCKET_MODE_ALL;
	if (!(p->daemon_keys & K_SDMODE))
		cfg->socket_dir_mode = cfg->socket_group_set ? DMD_CONFIG_SOCKET_DMODE_GROUP
							     : DMD_CONFIG_SOCKET_DMODE_ALL;

	for (unsigned int i = 0; i < cfg->ntenants; i++) {
		struct dmd_tenant_config *t = &cfg->tenants[i];

		if (t->nuids == 0 && t->ngids == 0)
			dmd__perr(p, t->line, "tenant '%s' allows nobody (set uids and/or gids)",
				  t->name);
		for (unsigned int d = 0; d < t->ndevices; d++)
			for (unsigned int j = 0; j < i; j++)
				for (unsigned int k = 0; k < cfg->tenants[j].ndevices; k++)
					if (!strcmp(t->devices[d], cfg->tenants[j].devices[k]))
						dmd__perr(p, t->devices_line,
							  "device %s is listed for tenant '%s' "
							  "and for tenant '%s' (line %u): a device "
							  "belongs to one tenant",
							  t->devices[d], t->name,
							  cfg->tenants[j].name,
							  cfg->tenants[j].devices_line);
		if (!t->window_set)
			continue;
		if (t->iova_start > t->iova_last) {
			dmd__perr(p, t->window_line,
				  "tenant '%s': empty IOVA window (iova_start 0x%" PRIx64
				  " > iova_last 0x%" PRIx64 ")",
				  t->name, t->iova_start, t->iova_last);
			continue;
		}
		if (t->iova_start % 4096 || (t->iova_last + 1) % 4096) {
			dmd__perr(p, t->window_line,
				  "tenant '%s': IOVA window must start on a 4 KiB boundary and "
				  "end one byte before one (iova_last is inclusive)",
				  t->name);
			continue;
		}
		for (unsigned int j = 0; j < i; j++) {
			struct dmd_tenant_config *o = &cfg->tenants[j];

			if (!o->window_set || o->iova_start > o->iova_last)
				continue;
			if (t->iova_start <= o->iova_last && o->iova_start <= t->iova_last)
				dmd__perr(p, t->window_line,
					  "tenant '%s': IOVA window overlaps the window of tenant "
					  "'%s' (line %u)",
					  t->name, o->name, o->window_line);
		}
	}
}

/* Parse from p->file (opened here from p->path) or from p->mem. */
static int dmd__parse(struct dmd__parse *pp, struct dmd_config **out)
{
	struct dmd__parse p = *pp;
	const char *path = p.path;
	FILE *errs = p.errs;
	struct dmd_config *cfg;
	int rc;

	cfg = dmac__calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	strcpy(cfg->socket, DMD_CONFIG_DEFAULT_SOCKET);
	strcpy(cfg->backend, "auto");
	cfg->pinned_budget = dmd_config_default_budget();
	cfg->max_sessions = DMD_CONFIG_DEFAULT_MAX_SESSIONS;
	cfg->max_sessions_per_uid = DMD_CONFIG_DEFAULT_MAX_SESSIONS_PER_UID;
	cfg->hello_timeout_ms = DMD_CONFIG_DEFAULT_HELLO_TIMEOUT_MS;
	cfg->max_registrations_per_session = DMD_CONFIG_DEFAULT_MAX_REGS_PER_SESSION;
	cfg->log_level = DMD_LOG_INFO;
	cfg->log_target = DMD_LOG_STDERR;
	p.cfg = cfg;

	if (p.mem) {
		rc = ini_parse_stream(dmd__reader, &p, dmd__handler, &p);
	} else {
		struct stat st;

		p.file = fopen(path, "re");
		if (!p.file) {
			rc = -errno;
			if (errs)
				fprintf(errs, "%s: cannot open: %s\n", path, strerror(-rc));
			goto err_free_cfg;
		}
		if (fstat(fileno(p.file), &st) == 0 && S_ISDIR(st.st_mode)) {
			fclose(p.file);
			rc = -EISDIR;
			if (errs)
				fprintf(errs, "%s: is a directory, not a configuration file\n",
					path);
			goto err_free_cfg;
		}
		rc = ini_parse_stream(dmd__reader, &p, dmd__handler, &p);
		fclose(p.file);
		if (p.read_err) {
			rc = -p.read_err;
			if (errs)
				fprintf(errs, "%s: cannot read: %s\n", path, strerror(-rc));
			goto err_free_cfg;
		}
	}
	if (p.oom) {
		rc = -ENOMEM;
		goto err_free_cfg;
	}
	if (rc > 0 && p.nerr == 0)
		dmd__perr(&p, (unsigned int)rc, "syntax error");
	else if (rc < 0) {
		rc = -ENOMEM;
		goto err_free_cfg;
	}
	dmd__validate(&p);
	if (p.nerr) {
		rc = -EINVAL;
		goto err_free_cfg;
	}
	dmac__free(p.tenant_keys);
	*out = cfg;
	return 0;

err_free_cfg:
	dmac__free(p.tenant_keys);
	dmd_config_free(cfg);
	return rc;
}

int dmd_config_load(const char *path, dmd_backend_known_fn known, FILE *errs,
		    struct dmd_config **out)
{
	struct dmd__parse p = {.path = path, .errs = errs, .known = known, .tenant = -1};

	return dmd__parse(&p, out);
}

int dmd_config_parse_mem(const char *name, const void *buf, size_t len, dmd_backend_known_fn known,
			 FILE *errs, struct dmd_config **out)
{
	struct dmd__parse p = {.path = name,
			       .errs = errs,
			       .known = known,
			       .tenant = -1,
			       .mem = buf ? buf : "",
			       .mem_len = buf ? len : 0};

	return dmd__parse(&p, out);
}

const char *dmd_config_warning(const struct dmd_config *cfg)
{
	if (cfg->ntenants == 0)
		return "no [tenant NAME] section: no dataplane can connect (HELLO names a tenant); "
		       "only admin sessions (root, admin_gids) can";
	return NULL;
}

uint64_t dmd_config_default_budget(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	/* a quarter of the machine's memory; 1 GiB when it cannot be read */
	if (pages <= 0 || psz <= 0)
		return 1ull << 30;
	return (uint64_t)pages * (uint64_t)psz / 4;
}

bool dmd_peer_in_group(const struct dmd_peer *p, gid_t g)
{
	if (p->gid == g)
		return true;
	for (unsigned int i = 0; i < p->ngroups; i++)
		if (p->groups[i] == g)
			return true;
	return false;
}

bool dmd_config_is_admin(const struct dmd_config *cfg, const struct dmd_peer *p)
{
	if (p->uid == 0)
		return true;
	for (unsigned int i = 0; i < cfg->nadmin_gids; i++)
		if (dmd_peer_in_group(p, cfg->admin_gids[i]))
			return true;
	return false;
}

void dmd_config_free(struct dmd_config *cfg)
{
	if (!cfg)
		return;
	dmac__free(cfg->tenants);
	dmac__free(cfg);
}

const struct dmd_tenant_config *dmd_config_tenant(const struct dmd_config *cfg, const char *name)
{
	for (unsigned int i = 0; i < cfg->ntenants; i++)
		if (!strcmp(cfg->tenants[i].name, name))
			return &cfg->tenants[i];
	return NULL;
}

bool dmd_config_allows(const struct dmd_tenant_config *t, const struct dmd_peer *p)
{
	for (unsigned int i = 0; i < t->nuids; i++)
		if (t->uids[i] == p->uid)
			return true;
	for (unsigned int i = 0; i < t->ngids; i++)
		if (dmd_peer_in_group(p, t->gids[i]))
			return true;
	return false;
}
