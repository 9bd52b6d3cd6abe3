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
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "auth.h"

#define AUTH_MAX_JWKS (1024 * 1024)	/* a JWKS is a few KB; refuse junk */
#define AUTH_MAX_SECRET 4096
#define AUTH_MIN_RSA_BITS 2048

enum auth_kty {
	AUTH_KTY_EC = 1,
	AUTH_KTY_RSA,
};

struct auth_key {
	struct auth_key *next;
	enum auth_kty kty;
	jwt_alg_t alg;		/* the one alg this key verifies */
	char kid[128];
	char *pem;		/* SubjectPublicKeyInfo PEM, what libjwt reads */
	size_t pem_len;
};

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

static int b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict base64url without padding (RFC 7515): only the url alphabet, no
 * impossible length, and the unused low bits of the last character zero,
 * so that each value has exactly one encoding. Returns a malloc'd buffer
 * with a NUL after the data (handy for JSON), or NULL with errno set.
 */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen)
{
	unsigned char *out;
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	if (len % 4 == 1) {
		errno = EINVAL;
		return NULL;
	}
	out = malloc(len / 4 * 3 + 3);
	if (!out) {
		errno = ENOMEM;
		return NULL;
	}
	for (i = 0; i < len; i++) {
		v = b64url_val((unsigned char)s[i]);
		if (v < 0)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		goto bad;
	out[n] = '\0';
	*outlen = n;
	return out;
bad:
	free(out);
	errno = EINVAL;
	return NULL;
}

/*
 * Parse exactly one JSON object from buf[0..len). Trailing whitespace is
 * allowed only when asked (files end in a newline, token parts do not).
 * Returns a new reference, or NULL.
 */
static json_object *parse_object(const char *buf, size_t len, int trailing_ws)
{
	struct json_tokener *tok;
	json_object *obj = NULL;
	size_t end;

	if (len > INT_MAX || memchr(buf, '\0', len))
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success)
		goto bad;
	end = json_tokener_get_parse_end(tok);
	while (trailing_ws && end < len && isspace((unsigned char)buf[end]))
		end++;
	if (end != len || !json_object_is_type(obj, json_type_object))
		goto bad;
	json_tokener_free(tok);
	return obj;
bad:
	json_object_put(obj);
	json_tokener_free(tok);
	return NULL;
}

/* A string member, or NULL when absent or not a string. */
static const char *get_str(json_object *obj, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int auth_is_uuid(const char *s)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; i < AUTH_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;	/* also stops at the NUL of a short s */
		}
	}
	return s[AUTH_UUID_LEN] == '\0';
}

/* ---- JWKS ---- */

/* Decode a base64url JWK member; JWKs sometimes carry '=' padding. */
static unsigned char *jwk_bytes(json_object *jwk, const char *name,
				size_t *outlen)
{
	const char *s = get_str(jwk, name);
	size_t len;

	if (!s)
		return NULL;
	len = strlen(s);
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len == 0)
		return NULL;
	return b64url_decode(s, len, outlen);
}

/* The PEM form of pkey's public half, into key->pem. */
static int key_set_pem(struct auth_key *key, EVP_PKEY *pkey)
{
	BIO *bio;
	char *data;
	long len;
	int ret = -1;

	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1)
		goto out;
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0 || len > INT_MAX)
		goto out;
	key->pem = malloc((size_t)len + 1);
	if (!key->pem)
		goto out;
	memcpy(key->pem, data, (size_t)len);
	key->pem[len] = '\0';
	key->pem_len = (size_t)len;
	ret = 0;
out:
	BIO_free(bio);
	return ret;
}

/* Build a public EVP_PKEY of type name from params, and sanity-check it. */
static EVP_PKEY *pkey_from_params(const char *name, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx, *check = NULL;
	EVP_PKEY *pkey = NULL;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/* fromdata takes RSA n/e as given; reject an even n, e = 1 and such */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!check || EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

/* EC P-256 JWK (x, y) -> key->pem. Returns 0, or -1 with *why set. */
static int jwk_ec(json_object *jwk, struct auth_key *key, const char **why)
{
	unsigned char *x = NULL, *y = NULL, point[65];
	size_t xlen = 0, ylen = 0;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	int ret = -1;

	x = jwk_bytes(jwk, "x", &xlen);
	y = jwk_bytes(jwk, "y", &ylen);
	if (!x || !y || xlen != 32 || ylen != 32) {
		*why = "x and y must be 32-byte base64url values";
		goto out;
	}
	point[0] = 0x04;	/* uncompressed point: 04 || x || y */
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	*why = "not a valid p-256 public key";
	bld = OSSL_PARAM_BLD_new();
	if (!bld ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					     "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					      point, sizeof(point)))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!params)
		goto out;
	pkey = pkey_from_params("EC", params);
	if (!pkey || key_set_pem(key, pkey))
		goto out;
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return ret;
}

/* RSA JWK (n, e) -> key->pem. Returns 0, or -1 with *why set. */
static int jwk_rsa(json_object *jwk, struct auth_key *key, const char **why)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen = 0, elen = 0;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;
	int ret = -1;

	n = jwk_bytes(jwk, "n", &nlen);
	e = jwk_bytes(jwk, "e", &elen);
	if (!n || !e || nlen > INT_MAX || elen > 8) {
		*why = "n and e must be base64url values";
		goto out;
	}
	*why = "not a valid rsa public key";
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	if (!bn_n || !bn_e)
		goto out;
	if (BN_num_bits(bn_n) < AUTH_MIN_RSA_BITS) {
		*why = "rsa key is shorter than 2048 bits";
		goto out;
	}
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	if (!params)
		goto out;
	pkey = pkey_from_params("RSA", params);
	if (!pkey || key_set_pem(key, pkey))
		goto out;
	ret = 0;
out:
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	free(n);
	free(e);
	return ret;
}

static void keys_free(struct auth_key *key)
{
	struct auth_key *next;

	for (; key; key = next) {
		next = key->next;
		if (key->pem)
			OPENSSL_cleanse(key->pem, key->pem_len);
		free(key->pem);
		free(key);
	}
}

static const struct auth_key *find_key(const struct auth_key *key,
				       const char *kid)
{
	for (; key; key = key->next)
		if (!strcmp(key->kid, kid))
			return key;
	return NULL;
}

/*
 * Read the whole file at path (at most AUTH_MAX_JWKS bytes) into a
 * malloc'd buffer. Returns 0, or -1 with errno set.
 */
static int read_file(const char *path, char **buf, size_t *len)
{
	FILE *f;
	char *data = NULL;
	size_t n;
	int ret = -1, saved;

	f = fopen(path, "rb");
	if (!f)
		return -1;
	data = malloc(AUTH_MAX_JWKS + 1);
	if (!data)
		goto out;
	n = fread(data, 1, AUTH_MAX_JWKS + 1, f);
	if (ferror(f)) {
		errno = EIO;
		goto out;
	}
	if (n > AUTH_MAX_JWKS) {
		errno = EFBIG;
		goto out;
	}
	data[n] = '\0';
	*buf = data;
	*len = n;
	data = NULL;
	ret = 0;
out:
	saved = errno;
	free(data);
	fclose(f);
	errno = saved;
	return ret;
}

/*
 * Load the signing keys of a JWKS file into a->keys. Keys we do not do
 * (other use, kty, curve or alg) are skipped; a key we do but cannot
 * use fails the whole file, better at startup than at the first login.
 */
static int load_jwks(struct auth *a, const char *path, char *err,
		     size_t errlen)
{
	json_object *root = NULL, *keys, *jwk;
	struct auth_key *key = NULL, **tail = &a->keys;
	const char *kty, *alg, *use, *crv, *kid, *why = NULL;
	char *buf = NULL;
	size_t len, i, n;
	int ret = -1;

	if (read_file(path, &buf, &len)) {
		seterr(err, errlen, "cannot read jwks file '%s': %s", path,
		       strerror(errno));
		goto out;
	}
	root = parse_object(buf, len, 1);
	if (!root) {
		seterr(err, errlen, "jwks file '%s' is not a json object", path);
		goto out;
	}
	if (!json_object_object_get_ex(root, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array)) {
		seterr(err, errlen, "jwks file '%s' has no \"keys\" array", path);
		goto out;
	}
	n = json_object_array_length(keys);
	for (i = 0; i < n; i++) {
		jwk = json_object_array_get_idx(keys, i);
		if (!json_object_is_type(jwk, json_type_object)) {
			seterr(err, errlen,
			       "jwks file '%s': key %zu is not an object",
			       path, i);
			goto out;
		}
		kty = get_str(jwk, "kty");
		alg = get_str(jwk, "alg");
		use = get_str(jwk, "use");
		crv = get_str(jwk, "crv");
		if (use && strcmp(use, "sig"))
			continue;
		if (!kty)
			continue;
		if (!strcmp(kty, "EC")) {
			if (!crv || strcmp(crv, "P-256") ||
			    (alg && strcmp(alg, "ES256")))
				continue;
		} else if (!strcmp(kty, "RSA")) {
			if (alg && strcmp(alg, "RS256"))
				continue;
		} else {
			continue;
		}
		kid = get_str(jwk, "kid");
		if (!kid || !*kid || strlen(kid) >= sizeof(key->kid)) {
			seterr(err, errlen,
			       "jwks file '%s': key %zu has no usable \"kid\"",
			       path, i);
			goto out;
		}
		if (find_key(a->keys, kid)) {
			seterr(err, errlen,
			       "jwks file '%s': kid '%s' appears twice", path,
			       kid);
			goto out;
		}
		key = calloc(1, sizeof(*key));
		if (!key) {
			seterr(err, errlen, "out of memory");
			goto out;
		}
		strcpy(key->kid, kid);
		key->kty = !strcmp(kty, "EC") ? AUTH_KTY_EC : AUTH_KTY_RSA;
		key->alg = key->kty == AUTH_KTY_EC ? JWT_ALG_ES256 :
			   JWT_ALG_RS256;
		if ((key->kty == AUTH_KTY_EC ? jwk_ec : jwk_rsa)(jwk, key,
								 &why)) {
			seterr(err, errlen, "jwks file '%s': key '%s': %s",
			       path, kid, why);
			goto out;
		}
		*tail = key;
		tail = &key->next;
		key = NULL;
	}
	if (!a->keys) {
		seterr(err, errlen,
		       "jwks file '%s' has no es256 (p-256) or rs256 signing key",
		       path);
		goto out;
	}
	ret = 0;
out:
	if (ret)
		ERR_clear_error();
	keys_free(key);
	json_object_put(root);
	free(buf);
	return ret;
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
	if (jwks_path && load_jwks(a, jwks_path, err, errlen))
		goto out;
	ret = 0;
out:
	if (ret)
		auth_release(a);	/* leaves a safe to release again */
	return ret;
}

void auth_release(struct auth *a)
{
	if (!a)
		return;
	if (a->secret)
		OPENSSL_cleanse(a->secret, a->secret_len);
	free(a->secret);
	keys_free(a->keys);
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
	const struct auth_key *k;
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
	k = find_key(a->keys, kid);
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
	size_t tlen, off[3], len[3], hlen, plen, slen, keylen = 0, i;
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
	head = parse_object((const char *)hbuf, hlen, 0);
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
	claims = parse_object((const char *)pbuf, plen, 0);
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
	if (!auth_is_uuid(sub)) {
		seterr(err, errlen, "token sub is not a uuid");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	for (i = 0; i < AUTH_UUID_LEN; i++)
		c.sub[i] = (char)tolower((unsigned char)sub[i]);
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
	char lsub[AUTH_UUID_LEN + 1];
	jwt_t *jwt = NULL;
	char *token = NULL;
	size_t i, len;

	if (!secret || !(len = strlen(secret)) || len > AUTH_MAX_SECRET) {
		seterr(err, errlen, "jwt secret must be 1 to %d bytes long",
		       AUTH_MAX_SECRET);
		goto out;
	}
	if (!auth_is_uuid(sub)) {
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
	for (i = 0; i <= AUTH_UUID_LEN; i++)
		lsub[i] = (char)tolower((unsigned char)sub[i]);
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
