/*
 * bus - the daemon's ZeroMQ side (shared/evt.h): the inbox where the REST
 * tier and the peer daemons publish, and the PUB socket to the peers.
 *
 * The inbox (SUB) is read by a thread of its own that decodes events and
 * queues them, then wakes the service thread (wake callback, i.e.
 * lws_cancel_service): the service thread never waits on ZeroMQ, and the
 * JSON decoding of peer traffic runs off it. The PUB socket is only used
 * by the service thread; evt_publish() never blocks (a full or absent
 * peer drops the event). Frames that are not events, and implausible
 * events (evt.h), are dropped by the inbox thread: counted (bus_stats)
 * and logged at most once a second.
 *
 * The inbox is bound in bus_open(), before the daemon serves anyone, so
 * nothing published after the daemon started is missed. A tcp:// inbox is
 * a CURVE server whose ZAP handler (curve.h), run by the inbox thread,
 * admits only the publisher keys of CHAT_EVT_ALLOWED_KEYS; bus_open()
 * refuses a tcp:// inbox without keys.
 */
#ifndef WS_BUS_H
#define WS_BUS_H

#include <pthread.h>

#include "cfg.h"
#include "evt.h"
#include "handoff.h"
#include "log.h"

struct bus_item {
	struct handoff_link link;
	struct evt e;		/* decoded, owned: bus_item_free */
};

/* The item after it in a chain from bus_take(), or NULL. */
static inline struct bus_item *bus_item_next(const struct bus_item *it)
{
	return handoff_entry(it->link.next, struct bus_item, link);
}

/*
 * What the bus has counted since bus_open(): the inbox thread's and,
 * for publishing, the service thread's (all atomics).
 */
struct bus_stats {
	uint64_t dropped;	/* frames that are not events, or implausible ones */
	uint64_t refused;	/* publishers the ZAP handler turned away */
	uint64_t recv_errors;	/* receives that failed (not "nothing waiting") */
	uint64_t poll_errors;	/* polls of the inbox that failed */
	uint64_t received[EVT_NTYPES];	/* events handed over, by type */
	uint64_t published[EVT_NTYPES];	/* events queued to the peers, by type */
	uint64_t publish_failed;	/* events bus_publish() dropped */
};

struct bus {
	void *zctx;
	void *sub;		/* the inbox thread's */
	struct evt_keys keys;
	struct curve_zap zap;	/* the inbox thread's; sock NULL: ipc inbox */
	struct evt_pub pub;	/* the service thread's */
	int npeers;		/* other daemons */
	int origin;		/* CHAT_WS_ID */
	pthread_t thread;
	struct handoff events;	/* decoded, to the service thread */
	int stop;		/* atomic: bus_close() to the thread */
	int started;
	struct bus_stats stats;	/* the inbox thread's (atomics): bus_stats() */
	struct log_limit poll_log, recv_log, drop_log;	/* the inbox thread's */
};

/* Bind the inbox, connect to the peers, start the thread. 0, or -1 with err. */
int bus_open(struct bus *b, const struct cfg *c, void (*wake)(void *arg),
	     void *arg, char *err, size_t errlen);

/* Every event received so far, oldest first; the caller owns the list. */
struct bus_item *bus_take(struct bus *b);

void bus_item_free(struct bus_item *it);

/* A copy of the counters (any thread: they are read atomically). */
void bus_stats(struct bus *b, struct bus_stats *out);

/* Publish to every peer daemon without blocking. 0 queued, -1 dropped. */
int bus_publish(struct bus *b, const struct evt *e);

/* Stop the thread and close everything. */
void bus_close(struct bus *b);

#endif
