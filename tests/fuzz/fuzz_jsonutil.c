/*
 * fuzz_jsonutil - strict JSON parsing and the JSON writer (shared/jsonutil.c,
 * shared/sbuf.c's sbuf_json_str).
 *
 * Every request body, websocket frame, event and token part goes through
 * json_parse_object_ex(), which adds to json-c what it lets through: raw
 * NUL bytes, 'single quotes', integers outside int64 (json-c clamps
 * them), trailing bytes. The input is one document, parsed both ways
 * (trailing white space allowed or not). Checked besides the sanitizers:
 *   - strictness: accepting without trailing white space implies
 *     accepting with it, and the two differ only when the input ends in
 *     white space; an accepted document holds no NUL byte and ends in
 *     '}' (trailing_ws 0) or '}' plus white space;
 *   - no clamped integer gets through: a value of INT64_MAX or INT64_MIN
 *     in the tree was written as such in the input; no NaN either;
 *   - an accepted object, serialised by json-c, is accepted again;
 *   - the typed getters answer 1, 0 or -1 as jsonutil.h says for every
 *     member, with an error naming the field; user id arrays come back
 *     as distinct ids in uuid.h's text form;
 *   - the writer round-trips: input that is valid UTF-8 without NUL,
 *     written with sbuf_json_str() (and as json_envelope()'s
 *     error_message), parses back to the same bytes.
 */
#include <ctype.h>

#include "fuzz.h"
#include "jsonutil.h"
#include "sbuf.h"
#include "uuid.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet("fuzz_jsonutil");
	return 0;
}

/* No INT64_MAX / INT64_MIN in the tree unless the input spelt it; no NaN. */
static void check_ints(json_object *o, const char *src)
{
	if (json_object_is_type(o, json_type_double)) {
		double d = json_object_get_double(o);

		FUZZ_CHECK(d == d);
	} else if (json_object_is_type(o, json_type_int)) {
		int64_t v = json_object_get_int64(o);

		if (v == INT64_MAX)
			FUZZ_CHECK(strstr(src, "9223372036854775807"));
		if (v == INT64_MIN)
			FUZZ_CHECK(strstr(src, "-9223372036854775808"));
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			check_ints(json_object_array_get_idx(o, i), src);
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			(void)k;
			check_ints(v, src);
		}
	}
}

static void check_getters(json_object *o)
{
	json_object_object_foreach(o, key, v) {
		char err[256], (*ids)[UUID_STR_SIZE] = NULL;
		const char *s = NULL;
		int64_t i = 0;
		size_t n = 0;
		int got;

		err[0] = '\0';
		got = json_get_int64(o, key, &i, err, sizeof(err));
		FUZZ_CHECK(got == (v == NULL ? 0 : json_object_is_type(v, json_type_int) ? 1 : -1));
		FUZZ_CHECK(got != -1 || !strncmp(err, "field '", 7));
		got = json_get_string(o, key, &s, err, sizeof(err));
		FUZZ_CHECK(got == (v == NULL ? 0 : json_object_is_type(v, json_type_string) ? 1 : -1));
		FUZZ_CHECK(got != 1 || s);
		FUZZ_CHECK(got != -1 || !strncmp(err, "field '", 7));
		got = json_get_uuid_array(o, key, &ids, &n, 1000, err, sizeof(err));
		FUZZ_CHECK(got >= -1 && got <= 1);
		if (got == 1) {
			FUZZ_CHECK(json_object_is_type(v, json_type_array));
			FUZZ_CHECK(n <= json_object_array_length(v));
			for (size_t a = 0; a < n; a++) {
				char norm[UUID_STR_SIZE];

				FUZZ_CHECK(!uuid_norm(ids[a], norm) && !strcmp(norm, ids[a]));
				for (size_t b = 0; b < a; b++)
					FUZZ_CHECK(strcmp(ids[a], ids[b]));
			}
			free(ids);
		}
	}
}

/* s[0..n) written by the writers parses back to the same bytes. */
static void check_writer(const char *s, size_t n)
{
	json_object *o, *v;
	struct sbuf b;
	char err[128], *text;
	size_t len;

	sbuf_init(&b, n * 2 + 16);
	sbuf_adds(&b, "{\"s\":");
	sbuf_json_str(&b, s, n);
	sbuf_adds(&b, "}");
	text = sbuf_detach(&b, &len);
	o = json_parse_object_ex(text, len, 0, "written", err, sizeof(err));
	FUZZ_CHECK(o != NULL);
	FUZZ_CHECK(json_object_object_get_ex(o, "s", &v));
	FUZZ_CHECK((size_t)json_object_get_string_len(v) == n);
	FUZZ_CHECK(!memcmp(json_object_get_string(v), s, n));
	json_object_put(o);
	free(text);

	text = json_envelope(s, NULL);
	FUZZ_CHECK(text != NULL);
	o = json_parse_object_ex(text, strlen(text), 0, "envelope", err, sizeof(err));
	FUZZ_CHECK(o != NULL);
	FUZZ_CHECK(json_object_object_get_ex(o, "error_message", &v));
	FUZZ_CHECK(!strcmp(json_object_get_string(v), s));
	FUZZ_CHECK(json_object_object_get_ex(o, "data", &v) && v == NULL);
	json_object_put(o);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), err[256];
	json_object *lax, *strict, *again;
	const char *text;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';	/* for strstr; not part of the input */
	err[0] = '\0';
	lax = json_parse_object_ex(buf, size, 1, "body", err, sizeof(err));
	FUZZ_CHECK(lax || err[0]);
	strict = json_parse_object_ex(buf, size, 0, "body", err, sizeof(err));
	FUZZ_CHECK(!strict || lax);
	if (lax) {
		size_t end = size;

		FUZZ_CHECK(!memchr(buf, '\0', size));
		while (end && isspace((unsigned char)buf[end - 1]))
			end--;
		FUZZ_CHECK(end && buf[end - 1] == '}');
		if (strict)
			FUZZ_CHECK(end == size);
		else
			FUZZ_CHECK(end < size);
		check_ints(lax, buf);
		check_getters(lax);
		text = json_object_to_json_string_ext(lax, JSON_C_TO_STRING_PLAIN);
		again = json_parse_object_ex(text, strlen(text), 0, "again", err, sizeof(err));
		if (!again)
			fprintf(stderr, "re-serialised: %s (%s)\n", text, err);
		FUZZ_CHECK(again != NULL);
		json_object_put(again);
	}
	json_object_put(lax);
	json_object_put(strict);
	if (utf8_chars(buf, size) >= 0)
		check_writer(buf, size);
	free(buf);
	return 0;
}
