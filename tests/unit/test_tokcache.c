/*
 * Unit tests for rest-fcgi/tokcache.c: a cached token gives the same
 * claims, is verified again from its expiry on, and a token differing in
 * its signature is never a hit. No services needed.
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
#include "tokcache.h"

#define SECRET "unit-test-secret-0123456789abcdef0123456789abcdef"
#define ME "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"

static struct {
	struct auth auth;
} fx;

static int setup(void **state)
{
	char err[256];

	(void)state;
	memset(&fx, 0, sizeof(fx));
	assert_int_equal(auth_init(&fx.auth, SECRET, NULL, "authenticated", 10, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tokcache_clear();
	auth_release(&fx.auth);
	return 0;
}

static void test_tokcache(void **state)
{
	struct auth_claims c;
	time_t now = time(NULL);
	char err[256], *tok, *bad;

	(void)state;
	tokcache_clear();
	tok = auth_mint_hs256(SECRET, ME, "authenticated", 1, 60, now, err, sizeof(err));
	assert_non_null(tok);
	assert_int_equal(tokcache_verify(&fx.auth, tok, now, &c, err, sizeof(err)), 0);
	assert_string_equal(c.sub, ME);
	assert_true(c.is_admin);
	memset(&c, 0, sizeof(c));
	assert_int_equal(tokcache_verify(&fx.auth, tok, now + 59, &c, err, sizeof(err)), 0);
	assert_string_equal(c.sub, ME);	/* a hit gives the same claims */
	assert_true(c.is_admin);
	/* from exp on, the token is verified again: leeway, then expired */
	assert_int_equal(tokcache_verify(&fx.auth, tok, now + 65, &c, err, sizeof(err)), 0);
	assert_int_equal(tokcache_verify(&fx.auth, tok, now + 3600, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "token is expired"));
	/* a token differing in its signature is never a hit */
	bad = strdup(tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	assert_int_equal(tokcache_verify(&fx.auth, bad, now, &c, err, sizeof(err)), -1);
	free(bad);
	free(tok);
	tokcache_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tokcache),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
