/*
 * Integration tests of line protocol end to end (SPEC §2, §1.5 merge rule,
 * §2.3 type rules, §3.4 Parquet contents): escapes, string values with
 * quotes, backslashes, unicode and newlines, every number and boolean
 * spelling, invalid values, missing timestamps, comments / blank lines /
 * CRLF / no trailing newline, the max_line_bytes cap, merging, type
 * conflicts within and across requests and across a restart — and what the
 * Parquet files contain, read back both with DuckDB and with an independent
 * reader (hyparquet, tests/hyparquet/read.mjs, skipped when node or the
 * module is missing).
 */
#include "harness.h"
#include "ingest_util.h"
#include "parquet_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
                                      "ARC_INGESTION_MAX_LINE_BYTES=1024", NULL};

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

/* POSTs body to /write?db=lp&precision=s and expects `status`; returns the
 * parsed JSON for a 400 (NULL for 204). */
static struct json_value *lp_post(const char *body, long status)
{
    struct http_resp r =
        it_post(&srv, "/write?db=lp&precision=s", NULL, body, strlen(body), status);
    struct json_value *doc = status == 204 ? NULL : it_json(&r);
    http_resp_free(&r);
    return doc;
}

/* The one Parquet file of lp/<m> (fails unless there is exactly one). */
static void only_file(const char *m, char *out, size_t cap)
{
    char **files = NULL;
    size_t n = pq_files(&srv, "lp", m, &files);
    if (n != 1) {
        print_error("expected exactly one file for lp/%s, found %zu\n", m, n);
        pq_paths_free(files, n);
        fail();
    }
    snprintf(out, cap, "%s", files[0]);
    pq_paths_free(files, n);
}

static void assert_sql(const char *sql, const char *expected)
{
    char *got = pq_sql(sql);
    if (!got || strcmp(got, expected) != 0) {
        print_error("query: %s\nexpected:\n%s\ngot:\n%s\n", sql, expected, got ? got : "(error)");
        free(got);
        fail();
    }
    free(got);
}

/* --- escapes and strings --------------------------------------------------------- */

static void test_escapes_in_keys_and_values(void **state)
{
    (void)state;
    lp_post("esc,tag\\ key\\,\\=k=tag\\ val\\,\\=v,path=c:\\\\dir\\x,uni=Z\xc3\xbcrich "
            "field\\ key\\,\\=f=\"s1\",n=1i 1\n",
            204);
    /* Measurement escapes only ever produce names §0.4 forbids. */
    struct json_value *doc =
        lp_post("esc\\ x v=1i 2\nesc\\,y v=1i 3\nes\\c v=1i 4\nesc n=2i 5\n", 400);
    assert_int_equal(it_jint(doc, "lines_rejected"), 3);
    assert_int_equal(it_jint(doc, "lines_accepted"), 1);
    json_free(&doc);
    assert_int_equal(it_flush(&srv, "lp", "esc"), 2);
    assert_pq_rows(&srv, "lp", "esc",
                   "SELECT \"tag key,=k\", path, uni, \"field key,=f\", n FROM t ORDER BY time",
                   "tag val,=v|c:\\\\dir\\x|Z\xc3\xbcrich|s1|1\nNULL|NULL|NULL|NULL|2\n");
    /* Tag names in the metadata, sorted byte-wise. */
    char f[1024], sql[1400];
    char **files = NULL;
    size_t nf = pq_files(&srv, "lp", "esc", &files);
    assert_int_equal(nf, 1);
    snprintf(f, sizeof(f), "%s", files[0]);
    pq_paths_free(files, nf);
    snprintf(sql, sizeof(sql),
             "SELECT decode(value) FROM parquet_kv_metadata('%s') WHERE decode(key) = 'arc:tags'",
             f);
    assert_sql(sql, "path,tag key,=k,uni\n");
}

static void test_string_field_values(void **state)
{
    (void)state;
    const char *body =
        "str s=\"he said \\\"hi\\\" and \\\\ back\\\\slash \\n \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
        "\xf0\x9f\x8e\x89\" 1\n"
        "str s=\"\" 2\n"
        "str s=\"multi\nline, with = and space\" 3\n"
        "str s=\"trail\\\\\" 4\n"
        "str s=\"comma,eq=sp ace\\t\" 5\n"
        "str s=\"bad\xff\" 6\n";
    lp_post(body, 204);
    assert_int_equal(it_flush(&srv, "lp", "str"), 6);
    static const char *const want[] = {
        "he said \"hi\" and \\ back\\slash \\n \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89",
        "",
        "multi\nline, with = and space",
        "trail\\",
        "comma,eq=sp ace\\t",
        "bad\xef\xbf\xbd", /* invalid UTF-8 → U+FFFD */
    };
    for (size_t i = 0; i < 6; i++) {
        char sql[200], expected[200];
        snprintf(sql, sizeof(sql),
                 "SELECT s, octet_length(encode(s)) FROM t WHERE epoch(time) = %zu", i + 1);
        snprintf(expected, sizeof(expected), "%s|%zu\n", want[i], strlen(want[i]));
        assert_pq_rows(&srv, "lp", "str", sql, expected);
    }
}

/* --- numbers and booleans ---------------------------------------------------------- */

static void test_float_values_bit_exact(void **state)
{
    (void)state;
    static const char *const vals[] = {"0.1",
                                       "1e-300",
                                       "-0.0",
                                       "1.7976931348623157e308",
                                       "5e-324",
                                       "-1.5",
                                       ".5",
                                       "1e9",
                                       "6.02E+23",
                                       "1",
                                       "-2.2250738585072014e-308",
                                       "123456789.123456789",
                                       "-0",
                                       "2.5e-5",
                                       "1E5",
                                       "-.75e+2"};
    const size_t n = sizeof(vals) / sizeof(vals[0]);
    char body[2048];
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "num f=%s %zu\n", vals[i], i + 1);
    lp_post(body, 204);
    assert_int_equal(it_flush(&srv, "lp", "num"), (int64_t)n);
    double got[32];
    assert_int_equal(pq_doubles(&srv, "lp", "num", "SELECT f FROM t ORDER BY time", got, 32),
                     (long)n);
    for (size_t i = 0; i < n; i++) {
        double want = strtod(vals[i], NULL);
        if (memcmp(&want, &got[i], sizeof(double)) != 0) {
            print_error("value %s: stored %.17g (bits differ)\n", vals[i], got[i]);
            fail();
        }
    }
    assert_pq_rows(&srv, "lp", "num", "SELECT DISTINCT typeof(f) FROM t", "DOUBLE\n");
}

static void test_int_uint_bool_values(void **state)
{
    (void)state;
    lp_post("ints i=-9223372036854775808i,u=18446744073709551615u 1\n"
            "ints i=9223372036854775807i,u=0u 2\n"
            "ints i=0i,u=42u 3\n"
            "ints i=-7i 4\n",
            204);
    assert_int_equal(it_flush(&srv, "lp", "ints"), 4);
    assert_pq_rows(&srv, "lp", "ints", "SELECT i, u, typeof(i), typeof(u) FROM t ORDER BY time",
                   "-9223372036854775808|18446744073709551615|BIGINT|UBIGINT\n"
                   "9223372036854775807|0|BIGINT|UBIGINT\n"
                   "0|42|BIGINT|UBIGINT\n"
                   "-7|NULL|BIGINT|UBIGINT\n");

    static const char *const spell[] = {"t", "T", "true",  "True",  "TRUE",
                                        "f", "F", "false", "False", "FALSE"};
    char body[512];
    size_t o = 0;
    for (size_t i = 0; i < 10; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "bools b=%s %zu\n", spell[i], i + 1);
    lp_post(body, 204);
    assert_int_equal(it_flush(&srv, "lp", "bools"), 10);
    assert_pq_rows(&srv, "lp", "bools",
                   "SELECT string_agg(b::VARCHAR, ',' ORDER BY time), "
                   "any_value(typeof(b)) FROM t",
                   "true,true,true,true,true,false,false,false,false,false|BOOLEAN\n");
}

static void test_invalid_values_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "bad v=9223372036854775808i",
        "bad v=-9223372036854775809i",
        "bad v=18446744073709551616u",
        "bad v=-1u",
        "bad v=NaN",
        "bad v=Inf",
        "bad v=-Inf",
        "bad v=0x1p3",
        "bad v=+1",
        "bad v=abc",
        "bad v=tRUE",
        "bad v=1.5i",
        "bad v=1..2",
        "bad v=",
        "bad",
        "bad,t=1",
        "bad v=1 notatime",
        "bad v=1 1.5",
        "bad,t= v=1",
        "bad,=x v=1",
        "bad =1",
        "bad v=1,",
        "bad v=1i 99999999999999999999",
        "1bad v=1",
    };
    const size_t n = sizeof(bad) / sizeof(bad[0]);
    char body[2048];
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s\n", bad[i]);
    o += (size_t)snprintf(body + o, sizeof(body) - o, "bad v=1i 1\n");
    struct json_value *doc = lp_post(body, 400);
    assert_int_equal(it_jint(doc, "lines_received"), (int64_t)n + 1);
    assert_int_equal(it_jint(doc, "lines_accepted"), 1);
    assert_int_equal(it_jint(doc, "lines_rejected"), (int64_t)n);
    const struct json_value *errs = json_obj_get(doc, "errors");
    assert_int_equal(json_arr_len(errs), n);
    for (size_t i = 0; i < n; i++) {
        const struct json_value *e = json_arr_at(errs, i);
        if (it_jint(e, "line") != (int64_t)i + 1 || strcmp(it_jstr(e, "text"), bad[i]) != 0) {
            print_error("error %zu: line %lld text '%s', want line %zu '%s'\n", i,
                        (long long)it_jint(e, "line"), it_jstr(e, "text"), i + 1, bad[i]);
            fail();
        }
        assert_true(strlen(it_jstr(e, "error")) > 0);
    }
    json_free(&doc);
    assert_int_equal(it_flush(&srv, "lp", "bad"), 1);
    assert_pq_rows(&srv, "lp", "bad", "SELECT v, epoch(time) FROM t", "1|1.0\n");
}

/* --- structure: timestamps, comments, CRLF, merging, limits -------------------------- */

static void test_missing_timestamp_uses_receipt_time(void **state)
{
    (void)state;
    int64_t t0 = it_now_us();
    it_write_ok(&srv, "/write?db=lp", "now,k=a v=1i\nnow,k=b v=2i\nnow,k=a w=3i\nnow,k=c v=4i 5");
    int64_t t1 = it_now_us();
    assert_int_equal(it_flush(&srv, "lp", "now"), 3); /* the two k=a lines merge */
    char *rows = pq_rows(&srv, "lp", "now",
                         "SELECT k, v, w, epoch_us(time) FROM t WHERE k <> 'c' ORDER BY k");
    assert_non_null(rows);
    char ka[8], kb[8], va[8], vb[8], wa[8], wb[8];
    long long ta = 0, tb = 0;
    assert_int_equal(sscanf(rows, "%7[^|]|%7[^|]|%7[^|]|%lld\n%7[^|]|%7[^|]|%7[^|]|%lld", ka, va,
                            wa, &ta, kb, vb, wb, &tb),
                     8);
    free(rows);
    assert_string_equal(ka, "a");
    assert_string_equal(va, "1");
    assert_string_equal(wa, "3");
    assert_string_equal(kb, "b");
    assert_string_equal(wb, "NULL");
    assert_int_equal(ta, tb); /* one receipt time for the whole request */
    assert_true(ta >= t0 && ta <= t1);
    assert_pq_rows(&srv, "lp", "now", "SELECT epoch_us(time) FROM t WHERE k = 'c'", "0\n");
}

static void test_comments_blank_crlf_whitespace(void **state)
{
    (void)state;
    lp_post("# comment\r\n\r\n  fmt,t=a v=1i 1\r\n\t fmt,t=b v=2i 2 \t\r\n   # indented\n"
            "fmt,t=d  v=4i   4\r\n"
            "fmt,t=c v=3i 3",
            204);
    assert_int_equal(it_flush(&srv, "lp", "fmt"), 4);
    assert_pq_rows(&srv, "lp", "fmt", "SELECT t, octet_length(encode(t)), v FROM t ORDER BY time",
                   "a|1|1\nb|1|2\nc|1|3\nd|1|4\n");
}

static void test_multiline_string_and_open_quote(void **state)
{
    (void)state;
    /* A quoted string may span physical lines; the record counts from its
     * first line. */
    struct json_value *doc = lp_post("ml s=\"one\ntwo\nthree\" 1\n"
                                     "ml v=x 2\n"
                                     "ml s=\"x\" 3\n",
                                     400);
    assert_int_equal(it_jint(doc, "lines_accepted"), 2);
    assert_int_equal(it_jint(doc, "lines_rejected"), 1);
    assert_int_equal(it_jint(json_arr_at(json_obj_get(doc, "errors"), 0), "line"), 4);
    json_free(&doc);
    /* An open quote at the end of the body: that record is rejected and
     * parsing resumes at the physical line after its first line. */
    doc = lp_post("ml2 v=1i 1\nml2 s=\"open 2\nml2 v=2i 3\nml2 v=3i 4", 400);
    assert_int_equal(it_jint(doc, "lines_rejected"), 1);
    assert_int_equal(it_jint(doc, "lines_accepted"), 3);
    assert_int_equal(it_jint(json_arr_at(json_obj_get(doc, "errors"), 0), "line"), 2);
    json_free(&doc);
    assert_int_equal(it_flush(&srv, "lp", NULL) >= 5, 1);
    assert_pq_rows(&srv, "lp", "ml", "SELECT s FROM t ORDER BY time", "one\ntwo\nthree\nx\n");
    assert_pq_rows(&srv, "lp", "ml2", "SELECT v FROM t ORDER BY time", "1\n2\n3\n");
}

static void test_line_over_max_line_bytes(void **state)
{
    (void)state;
    /* max_line_bytes = 1024 on this server. */
    size_t big = 5000;
    char *body = malloc(big + 200);
    size_t o = (size_t)sprintf(body, "huge v=1i 1\nhuge s=\"");
    memset(body + o, 'x', big);
    o += big;
    o += (size_t)sprintf(body + o, "\" 2\nhuge v=3i 3\n");
    struct http_resp r = it_post(&srv, "/write?db=lp&precision=s", NULL, body, o, 400);
    struct json_value *doc = it_json(&r);
    assert_int_equal(it_jint(doc, "lines_accepted"), 2);
    assert_int_equal(it_jint(doc, "lines_rejected"), 1);
    const struct json_value *e = json_arr_at(json_obj_get(doc, "errors"), 0);
    assert_int_equal(it_jint(e, "line"), 2);
    assert_int_equal(strlen(it_jstr(e, "text")), 256);
    json_free(&doc);
    http_resp_free(&r);
    /* A line of exactly 1024 bytes is fine. */
    o = (size_t)sprintf(body, "huge s=\"");
    memset(body + o, 'y', 1024 - o - 3);
    o = 1024 - 3;
    o += (size_t)sprintf(body + o, "\" 4");
    assert_int_equal(o, 1024);
    r = it_post(&srv, "/write?db=lp&precision=s", NULL, body, o, 204);
    http_resp_free(&r);
    free(body);
    assert_int_equal(it_flush(&srv, "lp", "huge"), 3);
    assert_pq_rows(&srv, "lp", "huge", "SELECT v, length(s) FROM t ORDER BY time",
                   "1|NULL\n3|NULL\nNULL|1013\n");
}

static void test_merge_duplicates_and_key_rules(void **state)
{
    (void)state;
    /* Same measurement, tag set and timestamp within one request merge
     * (later line wins per field); across requests they do not. */
    lp_post("mg,h=a x=1i 10\nmg,h=b x=5i 10\nmg,h=a y=2i 10\nmg,h=a x=3i 10\n", 204);
    lp_post("mg,h=a x=7i 10\n", 204);
    /* Duplicate keys in a line: the last wins. */
    lp_post("dup,h=a,h=b x=1i,x=2i 1\n", 204);
    /* A field named like a tag of the same line becomes <key>_value. */
    lp_post("kv,host=a host=1i,v=2i 1\n", 204);
    /* `time` as a tag or field key is rejected. */
    struct json_value *doc = lp_post("tk,time=a v=1i 1\ntk time=1i 2\ntk v=1i 3\n", 400);
    assert_int_equal(it_jint(doc, "lines_rejected"), 2);
    json_free(&doc);
    it_flush(&srv, "lp", NULL);
    assert_pq_rows(&srv, "lp", "mg", "SELECT h, x, y FROM t ORDER BY h, x",
                   "a|3|2\na|7|NULL\nb|5|NULL\n");
    assert_pq_rows(&srv, "lp", "dup", "SELECT h, x FROM t", "b|2\n");
    assert_pq_rows(&srv, "lp", "kv", "SELECT host, host_value, v FROM t", "a|1|2\n");
    assert_pq_rows(&srv, "lp", "tk", "SELECT v FROM t", "1\n");
}

/* --- type conflicts ------------------------------------------------------------------ */

static const char *first_error(const struct json_value *doc)
{
    return it_jstr(json_arr_at(json_obj_get(doc, "errors"), 0), "error");
}

static void test_type_conflicts(void **state)
{
    (void)state;
    lp_post("tc1 v=1i 1\n", 204);
    struct json_value *doc = lp_post("tc1 v=1.5 2\ntc1 v=2i 3\n", 400);
    assert_int_equal(it_jint(doc, "lines_rejected"), 1);
    assert_int_equal(it_jint(json_arr_at(json_obj_get(doc, "errors"), 0), "line"), 1);
    assert_string_equal(first_error(doc), "field type conflict: field \"v\" is integer, got float");
    assert_non_null(strstr(it_jstr(doc, "error"), "field type conflict"));
    json_free(&doc);

    /* Within one request. */
    doc = lp_post("tc2 v=1i 1\ntc2 v=2.5 2\n", 400);
    assert_int_equal(it_jint(doc, "lines_accepted"), 1);
    assert_non_null(strstr(first_error(doc), "field type conflict"));
    json_free(&doc);

    /* A tag counts as a string column. */
    lp_post("tc3,host=a v=1i 1\n", 204);
    doc = lp_post("tc3 host=5i 2\n", 400);
    assert_non_null(strstr(first_error(doc), "field type conflict"));
    json_free(&doc);
    lp_post("tc4 s=\"x\" 1\n", 204);
    lp_post("tc4,s=y v=1i 2\n", 204); /* string field then tag: both strings */
    doc = lp_post("tc4 s=1i 3\n", 400);
    assert_non_null(strstr(first_error(doc), "field type conflict"));
    json_free(&doc);

    /* Unsigned vs signed, bool vs float. */
    lp_post("tc5 u=1u,b=true 1\n", 204);
    doc = lp_post("tc5 u=1i 2\ntc5 b=1 3\ntc5 u=2u,b=f 4\n", 400);
    assert_int_equal(it_jint(doc, "lines_rejected"), 2);
    assert_int_equal(it_jint(doc, "lines_accepted"), 1);
    json_free(&doc);

    /* Still enforced after the rows were flushed (the catalog keeps types). */
    it_flush(&srv, "lp", NULL);
    doc = lp_post("tc1 v=\"str\" 9\n", 400);
    assert_string_equal(first_error(doc),
                        "field type conflict: field \"v\" is integer, got string");
    json_free(&doc);
    assert_pq_rows(&srv, "lp", "tc1", "SELECT v, typeof(v) FROM t ORDER BY time",
                   "1|BIGINT\n2|BIGINT\n");
}

static void test_type_conflict_survives_restart(void **state)
{
    (void)state;
    arc_start(&solo, srv_env);
    it_write_ok(&solo, "/write?db=rs&precision=s", "rs,h=a v=1i,w=1.5 1\n");
    it_write_ok(&solo, "/write?db=rs&precision=s", "rs2 n=1i 1\n"); /* never flushed before stop */
    assert_int_equal(it_flush(&solo, "rs", "rs"), 1);
    arc_stop(&solo, 15000);
    arc_restart(&solo, srv_env);
    static const char *const bad[] = {"rs v=2.5 2", "rs w=2i 3", "rs h=1i 4", "rs2 n=1.5 2"};
    for (size_t i = 0; i < 4; i++) {
        struct http_resp r =
            it_post(&solo, "/write?db=rs&precision=s", NULL, bad[i], strlen(bad[i]), 400);
        assert_body_contains(r, "field type conflict");
        http_resp_free(&r);
    }
    it_write_ok(&solo, "/write?db=rs&precision=s", "rs,h=b v=3i,w=4 5\nrs2 n=2i 2\n");
    it_flush(&solo, NULL, NULL);
    assert_pq_rows(&solo, "rs", "rs", "SELECT h, v, w FROM t ORDER BY time", "a|1|1.5\nb|3|4.0\n");
    assert_pq_rows(&solo, "rs", "rs2", "SELECT n FROM t ORDER BY time", "1\n2\n");
    arc_stop(&solo, 15000);
    arc_cleanup(&solo);
}

/* --- Parquet contents: DuckDB and hyparquet ---------------------------------------- */

/* The "pqv" rows, written shuffled; expected in time order. */
static const char *const pqv_lines =
    "pqv,host=h1 f=1.7976931348623157e308,i=0i,u=1u,b=T,s=\"multi\nline\" 4\n"
    "pqv,host=h1 f=0.1,i=-9223372036854775808i,u=18446744073709551615u,b=true,"
    "s=\"he said \\\"hi\\\" \\\\ \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89\" 1\n"
    "pqv f=-0.0 3\n"
    "pqv,host=h3 f=5e-324,i=-1i,b=false,s=\"tab\\t literal\" 5\n"
    "pqv,host=h2 f=1e-300,i=9223372036854775807i,u=0u,b=FALSE,s=\"\" 2\n";

static const struct pqv_row {
    long long sec;
    const char *host, *f, *i, *u, *b, *s; /* NULL = SQL NULL */
} pqv_rows[] = {
    {1, "h1", "0.1", "-9223372036854775808", "18446744073709551615", "true",
     "he said \"hi\" \\ \xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89"},
    {2, "h2", "1e-300", "9223372036854775807", "0", "false", ""},
    {3, NULL, "-0.0", NULL, NULL, NULL, NULL},
    {4, "h1", "1.7976931348623157e308", "0", "1", "true", "multi\nline"},
    {5, "h3", "5e-324", "-1", NULL, "false", "tab\\t literal"},
};

static void write_pqv(char *file, size_t cap)
{
    static bool written;
    if (!written) {
        lp_post(pqv_lines, 204);
        assert_int_equal(it_flush(&srv, "lp", "pqv"), 5);
        written = true;
    }
    only_file("pqv", file, cap);
}

static void test_parquet_contents_duckdb(void **state)
{
    (void)state;
    char f[1024], sql[1600];
    write_pqv(f, sizeof(f));
    /* Column order (time, then byte-wise names) and DuckDB types. */
    snprintf(sql, sizeof(sql),
             "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
             "read_parquet('%s'))",
             f);
    assert_sql(sql, "time|TIMESTAMP WITH TIME ZONE\nb|BOOLEAN\nf|DOUBLE\nhost|VARCHAR\ni|BIGINT\n"
                    "s|VARCHAR\nu|UBIGINT\n");
    /* Physical layout of the time and unsigned columns. */
    snprintf(sql, sizeof(sql),
             "SELECT name, type, converted_type, logical_type LIKE '%%isAdjustedToUTC=1%%' AND "
             "logical_type LIKE '%%MICROS%%' FROM parquet_schema('%s') WHERE name IN ('time', "
             "'u', 'i', 'f', 'b', 's') ORDER BY name",
             f);
    assert_sql(sql,
               "b|BOOLEAN|NULL|NULL\nf|DOUBLE|NULL|NULL\ni|INT64|INT_64|NULL\n"
               "s|BYTE_ARRAY|UTF8|NULL\ntime|INT64|TIMESTAMP_MICROS|true\nu|INT64|UINT_64|NULL\n");
    /* Rows stored sorted by time (file order), values exact, NULLs where a
     * row lacks a column. */
    snprintf(sql, sizeof(sql),
             "SELECT epoch_us(time), host, i, u, b, s FROM read_parquet('%s', file_row_number = "
             "true) ORDER BY file_row_number",
             f);
    char want[1024];
    size_t o = 0;
    for (size_t k = 0; k < 5; k++) {
        const struct pqv_row *r = &pqv_rows[k];
        o += (size_t)snprintf(want + o, sizeof(want) - o, "%lld|%s|%s|%s|%s|%s\n", r->sec * 1000000,
                              r->host ? r->host : "NULL", r->i ? r->i : "NULL",
                              r->u ? r->u : "NULL", r->b ? r->b : "NULL", r->s ? r->s : "NULL");
    }
    assert_sql(sql, want);
    double d[8];
    assert_int_equal(pq_doubles(&srv, "lp", "pqv", "SELECT f FROM t ORDER BY time", d, 8), 5);
    for (size_t k = 0; k < 5; k++) {
        double w = strtod(pqv_rows[k].f, NULL);
        assert_memory_equal(&w, &d[k], sizeof(double));
    }
    /* arc:tags metadata, min/max statistics, one row group. */
    snprintf(sql, sizeof(sql),
             "SELECT decode(value) FROM parquet_kv_metadata('%s') WHERE decode(key) = 'arc:tags'",
             f);
    assert_sql(sql, "host\n");
    snprintf(sql, sizeof(sql),
             "SELECT path_in_schema, stats_min_value, stats_max_value FROM parquet_metadata('%s') "
             "WHERE path_in_schema IN ('i', 'host') ORDER BY path_in_schema",
             f);
    assert_sql(sql, "host|h1|h3\ni|-9223372036854775808|9223372036854775807\n");
    snprintf(sql, sizeof(sql), "SELECT count(DISTINCT row_group_id) FROM parquet_metadata('%s')",
             f);
    assert_sql(sql, "1\n");
}

/* Runs node tests/hyparquet/read.mjs on file; returns its stdout (malloc'd)
 * or NULL, setting *why, when node or hyparquet is unavailable. */
static char *run_hyparquet(const char *file, const char **why)
{
    const char *src = getenv("ARC_SOURCE_DIR");
    if (!src) {
        *why = "ARC_SOURCE_DIR not set";
        return NULL;
    }
    char mod[1024], cmd[3000];
    snprintf(mod, sizeof(mod), "%s/tests/hyparquet/node_modules/hyparquet/package.json", src);
    if (access(mod, R_OK) != 0) {
        *why = "hyparquet not installed (npm install --prefix tests/hyparquet)";
        return NULL;
    }
    if (system("node --version >/dev/null 2>&1") != 0) {
        *why = "node not found";
        return NULL;
    }
    snprintf(cmd, sizeof(cmd), "node '%s/tests/hyparquet/read.mjs' '%s'", src, file);
    FILE *fp = popen(cmd, "r");
    if (!fp) {
        *why = "popen failed";
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t k;
    while ((k = fread(out + len, 1, cap - 1 - len, fp)) > 0) {
        len += k;
        if (len + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    int st = pclose(fp);
    if (st != 0) {
        print_error("hyparquet reader failed (status %d): %s\n", st, out);
        free(out);
        fail();
    }
    return out;
}

static void assert_jval(const struct json_value *row, const char *key, const char *want)
{
    const struct json_value *v = json_obj_get(row, key);
    if (!want) {
        if (!json_is_null(v)) {
            print_error("column %s: expected null\n", key);
            fail();
        }
        return;
    }
    if (!strcmp(want, "true") || !strcmp(want, "false")) {
        bool b;
        assert_true(json_as_bool(v, &b));
        assert_int_equal(b, !strcmp(want, "true"));
        return;
    }
    const char *s = json_as_str(v, NULL);
    if (!s || strcmp(s, want) != 0) {
        print_error("column %s: expected '%s', got '%s'\n", key, want, s ? s : "(not a string)");
        fail();
    }
}

static void test_parquet_contents_hyparquet(void **state)
{
    (void)state;
    char f[1024];
    write_pqv(f, sizeof(f));
    const char *why = NULL;
    char *out = run_hyparquet(f, &why);
    if (!out) {
        print_message("SKIP hyparquet cross-check: %s\n", why);
        skip();
    }
    struct http_resp fake = {.body = out, .len = strlen(out)};
    struct json_value *doc = it_json(&fake);
    assert_string_equal(it_jstr(doc, "num_rows"), "5");
    /* Schema as an independent reader sees it. */
    const struct json_value *cols = json_obj_get(doc, "columns");
    static const char *const names[] = {"time", "b", "f", "host", "i", "s", "u"};
    static const char *const ptypes[] = {"INT64", "BOOLEAN",    "DOUBLE", "BYTE_ARRAY",
                                         "INT64", "BYTE_ARRAY", "INT64"};
    assert_int_equal(json_arr_len(cols), 7);
    for (size_t k = 0; k < 7; k++) {
        assert_string_equal(it_jstr(json_arr_at(cols, k), "name"), names[k]);
        assert_string_equal(it_jstr(json_arr_at(cols, k), "type"), ptypes[k]);
    }
    const struct json_value *lt = json_obj_get(json_arr_at(cols, 0), "logical_type");
    assert_string_equal(it_jstr(lt, "type"), "TIMESTAMP");
    assert_string_equal(it_jstr(lt, "unit"), "MICROS");
    bool utc = false;
    assert_true(json_as_bool(json_obj_get(lt, "isAdjustedToUTC"), &utc));
    assert_true(utc);
    const struct json_value *ucol = json_arr_at(cols, 6);
    const char *uct = json_as_str(json_obj_get(ucol, "converted_type"), NULL);
    const struct json_value *ult = json_obj_get(ucol, "logical_type");
    bool is_signed = true;
    assert_true((uct && !strcmp(uct, "UINT_64")) ||
                (json_as_bool(json_obj_get(ult, "isSigned"), &is_signed) && !is_signed));
    const char *sct = json_as_str(json_obj_get(json_arr_at(cols, 5), "converted_type"), NULL);
    assert_true(sct && !strcmp(sct, "UTF8"));
    assert_string_equal(it_jstr(json_obj_get(doc, "metadata"), "arc:tags"), "host");
    /* Values. */
    const struct json_value *rows = json_obj_get(doc, "rows");
    assert_int_equal(json_arr_len(rows), 5);
    for (size_t k = 0; k < 5; k++) {
        const struct json_value *row = json_arr_at(rows, k);
        const struct pqv_row *w = &pqv_rows[k];
        char ts[32];
        snprintf(ts, sizeof(ts), "%lld", w->sec * 1000000);
        assert_jval(row, "time", ts);
        assert_jval(row, "host", w->host);
        assert_jval(row, "i", w->i);
        assert_jval(row, "u", w->u);
        assert_jval(row, "b", w->b);
        assert_jval(row, "s", w->s);
        const char *fs = json_as_str(json_obj_get(row, "f"), NULL);
        assert_non_null(fs);
        double got = strtod(fs, NULL), want = strtod(w->f, NULL);
        if (memcmp(&got, &want, sizeof(double)) != 0) {
            print_error("row %zu f: hyparquet read %s, wrote %s\n", k, fs, w->f);
            fail();
        }
    }
    json_free(&doc);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_in_keys_and_values),
        cmocka_unit_test(test_string_field_values),
        cmocka_unit_test(test_float_values_bit_exact),
        cmocka_unit_test(test_int_uint_bool_values),
        cmocka_unit_test(test_invalid_values_rejected),
        cmocka_unit_test(test_missing_timestamp_uses_receipt_time),
        cmocka_unit_test(test_comments_blank_crlf_whitespace),
        cmocka_unit_test(test_multiline_string_and_open_quote),
        cmocka_unit_test(test_line_over_max_line_bytes),
        cmocka_unit_test(test_merge_duplicates_and_key_rules),
        cmocka_unit_test(test_type_conflicts),
        cmocka_unit_test(test_parquet_contents_duckdb),
        cmocka_unit_test(test_parquet_contents_hyparquet),
    };
    const struct CMUnitTest standalone[] = {
        cmocka_unit_test_teardown(test_type_conflict_survives_restart, kill_solo),
    };
    int failed = cmocka_run_group_tests_name("ingest_lp", tests, setup, teardown);
    failed += cmocka_run_group_tests_name("ingest_lp_standalone", standalone, NULL, NULL);
    return failed;
}
