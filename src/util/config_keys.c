/*
 * util/config_keys.c — THE configuration key table (SPEC.md §10.2, §6.1,
 * legacy variables §10.3, Go aliases §10.4).
 *
 * Every key appears exactly once, with its type, struct offset, default
 * (as text, parsed like an environment value), allowed range or values,
 * extra checks, a one-line description (used to generate arc.toml), its
 * alias names and its legacy environment variables. Keys of one section are
 * contiguous and a section's own keys come before its sub-sections, so the
 * dump can print [section] headers in order (config__table_check verifies).
 *
 * Read-only data; any thread.
 */
#include "util/config_internal.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#define OFF(f) offsetof(struct config, f)

/* Size limits in MiB: 1 TiB is far above any sane value and keeps
 * mb * 1 MiB inside int64_t. */
#define MB_MAX INT64_C(1048576)
#define DAY_S INT64_C(86400)

static const char *const backends[] = {"local", "s3", "minio", "gcs", NULL};
static const char *const codecs[] = {"snappy", "zstd", "gzip", "lz4", "none", NULL};
static const char *const sync_modes[] = {"fsync", "fdatasync", "async", NULL};
static const char *const levels[] = {"DEBUG", "INFO", "WARNING", "ERROR", "WARN=WARNING", NULL};
static const char *const log_formats[] = {"structured", "text", NULL};

/* Compact table rows; formatting kept by hand. */
/* clang-format off */
#define KINT(n, f, d, lo, hi, doc_, ...) \
    {.name = n, .type = CT_INT, .offset = OFF(f), .def = d, .min = lo, .max = hi, .doc = doc_, \
     __VA_ARGS__}
#define KSTR(n, f, d, fl, doc_, ...) \
    {.name = n, .type = CT_STR, .offset = OFF(f), .def = d, .flags = fl, .doc = doc_, __VA_ARGS__}
#define KBOOL(n, f, d, doc_, ...) \
    {.name = n, .type = CT_BOOL, .offset = OFF(f), .def = d, .doc = doc_, __VA_ARGS__}
#define KENUM(n, f, d, ch, doc_, ...) \
    {.name = n, .type = CT_ENUM, .offset = OFF(f), .def = d, .choices = ch, .doc = doc_, \
     __VA_ARGS__}
#define KLIST(n, f, d, fl, doc_, ...) \
    {.name = n, .type = CT_LIST, .offset = OFF(f), .def = d, .flags = fl, .doc = doc_, __VA_ARGS__}

#define GO(a) {a, ALIAS_GO, XF_NONE}
#define GOX(a, x) {a, ALIAS_GO, x}
/* clang-format on */

const struct config_key config__keys[] = {
    /* [server] */
    KSTR("server.host", server.host, "0.0.0.0", CF_NONEMPTY | CF_NOSPACE, "listen address",
         .legacy_env = {"ARC_HOST", "HOST"}),
    KINT("server.port", server.port, "8000", 1, 65535, "listen port",
         .legacy_env = {"ARC_PORT", "PORT"}),
    KINT("server.io_threads", server.io_threads, "0", 0, 1024,
         "request-handling threads; 0 = number of CPUs", .flags = CF_AUTO_ZERO),
    KINT("server.max_request_size_mb", server.max_request_size_mb, "100", 1, MB_MAX,
         "largest request body on the wire, MiB",
         .aliases = {GOX("server.max_payload_size", XF_SIZE_TO_MB)},
         .legacy_env = {"MAX_REQUEST_SIZE_MB"}),
    KINT("server.max_decompressed_size_mb", server.max_decompressed_size_mb, "500", 1, MB_MAX,
         "largest decoded (decompressed) body per request, MiB",
         .legacy_env = {"MAX_DECOMPRESSED_SIZE_MB"}),
    KINT("server.max_inflight_body_mb", server.max_inflight_body_mb, "2048", 1, MB_MAX,
         "decoded bytes held by all in-flight requests together, MiB"),
    KINT("server.read_timeout_seconds", server.read_timeout_seconds, "30", 1, DAY_S,
         "time allowed to read a request", .aliases = {GO("server.read_timeout")}),
    KINT("server.write_timeout_seconds", server.write_timeout_seconds, "30", 1, DAY_S,
         "time allowed to write a response", .aliases = {GO("server.write_timeout")}),
    KINT("server.idle_timeout_seconds", server.idle_timeout_seconds, "120", 1, DAY_S,
         "keep-alive connections idle this long are closed",
         .aliases = {GO("server.idle_timeout")}),
    KINT("server.shutdown_timeout_seconds", server.shutdown_timeout_seconds, "30", 0, 3600,
         "grace period for requests and flushes at shutdown",
         .aliases = {GO("server.shutdown_timeout")}),
    KINT("server.max_connections", server.max_connections, "1024", 1, 100000,
         "open connections (one thread each); more are refused"),
    KINT("server.max_concurrent_requests", server.max_concurrent_requests, "0", 0, 100000,
         "requests handled at once, beyond it 503; 0 = only max_connections limits"),
    KBOOL("server.tls_enabled", server.tls_enabled, "false", "serve HTTPS"),
    KSTR("server.tls_cert_file", server.tls_cert_file, "", 0,
         "PEM certificate chain (required when tls_enabled)"),
    KSTR("server.tls_key_file", server.tls_key_file, "", 0,
         "PEM private key (required when tls_enabled)"),

    /* [auth] */
    KBOOL("auth.enabled", auth.enabled, "true", "require API tokens",
          .legacy_env = {"AUTH_ENABLED"}),
    KSTR("auth.bootstrap_token", auth.bootstrap_token, "", CF_SECRET | CF_TOKEN,
         "admin token created on first start (empty = generate one; else >= 32 chars)",
         .aliases = {{"auth.default_token", ALIAS_PY, XF_NONE}},
         .legacy_env = {"DEFAULT_API_TOKEN"}),
    KBOOL("auth.force_bootstrap", auth.force_bootstrap, "false",
          "add bootstrap_token as admin token 'arc-recovery' even if tokens exist"),
    KLIST("auth.allowlist", auth.allowlist,
          "/,/health,/ready,/ping,/api/v1/auth/verify,/metrics,/api/v1/metrics*", CF_PATHS,
          "paths served without a token; a trailing '*' matches a prefix",
          .legacy_env = {"AUTH_ALLOWLIST"}),
    KINT("auth.cache_ttl", auth.cache_ttl, "30", 0, DAY_S,
         "seconds a verified token stays cached; 0 = no cache", .legacy_env = {"AUTH_CACHE_TTL"}),
    KINT("auth.max_cache_size", auth.max_cache_size, "1000", 1, 10000000,
         "tokens kept in the verification cache"),
    KSTR("auth.db_path", auth.db_path, "./data/arc.db", CF_NONEMPTY,
         "SQLite file for tokens and policies"),

    /* [storage] */
    KENUM("storage.backend", storage.backend, "local", backends,
          "local | s3 | minio | gcs (R2, Ceph, Wasabi, ... = s3 with endpoint)",
          .legacy_env = {"STORAGE_BACKEND"}),
    KSTR("storage.database", storage.database, "default", CF_DBNAME,
         "database used when a request names none",
         .aliases = {{"storage.local.database", ALIAS_PY, XF_BACKEND_DB},
                     {"storage.s3.database", ALIAS_PY, XF_BACKEND_DB},
                     {"storage.minio.database", ALIAS_PY, XF_BACKEND_DB},
                     {"storage.gcs.database", ALIAS_PY, XF_BACKEND_DB}},
         .legacy_env = {"STORAGE_DATABASE", "STORAGE_LOCAL_DATABASE"}),
    KINT("storage.connect_timeout_seconds", storage.connect_timeout_seconds, "10", 1, 600,
         "connect timeout of every object-store request"),
    KINT("storage.request_timeout_seconds", storage.request_timeout_seconds, "60", 1, DAY_S,
         "timeout of one object-store HTTP request"),
    KINT("storage.low_speed_limit_bytes", storage.low_speed_limit_bytes, "1024", 1,
         INT64_C(1) << 30,
         "a transfer slower than this many bytes/s for low_speed_time_seconds is aborted"),
    KINT("storage.low_speed_time_seconds", storage.low_speed_time_seconds, "30", 1, 3600,
         "stall window for low_speed_limit_bytes"),
    KINT("storage.operation_timeout_seconds", storage.operation_timeout_seconds, "300", 1, DAY_S,
         "deadline of a whole storage operation including retries"),
    KINT("storage.max_retries", storage.max_retries, "3", 0, 100,
         "retries with exponential back-off (at most 10 s per wait)"),
    KSTR("storage.node_id", storage.node_id, "", CF_NOSPACE,
         "this node's id in file names ([A-Za-z0-9-], a letter first); nodes sharing a bucket "
         "need distinct ids; empty = host name"),
    KINT("storage.refresh_interval_seconds", storage.refresh_interval_seconds, "30", 0, DAY_S,
         "how often the catalog learns files written by other nodes (listing); 0 = off"),
    KSTR("storage.cache_dir", storage.cache_dir, "./data/cache", CF_NONEMPTY,
         "local read cache of remote data files for queries"),
    KINT("storage.cache_max_mb", storage.cache_max_mb, "10240", 1, MB_MAX,
         "read cache size, MiB (least recently used files are evicted)"),

    /* [storage.local] */
    KSTR("storage.local.base_path", storage.local.base_path, "./data/arc", CF_NONEMPTY,
         "data directory of the local backend", .aliases = {GO("storage.local_path")},
         .legacy_env = {"STORAGE_LOCAL_BASE_PATH"}),

    /* [storage.s3] */
    KSTR("storage.s3.bucket", storage.s3.bucket, "", 0, "bucket (required for backend s3)",
         .aliases = {GO("storage.s3_bucket")}),
    KSTR("storage.s3.region", storage.s3.region, "us-east-1", CF_NONEMPTY | CF_NOSPACE,
         "region used for request signing", .aliases = {GO("storage.s3_region")}),
    KSTR("storage.s3.endpoint", storage.s3.endpoint, "", 0,
         "empty = AWS; set it for R2, Ceph, Wasabi and other S3-compatible stores",
         .aliases = {GO("storage.s3_endpoint")}),
    KSTR("storage.s3.access_key", storage.s3.access_key, "", CF_SECRET,
         "empty = AWS credential chain (env, web identity, instance profile)",
         .aliases = {GO("storage.s3_access_key")}),
    KSTR("storage.s3.secret_key", storage.s3.secret_key, "", CF_SECRET, "secret for access_key",
         .aliases = {GO("storage.s3_secret_key")}),
    KBOOL("storage.s3.use_ssl", storage.s3.use_ssl, "true", "use HTTPS",
          .aliases = {GO("storage.s3_use_ssl")}),
    KBOOL("storage.s3.path_style", storage.s3.path_style, "false",
          "path-style addressing (endpoint/bucket/key)", .aliases = {GO("storage.s3_path_style")}),
    KSTR("storage.s3.prefix", storage.s3.prefix, "", 0, "key prefix inside the bucket",
         .aliases = {GO("storage.s3_prefix")}),

    /* [storage.minio] */
    KSTR("storage.minio.endpoint", storage.minio.endpoint, "http://localhost:9000", 0,
         "MinIO URL (path-style always; its scheme wins over use_ssl)",
         .legacy_env = {"MINIO_ENDPOINT"}),
    KSTR("storage.minio.access_key", storage.minio.access_key, "", CF_SECRET,
         "required for backend minio", .legacy_env = {"MINIO_ACCESS_KEY"}),
    KSTR("storage.minio.secret_key", storage.minio.secret_key, "", CF_SECRET,
         "required for backend minio", .legacy_env = {"MINIO_SECRET_KEY"}),
    KSTR("storage.minio.bucket", storage.minio.bucket, "arc", 0, "bucket",
         .legacy_env = {"MINIO_BUCKET"}),
    KBOOL("storage.minio.use_ssl", storage.minio.use_ssl, "false",
          "use HTTPS when endpoint has no scheme", .legacy_env = {"MINIO_USE_SSL"}),

    /* [storage.gcs] */
    KSTR("storage.gcs.bucket", storage.gcs.bucket, "", 0,
         "bucket (required for backend gcs; S3-interoperable XML API)"),
    KSTR("storage.gcs.hmac_key_id", storage.gcs.hmac_key_id, "", CF_SECRET,
         "HMAC key id (required for backend gcs)"),
    KSTR("storage.gcs.hmac_secret", storage.gcs.hmac_secret, "", CF_SECRET,
         "HMAC secret (required for backend gcs)"),
    KSTR("storage.gcs.project_id", storage.gcs.project_id, "", 0, "project (optional)"),
    KSTR("storage.gcs.credentials_file", storage.gcs.credentials_file, "", 0,
         "service-account JSON (optional, may be unsupported)"),

    /* [ingestion] */
    KINT("ingestion.buffer_size", ingestion.buffer_size, "50000", 1, 100000000,
         "rows per (database, measurement) that trigger a flush",
         .aliases = {GO("ingest.max_buffer_size")},
         .legacy_env = {"BUFFER_SIZE", "WRITE_BUFFER_SIZE"}),
    KINT("ingestion.buffer_age_seconds", ingestion.buffer_age_seconds, "5", 1, DAY_S,
         "longest a row waits in memory before a flush",
         .aliases = {GOX("ingest.max_buffer_age_ms", XF_MS_TO_S)},
         .legacy_env = {"BUFFER_AGE_SECONDS", "WRITE_BUFFER_AGE"}),
    KINT("ingestion.buffer_hard_limit", ingestion.buffer_hard_limit, "0", 0, 1000000000,
         "rows per key before writes get 503; 0 = 2 x buffer_size", .flags = CF_AUTO_ZERO),
    KINT("ingestion.max_total_buffer_mb", ingestion.max_total_buffer_mb, "1024", 1, MB_MAX,
         "all buffers together, MiB; beyond it writes get 503"),
    KINT("ingestion.flush_timeout_seconds", ingestion.flush_timeout_seconds, "30", 1, DAY_S,
         "deadline of one flush attempt", .aliases = {GO("ingest.flush_timeout_seconds")}),
    KINT("ingestion.flush_retry_limit", ingestion.flush_retry_limit, "0", 0, 1000000,
         "failed attempts before a batch is dropped; 0 = retry until success"),
    KENUM("ingestion.compression", ingestion.compression, "snappy", codecs,
          "Parquet codec: snappy | zstd | gzip | lz4 | none", .aliases = {GO("ingest.compression")},
          .legacy_env = {"COMPRESSION", "WRITE_COMPRESSION"}),
    KINT("ingestion.max_line_bytes", ingestion.max_line_bytes, "1048576", 256, INT64_C(1) << 30,
         "longest line-protocol line, bytes"),
    KINT("ingestion.max_reported_errors", ingestion.max_reported_errors, "100", 0, 100000,
         "line errors listed in one 400 response"),
    KLIST("ingestion.sort_keys", ingestion.sort_keys, "", CF_SORTKEYS,
          "per measurement \"measurement:col1,col2\"; time is appended",
          .aliases = {GO("ingest.sort_keys")}),

    /* [wal] */
    KBOOL("wal.enabled", wal.enabled, "false", "log writes before acknowledging them",
          .legacy_env = {"WAL_ENABLED"}),
    KSTR("wal.dir", wal.dir, "./data/wal", CF_NONEMPTY, "WAL directory",
         .aliases = {GO("wal.directory")}, .legacy_env = {"WAL_DIR"}),
    KENUM("wal.sync_mode", wal.sync_mode, "fdatasync", sync_modes, "fsync | fdatasync | async",
          .legacy_env = {"WAL_SYNC_MODE"}),
    KINT("wal.max_size_mb", wal.max_size_mb, "100", 1, MB_MAX,
         "rotate the active segment at this size, MiB", .legacy_env = {"WAL_MAX_SIZE_MB"}),
    KINT("wal.max_age_seconds", wal.max_age_seconds, "3600", 1, 30 * DAY_S,
         "rotate the active segment after this age", .legacy_env = {"WAL_MAX_AGE_SECONDS"}),
    KINT("wal.queue_size", wal.queue_size, "10000", 1, 10000000,
         "entries waiting for the WAL writer; beyond it writes get 503"),
    KINT("wal.async_sync_interval_ms", wal.async_sync_interval_ms, "1000", 1, 3600000,
         "background sync period in async mode"),
    KINT("wal.max_total_size_mb", wal.max_total_size_mb, "0", 0, MB_MAX * 1024,
         "WAL size beyond which writes get 503, MiB; 0 = unlimited"),
    KINT("wal.group_commit_delay_us", wal.group_commit_delay_us, "1000", 0, 100000,
         "when no CPU is idle, wait this long before writing a group so that one write and "
         "one sync cover more requests (they cost CPU); 0 = never wait"),
    KBOOL("wal.preallocate", wal.preallocate, "true",
          "zero-fill segments ahead of use so syncs write data only (off on copy-on-write "
          "file systems)"),
    KINT("wal.recovered_retention_hours", wal.recovered_retention_hours, "24", 0, 87600,
         "age after which replayed .recovered segments are removed"),

    /* [compaction] */
    KBOOL("compaction.enabled", compaction.enabled, "true", "hourly compaction tier",
          .aliases = {GO("compaction.hourly_enabled")}, .legacy_env = {"COMPACTION_ENABLED"}),
    KSTR("compaction.schedule", compaction.schedule, "5 * * * *", CF_CRON, "5-field cron, UTC",
         .aliases = {GO("compaction.hourly_schedule")}, .legacy_env = {"COMPACTION_SCHEDULE"}),
    KINT("compaction.min_age_hours", compaction.min_age_hours, "1", -87600, 87600,
         "hour partitions younger than this are left alone (values < 1 mean 1)",
         .aliases = {GO("compaction.hourly_min_age_hours")},
         .legacy_env = {"COMPACTION_MIN_AGE_HOURS"}),
    KINT("compaction.min_files", compaction.min_files, "10", 1, 100000,
         "compact a partition once it has this many files",
         .aliases = {GO("compaction.hourly_min_files")}, .legacy_env = {"COMPACTION_MIN_FILES"}),
    KINT("compaction.target_file_size_mb", compaction.target_file_size_mb, "512", 1, MB_MAX,
         "advisory output file size, MiB", .legacy_env = {"COMPACTION_TARGET_FILE_SIZE_MB"}),
    KINT("compaction.max_concurrent_jobs", compaction.max_concurrent_jobs, "2", 1, 64,
         "partitions compacted at once", .aliases = {GO("compaction.max_concurrent")},
         .legacy_env = {"COMPACTION_MAX_CONCURRENT_JOBS"}),
    KINT("compaction.max_files_per_batch", compaction.max_files_per_batch, "30", 2, 500,
         "input files per output file"),
    KINT("compaction.settle_seconds", compaction.settle_seconds, "300", 0, DAY_S,
         "newest input file must be at least this old"),
    KINT("compaction.lock_ttl_hours", compaction.lock_ttl_hours, "2", 1, 168,
         "a partition lock older than this is considered stale",
         .legacy_env = {"COMPACTION_LOCK_TTL_HOURS"}),
    KSTR("compaction.temp_dir", compaction.temp_dir, "./data/compaction", CF_NONEMPTY,
         "scratch directory", .aliases = {GO("compaction.temp_directory")},
         .legacy_env = {"COMPACTION_TEMP_DIR"}),
    KENUM("compaction.compression", compaction.compression, "zstd", codecs,
          "Parquet codec of compacted files", .legacy_env = {"COMPACTION_COMPRESSION"}),
    KINT("compaction.compression_level", compaction.compression_level, "3", 1, 22,
         "codec level (zstd 1-22, gzip 1-9)", .legacy_env = {"COMPACTION_COMPRESSION_LEVEL"}),
    KBOOL("compaction.dedup", compaction.dedup, "false",
          "drop rows with equal time, tags and fields while compacting"),

    /* [compaction.daily] */
    KBOOL("compaction.daily.enabled", compaction.daily.enabled, "true", "daily tier",
          .aliases = {GO("compaction.daily_enabled")}),
    KSTR("compaction.daily.schedule", compaction.daily.schedule, "0 3 * * *", CF_CRON,
         "5-field cron, UTC", .aliases = {GO("compaction.daily_schedule")}),
    KINT("compaction.daily.min_age_hours", compaction.daily.min_age_hours, "24", 1, 87600,
         "day partitions younger than this are left alone",
         .aliases = {GO("compaction.daily_min_age_hours")}),
    KINT("compaction.daily.min_files", compaction.daily.min_files, "12", 1, 100000,
         "compact a day once it has this many files",
         .aliases = {GO("compaction.daily_min_files")}),
    KINT("compaction.daily.target_file_size_mb", compaction.daily.target_file_size_mb, "2048", 1,
         MB_MAX, "advisory output file size, MiB"),

    /* [query] */
    KINT("query.timeout_seconds", query.timeout_seconds, "300", 0, DAY_S,
         "query deadline; 0 = none", .aliases = {GO("query.timeout")}),
    KINT("query.estimate_timeout_seconds", query.estimate_timeout_seconds, "30", 1, DAY_S,
         "deadline of /api/v1/query/estimate"),
    KINT("query.max_sql_length", query.max_sql_length, "10000", 1, 10000000,
         "longest accepted SQL text, characters"),
    KINT("query.slow_query_threshold_ms", query.slow_query_threshold_ms, "0", 0, 86400000,
         "queries slower than this are logged at WARN; 0 = off"),

    /* [duckdb] */
    KINT("duckdb.pool_size", duckdb.pool_size, "5", 1, 256, "query connections",
         .aliases = {GO("database.max_connections")}, .legacy_env = {"DUCKDB_POOL_SIZE"}),
    KINT("duckdb.max_queue_size", duckdb.max_queue_size, "100", 0, 1000000,
         "queries waiting for a connection; beyond it 503",
         .legacy_env = {"DUCKDB_MAX_QUEUE_SIZE"}),
    KINT("duckdb.acquire_timeout_seconds", duckdb.acquire_timeout_seconds, "30", 1, 3600,
         "longest wait for a connection before 503"),
    KSTR("duckdb.memory_limit", duckdb.memory_limit, "", CF_MEMSIZE,
         "e.g. \"8GB\" or \"50%\"; empty = about 50% of RAM",
         .aliases = {GO("database.memory_limit")}),
    KINT("duckdb.threads", duckdb.threads, "0", 0, 1024, "DuckDB threads; 0 = number of CPUs",
         .flags = CF_AUTO_ZERO, .aliases = {GO("database.thread_count")}),
    KSTR("duckdb.temp_directory", duckdb.temp_directory, "./data/duckdb_tmp", CF_NONEMPTY,
         "spill directory", .aliases = {GO("database.temp_directory")}),
    KBOOL("duckdb.enable_object_cache", duckdb.enable_object_cache, "true",
          "cache Parquet metadata", .legacy_env = {"DUCKDB_ENABLE_OBJECT_CACHE"}),

    /* [query_cache] */
    KBOOL("query_cache.enabled", query_cache.enabled, "true", "cache JSON query results",
          .legacy_env = {"QUERY_CACHE_ENABLED"}),
    KINT("query_cache.ttl_seconds", query_cache.ttl_seconds, "60", 1, DAY_S, "entry lifetime",
         .legacy_env = {"QUERY_CACHE_TTL"}),
    KINT("query_cache.max_size", query_cache.max_size, "100", 1, 1000000, "entries",
         .legacy_env = {"QUERY_CACHE_MAX_SIZE"}),
    KINT("query_cache.max_result_mb", query_cache.max_result_mb, "10", 1, MB_MAX,
         "larger results are not cached, MiB", .legacy_env = {"QUERY_CACHE_MAX_RESULT_MB"}),
    KINT("query_cache.max_total_mb", query_cache.max_total_mb, "200", 1, MB_MAX,
         "all entries together, MiB", .legacy_env = {"QUERY_CACHE_MAX_TOTAL_MB"}),

    /* [delete] */
    KBOOL("delete.enabled", delete.enabled, "false", "allow /api/v1/delete",
          .legacy_env = {"DELETE_ENABLED"}),
    KINT("delete.confirmation_threshold", delete.confirmation_threshold, "10000", 0,
         INT64_C(1000000000000), "deletes of more rows need confirm=true",
         .legacy_env = {"DELETE_CONFIRMATION_THRESHOLD"}),
    KINT("delete.max_rows_per_delete", delete.max_rows_per_delete, "1000000", 1,
         INT64_C(1000000000000), "larger deletes are refused", .legacy_env = {"DELETE_MAX_ROWS"}),
    KBOOL("delete.audit_enabled", delete.audit_enabled, "true", "log every delete",
          .legacy_env = {"DELETE_AUDIT_ENABLED"}),

    /* [retention] */
    KBOOL("retention.enabled", retention.enabled, "true", "retention endpoints available"),
    KSTR("retention.schedule", retention.schedule, "", CF_CRON_OR_EMPTY,
         "5-field cron for automatic runs; empty = manual only",
         .aliases = {GO("scheduler.retention_schedule")}),

    /* [continuous_queries] */
    KBOOL("continuous_queries.enabled", continuous_queries.enabled, "true",
          "continuous-query endpoints available", .aliases = {GO("continuous_query.enabled")}),
    KINT("continuous_queries.max_concurrent", continuous_queries.max_concurrent, "2", 1, 64,
         "continuous queries running at once"),
    KINT("continuous_queries.timeout", continuous_queries.timeout, "3600", 1, DAY_S,
         "deadline of one execution, seconds"),
    KBOOL("continuous_queries.scheduler_enabled", continuous_queries.scheduler_enabled, "false",
          "run active continuous queries on their interval"),

    /* [logging] */
    KENUM("logging.level", logging.level, "INFO", levels,
          "DEBUG | INFO | WARNING | ERROR (WARN = WARNING)",
          .aliases = {GOX("log.level", XF_GO_LOG_LEVEL)}, .legacy_env = {"LOG_LEVEL"}),
    KENUM("logging.format", logging.format, "structured", log_formats,
          "structured (JSON lines) | text", .aliases = {GOX("log.format", XF_GO_LOG_FORMAT)},
          .legacy_env = {"LOG_FORMAT"}),
    KBOOL("logging.include_trace", logging.include_trace, "false",
          "add source location to log lines", .legacy_env = {"LOG_INCLUDE_TRACE"}),
    KINT("logging.buffer_entries", logging.buffer_entries, "10000", 1, 10000000,
         "lines kept in memory for /api/v1/logs"),

    /* [cors] */
    KLIST("cors.origins", cors.origins, "", CF_ORIGINS,
          "allowed origins (http(s)://host[:port]) or \"*\"; empty = no CORS headers",
          .legacy_env = {"CORS_ORIGINS"}),

    /* [monitoring] */
    KINT("monitoring.collection_interval_seconds", monitoring.collection_interval_seconds, "10", 1,
         3600, "metrics collection period"),
    KINT("monitoring.retention_minutes", monitoring.retention_minutes, "30", 1, 10080,
         "history kept for the metrics timeseries"),
    KINT("monitoring.failure_warn_threshold", monitoring.failure_warn_threshold, "3", 1, 1000,
         "consecutive collection failures before a warning"),
    KINT("monitoring.failure_unhealthy_threshold", monitoring.failure_unhealthy_threshold, "10", 1,
         10000, "consecutive failures before /health reports degraded"),
    KBOOL("monitoring.ready_requires_storage", monitoring.ready_requires_storage, "true",
          "/ready fails while the storage probe fails"),
    KINT("monitoring.storage_probe_interval_seconds", monitoring.storage_probe_interval_seconds,
         "10", 1, 3600, "storage probe period"),
};

const size_t config__nkeys = sizeof(config__keys) / sizeof(config__keys[0]);

const struct config_section_doc config__sections[] = {
    {"server", "HTTP server"},
    {"auth", "Authentication (tokens)"},
    {"storage", "Where Parquet files are stored"},
    {"storage.local", "Local file system backend"},
    {"storage.s3", "Amazon S3 and S3-compatible backends"},
    {"storage.minio", "MinIO backend"},
    {"storage.gcs", "Google Cloud Storage (HMAC keys, XML API)"},
    {"ingestion", "Write buffering and flushing"},
    {"wal", "Write-ahead log"},
    {"compaction", "Compaction, hourly tier"},
    {"compaction.daily", "Compaction, daily tier"},
    {"query", "Queries"},
    {"duckdb", "Query engine"},
    {"query_cache", "Query result cache"},
    {"delete", "Deletes"},
    {"retention", "Retention policies"},
    {"continuous_queries", "Continuous queries"},
    {"logging", "Logging"},
    {"cors", "Cross-origin requests"},
    {"monitoring", "Metrics collection and readiness"},
};

const size_t config__nsections = sizeof(config__sections) / sizeof(config__sections[0]);

long config__key_find(const char *name, const struct config_alias **alias_out)
{
    if (alias_out)
        *alias_out = NULL;
    for (size_t i = 0; i < config__nkeys; i++)
        if (strcmp(config__keys[i].name, name) == 0)
            return (long)i;
    if (!alias_out)
        return -1;
    for (size_t i = 0; i < config__nkeys; i++) {
        for (size_t a = 0; a < CONFIG_MAX_ALIASES && config__keys[i].aliases[a].name; a++) {
            if (strcmp(config__keys[i].aliases[a].name, name) == 0) {
                *alias_out = &config__keys[i].aliases[a];
                return (long)i;
            }
        }
    }
    return -1;
}

void config__env_name(const char *path, char *buf, size_t n)
{
    if (n == 0)
        return;
    size_t o = 0;
    const char *prefix = "ARC_";
    for (const char *p = prefix; *p && o + 1 < n; p++)
        buf[o++] = *p;
    for (const char *p = path; *p && o + 1 < n; p++)
        buf[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[o] = '\0';
}
