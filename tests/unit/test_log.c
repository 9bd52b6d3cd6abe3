/* log: the rate limit of a place that may repeat fast. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <cmocka.h>

#include "log.h"

static void test_limit(void **state)
{
	struct log_limit lim = { 0 };
	unsigned long skipped = 99;

	(void)state;
	assert_int_equal(log_limit_pass(&lim, 50, &skipped), 1);	/* the first line */
	assert_int_equal(skipped, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(log_limit_pass(&lim, 50, &skipped), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 60 * 1000000L }, NULL);
	assert_int_equal(log_limit_pass(&lim, 50, &skipped), 1);	/* the period passed */
	assert_int_equal(skipped, 3);
	assert_int_equal(log_limit_pass(&lim, 50, NULL), 0);
	nanosleep(&(struct timespec){ .tv_nsec = 60 * 1000000L }, NULL);
	assert_int_equal(log_limit_pass(&lim, 50, NULL), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
