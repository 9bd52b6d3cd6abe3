/*
 * admin - administration (SPEC.md section 5) and the health check.
 *
 * The /admin routes are ROUTE_ADMIN: the router has already refused any
 * token without role service_role (403). A service_role token is the
 * service's own credential, not a user's, so it is not subject to bans.
 * The :id of every /admin route is a user id (ROUTE_ID_USER): the router
 * answered 400 for anything but a UUID and hands it over in q->id_uuid.
 *
 *   GET /health                        no token; 200 {"database":"up"} or
 *                                      503 {"database":"down"}
 *   POST /admin/users/:id/disconnect   EVT_DISCONNECT to every daemon (4004)
 *   PUT /admin/bans/:id                ban (idempotent), EVT_BAN after the
 *                                      COMMIT; optional body {"reason": str}
 *   DELETE /admin/bans/:id             unban (idempotent)
 */
#ifndef REST_ADMIN_H
#define REST_ADMIN_H

#include "rest.h"

int admin_health(struct rest_ctx *ctx, struct req *q, struct resp *r);
int admin_disconnect(struct rest_ctx *ctx, struct req *q, struct resp *r);
int admin_ban(struct rest_ctx *ctx, struct req *q, struct resp *r);
int admin_unban(struct rest_ctx *ctx, struct req *q, struct resp *r);

#endif
