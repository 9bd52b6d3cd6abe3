/*
 * listener - accepting connections for lws, a bounded number at a time
 * (listener.h).
 */
#include "listener.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTENER_BACKLOG 65535		/* the kernel caps it at somaxconn */
#define LISTENER_RETRY_S 0.1		/* after EMFILE, ENOBUFS ... */

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

/* Out of descriptors or memory (errno): accept again shortly. */
static void listener_pause(struct listener *l)
{
	log_warn("accept: %s; accepting again in %.0f ms", strerror(errno),
		 LISTENER_RETRY_S * 1000);
	for (unsigned i = 0; i < l->nsocks; i++)
		ev_io_stop(l->loop, &l->io[i]);
	if (!ev_is_active(&l->retry)) {
		ev_timer_set(&l->retry, LISTENER_RETRY_S, 0.);
		ev_timer_start(l->loop, &l->retry);
	}
}

/* Queues fd for lws (q[qhead .. qhead + qlen)); -1 when it cannot grow. */
static int listener_push(struct listener *l, int fd)
{
	if (l->qhead + l->qlen == l->qcap) {
		if (l->qhead) {		/* room at the front: slide down */
			memmove(l->q, l->q + l->qhead, l->qlen * sizeof(*l->q));
			l->qhead = 0;
		} else {
			size_t cap = l->qcap ? 2 * l->qcap : 1024;
			int *q = realloc(l->q, cap * sizeof(*q));

			if (!q)
				return -1;
			l->q = q;
			l->qcap = cap;
		}
	}
	l->q[l->qhead + l->qlen++] = fd;
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
 * Accepts everything queued in the kernel on socket lfd, then hands over
 * what it may.
 */
static void listener_accept(struct listener *l, int lfd)
{
	int one = 1;

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			if (lfd == l->fd[0])	/* the TCP port (listener_open) */
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (!listener_push(l, fd))
				continue;
			close(fd);
			errno = ENOMEM;
		} else if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		}
		listener_pause(l);
		break;
	}
	listener_hand_over(l);
}

static void listener_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	listener_accept(w->data, w->fd);
}

static void listener_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener *l = w->data;

	(void)revents;
	for (unsigned i = 0; i < l->nsocks; i++)
		ev_io_start(loop, &l->io[i]);
}

/* Due at once after listener_done(): in the next loop pass, outside lws. */
static void listener_on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	listener_hand_over(w->data);
}

void listener_start(struct listener *l, struct ev_loop *loop, struct lws_vhost *vh,
		    unsigned max_pending)
{
	l->loop = loop;
	l->vh = vh;
	l->max_pending = max_pending ? max_pending : 1;
	ev_init(&l->retry, listener_on_retry);
	l->retry.data = l;
	ev_timer_init(&l->handover, listener_on_kick, 0., 0.);
	l->handover.data = l;
	for (unsigned i = 0; i < l->nsocks; i++) {
		ev_io_init(&l->io[i], listener_on_io, l->fd[i], EV_READ);
		l->io[i].data = l;
		ev_io_start(loop, &l->io[i]);
	}
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
	if (!l->nsocks)
		return;
	for (unsigned i = 0; i < l->nsocks; i++) {
		if (l->loop)
			ev_io_stop(l->loop, &l->io[i]);
		close(l->fd[i]);
	}
	if (l->loop) {
		ev_timer_stop(l->loop, &l->retry);
		ev_timer_stop(l->loop, &l->handover);
	}
	l->nsocks = 0;
	for (size_t i = 0; i < l->qlen; i++)
		close(l->q[l->qhead + i]);
	free(l->q);
	l->q = NULL;
	l->qhead = l->qlen = l->qcap = 0;
}
