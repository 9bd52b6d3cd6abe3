/* metrics: the Prometheus text exposition and the histogram counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"
#include "sbuf.h"

static void test_family_and_samples(void **state)
{
	const char *lab[] = { "code", "4001", "reason", "a\"b\\c\nd", NULL };
	struct sbuf b;

	(void)state;
	sbuf_init(&b, 0);
	metrics_family(&b, "x_total", "counter", "Things\\counted\nhere.");
	metrics_u64(&b, "x_total", NULL, 0);
	metrics_u64(&b, "x_total", lab, 18446744073709551615ULL);
	metrics_f64(&b, "g", NULL, 1.5);
	metrics_f64(&b, "g", lab + 4, 1e300 * 1e300);	/* no labels: an empty list */
	assert_string_equal(sbuf_text(&b),
			    "# HELP x_total Things\\\\counted\\nhere.\n"
			    "# TYPE x_total counter\n"
			    "x_total 0\n"
			    "x_total{code=\"4001\",reason=\"a\\\"b\\\\c\\nd\"} 18446744073709551615\n"
			    "g 1.5\n"
			    "g +Inf\n");
	sbuf_release(&b);
}

static void test_histogram(void **state)
{
	static const uint64_t bounds[] = { 1000, 5000 };
	const struct metrics_hist_spec spec = { bounds, 2, 1e6 };
	const char *lab[] = { "route", "/rooms", NULL };
	struct metrics_hist h;
	struct sbuf b;

	(void)state;
	memset(&h, 0, sizeof(h));
	metrics_hist_observe(&h, &spec, 0);
	metrics_hist_observe(&h, &spec, 1000);	/* on the bound: le is inclusive */
	metrics_hist_observe(&h, &spec, 1001);
	metrics_hist_observe(&h, &spec, 7000000);
	assert_int_equal(h.bucket[0], 2);
	assert_int_equal(h.bucket[1], 1);
	assert_int_equal(h.bucket[2], 1);
	assert_int_equal(h.sum, 7002001);
	sbuf_init(&b, 0);
	metrics_histogram(&b, "lat_seconds", lab, &spec, &h);
	assert_string_equal(sbuf_text(&b),
			    "lat_seconds_bucket{route=\"/rooms\",le=\"0.001\"} 2\n"
			    "lat_seconds_bucket{route=\"/rooms\",le=\"0.005\"} 3\n"
			    "lat_seconds_bucket{route=\"/rooms\",le=\"+Inf\"} 4\n"
			    "lat_seconds_sum{route=\"/rooms\"} 7.002001\n"
			    "lat_seconds_count{route=\"/rooms\"} 4\n");
	sbuf_release(&b);

	/* without labels, le is the only one; the shared specs are ascending */
	memset(&h, 0, sizeof(h));
	metrics_hist_observe(&h, &metrics_size_spec, 3);
	sbuf_init(&b, 0);
	metrics_histogram(&b, "n", NULL, &metrics_size_spec, &h);
	assert_non_null(strstr(sbuf_text(&b), "n_bucket{le=\"2\"} 0\nn_bucket{le=\"4\"} 1\n"));
	assert_non_null(strstr(sbuf_text(&b), "n_sum 3\nn_count 1\n"));
	sbuf_release(&b);
	for (size_t i = 1; i < metrics_seconds_spec.n; i++)
		assert_true(metrics_seconds_spec.bounds[i - 1] < metrics_seconds_spec.bounds[i]);
	assert_true(metrics_seconds_spec.n <= METRICS_HIST_MAX);
	assert_true(metrics_size_spec.n <= METRICS_HIST_MAX);
}

static void test_process(void **state)
{
	struct sbuf b;

	(void)state;
	sbuf_init(&b, 0);
	metrics_process(&b, "ws", 1700000000123, 2);
	assert_non_null(strstr(sbuf_text(&b), "\nprocess_start_time_seconds 1700000000.123\n"));
	assert_non_null(strstr(sbuf_text(&b), "\nchat_build_info{tier=\"ws\",version=\""));
	assert_non_null(strstr(sbuf_text(&b), "# TYPE chat_db_reconnects_total counter\n"
					      "chat_db_reconnects_total 2\n"));
	assert_true(strlen(metrics_version()) > 0);
	sbuf_release(&b);
}

static void test_failed_buffer(void **state)
{
	struct sbuf b;

	(void)state;
	sbuf_init(&b, 0);
	b.failed = 1;
	metrics_family(&b, "x", "gauge", "h");
	metrics_u64(&b, "x", NULL, 1);
	assert_null(sbuf_text(&b));
	sbuf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_samples),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_process),
		cmocka_unit_test(test_failed_buffer),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
