#include "router.h"
#include "log.h"
#include "tokcache.h"
#include "utf8.h"
#include "uuid.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* RFC 6750: no error code when no token came, invalid_token otherwise. */
static const char www_missing[] = "Bearer realm=\"chat\"";
static const char www_invalid[] = "Bearer realm=\"chat\", error=\"invalid_token\"";

int router_match(const char *pattern, const char *path, char *param, size_t paramlen)
{
	const char *p = pattern, *s = path;
	size_t plen = strlen(path);

	/* "/rooms/" is "/rooms"; "/" stays "/". */
	if (plen > 1 && path[plen - 1] == '/')
		plen--;
	if (param && paramlen)
		param[0] = '\0';
	while (*p) {
		if (*p != '/' || s >= path + plen || *s != '/')
			return 0;
		p++;
		s++;
		if (*p == ':') {
			const char *e = memchr(s, '/', path + plen - s);
			size_t n;

			if (!e)
				e = path + plen;
			n = e - s;
			if (!n || !param || n >= paramlen)
				return 0;
			memcpy(param, s, n);
			param[n] = '\0';
			s = e;
			p = strchrnul(p, '/');
			continue;
		}
		while (*p && *p != '/') {
			if (s >= path + plen || *s != *p)
				return 0;
			p++;
			s++;
		}
		if (s < path + plen && *s != '/')
			return 0;
	}
	return s == path + plen;
}

/* 401 (with the header), 403 for a user token on an admin route, or 0. */
static int router_access(struct rest_ctx *ctx, const struct route *rt,
			 struct req *q, struct resp *r)
{
	char token[AUTH_MAX_TOKEN + 1], err[256];

	if (rt->access == ROUTE_PUBLIC || rt->access == ROUTE_DEV)
		return 0;
	if (req_bearer(q, token, sizeof(token), err, sizeof(err))) {
		resp_error(r, 401, "%s", err);
		r->www_authenticate = q->authorization ? www_invalid : www_missing;
		return -1;
	}
	if (tokcache_verify(ctx->auth, token, time(NULL), &q->who, err, sizeof(err))) {
		resp_error(r, 401, "%s", err);
		r->www_authenticate = www_invalid;
		return -1;
	}
	if (rt->access == ROUTE_ADMIN && !q->who.is_admin) {
		resp_error(r, 403, "this endpoint needs a service_role token");
		return -1;
	}
	return 0;
}

/* The :id of q as rt declares it, into q->id_int or q->id_uuid; or a 400. */
static int router_id(const struct route *rt, struct req *q, struct resp *r)
{
	switch (rt->id) {
	case ROUTE_ID_NONE:
		return 0;
	case ROUTE_ID_ROOM:
		if (!req_parse_id(q->param, &q->id_int))
			return 0;
		resp_error(r, 400, "room id '%.*s' must be a positive integer",
			   (int)utf8_cut(q->param, strlen(q->param), 32), q->param);
		return -1;
	case ROUTE_ID_USER:
		if (!uuid_norm(q->param, q->id_uuid))
			return 0;
		resp_error(r, 400, "user id '%.*s' is not a valid UUID",
			   (int)utf8_cut(q->param, strlen(q->param), 40), q->param);
		return -1;
	}
	resp_error(r, 500, "internal server error");	/* a table with a bad kind */
	return -1;
}

void router_dispatch(const struct route *tbl, size_t n, struct rest_ctx *ctx,
		     struct req *q, struct resp *r)
{
	const struct route *hit = NULL;
	char allow[sizeof(r->allow)] = "";
	int matched = 0;

	for (size_t i = 0; i < n; i++) {
		/* A development route is not there at all outside dev mode. */
		if (tbl[i].access == ROUTE_DEV && !(ctx->cfg && ctx->cfg->dev))
			continue;
		if (!router_match(tbl[i].pattern, q->path, q->param, sizeof(q->param)))
			continue;
		if (!matched)
			q->route = tbl[i].pattern;
		matched = 1;
		if (tbl[i].method == q->method) {
			q->route = tbl[i].pattern;
			hit = &tbl[i];
			break;
		}
		if (!strstr(allow, req_method_name(tbl[i].method))) {
			size_t l = strlen(allow);

			snprintf(allow + l, sizeof(allow) - l, "%s%s", l ? ", " : "",
				 req_method_name(tbl[i].method));
		}
	}
	if (!hit) {
		if (matched) {
			resp_error(r, 405, "method not allowed on %.*s (allowed: %s)",
				   (int)utf8_cut(q->path, strlen(q->path), 200), q->path, allow);
			snprintf(r->allow, sizeof(r->allow), "%s", allow);
		} else {
			resp_error(r, 404, "no such endpoint: %.*s",
				   (int)utf8_cut(q->path, strlen(q->path), 200), q->path);
		}
		goto out;
	}
	if (q->body_too_large) {
		resp_error(r, 413, "request body is larger than %d bytes",
			   ctx->cfg ? ctx->cfg->max_body : 0);
		goto out;
	}
	if (router_access(ctx, hit, q, r) || router_id(hit, q, r))
		goto out;
	if (hit->fn(ctx, q, r) || !r->status || !r->body) {
		log_error("%s %s: handler left no response", req_method_name(q->method), q->path);
		resp_error(r, 500, "internal server error");
	}
out:
	if (!r->body)	/* out of memory above: still answer something */
		r->status = 500;
}
