#include "jsonw.h"
#include "chrono.h"

#include <stdlib.h>
#include <string.h>

void jw_init(struct jw *w, size_t hint)
{
	memset(w, 0, sizeof(*w));
	w->cap = hint ? hint : 1024;
	w->buf = malloc(w->cap);
	if (!w->buf)
		w->failed = 1;
	else
		w->buf[0] = '\0';
}

void jw_release(struct jw *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

/* Room for n more bytes and the NUL. */
static int jw_grow(struct jw *w, size_t n)
{
	size_t cap = w->cap;
	char *b;

	if (w->failed)
		return -1;
	if (w->len + n + 1 <= cap)
		return 0;
	while (w->len + n + 1 > cap)
		cap *= 2;
	b = realloc(w->buf, cap);
	if (!b) {
		w->failed = 1;
		return -1;
	}
	w->buf = b;
	w->cap = cap;
	return 0;
}

void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (jw_grow(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

void jw_lit(struct jw *w, const char *s)
{
	jw_raw(w, s, strlen(s));
}

void jw_str(struct jw *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s);
	char *o;

	/* Worst case: every byte a \u00XX escape. */
	if (jw_grow(w, n * 6 + 2))
		return;
	o = w->buf + w->len;
	*o++ = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': *o++ = '\\'; *o++ = '"'; break;
		case '\\': *o++ = '\\'; *o++ = '\\'; break;
		case '\n': *o++ = '\\'; *o++ = 'n'; break;
		case '\r': *o++ = '\\'; *o++ = 'r'; break;
		case '\t': *o++ = '\\'; *o++ = 't'; break;
		case '\b': *o++ = '\\'; *o++ = 'b'; break;
		case '\f': *o++ = '\\'; *o++ = 'f'; break;
		default:
			if (*p < 0x20) {
				memcpy(o, "\\u00", 4);
				o[4] = hex[*p >> 4];
				o[5] = hex[*p & 15];
				o += 6;
			} else {
				*o++ = (char)*p;	/* UTF-8 passes through */
			}
		}
	}
	*o++ = '"';
	*o = '\0';
	w->len = o - w->buf;
}

int jw_pg_time(struct jw *w, const char *pg)
{
	char iso[CHRONO_ISO_SIZE];

	if (chrono_iso_from_pg(pg, iso))
		return -1;
	jw_raw(w, "\"", 1);
	jw_raw(w, iso, CHRONO_ISO_LEN);
	jw_raw(w, "\"", 1);
	return 0;
}

char *jw_finish(struct jw *w, size_t *len)
{
	char *b = w->failed ? NULL : w->buf;

	if (!b)
		free(w->buf);
	*len = b ? w->len : 0;
	memset(w, 0, sizeof(*w));
	return b;
}
