/*
 * conn - the state of one websocket connection, its bounded outgoing
 * queue and its close; and the daemon's set of connections (a list for
 * the periodic sweep, a map user -> live connection for delivery).
 *
 * Ownership. A struct conn is malloc'd when lws establishes the
 * connection; the lws per-session data only points at it. It is freed
 * when nothing refers to it any more: lws closed the wsi (wsi = NULL)
 * and no database job of it is in flight (refs). So a worker's answer
 * for a connection that went away meanwhile finds a valid struct and
 * drops its frames.
 *
 * Close. conn_close() queues the Disconnection frame of SPEC.md behind
 * whatever is queued already (confirmations are never lost to a close)
 * and asks for a writable callback; conn_write() sends it and then the
 * close frame with the same code. A slow reader (queue full) loses its
 * queue instead: it is the one case where waiting would not end.
 *
 * Everything that is done to a connection is here: queueing frames
 * (conn_push, conn_confirm), closing, the rule for sends to foreign
 * rooms (conn_unauthorized), and the timers of every connection
 * (conns_sweep: token expiry, AFK limit, pings, closes not completed).
 *
 * Service thread only.
 */
#ifndef WS_CONN_H
#define WS_CONN_H

#include <libwebsockets.h>
#include <stdint.h>
#include <time.h>

#include "proto.h"
#include "uuid.h"

struct conn {
	struct lws *wsi;		/* NULL once lws closed it */
	struct conn *prev, *next;	/* conns.list */
	struct conn *hnext;		/* conns.map bucket chain */
	uint32_t refs;			/* 1 while wsi lives + 1 per job in flight */
	struct uuid user;
	char user_str[UUID_STR_SIZE];	/* user's text form */
	uint64_t serial;		/* unique in this daemon's life */
	int64_t connected_ms;
	int64_t last_frame_ms;		/* last data frame (idle timeout) */
	int64_t last_rx_ms;		/* last anything, pongs too (liveness) */
	int64_t ping_sent_ms;		/* 0: no ping outstanding */
	int64_t closing_ms;		/* when conn_close() was called */
	int64_t exp_ms;			/* token expiry incl. leeway; 0 = none */
	unsigned authed:1;		/* a verified user; in the map */
	unsigned closing:1;		/* Disconnection queued, no more frames */
	unsigned ping_due:1;
	unsigned close_sent:1;		/* Disconnection written */
	unsigned rx_paused:1;		/* reading is off (lws_rx_flow_control) */
	unsigned q_backed:1;		/* ... because too many replies are queued */
	unsigned admitted:1;		/* ban check passed: deliveries go out (conn_admit) */
	unsigned announced:1;		/* Disconnection queued, still open */
	uint16_t close_code;		/* of the close, or of the announcement */
	uint16_t peer_code;		/* the client's close frame's code, 0 = none */
	uint16_t unauth_count;		/* sends to foreign rooms in the window */
	int64_t unauth_since_ms;	/* start of that window */
	uint32_t unconfirmed;		/* SendMessage jobs at the worker */
	int64_t bucket;			/* rate limit: tokens, in 1/1000 of a message */
	int64_t bucket_ms;		/* when the bucket was last filled */
	char *close_reason;		/* owned */
	struct frame **q;		/* ring of owned references */
	struct frame **held;		/* deliveries until admitted (owned references) */
	uint32_t nheld;
	uint32_t qhead, qlen, qcap;
	char *rx;			/* fragments of the frame being received */
	uint32_t rxlen;
};

#define CONN_CLOSE_GRACE_MS 5000	/* a close not completed by then is forced */

/* The rules every connection lives by (CHAT_* settings, cfg.h). */
struct conn_limits {
	uint32_t queue_max;		/* CHAT_QUEUE_MAX */
	int unauth_max;			/* CHAT_UNAUTH_MAX: 4012 at this many ... */
	int64_t unauth_window_ms;	/* ... within CHAT_UNAUTH_WINDOW */
	int64_t idle_ms;		/* CHAT_IDLE_TIMEOUT (4003); 0 = off */
	int64_t ping_ms;		/* CHAT_PING_INTERVAL; 0 = off */
	int64_t msg_rate;		/* CHAT_WS_MSG_RATE, per second; 0 = off */
	int64_t msg_burst;		/* CHAT_WS_MSG_BURST */
	uint32_t max_unconfirmed;	/* CHAT_WS_MAX_UNCONFIRMED */
};

/*
 * What happened to connections since the start (the chat_ws_* metrics of
 * docs/metrics.md). Service thread only: the metrics are rendered there.
 */
#define CONN_CODE_SLOTS 16	/* 1000, 1001, 1006, 4001..4012, other */
#define CONN_CONFIRM_CLASSES 10	/* true, then false by reason class */

struct conn_stats {
	uint64_t opened;			/* websocket handshakes completed */
	uint64_t closed[CONN_CODE_SLOTS];	/* by conn_code_slot() of the code */
	uint64_t queue_drops;			/* closed 4009: queue full / too slow */
	uint64_t confirmed[CONN_CONFIRM_CLASSES];	/* by conn_confirm_class() */
	uint64_t frames_sent;			/* queued frames written (conn_write) */
	uint64_t writes;			/* the lws_write() calls they took */
};

/*
 * The slot of close code code in conn_stats.closed: the server's codes
 * 4001..4012, the client's 1000 and 1001, 1006 (closed without a close
 * frame: a dead peer, a lost connection), and the last slot for any other.
 */
size_t conn_code_slot(int code);
/* The label of slot i: "1000", "4001"..., "other". */
const char *conn_code_label(size_t i);

/*
 * The class of a confirmation in conn_stats.confirmed: 0 for ok, else by
 * its reason's text (a small fixed set, so that a metric's labels stay
 * few): "rate limited", "empty", "too long", "moderation", "not a
 * member", "banned", "server error", "shutting down", "other".
 */
size_t conn_confirm_class(int ok, const char *reason);
/* The reason label of class i ("" for 0, the ok one). */
const char *conn_confirm_label(size_t i);

/*
 * Most bytes of frames conn_write() sends with one write. lws sends at
 * most the protocol's tx_packet_size (else its rx_buffer_size) per send(),
 * keeping the rest for later passes of the loop: main.c sets it to this.
 */
#define CONN_TX_MAX 16384

struct conns {
	struct conn *list;
	struct conn **map;		/* by user; only live, authed conns */
	size_t nbuckets;
	size_t count;			/* conns with a live wsi */
	size_t mapped;
	uint64_t last_serial;		/* of the newest connection */
	struct conn_limits lim;
	int rx_off;			/* shutting down: never resume reading */
	struct conn_stats stats;
	unsigned char *txbuf;		/* conn_write's frames sent together */
};

/* An empty set with the limits (copied). 0, or -1 when out of memory. */
int conns_init(struct conns *cs, const struct conn_limits *lim);
/* Free the map; the connections themselves are gone by then. */
void conns_release(struct conns *cs);

/*
 * A new connection for wsi (refs = 1, the next serial), linked into the
 * list; NULL if OOM.
 */
struct conn *conn_new(struct conns *cs, struct lws *wsi, int64_t now_ms);

/*
 * The client sent a close frame (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE):
 * its code (the first two bytes of in) is remembered for the statistics.
 */
void conn_peer_closed(struct conn *c, const void *in, size_t len);

/*
 * lws closed the wsi: unmap, drop the queue, put the wsi's reference.
 * Counted as closed with the server's code, else the client's, else 1006.
 */
void conn_closed(struct conns *cs, struct conn *c);

/* Take / drop a reference (a job in flight). The last put frees. */
void conn_get(struct conn *c);
void conn_put(struct conns *cs, struct conn *c);

/* The live connection of a user, or NULL. */
struct conn *conns_user(struct conns *cs, const struct uuid *user);
/* Make c the user's live connection; returns the one it replaces or NULL. */
struct conn *conns_map(struct conns *cs, struct conn *c);

/*
 * Queue a frame (takes a reference of f) and ask for a writable callback.
 * Returns 0 when queued (or dropped because c is closing or gone), -1
 * when c was closed instead: f is NULL (out of memory: 4006), or the
 * queue is full (conn_close_slow).
 *
 * reply: f answers the client's own frame (a confirmation). Replies are
 * never refused; once queue_max frames wait, the connection's reading
 * pauses (lws_rx_flow_control) until half of them are written, so a
 * client that sends without reading is slowed down, not grown without
 * bound. Other frames (MessageReceived) are refused beyond queue_max:
 * the recipient does not keep up and is closed (4009 "too slow").
 */
int conn_push(struct conns *cs, struct conn *c, struct frame *f, int reply);

/*
 * A delivery (a room's message) for c: conn_push() once c is admitted;
 * before, held aside (a reference taken) until conn_admit() queues it,
 * or dropped if c closes first, so a user whose ban check has not passed
 * is sent no message, and none committed after the connect is lost to
 * the time the check takes (the database workers answer in any order,
 * store.h: a check may come back after messages of its rooms). Replies
 * (confirmations) are not held. Over CHAT_QUEUE_MAX held: closed as too
 * slow. 0, or -1 when c was closed.
 */
int conn_deliver(struct conns *cs, struct conn *c, struct frame *f);

/* c's ban check passed: queue what conn_deliver() held, in order. */
void conn_admit(struct conns *cs, struct conn *c);

/*
 * The rate limit (CHAT_WS_MSG_RATE, a token bucket of CHAT_WS_MSG_BURST
 * per connection, full at connect): 1 when c may send one more
 * SendMessage at now_ms (a token is taken), 0 when it is over the limit.
 * A user has one connection per daemon (4008), so this is per user on
 * one daemon; across daemons it is per connection.
 */
int conn_rate_take(struct conns *cs, struct conn *c, int64_t now_ms);

/*
 * A SendMessage of c went to the worker / came back answered. At
 * max_unconfirmed in flight c's reading pauses (lws_rx_flow_control)
 * until an answer brings it below again: backpressure, nothing dropped.
 */
void conn_submitted(struct conns *cs, struct conn *c);
void conn_answered(struct conns *cs, struct conn *c);

/*
 * Queue a MessageSentConfirmation on c (conn_push, reply): ok, reason
 * ("" when ok), the client's temp id, and id / created_at (0 / NULL
 * encode null).
 */
void conn_confirm(struct conns *cs, struct conn *c, int ok, const char *reason,
		  const char *temp, size_t temp_len, int64_t id, const char *created_at);

/*
 * Close with code and reason (copied): Disconnection frame, then the
 * close frame. A second call is ignored: the first reason wins.
 */
void conn_close(struct conns *cs, struct conn *c, int code, const char *reason);

/*
 * c does not read what it is sent: its queue is dropped and it is closed
 * with 4009 "too slow" (logged).
 */
void conn_close_slow(struct conns *cs, struct conn *c);

/*
 * A send to a room the user is not in (stale screen, removed, deleted):
 * confirmed:false; only the unauth_max-th within unauth_window_ms closes
 * c with 4012.
 */
void conn_unauthorized(struct conns *cs, struct conn *c, int64_t room_id,
		       const char *temp, size_t temp_len);

/*
 * Tell the client a close is coming (the Disconnection frame with code
 * and reason) while the connection stays open: it is still read and
 * still answered. The later conn_close() with the same code sends no
 * second Disconnection. The daemon's shutdown uses it so that frames
 * that cross the announcement are answered (SPEC.md, 4007).
 */
void conn_announce(struct conns *cs, struct conn *c, int code, const char *reason);

/*
 * LWS_CALLBACK_SERVER_WRITEABLE: a ping if due, else the next frame.
 * Returns -1 when lws must close the connection (after the close frame).
 */
int conn_write(struct conns *cs, struct conn *c);

/*
 * The timers of every connection, due at now_ms (call it about once a
 * second; they fire up to that late): token expiry (4009), the AFK limit
 * (4003), pings and the peers that do not answer them, and closes that
 * were not completed within CONN_CLOSE_GRACE_MS.
 */
void conns_sweep(struct conns *cs, int64_t now_ms);

#endif
