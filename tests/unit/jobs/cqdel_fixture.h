/*
 * tests/unit/jobs/cqdel_fixture.h — shared fixture of test_cq.c and
 * test_delete.c: a temp directory with real local storage, catalog, write
 * buffer, flush writer + flusher (Parquet through DuckDB) and query engine,
 * plus helpers to ingest rows and read results back as text.
 *
 * fx_close / fx_reopen simulate a restart: every store is closed (the
 * flusher flushes on stop) and opened again over the same directory.
 */
#ifndef TESTS_UNIT_JOBS_CQDEL_FIXTURE_H
#define TESTS_UNIT_JOBS_CQDEL_FIXTURE_H

#include "test_helpers.h"

#include <duckdb.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "flush/flusher.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "query/query.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

struct fx {
    char dir[256];
    char root[300];
    char jobs_db[320];
    struct storage *st;
    struct catalog *cat;
    struct flush_writer *w;
    struct colbuf *cb;
    struct flusher *fl;
    struct query_engine *qe;
};

static inline int64_t fx_t(const char *s)
{
    int64_t t = 0;
    if (!time_parse_rfc3339(s, strlen(s), &t))
        fail_msg("bad time %s", s);
    return t;
}

static inline void fx_open_stores(struct fx *f)
{
    struct errbuf eb = {0};
    char cpath[400];
    snprintf(cpath, sizeof(cpath), "%s/catalog.db", f->dir);
    int rc = storage_new_local(f->root, &f->st, &eb);
    if (rc == RC_OK)
        rc = catalog_open(cpath, &f->cat, &eb);
    struct flush_writer_options wo = {.compression = "zstd", .duckdb_threads = 1};
    if (rc == RC_OK)
        rc = flush_writer_new(f->st, f->cat, &wo, &f->w, &eb);
    struct catalog_reconcile_stats rs;
    if (rc == RC_OK)
        rc = flush_catalog_reconcile(f->cat, f->st, &rs, &eb);
    struct colbuf_limits lim = {.flush_rows = 1000000,
                                .max_age_ms = 3600000,
                                .hard_limit_rows = 1000000,
                                .max_total_bytes = 1u << 30};
    if (rc == RC_OK)
        rc = colbuf_new(&lim, NULL, &f->cb, &eb);
    struct flusher_options fo = {.nworkers = 1};
    if (rc == RC_OK)
        rc = flusher_start(f->cb, flush_writer_sink(f->w), &fo, &f->fl, &eb);
    struct query_engine_options qo = {.data_root = f->root,
                                      .default_db = "default",
                                      .pool_size = 2,
                                      .max_queue_size = 16,
                                      .acquire_timeout_ms = 5000,
                                      .query_timeout_ms = 20000,
                                      .max_sql_length = 10000,
                                      .threads = 1,
                                      .enable_object_cache = true};
    if (rc == RC_OK)
        rc = query_engine_new(&qo, f->cat, f->cb, f->st, &f->qe, &eb);
    if (rc != RC_OK)
        fail_msg("fixture: %s", eb.msg);
}

static inline void fx_open(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/arc-cqtest-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->root, sizeof(f->root), "%s/data", f->dir);
    snprintf(f->jobs_db, sizeof(f->jobs_db), "%s/jobs.db", f->dir);
    fx_open_stores(f);
}

/* Closes every store (flushing the buffer); the directory stays. */
static inline void fx_close_stores(struct fx *f)
{
    query_engine_free(&f->qe);
    assert_int_equal(flusher_stop(&f->fl, 10000), RC_OK);
    colbuf_free(&f->cb);
    flush_writer_free(&f->w);
    catalog_close(&f->cat);
    storage_free(&f->st);
}

static inline void fx_close(struct fx *f)
{
    fx_close_stores(f);
    char cmd[400];
    if (strncmp(f->dir, "/tmp/arc-cqtest-", 16) == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cleanup of %s failed\n", f->dir);
    }
}

/* Admits a sealed batch through the schema checker; drops the caller's
 * reference. */
static inline void fx_admit(struct fx *f, struct batch *b)
{
    struct schema_checker sc = catalog_schema_checker(f->cat);
    for (size_t j = 0; j < b->ncols; j++) {
        enum col_type ex;
        assert_int_equal(sc.check(sc.ctx, b->db, b->measurement, b->cols[j].name,
                                  b->cols[j].name_len, b->cols[j].type, &ex),
                         RC_OK);
    }
    struct errbuf eb = {0};
    assert_int_equal(colbuf_admit(f->cb, &b, 1, &eb), RC_OK);
    batch_unref(&b);
}

static inline void fx_flush(struct fx *f)
{
    struct errbuf eb = {0};
    int rc = flusher_flush(f->fl, NULL, NULL, 10000, NULL, &eb);
    if (rc != RC_OK)
        fail_msg("flush: %s", eb.msg);
}

/* Runs sql (default database db) and returns its rows as "v1|v2|..."
 * lines joined by '\n' (xfree'd by the caller). Fails the test on error. */
static inline char *fx_rows(struct fx *f, const char *db, const char *sql)
{
    struct query_request req = {.sql = sql, .default_db = db};
    struct query_cursor *c = NULL;
    struct errbuf eb = {0};
    int rc = query_execute(f->qe, &req, &c, &eb);
    if (rc != RC_OK)
        fail_msg("query failed (%s): %s\n  sql: %s", rc_name(rc), eb.msg, sql);
    struct strbuf sb;
    strbuf_init(&sb, 0);
    idx_t ncols = query_cursor_column_count(c);
    for (;;) {
        duckdb_data_chunk ch = NULL;
        rc = query_cursor_next(c, &ch, &eb);
        if (rc != RC_OK)
            fail_msg("query failed: %s", eb.msg);
        if (!ch)
            break;
        idx_t n = duckdb_data_chunk_get_size(ch);
        for (idx_t r = 0; r < n; r++) {
            for (idx_t j = 0; j < ncols; j++) {
                duckdb_vector v = duckdb_data_chunk_get_vector(ch, j);
                uint64_t *valid = duckdb_vector_get_validity(v);
                if (j)
                    (void)strbuf_putc(&sb, '|');
                if (valid && !duckdb_validity_row_is_valid(valid, r)) {
                    (void)strbuf_puts(&sb, "NULL");
                    continue;
                }
                void *d = duckdb_vector_get_data(v);
                duckdb_logical_type t = query_cursor_column_type(c, j);
                switch (duckdb_get_type_id(t)) {
                case DUCKDB_TYPE_BIGINT:
                    (void)strbuf_printf(&sb, "%" PRId64, ((int64_t *)d)[r]);
                    break;
                case DUCKDB_TYPE_UBIGINT:
                    (void)strbuf_printf(&sb, "%" PRIu64, ((uint64_t *)d)[r]);
                    break;
                case DUCKDB_TYPE_INTEGER: (void)strbuf_printf(&sb, "%d", ((int32_t *)d)[r]); break;
                case DUCKDB_TYPE_DOUBLE: (void)strbuf_printf(&sb, "%.17g", ((double *)d)[r]); break;
                case DUCKDB_TYPE_BOOLEAN:
                    (void)strbuf_puts(&sb, ((bool *)d)[r] ? "true" : "false");
                    break;
                case DUCKDB_TYPE_TIMESTAMP:
                case DUCKDB_TYPE_TIMESTAMP_TZ: {
                    char buf[64];
                    time_format_rfc3339_us(((int64_t *)d)[r], buf, sizeof(buf));
                    (void)strbuf_puts(&sb, buf);
                    break;
                }
                case DUCKDB_TYPE_VARCHAR: {
                    duckdb_string_t *s = (duckdb_string_t *)d;
                    (void)strbuf_append(&sb, duckdb_string_t_data(&s[r]),
                                        duckdb_string_t_length(s[r]));
                    break;
                }
                default: (void)strbuf_puts(&sb, "?"); break;
                }
            }
            (void)strbuf_putc(&sb, '\n');
        }
        duckdb_destroy_data_chunk(&ch);
    }
    query_cursor_close(&c);
    return strbuf_detach(&sb, NULL);
}

/* The single value of a one-row, one-column result, as an integer. */
static inline int64_t fx_count(struct fx *f, const char *db, const char *sql)
{
    char *s = fx_rows(f, db, sql);
    int64_t v = s[0] ? strtoll(s, NULL, 10) : 0;
    xfree(s);
    return v;
}

/* Visible catalog files of (db, m). */
static inline size_t fx_nfiles(struct fx *f, const char *db, const char *m)
{
    struct catalog_file_list l;
    catalog_files_list(f->cat, db, m, INT64_MIN, INT64_MAX, &l);
    size_t n = l.n;
    catalog_file_list_free(&l);
    return n;
}

static inline bool fx_object_exists(struct fx *f, const char *key)
{
    char path[1400];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    return stat(path, &st) == 0;
}

#endif
