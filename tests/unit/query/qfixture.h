/*
 * tests/unit/query/qfixture.h — shared fixture of the query tests: a temp
 * directory with a storage root, a real catalog, a real write buffer, real
 * Parquet files written by DuckDB's COPY (not the flusher), and helpers that
 * run a query and collect its rows as text.
 */
#ifndef TESTS_UNIT_QUERY_QFIXTURE_H
#define TESTS_UNIT_QUERY_QFIXTURE_H

#include "test_helpers.h"

#include <duckdb.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "ingest/batch.h"
#include "query/query.h"
#include "query/query_internal.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

struct qfix {
    char dir[256];
    char root[300];
    struct catalog *cat;
    struct colbuf *cb;
    struct query_engine *qe;
    duckdb_database wdb; /* writer of test Parquet files */
    duckdb_connection wconn;
    int nfile; /* file name counter */
};

static inline void qfix_mkdir_p(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

static inline void qfix_rm_rf(const char *dir)
{
    char cmd[600];
    if (strncmp(dir, "/tmp/arc-qtest-", 15) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

static inline void qfix_default_options(struct qfix *f, struct query_engine_options *o)
{
    memset(o, 0, sizeof(*o));
    o->data_root = f->root;
    o->default_db = "default";
    o->pool_size = 2;
    o->max_queue_size = 16;
    o->acquire_timeout_ms = 5000;
    o->query_timeout_ms = 20000;
    o->max_sql_length = 10000;
    o->threads = 1;
    o->enable_object_cache = true;
}

/* Opens catalog, buffer and (with o, or defaults) the engine. */
static inline void qfix_open_with(struct qfix *f, const struct query_engine_options *o)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/arc-qtest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/data", f->dir);
    qfix_mkdir_p(f->root);
    char catpath[400];
    snprintf(catpath, sizeof(catpath), "%s/catalog.db", f->dir);
    struct errbuf eb = {0};
    assert_int_equal(catalog_open(catpath, &f->cat, &eb), RC_OK);
    struct colbuf_limits lim = {.flush_rows = 1000000,
                                .max_age_ms = 3600000,
                                .hard_limit_rows = 10000000,
                                .max_total_bytes = 1u << 30};
    assert_int_equal(colbuf_new(&lim, NULL, &f->cb, &eb), RC_OK);
    struct query_engine_options dflt;
    if (!o) {
        qfix_default_options(f, &dflt);
        o = &dflt;
    } else {
        /* callers fill everything but the paths */
        struct query_engine_options *w = (struct query_engine_options *)o;
        w->data_root = f->root;
    }
    int rc = query_engine_new(o, f->cat, f->cb, NULL, &f->qe, &eb);
    if (rc != RC_OK)
        fprintf(stderr, "engine: %s\n", eb.msg);
    assert_int_equal(rc, RC_OK);
    /* One thread: DuckDB's own worker threads are not instrumented and
     * make TSan report races inside libduckdb. */
    duckdb_config wcfg;
    assert_int_equal(duckdb_create_config(&wcfg), DuckDBSuccess);
    assert_int_equal(duckdb_set_config(wcfg, "threads", "1"), DuckDBSuccess);
    char *werr = NULL;
    assert_int_equal(duckdb_open_ext(NULL, &f->wdb, wcfg, &werr), DuckDBSuccess);
    duckdb_destroy_config(&wcfg);
    assert_int_equal(duckdb_connect(f->wdb, &f->wconn), DuckDBSuccess);
}

static inline void qfix_open(struct qfix *f)
{
    qfix_open_with(f, NULL);
}

static inline void qfix_close(struct qfix *f)
{
    query_engine_free(&f->qe);
    assert_null(f->qe);
    colbuf_free(&f->cb);
    catalog_close(&f->cat);
    duckdb_disconnect(&f->wconn);
    duckdb_close(&f->wdb);
    qfix_rm_rf(f->dir);
}

/* Runs sql on the writer connection; fails the test on error. */
static inline void qfix_exec(struct qfix *f, const char *sql)
{
    duckdb_result r;
    if (duckdb_query(f->wconn, sql, &r) == DuckDBError) {
        fprintf(stderr, "writer SQL failed: %s\n%s\n", duckdb_result_error(&r), sql);
        duckdb_destroy_result(&r);
        fail();
    }
    duckdb_destroy_result(&r);
}

/*
 * Writes a Parquet file for (db, m) from `select` (a SELECT producing the
 * file's columns, `time` first as TIMESTAMPTZ), registers it in the catalog
 * with the given time range, and publishes it unless publish is false.
 * Returns the catalog id.
 */
static inline uint64_t qfix_add_file(struct qfix *f, const char *db, const char *m,
                                     const char *select, int64_t min_us, int64_t max_us,
                                     int64_t rows, bool publish)
{
    struct civil_time ct;
    time_to_civil(min_us, &ct);
    char key[512], dir[1024], path[1024], sql[8192];
    snprintf(key, sizeof(key), "%s/%s/%04d/%02d/%02d/%02d/%s_%04d%02d%02d_%02d0000_%09d.parquet",
             db, m, ct.year, ct.month, ct.day, ct.hour, m, ct.year, ct.month, ct.day, ct.hour,
             ++f->nfile);
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    qfix_mkdir_p(dir);
    snprintf(sql, sizeof(sql), "COPY (%s) TO '%s' (FORMAT parquet)", select, path);
    qfix_exec(f, sql);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    struct catalog_file_entry e = {.key = key,
                                   .db = db,
                                   .measurement = m,
                                   .min_time_us = min_us,
                                   .max_time_us = max_us,
                                   .row_count = rows,
                                   .bytes = (uint64_t)st.st_size,
                                   .tier = CATALOG_TIER_RAW};
    uint64_t id = 0;
    struct errbuf eb = {0};
    int rc = catalog_files_add(f->cat, &e, 1, &id, &eb);
    if (rc != RC_OK)
        fprintf(stderr, "catalog add: %s\n", eb.msg);
    assert_int_equal(rc, RC_OK);
    if (publish)
        catalog_files_publish(f->cat, &id, 1);
    return id;
}

/* Records the column types of (db, m) in the schema registry. */
static inline void qfix_schema(struct qfix *f, const char *db, const char *m, const char *col,
                               enum col_type t)
{
    struct schema_checker sc = catalog_schema_checker(f->cat);
    enum col_type existing;
    assert_int_equal(sc.check(sc.ctx, db, m, col, strlen(col), t, &existing), RC_OK);
}

/* A sealed batch of n rows: time = t0 + i * step, host = "h<i%3>",
 * value = base + i (DOUBLE). */
static inline struct batch *qfix_batch(const char *db, const char *m, int64_t t0, int64_t step,
                                       size_t n, double base)
{
    struct batch *b = batch_new(db, m);
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int val = batch_col_get(b, "value", 5, COL_DOUBLE, false, &ex);
    for (size_t i = 0; i < n; i++) {
        size_t r = batch_row_add(b, t0 + (int64_t)i * step);
        char h[8];
        snprintf(h, sizeof(h), "h%zu", i % 3);
        batch_set_str(b, host, r, h, strlen(h));
        batch_set_f64(b, val, r, base + (double)i);
    }
    batch_seal(b);
    return b;
}

/* Admits a batch to the buffer (and records its schema). Drops the
 * caller's reference. */
static inline void qfix_admit(struct qfix *f, struct batch *b)
{
    for (size_t j = 0; j < b->ncols; j++)
        qfix_schema(f, b->db, b->measurement, b->cols[j].name, b->cols[j].type);
    struct errbuf eb = {0};
    assert_int_equal(colbuf_admit(f->cb, &b, 1, &eb), RC_OK);
    batch_unref(&b);
}

/* ---- running queries ---------------------------------------------------- */

struct qres {
    int rc;
    char err[ERRBUF_SIZE];
    size_t ncols;
    char names[32][64];
    size_t nrows;
    char **rows;  /* "v1|v2|..." */
    bool empty;   /* empty-measurement cursor */
    size_t files; /* files scanned */
    enum query_kind kind;
};

static inline void qres_free(struct qres *r)
{
    for (size_t i = 0; i < r->nrows; i++)
        xfree(r->rows[i]);
    xfree(r->rows);
    memset(r, 0, sizeof(*r));
}

static inline void qfix_value(duckdb_vector v, duckdb_logical_type t, idx_t row, struct strbuf *sb)
{
    uint64_t *valid = duckdb_vector_get_validity(v);
    if (valid && !duckdb_validity_row_is_valid(valid, row)) {
        (void)strbuf_puts(sb, "NULL");
        return;
    }
    void *d = duckdb_vector_get_data(v);
    switch (duckdb_get_type_id(t)) {
    case DUCKDB_TYPE_BOOLEAN: (void)strbuf_puts(sb, ((bool *)d)[row] ? "true" : "false"); break;
    case DUCKDB_TYPE_TINYINT: (void)strbuf_printf(sb, "%d", ((int8_t *)d)[row]); break;
    case DUCKDB_TYPE_SMALLINT: (void)strbuf_printf(sb, "%d", ((int16_t *)d)[row]); break;
    case DUCKDB_TYPE_INTEGER: (void)strbuf_printf(sb, "%d", ((int32_t *)d)[row]); break;
    case DUCKDB_TYPE_BIGINT: (void)strbuf_printf(sb, "%" PRId64, ((int64_t *)d)[row]); break;
    case DUCKDB_TYPE_UBIGINT: (void)strbuf_printf(sb, "%" PRIu64, ((uint64_t *)d)[row]); break;
    case DUCKDB_TYPE_HUGEINT:
        (void)strbuf_printf(sb, "%" PRIu64, ((duckdb_hugeint *)d)[row].lower);
        break;
    case DUCKDB_TYPE_DOUBLE: (void)strbuf_printf(sb, "%g", ((double *)d)[row]); break;
    case DUCKDB_TYPE_FLOAT: (void)strbuf_printf(sb, "%g", (double)((float *)d)[row]); break;
    case DUCKDB_TYPE_TIMESTAMP:
    case DUCKDB_TYPE_TIMESTAMP_TZ: {
        char buf[64];
        time_format_rfc3339_us(((int64_t *)d)[row], buf, sizeof(buf));
        (void)strbuf_puts(sb, buf);
        break;
    }
    case DUCKDB_TYPE_VARCHAR: {
        duckdb_string_t *s = (duckdb_string_t *)d;
        (void)strbuf_append(sb, duckdb_string_t_data(&s[row]), duckdb_string_t_length(s[row]));
        break;
    }
    default: (void)strbuf_puts(sb, "?"); break;
    }
}

/* Runs sql (database header db, may be NULL) and collects everything. */
static inline void qfix_query_req(struct query_engine *qe, const struct query_request *req,
                                  struct qres *r)
{
    memset(r, 0, sizeof(*r));
    struct errbuf eb = {0};
    struct query_cursor *c = NULL;
    r->rc = query_execute(qe, req, &c, &eb);
    if (r->rc != RC_OK) {
        snprintf(r->err, sizeof(r->err), "%s", eb.msg);
        assert_null(c);
        return;
    }
    r->empty = query_cursor_is_empty_measurement(c);
    r->kind = query_cursor_kind(c);
    r->ncols = query_cursor_column_count(c);
    for (size_t i = 0; i < r->ncols && i < 32; i++)
        snprintf(r->names[i], sizeof(r->names[i]), "%s", query_cursor_column_name(c, i));
    size_t cap = 0;
    for (;;) {
        duckdb_data_chunk ch = NULL;
        int rc = query_cursor_next(c, &ch, &eb);
        if (rc != RC_OK) {
            r->rc = rc;
            snprintf(r->err, sizeof(r->err), "%s", eb.msg);
            break;
        }
        if (!ch)
            break;
        idx_t n = duckdb_data_chunk_get_size(ch);
        for (idx_t i = 0; i < n; i++) {
            struct strbuf sb;
            strbuf_init(&sb, 0);
            for (size_t j = 0; j < r->ncols; j++) {
                if (j)
                    (void)strbuf_putc(&sb, '|');
                qfix_value(duckdb_data_chunk_get_vector(ch, j), query_cursor_column_type(c, j), i,
                           &sb);
            }
            if (r->nrows == cap) {
                cap = cap ? cap * 2 : 16;
                r->rows = xrealloc(r->rows, cap * sizeof(*r->rows));
            }
            r->rows[r->nrows++] = strbuf_detach(&sb, NULL);
        }
        duckdb_destroy_data_chunk(&ch);
    }
    r->files = query_cursor_files_scanned(c);
    query_cursor_close(&c);
    assert_null(c);
}

static inline void qfix_query(struct query_engine *qe, const char *sql, const char *db,
                              struct qres *r)
{
    struct query_request req = {.sql = sql, .default_db = db, .allow_special = true};
    qfix_query_req(qe, &req, r);
}

/* Runs sql and asserts success; prints the error otherwise. */
static inline void qfix_ok(struct query_engine *qe, const char *sql, const char *db, struct qres *r)
{
    qfix_query(qe, sql, db, r);
    if (r->rc != RC_OK)
        fprintf(stderr, "query failed (%s): %s\n  sql: %s\n", rc_name(r->rc), r->err, sql);
    assert_int_equal(r->rc, RC_OK);
}

/* The single value of a one-row, one-column result. */
static inline const char *qfix_scalar(struct query_engine *qe, const char *sql, const char *db,
                                      char *buf, size_t cap)
{
    struct qres r;
    qfix_ok(qe, sql, db, &r);
    assert_int_equal(r.nrows, 1);
    snprintf(buf, cap, "%s", r.rows[0]);
    qres_free(&r);
    return buf;
}

/* Asserts that sql fails with rc and that the message contains `needle`. */
static inline void qfix_fails(struct query_engine *qe, const char *sql, const char *db, int rc,
                              const char *needle)
{
    struct qres r;
    qfix_query(qe, sql, db, &r);
    if (r.rc != rc || (needle && !strstr(r.err, needle)))
        fprintf(stderr, "expected %s containing '%s', got %s: '%s'\n  sql: %s\n", rc_name(rc),
                needle ? needle : "", rc_name(r.rc), r.err, sql);
    assert_int_equal(r.rc, rc);
    if (needle)
        assert_non_null(strstr(r.err, needle));
    qres_free(&r);
}

#endif
