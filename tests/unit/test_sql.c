/* Unit tests for rest-fcgi/sql.c: the Postgres array literal of user ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "sql.h"

#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

static void test_uuid_array(void **state)
{
	char ids[2][37] = { U1, U2 };
	char *s;

	(void)state;
	s = sql_uuid_array(ids, 2);
	assert_string_equal(s, "{" U1 "," U2 "}");
	free(s);
	s = sql_uuid_array(ids, 0);
	assert_string_equal(s, "{}");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
