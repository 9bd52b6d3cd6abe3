#include "routes.h"
#include "admin.h"
#include "rooms.h"

const struct route routes_table[] = {
	{ REQ_GET, "/health", ROUTE_PUBLIC, admin_health },
	{ REQ_GET, "/rooms", ROUTE_USER, rooms_list },
	{ REQ_POST, "/rooms", ROUTE_USER, rooms_create },
	{ REQ_PUT, "/rooms", ROUTE_USER, rooms_update },
	{ REQ_GET, "/rooms/:id", ROUTE_USER, rooms_get },
	{ REQ_DELETE, "/rooms/:id", ROUTE_USER, rooms_delete },
	{ REQ_POST, "/admin/users/:id/disconnect", ROUTE_ADMIN, admin_disconnect },
	{ REQ_PUT, "/admin/bans/:id", ROUTE_ADMIN, admin_ban },
	{ REQ_DELETE, "/admin/bans/:id", ROUTE_ADMIN, admin_unban },
};
const size_t routes_count = sizeof(routes_table) / sizeof(routes_table[0]);

void routes_handle(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	router_dispatch(routes_table, routes_count, ctx, q, r);
}
