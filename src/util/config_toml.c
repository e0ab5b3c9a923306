/*
 * util/config_toml.c — the TOML subset parser behind the configuration file.
 *
 * Supported: comments, [table] and [table.sub] headers, key = value with bare
 * or quoted keys and dotted keys (s3.bucket = "x" under [storage]), basic
 * strings with escapes (\" \\ \b \f \n \r \t \uXXXX \UXXXXXXXX), literal
 * strings, multi-line basic and literal strings, integers (sign, '_'
 * separators, 0x/0o/0b), floats (incl. inf/nan), booleans, and arrays of
 * scalars that may span lines with comments and a trailing comma.
 * Rejected with a clear message: arrays of tables ([[x]]), inline tables,
 * nested arrays, dates/times, duplicate keys or tables, and a key used both
 * as a value and as a table.
 *
 * Output is a flat list of items (headers and key/values with full dotted
 * paths and line numbers); config.c maps them onto the key table. Errors
 * read "config: <file>:<line>: [<key>: ]<problem>". The parser never quotes
 * values in messages (a line may hold a secret).
 *
 * Threads: any; no shared state.
 */
#include "util/config_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/strbuf.h"

/* A configuration file has a few hundred entries; the cap keeps the O(n^2)
 * duplicate check cheap even for a hostile file. */
#define TOML_MAX_ITEMS 10000

struct tp {
    const char *s;
    size_t len;
    size_t pos;
    int line;
    const char *file;
    struct errbuf *eb;
    const char *key; /* key being parsed, for messages (NULL if none yet) */
    char *table;     /* current table path, "" at the root */
    struct toml_doc *doc;
};

static int perr(struct tp *tp, const char *what)
{
    if (tp->key)
        return errbuf_set(tp->eb, RC_PARSE, "config: %s:%d: %s: %s", tp->file, tp->line, tp->key,
                          what);
    return errbuf_set(tp->eb, RC_PARSE, "config: %s:%d: %s", tp->file, tp->line, what);
}

static bool at_end(const struct tp *tp)
{
    return tp->pos >= tp->len;
}

static char peek(const struct tp *tp)
{
    return tp->pos < tp->len ? tp->s[tp->pos] : '\0';
}

static char peek_at(const struct tp *tp, size_t off)
{
    return tp->pos + off < tp->len ? tp->s[tp->pos + off] : '\0';
}

static void skip_ws(struct tp *tp)
{
    while (!at_end(tp) && (peek(tp) == ' ' || peek(tp) == '\t'))
        tp->pos++;
}

static void skip_comment(struct tp *tp)
{
    if (peek(tp) != '#')
        return;
    while (!at_end(tp) && peek(tp) != '\n' && peek(tp) != '\r')
        tp->pos++;
}

/* Consumes one newline ("\n" or "\r\n") if present. Returns 1 if consumed,
 * 0 if not at a newline, -1 on a bare CR. */
static int eat_newline(struct tp *tp)
{
    if (peek(tp) == '\n') {
        tp->pos++;
        tp->line++;
        return 1;
    }
    if (peek(tp) == '\r') {
        if (peek_at(tp, 1) != '\n')
            return -1;
        tp->pos += 2;
        tp->line++;
        return 1;
    }
    return 0;
}

/* After a header or value: only whitespace and a comment may follow. */
static int expect_eol(struct tp *tp, const char *after)
{
    skip_ws(tp);
    skip_comment(tp);
    if (at_end(tp))
        return RC_OK;
    int r = eat_newline(tp);
    if (r == 1)
        return RC_OK;
    if (r < 0)
        return perr(tp, "bare carriage return");
    char msg[96];
    snprintf(msg, sizeof(msg), "unexpected text after %s", after);
    return perr(tp, msg);
}

/* Skips whitespace, newlines and comments (inside arrays). */
static int skip_ws_nl(struct tp *tp)
{
    for (;;) {
        skip_ws(tp);
        skip_comment(tp);
        int r = eat_newline(tp);
        if (r < 0)
            return perr(tp, "bare carriage return");
        if (r == 0)
            return RC_OK;
    }
}

/* --- strings ---------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_utf8(struct strbuf *sb, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    (void)strbuf_append(sb, b, n); /* uncapped buffer: cannot fail */
}

/* Handles the escape at pos (pos at the backslash). */
static int parse_escape(struct tp *tp, struct strbuf *sb)
{
    char e = peek_at(tp, 1);
    const char *simple = NULL;
    switch (e) {
    case 'b': simple = "\b"; break;
    case 't': simple = "\t"; break;
    case 'n': simple = "\n"; break;
    case 'f': simple = "\f"; break;
    case 'r': simple = "\r"; break;
    case '"': simple = "\""; break;
    case '\\': simple = "\\"; break;
    case 'u':
    case 'U': break;
    default: return perr(tp, "invalid escape sequence in string");
    }
    if (simple) {
        (void)strbuf_putc(sb, simple[0]);
        tp->pos += 2;
        return RC_OK;
    }
    int digits = e == 'u' ? 4 : 8;
    unsigned long cp = 0;
    for (int i = 0; i < digits; i++) {
        int h = hexval(peek_at(tp, 2 + (size_t)i));
        if (h < 0)
            return perr(tp, e == 'u' ? "\\u escape needs 4 hex digits"
                                     : "\\U escape needs 8 hex digits");
        cp = cp * 16 + (unsigned long)h;
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return perr(tp, "escape is not a Unicode scalar value");
    put_utf8(sb, cp);
    tp->pos += 2 + (size_t)digits;
    return RC_OK;
}

static bool is_bad_ctrl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

/* Basic string; pos at the opening quote(s). */
static int parse_basic(struct tp *tp, struct strbuf *sb, bool multi)
{
    tp->pos += multi ? 3 : 1;
    if (multi) {
        int r = eat_newline(tp); /* a newline right after """ is trimmed */
        if (r < 0)
            return perr(tp, "bare carriage return");
    }
    for (;;) {
        if (at_end(tp))
            return perr(tp, "unterminated string");
        char c = peek(tp);
        if (c == '"') {
            if (!multi) {
                tp->pos++;
                return RC_OK;
            }
            size_t q = 0;
            while (peek_at(tp, q) == '"')
                q++;
            if (q >= 3) {
                if (q > 5)
                    return perr(tp, "too many quotes closing a multi-line string");
                for (size_t i = 0; i < q - 3; i++)
                    (void)strbuf_putc(sb, '"');
                tp->pos += q;
                return RC_OK;
            }
            for (size_t i = 0; i < q; i++)
                (void)strbuf_putc(sb, '"');
            tp->pos += q;
            continue;
        }
        if (c == '\\') {
            if (multi) {
                /* Line-ending backslash: skip whitespace up to and across
                 * newlines. */
                size_t k = 1;
                while (peek_at(tp, k) == ' ' || peek_at(tp, k) == '\t')
                    k++;
                char n = peek_at(tp, k);
                if (n == '\n' || n == '\r') {
                    tp->pos += k;
                    for (;;) {
                        skip_ws(tp);
                        int r = eat_newline(tp);
                        if (r < 0)
                            return perr(tp, "bare carriage return");
                        if (r == 0)
                            break;
                    }
                    continue;
                }
            }
            int rc = parse_escape(tp, sb);
            if (rc != RC_OK)
                return rc;
            continue;
        }
        if (c == '\n' || c == '\r') {
            if (!multi)
                return perr(tp, "newline in string (use \"\"\" for multi-line strings)");
            int r = eat_newline(tp);
            if (r < 0)
                return perr(tp, "bare carriage return");
            (void)strbuf_putc(sb, '\n');
            continue;
        }
        if (is_bad_ctrl((unsigned char)c))
            return perr(tp, "control character in string");
        (void)strbuf_putc(sb, c);
        tp->pos++;
    }
}

/* Literal string; pos at the opening apostrophe(s). */
static int parse_literal(struct tp *tp, struct strbuf *sb, bool multi)
{
    tp->pos += multi ? 3 : 1;
    if (multi) {
        int r = eat_newline(tp);
        if (r < 0)
            return perr(tp, "bare carriage return");
    }
    for (;;) {
        if (at_end(tp))
            return perr(tp, "unterminated string");
        char c = peek(tp);
        if (c == '\'') {
            if (!multi) {
                tp->pos++;
                return RC_OK;
            }
            size_t q = 0;
            while (peek_at(tp, q) == '\'')
                q++;
            if (q >= 3) {
                if (q > 5)
                    return perr(tp, "too many quotes closing a multi-line string");
                for (size_t i = 0; i < q - 3; i++)
                    (void)strbuf_putc(sb, '\'');
                tp->pos += q;
                return RC_OK;
            }
            for (size_t i = 0; i < q; i++)
                (void)strbuf_putc(sb, '\'');
            tp->pos += q;
            continue;
        }
        if (c == '\n' || c == '\r') {
            if (!multi)
                return perr(tp, "newline in string (use ''' for multi-line strings)");
            int r = eat_newline(tp);
            if (r < 0)
                return perr(tp, "bare carriage return");
            (void)strbuf_putc(sb, '\n');
            continue;
        }
        if (is_bad_ctrl((unsigned char)c))
            return perr(tp, "control character in string");
        (void)strbuf_putc(sb, c);
        tp->pos++;
    }
}

static int parse_string(struct tp *tp, struct toml_val *out)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    int rc;
    char q = peek(tp);
    bool multi = peek_at(tp, 1) == q && peek_at(tp, 2) == q;
    if (q == '"')
        rc = parse_basic(tp, &sb, multi);
    else
        rc = parse_literal(tp, &sb, multi);
    if (rc != RC_OK) {
        strbuf_cleanup(&sb);
        return rc;
    }
    out->kind = TOML_STRING;
    out->s = strbuf_detach(&sb, &out->slen);
    return RC_OK;
}

/* --- numbers, booleans ------------------------------------------------------ */

static bool is_digit_base(char c, int base)
{
    int v = hexval(c);
    return v >= 0 && v < base;
}

/* s[0..n) is digits of base with single '_' only between digits. */
static bool digits_ok(const char *s, size_t n, int base)
{
    if (n == 0 || !is_digit_base(s[0], base) || !is_digit_base(s[n - 1], base))
        return false;
    for (size_t i = 1; i < n; i++) {
        if (s[i] == '_') {
            if (!is_digit_base(s[i + 1], base) || !is_digit_base(s[i - 1], base))
                return false;
        } else if (!is_digit_base(s[i], base)) {
            return false;
        }
    }
    return true;
}

/* Copies s[0..n) without underscores into buf (cap >= n + 1). */
static void strip_us(const char *s, size_t n, char *buf)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            buf[o++] = s[i];
    buf[o] = '\0';
}

static bool looks_like_datetime(const char *t, size_t n)
{
    /* 1979-05-27... or 07:32:00... */
    if (n >= 5 && t[0] >= '0' && t[0] <= '9' && t[1] >= '0' && t[1] <= '9' && t[2] == ':')
        return true;
    if (n >= 8 && t[4] == '-' && t[7] == '-') {
        for (int i = 0; i < 4; i++)
            if (t[i] < '0' || t[i] > '9')
                return false;
        return true;
    }
    return false;
}

/* Decimal integer part: "0" or [1-9] digits; underscores between digits. */
static bool dec_int_ok(const char *s, size_t n)
{
    if (!digits_ok(s, n, 10))
        return false;
    return !(s[0] == '0' && n > 1);
}

static int parse_scalar_token(struct tp *tp, struct toml_val *out)
{
    size_t start = tp->pos;
    while (!at_end(tp)) {
        char c = peek(tp);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '#' ||
            c == '[' || c == '{' || c == '}' || c == '=' || c == '"' || c == '\'')
            break;
        tp->pos++;
    }
    const char *t = tp->s + start;
    size_t n = tp->pos - start;
    if (n == 0)
        return perr(tp, "expected a value");
    if (n == 4 && memcmp(t, "true", 4) == 0) {
        out->kind = TOML_BOOL;
        out->b = true;
        return RC_OK;
    }
    if (n == 5 && memcmp(t, "false", 5) == 0) {
        out->kind = TOML_BOOL;
        out->b = false;
        return RC_OK;
    }
    if (looks_like_datetime(t, n))
        return perr(tp, "date/time values are not supported");

    const char *body = t;
    size_t bn = n;
    bool neg = false;
    if (body[0] == '+' || body[0] == '-') {
        neg = body[0] == '-';
        body++;
        bn--;
    }
    if (bn == 3 && (memcmp(body, "inf", 3) == 0 || memcmp(body, "nan", 3) == 0)) {
        out->kind = TOML_FLOAT;
        out->d = body[0] == 'i' ? (neg ? -INFINITY : INFINITY) : NAN;
        return RC_OK;
    }
    char buf[128];
    if (n >= sizeof(buf))
        return perr(tp, "number too long");

    /* Prefixed integers: no sign allowed. */
    if (bn > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o' || body[1] == 'b')) {
        if (body != t)
            return perr(tp, "a sign is not allowed on hex/octal/binary integers");
        int base = body[1] == 'x' ? 16 : body[1] == 'o' ? 8 : 2;
        if (!digits_ok(body + 2, bn - 2, base))
            return perr(tp, "invalid integer");
        strip_us(body + 2, bn - 2, buf);
        errno = 0;
        char *end;
        unsigned long long v = strtoull(buf, &end, base);
        if (errno == ERANGE || v > (unsigned long long)INT64_MAX)
            return perr(tp, "integer out of range");
        out->kind = TOML_INT;
        out->i = (int64_t)v;
        return RC_OK;
    }

    /* Decimal integer or float: split int part / fraction / exponent. */
    size_t ip = 0;
    while (ip < bn && body[ip] != '.' && body[ip] != 'e' && body[ip] != 'E')
        ip++;
    if (ip == 0 || !digits_ok(body, ip, 10))
        return perr(tp, "invalid value (strings need quotes)");
    if (!dec_int_ok(body, ip))
        return perr(tp, "leading zeros are not allowed in numbers");
    if (ip == bn) {
        strip_us(t, n, buf);
        errno = 0;
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (errno == ERANGE)
            return perr(tp, "integer out of range");
        out->kind = TOML_INT;
        out->i = (int64_t)v;
        return RC_OK;
    }
    size_t k = ip;
    if (body[k] == '.') {
        size_t f = k + 1;
        size_t fe = f;
        while (fe < bn && body[fe] != 'e' && body[fe] != 'E')
            fe++;
        if (!digits_ok(body + f, fe - f, 10))
            return perr(tp, "invalid float (digits needed after '.')");
        k = fe;
    }
    if (k < bn) { /* exponent */
        size_t e = k + 1;
        if (e < bn && (body[e] == '+' || body[e] == '-'))
            e++;
        if (!digits_ok(body + e, bn - e, 10))
            return perr(tp, "invalid float exponent");
    }
    strip_us(t, n, buf);
    errno = 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0')
        return perr(tp, "invalid float");
    if (isinf(d))
        return perr(tp, "float out of range");
    out->kind = TOML_FLOAT;
    out->d = d;
    return RC_OK;
}

static void val_free(struct toml_val *v)
{
    xfree(v->s);
    v->s = NULL;
    for (size_t i = 0; i < v->n; i++)
        val_free(&v->items[i]);
    xfree(v->items);
    v->items = NULL;
    v->n = 0;
}

static int parse_value(struct tp *tp, struct toml_val *out, bool in_array)
{
    memset(out, 0, sizeof(*out));
    out->line = tp->line;
    char c = peek(tp);
    if (at_end(tp) || c == '\n' || c == '\r' || c == '#')
        return perr(tp, "expected a value");
    if (c == '"' || c == '\'')
        return parse_string(tp, out);
    if (c == '{')
        return perr(tp, "inline tables are not supported");
    if (c == '[') {
        if (in_array)
            return perr(tp, "nested arrays are not supported");
        tp->pos++;
        out->kind = TOML_ARRAY;
        size_t cap = 0;
        for (;;) {
            int rc = skip_ws_nl(tp);
            if (rc != RC_OK)
                return rc;
            if (at_end(tp))
                return perr(tp, "unterminated array");
            if (peek(tp) == ']') {
                tp->pos++;
                return RC_OK;
            }
            if (out->n == cap) {
                cap = cap ? cap * 2 : 8;
                out->items = xrealloc(out->items, cap * sizeof(*out->items));
            }
            rc = parse_value(tp, &out->items[out->n], true);
            if (rc != RC_OK) {
                val_free(&out->items[out->n]);
                return rc;
            }
            out->n++;
            rc = skip_ws_nl(tp);
            if (rc != RC_OK)
                return rc;
            if (peek(tp) == ',') {
                tp->pos++;
                continue;
            }
            if (peek(tp) == ']') {
                tp->pos++;
                return RC_OK;
            }
            if (at_end(tp))
                return perr(tp, "unterminated array");
            return perr(tp, "expected ',' or ']' in array");
        }
    }
    return parse_scalar_token(tp, out);
}

/* --- keys ------------------------------------------------------------------- */

static bool is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Dotted key into *out (xmalloc'd). */
static int parse_key(struct tp *tp, char **out)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    int rc = RC_OK;
    for (;;) {
        skip_ws(tp);
        char c = peek(tp);
        if (c == '"' || c == '\'') {
            if (peek_at(tp, 1) == c && peek_at(tp, 2) == c) {
                rc = perr(tp, "multi-line strings cannot be keys");
                goto out;
            }
            struct strbuf part;
            strbuf_init(&part, 0);
            rc = c == '"' ? parse_basic(tp, &part, false) : parse_literal(tp, &part, false);
            if (rc == RC_OK)
                (void)strbuf_append(&sb, part.data ? part.data : "", part.len);
            strbuf_cleanup(&part);
            if (rc != RC_OK)
                goto out;
        } else {
            size_t start = tp->pos;
            while (!at_end(tp) && is_bare(peek(tp)))
                tp->pos++;
            if (tp->pos == start) {
                rc = perr(tp, "expected a key");
                goto out;
            }
            (void)strbuf_append(&sb, tp->s + start, tp->pos - start);
        }
        skip_ws(tp);
        if (peek(tp) != '.')
            break;
        tp->pos++;
        (void)strbuf_putc(&sb, '.');
    }
    *out = strbuf_detach(&sb, NULL);
out:
    if (rc != RC_OK)
        strbuf_cleanup(&sb);
    return rc;
}

/* --- structure checks -------------------------------------------------------- */

/* True if a is a proper dotted prefix of b ("a" of "a.b"). */
static bool is_prefix(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && b[n] == '.';
}

static int check_new_item(struct tp *tp, const struct toml_item *it)
{
    char msg[320];
    for (size_t i = 0; i < tp->doc->n; i++) {
        const struct toml_item *o = &tp->doc->items[i];
        if (it->is_table) {
            if (o->is_table && strcmp(o->path, it->path) == 0) {
                snprintf(msg, sizeof(msg), "table [%.100s] defined twice (first on line %d)",
                         it->path, o->line);
                return perr(tp, msg);
            }
            if (!o->is_table && (strcmp(o->path, it->path) == 0 || is_prefix(o->path, it->path))) {
                snprintf(msg, sizeof(msg), "[%.100s]: %.40s is already a value (line %d)", it->path,
                         o->path, o->line);
                return perr(tp, msg);
            }
        } else {
            if (strcmp(o->path, it->path) == 0) {
                snprintf(msg, sizeof(msg), "%s (first on line %d)",
                         o->is_table ? "key is already a table" : "duplicate key", o->line);
                return perr(tp, msg);
            }
            if (!o->is_table && is_prefix(o->path, it->path)) {
                snprintf(msg, sizeof(msg), "%.60s is already a value (line %d)", o->path, o->line);
                return perr(tp, msg);
            }
            if (is_prefix(it->path, o->path)) {
                snprintf(msg, sizeof(msg), "key is already a table (line %d)", o->line);
                return perr(tp, msg);
            }
        }
    }
    return RC_OK;
}

static int add_item(struct tp *tp, struct toml_item *it)
{
    if (tp->doc->n >= TOML_MAX_ITEMS)
        return perr(tp, "too many entries");
    int rc = check_new_item(tp, it);
    if (rc != RC_OK)
        return rc;
    if (tp->doc->n == tp->doc->cap) {
        tp->doc->cap = tp->doc->cap ? tp->doc->cap * 2 : 32;
        tp->doc->items = xrealloc(tp->doc->items, tp->doc->cap * sizeof(*tp->doc->items));
    }
    tp->doc->items[tp->doc->n++] = *it;
    return RC_OK;
}

/* --- document ---------------------------------------------------------------- */

static int parse_header(struct tp *tp)
{
    if (peek_at(tp, 1) == '[')
        return perr(tp, "arrays of tables ([[...]]) are not supported");
    int line = tp->line;
    tp->pos++;
    char *path = NULL;
    int rc = parse_key(tp, &path);
    if (rc != RC_OK)
        return rc;
    skip_ws(tp);
    if (peek(tp) != ']') {
        xfree(path);
        return perr(tp, "expected ']' to close the table header");
    }
    tp->pos++;
    rc = expect_eol(tp, "table header");
    if (rc != RC_OK) {
        xfree(path);
        return rc;
    }
    struct toml_item it = {.is_table = true, .path = path, .line = line};
    int save = tp->line;
    tp->line = line;
    rc = add_item(tp, &it);
    tp->line = save;
    if (rc != RC_OK) {
        xfree(path);
        return rc;
    }
    xfree(tp->table);
    tp->table = xstrdup(path);
    return RC_OK;
}

static int parse_keyval(struct tp *tp)
{
    int line = tp->line;
    char *rel = NULL;
    char *path = NULL;
    struct toml_item it = {0};
    int rc = parse_key(tp, &rel);
    if (rc != RC_OK)
        goto out;
    if (tp->table[0]) {
        size_t n = strlen(tp->table) + 1 + strlen(rel) + 1;
        path = xmalloc(n);
        snprintf(path, n, "%s.%s", tp->table, rel);
    } else {
        path = xstrdup(rel);
    }
    tp->key = path;
    skip_ws(tp);
    if (peek(tp) != '=') {
        rc = perr(tp, "expected '=' after the key");
        goto out;
    }
    tp->pos++;
    skip_ws(tp);
    it.is_table = false;
    it.path = path;
    it.line = line;
    rc = parse_value(tp, &it.val, false);
    if (rc != RC_OK)
        goto out;
    rc = expect_eol(tp, "the value");
    if (rc != RC_OK)
        goto out;
    int save = tp->line;
    tp->line = line;
    rc = add_item(tp, &it);
    tp->line = save;
    if (rc == RC_OK)
        path = NULL; /* owned by the doc now */
out:
    if (rc != RC_OK)
        val_free(&it.val);
    tp->key = NULL;
    xfree(rel);
    xfree(path);
    return rc;
}

int config__toml_parse(const char *text, size_t len, const char *file, struct toml_doc *doc,
                       struct errbuf *eb)
{
    struct tp tp = {.s = text, .len = len, .line = 1, .file = file, .eb = eb, .doc = doc};
    tp.table = xstrdup("");
    int rc = RC_OK;
    /* A UTF-8 byte order mark is allowed at the very start. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        tp.pos = 3;
    while (!at_end(&tp)) {
        skip_ws(&tp);
        skip_comment(&tp);
        if (at_end(&tp))
            break;
        int r = eat_newline(&tp);
        if (r < 0) {
            rc = perr(&tp, "bare carriage return");
            break;
        }
        if (r > 0)
            continue;
        rc = peek(&tp) == '[' ? parse_header(&tp) : parse_keyval(&tp);
        if (rc != RC_OK)
            break;
    }
    xfree(tp.table);
    return rc;
}

void config__toml_free(struct toml_doc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->n; i++) {
        xfree(doc->items[i].path);
        val_free(&doc->items[i].val);
    }
    xfree(doc->items);
    doc->items = NULL;
    doc->n = doc->cap = 0;
}
