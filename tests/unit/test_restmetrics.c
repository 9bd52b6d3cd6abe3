/*
 * restmetrics: the REST tier's counters in a file every worker maps, so
 * that any worker reports the totals of all of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "rest.h"
#include "restmetrics.h"

static const char *const pats[] = { "/health", "/rooms", "/rooms", "/rooms/:id", "/metrics" };

static char *tmpfile_path(void)
{
	static char path[] = "/tmp/test-restmetrics-XXXXXX";
	static char made[64];
	char *dir;

	snprintf(made, sizeof(made), "%s", path);
	dir = mkdtemp(made);
	assert_non_null(dir);
	strcat(made, "/metrics");
	return made;
}

static char *render(struct restmetrics *m)
{
	struct sbuf b;
	size_t len;

	sbuf_init(&b, 0);
	restmetrics_render(m, &b);
	return sbuf_detach(&b, &len);
}

/* Two mappings of one file (two workers): each counts, both see the sum. */
static void test_two_workers_one_total(void **state)
{
	struct restmetrics a, b;
	char err[256], *text, *path = tmpfile_path(), *dir;

	(void)state;
	assert_int_equal(restmetrics_open(&a, path, pats, 5, err, sizeof(err)), 0);
	assert_int_equal(restmetrics_open(&b, path, pats, 5, err, sizeof(err)), 0);
	assert_int_equal(a.npatterns, 4);	/* "/rooms" once */
	restmetrics_request(&a, "/rooms", REQ_GET, 200, 700);
	restmetrics_request(&b, "/rooms", REQ_GET, 200, 2000);
	restmetrics_request(&b, pats[3], REQ_DELETE, 403, 10);
	restmetrics_request(&a, NULL, REQ_OTHER, 404, 10);	/* no route */
	restmetrics_request(&a, "/rooms", REQ_PUT, 418, 10);	/* a status not listed */
	restmetrics_db_error(&b);
	restmetrics_db_reconnects(&a, 2);
	restmetrics_db_reconnects(&a, 2);	/* the same total again: no more */
	restmetrics_db_reconnects(&b, 1);
	restmetrics_db_error(NULL);		/* no metrics: nothing, no crash */
	restmetrics_request(NULL, "/rooms", REQ_GET, 200, 1);

	text = render(&a);
	assert_non_null(text);
	assert_non_null(strstr(text, "\nchat_rest_requests_total{route=\"/rooms\",method=\"GET\","
				     "status=\"200\"} 2\n"));
	assert_non_null(strstr(text, "\nchat_rest_requests_total{route=\"/rooms/:id\","
				     "method=\"DELETE\",status=\"403\"} 1\n"));
	assert_non_null(strstr(text, "\nchat_rest_requests_total{route=\"other\",method=\"other\","
				     "status=\"404\"} 1\n"));
	assert_non_null(strstr(text, "\nchat_rest_requests_total{route=\"/rooms\",method=\"PUT\","
				     "status=\"other\"} 1\n"));
	/* combinations that did not happen are not written */
	assert_null(strstr(text, "route=\"/health\",method"));
	assert_non_null(strstr(text, "\nchat_rest_request_seconds_bucket{route=\"/rooms\","
				     "le=\"0.001\"} 2\n"));
	assert_non_null(strstr(text, "\nchat_rest_request_seconds_count{route=\"/rooms\"} 3\n"));
	assert_non_null(strstr(text, "\nchat_rest_request_seconds_sum{route=\"/rooms\"} 0.00271\n"));
	assert_non_null(strstr(text, "\nchat_rest_db_errors_total 1\n"));
	assert_non_null(strstr(text, "\nchat_db_reconnects_total 3\n"));
	assert_non_null(strstr(text, "chat_build_info{tier=\"rest\",version=\""));
	free(text);

	/* a worker of another build (other routes) starts a fresh file */
	{
		struct restmetrics c;

		assert_int_equal(restmetrics_open(&c, path, pats, 2, err, sizeof(err)), 0);
		text = render(&c);
		assert_null(strstr(text, "chat_rest_requests_total{"));
		free(text);
		restmetrics_close(&c);
	}
	restmetrics_close(&a);
	restmetrics_close(&b);
	unlink(path);
	dir = strrchr(path, '/');
	*dir = '\0';
	rmdir(path);
}

static void test_private_and_errors(void **state)
{
	const char *many[RESTMETRICS_MAX_ROUTES + 1];
	char names[RESTMETRICS_MAX_ROUTES + 1][16], err[256];
	struct rest_ctx ctx = { 0 };
	struct restmetrics m;
	struct req q = { .path = "/metrics" };
	struct resp r;

	(void)state;
	/* no file: the process's own counters */
	assert_int_equal(restmetrics_open(&m, "", pats, 5, err, sizeof(err)), 0);
	restmetrics_request(&m, "/health", REQ_GET, 200, 1);
	ctx.metrics = &m;
	resp_init(&r);
	assert_int_equal(restmetrics_serve(&ctx, &q, &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body, "route=\"/health\",method=\"GET\",status=\"200\"} 1"));
	assert_true(r.body[r.body_len - 1] != '\n');	/* main.c adds the last newline */
	resp_release(&r);
	restmetrics_close(&m);
	/* without metrics the route is not there */
	ctx.metrics = NULL;
	resp_init(&r);
	assert_int_equal(restmetrics_serve(&ctx, &q, &r), 0);
	assert_int_equal(r.status, 404);
	resp_release(&r);

	for (int i = 0; i <= RESTMETRICS_MAX_ROUTES; i++) {
		snprintf(names[i], sizeof(names[i]), "/r%d", i);
		many[i] = names[i];
	}
	assert_int_equal(restmetrics_open(&m, "", many, RESTMETRICS_MAX_ROUTES + 1, err,
					  sizeof(err)), -1);
	assert_non_null(strstr(err, "route patterns"));
	assert_int_equal(restmetrics_open(&m, "/nonexistent-dir/metrics", pats, 5, err,
					  sizeof(err)), -1);
	assert_non_null(strstr(err, "CHAT_REST_METRICS_FILE: cannot open '/nonexistent-dir/metrics'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_workers_one_total),
		cmocka_unit_test(test_private_and_errors),
	};

	return cmocka_run_group_tests_name("restmetrics", tests, NULL, NULL);
}
