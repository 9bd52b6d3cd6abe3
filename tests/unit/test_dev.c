/*
 * Unit tests for rest-fcgi/dev.c: POST /dev/token through the service's
 * route table, as nginx hands it over. In a development stack it mints a
 * token the stack's own verifier accepts, for the role asked; outside one
 * the path does not exist (404, as any unknown path, whatever the method).
 * No services needed: the route takes no database.
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
#include "chrono.h"
#include "dev.h"
#include "jsonutil.h"
#include "log.h"
#include "req.h"
#include "routes.h"

#include "rest_fixture.h"

static struct {
	struct fx_tokens t;
	struct cfg cfg;
	struct rest_ctx ctx;
} fx;

static int setup(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(fx_tokens_init(&fx.t), 0);
	fx.cfg.max_body = 1024;
	fx.cfg.dev = 1;
	strcpy(fx.cfg.jwt_secret, FX_SECRET);
	strcpy(fx.cfg.jwt_aud, "authenticated");
	/* No database: /dev/token must not need one. */
	fx.ctx = (struct rest_ctx){ .cfg = &fx.cfg, .auth = &fx.t.auth, .db = NULL, .pub = NULL };
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fx_tokens_release(&fx.t);
	return 0;
}

static void call(enum req_method m, const char *path, const char *body, struct resp *r)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	q.method = m;
	q.path = path;
	q.query = "";
	q.body = body;
	q.body_len = body ? strlen(body) : 0;
	resp_init(r);
	routes_handle(&fx.ctx, &q, r);
	assert_non_null(r->body);
}

/* The "data" of an envelope body, parsed; the caller puts the envelope. */
static json_object *data_of(const char *body, json_object **env)
{
	json_object *d = NULL;
	char err[128];

	*env = json_parse_object(body, strlen(body), "body", err, sizeof(err));
	assert_non_null(*env);
	assert_true(json_object_object_get_ex(*env, "data", &d));
	return d;
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

/* A minted token passes the stack's verifier, for the user and role asked. */
static void test_mints_a_token_the_stack_accepts(void **state)
{
	static const struct {
		const char *body, *role;
		int admin;
	} cases[] = {
		{ "{\"user_id\":\"" U1 "\"}", "authenticated", 0 },
		{ "{\"user_id\":\"" U1 "\",\"role\":\"authenticated\"}", "authenticated", 0 },
		{ "{\"user_id\":\"" U1 "\",\"role\":\"service_role\"}", "service_role", 1 },
		/* any case in, the text form out */
		{ "{\"user_id\":\"11111111-2222-4333-8444-555555555555\",\"x\":1}", "authenticated", 0 },
	};
	struct auth_claims who;
	char err[256], want_exp[CHRONO_ISO_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *env, *d;
		struct resp r;
		time_t before = time(NULL), after;

		call(REQ_POST, "/dev/token", cases[i].body, &r);
		after = time(NULL);
		assert_int_equal(r.status, 200);
		d = data_of(r.body, &env);
		assert_true(json_object_is_type(d, json_type_object));
		assert_string_equal(str_of(d, "user_id"), U1);
		assert_string_equal(str_of(d, "role"), cases[i].role);
		assert_int_equal(auth_verify(&fx.t.auth, str_of(d, "token"), time(NULL), &who,
					     err, sizeof(err)), 0);
		assert_string_equal(who.sub, U1);
		assert_int_equal(who.is_admin, cases[i].admin);
		assert_true(who.exp >= before + DEV_TOKEN_TTL && who.exp <= after + DEV_TOKEN_TTL);
		assert_int_equal(chrono_iso_from_s(who.exp, want_exp), 0);
		assert_string_equal(str_of(d, "expires_at"), want_exp);
		json_object_put(env);
		resp_release(&r);
	}
	/* the upper-case form of a uuid is the same user */
	{
		struct resp r;
		json_object *env;

		call(REQ_POST, "/dev/token", "{\"user_id\":\"AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE\"}", &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(str_of(data_of(r.body, &env), "user_id"), U2);
		json_object_put(env);
		resp_release(&r);
	}
}

/* A bad body is a 400 naming what is wrong, and mints nothing. */
static void test_bad_bodies_are_400(void **state)
{
	static const struct {
		const char *body, *msg;
	} cases[] = {
		{ NULL, "body is empty" },
		{ "", "body is empty" },
		{ "{", "body is not valid JSON" },
		{ "[1]", "body must be a JSON object" },
		{ "{}", "field 'user_id' is required" },
		{ "{\"user_id\":null}", "field 'user_id' is required" },
		{ "{\"user_id\":7}", "field 'user_id' must be a string" },
		{ "{\"user_id\":\"bob\"}", "field 'user_id' is not a valid UUID" },
		{ "{\"user_id\":\"" U1 "\",\"role\":\"admin\"}",
		  "field 'role' must be \\\"authenticated\\\" or \\\"service_role\\\"" },
		{ "{\"user_id\":\"" U1 "\",\"role\":true}", "field 'role' must be a string" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp r;

		call(REQ_POST, "/dev/token", cases[i].body, &r);
		assert_int_equal(r.status, 400);
		if (!strstr(r.body, cases[i].msg))
			fail_msg("case %zu: %s", i, r.body);
		assert_non_null(strstr(r.body, "\"data\":null"));
		resp_release(&r);
	}
}

/* In dev mode the path is known: another method is a 405 (what the chat
 * page's probe sees); outside dev mode it is not there at all. */
static void test_exists_only_in_dev_mode(void **state)
{
	static const enum req_method methods[] = { REQ_GET, REQ_POST, REQ_PUT, REQ_DELETE };
	struct resp r;

	(void)state;
	call(REQ_GET, "/dev/token", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "POST");
	resp_release(&r);

	fx.cfg.dev = 0;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		call(methods[i], "/dev/token", "{\"user_id\":\"" U1 "\"}", &r);
		assert_int_equal(r.status, 404);
		assert_string_equal(r.body, "{\"error_message\":\"no such endpoint: /dev/token\","
				    "\"data\":null}");
		assert_string_equal(r.allow, "");
		resp_release(&r);
	}
	fx.cfg.dev = 1;
}

/* A stack with JWKS keys only could not verify an HS256 token: 501, said. */
static void test_no_hs256_secret_is_501(void **state)
{
	struct resp r;

	(void)state;
	fx.cfg.jwt_secret[0] = '\0';
	call(REQ_POST, "/dev/token", "{\"user_id\":\"" U1 "\"}", &r);
	assert_int_equal(r.status, 501);
	assert_non_null(strstr(r.body, "cannot mint"));
	resp_release(&r);
	strcpy(fx.cfg.jwt_secret, FX_SECRET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mints_a_token_the_stack_accepts),
		cmocka_unit_test(test_bad_bodies_are_400),
		cmocka_unit_test(test_exists_only_in_dev_mode),
		cmocka_unit_test(test_no_hs256_secret_is_501),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
