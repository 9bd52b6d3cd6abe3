/*
 * Unit tests for rest-fcgi/quota.c: who is limited (settings at 0, a
 * service_role caller), the 400 for a request too big for any window, the
 * 429 with its Retry-After and message in both dialects, and that nothing
 * reaches the database when nothing is limited. The counting itself is
 * SQL (sql/005): tests/integration/test_rest_limits.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "quota.h"
#include "rest_fixture.h"

static struct cfg fx_cfg(void)
{
	struct cfg c;

	memset(&c, 0, sizeof(c));
	c.rooms_per_min = 30;
	c.adds_per_min = 300;
	c.limit_window = 60;
	c.room_max_members = 1000;
	return c;
}

static void test_who_is_limited(void **state)
{
	struct cfg c = fx_cfg();
	struct auth_claims user = { .sub = ME }, admin = { .sub = ME, .is_admin = 1 };
	struct quota_ask create = { { 1, 4 } }, leave = { { 0, 0 } }, add = { { 0, 2 } };

	(void)state;
	assert_int_equal(quota_max(&c, &user, QUOTA_ROOMS), 30);
	assert_int_equal(quota_max(&c, &user, QUOTA_ADDS), 300);
	/* the service's own credential is not limited */
	assert_int_equal(quota_max(&c, &admin, QUOTA_ROOMS), 0);
	assert_int_equal(quota_max(&c, &admin, QUOTA_ADDS), 0);
	assert_int_equal(quota_needed(&c, &user, &create), 1);
	assert_int_equal(quota_needed(&c, &admin, &create), 0);
	/* a request that creates and adds nothing takes nothing */
	assert_int_equal(quota_needed(&c, &user, &leave), 0);
	/* a setting at 0 is off */
	c.adds_per_min = 0;
	assert_int_equal(quota_needed(&c, &user, &add), 0);
	assert_int_equal(quota_needed(&c, &user, &create), 1);
	c.rooms_per_min = 0;
	assert_int_equal(quota_needed(&c, &user, &create), 0);
}

static void test_too_big_for_a_window(void **state)
{
	struct cfg c = fx_cfg();
	struct auth_claims user = { .sub = ME }, admin = { .sub = ME, .is_admin = 1 };
	struct quota_ask fits = { { 1, 300 } }, big = { { 1, 301 } };
	char err[256] = "";

	(void)state;
	assert_int_equal(quota_check_size(&c, &user, &fits, err, sizeof(err)), 0);
	assert_int_equal(quota_check_size(&c, &user, &big, err, sizeof(err)), 400);
	assert_string_equal(err, "this request adds 301 users to rooms; the limit is 300 per 60 s: "
			    "add them in smaller steps");
	assert_int_equal(quota_check_size(&c, &admin, &big, err, sizeof(err)), 0);
	c.adds_per_min = 0;
	assert_int_equal(quota_check_size(&c, &user, &big, err, sizeof(err)), 0);
}

static void test_refusal_answer(void **state)
{
	struct cfg c = fx_cfg();
	struct quota_refusal rooms = { .kind = QUOTA_ROOMS, .n = 1, .used = 30, .max = 30,
				       .retry_after = 12 };
	struct quota_refusal adds = { .kind = QUOTA_ADDS, .n = 5, .used = 298, .max = 300,
				      .retry_after = 3 };
	struct resp r;

	(void)state;
	resp_init(&r);
	assert_int_equal(quota_refuse(&r, &c, &rooms), 0);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.retry_after, 12);
	assert_string_equal(r.body, "{\"error_message\":\"too many rooms created: the limit is 30 "
			    "per 60 s; retry in 12 s\",\"data\":null}");
	resp_release(&r);

	resp_init(&r);
	r.dialect = REQ_APP;	/* the app reads "message" */
	assert_int_equal(quota_refuse(&r, &c, &adds), 0);
	assert_int_equal(r.status, 429);
	assert_int_equal(r.retry_after, 3);
	assert_non_null(strstr(r.body, "\"message\":\"too many users added to rooms: the limit is "
			       "300 per 60 s (298 added already, this request adds 5); retry in 3 s\""));
	assert_non_null(strstr(r.body, "\"error_message\":\"too many users added"));
	resp_release(&r);
}

/* Nothing limited: quota_take answers 0 without a statement (no database here). */
static void test_take_without_limits_needs_no_database(void **state)
{
	struct cfg c = fx_cfg();
	struct rest_ctx ctx = { .cfg = &c };	/* .db NULL: any use would crash */
	struct auth_claims user = { .sub = ME }, admin = { .sub = ME, .is_admin = 1 };
	struct quota_ask create = { { 1, 3 } }, none = { { 0, 0 } };
	struct quota_refusal ref;
	char err[128];

	(void)state;
	assert_int_equal(quota_take(&ctx, &admin, &create, &ref, err, sizeof(err)), 0);
	assert_int_equal(quota_take(&ctx, &user, &none, &ref, err, sizeof(err)), 0);
	c.rooms_per_min = c.adds_per_min = 0;
	assert_int_equal(quota_take(&ctx, &user, &create, &ref, err, sizeof(err)), 0);
}

/* quota_charge: nothing limited passes untouched; too big for a window is its 400 */
static void test_charge(void **state)
{
	struct cfg c = fx_cfg();
	struct rest_ctx ctx = { .cfg = &c };	/* no database: neither case reaches it */
	struct auth_claims user = { .sub = ME }, admin = { .sub = ME, .is_admin = 1 };
	struct quota_ask big = { { 0, 301 } };
	struct resp r;

	(void)state;
	resp_init(&r);
	assert_int_equal(quota_charge(&ctx, &admin, &big, &r), 0);
	assert_int_equal(r.status, 0);
	assert_null(r.body);
	assert_int_equal(quota_charge(&ctx, &user, &big, &r), 1);
	assert_int_equal(r.status, 400);
	assert_int_equal(r.retry_after, 0);
	assert_non_null(strstr(r.body, "this request adds 301 users"));
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_who_is_limited),
		cmocka_unit_test(test_too_big_for_a_window),
		cmocka_unit_test(test_refusal_answer),
		cmocka_unit_test(test_take_without_limits_needs_no_database),
		cmocka_unit_test(test_charge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
