/*
 * life - the daemon's life: start, the periodic jobs, the shutdown
 * sequence and the end. main.c calls these, in this order:
 *
 *   life_init()          settings in; threads started (before lws)
 *   life_attach()        the lws context exists: the periodic jobs start
 *   life_shutdown()      on SIGTERM/SIGINT (again: ignored)
 *   life_finished()      polled each loop: 1 once the shutdown is done
 *   life_stop_threads()  before lws_context_destroy()
 *   life_release()       after it
 *
 * The periodic jobs (cron.h), each on its own period:
 *   "connection timers"  1 s   token expiry, AFK limit, pings, stuck
 *                              closes (conns_sweep)
 *   "room load retries"  1 s   rooms whose load failed (deliver.h)
 *   "statistics line"    10 s  one info line while messages are stored,
 *                              one about dropped events when they grew
 *   "room eviction"      60 s  rooms idle for 10 minutes leave the cache
 *   "memory trim"        10 s  after 1,000+ connections accepted,
 *                              the heap's free memory back to the system
 *                              (malloc_trim: what a reconnect storm's
 *                              handshakes used)
 *
 * Service thread only, but for life_wake().
 */
#ifndef WS_LIFE_H
#define WS_LIFE_H

#include <libwebsockets.h>
#include <stddef.h>

struct daemon;
struct cfg;

/*
 * Set up d for cfg (which must outlive it): auth, moderation list,
 * rooms, connections, then the bus (binds the inbox; its thread starts)
 * and the database worker. 0, or -1 with err.
 */
int life_init(struct daemon *d, const struct cfg *cfg, char *err, size_t errlen);

/* The lws context exists: start the periodic jobs, take what came meanwhile. */
void life_attach(struct daemon *d, struct lws_context *ctx);

/* Wake the service thread (any thread; the threads' wake callback). */
void life_wake(void *arg);

/* SIGTERM/SIGINT: begin the shutdown (daemon.h, enum daemon_phase). */
void life_shutdown(struct daemon *d);

/* Move the shutdown on; 1 once it is complete (the caller ends the loop). */
int life_finished(struct daemon *d);

/* Before lws_context_destroy(): stop the bus and worker threads. */
void life_stop_threads(struct daemon *d);

/* After lws_context_destroy(): free everything. */
void life_release(struct daemon *d);

#endif
