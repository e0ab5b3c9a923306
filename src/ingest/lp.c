/*
 * ingest/lp.c — InfluxDB line-protocol decoder (see lp.h; SPEC §1.3, §2).
 *
 * Owns nothing beyond one call: every lp_parse builds its own parser state,
 * scratch buffers and hash tables, hands the sealed batches to the caller and
 * frees the rest. Called from HTTP request threads; no global state.
 *
 * DESIGN
 *
 * One pass over the body, record by record:
 *
 *   find the '\n' of the physical line (memchr), trim blanks/CR, skip blank
 *   and '#' lines, reject a line longer than max_line_bytes at once
 *        │
 *   parse_record: measurement, tags, fields, timestamp into per-line arrays
 *   of spans pointing into the body (no copy, no allocation). A string field
 *   may run over '\n': the record then grows line by line (§2.1).
 *        │
 *   materialize: only spans that contain escapes or non-ASCII bytes are
 *   rewritten into one scratch buffer, reserved once per record (so pointers
 *   stay valid): unescaping, U+FFFD for invalid UTF-8 in values; names with
 *   invalid UTF-8, over 255 bytes or equal to "time" reject the line.
 *        │
 *   resolve: duplicate keys (last wins), field key == tag key → "<key>_value".
 *        │
 *   apply: type checks against the measurement's batch, then the schema
 *   checker. Nothing has been written yet, so a rejected line leaves nothing
 *   behind. Then: batch per measurement, series id for the sorted tag set, row for
 *   (series, timestamp) — an existing row is merged into (§1.5) — columns
 *   created, values set.
 *
 * Invariants: a record is either accepted (all its values written) or
 * rejected (nothing written); lines_received == accepted + rejected; every
 * batch in the result has at least one row.
 *
 * Linear time: each physical line is searched for '\n' once, except after a
 * record rejected for an unterminated string, where parsing resumes at the
 * line after its first line (§2.1) and the lines it covered are parsed again.
 * Those re-parsed records cannot open a string inside the unterminated one
 * (an opening quote follows '=', so the first scan would have taken it as
 * the closing quote), so string scans do not repeat; as a guard the last
 * unterminated scan and the last newline search of a growing record are
 * memoised (find_string_end, parse_value) so no byte range is scanned again
 * and again whatever the input.
 *
 * Hash tables (measurements, series, rows) are open-addressing with a
 * per-call random seed, sized to stay under half full, so every line costs
 * O(1) expected.
 *
 * FAST PATH (fast_record, tried first for every record)
 *
 * Wide lines of a few thousand series (TSBS, Telegraf) repeat the same
 * `measurement,tags` bytes and the same field keys line after line; the
 * full parse above spends most of its time re-deriving what those bytes
 * already meant. So, per call:
 *
 *   - tag sections: the raw bytes before the first space not preceded by a
 *     backslash, of an accepted line whose series already has a row → that
 *     series (secs). Such bytes parse the same wherever they appear, so a
 *     byte-identical section means the same measurement, validated and
 *     unescaped tags, duplicates dropped, sorted: the same series;
 *   - trefs: a series' tag columns and the heap spans its first row stored
 *     its values in; later rows point at the same bytes (no copy);
 *   - layouts: the field keys of an accepted line in order, when plain (no
 *     backslash, no duplicate, no rename), with their columns. A series
 *     follows the layout of its last line, or borrows its measurement's
 *     last layout when none of its tag keys is a key of it.
 *
 * fast_record looks the section up, matches each `key=` of the layout in
 * turn (word compares), parses the values (common number forms inline,
 * the rest through parse_value) and the timestamp, checks each value's
 * type against its existing column, then writes. Any difference — unknown
 * section, other keys or order, a type mismatch, any syntax error — and it
 * returns REC_MISS having written nothing, and the full parse runs, so
 * every rule and every error message is the full parse's own. It never
 * creates a column, so the schema checker sees exactly the same calls.
 */
#include "ingest/lp.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* --- small helpers ------------------------------------------------------- */

/* Byte span of one token. Before materialize it points into the body; after,
 * possibly into the scratch buffer. */
struct span {
    const char *p;
    uint32_t len;
    bool esc;      /* contains an escape sequence that must be removed */
    bool nonascii; /* contains a byte >= 0x80 (UTF-8 must be checked) */
};

struct ptag {
    struct span k, v;
    bool dead; /* overridden by a later duplicate key */
    int col;   /* column index in the batch, -1 = create */
};

enum fval { FV_FLOAT, FV_INT, FV_UINT, FV_STR, FV_BOOL };

struct pfield {
    struct span k;       /* final column name after resolve (may be "<key>_value") */
    struct span s;       /* FV_STR value */
    const char *raw_key; /* key as written, for messages */
    uint32_t raw_key_len;
    enum fval type;
    union {
        double f;
        int64_t i;
        uint64_t u;
        bool b;
    } v;
    bool dead;
    bool renamed; /* k is "<raw_key>_value" */
    int col;
};

/* Open-addressing set of names for one line, cleared in O(1) by bumping the
 * stamp. Used only for lines with many keys; short lines compare directly. */
struct kent {
    const char *p;
    uint32_t len;
    uint32_t idx;   /* tag or field index */
    uint32_t stamp; /* entry is live iff stamp == keyset.stamp */
};

struct keyset {
    struct kent *e;
    size_t cap;
    uint32_t stamp;
};

/* Column cache: the column a key at position i of the previous line of
 * the same measurement resolved to. Lines of one measurement usually have
 * the same keys in the same order, so one memcmp replaces a hash lookup. */
#define COL_CACHE 64

#define IDX_NONE UINT32_MAX /* no layout / no trefs yet */

struct bent { /* one measurement of the request */
    struct batch *b;
    uint32_t mlen;
    uint64_t hash;
    uint32_t *row_sid; /* series id of every row of b (for the row table) */
    size_t row_sid_cap;
    int col_cache[COL_CACHE]; /* -1 = unknown */
    uint32_t last_layout;     /* layout of the last line written, IDX_NONE = none */
};

struct series {
    uint64_t hash;
    uint32_t off, len; /* canonical key in sarena */
    uint32_t bidx;
    uint32_t last_row; /* row holding the newest timestamp, UINT32_MAX = none */
    int64_t last_ts_us;
    uint32_t tref_off, ntref; /* its tags in P->trefs; ntref IDX_NONE = none yet */
    uint32_t layout;          /* field layout its lines follow (a guess), IDX_NONE = none */
};

/* One tag of a series as stored in its batch: the column and the value's
 * bytes, already in the batch heap. Every row of the series points at the
 * same bytes instead of copying them again. */
struct tref {
    int col;
    struct bstr v;
};

/* Raw tag section (`measurement,tags`, the bytes before the first unescaped
 * space) of an accepted line → its series. The bytes stay in the body. */
struct secent {
    uint64_t hash;
    const char *p; /* NULL = empty slot */
    uint32_t len;
    uint32_t sid;
};

/* Field layout: the field keys of an accepted line, in order, with their
 * columns. Keys are plain (no backslash) and point into the body. */
struct lfield {
    const char *k;
    uint32_t klen;
    int col;
    uint32_t nw;   /* words of `key=` in w, 0 = compare with memcmp */
    uint64_t mask; /* bytes of the last word that belong to `key=` */
    uint64_t w[3]; /* `key=` for keys of up to 23 bytes, zero-padded */
};

struct layout {
    uint32_t off, n; /* fields in P->lfields */
    uint32_t bidx;
};

struct rowent {
    int64_t ts_us;
    uint32_t sid; /* UINT32_MAX = empty slot */
    uint32_t row;
};

/* Growable byte buffer (request-scoped scratch). */
struct gbuf {
    char *p;
    size_t len, cap;
};

struct lp_parser {
    const struct lp_options *o;
    const char *body, *end;
    uint64_t seed;

    /* Current record. */
    const char *rec;     /* first byte (after leading blanks) */
    const char *nl;      /* '\n' ending the record's last physical line, or end */
    const char *lim;     /* end of that line after trimming blanks/CR */
    const char *bound;   /* a string must close before this (max_line_bytes) */
    bool multi;          /* spans more than one physical line */
    const char *sec_end; /* end of `measurement,tags` (parse_record) */
    struct span meas;
    struct ptag *tags;
    size_t ntags, tags_cap;
    struct pfield *fields;
    size_t nfields, fields_cap;
    int64_t ts_us;
    char reason[LP_REASON_MAX];

    /* Memo of the last unterminated string scan: no closing quote at any
     * token boundary of the scan that started at memo_from and stopped at
     * memo_to (itself a boundary). See find_string_end. */
    const char *memo_from, *memo_to;
    /* Memo of the last newline search when a record grows past a line: no
     * '\n' in [nl_memo_from, nl_memo_at), which is a '\n' or the end. */
    const char *nl_memo_from, *nl_memo_at;

    struct gbuf scratch; /* materialized names/values of the current record */
    struct gbuf num;     /* NUL-terminated copy of a number for strtod */
    struct gbuf ckey;    /* canonical series key of the current record */
    struct keyset ks_tags, ks_fields;

    /* Measurements → batches. */
    struct bent *bents;
    size_t nbents, bents_cap;
    uint32_t *bidx_tab; /* slots hold bent index + 1, 0 = empty */
    size_t bidx_cap;
    size_t last_bent; /* cache: consecutive lines usually share it */

    /* Series (measurement + tag set) → id. */
    struct series *series;
    size_t nseries, series_cap;
    uint32_t *sid_tab; /* slots hold sid + 1, 0 = empty */
    size_t sid_cap;
    struct gbuf sarena;
    struct tref *trefs; /* tags of every written series */
    size_t ntrefs, trefs_cap;

    /* Fast path (fast_record): raw tag section → series, and the field
     * layouts lines follow. */
    struct secent *secs;
    size_t nsecs, secs_cap;
    struct layout *layouts;
    size_t nlayouts, layouts_cap;
    struct lfield *lfields;
    size_t nlfields, lfields_cap;
    const char *sec_hash_p; /* hash of the section fast_record looked up */
    uint32_t sec_hash_len;
    uint64_t sec_hash;

    /* (series, timestamp) → row, for the merge rule. Built only once some
     * series goes back in time: while every series only moves forward, its
     * last row is all the merge rule needs (see find_row). */
    bool row_table;
    struct rowent *rows;
    size_t nrowents, rows_cap;

    struct lp_result *res;
    size_t errors_cap;
    int fatal_rc; /* code of a failed schema check (REC_FATAL) */
};

enum { REC_OK = 0, REC_ERR, REC_ERR_FIRSTLINE, REC_FATAL };

static void gbuf_reserve(struct gbuf *g, size_t extra)
{
    if (g->len + extra <= g->cap)
        return;
    size_t ncap = g->cap ? g->cap : 256;
    while (ncap < g->len + extra)
        ncap *= 2;
    g->p = xrealloc(g->p, ncap);
    g->cap = ncap;
}

static void gbuf_put(struct gbuf *g, const void *p, size_t n)
{
    gbuf_reserve(g, n);
    if (n)
        memcpy(g->p + g->len, p, n);
    g->len += n;
}

static void gbuf_free(struct gbuf *g)
{
    xfree(g->p);
    memset(g, 0, sizeof(*g));
}

static bool span_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static const char *find_nl(const char *p, const char *end)
{
    const char *q = memchr(p, '\n', (size_t)(end - p));
    return q ? q : end;
}

/* End of a line's content: trailing spaces, tabs and CR removed. */
static const char *rtrim(const char *lo, const char *hi)
{
    while (hi > lo && (hi[-1] == ' ' || hi[-1] == '\t' || hi[-1] == '\r'))
        hi--;
    return hi;
}

/* Largest n' <= n that does not cut a UTF-8 sequence in half. */
static size_t utf8_cut(const char *s, size_t len, size_t n)
{
    if (n >= len)
        return len;
    size_t k = n;
    /* Back off over at most 3 continuation bytes. */
    while (k > 0 && n - k < 3 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return ((unsigned char)s[k] & 0xC0) == 0x80 ? n : k;
}

/* Copies at most max bytes of s (UTF-8 safe) into out[max+1]; NUL bytes
 * become spaces so the C string is not cut short. */
static void copy_text(char *out, size_t max, const char *s, size_t len)
{
    size_t n = utf8_cut(s, len, max);
    for (size_t i = 0; i < n; i++)
        out[i] = s[i] ? s[i] : ' ';
    out[n] = '\0';
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid.
 * Rejects overlongs, surrogates and code points above U+10FFFF (the same
 * policy as util/jsonw). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

static bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq_len(u + i, n - i);
        if (!l)
            return false;
        i += l;
    }
    return true;
}

/* Truncated, UTF-8-safe copy of a key for an error message. */
static const char *msg_key(char *buf, size_t cap, const char *s, size_t n)
{
    copy_text(buf, cap - 1, s, n);
    return buf;
}

#define MSG_KEY_MAX 64

/* --- precision ----------------------------------------------------------- */

int lp_precision_parse(const char *s, enum lp_precision *out)
{
    static const struct {
        const char *word;
        enum lp_precision p;
    } words[] = {
        {"ns", LP_NS},       {"n", LP_NS}, {"us", LP_US}, {"u", LP_US},
        {"\xC2\xB5", LP_US}, /* µ MICRO SIGN */
        {"\xCE\xBC", LP_US}, /* μ GREEK SMALL LETTER MU (same glyph) */
        {"ms", LP_MS},       {"s", LP_S},  {"m", LP_M},   {"h", LP_H},
    };
    if (!s || !*s) {
        *out = LP_NS;
        return RC_OK;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(s, words[i].word) == 0) {
            *out = words[i].p;
            return RC_OK;
        }
    }
    return RC_INVALID;
}

/* Timestamp in `prec` → microseconds, range-checked (years 0001..9999). */
static bool ts_to_us(int64_t t, enum lp_precision prec, int64_t *out)
{
    int64_t us;
    switch (prec) {
    case LP_NS:
        /* Floor division: -1 ns is in the microsecond before the epoch. */
        us = t / 1000;
        if (t % 1000 < 0)
            us--;
        break;
    case LP_US: us = t; break;
    case LP_MS:
        if (__builtin_mul_overflow(t, INT64_C(1000), &us))
            return false;
        break;
    case LP_S:
        if (__builtin_mul_overflow(t, INT64_C(1000000), &us))
            return false;
        break;
    case LP_M:
        if (__builtin_mul_overflow(t, INT64_C(60000000), &us))
            return false;
        break;
    case LP_H:
        if (__builtin_mul_overflow(t, INT64_C(3600000000), &us))
            return false;
        break;
    default: return false;
    }
    if (us < TIME_MIN_US || us > TIME_MAX_US)
        return false;
    *out = us;
    return true;
}

/* --- number parsing ------------------------------------------------------ */

enum { NUM_OK = 0, NUM_SYNTAX, NUM_RANGE };

/* `-?digits` (neg allowed) into int64. */
static int parse_int(const char *s, size_t n, bool allow_neg, int64_t *out)
{
    const char *p = s, *e = s + n;
    bool neg = false;
    if (p < e && *p == '-') {
        if (!allow_neg)
            return NUM_SYNTAX;
        neg = true;
        p++;
    }
    if (p == e)
        return NUM_SYNTAX;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    bool over = false;
    for (; p < e; p++) {
        unsigned d = (unsigned char)*p - '0';
        if (d > 9)
            return NUM_SYNTAX;
        if (!over) {
            if (v > (limit - d) / 10)
                over = true;
            else
                v = v * 10 + d;
        }
    }
    if (over)
        return NUM_RANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NUM_OK;
}

static int parse_uint(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return NUM_SYNTAX;
    uint64_t v = 0;
    bool over = false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return NUM_SYNTAX;
        if (!over) {
            if (v > (UINT64_MAX - d) / 10)
                over = true;
            else
                v = v * 10 + d;
        }
    }
    if (over)
        return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Float grammar of SPEC §2.3:
 *   -? ( digits [. digits] | . digits ) [ (e|E) [+|-] digits ]
 * Small values take Clinger's exact fast path (mantissa <= 2^53, |exp| <=
 * 22: one correctly rounded multiply or divide); the rest go to strtod on a
 * NUL-terminated copy. Overflow to infinity is NUM_RANGE. */
static int parse_float(struct lp_parser *P, const char *s, size_t n, double *out)
{
    const char *p = s, *e = s + n;
    bool neg = false;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    uint64_t mant = 0;
    bool exact = true;
    int exp10 = 0;
    const char *ip = p;
    for (; p < e && (unsigned)(*p - '0') <= 9; p++) {
        if (mant < UINT64_C(1000000000000000000))
            mant = mant * 10 + (unsigned)(*p - '0');
        else {
            exact = false;
            exp10++;
        }
    }
    size_t nint = (size_t)(p - ip), nfrac = 0;
    if (p < e && *p == '.') {
        const char *fp = ++p;
        for (; p < e && (unsigned)(*p - '0') <= 9; p++) {
            if (mant < UINT64_C(1000000000000000000)) {
                mant = mant * 10 + (unsigned)(*p - '0');
                exp10--;
            } else {
                exact = false;
            }
        }
        nfrac = (size_t)(p - fp);
        if (nfrac == 0)
            return NUM_SYNTAX; /* "1." */
    }
    if (nint == 0 && nfrac == 0)
        return NUM_SYNTAX;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        const char *ep = p;
        long ev = 0;
        for (; p < e && (unsigned)(*p - '0') <= 9; p++)
            if (ev < 100000)
                ev = ev * 10 + (*p - '0');
        if (p == ep)
            return NUM_SYNTAX;
        exp10 += (int)(eneg ? -ev : ev);
    }
    if (p != e)
        return NUM_SYNTAX;

    double d;
    if (exact && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        d = (double)mant;
        d = exp10 < 0 ? d / pow10_tab[-exp10] : d * pow10_tab[exp10];
        if (neg)
            d = -d;
    } else {
        P->num.len = 0;
        gbuf_put(&P->num, s, n);
        gbuf_put(&P->num, "", 1);
        d = strtod(P->num.p, NULL); /* overflow → ±HUGE_VAL, caught below */
    }
    if (isinf(d) || isnan(d))
        return NUM_RANGE;
    *out = d;
    return NUM_OK;
}

/* --- per-line arrays ------------------------------------------------------ */

static struct ptag *push_tag(struct lp_parser *P)
{
    if (P->ntags == P->tags_cap) {
        P->tags_cap = P->tags_cap ? P->tags_cap * 2 : 16;
        P->tags = xrealloc(P->tags, P->tags_cap * sizeof(*P->tags));
    }
    struct ptag *t = &P->tags[P->ntags++];
    memset(t, 0, sizeof(*t));
    t->col = -1;
    return t;
}

static struct pfield *push_field(struct lp_parser *P)
{
    if (P->nfields == P->fields_cap) {
        P->fields_cap = P->fields_cap ? P->fields_cap * 2 : 16;
        P->fields = xrealloc(P->fields, P->fields_cap * sizeof(*P->fields));
    }
    struct pfield *f = &P->fields[P->nfields++];
    memset(f, 0, sizeof(*f));
    f->col = -1;
    return f;
}

static int fail(struct lp_parser *P, const char *fmt, ...) ARC_PRINTF(2, 3);
static int fail(struct lp_parser *P, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->reason, sizeof(P->reason), fmt, ap);
    va_end(ap);
    return REC_ERR;
}

/* --- tokenizer ------------------------------------------------------------ */

/* Character classes per element. stop_cls: bytes that end a token or start
 * an escape; esc_cls: bytes a backslash escapes in that element (SPEC §2.2). */
enum { CL_MEAS = 1, CL_KEY = 2 };
static const uint8_t stop_cls[256] = {
    [','] = CL_MEAS | CL_KEY,
    [' '] = CL_MEAS | CL_KEY,
    ['\\'] = CL_MEAS | CL_KEY,
    ['='] = CL_KEY,
};
static const uint8_t esc_cls[256] = {
    [','] = CL_MEAS | CL_KEY,
    [' '] = CL_MEAS | CL_KEY,
    ['='] = CL_KEY,
};

/* SWAR helpers: which bytes of the 8-byte word v equal c. Only the lowest
 * flagged byte is exact (a borrow may flag bytes above a match), which is
 * all the scanners use. */
#define SWAR_ONES UINT64_C(0x0101010101010101)
#define SWAR_HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t swar_eq(uint64_t v, unsigned char c)
{
    uint64_t x = v ^ (SWAR_ONES * c);
    return (x - SWAR_ONES) & ~x & SWAR_HIGHS;
}

static inline uint64_t load64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LP_LITTLE_ENDIAN 1 /* word tricks below read the first byte as the lowest */
/* Whether the 8 bytes of v (first byte lowest) are all ASCII digits. */
static inline bool eight_digits(uint64_t v)
{
    return (((v & UINT64_C(0xF0F0F0F0F0F0F0F0)) |
             (((v + UINT64_C(0x0606060606060606)) & UINT64_C(0xF0F0F0F0F0F0F0F0)) >> 4)) ==
            UINT64_C(0x3333333333333333));
}

/* The value of 8 ASCII digits (first byte most significant). */
static inline uint64_t eight_digits_value(uint64_t v)
{
    v -= UINT64_C(0x3030303030303030);
    v = (v * 10) + (v >> 8);
    v = (((v & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x000F424000000064)) +
         (((v >> 16) & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x0000271000000001))) >>
        32;
    return v & 0xFFFFFFFF;
}
#endif

/* parse_int(s, n, true, out), quicker for the usual timestamp of at most 19
 * digits (8 at a time); anything else is left to parse_int itself. */
static inline int parse_ts(const char *s, size_t n, int64_t *out)
{
    const char *p = s, *e = s + n;
    bool neg = p < e && *p == '-';
    p += neg;
    size_t nd = (size_t)(e - p);
    if (nd == 0 || nd > 19)
        return parse_int(s, n, true, out);
    uint64_t v = 0; /* at most 19 digits: < 10^19 < 2^64 */
#ifdef LP_LITTLE_ENDIAN
    for (; e - p >= 8; p += 8) {
        uint64_t w = load64(p);
        if (!eight_digits(w))
            return parse_int(s, n, true, out);
        v = v * 100000000 + eight_digits_value(w);
    }
#endif
    for (; p < e; p++) {
        unsigned d = (unsigned char)*p - '0';
        if (d > 9)
            return parse_int(s, n, true, out);
        v = v * 10 + d;
    }
    if (v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
        return NUM_RANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return NUM_OK;
}

/* Scans a measurement (cls CL_MEAS) or a tag key / tag value / field key
 * (CL_KEY) up to the first unescaped delimiter or lim. A backslash followed
 * by an escapable byte is an escape; any other backslash is literal and the
 * byte after it is scanned normally. Words without a special byte are
 * skipped 8 bytes at a time (little-endian: the first byte is the lowest). */
static const char *scan_token(const char *p, const char *lim, int cls, struct span *sp)
{
    const char *start = p;
    bool esc = false;
    unsigned acc = 0;
    uint64_t acc64 = 0;
    while (lim - p >= 8) {
        uint64_t v = load64(p);
        uint64_t m = swar_eq(v, ',') | swar_eq(v, ' ') | swar_eq(v, '\\');
        if (cls & CL_KEY)
            m |= swar_eq(v, '=');
        if (m)
            break;
        acc64 |= v;
        p += 8;
    }
    if (acc64 & SWAR_HIGHS)
        acc = 0x80;
    while (p < lim) {
        unsigned char c = (unsigned char)*p;
        if (!(stop_cls[c] & cls)) {
            acc |= c;
            p++;
            continue;
        }
        if (c != '\\')
            break;
        if (p + 1 < lim && (esc_cls[(unsigned char)p[1]] & cls)) {
            esc = true;
            p += 2;
        } else {
            p++;
        }
    }
    sp->p = start;
    sp->len = (uint32_t)(p - start);
    sp->esc = esc;
    sp->nonascii = (acc & 0x80) != 0;
    return p;
}

/* Finds the closing quote of a string value whose content starts at q0.
 * Escapes \" and \\ are skipped; the scan may cross '\n' (SPEC §2.1) but the
 * quote must come before P->bound. Returns the closing quote or NULL.
 *
 * The memo (a guard, see the top of the file): an unterminated scan from F
 * stopped at T without finding a quote at any token boundary. A later string
 * whose content starts at q0 with F <= q0 <= T starts on such a boundary too
 * (either q0 == F, or the quote at q0-1 lies inside the scanned range, so the
 * earlier scan took it as the second byte of \"), hence a scan from q0 can
 * continue at T. */
static const char *find_string_end(struct lp_parser *P, const char *q0, bool *esc, bool *nonascii)
{
    const char *q = q0, *from = q0;
    bool e = false;
    unsigned acc = 0;
    if (P->memo_to && q0 >= P->memo_from && q0 <= P->memo_to) {
        from = P->memo_from;
        q = P->memo_to;
        e = true; /* skipped bytes unknown: let materialize look */
        acc = 0x80;
    }
    const char *bound = P->bound, *end = P->end;
    while (q < bound) {
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            *esc = e;
            *nonascii = (acc & 0x80) != 0;
            return q;
        }
        if (c == '\\' && q + 1 < end && (q[1] == '"' || q[1] == '\\')) {
            e = true;
            q += 2;
            continue;
        }
        acc |= c;
        q++;
    }
    P->memo_from = from;
    P->memo_to = q;
    return NULL;
}

/* Parses the value of field f at p (after '='); returns the byte after it or
 * NULL with P->reason set. REC_ERR_FIRSTLINE is reported via *st. */
static const char *parse_value(struct lp_parser *P, struct pfield *f, const char *p, int *st)
{
    char kb[MSG_KEY_MAX + 1];
    const char *lim = P->lim;
    if (p < lim && *p == '"') {
        bool esc = false, na = false;
        const char *c = find_string_end(P, p + 1, &esc, &na);
        if (!c) {
            fail(P, "unterminated string value for key \"%s\"%s",
                 msg_key(kb, sizeof(kb), f->raw_key, f->raw_key_len),
                 P->bound < P->end ? " (exceeds max line length)" : "");
            *st = REC_ERR_FIRSTLINE;
            return NULL;
        }
        f->type = FV_STR;
        f->s.p = p + 1;
        f->s.len = (uint32_t)(c - (p + 1));
        f->s.esc = esc;
        f->s.nonascii = na;
        if (c > P->nl) {
            /* The string ran over one or more newlines: the record now ends
             * with the line that holds the closing quote. */
            P->multi = true;
            if (P->nl_memo_at && c + 1 >= P->nl_memo_from && c + 1 <= P->nl_memo_at) {
                P->nl = P->nl_memo_at;
            } else {
                P->nl = find_nl(c + 1, P->end);
                P->nl_memo_from = c + 1;
                P->nl_memo_at = P->nl;
            }
            P->lim = rtrim(c + 1, P->nl);
            if (P->o->max_line_bytes && (size_t)(P->lim - P->rec) > P->o->max_line_bytes) {
                fail(P, "line too long (max %zu bytes)", P->o->max_line_bytes);
                *st = REC_ERR;
                return NULL;
            }
        }
        return c + 1;
    }

    const char *v = p;
    while (lim - p >= 8) {
        uint64_t w = load64(p);
        if (swar_eq(w, ',') | swar_eq(w, ' '))
            break;
        p += 8;
    }
    while (p < lim && *p != ',' && *p != ' ')
        p++;
    size_t n = (size_t)(p - v);
    /* The key is copied for a message only when there is one. */
#define KEY msg_key(kb, sizeof(kb), f->raw_key, f->raw_key_len)
    *st = REC_ERR;
    if (n == 0) {
        fail(P, "missing field value for key \"%s\"", KEY);
        return NULL;
    }
    char last = v[n - 1];
    int rc;
    if (last == 'i') {
        f->type = FV_INT;
        rc = parse_int(v, n - 1, true, &f->v.i);
        if (rc == NUM_RANGE) {
            fail(P, "integer value out of range for key \"%s\"", KEY);
            return NULL;
        }
    } else if (last == 'u') {
        f->type = FV_UINT;
        rc = parse_uint(v, n - 1, &f->v.u);
        if (rc == NUM_RANGE) {
            fail(P, "unsigned value out of range for key \"%s\"", KEY);
            return NULL;
        }
    } else if (v[0] == 't' || v[0] == 'T' || v[0] == 'f' || v[0] == 'F') {
        f->type = FV_BOOL;
        rc = NUM_OK;
        if ((n == 1 && (v[0] == 't' || v[0] == 'T')) ||
            (n == 4 && (!memcmp(v, "true", 4) || !memcmp(v, "True", 4) || !memcmp(v, "TRUE", 4))))
            f->v.b = true;
        else if ((n == 1 && (v[0] == 'f' || v[0] == 'F')) ||
                 (n == 5 &&
                  (!memcmp(v, "false", 5) || !memcmp(v, "False", 5) || !memcmp(v, "FALSE", 5))))
            f->v.b = false;
        else
            rc = NUM_SYNTAX;
    } else {
        f->type = FV_FLOAT;
        rc = parse_float(P, v, n, &f->v.f);
        if (rc == NUM_RANGE) {
            fail(P, "float value out of range for key \"%s\"", KEY);
            return NULL;
        }
    }
    if (rc != NUM_OK) {
        fail(P, "invalid field value for key \"%s\"", KEY);
        return NULL;
    }
#undef KEY
    *st = REC_OK;
    return p;
}

/* Parses the record starting at P->rec (first line ends at P->nl, content at
 * P->lim) into P->meas, P->tags, P->fields, P->ts_us. */
static int parse_record(struct lp_parser *P)
{
    char kb[MSG_KEY_MAX + 1];
    const char *p = P->rec;
    P->ntags = P->nfields = 0;
    P->multi = false;

    p = scan_token(p, P->lim, CL_MEAS, &P->meas);
    if (P->meas.len == 0)
        return fail(P, "missing measurement");

    while (p < P->lim && *p == ',') {
        struct ptag *t = push_tag(P);
        p = scan_token(p + 1, P->lim, CL_KEY, &t->k);
        if (t->k.len == 0)
            return fail(P, "empty tag key");
        if (p >= P->lim || *p != '=')
            return fail(P, "missing tag value for key \"%s\"",
                        msg_key(kb, sizeof(kb), t->k.p, t->k.len));
        p = scan_token(p + 1, P->lim, CL_KEY, &t->v);
        if (t->v.len == 0)
            return fail(P, "empty tag value for key \"%s\"",
                        msg_key(kb, sizeof(kb), t->k.p, t->k.len));
        if (p < P->lim && *p == '=')
            return fail(P, "invalid tag value for key \"%s\": unescaped '='",
                        msg_key(kb, sizeof(kb), t->k.p, t->k.len));
    }
    if (p >= P->lim)
        return fail(P, "missing field");
    /* scan_token stopped at ' ' here (',' and '=' are handled above). */
    P->sec_end = p;
    while (p < P->lim && *p == ' ')
        p++;
    if (p >= P->lim)
        return fail(P, "missing field");

    for (;;) {
        struct pfield *f = push_field(P);
        p = scan_token(p, P->lim, CL_KEY, &f->k);
        f->raw_key = f->k.p;
        f->raw_key_len = f->k.len;
        if (f->k.len == 0)
            return fail(P, "empty field key");
        if (p >= P->lim || *p != '=')
            return fail(P, "missing field value for key \"%s\"",
                        msg_key(kb, sizeof(kb), f->k.p, f->k.len));
        int st = REC_OK;
        p = parse_value(P, f, p + 1, &st);
        if (!p)
            return st;
        if (p >= P->lim)
            break;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ' ')
            break;
        /* Only after a string value: `"abc"x`. */
        return fail(P, "invalid field value for key \"%s\"",
                    msg_key(kb, sizeof(kb), f->raw_key, f->raw_key_len));
    }

    if (p >= P->lim) {
        P->ts_us = P->o->default_ts_us;
        return REC_OK;
    }
    while (p < P->lim && *p == ' ')
        p++;
    int64_t t;
    int rc = parse_int(p, (size_t)(P->lim - p), true, &t);
    if (rc == NUM_SYNTAX)
        return fail(P, "invalid timestamp");
    if (rc == NUM_RANGE || !ts_to_us(t, P->o->precision, &P->ts_us))
        return fail(P, "timestamp out of range");
    return REC_OK;
}

/* --- materialize ---------------------------------------------------------- */

/* Removes escapes: escapable bytes are `set` (",= " for names, "\"\\" for
 * strings). Writes into scratch (capacity reserved by the caller). */
static void unescape(struct lp_parser *P, struct span *sp, const char *set)
{
    char *out = P->scratch.p + P->scratch.len, *o = out;
    const char *s = sp->p, *e = sp->p + sp->len;
    while (s < e) {
        if (*s == '\\' && s + 1 < e && s[1] != '\0' && strchr(set, s[1])) {
            *o++ = s[1];
            s += 2;
        } else {
            *o++ = *s++;
        }
    }
    sp->p = out;
    sp->len = (uint32_t)(o - out);
    P->scratch.len += sp->len;
}

/* Replaces every byte that does not start a valid UTF-8 sequence by U+FFFD
 * (the jsonw policy). Writes into scratch if anything changes. */
static void utf8_fix(struct lp_parser *P, struct span *sp)
{
    if (utf8_valid(sp->p, sp->len))
        return;
    const unsigned char *u = (const unsigned char *)sp->p;
    char *out = P->scratch.p + P->scratch.len, *o = out;
    size_t i = 0, n = sp->len;
    while (i < n) {
        size_t l = u[i] < 0x80 ? 1 : utf8_seq_len(u + i, n - i);
        if (l) {
            memcpy(o, u + i, l);
            o += l;
            i += l;
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    sp->p = out;
    sp->len = (uint32_t)(o - out);
    P->scratch.len += sp->len;
}

/* Checks a column name (tag or field key) after unescaping. */
static int check_name(struct lp_parser *P, const struct span *k, const char *what)
{
    if (k->len > COLUMN_NAME_MAX)
        return fail(P, "%s key too long (max %d bytes)", what, COLUMN_NAME_MAX);
    if (k->nonascii && !utf8_valid(k->p, k->len))
        return fail(P, "invalid UTF-8 in %s key", what);
    if (span_eq(k->p, k->len, "time", 4))
        return fail(P, "invalid %s key \"time\": reserved for the timestamp", what);
    return REC_OK;
}

static int materialize(struct lp_parser *P)
{
    /* Every span is disjoint and at most 4x its size once rewritten
     * (unescape, then up to 3 bytes per invalid byte); renames add 6 bytes
     * per field ("_value"). Reserving once keeps earlier pointers valid. */
    P->scratch.len = 0;
    gbuf_reserve(&P->scratch, 4 * (size_t)(P->lim - P->rec) + 8 * P->nfields + 16);

    struct span *m = &P->meas;
    if (m->esc)
        unescape(P, m, ", ");
    if (!name_is_valid_measurement(m->p, m->len))
        return fail(P, "invalid measurement name");

    for (size_t i = 0; i < P->ntags; i++) {
        struct ptag *t = &P->tags[i];
        if (t->k.esc)
            unescape(P, &t->k, ",= ");
        int st = check_name(P, &t->k, "tag");
        if (st != REC_OK)
            return st;
        if (t->v.esc)
            unescape(P, &t->v, ",= ");
        if (t->v.nonascii)
            utf8_fix(P, &t->v);
    }
    for (size_t i = 0; i < P->nfields; i++) {
        struct pfield *f = &P->fields[i];
        if (f->k.esc)
            unescape(P, &f->k, ",= ");
        int st = check_name(P, &f->k, "field");
        if (st != REC_OK)
            return st;
        if (f->type == FV_STR) {
            if (f->s.esc)
                unescape(P, &f->s, "\"\\");
            if (f->s.nonascii)
                utf8_fix(P, &f->s);
        }
    }
    return REC_OK;
}

/* --- resolve: duplicates, renames ----------------------------------------- */

/* Lines with at most this many keys compare keys pairwise; longer lines use
 * a hash set so a line with thousands of keys stays linear. */
#define SMALL_KEYS 16

static void keyset_begin(struct keyset *ks, size_t n)
{
    size_t want = 16;
    while (want < 2 * n)
        want *= 2;
    if (want > ks->cap) {
        xfree(ks->e);
        ks->e = xcalloc(want, sizeof(*ks->e));
        ks->cap = want;
        ks->stamp = 0;
    }
    if (++ks->stamp == 0) { /* wrapped: clear for real */
        memset(ks->e, 0, ks->cap * sizeof(*ks->e));
        ks->stamp = 1;
    }
}

/* Looks `p` up and returns the index stored for it, or -1 if absent. With
 * insert, also stores idx for it (added or replacing the old index). */
static long keyset_put(struct keyset *ks, const char *p, uint32_t len, uint32_t idx, bool insert,
                       uint64_t seed)
{
    size_t mask = ks->cap - 1;
    size_t slot = hash_words(p, len, seed) & mask;
    for (;;) {
        struct kent *e = &ks->e[slot];
        if (e->stamp != ks->stamp) {
            if (insert) {
                e->p = p;
                e->len = len;
                e->idx = idx;
                e->stamp = ks->stamp;
            }
            return -1;
        }
        if (span_eq(e->p, e->len, p, len)) {
            long old = (long)e->idx;
            if (insert)
                e->idx = idx;
            return old;
        }
        slot = (slot + 1) & mask;
    }
}

/* Index of the live tag with key k, or -1. Tags must be deduplicated. */
static long tag_find(struct lp_parser *P, const char *k, uint32_t len, bool hashed)
{
    if (hashed)
        return keyset_put(&P->ks_tags, k, len, 0, false, P->seed);
    for (size_t i = 0; i < P->ntags; i++)
        if (!P->tags[i].dead && span_eq(P->tags[i].k.p, P->tags[i].k.len, k, len))
            return (long)i;
    return -1;
}

static int resolve(struct lp_parser *P)
{
    char kb[MSG_KEY_MAX + 1];
    bool hashed = P->ntags + P->nfields > SMALL_KEYS;

    /* Tags: a later duplicate key overrides an earlier one. */
    if (hashed) {
        keyset_begin(&P->ks_tags, P->ntags);
        for (size_t i = 0; i < P->ntags; i++) {
            long prev = keyset_put(&P->ks_tags, P->tags[i].k.p, P->tags[i].k.len, (uint32_t)i, true,
                                   P->seed);
            if (prev >= 0)
                P->tags[prev].dead = true;
        }
    } else {
        for (size_t i = 1; i < P->ntags; i++)
            for (size_t j = 0; j < i; j++)
                if (!P->tags[j].dead &&
                    span_eq(P->tags[j].k.p, P->tags[j].k.len, P->tags[i].k.p, P->tags[i].k.len))
                    P->tags[j].dead = true;
    }

    /* Fields: a key that is also a tag key becomes "<key>_value" (Arc). */
    if (P->ntags) {
        for (size_t i = 0; i < P->nfields; i++) {
            struct pfield *f = &P->fields[i];
            if (tag_find(P, f->k.p, f->k.len, hashed) < 0)
                continue;
            if (f->k.len + 6 > COLUMN_NAME_MAX)
                return fail(P, "field key too long (max %d bytes)", COLUMN_NAME_MAX);
            char *o = P->scratch.p + P->scratch.len;
            memcpy(o, f->k.p, f->k.len);
            memcpy(o + f->k.len, "_value", 6);
            f->k.p = o;
            f->k.len += 6;
            f->renamed = true;
            P->scratch.len += f->k.len;
            if (tag_find(P, f->k.p, f->k.len, hashed) >= 0)
                return fail(P, "field key \"%s\" collides with tag keys \"%s\" and \"%s_value\"",
                            msg_key(kb, sizeof(kb), f->raw_key, f->raw_key_len), kb, kb);
        }
    }

    /* Fields: a later duplicate (final name) overrides an earlier one. */
    if (hashed) {
        keyset_begin(&P->ks_fields, P->nfields);
        for (size_t i = 0; i < P->nfields; i++) {
            long prev = keyset_put(&P->ks_fields, P->fields[i].k.p, P->fields[i].k.len, (uint32_t)i,
                                   true, P->seed);
            if (prev >= 0)
                P->fields[prev].dead = true;
        }
    } else {
        for (size_t i = 1; i < P->nfields; i++)
            for (size_t j = 0; j < i; j++)
                if (!P->fields[j].dead && span_eq(P->fields[j].k.p, P->fields[j].k.len,
                                                  P->fields[i].k.p, P->fields[i].k.len))
                    P->fields[j].dead = true;
    }
    return REC_OK;
}

/* --- measurements, series, rows ------------------------------------------- */

/* Batch index of measurement m, or -1; *hp receives its hash (computed only
 * when the last-used measurement does not match). */
static long bent_find(struct lp_parser *P, const char *m, uint32_t len, uint64_t *hp)
{
    if (P->nbents && P->bents[P->last_bent].mlen == len &&
        memcmp(P->bents[P->last_bent].b->measurement, m, len) == 0)
        return (long)P->last_bent;
    uint64_t h = *hp = hash_words(m, len, P->seed);
    if (!P->bidx_cap)
        return -1;
    size_t mask = P->bidx_cap - 1;
    for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
        uint32_t v = P->bidx_tab[slot];
        if (!v)
            return -1;
        struct bent *e = &P->bents[v - 1];
        if (e->hash == h && e->mlen == len && memcmp(e->b->measurement, m, len) == 0)
            return (long)(v - 1);
    }
}

static void bidx_insert(uint32_t *tab, size_t cap, uint64_t h, uint32_t val)
{
    size_t mask = cap - 1, slot = h & mask;
    while (tab[slot])
        slot = (slot + 1) & mask;
    tab[slot] = val;
}

static size_t bent_add(struct lp_parser *P, const char *m, uint32_t len, uint64_t h)
{
    char name[MEASUREMENT_NAME_MAX + 1];
    memcpy(name, m, len); /* len <= 128: validated */
    name[len] = '\0';
    if (P->nbents == P->bents_cap) {
        P->bents_cap = P->bents_cap ? P->bents_cap * 2 : 4;
        P->bents = xrealloc(P->bents, P->bents_cap * sizeof(*P->bents));
    }
    size_t idx = P->nbents++;
    memset(&P->bents[idx], 0, sizeof(P->bents[idx]));
    P->bents[idx].b = batch_new(P->o->db, name);
    P->bents[idx].mlen = len;
    P->bents[idx].hash = h;
    for (size_t i = 0; i < COL_CACHE; i++)
        P->bents[idx].col_cache[i] = -1;
    P->bents[idx].last_layout = IDX_NONE;
    if (P->nbents * 2 > P->bidx_cap) {
        size_t ncap = P->bidx_cap ? P->bidx_cap * 2 : 8;
        xfree(P->bidx_tab);
        P->bidx_tab = xcalloc(ncap, sizeof(uint32_t));
        P->bidx_cap = ncap;
        for (size_t i = 0; i < P->nbents; i++)
            bidx_insert(P->bidx_tab, ncap, P->bents[i].hash, (uint32_t)(i + 1));
    } else {
        bidx_insert(P->bidx_tab, P->bidx_cap, h, (uint32_t)(idx + 1));
    }
    return idx;
}

static int cmp_tag(const void *a, const void *b)
{
    const struct ptag *x = a, *y = b;
    size_t n = x->k.len < y->k.len ? x->k.len : y->k.len;
    int c = memcmp(x->k.p, y->k.p, n);
    if (c)
        return c;
    return (x->k.len > y->k.len) - (x->k.len < y->k.len);
}

/* Drops dead tags and sorts the rest by key, so the series key does not
 * depend on the order tags were written in. */
static void tags_canonical(struct lp_parser *P)
{
    size_t n = 0;
    for (size_t i = 0; i < P->ntags; i++)
        if (!P->tags[i].dead)
            P->tags[n++] = P->tags[i];
    P->ntags = n;
    bool sorted = true;
    for (size_t i = 1; i < n && sorted; i++)
        sorted = cmp_tag(&P->tags[i - 1], &P->tags[i]) < 0;
    if (sorted)
        return;
    if (n <= SMALL_KEYS) {
        for (size_t i = 1; i < n; i++) {
            struct ptag t = P->tags[i];
            size_t j = i;
            for (; j > 0 && cmp_tag(&P->tags[j - 1], &t) > 0; j--)
                P->tags[j] = P->tags[j - 1];
            P->tags[j] = t;
        }
    } else {
        qsort(P->tags, n, sizeof(*P->tags), cmp_tag);
    }
}

/* Series id of (measurement bidx, canonical tag set), created if new. */
static uint32_t series_get(struct lp_parser *P, size_t bidx)
{
    struct gbuf *k = &P->ckey;
    k->len = 0;
    for (size_t i = 0; i < P->ntags; i++) {
        const struct ptag *t = &P->tags[i];
        gbuf_reserve(k, 8 + t->k.len + t->v.len);
        memcpy(k->p + k->len, &t->k.len, 4);
        memcpy(k->p + k->len + 4, t->k.p, t->k.len);
        k->len += 4 + t->k.len;
        memcpy(k->p + k->len, &t->v.len, 4);
        memcpy(k->p + k->len + 4, t->v.p, t->v.len);
        k->len += 4 + t->v.len;
    }
    uint64_t h = hash_words(k->p, k->len, P->seed ^ hash_mix64(bidx + 1));
    if (P->sid_cap) {
        size_t mask = P->sid_cap - 1;
        for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
            uint32_t v = P->sid_tab[slot];
            if (!v)
                break;
            const struct series *s = &P->series[v - 1];
            if (s->hash == h && s->bidx == bidx && s->len == k->len &&
                (k->len == 0 || memcmp(P->sarena.p + s->off, k->p, k->len) == 0))
                return v - 1;
        }
    }
    /* New series: its key is copied into the arena (owned by the parser for
     * the duration of the call). */
    if (P->nseries == P->series_cap) {
        P->series_cap = P->series_cap ? P->series_cap * 2 : 64;
        P->series = xrealloc(P->series, P->series_cap * sizeof(*P->series));
    }
    uint32_t sid = (uint32_t)P->nseries++;
    struct series *s = &P->series[sid];
    s->hash = h;
    s->off = (uint32_t)P->sarena.len;
    s->len = (uint32_t)k->len;
    s->bidx = (uint32_t)bidx;
    s->last_row = UINT32_MAX;
    s->last_ts_us = 0;
    s->tref_off = 0;
    s->ntref = IDX_NONE;
    s->layout = IDX_NONE;
    gbuf_put(&P->sarena, k->p, k->len);
    if (P->nseries * 2 > P->sid_cap) {
        size_t ncap = P->sid_cap ? P->sid_cap * 2 : 64;
        xfree(P->sid_tab);
        P->sid_tab = xcalloc(ncap, sizeof(uint32_t));
        P->sid_cap = ncap;
        for (size_t i = 0; i < P->nseries; i++)
            bidx_insert(P->sid_tab, ncap, P->series[i].hash, (uint32_t)(i + 1));
    } else {
        bidx_insert(P->sid_tab, P->sid_cap, h, sid + 1);
    }
    return sid;
}

static inline uint64_t row_hash(uint32_t sid, int64_t ts, uint64_t seed)
{
    return hash_mix64(((uint64_t)ts ^ seed) + (uint64_t)sid * UINT64_C(0x9E3779B97F4A7C15));
}

/* Row of (sid, ts) in its batch, or SIZE_MAX; on a miss *slot_out is where
 * to insert. */
static size_t row_find(struct lp_parser *P, uint32_t sid, int64_t ts, size_t *slot_out)
{
    size_t mask = P->rows_cap - 1;
    size_t slot = row_hash(sid, ts, P->seed) & mask;
    for (;; slot = (slot + 1) & mask) {
        struct rowent *e = &P->rows[slot];
        if (e->sid == UINT32_MAX) {
            *slot_out = slot;
            return SIZE_MAX;
        }
        if (e->sid == sid && e->ts_us == ts)
            return e->row;
    }
}

static void rows_grow(struct lp_parser *P, size_t ncap)
{
    size_t ocap = P->rows_cap;
    struct rowent *old = P->rows;
    P->rows = xmalloc(ncap * sizeof(*P->rows));
    for (size_t i = 0; i < ncap; i++)
        P->rows[i].sid = UINT32_MAX;
    P->rows_cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].sid == UINT32_MAX)
            continue;
        size_t slot = 0;
        (void)row_find(P, old[i].sid, old[i].ts_us, &slot);
        P->rows[slot] = old[i];
    }
    xfree(old);
}

/* batch_set_str, except that an empty value on a batch whose string heap is
 * still unallocated does not reach batch_set_str: that would memcpy 0 bytes
 * to a NULL heap, undefined behaviour that UBSan reports. Workaround until
 * batch_set_str skips empty copies (reported). */
static void set_str(struct batch *b, int col, size_t row, const char *s, size_t len)
{
    if (len == 0 && b->heap == NULL) {
        struct batch_col *c = &b->cols[col];
        c->v.s[row].off = 0;
        c->v.s[row].len = 0;
        c->valid[row >> 3] |= (uint8_t)(1u << (row & 7));
        return;
    }
    batch_set_str(b, col, row, s, len);
}

/* Switches to the (series, timestamp) table: every row so far goes in. */
static void row_table_build(struct lp_parser *P)
{
    size_t total = 0;
    for (size_t i = 0; i < P->nbents; i++)
        total += P->bents[i].b->nrows;
    size_t cap = 1024;
    while (cap < 2 * (total + 1))
        cap *= 2;
    rows_grow(P, cap);
    for (size_t i = 0; i < P->nbents; i++) {
        const struct bent *e = &P->bents[i];
        for (size_t r = 0; r < e->b->nrows; r++) {
            size_t slot = 0;
            (void)row_find(P, e->row_sid[r], e->b->time_us[r], &slot);
            P->rows[slot].sid = e->row_sid[r];
            P->rows[slot].ts_us = e->b->time_us[r];
            P->rows[slot].row = (uint32_t)r;
        }
    }
    P->nrowents = total;
    P->row_table = true;
}

/* The row a record of series sid at ts merges into, or a new row. Sets
 * *merged. While each series only moves forward in time (the usual case)
 * the series' last row answers this without touching a large table: an
 * older timestamp is the moment the table is built. */
static size_t find_row(struct lp_parser *P, struct bent *e, uint32_t sid, int64_t ts, bool *merged)
{
    struct series *se = &P->series[sid];
    size_t slot = 0, row = SIZE_MAX;
    if (!P->row_table) {
        if (se->last_row != UINT32_MAX && ts == se->last_ts_us)
            row = se->last_row;
        else if (se->last_row != UINT32_MAX && ts < se->last_ts_us)
            row_table_build(P);
    }
    if (P->row_table) {
        if ((P->nrowents + 1) * 2 > P->rows_cap)
            rows_grow(P, P->rows_cap * 2);
        row = row_find(P, sid, ts, &slot);
    }
    *merged = row != SIZE_MAX;
    if (*merged)
        return row;

    row = batch_row_add(e->b, ts);
    if (row >= e->row_sid_cap) {
        e->row_sid_cap = e->row_sid_cap ? e->row_sid_cap * 2 : 256;
        e->row_sid = xrealloc(e->row_sid, e->row_sid_cap * sizeof(uint32_t));
    }
    e->row_sid[row] = sid;
    if (P->row_table) {
        P->rows[slot].sid = sid;
        P->rows[slot].ts_us = ts;
        P->rows[slot].row = (uint32_t)row;
        P->nrowents++;
    }
    if (se->last_row == UINT32_MAX || ts >= se->last_ts_us) {
        se->last_row = (uint32_t)row;
        se->last_ts_us = ts;
    }
    return row;
}

/* Points row `row` of the series' tag columns at their values' bytes, which
 * are already in b's heap (see apply). */
static void set_trefs(struct batch *b, const struct tref *trefs, const struct series *se,
                      size_t row)
{
    for (size_t i = 0; i < se->ntref; i++) {
        const struct tref *t = &trefs[se->tref_off + i];
        struct batch_col *c = &b->cols[t->col];
        c->v.s[row] = t->v;
        c->valid[row >> 3] |= (uint8_t)(1u << (row & 7));
    }
}

/* Records the trefs of series se from its row `row` (see apply). The
 * current record is of that series, so P->tags (canonical) are its tags and
 * their columns exist (t->col was set by apply's checks). */
static void trefs_record(struct lp_parser *P, const struct batch *b, struct series *se, size_t row)
{
    if (P->ntrefs + P->ntags > P->trefs_cap) {
        while (P->ntrefs + P->ntags > P->trefs_cap)
            P->trefs_cap = P->trefs_cap ? P->trefs_cap * 2 : 64;
        P->trefs = xrealloc(P->trefs, P->trefs_cap * sizeof(*P->trefs));
    }
    se->tref_off = (uint32_t)P->ntrefs;
    se->ntref = (uint32_t)P->ntags;
    for (size_t i = 0; i < P->ntags; i++) {
        int col = P->tags[i].col;
        assert(col >= 0 && b->cols[col].is_tag && batch_is_valid(&b->cols[col], row));
        P->trefs[P->ntrefs].col = col;
        P->trefs[P->ntrefs].v = b->cols[col].v.s[row];
        P->ntrefs++;
    }
}

/* --- fast-path tables: tag sections and field layouts ---------------------- */

/* Layouts are kept for lines with at most this many fields, and the request
 * keeps at most LFIELDS_MAX layout entries (56 bytes each, 3.5 MiB) in all:
 * past that, lines with a new layout simply take the full parse. */
#define LAYOUT_MAX_FIELDS 1024
#define LFIELDS_MAX (1u << 16)

static long sec_find(const struct lp_parser *P, const char *p, uint32_t len, uint64_t h)
{
    size_t mask = P->secs_cap - 1;
    for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
        const struct secent *e = &P->secs[slot];
        if (!e->p)
            return -1;
        if (e->hash == h && e->len == len && memcmp(e->p, p, len) == 0)
            return (long)e->sid;
    }
}

static void sec_put(struct secent *tab, size_t cap, const struct secent *e)
{
    size_t mask = cap - 1, slot = e->hash & mask;
    while (tab[slot].p)
        slot = (slot + 1) & mask;
    tab[slot] = *e;
}

/* Records that the tag section [p, p+len) (followed by a space) is series
 * sid. A section of an accepted line parses the same way wherever it
 * appears: tokens never look past the space that ends it. */
static void sec_add(struct lp_parser *P, const char *p, uint32_t len, uint32_t sid)
{
    uint64_t h =
        (P->sec_hash_p == p && P->sec_hash_len == len) ? P->sec_hash : hash_words(p, len, P->seed);
    if (P->nsecs && sec_find(P, p, len, h) >= 0)
        return;
    if ((P->nsecs + 1) * 2 > P->secs_cap) {
        size_t ocap = P->secs_cap, ncap = ocap ? ocap * 2 : 64;
        struct secent *old = P->secs;
        P->secs = xcalloc(ncap, sizeof(*P->secs));
        P->secs_cap = ncap;
        for (size_t i = 0; i < ocap; i++)
            if (old[i].p)
                sec_put(P->secs, ncap, &old[i]);
        xfree(old);
    }
    struct secent e = {.hash = h, .p = p, .len = len, .sid = sid};
    sec_put(P->secs, P->secs_cap, &e);
    P->nsecs++;
}

/* Whether layout li lists exactly the (live, final) fields of the current
 * record, in order. */
static bool layout_is_current(const struct lp_parser *P, uint32_t li, uint32_t bidx)
{
    const struct layout *L = &P->layouts[li];
    if (L->bidx != bidx || L->n != P->nfields)
        return false;
    const struct lfield *lf = P->lfields + L->off;
    for (size_t i = 0; i < L->n; i++)
        if (!span_eq(lf[i].k, lf[i].klen, P->fields[i].k.p, P->fields[i].k.len))
            return false;
    return true;
}

/* Whether series se may follow layout li, which another series of its
 * measurement wrote: no field key of the layout may be one of its tag keys
 * (that field would be renamed "<key>_value"). Column names are unique in a
 * batch, so comparing columns compares keys. */
static bool layout_fits(const struct lp_parser *P, const struct series *se, uint32_t li)
{
    const struct layout *L = &P->layouts[li];
    /* The pairwise check is bounded per line; a line with so many tags and
     * fields takes the full parse, which is linear. */
    if (L->bidx != se->bidx || se->ntref == IDX_NONE || (size_t)L->n * se->ntref > 4096)
        return false;
    for (size_t i = 0; i < L->n; i++)
        for (size_t j = 0; j < se->ntref; j++)
            if (P->lfields[L->off + i].col == P->trefs[se->tref_off + j].col)
                return false;
    return true;
}

/* Whether p starts with `key=` of layout field lf; p + klen < lim. */
static inline bool key_matches(const char *p, const char *end, const struct lfield *lf)
{
#ifdef LP_LITTLE_ENDIAN
    size_t nw = lf->nw;
    if (nw && (size_t)(end - p) >= 8 * nw) { /* the words may read past `key=`, not past end */
        for (size_t j = 0; j + 1 < nw; j++)
            if (load64(p + 8 * j) != lf->w[j])
                return false;
        return (load64(p + 8 * (nw - 1)) & lf->mask) == lf->w[nw - 1];
    }
#endif
    return p[lf->klen] == '=' && memcmp(p, lf->k, lf->klen) == 0;
}

/* Sets lf's word form of `key=` (see struct lfield). */
static void lfield_words(struct lfield *lf)
{
    size_t t = (size_t)lf->klen + 1;
    lf->nw = 0;
    if (t > sizeof(lf->w))
        return;
    unsigned char buf[sizeof(lf->w)] = {0};
    memcpy(buf, lf->k, lf->klen);
    buf[lf->klen] = '=';
    memcpy(lf->w, buf, sizeof(buf));
    lf->nw = (uint32_t)((t + 7) / 8);
    size_t r = t - 8 * (lf->nw - 1); /* bytes used in the last word, 1..8 */
    lf->mask = r == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * r)) - 1;
}

/* After the full parse accepted the current record as series sid: remember
 * its tag section and its field layout for fast_record. A layout needs
 * plain keys (no backslash: the key bytes are the column name, and matching
 * them followed by '=' in a later line is the same token), no duplicate and
 * no renamed field. */
static void remember(struct lp_parser *P, uint32_t sid)
{
    struct series *se = &P->series[sid];
    if (se->ntref == IDX_NONE)
        return; /* seen once so far (or only merged into its first row) */
    sec_add(P, P->rec, (uint32_t)(P->sec_end - P->rec), sid);

    size_t n = P->nfields;
    if (n == 0 || n > LAYOUT_MAX_FIELDS)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct pfield *f = &P->fields[i];
        if (f->dead || f->renamed || f->k.esc || memchr(f->raw_key, '\\', f->raw_key_len))
            return;
    }
    struct bent *e = &P->bents[se->bidx];
    uint32_t li = IDX_NONE;
    if (se->layout != IDX_NONE && layout_is_current(P, se->layout, se->bidx))
        li = se->layout;
    else if (e->last_layout != IDX_NONE && layout_is_current(P, e->last_layout, se->bidx))
        li = e->last_layout;
    if (li == IDX_NONE) {
        if (P->nlfields + n > LFIELDS_MAX)
            return;
        if (P->nlayouts == P->layouts_cap) {
            P->layouts_cap = P->layouts_cap ? P->layouts_cap * 2 : 16;
            P->layouts = xrealloc(P->layouts, P->layouts_cap * sizeof(*P->layouts));
        }
        if (P->nlfields + n > P->lfields_cap) {
            while (P->nlfields + n > P->lfields_cap)
                P->lfields_cap = P->lfields_cap ? P->lfields_cap * 2 : 64;
            P->lfields = xrealloc(P->lfields, P->lfields_cap * sizeof(*P->lfields));
        }
        li = (uint32_t)P->nlayouts++;
        struct layout *L = &P->layouts[li];
        L->off = (uint32_t)P->nlfields;
        L->n = (uint32_t)n;
        L->bidx = se->bidx;
        for (size_t i = 0; i < n; i++) {
            struct lfield *lf = &P->lfields[P->nlfields++];
            lf->k = P->fields[i].raw_key; /* in the body, which outlives the call */
            lf->klen = P->fields[i].raw_key_len;
            lf->col = P->fields[i].col;
            lfield_words(lf);
        }
    }
    se->layout = li;
    e->last_layout = li;
}

/* Column of key k at position pos of the line, via the column cache. */
static int col_find_cached(struct bent *e, size_t pos, const char *k, uint32_t len)
{
    const struct batch *b = e->b;
    if (pos < COL_CACHE) {
        int c = e->col_cache[pos];
        if (c >= 0 && b->cols[c].name_len == len && memcmp(b->cols[c].name, k, len) == 0)
            return c;
    }
    int c = batch_col_find(b, k, len);
    if (pos < COL_CACHE)
        e->col_cache[pos] = c;
    return c;
}

static enum col_type col_type_of(enum fval t)
{
    switch (t) {
    case FV_FLOAT: return COL_DOUBLE;
    case FV_INT: return COL_INT64;
    case FV_UINT: return COL_UINT64;
    case FV_STR: return COL_STRING;
    case FV_BOOL: return COL_BOOL;
    }
    return COL_STRING;
}

static int conflict(struct lp_parser *P, bool is_tag, const char *name, size_t len,
                    enum col_type have, enum col_type got)
{
    char kb[MSG_KEY_MAX + 1];
    return fail(P, "field type conflict: %s \"%s\" is %s, got %s", is_tag ? "tag" : "field",
                msg_key(kb, sizeof(kb), name, len), col_type_name(have), col_type_name(got));
}

/* Type checks, then writes the record into its batch. */
static int apply(struct lp_parser *P)
{
    const struct span *m = &P->meas;
    uint64_t mh = 0;
    long bi = bent_find(P, m->p, m->len, &mh);
    struct batch *b = bi >= 0 ? P->bents[bi].b : NULL;

    /* 1. Against this request's columns (no side effects). */
    if (b) {
        for (size_t i = 0; i < P->ntags; i++) {
            struct ptag *t = &P->tags[i];
            if (t->dead)
                continue;
            t->col = col_find_cached(&P->bents[bi], i, t->k.p, t->k.len);
            if (t->col >= 0 && b->cols[t->col].type != COL_STRING)
                return conflict(P, true, t->k.p, t->k.len, b->cols[t->col].type, COL_STRING);
        }
        for (size_t i = 0; i < P->nfields; i++) {
            struct pfield *f = &P->fields[i];
            if (f->dead)
                continue;
            f->col = col_find_cached(&P->bents[bi], P->ntags + i, f->k.p, f->k.len);
            if (f->col >= 0 && b->cols[f->col].type != col_type_of(f->type))
                return conflict(P, false, f->k.p, f->k.len, b->cols[f->col].type,
                                col_type_of(f->type));
        }
    }

    /* 2. Against the catalog, for columns this request has not created yet. */
    if (P->o->schema.check) {
        char mname[MEASUREMENT_NAME_MAX + 1];
        memcpy(mname, m->p, m->len);
        mname[m->len] = '\0';
        const struct schema_checker *sc = &P->o->schema;
        for (size_t i = 0; i < P->ntags + P->nfields; i++) {
            bool is_tag = i < P->ntags;
            const struct span *k;
            enum col_type want;
            if (is_tag) {
                const struct ptag *t = &P->tags[i];
                if (t->dead || t->col >= 0)
                    continue;
                k = &t->k;
                want = COL_STRING;
            } else {
                const struct pfield *f = &P->fields[i - P->ntags];
                if (f->dead || f->col >= 0)
                    continue;
                k = &f->k;
                want = col_type_of(f->type);
            }
            enum col_type have = want;
            int rc = sc->check(sc->ctx, P->o->db, mname, k->p, k->len, want, &have);
            if (rc == RC_INVALID)
                return conflict(P, is_tag, k->p, k->len, have, want);
            if (rc != RC_OK) {
                snprintf(P->reason, sizeof(P->reason), "schema check failed: %s", rc_name(rc));
                P->fatal_rc = rc;
                return REC_FATAL;
            }
        }
    }

    /* 3. Write. Nothing below can fail. */
    if (!b) {
        bi = (long)bent_add(P, m->p, m->len, mh);
        b = P->bents[bi].b;
    }
    P->last_bent = (size_t)bi;

    tags_canonical(P);
    uint32_t sid = series_get(P, (size_t)bi);
    uint32_t prev_row = P->series[sid].last_row; /* a row of the series, IDX_NONE if new */
    bool merged;
    size_t row = find_row(P, &P->bents[bi], sid, P->ts_us, &merged);

    /* Tag values of a merged row are equal by definition of the series. The
     * first row of a series copies its tag values into the heap; later rows
     * point at those same bytes (the series' trefs, taken from an earlier
     * row when the second row comes, so a series seen once costs nothing
     * more). Their columns are tag columns already. */
    struct series *se = &P->series[sid];
    if (!merged && prev_row != IDX_NONE) {
        if (se->ntref == IDX_NONE)
            trefs_record(P, b, se, prev_row);
        set_trefs(b, P->trefs, se, row);
    } else if (!merged) {
        for (size_t i = 0; i < P->ntags; i++) {
            const struct ptag *t = &P->tags[i];
            int col = t->col;
            if (col < 0)
                col = batch_col_get(b, t->k.p, t->k.len, COL_STRING, true, NULL);
            else
                b->cols[col].is_tag = true; /* a string field column now also used as tag */
            set_str(b, col, row, t->v.p, t->v.len);
        }
    }
    for (size_t i = 0; i < P->nfields; i++) {
        struct pfield *f = &P->fields[i];
        if (f->dead)
            continue;
        int col = f->col;
        if (col < 0)
            col = f->col = batch_col_get(b, f->k.p, f->k.len, col_type_of(f->type), false, NULL);
        switch (f->type) {
        case FV_FLOAT: batch_set_f64(b, col, row, f->v.f); break;
        case FV_INT: batch_set_i64(b, col, row, f->v.i); break;
        case FV_UINT: batch_set_u64(b, col, row, f->v.u); break;
        case FV_BOOL: batch_set_bool(b, col, row, f->v.b); break;
        case FV_STR: set_str(b, col, row, f->s.p, f->s.len); break;
        }
    }
    remember(P, sid);
    return REC_OK;
}

/* --- fast path ------------------------------------------------------------- */

/* Status of fast_record when it does not apply: take the full parse. */
enum { REC_MISS = REC_FATAL + 1 };

/* The usual numeric values, inline: a float `-?d*[.d+]` of at most 19
 * digits whose mantissa is at most 2^53 (so (double)m / 10^k is correctly
 * rounded, the exact path of parse_float and so the same bits as strtod),
 * `-?d+i` and `d+u` of at most 18 digits; each must be followed by ',', ' '
 * or the end of the line, as parse_value's token is. Anything else returns
 * NULL, for parse_value. */
static inline const char *fast_value(const char *p, const char *lim, struct pfield *f)
{
    /* The caller guarantees that *lim is readable: it is then the blank,
     * CR or newline that ends the line, never a digit, '.' or '-', so the
     * scans below stop at lim without testing for it. */
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    const char *d0 = p;
    uint64_t m = 0; /* wraps past 19 digits: such values are left to parse_value */
    while ((unsigned char)(*p - '0') <= 9)
        m = m * 10 + (unsigned)(*p++ - '0');
    size_t ni = (size_t)(p - d0), nf = 0;
    if (*p == '.') {
        const char *f0 = ++p;
        while ((unsigned char)(*p - '0') <= 9)
            m = m * 10 + (unsigned)(*p++ - '0');
        nf = (size_t)(p - f0);
        if (nf == 0)
            return NULL;
    }
    if (ni + nf == 0 || ni + nf > 19)
        return NULL;
    if (p == lim || *p == ',' || *p == ' ') {
        if (m > (UINT64_C(1) << 53))
            return NULL;
        double d = (double)m;
        if (nf)
            d /= pow10_tab[nf];
        f->type = FV_FLOAT;
        f->v.f = neg ? -d : d;
        return p;
    }
    if (nf || ni > 18 || (p + 1 < lim && p[1] != ',' && p[1] != ' '))
        return NULL;
    if (*p == 'i') {
        f->type = FV_INT;
        f->v.i = neg ? -(int64_t)m : (int64_t)m;
        return p + 1;
    }
    if (*p == 'u' && !neg) {
        f->type = FV_UINT;
        f->v.u = m;
        return p + 1;
    }
    return NULL;
}

/*
 * The record at P->rec, when its tag section (the bytes before the first
 * space not preceded by a backslash) is byte-identical to that of an
 * earlier accepted line, and its field keys are those of its series' layout
 * in the same order: then measurement, tags, series, key checks, duplicate
 * and rename rules and columns are all known, and only values and the
 * timestamp are parsed. Every value type is checked against its (existing)
 * column before anything is written. Returns REC_OK with the record
 * applied, or REC_MISS with nothing written and P as it was, for the full
 * parse (which also reports every error, so errors are word for word the
 * same).
 */
static int fast_record(struct lp_parser *P)
{
    if (!P->nsecs)
        return REC_MISS;
    const char *rec = P->rec, *lim = P->lim;
    const char *sp = memchr(rec, ' ', (size_t)(lim - rec));
    while (sp && sp[-1] == '\\') /* sp > rec: a record starts with a non-blank */
        sp = memchr(sp + 1, ' ', (size_t)(lim - (sp + 1)));
    if (!sp)
        return REC_MISS;
    uint32_t slen = (uint32_t)(sp - rec);
    uint64_t h = hash_words(rec, slen, P->seed);
    P->sec_hash_p = rec;
    P->sec_hash_len = slen;
    P->sec_hash = h;
    long sid = sec_find(P, rec, slen, h);
    if (sid < 0)
        return REC_MISS;
    struct series *se = &P->series[sid];
    struct bent *e = &P->bents[se->bidx];
    uint32_t li = se->layout;
    if (li == IDX_NONE) {
        li = e->last_layout;
        if (li == IDX_NONE || !layout_fits(P, se, li))
            return REC_MISS;
        se->layout = li; /* a guess, as good whether this line matches or not */
    }
    const struct layout *L = &P->layouts[li];
    const struct lfield *lf = P->lfields + L->off;
    size_t n = L->n;
    if (n > P->fields_cap) {
        P->fields_cap = n;
        P->fields = xrealloc(P->fields, n * sizeof(*P->fields));
    }
    struct batch *b = e->b;
    const char *nl0 = P->nl, *lim0 = P->lim;
    bool has_str = false;
    P->multi = false;

    const char *p = sp + 1;
    while (p < lim && *p == ' ')
        p++;
    for (size_t i = 0; i < n; i++) {
        uint32_t kl = lf[i].klen;
        if ((size_t)(lim - p) <= kl || !key_matches(p, P->end, &lf[i]))
            goto miss;
        struct pfield *f = &P->fields[i];
        const char *v = p + kl + 1;
        p = lim < P->end ? fast_value(v, lim, f) : NULL;
        if (!p) {
            /* Strings, booleans and rarer numbers. A string may run over
             * newlines and move P->nl and P->lim (restored on a miss). */
            f->raw_key = lf[i].k;
            f->raw_key_len = kl;
            int st = REC_OK;
            p = parse_value(P, f, v, &st);
            if (!p)
                goto miss;
            lim = P->lim;
            has_str |= f->type == FV_STR;
        }
        if (b->cols[lf[i].col].type != col_type_of(f->type))
            goto miss;
        if (i + 1 < n) {
            if (p >= lim || *p != ',')
                goto miss;
            p++;
        } else if (p < lim && *p != ' ') {
            goto miss;
        }
    }
    int64_t ts = P->o->default_ts_us;
    if (p < lim) {
        while (p < lim && *p == ' ')
            p++;
        int64_t t;
        if (parse_ts(p, (size_t)(lim - p), &t) != NUM_OK || !ts_to_us(t, P->o->precision, &ts))
            goto miss;
    }
    if (has_str) { /* as materialize does for string values */
        P->scratch.len = 0;
        gbuf_reserve(&P->scratch, 4 * (size_t)(lim - rec) + 16);
        for (size_t i = 0; i < n; i++) {
            struct pfield *f = &P->fields[i];
            if (f->type != FV_STR)
                continue;
            if (f->s.esc)
                unescape(P, &f->s, "\"\\");
            if (f->s.nonascii)
                utf8_fix(P, &f->s);
        }
    }

    /* Accepted: write, as apply does. */
    P->ts_us = ts;
    P->last_bent = se->bidx;
    bool merged;
    size_t row = find_row(P, e, (uint32_t)sid, ts, &merged);
    if (!merged)
        set_trefs(b, P->trefs, se, row);
    /* Direct stores, as batch_set_f64 and friends do (types checked above). */
    uint8_t bit = (uint8_t)(1u << (row & 7));
    for (size_t i = 0; i < n; i++) {
        const struct pfield *f = &P->fields[i];
        struct batch_col *c = &b->cols[lf[i].col];
        switch (f->type) {
        case FV_FLOAT: c->v.f64[row] = f->v.f; break;
        case FV_INT: c->v.i64[row] = f->v.i; break;
        case FV_UINT: c->v.u64[row] = f->v.u; break;
        case FV_BOOL: c->v.b[row] = f->v.b ? 1 : 0; break;
        case FV_STR: set_str(b, lf[i].col, row, f->s.p, f->s.len); break;
        }
        c->valid[row >> 3] |= bit;
    }
    return REC_OK;

miss:
    P->nl = nl0;
    P->lim = lim0;
    P->multi = false;
    return REC_MISS;
}

/* --- driver ---------------------------------------------------------------- */

static void reject(struct lp_parser *P, size_t line, const char *text, size_t text_len)
{
    struct lp_result *r = P->res;
    if (r->lines_rejected++ == 0) {
        copy_text(r->first_rejected, LP_SUMMARY_LINE_MAX, text, text_len);
        snprintf(r->first_reason, sizeof(r->first_reason), "%s", P->reason);
    }
    if (r->nerrors >= P->o->max_reported_errors)
        return;
    if (r->nerrors == P->errors_cap) {
        /* Doubling, capped at max_reported_errors entries. */
        size_t cap = P->errors_cap ? P->errors_cap * 2 : 8;
        if (cap > P->o->max_reported_errors)
            cap = P->o->max_reported_errors;
        r->errors = xrealloc(r->errors, cap * sizeof(*r->errors));
        P->errors_cap = cap;
    }
    struct lp_error *e = &r->errors[r->nerrors++];
    e->line = line;
    snprintf(e->reason, sizeof(e->reason), "%s", P->reason);
    copy_text(e->text, LP_TEXT_MAX, text, text_len);
}

static void parser_free(struct lp_parser *P)
{
    xfree(P->tags);
    xfree(P->fields);
    gbuf_free(&P->scratch);
    gbuf_free(&P->num);
    gbuf_free(&P->ckey);
    gbuf_free(&P->sarena);
    xfree(P->ks_tags.e);
    xfree(P->ks_fields.e);
    for (size_t i = 0; i < P->nbents; i++) {
        batch_unref(&P->bents[i].b);
        xfree(P->bents[i].row_sid);
    }
    xfree(P->bents);
    xfree(P->bidx_tab);
    xfree(P->series);
    xfree(P->sid_tab);
    xfree(P->trefs);
    xfree(P->secs);
    xfree(P->layouts);
    xfree(P->lfields);
    xfree(P->rows);
}

int lp_parse(const char *body, size_t len, const struct lp_options *o, struct lp_result *out)
{
    if (!out)
        return RC_INVALID;
    memset(out, 0, sizeof(*out));
    if (!o || !o->db || (!body && len))
        return RC_INVALID;
    if (!body)
        body = ""; /* no arithmetic on NULL */

    int rc = RC_OK;
    struct lp_parser P;
    memset(&P, 0, sizeof(P));
    P.o = o;
    P.res = out;
    P.body = body;
    P.end = body + len;
    P.seed = hash_mix64((uint64_t)time_mono_ns() ^ (uint64_t)(uintptr_t)&P);

    const char *pos = body, *end = P.end;
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0)
        pos += 3; /* UTF-8 byte order mark */
    size_t line = 1;
    const size_t max = o->max_line_bytes;

    while (pos < end) {
        const char *nl = find_nl(pos, end);
        const char *next = nl < end ? nl + 1 : end;
        const char *s = pos;
        while (s < nl && is_blank(*s))
            s++;
        const char *lim = rtrim(s, nl);
        if (s == lim || *s == '#') {
            pos = next;
            line++;
            continue;
        }
        out->lines_received++;
        if (max && (size_t)(lim - s) > max) {
            snprintf(P.reason, sizeof(P.reason), "line too long (max %zu bytes)", max);
            reject(&P, line, s, (size_t)(lim - s));
            pos = next;
            line++;
            continue;
        }

        P.rec = s;
        P.nl = nl;
        P.lim = lim;
        P.bound = (max && (size_t)(end - s) > max) ? s + max : end;
        int st = fast_record(&P);
        if (st == REC_MISS) {
            st = parse_record(&P);
            if (st == REC_OK)
                st = materialize(&P);
            if (st == REC_OK)
                st = resolve(&P);
            if (st == REC_OK)
                st = apply(&P);
        }

        if (st == REC_FATAL) {
            rc = P.fatal_rc;
            goto out;
        }
        if (st == REC_OK) {
            out->lines_accepted++;
        } else if (st == REC_ERR) {
            reject(&P, line, s, (size_t)(P.lim - s));
        } else { /* REC_ERR_FIRSTLINE: resume after the first line */
            reject(&P, line, s, (size_t)(lim - s));
            P.multi = false;
        }
        if (!P.multi) {
            pos = next;
            line++;
        } else {
            const char *rec_next = P.nl < end ? P.nl + 1 : end;
            for (const char *q = pos; (q = memchr(q, '\n', (size_t)(rec_next - q))) != NULL; q++)
                line++;
            pos = rec_next;
        }
    }

    /* Hand the batches over: sealed, one reference each to the caller. */
    if (P.nbents) {
        out->batches = xmalloc(P.nbents * sizeof(*out->batches));
        for (size_t i = 0; i < P.nbents; i++) {
            batch_seal(P.bents[i].b);
            out->rows += P.bents[i].b->nrows;
            out->batches[i] = P.bents[i].b;
            P.bents[i].b = NULL;
        }
        out->nbatches = P.nbents;
    }

out:
    parser_free(&P);
    if (rc != RC_OK)
        lp_result_cleanup(out);
    return rc;
}

void lp_result_cleanup(struct lp_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nbatches; i++)
        batch_unref(&r->batches[i]);
    xfree(r->batches);
    xfree(r->errors);
    memset(r, 0, sizeof(*r));
}

size_t lp_summary_message(const struct lp_result *r, char *out, size_t cap)
{
    if (!out || cap == 0)
        return 0;
    out[0] = '\0';
    if (!r || r->lines_rejected == 0)
        return 0;
    int w = snprintf(out, cap, "partial write: unable to parse '%s': %s dropped=%zu",
                     r->first_rejected, r->first_reason, r->lines_rejected);
    if (w < 0) {
        out[0] = '\0';
        return 0;
    }
    size_t n = (size_t)w < cap ? (size_t)w : cap - 1;
    /* One line: control bytes of the quoted line or of a key quoted in the
     * reason become spaces. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c < 0x20 || c == 0x7f)
            out[i] = ' ';
    }
    return n;
}
