/*
 * util/jsonw.c — see jsonw.h.
 */
#include "util/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"
#include "util/utf8.h"

void jsonw_init(struct jsonw *w, struct strbuf *sb)
{
    memset(w, 0, sizeof(*w));
    w->sb = sb;
}

int jsonw_finish(struct jsonw *w)
{
    return w->rc;
}

static void put(struct jsonw *w, const char *s, size_t n)
{
    if (w->rc)
        return;
    w->rc = strbuf_append(w->sb, s, n);
}

/* Emits the comma before a value if needed. */
static void value_prefix(struct jsonw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1])
            put(w, ",", 1);
        w->need_comma[w->depth - 1] = true;
    }
}

static void open_scope(struct jsonw *w, char c)
{
    value_prefix(w);
    put(w, &c, 1);
    if (w->depth >= JSONW_MAX_DEPTH) {
        if (!w->rc)
            w->rc = RC_LIMIT;
        return;
    }
    w->need_comma[w->depth++] = false;
}

static void close_scope(struct jsonw *w, char c)
{
    if (w->depth > 0)
        w->depth--;
    put(w, &c, 1);
}

void jsonw_obj_begin(struct jsonw *w)
{
    open_scope(w, '{');
}
void jsonw_obj_end(struct jsonw *w)
{
    close_scope(w, '}');
}
void jsonw_arr_begin(struct jsonw *w)
{
    open_scope(w, '[');
}
void jsonw_arr_end(struct jsonw *w)
{
    close_scope(w, ']');
}

void jsonw_key(struct jsonw *w, const char *key)
{
    value_prefix(w);
    if (!w->rc)
        w->rc = json_append_string(w->sb, key, strlen(key));
    put(w, ":", 1);
    w->after_key = true;
}

int json_append_string(struct strbuf *sb, const char *s, size_t n)
{
    int rc = strbuf_reserve(sb, n + 2);
    if (rc)
        return rc;
    sb->data[sb->len++] = '"';
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        /* Copy the longest run that needs no escaping in one go. */
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            if ((rc = strbuf_append(sb, s + i, run - i)))
                return rc;
            i = run;
            continue;
        }
        unsigned char c = p[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rc = strbuf_append(sb, esc, 2);
            i++;
        } else if (c < 0x20) {
            const char *named = NULL;
            switch (c) {
            case '\n': named = "\\n"; break;
            case '\r': named = "\\r"; break;
            case '\t': named = "\\t"; break;
            case '\b': named = "\\b"; break;
            case '\f': named = "\\f"; break;
            }
            if (named) {
                rc = strbuf_append(sb, named, 2);
            } else {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                rc = strbuf_append(sb, esc, 6);
            }
            i++;
        } else {
            size_t l = utf8_seq_len(p + i, n - i);
            if (l == 0) {
                rc = strbuf_append(sb, "\xEF\xBF\xBD", 3);
                i++;
            } else {
                rc = strbuf_append(sb, s + i, l);
                i += l;
            }
        }
        if (rc)
            return rc;
    }
    return strbuf_putc(sb, '"');
}

void jsonw_strn(struct jsonw *w, const char *s, size_t n)
{
    value_prefix(w);
    if (!w->rc)
        w->rc = json_append_string(w->sb, s, n);
}

void jsonw_str(struct jsonw *w, const char *s)
{
    if (!s) {
        jsonw_null(w);
        return;
    }
    jsonw_strn(w, s, strlen(s));
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%lld", (long long)v);
    value_prefix(w);
    put(w, b, (size_t)n);
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    value_prefix(w);
    put(w, b, (size_t)n);
}

void jsonw_f64(struct jsonw *w, double v)
{
    if (!isfinite(v)) {
        jsonw_null(w);
        return;
    }
    char b[32];
    /* Shortest representation that round-trips. */
    int n = snprintf(b, sizeof(b), "%.15g", v);
    if (strtod(b, NULL) != v)
        n = snprintf(b, sizeof(b), "%.17g", v);
    value_prefix(w);
    put(w, b, (size_t)n);
}

void jsonw_f64_fixed(struct jsonw *w, double v, int decimals)
{
    if (!isfinite(v)) {
        jsonw_null(w);
        return;
    }
    char b[48];
    int n = snprintf(b, sizeof(b), "%.*f", decimals, v);
    value_prefix(w);
    put(w, b, (size_t)n);
}

void jsonw_bool(struct jsonw *w, bool v)
{
    value_prefix(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
    value_prefix(w);
    put(w, "null", 4);
}

void jsonw_time_us(struct jsonw *w, int64_t ts_us)
{
    char b[40];
    size_t n = time_format_rfc3339_us(ts_us, b, sizeof(b));
    jsonw_strn(w, b, n);
}

void jsonw_raw(struct jsonw *w, const char *json, size_t n)
{
    value_prefix(w);
    put(w, json, n);
}

void jsonw_kv_str(struct jsonw *w, const char *key, const char *s)
{
    jsonw_key(w, key);
    jsonw_str(w, s);
}
void jsonw_kv_i64(struct jsonw *w, const char *key, int64_t v)
{
    jsonw_key(w, key);
    jsonw_i64(w, v);
}
void jsonw_kv_u64(struct jsonw *w, const char *key, uint64_t v)
{
    jsonw_key(w, key);
    jsonw_u64(w, v);
}
void jsonw_kv_f64(struct jsonw *w, const char *key, double v)
{
    jsonw_key(w, key);
    jsonw_f64(w, v);
}
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
    jsonw_key(w, key);
    jsonw_bool(w, v);
}
void jsonw_kv_null(struct jsonw *w, const char *key)
{
    jsonw_key(w, key);
    jsonw_null(w);
}
