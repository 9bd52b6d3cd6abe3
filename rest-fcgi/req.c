#include "req.h"
#include "sbuf.h"
#include "jsonutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const req_names[] = { "GET", "POST", "PUT", "DELETE" };

enum req_method req_method_parse(const char *s)
{
	for (int i = 0; s && i < REQ_OTHER; i++)
		if (!strcmp(s, req_names[i]))
			return i;
	return REQ_OTHER;
}

const char *req_method_name(enum req_method m)
{
	return (unsigned)m < REQ_OTHER ? req_names[m] : "?";
}

int req_dialect_parse(const char *s, enum req_dialect *out)
{
	if (!s || !*s || !strcmp(s, "documented"))
		*out = REQ_DOCUMENTED;
	else if (!strcmp(s, "app"))
		*out = REQ_APP;
	else
		return -1;
	return 0;
}

static int req_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* %-decode [s, e) into out; '+' is a space as in forms. */
static int req_unescape(const char *s, const char *e, char *out, size_t outlen)
{
	size_t n = 0;

	for (; s < e; s++) {
		int c = (unsigned char)*s;

		if (c == '%') {
			int hi, lo;

			if (e - s < 3 || (hi = req_hex(s[1])) < 0 || (lo = req_hex(s[2])) < 0)
				return -1;
			c = hi * 16 + lo;
			s += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

int req_query_get(const struct req *q, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = q->query;

	while (p && *p) {
		const char *amp = strchr(p, '&'), *end = amp ? amp : p + strlen(p);
		const char *eq = memchr(p, '=', end - p);
		const char *kend = eq ? eq : end;

		if ((size_t)(kend - p) == klen && !memcmp(p, key, klen))
			return req_unescape(eq ? eq + 1 : end, end, out, outlen) ? -1 : 1;
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

int req_bearer(const struct req *q, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *h = q->authorization, *t;
	size_t n;

	if (!h || !*h) {
		snprintf(err, errlen, "missing authorization header (expected 'Bearer <token>')");
		return -1;
	}
	if (strncasecmp(h, "bearer ", 7)) {
		snprintf(err, errlen, "authorization header must use the Bearer scheme");
		return -1;
	}
	for (t = h + 7; *t == ' '; t++)
		;
	n = strlen(t);
	while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
		n--;
	if (!n) {
		snprintf(err, errlen, "authorization header has an empty bearer token");
		return -1;
	}
	if (n >= outlen) {
		snprintf(err, errlen, "bearer token is longer than %zu bytes", outlen - 1);
		return -1;
	}
	memcpy(out, t, n);
	out[n] = '\0';
	return 0;
}

int req_parse_id(const char *s, long long *out)
{
	char *end;
	long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

void resp_init(struct resp *r)
{
	memset(r, 0, sizeof(*r));
}

void resp_release(struct resp *r)
{
	free(r->body);
	resp_init(r);
}

int resp_set(struct resp *r, int status, const char *s, size_t len)
{
	char *b = malloc(len + 1);

	if (!b)
		return -1;
	memcpy(b, s, len);
	b[len] = '\0';
	free(r->body);
	r->body = b;
	r->body_len = len;
	r->status = status;
	return 0;
}

void resp_take_body(struct resp *r, int status, char *body, size_t len)
{
	free(r->body);
	r->body = body;
	r->body_len = len;
	r->status = status;
}

static int resp_take(struct resp *r, int status, char *body)
{
	if (!body)
		return -1;
	free(r->body);
	r->body = body;
	r->body_len = strlen(body);
	r->status = status;
	return 0;
}

int resp_error(struct resp *r, int status, const char *fmt, ...)
{
	struct sbuf b;
	char msg[512];
	size_t len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = n < 0 ? 0 : n >= (int)sizeof(msg) ? (int)sizeof(msg) - 1 : n;
	sbuf_init(&b, 64 + 2 * (size_t)n);
	sbuf_adds(&b, "{\"error_message\":");
	sbuf_json_str(&b, msg, (size_t)n);
	sbuf_adds(&b, ",\"data\":null");
	/* the app shows "message"; the documented field stays for everyone else */
	if (r->dialect == REQ_APP) {
		sbuf_adds(&b, ",\"message\":");
		sbuf_json_str(&b, msg, (size_t)n);
	}
	sbuf_adds(&b, "}");
	return resp_take(r, status, sbuf_detach(&b, &len));
}

int resp_data_text(struct resp *r, int status, const char *json, size_t len)
{
	static const char head[] = "{\"error_message\":null,\"data\":";
	size_t hl = sizeof(head) - 1;
	char *b;

	if (!json) {
		json = "null";
		len = 4;
	}
	b = malloc(hl + len + 2);
	if (!b)
		return -1;
	memcpy(b, head, hl);
	memcpy(b + hl, json, len);
	b[hl + len] = '}';
	b[hl + len + 1] = '\0';
	free(r->body);
	r->body = b;
	r->body_len = hl + len + 1;
	r->status = status;
	return 0;
}

int resp_data(struct resp *r, int status, json_object *data)
{
	return resp_take(r, status, json_envelope(NULL, data));
}
