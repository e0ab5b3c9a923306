/*
 * Integration tests of ingestion (SPEC §1.1–§1.3, §1.5, §1.7, §2.4) against
 * the real `arc` binary: every write endpoint and its database selection,
 * invalid databases, every `precision`, the flush endpoint and the hour
 * layout of the files it writes, the exact partial-write response, empty and
 * comment-only bodies, chunked bodies, the stats/health endpoints, and the
 * flush on graceful shutdown. What the server stored is read back from the
 * Parquet files with DuckDB (support/parquet_check.h).
 *
 * The shared server runs with a one-hour buffer age, so rows stay buffered
 * until a test flushes them; every test writes to its own databases /
 * measurements.
 */
#include "harness.h"
#include "ingest_util.h"
#include "parquet_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct arc_proc srv;

/* Servers started by a single test; the teardown kills one that a failed
 * test left running (arc_cleanup is a no-op after arc_stop + arc_cleanup). */
static struct arc_proc solo;

static int kill_solo(void **state)
{
    (void)state;
    arc_cleanup(&solo);
    return 0;
}

static const char *const srv_env[] = {"ARC_INGESTION_BUFFER_AGE_SECONDS=3600",
                                      "ARC_INGESTION_MAX_REPORTED_ERRORS=3", NULL};

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

static bool dir_exists(const struct arc_proc *p, const char *rel)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s/data/arc/%s", p->dir, rel);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --- endpoints and database selection ------------------------------------------- */

struct ep_case {
    const char *path;
    const char *header; /* extra header or NULL */
    const char *want_db;
};

static void test_endpoints_select_database(void **state)
{
    (void)state;
    static const struct ep_case cases[] = {
        {"/write?db=epdb1", NULL, "epdb1"},
        {"/write?db=epdb1", "x-arc-database: ephdr", "ephdr"},
        {"/write", NULL, "default"},
        {"/write?bucket=epnotv1", NULL, "default"},      /* v1 paths read only db */
        {"/write?db=epdb5", "X-Arc-Database;", "epdb5"}, /* empty header = absent */
        {"/api/v1/write?db=epdb2&rp=autogen&consistency=any&u=someone&p=secret", NULL, "epdb2"},
        {"/api/v1/write?db=epdb2", "X-ARC-DATABASE: ephdr", "ephdr"},
        {"/api/v1/write", NULL, "default"},
        {"/api/v2/write?bucket=epdb3/autogen&org=acme&orgID=0123", NULL, "epdb3"},
        {"/api/v2/write?bucket=epdb3", "x-arc-database: ephdr", "ephdr"},
        {"/api/v2/write?db=epnotv2", NULL, "default"}, /* v2 paths read only bucket */
        {"/api/v2/write", NULL, "default"},
        {"/api/v1/write/influxdb?bucket=epdb4", NULL, "epdb4"},
        {"/api/v1/write/influxdb?bucket=epdb4/rp", "x-arc-database: ephdr", "ephdr"},
        {"/api/v1/write/line-protocol?db=epnotlp&bucket=epnotlp", NULL, "default"},
        {"/api/v1/write/line-protocol", "x-arc-database: ephdr", "ephdr"},
    };
    const size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        char body[128];
        snprintf(body, sizeof(body), "ep%zu,case=c%zu v=%zui 1700000000000000000\n", i, i, i);
        const char *h[] = {cases[i].header, NULL};
        struct http_resp r =
            it_post(&srv, cases[i].path, cases[i].header ? h : NULL, body, strlen(body), 204);
        assert_int_equal(r.len, 0);
        http_resp_free(&r);
    }
    assert_int_equal(it_flush(&srv, NULL, NULL), (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        char m[16], want[64];
        snprintf(m, sizeof(m), "ep%zu", i);
        snprintf(want, sizeof(want), "c%zu|%zu|1700000000000000\n", i, i);
        assert_pq_rows(&srv, cases[i].want_db, m, "SELECT \"case\", v, epoch_us(time) FROM t",
                       want);
    }
    /* db / bucket values that the endpoint ignores never become databases. */
    assert_false(dir_exists(&srv, "epnotv1"));
    assert_false(dir_exists(&srv, "epnotv2"));
    assert_false(dir_exists(&srv, "epnotlp"));
}

static void test_invalid_database_400(void **state)
{
    (void)state;
    static const struct ep_case cases[] = {
        {"/api/v1/write/line-protocol", "x-arc-database: 1abc", NULL},
        {"/write?db=a%20b", NULL, NULL},
        {"/write?db=bad.name", NULL, NULL},
        {"/api/v1/write?db=-x", NULL, NULL},
        {"/api/v2/write?bucket=_internal/rp", NULL, NULL},
        {"/api/v1/write/influxdb?bucket=%C3%A9t%C3%A9", NULL, NULL},
        {"/write?db=a1234567890123456789012345678901234567890123456789012345678901234", NULL,
         NULL}, /* 65 characters */
        {"/api/v1/write/msgpack", "x-arc-database: no/slash", NULL},
    };
    const char *body = "invdb v=1i 1700000000000000000\n";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *h[] = {cases[i].header, NULL};
        struct http_resp r =
            it_post(&srv, cases[i].path, cases[i].header ? h : NULL, body, strlen(body), 400);
        struct json_value *doc = it_json(&r);
        bool b = true;
        assert_true(json_as_bool(json_obj_get(doc, "success"), &b));
        assert_false(b);
        assert_string_equal(it_jstr(doc, "code"), "invalid");
        const char *err = it_jstr(doc, "error");
        assert_non_null(strstr(err, "Invalid database name"));
        assert_string_equal(it_jstr(doc, "detail"), err);
        assert_string_equal(it_jstr(doc, "message"), err);
        json_free(&doc);
        http_resp_free(&r);
    }
    /* 64 characters is the maximum and is fine. */
    it_write_ok(&srv, "/write?db=a123456789012345678901234567890123456789012345678901234567890123",
                body);
    it_flush(&srv, NULL, NULL);
    assert_int_equal(pq_count(&srv,
                              "a123456789012345678901234567890123456789012345678901234567890123",
                              "invdb", NULL),
                     1);
    assert_int_equal(pq_count(&srv, "default", "invdb", NULL), 0);
}

/* --- precision ----------------------------------------------------------------- */

static void test_precision_every_unit(void **state)
{
    (void)state;
    static const struct {
        const char *query; /* precision parameter (URL-encoded) or NULL */
        const char *ts;
        const char *want_us;
    } cases[] = {
        {NULL, "1700000000123456789", "1700000000123456"},
        {"ns", "1700000000123456789", "1700000000123456"},
        {"n", "1700000000123456999", "1700000000123456"},
        {"ns", "-1500", "-2"}, /* floor, not truncation toward zero */
        {"us", "1700000000123456", "1700000000123456"},
        {"u", "1700000000123457", "1700000000123457"},
        {"%C2%B5", "1700000000123458", "1700000000123458"}, /* µ */
        {"ms", "1700000000123", "1700000000123000"},
        {"s", "1700000000", "1700000000000000"},
        {"m", "28333333", "1699999980000000"},
        {"h", "472222", "1699999200000000"},
        {"s", "-62135596800", "-62135596800000000"},     /* 0001-01-01T00:00:00Z */
        {"", "1700000000123456789", "1700000000123456"}, /* empty = default ns */
    };
    const size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        char path[128], body[128];
        if (cases[i].query)
            snprintf(path, sizeof(path), "/write?db=prec&precision=%s", cases[i].query);
        else
            snprintf(path, sizeof(path), "/write?db=prec");
        snprintf(body, sizeof(body), "p%zu v=1i %s", i, cases[i].ts);
        it_write_ok(&srv, path, body);
    }
    assert_int_equal(it_flush(&srv, "prec", NULL), (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        char m[16], want[64];
        snprintf(m, sizeof(m), "p%zu", i);
        snprintf(want, sizeof(want), "%s\n", cases[i].want_us);
        assert_pq_rows(&srv, "prec", m, "SELECT epoch_us(time) FROM t", want);
    }
    /* Years outside 0001–9999 are rejected per line. */
    struct http_resp r =
        it_post(&srv, "/write?db=prec&precision=s", NULL,
                "old v=1i -62135596801\nold v=2i 253402300800\nold v=3i 1\n",
                strlen("old v=1i -62135596801\nold v=2i 253402300800\nold v=3i 1\n"), 400);
    assert_body_contains(r, "\"lines_accepted\":1");
    assert_body_contains(r, "\"lines_rejected\":2");
    http_resp_free(&r);
    it_flush(&srv, "prec", NULL);
    assert_pq_rows(&srv, "prec", "old", "SELECT v, epoch_us(time) FROM t", "3|1000000\n");
}

static void test_invalid_precision_400(void **state)
{
    (void)state;
    static const char *const bad[] = {"x", "sec", "nanoseconds", "mss", "1", "%C2%B5s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        static const char *const paths[] = {"/write?db=badprec", "/api/v2/write?bucket=badprec",
                                            "/api/v1/write/line-protocol"};
        for (size_t k = 0; k < 3; k++) {
            char path[128];
            snprintf(path, sizeof(path), "%s%sprecision=%s", paths[k],
                     strchr(paths[k], '?') ? "&" : "?", bad[i]);
            const char *body = "bp v=1i 1\n";
            const char *h[] = {"x-arc-database: badprec", NULL};
            struct http_resp r = it_post(&srv, path, h, body, strlen(body), 400);
            struct json_value *doc = it_json(&r);
            assert_string_equal(it_jstr(doc, "code"), "invalid");
            assert_non_null(strstr(it_jstr(doc, "error"), "precision"));
            json_free(&doc);
            http_resp_free(&r);
        }
    }
    assert_int_equal(it_flush(&srv, "badprec", NULL), 0);
    assert_int_equal(pq_files(&srv, "badprec", "bp", NULL), 0);
}

/* --- flush and layout ------------------------------------------------------------ */

static bool name_matches(const char *file, const char *m, const char *ymd_a, const char *ymd_b)
{
    /* {m}_{YYYYMMDD}_{HHMMSS}_{NNNNNNNNN}[_{node id}].parquet, the date being
     * the UTC write time (either side of a midnight during the test); the
     * node id ([A-Za-z][A-Za-z0-9-]*) keeps writers of a shared bucket apart. */
    size_t ml = strlen(m);
    if (strncmp(file, m, ml) != 0 || file[ml] != '_')
        return false;
    const char *d = file + ml + 1;
    if (strncmp(d, ymd_a, 8) != 0 && strncmp(d, ymd_b, 8) != 0)
        return false;
    static const char pat[] = "99999999_999999_999999999";
    for (size_t i = 0; i < sizeof(pat) - 1; i++) {
        if (pat[i] == '9' ? (d[i] < '0' || d[i] > '9') : d[i] != pat[i])
            return false;
    }
    const char *rest = d + sizeof(pat) - 1;
    if (rest[0] == '_') {
        rest++;
        if (!((*rest >= 'A' && *rest <= 'Z') || (*rest >= 'a' && *rest <= 'z')))
            return false;
        while ((*rest >= 'A' && *rest <= 'Z') || (*rest >= 'a' && *rest <= 'z') ||
               (*rest >= '0' && *rest <= '9') || *rest == '-')
            rest++;
    }
    return strcmp(rest, ".parquet") == 0;
}

static void utc_ymd(char out[9])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 9, "%Y%m%d", &tm);
}

static void test_flush_writes_hour_partitions(void **state)
{
    (void)state;
    char ymd_a[9], ymd_b[9];
    utc_ymd(ymd_a);
    it_write_ok(&srv, "/write?db=hours&precision=s",
                "hp,k=a v=1i 1704067199\n"   /* 2023-12-31T23:59:59Z */
                "hp,k=b v=2i 1704067200\n"   /* 2024-01-01T00:00:00Z */
                "hp,k=c v=3i 1704070799\n"   /* 2024-01-01T00:59:59Z */
                "hp,k=d v=4i 1709208000\n"); /* 2024-02-29T12:00:00Z */
    assert_int_equal(it_held_rows(&srv, "hours/hp"), 4);
    assert_int_equal(pq_files(&srv, "hours", "hp", NULL), 0);
    assert_int_equal(it_flush(&srv, "hours", NULL), 4);
    utc_ymd(ymd_b);
    assert_int_equal(it_held_rows(&srv, "hours/hp"), 0);

    char **files = NULL;
    size_t nf = pq_files(&srv, "hours", "hp", &files);
    assert_int_equal(nf, 3);
    static const char *const hours[] = {"2023/12/31/23", "2024/01/01/00", "2024/02/29/12"};
    static const char *const rows[] = {"a|1\n", "b|2\nc|3\n", "d|4\n"};
    char dir[1024];
    pq_dir(&srv, "hours", "hp", dir, sizeof(dir));
    for (size_t i = 0; i < nf; i++) {
        char prefix[1100];
        snprintf(prefix, sizeof(prefix), "%s/%s/", dir, hours[i]);
        if (strncmp(files[i], prefix, strlen(prefix)) != 0) {
            print_error("file %s not under %s\n", files[i], prefix);
            fail();
        }
        const char *base = files[i] + strlen(prefix);
        if (!name_matches(base, "hp", ymd_a, ymd_b)) {
            print_error("bad file name %s\n", base);
            fail();
        }
        char sql[1400];
        snprintf(sql, sizeof(sql), "SELECT k, v FROM read_parquet('%s') ORDER BY time", files[i]);
        char *got = pq_sql(sql);
        assert_non_null(got);
        assert_string_equal(got, rows[i]);
        free(got);
    }
    pq_paths_free(files, nf);

    /* Nothing left: a second flush writes nothing. */
    assert_int_equal(it_flush(&srv, "hours", NULL), 0);
    assert_int_equal(pq_files(&srv, "hours", "hp", NULL), 3);

    /* ?measurement= restricts the flush; the [Go] alias path works too. */
    it_write_ok(&srv, "/write?db=hours",
                "fa v=1i 1700000000000000000\nfa v=2i 1700000001000000000");
    it_write_ok(&srv, "/write?db=hours",
                "fb v=1i 1700000000000000000\nfb v=2i 1700000001000000000\n"
                "fb v=3i 1700000002000000000\n");
    assert_int_equal(it_flush(&srv, "hours", "fa"), 2);
    assert_int_equal(pq_count(&srv, "hours", "fa", NULL), 2);
    assert_int_equal(pq_files(&srv, "hours", "fb", NULL), 0);
    assert_int_equal(it_held_rows(&srv, "hours/fb"), 3);
    struct http_resp r = it_post(&srv, "/api/v1/write/line-protocol/flush", NULL, NULL, 0, 200);
    struct json_value *doc = it_json(&r);
    assert_string_equal(it_jstr(doc, "status"), "success");
    assert_int_equal(it_jint(doc, "flushed_records"), 3);
    json_free(&doc);
    http_resp_free(&r);
    assert_int_equal(pq_count(&srv, "hours", "fb", NULL), 3);

    /* Invalid selectors. */
    r = it_post(&srv, "/api/v1/write/flush?database=no%20pe", NULL, NULL, 0, 400);
    http_resp_free(&r);
    r = it_post(&srv, "/api/v1/write/flush?measurement=1x", NULL, NULL, 0, 400);
    http_resp_free(&r);
}

/* --- partial writes and empty bodies --------------------------------------------- */

static void test_partial_write_exact_response(void **state)
{
    (void)state;
    const char *body = "cpu,host=a usage=1.5 1700000000000000000\n"
                       "cpu,host=a usage=abc\n"
                       "cpu,host=b usage=2 1700000001000000000\n";
    struct http_resp r = it_post(&srv, "/write?db=pw", NULL, body, strlen(body), 400);
    const char *msg = "partial write: unable to parse 'cpu,host=a usage=abc': invalid field value "
                      "for key \"usage\" dropped=1";
    char v[600];
    assert_true(http_resp_header(&r, "X-Influxdb-Error", v, sizeof(v)));
    assert_string_equal(v, msg);
    assert_true(http_resp_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    struct json_value *doc = it_json(&r);
    assert_int_equal(json_obj_len(doc), 9);
    bool b = true;
    assert_true(json_as_bool(json_obj_get(doc, "success"), &b));
    assert_false(b);
    assert_string_equal(it_jstr(doc, "code"), "invalid");
    assert_string_equal(it_jstr(doc, "error"), msg);
    assert_string_equal(it_jstr(doc, "message"), msg);
    assert_string_equal(it_jstr(doc, "detail"), msg);
    assert_int_equal(it_jint(doc, "lines_received"), 3);
    assert_int_equal(it_jint(doc, "lines_accepted"), 2);
    assert_int_equal(it_jint(doc, "lines_rejected"), 1);
    const struct json_value *errs = json_obj_get(doc, "errors");
    assert_int_equal(json_arr_len(errs), 1);
    const struct json_value *e0 = json_arr_at(errs, 0);
    assert_int_equal(json_obj_len(e0), 3);
    assert_int_equal(it_jint(e0, "line"), 2);
    assert_string_equal(it_jstr(e0, "error"), "invalid field value for key \"usage\"");
    assert_string_equal(it_jstr(e0, "text"), "cpu,host=a usage=abc");
    json_free(&doc);
    http_resp_free(&r);

    /* The valid lines were kept (not rolled back). */
    assert_int_equal(it_flush(&srv, "pw", NULL), 2);
    assert_pq_rows(&srv, "pw", "cpu", "SELECT host, usage, epoch_us(time) FROM t ORDER BY time",
                   "a|1.5|1700000000000000\nb|2.0|1700000001000000\n");
}

static void test_partial_write_counts_and_truncation(void **state)
{
    (void)state;
    /* Physical line numbers count blank and comment lines; only the first
     * max_reported_errors (3 here) are listed, the counts are exact. */
    const char *body = "# header\n"
                       "m2,t=1 v=1i 1\n"
                       "\n"
                       "bad line\n"
                       "m2 v=notnum\n"
                       "m2,t=2 v=2i 2\n"
                       "m2 v=1i notatime\n"
                       "m2 time=1i 3\n"
                       "m2,t= v=1i";
    struct http_resp r = it_post(&srv, "/write?db=pw2", NULL, body, strlen(body), 400);
    struct json_value *doc = it_json(&r);
    assert_int_equal(it_jint(doc, "lines_received"), 7);
    assert_int_equal(it_jint(doc, "lines_accepted"), 2);
    assert_int_equal(it_jint(doc, "lines_rejected"), 5);
    const struct json_value *errs = json_obj_get(doc, "errors");
    assert_int_equal(json_arr_len(errs), 3);
    assert_int_equal(it_jint(json_arr_at(errs, 0), "line"), 4);
    assert_string_equal(it_jstr(json_arr_at(errs, 0), "text"), "bad line");
    assert_int_equal(it_jint(json_arr_at(errs, 1), "line"), 5);
    assert_string_equal(it_jstr(json_arr_at(errs, 1), "text"), "m2 v=notnum");
    assert_int_equal(it_jint(json_arr_at(errs, 2), "line"), 7);
    const char *msg = it_jstr(doc, "error");
    const char *pre = "partial write: unable to parse 'bad line': ";
    assert_int_equal(strncmp(msg, pre, strlen(pre)), 0);
    assert_true(strlen(msg) > 10);
    assert_string_equal(msg + strlen(msg) - 10, " dropped=5");
    char hdr[600];
    assert_true(http_resp_header(&r, "X-Influxdb-Error", hdr, sizeof(hdr)));
    assert_string_equal(hdr, msg);
    json_free(&doc);
    http_resp_free(&r);
    assert_int_equal(it_flush(&srv, "pw2", NULL), 2);
    assert_pq_rows(&srv, "pw2", "m2", "SELECT t, v FROM t ORDER BY time", "1|1\n2|2\n");

    /* A long bad line: text truncated to 256 bytes, summary quote to 200,
     * the header stays ≤ 512 bytes and on one line. */
    char longline[400];
    memcpy(longline, "m3 v=", 5);
    for (size_t i = 5; i < 300; i++)
        longline[i] = (char)('a' + i % 26);
    longline[300] = '\0';
    r = it_post(&srv, "/write?db=pw2", NULL, longline, 300, 400);
    doc = it_json(&r);
    const char *text = it_jstr(json_arr_at(json_obj_get(doc, "errors"), 0), "text");
    assert_int_equal(strlen(text), 256);
    assert_int_equal(strncmp(text, longline, 256), 0);
    msg = it_jstr(doc, "error");
    char quoted[220];
    snprintf(quoted, sizeof(quoted), "'%.200s'", longline);
    assert_non_null(strstr(msg, quoted));
    assert_true(http_resp_header(&r, "X-Influxdb-Error", hdr, sizeof(hdr)));
    assert_true(strlen(hdr) <= 512);
    assert_null(strchr(hdr, '\n'));
    json_free(&doc);
    http_resp_free(&r);
}

static void test_no_records_and_empty_body(void **state)
{
    (void)state;
    static const char *const bodies[] = {"# only a comment\n", "# a\n\n   \n\t# b\r\n", "\n\n\n",
                                         "   "};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct http_resp r =
            it_post(&srv, "/write?db=nothing", NULL, bodies[i], strlen(bodies[i]), 400);
        struct json_value *doc = it_json(&r);
        assert_string_equal(it_jstr(doc, "error"), "No valid records in request");
        assert_string_equal(it_jstr(doc, "code"), "invalid");
        json_free(&doc);
        http_resp_free(&r);
    }
    static const char *const paths[] = {"/write", "/api/v2/write", "/api/v1/write/line-protocol",
                                        "/api/v1/write/msgpack"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct http_resp r = it_post(&srv, paths[i], NULL, "", 0, 400);
        struct json_value *doc = it_json(&r);
        assert_string_equal(it_jstr(doc, "error"), "Empty request body");
        assert_string_equal(it_jstr(doc, "detail"), "Empty request body");
        assert_string_equal(it_jstr(doc, "code"), "invalid");
        json_free(&doc);
        http_resp_free(&r);
    }
    assert_int_equal(it_flush(&srv, "nothing", NULL), 0);
    assert_false(dir_exists(&srv, "nothing"));
}

static void test_chunked_and_expect_continue(void **state)
{
    (void)state;
    const char *body = "chk v=1i 1700000000000000000\nchk v=2i 1700000001000000000\n";
    const char *hc[] = {"Transfer-Encoding: chunked", NULL};
    struct http_resp r = it_post(&srv, "/write?db=chunked", hc, body, strlen(body), 204);
    http_resp_free(&r);
    const char *he[] = {"Expect: 100-continue", NULL};
    const char *body2 = "chk v=3i 1700000002000000000\n";
    r = it_post(&srv, "/write?db=chunked", he, body2, strlen(body2), 204);
    http_resp_free(&r);
    assert_int_equal(it_flush(&srv, "chunked", NULL), 3);
    assert_pq_rows(&srv, "chunked", "chk", "SELECT v FROM t ORDER BY time", "1\n2\n3\n");
}

/* --- stats and health ------------------------------------------------------------ */

static void test_stats_and_health(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/api/v1/write/stats");
    assert_status(r, 200);
    struct json_value *doc = it_json(&r);
    int64_t req0 = it_jint(json_obj_get(doc, "stats"), "total_requests");
    int64_t rec0 = it_jint(json_obj_get(doc, "stats"), "total_records");
    int64_t rej0 = it_jint(json_obj_get(doc, "stats"), "total_lines_rejected");
    json_free(&doc);
    http_resp_free(&r);

    it_write_ok(&srv, "/write?db=st&precision=s",
                "s1 v=1i 1\ns1 v=2i 2\ns1 v=3i 3\ns1 v=4i 4\ns1 v=5i 5\n");
    r = it_post(&srv, "/write?db=st&precision=s", NULL, "s1 v=6i 6\ns1 v=x 7\n", 19, 400);
    http_resp_free(&r);
    assert_int_equal(it_held_rows(&srv, "st/s1"), 6);

    r = http_get(&srv, "/api/v1/write/line-protocol/stats");
    assert_status(r, 200);
    doc = it_json(&r);
    assert_string_equal(it_jstr(doc, "status"), "success");
    const char *ts = it_jstr(doc, "timestamp");
    assert_int_equal(ts[strlen(ts) - 1], 'Z');
    const struct json_value *st = json_obj_get(doc, "stats");
    assert_int_equal(it_jint(st, "total_requests"), req0 + 2);
    assert_int_equal(it_jint(st, "total_records"), rec0 + 6);
    assert_int_equal(it_jint(st, "total_lines_rejected"), rej0 + 1);
    (void)it_jint(st, "total_bytes");
    (void)it_jint(st, "total_bytes_gzipped");
    (void)it_jint(st, "total_errors");
    const struct json_value *bs = json_obj_get(doc, "buffer_stats");
    (void)it_jint(bs, "total_records_buffered");
    (void)it_jint(bs, "total_records_written");
    (void)it_jint(bs, "total_flushes");
    assert_int_equal(it_jint(bs, "total_records_dropped"), 0);
    assert_int_equal(it_jint(bs, "buffer_hard_limit"), 100000); /* 2 × buffer_size */
    double age = -1;
    assert_true(json_as_f64(json_obj_get(bs, "oldest_buffer_age_seconds"), &age));
    assert_true(age >= 0 && age < 3600);
    bool wal = true;
    assert_true(json_as_bool(json_obj_get(bs, "wal_enabled"), &wal));
    assert_false(wal);
    int64_t held = 0;
    assert_true(
        json_as_i64(json_obj_get(json_obj_get(bs, "current_buffer_sizes"), "st/s1"), &held));
    assert_int_equal(held, 6);
    json_free(&doc);
    http_resp_free(&r);

    assert_int_equal(it_flush(&srv, "st", "s1"), 6);
    assert_int_equal(it_held_rows(&srv, "st/s1"), 0);

    static const char *const hp[] = {"/api/v1/write/health", "/api/v1/write/line-protocol/health"};
    for (size_t i = 0; i < 2; i++) {
        r = http_get(&srv, hp[i]);
        assert_status(r, 200);
        doc = it_json(&r);
        assert_string_equal(it_jstr(doc, "status"), "healthy");
        assert_string_equal(it_jstr(doc, "service"), "line_protocol_writer");
        assert_int_equal(json_type(json_obj_get(doc, "stats")), JSON_OBJECT);
        json_free(&doc);
        http_resp_free(&r);
    }
    r = http_get(&srv, "/api/v1/write/msgpack/stats");
    assert_status(r, 200);
    doc = it_json(&r);
    (void)it_jint(json_obj_get(doc, "decoder"), "total_decoded");
    (void)it_jint(json_obj_get(doc, "decoder"), "total_errors");
    assert_int_equal(json_type(json_obj_get(doc, "buffer")), JSON_OBJECT);
    json_free(&doc);
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/write/msgpack/spec");
    assert_status(r, 200);
    doc = it_json(&r);
    assert_string_equal(it_jstr(doc, "version"), "2.0");
    assert_string_equal(it_jstr(doc, "protocol"), "MessagePack");
    assert_string_equal(it_jstr(doc, "endpoint"), "/api/v1/write/msgpack");
    static const char *const keys[] = {"content_type", "compression",      "authentication",
                                       "format",       "example_columnar", "example_row"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_non_null(json_obj_get(doc, keys[i]));
    json_free(&doc);
    http_resp_free(&r);
}

/* --- graceful shutdown ----------------------------------------------------------- */

static void test_shutdown_flushes_buffers(void **state)
{
    (void)state;
    arc_start(&solo, srv_env);
    it_write_ok(&solo, "/write?db=sd",
                "a,k=x v=1i 1700000000000000000\na,k=y v=2i 1700000000000000000\n"
                "a,k=z v=3i 1700003600000000000\n");
    it_write_ok(&solo, "/api/v1/write/line-protocol", "b f=0.5 1700000000000000000\nb f=1.5\n");
    assert_int_equal(pq_files(&solo, "sd", "a", NULL), 0);
    assert_int_equal(it_held_rows(&solo, "sd/a"), 3);
    arc_stop(&solo, 15000); /* asserts exit status 0 */
    assert_true(arc_log_contains(&solo, "shutdown complete"));
    assert_int_equal(pq_files(&solo, "sd", "a", NULL), 2); /* two hours */
    assert_pq_rows(&solo, "sd", "a", "SELECT k, v FROM t ORDER BY k", "x|1\ny|2\nz|3\n");
    assert_pq_rows(&solo, "default", "b", "SELECT f FROM t ORDER BY f", "0.5\n1.5\n");
    arc_cleanup(&solo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_select_database),
        cmocka_unit_test(test_invalid_database_400),
        cmocka_unit_test(test_precision_every_unit),
        cmocka_unit_test(test_invalid_precision_400),
        cmocka_unit_test(test_flush_writes_hour_partitions),
        cmocka_unit_test(test_partial_write_exact_response),
        cmocka_unit_test(test_partial_write_counts_and_truncation),
        cmocka_unit_test(test_no_records_and_empty_body),
        cmocka_unit_test(test_chunked_and_expect_continue),
        cmocka_unit_test(test_stats_and_health),
    };
    const struct CMUnitTest standalone[] = {
        cmocka_unit_test_teardown(test_shutdown_flushes_buffers, kill_solo),
    };
    int failed = cmocka_run_group_tests_name("ingest", tests, setup, teardown);
    failed += cmocka_run_group_tests_name("ingest_standalone", standalone, NULL, NULL);
    return failed;
}
