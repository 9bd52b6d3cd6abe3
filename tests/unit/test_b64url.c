/* b64url: strict base64url decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "b64url.h"

/* s must decode to want (wantlen bytes); want NULL: refused with EINVAL. */
static void dec(const char *s, const char *want, size_t wantlen)
{
	unsigned char *out;
	size_t n = 0;

	errno = 0;
	out = b64url_decode(s, strlen(s), &n);
	if (!want) {
		assert_null(out);
		assert_int_equal(errno, EINVAL);
		return;
	}
	assert_non_null(out);
	assert_int_equal(n, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(out[n], '\0');
	free(out);
}

static void test_decode(void **state)
{
	(void)state;
	dec("", "", 0);
	dec("eyJhbGciOiJIUzI1NiJ9", "{\"alg\":\"HS256\"}", 15);
	dec("YQ", "a", 1);
	dec("YWI", "ab", 2);
	dec("YWJj", "abc", 3);
	dec("-_8", "\xfb\xff", 2);		/* the url alphabet */
	dec("+/8", NULL, 0);			/* not the plain one */
	dec("YQ==", NULL, 0);			/* no padding */
	dec("YWJjZ", NULL, 0);			/* impossible length */
	dec("YR", NULL, 0);			/* unused bits set: a second encoding */
	dec("YW J", NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
	};

	return cmocka_run_group_tests_name("b64url", tests, NULL, NULL);
}
