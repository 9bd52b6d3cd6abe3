#include "conn.h"
#include "chrono.h"
#include "connmem.h"
#include "log.h"
#include "utf8.h"

#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CONN_WRITE_BURST 16	/* most frames written per writable callback */

int conns_init(struct conns *cs, const struct conn_limits *lim)
{
	memset(cs, 0, sizeof(*cs));
	cs->nbuckets = 1024;
	cs->map = calloc(cs->nbuckets, sizeof(*cs->map));
	cs->lim = *lim;
	cs->txbuf = malloc(LWS_PRE + CONN_TX_MAX);
	if (!cs->map || !cs->txbuf) {
		conns_release(cs);
		return -1;
	}
	return 0;
}

void conns_release(struct conns *cs)
{
	free(cs->map);
	cs->map = NULL;
	free(cs->txbuf);
	cs->txbuf = NULL;
}

/*
 * All 128 bits, mixed (a splitmix64-style finaliser): the ids come from
 * tokens, and ids that differ only in a few bytes (sequential ones, as a
 * load generator or another issuer makes) must still spread. Multiplying
 * the last 8 bytes alone let only their low bytes reach the bucket bits,
 * and 15,000 such users shared one chain: a reconnect storm spent a third
 * of its time walking it.
 */
static size_t conns_bucket(const struct conns *cs, const struct uuid *user)
{
	uint64_t a, b, h;

	memcpy(&a, user->b, sizeof(a));
	memcpy(&b, user->b + 8, sizeof(b));
	h = a ^ (b * 0x9e3779b97f4a7c15ULL);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return (size_t)h & (cs->nbuckets - 1);
}

static void conns_grow(struct conns *cs)
{
	size_t n = cs->nbuckets * 2;
	struct conn **map = calloc(n, sizeof(*map)), **old = cs->map;
	size_t oldn = cs->nbuckets;

	if (!map)
		return;		/* longer chains, still correct */
	cs->map = map;
	cs->nbuckets = n;
	for (size_t i = 0; i < oldn; i++) {
		struct conn *c = old[i], *next;

		for (; c; c = next) {
			size_t b = conns_bucket(cs, &c->user);

			next = c->hnext;
			c->hnext = map[b];
			map[b] = c;
		}
	}
	free(old);
}

struct conn *conns_user(struct conns *cs, const struct uuid *user)
{
	struct conn *c = cs->map[conns_bucket(cs, user)];

	while (c && !uuid_eq(&c->user, user))
		c = c->hnext;
	return c;
}

static void conns_unmap(struct conns *cs, struct conn *c)
{
	struct conn **pp;

	if (!c->authed)
		return;
	for (pp = &cs->map[conns_bucket(cs, &c->user)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			cs->mapped--;
			break;
		}
	}
	c->hnext = NULL;
	c->authed = 0;
}

struct conn *conns_map(struct conns *cs, struct conn *c)
{
	struct conn *old = conns_user(cs, &c->user);

	if (old)
		conns_unmap(cs, old);
	if (cs->mapped >= cs->nbuckets)
		conns_grow(cs);
	size_t b = conns_bucket(cs, &c->user);

	c->hnext = cs->map[b];
	cs->map[b] = c;
	c->authed = 1;
	cs->mapped++;
	return old;
}

/* ---- statistics ---- */

static const char *const conn_code_labels[CONN_CODE_SLOTS] = {
	"1000", "1001", "1006", "4001", "4002", "4003", "4004", "4005", "4006",
	"4007", "4008", "4009", "4010", "4011", "4012", "other",
};

size_t conn_code_slot(int code)
{
	if (code == 1000 || code == 1001)
		return (size_t)(code - 1000);
	if (code == 1006)
		return 2;
	if (code >= 4001 && code <= 4012)
		return (size_t)(code - 4001 + 3);
	return CONN_CODE_SLOTS - 1;
}

const char *conn_code_label(size_t i)
{
	return i < CONN_CODE_SLOTS ? conn_code_labels[i] : "other";
}

/* Reasons by their first words (the texts of chat.c, deliver.c and here). */
static const struct {
	const char *prefix, *label;
} conn_confirm_classes[CONN_CONFIRM_CLASSES] = {
	{ NULL, "" },
	{ "rate limited", "rate limited" },
	{ "message is empty", "empty" },
	{ "message is longer", "too long" },
	{ "message violates", "moderation" },
	{ "not a participant", "not a member" },
	{ "user is banned", "banned" },
	{ "server error", "server error" },
	{ "server shutting down", "shutting down" },
	{ NULL, "other" },
};

size_t conn_confirm_class(int ok, const char *reason)
{
	if (ok)
		return 0;
	for (size_t i = 1; i < CONN_CONFIRM_CLASSES - 1; i++)
		if (reason && !strncmp(reason, conn_confirm_classes[i].prefix,
				       strlen(conn_confirm_classes[i].prefix)))
			return i;
	return CONN_CONFIRM_CLASSES - 1;
}

const char *conn_confirm_label(size_t i)
{
	return i < CONN_CONFIRM_CLASSES ? conn_confirm_classes[i].label : "other";
}

/* ---- connections ---- */

struct conn *conn_new(struct conns *cs, struct lws *wsi, int64_t now_ms)
{
	struct conn *c = connmem_zalloc(sizeof(*c));

	/* a serial is used up even when out of memory, as it always was */
	cs->last_serial++;
	if (!c)
		return NULL;
	c->wsi = wsi;
	c->refs = 1;
	c->serial = cs->last_serial;
	c->connected_ms = c->last_frame_ms = c->last_rx_ms = now_ms;
	c->bucket = cs->lim.msg_burst * 1000;
	c->bucket_ms = now_ms;
	c->next = cs->list;
	if (cs->list)
		cs->list->prev = c;
	cs->list = c;
	cs->count++;
	cs->stats.opened++;
	return c;
}

/* The deliveries held until admission (conn_deliver), dropped. */
static void conn_drop_held(struct conn *c)
{
	for (uint32_t i = 0; i < c->nheld; i++)
		frame_put(c->held[i]);
	free(c->held);
	c->held = NULL;
	c->nheld = 0;
}

static void conn_drop_queue(struct conn *c)
{
	for (; c->qlen; c->qlen--) {
		frame_put(c->q[c->qhead]);
		c->qhead = (c->qhead + 1) % c->qcap;
	}
	c->qhead = 0;
}

void conn_get(struct conn *c)
{
	c->refs++;
}

void conn_put(struct conns *cs, struct conn *c)
{
	if (--c->refs)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_drop_queue(c);
	conn_drop_held(c);
	free(c->q);
	free(c->rx);
	free(c->close_reason);
	connmem_free(c);
}

void conn_peer_closed(struct conn *c, const void *in, size_t len)
{
	const unsigned char *p = in;

	if (p && len >= 2 && !c->peer_code)
		c->peer_code = (uint16_t)(p[0] << 8 | p[1]);
}

void conn_closed(struct conns *cs, struct conn *c)
{
	int code = c->close_code ? c->close_code : c->peer_code ? c->peer_code : 1006;

	cs->stats.closed[conn_code_slot(code)]++;
	conns_unmap(cs, c);
	conn_drop_queue(c);
	free(c->q);
	c->q = NULL;
	c->qcap = 0;
	free(c->rx);
	c->rx = NULL;
	c->rxlen = 0;
	c->wsi = NULL;
	c->closing = 1;
	cs->count--;
	conn_put(cs, c);
}

/* Append to the ring, growing it; limit is the most it may hold. */
static int conn_enqueue(struct conn *c, struct frame *f, uint32_t limit)
{
	if (c->qlen >= limit)
		return -1;
	if (c->qlen == c->qcap) {
		uint32_t cap = c->qcap ? c->qcap * 2 : 4;
		struct frame **q;

		if (cap > limit)
			cap = limit;
		q = malloc(cap * sizeof(*q));
		if (!q)
			return -1;
		for (uint32_t i = 0; i < c->qlen; i++)
			q[i] = c->q[(c->qhead + i) % c->qcap];
		free(c->q);
		c->q = q;
		c->qcap = cap;
		c->qhead = 0;
	}
	c->q[(c->qhead + c->qlen) % c->qcap] = f;
	c->qlen++;
	f->refs++;
	return 0;
}

/*
 * Reading on or off, for both reasons at once: replies piling up in the
 * queue (q_backed) and messages unconfirmed at the worker. A closing
 * connection is not read again, nor is any once the shutdown stopped
 * reading (rx_off: life.c turned every connection off for good).
 */
static void conn_rx_update(struct conns *cs, struct conn *c)
{
	int pause = c->q_backed || c->unconfirmed >= cs->lim.max_unconfirmed;

	if (!c->wsi || cs->rx_off || pause == c->rx_paused || (!pause && c->closing))
		return;
	c->rx_paused = (unsigned)pause;
	lws_rx_flow_control(c->wsi, !pause);
}

int conn_rate_take(struct conns *cs, struct conn *c, int64_t now_ms)
{
	int64_t cap = cs->lim.msg_burst * 1000, dt = now_ms - c->bucket_ms;

	if (!cs->lim.msg_rate)
		return 1;
	/* rate per second = rate thousandths of a message per millisecond */
	if (dt > 0) {
		c->bucket = dt >= cap / cs->lim.msg_rate + 1 ? cap :
			    c->bucket + dt * cs->lim.msg_rate;
		if (c->bucket > cap)
			c->bucket = cap;
	}
	c->bucket_ms = now_ms;	/* a clock that went back refills nothing */
	if (c->bucket < 1000)
		return 0;
	c->bucket -= 1000;
	return 1;
}

void conn_submitted(struct conns *cs, struct conn *c)
{
	c->unconfirmed++;
	if (c->unconfirmed == cs->lim.max_unconfirmed && c->wsi)
		log_debug("connection %llu: %u messages unconfirmed, reading paused",
			  (unsigned long long)c->serial, c->unconfirmed);
	conn_rx_update(cs, c);
}

void conn_answered(struct conns *cs, struct conn *c)
{
	if (c->unconfirmed)
		c->unconfirmed--;
	conn_rx_update(cs, c);
}

/* Queue f; -1 when the queue is full (the caller closes c as too slow). */
static int conn_queue(struct conns *cs, struct conn *c, struct frame *f, int reply)
{
	if (!c->wsi || c->closing || !f)
		return 0;
	if (conn_enqueue(c, f, reply ? UINT32_MAX - 1 : cs->lim.queue_max))
		return -1;
	if (reply && c->qlen >= cs->lim.queue_max && !c->q_backed) {
		/* backpressure: read no more of its frames until it catches up */
		c->q_backed = 1;
		conn_rx_update(cs, c);
	}
	if (c->qlen == 1)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* Queue the Disconnection frame of code; 0, or -1 when it could not be. */
static int conn_queue_disconnection(struct conns *cs, struct conn *c, int code,
				    const char *reason)
{
	struct frame *f = proto_disconnection(code, reason);
	int rc = -1;

	/* one place beyond the limit: the Disconnection always fits */
	if (f) {
		rc = conn_enqueue(c, f, cs->lim.queue_max + 1);
		frame_put(f);
	}
	c->close_code = (uint16_t)code;
	free(c->close_reason);
	c->close_reason = strdup(reason);
	lws_callback_on_writable(c->wsi);
	return rc;
}

void conn_announce(struct conns *cs, struct conn *c, int code, const char *reason)
{
	if (!c->wsi || c->closing || c->announced)
		return;
	c->announced = 1;
	conn_queue_disconnection(cs, c, code, reason);
}

/* conn_close(), and with drop_queue the queue is discarded first. */
static void conn_shut(struct conns *cs, struct conn *c, int code, const char *reason,
		      int drop_queue, int64_t now_ms)
{
	if (!c->wsi || c->closing)
		return;
	c->closing = 1;
	c->closing_ms = now_ms;
	/* no more deliveries to it, a newer connection may take the user */
	conns_unmap(cs, c);
	conn_drop_held(c);	/* deliveries never sent: it was not admitted */
	if (drop_queue)
		conn_drop_queue(c);
	if (c->announced && c->close_code == code && !drop_queue) {
		/* the client has (or will have, in order) its Disconnection */
		lws_callback_on_writable(c->wsi);
		return;
	}
	if (conn_queue_disconnection(cs, c, code, reason))
		c->close_sent = 1;	/* no memory: just the close frame */
}

void conn_close(struct conns *cs, struct conn *c, int code, const char *reason)
{
	if (c->wsi && !c->closing)
		log_debug("closing connection %llu: %d %s",
			  (unsigned long long)c->serial, code, reason);
	conn_shut(cs, c, code, reason, 0, chrono_wall_ms());
}

void conn_close_slow(struct conns *cs, struct conn *c)
{
	if (c->wsi && !c->closing)
		cs->stats.queue_drops++;
	log_info("connection %llu reads too slowly: closed", (unsigned long long)c->serial);
	conn_shut(cs, c, CLOSE_ENDED, "too slow", 1, chrono_wall_ms());
}

void conn_admit(struct conns *cs, struct conn *c)
{
	struct frame **held = c->held;
	uint32_t n = c->nheld;

	if (!c->wsi || c->closing || c->admitted)
		return;
	c->admitted = 1;
	c->held = NULL;
	c->nheld = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!c->closing)
			conn_push(cs, c, held[i], 0);
		frame_put(held[i]);
	}
	free(held);
}

int conn_deliver(struct conns *cs, struct conn *c, struct frame *f)
{
	struct frame **h;

	if (c->admitted || !f)
		return conn_push(cs, c, f, 0);
	if (!c->wsi || c->closing)
		return 0;
	if (c->nheld >= cs->lim.queue_max) {
		conn_close_slow(cs, c);
		return -1;
	}
	/* grown by doubling: nheld is the size of a power of two when full */
	if (!(c->nheld & (c->nheld - 1))) {
		h = realloc(c->held, (c->nheld ? 2 * c->nheld : 1) * sizeof(*h));
		if (!h) {
			conn_close(cs, c, CLOSE_SERVER_ERROR, "out of memory");
			return -1;
		}
		c->held = h;
	}
	f->refs++;
	c->held[c->nheld++] = f;
	return 0;
}

int conn_push(struct conns *cs, struct conn *c, struct frame *f, int reply)
{
	if (!f) {
		conn_close(cs, c, CLOSE_SERVER_ERROR, "out of memory");
		return -1;
	}
	if (conn_queue(cs, c, f, reply)) {
		conn_close_slow(cs, c);
		return -1;
	}
	return 0;
}

void conn_confirm(struct conns *cs, struct conn *c, int ok, const char *reason,
		  const char *temp, size_t temp_len, int64_t id, const char *created_at)
{
	struct frame *f = proto_confirmation(ok, reason, temp, temp_len, id, created_at);

	cs->stats.confirmed[conn_confirm_class(ok, reason)]++;
	conn_push(cs, c, f, 1);
	frame_put(f);
}

void conn_unauthorized(struct conns *cs, struct conn *c, int64_t room_id,
		       const char *temp, size_t temp_len)
{
	int64_t now = chrono_wall_ms();
	char reason[96];

	conn_confirm(cs, c, 0, "not a participant of this room", temp, temp_len, 0, NULL);
	/* a fixed window from the first refusal: cheap, and a burst still trips it */
	if (!c->unauth_count || now - c->unauth_since_ms >= cs->lim.unauth_window_ms) {
		c->unauth_count = 0;
		c->unauth_since_ms = now;
	}
	if (++c->unauth_count >= cs->lim.unauth_max) {
		snprintf(reason, sizeof(reason), "%u sends to rooms the user is not in "
			 "(last: room %lld)", (unsigned)c->unauth_count, (long long)room_id);
		conn_close(cs, c, CLOSE_UNAUTHORIZED, reason);
	}
}

/*
 * Write up to max queued frames with one lws_write(): the first, and those
 * behind it that fit in cs->txbuf with it. A confirmation and a delivery
 * queued in the same batch then leave in one send(2), one TCP segment,
 * and a proxy in front (nginx) relays one read and one write for them,
 * not two. Several frames are framed here (proto_frame_header) and sent
 * as bytes (LWS_WRITE_RAW: lws frames nothing, and a partial send is
 * buffered by lws as for any write); a lone frame goes as LWS_WRITE_TEXT,
 * without a copy. No extension is negotiated (no permessage-deflate), so
 * the frames need nothing from lws. Returns the number of frames taken
 * off the queue, or -1 when the write failed.
 */
static int conn_write_frames(struct conns *cs, struct conn *c, int max)
{
	unsigned char *out = cs->txbuf + LWS_PRE;
	size_t room = CONN_TX_MAX, used = 0;
	struct frame *f;
	int n = 0, rc;

	/* how many fit, framed */
	while (n < max && (size_t)n < c->qlen) {
		f = c->q[(c->qhead + (size_t)n) % c->qcap];
		if (PROTO_FRAME_HEADER_MAX + (size_t)f->len > room)
			break;
		room -= PROTO_FRAME_HEADER_MAX + (size_t)f->len;
		n++;
	}
	if (n <= 1) {
		f = c->q[c->qhead];
		rc = lws_write(c->wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
		n = 1;
	} else {
		for (int i = 0; i < n; i++) {
			f = c->q[(c->qhead + (size_t)i) % c->qcap];
			used += proto_frame_header(out + used, f->len);
			memcpy(out + used, f->buf + LWS_PRE, f->len);
			used += f->len;
		}
		rc = lws_write(c->wsi, out, used, LWS_WRITE_RAW);
	}
	cs->stats.frames_sent += (uint64_t)n;
	cs->stats.writes++;
	for (int i = 0; i < n; i++) {
		frame_put(c->q[c->qhead]);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qlen--;
	}
	return rc < 0 ? -1 : n;
}

int conn_write(struct conns *cs, struct conn *c)
{
	unsigned char ping[LWS_PRE + 4] = { 0 };

	if (c->ping_due && !c->closing) {
		c->ping_due = 0;
		/*
		 * A payload, because lws 4.1 does not report an empty pong
		 * (LWS_CALLBACK_RECEIVE_PONG) to the protocol.
		 */
		memcpy(ping + LWS_PRE, "ping", 4);
		if (lws_write(c->wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 0)
			return -1;
		if (c->qlen)
			lws_callback_on_writable(c->wsi);
		return 0;
	}
	if (c->closing && c->close_sent && !c->qlen) {
		const char *r = c->close_reason ? c->close_reason : "";
		size_t rl = strlen(r);

		/*
		 * The Disconnection frame went out in an earlier callback, so
		 * lws has flushed it: the close frame cannot overtake it. A
		 * close frame's reason is at most 123 bytes.
		 */
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
				 (unsigned char *)r, utf8_cut(r, rl, 120));
		return -1;
	}
	/*
	 * Several frames per callback while the socket takes them: one
	 * writable round trip per frame would cost a poll cycle each.
	 */
	for (int k = 0, n; c->qlen && k < CONN_WRITE_BURST; k += n) {
		if (k && lws_send_pipe_choked(c->wsi))
			break;
		n = conn_write_frames(cs, c, CONN_WRITE_BURST - k);
		if (n < 0)
			return -1;
	}
	if (c->q_backed && c->qlen <= cs->lim.queue_max / 2) {
		c->q_backed = 0;
		conn_rx_update(cs, c);
	}
	if (c->closing && !c->qlen)
		c->close_sent = 1;
	if (c->qlen || c->close_sent)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* The timers of one live connection at now (conns_sweep). */
/*
 * 1 when c's output is backed up: frames queued here, a socket that takes
 * no more, or bytes sent that the peer has not acknowledged (its receive
 * window is full: it does not read).
 */
static int conn_backed_up(struct conn *c)
{
	int fd = (int)lws_get_socket_fd(c->wsi), n = 0;

	return c->qlen || lws_send_pipe_choked(c->wsi) ||
	       (fd >= 0 && ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0);
}

static void conn_timers(struct conns *cs, struct conn *c, int64_t now, size_t *pings_left)
{
	int64_t idle = cs->lim.idle_ms, ping = cs->lim.ping_ms;

	if (c->closing) {
		if (now - c->closing_ms > CONN_CLOSE_GRACE_MS)
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		return;
	}
	if (!c->authed)
		return;
	if (c->exp_ms && now >= c->exp_ms) {
		conn_close(cs, c, CLOSE_ENDED, "token is expired");
		return;
	}
	if (idle && now - c->last_frame_ms >= idle) {
		conn_close(cs, c, CLOSE_AFK, "idle timeout");
		return;
	}
	if (!ping)
		return;
	if (c->ping_sent_ms && now - c->ping_sent_ms >= ping) {
		/*
		 * No pong. With data still waiting for it (queued here, or
		 * sent but not acknowledged: a full receive window), the peer
		 * may be alive but not reading, its pong behind our data:
		 * close it as too slow, a code the app reconnects on.
		 */
		if (conn_backed_up(c)) {
			conn_close_slow(cs, c);
			return;
		}
		/* no pong, nothing pending: the peer is gone */
		log_debug("connection %llu: no pong, dropped", (unsigned long long)c->serial);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_WS_PONG_CHECK_GET_PONG, LWS_TO_KILL_ASYNC);
		return;
	}
	if (!c->ping_sent_ms && now - c->last_rx_ms >= ping) {
		if (!*pings_left)
			return;		/* this sweep's share is sent: the next one */
		(*pings_left)--;
		c->ping_sent_ms = now;
		/*
		 * Backed up, a ping would wait behind our data, and its pong
		 * would race our close: the clock runs without one.
		 */
		if (!conn_backed_up(c)) {
			c->ping_due = 1;
			lws_callback_on_writable(c->wsi);
		}
	}
}

void conns_sweep(struct conns *cs, int64_t now_ms)
{
	/*
	 * Pings per sweep: the connections' share of one interval, plus
	 * slack. Connections opened together (a reconnect storm, 15,000 in a
	 * few seconds) would otherwise come due in the same second, and
	 * 15,000 pings written and their pongs read in one go stalled every
	 * message for hundreds of ms (docs/ws-daemon.md, "Performance"). A
	 * ping held back waits a sweep or two; the liveness clock starts
	 * when it is sent.
	 */
	size_t pings = cs->lim.ping_ms ?
		       cs->count * 1000 / (size_t)cs->lim.ping_ms + 16 : 0;

	for (struct conn *c = cs->list; c; c = c->next)
		if (c->wsi)
			conn_timers(cs, c, now_ms, &pings);
}
