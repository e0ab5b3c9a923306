/*
 * util/jsonw.h — streaming JSON writer into a strbuf.
 *
 * Handles commas and string escaping; the caller only says what comes next:
 *
 *   struct jsonw w; jsonw_init(&w, &sb);
 *   jsonw_obj_begin(&w);
 *     jsonw_key(&w, "success"); jsonw_bool(&w, true);
 *     jsonw_key(&w, "errors");  jsonw_arr_begin(&w); ... jsonw_arr_end(&w);
 *   jsonw_obj_end(&w);
 *
 * Strings are written as valid UTF-8: invalid byte sequences become U+FFFD.
 * Doubles that are NaN or infinite are written as null (JSON has no NaN).
 * Errors from the strbuf (RC_LIMIT) are sticky in w->rc and later calls do
 * nothing; check jsonw_finish() once at the end. Not thread-safe.
 */
#ifndef UTIL_JSONW_H
#define UTIL_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

#define JSONW_MAX_DEPTH 64

struct jsonw {
    struct strbuf *sb;
    int rc; /* first error, RC_OK if none */
    int depth;
    bool need_comma[JSONW_MAX_DEPTH];
    bool after_key;
};

void jsonw_init(struct jsonw *w, struct strbuf *sb);
/* Returns the first error (RC_OK if none). */
int jsonw_finish(struct jsonw *w);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);

void jsonw_str(struct jsonw *w, const char *s); /* NULL -> null */
void jsonw_strn(struct jsonw *w, const char *s, size_t n);
void jsonw_i64(struct jsonw *w, int64_t v);
void jsonw_u64(struct jsonw *w, uint64_t v);
void jsonw_f64(struct jsonw *w, double v); /* %.17g, trimmed */
void jsonw_f64_fixed(struct jsonw *w, double v, int decimals);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
void jsonw_time_us(struct jsonw *w, int64_t ts_us); /* RFC 3339 string */
/* Writes pre-rendered JSON (caller guarantees validity). */
void jsonw_raw(struct jsonw *w, const char *json, size_t n);

/* Shorthands for "key": value. */
void jsonw_kv_str(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_i64(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_u64(struct jsonw *w, const char *key, uint64_t v);
void jsonw_kv_f64(struct jsonw *w, const char *key, double v);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);
void jsonw_kv_null(struct jsonw *w, const char *key);

/* Appends s (n bytes) as a quoted JSON string to sb: escapes and replaces
 * invalid UTF-8 with U+FFFD. */
int json_append_string(struct strbuf *sb, const char *s, size_t n);

#endif
