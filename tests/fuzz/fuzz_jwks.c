/*
 * fuzz_jwks - the JWKS file parser (shared/jwks.c).
 *
 * SUPABASE_JWKS_FILE is read once at start-up, but it is fetched from a
 * provider and edited by hand, so jwks_load() must hold against any
 * bytes: the input is the whole file (handed over as a memfd path). Each
 * JWK is rebuilt with OpenSSL (EVP_PKEY_fromdata, public_check), so most
 * of the work is in OpenSSL; what is fuzzed is our JSON walk, base64url
 * and parameter handling. Checked besides the sanitizers:
 *   - a refused file has a message naming the file;
 *   - a loaded list is non-empty; kids are non-empty, unique and found by
 *     jwks_find(); each key's alg matches its kty; its PEM is a
 *     NUL-terminated SubjectPublicKeyInfo that OpenSSL reads back as a key
 *     of that type (P-256 for EC, at least JWKS_MIN_RSA_BITS for RSA).
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fuzz.h"
#include "jwks.h"

static struct fuzz_file file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet("fuzz_jwks");
	fuzz_file_open(&file, "jwks");
	return 0;
}

static void check_key(const struct jwks_key *list, const struct jwks_key *k)
{
	static const char head[] = "-----BEGIN PUBLIC KEY-----\n";
	char group[32];
	size_t glen;
	EVP_PKEY *pk;
	BIO *bio;

	FUZZ_CHECK(k->kid[0] && strlen(k->kid) < sizeof(k->kid));
	FUZZ_CHECK(jwks_find(list, k->kid) == k);
	FUZZ_CHECK((k->kty == JWKS_KTY_EC && k->alg == JWT_ALG_ES256) ||
		   (k->kty == JWKS_KTY_RSA && k->alg == JWT_ALG_RS256));
	FUZZ_CHECK(k->pem && k->pem_len == strlen(k->pem));
	FUZZ_CHECK(!strncmp(k->pem, head, sizeof(head) - 1));
	bio = BIO_new_mem_buf(k->pem, (int)k->pem_len);
	pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	FUZZ_CHECK(pk != NULL);
	if (k->kty == JWKS_KTY_EC) {
		FUZZ_CHECK(EVP_PKEY_is_a(pk, "EC"));
		FUZZ_CHECK(EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group),
							  &glen) == 1);
		FUZZ_CHECK(!strcmp(group, "prime256v1"));
	} else {
		FUZZ_CHECK(EVP_PKEY_is_a(pk, "RSA"));
		FUZZ_CHECK(EVP_PKEY_get_bits(pk) >= JWKS_MIN_RSA_BITS);
	}
	EVP_PKEY_free(pk);
	BIO_free(bio);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwks_key *list = NULL;
	char err[1024];

	fuzz_file_set(&file, data, size);
	err[0] = '\0';
	if (jwks_load(file.path, &list, err, sizeof(err))) {
		FUZZ_CHECK(list == NULL);
		FUZZ_CHECK(strstr(err, file.path) || !strcmp(err, "out of memory"));
		/* jwks_load clears OpenSSL's queue; nothing of ours may be left */
		ERR_clear_error();
		return 0;
	}
	FUZZ_CHECK(list != NULL);
	for (const struct jwks_key *k = list; k; k = k->next) {
		check_key(list, k);
		for (const struct jwks_key *o = list; o != k; o = o->next)
			FUZZ_CHECK(strcmp(o->kid, k->kid));
	}
	jwks_free(list);
	ERR_clear_error();
	return 0;
}
