/*
 * ws-load - the websocket load generator of `make bench-ws` (SPEC.md
 * section 3, docs/bench-ws.md).
 *
 * One thread, one epoll set, edge-triggered. A minimal RFC 6455 client:
 * HTTP/1.1 upgrade with a checked Sec-WebSocket-Accept, masked text
 * frames out, unmasked (or masked) frames in, fragmented messages
 * reassembled, pings answered with pongs, close frames echoed.
 *
 * Modules: ws-load-ws.c (sockets, handshake, framing, the event loop),
 * ws-load-util.c (tokens, base64, JSON field scan, latency samples,
 * the rooms file), ws-load.c (options and the three modes).
 */
#ifndef WS_LOAD_H
#define WS_LOAD_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid.h"	/* UUID_STR_SIZE only: nothing to link */

#define WL_FRAME_MAX (1u << 20)	/* larger server frames end the connection */
#define WL_CLOSE_CODES 5000	/* close codes counted one by one below this */
#define WL_SCRATCH (64 * 1024)
#define WL_STR(x) #x
#define WL_XSTR(x) WL_STR(x)	/* a macro's value as a string literal */

/* A byte buffer: data is p[off, len), free space p[len, cap). */
struct wl_buf {
	char *p;
	size_t off, len, cap;
};

enum wl_state { WL_NEW, WL_CONNECTING, WL_HANDSHAKE, WL_OPEN, WL_CLOSED };

struct wl_conn {
	int fd;
	int id;			/* index in ctx->conns */
	enum wl_state state;
	char user[UUID_STR_SIZE];
	long room;		/* room id, or -1 */
	int peer;		/* index of the room's other user, or -1 */
	char key[32];		/* our Sec-WebSocket-Key */
	struct wl_buf in, out;
	struct wl_buf frag;	/* a fragmented message being reassembled */
	int frag_op;		/* its opcode, 0 when none */
	int dirty;		/* on ctx->dirty: has bytes to write */

	/* the modes' counters */
	unsigned long seq;	/* sequence number of the next send */
	int outstanding;	/* sent, not yet confirmed */
	unsigned long sent, confirmed, refused, received;
	unsigned long bad_sender, reordered;
	unsigned long last_rx_seq;	/* highest seq received from the peer */
	int close_code;		/* from the server's close frame, 1006 if none */
};

struct wl_ctx;

/* What a mode does with connection events. */
struct wl_ops {
	void (*on_open)(struct wl_ctx *ctx, struct wl_conn *c);
	/* one complete text message; p is NUL-terminated at p[len] */
	void (*on_text)(struct wl_ctx *ctx, struct wl_conn *c, char *p, size_t len);
	void (*on_close)(struct wl_ctx *ctx, struct wl_conn *c);
};

struct wl_ctx {
	int ep;				/* the epoll set */
	struct wl_conn *conns;
	int nconns;
	struct sockaddr_in dst;		/* the daemon (or nginx) */
	char host[64];			/* for the Host header */
	char path[256];			/* request path before ?token= */
	uint32_t src_first;		/* first source address, host order */
	int src_count;			/* 0: let the kernel choose */
	const struct wl_ops *ops;
	void *mode;			/* the mode's own state */

	int *dirty;			/* connections with bytes to write */
	int ndirty;
	/*
	 * Reads land here first: only a partial frame is copied into the
	 * connection's own buffer, so 15,000 idle connections cost no
	 * read buffers.
	 */
	char *scratch;

	/* counts of connection states, kept by ws-load-ws.c */
	int connecting;			/* connect or handshake in progress */
	int open;
	int failed;			/* never reached WL_OPEN */
	int closed;			/* were open, then closed */
	unsigned long close_codes[WL_CLOSE_CODES + 1];	/* last: any other */
	unsigned long pings;
	unsigned long bad_frames;
};

/* ws-load-ws.c */

/* Set up ctx for n connections to dst; 0 or -1 (message on stderr). */
int wl_init(struct wl_ctx *ctx, int n);
void wl_release(struct wl_ctx *ctx);
/* Start the TCP connect and queue the upgrade request carrying token. */
int wl_start(struct wl_ctx *ctx, struct wl_conn *c, const char *token);
/* Queue one masked text frame (written at the end of the loop pass). */
int wl_send_text(struct wl_ctx *ctx, struct wl_conn *c, const char *p, size_t len);
/* Wait up to timeout_ms for events, handle them, write what is queued. */
int wl_poll(struct wl_ctx *ctx, int timeout_ms);
/* Close the socket now (no close frame: the process is about to exit). */
void wl_drop(struct wl_ctx *ctx, struct wl_conn *c, int code);

/* ws-load-util.c */

uint64_t wl_now_ns(void);
uint64_t wl_rand(void);
/* An HS256 token for sub valid for ttl seconds; 0 or -1. */
int wl_mint(const char *secret, const char *aud, const char *sub, long ttl,
	    char *out, size_t outlen);
void wl_b64(const unsigned char *in, size_t n, char *out, int url);
/* The Sec-WebSocket-Accept value expected for key (29 bytes with NUL). */
void wl_accept_for(const char *key, char out[32]);

/*
 * Find "key": value in a flat JSON text (what the daemon sends). For a
 * string value *v points after the opening quote and *vlen stops before
 * the closing one (escapes left as they are); for any other value, up to
 * the next ',' or '}'. Returns 0, or -1 when the key is absent.
 */
int wl_json_field(const char *p, size_t len, const char *key,
		  const char **v, size_t *vlen);

/* Latency samples in microseconds. */
struct wl_lat {
	uint32_t *v;
	size_t n, cap;
};
void wl_lat_add(struct wl_lat *l, uint64_t ns);
/* Sort, then print "<name>_p50_ms" ... "<name>_max_ms" and the count. */
void wl_lat_print(struct wl_lat *l, const char *name);
void wl_lat_release(struct wl_lat *l);

/*
 * Rooms file: "room_id uuid_a uuid_b" per line (tests/bench/ws.sh writes
 * it from Postgres). Reads up to max_users users (0: all), then calls
 * wl_init() for them and fills in users, rooms and peers; 0 or -1.
 */
int wl_load_rooms(struct wl_ctx *ctx, const char *path, int max_users);
/* After wl_init(): users without rooms, UUIDs from index offset + i. */
void wl_gen_users(struct wl_ctx *ctx, long offset);

#endif
