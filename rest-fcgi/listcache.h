/*
 * listcache - GET /rooms answers kept by a REST worker and served again
 * until something they were made of changes (issue 12: a list costs
 * Postgres 0.3-0.4 ms of plan and 161 buffers; a hit costs none).
 *
 * What changes: every statement that writes a table GET /rooms reads is
 * announced (shared/listnotify.h, sql/007_list_notify.sql): the rooms
 * whose row, messages or participants changed ("r:1,2"), the users whose
 * memberships or ban changed ("u:<uuid>,..."), or "*". One worker of the
 * tier (on a host) listens, in a thread with its own connection (LISTEN
 * chat_list_changed), and turns them into bumps of a change table every
 * worker of the tier maps (tiershm.h, CHAT_REST_CACHE_FILE): the worker
 * whose thread holds a lock (fcntl) on CHAT_REST_CACHE_FILE.listener; the
 * other workers' threads wait for that lock, which is theirs as soon as
 * the listener's process ends. A slot per hash of a room id or
 * user id, holding the sequence number of its last change. An answer is
 * kept with the sequence number read before its query ran, and the slots
 * of its user and rooms; it is served while none of those slots moved
 * past that number (hash collisions only cost a needless miss).
 *
 * Freshness:
 *  - The tier's own writes (POST/PUT/DELETE /rooms, bans) bump the table
 *    themselves before they answer (listcache_room_changed and friends;
 *    they announce them too, for other hosts' workers),
 *    so what a client changed over REST is in its next GET /rooms,
 *    whichever worker answers it.
 *  - Everything else (messages stored by the daemons, other writers) is
 *    seen once its notification reached a listener: after its commit by
 *    the time Postgres takes to signal a listening session, normally well
 *    under a millisecond.
 *  - No hits while nobody listens (starting, Postgres down, the listener's
 *    process gone: the table names its pid, and a hit asks the kernel
 *    whether that pid still holds the lock: F_GETLK); when one listens
 *    again, everything counts as changed
 *    (notifications sent meanwhile are lost). A connection that died
 *    without a word is found by a ping after LISTCACHE_PING_MS of quiet
 *    that must be answered within as long; and whatever the listener's
 *    thread is stuck in, no worker serves a hit once its session has not
 *    answered for LISTCACHE_DEAF_MS (a time in the table).
 *
 * A safety net for an announcement that never came (a writer that died
 * between its commit and its announcement and never connected again,
 * shared/listnotify.h): no answer is served more than LISTCACHE_MAX_AGE_MS
 * after its query.
 *
 * Only successful lists are kept (a banned caller's 403 is not). Memory:
 * at most CHAT_REST_LIST_CACHE_KB of answers per worker in LISTCACHE_ENTRIES
 * direct-mapped entries (by user); an answer larger than an eighth of that
 * budget is not kept.
 *
 * Threads: the listener thread only reads and writes the shared table
 * (atomics) and its own connection; everything else is the worker's one
 * request thread.
 * Ownership: struct listcache owns its entries, mapping and thread.
 *
 * Layering: above tiershm.h, listnotify.h, log.h and libpq; no handler
 * or router.
 */
#ifndef REST_LISTCACHE_H
#define REST_LISTCACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define LISTCACHE_ENTRIES 1024
#define LISTCACHE_PING_MS 5000
/* no hits when the listener's session has not answered for this long */
#define LISTCACHE_DEAF_MS (2 * LISTCACHE_PING_MS + 2000)
#define LISTCACHE_ELECT_MS 100	/* how often a waiting worker tries the lock */
#define LISTCACHE_MAX_AGE_MS 60000

struct lc_shm;
struct lc_entry;

struct listcache {
	int on;			/* 0: every call is a no-op / miss */
	struct lc_shm *shm;	/* the change table, MAP_SHARED */
	struct lc_entry *e;	/* LISTCACHE_ENTRIES */
	size_t bytes, budget;	/* answers kept / the most kept */
	char conninfo[1024];
	int stop_fd[2];		/* the listener waits on [0]; close() writes [1] */
	int lock_fd;		/* CHAT_REST_CACHE_FILE.listener: who listens (fcntl lock) */
	pthread_t thread;
	int thread_started;
	int listening;		/* atomic: this process's thread is the listener */
	uint64_t hits;		/* this worker's (the tier's: restmetrics) */
	int64_t max_age_ms;	/* LISTCACHE_MAX_AGE_MS (unit tests shorten it) */
};

/*
 * Off (on = 0) when file is "" or budget_kb is 0; otherwise map file (the
 * change table, created when missing) and start the listener thread on
 * conninfo. -1 with err when the file cannot be mapped or the thread not
 * started; a database that is down is not an error (the listener retries
 * every second, and nothing is served from the cache meanwhile).
 */
int listcache_open(struct listcache *c, const char *file, int budget_kb,
		   const char *conninfo, char *err, size_t errlen);

/* Stop the listener, free the entries, unmap. Safe on a closed cache. */
void listcache_close(struct listcache *c);

/*
 * The kept answer of user (a JSON array, borrowed until the next call on
 * c), or NULL: none, stale, or the listener not listening.
 */
const char *listcache_get(struct listcache *c, const char *user, size_t *len);

/*
 * Before the query whose answer may be kept: a ticket for
 * listcache_put(), 0 when it must not be kept (cache off, listener not
 * listening).
 */
uint64_t listcache_begin(struct listcache *c);

/*
 * Keep body[0..len) (copied) as user's answer, made of rooms[0..n), by a
 * query run after listcache_begin() gave ticket. Not kept when the ticket
 * is 0, anything it is made of changed since, or it is too large.
 */
void listcache_put(struct listcache *c, uint64_t ticket, const char *user,
		   const long long *rooms, size_t n, const char *body, size_t len);

/* A change the caller made (committed): bump its slots in the table. */
void listcache_room_changed(struct listcache *c, long long room);
void listcache_user_changed(struct listcache *c, const char *user);

/*
 * A notification's payload ("r:1,2", "u:<uuid>,...", "*"; anything else
 * counts as "*"): bump what it names. The listener's handler, public for
 * the unit tests.
 */
void listcache_notified(struct listcache *c, const char *payload);

/* Whether some worker of the tier is listening. */
int listcache_live(const struct listcache *c);

/*
 * Say that this process listens (its pid in the table, after counting
 * everything as changed) or that nobody does; the listener thread's, and
 * the unit tests'.
 */
void listcache_set_live(struct listcache *c, int live);

#endif
