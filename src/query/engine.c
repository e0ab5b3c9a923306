/*
 * query/engine.c — the query engine: query.h's API on top of the pool,
 * the statement checks, the rewrite, fresh reads and the watchdog.
 *
 * DESIGN (docs/query.md has the long version).
 *
 * One in-memory DuckDB database per engine, locked down at start (SPEC
 * §4.3, DESIGN invariant 7): on a setup connection, SET GLOBAL TimeZone =
 * 'UTC', register arc_buffer_scan, then SET GLOBAL allowed_directories =
 * [data root, cache dir], enable_external_access = false, lock_configuration
 * = true. After that no statement can change a setting, reach a file outside
 * those directories, attach, install or load.
 *
 * query_execute, for a normal statement:
 *
 *   1. length, header database (§0.4), special commands (check.c);
 *   2. borrow a pooled connection (pool.c; RC_BUSY after the acquire
 *      timeout or with a full queue) and start the deadline (watchdog.c);
 *   3. DuckDB's parser decides what the statement is:
 *      duckdb_extract_statements → exactly one statement; the statement
 *      (after an EXPLAIN [ANALYZE] prefix) must be serialisable by
 *      json_serialize_sql, which accepts SELECT statements only (WITH, set
 *      operations, VALUES, FROM-first, DESCRIBE/SUMMARIZE of a query);
 *      anything else is refused as "Only read-only queries are allowed:
 *      <KIND>", the kind taken from the prepared statement type when DuckDB
 *      can prepare it, else from its first keyword;
 *   4. rewrite.c resolves measurements and time bounds on the parse tree;
 *      bounds are evaluated by DuckDB (json_deserialize_sql of the bound
 *      expressions, then epoch_us(TRY_CAST(.. AS TIMESTAMPTZ)));
 *   5. per measurement one consistent snapshot: colbuf_snapshot, with the
 *      catalog's visible files (within the references' time range) copied
 *      under the buffer lock; the batches go into a qscan snapshot;
 *   6. each reference becomes the subquery
 *        SELECT * FROM arc_buffer_scan(<id>)
 *        UNION ALL BY NAME SELECT * FROM read_parquet([<files>], ...)
 *      (buffer scan first: it declares time + every catalog column in name
 *      order, so the column set and order do not depend on which files
 *      pruning kept);
 *   7. the final text is prepared; its statement type must be SELECT
 *      (EXPLAIN with the prefix) — a second check by DuckDB's parser — and
 *      executed as a streaming result.
 *
 * If every referenced measurement has no data at all, the cursor is the
 * "empty measurement" result of §4.4 (no columns, no rows) and no DuckDB
 * statement runs.
 *
 * Threads: any thread may call query_execute / query_estimate /
 * query_pool_stats; a cursor is used by one thread at a time.
 */
#include "query/query.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "metrics/metrics.h"
#include "query/query_internal.h"
#include "storage/readcache.h"
#include "storage/storage.h"
#include "util/faults.h"
#include "util/json.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

/* Cap on the rewritten statement (the file lists make it long). */
#define FINAL_SQL_MAX (256u * 1024 * 1024)

struct query_engine {
    /* Immutable after query_engine_new. */
    struct catalog *cat;
    struct colbuf *cb;
    struct storage *st;
    char *data_root; /* absolute (realpath) */
    char *base_path; /* as configured, for storage_path */
    char *default_db;
    struct readcache *rcache; /* remote data: files fetched through it; NULL = local */
    const char *file_root;    /* where DuckDB finds a key: data_root or the cache dir */
    duckdb_database db;
    struct dbpool *pool;
    struct qwatch *watch;
    int64_t query_timeout_ms;
    int64_t slow_ms;
    size_t max_sql_length;
    bool pruning;
    bool fault_unhealthy;      /* ARC_TEST_FAULTS duckdb_mark_unhealthy_after_query */
    char *tpl_head, *tpl_tail; /* bound-evaluation template; NULL = off */
    struct qfuncs funcs;

    atomic_uint_fast64_t queries_total, errors_total;
};

struct query_cursor {
    struct query_engine *qe;
    enum query_kind kind;
    bool empty; /* §4.4 empty measurement */
    bool has_conn;
    struct dbpool_conn pc;
    bool watched;
    struct qwatch_entry watch;
    duckdb_prepared_statement ps;
    bool has_res;
    duckdb_result res;
    idx_t ncols;
    duckdb_logical_type *types;
    struct qscan_snapshot **snaps;
    size_t nsnaps;
    int64_t t0_ns;
    double wait_ms;
    uint64_t rows;
    size_t files;
    char **pins; /* read-cache keys this query holds (released at close) */
    size_t npins;
    bool failed; /* an error was reported (counted once) */
    bool done;
    bool db_error;      /* a DuckDB error that may leave the connection unusable */
    char sql_head[160]; /* for the slow-query log */
};

/* ---- metrics ---------------------------------------------------------------- */

static struct metric *m_requests, *m_success, *m_errors, *m_timeouts, *m_rows, *m_files,
    *m_duration;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
    m_requests = metrics_counter("arc_query_requests_total", "Queries received", NULL);
    m_success = metrics_counter("arc_query_success_total", "Queries that completed", NULL);
    m_errors = metrics_counter("arc_query_errors_total", "Queries that failed", NULL);
    m_timeouts = metrics_counter("arc_query_timeouts_total",
                                 "Queries interrupted by query.timeout_seconds", NULL);
    m_rows = metrics_counter("arc_query_rows_total", "Rows returned by queries", NULL);
    m_files = metrics_counter("arc_query_files_scanned_total",
                              "Parquet files referenced by queries after time pruning", NULL);
    m_duration = metrics_histogram("arc_query_duration_seconds", "Query duration", NULL);
}

/* ---- helpers ------------------------------------------------------------------ */

/* Copies a DuckDB error message without the "LINE n: ..." context, which
 * would show the rewritten statement (file paths) instead of the user's. */
static int set_duck_error(struct errbuf *eb, int rc, const char *prefix, const char *msg)
{
    if (!msg)
        msg = "unknown DuckDB error";
    size_t n = strlen(msg);
    const char *line = strstr(msg, "\nLINE ");
    if (line)
        n = (size_t)(line - msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return errbuf_set(eb, rc, "%s%.*s", prefix ? prefix : "", (int)n, msg);
}

static bool cursor_fired(const struct query_cursor *c)
{
    return c->watched && atomic_load(&c->watch.fired);
}

/* Maps a DuckDB error of this cursor's connection. */
static int duck_fail(struct query_cursor *c, duckdb_error_type et, const char *msg,
                     struct errbuf *eb)
{
    if (cursor_fired(c) || et == DUCKDB_ERROR_INTERRUPT) {
        if (cursor_fired(c))
            return errbuf_set(eb, RC_TIMEOUT, "Query timed out");
        c->db_error = true;
        return set_duck_error(eb, RC_DB, NULL, msg);
    }
    int rc = qcheck_rc_for_error(et);
    if (rc == RC_DB &&
        (et == DUCKDB_ERROR_FATAL || et == DUCKDB_ERROR_INTERNAL || et == DUCKDB_ERROR_CONNECTION))
        c->db_error = true;
    return set_duck_error(eb, rc, NULL, msg);
}

/* Runs sql on the cursor's connection with one VARCHAR parameter and
 * returns the first value of the first row as an xmalloc'ed string (*out
 * NULL for SQL NULL). */
static int query_text(struct query_cursor *c, const char *sql, const char *arg, size_t arg_len,
                      char **out, size_t *out_len, struct errbuf *eb)
{
    duckdb_prepared_statement ps = NULL;
    duckdb_result res;
    bool has_res = false;
    int rc = RC_OK;
    *out = NULL;
    if (duckdb_prepare(c->pc.conn, sql, &ps) == DuckDBError) {
        rc = duck_fail(c, DUCKDB_ERROR_INVALID, duckdb_prepare_error(ps), eb);
        goto out;
    }
    if (duckdb_bind_varchar_length(ps, 1, arg, arg_len) == DuckDBError) {
        rc = errbuf_set(eb, RC_INTERNAL, "cannot bind a parameter");
        goto out;
    }
    has_res = true;
    if (duckdb_execute_prepared(ps, &res) == DuckDBError) {
        rc = duck_fail(c, duckdb_result_error_type(&res), duckdb_result_error(&res), eb);
        goto out;
    }
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    if (ch && duckdb_data_chunk_get_size(ch) > 0) {
        duckdb_vector v = duckdb_data_chunk_get_vector(ch, 0);
        uint64_t *valid = duckdb_vector_get_validity(v);
        if (!valid || duckdb_validity_row_is_valid(valid, 0)) {
            duckdb_string_t *s = (duckdb_string_t *)duckdb_vector_get_data(v);
            uint32_t len = duckdb_string_t_length(s[0]);
            *out = xstrndup(duckdb_string_t_data(&s[0]), len);
            if (out_len)
                *out_len = len;
        }
    }
    if (ch)
        duckdb_destroy_data_chunk(&ch);
out:
    if (has_res)
        duckdb_destroy_result(&res);
    duckdb_destroy_prepare(&ps);
    return rc;
}

/* Simple statement on a connection (setup). */
static int exec_sql(duckdb_connection conn, const char *sql, struct errbuf *eb)
{
    duckdb_result res;
    int rc = RC_OK;
    if (duckdb_query(conn, sql, &res) == DuckDBError)
        rc = set_duck_error(eb, RC_DB, "DuckDB setup failed: ", duckdb_result_error(&res));
    duckdb_destroy_result(&res);
    return rc;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return -1;
            buf[i] = saved;
        }
    }
    return 0;
}

/* ---- engine lifecycle ------------------------------------------------------------ */

static int set_cfg(duckdb_config cfg, const char *name, const char *value, struct errbuf *eb)
{
    if (duckdb_set_config(cfg, name, value) == DuckDBError)
        return errbuf_set(eb, RC_INVALID, "invalid DuckDB setting %s=%s", name, value);
    return RC_OK;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Loads the names of scalar functions whose every overload DuckDB declares
 * CONSISTENT. */
static int load_funcs(duckdb_connection conn, struct qfuncs *f, struct errbuf *eb)
{
    duckdb_result res;
    int rc = RC_OK;
    if (duckdb_query(conn,
                     "SELECT function_name FROM duckdb_functions() WHERE function_type = 'scalar' "
                     "GROUP BY function_name HAVING bool_and(stability = 'CONSISTENT')",
                     &res) == DuckDBError) {
        rc = set_duck_error(eb, RC_DB, "cannot list DuckDB functions: ", duckdb_result_error(&res));
        duckdb_destroy_result(&res);
        return rc;
    }
    size_t cap = 0;
    for (;;) {
        duckdb_data_chunk ch = duckdb_fetch_chunk(res);
        if (!ch)
            break;
        idx_t n = duckdb_data_chunk_get_size(ch);
        duckdb_string_t *s =
            (duckdb_string_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0));
        for (idx_t i = 0; i < n; i++) {
            if (f->n == cap) {
                cap = cap ? cap * 2 : 1024;
                f->names = xrealloc(f->names, cap * sizeof(*f->names));
            }
            f->names[f->n++] = xstrndup(duckdb_string_t_data(&s[i]), duckdb_string_t_length(s[i]));
        }
        duckdb_destroy_data_chunk(&ch);
    }
    duckdb_destroy_result(&res);
    qsort(f->names, f->n, sizeof(*f->names), cmp_cstr); /* for bsearch */
    return RC_OK;
}

/* Runs the one-time setup and lock-down on a fresh connection. */
static int setup_database(struct query_engine *qe, const char *cache_dir, struct errbuf *eb)
{
    duckdb_connection conn = NULL;
    if (duckdb_connect(qe->db, &conn) == DuckDBError)
        return errbuf_set(eb, RC_DB, "cannot open a DuckDB connection");
    int rc = exec_sql(conn, "SET GLOBAL TimeZone = 'UTC'", eb);
    if (rc == RC_OK)
        rc = qscan_register_function(conn, eb);
    if (rc == RC_OK)
        rc = load_funcs(conn, &qe->funcs, eb);
    if (rc == RC_OK) {
        /* Template for bound evaluation: "SELECT 1" as DuckDB serialises it. */
        duckdb_result res;
        if (duckdb_query(conn, "SELECT json_serialize_sql('SELECT 1')::VARCHAR", &res) ==
            DuckDBSuccess) {
            duckdb_data_chunk ch = duckdb_fetch_chunk(res);
            if (ch && duckdb_data_chunk_get_size(ch) == 1) {
                duckdb_string_t *s =
                    (duckdb_string_t *)duckdb_vector_get_data(duckdb_data_chunk_get_vector(ch, 0));
                if (qrewrite_template_split(duckdb_string_t_data(&s[0]),
                                            duckdb_string_t_length(s[0]), &qe->tpl_head,
                                            &qe->tpl_tail) != RC_OK)
                    log_warn("query", "unexpected parse tree shape; time-bound evaluation off");
            }
            if (ch)
                duckdb_destroy_data_chunk(&ch);
        }
        duckdb_destroy_result(&res);
    }
    if (rc == RC_OK) {
        struct strbuf sb;
        strbuf_init(&sb, 0);
        rc = strbuf_puts(&sb, "SET GLOBAL allowed_directories = [");
        if (rc == RC_OK)
            rc = qcheck_append_literal(&sb, qe->data_root, strlen(qe->data_root));
        if (rc == RC_OK && cache_dir && *cache_dir) {
            rc = strbuf_puts(&sb, ", ");
            if (rc == RC_OK)
                rc = qcheck_append_literal(&sb, cache_dir, strlen(cache_dir));
        }
        if (rc == RC_OK)
            rc = strbuf_putc(&sb, ']');
        if (rc == RC_OK)
            rc = exec_sql(conn, sb.data, eb);
        strbuf_cleanup(&sb);
    }
    if (rc == RC_OK)
        rc = exec_sql(conn, "SET GLOBAL enable_external_access = false", eb);
    if (rc == RC_OK)
        rc = exec_sql(conn, "SET GLOBAL lock_configuration = true", eb);
    if (rc == RC_OK) {
        /* Prove the lock holds before serving anything. */
        duckdb_result res;
        if (duckdb_query(conn, "SET GLOBAL enable_external_access = true", &res) == DuckDBSuccess)
            rc = errbuf_set(eb, RC_INTERNAL, "DuckDB configuration lock is not effective");
        duckdb_destroy_result(&res);
    }
    duckdb_disconnect(&conn);
    return rc;
}

int query_engine_new(const struct query_engine_options *o, struct catalog *cat, struct colbuf *cb,
                     struct storage *st, struct query_engine **out, struct errbuf *eb)
{
    int rc = RC_OK;
    duckdb_config cfg = NULL;
    pthread_once(&metrics_once, metrics_init);
    if (!o || !o->data_root || !*o->data_root || !cat)
        return errbuf_set(eb, RC_INVALID, "query engine needs a data root and a catalog");
    const char *dflt = o->default_db && *o->default_db ? o->default_db : "default";
    if (!name_is_valid_database(dflt, strlen(dflt)))
        return errbuf_set(eb, RC_INVALID, "storage.database is not a valid database name: %s",
                          dflt);

    struct query_engine *qe = xcalloc(1, sizeof(*qe));
    qe->cat = cat;
    qe->cb = cb;
    qe->st = st;
    qe->default_db = xstrdup(dflt);
    qe->base_path = xstrdup(o->data_root);
    qe->query_timeout_ms = o->query_timeout_ms > 0 ? o->query_timeout_ms : 0;
    qe->slow_ms = o->slow_query_threshold_ms;
    qe->max_sql_length = o->max_sql_length;
    qe->pruning = !o->disable_time_pruning;
    qe->fault_unhealthy = faults_enabled("duckdb_mark_unhealthy_after_query");
    atomic_init(&qe->queries_total, 0);
    atomic_init(&qe->errors_total, 0);

    char real[PATH_MAX];
    if (!realpath(o->data_root, real)) {
        if (errno != ENOENT || mkdir_p(o->data_root) != 0 || !realpath(o->data_root, real)) {
            rc = errbuf_set(eb, RC_IO, "storage root %s: %s", o->data_root, strerror(errno));
            goto fail;
        }
    }
    qe->data_root = xstrdup(real);
    if (o->readcache && !readcache_is_passthrough(o->readcache))
        qe->rcache = o->readcache;
    qe->file_root = qe->rcache ? readcache_dir(qe->rcache) : qe->data_root;

    if (duckdb_create_config(&cfg) == DuckDBError) {
        rc = errbuf_set(eb, RC_DB, "cannot create a DuckDB configuration");
        goto fail;
    }
    char num[32];
    if (o->threads > 0) {
        snprintf(num, sizeof(num), "%u", o->threads);
        rc = set_cfg(cfg, "threads", num, eb);
    }
    if (rc == RC_OK && o->memory_limit && *o->memory_limit)
        rc = set_cfg(cfg, "memory_limit", o->memory_limit, eb);
    if (rc == RC_OK && o->temp_directory && *o->temp_directory)
        rc = set_cfg(cfg, "temp_directory", o->temp_directory, eb);
    if (rc == RC_OK)
        rc = set_cfg(cfg, "enable_object_cache", o->enable_object_cache ? "true" : "false", eb);
    /* No network: extensions are built in or absent. */
    if (rc == RC_OK)
        rc = set_cfg(cfg, "autoinstall_known_extensions", "false", eb);
    if (rc == RC_OK)
        rc = set_cfg(cfg, "autoload_known_extensions", "false", eb);
    if (rc != RC_OK)
        goto fail;
    char *err = NULL;
    if (duckdb_open_ext(NULL, &qe->db, cfg, &err) == DuckDBError) {
        rc = errbuf_set(eb, RC_DB, "cannot open DuckDB: %s", err ? err : "?");
        duckdb_free(err);
        goto fail;
    }
    duckdb_destroy_config(&cfg);

    rc = setup_database(qe, o->cache_dir, eb);
    if (rc != RC_OK)
        goto fail;
    struct dbpool_options po = {
        .size = o->pool_size,
        .max_queue = o->max_queue_size,
        .acquire_timeout_ms = o->acquire_timeout_ms,
    };
    rc = dbpool_new(qe->db, &po, &qe->pool, eb);
    if (rc != RC_OK)
        goto fail;
    rc = qwatch_start(&qe->watch, eb);
    if (rc != RC_OK)
        goto fail;
    log_info("query", "engine ready root=%s pool_size=%u timeout_ms=%lld pruning=%s", qe->data_root,
             o->pool_size, (long long)qe->query_timeout_ms, qe->pruning ? "on" : "off");
    *out = qe;
    return RC_OK;

fail:
    if (cfg)
        duckdb_destroy_config(&cfg);
    query_engine_free(&qe);
    return rc;
}

void query_engine_free(struct query_engine **qep)
{
    if (!qep || !*qep)
        return;
    struct query_engine *qe = *qep;
    *qep = NULL;
    qwatch_stop(&qe->watch);
    dbpool_free(&qe->pool);
    if (qe->db)
        duckdb_close(&qe->db);
    qfuncs_free(&qe->funcs);
    xfree(qe->tpl_head);
    xfree(qe->tpl_tail);
    xfree(qe->data_root);
    xfree(qe->base_path);
    xfree(qe->default_db);
    xfree(qe);
}

/* ---- cursors ------------------------------------------------------------------------ */

static struct query_cursor *cursor_new(struct query_engine *qe, const char *sql)
{
    struct query_cursor *c = xcalloc(1, sizeof(*c));
    c->qe = qe;
    c->t0_ns = time_mono_ns();
    snprintf(c->sql_head, sizeof(c->sql_head), "%s", sql ? sql : "");
    for (char *p = c->sql_head; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    return c;
}

static int cursor_acquire(struct query_cursor *c, int64_t timeout_ms, struct errbuf *eb)
{
    int rc = dbpool_acquire(c->qe->pool, &c->pc, &c->wait_ms, eb);
    if (rc != RC_OK)
        return rc;
    c->has_conn = true;
    if (timeout_ms > 0) {
        qwatch_add(c->qe->watch, &c->watch, c->pc.conn, time_mono_ms() + timeout_ms);
        c->watched = true;
    }
    return RC_OK;
}

static void count_error(struct query_cursor *c, int rc)
{
    if (c->failed)
        return;
    c->failed = true;
    metric_inc(m_errors);
    atomic_fetch_add(&c->qe->errors_total, 1);
    if (rc == RC_TIMEOUT)
        metric_inc(m_timeouts);
}

void query_cursor_close(struct query_cursor **cp)
{
    if (!cp || !*cp)
        return;
    struct query_cursor *c = *cp;
    *cp = NULL;
    struct query_engine *qe = c->qe;
    if (c->has_res)
        duckdb_destroy_result(&c->res);
    if (c->ps)
        duckdb_destroy_prepare(&c->ps);
    for (idx_t i = 0; c->types && i < c->ncols; i++)
        duckdb_destroy_logical_type(&c->types[i]);
    xfree(c->types);
    bool fired = cursor_fired(c);
    if (c->watched)
        qwatch_remove(qe->watch, &c->watch);
    for (size_t i = 0; i < c->nsnaps; i++) {
        qscan_unregister(c->snaps[i]);
        qscan_snapshot_unref(&c->snaps[i]);
    }
    xfree(c->snaps);
    /* DuckDB is done with the files (result destroyed above). */
    for (size_t i = 0; i < c->npins; i++) {
        readcache_release(qe->rcache, c->pins[i]);
        xfree(c->pins[i]);
    }
    xfree(c->pins);
    if (c->has_conn) {
        enum dbpool_health h = DBPOOL_HEALTHY;
        if (qe->fault_unhealthy || c->db_error)
            h = DBPOOL_REPLACE;
        else if (fired)
            h = DBPOOL_CHECK;
        dbpool_release(qe->pool, &c->pc, h);
    }
    double elapsed_ms = (double)(time_mono_ns() - c->t0_ns) / 1e6;
    if (!c->failed)
        metric_inc(m_success);
    metric_observe(m_duration, elapsed_ms / 1000.0);
    if (qe->slow_ms > 0 && elapsed_ms >= (double)qe->slow_ms)
        log_warn("query", "slow query elapsed_ms=%.1f wait_ms=%.1f rows=%llu files=%zu sql=%s",
                 elapsed_ms, c->wait_ms, (unsigned long long)c->rows, c->files, c->sql_head);
    xfree(c);
}

idx_t query_cursor_column_count(struct query_cursor *c)
{
    return c->ncols;
}

const char *query_cursor_column_name(struct query_cursor *c, idx_t col)
{
    if (!c->has_res || col >= c->ncols)
        return NULL;
    return duckdb_column_name(&c->res, col);
}

duckdb_logical_type query_cursor_column_type(struct query_cursor *c, idx_t col)
{
    if (!c->types || col >= c->ncols)
        return NULL;
    return c->types[col];
}

duckdb_result *query_cursor_result(struct query_cursor *c)
{
    return c->has_res ? &c->res : NULL;
}

bool query_cursor_is_empty_measurement(struct query_cursor *c)
{
    return c->empty;
}

enum query_kind query_cursor_kind(struct query_cursor *c)
{
    return c->kind;
}

double query_cursor_wait_ms(const struct query_cursor *c)
{
    return c->wait_ms;
}

double query_cursor_elapsed_ms(const struct query_cursor *c)
{
    return (double)(time_mono_ns() - c->t0_ns) / 1e6;
}

size_t query_cursor_files_scanned(const struct query_cursor *c)
{
    return c->files;
}

int query_cursor_next(struct query_cursor *c, duckdb_data_chunk *out, struct errbuf *eb)
{
    *out = NULL;
    if (c->empty || c->done || !c->has_res)
        return RC_OK;
    if (c->failed)
        return errbuf_set(eb, RC_INTERNAL, "cursor already failed");
    duckdb_data_chunk ch;
    idx_t n;
    for (int empties = 0;; empties++) {
        if (empties == 1000) { /* DuckDB ends with NULL; never spin on empties */
            c->done = true;
            return RC_OK;
        }
        ch = duckdb_fetch_chunk(c->res);
        if (!ch) {
            const char *err = duckdb_result_error(&c->res);
            if (err || cursor_fired(c)) {
                int rc = duck_fail(c, duckdb_result_error_type(&c->res), err, eb);
                count_error(c, rc);
                return rc;
            }
            c->done = true;
            return RC_OK;
        }
        n = duckdb_data_chunk_get_size(ch);
        if (n > 0)
            break;
        duckdb_destroy_data_chunk(&ch); /* an empty chunk is not the end: NULL is */
    }
    c->rows += n;
    metric_add(m_rows, n);
    *out = ch;
    return RC_OK;
}

/* ---- statement building ---------------------------------------------------------------- */

struct build {
    struct query_cursor *c;
    struct qrewrite rw;
    struct catalog_file_list *lists; /* per measurement: files within the hull range */
    struct qscan_snapshot **msnap;   /* per measurement */
    bool *mempty;                    /* per measurement: no data at all */
};

static void build_cleanup(struct build *b)
{
    for (size_t i = 0; b->lists && i < b->rw.nmeas; i++)
        catalog_file_list_free(&b->lists[i]);
    xfree(b->lists);
    xfree(b->msnap); /* references live in the cursor */
    xfree(b->mempty);
    qrewrite_cleanup(&b->rw);
}

/* "Only read-only queries are allowed: <KIND>". DuckDB's parser has
 * already refused the statement; the kind is only a label, taken from the
 * text. The statement is never prepared: planning some statements has side
 * effects (EXPORT DATABASE creates its directory while being planned). */
static int refuse_kind(const struct qshape *sh, struct errbuf *eb)
{
    return errbuf_set(eb, RC_INVALID, "Only read-only queries are allowed: %s", sh->kind);
}

/* json_serialize_sql refused the statement: a syntax error, not a SELECT
 * statement (refused as not read-only), or a SELECT it cannot express
 * (400: we do not guess). */
static int serialize_error(const char *json, size_t len, const struct qshape *sh, struct errbuf *eb)
{
    struct json_value *doc = NULL;
    struct errbuf jeb = {0};
    if (json_parse(json, len, &doc, &jeb) != RC_OK)
        return errbuf_set(eb, RC_INVALID, "cannot parse the query");
    const char *type = json_as_str(json_obj_get(doc, "error_type"), NULL);
    const char *msg = json_as_str(json_obj_get(doc, "error_message"), NULL);
    int rc;
    if (type && !strcmp(type, "parser"))
        rc = errbuf_set(eb, RC_INVALID, "Parser Error: %s", msg ? msg : "syntax error");
    else if (msg && strstr(msg, "Only SELECT statements"))
        rc = refuse_kind(sh, eb);
    else
        rc = errbuf_set(eb, RC_INVALID, "this query form is not supported: %s",
                        msg ? msg : "cannot be analysed");
    json_free(&doc);
    return rc;
}

/* Evaluates the time bounds through DuckDB. Failures only disable pruning. */
static void eval_bounds(struct build *b)
{
    struct query_cursor *c = b->c;
    struct query_engine *qe = c->qe;
    size_t nb = qrewrite_bound_count(&b->rw);
    if (!qe->pruning || nb == 0 || !qe->tpl_head)
        return;
    struct strbuf js, sql;
    strbuf_init(&js, 0);
    strbuf_init(&sql, 0);
    char *sel = NULL;
    size_t sel_len = 0;
    struct errbuf e = {0};
    duckdb_result res;
    bool has_res = false;
    if (qrewrite_eval_json(&b->rw, qe->tpl_head, qe->tpl_tail, &js) != RC_OK)
        goto out;
    if (query_text(c, "SELECT json_deserialize_sql(?::JSON)", js.data, js.len, &sel, &sel_len,
                   &e) != RC_OK ||
        !sel)
        goto out;
    /* Per bound: its value in µs and whether its type is exact at µs. */
    int rc = strbuf_puts(&sql, "SELECT ");
    for (size_t i = 0; rc == RC_OK && i < nb; i++)
        rc = strbuf_printf(&sql,
                           "%sTRY(epoch_us(TRY_CAST(c%zu AS TIMESTAMPTZ))), typeof(c%zu) IN "
                           "('TIMESTAMP WITH TIME ZONE', 'TIMESTAMP', 'DATE', 'TIMESTAMP_S', "
                           "'TIMESTAMP_MS', 'VARCHAR')",
                           i ? ", " : "", i, i);
    if (rc == RC_OK)
        rc = strbuf_puts(&sql, " FROM (");
    if (rc == RC_OK)
        rc = strbuf_append(&sql, sel, sel_len);
    if (rc == RC_OK)
        rc = strbuf_puts(&sql, "\n) AS __arc_bounds");
    if (rc != RC_OK)
        goto out;
    has_res = true;
    if (duckdb_query(c->pc.conn, sql.data, &res) == DuckDBError) {
        log_debug("query", "time bounds not evaluated err=%s", duckdb_result_error(&res));
        goto out;
    }
    duckdb_data_chunk ch = duckdb_fetch_chunk(res);
    if (ch && duckdb_data_chunk_get_size(ch) == 1 &&
        duckdb_data_chunk_get_column_count(ch) == 2 * nb) {
        for (size_t i = 0; i < nb; i++) {
            duckdb_vector v = duckdb_data_chunk_get_vector(ch, 2 * i);
            uint64_t *valid = duckdb_vector_get_validity(v);
            bool ok = !valid || duckdb_validity_row_is_valid(valid, 0);
            int64_t val = ((const int64_t *)duckdb_vector_get_data(v))[0];
            duckdb_vector ev = duckdb_data_chunk_get_vector(ch, 2 * i + 1);
            uint64_t *evalid = duckdb_vector_get_validity(ev);
            bool exact = (!evalid || duckdb_validity_row_is_valid(evalid, 0)) &&
                         ((const bool *)duckdb_vector_get_data(ev))[0];
            qrewrite_set_value(&b->rw, i, ok, exact, val);
        }
    }
    if (ch)
        duckdb_destroy_data_chunk(&ch);
out:
    if (has_res)
        duckdb_destroy_result(&res);
    xfree(sel);
    strbuf_cleanup(&js);
    strbuf_cleanup(&sql);
}

struct under_ctx {
    struct catalog *cat;
    const char *db, *name;
    int64_t from, to;
    bool list;
    struct catalog_file_list *fl;
};

static void under_lock_list(void *arg)
{
    struct under_ctx *u = arg;
    if (u->list)
        catalog_files_list(u->cat, u->db, u->name, u->from, u->to, u->fl);
}

static int cmp_col(const void *a, const void *b)
{
    return strcmp(((const struct qscan_col *)a)->name, ((const struct qscan_col *)b)->name);
}

/* True if name may be added to cols[0..n): DuckDB column names are
 * case-insensitive, so "Host" next to "host" (or "Time" next to time)
 * would make the scan's bind fail. The catalog refuses such columns at
 * ingest; this only keeps a stray one from breaking every query. */
static bool col_name_free(const struct qscan_col *cols, size_t n, const char *name)
{
    if (!strcasecmp(name, "time"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(cols[i].name, name))
            return false;
    return true;
}

/* Columns the scan declares: the catalog schema plus any batch column it
 * lacks, sorted by name. */
static void snapshot_columns(struct catalog *cat, const char *db, const char *name,
                             struct batch **bs, size_t nb, struct qscan_col **out, size_t *out_n)
{
    struct catalog_column *cc = NULL;
    size_t ncc = 0;
    catalog_schema_get(cat, db, name, &cc, &ncc);
    size_t cap = ncc + 8, n = 0;
    struct qscan_col *cols = xcalloc(cap, sizeof(*cols));
    for (size_t i = 0; i < ncc; i++) {
        if (!col_name_free(cols, n, cc[i].name))
            continue;
        cols[n].name = xstrndup(cc[i].name, cc[i].name_len);
        cols[n].type = cc[i].type;
        n++;
    }
    catalog_columns_free(&cc);
    for (size_t k = 0; k < nb; k++) {
        for (size_t j = 0; j < bs[k]->ncols; j++) {
            const struct batch_col *bc = &bs[k]->cols[j];
            if (!col_name_free(cols, n, bc->name))
                continue;
            if (n == cap) {
                cap *= 2;
                cols = xrealloc(cols, cap * sizeof(*cols));
            }
            cols[n].name = xstrdup(bc->name);
            cols[n].type = bc->type;
            n++;
        }
    }
    qsort(cols, n, sizeof(*cols), cmp_col);
    *out = cols;
    *out_n = n;
}

/* Takes the snapshot of measurement m (files + buffered batches). */
static void take_snapshot(struct build *b, size_t m)
{
    struct query_cursor *c = b->c;
    struct query_engine *qe = c->qe;
    const struct qmeas *qm = &b->rw.meas[m];
    int64_t from = INT64_MAX, to = INT64_MIN;
    bool any = false;
    for (size_t i = 0; i < b->rw.nrefs; i++) {
        const struct qref *r = &b->rw.refs[i];
        if (r->meas != m || r->empty_range)
            continue;
        any = true;
        if (r->from_us < from)
            from = r->from_us;
        if (r->to_us > to)
            to = r->to_us;
    }
    struct under_ctx u = {.cat = qe->cat,
                          .db = qm->db,
                          .name = qm->name,
                          .from = from,
                          .to = to,
                          .list = any,
                          .fl = &b->lists[m]};
    struct batch **bs = NULL;
    size_t nb = 0;
    if (qe->cb) {
        if (colbuf_snapshot(qe->cb, qm->db, qm->name, under_lock_list, &u, &bs, &nb) != RC_OK) {
            bs = NULL;
            nb = 0;
            under_lock_list(&u);
        }
    } else {
        under_lock_list(&u);
    }
    if (b->lists[m].n == 0 && nb == 0) {
        bool pruned = !any || from != INT64_MIN || to != INT64_MAX;
        b->mempty[m] = true;
        if (pruned) {
            struct catalog_file_list all;
            catalog_files_list(qe->cat, qm->db, qm->name, INT64_MIN, INT64_MAX, &all);
            b->mempty[m] = all.n == 0;
            catalog_file_list_free(&all);
        }
    }
    struct qscan_col *cols = NULL;
    size_t ncols = 0;
    snapshot_columns(qe->cat, qm->db, qm->name, bs, nb, &cols, &ncols);
    struct qscan_snapshot *s = qscan_snapshot_new(bs, nb, cols, ncols, c->pc.conn_id);
    qscan_register(s);
    c->snaps = xrealloc(c->snaps, (c->nsnaps + 1) * sizeof(*c->snaps));
    c->snaps[c->nsnaps++] = s; /* the cursor's reference */
    b->msnap[m] = s;
}

static bool key_is_plain(const char *key)
{
    /* DuckDB expands glob characters in read_parquet paths. */
    return storage_key_is_valid(key) && !strpbrk(key, "*?[]{}'\\");
}

/* Remote storage: makes every file that view_sql will name available in
 * the read cache (downloads in parallel, waits at most until the query's
 * deadline) and pins it until the cursor closes. */
static int pin_remote_files(struct build *b, struct errbuf *eb)
{
    struct query_cursor *c = b->c;
    struct readcache *rc_ = c->qe->rcache;
    if (!rc_)
        return RC_OK;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t ref = 0; ref < b->rw.nrefs; ref++) {
            const struct qref *r = &b->rw.refs[ref];
            const struct catalog_file_list *fl = &b->lists[r->meas];
            for (size_t i = 0; !r->empty_range && i < fl->n; i++) {
                const struct catalog_file *f = &fl->files[i];
                if (!(f->max_time_us >= r->from_us && f->min_time_us < r->to_us) ||
                    !key_is_plain(f->key))
                    continue;
                if (pass == 0) {
                    readcache_prefetch(rc_, f->key);
                    continue;
                }
                char path[4096];
                int64_t deadline = c->watched ? c->watch.deadline_ms : 0;
                int rc = readcache_get_until(rc_, f->key, deadline, path, sizeof(path), eb);
                if (rc == RC_NOT_FOUND)
                    return errbuf_reset(eb, RC_S3,
                                        "data file %s is gone from storage (compacted or deleted "
                                        "by another node?); retry the query",
                                        f->key);
                if (rc != RC_OK)
                    return rc;
                c->pins = xrealloc(c->pins, (c->npins + 1) * sizeof(*c->pins));
                c->pins[c->npins++] = xstrdup(f->key);
            }
        }
    }
    return RC_OK;
}

/* qrewrite_view_fn: the subquery of reference `ref`. */
static int view_sql(void *arg, size_t ref, struct strbuf *sb)
{
    struct build *b = arg;
    struct query_cursor *c = b->c;
    const struct qref *r = &b->rw.refs[ref];
    const struct catalog_file_list *fl = &b->lists[r->meas];
    int rc = strbuf_printf(sb, "SELECT * FROM arc_buffer_scan(%llu)",
                           (unsigned long long)b->msnap[r->meas]->id);
    size_t nfiles = 0;
    for (size_t i = 0; rc == RC_OK && !r->empty_range && i < fl->n; i++) {
        const struct catalog_file *f = &fl->files[i];
        if (!(f->max_time_us >= r->from_us && f->min_time_us < r->to_us))
            continue;
        if (!key_is_plain(f->key)) {
            log_warn("query", "file skipped: its name cannot be passed to DuckDB key=%s", f->key);
            continue;
        }
        rc = strbuf_puts(sb, nfiles ? ", '" : " UNION ALL BY NAME SELECT * FROM read_parquet(['");
        if (rc == RC_OK)
            rc = strbuf_printf(sb, "%s/%s'", c->qe->file_root, f->key);
        nfiles++;
    }
    if (rc == RC_OK && nfiles)
        rc = strbuf_puts(sb, "], union_by_name = true, hive_partitioning = false)");
    c->files += nfiles;
    return rc;
}

/*
 * Steps 3-6 of the file comment: checks `sql`, resolves and snapshots, and
 * writes the statement to run into *final. *all_empty is set when every
 * referenced measurement has no data.
 */
static int build_statement(struct query_cursor *c, const char *sql, const struct qshape *sh,
                           const char *db, bool allow_explain, struct strbuf *final,
                           bool *all_empty, struct errbuf *eb)
{
    struct query_engine *qe = c->qe;
    int rc = RC_OK;
    char *body = xstrndup(sql, sh->body_end);
    duckdb_extracted_statements es = NULL;
    char *json = NULL;
    size_t json_len = 0;
    struct build b = {.c = c};
    *all_empty = false;

    idx_t n = duckdb_extract_statements(c->pc.conn, body, &es);
    if (n == 0) {
        const char *e = duckdb_extract_statements_error(es);
        rc = cursor_fired(c) ? errbuf_set(eb, RC_TIMEOUT, "Query timed out")
                             : set_duck_error(eb, RC_INVALID, NULL, e ? e : "cannot parse SQL");
        goto out;
    }
    if (n > 1) {
        rc = errbuf_set(eb, RC_INVALID, "Only one statement is allowed per query (found %llu)",
                        (unsigned long long)n);
        goto out;
    }
    if (sh->explain && !allow_explain) {
        rc = errbuf_set(eb, RC_INVALID, "EXPLAIN cannot be estimated");
        goto out;
    }
    const char *inner = body + (sh->explain ? sh->inner_start : 0);
    size_t inner_len = sh->body_end - (sh->explain ? sh->inner_start : 0);

    /* DuckDB's parser: a SELECT statement or not. */
    rc = query_text(c, "SELECT json_serialize_sql(?::VARCHAR)::VARCHAR", inner, inner_len, &json,
                    &json_len, eb);
    if (rc != RC_OK)
        goto out;
    if (!json) {
        rc = errbuf_set(eb, RC_INTERNAL, "DuckDB returned no parse tree");
        goto out;
    }
    /* DuckDB writes "error" first; an error document is a small flat object. */
    if (!strncmp(json, "{\"error\":true", 13)) {
        rc = serialize_error(json, json_len, sh, eb);
        goto out;
    }

    rc = qrewrite_analyze(&b.rw, inner, inner_len, json, json_len, db, &qe->funcs, eb);
    if (rc != RC_OK)
        goto out;
    eval_bounds(&b);
    qrewrite_compute_ranges(&b.rw, qe->pruning);

    size_t nm = b.rw.nmeas;
    b.lists = xcalloc(nm ? nm : 1, sizeof(*b.lists));
    b.msnap = xcalloc(nm ? nm : 1, sizeof(*b.msnap));
    b.mempty = xcalloc(nm ? nm : 1, sizeof(*b.mempty));
    bool every_empty = nm > 0;
    for (size_t m = 0; m < nm; m++) {
        take_snapshot(&b, m);
        every_empty = every_empty && b.mempty[m];
    }
    if (every_empty) {
        *all_empty = true;
        goto out;
    }
    if ((rc = pin_remote_files(&b, eb)) != RC_OK)
        goto out;
    if (sh->explain)
        rc = strbuf_append(final, body, sh->inner_start);
    if (rc == RC_OK)
        rc = qrewrite_splice(&b.rw, view_sql, &b, final);
    if (rc != RC_OK)
        rc = errbuf_set(eb, rc == RC_LIMIT ? RC_LIMIT : RC_INTERNAL, "rewritten query too large");
    metric_add(m_files, c->files);

out:
    build_cleanup(&b);
    xfree(json);
    if (es)
        duckdb_destroy_extracted(&es);
    xfree(body);
    return rc;
}

/* Prepares `sql` and checks its statement type (DuckDB's parser, again). */
static int prepare_checked(struct query_cursor *c, const char *sql, bool explain, struct errbuf *eb)
{
    if (duckdb_prepare(c->pc.conn, sql, &c->ps) == DuckDBError) {
        const char *e = duckdb_prepare_error(c->ps);
        /* The prepare error has no type; classify by its text prefix. */
        duckdb_error_type et = DUCKDB_ERROR_BINDER;
        if (e && !strncmp(e, "Permission Error", 16))
            et = DUCKDB_ERROR_PERMISSION;
        else if (e && !strncmp(e, "INTERRUPT Error", 15))
            et = DUCKDB_ERROR_INTERRUPT;
        else if (e && (!strncmp(e, "INTERNAL Error", 14) || !strncmp(e, "FATAL Error", 11)))
            et = DUCKDB_ERROR_INTERNAL;
        else if (e && (!strncmp(e, "Out of Memory Error", 19) || !strncmp(e, "IO Error", 8)))
            et = DUCKDB_ERROR_IO;
        return duck_fail(c, et, e, eb);
    }
    duckdb_statement_type t = duckdb_prepared_statement_type(c->ps);
    duckdb_statement_type want =
        explain ? DUCKDB_STATEMENT_TYPE_EXPLAIN : DUCKDB_STATEMENT_TYPE_SELECT;
    if (t != want)
        return errbuf_set(eb, RC_INVALID, "Only read-only queries are allowed: %s",
                          qcheck_statement_type_name(t));
    return RC_OK;
}

static int start_result(struct query_cursor *c, struct errbuf *eb)
{
    c->has_res = true;
    if (duckdb_execute_prepared_streaming(c->ps, &c->res) == DuckDBError)
        return duck_fail(c, duckdb_result_error_type(&c->res), duckdb_result_error(&c->res), eb);
    c->ncols = duckdb_column_count(&c->res);
    c->types = xcalloc(c->ncols ? c->ncols : 1, sizeof(*c->types));
    for (idx_t i = 0; i < c->ncols; i++)
        c->types[i] = duckdb_column_logical_type(&c->res, i);
    return RC_OK;
}

/* DESCRIBE of a measurement the catalog has no columns for: describe its
 * subquery (files + buffer) with DuckDB. */
static int describe_view(struct query_cursor *c, const char *db, const char *table,
                         struct strbuf *out, struct errbuf *eb)
{
    struct strbuf q;
    strbuf_init(&q, 0);
    int rc = strbuf_printf(&q, "SELECT * FROM \"%s\".\"%s\"", db, table);
    struct qshape sh;
    bool empty = false;
    struct strbuf inner;
    strbuf_init(&inner, FINAL_SQL_MAX);
    if (rc == RC_OK) {
        qcheck_shape(q.data, q.len, &sh);
        rc = build_statement(c, q.data, &sh, db, false, &inner, &empty, eb);
    }
    if (rc == RC_OK && empty)
        rc = errbuf_set(eb, RC_INVALID, "Table not found: %s.%s", db, table);
    if (rc == RC_OK)
        rc = strbuf_printf(out,
                           "SELECT column_name, column_type, CASE WHEN column_name = 'time' "
                           "THEN 'NO' ELSE 'YES' END AS \"null\" FROM (DESCRIBE %s)",
                           inner.data);
    strbuf_cleanup(&q);
    strbuf_cleanup(&inner);
    return rc;
}

static int run_special(struct query_cursor *c, const struct qspecial *sp, const char *db,
                       struct errbuf *eb)
{
    struct query_engine *qe = c->qe;
    struct strbuf sql;
    strbuf_init(&sql, FINAL_SQL_MAX);
    const char *target_db = sp->has_db ? sp->db : db;
    struct qspecial_ctx ctx = {.cat = qe->cat,
                               .cb = qe->cb,
                               .st = qe->st,
                               .base_path = qe->base_path,
                               .data_root = qe->data_root};
    bool needs_view = false;
    int rc = qspecial_sql(&ctx, sp, target_db, &sql, &needs_view, eb);
    if (rc == RC_OK && needs_view)
        rc = describe_view(c, target_db, sp->table, &sql, eb);
    if (rc == RC_OK)
        rc = prepare_checked(c, sql.data, false, eb);
    if (rc == RC_OK)
        rc = start_result(c, eb);
    strbuf_cleanup(&sql);
    return rc;
}

/* Common front half of query_execute and query_estimate. */
static int front(struct query_engine *qe, const struct query_request *req, bool estimate,
                 struct qspecial *sp, struct qshape *sh, const char **db, struct errbuf *eb)
{
    const char *sql = req ? req->sql : NULL;
    if (!sql || !*sql)
        return errbuf_set(eb, RC_INVALID, "sql is required");
    size_t n = strlen(sql);
    size_t chars = qcheck_utf8_chars(sql, n);
    if (qe->max_sql_length > 0 && chars > qe->max_sql_length)
        return errbuf_set(eb, RC_INVALID, "SQL is too long: %zu characters (maximum %zu)", chars,
                          qe->max_sql_length);
    *db = req->default_db && *req->default_db ? req->default_db : qe->default_db;
    if (!name_is_valid_database(*db, strlen(*db)))
        return errbuf_set(eb, RC_INVALID,
                          "invalid database name in x-arc-database: names start with a letter, "
                          "then letters, digits, '_' or '-' (at most %d)",
                          DB_NAME_MAX);
    int rc = qcheck_special(sql, n, sp, eb);
    if (rc != RC_OK)
        return rc;
    if (sp->kind != QUERY_SELECT && (estimate || !req->allow_special))
        return errbuf_set(eb, RC_INVALID, "SHOW and DESCRIBE commands are not allowed here");
    qcheck_shape(sql, n, sh);
    if (sp->kind == QUERY_SELECT && sh->empty)
        return errbuf_set(eb, RC_INVALID, "sql is empty");
    return RC_OK;
}

int query_execute(struct query_engine *qe, const struct query_request *req,
                  struct query_cursor **out, struct errbuf *eb)
{
    metric_inc(m_requests);
    atomic_fetch_add(&qe->queries_total, 1);
    struct query_cursor *c = cursor_new(qe, req ? req->sql : NULL);
    struct qspecial sp;
    struct qshape sh;
    const char *db = NULL;
    struct strbuf final;
    strbuf_init(&final, FINAL_SQL_MAX);
    int rc = front(qe, req, false, &sp, &sh, &db, eb);
    if (rc != RC_OK)
        goto fail;
    c->kind = sp.kind;
    int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : qe->query_timeout_ms;
    rc = cursor_acquire(c, timeout, eb);
    if (rc != RC_OK)
        goto fail;
    if (sp.kind != QUERY_SELECT) {
        rc = run_special(c, &sp, db, eb);
    } else {
        bool empty = false;
        rc = build_statement(c, req->sql, &sh, db, true, &final, &empty, eb);
        if (rc == RC_OK && empty) {
            c->empty = true;
        } else if (rc == RC_OK) {
            rc = prepare_checked(c, final.data, sh.explain, eb);
            if (rc == RC_OK)
                rc = start_result(c, eb);
        }
    }
    if (rc != RC_OK)
        goto fail;
    strbuf_cleanup(&final);
    *out = c;
    return RC_OK;

fail:
    if (cursor_fired(c) && rc != RC_TIMEOUT) {
        errbuf_reset(eb, RC_TIMEOUT, "Query timed out");
        rc = RC_TIMEOUT;
    }
    strbuf_cleanup(&final);
    count_error(c, rc);
    query_cursor_close(&c);
    return rc;
}

int query_estimate(struct query_engine *qe, const struct query_request *req, int64_t *out_rows,
                   struct errbuf *eb)
{
    metric_inc(m_requests);
    atomic_fetch_add(&qe->queries_total, 1);
    struct query_cursor *c = cursor_new(qe, req ? req->sql : NULL);
    struct qspecial sp;
    struct qshape sh;
    const char *db = NULL;
    struct strbuf final, wrapped;
    strbuf_init(&final, FINAL_SQL_MAX);
    strbuf_init(&wrapped, FINAL_SQL_MAX);
    bool empty = false;
    *out_rows = 0;
    int rc = front(qe, req, true, &sp, &sh, &db, eb);
    if (rc == RC_OK)
        rc = cursor_acquire(c, req->timeout_ms > 0 ? req->timeout_ms : qe->query_timeout_ms, eb);
    if (rc == RC_OK)
        rc = build_statement(c, req->sql, &sh, db, false, &final, &empty, eb);
    if (rc == RC_OK && !empty) {
        rc = strbuf_puts(&wrapped, "SELECT COUNT(*) FROM (\n");
        if (rc == RC_OK)
            rc = strbuf_append(&wrapped, final.data, final.len);
        if (rc == RC_OK)
            rc = strbuf_puts(&wrapped, "\n) AS __arc_estimate");
        if (rc != RC_OK)
            rc = errbuf_set(eb, RC_LIMIT, "query too large");
        if (rc == RC_OK)
            rc = prepare_checked(c, wrapped.data, false, eb);
        if (rc == RC_OK) {
            c->has_res = true;
            if (duckdb_execute_prepared(c->ps, &c->res) == DuckDBError) {
                rc = duck_fail(c, duckdb_result_error_type(&c->res), duckdb_result_error(&c->res),
                               eb);
            } else {
                duckdb_data_chunk ch = duckdb_fetch_chunk(c->res);
                if (ch && duckdb_data_chunk_get_size(ch) == 1)
                    *out_rows = ((const int64_t *)duckdb_vector_get_data(
                        duckdb_data_chunk_get_vector(ch, 0)))[0];
                else
                    rc = errbuf_set(eb, RC_DB, "COUNT(*) returned no row");
                if (ch)
                    duckdb_destroy_data_chunk(&ch);
            }
        }
    }
    if (rc != RC_OK) {
        if (cursor_fired(c) && rc != RC_TIMEOUT) {
            errbuf_reset(eb, RC_TIMEOUT, "Query timed out");
            rc = RC_TIMEOUT;
        }
        count_error(c, rc);
    }
    strbuf_cleanup(&final);
    strbuf_cleanup(&wrapped);
    query_cursor_close(&c);
    return rc;
}

void query_pool_stats(struct query_engine *qe, struct query_pool_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct dbpool_counts pc;
    dbpool_counts(qe->pool, &pc);
    out->pool_size = pc.size;
    out->idle = pc.idle;
    out->in_use = pc.in_use;
    out->replacing = pc.replacing;
    out->empty = pc.empty;
    out->waiting = pc.waiting;
    out->max_queue_size = pc.max_queue;
    out->acquire_timeouts_total = pc.acquire_timeouts;
    out->replacements_total = pc.replacements;
    out->replacement_failures_total = pc.replacement_failures;
    out->queries_total = atomic_load(&qe->queries_total);
    out->query_errors_total = atomic_load(&qe->errors_total);
}

struct dbpool *query__engine_pool(struct query_engine *qe)
{
    return qe->pool;
}
