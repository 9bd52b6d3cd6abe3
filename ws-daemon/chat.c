/*
 * The lws side of the daemon: connections, frames, timers, shutdown (chat.h).
 */
#include "chat.h"
#include "chrono.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAT_EVICT_IDLE_MS 600000	/* rooms without traffic leave the cache */

static struct chat *chat_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

void chat_wake(void *arg)
{
	struct chat *ch = arg;
	/* called by the worker and bus threads: ctx is set while they run */
	struct lws_context *ctx = __atomic_load_n(&ch->ctx, __ATOMIC_ACQUIRE);

	if (ctx)
		lws_cancel_service(ctx);
}

/* ---- connections ---- */

static void chat_established(struct chat *ch, struct lws *wsi, struct chat_pss *pss)
{
	char buf[AUTH_MAX_TOKEN + 16], err[256];
	struct auth_claims cl;
	struct store_job *j;
	const char *tok;
	struct conn *c, *old;
	struct evt e;

	c = conn_new(&ch->conns, wsi, chrono_wall_ms());
	pss->c = c;
	if (!c)
		return;
	if (ch->shutting_down) {
		conn_close(&ch->conns, c, CLOSE_SHUTDOWN, "server is shutting down");
		return;
	}
	tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
	if (!tok || !*tok) {
		conn_close(&ch->conns, c, CLOSE_NO_TOKEN, "no token");
		return;
	}
	if (auth_verify(&ch->auth, tok, time(NULL), &cl, err, sizeof(err))) {
		conn_close(&ch->conns, c, CLOSE_BAD_TOKEN, err);
		return;
	}
	if (uuid_parse(cl.sub, &c->user)) {
		conn_close(&ch->conns, c, CLOSE_BAD_TOKEN, "token subject is not a UUID");
		return;
	}
	uuid_format(&c->user, c->user_str);
	c->exp_ms = ((int64_t)cl.exp + ch->cfg->jwt_leeway) * 1000;
	old = conns_map(&ch->conns, c);
	if (old)
		conn_close(&ch->conns, old, CLOSE_NEW_DEVICE, "connected from another device");
	memset(&e, 0, sizeof(e));
	e.type = EVT_CONNECTED;
	e.at_ms = c->connected_ms;
	memcpy(e.user, c->user_str, sizeof(e.user));
	e.origin = ch->cfg->ws_id;
	e.conn = c->serial;
	bus_publish(&ch->bus, &e);
	/* a ban recorded while the user was away: checked off the service thread */
	j = store_job_new(STORE_BANCHECK, c);
	if (j) {
		memcpy(j->user, c->user_str, sizeof(j->user));
		conn_get(c);
		store_submit(&ch->store, j);
	}
	log_debug("connection %llu: user %s", (unsigned long long)c->serial, c->user_str);
}

static void chat_frame(struct chat *ch, struct conn *c, const char *buf, size_t len)
{
	struct proto_send s;
	struct store_job *j;
	char err[160];

	if (proto_parse_send(buf, len, &s, err, sizeof(err))) {
		conn_close(&ch->conns, c, CLOSE_BAD_FRAME, err);
		return;
	}
	if (ch->shutting_down >= CHAT_SHUT_REFUSE) {
		conn_confirm(&ch->conns, c, 0, "server shutting down", s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	if (s.blank) {
		conn_confirm(&ch->conns, c, 0, "message is empty", s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	if (s.message_chars > (size_t)ch->cfg->msg_max_chars) {
		snprintf(err, sizeof(err), "message is longer than %d characters",
			 ch->cfg->msg_max_chars);
		conn_confirm(&ch->conns, c, 0, err, s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	if (moderation_match(&ch->mod, s.message, s.message_len)) {
		conn_confirm(&ch->conns, c, 0, "message violates the moderation policy",
			     s.temp_id, s.temp_len, 0, NULL);
		conn_close(&ch->conns, c, CLOSE_HATE, "hateful speech");
		goto out;
	}
	j = store_job_send(c, c->user_str, s.room_id, s.message, s.message_len,
			   s.temp_id, s.temp_len);
	if (!j) {
		conn_confirm(&ch->conns, c, 0, "server error", s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	conn_get(c);
	c->inflight++;
	ch->inflight++;
	store_submit(&ch->store, j);
out:
	proto_send_release(&s);
}

static void chat_receive(struct chat *ch, struct lws *wsi, struct conn *c,
			 const char *in, size_t len)
{
	int64_t now = chrono_wall_ms();
	char err[96];
	char *nb;

	c->last_rx_ms = now;
	c->ping_sent_ms = 0;
	if (c->closing)
		return;
	if (lws_frame_is_binary(wsi)) {
		conn_close(&ch->conns, c, CLOSE_BAD_FRAME, "binary frames are not accepted");
		return;
	}
	if ((size_t)c->rxlen + len > (size_t)ch->cfg->frame_max) {
		snprintf(err, sizeof(err), "frame is larger than %d bytes", ch->cfg->frame_max);
		conn_close(&ch->conns, c, CLOSE_BAD_FRAME, err);
		return;
	}
	if (!lws_is_final_fragment(wsi) || c->rxlen) {
		nb = realloc(c->rx, c->rxlen + len + 1);
		if (!nb) {
			conn_close(&ch->conns, c, CLOSE_SERVER_ERROR, "out of memory");
			return;
		}
		c->rx = nb;
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += (uint32_t)len;
		if (!lws_is_final_fragment(wsi))
			return;
		in = c->rx;
		len = c->rxlen;
	}
	c->last_frame_ms = now;
	chat_frame(ch, c, in, len);
	if (c->rx) {
		free(c->rx);
		c->rx = NULL;
		c->rxlen = 0;
	}
}

/* ---- periodic jobs (cron.h) ---- */

/* Token expiry, AFK limit, pings, closes not completed (conn.h). */
static void chat_job_conns(void *arg)
{
	struct chat *ch = arg;

	conns_sweep(&ch->conns, chrono_wall_ms());
}

static int chat_retry_room(struct room *rm, void *arg)
{
	struct chat *ch = arg;

	if (rm->state == ROOM_LOADING)
		chat_load_room(ch, rm->id);
	return 0;
}

/* Rooms whose load failed (out of memory, database error): again. */
static void chat_job_room_loads(void *arg)
{
	struct chat *ch = arg;

	if (ch->loads_failed) {
		ch->loads_failed = 0;
		rcache_sweep(&ch->rooms, chat_retry_room, ch);
	}
}

/* One info line while there is traffic: stored, batches, Postgres time, delivered. */
static void chat_job_stats(void *arg)
{
	struct chat *ch = arg;
	struct store_stats st;

	store_stats(&ch->store, &st);
	if (st.stored != ch->stats.stored)
		log_info("%zu connection(s); %llu message(s) stored in %llu batch(es), "
			 "%.1f ms in Postgres; %llu delivered",
			 ch->conns.count, (unsigned long long)(st.stored - ch->stats.stored),
			 (unsigned long long)(st.batches - ch->stats.batches),
			 (double)(st.busy_us - ch->stats.busy_us) / 1000.0,
			 (unsigned long long)(ch->delivered - ch->stats_delivered));
	ch->stats = st;
	ch->stats_delivered = ch->delivered;
}

static int chat_evict_room(struct room *rm, void *arg)
{
	int64_t now = *(int64_t *)arg;

	return rm->state == ROOM_READY && !rm->held && now - rm->used_ms > CHAT_EVICT_IDLE_MS;
}

/* Rooms without traffic for CHAT_EVICT_IDLE_MS leave the cache. */
static void chat_job_evict(void *arg)
{
	struct chat *ch = arg;
	int64_t now = chrono_wall_ms();

	rcache_sweep(&ch->rooms, chat_evict_room, &now);
}

/* ---- shutdown (enum chat_shutdown) ---- */

/* Short ticks while stopping, so that each phase ends on time. */
static void chat_shutdown_tick(lws_sorted_usec_list_t *sul)
{
	struct chat *ch = lws_container_of(sul, struct chat, sul_shutdown);

	lws_sul_schedule(ch->ctx, 0, &ch->sul_shutdown, chat_shutdown_tick,
			 50 * LWS_US_PER_MS);
}

void chat_shutdown(struct chat *ch)
{
	struct conn *c;

	if (ch->shutting_down)
		return;
	log_info("stopping: clients told (4007); answering what they send for %d ms",
		 ch->cfg->shutdown_grace_ms);
	ch->shutting_down = CHAT_SHUT_GRACE;
	ch->shutdown_ms = chrono_wall_ms();
	for (c = ch->conns.list; c; c = c->next)
		if (c->wsi)
			conn_announce(&ch->conns, c, CLOSE_SHUTDOWN, "server is shutting down");
	if (ch->ctx)
		chat_shutdown_tick(&ch->sul_shutdown);
}

int chat_finished(struct chat *ch)
{
	int64_t now = chrono_wall_ms();
	struct conn *c;

	switch (ch->shutting_down) {
	case CHAT_RUNNING:
		return 0;
	case CHAT_SHUT_GRACE:
		if (now - ch->shutdown_ms < ch->cfg->shutdown_grace_ms)
			return 0;
		log_info("stopping: finishing %u message(s) in flight", ch->inflight);
		ch->shutting_down = CHAT_SHUT_REFUSE;
		ch->shutdown_ms = now;
		/* fall through */
	case CHAT_SHUT_REFUSE:
		if (ch->inflight && now - ch->shutdown_ms < 30000)
			return 0;
		ch->shutting_down = CHAT_SHUT_CLOSE;
		ch->shutdown_ms = now;
		ch->conns.rx_off = 1;
		for (c = ch->conns.list; c; c = c->next) {
			if (!c->wsi)
				continue;
			/* nothing more is read, so nothing goes unanswered */
			lws_rx_flow_control(c->wsi, 0);
			conn_close(&ch->conns, c, CLOSE_SHUTDOWN, "server is shutting down");
		}
		/* fall through */
	case CHAT_SHUT_CLOSE:
		break;
	}
	return !ch->conns.count || now - ch->shutdown_ms > CONN_CLOSE_GRACE_MS;
}

/* ---- lws ---- */

int chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len)
{
	struct chat_pss *pss = user;
	struct chat *ch;
	struct conn *c;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		chat_established(chat_of(wsi), wsi, pss);
		if (!pss->c)
			return -1;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (pss && pss->c)
			chat_receive(chat_of(wsi), wsi, pss->c, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (pss && pss->c) {
			pss->c->last_rx_ms = chrono_wall_ms();
			pss->c->ping_sent_ms = 0;
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!pss || !pss->c)
			return -1;
		return conn_write(&chat_of(wsi)->conns, pss->c);
	case LWS_CALLBACK_CLOSED:
		if (pss && (c = pss->c)) {
			pss->c = NULL;
			conn_closed(&chat_of(wsi)->conns, c);
		}
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		ch = lws_context_user(lws_get_context(wsi));
		if (!ch)
			return 0;
		chat_store_answers(ch);
		chat_bus_events(ch);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- life ---- */

int chat_init(struct chat *ch, const struct cfg *cfg, char *err, size_t errlen)
{
	memset(ch, 0, sizeof(*ch));
	ch->cfg = cfg;
	if (auth_init_from_cfg(&ch->auth, cfg, err, errlen))
		return -1;
	if (moderation_load(&ch->mod, cfg->moderation_file, err, errlen))
		return -1;
	rcache_init(&ch->rooms);
	if (conns_init(&ch->conns, &(struct conn_limits){
			.queue_max = (uint32_t)cfg->queue_max,
			.unauth_max = cfg->unauth_max,
			.unauth_window_ms = (int64_t)cfg->unauth_window * 1000,
			.idle_ms = (int64_t)cfg->idle_timeout * 1000,
			.ping_ms = (int64_t)cfg->ping_interval * 1000 })) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (bus_open(&ch->bus, cfg, chat_wake, ch, err, errlen))
		return -1;
	if (store_start(&ch->store, cfg->db_url, cfg->db_timeout_ms, chat_wake, ch,
			err, errlen))
		return -1;
	if (ch->mod.nterms)
		log_info("moderation list: %zu term(s)", ch->mod.nterms);
	/* each job on its own period (the connections' timers fire up to 1 s late) */
	cron_init(&ch->cron, ch);
	cron_add(&ch->cron, "connection timers", 1000, chat_job_conns);
	cron_add(&ch->cron, "room load retries", 1000, chat_job_room_loads);
	cron_add(&ch->cron, "statistics line", 10000, chat_job_stats);
	cron_add(&ch->cron, "room eviction", 60000, chat_job_evict);
	return 0;
}

void chat_attach(struct chat *ch, struct lws_context *ctx)
{
	__atomic_store_n(&ch->ctx, ctx, __ATOMIC_RELEASE);
	cron_start(&ch->cron, ctx);
	/* answers or events that came before the context existed */
	lws_cancel_service(ctx);
}

void chat_stop_threads(struct chat *ch)
{
	bus_close(&ch->bus);
	store_stop(&ch->store);
	__atomic_store_n(&ch->ctx, NULL, __ATOMIC_RELEASE);
}

void chat_release(struct chat *ch)
{
	struct store_job *j, *next;

	for (j = store_take(&ch->store); j; j = next) {
		next = store_job_next(j);
		if (j->owner)
			conn_put(&ch->conns, j->owner);
		store_job_free(j);
	}
	rcache_release(&ch->rooms);
	conns_release(&ch->conns);
	moderation_release(&ch->mod);
	auth_release(&ch->auth);
}
