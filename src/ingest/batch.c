/*
 * ingest/batch.c — columnar batch storage (see batch.h).
 *
 * Growth strategy: rows double (starting at 64), so appending is amortised
 * O(1) per value; columns are located through a small open-addressing hash so
 * wide rows do not cost O(columns) per field.
 */
#include "ingest/batch.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"

#define INITIAL_ROWS 64
#define INDEX_EMPTY UINT32_MAX

const char *col_type_name(enum col_type t)
{
    switch (t) {
    case COL_DOUBLE: return "float";
    case COL_INT64: return "integer";
    case COL_UINT64: return "unsigned";
    case COL_STRING: return "string";
    case COL_BOOL: return "boolean";
    }
    return "unknown";
}

const char *col_type_sql(enum col_type t)
{
    switch (t) {
    case COL_DOUBLE: return "DOUBLE";
    case COL_INT64: return "BIGINT";
    case COL_UINT64: return "UBIGINT";
    case COL_STRING: return "VARCHAR";
    case COL_BOOL: return "BOOLEAN";
    }
    return "VARCHAR";
}

bool col_type_valid(int t)
{
    return t >= COL_DOUBLE && t <= COL_BOOL;
}

static bool name_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    char c = s[0];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
        return false;
    for (size_t i = 1; i < n; i++) {
        c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool name_is_valid_database(const char *s, size_t n)
{
    return name_ok(s, n, DB_NAME_MAX);
}

bool name_is_valid_measurement(const char *s, size_t n)
{
    return name_ok(s, n, MEASUREMENT_NAME_MAX);
}

static size_t value_size(enum col_type t)
{
    switch (t) {
    case COL_DOUBLE: return sizeof(double);
    case COL_INT64: return sizeof(int64_t);
    case COL_UINT64: return sizeof(uint64_t);
    case COL_BOOL: return 1;
    case COL_STRING: return sizeof(struct bstr);
    }
    return 8;
}

struct batch *batch_new(const char *db, const char *measurement)
{
    struct batch *b = xcalloc(1, sizeof(*b));
    size_t dl = strnlen(db, DB_NAME_MAX);
    memcpy(b->db, db, dl);
    size_t ml = strnlen(measurement, MEASUREMENT_NAME_MAX);
    memcpy(b->measurement, measurement, ml);
    atomic_init(&b->refs, 1);
    return b;
}

struct batch *batch_ref(struct batch *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->ncols; i++) {
        xfree(b->cols[i].name);
        xfree(b->cols[i].valid);
        xfree(b->cols[i].v.any);
    }
    xfree(b->cols);
    xfree(b->col_index);
    xfree(b->time_us);
    xfree(b->heap);
    xfree(b);
}

void batch_unref(struct batch **bp)
{
    if (!bp || !*bp)
        return;
    struct batch *b = *bp;
    *bp = NULL;
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        batch_free(b);
}

static void index_rebuild(struct batch *b, size_t cap)
{
    xfree(b->col_index);
    b->col_index = xmalloc(cap * sizeof(uint32_t));
    memset(b->col_index, 0xff, cap * sizeof(uint32_t));
    b->col_index_cap = cap;
    for (size_t i = 0; i < b->ncols; i++) {
        size_t slot = hash_fnv1a_bytes(b->cols[i].name, b->cols[i].name_len) & (cap - 1);
        while (b->col_index[slot] != INDEX_EMPTY)
            slot = (slot + 1) & (cap - 1);
        b->col_index[slot] = (uint32_t)i;
    }
}

int batch_col_find(const struct batch *b, const char *name, size_t len)
{
    if (!b->col_index_cap)
        return -1;
    size_t mask = b->col_index_cap - 1;
    size_t slot = hash_fnv1a_bytes(name, len) & mask;
    for (;;) {
        uint32_t idx = b->col_index[slot];
        if (idx == INDEX_EMPTY)
            return -1;
        const struct batch_col *c = &b->cols[idx];
        if (c->name_len == len && memcmp(c->name, name, len) == 0)
            return (int)idx;
        slot = (slot + 1) & mask;
    }
}

static void col_alloc(struct batch_col *c, size_t rows_cap)
{
    c->valid = xcalloc((rows_cap + 7) / 8, 1);
    c->v.any = xcalloc(rows_cap ? rows_cap : 1, value_size(c->type));
}

int batch_col_get(struct batch *b, const char *name, size_t len, enum col_type type, bool is_tag,
                  enum col_type *existing)
{
    int idx = batch_col_find(b, name, len);
    if (idx >= 0) {
        struct batch_col *c = &b->cols[idx];
        if (c->type != type) {
            if (existing)
                *existing = c->type;
            return -1;
        }
        c->is_tag |= is_tag;
        return idx;
    }
    if (b->ncols == b->cols_cap) {
        b->cols_cap = b->cols_cap ? b->cols_cap * 2 : 8;
        b->cols = xrealloc(b->cols, b->cols_cap * sizeof(*b->cols));
    }
    struct batch_col *c = &b->cols[b->ncols];
    memset(c, 0, sizeof(*c));
    c->name = xstrndup(name, len);
    c->name_len = (uint32_t)len;
    c->type = type;
    c->is_tag = is_tag;
    col_alloc(c, b->rows_cap);
    b->ncols++;
    if (b->ncols * 2 > b->col_index_cap)
        index_rebuild(b, b->col_index_cap ? b->col_index_cap * 2 : 16);
    else {
        size_t mask = b->col_index_cap - 1;
        size_t slot = hash_fnv1a_bytes(name, len) & mask;
        while (b->col_index[slot] != INDEX_EMPTY)
            slot = (slot + 1) & mask;
        b->col_index[slot] = (uint32_t)(b->ncols - 1);
    }
    return (int)(b->ncols - 1);
}

static void grow_rows(struct batch *b)
{
    size_t ncap = b->rows_cap ? b->rows_cap * 2 : INITIAL_ROWS;
    b->time_us = xrealloc(b->time_us, ncap * sizeof(int64_t));
    for (size_t i = 0; i < b->ncols; i++) {
        struct batch_col *c = &b->cols[i];
        size_t ob = (b->rows_cap + 7) / 8, nb = (ncap + 7) / 8;
        c->valid = xrealloc(c->valid, nb);
        memset(c->valid + ob, 0, nb - ob);
        c->v.any = xrealloc(c->v.any, ncap * value_size(c->type));
    }
    b->rows_cap = ncap;
}

size_t batch_row_add(struct batch *b, int64_t ts_us)
{
    if (b->nrows == b->rows_cap)
        grow_rows(b);
    size_t r = b->nrows++;
    b->time_us[r] = ts_us;
    /* Validity bits of a fresh row are already 0: bitmaps are zeroed when
     * grown and cleared again on rollback. */
    return r;
}

static inline void set_valid(struct batch_col *c, size_t row)
{
    c->valid[row >> 3] |= (uint8_t)(1u << (row & 7));
}

void batch_set_f64(struct batch *b, int col, size_t row, double v)
{
    struct batch_col *c = &b->cols[col];
    c->v.f64[row] = v;
    set_valid(c, row);
}

void batch_set_i64(struct batch *b, int col, size_t row, int64_t v)
{
    struct batch_col *c = &b->cols[col];
    c->v.i64[row] = v;
    set_valid(c, row);
}

void batch_set_u64(struct batch *b, int col, size_t row, uint64_t v)
{
    struct batch_col *c = &b->cols[col];
    c->v.u64[row] = v;
    set_valid(c, row);
}

void batch_set_bool(struct batch *b, int col, size_t row, bool v)
{
    struct batch_col *c = &b->cols[col];
    c->v.b[row] = v ? 1 : 0;
    set_valid(c, row);
}

struct bstr batch_heap_put(struct batch *b, const char *s, size_t len)
{
    if (b->heap_len + len > b->heap_cap) {
        size_t ncap = b->heap_cap ? b->heap_cap : 256;
        while (ncap < b->heap_len + len)
            ncap *= 2;
        b->heap = xrealloc(b->heap, ncap);
        b->heap_cap = ncap;
    }
    if (len)
        memcpy(b->heap + b->heap_len, s, len);
    struct bstr v = {.off = (uint32_t)b->heap_len, .len = (uint32_t)len};
    b->heap_len += len;
    return v;
}

void batch_set_bstr(struct batch *b, int col, size_t row, struct bstr v)
{
    struct batch_col *c = &b->cols[col];
    c->v.s[row] = v;
    set_valid(c, row);
}

void batch_set_str(struct batch *b, int col, size_t row, const char *s, size_t len)
{
    batch_set_bstr(b, col, row, batch_heap_put(b, s, len));
}

void batch_set_null(struct batch *b, int col, size_t row)
{
    struct batch_col *c = &b->cols[col];
    c->valid[row >> 3] &= (uint8_t) ~(1u << (row & 7));
}

void batch_rollback(struct batch *b, size_t nrows, size_t ncols)
{
    bool rebuild = false;
    while (b->ncols > ncols) {
        struct batch_col *c = &b->cols[--b->ncols];
        xfree(c->name);
        xfree(c->valid);
        xfree(c->v.any);
        rebuild = true;
    }
    if (rebuild && b->col_index_cap)
        index_rebuild(b, b->col_index_cap);
    for (size_t r = nrows; r < b->nrows; r++)
        for (size_t i = 0; i < b->ncols; i++)
            b->cols[i].valid[r >> 3] &= (uint8_t) ~(1u << (r & 7));
    if (nrows < b->nrows)
        b->nrows = nrows;
}

void batch_seal(struct batch *b)
{
    if (b->nrows) {
        int64_t lo = b->time_us[0], hi = b->time_us[0];
        for (size_t r = 1; r < b->nrows; r++) {
            if (b->time_us[r] < lo)
                lo = b->time_us[r];
            if (b->time_us[r] > hi)
                hi = b->time_us[r];
        }
        b->min_time_us = lo;
        b->max_time_us = hi;
    }
    b->sealed = true;
}

size_t batch_mem_bytes(const struct batch *b)
{
    size_t n = sizeof(*b) + b->rows_cap * sizeof(int64_t) + b->heap_cap +
               b->cols_cap * sizeof(struct batch_col) + b->col_index_cap * sizeof(uint32_t);
    for (size_t i = 0; i < b->ncols; i++) {
        const struct batch_col *c = &b->cols[i];
        n += c->name_len + 1 + (b->rows_cap + 7) / 8 + b->rows_cap * value_size(c->type);
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t batch_tag_list(const struct batch *b, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    out[0] = '\0';
    size_t ntags = 0;
    const char **names = xmalloc((b->ncols + 1) * sizeof(char *));
    for (size_t i = 0; i < b->ncols; i++)
        if (b->cols[i].is_tag)
            names[ntags++] = b->cols[i].name;
    qsort(names, ntags, sizeof(char *), cmp_str);
    size_t len = 0;
    for (size_t i = 0; i < ntags; i++) {
        size_t nl = strlen(names[i]);
        if (len + nl + 2 > cap)
            break;
        if (i)
            out[len++] = ',';
        memcpy(out + len, names[i], nl);
        len += nl;
        out[len] = '\0';
    }
    xfree(names);
    return len;
}
