/*
 * sbuf - the growable text buffer, and the one JSON string escaper.
 *
 * Layering: a base module. sbuf.h and sbuf.c include only libc headers
 * and never include another header of this project; anything may use
 * them. What builds on it (Postgres array literals, pgarr.h; JSON bodies
 * and websocket frames) lives in the modules above.
 *
 * Text is appended and the buffer grows as needed; the text is always
 * NUL-terminated (the NUL is not counted in len). A failed allocation
 * makes the buffer sticky-failed: every later call is a no-op and
 * sbuf_detach() returns NULL, so a caller checks once, at the end.
 *
 * Headroom: sbuf_init_head() keeps head bytes in front of the text, for
 * a header the caller writes there afterwards (the websocket tier puts a
 * frame's struct and LWS_PRE there, so lws_write() needs no copy).
 *
 * Ownership: the struct owns buf until sbuf_detach() hands it to the
 * caller (who free()s it) or sbuf_release() frees it. Not thread safe;
 * one buffer is used by one thread at a time.
 */
#ifndef CHAT_SBUF_H
#define CHAT_SBUF_H

#include <stddef.h>

struct sbuf {
	char *buf;	/* owned allocation: head bytes, then the text and a NUL */
	size_t head;	/* bytes in front of the text */
	size_t len;	/* bytes of text */
	size_t cap;	/* bytes after head: text and NUL fit while len < cap */
	int failed;	/* an allocation failed: see above */
};

/* Start empty with room for hint bytes of text (0: a small default). */
void sbuf_init(struct sbuf *b, size_t hint);

/* The same with head bytes (uninitialised, the caller's) before the text. */
void sbuf_init_head(struct sbuf *b, size_t head, size_t hint);

/* Free the buffer; b may be initialised again. */
void sbuf_release(struct sbuf *b);

/* The text (NUL-terminated); NULL once an allocation failed. */
static inline char *sbuf_text(const struct sbuf *b)
{
	return b->failed ? NULL : b->buf + b->head;
}

/* Append n bytes of s / a NUL-terminated string. */
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);

/* Append printf-style text. */
void sbuf_addf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Append s[0..n) as a JSON string: in double quotes, with '"', '\\' and
 * the control characters escaped (\n, \r, \t, \b, \f, else \u00XX).
 * Other bytes, UTF-8 included, pass through unchanged: the caller hands
 * in valid UTF-8.
 */
void sbuf_json_str(struct sbuf *b, const char *s, size_t n);

/*
 * Hand the allocation to the caller: the head bytes, then *len bytes of
 * text and a NUL; the caller free()s it. Returns NULL (and *len 0) when
 * an allocation failed. Either way b is released.
 */
char *sbuf_detach(struct sbuf *b, size_t *len);

#endif
