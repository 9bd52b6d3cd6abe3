/*
 * Unit tests for shared/auth.c: token verification against an HS256 secret
 * and a JWKS holding keys generated here at runtime, claim checks, setup
 * errors and minting. No services needed.
 *
 * Tokens are signed with libjwt (as a third party would sign them) or, for
 * the shapes libjwt will not produce, assembled by hand.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* vasprintf */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth.h"

#define NOW 1700000000L
#define LEEWAY 10
#define AUD "authenticated"
#define SECRET "unit-test-secret-0123456789abcdef0123456789abcdef"
#define UID "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
#define UID_UPPER "6F1C2D3E-4B5A-4C6D-8E7F-0123456789AB"

/* Everything the tests share: made once by setup(), read-only after. */
static struct {
	EVP_PKEY *ec, *ec_other, *rsa;
	char *ec_priv, *ec_other_priv, *rsa_priv;	/* PEM */
	char *ec_pub, *rsa_pub;				/* PEM */
	char jwks[64];		/* path of the JWKS file */
	struct auth both;	/* secret + JWKS */
	struct auth jwks_only;
	struct auth secret_only;
} fx;

/* ---- helpers ---- */

static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

static const char tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url(const unsigned char *p, size_t n)
{
	char *out = malloc(n / 3 * 4 + 5), *o = out;
	size_t i;
	uint32_t v;

	assert_non_null(out);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
	}
	*o = '\0';
	return out;
}

static char *b64url_str(const char *s)
{
	return b64url((const unsigned char *)s, strlen(s));
}

static char *bio_string(BIO *bio)
{
	char *data, *s;
	long n = BIO_get_mem_data(bio, &data);

	assert_true(n > 0);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	BIO_free(bio);
	return s;
}

static char *pem_private(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0,
						  NULL, NULL), 1);
	return bio_string(bio);
}

static char *pem_public(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());

	assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
	return bio_string(bio);
}

/*
 * A BIGNUM key parameter as base64url, left-padded to pad bytes if > 0;
 * with its lowest bit cleared if even is set.
 */
static char *bn_param_x(EVP_PKEY *k, const char *name, int pad, int even)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;
	char *s;

	assert_int_equal(EVP_PKEY_get_bn_param(k, name, &bn), 1);
	if (even)
		assert_int_equal(BN_clear_bit(bn, 0), 1);
	n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	assert_true(n > 0);
	s = b64url(buf, (size_t)n);
	BN_free(bn);
	return s;
}

static char *bn_param(EVP_PKEY *k, const char *name, int pad)
{
	return bn_param_x(k, name, pad, 0);
}

static char *bn_param_even(EVP_PKEY *k, const char *name)
{
	return bn_param_x(k, name, 0, 1);
}

/* Standard claims for sub with expiry exp, plus extra JSON members. */
static char *claims(const char *sub, long exp, const char *extra)
{
	return xasprintf("{\"sub\":\"%s\",\"aud\":\"" AUD "\",\"role\":"
			 "\"authenticated\",\"iat\":%ld,\"exp\":%ld%s%s}",
			 sub, NOW - 60, exp, extra ? "," : "",
			 extra ? extra : "");
}

/* Sign payload JSON with libjwt; kid may be NULL. Caller frees. */
static char *sign(jwt_alg_t alg, const char *key, size_t keylen,
		  const char *kid, const char *payload)
{
	jwt_t *jwt = NULL;
	char *tok;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grants_json(jwt, payload), 0);
	if (kid)
		assert_int_equal(jwt_add_header(jwt, "kid", kid), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, (const unsigned char *)key,
				     (int)keylen), 0);
	tok = jwt_encode_str(jwt);
	assert_non_null(tok);
	jwt_free(jwt);
	return tok;
}

static char *sign_hs(const char *secret, const char *payload)
{
	return sign(JWT_ALG_HS256, secret, strlen(secret), NULL, payload);
}

static char *sign_es(const char *kid, const char *payload)
{
	return sign(JWT_ALG_ES256, fx.ec_priv, strlen(fx.ec_priv), kid,
		    payload);
}

static char *sign_rs(const char *kid, const char *payload)
{
	return sign(JWT_ALG_RS256, fx.rsa_priv, strlen(fx.rsa_priv), kid,
		    payload);
}

/* "b64(header).b64(payload)", the signing input of a hand-made token. */
static char *signing_input(const char *header, const char *payload)
{
	char *h = b64url_str(header), *p = b64url_str(payload), *s;

	s = xasprintf("%s.%s", h, p);
	free(h);
	free(p);
	return s;
}

/* A hand-made token HMAC'd with key, whatever the header says. */
static char *craft_hmac(const char *header, const char *payload,
			const char *key, size_t keylen, const EVP_MD *md)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *in = signing_input(header, payload), *sig, *tok;

	assert_non_null(HMAC(md, key, (int)keylen, (unsigned char *)in,
			     strlen(in), mac, &maclen));
	sig = b64url(mac, maclen);
	tok = xasprintf("%s.%s", in, sig);
	free(in);
	free(sig);
	return tok;
}

/*
 * ES256 signed with OpenSSL directly, in the JOSE form (r || s, 32 bytes
 * each) as Supabase and every other issuer produce it; or, when der is
 * set, in the DER form OpenSSL itself emits, which a verifier must refuse.
 */
static char *craft_es256(const char *kid, const char *payload, int der)
{
	char *header = xasprintf("{\"alg\":\"ES256\",\"typ\":\"JWT\","
				 "\"kid\":\"%s\"}", kid);
	char *in = signing_input(header, payload), *sig, *tok;
	unsigned char dersig[128], raw[64];
	const unsigned char *p = dersig;
	size_t dlen = sizeof(dersig);
	const BIGNUM *r, *s;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es;

	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
					    fx.ec), 1);
	assert_int_equal(EVP_DigestSign(md, dersig, &dlen,
					(unsigned char *)in, strlen(in)), 1);
	EVP_MD_CTX_free(md);
	if (der) {
		sig = b64url(dersig, dlen);
	} else {
		es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
		assert_non_null(es);
		ECDSA_SIG_get0(es, &r, &s);
		assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
		assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
		ECDSA_SIG_free(es);
		sig = b64url(raw, sizeof(raw));
	}
	tok = xasprintf("%s.%s", in, sig);
	free(header);
	free(in);
	free(sig);
	return tok;
}

static void expect_ok_with(const struct auth *a, const char *tok,
			   const char *sub, int admin, long exp)
{
	struct auth_claims c;
	char err[256] = "";
	int rc;

	memset(&c, 0x5a, sizeof(c));
	rc = auth_verify(a, tok, NOW, &c, err, sizeof(err));
	if (rc)
		fail_msg("refused: %s", err);
	assert_string_equal(c.sub, sub);
	assert_int_equal(c.is_admin, admin);
	assert_int_equal(c.exp, exp);
}

static void expect_ok(const char *tok)
{
	expect_ok_with(&fx.both, tok, UID, 0, NOW + 3600);
}

/*
 * Refused with a reason containing want; the reason must not leak any
 * part of the token.
 */
static void expect_refused_by(const struct auth *a, const char *tok,
			      const char *want)
{
	struct auth_claims c;
	char err[256] = "", *copy, *seg, *save = NULL;

	assert_int_equal(auth_verify(a, tok, NOW, &c, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("reason '%s' lacks '%s'", err, want);
	if (!tok)
		return;
	copy = strdup(tok);
	assert_non_null(copy);
	for (seg = strtok_r(copy, ".", &save); seg;
	     seg = strtok_r(NULL, ".", &save))
		if (strlen(seg) >= 6 && strstr(err, seg))
			fail_msg("reason quotes the token: %s", err);
	free(copy);
}

static void expect_refused(const char *tok, const char *want)
{
	expect_refused_by(&fx.both, tok, want);
}

/* ---- fixture ---- */

static int write_jwks(void)
{
	char *ex = bn_param(fx.ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	char *ey = bn_param(fx.ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	char *rn = bn_param(fx.rsa, OSSL_PKEY_PARAM_RSA_N, 0);
	char *re = bn_param(fx.rsa, OSSL_PKEY_PARAM_RSA_E, 0);
	int fd;
	FILE *f;

	snprintf(fx.jwks, sizeof(fx.jwks), "/tmp/test_auth_jwks.XXXXXX");
	fd = mkstemp(fx.jwks);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	/*
	 * Besides the two keys in use: an encryption key and an HMAC key
	 * (skipped), and a P-384 key whose junk values would fail if they
	 * were not skipped.
	 */
	fprintf(f, "{\"keys\":[\n"
		" {\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec-enc\","
		"\"use\":\"enc\",\"x\":\"%s\",\"y\":\"%s\"},\n"
		" {\"kty\":\"oct\",\"kid\":\"hmac-1\",\"k\":\"c2VjcmV0\"},\n"
		" {\"kty\":\"EC\",\"crv\":\"P-384\",\"kid\":\"ec-384\","
		"\"alg\":\"ES384\",\"x\":\"AA\",\"y\":\"AA\"},\n"
		" {\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec-1\","
		"\"alg\":\"ES256\",\"use\":\"sig\",\"x\":\"%s\",\"y\":\"%s\"},\n"
		" {\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"%s\",\"e\":\"%s\"}\n"
		"]}\n", ex, ey, ex, ey, rn, re);
	assert_int_equal(fclose(f), 0);
	free(ex);
	free(ey);
	free(rn);
	free(re);
	return 0;
}

static int setup(void **state)
{
	char err[256] = "";

	(void)state;
	fx.ec = EVP_EC_gen("P-256");
	fx.ec_other = EVP_EC_gen("P-256");
	fx.rsa = EVP_RSA_gen(2048);
	if (!fx.ec || !fx.ec_other || !fx.rsa)
		return -1;
	fx.ec_priv = pem_private(fx.ec);
	fx.ec_other_priv = pem_private(fx.ec_other);
	fx.rsa_priv = pem_private(fx.rsa);
	fx.ec_pub = pem_public(fx.ec);
	fx.rsa_pub = pem_public(fx.rsa);
	write_jwks();
	if (auth_init(&fx.both, SECRET, fx.jwks, AUD, LEEWAY, err,
		      sizeof(err)) ||
	    auth_init(&fx.jwks_only, NULL, fx.jwks, AUD, LEEWAY, err,
		      sizeof(err)) ||
	    auth_init(&fx.secret_only, SECRET, NULL, AUD, LEEWAY, err,
		      sizeof(err))) {
		fprintf(stderr, "auth_init: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	auth_release(&fx.both);
	auth_release(&fx.jwks_only);
	auth_release(&fx.secret_only);
	if (fx.jwks[0])
		unlink(fx.jwks);
	free(fx.ec_priv);
	free(fx.ec_other_priv);
	free(fx.rsa_priv);
	free(fx.ec_pub);
	free(fx.rsa_pub);
	EVP_PKEY_free(fx.ec);
	EVP_PKEY_free(fx.ec_other);
	EVP_PKEY_free(fx.rsa);
	return 0;
}

/* ---- accepted tokens ---- */

static void test_valid_hs256(void **state)
{
	/* an uppercase sub comes out lowercase */
	char *p = claims(UID_UPPER, NOW + 3600, NULL);
	char *t = sign_hs(SECRET, p);

	(void)state;
	expect_ok(t);
	expect_ok_with(&fx.secret_only, t, UID, 0, NOW + 3600);
	free(t);
	free(p);
}

static void test_valid_es256(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *t = sign_es("ec-1", p);

	(void)state;
	expect_ok(t);
	expect_ok_with(&fx.jwks_only, t, UID, 0, NOW + 3600);
	free(t);
	free(p);
}

static void test_es256_jose_signature(void **state)
{
	/* what a real issuer sends: r || s, not DER */
	char *p = claims(UID, NOW + 3600, NULL);
	char *t = craft_es256("ec-1", p, 0);
	char *d = craft_es256("ec-1", p, 1);

	(void)state;
	expect_ok(t);
	expect_refused(d, "signature is invalid");
	free(t);
	free(d);
	free(p);
}

static void test_valid_rs256(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *t = sign_rs("rsa-1", p);

	(void)state;
	expect_ok(t);
	expect_ok_with(&fx.jwks_only, t, UID, 0, NOW + 3600);
	free(t);
	free(p);
}

static void test_service_role_is_admin(void **state)
{
	char *p = xasprintf("{\"sub\":\"%s\",\"aud\":\"" AUD "\",\"role\":"
			    "\"service_role\",\"exp\":%ld}", UID, NOW + 60);
	char *t = sign_es("ec-1", p);
	char *q = claims(UID, NOW + 60, NULL);	/* role authenticated */
	char *u = sign_es("ec-1", q);

	(void)state;
	expect_ok_with(&fx.both, t, UID, 1, NOW + 60);
	expect_ok_with(&fx.both, u, UID, 0, NOW + 60);
	free(t);
	free(p);
	free(u);
	free(q);
}

static void test_aud_array(void **state)
{
	char *p = xasprintf("{\"sub\":\"%s\",\"aud\":[\"other\",\"" AUD "\"],"
			    "\"exp\":%ld}", UID, NOW + 3600);
	char *q = xasprintf("{\"sub\":\"%s\",\"aud\":[\"other\",\"anon\"],"
			    "\"exp\":%ld}", UID, NOW + 3600);
	char *t = sign_hs(SECRET, p), *u = sign_hs(SECRET, q);

	(void)state;
	expect_ok(t);
	expect_refused(u, "audience");
	free(t);
	free(u);
	free(p);
	free(q);
}

static void test_expiry_leeway(void **state)
{
	/* valid while now - leeway < exp */
	char *p1 = claims(UID, NOW - LEEWAY + 1, NULL);
	char *p2 = claims(UID, NOW - LEEWAY, NULL);
	char *t1 = sign_hs(SECRET, p1), *t2 = sign_hs(SECRET, p2);

	(void)state;
	expect_ok_with(&fx.both, t1, UID, 0, NOW - LEEWAY + 1);
	expect_refused(t2, "token is expired");
	free(t1);
	free(t2);
	free(p1);
	free(p2);
}

static void test_fractional_exp(void **state)
{
	/* NumericDate may have a fraction; rounded towards expiry */
	char *p = xasprintf("{\"sub\":\"%s\",\"aud\":\"" AUD "\","
			    "\"exp\":%ld.75}", UID, NOW + 100);
	char *t = sign_hs(SECRET, p);

	(void)state;
	expect_ok_with(&fx.both, t, UID, 0, NOW + 100);
	free(t);
	free(p);
}

/* ---- refused tokens ---- */

static void test_alg_none(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *t = sign(JWT_ALG_NONE, NULL, 0, NULL, p);
	char *in = signing_input("{\"alg\":\"None\",\"typ\":\"JWT\"}", p);
	char *u = xasprintf("%s.", in);
	/* a none token with a signature stuck on is still none */
	char *v = craft_hmac("{\"alg\":\"none\"}", p, SECRET, strlen(SECRET),
			     EVP_sha256());

	(void)state;
	assert_non_null(strstr(t, "."));
	expect_refused(t, "alg none");
	expect_refused(u, "alg none");
	expect_refused(v, "alg none");
	expect_refused_by(&fx.secret_only, t, "alg none");
	free(t);
	free(u);
	free(v);
	free(in);
	free(p);
}

static void test_hs256_with_public_key(void **state)
{
	/* key confusion: HMAC keyed with the JWKS key's public PEM */
	char *p = claims(UID, NOW + 3600, NULL);
	char *t = sign(JWT_ALG_HS256, fx.ec_pub, strlen(fx.ec_pub), "ec-1", p);
	char *u = sign(JWT_ALG_HS256, fx.rsa_pub, strlen(fx.rsa_pub), "rsa-1",
		       p);

	(void)state;
	expect_refused(t, "signature is invalid");
	expect_refused(u, "signature is invalid");
	expect_refused_by(&fx.jwks_only, t, "hs256 tokens are not accepted");
	expect_refused_by(&fx.jwks_only, u, "hs256 tokens are not accepted");
	free(t);
	free(u);
	free(p);
}

static void test_wrong_secret(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *t = sign_hs("some-other-secret-0123456789abcdef0123456789", p);

	(void)state;
	expect_refused(t, "signature is invalid");
	free(t);
	free(p);
}

static void test_wrong_ec_key(void **state)
{
	/* right kid, but signed by a key that is not in the JWKS */
	char *p = claims(UID, NOW + 3600, NULL);
	char *t = sign(JWT_ALG_ES256, fx.ec_other_priv,
		       strlen(fx.ec_other_priv), "ec-1", p);

	(void)state;
	expect_refused(t, "signature is invalid");
	free(t);
	free(p);
}

static void test_tampered_payload(void **state)
{
	char *good = claims(UID, NOW + 3600, NULL);
	char *evil = xasprintf("{\"sub\":\"%s\",\"aud\":\"" AUD "\",\"role\":"
			       "\"service_role\",\"exp\":%ld}", UID,
			       NOW + 3600);
	char *t1 = sign_hs(SECRET, good), *t2 = sign_hs(SECRET, evil);
	char *r1 = sign_rs("rsa-1", good), *r2 = sign_rs("rsa-1", evil);
	char *e1 = sign_es("ec-1", good), *e2 = sign_es("ec-1", evil);
	char *sw[3], *pairs[3][2] = { { t1, t2 }, { r1, r2 }, { e1, e2 } };
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		/* header.payload of the evil token, signature of the good */
		sw[i] = xasprintf("%.*s%s",
				  (int)(strrchr(pairs[i][1], '.') - pairs[i][1]),
				  pairs[i][1], strrchr(pairs[i][0], '.'));
		expect_ok(pairs[i][0]);
		expect_refused(sw[i], "signature is invalid");
		free(sw[i]);
	}
	free(t1);
	free(t2);
	free(r1);
	free(r2);
	free(e1);
	free(e2);
	free(good);
	free(evil);
}

static void test_expired(void **state)
{
	char *p = claims(UID, NOW - 3600, NULL);
	char *t = sign_hs(SECRET, p), *u = sign_rs("rsa-1", p);

	(void)state;
	expect_refused(t, "token is expired");
	expect_refused(u, "token is expired");
	free(t);
	free(u);
	free(p);
}

static void test_nbf(void **state)
{
	char *p1 = claims(UID, NOW + 3600, "\"nbf\":1700000060");
	char *p2 = claims(UID, NOW + 3600, "\"nbf\":1700000005");
	char *p3 = claims(UID, NOW + 3600, "\"nbf\":\"soon\"");
	/* a fraction past the leeway is past it (rounded up) */
	char *p4 = claims(UID, NOW + 3600, "\"nbf\":1700000010.5");
	char *t1 = sign_hs(SECRET, p1), *t2 = sign_hs(SECRET, p2);
	char *t3 = sign_hs(SECRET, p3), *t4 = sign_hs(SECRET, p4);

	(void)state;
	expect_refused(t1, "not valid yet");
	expect_ok(t2);		/* within the leeway */
	expect_refused(t3, "nbf is not a number");
	expect_refused(t4, "not valid yet");
	free(t1);
	free(t2);
	free(t3);
	free(t4);
	free(p1);
	free(p2);
	free(p3);
	free(p4);
}

static void test_wrong_aud(void **state)
{
	char *p1 = xasprintf("{\"sub\":\"%s\",\"aud\":\"anon\",\"exp\":%ld}",
			     UID, NOW + 3600);
	char *p2 = xasprintf("{\"sub\":\"%s\",\"exp\":%ld}", UID, NOW + 3600);
	char *t1 = sign_hs(SECRET, p1), *t2 = sign_hs(SECRET, p2);

	(void)state;
	expect_refused(t1, "audience");
	expect_refused(t2, "audience");
	free(t1);
	free(t2);
	free(p1);
	free(p2);
}

static void test_bad_sub(void **state)
{
	char *p1 = xasprintf("{\"aud\":\"" AUD "\",\"exp\":%ld}", NOW + 3600);
	char *p2 = claims("alice", NOW + 3600, NULL);
	char *p3 = claims(UID "0", NOW + 3600, NULL);
	char *p4 = xasprintf("{\"sub\":42,\"aud\":\"" AUD "\",\"exp\":%ld}",
			     NOW + 3600);
	char *t1 = sign_hs(SECRET, p1), *t2 = sign_hs(SECRET, p2);
	char *t3 = sign_hs(SECRET, p3), *t4 = sign_hs(SECRET, p4);

	(void)state;
	expect_refused(t1, "token has no sub");
	expect_refused(t2, "sub is not a uuid");
	expect_refused(t3, "sub is not a uuid");
	expect_refused(t4, "token has no sub");
	free(t1);
	free(t2);
	free(t3);
	free(t4);
	free(p1);
	free(p2);
	free(p3);
	free(p4);
}

static void test_missing_exp(void **state)
{
	char *p1 = xasprintf("{\"sub\":\"%s\",\"aud\":\"" AUD "\"}", UID);
	char *p2 = xasprintf("{\"sub\":\"%s\",\"aud\":\"" AUD "\","
			     "\"exp\":\"%ld\"}", UID, NOW + 3600);
	char *t1 = sign_hs(SECRET, p1), *t2 = sign_hs(SECRET, p2);

	(void)state;
	expect_refused(t1, "token has no exp");
	expect_refused(t2, "exp is not a number");
	free(t1);
	free(t2);
	free(p1);
	free(p2);
}

static void test_unknown_kid(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *t1 = sign_es("ec-9", p);
	char *t2 = sign_es(NULL, p);
	char *t3 = sign_es("ec-enc", p);	/* skipped: use enc */

	(void)state;
	expect_refused(t1, "kid names no known key");
	expect_refused(t2, "token header has no kid");
	expect_refused(t3, "kid names no known key");
	expect_refused_by(&fx.secret_only, t1, "es256/rs256 tokens are not");
	free(t1);
	free(t2);
	free(t3);
	free(p);
}

static void test_alg_kty_mismatch(void **state)
{
	/* ES256 naming the RSA key, RS256 naming the EC key */
	char *p = claims(UID, NOW + 3600, NULL);
	char *t1 = sign_es("rsa-1", p), *t2 = sign_rs("ec-1", p);

	(void)state;
	expect_refused(t1, "alg does not match its key");
	expect_refused(t2, "alg does not match its key");
	free(t1);
	free(t2);
	free(p);
}

static void test_other_algs(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *t1 = sign(JWT_ALG_HS512, SECRET, strlen(SECRET), NULL, p);
	char *t2 = craft_hmac("{\"alg\":\"hs256\"}", p, SECRET,
			      strlen(SECRET), EVP_sha256());
	char *t3 = craft_hmac("{\"typ\":\"JWT\"}", p, SECRET, strlen(SECRET),
			      EVP_sha256());
	char *t4 = craft_hmac("{\"alg\":\"HS256\",\"typ\":\"JWE\"}", p,
			      SECRET, strlen(SECRET), EVP_sha256());
	char *t5 = craft_hmac("{\"alg\":\"HS256\",\"crit\":[\"b64\"],"
			      "\"b64\":false}", p, SECRET, strlen(SECRET),
			      EVP_sha256());
	/* control: the same hand-made shape with a proper header passes */
	char *t6 = craft_hmac("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", p,
			      SECRET, strlen(SECRET), EVP_sha256());

	(void)state;
	expect_refused(t1, "alg is not supported");
	expect_refused(t2, "alg is not supported");
	expect_refused(t3, "header has no alg");
	expect_refused(t4, "type is not jwt");
	expect_refused(t5, "crit");
	expect_ok(t6);
	free(t1);
	free(t2);
	free(t3);
	free(t4);
	free(t5);
	free(t6);
	free(p);
}

static void test_malformed(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *good = sign_hs(SECRET, p);
	char *dot = strchr(good, '.'), *last = strrchr(good, '.');
	char *two = xasprintf("%.*s", (int)(last - good), good);
	char *four = xasprintf("%s.xyz", good);
	char *badchar = xasprintf("%.*s$%s", (int)(dot - good) - 1, good, dot);
	char *padded = xasprintf("%s==", good);
	char *nohead = xasprintf("%s", dot);
	char *nosig = xasprintf("%.*s.", (int)(last - good), good);
	char *h = b64url_str("not json"), *pl = b64url_str(p);
	char *notjson = xasprintf("%s.%s.c2ln", h, pl);
	char *arr = b64url_str("[\"HS256\"]");
	char *arrhead = xasprintf("%s.%s.c2ln", arr, pl);
	char *t7 = craft_hmac("{\"alg\":\"HS256\"}", "not json either",
			      SECRET, strlen(SECRET), EVP_sha256());
	char *t8 = craft_hmac("{\"alg\":\"HS256\"} x", p, SECRET,
			      strlen(SECRET), EVP_sha256());
	char *es;

	(void)state;
	expect_ok(good);
	expect_refused(two, "three base64url segments");
	expect_refused(four, "three base64url segments");
	expect_refused(nohead, "three base64url segments");
	expect_refused(badchar, "not valid base64url");
	expect_refused(padded, "not valid base64url");
	expect_refused(nosig, "no signature");
	expect_refused(notjson, "header is not a json object");
	expect_refused(arrhead, "header is not a json object");
	expect_refused(t7, "payload is not a json object");
	expect_refused(t8, "header is not a json object");
	/*
	 * The last character of a 64-byte ES256 signature carries 4 unused
	 * bits; setting one gives the same bytes in another spelling, which
	 * must not pass (tokens are not malleable).
	 */
	es = sign_es("ec-1", p);
	expect_ok(es);
	es[strlen(es) - 1] = tab[(strchr(tab, es[strlen(es) - 1]) - tab) | 1];
	expect_refused(es, "not valid base64url");
	free(es);
	free(good);
	free(two);
	free(four);
	free(badchar);
	free(padded);
	free(nohead);
	free(nosig);
	free(h);
	free(pl);
	free(notjson);
	free(arr);
	free(arrhead);
	free(t7);
	free(t8);
	free(p);
}

static void test_empty_and_oversized(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *good = sign_hs(SECRET, p);
	char *big = malloc(AUTH_MAX_TOKEN + 2), err[256] = "";
	size_t n = strlen(good);
	struct auth_claims c;

	(void)state;
	expect_refused("", "no token");
	expect_refused(NULL, "no token");
	/* a valid token padded with a long junk claim is still too long */
	assert_non_null(big);
	memset(big, 'a', AUTH_MAX_TOKEN + 1);
	big[AUTH_MAX_TOKEN + 1] = '\0';
	memcpy(big, good, n);
	expect_refused(big, "token is too long");
	/* exactly the limit is parsed, and fails for another reason */
	big[AUTH_MAX_TOKEN] = '\0';
	assert_int_equal(auth_verify(&fx.both, big, NOW, &c, err, sizeof(err)),
			 -1);
	assert_null(strstr(err, "too long"));
	assert_true(strlen(err) > 0);
	free(big);
	free(good);
	free(p);
}

/* ---- the rest of the API ---- */

/* auth_init must fail with a message containing want. */
static void expect_init_error(const char *secret, const char *jwks,
			      const char *aud, const char *want,
			      const char *want2)
{
	struct auth a;
	char err[512] = "";

	assert_int_equal(auth_init(&a, secret, jwks, aud, 0, err, sizeof(err)),
			 -1);
	if (!strstr(err, want) || (want2 && !strstr(err, want2)))
		fail_msg("init error '%s' lacks '%s'", err, want);
	assert_null(a.secret);
	assert_null(a.keys);
	auth_release(&a);	/* harmless after a failure */
}

/*
 * auth_init on a JWKS file holding text must fail naming the file and
 * saying want. The file is gone before anything is asserted, so that a
 * failing check leaves nothing in /tmp.
 */
static void expect_jwks_error(const char *text, const char *want)
{
	char path[64] = "/tmp/test_auth_bad.XXXXXX", err[512] = "";
	struct auth a;
	ssize_t n;
	int fd, rc;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	n = write(fd, text, strlen(text));
	close(fd);
	rc = auth_init(&a, NULL, path, AUD, 0, err, sizeof(err));
	unlink(path);
	if (rc == 0)
		auth_release(&a);
	assert_int_equal(n, (ssize_t)strlen(text));
	assert_int_equal(rc, -1);
	if (!strstr(err, path) || !strstr(err, want))
		fail_msg("init error '%s' lacks the path or '%s'", err, want);
	assert_null(a.keys);
}

static void test_init_errors(void **state)
{
	char *x, *y, *text, *rn;
	const char *missing = "/tmp/test_auth_no_such_dir/jwks.json";

	(void)state;
	expect_init_error(NULL, NULL, AUD, "no jwt secret and no jwks", NULL);
	expect_init_error("", NULL, AUD, "jwt secret must be", NULL);
	expect_init_error(SECRET, NULL, "", "audience", NULL);
	expect_init_error(SECRET, NULL, NULL, "audience", NULL);
	expect_init_error(SECRET, missing, AUD, missing,
			  "No such file or directory");

	expect_jwks_error("{\"keys\": [ nope", "not a json object");
	expect_jwks_error("{\"kid\":\"x\"}", "no \"keys\" array");
	/* only keys we skip: an HMAC key and an encryption key */
	expect_jwks_error("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"h\","
			  "\"k\":\"AA\"},{\"kty\":\"RSA\",\"kid\":\"r\","
			  "\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
			  "no es256");

	/* a point that is not on the curve (x and y swapped) */
	x = bn_param(fx.ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	y = bn_param(fx.ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
			 "\"kid\":\"bad-point\",\"x\":\"%s\",\"y\":\"%s\"}]}",
			 y, x);
	expect_jwks_error(text, "bad-point");
	free(text);

	/* a usable key without a kid, and a kid used twice */
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
			 "\"x\":\"%s\",\"y\":\"%s\"}]}", x, y);
	expect_jwks_error(text, "no usable \"kid\"");
	free(text);
	text = xasprintf("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
			 "\"kid\":\"k\",\"x\":\"%s\",\"y\":\"%s\"},"
			 "{\"kty\":\"EC\",\"crv\":\"P-256\","
			 "\"kid\":\"k\",\"x\":\"%s\",\"y\":\"%s\"}]}",
			 x, y, x, y);
	expect_jwks_error(text, "appears twice");
	free(text);

	/* an even RSA modulus: the right size, but no RSA key */
	rn = bn_param_even(fx.rsa, OSSL_PKEY_PARAM_RSA_N);
	text = xasprintf("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"even\","
			 "\"n\":\"%s\",\"e\":\"AQAB\"}]}", rn);
	expect_jwks_error(text, "not a valid rsa public key");
	free(text);
	free(rn);

	/* a small RSA modulus */
	expect_jwks_error("{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"tiny\","
			  "\"n\":\"0Z7Oaa1-r6sYqL3aV0K7Kw\",\"e\":\"AQAB\"}]}",
			  "2048");
	free(x);
	free(y);
}

static void test_leeway_clamped(void **state)
{
	struct auth a;
	char err[256] = "";

	(void)state;
	assert_int_equal(auth_init(&a, SECRET, NULL, AUD, 600, err,
				   sizeof(err)), 0);
	assert_int_equal(a.leeway, 30);
	auth_release(&a);
	assert_int_equal(auth_init(&a, SECRET, NULL, AUD, -5, err,
				   sizeof(err)), 0);
	assert_int_equal(a.leeway, 0);
	auth_release(&a);
}

static void test_mint_round_trip(void **state)
{
	char err[256] = "", *t, *u;
	struct auth other;

	(void)state;
	t = auth_mint_hs256(SECRET, UID_UPPER, AUD, 0, 600, NOW, err,
			    sizeof(err));
	assert_non_null(t);
	expect_ok_with(&fx.both, t, UID, 0, NOW + 600);
	u = auth_mint_hs256(SECRET, UID, AUD, 1, 60, NOW, err, sizeof(err));
	assert_non_null(u);
	expect_ok_with(&fx.secret_only, u, UID, 1, NOW + 60);
	/* not accepted where the audience or the secret differ */
	assert_int_equal(auth_init(&other, SECRET, NULL, "service", 0, err,
				   sizeof(err)), 0);
	expect_refused_by(&other, t, "audience");
	auth_release(&other);
	assert_int_equal(auth_init(&other, SECRET "x", NULL, AUD, 0, err,
				   sizeof(err)), 0);
	expect_refused_by(&other, t, "signature is invalid");
	auth_release(&other);
	free(t);
	free(u);

	assert_null(auth_mint_hs256(SECRET, "alice", AUD, 0, 60, NOW, err,
				    sizeof(err)));
	assert_non_null(strstr(err, "uuid"));
	assert_null(auth_mint_hs256("", UID, AUD, 0, 60, NOW, err,
				    sizeof(err)));
	assert_null(auth_mint_hs256(SECRET, UID, AUD, 0, 0, NOW, err,
				    sizeof(err)));
	assert_non_null(strstr(err, "ttl"));
}

struct worker {
	const char *tokens[3];
	int failures;
};

static void *verify_loop(void *arg)
{
	struct worker *w = arg;
	struct auth_claims c;
	char err[256];
	int i;

	for (i = 0; i < 150; i++)
		if (auth_verify(&fx.both, w->tokens[i % 3], NOW, &c, err,
				sizeof(err)) || strcmp(c.sub, UID))
			w->failures++;
	return NULL;
}

static void test_concurrent_verify(void **state)
{
	char *p = claims(UID, NOW + 3600, NULL);
	char *t[3] = { sign_hs(SECRET, p), sign_es("ec-1", p),
		       sign_rs("rsa-1", p) };
	struct worker w[4];
	pthread_t th[4];
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		w[i] = (struct worker){ { t[0], t[1], t[2] }, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, verify_loop,
						&w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	for (i = 0; i < 3; i++)
		free(t[i]);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_hs256),
		cmocka_unit_test(test_valid_es256),
		cmocka_unit_test(test_es256_jose_signature),
		cmocka_unit_test(test_valid_rs256),
		cmocka_unit_test(test_service_role_is_admin),
		cmocka_unit_test(test_aud_array),
		cmocka_unit_test(test_expiry_leeway),
		cmocka_unit_test(test_fractional_exp),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_hs256_with_public_key),
		cmocka_unit_test(test_wrong_secret),
		cmocka_unit_test(test_wrong_ec_key),
		cmocka_unit_test(test_tampered_payload),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_nbf),
		cmocka_unit_test(test_wrong_aud),
		cmocka_unit_test(test_bad_sub),
		cmocka_unit_test(test_missing_exp),
		cmocka_unit_test(test_unknown_kid),
		cmocka_unit_test(test_alg_kty_mismatch),
		cmocka_unit_test(test_other_algs),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_empty_and_oversized),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_leeway_clamped),
		cmocka_unit_test(test_mint_round_trip),
		cmocka_unit_test(test_concurrent_verify),
	};

	return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
