#include "cfg.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cfg_kind { CFG_INT, CFG_STR, CFG_LEVEL };

/* One row per variable: the single place that names, bounds and documents it. */
struct cfg_var {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	size_t size;		/* CFG_STR: buffer size */
	long min, max;		/* CFG_INT bounds */
	const char *def;
	const char *help;
};

#define I(n, f, lo, hi, d, h) { n, CFG_INT, offsetof(struct cfg, f), 0, lo, hi, d, h }
#define S(n, f, d, h) { n, CFG_STR, offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f), 0, 0, d, h }

static const struct cfg_var cfg_vars[] = {
	I("CHAT_HTTP_PORT", http_port, 1, 65535, "8080", "nginx port: REST and websocket"),
	I("CHAT_WS_PORT", ws_port, 1, 65535, "3030", "ws-daemon port (nginx proxies to it)"),
	I("CHAT_PG_PORT", pg_port, 1, 65535, "5544", "port of the embedded Postgres"),
	S("DATABASE_URL", db_url, "", "libpq URL of an external Postgres (default: the embedded one)"),
	I("CHAT_DB_TIMEOUT_MS", db_timeout_ms, 100, 600000, "5000", "statement timeout, milliseconds"),
	I("CHAT_DB_WORKERS", db_workers, 1, 16, "2", "ws-daemon: database worker threads, one Postgres connection each; a room always goes to the same one, rooms of different workers are stored in parallel"),
	I("CHAT_DEV", dev, 0, 1, "0", "1 = development stack: the documented dev JWT secret is accepted; never in a deployment"),
	S("SUPABASE_JWT_SECRET", jwt_secret, "", "HS256 secret (with CHAT_DEV=1 and no keys: the documented dev secret)"),
	S("SUPABASE_JWKS_FILE", jwks_file, "", "JWKS file with ES256/RS256 public keys"),
	S("CHAT_JWT_AUD", jwt_aud, "authenticated", "required \"aud\" of tokens"),
	I("CHAT_JWT_LEEWAY", jwt_leeway, 0, 30, "10", "seconds of clock skew allowed on exp/nbf"),
	S("CHAT_EVT_ENDPOINTS", evt_endpoints, "ipc:///run/swappart-chat/ws-0/evt.sock", "ZeroMQ inboxes of the ws-daemons, comma separated, in CHAT_WS_ID order; ipc:// in a private directory, or tcp:// with CURVE keys"),
	S("CHAT_EVT_KEY_FILE", evt_key_file, "", "this process's CURVE key pair (chat-keygen NAME: NAME.key); needed for tcp:// endpoints"),
	S("CHAT_EVT_INBOX_KEYS", evt_inbox_keys, "", "public key files of the inboxes, comma separated in CHAT_EVT_ENDPOINTS order (one file: the same key for all)"),
	S("CHAT_EVT_ALLOWED_KEYS", evt_allowed_keys, "", "ws-daemon: file of the publisher public keys its tcp:// inbox admits, one per line (re-read when it changes)"),
	I("CHAT_EVT_MAX_BYTES", evt_max_bytes, 1024, 67108864, "1048576", "largest event a ws-daemon's inbox takes, bytes"),
	I("CHAT_MAX_BODY", max_body, 256, 16777216, "65536", "largest REST request body, bytes"),
	I("CHAT_HISTORY_CAP", history_cap, 1, 1000000, "1000", "most messages GET /rooms/:id returns"),
	S("CHAT_REST_METRICS_FILE", rest_metrics_file, "", "rest-fcgi: file every worker maps to count the tier's /metrics totals (on a tmpfs, in a directory only the service user may write); unset: each worker reports its own share only"),
	S("CHAT_REST_CACHE_FILE", rest_cache_file, "", "rest-fcgi: file every worker maps to share which rooms and users changed, for the GET /rooms cache (on a tmpfs, in a directory only the service user may write); unset: no cache"),
	I("CHAT_REST_LIST_CACHE_KB", list_cache_kb, 0, 1048576, "8192", "rest-fcgi: most KiB of GET /rooms answers each worker keeps (0: no cache)"),
	I("CHAT_LIST_MAX", list_max, 1, 10000, "1000", "most user ids in one list of a REST body (POST users, PUT users_to_add / users_to_remove); more: 400"),
	I("CHAT_ROOM_MAX_MEMBERS", room_max_members, 2, 1000000, "1000", "most participants of a room; a POST or PUT that would go beyond: 409, nothing applied"),
	I("CHAT_ROOMS_PER_MIN", rooms_per_min, 0, 1000000, "30", "rooms a user may create per CHAT_LIMIT_WINDOW; more: 429 with Retry-After; 0 = no limit"),
	I("CHAT_ADDS_PER_MIN", adds_per_min, 0, 1000000, "300", "users a user may add to rooms (POST and PUT) per CHAT_LIMIT_WINDOW; more: 429 with Retry-After; 0 = no limit"),
	I("CHAT_LIMIT_WINDOW", limit_window, 1, 86400, "60", "seconds over which CHAT_ROOMS_PER_MIN and CHAT_ADDS_PER_MIN count"),
	S("CHAT_WS_LISTEN", ws_listen, "127.0.0.1", "address ws-daemon listens on (nginx connects to it)"),
	S("CHAT_WS_SOCKET", ws_socket, "", "unix socket ws-daemon listens on as well, for an nginx on the same host (cheaper than TCP over loopback); made 0666, its directory decides who may connect; empty = none"),
	I("CHAT_WS_ID", ws_id, 0, 63, "0", "this daemon's index in CHAT_EVT_ENDPOINTS"),
	I("CHAT_MSG_MAX_CHARS", msg_max_chars, 1, 1000000, "4000", "longest message, characters"),
	I("CHAT_FRAME_MAX", frame_max, 256, 16777216, "65536", "largest websocket frame, bytes"),
	I("CHAT_IDLE_TIMEOUT", idle_timeout, 0, 86400, "0", "AFK limit: close (4003) after this many seconds without a frame from the client; 0 = off (readers who answer pings stay)"),
	I("CHAT_PING_INTERVAL", ping_interval, 0, 3600, "30", "seconds between server pings; 0 = off"),
	I("CHAT_QUEUE_MAX", queue_max, 4, 1000000, "1024", "frames queued per connection before it is closed (4009)"),
	S("CHAT_MODERATION_FILE", moderation_file, "", "file of banned terms, one per line"),
	I("CHAT_UNAUTH_MAX", unauth_max, 1, 65535, "5", "sends to rooms the user is not in, within CHAT_UNAUTH_WINDOW, that close the connection (4012); fewer get confirmed:false only"),
	I("CHAT_UNAUTH_WINDOW", unauth_window, 1, 86400, "60", "seconds over which CHAT_UNAUTH_MAX counts"),
	I("CHAT_SHUTDOWN_GRACE_MS", shutdown_grace_ms, 0, 60000, "2000", "on SIGTERM: milliseconds clients may still send after Disconnection 4007; each frame is answered"),
	I("CHAT_WS_MSG_RATE", ws_msg_rate, 0, 1000000, "20", "SendMessage frames per second a connection may send on average (token bucket); over it: confirmed:false \"rate limited\", connection kept; 0 = off"),
	I("CHAT_WS_MSG_BURST", ws_msg_burst, 1, 1000000, "40", "SendMessage frames a connection may send at once before CHAT_WS_MSG_RATE applies (the bucket's size)"),
	I("CHAT_WS_MAX_UNCONFIRMED", ws_max_unconfirmed, 1, 100000, "32", "messages of one connection at the database and not yet confirmed; at this many the daemon stops reading that connection until confirmations catch up"),
	{ "CHAT_LOG_LEVEL", CFG_LEVEL, offsetof(struct cfg, log_level), 0, 0, 0, "info", "error, warn, info or debug" },
};

static int cfg_set_int(struct cfg *c, const struct cfg_var *v, const char *val,
		       char *err, size_t errlen)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(val, &end, 10);
	if (errno || end == val || *end || n < v->min || n > v->max) {
		snprintf(err, errlen, "%s: '%.64s' is not a number from %ld to %ld",
			 v->name, val, v->min, v->max);
		return -1;
	}
	*(int *)((char *)c + v->off) = (int)n;
	return 0;
}

static int cfg_set_str(struct cfg *c, const struct cfg_var *v, const char *val,
		       char *err, size_t errlen)
{
	if (strlen(val) >= v->size) {
		snprintf(err, errlen, "%s: value is longer than %zu bytes",
			 v->name, v->size - 1);
		return -1;
	}
	memcpy((char *)c + v->off, val, strlen(val) + 1);
	return 0;
}

int cfg_load(struct cfg *c, char *err, size_t errlen)
{
	const char *val;
	int level;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < sizeof(cfg_vars) / sizeof(cfg_vars[0]); i++) {
		const struct cfg_var *v = &cfg_vars[i];

		val = getenv(v->name);
		if (!val || !*val)
			val = v->def;
		if (v->kind == CFG_LEVEL) {
			level = log_level_parse(val);
			if (level < 0) {
				snprintf(err, errlen, "%s: '%.32s' is not error, warn, info or debug",
					 v->name, val);
				return -1;
			}
			*(int *)((char *)c + v->off) = level;
			continue;
		}
		if (v->kind == CFG_INT ? cfg_set_int(c, v, val, err, errlen)
				       : cfg_set_str(c, v, val, err, errlen))
			return -1;
	}
	if (!c->db_url[0])
		snprintf(c->db_url, sizeof(c->db_url),
			 "host=127.0.0.1 port=%d dbname=chat user=chat", c->pg_port);
	/* the documented dev secret is published: only an explicit dev stack takes it */
	if (!c->jwt_secret[0] && !c->jwks_file[0]) {
		if (!c->dev) {
			snprintf(err, errlen, "no token keys: set SUPABASE_JWT_SECRET (HS256) or "
				 "SUPABASE_JWKS_FILE (ES256/RS256); CHAT_DEV=1 accepts the documented "
				 "dev secret, on a development stack only");
			return -1;
		}
		snprintf(c->jwt_secret, sizeof(c->jwt_secret), "%s", CHAT_DEV_JWT_SECRET);
		c->jwt_secret_is_dev = 1;
	} else if (!strcmp(c->jwt_secret, CHAT_DEV_JWT_SECRET)) {
		if (!c->dev) {
			snprintf(err, errlen, "SUPABASE_JWT_SECRET: this is the documented dev secret, "
				 "published in the source; set your Supabase project's JWT secret "
				 "(CHAT_DEV=1 allows it on a development stack only)");
			return -1;
		}
		c->jwt_secret_is_dev = 1;
	}
	if (c->jwt_secret[0] && strlen(c->jwt_secret) < 32) {
		snprintf(err, errlen, "SUPABASE_JWT_SECRET: shorter than 32 characters");
		return -1;
	}
	if (!c->jwt_aud[0]) {
		snprintf(err, errlen, "CHAT_JWT_AUD: must not be empty");
		return -1;
	}
	if (c->ws_id >= cfg_evt_count(c)) {
		snprintf(err, errlen, "CHAT_WS_ID: %d but CHAT_EVT_ENDPOINTS lists %d endpoint(s)",
			 c->ws_id, cfg_evt_count(c));
		return -1;
	}
	return 0;
}

int cfg_evt_count(const struct cfg *c)
{
	int n = 0;
	const char *p = c->evt_endpoints;

	if (!*p)
		return 0;
	for (n = 1; *p; p++)
		if (*p == ',')
			n++;
	return n;
}

void cfg_usage(void)
{
	fprintf(stderr, "settings (environment variables):\n");
	for (size_t i = 0; i < sizeof(cfg_vars) / sizeof(cfg_vars[0]); i++)
		fprintf(stderr, "  %-22s default '%s': %s\n", cfg_vars[i].name,
			cfg_vars[i].def, cfg_vars[i].help);
}
