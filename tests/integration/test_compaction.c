/*
 * Integration tests of compaction (SPEC §7) and retention (SPEC §8.1)
 * against the real `arc` binary:
 *
 *   - 40 line-protocol writes, each flushed, make 40 small files in one old
 *     hour; POST /api/v1/compaction/trigger, wait via /compaction/jobs and
 *     /compaction/history; the hour then holds one *_compacted.parquet file
 *     and every POST /api/v1/query result (columns, data, row_count) is
 *     identical to before, and not served from the query cache;
 *   - crash mid-way: the server is killed (SIGKILL from the fault hooks
 *     compaction_crash_after_output / compaction_crash_after_swap) during a
 *     compaction; after a restart (start-up recovery) the hour holds exactly
 *     one file, no manifest is left, and the rows are all there exactly once;
 *   - retention over HTTP: a dry run reports every row older than the cut-off,
 *     the confirmed run deletes them and removes the emptied directories.
 *
 * The endpoints need api/app.c and api/routes.c to wire jobs/compaction.h and
 * jobs/retention.h (docs/compaction.md); until they answer, the tests skip
 * with a message. Query comparisons likewise activate once /api/v1/query
 * answers 200.
 */
#include "harness.h"
#include "ingest_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/mem.h"
#include "util/strbuf.h"

static struct arc_proc srv;

#define ENV_COMMON                                                                                 \
    "ARC_INGESTION_BUFFER_SIZE=50", "ARC_INGESTION_BUFFER_AGE_SECONDS=3600",                       \
        "ARC_COMPACTION_SETTLE_SECONDS=0", "ARC_COMPACTION_MAX_FILES_PER_BATCH=100"
static const char *const srv_env[] = {ENV_COMMON, "ARC_TEST_FAULTS=compaction_retire_grace_ms=0",
                                      NULL};

#define T14_NS 1736949600000000000LL /* 2025-01-15T14:00:00Z */
#define HOUR_NS 3600000000000LL
#define ROWS_PER_FILE 50

static const char *const JSON_HDR[] = {"Content-Type: application/json", NULL};

static struct http_resp req(const char *method, const char *path, const char *body)
{
    return http_do(&srv, method, path, body ? JSON_HDR : NULL, body, body ? strlen(body) : 0);
}

/* Writes `files` line-protocol requests of ROWS_PER_FILE rows into the
 * hour starting at hour_ns, each followed by a flush: one file each. Row i
 * of request k is at hour + (i * files + k) seconds, so files interleave. */
static void write_hour(int64_t hour_ns, int files)
{
    for (int k = 0; k < files; k++) {
        struct strbuf sb;
        strbuf_init(&sb, 0);
        for (int i = 0; i < ROWS_PER_FILE; i++) {
            int64_t t = hour_ns + (int64_t)(i * files + k) * 1000000000LL;
            (void)strbuf_printf(&sb, "cpu,host=h%d%s value=%d.25,count=%di%s %lld\n", i % 5,
                                k % 3 == 0 ? ",region=eu" : "", k * 100 + i, i,
                                k % 4 == 0 ? ",msg=\"m\"" : "", (long long)t);
        }
        it_write_ok(&srv, "/api/v1/write", sb.data);
        strbuf_cleanup(&sb);
        it_flush(&srv, "default", "cpu");
    }
}

/* .parquet files (and names starting with '.') in a directory of the data. */
static int count_files(const char *rel, const char *suffix)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/data/arc/%s", srv.dir, rel);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static int count_manifests(void)
{
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/data/compaction/manifests", srv.dir);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".manifest") != NULL;
    closedir(d);
    return n;
}

static bool compaction_wired(void)
{
    struct http_resp r = http_get(&srv, "/api/v1/compaction/status");
    bool ok = r.status == 200;
    if (!ok)
        print_message("skipped: /api/v1/compaction/status answers %ld (not wired yet)\n", r.status);
    http_resp_free(&r);
    return ok;
}

/* The part of a query response that must not change: columns, data and
 * row_count (not timing fields). NULL if the query did not answer 200. */
static char *query_part(const char *sql, bool allow_cached)
{
    struct http_resp r = arc_query(&srv, sql);
    char *out = NULL;
    if (r.status == 200 && r.body) {
        const char *a = strstr(r.body, "\"columns\"");
        const char *b = strstr(r.body, "\"execution_time_ms\"");
        if (a && b && b > a)
            out = strndup(a, (size_t)(b - a));
        if (!allow_cached &&
            (strstr(r.body, "\"cached\"") || (r.headers && strcasestr(r.headers, "X-Cache: HIT"))))
            fail_msg("served from the query cache: %s", sql);
    }
    http_resp_free(&r);
    return out;
}

static int64_t query_int(const char *sql)
{
    struct http_resp r = arc_query(&srv, sql);
    assert_status(r, 200);
    const char *d = strstr(r.body, "\"data\":[[");
    assert_non_null(d);
    int64_t v = strtoll(d + 9, NULL, 10);
    http_resp_free(&r);
    return v;
}

static const char *const queries[] = {
    "SELECT count(*) FROM cpu",
    "SELECT * FROM cpu ORDER BY time",
    "SELECT host, region, count(*), sum(value), min(time), max(time), sum(count) FROM cpu "
    "GROUP BY ALL ORDER BY host, region NULLS FIRST",
    "SELECT time, value, msg FROM cpu WHERE time >= '2025-01-15T14:10:00Z' AND "
    "time < '2025-01-15T14:20:00Z' ORDER BY time",
};
#define NQ (sizeof(queries) / sizeof(queries[0]))

/* Triggers a cycle and waits for it through /jobs and /history. */
static void trigger_and_wait(int64_t want_total_jobs)
{
    struct http_resp r = req("POST", "/api/v1/compaction/trigger", NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"message\":\"Compaction triggered\"");
    http_resp_free(&r);
    for (int i = 0; i < 600; i++) {
        r = http_get(&srv, "/api/v1/compaction/jobs");
        assert_status(r, 200);
        struct json_value *jobs = it_json(&r);
        int64_t active = it_jint(jobs, "active_jobs");
        json_free(&jobs);
        http_resp_free(&r);
        r = http_get(&srv, "/api/v1/compaction/history?limit=1");
        assert_status(r, 200);
        struct json_value *h = it_json(&r);
        int64_t total = it_jint(h, "total_jobs");
        json_free(&h);
        http_resp_free(&r);
        if (active == 0 && total >= want_total_jobs)
            return;
        usleep(100 * 1000);
    }
    fail_msg("compaction did not finish");
}

static void test_compact_old_hour(void **state)
{
    (void)state;
    arc_start(&srv, srv_env);
    if (!compaction_wired()) {
        arc_stop(&srv, 15000);
        arc_cleanup(&srv);
        skip();
    }
    write_hour(T14_NS, 40);
    /* A later hour with too few files stays as it is. */
    write_hour(T14_NS + HOUR_NS, 3);
    const char *h14 = "default/cpu/2025/01/15/14";
    assert_int_equal(count_files(h14, ".parquet"), 40);

    char *before[NQ];
    for (size_t i = 0; i < NQ; i++)
        before[i] = query_part(queries[i], false);
    bool have_query = before[0] != NULL;
    if (!have_query)
        print_message("note: /api/v1/query does not answer 200 yet; comparisons skipped\n");
    else
        assert_non_null(strstr(before[0], "[[2150]]"));
    /* Ask again: now the results are in the query cache, and a cache not
     * cleared by the swap would answer the queries after compaction. */
    for (size_t i = 0; have_query && i < NQ; i++)
        free(query_part(queries[i], true));

    struct http_resp r = http_get(&srv, "/api/v1/compaction/candidates");
    assert_status(r, 200);
    assert_body_contains(r, "\"partition_path\":\"default/cpu/2025/01/15/14\"");
    http_resp_free(&r);

    trigger_and_wait(1);
    assert_int_equal(count_files(h14, ".parquet"), 1);
    assert_int_equal(count_files(h14, "_compacted.parquet"), 1);
    assert_int_equal(count_files("default/cpu/2025/01/15/15", ".parquet"), 3);
    assert_int_equal(count_manifests(), 0);

    r = http_get(&srv, "/api/v1/compaction/history");
    assert_status(r, 200);
    assert_body_contains(r, "\"status\":\"completed\"");
    assert_body_contains(r, "\"files_compacted\":40");
    assert_body_contains(r, "\"error\":null");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/compaction/stats");
    assert_status(r, 200);
    assert_body_contains(r, "\"total_files_compacted\":40");
    http_resp_free(&r);

    for (size_t i = 0; i < NQ; i++) {
        char *after = query_part(queries[i], false);
        if (have_query && (!after || strcmp(before[i], after) != 0))
            fail_msg("query differs after compaction: %s\nbefore: %.500s\nafter:  %.500s",
                     queries[i], before[i], after ? after : "(error)");
        free(after);
        free(before[i]);
    }
    /* A second cycle finds nothing to do. */
    r = http_get(&srv, "/api/v1/compaction/candidates");
    assert_status(r, 200);
    assert_body_contains(r, "\"count\":0");
    http_resp_free(&r);
    arc_stop(&srv, 15000);
    arc_cleanup(&srv);
}

static void crash_case(const char *hook, int64_t hour_ns, const char *rel, int64_t rows_before)
{
    write_hour(hour_ns, 12);
    int64_t want = rows_before + 12 * ROWS_PER_FILE;
    char *probe = query_part("SELECT 1", true);
    bool have_query = probe != NULL;
    free(probe);
    if (have_query)
        assert_int_equal(query_int("SELECT count(*) FROM cpu"), want);
    arc_stop(&srv, 15000);

    char faults[200];
    snprintf(faults, sizeof(faults), "ARC_TEST_FAULTS=%s,compaction_retire_grace_ms=0", hook);
    const char *const crash_env[] = {ENV_COMMON, faults, NULL};
    arc_restart(&srv, crash_env);
    struct http_resp r = req("POST", "/api/v1/compaction/trigger", NULL);
    assert_status(r, 200);
    http_resp_free(&r);
    int st = arc_wait_exit(&srv, 60000);
    if (st != 128 + 9)
        fail_msg("%s: server did not die by SIGKILL (status %d)", hook, st);
    assert_true(arc_log_contains(&srv, hook));
    /* Killed mid-way: the output exists next to (some of) its inputs. */
    assert_int_equal(count_files(rel, "_compacted.parquet"), 1);
    assert_int_equal(count_manifests(), 1);

    arc_restart(&srv, srv_env);
    assert_true(arc_log_contains(&srv, "recovery: completed swap"));
    assert_int_equal(count_files(rel, ".parquet"), 1);
    assert_int_equal(count_files(rel, "_compacted.parquet"), 1);
    assert_int_equal(count_manifests(), 0);
    if (have_query) {
        assert_int_equal(query_int("SELECT count(*) FROM cpu"), want);
        assert_int_equal(query_int("SELECT count(DISTINCT time) FROM cpu"), want);
    }
}

static void test_crash_and_restart(void **state)
{
    (void)state;
    arc_start(&srv, srv_env);
    if (!compaction_wired()) {
        arc_stop(&srv, 15000);
        arc_cleanup(&srv);
        skip();
    }
    crash_case("compaction_crash_after_output", T14_NS, "default/cpu/2025/01/15/14", 0);
    crash_case("compaction_crash_after_swap", T14_NS + HOUR_NS, "default/cpu/2025/01/15/15",
               12 * ROWS_PER_FILE);
    arc_stop(&srv, 15000);
    arc_cleanup(&srv);
}

static void test_retention_http(void **state)
{
    (void)state;
    arc_start(&srv, srv_env);
    struct http_resp r = http_get(&srv, "/api/v1/retention");
    if (r.status != 200) {
        print_message("skipped: /api/v1/retention answers %ld (not wired yet)\n", r.status);
        http_resp_free(&r);
        arc_stop(&srv, 15000);
        arc_cleanup(&srv);
        skip();
    }
    http_resp_free(&r);
    write_hour(T14_NS, 2); /* 2025: older than any cut-off below */
    r = req("POST", "/api/v1/retention",
            "{\"name\":\"cpu-30d\",\"database\":\"default\",\"measurement\":\"cpu\","
            "\"retention_days\":30,\"buffer_days\":7}");
    assert_status(r, 201);
    struct json_value *p = it_json(&r);
    int64_t id = it_jint(p, "id");
    json_free(&p);
    http_resp_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/retention/%lld/execute", (long long)id);
    r = req("POST", path, "{\"dry_run\":true}");
    assert_status(r, 200);
    assert_body_contains(r, "\"deleted_count\":100");
    assert_body_contains(r, "\"files_deleted\":2");
    assert_body_contains(r, "\"affected_measurements\":[\"cpu\"]");
    http_resp_free(&r);
    assert_int_equal(count_files("default/cpu/2025/01/15/14", ".parquet"), 2);
    r = req("POST", path, "{\"confirm\":true}");
    assert_status(r, 200);
    assert_body_contains(r, "\"deleted_count\":100");
    http_resp_free(&r);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/data/arc/default/cpu/2025/01/15", srv.dir);
    assert_int_equal(access(dir, F_OK), -1); /* emptied hour and day removed */
    struct http_resp q = arc_query(&srv, "SELECT count(*) FROM cpu");
    if (q.status == 200)
        assert_true(strstr(q.body, "\"data\":[[0]]") || strstr(q.body, "\"data\":[]"));
    http_resp_free(&q);
    snprintf(path, sizeof(path), "/api/v1/retention/%lld/executions", (long long)id);
    r = http_get(&srv, path);
    assert_status(r, 200);
    assert_body_contains(r, "\"status\":\"completed\"");
    assert_body_contains(r, "\"deleted_count\":100");
    http_resp_free(&r);
    arc_stop(&srv, 15000);
    arc_cleanup(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_old_hour),
        cmocka_unit_test(test_crash_and_restart),
        cmocka_unit_test(test_retention_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
