/*
 * Unit tests for rest-fcgi request parsing: req.c (methods, query
 * parameters, bearer header, ids, response envelopes), the body and query
 * parsers and the PUT rules of rooms.c, and sql.c's array literal.
 * No services needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "chrono.h"
#include "pgarr.h"
#include "req.h"
#include "rooms.h"
#include "sbuf.h"
#include "sql.h"

#define ME "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

static struct req query_req(const char *query)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	q.path = "/rooms/1";
	q.query = query;
	return q;
}

static void test_methods(void **state)
{
	(void)state;
	assert_int_equal(req_method_parse("GET"), REQ_GET);
	assert_int_equal(req_method_parse("POST"), REQ_POST);
	assert_int_equal(req_method_parse("PUT"), REQ_PUT);
	assert_int_equal(req_method_parse("DELETE"), REQ_DELETE);
	assert_int_equal(req_method_parse("get"), REQ_OTHER);
	assert_int_equal(req_method_parse("PATCH"), REQ_OTHER);
	assert_int_equal(req_method_parse(NULL), REQ_OTHER);
	assert_string_equal(req_method_name(REQ_DELETE), "DELETE");
	assert_string_equal(req_method_name(REQ_OTHER), "?");
}

static void test_query(void **state)
{
	struct req q = query_req("limitx=9&limit=20&before=%31%32&empty=&flag&sp=a+b");
	char v[8];

	(void)state;
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), 1);
	assert_string_equal(v, "20");
	assert_int_equal(req_query_get(&q, "before", v, sizeof(v)), 1);
	assert_string_equal(v, "12");
	assert_int_equal(req_query_get(&q, "empty", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	assert_int_equal(req_query_get(&q, "flag", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	assert_int_equal(req_query_get(&q, "sp", v, sizeof(v)), 1);
	assert_string_equal(v, "a b");
	assert_int_equal(req_query_get(&q, "lim", v, sizeof(v)), 0);
	assert_int_equal(req_query_get(&q, "missing", v, sizeof(v)), 0);

	q = query_req("limit=%zz");
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), -1);
	q = query_req("limit=%4");
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), -1);
	q = query_req("limit=12345678");	/* does not fit v[8] */
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), -1);
	q = query_req("");
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), 0);
}

static void test_bearer(void **state)
{
	struct req q = query_req("");
	char tok[16], err[128];

	(void)state;
	q.authorization = NULL;
	assert_int_equal(req_bearer(&q, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "missing authorization header"));
	q.authorization = "Basic abc";
	assert_int_equal(req_bearer(&q, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Bearer scheme"));
	q.authorization = "Bearer   ";
	assert_int_equal(req_bearer(&q, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	q.authorization = "Bearer 0123456789abcdef";	/* 16 chars: no room for NUL */
	assert_int_equal(req_bearer(&q, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than 15"));
	q.authorization = "bEaReR  a.b.c  ";
	assert_int_equal(req_bearer(&q, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, "a.b.c");
}

static void test_parse_id(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(req_parse_id("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(req_parse_id("9223372036854775807", &v), 0);
	assert_int_equal(req_parse_id("9223372036854775808", &v), -1);
	assert_int_equal(req_parse_id("0", &v), -1);
	assert_int_equal(req_parse_id("-1", &v), -1);
	assert_int_equal(req_parse_id("+1", &v), -1);
	assert_int_equal(req_parse_id(" 1", &v), -1);
	assert_int_equal(req_parse_id("1x", &v), -1);
	assert_int_equal(req_parse_id("", &v), -1);
	assert_int_equal(req_parse_id(NULL, &v), -1);
}

static void test_responses(void **state)
{
	struct resp r;

	(void)state;
	resp_init(&r);
	assert_int_equal(resp_error(&r, 400, "field '%s' is \"bad\"", "x"), 0);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.body, "{\"error_message\":\"field 'x' is \\\"bad\\\"\",\"data\":null}");
	assert_int_equal(r.body_len, strlen(r.body));
	assert_int_equal(resp_data_text(&r, 201, "12", 2), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "{\"error_message\":null,\"data\":12}");
	assert_int_equal(resp_data_text(&r, 200, NULL, 0), 0);
	assert_string_equal(r.body, "{\"error_message\":null,\"data\":null}");
	assert_int_equal(resp_data(&r, 200, json_object_new_array()), 0);
	assert_string_equal(r.body, "{\"error_message\":null,\"data\":[]}");
	assert_int_equal(resp_set(&r, 200, "{\"a\":1}xyz", 7), 0);
	assert_string_equal(r.body, "{\"a\":1}");
	assert_int_equal(r.body_len, 7);
	resp_release(&r);
	assert_null(r.body);
}

static void test_parse_create(void **state)
{
	struct rooms_create_in in;
	char err[256];
	const char *ok = "{\"users\":[\"" U1 "\",\"" ME "\",\"11111111-2222-4333-8444-555555555555\"],"
			 "\"apartment_id\":7,\"extra\":{}}";

	(void)state;
	assert_int_equal(rooms_parse_create(ok, strlen(ok), ME, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nusers, 2);	/* duplicate dropped, caller already there */
	assert_string_equal(in.users[0], U1);
	assert_string_equal(in.users[1], ME);
	assert_true(in.has_apartment);
	assert_int_equal(in.apartment_id, 7);
	rooms_create_in_release(&in);

	assert_int_equal(rooms_parse_create("{}", 2, ME, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nusers, 1);	/* the caller is added */
	assert_string_equal(in.users[0], ME);
	assert_false(in.has_apartment);
	rooms_create_in_release(&in);

	assert_int_equal(rooms_parse_create("{\"apartment_id\":null,\"users\":null}", 34, ME, &in,
					    err, sizeof(err)), 0);
	assert_false(in.has_apartment);
	rooms_create_in_release(&in);

#define BAD(body, text) do { \
	assert_int_equal(rooms_parse_create(body, strlen(body), ME, &in, err, sizeof(err)), -1); \
	assert_non_null(strstr(err, text)); \
	assert_null(in.users); \
} while (0)
	BAD("", "body is empty");
	BAD("[1]", "body must be a JSON object");
	BAD("{\"users\":", "not valid JSON");
	BAD("{\"users\":\"" U1 "\"}", "field 'users' must be an array");
	BAD("{\"users\":[\"" U1 "\", \"x\"]}", "field 'users'[1] is not a valid UUID");
	BAD("{\"users\":[7]}", "field 'users'[0]");
	BAD("{\"apartment_id\":\"7\"}", "field 'apartment_id' must be an integer");
	BAD("{\"apartment_id\":7.5}", "field 'apartment_id' must be an integer");
#undef BAD
}

static void test_parse_update(void **state)
{
	struct rooms_update_in in;
	char err[256];
	const char *ok = "{\"room_id\":9,\"users_to_add\":[\"" U1 "\"],\"users_to_remove\":[\"" U2 "\"]}";

	(void)state;
	assert_int_equal(rooms_parse_update(ok, strlen(ok), &in, err, sizeof(err)), 0);
	assert_int_equal(in.room_id, 9);
	assert_int_equal(in.nadd, 1);
	assert_int_equal(in.nrm, 1);
	assert_string_equal(in.add[0], U1);
	assert_string_equal(in.rm[0], U2);
	rooms_update_in_release(&in);

	assert_int_equal(rooms_parse_update("{\"room_id\":3}", 13, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nadd + in.nrm, 0);
	rooms_update_in_release(&in);

#define BAD(body, text) do { \
	assert_int_equal(rooms_parse_update(body, strlen(body), &in, err, sizeof(err)), -1); \
	assert_non_null(strstr(err, text)); \
	assert_null(in.add); \
	assert_null(in.rm); \
} while (0)
	BAD("{}", "field 'room_id' is required");
	BAD("{\"room_id\":null}", "field 'room_id' is required");
	BAD("{\"room_id\":\"9\"}", "field 'room_id' must be an integer");
	BAD("{\"room_id\":-2}", "field 'room_id' must be a positive integer");
	BAD("{\"room_id\":1,\"users_to_add\":{}}", "field 'users_to_add' must be an array");
	BAD("{\"room_id\":1,\"users_to_remove\":[\"nope\"]}", "field 'users_to_remove'[0]");
	BAD("{\"room_id\":1,\"users_to_add\":[\"" U1 "\"],\"users_to_remove\":[\""
	    "11111111-2222-4333-8444-555555555555\"]}", "is in both");
#undef BAD
}

static void test_parse_page(void **state)
{
	struct rooms_page pg;
	struct req q;
	char err[128];

	(void)state;
	q = query_req("");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.limit, 1000);
	assert_int_equal(pg.before, 0);
	q = query_req("limit=5&before=77");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.limit, 5);
	assert_int_equal(pg.before, 77);
	q = query_req("limit=5000");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.limit, 1000);	/* clamped to the cap */
	q = query_req("limit=99999999999999999999");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'limit'"));
	q = query_req("limit=0");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), -1);
	q = query_req("before=-3");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'before'"));
}

static void test_update_rules(void **state)
{
	char add[1][UUID_STR_SIZE] = { U1 }, rm_self[1][UUID_STR_SIZE] = { ME };
	char rm_other[1][UUID_STR_SIZE] = { U2 };
	struct rooms_update_in in = { .room_id = 4 };
	char err[128];

	(void)state;
	/* not a participant: 404 whatever is asked */
	assert_int_equal(rooms_update_allowed(ME, ME, 0, &in, err, sizeof(err)), 404);
	assert_string_equal(err, "room 4 not found");
	/* owner adds and removes others */
	in.add = add;
	in.nadd = 1;
	in.rm = rm_other;
	in.nrm = 1;
	assert_int_equal(rooms_update_allowed(ME, ME, 1, &in, err, sizeof(err)), 0);
	/* a participant may not add */
	assert_int_equal(rooms_update_allowed(ME, U2, 1, &in, err, sizeof(err)), 403);
	assert_non_null(strstr(err, "may add"));
	/* ... nor remove others */
	in.nadd = 0;
	assert_int_equal(rooms_update_allowed(ME, U1, 1, &in, err, sizeof(err)), 403);
	assert_non_null(strstr(err, "may remove other"));
	/* ... but may leave */
	in.rm = rm_self;
	assert_int_equal(rooms_update_allowed(ME, U1, 1, &in, err, sizeof(err)), 0);
	/* a room without a known owner: leaving still works */
	assert_int_equal(rooms_update_allowed(ME, "", 1, &in, err, sizeof(err)), 0);
	/* the owner may not leave */
	assert_int_equal(rooms_update_allowed(ME, ME, 1, &in, err, sizeof(err)), 403);
	assert_non_null(strstr(err, "owner cannot leave room 4"));
}

static void test_uuid_array(void **state)
{
	char ids[2][UUID_STR_SIZE] = { U1, U2 };
	char *s;

	(void)state;
	s = pgarr_uuids(ids, 2);
	assert_string_equal(s, "{" U1 "," U2 "}");
	free(s);
	s = pgarr_uuids(ids, 0);
	assert_string_equal(s, "{}");
	free(s);
}

/* What rooms.c writes into a GET /rooms body: strings, timestamps. */
static void test_jsonw(void **state)
{
	static const char *const times[] = {
		"2026-11-25 17:55:15.123456+00", "2026-01-02 03:04:05+00",
		"2026-01-02 03:04:05.5+00",
	};
	/* other shapes are refused */
	static const char *const bad[] = {
		"2026-01-02T03:04:05+00", "2026-01-02 03:04:05+01",
		"2026-01-02 03:04:05.1234567+00", "02/01/2026 03:04:05 UTC", "",
	};
	const char *text = "a\"b\\c\n\r\t\b\f\x01\x1f \xc3\xa9";
	char iso[CHRONO_ISO_SIZE], *out;
	struct sbuf w;
	size_t len;

	(void)state;
	sbuf_init(&w, 4);	/* tiny: forces growth */
	sbuf_adds(&w, "[");
	sbuf_json_str(&w, text, strlen(text));
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		assert_int_equal(chrono_iso_from_pg(times[i], iso), 0);
		sbuf_add(&w, ",", 1);
		sbuf_json_str(&w, iso, CHRONO_ISO_LEN);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(chrono_iso_from_pg(bad[i], iso), -1);
	sbuf_adds(&w, "]");
	out = sbuf_detach(&w, &len);
	assert_non_null(out);
	assert_string_equal(out, "[\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f \xc3\xa9\","
			    "\"2026-11-25T17:55:15.123456+00:00\","
			    "\"2026-01-02T03:04:05.000000+00:00\","
			    "\"2026-01-02T03:04:05.500000+00:00\"]");
	assert_int_equal(len, strlen(out));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_parse_create),
		cmocka_unit_test(test_parse_update),
		cmocka_unit_test(test_parse_page),
		cmocka_unit_test(test_update_rules),
		cmocka_unit_test(test_uuid_array),
		cmocka_unit_test(test_jsonw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
