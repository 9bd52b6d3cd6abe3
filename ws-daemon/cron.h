/*
 * cron - the daemon's periodic jobs, each with a name and its own period,
 * run on the lws service thread by one lws_sul timer (as redis's
 * serverCron runs its jobs "with period").
 *
 * A job runs when period_ms has passed since it last ran (on the
 * monotonic clock, so a step of the wall clock neither stops nor bunches
 * them), at most a few milliseconds late; the timer is set for the job
 * due next. A job that is slow delays the others, as anything on the
 * service thread does: jobs must be short and never block.
 *
 * cron_run() is the timer's work without lws, for the tests.
 *
 * Service thread only.
 */
#ifndef WS_CRON_H
#define WS_CRON_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#define CRON_MAX_JOBS 8

struct cron_job {
	const char *name;		/* for logs and the reader */
	int64_t period_ms;
	void (*fn)(void *arg);
	int64_t last_ms;		/* monotonic, when it last ran (or started) */
};

struct cron {
	struct lws_context *ctx;	/* NULL until cron_start() */
	lws_sorted_usec_list_t sul;
	void *arg;			/* every job's argument */
	struct cron_job job[CRON_MAX_JOBS];
	size_t njobs;
};

/* No jobs yet; each will be called with arg. */
void cron_init(struct cron *cr, void *arg);

/* Add a job (name is not copied). 0, or -1 when the table is full. */
int cron_add(struct cron *cr, const char *name, int64_t period_ms, void (*fn)(void *arg));

/*
 * Start the timer on ctx: every job's period starts now, so the first
 * run of each is one period away.
 */
void cron_start(struct cron *cr, struct lws_context *ctx);

/*
 * Run every job due at now_ms (monotonic ms), in table order. Returns
 * the ms until the next job is due (at least 1).
 */
int64_t cron_run(struct cron *cr, int64_t now_ms);

#endif
