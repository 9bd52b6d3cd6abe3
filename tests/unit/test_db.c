/*
 * Unit tests for shared/db.c without a server: the one classification of
 * SQLSTATEs, what a call on a database that is down reports, and the
 * transaction contract where it needs no server (who ends what, no
 * silent reconnect inside a transaction). The "database" is a closed port.
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

#define DOWN "host=127.0.0.1 port=1 dbname=none user=none"

static void test_down(void **state)
{
	struct db d;
	char err[256];

	(void)state;
	/* Nothing listens on port 1: every connection attempt fails at once. */
	db_init(&d, DOWN, 1000, NULL, 0);
	assert_null(db_exec_sql(&d, "SELECT 1", err, sizeof(err)));
	assert_int_equal(d.fail, DB_DOWN);
	assert_non_null(strstr(err, "database connection failed"));
	db_release(&d);
}

static void test_tx_database_down(void **state)
{
	struct db d;
	char err[256];

	(void)state;
	db_init(&d, DOWN, 1000, NULL, 0);
	assert_int_equal(db_begin(&d, err, sizeof(err)), -1);
	assert_int_equal(d.fail, DB_DOWN);
	assert_int_equal(d.in_tx, 0);	/* nothing open: nothing to end */
	db_rollback(&d);		/* so a cleanup path may call it anyway */
	assert_int_equal(d.fail, DB_DOWN);
	assert_int_equal(d.in_tx, 0);

	assert_int_equal(db_commit(&d, err, sizeof(err)), -1);
	assert_int_equal(d.fail, DB_ERROR);
	assert_string_equal(err, "commit: no transaction is open");
	db_release(&d);
}

/* A connection lost inside a transaction: its statements fail, none reconnects. */
static void test_tx_connection_lost(void **state)
{
	struct db d;
	char err[256];

	(void)state;
	db_init(&d, DOWN, 1000, NULL, 0);
	d.in_tx = 1;	/* as after a db_begin() whose connection then died */
	assert_null(db_exec(&d, "stmt", 0, NULL, err, sizeof(err)));
	assert_int_equal(d.fail, DB_DOWN);
	assert_string_equal(err, "database connection lost inside a transaction");
	assert_int_equal(d.in_tx, 1);	/* still the caller's to end */

	assert_int_equal(db_begin(&d, err, sizeof(err)), -1);	/* no nesting */
	assert_int_equal(d.fail, DB_ERROR);
	assert_int_equal(d.in_tx, 1);

	d.fail = DB_DOWN;
	db_rollback(&d);
	assert_int_equal(d.in_tx, 0);
	assert_int_equal(d.fail, DB_DOWN);	/* kept for the caller's report */
	db_rollback(&d);			/* twice is harmless */
	assert_int_equal(d.in_tx, 0);

	d.in_tx = 1;
	assert_int_equal(db_commit(&d, err, sizeof(err)), -1);
	assert_int_equal(d.fail, DB_DOWN);
	assert_string_equal(err, "database connection lost inside a transaction");
	assert_int_equal(d.in_tx, 0);	/* over either way */

	/* Outside a transaction the next call tries to connect again. */
	assert_null(db_exec_sql(&d, "SELECT 1", err, sizeof(err)));
	assert_non_null(strstr(err, "database connection failed"));
	db_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_down),
		cmocka_unit_test(test_tx_database_down),
		cmocka_unit_test(test_tx_connection_lost),
	};

	log_init("test", LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
