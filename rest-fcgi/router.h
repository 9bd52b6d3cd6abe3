/*
 * router - the steps every request of the REST tier takes before its
 * handler runs, over a table of {method, pattern, access, handler} (the
 * service's table is routes.c's; tests pass their own):
 *
 *   1. path: no pattern matches -> 404; a pattern matches but not with
 *      this method -> 405 with an Allow header. A ROUTE_DEV route exists
 *      only in a development stack (cfg->dev, CHAT_DEV=1): elsewhere it
 *      matches nothing, so its path is a 404 like any unknown one;
 *   2. body over CHAT_MAX_BODY -> 413;
 *   3. access: ROUTE_USER and ROUTE_ADMIN need a valid bearer token
 *      (401 with WWW-Authenticate: Bearer otherwise); ROUTE_ADMIN also
 *      needs role service_role (403 otherwise);
 *   4. the ":id" of the path, as the route declares it (enum route_id):
 *      anything else -> 400; the handler gets the parsed value;
 *   5. the handler fills the response. Whether the caller is banned is
 *      checked by the handlers inside their first SQL statement (one
 *      round trip), so it is not a separate step here.
 *
 * Patterns are literal segments and at most one ":id" segment (one
 * non-empty segment, copied into req->param). One trailing slash of the
 * path is ignored.
 */
#ifndef REST_ROUTER_H
#define REST_ROUTER_H

#include <stddef.h>

#include "rest.h"

/* ROUTE_DEV: no token, and only in a development stack (step 1). */
enum route_access { ROUTE_PUBLIC = 0, ROUTE_USER, ROUTE_ADMIN, ROUTE_DEV };

/*
 * What a route's ":id" is. The router checks it once (step 4) and fills
 * the field of struct req the handler reads, so no handler parses q->param.
 */
enum route_id {
	ROUTE_ID_NONE = 0,	/* the pattern has no ":id" */
	ROUTE_ID_ROOM,		/* a room id, a positive int64 -> q->id_int; else
				   400 "room id '...' must be a positive integer" */
	ROUTE_ID_USER,		/* a user id, a UUID in any case -> q->id_uuid
				   (lowercase); else 400 "user id '...' is not a
				   valid UUID" */
};

struct route {
	enum req_method method;
	const char *pattern;
	enum route_access access;
	enum route_id id;
	rest_handler fn;
};

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

#endif
