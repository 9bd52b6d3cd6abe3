/*
 * conn: the per-connection limits that need no socket (issue 10): the
 * rate limit's token bucket and the count of unconfirmed messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* The labels of the metrics: close codes and confirmation reasons. */
static void test_stat_labels(void **state)
{
	(void)state;
	assert_string_equal(conn_code_label(conn_code_slot(1000)), "1000");
	assert_string_equal(conn_code_label(conn_code_slot(1001)), "1001");
	assert_string_equal(conn_code_label(conn_code_slot(1006)), "1006");
	for (int code = 4001; code <= 4012; code++) {
		char want[8];

		snprintf(want, sizeof(want), "%d", code);
		assert_string_equal(conn_code_label(conn_code_slot(code)), want);
	}
	assert_string_equal(conn_code_label(conn_code_slot(1011)), "other");
	assert_string_equal(conn_code_label(conn_code_slot(4013)), "other");
	assert_string_equal(conn_code_label(conn_code_slot(0)), "other");
	assert_int_equal(conn_code_slot(4012), CONN_CODE_SLOTS - 2);

	assert_string_equal(conn_confirm_label(conn_confirm_class(1, "")), "");
	assert_string_equal(conn_confirm_label(conn_confirm_class(0, "rate limited")),
			    "rate limited");
	assert_string_equal(conn_confirm_label(conn_confirm_class(0, "message is empty")), "empty");
	assert_string_equal(conn_confirm_label(conn_confirm_class(
		0, "message is longer than 4000 characters")), "too long");
	assert_string_equal(conn_confirm_label(conn_confirm_class(
		0, "message violates the moderation policy")), "moderation");
	assert_string_equal(conn_confirm_label(conn_confirm_class(
		0, "not a participant of this room")), "not a member");
	assert_string_equal(conn_confirm_label(conn_confirm_class(0, "user is banned")), "banned");
	assert_string_equal(conn_confirm_label(conn_confirm_class(0, "server error")),
			    "server error");
	assert_string_equal(conn_confirm_label(conn_confirm_class(0, "server shutting down")),
			    "shutting down");
	assert_string_equal(conn_confirm_label(conn_confirm_class(0, "something new")), "other");
	assert_string_equal(conn_confirm_label(conn_confirm_class(0, NULL)), "other");
	assert_int_equal(conn_confirm_class(0, "x"), CONN_CONFIRM_CLASSES - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_stat_labels),
		cmocka_unit_test(test_rate_off),
		cmocka_unit_test(test_unconfirmed_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
