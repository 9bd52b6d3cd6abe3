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
	uint32_t inflight;		/* SendMessage frames at the worker */
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
	unsigned rx_paused:1;		/* backpressure: too many replies queued */
	unsigned announced:1;		/* Disconnection queued, still open */
	uint16_t close_code;		/* of the close, or of the announcement */
	uint16_t unauth_count;		/* sends to foreign rooms in the window */
	int64_t unauth_since_ms;	/* start of that window */
	char *close_reason;		/* owned */
	struct frame **q;		/* ring of owned references */
	uint32_t qhead, qlen, qcap;
	char *rx;			/* fragments of the frame being received */
	uint32_t rxlen;
};

struct conns {
	struct conn *list;
	struct conn **map;		/* by user; only live, authed conns */
	size_t nbuckets;
	size_t count;			/* conns with a live wsi */
	size_t mapped;
	uint32_t queue_max;
	int rx_off;			/* shutting down: never resume reading */
};

int conns_init(struct conns *cs, uint32_t queue_max);
/* Free the map; the connections themselves are gone by then. */
void conns_release(struct conns *cs);

/* A new connection for wsi (refs = 1), linked into the list; NULL if OOM. */
struct conn *conn_new(struct conns *cs, struct lws *wsi, uint64_t serial, int64_t now_ms);

/* lws closed the wsi: unmap, drop the queue, put the wsi's reference. */
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
 * 0 when queued (or dropped because c is closing or gone), -1 when the
 * queue is full: the caller closes the connection as too slow.
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
 * Close with code and reason (copied): Disconnection frame, then the
 * close frame. drop_queue discards what is queued first (slow reader).
 * A second call is ignored: the first reason wins.
 */
void conn_close(struct conns *cs, struct conn *c, int code, const char *reason,
		int drop_queue, int64_t now_ms);

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

#endif
