/*
 * daemon - the state of one ws-daemon process, in one struct.
 *
 * One struct daemon per process, owned by main.c (static storage),
 * set up and torn down by life.c, and reached from lws callbacks
 * through lws_context_user(). Each part belongs to the module named
 * beside it; the modules above them (chat.c, deliver.c, life.c) reach
 * each other's parts only through the functions of those modules.
 *
 * Threads. Everything here belongs to the lws service thread, except:
 * store and bus, whose headers say what their threads touch and what
 * is locked; and ctx, which the worker and bus threads read (atomically)
 * to wake the service thread (life_wake).
 *
 * Layering: this header holds data only. It includes the headers of the
 * parts it holds (leaf modules: conn, cron, roomcache, store, bus,
 * auth, moderation, cfg, log) and never a module that uses struct daemon
 * (chat.h, deliver.h, life.h), so that no two files include each other
 * in a circle.
 */
#ifndef WS_DAEMON_H
#define WS_DAEMON_H

#include <libwebsockets.h>
#include <stdint.h>

#include "auth.h"
#include "bus.h"
#include "cfg.h"
#include "conn.h"
#include "cron.h"
#include "listener.h"
#include "log.h"
#include "moderation.h"
#include "roomcache.h"
#include "store.h"

/*
 * The shutdown (SIGTERM/SIGINT), so that every SendMessage read gets its
 * one confirmation before the close (SPEC.md, 4007):
 *   DAEMON_SHUT_GRACE   every client has Disconnection 4007; frames are
 *                       still read and stored as usual for
 *                       CHAT_SHUTDOWN_GRACE_MS (they may have crossed it);
 *   DAEMON_SHUT_REFUSE  frames still read are answered confirmed:false
 *                       "server shutting down" while the worker finishes
 *                       what it holds (at most 30 s);
 *   DAEMON_SHUT_CLOSE   reading stops, each queue drains, then the close
 *                       frame 4007.
 */
enum daemon_phase {
	DAEMON_RUNNING = 0, DAEMON_SHUT_GRACE, DAEMON_SHUT_REFUSE, DAEMON_SHUT_CLOSE
};

/* deliver.c's: the in-order release of rooms' messages. */
struct daemon_deliver {
	lws_sorted_usec_list_t sul_gap;	/* retry rooms waiting for a gap */
	int gap_scheduled;
	uint32_t loads_failed;		/* rooms waiting for a load retry */
	uint64_t delivered;		/* MessageReceived frames queued */
	/* peers' message events dropped: */
	uint64_t unconfirmed;		/* Postgres has no such message */
	uint64_t unverified;		/* Postgres could not be asked */
	struct log_limit drop_log;
};

/* life.c's: the shutdown in progress (enum daemon_phase). */
struct daemon_shutdown {
	enum daemon_phase phase;	/* chat.c reads it */
	int64_t since_ms;		/* when the current phase began */
	lws_sorted_usec_list_t sul;	/* short ticks while stopping */
};

/* chat.c's: SendMessage frames (chat_ws_* metrics, wsmetrics.h). */
struct daemon_chat {
	uint64_t received;		/* parsed SendMessage frames */
	uint64_t rate_limited;		/* ... refused by CHAT_WS_MSG_RATE */
};

/* life.c's: the counters at the last statistics line. */
struct daemon_stats {
	struct store_stats store;
	struct bus_stats bus;
	uint64_t delivered, unconfirmed, unverified;
};

struct daemon {
	struct lws_context *ctx;	/* NULL outside life_attach..life_stop_threads */
	const struct cfg *cfg;
	struct auth auth;		/* token checks at connect (chat.c) */
	struct moderation mod;		/* banned terms (chat.c) */
	struct conns conns;		/* every connection (conn.h) */
	struct rcache rooms;		/* membership, held messages (deliver.c) */
	struct store store;		/* the Postgres worker thread */
	struct bus bus;			/* the ZeroMQ inbox thread and PUB socket */
	struct cron cron;		/* the periodic jobs (life.c's table) */
	struct listener listener;	/* the port: accepts for lws (main.c) */
	uint64_t trimmed_at;		/* listener.accepted at the last memory trim (life.c) */
	uint32_t inflight;		/* SendMessage jobs at the worker */
	int64_t start_ms;		/* when life_init() ran (wall clock) */
	struct daemon_chat chat;
	struct daemon_deliver deliver;
	struct daemon_shutdown shutdown;
	struct daemon_stats stats;
};

#endif
