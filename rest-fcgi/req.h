/*
 * req - a REST request and its response as plain structs.
 *
 * main.c turns a FastCGI request into a struct req and writes a struct
 * resp back; everything in between (router.c, rooms.c, admin.c) works on
 * these two only and never touches libfcgi, so it runs in unit tests.
 *
 * Ownership: a struct req borrows every string it points to (the FastCGI
 * environment and the worker's body buffer) and owns nothing. A struct
 * resp owns its body: resp_init() before use, resp_release() after.
 */
#ifndef REST_REQ_H
#define REST_REQ_H

#include <json-c/json.h>
#include <stddef.h>

#include "auth.h"
#include "uuid.h"

enum req_method { REQ_GET = 0, REQ_POST, REQ_PUT, REQ_DELETE, REQ_OTHER };

/*
 * The response dialect (SPEC.md section 2, "Dialects"), chosen by the web
 * admin in the nginx config (FastCGI parameter CHAT_DIALECT), never
 * guessed from the request:
 *   REQ_DOCUMENTED  the documented API: every body but GET /rooms/:id's
 *                   success is {"error_message", "data"};
 *   REQ_APP         the mobile app's: GET /rooms answers the bare array,
 *                   and error bodies carry "message" beside
 *                   "error_message", with the same text.
 */
enum req_dialect { REQ_DOCUMENTED = 0, REQ_APP };

#define REQ_PATH_MAX 512

struct req {
	enum req_method method;
	const char *path;		/* borrowed, e.g. "/rooms/12"; never NULL */
	const char *query;		/* borrowed, without '?'; never NULL */
	const char *authorization;	/* borrowed Authorization header or NULL */
	const char *body;		/* borrowed, body_len bytes, or NULL */
	size_t body_len;
	int body_too_large;		/* CONTENT_LENGTH over CHAT_MAX_BODY */
	enum req_dialect dialect;

	/* Filled by the router before a handler runs (router.h). */
	const char *route;		/* the pattern the path matched (static), NULL if
					   none: the route label of the metrics */
	char param[64];			/* the ":id" path segment as sent, "" if none */
	long long id_int;		/* ROUTE_ID_ROOM: :id parsed, > 0 */
	char id_uuid[UUID_STR_SIZE];	/* ROUTE_ID_USER: :id in uuid.h's text form */
	struct auth_claims who;		/* the verified caller (token routes) */
};

struct resp {
	int status;			/* HTTP status, 0 until set */
	char *body;			/* owned, body_len bytes */
	size_t body_len;
	const char *www_authenticate;	/* static text or NULL */
	char allow[48];			/* Allow header of a 405, "" if none */
	int retry_after;		/* Retry-After header of a 429, seconds; 0 = none */
	enum req_dialect dialect;	/* how resp_error() writes errors */
	const char *content_type;	/* static text; NULL: application/json */
};

/* "GET" -> REQ_GET ...; anything else (or NULL) -> REQ_OTHER. */
enum req_method req_method_parse(const char *s);

/* The name of m ("GET"...), "?" for REQ_OTHER. */
const char *req_method_name(enum req_method m);

/*
 * The dialect named by the CHAT_DIALECT parameter s: NULL or "" is
 * REQ_DOCUMENTED, "documented" and "app" name theirs. Returns 0, or -1
 * for any other value (a typo in the nginx config must not silently
 * give the app the wrong shapes).
 */
int req_dialect_parse(const char *s, enum req_dialect *out);

/*
 * The value of query parameter key, %-decoded into out. Returns 1 when
 * found, 0 when absent, -1 when the value does not fit out or has a bad
 * %-escape.
 */
int req_query_get(const struct req *q, const char *key, char *out, size_t outlen);

/*
 * The token of an "Authorization: Bearer <token>" header (scheme case
 * insensitive), copied into out. Returns 0, or -1 with the reason in err
 * (missing header, other scheme, empty or over-long token).
 */
int req_bearer(const struct req *q, char *out, size_t outlen, char *err, size_t errlen);

/*
 * A positive decimal int64 without sign, spaces or leading '+'. Returns 0
 * and *out, or -1.
 */
int req_parse_id(const char *s, long long *out);

void resp_init(struct resp *r);
void resp_release(struct resp *r);

/* Replace the body by a copy of len bytes of s. Returns 0 or -1 (no memory). */
int resp_set(struct resp *r, int status, const char *s, size_t len);

/* Replace the body by body (malloc'd, len bytes, NUL terminated): taken over. */
void resp_take_body(struct resp *r, int status, char *body, size_t len);

/*
 * The envelope {"error_message": msg, "data": null} with status; in the
 * app dialect (r->dialect) also "message": msg.
 */
int resp_error(struct resp *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The envelope {"error_message": null, "data": <json>} where json is
 * already-serialised JSON text (NULL means null), no json-c round trip.
 */
int resp_data_text(struct resp *r, int status, const char *json, size_t len);

/* The envelope with data as a json-c object; takes ownership of data. */
int resp_data(struct resp *r, int status, json_object *data);

#endif
