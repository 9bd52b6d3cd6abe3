/*
 * fuzz_moderation - the banned-terms list (ws-daemon/moderation.c).
 *
 * Two inputs an operator or a client controls: the list file
 * (CHAT_MODERATION_FILE, read by moderation_load) and the text of every
 * message (moderation_match). The fuzz input is the list, a NUL byte,
 * then the message (which may hold more NUL bytes). Checked besides the
 * sanitizers:
 *   - a loaded list has at most one term per line, each normalised as
 *     moderation.h says: non-empty, lowercase ASCII, words of word
 *     characters one space apart, no space at either end;
 *   - every term matches itself, and itself in upper case, wrapped in
 *     punctuation ("spam" matches "(SPAM)!");
 *   - matching ignores ASCII case: the message matches exactly when its
 *     upper-cased copy does; an empty list matches nothing.
 * (That a term matches only as whole words is left to the unit tests:
 * stating it in general costs a second matcher.)
 */
#include "fuzz.h"
#include "moderation.h"

static struct fuzz_file list;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet("fuzz_moderation");
	fuzz_file_open(&list, "moderation");
	return 0;
}

static int word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

static void check_term(const char *t)
{
	size_t n = strlen(t);

	FUZZ_CHECK(n > 0 && t[0] != ' ' && t[n - 1] != ' ');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];

		FUZZ_CHECK(word_char(c) || (c == ' ' && t[i + 1] != ' '));
	}
}

static void upper(char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] -= 32;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct moderation m;
	size_t tlen, mlen, lines = 1;
	char *terms, *msg, *up, err[256];
	int hit;

	terms = fuzz_field(&in, &tlen);
	msg = fuzz_rest(&in, &mlen);
	for (size_t i = 0; i < tlen; i++)
		lines += terms[i] == '\n';
	fuzz_file_set(&list, terms, tlen);
	if (moderation_load(&m, list.path, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		FUZZ_CHECK(!"a readable list loads");
	}
	FUZZ_CHECK(m.nterms <= lines);
	for (size_t i = 0; i < m.nterms; i++) {
		size_t n = strlen(m.terms[i]);
		char *w = malloc(n + 4);

		check_term(m.terms[i]);
		FUZZ_CHECK(moderation_match(&m, m.terms[i], n));
		w[0] = '(';
		memcpy(w + 1, m.terms[i], n);
		memcpy(w + 1 + n, ")!", 2);
		upper(w, n + 3);
		FUZZ_CHECK(moderation_match(&m, w, n + 3));
		free(w);
	}
	hit = moderation_match(&m, msg, mlen);
	FUZZ_CHECK(hit == 0 || hit == 1);
	FUZZ_CHECK(!hit || m.nterms);
	up = malloc(mlen ? mlen : 1);
	memcpy(up, msg, mlen);
	upper(up, mlen);
	FUZZ_CHECK(moderation_match(&m, up, mlen) == hit);
	free(up);
	moderation_release(&m);
	free(terms);
	free(msg);
	return 0;
}
