/*
 * proto - the websocket frames of SPEC.md section 3: parsing what a
 * client sends, encoding what the server sends.
 *
 * No I/O and no lws state: everything here is unit-tested
 * (tests/unit/test_proto.c). Outgoing frames are built straight into
 * a struct frame with LWS_PRE bytes of headroom, so lws_write() can send
 * them without a copy, and one frame can be queued on many connections
 * (reference counted: MessageReceived to every member of a room).
 */
#ifndef WS_PROTO_H
#define WS_PROTO_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_TEMP_ID_MAX 256	/* longest message_temp_id, bytes */

/* Close codes of SPEC.md section 3. */
enum proto_close {
	CLOSE_NO_TOKEN = 4001,
	CLOSE_BAD_TOKEN = 4002,
	CLOSE_AFK = 4003,
	CLOSE_ADMIN = 4004,
	CLOSE_BANNED = 4005,
	CLOSE_SERVER_ERROR = 4006,
	CLOSE_SHUTDOWN = 4007,
	CLOSE_NEW_DEVICE = 4008,
	CLOSE_ENDED = 4009,
	CLOSE_BAD_FRAME = 4010,
	CLOSE_HATE = 4011,
	CLOSE_UNAUTHORIZED = 4012,
};

/*
 * An encoded text frame. The JSON text is at buf + LWS_PRE, len bytes,
 * NUL-terminated (not counted). refs counts the queues holding it.
 */
struct frame {
	uint32_t refs;
	uint32_t len;
	unsigned char buf[];
};

/* The text of a frame. */
static inline char *frame_text(struct frame *f)
{
	return (char *)f->buf + LWS_PRE;
}

/* Drop one reference; frees the frame with the last. NULL is fine. */
void frame_put(struct frame *f);

/* A parsed SendMessage. Strings borrow from the frame's json (root). */
struct proto_send {
	int64_t room_id;
	const char *message;
	size_t message_len;	/* bytes */
	size_t message_chars;	/* UTF-8 characters */
	const char *temp_id;
	size_t temp_len;
	int blank;		/* empty after trimming white space */
	void *root;		/* json_object *, owned: proto_send_release() */
};

/*
 * Parse one complete text frame. Returns 0 with *out filled (the caller
 * calls proto_send_release), or -1 with a reason for the client in err:
 * not JSON, not an object, unknown "type", a missing or mistyped field,
 * invalid UTF-8 or a NUL character in a string, a temp id longer than
 * PROTO_TEMP_ID_MAX. Every -1 means close 4010.
 */
int proto_parse_send(const char *buf, size_t len, struct proto_send *out,
		     char *err, size_t errlen);

void proto_send_release(struct proto_send *s);

/* 1 when s[0..len) is only white space (ASCII and Unicode spaces). */
int proto_is_blank(const char *s, size_t len);

/*
 * Encoders. Each returns a new frame (refs = 1) or NULL when out of
 * memory. Strings are JSON-escaped; created_at NULL encodes null.
 */
struct frame *proto_confirmation(int confirmed, const char *reason,
				 const char *temp_id, size_t temp_len,
				 int64_t id, const char *created_at);
struct frame *proto_received(int64_t room_id, const char *sender_id,
			     const char *message, size_t message_len,
			     int64_t id, const char *created_at);
struct frame *proto_disconnection(int code, const char *reason);

/* Longest header proto_frame_header() writes. */
#define PROTO_FRAME_HEADER_MAX 10

/*
 * The RFC 6455 header of a server's unfragmented, unmasked text frame
 * with a payload of len bytes, written to hdr (PROTO_FRAME_HEADER_MAX
 * bytes of room). Returns its length: 2, 4 or 10. For writes of several
 * frames at once (conn_write), which lws would otherwise frame one by one.
 */
size_t proto_frame_header(unsigned char *hdr, uint64_t len);

#endif
