/*
 * wal/walrec.c — WAL record framing and record bodies: batches, flush
 * intents and flushed markers (layout in wal_internal.h and docs/wal.md).
 *
 * Encoding runs on HTTP threads (wal_prepare) and flush workers (intents,
 * markers); decoding runs at start-up (scan and replay). Everything here is
 * pure computation on caller-owned memory: no locks, no I/O, thread-safe.
 *
 * Decoding never trusts a length: every read is bounds-checked (struct
 * rbuf), names and types are validated, and a malformed body is RC_PARSE —
 * the checksum already makes that unlikely, but a replay must never crash.
 */
#include "wal/wal_internal.h"

#include <stdlib.h>

#include "ingest/batch.h"
#include "util/hash.h"
#include "util/timeutil.h"

static const uint8_t rec_magic[4] = {'A', 'R', 'C', 'R'};

/* ---- byte buffers ------------------------------------------------------------- */

void wal__wbuf_reserve(struct wbuf *w, size_t more)
{
    if (w->len + more <= w->cap)
        return;
    size_t ncap = w->cap ? w->cap : 256;
    while (ncap < w->len + more)
        ncap *= 2;
    w->p = xrealloc(w->p, ncap);
    w->cap = ncap;
}

void wal__wbuf_free(struct wbuf *w)
{
    xfree(w->p);
    w->p = NULL;
    w->len = w->cap = 0;
}

/* ---- framing ---------------------------------------------------------------- */

size_t wal__frame_begin(struct wbuf *w, enum walrec_type type)
{
    size_t start = w->len;
    uint8_t hdr[WAL_REC_HDR_BYTES] = {0};
    memcpy(hdr, rec_magic, 4);
    hdr[12] = (uint8_t)type;
    wal__wbuf_put(w, hdr, sizeof(hdr));
    return start;
}

void wal__frame_end(struct wbuf *w, size_t start)
{
    uint32_t len = (uint32_t)(w->len - start - WAL_REC_HDR_BYTES);
    memcpy(w->p + start + 8, &len, 4);
    uint32_t crc = wal__crc32c(0, w->p + start + 8, w->len - start - 8);
    memcpy(w->p + start + 4, &crc, 4);
}

/* True if p[0..n) are all zero bytes. */
static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

enum wal_frame_status wal__frame_parse(const uint8_t *p, size_t avail, struct wal_frame *out)
{
    /* Segments are preallocated with zeros (docs/wal.md): zeros from a
     * record boundary to the end are unused space, not damage. */
    if (avail == 0 || (p[0] == 0 && all_zero(p, avail)))
        return WAL_FRAME_END;
    if (avail < WAL_REC_HDR_BYTES) {
        /* A header cut short by a crash still starts with (part of) the magic. */
        size_t m = avail < 4 ? avail : 4;
        return memcmp(p, rec_magic, m) == 0 ? WAL_FRAME_TORN : WAL_FRAME_CORRUPT;
    }
    if (memcmp(p, rec_magic, 4) != 0)
        return WAL_FRAME_CORRUPT;
    uint32_t crc, len;
    memcpy(&crc, p + 4, 4);
    memcpy(&len, p + 8, 4);
    if (len > WAL_REC_MAX_BODY)
        return WAL_FRAME_CORRUPT;
    if ((size_t)len > avail - WAL_REC_HDR_BYTES)
        return WAL_FRAME_TORN;
    if (wal__crc32c(0, p + 8, (size_t)len + 8) != crc)
        return WAL_FRAME_CORRUPT;
    out->type = (enum walrec_type)p[12];
    out->body = p + WAL_REC_HDR_BYTES;
    out->body_len = len;
    out->total_len = WAL_REC_HDR_BYTES + (size_t)len;
    return WAL_FRAME_OK;
}

uint64_t wal__frame_count_after(const uint8_t *p, size_t len, size_t from)
{
    uint64_t n = 0;
    for (size_t off = from + 1; off + WAL_REC_HDR_BYTES <= len; off++) {
        if (p[off] != 'A' || memcmp(p + off, rec_magic, 4) != 0)
            continue;
        struct wal_frame f;
        if (wal__frame_parse(p + off, len - off, &f) == WAL_FRAME_OK) {
            n++;
            off += f.total_len - 1;
        }
    }
    return n;
}

/* ---- varint LSN lists ----------------------------------------------------------- */

static void put_uvarint(struct wbuf *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    wal__wbuf_put(w, tmp, n);
}

static uint64_t get_uvarint(struct rbuf *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b = wal__rbuf_u8(r);
        if (r->bad)
            return 0;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true; /* more than 10 bytes */
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void put_lsn_list(struct wbuf *w, const uint64_t *lsns, size_t n)
{
    uint64_t *s = xmalloc((n ? n : 1) * sizeof(*s));
    if (n)
        memcpy(s, lsns, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_u64);
    wal__wbuf_u32(w, (uint32_t)n);
    uint64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        put_uvarint(w, s[i] - prev);
        prev = s[i];
    }
    xfree(s);
}

static int get_lsn_list(struct rbuf *r, uint64_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    uint32_t n = wal__rbuf_u32(r);
    if (r->bad || n > r->len - r->off) /* each LSN takes at least one byte */
        return RC_PARSE;
    uint64_t *v = n ? xmalloc(n * sizeof(*v)) : NULL;
    uint64_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        prev += get_uvarint(r);
        v[i] = prev;
    }
    if (r->bad) {
        xfree(v);
        return RC_PARSE;
    }
    *out = v;
    *nout = n;
    return RC_OK;
}

/* ---- batches -------------------------------------------------------------------- */

/* ---- string dictionaries ------------------------------------------------------- */

/*
 * A STRING column whose values repeat (tags: a few hosts, regions, racks) is
 * written as a dictionary: each distinct value once, then a 1- or 2-byte
 * index per present row. Line-protocol batches are mostly such columns: a
 * TSBS cpu row shrinks from ~230 to ~100 bytes, and every byte saved is one
 * not copied, checksummed, written and synced. A column stays plain when it
 * has few values or too many distinct ones (more than half of its values,
 * or more than DICT_MAX).
 */
#define DICT_MAX 65535u
#define DICT_MIN_VALUES 8
#define REF_CACHE_BITS_MAX 10 /* direct-mapped heap ref → entry cache: ≤ 1024 slots */
#define DICT_SMALL 64         /* columns of up to this many values use no heap */

struct dict_ref {
    struct bstr ref;
    uint32_t id;
    uint32_t gen; /* valid for the column being built if == dict.gen */
};

/* Scratch of one walrec_batch_encode call, reused column after column. The
 * arrays start in the struct itself (on the caller's stack): small requests
 * encode without allocating. dict_grow replaces one by heap memory when a
 * column needs more. */
struct dict {
    uint32_t *slots; /* open addressing: entry index + 1, 0 = empty */
    size_t slots_cap;
    struct bstr *ents; /* distinct values in first-seen order (refs into the heap) */
    size_t ents_cap;
    uint16_t *idx; /* per present value, in row order */
    size_t idx_cap;
    size_t n; /* distinct values */
    /* Rows of one series share their tags' heap bytes, so most values are
     * found by their (offset, length) here without hashing their bytes. */
    struct dict_ref *cache;
    size_t cache_cap;
    uint32_t gen;  /* one per dict_build call: no clearing between columns */
    uint64_t seed; /* of the slot hash, one per encode call (dict_init) */
    uint32_t small_slots[2 * DICT_SMALL];
    struct bstr small_ents[DICT_SMALL / 2];
    uint16_t small_idx[DICT_SMALL];
    struct dict_ref small_cache[2 * DICT_SMALL];
};

static void dict_init(struct dict *d)
{
    d->slots = d->small_slots;
    d->slots_cap = 2 * DICT_SMALL;
    d->ents = d->small_ents;
    d->ents_cap = DICT_SMALL / 2;
    d->idx = d->small_idx;
    d->idx_cap = DICT_SMALL;
    d->cache = NULL;  /* set up by the first dict_build: batches without */
    d->cache_cap = 0; /* repeated strings never pay for clearing it */
    d->gen = 0;
    d->n = 0;
    /* The tables live for one encode call: a seed from the clock and the
     * (randomised) stack address keeps values chosen by clients from
     * aiming at them. The output does not depend on it (first-seen order). */
    d->seed = hash_mix64((uint64_t)time_mono_ns() ^ (uint64_t)(uintptr_t)d);
}

/* Makes *arr (now *cap elements, `inline_arr` if not yet grown) hold at
 * least `need` elements of `size` bytes; contents are not kept. */
static void dict_grow(void **arr, size_t *cap, void *inline_arr, size_t need, size_t size)
{
    if (*cap >= need)
        return;
    if (*arr != inline_arr)
        xfree(*arr);
    *arr = xmalloc(need * size);
    *cap = need;
}

static void dict_free(struct dict *d)
{
    if (d->slots != d->small_slots)
        xfree(d->slots);
    if (d->ents != d->small_ents)
        xfree(d->ents);
    if (d->idx != d->small_idx)
        xfree(d->idx);
    if (d->cache != d->small_cache)
        xfree(d->cache);
}

static size_t count_valid(const struct batch_col *c, size_t nrows)
{
    size_t n = 0, full = nrows / 8;
    for (size_t i = 0; i < full; i++)
        n += (size_t)__builtin_popcount(c->valid[i]);
    if (nrows & 7)
        n += (size_t)__builtin_popcount(c->valid[full] & ((1u << (nrows & 7)) - 1));
    return n;
}

/* Builds the dictionary of string column c with nv present values; false
 * if the column is better written plain. */
static bool dict_build(struct dict *d, const struct batch *b, const struct batch_col *c,
                       size_t nrows, size_t nv)
{
    if (nv < DICT_MIN_VALUES)
        return false;
    size_t limit = nv / 2 < DICT_MAX ? nv / 2 : DICT_MAX;
    size_t cap = 16;
    while (cap < limit * 2)
        cap *= 2;
    dict_grow((void **)&d->slots, &d->slots_cap, d->small_slots, cap, sizeof(*d->slots));
    memset(d->slots, 0, cap * sizeof(*d->slots));
    dict_grow((void **)&d->ents, &d->ents_cap, d->small_ents, limit, sizeof(*d->ents));
    dict_grow((void **)&d->idx, &d->idx_cap, d->small_idx, nv, sizeof(*d->idx));
    unsigned bits = 4;
    while (bits < REF_CACHE_BITS_MAX && ((size_t)1 << bits) < 2 * nv)
        bits++;
    if (!d->cache) {
        d->cache = d->small_cache;
        d->cache_cap = 2 * DICT_SMALL;
        memset(d->small_cache, 0, sizeof(d->small_cache));
    }
    if (d->cache_cap < ((size_t)1 << bits)) {
        dict_grow((void **)&d->cache, &d->cache_cap, d->small_cache, (size_t)1 << bits,
                  sizeof(*d->cache));
        memset(d->cache, 0, d->cache_cap * sizeof(*d->cache));
        d->gen = 0;
    }
    uint32_t gen = ++d->gen; /* never 0, the cleared value */
    uint64_t seed = d->seed ^ gen;
    d->n = 0;
    size_t k = 0;
    for (size_t r = 0; r < nrows; r++) {
        if (!batch_is_valid(c, r))
            continue;
        struct bstr v = c->v.s[r];
        size_t ci = (uint32_t)(v.off * 0x9E3779B1u) >> (32 - bits);
        if (d->cache[ci].gen == gen && d->cache[ci].ref.off == v.off &&
            d->cache[ci].ref.len == v.len) {
            d->idx[k++] = (uint16_t)d->cache[ci].id;
            continue;
        }
        size_t len;
        const char *s = batch_str(b, c, r, &len);
        size_t h = (size_t)hash_words(s, len, seed) & (cap - 1);
        uint32_t e;
        for (;;) {
            e = d->slots[h];
            if (!e) {
                if (d->n == limit)
                    return false;
                d->ents[d->n] = v;
                e = (uint32_t)++d->n;
                d->slots[h] = e;
                break;
            }
            struct bstr x = d->ents[e - 1];
            if (x.len == v.len && (x.off == v.off || !memcmp(b->heap + x.off, s, len)))
                break;
            h = (h + 1) & (cap - 1);
        }
        d->cache[ci].ref = v;
        d->cache[ci].id = e - 1;
        d->cache[ci].gen = gen;
        d->idx[k++] = (uint16_t)(e - 1);
    }
    return true;
}

static void dict_write(struct wbuf *w, const struct dict *d, const struct batch *b, size_t nv)
{
    wal__wbuf_u32(w, (uint32_t)d->n);
    for (size_t i = 0; i < d->n; i++) {
        wal__wbuf_u32(w, d->ents[i].len);
        wal__wbuf_put(w, b->heap ? b->heap + d->ents[i].off : "", d->ents[i].len);
    }
    uint8_t width = d->n <= 256 ? 1 : 2;
    wal__wbuf_u8(w, width);
    wal__wbuf_reserve(w, nv * width);
    if (width == 1) {
        uint8_t *restrict o = w->p + w->len;
        const uint16_t *restrict in = d->idx;
        for (size_t k = 0; k < nv; k++)
            o[k] = (uint8_t)in[k];
        w->len += nv;
    } else
        wal__wbuf_put(w, d->idx, nv * 2);
}

static size_t value_width(enum col_type t)
{
    return t == COL_BOOL ? 1 : t == COL_STRING ? 4 : 8;
}

/* True if rows 0..nrows-1 are all present. */
static bool all_valid(const struct batch_col *c, size_t nrows)
{
    size_t full = nrows / 8;
    for (size_t i = 0; i < full; i++)
        if (c->valid[i] != 0xff)
            return false;
    size_t rest = nrows & 7;
    if (rest) {
        uint8_t mask = (uint8_t)((1u << rest) - 1);
        if ((c->valid[full] & mask) != mask)
            return false;
    }
    return true;
}

void walrec_batch_encode(struct wbuf *w, const struct batch *b)
{
    size_t dl = strnlen(b->db, DB_NAME_MAX), ml = strnlen(b->measurement, MEASUREMENT_NAME_MAX);
    size_t nrows = b->nrows, nb = (nrows + 7) / 8;
    size_t est = 2 + dl + ml + 8 + nrows * 8 + b->heap_len;
    for (size_t i = 0; i < b->ncols; i++)
        est += 4 + b->cols[i].name_len + nb + nrows * value_width(b->cols[i].type);
    wal__wbuf_reserve(w, est);

    wal__wbuf_u8(w, (uint8_t)dl);
    wal__wbuf_put(w, b->db, dl);
    wal__wbuf_u8(w, (uint8_t)ml);
    wal__wbuf_put(w, b->measurement, ml);
    wal__wbuf_u32(w, (uint32_t)nrows);
    wal__wbuf_u32(w, (uint32_t)b->ncols);
    wal__wbuf_put(w, b->time_us, nrows * sizeof(int64_t));

    struct dict d;
    dict_init(&d);
    for (size_t i = 0; i < b->ncols; i++) {
        const struct batch_col *c = &b->cols[i];
        size_t nv = c->type == COL_STRING ? count_valid(c, nrows) : 0;
        bool use_dict = c->type == COL_STRING && dict_build(&d, b, c, nrows, nv);
        wal__wbuf_u16(w, (uint16_t)c->name_len);
        wal__wbuf_put(w, c->name, c->name_len);
        wal__wbuf_u8(w, (uint8_t)c->type);
        wal__wbuf_u8(w, (uint8_t)((c->is_tag ? 1 : 0) | (use_dict ? 2 : 0)));
        size_t bm = w->len;
        wal__wbuf_put(w, c->valid, nb);
        if (nrows & 7) /* bits past the last row are not part of the format */
            w->p[bm + nb - 1] &= (uint8_t)((1u << (nrows & 7)) - 1);
        bool dense = all_valid(c, nrows);
        switch (c->type) {
        case COL_DOUBLE:
        case COL_INT64:
        case COL_UINT64:
            if (dense) {
                wal__wbuf_put(w, c->v.any, nrows * 8);
            } else {
                for (size_t r = 0; r < nrows; r++)
                    if (batch_is_valid(c, r))
                        wal__wbuf_put(w, &c->v.u64[r], 8);
            }
            break;
        case COL_BOOL:
            for (size_t r = 0; r < nrows; r++)
                if (batch_is_valid(c, r))
                    wal__wbuf_u8(w, c->v.b[r] ? 1 : 0);
            break;
        case COL_STRING:
            if (use_dict) {
                dict_write(w, &d, b, nv);
                break;
            }
            for (size_t r = 0; r < nrows; r++) {
                if (!batch_is_valid(c, r))
                    continue;
                size_t sl;
                const char *s = batch_str(b, c, r, &sl);
                wal__wbuf_u32(w, (uint32_t)sl);
                wal__wbuf_put(w, s, sl);
            }
            break;
        }
    }
    dict_free(&d);
}

/* Reads a dictionary-encoded string column into column `col` (sets r->bad
 * on anything malformed: counts, lengths, widths, indexes out of range). */
static void dict_decode(struct rbuf *r, struct batch *b, int col, const uint8_t *valid,
                        uint32_t nrows)
{
    uint32_t n = wal__rbuf_u32(r);
    if (r->bad || n == 0 || n > DICT_MAX || n > (r->len - r->off) / 4) {
        r->bad = true;
        return;
    }
    struct bstr *refs = xmalloc(n * sizeof(*refs));
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t sl = wal__rbuf_u32(r);
        const char *s = (const char *)wal__rbuf_take(r, sl);
        if (s)
            refs[i] = batch_heap_put(b, s, sl);
    }
    uint8_t width = wal__rbuf_u8(r);
    if (width != 1 && width != 2)
        r->bad = true;
    for (uint32_t row = 0; row < nrows && !r->bad; row++) {
        if (!((valid[row >> 3] >> (row & 7)) & 1))
            continue;
        uint32_t k = width == 1 ? wal__rbuf_u8(r) : wal__rbuf_u16(r);
        if (k >= n)
            r->bad = true;
        else
            batch_set_bstr(b, col, row, refs[k]);
    }
    xfree(refs);
}

int walrec_batch_decode(const uint8_t *p, size_t len, struct batch **out, struct errbuf *eb)
{
    struct rbuf r = {.p = p, .len = len};
    struct batch *b = NULL;
    int rc = RC_OK;
    char db[DB_NAME_MAX + 1], meas[MEASUREMENT_NAME_MAX + 1];

    uint8_t dl = wal__rbuf_u8(&r);
    const uint8_t *dp = wal__rbuf_take(&r, dl);
    uint8_t ml = wal__rbuf_u8(&r);
    const uint8_t *mp = wal__rbuf_take(&r, ml);
    if (r.bad || !name_is_valid_database((const char *)dp, dl) ||
        !name_is_valid_measurement((const char *)mp, ml)) {
        rc = errbuf_set(eb, RC_PARSE, "wal record: bad database or measurement name");
        goto out;
    }
    memcpy(db, dp, dl);
    db[dl] = '\0';
    memcpy(meas, mp, ml);
    meas[ml] = '\0';

    uint32_t nrows = wal__rbuf_u32(&r);
    uint32_t ncols = wal__rbuf_u32(&r);
    if (r.bad || nrows > (len - r.off) / 8 || ncols > (len - r.off) / 4) {
        rc = errbuf_set(eb, RC_PARSE, "wal record: row or column count past the end");
        goto out;
    }
    const uint8_t *times = wal__rbuf_take(&r, (size_t)nrows * 8);
    b = batch_new(db, meas);
    for (uint32_t i = 0; i < nrows; i++) {
        int64_t t;
        memcpy(&t, times + (size_t)i * 8, 8);
        batch_row_add(b, t);
    }
    size_t nb = ((size_t)nrows + 7) / 8;
    for (uint32_t ci = 0; ci < ncols; ci++) {
        uint16_t nl = wal__rbuf_u16(&r);
        const char *name = (const char *)wal__rbuf_take(&r, nl);
        uint8_t type = wal__rbuf_u8(&r);
        uint8_t flags = wal__rbuf_u8(&r);
        const uint8_t *valid = wal__rbuf_take(&r, nb);
        bool is_dict = flags & 2;
        if (r.bad || nl == 0 || nl > COLUMN_NAME_MAX || memchr(name, '\0', nl) ||
            !col_type_valid(type) || (flags & ~3u) || (is_dict && type != COL_STRING)) {
            rc = errbuf_set(eb, RC_PARSE, "wal record: bad column %u header", ci);
            goto out;
        }
        if ((nrows & 7) && (valid[nb - 1] >> (nrows & 7))) {
            rc = errbuf_set(eb, RC_PARSE, "wal record: validity bits past the last row");
            goto out;
        }
        if (batch_col_find(b, name, nl) >= 0) {
            rc = errbuf_set(eb, RC_PARSE, "wal record: column \"%.*s\" twice", (int)nl, name);
            goto out;
        }
        int col = batch_col_get(b, name, nl, (enum col_type)type, flags & 1, NULL);
        if (is_dict)
            dict_decode(&r, b, col, valid, nrows);
        for (uint32_t row = 0; row < nrows && !r.bad && !is_dict; row++) {
            if (!((valid[row >> 3] >> (row & 7)) & 1))
                continue;
            switch ((enum col_type)type) {
            case COL_DOUBLE: {
                double v;
                wal__rbuf_get(&r, &v, 8);
                batch_set_f64(b, col, row, v);
                break;
            }
            case COL_INT64: batch_set_i64(b, col, row, (int64_t)wal__rbuf_u64(&r)); break;
            case COL_UINT64: batch_set_u64(b, col, row, wal__rbuf_u64(&r)); break;
            case COL_BOOL: {
                uint8_t v = wal__rbuf_u8(&r);
                if (v > 1)
                    r.bad = true;
                batch_set_bool(b, col, row, v == 1);
                break;
            }
            case COL_STRING: {
                uint32_t sl = wal__rbuf_u32(&r);
                const char *s = (const char *)wal__rbuf_take(&r, sl);
                if (s)
                    batch_set_str(b, col, row, s, sl);
                break;
            }
            }
        }
        if (r.bad) {
            rc = errbuf_set(eb, RC_PARSE, "wal record: values of column \"%.*s\" malformed",
                            (int)nl, name);
            goto out;
        }
    }
    if (r.off != len) {
        rc = errbuf_set(eb, RC_PARSE, "wal record: %zu trailing bytes", len - r.off);
        goto out;
    }
    batch_seal(b);
    *out = b;
    b = NULL;
out:
    batch_unref(&b);
    return rc;
}

struct batch *wal__batch_copy_rows(const struct batch *src, const uint32_t *rows, size_t n)
{
    struct batch *b = batch_new(src->db, src->measurement);
    for (size_t i = 0; i < n; i++)
        batch_row_add(b, src->time_us[rows[i]]);
    for (size_t ci = 0; ci < src->ncols; ci++) {
        const struct batch_col *c = &src->cols[ci];
        int col = batch_col_get(b, c->name, c->name_len, c->type, c->is_tag, NULL);
        for (size_t i = 0; i < n; i++) {
            size_t r = rows[i];
            if (!batch_is_valid(c, r))
                continue;
            switch (c->type) {
            case COL_DOUBLE: batch_set_f64(b, col, i, c->v.f64[r]); break;
            case COL_INT64: batch_set_i64(b, col, i, c->v.i64[r]); break;
            case COL_UINT64: batch_set_u64(b, col, i, c->v.u64[r]); break;
            case COL_BOOL: batch_set_bool(b, col, i, c->v.b[r] != 0); break;
            case COL_STRING: {
                size_t sl;
                const char *s = batch_str(src, c, r, &sl);
                batch_set_str(b, col, i, s, sl);
                break;
            }
            }
        }
    }
    batch_seal(b);
    return b;
}

/* ---- records ---------------------------------------------------------------------- */

void walrec_data_append(struct wbuf *w, uint64_t lsn, const struct batch *b)
{
    size_t start = wal__frame_begin(w, WALREC_DATA);
    wal__wbuf_u64(w, lsn);
    walrec_batch_encode(w, b);
    wal__frame_end(w, start);
}

void walrec_intent_append(struct wbuf *w, uint64_t slot, int64_t hour_start_us, const char *db,
                          const char *measurement, const char *key, const uint64_t *lsns, size_t n)
{
    size_t dl = strnlen(db, DB_NAME_MAX), ml = strnlen(measurement, MEASUREMENT_NAME_MAX);
    size_t kl = strnlen(key, 1024);
    size_t start = wal__frame_begin(w, WALREC_INTENT);
    wal__wbuf_u64(w, slot);
    wal__wbuf_u64(w, (uint64_t)hour_start_us);
    wal__wbuf_u8(w, (uint8_t)dl);
    wal__wbuf_put(w, db, dl);
    wal__wbuf_u8(w, (uint8_t)ml);
    wal__wbuf_put(w, measurement, ml);
    wal__wbuf_u16(w, (uint16_t)kl);
    wal__wbuf_put(w, key, kl);
    put_lsn_list(w, lsns, n);
    wal__frame_end(w, start);
}

void walrec_flushed_append(struct wbuf *w, const uint64_t *lsns, size_t n)
{
    size_t start = wal__frame_begin(w, WALREC_FLUSHED);
    put_lsn_list(w, lsns, n);
    wal__frame_end(w, start);
}

int walrec_intent_decode(const uint8_t *body, size_t len, struct walrec_intent *out)
{
    struct rbuf r = {.p = body, .len = len};
    memset(out, 0, sizeof(*out));
    out->slot = wal__rbuf_u64(&r);
    out->hour_start_us = (int64_t)wal__rbuf_u64(&r);
    uint8_t dl = wal__rbuf_u8(&r);
    const uint8_t *d = wal__rbuf_take(&r, dl);
    uint8_t ml = wal__rbuf_u8(&r);
    const uint8_t *m = wal__rbuf_take(&r, ml);
    uint16_t kl = wal__rbuf_u16(&r);
    const uint8_t *k = wal__rbuf_take(&r, kl);
    if (r.bad || dl > DB_NAME_MAX || ml > MEASUREMENT_NAME_MAX || kl > 1024)
        return RC_PARSE;
    memcpy(out->db, d, dl);
    memcpy(out->measurement, m, ml);
    memcpy(out->key, k, kl);
    if (get_lsn_list(&r, &out->lsns, &out->n) != RC_OK)
        return RC_PARSE;
    if (r.off != len) {
        xfree(out->lsns);
        out->lsns = NULL;
        out->n = 0;
        return RC_PARSE;
    }
    return RC_OK;
}

int walrec_flushed_decode(const uint8_t *body, size_t len, uint64_t **lsns, size_t *n)
{
    struct rbuf r = {.p = body, .len = len};
    if (get_lsn_list(&r, lsns, n) != RC_OK)
        return RC_PARSE;
    if (r.off != len) {
        xfree(*lsns);
        *lsns = NULL;
        *n = 0;
        return RC_PARSE;
    }
    return RC_OK;
}
