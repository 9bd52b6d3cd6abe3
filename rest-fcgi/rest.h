/*
 * rest - what a REST handler needs: the context it runs in, the handler
 * type, and the one answer to a failed database call. A handler (rooms.c,
 * admin.c) includes this header and answers with req.h's response
 * helpers; it never includes the router or the route table.
 *
 * Layering: above req.h and shared/ (auth, cfg, db, evt). Never router.h,
 * routes.h or a handler's header: the router and the table stand on this
 * header, not the reverse.
 */
#ifndef REST_REST_H
#define REST_REST_H

#include <stddef.h>

#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "evt.h"
#include "req.h"
#include "uuid.h"

struct restmetrics;
struct listcache;

/* What a handler may use; all borrowed from main.c (or a unit test). */
struct rest_ctx {
	const struct cfg *cfg;
	const struct auth *auth;
	struct db *db;
	struct evt_pub *pub;	/* NULL: events are not published */
	struct restmetrics *metrics;	/* NULL: nothing counted (restmetrics.h) */
	struct listcache *lists;	/* NULL: GET /rooms always queries (listcache.h) */
};

/*
 * A handler. It runs after the router's checks (router.h): q->who is the
 * verified caller on token routes. It fills r (always sets a status) and
 * returns 0, or returns -1 when r was not filled (the router answers 500).
 */
typedef int (*rest_handler)(struct rest_ctx *ctx, struct req *q, struct resp *r);

/*
 * A failed db_*() call as a response, from its class (db.h, ctx->db->fail):
 * 503 "database unavailable" for DB_DOWN and DB_TIMEOUT, 503 "database
 * busy" for DB_BUSY, 500 (logged as an error) for anything else. what
 * names the step in logs, err is the db call's message (never sent to
 * the client). Returns what resp_error() returns.
 */
int rest_db_error(struct rest_ctx *ctx, struct resp *r, const char *what,
		  const char *err);

/*
 * After a COMMIT that changed what GET /rooms shows: room (0: none) and
 * the users users[0..nusers) whose memberships or ban changed. Bumps this
 * tier's change table before the answer goes out (so the caller's next
 * list has it, whichever worker answers) and announces the change to
 * every other listener (shared/listnotify.h). Never fails the request.
 */
void rest_lists_changed(struct rest_ctx *ctx, long long room,
			const char (*users)[UUID_STR_SIZE], size_t nusers);

#endif
