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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_iso_from_pg),
	};

	return cmocka_run_group_tests_name("chrono", tests, NULL, NULL);
}
