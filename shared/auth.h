/*
 * auth - verification of Supabase access tokens (JWT), SPEC.md section 1.
 *
 * A verifier holds the keys the server is configured with: an HS256 secret
 * (SUPABASE_JWT_SECRET) and/or ES256/RS256 public keys from a JWKS file
 * (SUPABASE_JWKS_FILE), selected by the token header's "kid". The header's
 * "alg" is checked against what is configured before any signature check:
 * "none" is never accepted, HS256 is only ever checked against the secret
 * and never against a public key, ES256/RS256 only against a JWKS key whose
 * kty (and alg, when the JWK names one) match.
 *
 * Claims checked: exp in the future (within the leeway), nbf (when present)
 * not in the future, aud equal to the configured audience (a string, or an
 * array containing it), sub a UUID. The "role" claim marks an administrator
 * when it is "service_role".
 *
 * Thread safety: a verifier is read-only after auth_init(), so several
 * threads may call auth_verify() on one verifier at once.
 *
 * Layering: the top of shared/, above jwks, b64url, jsonutil, uuid, cfg
 * and log. No other module of shared/ includes it; the tiers and tools do.
 */
#ifndef CHAT_AUTH_H
#define CHAT_AUTH_H

#include <stddef.h>
#include <time.h>

#include "uuid.h"

#define AUTH_MAX_TOKEN 8192	/* longer tokens are refused unparsed */
#define AUTH_DEFAULT_AUDIENCE "authenticated"
#define AUTH_MAX_TTL (10L * 366 * 24 * 3600)	/* longest auth_mint_hs256 ttl */

struct cfg;			/* the settings, see cfg.h */
struct jwks_key;		/* a JWKS public key, see jwks.h */

struct auth {
	unsigned char *secret;	/* HS256 secret, owned, or NULL */
	size_t secret_len;
	struct jwks_key *keys;	/* JWKS keys, owned (jwks_load), or NULL */
	char audience[128];	/* required "aud" */
	int leeway;		/* seconds allowed on exp/nbf, 0..30 */
};

/* What a verified token says. Plain values, nothing to free. */
struct auth_claims {
	char sub[UUID_STR_SIZE];	/* the user id, text form (uuid.h) */
	int is_admin;			/* role == "service_role" */
	long exp;			/* expiry, seconds since the epoch */
};

/*
 * Set up a verifier. secret may be NULL (no HS256); jwks_path may be NULL
 * (no ES256/RS256). At least one of the two must be given. audience is the
 * required "aud"; leeway is clamped to 0..30 seconds.
 * Returns 0, or -1 with a message in err (a bad JWKS file names the file
 * and what is wrong with it).
 */
int auth_init(struct auth *a, const char *secret, const char *jwks_path,
	      const char *audience, int leeway, char *err, size_t errlen);

/*
 * auth_init() from the identity settings of c (SPEC.md section 1). Logs
 * a warning when the documented dev secret is in use, so a production
 * deployment that forgot SUPABASE_JWT_SECRET says so at startup.
 * Returns 0, or -1 with auth_init()'s message in err.
 */
int auth_init_from_cfg(struct auth *a, const struct cfg *c, char *err, size_t errlen);

/* Free what auth_init() allocated; the struct itself is the caller's. */
void auth_release(struct auth *a);

/*
 * Verify token at time now (pass time(NULL); tests pass other times).
 * Returns 0 and fills *out, or -1 with a short lowercase reason in err
 * that never contains the token. An expired token's reason contains
 * "token is expired" (the mobile client looks for that text).
 */
int auth_verify(const struct auth *a, const char *token, time_t now,
		struct auth_claims *out, char *err, size_t errlen);

/*
 * Mint an HS256 token for sub (dev tool and tests): aud = audience,
 * role = "service_role" when admin else "authenticated", iat = now,
 * exp = now + ttl (1..AUTH_MAX_TTL). sub is lowercased. Returns a malloc'd
 * string the caller frees, or NULL with a message in err.
 */
char *auth_mint_hs256(const char *secret, const char *sub, const char *audience,
		      int admin, long ttl, time_t now, char *err, size_t errlen);

#endif
