/*
 * routes - the service's one route table (SPEC.md sections 2 and 5).
 *
 * Layering: routes.c is the only file that knows both the router
 * (router.h) and the handlers (rooms.h, admin.h, dev.h); the router knows no
 * handler and no handler knows the router (they stand on rest.h).
 */
#ifndef REST_ROUTES_H
#define REST_ROUTES_H

#include <stddef.h>

#include "router.h"

extern const struct route routes_table[];
extern const size_t routes_count;

/* router_dispatch() with routes_table: one request, r always filled. */
void routes_handle(struct rest_ctx *ctx, struct req *q, struct resp *r);

#endif
