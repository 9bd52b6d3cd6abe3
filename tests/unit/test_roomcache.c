/*
 * Unit tests for ws-daemon/roomcache.c (the membership cache and in-order
 * release of a room's messages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "roomcache.h"

static int drop_odd(struct room *rm, void *arg)
{
	(void)arg;
	return rm->id % 2;
}

static void test_table(void **state)
{
	struct rcache r;
	const int n = 5000;

	(void)state;
	rcache_init(&r);
	assert_null(rcache_get(&r, 1));
	for (int i = 1; i <= n; i++)
		assert_non_null(rcache_add(&r, i * 7));
	assert_int_equal(r.count, n);
	assert_ptr_equal(rcache_add(&r, 7), rcache_get(&r, 7));
	assert_int_equal(r.count, n);
	/* deleting keeps every other entry reachable (backward shift) */
	for (int i = 1; i <= n; i += 3)
		rcache_del(&r, i * 7);
	for (int i = 1; i <= n; i++) {
		struct room *rm = rcache_get(&r, i * 7);

		if ((i - 1) % 3 == 0)
			assert_null(rm);
		else
			assert_true(rm && rm->id == i * 7 && rm->state == ROOM_LOADING);
	}
	rcache_sweep(&r, drop_odd, NULL);
	for (int i = 1; i <= n; i++) {
		struct room *rm = rcache_get(&r, i * 7);

		if ((i - 1) % 3 == 0 || (i * 7) % 2)
			assert_null(rm);
		else
			assert_non_null(rm);
	}
	rcache_release(&r);
}

static void test_members(void **state)
{
	struct uuid u[3];
	struct rcache r;
	struct room *rm;

	(void)state;
	memset(u, 0, sizeof(u));
	u[0].b[0] = 1;
	u[1].b[0] = 2;
	u[2].b[0] = 3;
	rcache_init(&r);
	rm = rcache_add(&r, 5);
	assert_int_equal(room_set_members(rm, u, 2), 0);
	assert_true(room_has_member(rm, &u[0]));
	assert_false(room_has_member(rm, &u[2]));
	assert_int_equal(room_add_member(rm, &u[2]), 0);
	assert_int_equal(room_add_member(rm, &u[2]), 0);
	assert_int_equal(rm->n, 3);
	room_remove_member(rm, &u[0]);
	assert_false(room_has_member(rm, &u[0]));
	assert_true(room_has_member(rm, &u[1]) && room_has_member(rm, &u[2]));
	assert_int_equal(room_set_members(rm, NULL, 0), 0);
	assert_int_equal(rm->n, 0);
	rcache_release(&r);
}

static struct room_msg *msg(int64_t id, int64_t prev)
{
	struct room_msg *m = calloc(1, sizeof(*m));

	m->id = id;
	m->prev_id = prev;
	return m;
}

static void test_order(void **state)
{
	struct rcache r;
	struct room *rm;
	struct room_msg *m;

	(void)state;
	rcache_init(&r);
	rm = rcache_add(&r, 1);
	/* nothing leaves a room that is still loading */
	assert_int_equal(room_hold(rm, msg(10, 0)), 1);
	assert_null(room_next(rm, 0, 500));
	rm->state = ROOM_READY;
	m = room_next(rm, 0, 500);
	assert_int_equal(m->id, 10);
	room_msg_free(m);
	/* 14 (after 12) arrives before 12 (after 10): held until 12 came */
	assert_int_equal(room_hold(rm, msg(14, 12)), 1);
	assert_null(room_next(rm, 100, 500));
	assert_int_equal(room_hold(rm, msg(12, 10)), 1);
	m = room_next(rm, 150, 500);
	assert_int_equal(m->id, 12);
	room_msg_free(m);
	m = room_next(rm, 150, 500);
	assert_int_equal(m->id, 14);
	room_msg_free(m);
	assert_null(room_next(rm, 150, 500));
	/* duplicates and old ids are dropped */
	assert_int_equal(room_hold(rm, msg(14, 12)), 0);
	assert_int_equal(room_hold(rm, msg(3, 0)), 0);
	/* a gap that never closes is skipped after gap_ms */
	assert_int_equal(room_hold(rm, msg(20, 18)), 1);
	assert_null(room_next(rm, 1000, 500));
	assert_null(room_next(rm, 1400, 500));
	m = room_next(rm, 1500, 500);
	assert_int_equal(m->id, 20);
	room_msg_free(m);
	assert_int_equal(room_hold(rm, msg(18, 16)), 0);	/* too late */
	/* a predecessor older than what was released does not block */
	assert_int_equal(room_hold(rm, msg(25, 19)), 1);
	m = room_next(rm, 1600, 500);
	assert_int_equal(m->id, 25);
	room_msg_free(m);
	/* held messages are freed with the room */
	room_hold(rm, msg(40, 30));
	rcache_del(&r, 1);
	assert_null(rcache_get(&r, 1));
	rcache_release(&r);
}

/* The chain starts at the room's settled base: in-flight ones are awaited. */
static void test_start(void **state)
{
	struct rcache r;
	struct room *rm;
	struct room_msg *m;

	(void)state;
	rcache_init(&r);
	rm = rcache_add(&r, 2);
	/* seen while loading: 31 (after 30, still travelling from a peer) */
	room_hold(rm, msg(31, 30));
	room_start(rm, 29);
	assert_int_equal(rm->state, ROOM_READY);
	assert_null(room_next(rm, 0, 500));
	room_hold(rm, msg(30, 29));
	m = room_next(rm, 10, 500);
	assert_int_equal(m->id, 30);
	room_msg_free(m);
	m = room_next(rm, 10, 500);
	assert_int_equal(m->id, 31);
	room_msg_free(m);
	/* older than the base: never delivered live */
	assert_int_equal(room_hold(rm, msg(20, 19)), 0);
	/* a reload later does not move the chain back */
	room_start(rm, 5);
	assert_int_equal(rm->last_id, 31);
	rcache_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
