/*
 * chat-token - mint a dev access token for a user id, so that a developer
 * or operator can talk to a local stack with curl or a websocket client
 * without a Supabase project.
 *
 *	chat-token [--admin] [--ttl SECONDS] USER_UUID
 *
 * The token is HS256, signed with SUPABASE_JWT_SECRET (the documented dev
 * secret when unset, as the servers do), aud from CHAT_JWT_AUD
 * ("authenticated" when unset). It is printed alone on stdout so that
 * TOKEN=$(chat-token ...) works.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "auth.h"
#include "cfg.h"
#include "uuid.h"

#define DEFAULT_TTL 3600

static void usage(FILE *f)
{
	fprintf(f,
		"usage: chat-token [--admin] [--ttl SECONDS] USER_UUID\n"
		"  --admin        role service_role (an administrator token)\n"
		"  --ttl SECONDS  lifetime, default %d\n"
		"environment: SUPABASE_JWT_SECRET (default: the dev secret),\n"
		"             CHAT_JWT_AUD (default: %s)\n",
		DEFAULT_TTL, AUTH_DEFAULT_AUDIENCE);
}

/* An environment variable, or def when it is unset or empty. */
static const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", no_argument, NULL, 'a' },
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *secret, *aud;
	struct uuid user;
	char err[256], *end, *token;
	long ttl = DEFAULT_TTL;
	int admin = 0, c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			admin = 1;
			break;
		case 't':
			errno = 0;
			ttl = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || ttl <= 0 ||
			    ttl > AUTH_MAX_TTL) {
				fprintf(stderr,
					"chat-token: --ttl '%s' is not a number of seconds from 1 to %ld\n",
					optarg, (long)AUTH_MAX_TTL);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:	/* getopt_long has said what is wrong */
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "chat-token: expected one USER_UUID\n");
		usage(stderr);
		return 2;
	}
	if (uuid_parse(argv[optind], &user)) {
		fprintf(stderr, "chat-token: '%s' is not a uuid\n",
			argv[optind]);
		return 2;
	}

	secret = env_or("SUPABASE_JWT_SECRET", CHAT_DEV_JWT_SECRET);
	aud = env_or("CHAT_JWT_AUD", AUTH_DEFAULT_AUDIENCE);
	token = auth_mint_hs256(secret, argv[optind], aud, admin, ttl,
				time(NULL), err, sizeof(err));
	if (!token) {
		fprintf(stderr, "chat-token: %s\n", err);
		return 1;
	}
	printf("%s\n", token);
	free(token);
	return fflush(stdout) ? 1 : 0;
}
