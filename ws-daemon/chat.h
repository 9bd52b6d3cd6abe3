/*
 * chat - the websocket tier's behaviour (SPEC.md sections 3 to 5).
 * chat.c: the lws protocol callback, connections and their frames, the
 * once-a-second sweep (idle timeout, token expiry, pings, stuck closes)
 * and the shutdown sequence. deliver.c: the worker's answers, the bus's
 * events and the in-order release of committed messages to recipients.
 *
 * One struct chat per daemon, owned by main.c and reached from lws
 * callbacks through lws_context_user(). Everything in it belongs to the
 * service thread except what store.h and bus.h say they lock.
 */
#ifndef WS_CHAT_H
#define WS_CHAT_H

#include <libwebsockets.h>
#include <stdint.h>

#include "auth.h"
#include "bus.h"
#include "cfg.h"
#include "conn.h"
#include "cron.h"
#include "moderation.h"
#include "roomcache.h"
#include "store.h"

#define CHAT_GAP_MS 500		/* longest wait for a missing predecessor */

/*
 * The shutdown (SIGTERM/SIGINT), so that every SendMessage read gets its
 * one confirmation before the close (SPEC.md, 4007):
 *   CHAT_SHUT_GRACE   every client has Disconnection 4007; frames are
 *                     still read and stored as usual for
 *                     CHAT_SHUTDOWN_GRACE_MS (they may have crossed it);
 *   CHAT_SHUT_REFUSE  frames still read are answered confirmed:false
 *                     "server shutting down" while the worker finishes
 *                     what it holds (at most 30 s);
 *   CHAT_SHUT_CLOSE   reading stops, each queue drains, then the close
 *                     frame 4007.
 */
enum chat_shutdown { CHAT_RUNNING = 0, CHAT_SHUT_GRACE, CHAT_SHUT_REFUSE, CHAT_SHUT_CLOSE };

/* What lws keeps per connection: a pointer, so the state can outlive it. */
struct chat_pss {
	struct conn *c;
};

struct chat {
	struct lws_context *ctx;
	const struct cfg *cfg;
	struct auth auth;
	struct moderation mod;
	struct store store;
	struct bus bus;
	struct rcache rooms;
	struct conns conns;
	struct cron cron;		/* the periodic jobs */
	lws_sorted_usec_list_t sul_gap;
	int gap_scheduled;
	uint32_t inflight;		/* SendMessage jobs at the worker */
	uint32_t loads_failed;		/* rooms waiting for a load retry */
	enum chat_shutdown shutting_down;
	int64_t shutdown_ms;		/* when the current phase began */
	lws_sorted_usec_list_t sul_shutdown;
	uint64_t delivered;
	/* at the last statistics line */
	struct store_stats stats;
	uint64_t stats_delivered;
};

/*
 * Set up everything but lws: auth, moderation list, rooms, connections,
 * then the bus (binds the inbox) and the worker. 0, or -1 with err.
 */
int chat_init(struct chat *ch, const struct cfg *cfg, char *err, size_t errlen);

/* Once the lws context exists: start the sweep timer. */
void chat_attach(struct chat *ch, struct lws_context *ctx);

/* The protocol callback (protocols[0] of the vhost). */
int chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len);

/* Wake the service thread (any thread, also a signal handler). */
void chat_wake(void *arg);

/* SIGTERM/SIGINT: begin the shutdown (enum chat_shutdown). */
void chat_shutdown(struct chat *ch);

/* 1 once the shutdown is complete: the caller destroys the context. */
int chat_finished(struct chat *ch);

/* Before lws_context_destroy(): stop the worker and the bus threads. */
void chat_stop_threads(struct chat *ch);

/* After lws_context_destroy(): free everything. */
void chat_release(struct chat *ch);

/* ---- between chat.c and deliver.c (service thread only) ---- */

/* Ask the worker for a room's members (answer: deliver.c). */
void chat_load_room(struct chat *ch, int64_t room_id);

/* Handle every answer of the worker / event of the bus waiting. */
void chat_store_answers(struct chat *ch);
void chat_bus_events(struct chat *ch);

/* lws_sul callback: release what waited for a gap in a room's chain. */
void chat_gap_tick(lws_sorted_usec_list_t *sul);

#endif
