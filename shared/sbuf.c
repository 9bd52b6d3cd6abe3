/*
 * sbuf - the growable text buffer, see sbuf.h.
 */
#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SBUF_DEFAULT 64

void sbuf_init_head(struct sbuf *b, size_t head, size_t hint)
{
	memset(b, 0, sizeof(*b));
	b->head = head;
	b->cap = (hint ? hint : SBUF_DEFAULT) + 1;
	b->buf = malloc(head + b->cap);
	if (!b->buf)
		b->failed = 1;
	else
		b->buf[head] = '\0';
}

void sbuf_init(struct sbuf *b, size_t hint)
{
	sbuf_init_head(b, 0, hint);
}

void sbuf_release(struct sbuf *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* Room for n more bytes of text and the NUL. Returns 0, or -1 (failed). */
static int sbuf_grow(struct sbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : SBUF_DEFAULT;	/* 0: released */
	char *nb;

	if (b->failed)
		return -1;
	if (b->len + n < b->cap)
		return 0;
	while (b->len + n >= cap)
		cap *= 2;
	nb = realloc(b->buf, b->head + cap);
	if (!nb) {
		b->failed = 1;
		return -1;
	}
	b->buf = nb;
	b->cap = cap;
	return 0;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	char *t;

	if (sbuf_grow(b, n))
		return;
	t = b->buf + b->head;
	memcpy(t + b->len, s, n);
	b->len += n;
	t[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->buf + b->head + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;		/* a bad format: nothing appended */
	if ((size_t)n >= b->cap - b->len) {
		/* did not fit: grow, then write it again */
		if (sbuf_grow(b, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(b->buf + b->head + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* What JSON makes of byte c: 0 = itself, else its escape letter ('u': \u00XX). */
static char sbuf_json_escape(unsigned char c)
{
	switch (c) {
	case '"': return '"';
	case '\\': return '\\';
	case '\n': return 'n';
	case '\r': return 'r';
	case '\t': return 't';
	case '\b': return 'b';
	case '\f': return 'f';
	default: return c < 0x20 ? 'u' : 0;
	}
}

void sbuf_json_str(struct sbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t need = 2;
	char *o;

	for (size_t i = 0; i < n; i++) {
		char e = sbuf_json_escape((unsigned char)s[i]);

		need += !e ? 1 : e == 'u' ? 6 : 2;
	}
	if (sbuf_grow(b, need))
		return;
	o = b->buf + b->head + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char e = sbuf_json_escape(c);

		if (!e) {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		*o++ = e;
		if (e == 'u') {
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o++ = '"';
	*o = '\0';
	b->len += need;
}

char *sbuf_detach(struct sbuf *b, size_t *len)
{
	char *out = b->failed ? NULL : b->buf;

	*len = out ? b->len : 0;
	if (!out)
		free(b->buf);
	memset(b, 0, sizeof(*b));
	return out;
}
