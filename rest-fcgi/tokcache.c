#include "tokcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOKCACHE_SLOTS 256	/* direct-mapped by hash */

struct tokcache_entry {
	char *token;		/* owned, NULL when empty */
	size_t len;
	const struct auth *auth;	/* the verifier that accepted it */
	struct auth_claims claims;
};

static struct tokcache_entry tokcache[TOKCACHE_SLOTS];

/* FNV-1a over the signature end of the token, where tokens differ most. */
static unsigned tokcache_slot(const char *t, size_t len)
{
	uint32_t h = 2166136261u;
	size_t from = len > 64 ? len - 64 : 0;

	for (size_t i = from; i < len; i++)
		h = (h ^ (unsigned char)t[i]) * 16777619u;
	return h % TOKCACHE_SLOTS;
}

int tokcache_verify(const struct auth *a, const char *token, time_t now,
		    struct auth_claims *out, char *err, size_t errlen)
{
	size_t len = strlen(token);
	struct tokcache_entry *e = &tokcache[tokcache_slot(token, len)];

	if (e->token && e->auth == a && e->len == len && now < e->claims.exp &&
	    !memcmp(e->token, token, len)) {
		*out = e->claims;
		return 0;
	}
	if (auth_verify(a, token, now, out, err, errlen))
		return -1;
	free(e->token);
	e->token = malloc(len + 1);
	if (e->token) {	/* no memory: simply not cached */
		memcpy(e->token, token, len + 1);
		e->len = len;
		e->auth = a;
		e->claims = *out;
	}
	return 0;
}

void tokcache_clear(void)
{
	for (size_t i = 0; i < TOKCACHE_SLOTS; i++) {
		free(tokcache[i].token);
		tokcache[i].token = NULL;
	}
}
