/*
 * api/routes.c — the route table: every endpoint, its permission and body
 * handling (SPEC Appendix A). Read-only; shared by all HTTP threads.
 */
#include "api/api_internal.h"
#include "api/api_auth.h"
#include "api/api_cq.h"
#include "api/api_wal.h"
#include "api/api_metrics.h"
#include "api/api_query.h"
#include "api/api_jobs.h"

/* Writes run on the I/O thread (parse, admit, WAL hand-off: no blocking;
 * a synced WAL commit defers the response). Everything else defaults to a
 * worker thread; only handlers that read memory alone are marked inline. */
#define WRITE_ROUTE(path, fn)                                                                      \
    {                                                                                              \
        "POST", path, fn, HTTP_PERM_WRITE, HTTP_BODY_STREAM, api_write_begin, api_write_body,      \
            NULL, HTTP_EXEC_INLINE                                                                 \
    }

/* One route per line reads best as a table. */
// clang-format off
static const struct http_route routes[] = {
    {"GET", "/", api_root, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_INLINE},
    {"GET", "/health", api_health, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_INLINE},
    {"GET", "/ready", api_ready, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_INLINE},
    {"GET", "/ping", api_ping, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_INLINE},
    {"GET", "/metrics", api_metrics_text, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/metrics", api_metrics_json, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/metrics/timeseries/{type}", api_metrics_timeseries, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/metrics/endpoints", api_metrics_endpoints, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/metrics/query-pool", api_metrics_query_pool, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/metrics/memory", api_metrics_memory, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/metrics/health", api_metrics_health, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/logs", api_logs, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},

    /* Ingestion (SPEC §1.1). */
    WRITE_ROUTE("/write", api_write_lp),
    WRITE_ROUTE("/api/v1/write", api_write_lp),
    WRITE_ROUTE("/api/v2/write", api_write_lp),
    WRITE_ROUTE("/api/v1/write/influxdb", api_write_lp),
    WRITE_ROUTE("/api/v1/write/line-protocol", api_write_lp),
    WRITE_ROUTE("/api/v1/write/msgpack", api_write_msgpack),
    {"POST", "/api/v1/write/flush", api_write_flush, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/write/line-protocol/flush", api_write_flush, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/write/stats", api_write_stats, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/write/line-protocol/stats", api_write_stats, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/write/health", api_write_health, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/write/line-protocol/health", api_write_health, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/write/msgpack/stats", api_msgpack_stats, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/write/msgpack/spec", api_msgpack_spec, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},

    /* Query (SPEC §4). */
    {"POST", "/api/v1/query", api_query_sql, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/query/arrow", api_query_arrow, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/query/stream", api_query_stream_csv, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/query/estimate", api_query_estimate, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/query/{measurement}", api_query_measurement, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/query/{measurement}/csv", api_query_measurement_csv, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/measurements", api_measurements_list, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/databases", api_databases_list, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/databases", api_database_create, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/databases/{name}", api_database_get, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"DELETE", "/api/v1/databases/{name}", api_database_delete, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/databases/{name}/measurements", api_database_measurements, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/cache/stats", api_cache_stats, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/cache/health", api_cache_health, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/cache/clear", api_cache_clear, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},

    /* Write-ahead log (SPEC §6.4). */
    {"GET", "/api/v1/wal/status", api_wal_status, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/wal/stats", api_wal_stats, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/wal/files", api_wal_files, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/wal/health", api_wal_health, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/wal/recovery/history", api_wal_recovery_history, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/wal/cleanup", api_wal_cleanup, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},

    /* Compaction (SPEC §7.3) and retention policies (SPEC §8.1). */
    {"GET", "/api/v1/compaction/status", api_compaction_status, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/compaction/stats", api_compaction_stats, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/compaction/candidates", api_compaction_candidates, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/compaction/trigger", api_compaction_trigger, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/compaction/jobs", api_compaction_jobs, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/compaction/history", api_compaction_history, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/retention", api_retention_create, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/retention", api_retention_list, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/retention/{id}", api_retention_get, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"PUT", "/api/v1/retention/{id}", api_retention_update, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"DELETE", "/api/v1/retention/{id}", api_retention_delete, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/retention/{id}/execute", api_retention_execute, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/retention/{id}/executions", api_retention_executions, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},

    /* Authentication and tokens (SPEC §5.5, §5.6). */
    {"GET", "/api/v1/auth/verify", api_auth_verify, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/auth/tokens", api_auth_tokens_list, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/auth/tokens", api_auth_tokens_create, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/auth/tokens/{id}", api_auth_token_get, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"PATCH", "/api/v1/auth/tokens/{id}", api_auth_token_update, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"DELETE", "/api/v1/auth/tokens/{id}", api_auth_token_delete, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/auth/tokens/{id}/rotate", api_auth_token_rotate, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/auth/tokens/{id}/revoke", api_auth_token_revoke, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/auth/cache/stats", api_auth_cache_stats, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/auth/cache/invalidate", api_auth_cache_invalidate, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},

    /* Continuous queries (SPEC §8.2) and deletes (§8.3). */
    {"GET", "/api/v1/continuous_queries", api_cq_list, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/continuous_queries", api_cq_create, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/continuous_queries/{id}", api_cq_get, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"PUT", "/api/v1/continuous_queries/{id}", api_cq_update, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"DELETE", "/api/v1/continuous_queries/{id}", api_cq_delete, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/continuous_queries/{id}/execute", api_cq_execute, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/continuous_queries/{id}/executions", api_cq_executions, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/delete/config", api_delete_config, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/delete", api_delete_rows, HTTP_PERM_DELETE, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},

    /* InfluxDB 1.x client friendliness (SPEC §4.13). */
    {"POST", "/query", api_influx_query, HTTP_PERM_WRITE, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/query", api_influx_query, HTTP_PERM_WRITE, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
};
// clang-format on

const struct http_route *api_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
