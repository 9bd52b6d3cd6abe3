/*
 * b64url - strict base64url decoding, see b64url.h.
 */
#include "b64url.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

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

unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen)
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
