/*
 * auth - verification of Supabase access tokens (JWT), see auth.h.
 *
 * libjwt 1.10 checks signatures, but it trusts the token's own "alg" and
 * would happily verify "none", or HS256 with whatever key it is handed. So
 * the header is decoded and judged here first, the key is chosen from the
 * configuration by (alg, kid), and only then is libjwt asked to verify.
 * Claims are read with json-c from the same payload bytes libjwt verified,
 * because libjwt 1.10 has no claim validation of its own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "auth.h"
#include "b64url.h"
#include "cfg.h"
#include "jsonutil.h"
#include "jwks.h"
#include "log.h"

#define AUTH_MAX_SECRET 4096

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A string member, or NULL when absent or not a string. */
static const char *get_str(json_object *obj, const char *name)
{
	const char *s = NULL;

	json_get_string(obj, name, &s, NULL, 0);
	return s;
}

/* ---- setup ---- */

int auth_init(struct auth *a, const char *secret, const char *jwks_path,
	      const char *audience, int leeway, char *err, size_t errlen)
{
	size_t len;
	int ret = -1;

	memset(a, 0, sizeof(*a));
	if (!secret && !jwks_path) {
		seterr(err, errlen,
		       "no jwt secret and no jwks file: nothing to verify tokens with");
		goto out;
	}
	if (!audience || !*audience ||
	    strlen(audience) >= sizeof(a->audience)) {
		seterr(err, errlen, "jwt audience must be 1 to %zu characters",
		       sizeof(a->audience) - 1);
		goto out;
	}
	snprintf(a->audience, sizeof(a->audience), "%s", audience);
	a->leeway = leeway < 0 ? 0 : leeway > 30 ? 30 : leeway;
	if (secret) {
		/* an empty HMAC key would let anyone sign */
		len = strlen(secret);
		if (len == 0 || len > AUTH_MAX_SECRET) {
			seterr(err, errlen,
			       "jwt secret must be 1 to %d bytes long",
			       AUTH_MAX_SECRET);
			goto out;
		}
		a->secret = malloc(len);
		if (!a->secret) {
			seterr(err, errlen, "out of memory");
			goto out;
		}
		memcpy(a->secret, secret, len);
		a->secret_len = len;
	}
	if (jwks_path &&
	    jwks_load(jwks_path, &a->keys, err, err ? errlen : 0))
		goto out;
	ret = 0;
out:
	if (ret)
		auth_release(a);	/* leaves a safe to release again */
	return ret;
}

int auth_init_from_cfg(struct auth *a, const struct cfg *c, char *err, size_t errlen)
{
	if (c->jwt_secret_is_dev)
		log_warn("CHAT_DEV=1: accepting tokens signed with the documented dev secret; "
			 "a deployment sets SUPABASE_JWT_SECRET or SUPABASE_JWKS_FILE instead");
	return auth_init(a, c->jwt_secret[0] ? c->jwt_secret : NULL,
			 c->jwks_file[0] ? c->jwks_file : NULL, c->jwt_aud, c->jwt_leeway,
			 err, errlen);
}

void auth_release(struct auth *a)
{
	if (!a)
		return;
	if (a->secret)
		OPENSSL_cleanse(a->secret, a->secret_len);
	free(a->secret);
	jwks_free(a->keys);
	a->secret = NULL;
	a->secret_len = 0;
	a->keys = NULL;
}

/* ---- verification ---- */

/*
 * A NumericDate claim as whole seconds (rounded towards "not valid":
 * down for exp, up for nbf). Returns 1 if present, 0 if absent, -1 if
 * it is not a number.
 */
static int get_time(json_object *claims, const char *name, int round_up,
		    int64_t *out)
{
	json_object *v;
	double d;

	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);	/* saturates */
		return 1;
	}
	if (!json_object_is_type(v, json_type_double))
		return -1;
	d = json_object_get_double(v);
	if (d != d)		/* NaN; done by hand so that we need no -lm */
		return -1;
	if (d > 9e18)
		d = 9e18;
	if (d < -9e18)
		d = -9e18;
	*out = (int64_t)d;	/* truncates towards zero */
	if (round_up && (double)*out < d)
		(*out)++;
	else if (!round_up && (double)*out > d)
		(*out)--;
	return 1;
}

/* 1 if aud is the audience or an array holding it. */
static int aud_matches(json_object *claims, const char *audience)
{
	json_object *aud, *v;
	size_t i, n;

	if (!json_object_object_get_ex(claims, "aud", &aud))
		return 0;
	if (json_object_is_type(aud, json_type_string))
		return !strcmp(json_object_get_string(aud), audience);
	if (!json_object_is_type(aud, json_type_array))
		return 0;
	n = json_object_array_length(aud);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(aud, i);
		if (json_object_is_type(v, json_type_string) &&
		    !strcmp(json_object_get_string(v), audience))
			return 1;
	}
	return 0;
}

/*
 * Choose the key for a header: HS256 only with the secret, ES256/RS256
 * only with the JWKS key named by kid and of the same type. Returns 0
 * with key, keylen and alg set, or -1 with a reason.
 */
static int choose_key(const struct auth *a, json_object *head,
		      const unsigned char **key, size_t *keylen,
		      jwt_alg_t *alg, char *err, size_t errlen)
{
	const struct jwks_key *k;
	const char *name, *kid, *typ;

	name = get_str(head, "alg");
	if (!name) {
		seterr(err, errlen, "token header has no alg");
		return -1;
	}
	if (!strcasecmp(name, "none")) {
		seterr(err, errlen, "unsigned tokens (alg none) are not accepted");
		return -1;
	}
	/* libjwt refuses other types too, but would only say "invalid" */
	typ = get_str(head, "typ");
	if (json_object_object_get_ex(head, "typ", NULL) &&
	    (!typ || strcasecmp(typ, "JWT"))) {
		seterr(err, errlen, "token type is not jwt");
		return -1;
	}
	/* we understand no extensions, so none may be critical (rfc 7515) */
	if (json_object_object_get_ex(head, "crit", NULL)) {
		seterr(err, errlen, "token header has unsupported crit");
		return -1;
	}
	if (!strcmp(name, "HS256")) {
		if (!a->secret) {
			seterr(err, errlen, "hs256 tokens are not accepted");
			return -1;
		}
		*key = a->secret;
		*keylen = a->secret_len;
		*alg = JWT_ALG_HS256;
		return 0;
	}
	if (strcmp(name, "ES256") && strcmp(name, "RS256")) {
		seterr(err, errlen, "token alg is not supported");
		return -1;
	}
	if (!a->keys) {
		seterr(err, errlen, "es256/rs256 tokens are not accepted");
		return -1;
	}
	kid = get_str(head, "kid");
	if (!kid) {
		seterr(err, errlen, "token header has no kid");
		return -1;
	}
	k = jwks_find(a->keys, kid);
	if (!k) {
		seterr(err, errlen, "token kid names no known key");
		return -1;
	}
	*alg = name[0] == 'E' ? JWT_ALG_ES256 : JWT_ALG_RS256;
	if (*alg != k->alg) {
		seterr(err, errlen, "token alg does not match its key");
		return -1;
	}
	*key = (const unsigned char *)k->pem;
	*keylen = k->pem_len;
	return 0;
}

/* Split token into its three segments; fills off[] and len[]. */
static int split_token(const char *token, size_t tlen, size_t off[3],
		       size_t len[3])
{
	const char *p, *dot;
	int i;

	p = token;
	for (i = 0; i < 3; i++) {
		dot = memchr(p, '.', tlen - (size_t)(p - token));
		if ((i < 2 && !dot) || (i == 2 && dot))
			return -1;
		off[i] = (size_t)(p - token);
		len[i] = dot ? (size_t)(dot - p) : tlen - off[i];
		if (dot)
			p = dot + 1;
	}
	return 0;
}

int auth_verify(const struct auth *a, const char *token, time_t now,
		struct auth_claims *out, char *err, size_t errlen)
{
	json_object *head = NULL, *claims = NULL;
	unsigned char *hbuf = NULL, *pbuf = NULL, *sbuf = NULL;
	const unsigned char *key = NULL;
	size_t tlen, off[3], len[3], hlen, plen, slen, keylen = 0;
	struct auth_claims c;
	const char *sub, *role;
	jwt_alg_t alg = JWT_ALG_NONE;
	jwt_t *jwt = NULL;
	int64_t exp = 0, nbf = 0;
	int ret = -1, r;

	if (!token || !*token) {
		seterr(err, errlen, "no token");
		goto out;
	}
	tlen = strnlen(token, AUTH_MAX_TOKEN + 1);
	if (tlen > AUTH_MAX_TOKEN) {
		seterr(err, errlen, "token is too long");
		goto out;
	}
	if (split_token(token, tlen, off, len) || !len[0] || !len[1]) {
		seterr(err, errlen, "token is not three base64url segments");
		goto out;
	}
	hbuf = b64url_decode(token + off[0], len[0], &hlen);
	pbuf = b64url_decode(token + off[1], len[1], &plen);
	sbuf = b64url_decode(token + off[2], len[2], &slen);
	if (!hbuf || !pbuf || !sbuf) {
		seterr(err, errlen, errno == ENOMEM ? "out of memory" :
		       "token is not valid base64url");
		goto out;
	}
	head = json_parse_object_ex((const char *)hbuf, hlen, 0, "header", NULL, 0);
	if (!head) {
		seterr(err, errlen, "token header is not a json object");
		goto out;
	}
	if (choose_key(a, head, &key, &keylen, &alg, err, errlen))
		goto out;
	if (!slen) {
		seterr(err, errlen, "token has no signature");
		goto out;
	}
	claims = json_parse_object_ex((const char *)pbuf, plen, 0, "payload", NULL, 0);
	if (!claims) {
		seterr(err, errlen, "token payload is not a json object");
		goto out;
	}

	r = jwt_decode(&jwt, token, key, (int)keylen);
	if (r || !jwt) {
		/* leave no stale error for the next TLS user of this thread */
		ERR_clear_error();
		seterr(err, errlen, r == ENOMEM ? "out of memory" :
		       "token signature is invalid");
		goto out;
	}
	/* libjwt parsed the header itself; it must have seen the same alg */
	if (jwt_get_alg(jwt) != alg) {
		seterr(err, errlen, "token signature is invalid");
		goto out;
	}

	r = get_time(claims, "exp", 0, &exp);
	if (r <= 0) {
		seterr(err, errlen, r ? "token exp is not a number" :
		       "token has no exp");
		goto out;
	}
	if ((int64_t)now - a->leeway >= exp) {
		seterr(err, errlen, "token is expired");
		goto out;
	}
	r = get_time(claims, "nbf", 1, &nbf);
	if (r < 0) {
		seterr(err, errlen, "token nbf is not a number");
		goto out;
	}
	if (r > 0 && (int64_t)now + a->leeway < nbf) {
		seterr(err, errlen, "token is not valid yet");
		goto out;
	}
	if (!aud_matches(claims, a->audience)) {
		seterr(err, errlen, "token audience is not accepted");
		goto out;
	}
	sub = get_str(claims, "sub");
	if (!sub) {
		seterr(err, errlen, "token has no sub");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	if (uuid_norm(sub, c.sub)) {
		seterr(err, errlen, "token sub is not a uuid");
		goto out;
	}
	role = get_str(claims, "role");
	c.is_admin = role && !strcmp(role, "service_role");
	c.exp = (long)exp;
	*out = c;
	ret = 0;
out:
	jwt_free(jwt);
	json_object_put(head);
	json_object_put(claims);
	free(hbuf);
	free(pbuf);
	free(sbuf);
	return ret;
}

/* ---- minting ---- */

char *auth_mint_hs256(const char *secret, const char *sub, const char *audience,
		      int admin, long ttl, time_t now, char *err, size_t errlen)
{
	char lsub[UUID_STR_SIZE];
	jwt_t *jwt = NULL;
	char *token = NULL;
	size_t len;

	if (!secret || !(len = strlen(secret)) || len > AUTH_MAX_SECRET) {
		seterr(err, errlen, "jwt secret must be 1 to %d bytes long",
		       AUTH_MAX_SECRET);
		goto out;
	}
	if (uuid_norm(sub, lsub)) {
		seterr(err, errlen, "sub is not a uuid");
		goto out;
	}
	if (!audience || !*audience) {
		seterr(err, errlen, "audience is empty");
		goto out;
	}
	if (ttl <= 0 || ttl > AUTH_MAX_TTL) {
		seterr(err, errlen, "ttl must be 1 to %ld seconds",
		       (long)AUTH_MAX_TTL);
		goto out;
	}
	if (jwt_new(&jwt) ||
	    jwt_add_grant(jwt, "sub", lsub) ||
	    jwt_add_grant(jwt, "aud", audience) ||
	    jwt_add_grant(jwt, "role", admin ? "service_role" : "authenticated") ||
	    jwt_add_grant_int(jwt, "iat", (long)now) ||
	    jwt_add_grant_int(jwt, "exp", (long)now + ttl) ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret,
			(int)len)) {
		seterr(err, errlen, "cannot build token");
		goto out;
	}
	token = jwt_encode_str(jwt);
	if (!token)
		seterr(err, errlen, "cannot sign token");
out:
	jwt_free(jwt);
	return token;
}
