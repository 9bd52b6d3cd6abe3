/*
 * pgarr - Postgres array literals, see pgarr.h.
 */
#include "pgarr.h"

#include <inttypes.h>
#include <string.h>

void pgarr_init(struct pgarr *a, size_t hint)
{
	sbuf_init(&a->b, hint);
	sbuf_add(&a->b, "{", 1);
	a->n = 0;
}

void pgarr_release(struct pgarr *a)
{
	sbuf_release(&a->b);
	a->n = 0;
}

/* The comma before every element but the first. */
static void pgarr_sep(struct pgarr *a)
{
	if (a->n++)
		sbuf_add(&a->b, ",", 1);
}

void pgarr_add_i64(struct pgarr *a, int64_t v)
{
	pgarr_sep(a);
	sbuf_addf(&a->b, "%" PRId64, v);
}

void pgarr_add_uuid(struct pgarr *a, const char *id)
{
	pgarr_sep(a);
	sbuf_add(&a->b, id, strnlen(id, UUID_STR_LEN));
}

void pgarr_add_text(struct pgarr *a, const char *s, size_t n)
{
	size_t start = 0;

	pgarr_sep(a);
	sbuf_add(&a->b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		sbuf_add(&a->b, s + start, i - start);
		sbuf_add(&a->b, "\\", 1);
		start = i;
	}
	sbuf_add(&a->b, s + start, n - start);
	sbuf_add(&a->b, "\"", 1);
}

const char *pgarr_end(struct pgarr *a)
{
	sbuf_add(&a->b, "}", 1);
	return sbuf_text(&a->b);
}

char *pgarr_uuids(char (*ids)[UUID_STR_SIZE], size_t n)
{
	struct pgarr a;
	size_t len;

	pgarr_init(&a, n * UUID_STR_SIZE + 2);
	for (size_t i = 0; i < n; i++)
		pgarr_add_uuid(&a, ids[i]);
	if (!pgarr_end(&a)) {
		pgarr_release(&a);
		return NULL;
	}
	return sbuf_detach(&a.b, &len);
}
