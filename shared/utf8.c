#include "utf8.h"

#include <stdint.h>

/* Bytes of the valid character at p (p < e), or 0 when it is not one. */
static size_t utf8_next(const unsigned char *p, const unsigned char *e)
{
	unsigned c = *p;
	uint32_t cp;
	size_t more;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		more = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		more = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		more = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(e - p) <= more)
		return 0;
	for (size_t i = 1; i <= more; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong, surrogate, beyond Unicode */
	if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return more + 1;
}

long utf8_chars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;
	long n = 0;

	while (p < e) {
		size_t k = *p ? utf8_next(p, e) : 0;

		if (!k)
			return -1;
		p += k;
		n++;
	}
	return n;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + len;
	size_t n = 0;

	while (p + n < e) {
		size_t k = utf8_next(p + n, e);

		if (!k || n + k > max)
			break;
		n += k;
	}
	return n;
}
