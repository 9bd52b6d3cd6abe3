#include "moderation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mod_word(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static unsigned char mod_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/*
 * Normalise text into out (at least len + 1 bytes): lowercase words
 * separated by single spaces. The same form for terms and messages turns
 * the match into a substring search with boundary checks.
 */
static size_t mod_norm(const char *text, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t n = 0;
	int gap = 0;

	for (size_t i = 0; i < len; i++) {
		if (!mod_word(p[i])) {
			gap = 1;
			continue;
		}
		if (gap && n)
			out[n++] = ' ';
		gap = 0;
		out[n++] = (char)mod_lower(p[i]);
	}
	out[n] = '\0';
	return n;
}

int moderation_add(struct moderation *m, const char *term)
{
	size_t len = strlen(term);
	char *norm = malloc(len + 1), **t;

	if (!norm)
		return -1;
	if (!mod_norm(term, len, norm)) {
		free(norm);
		return 0;	/* punctuation only: nothing to match */
	}
	t = realloc(m->terms, (m->nterms + 1) * sizeof(*t));
	if (!t) {
		free(norm);
		return -1;
	}
	m->terms = t;
	m->terms[m->nterms++] = norm;
	return 0;
}

int moderation_load(struct moderation *m, const char *path, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int rc = -1;

	memset(m, 0, sizeof(*m));
	if (!*path)
		return 0;
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "CHAT_MODERATION_FILE: cannot open '%s': %s",
			 path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *s = line;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '#')
			continue;
		if (moderation_add(m, s)) {
			snprintf(err, errlen, "CHAT_MODERATION_FILE: out of memory");
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "CHAT_MODERATION_FILE: cannot read '%s'", path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	if (rc)
		moderation_release(m);
	return rc;
}

int moderation_match(const struct moderation *m, const char *text, size_t len)
{
	char stackbuf[1024], *norm = stackbuf;
	size_t n;
	int hit = 0;

	if (!m->nterms)
		return 0;
	if (len + 1 > sizeof(stackbuf)) {
		norm = malloc(len + 1);
		if (!norm)
			return 1;	/* fail closed: refuse rather than let it through */
	}
	n = mod_norm(text, len, norm);
	for (size_t i = 0; i < m->nterms && !hit; i++) {
		const char *t = m->terms[i], *p = norm;
		size_t tl = strlen(t);

		while (!hit && (p = memmem(p, n - (size_t)(p - norm), t, tl))) {
			/* whole words: a space or an end on either side */
			if ((p == norm || p[-1] == ' ') &&
			    (p + tl == norm + n || p[tl] == ' '))
				hit = 1;
			p++;
		}
	}
	if (norm != stackbuf)
		free(norm);
	return hit;
}

void moderation_release(struct moderation *m)
{
	for (size_t i = 0; i < m->nterms; i++)
		free(m->terms[i]);
	free(m->terms);
	m->terms = NULL;
	m->nterms = 0;
}
