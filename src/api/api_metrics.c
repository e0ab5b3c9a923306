/*
 * api/api_metrics.c — monitoring endpoints (SPEC §9.4-§9.7, §11 R5), the
 * access log hook, and the collector's lifetime (see api_metrics.h).
 *
 * Owns: the collector instance (g_collector) and api_query_engine_global.
 * Reads: the metric registry, the collector's status and samples, the log
 * ring (util/log.h), /proc/self for /memory. None of the handlers touch
 * storage, DuckDB or the WAL; the query-pool numbers are in-memory counters
 * behind the pool's own short lock.
 *
 * Threads: handlers on HTTP worker threads; api_access_log on the I/O thread
 * that completes the request (must not block); app_stats on the collector
 * thread; start/stop/free on the main thread.
 */
#include "api/api_metrics.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "api/app.h"
#include "metrics/collector.h"
#include "metrics/metrics.h"
#include "query/query.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct query_engine *api_query_engine_global;

/* Set by api_metrics_start, cleared by api_metrics_free; read by handlers. */
static _Atomic(struct collector *) g_collector;

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define ACCESS_SLOW_MS 1000.0

/* --- lifecycle ---------------------------------------------------------- */

/* Collector callback: numbers owned by other modules. */
static int app_stats(void *ctx, struct collector_app_stats *out, struct errbuf *eb)
{
    (void)eb;
    struct app *app = ctx;
    struct query_engine *qe = api_query_engine_global;
    if (qe) {
        struct query_pool_stats ps;
        query_pool_stats(qe, &ps);
        out->query_engine_ok = true;
        out->active_queries = ps.in_use;
        out->query_pool_size = ps.pool_size;
        out->query_pool_idle = ps.idle;
        out->query_pool_waiting = ps.waiting;
    }
    out->active_requests = app->http ? http_server_inflight(app->http) : 0;
    return RC_OK;
}

int api_metrics_start(struct app *app, struct errbuf *eb)
{
    metrics_declare_spec_families();
    const struct config *cfg = app->cfg;
    const struct config_monitoring *m = &cfg->monitoring;
    struct collector_options o = {
        .interval_ms = m->collection_interval_seconds * 1000,
        .retention_minutes = m->retention_minutes,
        .failure_warn_threshold = m->failure_warn_threshold,
        .failure_unhealthy_threshold = m->failure_unhealthy_threshold,
        .data_dir =
            strcmp(cfg->storage.backend, "local") == 0 ? cfg->storage.local.base_path : NULL,
        .app_fn = app_stats,
        .app_ctx = app,
    };
    struct collector *c = NULL;
    int rc = collector_new(&o, &c, eb);
    if (rc != RC_OK)
        return rc;
    if ((rc = collector_start(c, eb)) != RC_OK) {
        collector_free(&c);
        return rc;
    }
    atomic_store(&g_collector, c);
    return RC_OK;
}

void api_metrics_stop(void)
{
    collector_stop(atomic_load(&g_collector));
}

void api_metrics_free(void)
{
    struct collector *c = atomic_exchange(&g_collector, NULL);
    collector_free(&c);
}

const char *api_metrics_collector_state(void)
{
    return collector_component_state(atomic_load(&g_collector));
}

/* --- access log --------------------------------------------------------- */

void api_access_log(void *app, struct http_request *req, int status, double seconds)
{
    (void)app;
    double ms = seconds * 1000.0;
    enum log_level lvl = status >= 400 || ms >= ACCESS_SLOW_MS ? LOG_INFO : LOG_DEBUG;
    if ((int)lvl < log_min_level)
        return;
    const char *principal = http_req_principal(req);
    const char *ip = http_req_client_ip(req);
    const char *rid = http_req_id(req);
    /* The query string is never logged; a token in the URL (`p=`, SPEC
     * §5.2) is only acknowledged, redacted. */
    bool url_token = http_req_query(req, "p") != NULL;
    log_at(lvl, "access",
           "%s %.512s%s status=%d duration_ms=%.2f request_id=%s principal=%s client_ip=%s%s",
           http_req_method(req), http_req_path(req), url_token ? "?p=[REDACTED]" : "", status, ms,
           rid && *rid ? rid : "-", principal && *principal ? principal : "-", ip && *ip ? ip : "-",
           ms >= ACCESS_SLOW_MS ? " slow=true" : "");
}

/* --- helpers ------------------------------------------------------------ */

/* Offset of a media type in the Accept header, -1 if absent. */
static long accept_pos(const char *accept, const char *type)
{
    const char *p = accept ? strcasestr(accept, type) : NULL;
    return p ? (long)(p - accept) : -1;
}

/* Which of JSON / Prometheus text the Accept header lists first: 'j', 't'
 * or 0 when it names neither. */
static char accept_pref(struct http_request *req)
{
    const char *accept = http_req_header(req, "Accept");
    long j = accept_pos(accept, "application/json");
    long t = accept_pos(accept, "text/plain");
    if (j >= 0 && (t < 0 || j < t))
        return 'j';
    if (t >= 0)
        return 't';
    return 0;
}

/* Strict decimal integer (optional sign, digits only). */
static bool parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || isspace((unsigned char)*s))
        return false;
    *out = v;
    return true;
}

/* Query parameter as an integer in [lo, hi], else dflt (SPEC §9.7
 * "out-of-range values fall back to defaults"). */
static int64_t param_or_default(struct http_request *req, const char *name, int64_t lo, int64_t hi,
                                int64_t dflt)
{
    int64_t v;
    if (!parse_i64(http_req_query(req, name), &v) || v < lo || v > hi)
        return dflt;
    return v;
}

static void write_value(struct jsonw *w, enum collector_field_kind k, double v)
{
    if (k == COLLECTOR_F_BOOL)
        jsonw_bool(w, v != 0);
    else if (k == COLLECTOR_F_INT && isfinite(v))
        jsonw_i64(w, (int64_t)v);
    else
        jsonw_f64(w, v);
}

static double sample_val(const struct collector_sample *s, enum collector_type t, const char *name)
{
    int i = collector_field_index(t, name);
    return i >= 0 ? s->v[i] : 0;
}

/* Writes the fields of t from s as "name": value, leaving out those whose
 * name starts with one of the prefixes in skip (NULL-terminated). With
 * only_prefix, only fields starting with it are written, without it in the
 * key ("process_threads" -> "threads"). */
static void write_fields(struct jsonw *w, enum collector_type t, const struct collector_sample *s,
                         const char *const *skip, const char *only_prefix)
{
    size_t n;
    const struct collector_field *f = collector_fields(t, &n);
    size_t plen = only_prefix ? strlen(only_prefix) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = f[i].name;
        if (only_prefix) {
            if (strncmp(key, only_prefix, plen))
                continue;
            key += plen;
        }
        bool skipped = false;
        for (size_t k = 0; skip && skip[k] && !skipped; k++)
            skipped = !strncmp(f[i].name, skip[k], strlen(skip[k]));
        if (skipped)
            continue;
        jsonw_key(w, key);
        write_value(w, f[i].kind, s->v[i]);
    }
}

static void send_prometheus(struct http_request *req)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    if (metrics_render_prometheus(&sb) != RC_OK) {
        strbuf_cleanup(&sb);
        http_respond_error(req, 500, "Internal error: rendering metrics failed");
        return;
    }
    http_respond(req, 200, PROM_CONTENT_TYPE, sb.data ? sb.data : "", sb.len);
    strbuf_cleanup(&sb);
}

static void write_collection_status(struct jsonw *w, struct collector *c, const struct config *cfg)
{
    struct collector_status st;
    memset(&st, 0, sizeof(st));
    if (c)
        collector_get_status(c, &st);
    jsonw_key(w, "collection_status");
    jsonw_obj_begin(w);
    jsonw_kv_bool(w, "running", st.running);
    jsonw_kv_bool(w, "healthy", st.healthy);
    jsonw_kv_u64(w, "samples_collected", st.samples_collected);
    jsonw_kv_i64(w, "retention_minutes", cfg->monitoring.retention_minutes);
    jsonw_kv_u64(w, "consecutive_failures", st.consecutive_failures);
    jsonw_kv_u64(w, "total_failures", st.total_failures);
    if (st.last_error_us) {
        jsonw_kv_str(w, "last_error", st.last_error);
        jsonw_key(w, "last_error_time");
        jsonw_time_us(w, st.last_error_us);
    } else {
        jsonw_kv_null(w, "last_error");
        jsonw_kv_null(w, "last_error_time");
    }
    jsonw_kv_i64(w, "collection_interval_seconds", cfg->monitoring.collection_interval_seconds);
    jsonw_kv_i64(w, "failure_warn_threshold", cfg->monitoring.failure_warn_threshold);
    jsonw_kv_i64(w, "failure_unhealthy_threshold", cfg->monitoring.failure_unhealthy_threshold);
    jsonw_obj_end(w);
}

/* The §9.5 JSON snapshot. */
static void send_snapshot(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct collector *c = atomic_load(&g_collector);
    struct collector_sample sys, appl, api;
    memset(&sys, 0, sizeof(sys));
    memset(&appl, 0, sizeof(appl));
    memset(&api, 0, sizeof(api));
    if (c) {
        (void)collector_latest(c, COLLECTOR_SYSTEM, &sys);
        (void)collector_latest(c, COLLECTOR_APPLICATION, &appl);
        (void)collector_latest(c, COLLECTOR_API, &api);
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, time_now_us());
    jsonw_key(&w, "uptime_seconds");
    jsonw_f64_fixed(&w, api_uptime_seconds(app), 1);

    jsonw_key(&w, "system");
    jsonw_obj_begin(&w);
    static const char *const sys_skip[] = {"load_average_", "process_", NULL};
    write_fields(&w, COLLECTOR_SYSTEM, &sys, sys_skip, NULL);
    jsonw_key(&w, "load_average");
    jsonw_arr_begin(&w);
    jsonw_f64(&w, sample_val(&sys, COLLECTOR_SYSTEM, "load_average_1m"));
    jsonw_f64(&w, sample_val(&sys, COLLECTOR_SYSTEM, "load_average_5m"));
    jsonw_f64(&w, sample_val(&sys, COLLECTOR_SYSTEM, "load_average_15m"));
    jsonw_arr_end(&w);
    jsonw_obj_end(&w);

    jsonw_key(&w, "process");
    jsonw_obj_begin(&w);
    write_fields(&w, COLLECTOR_SYSTEM, &sys, NULL, "process_");
    jsonw_obj_end(&w);

    jsonw_key(&w, "application");
    jsonw_obj_begin(&w);
    write_fields(&w, COLLECTOR_APPLICATION, &appl, NULL, NULL);
    jsonw_obj_end(&w);

    /* Rates from the last sample; totals and in-flight requests live. */
    jsonw_key(&w, "api");
    jsonw_obj_begin(&w);
    static const char *const api_skip[] = {"active_requests", "total_requests",
                                           "successful_requests", "failed_requests", NULL};
    write_fields(&w, COLLECTOR_API, &api, api_skip, NULL);
    jsonw_kv_u64(&w, "active_requests", app->http ? http_server_inflight(app->http) : 0);
    jsonw_kv_u64(&w, "total_requests", (uint64_t)metrics_family_total("arc_http_requests_total"));
    jsonw_kv_u64(&w, "successful_requests",
                 (uint64_t)metrics_family_total("arc_http_requests_success_total"));
    jsonw_kv_u64(&w, "failed_requests",
                 (uint64_t)metrics_family_total("arc_http_requests_error_total"));
    jsonw_obj_end(&w);

    write_collection_status(&w, c, app->cfg);

    /* [Go] flat keys: one per family, without "arc_". uptime_seconds is
     * already above (same value). */
    static const char *const flat_skip[] = {"uptime_seconds",    "timestamp",   "system",
                                            "process",           "application", "api",
                                            "collection_status", NULL};
    metrics_write_json(&w, "arc_", flat_skip);
    api_json_send(req, 200, &sb, &w);
}

/* --- handlers ----------------------------------------------------------- */

void api_metrics_text(struct http_request *req)
{
    if (accept_pref(req) == 'j')
        send_snapshot(req);
    else
        send_prometheus(req);
}

void api_metrics_json(struct http_request *req)
{
    const char *fmt = http_req_query(req, "format");
    if (fmt && !strcasecmp(fmt, "prometheus"))
        send_prometheus(req);
    else if (fmt && !strcasecmp(fmt, "json"))
        send_snapshot(req);
    else if (accept_pref(req) == 't')
        send_prometheus(req);
    else
        send_snapshot(req);
}

void api_metrics_timeseries(struct http_request *req)
{
    struct strbuf sb;
    struct jsonw w;
    int t = collector_type_parse(http_req_param(req, "type"));
    if (t < 0) {
        api_json_begin(&sb, &w);
        jsonw_kv_bool(&w, "success", false);
        jsonw_kv_str(&w, "error", "Invalid metric type");
        jsonw_kv_str(&w, "detail", "Invalid metric type");
        jsonw_key(&w, "valid_types");
        jsonw_arr_begin(&w);
        for (int i = 0; i < COLLECTOR_NTYPES; i++)
            jsonw_str(&w, collector_type_name((enum collector_type)i));
        jsonw_arr_end(&w);
        api_json_send(req, 400, &sb, &w);
        return;
    }
    int64_t minutes = 30;
    const char *dq = http_req_query(req, "duration_minutes");
    if (dq && (!parse_i64(dq, &minutes) || minutes < 1 || minutes > 1440)) {
        http_respond_error(req, 400, "duration_minutes must be an integer between 1 and 1440");
        return;
    }
    struct collector *c = atomic_load(&g_collector);
    struct collector_sample *s = NULL;
    size_t n = c ? collector_samples(c, (enum collector_type)t,
                                     time_now_us() - minutes * 60 * US_PER_SEC, &s)
                 : 0;
    const char *name = collector_type_name((enum collector_type)t);
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "metric_type", name);
    jsonw_kv_str(&w, "type", name);
    jsonw_kv_i64(&w, "duration_minutes", minutes);
    jsonw_kv_u64(&w, "points_count", n);
    jsonw_key(&w, "data");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(&w);
        jsonw_key(&w, "timestamp");
        jsonw_time_us(&w, s[i].ts_us);
        jsonw_key(&w, "values");
        jsonw_obj_begin(&w);
        write_fields(&w, (enum collector_type)t, &s[i], NULL, NULL);
        jsonw_obj_end(&w);
        write_fields(&w, (enum collector_type)t, &s[i], NULL, NULL);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    xfree(s);
    api_json_send(req, 200, &sb, &w);
}

/* endpoint_stats: "METHOD route" -> requests, summed over status classes. */
struct ep_stat {
    char key[300];
    double count;
};

struct ep_acc {
    struct ep_stat *v;
    size_t n, cap;
};

/* metrics_foreach callback (registry lock held: no registry calls here). */
static void ep_collect(void *ctx, const char *name, const char *labels, enum metric_kind kind,
                       double value)
{
    (void)kind;
    struct ep_acc *a = ctx;
    if (strcmp(name, "arc_http_route_requests_total") || value <= 0)
        return;
    char method[16], route[256], key[300];
    if (!metrics_label_value(labels, "method", method, sizeof(method)) ||
        !metrics_label_value(labels, "route", route, sizeof(route)))
        return;
    snprintf(key, sizeof(key), "%s %s", method, route);
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].key, key)) {
            a->v[i].count += value;
            return;
        }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    snprintf(a->v[a->n].key, sizeof(a->v[a->n].key), "%s", key);
    a->v[a->n].count = value;
    a->n++;
}

struct section_key {
    const char *key;
    const char *family;
};

static void write_section(struct jsonw *w, const char *name, const struct section_key *keys,
                          size_t n)
{
    jsonw_key(w, name);
    jsonw_obj_begin(w);
    for (size_t i = 0; i < n; i++) {
        jsonw_key(w, keys[i].key);
        jsonw_f64(w, metrics_family_total(keys[i].family));
    }
    jsonw_obj_end(w);
}

#define SECTION(w, name, arr) write_section((w), (name), (arr), sizeof(arr) / sizeof((arr)[0]))

static const struct section_key ingestion_keys[] = {
    {"records_total", "arc_ingest_records_total"},
    {"bytes_total", "arc_ingest_bytes_total"},
    {"batches_total", "arc_ingest_batches_total"},
    {"errors_total", "arc_ingest_errors_total"},
    {"lines_rejected_total", "arc_ingest_lines_rejected_total"},
    {"records_dropped_total", "arc_ingest_records_dropped_total"},
    {"lineprotocol_requests_total", "arc_lineprotocol_requests_total"},
    {"lineprotocol_records_total", "arc_lineprotocol_records_total"},
    {"msgpack_requests_total", "arc_msgpack_requests_total"},
    {"msgpack_records_total", "arc_msgpack_records_total"},
    {"body_rejected_total", "arc_request_body_rejected_total"},
};
static const struct section_key query_keys[] = {
    {"requests_total", "arc_query_requests_total"},
    {"success_total", "arc_query_success_total"},
    {"errors_total", "arc_query_errors_total"},
    {"timeouts_total", "arc_query_timeouts_total"},
    {"rows_total", "arc_query_rows_total"},
    {"connections_open", "arc_db_connections_open"},
    {"connections_in_use", "arc_db_connections_in_use"},
    {"pool_wait_timeouts_total", "arc_db_pool_wait_timeouts_total"},
    {"connection_replacements_total", "arc_db_connection_replacements_total"},
    {"connection_replacement_failures_total", "arc_db_connection_replacement_failures_total"},
};
static const struct section_key buffer_keys[] = {
    {"records_buffered", "arc_buffer_records_buffered"},
    {"bytes_buffered", "arc_buffer_bytes"},
    {"records_written_total", "arc_buffer_records_written_total"},
    {"flushes_total", "arc_buffer_flushes_total"},
    {"flush_failures_total", "arc_buffer_flush_failures_total"},
    {"backpressure_rejections_total", "arc_buffer_backpressure_rejections_total"},
};
static const struct section_key storage_keys[] = {
    {"writes_total", "arc_storage_writes_total"},
    {"write_bytes_total", "arc_storage_write_bytes_total"},
    {"reads_total", "arc_storage_reads_total"},
    {"errors_total", "arc_storage_errors_total"},
    {"timeouts_total", "arc_storage_timeouts_total"},
};
static const struct section_key compaction_keys[] = {
    {"jobs_total", "arc_compaction_jobs_total"},
    {"jobs_success_total", "arc_compaction_jobs_success_total"},
    {"jobs_failed_total", "arc_compaction_jobs_failed_total"},
};
static const struct section_key wal_keys[] = {
    {"entries_total", "arc_wal_entries_total"},
    {"bytes_total", "arc_wal_bytes_total"},
    {"syncs_total", "arc_wal_syncs_total"},
    {"failed_writes_total", "arc_wal_failed_writes_total"},
    {"queue_depth", "arc_wal_queue_depth"},
    {"recovery_records_total", "arc_wal_recovery_records_total"},
};
static const struct section_key auth_keys[] = {
    {"requests_total", "arc_auth_requests_total"},
    {"failures_total", "arc_auth_failures_total"},
    {"cache_hits_total", "arc_auth_cache_hits_total"},
    {"cache_misses_total", "arc_auth_cache_misses_total"},
};

void api_metrics_endpoints(struct http_request *req)
{
    struct ep_acc acc = {NULL, 0, 0};
    metrics_foreach(ep_collect, &acc);
    uint64_t lc = 0;
    double ls = 0;
    (void)metrics_histogram_totals("arc_http_latency_seconds", &lc, &ls);

    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, time_now_us());
    jsonw_key(&w, "endpoint_stats");
    jsonw_obj_begin(&w);
    for (size_t i = 0; i < acc.n; i++) {
        jsonw_key(&w, acc.v[i].key);
        jsonw_f64(&w, acc.v[i].count);
    }
    jsonw_obj_end(&w);
    xfree(acc.v);

    jsonw_key(&w, "http");
    jsonw_obj_begin(&w);
    jsonw_kv_f64(&w, "requests_total", metrics_family_total("arc_http_requests_total"));
    jsonw_kv_f64(&w, "requests_success", metrics_family_total("arc_http_requests_success_total"));
    jsonw_kv_f64(&w, "requests_error", metrics_family_total("arc_http_requests_error_total"));
    jsonw_key(&w, "latency_avg_ms");
    jsonw_f64_fixed(&w, lc ? ls * 1000.0 / (double)lc : 0.0, 3);
    jsonw_obj_end(&w);
    SECTION(&w, "ingestion", ingestion_keys);
    SECTION(&w, "query", query_keys);
    SECTION(&w, "buffer", buffer_keys);
    SECTION(&w, "storage", storage_keys);
    SECTION(&w, "compaction", compaction_keys);
    SECTION(&w, "wal", wal_keys);
    SECTION(&w, "auth", auth_keys);
    api_json_send(req, 200, &sb, &w);
}

void api_metrics_query_pool(struct http_request *req)
{
    struct query_pool_stats ps;
    memset(&ps, 0, sizeof(ps));
    struct query_engine *qe = api_query_engine_global;
    if (qe)
        query_pool_stats(qe, &ps);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, time_now_us());
    jsonw_key(&w, "pool");
    jsonw_obj_begin(&w);
    jsonw_kv_u64(&w, "pool_size", ps.pool_size);
    jsonw_kv_u64(&w, "idle", ps.idle);
    jsonw_kv_u64(&w, "in_use", ps.in_use);
    jsonw_kv_u64(&w, "replacing", ps.replacing);
    jsonw_kv_u64(&w, "empty", ps.empty);
    jsonw_kv_u64(&w, "waiting", ps.waiting);
    jsonw_kv_u64(&w, "max_queue_size", ps.max_queue_size);
    jsonw_kv_u64(&w, "acquire_timeouts_total", ps.acquire_timeouts_total);
    jsonw_kv_u64(&w, "replacements_total", ps.replacements_total);
    jsonw_kv_u64(&w, "replacement_failures_total", ps.replacement_failures_total);
    jsonw_kv_u64(&w, "queries_total", ps.queries_total);
    jsonw_kv_u64(&w, "query_errors_total", ps.query_errors_total);
    jsonw_kv_u64(&w, "connections_open", (uint64_t)ps.idle + ps.in_use);
    jsonw_kv_u64(&w, "connections_in_use", ps.in_use);
    jsonw_kv_u64(&w, "connections_idle", ps.idle);
    jsonw_obj_end(&w);
    /* query.h has no per-connection accessor yet: the list stays empty. */
    jsonw_key(&w, "connections");
    jsonw_arr_begin(&w);
    jsonw_arr_end(&w);
    api_json_send(req, 200, &sb, &w);
}

void api_metrics_memory(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct collector_process pr;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (collector_read_process(NULL, &pr, &eb) != RC_OK) {
        log_warn("metrics", "memory endpoint: %s", eb.msg);
        http_respond_error(req, 500, "Cannot read process memory");
        return;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, time_now_us());
    jsonw_key(&w, "memory");
    jsonw_obj_begin(&w);
    jsonw_kv_u64(&w, "rss_bytes", pr.rss_bytes);
    jsonw_kv_u64(&w, "peak_rss_bytes", pr.peak_rss_bytes);
    jsonw_kv_u64(&w, "virtual_bytes", pr.virtual_bytes);
    jsonw_kv_u64(&w, "duckdb_memory_bytes",
                 (uint64_t)metrics_family_total("arc_duckdb_memory_bytes"));
    jsonw_kv_u64(&w, "write_buffer_bytes", (uint64_t)metrics_family_total("arc_buffer_bytes"));
    jsonw_kv_u64(&w, "query_cache_bytes", (uint64_t)metrics_family_total("arc_query_cache_bytes"));
    jsonw_kv_u64(&w, "allocated_bytes", mem_allocated_bytes());
    jsonw_obj_end(&w);
    jsonw_key(&w, "runtime");
    jsonw_obj_begin(&w);
    jsonw_kv_u64(&w, "threads", pr.threads);
    jsonw_kv_i64(&w, "num_cpu", ncpu > 0 ? ncpu : 1);
    jsonw_key(&w, "uptime_secs");
    jsonw_f64_fixed(&w, api_uptime_seconds(app), 1);
    jsonw_kv_str(&w, "version", ARC_VERSION);
    jsonw_obj_end(&w);
    api_json_send(req, 200, &sb, &w);
}

void api_metrics_health(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct collector *c = atomic_load(&g_collector);
    struct collector_status st;
    memset(&st, 0, sizeof(st));
    st.warn_threshold = app->cfg->monitoring.failure_warn_threshold;
    st.unhealthy_threshold = app->cfg->monitoring.failure_unhealthy_threshold;
    if (c)
        collector_get_status(c, &st);
    int64_t now = time_now_us();
    char warn_msg[128] = "";
    if (st.warn_threshold > 0 && st.consecutive_failures >= (uint64_t)st.warn_threshold)
        snprintf(warn_msg, sizeof(warn_msg), "metrics collection failed %llu times in a row",
                 (unsigned long long)st.consecutive_failures);

    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "healthy", st.healthy);
    jsonw_kv_bool(&w, "collection_running", st.running);
    jsonw_kv_u64(&w, "consecutive_failures", st.consecutive_failures);
    jsonw_kv_u64(&w, "consecutive_errors", st.consecutive_failures);
    jsonw_kv_u64(&w, "total_failures", st.total_failures);
    if (st.last_error_us) {
        jsonw_kv_str(&w, "last_error", st.last_error);
        jsonw_key(&w, "last_error_time");
        jsonw_time_us(&w, st.last_error_us);
        jsonw_key(&w, "time_since_last_error_seconds");
        jsonw_f64_fixed(&w, (double)(now - st.last_error_us) / 1e6, 1);
    } else {
        jsonw_kv_null(&w, "last_error");
        jsonw_kv_null(&w, "last_error_time");
        jsonw_kv_null(&w, "time_since_last_error_seconds");
    }
    jsonw_kv_u64(&w, "samples_collected", st.samples_collected);
    jsonw_key(&w, "warnings");
    jsonw_arr_begin(&w);
    if (!st.running)
        jsonw_str(&w, "metrics collector is not running");
    if (warn_msg[0])
        jsonw_str(&w, warn_msg);
    jsonw_arr_end(&w);
    if (!st.healthy) {
        /* Error envelope fields (SPEC §0.3) next to the R5.4 ones. */
        const char *msg =
            st.running ? "metrics collection unhealthy" : "metrics collector is not running";
        jsonw_kv_bool(&w, "success", false);
        jsonw_kv_str(&w, "error", msg);
        jsonw_kv_str(&w, "detail", msg);
        char ra[24];
        int64_t iv = app->cfg->monitoring.collection_interval_seconds;
        snprintf(ra, sizeof(ra), "%lld", (long long)(iv > 0 ? iv : 1));
        http_add_header(req, "Retry-After", ra);
    }
    api_json_send(req, st.healthy ? 200 : 503, &sb, &w);
}

static const char *lower_level_name(enum log_level l)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    return (unsigned)l < 4 ? names[l] : "debug";
}

void api_logs(struct http_request *req)
{
    int64_t limit = param_or_default(req, "limit", 1, 1000, 100);
    int64_t since_min = param_or_default(req, "since_minutes", 1, 1440, 60);
    const char *lq = http_req_query(req, "level");
    int lvl = lq ? log_level_parse(lq) : -1;
    int64_t now = time_now_us();
    struct log_entry *e = xmalloc((size_t)limit * sizeof(*e));
    size_t n = log_recent(e, (size_t)limit, lvl >= 0 ? (enum log_level)lvl : LOG_DEBUG,
                          now - since_min * 60 * US_PER_SEC);

    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, now);
    jsonw_kv_u64(&w, "count", n);
    jsonw_kv_i64(&w, "limit", limit);
    if (lvl >= 0)
        jsonw_kv_str(&w, "level_filter", lower_level_name((enum log_level)lvl));
    else
        jsonw_kv_null(&w, "level_filter");
    jsonw_kv_i64(&w, "since_minutes", since_min);
    jsonw_key(&w, "filters");
    jsonw_obj_begin(&w);
    jsonw_kv_i64(&w, "limit", limit);
    if (lvl >= 0)
        jsonw_kv_str(&w, "level", lower_level_name((enum log_level)lvl));
    else
        jsonw_kv_null(&w, "level");
    jsonw_kv_i64(&w, "since_minutes", since_min);
    jsonw_obj_end(&w);
    jsonw_key(&w, "logs");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(&w);
        jsonw_key(&w, "timestamp");
        jsonw_time_us(&w, e[i].ts_us);
        jsonw_kv_str(&w, "level", log_level_name(e[i].level));
        jsonw_kv_str(&w, "component", e[i].component);
        jsonw_kv_str(&w, "message", e[i].message);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    xfree(e);
    api_json_send(req, 200, &sb, &w);
}
