/*
 * What reaches the service thread from elsewhere: the worker's answers
 * (confirmations, room loads), the bus's events (membership, admin
 * actions, peers' messages), and the in-order release of committed
 * messages to a room's connected members. See chat.h.
 */
#include "chat.h"
#include "chrono.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_GAP_TICK_US (50 * LWS_US_PER_MS)

/* ---- rooms: loading and in-order delivery ---- */

void chat_load_room(struct chat *ch, int64_t room_id)
{
	struct store_job *j = store_job_new(STORE_LOAD_ROOM, NULL);

	if (!j) {
		log_error("out of memory loading room %lld", (long long)room_id);
		ch->loads_failed++;	/* the sweep tries again */
		return;
	}
	j->room_id = room_id;
	store_submit(&ch->store, j);
}

static void chat_schedule_gap(struct chat *ch)
{
	if (ch->gap_scheduled || !ch->ctx)
		return;
	ch->gap_scheduled = 1;
	lws_sul_schedule(ch->ctx, 0, &ch->sul_gap, chat_gap_tick, CHAT_GAP_TICK_US);
}

/* Deliver what room rm may release now to its locally connected members. */
static void chat_drain_room(struct chat *ch, struct room *rm)
{
	int64_t now = chrono_wall_ms();
	struct room_msg *m;

	while ((m = room_next(rm, now, CHAT_GAP_MS))) {
		for (uint32_t i = 0; i < rm->n; i++) {
			struct conn *t;

			if (uuid_eq(&rm->members[i], &m->sender))
				continue;	/* never back to the sender */
			t = conns_user(&ch->conns, &rm->members[i]);
			if (!t || t->closing)
				continue;
			conn_push(&ch->conns, t, m->frame, 0);
			ch->delivered++;
		}
		room_msg_free(m);
	}
	if (rm->held && rm->state == ROOM_READY)
		chat_schedule_gap(ch);
}

/*
 * A committed message, ours or a peer's: hold it in its room (loading the
 * room on first sight) and release what is in order.
 */
static void chat_committed(struct chat *ch, int64_t room_id, int64_t id, int64_t prev_id,
			   const char *sender, const char *message, size_t message_len,
			   const char *created_at)
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
	rm = rcache_get(&ch->rooms, room_id);
	if (!rm) {
		rm = rcache_add(&ch->rooms, room_id);
		if (!rm)
			goto fail;
		chat_load_room(ch, room_id);
	}
	rm->used_ms = chrono_wall_ms();
	room_hold(rm, m);
	chat_drain_room(ch, rm);
	return;
fail:
	log_error("out of memory delivering message %lld", (long long)id);
	room_msg_free(m);
}

static int chat_gap_room(struct room *rm, void *arg)
{
	struct chat *ch = arg;

	if (rm->held && rm->state == ROOM_READY)
		chat_drain_room(ch, rm);
	return 0;
}

void chat_gap_tick(lws_sorted_usec_list_t *sul)
{
	struct chat *ch = lws_container_of(sul, struct chat, sul_gap);

	ch->gap_scheduled = 0;
	rcache_sweep(&ch->rooms, chat_gap_room, ch);
}

/* ---- the worker's answers ---- */

static void chat_send_done(struct chat *ch, struct store_job *j)
{
	struct conn *c = j->owner;

	ch->inflight--;
	c->inflight--;
	switch (j->status) {
	case STORE_OK:
	case STORE_DUP:
		conn_confirm(&ch->conns, c, 1, "", j->temp_id, j->temp_len, j->id, j->created_at);
		break;
	case STORE_FORBIDDEN:
		conn_unauthorized(&ch->conns, c, j->room_id, j->temp_id, j->temp_len);
		break;
	case STORE_BANNED:
		conn_confirm(&ch->conns, c, 0, "user is banned", j->temp_id, j->temp_len, 0, NULL);
		conn_close(&ch->conns, c, CLOSE_BANNED, "user is banned");
		break;
	default:
		conn_confirm(&ch->conns, c, 0, "server error", j->temp_id, j->temp_len, 0, NULL);
		break;
	}
	if (j->status == STORE_OK) {
		struct evt e = {
			.type = EVT_MESSAGE, .at_ms = chrono_wall_ms(), .room_id = j->room_id,
			.msg_id = j->id, .prev_id = j->prev_id, .message = j->message,
			.created_at = j->created_at, .origin = ch->cfg->ws_id,
		};

		log_debug("stored message %lld (after %lld) in room %lld",
			  (long long)j->id, (long long)j->prev_id, (long long)j->room_id);
		memcpy(e.user, j->user, sizeof(e.user));
		/* every peer sees every message: their in-order chains need it */
		if (bus_publish(&ch->bus, &e))
			log_warn("message %lld not published to the peers", (long long)j->id);
		chat_committed(ch, j->room_id, j->id, j->prev_id, j->user, j->message,
			       j->message_len, j->created_at);
	}
	conn_put(&ch->conns, c);
}

static void chat_room_loaded(struct chat *ch, struct store_job *j)
{
	struct room *rm = rcache_get(&ch->rooms, j->room_id);

	if (!rm)
		return;		/* deleted meanwhile */
	if (j->status != STORE_OK) {
		if (rm->state == ROOM_LOADING)
			ch->loads_failed++;	/* the sweep retries */
		return;
	}
	if (room_set_members(rm, j->members, j->nmembers)) {
		log_error("out of memory loading room %lld", (long long)j->room_id);
		return;
	}
	room_start(rm, j->base_id);
	chat_drain_room(ch, rm);
}

static int chat_flush_room(struct room *rm, void *arg)
{
	struct chat *ch = arg;

	if (!rm->held)
		return 1;
	rm->state = ROOM_LOADING;
	chat_load_room(ch, rm->id);
	return 0;
}

void chat_store_answers(struct chat *ch)
{
	struct store_job *j, *next;

	for (j = store_take(&ch->store); j; j = next) {
		struct conn *c = j->owner;

		next = store_job_next(j);
		switch (j->type) {
		case STORE_SEND:
			chat_send_done(ch, j);
			break;
		case STORE_BANCHECK:
			if (j->status == STORE_BANNED && c->wsi)
				conn_close(&ch->conns, c, CLOSE_BANNED, "user is banned");
			conn_put(&ch->conns, c);
			break;
		case STORE_LOAD_ROOM:
			chat_room_loaded(ch, j);
			break;
		case STORE_RECONNECTED:
			/* events may have been missed meanwhile: rebuild */
			log_info("database back: rebuilding the room cache");
			rcache_sweep(&ch->rooms, chat_flush_room, ch);
			break;
		}
		store_job_free(j);
	}
}

/* ---- events from the REST tier and the peers ---- */

static void chat_event(struct chat *ch, struct evt *e)
{
	struct uuid user;
	struct room *rm;
	struct conn *c;

	switch (e->type) {
	case EVT_ROOM:
		rm = rcache_get(&ch->rooms, e->room_id);
		if (e->deleted) {
			rcache_del(&ch->rooms, e->room_id);
			break;
		}
		if (!rm)
			break;	/* not cached: loaded fresh when needed */
		for (size_t i = 0; i < e->nadded; i++)
			if (!uuid_parse(e->added[i], &user) && room_add_member(rm, &user))
				log_error("out of memory updating room %lld", (long long)e->room_id);
		for (size_t i = 0; i < e->nremoved; i++)
			if (!uuid_parse(e->removed[i], &user))
				room_remove_member(rm, &user);
		rm->used_ms = chrono_wall_ms();
		/* the event is a hint: Postgres has the full truth */
		chat_load_room(ch, e->room_id);
		break;
	case EVT_DISCONNECT:
	case EVT_BAN:
		if (uuid_parse(e->user, &user))
			break;
		c = conns_user(&ch->conns, &user);
		if (!c)
			break;
		if (e->type == EVT_BAN)
			conn_close(&ch->conns, c, CLOSE_BANNED, "user is banned");
		else
			conn_close(&ch->conns, c, CLOSE_ADMIN, "disconnected by an administrator");
		break;
	case EVT_MESSAGE:
		log_debug("event: message %lld (after %lld) in room %lld from daemon %d",
			  (long long)e->msg_id, (long long)e->prev_id, (long long)e->room_id,
			  e->origin);
		if (e->origin == ch->cfg->ws_id)
			break;
		chat_committed(ch, e->room_id, e->msg_id, e->prev_id, e->user, e->message,
			       strlen(e->message), e->created_at);
		break;
	case EVT_CONNECTED:
		if (e->origin == ch->cfg->ws_id || uuid_parse(e->user, &user))
			break;
		c = conns_user(&ch->conns, &user);
		/* the newer connection wins; equal times: the higher daemon id */
		if (c && (c->connected_ms < e->at_ms ||
			  (c->connected_ms == e->at_ms && ch->cfg->ws_id < e->origin)))
			conn_close(&ch->conns, c, CLOSE_NEW_DEVICE, "connected from another device");
		break;
	}
}

void chat_bus_events(struct chat *ch)
{
	struct bus_item *it, *next;

	for (it = bus_take(&ch->bus); it; it = next) {
		next = bus_item_next(it);
		chat_event(ch, &it->e);
		bus_item_free(it);
	}
}
