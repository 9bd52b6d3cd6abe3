/* Unit tests for ws-daemon/store.c: the Postgres array literals it builds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "store.h"

static void test_array_text(void **state)
{
	struct sbuf b = { 0 };

	(void)state;
	sbuf_add(&b, "{", 1);
	sbuf_add_array_text(&b, "a\"b\\c,{}", 8);
	sbuf_add(&b, ",", 1);
	sbuf_add_array_text(&b, "", 0);
	sbuf_add(&b, "}", 1);
	assert_false(b.oom);
	assert_string_equal(b.buf, "{\"a\\\"b\\\\c,{}\",\"\"}");
	free(b.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
