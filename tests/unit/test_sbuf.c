/* sbuf: the growable text buffer and the JSON string escaper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_json_str),
	};

	return cmocka_run_group_tests_name("sbuf", tests, NULL, NULL);
}
