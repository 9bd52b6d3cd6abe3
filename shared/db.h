/*
 * db - one blocking Postgres connection that comes back by itself.
 *
 * A connection is opened lazily and re-opened whenever it is found broken,
 * so a tier survives a Postgres restart without being restarted itself
 * (never in the middle of a transaction: see db_begin()).
 * Statements are prepared once per connection from a table the caller
 * owns (so after a reconnect they are prepared again). Every session gets
 * TimeZone=UTC, DateStyle=ISO (timestamps as text look like
 * "2026-11-25 17:55:15.123456+00") and the configured statement timeout.
 *
 * Blocking: use it from a REST worker (one request at a time) or from a
 * worker thread, never from the websocket service thread.
 *
 * Layering: above log.h, with libpq. Never cfg.h (callers pass the
 * conninfo and timeout), auth, evt or a tier's header. Array parameters
 * are built by pgarr.h, timestamps converted by chrono.h.
 */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct db_stmt {
	const char *name;
	const char *sql;
};

/*
 * Why the last call failed, classified here once from the connection
 * state and the SQLSTATE, so that no caller reads SQLSTATEs (a tier maps
 * these to its own answers, e.g. rest-fcgi's rest_db_error()).
 */
enum db_fail {
	DB_OK = 0,
	DB_DOWN,	/* no connection, or the server ended the session
			   (class 08, 57P..): try again once it is back */
	DB_TIMEOUT,	/* the statement was cancelled (57014: statement_timeout) */
	DB_BUSY,	/* class 40: serialisation failure, deadlock; retry at once */
	DB_ERROR,	/* anything else: the statement itself failed */
};

struct db {
	PGconn *conn;			/* owned; NULL while down */
	char conninfo[1024];
	int timeout_ms;
	const struct db_stmt *stmts;	/* borrowed, caller keeps it alive */
	int nstmts;
	enum db_fail fail;		/* why the last call failed */
	char sqlstate[6];		/* of the last statement's error ("" when none came) */
	int fatal_seen;			/* the server sent FATAL: session is ending */
	int in_tx;			/* db_begin() opened a transaction not yet ended */
	int connected_once;		/* a connection has succeeded before */
	const char *session_opts;	/* borrowed: more "-c name=value" options, or NULL */
	const char *on_connect;		/* borrowed: SQL run on each new connection, or NULL */
	uint64_t reconnects;		/* connections made after the first one
					   (chat_db_reconnects_total); written
					   atomically: another thread may read it
					   with db_reconnects() */
};

/* d->reconnects, read atomically (any thread). */
uint64_t db_reconnects(const struct db *d);

/*
 * The class of a failed statement's SQLSTATE (five characters; NULL or
 * "" when the server sent none): DB_DOWN, DB_TIMEOUT, DB_BUSY or DB_ERROR,
 * never DB_OK. The one place SQLSTATEs are interpreted.
 */
enum db_fail db_classify(const char *sqlstate);

/* No I/O: remember where and what to prepare. */
void db_init(struct db *d, const char *conninfo, int timeout_ms,
	     const struct db_stmt *stmts, int nstmts);

/*
 * Session settings beyond the fixed ones (opts: "-c name=value ...", at
 * most 256 characters) and a statement run on every new connection, after
 * the statements are prepared (a failure fails the connection). Both
 * borrowed, either may be NULL; set before the first db_ensure().
 * The tiers use them to announce their own GET /rooms changes after
 * commit (sql/007_list_notify.sql).
 */
void db_set_session(struct db *d, const char *opts, const char *on_connect);

/* Close the connection; the struct may be reused after db_init(). */
void db_release(struct db *d);

/*
 * Make sure there is a working, prepared connection (connect timeout 2 s).
 * Returns 0, or -1 with d->fail = DB_DOWN and a message in err.
 */
int db_ensure(struct db *d, char *err, size_t errlen);

/*
 * Run the prepared statement name with text parameters (NULL = SQL NULL).
 * Returns a result with status COMMAND_OK or TUPLES_OK that the caller
 * PQclear()s, or NULL with d->fail and a message in err. A statement sent
 * on a connection found dead is not retried (it may have run): the caller
 * gets DB_DOWN and the next call reconnects.
 */
PGresult *db_exec(struct db *d, const char *name, int nparams,
		  const char *const *values, char *err, size_t errlen);

/*
 * Same for plain SQL without parameters. Not for BEGIN, COMMIT or
 * ROLLBACK: transactions go through the three functions below.
 */
PGresult *db_exec_sql(struct db *d, const char *sql, char *err, size_t errlen);

/*
 * Transactions. Whoever calls db_begin() ends the transaction, on every
 * path, and nobody else does:
 *
 *	if (db_begin(d, err, len))
 *		goto out;			(nothing is open)
 *	... db_exec() ..., on failure goto out;
 *	if (db_commit(d, err, len))
 *		goto out;			(over either way)
 *	...
 *    out:
 *	db_rollback(d);				(no-op unless still open)
 *
 * Between db_begin() and its end every db_exec*() runs inside the
 * transaction or fails: a connection lost meanwhile is not replaced
 * under it (the transaction died with it), so those calls fail with
 * DB_DOWN until db_commit() or db_rollback() ends it.
 */

/*
 * BEGIN. Returns 0 with a transaction open, or -1 with d->fail and err
 * and none open (DB_ERROR when one already was: transactions do not nest).
 */
int db_begin(struct db *d, char *err, size_t errlen);

/*
 * COMMIT. Returns 0 when the transaction's changes are committed, or -1
 * with d->fail and err when they are not (the server refused the COMMIT,
 * a statement of the transaction had failed, no transaction was open) or
 * not known to be (the connection was lost: DB_DOWN). Either way no
 * transaction is open afterwards.
 */
int db_commit(struct db *d, char *err, size_t errlen);

/*
 * End the open transaction, discarding its changes; nothing when none is
 * open, so a cleanup path may always call it. Never fails: when ROLLBACK
 * cannot be sent the connection is closed (the server then discards the
 * transaction) and the next call reconnects. d->fail and d->sqlstate are
 * left as they were, so the failure that led here can still be reported.
 */
void db_rollback(struct db *d);

#endif
