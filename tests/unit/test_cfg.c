/* cfg: defaults, overrides, and refusals that name the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cfg.h"

static const char *const vars[] = {
	"CHAT_HTTP_PORT", "CHAT_WS_PORT", "CHAT_PG_PORT", "DATABASE_URL",
	"SUPABASE_JWT_SECRET", "SUPABASE_JWKS_FILE", "CHAT_JWT_AUD",
	"CHAT_JWT_LEEWAY", "CHAT_EVT_ENDPOINTS", "CHAT_WS_ID", "CHAT_LOG_LEVEL",
	"CHAT_IDLE_TIMEOUT", "CHAT_DEV", "CHAT_LIST_MAX", "CHAT_ROOM_MAX_MEMBERS",
	"CHAT_ROOMS_PER_MIN", "CHAT_ADDS_PER_MIN", "CHAT_LIMIT_WINDOW", "CHAT_EVT_MAX_BYTES",
	"CHAT_WS_MSG_RATE", "CHAT_WS_MSG_BURST", "CHAT_WS_MAX_UNCONFIRMED", NULL
};

static int clean_env(void **state)
{
	(void)state;
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	/* a development stack, so that the defaults load without keys */
	setenv("CHAT_DEV", "1", 1);
	return 0;
}

static void test_defaults(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.http_port, 8080);
	assert_int_equal(c.ws_port, 3030);
	assert_int_equal(c.pg_port, 5544);
	assert_string_equal(c.db_url, "host=127.0.0.1 port=5544 dbname=chat user=chat");
	assert_string_equal(c.jwt_secret, CHAT_DEV_JWT_SECRET);
	assert_int_equal(c.jwt_secret_is_dev, 1);
	assert_string_equal(c.jwt_aud, "authenticated");
	/* AFK limit off by default: readers who answer pings stay (SPEC 4003) */
	assert_int_equal(c.idle_timeout, 0);
	assert_int_equal(c.unauth_max, 5);
	assert_int_equal(c.unauth_window, 60);
	assert_int_equal(c.shutdown_grace_ms, 2000);
	assert_int_equal(c.ws_msg_rate, 20);
	assert_int_equal(c.ws_msg_burst, 40);
	assert_int_equal(c.ws_max_unconfirmed, 32);
	assert_int_equal(c.log_level, 2);
	/* REST limits (README "Limits") */
	assert_int_equal(c.list_max, 1000);
	assert_int_equal(c.room_max_members, 1000);
	assert_int_equal(c.rooms_per_min, 30);
	assert_int_equal(c.adds_per_min, 300);
	assert_int_equal(c.limit_window, 60);
}

static void test_overrides(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	setenv("CHAT_PG_PORT", "6000", 1);
	setenv("SUPABASE_JWT_SECRET", "a-production-secret-of-enough-length-xyz", 1);
	setenv("CHAT_IDLE_TIMEOUT", "300", 1);
	setenv("CHAT_LOG_LEVEL", "debug", 1);
	setenv("CHAT_ROOMS_PER_MIN", "0", 1);	/* 0 = no limit */
	setenv("CHAT_LIMIT_WINDOW", "2", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.rooms_per_min, 0);
	assert_int_equal(c.limit_window, 2);
	assert_string_equal(c.db_url, "host=127.0.0.1 port=6000 dbname=chat user=chat");
	assert_string_equal(c.jwt_secret, "a-production-secret-of-enough-length-xyz");
	assert_int_equal(c.jwt_secret_is_dev, 0);
	assert_int_equal(c.idle_timeout, 300);
	assert_int_equal(c.log_level, 3);
	setenv("DATABASE_URL", "postgresql://u@db.example/x", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.db_url, "postgresql://u@db.example/x");
}

static void test_jwks_only_disables_hs256(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	setenv("SUPABASE_JWKS_FILE", "/etc/keys.json", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.jwt_secret, "");
	assert_string_equal(c.jwks_file, "/etc/keys.json");
}

struct bad { const char *var, *val, *msg; };

static void test_refusals(void **state)
{
	static const struct bad bad[] = {
		{ "CHAT_WS_PORT", "abc", "CHAT_WS_PORT: 'abc' is not a number from 1 to 65535" },
		{ "CHAT_WS_PORT", "70000", "CHAT_WS_PORT: '70000' is not a number from 1 to 65535" },
		{ "CHAT_HTTP_PORT", "80x", "CHAT_HTTP_PORT: '80x' is not a number from 1 to 65535" },
		{ "CHAT_JWT_LEEWAY", "31", "CHAT_JWT_LEEWAY: '31' is not a number from 0 to 30" },
		{ "CHAT_LOG_LEVEL", "loud", "CHAT_LOG_LEVEL: 'loud' is not error, warn, info or debug" },
		{ "SUPABASE_JWT_SECRET", "short", "SUPABASE_JWT_SECRET: shorter than 32 characters" },
		{ "CHAT_WS_ID", "2", "CHAT_WS_ID: 2 but CHAT_EVT_ENDPOINTS lists 1 endpoint(s)" },
		{ "CHAT_ROOM_MAX_MEMBERS", "1", "CHAT_ROOM_MAX_MEMBERS: '1' is not a number from 2 to 1000000" },
		{ "CHAT_ROOMS_PER_MIN", "-1", "CHAT_ROOMS_PER_MIN: '-1' is not a number from 0 to 1000000" },
		{ "CHAT_ADDS_PER_MIN", "lots", "CHAT_ADDS_PER_MIN: 'lots' is not a number from 0 to 1000000" },
		{ "CHAT_LIMIT_WINDOW", "0", "CHAT_LIMIT_WINDOW: '0' is not a number from 1 to 86400" },
		{ "CHAT_LIST_MAX", "20000", "CHAT_LIST_MAX: '20000' is not a number from 1 to 10000" },
		{ "CHAT_WS_MSG_RATE", "-1", "CHAT_WS_MSG_RATE: '-1' is not a number from 0 to 1000000" },
		{ "CHAT_WS_MSG_BURST", "0", "CHAT_WS_MSG_BURST: '0' is not a number from 1 to 1000000" },
		{ "CHAT_WS_MAX_UNCONFIRMED", "0",
		  "CHAT_WS_MAX_UNCONFIRMED: '0' is not a number from 1 to 100000" },
	};
	struct cfg c;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clean_env(NULL);
		setenv(bad[i].var, bad[i].val, 1);
		assert_int_equal(cfg_load(&c, err, sizeof(err)), -1);
		assert_string_equal(err, bad[i].msg);
	}
}

/* The dev secret is published: only CHAT_DEV=1 accepts it. */
static void test_dev_mode_is_explicit(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	unsetenv("CHAT_DEV");
	/* no keys: refused, naming what to set */
	assert_int_equal(cfg_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SUPABASE_JWT_SECRET"));
	assert_non_null(strstr(err, "SUPABASE_JWKS_FILE"));
	assert_non_null(strstr(err, "CHAT_DEV=1"));
	/* the dev secret set by hand: refused too */
	setenv("SUPABASE_JWT_SECRET", CHAT_DEV_JWT_SECRET, 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "documented dev secret"));
	/* ... unless this is a development stack, where it is flagged */
	setenv("CHAT_DEV", "1", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.jwt_secret_is_dev, 1);
	/* a real secret needs no dev mode */
	unsetenv("CHAT_DEV");
	setenv("SUPABASE_JWT_SECRET", "a-production-secret-of-enough-length-xyz", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_int_equal(c.jwt_secret_is_dev, 0);
	assert_int_equal(c.dev, 0);
}

static void test_evt_endpoints(void **state)
{
	struct cfg c;
	char err[256];

	(void)state;
	setenv("CHAT_EVT_ENDPOINTS", "ipc:///tmp/a,tcp://127.0.0.1:5602", 1);
	setenv("CHAT_WS_ID", "1", 1);
	assert_int_equal(cfg_load(&c, err, sizeof(err)), 0);
	assert_int_equal(cfg_evt_count(&c), 2);
	/* the entries themselves: evt_endpoint() (test_evt.c) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clean_env),
		cmocka_unit_test_setup(test_overrides, clean_env),
		cmocka_unit_test_setup(test_jwks_only_disables_hs256, clean_env),
		cmocka_unit_test_setup(test_refusals, clean_env),
		cmocka_unit_test_setup(test_evt_endpoints, clean_env),
		cmocka_unit_test_setup(test_dev_mode_is_explicit, clean_env),
	};

	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
