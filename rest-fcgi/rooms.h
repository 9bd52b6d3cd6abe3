/*
 * rooms - the /rooms endpoints of SPEC.md section 2.
 *
 * Handlers (rest_handler, see rest.h) run after the router has verified the
 * token (req->who) and parsed the room id of /rooms/:id (ROUTE_ID_ROOM,
 * req->id_int). Access rules beyond the token:
 *   - a banned caller gets 403 on every endpoint;
 *   - a room the caller is not in is reported as 404, as if it did not
 *     exist (its existence is not leaked);
 *   - in a room the caller is in, what only the owner may do is 403.
 * Changes run in one transaction holding the room's row lock; the handler
 * that begins it (db_begin) commits it or rolls it back on its one
 * cleanup path. Their event (evt.h, EVT_ROOM) is published after COMMIT,
 * never before.
 *
 * The body and query parsers are separate functions so that unit tests
 * reach every 400 without a database.
 *
 * Limits (README "Limits"): a list of a body holds at most CHAT_LIST_MAX
 * ids (400); a room at most CHAT_ROOM_MAX_MEMBERS participants: a POST or
 * a PUT that adds users and would leave the room beyond it is a 409 and
 * changes nothing (a PUT checks under the room's lock, after applying,
 * and rolls back); rooms created and users added count against the
 * caller's rate limits (quota.h) in the same transaction.
 */
#ifndef REST_ROOMS_H
#define REST_ROOMS_H

#include <stddef.h>

#include "rest.h"
#include "uuid.h"

int rooms_create(struct rest_ctx *ctx, struct req *q, struct resp *r);	/* POST /rooms */
int rooms_list(struct rest_ctx *ctx, struct req *q, struct resp *r);	/* GET /rooms */
int rooms_update(struct rest_ctx *ctx, struct req *q, struct resp *r);	/* PUT /rooms */
int rooms_get(struct rest_ctx *ctx, struct req *q, struct resp *r);	/* GET /rooms/:id */
int rooms_delete(struct rest_ctx *ctx, struct req *q, struct resp *r);	/* DELETE /rooms/:id */

/* POST /rooms body. users always holds the caller (added when absent). */
struct rooms_create_in {
	char (*users)[UUID_STR_SIZE];	/* owned, de-duplicated */
	size_t nusers;
	int has_apartment;	/* 0: apartment_id absent or null */
	long long apartment_id;
};

/* PUT /rooms body. */
struct rooms_update_in {
	long long room_id;
	char (*add)[UUID_STR_SIZE];	/* owned */
	size_t nadd;
	char (*rm)[UUID_STR_SIZE];	/* owned */
	size_t nrm;
};

/* GET /rooms/:id paging: the limit newest messages with id < before. */
struct rooms_page {
	long long before;	/* 0: no bound */
	int limit;		/* 1..cap */
};

/*
 * Parse a body into *in (zeroed first); each list holds at most max ids
 * (CHAT_LIST_MAX). Returns 0, or -1 with a message naming the field in err
 * (the caller answers 400). On 0 release *in with the matching _release().
 */
int rooms_parse_create(const char *body, size_t len, const char *caller, size_t max,
		       struct rooms_create_in *in, char *err, size_t errlen);
void rooms_create_in_release(struct rooms_create_in *in);
int rooms_parse_update(const char *body, size_t len, size_t max, struct rooms_update_in *in,
		       char *err, size_t errlen);
void rooms_update_in_release(struct rooms_update_in *in);

/* ?limit=&before= of q, limit clamped to cap. 0, or -1 naming the parameter. */
int rooms_parse_page(const struct req *q, int cap, struct rooms_page *pg,
		     char *err, size_t errlen);

/*
 * The PUT /rooms rules, given the room's owner ("" when unknown) and
 * whether the caller is a participant. Returns 0 when allowed, else the
 * HTTP status (404 or 403) with the reason in err. Only the owner adds
 * or removes others; anyone removes itself. The owner's own id in
 * users_to_remove is allowed: rooms_skip_owner() drops it.
 */
int rooms_update_allowed(const char *caller, const char *owner, int member,
			 const struct rooms_update_in *in, char *err, size_t errlen);

/*
 * The DELETE /rooms/:id rules, same contract: 404 when the caller is not
 * a participant of room, 403 when it is not the owner, else 0.
 */
int rooms_delete_allowed(const char *caller, const char *owner, int member,
			 long long room, char *err, size_t errlen);

/*
 * The room size cap: 0 when a room of members participants is allowed
 * under max (CHAT_ROOM_MAX_MEMBERS), else 409 with e.g. "room would have
 * 1001 members; the limit is 1000" in err.
 */
int rooms_members_check(long long members, int max, char *err, size_t errlen);

/*
 * The owner never leaves its room (SPEC.md, PUT /rooms): remove owner's
 * id from in->rm, keeping the order of the others.
 */
void rooms_skip_owner(struct rooms_update_in *in, const char *owner);

#endif
