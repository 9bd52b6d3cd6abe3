/*
 * deliver - what reaches the service thread from the other threads, and
 * the in-order release of committed messages to a room's members.
 *
 *   deliver_store_answers()  the worker's answers (store.h): the sender's
 *                            confirmation, then the message published to
 *                            the peers and held in its room; ban checks
 *                            of new connections; room loads; "database
 *                            back" (the room cache is rebuilt).
 *   deliver_bus_events()     the bus's events (bus.h): membership changes,
 *                            room deletions, admin disconnects and bans,
 *                            4008 across daemons, and peers' messages.
 *
 * A committed message, the daemon's own or a peer's, is held in its room
 * (roomcache.h; the room is loaded from Postgres on first sight) and
 * released to the locally connected members but the sender in id order;
 * a predecessor that is missing for DELIVER_GAP_MS is skipped. A peer's
 * message event is only a claim: the worker confirms it in Postgres
 * first (STORE_VERIFY), and one Postgres does not have is dropped,
 * counted (unconfirmed / unverified in struct daemon_deliver) and logged
 * at most once a second, so no event can put a text before a client or
 * move a room's release point past its real messages.
 *
 * Both are called on LWS_CALLBACK_EVENT_WAIT_CANCELLED (chat.c), i.e.
 * after a wake. The state is struct daemon's deliver part (daemon.h).
 *
 * Service thread only.
 */
#ifndef WS_DELIVER_H
#define WS_DELIVER_H

#include <stdint.h>

#define DELIVER_GAP_MS 500	/* longest wait for a missing predecessor */

struct daemon;

/* Handle every answer of the worker waiting (store_take). */
void deliver_store_answers(struct daemon *d);

/* Handle every event of the bus waiting (bus_take). */
void deliver_bus_events(struct daemon *d);

/* Periodic: ask again for the rooms whose load failed. */
void deliver_retry_loads(struct daemon *d);

/*
 * Periodic: drop from the cache the rooms that have had no message or
 * event for idle_ms and hold nothing (they are loaded again when needed).
 */
void deliver_evict_rooms(struct daemon *d, int64_t now_ms, int64_t idle_ms);

#endif
