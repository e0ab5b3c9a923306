/*
 * tests/unit/jobs/jobs_fixture.h — shared fixture of the compaction and
 * retention tests: a temporary directory with a local storage root, a real
 * catalog, the real flush writer (so input files are real raw flush files
 * with Arc's names and arc:tags), optionally the real query engine, and a
 * DuckDB connection of the test's own to look at files. Header-only.
 */
#ifndef TESTS_UNIT_JOBS_JOBS_FIXTURE_H
#define TESTS_UNIT_JOBS_JOBS_FIXTURE_H

#include "test_helpers.h"

#include <dirent.h>
#include <duckdb.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "query/query.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

struct jfix {
    char dir[256];
    char root[300];
    char temp[300];
    char catpath[300];
    struct storage *st;
    struct catalog *cat;
    struct flush_writer *w;
    struct colbuf *cb;
    struct query_engine *qe;
    duckdb_database db;
    duckdb_connection conn;
};

static inline int64_t jfix_time(const char *s)
{
    int64_t t = 0;
    if (!time_parse_rfc3339(s, strlen(s), &t))
        fail_msg("bad time %s", s);
    return t;
}

static inline void jfix_rm_rf(const char *dir)
{
    char cmd[600];
    if (strncmp(dir, "/tmp/arc-jtest-", 15) != 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

/* When set, jfix_open_parts takes its storage from here instead of a
 * local backend over f->root (the S3 tests). */
static struct storage *(*jfix_storage_factory)(void);

/* Opens catalog, storage and writer over f->dir (created when empty). */
static inline void jfix_open_parts(struct jfix *f, bool engine)
{
    struct errbuf eb = {0};
    if (catalog_open(f->catpath, &f->cat, &eb) != RC_OK)
        fail_msg("catalog_open: %s", eb.msg);
    if (jfix_storage_factory)
        f->st = jfix_storage_factory();
    else if (storage_new_local(f->root, &f->st, &eb) != RC_OK)
        fail_msg("storage: %s", eb.msg);
    struct flush_writer_options wo = {.compression = "snappy", .duckdb_threads = 1};
    if (flush_writer_new(f->st, f->cat, &wo, &f->w, &eb) != RC_OK)
        fail_msg("writer: %s", eb.msg);
    if (engine) {
        struct colbuf_limits lim = {.flush_rows = 1000000,
                                    .max_age_ms = 3600000,
                                    .hard_limit_rows = 10000000,
                                    .max_total_bytes = 1u << 30};
        assert_int_equal(colbuf_new(&lim, NULL, &f->cb, &eb), RC_OK);
        struct query_engine_options o = {
            .data_root = f->root,
            .default_db = "default",
            .pool_size = 2,
            .max_queue_size = 16,
            .acquire_timeout_ms = 5000,
            .query_timeout_ms = 30000,
            .max_sql_length = 10000,
            .threads = 1,
            .enable_object_cache = false,
        };
        if (query_engine_new(&o, f->cat, f->cb, f->st, &f->qe, &eb) != RC_OK)
            fail_msg("engine: %s", eb.msg);
    }
    duckdb_config cfg;
    assert_int_equal(duckdb_create_config(&cfg), DuckDBSuccess);
    assert_int_equal(duckdb_set_config(cfg, "threads", "1"), DuckDBSuccess);
    char *err = NULL;
    assert_int_equal(duckdb_open_ext(NULL, &f->db, cfg, &err), DuckDBSuccess);
    duckdb_destroy_config(&cfg);
    assert_int_equal(duckdb_connect(f->db, &f->conn), DuckDBSuccess);
    duckdb_result r;
    assert_int_equal(duckdb_query(f->conn, "SET TimeZone = 'UTC'", &r), DuckDBSuccess);
    duckdb_destroy_result(&r);
}

static inline void jfix_close_parts(struct jfix *f)
{
    query_engine_free(&f->qe);
    colbuf_free(&f->cb);
    flush_writer_free(&f->w);
    catalog_close(&f->cat);
    storage_free(&f->st);
    if (f->conn)
        duckdb_disconnect(&f->conn);
    if (f->db)
        duckdb_close(&f->db);
    f->conn = NULL;
    f->db = NULL;
}

static inline void jfix_open(struct jfix *f, bool engine)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/arc-jtest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/data", f->dir);
    snprintf(f->temp, sizeof(f->temp), "%s/compaction", f->dir);
    snprintf(f->catpath, sizeof(f->catpath), "%s/catalog.db", f->dir);
    jfix_open_parts(f, engine);
}

static inline void jfix_close(struct jfix *f)
{
    jfix_close_parts(f);
    jfix_rm_rf(f->dir);
}

/* Records a batch's columns in the schema registry (as ingestion does). */
static inline void jfix_schema(struct jfix *f, const struct batch *b)
{
    struct schema_checker sc = catalog_schema_checker(f->cat);
    for (size_t j = 0; j < b->ncols; j++) {
        enum col_type ex;
        assert_int_equal(sc.check(sc.ctx, b->db, b->measurement, b->cols[j].name,
                                  strlen(b->cols[j].name), b->cols[j].type, &ex),
                         RC_OK);
    }
}

/* Writes batch b as one raw flush file (published); drops the reference. */
static inline void jfix_flush(struct jfix *f, struct batch *b)
{
    jfix_schema(f, b);
    void *token = NULL;
    struct errbuf eb = {0};
    if (flush_writer_write(f->w, b->db, b->measurement, &b, 1, &token, &eb) != RC_OK)
        fail_msg("flush_writer_write: %s", eb.msg);
    flush_writer_publish(f->w, token);
    batch_unref(&b);
}

/*
 * A sealed batch of file `k` of n_files in the hour starting at hour_us:
 * rows r = 0..nrows-1 at time hour_us + (r * n_files + k) * step_us (so
 * files interleave in time), host tag "h<r%3>", value = k*1000 + r
 * (DOUBLE), count = r (INT64); every 3rd file has a `region` tag, every
 * 5th also ok (BOOLEAN), msg (STRING) and u (UBIGINT) fields.
 */
static inline struct batch *jfix_batch(const char *db, const char *m, int64_t hour_us, size_t k,
                                       size_t n_files, size_t nrows, int64_t step_us)
{
    struct batch *b = batch_new(db, m);
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int region = k % 3 == 0 ? batch_col_get(b, "region", 6, COL_STRING, true, &ex) : -1;
    int value = batch_col_get(b, "value", 5, COL_DOUBLE, false, &ex);
    int count = batch_col_get(b, "count", 5, COL_INT64, false, &ex);
    int ok = -1, msg = -1, u = -1;
    if (k % 5 == 0) {
        ok = batch_col_get(b, "ok", 2, COL_BOOL, false, &ex);
        msg = batch_col_get(b, "msg", 3, COL_STRING, false, &ex);
        u = batch_col_get(b, "u", 1, COL_UINT64, false, &ex);
    }
    for (size_t r = 0; r < nrows; r++) {
        size_t row = batch_row_add(b, hour_us + (int64_t)(r * n_files + k) * step_us);
        char h[8];
        snprintf(h, sizeof(h), "h%zu", r % 3);
        batch_set_str(b, host, row, h, strlen(h));
        if (region >= 0) {
            const char *rg = r % 2 ? "eu" : "us";
            batch_set_str(b, region, row, rg, strlen(rg));
        }
        batch_set_f64(b, value, row, (double)(k * 1000 + r));
        batch_set_i64(b, count, row, (int64_t)r);
        if (ok >= 0) {
            batch_set_bool(b, ok, row, r % 2 == 0);
            char s[32];
            snprintf(s, sizeof(s), "m-%zu-%zu", k, r);
            batch_set_str(b, msg, row, s, strlen(s));
            batch_set_u64(b, u, row, UINT64_C(18000000000000000000) + r);
        }
    }
    batch_seal(b);
    return b;
}

/* Writes n_files raw files into the hour (see jfix_batch). */
static inline void jfix_fill_hour(struct jfix *f, const char *db, const char *m, int64_t hour_us,
                                  size_t n_files, size_t nrows, int64_t step_us)
{
    for (size_t k = 0; k < n_files; k++)
        jfix_flush(f, jfix_batch(db, m, hour_us, k, n_files, nrows, step_us));
}

/* ---- results as text ------------------------------------------------------ */

static inline void jfix_value(duckdb_vector v, duckdb_logical_type t, idx_t row, struct strbuf *sb)
{
    uint64_t *valid = duckdb_vector_get_validity(v);
    if (valid && !duckdb_validity_row_is_valid(valid, row)) {
        (void)strbuf_puts(sb, "NULL");
        return;
    }
    void *d = duckdb_vector_get_data(v);
    switch (duckdb_get_type_id(t)) {
    case DUCKDB_TYPE_BOOLEAN: (void)strbuf_puts(sb, ((bool *)d)[row] ? "true" : "false"); break;
    case DUCKDB_TYPE_INTEGER: (void)strbuf_printf(sb, "%d", ((int32_t *)d)[row]); break;
    case DUCKDB_TYPE_BIGINT: (void)strbuf_printf(sb, "%" PRId64, ((int64_t *)d)[row]); break;
    case DUCKDB_TYPE_UBIGINT: (void)strbuf_printf(sb, "%" PRIu64, ((uint64_t *)d)[row]); break;
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT: {
        duckdb_hugeint h = ((duckdb_hugeint *)d)[row];
        (void)strbuf_printf(sb, "%" PRId64 ":%" PRIu64, h.upper, h.lower);
        break;
    }
    case DUCKDB_TYPE_DOUBLE: (void)strbuf_printf(sb, "%.17g", ((double *)d)[row]); break;
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
    default: (void)strbuf_printf(sb, "?type%d", (int)duckdb_get_type_id(t)); break;
    }
}

/* Appends every row of a chunk ("a|b|c\n") to sb. */
static inline void jfix_chunk_text(duckdb_data_chunk ch, duckdb_logical_type *types, idx_t ncols,
                                   struct strbuf *sb)
{
    idx_t n = duckdb_data_chunk_get_size(ch);
    for (idx_t i = 0; i < n; i++) {
        for (idx_t j = 0; j < ncols; j++) {
            if (j)
                (void)strbuf_putc(sb, '|');
            jfix_value(duckdb_data_chunk_get_vector(ch, j), types[j], i, sb);
        }
        (void)strbuf_putc(sb, '\n');
    }
}

/* Runs sql through the query engine; returns the header and rows as text
 * (xmalloc'ed), or NULL with *rc set. */
static inline char *jfix_query(struct query_engine *qe, const char *sql, int *rc_out)
{
    struct query_request req = {.sql = sql, .default_db = "default"};
    struct query_cursor *c = NULL;
    struct errbuf eb = {0};
    int rc = query_execute(qe, &req, &c, &eb);
    if (rc_out)
        *rc_out = rc;
    if (rc != RC_OK) {
        if (!rc_out)
            fail_msg("query %s: %s", sql, eb.msg);
        return NULL;
    }
    struct strbuf sb;
    strbuf_init(&sb, 0);
    idx_t nc = query_cursor_column_count(c);
    duckdb_logical_type *types = xcalloc(nc + 1, sizeof(*types));
    for (idx_t j = 0; j < nc; j++) {
        (void)strbuf_printf(&sb, "%s%s", j ? "|" : "", query_cursor_column_name(c, j));
        types[j] = query_cursor_column_type(c, j);
    }
    (void)strbuf_putc(&sb, '\n');
    for (;;) {
        duckdb_data_chunk ch = NULL;
        rc = query_cursor_next(c, &ch, &eb);
        if (rc != RC_OK) {
            if (rc_out)
                *rc_out = rc;
            else
                fail_msg("query %s: %s", sql, eb.msg);
            break;
        }
        if (!ch)
            break;
        jfix_chunk_text(ch, types, nc, &sb);
        duckdb_destroy_data_chunk(&ch);
    }
    xfree(types);
    query_cursor_close(&c);
    if (rc != RC_OK) {
        strbuf_cleanup(&sb);
        return NULL;
    }
    return strbuf_detach(&sb, NULL);
}

/* Runs sql on the fixture's own DuckDB; text as jfix_query. Fails the test
 * on error unless rc_ok is given (then NULL is returned). */
static inline char *jfix_duck(duckdb_connection conn, const char *sql, bool *ok)
{
    duckdb_result r;
    if (duckdb_query(conn, sql, &r) == DuckDBError) {
        if (!ok)
            fail_msg("duckdb %s: %s", sql, duckdb_result_error(&r));
        *ok = false;
        duckdb_destroy_result(&r);
        return NULL;
    }
    if (ok)
        *ok = true;
    struct strbuf sb;
    strbuf_init(&sb, 0);
    idx_t nc = duckdb_column_count(&r);
    duckdb_logical_type *types = xcalloc(nc + 1, sizeof(*types));
    for (idx_t j = 0; j < nc; j++) {
        (void)strbuf_printf(&sb, "%s%s", j ? "|" : "", duckdb_column_name(&r, j));
        types[j] = duckdb_column_logical_type(&r, j);
    }
    (void)strbuf_putc(&sb, '\n');
    duckdb_data_chunk ch;
    while ((ch = duckdb_fetch_chunk(r)) != NULL) {
        jfix_chunk_text(ch, types, nc, &sb);
        duckdb_destroy_data_chunk(&ch);
    }
    for (idx_t j = 0; j < nc; j++)
        duckdb_destroy_logical_type(&types[j]);
    xfree(types);
    duckdb_destroy_result(&r);
    return strbuf_detach(&sb, NULL);
}

/* A single integer from the fixture's DuckDB. */
static inline int64_t jfix_int(duckdb_connection conn, const char *sql)
{
    duckdb_result r;
    if (duckdb_query(conn, sql, &r) == DuckDBError)
        fail_msg("duckdb %s: %s", sql, duckdb_result_error(&r));
    int64_t v = duckdb_value_int64(&r, 0, 0);
    duckdb_destroy_result(&r);
    return v;
}

/* "[ 'root/key1', ... ]" of the visible files of (db, m). */
static inline char *jfix_visible_list(struct jfix *f, const char *db, const char *m, size_t *n)
{
    struct catalog_file_list fl;
    catalog_files_list(f->cat, db, m, INT64_MIN, INT64_MAX, &fl);
    struct strbuf sb;
    strbuf_init(&sb, 0);
    (void)strbuf_putc(&sb, '[');
    for (size_t i = 0; i < fl.n; i++)
        (void)strbuf_printf(&sb, "%s'%s/%s'", i ? ", " : "", f->root, fl.files[i].key);
    (void)strbuf_putc(&sb, ']');
    if (n)
        *n = fl.n;
    catalog_file_list_free(&fl);
    return strbuf_detach(&sb, NULL);
}

/* Visible catalog files of (db, m) whose key starts with prefix. */
static inline size_t jfix_count_visible(struct jfix *f, const char *db, const char *m,
                                        const char *prefix, const char *suffix)
{
    struct catalog_file_list fl;
    catalog_files_list(f->cat, db, m, INT64_MIN, INT64_MAX, &fl);
    size_t n = 0;
    for (size_t i = 0; i < fl.n; i++) {
        const char *k = fl.files[i].key;
        size_t kl = strlen(k);
        if (prefix && strncmp(k, prefix, strlen(prefix)) != 0)
            continue;
        if (suffix && (kl < strlen(suffix) || strcmp(k + kl - strlen(suffix), suffix) != 0))
            continue;
        n++;
    }
    catalog_file_list_free(&fl);
    return n;
}

struct jfix_listing {
    size_t n;
    char keys[4096][200];
};

static inline int jfix_list_cb(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)size;
    (void)mtime;
    struct jfix_listing *l = ctx;
    if (l->n < 4096)
        snprintf(l->keys[l->n++], sizeof(l->keys[0]), "%s", key);
    return RC_OK;
}

/* Objects in storage under prefix (hidden '.'/'_' names excluded). */
static inline size_t jfix_count_objects(struct jfix *f, const char *prefix)
{
    static struct jfix_listing l;
    l.n = 0;
    struct errbuf eb = {0};
    assert_int_equal(storage_list(f->st, prefix, jfix_list_cb, &l, &eb), RC_OK);
    return l.n;
}

/* Entries of a local directory whose name starts with prefix (NULL = any);
 * -1 if the directory does not exist. */
static inline int jfix_dir_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!prefix || strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    }
    closedir(d);
    return n;
}

#endif
