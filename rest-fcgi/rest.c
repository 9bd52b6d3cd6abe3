#include "rest.h"
#include "listcache.h"
#include "log.h"
#include "pgarr.h"
#include "restmetrics.h"
#include "sql.h"

/* The only place a database failure becomes an HTTP status. */
int rest_db_error(struct rest_ctx *ctx, struct resp *r, const char *what,
		  const char *err)
{
	restmetrics_db_error(ctx->metrics);
	switch (ctx->db->fail) {
	case DB_DOWN:
	case DB_TIMEOUT:
		log_warn("%s: %s", what, err);
		return resp_error(r, 503, "database unavailable, try again shortly");
	case DB_BUSY:	/* the client may just retry */
		log_warn("%s: %s", what, err);
		return resp_error(r, 503, "database busy, try again");
	default:
		log_error("%s: %s", what, err);
		return resp_error(r, 500, "internal server error");
	}
}

void rest_lists_changed(struct rest_ctx *ctx, long long room,
			const char (*users)[UUID_STR_SIZE], size_t nusers)
{
	struct pgarr rooms, us;
	const char *vals[2];
	PGresult *res;
	char err[512];

	/* this host's workers: before the answer, no race */
	if (room > 0)
		listcache_room_changed(ctx->lists, room);
	for (size_t i = 0; i < nusers; i++)
		listcache_user_changed(ctx->lists, users[i]);
	/* every host's: the announcement (shared/listnotify.h) */
	pgarr_init(&rooms, 0);
	pgarr_init(&us, nusers * UUID_STR_SIZE);
	if (room > 0)
		pgarr_add_i64(&rooms, room);
	for (size_t i = 0; i < nusers; i++)
		pgarr_add_uuid(&us, users[i]);
	vals[0] = room > 0 ? pgarr_end(&rooms) : NULL;
	vals[1] = nusers ? pgarr_end(&us) : NULL;
	if ((room > 0 && !vals[0]) || (nusers && !vals[1])) {
		log_warn("room list change not announced: out of memory");
		goto out;
	}
	res = db_exec(ctx->db, SQL_LIST_NOTIFY, 2, vals, err, sizeof(err));
	if (!res) {
		/*
		 * Lost. This host: everything counts as changed. The others:
		 * a new connection announces "everything" (LISTNOTIFY_HELLO),
		 * so make it now rather than at the next request.
		 */
		log_warn("room list change not announced: %s", err);
		listcache_notified(ctx->lists, "*");
		if (ctx->db->fail == DB_DOWN && !db_ensure(ctx->db, err, sizeof(err)))
			log_info("announced everything as changed instead");
	}
	PQclear(res);
out:
	pgarr_release(&rooms);
	pgarr_release(&us);
}
