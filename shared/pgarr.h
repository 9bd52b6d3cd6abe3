/*
 * pgarr - Postgres array literals, the one way lists reach a statement.
 *
 * Layering: above sbuf.h and uuid.h; pgarr.h and pgarr.c include only
 * those and libc headers. Never db.h or libpq: this builds text, it
 * talks to no database.
 *
 * SQL is only ever run with parameters (DESIGN.md), so a list goes in as
 * one text parameter in Postgres' array input syntax, "{a,b,c}", cast in
 * the statement ($1::uuid[], $2::bigint[], $3::text[]). Numbers and ids
 * in the text form of uuid.h go in bare; any other text is quoted, with
 * '"' and '\\' escaped, so an element may hold anything (commas, braces,
 * quotes, the word NULL).
 *
 * Ownership: the literal belongs to the struct until pgarr_release().
 * Out of memory is sticky, as in sbuf.h: pgarr_end() reports it.
 */
#ifndef CHAT_PGARR_H
#define CHAT_PGARR_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"
#include "uuid.h"

struct pgarr {
	struct sbuf b;
	size_t n;		/* elements so far */
};

/* Start an empty literal with room for hint bytes (0: a default). */
void pgarr_init(struct pgarr *a, size_t hint);

/* Append one element: an integer; an id in the text form; any text. */
void pgarr_add_i64(struct pgarr *a, int64_t v);
void pgarr_add_uuid(struct pgarr *a, const char *id);
void pgarr_add_text(struct pgarr *a, const char *s, size_t n);

/*
 * Close the literal. Returns its text (owned by a, valid until
 * pgarr_release), or NULL when an allocation failed. Nothing may be
 * added afterwards.
 */
const char *pgarr_end(struct pgarr *a);

void pgarr_release(struct pgarr *a);

/*
 * The literal of n ids in one go, as a malloc'd string the caller frees
 * ("{}" when n is 0); NULL when out of memory.
 */
char *pgarr_uuids(char (*ids)[UUID_STR_SIZE], size_t n);

#endif
