/*
 * metrics - the Prometheus text exposition (format 0.0.4) and the
 * counters behind it that any thread, or any process, may add to.
 *
 * Layering: on sbuf only (and libc). Never a tier's header, never cfg or
 * db: a tier renders its own counters with these functions (ws-daemon's
 * wsmetrics.c, rest-fcgi's restmetrics.c). docs/metrics.md lists every
 * metric of the service.
 *
 * Writing. metrics_family() writes the HELP and TYPE lines of a family,
 * then one metrics_u64() / metrics_f64() per sample, or one
 * metrics_histogram() (buckets, _sum, _count). Labels are an array of
 * name, value pairs ended by NULL (or NULL for none); values are escaped
 * as the format wants (\\, \" and \n), names are the caller's constants
 * and are not checked. All of it appends to a struct sbuf and inherits
 * its sticky failure: the caller checks sbuf_text() once at the end.
 *
 * Histograms. Values are unsigned integers in a unit of the caller's
 * (microseconds, messages); a struct metrics_hist_spec holds the finite
 * upper bounds in that unit and the scale that turns it into the
 * exposed unit (1e6 for microseconds -> seconds). struct metrics_hist is
 * plain data without pointers (non-cumulative bucket counts, the last
 * one +Inf, and the sum), so it may live in shared memory;
 * metrics_hist_observe() and metrics_hist_read() use atomics, so any
 * thread or process may observe while another reads.
 */
#ifndef CHAT_METRICS_H
#define CHAT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"

/* The Content-Type of an exposition. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define METRICS_HIST_MAX 16	/* most finite buckets of a histogram */

struct metrics_hist_spec {
	const uint64_t *bounds;	/* ascending upper bounds, in the caller's unit */
	size_t n;		/* how many, at most METRICS_HIST_MAX */
	double scale;		/* caller's units per exposed unit (1e6: us -> s) */
};

struct metrics_hist {
	uint64_t bucket[METRICS_HIST_MAX + 1];	/* per bucket, not cumulative;
						   [spec->n] is +Inf */
	uint64_t sum;				/* in the caller's unit */
};

/* Latency: 0.5 ms .. 10 s, observed in microseconds, exposed in seconds. */
extern const struct metrics_hist_spec metrics_seconds_spec;
/* Sizes (messages per batch): 1 .. 1024, powers of two. */
extern const struct metrics_hist_spec metrics_size_spec;

/* Add one observation v (any thread: atomic). */
void metrics_hist_observe(struct metrics_hist *h, const struct metrics_hist_spec *s,
			  uint64_t v);

/* An atomic copy of each field of h into out (a consistent enough snapshot). */
void metrics_hist_read(const struct metrics_hist *h, struct metrics_hist *out);

/* The same, added to out: the sum of several threads' histograms. */
void metrics_hist_add(const struct metrics_hist *h, struct metrics_hist *out);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram). */
void metrics_family(struct sbuf *b, const char *name, const char *type, const char *help);

/* One sample line: name{labels} v. */
void metrics_u64(struct sbuf *b, const char *name, const char *const *labels, uint64_t v);
void metrics_f64(struct sbuf *b, const char *name, const char *const *labels, double v);

/*
 * The samples of one histogram with labels: name_bucket{labels,le="..."}
 * (cumulative, ending in le="+Inf"), name_sum, name_count. h is read
 * with metrics_hist_read() first.
 */
void metrics_histogram(struct sbuf *b, const char *name, const char *const *labels,
		       const struct metrics_hist_spec *s, const struct metrics_hist *h);

/*
 * What both tiers expose about the process: process_start_time_seconds
 * (start_ms, unix milliseconds), chat_build_info{tier,version} 1 and
 * chat_db_reconnects_total.
 */
void metrics_process(struct sbuf *b, const char *tier, int64_t start_ms, uint64_t db_reconnects);

/* The build's version (git describe at build time, else "unknown"). */
const char *metrics_version(void);

#endif
