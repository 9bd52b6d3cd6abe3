/*
 * Unit tests for ws-daemon/store.c's chaining of a stored batch
 * (store_chain): every daemon releases a room's messages by prev_id
 * (roomcache.h), so a message stored in the same statement as its
 * predecessor must name that one, not the room's message before the
 * statement. The statement itself is tested against Postgres in
 * tests/integration/test_ws_store.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "store.h"

static void test_chain_per_room(void **state)
{
	/* the stored messages, in input order: rooms 7, 3, 7, 7, 3, ids 101.. */
	struct store_job j[5];
	struct store_job *jobs[5];
	const int64_t room[5] = { 7, 3, 7, 7, 3 };
	/* the locked rooms, unsorted as a caller may hand them: 7 after 40, 3 new */
	struct store_prev prev[2] = { { 7, 40 }, { 3, 0 } };

	(void)state;
	memset(j, 0, sizeof(j));
	for (int i = 0; i < 5; i++) {
		jobs[i] = &j[i];
		j[i].room_id = room[i];
		j[i].id = 101 + i;
		j[i].status = STORE_OK;
		j[i].prev_id = -1;
	}
	/* stored, then failed on its created_at: still stored, still chained */
	j[2].status = STORE_ERROR;
	store_chain(jobs, 5, prev, 2);
	assert_int_equal(j[0].prev_id, 40);	/* the room's message before */
	assert_int_equal(j[1].prev_id, 0);	/* a room's first message */
	assert_int_equal(j[2].prev_id, 101);	/* the one stored before it */
	assert_int_equal(j[3].prev_id, 103);
	assert_int_equal(j[4].prev_id, 102);
	/* the entries end as each room's last stored message (sorted) */
	assert_int_equal(prev[0].room, 3);
	assert_int_equal(prev[0].id, 105);
	assert_int_equal(prev[1].room, 7);
	assert_int_equal(prev[1].id, 104);
}

static void test_empty_and_unlocked(void **state)
{
	struct store_job j, *jobs[1] = { &j };
	struct store_prev prev[1] = { { 5, 9 } };

	(void)state;
	memset(&j, 0, sizeof(j));
	store_chain(jobs, 0, prev, 1);		/* nothing to chain */
	assert_int_equal(prev[0].id, 9);
	store_chain(jobs, 0, prev, 0);
	/* a stored job whose room was not locked cannot be: no predecessor */
	j.status = STORE_OK;
	j.room_id = 6;
	j.id = 10;
	j.prev_id = -1;
	store_chain(jobs, 1, prev, 1);
	assert_int_equal(j.prev_id, 0);
	assert_int_equal(prev[0].id, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain_per_room),
		cmocka_unit_test(test_empty_and_unlocked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
