/*
 * fuzz_proto - the websocket command decoder (ws-daemon/proto.c).
 *
 * Every text frame a client sends goes to proto_parse_send() (chat.c's
 * chat_frame), so the input is one frame, as sent. Checked besides the
 * sanitizers:
 *   - a refused frame has a reason, and it is valid UTF-8 (it becomes
 *     the close reason and the Disconnection text: a client fails the
 *     connection on invalid UTF-8);
 *   - an accepted frame's message and message_temp_id are valid UTF-8
 *     without NUL, the temp id is at most PROTO_TEMP_ID_MAX bytes,
 *     message_chars counts the message's characters and blank agrees
 *     with proto_is_blank();
 *   - what the daemon sends back about it round-trips: the confirmation
 *     (echoing the temp id) and MessageReceived (carrying the message) are
 *     JSON objects that json_parse_object() accepts and that hold the
 *     same strings, byte for byte; so does Disconnection with the reason
 *     of a refused frame.
 */
#include "fuzz.h"
#include "jsonutil.h"
#include "proto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet("fuzz_proto");
	return 0;
}

/* A frame's JSON text parses and data.<key> is exactly s[0..len). */
static void check_frame(struct frame *f, const char *key, const char *s, size_t len)
{
	char err[128];
	json_object *o, *data, *v;

	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(f->refs == 1 && strlen(frame_text(f)) == f->len);
	o = json_parse_object(frame_text(f), f->len, "frame", err, sizeof(err));
	FUZZ_CHECK(o != NULL);
	FUZZ_CHECK(json_object_object_get_ex(o, "data", &data));
	FUZZ_CHECK(json_object_object_get_ex(data, key, &v));
	FUZZ_CHECK(json_object_is_type(v, json_type_string));
	FUZZ_CHECK((size_t)json_object_get_string_len(v) == len);
	FUZZ_CHECK(!memcmp(json_object_get_string(v), s, len));
	json_object_put(o);
	frame_put(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: the parser must not read past it */
	char *buf = malloc(size ? size : 1), err[160];
	struct proto_send s;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	err[0] = '\0';
	if (proto_parse_send(buf, size, &s, err, sizeof(err))) {
		FUZZ_CHECK(err[0] && fuzz_utf8(err));
		FUZZ_CHECK(s.root == NULL);
		check_frame(proto_disconnection(CLOSE_BAD_FRAME, err), "reason", err, strlen(err));
		goto out;
	}
	FUZZ_CHECK(s.root && s.message && s.temp_id);
	FUZZ_CHECK(utf8_chars(s.message, s.message_len) == (long)s.message_chars);
	FUZZ_CHECK(utf8_chars(s.temp_id, s.temp_len) >= 0);
	FUZZ_CHECK(s.temp_len <= PROTO_TEMP_ID_MAX);
	FUZZ_CHECK(s.blank == proto_is_blank(s.message, s.message_len));
	check_frame(proto_confirmation(0, "message is empty", s.temp_id, s.temp_len, s.room_id,
				       "2026-11-25T17:55:15.123456+00:00"),
		    "message_id", s.temp_id, s.temp_len);
	check_frame(proto_received(s.room_id, "00000000-0000-4000-8000-000000000001",
				   s.message, s.message_len, 1,
				   "2026-11-25T17:55:15.123456+00:00"),
		    "message", s.message, s.message_len);
	proto_send_release(&s);
out:
	free(buf);
	return 0;
}
