/*
 * metrics/families.c — the metric families SPEC §9.4 requires on /metrics.
 *
 * metrics_declare_spec_families() registers a zero-valued placeholder for
 * each of them, so the exposition is complete even when the owning module is
 * off (compaction, WAL) or has not registered yet. A module's own series of
 * the same family hide the placeholder (see metrics_declare). Called once at
 * startup by the api layer; thread-safe like the rest of the registry.
 */
#include "metrics/metrics.h"

#include <stddef.h>

static const struct spec_family {
    const char *name;
    enum metric_kind kind;
    const char *labels;
    const char *help;
} spec_families[] = {
    /* process */
    {"arc_uptime_seconds", METRIC_GAUGE, NULL, "Seconds since start"},
    {"arc_memory_rss_bytes", METRIC_GAUGE, NULL, "Resident set size of the process"},
    {"arc_threads", METRIC_GAUGE, NULL, "Threads of the process"},
    /* HTTP */
    {"arc_http_requests_total", METRIC_COUNTER, NULL, "HTTP requests answered"},
    {"arc_http_requests_success_total", METRIC_COUNTER, NULL,
     "HTTP requests answered with status < 400"},
    {"arc_http_requests_error_total", METRIC_COUNTER, NULL,
     "HTTP requests answered with status >= 400"},
    {"arc_http_latency_seconds", METRIC_HISTOGRAM, NULL, "HTTP request latency"},
    /* ingest */
    {"arc_ingest_records_total", METRIC_COUNTER, NULL, "Rows accepted"},
    {"arc_ingest_bytes_total", METRIC_COUNTER, NULL, "Decoded write body bytes"},
    {"arc_ingest_batches_total", METRIC_COUNTER, NULL, "Batches admitted to the buffer"},
    {"arc_ingest_errors_total", METRIC_COUNTER, NULL, "Write requests answered with an error"},
    {"arc_ingest_lines_rejected_total", METRIC_COUNTER, NULL, "Line-protocol lines rejected"},
    {"arc_ingest_records_dropped_total", METRIC_COUNTER, "reason=\"flush_failed\"",
     "Acknowledged rows dropped from memory"},
    {"arc_lineprotocol_requests_total", METRIC_COUNTER, NULL, "Line-protocol write requests"},
    {"arc_lineprotocol_records_total", METRIC_COUNTER, NULL, "Line-protocol rows accepted"},
    {"arc_msgpack_requests_total", METRIC_COUNTER, NULL, "MessagePack write requests"},
    {"arc_msgpack_records_total", METRIC_COUNTER, NULL, "MessagePack rows accepted"},
    {"arc_request_body_rejected_total", METRIC_COUNTER, "reason=\"too_large\"",
     "Request bodies rejected"},
    {"arc_request_body_rejected_total", METRIC_COUNTER, "reason=\"decompressed_too_large\"",
     "Request bodies rejected"},
    {"arc_request_body_rejected_total", METRIC_COUNTER, "reason=\"bad_encoding\"",
     "Request bodies rejected"},
    /* buffer */
    {"arc_buffer_records_buffered", METRIC_GAUGE, NULL, "Rows held in write buffers"},
    {"arc_buffer_records_written_total", METRIC_COUNTER, NULL,
     "Rows written to storage by buffer flushes"},
    {"arc_buffer_flushes_total", METRIC_COUNTER, NULL, "Successful buffer flushes"},
    {"arc_buffer_flush_failures_total", METRIC_COUNTER, NULL, "Failed buffer flushes"},
    {"arc_buffer_backpressure_rejections_total", METRIC_COUNTER, NULL,
     "Write requests refused because a buffer was full"},
    /* storage */
    {"arc_storage_writes_total", METRIC_COUNTER, NULL, "Objects written to storage"},
    {"arc_storage_write_bytes_total", METRIC_COUNTER, NULL, "Bytes written to storage"},
    {"arc_storage_reads_total", METRIC_COUNTER, NULL, "Object reads from storage"},
    {"arc_storage_errors_total", METRIC_COUNTER, NULL, "Failed storage operations"},
    {"arc_storage_timeouts_total", METRIC_COUNTER, NULL, "Storage requests that timed out"},
    /* query */
    {"arc_query_requests_total", METRIC_COUNTER, NULL, "Queries received"},
    {"arc_query_success_total", METRIC_COUNTER, NULL, "Queries that completed"},
    {"arc_query_errors_total", METRIC_COUNTER, NULL, "Queries that failed"},
    {"arc_query_timeouts_total", METRIC_COUNTER, NULL, "Queries interrupted by their timeout"},
    {"arc_query_rows_total", METRIC_COUNTER, NULL, "Rows returned by queries"},
    {"arc_db_connections_open", METRIC_GAUGE, NULL, "Open DuckDB query connections"},
    {"arc_db_connections_in_use", METRIC_GAUGE, NULL, "DuckDB query connections in use"},
    {"arc_db_pool_wait_timeouts_total", METRIC_COUNTER, NULL,
     "Connection acquisitions that timed out"},
    {"arc_db_connection_replacements_total", METRIC_COUNTER, NULL,
     "Unhealthy DuckDB connections replaced"},
    {"arc_db_connection_replacement_failures_total", METRIC_COUNTER, NULL,
     "DuckDB connection replacements that failed"},
    /* compaction */
    {"arc_compaction_jobs_total", METRIC_COUNTER, NULL, "Compaction jobs started"},
    {"arc_compaction_jobs_success_total", METRIC_COUNTER, NULL, "Compaction jobs that succeeded"},
    {"arc_compaction_jobs_failed_total", METRIC_COUNTER, NULL, "Compaction jobs that failed"},
    /* WAL */
    {"arc_wal_entries_total", METRIC_COUNTER, NULL, "Entries appended to the WAL"},
    {"arc_wal_bytes_total", METRIC_COUNTER, NULL, "Bytes appended to the WAL"},
    {"arc_wal_syncs_total", METRIC_COUNTER, NULL, "WAL syncs"},
    {"arc_wal_failed_writes_total", METRIC_COUNTER, NULL, "Failed WAL writes or syncs"},
    {"arc_wal_queue_depth", METRIC_GAUGE, NULL, "Entries waiting for the WAL writer"},
    {"arc_wal_recovery_records_total", METRIC_COUNTER, NULL, "Records replayed from the WAL"},
    /* auth */
    {"arc_auth_requests_total", METRIC_COUNTER, NULL, "Requests that needed authentication"},
    {"arc_auth_failures_total", METRIC_COUNTER, NULL, "Requests rejected with 401 or 403"},
    {"arc_auth_cache_hits_total", METRIC_COUNTER, NULL, "Token verification cache hits"},
    {"arc_auth_cache_misses_total", METRIC_COUNTER, NULL, "Token verification cache misses"},
    /* collector */
    {"arc_metrics_collection_failures_total", METRIC_COUNTER, NULL,
     "Metrics collection cycles that failed"},
    {"arc_metrics_collection_consecutive_failures", METRIC_GAUGE, NULL,
     "Metrics collection cycles failed in a row"},
};

void metrics_declare_spec_families(void)
{
    for (size_t i = 0; i < sizeof(spec_families) / sizeof(spec_families[0]); i++)
        metrics_declare(spec_families[i].name, spec_families[i].help, spec_families[i].kind,
                        spec_families[i].labels);
}

const char *metrics_spec_family_name(size_t i)
{
    return i < sizeof(spec_families) / sizeof(spec_families[0]) ? spec_families[i].name : NULL;
}
