/*
 * conn: the per-connection limits that need no socket (issue 10): the
 * rate limit's token bucket and the count of unconfirmed messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conn.h"

static struct conn_limits lim(int64_t rate, int64_t burst)
{
	struct conn_limits l = { .queue_max = 16, .unauth_max = 5, .unauth_window_ms = 60000,
				 .msg_rate = rate, .msg_burst = burst, .max_unconfirmed = 4 };

	return l;
}

/* How many of n sends at now are allowed. */
static int takes(struct conns *cs, struct conn *c, int n, int64_t now)
{
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += conn_rate_take(cs, c, now);
	return ok;
}

static void test_bucket(void **state)
{
	struct conn_limits l = lim(20, 40);
	struct conns cs;
	struct conn *c;

	(void)state;
	assert_int_equal(conns_init(&cs, &l), 0);
	c = conn_new(&cs, NULL, 1000000);
	assert_non_null(c);
	/* full at connect: the burst, then nothing at the same instant */
	assert_int_equal(takes(&cs, c, 100, 1000000), 40);
	/* 20/s: one message per 50 ms, not before */
	assert_int_equal(takes(&cs, c, 1, 1000049), 0);
	assert_int_equal(takes(&cs, c, 1, 1000050), 1);
	/* a second later: 20 more, no more */
	assert_int_equal(takes(&cs, c, 100, 1001050), 20);
	/* a long pause refills to the burst only */
	assert_int_equal(takes(&cs, c, 100, 9000000), 40);
	/* a clock that goes back refills nothing (and breaks nothing) */
	assert_int_equal(takes(&cs, c, 5, 8000000), 0);
	assert_int_equal(takes(&cs, c, 1, 8000050), 1);
	c->wsi = NULL;
	conn_put(&cs, c);
	conns_release(&cs);
}

static void test_rate_off(void **state)
{
	struct conn_limits l = lim(0, 1);
	struct conns cs;
	struct conn *c;

	(void)state;
	assert_int_equal(conns_init(&cs, &l), 0);
	c = conn_new(&cs, NULL, 5);
	assert_int_equal(takes(&cs, c, 10000, 5), 10000);
	conn_put(&cs, c);
	conns_release(&cs);
}

static void test_unconfirmed_count(void **state)
{
	struct conn_limits l = lim(20, 40);
	struct conns cs;
	struct conn *c;

	(void)state;
	assert_int_equal(conns_init(&cs, &l), 0);
	c = conn_new(&cs, NULL, 5);
	for (int i = 0; i < 4; i++)
		conn_submitted(&cs, c);
	assert_int_equal(c->unconfirmed, 4);
	/* no socket (closed meanwhile): nothing to pause, nothing breaks */
	assert_int_equal(c->rx_paused, 0);
	for (int i = 0; i < 5; i++)
		conn_answered(&cs, c);	/* never below zero */
	assert_int_equal(c->unconfirmed, 0);
	conn_put(&cs, c);
	conns_release(&cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_rate_off),
		cmocka_unit_test(test_unconfirmed_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
