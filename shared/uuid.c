/*
 * uuid - the user id type, see uuid.h.
 */
#include "uuid.h"

/* Where the text form has its dashes: after bytes 4, 6, 8 and 10. */
static int uuid_dash_before(int byte)
{
	return byte == 4 || byte == 6 || byte == 8 || byte == 10;
}

static int uuid_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int uuid_parse(const char *s, struct uuid *out)
{
	const char *p = s;

	if (!s)
		return -1;
	for (int i = 0; i < UUID_LEN; i++) {
		int hi, lo;

		if (uuid_dash_before(i) && *p++ != '-')
			return -1;
		/* a NUL fails here, so nothing past the end is read */
		hi = uuid_hexval(p[0]);
		lo = hi < 0 ? -1 : uuid_hexval(p[1]);
		if (lo < 0)
			return -1;
		out->b[i] = (unsigned char)(hi << 4 | lo);
		p += 2;
	}
	return *p ? -1 : 0;
}

void uuid_format(const struct uuid *u, char out[UUID_STR_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	for (int i = 0; i < UUID_LEN; i++) {
		if (uuid_dash_before(i))
			*o++ = '-';
		*o++ = hex[u->b[i] >> 4];
		*o++ = hex[u->b[i] & 15];
	}
	*o = '\0';
}

int uuid_norm(const char *s, char out[UUID_STR_SIZE])
{
	struct uuid u;

	if (uuid_parse(s, &u))
		return -1;
	uuid_format(&u, out);
	return 0;
}
