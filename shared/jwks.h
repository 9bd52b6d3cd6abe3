/*
 * jwks - the public keys of a JSON Web Key Set file (RFC 7517), for auth.
 *
 * jwks_load() reads a file like SUPABASE_JWKS_FILE and turns each signing
 * key we can verify with (EC P-256 for ES256, RSA of 2048 bits or more for
 * RS256) into the SubjectPublicKeyInfo PEM that libjwt reads. Keys of
 * another use, kty, curve or alg are skipped; a key we do but cannot use
 * fails the whole file, better at startup than at the first login.
 *
 * Thread safety: a loaded list is read-only, so several threads may call
 * jwks_find() on one list at once.
 *
 * Layering: above b64url.h and jsonutil.h, with OpenSSL and libjwt.
 * Never auth.h (auth uses jwks, not the reverse), cfg, db or evt.
 */
#ifndef CHAT_JWKS_H
#define CHAT_JWKS_H

#include <stddef.h>

#include <jwt.h>

#define JWKS_MAX_FILE (1024 * 1024)	/* a JWKS is a few KB; refuse junk */
#define JWKS_MIN_RSA_BITS 2048

enum jwks_kty {
	JWKS_KTY_EC = 1,
	JWKS_KTY_RSA,
};

/* One usable public key; a list is linked through next, in file order. */
struct jwks_key {
	struct jwks_key *next;
	enum jwks_kty kty;
	jwt_alg_t alg;		/* the one alg this key verifies */
	char kid[128];		/* never empty, unique within a list */
	char *pem;		/* SubjectPublicKeyInfo PEM, NUL-terminated */
	size_t pem_len;		/* strlen(pem) */
};

/*
 * Load the signing keys of the JWKS file at path (at most JWKS_MAX_FILE
 * bytes). Returns 0 with *out set to a new list of at least one key, which
 * the caller frees with jwks_free(); or -1 with *out NULL and a message in
 * err naming the file and what is wrong with it. err may be NULL when
 * errlen is 0.
 */
int jwks_load(const char *path, struct jwks_key **out, char *err,
	      size_t errlen);

/* The key of list keys whose kid is kid, or NULL. Borrowed from keys. */
const struct jwks_key *jwks_find(const struct jwks_key *keys, const char *kid);

/* Free a list from jwks_load() (NULL is fine); PEM bytes are wiped. */
void jwks_free(struct jwks_key *keys);

#endif
