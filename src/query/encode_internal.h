/*
 * query/encode_internal.h — shared by query/encode*.c only: the prepared
 * type tree, value renderers and the per-format hooks. Not a contract.
 */
#ifndef QUERY_ENCODE_INTERNAL_H
#define QUERY_ENCODE_INTERNAL_H

#include "query/encode.h"

/* A DuckDB logical type with everything the renderers need looked up once
 * at qenc_begin (child types, names, enum dictionaries), so rendering a
 * value never calls back into DuckDB's type API. */
struct qenc_tinfo {
    duckdb_type id;
    duckdb_logical_type lt; /* owned when `owned`, else borrowed */
    bool owned;
    /* DECIMAL */
    uint8_t dec_scale, dec_width;
    duckdb_type dec_internal; /* SMALLINT, INTEGER, BIGINT or HUGEINT */
    /* ENUM */
    duckdb_type enum_internal; /* UTINYINT, USMALLINT or UINTEGER */
    char **enum_values;        /* xstrdup'ed dictionary */
    uint32_t enum_count;
    /* ARRAY */
    idx_t array_size;
    /* LIST, ARRAY: child[0]; MAP: child[0] key, child[1] value;
     * STRUCT, UNION: members (UNION vector child i+1 is member i) */
    struct qenc_tinfo **child;
    char **child_names; /* STRUCT, UNION: member names (xstrdup'ed) */
    idx_t nchild;
    bool map_string_keys; /* MAP with VARCHAR keys renders as an object */
};

/* Builds the tree for t (borrowed; must outlive the tree). */
struct qenc_tinfo *qenc__tinfo_new(duckdb_logical_type t);
void qenc__tinfo_free(struct qenc_tinfo **ti);

/* True if row of a vector with validity mask `validity` (may be NULL) holds
 * a value. */
static inline bool qenc__valid(const uint64_t *validity, idx_t row)
{
    return !validity || ((validity[row >> 6] >> (row & 63)) & 1);
}

/* Bytes of a DuckDB string_t (VARCHAR, BLOB, BIT, BIGNUM). */
static inline const char *qenc__str(const duckdb_string_t *s, uint32_t *len)
{
    *len = s->value.inlined.length;
    return *len <= 12 ? s->value.inlined.inlined : s->value.pointer.ptr;
}

/* Appends row's value as JSON (null when invalid). */
int qenc__json_value(struct strbuf *sb, const struct qenc_tinfo *ti, duckdb_vector v, idx_t row);

/* Appends row's value as plain text: numbers and times as in JSON, strings
 * raw (not quoted), BLOB base64, nested values as their JSON text. Sets
 * *is_null (and appends nothing) for NULL. */
int qenc__text_value(struct strbuf *sb, const struct qenc_tinfo *ti, duckdb_vector v, idx_t row,
                     bool *is_null);

/* Formatters, exposed for the Arrow writer and tests. Each writes into buf
 * (at least QENC_FMT_MAX bytes), NUL-terminated, and returns the length. */
#define QENC_FMT_MAX 96
size_t qenc__fmt_timestamp(char *buf, int64_t value, int64_t units_per_sec);
size_t qenc__fmt_date(char *buf, int32_t days);
size_t qenc__fmt_time(char *buf, int64_t value, int64_t units_per_sec);
size_t qenc__fmt_interval(char *buf, const duckdb_interval *iv);
size_t qenc__fmt_double(char *buf, double v); /* "" for NaN/Inf */
size_t qenc__fmt_float(char *buf, float v);   /* "" for NaN/Inf */
size_t qenc__fmt_i128(char *buf, __int128 v);
size_t qenc__fmt_u128(char *buf, unsigned __int128 v);
size_t qenc__fmt_decimal(char *buf, __int128 v, unsigned scale);
int qenc__append_base64(struct strbuf *sb, const unsigned char *p, size_t n);

/* Per-format hooks (encode_json.c, encode_csv.c, encode_arrow.c). */
struct qenc_ops {
    int (*begin)(struct qenc *e, struct errbuf *eb);
    int (*chunk)(struct qenc *e, duckdb_data_chunk chunk, idx_t nrows, struct errbuf *eb);
    int (*end)(struct qenc *e, struct errbuf *eb);
    void (*free_state)(struct qenc *e);
};
extern const struct qenc_ops qenc__json_ops, qenc__csv_ops, qenc__arrow_ops;

struct qenc {
    struct qenc_options o;
    const struct qenc_ops *ops;
    struct strbuf out;
    idx_t ncols;
    const char *const *names;         /* borrowed */
    const duckdb_logical_type *types; /* borrowed */
    struct qenc_tinfo **ti;           /* per column */
    uint64_t rows;
    bool begun, ended;
    void *state; /* format-specific (Arrow) */
};

#endif
