/*
 * Unit tests for ws-daemon/proto.c: parsing SendMessage frames (every
 * malformed shape is refused with a reason), UTF-8 character counting,
 * blank detection, and the encoders' JSON (checked by parsing it back).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <json-c/json.h>

#include "proto.h"

static const char *ok_frame =
	"{\"type\":\"SendMessage\",\"data\":{\"room_id\":42,\"message\":\"h\\u00e9llo\","
	"\"message_temp_id\":\"tmp-1\"}}";

static void test_parse_valid(void **state)
{
	struct proto_send s;
	char err[128];

	(void)state;
	assert_int_equal(proto_parse_send(ok_frame, strlen(ok_frame), &s, err, sizeof(err)), 0);
	assert_int_equal(s.room_id, 42);
	assert_int_equal(s.message_len, 6);	/* é is two bytes */
	assert_int_equal(s.message_chars, 5);
	assert_memory_equal(s.message, "h\xc3\xa9llo", 6);
	assert_string_equal(s.temp_id, "tmp-1");
	assert_false(s.blank);
	proto_send_release(&s);
}

static void expect_bad(const char *frame, const char *reason_part)
{
	struct proto_send s;
	char err[128] = "";

	assert_int_equal(proto_parse_send(frame, strlen(frame), &s, err, sizeof(err)), -1);
	if (!strstr(err, reason_part))
		fail_msg("'%s': reason '%s' lacks '%s'", frame, err, reason_part);
	assert_null(s.root);
}

static void test_parse_malformed(void **state)
{
	(void)state;
	expect_bad("", "empty");
	expect_bad("hello", "not valid JSON");
	expect_bad("[1]", "object");
	expect_bad("{\"type\":\"SendMessage\"} x", "JSON");
	expect_bad("{\"data\":{}}", "'type'");
	expect_bad("{\"type\":5}", "'type'");
	expect_bad("{\"type\":\"Typing\",\"data\":{}}", "unknown type");
	expect_bad("{\"type\":\"SendMessage\"}", "'data'");
	expect_bad("{\"type\":\"SendMessage\",\"data\":[]}", "'data'");
	expect_bad("{\"type\":\"SendMessage\",\"data\":{\"message\":\"x\",\"message_temp_id\":\"t\"}}",
		   "'room_id' is missing");
	expect_bad("{\"type\":\"SendMessage\",\"data\":{\"room_id\":\"1\",\"message\":\"x\",\"message_temp_id\":\"t\"}}",
		   "'room_id'");
	expect_bad("{\"type\":\"SendMessage\",\"data\":{\"room_id\":1.5,\"message\":\"x\",\"message_temp_id\":\"t\"}}",
		   "'room_id'");
	expect_bad("{\"type\":\"SendMessage\",\"data\":{\"room_id\":1,\"message\":null,\"message_temp_id\":\"t\"}}",
		   "'message'");
	expect_bad("{\"type\":\"SendMessage\",\"data\":{\"room_id\":1,\"message\":\"x\",\"message_temp_id\":7}}",
		   "'message_temp_id'");
	expect_bad("{\"type\":\"SendMessage\",\"data\":{\"room_id\":1,\"message\":\"a\\u0000b\",\"message_temp_id\":\"t\"}}",
		   "UTF-8");
	expect_bad("{\"type\":\"SendMessage\",\"data\":{\"room_id\":1,\"message\":\"\xff\",\"message_temp_id\":\"t\"}}",
		   "UTF-8");
}

static void test_temp_id_limit(void **state)
{
	char frame[1024], temp[PROTO_TEMP_ID_MAX + 2];
	struct proto_send s;
	char err[128];

	(void)state;
	memset(temp, 'x', sizeof(temp) - 1);
	temp[PROTO_TEMP_ID_MAX] = '\0';
	snprintf(frame, sizeof(frame), "{\"type\":\"SendMessage\",\"data\":{\"room_id\":1,"
		 "\"message\":\"m\",\"message_temp_id\":\"%s\"}}", temp);
	assert_int_equal(proto_parse_send(frame, strlen(frame), &s, err, sizeof(err)), 0);
	proto_send_release(&s);
	temp[PROTO_TEMP_ID_MAX] = 'x';
	temp[PROTO_TEMP_ID_MAX + 1] = '\0';
	snprintf(frame, sizeof(frame), "{\"type\":\"SendMessage\",\"data\":{\"room_id\":1,"
		 "\"message\":\"m\",\"message_temp_id\":\"%s\"}}", temp);
	expect_bad(frame, "message_temp_id");
}

static void test_blank(void **state)
{
	(void)state;
	assert_true(proto_is_blank("", 0));
	assert_true(proto_is_blank(" \t\r\n\v\f", 6));
	assert_true(proto_is_blank("\xc2\xa0\xe3\x80\x80\xe2\x80\x83", 8));
	assert_false(proto_is_blank(" a ", 3));
	assert_false(proto_is_blank("\xc3\xa9", 2));
}

static json_object *parse_frame(struct frame *f)
{
	json_object *o;

	assert_non_null(f);
	assert_int_equal(f->refs, 1);
	assert_int_equal(strlen(frame_text(f)), f->len);
	o = json_tokener_parse(frame_text(f));
	assert_non_null(o);
	return o;
}

static const char *field(json_object *o, const char *path1, const char *path2)
{
	json_object *a, *b;

	assert_true(json_object_object_get_ex(o, path1, &a));
	if (!path2)
		return json_object_get_string(a);
	assert_true(json_object_object_get_ex(a, path2, &b));
	return b ? json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN) : "null";
}

static void test_encoders(void **state)
{
	const char *msg = "quote \" backslash \\ newline \n tab \t bell \x07 \xc3\xa9";
	struct frame *f;
	json_object *o, *d, *v;

	(void)state;
	f = proto_received(7, "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab", msg, strlen(msg), 99,
			   "2026-11-25T17:55:15.123456+00:00");
	o = parse_frame(f);
	assert_string_equal(field(o, "type", NULL), "MessageReceived");
	assert_true(json_object_object_get_ex(o, "data", &d));
	assert_true(json_object_object_get_ex(d, "message", &v));
	assert_string_equal(json_object_get_string(v), msg);
	assert_string_equal(field(o, "data", "room_id"), "7");
	assert_string_equal(field(o, "data", "id"), "99");
	json_object_put(o);
	frame_put(f);

	f = proto_confirmation(1, "", "t\"1", 3, 5, "2026-11-25T17:55:15.123456+00:00");
	o = parse_frame(f);
	assert_string_equal(field(o, "type", NULL), "MessageSentConfirmation");
	assert_string_equal(field(o, "data", "confirmed"), "true");
	assert_string_equal(field(o, "data", "message_id"), "\"t\\\"1\"");
	assert_string_equal(field(o, "data", "id"), "5");
	json_object_put(o);
	frame_put(f);

	f = proto_confirmation(0, "server error", "t", 1, 0, NULL);
	o = parse_frame(f);
	assert_string_equal(field(o, "data", "confirmed"), "false");
	assert_string_equal(field(o, "data", "reason"), "\"server error\"");
	assert_string_equal(field(o, "data", "id"), "null");
	assert_string_equal(field(o, "data", "created_at"), "null");
	json_object_put(o);
	frame_put(f);

	f = proto_disconnection(4010, "frame is not valid JSON");
	o = parse_frame(f);
	assert_string_equal(field(o, "type", NULL), "Disconnection");
	assert_string_equal(field(o, "data", "code"), "4010");
	json_object_put(o);
	f->refs++;	/* shared by two queues */
	frame_put(f);
	frame_put(f);
}

/* RFC 6455 section 5.2: FIN + text, then the shortest length form. */
static void test_frame_header(void **state)
{
	static const struct {
		uint64_t len;
		size_t n;
		unsigned char h[PROTO_FRAME_HEADER_MAX];
	} cases[] = {
		{ 0, 2, { 0x81, 0 } },
		{ 125, 2, { 0x81, 125 } },
		{ 126, 4, { 0x81, 126, 0, 126 } },
		{ 65535, 4, { 0x81, 126, 0xff, 0xff } },
		{ 65536, 10, { 0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0 } },
		{ 0x12345678, 10, { 0x81, 127, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78 } },
	};
	unsigned char h[PROTO_FRAME_HEADER_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(proto_frame_header(h, cases[i].len), cases[i].n);
		assert_memory_equal(h, cases[i].h, cases[i].n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_temp_id_limit),
		cmocka_unit_test(test_blank),
		cmocka_unit_test(test_encoders),
		cmocka_unit_test(test_frame_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
