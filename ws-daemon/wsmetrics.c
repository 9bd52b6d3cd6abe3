#include "wsmetrics.h"
#include "daemon.h"
#include "metrics.h"

/* A counter family with no labels. */
static void wsm_counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	metrics_family(b, name, "counter", help);
	metrics_u64(b, name, NULL, v);
}

void wsmetrics_render(struct daemon *d, struct sbuf *b)
{
	const struct conn_stats *cs = &d->conns.stats;
	struct store_stats st;
	struct bus_stats bs;
	const char *lab[5] = { NULL };

	store_stats(&d->store, &st);
	bus_stats(&d->bus, &bs);
	metrics_process(b, "ws", d->start_ms, store_reconnects(&d->store));

	metrics_family(b, "chat_ws_connections", "gauge",
		       "Open websocket connections of authenticated users.");
	metrics_u64(b, "chat_ws_connections", NULL, d->conns.mapped);
	wsm_counter(b, "chat_ws_connections_opened_total",
		    "Websocket connections opened (handshake completed).", cs->opened);
	metrics_family(b, "chat_ws_connections_closed_total", "counter",
		       "Websocket connections closed, by the close code: the server's, else "
		       "the client's, 1006 when none was exchanged.");
	for (size_t i = 0; i < CONN_CODE_SLOTS; i++) {
		lab[0] = "code";
		lab[1] = conn_code_label(i);
		lab[2] = NULL;
		metrics_u64(b, "chat_ws_connections_closed_total", lab, cs->closed[i]);
	}

	wsm_counter(b, "chat_ws_messages_received_total",
		    "SendMessage frames read (well-formed).", d->chat.received);
	wsm_counter(b, "chat_ws_messages_stored_total",
		    "Messages committed to Postgres by this daemon.", st.stored);
	metrics_family(b, "chat_ws_messages_confirmed_total", "counter",
		       "MessageSentConfirmation frames, by confirmed and the class of the reason.");
	for (size_t i = 0; i < CONN_CONFIRM_CLASSES; i++) {
		lab[0] = "result";
		lab[1] = i ? "false" : "true";
		lab[2] = "reason";
		lab[3] = conn_confirm_label(i);
		lab[4] = NULL;
		metrics_u64(b, "chat_ws_messages_confirmed_total", lab, cs->confirmed[i]);
	}
	wsm_counter(b, "chat_ws_messages_delivered_total",
		    "MessageReceived frames queued to recipients connected here.",
		    d->deliver.delivered);
	wsm_counter(b, "chat_ws_messages_rate_limited_total",
		    "SendMessage frames refused by the rate limit (CHAT_WS_MSG_RATE).",
		    d->chat.rate_limited);
	wsm_counter(b, "chat_ws_queue_drops_total",
		    "Connections closed 4009 because they read too slowly (queue full).",
		    cs->queue_drops);

	metrics_family(b, "chat_ws_store_batch_size", "histogram",
		       "Messages per store statement (chat_ws_store).");
	metrics_histogram(b, "chat_ws_store_batch_size", NULL, &metrics_size_spec,
			  &st.batch_size);
	metrics_family(b, "chat_ws_store_seconds", "histogram",
		       "Time of a store batch: statement and commit, in seconds.");
	metrics_histogram(b, "chat_ws_store_seconds", NULL, &metrics_seconds_spec,
			  &st.batch_us);

	metrics_family(b, "chat_ws_events_published_total", "counter",
		       "Events published to the peer daemons, by type.");
	for (int t = 0; t < EVT_NTYPES; t++) {
		lab[0] = "type";
		lab[1] = evt_type_name((enum evt_type)t);
		lab[2] = NULL;
		metrics_u64(b, "chat_ws_events_published_total", lab, bs.published[t]);
	}
	metrics_family(b, "chat_ws_events_received_total", "counter",
		       "Events received on the inbox (REST tier and peers), by type.");
	for (int t = 0; t < EVT_NTYPES; t++) {
		lab[0] = "type";
		lab[1] = evt_type_name((enum evt_type)t);
		lab[2] = NULL;
		metrics_u64(b, "chat_ws_events_received_total", lab, bs.received[t]);
	}
	metrics_family(b, "chat_ws_events_dropped_total", "counter",
		       "Events dropped or refused, by reason.");
	{
		const struct { const char *reason; uint64_t v; } drops[] = {
			{ "malformed", bs.dropped },
			{ "not in postgres", d->deliver.unconfirmed },
			{ "unverified", d->deliver.unverified },
			{ "publish failed", bs.publish_failed },
			{ "publisher refused", bs.refused },
			{ "receive error", bs.recv_errors },
		};

		for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
			lab[0] = "reason";
			lab[1] = drops[i].reason;
			lab[2] = NULL;
			metrics_u64(b, "chat_ws_events_dropped_total", lab, drops[i].v);
		}
	}
}
