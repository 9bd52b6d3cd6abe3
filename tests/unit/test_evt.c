/* evt: every event type survives encode -> decode; bad frames are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <zmq.h>

#include "evt.h"

static void roundtrip(const struct evt *in, struct evt *out)
{
	char err[128];
	size_t len;
	char *buf = evt_encode(in, &len);

	assert_non_null(buf);
	assert_int_equal(evt_decode(buf, len, out, err, sizeof(err)), 0);
	free(buf);
	assert_int_equal(out->type, in->type);
	assert_int_equal(out->at_ms, in->at_ms);
}

static void test_room(void **state)
{
	char added[2][UUID_STR_SIZE] = { "00000000-0000-0000-0000-00000000000a",
			      "00000000-0000-0000-0000-00000000000b" };
	char removed[1][UUID_STR_SIZE] = { "00000000-0000-0000-0000-00000000000c" };
	struct evt e = { .type = EVT_ROOM, .at_ms = 1764000000123, .room_id = 77,
			 .added = added, .nadded = 2, .removed = removed, .nremoved = 1 };
	struct evt d;

	(void)state;
	roundtrip(&e, &d);
	assert_int_equal(d.room_id, 77);
	assert_int_equal(d.deleted, 0);
	assert_int_equal(d.nadded, 2);
	assert_string_equal(d.added[1], added[1]);
	assert_int_equal(d.nremoved, 1);
	assert_string_equal(d.removed[0], removed[0]);
	evt_release(&d);
	e.deleted = 1;
	e.nadded = 0;
	roundtrip(&e, &d);
	assert_int_equal(d.deleted, 1);
	assert_int_equal(d.nadded, 0);
	evt_release(&d);
}

/*
 * A deleted room's event names the room only, whatever lists the caller
 * hands in (REST passes the former members): its size does not grow with
 * the room, and a decoder ignores lists an older publisher still sends.
 */
static void test_room_deleted_carries_no_lists(void **state)
{
	enum { N = 20000 };
	char (*former)[UUID_STR_SIZE] = calloc(N, UUID_STR_SIZE);
	struct evt e = { .type = EVT_ROOM, .at_ms = 7, .room_id = 4242, .deleted = 1 };
	const char *old = "{\"v\":1,\"type\":\"room\",\"at\":7,\"room_id\":5,\"deleted\":true,"
			  "\"added\":[],\"removed\":[\"00000000-0000-0000-0000-00000000000c\"]}";
	struct evt d;
	char err[128], *buf;
	size_t len;

	(void)state;
	assert_non_null(former);
	for (size_t i = 0; i < N; i++)
		snprintf(former[i], UUID_STR_SIZE, "00000000-0000-4000-8000-%012zx", i);
	e.removed = former;
	e.nremoved = N;
	buf = evt_encode(&e, &len);
	assert_non_null(buf);
	assert_string_equal(buf, "{\"v\":1,\"type\":\"room\",\"at\":7,\"room_id\":4242,"
			    "\"deleted\":true}");
	assert_int_equal(evt_decode(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.room_id, 4242);
	assert_int_equal(d.deleted, 1);
	assert_int_equal(d.nremoved, 0);
	assert_null(d.removed);
	evt_release(&d);
	free(buf);
	free(former);
	assert_int_equal(evt_decode(old, strlen(old), &d, err, sizeof(err)), 0);
	assert_int_equal(d.deleted, 1);
	assert_int_equal(d.room_id, 5);
	assert_int_equal(d.nremoved, 0);
	evt_release(&d);
}

static void test_message_and_users(void **state)
{
	struct evt e = { .type = EVT_MESSAGE, .at_ms = 5, .room_id = 3, .msg_id = 9001,
			 .user = "00000000-0000-0000-0000-0000000000ff",
			 .message = "hi \"there\" / ünïcode", .created_at = "2026-11-25T17:55:15.123456+00:00",
			 .origin = 1 };
	struct evt d;

	(void)state;
	roundtrip(&e, &d);
	assert_int_equal(d.msg_id, 9001);
	assert_string_equal(d.message, e.message);
	assert_string_equal(d.created_at, e.created_at);
	assert_string_equal(d.user, e.user);
	assert_int_equal(d.origin, 1);
	evt_release(&d);

	for (int t = EVT_DISCONNECT; t <= EVT_BAN; t++) {
		struct evt u = { .type = t, .at_ms = 6, .user = "00000000-0000-0000-0000-000000000001" };

		roundtrip(&u, &d);
		assert_string_equal(d.user, u.user);
		evt_release(&d);
	}
	e = (struct evt){ .type = EVT_CONNECTED, .at_ms = 7, .origin = 2, .conn = 1ULL << 40,
			  .user = "00000000-0000-0000-0000-000000000002" };
	roundtrip(&e, &d);
	assert_int_equal(d.origin, 2);
	assert_true(d.conn == 1ULL << 40);
	evt_release(&d);
}

#define UID "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
/* A message event with room_id, id, prev and origin as given. */
#define MSG(room, id, prev, origin) \
	"{\"v\":1,\"type\":\"message\",\"room_id\":" room ",\"id\":" id ",\"prev\":" prev \
	",\"sender_id\":\"" UID "\",\"message\":\"hi\",\"created_at\":\"c\",\"origin\":" origin "}"

static void test_refusals(void **state)
{
	static const char *const bad[][2] = {
		{ "not json", "event is not valid JSON" },
		{ "{\"v\":2,\"type\":\"ban\"}", "event version 2 is not 1" },
		{ "{\"type\":\"ban\"}", "event field 'v' is missing" },
		{ "{\"v\":1,\"type\":\"party\"}", "unknown event type 'party'" },
		{ "{\"v\":1,\"type\":\"ban\",\"user\":\"x\"}", "event field 'user' is not a UUID" },
		{ "{\"v\":1,\"type\":\"room\"}", "event field 'room_id' is missing" },
		{ "{\"v\":1,\"type\":\"room\",\"room_id\":1,\"added\":[\"x\"]}", "field 'added'[0] is not a valid UUID" },
		/* implausible: no real event says this */
		{ "{\"v\":1,\"type\":\"room\",\"room_id\":0}", "event field 'room_id' is not a positive id" },
		{ MSG("-5", "7", "3", "0"), "event field 'room_id' is not a positive id" },
		{ MSG("5", "0", "0", "0"), "event field 'id' is not a positive id" },
		{ MSG("5", "-7", "0", "0"), "event field 'id' is not a positive id" },
		{ MSG("5", "7", "7", "0"), "event field 'prev' (7) is not an id before 'id' (7)" },
		{ MSG("5", "7", "9223372036854775807", "0"),
		  "event field 'prev' (9223372036854775807) is not an id before 'id' (7)" },
		{ MSG("5", "7", "-1", "0"), "event field 'prev' (-1) is not an id before 'id' (7)" },
		{ MSG("5", "7", "3", "-1"), "event field 'origin' is not a daemon index" },
		{ MSG("5", "7", "3", "4294967296"), "event field 'origin' is not a daemon index" },
		{ "{\"v\":1,\"type\":\"connected\",\"user\":\"" UID "\",\"origin\":-2}",
		  "event field 'origin' is not a daemon index" },
		/* mistyped fields a lax getter would have turned into values (fuzz_evt) */
		{ "{\"v\":1,\"type\":\"connected\",\"user\":\"" UID "\",\"origin\":0,\"conn\":1e20}",
		  "field 'conn' must be an integer" },
		{ "{\"v\":1,\"type\":\"connected\",\"user\":\"" UID "\",\"origin\":0,\"conn\":\"12\"}",
		  "field 'conn' must be an integer" },
		{ "{\"v\":1,\"type\":\"connected\",\"user\":\"" UID "\",\"origin\":0,\"conn\":-1}",
		  "event field 'conn' is not a connection serial" },
		{ "{\"v\":1,\"type\":\"room\",\"room_id\":1,\"deleted\":\"false\"}",
		  "event field 'deleted' is not a boolean" },
	};
	struct evt d;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(evt_decode(bad[i][0], strlen(bad[i][0]), &d, err, sizeof(err)), -1);
		assert_string_equal(err, bad[i][1]);
	}
	/* the edges that are plausible */
	assert_int_equal(evt_decode(MSG("1", "1", "0", "0"), strlen(MSG("1", "1", "0", "0")),
				    &d, err, sizeof(err)), 0);
	evt_release(&d);
	assert_int_equal(evt_decode(MSG("1", "9223372036854775807", "9223372036854775806", "3"),
				    strlen(MSG("1", "9223372036854775807", "9223372036854775806", "3")),
				    &d, err, sizeof(err)), 0);
	assert_int_equal(d.origin, 3);
	evt_release(&d);
}

/* The message event's "prev" survives a round trip. */
static void test_evt_prev(void **state)
{
	struct evt e = { .type = EVT_MESSAGE, .room_id = 3, .msg_id = 10, .prev_id = 9,
			 .message = "m", .created_at = "c", .origin = 1 }, d;
	char err[128], *buf;
	size_t len;

	(void)state;
	strcpy(e.user, "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab");
	buf = evt_encode(&e, &len);
	assert_non_null(buf);
	assert_int_equal(evt_decode(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.prev_id, 9);
	assert_int_equal(d.msg_id, 10);
	evt_release(&d);
	free(buf);
}

/* evt_pub_open() with endpoints and keys: 0, or -1 with want in the message. */
static void pub_keys(void *zctx, const char *endpoints, int skip, const struct evt_keys *k,
		     const char *want)
{
	struct evt_pub p = { 0 };
	char err[256] = "";
	int rc = evt_pub_open(&p, zctx, endpoints, skip, k, err, sizeof(err));

	if (!want) {
		assert_int_equal(rc, 0);
		evt_pub_close(&p);
		return;
	}
	assert_int_equal(rc, -1);
	assert_null(p.sock);
	assert_non_null(strstr(err, want));
}

static void pub(void *zctx, const char *endpoints, int skip, const char *want)
{
	pub_keys(zctx, endpoints, skip, NULL, want);
}

static void test_pub_endpoints(void **state)
{
	void *zctx = zmq_ctx_new();

	(void)state;
	assert_non_null(zctx);
	pub(zctx, "", -1, NULL);
	/* ZeroMQ connects in the background: no inbox needs to be bound */
	pub(zctx, "ipc:///tmp/a.sock,ipc:///tmp/b.sock", -1, NULL);
	pub(zctx, "ipc:///tmp/a.sock,,ipc:///tmp/b.sock", 1, NULL);
	pub(zctx, "ipc:///tmp/a.sock,", -1, "entry 1 ''");
	pub(zctx, "ipc:///tmp/a.sock,,ipc:///tmp/b.sock", -1, "entry 1 ''");
	pub(zctx, "ipc:///tmp/a.sock,nonsense", 0, "entry 1 'nonsense'");
	zmq_ctx_term(zctx);
}

/* One entry of the endpoint list. */
static void test_endpoint_entries(void **state)
{
	const char *list = "ipc:///tmp/a,tcp://127.0.0.1:5602";
	char ep[64];

	(void)state;
	assert_int_equal(evt_endpoint(list, 0, ep, sizeof(ep)), 0);
	assert_string_equal(ep, "ipc:///tmp/a");
	assert_int_equal(evt_endpoint(list, 1, ep, sizeof(ep)), 0);
	assert_string_equal(ep, "tcp://127.0.0.1:5602");
	assert_int_equal(evt_endpoint(list, 2, ep, sizeof(ep)), -1);
	assert_int_equal(evt_endpoint(list, 1, ep, 8), -1);	/* too small */
	assert_int_equal(evt_endpoint("a,,b", 1, ep, sizeof(ep)), -1);	/* empty */
}

/* tcp:// inboxes are reached over CURVE only: keys or a refusal. */
static void test_pub_tcp_needs_keys(void **state)
{
	void *zctx = zmq_ctx_new();
	char inbox[2][CURVE_Z85_SIZE], err[256];
	struct curve_pair server;
	struct evt_keys k = { 0 };

	(void)state;
	pub(zctx, "tcp://127.0.0.1:9", -1, "needs CHAT_EVT_KEY_FILE");
	pub(zctx, "ipc:///tmp/a.sock,tcp://127.0.0.1:9", 1, NULL);	/* skipped */
	assert_int_equal(curve_keypair(&k.self, err, sizeof(err)), 0);
	pub_keys(zctx, "tcp://127.0.0.1:9", -1, &k, "needs CHAT_EVT_KEY_FILE");
	k.has_self = 1;
	pub_keys(zctx, "tcp://127.0.0.1:9", -1, &k, "CHAT_EVT_INBOX_KEYS");
	assert_int_equal(curve_keypair(&server, err, sizeof(err)), 0);
	memcpy(inbox[0], server.pub, CURVE_Z85_SIZE);
	k.inbox = inbox;
	k.ninbox = 1;	/* one key for every inbox */
	pub_keys(zctx, "tcp://127.0.0.1:9,tcp://127.0.0.1:10", -1, &k, NULL);
	inbox[1][0] = '\0';	/* inbox 1 has no key */
	k.ninbox = 2;
	pub_keys(zctx, "tcp://127.0.0.1:9,tcp://127.0.0.1:10", -1, &k, "entry 1");
	pub_keys(zctx, "tcp://127.0.0.1:9,ipc:///tmp/b.sock", -1, &k, NULL);
	zmq_ctx_term(zctx);
}

/* Events, bad frames, silence and a failing socket are four answers. */
static void test_sub_recv(void **state)
{
	struct evt e = { .type = EVT_BAN, .at_ms = 1, .user = "00000000-0000-0000-0000-00000000000b" };
	void *zctx = zmq_ctx_new(), *sub, *pub;
	char err[128], *buf;
	struct evt got;
	size_t len;
	int rc = EVT_RECV_NONE;

	(void)state;
	sub = evt_sub_open(zctx, "inproc://evt-recv", NULL, 4096, err, sizeof(err));
	assert_non_null(sub);
	pub = zmq_socket(zctx, ZMQ_PUB);
	assert_int_equal(zmq_connect(pub, "inproc://evt-recv"), 0);
	assert_int_equal(evt_sub_recv(sub, &got, err, sizeof(err)), EVT_RECV_NONE);
	buf = evt_encode(&e, &len);
	/* until the subscription has reached the publisher */
	for (int i = 0; i < 500 && rc == EVT_RECV_NONE; i++) {
		zmq_send(pub, buf, len, 0);
		zmq_poll(&(zmq_pollitem_t){ .socket = sub, .events = ZMQ_POLLIN }, 1, 10);
		rc = evt_sub_recv(sub, &got, err, sizeof(err));
	}
	free(buf);
	assert_int_equal(rc, EVT_RECV_EVENT);
	assert_string_equal(got.user, e.user);
	evt_release(&got);
	while (evt_sub_recv(sub, &got, err, sizeof(err)) == EVT_RECV_EVENT)
		evt_release(&got);	/* the probes sent meanwhile */
	zmq_send(pub, "not json", 8, 0);
	zmq_poll(&(zmq_pollitem_t){ .socket = sub, .events = ZMQ_POLLIN }, 1, 1000);
	assert_int_equal(evt_sub_recv(sub, &got, err, sizeof(err)), EVT_RECV_BAD);
	assert_int_equal(evt_sub_recv(sub, &got, err, sizeof(err)), EVT_RECV_NONE);
	/* a terminated context is an error, not silence */
	zmq_ctx_shutdown(zctx);
	err[0] = '\0';
	assert_int_equal(evt_sub_recv(sub, &got, err, sizeof(err)), EVT_RECV_ERROR);
	assert_non_null(strstr(err, "receiving an event failed"));
	zmq_close(pub);
	zmq_close(sub);
	zmq_ctx_term(zctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_room_deleted_carries_no_lists),
		cmocka_unit_test(test_message_and_users),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_evt_prev),
		cmocka_unit_test(test_pub_endpoints),
		cmocka_unit_test(test_endpoint_entries),
		cmocka_unit_test(test_pub_tcp_needs_keys),
		cmocka_unit_test(test_sub_recv),
	};

	return cmocka_run_group_tests_name("evt", tests, NULL, NULL);
}
