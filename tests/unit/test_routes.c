/*
 * Unit tests for rest-fcgi/routes.c: the kinds its routes declare, and
 * the service's own table with its real handlers against a database that
 * is down (503 envelopes, the 400s that come before any SQL, the route
 * that needs no database).
 * No services needed: the "database" is a closed port.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "req.h"
#include "routes.h"
#include "sql.h"
#include "tokcache.h"

#include "rest_fixture.h"


static struct {
	struct fx_tokens t;
	struct cfg cfg;
	struct db db;
	struct rest_ctx ctx;
} fx;

static int setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(fx_tokens_init(&fx.t), 0);
	fx.cfg.max_body = 1024;
	fx.cfg.history_cap = 100;
	fx.cfg.list_max = 1000;
	fx.cfg.room_max_members = 1000;
	fx.cfg.rooms_per_min = 30;	/* limited: POST /rooms needs a transaction */
	fx.cfg.adds_per_min = 300;
	fx.cfg.limit_window = 60;
	/* Nothing listens on port 1: every connection attempt fails at once. */
	db_init(&fx.db, "host=127.0.0.1 port=1 dbname=none user=none", 1000, sql_stmts, sql_nstmts);
	fx.ctx = (struct rest_ctx){ .cfg = &fx.cfg, .auth = &fx.t.auth, .db = &fx.db, .pub = NULL };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tokcache_clear();
	db_release(&fx.db);
	fx_tokens_release(&fx.t);
	return 0;
}

/* The service's own table, with the database down. */
static void real(enum req_method m, const char *path, const char *query, const char *auth,
		 const char *body, struct resp *r)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	q.method = m;
	q.path = path;
	q.query = query;
	q.authorization = auth;
	q.body = body;
	q.body_len = body ? strlen(body) : 0;
	resp_init(r);
	routes_handle(&fx.ctx, &q, r);
	assert_non_null(r->body);
}

static void test_service_table_database_down(void **state)
{
	static const char down[] =
		"{\"error_message\":\"database unavailable, try again shortly\",\"data\":null}";
	struct resp r;

	(void)state;
	real(REQ_GET, "/health", "", NULL, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "{\"error_message\":\"database unavailable\","
			    "\"data\":{\"database\":\"down\"}}");
	resp_release(&r);

	real(REQ_GET, "/rooms", "", fx.t.user_hdr, NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, down);
	resp_release(&r);

	real(REQ_POST, "/rooms", "", fx.t.user_hdr, "{\"users\":[]}", &r);
	assert_int_equal(r.status, 503);
	resp_release(&r);

	real(REQ_PUT, "/rooms", "", fx.t.user_hdr, "{\"room_id\":5}", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, down);
	resp_release(&r);

	real(REQ_DELETE, "/rooms/5", "", fx.t.user_hdr, NULL, &r);
	assert_int_equal(r.status, 503);
	resp_release(&r);

	real(REQ_GET, "/rooms/5", "limit=3", fx.t.user_hdr, NULL, &r);
	assert_int_equal(r.status, 503);
	resp_release(&r);

	/* validation comes before any SQL: 400 even with the database down */
	real(REQ_GET, "/rooms/5", "limit=x", fx.t.user_hdr, NULL, &r);
	assert_int_equal(r.status, 400);
	resp_release(&r);
	real(REQ_GET, "/rooms/abc", "", fx.t.user_hdr, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "room id 'abc' must be a positive integer"));
	resp_release(&r);
	real(REQ_PUT, "/rooms", "", fx.t.user_hdr, "{\"room_id\":true}", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "field 'room_id' must be an integer"));
	resp_release(&r);
	real(REQ_PUT, "/admin/bans/nope", "", fx.t.admin_hdr, NULL, &r);
	assert_int_equal(r.status, 400);
	resp_release(&r);

	/* no database needed: events only (none published without a socket) */
	real(REQ_POST, "/admin/users/" ME "/disconnect", "", fx.t.admin_hdr, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"error_message\":null,\"data\":null}");
	resp_release(&r);
}

/* Every ":id" has a declared kind, and no kind is declared without one. */
static void test_table_ids(void **state)
{
	(void)state;
	assert_true(routes_count > 0);
	for (size_t i = 0; i < routes_count; i++) {
		const struct route *rt = &routes_table[i];
		int has_id = strstr(rt->pattern, ":id") != NULL;

		if (has_id != (rt->id != ROUTE_ID_NONE))
			fail_msg("route %s %s: ':id' and kind %d disagree",
				 req_method_name(rt->method), rt->pattern, rt->id);
		if (!strncmp(rt->pattern, "/admin/", 7) &&
		    (rt->access != ROUTE_ADMIN || rt->id != ROUTE_ID_USER))
			fail_msg("route %s %s: admin routes take a user id",
				 req_method_name(rt->method), rt->pattern);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_ids),
		cmocka_unit_test(test_service_table_database_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
