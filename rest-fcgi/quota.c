#include "quota.h"
#include "pgarr.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kind column of chat_rate_limits, by enum quota_kind. */
static const char *const quota_names[QUOTA_KINDS] = { "rooms", "adds" };

int quota_max(const struct cfg *c, const struct auth_claims *who, enum quota_kind k)
{
	if (who->is_admin)
		return 0;
	switch (k) {
	case QUOTA_ROOMS:
		return c->rooms_per_min;
	case QUOTA_ADDS:
		return c->adds_per_min;
	default:
		return 0;
	}
}

int quota_needed(const struct cfg *c, const struct auth_claims *who,
		 const struct quota_ask *ask)
{
	for (int k = 0; k < QUOTA_KINDS; k++)
		if (ask->n[k] > 0 && quota_max(c, who, k) > 0)
			return 1;
	return 0;
}

int quota_check_size(const struct cfg *c, const struct auth_claims *who,
		     const struct quota_ask *ask, char *err, size_t errlen)
{
	int m;

	for (int k = 0; k < QUOTA_KINDS; k++) {
		m = quota_max(c, who, k);
		if (m <= 0 || ask->n[k] <= m)
			continue;
		if (k == QUOTA_ADDS)
			snprintf(err, errlen, "this request adds %d users to rooms; the limit is "
				 "%d per %d s: add them in smaller steps", ask->n[k], m, c->limit_window);
		else
			snprintf(err, errlen, "this request creates %d rooms; the limit is %d per %d s",
				 ask->n[k], m, c->limit_window);
		return 400;
	}
	return 0;
}

int quota_take(struct rest_ctx *ctx, const struct auth_claims *who,
	       const struct quota_ask *ask, struct quota_refusal *ref,
	       char *err, size_t errlen)
{
	struct pgarr kinds, ns, maxs;
	const char *params[5];
	PGresult *res = NULL;
	char win[16];
	int rc = 0, m;

	pgarr_init(&kinds, 0);
	pgarr_init(&ns, 0);
	pgarr_init(&maxs, 0);
	for (int k = 0; k < QUOTA_KINDS; k++) {
		m = quota_max(ctx->cfg, who, k);
		if (ask->n[k] <= 0 || m <= 0)
			continue;
		pgarr_add_text(&kinds, quota_names[k], strlen(quota_names[k]));
		pgarr_add_i64(&ns, ask->n[k]);
		pgarr_add_i64(&maxs, m);
	}
	if (!kinds.n)
		goto out;
	snprintf(win, sizeof(win), "%d", ctx->cfg->limit_window);
	params[0] = who->sub;
	params[1] = pgarr_end(&kinds);
	params[2] = pgarr_end(&ns);
	params[3] = pgarr_end(&maxs);
	params[4] = win;
	if (!params[1] || !params[2] || !params[3]) {
		ctx->db->fail = DB_ERROR;
		snprintf(err, errlen, "out of memory");
		rc = -1;
		goto out;
	}
	res = db_exec(ctx->db, SQL_LIMIT_TAKE, 5, params, err, errlen);
	if (!res) {
		rc = -1;
		goto out;
	}
	if (!PQntuples(res))
		goto out;
	memset(ref, 0, sizeof(*ref));
	ref->kind = strcmp(PQgetvalue(res, 0, 0), quota_names[QUOTA_ROOMS]) ? QUOTA_ADDS : QUOTA_ROOMS;
	ref->n = ask->n[ref->kind];
	ref->used = atoi(PQgetvalue(res, 0, 1));
	ref->max = atoi(PQgetvalue(res, 0, 2));
	ref->retry_after = atoi(PQgetvalue(res, 0, 3));
	if (ref->retry_after < 1)
		ref->retry_after = 1;
	rc = 1;
out:
	PQclear(res);
	pgarr_release(&kinds);
	pgarr_release(&ns);
	pgarr_release(&maxs);
	return rc;
}

int quota_refuse(struct resp *r, const struct cfg *c, const struct quota_refusal *ref)
{
	int rc;

	if (ref->kind == QUOTA_ROOMS)
		rc = resp_error(r, 429, "too many rooms created: the limit is %d per %d s; "
				"retry in %d s", ref->max, c->limit_window, ref->retry_after);
	else
		rc = resp_error(r, 429, "too many users added to rooms: the limit is %d per %d s "
				"(%d added already, this request adds %d); retry in %d s",
				ref->max, c->limit_window, ref->used, ref->n, ref->retry_after);
	r->retry_after = ref->retry_after;
	return rc;
}

int quota_charge(struct rest_ctx *ctx, const struct auth_claims *who,
		 const struct quota_ask *ask, struct resp *r)
{
	struct quota_refusal ref;
	char err[512];
	int status;

	status = quota_check_size(ctx->cfg, who, ask, err, sizeof(err));
	if (status) {
		resp_error(r, status, "%s", err);
		return 1;
	}
	switch (quota_take(ctx, who, ask, &ref, err, sizeof(err))) {
	case 0:
		return 0;
	case 1:
		quota_refuse(r, ctx->cfg, &ref);
		return 1;
	default:
		rest_db_error(ctx, r, "rate limits", err);
		return 1;
	}
}
