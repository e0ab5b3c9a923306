/*
 * Integration tests of the MessagePack endpoint (SPEC §1.4) against the real
 * `arc` binary: columnar items with a tags list, row items (fields / f / tags
 * / h / t), the batch wrapper, top-level arrays and concatenated objects,
 * timestamp-unit inference and ?precision=, value types, validation failures
 * (400, nothing written) and type checks against the catalog. Bodies are
 * encoded here with msgpuck; what was stored is read back from Parquet.
 */
#define MP_SOURCE                                                                                  \
    1 /* msgpuck's out-of-line definitions: this program does not link                             \
         ingest/msgpack.c, which provides them inside the server */
#include <msgpuck.h>

#include "harness.h"
#include "ingest_util.h"
#include "parquet_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct arc_proc srv;

static const char *const srv_env[] = {"ARC_INGESTION_BUFFER_AGE_SECONDS=3600", NULL};

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

/* --- a tiny MessagePack builder over msgpuck ---------------------------------------- */

struct mpb {
    char buf[1 << 16];
    char *w;
};

static struct mpb *mpb_new(void)
{
    struct mpb *b = malloc(sizeof(*b));
    b->w = b->buf;
    return b;
}

static size_t mpb_len(const struct mpb *b)
{
    return (size_t)(b->w - b->buf);
}

static void M(struct mpb *b, uint32_t n)
{
    b->w = mp_encode_map(b->w, n);
}
static void A(struct mpb *b, uint32_t n)
{
    b->w = mp_encode_array(b->w, n);
}
static void S(struct mpb *b, const char *s)
{
    b->w = mp_encode_str(b->w, s, (uint32_t)strlen(s));
}
static void I(struct mpb *b, int64_t v)
{
    b->w = v < 0 ? mp_encode_int(b->w, v) : mp_encode_uint(b->w, (uint64_t)v);
}
static void U(struct mpb *b, uint64_t v)
{
    b->w = mp_encode_uint(b->w, v);
}
static void D(struct mpb *b, double v)
{
    b->w = mp_encode_double(b->w, v);
}
static void F32(struct mpb *b, float v)
{
    b->w = mp_encode_float(b->w, v);
}
static void B(struct mpb *b, bool v)
{
    b->w = mp_encode_bool(b->w, v);
}
static void N(struct mpb *b)
{
    b->w = mp_encode_nil(b->w);
}
static void BIN(struct mpb *b, const char *s)
{
    b->w = mp_encode_bin(b->w, s, (uint32_t)strlen(s));
}
static void RAW(struct mpb *b, const void *p, size_t n)
{
    memcpy(b->w, p, n);
    b->w += n;
}

/* POSTs the built body to /api/v1/write/msgpack (database `db`, or the
 * default when NULL) with an optional query string, expecting `status`.
 * Frees the builder. Returns the response body's JSON for non-204. */
static struct json_value *mp_post(struct mpb *b, const char *db, const char *query, long status)
{
    char hdr[128], path[256];
    snprintf(hdr, sizeof(hdr), "x-arc-database: %s", db ? db : "");
    const char *h[] = {"Content-Type: application/msgpack", db ? hdr : NULL, NULL};
    snprintf(path, sizeof(path), "/api/v1/write/msgpack%s", query ? query : "");
    struct http_resp r = it_post(&srv, path, h, b->buf, mpb_len(b), status);
    free(b);
    struct json_value *doc = NULL;
    if (status == 204)
        assert_int_equal(r.len, 0);
    else
        doc = it_json(&r);
    http_resp_free(&r);
    return doc;
}

static void assert_only_tags(const char *db, const char *m, const char *want)
{
    char **files = NULL;
    size_t n = pq_files(&srv, db, m, &files);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++) {
        char sql[1400], exp[256];
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(max(decode(value)), 'ABSENT') FROM parquet_kv_metadata('%s') "
                 "WHERE decode(key) = 'arc:tags'",
                 files[i]);
        snprintf(exp, sizeof(exp), "%s\n", want);
        char *got = pq_sql(sql);
        if (!got || strcmp(got, exp) != 0) {
            print_error("arc:tags of %s: want %s got %s\n", files[i], want, got ? got : "(err)");
            free(got);
            pq_paths_free(files, n);
            fail();
        }
        free(got);
    }
    pq_paths_free(files, n);
}

/* --- forms ------------------------------------------------------------------------- */

static void test_columnar_item_with_tags(void **state)
{
    (void)state;
    struct mpb *b = mpb_new();
    M(b, 3);
    S(b, "m"), S(b, "sensor");
    S(b, "tags"), A(b, 1), S(b, "site");
    S(b, "columns"), M(b, 4);
    S(b, "time"), A(b, 2), I(b, 1736950000000), I(b, 1736950001000); /* ms */
    S(b, "site"), A(b, 2), S(b, "north"), S(b, "south");
    S(b, "temp"), A(b, 2), D(b, 21.5), D(b, 19.25);
    S(b, "ok"), A(b, 2), B(b, true), B(b, false);
    mp_post(b, "mp", NULL, 204);
    assert_int_equal(it_held_rows(&srv, "mp/sensor"), 2);
    assert_int_equal(it_flush(&srv, "mp", "sensor"), 2);
    assert_pq_rows(&srv, "mp", "sensor",
                   "SELECT epoch_us(time), site, temp, ok, typeof(temp), typeof(ok) FROM t "
                   "ORDER BY time",
                   "1736950000000000|north|21.5|true|DOUBLE|BOOLEAN\n"
                   "1736950001000000|south|19.25|false|DOUBLE|BOOLEAN\n");
    assert_only_tags("mp", "sensor", "site");

    /* Without x-arc-database → the default database; no tags list → no
     * arc:tags metadata; no time column → receipt time. */
    int64_t t0 = it_now_us();
    b = mpb_new();
    M(b, 2);
    S(b, "m"), S(b, "notime");
    S(b, "columns"), M(b, 1), S(b, "v"), A(b, 3), I(b, 1), I(b, 2), I(b, 3);
    mp_post(b, NULL, NULL, 204);
    int64_t t1 = it_now_us();
    assert_int_equal(it_flush(&srv, "default", "notime"), 3);
    char where[128];
    snprintf(where, sizeof(where), "epoch_us(time) BETWEEN %lld AND %lld", (long long)t0,
             (long long)t1);
    assert_int_equal(pq_count(&srv, "default", "notime", where), 3);
    assert_only_tags("default", "notime", "ABSENT");
}

static void test_row_items_in_batch(void **state)
{
    (void)state;
    struct mpb *b = mpb_new();
    M(b, 1);
    S(b, "batch"), A(b, 6);
    /* seconds, h */
    M(b, 5), S(b, "m"), S(b, "cpu"), S(b, "t"), I(b, 1736950000), S(b, "h"), S(b, "server01");
    S(b, "tags"), M(b, 1), S(b, "region"), S(b, "us-east");
    S(b, "fields"), M(b, 2), S(b, "usage"), D(b, 95.5), S(b, "n"), I(b, 3);
    /* milliseconds; tags.host wins over h */
    M(b, 5), S(b, "m"), S(b, "cpu"), S(b, "t"), I(b, 1736950001000), S(b, "h"), S(b, "ignored");
    S(b, "tags"), M(b, 2), S(b, "host"), S(b, "tagged"), S(b, "region"), S(b, "eu");
    S(b, "fields"), M(b, 2), S(b, "usage"), D(b, 1.0), S(b, "n"), I(b, 4);
    /* microseconds; no host at all → "unknown" */
    M(b, 3), S(b, "m"), S(b, "cpu"), S(b, "t"), I(b, 1736950002000000);
    S(b, "fields"), M(b, 2), S(b, "usage"), D(b, 2.5), S(b, "n"), I(b, 5);
    /* nanoseconds (floored); integer h → host_<n>; non-string tag → text */
    M(b, 5), S(b, "m"), S(b, "cpu"), S(b, "t"), I(b, 1736950003000000999), S(b, "h"), I(b, 7);
    S(b, "tags"), M(b, 1), S(b, "region"), I(b, 5);
    S(b, "fields"), M(b, 2), S(b, "usage"), D(b, 3.5), S(b, "n"), I(b, -6);
    /* fractional seconds */
    M(b, 3), S(b, "m"), S(b, "cpu"), S(b, "t"), D(b, 1736950004.25);
    S(b, "fields"), M(b, 1), S(b, "n"), I(b, 7);
    /* f array → field_0, field_1, … in another measurement */
    M(b, 3), S(b, "m"), S(b, "farr"), S(b, "t"), I(b, 1736950000);
    S(b, "f"), A(b, 3), D(b, 1.5), I(b, 7), S(b, "x");
    mp_post(b, "mp", NULL, 204);
    assert_int_equal(it_flush(&srv, "mp", NULL), 6);
    assert_pq_rows(&srv, "mp", "cpu",
                   "SELECT epoch_us(time), host, region, usage, n FROM t ORDER BY time",
                   "1736950000000000|server01|us-east|95.5|3\n"
                   "1736950001000000|tagged|eu|1.0|4\n"
                   "1736950002000000|unknown|NULL|2.5|5\n"
                   "1736950003000000|host_7|5|3.5|-6\n"
                   "1736950004250000|unknown|NULL|NULL|7\n");
    assert_pq_rows(
        &srv, "mp", "farr",
        "SELECT host, field_0, field_1, field_2, typeof(field_0), typeof(field_1) FROM t",
        "unknown|1.5|7|x|DOUBLE|BIGINT\n");
    assert_only_tags("mp", "cpu", "host,region");
}

static void test_array_concatenated_and_integer_names(void **state)
{
    (void)state;
    struct mpb *b = mpb_new();
    A(b, 2);
    M(b, 2), S(b, "m"), S(b, "mixa");
    S(b, "columns"), M(b, 2), S(b, "time"), A(b, 1), I(b, 1736950000), S(b, "v"), A(b, 1), I(b, 1);
    M(b, 3), S(b, "m"), S(b, "mixb"), S(b, "t"), I(b, 1736950000);
    S(b, "fields"), M(b, 1), S(b, "v"), I(b, 2);
    /* a second top-level object right after the first */
    M(b, 2), S(b, "m"), I(b, 42);
    S(b, "columns"), M(b, 2), S(b, "time"), A(b, 1), I(b, 1736950000), S(b, "v"), A(b, 1), I(b, 3);
    mp_post(b, "mp2", NULL, 204);
    assert_int_equal(it_flush(&srv, "mp2", NULL), 3);
    assert_pq_rows(&srv, "mp2", "mixa", "SELECT v FROM t", "1\n");
    assert_pq_rows(&srv, "mp2", "mixb", "SELECT v, host FROM t", "2|unknown\n");
    assert_pq_rows(&srv, "mp2", "measurement_42", "SELECT v FROM t", "3\n");
}

static void test_value_types(void **state)
{
    (void)state;
    struct mpb *b = mpb_new();
    M(b, 2);
    S(b, "m"), S(b, "types");
    S(b, "columns"), M(b, 9);
    S(b, "time"), A(b, 3), I(b, 1736950000), I(b, 1736950001), I(b, 1736950002);
    S(b, "i"), A(b, 3), I(b, INT64_MIN), I(b, INT64_MAX), I(b, 0);
    S(b, "big"), A(b, 3), U(b, UINT64_MAX), U(b, 5), N(b);
    S(b, "f32"), A(b, 3), F32(b, 1.5f), F32(b, 0.1f), N(b);
    S(b, "mix"), A(b, 3), I(b, 1), D(b, 2.5), I(b, -3);
    S(b, "s"), A(b, 3), S(b, "a\xc3\xa9"), N(b), S(b, "");
    S(b, "allnil"), A(b, 3), N(b), N(b), N(b);
    S(b, "b"), A(b, 3), B(b, true), N(b), B(b, false);
    S(b, "d"), A(b, 3), D(b, -0.0), D(b, 1e-300), D(b, 1.7976931348623157e308);
    mp_post(b, "mp3", NULL, 204);
    assert_int_equal(it_flush(&srv, "mp3", NULL), 3);
    assert_pq_rows(&srv, "mp3", "types", "SELECT column_name, column_type FROM (DESCRIBE t)",
                   "time|TIMESTAMP WITH TIME ZONE\nallnil|VARCHAR\nb|BOOLEAN\nbig|UBIGINT\n"
                   "d|DOUBLE\nf32|DOUBLE\ni|BIGINT\nmix|DOUBLE\ns|VARCHAR\n");
    assert_pq_rows(&srv, "mp3", "types",
                   "SELECT i, big, f32, mix, s, allnil, b FROM t ORDER BY time",
                   "-9223372036854775808|18446744073709551615|1.5|1.0|a\xc3\xa9|NULL|true\n"
                   "9223372036854775807|5|0.10000000149011612|2.5|NULL|NULL|NULL\n"
                   "0|NULL|NULL|-3.0||NULL|false\n");
    double d[3];
    assert_int_equal(pq_doubles(&srv, "mp3", "types", "SELECT d FROM t ORDER BY time", d, 3), 3);
    const double want[3] = {-0.0, 1e-300, 1.7976931348623157e308};
    assert_memory_equal(d, want, sizeof(want));
}

static void test_precision_parameter(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        const char *want;
    } cases[] = {
        {"?precision=s", "1700000000000000"}, {"?precision=ms", "1700000000000"},
        {"?precision=us", "1700000000"},      {"?precision=ns", "1700000"},
        {NULL, "1700000000000000"}, /* inferred: < 1e10 → seconds */
    };
    for (size_t i = 0; i < 5; i++) {
        char m[16];
        snprintf(m, sizeof(m), "prec%zu", i);
        struct mpb *b = mpb_new();
        M(b, 2), S(b, "m"), S(b, m);
        S(b, "columns"), M(b, 2), S(b, "time"), A(b, 1), I(b, 1700000000);
        S(b, "v"), A(b, 1), I(b, 1);
        mp_post(b, "mp4", cases[i].q, 204);
    }
    assert_int_equal(it_flush(&srv, "mp4", NULL), 5);
    for (size_t i = 0; i < 5; i++) {
        char m[16], want[64];
        snprintf(m, sizeof(m), "prec%zu", i);
        snprintf(want, sizeof(want), "%s\n", cases[i].want);
        assert_pq_rows(&srv, "mp4", m, "SELECT epoch_us(time) FROM t", want);
    }
    struct mpb *b = mpb_new();
    M(b, 2), S(b, "m"), S(b, "precbad");
    S(b, "columns"), M(b, 1), S(b, "v"), A(b, 1), I(b, 1);
    json_free((struct json_value *[]){mp_post(b, "mp4", "?precision=h", 400)});
}

/* --- validation --------------------------------------------------------------------- */

/* Builds one invalid item (kind k) into b. */
static void bad_item(struct mpb *b, int k)
{
    switch (k) {
    case 0: /* array length mismatch */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 2), S(b, "a"), A(b, 2), I(b, 1), I(b, 2), S(b, "c"), A(b, 1), I(b, 1);
        break;
    case 1: /* missing m */ M(b, 1), S(b, "columns"), M(b, 1), S(b, "a"), A(b, 1), I(b, 1); break;
    case 2: /* empty columns */ M(b, 2), S(b, "m"), S(b, "mpbad"), S(b, "columns"), M(b, 0); break;
    case 3: /* row item without fields */
        M(b, 2), S(b, "m"), S(b, "mpbad"), S(b, "t"), I(b, 1736950000);
        break;
    case 4: /* invalid measurement name */
        M(b, 2), S(b, "m"), S(b, "9bad name");
        S(b, "columns"), M(b, 1), S(b, "a"), A(b, 1), I(b, 1);
        break;
    case 5: /* nested array value */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 1), S(b, "a"), A(b, 2), I(b, 1), A(b, 1), I(b, 2);
        break;
    case 6: /* map value */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 1), S(b, "a"), A(b, 1), M(b, 1), S(b, "x"), I(b, 1);
        break;
    case 7: /* binary value */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 1), S(b, "a"), A(b, 1), BIN(b, "xx");
        break;
    case 8: /* string in time */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 2), S(b, "time"), A(b, 1), S(b, "2025-01-01");
        S(b, "a"), A(b, 1), I(b, 1);
        break;
    case 9: /* nil in time */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 2), S(b, "time"), A(b, 2), I(b, 1736950000), N(b);
        S(b, "a"), A(b, 2), I(b, 1), I(b, 2);
        break;
    case 10: /* string mixed with integers in one column */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 1), S(b, "a"), A(b, 2), I(b, 1), S(b, "two");
        break;
    case 11: { /* unknown extension type (fixext1, type 5) */
        M(b, 2), S(b, "m"), S(b, "mpbad");
        S(b, "columns"), M(b, 1), S(b, "a"), A(b, 1);
        static const unsigned char ext[] = {0xd4, 0x05, 0x00};
        RAW(b, ext, sizeof(ext));
        break;
    }
    case 12: /* fields not a map */
        M(b, 2), S(b, "m"), S(b, "mpbad"), S(b, "fields"), S(b, "nope");
        break;
    default: /* empty time-less columns arrays */
        M(b, 2), S(b, "m"), S(b, "mpbad"), S(b, "columns"), M(b, 1), S(b, "a"), A(b, 0);
        break;
    }
}

static void test_validation_failure_writes_nothing(void **state)
{
    (void)state;
    struct http_resp r = http_get(&srv, "/api/v1/write/msgpack/stats");
    struct json_value *doc = it_json(&r);
    int64_t err0 = it_jint(json_obj_get(doc, "decoder"), "total_errors");
    json_free(&doc);
    http_resp_free(&r);

    const int nkinds = 14;
    for (int k = 0; k < nkinds; k++) {
        /* A valid item first, the bad one second: the whole request fails. */
        struct mpb *b = mpb_new();
        M(b, 1), S(b, "batch"), A(b, 2);
        M(b, 2), S(b, "m"), S(b, "mpgood");
        S(b, "columns"), M(b, 1), S(b, "a"), A(b, 1), I(b, 1);
        bad_item(b, k);
        doc = mp_post(b, "mpbad", NULL, 400);
        bool ok = true;
        assert_true(json_as_bool(json_obj_get(doc, "success"), &ok));
        assert_false(ok);
        assert_string_equal(it_jstr(doc, "code"), "invalid");
        const char *err = it_jstr(doc, "error");
        if (k != 11 && !strstr(err, "item 1") && !strstr(err, "item[1]") &&
            !strstr(err, "item #1")) {
            print_error("kind %d: error does not name item 1: %s\n", k, err);
            fail();
        }
        json_free(&doc);
    }
    /* Malformed / truncated MessagePack. */
    static const unsigned char trunc[] = {0x82, 0xa1, 'm', 0xa3, 'a', 'b'};
    struct mpb *b = mpb_new();
    RAW(b, trunc, sizeof(trunc));
    json_free((struct json_value *[]){mp_post(b, "mpbad", NULL, 400)});
    b = mpb_new();
    RAW(b, "\xc1", 1); /* never-used byte */
    json_free((struct json_value *[]){mp_post(b, "mpbad", NULL, 400)});
    b = mpb_new();
    S(b, "just a string");
    json_free((struct json_value *[]){mp_post(b, "mpbad", NULL, 400)});

    assert_int_equal(it_flush(&srv, "mpbad", NULL), 0);
    char dir[1024];
    struct stat st;
    snprintf(dir, sizeof(dir), "%s/data/arc/mpbad", srv.dir);
    assert_int_not_equal(stat(dir, &st), 0);
    r = http_get(&srv, "/api/v1/write/msgpack/stats");
    doc = it_json(&r);
    assert_int_equal(it_jint(json_obj_get(doc, "decoder"), "total_errors"), err0 + nkinds + 3);
    json_free(&doc);
    http_resp_free(&r);
}

static void test_catalog_types_and_widening(void **state)
{
    (void)state;
    it_write_ok(&srv, "/write?db=mp5&precision=s", "mtc v=1i 1\nmtw d=1.5 1\n");
    /* float into an integer column → the whole request is rejected */
    struct mpb *b = mpb_new();
    A(b, 2);
    M(b, 2), S(b, "m"), S(b, "mtw");
    S(b, "columns"), M(b, 2), S(b, "time"), A(b, 1), I(b, 1736950000), S(b, "d"), A(b, 1),
        D(b, 9.5);
    M(b, 2), S(b, "m"), S(b, "mtc");
    S(b, "columns"), M(b, 2), S(b, "time"), A(b, 1), I(b, 1736950000), S(b, "v"), A(b, 1),
        D(b, 1.5);
    struct json_value *doc = mp_post(b, "mp5", NULL, 400);
    assert_non_null(strstr(it_jstr(doc, "error"), "field type conflict"));
    json_free(&doc);
    /* integers into a DOUBLE column are widened when exact (|v| ≤ 2^53) */
    b = mpb_new();
    M(b, 2), S(b, "m"), S(b, "mtw");
    S(b, "columns"), M(b, 2), S(b, "time"), A(b, 2), I(b, 1736950001), I(b, 1736950002);
    S(b, "d"), A(b, 2), I(b, 20), I(b, -9007199254740992);
    mp_post(b, "mp5", NULL, 204);
    b = mpb_new();
    M(b, 2), S(b, "m"), S(b, "mtw");
    S(b, "columns"), M(b, 2), S(b, "time"), A(b, 1), I(b, 1736950003);
    S(b, "d"), A(b, 1), I(b, 9007199254740993);
    json_free((struct json_value *[]){mp_post(b, "mp5", NULL, 400)});
    /* a tag name used as a numeric column conflicts */
    it_write_ok(&srv, "/write?db=mp5&precision=s", "mtt,site=a v=1i 1\n");
    b = mpb_new();
    M(b, 2), S(b, "m"), S(b, "mtt");
    S(b, "columns"), M(b, 1), S(b, "site"), A(b, 1), I(b, 3);
    json_free((struct json_value *[]){mp_post(b, "mp5", NULL, 400)});

    it_flush(&srv, "mp5", NULL);
    assert_pq_rows(&srv, "mp5", "mtw", "SELECT d, typeof(d) FROM t ORDER BY time",
                   "1.5|DOUBLE\n20.0|DOUBLE\n-9007199254740992.0|DOUBLE\n");
    assert_pq_rows(&srv, "mp5", "mtc", "SELECT v FROM t", "1\n");
    assert_pq_rows(&srv, "mp5", "mtt", "SELECT site, v FROM t", "a|1\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columnar_item_with_tags),
        cmocka_unit_test(test_row_items_in_batch),
        cmocka_unit_test(test_array_concatenated_and_integer_names),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test(test_precision_parameter),
        cmocka_unit_test(test_validation_failure_writes_nothing),
        cmocka_unit_test(test_catalog_types_and_widening),
    };
    return cmocka_run_group_tests_name("ingest_msgpack", tests, setup, teardown);
}
