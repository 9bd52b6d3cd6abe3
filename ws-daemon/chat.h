/*
 * chat - the daemon's lws protocol (SPEC.md section 3): a connection is
 * established (token checked, older connection of the user closed 4008,
 * a ban check sent to the worker: until it passes the connection gets no
 * deliveries, and when it cannot be made the connection is closed 4006),
 * its frames are read (fragments joined up to CHAT_FRAME_MAX, parsed,
 * checked: rate limit, blank, too long, moderation) and each SendMessage
 * goes to the worker (at CHAT_WS_MAX_UNCONFIRMED in flight the
 * connection is not read until answers come back); the connection's queue is
 * written when lws says it is writable, and its state freed when lws
 * closes it. A wake of the service thread (lws_cancel_service) hands
 * over to deliver.h.
 *
 * What lws keeps per connection is a struct chat_pss: a pointer to the
 * struct conn (conn.h), so that state can outlive the wsi while a job of
 * it is at the worker. The daemon is lws_context_user() (daemon.h).
 *
 * Service thread only.
 */
#ifndef WS_CHAT_H
#define WS_CHAT_H

#include <libwebsockets.h>

struct conn;

/*
 * The reason of the confirmed:false a SendMessage over CHAT_WS_MSG_RATE
 * gets (documented: clients may match it).
 */
#define CHAT_RATE_LIMITED "rate limited"

/* lws's per-session data (per_session_data_size). */
struct chat_pss {
	struct conn *c;
};

/* The protocol callback (protocols[0] of the vhost). */
int chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len);

#endif
