/*
 * query/encode_arrow.c — Apache Arrow IPC *stream* writer (SPEC §4.6).
 *
 * DuckDB exports each data chunk through the Arrow C data interface
 * (duckdb_to_arrow_schema, duckdb_data_chunk_to_arrow); this file writes the
 * IPC framing itself, with a small hand-written flatbuffer builder for the
 * Schema.fbs / Message.fbs metadata. Stream layout:
 *
 *   message  = 0xFFFFFFFF | int32 metadata length M | flatbuffer Message,
 *              zero-padded so that 8 + M is a multiple of 8 | body
 *   body     = the buffers of a record batch, each starting at a multiple
 *              of 8 (zero padding between), offsets relative to body start
 *   stream   = Schema message (no body), RecordBatch message per non-empty
 *              chunk, then the end-of-stream marker 0xFFFFFFFF 00000000
 *
 * One record batch per DuckDB chunk, so memory stays at about one chunk.
 *
 * Type mapping (docs/query-encoding.md): DuckDB's export, except
 *   DECIMAL            -> float64 (SPEC SHOULD; many readers lack decimal128)
 *   TIMESTAMPTZ        -> timestamp[unit, tz="UTC"] (DuckDB writes its
 *                         TimeZone setting; the values are UTC anyway)
 *   ENUM               -> utf8 (the dictionary is materialised, so the stream
 *                         needs no DictionaryBatch messages)
 *   INTERVAL, UHUGEINT, UNION, TIME_TZ, BIT, BIGNUM -> utf8 text as in JSON;
 *                         a nested column that contains one of them is sent
 *                         whole as utf8 JSON text
 *   HUGEINT            -> decimal128(38, 0), as DuckDB exports it.
 * Buffers are passed through from DuckDB's arrays wherever the layout
 * already matches; conversions go to scratch memory freed after each batch.
 *
 * Threads: the encoder's owner.
 */
#include "query/encode_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

/* ---- Arrow C data interface (ABI from the Arrow specification) -------- */

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE
#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};
#endif

/* ---- flatbuffer builder ------------------------------------------------
 * Built back to front like the reference implementation: objects are
 * prepended, an object's "offset" is the buffer size right after it was
 * written (its distance from the end), and a reference stored at a later
 * (lower) address is the forward distance to it. Tables record their
 * fields, then get a vtable written just below them. */

#define FB_MAX_FIELDS 8

struct fb {
    uint8_t *buf; /* data lives in buf[cap - size, cap) */
    size_t cap, size, minalign;
    size_t table_start;
    struct {
        uint16_t id;
        uint32_t off;
    } fields[FB_MAX_FIELDS];
    size_t nfields;
};

static void fb_init(struct fb *b)
{
    memset(b, 0, sizeof(*b));
    b->cap = 1024;
    b->buf = xmalloc(b->cap);
    b->minalign = 1;
}

static void fb_cleanup(struct fb *b)
{
    xfree(b->buf);
    b->buf = NULL;
}

static void fb_reserve(struct fb *b, size_t n)
{
    if (b->cap - b->size >= n)
        return;
    size_t ncap = b->cap;
    while (ncap - b->size < n)
        ncap *= 2;
    uint8_t *nb = xmalloc(ncap);
    memcpy(nb + ncap - b->size, b->buf + b->cap - b->size, b->size);
    xfree(b->buf);
    b->buf = nb;
    b->cap = ncap;
}

static void fb_push(struct fb *b, const void *p, size_t n)
{
    fb_reserve(b, n);
    b->size += n;
    memcpy(b->buf + b->cap - b->size, p, n);
}

static void fb_zeros(struct fb *b, size_t n)
{
    fb_reserve(b, n);
    b->size += n;
    memset(b->buf + b->cap - b->size, 0, n);
}

/* Pads so that after `additional` more bytes the size is a multiple of
 * align (a power of two). */
static void fb_prep(struct fb *b, size_t align, size_t additional)
{
    if (align > b->minalign)
        b->minalign = align;
    size_t pad = (0 - (b->size + additional)) & (align - 1);
    fb_zeros(b, pad);
}

static void fb_scalar(struct fb *b, const void *p, size_t n)
{
    fb_prep(b, n, 0);
    fb_push(b, p, n);
}

static uint32_t fb_ref(struct fb *b, uint32_t target)
{
    /* The reference will sit at offset size + 4; the target is closer to
     * the end, i.e. at a higher address. */
    return (uint32_t)(b->size + 4 - target);
}

static uint32_t fb_string(struct fb *b, const char *s)
{
    size_t n = strlen(s);
    fb_prep(b, 4, n + 1);
    fb_zeros(b, 1);
    fb_push(b, s, n);
    uint32_t len = (uint32_t)n;
    fb_push(b, &len, 4);
    return (uint32_t)b->size;
}

static uint32_t fb_vec_refs(struct fb *b, const uint32_t *refs, size_t n)
{
    fb_prep(b, 4, 4 * n);
    for (size_t i = n; i-- > 0;) {
        uint32_t rel = fb_ref(b, refs[i]);
        fb_push(b, &rel, 4);
    }
    uint32_t len = (uint32_t)n;
    fb_push(b, &len, 4);
    return (uint32_t)b->size;
}

/* Vector of n structs of two int64 each (FieldNode, Buffer). */
static uint32_t fb_vec_pairs(struct fb *b, const int64_t (*pairs)[2], size_t n)
{
    fb_prep(b, 4, 16 * n);
    fb_prep(b, 8, 16 * n);
    for (size_t i = n; i-- > 0;)
        fb_push(b, pairs[i], 16);
    uint32_t len = (uint32_t)n;
    fb_push(b, &len, 4);
    return (uint32_t)b->size;
}

static void fb_start(struct fb *b)
{
    b->table_start = b->size;
    b->nfields = 0;
}

static void fb_field_here(struct fb *b, uint16_t id)
{
    b->fields[b->nfields].id = id;
    b->fields[b->nfields].off = (uint32_t)b->size;
    b->nfields++;
}

static void fb_add_u8(struct fb *b, uint16_t id, uint8_t v)
{
    fb_scalar(b, &v, 1);
    fb_field_here(b, id);
}

static void fb_add_i16(struct fb *b, uint16_t id, int16_t v)
{
    fb_scalar(b, &v, 2);
    fb_field_here(b, id);
}

static void fb_add_i32(struct fb *b, uint16_t id, int32_t v)
{
    fb_scalar(b, &v, 4);
    fb_field_here(b, id);
}

static void fb_add_i64(struct fb *b, uint16_t id, int64_t v)
{
    fb_scalar(b, &v, 8);
    fb_field_here(b, id);
}

static void fb_add_ref(struct fb *b, uint16_t id, uint32_t target)
{
    fb_prep(b, 4, 0);
    uint32_t rel = fb_ref(b, target);
    fb_push(b, &rel, 4);
    fb_field_here(b, id);
}

static uint32_t fb_end(struct fb *b)
{
    fb_prep(b, 4, 0);
    int32_t placeholder = 0;
    fb_push(b, &placeholder, 4);
    uint32_t table_off = (uint32_t)b->size;
    int max_id = -1;
    for (size_t i = 0; i < b->nfields; i++)
        if (b->fields[i].id > max_id)
            max_id = b->fields[i].id;
    uint16_t slots[FB_MAX_FIELDS] = {0};
    for (size_t i = 0; i < b->nfields; i++)
        slots[b->fields[i].id] = (uint16_t)(table_off - b->fields[i].off);
    for (int id = max_id; id >= 0; id--)
        fb_push(b, &slots[id], 2);
    uint16_t obj_size = (uint16_t)(table_off - b->table_start);
    uint16_t vt_size = (uint16_t)(4 + 2 * (max_id + 1));
    fb_push(b, &obj_size, 2);
    fb_push(b, &vt_size, 2);
    int32_t soff = (int32_t)(b->size - table_off);
    memcpy(b->buf + b->cap - table_off, &soff, 4);
    b->nfields = 0;
    return table_off;
}

/* Finishes with root table `root`; returns the bytes (inside b). */
static const uint8_t *fb_finish(struct fb *b, uint32_t root, size_t *len)
{
    fb_prep(b, b->minalign, 4);
    uint32_t rel = fb_ref(b, root);
    fb_push(b, &rel, 4);
    *len = b->size;
    return b->buf + b->cap - b->size;
}

/* ---- Arrow metadata enums (Schema.fbs, Message.fbs) ---------------------- */

enum {
    T_NULL = 1,
    T_INT = 2,
    T_FLOAT = 3,
    T_BINARY = 4,
    T_UTF8 = 5,
    T_BOOL = 6,
    T_DECIMAL = 7,
    T_DATE = 8,
    T_TIME = 9,
    T_TIMESTAMP = 10,
    T_INTERVAL = 11,
    T_LIST = 12,
    T_STRUCT = 13,
    T_FIXED_BINARY = 15,
    T_FIXED_LIST = 16,
    T_MAP = 17,
    T_DURATION = 18,
    T_LARGE_BINARY = 19,
    T_LARGE_UTF8 = 20,
    T_LARGE_LIST = 21,
};
enum { MSG_SCHEMA = 1, MSG_RECORD_BATCH = 3 };
#define METADATA_V5 4

/* ---- the plan: one node per Arrow field --------------------------------- */

enum anode_kind {
    AK_NULL,       /* no buffers */
    AK_BOOL,       /* validity, bit-packed values */
    AK_FIXED,      /* validity, width-byte values */
    AK_DEC_F64,    /* validity, values converted from decimal<src_bits> to float64 */
    AK_VARBIN,     /* validity, offsets (4 or 8 bytes), data */
    AK_DICT_UTF8,  /* validity, int32 offsets, data materialised from a dictionary */
    AK_TEXT,       /* validity, int32 offsets, data rendered from the DuckDB vector */
    AK_LIST,       /* validity, offsets; child */
    AK_FIXED_LIST, /* validity; child */
    AK_STRUCT,     /* validity; children (also the entries of a map) */
};

struct anode {
    enum anode_kind kind;
    const char *name; /* borrowed from the ArrowSchema or the column names */
    bool nullable;
    /* the Arrow type written to the schema */
    uint8_t type;       /* T_* */
    int32_t p1, p2, p3; /* type parameters (see write_type) */
    const char *tz;     /* Timestamp timezone, NULL = naive */
    /* layout */
    size_t width;        /* AK_FIXED: bytes per value */
    size_t offset_width; /* AK_VARBIN, AK_LIST: 4 or 8 */
    int src_bits;        /* AK_DEC_F64: source decimal width; AK_DICT_UTF8: index bytes */
    bool src_signed;     /* AK_DICT_UTF8: signed index */
    int dec_scale;       /* AK_DEC_F64 */
    int64_t list_size;   /* AK_FIXED_LIST */
    bool dict_large;     /* AK_DICT_UTF8: dictionary has 64-bit offsets */
    size_t col;          /* AK_TEXT: top-level column index */
    struct anode **child;
    size_t nchild;
};

static void anode_free(struct anode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nchild; i++)
        anode_free(n->child[i]);
    xfree(n->child);
    xfree(n);
}

/* Types the IPC writer sends as text, wherever they appear. */
static bool needs_text(const struct qenc_tinfo *ti)
{
    switch (ti->id) {
    case DUCKDB_TYPE_INTERVAL:
    case DUCKDB_TYPE_UHUGEINT:
    case DUCKDB_TYPE_UNION:
    case DUCKDB_TYPE_TIME_TZ:
    case DUCKDB_TYPE_BIT:
    case DUCKDB_TYPE_BIGNUM: return true;
    default: break;
    }
    for (idx_t i = 0; i < ti->nchild; i++)
        if (needs_text(ti->child[i]))
            return true;
    return false;
}

static struct anode *anode_new(enum anode_kind kind, const struct ArrowSchema *s)
{
    struct anode *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->name = s && s->name ? s->name : "";
    n->nullable = s ? (s->flags & ARROW_FLAG_NULLABLE) != 0 : true;
    return n;
}

static int parse_unit(char c)
{
    switch (c) {
    case 's': return 0;
    case 'm': return 1;
    case 'u': return 2;
    case 'n': return 3;
    default: return -1;
    }
}

/* Builds the node for Arrow field s whose DuckDB type is ti. NULL if the
 * format is one this writer does not handle (the caller then sends the
 * top-level column as text). */
static struct anode *plan_node(const struct ArrowSchema *s, const struct qenc_tinfo *ti)
{
    const char *f = s->format;
    struct anode *n = NULL;

    if (s->dictionary) {
        /* Dictionary-encoded (ENUM): indices of an integer format, utf8 values. */
        const char *df = s->dictionary->format;
        if (strcmp(df, "u") != 0 && strcmp(df, "U") != 0)
            return NULL;
        static const char idx_fmt[] = "cCsSiIlL";
        const char *p = strchr(idx_fmt, f[0]);
        if (!p || f[0] == '\0' || f[1] != '\0')
            return NULL;
        n = anode_new(AK_DICT_UTF8, s);
        n->type = T_UTF8;
        n->src_bits = 1 << ((p - idx_fmt) / 2); /* bytes per index */
        n->src_signed = ((p - idx_fmt) % 2) == 0;
        n->dict_large = df[0] == 'U';
        return n;
    }

    if (f[0] != '\0' && f[1] == '\0') {
        static const struct {
            char c;
            uint8_t type;
            int32_t bits;
            bool is_signed;
        } ints[] = {{'c', T_INT, 8, true},    {'C', T_INT, 8, false},  {'s', T_INT, 16, true},
                    {'S', T_INT, 16, false},  {'i', T_INT, 32, true},  {'I', T_INT, 32, false},
                    {'l', T_INT, 64, true},   {'L', T_INT, 64, false}, {'e', T_FLOAT, 16, true},
                    {'f', T_FLOAT, 32, true}, {'g', T_FLOAT, 64, true}};
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
            if (ints[i].c != f[0])
                continue;
            n = anode_new(AK_FIXED, s);
            n->type = ints[i].type;
            n->width = (size_t)ints[i].bits / 8;
            if (n->type == T_INT) {
                n->p1 = ints[i].bits;
                n->p2 = ints[i].is_signed;
            } else {
                n->p1 = ints[i].bits == 16 ? 0 : ints[i].bits == 32 ? 1 : 2; /* Precision */
            }
            return n;
        }
        switch (f[0]) {
        case 'n':
            n = anode_new(AK_NULL, s);
            n->type = T_NULL;
            return n;
        case 'b':
            n = anode_new(AK_BOOL, s);
            n->type = T_BOOL;
            return n;
        case 'u':
        case 'z':
        case 'U':
        case 'Z':
            n = anode_new(AK_VARBIN, s);
            n->type = f[0] == 'u'   ? T_UTF8
                      : f[0] == 'z' ? T_BINARY
                      : f[0] == 'U' ? T_LARGE_UTF8
                                    : T_LARGE_BINARY;
            n->offset_width = (f[0] == 'u' || f[0] == 'z') ? 4 : 8;
            return n;
        default: return NULL;
        }
    }

    if (f[0] == 'd' && f[1] == ':') {
        /* d:precision,scale[,bits] */
        int prec = 0, scale = 0, bits = 128;
        if (sscanf(f + 2, "%d,%d,%d", &prec, &scale, &bits) < 2)
            return NULL;
        if (bits != 32 && bits != 64 && bits != 128)
            return NULL;
        if (ti && ti->id == DUCKDB_TYPE_DECIMAL) {
            n = anode_new(AK_DEC_F64, s);
            n->type = T_FLOAT;
            n->p1 = 2; /* DOUBLE */
            n->src_bits = bits;
            n->dec_scale = scale;
            return n;
        }
        if (bits != 128)
            return NULL;
        n = anode_new(AK_FIXED, s); /* HUGEINT: decimal128(38, 0) as exported */
        n->type = T_DECIMAL;
        n->width = 16;
        n->p1 = prec;
        n->p2 = scale;
        n->p3 = 128;
        return n;
    }
    if (f[0] == 'w' && f[1] == ':') {
        long w = strtol(f + 2, NULL, 10);
        if (w <= 0 || w > INT32_MAX)
            return NULL;
        n = anode_new(AK_FIXED, s);
        n->type = T_FIXED_BINARY;
        n->width = (size_t)w;
        n->p1 = (int32_t)w;
        return n;
    }
    if (f[0] == 't') {
        if (f[1] == 'd' && (f[2] == 'D' || f[2] == 'm') && f[3] == '\0') {
            n = anode_new(AK_FIXED, s);
            n->type = T_DATE;
            n->width = f[2] == 'D' ? 4 : 8;
            n->p1 = f[2] == 'D' ? 0 : 1;
            return n;
        }
        if (f[1] == 't' && parse_unit(f[2]) >= 0 && f[3] == '\0') {
            int unit = parse_unit(f[2]);
            n = anode_new(AK_FIXED, s);
            n->type = T_TIME;
            n->width = unit <= 1 ? 4 : 8;
            n->p1 = unit;
            n->p2 = unit <= 1 ? 32 : 64;
            return n;
        }
        if (f[1] == 's' && parse_unit(f[2]) >= 0 && f[3] == ':') {
            n = anode_new(AK_FIXED, s);
            n->type = T_TIMESTAMP;
            n->width = 8;
            n->p1 = parse_unit(f[2]);
            /* Any zone DuckDB names is its TimeZone setting; the values are
             * UTC instants, and SPEC §4.6 wants tz=UTC. */
            n->tz = f[4] != '\0' || (ti && ti->id == DUCKDB_TYPE_TIMESTAMP_TZ) ? "UTC" : NULL;
            return n;
        }
        if (f[1] == 'D' && parse_unit(f[2]) >= 0 && f[3] == '\0') {
            n = anode_new(AK_FIXED, s);
            n->type = T_DURATION;
            n->width = 8;
            n->p1 = parse_unit(f[2]);
            return n;
        }
        return NULL;
    }
    if (f[0] != '+')
        return NULL;

    /* Nested: children must line up with the DuckDB type's. */
    const struct qenc_tinfo *kids[2] = {NULL, NULL};
    if (f[1] == 'l' || f[1] == 'L') {
        if (f[2] != '\0' || s->n_children != 1)
            return NULL;
        n = anode_new(AK_LIST, s);
        n->type = f[1] == 'l' ? T_LIST : T_LARGE_LIST;
        n->offset_width = f[1] == 'l' ? 4 : 8;
        kids[0] = ti && ti->nchild >= 1 ? ti->child[0] : NULL;
    } else if (f[1] == 'w' && f[2] == ':') {
        long sz = strtol(f + 3, NULL, 10);
        if (sz < 0 || sz > INT32_MAX || s->n_children != 1)
            return NULL;
        n = anode_new(AK_FIXED_LIST, s);
        n->type = T_FIXED_LIST;
        n->list_size = sz;
        n->p1 = (int32_t)sz;
        kids[0] = ti && ti->nchild >= 1 ? ti->child[0] : NULL;
    } else if (f[1] == 'm' && f[2] == '\0') {
        if (s->n_children != 1 || strcmp(s->children[0]->format, "+s") != 0 ||
            s->children[0]->n_children != 2)
            return NULL;
        n = anode_new(AK_LIST, s);
        n->type = T_MAP;
        n->offset_width = 4;
        n->p1 = (s->flags & ARROW_FLAG_MAP_KEYS_SORTED) != 0;
        /* The entries struct pairs with the map's key and value types. */
        struct anode *entries = anode_new(AK_STRUCT, s->children[0]);
        entries->type = T_STRUCT;
        entries->nullable = false;
        entries->nchild = 2;
        entries->child = xcalloc(2, sizeof(*entries->child));
        for (int i = 0; i < 2; i++) {
            const struct qenc_tinfo *kt = ti && ti->nchild == 2 ? ti->child[i] : NULL;
            entries->child[i] = plan_node(s->children[0]->children[i], kt);
            if (!entries->child[i]) {
                anode_free(entries);
                anode_free(n);
                return NULL;
            }
        }
        entries->child[0]->nullable = false;
        n->nchild = 1;
        n->child = xcalloc(1, sizeof(*n->child));
        n->child[0] = entries;
        return n;
    } else if (f[1] == 's' && f[2] == '\0') {
        if (ti && ti->nchild != (idx_t)s->n_children)
            return NULL;
        n = anode_new(AK_STRUCT, s);
        n->type = T_STRUCT;
    } else {
        return NULL; /* unions, run-end encoded, list views */
    }
    n->nchild = (size_t)s->n_children;
    n->child = xcalloc(n->nchild ? n->nchild : 1, sizeof(*n->child));
    for (size_t i = 0; i < n->nchild; i++) {
        const struct qenc_tinfo *ct = n->kind == AK_STRUCT ? (ti ? ti->child[i] : NULL) : kids[0];
        n->child[i] = plan_node(s->children[i], ct);
        if (!n->child[i]) {
            anode_free(n);
            return NULL;
        }
    }
    return n;
}

static struct anode *text_node(const char *name, size_t col)
{
    struct anode *n = anode_new(AK_TEXT, NULL);
    n->name = name;
    n->type = T_UTF8;
    n->col = col;
    return n;
}

/* ---- schema message -------------------------------------------------- */

static uint32_t write_type(struct fb *b, const struct anode *n)
{
    uint32_t tz = n->type == T_TIMESTAMP && n->tz ? fb_string(b, n->tz) : 0;
    fb_start(b);
    switch (n->type) {
    case T_INT:
        fb_add_i32(b, 0, n->p1);
        fb_add_u8(b, 1, (uint8_t)n->p2);
        break;
    case T_FLOAT: fb_add_i16(b, 0, (int16_t)n->p1); break;
    case T_DECIMAL:
        fb_add_i32(b, 0, n->p1);
        fb_add_i32(b, 1, n->p2);
        fb_add_i32(b, 2, n->p3);
        break;
    case T_DATE: fb_add_i16(b, 0, (int16_t)n->p1); break;
    case T_TIME:
        fb_add_i32(b, 1, n->p2);
        fb_add_i16(b, 0, (int16_t)n->p1);
        break;
    case T_TIMESTAMP:
        if (tz)
            fb_add_ref(b, 1, tz);
        fb_add_i16(b, 0, (int16_t)n->p1);
        break;
    case T_DURATION: fb_add_i16(b, 0, (int16_t)n->p1); break;
    case T_FIXED_BINARY:
    case T_FIXED_LIST: fb_add_i32(b, 0, n->p1); break;
    case T_MAP: fb_add_u8(b, 0, (uint8_t)n->p1); break;
    default: break; /* Null, Utf8, Binary, Bool, List, Struct_, Large*: empty tables */
    }
    return fb_end(b);
}

static uint32_t write_field(struct fb *b, const struct anode *n)
{
    uint32_t *kids = xcalloc(n->nchild ? n->nchild : 1, sizeof(uint32_t));
    for (size_t i = 0; i < n->nchild; i++)
        kids[i] = write_field(b, n->child[i]);
    uint32_t children = fb_vec_refs(b, kids, n->nchild);
    xfree(kids);
    uint32_t type = write_type(b, n);
    uint32_t name = fb_string(b, n->name);
    fb_start(b);
    fb_add_ref(b, 0, name);
    fb_add_ref(b, 3, type);
    fb_add_ref(b, 5, children);
    fb_add_u8(b, 1, n->nullable);
    fb_add_u8(b, 2, n->type);
    return fb_end(b);
}

/* Appends one encapsulated message: continuation marker, length, the
 * flatbuffer padded to 8. The body (if any) is appended by the caller. */
static int append_message(struct strbuf *out, const uint8_t *meta, size_t len)
{
    size_t padded = (len + 7) & ~(size_t)7;
    int rc = strbuf_reserve(out, 8 + padded);
    if (rc)
        return rc;
    uint32_t cont = 0xFFFFFFFFu;
    int32_t mlen = (int32_t)padded;
    memcpy(out->data + out->len, &cont, 4);
    memcpy(out->data + out->len + 4, &mlen, 4);
    memcpy(out->data + out->len + 8, meta, len);
    memset(out->data + out->len + 8 + len, 0, padded - len);
    out->len += 8 + padded;
    out->data[out->len] = '\0';
    return RC_OK;
}

/* Message table around a header table. */
static const uint8_t *finish_message(struct fb *b, uint8_t header_type, uint32_t header,
                                     int64_t body_len, size_t *len)
{
    fb_start(b);
    fb_add_i64(b, 3, body_len);
    fb_add_ref(b, 2, header);
    fb_add_i16(b, 0, METADATA_V5);
    fb_add_u8(b, 1, header_type);
    uint32_t msg = fb_end(b);
    return fb_finish(b, msg, len);
}

/* ---- encoder state ----------------------------------------------------- */

struct body_buf {
    const void *p;
    size_t len;
};

struct arrow_state {
    struct anode **cols; /* per column */
    size_t ncols;
    /* per batch, reused */
    int64_t (*nodes)[2];
    size_t nnodes, cap_nodes;
    struct body_buf *bufs;
    size_t nbufs, cap_bufs;
    void **scratch; /* converted buffers of the current batch */
    size_t nscratch, cap_scratch;
    struct strbuf text; /* AK_TEXT data of the current batch */
    struct strbuf cell;
    duckdb_data_chunk chunk; /* current chunk (AK_TEXT reads it) */
    struct qenc *e;
};

static void *scratch_alloc(struct arrow_state *st, size_t n)
{
    if (st->nscratch == st->cap_scratch) {
        st->cap_scratch = st->cap_scratch ? st->cap_scratch * 2 : 16;
        st->scratch = xrealloc(st->scratch, st->cap_scratch * sizeof(void *));
    }
    void *p = xcalloc(1, n ? n : 1);
    st->scratch[st->nscratch++] = p;
    return p;
}

static void scratch_release(struct arrow_state *st)
{
    for (size_t i = 0; i < st->nscratch; i++)
        xfree(st->scratch[i]);
    st->nscratch = 0;
}

static void add_node(struct arrow_state *st, int64_t length, int64_t nulls)
{
    if (st->nnodes == st->cap_nodes) {
        st->cap_nodes = st->cap_nodes ? st->cap_nodes * 2 : 16;
        st->nodes = xrealloc(st->nodes, st->cap_nodes * sizeof(*st->nodes));
    }
    st->nodes[st->nnodes][0] = length;
    st->nodes[st->nnodes][1] = nulls;
    st->nnodes++;
}

static void add_buf(struct arrow_state *st, const void *p, size_t len)
{
    if (st->nbufs == st->cap_bufs) {
        st->cap_bufs = st->cap_bufs ? st->cap_bufs * 2 : 32;
        st->bufs = xrealloc(st->bufs, st->cap_bufs * sizeof(*st->bufs));
    }
    st->bufs[st->nbufs].p = p;
    st->bufs[st->nbufs].len = len;
    st->nbufs++;
}

static void arrow_free(struct qenc *e)
{
    struct arrow_state *st = e->state;
    if (!st)
        return;
    for (size_t i = 0; i < st->ncols; i++)
        anode_free(st->cols[i]);
    xfree(st->cols);
    scratch_release(st);
    xfree(st->scratch);
    xfree(st->nodes);
    xfree(st->bufs);
    strbuf_cleanup(&st->text);
    strbuf_cleanup(&st->cell);
    xfree(st);
    e->state = NULL;
}

static int arrow_begin(struct qenc *e, struct errbuf *eb)
{
    struct arrow_state *st = xcalloc(1, sizeof(*st));
    e->state = st;
    st->e = e;
    st->ncols = (size_t)e->ncols;
    st->cols = xcalloc(st->ncols ? st->ncols : 1, sizeof(*st->cols));
    strbuf_init(&st->text, e->o.max_buffer_bytes);
    strbuf_init(&st->cell, e->o.max_buffer_bytes);

    struct ArrowSchema schema;
    memset(&schema, 0, sizeof(schema));
    bool have_schema = false;
    int rc = RC_OK;
    if (st->ncols > 0) {
        if (!e->o.arrow_options)
            return errbuf_set(eb, RC_INTERNAL, "Arrow output needs the result's arrow options");
        duckdb_error_data err =
            duckdb_to_arrow_schema(e->o.arrow_options, (duckdb_logical_type *)e->types,
                                   (const char **)e->names, e->ncols, &schema);
        if (err && duckdb_error_data_has_error(err)) {
            rc = errbuf_set(eb, RC_DB, "Arrow export failed: %s", duckdb_error_data_message(err));
            duckdb_destroy_error_data(&err);
            return rc;
        }
        if (err)
            duckdb_destroy_error_data(&err);
        have_schema = true;
        if ((size_t)schema.n_children != st->ncols) {
            rc = errbuf_set(eb, RC_INTERNAL, "Arrow schema has %lld fields, expected %zu",
                            (long long)schema.n_children, st->ncols);
            goto out;
        }
    }
    for (size_t i = 0; i < st->ncols; i++) {
        st->cols[i] = needs_text(e->ti[i]) ? NULL : plan_node(schema.children[i], e->ti[i]);
        if (!st->cols[i])
            st->cols[i] = text_node(e->names[i], i);
        st->cols[i]->name = e->names[i];
    }

    struct fb b;
    fb_init(&b);
    uint32_t *fields = xcalloc(st->ncols ? st->ncols : 1, sizeof(uint32_t));
    for (size_t i = 0; i < st->ncols; i++)
        fields[i] = write_field(&b, st->cols[i]);
    uint32_t fvec = fb_vec_refs(&b, fields, st->ncols);
    xfree(fields);
    fb_start(&b);
    fb_add_ref(&b, 1, fvec);
    fb_add_i16(&b, 0, 0); /* little endian */
    uint32_t sch = fb_end(&b);
    size_t len;
    const uint8_t *meta = finish_message(&b, MSG_SCHEMA, sch, 0, &len);
    rc = append_message(&e->out, meta, len);
    fb_cleanup(&b);
out:
    if (have_schema && schema.release)
        schema.release(&schema);
    return rc;
}

/* ---- record batches ------------------------------------------------------- */

static int64_t count_nulls(const uint8_t *bits, int64_t phys, int64_t len)
{
    if (!bits)
        return 0;
    int64_t valid = 0;
    for (int64_t i = 0; i < len; i++)
        valid += (bits[(phys + i) >> 3] >> ((phys + i) & 7)) & 1;
    return len - valid;
}

/* A bitmap of len bits starting at bit phys of src, as a buffer starting at
 * bit 0 (shared when already byte-aligned). */
static const void *bits_at(struct arrow_state *st, const uint8_t *src, int64_t phys, int64_t len)
{
    if (phys % 8 == 0)
        return src + phys / 8;
    uint8_t *dst = scratch_alloc(st, (size_t)(len + 7) / 8);
    for (int64_t i = 0; i < len; i++)
        if ((src[(phys + i) >> 3] >> ((phys + i) & 7)) & 1)
            dst[i >> 3] |= (uint8_t)(1u << (i & 7));
    return dst;
}

/* Validity buffer of an array slice; returns the null count. */
static int64_t emit_validity(struct arrow_state *st, const struct ArrowArray *a, int64_t phys,
                             int64_t len)
{
    const uint8_t *bits = a->n_buffers > 0 ? a->buffers[0] : NULL;
    int64_t nulls = count_nulls(bits, phys, len);
    if (nulls == 0)
        add_buf(st, NULL, 0);
    else
        add_buf(st, bits_at(st, bits, phys, len), (size_t)(len + 7) / 8);
    return nulls;
}

static int64_t read_offset(const void *offs, size_t width, int64_t i)
{
    return width == 4 ? ((const int32_t *)offs)[i] : ((const int64_t *)offs)[i];
}

/* Offsets [phys, phys+len] rebased to start at 0, as width-byte values. */
static const void *rebased_offsets(struct arrow_state *st, const void *offs, size_t width,
                                   int64_t phys, int64_t len)
{
    int64_t base = read_offset(offs, width, phys);
    if (base == 0)
        return (const uint8_t *)offs + (size_t)phys * width;
    void *dst = scratch_alloc(st, (size_t)(len + 1) * width);
    for (int64_t i = 0; i <= len; i++) {
        int64_t v = read_offset(offs, width, phys + i) - base;
        if (width == 4)
            ((int32_t *)dst)[i] = (int32_t)v;
        else
            ((int64_t *)dst)[i] = v;
    }
    return dst;
}

static __int128 read_decimal(const uint8_t *p, int bits)
{
    switch (bits) {
    case 32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case 64: {
        int64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    default: {
        uint64_t lo, hi;
        memcpy(&lo, p, 8);
        memcpy(&hi, p + 8, 8);
        return (__int128)((unsigned __int128)hi << 64 | lo);
    }
    }
}

/* Dictionary index of `bytes` bytes at p. */
static int64_t read_index(const uint8_t *p, int bytes, bool is_signed)
{
    switch (bytes) {
    case 1: return is_signed ? (int64_t)(int8_t)p[0] : (int64_t)p[0];
    case 2: {
        uint16_t x;
        memcpy(&x, p, 2);
        return is_signed ? (int64_t)(int16_t)x : (int64_t)x;
    }
    case 4: {
        uint32_t x;
        memcpy(&x, p, 4);
        return is_signed ? (int64_t)(int32_t)x : (int64_t)x;
    }
    default: {
        int64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    }
}

/* Correctly rounded when both the integer and the power of ten are exact
 * doubles; otherwise through the exact decimal text. */
static double decimal_to_double(__int128 v, int scale)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const __int128 exact = (__int128)1 << 53;
    if (scale >= 0 && scale <= 22 && v > -exact && v < exact)
        return (double)v / p10[scale];
    char buf[QENC_FMT_MAX];
    qenc__fmt_decimal(buf, v, scale > 0 ? (unsigned)scale : 0);
    return strtod(buf, NULL);
}

static int emit_text(struct arrow_state *st, const struct anode *n, int64_t len, struct errbuf *eb)
{
    struct qenc *e = st->e;
    duckdb_vector v = duckdb_data_chunk_get_vector(st->chunk, n->col);
    uint8_t *valid = scratch_alloc(st, (size_t)(len + 7) / 8);
    int32_t *offs = scratch_alloc(st, (size_t)(len + 1) * 4);
    strbuf_reset(&st->text);
    int64_t nulls = 0;
    for (int64_t r = 0; r < len; r++) {
        bool is_null;
        int rc = qenc__text_value(&st->text, e->ti[n->col], v, (idx_t)r, &is_null);
        if (rc)
            return rc;
        if (is_null)
            nulls++;
        else
            valid[r >> 3] |= (uint8_t)(1u << (r & 7));
        if (st->text.len > INT32_MAX)
            return errbuf_set(eb, RC_LIMIT, "text column %s too large for one batch", n->name);
        offs[r + 1] = (int32_t)st->text.len;
    }
    add_node(st, len, nulls);
    add_buf(st, nulls ? valid : NULL, nulls ? (size_t)(len + 7) / 8 : 0);
    add_buf(st, offs, (size_t)(len + 1) * 4);
    /* The text buffer is copied out before the next column reuses it. */
    void *data = scratch_alloc(st, st->text.len);
    if (st->text.len)
        memcpy(data, st->text.data, st->text.len);
    add_buf(st, data, st->text.len);
    return RC_OK;
}

/* Appends the nodes and buffers of rows [start, start+len) of array a
 * (start is relative to a->offset) in pre-order. */
static int emit(struct arrow_state *st, const struct anode *n, const struct ArrowArray *a,
                int64_t start, int64_t len, struct errbuf *eb)
{
    if (n->kind == AK_TEXT)
        return emit_text(st, n, len, eb);
    int64_t phys = a->offset + start;
    int64_t nulls;
    switch (n->kind) {
    case AK_NULL: add_node(st, len, len); return RC_OK;
    case AK_BOOL:
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        add_buf(st, bits_at(st, a->buffers[1], phys, len), (size_t)(len + 7) / 8);
        return RC_OK;
    case AK_FIXED:
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        add_buf(st, (const uint8_t *)a->buffers[1] + (size_t)phys * n->width,
                (size_t)len * n->width);
        return RC_OK;
    case AK_DEC_F64: {
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        double *out = scratch_alloc(st, (size_t)len * 8);
        const uint8_t *src = a->buffers[1];
        size_t w = (size_t)n->src_bits / 8;
        for (int64_t i = 0; i < len; i++)
            out[i] = decimal_to_double(read_decimal(src + (size_t)(phys + i) * w, n->src_bits),
                                       n->dec_scale);
        add_buf(st, out, (size_t)len * 8);
        return RC_OK;
    }
    case AK_VARBIN: {
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        size_t w = n->offset_width;
        int64_t lo = read_offset(a->buffers[1], w, phys);
        int64_t hi = read_offset(a->buffers[1], w, phys + len);
        add_buf(st, rebased_offsets(st, a->buffers[1], w, phys, len), (size_t)(len + 1) * w);
        add_buf(st, (const uint8_t *)a->buffers[2] + lo, (size_t)(hi - lo));
        return RC_OK;
    }
    case AK_DICT_UTF8: {
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        const struct ArrowArray *d = a->dictionary;
        if (!d)
            return errbuf_set(eb, RC_INTERNAL, "dictionary missing for column %s", n->name);
        const uint8_t *vbits = a->n_buffers > 0 ? a->buffers[0] : NULL;
        size_t dw = n->dict_large ? 8 : 4;
        /* Two passes: sizes, then bytes. */
        int32_t *offs = scratch_alloc(st, (size_t)(len + 1) * 4);
        int64_t total = 0;
        for (int pass = 0; pass < 2; pass++) {
            uint8_t *data = pass ? scratch_alloc(st, (size_t)total) : NULL;
            int64_t pos = 0;
            for (int64_t i = 0; i < len; i++) {
                int64_t p = phys + i;
                if (!vbits || ((vbits[p >> 3] >> (p & 7)) & 1)) {
                    const uint8_t *ip =
                        (const uint8_t *)a->buffers[1] + (size_t)p * (size_t)n->src_bits;
                    int64_t idx = read_index(ip, n->src_bits, n->src_signed);
                    if (idx < 0 || idx >= d->length)
                        return errbuf_set(eb, RC_INTERNAL, "dictionary index out of range in %s",
                                          n->name);
                    int64_t s0 = read_offset(d->buffers[1], dw, d->offset + idx);
                    int64_t s1 = read_offset(d->buffers[1], dw, d->offset + idx + 1);
                    if (pass)
                        memcpy(data + pos, (const uint8_t *)d->buffers[2] + s0, (size_t)(s1 - s0));
                    pos += s1 - s0;
                    if (pos > INT32_MAX)
                        return errbuf_set(eb, RC_LIMIT, "column %s too large for one batch",
                                          n->name);
                }
                if (pass)
                    offs[i + 1] = (int32_t)pos;
            }
            total = pos;
            if (pass) {
                add_buf(st, offs, (size_t)(len + 1) * 4);
                add_buf(st, data, (size_t)total);
            }
        }
        return RC_OK;
    }
    case AK_LIST: {
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        size_t w = n->offset_width;
        int64_t lo = read_offset(a->buffers[1], w, phys);
        int64_t hi = read_offset(a->buffers[1], w, phys + len);
        add_buf(st, rebased_offsets(st, a->buffers[1], w, phys, len), (size_t)(len + 1) * w);
        return emit(st, n->child[0], a->children[0], lo, hi - lo, eb);
    }
    case AK_FIXED_LIST:
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        return emit(st, n->child[0], a->children[0], phys * n->list_size, len * n->list_size, eb);
    case AK_STRUCT: {
        nulls = emit_validity(st, a, phys, len);
        add_node(st, len, nulls);
        for (size_t i = 0; i < n->nchild; i++) {
            /* A struct's offset applies to its children as well. */
            int rc = emit(st, n->child[i], a->children[i], phys, len, eb);
            if (rc)
                return rc;
        }
        return RC_OK;
    }
    default: return errbuf_set(eb, RC_INTERNAL, "unexpected Arrow node kind %d", (int)n->kind);
    }
}

static int write_batch(struct qenc *e, int64_t length, struct errbuf *eb)
{
    struct arrow_state *st = e->state;
    int64_t(*bufspec)[2] = xcalloc(st->nbufs ? st->nbufs : 1, sizeof(*bufspec));
    int64_t body = 0;
    for (size_t i = 0; i < st->nbufs; i++) {
        bufspec[i][0] = body;
        bufspec[i][1] = (int64_t)st->bufs[i].len;
        body += ((int64_t)st->bufs[i].len + 7) & ~(int64_t)7;
    }
    struct fb b;
    fb_init(&b);
    uint32_t bvec = fb_vec_pairs(&b, (const int64_t(*)[2])bufspec, st->nbufs);
    uint32_t nvec = fb_vec_pairs(&b, (const int64_t(*)[2])st->nodes, st->nnodes);
    xfree(bufspec);
    fb_start(&b);
    fb_add_i64(&b, 0, length);
    fb_add_ref(&b, 1, nvec);
    fb_add_ref(&b, 2, bvec);
    uint32_t rb = fb_end(&b);
    size_t len;
    const uint8_t *meta = finish_message(&b, MSG_RECORD_BATCH, rb, body, &len);
    int rc = append_message(&e->out, meta, len);
    fb_cleanup(&b);
    if (!rc)
        rc = strbuf_reserve(&e->out, (size_t)body);
    if (rc)
        return errbuf_set(eb, rc, "record batch of %lld bytes exceeds the output buffer limit",
                          (long long)body);
    for (size_t i = 0; i < st->nbufs; i++) {
        size_t n = st->bufs[i].len, padded = (n + 7) & ~(size_t)7;
        if (n)
            memcpy(e->out.data + e->out.len, st->bufs[i].p, n);
        memset(e->out.data + e->out.len + n, 0, padded - n);
        e->out.len += padded;
    }
    e->out.data[e->out.len] = '\0';
    return RC_OK;
}

static int arrow_chunk(struct qenc *e, duckdb_data_chunk chunk, idx_t nrows, struct errbuf *eb)
{
    struct arrow_state *st = e->state;
    st->nnodes = st->nbufs = 0;
    st->chunk = chunk;
    struct ArrowArray arr;
    memset(&arr, 0, sizeof(arr));
    bool all_text = true;
    for (size_t i = 0; i < st->ncols; i++)
        all_text = all_text && st->cols[i]->kind == AK_TEXT;
    int rc = RC_OK;
    if (!all_text) {
        duckdb_error_data err = duckdb_data_chunk_to_arrow(e->o.arrow_options, chunk, &arr);
        if (err && duckdb_error_data_has_error(err)) {
            rc = errbuf_set(eb, RC_DB, "Arrow export failed: %s", duckdb_error_data_message(err));
            duckdb_destroy_error_data(&err);
            return rc;
        }
        if (err)
            duckdb_destroy_error_data(&err);
        if ((size_t)arr.n_children != st->ncols || arr.length != (int64_t)nrows) {
            rc = errbuf_set(eb, RC_INTERNAL, "Arrow export returned an unexpected shape");
            goto out;
        }
    }
    for (size_t i = 0; i < st->ncols && !rc; i++)
        rc = emit(st, st->cols[i], all_text ? NULL : arr.children[i], arr.offset, (int64_t)nrows,
                  eb);
    if (!rc)
        rc = write_batch(e, (int64_t)nrows, eb);
out:
    if (arr.release)
        arr.release(&arr);
    scratch_release(st);
    st->chunk = NULL;
    return rc;
}

static int arrow_end(struct qenc *e, struct errbuf *eb)
{
    (void)eb;
    static const uint8_t eos[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
    return strbuf_append(&e->out, eos, sizeof(eos));
}

const struct qenc_ops qenc__arrow_ops = {arrow_begin, arrow_chunk, arrow_end, arrow_free};
