/*
 * restmetrics - the REST tier's counters, totals over every rest-fcgi
 * process, and the GET /metrics handler that writes them out
 * (docs/metrics.md).
 *
 * The tier is N independent processes (spawn-fcgi -F N, multiwatch), so
 * memory of one process, or memory shared by a fork, cannot hold the
 * totals. The counters live in a file every worker maps MAP_SHARED
 * (CHAT_REST_METRICS_FILE; the local stack puts it in its run directory,
 * a deployment in /run/swappart-chat/rest/, a tmpfs). The layout is fixed:
 * a header, then per route pattern of the route table (and one "other"
 * for paths no route matches) a counter per method x status and a
 * latency histogram (metrics.h): plain uint64_t, only ever changed with
 * atomic adds, so workers never lock to count and a reader sees each
 * counter whole. Whichever worker answers /metrics reads every worker's
 * counts.
 *
 * The first worker creates the file (under flock, so two starting at
 * once agree); the header's start time is process_start_time_seconds of
 * the tier: when its counters began. The file lasts as long as the run
 * directory (systemd removes /run/swappart-chat/rest when the service
 * stops; the local stack's stop removes it): a worker that multiwatch
 * restarts keeps counting into the same totals, a tier that is started
 * again starts from zero. A file of another layout (another build, other
 * routes) is replaced by a fresh one.
 *
 * Without CHAT_REST_METRICS_FILE the counters are the process's own (one
 * worker's share; logged at startup).
 *
 * Ownership: struct restmetrics owns its mapping (restmetrics_close).
 * Route patterns passed to restmetrics_open() are borrowed and must
 * outlive it (the route table's static strings). One thread per process.
 */
#ifndef REST_RESTMETRICS_H
#define REST_RESTMETRICS_H

#include <stddef.h>
#include <stdint.h>

#include "req.h"
#include "sbuf.h"

#define RESTMETRICS_MAX_ROUTES 32	/* distinct patterns of the route table */

struct rest_ctx;
struct restmetrics_shm;

struct restmetrics {
	struct restmetrics_shm *shm;	/* the mapping, shared or private */
	size_t size;
	const char *patterns[RESTMETRICS_MAX_ROUTES];	/* borrowed, distinct */
	size_t npatterns;
	int shared;			/* 1: a file's mapping */
	uint64_t db_reconnects_seen;	/* this process's, already added */
};

/*
 * Map the counters of path (created when missing or of another layout)
 * for the route patterns pats[0..n) (duplicates are fine: one per
 * distinct pattern); path "" keeps private counters. 0, or -1 with err
 * (more than RESTMETRICS_MAX_ROUTES patterns, a file that cannot be
 * opened or mapped).
 */
int restmetrics_open(struct restmetrics *m, const char *path, const char *const *pats,
		     size_t n, char *err, size_t errlen);
void restmetrics_close(struct restmetrics *m);

/*
 * One request answered: pattern is the route table's pattern that the
 * path matched (NULL: none, "other"), with its method, final status and
 * time in microseconds. m may be NULL (nothing counted).
 */
void restmetrics_request(struct restmetrics *m, const char *pattern, enum req_method method,
			 int status, uint64_t us);

/* A request failed on the database (rest_db_error). m may be NULL. */
void restmetrics_db_error(struct restmetrics *m);

/* A successful GET /rooms answer: hit 1 from the cache (listcache.h), 0 queried. m may be NULL. */
void restmetrics_list_cache(struct restmetrics *m, int hit);

/* This process's database reconnects so far (db_reconnects()): the new ones are added. */
void restmetrics_db_reconnects(struct restmetrics *m, uint64_t total);

/* The whole exposition of the tier into b (sbuf's sticky failure applies). */
void restmetrics_render(struct restmetrics *m, struct sbuf *b);

/*
 * GET /metrics (a public route at the FastCGI level: which addresses
 * reach it is nginx's allow list, nginx/chat.conf): 200 with the
 * exposition as text/plain version 0.0.4; 404 when ctx has no metrics.
 */
int restmetrics_serve(struct rest_ctx *ctx, struct req *q, struct resp *r);

#endif
