/*
 * log - one line per event on stderr, with a level.
 *
 * Lines look like "2026-11-25T17:55:15.123Z info ws-daemon[812]: text".
 * Each line is written with a single write(2), so lines of several
 * processes sharing one log file never interleave.
 *
 * Never pass a token, a secret or a full connection string to these
 * functions (DESIGN.md: no secret in any log).
 *
 * Layering: a base module. log.h includes nothing; log.c adds libc and
 * chrono.h (the clock). Never a module above it: cfg reads level names
 * through log_level_parse(), not the reverse.
 */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the program name (copied) and the threshold. */
void log_init(const char *prog, enum log_level level);

/* "error", "warn", "info", "debug" -> level; -1 for anything else. */
int log_level_parse(const char *s);

/* 1 when messages of this level are printed (skip costly formatting). */
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/*
 * At most one line per period from one place that may repeat fast (a
 * failing socket, a flood of bad input): one struct log_limit per place,
 * zeroed, used by one thread. log_limit_pass() returns 1 when a line may
 * be written now, with *skipped (unless NULL) set to the lines
 * suppressed since the last one, worth saying in it; 0 when this line is
 * to be skipped (it is counted).
 */
struct log_limit {
	long long next_ms;		/* monotonic; 0 = never logged */
	unsigned long skipped;
};

int log_limit_pass(struct log_limit *l, long long period_ms, unsigned long *skipped);

/* Log at LOG_ERROR and exit(1). Only for startup failures. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
