/*
 * The lws protocol of the daemon: connections arrive, are authenticated,
 * send frames and are written to (chat.h).
 */
#include "chat.h"
#include "chrono.h"
#include "daemon.h"
#include "deliver.h"
#include "log.h"
#include "metrics.h"
#include "sbuf.h"
#include "wsmetrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct daemon *chat_daemon(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ---- connections ---- */

static void chat_established(struct daemon *d, struct lws *wsi, struct chat_pss *pss)
{
	char buf[AUTH_MAX_TOKEN + 16], err[256];
	struct auth_claims cl;
	struct store_job *j;
	const char *tok;
	struct conn *c, *old;
	struct evt e;

	c = conn_new(&d->conns, wsi, chrono_wall_ms());
	pss->c = c;
	if (!c)
		return;
	if (d->shutdown.phase) {
		conn_close(&d->conns, c, CLOSE_SHUTDOWN, "server is shutting down");
		return;
	}
	tok = lws_get_urlarg_by_name(wsi, "token=", buf, sizeof(buf));
	if (!tok || !*tok) {
		conn_close(&d->conns, c, CLOSE_NO_TOKEN, "no token");
		return;
	}
	if (auth_verify(&d->auth, tok, time(NULL), &cl, err, sizeof(err))) {
		conn_close(&d->conns, c, CLOSE_BAD_TOKEN, err);
		return;
	}
	if (uuid_parse(cl.sub, &c->user)) {
		conn_close(&d->conns, c, CLOSE_BAD_TOKEN, "token subject is not a UUID");
		return;
	}
	uuid_format(&c->user, c->user_str);
	c->exp_ms = chrono_s_to_ms(cl.exp, d->cfg->jwt_leeway);	/* exp may be huge */
	old = conns_map(&d->conns, c);
	if (old)
		conn_close(&d->conns, old, CLOSE_NEW_DEVICE, "connected from another device");
	memset(&e, 0, sizeof(e));
	e.type = EVT_CONNECTED;
	e.at_ms = c->connected_ms;
	memcpy(e.user, c->user_str, sizeof(e.user));
	e.origin = d->cfg->ws_id;
	e.conn = c->serial;
	bus_publish(&d->bus, &e);
	/*
	 * A ban recorded while the user was away: checked off the service
	 * thread. Until the answer the connection is sent no message (it is
	 * not admitted: conn_deliver holds them); a check that cannot be made
	 * closes it (fail closed).
	 */
	j = store_job_new(STORE_BANCHECK, c);
	if (!j) {
		conn_close(&d->conns, c, CLOSE_SERVER_ERROR, "out of memory");
		return;
	}
	memcpy(j->user, c->user_str, sizeof(j->user));
	conn_get(c);
	store_submit(&d->store, j);
	log_debug("connection %llu: user %s", (unsigned long long)c->serial, c->user_str);
}

static void chat_frame(struct daemon *d, struct conn *c, const char *buf, size_t len)
{
	struct proto_send s;
	struct store_job *j;
	char err[160];

	if (proto_parse_send(buf, len, &s, err, sizeof(err))) {
		conn_close(&d->conns, c, CLOSE_BAD_FRAME, err);
		return;
	}
	d->chat.received++;
	if (d->shutdown.phase >= DAEMON_SHUT_REFUSE) {
		conn_confirm(&d->conns, c, 0, "server shutting down", s.temp_id, s.temp_len,
			     0, NULL);
		goto out;
	}
	if (!conn_rate_take(&d->conns, c, chrono_wall_ms())) {
		d->chat.rate_limited++;
		conn_confirm(&d->conns, c, 0, CHAT_RATE_LIMITED, s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	if (s.blank) {
		conn_confirm(&d->conns, c, 0, "message is empty", s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	if (s.message_chars > (size_t)d->cfg->msg_max_chars) {
		snprintf(err, sizeof(err), "message is longer than %d characters",
			 d->cfg->msg_max_chars);
		conn_confirm(&d->conns, c, 0, err, s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	if (moderation_match(&d->mod, s.message, s.message_len)) {
		conn_confirm(&d->conns, c, 0, "message violates the moderation policy",
			     s.temp_id, s.temp_len, 0, NULL);
		conn_close(&d->conns, c, CLOSE_HATE, "hateful speech");
		goto out;
	}
	j = store_job_send(c, c->user_str, s.room_id, s.message, s.message_len,
			   s.temp_id, s.temp_len);
	if (!j) {
		conn_confirm(&d->conns, c, 0, "server error", s.temp_id, s.temp_len, 0, NULL);
		goto out;
	}
	conn_get(c);
	d->inflight++;
	conn_submitted(&d->conns, c);
	store_submit(&d->store, j);
out:
	proto_send_release(&s);
}

static void chat_receive(struct daemon *d, struct lws *wsi, struct conn *c,
			 const char *in, size_t len)
{
	int64_t now = chrono_wall_ms();
	char err[96];
	char *nb;

	c->last_rx_ms = now;
	c->ping_sent_ms = 0;
	if (c->closing)
		return;
	if (lws_frame_is_binary(wsi)) {
		conn_close(&d->conns, c, CLOSE_BAD_FRAME, "binary frames are not accepted");
		return;
	}
	if ((size_t)c->rxlen + len > (size_t)d->cfg->frame_max) {
		snprintf(err, sizeof(err), "frame is larger than %d bytes", d->cfg->frame_max);
		conn_close(&d->conns, c, CLOSE_BAD_FRAME, err);
		return;
	}
	if (!lws_is_final_fragment(wsi) || c->rxlen) {
		nb = realloc(c->rx, c->rxlen + len + 1);
		if (!nb) {
			conn_close(&d->conns, c, CLOSE_SERVER_ERROR, "out of memory");
			return;
		}
		c->rx = nb;
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += (uint32_t)len;
		if (!lws_is_final_fragment(wsi))
			return;
		in = c->rx;
		len = c->rxlen;
	}
	c->last_frame_ms = now;
	chat_frame(d, c, in, len);
	if (c->rx) {
		free(c->rx);
		c->rx = NULL;
		c->rxlen = 0;
	}
}

/* ---- lws ---- */

/*
 * A plain HTTP request (no websocket upgrade) to the daemon's own port:
 * GET /metrics is the daemon's Prometheus exposition (wsmetrics.h; who
 * may reach it is the job of the address it listens on and of nginx's
 * allow list); anything else is 404 with the API's JSON envelope, not
 * lws's HTML page. Through nginx the client sees nginx's envelope in its
 * dialect instead (nginx/chat.conf intercepts the status). One response,
 * written at once as lws's own lws_return_http_status() does; a body the
 * socket does not take at once is kept and sent by lws (a truncated
 * send), and the transaction completes after it.
 */
static int chat_http(struct lws *wsi, const char *uri)
{
	static const char refused[] = "{\"error_message\":\"not found: this port takes "
				      "websocket connections only\",\"data\":null}\n";
	unsigned char hbuf[LWS_PRE + 512];
	unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
	const char *type = "application/json";
	int status = HTTP_STATUS_NOT_FOUND, rc = -1;
	struct sbuf b;
	size_t len;

	/* the body after LWS_PRE bytes of headroom: lws_write() needs them */
	sbuf_init_head(&b, LWS_PRE, 0);
	if (uri && !strcmp(uri, "/metrics") && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) {
		wsmetrics_render(chat_daemon(wsi), &b);
		type = METRICS_CONTENT_TYPE;
		status = HTTP_STATUS_OK;
	} else {
		sbuf_add(&b, refused, sizeof(refused) - 1);
	}
	if (!sbuf_text(&b))
		goto out;	/* out of memory: lws closes the connection */
	len = b.len;
	if (lws_add_http_common_headers(wsi, (unsigned)status, type, len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
					 (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		goto out;
	if (lws_write(wsi, (unsigned char *)sbuf_text(&b), len, LWS_WRITE_HTTP_FINAL) < 0)
		goto out;
	rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
	sbuf_release(&b);
	return rc;
}

int chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		  void *in, size_t len)
{
	struct chat_pss *pss = user;
	struct daemon *d;
	struct conn *c;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		listener_done(&chat_daemon(wsi)->listener, wsi);
		chat_established(chat_daemon(wsi), wsi, pss);
		if (!pss->c)
			return -1;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (pss && pss->c)
			chat_receive(chat_daemon(wsi), wsi, pss->c, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (pss && pss->c) {
			pss->c->last_rx_ms = chrono_wall_ms();
			pss->c->ping_sent_ms = 0;
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!pss || !pss->c)
			return -1;
		return conn_write(&chat_daemon(wsi)->conns, pss->c);
	case LWS_CALLBACK_CLOSED:
		if (pss && (c = pss->c)) {
			pss->c = NULL;
			conn_closed(&chat_daemon(wsi)->conns, c);
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		listener_done(&chat_daemon(wsi)->listener, wsi);
		return chat_http(wsi, in);
	case LWS_CALLBACK_WSI_DESTROY:
		/* a handshake that never completed ends here */
		if ((d = chat_daemon(wsi)))
			listener_done(&d->listener, wsi);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (pss && pss->c)
			conn_peer_closed(pss->c, in, len);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		d = chat_daemon(wsi);
		if (!d)
			return 0;
		deliver_store_answers(d);
		deliver_bus_events(d);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
