/*
 * ingest/batch.h — the columnar batch: rows of one (database, measurement).
 *
 * The line-protocol and MessagePack decoders build batches; the buffer holds
 * them (by reference, never copied); the flusher turns them into Parquet; the
 * WAL serialises them; queries read them for fresh (unflushed) rows.
 *
 * Layout: a `time` column (int64 microseconds UTC, never null) plus any number
 * of typed, nullable columns. Every column has nrows entries and a validity
 * bitmap (bit set = value present). String values live in one heap per batch
 * and columns store (offset, length) pairs into it. A column added after rows
 * exist is null for those rows.
 *
 * Lifecycle:
 *
 *   batch_new ──► building (batch_row_add / batch_set_* / batch_rollback)
 *                   │ batch_seal
 *                   ▼
 *                 sealed: immutable, shared by reference (batch_ref/unref);
 *                 any thread may read it, nobody writes it.
 *
 * Building is single-threaded (the request thread that owns it). After
 * batch_seal the batch may be handed to other threads; the refcount is atomic.
 */
#ifndef INGEST_BATCH_H
#define INGEST_BATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

/* Column value types. The numeric values are stable: they go into the WAL
 * and the catalog. */
enum col_type {
    COL_DOUBLE = 1,
    COL_INT64 = 2,
    COL_UINT64 = 3,
    COL_STRING = 4,
    COL_BOOL = 5,
};

/* "float", "integer", "unsigned", "string", "boolean" (InfluxDB words, used in
 * type-conflict messages). */
const char *col_type_name(enum col_type t);
/* DuckDB type name: DOUBLE, BIGINT, UBIGINT, VARCHAR, BOOLEAN. */
const char *col_type_sql(enum col_type t);
bool col_type_valid(int t);

#define DB_NAME_MAX 64
#define MEASUREMENT_NAME_MAX 128
#define COLUMN_NAME_MAX 255

/* Name rules of SPEC §0.4. */
bool name_is_valid_database(const char *s, size_t n);
bool name_is_valid_measurement(const char *s, size_t n);

struct bstr {
    uint32_t off; /* into batch->heap */
    uint32_t len;
};

struct batch_col {
    char *name; /* owned, NUL-terminated */
    uint32_t name_len;
    enum col_type type;
    bool is_tag;    /* tag column (line-protocol tags, declared msgpack tags) */
    uint8_t *valid; /* bitmap, bit r set = row r has a value */
    union {
        double *f64;    /* COL_DOUBLE */
        int64_t *i64;   /* COL_INT64 */
        uint64_t *u64;  /* COL_UINT64 */
        uint8_t *b;     /* COL_BOOL, 0/1 per row */
        struct bstr *s; /* COL_STRING */
        void *any;
    } v;
};

struct batch {
    char db[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];

    size_t nrows;
    size_t rows_cap;
    int64_t *time_us;    /* nrows entries */
    int64_t min_time_us; /* valid when nrows > 0 */
    int64_t max_time_us;

    size_t ncols;
    size_t cols_cap;
    struct batch_col *cols;

    char *heap; /* string bytes of every STRING column */
    size_t heap_len;
    size_t heap_cap;

    /* Private: open-addressing index name -> column, size a power of 2. */
    uint32_t *col_index;
    size_t col_index_cap;

    bool sealed;
    _Atomic int refs;
    uint64_t seq; /* set by the buffer when admitted (ordering) */
};

/* Creates an empty batch with one reference. db and measurement are copied
 * (truncated to their maximum lengths; validate them first). */
struct batch *batch_new(const char *db, const char *measurement);

/* Reference counting. batch_unref frees on the last reference and sets *bp to
 * NULL; it accepts NULL and *bp == NULL. Thread-safe once sealed. */
struct batch *batch_ref(struct batch *b);
void batch_unref(struct batch **bp);

/* Index of column `name`, or -1 if the batch has none. */
int batch_col_find(const struct batch *b, const char *name, size_t len);

/* Index of column `name` with type `type`, creating it (null for existing
 * rows) if absent. If the column exists with another type, returns -1 and
 * sets *existing to its type. is_tag is recorded when the column is created
 * and OR-ed in afterwards. */
int batch_col_get(struct batch *b, const char *name, size_t len, enum col_type type, bool is_tag,
                  enum col_type *existing);

/* Appends a row with timestamp ts_us and every column null. Returns its
 * index. */
size_t batch_row_add(struct batch *b, int64_t ts_us);

/* Set a value in row `row` of column `col` (types must match the column). */
void batch_set_f64(struct batch *b, int col, size_t row, double v);
void batch_set_i64(struct batch *b, int col, size_t row, int64_t v);
void batch_set_u64(struct batch *b, int col, size_t row, uint64_t v);
void batch_set_bool(struct batch *b, int col, size_t row, bool v);
void batch_set_str(struct batch *b, int col, size_t row, const char *s, size_t len);
/* For decoders that give one string to many rows (a dictionary): copy the
 * bytes into the heap once with batch_heap_put, then point rows at them with
 * batch_set_bstr (column `col` must be a STRING column). */
struct bstr batch_heap_put(struct batch *b, const char *s, size_t len);
void batch_set_bstr(struct batch *b, int col, size_t row, struct bstr v);
void batch_set_null(struct batch *b, int col, size_t row);

/* Undo: drops rows >= nrows and columns >= ncols (a line that failed halfway). */
void batch_rollback(struct batch *b, size_t nrows, size_t ncols);

static inline bool batch_is_valid(const struct batch_col *c, size_t row)
{
    return (c->valid[row >> 3] >> (row & 7)) & 1;
}
static inline const char *batch_str(const struct batch *b, const struct batch_col *c, size_t row,
                                    size_t *len)
{
    *len = c->v.s[row].len;
    return b->heap ? b->heap + c->v.s[row].off : "";
}

/* Freezes the batch (min/max time computed, capacity trimmed). After this it
 * must not be modified. */
void batch_seal(struct batch *b);

/* Approximate bytes of memory the batch holds (for the buffer caps). */
size_t batch_mem_bytes(const struct batch *b);

/* Sorted names of tag columns joined by ',' into out (for Parquet `arc:tags`).
 * Returns the length; empty string if none. */
size_t batch_tag_list(const struct batch *b, char *out, size_t cap);

/*
 * Schema check: the type of a column of a measurement is fixed by its first
 * accepted value (SPEC §2.3). Decoders call this for every column they are
 * about to create in a batch. Implemented by catalog/; decoders only see the
 * function pointer, so ingest/ does not depend on catalog/.
 *
 * Returns RC_OK if `col` may hold `type` (recording it if the column is new),
 * or RC_INVALID with *existing set to the column's type on a conflict.
 */
struct schema_checker {
    int (*check)(void *ctx, const char *db, const char *measurement, const char *col,
                 size_t col_len, enum col_type type, enum col_type *existing);
    void *ctx;
};

#endif
