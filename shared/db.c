#include "db.h"
#include "log.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

void db_init(struct db *d, const char *conninfo, int timeout_ms,
	     const struct db_stmt *stmts, int nstmts)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->conninfo, sizeof(d->conninfo), "%s", conninfo);
	d->timeout_ms = timeout_ms;
	d->stmts = stmts;
	d->nstmts = nstmts;
}

void db_set_session(struct db *d, const char *opts, const char *on_connect)
{
	d->session_opts = opts;
	d->on_connect = on_connect;
}

uint64_t db_reconnects(const struct db *d)
{
	return __atomic_load_n(&d->reconnects, __ATOMIC_RELAXED);
}

void db_release(struct db *d)
{
	if (d->conn)
		PQfinish(d->conn);
	d->conn = NULL;
	d->in_tx = 0;
}

/* libpq messages end with a newline; keep log lines and errors one line. */
static void db_errmsg(PGconn *c, const char *what, char *err, size_t errlen)
{
	char *nl;

	snprintf(err, errlen, "%s: %s", what, c ? PQerrorMessage(c) : "out of memory");
	while ((nl = strchr(err, '\n')))
		*nl = ' ';
	for (size_t n = strlen(err); n && err[n - 1] == ' '; n--)
		err[n - 1] = '\0';
}

/*
 * Notices and warnings go to our log instead of libpq's raw stderr lines.
 * A FATAL that arrives while the session is idle (the server shutting
 * down or restarting, an idle timeout, pg_terminate_backend) also comes
 * here: libpq keeps the connection "OK" until it reads the EOF that
 * follows, so remember it and reconnect before the next statement.
 */
static void db_notice(void *arg, const PGresult *r)
{
	struct db *d = arg;
	const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

	if (sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC"))) {
		d->fatal_seen = 1;
		log_warn("database: %s", msg ? msg : sev);
	} else if (sev && !strcmp(sev, "WARNING")) {
		log_warn("database: %s", msg ? msg : sev);
	} else {
		log_debug("database: %s", msg ? msg : "notice");
	}
}

static int db_connect(struct db *d, char *err, size_t errlen)
{
	const char *keys[] = { "dbname", "connect_timeout", "options",
			       "application_name", NULL };
	char options[384];
	const char *vals[5];
	PGresult *r;

	/* DateStyle ISO: the text form of timestamps that callers parse. */
	snprintf(options, sizeof(options),
		 "-c TimeZone=UTC -c DateStyle=ISO -c statement_timeout=%d %s", d->timeout_ms,
		 d->session_opts ? d->session_opts : "");
	/* dbname is expanded as the whole conninfo; later keys add to it. */
	vals[0] = d->conninfo;
	vals[1] = "2";
	vals[2] = options;
	vals[3] = "swappart-chat";
	vals[4] = NULL;
	d->conn = PQconnectdbParams(keys, vals, 1);
	if (!d->conn || PQstatus(d->conn) != CONNECTION_OK) {
		db_errmsg(d->conn, "database connection failed", err, errlen);
		goto fail;
	}
	d->fatal_seen = 0;
	PQsetNoticeReceiver(d->conn, db_notice, d);
	for (int i = 0; i < d->nstmts; i++) {
		r = PQprepare(d->conn, d->stmts[i].name, d->stmts[i].sql, 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			char what[96];

			snprintf(what, sizeof(what), "prepare '%s'", d->stmts[i].name);
			db_errmsg(d->conn, what, err, errlen);
			PQclear(r);
			/* A bad statement is a bug, not an outage: say so loudly. */
			log_error("%s", err);
			goto fail;
		}
		PQclear(r);
	}
	if (d->on_connect) {
		r = PQexec(d->conn, d->on_connect);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
			db_errmsg(d->conn, "on connect", err, errlen);
			PQclear(r);
			goto fail;
		}
		PQclear(r);
	}
	if (d->connected_once)
		__atomic_fetch_add(&d->reconnects, 1, __ATOMIC_RELAXED);
	d->connected_once = 1;
	return 0;
fail:
	if (d->conn)
		PQfinish(d->conn);
	d->conn = NULL;
	d->fail = DB_DOWN;
	return -1;
}

/*
 * An idle connection whose server went away (restart, failover) has a
 * readable socket: notice that before sending, so the first request after
 * a Postgres restart reconnects instead of failing. One poll(2), no I/O
 * when the connection is fine.
 */
static int db_idle_alive(struct db *d)
{
	struct pollfd p = { .fd = PQsocket(d->conn), .events = POLLIN };

	if (p.fd < 0)
		return 0;
	if (poll(&p, 1, 0) > 0) {
		if ((p.revents & (POLLHUP | POLLERR)) || !PQconsumeInput(d->conn))
			return 0;
		/* Notices are fine; anything else unexpected means trouble. */
		while (!PQisBusy(d->conn)) {
			PGresult *r = PQgetResult(d->conn);

			if (!r)
				break;
			PQclear(r);
		}
	}
	/* A FATAL read above (or during the last statement) ends the session. */
	return !d->fatal_seen && PQstatus(d->conn) == CONNECTION_OK;
}

int db_ensure(struct db *d, char *err, size_t errlen)
{
	if (d->conn && db_idle_alive(d))
		return 0;
	if (d->in_tx) {
		/* A new connection would run the rest outside the transaction. */
		if (d->conn) {
			PQfinish(d->conn);
			d->conn = NULL;
			log_warn("database connection lost inside a transaction");
		}
		snprintf(err, errlen, "database connection lost inside a transaction");
		d->fail = DB_DOWN;
		return -1;
	}
	if (d->conn) {
		PQfinish(d->conn);
		d->conn = NULL;
		log_warn("database connection lost, reconnecting");
	}
	if (db_connect(d, err, errlen))
		return -1;
	log_info("database connected");
	return 0;
}

enum db_fail db_classify(const char *sqlstate)
{
	const char *s = sqlstate ? sqlstate : "";

	/* Admin shutdown / crash recovery end the session, as does class 08. */
	if (!strncmp(s, "57P", 3) || !strncmp(s, "08", 2))
		return DB_DOWN;
	if (!strcmp(s, "57014"))
		return DB_TIMEOUT;
	if (!strncmp(s, "40", 2))
		return DB_BUSY;
	return DB_ERROR;
}

static PGresult *db_check(struct db *d, PGresult *r, char *err, size_t errlen)
{
	ExecStatusType st = PQresultStatus(r);
	const char *state;

	d->sqlstate[0] = '\0';
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		d->fail = DB_OK;
		return r;
	}
	if (!r || PQstatus(d->conn) != CONNECTION_OK) {
		db_errmsg(d->conn, "database connection lost", err, errlen);
		d->fail = DB_DOWN;
	} else {
		state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		snprintf(d->sqlstate, sizeof(d->sqlstate), "%s", state ? state : "");
		snprintf(err, errlen, "%s", PQresultErrorMessage(r));
		for (char *nl; (nl = strchr(err, '\n'));)
			*nl = ' ';
		d->fail = db_classify(d->sqlstate);
	}
	PQclear(r);
	return NULL;
}

PGresult *db_exec(struct db *d, const char *name, int nparams,
		  const char *const *values, char *err, size_t errlen)
{
	if (db_ensure(d, err, errlen))
		return NULL;
	return db_check(d, PQexecPrepared(d->conn, name, nparams, values, NULL, NULL, 0),
			err, errlen);
}

PGresult *db_exec_sql(struct db *d, const char *sql, char *err, size_t errlen)
{
	if (db_ensure(d, err, errlen))
		return NULL;
	return db_check(d, PQexec(d->conn, sql), err, errlen);
}

int db_begin(struct db *d, char *err, size_t errlen)
{
	PGresult *r;

	if (d->in_tx) {
		snprintf(err, errlen, "begin: a transaction is already open");
		d->fail = DB_ERROR;
		return -1;
	}
	r = db_exec_sql(d, "BEGIN", err, errlen);
	if (!r)
		return -1;
	PQclear(r);
	d->in_tx = 1;
	return 0;
}

int db_commit(struct db *d, char *err, size_t errlen)
{
	PGresult *r;
	int rc = -1;

	if (!d->in_tx) {
		snprintf(err, errlen, "commit: no transaction is open");
		d->fail = DB_ERROR;
		return -1;
	}
	r = db_exec_sql(d, "COMMIT", err, errlen);
	if (r && strcmp(PQcmdStatus(r), "COMMIT")) {
		/* The server answers COMMIT of a failed transaction with ROLLBACK. */
		snprintf(err, errlen, "commit: the transaction was rolled back (%s)",
			 PQcmdStatus(r));
		d->fail = DB_ERROR;
	} else if (r) {
		rc = 0;
	}
	PQclear(r);
	if (rc)
		db_rollback(d);	/* whatever the server still holds open */
	d->in_tx = 0;
	return rc;
}

void db_rollback(struct db *d)
{
	enum db_fail fail = d->fail;
	PGTransactionStatusType ts;
	PGresult *r;
	int ok = 1;

	if (!d->in_tx)
		return;
	d->in_tx = 0;
	if (!d->conn)
		return;	/* the transaction died with its connection */
	ts = PQtransactionStatus(d->conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		r = PQexec(d->conn, "ROLLBACK");
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	} else if (ts != PQTRANS_IDLE) {	/* busy or broken */
		ok = 0;
	}
	if (!ok) {
		log_warn("database: rollback failed, closing the connection");
		PQfinish(d->conn);
		d->conn = NULL;
	}
	d->fail = fail;
}
