/*
 * Unit tests for rest-fcgi/listcache.c: two caches on one change table
 * behave as two workers of a tier. An answer is served until one of its
 * rooms or its user changes (whoever reports it), a change during the
 * query keeps the answer from being kept, nothing is served while the
 * listener is not listening, and the budget bounds what is kept. No
 * database: the tests say when the listener listens.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listcache.h"

#define ME "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
#define ME_UPPER "6F1C2D3E-4B5A-4C6D-8E7F-0123456789AB"
#define OTHER "0a1b2c3d-4e5f-4a6b-8c7d-9e8f7a6b5c4d"

static char path[] = "/tmp/test-listcache-XXXXXX";

static int setup(void **state)
{
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);	/* tiershm creates it */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

/* Keep body for ME with rooms 1 and 2, from a query that began now. */
static void keep(struct listcache *c, const char *user, const char *body)
{
	static const long long rooms[] = { 1, 2 };
	uint64_t t = listcache_begin(c);

	assert_true(t > 0);
	listcache_put(c, t, user, rooms, 2, body, strlen(body));
}

static void assert_kept(struct listcache *c, const char *user, const char *want)
{
	size_t len = 0;
	const char *got = listcache_get(c, user, &len);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
}

static void test_changes_invalidate_across_workers(void **state)
{
	struct listcache a, b;
	char err[256];

	(void)state;
	assert_int_equal(listcache_open(&a, path, 64, NULL, err, sizeof(err)), 0);
	assert_int_equal(listcache_open(&b, path, 64, NULL, err, sizeof(err)), 0);
	assert_true(a.on && b.on);
	/* not listening: nothing kept, nothing served */
	assert_int_equal(listcache_begin(&a), 0);
	listcache_set_live(&a, 1);
	listcache_set_live(&b, 1);

	keep(&a, ME, "[1]");
	assert_kept(&a, ME, "[1]");
	assert_kept(&a, ME_UPPER, "[1]");	/* ids from tokens may differ in case */
	assert_kept(&b, ME, NULL);		/* each worker keeps its own */
	assert_kept(&a, OTHER, NULL);

	/* a room of the answer changed, reported by the other worker */
	listcache_room_changed(&b, 2);
	assert_kept(&a, ME, NULL);

	/* the user changed (a membership, a ban) */
	keep(&a, ME, "[2]");
	listcache_user_changed(&b, ME_UPPER);
	assert_kept(&a, ME, NULL);

	/* another room, another user: still served */
	keep(&a, ME, "[3]");
	listcache_room_changed(&b, 3);
	listcache_user_changed(&b, OTHER);
	assert_kept(&a, ME, "[3]");

	/* notifications as the listener hands them over */
	listcache_notified(&b, "r:7,1");
	assert_kept(&a, ME, NULL);
	keep(&a, ME, "[4]");
	listcache_notified(&b, "u:" OTHER "," ME);
	assert_kept(&a, ME, NULL);
	keep(&a, ME, "[5]");
	listcache_notified(&b, "*");
	assert_kept(&a, ME, NULL);
	keep(&a, ME, "[6]");
	listcache_notified(&b, "r:12x");	/* not understood: everything changed */
	assert_kept(&a, ME, NULL);
	keep(&a, ME, "[7]");
	listcache_notified(&b, "something else");
	assert_kept(&a, ME, NULL);

	/* the table names this process (a dead listener's pid, reused), but
	   its own thread does not listen: no hits */
	keep(&a, ME, "[7b]");
	a.listening = 0;
	assert_kept(&a, ME, NULL);
	listcache_set_live(&a, 1);

	/* the listener stops listening: no hits; listening again: all stale */
	keep(&a, ME, "[8]");
	listcache_set_live(&a, 0);
	assert_kept(&a, ME, NULL);
	assert_int_equal(listcache_begin(&a), 0);
	listcache_set_live(&a, 1);
	assert_kept(&a, ME, NULL);

	listcache_close(&a);
	listcache_close(&b);
}

static void test_change_during_the_query_is_not_kept(void **state)
{
	static const long long rooms[] = { 5 };
	struct listcache a, b;
	char err[256];
	uint64_t t;

	(void)state;
	assert_int_equal(listcache_open(&a, path, 64, NULL, err, sizeof(err)), 0);
	assert_int_equal(listcache_open(&b, path, 64, NULL, err, sizeof(err)), 0);
	listcache_set_live(&a, 1);
	t = listcache_begin(&a);
	listcache_room_changed(&b, 5);	/* committed while the query ran */
	listcache_put(&a, t, ME, rooms, 1, "[5]", 3);
	assert_int_equal(a.bytes, 0);	/* not even kept */
	assert_kept(&a, ME, NULL);
	t = listcache_begin(&a);
	listcache_user_changed(&b, ME);
	listcache_put(&a, t, ME, rooms, 1, "[5]", 3);
	assert_int_equal(a.bytes, 0);
	assert_kept(&a, ME, NULL);
	/* no answer is served past its maximum age */
	a.max_age_ms = 1000;
	t = listcache_begin(&a);
	listcache_put(&a, t, ME, rooms, 1, "[5]", 3);
	assert_kept(&a, ME, "[5]");
	usleep(1100 * 1000);
	assert_kept(&a, ME, NULL);
	a.max_age_ms = LISTCACHE_MAX_AGE_MS;
	/* a ticket of 0 (taken while not listening) keeps nothing */
	listcache_put(&a, 0, ME, rooms, 1, "[5]", 3);
	assert_kept(&a, ME, NULL);
	/* an answer with no rooms */
	t = listcache_begin(&a);
	listcache_put(&a, t, ME, NULL, 0, "[]", 2);
	assert_kept(&a, ME, "[]");
	listcache_user_changed(&b, ME);
	assert_kept(&a, ME, NULL);
	listcache_close(&a);
	listcache_close(&b);
}

static void test_budget_and_off(void **state)
{
	static const long long rooms[] = { 9 };
	struct listcache a;
	char err[256], *big;
	uint64_t t;

	(void)state;
	/* off: no file, or no budget */
	assert_int_equal(listcache_open(&a, "", 64, NULL, err, sizeof(err)), 0);
	assert_false(a.on);
	assert_int_equal(listcache_begin(&a), 0);
	assert_kept(&a, ME, NULL);
	listcache_room_changed(&a, 1);	/* no-ops */
	listcache_notified(&a, "*");
	listcache_close(&a);
	assert_int_equal(listcache_open(&a, path, 0, NULL, err, sizeof(err)), 0);
	assert_false(a.on);
	listcache_close(&a);
	listcache_room_changed(NULL, 1);

	/* 8 KiB: an answer over an eighth (1 KiB) is not kept */
	assert_int_equal(listcache_open(&a, path, 8, NULL, err, sizeof(err)), 0);
	listcache_set_live(&a, 1);
	big = malloc(2048);
	assert_non_null(big);
	memset(big, 'x', 2048);
	t = listcache_begin(&a);
	listcache_put(&a, t, ME, rooms, 1, big, 2048);
	assert_kept(&a, ME, NULL);
	listcache_put(&a, t, ME, rooms, 1, big, 900);
	assert_non_null(listcache_get(&a, ME, &(size_t){ 0 }));
	assert_int_equal(a.hits, 1);
	free(big);
	listcache_close(&a);
	listcache_close(&a);	/* twice is fine */

	/* a file that cannot be made */
	assert_int_equal(listcache_open(&a, "/nonexistent-dir/lists", 8, NULL, err,
					sizeof(err)), -1);
	assert_non_null(strstr(err, "CHAT_REST_CACHE_FILE: cannot open '/nonexistent-dir/lists'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_changes_invalidate_across_workers),
		cmocka_unit_test(test_change_during_the_query_is_not_kept),
		cmocka_unit_test(test_budget_and_off),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
