/*
 * Integration tests of continuous queries (SPEC §8.2) and deletes (§8.3)
 * against the real `arc` binary:
 *   - CQ CRUD with the exact shapes and statuses (201/200/400/404/409);
 *   - execute: dry run, a window of 1-second data → 1-minute means equal to
 *     the same aggregation run directly, the watermark (the same window
 *     again writes nothing, also after a restart), history;
 *   - DELETE with delete_destination;
 *   - deletes: config, dry run with threshold flags, confirm rules, refused
 *     injections, exact row counts before/after, 403 when disabled.
 * Data is read back through POST /api/v1/query.
 */
#include "harness.h"
#include "ingest_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/strbuf.h"

static struct arc_proc srv;

static const char *const srv_env[] = {
    "ARC_INGESTION_BUFFER_AGE_SECONDS=3600", "ARC_DELETE_ENABLED=true",
    "ARC_DELETE_CONFIRMATION_THRESHOLD=100", "ARC_DELETE_MAX_ROWS_PER_DELETE=500", NULL};

static const char *const JSON_HDR[] = {"Content-Type: application/json", NULL};

/* 2025-01-15T14:00:00Z */
#define T0_S 1736949600LL

static int setup(void **state)
{
    (void)state;
    arc_start(&srv, srv_env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    arc_stop(&srv, 15000);
    arc_cleanup(&srv);
    return 0;
}

static struct http_resp req(const char *method, const char *path, const char *body)
{
    return http_do(&srv, method, path, body ? JSON_HDR : NULL, body, body ? strlen(body) : 0);
}

/* n seconds of data from T0 + first: host a/b alternating, value i%17+.5. */
static void write_seconds(const char *db, const char *m, int first, int n)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    for (int i = first; i < first + n; i++)
        (void)strbuf_printf(&sb, "%s,host=%s value=%d.5 %lld\n", m, i % 2 ? "b" : "a", i % 17,
                            T0_S + i);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/write?db=%s&precision=s", db);
    it_write_ok(&srv, path, sb.data);
    strbuf_cleanup(&sb);
}

/* The "data" array of a query response, copied (xfree). */
static char *query_data(const char *sql)
{
    struct http_resp r = arc_query(&srv, sql);
    assert_status(r, 200);
    const char *a = strstr(r.body, "\"data\":");
    const char *b = a ? strstr(a, ",\"row_count\"") : NULL;
    assert_non_null(b);
    char *out = xstrndup(a, (size_t)(b - a));
    http_resp_free(&r);
    return out;
}

static int64_t query_count(const char *sql)
{
    char *d = query_data(sql);
    int64_t v = -1;
    if (sscanf(d, "\"data\":[[%lld]]", (long long *)&v) != 1)
        fail_msg("unexpected count result %s", d);
    xfree(d);
    return v;
}

static const char *const CQ_BODY =
    "{\"name\": \"means\", \"description\": \"1-minute means\", \"database\": \"cqdb\", "
    "\"source_measurement\": \"cpu_raw\", \"destination_measurement\": \"cpu_1m\", "
    "\"query\": \"SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, avg(value) AS "
    "value_mean, count(*) AS n FROM cpu_raw WHERE time >= {start_time} AND time < {end_time} "
    "GROUP BY ALL\", \"interval\": \"1m\", \"tag_columns\": [\"host\"], \"retention_days\": 30}";

static void test_continuous_queries(void **state)
{
    (void)state;
    write_seconds("cqdb", "cpu_raw", 0, 300);
    it_flush(&srv, "cqdb", "cpu_raw");

    /* Create. */
    struct http_resp r = req("POST", "/api/v1/continuous_queries", CQ_BODY);
    assert_status(r, 201);
    struct json_value *j = it_json(&r);
    int64_t id = it_jint(j, "id");
    assert_true(id > 0);
    assert_string_equal(it_jstr(j, "name"), "means");
    assert_string_equal(it_jstr(j, "interval"), "1m");
    assert_string_equal(it_jstr(j, "destination_measurement"), "cpu_1m");
    assert_int_equal(it_jint(j, "retention_days"), 30);
    assert_true(json_is_null(json_obj_get(j, "last_processed_time")));
    assert_true(json_is_null(json_obj_get(j, "delete_source_after_days")));
    bool active = false;
    assert_true(json_as_bool(json_obj_get(j, "is_active"), &active) && active);
    assert_string_equal(json_as_str(json_arr_at(json_obj_get(j, "tag_columns"), 0), NULL), "host");
    json_free(&j);
    http_resp_free(&r);

    /* Duplicates and validation. */
    r = req("POST", "/api/v1/continuous_queries", CQ_BODY);
    assert_status(r, 409);
    http_resp_free(&r);
    const char *bad[] = {
        "{\"name\": \"x\", \"database\": \"cqdb\", \"source_measurement\": \"a\", "
        "\"destination_measurement\": \"b\", \"query\": \"SELECT 1 WHERE {start_time} < "
        "{end_time}\", \"interval\": \"1x\"}",
        "{\"name\": \"x\", \"database\": \"cqdb\", \"source_measurement\": \"a\", "
        "\"destination_measurement\": \"b\", \"query\": \"SELECT 1\", \"interval\": \"1h\"}",
        "{\"name\": \"x\", \"database\": \"cqdb\", \"source_measurement\": \"a\", "
        "\"destination_measurement\": \"b\", \"query\": \"DELETE FROM a WHERE time > "
        "{start_time} AND time < {end_time}\", \"interval\": \"1h\"}",
        "{\"name\": \"x\", \"database\": \"c q\", \"source_measurement\": \"a\", "
        "\"destination_measurement\": \"b\", \"query\": \"SELECT 1 WHERE {start_time} < "
        "{end_time}\", \"interval\": \"1h\"}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = req("POST", "/api/v1/continuous_queries", bad[i]);
        assert_status(r, 400);
        assert_body_contains(r, "\"success\":false");
        http_resp_free(&r);
    }

    /* Read. */
    r = req("GET", "/api/v1/continuous_queries?database=cqdb", NULL);
    assert_status(r, 200);
    assert_true(r.body[0] == '[');
    assert_body_contains(r, "\"name\":\"means\"");
    http_resp_free(&r);
    r = req("GET", "/api/v1/continuous_queries?database=other", NULL);
    assert_status(r, 200);
    assert_string_equal(r.body, "[]");
    http_resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/continuous_queries/%lld", (long long)id);
    r = req("GET", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"description\":\"1-minute means\"");
    http_resp_free(&r);
    r = req("GET", "/api/v1/continuous_queries/999", NULL);
    assert_status(r, 404);
    http_resp_free(&r);
    r = req("GET", "/api/v1/continuous_queries/abc", NULL);
    assert_status(r, 400);
    http_resp_free(&r);

    /* Dry run. */
    char epath[160];
    snprintf(epath, sizeof(epath), "/api/v1/continuous_queries/%lld/execute", (long long)id);
    r = req("POST", epath,
            "{\"start_time\": \"2025-01-15T14:00:00Z\", \"end_time\": \"2025-01-15T14:05:00Z\", "
            "\"dry_run\": true}");
    assert_status(r, 200);
    assert_body_contains(r, "\"status\":\"dry_run\"");
    assert_body_contains(r, "time >= '2025-01-15T14:00:00Z' AND time < '2025-01-15T14:05:00Z'");
    assert_body_contains(r, "\"records_written\":0");
    http_resp_free(&r);
    r = req("POST", epath, "{\"start_time\": \"yesterday\"}");
    assert_status(r, 400);
    http_resp_free(&r);
    r = req("POST", epath,
            "{\"start_time\": \"2025-01-15T14:05:00Z\", \"end_time\": \"2025-01-15T14:00:00Z\"}");
    assert_status(r, 400);
    http_resp_free(&r);

    /* Execute. */
    const char *window =
        "{\"start_time\": \"2025-01-15T14:00:00Z\", \"end_time\": \"2025-01-15T14:05:00Z\"}";
    r = req("POST", epath, window);
    assert_status(r, 200);
    j = it_json(&r);
    assert_string_equal(it_jstr(j, "status"), "completed");
    assert_int_equal(it_jint(j, "records_written"), 10);
    assert_int_equal(it_jint(j, "query_id"), id);
    assert_string_equal(it_jstr(j, "query_name"), "means");
    assert_string_equal(it_jstr(j, "start_time"), "2025-01-15T14:00:00Z");
    assert_string_equal(it_jstr(j, "end_time"), "2025-01-15T14:05:00Z");
    assert_int_equal(strncmp(it_jstr(j, "execution_id"), "cq-exec-", 8), 0);
    assert_true(json_is_null(json_obj_get(j, "records_read")));
    json_free(&j);
    http_resp_free(&r);

    /* The destination equals the direct computation. */
    char *direct = query_data("SELECT time_bucket(INTERVAL '1 minute', time) AS time, host, "
                              "avg(value) AS value_mean, count(*) AS n FROM cqdb.cpu_raw "
                              "GROUP BY ALL ORDER BY 1, 2");
    char *dest = query_data("SELECT time, host, value_mean, n FROM cqdb.cpu_1m ORDER BY 1, 2");
    assert_string_equal(dest, direct);
    xfree(direct);
    xfree(dest);

    /* The same window again: nothing processed twice. */
    r = req("POST", epath, window);
    assert_status(r, 200);
    assert_body_contains(r, "\"records_written\":0");
    http_resp_free(&r);
    assert_int_equal(query_count("SELECT count(*) FROM cqdb.cpu_1m"), 10);

    /* History. */
    char hpath[160];
    snprintf(hpath, sizeof(hpath), "/api/v1/continuous_queries/%lld/executions?limit=5",
             (long long)id);
    r = req("GET", hpath, NULL);
    assert_status(r, 200);
    j = it_json(&r);
    assert_int_equal(it_jint(j, "query_id"), id);
    const struct json_value *ex = json_obj_get(j, "executions");
    assert_int_equal(json_arr_len(ex), 1);
    assert_string_equal(it_jstr(json_arr_at(ex, 0), "status"), "completed");
    assert_int_equal(it_jint(json_arr_at(ex, 0), "records_written"), 10);
    json_free(&j);
    http_resp_free(&r);

    /* Full replacement keeps the state. */
    struct strbuf upd;
    strbuf_init(&upd, 0);
    (void)strbuf_puts(&upd, CQ_BODY);
    char *p = strstr(upd.data, "\"interval\": \"1m\"");
    assert_non_null(p);
    memcpy(p, "\"interval\": \"2m\"", 16);
    r = req("PUT", path, upd.data);
    assert_status(r, 200);
    assert_body_contains(r, "\"interval\":\"2m\"");
    assert_body_contains(r, "\"last_processed_time\":\"2025-01-15T14:05:00Z\"");
    http_resp_free(&r);
    r = req("PUT", "/api/v1/continuous_queries/999", upd.data);
    assert_status(r, 404);
    http_resp_free(&r);
    strbuf_cleanup(&upd);

    /* Restart: the watermark survives. */
    arc_stop(&srv, 15000);
    arc_restart(&srv, srv_env);
    r = req("GET", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"last_processed_time\":\"2025-01-15T14:05:00Z\"");
    assert_body_contains(r, "\"last_execution_status\":\"completed\"");
    http_resp_free(&r);
    r = req("POST", epath, window);
    assert_status(r, 200);
    assert_body_contains(r, "\"records_written\":0");
    http_resp_free(&r);
    assert_int_equal(query_count("SELECT count(*) FROM cqdb.cpu_1m"), 10);

    /* Delete with its destination. */
    snprintf(path, sizeof(path), "/api/v1/continuous_queries/%lld?delete_destination=true",
             (long long)id);
    r = req("DELETE", path, NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"message\":\"Continuous query deleted successfully\"");
    http_resp_free(&r);
    r = req("DELETE", path, NULL);
    assert_status(r, 404);
    http_resp_free(&r);
    r = arc_query(&srv, "SELECT count(*) FROM cqdb.cpu_1m");
    assert_status(r, 200);
    assert_body_contains(r, "\"row_count\":0");
    http_resp_free(&r);
}

static void test_deletes(void **state)
{
    (void)state;
    write_seconds("deldb", "cpu", 0, 400); /* 200 rows per host */
    it_flush(&srv, "deldb", "cpu");
    write_seconds("deldb", "cpu", 400, 20); /* buffered: covered by rule 6 */

    struct http_resp r = req("GET", "/api/v1/delete/config", NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"enabled\":true");
    assert_body_contains(r, "\"confirmation_threshold\":100");
    assert_body_contains(r, "\"max_rows_per_delete\":500");
    assert_body_contains(r, "\"implementation\":\"rewrite-based\"");
    http_resp_free(&r);

    /* Dry run: count and flags, nothing deleted. */
    r = req("POST", "/api/v1/delete",
            "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"host = 'a'\", "
            "\"dry_run\": true}");
    assert_status(r, 200);
    assert_body_contains(r, "\"deleted_count\":210");
    assert_body_contains(r, "\"dry_run\":true");
    assert_body_contains(r, "\"requires_confirmation\":true");
    assert_body_contains(r, "\"exceeds_max_rows\":false");
    http_resp_free(&r);
    assert_int_equal(query_count("SELECT count(*) FROM deldb.cpu"), 420);

    /* Refused: no confirm, full table without confirm, injections, unknown column. */
    const char *refused[] = {
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"host = 'a'\"}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"1=1\", \"dry_run\": "
        "true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"1=1; DROP TABLE x\", "
        "\"confirm\": true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"host IN (SELECT host "
        "FROM y)\", \"confirm\": true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": "
        "\"read_csv('/etc/passwd') IS NOT NULL\", \"confirm\": true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"host = 'a' -- x\", "
        "\"confirm\": true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"host = 'a' UNION "
        "SELECT 1\", \"confirm\": true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"nope = 1\", "
        "\"confirm\": true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"\", \"confirm\": true}",
        "{\"database\": \"../x\", \"measurement\": \"cpu\", \"where\": \"host = 'a'\", "
        "\"confirm\": true}",
        "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"host = 'a'\", "
        "\"confirm\": \"yes\"}",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        r = req("POST", "/api/v1/delete", refused[i]);
        assert_status(r, 400);
        assert_body_contains(r, "\"success\":false");
        http_resp_free(&r);
    }
    assert_int_equal(query_count("SELECT count(*) FROM deldb.cpu"), 420);

    /* The real delete. */
    r = req("POST", "/api/v1/delete",
            "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"WHERE host = 'a' "
            "AND time < '2025-01-15T14:05:00Z'\", \"confirm\": true}");
    assert_status(r, 200);
    struct json_value *j = it_json(&r);
    bool ok = false;
    assert_true(json_as_bool(json_obj_get(j, "success"), &ok) && ok);
    assert_int_equal(it_jint(j, "deleted_count"), 150);
    assert_int_equal(json_arr_len(json_obj_get(j, "files_processed")),
                     it_jint(j, "affected_files"));
    assert_int_equal(json_arr_len(json_obj_get(j, "failed_files")), 0);
    json_free(&j);
    http_resp_free(&r);
    assert_int_equal(query_count("SELECT count(*) FROM deldb.cpu"), 270);
    assert_int_equal(query_count("SELECT count(*) FROM deldb.cpu WHERE host = 'a'"), 60);
    assert_int_equal(query_count("SELECT count(*) FROM deldb.cpu WHERE host = 'b'"), 210);

    /* Above max_rows_per_delete: 400 even with confirm; a dry run says so. */
#define BIG                                                                                        \
    "{\"database\": \"deldb\", \"measurement\": \"cpu\", \"where\": \"1=1\", "                     \
    "\"confirm\": true, \"dry_run\": %s}"
    char body[256];
    write_seconds("deldb", "cpu", 1000, 300);
    snprintf(body, sizeof(body), BIG, "true");
    r = req("POST", "/api/v1/delete", body);
    assert_status(r, 200);
    assert_body_contains(r, "\"exceeds_max_rows\":true");
    http_resp_free(&r);
    snprintf(body, sizeof(body), BIG, "false");
    r = req("POST", "/api/v1/delete", body);
    assert_status(r, 400);
    assert_body_contains(r, "max_rows_per_delete");
    http_resp_free(&r);
    assert_int_equal(query_count("SELECT count(*) FROM deldb.cpu"), 570);
}

static void test_delete_disabled(void **state)
{
    (void)state;
    struct arc_proc off;
    memset(&off, 0, sizeof(off));
    arc_start(&off, NULL);
    const char *body =
        "{\"database\": \"x\", \"measurement\": \"y\", \"where\": \"a = 1\", \"confirm\": true}";
    struct http_resp r = http_do(&off, "POST", "/api/v1/delete", JSON_HDR, body, strlen(body));
    assert_status(r, 403);
    http_resp_free(&r);
    r = http_do(&off, "GET", "/api/v1/delete/config", NULL, NULL, 0);
    assert_status(r, 200);
    assert_body_contains(r, "\"enabled\":false");
    http_resp_free(&r);
    arc_stop(&off, 15000);
    arc_cleanup(&off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_continuous_queries),
        cmocka_unit_test(test_deletes),
        cmocka_unit_test(test_delete_disabled),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
