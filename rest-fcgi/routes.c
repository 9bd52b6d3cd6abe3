#include "routes.h"
#include "admin.h"
#include "dev.h"
#include "restmetrics.h"
#include "rooms.h"

/* {method, pattern, access, kind of :id, handler} */
const struct route routes_table[] = {
	{ REQ_GET, "/health", ROUTE_PUBLIC, ROUTE_ID_NONE, admin_health },
	/* public here: nginx's allow list decides who reaches it (nginx/chat.conf) */
	{ REQ_GET, "/metrics", ROUTE_PUBLIC, ROUTE_ID_NONE, restmetrics_serve },
	{ REQ_GET, "/rooms", ROUTE_USER, ROUTE_ID_NONE, rooms_list },
	{ REQ_POST, "/rooms", ROUTE_USER, ROUTE_ID_NONE, rooms_create },
	{ REQ_PUT, "/rooms", ROUTE_USER, ROUTE_ID_NONE, rooms_update },
	{ REQ_GET, "/rooms/:id", ROUTE_USER, ROUTE_ID_ROOM, rooms_get },
	{ REQ_DELETE, "/rooms/:id", ROUTE_USER, ROUTE_ID_ROOM, rooms_delete },
	{ REQ_POST, "/admin/users/:id/disconnect", ROUTE_ADMIN, ROUTE_ID_USER, admin_disconnect },
	{ REQ_PUT, "/admin/bans/:id", ROUTE_ADMIN, ROUTE_ID_USER, admin_ban },
	{ REQ_DELETE, "/admin/bans/:id", ROUTE_ADMIN, ROUTE_ID_USER, admin_unban },
	{ REQ_POST, "/dev/token", ROUTE_DEV, ROUTE_ID_NONE, dev_token },
};
const size_t routes_count = sizeof(routes_table) / sizeof(routes_table[0]);

void routes_handle(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	router_dispatch(routes_table, routes_count, ctx, q, r);
}
