/*
 * fuzz_rest - the REST request layer (rest-fcgi: req.c, router.c,
 * routes.c's table, rooms.c's body and query parsers).
 *
 * A request takes main.c's conversion (method name, path, query string,
 * Authorization header, body, dialect -> struct req) and then
 * router_dispatch() over the service's own route table: 404/405, 413,
 * bearer parsing and token verification (401/403), the :id check (400).
 * Handlers would go to Postgres, so the harness runs the table with each
 * handler replaced by a stub that does what the handler does before its
 * first statement: parse the body (rooms_parse_create/_update), the
 * paging query (rooms_parse_page), and apply the pure permission rules
 * (rooms_update_allowed, rooms_skip_owner, rooms_delete_allowed).
 *
 * Input: one flags byte, then NUL-separated fields
 *   method \0 path \0 query \0 authorization \0 dialect \0 body...
 * flags & 3 chooses the Authorization header: 0 the fuzzed field, 1 a
 * valid user token, 2 a valid service_role token, 3 none at all (so the
 * fuzzer reaches the handlers' parsers, which need a verified caller);
 * flags & 4 sets body_too_large (CONTENT_LENGTH over CHAT_MAX_BODY).
 *
 * Checked besides the sanitizers, for every request:
 *   - the response has a status of the contract (SPEC.md section 2) and
 *     a body that is valid UTF-8 and one JSON object; an error body is
 *     the envelope with a string error_message and data null, plus the
 *     same "message" in the app dialect; 401 carries WWW-Authenticate,
 *     405 an Allow header, 413 only when the body was too large;
 *   - a handler runs only after the router's checks: with a verified
 *     caller (an admin one on /admin routes), a positive room id or a
 *     user id in uuid.h's text form;
 *   - what the parsers accept is what the handlers rely on: user lists
 *     of valid, distinct ids (with the caller in a new room), a positive
 *     room_id, disjoint add/remove lists, 1 <= limit <= cap, before >= 0;
 *     the owner never removed by rooms_skip_owner; a non-owner allowed
 *     only to remove itself.
 */
#include <time.h>

#include "admin.h"
#include "auth.h"
#include "cfg.h"
#include "dev.h"
#include "fuzz.h"
#include "jsonutil.h"
#include "restmetrics.h"
#include "rooms.h"
#include "router.h"
#include "routes.h"
#include "tokcache.h"
#include "uuid.h"

#define SECRET "fuzz-only-hs256-secret-of-at-least-32-bytes"
#define CALLER "5f0c2a55-1b7e-4c1a-9d55-0a3c8e6f7b21"
#define OTHER "9a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
#define HISTORY_CAP 1000
#define LIST_MAX 1000		/* CHAT_LIST_MAX */

static struct cfg cfg;
static struct auth verifier;
static char *user_hdr, *admin_hdr;
static struct route table[32];
static size_t ntable;
static int verbose;	/* FUZZ_VERBOSE=1: print each response */

/* ---- checks on what the router hands a handler ---- */

/* Every handler: a verified caller. */
static void check_caller(const struct req *q)
{
	fuzz_check_uuid(q->who.sub);
	FUZZ_CHECK(q->who.exp > time(NULL) - 60);
}

/* ---- stubs: each handler up to its first statement ---- */

static int fz_health(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	(void)ctx;
	(void)q;
	return resp_data_text(r, 200, "{\"database\":\"up\"}", 17);
}

static int fz_list(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	(void)ctx;
	check_caller(q);
	if (q->dialect == REQ_APP)
		return resp_set(r, 200, "[]", 2);
	return resp_data_text(r, 200, "[]", 2);
}

static int fz_create(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	struct rooms_create_in in;
	char err[512];
	size_t i;

	check_caller(q);
	if (rooms_parse_create(q->body, q->body_len, q->who.sub, (size_t)ctx->cfg->list_max,
			       &in, err, sizeof(err))) {
		FUZZ_CHECK(in.users == NULL && in.nusers == 0);
		return resp_error(r, 400, "%s", err);
	}
	FUZZ_CHECK(in.nusers >= 1 && in.nusers <= LIST_MAX + 1);
	fuzz_check_ids(in.users, in.nusers);
	for (i = 0; i < in.nusers && strcmp(in.users[i], q->who.sub); i++)
		;
	FUZZ_CHECK(i < in.nusers);	/* the caller is a participant */
	FUZZ_CHECK(in.has_apartment == 0 || in.has_apartment == 1);
	FUZZ_CHECK(in.has_apartment || in.apartment_id == 0);
	rooms_create_in_release(&in);
	return resp_data_text(r, 201, "1", 1);
}

static int fz_update(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	struct rooms_update_in in;
	char err[512];
	int st;

	check_caller(q);
	if (rooms_parse_update(q->body, q->body_len, (size_t)ctx->cfg->list_max, &in, err,
			       sizeof(err)))
		return resp_error(r, 400, "%s", err);
	FUZZ_CHECK(in.room_id > 0);
	FUZZ_CHECK(in.nadd <= LIST_MAX && in.nrm <= LIST_MAX);
	fuzz_check_ids(in.add, in.nadd);
	fuzz_check_ids(in.rm, in.nrm);
	for (size_t i = 0; i < in.nadd; i++)
		for (size_t j = 0; j < in.nrm; j++)
			FUZZ_CHECK(strcmp(in.add[i], in.rm[j]));
	/* not a member: 404 whoever asks */
	FUZZ_CHECK(rooms_update_allowed(q->who.sub, OTHER, 0, &in, err, sizeof(err)) == 404);
	/* the owner may do anything */
	FUZZ_CHECK(rooms_update_allowed(q->who.sub, q->who.sub, 1, &in, err, sizeof(err)) == 0);
	/* anyone else only leaves */
	st = rooms_update_allowed(q->who.sub, OTHER, 1, &in, err, sizeof(err));
	FUZZ_CHECK(st == 0 || st == 403);
	if (!st) {
		FUZZ_CHECK(in.nadd == 0);
		for (size_t j = 0; j < in.nrm; j++)
			FUZZ_CHECK(!strcmp(in.rm[j], q->who.sub));
	}
	rooms_skip_owner(&in, q->who.sub);
	for (size_t j = 0; j < in.nrm; j++)
		FUZZ_CHECK(strcmp(in.rm[j], q->who.sub));
	fuzz_check_ids(in.rm, in.nrm);
	rooms_update_in_release(&in);
	return resp_data_text(r, 200, NULL, 0);
}

static int fz_get(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	struct rooms_page pg;
	char err[256];

	check_caller(q);
	FUZZ_CHECK(q->id_int > 0);
	if (rooms_parse_page(q, ctx->cfg->history_cap, &pg, err, sizeof(err)))
		return resp_error(r, 400, "%s", err);
	FUZZ_CHECK(pg.limit >= 1 && pg.limit <= ctx->cfg->history_cap);
	FUZZ_CHECK(pg.before >= 0);
	return resp_set(r, 200, "{\"messages\":[]}", 15);
}

static int fz_delete(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	char err[256];

	(void)ctx;
	check_caller(q);
	FUZZ_CHECK(q->id_int > 0);
	FUZZ_CHECK(rooms_delete_allowed(q->who.sub, q->who.sub, 1, q->id_int, err, sizeof(err)) == 0);
	FUZZ_CHECK(rooms_delete_allowed(q->who.sub, OTHER, 1, q->id_int, err, sizeof(err)) == 403);
	FUZZ_CHECK(rooms_delete_allowed(q->who.sub, "", 1, q->id_int, err, sizeof(err)) == 403);
	FUZZ_CHECK(rooms_delete_allowed(q->who.sub, q->who.sub, 0, q->id_int, err, sizeof(err)) == 404);
	return resp_data_text(r, 200, NULL, 0);
}

static int fz_admin(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	(void)ctx;
	check_caller(q);
	FUZZ_CHECK(q->who.is_admin);
	fuzz_check_uuid(q->id_uuid);
	return resp_data_text(r, 200, NULL, 0);
}

/* The service's table with its handlers swapped for the stubs above. */
static void stub_table(void)
{
	static const struct {
		rest_handler real, stub;
	} map[] = {
		{ admin_health, fz_health },
		{ rooms_list, fz_list },
		{ rooms_create, fz_create },
		{ rooms_update, fz_update },
		{ rooms_get, fz_get },
		{ rooms_delete, fz_delete },
		{ admin_disconnect, fz_admin },
		{ admin_ban, fz_admin },
		{ admin_unban, fz_admin },
		/* no database: the real one (the harness has no metrics: a 404) */
		{ restmetrics_serve, restmetrics_serve },
		/* no database either; only routed on a dev stack (CHAT_DEV=1) */
		{ dev_token, dev_token },
	};

	FUZZ_CHECK(routes_count <= sizeof(table) / sizeof(table[0]));
	for (size_t i = 0; i < routes_count; i++) {
		size_t j;

		table[i] = routes_table[i];
		for (j = 0; j < sizeof(map) / sizeof(map[0]) && map[j].real != table[i].fn; j++)
			;
		if (j == sizeof(map) / sizeof(map[0])) {
			fprintf(stderr, "fuzz_rest: route %s %s has no stub: add one\n",
				req_method_name(table[i].method), table[i].pattern);
			abort();
		}
		table[i].fn = map[j].stub;
	}
	ntable = routes_count;
}

static char *bearer(int admin)
{
	char err[256], *tok, *h;

	tok = auth_mint_hs256(SECRET, CALLER, AUTH_DEFAULT_AUDIENCE, admin, AUTH_MAX_TTL,
			      time(NULL), err, sizeof(err));
	if (!tok || asprintf(&h, "Bearer %s", tok) < 0)
		abort();
	free(tok);
	return h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	fuzz_quiet("fuzz_rest");
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	cfg.max_body = 65536;
	cfg.history_cap = HISTORY_CAP;
	cfg.list_max = LIST_MAX;
	if (auth_init(&verifier, SECRET, NULL, AUTH_DEFAULT_AUDIENCE, 30, err, sizeof(err)))
		abort();
	user_hdr = bearer(0);
	admin_hdr = bearer(1);
	stub_table();
	return 0;
}

/* ---- the response ---- */

static void check_resp(const struct req *q, const struct resp *r)
{
	json_object *o, *v, *m;
	char err[128];

	switch (r->status) {
	case 200: case 201: case 400: case 401: case 403: case 404: case 405: case 409:
	case 413: case 429: case 500:
		break;
	default:
		FUZZ_CHECK(!"a status of the contract");
	}
	FUZZ_CHECK(r->body && strlen(r->body) == r->body_len);
	FUZZ_CHECK(fuzz_utf8(r->body));
	if (r->status == 200 && q->dialect == REQ_APP && !strcmp(r->body, "[]"))
		return;		/* GET /rooms, the app's bare array */
	o = json_parse_object(r->body, r->body_len, "response", err, sizeof(err));
	FUZZ_CHECK(o != NULL);
	FUZZ_CHECK(r->status != 401 || r->www_authenticate);
	FUZZ_CHECK(r->status != 405 || r->allow[0]);
	FUZZ_CHECK(r->status != 413 || q->body_too_large);
	if (r->status >= 400) {
		FUZZ_CHECK(json_object_object_get_ex(o, "error_message", &v) &&
			   json_object_is_type(v, json_type_string));
		FUZZ_CHECK(json_object_object_get_ex(o, "data", &m) && m == NULL);
		if (q->dialect == REQ_APP)
			FUZZ_CHECK(json_object_object_get_ex(o, "message", &m) &&
				   json_object_is_type(m, json_type_string) &&
				   !strcmp(json_object_get_string(m), json_object_get_string(v)));
		else
			FUZZ_CHECK(!json_object_object_get_ex(o, "message", NULL));
	}
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct rest_ctx ctx = { .cfg = &cfg, .auth = &verifier };
	char *method, *path, *query, *auth, *dialect, *body;
	struct req q;
	struct resp r;
	size_t blen;
	int flags;

	if (!size)
		return 0;
	flags = data[0];
	in.p++;
	in.left--;
	method = fuzz_field(&in, NULL);
	path = fuzz_field(&in, NULL);
	query = fuzz_field(&in, NULL);
	auth = fuzz_field(&in, NULL);
	dialect = fuzz_field(&in, NULL);
	body = fuzz_rest(&in, &blen);

	/* main.c's serve(): FastCGI parameters -> struct req */
	memset(&q, 0, sizeof(q));
	q.method = req_method_parse(method);
	q.path = path;
	q.query = query;
	q.authorization = (flags & 3) == 1 ? user_hdr : (flags & 3) == 2 ? admin_hdr :
			  (flags & 3) == 3 ? NULL : auth;
	q.body = body;
	q.body_len = blen;
	q.body_too_large = !!(flags & 4);
	resp_init(&r);
	if (req_dialect_parse(dialect, &q.dialect)) {
		resp_error(&r, 500, "server misconfigured: unknown response dialect");
	} else {
		r.dialect = q.dialect;
		router_dispatch(table, ntable, &ctx, &q, &r);
	}
	if (verbose)
		fprintf(stderr, "%s %s -> %d %s\n", req_method_name(q.method), q.path,
			r.status, r.body ? r.body : "");
	check_resp(&q, &r);
	resp_release(&r);
	free(method);
	free(path);
	free(query);
	free(auth);
	free(dialect);
	free(body);
	return 0;
}
