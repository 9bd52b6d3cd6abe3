#include "log.h"
#include "chrono.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_prog[64] = "chat";
static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_init(const char *prog, enum log_level level)
{
	snprintf(log_prog, sizeof(log_prog), "%s", prog ? prog : "chat");
	log_threshold = level;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (s && !strcmp(s, level_names[i]))
			return i;
	return -1;
}

int log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	int64_t now = chrono_wall_ms();
	time_t sec = (time_t)(now / 1000);
	char line[2048];
	struct tm tm;
	int n, m;

	gmtime_r(&sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d]: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, (long)(now % 1000),
		     level_names[level], log_prog, (int)getpid());
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;	/* truncated: still one line */
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

int log_limit_pass(struct log_limit *l, long long period_ms, unsigned long *skipped)
{
	long long now = chrono_mono_us() / 1000;

	if (l->next_ms && now < l->next_ms) {
		l->skipped++;
		return 0;
	}
	l->next_ms = now + (period_ms > 0 ? period_ms : 1);
	if (skipped)
		*skipped = l->skipped;
	l->skipped = 0;
	return 1;
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
