/*
 * Unit tests for rest-fcgi/rest.c: the one mapping of a database failure
 * class (db.h) to the response every handler gives. No services needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "db.h"
#include "log.h"
#include "req.h"
#include "rest.h"

/* Each class of db.h answered once, the same way by every handler. */
static void test_db_error(void **state)
{
	static const struct {
		enum db_fail fail;
		int status;
		const char *msg;
	} cases[] = {
		{ DB_DOWN, 503, "database unavailable, try again shortly" },
		{ DB_TIMEOUT, 503, "database unavailable, try again shortly" },
		{ DB_BUSY, 503, "database busy, try again" },
		{ DB_ERROR, 500, "internal server error" },
	};
	struct rest_ctx ctx;
	struct resp r;
	struct db d;

	(void)state;
	db_init(&d, "host=127.0.0.1 port=1 dbname=none user=none", 1000, NULL, 0);
	ctx = (struct rest_ctx){ .db = &d };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp_init(&r);
		d.fail = cases[i].fail;
		assert_int_equal(rest_db_error(&ctx, &r, "test", "sql error text"), 0);
		assert_int_equal(r.status, cases[i].status);
		assert_non_null(strstr(r.body, cases[i].msg));
		assert_null(strstr(r.body, "sql error text"));	/* never shown to clients */
		resp_release(&r);
	}
	/* in the app dialect (req.h) too, with its "message" */
	resp_init(&r);
	r.dialect = REQ_APP;
	d.fail = DB_BUSY;
	assert_int_equal(rest_db_error(&ctx, &r, "test", "sql error text"), 0);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "\"message\":\"database busy, try again\""));
	resp_release(&r);
	db_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_error),
	};

	log_init("test", LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
