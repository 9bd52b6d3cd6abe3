#include "rooms.h"
#include "chrono.h"
#include "jsonutil.h"
#include "listcache.h"
#include "log.h"
#include "pgarr.h"
#include "quota.h"
#include "restmetrics.h"
#include "sbuf.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char msg_banned[] = "user is banned";

/* ---- parsing (no database) ---- */

int rooms_parse_create(const char *body, size_t len, const char *caller, size_t max,
		       struct rooms_create_in *in, char *err, size_t errlen)
{
	json_object *o;
	int64_t apt = 0;
	int rc = -1, got;
	size_t i;

	memset(in, 0, sizeof(*in));
	o = json_parse_object(body, len, "body", err, errlen);
	if (!o)
		return -1;
	got = json_get_int64(o, "apartment_id", &apt, err, errlen);
	if (got < 0)
		goto out;
	in->has_apartment = got;
	in->apartment_id = apt;
	got = json_get_uuid_array(o, "users", &in->users, &in->nusers, max, err, errlen);
	if (got < 0)
		goto out;
	/* Room for the caller, who is a participant whether listed or not. */
	for (i = 0; i < in->nusers && strcmp(in->users[i], caller); i++)
		;
	if (i == in->nusers) {
		char (*u)[UUID_STR_SIZE] = realloc(in->users, (in->nusers + 1) * sizeof(*u));

		if (!u) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		in->users = u;
		memcpy(in->users[in->nusers++], caller, UUID_STR_SIZE);
	}
	rc = 0;
out:
	json_object_put(o);
	if (rc)
		rooms_create_in_release(in);
	return rc;
}

void rooms_create_in_release(struct rooms_create_in *in)
{
	free(in->users);
	memset(in, 0, sizeof(*in));
}

int rooms_parse_update(const char *body, size_t len, size_t max, struct rooms_update_in *in,
		       char *err, size_t errlen)
{
	json_object *o;
	int64_t id = 0;
	int rc = -1, got;

	memset(in, 0, sizeof(*in));
	o = json_parse_object(body, len, "body", err, errlen);
	if (!o)
		return -1;
	got = json_get_int64(o, "room_id", &id, err, errlen);
	if (got < 0)
		goto out;
	if (got == 0) {
		snprintf(err, errlen, "field 'room_id' is required");
		goto out;
	}
	if (id <= 0) {
		snprintf(err, errlen, "field 'room_id' must be a positive integer");
		goto out;
	}
	in->room_id = id;
	if (json_get_uuid_array(o, "users_to_add", &in->add, &in->nadd, max, err, errlen) < 0 ||
	    json_get_uuid_array(o, "users_to_remove", &in->rm, &in->nrm, max, err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < in->nadd; i++) {
		for (size_t j = 0; j < in->nrm; j++) {
			if (!strcmp(in->add[i], in->rm[j])) {
				snprintf(err, errlen, "user %s is in both 'users_to_add' and 'users_to_remove'",
					 in->add[i]);
				goto out;
			}
		}
	}
	rc = 0;
out:
	json_object_put(o);
	if (rc)
		rooms_update_in_release(in);
	return rc;
}

void rooms_update_in_release(struct rooms_update_in *in)
{
	free(in->add);
	free(in->rm);
	memset(in, 0, sizeof(*in));
}

int rooms_parse_page(const struct req *q, int cap, struct rooms_page *pg,
		     char *err, size_t errlen)
{
	char v[32];
	long long n;
	int got;

	pg->before = 0;
	pg->limit = cap;
	got = req_query_get(q, "limit", v, sizeof(v));
	if (got) {
		if (got < 0 || req_parse_id(v, &n)) {
			snprintf(err, errlen, "query parameter 'limit' must be a positive integer");
			return -1;
		}
		pg->limit = n < cap ? (int)n : cap;
	}
	got = req_query_get(q, "before", v, sizeof(v));
	if (got) {
		if (got < 0 || req_parse_id(v, &n)) {
			snprintf(err, errlen, "query parameter 'before' must be a positive message id");
			return -1;
		}
		pg->before = n;
	}
	return 0;
}

int rooms_update_allowed(const char *caller, const char *owner, int member,
			 const struct rooms_update_in *in, char *err, size_t errlen)
{
	int is_owner = owner && *owner && !strcmp(owner, caller);

	if (!member) {
		snprintf(err, errlen, "room %lld not found", in->room_id);
		return 404;
	}
	if (!is_owner && in->nadd) {
		snprintf(err, errlen, "only the owner of room %lld may add participants",
			 in->room_id);
		return 403;
	}
	for (size_t i = 0; i < in->nrm; i++) {
		if (!is_owner && strcmp(in->rm[i], caller)) {
			snprintf(err, errlen, "only the owner of room %lld may remove other participants",
				 in->room_id);
			return 403;
		}
	}
	return 0;
}

int rooms_delete_allowed(const char *caller, const char *owner, int member,
			 long long room, char *err, size_t errlen)
{
	if (!member) {
		snprintf(err, errlen, "room %lld not found", room);
		return 404;
	}
	if (!owner || strcmp(owner, caller)) {
		snprintf(err, errlen, "only the owner may delete room %lld", room);
		return 403;
	}
	return 0;
}

int rooms_members_check(long long members, int max, char *err, size_t errlen)
{
	if (members <= max)
		return 0;
	snprintf(err, errlen, "room would have %lld members; the limit is %d", members, max);
	return 409;
}

void rooms_skip_owner(struct rooms_update_in *in, const char *owner)
{
	size_t n = 0;

	for (size_t i = 0; i < in->nrm; i++)
		if (!owner || strcmp(in->rm[i], owner))
			memcpy(in->rm[n++], in->rm[i], sizeof(in->rm[i]));
	in->nrm = n;
}

/* ---- events ---- */

/*
 * After COMMIT only. Never fails the request: events are hints (evt.h).
 * The GET /rooms lists first (rest_lists_changed): the room (its members'
 * lists) and the users added, whose lists gain it (removed users' lists
 * hold the room: the room covers them).
 */
static void rooms_publish(struct rest_ctx *ctx, long long room_id, int deleted,
			  char (*added)[UUID_STR_SIZE], size_t nadded,
			  char (*removed)[UUID_STR_SIZE], size_t nremoved)
{
	struct evt e = {
		.type = EVT_ROOM, .at_ms = chrono_wall_ms(), .room_id = room_id,
		.deleted = deleted, .added = added, .nadded = nadded,
		.removed = removed, .nremoved = nremoved,
	};

	rest_lists_changed(ctx, room_id, (const char (*)[UUID_STR_SIZE])added, nadded);
	if (!ctx->pub || !ctx->pub->sock)
		return;
	if (evt_publish(ctx->pub, &e))
		log_warn("room %lld: event dropped (no memory or queue full)", room_id);
}

/* ---- handlers ---- */

int rooms_create(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	struct rooms_create_in in;
	struct quota_ask ask = { { 0 } };
	char err[512], apt[24], *arr = NULL;
	const char *params[3];
	PGresult *res = NULL;
	int status, rc = 0, tx = 0;

	if (rooms_parse_create(q->body, q->body_len, q->who.sub, (size_t)ctx->cfg->list_max,
			       &in, err, sizeof(err)))
		return resp_error(r, 400, "%s", err);
	/* in.users holds the caller: the new room's whole membership */
	status = rooms_members_check((long long)in.nusers, ctx->cfg->room_max_members,
				     err, sizeof(err));
	if (status) {
		rc = resp_error(r, status, "%s", err);
		goto out;
	}
	arr = pgarr_uuids(in.users, in.nusers);
	if (!arr) {
		rc = -1;
		goto out;
	}
	/* limited: the room and its count commit together, or neither */
	ask.n[QUOTA_ROOMS] = 1;
	ask.n[QUOTA_ADDS] = (int)in.nusers - 1;
	tx = quota_needed(ctx->cfg, &q->who, &ask);
	if (tx && db_begin(ctx->db, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "begin", err);
		goto out;
	}
	snprintf(apt, sizeof(apt), "%lld", in.apartment_id);
	params[0] = q->who.sub;
	params[1] = in.has_apartment ? apt : NULL;
	params[2] = arr;
	res = db_exec(ctx->db, SQL_ROOMS_CREATE, 3, params, err, sizeof(err));
	if (!res) {
		rc = rest_db_error(ctx, r, "create room", err);
		goto out;
	}
	if (PQntuples(res) != 1) {
		rc = resp_error(r, 403, msg_banned);
		goto out;
	}
	if (tx && quota_charge(ctx, &q->who, &ask, r))
		goto out;
	if (tx && db_commit(ctx->db, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "commit", err);
		goto out;
	}
	rc = resp_data_text(r, 201, PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));
	rooms_publish(ctx, strtoll(PQgetvalue(res, 0, 0), NULL, 10), 0,
		      in.users, in.nusers, NULL, 0);
out:
	db_rollback(ctx->db);	/* still open only when we did not commit */
	PQclear(res);
	free(arr);
	rooms_create_in_release(&in);
	return rc;
}

/*
 * A timestamptz of a row (Postgres' text form) as the API's JSON string.
 * -1, nothing appended, for any other form.
 */
static int rooms_json_time(struct sbuf *w, const char *pg)
{
	char iso[CHRONO_ISO_SIZE];

	if (chrono_iso_from_pg(pg, iso))
		return -1;
	sbuf_json_str(w, iso, CHRONO_ISO_LEN);
	return 0;
}

/* The columns of SQL_ROOMS_LIST. */
enum { L_BANNED, L_ID, L_APT, L_OWNER, L_AT, L_PARTS, L_MID, L_MTEXT, L_MSENDER, L_MAT };

/* One room object of GET /rooms from row i. -1 on a malformed value. */
static int rooms_list_row(struct sbuf *w, PGresult *res, int i)
{
	const char *id = PQgetvalue(res, i, L_ID), *parts = PQgetvalue(res, i, L_PARTS);

	sbuf_adds(w, "{\"room_id\":");
	sbuf_adds(w, id);
	sbuf_adds(w, ",\"participants_id\":[");
	/* UUIDs need no escaping: quote each of "a,b,c". */
	for (const char *p = parts; *p;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);

		if (p != parts)
			sbuf_add(w, ",", 1);
		sbuf_add(w, "\"", 1);
		sbuf_add(w, p, n);
		sbuf_add(w, "\"", 1);
		p += n + (c != NULL);
	}
	sbuf_adds(w, "],\"apartment_id\":");
	sbuf_adds(w, PQgetisnull(res, i, L_APT) ? "null" : PQgetvalue(res, i, L_APT));
	sbuf_adds(w, PQgetvalue(res, i, L_OWNER)[0] == 't' ? ",\"is_owner\":true,\"created_at\":"
							 : ",\"is_owner\":false,\"created_at\":");
	if (rooms_json_time(w, PQgetvalue(res, i, L_AT)))
		return -1;
	if (PQgetisnull(res, i, L_MID)) {
		sbuf_adds(w, ",\"last_message\":null}");
		return 0;
	}
	sbuf_adds(w, ",\"last_message\":{\"id\":");
	sbuf_adds(w, PQgetvalue(res, i, L_MID));
	sbuf_adds(w, ",\"room_id\":");
	sbuf_adds(w, id);
	sbuf_adds(w, ",\"message\":");
	sbuf_json_str(w, PQgetvalue(res, i, L_MTEXT), (size_t)PQgetlength(res, i, L_MTEXT));
	sbuf_adds(w, ",\"sender_id\":\"");
	sbuf_adds(w, PQgetvalue(res, i, L_MSENDER));
	sbuf_adds(w, "\",\"created_at\":");
	if (rooms_json_time(w, PQgetvalue(res, i, L_MAT)))
		return -1;
	sbuf_adds(w, "}}");
	return 0;
}

/* The documented dialect's envelope up to the room array. */
static const char rooms_list_head[] = "{\"error_message\":null,\"data\":";

/*
 * The answer around the room array arr[0..len): the bare array for the
 * app dialect, the envelope for the documented one. 0, or -1 (no memory).
 */

static int rooms_list_answer(struct resp *r, int bare, const char *arr, size_t len)
{
	struct sbuf w;
	char *body;
	size_t n;

	sbuf_init(&w, len + sizeof(rooms_list_head) + 1);
	if (!bare)
		sbuf_add(&w, rooms_list_head, sizeof(rooms_list_head) - 1);
	sbuf_add(&w, arr, len);
	if (!bare)
		sbuf_add(&w, "}", 1);
	body = sbuf_detach(&w, &n);
	if (!body)
		return -1;
	resp_take_body(r, 200, body, n);
	return 0;
}

int rooms_list(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	/* the app dialect (req.h) takes the bare array */
	int bare = q->dialect == REQ_APP;
	const char *params[1] = { q->who.sub }, *kept;
	long long *rooms = NULL;
	PGresult *res;
	struct sbuf w;
	char err[512], *body;
	size_t len, off = bare ? 0 : sizeof(rooms_list_head) - 1;
	uint64_t ticket;
	int n, rc = 0;

	kept = listcache_get(ctx->lists, q->who.sub, &len);
	if (kept) {
		restmetrics_list_cache(ctx->metrics, 1);
		return rooms_list_answer(r, bare, kept, len);
	}
	/* before the query: a change from now on makes its answer stale */
	ticket = listcache_begin(ctx->lists);
	res = db_exec(ctx->db, SQL_ROOMS_LIST, 1, params, err, sizeof(err));
	if (!res)
		return rest_db_error(ctx, r, "list rooms", err);
	n = PQntuples(res);
	if (n && PQgetvalue(res, 0, L_BANNED)[0] == 't') {
		rc = resp_error(r, 403, msg_banned);
		goto out;
	}
	rooms = malloc(((size_t)n + 1) * sizeof(*rooms));
	if (!rooms) {
		rc = -1;
		goto out;
	}
	/* The envelope is written here too: one buffer, no copy. */
	sbuf_init(&w, 512 + (size_t)n * 400);
	if (!bare)
		sbuf_add(&w, rooms_list_head, sizeof(rooms_list_head) - 1);
	sbuf_add(&w, "[", 1);
	for (int i = 0; i < n && !PQgetisnull(res, i, L_ID); i++) {
		if (i)
			sbuf_add(&w, ",", 1);
		rooms[i] = strtoll(PQgetvalue(res, i, L_ID), NULL, 10);
		if (rooms_list_row(&w, res, i)) {
			log_error("list rooms: unexpected timestamp '%.40s' (DateStyle?)",
				  PQgetvalue(res, i, L_AT));
			sbuf_release(&w);
			rc = -1;
			goto out;
		}
	}
	sbuf_add(&w, "]}", bare ? 1 : 2);
	body = sbuf_detach(&w, &len);
	if (!body) {
		rc = -1;
		goto out;
	}
	/* the array alone is kept: either dialect is made from it */
	listcache_put(ctx->lists, ticket, q->who.sub, rooms,
		      n && !PQgetisnull(res, 0, L_ID) ? (size_t)n : 0, body + off,
		      len - off - (bare ? 0 : 1));
	restmetrics_list_cache(ctx->metrics, 0);
	resp_take_body(r, 200, body, len);
out:
	free(rooms);
	PQclear(res);
	return rc;
}

int rooms_get(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	char err[512], id[24], before[24], limit[16];
	struct rooms_page pg;
	const char *params[4];
	PGresult *res;
	long long room = q->id_int;
	int rc;

	if (rooms_parse_page(q, ctx->cfg->history_cap, &pg, err, sizeof(err)))
		return resp_error(r, 400, "%s", err);
	snprintf(id, sizeof(id), "%lld", room);
	snprintf(before, sizeof(before), "%lld", pg.before);
	snprintf(limit, sizeof(limit), "%d", pg.limit);
	params[0] = q->who.sub;
	params[1] = id;
	params[2] = pg.before ? before : NULL;
	params[3] = limit;
	res = db_exec(ctx->db, SQL_ROOM_GET, 4, params, err, sizeof(err));
	if (!res)
		return rest_db_error(ctx, r, "get room", err);
	if (PQgetvalue(res, 0, 0)[0] == 't')
		rc = resp_error(r, 403, msg_banned);
	else if (PQgetisnull(res, 0, 1))
		rc = resp_error(r, 404, "room %lld not found", room);
	else	/* SPEC.md: this one success is not wrapped in the envelope */
		rc = resp_set(r, 200, PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1));
	PQclear(res);
	return rc;
}

/* The room's row as SQL_ROOM_LOCK reports it. */
struct rooms_lock {
	int banned;			/* the caller is banned */
	int member;			/* the caller is in the room (0: also no room) */
	char owner[UUID_STR_SIZE];	/* "" without an owner or without a room */
};

/*
 * Lock room's row for caller inside the caller's open transaction (held
 * until it ends) and report what the row says. Returns 0 and *lk, or -1
 * with ctx->db->fail and err. Writes no response and ends nothing.
 */
static int rooms_lock(struct rest_ctx *ctx, const char *caller, long long room,
		      struct rooms_lock *lk, char *err, size_t errlen)
{
	char id[24];
	const char *params[2] = { caller, id };
	PGresult *res;

	snprintf(id, sizeof(id), "%lld", room);
	res = db_exec(ctx->db, SQL_ROOM_LOCK, 2, params, err, errlen);
	if (!res)
		return -1;
	lk->banned = PQgetvalue(res, 0, 0)[0] == 't';
	snprintf(lk->owner, sizeof(lk->owner), "%s", PQgetvalue(res, 0, 1));
	lk->member = PQgetvalue(res, 0, 2)[0] == 't';
	PQclear(res);
	return 0;
}

int rooms_update(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	char err[512], id[24], *add = NULL, *rm = NULL;
	char (*added)[UUID_STR_SIZE] = NULL, (*removed)[UUID_STR_SIZE] = NULL;
	size_t nadded = 0, nremoved = 0;
	long long members = 0;
	struct rooms_update_in in;
	struct rooms_lock lk;
	const char *params[3];
	PGresult *res = NULL;
	int status, rc = 0;

	if (rooms_parse_update(q->body, q->body_len, (size_t)ctx->cfg->list_max, &in,
			       err, sizeof(err)))
		return resp_error(r, 400, "%s", err);
	if (db_begin(ctx->db, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "begin", err);
		goto out;
	}
	if (rooms_lock(ctx, q->who.sub, in.room_id, &lk, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "lock room", err);
		goto out;
	}
	if (lk.banned) {
		rc = resp_error(r, 403, msg_banned);
		goto out;
	}
	status = rooms_update_allowed(q->who.sub, lk.owner, lk.member, &in, err, sizeof(err));
	if (status) {
		rc = resp_error(r, status, "%s", err);
		goto out;
	}
	/* the app lists the owner when it empties a two-person room: not a leave */
	rooms_skip_owner(&in, lk.owner);
	if (in.nadd || in.nrm) {
		add = pgarr_uuids(in.add, in.nadd);
		rm = pgarr_uuids(in.rm, in.nrm);
		added = calloc(in.nadd + 1, sizeof(*added));
		removed = calloc(in.nrm + 1, sizeof(*removed));
		if (!add || !rm || !added || !removed) {
			rc = -1;
			goto out;
		}
		snprintf(id, sizeof(id), "%lld", in.room_id);
		params[0] = id;
		params[1] = add;
		params[2] = rm;
		res = db_exec(ctx->db, SQL_ROOM_CHANGE, 3, params, err, sizeof(err));
		if (!res) {
			rc = rest_db_error(ctx, r, "change participants", err);
			goto out;
		}
		for (int i = 0; i < PQntuples(res); i++) {
			int is_add = PQgetvalue(res, i, 0)[0] == 'a';
			char *dst = is_add ? added[nadded++] : removed[nremoved++];

			if ((is_add ? nadded > in.nadd : nremoved > in.nrm)) {
				rc = -1;	/* cannot happen: rows come from the lists */
				goto out;
			}
			snprintf(dst, UUID_STR_SIZE, "%s", PQgetvalue(res, i, 1));
			members = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		}
	}
	/*
	 * The limits, on what really changed, under the room's lock: a
	 * refusal rolls the change back. A change that only removes passes
	 * even in a room left over the cap by a lowered setting.
	 */
	if (nadded) {
		struct quota_ask ask = { { 0 } };

		ask.n[QUOTA_ADDS] = (int)nadded;
		status = rooms_members_check(members, ctx->cfg->room_max_members, err, sizeof(err));
		if (status) {
			rc = resp_error(r, status, "%s", err);
			goto out;
		}
		if (quota_charge(ctx, &q->who, &ask, r))
			goto out;
	}
	if (db_commit(ctx->db, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "commit", err);
		goto out;
	}
	rc = resp_data_text(r, 200, NULL, 0);
	if (nadded || nremoved)
		rooms_publish(ctx, in.room_id, 0, added, nadded, removed, nremoved);
out:
	db_rollback(ctx->db);	/* still open only when we did not commit */
	PQclear(res);
	free(add);
	free(rm);
	free(added);
	free(removed);
	rooms_update_in_release(&in);
	return rc;
}

int rooms_delete(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	char err[512], id[24];
	const char *params[1] = { id };
	struct rooms_lock lk;
	PGresult *res = NULL;
	int status, rc = 0;
	long long room = q->id_int;

	if (db_begin(ctx->db, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "begin", err);
		goto out;
	}
	if (rooms_lock(ctx, q->who.sub, room, &lk, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "lock room", err);
		goto out;
	}
	if (lk.banned) {
		rc = resp_error(r, 403, msg_banned);
		goto out;
	}
	status = rooms_delete_allowed(q->who.sub, lk.owner, lk.member, room, err, sizeof(err));
	if (status) {
		rc = resp_error(r, status, "%s", err);
		goto out;
	}
	snprintf(id, sizeof(id), "%lld", room);
	res = db_exec(ctx->db, SQL_ROOM_DELETE, 1, params, err, sizeof(err));
	if (!res) {
		rc = rest_db_error(ctx, r, "delete room", err);
		goto out;
	}
	if (db_commit(ctx->db, err, sizeof(err))) {
		rc = rest_db_error(ctx, r, "commit", err);
		goto out;
	}
	rc = resp_data_text(r, 200, NULL, 0);
	/* the room id only: every daemon drops the room it may cache (evt.h) */
	rooms_publish(ctx, room, 1, NULL, 0, NULL, 0);
out:
	db_rollback(ctx->db);	/* still open only when we did not commit */
	PQclear(res);
	return rc;
}
