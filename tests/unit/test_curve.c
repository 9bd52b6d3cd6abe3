/*
 * curve: key files, key lists, and the ZAP handler admitting only listed
 * publishers, over a real ZeroMQ tcp link on loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"

static char dir[] = "/tmp/test-curve-XXXXXX";

static void put(const char *name, int mode, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_pair_files(void **state)
{
	struct curve_pair kp, got;
	char text[256], path[512], err[256], pub[CURVE_Z85_SIZE];

	(void)state;
	assert_int_equal(curve_keypair(&kp, err, sizeof(err)), 0);
	snprintf(text, sizeof(text), "# a daemon\npublic %s\nsecret %s\n", kp.pub, kp.sec);
	put("a.key", 0600, text, path, sizeof(path));
	assert_int_equal(curve_load_pair(path, &got, err, sizeof(err)), 0);
	assert_string_equal(got.pub, kp.pub);
	assert_string_equal(got.sec, kp.sec);
	/* a secret others may read is refused */
	chmod(path, 0640);
	assert_int_equal(curve_load_pair(path, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chmod 600"));
	/* a pair needs both halves, each a real key */
	snprintf(text, sizeof(text), "public %s\n", kp.pub);
	put("b.key", 0600, text, path, sizeof(path));
	assert_int_equal(curve_load_pair(path, &got, err, sizeof(err)), -1);
	put("c.key", 0600, "public short\nsecret short\n", path, sizeof(path));
	assert_int_equal(curve_load_pair(path, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1:"));
	/* a .pub file */
	snprintf(text, sizeof(text), "%s\n", kp.pub);
	put("a.pub", 0644, text, path, sizeof(path));
	assert_int_equal(curve_load_pub(path, pub, err, sizeof(err)), 0);
	assert_string_equal(pub, kp.pub);
	assert_int_equal(curve_load_pub("/nonexistent/x.pub", pub, err, sizeof(err)), -1);
}

static void test_list(void **state)
{
	struct curve_pair a, b;
	unsigned char (*keys)[32] = NULL, bin[32];
	char text[512], err[256];
	size_t n = 0;

	(void)state;
	curve_keypair(&a, err, sizeof(err));
	curve_keypair(&b, err, sizeof(err));
	snprintf(text, sizeof(text), "# publishers\n\n  %s  # rest host\r\n%s\n", a.pub, b.pub);
	assert_int_equal(curve_parse_list(text, &keys, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	zmq_z85_decode(bin, b.pub);
	assert_memory_equal(keys[1], bin, 32);
	free(keys);
	assert_int_equal(curve_parse_list("", &keys, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(keys);
	snprintf(text, sizeof(text), "%s\nnot-a-key\n", a.pub);
	assert_int_equal(curve_parse_list(text, &keys, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2"));
}

/* A publisher with kp sends "hello" to an inbox; 1 when it arrived. */
static int try_publish(void *zctx, struct curve_zap *zap, void *sub, const char *ep,
		       const struct curve_pair *kp, const char *server_pub)
{
	void *pub = zmq_socket(zctx, ZMQ_PUB);
	zmq_pollitem_t pi[2] = { { .socket = sub, .events = ZMQ_POLLIN },
				 { .socket = zap->sock, .events = ZMQ_POLLIN } };
	char err[256], buf[16];
	int linger = 0, got = 0;

	zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof(linger));
	assert_int_equal(curve_make_client(pub, kp, server_pub, err, sizeof(err)), 0);
	assert_int_equal(zmq_connect(pub, ep), 0);
	/* PUB drops until subscribed: keep sending for a while */
	for (int i = 0; i < 40 && !got; i++) {
		zmq_send(pub, "hello", 5, ZMQ_DONTWAIT);
		if (zmq_poll(pi, 2, 50) > 0) {
			if (pi[1].revents)
				curve_zap_serve(zap);
			if (pi[0].revents && zmq_recv(sub, buf, sizeof(buf), ZMQ_DONTWAIT) == 5)
				got = 1;
		}
	}
	zmq_close(pub);
	return got;
}

static void test_zap_admits_only_listed_publishers(void **state)
{
	struct curve_pair server, good, bad;
	struct curve_zap zap;
	char text[256], path[512], err[256], ep[64];
	size_t eplen = sizeof(ep);
	void *zctx = zmq_ctx_new(), *sub;
	int linger = 0;

	(void)state;
	curve_keypair(&server, err, sizeof(err));
	curve_keypair(&good, err, sizeof(err));
	curve_keypair(&bad, err, sizeof(err));
	snprintf(text, sizeof(text), "%s\n", good.pub);
	put("allowed", 0644, text, path, sizeof(path));
	assert_int_equal(curve_zap_open(&zap, zctx, path, err, sizeof(err)), 0);
	sub = zmq_socket(zctx, ZMQ_SUB);
	zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
	assert_int_equal(curve_make_server(sub, &server, err, sizeof(err)), 0);
	assert_int_equal(zmq_bind(sub, "tcp://127.0.0.1:*"), 0);
	zmq_getsockopt(sub, ZMQ_LAST_ENDPOINT, ep, &eplen);

	assert_int_equal(try_publish(zctx, &zap, sub, ep, &bad, server.pub), 0);
	assert_true(zap.refused >= 1);
	assert_int_equal(try_publish(zctx, &zap, sub, ep, &good, server.pub), 1);
	assert_true(zap.admitted >= 1);
	/* a publisher that does not know the server's key gets nowhere either */
	assert_int_equal(try_publish(zctx, &zap, sub, ep, &good, bad.pub), 0);
	/* revoking a key in the file takes effect without a restart */
	sleep(1);
	snprintf(text, sizeof(text), "# nobody\n");
	put("allowed", 0644, text, path, sizeof(path));
	assert_int_equal(try_publish(zctx, &zap, sub, ep, &good, server.pub), 0);

	zmq_close(sub);
	curve_zap_close(&zap);
	zmq_ctx_term(zctx);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[64];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_files),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_zap_admits_only_listed_publishers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
