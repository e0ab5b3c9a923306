/*
 * tests/unit/query/encode_helpers.h — shared by the encoder tests: a plain
 * in-memory DuckDB connection (no query engine) and a helper that runs SQL
 * and encodes the result the way the HTTP reader drains it.
 */
#ifndef TESTS_UNIT_QUERY_ENCODE_HELPERS_H
#define TESTS_UNIT_QUERY_ENCODE_HELPERS_H

#include <duckdb.h>

#include "query/encode.h"
#include "util/mem.h"

static duckdb_database g_db;
static duckdb_connection g_conn;

static inline int setup(void **state)
{
    (void)state;
    if (duckdb_open(NULL, &g_db) != DuckDBSuccess || duckdb_connect(g_db, &g_conn) != DuckDBSuccess)
        return -1;
    return 0;
}

static inline int teardown(void **state)
{
    (void)state;
    duckdb_disconnect(&g_conn);
    duckdb_close(&g_db);
    return 0;
}

struct encoded {
    char *data; /* whole output, NUL-terminated (xfree) */
    size_t len;
    size_t max_buffer_cap; /* largest capacity the encoder's buffer reached */
    uint64_t rows;
    size_t chunks;
};

/* Runs sql, encodes every chunk with fmt, draining the encoder's buffer
 * after each call as the HTTP reader does. JSON gets a fixed tail. */
static inline int encode_sql(enum qenc_format fmt, const char *sql, size_t max_buffer,
                             struct encoded *out, struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    duckdb_result res;
    if (duckdb_query(g_conn, sql, &res) != DuckDBSuccess) {
        fprintf(stderr, "query failed: %s\n", duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        return RC_DB;
    }
    idx_t n = duckdb_column_count(&res);
    duckdb_logical_type *types = xcalloc(n + 1, sizeof(*types));
    const char **names = xcalloc(n + 1, sizeof(*names));
    for (idx_t i = 0; i < n; i++) {
        types[i] = duckdb_column_logical_type(&res, i);
        names[i] = duckdb_column_name(&res, i);
    }
    struct qenc_options o = {.format = fmt, .max_buffer_bytes = max_buffer};
    o.arrow_options = duckdb_result_get_arrow_options(&res);
    struct qenc *e = NULL;
    struct strbuf all;
    strbuf_init(&all, 0);
    int rc = qenc_new(&o, &e, eb);
    if (!rc)
        rc = qenc_begin(e, n, names, types, eb);
#define DRAIN()                                                                                    \
    do {                                                                                           \
        struct strbuf *ob = qenc_output(e);                                                        \
        if (ob->cap > out->max_buffer_cap)                                                         \
            out->max_buffer_cap = ob->cap;                                                         \
        if (strbuf_append(&all, ob->data ? ob->data : "", ob->len))                                \
            rc = RC_LIMIT;                                                                         \
        strbuf_reset(ob);                                                                          \
    } while (0)
    if (!rc)
        DRAIN();
    while (!rc) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(res);
        if (!ch)
            break;
        rc = qenc_chunk(e, ch, eb);
        duckdb_destroy_data_chunk(&ch);
        out->chunks++;
        if (!rc)
            DRAIN();
    }
    if (!rc)
        rc = qenc_end(e, eb);
    if (!rc && fmt == QENC_JSON)
        rc = qenc_json_tail(qenc_output(e), 2.5, 1736949787000000, -1);
    if (!rc)
        DRAIN();
#undef DRAIN
    if (e)
        out->rows = qenc_rows(e);
    qenc_free(&e);
    duckdb_destroy_arrow_options(&o.arrow_options);
    for (idx_t i = 0; i < n; i++)
        duckdb_destroy_logical_type(&types[i]);
    xfree(types);
    xfree(names);
    duckdb_destroy_result(&res);
    out->data = strbuf_detach(&all, &out->len);
    return rc;
}

#endif
