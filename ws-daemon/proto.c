#include "proto.h"
#include "jsonutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void frame_put(struct frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}

long proto_utf8_chars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;
	long n = 0;

	while (p < e) {
		unsigned c = *p;
		uint32_t cp;
		int more;

		if (c == 0)
			return -1;
		if (c < 0x80) {
			p++;
			n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			more = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		if (e - p <= more)
			return -1;
		for (int i = 1; i <= more; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* overlong, surrogate, beyond Unicode */
		if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return -1;
		p += more + 1;
		n++;
	}
	return n;
}

/* Unicode white space that "trim" removes (besides ASCII): NBSP, the
 * U+2000 block, line/paragraph separators, ideographic space, BOM. */
static size_t proto_uspace(const unsigned char *p, size_t left)
{
	if (left >= 2 && p[0] == 0xc2 && p[1] == 0xa0)
		return 2;
	if (left < 3)
		return 0;
	if (p[0] == 0xe2 && p[1] == 0x80 &&
	    (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
		return 3;
	if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
		return 3;
	if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		return 3;
	return 0;
}

int proto_is_blank(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < len) {
		if (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')) {
			i++;
			continue;
		}
		k = proto_uspace(p + i, len - i);
		if (!k)
			return 0;
		i += k;
	}
	return 1;
}

static int proto_get_str(json_object *o, const char *key, const char **s,
			 size_t *len, char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v) {
		snprintf(err, errlen, "field '%s' is missing", key);
		return -1;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "field '%s' must be a string", key);
		return -1;
	}
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return 0;
}

int proto_parse_send(const char *buf, size_t len, struct proto_send *out,
		     char *err, size_t errlen)
{
	json_object *root, *data;
	const char *type;
	size_t tlen;
	long chars;
	int got;

	memset(out, 0, sizeof(*out));
	root = json_parse_object(buf, len, "frame", err, errlen);
	if (!root)
		return -1;
	out->root = root;
	if (proto_get_str(root, "type", &type, &tlen, err, errlen))
		goto fail;
	if (strcmp(type, "SendMessage") || tlen != strlen("SendMessage")) {
		snprintf(err, errlen, "unknown type '%.40s'", type);
		goto fail;
	}
	if (!json_object_object_get_ex(root, "data", &data) || !data ||
	    !json_object_is_type(data, json_type_object)) {
		snprintf(err, errlen, "field 'data' must be an object");
		goto fail;
	}
	got = json_get_int64(data, "room_id", &out->room_id, err, errlen);
	if (got == 0)
		snprintf(err, errlen, "field 'room_id' is missing");
	if (got != 1)
		goto fail;
	if (proto_get_str(data, "message", &out->message, &out->message_len, err, errlen) ||
	    proto_get_str(data, "message_temp_id", &out->temp_id, &out->temp_len, err, errlen))
		goto fail;
	chars = proto_utf8_chars(out->message, out->message_len);
	if (chars < 0) {
		snprintf(err, errlen, "field 'message' is not valid UTF-8 text");
		goto fail;
	}
	out->message_chars = (size_t)chars;
	if (out->temp_len > PROTO_TEMP_ID_MAX ||
	    proto_utf8_chars(out->temp_id, out->temp_len) < 0) {
		snprintf(err, errlen, "field 'message_temp_id' must be UTF-8 text of at most %d bytes",
			 PROTO_TEMP_ID_MAX);
		goto fail;
	}
	out->blank = proto_is_blank(out->message, out->message_len);
	return 0;
fail:
	proto_send_release(out);
	return -1;
}

void proto_send_release(struct proto_send *s)
{
	json_object_put(s->root);
	s->root = NULL;
}

/* A frame under construction; the text is escaped into place. */
struct pb {
	struct frame *f;
	size_t cap;	/* text bytes available */
	size_t len;
	int oom;
};

static void pb_init(struct pb *b, size_t want)
{
	b->f = malloc(sizeof(struct frame) + LWS_PRE + want + 1);
	b->cap = want;
	b->len = 0;
	b->oom = !b->f;
}

static void pb_grow(struct pb *b, size_t more)
{
	struct frame *n;
	size_t cap;

	if (b->oom || b->len + more <= b->cap)
		return;
	cap = (b->len + more) * 2;
	n = realloc(b->f, sizeof(struct frame) + LWS_PRE + cap + 1);
	if (!n) {
		b->oom = 1;
		return;
	}
	b->f = n;
	b->cap = cap;
}

static void pb_raw(struct pb *b, const char *s, size_t n)
{
	pb_grow(b, n);
	if (b->oom)
		return;
	memcpy(frame_text(b->f) + b->len, s, n);
	b->len += n;
}

static void pb_str(struct pb *b, const char *s)
{
	pb_raw(b, s, strlen(s));
}

static void pb_int(struct pb *b, int64_t v)
{
	char tmp[24];

	pb_raw(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%" PRId64, v));
}

/* A JSON string literal with quotes; UTF-8 passes through unchanged. */
static void pb_json(struct pb *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t need = 2;
	char *o;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		need += c == '"' || c == '\\' ? 2 : c < 0x20 ? 6 : 1;
	}
	pb_grow(b, need);
	if (b->oom)
		return;
	o = frame_text(b->f) + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20) {
			*o++ = '\\';
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	b->len += need;
}

static struct frame *pb_done(struct pb *b)
{
	if (b->oom) {
		free(b->f);
		return NULL;
	}
	b->f->refs = 1;
	b->f->len = (uint32_t)b->len;
	frame_text(b->f)[b->len] = '\0';
	return b->f;
}

struct frame *proto_confirmation(int confirmed, const char *reason,
				 const char *temp_id, size_t temp_len,
				 int64_t id, const char *created_at)
{
	struct pb b;

	pb_init(&b, 160 + temp_len);
	pb_str(&b, "{\"type\":\"MessageSentConfirmation\",\"data\":{\"confirmed\":");
	pb_str(&b, confirmed ? "true" : "false");
	pb_str(&b, ",\"reason\":");
	pb_json(&b, reason, strlen(reason));
	pb_str(&b, ",\"message_id\":");
	pb_json(&b, temp_id, temp_len);
	pb_str(&b, ",\"id\":");
	if (id > 0)
		pb_int(&b, id);
	else
		pb_str(&b, "null");
	pb_str(&b, ",\"created_at\":");
	if (created_at)
		pb_json(&b, created_at, strlen(created_at));
	else
		pb_str(&b, "null");
	pb_str(&b, "}}");
	return pb_done(&b);
}

struct frame *proto_received(int64_t room_id, const char *sender_id,
			     const char *message, size_t message_len,
			     int64_t id, const char *created_at)
{
	struct pb b;

	pb_init(&b, 200 + message_len + message_len / 8);
	pb_str(&b, "{\"type\":\"MessageReceived\",\"data\":{\"room_id\":");
	pb_int(&b, room_id);
	pb_str(&b, ",\"sender_id\":");
	pb_json(&b, sender_id, strlen(sender_id));
	pb_str(&b, ",\"message\":");
	pb_json(&b, message, message_len);
	pb_str(&b, ",\"id\":");
	pb_int(&b, id);
	pb_str(&b, ",\"created_at\":");
	pb_json(&b, created_at, strlen(created_at));
	pb_str(&b, "}}");
	return pb_done(&b);
}

struct frame *proto_disconnection(int code, const char *reason)
{
	struct pb b;

	pb_init(&b, 80 + strlen(reason));
	pb_str(&b, "{\"type\":\"Disconnection\",\"data\":{\"code\":");
	pb_int(&b, code);
	pb_str(&b, ",\"reason\":");
	pb_json(&b, reason, strlen(reason));
	pb_str(&b, "}}");
	return pb_done(&b);
}
