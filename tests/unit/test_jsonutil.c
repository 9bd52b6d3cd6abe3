/* jsonutil: the REST envelope, strict parsing, typed getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonutil.h"

static void test_envelope(void **state)
{
	char *s;

	(void)state;
	s = json_envelope(NULL, json_object_new_int64(42));
	assert_string_equal(s, "{\"error_message\":null,\"data\":42}");
	free(s);
	s = json_envelope("field 'users' must be an array of user ids", NULL);
	assert_string_equal(s, "{\"error_message\":\"field 'users' must be an array of user ids\",\"data\":null}");
	free(s);
	/* Slashes stay as they are (timestamps, paths), quotes are escaped. */
	s = json_envelope("a/b \"c\"", json_object_new_array());
	assert_string_equal(s, "{\"error_message\":\"a/b \\\"c\\\"\",\"data\":[]}");
	free(s);
}

struct parse_case { const char *in, *err; };

static void test_parse(void **state)
{
	static const struct parse_case cases[] = {
		{ "{\"a\":1}", NULL },
		{ "  {\"a\":1}\n ", NULL },
		{ "", "body is empty" },
		{ "{\"a\":", "body is not valid JSON" },
		{ "[1,2]", "body must be a JSON object" },
		{ "\"x\"", "body must be a JSON object" },
		{ "{\"a\":1} {\"b\":2}", "body is not valid JSON" },
		{ "{'a':1}", "body is not valid JSON" },
		{ "{\"a\":1,}", "body is not valid JSON" },
		{ "{\"a\":\"it's \\\" fine\"}", NULL },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *o;

		err[0] = '\0';
		o = json_parse_object(cases[i].in, strlen(cases[i].in), "body", err, sizeof(err));
		if (cases[i].err) {
			assert_null(o);
			assert_string_equal(err, cases[i].err);
		} else {
			assert_non_null(o);
			json_object_put(o);
		}
	}
}

/* Integers outside int64_t are refused, never clamped (json-c clamps). */
/* trailing_ws 0 (JWT parts) refuses even white space after the object. */
static void test_parse_no_trailing_ws(void **state)
{
	static const char *const docs[] = { "{\"a\":1} ", "{\"a\":1}\n", "{}\t\r\n" };
	json_object *o;
	char err[64];

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		o = json_parse_object_ex(docs[i], strlen(docs[i]), 0, "header", err, sizeof(err));
		assert_null(o);
		assert_string_equal(err, "header is not valid JSON");
		o = json_parse_object_ex(docs[i], strlen(docs[i]), 1, "body", err, sizeof(err));
		assert_non_null(o);
		json_object_put(o);
	}
	o = json_parse_object_ex("{\"a\":1}", 7, 0, "header", err, sizeof(err));
	assert_non_null(o);
	json_object_put(o);
}

/* json-c's strict mode takes NaN and Infinity; JSON has neither. */
static void test_parse_no_nonfinite(void **state)
{
	static const char *const docs[] = {
		"{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":-Infinity}", "{\"a\":[1,NaN]}",
	};
	json_object *o;
	char err[64];

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		o = json_parse_object(docs[i], strlen(docs[i]), "body", err, sizeof(err));
		assert_null(o);
		assert_string_equal(err, "body is not valid JSON");
	}
	/* the same letters inside strings, and a number that overflows a double, are JSON */
	o = json_parse_object("{\"NaN\":\"Infinity\",\"b\":1e400}", 28, "body", err, sizeof(err));
	assert_non_null(o);
	json_object_put(o);
}

static void test_integer_range(void **state)
{
	static const char *const ok[] = {
		"{\"a\":9223372036854775807}", "{\"a\":-9223372036854775808}",
		"{\"a\":0,\"b\":-1}", "{\"a\":1e30}", "{\"a\":-1.5E+300}",
		"{\"a\":\"99999999999999999999\"}", "{\"a\":[1,2,3]}",
		"{\"s\":\"\\\"\",\"a\":12}",
	};
	static const char *const bad[] = {
		"{\"a\":9223372036854775808}", "{\"a\":-9223372036854775809}",
		"{\"a\":18446744073709551616}", "{\"a\":[1,99999999999999999999999]}",
		"{\"x\":\"9\",\"a\":10000000000000000000}",
	};
	char err[128];
	json_object *o;
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		o = json_parse_object(ok[i], strlen(ok[i]), "body", err, sizeof(err));
		assert_non_null(o);
		json_object_put(o);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_parse_object(bad[i], strlen(bad[i]), "body", err, sizeof(err));
		assert_null(o);
		assert_string_equal(err, "body has an integer outside the 64-bit range");
	}
	o = json_parse_object(ok[0], strlen(ok[0]), "body", err, sizeof(err));
	assert_int_equal(json_get_int64(o, "a", &v, err, sizeof(err)), 1);
	assert_true(v == INT64_MAX);
	json_object_put(o);
}

static void test_getters(void **state)
{
	const char *in = "{\"room_id\":12,\"bad\":\"12\",\"f\":1.5,\"s\":\"hi\",\"n\":null}";
	json_object *o;
	int64_t v = -1;
	const char *s = NULL;
	char err[128];

	(void)state;
	o = json_parse_object(in, strlen(in), "body", err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_get_int64(o, "room_id", &v, err, sizeof(err)), 1);
	assert_int_equal(v, 12);
	assert_int_equal(json_get_int64(o, "missing", &v, err, sizeof(err)), 0);
	assert_int_equal(json_get_int64(o, "n", &v, err, sizeof(err)), 0);
	assert_int_equal(json_get_int64(o, "bad", &v, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'bad' must be an integer");
	assert_int_equal(json_get_int64(o, "f", &v, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'f' must be an integer");
	assert_int_equal(json_get_string(o, "s", &s, err, sizeof(err)), 1);
	assert_string_equal(s, "hi");
	assert_int_equal(json_get_string(o, "room_id", &s, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'room_id' must be a string");
	json_object_put(o);
}

static void test_uuid_array(void **state)
{
	const char *in = "{\"users\":[\"A3BB189E-8BF9-3888-9912-ACE4E6543002\","
			 "\"a3bb189e-8bf9-3888-9912-ace4e6543002\","
			 "\"00000000-0000-0000-0000-000000000001\"],"
			 "\"bad\":[\"00000000-0000-0000-0000-000000000001\",\"nope\"],"
			 "\"notarr\":\"x\",\"nums\":[1]}";
	char (*ids)[UUID_STR_SIZE] = NULL;
	size_t n = 0;
	json_object *o;
	char err[128];

	(void)state;
	o = json_parse_object(in, strlen(in), "body", err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_get_uuid_array(o, "users", &ids, &n, 100, err, sizeof(err)), 1);
	assert_int_equal(n, 2);	/* duplicates, in any case, count once */
	assert_string_equal(ids[0], "a3bb189e-8bf9-3888-9912-ace4e6543002");
	assert_string_equal(ids[1], "00000000-0000-0000-0000-000000000001");
	free(ids);
	assert_int_equal(json_get_uuid_array(o, "bad", &ids, &n, 100, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'bad'[1] is not a valid UUID");
	assert_int_equal(json_get_uuid_array(o, "nums", &ids, &n, 100, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'nums'[0] is not a valid UUID");
	assert_int_equal(json_get_uuid_array(o, "notarr", &ids, &n, 100, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'notarr' must be an array of user ids");
	assert_int_equal(json_get_uuid_array(o, "users", &ids, &n, 2, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'users' has more than 2 entries");
	assert_int_equal(json_get_uuid_array(o, "absent", &ids, &n, 2, err, sizeof(err)), 0);
	json_object_put(o);
}

/*
 * 30,000 ids, every third one a repeat of an earlier one (in upper case
 * every other time): each id once, at its first occurrence, in input
 * order. A room event of a big room lists this many (issue 10).
 */
static void test_uuid_array_large(void **state)
{
	enum { N = 30000 };
	size_t cap = (size_t)N * 40 + 64, len = 0, n = 0, expect = 0;
	char *buf = malloc(cap), err[128];
	char (*want)[UUID_STR_SIZE] = calloc(N, UUID_STR_SIZE);
	char (*ids)[UUID_STR_SIZE] = NULL;
	json_object *o;

	(void)state;
	assert_non_null(buf);
	assert_non_null(want);
	len += (size_t)snprintf(buf + len, cap - len, "{\"users\":[");
	for (size_t i = 0; i < N; i++) {
		char id[UUID_STR_SIZE];

		if (i % 3 == 2) {
			/* a repeat of an earlier, fresh id (7919 is prime) */
			size_t k = (i * 7919) % (i - 1);

			while (k % 3 == 2)
				k--;
			snprintf(id, sizeof(id), "%08zx-0000-4000-8000-%012zx", k * 2654435761u % 0xffffffffu, k);
			if (i % 2)
				for (char *p = id; *p; p++)
					*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
		} else {
			snprintf(id, sizeof(id), "%08zx-0000-4000-8000-%012zx", i * 2654435761u % 0xffffffffu, i);
			memcpy(want[expect++], id, UUID_STR_SIZE);
		}
		len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\"", i ? "," : "", id);
	}
	len += (size_t)snprintf(buf + len, cap - len, "]}");
	o = json_parse_object(buf, len, "body", err, sizeof(err));
	assert_non_null(o);
	assert_int_equal(json_get_uuid_array(o, "users", &ids, &n, N, err, sizeof(err)), 1);
	assert_int_equal(n, expect);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ids[i], want[i]);
	free(ids);
	json_object_put(o);
	free(want);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_no_trailing_ws),
		cmocka_unit_test(test_parse_no_nonfinite),
		cmocka_unit_test(test_integer_range),
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_uuid_array),
		cmocka_unit_test(test_uuid_array_large),
	};

	return cmocka_run_group_tests_name("jsonutil", tests, NULL, NULL);
}
