/* uuid: the one parser and the one formatter of user ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "uuid.h"

#define UID "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
#define UID_UPPER "6F1C2D3E-4B5A-4C6D-8E7F-0123456789AB"

/* 1 when uuid_parse() accepts s. */
static int is_uuid(const char *s)
{
	struct uuid u;

	return uuid_parse(s, &u) == 0;
}

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(is_uuid(UID), 1);
	assert_int_equal(is_uuid(UID_UPPER), 1);
	assert_int_equal(is_uuid("00000000-0000-0000-0000-000000000000"), 1);
	assert_int_equal(is_uuid(NULL), 0);
	assert_int_equal(is_uuid(""), 0);
	assert_int_equal(is_uuid(UID "0"), 0);			/* too long */
	assert_int_equal(is_uuid("6f1c2d3e-4b5a-4c6d-8e7f-0123456789a"), 0);	/* short */
	assert_int_equal(is_uuid("6f1c2d3e-4b5a-4c6d-8e7f-0123456789abc"), 0);	/* long */
	assert_int_equal(is_uuid("6f1c2d3e4b5a-4c6d-8e7f-0123456789abc"), 0);	/* dash */
	assert_int_equal(is_uuid("6f1c2d3e_4b5a-4c6d-8e7f-0123456789ab"), 0);	/* dash */
	assert_int_equal(is_uuid("6f1c2d3e-4b5a-4c6d-8e7f-0123456789ag"), 0);	/* hex */
	assert_int_equal(is_uuid("{6f1c2d3-4b5a-4c6d-8e7f-0123456789ab"), 0);
	assert_int_equal(is_uuid("6f1c2d3e-4b5a-4c6d-8e7f 0123456789ab"), 0);
}

static void test_format(void **state)
{
	struct uuid u, v;
	char s[UUID_STR_SIZE];

	(void)state;
	assert_int_equal(uuid_parse("6F1C2D3E-4b5a-4c6d-8e7f-0123456789ab", &u), 0);
	assert_int_equal(u.b[0], 0x6f);
	assert_int_equal(u.b[UUID_LEN - 1], 0xab);
	uuid_format(&u, s);
	assert_string_equal(s, UID);
	assert_int_equal(strlen(s), UUID_STR_LEN);
	assert_int_equal(uuid_parse(UID_UPPER, &v), 0);
	assert_true(uuid_eq(&u, &v));
	v.b[7] ^= 1;
	assert_false(uuid_eq(&u, &v));
}

static void test_norm(void **state)
{
	char out[UUID_STR_SIZE];

	(void)state;
	assert_int_equal(uuid_norm("A3BB189E-8BF9-3888-9912-ACE4E6543002", out), 0);
	assert_string_equal(out, "a3bb189e-8bf9-3888-9912-ace4e6543002");
	assert_int_equal(uuid_norm("a3bb189e8bf93888-9912-ace4e6543002xx", out), -1);
	assert_int_equal(uuid_norm("g3bb189e-8bf9-3888-9912-ace4e6543002", out), -1);
	assert_int_equal(uuid_norm("a3bb189e-8bf9-3888-9912-ace4e654300", out), -1);
	assert_int_equal(uuid_norm("", out), -1);
	assert_int_equal(uuid_norm(NULL, out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_norm),
	};

	return cmocka_run_group_tests_name("uuid", tests, NULL, NULL);
}
