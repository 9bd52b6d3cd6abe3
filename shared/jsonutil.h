/*
 * jsonutil - JSON helpers shared by the tiers (json-c underneath).
 *
 * The REST envelope of SPEC.md section 2, strict parsing of request
 * bodies and websocket frames, and typed field getters whose error text
 * names the field, e.g. "field 'room_id' must be an integer".
 *
 * Layering: above uuid.h, with json-c. Never cfg, auth, db, evt or a
 * tier's header. Writing JSON text without an object model is sbuf.h's
 * (sbuf_json_str), not this module's.
 */
#ifndef CHAT_JSONUTIL_H
#define CHAT_JSONUTIL_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

/*
 * {"error_message": error_message or null, "data": data or null} as a
 * malloc'd string the caller frees. Takes ownership of data (may be NULL).
 * Returns NULL only when out of memory.
 */
char *json_envelope(const char *error_message, json_object *data);

/*
 * Parse exactly one JSON object from buf[0..len) (trailing white space
 * allowed, nothing else). Returns the object (caller puts it), or NULL
 * with "body is not valid JSON" / "body must be a JSON object" in err.
 * what names the input in messages ("body", "frame").
 */
json_object *json_parse_object(const char *buf, size_t len, const char *what,
			       char *err, size_t errlen);

/*
 * The same with a choice: trailing_ws 0 refuses even white space after
 * the object (JWT parts); errlen 0 writes no message (err may be NULL).
 * A NUL byte anywhere is refused either way.
 */
json_object *json_parse_object_ex(const char *buf, size_t len, int trailing_ws,
				  const char *what, char *err, size_t errlen);

/*
 * Typed getters. Each returns 1 when the field is present and of the
 * right type (value in *out), 0 when it is absent or null (out untouched),
 * -1 when present with the wrong type (message in err naming the field).
 */
int json_get_int64(json_object *obj, const char *key, int64_t *out,
		   char *err, size_t errlen);
int json_get_string(json_object *obj, const char *key, const char **out,
		    char *err, size_t errlen);	/* out borrowed from obj */

/*
 * An array of user ids. On 1, *out is a malloc'd array of *n
 * de-duplicated ids in their text form (uuid.h) the caller frees with
 * free(): each id once, at its first occurrence, in input order (sort +
 * unique, O(n log n): room events list tens of thousands). An element
 * that is not a UUID gives -1 naming the field and the index. max bounds
 * the array length (-1 beyond it).
 */
int json_get_uuid_array(json_object *obj, const char *key,
			char (**out)[UUID_STR_SIZE], size_t *n, size_t max,
			char *err, size_t errlen);

#endif
