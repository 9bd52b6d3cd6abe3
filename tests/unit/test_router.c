/*
 * Unit tests for rest-fcgi/router.c: pattern matching and the order of
 * the checks (404, 405 with Allow, 413, 401 with WWW-Authenticate, 403
 * for admin routes, 400 for an :id not of its route's kind) on a table of
 * stub handlers. The service's own table
 * is test_routes.c's. No services needed.
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
#include "log.h"
#include "req.h"
#include "router.h"
#include "tokcache.h"

#include "rest_fixture.h"


static struct {
	struct fx_tokens t;
	struct cfg cfg;
	struct rest_ctx ctx;
	int calls;
	char seen_param[64];
	long long seen_int;
	char seen_uuid[UUID_STR_SIZE];
} fx;

static int setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(fx_tokens_init(&fx.t), 0);
	fx.cfg.max_body = 1024;
	/* stub handlers need no database */
	fx.ctx = (struct rest_ctx){ .cfg = &fx.cfg, .auth = &fx.t.auth, .db = NULL, .pub = NULL };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tokcache_clear();
	fx_tokens_release(&fx.t);
	return 0;
}

static int stub(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	(void)ctx;
	fx.calls++;
	snprintf(fx.seen_param, sizeof(fx.seen_param), "%s", q->param);
	fx.seen_int = q->id_int;
	snprintf(fx.seen_uuid, sizeof(fx.seen_uuid), "%s", q->id_uuid);
	return resp_data_text(r, 200, "\"stub\"", 6);
}

static int broken(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	(void)ctx;
	(void)q;
	(void)r;
	return -1;
}

static const struct route table[] = {
	{ REQ_GET, "/health", ROUTE_PUBLIC, ROUTE_ID_NONE, stub },
	{ REQ_GET, "/rooms", ROUTE_USER, ROUTE_ID_NONE, stub },
	{ REQ_POST, "/rooms", ROUTE_USER, ROUTE_ID_NONE, stub },
	{ REQ_GET, "/rooms/:id", ROUTE_USER, ROUTE_ID_ROOM, stub },
	{ REQ_DELETE, "/rooms/:id", ROUTE_USER, ROUTE_ID_ROOM, stub },
	{ REQ_PUT, "/admin/bans/:id", ROUTE_ADMIN, ROUTE_ID_USER, stub },
	{ REQ_GET, "/public/:id", ROUTE_PUBLIC, ROUTE_ID_USER, stub },
	{ REQ_GET, "/broken", ROUTE_PUBLIC, ROUTE_ID_NONE, broken },
};

static void run(const struct route *tbl, size_t n, enum req_method m, const char *path,
		const char *auth, struct resp *r)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	q.method = m;
	q.path = path;
	q.query = "";
	q.authorization = auth;
	resp_init(r);
	router_dispatch(tbl, n, &fx.ctx, &q, r);
	assert_non_null(r->body);
}

#define RUN(m, path, auth, r) run(table, sizeof(table) / sizeof(table[0]), m, path, auth, r)

static void test_match(void **state)
{
	char p[8];

	(void)state;
	assert_true(router_match("/rooms", "/rooms", p, sizeof(p)));
	assert_true(router_match("/rooms", "/rooms/", p, sizeof(p)));
	assert_false(router_match("/rooms", "/rooms//", p, sizeof(p)));
	assert_false(router_match("/rooms", "/roomsx", p, sizeof(p)));
	assert_false(router_match("/rooms", "/room", p, sizeof(p)));
	assert_false(router_match("/rooms", "/rooms/1", p, sizeof(p)));
	assert_false(router_match("/rooms", "", p, sizeof(p)));
	assert_true(router_match("/rooms/:id", "/rooms/12", p, sizeof(p)));
	assert_string_equal(p, "12");
	assert_true(router_match("/rooms/:id", "/rooms/12/", p, sizeof(p)));
	assert_string_equal(p, "12");
	assert_false(router_match("/rooms/:id", "/rooms/", p, sizeof(p)));
	assert_false(router_match("/rooms/:id", "/rooms/1/2", p, sizeof(p)));
	assert_false(router_match("/rooms/:id", "/rooms/12345678", p, sizeof(p)));	/* > p */
	assert_true(router_match("/a/:id/b", "/a/xy/b", p, sizeof(p)));
	assert_string_equal(p, "xy");
	assert_false(router_match("/a/:id/b", "/a//b", p, sizeof(p)));
	assert_false(router_match("/a/:id/b", "/a/xy/c", p, sizeof(p)));
	assert_false(router_match("/a/:id/b", "/a/xy", p, sizeof(p)));
}

static void test_404_405(void **state)
{
	struct resp r;

	(void)state;
	RUN(REQ_GET, "/nothing", fx.t.user_hdr, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "{\"error_message\":\"no such endpoint: /nothing\",\"data\":null}");
	resp_release(&r);

	RUN(REQ_PUT, "/rooms", fx.t.user_hdr, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, POST");
	assert_non_null(strstr(r.body, "method not allowed on /rooms"));
	resp_release(&r);

	RUN(REQ_OTHER, "/rooms/3", NULL, &r);	/* 405 comes before 401 */
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, DELETE");
	assert_null(r.www_authenticate);
	resp_release(&r);
}

static void test_413_before_auth(void **state)
{
	struct resp r;
	struct req q;

	(void)state;
	memset(&q, 0, sizeof(q));
	q.method = REQ_POST;
	q.path = "/rooms";
	q.query = "";
	q.body_too_large = 1;
	resp_init(&r);
	fx.calls = 0;
	router_dispatch(table, sizeof(table) / sizeof(table[0]), &fx.ctx, &q, &r);
	assert_int_equal(r.status, 413);
	assert_string_equal(r.body, "{\"error_message\":\"request body is larger than 1024 bytes\",\"data\":null}");
	assert_int_equal(fx.calls, 0);
	resp_release(&r);
}

static void test_auth(void **state)
{
	struct resp r;

	(void)state;
	fx.calls = 0;
	RUN(REQ_GET, "/rooms", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www_authenticate, "Bearer realm=\"chat\"");
	assert_non_null(strstr(r.body, "missing authorization header"));
	resp_release(&r);

	RUN(REQ_GET, "/rooms", "Bearer x.y.z", &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www_authenticate, "Bearer realm=\"chat\", error=\"invalid_token\"");
	resp_release(&r);

	RUN(REQ_GET, "/rooms", "Token abc", &r);
	assert_int_equal(r.status, 401);
	assert_non_null(r.www_authenticate);
	resp_release(&r);

	RUN(REQ_GET, "/rooms", fx.t.expired_hdr, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.body, "token is expired"));
	assert_null(strstr(r.body, fx.t.expired_tok));
	resp_release(&r);
	assert_int_equal(fx.calls, 0);

	RUN(REQ_GET, "/rooms/77", fx.t.user_hdr, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(fx.calls, 1);
	assert_string_equal(fx.seen_param, "77");
	assert_int_equal(fx.seen_int, 77);
	assert_null(r.www_authenticate);
	resp_release(&r);

	/* public routes need no token at all */
	RUN(REQ_GET, "/health", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_release(&r);
}

static void test_admin_routes(void **state)
{
	struct resp r;

	(void)state;
	fx.calls = 0;
	RUN(REQ_PUT, "/admin/bans/" ME, fx.t.user_hdr, &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "service_role"));
	assert_int_equal(fx.calls, 0);
	resp_release(&r);

	RUN(REQ_PUT, "/admin/bans/" ME, fx.t.admin_hdr, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(fx.calls, 1);
	assert_string_equal(fx.seen_param, ME);
	resp_release(&r);
}

/* The :id as the route declares it: checked once, after access, parsed for the handler. */
static void test_id(void **state)
{
	static const char *const bad_rooms[] = {
		"abc", "0", "-1", "+1", "1x", "0x10", "9223372036854775808", "1.5",
	};
	struct resp r;
	char path[128], want[160];

	(void)state;
	fx.calls = 0;
	for (size_t i = 0; i < sizeof(bad_rooms) / sizeof(bad_rooms[0]); i++) {
		snprintf(path, sizeof(path), "/rooms/%s", bad_rooms[i]);
		snprintf(want, sizeof(want), "{\"error_message\":\"room id '%s' must be a "
			 "positive integer\",\"data\":null}", bad_rooms[i]);
		RUN(REQ_GET, path, fx.t.user_hdr, &r);
		assert_int_equal(r.status, 400);
		assert_string_equal(r.body, want);
		resp_release(&r);
	}
	/* a long segment is quoted up to 32 characters */
	RUN(REQ_DELETE, "/rooms/123456789012345678901234567890123456789", fx.t.user_hdr, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "'12345678901234567890123456789012' must be"));
	resp_release(&r);
	assert_int_equal(fx.calls, 0);

	RUN(REQ_DELETE, "/rooms/9223372036854775807/", fx.t.user_hdr, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(fx.seen_int, 9223372036854775807LL);
	resp_release(&r);

	/* a user id in any case reaches the handler in the one text form */
	RUN(REQ_PUT, "/admin/bans/6F1C2D3E-4B5A-4C6D-8E7F-0123456789AB", fx.t.admin_hdr, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(fx.seen_uuid, ME);
	resp_release(&r);
	fx.calls = 0;
	RUN(REQ_PUT, "/admin/bans/nope", fx.t.admin_hdr, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.body, "{\"error_message\":\"user id 'nope' is not a valid UUID\","
			    "\"data\":null}");
	resp_release(&r);
	RUN(REQ_PUT, "/admin/bans/" ME "0", fx.t.admin_hdr, &r);
	assert_int_equal(r.status, 400);
	resp_release(&r);
	RUN(REQ_GET, "/public/{" ME "}", NULL, &r);	/* public routes too */
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "is not a valid UUID"));
	resp_release(&r);
	assert_int_equal(fx.calls, 0);

	/* access comes first: no token 401, a user token on an admin route 403 */
	RUN(REQ_GET, "/rooms/abc", NULL, &r);
	assert_int_equal(r.status, 401);
	resp_release(&r);
	RUN(REQ_PUT, "/admin/bans/nope", fx.t.user_hdr, &r);
	assert_int_equal(r.status, 403);
	resp_release(&r);
	assert_int_equal(fx.calls, 0);
}

/* The 400 speaks the request's dialect like every other error. */
static void test_id_app_dialect(void **state)
{
	struct resp r;
	struct req q;

	(void)state;
	memset(&q, 0, sizeof(q));
	q.method = REQ_GET;
	q.path = "/rooms/abc";
	q.query = "";
	q.authorization = fx.t.user_hdr;
	q.dialect = REQ_APP;
	resp_init(&r);
	r.dialect = REQ_APP;
	router_dispatch(table, sizeof(table) / sizeof(table[0]), &fx.ctx, &q, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "\"message\":\"room id 'abc' must be a positive integer\""));
	resp_release(&r);
}

static void test_handler_failure_is_500(void **state)
{
	struct resp r;

	(void)state;
	RUN(REQ_GET, "/broken", NULL, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, "{\"error_message\":\"internal server error\",\"data\":null}");
	resp_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_404_405),
		cmocka_unit_test(test_413_before_auth),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_admin_routes),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_id_app_dialect),
		cmocka_unit_test(test_handler_failure_is_500),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
