/*
 * ws-daemon - the websocket tier (SPEC.md sections 3 to 5). Placeholder:
 * accepts websocket connections and does nothing else.
 */
#include <libwebsockets.h>
#include <signal.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

static int interrupted;

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
	      void *in, size_t len)
{
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "chat", cb, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

int main(void)
{
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	struct cfg cfg;
	char err[512];

	if (cfg_load(&cfg, err, sizeof(err)))
		die("config: %s", err);
	log_init("ws-daemon", cfg.log_level);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	memset(&info, 0, sizeof(info));
	info.port = cfg.ws_port;
	info.protocols = protocols;
	ctx = lws_create_context(&info);
	if (!ctx)
		die("cannot listen on port %d", cfg.ws_port);
	log_info("listening on port %d", cfg.ws_port);
	while (!interrupted && lws_service(ctx, 0) >= 0)
		;
	lws_context_destroy(ctx);
	return 0;
}
