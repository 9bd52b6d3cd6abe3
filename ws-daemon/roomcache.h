/*
 * roomcache - the daemon's cache of room membership, and per room the
 * committed messages waiting to be delivered in id order.
 *
 * Postgres holds the truth (chat_rooms_participants); a room enters the
 * cache when a message for it is first seen (ROOM_LOADING until the
 * worker's answer, store.h) and is kept current by the REST tier's room
 * events (bus.h). Only the service thread touches it: no locks.
 *
 * Ordering. Every committed message carries prev_id, the id of the
 * message committed just before it in the same room (chat_ws_insert
 * locks the room, so ids are handed out in commit order). Messages are
 * held here and released by room_next() only when their predecessor was
 * released (or is older than what was released), so a recipient sees a
 * room's messages in id order however the events of several daemons
 * interleave. Where a room's chain starts when it enters the cache is
 * room_start(): the last message committed long enough ago that it
 * cannot still be travelling between daemons. A gap that stays open
 * longer than the caller's gap_ms (a
 * peer crashed between commit and publish, or a dropped event) is
 * skipped: the later messages go out and the missing one, should it
 * still arrive, is dropped (it is in Postgres; GET /rooms/:id has it).
 *
 * Users are kept as struct uuid (uuid.h).
 */
#ifndef WS_ROOMCACHE_H
#define WS_ROOMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "uuid.h"

enum room_state { ROOM_LOADING = 0, ROOM_READY };

struct room_msg {
	struct room_msg *next;
	int64_t id;
	int64_t prev_id;		/* 0: none / unknown */
	struct uuid sender;
	struct frame *frame;		/* MessageReceived, owned reference */
};

struct room {
	int64_t id;
	struct uuid *members;		/* owned */
	uint32_t n, cap;
	enum room_state state;
	int64_t last_id;		/* last released id (or the start) */
	struct room_msg *held;		/* owned, ascending id */
	int64_t gap_since_ms;		/* when the head started waiting; 0 = not */
	int64_t used_ms;		/* last message or event, for eviction */
};

struct rcache {
	struct room **slot;		/* open addressing on id, linear probing */
	size_t cap;			/* power of two */
	size_t count;
};

void rcache_init(struct rcache *r);
/* Free every room and every held message. */
void rcache_release(struct rcache *r);

/* The room, or NULL. */
struct room *rcache_get(struct rcache *r, int64_t id);
/* The room, created empty in ROOM_LOADING when absent; NULL when out of memory. */
struct room *rcache_add(struct rcache *r, int64_t id);
/* Remove and free a room (with its held messages). */
void rcache_del(struct rcache *r, int64_t id);

/*
 * Call fn on every room; a room for which fn returns 1 is deleted
 * (eviction, a cache flush). fn must not add or delete rooms itself.
 */
void rcache_sweep(struct rcache *r, int (*fn)(struct room *rm, void *arg), void *arg);

/* Replace the member list (copied). 0, or -1 when out of memory. */
int room_set_members(struct room *rm, const struct uuid *users, size_t n);
int room_add_member(struct room *rm, const struct uuid *user);
void room_remove_member(struct room *rm, const struct uuid *user);
int room_has_member(const struct room *rm, const struct uuid *user);

/*
 * The room's members are known: it becomes ROOM_READY. base_id is the
 * id from which the in-order release starts, for a room that has not
 * released anything yet (held messages at or below it go out at once).
 */
void room_start(struct room *rm, int64_t base_id);

/*
 * Hold a committed message (takes over m). A message whose id was already
 * released is freed and 0 is returned; 1 when held.
 */
int room_hold(struct room *rm, struct room_msg *m);

/*
 * The next message to deliver, unlinked (the caller frees it with
 * room_msg_free), or NULL: nothing held, the room is still loading, or the
 * head waits for its predecessor and has waited less than gap_ms.
 */
struct room_msg *room_next(struct room *rm, int64_t now_ms, int64_t gap_ms);

void room_msg_free(struct room_msg *m);

#endif
