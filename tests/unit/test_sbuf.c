/* sbuf: the growable text buffer and the JSON string escaper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chrono.h"
#include "sbuf.h"

static void test_grow(void **state)
{
	struct sbuf b;
	char *out;
	size_t len;

	(void)state;
	sbuf_init(&b, 1);	/* tiny: forces growth */
	assert_string_equal(sbuf_text(&b), "");
	sbuf_add(&b, "abc", 2);
	sbuf_adds(&b, "-");
	for (int i = 0; i < 100; i++)
		sbuf_addf(&b, "%d,", i);
	assert_false(b.failed);
	assert_int_equal(b.len, strlen(sbuf_text(&b)));
	assert_memory_equal(sbuf_text(&b), "ab-0,1,2,", 9);
	assert_string_equal(sbuf_text(&b) + b.len - 3, "99,");
	out = sbuf_detach(&b, &len);
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	assert_null(b.buf);
	free(out);
}

static void test_head(void **state)
{
	struct sbuf b;
	char *out;
	size_t len;

	(void)state;
	sbuf_init_head(&b, 24, 2);
	memset(b.buf, 'h', 24);		/* the caller's header */
	sbuf_addf(&b, "%s=%d", "long enough to move the buffer", 42);
	assert_string_equal(sbuf_text(&b), "long enough to move the buffer=42");
	out = sbuf_detach(&b, &len);
	assert_int_equal(len, 33);
	assert_memory_equal(out, "hhhhhhhhhhhhhhhhhhhhhhhh", 24);
	assert_string_equal(out + 24, "long enough to move the buffer=42");
	free(out);
}

static void test_json_str(void **state)
{
	struct sbuf b;

	(void)state;
	sbuf_init(&b, 0);
	/* only n bytes; short escapes where JSON has them, else \u00XX */
	sbuf_json_str(&b, "q\"s\\n\nc\x01\x7f\xe2\x82\xacXX", 12);
	sbuf_json_str(&b, "", 0);
	assert_string_equal(sbuf_text(&b), "\"q\\\"s\\\\n\\nc\\u0001\x7f\xe2\x82\xac\"\"\"");
	sbuf_release(&b);
}

/* What rooms.c writes into a GET /rooms body: strings, timestamps. */
static void test_rooms_body(void **state)
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

static void test_failed(void **state)
{
	struct sbuf b;
	size_t len = 1;

	(void)state;
	sbuf_init(&b, 0);
	sbuf_adds(&b, "kept");
	b.failed = 1;		/* as after a failed allocation */
	sbuf_adds(&b, "lost");
	sbuf_addf(&b, "%d", 1);
	sbuf_json_str(&b, "x", 1);
	assert_int_equal(b.len, 4);
	assert_null(sbuf_text(&b));
	assert_null(sbuf_detach(&b, &len));
	assert_int_equal(len, 0);
	assert_null(b.buf);
	/* appending to a released buffer grows it from nothing, never loops */
	sbuf_init(&b, 0);
	sbuf_release(&b);
	sbuf_adds(&b, "again");
	assert_string_equal(sbuf_text(&b), "again");
	sbuf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_rooms_body),
		cmocka_unit_test(test_failed),
	};

	return cmocka_run_group_tests_name("sbuf", tests, NULL, NULL);
}
