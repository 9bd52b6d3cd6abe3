/*
 * wsmetrics - the daemon's Prometheus exposition (docs/metrics.md): what
 * GET /metrics on the daemon's port answers (chat.c), and nginx's
 * /metrics/ws/N.
 *
 * The counters live with the modules that count (conn.h conn_stats,
 * daemon.h daemon_chat and daemon_deliver on the service thread; store.h
 * store_stats and bus.h bus_stats, atomics of the worker and bus
 * threads); this module only reads them, on the service thread, so no
 * lock is taken.
 *
 * Layering: above daemon.h and the modules it holds; called by chat.c
 * only.
 */
#ifndef WS_WSMETRICS_H
#define WS_WSMETRICS_H

#include "sbuf.h"

struct daemon;

/* Append the whole exposition of d to b (sbuf's sticky failure applies). */
void wsmetrics_render(struct daemon *d, struct sbuf *b);

#endif
