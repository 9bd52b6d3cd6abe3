#include "listcache.h"
#include "chrono.h"
#include "listnotify.h"
#include "log.h"
#include "tiershm.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LC_MAGIC 0x31434c5254414843ULL	/* "CHATRLC1" */
#define LC_SLOT_BITS 16
#define LC_SLOTS (1u << LC_SLOT_BITS)

/* The change table every worker maps; changed with atomics only. */
struct lc_shm {
	struct tiershm_head head;	/* LC_MAGIC, lc_layout() */
	uint64_t seq;			/* the last sequence number handed out */
	uint64_t all;			/* seq of the last "everything changed" */
	int32_t listener;		/* pid of the worker listening, 0: none */
	int64_t heard_ms;		/* the listener's session last answered (CLOCK_MONOTONIC) */
	uint64_t slot[LC_SLOTS];	/* seq of the last change hashing here */
};

struct lc_entry {
	char user[40];		/* "" = free */
	uint64_t ticket;	/* seq read before the query ran */
	int64_t born_ms;	/* when (chrono_mono_us / 1000) */
	uint32_t *slots;	/* the user's slot, then each room's */
	size_t nslots;
	char *body;
	size_t len;
};

static uint64_t lc_layout(void)
{
	char sizes[64];

	snprintf(sizes, sizeof(sizes), "listcache/%zu/%u", sizeof(struct lc_shm), LC_SLOTS);
	return tiershm_hash(TIERSHM_HASH0, sizes);
}

static uint32_t lc_room_slot(long long room)
{
	return (uint32_t)(((uint64_t)room * 0x9e3779b97f4a7c15ULL) >> (64 - LC_SLOT_BITS));
}

/* FNV-1a of the id, case folded (ids come from tokens and from Postgres). */
static uint32_t lc_user_slot(const char *user)
{
	uint64_t h = TIERSHM_HASH0 ^ 0x75;	/* apart from rooms' */

	for (const char *s = user; *s; s++)
		h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 0x100000001b3ULL;
	return (uint32_t)((h ^ (h >> 32)) & (LC_SLOTS - 1));
}

/* A new sequence number, stored as the slot's when it is the newer. */
static void lc_bump(struct lc_shm *s, uint64_t *slot)
{
	uint64_t n = __atomic_add_fetch(&s->seq, 1, __ATOMIC_SEQ_CST);
	uint64_t cur = __atomic_load_n(slot, __ATOMIC_SEQ_CST);

	/* the newest wins: a slower bumper must not lower the slot */
	while (cur < n && !__atomic_compare_exchange_n(slot, &cur, n, 0, __ATOMIC_SEQ_CST,
						       __ATOMIC_SEQ_CST))
		;
}

void listcache_room_changed(struct listcache *c, long long room)
{
	if (c && c->shm)
		lc_bump(c->shm, &c->shm->slot[lc_room_slot(room)]);
}

void listcache_user_changed(struct listcache *c, const char *user)
{
	if (c && c->shm && user)
		lc_bump(c->shm, &c->shm->slot[lc_user_slot(user)]);
}

void listcache_notified(struct listcache *c, const char *payload)
{
	char id[64];
	const char *p;

	if (!c || !c->shm)
		return;
	if (payload[0] != 'r' && payload[0] != 'u')
		goto everything;
	if (payload[1] != ':')
		goto everything;
	for (p = payload + 2; *p;) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n >= sizeof(id))
			goto everything;
		memcpy(id, p, n);
		id[n] = '\0';
		if (payload[0] == 'r') {
			char *end;
			long long room = strtoll(id, &end, 10);

			if (*end)
				goto everything;
			listcache_room_changed(c, room);
		} else {
			listcache_user_changed(c, id);
		}
		p += n + (p[n] == ',');
	}
	return;
everything:
	lc_bump(c->shm, &c->shm->all);
}

/* The listener's lock on the first byte of the lock file (fcntl: F_GETLK names its holder). */
static int lc_lock(int fd, int cmd, short type, pid_t *holder)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	int rc = fcntl(fd, cmd, &fl);

	if (holder)
		*holder = rc == 0 && fl.l_type != F_UNLCK ? fl.l_pid : 0;
	return rc;
}

int listcache_live(const struct listcache *c)
{
	pid_t pid, holder;

	if (!c || !c->shm)
		return 0;
	pid = __atomic_load_n(&c->shm->listener, __ATOMIC_SEQ_CST);
	if (pid <= 0)
		return 0;
	/* a listener stuck (a session gone silent, a frozen process) */
	if (chrono_mono_us() / 1000 - __atomic_load_n(&c->shm->heard_ms, __ATOMIC_SEQ_CST) >
	    LISTCACHE_DEAF_MS)
		return 0;
	/* this process: its own thread says (the pid may be a dead one's, reused) */
	if (pid == getpid())
		return __atomic_load_n(&c->listening, __ATOMIC_SEQ_CST);
	/*
	 * Another worker's pid: listening only while that process holds the
	 * lock. One that died (SIGKILL) had no time to clear its pid, but the
	 * kernel released its lock (a zombie's pid would still answer kill()).
	 */
	return c->lock_fd >= 0 && !lc_lock(c->lock_fd, F_GETLK, F_WRLCK, &holder) &&
	       holder == pid;
}

/* The listener's session answered (a notification, a ping). */
static void lc_heard(struct listcache *c)
{
	__atomic_store_n(&c->shm->heard_ms, chrono_mono_us() / 1000, __ATOMIC_SEQ_CST);
}

void listcache_set_live(struct listcache *c, int live)
{
	/* listening again: what was sent while it was not is lost */
	if (live) {
		lc_bump(c->shm, &c->shm->all);
		lc_heard(c);
	}
	__atomic_store_n(&c->listening, live, __ATOMIC_SEQ_CST);
	__atomic_store_n(&c->shm->listener, live ? (int32_t)getpid() : 0, __ATOMIC_SEQ_CST);
}

/* ---- the listener thread ---- */

/* Wait up to ms for the connection's socket (or -1: none) or a stop. 1 on stop. */
static int lc_wait(struct listcache *c, int sock, int ms, int *readable)
{
	struct pollfd p[2] = { { c->stop_fd[0], POLLIN, 0 }, { sock, POLLIN, 0 } };

	*readable = 0;
	if (poll(p, sock >= 0 ? 2 : 1, ms) < 0 && errno != EINTR)
		return 0;
	if (p[0].revents)
		return 1;
	*readable = sock >= 0 && p[1].revents != 0;
	return 0;
}

/*
 * The answer to a query sent with PQsendQuery, waiting at most ms and
 * watching the stop pipe: 0 when it came and succeeded, 1 on a stop, -1
 * when it failed or did not come in time (a session gone silent).
 */
static int lc_await(struct listcache *c, PGconn *pg, int ms)
{
	int64_t deadline = chrono_mono_us() / 1000 + ms;
	int readable, ok = 1;
	PGresult *r;

	while (PQisBusy(pg)) {
		int64_t left = deadline - chrono_mono_us() / 1000;

		if (left <= 0)
			return -1;
		if (lc_wait(c, PQsocket(pg), (int)left, &readable))
			return 1;
		if (readable && !PQconsumeInput(pg))
			return -1;
	}
	while ((r = PQgetResult(pg))) {
		ok &= PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	}
	return ok ? 0 : -1;
}

/* Connect and LISTEN; NULL with the reason in err. */
static PGconn *lc_connect(struct listcache *c, char *err, size_t errlen)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			       NULL };
	const char *vals[] = { c->conninfo, "2", "rest-fcgi list cache", "5", "2", "2", "10000",
			       NULL };
	PGconn *pg = PQconnectdbParams(keys, vals, 1);
	PGresult *res;

	if (PQstatus(pg) != CONNECTION_OK) {
		snprintf(err, errlen, "%s", PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	res = PQexec(pg, "LISTEN " LISTNOTIFY_CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "LISTEN: %s", PQerrorMessage(pg));
		PQclear(res);
		PQfinish(pg);
		return NULL;
	}
	PQclear(res);
	return pg;
}

/* Hand every notification received to listcache_notified. */
static void lc_drain(struct listcache *c, PGconn *pg)
{
	PGnotify *n;

	while ((n = PQnotifies(pg))) {
		listcache_notified(c, n->extra);
		PQfreemem(n);
	}
}

/*
 * The worker whose thread holds the lock listens for the tier (one
 * connection per host, not per worker: each notification wakes every
 * listening backend and its client, which cost POST /rooms a quarter of
 * its throughput with 8 listeners). The others wait for the lock: it is
 * theirs the moment the listener's process ends, however it ends.
 */
/*
 * Serve one listening session until it fails (0) or a stop (1): hand the
 * notifications over, and after LISTCACHE_PING_MS of quiet ask whether
 * the session is still there, waiting no longer than that for the answer.
 */
static int lc_session(struct listcache *c, PGconn *pg)
{
	int readable, rc;

	for (;;) {
		if (lc_wait(c, PQsocket(pg), LISTCACHE_PING_MS, &readable))
			return 1;
		if (readable)
			rc = PQconsumeInput(pg) ? 0 : -1;
		else
			rc = PQsendQuery(pg, "SELECT 1") ? lc_await(c, pg, LISTCACHE_PING_MS) : -1;
		if (rc)
			return rc == 1;
		lc_heard(c);
		lc_drain(c, pg);
	}
}

static void *lc_listen(void *arg)
{
	struct listcache *c = arg;
	char err[512], why[512] = "";
	int readable, stop = 0;

	while (lc_lock(c->lock_fd, F_SETLK, F_WRLCK, NULL)) {
		if (lc_wait(c, -1, LISTCACHE_ELECT_MS, &readable))
			return NULL;
	}
	/* until this one listens: whoever set the pid before is gone */
	listcache_set_live(c, 0);
	while (!stop) {
		PGconn *pg = lc_connect(c, err, sizeof(err));

		if (!pg) {
			err[strcspn(err, "\n")] = '\0';
			if (strcmp(err, why))	/* once per outage, not every second */
				log_warn("GET /rooms cache off until Postgres answers: %s", err);
			snprintf(why, sizeof(why), "%s", err);
			stop = lc_wait(c, -1, 1000, &readable);
			continue;
		}
		if (why[0])
			log_info("GET /rooms cache on again (listening)");
		else
			log_info("listening for GET /rooms changes for the tier's workers");
		why[0] = '\0';
		listcache_set_live(c, 1);
		stop = lc_session(c, pg);
		listcache_set_live(c, 0);
		if (!stop) {
			snprintf(why, sizeof(why), "%s", PQerrorMessage(pg));
			why[strcspn(why, "\n")] = '\0';
			log_warn("GET /rooms cache off: the listening connection failed: %s", why);
		}
		PQfinish(pg);
	}
	lc_lock(c->lock_fd, F_SETLK, F_UNLCK, NULL);	/* the next worker takes over */
	return NULL;
}

/* ---- the request thread's side ---- */

int listcache_open(struct listcache *c, const char *file, int budget_kb,
		   const char *conninfo, char *err, size_t errlen)
{
	sigset_t all, old;
	char lock[600];
	void *p;
	int rc;

	memset(c, 0, sizeof(*c));
	c->stop_fd[0] = c->stop_fd[1] = c->lock_fd = -1;
	if (!file || !*file || budget_kb <= 0)
		return 0;
	if (tiershm_map(file, "CHAT_REST_CACHE_FILE", sizeof(struct lc_shm), LC_MAGIC,
			lc_layout(), NULL, NULL, &p, err, errlen))
		return -1;
	c->shm = p;
	c->budget = (size_t)budget_kb * 1024;
	c->max_age_ms = LISTCACHE_MAX_AGE_MS;
	c->e = calloc(LISTCACHE_ENTRIES, sizeof(*c->e));
	if (!c->e) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	c->on = 1;
	if (!conninfo)
		return 0;	/* unit tests: they say when it is live */
	snprintf(c->conninfo, sizeof(c->conninfo), "%s", conninfo);
	snprintf(lock, sizeof(lock), "%s.listener", file);
	c->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (c->lock_fd < 0) {
		snprintf(err, errlen, "CHAT_REST_CACHE_FILE: cannot open '%s': %s", lock,
			 strerror(errno));
		goto fail;
	}
	if (pipe2(c->stop_fd, O_CLOEXEC)) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	/* signals are the request thread's (SIGTERM ends the accept loop) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, NULL, lc_listen, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		snprintf(err, errlen, "listener thread: %s", strerror(rc));
		goto fail;
	}
	c->thread_started = 1;
	return 0;
fail:
	listcache_close(c);
	return -1;
}

static void lc_free(struct listcache *c, struct lc_entry *e)
{
	c->bytes -= e->len + e->nslots * sizeof(*e->slots);
	free(e->body);
	free(e->slots);
	memset(e, 0, sizeof(*e));
}

void listcache_close(struct listcache *c)
{
	if (c->thread_started) {
		(void)!write(c->stop_fd[1], "x", 1);
		pthread_join(c->thread, NULL);
		c->thread_started = 0;
	}
	for (int i = 0; i < 2; i++)
		if (c->stop_fd[i] >= 0)
			close(c->stop_fd[i]);
	c->stop_fd[0] = c->stop_fd[1] = -1;
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	c->lock_fd = -1;
	if (c->e) {
		for (size_t i = 0; i < LISTCACHE_ENTRIES; i++)
			if (c->e[i].user[0])
				lc_free(c, &c->e[i]);
		free(c->e);
		c->e = NULL;
	}
	if (c->shm)
		munmap(c->shm, sizeof(*c->shm));
	c->shm = NULL;
	c->on = 0;
}

static struct lc_entry *lc_entry_of(struct listcache *c, const char *user)
{
	uint32_t h = lc_user_slot(user) * 2654435761u;

	return &c->e[(h >> 7) % LISTCACHE_ENTRIES];
}

const char *listcache_get(struct listcache *c, const char *user, size_t *len)
{
	struct lc_entry *e;
	struct lc_shm *s;

	if (!c || !c->on || !user)
		return NULL;
	e = lc_entry_of(c, user);
	s = c->shm;
	if (!e->user[0] || strcasecmp(e->user, user) || !listcache_live(c))
		goto miss;
	if (__atomic_load_n(&s->all, __ATOMIC_SEQ_CST) > e->ticket ||
	    chrono_mono_us() / 1000 - e->born_ms > c->max_age_ms)
		goto stale;
	for (size_t i = 0; i < e->nslots; i++)
		if (__atomic_load_n(&s->slot[e->slots[i]], __ATOMIC_SEQ_CST) > e->ticket)
			goto stale;
	c->hits++;
	*len = e->len;
	return e->body;
stale:
	lc_free(c, e);
miss:
	return NULL;
}

uint64_t listcache_begin(struct listcache *c)
{
	if (!c || !c->on || !listcache_live(c))
		return 0;
	return __atomic_load_n(&c->shm->seq, __ATOMIC_SEQ_CST);
}

void listcache_put(struct listcache *c, uint64_t ticket, const char *user,
		   const long long *rooms, size_t n, const char *body, size_t len)
{
	struct lc_entry *e;
	struct lc_shm *s;
	uint32_t *slots;
	char *copy;
	size_t need = len + (n + 1) * sizeof(*slots);
	/* kept now, its query just before: the age a hit checks */
	int64_t born_ms = chrono_mono_us() / 1000;

	if (!c || !c->on || !ticket || !user || strlen(user) >= sizeof(e->user) ||
	    need > c->budget / 8)
		return;
	e = lc_entry_of(c, user);
	if (e->user[0])
		lc_free(c, e);
	if (c->bytes + need > c->budget || !listcache_live(c))
		return;
	slots = malloc((n + 1) * sizeof(*slots));
	copy = malloc(len ? len : 1);
	if (!slots || !copy) {
		free(slots);
		free(copy);
		return;
	}
	slots[0] = lc_user_slot(user);
	for (size_t i = 0; i < n; i++)
		slots[i + 1] = lc_room_slot(rooms[i]);
	/* changed while the query ran: it may not have seen the change */
	s = c->shm;
	for (size_t i = 0; i < n + 1; i++)
		if (__atomic_load_n(&s->slot[slots[i]], __ATOMIC_SEQ_CST) > ticket)
			goto drop;
	if (__atomic_load_n(&s->all, __ATOMIC_SEQ_CST) > ticket)
		goto drop;
	memcpy(copy, body, len);
	snprintf(e->user, sizeof(e->user), "%s", user);
	e->ticket = ticket;
	e->born_ms = born_ms;
	e->slots = slots;
	e->nslots = n + 1;
	e->body = copy;
	e->len = len;
	c->bytes += need;
	return;
drop:
	free(slots);
	free(copy);
}
