/*
 * tests/unit/api/test_query_http.c — the query endpoints of api/api_query.c
 * over real HTTP: a server on 127.0.0.1 (ephemeral port) with only these
 * routes, the real query engine over a temporary data directory holding one
 * Parquet file, and libcurl as the client.
 *
 * Covers: JSON (buffered and streamed, gzip), CSV, Arrow, error bodies and
 * statuses, the result cache (hit, clear, query_cache_clear), the measurement
 * query parameters, measurement/database listings, database create/delete,
 * estimates and the cache endpoints.
 */
#include "test_helpers.h"

#include <curl/curl.h>
#include <duckdb.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "api/api_internal.h"
#include "api/api_query.h"
#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "query/qcache.h"
#include "query/query.h"
#include "storage/storage.h"
#include "util/config.h"
#include "util/mem.h"
#include "util/timeutil.h"

static struct app g_app;
static struct config *g_cfg;
static struct query_engine *g_qe;
static struct qcache *g_cache;
static char g_dir[64];
static char g_base[128];
static int g_port;

static const struct http_route routes[] = {
    {"POST", "/api/v1/query", api_query_sql, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL, NULL, NULL,
     HTTP_EXEC_WORKER},
    {"POST", "/api/v1/query/arrow", api_query_arrow, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL, NULL,
     NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/query/stream", api_query_stream_csv, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL,
     NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/query/estimate", api_query_estimate, HTTP_PERM_READ, HTTP_BODY_BUFFER, NULL,
     NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/query/{measurement}", api_query_measurement, HTTP_PERM_READ, HTTP_BODY_NONE,
     NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/query/{measurement}/csv", api_query_measurement_csv, HTTP_PERM_READ,
     HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/measurements", api_measurements_list, HTTP_PERM_READ, HTTP_BODY_NONE, NULL,
     NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/databases", api_databases_list, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL,
     NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/databases", api_database_create, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER, NULL,
     NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/databases/{name}", api_database_get, HTTP_PERM_READ, HTTP_BODY_NONE, NULL,
     NULL, NULL, HTTP_EXEC_WORKER},
    {"DELETE", "/api/v1/databases/{name}", api_database_delete, HTTP_PERM_ADMIN, HTTP_BODY_NONE,
     NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/databases/{name}/measurements", api_database_measurements, HTTP_PERM_READ,
     HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/cache/stats", api_cache_stats, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL,
     NULL, HTTP_EXEC_WORKER},
    {"GET", "/api/v1/cache/health", api_cache_health, HTTP_PERM_READ, HTTP_BODY_NONE, NULL, NULL,
     NULL, HTTP_EXEC_WORKER},
    {"POST", "/api/v1/cache/clear", api_cache_clear, HTTP_PERM_ADMIN, HTTP_BODY_NONE, NULL, NULL,
     NULL, HTTP_EXEC_WORKER},
};

/* Writes a Parquet file for (db, m) with `rows` rows starting at
 * 2025-01-15T14:00:00Z, one per second, and registers it. */
static void add_parquet(const char *db, const char *m, int rows, int file_no)
{
    char dir[512], path[768], key[512], sql[2048];
    snprintf(dir, sizeof(dir), "%s/%s/%s/2025/01/15/14", g_base, db, m);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(key, sizeof(key), "%s/%s/2025/01/15/14/%s_20250115_140000_%09d.parquet", db, m, m,
             file_no);
    snprintf(path, sizeof(path), "%s/%s", g_base, key);
    duckdb_database d;
    duckdb_connection c;
    assert_int_equal(duckdb_open(NULL, &d), DuckDBSuccess);
    assert_int_equal(duckdb_connect(d, &c), DuckDBSuccess);
    snprintf(sql, sizeof(sql),
             "COPY (SELECT to_timestamp(1736949600 + i) AS time, "
             "'server' || (i %% 3)::VARCHAR AS host, i * 1.5 AS usage, i::BIGINT AS n "
             "FROM range(0, %d) t(i) ORDER BY time) TO '%s' (FORMAT parquet)",
             rows, path);
    duckdb_result r;
    if (duckdb_query(c, sql, &r) != DuckDBSuccess)
        fail_msg("%s", duckdb_result_error(&r));
    duckdb_destroy_result(&r);
    duckdb_disconnect(&c);
    duckdb_close(&d);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    struct catalog_file_entry e = {.key = key,
                                   .db = db,
                                   .measurement = m,
                                   .min_time_us = 1736949600000000,
                                   .max_time_us = 1736949600000000 + (int64_t)(rows - 1) * 1000000,
                                   .row_count = rows,
                                   .bytes = (uint64_t)st.st_size,
                                   .tier = CATALOG_TIER_RAW};
    uint64_t id;
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(g_app.catalog, &e, 1, &id, &eb), RC_OK);
    catalog_files_publish(g_app.catalog, &id, 1);
    struct schema_checker sc = catalog_schema_checker(g_app.catalog);
    enum col_type ex;
    assert_int_equal(sc.check(sc.ctx, db, m, "host", 4, COL_STRING, &ex), RC_OK);
    assert_int_equal(sc.check(sc.ctx, db, m, "usage", 5, COL_DOUBLE, &ex), RC_OK);
    assert_int_equal(sc.check(sc.ctx, db, m, "n", 1, COL_INT64, &ex), RC_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/arc-qhttp-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_base, sizeof(g_base), "%s/data", g_dir);
    g_cfg = config_new();
    struct errbuf eb = {0};
    if (config_set(g_cfg, "storage.local.base_path", g_base, &eb) ||
        config_set(g_cfg, "delete.enabled", "true", &eb))
        return -1;
    memset(&g_app, 0, sizeof(g_app));
    g_app.cfg = g_cfg;
    g_app.start_mono_ns = time_mono_ns();
    char cpath[256];
    snprintf(cpath, sizeof(cpath), "%s/catalog.db", g_dir);
    if (storage_new_local(g_base, &g_app.storage, &eb) ||
        catalog_open(cpath, &g_app.catalog, &eb)) {
        fprintf(stderr, "setup: %s\n", eb.msg);
        return -1;
    }
    struct colbuf_limits lim = {.flush_rows = 1000,
                                .max_age_ms = 100000,
                                .hard_limit_rows = 2000,
                                .max_total_bytes = 1 << 20};
    if (colbuf_new(&lim, NULL, &g_app.colbuf, &eb))
        return -1;
    struct query_engine_options qo = {.data_root = g_base,
                                      .default_db = "default",
                                      .pool_size = 2,
                                      .max_queue_size = 10,
                                      .acquire_timeout_ms = 5000,
                                      .query_timeout_ms = 20000,
                                      .max_sql_length = 10000,
                                      .memory_limit = "",
                                      .threads = 1,
                                      .temp_directory = g_dir,
                                      .enable_object_cache = true};
    if (query_engine_new(&qo, g_app.catalog, g_app.colbuf, g_app.storage, &g_qe, &eb)) {
        fprintf(stderr, "engine: %s\n", eb.msg);
        return -1;
    }
    struct qcache_options co = {.enabled = true,
                                .ttl_ms = 60000,
                                .max_entries = 100,
                                .max_result_bytes = 10 << 20,
                                .max_total_bytes = 200 << 20};
    g_cache = qcache_new(&co);
    qcache_set_global(g_cache);
    api_query_engine_global = g_qe;
    api_query_cache_global = g_cache;
    add_parquet("default", "cpu", 100, 1);
    add_parquet("prod", "mem", 10, 2);
    struct http_options ho = {.host = "127.0.0.1",
                              .port = 0,
                              .max_body_bytes = 1 << 20,
                              .max_connections = 16,
                              .idle_timeout_s = 30,
                              .max_concurrent_requests = 0,
                              .cors_origins = ""};
    if (http_server_start(&ho, routes, sizeof(routes) / sizeof(routes[0]), NULL, &g_app,
                          &g_app.http, &eb)) {
        fprintf(stderr, "http: %s\n", eb.msg);
        return -1;
    }
    g_port = http_server_port(g_app.http);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    http_server_stop(&g_app.http);
    api_query_engine_global = NULL;
    api_query_cache_global = NULL;
    qcache_set_global(NULL);
    query_engine_free(&g_qe);
    qcache_free(&g_cache);
    colbuf_free(&g_app.colbuf);
    catalog_close(&g_app.catalog);
    storage_free(&g_app.storage);
    config_free(&g_cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_dir);
    curl_global_cleanup();
    return 0;
}

/* ---- client ------------------------------------------------------------- */

struct resp {
    long status;
    char *body; /* NUL-terminated, xfree */
    size_t len;
    char headers[4096];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct strbuf *sb = ud;
    return strbuf_append(sb, p, sz * n) == RC_OK ? sz * n : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t l = strlen(r->headers);
    snprintf(r->headers + l, sizeof(r->headers) - l, "%.*s", (int)(sz * n), p);
    return sz * n;
}

/* method: "GET", "POST", "DELETE". decode: let curl gunzip (and ask). */
static struct resp request(const char *method, const char *path, const char *body,
                           const char *extra_header, bool decode)
{
    struct resp r;
    memset(&r, 0, sizeof(r));
    struct strbuf sb;
    strbuf_init(&sb, 0);
    CURL *c = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *h = NULL;
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        h = curl_slist_append(h, "Content-Type: application/json");
    }
    if (extra_header)
        h = curl_slist_append(h, extra_header);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (decode)
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        r.status = -(long)cc;
    else
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.body = strbuf_detach(&sb, &r.len);
    return r;
}

static struct resp post_sql(const char *path, const char *sql_json)
{
    return request("POST", path, sql_json, NULL, false);
}

static bool has_header(const struct resp *r, const char *needle)
{
    return strcasestr(r->headers, needle) != NULL;
}

#define ASSERT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle)))                                                              \
            fail_msg("'%s' not in '%.2000s'", (needle), (hay));                                    \
    } while (0)

/* ---- tests ---------------------------------------------------------------- */

static void test_json_buffered(void **state)
{
    (void)state;
    struct resp r = post_sql(
        "/api/v1/query", "{\"sql\": \"SELECT time, host, usage FROM cpu ORDER BY time LIMIT 2\"}");
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "{\"success\":true,\"columns\":[\"time\",\"host\",\"usage\"],"
                            "\"data\":[[\"2025-01-15T14:00:00Z\",\"server0\",0],"
                            "[\"2025-01-15T14:00:01Z\",\"server1\",1.5]],\"row_count\":2,"
                            "\"execution_time_ms\":");
    ASSERT_CONTAINS(r.body, ",\"timestamp\":\"");
    assert_null(strstr(r.body, "\"cached\""));
    assert_true(has_header(&r, "X-Row-Count: 2\r\n"));
    assert_true(has_header(&r, "X-Execution-Time-Ms: "));
    assert_true(has_header(&r, "X-Wait-Time-Ms: "));
    assert_true(has_header(&r, "Content-Type: application/json"));
    xfree(r.body);

    /* Qualified name and the x-arc-database header. */
    r = request("POST", "/api/v1/query", "{\"sql\": \"SELECT count(*) AS c FROM mem\"}",
                "x-arc-database: prod", false);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"columns\":[\"c\"],\"data\":[[10]],\"row_count\":1");
    xfree(r.body);
    r = post_sql("/api/v1/query",
                 "{\"sql\": \"SELECT count(*) AS c FROM prod.mem\", \"limit\": 5}");
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"data\":[[10]]");
    xfree(r.body);
    /* A measurement without data: 200, no columns (SPEC §4.4). */
    r = post_sql("/api/v1/query", "{\"sql\": \"SELECT * FROM nothing_here\"}");
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "{\"success\":true,\"columns\":[],\"data\":[],\"row_count\":0,");
    xfree(r.body);
}

static void test_errors(void **state)
{
    (void)state;
    struct {
        const char *body, *hdr;
        long status;
        const char *msg;
    } cases[] = {
        {"not json", NULL, 400, "Invalid JSON body"},
        {"{\"sql\": \"  \"}", NULL, 400, "Missing or empty"},
        {"{\"query\": \"SELECT 1\"}", NULL, 400, "Missing or empty"},
        {"{\"sql\": \"SELECT 1\", \"format\": \"xml\"}", NULL, 400, "\\\"format\\\" must be"},
        {"{\"sql\": \"DROP TABLE cpu\"}", NULL, 400, "Only read-only queries are allowed"},
        {"{\"sql\": \"SELECT nope FROM cpu\"}", NULL, 400, "nope"},
        {"{\"sql\": \"SELECT 1\"}", "x-arc-database: bad name", 400, "Invalid database name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct resp r = request("POST", "/api/v1/query", cases[i].body, cases[i].hdr, false);
        if (r.status != cases[i].status)
            fail_msg("case %zu: status %ld body %s", i, r.status, r.body);
        ASSERT_CONTAINS(r.body, "{\"success\":false,\"error\":\"");
        ASSERT_CONTAINS(r.body, cases[i].msg);
        ASSERT_CONTAINS(r.body,
                        "\"columns\":[],\"data\":[],\"row_count\":0,\"execution_time_ms\":");
        xfree(r.body);
    }
}

/* 300 000 rows are several MB of JSON: streamed (no row-count header),
 * complete, and the second time served from the cache only if small. */
static void test_json_streamed_and_gzip(void **state)
{
    (void)state;
    const char *q =
        "{\"sql\": \"SELECT i, 'value-' || i::VARCHAR AS s FROM range(0, 300000) t(i)\"}";
    struct resp r = post_sql("/api/v1/query", q);
    assert_int_equal(r.status, 200);
    assert_false(has_header(&r, "X-Row-Count"));
    assert_true(has_header(&r, "Transfer-Encoding: chunked"));
    assert_true(r.len > 4 * 1000 * 1000);
    ASSERT_CONTAINS(r.body, "\"data\":[[0,\"value-0\"],[1,\"value-1\"],");
    ASSERT_CONTAINS(r.body,
                    ",[299999,\"value-299999\"]],\"row_count\":300000,\"execution_time_ms\":");
    assert_int_equal(r.body[r.len - 1], '}');
    size_t plain_len = r.len;
    xfree(r.body);

    /* Same query with gzip: curl inflates; the body is identical up to the
     * timing fields. */
    r = request("POST", "/api/v1/query", q, NULL, true);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Encoding: gzip"));
    ASSERT_CONTAINS(r.body, ",[299999,\"value-299999\"]],\"row_count\":300000,");
    assert_true(r.len + 64 > plain_len && r.len < plain_len + 64);
    xfree(r.body);

    /* A small buffered body gzipped too. */
    r = request("POST", "/api/v1/query",
                "{\"sql\": \"SELECT i FROM range(0, 2000) t(i)\", \"format\": \"json\"}", NULL,
                true);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Encoding: gzip"));
    assert_true(has_header(&r, "X-Row-Count: 2000"));
    ASSERT_CONTAINS(r.body, "[1998],[1999]],\"row_count\":2000");
    xfree(r.body);
}

static void test_csv(void **state)
{
    (void)state;
    struct resp r = post_sql("/api/v1/query/stream",
                             "{\"sql\": \"SELECT time, host, n FROM cpu ORDER BY time LIMIT 2\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "time,host,n\r\n2025-01-15T14:00:00Z,server0,0\r\n"
                                "2025-01-15T14:00:01Z,server1,1\r\n");
    assert_true(has_header(&r, "Content-Type: text/csv; charset=utf-8"));
    assert_true(has_header(&r, "Content-Disposition: attachment; filename=query_result.csv"));
    assert_true(has_header(&r, "X-Row-Count: 2"));
    xfree(r.body);
    r = post_sql("/api/v1/query", "{\"sql\": \"SELECT 'a,b' AS x\", \"format\": \"csv\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "x\r\n\"a,b\"\r\n");
    xfree(r.body);
    r = post_sql("/api/v1/query/stream", "{\"sql\": \"DELETE FROM cpu\"}");
    assert_int_equal(r.status, 400);
    ASSERT_CONTAINS(r.body, "\"success\":false");
    xfree(r.body);
}

static void test_arrow(void **state)
{
    (void)state;
    struct resp r = post_sql("/api/v1/query/arrow",
                             "{\"sql\": \"SELECT time, host FROM cpu ORDER BY time LIMIT 3\"}");
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: application/vnd.apache.arrow.stream"));
    assert_true(has_header(&r, "X-Row-Count: 3"));
    assert_true(r.len > 16);
    assert_memory_equal(r.body, "\xff\xff\xff\xff", 4);
    assert_memory_equal(r.body + r.len - 8, "\xff\xff\xff\xff\0\0\0\0", 8);
    xfree(r.body);
    /* Errors before the first byte are JSON. */
    r = post_sql("/api/v1/query/arrow", "{\"sql\": \"SELECT * FROM cpu WHERE\"}");
    assert_int_equal(r.status, 400);
    ASSERT_CONTAINS(r.body, "{\"success\":false,");
    xfree(r.body);
    /* Empty measurement: a schema-only stream. */
    r = post_sql("/api/v1/query/arrow", "{\"sql\": \"SELECT * FROM nothing_here\"}");
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body + r.len - 8, "\xff\xff\xff\xff\0\0\0\0", 8);
    xfree(r.body);
}

static void test_cache(void **state)
{
    (void)state;
    qcache_clear(g_cache);
    const char *q =
        "{\"sql\": \"SELECT host, count(*) AS c FROM cpu GROUP BY host ORDER BY host\"}";
    struct resp r1 = post_sql("/api/v1/query", q);
    assert_int_equal(r1.status, 200);
    assert_null(strstr(r1.body, "\"cached\""));
    struct resp r2 = post_sql("/api/v1/query", q);
    assert_int_equal(r2.status, 200);
    ASSERT_CONTAINS(r2.body, ",\"cached\":true,\"cache_age_seconds\":");
    assert_true(has_header(&r2, "X-Cache: HIT"));
    /* Same data part. */
    size_t n = (size_t)(strstr(r1.body, ",\"execution_time_ms\"") - r1.body);
    assert_memory_equal(r1.body, r2.body, n);
    xfree(r2.body);
    /* Another database header is another key. */
    r2 = request("POST", "/api/v1/query", q, "x-arc-database: default", false);
    ASSERT_CONTAINS(r2.body, "\"cached\":true"); /* default == the default database */
    xfree(r2.body);
    r2 = request("POST", "/api/v1/query", q, "x-arc-database: prod", false);
    assert_null(strstr(r2.body, "\"cached\""));
    xfree(r2.body);
    /* Any data change clears it. */
    assert_true(query_cache_clear() >= 1);
    r2 = post_sql("/api/v1/query", q);
    assert_null(strstr(r2.body, "\"cached\""));
    xfree(r2.body);
    xfree(r1.body);

    struct resp s = request("GET", "/api/v1/cache/stats", NULL, NULL, false);
    assert_int_equal(s.status, 200);
    ASSERT_CONTAINS(s.body, "{\"enabled\":true,\"ttl_seconds\":60,\"max_size\":100,"
                            "\"max_result_size_mb\":10,\"current_size\":");
    ASSERT_CONTAINS(s.body, "\"metrics\":{\"total_requests\":");
    ASSERT_CONTAINS(s.body, "\"entries\":[{\"key_hash\":\"");
    xfree(s.body);
    s = request("GET", "/api/v1/cache/health", NULL, NULL, false);
    assert_int_equal(s.status, 200);
    ASSERT_CONTAINS(s.body, "{\"healthy\":true,\"hit_rate_percent\":");
    xfree(s.body);
    s = request("POST", "/api/v1/cache/clear", NULL, NULL, false);
    assert_int_equal(s.status, 200);
    ASSERT_CONTAINS(s.body, "{\"message\":\"cleared 1 cached results\",\"cleared\":1}");
    xfree(s.body);
}

static void test_measurement_query(void **state)
{
    (void)state;
    struct resp r = request("GET",
                            "/api/v1/query/cpu?columns=time,host,n&start_time=2025-01-15T14:00:10Z"
                            "&end_time=2025-01-15T14:00:20Z&where=host%20%3D%20%27server1%27"
                            "&order_by=n%20ASC&limit=2&offset=1",
                            NULL, NULL, false);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"columns\":[\"time\",\"host\",\"n\"],\"data\":["
                            "[\"2025-01-15T14:00:13Z\",\"server1\",13],"
                            "[\"2025-01-15T14:00:16Z\",\"server1\",16]],\"row_count\":2");
    xfree(r.body);
    /* Default order is time DESC, limit 100. */
    r = request("GET", "/api/v1/query/cpu?columns=n&limit=1", NULL, NULL, false);
    ASSERT_CONTAINS(r.body, "\"data\":[[99]],\"row_count\":1");
    xfree(r.body);
    r = request("GET", "/api/v1/query/mem/csv?database=prod&columns=n&order_by=n&limit=2", NULL,
                NULL, false);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "n\r\n0\r\n1\r\n");
    assert_true(has_header(&r, "filename=mem.csv"));
    xfree(r.body);
    const char *bad[] = {
        "/api/v1/query/cpu?columns=nope",
        "/api/v1/query/cpu?columns=host%22%3B",
        "/api/v1/query/cpu?where=1%3D1%3B%20DROP%20TABLE%20x",
        "/api/v1/query/cpu?where=nope%20%3D%201",
        "/api/v1/query/cpu?start_time=yesterday",
        "/api/v1/query/cpu?limit=1000001",
        "/api/v1/query/cpu?limit=-1",
        "/api/v1/query/cpu?offset=x",
        "/api/v1/query/cpu?order_by=host%20sideways",
        "/api/v1/query/cpu?database=..%2Fetc",
        "/api/v1/query/cpu-%3B",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = request("GET", bad[i], NULL, NULL, false);
        if (r.status != 400)
            fail_msg("%s: status %ld %s", bad[i], r.status, r.body);
        ASSERT_CONTAINS(r.body, "\"success\":false");
        xfree(r.body);
    }
}

static void test_measurement_sql_builder(void **state)
{
    (void)state;
    const char *known[] = {"host", "usage", "we\"ird"};
    struct api_measurement_query q = {.database = "db1",
                                      .measurement = "cpu-1",
                                      .columns = " time , \"we\"\"ird\" ,host",
                                      .start_time = "2025-01-15T14:00:00+01:00",
                                      .where = "host = 'a''b' OR usage > 5",
                                      .order_by = "host DESC, time",
                                      .limit = "0"};
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct errbuf eb = {0};
    assert_int_equal(api_query_build_measurement_sql(&q, known, 3, &sb, &eb), RC_OK);
    assert_string_equal(
        sb.data, "SELECT \"time\", \"we\"\"ird\", \"host\" FROM \"db1\".\"cpu-1\" WHERE "
                 "\"time\" >= TIMESTAMPTZ '2025-01-15T13:00:00Z' AND ((\"host\" = 'a''b') OR "
                 "(\"usage\" > 5)) ORDER BY \"host\" DESC, \"time\" ASC LIMIT 0 OFFSET 0");
    strbuf_reset(&sb);
    struct api_measurement_query q2 = {.database = "db1", .measurement = "m"};
    assert_int_equal(api_query_build_measurement_sql(&q2, NULL, 0, &sb, &eb), RC_OK);
    assert_string_equal(sb.data,
                        "SELECT * FROM \"db1\".\"m\" ORDER BY \"time\" DESC LIMIT 100 OFFSET 0");
    strbuf_cleanup(&sb);

    assert_true(api_query_accepts_gzip("gzip"));
    assert_true(api_query_accepts_gzip("deflate, gzip;q=0.5"));
    assert_true(api_query_accepts_gzip("br, *"));
    assert_false(api_query_accepts_gzip("gzip;q=0"));
    assert_false(api_query_accepts_gzip("identity"));
    assert_false(api_query_accepts_gzip("gzipx"));
    assert_false(api_query_accepts_gzip(NULL));
}

static void test_listings_and_databases(void **state)
{
    (void)state;
    struct resp r = request("GET", "/api/v1/measurements", NULL, NULL, false);
    assert_int_equal(r.status, 200);
    char want[512];
    snprintf(
        want, sizeof(want),
        "{\"success\":true,\"measurements\":[{\"database\":\"default\",\"measurement\":\"cpu\","
        "\"file_count\":1,\"total_size_mb\":0,\"storage_path\":\"%s/default/cpu/\"},"
        "{\"database\":\"prod\",\"measurement\":\"mem\",\"file_count\":1,\"total_size_mb\":0,"
        "\"storage_path\":\"%s/prod/mem/\"}],\"count\":2,",
        g_base, g_base);
    ASSERT_CONTAINS(r.body, want);
    xfree(r.body);
    r = request("GET", "/api/v1/measurements?database=prod", NULL, NULL, false);
    ASSERT_CONTAINS(r.body, "\"count\":1,");
    xfree(r.body);
    r = request("GET", "/api/v1/measurements?database=a%2Fb", NULL, NULL, false);
    assert_int_equal(r.status, 400);
    xfree(r.body);

    r = request("POST", "/api/v1/databases", "{\"name\": \"newdb\"}", NULL, false);
    assert_int_equal(r.status, 201);
    ASSERT_CONTAINS(r.body, "{\"name\":\"newdb\",\"measurement_count\":0,\"created_at\":\"");
    xfree(r.body);
    r = request("POST", "/api/v1/databases", "{\"name\": \"newdb\"}", NULL, false);
    assert_int_equal(r.status, 409);
    xfree(r.body);
    r = request("POST", "/api/v1/databases", "{\"name\": \"prod\"}", NULL, false);
    assert_int_equal(r.status, 409);
    xfree(r.body);
    r = request("POST", "/api/v1/databases", "{\"name\": \"_internal\"}", NULL, false);
    assert_int_equal(r.status, 403);
    xfree(r.body);
    r = request("POST", "/api/v1/databases", "{\"name\": \"System\"}", NULL, false);
    assert_int_equal(r.status, 403);
    xfree(r.body);
    r = request("POST", "/api/v1/databases", "{\"name\": \"1bad\"}", NULL, false);
    assert_int_equal(r.status, 400);
    xfree(r.body);
    r = request("POST", "/api/v1/databases", "{}", NULL, false);
    assert_int_equal(r.status, 400);
    xfree(r.body);

    r = request("GET", "/api/v1/databases", NULL, NULL, false);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "{\"databases\":[{\"name\":\"default\",\"measurement_count\":1},"
                            "{\"name\":\"newdb\",\"measurement_count\":0,\"created_at\":\"");
    ASSERT_CONTAINS(r.body, "{\"name\":\"prod\",\"measurement_count\":1}],\"count\":3}");
    xfree(r.body);
    r = request("GET", "/api/v1/databases/prod/measurements", NULL, NULL, false);
    ASSERT_CONTAINS(r.body, "{\"database\":\"prod\",\"measurements\":[{\"name\":\"mem\","
                            "\"file_count\":1,");
    xfree(r.body);
    r = request("GET", "/api/v1/databases/missing", NULL, NULL, false);
    assert_int_equal(r.status, 404);
    xfree(r.body);
    r = request("GET", "/api/v1/databases/newdb", NULL, NULL, false);
    assert_int_equal(r.status, 200);
    xfree(r.body);

    /* Delete: confirm required; the data is gone afterwards. */
    r = request("DELETE", "/api/v1/databases/prod", NULL, NULL, false);
    assert_int_equal(r.status, 400);
    xfree(r.body);
    r = post_sql("/api/v1/query", "{\"sql\": \"SELECT count(*) FROM prod.mem\"}");
    ASSERT_CONTAINS(r.body, "\"data\":[[10]]"); /* now cached */
    xfree(r.body);
    r = request("DELETE", "/api/v1/databases/prod?confirm=true", NULL, NULL, false);
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "{\"success\":true,\"message\":\"Database 'prod' deleted\","
                            "\"database\":\"prod\",\"files_deleted\":1,\"files_failed\":0,");
    xfree(r.body);
    r = post_sql("/api/v1/query", "{\"sql\": \"SELECT count(*) FROM prod.mem\"}");
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "\"columns\":[],\"data\":[],\"row_count\":0"); /* not the cached 10 */
    xfree(r.body);
    r = request("GET", "/api/v1/databases/prod", NULL, NULL, false);
    assert_int_equal(r.status, 404);
    xfree(r.body);
    r = request("DELETE", "/api/v1/databases/newdb?confirm=true", NULL, NULL, false);
    assert_int_equal(r.status, 200);
    xfree(r.body);
    r = request("GET", "/api/v1/databases/newdb", NULL, NULL, false);
    assert_int_equal(r.status, 404);
    xfree(r.body);

    /* delete.enabled = false: 403 before anything else. */
    struct errbuf eb = {0};
    assert_int_equal(config_set(g_cfg, "delete.enabled", "false", &eb), RC_OK);
    r = request("DELETE", "/api/v1/databases/default?confirm=true", NULL, NULL, false);
    assert_int_equal(r.status, 403);
    xfree(r.body);
    assert_int_equal(config_set(g_cfg, "delete.enabled", "true", &eb), RC_OK);
}

static void test_estimate(void **state)
{
    (void)state;
    struct resp r = post_sql("/api/v1/query/estimate", "{\"sql\": \"SELECT * FROM cpu\"}");
    assert_int_equal(r.status, 200);
    ASSERT_CONTAINS(r.body, "{\"success\":true,\"estimated_rows\":100,\"warning_level\":\"none\","
                            "\"warning_message\":\"about 100 rows; small result\","
                            "\"execution_time_ms\":");
    xfree(r.body);
    r = post_sql("/api/v1/query/estimate", "{\"sql\": \"SELECT * FROM range(0, 250000)\"}");
    ASSERT_CONTAINS(r.body, "\"estimated_rows\":250000,\"warning_level\":\"medium\","
                            "\"warning_message\":\"about 250,000 rows; expect a slow response\"");
    xfree(r.body);
    r = post_sql("/api/v1/query/estimate", "{\"sql\": \"SHOW DATABASES\"}");
    assert_int_equal(r.status, 400);
    ASSERT_CONTAINS(r.body,
                    "{\"success\":false,\"estimated_rows\":null,\"warning_level\":\"error\",");
    xfree(r.body);
    r = post_sql("/api/v1/query/estimate", "{}");
    assert_int_equal(r.status, 400);
    xfree(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_buffered),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_json_streamed_and_gzip),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_arrow),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_measurement_query),
        cmocka_unit_test(test_measurement_sql_builder),
        cmocka_unit_test(test_listings_and_databases),
        cmocka_unit_test(test_estimate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
