/*
 * rest_fixture - what the REST tier's unit tests share: user ids, a
 * request with a query string, and a token verifier with minted tokens
 * (user, admin, expired) and their Authorization headers.
 *
 * Test code only (static functions, one copy per test program).
 */
#ifndef TEST_REST_FIXTURE_H
#define TEST_REST_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "req.h"

#define FX_SECRET "unit-test-secret-0123456789abcdef0123456789abcdef"
#define ME "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"

/* A GET of /rooms/1 with query (borrowed). */
static inline struct req fx_query_req(const char *query)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	q.path = "/rooms/1";
	q.query = query;
	return q;
}

/* A verifier for FX_SECRET, and tokens of ME; all owned, fx_tokens_release. */
struct fx_tokens {
	struct auth auth;
	char *user_tok, *admin_tok, *expired_tok;	/* the JWTs */
	char *user_hdr, *admin_hdr, *expired_hdr;	/* "Bearer <jwt>" */
};

static inline char *fx_header(const char *tok)
{
	char *h = tok ? malloc(strlen(tok) + 8) : NULL;

	if (h) {
		strcpy(h, "Bearer ");
		strcat(h, tok);
	}
	return h;
}

/* 0, or -1 when something could not be made. */
static inline int fx_tokens_init(struct fx_tokens *t)
{
	char err[256];
	time_t now = time(NULL);

	log_init("test", LOG_ERROR);
	memset(t, 0, sizeof(*t));
	if (auth_init(&t->auth, FX_SECRET, NULL, "authenticated", 10, err, sizeof(err)))
		return -1;
	t->user_tok = auth_mint_hs256(FX_SECRET, ME, "authenticated", 0, 600, now, err, sizeof(err));
	t->admin_tok = auth_mint_hs256(FX_SECRET, ME, "authenticated", 1, 600, now, err, sizeof(err));
	t->expired_tok = auth_mint_hs256(FX_SECRET, ME, "authenticated", 0, 60, now - 3600,
					 err, sizeof(err));
	t->user_hdr = fx_header(t->user_tok);
	t->admin_hdr = fx_header(t->admin_tok);
	t->expired_hdr = fx_header(t->expired_tok);
	return t->user_hdr && t->admin_hdr && t->expired_hdr ? 0 : -1;
}

static inline void fx_tokens_release(struct fx_tokens *t)
{
	auth_release(&t->auth);
	free(t->user_tok);
	free(t->admin_tok);
	free(t->expired_tok);
	free(t->user_hdr);
	free(t->admin_hdr);
	free(t->expired_hdr);
	memset(t, 0, sizeof(*t));
}

#endif
