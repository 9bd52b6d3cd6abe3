/*
 * router - one table of {method, pattern, access, handler} for the REST
 * tier (SPEC.md sections 2 and 5), and the steps every request takes
 * before a handler runs:
 *
 *   1. path: no pattern matches -> 404; a pattern matches but not with
 *      this method -> 405 with an Allow header;
 *   2. body over CHAT_MAX_BODY -> 413;
 *   3. access: ROUTE_USER and ROUTE_ADMIN need a valid bearer token
 *      (401 with WWW-Authenticate: Bearer otherwise); ROUTE_ADMIN also
 *      needs role service_role (403 otherwise);
 *   4. the handler fills the response. Whether the caller is banned is
 *      checked by the handlers inside their first SQL statement (one
 *      round trip), so it is not a separate step here.
 *
 * Patterns are literal segments and ":id" segments (one non-empty segment,
 * copied into req->param). One trailing slash of the path is ignored.
 */
#ifndef REST_ROUTER_H
#define REST_ROUTER_H

#include <stddef.h>

#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "evt.h"
#include "req.h"

/* What a handler may use; all borrowed from main.c (or a unit test). */
struct rest_ctx {
	const struct cfg *cfg;
	const struct auth *auth;
	struct db *db;
	struct evt_pub *pub;	/* NULL: events are not published */
};

enum route_access { ROUTE_PUBLIC = 0, ROUTE_USER, ROUTE_ADMIN };

/* Fills r (always sets a status). Returns 0, or -1 when r was not filled. */
typedef int (*route_fn)(struct rest_ctx *ctx, struct req *q, struct resp *r);

struct route {
	enum req_method method;
	const char *pattern;
	enum route_access access;
	route_fn fn;
};

/* The service's table (router.c). */
extern const struct route rest_routes[];
extern const size_t rest_nroutes;

/*
 * 1 if path matches pattern (":id" segment copied into param[paramlen]),
 * 0 if not. A ":id" segment longer than paramlen - 1 does not match.
 */
int router_match(const char *pattern, const char *path, char *param, size_t paramlen);

/*
 * Run q through the steps above with table tbl and fill r. r always has
 * a status and a body afterwards (500 when a handler failed to fill it).
 */
void router_dispatch(const struct route *tbl, size_t n, struct rest_ctx *ctx,
		     struct req *q, struct resp *r);

/* router_dispatch() with rest_routes. */
void router_handle(struct rest_ctx *ctx, struct req *q, struct resp *r);

/*
 * A failed db_*() call as a response, from its class (db.h, ctx->db->fail):
 * 503 "database unavailable" for DB_DOWN and DB_TIMEOUT, 503 "database
 * busy" for DB_BUSY, 500 (logged as an error) for anything else. what
 * names the step in logs, err is the db call's message.
 */
int rest_db_error(struct rest_ctx *ctx, struct resp *r, const char *what,
		  const char *err);

#endif
