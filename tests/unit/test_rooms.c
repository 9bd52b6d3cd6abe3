/*
 * Unit tests for rest-fcgi/rooms.c: the body and query parsers of the
 * /rooms endpoints, the PUT rules (who may add, remove, leave) and the
 * DELETE rules.
 * No services needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "req.h"
#include "rest_fixture.h"
#include "rooms.h"


static void test_parse_create(void **state)
{
	struct rooms_create_in in;
	char err[256];
	const char *ok = "{\"users\":[\"" U1 "\",\"" ME "\",\"11111111-2222-4333-8444-555555555555\"],"
			 "\"apartment_id\":7,\"extra\":{}}";

	(void)state;
	assert_int_equal(rooms_parse_create(ok, strlen(ok), ME, 1000, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nusers, 2);	/* duplicate dropped, caller already there */
	assert_string_equal(in.users[0], U1);
	assert_string_equal(in.users[1], ME);
	assert_true(in.has_apartment);
	assert_int_equal(in.apartment_id, 7);
	rooms_create_in_release(&in);

	assert_int_equal(rooms_parse_create("{}", 2, ME, 1000, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nusers, 1);	/* the caller is added */
	assert_string_equal(in.users[0], ME);
	assert_false(in.has_apartment);
	rooms_create_in_release(&in);

	assert_int_equal(rooms_parse_create("{\"apartment_id\":null,\"users\":null}", 34, ME, 1000, &in,
					    err, sizeof(err)), 0);
	assert_false(in.has_apartment);
	rooms_create_in_release(&in);

#define BAD(body, text) do { \
	assert_int_equal(rooms_parse_create(body, strlen(body), ME, 1000, &in, err, sizeof(err)), -1); \
	assert_non_null(strstr(err, text)); \
	assert_null(in.users); \
} while (0)
	BAD("", "body is empty");
	BAD("[1]", "body must be a JSON object");
	BAD("{\"users\":", "not valid JSON");
	BAD("{\"users\":\"" U1 "\"}", "field 'users' must be an array");
	BAD("{\"users\":[\"" U1 "\", \"x\"]}", "field 'users'[1] is not a valid UUID");
	BAD("{\"users\":[7]}", "field 'users'[0]");
	BAD("{\"apartment_id\":\"7\"}", "field 'apartment_id' must be an integer");
	BAD("{\"apartment_id\":7.5}", "field 'apartment_id' must be an integer");
#undef BAD
}

static void test_parse_update(void **state)
{
	struct rooms_update_in in;
	char err[256];
	const char *ok = "{\"room_id\":9,\"users_to_add\":[\"" U1 "\"],\"users_to_remove\":[\"" U2 "\"]}";

	(void)state;
	assert_int_equal(rooms_parse_update(ok, strlen(ok), 1000, &in, err, sizeof(err)), 0);
	assert_int_equal(in.room_id, 9);
	assert_int_equal(in.nadd, 1);
	assert_int_equal(in.nrm, 1);
	assert_string_equal(in.add[0], U1);
	assert_string_equal(in.rm[0], U2);
	rooms_update_in_release(&in);

	assert_int_equal(rooms_parse_update("{\"room_id\":3}", 13, 1000, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nadd + in.nrm, 0);
	rooms_update_in_release(&in);

#define BAD(body, text) do { \
	assert_int_equal(rooms_parse_update(body, strlen(body), 1000, &in, err, sizeof(err)), -1); \
	assert_non_null(strstr(err, text)); \
	assert_null(in.add); \
	assert_null(in.rm); \
} while (0)
	BAD("{}", "field 'room_id' is required");
	BAD("{\"room_id\":null}", "field 'room_id' is required");
	BAD("{\"room_id\":\"9\"}", "field 'room_id' must be an integer");
	BAD("{\"room_id\":-2}", "field 'room_id' must be a positive integer");
	BAD("{\"room_id\":1,\"users_to_add\":{}}", "field 'users_to_add' must be an array");
	BAD("{\"room_id\":1,\"users_to_remove\":[\"nope\"]}", "field 'users_to_remove'[0]");
	BAD("{\"room_id\":1,\"users_to_add\":[\"" U1 "\"],\"users_to_remove\":[\""
	    "11111111-2222-4333-8444-555555555555\"]}", "is in both");
#undef BAD
}

/* CHAT_LIST_MAX: a list longer than the setting is a 400 naming the field */
static void test_parse_list_max(void **state)
{
	struct rooms_create_in in;
	struct rooms_update_in up;
	const char *two = "{\"users\":[\"" U1 "\",\"" U2 "\"]}";
	const char *add2 = "{\"room_id\":1,\"users_to_add\":[\"" U1 "\",\"" U2 "\"]}";
	const char *rm2 = "{\"room_id\":1,\"users_to_remove\":[\"" U1 "\",\"" U2 "\"]}";
	char err[256];

	(void)state;
	assert_int_equal(rooms_parse_create(two, strlen(two), ME, 2, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nusers, 3);	/* the caller is not part of the list */
	rooms_create_in_release(&in);
	assert_int_equal(rooms_parse_create(two, strlen(two), ME, 1, &in, err, sizeof(err)), -1);
	assert_string_equal(err, "field 'users' has more than 1 entries");
	assert_int_equal(rooms_parse_update(add2, strlen(add2), 2, &up, err, sizeof(err)), 0);
	rooms_update_in_release(&up);
	assert_int_equal(rooms_parse_update(add2, strlen(add2), 1, &up, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'users_to_add'"));
	assert_int_equal(rooms_parse_update(rm2, strlen(rm2), 1, &up, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'users_to_remove'"));
}

/* CHAT_ROOM_MAX_MEMBERS: up to the cap passes, beyond it is a 409 saying both numbers */
static void test_members_check(void **state)
{
	char err[128] = "";

	(void)state;
	assert_int_equal(rooms_members_check(1, 1000, err, sizeof(err)), 0);
	assert_int_equal(rooms_members_check(1000, 1000, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(rooms_members_check(1001, 1000, err, sizeof(err)), 409);
	assert_string_equal(err, "room would have 1001 members; the limit is 1000");
	assert_int_equal(rooms_members_check(20001, 2, err, sizeof(err)), 409);
	assert_string_equal(err, "room would have 20001 members; the limit is 2");
}

static void test_parse_page(void **state)
{
	struct rooms_page pg;
	struct req q;
	char err[128];

	(void)state;
	q = fx_query_req("");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.limit, 1000);
	assert_int_equal(pg.before, 0);
	q = fx_query_req("limit=5&before=77");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.limit, 5);
	assert_int_equal(pg.before, 77);
	q = fx_query_req("limit=5000");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), 0);
	assert_int_equal(pg.limit, 1000);	/* clamped to the cap */
	q = fx_query_req("limit=99999999999999999999");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'limit'"));
	q = fx_query_req("limit=0");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), -1);
	q = fx_query_req("before=-3");
	assert_int_equal(rooms_parse_page(&q, 1000, &pg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'before'"));
}

static void test_update_rules(void **state)
{
	char add[1][UUID_STR_SIZE] = { U1 }, rm_self[1][UUID_STR_SIZE] = { ME };
	char rm_other[1][UUID_STR_SIZE] = { U2 };
	struct rooms_update_in in = { .room_id = 4 };
	char err[128];

	(void)state;
	/* not a participant: 404 whatever is asked */
	assert_int_equal(rooms_update_allowed(ME, ME, 0, &in, err, sizeof(err)), 404);
	assert_string_equal(err, "room 4 not found");
	/* owner adds and removes others */
	in.add = add;
	in.nadd = 1;
	in.rm = rm_other;
	in.nrm = 1;
	assert_int_equal(rooms_update_allowed(ME, ME, 1, &in, err, sizeof(err)), 0);
	/* a participant may not add */
	assert_int_equal(rooms_update_allowed(ME, U2, 1, &in, err, sizeof(err)), 403);
	assert_non_null(strstr(err, "may add"));
	/* ... nor remove others */
	in.nadd = 0;
	assert_int_equal(rooms_update_allowed(ME, U1, 1, &in, err, sizeof(err)), 403);
	assert_non_null(strstr(err, "may remove other"));
	/* ... but may leave */
	in.rm = rm_self;
	assert_int_equal(rooms_update_allowed(ME, U1, 1, &in, err, sizeof(err)), 0);
	/* a room without a known owner: leaving still works */
	assert_int_equal(rooms_update_allowed(ME, "", 1, &in, err, sizeof(err)), 0);
	/* the owner's own id is allowed (skipped by rooms_skip_owner) */
	assert_int_equal(rooms_update_allowed(ME, ME, 1, &in, err, sizeof(err)), 0);
}

static void test_delete_rules(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(rooms_delete_allowed(ME, ME, 1, 9, err, sizeof(err)), 0);
	assert_int_equal(rooms_delete_allowed(ME, U1, 1, 9, err, sizeof(err)), 403);
	assert_string_equal(err, "only the owner may delete room 9");
	/* a legacy room without an owner: nobody may delete it */
	assert_int_equal(rooms_delete_allowed(ME, "", 1, 9, err, sizeof(err)), 403);
	/* not a participant: as if the room did not exist, whoever owns it */
	assert_int_equal(rooms_delete_allowed(ME, ME, 0, 9, err, sizeof(err)), 404);
	assert_string_equal(err, "room 9 not found");
	assert_int_equal(rooms_delete_allowed(ME, "", 0, 9, err, sizeof(err)), 404);
}

static void test_skip_owner(void **state)
{
	char rm[3][UUID_STR_SIZE] = { U1, ME, U2 };
	struct rooms_update_in in = { .room_id = 4, .rm = rm, .nrm = 3 };

	(void)state;
	/* what the app sends when the owner empties a room: [other, owner] */
	rooms_skip_owner(&in, ME);
	assert_int_equal(in.nrm, 2);
	assert_string_equal(in.rm[0], U1);
	assert_string_equal(in.rm[1], U2);
	/* an owner not in the list changes nothing */
	rooms_skip_owner(&in, ME);
	assert_int_equal(in.nrm, 2);
	/* only the owner's id goes */
	rooms_skip_owner(&in, U2);
	assert_int_equal(in.nrm, 1);
	assert_string_equal(in.rm[0], U1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_create),
		cmocka_unit_test(test_parse_update),
		cmocka_unit_test(test_parse_list_max),
		cmocka_unit_test(test_members_check),
		cmocka_unit_test(test_parse_page),
		cmocka_unit_test(test_update_rules),
		cmocka_unit_test(test_delete_rules),
		cmocka_unit_test(test_skip_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
