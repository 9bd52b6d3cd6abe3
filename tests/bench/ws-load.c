/*
 * ws-load - websocket load generator for the chat daemon (ws-load.h,
 * docs/bench-ws.md). Three modes:
 *
 *   flood  every user of a 2-person room sends as fast as confirmations
 *          allow (at most -w unconfirmed per connection); prints confirmed
 *          messages/s and deliveries/s and checks that every confirmed
 *          message reached the partner.
 *   rate   a fixed total rate spread over the connections, open loop (a
 *          send never waits for a confirmation); prints send->confirm and
 *          send->receive latency percentiles.
 *   idle   opens connections, spread over several source addresses, and
 *          holds them; prints how many were established and held.
 *
 * Output is "key value" lines on stdout; diagnostics go to stderr.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"		/* CHAT_DEV_JWT_SECRET only: nothing to link */
#include "ws-load.h"

#define RATE_MAX_OUTSTANDING 1000	/* rate mode: per connection */
#define NOTES 5

enum mode { FLOOD, RATE, IDLE };

struct opts {
	enum mode mode;
	const char *host, *path, *rooms, *secret, *aud, *src;
	int port, users, window, src_count, parallel, msg_size;
	long user_offset;
	double duration, warmup, rate, open_timeout, drain;
};

/* What a run counts; the connections count their own part too. */
struct run {
	const struct opts *o;
	char runid[24];		/* makes temp ids unique across runs */
	int sending;
	uint64_t t0, t_meas, t_end;	/* start, end of warm-up, end */
	unsigned long sent, confirmed, refused, delivered;
	unsigned long disconnections, unknown, unparsed;
	unsigned long conf_meas, deliv_meas;	/* counts at t_meas */
	unsigned long conf_end, deliv_end;	/* counts at t_end */
	uint64_t snap_meas, snap_end;		/* when they were taken */
	struct wl_lat confirm, deliver;
	unsigned long sched;			/* rate mode: sends due so far */
	int rr;					/* rate mode: next connection */
	unsigned long skipped;			/* rate mode: no connection free */
	int notes;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int send_one(struct wl_ctx *ctx, struct run *r, struct wl_conn *c)
{
	char text[4200], id[96], json[4608];
	uint64_t t = wl_now_ns();
	int n, m;

	/*
	 * The text carries sender, sequence number and send time, so a
	 * receiver needs no table to check and time it; padded to -m bytes.
	 */
	n = snprintf(text, sizeof(text), "ws-load %d %lu %llu ", c->id, c->seq,
		     (unsigned long long)t);
	while (n < r->o->msg_size && n < (int)sizeof(text) - 1)
		text[n++] = 'x';
	text[n] = '\0';
	snprintf(id, sizeof(id), "%s-%d-%lu-%llu", r->runid, c->id, c->seq,
		 (unsigned long long)t);
	m = snprintf(json, sizeof(json), "{\"type\":\"SendMessage\",\"data\":"
		     "{\"room_id\":%ld,\"message\":\"%s\",\"message_temp_id\":\"%s\"}}",
		     c->room, text, id);
	if (wl_send_text(ctx, c, json, m))
		return -1;
	c->seq++;
	c->sent++;
	c->outstanding++;
	r->sent++;
	return 0;
}

static int measured(const struct run *r, uint64_t t)
{
	return t >= r->t_meas && t < r->t_end;
}

static void on_confirm(struct wl_ctx *ctx, struct run *r, struct wl_conn *c,
		       const char *p, size_t len)
{
	const char *v, *reason;
	size_t vl, rl, idl = strlen(r->runid);
	unsigned long long t;
	unsigned long seq;
	int who;

	if (wl_json_field(p, len, "message_id", &v, &vl) || vl <= idl ||
	    memcmp(v, r->runid, idl) || v[idl] != '-' ||
	    sscanf(v + idl + 1, "%d-%lu-%llu", &who, &seq, &t) != 3 || who != c->id) {
		r->unparsed++;
		return;
	}
	c->outstanding--;
	if (!wl_json_field(p, len, "confirmed", &v, &vl) && vl == 4 && !memcmp(v, "true", 4)) {
		c->confirmed++;
		r->confirmed++;
		if (measured(r, t))
			wl_lat_add(&r->confirm, wl_now_ns() - t);
	} else {
		c->refused++;
		r->refused++;
		if (r->notes++ < NOTES && !wl_json_field(p, len, "reason", &reason, &rl))
			fprintf(stderr, "ws-load: message refused: %.*s\n", (int)rl, reason);
	}
	if (r->o->mode == FLOOD && r->sending)
		while (c->outstanding < r->o->window && !send_one(ctx, r, c))
			;
}

static void on_received(struct run *r, struct wl_conn *c, const char *p, size_t len)
{
	unsigned long long t;
	unsigned long seq;
	const char *v;
	size_t vl;
	int who;

	if (wl_json_field(p, len, "message", &v, &vl) ||
	    sscanf(v, "ws-load %d %lu %llu", &who, &seq, &t) != 3) {
		r->unparsed++;
		return;
	}
	c->received++;
	r->delivered++;
	if (who != c->peer)
		c->bad_sender++;
	else if (seq + 1 <= c->last_rx_seq)
		c->reordered++;	/* a repeat, or out of the sender's order */
	else
		c->last_rx_seq = seq + 1;
	if (measured(r, t))
		wl_lat_add(&r->deliver, wl_now_ns() - t);
}

static void on_text(struct wl_ctx *ctx, struct wl_conn *c, char *p, size_t len)
{
	struct run *r = ctx->mode;
	const char *v;
	size_t vl;

	if (wl_json_field(p, len, "type", &v, &vl)) {
		r->unknown++;
	} else if (vl == 23 && !memcmp(v, "MessageSentConfirmation", 23)) {
		on_confirm(ctx, r, c, p, len);
	} else if (vl == 15 && !memcmp(v, "MessageReceived", 15)) {
		on_received(r, c, p, len);
	} else if (vl == 13 && !memcmp(v, "Disconnection", 13)) {
		r->disconnections++;
		if (r->notes++ < NOTES)
			fprintf(stderr, "ws-load: connection %d: %s\n", c->id, p);
	} else {
		r->unknown++;
	}
}

static const struct wl_ops ops = { .on_text = on_text };

/* Open every connection, at most -c handshakes at a time, within -t. */
static void open_all(struct wl_ctx *ctx, const struct opts *o)
{
	uint64_t deadline = wl_now_ns() + (uint64_t)(o->open_timeout * 1e9);
	char token[1024];
	int next = 0, i;

	while (!stop && (next < ctx->nconns || ctx->connecting) &&
	       wl_now_ns() < deadline) {
		while (next < ctx->nconns && ctx->connecting < o->parallel) {
			struct wl_conn *c = &ctx->conns[next++];

			if (wl_mint(o->secret, o->aud, c->user, 3600, token, sizeof(token))) {
				fprintf(stderr, "ws-load: cannot mint a token\n");
				ctx->failed++;
				continue;
			}
			wl_start(ctx, c, token);
		}
		if (wl_poll(ctx, 10) < 0)
			break;
	}
	/* What did not make it in time counts as failed. */
	for (i = 0; i < ctx->nconns; i++)
		if (ctx->conns[i].state == WL_CONNECTING ||
		    ctx->conns[i].state == WL_HANDSHAKE)
			wl_drop(ctx, &ctx->conns[i], 1006);
	ctx->failed += ctx->nconns - next;
}

/* Counts at the end of warm-up and at the end of the measured time. */
static void snapshots(struct run *r, uint64_t now)
{
	if (!r->snap_meas && now >= r->t_meas) {
		r->snap_meas = now;
		r->conf_meas = r->confirmed;
		r->deliv_meas = r->delivered;
	}
	if (!r->snap_end && now >= r->t_end) {
		r->snap_end = now;
		r->conf_end = r->confirmed;
		r->deliv_end = r->delivered;
	}
}

static void rate_tick(struct wl_ctx *ctx, struct run *r, uint64_t now)
{
	unsigned long due = (unsigned long)((now - r->t0) / 1e9 * r->o->rate);
	int tries;

	while (r->sched < due) {
		r->sched++;
		for (tries = 0; tries < ctx->nconns; tries++) {
			struct wl_conn *c = &ctx->conns[r->rr];

			r->rr = (r->rr + 1) % ctx->nconns;
			if (c->state == WL_OPEN && c->peer >= 0 &&
			    c->outstanding < RATE_MAX_OUTSTANDING &&
			    !send_one(ctx, r, c))
				break;
		}
		if (tries == ctx->nconns)
			r->skipped++;
	}
}

static int settled(const struct wl_ctx *ctx, const struct run *r)
{
	int i;

	for (i = 0; i < ctx->nconns; i++)
		if (ctx->conns[i].state == WL_OPEN && ctx->conns[i].outstanding)
			return 0;
	return r->delivered >= r->confirmed;
}

static void traffic(struct wl_ctx *ctx, struct run *r)
{
	const struct opts *o = r->o;
	uint64_t now, drain_end;
	int i;

	r->t0 = wl_now_ns();
	r->t_meas = r->t0 + (uint64_t)(o->warmup * 1e9);
	r->t_end = r->t_meas + (uint64_t)(o->duration * 1e9);
	r->sending = 1;
	if (o->mode == FLOOD)
		for (i = 0; i < ctx->nconns; i++) {
			struct wl_conn *c = &ctx->conns[i];

			while (c->state == WL_OPEN && c->peer >= 0 &&
			       c->outstanding < o->window && !send_one(ctx, r, c))
				;
		}
	while (!stop) {
		now = wl_now_ns();
		snapshots(r, now);
		if (now >= r->t_end)
			break;
		if (o->mode == RATE)
			rate_tick(ctx, r, now);
		if (wl_poll(ctx, o->mode == RATE ? 1 : 10) < 0)
			break;
	}
	r->sending = 0;
	/* Let what was sent be confirmed and delivered. */
	drain_end = wl_now_ns() + (uint64_t)(o->drain * 1e9);
	while (!settled(ctx, r) && wl_now_ns() < drain_end && ctx->open)
		if (wl_poll(ctx, 10) < 0)
			break;
	if (!r->snap_end) {	/* interrupted: measure what ran */
		snapshots(r, r->t_end);
		r->snap_end = wl_now_ns();
	}
}

/* Print the figures; returns 1 when every message checked out. */
static int report_traffic(struct wl_ctx *ctx, struct run *r)
{
	unsigned long undelivered = 0, extra = 0, bad = 0, reordered = 0, inflight = 0;
	double secs;
	int i, ok;

	for (i = 0; i < ctx->nconns; i++) {
		struct wl_conn *c = &ctx->conns[i];
		unsigned long want;

		if (c->peer < 0)
			continue;
		/* What the partner had confirmed is what c must have got. */
		want = ctx->conns[c->peer].confirmed;
		if (c->received < want)
			undelivered += want - c->received;
		else
			extra += c->received - want;
		bad += c->bad_sender;
		reordered += c->reordered;
		inflight += c->outstanding;
	}
	secs = r->snap_meas && r->snap_end > r->snap_meas ?
	       (r->snap_end - r->snap_meas) / 1e9 : 0;
	printf("measured_s %.3f\n", secs);
	printf("sent %lu\n", r->sent);
	printf("confirmed %lu\n", r->confirmed);
	printf("refused %lu\n", r->refused);
	printf("unconfirmed %lu\n", inflight);
	printf("delivered %lu\n", r->delivered);
	printf("undelivered %lu\n", undelivered);
	printf("extra_deliveries %lu\n", extra);
	printf("wrong_sender %lu\n", bad);
	printf("out_of_order %lu\n", reordered);
	printf("unparsed_frames %lu\n", r->unparsed + r->unknown);
	printf("confirmed_per_s %.0f\n", secs > 0 ? (r->conf_end - r->conf_meas) / secs : 0);
	printf("delivered_per_s %.0f\n", secs > 0 ? (r->deliv_end - r->deliv_meas) / secs : 0);
	if (r->o->mode == RATE) {
		printf("target_rate %.0f\n", r->o->rate);
		printf("rate_skipped %lu\n", r->skipped);
	}
	wl_lat_print(&r->confirm, "confirm");
	wl_lat_print(&r->deliver, "deliver");
	ok = !undelivered && !extra && !bad && !reordered && !inflight && r->confirmed;
	printf("verified %s\n", ok ? "yes" : "no");
	return ok;
}

static void report_conns(const struct wl_ctx *ctx)
{
	int i;

	printf("open %d\n", ctx->open);
	printf("failed %d\n", ctx->failed);
	printf("closed_by_server %d\n", ctx->closed);
	printf("pings %lu\n", ctx->pings);
	printf("bad_frames %lu\n", ctx->bad_frames);
	printf("close_codes");
	for (i = 0; i <= WL_CLOSE_CODES; i++)
		if (ctx->close_codes[i])
			printf(" %d:%lu", i < WL_CLOSE_CODES ? i : -1, ctx->close_codes[i]);
	printf("\n");
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ws-load flood|rate|idle [options]\n"
		"  -H addr    daemon address, 127.0.0.0/8 only  (127.0.0.1)\n"
		"  -p port    daemon or nginx port              ($CHAT_WS_PORT or 3030)\n"
		"  -P path    request path before ?token=        (/)\n"
		"  -r file    rooms: \"room_id uuid uuid\" lines (flood, rate; idle optional)\n"
		"  -n users   how many users/connections        (all of -r; idle 1000)\n"
		"  -u index   idle without -r: first user index (1000000)\n"
		"  -w n       flood: unconfirmed messages per connection (1)\n"
		"  -R rate    rate: messages/s in total         (5000)\n"
		"  -d secs    measured time (flood, rate) or hold time (idle) (10)\n"
		"  -W secs    warm-up before measuring          (1)\n"
		"  -x secs    drain time after sending stops    (5)\n"
		"  -m bytes   message text length               (48)\n"
		"  -s addr    first source address              (none; idle 127.0.0.2)\n"
		"  -S n       source addresses from -s          (idle 8)\n"
		"  -c n       handshakes in progress at once    (256)\n"
		"  -t secs    time allowed to open everything   (60)\n"
		"The HS256 secret is $SUPABASE_JWT_SECRET (else the dev secret),\n"
		"the audience $CHAT_JWT_AUD (else \"authenticated\").\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	const char *port = getenv("CHAT_WS_PORT");
	int ch;

	memset(o, 0, sizeof(*o));
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "flood"))
		o->mode = FLOOD;
	else if (!strcmp(argv[1], "rate"))
		o->mode = RATE;
	else if (!strcmp(argv[1], "idle"))
		o->mode = IDLE;
	else
		usage();
	o->host = "127.0.0.1";
	o->port = port ? atoi(port) : 3030;
	o->path = "/";
	o->window = 1;
	o->rate = 5000;
	o->duration = 10;
	o->warmup = 1;
	o->drain = 5;
	o->msg_size = 48;
	o->parallel = 256;
	o->open_timeout = 60;
	o->user_offset = 1000000;
	o->secret = getenv("SUPABASE_JWT_SECRET");
	if (!o->secret || !*o->secret)
		o->secret = CHAT_DEV_JWT_SECRET;
	o->aud = getenv("CHAT_JWT_AUD");
	if (!o->aud || !*o->aud)
		o->aud = "authenticated";
	if (o->mode == IDLE) {
		o->src = "127.0.0.2";
		o->src_count = 8;
	}
	optind = 2;
	while ((ch = getopt(argc, argv, "H:p:P:r:n:u:w:R:d:W:x:m:s:S:c:t:")) != -1) {
		switch (ch) {
		case 'H':
			o->host = optarg;
			break;
		case 'p':
			o->port = atoi(optarg);
			break;
		case 'P':
			o->path = optarg;
			break;
		case 'r':
			o->rooms = optarg;
			break;
		case 'n':
			o->users = atoi(optarg);
			break;
		case 'u':
			o->user_offset = atol(optarg);
			break;
		case 'w':
			o->window = atoi(optarg);
			break;
		case 'R':
			o->rate = atof(optarg);
			break;
		case 'd':
			o->duration = atof(optarg);
			break;
		case 'W':
			o->warmup = atof(optarg);
			break;
		case 'x':
			o->drain = atof(optarg);
			break;
		case 'm':
			o->msg_size = atoi(optarg);
			break;
		case 's':
			o->src = optarg;
			break;
		case 'S':
			o->src_count = atoi(optarg);
			break;
		case 'c':
			o->parallel = atoi(optarg);
			break;
		case 't':
			o->open_timeout = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o->port < 1 || o->port > 65535 || o->window < 1 ||
	    o->rate <= 0 || o->duration < 0 || o->warmup < 0 || o->parallel < 1 ||
	    o->msg_size < 0 || o->msg_size > 4000 || o->users < 0 ||
	    (o->mode != IDLE && !o->rooms))
		usage();
	if (!o->src)
		o->src_count = 0;
	if (o->mode == IDLE && !o->rooms && !o->users)
		o->users = 1000;
}

/* Only loopback: a load generator must never hit a shared host by mistake. */
static int loopback(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127) {
		fprintf(stderr, "ws-load: '%s' is not a 127.0.0.0/8 address\n", s);
		return -1;
	}
	*out = ntohl(a.s_addr);
	return 0;
}

int main(int argc, char **argv)
{
	static struct wl_ctx ctx = { .ep = -1 };
	struct run r = { 0 };
	struct opts o;
	uint32_t dst;
	uint64_t hold_end, t_open;
	int ret = 1, ok = 1;

	parse(argc, argv, &o);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (loopback(o.host, &dst) || (o.src_count && loopback(o.src, &ctx.src_first)))
		return 2;
	ctx.dst.sin_family = AF_INET;
	ctx.dst.sin_addr.s_addr = htonl(dst);
	ctx.dst.sin_port = htons(o.port);
	ctx.src_count = o.src_count;
	snprintf(ctx.host, sizeof(ctx.host), "%s:%d", o.host, o.port);
	snprintf(ctx.path, sizeof(ctx.path), "%s", o.path);
	ctx.ops = &ops;
	ctx.mode = &r;
	r.o = &o;
	snprintf(r.runid, sizeof(r.runid), "%llx",
		 (unsigned long long)(wl_rand() & 0xffffffffffffULL));
	if (o.rooms) {
		if (wl_load_rooms(&ctx, o.rooms, o.users))
			goto out;
	} else {
		if (wl_init(&ctx, o.users))
			goto out;
		wl_gen_users(&ctx, o.user_offset);
	}
	printf("mode %s\n", argv[1]);
	printf("target %s%s\n", ctx.host, o.path);
	printf("connections %d\n", ctx.nconns);
	if (o.mode == FLOOD)
		printf("window %d\n", o.window);
	fflush(stdout);

	t_open = wl_now_ns();
	open_all(&ctx, &o);
	printf("established %d\n", ctx.open);
	/* from the first connect to the last answered handshake (admission) */
	printf("open_ms %.1f\n", (double)(wl_now_ns() - t_open) / 1e6);
	fflush(stdout);
	if (o.mode == IDLE) {
		/* tests/bench/ws.sh reads the daemon's memory after this line */
		printf("ready 1\n");
		fflush(stdout);
		hold_end = wl_now_ns() + (uint64_t)(o.duration * 1e9);
		while (!stop && wl_now_ns() < hold_end)
			if (wl_poll(&ctx, 100) < 0)
				break;
		printf("held %d\n", ctx.open);
	} else if (ctx.open) {
		traffic(&ctx, &r);
		ok = report_traffic(&ctx, &r);
	}
	report_conns(&ctx);
	/* 1: a connection failed or was lost, or a message went astray */
	ret = !ok || ctx.failed || ctx.closed || !ctx.open ? 1 : 0;
out:
	wl_lat_release(&r.confirm);
	wl_lat_release(&r.deliver);
	wl_release(&ctx);
	return ret;
}
