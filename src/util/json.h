/*
 * util/json.h — JSON parser (DOM) for request bodies.
 *
 *   struct json_value *doc = NULL;
 *   struct errbuf eb = {0};
 *   if (json_parse(body, body_len, &doc, &eb) != RC_OK) -> 400 with eb.msg
 *   const char *sql = json_as_str(json_obj_get(doc, "sql"), NULL);
 *   int64_t limit;
 *   if (!json_as_i64(json_obj_get(doc, "limit"), &limit)) ...
 *   json_free(&doc);
 *
 * Strict RFC 8259: no trailing garbage, no comments, no NaN/Infinity, no
 * leading zeros, no unescaped control characters in strings, strings must be
 * valid UTF-8 and \u escapes must pair surrogates correctly. Nesting deeper
 * than JSON_MAX_DEPTH is rejected. Every node of one document lives in one
 * arena, released by json_free on the root.
 *
 * All accessors accept NULL (and a node of the wrong type) and then return
 * the "absent" answer (NULL, 0, false), so lookups can be chained without
 * checks in between. A parsed document is immutable, so several threads may
 * read it at once; parsing itself uses no shared state.
 */
#ifndef UTIL_JSON_H
#define UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

/* Maximum nesting of arrays/objects; "[[...]]" 65 deep fails. */
#define JSON_MAX_DEPTH 64

enum json_type {
    JSON_NULL = 0,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

/* Opaque node; read it with the accessors below. */
struct json_value;

/* --- parsing -------------------------------------------------------------- */

/* Parses len bytes of text (need not be NUL-terminated). On success *out is
 * the root node, owned by the caller and released with json_free. On failure
 * returns RC_PARSE with a message naming the byte offset ("invalid JSON at
 * byte 17: ..."), and *out is set to NULL. */
int json_parse(const char *text, size_t len, struct json_value **out, struct errbuf *eb) MUST_CHECK;

/* Frees the whole document of a root returned by json_parse and sets *root
 * to NULL. Accepts NULL and *root == NULL. Only pass the root: every node of
 * the document becomes invalid. */
void json_free(struct json_value **root);

/* --- inspection ----------------------------------------------------------- */

/* Type of v; JSON_NULL when v is NULL. */
enum json_type json_type(const struct json_value *v);

/* Type name for messages ("null", "boolean", "number", "string", "array",
 * "object"). */
const char *json_type_name(enum json_type t);

/* True if v is present and is JSON null. */
bool json_is_null(const struct json_value *v);

/* --- scalars -------------------------------------------------------------- */

/* String content (unescaped, UTF-8, NUL-terminated; it may contain NUL bytes
 * from \u0000, so use *len when that matters). NULL if v is not a string.
 * len may be NULL. The pointer lives as long as the document. */
const char *json_as_str(const struct json_value *v, size_t *len);

/* Integer value: true only if v is a number written as an integer (no
 * fraction, no exponent) that fits in int64_t. "5.0", "1e3" and
 * "9223372036854775808" are numbers but not integers here. */
bool json_as_i64(const struct json_value *v, int64_t *out);

/* Numeric value as a double (integers too, possibly rounded). False if v is
 * not a number. */
bool json_as_f64(const struct json_value *v, double *out);

/* Boolean value. False if v is not a boolean (JSON false gives true with
 * *out == false). */
bool json_as_bool(const struct json_value *v, bool *out);

/* --- arrays --------------------------------------------------------------- */

/* Element count; 0 if v is not an array. */
size_t json_arr_len(const struct json_value *v);

/* Element i, or NULL if v is not an array or i is out of range. */
const struct json_value *json_arr_at(const struct json_value *v, size_t i);

/* --- objects -------------------------------------------------------------- */

/* Value of member key (NUL-terminated, exact byte match). With duplicate
 * keys the last one wins. NULL if absent or v is not an object. */
const struct json_value *json_obj_get(const struct json_value *v, const char *key);

/* Same with a key of explicit length. */
const struct json_value *json_obj_getn(const struct json_value *v, const char *key, size_t key_len);

/* Member count (duplicates counted); 0 if v is not an object. Members keep
 * their document order. */
size_t json_obj_len(const struct json_value *v);

/* Key of member i (NUL-terminated; *len gets its length when len is non-NULL)
 * or NULL if out of range. */
const char *json_obj_key_at(const struct json_value *v, size_t i, size_t *len);

/* Value of member i, or NULL if out of range. */
const struct json_value *json_obj_val_at(const struct json_value *v, size_t i);

#endif
