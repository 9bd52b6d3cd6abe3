/*
 * The worker's answers, the bus's events and the in-order release of
 * committed messages to rooms' members (deliver.h).
 */
#include "deliver.h"
#include "chrono.h"
#include "daemon.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELIVER_GAP_TICK_US (50 * LWS_US_PER_MS)

/* ---- rooms: loading and in-order delivery ---- */

static void deliver_gap_tick(lws_sorted_usec_list_t *sul);

/* Ask the worker for a room's members (answer: deliver_room_loaded). */
static void deliver_load_room(struct daemon *d, int64_t room_id)
{
	struct store_job *j = store_job_new(STORE_LOAD_ROOM, NULL);

	if (!j) {
		log_error("out of memory loading room %lld", (long long)room_id);
		d->deliver.loads_failed++;	/* deliver_retry_loads() tries again */
		return;
	}
	j->room_id = room_id;
	store_submit(&d->store, j);
}

static void deliver_schedule_gap(struct daemon *d)
{
	if (d->deliver.gap_scheduled || !d->ctx)
		return;
	d->deliver.gap_scheduled = 1;
	lws_sul_schedule(d->ctx, 0, &d->deliver.sul_gap, deliver_gap_tick, DELIVER_GAP_TICK_US);
}

/* Deliver what room rm may release now to its locally connected members. */
static void deliver_drain_room(struct daemon *d, struct room *rm)
{
	int64_t now = chrono_wall_ms();
	struct room_msg *m;

	while ((m = room_next(rm, now, DELIVER_GAP_MS))) {
		for (uint32_t i = 0; i < rm->n; i++) {
			struct conn *t;

			if (uuid_eq(&rm->members[i], &m->sender))
				continue;	/* never back to the sender */
			t = conns_user(&d->conns, &rm->members[i]);
			if (!t || t->closing)
				continue;
			/* held until its ban check passes (conn_admit) */
			conn_deliver(&d->conns, t, m->frame);
			d->deliver.delivered++;
		}
		room_msg_free(m);
	}
	if (rm->held && rm->state == ROOM_READY)
		deliver_schedule_gap(d);
}

/*
 * A committed message, ours or a peer's: hold it in its room (loading the
 * room on first sight) and release what is in order.
 */
static void deliver_committed(struct daemon *d, int64_t room_id, int64_t id,
			      int64_t prev_id, const char *sender, const char *message,
			      size_t message_len, const char *created_at)
{
	struct room_msg *m = calloc(1, sizeof(*m));
	struct room *rm;

	if (!m || uuid_parse(sender, &m->sender))
		goto fail;
	m->id = id;
	m->prev_id = prev_id;
	m->frame = proto_received(room_id, sender, message, message_len, id, created_at);
	if (!m->frame)
		goto fail;
	rm = rcache_get(&d->rooms, room_id);
	if (!rm) {
		rm = rcache_add(&d->rooms, room_id);
		if (!rm)
			goto fail;
		deliver_load_room(d, room_id);
	}
	rm->used_ms = chrono_wall_ms();
	room_hold(rm, m);
	deliver_drain_room(d, rm);
	return;
fail:
	log_error("out of memory delivering message %lld", (long long)id);
	room_msg_free(m);
}

static int deliver_gap_room(struct room *rm, void *arg)
{
	struct daemon *d = arg;

	if (rm->held && rm->state == ROOM_READY)
		deliver_drain_room(d, rm);
	return 0;
}

static void deliver_gap_tick(lws_sorted_usec_list_t *sul)
{
	struct daemon *d = lws_container_of(sul, struct daemon, deliver.sul_gap);

	d->deliver.gap_scheduled = 0;
	rcache_sweep(&d->rooms, deliver_gap_room, d);
}

static int deliver_retry_room(struct room *rm, void *arg)
{
	struct daemon *d = arg;

	if (rm->state == ROOM_LOADING)
		deliver_load_room(d, rm->id);
	return 0;
}

void deliver_retry_loads(struct daemon *d)
{
	if (d->deliver.loads_failed) {
		d->deliver.loads_failed = 0;
		rcache_sweep(&d->rooms, deliver_retry_room, d);
	}
}

struct deliver_idle {
	int64_t now_ms, idle_ms;
};

static int deliver_evict_room(struct room *rm, void *arg)
{
	const struct deliver_idle *t = arg;

	return rm->state == ROOM_READY && !rm->held && t->now_ms - rm->used_ms > t->idle_ms;
}

void deliver_evict_rooms(struct daemon *d, int64_t now_ms, int64_t idle_ms)
{
	struct deliver_idle t = { now_ms, idle_ms };

	rcache_sweep(&d->rooms, deliver_evict_room, &t);
}

/* ---- peers' messages: confirmed in Postgres first ---- */

/*
 * A peer's message event is a claim until Postgres confirms it: only then
 * may it enter its room, so a forged or corrupted one can neither show
 * its text to anyone nor move the room's release point past the real
 * messages (an id beyond them would make room_hold() drop them all).
 * The worker checks it (STORE_VERIFY); the answer is deliver_verified().
 */
static void deliver_verify(struct daemon *d, const struct evt *e)
{
	struct store_job *j = store_job_verify(e->user, e->room_id, e->msg_id, e->message,
					       strlen(e->message));

	if (!j) {
		log_error("out of memory verifying message %lld", (long long)e->msg_id);
		d->deliver.unverified++;
		return;
	}
	store_submit(&d->store, j);
}

/* A peer's message that is not delivered: counted, logged at most once a second. */
static void deliver_drop(struct daemon *d, const struct store_job *j, uint64_t *counter,
			 const char *why)
{
	unsigned long skipped;

	(*counter)++;
	if (log_limit_pass(&d->deliver.drop_log, 1000, &skipped))
		log_warn("event: message %lld in room %lld from %s dropped: %s "
			 "(%llu not in Postgres, %llu unchecked so far; %lu not logged)",
			 (long long)j->id, (long long)j->room_id, j->user, why,
			 (unsigned long long)d->deliver.unconfirmed,
			 (unsigned long long)d->deliver.unverified, skipped);
}

static void deliver_verified(struct daemon *d, struct store_job *j)
{
	switch (j->status) {
	case STORE_OK:
		deliver_committed(d, j->room_id, j->id, j->prev_id, j->user, j->message,
				  j->message_len, j->created_at);
		break;
	case STORE_UNKNOWN:
		deliver_drop(d, j, &d->deliver.unconfirmed,
			     "Postgres has no such message (id, room, sender and text)");
		break;
	default:
		deliver_drop(d, j, &d->deliver.unverified, "Postgres could not be asked");
		break;
	}
}

/* ---- the worker's answers ---- */

static void deliver_send_done(struct daemon *d, struct store_job *j)
{
	struct conn *c = j->owner;

	d->inflight--;
	conn_answered(&d->conns, c);
	switch (j->status) {
	case STORE_OK:
	case STORE_DUP:
		conn_confirm(&d->conns, c, 1, "", j->temp_id, j->temp_len, j->id, j->created_at);
		break;
	case STORE_FORBIDDEN:
		conn_unauthorized(&d->conns, c, j->room_id, j->temp_id, j->temp_len);
		break;
	case STORE_BANNED:
		conn_confirm(&d->conns, c, 0, "user is banned", j->temp_id, j->temp_len, 0, NULL);
		conn_close(&d->conns, c, CLOSE_BANNED, "user is banned");
		break;
	default:
		conn_confirm(&d->conns, c, 0, "server error", j->temp_id, j->temp_len, 0, NULL);
		break;
	}
	if (j->status == STORE_OK) {
		struct evt e = {
			.type = EVT_MESSAGE, .at_ms = chrono_wall_ms(), .room_id = j->room_id,
			.msg_id = j->id, .prev_id = j->prev_id, .message = j->message,
			.created_at = j->created_at, .origin = d->cfg->ws_id,
		};

		log_debug("stored message %lld (after %lld) in room %lld",
			  (long long)j->id, (long long)j->prev_id, (long long)j->room_id);
		memcpy(e.user, j->user, sizeof(e.user));
		/* every peer sees every message: their in-order chains need it */
		if (bus_publish(&d->bus, &e))
			log_warn("message %lld not published to the peers", (long long)j->id);
		deliver_committed(d, j->room_id, j->id, j->prev_id, j->user, j->message,
				  j->message_len, j->created_at);
	}
	conn_put(&d->conns, c);
}

/*
 * The answer to a new connection's ban check. Fail closed: only a check
 * that passed admits it to deliveries; one that could not be made
 * (Postgres unavailable) closes it with 4006, a code the app reconnects
 * on, so that it is checked again rather than served unchecked.
 */
static void deliver_ban_checked(struct daemon *d, struct conn *c, enum store_status st)
{
	if (!c->wsi || c->closing)
		return;
	switch (st) {
	case STORE_OK:
		conn_admit(&d->conns, c);
		break;
	case STORE_BANNED:
		conn_close(&d->conns, c, CLOSE_BANNED, "user is banned");
		break;
	default:
		log_warn("connection %llu: ban check failed, closed",
			 (unsigned long long)c->serial);
		conn_close(&d->conns, c, CLOSE_SERVER_ERROR,
			   "the ban status could not be checked; reconnect");
		break;
	}
}

static void deliver_room_loaded(struct daemon *d, struct store_job *j)
{
	struct room *rm = rcache_get(&d->rooms, j->room_id);

	if (!rm)
		return;		/* deleted meanwhile */
	if (j->status != STORE_OK) {
		/*
		 * Postgres could not say who is in the room: nobody is
		 * assumed to be. A room that was ready waits as well (its
		 * messages are held, nobody receives them) until a retry
		 * (deliver_retry_loads) reads the members: the reload was
		 * asked for because the membership changed.
		 */
		rm->state = ROOM_LOADING;
		d->deliver.loads_failed++;
		return;
	}
	if (room_set_members(rm, j->members, j->nmembers)) {
		log_error("out of memory loading room %lld", (long long)j->room_id);
		return;
	}
	room_start(rm, j->base_id);
	deliver_drain_room(d, rm);
}

static int deliver_flush_room(struct room *rm, void *arg)
{
	struct daemon *d = arg;

	if (!rm->held)
		return 1;
	rm->state = ROOM_LOADING;
	deliver_load_room(d, rm->id);
	return 0;
}

void deliver_store_answers(struct daemon *d)
{
	struct store_job *j, *next;

	for (j = store_take(&d->store); j; j = next) {
		struct conn *c = j->owner;

		next = store_job_next(j);
		switch (j->type) {
		case STORE_SEND:
			deliver_send_done(d, j);
			break;
		case STORE_BANCHECK:
			deliver_ban_checked(d, c, j->status);
			conn_put(&d->conns, c);
			break;
		case STORE_LOAD_ROOM:
			deliver_room_loaded(d, j);
			break;
		case STORE_VERIFY:
			deliver_verified(d, j);
			break;
		case STORE_RECONNECTED:
			/* events may have been missed meanwhile: rebuild */
			log_info("database back: rebuilding the room cache");
			rcache_sweep(&d->rooms, deliver_flush_room, d);
			break;
		}
		store_job_free(j);
	}
}

/* ---- events from the REST tier and the peers ---- */

static void deliver_event(struct daemon *d, struct evt *e)
{
	struct uuid user;
	struct room *rm;
	struct conn *c;

	switch (e->type) {
	case EVT_ROOM:
		rm = rcache_get(&d->rooms, e->room_id);
		if (e->deleted) {
			rcache_del(&d->rooms, e->room_id);
			break;
		}
		if (!rm)
			break;	/* not cached: loaded fresh when needed */
		/*
		 * Removals apply at once (failing closed costs at most a
		 * delivery); additions only come from Postgres' answer to the
		 * reload below, so an event can never make a non-member one.
		 */
		for (size_t i = 0; i < e->nremoved; i++)
			if (!uuid_parse(e->removed[i], &user))
				room_remove_member(rm, &user);
		rm->used_ms = chrono_wall_ms();
		/* the event is a hint: Postgres has the full truth */
		deliver_load_room(d, e->room_id);
		break;
	case EVT_DISCONNECT:
	case EVT_BAN:
		if (uuid_parse(e->user, &user))
			break;
		c = conns_user(&d->conns, &user);
		if (!c)
			break;
		if (e->type == EVT_BAN)
			conn_close(&d->conns, c, CLOSE_BANNED, "user is banned");
		else
			conn_close(&d->conns, c, CLOSE_ADMIN, "disconnected by an administrator");
		break;
	case EVT_MESSAGE:
		log_debug("event: message %lld (after %lld) in room %lld from daemon %d",
			  (long long)e->msg_id, (long long)e->prev_id, (long long)e->room_id,
			  e->origin);
		if (e->origin == d->cfg->ws_id)
			break;
		deliver_verify(d, e);
		break;
	case EVT_CONNECTED:
		if (e->origin == d->cfg->ws_id || uuid_parse(e->user, &user))
			break;
		c = conns_user(&d->conns, &user);
		/* the newer connection wins; equal times: the higher daemon id */
		if (c && (c->connected_ms < e->at_ms ||
			  (c->connected_ms == e->at_ms && d->cfg->ws_id < e->origin)))
			conn_close(&d->conns, c, CLOSE_NEW_DEVICE, "connected from another device");
		break;
	}
}

void deliver_bus_events(struct daemon *d)
{
	struct bus_item *it, *next;

	for (it = bus_take(&d->bus); it; it = next) {
		next = bus_item_next(it);
		deliver_event(d, &it->e);
		bus_item_free(it);
	}
}
