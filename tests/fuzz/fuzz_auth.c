/*
 * fuzz_auth - the JWT verifier (shared/auth.c) and, through it, base64url
 * and the strict JSON of token headers and payloads.
 *
 * Every REST request with a bearer token and every websocket connect
 * (?token=) hands attacker bytes to auth_verify(). A mutated token almost
 * never keeps a valid signature, so most inputs are signed here first,
 * which takes the fuzzer past the signature to the claim checks. The
 * first byte picks how the rest is used:
 *   0  a raw token, verbatim (up to the first NUL);
 *   1  "header\0payload": the harness base64url-encodes both and signs
 *      them HS256 with the verifier's secret;
 *   2  the same, signed ES256 with the EC key of the verifier's JWKS.
 * The verifier takes HS256 (a fixed secret) and a JWKS file with one EC
 * P-256 key (kid "fuzz-ec") and one RSA key (kid "fuzz-rsa"), built at
 * start-up from the fixed test keys below. The clock is fixed (NOW), so
 * an input means the same thing on every run.
 *
 * Checked besides the sanitizers:
 *   - a refused token has a reason: lowercase, valid UTF-8, never
 *     holding the token;
 *   - an accepted token has a signature (never alg none), a sub in
 *     uuid.h's text form and an exp after NOW minus the leeway;
 *   - no algorithm confusion: a token the harness signed with the HMAC
 *     secret verifies only when its header says HS256, one signed with
 *     the EC key only when its header says ES256.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth.h"
#include "fuzz.h"
#include "jsonutil.h"
#include "sbuf.h"
#include "uuid.h"

#define NOW 1764093315L		/* 2025-11-25T17:55:15Z */
#define SECRET "fuzz-only-hs256-secret-of-at-least-32-bytes"
#define LEEWAY 30

/* Test keys made for this harness with `openssl genpkey`: not secrets. */
static const char ec_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv5Gi7cjGQyYDOhVh\n"
	"loH3SWmKfulzuT3oFy6SC5+XlsqhRANCAATA8ntr60VsDcmesYdA6++ayp5rD0Bm\n"
	"vgNKEIWQH5HUHxXDMQFILKzKxDhJ/OBGc5D5+kf61hptfMNWK7ntrdLA\n"
	"-----END PRIVATE KEY-----\n"
	;

static const char rsa_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC74v/Xf+j9MwqK\n"
	"MwiEuUW4tJlJ+Vhigu5sJxZ8CqHlX7IpVXROBWo95tqvzW9XSkYaimFdlpNJFC1u\n"
	"hnKcd1D/eJzeerZ0fQgjePcdU/TnSlqutbc6AKZTI2MDEBeitqvDItNtMhtM6iDU\n"
	"Hh8uG9fJvmVgl2rym+1ja4yIuIlxDUlzC6L+mRPyF81uywycr0p+nK2aDuM7Vp80\n"
	"Xy7cUVVTYpxq122RfaVLOi3J7recrF2btehDBJPUIIEiYHPNwqIloLib44lWD4OD\n"
	"aXlBYRUmb8EBZEpXZKj6w5Fp3VsBuhLAH5/1zBmOxOpjwqup3UhHTTzaiN+UJckP\n"
	"LOwldUP1AgMBAAECggEABb1Z55QHIq5Z4HcGwN7FnPy28k71UIkY3H4sFWQZF+c7\n"
	"NkCYi7D0Uttymcxg+mwQ09lKBn6bI8zDnBd6XEll8Rqk/CeWhhWzEDnn8/52bMG4\n"
	"5j2I++TLE4KNn0XUvpFDBB7+2M4tVTc8PEeGn1Gx3yjtOgI5tsXzcEYiib/NbUkl\n"
	"YvMWx+71PFHQqLcpcNzdwJ120jTv0RXTO8EObXutcyou/+nZQYOLf3oXoZeCW5q3\n"
	"V7PaGjY9KIv2rnEmmHUevdehLmn5f6g/YtQEeXnOzanvtMkzKjzbNW1/bhCuMzOy\n"
	"iZehI3lqdawU8d3zPtmrB+V6Q0D/MOx1TeI7+U8P3wKBgQD6NdNt4/ctriPFwPhg\n"
	"3ESGrUOhSuUJyj1XJ+DwQWrIQ1p22aAQJEqKZoEX5WUA4tfzj6HaEKn7xczTEh+H\n"
	"JXYZWCXXyRRuyKxsaV4GdtVKwTXWAm/Qgx35ow0RPHil4dkEXhvs44qg+Y7A+eMV\n"
	"vQ+96L6fEWtx7hJhtHuRo2YNywKBgQDAO/yTta9lewIl4zlO3bziapBEXWbsyFun\n"
	"enVl+8pLJS1QbSQmF1yBKgmbiqSAZxqAB5efJEtfdXrbUAghvMmFk0JqA4c+4rjZ\n"
	"WIGzzIx6wEmpk7E+nqzWZDe1cqYFhOiOPFfJQ7oRD94lEpS7jQ35GjelNwqo9FOU\n"
	"LZ8NEFu9PwKBgGa5FnZ1MxOj/LfBg7dwdwm7tJpRfzrHtutDSgwZL1fMnyVQL3Cx\n"
	"FZFAiBthaFg2yWYLP+2hDch56p91P1Bixtuc3tx6h1L8PB2+HIYW33ZzYEDeez1l\n"
	"tza4BDNhWj7wPAKZCGn2+QEhs8PyU5KnLgFPvoLbyfraPN20FU8zgECFAoGAH4O2\n"
	"DKEkeAaKe5ucsYk4hgXiUNLfJMJUBEjXJjj5GQinPSAnZPc/ew1hNdas0UAV4Bde\n"
	"jABvOt8PnRSpwJ4qi3Nw1+BsM6sHktonqUpHXXhYmyxTSmjI/PzBBUYeYZlAZtEN\n"
	"szkfL9ziFkHNkFG3kLbzmGpFnR0w9oHkKUgdQhECgYBl9+InIfom8/JDHlr7XWCI\n"
	"4H5JK0bDv9a6lmf9hVA3n4CoVLuq3YgZpVVOo1CvupmdaXz/l0efrDyCiS9E8bs8\n"
	"PcQ/F2NxQlJv0mVxTstQ2/RdUi3lu2SJge+4uSXyv7xpmk5fzOM5ooYqJzOk+MMs\n"
	"Q0fecW8IjntNH1Gj456kbA==\n"
	"-----END PRIVATE KEY-----\n"
	;

static struct auth verifier;
static struct fuzz_file jwks;
static EVP_PKEY *ec_key;
static int verbose;	/* FUZZ_VERBOSE=1: say what became of each input */

static void b64url(struct sbuf *b, const unsigned char *p, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char out[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		size_t k = n - i >= 3 ? 4 : n - i + 1;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		for (size_t j = 0; j < 4; j++)
			out[j] = tab[(v >> (18 - 6 * j)) & 63];
		sbuf_add(b, out, k);
	}
}

/* A JWK member: the big-endian bytes of a key parameter, base64url. */
static void jwk_param(struct sbuf *b, EVP_PKEY *k, const char *name, int pad)
{
	unsigned char buf[512];
	BIGNUM *bn = NULL;
	int n;

	if (EVP_PKEY_get_bn_param(k, name, &bn) != 1)
		abort();
	n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	if (n <= 0)
		abort();
	b64url(b, buf, (size_t)n);
	BN_free(bn);
}

static EVP_PKEY *read_key(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;

	BIO_free(bio);
	if (!k)
		abort();
	return k;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *rsa;
	struct sbuf b;
	char err[256];

	(void)argc;
	(void)argv;
	fuzz_quiet("fuzz_auth");
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	ec_key = read_key(ec_pem);
	rsa = read_key(rsa_pem);
	sbuf_init(&b, 2048);
	sbuf_adds(&b, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"sig\","
		  "\"alg\":\"ES256\",\"kid\":\"fuzz-ec\",\"x\":\"");
	jwk_param(&b, ec_key, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	sbuf_adds(&b, "\",\"y\":\"");
	jwk_param(&b, ec_key, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	sbuf_adds(&b, "\"},{\"kty\":\"RSA\",\"kid\":\"fuzz-rsa\",\"n\":\"");
	jwk_param(&b, rsa, OSSL_PKEY_PARAM_RSA_N, 0);
	sbuf_adds(&b, "\",\"e\":\"");
	jwk_param(&b, rsa, OSSL_PKEY_PARAM_RSA_E, 0);
	sbuf_adds(&b, "\"}]}");
	fuzz_file_open(&jwks, "jwks");
	fuzz_file_set(&jwks, sbuf_text(&b), strlen(sbuf_text(&b)));
	sbuf_release(&b);
	EVP_PKEY_free(rsa);
	if (auth_init(&verifier, SECRET, jwks.path, AUTH_DEFAULT_AUDIENCE, LEEWAY,
		      err, sizeof(err))) {
		fprintf(stderr, "fuzz_auth: %s\n", err);
		abort();
	}
	return 0;
}

/* The JWS signature of the signing input in b (HS256 or ES256), appended. */
static void sign(struct sbuf *b, int es256)
{
	const char *in = sbuf_text(b);
	size_t inlen = strlen(in);
	unsigned char sig[256], raw[64];
	unsigned int maclen;
	size_t siglen = sizeof(sig);
	const unsigned char *p = sig;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	EVP_MD_CTX *md;

	sbuf_add(b, ".", 1);
	if (!es256) {
		if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)in,
			  inlen, sig, &maclen))
			abort();
		b64url(b, sig, maclen);
		return;
	}
	/* ES256 signatures are r || s, 32 bytes each, not OpenSSL's DER */
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, ec_key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)in, inlen) != 1)
		abort();
	EVP_MD_CTX_free(md);
	es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
	if (!es)
		abort();
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32)
		abort();
	ECDSA_SIG_free(es);
	b64url(b, raw, sizeof(raw));
}

/* The header of a token the harness signed names alg exactly. */
static int header_alg_is(const char *header, const char *alg)
{
	char err[64];
	json_object *h = json_parse_object_ex(header, strlen(header), 0, "header", err, 0);
	const char *a = NULL;
	int yes;

	json_get_string(h, "alg", &a, err, sizeof(err));
	yes = a && !strcmp(a, alg);
	json_object_put(h);
	return yes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct auth_claims c;
	struct sbuf b;
	char err[256], *token, *header = NULL, *payload = NULL, norm[UUID_STR_SIZE];
	const char *dot;
	size_t hlen, plen;
	int mode, rc;

	if (!size)
		return 0;
	mode = data[0] % 3;
	in.p++;
	in.left--;
	if (mode == 0) {
		token = fuzz_field(&in, NULL);
	} else {
		header = fuzz_field(&in, &hlen);
		payload = fuzz_rest(&in, &plen);
		sbuf_init(&b, 2 * (hlen + plen) + 128);
		b64url(&b, (const unsigned char *)header, hlen);
		sbuf_add(&b, ".", 1);
		b64url(&b, (const unsigned char *)payload, plen);
		sign(&b, mode == 2);
		token = sbuf_detach(&b, &plen);
	}
	err[0] = '\0';
	rc = auth_verify(&verifier, token, NOW, &c, err, sizeof(err));
	if (verbose)
		fprintf(stderr, "mode %d: %s\n", mode, rc ? err : "accepted");
	if (rc) {
		FUZZ_CHECK(rc == -1 && err[0] && fuzz_utf8(err));
		for (const char *p = err; *p; p++)
			FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
		FUZZ_CHECK(strlen(token) < 8 || !strstr(err, token));
		goto out;
	}
	FUZZ_CHECK(rc == 0);
	dot = strrchr(token, '.');
	FUZZ_CHECK(dot && dot[1]);	/* a signature: never alg none */
	FUZZ_CHECK(!uuid_norm(c.sub, norm) && !strcmp(norm, c.sub));
	FUZZ_CHECK(c.exp > NOW - LEEWAY);
	FUZZ_CHECK(c.is_admin == 0 || c.is_admin == 1);
	if (mode == 1)
		FUZZ_CHECK(header_alg_is(header, "HS256"));
	if (mode == 2)
		FUZZ_CHECK(header_alg_is(header, "ES256"));
out:
	free(token);
	free(header);
	free(payload);
	return 0;
}
