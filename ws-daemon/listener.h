/*
 * listener - the daemon's listening socket. The daemon accepts every
 * connection at once, on a thread of its own, and hands them to lws
 * (lws_adopt_socket_vhost) in order on the service thread, with at most
 * max_pending handshakes in progress at once; the others wait as bare
 * sockets in a queue of descriptors, where they cost nothing but the
 * descriptor.
 *
 * The kernel's listen queue must never overflow: over TCP that drops the
 * SYN (the client waits a second or more to try again), and on the unix
 * socket nginx connects to, connect() fails at once (EAGAIN), which nginx
 * answers with 502 (503 here). The queue holds somaxconn (4,096 by
 * default) connections; a storm brings 15,000 in about a second. Accepted
 * on the service thread, they overflowed it whenever one loop pass took
 * a few hundred milliseconds (lws answering hundreds of handshakes, a
 * store answer to deliver), and 1,000-1,700 clients of a 15,000 storm got
 * 503 (issue 12, docs/bench-ws.md, sixth session); the accept thread only
 * accepts, so it drains the queue whatever the service thread is doing.
 *
 * Why (issue 12, docs/bench-ws.md "Admission"): lws 4.1 accepts whatever
 * is queued at once, and for each connection whose handshake is in
 * progress keeps a timeout in one sorted list (every insert walks it from
 * the start) and a header table in one linked list (every release walks
 * it). In a reconnect storm of 15,000 clients thousands were in progress
 * together and those two walks took 40 % of the daemon (perf: 30 %
 * lws_dll2_add_sorted, 10 % the header-table list); bounded, each walk
 * is short.
 *
 * A handshake is in progress from the accept until lws answers it: the
 * websocket is established, an HTTP request (GET /metrics) is being
 * answered, or the connection is gone. The protocol callback reports
 * that with listener_done() (chat.c); a connection is counted once. Silent
 * connections hold a place until lws's handshake timeout (main.c); the
 * port is nginx's, not public.
 *
 * Service thread only (the libev loop lws runs on), except the accept
 * thread's own fields.
 */
#ifndef WS_LISTENER_H
#define WS_LISTENER_H

#include <ev.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define LISTENER_MAX_PENDING 1024	/* handshakes in progress at once */
#define LISTENER_SOCKS 2		/* a TCP port and a unix socket */

struct listener {
	int fd[LISTENER_SOCKS];		/* fd[0 .. nsocks) listen */
	unsigned nsocks;		/* 0: not open, or closed */
	struct ev_loop *loop;
	struct lws_vhost *vh;
	ev_async wake;			/* the accept thread put connections in inbox */
	ev_timer handover;		/* due at once: hand queued ones over */
	int *q;				/* accepted, not yet handed to lws: q[qhead..] */
	size_t qhead, qlen, qcap;
	unsigned pending, max_pending;
	uint64_t accepted;		/* handed to lws since the start */
	/* the accept thread's, and what it hands to the service thread */
	pthread_t thread;
	int started;			/* thread runs: listener_close joins it */
	int stop[2];			/* a pipe: written to stop the thread */
	pthread_mutex_t mu;		/* inbox */
	int *inbox;			/* accepted, not yet in q */
	size_t ninbox, inbox_cap;
	struct log_limit log;		/* the accept thread's warnings */
};

/*
 * Binds addr:port (a numeric address or a host name; the first address
 * it resolves to) and listens: l's first socket (l is set up here). 0,
 * or -1 with err set.
 */
int listener_open(struct listener *l, const char *addr, int port, char *err, size_t errlen);

/*
 * Listens on the unix socket path as well (after listener_open): a proxy
 * on the same host (nginx) connects there for less than TCP over
 * loopback costs (no TCP stack, no acknowledgements, no ephemeral ports).
 * A file left at path by an earlier run is replaced. The socket is made
 * 0666: who may connect is decided by the directory it is in. 0, or -1
 * with err set.
 */
int listener_open_unix(struct listener *l, const char *path, char *err, size_t errlen);

/*
 * Takes the listening socket a service manager passed (systemd's socket
 * activation: LISTEN_PID is this process, LISTEN_FDS = 1, the socket is
 * descriptor 3), after listener_open, in place of listener_open_unix: the
 * socket then outlives the daemon, and clients that connect while it
 * restarts wait in its queue. 1 when
 * a socket was taken, 0 when none was passed, -1 with err set when what
 * was passed is not one listening stream socket.
 */
int listener_open_inherited(struct listener *l, char *err, size_t errlen);

/*
 * Accepts from now on (on the accept thread, signals blocked), handing
 * connections to vh's protocols on loop. 0, or -1 with err set (nothing
 * started; listener_close still closes the sockets).
 */
int listener_start(struct listener *l, struct ev_loop *loop, struct lws_vhost *vh,
		   unsigned max_pending, char *err, size_t errlen);

/*
 * wsi's handshake is over (established, answered, or closed). Any wsi may
 * be passed, any number of times: only one the listener accepted and has
 * not been told of counts.
 */
void listener_done(struct listener *l, struct lws *wsi);

/*
 * Stops accepting (joins the accept thread), closes the sockets (a unix
 * socket's file stays: the next run replaces it) and the connections not
 * handed over.
 */
void listener_close(struct listener *l);

#endif
