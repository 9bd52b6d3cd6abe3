/* pgarr: Postgres array literals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pgarr.h"

static void test_text(void **state)
{
	struct pgarr a;

	(void)state;
	pgarr_init(&a, 0);
	pgarr_add_text(&a, "a\"b\\c,{}", 8);
	pgarr_add_text(&a, "", 0);
	assert_string_equal(pgarr_end(&a), "{\"a\\\"b\\\\c,{}\",\"\"}");
	pgarr_release(&a);
}

static void test_bare(void **state)
{
	struct pgarr a;

	(void)state;
	pgarr_init(&a, 1);	/* tiny: forces growth */
	assert_string_equal(pgarr_end(&a), "{}");
	pgarr_release(&a);
	pgarr_init(&a, 1);
	pgarr_add_i64(&a, 12);
	pgarr_add_i64(&a, -9223372036854775807LL - 1);
	pgarr_add_uuid(&a, "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab");
	assert_int_equal(a.n, 3);
	assert_string_equal(pgarr_end(&a),
			    "{12,-9223372036854775808,6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab}");
	pgarr_release(&a);
}

#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_bare),
		cmocka_unit_test(test_uuid_array),
	};

	return cmocka_run_group_tests_name("pgarr", tests, NULL, NULL);
}
