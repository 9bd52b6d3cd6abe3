/*
 * listener: the daemon accepts, lws serves, at most max_pending handshakes
 * at a time; a place given back hands the next queued connection over.
 * A real lws context on a libev loop, real sockets on loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <ev.h>
#include <libwebsockets.h>

#include "listener.h"

static struct listener lis;

/* What the daemon's chat.c does with the listener, and nothing else. */
static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
	      size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_HTTP:
	case LWS_CALLBACK_WSI_DESTROY:
		listener_done(&lis, wsi);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "test", cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

struct fixture {
	struct ev_loop *loop;
	struct lws_context *ctx;
	int port;
};

static int setup(void **state)
{
	static struct fixture f;
	struct lws_context_creation_info info;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	void *loops[1];
	char err[256];

	lws_set_log_level(LLL_ERR, NULL);
	if (listener_open(&lis, "127.0.0.1", 0, err, sizeof(err)))
		return -1;
	if (getsockname(lis.fd[0], (struct sockaddr *)&sa, &salen))
		return -1;
	f.port = ntohs(sa.sin_port);
	f.loop = ev_loop_new(EVBACKEND_EPOLL);
	loops[0] = f.loop;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = loops;
	f.ctx = lws_create_context(&info);
	if (!f.ctx)
		return -1;
	if (listener_start(&lis, f.loop, lws_get_vhost_by_name(f.ctx, "default"), 2, err,
			   sizeof(err)))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	listener_close(&lis);
	lws_context_destroy(f->ctx);
	ev_loop_destroy(f->loop);
	return 0;
}

static int dial(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Loop passes until cond holds (a few hundred ms at most). */
#define SPIN_UNTIL(f, cond)                                                  \
	do {                                                                 \
		for (int i_ = 0; i_ < 200 && !(cond); i_++) {                \
			ev_run((f)->loop, EVRUN_NOWAIT);                     \
			usleep(1000);                                        \
		}                                                            \
		assert_true(cond);                                           \
	} while (0)

static void test_bounded_then_handed_over(void **state)
{
	struct fixture *f = *state;
	int c[5];

	for (int i = 0; i < 5; i++)
		c[i] = dial(f->port);
	/* all five accepted; two with lws, three waiting */
	SPIN_UNTIL(f, lis.pending == 2 && lis.qlen == 3);
	assert_int_equal(lis.accepted, 2);
	/* one of lws's gives up: its place goes to the next in the queue */
	close(c[0]);
	close(c[1]);
	SPIN_UNTIL(f, lis.qlen == 1);
	assert_int_equal(lis.pending, 2);
	assert_int_equal(lis.accepted, 4);
	/* an answered request gives its place back too */
	const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	assert_int_equal(write(c[2], req, sizeof(req) - 1), (ssize_t)(sizeof(req) - 1));
	SPIN_UNTIL(f, lis.qlen == 0 && lis.accepted == 5);
	for (int i = 2; i < 5; i++)
		close(c[i]);
	SPIN_UNTIL(f, lis.pending == 0);
}

/* What the accept thread has accepted and not yet handed over. */
static size_t inbox(void)
{
	size_t n;

	pthread_mutex_lock(&lis.mu);
	n = lis.ninbox;
	pthread_mutex_unlock(&lis.mu);
	return n;
}

static void test_accepted_while_the_service_thread_is_busy(void **state)
{
	struct fixture *f = *state;
	int c[5], i;

	/*
	 * The loop does not run (a long pass of the service thread): the
	 * kernel's listen queue is emptied all the same.
	 */
	for (i = 0; i < 5; i++)
		c[i] = dial(f->port);
	for (i = 0; i < 500 && inbox() < 5; i++)
		usleep(1000);
	assert_int_equal(inbox(), 5);
	assert_int_equal(lis.accepted, 0);
	/* the loop's next pass takes them: two with lws, three waiting */
	SPIN_UNTIL(f, lis.pending == 2 && lis.qlen == 3);
	assert_int_equal(inbox(), 0);
	for (i = 0; i < 5; i++)
		close(c[i]);
	SPIN_UNTIL(f, lis.pending == 0 && lis.qlen == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bounded_then_handed_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accepted_while_the_service_thread_is_busy,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
