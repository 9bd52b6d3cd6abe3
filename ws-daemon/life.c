/*
 * The daemon's start, periodic jobs, shutdown and end (life.h).
 */
#include "life.h"
#include "chrono.h"
#include "daemon.h"
#include "deliver.h"
#include "log.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>

#define LIFE_EVICT_IDLE_MS 600000	/* rooms without traffic leave the cache */
#define LIFE_SHUTDOWN_TICK_US (50 * LWS_US_PER_MS)
#define LIFE_FINISH_MS 30000		/* longest wait for the worker's answers */

/* ---- periodic jobs (cron.h) ---- */

/* Token expiry, AFK limit, pings, closes not completed (conn.h). */
static void life_job_conns(void *arg)
{
	struct daemon *d = arg;

	conns_sweep(&d->conns, chrono_wall_ms());
}

/* Rooms whose load failed (out of memory, database error): again. */
static void life_job_room_loads(void *arg)
{
	deliver_retry_loads(arg);
}

/*
 * Give the heap's free memory back after a reconnect storm. Header tables
 * (12 KiB per handshake) and what connections keep are in connmem's slabs,
 * whose pages go back as they are freed; what a handshake still leaves in
 * the heap (the token check's blocks, lws's per-request ones; everything,
 * when connmem fell back to malloc) glibc keeps after it is freed: before
 * connmem, 15,000 clients connecting at once left the daemon at 125 MB
 * with nobody connected (19 MB after a trim). Trimmed when at least
 * TRIM_CHURN connections were accepted since the last trim: a trim walks
 * the heap's free chunks (a few ms on the service thread).
 */
#define TRIM_CHURN 1000

static void life_job_trim(void *arg)
{
	struct daemon *d = arg;

	if (d->listener.accepted - d->trimmed_at < TRIM_CHURN)
		return;
	d->trimmed_at = d->listener.accepted;
	malloc_trim(0);
}

/*
 * One info line while there is traffic: stored, batches, Postgres time,
 * delivered; and one about the event bus's refusals when they grew.
 */
static void life_job_stats(void *arg)
{
	struct daemon *d = arg;
	struct daemon_stats now;

	store_stats(&d->store, &now.store);
	bus_stats(&d->bus, &now.bus);
	now.delivered = d->deliver.delivered;
	now.unconfirmed = d->deliver.unconfirmed;
	now.unverified = d->deliver.unverified;
	if (now.store.stored != d->stats.store.stored)
		log_info("%zu connection(s); %llu message(s) stored in %llu batch(es), "
			 "%.1f ms in Postgres; %llu delivered", d->conns.count,
			 (unsigned long long)(now.store.stored - d->stats.store.stored),
			 (unsigned long long)(now.store.batches - d->stats.store.batches),
			 (double)(now.store.busy_us - d->stats.store.busy_us) / 1000.0,
			 (unsigned long long)(now.delivered - d->stats.delivered));
	/* events refused on the way in: worth a line whenever there were any */
	if (now.bus.dropped != d->stats.bus.dropped || now.unconfirmed != d->stats.unconfirmed ||
	    now.unverified != d->stats.unverified || now.bus.refused != d->stats.bus.refused ||
	    now.bus.recv_errors != d->stats.bus.recv_errors ||
	    now.bus.poll_errors != d->stats.bus.poll_errors)
		log_warn("events dropped in total: %llu malformed or implausible, %llu messages "
			 "not in Postgres, %llu unchecked; %llu publishers refused; "
			 "%llu receive and %llu poll errors",
			 (unsigned long long)now.bus.dropped, (unsigned long long)now.unconfirmed,
			 (unsigned long long)now.unverified, (unsigned long long)now.bus.refused,
			 (unsigned long long)now.bus.recv_errors,
			 (unsigned long long)now.bus.poll_errors);
	d->stats = now;
}

/* Rooms without traffic for LIFE_EVICT_IDLE_MS leave the cache. */
static void life_job_evict(void *arg)
{
	deliver_evict_rooms(arg, chrono_wall_ms(), LIFE_EVICT_IDLE_MS);
}

/* ---- start ---- */

void life_wake(void *arg)
{
	struct daemon *d = arg;
	/* called by the worker and bus threads: ctx is set while they run */
	struct lws_context *ctx = __atomic_load_n(&d->ctx, __ATOMIC_ACQUIRE);

	if (ctx)
		lws_cancel_service(ctx);
}

int life_init(struct daemon *d, const struct cfg *cfg, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->start_ms = chrono_wall_ms();
	if (auth_init_from_cfg(&d->auth, cfg, err, errlen))
		return -1;
	if (moderation_load(&d->mod, cfg->moderation_file, err, errlen))
		return -1;
	rcache_init(&d->rooms);
	if (conns_init(&d->conns, &(struct conn_limits){
			.queue_max = (uint32_t)cfg->queue_max,
			.unauth_max = cfg->unauth_max,
			.unauth_window_ms = (int64_t)cfg->unauth_window * 1000,
			.idle_ms = (int64_t)cfg->idle_timeout * 1000,
			.ping_ms = (int64_t)cfg->ping_interval * 1000,
			.msg_rate = cfg->ws_msg_rate,
			.msg_burst = cfg->ws_msg_burst,
			.max_unconfirmed = (uint32_t)cfg->ws_max_unconfirmed })) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (bus_open(&d->bus, cfg, life_wake, d, err, errlen))
		return -1;
	if (store_start(&d->store, cfg->db_url, cfg->db_timeout_ms, cfg->db_workers, life_wake, d,
			err, errlen))
		return -1;
	if (d->mod.nterms)
		log_info("moderation list: %zu term(s)", d->mod.nterms);
	/* each job on its own period (the connections' timers fire up to 1 s late) */
	cron_init(&d->cron, d);
	cron_add(&d->cron, "connection timers", 1000, life_job_conns);
	cron_add(&d->cron, "room load retries", 1000, life_job_room_loads);
	cron_add(&d->cron, "statistics line", 10000, life_job_stats);
	cron_add(&d->cron, "room eviction", 60000, life_job_evict);
	cron_add(&d->cron, "memory trim", 10000, life_job_trim);
	return 0;
}

void life_attach(struct daemon *d, struct lws_context *ctx)
{
	__atomic_store_n(&d->ctx, ctx, __ATOMIC_RELEASE);
	cron_start(&d->cron, ctx);
	/* answers or events that came before the context existed */
	lws_cancel_service(ctx);
}

/* ---- shutdown (daemon.h, enum daemon_phase) ---- */

/* Short ticks while stopping, so that each phase ends on time. */
static void life_shutdown_tick(lws_sorted_usec_list_t *sul)
{
	struct daemon *d = lws_container_of(sul, struct daemon, shutdown.sul);

	lws_sul_schedule(d->ctx, 0, &d->shutdown.sul, life_shutdown_tick,
			 LIFE_SHUTDOWN_TICK_US);
}

void life_shutdown(struct daemon *d)
{
	struct conn *c;

	if (d->shutdown.phase)
		return;
	log_info("stopping: clients told (4007); answering what they send for %d ms",
		 d->cfg->shutdown_grace_ms);
	d->shutdown.phase = DAEMON_SHUT_GRACE;
	d->shutdown.since_ms = chrono_wall_ms();
	for (c = d->conns.list; c; c = c->next)
		if (c->wsi)
			conn_announce(&d->conns, c, CLOSE_SHUTDOWN, "server is shutting down");
	if (d->ctx)
		life_shutdown_tick(&d->shutdown.sul);
}

int life_finished(struct daemon *d)
{
	struct daemon_shutdown *sh = &d->shutdown;
	int64_t now = chrono_wall_ms();
	struct conn *c;

	switch (sh->phase) {
	case DAEMON_RUNNING:
		return 0;
	case DAEMON_SHUT_GRACE:
		if (now - sh->since_ms < d->cfg->shutdown_grace_ms)
			return 0;
		log_info("stopping: finishing %u message(s) in flight", d->inflight);
		sh->phase = DAEMON_SHUT_REFUSE;
		sh->since_ms = now;
		/* fall through */
	case DAEMON_SHUT_REFUSE:
		if (d->inflight && now - sh->since_ms < LIFE_FINISH_MS)
			return 0;
		sh->phase = DAEMON_SHUT_CLOSE;
		sh->since_ms = now;
		d->conns.rx_off = 1;
		for (c = d->conns.list; c; c = c->next) {
			if (!c->wsi)
				continue;
			/* nothing more is read, so nothing goes unanswered */
			lws_rx_flow_control(c->wsi, 0);
			conn_close(&d->conns, c, CLOSE_SHUTDOWN, "server is shutting down");
		}
		/* fall through */
	case DAEMON_SHUT_CLOSE:
		break;
	}
	return !d->conns.count || now - sh->since_ms > CONN_CLOSE_GRACE_MS;
}

/* ---- end ---- */

void life_stop_threads(struct daemon *d)
{
	bus_close(&d->bus);
	store_stop(&d->store);
	__atomic_store_n(&d->ctx, NULL, __ATOMIC_RELEASE);
}

void life_release(struct daemon *d)
{
	struct store_job *j, *next;

	/* answers nobody took: they hold references of their connections */
	for (j = store_take(&d->store); j; j = next) {
		next = store_job_next(j);
		if (j->owner)
			conn_put(&d->conns, j->owner);
		store_job_free(j);
	}
	rcache_release(&d->rooms);
	conns_release(&d->conns);
	moderation_release(&d->mod);
	auth_release(&d->auth);
}
