/*
 * ws-daemon - the websocket tier (SPEC.md sections 3 to 5), behind nginx.
 *
 * One lws service thread does all connection work (chat.c, conn.c,
 * deliver.c, life.c); a worker thread talks to Postgres (store.c) and
 * another reads the ZeroMQ inbox (bus.c); both wake the service thread
 * with lws_cancel_service(). The daemon's state is one struct daemon
 * (daemon.h). docs/ws-daemon.md describes the design and its guarantees.
 *
 * The loop is libev's on epoll, not lws's default poll() over every
 * socket: with poll() each event costs a walk of every descriptor, so
 * latency grew with the number of idle connections (docs/ws-daemon.md,
 * "Event loop"). libev rather than libuv: Debian's lws 4.1.6 plugin for
 * libuv is built with a debug check that closes a connection a second
 * time, which drops the close frame of every close we initiate (4001 ..
 * 4012 would never reach the client). The loop is ours (a "foreign" loop
 * to lws), run one pass at a time, so that this function keeps the
 * shutdown checks between passes.
 *
 * SIGTERM/SIGINT: in-flight messages are committed and confirmed, every
 * client gets 4007, then the process exits 0.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <sys/resource.h>
#include <string.h>
#include <ev.h>

#include "cfg.h"
#include "chat.h"
#include "connmem.h"
#include "daemon.h"
#include "life.h"
#include "listener.h"
#include "log.h"

static volatile sig_atomic_t interrupted;
static struct lws_context *volatile the_ctx;

static const struct lws_protocols protocols[] = {
	/*
	 * rx_buffer_size: frames arrive in chunks of this size (chat.c joins
	 * them up to CHAT_FRAME_MAX). lws allocates it for every connection
	 * for its whole life, so it is most of what an idle connection costs
	 * beyond lws's own struct: 6.3 KiB of RSS at 4096, 2.0 KiB at 256,
	 * 1.9 KiB at 128 (15,000 held). But a frame longer than the buffer
	 * costs a callback per chunk, and a SendMessage of a typical chat
	 * line (JSON around a 50-character text: ~150 bytes) split in two cut
	 * the flood rate by a third at 128; at 256 it is as fast as at 4096
	 * (docs/ws-daemon.md, "Performance").
	 *
	 * tx_packet_size: the most lws sends with one send(); 0 means
	 * rx_buffer_size, and lws then sent a frame or a batch of frames
	 * (conn_write) 276 bytes per pass of the loop. It costs no memory.
	 */
	{ "chat", chat_callback, sizeof(struct chat_pss), 256, 0, NULL, CONN_TX_MAX },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

/* zero: lws schedules no validity ping or hang-up of its own */
static const lws_retry_bo_t no_validity = { .secs_since_valid_ping = 0,
					     .secs_since_valid_hangup = 0 };

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
	if (the_ctx)
		lws_cancel_service(the_ctx);	/* a write(2) to lws's pipe */
}

/*
 * How many connections the daemon may hold: its descriptors
 * (RLIMIT_NOFILE), at most 65,535. It sizes the address space connmem
 * reserves (connmem.h).
 */
static size_t main_max_conns(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 65535)
		return 65535;
	return rl.rlim_cur < 128 ? 128 : (size_t)rl.rlim_cur;
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct ev_loop *loop;
	void *loops[1];
	static struct daemon d;
	struct sigaction sa;
	struct cfg cfg;
	char err[512];
	int inherited;	/* listening on a socket systemd passed */

	if (argc > 1) {
		cfg_usage();
		return strcmp(argv[1], "--help") ? 2 : 0;
	}
	if (cfg_load(&cfg, err, sizeof(err)))
		die("config: %s", err);
	log_init("ws-daemon", cfg.log_level);
	lws_set_log_level(LLL_ERR, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* threads first: they block every signal, the service thread gets them */
	if (life_init(&d, &cfg, err, sizeof(err)))
		die("%s", err);

	/*
	 * What connections keep, in slabs of their own (connmem.h): 2.35 KiB
	 * of RSS per idle connection with malloc, a third of it holes left by
	 * handshakes. Without the reservation the daemon still runs, on
	 * malloc.
	 */
	if (connmem_init(main_max_conns(), err, sizeof(err)))
		log_warn("%s; connections use malloc", err);

	/* the daemon's own socket: it accepts, lws serves (listener.h) */
	if (listener_open(&d.listener, cfg.ws_listen, cfg.ws_port, err, sizeof(err)))
		die("%s", err);
	/*
	 * And for nginx on this host, a unix socket (less work per frame than
	 * TCP over loopback): systemd's (deploy/systemd/chat-ws@.socket), or
	 * CHAT_WS_SOCKET's.
	 */
	inherited = listener_open_inherited(&d.listener, err, sizeof(err));
	if (inherited < 0)
		die("%s", err);
	if (!inherited && cfg.ws_socket[0] &&
	    listener_open_unix(&d.listener, cfg.ws_socket, err, sizeof(err)))
		die("%s", err);

	loop = ev_loop_new(EVBACKEND_EPOLL);
	if (!loop)
		die("cannot create the event loop");
	loops[0] = loop;
	memset(&info, 0, sizeof(info));
	/*
	 * lws does not listen: the daemon accepts (listener.h, on
	 * CHAT_WS_LISTEN: loopback unless nginx runs on another host) and
	 * hands connections to this vhost.
	 */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.user = &d;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = loops;
	/* room for an 8 KiB token in the query string */
	info.max_http_header_data = 12 * 1024;
	/*
	 * Handshakes in parallel: one header table each (lws allocates them
	 * as handshakes start and frees them as they end). The listener gives
	 * lws at most LISTENER_MAX_PENDING at a time; twice that leaves room
	 * for the plain HTTP requests (GET /metrics) on kept-alive
	 * connections. With fewer tables than handshakes lws 4.1 dropped the
	 * waiting ones in reconnect storms (docs/ws-daemon.md).
	 */
	info.max_http_header_pool = 2 * LISTENER_MAX_PENDING;
	/*
	 * How long a connection lws was given may take for its handshake to
	 * be read and answered. With lws's defaults (5 s for an idle HTTP/1.1
	 * connection, its default round-trip timeout) a reconnect storm lost
	 * 1,000-4,800 of 15,000 clients, one storm in 4, before the listener
	 * bounded the handshakes in progress (docs/bench-ws.md). Slow or
	 * silent clients are nginx's to cut (client_header_timeout); the
	 * daemon's port is not public.
	 */
	info.timeout_secs = 60;
	info.keepalive_timeout = 60;
	/*
	 * No lws "validity" timers: the daemon pings by itself (conn.c,
	 * CHAT_PING_INTERVAL). lws 4.1 keeps one per connection in its one
	 * sorted timer list and re-inserts it, walking the list, on every
	 * frame or pong received: with 15,000 idle connections that walk
	 * was a quarter of the daemon's time and stalled messages for
	 * hundreds of ms (docs/ws-daemon.md, "Performance").
	 */
	info.retry_and_idle_policy = &no_validity;
	info.pt_serv_buf_size = 32 * 1024;
	ctx = lws_create_context(&info);
	if (!ctx || !(vh = lws_get_vhost_by_name(ctx, "default")))
		die("cannot start libwebsockets (is its libev event-loop plugin,"
		    " package libwebsockets-evlib-ev, missing?)");
	the_ctx = ctx;
	life_attach(&d, ctx);
	if (listener_start(&d.listener, loop, vh, LISTENER_MAX_PENDING, err, sizeof(err)))
		die("%s", err);
	log_info("listening on port %d%s%s (daemon %d)", cfg.ws_port,
		 inherited || cfg.ws_socket[0] ? " and " : "",
		 inherited ? "the socket systemd passed" : cfg.ws_socket, cfg.ws_id);

	for (;;) {
		if (interrupted)
			life_shutdown(&d);
		if (life_finished(&d))
			break;
		/* one pass: waits for an event or the next lws timer */
		ev_run(loop, EVRUN_ONCE);
	}
	log_info("stopping: every client closed");
	listener_close(&d.listener);
	life_stop_threads(&d);
	the_ctx = NULL;
	lws_context_destroy(ctx);
	/* lws has stopped its watchers; nothing is left on the loop */
	ev_loop_destroy(loop);
	life_release(&d);
	connmem_release();
	log_info("stopped");
	return 0;
}
