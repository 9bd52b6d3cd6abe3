/*
 * Unit tests for rest-fcgi/jsonw.c: the growable JSON writer, its string
 * escaper and the Postgres timestamp conversion.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

static void test_jsonw(void **state)
{
	struct jw w;
	char *out;
	size_t len;

	(void)state;
	jw_init(&w, 4);	/* tiny: forces growth */
	jw_lit(&w, "[");
	jw_str(&w, "a\"b\\c\n\r\t\b\f\x01\x1f \xc3\xa9");
	jw_raw(&w, ",", 1);
	assert_int_equal(jw_pg_time(&w, "2026-11-25 17:55:15.123456+00"), 0);
	jw_raw(&w, ",", 1);
	assert_int_equal(jw_pg_time(&w, "2026-01-02 03:04:05+00"), 0);
	jw_raw(&w, ",", 1);
	assert_int_equal(jw_pg_time(&w, "2026-01-02 03:04:05.5+00"), 0);
	/* other shapes are refused and append nothing */
	assert_int_equal(jw_pg_time(&w, "2026-01-02T03:04:05+00"), -1);
	assert_int_equal(jw_pg_time(&w, "2026-01-02 03:04:05+01"), -1);
	assert_int_equal(jw_pg_time(&w, "2026-01-02 03:04:05.1234567+00"), -1);
	assert_int_equal(jw_pg_time(&w, "02/01/2026 03:04:05 UTC"), -1);
	assert_int_equal(jw_pg_time(&w, ""), -1);
	jw_lit(&w, "]");
	out = jw_finish(&w, &len);
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
		cmocka_unit_test(test_jsonw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
