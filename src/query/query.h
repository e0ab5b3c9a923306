/*
 * query/query.h — SQL over the stored data: the public contract of the query
 * engine (pool, read-only checks, measurement resolution, time pruning, fresh
 * reads of buffered rows). Encoders (query/encode*.c) and the HTTP handlers
 * (api/api_query.c) consume a query_cursor.
 *
 * Threads: any thread that may block (HTTP worker threads, job threads)
 * may call query_execute, never an HTTP I/O thread; a cursor is
 * used by one thread at a time and holds one pooled DuckDB connection until
 * query_cursor_close. Thread-safe otherwise.
 *
 * Error codes of query_execute / query_cursor_next (HTTP status in brackets,
 * SPEC §4.2):
 *   RC_INVALID  bad request: empty/too long SQL, several statements, not
 *               read-only ("Only read-only queries are allowed: <KIND>"),
 *               parse/bind error, unknown column/function, invalid name [400]
 *   RC_DENIED   DuckDB permission error (file outside the data directory) [403]
 *   RC_BUSY     no connection within duckdb.acquire_timeout_seconds, or the
 *               wait queue is full [503 + Retry-After]
 *   RC_TIMEOUT  query.timeout_seconds passed; the query was interrupted [504]
 *   RC_DB / RC_INTERNAL  anything else [500]
 */
#ifndef QUERY_QUERY_H
#define QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <duckdb.h>

#include "util/rc.h"

struct catalog;
struct colbuf;
struct storage;
struct readcache;
struct query_engine;
struct query_cursor;

struct query_engine_options {
    const char *data_root;           /* storage root DuckDB may read (allowed_directories) */
    const char *cache_dir;           /* local read cache for remote storage (may be NULL) */
    const char *default_db;          /* storage.database */
    unsigned pool_size;              /* duckdb.pool_size */
    unsigned max_queue_size;         /* duckdb.max_queue_size */
    int64_t acquire_timeout_ms;      /* duckdb.acquire_timeout_seconds */
    int64_t query_timeout_ms;        /* query.timeout_seconds; 0 = none */
    size_t max_sql_length;           /* query.max_sql_length */
    const char *memory_limit;        /* duckdb.memory_limit; "" = DuckDB default */
    unsigned threads;                /* duckdb.threads */
    const char *temp_directory;      /* duckdb.temp_directory */
    bool enable_object_cache;        /* duckdb.enable_object_cache */
    int64_t slow_query_threshold_ms; /* query.slow_query_threshold_ms; 0 = off */
    bool disable_time_pruning;       /* list every file (tests, benchmarks); default false */
    struct readcache *readcache;     /* remote storage: data files are read through this cache
                                        (storage/readcache.h; its dir must be cache_dir);
                                        NULL or pass-through = files under data_root */
};

/* Opens the query DuckDB database and fills the pool. The catalog and the
 * buffer must outlive the engine; storage may be NULL (local data only). */
int query_engine_new(const struct query_engine_options *o, struct catalog *cat, struct colbuf *cb,
                     struct storage *st, struct query_engine **out, struct errbuf *eb) MUST_CHECK;
void query_engine_free(struct query_engine **qe);

enum query_kind {
    QUERY_SELECT = 0, /* normal statement */
    QUERY_SHOW_DATABASES,
    QUERY_SHOW_TABLES,
    QUERY_DESCRIBE,
};

struct query_request {
    const char *sql;
    const char *default_db; /* x-arc-database header or NULL (= engine default) */
    int64_t timeout_ms;     /* 0 = engine default */
    bool allow_special;     /* SHOW/DESCRIBE allowed (false on /estimate) */
};

/* Checks, rewrites and starts the query; on success *out holds a pooled
 * connection and a streaming result. The first chunk is not fetched yet, so
 * errors that only appear while running come from query_cursor_next. */
int query_execute(struct query_engine *qe, const struct query_request *req,
                  struct query_cursor **out, struct errbuf *eb) MUST_CHECK;

/* Result shape. Valid until close. */
idx_t query_cursor_column_count(struct query_cursor *c);
const char *query_cursor_column_name(struct query_cursor *c, idx_t col);
duckdb_logical_type query_cursor_column_type(struct query_cursor *c, idx_t col); /* borrowed */
/* The underlying result (for Arrow export options). Borrowed. NULL for an
 * empty-measurement cursor (no DuckDB statement ran). */
duckdb_result *query_cursor_result(struct query_cursor *c);
/* True if the query is known to be empty without running (a measurement
 * with no data: SPEC §4.4 "columns: [], data: []"). */
bool query_cursor_is_empty_measurement(struct query_cursor *c);
enum query_kind query_cursor_kind(struct query_cursor *c);

/* Next chunk of rows into *out (caller destroys it with
 * duckdb_destroy_data_chunk), or *out = NULL at the end. Honors the query
 * timeout (RC_TIMEOUT). */
int query_cursor_next(struct query_cursor *c, duckdb_data_chunk *out, struct errbuf *eb) MUST_CHECK;

/* Milliseconds spent waiting for a pool connection, and since execute. */
double query_cursor_wait_ms(const struct query_cursor *c);
double query_cursor_elapsed_ms(const struct query_cursor *c);

/* Parquet files the query reads after time pruning (all references). */
size_t query_cursor_files_scanned(const struct query_cursor *c);

/* Returns the connection to the pool (healthy or replaced) and frees the
 * cursor; sets *c to NULL. Accepts NULL. */
void query_cursor_close(struct query_cursor **c);

/* Row-count estimate (SPEC §4.11): SELECT COUNT(*) FROM (<query>). */
int query_estimate(struct query_engine *qe, const struct query_request *req, int64_t *out_rows,
                   struct errbuf *eb) MUST_CHECK;

/* Pool state for /api/v1/metrics/query-pool (SPEC §9.6). */
struct query_pool_stats {
    unsigned pool_size, idle, in_use, replacing, empty, waiting, max_queue_size;
    uint64_t acquire_timeouts_total, replacements_total, replacement_failures_total;
    uint64_t queries_total, query_errors_total;
};
void query_pool_stats(struct query_engine *qe, struct query_pool_stats *out);

#endif
