/*
 * Unit tests for shared/auth.c: token verification against an HS256 secret
 * and a JWKS holding keys generated here at runtime, claim checks, setup
 * errors and minting. No services needed.
 *
 * Verification is one table: each case says how its token is made and
 * changed, which verifier it meets, and what that verifier must answer;
 * run_case() runs a case as a test of its own name. Tokens are signed with
 * libjwt (as a third party would sign them) or, for the shapes libjwt will
 * not produce, assembled by hand.
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

/*
 * Refused with a reason containing want and, if unwanted is set, not
 * containing unwanted; the reason must not leak any part of the token.
 */
static void expect_refused_by(const struct auth *a, const char *tok,
			      const char *want, const char *unwanted)
{
	struct auth_claims c;
	char err[256] = "", *copy, *seg, *save = NULL;

	assert_int_equal(auth_verify(a, tok, NOW, &c, err, sizeof(err)), -1);
	if (!err[0])
		fail_msg("refused without a reason");
	if (!strstr(err, want))
		fail_msg("reason '%s' lacks '%s'", err, want);
	if (unwanted && strstr(err, unwanted))
		fail_msg("reason '%s' says '%s'", err, unwanted);
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

/* ---- token verification: one table, one runner ---- */

/* Which verifier a case asks (all three made by setup()). */
enum verifier { BOTH, JWKS_ONLY, SECRET_ONLY };

/* How a case's token is made from its payload. */
enum signer {
	HS256,		/* libjwt, keyed with SECRET */
	HS256_OTHER,	/* libjwt, keyed with a secret the verifiers lack */
	HS256_EC_PUB,	/* libjwt, keyed with the JWKS EC key's public PEM */
	HS256_RSA_PUB,	/* libjwt, keyed with the JWKS RSA key's public PEM */
	HS512,		/* libjwt, keyed with SECRET */
	ES256,		/* libjwt, the JWKS EC key */
	ES256_OTHER,	/* libjwt, an EC key not in the JWKS */
	RS256,		/* libjwt, the JWKS RSA key */
	NONE,		/* libjwt, alg none */
	ES256_JOSE,	/* OpenSSL, the JWKS EC key, r || s as issuers send it */
	ES256_DER,	/* OpenSSL, the JWKS EC key, the DER form */
	HMAC_HEADER,	/* by hand: .header, HMAC-SHA256 keyed with SECRET */
	RAW,		/* by hand: b64(.header).b64(payload).sig */
	LITERAL,	/* .token as it is (NULL: no token at all) */
};

/*
 * What is done to the token once made. Whatever it is, the token as made
 * must verify first: only the change may make it fail.
 */
enum mangle {
	AS_MADE,
	SIG_OF_CLAIMS,	/* signature of the same signer over CLAIMS */
	TWO_SEGMENTS,	/* "h.p" */
	FOUR_SEGMENTS,	/* "h.p.s.xyz" */
	NO_HEADER,	/* ".p.s" */
	NO_SIGNATURE,	/* "h.p." */
	BAD_CHAR,	/* the header's last character becomes '$' */
	PADDED,		/* "h.p.s==" */
	SPARE_BIT,	/* set an unused bit of the last character */
	TOO_LONG,	/* junk appended up to AUTH_MAX_TOKEN + 1 characters */
	AT_LIMIT,	/* junk appended up to AUTH_MAX_TOKEN characters */
};

/* Payload templates: {IAT} becomes NOW - 60 and {EXP} NOW + the case's exp. */
#define CLAIMS_OF(sub, extra) "{\"sub\":\"" sub "\",\"aud\":\"" AUD "\"," \
	"\"role\":\"authenticated\",\"iat\":{IAT},\"exp\":{EXP}" extra "}"
#define CLAIMS CLAIMS_OF(UID, "")
#define SERVICE_ROLE "{\"sub\":\"" UID "\",\"aud\":\"" AUD "\"," \
	"\"role\":\"service_role\",\"exp\":{EXP}}"

struct verify_case {
	const char *name;
	enum verifier by;
	enum signer how;
	const char *kid;	/* header kid of the libjwt and OpenSSL signers */
	const char *header;	/* HMAC_HEADER, RAW */
	const char *payload;	/* a template, see CLAIMS; NULL: CLAIMS */
	long exp;		/* {EXP} in seconds after NOW; 0: an hour */
	const char *sig;	/* RAW */
	const char *token;	/* LITERAL */
	enum mangle mangle;
	/* Accepted when refused is NULL, with sub UID, exp NOW + exp, admin. */
	int admin;
	const char *refused;	/* else: the reason contains this */
	const char *not_said;	/* ... and does not contain this */
};

static const struct verify_case cases[] = {
	/* accepted, by each verifier that holds the key */
	{ "hs256", .how = HS256 },
	{ "hs256, uppercase sub comes out lowercase", .how = HS256,
	  .payload = CLAIMS_OF(UID_UPPER, "") },
	{ "hs256, uppercase sub, secret only", .by = SECRET_ONLY, .how = HS256,
	  .payload = CLAIMS_OF(UID_UPPER, "") },
	{ "es256", .how = ES256, .kid = "ec-1" },
	{ "es256, jwks only", .by = JWKS_ONLY, .how = ES256, .kid = "ec-1" },
	{ "es256, jose signature (r || s)", .how = ES256_JOSE, .kid = "ec-1" },
	{ "rs256", .how = RS256, .kid = "rsa-1" },
	{ "rs256, jwks only", .by = JWKS_ONLY, .how = RS256, .kid = "rsa-1" },
	{ "hand-made hs256", .how = HMAC_HEADER, .header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}" },

	/* claims */
	{ "role service_role is admin", .how = ES256, .kid = "ec-1",
	  .payload = SERVICE_ROLE, .exp = 60, .admin = 1 },
	{ "role authenticated is not admin", .how = ES256, .kid = "ec-1", .exp = 60 },
	{ "aud an array naming ours", .how = HS256,
	  .payload = "{\"sub\":\"" UID "\",\"aud\":[\"other\",\"" AUD "\"],\"exp\":{EXP}}" },
	{ "aud an array not naming ours", .how = HS256,
	  .payload = "{\"sub\":\"" UID "\",\"aud\":[\"other\",\"anon\"],\"exp\":{EXP}}",
	  .refused = "audience" },
	{ "aud another", .how = HS256,
	  .payload = "{\"sub\":\"" UID "\",\"aud\":\"anon\",\"exp\":{EXP}}",
	  .refused = "audience" },
	{ "no aud", .how = HS256, .payload = "{\"sub\":\"" UID "\",\"exp\":{EXP}}",
	  .refused = "audience" },
	/* valid while now - leeway < exp */
	{ "expired within the leeway", .how = HS256, .exp = -LEEWAY + 1 },
	{ "expired by the leeway", .how = HS256, .exp = -LEEWAY,
	  .refused = "token is expired" },
	{ "expired, hs256", .how = HS256, .exp = -3600, .refused = "token is expired" },
	{ "expired, rs256", .how = RS256, .kid = "rsa-1", .exp = -3600,
	  .refused = "token is expired" },
	/* NumericDate may have a fraction; rounded towards expiry */
	{ "exp with a fraction", .how = HS256,
	  .payload = "{\"sub\":\"" UID "\",\"aud\":\"" AUD "\",\"exp\":{EXP}.75}", .exp = 100 },
	{ "no exp", .how = HS256, .payload = "{\"sub\":\"" UID "\",\"aud\":\"" AUD "\"}",
	  .refused = "token has no exp" },
	{ "exp a string", .how = HS256,
	  .payload = "{\"sub\":\"" UID "\",\"aud\":\"" AUD "\",\"exp\":\"{EXP}\"}",
	  .refused = "exp is not a number" },
	{ "nbf in the future", .how = HS256,
	  .payload = CLAIMS_OF(UID, ",\"nbf\":1700000060"), .refused = "not valid yet" },
	{ "nbf within the leeway", .how = HS256,
	  .payload = CLAIMS_OF(UID, ",\"nbf\":1700000005") },
	{ "nbf a string", .how = HS256, .payload = CLAIMS_OF(UID, ",\"nbf\":\"soon\""),
	  .refused = "nbf is not a number" },
	/* a fraction past the leeway is past it (rounded up) */
	{ "nbf a fraction past the leeway", .how = HS256,
	  .payload = CLAIMS_OF(UID, ",\"nbf\":1700000010.5"), .refused = "not valid yet" },
	{ "no sub", .how = HS256, .payload = "{\"aud\":\"" AUD "\",\"exp\":{EXP}}",
	  .refused = "token has no sub" },
	{ "sub a number", .how = HS256,
	  .payload = "{\"sub\":42,\"aud\":\"" AUD "\",\"exp\":{EXP}}",
	  .refused = "token has no sub" },
	{ "sub not a uuid", .how = HS256, .payload = CLAIMS_OF("alice", ""),
	  .refused = "sub is not a uuid" },
	{ "sub a uuid and more", .how = HS256, .payload = CLAIMS_OF(UID "0", ""),
	  .refused = "sub is not a uuid" },

	/* alg none, however spelled or signed */
	{ "alg none", .how = NONE, .refused = "alg none" },
	{ "alg none, secret only", .by = SECRET_ONLY, .how = NONE, .refused = "alg none" },
	{ "alg None, empty signature", .how = RAW,
	  .header = "{\"alg\":\"None\",\"typ\":\"JWT\"}", .sig = "", .refused = "alg none" },
	/* a none token with a signature stuck on is still none */
	{ "alg none with an hmac", .how = HMAC_HEADER, .header = "{\"alg\":\"none\"}",
	  .refused = "alg none" },

	/* signatures and keys */
	{ "es256, der signature", .how = ES256_DER, .kid = "ec-1",
	  .refused = "signature is invalid" },
	/* key confusion: HMAC keyed with a JWKS key's public PEM */
	{ "hs256 keyed with the ec public key", .how = HS256_EC_PUB, .kid = "ec-1",
	  .refused = "signature is invalid" },
	{ "hs256 keyed with the rsa public key", .how = HS256_RSA_PUB, .kid = "rsa-1",
	  .refused = "signature is invalid" },
	{ "hs256 keyed with the ec public key, jwks only", .by = JWKS_ONLY,
	  .how = HS256_EC_PUB, .kid = "ec-1", .refused = "hs256 tokens are not accepted" },
	{ "hs256 keyed with the rsa public key, jwks only", .by = JWKS_ONLY,
	  .how = HS256_RSA_PUB, .kid = "rsa-1", .refused = "hs256 tokens are not accepted" },
	{ "hs256 with another secret", .how = HS256_OTHER, .refused = "signature is invalid" },
	/* right kid, but signed by a key that is not in the JWKS */
	{ "es256 with a key not in the jwks", .how = ES256_OTHER, .kid = "ec-1",
	  .refused = "signature is invalid" },
	/* header.payload of a service_role token, signature of a plain one */
	{ "tampered payload, hs256", .how = HS256, .payload = SERVICE_ROLE,
	  .mangle = SIG_OF_CLAIMS, .refused = "signature is invalid" },
	{ "tampered payload, rs256", .how = RS256, .kid = "rsa-1", .payload = SERVICE_ROLE,
	  .mangle = SIG_OF_CLAIMS, .refused = "signature is invalid" },
	{ "tampered payload, es256", .how = ES256, .kid = "ec-1", .payload = SERVICE_ROLE,
	  .mangle = SIG_OF_CLAIMS, .refused = "signature is invalid" },
	{ "unknown kid", .how = ES256, .kid = "ec-9", .refused = "kid names no known key" },
	{ "unknown kid, secret only", .by = SECRET_ONLY, .how = ES256, .kid = "ec-9",
	  .refused = "es256/rs256 tokens are not" },
	{ "no kid", .how = ES256, .refused = "token header has no kid" },
	{ "kid of an encryption key", .how = ES256, .kid = "ec-enc",
	  .refused = "kid names no known key" },
	{ "es256 naming the rsa key", .how = ES256, .kid = "rsa-1",
	  .refused = "alg does not match its key" },
	{ "rs256 naming the ec key", .how = RS256, .kid = "ec-1",
	  .refused = "alg does not match its key" },

	/* header */
	{ "hs512", .how = HS512, .refused = "alg is not supported" },
	{ "alg in lowercase", .how = HMAC_HEADER, .header = "{\"alg\":\"hs256\"}",
	  .refused = "alg is not supported" },
	{ "no alg", .how = HMAC_HEADER, .header = "{\"typ\":\"JWT\"}",
	  .refused = "header has no alg" },
	{ "typ JWE", .how = HMAC_HEADER, .header = "{\"alg\":\"HS256\",\"typ\":\"JWE\"}",
	  .refused = "type is not jwt" },
	{ "crit", .how = HMAC_HEADER,
	  .header = "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", .refused = "crit" },

	/* shape */
	{ "two segments", .how = HS256, .mangle = TWO_SEGMENTS,
	  .refused = "three base64url segments" },
	{ "four segments", .how = HS256, .mangle = FOUR_SEGMENTS,
	  .refused = "three base64url segments" },
	{ "no header", .how = HS256, .mangle = NO_HEADER,
	  .refused = "three base64url segments" },
	{ "a character outside base64url", .how = HS256, .mangle = BAD_CHAR,
	  .refused = "not valid base64url" },
	{ "base64 padding", .how = HS256, .mangle = PADDED, .refused = "not valid base64url" },
	{ "empty signature", .how = HS256, .mangle = NO_SIGNATURE, .refused = "no signature" },
	{ "header not json", .how = RAW, .header = "not json", .sig = "c2ln",
	  .refused = "header is not a json object" },
	{ "header a json array", .how = RAW, .header = "[\"HS256\"]", .sig = "c2ln",
	  .refused = "header is not a json object" },
	{ "header json and more", .how = HMAC_HEADER, .header = "{\"alg\":\"HS256\"} x",
	  .refused = "header is not a json object" },
	{ "payload not json", .how = HMAC_HEADER, .header = "{\"alg\":\"HS256\"}",
	  .payload = "not json either", .refused = "payload is not a json object" },
	/*
	 * The last character of a 64-byte ES256 signature carries 4 unused
	 * bits; setting one gives the same bytes in another spelling, which
	 * must not pass (tokens are not malleable).
	 */
	{ "es256 signature spelled another way", .how = ES256, .kid = "ec-1",
	  .mangle = SPARE_BIT, .refused = "not valid base64url" },
	{ "empty token", .how = LITERAL, .token = "", .refused = "no token" },
	{ "no token", .how = LITERAL, .token = NULL, .refused = "no token" },
	/* a valid token padded with a long junk claim is still too long */
	{ "longer than AUTH_MAX_TOKEN", .how = HS256, .mangle = TOO_LONG,
	  .refused = "token is too long" },
	/* exactly the limit is parsed, and fails for another reason */
	{ "exactly AUTH_MAX_TOKEN", .how = HS256, .mangle = AT_LIMIT,
	  .refused = "", .not_said = "too long" },
};

static long exp_of(const struct verify_case *c)
{
	return c->exp ? c->exp : 3600;
}

/* A payload template filled in for exp seconds after NOW. Caller frees. */
static char *fill(const char *t, long exp)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	while (*t) {
		if (!strncmp(t, "{EXP}", 5)) {
			fprintf(f, "%ld", NOW + exp);
			t += 5;
		} else if (!strncmp(t, "{IAT}", 5)) {
			fprintf(f, "%ld", NOW - 60);
			t += 5;
		} else {
			fputc(*t++, f);
		}
	}
	assert_int_equal(fclose(f), 0);
	return out;
}

/* The token of case c before any mangling. Caller frees. */
static char *make(const struct verify_case *c, const char *payload)
{
	char *p = fill(payload ? payload : CLAIMS, exp_of(c)), *in, *t = NULL;

	switch (c->how) {
	case HS256:
		t = sign_hs(SECRET, p);
		break;
	case HS256_OTHER:
		t = sign_hs("some-other-secret-0123456789abcdef0123456789", p);
		break;
	case HS256_EC_PUB:
		t = sign(JWT_ALG_HS256, fx.ec_pub, strlen(fx.ec_pub), c->kid, p);
		break;
	case HS256_RSA_PUB:
		t = sign(JWT_ALG_HS256, fx.rsa_pub, strlen(fx.rsa_pub), c->kid, p);
		break;
	case HS512:
		t = sign(JWT_ALG_HS512, SECRET, strlen(SECRET), NULL, p);
		break;
	case ES256:
		t = sign_es(c->kid, p);
		break;
	case ES256_OTHER:
		t = sign(JWT_ALG_ES256, fx.ec_other_priv,
			 strlen(fx.ec_other_priv), c->kid, p);
		break;
	case RS256:
		t = sign_rs(c->kid, p);
		break;
	case NONE:
		t = sign(JWT_ALG_NONE, NULL, 0, NULL, p);
		assert_non_null(strstr(t, "."));
		break;
	case ES256_JOSE:
	case ES256_DER:
		t = craft_es256(c->kid, p, c->how == ES256_DER);
		break;
	case HMAC_HEADER:
		t = craft_hmac(c->header, p, SECRET, strlen(SECRET), EVP_sha256());
		break;
	case RAW:
		in = signing_input(c->header, p);
		t = xasprintf("%s.%s", in, c->sig);
		free(in);
		break;
	case LITERAL:
		t = c->token ? strdup(c->token) : NULL;
		assert_true(t || !c->token);
		break;
	}
	free(p);
	return t;
}

/* Token tok of case c changed as the case says. Frees tok. */
static char *mangle(const struct verify_case *c, char *tok)
{
	char *dot = strchr(tok, '.'), *last = strrchr(tok, '.'), *other, *t;
	size_t n = strlen(tok);

	switch (c->mangle) {
	case AS_MADE:
		return tok;
	case SIG_OF_CLAIMS:
		other = make(c, CLAIMS);
		t = xasprintf("%.*s%s", (int)(last - tok), tok, strrchr(other, '.'));
		free(other);
		break;
	case TWO_SEGMENTS:
		t = xasprintf("%.*s", (int)(last - tok), tok);
		break;
	case FOUR_SEGMENTS:
		t = xasprintf("%s.xyz", tok);
		break;
	case NO_HEADER:
		t = xasprintf("%s", dot);
		break;
	case NO_SIGNATURE:
		t = xasprintf("%.*s.", (int)(last - tok), tok);
		break;
	case BAD_CHAR:
		t = xasprintf("%.*s$%s", (int)(dot - tok) - 1, tok, dot);
		break;
	case PADDED:
		t = xasprintf("%s==", tok);
		break;
	case SPARE_BIT:
		t = xasprintf("%s", tok);
		t[n - 1] = tab[(strchr(tab, t[n - 1]) - tab) | 1];
		break;
	case TOO_LONG:
	case AT_LIMIT:
		t = malloc(AUTH_MAX_TOKEN + 2);
		assert_non_null(t);
		memset(t, 'a', AUTH_MAX_TOKEN + 1);
		t[c->mangle == TOO_LONG ? AUTH_MAX_TOKEN + 1 : AUTH_MAX_TOKEN] = '\0';
		memcpy(t, tok, n);
		break;
	default:
		fail_msg("unknown mangle %d", c->mangle);
		return tok;
	}
	free(tok);
	return t;
}

static const struct auth *verifier(enum verifier v)
{
	return v == JWKS_ONLY ? &fx.jwks_only : v == SECRET_ONLY ? &fx.secret_only : &fx.both;
}

static void run_case(void **state)
{
	const struct verify_case *c = *state;
	const struct auth *a = verifier(c->by);
	char *tok = make(c, c->payload);

	if (c->mangle != AS_MADE) {
		struct auth_claims cl;
		char err[256] = "";

		if (auth_verify(a, tok, NOW, &cl, err, sizeof(err)))
			fail_msg("refused before the change: %s", err);
		tok = mangle(c, tok);
	}
	if (c->refused)
		expect_refused_by(a, tok, c->refused, c->not_said);
	else
		expect_ok_with(a, tok, UID, c->admin, NOW + exp_of(c));
	free(tok);
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
	expect_refused_by(&other, t, "audience", NULL);
	auth_release(&other);
	assert_int_equal(auth_init(&other, SECRET "x", NULL, AUD, 0, err,
				   sizeof(err)), 0);
	expect_refused_by(&other, t, "signature is invalid", NULL);
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
	char *p = fill(CLAIMS, 3600);
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
	static const struct CMUnitTest api[] = {
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_leeway_clamped),
		cmocka_unit_test(test_mint_round_trip),
		cmocka_unit_test(test_concurrent_verify),
	};
	const size_t ncases = sizeof(cases) / sizeof(cases[0]);
	const size_t napi = sizeof(api) / sizeof(api[0]);
	struct CMUnitTest *tests = calloc(ncases + napi, sizeof(*tests));
	int rc;

	if (!tests)
		return 1;
	/* one named test per case, so that a failure names its case */
	for (size_t i = 0; i < ncases; i++)
		tests[i] = (struct CMUnitTest){ .name = cases[i].name, .test_func = run_case,
						.initial_state = (void *)&cases[i] };
	memcpy(tests + ncases, api, sizeof(api));
	rc = _cmocka_run_group_tests("auth", tests, ncases + napi, setup, teardown);
	free(tests);
	return rc;
}
