/* SPDX-License-Identifier: MIT */
/*
 * Logging: one line per message, written with a single write(2) so lines from
 * threads never interleave. Text or JSON lines to stderr, or journald.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "common/common.h"

#define LOG_LINE_MAX 4096

static struct {
	char ident[32];
	enum pvm_log_level level;
	enum pvm_log_format format;
	int fd;
} log_state = {"pvm", PVM_LOG_INFO, PVM_LOG_TEXT, STDERR_FILENO};

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_syslog[] = {3, 4, 6, 7}; /* LOG_ERR, WARNING, INFO, DEBUG */

void pvm_log_init(const char *ident, enum pvm_log_level level, enum pvm_log_format format)
{
	snprintf(log_state.ident, sizeof(log_state.ident), "%s", ident ? ident : "pvm");
	log_state.level = level;
	log_state.format = format;
}

void pvm_log_set_level(enum pvm_log_level level)
{
	log_state.level = level;
}

enum pvm_log_level pvm_log_get_level(void)
{
	return log_state.level;
}

void pvm_log_set_fd(int fd)
{
	log_state.fd = fd < 0 ? STDERR_FILENO : fd;
}

static int parse_name(const char *s, const char *const *names, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

int pvm_log_parse_level(const char *s, enum pvm_log_level *out)
{
	int i = parse_name(s, level_names, PVM_ARRAY_SIZE(level_names));

	if (i < 0)
		return -EINVAL;
	*out = (enum pvm_log_level)i;
	return 0;
}

int pvm_log_parse_format(const char *s, enum pvm_log_format *out)
{
	static const char *const names[] = {"text", "json", "journal"};
	int i = parse_name(s, names, PVM_ARRAY_SIZE(names));

	if (i < 0)
		return -EINVAL;
	*out = (enum pvm_log_format)i;
	return 0;
}

static void timestamp(char *out, size_t len)
{
	uint64_t ns = pvm_wall_ns();
	time_t secs = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&secs, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)((ns / 1000000u) % 1000u));
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report a logging failure */
		}
		p += w;
		n -= (size_t)w;
	}
}

void pvm_logv(enum pvm_log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	char ts[64];
	struct pvm_buf line;

	if (level > log_state.level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);

	if (log_state.format == PVM_LOG_JOURNAL) {
		sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", level_syslog[level],
				"SYSLOG_IDENTIFIER=%s", log_state.ident, NULL);
		return;
	}

	timestamp(ts, sizeof(ts));
	pvm_buf_init(&line);
	if (log_state.format == PVM_LOG_JSON) {
		pvm_buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"ident\":\"", ts,
			       level_names[level]);
		pvm_buf_json_escape(&line, log_state.ident);
		pvm_buf_printf(&line, "\",\"pid\":%d,\"msg\":\"", (int)getpid());
		pvm_buf_json_escape(&line, msg);
		pvm_buf_append(&line, "\"}\n", 3);
	} else {
		pvm_buf_printf(&line, "%s %s[%d]: %s: %s\n", ts, log_state.ident, (int)getpid(),
			       level_names[level], msg);
	}
	if (!line.failed)
		write_all(log_state.fd, line.data, line.len);
	pvm_buf_free(&line);
}

void pvm_log(enum pvm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pvm_logv(level, fmt, ap);
	va_end(ap);
}
