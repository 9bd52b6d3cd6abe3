#include "proto.h"
#include "jsonutil.h"
#include "sbuf.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void frame_put(struct frame *f)
{
	if (f && --f->refs == 0)
		free(f);
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
		snprintf(err, errlen, "unknown type '%.*s'", (int)utf8_cut(type, strlen(type), 40), type);
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
	chars = utf8_chars(out->message, out->message_len);
	if (chars < 0) {
		snprintf(err, errlen, "field 'message' is not valid UTF-8 text");
		goto fail;
	}
	out->message_chars = (size_t)chars;
	if (out->temp_len > PROTO_TEMP_ID_MAX ||
	    utf8_chars(out->temp_id, out->temp_len) < 0) {
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

/*
 * A frame under construction: its text is written straight behind the
 * struct frame and LWS_PRE (sbuf headroom), so lws_write() sends it
 * without a copy.
 */
static void proto_begin(struct sbuf *b, size_t hint)
{
	sbuf_init_head(b, offsetof(struct frame, buf) + LWS_PRE, hint);
}

static struct frame *proto_end(struct sbuf *b)
{
	size_t len;
	struct frame *f = (struct frame *)sbuf_detach(b, &len);

	if (!f)
		return NULL;
	f->refs = 1;
	f->len = (uint32_t)len;
	return f;
}

struct frame *proto_confirmation(int confirmed, const char *reason,
				 const char *temp_id, size_t temp_len,
				 int64_t id, const char *created_at)
{
	struct sbuf b;

	proto_begin(&b, 160 + temp_len);
	sbuf_adds(&b, "{\"type\":\"MessageSentConfirmation\",\"data\":{\"confirmed\":");
	sbuf_adds(&b, confirmed ? "true" : "false");
	sbuf_adds(&b, ",\"reason\":");
	sbuf_json_str(&b, reason, strlen(reason));
	sbuf_adds(&b, ",\"message_id\":");
	sbuf_json_str(&b, temp_id, temp_len);
	sbuf_adds(&b, ",\"id\":");
	if (id > 0)
		sbuf_addf(&b, "%" PRId64, id);
	else
		sbuf_adds(&b, "null");
	sbuf_adds(&b, ",\"created_at\":");
	if (created_at)
		sbuf_json_str(&b, created_at, strlen(created_at));
	else
		sbuf_adds(&b, "null");
	sbuf_adds(&b, "}}");
	return proto_end(&b);
}

struct frame *proto_received(int64_t room_id, const char *sender_id,
			     const char *message, size_t message_len,
			     int64_t id, const char *created_at)
{
	struct sbuf b;

	proto_begin(&b, 200 + message_len + message_len / 8);
	sbuf_adds(&b, "{\"type\":\"MessageReceived\",\"data\":{\"room_id\":");
	sbuf_addf(&b, "%" PRId64, room_id);
	sbuf_adds(&b, ",\"sender_id\":");
	sbuf_json_str(&b, sender_id, strlen(sender_id));
	sbuf_adds(&b, ",\"message\":");
	sbuf_json_str(&b, message, message_len);
	sbuf_adds(&b, ",\"id\":");
	sbuf_addf(&b, "%" PRId64, id);
	sbuf_adds(&b, ",\"created_at\":");
	sbuf_json_str(&b, created_at, strlen(created_at));
	sbuf_adds(&b, "}}");
	return proto_end(&b);
}

struct frame *proto_disconnection(int code, const char *reason)
{
	struct sbuf b;

	proto_begin(&b, 80 + strlen(reason));
	sbuf_adds(&b, "{\"type\":\"Disconnection\",\"data\":{\"code\":");
	sbuf_addf(&b, "%d", code);
	sbuf_adds(&b, ",\"reason\":");
	sbuf_json_str(&b, reason, strlen(reason));
	sbuf_adds(&b, "}}");
	return proto_end(&b);
}

size_t proto_frame_header(unsigned char *hdr, uint64_t len)
{
	hdr[0] = 0x81;	/* FIN, text */
	if (len < 126) {
		hdr[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		hdr[1] = 126;
		hdr[2] = (unsigned char)(len >> 8);
		hdr[3] = (unsigned char)len;
		return 4;
	}
	hdr[1] = 127;
	for (int i = 0; i < 8; i++)
		hdr[2 + i] = (unsigned char)(len >> (56 - 8 * i));
	return 10;
}
