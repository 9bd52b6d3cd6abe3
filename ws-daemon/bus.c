#include "bus.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define BUS_POLL_MS 200		/* how soon the thread notices bus_close() */
#define BUS_LOG_MS 10000	/* at most one line per kind of failure this often */
#define BUS_DROP_LOG_MS 1000	/* at most one line per second about dropped events */

/*
 * A ZeroMQ failure of the inbox thread: counted in *counter, logged at
 * most every BUS_LOG_MS, and waited out for a poll interval so that a
 * lasting failure does not spin.
 */
static void bus_failed(uint64_t *counter, struct log_limit *lim, const char *msg)
{
	uint64_t n = __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);

	if (log_limit_pass(lim, BUS_LOG_MS, NULL))
		log_error("bus: %s (%llu time(s) so far)", msg, (unsigned long long)n);
	nanosleep(&(struct timespec){ .tv_nsec = BUS_POLL_MS * 1000000L }, NULL);
}

/*
 * A frame that is not an event, or an implausible one (evt.h): never
 * handed over; counted, and logged at most every BUS_DROP_LOG_MS (a
 * flood of them must not flood the log).
 */
static void bus_dropped(struct bus *b, const char *why)
{
	uint64_t n = __atomic_add_fetch(&b->stats.dropped, 1, __ATOMIC_RELAXED);
	unsigned long skipped;

	if (log_limit_pass(&b->drop_log, BUS_DROP_LOG_MS, &skipped))
		log_warn("bus: dropped an event: %s (%llu dropped so far, %lu not logged)", why,
			 (unsigned long long)n, skipped);
}

static void *bus_main(void *arg)
{
	struct bus *b = arg;
	zmq_pollitem_t pi[2] = { { .socket = b->sub, .events = ZMQ_POLLIN },
				 { .socket = b->zap.sock, .events = ZMQ_POLLIN } };
	int npi = b->zap.sock ? 2 : 1, rc;
	char err[256];

	for (;;) {
		struct handoff_list got;

		if (__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE))
			break;
		rc = zmq_poll(pi, npi, BUS_POLL_MS);
		if (rc < 0 && errno != EINTR) {
			/* not silence: count it and say so */
			snprintf(err, sizeof(err), "polling the inbox failed: %s",
				 zmq_strerror(errno));
			bus_failed(&b->stats.poll_errors, &b->poll_log, err);
			continue;
		}
		if (rc <= 0)
			continue;
		if (npi > 1 && (pi[1].revents & ZMQ_POLLIN)) {
			curve_zap_serve(&b->zap);
			__atomic_store_n(&b->stats.refused, b->zap.refused, __ATOMIC_RELAXED);
		}
		if (!(pi[0].revents & ZMQ_POLLIN))
			continue;
		/* everything waiting, then one hand-over and one wake */
		handoff_list_init(&got);
		for (int n = 0; n < 4096; n++) {
			struct bus_item *it = malloc(sizeof(*it));

			if (!it)
				break;
			rc = evt_sub_recv(b->sub, &it->e, err, sizeof(err));
			if (rc == EVT_RECV_EVENT) {
				if ((unsigned)it->e.type < EVT_NTYPES)
					__atomic_fetch_add(&b->stats.received[it->e.type], 1,
							   __ATOMIC_RELAXED);
				handoff_list_add(&got, &it->link);
				continue;
			}
			free(it);
			if (rc == EVT_RECV_NONE)
				break;
			if (rc == EVT_RECV_ERROR) {
				bus_failed(&b->stats.recv_errors, &b->recv_log, err);
				break;
			}
			bus_dropped(b, err);
		}
		handoff_put(&b->events, &got);
	}
	zmq_close(b->sub);
	b->sub = NULL;
	curve_zap_close(&b->zap);
	return NULL;
}

int bus_open(struct bus *b, const struct cfg *c, void (*wake)(void *arg),
	     void *arg, char *err, size_t errlen)
{
	char ep[256];

	memset(b, 0, sizeof(*b));
	b->origin = c->ws_id;
	b->npeers = cfg_evt_count(c) - 1;
	handoff_init(&b->events, wake, arg);
	b->zctx = zmq_ctx_new();
	if (!b->zctx) {
		snprintf(err, errlen, "cannot create a ZeroMQ context");
		return -1;
	}
	if (evt_endpoint(c->evt_endpoints, c->ws_id, ep, sizeof(ep))) {
		snprintf(err, errlen, "CHAT_EVT_ENDPOINTS: no entry %d", c->ws_id);
		goto fail;
	}
	if (evt_keys_load(&b->keys, c->evt_key_file, c->evt_inbox_keys, err, errlen))
		goto fail;
	/* the ZAP handler exists before the inbox: no peer gets in unchecked */
	if (!strncmp(ep, "tcp://", 6)) {
		if (!c->evt_allowed_keys[0]) {
			snprintf(err, errlen, "event inbox '%s' is tcp://: CHAT_EVT_ALLOWED_KEYS must "
				 "list the publishers it admits", ep);
			goto fail;
		}
		if (curve_zap_open(&b->zap, b->zctx, c->evt_allowed_keys, err, errlen))
			goto fail;
	}
	b->sub = evt_sub_open(b->zctx, ep, &b->keys, c->evt_max_bytes, err, errlen);
	if (!b->sub)
		goto fail;
	if (evt_pub_open(&b->pub, b->zctx, c->evt_endpoints, c->ws_id, &b->keys, err, errlen))
		goto fail;
	if (handoff_thread_start(&b->thread, bus_main, b, "event", err, errlen))
		goto fail;
	b->started = 1;
	log_info("event inbox bound, %d peer daemon(s)", b->npeers);
	return 0;
fail:
	evt_pub_close(&b->pub);
	if (b->sub)
		zmq_close(b->sub);
	b->sub = NULL;
	curve_zap_close(&b->zap);
	evt_keys_release(&b->keys);
	zmq_ctx_term(b->zctx);
	b->zctx = NULL;
	handoff_release(&b->events);
	return -1;
}

struct bus_item *bus_take(struct bus *b)
{
	return handoff_entry(handoff_take(&b->events), struct bus_item, link);
}

void bus_stats(struct bus *b, struct bus_stats *out)
{
	out->dropped = __atomic_load_n(&b->stats.dropped, __ATOMIC_RELAXED);
	out->refused = __atomic_load_n(&b->stats.refused, __ATOMIC_RELAXED);
	out->recv_errors = __atomic_load_n(&b->stats.recv_errors, __ATOMIC_RELAXED);
	out->poll_errors = __atomic_load_n(&b->stats.poll_errors, __ATOMIC_RELAXED);
	for (int t = 0; t < EVT_NTYPES; t++) {
		out->received[t] = __atomic_load_n(&b->stats.received[t], __ATOMIC_RELAXED);
		out->published[t] = __atomic_load_n(&b->stats.published[t], __ATOMIC_RELAXED);
	}
	out->publish_failed = __atomic_load_n(&b->stats.publish_failed, __ATOMIC_RELAXED);
}

void bus_item_free(struct bus_item *it)
{
	if (!it)
		return;
	evt_release(&it->e);
	free(it);
}

int bus_publish(struct bus *b, const struct evt *e)
{
	if (b->npeers <= 0 || !b->pub.sock)
		return 0;
	if (evt_publish(&b->pub, e)) {
		__atomic_fetch_add(&b->stats.publish_failed, 1, __ATOMIC_RELAXED);
		return -1;
	}
	if ((unsigned)e->type < EVT_NTYPES)
		__atomic_fetch_add(&b->stats.published[e->type], 1, __ATOMIC_RELAXED);
	return 0;
}

void bus_close(struct bus *b)
{
	struct bus_item *it, *next;

	if (!b->zctx)
		return;
	if (b->started) {
		__atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
		pthread_join(b->thread, NULL);
	}
	for (it = bus_take(b); it; it = next) {
		next = bus_item_next(it);
		bus_item_free(it);
	}
	evt_pub_close(&b->pub);
	evt_keys_release(&b->keys);
	zmq_ctx_term(b->zctx);
	b->zctx = NULL;
	handoff_release(&b->events);
}
