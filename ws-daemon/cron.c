#include "cron.h"
#include "chrono.h"

#include <string.h>

static int64_t cron_now_ms(void)
{
	return chrono_mono_us() / 1000;
}

void cron_init(struct cron *cr, void *arg)
{
	memset(cr, 0, sizeof(*cr));
	cr->arg = arg;
}

int cron_add(struct cron *cr, const char *name, int64_t period_ms, void (*fn)(void *arg))
{
	struct cron_job *j;

	if (cr->njobs == CRON_MAX_JOBS || period_ms <= 0)
		return -1;
	j = &cr->job[cr->njobs++];
	j->name = name;
	j->period_ms = period_ms;
	j->fn = fn;
	j->last_ms = cron_now_ms();
	return 0;
}

int64_t cron_run(struct cron *cr, int64_t now_ms)
{
	int64_t next = INT64_MAX;

	for (size_t i = 0; i < cr->njobs; i++) {
		struct cron_job *j = &cr->job[i];
		int64_t left;

		if (now_ms - j->last_ms >= j->period_ms) {
			j->last_ms = now_ms;
			j->fn(cr->arg);
		}
		left = j->last_ms + j->period_ms - now_ms;
		if (left < next)
			next = left;
	}
	return next < 1 ? 1 : next;
}

static void cron_tick(lws_sorted_usec_list_t *sul)
{
	struct cron *cr = lws_container_of(sul, struct cron, sul);
	int64_t wait_ms = cron_run(cr, cron_now_ms());

	lws_sul_schedule(cr->ctx, 0, &cr->sul, cron_tick, wait_ms * LWS_US_PER_MS);
}

void cron_start(struct cron *cr, struct lws_context *ctx)
{
	int64_t now = cron_now_ms(), wait_ms = INT64_MAX;

	cr->ctx = ctx;
	for (size_t i = 0; i < cr->njobs; i++) {
		cr->job[i].last_ms = now;
		if (cr->job[i].period_ms < wait_ms)
			wait_ms = cr->job[i].period_ms;
	}
	if (cr->njobs)
		lws_sul_schedule(ctx, 0, &cr->sul, cron_tick, wait_ms * LWS_US_PER_MS);
}
