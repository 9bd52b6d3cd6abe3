/* cron: named jobs, each run on its own period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cron.h"

static int runs[3];

static void job_a(void *arg) { (void)arg; runs[0]++; }
static void job_b(void *arg) { (void)arg; runs[1]++; }
static void job_c(void *arg) { assert_string_equal(arg, "arg"); runs[2]++; }

static void test_periods(void **state)
{
	struct cron cr;

	(void)state;
	memset(runs, 0, sizeof(runs));
	cron_init(&cr, "arg");
	assert_int_equal(cron_add(&cr, "a", 1000, job_a), 0);
	assert_int_equal(cron_add(&cr, "b", 10000, job_b), 0);
	assert_int_equal(cron_add(&cr, "c", 60000, job_c), 0);
	for (size_t i = 0; i < cr.njobs; i++)
		cr.job[i].last_ms = 0;		/* started at 0 */
	assert_int_equal(cron_run(&cr, 400), 600);	/* nothing due: a in 600 ms */
	assert_int_equal(runs[0], 0);
	assert_int_equal(cron_run(&cr, 1000), 1000);
	assert_int_equal(runs[0], 1);
	/* a late tick runs a once, and its period starts again from then */
	assert_int_equal(cron_run(&cr, 2500), 1000);
	assert_int_equal(runs[0], 2);
	for (int64_t t = 3500; t <= 60000; t += 1000)
		cron_run(&cr, t);
	assert_int_equal(runs[1], 5);	/* at 10500, 20500, ... 50500 */
	assert_int_equal(runs[2], 0);	/* 60000 - 0 was not reached by 59500 */
	assert_int_equal(cron_run(&cr, 60000), 500);
	assert_int_equal(runs[1], 5);	/* b is due at 60500 */
	assert_int_equal(runs[2], 1);
	assert_int_equal(cron_run(&cr, 60000), 500);	/* twice at once: not twice */
	assert_int_equal(runs[2], 1);
}

static void test_table_full(void **state)
{
	struct cron cr;

	(void)state;
	cron_init(&cr, NULL);
	for (int i = 0; i < CRON_MAX_JOBS; i++)
		assert_int_equal(cron_add(&cr, "x", 1000, job_a), 0);
	assert_int_equal(cron_add(&cr, "one too many", 1000, job_a), -1);
	cron_init(&cr, NULL);
	assert_int_equal(cron_add(&cr, "no period", 0, job_a), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_periods),
		cmocka_unit_test(test_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
