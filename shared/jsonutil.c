#include "jsonutil.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *json_envelope(const char *error_message, json_object *data)
{
	json_object *env = json_object_new_object();
	char *out;

	if (!env) {
		json_object_put(data);
		return NULL;
	}
	json_object_object_add(env, "error_message",
			       error_message ? json_object_new_string(error_message) : NULL);
	json_object_object_add(env, "data", data);
	out = strdup(json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN |
						    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(env);
	return out;
}

/* 1 when the integer literal p[0..n) (optional '-', digits) fits int64_t. */
static int json_int_fits(const char *p, size_t n)
{
	static const char max[] = "9223372036854775807", min[] = "9223372036854775808";
	int neg = *p == '-';

	p += neg;
	n -= neg;
	if (n != sizeof(max) - 1)
		return n < sizeof(max) - 1;
	return memcmp(p, neg ? min : max, n) <= 0;
}

/*
 * What json-c lets through that JSON, or this service, does not:
 *   JSON_SCAN_QUOTE  a 'single-quoted' string (json-c accepts them even
 *                    in strict mode);
 *   JSON_SCAN_RANGE  an integer outside int64_t (json-c clamps it to
 *                    INT64_MAX or INT64_MIN instead of failing);
 *   JSON_SCAN_WORD   NaN, Infinity, -Infinity (json-c takes them in
 *                    strict mode too; the only other words it takes are
 *                    true, false and null, so a capital N or I outside
 *                    a string is one of them: found by tests/fuzz).
 * Looks at everything outside double-quoted strings.
 */
enum { JSON_SCAN_OK = 0, JSON_SCAN_QUOTE, JSON_SCAN_RANGE, JSON_SCAN_WORD };

static int json_scan(const char *buf, size_t len)
{
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (buf[i] == '\\')
				i++;
			else if (buf[i] == '"')
				in_str = 0;
		} else if (buf[i] == '"') {
			in_str = 1;
		} else if (buf[i] == '\'') {
			return JSON_SCAN_QUOTE;
		} else if (buf[i] == 'N' || buf[i] == 'I') {
			return JSON_SCAN_WORD;
		} else if (buf[i] == '-' || isdigit((unsigned char)buf[i])) {
			size_t j = i + (buf[i] == '-');

			while (j < len && isdigit((unsigned char)buf[j]))
				j++;
			/* a fraction or exponent makes it a double: not an integer */
			if (!(j < len && (buf[j] == '.' || buf[j] == 'e' || buf[j] == 'E')) &&
			    !json_int_fits(buf + i, j - i))
				return JSON_SCAN_RANGE;
			i = j - 1;
			while (i + 1 < len && (isdigit((unsigned char)buf[i + 1]) ||
					       strchr(".eE+-", buf[i + 1])))
				i++;
		}
	}
	return JSON_SCAN_OK;
}

json_object *json_parse_object_ex(const char *buf, size_t len, int trailing_ws,
				  const char *what, char *err, size_t errlen)
{
	struct json_tokener *tok;
	json_object *obj = NULL;
	size_t end;

	if (len == 0) {
		if (errlen)
			snprintf(err, errlen, "%s is empty", what);
		return NULL;
	}
	tok = json_tokener_new();
	if (!tok) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	/* JSON has no raw NUL; json-c would stop reading at one. */
	if (len > INT_MAX || memchr(buf, '\0', len))
		goto invalid;
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	end = json_tokener_get_parse_end(tok);
	while (trailing_ws && end < len && isspace((unsigned char)buf[end]))
		end++;
	if (!obj || json_tokener_get_error(tok) != json_tokener_success || end < len)
		goto invalid;
	/*
	 * json-c itself reads white space after the object, so end alone
	 * does not tell: an object ends in '}' (found by tests/fuzz).
	 */
	if (!trailing_ws && isspace((unsigned char)buf[len - 1]))
		goto invalid;
	switch (json_scan(buf, len)) {
	case JSON_SCAN_QUOTE:
	case JSON_SCAN_WORD:
		goto invalid;
	case JSON_SCAN_RANGE:
		json_object_put(obj);
		obj = NULL;
		if (errlen)
			snprintf(err, errlen, "%s has an integer outside the 64-bit range", what);
		goto out;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		obj = NULL;
		if (errlen)
			snprintf(err, errlen, "%s must be a JSON object", what);
	}
	goto out;
invalid:
	json_object_put(obj);
	obj = NULL;
	if (errlen)
		snprintf(err, errlen, "%s is not valid JSON", what);
out:
	json_tokener_free(tok);
	return obj;
}

json_object *json_parse_object(const char *buf, size_t len, const char *what,
			       char *err, size_t errlen)
{
	return json_parse_object_ex(buf, len, 1, what, err, errlen);
}

int json_get_int64(json_object *obj, const char *key, int64_t *out,
		   char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "field '%s' must be an integer", key);
		return -1;
	}
	*out = json_object_get_int64(v);
	return 1;
}

int json_get_string(json_object *obj, const char *key, const char **out,
		    char *err, size_t errlen)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "field '%s' must be a string", key);
		return -1;
	}
	*out = json_object_get_string(v);
	return 1;
}

/* An id and where it was in the input: sorted, equal ids fall together. */
struct json_uuid_at {
	struct uuid u;
	size_t at;
};

static int json_uuid_at_cmp(const void *a, const void *b)
{
	const struct json_uuid_at *x = a, *y = b;
	int c = memcmp(x->u.b, y->u.b, UUID_LEN);

	if (c)
		return c;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * Drop the repeats of ids[0..len), keeping each id's first occurrence,
 * in input order. Sort + unique, O(n log n): a room event may list tens
 * of thousands of ids, and the pairwise loop it replaces took seconds
 * (issue 10). Returns the new count, or -1 when out of memory.
 */
static long json_uuid_dedupe(char (*ids)[UUID_STR_SIZE], size_t len)
{
	struct json_uuid_at *s;
	unsigned char *dup;
	size_t n = 0;

	if (len < 2)
		return (long)len;
	s = malloc(len * sizeof(*s));
	dup = calloc(len, 1);
	if (!s || !dup) {
		free(s);
		free(dup);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		uuid_parse(ids[i], &s[i].u);	/* normalised already: cannot fail */
		s[i].at = i;
	}
	qsort(s, len, sizeof(*s), json_uuid_at_cmp);
	for (size_t i = 1; i < len; i++)
		if (uuid_eq(&s[i].u, &s[i - 1].u))
			dup[s[i].at] = 1;	/* a later occurrence of s[i - 1] */
	for (size_t i = 0; i < len; i++)
		if (!dup[i]) {
			if (n != i)
				memcpy(ids[n], ids[i], UUID_STR_SIZE);
			n++;
		}
	free(s);
	free(dup);
	return (long)n;
}

int json_get_uuid_array(json_object *obj, const char *key,
			char (**out)[UUID_STR_SIZE], size_t *n, size_t max,
			char *err, size_t errlen)
{
	json_object *v;
	char (*ids)[UUID_STR_SIZE] = NULL;
	size_t len;
	long count;

	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_array)) {
		snprintf(err, errlen, "field '%s' must be an array of user ids", key);
		return -1;
	}
	len = json_object_array_length(v);
	if (len > max) {
		snprintf(err, errlen, "field '%s' has more than %zu entries", key, max);
		return -1;
	}
	ids = calloc(len ? len : 1, sizeof(*ids));
	if (!ids) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		json_object *e = json_object_array_get_idx(v, i);

		if (!json_object_is_type(e, json_type_string) ||
		    uuid_norm(json_object_get_string(e), ids[i])) {
			snprintf(err, errlen, "field '%s'[%zu] is not a valid UUID", key, i);
			free(ids);
			return -1;
		}
	}
	count = json_uuid_dedupe(ids, len);
	if (count < 0) {
		snprintf(err, errlen, "out of memory");
		free(ids);
		return -1;
	}
	*out = ids;
	*n = (size_t)count;
	return 1;
}
