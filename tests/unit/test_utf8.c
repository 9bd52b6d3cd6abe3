/* utf8: counting characters, and cutting only on their boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "utf8.h"

static void test_chars(void **state)
{
	(void)state;
	assert_int_equal(utf8_chars("", 0), 0);
	assert_int_equal(utf8_chars("abc", 3), 3);
	assert_int_equal(utf8_chars("\xc3\xa9", 2), 1);
	assert_int_equal(utf8_chars("\xe2\x9c\x93", 3), 1);
	assert_int_equal(utf8_chars("\xf0\x9f\x98\x80", 4), 1);	/* emoji */
	assert_int_equal(utf8_chars("\xc3", 1), -1);		/* truncated */
	assert_int_equal(utf8_chars("\xc0\xaf", 2), -1);		/* overlong */
	assert_int_equal(utf8_chars("\xe0\x80\xaf", 3), -1);	/* overlong */
	assert_int_equal(utf8_chars("\xed\xa0\x80", 3), -1);	/* surrogate */
	assert_int_equal(utf8_chars("\xf4\x90\x80\x80", 4), -1);	/* > U+10FFFF */
	assert_int_equal(utf8_chars("a\0b", 3), -1);		/* NUL */
	assert_int_equal(utf8_chars("\x80", 1), -1);
}

static void test_cut(void **state)
{
	/* a 1-, 2-, 3- and 4-byte character, then ASCII */
	static const char s[] = "a\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80z";
	static const size_t want[] = { 0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11, 11 };

	(void)state;
	/* every cut point lands on a boundary at or before it */
	for (size_t max = 0; max < sizeof(want) / sizeof(want[0]); max++)
		assert_int_equal(utf8_cut(s, strlen(s), max), want[max]);
	/* it never includes an invalid byte or a truncated character */
	assert_int_equal(utf8_cut("ab\xff" "cd", 5, 10), 2);
	assert_int_equal(utf8_cut("ab\xc3", 3, 10), 2);
	assert_int_equal(utf8_cut("", 0, 10), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chars),
		cmocka_unit_test(test_cut),
	};

	return cmocka_run_group_tests_name("utf8", tests, NULL, NULL);
}
