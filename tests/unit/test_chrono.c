/* chrono: the clocks and the one conversion to the API's timestamp form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "chrono.h"

static void test_clocks(void **state)
{
	int64_t w = chrono_wall_ms(), m1 = chrono_mono_us(), m2;

	(void)state;
	assert_true(w > 1700000000000LL);	/* after 2023: milliseconds, not seconds */
	m2 = chrono_mono_us();
	assert_true(m2 >= m1);
}

/* Seconds from outside (a token's exp) never overflow into milliseconds. */
static void test_s_to_ms(void **state)
{
	(void)state;
	assert_true(chrono_s_to_ms(1700000000, 10) == 1700000010000LL);
	assert_true(chrono_s_to_ms(-5, 0) == -5000);
	assert_true(chrono_s_to_ms(INT64_MAX, 10) == INT64_MAX);
	assert_true(chrono_s_to_ms(INT64_MAX / 1000 + 1, 0) == INT64_MAX);
	assert_true(chrono_s_to_ms(INT64_MAX / 1000, 0) == INT64_MAX / 1000 * 1000);
	assert_true(chrono_s_to_ms(INT64_MIN, -1) == INT64_MIN);
	assert_true(chrono_s_to_ms(INT64_MIN / 1000 - 1, 0) == INT64_MIN);
}

/* pg converted must give want; want NULL: refused. */
static void iso(const char *pg, const char *want)
{
	char out[CHRONO_ISO_SIZE];

	if (!want) {
		assert_int_equal(chrono_iso_from_pg(pg, out), -1);
		return;
	}
	assert_int_equal(chrono_iso_from_pg(pg, out), 0);
	assert_string_equal(out, want);
	assert_int_equal(strlen(out), CHRONO_ISO_LEN);
}

static void test_iso_from_pg(void **state)
{
	(void)state;
	iso("2026-11-25 17:55:15.123456+00", "2026-11-25T17:55:15.123456+00:00");
	iso("2026-01-02 03:04:05+00", "2026-01-02T03:04:05.000000+00:00");
	iso("2026-01-02 03:04:05.5+00", "2026-01-02T03:04:05.500000+00:00");
	/* other shapes are refused */
	iso("2026-01-02T03:04:05+00", NULL);
	iso("2026-01-02 03:04:05+01", NULL);
	iso("2026-01-02 03:04:05.1234567+00", NULL);
	iso("2026-01-02 03:04:05.+00x", NULL);
	iso("02/01/2026 03:04:05 UTC", NULL);
	iso("2026-01-02 03:04", NULL);
	iso("", NULL);
}

/* A minted token's expiry in the API's form, and years that do not fit it. */
static void test_iso_from_s(void **state)
{
	char out[CHRONO_ISO_SIZE];

	(void)state;
	assert_int_equal(chrono_iso_from_s(0, out), 0);
	assert_string_equal(out, "1970-01-01T00:00:00.000000+00:00");
	assert_int_equal(chrono_iso_from_s(1795542915, out), 0);
	assert_string_equal(out, "2026-11-24T17:55:15.000000+00:00");
	assert_int_equal(chrono_iso_from_s(253402300800LL, out), -1);	/* year 10000 */
	assert_int_equal(chrono_iso_from_s(INT64_MAX, out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_iso_from_pg),
		cmocka_unit_test(test_s_to_ms),
		cmocka_unit_test(test_iso_from_s),
	};

	return cmocka_run_group_tests_name("chrono", tests, NULL, NULL);
}
