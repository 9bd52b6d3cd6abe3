/*
 * jwks - JSON Web Key Set loading and JWK -> PEM conversion, see jwks.h.
 *
 * libjwt 1.10 takes public keys only as PEM, so each JWK is rebuilt with
 * OpenSSL 3 (EVP_PKEY_fromdata), checked, and written out as PEM once, at
 * load time.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "b64url.h"
#include "jsonutil.h"
#include "jwks.h"

/* ---- JWK -> PEM ---- */

/* Decode a base64url JWK member; JWKs sometimes carry '=' padding. */
static unsigned char *jwk_bytes(json_object *jwk, const char *name,
				size_t *outlen)
{
	const char *s = NULL;
	size_t len;

	json_get_string(jwk, name, &s, NULL, 0);
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
static int key_set_pem(struct jwks_key *key, EVP_PKEY *pkey)
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

/*
 * Build a public key of type name ("EC", "RSA") from params, sanity-check
 * it and put its PEM into key->pem. Returns 0 or -1.
 */
static int key_from_params(struct jwks_key *key, const char *name,
			   OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx, *check = NULL;
	EVP_PKEY *pkey = NULL;
	int ret = -1;

	ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
	if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/* fromdata takes RSA n/e as given; reject an even n, e = 1 and such */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!check || EVP_PKEY_public_check(check) != 1)
		goto out;
	ret = key_set_pem(key, pkey);
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ret;
}

/* EC P-256 (x, y) -> key parameters, or NULL with *why set. */
static OSSL_PARAM *ec_params(const unsigned char *x, size_t xlen,
			     const unsigned char *y, size_t ylen,
			     const char **why)
{
	unsigned char point[65];
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params = NULL;

	if (!x || !y || xlen != 32 || ylen != 32) {
		*why = "x and y must be 32-byte base64url values";
		return NULL;
	}
	point[0] = 0x04;	/* uncompressed point: 04 || x || y */
	memcpy(point + 1, x, 32);
	memcpy(point + 33, y, 32);
	*why = "not a valid p-256 public key";
	bld = OSSL_PARAM_BLD_new();
	if (bld &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
					     point, sizeof(point)))
		params = OSSL_PARAM_BLD_to_param(bld);
	OSSL_PARAM_BLD_free(bld);
	return params;
}

/* RSA (n, e) -> key parameters, or NULL with *why set. */
static OSSL_PARAM *rsa_params(const unsigned char *n, size_t nlen,
			      const unsigned char *e, size_t elen,
			      const char **why)
{
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;

	if (!n || !e || nlen > INT_MAX || elen > 8) {
		*why = "n and e must be base64url values";
		return NULL;
	}
	*why = "not a valid rsa public key";
	bn_n = BN_bin2bn(n, (int)nlen, NULL);
	bn_e = BN_bin2bn(e, (int)elen, NULL);
	if (!bn_n || !bn_e)
		goto out;
	if (BN_num_bits(bn_n) < JWKS_MIN_RSA_BITS) {
		*why = "rsa key is shorter than 2048 bits";
		goto out;
	}
	/* the builder keeps pointers to the BIGNUMs until to_param */
	bld = OSSL_PARAM_BLD_new();
	if (bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		params = OSSL_PARAM_BLD_to_param(bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return params;
}

/*
 * key->kty's JWK members (EC x, y or RSA n, e) -> key->pem. Returns 0,
 * or -1 with *why set.
 */
static int jwk_to_pem(json_object *jwk, struct jwks_key *key,
		      const char **why)
{
	int ec = key->kty == JWKS_KTY_EC;
	unsigned char *a, *b;
	size_t alen = 0, blen = 0;
	OSSL_PARAM *params;
	int ret = -1;

	a = jwk_bytes(jwk, ec ? "x" : "n", &alen);
	b = jwk_bytes(jwk, ec ? "y" : "e", &blen);
	params = ec ? ec_params(a, alen, b, blen, why) :
		      rsa_params(a, alen, b, blen, why);
	if (params)
		ret = key_from_params(key, ec ? "EC" : "RSA", params);
	OSSL_PARAM_free(params);
	free(a);
	free(b);
	return ret;
}

/* ---- key lists ---- */

void jwks_free(struct jwks_key *key)
{
	struct jwks_key *next;

	for (; key; key = next) {
		next = key->next;
		if (key->pem)
			OPENSSL_cleanse(key->pem, key->pem_len);
		free(key->pem);
		free(key);
	}
}

const struct jwks_key *jwks_find(const struct jwks_key *key, const char *kid)
{
	for (; key; key = key->next)
		if (!strcmp(key->kid, kid))
			return key;
	return NULL;
}

/*
 * Read the whole file at path (at most JWKS_MAX_FILE bytes) into a
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
	data = malloc(JWKS_MAX_FILE + 1);
	if (!data)
		goto out;
	n = fread(data, 1, JWKS_MAX_FILE + 1, f);
	if (ferror(f)) {
		errno = EIO;
		goto out;
	}
	if (n > JWKS_MAX_FILE) {
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

/* 1 if a JWK of this kty/crv/alg/use is one we verify with, else 0. */
static int jwk_wanted(const char *kty, const char *crv, const char *alg,
		      const char *use)
{
	if ((use && strcmp(use, "sig")) || !kty)
		return 0;
	if (!strcmp(kty, "EC"))
		return crv && !strcmp(crv, "P-256") &&
		       (!alg || !strcmp(alg, "ES256"));
	if (!strcmp(kty, "RSA"))
		return !alg || !strcmp(alg, "RS256");
	return 0;
}

int jwks_load(const char *path, struct jwks_key **out, char *err,
	      size_t errlen)
{
	json_object *root = NULL, *keys, *jwk;
	struct jwks_key *list = NULL, *key = NULL, **tail = &list;
	const char *kty, *alg, *use, *crv, *kid, *why = NULL;
	char *buf = NULL;
	size_t len, i, n;
	int ret = -1;

	*out = NULL;
	if (read_file(path, &buf, &len)) {
		snprintf(err, errlen, "cannot read jwks file '%s': %s", path,
			 strerror(errno));
		goto out;
	}
	root = json_parse_object_ex(buf, len, 1, "file", NULL, 0);
	if (!root) {
		snprintf(err, errlen, "jwks file '%s' is not a json object",
			 path);
		goto out;
	}
	if (!json_object_object_get_ex(root, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array)) {
		snprintf(err, errlen, "jwks file '%s' has no \"keys\" array",
			 path);
		goto out;
	}
	n = json_object_array_length(keys);
	for (i = 0; i < n; i++) {
		jwk = json_object_array_get_idx(keys, i);
		if (!json_object_is_type(jwk, json_type_object)) {
			snprintf(err, errlen,
				 "jwks file '%s': key %zu is not an object",
				 path, i);
			goto out;
		}
		kty = alg = use = crv = kid = NULL;
		json_get_string(jwk, "kty", &kty, NULL, 0);
		json_get_string(jwk, "alg", &alg, NULL, 0);
		json_get_string(jwk, "use", &use, NULL, 0);
		json_get_string(jwk, "crv", &crv, NULL, 0);
		if (!jwk_wanted(kty, crv, alg, use))
			continue;
		json_get_string(jwk, "kid", &kid, NULL, 0);
		if (!kid || !*kid || strlen(kid) >= sizeof(key->kid)) {
			snprintf(err, errlen,
				 "jwks file '%s': key %zu has no usable \"kid\"",
				 path, i);
			goto out;
		}
		if (jwks_find(list, kid)) {
			snprintf(err, errlen,
				 "jwks file '%s': kid '%s' appears twice",
				 path, kid);
			goto out;
		}
		key = calloc(1, sizeof(*key));
		if (!key) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		strcpy(key->kid, kid);
		key->kty = !strcmp(kty, "EC") ? JWKS_KTY_EC : JWKS_KTY_RSA;
		key->alg = key->kty == JWKS_KTY_EC ? JWT_ALG_ES256 :
			   JWT_ALG_RS256;
		if (jwk_to_pem(jwk, key, &why)) {
			snprintf(err, errlen, "jwks file '%s': key '%s': %s",
				 path, kid, why);
			goto out;
		}
		*tail = key;
		tail = &key->next;
		key = NULL;
	}
	if (!list) {
		snprintf(err, errlen,
			 "jwks file '%s' has no es256 (p-256) or rs256 signing key",
			 path);
		goto out;
	}
	*out = list;
	list = NULL;
	ret = 0;
out:
	if (ret)
		ERR_clear_error();
	jwks_free(key);
	jwks_free(list);
	json_object_put(root);
	free(buf);
	return ret;
}
