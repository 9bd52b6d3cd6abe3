/*
 * Unit tests for ws-daemon/moderation.c: whole-word, case-insensitive
 * matching of terms and phrases, and loading the list from a file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moderation.h"

static int match(const struct moderation *m, const char *s)
{
	return moderation_match(m, s, strlen(s));
}

static void test_words(void **state)
{
	struct moderation m = { 0 };

	(void)state;
	assert_int_equal(moderation_add(&m, "Spam"), 0);
	assert_true(match(&m, "spam"));
	assert_true(match(&m, "SPAM!"));
	assert_true(match(&m, "buy spam now"));
	assert_true(match(&m, "(spam)"));
	assert_true(match(&m, "line\nspam"));
	assert_false(match(&m, "spammer"));
	assert_false(match(&m, "antispam"));
	assert_false(match(&m, "spam_filter"));	/* '_' is a word character */
	assert_false(match(&m, "spamé"));	/* so is any non-ASCII letter */
	assert_false(match(&m, "s p a m"));
	assert_false(match(&m, ""));
	moderation_release(&m);
}

static void test_phrases(void **state)
{
	struct moderation m = { 0 };

	(void)state;
	assert_int_equal(moderation_add(&m, "very  bad phrase\n"), 0);
	assert_true(match(&m, "a very bad phrase indeed"));
	assert_true(match(&m, "VERY, bad -- phrase"));
	assert_false(match(&m, "very bad phrases"));
	assert_false(match(&m, "a very bad"));
	/* a later occurrence is found after a partial one */
	assert_true(match(&m, "very bad phrasebook, very bad phrase"));
	moderation_release(&m);
}

static void test_no_list_matches_nothing(void **state)
{
	struct moderation m;
	char err[128];

	(void)state;
	assert_int_equal(moderation_load(&m, "", err, sizeof(err)), 0);
	assert_false(match(&m, "anything at all"));
	moderation_release(&m);
	assert_int_equal(moderation_load(&m, "/nonexistent/list", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/list"));
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_ws_moderation_XXXXXX", err[128];
	struct moderation m;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# comment: not a term\n\nbadword\n  Other Term  \n!!!\n", f);
	fclose(f);
	assert_int_equal(moderation_load(&m, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(m.nterms, 2);
	assert_true(match(&m, "a BADWORD"));
	assert_true(match(&m, "other term"));
	assert_false(match(&m, "comment"));
	moderation_release(&m);
}

static void test_long_text(void **state)
{
	struct moderation m = { 0 };
	size_t n = 100000;
	char *big = malloc(n + 1);

	(void)state;
	memset(big, 'a', n);
	memcpy(big + n - 5, " evil", 5);
	big[n] = '\0';
	moderation_add(&m, "evil");
	assert_true(match(&m, big));
	big[n - 1] = 'x';
	assert_false(match(&m, big));
	free(big);
	moderation_release(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_phrases),
		cmocka_unit_test(test_no_list_matches_nothing),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_long_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
