/*
 * moderation - the banned-terms list of CHAT_MODERATION_FILE (close 4011).
 *
 * The file holds one term per line; blank lines and lines starting with
 * '#' are skipped. A term is one word or a phrase of several words. A
 * message matches when it contains a term as whole words, ignoring case:
 * "spam" matches "SPAM!" and "buy spam now" but not "spammer". Words are
 * runs of letters, digits and '_' (any non-ASCII character counts as a
 * letter, so "café" is one word); case is folded for ASCII letters only.
 * Between the words of a phrase any run of non-word characters matches.
 *
 * The list is read once at startup and then only read (the service
 * thread matches). No list (path "") matches nothing.
 */
#ifndef WS_MODERATION_H
#define WS_MODERATION_H

#include <stddef.h>

struct moderation {
	char **terms;		/* owned, normalised: lowercase words, one space apart */
	size_t nterms;
};

/*
 * Load the list at path ("" = empty list). Returns 0, or -1 with a
 * message naming the file in err.
 */
int moderation_load(struct moderation *m, const char *path, char *err, size_t errlen);

/* Add one term (tests, and the loader). 0, or -1 when out of memory. */
int moderation_add(struct moderation *m, const char *term);

/* 1 when text[0..len) contains a term as whole words, else 0. */
int moderation_match(const struct moderation *m, const char *text, size_t len);

void moderation_release(struct moderation *m);

#endif
