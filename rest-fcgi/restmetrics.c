#include "restmetrics.h"
#include "chrono.h"
#include "log.h"
#include "metrics.h"
#include "rest.h"
#include "tiershm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The statuses the tier answers (main.c's status_text), then "other". */
static const int rm_statuses[] = { 200, 201, 400, 401, 403, 404, 405, 409, 413, 429, 500, 503 };
#define RM_NSTATUS (sizeof(rm_statuses) / sizeof(rm_statuses[0]) + 1)
#define RM_NMETHODS (REQ_OTHER + 1)
#define RM_MAGIC 0x31534d5254414843ULL	/* "CHATRMS1" */

struct rm_route {
	uint64_t requests[RM_NMETHODS][RM_NSTATUS];
	struct metrics_hist seconds;	/* microseconds */
};

/* The file's layout; every field is changed with atomics only. */
struct restmetrics_shm {
	struct tiershm_head head;	/* RM_MAGIC, rm_layout() */
	int64_t start_ms;		/* when the counters began */
	uint64_t db_errors;
	uint64_t db_reconnects;
	uint64_t list_cache[2];		/* GET /rooms answers: [0] queried, [1] from the cache */
	struct rm_route route[RESTMETRICS_MAX_ROUTES + 1];	/* [npatterns]: other */
};

/* FNV-1a over the patterns and the sizes: equal only for the same layout. */
static uint64_t rm_layout(const struct restmetrics *m)
{
	uint64_t h;
	char sizes[64];

	snprintf(sizes, sizeof(sizes), "%zu/%zu/%zu/%d", sizeof(struct restmetrics_shm),
		 (size_t)RM_NMETHODS, (size_t)RM_NSTATUS, METRICS_HIST_MAX);
	h = tiershm_hash(TIERSHM_HASH0, sizes);
	for (size_t i = 0; i < m->npatterns; i++)
		h = tiershm_hash(h, m->patterns[i]);
	return h;
}

/* tiershm's init of a new file: when the counters began. */
static void rm_init(void *p, void *arg)
{
	(void)arg;
	((struct restmetrics_shm *)p)->start_ms = chrono_wall_ms();
}

int restmetrics_open(struct restmetrics *m, const char *path, const char *const *pats,
		     size_t n, char *err, size_t errlen)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;

		while (k < m->npatterns && strcmp(m->patterns[k], pats[i]))
			k++;
		if (k < m->npatterns)
			continue;
		if (m->npatterns == RESTMETRICS_MAX_ROUTES) {
			snprintf(err, errlen, "more than %d route patterns: raise "
				 "RESTMETRICS_MAX_ROUTES", RESTMETRICS_MAX_ROUTES);
			return -1;
		}
		m->patterns[m->npatterns++] = pats[i];
	}
	m->size = sizeof(struct restmetrics_shm);
	if (path && *path) {
		void *p;

		if (tiershm_map(path, "CHAT_REST_METRICS_FILE", m->size, RM_MAGIC,
				rm_layout(m), rm_init, NULL, &p, err, errlen))
			return -1;
		m->shm = p;
		m->shared = 1;
		return 0;
	}
	m->shm = calloc(1, m->size);
	if (!m->shm) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->shm->head.layout = rm_layout(m);
	rm_init(m->shm, NULL);
	return 0;
}

void restmetrics_close(struct restmetrics *m)
{
	if (!m->shm)
		return;
	if (m->shared)
		munmap(m->shm, m->size);
	else
		free(m->shm);
	m->shm = NULL;
}

static size_t rm_route_index(const struct restmetrics *m, const char *pattern)
{
	size_t i = 0;

	if (!pattern)
		return m->npatterns;
	while (i < m->npatterns && m->patterns[i] != pattern && strcmp(m->patterns[i], pattern))
		i++;
	return i;	/* not in the table: "other" */
}

static size_t rm_status_index(int status)
{
	for (size_t i = 0; i < RM_NSTATUS - 1; i++)
		if (rm_statuses[i] == status)
			return i;
	return RM_NSTATUS - 1;
}

void restmetrics_request(struct restmetrics *m, const char *pattern, enum req_method method,
			 int status, uint64_t us)
{
	struct rm_route *rt;

	if (!m || !m->shm)
		return;
	rt = &m->shm->route[rm_route_index(m, pattern)];
	if ((unsigned)method >= RM_NMETHODS)
		method = REQ_OTHER;
	__atomic_fetch_add(&rt->requests[method][rm_status_index(status)], 1, __ATOMIC_RELAXED);
	metrics_hist_observe(&rt->seconds, &metrics_seconds_spec, us);
}

void restmetrics_db_error(struct restmetrics *m)
{
	if (m && m->shm)
		__atomic_fetch_add(&m->shm->db_errors, 1, __ATOMIC_RELAXED);
}

void restmetrics_list_cache(struct restmetrics *m, int hit)
{
	if (m && m->shm)
		__atomic_fetch_add(&m->shm->list_cache[hit != 0], 1, __ATOMIC_RELAXED);
}

void restmetrics_db_reconnects(struct restmetrics *m, uint64_t total)
{
	if (!m || !m->shm || total <= m->db_reconnects_seen)
		return;
	__atomic_fetch_add(&m->shm->db_reconnects, total - m->db_reconnects_seen,
			   __ATOMIC_RELAXED);
	m->db_reconnects_seen = total;
}

void restmetrics_render(struct restmetrics *m, struct sbuf *b)
{
	struct restmetrics_shm *s = m->shm;
	const char *lab[7];
	char status[8];

	metrics_process(b, "rest", s->start_ms,
			__atomic_load_n(&s->db_reconnects, __ATOMIC_RELAXED));
	metrics_family(b, "chat_rest_requests_total", "counter",
		       "REST requests answered, by route pattern (other: no route), method "
		       "and status; totals of every rest-fcgi process.");
	for (size_t r = 0; r <= m->npatterns; r++)
		for (size_t k = 0; k < RM_NMETHODS; k++)
			for (size_t i = 0; i < RM_NSTATUS; i++) {
				uint64_t v = __atomic_load_n(&s->route[r].requests[k][i],
							     __ATOMIC_RELAXED);

				if (!v)	/* only the combinations that happened */
					continue;
				if (i < RM_NSTATUS - 1)
					snprintf(status, sizeof(status), "%d", rm_statuses[i]);
				else
					snprintf(status, sizeof(status), "other");
				lab[0] = "route";
				lab[1] = r < m->npatterns ? m->patterns[r] : "other";
				lab[2] = "method";
				lab[3] = k == REQ_OTHER ? "other" : req_method_name((enum req_method)k);
				lab[4] = "status";
				lab[5] = status;
				lab[6] = NULL;
				metrics_u64(b, "chat_rest_requests_total", lab, v);
			}
	metrics_family(b, "chat_rest_request_seconds", "histogram",
		       "Time from the request read to the response written, by route pattern, "
		       "in seconds.");
	for (size_t r = 0; r <= m->npatterns; r++) {
		lab[0] = "route";
		lab[1] = r < m->npatterns ? m->patterns[r] : "other";
		lab[2] = NULL;
		metrics_histogram(b, "chat_rest_request_seconds", lab, &metrics_seconds_spec,
				  &s->route[r].seconds);
	}
	metrics_family(b, "chat_rest_db_errors_total", "counter",
		       "REST requests answered 500/503 because a database call failed.");
	metrics_u64(b, "chat_rest_db_errors_total", NULL,
		    __atomic_load_n(&s->db_errors, __ATOMIC_RELAXED));
	metrics_family(b, "chat_rest_list_cache_total", "counter",
		       "Successful GET /rooms answers, by where they came from: hit (the "
		       "worker's cache) or miss (a query).");
	for (int hit = 0; hit < 2; hit++) {
		lab[0] = "result";
		lab[1] = hit ? "hit" : "miss";
		lab[2] = NULL;
		metrics_u64(b, "chat_rest_list_cache_total", lab,
			    __atomic_load_n(&s->list_cache[hit], __ATOMIC_RELAXED));
	}
}

int restmetrics_serve(struct rest_ctx *ctx, struct req *q, struct resp *r)
{
	struct sbuf b;
	char *text;
	size_t len;

	if (!ctx->metrics || !ctx->metrics->shm)
		return resp_error(r, 404, "no such endpoint: %s", q->path);
	sbuf_init(&b, 16384);
	restmetrics_render(ctx->metrics, &b);
	text = sbuf_detach(&b, &len);
	if (!text)
		return -1;
	/* main.c ends every body with a newline: the text's own is dropped */
	if (len && text[len - 1] == '\n')
		text[--len] = '\0';
	resp_take_body(r, 200, text, len);
	r->content_type = METRICS_CONTENT_TYPE;
	return 0;
}
