/*
 * rest-fcgi - the REST tier (SPEC.md sections 2 and 5), a FastCGI program
 * run by spawn-fcgi behind nginx (several processes on one socket).
 *
 * Each process serves one request at a time: FCGX_Accept_r, turn the
 * request into a struct req (req.h), routes_handle() fills a struct resp,
 * write it back. Per process: one Postgres connection (db.h, prepared
 * statements of sql.h, reconnects by itself), one ZeroMQ PUB socket to
 * every ws-daemon (evt.h), one token verifier (auth.h), and the GET /rooms
 * cache (listcache.h) with its listener thread, the only other thread.
 *
 * SIGTERM/SIGINT: the request in flight is finished, then the process
 * exits, so restarting the REST tier loses no answered request.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "cfg.h"
#include "chrono.h"
#include "db.h"
#include "evt.h"
#include "listcache.h"
#include "listnotify.h"
#include "log.h"
#include "req.h"
#include "restmetrics.h"
#include "routes.h"
#include "sql.h"
#include "tokcache.h"

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
	/* Makes a blocked FCGX_Accept_r return instead of retrying accept. */
	FCGX_ShutdownPending();
}

static const char *status_text(int s)
{
	switch (s) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/*
 * Read the body into buf[0..max]. Returns its length; *too_large when
 * CONTENT_LENGTH (or the bytes sent) exceed max: the rest is not read,
 * libfcgi discards it at FCGX_Finish_r.
 */
static size_t read_body(FCGX_Request *rq, char *buf, int max, int *too_large)
{
	const char *cl = FCGX_GetParam("CONTENT_LENGTH", rq->envp);
	long want = cl && *cl ? strtol(cl, NULL, 10) : -1;
	size_t n = 0;
	int got;

	*too_large = 0;
	if (want > max) {
		*too_large = 1;
		return 0;
	}
	if (want == 0)
		return 0;
	/* max + 1 so that a body without CONTENT_LENGTH still trips the limit. */
	while (n < (size_t)max + 1 &&
	       (got = FCGX_GetStr(buf + n, (int)((size_t)max + 1 - n), rq->in)) > 0)
		n += got;
	if (n > (size_t)max) {
		*too_large = 1;
		return 0;
	}
	return n;
}

static void serve(FCGX_Request *rq, struct rest_ctx *ctx, char *body_buf)
{
	const char *path = FCGX_GetParam("PATH_INFO", rq->envp);
	const char *query = FCGX_GetParam("QUERY_STRING", rq->envp);
	const char *dialect;
	struct req q;
	struct resp r;
	char head[512], retry[48] = "";
	int64_t t0 = chrono_mono_us();
	int n;

	memset(&q, 0, sizeof(q));
	resp_init(&r);
	if (!path || !*path)
		path = FCGX_GetParam("DOCUMENT_URI", rq->envp);
	q.method = req_method_parse(FCGX_GetParam("REQUEST_METHOD", rq->envp));
	q.path = path ? path : "";
	q.query = query ? query : "";
	q.authorization = FCGX_GetParam("HTTP_AUTHORIZATION", rq->envp);
	q.body = body_buf;
	q.body_len = read_body(rq, body_buf, ctx->cfg->max_body, &q.body_too_large);

	dialect = FCGX_GetParam("CHAT_DIALECT", rq->envp);
	if (req_dialect_parse(dialect, &q.dialect)) {
		log_error("nginx passes CHAT_DIALECT '%.40s'; expected 'documented' or 'app'",
			  dialect);
		resp_error(&r, 500, "server misconfigured: unknown response dialect");
	} else {
		r.dialect = q.dialect;
		routes_handle(ctx, &q, &r);
	}

	if (r.retry_after > 0)
		snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", r.retry_after);
	n = snprintf(head, sizeof(head),
		     "Status: %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s%s%s%s%s%s\r\n",
		     r.status, status_text(r.status),
		     r.content_type ? r.content_type : "application/json",
		     r.body ? r.body_len + 1 : 0,
		     r.www_authenticate ? "WWW-Authenticate: " : "",
		     r.www_authenticate ? r.www_authenticate : "",
		     r.www_authenticate ? "\r\n" : "",
		     r.allow[0] ? "Allow: " : "", r.allow, r.allow[0] ? "\r\n" : "", retry);
	FCGX_PutStr(head, n, rq->out);
	if (r.body) {
		FCGX_PutStr(r.body, (int)r.body_len, rq->out);
		FCGX_PutChar('\n', rq->out);
	}
	/* once per request, whatever answered it (metrics of docs/metrics.md) */
	restmetrics_db_reconnects(ctx->metrics, db_reconnects(ctx->db));
	restmetrics_request(ctx->metrics, q.route, q.method, r.status,
			    (uint64_t)(chrono_mono_us() - t0));
	if (r.status >= 500 || log_enabled(LOG_DEBUG))
		log_msg(r.status >= 500 ? LOG_WARN : LOG_DEBUG, "%s %.200s -> %d",
			req_method_name(q.method), q.path, r.status);
	resp_release(&r);
}

int main(void)
{
	struct rest_ctx ctx;
	struct sigaction sa;
	struct evt_pub pub = { 0 };
	struct evt_keys keys;
	struct restmetrics metrics;
	struct listcache lists;
	const char *pats[2 * RESTMETRICS_MAX_ROUTES];
	FCGX_Request rq;
	struct auth auth;
	struct cfg cfg;
	struct db db;
	void *zctx;
	char err[512], *body_buf;

	if (cfg_load(&cfg, err, sizeof(err)))
		die("config: %s", err);
	log_init("rest-fcgi", cfg.log_level);
	if (auth_init_from_cfg(&auth, &cfg, err, sizeof(err)))
		die("auth: %s", err);
	body_buf = malloc((size_t)cfg.max_body + 1);
	zctx = zmq_ctx_new();
	if (!body_buf || !zctx)
		die("out of memory");
	/*
	 * Wrong keys or endpoints are a configuration error: stop. (An inbox
	 * that is down is not: ZeroMQ connects when it comes up.)
	 */
	if (evt_keys_load(&keys, cfg.evt_key_file, cfg.evt_inbox_keys, err, sizeof(err)) ||
	    evt_pub_open(&pub, zctx, cfg.evt_endpoints, -1, &keys, err, sizeof(err)))
		die("events: %s", err);
	db_init(&db, cfg.db_url, cfg.db_timeout_ms, sql_stmts, sql_nstmts);
	/* the tier announces its own GET /rooms changes, after COMMIT */
	db_set_session(&db, LISTNOTIFY_SESSION, LISTNOTIFY_HELLO);
	if (db_ensure(&db, err, sizeof(err)))
		log_warn("%s (will retry on each request)", err);
	/* the route patterns are the metrics' route labels */
	if (routes_count > sizeof(pats) / sizeof(pats[0]))
		die("metrics: more than %zu routes", sizeof(pats) / sizeof(pats[0]));
	for (size_t i = 0; i < routes_count; i++)
		pats[i] = routes_table[i].pattern;
	if (restmetrics_open(&metrics, cfg.rest_metrics_file, pats, routes_count,
			     err, sizeof(err)))
		die("metrics: %s", err);
	if (!cfg.rest_metrics_file[0])
		log_info("CHAT_REST_METRICS_FILE is unset: /metrics reports this worker's "
			 "share only, not the tier's totals");
	if (listcache_open(&lists, cfg.rest_cache_file, cfg.list_cache_kb, cfg.db_url,
			   err, sizeof(err)))
		die("GET /rooms cache: %s", err);
	if (!lists.on)
		log_info("GET /rooms cache off (CHAT_REST_CACHE_FILE unset or "
			 "CHAT_REST_LIST_CACHE_KB 0): every list is a query");
	ctx = (struct rest_ctx){ .cfg = &cfg, .auth = &auth, .db = &db, .pub = &pub,
				 .metrics = &metrics, .lists = &lists };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;	/* no SA_RESTART: accept() must see EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* nginx may hang up while we write */

	if (FCGX_Init())
		die("FCGX_Init failed");
	FCGX_InitRequest(&rq, 0, 0);
	log_info("ready (pid %d)", (int)getpid());
	while (!stopping && FCGX_Accept_r(&rq) >= 0) {
		serve(&rq, &ctx, body_buf);
		FCGX_Finish_r(&rq);
	}
	log_info("stopping");
	FCGX_Free(&rq, 1);
	listcache_close(&lists);
	db_release(&db);
	evt_pub_close(&pub);
	evt_keys_release(&keys);
	zmq_ctx_term(zctx);
	tokcache_clear();
	restmetrics_close(&metrics);
	auth_release(&auth);
	free(body_buf);
	return 0;
}
