/*
 * jsonw - a small append-only JSON text writer for the hot read path.
 *
 * GET /rooms formats its rows in C: Postgres spends a third of the
 * statement's CPU formatting timestamps (to_char) and concatenating text,
 * work this writer does for a fraction of the cost. Values are appended
 * as text; the caller writes the punctuation. A failed allocation makes
 * the writer sticky-failed: every later call is a no-op and jw_finish()
 * reports it, so callers check once at the end.
 *
 * Ownership: the buffer is owned by the struct until jw_finish() hands it
 * to the caller (free() it), or jw_release() frees it.
 */
#ifndef REST_JSONW_H
#define REST_JSONW_H

#include <stddef.h>

struct jw {
	char *buf;	/* owned, NUL terminated when not failed */
	size_t len, cap;
	int failed;
};

/* Start with room for hint bytes (0: a default). */
void jw_init(struct jw *w, size_t hint);
void jw_release(struct jw *w);

/* Append n raw bytes / a NUL terminated raw string. */
void jw_raw(struct jw *w, const char *s, size_t n);
void jw_lit(struct jw *w, const char *s);

/* Append s as a JSON string: quotes, and escapes for '"', '\\' and control characters. */
void jw_str(struct jw *w, const char *s);

/*
 * Append a Postgres timestamptz in text form (DateStyle ISO, TimeZone
 * UTC: "2026-11-25 17:55:15.1234+00") as the API's JSON string
 * "2026-11-25T17:55:15.123400+00:00". Returns 0, or -1 (nothing
 * appended) for any other form.
 */
int jw_pg_time(struct jw *w, const char *pg);

/*
 * Take the text: *len bytes, NUL terminated, malloc'd, the caller frees
 * it. NULL when an allocation failed (the writer is released either way).
 */
char *jw_finish(struct jw *w, size_t *len);

#endif
