/*
 * quota - the per-user rate limits of the REST tier (README "Limits"):
 * rooms a user creates (CHAT_ROOMS_PER_MIN) and users a user adds to
 * rooms, by POST or PUT (CHAT_ADDS_PER_MIN), per CHAT_LIMIT_WINDOW
 * seconds.
 *
 * The counters live in Postgres (sql/005, chat_limit_take), because the
 * tier runs as several processes, possibly on several hosts, and a limit
 * must hold across all of them. A handler takes what a request uses
 * inside the transaction that applies it, after applying it: a refusal
 * rolls back both, and a request refused for any reason counts nothing.
 * A service_role caller (the service's own credential, which bans do not
 * touch either) is not limited; neither is a kind whose setting is 0.
 *
 * The room size cap (CHAT_ROOM_MAX_MEMBERS) is a rule of a room, not of a
 * caller: rooms.h.
 *
 * Layering: above rest.h (req, cfg, db). Never a handler's header, the
 * router or the route table.
 */
#ifndef REST_QUOTA_H
#define REST_QUOTA_H

#include <stddef.h>

#include "rest.h"

enum quota_kind { QUOTA_ROOMS = 0, QUOTA_ADDS, QUOTA_KINDS };

/* What one request takes: units of each kind (rooms created, users added). */
struct quota_ask {
	int n[QUOTA_KINDS];
};

/* Why quota_take() refused. */
struct quota_refusal {
	enum quota_kind kind;
	int n;			/* what the request asked */
	int used;		/* what the caller's window held already */
	int max;		/* per window */
	int retry_after;	/* seconds until the window ends, >= 1 */
};

/* kind's maximum per window for caller who; 0 = not limited. */
int quota_max(const struct cfg *c, const struct auth_claims *who, enum quota_kind k);

/* 1 when ask takes a unit of a limited kind (quota_take needs a transaction). */
int quota_needed(const struct cfg *c, const struct auth_claims *who,
		 const struct quota_ask *ask);

/*
 * A request that alone asks more than a window allows can never pass, so
 * it is not a 429 (a client would retry it forever): 0 when ask fits in
 * an empty window, else 400 with the reason in err.
 */
int quota_check_size(const struct cfg *c, const struct auth_claims *who,
		     const struct quota_ask *ask, char *err, size_t errlen);

/*
 * Count ask for who, all kinds or none, inside the caller's open
 * transaction (the counters stay locked until it ends). Returns 0 when
 * counted (or nothing is limited: no statement runs), 1 when refused
 * (*ref filled, nothing counted), -1 with ctx->db->fail and err.
 */
int quota_take(struct rest_ctx *ctx, const struct auth_claims *who,
	       const struct quota_ask *ask, struct quota_refusal *ref,
	       char *err, size_t errlen);

/*
 * What a handler calls inside its transaction: quota_check_size(), then
 * quota_take(). Returns 0 when ask is counted (r untouched), or 1 when r
 * holds the answer: the 400, the 429 (quota_refuse) or the database
 * failure (rest_db_error); the handler then rolls back.
 */
int quota_charge(struct rest_ctx *ctx, const struct auth_claims *who,
		 const struct quota_ask *ask, struct resp *r);

/*
 * The answer to ref: 429 with Retry-After and a message naming the limit,
 * the window and when to retry, e.g. "too many rooms created: the limit
 * is 30 per 60 s; retry in 12 s". Returns what resp_error() returns.
 */
int quota_refuse(struct resp *r, const struct cfg *c, const struct quota_refusal *ref);

#endif
