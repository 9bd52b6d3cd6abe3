#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if __has_include("version.h")
#include "version.h"	/* build/version.h: CHAT_VERSION, made by the Makefile */
#endif
#ifndef CHAT_VERSION
#define CHAT_VERSION "unknown"
#endif

static const uint64_t seconds_bounds[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000,
};
const struct metrics_hist_spec metrics_seconds_spec = {
	seconds_bounds, sizeof(seconds_bounds) / sizeof(seconds_bounds[0]), 1e6
};

static const uint64_t size_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024 };
const struct metrics_hist_spec metrics_size_spec = {
	size_bounds, sizeof(size_bounds) / sizeof(size_bounds[0]), 1
};

const char *metrics_version(void)
{
	return CHAT_VERSION;
}

void metrics_hist_observe(struct metrics_hist *h, const struct metrics_hist_spec *s,
			  uint64_t v)
{
	size_t i = 0;

	while (i < s->n && v > s->bounds[i])
		i++;
	__atomic_fetch_add(&h->bucket[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
}

void metrics_hist_read(const struct metrics_hist *h, struct metrics_hist *out)
{
	for (size_t i = 0; i <= METRICS_HIST_MAX; i++)
		out->bucket[i] = __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
	out->sum = __atomic_load_n(&h->sum, __ATOMIC_RELAXED);
}

void metrics_hist_add(const struct metrics_hist *h, struct metrics_hist *out)
{
	struct metrics_hist one;

	metrics_hist_read(h, &one);
	for (size_t i = 0; i <= METRICS_HIST_MAX; i++)
		out->bucket[i] += one.bucket[i];
	out->sum += one.sum;
}

/*
 * Text as the format escapes it: backslash and newline always, the double
 * quote in label values (quote) but not in HELP text.
 */
static void metrics_escape(struct sbuf *b, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			sbuf_adds(b, "\\\\");
		else if (*s == '\n')
			sbuf_adds(b, "\\n");
		else if (*s == '"' && quote)
			sbuf_adds(b, "\\\"");
		else
			sbuf_add(b, s, 1);
	}
}

void metrics_family(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_addf(b, "# HELP %s ", name);
	metrics_escape(b, help, 0);
	sbuf_addf(b, "\n# TYPE %s %s\n", name, type);
}

/* name{labels[,le="le"]} with a trailing space; suffix after the name. */
static void metrics_name(struct sbuf *b, const char *name, const char *suffix,
			 const char *const *labels, const char *le)
{
	int n = 0;

	sbuf_adds(b, name);
	sbuf_adds(b, suffix);
	if ((labels && labels[0]) || le) {
		sbuf_adds(b, "{");
		for (; labels && labels[0] && labels[1]; labels += 2, n++) {
			sbuf_addf(b, "%s%s=\"", n ? "," : "", labels[0]);
			metrics_escape(b, labels[1], 1);
			sbuf_adds(b, "\"");
		}
		if (le)
			sbuf_addf(b, "%sle=\"%s\"", n ? "," : "", le);
		sbuf_adds(b, "}");
	}
	sbuf_adds(b, " ");
}

/* A float as the format writes it: Go's ParseFloat reads %.15g; +Inf, NaN. */
static void metrics_float(char *out, size_t len, double v)
{
	if (isnan(v))
		snprintf(out, len, "NaN");
	else if (isinf(v))
		snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(out, len, "%.15g", v);
}

void metrics_u64(struct sbuf *b, const char *name, const char *const *labels, uint64_t v)
{
	metrics_name(b, name, "", labels, NULL);
	sbuf_addf(b, "%llu\n", (unsigned long long)v);
}

void metrics_f64(struct sbuf *b, const char *name, const char *const *labels, double v)
{
	char num[40];

	metrics_float(num, sizeof(num), v);
	metrics_name(b, name, "", labels, NULL);
	sbuf_addf(b, "%s\n", num);
}

void metrics_histogram(struct sbuf *b, const char *name, const char *const *labels,
		       const struct metrics_hist_spec *s, const struct metrics_hist *h)
{
	struct metrics_hist snap;
	uint64_t cum = 0;
	char le[40];
	size_t n = s->n < METRICS_HIST_MAX ? s->n : METRICS_HIST_MAX;

	metrics_hist_read(h, &snap);
	for (size_t i = 0; i < n; i++) {
		cum += snap.bucket[i];
		metrics_float(le, sizeof(le), (double)s->bounds[i] / s->scale);
		metrics_name(b, name, "_bucket", labels, le);
		sbuf_addf(b, "%llu\n", (unsigned long long)cum);
	}
	cum += snap.bucket[n];
	metrics_name(b, name, "_bucket", labels, "+Inf");
	sbuf_addf(b, "%llu\n", (unsigned long long)cum);
	metrics_float(le, sizeof(le), (double)snap.sum / s->scale);
	metrics_name(b, name, "_sum", labels, NULL);
	sbuf_addf(b, "%s\n", le);
	metrics_name(b, name, "_count", labels, NULL);
	sbuf_addf(b, "%llu\n", (unsigned long long)cum);
}

void metrics_process(struct sbuf *b, const char *tier, int64_t start_ms, uint64_t db_reconnects)
{
	const char *info[] = { "tier", tier, "version", metrics_version(), NULL };

	metrics_family(b, "process_start_time_seconds", "gauge",
		       "Start time of the process since unix epoch in seconds.");
	metrics_f64(b, "process_start_time_seconds", NULL, (double)start_ms / 1000.0);
	metrics_family(b, "chat_build_info", "gauge",
		       "The tier and the build's version (git describe), always 1.");
	metrics_u64(b, "chat_build_info", info, 1);
	metrics_family(b, "chat_db_reconnects_total", "counter",
		       "Database connections made again after one was lost.");
	metrics_u64(b, "chat_db_reconnects_total", NULL, db_reconnects);
}
