#include "evt.h"
#include "jsonutil.h"
#include "sbuf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static const char *const evt_names[] = { "room", "disconnect", "ban", "message", "connected" };

_Static_assert(sizeof(evt_names) / sizeof(evt_names[0]) == EVT_NTYPES,
	       "one name per enum evt_type");

const char *evt_type_name(enum evt_type t)
{
	return (unsigned)t < EVT_NTYPES ? evt_names[t] : "?";
}
#define EVT_MAX_USERS 100000	/* a room event lists at most this many ids */

/* ,"key":"text" with text escaped; NULL is "". */
static void evt_str(struct sbuf *b, const char *key, const char *text)
{
	sbuf_addf(b, ",\"%s\":", key);
	sbuf_json_str(b, text ? text : "", text ? strlen(text) : 0);
}

/* ,"key":["id",...] */
static void evt_ids(struct sbuf *b, const char *key, char (*ids)[UUID_STR_SIZE], size_t n)
{
	sbuf_addf(b, ",\"%s\":[", key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			sbuf_add(b, ",", 1);
		sbuf_json_str(b, ids[i], strlen(ids[i]));
	}
	sbuf_add(b, "]", 1);
}

char *evt_encode(const struct evt *e, size_t *len)
{
	struct sbuf b;

	*len = 0;
	if ((unsigned)e->type >= EVT_NTYPES)
		return NULL;
	/* written with the project's one JSON writer (sbuf.h) */
	sbuf_init(&b, 256 + (e->message ? strlen(e->message) * 2 : 0));
	sbuf_addf(&b, "{\"v\":1,\"type\":\"%s\",\"at\":%lld", evt_names[e->type],
		  (long long)e->at_ms);
	switch (e->type) {
	case EVT_ROOM:
		sbuf_addf(&b, ",\"room_id\":%lld,\"deleted\":%s", (long long)e->room_id,
			  e->deleted ? "true" : "false");
		/*
		 * A deleted room is named by its id alone: a receiver drops
		 * the whole room, and listing a big room's members made the
		 * event megabytes that every daemon decoded (issue 10).
		 */
		if (e->deleted)
			break;
		evt_ids(&b, "added", e->added, e->nadded);
		evt_ids(&b, "removed", e->removed, e->nremoved);
		break;
	case EVT_DISCONNECT:
	case EVT_BAN:
		evt_str(&b, "user", e->user);
		break;
	case EVT_MESSAGE:
		sbuf_addf(&b, ",\"room_id\":%lld,\"id\":%lld,\"prev\":%lld", (long long)e->room_id,
			  (long long)e->msg_id, (long long)e->prev_id);
		evt_str(&b, "sender_id", e->user);
		evt_str(&b, "message", e->message);
		evt_str(&b, "created_at", e->created_at);
		sbuf_addf(&b, ",\"origin\":%d", e->origin);
		break;
	case EVT_CONNECTED:
		evt_str(&b, "user", e->user);
		sbuf_addf(&b, ",\"origin\":%d,\"conn\":%llu", e->origin,
			  (unsigned long long)e->conn);
		break;
	}
	sbuf_add(&b, "}", 1);
	return sbuf_detach(&b, len);
}

/* A required field: present and of the right type, else -1 naming it. */
static int evt_need(int got, const char *key, char *err, size_t errlen)
{
	if (got == 1)
		return 0;
	if (got == 0)
		snprintf(err, errlen, "event field '%s' is missing", key);
	return -1;
}

static int evt_user(json_object *o, const char *key, char out[UUID_STR_SIZE],
		    char *err, size_t errlen)
{
	const char *s = NULL;

	if (evt_need(json_get_string(o, key, &s, err, errlen), key, err, errlen))
		return -1;
	if (uuid_norm(s, out)) {
		snprintf(err, errlen, "event field '%s' is not a UUID", key);
		return -1;
	}
	return 0;
}

/* An id field: positive, else -1 naming it. */
static int evt_id(int64_t v, const char *key, char *err, size_t errlen)
{
	if (v > 0)
		return 0;
	snprintf(err, errlen, "event field '%s' is not a positive id", key);
	return -1;
}

/* A daemon index: 0 or more and an int, else -1. */
static int evt_origin(int64_t v, int *out, char *err, size_t errlen)
{
	if (v < 0 || v > INT_MAX) {
		snprintf(err, errlen, "event field 'origin' is not a daemon index");
		return -1;
	}
	*out = (int)v;
	return 0;
}

/*
 * What no real event says, checked after the types: ids that Postgres
 * never hands out (0, negative), a message whose "prev" is not before it.
 * Such an event is refused like a malformed one, so that it never reaches
 * a room (an id far beyond the room's real ones would hold back every
 * later message). Whether a plausible message really exists is for the
 * receiver to ask Postgres.
 */
static int evt_plausible(const struct evt *e, char *err, size_t errlen)
{
	switch (e->type) {
	case EVT_ROOM:
		return evt_id(e->room_id, "room_id", err, errlen);
	case EVT_MESSAGE:
		if (evt_id(e->room_id, "room_id", err, errlen) ||
		    evt_id(e->msg_id, "id", err, errlen))
			return -1;
		if (e->prev_id < 0 || e->prev_id >= e->msg_id) {
			snprintf(err, errlen, "event field 'prev' (%lld) is not an id before 'id' (%lld)",
				 (long long)e->prev_id, (long long)e->msg_id);
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

int evt_decode(const char *buf, size_t len, struct evt *e, char *err, size_t errlen)
{
	const char *type = NULL;
	int64_t v = 0, n = 0;
	json_object *b;
	unsigned t;

	memset(e, 0, sizeof(*e));
	e->root = json_parse_object(buf, len, "event", err, errlen);
	if (!e->root)
		return -1;
	if (evt_need(json_get_int64(e->root, "v", &v, err, errlen), "v", err, errlen))
		goto fail;
	if (v != 1) {
		snprintf(err, errlen, "event version %lld is not 1", (long long)v);
		goto fail;
	}
	if (evt_need(json_get_string(e->root, "type", &type, err, errlen), "type", err, errlen))
		goto fail;
	for (t = 0; t < EVT_NTYPES && strcmp(type, evt_names[t]); t++)
		;
	if (t == EVT_NTYPES) {
		snprintf(err, errlen, "unknown event type '%.32s'", type);
		goto fail;
	}
	e->type = t;
	if (json_get_int64(e->root, "at", &e->at_ms, err, errlen) < 0)
		goto fail;
	switch (e->type) {
	case EVT_ROOM:
		if (evt_need(json_get_int64(e->root, "room_id", &e->room_id, err, errlen),
			     "room_id", err, errlen))
			goto fail;
		/* json_object_get_boolean() would take "false" (a string) as true */
		if (json_object_object_get_ex(e->root, "deleted", &b) && b) {
			if (!json_object_is_type(b, json_type_boolean)) {
				snprintf(err, errlen, "event field 'deleted' is not a boolean");
				goto fail;
			}
			e->deleted = json_object_get_boolean(b);
		}
		/* a deleted room's lists (older publishers sent them) are not read */
		if (e->deleted)
			break;
		if (json_get_uuid_array(e->root, "added", &e->added, &e->nadded,
					EVT_MAX_USERS, err, errlen) < 0 ||
		    json_get_uuid_array(e->root, "removed", &e->removed, &e->nremoved,
					EVT_MAX_USERS, err, errlen) < 0)
			goto fail;
		break;
	case EVT_DISCONNECT:
	case EVT_BAN:
		if (evt_user(e->root, "user", e->user, err, errlen))
			goto fail;
		break;
	case EVT_MESSAGE:
		if (evt_need(json_get_int64(e->root, "room_id", &e->room_id, err, errlen),
			     "room_id", err, errlen) ||
		    evt_need(json_get_int64(e->root, "id", &e->msg_id, err, errlen),
			     "id", err, errlen) ||
		    evt_user(e->root, "sender_id", e->user, err, errlen) ||
		    evt_need(json_get_string(e->root, "message", &e->message, err, errlen),
			     "message", err, errlen) ||
		    evt_need(json_get_string(e->root, "created_at", &e->created_at, err, errlen),
			     "created_at", err, errlen) ||
		    evt_need(json_get_int64(e->root, "origin", &n, err, errlen),
			     "origin", err, errlen) ||
		    evt_origin(n, &e->origin, err, errlen))
			goto fail;
		if (json_get_int64(e->root, "prev", &e->prev_id, err, errlen) < 0)
			goto fail;
		break;
	case EVT_CONNECTED:
		if (evt_user(e->root, "user", e->user, err, errlen) ||
		    evt_need(json_get_int64(e->root, "origin", &n, err, errlen),
			     "origin", err, errlen) ||
		    evt_origin(n, &e->origin, err, errlen))
			goto fail;
		/*
		 * An integer, not whatever json_object_get_uint64() makes of a
		 * string or a double (1e20 became UINT64_MAX, which evt_encode
		 * wrote and no peer would decode: found by tests/fuzz/fuzz_evt).
		 */
		n = 0;
		if (json_get_int64(e->root, "conn", &n, err, errlen) < 0)
			goto fail;
		if (n < 0) {
			snprintf(err, errlen, "event field 'conn' is not a connection serial");
			goto fail;
		}
		e->conn = (uint64_t)n;
		break;
	}
	if (evt_plausible(e, err, errlen))
		goto fail;
	return 0;
fail:
	evt_release(e);
	return -1;
}

void evt_release(struct evt *e)
{
	free(e->added);
	free(e->removed);
	json_object_put(e->root);
	memset(e, 0, sizeof(*e));
}

int evt_keys_load(struct evt_keys *k, const char *key_file, const char *inbox_files,
		  char *err, size_t errlen)
{
	const char *p = inbox_files, *e;
	char path[512], msg[512];
	size_t n, cap = 0;

	memset(k, 0, sizeof(*k));
	if (*key_file) {
		if (curve_load_pair(key_file, &k->self, msg, sizeof(msg))) {
			snprintf(err, errlen, "CHAT_EVT_KEY_FILE: %s", msg);
			return -1;
		}
		k->has_self = 1;
	}
	for (cap = *p ? 1 : 0, e = p; *e; e++)
		cap += *e == ',';
	if (!cap)
		return 0;
	k->inbox = calloc(cap, sizeof(*k->inbox));
	if (!k->inbox) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		e = strchrnul(p, ',');
		n = (size_t)(e - p);
		if (n >= sizeof(path)) {
			snprintf(err, errlen, "CHAT_EVT_INBOX_KEYS: entry %zu is too long", k->ninbox);
			goto fail;
		}
		memcpy(path, p, n);
		path[n] = '\0';
		/* an empty entry: that inbox is not tcp:// */
		if (n && curve_load_pub(path, k->inbox[k->ninbox], msg, sizeof(msg))) {
			snprintf(err, errlen, "CHAT_EVT_INBOX_KEYS: %s", msg);
			goto fail;
		}
		k->ninbox++;
		if (!*e)
			return 0;
		p = e + 1;
	}
fail:
	evt_keys_release(k);
	return -1;
}

void evt_keys_release(struct evt_keys *k)
{
	free(k->inbox);
	memset(k, 0, sizeof(*k));
}

static int evt_is_tcp(const char *ep)
{
	return !strncmp(ep, "tcp://", 6);
}

/* The public key of inbox i, or NULL. */
static const char *evt_inbox_key(const struct evt_keys *k, int i)
{
	const char *key;

	if (!k || !k->ninbox)
		return NULL;
	if (k->ninbox == 1)
		key = k->inbox[0];	/* one key for every inbox */
	else if ((size_t)i < k->ninbox)
		key = k->inbox[i];
	else
		return NULL;
	return *key ? key : NULL;
}

int evt_endpoint(const char *list, int i, char *ep, size_t len)
{
	const char *s = list, *e;

	for (; i > 0; i--) {
		s = strchr(s, ',');
		if (!s)
			return -1;
		s++;
	}
	e = strchrnul(s, ',');
	if (e == s || (size_t)(e - s) >= len)
		return -1;
	memcpy(ep, s, e - s);
	ep[e - s] = '\0';
	return 0;
}

int evt_pub_open(struct evt_pub *p, void *zctx, const char *endpoints, int skip,
		 const struct evt_keys *keys, char *err, size_t errlen)
{
	int hwm = 100000, linger = 0, ivl = 10, one = 1, count = 1;
	char ep[256], msg[256];

	p->sock = zmq_socket(zctx, ZMQ_PUB);
	if (!p->sock) {
		snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		return -1;
	}
	zmq_setsockopt(p->sock, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof(linger));
	/*
	 * An inbox that is not bound yet (a daemon starting after its peer,
	 * or restarting) is retried every 10-20 ms instead of 100-200 ms:
	 * events published before the connection exists are dropped, so the
	 * window must be short.
	 */
	zmq_setsockopt(p->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	/*
	 * Queue only for inboxes that are connected: an inbox that is down
	 * misses the events meanwhile (it rebuilds from Postgres when it
	 * comes back) instead of receiving stale ones later, such as an old
	 * admin disconnect that would close a newer connection.
	 */
	zmq_setsockopt(p->sock, ZMQ_IMMEDIATE, &one, sizeof(one));
	/* "" lists no inbox; "a," lists two, the second empty */
	if (!*endpoints)
		return 0;
	for (const char *c = endpoints; *c; c++)
		count += *c == ',';
	/*
	 * Two passes: ipc:// (and inproc://) first, then tcp:// with the
	 * CURVE options, which ZeroMQ applies to the connections made after
	 * they are set.
	 */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < count; i++) {
			const char *key;

			if (i == skip)
				continue;
			if (evt_endpoint(endpoints, i, ep, sizeof(ep))) {
				snprintf(err, errlen, "CHAT_EVT_ENDPOINTS: cannot connect to entry %d '': "
					 "it is empty or too long", i);
				goto fail;
			}
			if (evt_is_tcp(ep) != pass)
				continue;
			if (pass) {
				key = evt_inbox_key(keys, i);
				if (!keys || !keys->has_self || !key) {
					snprintf(err, errlen, "CHAT_EVT_ENDPOINTS: entry %d '%s' is tcp://: "
						 "it needs CHAT_EVT_KEY_FILE and its key in "
						 "CHAT_EVT_INBOX_KEYS (chat-keygen)", i, ep);
					goto fail;
				}
				if (curve_make_client(p->sock, &keys->self, key, msg, sizeof(msg))) {
					snprintf(err, errlen, "%s", msg);
					goto fail;
				}
			}
			if (zmq_connect(p->sock, ep) != 0) {
				snprintf(err, errlen,
					 "CHAT_EVT_ENDPOINTS: cannot connect to entry %d '%s': %s",
					 i, ep, zmq_strerror(errno));
				goto fail;
			}
		}
	}
	return 0;
fail:
	evt_pub_close(p);
	return -1;
}

int evt_publish(struct evt_pub *p, const struct evt *e)
{
	size_t len;
	char *buf = evt_encode(e, &len);
	int rc;

	if (!buf)
		return -1;
	rc = zmq_send(p->sock, buf, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
	free(buf);
	return rc;
}

void evt_pub_close(struct evt_pub *p)
{
	if (p->sock)
		zmq_close(p->sock);
	p->sock = NULL;
}

void *evt_sub_open(void *zctx, const char *endpoint, const struct evt_keys *keys,
		   long max_bytes, char *err, size_t errlen)
{
	void *s = zmq_socket(zctx, ZMQ_SUB);
	int64_t max = max_bytes;
	int hwm = 100000;
	char msg[256];

	if (!s) {
		snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		return NULL;
	}
	/* bounded: a flood queues at most hwm events, none larger than max */
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	if (evt_is_tcp(endpoint)) {
		if (!keys || !keys->has_self) {
			snprintf(err, errlen, "event inbox '%s' is tcp://: it needs CHAT_EVT_KEY_FILE "
				 "and CHAT_EVT_ALLOWED_KEYS (chat-keygen); refusing to bind it "
				 "without authentication", endpoint);
			goto fail;
		}
		if (curve_make_server(s, &keys->self, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s", msg);
			goto fail;
		}
	}
	if (zmq_bind(s, endpoint) != 0) {
		snprintf(err, errlen, "cannot bind event inbox '%s': %s", endpoint,
			 zmq_strerror(errno));
		goto fail;
	}
	return s;
fail:
	zmq_close(s);
	return NULL;
}

int evt_sub_recv(void *sock, struct evt *e, char *err, size_t errlen)
{
	zmq_msg_t m;
	int rc;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
		int no = errno;

		zmq_msg_close(&m);
		if (no == EAGAIN || no == EINTR)
			return EVT_RECV_NONE;
		snprintf(err, errlen, "receiving an event failed: %s", zmq_strerror(no));
		return EVT_RECV_ERROR;
	}
	rc = evt_decode(zmq_msg_data(&m), zmq_msg_size(&m), e, err, errlen) ?
		EVT_RECV_BAD : EVT_RECV_EVENT;
	zmq_msg_close(&m);
	return rc;
}
