/*
 * Integration tests of monitoring (SPEC §9.4-§9.7, §11 R5) against the real
 * `arc` binary:
 *
 *  - /metrics: content type, every §9.4 family present, and
 *    `promtool check metrics` on the body (skipped with a message when
 *    promtool — Debian package `prometheus` — is not installed);
 *    Accept: application/json gives the JSON snapshot.
 *  - /api/v1/metrics: the nested [Py] objects, flat [Go] counter keys, no
 *    duplicate keys; ?format=prometheus and Accept: text/plain give text.
 *  - timeseries validation (400 + valid_types, duration_minutes range),
 *    endpoints, query-pool, memory, metrics health.
 *  - /api/v1/logs: shape, parameter fallbacks, newest first; open with auth
 *    off, admin-only with auth on.
 *  - access log: one line per request, `p=` redacted.
 *  - T5.1: metrics_collect_fail for 12 cycles at a 1 s interval (WARN once
 *    at 3, 503 from 10, recovery to 200 with total_failures == 12), and the
 *    run-time switch through ARC_TEST_FAULTS_FILE.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/json.h"

#define BOOT "itest-bootstrap-token-0123456789abcdefghijklmn"

static struct arc_proc srv;

/* Every family SPEC §9.4 requires. */
static const char *const spec_families[] = {
    "arc_uptime_seconds",
    "arc_memory_rss_bytes",
    "arc_threads",
    "arc_http_requests_total",
    "arc_http_requests_success_total",
    "arc_http_requests_error_total",
    "arc_http_latency_seconds",
    "arc_ingest_records_total",
    "arc_ingest_bytes_total",
    "arc_ingest_batches_total",
    "arc_ingest_errors_total",
    "arc_ingest_lines_rejected_total",
    "arc_ingest_records_dropped_total",
    "arc_lineprotocol_requests_total",
    "arc_lineprotocol_records_total",
    "arc_msgpack_requests_total",
    "arc_msgpack_records_total",
    "arc_request_body_rejected_total",
    "arc_buffer_records_buffered",
    "arc_buffer_records_written_total",
    "arc_buffer_flushes_total",
    "arc_buffer_flush_failures_total",
    "arc_buffer_backpressure_rejections_total",
    "arc_storage_writes_total",
    "arc_storage_write_bytes_total",
    "arc_storage_reads_total",
    "arc_storage_errors_total",
    "arc_storage_timeouts_total",
    "arc_query_requests_total",
    "arc_query_success_total",
    "arc_query_errors_total",
    "arc_query_timeouts_total",
    "arc_query_rows_total",
    "arc_db_connections_open",
    "arc_db_connections_in_use",
    "arc_db_pool_wait_timeouts_total",
    "arc_db_connection_replacements_total",
    "arc_db_connection_replacement_failures_total",
    "arc_compaction_jobs_total",
    "arc_compaction_jobs_success_total",
    "arc_compaction_jobs_failed_total",
    "arc_wal_entries_total",
    "arc_wal_bytes_total",
    "arc_wal_syncs_total",
    "arc_wal_failed_writes_total",
    "arc_wal_queue_depth",
    "arc_wal_recovery_records_total",
    "arc_auth_requests_total",
    "arc_auth_failures_total",
    "arc_auth_cache_hits_total",
    "arc_auth_cache_misses_total",
    "arc_metrics_collection_failures_total",
    "arc_metrics_collection_consecutive_failures",
    NULL,
};

/* --- helpers ---------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct json_value *parse(const struct http_resp *r)
{
    struct json_value *doc = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (json_parse(r->body, r->len, &doc, &eb) != RC_OK) {
        print_error("invalid JSON (%s): %s\n", eb.msg, r->body);
        fail();
    }
    return doc;
}

/* Member by dotted path ("collection_status.running"). */
static const struct json_value *jget(const struct json_value *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
        v = json_obj_get(v, tok);
    return v;
}

static int64_t jint(const struct json_value *doc, const char *path)
{
    int64_t v;
    if (!json_as_i64(jget(doc, path), &v)) {
        print_error("%s is not an integer\n", path);
        fail();
    }
    return v;
}

static double jnum(const struct json_value *doc, const char *path)
{
    double v;
    if (!json_as_f64(jget(doc, path), &v)) {
        print_error("%s is not a number\n", path);
        fail();
    }
    return v;
}

static bool jbool(const struct json_value *doc, const char *path)
{
    bool v;
    if (!json_as_bool(jget(doc, path), &v)) {
        print_error("%s is not a boolean\n", path);
        fail();
    }
    return v;
}

static void assert_type(const struct json_value *doc, const char *path, enum json_type t)
{
    const struct json_value *v = jget(doc, path);
    if (!v || json_type(v) != t) {
        print_error("%s: expected %s, got %s\n", path, json_type_name(t),
                    v ? json_type_name(json_type(v)) : "(absent)");
        fail();
    }
}

/* No object in the document has a key twice. */
static void assert_unique_keys(const struct json_value *v)
{
    if (json_type(v) == JSON_ARRAY) {
        for (size_t i = 0; i < json_arr_len(v); i++)
            assert_unique_keys(json_arr_at(v, i));
        return;
    }
    if (json_type(v) != JSON_OBJECT)
        return;
    size_t n = json_obj_len(v);
    for (size_t i = 0; i < n; i++) {
        const char *ki = json_obj_key_at(v, i, NULL);
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(ki, json_obj_key_at(v, j, NULL))) {
                print_error("duplicate key \"%s\"\n", ki);
                fail();
            }
        assert_unique_keys(json_obj_val_at(v, i));
    }
}

/* Lines of the server log containing both needles (b may be NULL). */
static int log_count(const struct arc_proc *p, const char *a, const char *b)
{
    FILE *f = fopen(p->log_path, "r");
    if (!f)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
    fclose(f);
    return n;
}

static struct http_resp get_h(const struct arc_proc *p, const char *path, const char *hdr)
{
    const char *h[] = {hdr, NULL};
    return http_do(p, "GET", path, hdr ? h : NULL, NULL, 0);
}

static bool have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

/* --- /metrics ---------------------------------------------------------------------- */

static void test_prometheus_text(void **state)
{
    (void)state;
    /* Some traffic first, so histograms and route counters are non-zero. */
    struct http_resp r = http_get(&srv, "/health");
    http_resp_free(&r);
    r = http_get(&srv, "/metrics");
    assert_status(r, 200);
    char ct[128];
    assert_true(http_resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    for (size_t i = 0; spec_families[i]; i++) {
        char want[160];
        snprintf(want, sizeof(want), "\n# TYPE %s ", spec_families[i]);
        assert_body_contains(r, want);
    }
    assert_body_contains(r, "# TYPE arc_http_latency_seconds histogram\n");
    assert_body_contains(r, "arc_http_latency_seconds_bucket{le=\"+Inf\"} ");
    assert_body_contains(r, "arc_request_body_rejected_total{reason=\"decompressed_too_large\"} ");
    assert_body_contains(r, "arc_request_body_rejected_total{reason=\"bad_encoding\"} ");
    assert_body_contains(r, "arc_request_body_rejected_total{reason=\"too_large\"} ");
    assert_body_contains(r, "\narc_metrics_collection_failures_total 0\n");
    assert_body_contains(r, "\narc_metrics_collection_consecutive_failures 0\n");
    assert_true(strstr(r.body, "\narc_uptime_seconds 0\n") == NULL);

    if (!have_promtool()) {
        print_message("promtool not installed (Debian package `prometheus`): "
                      "skipping `promtool check metrics`\n");
        http_resp_free(&r);
        skip();
    }
    char path[400], cmd[1000];
    snprintf(path, sizeof(path), "%s/metrics.txt", srv.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(r.body, 1, r.len, f);
    fclose(f);
    http_resp_free(&r);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    int st = system(cmd);
    if (st != 0) {
        snprintf(cmd, sizeof(cmd), "cat '%s.out' >&2", path);
        if (system(cmd) != 0) {
        }
        print_error("promtool check metrics failed (status %d)\n", st);
        fail();
    }
}

static void test_metrics_accept_json(void **state)
{
    (void)state;
    struct http_resp r = get_h(&srv, "/metrics", "Accept: application/json");
    assert_status(r, 200);
    char ct[128];
    assert_true(http_resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "application/json");
    struct json_value *doc = parse(&r);
    assert_type(doc, "collection_status", JSON_OBJECT);
    assert_type(doc, "http_requests_total", JSON_NUMBER);
    json_free(&doc);
    http_resp_free(&r);
    /* text/plain listed first wins (Prometheus scrapers). */
    r = get_h(&srv, "/metrics", "Accept: text/plain;version=0.0.4;q=0.9, application/json;q=0.1");
    assert_status(r, 200);
    assert_body_contains(r, "# TYPE arc_threads gauge");
    http_resp_free(&r);
}

/* --- /api/v1/metrics ------------------------------------------------------------- */

static void test_api_metrics_shape(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/api/v1/metrics");
    assert_status(r, 200);
    struct json_value *doc = parse(&r);
    assert_unique_keys(doc);
    assert_type(doc, "timestamp", JSON_STRING);
    assert_true(jnum(doc, "uptime_seconds") > 0);
    static const char *const sys_keys[] = {"cpu_percent",        "memory_percent",
                                           "memory_used_mb",     "memory_available_mb",
                                           "disk_percent",       "disk_used_gb",
                                           "disk_free_gb",       "network_bytes_sent",
                                           "network_bytes_recv", NULL};
    for (size_t i = 0; sys_keys[i]; i++) {
        char k[64];
        snprintf(k, sizeof(k), "system.%s", sys_keys[i]);
        assert_type(doc, k, JSON_NUMBER);
    }
    assert_true(jnum(doc, "system.memory_percent") > 0); /* the first cycle ran at start */
    assert_int_equal(json_arr_len(jget(doc, "system.load_average")), 3);
    assert_type(doc, "application.query_engine_status", JSON_BOOL);
    assert_type(doc, "application.buffered_records", JSON_NUMBER);
    assert_type(doc, "application.active_queries", JSON_NUMBER);
    static const char *const api_keys[] = {
        "requests_per_minute", "avg_response_time_ms", "error_rate_percent", "active_requests",
        "total_requests",      "successful_requests",  "failed_requests",    NULL};
    for (size_t i = 0; api_keys[i]; i++) {
        char k[64];
        snprintf(k, sizeof(k), "api.%s", api_keys[i]);
        assert_type(doc, k, JSON_NUMBER);
    }
    assert_true(jint(doc, "api.total_requests") >= 1);
    assert_true(jint(doc, "api.active_requests") >= 1); /* this request */
    assert_true(jbool(doc, "collection_status.running"));
    assert_true(jbool(doc, "collection_status.healthy"));
    assert_true(jint(doc, "collection_status.samples_collected") >= 1);
    assert_int_equal(jint(doc, "collection_status.retention_minutes"), 30);
    assert_int_equal(jint(doc, "collection_status.consecutive_failures"), 0);
    assert_int_equal(jint(doc, "collection_status.total_failures"), 0);
    /* [Go] flat keys without the arc_ prefix, one per §9.4 family. */
    for (size_t i = 0; spec_families[i]; i++) {
        const char *k = spec_families[i] + 4;
        if (!strcmp(k, "http_latency_seconds"))
            k = "http_latency_seconds_count";
        assert_type(doc, k, JSON_NUMBER);
    }
    assert_true(jint(doc, "http_requests_total") >= 1);
    assert_int_equal(jint(doc, "metrics_collection_failures_total"), 0);
    assert_null(json_obj_get(doc, "arc_http_requests_total"));
    json_free(&doc);
    http_resp_free(&r);

    r = http_get(&srv, "/api/v1/metrics?format=prometheus");
    assert_status(r, 200);
    assert_body_contains(r, "# TYPE arc_http_requests_total counter\n");
    http_resp_free(&r);
    r = get_h(&srv, "/api/v1/metrics", "Accept: text/plain");
    assert_status(r, 200);
    char ct[128];
    assert_true(http_resp_header(&r, "Content-Type", ct, sizeof(ct)));
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    http_resp_free(&r);
    r = get_h(&srv, "/api/v1/metrics?format=json", "Accept: text/plain");
    assert_status(r, 200);
    assert_body_contains(r, "\"collection_status\":{");
    http_resp_free(&r);
}

static void test_timeseries(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/api/v1/metrics/timeseries/disk");
    assert_status(r, 400);
    struct json_value *doc = parse(&r);
    assert_string_equal(json_as_str(jget(doc, "error"), NULL), "Invalid metric type");
    const struct json_value *vt = jget(doc, "valid_types");
    assert_int_equal(json_arr_len(vt), 3);
    assert_string_equal(json_as_str(json_arr_at(vt, 0), NULL), "system");
    assert_string_equal(json_as_str(json_arr_at(vt, 1), NULL), "application");
    assert_string_equal(json_as_str(json_arr_at(vt, 2), NULL), "api");
    assert_false(jbool(doc, "success"));
    json_free(&doc);
    http_resp_free(&r);

    static const char *const bad[] = {"0", "1441", "-5", "abc", "10x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/metrics/timeseries/system?duration_minutes=%s",
                 bad[i]);
        r = http_get(&srv, path);
        assert_status(r, 400);
        assert_body_contains(r, "duration_minutes");
        http_resp_free(&r);
    }

    static const char *const types[] = {"system", "application", "api"};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/metrics/timeseries/%s?duration_minutes=1440",
                 types[i]);
        r = http_get(&srv, path);
        assert_status(r, 200);
        doc = parse(&r);
        assert_unique_keys(doc);
        assert_string_equal(json_as_str(jget(doc, "metric_type"), NULL), types[i]);
        assert_string_equal(json_as_str(jget(doc, "type"), NULL), types[i]);
        assert_int_equal(jint(doc, "duration_minutes"), 1440);
        int64_t k = jint(doc, "points_count");
        assert_true(k >= 1);
        const struct json_value *data = jget(doc, "data");
        assert_int_equal((int64_t)json_arr_len(data), k);
        const struct json_value *p0 = json_arr_at(data, 0);
        assert_type(p0, "timestamp", JSON_STRING);
        assert_type(p0, "values", JSON_OBJECT);
        /* values flattened next to them too */
        const char *key0 = json_obj_key_at(jget(p0, "values"), 0, NULL);
        assert_non_null(json_obj_get(p0, key0));
        json_free(&doc);
        http_resp_free(&r);
    }
    r = http_get(&srv, "/api/v1/metrics/timeseries/api");
    assert_status(r, 200);
    doc = parse(&r);
    assert_int_equal(jint(doc, "duration_minutes"), 30);
    assert_type(json_arr_at(jget(doc, "data"), 0), "values.requests_per_minute", JSON_NUMBER);
    json_free(&doc);
    http_resp_free(&r);
}

static void test_endpoints_pool_memory_health(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/ping");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/metrics/endpoints");
    assert_status(r, 200);
    struct json_value *doc = parse(&r);
    assert_unique_keys(doc);
    assert_type(doc, "timestamp", JSON_STRING);
    assert_true(jnum(doc, "endpoint_stats.GET /ping") >= 1);
    assert_true(jnum(doc, "http.requests_total") >= 1);
    assert_type(doc, "http.requests_success", JSON_NUMBER);
    assert_type(doc, "http.requests_error", JSON_NUMBER);
    assert_type(doc, "http.latency_avg_ms", JSON_NUMBER);
    static const char *const sections[] = {"ingestion",  "query", "buffer", "storage",
                                           "compaction", "auth",  NULL};
    for (size_t i = 0; sections[i]; i++)
        assert_type(doc, sections[i], JSON_OBJECT);
    json_free(&doc);
    http_resp_free(&r);

    r = http_get(&srv, "/api/v1/metrics/query-pool");
    assert_status(r, 200);
    doc = parse(&r);
    static const char *const pool_keys[] = {"pool_size",
                                            "idle",
                                            "in_use",
                                            "replacing",
                                            "empty",
                                            "waiting",
                                            "max_queue_size",
                                            "acquire_timeouts_total",
                                            "replacements_total",
                                            "replacement_failures_total",
                                            "queries_total",
                                            "query_errors_total",
                                            "connections_open",
                                            "connections_in_use",
                                            "connections_idle",
                                            NULL};
    for (size_t i = 0; pool_keys[i]; i++) {
        char k[64];
        snprintf(k, sizeof(k), "pool.%s", pool_keys[i]);
        assert_type(doc, k, JSON_NUMBER);
    }
    assert_type(doc, "connections", JSON_ARRAY);
    json_free(&doc);
    http_resp_free(&r);

    r = http_get(&srv, "/api/v1/metrics/memory");
    assert_status(r, 200);
    doc = parse(&r);
    assert_true(jint(doc, "memory.rss_bytes") > 1000000);
    assert_true(jint(doc, "memory.peak_rss_bytes") >= jint(doc, "memory.rss_bytes") / 2);
    assert_true(jint(doc, "memory.virtual_bytes") >= jint(doc, "memory.rss_bytes"));
    assert_type(doc, "memory.duckdb_memory_bytes", JSON_NUMBER);
    assert_type(doc, "memory.write_buffer_bytes", JSON_NUMBER);
    assert_type(doc, "memory.query_cache_bytes", JSON_NUMBER);
    assert_true(jint(doc, "runtime.threads") >= 2);
    assert_true(jint(doc, "runtime.num_cpu") >= 1);
    assert_type(doc, "runtime.uptime_secs", JSON_NUMBER);
    assert_type(doc, "runtime.version", JSON_STRING);
    json_free(&doc);
    http_resp_free(&r);

    r = http_get(&srv, "/api/v1/metrics/health");
    assert_status(r, 200);
    doc = parse(&r);
    assert_true(jbool(doc, "healthy"));
    assert_true(jbool(doc, "collection_running"));
    assert_int_equal(jint(doc, "consecutive_failures"), 0);
    assert_int_equal(jint(doc, "consecutive_errors"), 0);
    assert_int_equal(jint(doc, "total_failures"), 0);
    assert_true(json_is_null(jget(doc, "last_error")));
    assert_true(json_is_null(jget(doc, "last_error_time")));
    assert_true(json_is_null(jget(doc, "time_since_last_error_seconds")));
    assert_true(jint(doc, "samples_collected") >= 1);
    assert_int_equal(json_arr_len(jget(doc, "warnings")), 0);
    assert_null(jget(doc, "success"));
    json_free(&doc);
    http_resp_free(&r);

    r = http_get(&srv, "/health");
    assert_status(r, 200);
    assert_body_contains(r, "\"metrics_collector\":\"ok\"");
    http_resp_free(&r);
}

/* --- /api/v1/logs ------------------------------------------------------------------ */

static void test_logs_open_without_auth(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/api/v1/logs");
    assert_status(r, 200);
    struct json_value *doc = parse(&r);
    assert_type(doc, "timestamp", JSON_STRING);
    assert_int_equal(jint(doc, "limit"), 100);
    assert_int_equal(jint(doc, "since_minutes"), 60);
    assert_true(json_is_null(jget(doc, "level_filter")));
    assert_int_equal(jint(doc, "filters.limit"), 100);
    assert_true(json_is_null(jget(doc, "filters.level")));
    assert_int_equal(jint(doc, "filters.since_minutes"), 60);
    const struct json_value *logs = jget(doc, "logs");
    int64_t count = jint(doc, "count");
    assert_int_equal((int64_t)json_arr_len(logs), count);
    assert_true(count >= 2);
    /* Newest first. */
    for (size_t i = 1; i < json_arr_len(logs); i++) {
        const char *a = json_as_str(jget(json_arr_at(logs, i - 1), "timestamp"), NULL);
        const char *b = json_as_str(jget(json_arr_at(logs, i), "timestamp"), NULL);
        assert_non_null(a);
        assert_non_null(b);
        /* RFC 3339 with trimmed fractions: compare the second prefix. */
        assert_true(strncmp(a, b, 19) >= 0);
    }
    const struct json_value *e0 = json_arr_at(logs, 0);
    assert_type(e0, "level", JSON_STRING);
    assert_type(e0, "component", JSON_STRING);
    assert_type(e0, "message", JSON_STRING);
    json_free(&doc);
    http_resp_free(&r);

    /* Filters; out-of-range values fall back to the defaults. */
    r = http_get(&srv, "/api/v1/logs?limit=5&level=WARNING&since_minutes=99999");
    assert_status(r, 200);
    doc = parse(&r);
    assert_int_equal(jint(doc, "limit"), 5);
    assert_string_equal(json_as_str(jget(doc, "level_filter"), NULL), "warn");
    assert_string_equal(json_as_str(jget(doc, "filters.level"), NULL), "warn");
    assert_int_equal(jint(doc, "since_minutes"), 60);
    logs = jget(doc, "logs");
    assert_true(json_arr_len(logs) >= 1); /* "authentication is disabled" */
    assert_true(json_arr_len(logs) <= 5);
    for (size_t i = 0; i < json_arr_len(logs); i++) {
        const char *lv = json_as_str(jget(json_arr_at(logs, i), "level"), NULL);
        assert_true(!strcmp(lv, "WARN") || !strcmp(lv, "ERROR"));
    }
    json_free(&doc);
    http_resp_free(&r);

    r = http_get(&srv, "/api/v1/logs?limit=0&level=loud&since_minutes=abc");
    assert_status(r, 200);
    doc = parse(&r);
    assert_int_equal(jint(doc, "limit"), 100);
    assert_true(json_is_null(jget(doc, "level_filter")));
    assert_int_equal(jint(doc, "since_minutes"), 60);
    json_free(&doc);
    http_resp_free(&r);

    r = http_get(&srv, "/api/v1/logs?limit=1&level=error");
    assert_status(r, 200);
    doc = parse(&r);
    assert_int_equal(jint(doc, "limit"), 1);
    assert_string_equal(json_as_str(jget(doc, "level_filter"), NULL), "error");
    assert_true(json_arr_len(jget(doc, "logs")) <= 1);
    json_free(&doc);
    http_resp_free(&r);
}

static void test_access_log_redacts_token(void **state)
{
    (void)state;
    struct http_resp r =
        http_get(&srv, "/api/v1/metrics/timeseries/bogus?p=sup3r-secret-url-token&u=me");
    assert_status(r, 400);
    char rid[160];
    assert_true(http_resp_header(&r, "X-Request-ID", rid, sizeof(rid)));
    http_resp_free(&r);
    /* The hook runs after the response: give it a moment. */
    int64_t deadline = mono_ms() + 3000;
    while (log_count(&srv, "timeseries/bogus", NULL) == 0 && mono_ms() < deadline)
        usleep(20 * 1000);
    assert_int_equal(
        log_count(&srv, "GET /api/v1/metrics/timeseries/bogus?p=[REDACTED] status=400", rid), 1);
    assert_int_equal(log_count(&srv, "\"component\":\"access\"", "timeseries/bogus"), 1);
    assert_int_equal(log_count(&srv, "sup3r-secret-url-token", NULL), 0);
    assert_int_equal(log_count(&srv, "client_ip=127.0.0.1", "timeseries/bogus"), 1);
}

/* --- auth on -------------------------------------------------------------------------- */

static void test_logs_admin_only_with_auth(void **state)
{
    (void)state;
    struct arc_proc p;
    const char *const env[] = {"ARC_AUTH_ENABLED=true", "ARC_AUTH_BOOTSTRAP_TOKEN=" BOOT, NULL};
    arc_start(&p, env);
    struct http_resp r = http_get(&p, "/api/v1/logs");
    assert_status(r, 401);
    http_resp_free(&r);
    r = http_get(&p, "/api/v1/logs?p=" BOOT); /* [Go] URL token works, and is redacted */
    long st_url = r.status;
    http_resp_free(&r);
    r = get_h(&p, "/api/v1/logs", "Authorization: Bearer " BOOT);
    assert_status(r, 200);
    assert_body_contains(r, "\"logs\":[");
    http_resp_free(&r);

    /* A read token is not enough. */
    const char *h[] = {"Authorization: Bearer " BOOT, "Content-Type: application/json", NULL};
    const char *body = "{\"name\":\"mon-reader\",\"permissions\":[\"read\"]}";
    r = http_do(&p, "POST", "/api/v1/auth/tokens", h, body, strlen(body));
    assert_status(r, 201);
    const char *t = strstr(r.body, "\"token\":\"");
    assert_non_null(t);
    char hdr[200];
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %.43s", t + 9);
    http_resp_free(&r);
    r = get_h(&p, "/api/v1/logs", hdr);
    assert_status(r, 403);
    assert_body_contains(r, "Permission denied: admin required");
    http_resp_free(&r);
    /* A request it may make: the access log names the token, never its value. */
    r = get_h(&p, "/api/v1/write/stats", hdr);
    assert_status(r, 200);
    http_resp_free(&r);

    /* The metrics endpoints stay public (default allowlist). */
    static const char *const pub[] = {"/metrics",
                                      "/api/v1/metrics",
                                      "/api/v1/metrics/health",
                                      "/api/v1/metrics/timeseries/system",
                                      "/api/v1/metrics/memory",
                                      NULL};
    for (size_t i = 0; pub[i]; i++) {
        r = http_get(&p, pub[i]);
        assert_status(r, 200);
        http_resp_free(&r);
    }
    arc_stop(&p, 15000);
    if (st_url == 200)
        assert_int_equal(log_count(&p, "GET /api/v1/logs?p=[REDACTED] status=200", NULL), 1);
    assert_int_equal(log_count(&p, "\"component\":\"access\"", BOOT), 0);
    assert_int_equal(log_count(&p, "GET /api/v1/write/stats status=200", "principal=mon-reader"),
                     1);
    assert_int_equal(log_count(&p, "\"component\":\"access\"", hdr + 22), 0);
    arc_cleanup(&p);
}

/* --- T5.1 -------------------------------------------------------------------------- */

/* Polls /api/v1/metrics/health until consecutive_failures >= n; returns it. */
static int64_t wait_consecutive(const struct arc_proc *p, int64_t n, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        struct http_resp r = http_get(p, "/api/v1/metrics/health");
        struct json_value *doc = parse(&r);
        int64_t c = jint(doc, "consecutive_failures");
        json_free(&doc);
        http_resp_free(&r);
        if (c >= n)
            return c;
        if (mono_ms() > deadline) {
            print_error("consecutive_failures stayed at %lld (want %lld)\n", (long long)c,
                        (long long)n);
            fail();
        }
        usleep(50 * 1000);
    }
}

/* Polls until /api/v1/metrics/health is 200 with consecutive_failures == 0
 * (200 alone is not enough: health stays 200 below the unhealthy threshold). */
static void wait_recovered(const struct arc_proc *p, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (;;) {
        struct http_resp r = http_get(p, "/api/v1/metrics/health");
        long st = r.status;
        struct json_value *doc = parse(&r);
        int64_t c = jint(doc, "consecutive_failures");
        json_free(&doc);
        http_resp_free(&r);
        if (st == 200 && c == 0)
            return;
        if (mono_ms() > deadline) {
            print_error("metrics health still %ld, consecutive_failures=%lld\n", st, (long long)c);
            fail();
        }
        usleep(50 * 1000);
    }
}

static void other_endpoints_work(const struct arc_proc *p)
{
    struct http_resp r = http_get(p, "/health");
    assert_status(r, 200);
    assert_body_contains(r, "\"metrics_collector\":\"degraded\"");
    http_resp_free(&r);
    r = http_get(p, "/ready");
    assert_status(r, 200);
    http_resp_free(&r);
    r = http_get(p, "/metrics");
    assert_status(r, 200);
    http_resp_free(&r);
    r = http_get(p, "/api/v1/metrics");
    assert_status(r, 200);
    http_resp_free(&r);
    r = http_post(p, "/api/v1/write?db=mon", "cpu,host=a value=1 1700000000000000000", NULL);
    assert_status(r, 204);
    http_resp_free(&r);
}

static void test_t51_fault_streak(void **state)
{
    (void)state;
    struct arc_proc p;
    const char *const env[] = {"ARC_TEST_FAULTS=metrics_collect_fail=12",
                               "ARC_MONITORING_COLLECTION_INTERVAL_SECONDS=1", NULL};
    arc_start(&p, env);

    int64_t c = wait_consecutive(&p, 3, 15000);
    assert_true(c < 6); /* polled every 50 ms at a 1 s interval */
    assert_int_equal(log_count(&p, "\"level\":\"WARN\"", "metrics collection failed"), 1);
    assert_int_equal(
        log_count(&p, "\"level\":\"WARN\"", "metrics collection failed 3 times in a row"), 1);
    other_endpoints_work(&p);

    c = wait_consecutive(&p, 10, 15000);
    struct http_resp r = http_get(&p, "/api/v1/metrics/health");
    if (r.status == 200) { /* the fault ended between two polls (c was 12) */
        print_error("missed the unhealthy window\n");
        fail();
    }
    assert_status(r, 503);
    char ra[32];
    assert_true(http_resp_header(&r, "Retry-After", ra, sizeof(ra)));
    struct json_value *doc = parse(&r);
    assert_false(jbool(doc, "healthy"));
    assert_true(jbool(doc, "collection_running"));
    assert_true(jint(doc, "consecutive_failures") >= 10);
    assert_int_equal(jint(doc, "consecutive_errors"), jint(doc, "consecutive_failures"));
    assert_true(jint(doc, "total_failures") >= 10);
    assert_string_equal(json_as_str(jget(doc, "last_error"), NULL),
                        "fault injection: metrics_collect_fail");
    assert_type(doc, "last_error_time", JSON_STRING);
    assert_true(jnum(doc, "time_since_last_error_seconds") >= 0);
    assert_type(doc, "samples_collected", JSON_NUMBER);
    const char *w0 = json_as_str(json_arr_at(jget(doc, "warnings"), 0), NULL);
    assert_non_null(w0);
    assert_non_null(strstr(w0, "metrics collection failed"));
    json_free(&doc);
    http_resp_free(&r);
    assert_int_equal(log_count(&p, "\"level\":\"ERROR\"", "metrics collection unhealthy"), 1);

    r = http_get(&p, "/api/v1/metrics");
    assert_status(r, 200);
    doc = parse(&r);
    assert_true(jint(doc, "collection_status.consecutive_failures") >= 10);
    assert_false(jbool(doc, "collection_status.healthy"));
    assert_true(jint(doc, "metrics_collection_failures_total") >= 10);
    json_free(&doc);
    http_resp_free(&r);
    r = http_get(&p, "/metrics");
    const char *m = strstr(r.body, "\narc_metrics_collection_consecutive_failures ");
    assert_non_null(m);
    assert_true(strtoll(strchr(m + 1, ' ') + 1, NULL, 10) >= 10);
    m = strstr(r.body, "\narc_metrics_collection_failures_total ");
    assert_non_null(m);
    assert_true(strtoll(strchr(m + 1, ' ') + 1, NULL, 10) >= 10);
    http_resp_free(&r);
    other_endpoints_work(&p);

    /* The fault ends after its 12th cycle: the next cycle recovers. */
    wait_recovered(&p, 10000);
    r = http_get(&p, "/api/v1/metrics/health");
    assert_status(r, 200);
    doc = parse(&r);
    assert_true(jbool(doc, "healthy"));
    assert_int_equal(jint(doc, "consecutive_failures"), 0);
    assert_int_equal(jint(doc, "total_failures"), 12);
    assert_int_equal(json_arr_len(jget(doc, "warnings")), 0);
    json_free(&doc);
    http_resp_free(&r);
    assert_int_equal(log_count(&p, "\"level\":\"INFO\"",
                               "metrics collection recovered after 12 consecutive failures"),
                     1);
    assert_int_equal(log_count(&p, "\"level\":\"WARN\"", "metrics collection failed"), 4);
    r = http_get(&p, "/health");
    assert_body_contains(r, "\"metrics_collector\":\"ok\"");
    http_resp_free(&r);
    arc_stop(&p, 15000);
    arc_cleanup(&p);
}

/* The run-time switch: ARC_TEST_FAULTS_FILE is re-read every cycle. */
static void test_fault_file_switch(void **state)
{
    (void)state;
    char dir[] = "/tmp/arc-itest-faults-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[200], envf[256];
    snprintf(path, sizeof(path), "%s/faults", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("metrics_collect_fail\n", f);
    fclose(f);
    snprintf(envf, sizeof(envf), "ARC_TEST_FAULTS_FILE=%s", path);
    const char *const env[] = {envf, "ARC_MONITORING_COLLECTION_INTERVAL_SECONDS=1", NULL};
    struct arc_proc p;
    arc_start(&p, env);
    wait_consecutive(&p, 2, 10000);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f); /* empty: fault off */
    wait_recovered(&p, 5000);
    struct http_resp r = http_get(&p, "/api/v1/metrics/health");
    struct json_value *doc = parse(&r);
    assert_int_equal(jint(doc, "consecutive_failures"), 0);
    int64_t total = jint(doc, "total_failures");
    assert_true(total >= 2);
    json_free(&doc);
    http_resp_free(&r);
    usleep(1500 * 1000); /* stays off */
    r = http_get(&p, "/api/v1/metrics/health");
    assert_status(r, 200);
    doc = parse(&r);
    assert_int_equal(jint(doc, "total_failures"), total);
    json_free(&doc);
    http_resp_free(&r);
    arc_stop(&p, 15000);
    arc_cleanup(&p);
    unlink(path);
    rmdir(dir);
}

/* --- main ------------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    const char *const env[] = {"ARC_MONITORING_COLLECTION_INTERVAL_SECONDS=1", NULL};
    arc_start(&srv, env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arc_stop(&srv, 15000);
    arc_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_text),
        cmocka_unit_test(test_metrics_accept_json),
        cmocka_unit_test(test_api_metrics_shape),
        cmocka_unit_test(test_timeseries),
        cmocka_unit_test(test_endpoints_pool_memory_health),
        cmocka_unit_test(test_logs_open_without_auth),
        cmocka_unit_test(test_access_log_redacts_token),
    };
    const struct CMUnitTest standalone[] = {
        cmocka_unit_test(test_logs_admin_only_with_auth),
        cmocka_unit_test(test_t51_fault_streak),
        cmocka_unit_test(test_fault_file_switch),
    };
    int failed = cmocka_run_group_tests_name("metrics", tests, setup, teardown);
    failed += cmocka_run_group_tests_name("metrics-standalone", standalone, NULL, NULL);
    return failed;
}
