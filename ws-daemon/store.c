#include "store.h"
#include "chrono.h"
#include "listnotify.h"
#include "log.h"
#include "pgarr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STORE_SETTLE "2 seconds"	/* longer than any event takes to travel */
#define STORE_RESENDS_US 1000000	/* after a resend: ON CONFLICT for this long */

static const struct db_stmt store_stmts[] = {
	/*
	 * each locked room's previous message (kind 1), the stored rows in
	 * input order (kind 0), the rooms held elsewhere (kind 2); $5: with
	 * ON CONFLICT (sql/008_ws_insert.sql)
	 */
	{ "ws_insert",
	  "SELECT kind, id, sender_id::text, client_temp_id, room_id, created_at "
	  "FROM chat_ws_insert($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::boolean)" },
	/* after the COMMIT of ws_insert: its rooms for GET /rooms (listnotify.h) */
	{ "ws_list_notify", LISTNOTIFY_SQL },
	/* what became of the other rows ws_insert did not store */
	{ "ws_lookup",
	  "SELECT ord, status, id, room_id, created_at "
	  "FROM chat_ws_lookup($1::uuid[], $2::text[])" },
	{ "ws_bans",
	  "SELECT user_id::text FROM chat_bans WHERE user_id = ANY ($1::uuid[])" },
	/*
	 * base: the room's last message committed over STORE_SETTLE ago.
	 * Anything newer may still be on its way from a peer daemon, so the
	 * in-order release starts from there (roomcache.h).
	 */
	{ "ws_rooms",
	  "SELECT r.id, p.participant_id::text, b.base FROM chat_rooms r "
	  "CROSS JOIN LATERAL (SELECT coalesce(max(m.id), 0) AS base "
	  "	FROM chat_room_messages m WHERE m.room_id = r.id "
	  "	AND m.created_at < now() - interval '" STORE_SETTLE "') b "
	  "LEFT JOIN chat_rooms_participants p ON p.room_id = r.id "
	  "WHERE r.id = ANY ($1::bigint[])" },
	/*
	 * The messages peers announce, as Postgres has them: the row with
	 * that id, room, sender and text; its created_at in the API's form
	 * and its predecessor in the room, found as chat_ws_insert finds it
	 * (one step back on the (room_id, id) index; none when a foreign
	 * writer stored that one, sql/008_ws_insert.sql). The room's messages
	 * commit in id order (chat_ws_insert locks the room), so once a
	 * message is visible its predecessor is too.
	 */
	{ "ws_verify",
	  "SELECT t.ord, " CHRONO_ISO_SQL("m.created_at") ", "
	  "	(SELECT CASE WHEN x.room_id = m.room_id AND x.client_temp_id IS NOT NULL "
	  "	 THEN x.id END "
	  "	 FROM chat_room_messages x WHERE (x.room_id, x.id) < (m.room_id, m.id) "
	  "	 ORDER BY x.room_id DESC, x.id DESC LIMIT 1) "
	  "FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::text[]) "
	  "	WITH ORDINALITY AS t(id, room, sender, msg, ord) "
	  "JOIN chat_room_messages m ON m.id = t.id "
	  "WHERE m.room_id = t.room AND m.sender_id = t.sender AND m.message = t.msg" },
};

struct store_job *store_job_new(enum store_type type, void *owner)
{
	struct store_job *j = calloc(1, sizeof(*j));

	if (j) {
		j->type = type;
		j->owner = owner;
	}
	return j;
}

struct store_job *store_job_send(void *owner, const char *user, int64_t room_id,
				 const char *message, size_t message_len,
				 const char *temp_id, size_t temp_len)
{
	struct store_job *j = malloc(sizeof(*j) + message_len + temp_len + 2);

	if (!j)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->type = STORE_SEND;
	j->owner = owner;
	snprintf(j->user, sizeof(j->user), "%s", user);
	j->room_id = room_id;
	j->message = (char *)(j + 1);
	memcpy(j->message, message, message_len);
	j->message[message_len] = '\0';
	j->message_len = message_len;
	j->temp_id = j->message + message_len + 1;
	memcpy(j->temp_id, temp_id, temp_len);
	j->temp_id[temp_len] = '\0';
	j->temp_len = temp_len;
	return j;
}

struct store_job *store_job_verify(const char *sender, int64_t room_id, int64_t id,
				   const char *message, size_t message_len)
{
	struct store_job *j = store_job_send(NULL, sender, room_id, message, message_len, "", 0);

	if (j) {
		j->type = STORE_VERIFY;
		j->id = id;
	}
	return j;
}

void store_job_free(struct store_job *j)
{
	if (!j)
		return;
	free(j->members);
	free(j);
}

static void store_fail_all(struct store_job **jobs, int n)
{
	for (int i = 0; i < n; i++)
		jobs[i]->status = STORE_ERROR;
}

/* The text of n array parameters into vals; -1 when one ran out of memory. */
static int store_arrays_end(struct pgarr *a, const char **vals, int n)
{
	for (int k = 0; k < n; k++)
		if (!(vals[k] = pgarr_end(&a[k])))
			return -1;
	return 0;
}

/* The job a result row answers (column 0: its place in jobs, from 1), or NULL. */
static struct store_job *store_row_job(PGresult *r, int row, struct store_job **jobs, int n)
{
	int ord = atoi(PQgetvalue(r, row, 0)) - 1;

	return ord >= 0 && ord < n ? jobs[ord] : NULL;
}

/*
 * The rooms found locked during one store_run(): later statements of the
 * same run leave their messages alone too (STORE_BUSY), so that a room
 * released between two statements cannot take a newer message before an
 * older one that was turned away.
 */
struct store_busy_rooms {
	int64_t *id;
	size_t n, cap;
};

static int store_room_busy(const struct store_busy_rooms *b, int64_t room)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->id[i] == room)
			return 1;
	return 0;
}

static void store_room_add_busy(struct store_busy_rooms *b, int64_t room)
{
	if (store_room_busy(b, room))
		return;
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		int64_t *id = realloc(b->id, cap * sizeof(*id));

		if (!id)
			return;	/* then only the statement's own answer counts */
		b->id = id;
		b->cap = cap;
	}
	b->id[b->n++] = room;
}

/* chat_ws_lookup's status column: 0 stored, 1 before, 2 not a participant, 3 banned, 4 locked. */
static enum store_status store_status_of(const char *v)
{
	switch (atoi(v)) {
	case 0: return STORE_OK;
	case 1: return STORE_DUP;
	case 2: return STORE_FORBIDDEN;
	case 3: return STORE_BANNED;
	case 4: return STORE_BUSY;
	default: return STORE_ERROR;
	}
}

/* created_at of a result row into j; -1 (and STORE_ERROR) when malformed */
static int store_created_at(struct store_job *j, PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col) ||
	    chrono_iso_from_pg(PQgetvalue(r, row, col), j->created_at)) {
		log_error("store: unexpected created_at '%s'", PQgetvalue(r, row, col));
		j->status = STORE_ERROR;
		return -1;
	}
	return 0;
}

/*
 * The jobs of a batch that chat_ws_insert neither stored nor turned away
 * for a locked room (status STORE_UNKNOWN): one chat_ws_lookup call says
 * why, or which message a resend already has. Whatever it cannot answer
 * fails ("server error"), never a silent loss.
 */
static void store_lookup(struct store_worker *s, struct store_job **jobs, int n)
{
	struct store_job **left = malloc((size_t)n * sizeof(*left));
	struct pgarr a[2];
	const char *vals[2];
	PGresult *r = NULL;
	char err[512];
	int m = 0;

	for (int k = 0; k < 2; k++)
		pgarr_init(&a[k], 0);
	if (!left)
		goto out;
	for (int i = 0; i < n; i++) {
		if (jobs[i]->status != STORE_UNKNOWN)
			continue;
		left[m++] = jobs[i];
		pgarr_add_uuid(&a[0], jobs[i]->user);
		pgarr_add_text(&a[1], jobs[i]->temp_id, jobs[i]->temp_len);
	}
	if (store_arrays_end(a, vals, 2))
		goto out;
	r = db_exec(&s->db, "ws_lookup", 2, vals, err, sizeof(err));
	if (!r) {
		log_warn("store: looking up %d unstored messages failed: %s", m, err);
		goto out;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		struct store_job *j = store_row_job(r, row, left, m);

		if (!j)
			continue;
		j->status = store_status_of(PQgetvalue(r, row, 1));
		if (j->status != STORE_DUP)
			continue;
		j->id = strtoll(PQgetvalue(r, row, 2), NULL, 10);
		j->room_id = strtoll(PQgetvalue(r, row, 3), NULL, 10);
		store_created_at(j, r, row, 4);
	}
out:
	for (int i = 0; i < n; i++)
		if (jobs[i]->status == STORE_UNKNOWN)
			jobs[i]->status = STORE_ERROR;
	PQclear(r);
	free(left);
	for (int k = 0; k < 2; k++)
		pgarr_release(&a[k]);
}

/* Orders int64_t values, or structs that begin with one (struct store_prev). */
static int store_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

void store_chain(struct store_job **jobs, int n, struct store_prev *prev, int nprev)
{
	struct store_prev key, *p;

	qsort(prev, (size_t)nprev, sizeof(*prev), store_cmp_i64);
	for (int i = 0; i < n; i++) {
		struct store_job *j = jobs[i];

		key.room = j->room_id;
		p = bsearch(&key, prev, (size_t)nprev, sizeof(*prev), store_cmp_i64);
		if (!p) {	/* cannot happen: stored, so locked */
			log_error("store: room %lld stored without its previous message",
				  (long long)j->room_id);
			j->prev_id = 0;
			continue;
		}
		j->prev_id = p->id;
		p->id = j->id;
	}
}

/*
 * One chat_ws_insert call for jobs[0..n), minus the messages of rooms
 * already found locked in this run (busy). A failed call is not retried
 * message by message, each with its own timeout (issue 10: one locked
 * room then held every other room back for 5 s per message):
 *   DB_DOWN, DB_TIMEOUT  every message gets STORE_ERROR at once;
 *   DB_BUSY              (deadlock, serialisation) the call is made again, once;
 *   unique_violation     made without ON CONFLICT, the call met a resend
 *                        (or a temp id twice in the batch) and stored
 *                        nothing: it is made again with ON CONFLICT, and
 *                        the worker keeps asking for it for
 *                        STORE_RESENDS_US (resends come in bursts, after
 *                        reconnections);
 *   DB_ERROR             the statement itself failed on some row: the
 *                        batch is split in halves until that row is alone.
 * The answer's stored rows come in the order of the jobs: walking the
 * jobs, a row answers the first job not yet answered with the same
 * sender, temp id and room; store_chain() gives each its predecessor.
 * Jobs of a locked room get STORE_BUSY; any other job no row answers goes
 * to store_lookup().
 */
static void store_send(struct store_worker *s, struct store_job **jobs, int n,
		       struct store_busy_rooms *busy, int retried)
{
	struct store_job **go = NULL, **done;	/* done: the stored ones, go + n */
	struct store_prev *prev = NULL;
	struct pgarr a[4];
	const char *vals[5];
	char err[512];
	PGresult *r = NULL;
	int64_t t0;
	int m = 0, row = 0, rows, nprev = 0, stored = 0, unknown = 0, resends;

	for (int k = 0; k < 4; k++)
		pgarr_init(&a[k], 0);
	go = malloc((size_t)(n ? 2 * n : 1) * sizeof(*go));
	prev = malloc((size_t)(n ? n : 1) * sizeof(*prev));	/* a room per job at most */
	if (!go || !prev) {
		log_error("store: out of memory for a batch of %d", n);
		store_fail_all(jobs, n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (busy->n && store_room_busy(busy, jobs[i]->room_id)) {
			jobs[i]->status = STORE_BUSY;
			continue;
		}
		go[m++] = jobs[i];
		pgarr_add_uuid(&a[0], jobs[i]->user);
		pgarr_add_i64(&a[1], jobs[i]->room_id);
		pgarr_add_text(&a[2], jobs[i]->message, jobs[i]->message_len);
		pgarr_add_text(&a[3], jobs[i]->temp_id, jobs[i]->temp_len);
	}
	if (!m)
		goto out;
	if (store_arrays_end(a, vals, 4)) {
		log_error("store: out of memory for a batch of %d", m);
		store_fail_all(go, m);
		goto out;
	}
	done = go + n;
	t0 = chrono_mono_us();
again:
	resends = chrono_mono_us() < s->resends_until_us;
	vals[4] = resends ? "t" : "f";
	r = db_exec(&s->db, "ws_insert", 5, vals, err, sizeof(err));
	if (!r) {
		if (s->db.fail == DB_ERROR && !resends && !strcmp(s->db.sqlstate, "23505")) {
			s->resends_until_us = chrono_mono_us() + STORE_RESENDS_US;
			__atomic_fetch_add(&s->stats.resend_retries, 1, __ATOMIC_RELAXED);
			goto again;
		}
		log_warn("store: batch of %d messages failed: %s", m, err);
		if (s->db.fail == DB_BUSY && !retried) {
			retried = 1;
			goto again;
		}
		if (s->db.fail == DB_ERROR && m > 1) {
			/* one bad row must not fail the others: halves, in order */
			store_send(s, go, m / 2, busy, 0);
			store_send(s, go + m / 2, m - m / 2, busy, 0);
			goto out;
		}
		store_fail_all(go, m);
		goto out;
	}
	rows = PQntuples(r);
	for (int i = 0; i < rows; i++) {
		int64_t room = strtoll(PQgetvalue(r, i, 4), NULL, 10);

		switch (atoi(PQgetvalue(r, i, 0))) {
		case 1:
			if (nprev == m)		/* cannot happen: a row per locked room */
				break;
			prev[nprev].room = room;
			prev[nprev++].id = PQgetisnull(r, i, 1) ? 0 :
					   strtoll(PQgetvalue(r, i, 1), NULL, 10);
			break;
		case 2:
			store_room_add_busy(busy, room);
			break;
		}
	}
	for (int i = 0; i < m; i++) {
		struct store_job *j = go[i];

		while (row < rows && strcmp(PQgetvalue(r, row, 0), "0"))
			row++;
		if (row < rows && !strcmp(PQgetvalue(r, row, 2), j->user) &&
		    (size_t)PQgetlength(r, row, 3) == j->temp_len &&
		    !memcmp(PQgetvalue(r, row, 3), j->temp_id, j->temp_len) &&
		    strtoll(PQgetvalue(r, row, 4), NULL, 10) == j->room_id) {
			j->status = STORE_OK;
			j->id = strtoll(PQgetvalue(r, row, 1), NULL, 10);
			/* chained even when created_at is unreadable: it is stored */
			done[stored++] = j;
			store_created_at(j, r, row, 5);
			row++;
		} else if (busy->n && store_room_busy(busy, j->room_id)) {
			j->status = STORE_BUSY;
		} else {
			j->status = STORE_UNKNOWN;
			unknown++;
		}
	}
	while (row < rows && strcmp(PQgetvalue(r, row, 0), "0"))
		row++;
	if (row < rows)		/* cannot happen: rows come in job order */
		log_error("store: stored rows matched no message of the batch");
	store_chain(done, stored, prev, nprev);
	if (unknown)
		store_lookup(s, go, m);
	/* still resends coming (a storm of reconnections): ON CONFLICT stays */
	for (int i = 0; resends && i < m; i++) {
		if (go[i]->status == STORE_DUP) {
			s->resends_until_us = chrono_mono_us() + STORE_RESENDS_US;
			break;
		}
	}
	/* read by the service thread's statistics line: atomics, no lock */
	__atomic_fetch_add(&s->stats.batches, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->stats.stored, (uint64_t)stored, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->stats.busy_us, (uint64_t)(chrono_mono_us() - t0), __ATOMIC_RELAXED);
	metrics_hist_observe(&s->stats.batch_size, &metrics_size_spec, (uint64_t)m);
	metrics_hist_observe(&s->stats.batch_us, &metrics_seconds_spec,
			     (uint64_t)(chrono_mono_us() - t0));
out:
	PQclear(r);
	free(go);
	free(prev);
	for (int k = 0; k < 4; k++)
		pgarr_release(&a[k]);
}

/* One ws_verify query for jobs[0..n). */
static void store_verify(struct store_worker *s, struct store_job **jobs, int n)
{
	struct pgarr a[4];
	const char *vals[4];
	PGresult *r = NULL;
	char err[512];

	for (int k = 0; k < 4; k++)
		pgarr_init(&a[k], 0);
	for (int i = 0; i < n; i++) {
		pgarr_add_i64(&a[0], jobs[i]->id);
		pgarr_add_i64(&a[1], jobs[i]->room_id);
		pgarr_add_uuid(&a[2], jobs[i]->user);
		pgarr_add_text(&a[3], jobs[i]->message, jobs[i]->message_len);
	}
	if (store_arrays_end(a, vals, 4)) {
		log_error("store: out of memory verifying %d messages", n);
		store_fail_all(jobs, n);
		goto out;
	}
	r = db_exec(&s->db, "ws_verify", 4, vals, err, sizeof(err));
	/* read-only: a connection found dead is worth a second try at once */
	if (!r && s->db.fail == DB_DOWN)
		r = db_exec(&s->db, "ws_verify", 4, vals, err, sizeof(err));
	if (!r) {
		log_warn("store: verifying %d peer messages failed: %s", n, err);
		store_fail_all(jobs, n);
		goto out;
	}
	for (int i = 0; i < n; i++)
		jobs[i]->status = STORE_UNKNOWN;
	for (int row = 0; row < PQntuples(r); row++) {
		struct store_job *j = store_row_job(r, row, jobs, n);

		if (!j)
			continue;
		j->status = STORE_OK;
		snprintf(j->created_at, sizeof(j->created_at), "%s", PQgetvalue(r, row, 1));
		j->prev_id = PQgetisnull(r, row, 2) ? 0 : strtoll(PQgetvalue(r, row, 2), NULL, 10);
	}
out:
	PQclear(r);
	for (int k = 0; k < 4; k++)
		pgarr_release(&a[k]);
}

static void store_bans(struct store_worker *s, struct store_job **jobs, int n)
{
	struct pgarr a;
	const char *vals[1];
	PGresult *r = NULL;
	char err[512];

	pgarr_init(&a, (size_t)n * UUID_STR_SIZE);
	for (int i = 0; i < n; i++)
		pgarr_add_uuid(&a, jobs[i]->user);
	vals[0] = pgarr_end(&a);
	if (vals[0]) {
		r = db_exec(&s->db, "ws_bans", 1, vals, err, sizeof(err));
		/* read-only: a connection found dead (Postgres restarted) is tried again */
		if (!r && s->db.fail == DB_DOWN)
			r = db_exec(&s->db, "ws_bans", 1, vals, err, sizeof(err));
	}
	if (!vals[0] || !r) {
		if (vals[0])
			log_warn("store: ban check of %d connection(s) failed: %s", n, err);
		store_fail_all(jobs, n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		jobs[i]->status = STORE_OK;
		for (int row = 0; row < PQntuples(r); row++)
			if (!strcmp(PQgetvalue(r, row, 0), jobs[i]->user))
				jobs[i]->status = STORE_BANNED;
	}
out:
	PQclear(r);
	pgarr_release(&a);
}

static void store_rooms(struct store_worker *s, struct store_job **jobs, int n)
{
	struct pgarr a;
	const char *vals[1];
	PGresult *r = NULL;
	char err[512];

	pgarr_init(&a, 0);
	for (int i = 0; i < n; i++)
		pgarr_add_i64(&a, jobs[i]->room_id);
	vals[0] = pgarr_end(&a);
	if (!vals[0] || !(r = db_exec(&s->db, "ws_rooms", 1, vals, err, sizeof(err)))) {
		if (vals[0])
			log_warn("store: loading rooms failed: %s", err);
		store_fail_all(jobs, n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct store_job *j = jobs[i];
		size_t cnt = 0;

		j->status = STORE_OK;
		for (int row = 0; row < PQntuples(r); row++)
			if (strtoll(PQgetvalue(r, row, 0), NULL, 10) == j->room_id)
				cnt++;
		j->members = cnt ? malloc(cnt * sizeof(*j->members)) : NULL;
		if (cnt && !j->members) {
			j->status = STORE_ERROR;
			continue;
		}
		for (int row = 0; row < PQntuples(r); row++) {
			if (strtoll(PQgetvalue(r, row, 0), NULL, 10) != j->room_id)
				continue;
			j->exists = 1;
			j->base_id = strtoll(PQgetvalue(r, row, 2), NULL, 10);
			if (!PQgetisnull(r, row, 1) &&
			    !uuid_parse(PQgetvalue(r, row, 1), &j->members[j->nmembers]))
				j->nmembers++;
		}
	}
out:
	PQclear(r);
	pgarr_release(&a);
}

/*
 * The sends of this run that came back STORE_BUSY stay with the worker
 * (s->busy, in order) until their room is free or their time is up;
 * every other job of jobs[0..n) is answered. Returns the answers.
 */
static void store_keep_busy(struct store_worker *s, struct store_job **jobs, int n,
			    struct handoff_list *answers)
{
	int64_t now = chrono_mono_us(), oldest = 0;

	handoff_list_init(&s->busy);
	s->nbusy = 0;
	for (int i = 0; i < n; i++) {
		struct store_job *j = jobs[i];

		if (j->type == STORE_SEND && j->status == STORE_BUSY) {
			if (!j->busy_until_us)
				j->busy_until_us = now + s->busy_wait_us;
			if (now < j->busy_until_us) {
				int64_t waited = now - (j->busy_until_us - s->busy_wait_us);

				if (waited > oldest)
					oldest = waited;
				handoff_list_add(&s->busy, &j->link);
				s->nbusy++;
				continue;
			}
			log_warn("store: room %lld stayed locked by another transaction: "
				 "a message of it not stored", (long long)j->room_id);
			j->status = STORE_ERROR;
		}
		handoff_list_add(answers, &j->link);
	}
	if (s->nbusy && log_limit_pass(&s->busy_log, 1000, NULL))
		log_info("store: %d message(s) wait for rooms locked by another transaction "
			 "(the oldest for %lld ms); other rooms go on", s->nbusy,
			 (long long)(oldest / 1000));
}

/*
 * Announce the rooms rooms[0..n) (any order, repeats allowed) whose
 * messages were just stored, for the REST tier's GET /rooms caches
 * (shared/listnotify.h). After the answers went out: a confirmation never
 * waits for it. One failure costs nothing lasting: the next connection
 * announces everything.
 */
static void store_announce(struct store_worker *s, int64_t *rooms, int n)
{
	struct pgarr a;
	const char *vals[2] = { NULL, NULL };
	PGresult *r;
	char err[512];

	if (!n)
		return;
	qsort(rooms, (size_t)n, sizeof(*rooms), store_cmp_i64);
	pgarr_init(&a, (size_t)n * 8);
	for (int i = 0; i < n; i++)
		if (!i || rooms[i] != rooms[i - 1])
			pgarr_add_i64(&a, rooms[i]);
	vals[0] = pgarr_end(&a);
	r = vals[0] ? db_exec(&s->db, "ws_list_notify", 2, vals, err, sizeof(err)) : NULL;
	if (!r) {
		log_warn("store: stored messages' rooms not announced to the REST tier: %s",
			 vals[0] ? err : "out of memory");
		/* a new connection announces everything as changed: now, not later */
		if (vals[0] && s->db.fail == DB_DOWN && !db_ensure(&s->db, err, sizeof(err)))
			log_info("store: announced everything as changed instead");
	}
	PQclear(r);
	pgarr_release(&a);
}

/*
 * Run every job of a batch (a chain) and the sends still waiting for a
 * locked room (first: they are older); answer them, in submission order
 * per kind.
 */
static void store_run(struct store_worker *s, struct handoff_link *batch)
{
	struct store_job **all, *j, **sends, **bans, **loads, **checks;
	struct store_busy_rooms busy = { 0 };
	struct handoff_link *held = s->busy.head;
	struct handoff_list answers;
	struct handoff_link *l;
	int64_t *stored = NULL;
	int n = 0, na = 0, ns = 0, nb = 0, nl = 0, nc = 0, nstored = 0;
	char err[512];

	for (l = batch; l; l = l->next)
		n++;
	n += s->nbusy;
	all = malloc((size_t)n * 5 * sizeof(*all));
	if (!all) {
		log_error("store: out of memory for %d jobs", n);
		handoff_list_init(&answers);
		for (int pass = 0; pass < 2; pass++) {
			l = pass ? batch : held;
			while ((j = handoff_entry(l, struct store_job, link))) {
				l = l->next;
				j->status = STORE_ERROR;
				handoff_list_add(&answers, &j->link);
			}
		}
		handoff_list_init(&s->busy);
		s->nbusy = 0;
		handoff_put(s->out, &answers);
		return;
	}
	sends = all + n;
	bans = sends + n;
	loads = bans + n;
	checks = loads + n;
	for (int pass = 0; pass < 2; pass++) {
		for (l = pass ? batch : held; l; l = l->next) {
			j = handoff_entry(l, struct store_job, link);
			all[na++] = j;
			if (j->type == STORE_SEND)
				sends[ns++] = j;
			else if (j->type == STORE_BANCHECK)
				bans[nb++] = j;
			else if (j->type == STORE_VERIFY)
				checks[nc++] = j;
			else
				loads[nl++] = j;
		}
	}
	/* A new backend after a lost one: tell the service thread first. */
	if (!db_ensure(&s->db, err, sizeof(err))) {
		int pid = PQbackendPID(s->db.conn);

		if (s->last_pid && pid != s->last_pid) {
			struct store_job *rc = store_job_new(STORE_RECONNECTED, NULL);

			if (rc) {
				handoff_list_init(&answers);
				handoff_list_add(&answers, &rc->link);
				handoff_put(s->out, &answers);
			}
		}
		s->last_pid = pid;
	}
	/* peers' messages first: recipients wait for them, and they are cheap */
	for (int i = 0; i < nc; i += s->batch_max)
		store_verify(s, checks + i, nc - i < s->batch_max ? nc - i : s->batch_max);
	for (int i = 0; i < ns; i += s->batch_max)
		store_send(s, sends + i, ns - i < s->batch_max ? ns - i : s->batch_max, &busy, 0);
	free(busy.id);
	if (nb)
		store_bans(s, bans, nb);
	if (nl)
		store_rooms(s, loads, nl);
	/*
	 * The rooms to announce, read before the jobs are handed back. A
	 * resend (STORE_DUP) too: the first attempt may have committed and
	 * lost its connection before it announced.
	 */
	stored = ns ? malloc((size_t)ns * sizeof(*stored)) : NULL;
	for (int i = 0; stored && i < ns; i++)
		if (sends[i]->status == STORE_OK || sends[i]->status == STORE_DUP)
			stored[nstored++] = sends[i]->room_id;
	if (ns && !stored)
		log_warn("store: out of memory: stored messages' rooms not announced");
	handoff_list_init(&answers);
	store_keep_busy(s, all, na, &answers);
	free(all);
	if (answers.head)
		handoff_put(s->out, &answers);
	store_announce(s, stored, nstored);
	free(stored);
}

static void *store_main(void *arg)
{
	struct store_worker *s = arg;
	struct handoff_link *batch;
	struct timespec until;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->in.head && !s->stop && !s->nbusy)
			pthread_cond_wait(&s->cond, &s->mu);
		if (!s->in.head && s->nbusy) {
			/* messages wait for a locked room: again soon, or at the next job */
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += STORE_RETRY_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&s->cond, &s->mu, &until);
		}
		batch = s->in.head;
		handoff_list_init(&s->in);
		pthread_mutex_unlock(&s->mu);
		if (!batch && !s->nbusy)
			break;	/* stop, and nothing left */
		store_run(s, batch);
	}
	db_release(&s->db);
	return NULL;
}

int store_start(struct store *st, const char *conninfo, int timeout_ms, int workers,
		void (*wake)(void *arg), void *arg, char *err, size_t errlen)
{
	memset(st, 0, sizeof(*st));
	handoff_init(&st->out, wake, arg);
	if (workers < 1 || workers > STORE_WORKERS_MAX) {
		snprintf(err, errlen, "database workers: %d is not in 1..%d", workers,
			 STORE_WORKERS_MAX);
		return -1;
	}
	for (int i = 0; i < workers; i++) {
		struct store_worker *s = &st->w[i];

		db_init(&s->db, conninfo, timeout_ms, store_stmts,
			(int)(sizeof(store_stmts) / sizeof(store_stmts[0])));
		/* its stores are announced after COMMIT (store_announce) */
		db_set_session(&s->db, LISTNOTIFY_SESSION, LISTNOTIFY_HELLO);
		pthread_mutex_init(&s->mu, NULL);
		pthread_cond_init(&s->cond, NULL);
		handoff_list_init(&s->in);
		handoff_list_init(&s->busy);
		s->out = &st->out;
		s->batch_max = 2000;
		s->busy_wait_us = (int64_t)timeout_ms * 1000;
		if (handoff_thread_start(&s->thread, store_main, s, "database", err, errlen)) {
			store_stop(st);
			return -1;
		}
		s->started = 1;
		st->n = i + 1;
	}
	return 0;
}

/*
 * The worker of a job: a room's jobs always go to the same one (its
 * stores commit in submission order, which numbers the room's messages
 * in the order they were sent); a ban check to any, by its user.
 */
static struct store_worker *store_worker_of(struct store *st, const struct store_job *j)
{
	uint64_t key;

	if (st->n == 1)
		return &st->w[0];
	if (j->type == STORE_BANCHECK) {
		key = 0;
		for (const char *p = j->user; *p; p++)
			key = key * 31 + (unsigned char)*p;
	} else {
		key = (uint64_t)j->room_id;
	}
	return &st->w[key % (uint64_t)st->n];
}

void store_submit(struct store *st, struct store_job *j)
{
	struct store_worker *s = store_worker_of(st, j);

	pthread_mutex_lock(&s->mu);
	handoff_list_add(&s->in, &j->link);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void store_stats(struct store *st, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < st->n; i++) {
		struct store_worker *s = &st->w[i];

		out->batches += __atomic_load_n(&s->stats.batches, __ATOMIC_RELAXED);
		out->stored += __atomic_load_n(&s->stats.stored, __ATOMIC_RELAXED);
		out->busy_us += __atomic_load_n(&s->stats.busy_us, __ATOMIC_RELAXED);
		out->resend_retries += __atomic_load_n(&s->stats.resend_retries, __ATOMIC_RELAXED);
		metrics_hist_add(&s->stats.batch_size, &out->batch_size);
		metrics_hist_add(&s->stats.batch_us, &out->batch_us);
	}
}

uint64_t store_reconnects(struct store *st)
{
	uint64_t n = 0;

	for (int i = 0; i < st->n; i++)
		n += db_reconnects(&st->w[i].db);
	return n;
}

struct store_job *store_take(struct store *st)
{
	return handoff_entry(handoff_take(&st->out), struct store_job, link);
}

void store_stop(struct store *st)
{
	for (int i = 0; i < STORE_WORKERS_MAX; i++) {
		struct store_worker *s = &st->w[i];

		if (!s->started)
			continue;
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cond);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		s->started = 0;
	}
}
