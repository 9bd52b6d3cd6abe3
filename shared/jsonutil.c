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

/*
 * json-c accepts 'single-quoted' strings even in strict mode; JSON does
 * not. 1 when buf has a single quote outside a double-quoted string.
 */
static int json_has_single_quote(const char *buf, size_t len)
{
	int in_str = 0;

	for (size_t i = 0; i < len; i++) {
		if (in_str && buf[i] == '\\')
			i++;
		else if (buf[i] == '"')
			in_str = !in_str;
		else if (!in_str && buf[i] == '\'')
			return 1;
	}
	return 0;
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
	if (!obj || json_tokener_get_error(tok) != json_tokener_success || end < len ||
	    json_has_single_quote(buf, len))
		goto invalid;
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

int json_get_uuid_array(json_object *obj, const char *key,
			char (**out)[UUID_STR_SIZE], size_t *n, size_t max,
			char *err, size_t errlen)
{
	json_object *v;
	char (*ids)[UUID_STR_SIZE] = NULL;
	size_t len, count = 0;

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
		char id[UUID_STR_SIZE];
		size_t j;

		if (!json_object_is_type(e, json_type_string) ||
		    uuid_norm(json_object_get_string(e), id)) {
			snprintf(err, errlen, "field '%s'[%zu] is not a valid UUID", key, i);
			free(ids);
			return -1;
		}
		for (j = 0; j < count && strcmp(ids[j], id); j++)
			;
		if (j == count)
			memcpy(ids[count++], id, sizeof(id));
	}
	*out = ids;
	*n = count;
	return 1;
}
