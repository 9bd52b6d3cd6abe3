/*
 * Unit tests for rest-fcgi/req.c: methods, query parameters, the bearer
 * header, ids and the response envelopes. No services needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <json-c/json.h>

#include "req.h"
#include "rest_fixture.h"

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
	struct req q = fx_query_req("limitx=9&limit=20&before=%31%32&empty=&flag&sp=a+b");
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

	q = fx_query_req("limit=%zz");
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), -1);
	q = fx_query_req("limit=%4");
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), -1);
	q = fx_query_req("limit=12345678");	/* does not fit v[8] */
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), -1);
	q = fx_query_req("");
	assert_int_equal(req_query_get(&q, "limit", v, sizeof(v)), 0);
}

static void test_bearer(void **state)
{
	struct req q = fx_query_req("");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_responses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
