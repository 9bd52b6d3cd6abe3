/*
 * cfg - settings of both tiers, read from the environment and validated.
 *
 * Every setting has a default good for a laptop (DESIGN.md "Running it");
 * the variables are listed, with their meaning, in the table in cfg.c and
 * in README.md. cfg_load() refuses bad values with a message that names
 * the variable and the value, so a tier fails at startup, not later.
 *
 * Layering: cfg is a leaf. cfg.h includes only libc headers, cfg.c adds
 * log.h (level names); neither may ever include a module that is
 * configured (auth, db, evt, the tiers): those read a struct cfg, e.g.
 * auth_init_from_cfg() in auth.h.
 */
#ifndef CHAT_CFG_H
#define CHAT_CFG_H

#include <stddef.h>

/* The documented dev secret (SUPABASE_JWT_SECRET when unset); never in prod. */
#define CHAT_DEV_JWT_SECRET "swappart-dev-secret-change-me-0123456789abcdef"

struct cfg {
	/* ports of the local stack */
	int http_port;		/* CHAT_HTTP_PORT, nginx */
	int ws_port;		/* CHAT_WS_PORT, first ws-daemon */
	int pg_port;		/* CHAT_PG_PORT, embedded Postgres */

	/* database: DATABASE_URL, else the embedded Postgres on pg_port */
	char db_url[1024];
	int db_timeout_ms;	/* CHAT_DB_TIMEOUT_MS, statement timeout */
	int db_workers;		/* CHAT_DB_WORKERS, ws-daemon's database threads */

	/* identity (SPEC.md section 1) */
	char jwt_secret[512];	/* SUPABASE_JWT_SECRET; "" = no HS256 */
	int dev;		/* CHAT_DEV: a development stack */
	int jwt_secret_is_dev;	/* 1 when the documented dev secret is used (dev only) */
	char jwks_file[512];	/* SUPABASE_JWKS_FILE; "" = none */
	char jwt_aud[128];	/* CHAT_JWT_AUD */
	int jwt_leeway;		/* CHAT_JWT_LEEWAY, seconds, 0..30 */

	/* events between the tiers (evt.h) */
	char evt_endpoints[1024];	/* CHAT_EVT_ENDPOINTS, comma list */
	char evt_key_file[512];		/* CHAT_EVT_KEY_FILE; "" = none */
	char evt_inbox_keys[2048];	/* CHAT_EVT_INBOX_KEYS, comma list of files */
	char evt_allowed_keys[512];	/* CHAT_EVT_ALLOWED_KEYS; "" = none */
	int evt_max_bytes;		/* CHAT_EVT_MAX_BYTES */

	/* REST tier */
	int max_body;		/* CHAT_MAX_BODY, bytes */
	int history_cap;	/* CHAT_HISTORY_CAP, messages per GET */
	int list_max;		/* CHAT_LIST_MAX, user ids in one body list */
	char rest_metrics_file[512];	/* CHAT_REST_METRICS_FILE; "" = per process */
	char rest_cache_file[512];	/* CHAT_REST_CACHE_FILE; "" = no GET /rooms cache */
	int list_cache_kb;		/* CHAT_REST_LIST_CACHE_KB */

	/* REST limits (README "Limits"); rates count per user in Postgres */
	int room_max_members;	/* CHAT_ROOM_MAX_MEMBERS, participants per room */
	int rooms_per_min;	/* CHAT_ROOMS_PER_MIN, rooms created per window; 0 = off */
	int adds_per_min;	/* CHAT_ADDS_PER_MIN, users added per window; 0 = off */
	int limit_window;	/* CHAT_LIMIT_WINDOW, seconds of a rate window */

	/* websocket tier */
	int ws_id;		/* CHAT_WS_ID, index into evt_endpoints */
	char ws_listen[64];	/* CHAT_WS_LISTEN, address the daemon binds */
	char ws_socket[108];	/* CHAT_WS_SOCKET, unix socket it listens on too; "" = none */
	int msg_max_chars;	/* CHAT_MSG_MAX_CHARS */
	int frame_max;		/* CHAT_FRAME_MAX, bytes */
	int idle_timeout;	/* CHAT_IDLE_TIMEOUT, seconds, 0 = off (AFK limit) */
	int ping_interval;	/* CHAT_PING_INTERVAL, seconds, 0 = off */
	int queue_max;		/* CHAT_QUEUE_MAX, frames per connection */
	char moderation_file[512];	/* CHAT_MODERATION_FILE; "" = none */
	int unauth_max;		/* CHAT_UNAUTH_MAX, sends to foreign rooms before 4012 */
	int unauth_window;	/* CHAT_UNAUTH_WINDOW, seconds */
	int shutdown_grace_ms;	/* CHAT_SHUTDOWN_GRACE_MS */
	int ws_msg_rate;	/* CHAT_WS_MSG_RATE, SendMessage/s per connection, 0 = off */
	int ws_msg_burst;	/* CHAT_WS_MSG_BURST, the token bucket's size */
	int ws_max_unconfirmed;	/* CHAT_WS_MAX_UNCONFIRMED, per connection, then reading pauses */

	int log_level;		/* CHAT_LOG_LEVEL: error|warn|info|debug */
};

/*
 * Fill c from the environment. Returns 0, or -1 with a message in err
 * naming the first bad variable, e.g.
 * "CHAT_WS_PORT: 'x' is not a number from 1 to 65535".
 */
int cfg_load(struct cfg *c, char *err, size_t errlen);

/* Print every variable with its default and meaning (for --help). */
void cfg_usage(void);

/* Number of entries in c->evt_endpoints. */
int cfg_evt_count(const struct cfg *c);

#endif
