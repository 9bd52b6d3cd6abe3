#include "wsmetrics.h"
#include "daemon.h"
#include "metrics.h"

/* A family of one value, no labels. */
static void wsm_one(struct sbuf *b, const char *name, const char *type, const char *help,
		    uint64_t v)
{
	metrics_family(b, name, type, help);
	metrics_u64(b, name, NULL, v);
}

static void wsm_counter(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	wsm_one(b, name, "counter", help, v);
}

static void wsm_gauge(struct sbuf *b, const char *name, const char *help, uint64_t v)
{
	wsm_one(b, name, "gauge", help, v);
}

/* A counter family with one label: values[i] under label=names[i]. */
static void wsm_by(struct sbuf *b, const char *name, const char *help, const char *label,
		   const char *const *names, const uint64_t *values, size_t n)
{
	const char *lab[3] = { label, NULL, NULL };

	metrics_family(b, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		lab[1] = names[i];
		metrics_u64(b, name, lab, values[i]);
	}
}

void wsmetrics_render(struct daemon *d, struct sbuf *b)
{
	const struct conn_stats *cs = &d->conns.stats;
	struct store_stats st;
	struct bus_stats bs;
	const char *lab[5] = { NULL };
	const char *names[CONN_CODE_SLOTS > EVT_NTYPES ? CONN_CODE_SLOTS : EVT_NTYPES];

	store_stats(&d->store, &st);
	bus_stats(&d->bus, &bs);
	metrics_process(b, "ws", d->start_ms, store_reconnects(&d->store));

	wsm_gauge(b, "chat_ws_connections", "Open websocket connections of authenticated users.",
		  d->conns.mapped);
	wsm_counter(b, "chat_ws_connections_opened_total",
		    "Websocket connections opened (handshake completed).", cs->opened);
	/* the port (listener.h): a reconnect storm shows here */
	wsm_counter(b, "chat_ws_accepted_total",
		    "Connections accepted (the daemon's port, its unix socket) and handed to lws.",
		    d->listener.accepted);
	wsm_gauge(b, "chat_ws_handshakes_in_progress",
		  "Connections handed to lws whose handshake is not over yet.",
		  d->listener.pending);
	wsm_gauge(b, "chat_ws_handshakes_queued",
		  "Connections accepted, waiting for a handshake place.", d->listener.qlen);
	/* frames queued together leave in one write (conn.c) */
	wsm_counter(b, "chat_ws_frames_sent_total",
		    "Frames written to clients (confirmations, messages, disconnections).",
		    cs->frames_sent);
	wsm_counter(b, "chat_ws_writes_total",
		    "Writes those frames took: frames queued together leave in one.",
		    cs->writes);
	for (size_t i = 0; i < CONN_CODE_SLOTS; i++)
		names[i] = conn_code_label(i);
	wsm_by(b, "chat_ws_connections_closed_total",
	       "Websocket connections closed, by the close code: the server's, else "
	       "the client's, 1006 when none was exchanged.", "code", names, cs->closed,
	       CONN_CODE_SLOTS);

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
		       "Messages per store statement (chat_ws_insert).");
	metrics_histogram(b, "chat_ws_store_batch_size", NULL, &metrics_size_spec,
			  &st.batch_size);
	metrics_family(b, "chat_ws_store_seconds", "histogram",
		       "Time of a store batch: statement and commit, in seconds.");
	metrics_histogram(b, "chat_ws_store_seconds", NULL, &metrics_seconds_spec,
			  &st.batch_us);
	wsm_counter(b, "chat_ws_store_resend_retries_total",
		    "Store statements made again with ON CONFLICT after meeting a resend.",
		    st.resend_retries);

	for (int t = 0; t < EVT_NTYPES; t++)
		names[t] = evt_type_name((enum evt_type)t);
	wsm_by(b, "chat_ws_events_published_total", "Events published to the peer daemons, by type.",
	       "type", names, bs.published, EVT_NTYPES);
	wsm_by(b, "chat_ws_events_received_total",
	       "Events received on the inbox (REST tier and peers), by type.", "type", names,
	       bs.received, EVT_NTYPES);
	{
		static const char *const reasons[] = { "malformed", "not in postgres", "unverified",
						       "publish failed", "publisher refused",
						       "receive error" };
		const uint64_t drops[] = { bs.dropped, d->deliver.unconfirmed, d->deliver.unverified,
					   bs.publish_failed, bs.refused, bs.recv_errors };

		wsm_by(b, "chat_ws_events_dropped_total", "Events dropped or refused, by reason.",
		       "reason", reasons, drops, sizeof(drops) / sizeof(drops[0]));
	}
}
