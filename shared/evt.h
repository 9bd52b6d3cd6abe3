/*
 * evt - events between the tiers, over ZeroMQ.
 *
 * Topology. Every ws-daemon binds one SUB socket, its inbox, at its own
 * entry of CHAT_EVT_ENDPOINTS (index CHAT_WS_ID). Every publisher - each
 * REST worker process, and each daemon for its peers - holds one PUB
 * socket connected to every inbox (a daemon skips its own). So there is
 * no broker to run, and a daemon that restarts is reconnected to by ZeroMQ
 * itself. Publishing never blocks: a full or absent peer drops the event.
 *
 * Events are hints on top of Postgres, which holds the truth: a daemon
 * that missed events while down rebuilds its caches from Postgres when it
 * starts, and a room event also makes a running daemon re-read that room.
 *
 * Wire format: one ZeroMQ frame holding one JSON object, version 1:
 *   room       {"v":1,"type":"room","room_id":12,"deleted":false,
 *               "added":[uuid..],"removed":[uuid..],"at":ms}
 *              participants added / removed, or the room deleted:
 *              {"v":1,"type":"room","room_id":12,"deleted":true,"at":ms}
 *              carries the room id only (the encoder leaves out any
 *              lists it is given, the decoder ignores lists an older
 *              publisher sent), so its size does not grow with the room.
 *   disconnect {"v":1,"type":"disconnect","user":uuid,"at":ms}
 *              an administrator disconnected the user (close 4004).
 *   ban        {"v":1,"type":"ban","user":uuid,"at":ms}
 *              the user was banned (close 4005).
 *   message    {"v":1,"type":"message","room_id":12,"id":345,
 *               "sender_id":uuid,"message":"hi","created_at":iso,
 *               "prev":344,"origin":0,"at":ms}
 *              a daemon committed a message: peers deliver it to the
 *              participants connected to them. "prev" (optional, 0 or
 *              absent = unknown) is the id of the room's previous message
 *              in commit order; receivers use it to deliver in id order.
 *   connected  {"v":1,"type":"connected","user":uuid,"origin":0,
 *               "conn":n,"at":ms}
 *              a user connected to daemon origin: peers close that
 *              user's older connections (4008).
 * "at" is the sender's clock in milliseconds since the epoch; unknown
 * fields are ignored so that the format can grow.
 *
 * Ids are positive (room_id, id) and a message's "prev" is before its id
 * (0 <= prev < id); "origin" is a daemon index (>= 0). A frame that says
 * otherwise is refused like a malformed one: no real event does, and a
 * receiver must never let it near a room. That a plausible message event
 * describes a committed message is the receiver's to check (ws-daemon
 * asks Postgres before delivering it).
 *
 * Layering: the event codec and its sockets, above jsonutil.h (decoding),
 * sbuf.h (encoding), uuid.h and curve.h, with json-c and ZeroMQ. Never cfg.h (the callers pass the
 * endpoint list and key files), auth, db or a tier's header.
 */
#ifndef CHAT_EVT_H
#define CHAT_EVT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "curve.h"
#include "uuid.h"

enum evt_type { EVT_ROOM = 0, EVT_DISCONNECT, EVT_BAN, EVT_MESSAGE, EVT_CONNECTED };
#define EVT_NTYPES (EVT_CONNECTED + 1)

/* The wire name of type t ("room", "message"...), "?" when out of range. */
const char *evt_type_name(enum evt_type t);

struct evt {
	enum evt_type type;
	int64_t at_ms;			/* the sender's chrono_wall_ms() */
	int64_t room_id;		/* room, message */
	int deleted;			/* room */
	char (*added)[UUID_STR_SIZE];	/* room; decoded: owned */
	size_t nadded;
	char (*removed)[UUID_STR_SIZE];	/* room; decoded: owned */
	size_t nremoved;
	char user[UUID_STR_SIZE];	/* disconnect, ban, connected; message: sender */
	int64_t msg_id;			/* message */
	int64_t prev_id;		/* message: previous id in the room, 0 = unknown */
	const char *message;		/* message; decoded: borrowed from root */
	const char *created_at;		/* message; decoded: borrowed from root */
	int origin;			/* message, connected: daemon index */
	uint64_t conn;			/* connected: the daemon's connection serial */
	json_object *root;		/* decoded: owned */
};

/*
 * Encode e (nothing in it is taken over). Returns a malloc'd string of
 * *len bytes the caller frees, or NULL when out of memory.
 */
char *evt_encode(const struct evt *e, size_t *len);

/*
 * Decode one frame into e (zeroed first). Returns 0, or -1 with a message
 * in err for anything that is not a version-1 event, or that no real
 * event says (see above: ids, prev, origin). On 0 the caller must
 * evt_release(e).
 */
int evt_decode(const char *buf, size_t len, struct evt *e, char *err, size_t errlen);

/* Free what evt_decode() allocated. */
void evt_release(struct evt *e);

struct evt_pub {
	void *sock;	/* owned ZeroMQ PUB socket */
};

/*
 * The CURVE keys of one process (curve.h): its own pair, and the public
 * key of each inbox it publishes to. Every tcp:// link of the bus needs
 * them; ipc:// links (one host, a private run directory) do not.
 */
struct evt_keys {
	int has_self;			/* self is loaded */
	struct curve_pair self;		/* CHAT_EVT_KEY_FILE */
	char (*inbox)[CURVE_Z85_SIZE];	/* owned; CHAT_EVT_INBOX_KEYS, by index */
	size_t ninbox;			/* 1: the same key for every inbox */
};

/*
 * Load keys: key_file ("" = none) and inbox_files, a comma separated
 * list of public key files ("" = none; one file = one key for every
 * inbox). 0, or -1 with err naming the setting. evt_keys_release() after.
 */
int evt_keys_load(struct evt_keys *k, const char *key_file, const char *inbox_files,
		  char *err, size_t errlen);
void evt_keys_release(struct evt_keys *k);

/*
 * Entry i of endpoints, a comma separated list (CHAT_EVT_ENDPOINTS),
 * copied into ep. 0, or -1 when there is no such entry, it is empty, or it
 * does not fit len.
 */
int evt_endpoint(const char *endpoints, int i, char *ep, size_t len);

/*
 * Open a PUB socket on zctx (the caller's zmq context, which must outlive
 * it) connected to every inbox of endpoints, a comma separated list
 * (CHAT_EVT_ENDPOINTS), but the one at index skip (-1: none). A tcp://
 * inbox is reached over CURVE with keys (NULL: none), and refused without
 * them. Returns 0, or -1 with a message in err (an empty or over-long
 * entry, a tcp:// one without keys, or one ZeroMQ refuses).
 */
int evt_pub_open(struct evt_pub *p, void *zctx, const char *endpoints, int skip,
		 const struct evt_keys *keys, char *err, size_t errlen);

/* Send e without blocking. 0 when queued, -1 when dropped. */
int evt_publish(struct evt_pub *p, const struct evt *e);

void evt_pub_close(struct evt_pub *p);

/*
 * Bind a SUB inbox at endpoint, subscribed to everything, taking frames
 * of at most max_bytes (larger ones cost the sender its connection) and
 * holding a bounded backlog. A tcp:// inbox is a CURVE server with keys'
 * own pair and must have a ZAP handler on zctx (curve_zap_open): without
 * keys it is refused. Returns the socket (close with zmq_close), or NULL
 * with a message in err.
 */
void *evt_sub_open(void *zctx, const char *endpoint, const struct evt_keys *keys,
		   long max_bytes, char *err, size_t errlen);

/* What evt_sub_recv() found. */
enum evt_recv {
	EVT_RECV_EVENT = 1,	/* an event in e: evt_release() it */
	EVT_RECV_NONE = 0,	/* nothing waiting (or interrupted): poll again */
	EVT_RECV_BAD = -1,	/* a frame that is not an event was dropped (err) */
	EVT_RECV_ERROR = -2,	/* ZeroMQ failed to receive (err): not "nothing" */
};

/*
 * Take one event from a SUB socket without blocking: an enum evt_recv,
 * with a message in err for EVT_RECV_BAD and EVT_RECV_ERROR. A receive
 * error (a terminated context, a broken socket) is reported as such, so
 * that the caller counts and logs it instead of taking it for silence.
 */
int evt_sub_recv(void *sock, struct evt *e, char *err, size_t errlen);

#endif
