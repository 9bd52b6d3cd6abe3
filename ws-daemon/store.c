#include "store.h"
#include "chrono.h"
#include "log.h"
#include "pgarr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_SETTLE "2 seconds"	/* longer than any event takes to travel */

static const struct db_stmt store_stmts[] = {
	/* the stored rows, in input order (sql/006_ws_store_rows.sql) */
	{ "ws_store",
	  "SELECT id, sender_id::text, client_temp_id, room_id, created_at, prev_id "
	  "FROM chat_ws_store($1::uuid[], $2::bigint[], $3::text[], $4::text[])" },
	/* what became of the rows ws_store did not store */
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
	 * and its predecessor in the room, found as chat_ws_store finds it
	 * (one step back on the (room_id, id) index; none when a foreign
	 * writer stored that one, sql/006_ws_store_rows.sql). The room's messages
	 * commit in id order (chat_ws_store locks the room), so once a
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
 * The jobs of a batch that chat_ws_store did not store (jobs[i] with
 * status STORE_UNKNOWN): one chat_ws_lookup call says why, or which
 * message a resend already has.
 */
static void store_lookup(struct store *s, struct store_job **jobs, int n)
{
	struct pgarr a[2];
	const char *vals[2];
	struct store_job **left = malloc((size_t)n * sizeof(*left));
	PGresult *r = NULL;
	char err[512];
	int m = 0;

	for (int k = 0; k < 2; k++)
		pgarr_init(&a[k], 0);
	if (!left)
		goto fail;
	for (int i = 0; i < n; i++) {
		if (jobs[i]->status != STORE_UNKNOWN)
			continue;
		left[m++] = jobs[i];
		pgarr_add_uuid(&a[0], jobs[i]->user);
		pgarr_add_text(&a[1], jobs[i]->temp_id, jobs[i]->temp_len);
	}
	if (store_arrays_end(a, vals, 2))
		goto fail;
	r = db_exec(&s->db, "ws_lookup", 2, vals, err, sizeof(err));
	if (!r) {
		log_warn("store: looking up %d unstored messages failed: %s", m, err);
		goto fail;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		struct store_job *j = store_row_job(r, row, left, m);

		if (!j)
			continue;
		j->status = (enum store_status)atoi(PQgetvalue(r, row, 1));
		if (j->status != STORE_DUP)
			continue;
		j->id = strtoll(PQgetvalue(r, row, 2), NULL, 10);
		j->room_id = strtoll(PQgetvalue(r, row, 3), NULL, 10);
		store_created_at(j, r, row, 4);
	}
	goto out;
fail:
	/* whatever is still unknown failed: "server error", never a silent loss */
	;
out:
	for (int i = 0; i < n; i++)
		if (jobs[i]->status == STORE_UNKNOWN)
			jobs[i]->status = STORE_ERROR;
	PQclear(r);
	free(left);
	for (int k = 0; k < 2; k++)
		pgarr_release(&a[k]);
}

/*
 * One chat_ws_store call for jobs[0..n). Its rows are the messages stored
 * now, in the order of the jobs: walking both, a row answers the first
 * job not yet answered with the same sender, temp id and room. Jobs no
 * row answers go to store_lookup().
 */
static void store_send(struct store *s, struct store_job **jobs, int n)
{
	struct pgarr a[4];
	const char *vals[4];
	char err[512];
	PGresult *r = NULL;
	int64_t t0;
	int row = 0, rows, unknown = 0;

	for (int k = 0; k < 4; k++)
		pgarr_init(&a[k], 0);
	for (int i = 0; i < n; i++) {
		pgarr_add_uuid(&a[0], jobs[i]->user);
		pgarr_add_i64(&a[1], jobs[i]->room_id);
		pgarr_add_text(&a[2], jobs[i]->message, jobs[i]->message_len);
		pgarr_add_text(&a[3], jobs[i]->temp_id, jobs[i]->temp_len);
	}
	if (store_arrays_end(a, vals, 4)) {
		log_error("store: out of memory for a batch of %d", n);
		store_fail_all(jobs, n);
		goto out;
	}
	t0 = chrono_mono_us();
	r = db_exec(&s->db, "ws_store", 4, vals, err, sizeof(err));
	if (!r) {
		log_warn("store: batch of %d messages failed: %s", n, err);
		if (s->db.fail != DB_DOWN && n > 1) {
			/* one bad row must not fail the others: one by one */
			for (int i = 0; i < n; i++)
				store_send(s, jobs + i, 1);
			goto out;
		}
		store_fail_all(jobs, n);
		goto out;
	}
	rows = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct store_job *j = jobs[i];

		if (row < rows && !strcmp(PQgetvalue(r, row, 1), j->user) &&
		    strlen(PQgetvalue(r, row, 2)) == j->temp_len &&
		    !memcmp(PQgetvalue(r, row, 2), j->temp_id, j->temp_len) &&
		    strtoll(PQgetvalue(r, row, 3), NULL, 10) == j->room_id) {
			j->status = STORE_OK;
			j->id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
			j->prev_id = PQgetisnull(r, row, 5) ? 0 :
				     strtoll(PQgetvalue(r, row, 5), NULL, 10);
			store_created_at(j, r, row, 4);
			row++;
		} else {
			j->status = STORE_UNKNOWN;
			unknown++;
		}
	}
	if (row < rows)		/* cannot happen: rows come in job order */
		log_error("store: %d stored rows matched no message of the batch", rows - row);
	if (unknown)
		store_lookup(s, jobs, n);
	/* read by the service thread's statistics line: atomics, no lock */
	__atomic_fetch_add(&s->stats.batches, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->stats.stored, (uint64_t)(n - unknown), __ATOMIC_RELAXED);
	__atomic_fetch_add(&s->stats.busy_us, (uint64_t)(chrono_mono_us() - t0), __ATOMIC_RELAXED);
out:
	PQclear(r);
	for (int k = 0; k < 4; k++)
		pgarr_release(&a[k]);
}

/* One ws_verify query for jobs[0..n). */
static void store_verify(struct store *s, struct store_job **jobs, int n)
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

static void store_bans(struct store *s, struct store_job **jobs, int n)
{
	struct pgarr a;
	const char *vals[1];
	PGresult *r = NULL;
	char err[512];

	pgarr_init(&a, (size_t)n * UUID_STR_SIZE);
	for (int i = 0; i < n; i++)
		pgarr_add_uuid(&a, jobs[i]->user);
	vals[0] = pgarr_end(&a);
	if (!vals[0] || !(r = db_exec(&s->db, "ws_bans", 1, vals, err, sizeof(err)))) {
		if (vals[0])
			log_warn("store: ban check failed: %s", err);
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

static void store_rooms(struct store *s, struct store_job **jobs, int n)
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

/* Run every job of a batch (a chain); answer them, in submission order per kind. */
static void store_run(struct store *s, struct handoff_link *batch)
{
	struct store_job **all, *j, **sends, **bans, **loads, **checks;
	struct handoff_list answers;
	struct handoff_link *l;
	int n = 0, ns = 0, nb = 0, nl = 0, nc = 0;
	char err[512];

	for (l = batch; l; l = l->next)
		n++;
	all = malloc((size_t)n * 5 * sizeof(*all));
	if (!all) {
		log_error("store: out of memory for %d jobs", n);
		handoff_list_init(&answers);
		while ((j = handoff_entry(batch, struct store_job, link))) {
			batch = batch->next;
			j->status = STORE_ERROR;
			handoff_list_add(&answers, &j->link);
		}
		handoff_put(&s->out, &answers);
		return;
	}
	sends = all + n;
	bans = sends + n;
	loads = bans + n;
	checks = loads + n;
	for (l = batch; l; l = l->next) {
		j = handoff_entry(l, struct store_job, link);
		all[ns + nb + nl + nc] = j;
		if (j->type == STORE_SEND)
			sends[ns++] = j;
		else if (j->type == STORE_BANCHECK)
			bans[nb++] = j;
		else if (j->type == STORE_VERIFY)
			checks[nc++] = j;
		else
			loads[nl++] = j;
	}
	/* A new backend after a lost one: tell the service thread first. */
	if (!db_ensure(&s->db, err, sizeof(err))) {
		int pid = PQbackendPID(s->db.conn);

		if (s->last_pid && pid != s->last_pid) {
			struct store_job *rc = store_job_new(STORE_RECONNECTED, NULL);

			if (rc) {
				handoff_list_init(&answers);
				handoff_list_add(&answers, &rc->link);
				handoff_put(&s->out, &answers);
			}
		}
		s->last_pid = pid;
	}
	/* peers' messages first: recipients wait for them, and they are cheap */
	for (int i = 0; i < nc; i += s->batch_max)
		store_verify(s, checks + i, nc - i < s->batch_max ? nc - i : s->batch_max);
	for (int i = 0; i < ns; i += s->batch_max)
		store_send(s, sends + i, ns - i < s->batch_max ? ns - i : s->batch_max);
	if (nb)
		store_bans(s, bans, nb);
	if (nl)
		store_rooms(s, loads, nl);
	handoff_list_init(&answers);
	for (int i = 0; i < n; i++)
		handoff_list_add(&answers, &all[i]->link);
	free(all);
	handoff_put(&s->out, &answers);
}

static void *store_main(void *arg)
{
	struct store *s = arg;
	struct handoff_link *batch;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (!s->in.head && !s->stop)
			pthread_cond_wait(&s->cond, &s->mu);
		batch = s->in.head;
		handoff_list_init(&s->in);
		pthread_mutex_unlock(&s->mu);
		if (!batch)
			break;	/* stop, and nothing left */
		store_run(s, batch);
	}
	db_release(&s->db);
	return NULL;
}

int store_start(struct store *s, const char *conninfo, int timeout_ms,
		void (*wake)(void *arg), void *arg, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	db_init(&s->db, conninfo, timeout_ms, store_stmts,
		(int)(sizeof(store_stmts) / sizeof(store_stmts[0])));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
	handoff_list_init(&s->in);
	handoff_init(&s->out, wake, arg);
	s->batch_max = 2000;
	if (handoff_thread_start(&s->thread, store_main, s, "database", err, errlen))
		return -1;
	s->started = 1;
	return 0;
}

void store_submit(struct store *s, struct store_job *j)
{
	pthread_mutex_lock(&s->mu);
	handoff_list_add(&s->in, &j->link);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void store_stats(struct store *s, struct store_stats *out)
{
	out->batches = __atomic_load_n(&s->stats.batches, __ATOMIC_RELAXED);
	out->stored = __atomic_load_n(&s->stats.stored, __ATOMIC_RELAXED);
	out->busy_us = __atomic_load_n(&s->stats.busy_us, __ATOMIC_RELAXED);
}

struct store_job *store_take(struct store *s)
{
	return handoff_entry(handoff_take(&s->out), struct store_job, link);
}

void store_stop(struct store *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->started = 0;
}
