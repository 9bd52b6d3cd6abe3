/*
 * store - the daemon's Postgres workers: threads with a connection each
 * (shared/db.h, reconnecting by itself), so the lws service thread never
 * waits on the database.
 *
 * CHAT_DB_WORKERS workers share the rooms: every job of a room goes to
 * the same worker (room id modulo their number), so a room's messages
 * are stored in the order they were submitted and numbered in that
 * order; rooms of different workers are stored in parallel, each worker
 * on its own Postgres backend. Ban checks go to any worker (by user).
 * Answers of all workers come back through one hand-off.
 *
 * The service thread submits jobs; a worker takes every job waiting,
 * runs them as few statements as possible and hands the same jobs back,
 * answered, then wakes the service thread through the wake callback
 * (lws_cancel_service). Under load the batches grow by themselves: while
 * one batch is in Postgres the next one queues, and all its messages
 * share one statement and one commit (chat_ws_insert, sql/008_ws_insert.sql).
 *
 * Jobs:
 *   STORE_SEND      store one message (status, id, created_at, prev_id).
 *                   A message whose room another transaction holds is
 *                   not waited for: the worker keeps it and tries again
 *                   every STORE_RETRY_MS in its next batches, ahead of
 *                   newer messages (a room's order is kept), so the
 *                   other rooms' messages go on being stored; one still
 *                   not stored after the statement timeout gets
 *                   STORE_ERROR, as a statement that timed out would.
 *   STORE_BANCHECK  is the user in chat_bans (status STORE_BANNED / STORE_OK;
 *                   read-only, so retried once on a connection found dead)
 *   STORE_LOAD_ROOM the participants of a room (members; exists) and
 *                   base_id, where in-order delivery starts (roomcache.h)
 *   STORE_VERIFY    does Postgres hold the message a peer's event
 *                   announces: id, room_id, sender and text all equal?
 *                   STORE_OK with Postgres' created_at and prev_id (the
 *                   room's previous id, as chat_ws_insert gave it), or
 *                   STORE_UNKNOWN. Read-only, so retried once on a
 *                   connection found dead.
 * A job that failed on the database gets STORE_ERROR ("server error").
 * A batch of messages that failed is not retried message by message
 * (each would wait its own timeout): a timeout or a lost connection fails
 * the batch at once, a deadlock retries it once, and only an error of
 * the statement itself (one bad row) splits it in halves to find it.
 *
 * Ownership: a submitted job belongs to the store until store_take()
 * returns it; then it is the caller's (store_job_free). owner is an opaque
 * pointer the store never touches.
 */
#ifndef WS_STORE_H
#define WS_STORE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "handoff.h"
#include "log.h"
#include "metrics.h"
#include "uuid.h"

enum store_type {
	STORE_SEND = 0, STORE_BANCHECK, STORE_LOAD_ROOM, STORE_RECONNECTED, STORE_VERIFY
};

enum store_status {
	STORE_OK = 0,		/* SEND: stored now; BANCHECK: not banned; LOAD: done */
	STORE_DUP,		/* SEND: stored before, original id */
	STORE_FORBIDDEN,	/* SEND: not a participant / no such room */
	STORE_BANNED,		/* SEND, BANCHECK: the user is banned */
	STORE_ERROR,		/* database unavailable or failed */
	STORE_UNKNOWN,		/* VERIFY: Postgres has no such message */
	STORE_BUSY,		/* SEND, inside the worker only: its room is locked */
};

#define STORE_RETRY_MS 10	/* how soon messages of a locked room are tried again */

struct store_job {
	struct handoff_link link;	/* in the store's lists, then the caller's chain */
	enum store_type type;
	void *owner;			/* the caller's (a struct conn) */
	/* in */
	char user[UUID_STR_SIZE];	/* SEND, VERIFY: sender; BANCHECK: user */
	int64_t room_id;		/* SEND, LOAD_ROOM, VERIFY */
	char *message;			/* SEND, VERIFY: in the job's allocation */
	size_t message_len;
	char *temp_id;			/* SEND: in the job's allocation */
	size_t temp_len;
	/* out */
	enum store_status status;
	int64_t id;			/* SEND: the message id; VERIFY: in */
	int64_t prev_id;		/* SEND, VERIFY, STORE_OK: previous id in the room,
					   0 = none */
	char created_at[40];		/* SEND, VERIFY */
	struct uuid *members;		/* LOAD_ROOM: owned by the job */
	size_t nmembers;
	int exists;			/* LOAD_ROOM: the room exists */
	int64_t base_id;		/* LOAD_ROOM: last id committed over 2 s ago */
	int64_t busy_until_us;		/* SEND, worker: kept for a locked room until then */
};

/* A SEND job with copies of message and temp id; NULL when out of memory. */
struct store_job *store_job_send(void *owner, const char *user, int64_t room_id,
				 const char *message, size_t message_len,
				 const char *temp_id, size_t temp_len);
/* A VERIFY job for message id (a copy of message); NULL when out of memory. */
struct store_job *store_job_verify(const char *sender, int64_t room_id, int64_t id,
				   const char *message, size_t message_len);
/* Any other job (zeroed); NULL when out of memory. */
struct store_job *store_job_new(enum store_type type, void *owner);
void store_job_free(struct store_job *j);

/* The job after j in a chain from store_take(), or NULL. */
static inline struct store_job *store_job_next(const struct store_job *j)
{
	return handoff_entry(j->link.next, struct store_job, link);
}

/* What the worker has done since it started. */
struct store_stats {
	uint64_t batches;		/* chat_ws_insert calls that answered */
	uint64_t stored;		/* messages in them */
	uint64_t busy_us;		/* time spent in them */
	uint64_t resend_retries;	/* calls made again with ON CONFLICT (a resend) */
	struct metrics_hist batch_size;	/* messages per chat_ws_insert call */
	struct metrics_hist batch_us;	/* its time (statement and commit), us */
};

#define STORE_WORKERS_MAX 16

/* One worker (store.c's; the service thread uses struct store). */
struct store_worker {
	struct db db;			/* the worker's */
	pthread_t thread;
	pthread_mutex_t mu;		/* in, stop */
	pthread_cond_t cond;
	struct handoff_list in;		/* submitted, FIFO */
	struct handoff_list busy;	/* worker only: sends waiting for a locked room */
	int nbusy;			/* how many */
	int64_t busy_wait_us;		/* their longest wait: the statement timeout */
	struct log_limit busy_log;	/* worker only */
	struct handoff *out;		/* answered, to the service thread: the store's */
	int stop;
	int started;
	int batch_max;			/* most messages per statement */
	int last_pid;			/* backend pid, to notice reconnects */
	int64_t resends_until_us;	/* worker only: ON CONFLICT until then (monotonic) */
	struct store_stats stats;	/* the worker adds (atomics): store_stats() */
};

struct store {
	struct store_worker w[STORE_WORKERS_MAX];
	int n;				/* workers started */
	struct handoff out;		/* every worker's answers */
};

/*
 * A room one chat_ws_insert call locked (its kind 1 row): id, the room's
 * newest message before the call (0: none, or a foreign writer's).
 */
struct store_prev {
	int64_t room, id;		/* room first: store.c sorts by it as an int64_t */
};

/*
 * The predecessors of one chat_ws_insert call's stored messages (a worker
 * calls it; exposed for tests). jobs[0..n): the messages the call stored
 * (whatever their status since), in input order, which is the order it
 * numbered them in with their rooms locked; prev[0..nprev) the rooms it
 * locked (sorted here). Each job's prev_id becomes the job before it in
 * its room, or for the room's first the room's entry; the entries end as
 * each room's last stored message.
 */
void store_chain(struct store_job **jobs, int n, struct store_prev *prev, int nprev);

/*
 * Start workers (1..STORE_WORKERS_MAX) for conninfo. wake(arg) is called
 * from a worker thread whenever answers become available. 0, or -1 with
 * err (the workers started are stopped again).
 */
int store_start(struct store *s, const char *conninfo, int timeout_ms, int workers,
		void (*wake)(void *arg), void *arg, char *err, size_t errlen);

/* The workers' statistics, summed (any thread: they are read atomically). */
void store_stats(struct store *s, struct store_stats *out);

/* Reconnections to Postgres of all workers (any thread). */
uint64_t store_reconnects(struct store *s);

/* Hand a job to the worker (any thread). */
void store_submit(struct store *s, struct store_job *j);

/*
 * All answered jobs, oldest first, as a list the caller owns. A
 * STORE_RECONNECTED job says the worker found the database again after
 * losing it (caches should be rebuilt).
 */
struct store_job *store_take(struct store *s);

/*
 * Stop the workers after the jobs they hold and join them. Their answers
 * stay for store_take(); submitting stays safe (nobody answers).
 */
void store_stop(struct store *s);

#endif
