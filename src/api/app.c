/*
 * api/app.c — module start and stop order (see app.h).
 */
#include "api/app.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api_internal.h"
#include "api/api_auth.h"
#include "api/api_cq.h"
#include "api/api_metrics.h"
#include "api/api_wal.h"
#include "auth/auth.h"
#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "codec/codec.h"
#include "flush/flusher.h"
#include "jobs/cq.h"
#include "jobs/delete.h"
#include "flush/refresh.h"
#include "flush/writer.h"
#include "http/http.h"
#include "metrics/metrics.h"
#include "api/api_query.h"
#include "query/qcache.h"
#include "api/api_jobs.h"
#include "jobs/compaction.h"
#include "jobs/retention.h"
#include "jobs/scheduler.h"
#include "query/query.h"
#include "storage/probe.h"
#include "storage/readcache.h"
#include "storage/s3.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "wal/wal.h"

static void init_metrics(struct app *app)
{
    app->m_ingest_records = metrics_counter("arc_ingest_records_total", "Rows accepted", NULL);
    app->m_ingest_bytes =
        metrics_counter("arc_ingest_bytes_total", "Decoded write body bytes", NULL);
    app->m_ingest_batches =
        metrics_counter("arc_ingest_batches_total", "Batches admitted to the buffer", NULL);
    app->m_ingest_errors =
        metrics_counter("arc_ingest_errors_total", "Write requests answered with an error", NULL);
    app->m_lines_rejected =
        metrics_counter("arc_ingest_lines_rejected_total", "Line-protocol lines rejected", NULL);
    app->m_lp_requests =
        metrics_counter("arc_lineprotocol_requests_total", "Line-protocol write requests", NULL);
    app->m_lp_records =
        metrics_counter("arc_lineprotocol_records_total", "Line-protocol rows accepted", NULL);
    app->m_mp_requests =
        metrics_counter("arc_msgpack_requests_total", "MessagePack write requests", NULL);
    app->m_mp_records =
        metrics_counter("arc_msgpack_records_total", "MessagePack rows accepted", NULL);
    app->m_backpressure = metrics_counter("arc_buffer_backpressure_rejections_total",
                                          "Writes refused because the buffer is full", NULL);
    app->m_body_decomp_too_large =
        metrics_counter("arc_request_body_rejected_total", "Request bodies rejected",
                        "reason=\"decompressed_too_large\"");
    app->m_body_bad_encoding = metrics_counter(
        "arc_request_body_rejected_total", "Request bodies rejected", "reason=\"bad_encoding\"");
    (void)metrics_counter("arc_request_body_rejected_total", "Request bodies rejected",
                          "reason=\"too_large\"");
    (void)metrics_counter("arc_ingest_records_dropped_total", "Rows dropped",
                          "reason=\"flush_failed\"");
    app->m_decode_seconds = metrics_histogram(
        "arc_ingest_decode_seconds", "Time to decode a write body into batches (parse)", NULL);
}

/* mkdir -p for the directory that will hold `path` (a file). */
static int ensure_parent_dir(const char *path, struct errbuf *eb)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    char *dir = dirname(tmp);
    char cur[1024];
    size_t n = 0;
    for (const char *p = dir; *p && n + 1 < sizeof(cur); p++) {
        cur[n++] = *p;
        cur[n] = '\0';
        if ((*p == '/' && n > 1) || p[1] == '\0') {
            if (mkdir(cur, 0755) != 0 && errno != EEXIST)
                return errbuf_set(eb, RC_IO, "cannot create directory %s: %s", cur,
                                  strerror(errno));
        }
    }
    return RC_OK;
}

/* The catalog lives next to the token database (SPEC §5.7 auth.db_path):
 * <dir of auth.db_path>/catalog.db. */
static void catalog_path(const struct config *cfg, char *out, size_t cap)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", cfg->auth.db_path);
    snprintf(out, cap, "%s/catalog.db", dirname(tmp));
}

/* local, or an S3-compatible backend (s3, minio and gcs are presets of it;
 * staging files and the query read cache stay under storage.local.base_path). */
static int open_storage(struct app *app, const struct config *cfg, struct errbuf *eb)
{
    if (strcmp(cfg->storage.backend, "local") == 0) {
        int lrc = storage_new_local(cfg->storage.local.base_path, &app->storage, eb);
        if (lrc == RC_OK) /* bounds the storage_hang fault hook */
            storage_set_request_timeout_ms(app->storage,
                                           cfg->storage.request_timeout_seconds * 1000);
        return lrc;
    }
    struct s3_options o;
    int rc = s3_options_from_config(cfg, &o, eb);
    if (rc)
        return rc;
    o.staging_dir = cfg->storage.local.base_path;
    if ((rc = ensure_parent_dir(cfg->storage.local.base_path, eb)))
        return rc;
    rc = storage_new_s3(&o, &app->storage, eb);
    if (rc == RC_OK)
        log_info("storage", "object storage backend=%s bucket=%s endpoint=%s", cfg->storage.backend,
                 o.bucket ? o.bucket : "", o.endpoint && *o.endpoint ? o.endpoint : "(AWS)");
    return rc;
}

/* Flush worker, after a flush was published: cached query results may now
 * be stale (SPEC §4.12). */
static void on_flushed(void *ctx, const char *db, const char *measurement, uint64_t max_seq)
{
    (void)ctx;
    (void)db;
    (void)measurement;
    (void)max_seq;
    query_cache_clear();
}

static int open_query_engine(struct app *app, const struct config *cfg, struct errbuf *eb)
{
    /* Remote data is read through the read cache (local: pass-through). */
    int rc = readcache_new(app->storage, cfg->storage.cache_dir,
                           (uint64_t)cfg->storage.cache_max_mb << 20, &app->readcache, eb);
    if (rc != RC_OK)
        return rc;
    const char *root = storage_local_root(app->storage);
    struct query_engine_options qo = {
        .data_root = root ? root : cfg->storage.local.base_path,
        .cache_dir = readcache_dir(app->readcache), /* NULL for the local backend */
        .readcache = app->readcache,
        .default_db = cfg->storage.database,
        .pool_size = (unsigned)cfg->duckdb.pool_size,
        .max_queue_size = (unsigned)cfg->duckdb.max_queue_size,
        .acquire_timeout_ms = cfg->duckdb.acquire_timeout_seconds * 1000,
        .query_timeout_ms = cfg->query.timeout_seconds * 1000,
        .max_sql_length = (size_t)cfg->query.max_sql_length,
        .memory_limit = cfg->duckdb.memory_limit,
        .threads = (unsigned)cfg->duckdb.threads,
        .temp_directory = cfg->duckdb.temp_directory,
        .enable_object_cache = cfg->duckdb.enable_object_cache,
        .slow_query_threshold_ms = cfg->query.slow_query_threshold_ms,
    };
    rc = query_engine_new(&qo, app->catalog, app->colbuf, app->storage, &app->qe, eb);
    if (rc != RC_OK)
        return rc;
    api_query_engine_global = app->qe;
    struct qcache_options co = {
        .enabled = cfg->query_cache.enabled,
        .ttl_ms = cfg->query_cache.ttl_seconds * 1000,
        .max_entries = (size_t)cfg->query_cache.max_size,
        .max_result_bytes = (size_t)cfg->query_cache.max_result_mb << 20,
        .max_total_bytes = (size_t)cfg->query_cache.max_total_mb << 20,
    };
    app->qcache = qcache_new(&co);
    qcache_set_global(app->qcache);
    api_query_cache_global = app->qcache;
    return RC_OK;
}

/* WAL replay glue (wal_replay_ops). */
static int replay_admit(void *ctx, struct batch *const *batches, size_t n, struct errbuf *eb)
{
    struct app *app = ctx;
    return colbuf_admit(app->colbuf, batches, n, eb);
}

static int replay_flush(void *ctx, struct errbuf *eb)
{
    struct app *app = ctx;
    int64_t timeout_ms = (app->cfg->ingestion.flush_timeout_seconds + 5) * 1000;
    return flusher_flush(app->flusher, NULL, NULL, timeout_ms, NULL, eb);
}

static bool replay_file_exists(void *ctx, const char *db, const char *measurement,
                               int64_t hour_start_us, const char *key)
{
    struct app *app = ctx;
    struct catalog_file_list l;
    catalog_files_list(app->catalog, db, measurement, hour_start_us, hour_start_us + US_PER_HOUR,
                       &l);
    bool found = false;
    for (size_t i = 0; i < l.n && !found; i++)
        found = strcmp(l.files[i].key, key) == 0;
    catalog_file_list_free(&l);
    return found;
}

/* WAL adapters for continuous-query output (jobs/ does not link wal/). */
static int cq_wal_prepare(void *ctx, struct batch *const *b, size_t n, void **ticket,
                          struct errbuf *eb)
{
    struct wal_ticket *tk = NULL;
    int rc = wal_prepare(ctx, b, n, &tk, eb);
    *ticket = tk;
    return rc;
}

static int cq_wal_commit(void **ticket, struct errbuf *eb)
{
    struct wal_ticket *tk = *ticket;
    *ticket = NULL;
    return wal_commit(&tk, eb);
}

static void cq_wal_abort(void **ticket)
{
    struct wal_ticket *tk = *ticket;
    *ticket = NULL;
    wal_abort(&tk);
}

/* Continuous queries and delete intents live next to the token database:
 * <dir of auth.db_path>/jobs.db (docs/continuous-queries.md). The delete
 * service always runs (it finishes deletes a crash interrupted); the CQ
 * service only with continuous_queries.enabled. */
static int open_jobs(struct app *app, const struct config *cfg, struct errbuf *eb)
{
    char tmp[1024], path[1100], spool[1100];
    snprintf(tmp, sizeof(tmp), "%s", cfg->auth.db_path);
    snprintf(path, sizeof(path), "%s/jobs.db", dirname(tmp));
    snprintf(spool, sizeof(spool), "%s/_delete", cfg->storage.local.base_path);
    int64_t qt = cfg->query.timeout_seconds > 0 ? cfg->query.timeout_seconds : 3600;
    struct del_options dopt = {
        .enabled = cfg->delete.enabled,
        .confirmation_threshold = cfg->delete.confirmation_threshold,
        .max_rows_per_delete = cfg->delete.max_rows_per_delete,
        .audit_enabled = cfg->delete.audit_enabled,
        .lock_ttl_ms = cfg->compaction.lock_ttl_hours * 3600 * 1000,
        .grace_ms = (qt + 30) * 1000, /* as compaction's retire grace */
        .spool_dir = spool,
        .duckdb_memory_limit = cfg->duckdb.memory_limit,
        .duckdb_temp_directory = cfg->duckdb.temp_directory,
    };
    int rc = del_service_new(&dopt, path, app->catalog, app->storage, app->colbuf, app->flusher,
                             &app->del, eb);
    if (rc)
        return rc;
    api_del_global = app->del;
    if (!cfg->continuous_queries.enabled)
        return RC_OK;
    if ((rc = cq_store_open(path, &app->cq_store, eb)))
        return rc;
    struct cq_service_options co = {
        .timeout_ms = cfg->continuous_queries.timeout * 1000,
        .max_concurrent = (unsigned)cfg->continuous_queries.max_concurrent,
    };
    if (api_wal_global) {
        co.wal_prepare = cq_wal_prepare;
        co.wal_commit = cq_wal_commit;
        co.wal_abort = cq_wal_abort;
        co.wal_ctx = api_wal_global;
    }
    if ((rc = cq_service_new(&co, app->cq_store, app->qe, app->catalog, app->colbuf, app->flusher,
                             &app->cq, eb)))
        return rc;
    api_cq_global = app->cq;
    return RC_OK;
}

int app_start(struct app *app, const struct config *cfg, struct errbuf *eb)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    app->start_us = time_now_us();
    app->start_mono_ns = time_mono_ns();
    init_metrics(app);
    codec_inflight_configure((size_t)cfg->server.max_inflight_body_mb << 20);
    int rc;

    if ((rc = open_storage(app, cfg, eb)))
        goto fail;

    char cpath[1100];
    catalog_path(cfg, cpath, sizeof(cpath));
    if ((rc = ensure_parent_dir(cpath, eb)))
        goto fail;
    if ((rc = catalog_open(cpath, &app->catalog, eb)))
        goto fail;

    if ((rc = flush_node_id_resolve(cfg->storage.node_id, app->node_id, sizeof(app->node_id), eb)))
        goto fail;
    log_info("storage", "node id=%s", app->node_id);

    /* WAL before the flush writer: the writer logs flush intents into it. */
    if (cfg->wal.enabled) {
        struct wal_options wopt;
        wal_options_from_config(&cfg->wal, &wopt);
        if ((rc = wal_open(&wopt, &api_wal_global, eb)))
            goto fail;
    }
    struct flush_writer_options wo = {
        .before_put = api_wal_global ? wal_put_intent : NULL,
        .before_put_ctx = api_wal_global,
        .node_id = app->node_id,
        .compression = cfg->ingestion.compression,
        .sort_keys = (const char *const *)cfg->ingestion.sort_keys.items,
        .n_sort_keys = cfg->ingestion.sort_keys.count,
        .flush_timeout_seconds = (int)cfg->ingestion.flush_timeout_seconds,
        /* Two DuckDB threads per flush: a single busy key flushes one batch
         * set at a time, and 2 threads cut a 1 M-row TSBS flush from
         * ~1.8 s to ~1.5 s on 2 cores (BENCHMARKS.md). */
        .duckdb_threads = 2,
        .duckdb_memory_limit = cfg->duckdb.memory_limit,
        .duckdb_temp_directory = cfg->duckdb.temp_directory,
    };
    if ((rc = flush_writer_new(app->storage, app->catalog, &wo, &app->writer, eb)))
        goto fail;
    /* Unfinished compaction swaps first: reconciliation would otherwise
     * register a half-swapped output next to its inputs (jobs/compaction.h). */
    struct compaction_recovery_stats crs;
    if ((rc = compaction_recover(cfg->compaction.temp_dir, app->storage, app->catalog, &crs, eb)))
        goto fail;
    struct catalog_reconcile_stats rs;
    bool remote = storage_local_root(app->storage) == NULL;
    if ((rc = flush_catalog_reconcile(app->catalog, app->storage, &rs, eb))) {
        /* An unreachable object store must not keep the server from
         * starting (SPEC R2.4, T2.1): writes are buffered and retried, and
         * the refresh thread picks up other nodes' files once it answers. */
        if (!remote)
            goto fail;
        log_error("catalog", "startup reconcile failed, continuing with the catalog as is: %s",
                  eb->msg);
        errbuf_clear(eb);
        rc = RC_OK;
    } else {
        log_info("catalog", "reconciled with storage listed=%llu added=%llu removed=%llu",
                 (unsigned long long)rs.listed, (unsigned long long)rs.added,
                 (unsigned long long)rs.removed);
    }
    if (remote && cfg->storage.refresh_interval_seconds > 0) {
        struct refresh_options ro = {.interval_ms = cfg->storage.refresh_interval_seconds * 1000,
                                     .node_id = app->node_id};
        if ((rc = refresh_start(app->catalog, app->storage, &ro, &app->refresh, eb)))
            goto fail;
    }
    struct storage_probe_options po = {.interval_ms =
                                           cfg->monitoring.storage_probe_interval_seconds * 1000};
    if ((rc = storage_probe_start(app->storage, &po, &app->probe, eb)))
        goto fail;

    struct colbuf_limits lim = {
        .flush_rows = (size_t)cfg->ingestion.buffer_size,
        .max_age_ms = cfg->ingestion.buffer_age_seconds * 1000,
        .hard_limit_rows = (size_t)cfg->ingestion.buffer_hard_limit,
        .max_total_bytes = (size_t)cfg->ingestion.max_total_buffer_mb << 20,
    };
    struct colbuf_retry retry = {.retry_limit = (uint32_t)cfg->ingestion.flush_retry_limit};
    if ((rc = colbuf_new(&lim, &retry, &app->colbuf, eb)))
        goto fail;
    struct flusher_options fo = {.on_batches_flushed = api_wal_global ? wal_batches_flushed : NULL,
                                 .on_batches_flushed_ctx = api_wal_global,
                                 .nworkers = 2,
                                 .on_flushed = on_flushed,
                                 .on_flushed_ctx = app};
    if ((rc = flusher_start(app->colbuf, flush_writer_sink(app->writer), &fo, &app->flusher, eb)))
        goto fail;
    if (api_wal_global) {
        struct wal_replay_ops ops = {.admit = replay_admit,
                                     .flush = replay_flush,
                                     .file_exists = replay_file_exists,
                                     .ctx = app};
        struct wal_replay_stats rst;
        if ((rc = wal_replay(api_wal_global, &ops, &rst, eb)))
            goto fail;
    }

    if ((rc = open_query_engine(app, cfg, eb)))
        goto fail;
    if ((rc = open_jobs(app, cfg, eb)))
        goto fail;
    if ((rc = scheduler_start(&app->sched, eb)))
        goto fail;
    if (app->del && (rc = del_service_start_scheduler(app->del, app->sched, eb)))
        goto fail;
    if (app->cq && cfg->continuous_queries.scheduler_enabled &&
        (rc = cq_service_start_scheduler(app->cq, app->sched, eb)))
        goto fail;
    if (cfg->compaction.enabled) {
        struct compaction_options co;
        compaction_options_from_config(cfg, &co);
        co.node_id = app->node_id;
        if ((rc = compaction_new(&co, app->storage, app->catalog, &app->compaction, eb)) ||
            (rc = compaction_schedule(app->compaction, app->sched, eb)))
            goto fail;
        api_compaction_global = app->compaction;
    }
    if (cfg->retention.enabled) {
        struct retention_options ro = {.db_path = cfg->auth.db_path,
                                       .temp_dir = cfg->compaction.temp_dir,
                                       .lock_ttl_ms = cfg->compaction.lock_ttl_hours * 3600 * 1000};
        if ((rc = retention_open(&ro, app->storage, app->catalog, &app->retention, eb)) ||
            (rc = retention_schedule(app->retention, app->sched, cfg->retention.schedule, eb)))
            goto fail;
        api_retention_global = app->retention;
    }

    if ((rc = auth_open(&cfg->auth, &app->auth, eb)))
        goto fail;
    api_auth_global = app->auth;

    size_t nroutes;
    const struct http_route *routes = api_routes(&nroutes);
    char origins[1024] = "";
    for (size_t i = 0; i < cfg->cors.origins.count; i++) {
        size_t l = strlen(origins);
        snprintf(origins + l, sizeof(origins) - l, "%s%s", i ? "," : "",
                 cfg->cors.origins.items[i]);
    }
    struct http_options ho = {
        .host = cfg->server.host,
        .port = (int)cfg->server.port,
        .max_body_bytes = (size_t)cfg->server.max_request_size_mb << 20,
        .max_connections = (unsigned)cfg->server.max_connections,
        .idle_timeout_s = (unsigned)cfg->server.idle_timeout_seconds,
        .max_concurrent_requests = (unsigned)cfg->server.max_concurrent_requests,
        .cors_origins = origins,
    };
    static const struct http_hooks hooks = {.authorize = api_auth_authorize,
                                            .on_complete = api_access_log};
    if ((rc = http_server_start(&ho, routes, nroutes, &hooks, app, &app->http, eb)))
        goto fail;
    if ((rc = api_metrics_start(app, eb)))
        goto fail;
    atomic_store(&app->startup_complete, true);
    log_info("server", "listening host=%s port=%d storage=%s base_path=%s", cfg->server.host,
             http_server_port(app->http), cfg->storage.backend, cfg->storage.local.base_path);
    return RC_OK;

fail:
    app_stop(app);
    return rc;
}

int app_port(const struct app *app)
{
    return app->http ? http_server_port(app->http) : 0;
}

int app_stop(struct app *app)
{
    int rc = RC_OK;
    int64_t grace_ms = app->cfg->server.shutdown_timeout_seconds * 1000;
    int64_t deadline = time_mono_ms() + grace_ms;
    atomic_store(&app->shutting_down, true);
    if (app->http) {
        http_server_quiesce(app->http);
        if (!http_server_drain(app->http, grace_ms / 2))
            log_warn("server", "in-flight requests still running at shutdown count=%u",
                     http_server_inflight(app->http));
    }
    cq_service_stop(app->cq); /* no CQ may run into a stopped flusher */
    if (app->flusher) {
        int64_t left = deadline - time_mono_ms();
        if (left < 1000)
            left = 1000;
        rc = flusher_stop(&app->flusher, left);
    }
    /* After the flusher: every flushed batch has been reported; what is
     * left in the WAL is replayed at the next start. */
    struct wal *wal = api_wal_global;
    api_wal_global = NULL;
    wal_close(&wal);
    api_metrics_stop();
    http_server_stop(&app->http);
    api_metrics_free();
    /* Jobs before the scheduler (they unregister from it) and before the
     * query engine, catalog and storage they use. */
    api_compaction_global = NULL;
    api_retention_global = NULL;
    compaction_free(&app->compaction);
    retention_close(&app->retention);
    scheduler_stop(&app->sched);
    api_cq_global = NULL;
    cq_service_free(&app->cq);
    cq_store_close(&app->cq_store);
    api_del_global = NULL;
    del_service_free(&app->del);
    api_query_cache_global = NULL;
    qcache_set_global(NULL);
    qcache_free(&app->qcache);
    api_query_engine_global = NULL;
    query_engine_free(&app->qe);
    readcache_free(&app->readcache); /* after the engine: no file is pinned any more */
    refresh_stop(&app->refresh);
    storage_probe_stop(&app->probe);
    api_auth_global = NULL;
    auth_close(&app->auth);
    colbuf_free(&app->colbuf);
    flush_writer_free(&app->writer);
    catalog_close(&app->catalog);
    storage_free(&app->storage);
    return rc;
}
