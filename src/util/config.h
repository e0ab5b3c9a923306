/*
 * util/config.h — Arc configuration (SPEC.md §10, §6.1).
 *
 * One static key table (config_keys.c) drives everything: defaults, the
 * TOML file, ARC_* environment variables, Arc Go-generation aliases, legacy
 * [Py] environment variables, command-line overrides (config_set), the dump
 * and the documented example file (arc.toml at the repository root).
 *
 * Precedence, highest first (SPEC §10.1, §10.4):
 *   1. config_set() after load (command-line flags)
 *   2. ARC_<PATH> environment variables (path upper-cased, '.' -> '_')
 *   3. ARC_ forms of Arc Go-generation aliases (ARC_LOG_LEVEL, ...)
 *   4. legacy environment variables (HOST, BUFFER_SIZE, ...; SPEC §10.3)
 *   5. the configuration file (own key names beat alias names in one file)
 *   6. built-in defaults
 * Every value from every source is checked (type, enum, range) when it is
 * applied, so an invalid value stops startup even if a higher source would
 * have replaced it; cross-key rules are checked once everything is applied.
 * Error messages name the key and where the value came from (file:line,
 * environment variable, --set) but never a secret value.
 *
 * Derived values, resolved after loading (and again after config_set):
 *   ingestion.buffer_hard_limit  0 -> 2 x ingestion.buffer_size
 *   server.io_threads            0 -> number of online CPUs
 *   duckdb.threads               0 -> number of online CPUs
 *   compaction.min_age_hours     < 1 -> 1, with a warning
 * and while applying Go aliases:
 *   ingest.max_buffer_age_ms     ms / 1000 rounded up -> ingestion.buffer_age_seconds
 *   server.max_payload_size      "1GB" style (or bytes) -> MiB, rounded up ->
 *                                server.max_request_size_mb
 *
 * Enumerations are stored as their canonical spelling (lower case, except
 * logging.level which is DEBUG|INFO|WARNING|ERROR); input is matched
 * case-insensitively.
 *
 * Threads: a config is built and adjusted (config_set) by the main thread at
 * startup, then only read; reads need no lock. Not thread-safe while being
 * modified.
 */
#ifndef UTIL_CONFIG_H
#define UTIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"
#include "util/strbuf.h"

/* A list of strings (owned by the config). */
struct config_list {
    char **items;
    size_t count;
};

struct config_server {
    char *host;
    int64_t port;
    int64_t io_threads;               /* request threads; 0 in input = CPU count */
    int64_t max_request_size_mb;      /* wire body limit, MiB */
    int64_t max_decompressed_size_mb; /* decoded body limit per request, MiB */
    int64_t max_inflight_body_mb;     /* decoded bytes of all requests, MiB */
    int64_t read_timeout_seconds;
    int64_t write_timeout_seconds;
    int64_t idle_timeout_seconds;
    int64_t shutdown_timeout_seconds;
    int64_t max_connections;         /* open connections (threads) [Ext] */
    int64_t max_concurrent_requests; /* 0 = limited by max_connections only [Ext] */
    bool tls_enabled;
    char *tls_cert_file;
    char *tls_key_file;
};

struct config_auth {
    bool enabled;
    char *bootstrap_token; /* secret; "" or >= 32 chars */
    bool force_bootstrap;
    struct config_list allowlist; /* public paths; a trailing '*' is a prefix */
    int64_t cache_ttl;            /* seconds */
    int64_t max_cache_size;       /* entries */
    char *db_path;
};

struct config_storage_local {
    char *base_path;
};

struct config_storage_s3 {
    char *bucket;
    char *region;
    char *endpoint;   /* "" = AWS */
    char *access_key; /* secret */
    char *secret_key; /* secret */
    bool use_ssl;
    bool path_style;
    char *prefix;
};

struct config_storage_minio {
    char *endpoint;
    char *access_key; /* secret */
    char *secret_key; /* secret */
    char *bucket;
    bool use_ssl;
};

struct config_storage_gcs {
    char *bucket;
    char *hmac_key_id; /* secret */
    char *hmac_secret; /* secret */
    char *project_id;
    char *credentials_file;
};

struct config_storage {
    char *backend;  /* "local" | "s3" | "minio" | "gcs" */
    char *database; /* default database */
    int64_t connect_timeout_seconds;
    int64_t request_timeout_seconds;
    int64_t low_speed_limit_bytes;  /* bytes per second ... */
    int64_t low_speed_time_seconds; /* ... for this long aborts a transfer */
    int64_t operation_timeout_seconds;
    int64_t max_retries;
    char *node_id;                    /* "" = derived from the host name (flush/writer.h) */
    int64_t refresh_interval_seconds; /* catalog listing refresh; 0 = off */
    char *cache_dir;                  /* read cache of remote data files */
    int64_t cache_max_mb;             /* read cache size cap, MiB */
    struct config_storage_local local;
    struct config_storage_s3 s3;
    struct config_storage_minio minio;
    struct config_storage_gcs gcs;
};

struct config_ingestion {
    int64_t buffer_size; /* rows per (database, measurement) */
    int64_t buffer_age_seconds;
    int64_t buffer_hard_limit; /* rows per key; 0 in input = 2 x buffer_size */
    int64_t max_total_buffer_mb;
    int64_t flush_timeout_seconds;
    int64_t flush_retry_limit; /* 0 = retry until success */
    char *compression;         /* snappy | zstd | gzip | lz4 | none */
    int64_t max_line_bytes;
    int64_t max_reported_errors;
    struct config_list sort_keys; /* "measurement:col1,col2" */
};

struct config_wal {
    bool enabled;
    char *dir;
    char *sync_mode; /* fsync | fdatasync | async */
    int64_t max_size_mb;
    int64_t max_age_seconds;
    int64_t queue_size; /* entries */
    int64_t async_sync_interval_ms;
    int64_t max_total_size_mb; /* 0 = unlimited */
    int64_t recovered_retention_hours;
    bool preallocate;              /* zero-filled spare segments (docs/wal.md) [Ext] */
    int64_t group_commit_delay_us; /* wait before a sync when CPU-bound (docs/wal.md) [Ext] */
};

struct config_compaction_daily {
    bool enabled;
    char *schedule; /* 5-field cron, UTC */
    int64_t min_age_hours;
    int64_t min_files;
    int64_t target_file_size_mb;
};

struct config_compaction {
    bool enabled;
    char *schedule;        /* 5-field cron, UTC */
    int64_t min_age_hours; /* >= 1 after load */
    int64_t min_files;
    int64_t target_file_size_mb;
    int64_t max_concurrent_jobs;
    int64_t max_files_per_batch;
    int64_t settle_seconds;
    int64_t lock_ttl_hours;
    char *temp_dir;
    char *compression; /* zstd | snappy | gzip | lz4 | none */
    int64_t compression_level;
    bool dedup;
    struct config_compaction_daily daily;
};

struct config_query {
    int64_t timeout_seconds; /* 0 = none */
    int64_t estimate_timeout_seconds;
    int64_t max_sql_length;          /* characters */
    int64_t slow_query_threshold_ms; /* 0 = off */
};

struct config_duckdb {
    int64_t pool_size;
    int64_t max_queue_size;
    int64_t acquire_timeout_seconds;
    char *memory_limit; /* "" = DuckDB default; e.g. "8GB", "50%" */
    int64_t threads;    /* 0 in input = CPU count */
    char *temp_directory;
    bool enable_object_cache;
};

struct config_query_cache {
    bool enabled;
    int64_t ttl_seconds;
    int64_t max_size; /* entries */
    int64_t max_result_mb;
    int64_t max_total_mb;
};

struct config_delete {
    bool enabled;
    int64_t confirmation_threshold; /* rows */
    int64_t max_rows_per_delete;
    bool audit_enabled;
};

struct config_retention {
    bool enabled;
    char *schedule; /* "" = no automatic runs */
};

struct config_continuous_queries {
    bool enabled;
    int64_t max_concurrent;
    int64_t timeout; /* seconds */
    bool scheduler_enabled;
};

struct config_logging {
    char *level;  /* DEBUG | INFO | WARNING | ERROR */
    char *format; /* structured | text */
    bool include_trace;
    int64_t buffer_entries;
};

struct config_cors {
    struct config_list origins; /* empty = no CORS; "*" = any */
};

struct config_monitoring {
    int64_t collection_interval_seconds;
    int64_t retention_minutes;
    int64_t failure_warn_threshold;
    int64_t failure_unhealthy_threshold;
    bool ready_requires_storage;
    int64_t storage_probe_interval_seconds;
};

struct config_priv;

/* The whole configuration. Fields mirror the keys ("storage.s3.bucket" is
 * cfg->storage.s3.bucket). Read freely; change only through config_set. */
struct config {
    struct config_server server;
    struct config_auth auth;
    struct config_storage storage;
    struct config_ingestion ingestion;
    struct config_wal wal;
    struct config_compaction compaction;
    struct config_query query;
    struct config_duckdb duckdb;
    struct config_query_cache query_cache;
    struct config_delete delete;
    struct config_retention retention;
    struct config_continuous_queries continuous_queries;
    struct config_logging logging;
    struct config_cors cors;
    struct config_monitoring monitoring;
    struct config_priv *priv; /* private: value origins, file path */
};

/* Where a key's current value came from, lowest precedence first. */
enum config_source {
    CONFIG_SRC_DEFAULT = 0,
    CONFIG_SRC_FILE_ALIAS, /* file, under an alias name */
    CONFIG_SRC_FILE,
    CONFIG_SRC_ENV_LEGACY,
    CONFIG_SRC_ENV_ALIAS,
    CONFIG_SRC_ENV,
    CONFIG_SRC_SET,
};

/* --- loading ------------------------------------------------------------- */

/* Builds the configuration from defaults, the file and the process
 * environment (environ), validates it and resolves derived values.
 * explicit_path is the --config argument or NULL; see config_load_env.
 * On success *out is owned by the caller (config_free). On failure returns
 * RC_INVALID (bad value), RC_PARSE (file syntax) or RC_IO (file missing or
 * unreadable) with the message in eb, and *out is NULL. */
int config_load(struct config **out, const char *explicit_path, struct errbuf *eb) MUST_CHECK;

/* Same as config_load with an explicit environment: envp is a NULL-terminated
 * array of "NAME=value" strings (NULL = empty environment). File lookup:
 * explicit_path, else ARC_CONFIG_FILE from envp, else the first existing of
 * ./arc.toml, ./arc.conf, /etc/arc/arc.toml; none -> defaults only. An
 * explicit path or ARC_CONFIG_FILE naming a missing file is an error. */
int config_load_env(struct config **out, const char *explicit_path, char *const *envp,
                    struct errbuf *eb) MUST_CHECK;

/* A configuration holding only the built-in defaults (derived values
 * resolved). For tests and tools. Never fails. */
struct config *config_new(void);

/* Frees the configuration and sets *cfg to NULL. Accepts NULL. */
void config_free(struct config **cfg);

/* --- changing and checking ------------------------------------------------ */

/* Sets key ("section.key" or an alias name) from text, as a command-line
 * flag does, with the highest precedence. The text is parsed as in
 * environment variables (booleans true/false/1/0/yes/no/on/off, lists comma
 * separated). The key's checks and all cross-key checks run, and derived
 * values are resolved again (e.g. an automatic buffer_hard_limit follows a
 * new buffer_size). On error returns RC_INVALID and cfg is unchanged. */
int config_set(struct config *cfg, const char *key, const char *value,
               struct errbuf *eb) MUST_CHECK;

/* Checks every value and the cross-key rules (backend credentials, TLS
 * files, buffer_hard_limit >= buffer_size, ...). RC_OK or RC_INVALID with a
 * message naming the key and the origin of its value. */
int config_validate(const struct config *cfg, struct errbuf *eb) MUST_CHECK;

/* --- inspection ----------------------------------------------------------- */

/* Path of the file that was loaded, or NULL if none. Owned by cfg. */
const char *config_source_path(const struct config *cfg);

/* Source of key's current value; false if key is not a key name. */
bool config_key_source(const struct config *cfg, const char *key, enum config_source *out);

/* The key table: count and the dotted name of key i (table order, grouped by
 * section). */
size_t config_key_count(void);
const char *config_key_name(size_t i);

/* Appends the effective configuration as TOML (every key, table order) to
 * out. With redact_secrets, non-empty secrets (tokens, secret/access keys)
 * are written as "<redacted>". Without it the output loads back into the
 * same configuration. Returns the strbuf's code (RC_LIMIT if capped). */
int config_dump_toml(const struct config *cfg, struct strbuf *out, bool redact_secrets) MUST_CHECK;

/* Appends the documented example file (every key commented with its meaning
 * and default, values set to the defaults): the generator of arc.toml. */
int config_write_example(struct strbuf *out) MUST_CHECK;

#endif
