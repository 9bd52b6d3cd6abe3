/*
 * listener - accepting connections for lws, a bounded number at a time
 * (listener.h).
 */
#include "listener.h"
#include "handoff.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTENER_BACKLOG 65535		/* the kernel caps it at somaxconn */
#define LISTENER_RETRY_MS 100		/* after EMFILE, ENOBUFS ... */
#define LISTENER_BATCH 64		/* accepted ones handed over together */

int listener_open(struct listener *l, const char *addr, int port, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char service[16];
	int fd = -1, one = 1, rc;

	memset(l, 0, sizeof(*l));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(addr && *addr ? addr : NULL, service, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", addr, port, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, LISTENER_BACKLOG)) {
		snprintf(err, errlen, "cannot listen on %s:%d: %s", addr, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	l->fd[l->nsocks++] = fd;
	return 0;
}

int listener_open_unix(struct listener *l, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path) || l->nsocks >= LISTENER_SOCKS) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
			 l->nsocks >= LISTENER_SOCKS ? "too many sockets" : "path too long");
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* a socket file left by an earlier run; anything else makes bind fail */
	if (fd >= 0) {
		struct stat st;

		if (!lstat(path, &st) && S_ISSOCK(st.st_mode))
			unlink(path);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0666) ||
	    listen(fd, LISTENER_BACKLOG)) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	l->fd[l->nsocks++] = fd;
	return 0;
}

int listener_open_inherited(struct listener *l, char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	int fd = 3, yes = 0, type = 0, fl;
	socklen_t len = sizeof(yes);

	/*
	 * The variables stay: the daemon runs no child they could mislead,
	 * and its database threads already run (unsetenv would race their
	 * getenv when libpq connects).
	 */
	if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	if (strcmp(fds, "1") != 0 || l->nsocks >= LISTENER_SOCKS) {
		snprintf(err, errlen, "socket activation: %s sockets passed, one expected", fds);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) || !yes ||
	    (len = sizeof(type), getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len)) ||
	    type != SOCK_STREAM) {
		snprintf(err, errlen, "socket activation: descriptor 3 is not a listening stream socket");
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC)) {
		snprintf(err, errlen, "socket activation: %s", strerror(errno));
		return -1;
	}
	l->fd[l->nsocks++] = fd;
	return 1;
}

/* (*v)[used] = fd, growing *v (*cap entries) when full; -1 when it cannot. */
static int listener_fd_put(int **v, size_t used, size_t *cap, int fd)
{
	if (used == *cap) {
		size_t c = *cap ? 2 * *cap : 1024;
		int *nv = realloc(*v, c * sizeof(*nv));

		if (!nv)
			return -1;
		*v = nv;
		*cap = c;
	}
	(*v)[used] = fd;
	return 0;
}

/* Queues fd for lws (q[qhead .. qhead + qlen)); -1 when it cannot grow. */
static int listener_push(struct listener *l, int fd)
{
	if (l->qhead && l->qhead + l->qlen == l->qcap) {	/* room at the front: slide down */
		memmove(l->q, l->q + l->qhead, l->qlen * sizeof(*l->q));
		l->qhead = 0;
	}
	if (listener_fd_put(&l->q, l->qhead + l->qlen, &l->qcap, fd))
		return -1;
	l->qlen++;
	return 0;
}

/* Hands queued connections to lws while fewer than max_pending are. */
static void listener_hand_over(struct listener *l)
{
	while (l->qlen && l->pending < l->max_pending) {
		int fd = l->q[l->qhead++];
		struct lws *wsi;

		if (!--l->qlen)
			l->qhead = 0;
		/* lws closes fd when it cannot take it */
		wsi = lws_adopt_socket_vhost(l->vh, fd);
		if (!wsi)
			continue;
		lws_set_opaque_user_data(wsi, l);
		l->pending++;
		l->accepted++;
	}
	/* the rest when places free up (listener_done) */
}

/*
 * Accept thread: n accepted descriptors to the service thread (inbox),
 * and a wake-up. One that cannot be queued (no memory) is closed.
 */
static void listener_deliver(struct listener *l, const int *fd, size_t n)
{
	size_t lost = 0;

	if (!n)
		return;
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < n; i++) {
		if (!listener_fd_put(&l->inbox, l->ninbox, &l->inbox_cap, fd[i])) {
			l->ninbox++;
		} else {
			close(fd[i]);
			lost++;
		}
	}
	pthread_mutex_unlock(&l->mu);
	if (lost)
		log_warn("accept: out of memory queueing connections; %zu closed", lost);
	ev_async_send(l->loop, &l->wake);
}

/*
 * Accept thread: everything queued in the kernel on socket lfd. -1 when
 * out of descriptors or memory (errno): accept again shortly.
 */
static int listener_accept(struct listener *l, int lfd)
{
	int got[LISTENER_BATCH], n = 0, one = 1, rc = 0;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			if (lfd == l->fd[0])	/* the TCP port (listener_open) */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			got[n++] = fd;
			if (n == LISTENER_BATCH) {
				listener_deliver(l, got, (size_t)n);
				n = 0;
			}
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			unsigned long skipped;

			if (log_limit_pass(&l->log, 10000, &skipped))
				log_warn("accept: %s; accepting again in %d ms (%lu such lines"
					 " skipped)", strerror(errno), LISTENER_RETRY_MS, skipped);
			rc = -1;
		}
		break;
	}
	listener_deliver(l, got, (size_t)n);
	return rc;
}

/* The accept thread: accepts until the stop pipe is written to. */
static void *listener_run(void *arg)
{
	struct listener *l = arg;
	struct pollfd p[1 + LISTENER_SOCKS];
	int paused = 0;

	p[0].fd = l->stop[0];
	p[0].events = POLLIN;
	for (unsigned i = 0; i < l->nsocks; i++) {
		p[1 + i].fd = l->fd[i];
		p[1 + i].events = POLLIN;
	}
	for (;;) {
		/* paused (EMFILE ...): only the stop pipe, for LISTENER_RETRY_MS */
		int rc = poll(p, paused ? 1 : 1 + l->nsocks, paused ? LISTENER_RETRY_MS : -1);

		if (rc < 0 && errno != EINTR) {
			unsigned long skipped;

			if (log_limit_pass(&l->log, 10000, &skipped))
				log_error("accept: poll: %s (%lu such lines skipped)",
					  strerror(errno), skipped);
			paused = 1;
			continue;
		}
		if (rc > 0 && p[0].revents)
			break;
		if (paused) {
			paused = 0;
			continue;
		}
		for (unsigned i = 0; rc > 0 && i < l->nsocks; i++)
			if (p[1 + i].revents && listener_accept(l, l->fd[i]))
				paused = 1;
	}
	return NULL;
}

/* Service thread: what the accept thread queued, into q, then to lws. */
static void listener_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct listener *l = w->data;
	size_t lost = 0;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < l->ninbox; i++) {
		if (listener_push(l, l->inbox[i])) {
			close(l->inbox[i]);
			lost++;
		}
	}
	l->ninbox = 0;
	pthread_mutex_unlock(&l->mu);
	if (lost)
		log_warn("accept: out of memory queueing connections; %zu closed", lost);
	listener_hand_over(l);
}

/* Due at once after listener_done(): in the next loop pass, outside lws. */
static void listener_on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	listener_hand_over(w->data);
}

int listener_start(struct listener *l, struct ev_loop *loop, struct lws_vhost *vh,
		   unsigned max_pending, char *err, size_t errlen)
{
	l->loop = loop;
	l->vh = vh;
	l->max_pending = max_pending ? max_pending : 1;
	ev_timer_init(&l->handover, listener_on_kick, 0., 0.);
	l->handover.data = l;
	ev_async_init(&l->wake, listener_on_wake);
	l->wake.data = l;
	ev_async_start(loop, &l->wake);
	pthread_mutex_init(&l->mu, NULL);
	if (pipe2(l->stop, O_CLOEXEC)) {
		snprintf(err, errlen, "cannot start the accept thread: pipe: %s", strerror(errno));
		goto fail;
	}
	if (handoff_thread_start(&l->thread, listener_run, l, "accept", err, errlen)) {
		for (int i = 0; i < 2; i++)
			close(l->stop[i]);
		goto fail;
	}
	l->started = 1;
	return 0;
fail:
	ev_async_stop(loop, &l->wake);
	pthread_mutex_destroy(&l->mu);
	l->stop[0] = l->stop[1] = -1;
	l->loop = NULL;
	return -1;
}

void listener_done(struct listener *l, struct lws *wsi)
{
	if (!wsi || lws_get_opaque_user_data(wsi) != l)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	l->pending--;
	/* not from inside lws's callback: a timer due at once */
	if (l->qlen && l->nsocks && l->loop && !ev_is_active(&l->handover)) {
		ev_timer_set(&l->handover, 0., 0.);
		ev_timer_start(l->loop, &l->handover);
	}
}

void listener_close(struct listener *l)
{
	if (l->started) {
		char c = 0;

		while (write(l->stop[1], &c, 1) < 0 && errno == EINTR)
			;
		pthread_join(l->thread, NULL);
		l->started = 0;
	}
	for (unsigned i = 0; i < l->nsocks; i++)
		close(l->fd[i]);
	l->nsocks = 0;
	if (l->loop) {		/* listener_start succeeded */
		ev_async_stop(l->loop, &l->wake);
		ev_timer_stop(l->loop, &l->handover);
		for (int i = 0; i < 2; i++)
			if (l->stop[i] >= 0)
				close(l->stop[i]);
		pthread_mutex_destroy(&l->mu);
		l->loop = NULL;
	}
	for (size_t i = 0; i < l->ninbox; i++)
		close(l->inbox[i]);
	free(l->inbox);
	l->inbox = NULL;
	l->ninbox = l->inbox_cap = 0;
	for (size_t i = 0; i < l->qlen; i++)
		close(l->q[l->qhead + i]);
	free(l->q);
	l->q = NULL;
	l->qhead = l->qlen = l->qcap = 0;
}
