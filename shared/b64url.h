/*
 * b64url - strict base64url decoding (RFC 7515), for JWTs and JWKs.
 *
 * Layering: a base module. b64url.h and b64url.c include only libc
 * headers and never include another header of this project; anything
 * may use them (auth.c for every token's three parts, jwks.c for key
 * members).
 */
#ifndef CHAT_B64URL_H
#define CHAT_B64URL_H

#include <stddef.h>

/*
 * Decode s[0..len), base64url without padding: only the url alphabet, no
 * impossible length, and the unused low bits of the last character zero,
 * so that each value has exactly one encoding. Returns a malloc'd buffer
 * of *outlen bytes followed by a NUL (handy for JSON), which the caller
 * frees; or NULL with errno EINVAL (bad input) or ENOMEM.
 */
unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen);

#endif
