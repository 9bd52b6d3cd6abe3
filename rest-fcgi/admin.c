#include "admin.h"
#include "chrono.h"
#include "jsonutil.h"
#include "log.h"
#include "restmetrics.h"
#include "sql.h"

#include <stdio.h>
#include <string.h>

int admin_health(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	static const char down[] =
		"{\"error_message\":\"database unavailable\",\"data\":{\"database\":\"down\"}}";
	PGresult *res;
	char err[512];
	int up;

	(void)q;
	/* A real round trip: an idle connection may look fine and be dead. */
	res = db_exec(ctx->db, SQL_HEALTH, 0, NULL, err, sizeof(err));
	up = res != NULL;
	PQclear(res);
	if (up)
		return resp_data_text(r, 200, "{\"database\":\"up\"}", 17);
	log_warn("health: %s", err);
	restmetrics_db_error(ctx->metrics);
	/* The envelope's error and the state both, so monitors can read either. */
	return resp_set(r, 503, down, sizeof(down) - 1);
}

static void admin_publish(struct rest_ctx *ctx, enum evt_type type, const char *user)
{
	struct evt e = { .type = type, .at_ms = chrono_wall_ms() };

	memcpy(e.user, user, sizeof(e.user));
	if (!ctx->pub || !ctx->pub->sock)
		return;
	if (evt_publish(ctx->pub, &e))
		log_warn("user %s: event dropped (no memory or queue full)", user);
}

int admin_disconnect(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	admin_publish(ctx, EVT_DISCONNECT, q->id_uuid);
	log_info("admin %s disconnected user %s", q->who.sub, q->id_uuid);
	return resp_data_text(r, 200, NULL, 0);
}

int admin_ban(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	const char *reason = NULL, *params[3];
	json_object *o = NULL;
	PGresult *res = NULL;
	const char *user = q->id_uuid;
	char err[512];
	int rc = 0;

	/* The body is optional; when given it must be an object. */
	if (q->body_len) {
		o = json_parse_object(q->body, q->body_len, "body", err, sizeof(err));
		if (!o || json_get_string(o, "reason", &reason, err, sizeof(err)) < 0) {
			rc = resp_error(r, 400, "%s", err);
			goto out;
		}
	}
	params[0] = user;
	/* banned_by is a uuid column; the admin token's sub is one (auth.h). */
	params[1] = q->who.sub;
	params[2] = reason;
	res = db_exec(ctx->db, SQL_BAN, 3, params, err, sizeof(err));
	if (!res) {
		rc = rest_db_error(ctx, r, "ban", err);
		goto out;
	}
	rc = resp_data_text(r, 200, PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
	/* db_exec is autocommit: the ban is committed here. */
	rest_lists_changed(ctx, 0, (const char (*)[UUID_STR_SIZE])q->id_uuid, 1);
	admin_publish(ctx, EVT_BAN, user);
	log_info("admin %s banned user %s", q->who.sub, user);
out:
	PQclear(res);
	json_object_put(o);
	return rc;
}

int admin_unban(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	const char *params[1];
	PGresult *res;
	char err[512];
	int rc;

	params[0] = q->id_uuid;
	res = db_exec(ctx->db, SQL_UNBAN, 1, params, err, sizeof(err));
	if (!res)
		return rest_db_error(ctx, r, "unban", err);
	if (PQntuples(res)) {
		rest_lists_changed(ctx, 0, (const char (*)[UUID_STR_SIZE])q->id_uuid, 1);
		log_info("admin %s unbanned user %s", q->who.sub, q->id_uuid);
	}
	rc = resp_data_text(r, 200, NULL, 0);
	PQclear(res);
	return rc;
}
