/*
 * Unit tests for shared/db.c without a server: the one classification of
 * SQLSTATEs, and what a call on a database that is down reports.
 * The "database" is a closed port.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "db.h"
#include "log.h"

static void test_classify(void **state)
{
	static const struct {
		const char *sqlstate;
		enum db_fail want;
	} cases[] = {
		{ "08006", DB_DOWN },		/* connection_failure */
		{ "08000", DB_DOWN },
		{ "57P01", DB_DOWN },		/* admin_shutdown */
		{ "57P02", DB_DOWN },		/* crash_shutdown */
		{ "57P03", DB_DOWN },		/* cannot_connect_now */
		{ "57014", DB_TIMEOUT },	/* query_canceled: statement_timeout */
		{ "40001", DB_BUSY },		/* serialization_failure */
		{ "40P01", DB_BUSY },		/* deadlock_detected */
		{ "23505", DB_ERROR },		/* unique_violation */
		{ "22P02", DB_ERROR },		/* invalid_text_representation */
		{ "42P01", DB_ERROR },		/* undefined_table */
		{ "57000", DB_ERROR },		/* operator_intervention, not a shutdown */
		{ "", DB_ERROR },
		{ NULL, DB_ERROR },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (db_classify(cases[i].sqlstate) != cases[i].want)
			fail_msg("sqlstate '%s': got %d, want %d",
				 cases[i].sqlstate ? cases[i].sqlstate : "(null)",
				 db_classify(cases[i].sqlstate), cases[i].want);
	}
}

static void test_down(void **state)
{
	struct db d;
	char err[256];

	(void)state;
	/* Nothing listens on port 1: every connection attempt fails at once. */
	db_init(&d, "host=127.0.0.1 port=1 dbname=none user=none", 1000, NULL, 0);
	assert_null(db_exec_sql(&d, "SELECT 1", err, sizeof(err)));
	assert_int_equal(d.fail, DB_DOWN);
	assert_non_null(strstr(err, "database connection failed"));
	db_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_down),
	};

	log_init("test", LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
