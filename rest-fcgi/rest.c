#include "rest.h"
#include "log.h"
#include "restmetrics.h"

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
