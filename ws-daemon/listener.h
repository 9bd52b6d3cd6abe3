/*
 * listener - the daemon's listening socket. The daemon accepts every
 * connection at once (so the kernel's listen queue never overflows, which
 * would drop the SYN and make the client wait a second or more to try
 * again) and hands them to lws (lws_adopt_socket_vhost) in order, with at
 * most max_pending handshakes in progress at once; the others wait as
 * bare sockets in a queue of descriptors, where they cost nothing but
 * the descriptor.
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
 * Service thread only (the libev loop lws runs on).
 */
#ifndef WS_LISTENER_H
#define WS_LISTENER_H

#include <ev.h>
#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>

#define LISTENER_MAX_PENDING 1024	/* handshakes in progress at once */
#define LISTENER_SOCKS 2		/* a TCP port and a unix socket */

struct listener {
	int fd[LISTENER_SOCKS];		/* fd[0 .. nsocks) listen */
	ev_io io[LISTENER_SOCKS];	/* readable: connections queued */
	unsigned nsocks;		/* 0: not open, or closed */
	struct ev_loop *loop;
	struct lws_vhost *vh;
	ev_timer retry;			/* after EMFILE and the like */
	ev_timer handover;		/* due at once: hand queued ones over */
	int *q;				/* accepted, not yet handed to lws: q[qhead..] */
	size_t qhead, qlen, qcap;
	unsigned pending, max_pending;
	uint64_t accepted;		/* handed to lws since the start */
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

/* Accepts from now on on loop, handing connections to vh's protocols. */
void listener_start(struct listener *l, struct ev_loop *loop, struct lws_vhost *vh,
		    unsigned max_pending);

/*
 * wsi's handshake is over (established, answered, or closed). Any wsi may
 * be passed, any number of times: only one the listener accepted and has
 * not been told of counts.
 */
void listener_done(struct listener *l, struct lws *wsi);

/*
 * Stops accepting, closes the sockets (a unix socket's file stays: the
 * next run replaces it) and the connections not handed over.
 */
void listener_close(struct listener *l);

#endif
