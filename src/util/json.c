/*
 * util/json.c — strict recursive-descent JSON parser into an arena DOM.
 *
 * Owns: one arena per document (a list of blocks). The root node sits inside
 * a `struct json_doc` at the start of the first block, so json_free can find
 * the arena from the root alone. Children of arrays and objects are gathered
 * on a scratch stack (heap, shared by all depths) while their container is
 * parsed and copied into the arena, exactly sized, when it closes; so a
 * document costs O(input) memory and no per-node malloc.
 *
 * Threads: any; no shared state. Recursion depth is bounded by
 * JSON_MAX_DEPTH, so hostile input cannot exhaust the stack.
 *
 * Memory bound: each value needs at least one input byte, so the arena holds
 * at most ~(sizeof node + sizeof member) bytes per input byte; callers bound
 * the input length (request-body limits).
 */
#include "util/json.h"

#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

struct json_member {
    const char *key; /* NUL-terminated, in the arena */
    size_t key_len;
    struct json_value *val; /* arrays use only val */
};

struct json_value {
    enum json_type type;
    union {
        bool b;
        struct {
            double d;
            int64_t i;
            bool is_int; /* written as an integer that fits int64 */
        } num;
        struct {
            const char *s; /* NUL-terminated, in the arena */
            size_t len;
        } str;
        struct {
            struct json_value **items;
            size_t n;
        } arr;
        struct {
            struct json_member *members;
            size_t n;
        } obj;
    } u;
};

/* Arena block: header followed by data. */
struct arena_block {
    struct arena_block *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

#define DOC_MAGIC 0x4a534f4eu /* "JSON" */

struct json_doc {
    unsigned magic;
    struct arena_block *blocks; /* newest first; the doc lives in the last one */
    struct json_value root;
};

struct parser {
    const char *p; /* input */
    size_t len;
    size_t pos;
    int depth;
    struct json_doc *doc;
    struct json_member *stack; /* scratch children, see file comment */
    size_t stack_len;
    size_t stack_cap;
    struct errbuf *eb;
    bool failed;
};

/* --- arena ----------------------------------------------------------------- */

#define ARENA_MIN_BLOCK 8192

static struct arena_block *block_new(size_t need)
{
    size_t cap = need > ARENA_MIN_BLOCK ? need : ARENA_MIN_BLOCK;
    struct arena_block *b = xmalloc(sizeof(*b) + cap);
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

static void *arena_alloc(struct json_doc *doc, size_t n)
{
    const size_t align = alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    struct arena_block *b = doc->blocks;
    if (b->cap - b->used < n) {
        /* Grow geometrically so big documents need few blocks. */
        size_t want = b->cap * 2 > n ? b->cap * 2 : n;
        if (want > (size_t)64 << 20 && n <= (size_t)64 << 20)
            want = (size_t)64 << 20;
        struct arena_block *nb = block_new(want);
        nb->next = b;
        doc->blocks = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static struct json_doc *doc_new(void)
{
    struct arena_block *b = block_new(ARENA_MIN_BLOCK);
    struct json_doc *doc = (struct json_doc *)(void *)b->data;
    b->used = (sizeof(*doc) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    doc->magic = DOC_MAGIC;
    doc->blocks = b;
    memset(&doc->root, 0, sizeof(doc->root));
    return doc;
}

static void doc_free(struct json_doc *doc)
{
    struct arena_block *b = doc->blocks;
    doc->magic = 0;
    while (b) {
        struct arena_block *next = b->next;
        xfree(b); /* the last block holds doc itself: freed last */
        b = next;
    }
}

/* --- errors ---------------------------------------------------------------- */

static int fail(struct parser *ps, size_t at, const char *what)
{
    if (!ps->failed) {
        ps->failed = true;
        errbuf_set(ps->eb, RC_PARSE, "invalid JSON at byte %zu: %s", at, what);
    }
    return RC_PARSE;
}

/* --- lexing helpers ------------------------------------------------------- */

static void skip_ws(struct parser *ps)
{
    while (ps->pos < ps->len) {
        char c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        ps->pos++;
    }
}

static bool match_word(struct parser *ps, const char *w)
{
    size_t n = strlen(w);
    if (ps->len - ps->pos < n || memcmp(ps->p + ps->pos, w, n) != 0)
        return false;
    ps->pos += n;
    return true;
}

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

/* Reads 4 hex digits at pos; -1 if malformed. */
static long read_hex4(const struct parser *ps, size_t pos)
{
    if (ps->len - pos < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(ps->p[pos + i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t utf8_put(unsigned char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid
 * (overlong forms, UTF-16 surrogates and code points above U+10FFFF are
 * invalid). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* --- values ---------------------------------------------------------------- */

static int parse_value(struct parser *ps, struct json_value *out);

/* Parses a string at pos (which is at the opening quote). The decoded text
 * never exceeds the raw text, so one arena allocation of the raw length is
 * enough. */
static int parse_string(struct parser *ps, const char **out_s, size_t *out_len)
{
    size_t start = ps->pos + 1;
    /* First pass: find the closing quote (escapes skipped) for the size. */
    size_t end = start;
    while (end < ps->len && ps->p[end] != '"') {
        if (ps->p[end] == '\\')
            end++;
        end++;
    }
    if (end >= ps->len)
        return fail(ps, ps->pos, "unterminated string");
    unsigned char *buf = arena_alloc(ps->doc, end - start + 1);
    size_t o = 0;
    size_t i = start;
    while (i < end) {
        unsigned char c = (unsigned char)ps->p[i];
        if (c < 0x20)
            return fail(ps, i, "unescaped control character in string");
        if (c == '\\') {
            char e = ps->p[i + 1];
            switch (e) {
            case '"':
                buf[o++] = '"';
                i += 2;
                continue;
            case '\\':
                buf[o++] = '\\';
                i += 2;
                continue;
            case '/':
                buf[o++] = '/';
                i += 2;
                continue;
            case 'b':
                buf[o++] = '\b';
                i += 2;
                continue;
            case 'f':
                buf[o++] = '\f';
                i += 2;
                continue;
            case 'n':
                buf[o++] = '\n';
                i += 2;
                continue;
            case 'r':
                buf[o++] = '\r';
                i += 2;
                continue;
            case 't':
                buf[o++] = '\t';
                i += 2;
                continue;
            case 'u': break;
            default: return fail(ps, i, "invalid escape sequence in string");
            }
            long cp = read_hex4(ps, i + 2);
            if (cp < 0 || i + 6 > end)
                return fail(ps, i, "invalid \\u escape (need 4 hex digits)");
            i += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(ps, i - 6, "unpaired low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                long lo = -1;
                if (i + 6 <= end && ps->p[i] == '\\' && ps->p[i + 1] == 'u')
                    lo = read_hex4(ps, i + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(ps, i - 6, "unpaired high surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            o += utf8_put(buf + o, (unsigned long)cp);
            continue;
        }
        size_t n = utf8_seq_len((const unsigned char *)ps->p + i, end - i);
        if (n == 0)
            return fail(ps, i, "invalid UTF-8 in string");
        memcpy(buf + o, ps->p + i, n);
        o += n;
        i += n;
    }
    buf[o] = '\0';
    ps->pos = end + 1;
    *out_s = (const char *)buf;
    *out_len = o;
    return RC_OK;
}

static int parse_number(struct parser *ps, struct json_value *out)
{
    size_t start = ps->pos;
    size_t i = start;
    bool integral = true;
    if (i < ps->len && ps->p[i] == '-')
        i++;
    if (i >= ps->len || ps->p[i] < '0' || ps->p[i] > '9')
        return fail(ps, start, "invalid number");
    if (ps->p[i] == '0') {
        i++;
        if (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            return fail(ps, start, "leading zeros are not allowed in numbers");
    } else {
        while (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            i++;
    }
    if (i < ps->len && ps->p[i] == '.') {
        integral = false;
        i++;
        if (i >= ps->len || ps->p[i] < '0' || ps->p[i] > '9')
            return fail(ps, i, "expected digit after decimal point");
        while (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            i++;
    }
    if (i < ps->len && (ps->p[i] == 'e' || ps->p[i] == 'E')) {
        integral = false;
        i++;
        if (i < ps->len && (ps->p[i] == '+' || ps->p[i] == '-'))
            i++;
        if (i >= ps->len || ps->p[i] < '0' || ps->p[i] > '9')
            return fail(ps, i, "expected digit in exponent");
        while (i < ps->len && ps->p[i] >= '0' && ps->p[i] <= '9')
            i++;
    }
    size_t n = i - start;

    out->type = JSON_NUMBER;
    out->u.num.is_int = false;
    out->u.num.i = 0;
    if (integral) {
        /* Exact int64 parse with overflow detection; accumulate negatively so
         * INT64_MIN fits. */
        bool neg = ps->p[start] == '-';
        int64_t v = 0;
        bool fits = true;
        for (size_t k = start + (neg ? 1 : 0); k < i; k++) {
            int d = ps->p[k] - '0';
            if (v < (INT64_MIN + d) / 10) {
                fits = false;
                break;
            }
            v = v * 10 - d;
        }
        if (fits && !neg && v == INT64_MIN)
            fits = false;
        if (fits) {
            out->u.num.is_int = true;
            out->u.num.i = neg ? v : -v;
        }
    }

    /* strtod needs a NUL-terminated copy; numbers are short except in
     * hostile input, which gets a heap copy. */
    char small[64];
    char *tmp = n < sizeof(small) ? small : xmalloc(n + 1);
    memcpy(tmp, ps->p + start, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    if (tmp != small)
        xfree(tmp);
    if (isinf(d))
        return fail(ps, start, "number out of range");
    out->u.num.d = d;
    ps->pos = i;
    return RC_OK;
}

static void stack_push(struct parser *ps, const char *key, size_t key_len, struct json_value *val)
{
    if (ps->stack_len == ps->stack_cap) {
        ps->stack_cap = ps->stack_cap ? ps->stack_cap * 2 : 64;
        ps->stack = xrealloc(ps->stack, ps->stack_cap * sizeof(*ps->stack));
    }
    ps->stack[ps->stack_len++] = (struct json_member){key, key_len, val};
}

static int parse_array(struct parser *ps, struct json_value *out)
{
    size_t base = ps->stack_len;
    ps->pos++; /* '[' */
    skip_ws(ps);
    if (ps->pos < ps->len && ps->p[ps->pos] == ']') {
        ps->pos++;
    } else {
        for (;;) {
            struct json_value *v = arena_alloc(ps->doc, sizeof(*v));
            if (parse_value(ps, v) != RC_OK)
                return RC_PARSE;
            stack_push(ps, NULL, 0, v);
            skip_ws(ps);
            if (ps->pos >= ps->len)
                return fail(ps, ps->pos, "unterminated array");
            char c = ps->p[ps->pos];
            if (c == ',') {
                ps->pos++;
                skip_ws(ps);
                if (ps->pos < ps->len && ps->p[ps->pos] == ']')
                    return fail(ps, ps->pos, "trailing comma in array");
                continue;
            }
            if (c == ']') {
                ps->pos++;
                break;
            }
            return fail(ps, ps->pos, "expected ',' or ']' in array");
        }
    }
    size_t n = ps->stack_len - base;
    out->type = JSON_ARRAY;
    out->u.arr.n = n;
    out->u.arr.items = n ? arena_alloc(ps->doc, n * sizeof(struct json_value *)) : NULL;
    for (size_t k = 0; k < n; k++)
        out->u.arr.items[k] = ps->stack[base + k].val;
    ps->stack_len = base;
    return RC_OK;
}

static int parse_object(struct parser *ps, struct json_value *out)
{
    size_t base = ps->stack_len;
    ps->pos++; /* '{' */
    skip_ws(ps);
    if (ps->pos < ps->len && ps->p[ps->pos] == '}') {
        ps->pos++;
    } else {
        for (;;) {
            if (ps->pos >= ps->len)
                return fail(ps, ps->pos, "unterminated object");
            if (ps->p[ps->pos] != '"')
                return fail(ps, ps->pos, "expected string key in object");
            const char *key;
            size_t key_len;
            if (parse_string(ps, &key, &key_len) != RC_OK)
                return RC_PARSE;
            skip_ws(ps);
            if (ps->pos >= ps->len || ps->p[ps->pos] != ':')
                return fail(ps, ps->pos, "expected ':' after object key");
            ps->pos++;
            struct json_value *v = arena_alloc(ps->doc, sizeof(*v));
            if (parse_value(ps, v) != RC_OK)
                return RC_PARSE;
            stack_push(ps, key, key_len, v);
            skip_ws(ps);
            if (ps->pos >= ps->len)
                return fail(ps, ps->pos, "unterminated object");
            char c = ps->p[ps->pos];
            if (c == ',') {
                ps->pos++;
                skip_ws(ps);
                if (ps->pos < ps->len && ps->p[ps->pos] == '}')
                    return fail(ps, ps->pos, "trailing comma in object");
                continue;
            }
            if (c == '}') {
                ps->pos++;
                break;
            }
            return fail(ps, ps->pos, "expected ',' or '}' in object");
        }
    }
    size_t n = ps->stack_len - base;
    out->type = JSON_OBJECT;
    out->u.obj.n = n;
    out->u.obj.members = n ? arena_alloc(ps->doc, n * sizeof(struct json_member)) : NULL;
    if (n)
        memcpy(out->u.obj.members, ps->stack + base, n * sizeof(struct json_member));
    ps->stack_len = base;
    return RC_OK;
}

static int parse_value(struct parser *ps, struct json_value *out)
{
    memset(out, 0, sizeof(*out));
    skip_ws(ps);
    if (ps->pos >= ps->len)
        return fail(ps, ps->pos, "unexpected end of input, expected a value");
    char c = ps->p[ps->pos];
    int rc;
    switch (c) {
    case '{':
    case '[':
        if (ps->depth >= JSON_MAX_DEPTH)
            return fail(ps, ps->pos, "nesting deeper than 64 levels");
        ps->depth++;
        rc = c == '{' ? parse_object(ps, out) : parse_array(ps, out);
        ps->depth--;
        return rc;
    case '"': out->type = JSON_STRING; return parse_string(ps, &out->u.str.s, &out->u.str.len);
    case 't':
        if (!match_word(ps, "true"))
            break;
        out->type = JSON_BOOL;
        out->u.b = true;
        return RC_OK;
    case 'f':
        if (!match_word(ps, "false"))
            break;
        out->type = JSON_BOOL;
        out->u.b = false;
        return RC_OK;
    case 'n':
        if (!match_word(ps, "null"))
            break;
        out->type = JSON_NULL;
        return RC_OK;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(ps, out);
        break;
    }
    return fail(ps, ps->pos, "unexpected character, expected a value");
}

int json_parse(const char *text, size_t len, struct json_value **out, struct errbuf *eb)
{
    int rc = RC_OK;
    *out = NULL;
    struct parser ps = {.p = text, .len = len, .eb = eb};
    if (!text && len)
        return errbuf_set(eb, RC_PARSE, "invalid JSON at byte 0: no input");
    ps.doc = doc_new();
    rc = parse_value(&ps, &ps.doc->root);
    if (rc != RC_OK)
        goto out;
    skip_ws(&ps);
    if (ps.pos != ps.len) {
        rc = fail(&ps, ps.pos, "trailing characters after the document");
        goto out;
    }
    *out = &ps.doc->root;
out:
    xfree(ps.stack);
    if (rc != RC_OK)
        doc_free(ps.doc);
    return rc;
}

void json_free(struct json_value **root)
{
    if (!root || !*root)
        return;
    struct json_doc *doc =
        (struct json_doc *)(void *)((char *)*root - offsetof(struct json_doc, root));
    if (doc->magic == DOC_MAGIC)
        doc_free(doc);
    *root = NULL;
}

/* --- accessors ------------------------------------------------------------- */

enum json_type json_type(const struct json_value *v)
{
    return v ? v->type : JSON_NULL;
}

const char *json_type_name(enum json_type t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "boolean";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "unknown";
}

bool json_is_null(const struct json_value *v)
{
    return v && v->type == JSON_NULL;
}

const char *json_as_str(const struct json_value *v, size_t *len)
{
    if (!v || v->type != JSON_STRING)
        return NULL;
    if (len)
        *len = v->u.str.len;
    return v->u.str.s;
}

bool json_as_i64(const struct json_value *v, int64_t *out)
{
    if (!v || v->type != JSON_NUMBER || !v->u.num.is_int)
        return false;
    *out = v->u.num.i;
    return true;
}

bool json_as_f64(const struct json_value *v, double *out)
{
    if (!v || v->type != JSON_NUMBER)
        return false;
    *out = v->u.num.d;
    return true;
}

bool json_as_bool(const struct json_value *v, bool *out)
{
    if (!v || v->type != JSON_BOOL)
        return false;
    *out = v->u.b;
    return true;
}

size_t json_arr_len(const struct json_value *v)
{
    return v && v->type == JSON_ARRAY ? v->u.arr.n : 0;
}

const struct json_value *json_arr_at(const struct json_value *v, size_t i)
{
    if (!v || v->type != JSON_ARRAY || i >= v->u.arr.n)
        return NULL;
    return v->u.arr.items[i];
}

const struct json_value *json_obj_getn(const struct json_value *v, const char *key, size_t key_len)
{
    if (!v || v->type != JSON_OBJECT || !key)
        return NULL;
    /* Backwards so that the last duplicate wins. */
    for (size_t k = v->u.obj.n; k-- > 0;) {
        const struct json_member *m = &v->u.obj.members[k];
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
            return m->val;
    }
    return NULL;
}

const struct json_value *json_obj_get(const struct json_value *v, const char *key)
{
    return key ? json_obj_getn(v, key, strlen(key)) : NULL;
}

size_t json_obj_len(const struct json_value *v)
{
    return v && v->type == JSON_OBJECT ? v->u.obj.n : 0;
}

const char *json_obj_key_at(const struct json_value *v, size_t i, size_t *len)
{
    if (!v || v->type != JSON_OBJECT || i >= v->u.obj.n)
        return NULL;
    if (len)
        *len = v->u.obj.members[i].key_len;
    return v->u.obj.members[i].key;
}

const struct json_value *json_obj_val_at(const struct json_value *v, size_t i)
{
    if (!v || v->type != JSON_OBJECT || i >= v->u.obj.n)
        return NULL;
    return v->u.obj.members[i].val;
}
