/*
 * uuid - the user id type, with its one parser and its one formatter.
 *
 * Layering: a base module. uuid.h and uuid.c include only libc headers
 * and never include another header of this project; anything may use them.
 *
 * A user id (Supabase's auth.users.id) is a UUID. A program keeps it as a
 * struct uuid wherever ids are compared or hashed (the websocket tier's
 * connection map and room members), and as its text form wherever it
 * travels (JSON, SQL parameters, events, logs): exactly UUID_STR_LEN
 * characters, 8-4-4-4-12 lowercase hex digits, in a char[UUID_STR_SIZE].
 * uuid_parse() is the only parser (it accepts either case) and
 * uuid_format() the only formatter, so an id leaves in one form whatever
 * form it came in.
 */
#ifndef CHAT_UUID_H
#define CHAT_UUID_H

#include <string.h>

#define UUID_LEN 16				/* bytes of a struct uuid */
#define UUID_STR_LEN 36				/* characters of the text form */
#define UUID_STR_SIZE (UUID_STR_LEN + 1)	/* the text form with its NUL */

struct uuid {
	unsigned char b[UUID_LEN];
};

/*
 * Parse s, a NUL-terminated 8-4-4-4-12 hex UUID in either case with
 * nothing before or after it. Returns 0 with *out set, or -1 (s NULL or
 * not a UUID; *out undefined).
 */
int uuid_parse(const char *s, struct uuid *out);

/* The text form of u, lowercase, into out. */
void uuid_format(const struct uuid *u, char out[UUID_STR_SIZE]);

/*
 * uuid_parse() then uuid_format(): s in the text form (lowercased) into
 * out. Returns 0, or -1 when s is not a UUID (out undefined).
 */
int uuid_norm(const char *s, char out[UUID_STR_SIZE]);

/* 1 when a and b are the same id, else 0. */
static inline int uuid_eq(const struct uuid *a, const struct uuid *b)
{
	return !memcmp(a->b, b->b, UUID_LEN);
}

#endif
