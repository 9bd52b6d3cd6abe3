/*
 * utf8 - counting and cutting UTF-8 text on character boundaries.
 *
 * Whatever the service sends is valid UTF-8 (a websocket client fails the
 * connection on a close reason that is not, and JSON must be), so text
 * cut to fit a field is cut with utf8_cut(), never with "%.40s".
 *
 * Layering: a base module. utf8.h and utf8.c include only libc headers
 * and never include another header of this project; anything may use them.
 */
#ifndef CHAT_UTF8_H
#define CHAT_UTF8_H

#include <stddef.h>

/*
 * Number of characters in s[0..len), or -1 when s is not valid UTF-8 or
 * holds a NUL (overlong forms, surrogates and code points past U+10FFFF
 * are invalid).
 */
long utf8_chars(const char *s, size_t len);

/*
 * The length of the longest prefix of s[0..len) of at most max bytes that
 * is whole, valid characters: it stops before a character that would not
 * fit and before the first invalid byte.
 */
size_t utf8_cut(const char *s, size_t len, size_t max);

#endif
