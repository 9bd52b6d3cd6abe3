/*
 * tokcache - a small per-process cache of verified bearer tokens.
 *
 * A mobile client sends the same access token with every request until it
 * refreshes it, so a REST worker sees a handful of tokens over and over;
 * verifying one (base64, HMAC or ECDSA, JSON) costs more than the rest of
 * a cheap request's C work. A hit needs the byte-identical token (so the
 * same signature) and is only served while now < exp: from the expiry
 * on, the token goes through auth_verify() again, which applies the
 * leeway and says "token is expired". Nothing else about a token changes
 * with time (nbf only matters before it passed, and a token is cached
 * only once it verified). Bans are not cached: they are checked in SQL.
 *
 * Not thread safe: one cache per worker process (rest-fcgi is single
 * threaded). Entries are owned by the cache.
 */
#ifndef REST_TOKCACHE_H
#define REST_TOKCACHE_H

#include <stddef.h>
#include <time.h>

#include "auth.h"

/*
 * auth_verify() through the cache: same contract (0 and *out, or -1 with
 * the reason in err). Only successful verifications are cached.
 */
int tokcache_verify(const struct auth *a, const char *token, time_t now,
		    struct auth_claims *out, char *err, size_t errlen);

/* Forget every entry (tests; a verifier that changed). */
void tokcache_clear(void);

#endif
