/*
 * ingest/msgpack.c — MessagePack write-format decoder (SPEC §1.4, §2.3).
 *
 * What it does: validates a request body as MessagePack, walks its items
 * (columnar or row form), and appends their rows to one columnar batch per
 * measurement; then runs the catalog type check once per (measurement,
 * column) and seals the batches. Any failure frees everything: a request is
 * stored completely or not at all.
 *
 * What it owns: nothing beyond one call. The batches it builds are handed to
 * the caller (one reference each); scratch arrays live in a `struct ctx`
 * local to mpdec_decode and are freed before it returns.
 *
 * Threads: HTTP worker threads call mpdec_decode; no global state is written,
 * so calls run concurrently.
 *
 * Invariants: nothing is decoded before scan_object accepted the whole body,
 * so every msgpuck cursor stays inside it; a batch column's validity bits
 * are exact at every step (a type merge may scan them); on any error every
 * batch built so far is released.
 *
 * DESIGN
 *
 *   body ──► scan_object() own bounds/nesting check of every object; after it
 *    │                     the msgpuck mp_decode_* cursors cannot run past
 *    │                     the end (msgpuck 1.0.3's mp_check cannot be used
 *    │                     for this: its element counter is an int, so an
 *    │                     array32/map32 header with a count >= 2^31 wraps it
 *    │                     and a 5-byte truncated body passes as valid).
 *    ▼
 *   decode_top() ─► decode_map() ─┬─ decode_columns(): per column one tight
 *                                 │   loop writing straight into the column
 *                                 │   arrays, typed by the first non-nil value;
 *                                 │   only if a later value does not fit (ints
 *                                 │   then a float...) a header-only scan
 *                                 │   decides the type and the loop runs
 *                                 │   again. No allocation per value.
 *                                 └─ decode_row(): one row per item
 *   Every decode step returns the end of what it read, so the data is not
 *   walked again just to skip it (keys are read up to `columns`, which are
 *   decoded in place when `m` came first, as encoders usually send it).
 *    ▼
 *   check_schema()  catalog check per column, int->DOUBLE widening (§2.3)
 *    ▼
 *   batch_seal() ──► caller
 *
 * Type merging. Inside a request a column's type is the join of what its
 * values need: integers stay INT64, become UINT64 when a value exceeds
 * INT64_MAX (then no value may be negative), and any float makes the column
 * DOUBLE (integers already stored are converted in place: same 8-byte slot).
 * Strings and booleans never mix with anything. A column whose values so far
 * are all null takes the type of the first value that arrives. Against the
 * catalog only the §2.3 widenings apply: INT64/UINT64 into a DOUBLE column if
 * every value satisfies |v| <= 2^53, and [Ext] INT64 into a UINT64 column if
 * no value is negative (MessagePack has no signedness for positive integers).
 *
 * Memory bound: batches are dense, so an item introducing a new column for a
 * batch that already holds many rows costs a null slot for each of them.
 * Decoded memory is charged as (columns + 1) x rows x 9 bytes + string bytes
 * and capped by mpdec_options.max_mem_bytes (RC_LIMIT), so a small hostile
 * body cannot make the decoder abort on OOM.
 */
#define MP_SOURCE 1 /* this file provides msgpuck's out-of-line code and tables */
#include "ingest/msgpack.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <msgpuck.h>

#include "util/hash.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define TWO_POW_53 9007199254740992.0
#define MAX_INT_DOUBLE INT64_C(9007199254740992) /* 2^53 */
/* Per dense cell: 8-byte value + validity bit, rounded up. */
#define CELL_BYTES 9
#define DEFAULT_MEM_SLACK ((size_t)64 << 20)
#define DEFAULT_MEM_FACTOR 16
/* Longest name echoed in an error message. */
#define ECHO_MAX 64

/* ---------------------------------------------------------------------
 * Validation: every object complete, no reserved byte 0xc1
 * ------------------------------------------------------------------ */

static inline uint32_t be16(const unsigned char *p)
{
    return ((uint32_t)p[0] << 8) | p[1];
}

static inline uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t be64(const unsigned char *p)
{
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* Header kinds for scan_object: >= 0 is the number of payload bytes of a
 * scalar or fixstr; the negative codes need a look at the header. Range
 * designators are a GNU C extension (gcc and clang); they keep the table
 * readable, as does leaving it unformatted. */
/* clang-format off */
enum {
    H_FIXMAP = -1, H_FIXARR = -2, H_VAR8 = -3, H_VAR16 = -4, H_VAR32 = -5,
    H_EXT8 = -6, H_EXT16 = -7, H_EXT32 = -8, H_ARR16 = -9, H_ARR32 = -10,
    H_MAP16 = -11, H_MAP32 = -12, H_BAD = -13,
};

static const int8_t header_kind[256] = {
    [0x00 ... 0x7f] = 0,        /* positive fixint */
    [0x80 ... 0x8f] = H_FIXMAP,
    [0x90 ... 0x9f] = H_FIXARR,
    /* fixstr: the payload is the length in the low 5 bits */
    [0xa0] = 0, [0xa1] = 1, [0xa2] = 2, [0xa3] = 3, [0xa4] = 4, [0xa5] = 5,
    [0xa6] = 6, [0xa7] = 7, [0xa8] = 8, [0xa9] = 9, [0xaa] = 10, [0xab] = 11,
    [0xac] = 12, [0xad] = 13, [0xae] = 14, [0xaf] = 15, [0xb0] = 16, [0xb1] = 17,
    [0xb2] = 18, [0xb3] = 19, [0xb4] = 20, [0xb5] = 21, [0xb6] = 22, [0xb7] = 23,
    [0xb8] = 24, [0xb9] = 25, [0xba] = 26, [0xbb] = 27, [0xbc] = 28, [0xbd] = 29,
    [0xbe] = 30, [0xbf] = 31,
    [0xc0] = 0,                 /* nil */
    [0xc1] = H_BAD,             /* never used */
    [0xc2 ... 0xc3] = 0,        /* false, true */
    [0xc4] = H_VAR8, [0xc5] = H_VAR16, [0xc6] = H_VAR32,    /* bin */
    [0xc7] = H_EXT8, [0xc8] = H_EXT16, [0xc9] = H_EXT32,
    [0xca] = 4, [0xcb] = 8,     /* float32, float64 */
    [0xcc] = 1, [0xcd] = 2, [0xce] = 4, [0xcf] = 8,         /* uint */
    [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8,         /* int */
    [0xd4] = 2, [0xd5] = 3, [0xd6] = 5, [0xd7] = 9, [0xd8] = 17, /* fixext: type + data */
    [0xd9] = H_VAR8, [0xda] = H_VAR16, [0xdb] = H_VAR32,    /* str */
    [0xdc] = H_ARR16, [0xdd] = H_ARR32, [0xde] = H_MAP16, [0xdf] = H_MAP32,
    [0xe0 ... 0xff] = 0,        /* negative fixint */
};
/* clang-format on */

/*
 * Checks one complete object starting at *pp. On success advances *pp past
 * it and returns true; on failure sets *bad to the start of the element that
 * is incomplete or invalid (or to `end` when more elements are announced
 * than bytes are left). Iterative: `pending` counts the elements still
 * expected; it never exceeds the bytes left (each element is at least one
 * byte), which also keeps it far from overflowing.
 */
static bool scan_object(const unsigned char **pp, const unsigned char *end,
                        const unsigned char **bad)
{
    const unsigned char *p = *pp;
    uint64_t pending = 1;
    while (pending) {
        const unsigned char *start = p;
        if (p >= end)
            goto fail;
        unsigned c = *p++;
        size_t avail = (size_t)(end - p);
        int h = header_kind[c];
        if (h >= 0) {
            /* Scalar: pending only shrinks, so the bound below holds. */
            if ((size_t)h > avail)
                goto fail;
            p += h;
            pending--;
            continue;
        }
        uint64_t skip;         /* bytes after the first one */
        uint64_t children = 0; /* elements the header announces */
        switch (h) {
        case H_FIXMAP:
            skip = 0;
            children = 2u * (c & 0x0f);
            break;
        case H_FIXARR:
            skip = 0;
            children = c & 0x0f;
            break;
        case H_VAR8:
            if (avail < 1)
                goto fail;
            skip = 1 + (uint64_t)p[0];
            break;
        case H_VAR16:
            if (avail < 2)
                goto fail;
            skip = 2 + (uint64_t)be16(p);
            break;
        case H_VAR32:
            if (avail < 4)
                goto fail;
            skip = 4 + (uint64_t)be32(p);
            break;
        case H_EXT8: /* len, type, data */
            if (avail < 2)
                goto fail;
            skip = 2 + (uint64_t)p[0];
            break;
        case H_EXT16:
            if (avail < 3)
                goto fail;
            skip = 3 + (uint64_t)be16(p);
            break;
        case H_EXT32:
            if (avail < 5)
                goto fail;
            skip = 5 + (uint64_t)be32(p);
            break;
        case H_ARR16:
            if (avail < 2)
                goto fail;
            skip = 2;
            children = be16(p);
            break;
        case H_ARR32:
            if (avail < 4)
                goto fail;
            skip = 4;
            children = be32(p);
            break;
        case H_MAP16:
            if (avail < 2)
                goto fail;
            skip = 2;
            children = 2u * (uint64_t)be16(p);
            break;
        case H_MAP32:
            if (avail < 4)
                goto fail;
            skip = 4;
            children = 2u * (uint64_t)be32(p);
            break;
        default: goto fail;
        }
        if (skip > avail)
            goto fail;
        p += skip;
        pending += children - 1; /* unsigned: children 0 means one fewer */
        if (pending > (uint64_t)(end - p)) {
            start = end;
            goto fail;
        }
        continue;
    fail:
        *bad = start;
        return false;
    }
    *pp = p;
    return true;
}

/* ---------------------------------------------------------------------
 * Small helpers: UTF-8, names
 * ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if invalid (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). s[0] >= 0x80. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xf4 && s[1] >= 0x90)
            return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

static bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/*
 * True if the n bytes at s are all ASCII. For short strings it reads one or
 * two 8-byte words, which may extend past the string but never past
 * `limit` (the end of the request body, readable memory): this is the
 * common case of the columnar string loop and costs a few instructions
 * instead of a byte loop. Falls back to utf8_valid's own loop otherwise.
 */
static inline bool ascii_short(const char *s, size_t n, const char *limit)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n <= 16 && (size_t)(limit - s) >= 16) {
        uint64_t w0, w1;
        memcpy(&w0, s, 8);
        memcpy(&w1, s + 8, 8);
        /* keep the first n bytes (the low ones on little-endian) */
        uint64_t m0 = n >= 8 ? UINT64_MAX : (UINT64_C(1) << (n * 8)) - 1;
        uint64_t m1 = n >= 16 ? UINT64_MAX : n <= 8 ? 0 : (UINT64_C(1) << ((n - 8) * 8)) - 1;
        return !(((w0 & m0) | (w1 & m1)) & UINT64_C(0x8080808080808080));
    }
#endif
    (void)limit;
    return false; /* unknown: take the full check */
}

/* Column names: SPEC §0.4 (non-empty, valid UTF-8, at most 255 bytes, not
 * `time`); a NUL byte is refused too because batch column names are C
 * strings. Returns NULL if fine, else what is wrong. */
static const char *column_name_problem(const char *s, size_t n)
{
    if (n == 0)
        return "empty column name";
    if (n > COLUMN_NAME_MAX)
        return "column name longer than 255 bytes";
    if (memchr(s, '\0', n))
        return "column name contains a NUL byte";
    if (!utf8_valid(s, n))
        return "column name is not valid UTF-8";
    if (n == 4 && memcmp(s, "time", 4) == 0)
        return "column name \"time\" is reserved for the timestamp";
    return NULL;
}

static bool key_is(const char *k, uint32_t klen, const char *lit)
{
    size_t n = strlen(lit);
    return klen == n && memcmp(k, lit, n) == 0;
}

/* Echo length for a name in an error message: at most ECHO_MAX bytes, and
 * nothing for names that are not printable UTF-8 (the message goes to JSON
 * and logs). */
/* noinline: only on error paths; also keeps GCC's -Warray-bounds from
 * analysing the 8-byte fast path of utf8_valid against short literals. */
__attribute__((cold, noinline)) static int echo_len(const char *s, size_t n)
{
    if (n > ECHO_MAX)
        n = ECHO_MAX;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20)
            return 0;
    while (n && !utf8_valid(s, n))
        n--; /* cut a sequence split by the ECHO_MAX limit */
    return (int)n;
}

/* ---------------------------------------------------------------------
 * Timestamps
 * ------------------------------------------------------------------ */

static int unit_for_magnitude_u(uint64_t a)
{
    if (a < UINT64_C(10000000000))
        return MPDEC_UNIT_S;
    if (a < UINT64_C(10000000000000))
        return MPDEC_UNIT_MS;
    if (a < UINT64_C(10000000000000000))
        return MPDEC_UNIT_US;
    return MPDEC_UNIT_NS;
}

static int unit_for_magnitude_d(double a)
{
    if (a < 1e10)
        return MPDEC_UNIT_S;
    if (a < 1e13)
        return MPDEC_UNIT_MS;
    if (a < 1e16)
        return MPDEC_UNIT_US;
    return MPDEC_UNIT_NS;
}

static bool in_time_range(int64_t us)
{
    return us >= TIME_MIN_US && us <= TIME_MAX_US;
}

static bool i64_to_us(int64_t v, int unit, int64_t *out)
{
    int64_t r;
    switch (unit) {
    case MPDEC_UNIT_S:
        if (__builtin_mul_overflow(v, INT64_C(1000000), &r))
            return false;
        break;
    case MPDEC_UNIT_MS:
        if (__builtin_mul_overflow(v, INT64_C(1000), &r))
            return false;
        break;
    case MPDEC_UNIT_US: r = v; break;
    default: /* ns, floored */
        r = v / 1000;
        if (v % 1000 < 0)
            r--;
        break;
    }
    *out = r;
    return in_time_range(r);
}

static bool u64_to_us(uint64_t v, int unit, int64_t *out)
{
    if (v <= (uint64_t)INT64_MAX)
        return i64_to_us((int64_t)v, unit, out);
    if (unit != MPDEC_UNIT_NS)
        return false;
    *out = (int64_t)(v / 1000);
    return in_time_range(*out);
}

/* Floating-point seconds and milliseconds are rounded to the nearest
 * microsecond: a double near the current epoch cannot carry more precision
 * than that, and flooring would turn 1700000000.000001 (stored as
 * ...0.00000095) into the wrong microsecond. Finer units are floored. */
static bool f64_to_us(double v, int unit, int64_t *out)
{
    double x;
    switch (unit) {
    case MPDEC_UNIT_S: x = floor(v * 1e6 + 0.5); break;
    case MPDEC_UNIT_MS: x = floor(v * 1e3 + 0.5); break;
    case MPDEC_UNIT_US: x = floor(v); break;
    default: x = floor(v / 1e3); break;
    }
    /* NaN fails both comparisons. */
    if (!(x >= (double)TIME_MIN_US && x <= (double)TIME_MAX_US))
        return false;
    *out = (int64_t)x;
    return true;
}

enum ts_err { TS_OK = 0, TS_RANGE, TS_TYPE_NIL, TS_TYPE_STR, TS_TYPE_OTHER, TS_EXT };

/* MessagePack timestamp extension (type -1) at p, already known to be an
 * ext value: 4-byte (u32 seconds), 8-byte (30-bit ns | 34-bit seconds) and
 * 12-byte (u32 ns, i64 seconds) forms. */
static int ts_from_ext(const unsigned char *p, int64_t *out)
{
    unsigned c = p[0];
    const unsigned char *d;
    size_t n;
    if (c == 0xd6) {
        n = 4;
        d = p + 2;
        if ((int8_t)p[1] != -1)
            return TS_EXT;
    } else if (c == 0xd7) {
        n = 8;
        d = p + 2;
        if ((int8_t)p[1] != -1)
            return TS_EXT;
    } else if (c == 0xc7 && p[1] == 12) {
        n = 12;
        d = p + 3;
        if ((int8_t)p[2] != -1)
            return TS_EXT;
    } else {
        return TS_EXT;
    }
    int64_t sec, r;
    uint32_t nsec = 0;
    if (n == 4) {
        sec = be32(d);
    } else if (n == 8) {
        uint64_t v = be64(d);
        nsec = (uint32_t)(v >> 34);
        sec = (int64_t)(v & UINT64_C(0x3ffffffff));
    } else {
        nsec = be32(d);
        sec = (int64_t)be64(d + 4);
    }
    if (nsec > 999999999u)
        return TS_RANGE;
    if (__builtin_mul_overflow(sec, INT64_C(1000000), &r) ||
        __builtin_add_overflow(r, (int64_t)(nsec / 1000), &r))
        return TS_RANGE;
    if (!in_time_range(r))
        return TS_RANGE;
    *out = r;
    return TS_OK;
}

/*
 * Decodes the timestamp at *pp into microseconds and advances *pp. *unit is
 * the unit to use, or MPDEC_UNIT_INFER: then it is set from this value's
 * magnitude (ext timestamps carry their own unit and leave it alone).
 */
static int ts_decode(const char **pp, int *unit, int64_t *out)
{
    const char *p = *pp;
    switch (mp_typeof(*p)) {
    case MP_UINT: {
        uint64_t u = mp_decode_uint(pp);
        if (*unit == MPDEC_UNIT_INFER)
            *unit = unit_for_magnitude_u(u);
        return u64_to_us(u, *unit, out) ? TS_OK : TS_RANGE;
    }
    case MP_INT: {
        int64_t v = mp_decode_int(pp);
        if (*unit == MPDEC_UNIT_INFER)
            *unit = unit_for_magnitude_u(v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
        return i64_to_us(v, *unit, out) ? TS_OK : TS_RANGE;
    }
    case MP_FLOAT:
    case MP_DOUBLE: {
        double v = mp_typeof(*p) == MP_FLOAT ? mp_decode_float(pp) : mp_decode_double(pp);
        if (!isfinite(v))
            return TS_RANGE;
        if (*unit == MPDEC_UNIT_INFER)
            *unit = unit_for_magnitude_d(fabs(v));
        return f64_to_us(v, *unit, out) ? TS_OK : TS_RANGE;
    }
    case MP_EXT: {
        int rc = ts_from_ext((const unsigned char *)p, out);
        mp_next(pp);
        return rc;
    }
    case MP_NIL: mp_next(pp); return TS_TYPE_NIL;
    case MP_STR: mp_next(pp); return TS_TYPE_STR;
    default: mp_next(pp); return TS_TYPE_OTHER;
    }
}

static const char *ts_err_text(int e)
{
    switch (e) {
    case TS_RANGE: return "timestamp out of range (years 0001-9999) or not finite";
    case TS_TYPE_NIL: return "timestamp is nil";
    case TS_TYPE_STR: return "timestamp is a string, expected a number";
    case TS_EXT: return "unsupported extension type in timestamp (only -1 is accepted)";
    default: return "timestamp must be a number or a timestamp extension value";
    }
}

/* ---------------------------------------------------------------------
 * Decoder state
 * ------------------------------------------------------------------ */

/* One batch under construction plus per-column bookkeeping of this decoder
 * (parallel to b->cols, grown with it). */
struct mbatch {
    struct batch *b;
    size_t *col_last_item;  /* 1 + last columnar item that wrote the column (duplicates) */
    size_t *col_tag_item;   /* 1 + last row item that set the column as its tag */
    size_t *col_first_item; /* item that created the column (for messages) */
    size_t side_cap;
};

/* A column reference inside a columnar item. */
struct colref {
    const char *name;
    uint32_t name_len;
    uint32_t n;         /* values */
    const char *values; /* first value (after the array header) */
};

struct ctx {
    const struct mpdec_options *o;
    struct errbuf *eb;

    struct mbatch *mb; /* one per measurement, in order of first appearance */
    size_t nmb, mb_cap;
    uint32_t *mhash; /* open addressing: slot -> index into mb, UINT32_MAX empty */
    size_t mhash_cap;

    size_t item; /* index of the item being decoded (0-based, request-wide) */
    size_t items;
    size_t rows;

    /* Memory accounting (see DESIGN above). */
    size_t cells;
    size_t heap_bytes;
    size_t mem_limit;

    const char *body_end; /* end of the request body (readable up to here) */

    /* Scratch, reused across values. */
    char *sbuf; /* UTF-8 repair, tag text, generated names */
    size_t sbuf_cap;
};

#define HASH_EMPTY UINT32_MAX

static char *sbuf_reserve(struct ctx *x, size_t n)
{
    if (n > x->sbuf_cap) {
        size_t cap = x->sbuf_cap ? x->sbuf_cap : 256;
        while (cap < n)
            cap *= 2;
        x->sbuf = xrealloc(x->sbuf, cap);
        x->sbuf_cap = cap;
    }
    return x->sbuf;
}

static int charge(struct ctx *x, size_t cells, size_t heap)
{
    x->cells += cells;
    x->heap_bytes += heap;
    /* Compared by division so huge counts cannot overflow the product. */
    if (x->cells > x->mem_limit / CELL_BYTES ||
        x->heap_bytes > x->mem_limit - x->cells * CELL_BYTES)
        return errbuf_set(x->eb, RC_LIMIT,
                          "item %zu: decoded request would exceed %zu bytes of memory "
                          "(too many rows x columns); split the request",
                          x->item, x->mem_limit);
    return RC_OK;
}

static void mbatch_side_grow(struct mbatch *m)
{
    size_t need = m->b->ncols;
    if (need <= m->side_cap)
        return;
    size_t cap = m->side_cap ? m->side_cap * 2 : 16;
    while (cap < need)
        cap *= 2;
    m->col_last_item = xrealloc(m->col_last_item, cap * sizeof(size_t));
    m->col_tag_item = xrealloc(m->col_tag_item, cap * sizeof(size_t));
    m->col_first_item = xrealloc(m->col_first_item, cap * sizeof(size_t));
    for (size_t i = m->side_cap; i < cap; i++) {
        m->col_last_item[i] = 0;
        m->col_tag_item[i] = 0;
        m->col_first_item[i] = 0;
    }
    m->side_cap = cap;
}

static void mhash_insert(struct ctx *x, uint32_t idx)
{
    const char *name = x->mb[idx].b->measurement;
    size_t mask = x->mhash_cap - 1;
    size_t slot = hash_fnv1a_bytes(name, strlen(name)) & mask;
    while (x->mhash[slot] != HASH_EMPTY)
        slot = (slot + 1) & mask;
    x->mhash[slot] = idx;
}

/* The batch for measurement `name` (validated, NUL-terminated), created on
 * first use. */
static struct mbatch *batch_for(struct ctx *x, const char *name)
{
    size_t len = strlen(name);
    if (x->mhash_cap) {
        size_t mask = x->mhash_cap - 1;
        size_t slot = hash_fnv1a_bytes(name, len) & mask;
        while (x->mhash[slot] != HASH_EMPTY) {
            struct mbatch *m = &x->mb[x->mhash[slot]];
            if (strcmp(m->b->measurement, name) == 0)
                return m;
            slot = (slot + 1) & mask;
        }
    }
    if (x->nmb == x->mb_cap) {
        x->mb_cap = x->mb_cap ? x->mb_cap * 2 : 4;
        x->mb = xrealloc(x->mb, x->mb_cap * sizeof(*x->mb));
    }
    struct mbatch *m = &x->mb[x->nmb];
    memset(m, 0, sizeof(*m));
    m->b = batch_new(x->o->db, name);
    x->nmb++;
    if (x->nmb * 2 > x->mhash_cap) {
        xfree(x->mhash);
        x->mhash_cap = x->mhash_cap ? x->mhash_cap * 2 : 16;
        x->mhash = xmalloc(x->mhash_cap * sizeof(uint32_t));
        memset(x->mhash, 0xff, x->mhash_cap * sizeof(uint32_t));
        for (size_t i = 0; i < x->nmb; i++)
            mhash_insert(x, (uint32_t)i);
    } else {
        mhash_insert(x, (uint32_t)(x->nmb - 1));
    }
    return m;
}

/* Appends a row, charging its cells. Returns the row index via *row. */
static int row_add(struct ctx *x, struct mbatch *m, int64_t ts_us, size_t *row)
{
    int rc = charge(x, m->b->ncols + 1, 0);
    if (rc)
        return rc;
    *row = batch_row_add(m->b, ts_us);
    x->rows++;
    return RC_OK;
}

/* ---------------------------------------------------------------------
 * Columns and type merging
 * ------------------------------------------------------------------ */

/* What a set of incoming values needs. */
struct need {
    enum col_type type;
    bool has_neg;  /* an integer < 0 among them */
    bool nil_only; /* no value at all: any column type will do */
};

static bool col_has_values(const struct batch *b, const struct batch_col *c)
{
    size_t nbytes = (b->nrows + 7) / 8;
    for (size_t i = 0; i < nbytes; i++)
        if (c->valid[i])
            return true;
    return false;
}

static bool col_has_negative(const struct batch *b, const struct batch_col *c)
{
    for (size_t r = 0; r < b->nrows; r++)
        if (batch_is_valid(c, r) && c->v.i64[r] < 0)
            return true;
    return false;
}

/* Every integer of the column fits a double exactly (|v| <= 2^53). */
static bool col_ints_exact(const struct batch *b, const struct batch_col *c)
{
    for (size_t r = 0; r < b->nrows; r++) {
        if (!batch_is_valid(c, r))
            continue;
        if (c->type == COL_UINT64) {
            if (c->v.u64[r] > (uint64_t)MAX_INT_DOUBLE)
                return false;
        } else if (c->v.i64[r] > MAX_INT_DOUBLE || c->v.i64[r] < -MAX_INT_DOUBLE) {
            return false;
        }
    }
    return true;
}

/* Converts an INT64/UINT64 column to DOUBLE in place (same 8-byte slots). */
static void col_to_double(struct batch *b, struct batch_col *c)
{
    for (size_t r = 0; r < b->nrows; r++) {
        if (!batch_is_valid(c, r))
            continue;
        if (c->type == COL_UINT64)
            c->v.f64[r] = (double)c->v.u64[r];
        else
            c->v.f64[r] = (double)c->v.i64[r];
    }
    c->type = COL_DOUBLE;
}

static size_t col_value_size(enum col_type t)
{
    switch (t) {
    case COL_BOOL: return 1;
    case COL_STRING: return sizeof(struct bstr);
    default: return 8;
    }
}

/* Gives a column without any value a new type (its storage is replaced). */
static void col_retype_empty(struct batch *b, struct batch_col *c, enum col_type t)
{
    if (col_value_size(t) != col_value_size(c->type)) {
        xfree(c->v.any);
        c->v.any = xcalloc(b->rows_cap ? b->rows_cap : 1, col_value_size(t));
    }
    c->type = t;
}

static int conflict(struct ctx *x, const char *name, size_t len, size_t row, enum col_type have,
                    enum col_type got)
{
    return errbuf_set(x->eb, RC_INVALID,
                      "item %zu, column \"%.*s\", row %zu: field type conflict: field \"%.*s\" "
                      "is %s, got %s",
                      x->item, echo_len(name, len), name, row, echo_len(name, len), name,
                      col_type_name(have), col_type_name(got));
}

/*
 * Finds or creates column `name` of batch m so that it can take values
 * described by `nd`, merging types as the DESIGN note says. On success
 * *idx is the column; its (possibly widened) type is what the caller writes.
 * `row` is only for error messages.
 */
static int col_for(struct ctx *x, struct mbatch *m, const char *name, size_t len,
                   const struct need *nd, bool is_tag, size_t row, int *idx)
{
    struct batch *b = m->b;
    int i = batch_col_find(b, name, len);
    if (i < 0) {
        int rc = charge(x, b->nrows, 0);
        if (rc)
            return rc;
        enum col_type t = nd->nil_only ? COL_STRING : nd->type;
        i = batch_col_get(b, name, len, t, is_tag, NULL);
        mbatch_side_grow(m);
        m->col_first_item[i] = x->item;
        *idx = i;
        return RC_OK;
    }
    struct batch_col *c = &b->cols[i];
    *idx = i;
    if (nd->nil_only || c->type == nd->type) {
        c->is_tag |= is_tag;
        return RC_OK;
    }
    /* Numeric joins first: they need no scan of the column (except the
     * one-off conversions), so rows alternating 20 and 20.5 stay O(1). A
     * column never holds a numeric type without values. */
    enum col_type have = c->type, got = nd->type;
    bool have_int = have == COL_INT64 || have == COL_UINT64;
    bool got_int = got == COL_INT64 || got == COL_UINT64;
    if (got == COL_DOUBLE && have_int) {
        col_to_double(b, c);
    } else if (have == COL_DOUBLE && got_int) {
        /* stays DOUBLE; the writer converts */
    } else if (have == COL_INT64 && got == COL_UINT64) {
        if (col_has_negative(b, c))
            return conflict(x, name, len, row, have, got);
        c->type = COL_UINT64; /* same bits for non-negative values */
    } else if (have == COL_UINT64 && got == COL_INT64) {
        if (nd->has_neg)
            return conflict(x, name, len, row, have, got);
    } else if (!col_has_values(b, c) && (!c->is_tag || got == COL_STRING)) {
        col_retype_empty(b, c, got); /* so far only nils (an all-nil STRING column) */
    } else {
        return conflict(x, name, len, row, have, got);
    }
    c->is_tag |= is_tag;
    return RC_OK;
}

/* Makes room for n more bytes in the batch's string heap, growing it the way
 * batch_set_str does (doubling). Written here rather than value by value
 * through batch_set_str so the columnar string loop is a plain copy. */
static void heap_reserve(struct batch *b, size_t n)
{
    /* A heap exists once any string is stored, even an empty one: readers
     * compute heap + off (batch_str), which is undefined on NULL. */
    if (n == 0)
        n = 1;
    if (b->heap_len + n <= b->heap_cap)
        return;
    size_t cap = b->heap_cap ? b->heap_cap : 256;
    while (cap < b->heap_len + n)
        cap *= 2;
    b->heap = xrealloc(b->heap, cap);
    b->heap_cap = cap;
}

static inline void set_valid(uint8_t *valid, size_t row)
{
    valid[row >> 3] |= (uint8_t)(1u << (row & 7));
}

static inline void clear_valid(uint8_t *valid, size_t row)
{
    valid[row >> 3] &= (uint8_t) ~(1u << (row & 7));
}

/* Sets (on) or clears the validity bits of rows [from, to). */
static void valid_range(uint8_t *valid, size_t from, size_t to, bool on)
{
    while (from < to && (from & 7)) {
        on ? set_valid(valid, from) : clear_valid(valid, from);
        from++;
    }
    size_t whole = (to - from) / 8;
    memset(valid + from / 8, on ? 0xff : 0, whole);
    from += whole * 8;
    for (; from < to; from++)
        on ? set_valid(valid, from) : clear_valid(valid, from);
}

/* Stores a string, repairing invalid UTF-8 with U+FFFD as the line protocol
 * does (SPEC §2.2), so nothing unflushable enters a buffer. */
static int put_str(struct ctx *x, struct batch *b, int col, size_t row, const char *s, size_t n)
{
    if (!utf8_valid(s, n)) {
        /* Worst case: every byte becomes the 3-byte U+FFFD. */
        char *o = sbuf_reserve(x, 3 * n);
        size_t k = 0;
        const unsigned char *u = (const unsigned char *)s;
        for (size_t i = 0; i < n;) {
            size_t q = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i);
            if (q) {
                memcpy(o + k, u + i, q);
                k += q;
                i += q;
            } else {
                memcpy(o + k, "\xef\xbf\xbd", 3);
                k += 3;
                i++;
            }
        }
        s = o;
        n = k;
        int rc = charge(x, 0, n);
        if (rc)
            return rc;
    }
    if (b->heap_len + n > UINT32_MAX)
        return errbuf_set(x->eb, RC_LIMIT,
                          "item %zu: more than 4 GiB of string data for one measurement", x->item);
    heap_reserve(b, n);
    batch_set_str(b, col, row, s, n);
    return RC_OK;
}

/* ---------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------ */

enum vkind { K_NIL, K_NUM, K_STR, K_BOOL, K_BAD };

/* Kind of one scalar at p; for K_BAD, *why says what it is. */
static enum vkind value_kind(const char *p, const char **why)
{
    switch (mp_typeof(*p)) {
    case MP_NIL: return K_NIL;
    case MP_UINT:
    case MP_INT:
    case MP_FLOAT:
    case MP_DOUBLE: return K_NUM;
    case MP_STR: return K_STR;
    case MP_BOOL: return K_BOOL;
    case MP_ARRAY: *why = "nested arrays are not supported"; return K_BAD;
    case MP_MAP: *why = "nested maps are not supported"; return K_BAD;
    case MP_BIN: *why = "binary values are not supported"; return K_BAD;
    default: *why = "extension values are not supported"; return K_BAD;
    }
}

static const char *kind_name(enum vkind k)
{
    switch (k) {
    case K_NUM: return "number";
    case K_STR: return "string";
    case K_BOOL: return "boolean";
    default: return "nil";
    }
}

static int value_error(struct ctx *x, const char *name, size_t len, size_t row, const char *why)
{
    return errbuf_set(x->eb, RC_INVALID, "item %zu, column \"%.*s\", row %zu: %s", x->item,
                      echo_len(name, len), name, row, why);
}

/* What a column whose values are of `kind` needs. */
static void need_decide(struct need *nd, enum vkind kind, bool has_float, bool has_neg,
                        bool has_big)
{
    nd->has_neg = has_neg;
    nd->nil_only = kind == K_NIL;
    if (kind == K_NIL || kind == K_STR)
        nd->type = COL_STRING;
    else if (kind == K_BOOL)
        nd->type = COL_BOOL;
    else if (has_float)
        nd->type = COL_DOUBLE;
    else if (has_big)
        nd->type = COL_UINT64;
    else
        nd->type = COL_INT64;
}

/*
 * Decides what a whole column needs, the fast way: looks only at header
 * bytes (and the sign byte of signed and uint64 encodings), decoding
 * nothing. Used when the column's values do not all fit the type of its
 * first value. Returns false when the column has a problem (mixed kinds,
 * unsupported values, negative with > INT64_MAX); scan_column_slow then
 * names the row.
 */
static bool scan_column_fast(const struct colref *r, struct need *nd)
{
    const unsigned char *p = (const unsigned char *)r->values;
    unsigned kinds = 0; /* bit per enum vkind seen */
    bool has_float = false, has_neg = false, has_big = false;
    for (uint32_t i = 0; i < r->n; i++) {
        unsigned c = *p;
        if (c <= 0x7f) {
            kinds |= 1u << K_NUM;
            p++;
            continue;
        }
        if (c >= 0xe0) {
            kinds |= 1u << K_NUM;
            has_neg = true;
            p++;
            continue;
        }
        if (c >= 0xa0 && c <= 0xbf) {
            kinds |= 1u << K_STR;
            p += 1 + (c & 0x1f);
            continue;
        }
        switch (c) {
        case 0xc0: p++; break;
        case 0xc2:
        case 0xc3:
            kinds |= 1u << K_BOOL;
            p++;
            break;
        case 0xca:
            kinds |= 1u << K_NUM;
            has_float = true;
            p += 5;
            break;
        case 0xcb:
            kinds |= 1u << K_NUM;
            has_float = true;
            p += 9;
            break;
        case 0xcc:
            kinds |= 1u << K_NUM;
            p += 2;
            break;
        case 0xcd:
            kinds |= 1u << K_NUM;
            p += 3;
            break;
        case 0xce:
            kinds |= 1u << K_NUM;
            p += 5;
            break;
        case 0xcf:
            kinds |= 1u << K_NUM;
            has_big |= p[1] >= 0x80;
            p += 9;
            break;
        case 0xd0:
            kinds |= 1u << K_NUM;
            has_neg |= p[1] >= 0x80;
            p += 2;
            break;
        case 0xd1:
            kinds |= 1u << K_NUM;
            has_neg |= p[1] >= 0x80;
            p += 3;
            break;
        case 0xd2:
            kinds |= 1u << K_NUM;
            has_neg |= p[1] >= 0x80;
            p += 5;
            break;
        case 0xd3:
            kinds |= 1u << K_NUM;
            has_neg |= p[1] >= 0x80;
            p += 9;
            break;
        case 0xd9:
            kinds |= 1u << K_STR;
            p += 2 + (size_t)p[1];
            break;
        case 0xda:
            kinds |= 1u << K_STR;
            p += 3 + (size_t)be16(p + 1);
            break;
        case 0xdb:
            kinds |= 1u << K_STR;
            p += 5 + (size_t)be32(p + 1);
            break;
        default: return false; /* array, map, bin, ext */
        }
    }
    if (kinds & (kinds - 1))
        return false; /* more than one kind */
    if (has_big && has_neg)
        return false;
    enum vkind kind = kinds == (1u << K_NUM)    ? K_NUM
                      : kinds == (1u << K_STR)  ? K_STR
                      : kinds == (1u << K_BOOL) ? K_BOOL
                                                : K_NIL;
    need_decide(nd, kind, has_float, has_neg, has_big);
    return true;
}

/* Value by value: the same decisions as scan_column_fast, but
 * it stops at the first bad row and says what is wrong there. */
static int scan_column_slow(struct ctx *x, const struct colref *r, struct need *nd)
{
    const char *p = r->values;
    enum vkind kind = K_NIL;
    bool has_float = false, has_neg = false, has_big = false;
    size_t first_neg = 0, first_big = 0;
    for (uint32_t row = 0; row < r->n; row++) {
        const char *why = NULL;
        enum vkind k = value_kind(p, &why);
        if (k == K_BAD)
            return value_error(x, r->name, r->name_len, row, why);
        if (k == K_NIL) {
            mp_next(&p);
            continue;
        }
        if (kind == K_NIL) {
            kind = k;
        } else if (k != kind) {
            char msg[96];
            snprintf(msg, sizeof(msg), "%s value in a column of %s values", kind_name(k),
                     kind_name(kind));
            return value_error(x, r->name, r->name_len, row, msg);
        }
        switch (mp_typeof(*p)) {
        case MP_UINT:
            if (mp_decode_uint(&p) > (uint64_t)INT64_MAX && !has_big) {
                has_big = true;
                first_big = row;
            }
            break;
        case MP_INT:
            if (mp_decode_int(&p) < 0 && !has_neg) {
                has_neg = true;
                first_neg = row;
            }
            break;
        case MP_FLOAT:
        case MP_DOUBLE:
            has_float = true;
            mp_next(&p);
            break;
        default: mp_next(&p); break;
        }
    }
    if (kind == K_NUM && !has_float && has_big && has_neg)
        return value_error(x, r->name, r->name_len, first_big > first_neg ? first_big : first_neg,
                           "integers above INT64 max and negative integers in one column");
    need_decide(nd, kind, has_float, has_neg, has_big);
    return RC_OK;
}

static inline double load_be_double(const unsigned char *p)
{
    uint64_t u = be64(p);
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/*
 * Writes the values of a column of a columnar item into rows base.. of
 * column `col`; the rows exist already. Values go straight into the column
 * arrays (documented layout in batch.h): this is the hot loop of columnar
 * ingestion. Each value is checked against the column's current type; the
 * first one that does not fit it (a float in an INT64 column, a string in a
 * numeric one, a nested value...) stops the loop and *fits is set false,
 * leaving the caller to scan the column and merge its type first. On
 * success *endp is past the last value and *str_bytes the string bytes
 * stored. Returns an RC (RC_LIMIT from string storage) or RC_OK.
 */
static int write_column(struct ctx *x, struct batch *b, int col, size_t base,
                        const struct colref *r, bool *fits, const char **endp, size_t *str_bytes)
{
    const char *p = r->values;
    uint32_t n = r->n;
    struct batch_col *c = &b->cols[col];
    uint8_t *valid = c->valid;
    size_t sbytes = 0;
    uint32_t i = 0;
    *fits = false;
    /* Validity: every row of the item is set at once and nils clear their
     * bit (cheaper than a bit per value); a value that does not fit clears
     * the rows not written yet, so the bitmap stays exact for the caller. */
    valid_range(valid, base, base + n, true);
    switch (c->type) {
    case COL_DOUBLE: {
        double *dst = c->v.f64 + base;
        for (i = 0; i < n; i++) {
            double v;
            if ((unsigned char)*p == 0xcb) {
                v = load_be_double((const unsigned char *)p + 1);
                p += 9;
            } else {
                switch (mp_typeof(*p)) {
                case MP_FLOAT: v = mp_decode_float(&p); break;
                case MP_UINT: v = (double)mp_decode_uint(&p); break;
                case MP_INT: v = (double)mp_decode_int(&p); break;
                case MP_NIL:
                    clear_valid(valid, base + i);
                    p++;
                    continue;
                default: goto misfit;
                }
            }
            dst[i] = v;
        }
        break;
    }
    case COL_INT64: {
        int64_t *dst = c->v.i64 + base;
        for (i = 0; i < n; i++) {
            unsigned h = (unsigned char)*p;
            if (h <= 0x7f) {
                dst[i] = h;
                p++;
            } else if (h == 0xc0) {
                clear_valid(valid, base + i);
                p++;
                continue;
            } else if (mp_typeof(*p) == MP_UINT) {
                uint64_t u = mp_decode_uint(&p);
                if (u > (uint64_t)INT64_MAX)
                    goto misfit;
                dst[i] = (int64_t)u;
            } else if (mp_typeof(*p) == MP_INT) {
                dst[i] = mp_decode_int(&p);
            } else {
                goto misfit;
            }
        }
        break;
    }
    case COL_UINT64: {
        uint64_t *dst = c->v.u64 + base;
        for (i = 0; i < n; i++) {
            switch (mp_typeof(*p)) {
            case MP_UINT: dst[i] = mp_decode_uint(&p); break;
            case MP_INT: {
                int64_t v = mp_decode_int(&p);
                if (v < 0)
                    goto misfit;
                dst[i] = (uint64_t)v;
                break;
            }
            case MP_NIL:
                clear_valid(valid, base + i);
                p++;
                continue;
            default: goto misfit;
            }
        }
        break;
    }
    case COL_BOOL: {
        uint8_t *dst = c->v.b + base;
        for (i = 0; i < n; i++) {
            unsigned h = (unsigned char)*p;
            if (h == 0xc0) {
                clear_valid(valid, base + i);
                p++;
                continue;
            }
            if (h != 0xc2 && h != 0xc3)
                goto misfit;
            p++;
            dst[i] = h == 0xc3;
        }
        break;
    }
    case COL_STRING: {
        /* A heap exists from here on; it grows by doubling as strings come.
         * A string needing UTF-8 repair takes the put_str path. */
        heap_reserve(b, 0);
        struct bstr *dst = c->v.s + base;
        /* Copied strings come from the rest of the body, so the 32-bit
         * offsets can only overflow if that is longer than the room left. */
        bool check32 = (size_t)(x->body_end - p) > UINT32_MAX - b->heap_len;
        for (i = 0; i < n; i++) {
            if ((unsigned char)*p == 0xc0) {
                clear_valid(valid, base + i);
                p++;
                continue;
            }
            if (mp_typeof(*p) != MP_STR)
                goto misfit;
            uint32_t len;
            const char *s = mp_decode_str(&p, &len);
            sbytes += len;
            if (!ascii_short(s, len, x->body_end) && mp_unlikely(!utf8_valid(s, len))) {
                int rc = put_str(x, b, col, base + i, s, len);
                if (rc)
                    return rc;
                continue;
            }
            if (check32 && b->heap_len + len > UINT32_MAX)
                return errbuf_set(x->eb, RC_LIMIT,
                                  "item %zu: more than 4 GiB of string data for one measurement",
                                  x->item);
            if (b->heap_len + len > b->heap_cap)
                heap_reserve(b, len);
            memcpy(b->heap + b->heap_len, s, len); /* heap is not NULL: reserved above */
            dst[i].off = (uint32_t)b->heap_len;
            dst[i].len = len;
            b->heap_len += len;
        }
        break;
    }
    }
    *fits = true;
    *endp = p;
    *str_bytes = sbytes;
    return RC_OK;
misfit:
    valid_range(valid, base + i, base + n, false);
    return RC_OK;
}

/* Writes one non-nil scalar (already kind-checked) into a row. */
static int write_value(struct ctx *x, struct batch *b, int col, size_t row, const char **pp)
{
    switch (b->cols[col].type) {
    case COL_DOUBLE:
        switch (mp_typeof(**pp)) {
        case MP_DOUBLE: batch_set_f64(b, col, row, mp_decode_double(pp)); break;
        case MP_FLOAT: batch_set_f64(b, col, row, mp_decode_float(pp)); break;
        case MP_UINT: batch_set_f64(b, col, row, (double)mp_decode_uint(pp)); break;
        default: batch_set_f64(b, col, row, (double)mp_decode_int(pp)); break;
        }
        return RC_OK;
    case COL_INT64:
        if (mp_typeof(**pp) == MP_UINT)
            batch_set_i64(b, col, row, (int64_t)mp_decode_uint(pp));
        else
            batch_set_i64(b, col, row, mp_decode_int(pp));
        return RC_OK;
    case COL_UINT64:
        if (mp_typeof(**pp) == MP_UINT)
            batch_set_u64(b, col, row, mp_decode_uint(pp));
        else
            batch_set_u64(b, col, row, (uint64_t)mp_decode_int(pp));
        return RC_OK;
    case COL_BOOL: batch_set_bool(b, col, row, mp_decode_bool(pp)); return RC_OK;
    case COL_STRING: {
        uint32_t len;
        const char *s = mp_decode_str(pp, &len);
        int rc = charge(x, 0, len);
        if (rc)
            return rc;
        return put_str(x, b, col, row, s, len);
    }
    }
    return RC_OK;
}

/* What one scalar needs (row items). */
static void need_of_value(const char *p, struct need *nd)
{
    memset(nd, 0, sizeof(*nd));
    const char *q = p;
    switch (mp_typeof(*p)) {
    case MP_UINT:
        nd->type = mp_decode_uint(&q) > (uint64_t)INT64_MAX ? COL_UINT64 : COL_INT64;
        break;
    case MP_INT:
        nd->type = COL_INT64;
        nd->has_neg = mp_decode_int(&q) < 0;
        break;
    case MP_FLOAT:
    case MP_DOUBLE: nd->type = COL_DOUBLE; break;
    case MP_BOOL: nd->type = COL_BOOL; break;
    case MP_STR: nd->type = COL_STRING; break;
    default:
        nd->nil_only = true;
        nd->type = COL_STRING;
        break;
    }
}

/* ---------------------------------------------------------------------
 * Items
 * ------------------------------------------------------------------ */

/* The keys of an item map we know (value positions, NULL if absent);
 * unknown keys are ignored (SPEC §0.2). `batch` marks the top-level
 * {"batch": [...]} wrapper. */
struct item_keys {
    const char *m, *columns, *tags, *fields, *f, *t, *h, *batch;
};

enum { STOP_NONE, STOP_COLUMNS, STOP_BATCH };

/*
 * Reads up to *left entries of a map from *pp into k. With `stop` it
 * returns right after the key `columns` or `batch` (saying which in *stopped),
 * leaving *pp at its value: those values are the bulk of a request, and
 * skipping them just to find the other keys would cost a whole pass over the
 * data. A key given twice is an error.
 */
static int keys_read(struct ctx *x, const char **pp, uint32_t *left, struct item_keys *k, bool stop,
                     int *stopped)
{
    *stopped = STOP_NONE;
    const char *p = *pp;
    while (*left) {
        (*left)--;
        if (mp_typeof(*p) != MP_STR) {
            mp_next(&p);
            mp_next(&p);
            continue;
        }
        uint32_t kl;
        const char *key = mp_decode_str(&p, &kl);
        const char **slot = NULL;
        if (kl == 1 && key[0] == 'm')
            slot = &k->m;
        else if (key_is(key, kl, "columns"))
            slot = &k->columns;
        else if (key_is(key, kl, "tags"))
            slot = &k->tags;
        else if (key_is(key, kl, "fields"))
            slot = &k->fields;
        else if (kl == 1 && key[0] == 'f')
            slot = &k->f;
        else if (kl == 1 && key[0] == 't')
            slot = &k->t;
        else if (kl == 1 && key[0] == 'h')
            slot = &k->h;
        else if (key_is(key, kl, "batch"))
            slot = &k->batch;
        if (slot) {
            if (*slot)
                return errbuf_set(x->eb, RC_INVALID, "item %zu: duplicate key \"%.*s\"", x->item,
                                  (int)kl, key);
            *slot = p;
            if (stop && (slot == &k->columns || slot == &k->batch)) {
                *stopped = slot == &k->columns ? STOP_COLUMNS : STOP_BATCH;
                *pp = p;
                return RC_OK;
            }
        }
        mp_next(&p);
    }
    *pp = p;
    return RC_OK;
}

/* Measurement of an item: string, or integer -> measurement_<n>. */
static int item_measurement(struct ctx *x, const char *p, char out[MEASUREMENT_NAME_MAX + 1])
{
    if (!p)
        return errbuf_set(x->eb, RC_INVALID, "item %zu: missing \"m\" (measurement)", x->item);
    switch (mp_typeof(*p)) {
    case MP_STR: {
        uint32_t n;
        const char *s = mp_decode_str(&p, &n);
        if (!name_is_valid_measurement(s, n))
            return errbuf_set(x->eb, RC_INVALID,
                              "item %zu: invalid measurement name \"%.*s\" (must match "
                              "^[A-Za-z][A-Za-z0-9_-]*$, at most 128 characters)",
                              x->item, echo_len(s, n), s);
        memcpy(out, s, n);
        out[n] = '\0';
        return RC_OK;
    }
    case MP_UINT:
        snprintf(out, MEASUREMENT_NAME_MAX + 1, "measurement_%" PRIu64, mp_decode_uint(&p));
        return RC_OK;
    case MP_INT:
        snprintf(out, MEASUREMENT_NAME_MAX + 1, "measurement_%" PRId64, mp_decode_int(&p));
        return RC_OK;
    default:
        return errbuf_set(x->eb, RC_INVALID,
                          "item %zu: \"m\" (measurement) must be a string or an integer", x->item);
    }
}

/* Timestamps of a columnar item into b->time_us[base..]: the rows were added
 * with the receipt time; the unit is decided once, by the first value. */
static int write_time(struct ctx *x, struct batch *b, size_t base, const struct colref *r,
                      const char **endp)
{
    const char *p = r->values;
    int unit = x->o->forced_unit;
    int64_t *dst = b->time_us + base;
    for (uint32_t i = 0; i < r->n; i++) {
        /* Fast path: uint64 (how encoders send ns and us epochs) once the
         * unit is known. */
        if ((unsigned char)*p == 0xcf && unit != MPDEC_UNIT_INFER) {
            uint64_t u = be64((const unsigned char *)p + 1);
            p += 9;
            if (!u64_to_us(u, unit, &dst[i]))
                return value_error(x, "time", 4, i, ts_err_text(TS_RANGE));
            continue;
        }
        int e = ts_decode(&p, &unit, &dst[i]);
        if (e)
            return value_error(x, "time", 4, i, ts_err_text(e));
    }
    *endp = p;
    return RC_OK;
}

/* The `columns` map of a columnar item at k->columns; *endp is set past
 * it. */
static int decode_columns(struct ctx *x, const struct item_keys *k, struct mbatch *m,
                          const char **endp)
{
    int rc = RC_OK;
    struct batch *b = m->b;
    const char *p = k->columns;
    if (mp_typeof(*p) != MP_MAP)
        return errbuf_set(x->eb, RC_INVALID, "item %zu: \"columns\" must be a map", x->item);
    uint32_t ncols = mp_decode_map(&p);
    if (ncols == 0)
        return errbuf_set(x->eb, RC_INVALID, "item %zu: \"columns\" is empty", x->item);

    /* One pass over the columns in map order. The first column fixes the
     * row count; its rows are added at once with the receipt time, which
     * a `time` column (wherever it comes) then overwrites. */
    struct colref first = {0};
    size_t base = b->nrows;
    bool have_time = false;
    for (uint32_t i = 0; i < ncols; i++) {
        struct colref r;
        if (mp_typeof(*p) != MP_STR)
            return errbuf_set(x->eb, RC_INVALID,
                              "item %zu: column %" PRIu32 " of \"columns\" has a non-string name",
                              x->item, i);
        r.name = mp_decode_str(&p, &r.name_len);
        if (mp_typeof(*p) != MP_ARRAY)
            return errbuf_set(x->eb, RC_INVALID, "item %zu, column \"%.*s\": must be an array",
                              x->item, echo_len(r.name, r.name_len), r.name);
        r.n = mp_decode_array(&p);
        r.values = p;
        if (r.n == 0)
            return errbuf_set(x->eb, RC_INVALID, "item %zu, column \"%.*s\": array is empty",
                              x->item, echo_len(r.name, r.name_len), r.name);
        if (i == 0) {
            first = r;
            rc = charge(x, (size_t)r.n * (b->ncols + 1), 0);
            if (rc)
                return rc;
            for (uint32_t j = 0; j < r.n; j++)
                batch_row_add(b, x->o->default_ts_us);
            x->rows += r.n;
        } else if (r.n != first.n) {
            return errbuf_set(x->eb, RC_INVALID,
                              "item %zu, column \"%.*s\": %" PRIu32 " values, but column "
                              "\"%.*s\" has %" PRIu32 " (array length mismatch)",
                              x->item, echo_len(r.name, r.name_len), r.name, r.n,
                              echo_len(first.name, first.name_len), first.name, first.n);
        }

        if (key_is(r.name, r.name_len, "time")) {
            if (have_time)
                return errbuf_set(x->eb, RC_INVALID, "item %zu: duplicate column \"time\"",
                                  x->item);
            have_time = true;
            rc = write_time(x, b, base, &r, &p);
            if (rc)
                return rc;
            continue;
        }
        const char *why = column_name_problem(r.name, r.name_len);
        if (why)
            return errbuf_set(x->eb, RC_INVALID, "item %zu, column %" PRIu32 ": %s", x->item, i,
                              why);
        int idx = batch_col_find(b, r.name, r.name_len);
        if (idx >= 0 && m->col_last_item[idx] == x->item + 1)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: duplicate column \"%.*s\"", x->item,
                              echo_len(r.name, r.name_len), r.name);
        /* Optimistic single pass: take the type of the first non-nil value,
         * write, and only if a later value does not fit, scan the column,
         * merge its type and write again (rows are simply overwritten). */
        const unsigned char *q = (const unsigned char *)r.values;
        uint32_t lead_nils = 0;
        while (lead_nils < r.n && *q == 0xc0) {
            q++;
            lead_nils++;
        }
        struct need nd;
        const char *kind_why = NULL;
        bool fits = false;
        size_t str_bytes = 0;
        if (lead_nils == r.n) {
            /* all nil: an all-null column (STRING unless it exists) */
            memset(&nd, 0, sizeof(nd));
            nd.nil_only = true;
            nd.type = COL_STRING;
            rc = col_for(x, m, r.name, r.name_len, &nd, false, 0, &idx);
            if (rc)
                return rc;
            m->col_last_item[idx] = x->item + 1;
            p = (const char *)q;
            continue;
        }
        if (value_kind((const char *)q, &kind_why) != K_BAD) {
            need_of_value((const char *)q, &nd);
            rc = col_for(x, m, r.name, r.name_len, &nd, false, lead_nils, &idx);
            if (rc)
                return rc;
            rc = write_column(x, b, idx, base, &r, &fits, &p, &str_bytes);
            if (rc)
                return rc;
        }
        if (!fits) {
            if (!scan_column_fast(&r, &nd)) {
                rc = scan_column_slow(x, &r, &nd);
                if (rc)
                    return rc;
            }
            rc = col_for(x, m, r.name, r.name_len, &nd, false, 0, &idx);
            if (rc)
                return rc;
            rc = write_column(x, b, idx, base, &r, &fits, &p, &str_bytes);
            if (rc)
                return rc;
            if (!fits) /* the scan and the writer disagree: a bug, not input */
                return errbuf_set(x->eb, RC_INTERNAL, "item %zu, column \"%.*s\": decoder error",
                                  x->item, echo_len(r.name, r.name_len), r.name);
        }
        rc = charge(x, 0, str_bytes);
        if (rc)
            return rc;
        m->col_last_item[idx] = x->item + 1;
    }
    *endp = p;
    return RC_OK;
}

/* [Ext] declared tags of a columnar item: names of its string columns. */
static int apply_declared_tags(struct ctx *x, const struct item_keys *k, struct mbatch *m)
{
    struct batch *b = m->b;
    if (k->tags) {
        const char *p = k->tags;
        if (mp_typeof(*p) != MP_ARRAY)
            return errbuf_set(x->eb, RC_INVALID,
                              "item %zu: \"tags\" must be an array of column names", x->item);
        uint32_t nt = mp_decode_array(&p);
        for (uint32_t i = 0; i < nt; i++) {
            if (mp_typeof(*p) != MP_STR)
                return errbuf_set(x->eb, RC_INVALID,
                                  "item %zu: \"tags\" entry %" PRIu32 " is not a string", x->item,
                                  i);
            uint32_t tl;
            const char *tn = mp_decode_str(&p, &tl);
            int idx = batch_col_find(b, tn, tl);
            if (idx < 0 || m->col_last_item[idx] != x->item + 1)
                return errbuf_set(x->eb, RC_INVALID,
                                  "item %zu: tag \"%.*s\" is not a column of this item", x->item,
                                  echo_len(tn, tl), tn);
            if (b->cols[idx].type != COL_STRING)
                return errbuf_set(x->eb, RC_INVALID,
                                  "item %zu, column \"%.*s\": a tag column must hold strings, "
                                  "got %s",
                                  x->item, echo_len(tn, tl), tn, col_type_name(b->cols[idx].type));
            b->cols[idx].is_tag = true;
        }
    }
    return RC_OK;
}

/* Text form of a non-string tag value into x->sbuf; false if the value
 * has no text form (nested, binary, extension). */
static bool tag_text(struct ctx *x, const char **pp, const char **s, size_t *n)
{
    char *o = sbuf_reserve(x, 64);
    int len;
    switch (mp_typeof(**pp)) {
    case MP_UINT: len = snprintf(o, 64, "%" PRIu64, mp_decode_uint(pp)); break;
    case MP_INT: len = snprintf(o, 64, "%" PRId64, mp_decode_int(pp)); break;
    case MP_BOOL: len = snprintf(o, 64, "%s", mp_decode_bool(pp) ? "true" : "false"); break;
    case MP_FLOAT:
    case MP_DOUBLE: {
        double v = mp_typeof(**pp) == MP_FLOAT ? mp_decode_float(pp) : mp_decode_double(pp);
        /* Shortest of %.15g / %.17g that reads back as the same double. */
        len = snprintf(o, 64, "%.15g", v);
        if (isfinite(v) && strtod(o, NULL) != v)
            len = snprintf(o, 64, "%.17g", v);
        break;
    }
    default: return false;
    }
    *s = o;
    *n = (size_t)len;
    return true;
}

static int write_tag(struct ctx *x, struct mbatch *m, size_t row, const char *key, size_t kl,
                     const char *val, size_t vl)
{
    struct need nd = {.type = COL_STRING};
    int idx;
    int rc = charge(x, 0, vl);
    if (rc)
        return rc;
    /* val may live in x->sbuf, which put_str may reuse: copy it first. */
    char tmp[64];
    if (val == x->sbuf) {
        memcpy(tmp, val, vl);
        val = tmp;
    }
    rc = col_for(x, m, key, kl, &nd, true, 0, &idx);
    if (rc)
        return rc;
    m->col_tag_item[idx] = x->item + 1;
    return put_str(x, m->b, idx, row, val, vl);
}

static int write_field(struct ctx *x, struct mbatch *m, size_t row, const char *key, size_t kl,
                       const char **pp)
{
    const char *why = NULL;
    enum vkind kind = value_kind(*pp, &why);
    if (kind == K_BAD)
        return value_error(x, key, kl, 0, why);
    if (kind == K_NIL) {
        mp_next(pp);
        return RC_OK;
    }
    /* A field named like a tag of the same item is stored as <key>_value
     * (Arc behaviour, SPEC §2.3). */
    char renamed[COLUMN_NAME_MAX + 1];
    int idx = batch_col_find(m->b, key, kl);
    if (idx >= 0 && m->col_tag_item[idx] == x->item + 1) {
        if (kl + 6 > COLUMN_NAME_MAX)
            return value_error(x, key, kl, 0, "field named like a tag; <key>_value too long");
        memcpy(renamed, key, kl);
        memcpy(renamed + kl, "_value", 6);
        key = renamed;
        kl += 6;
    }
    struct need nd;
    need_of_value(*pp, &nd);
    int rc = col_for(x, m, key, kl, &nd, false, 0, &idx);
    if (rc)
        return rc;
    return write_value(x, m->b, idx, row, pp);
}

static int decode_row(struct ctx *x, const struct item_keys *k, struct mbatch *m)
{
    int rc;
    const char *p;
    if (k->fields && k->f)
        return errbuf_set(x->eb, RC_INVALID, "item %zu: both \"fields\" and \"f\" given", x->item);

    /* Timestamp: per row unit. */
    int64_t ts = x->o->default_ts_us;
    if (k->t && mp_typeof(*k->t) != MP_NIL) {
        p = k->t;
        int unit = x->o->forced_unit;
        int e = ts_decode(&p, &unit, &ts);
        if (e)
            return value_error(x, "t", 1, 0, ts_err_text(e));
    }
    size_t row;
    rc = row_add(x, m, ts, &row);
    if (rc)
        return rc;

    /* Tags (text), then the host rule. */
    bool have_host = false;
    if (k->tags) {
        p = k->tags;
        if (mp_typeof(*p) != MP_MAP)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: \"tags\" must be a map", x->item);
        uint32_t nt = mp_decode_map(&p);
        for (uint32_t i = 0; i < nt; i++) {
            if (mp_typeof(*p) != MP_STR)
                return errbuf_set(x->eb, RC_INVALID,
                                  "item %zu: tag %" PRIu32 " has a non-string name", x->item, i);
            uint32_t kl;
            const char *key = mp_decode_str(&p, &kl);
            const char *why = column_name_problem(key, kl);
            if (why)
                return errbuf_set(x->eb, RC_INVALID, "item %zu, tag %" PRIu32 ": %s", x->item, i,
                                  why);
            const char *val;
            size_t vl;
            enum mp_type t = mp_typeof(*p);
            if (t == MP_NIL) {
                mp_next(&p);
                continue;
            }
            if (t == MP_STR) {
                uint32_t sl;
                val = mp_decode_str(&p, &sl);
                vl = sl;
            } else if (!tag_text(x, &p, &val, &vl)) {
                value_kind(p, &why);
                return value_error(x, key, kl, 0, why);
            }
            if (key_is(key, kl, "host"))
                have_host = true;
            rc = write_tag(x, m, row, key, kl, val, vl);
            if (rc)
                return rc;
        }
    }
    if (!have_host) {
        const char *hv = "unknown";
        size_t hl = 7;
        char hbuf[48];
        if (k->h) {
            p = k->h;
            switch (mp_typeof(*p)) {
            case MP_NIL: break;
            case MP_STR: {
                uint32_t sl;
                hv = mp_decode_str(&p, &sl);
                hl = sl;
                break;
            }
            case MP_UINT:
                hl = (size_t)snprintf(hbuf, sizeof(hbuf), "host_%" PRIu64, mp_decode_uint(&p));
                hv = hbuf;
                break;
            case MP_INT:
                hl = (size_t)snprintf(hbuf, sizeof(hbuf), "host_%" PRId64, mp_decode_int(&p));
                hv = hbuf;
                break;
            default:
                return errbuf_set(x->eb, RC_INVALID,
                                  "item %zu: \"h\" (host) must be a string or an integer", x->item);
            }
        }
        rc = write_tag(x, m, row, "host", 4, hv, hl);
        if (rc)
            return rc;
    }

    /* Fields. */
    if (k->fields) {
        p = k->fields;
        if (mp_typeof(*p) != MP_MAP)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: \"fields\" must be a map", x->item);
        uint32_t nf = mp_decode_map(&p);
        if (nf == 0)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: \"fields\" is empty", x->item);
        for (uint32_t i = 0; i < nf; i++) {
            if (mp_typeof(*p) != MP_STR)
                return errbuf_set(x->eb, RC_INVALID,
                                  "item %zu: field %" PRIu32 " has a non-string name", x->item, i);
            uint32_t kl;
            const char *key = mp_decode_str(&p, &kl);
            const char *why = column_name_problem(key, kl);
            if (why)
                return errbuf_set(x->eb, RC_INVALID, "item %zu, field %" PRIu32 ": %s", x->item, i,
                                  why);
            rc = write_field(x, m, row, key, kl, &p);
            if (rc)
                return rc;
        }
    } else {
        p = k->f;
        if (mp_typeof(*p) != MP_ARRAY)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: \"f\" must be an array", x->item);
        uint32_t nf = mp_decode_array(&p);
        if (nf == 0)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: \"f\" is empty", x->item);
        for (uint32_t i = 0; i < nf; i++) {
            char name[32];
            int nl = snprintf(name, sizeof(name), "field_%" PRIu32, i);
            rc = write_field(x, m, row, name, (size_t)nl, &p);
            if (rc)
                return rc;
        }
    }
    return RC_OK;
}

static int decode_items(struct ctx *x, const char *p, const char **endp);

/*
 * A map at p: an item, or (top level only) the {"batch": [items]} wrapper.
 * *endp is set past the map.
 */
static int decode_map(struct ctx *x, const char *p, bool top, const char **endp)
{
    struct item_keys k;
    memset(&k, 0, sizeof(k));
    if (mp_typeof(*p) != MP_MAP)
        return errbuf_set(x->eb, RC_INVALID, "item %zu: not a map", x->item);
    uint32_t left = mp_decode_map(&p);
    int stopped;
    int rc = keys_read(x, &p, &left, &k, true, &stopped);
    if (rc)
        return rc;
    const char *columns_end = NULL;
    struct mbatch *m = NULL;
    char mname[MEASUREMENT_NAME_MAX + 1];
    if (stopped == STOP_BATCH) {
        /* {"batch": [items]}: decoded in place; no item keys allowed. */
        if (!top || k.m || k.fields || k.f)
            return errbuf_set(x->eb, RC_INVALID,
                              "item %zu: \"batch\" wrapper mixed with item keys or nested",
                              x->item);
        if (mp_typeof(*p) != MP_ARRAY)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: \"batch\" must be an array", x->item);
        if ((rc = decode_items(x, p, &p)))
            return rc;
        if ((rc = keys_read(x, &p, &left, &k, false, &stopped)))
            return rc;
        if (k.m || k.columns || k.fields || k.f)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: \"batch\" wrapper mixed with item keys",
                              x->item);
        *endp = p;
        return RC_OK;
    }
    if (stopped == STOP_COLUMNS) {
        /* Stopped at `columns`. Decode them now if the measurement is known
         * (keys in the usual order); otherwise skip them, read the rest,
         * and come back (one more pass over the data). */
        if (k.m && !k.batch && !k.fields && !k.f) {
            if ((rc = item_measurement(x, k.m, mname)))
                return rc;
            m = batch_for(x, mname);
            mbatch_side_grow(m);
            if ((rc = decode_columns(x, &k, m, &columns_end)))
                return rc;
            p = columns_end;
        } else {
            mp_next(&p);
        }
        if ((rc = keys_read(x, &p, &left, &k, false, &stopped)))
            return rc;
    }
    *endp = p;

    if (k.batch)
        return errbuf_set(x->eb, RC_INVALID,
                          "item %zu: \"batch\" wrapper mixed with item keys or nested", x->item);
    if (k.columns && (k.fields || k.f))
        return errbuf_set(x->eb, RC_INVALID, "item %zu: has both \"columns\" and \"fields\"/\"f\"",
                          x->item);
    if (!k.columns && !k.fields && !k.f)
        return errbuf_set(x->eb, RC_INVALID,
                          "item %zu: missing \"columns\" (columnar) or \"fields\"/\"f\" (row)",
                          x->item);
    if (!m) {
        if ((rc = item_measurement(x, k.m, mname)))
            return rc;
        m = batch_for(x, mname);
        mbatch_side_grow(m);
        if (k.columns && (rc = decode_columns(x, &k, m, &columns_end)))
            return rc;
    }
    rc = k.columns ? apply_declared_tags(x, &k, m) : decode_row(x, &k, m);
    if (rc)
        return rc;
    x->items++;
    x->item++;
    return RC_OK;
}

/* An array of items at p; *endp is set past it. */
static int decode_items(struct ctx *x, const char *p, const char **endp)
{
    uint32_t n = mp_decode_array(&p);
    for (uint32_t i = 0; i < n; i++) {
        if (mp_typeof(*p) != MP_MAP)
            return errbuf_set(x->eb, RC_INVALID, "item %zu: not a map", x->item);
        int rc = decode_map(x, p, false, &p);
        if (rc)
            return rc;
    }
    *endp = p;
    return RC_OK;
}

/* One top-level object: an item, {"batch": [items]} or [items]. */
static int decode_top(struct ctx *x, const char *p, size_t top, const char **endp)
{
    if (mp_typeof(*p) == MP_ARRAY)
        return decode_items(x, p, endp);
    if (mp_typeof(*p) == MP_MAP)
        return decode_map(x, p, true, endp);
    return errbuf_set(x->eb, RC_INVALID, "top-level object %zu is not a map or an array of items",
                      top);
}

/* ---------------------------------------------------------------------
 * Catalog check
 * ------------------------------------------------------------------ */

static int check_schema(struct ctx *x)
{
    const struct schema_checker *sc = &x->o->schema;
    if (!sc->check)
        return RC_OK;
    for (size_t i = 0; i < x->nmb; i++) {
        struct mbatch *m = &x->mb[i];
        struct batch *b = m->b;
        for (size_t j = 0; j < b->ncols; j++) {
            struct batch_col *c = &b->cols[j];
            enum col_type existing = c->type;
            int rc =
                sc->check(sc->ctx, b->db, b->measurement, c->name, c->name_len, c->type, &existing);
            if (rc == RC_OK)
                continue;
            if (rc != RC_INVALID)
                return errbuf_set(x->eb, rc,
                                  "schema check failed for measurement \"%s\" column "
                                  "\"%.*s\": %s",
                                  b->measurement, echo_len(c->name, c->name_len), c->name,
                                  rc_name(rc));
            if (!col_type_valid((int)existing) || existing == c->type)
                return errbuf_set(x->eb, RC_INVALID,
                                  "measurement \"%s\": column \"%.*s\" rejected by the schema",
                                  b->measurement, echo_len(c->name, c->name_len), c->name);
            bool has = col_has_values(b, c);
            if (!has && !(c->is_tag && existing != COL_STRING)) {
                col_retype_empty(b, c, existing);
                continue;
            }
            if (existing == COL_DOUBLE && (c->type == COL_INT64 || c->type == COL_UINT64) &&
                col_ints_exact(b, c)) {
                col_to_double(b, c); /* §2.3 widening */
                continue;
            }
            if (existing == COL_UINT64 && c->type == COL_INT64 && !col_has_negative(b, c)) {
                c->type = COL_UINT64; /* [Ext] non-negative integers into UINT64 */
                continue;
            }
            return errbuf_set(x->eb, RC_INVALID,
                              "item %zu: field type conflict: field \"%.*s\" is %s, got %s",
                              m->col_first_item[j], echo_len(c->name, c->name_len), c->name,
                              col_type_name(existing), col_type_name(c->type));
        }
    }
    return RC_OK;
}

/* ---------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------ */

static void ctx_cleanup(struct ctx *x, bool free_batches)
{
    for (size_t i = 0; i < x->nmb; i++) {
        if (free_batches)
            batch_unref(&x->mb[i].b);
        xfree(x->mb[i].col_last_item);
        xfree(x->mb[i].col_tag_item);
        xfree(x->mb[i].col_first_item);
    }
    xfree(x->mb);
    xfree(x->mhash);
    xfree(x->sbuf);
}

int mpdec_decode(const char *body, size_t len, const struct mpdec_options *o,
                 struct mpdec_result *out, struct errbuf *eb)
{
    int rc = RC_OK;
    struct ctx x;
    memset(&x, 0, sizeof(x));
    memset(out, 0, sizeof(*out));
    x.o = o;
    x.eb = eb;
    x.body_end = body + len;
    x.mem_limit = o->max_mem_bytes;
    if (!x.mem_limit)
        x.mem_limit = len > (SIZE_MAX - DEFAULT_MEM_SLACK) / DEFAULT_MEM_FACTOR
                          ? SIZE_MAX
                          : len * DEFAULT_MEM_FACTOR + DEFAULT_MEM_SLACK;

    if (len == 0) {
        rc = errbuf_set(eb, RC_PARSE, "empty MessagePack body");
        goto out;
    }
    if (o->forced_unit < MPDEC_UNIT_INFER || o->forced_unit > MPDEC_UNIT_NS) {
        rc = errbuf_set(eb, RC_INVALID, "invalid timestamp unit %d", o->forced_unit);
        goto out;
    }

    /* Validate everything first, so no decode below can read past the end. */
    const unsigned char *u = (const unsigned char *)body, *uend = u + len;
    size_t ntop = 0;
    while (u < uend) {
        const unsigned char *bad = NULL;
        if (!scan_object(&u, uend, &bad)) {
            rc = errbuf_set(eb, RC_PARSE, "malformed MessagePack at byte %zu",
                            (size_t)(bad - (const unsigned char *)body));
            goto out;
        }
        ntop++;
    }

    const char *p = body;
    for (size_t t = 0; t < ntop; t++) {
        rc = decode_top(&x, p, t, &p);
        if (rc)
            goto out;
    }
    rc = check_schema(&x);
    if (rc)
        goto out;

    /* Ownership of the batches moves to the caller here. */
    if (x.nmb) {
        out->batches = xmalloc(x.nmb * sizeof(struct batch *));
        for (size_t i = 0; i < x.nmb; i++) {
            batch_seal(x.mb[i].b);
            out->batches[i] = x.mb[i].b;
        }
    }
    out->nbatches = x.nmb;
    out->items = x.items;
    out->rows = x.rows;
out:
    ctx_cleanup(&x, rc != RC_OK);
    return rc;
}

void mpdec_result_cleanup(struct mpdec_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nbatches; i++)
        batch_unref(&r->batches[i]);
    xfree(r->batches);
    memset(r, 0, sizeof(*r));
}
