/* Unit tests for ingest/lp: the line-protocol decoder (SPEC §1.3, §2). */
#include "test_helpers.h"

#include <math.h>
#include <time.h>

#include "ingest/batch.h"
#include "ingest/lp.h"
#include "util/mem.h"

#define TS0 INT64_C(1700000000000000) /* default receipt time used by parse() */

/* --- helpers --------------------------------------------------------------- */

static struct lp_options opts(void)
{
    struct lp_options o;
    memset(&o, 0, sizeof(o));
    o.db = "db1";
    o.precision = LP_NS;
    o.default_ts_us = TS0;
    o.max_line_bytes = 1 << 20;
    o.max_reported_errors = 100;
    return o;
}

static void parse_o(const char *body, const struct lp_options *o, struct lp_result *r)
{
    assert_int_equal(lp_parse(body, strlen(body), o, r), RC_OK);
    assert_int_equal(r->lines_accepted + r->lines_rejected, r->lines_received);
    size_t rows = 0;
    for (size_t i = 0; i < r->nbatches; i++) {
        assert_true(r->batches[i]->sealed);
        assert_true(r->batches[i]->nrows > 0);
        rows += r->batches[i]->nrows;
    }
    assert_int_equal(rows, r->rows);
}

static void parse(const char *body, struct lp_result *r)
{
    struct lp_options o = opts();
    parse_o(body, &o, r);
}

static const struct batch *batch_of(const struct lp_result *r, const char *m)
{
    for (size_t i = 0; i < r->nbatches; i++)
        if (strcmp(r->batches[i]->measurement, m) == 0)
            return r->batches[i];
    fail_msg("no batch for measurement %s", m);
    return NULL;
}

static const struct batch_col *col_of(const struct batch *b, const char *name, enum col_type t)
{
    int c = batch_col_find(b, name, strlen(name));
    if (c < 0)
        fail_msg("no column %s", name);
    assert_int_equal(b->cols[c].type, t);
    return &b->cols[c];
}

static bool has_col(const struct batch *b, const char *name)
{
    return batch_col_find(b, name, strlen(name)) >= 0;
}

static double f64_at(const struct batch *b, const char *name, size_t row)
{
    const struct batch_col *c = col_of(b, name, COL_DOUBLE);
    assert_true(batch_is_valid(c, row));
    return c->v.f64[row];
}

static int64_t i64_at(const struct batch *b, const char *name, size_t row)
{
    const struct batch_col *c = col_of(b, name, COL_INT64);
    assert_true(batch_is_valid(c, row));
    return c->v.i64[row];
}

static uint64_t u64_at(const struct batch *b, const char *name, size_t row)
{
    const struct batch_col *c = col_of(b, name, COL_UINT64);
    assert_true(batch_is_valid(c, row));
    return c->v.u64[row];
}

static bool bool_at(const struct batch *b, const char *name, size_t row)
{
    const struct batch_col *c = col_of(b, name, COL_BOOL);
    assert_true(batch_is_valid(c, row));
    return c->v.b[row] != 0;
}

/* Copy of a string value (static buffer, NUL-terminated). */
static const char *str_at(const struct batch *b, const char *name, size_t row)
{
    static char buf[4096];
    const struct batch_col *c = col_of(b, name, COL_STRING);
    assert_true(batch_is_valid(c, row));
    size_t n = c->v.s[row].len;
    if (n == 0)
        return ""; /* the heap may still be NULL */
    const char *s = batch_str(b, c, row, &n);
    assert_true(n < sizeof(buf));
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

static bool is_null(const struct batch *b, const char *name, size_t row)
{
    int c = batch_col_find(b, name, strlen(name));
    assert_true(c >= 0);
    return !batch_is_valid(&b->cols[c], row);
}

/* Appends printf output at buf + *len (buf holds cap bytes). */
static void cat(char *buf, size_t cap, size_t *len, const char *fmt, ...) ARC_PRINTF(4, 5);
static void cat(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < cap - *len);
    *len += (size_t)n;
}

/* One-line body: asserts it was rejected with exactly `reason`. */
static void expect_reject(const char *body, const char *reason)
{
    struct lp_result r;
    parse(body, &r);
    if (r.lines_rejected != 1 || r.nerrors != 1)
        fail_msg("body '%s': expected 1 rejection, got %zu", body, r.lines_rejected);
    assert_string_equal(r.errors[0].reason, reason);
    assert_int_equal(r.errors[0].line, 1);
    assert_int_equal(r.lines_accepted, 0);
    assert_int_equal(r.nbatches, 0);
    lp_result_cleanup(&r);
}

/* Parses "m v=<value>" and returns the field column's batch (one row). */
static void expect_accept(const char *body, struct lp_result *r)
{
    parse(body, r);
    if (r->lines_accepted != 1 || r->lines_rejected != 0)
        fail_msg("body '%s' rejected: %s", body, r->nerrors ? r->errors[0].reason : "?");
}

/* --- tests ----------------------------------------------------------------- */

static void test_basic_line(void **state)
{
    (void)state;
    struct lp_result r;
    parse("cpu,host=server01,region=us-west usage_idle=95.5,usage_user=3i,ok=true,"
          "n=7u,s=\"hi\" 1700000000123456789\n",
          &r);
    assert_int_equal(r.lines_received, 1);
    assert_int_equal(r.lines_accepted, 1);
    assert_int_equal(r.rows, 1);
    assert_int_equal(r.nbatches, 1);
    const struct batch *b = r.batches[0];
    assert_string_equal(b->db, "db1");
    assert_string_equal(b->measurement, "cpu");
    assert_int_equal(b->nrows, 1);
    assert_int_equal(b->ncols, 7);
    assert_int_equal(b->time_us[0], INT64_C(1700000000123456));
    assert_string_equal(str_at(b, "host", 0), "server01");
    assert_string_equal(str_at(b, "region", 0), "us-west");
    assert_true(b->cols[batch_col_find(b, "host", 4)].is_tag);
    assert_false(b->cols[batch_col_find(b, "s", 1)].is_tag);
    assert_true(f64_at(b, "usage_idle", 0) == 95.5);
    assert_int_equal(i64_at(b, "usage_user", 0), 3);
    /* (The brief's sample value 3.2i is not an integer: rejected.) */
    assert_true(bool_at(b, "ok", 0));
    assert_int_equal(u64_at(b, "n", 0), 7);
    assert_string_equal(str_at(b, "s", 0), "hi");
    char tags[64];
    batch_tag_list(b, tags, sizeof(tags));
    assert_string_equal(tags, "host,region");
    lp_result_cleanup(&r);
    assert_null(r.batches);
}

static void test_multiple_measurements_and_nulls(void **state)
{
    (void)state;
    struct lp_result r;
    parse("cpu a=1 10000\nmem b=2i 10000\ncpu c=3 20000\ncpu a=4 30000\n", &r);
    assert_int_equal(r.nbatches, 2);
    assert_string_equal(r.batches[0]->measurement, "cpu"); /* order of first appearance */
    assert_string_equal(r.batches[1]->measurement, "mem");
    const struct batch *c = batch_of(&r, "cpu");
    assert_int_equal(c->nrows, 3);
    assert_true(f64_at(c, "a", 0) == 1.0);
    assert_true(is_null(c, "a", 1));
    assert_true(f64_at(c, "c", 1) == 3.0);
    assert_true(is_null(c, "c", 0));
    assert_true(is_null(c, "c", 2));
    assert_int_equal(c->time_us[1], 20);
    assert_int_equal(c->min_time_us, 10);
    assert_int_equal(c->max_time_us, 30);
    assert_int_equal(i64_at(batch_of(&r, "mem"), "b", 0), 2);
    assert_int_equal(r.rows, 4);
    lp_result_cleanup(&r);
}

static void test_escapes(void **state)
{
    (void)state;
    struct lp_result r;
    /* tag key "ta g", tag value "v,a=l", field key "f=k", literal backslashes */
    expect_accept("m,ta\\ g=v\\,a\\=l,lit=a\\b,bs=a\\\\,b f\\=k\\ x=1,"
                  "s=\"he said \\\"hi\\\" \\\\ \\n \\t\"\n",
                  &r);
    const struct batch *b = r.batches[0];
    assert_string_equal(str_at(b, "ta g", 0), "v,a=l");
    assert_string_equal(str_at(b, "lit", 0), "a\\b");
    /* "a\\,b": first backslash literal (before a backslash), then "\," */
    assert_string_equal(str_at(b, "bs", 0), "a\\,b");
    assert_true(f64_at(b, "f=k x", 0) == 1.0);
    /* \" and \\ unescaped, \n and \t kept as two characters */
    assert_string_equal(str_at(b, "s", 0), "he said \"hi\" \\ \\n \\t");
    lp_result_cleanup(&r);

    /* Measurement escapes: comma and space only; '=' needs none. */
    expect_reject("cp\\,u f=1", "invalid measurement name");
    expect_reject("cp\\ u f=1", "invalid measurement name");
    expect_reject("c\\pu f=1", "invalid measurement name"); /* literal backslash */
    /* Trailing / dangling backslashes. */
    expect_reject("m\\ f=1", "missing field"); /* escaped space: no fields */
    expect_reject("m,t=a\\ f=1",               /* tag value "a f" then a bare '=' */
                  "invalid tag value for key \"t\": unescaped '='");
    expect_reject("m,t=a\\ f\\=1", "missing field"); /* tag value "a f=1" */
    expect_reject("m f=1\\", "invalid field value for key \"f\"");
    expect_reject("m,t=a\\", "missing field");
    expect_reject("m f=\"abc\\\"", "unterminated string value for key \"f\"");
    expect_accept("m,t\\=x=1 f=1", &r);
    assert_string_equal(str_at(r.batches[0], "t=x", 0), "1");
    lp_result_cleanup(&r);
    expect_accept("m s=\"a\\\\\" 5", &r); /* string ending in an escaped backslash */
    assert_string_equal(str_at(r.batches[0], "s", 0), "a\\");
    assert_int_equal(r.batches[0]->time_us[0], 0);
    lp_result_cleanup(&r);
    expect_accept("m s=\"\"", &r); /* empty string */
    assert_string_equal(str_at(r.batches[0], "s", 0), "");
    lp_result_cleanup(&r);
    expect_accept("m s=\"a,b c=d\"", &r);
    assert_string_equal(str_at(r.batches[0], "s", 0), "a,b c=d");
    assert_int_equal(r.batches[0]->ncols, 1);
    lp_result_cleanup(&r);
}

static void test_float_grammar(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double v;
    } ok[] = {
        {"1", 1.0},
        {"-1.5", -1.5},
        {".5", 0.5},
        {"-.5", -0.5},
        {"1e9", 1e9},
        {"6.02E+23", 6.02e23},
        {"1E-3", 1e-3},
        {"0", 0.0},
        {"007", 7.0},
        {"0.1", 0.1},
        {"123456789.123456789", 123456789.123456789},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"2.2250738585072014e-308", 2.2250738585072014e-308},
        {"12345678901234567890123", 12345678901234567890123.0},
        {"1e-400", 0.0},
        {"3.14159265358979323846", 3.14159265358979323846},
        {"9007199254740993", 9007199254740993.0},
    };
    char body[128];
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct lp_result r;
        snprintf(body, sizeof(body), "m v=%s", ok[i].text);
        expect_accept(body, &r);
        double got = f64_at(r.batches[0], "v", 0);
        if (got != ok[i].v)
            fail_msg("%s: got %.17g want %.17g", ok[i].text, got, ok[i].v);
        lp_result_cleanup(&r);
    }
    static const char *bad[] = {"1.",   "+1",    "NaN", "nan",  "inf",   "-Inf", "Infinity",
                                "0x10", "0x1p3", "1e",  "1e+",  ".",     "-",    "1.5.2",
                                "abc",  "--1",   "1_0", "1,5",  "1e5.5", ".e5",  "1 .5",
                                "- 1",  "1ee5",  "e5",  "1.5e", "0b1",   "1f",   "Truee"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lp_result r;
        snprintf(body, sizeof(body), "m v=%s", bad[i]);
        parse(body, &r);
        if (r.lines_rejected != 1)
            fail_msg("'%s' should be rejected", body);
        lp_result_cleanup(&r);
    }
    expect_reject("m v=1e400", "float value out of range for key \"v\"");
    expect_reject("m v=-1e309", "float value out of range for key \"v\"");
    expect_reject("m v=NaN", "invalid field value for key \"v\"");
}

static void test_integers(void **state)
{
    (void)state;
    struct lp_result r;
    expect_accept("m a=9223372036854775807i,b=-9223372036854775808i,c=-0i,d=0042i,"
                  "u=18446744073709551615u,z=0u",
                  &r);
    const struct batch *b = r.batches[0];
    assert_int_equal(i64_at(b, "a", 0), INT64_MAX);
    assert_true(i64_at(b, "b", 0) == INT64_MIN);
    assert_int_equal(i64_at(b, "c", 0), 0);
    assert_int_equal(i64_at(b, "d", 0), 42);
    assert_true(u64_at(b, "u", 0) == UINT64_MAX);
    assert_int_equal(u64_at(b, "z", 0), 0);
    lp_result_cleanup(&r);

    expect_reject("m a=9223372036854775808i", "integer value out of range for key \"a\"");
    expect_reject("m a=-9223372036854775809i", "integer value out of range for key \"a\"");
    expect_reject("m a=99999999999999999999999999i", "integer value out of range for key \"a\"");
    expect_reject("m u=18446744073709551616u", "unsigned value out of range for key \"u\"");
    expect_reject("m u=-1u", "invalid field value for key \"u\"");
    expect_reject("m u=+1u", "invalid field value for key \"u\"");
    expect_reject("m a=+1i", "invalid field value for key \"a\"");
    expect_reject("m a=1.5i", "invalid field value for key \"a\"");
    expect_reject("m a=i", "invalid field value for key \"a\"");
    expect_reject("m a=-i", "invalid field value for key \"a\"");
    expect_reject("m a=u", "invalid field value for key \"a\"");
    expect_reject("m a=1e3i", "invalid field value for key \"a\"");
    expect_reject("m a=0x10i", "invalid field value for key \"a\"");
}

static void test_booleans(void **state)
{
    (void)state;
    static const char *t[] = {"t", "T", "true", "True", "TRUE"};
    static const char *f[] = {"f", "F", "false", "False", "FALSE"};
    char body[64];
    for (int i = 0; i < 5; i++) {
        struct lp_result r;
        snprintf(body, sizeof(body), "m b=%s", t[i]);
        expect_accept(body, &r);
        assert_true(bool_at(r.batches[0], "b", 0));
        lp_result_cleanup(&r);
        snprintf(body, sizeof(body), "m b=%s", f[i]);
        expect_accept(body, &r);
        assert_false(bool_at(r.batches[0], "b", 0));
        lp_result_cleanup(&r);
    }
    static const char *bad[] = {"tRUE", "yes", "truee", "fals", "FaLse", "tr", "on", "1b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(body, sizeof(body), "m b=%s", bad[i]);
        expect_reject(body, "invalid field value for key \"b\"");
    }
}

static void test_structure_errors(void **state)
{
    (void)state;
    expect_reject("m", "missing field");
    expect_reject("m,t=a", "missing field");
    expect_reject("m,t=a   ", "missing field");
    expect_reject(",t=a f=1", "missing measurement");
    expect_reject(" ,t=a f=1", "missing measurement");
    expect_reject("m f", "missing field value for key \"f\"");
    expect_reject("m f=", "missing field value for key \"f\"");
    expect_reject("m f=,g=1", "missing field value for key \"f\"");
    expect_reject("m f=1,", "empty field key");
    expect_reject("m =1", "empty field key");
    expect_reject("m f=1,,g=2", "empty field key");
    expect_reject("m,host= f=1", "empty tag value for key \"host\"");
    expect_reject("m,host=,a=b f=1", "empty tag value for key \"host\"");
    expect_reject("m,=a f=1", "empty tag key");
    expect_reject("m, f=1", "empty tag key");
    expect_reject("m,host f=1", "missing tag value for key \"host\"");
    expect_reject("m,a=b=c f=1", "invalid tag value for key \"a\": unescaped '='");
    expect_reject("m,time=a f=1", "invalid tag key \"time\": reserved for the timestamp");
    expect_reject("m time=1", "invalid field key \"time\": reserved for the timestamp");
    expect_reject("m f=\"a\"x", "invalid field value for key \"f\"");
    expect_reject("m f=\"a\"\"b\"", "invalid field value for key \"f\"");
    expect_reject("m f=1 12 13", "invalid timestamp");
    expect_reject("m f=1 g=2", "invalid timestamp");
    expect_reject("m\tf=1", "missing field"); /* tab is not a separator */
    expect_reject("1cpu f=1", "invalid measurement name");
    expect_reject("cpu.x f=1", "invalid measurement name");
    expect_reject("_cpu f=1", "invalid measurement name");
    expect_reject("cpu/x f=1", "invalid measurement name");

    char name[300];
    memset(name, 'a', 128);
    memcpy(name + 128, " f=1", sizeof(" f=1"));
    struct lp_result r;
    expect_accept(name, &r); /* 128 chars: the maximum */
    lp_result_cleanup(&r);
    memset(name, 'a', 129);
    memcpy(name + 129, " f=1", sizeof(" f=1"));
    expect_reject(name, "invalid measurement name");

    /* Column names: at most 255 bytes. */
    char body[700];
    memcpy(body, "m ", sizeof("m "));
    memset(body + 2, 'k', 255);
    memcpy(body + 257, "=1", sizeof("=1"));
    expect_accept(body, &r);
    lp_result_cleanup(&r);
    memcpy(body, "m ", sizeof("m "));
    memset(body + 2, 'k', 256);
    memcpy(body + 258, "=1", sizeof("=1"));
    expect_reject(body, "field key too long (max 255 bytes)");
    memcpy(body, "m,", sizeof("m,"));
    memset(body + 2, 'k', 256);
    memcpy(body + 258, "=v f=1", sizeof("=v f=1"));
    expect_reject(body, "tag key too long (max 255 bytes)");
}

static void test_timestamps_and_precision(void **state)
{
    (void)state;
    static const struct {
        enum lp_precision p;
        const char *ts;
        int64_t us;
    } cases[] = {
        {LP_NS, "1700000000123456789", INT64_C(1700000000123456)},
        {LP_NS, "-1", -1},
        {LP_NS, "-1000", -1},
        {LP_NS, "-1001", -2},
        {LP_NS, "-999", -1},
        {LP_NS, "999", 0},
        {LP_NS, "0", 0},
        {LP_NS, "-9223372036854775808", INT64_C(-9223372036854776)},
        {LP_US, "1700000000123456", INT64_C(1700000000123456)},
        {LP_US, "-5", -5},
        {LP_MS, "1700000000123", INT64_C(1700000000123000)},
        {LP_MS, "-1", -1000},
        {LP_S, "1700000000", INT64_C(1700000000000000)},
        {LP_S, "253402300799", INT64_C(253402300799000000)}, /* 9999-12-31T23:59:59 */
        {LP_S, "-62135596800", INT64_C(-62135596800000000)}, /* 0001-01-01 */
        {LP_M, "28333333", INT64_C(28333333) * 60000000},
        {LP_M, "-2", INT64_C(-120000000)},
        {LP_H, "472222", INT64_C(472222) * INT64_C(3600000000)},
    };
    char body[96];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lp_options o = opts();
        o.precision = cases[i].p;
        snprintf(body, sizeof(body), "m f=1 %s", cases[i].ts);
        struct lp_result r;
        parse_o(body, &o, &r);
        if (r.lines_accepted != 1)
            fail_msg("case %zu (%s) rejected: %s", i, body, r.errors[0].reason);
        assert_int_equal(r.batches[0]->time_us[0], cases[i].us);
        lp_result_cleanup(&r);
    }
    static const struct {
        enum lp_precision p;
        const char *ts;
        const char *reason;
    } bad[] = {
        {LP_S, "253402300800", "timestamp out of range"},        /* year 10000 */
        {LP_S, "-62135596801", "timestamp out of range"},        /* year 0 */
        {LP_S, "9223372036854775807", "timestamp out of range"}, /* overflow */
        {LP_H, "-9223372036854775807", "timestamp out of range"},
        {LP_MS, "9223372036854775", "timestamp out of range"},
        {LP_NS, "9223372036854775808", "timestamp out of range"},
        {LP_NS, "99999999999999999999", "timestamp out of range"},
        {LP_US, "253402300800000000", "timestamp out of range"},
        {LP_NS, "1.5", "invalid timestamp"},
        {LP_NS, "1e9", "invalid timestamp"},
        {LP_NS, "+5", "invalid timestamp"},
        {LP_NS, "abc", "invalid timestamp"},
        {LP_NS, "-", "invalid timestamp"},
        {LP_NS, "12i", "invalid timestamp"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lp_options o = opts();
        o.precision = bad[i].p;
        snprintf(body, sizeof(body), "m f=1 %s", bad[i].ts);
        struct lp_result r;
        parse_o(body, &o, &r);
        if (r.lines_rejected != 1)
            fail_msg("bad case %zu (%s) accepted", i, body);
        assert_string_equal(r.errors[0].reason, bad[i].reason);
        lp_result_cleanup(&r);
    }

    /* Missing timestamp → receipt time; several spaces before it are fine. */
    struct lp_result r;
    parse("m f=1\nm g=2   77000\n", &r);
    assert_int_equal(r.rows, 2);
    assert_int_equal(r.batches[0]->time_us[0], TS0);
    assert_int_equal(r.batches[0]->time_us[1], 77);
    lp_result_cleanup(&r);
}

static void test_precision_parse(void **state)
{
    (void)state;
    enum lp_precision p = LP_H;
    assert_int_equal(lp_precision_parse(NULL, &p), RC_OK);
    assert_int_equal(p, LP_NS);
    p = LP_H;
    assert_int_equal(lp_precision_parse("", &p), RC_OK);
    assert_int_equal(p, LP_NS);
    static const struct {
        const char *s;
        enum lp_precision p;
    } ok[] = {{"ns", LP_NS},       {"n", LP_NS},  {"us", LP_US}, {"u", LP_US}, {"\xC2\xB5", LP_US},
              {"\xCE\xBC", LP_US}, {"ms", LP_MS}, {"s", LP_S},   {"m", LP_M},  {"h", LP_H}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(lp_precision_parse(ok[i].s, &p), RC_OK);
        assert_int_equal(p, ok[i].p);
    }
    static const char *bad[] = {"NS", "sec", "x", "mss", " s", "s ", "d", "1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = LP_H;
        assert_int_equal(lp_precision_parse(bad[i], &p), RC_INVALID);
        assert_int_equal(p, LP_H);
    }
}

static void test_blank_comment_crlf(void **state)
{
    (void)state;
    struct lp_result r;
    parse("\n# comment\r\n   \t\n  # indented comment\n\r\n"
          "  m,t=a f=1 1000\r\n"
          "\tm,t=b f=2 2000 \t\r\n"
          "m,t=c f=3 3000", /* no trailing newline */
          &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_accepted, 3);
    assert_int_equal(r.lines_rejected, 0);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->nrows, 3);
    assert_string_equal(str_at(b, "t", 0), "a");
    assert_string_equal(str_at(b, "t", 1), "b");
    assert_string_equal(str_at(b, "t", 2), "c");
    assert_int_equal(b->time_us[1], 2);
    assert_int_equal(b->time_us[2], 3);
    lp_result_cleanup(&r);

    parse("# only comments\n\n   \n", &r);
    assert_int_equal(r.lines_received, 0);
    assert_int_equal(r.nbatches, 0);
    lp_result_cleanup(&r);
    parse("", &r);
    assert_int_equal(r.lines_received, 0);
    lp_result_cleanup(&r);

    /* Line numbers count blank/comment lines and CRLF correctly. */
    parse("# c\r\n\r\nm f=1\r\nbad\r\n\r\nm f=x\r\n", &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_rejected, 2);
    assert_int_equal(r.errors[0].line, 4);
    assert_string_equal(r.errors[0].text, "bad");
    assert_int_equal(r.errors[1].line, 6);
    assert_string_equal(r.errors[1].text, "m f=x");
    lp_result_cleanup(&r);
}

static void test_partial_write_and_errors(void **state)
{
    (void)state;
    struct lp_result r;
    parse("cpu,host=a usage=1\ncpu,host=a usage=abc\ncpu,host=b usage=2\n", &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_accepted, 2);
    assert_int_equal(r.lines_rejected, 1);
    assert_int_equal(r.nerrors, 1);
    assert_int_equal(r.errors[0].line, 2);
    assert_string_equal(r.errors[0].reason, "invalid field value for key \"usage\"");
    assert_string_equal(r.errors[0].text, "cpu,host=a usage=abc");
    char msg[600];
    size_t n = lp_summary_message(&r, msg, sizeof(msg));
    assert_string_equal(msg, "partial write: unable to parse 'cpu,host=a usage=abc': invalid "
                             "field value for key \"usage\" dropped=1");
    assert_int_equal(n, strlen(msg));
    /* Truncation to the caller's buffer. */
    char small[20];
    n = lp_summary_message(&r, small, sizeof(small));
    assert_int_equal(n, 19);
    assert_string_equal(small, "partial write: unab");
    lp_result_cleanup(&r);

    /* No rejection → empty summary. */
    parse("m f=1", &r);
    assert_int_equal(lp_summary_message(&r, msg, sizeof(msg)), 0);
    assert_string_equal(msg, "");
    lp_result_cleanup(&r);

    /* max_reported_errors caps the list, counts stay exact. */
    struct lp_options o = opts();
    o.max_reported_errors = 3;
    parse_o("a\nb\nc\nm f=1\nd\ne\n", &o, &r);
    assert_int_equal(r.lines_rejected, 5);
    assert_int_equal(r.lines_accepted, 1);
    assert_int_equal(r.nerrors, 3);
    assert_int_equal(r.errors[2].line, 3);
    assert_string_equal(r.errors[2].text, "c");
    n = lp_summary_message(&r, msg, sizeof(msg));
    assert_string_equal(msg, "partial write: unable to parse 'a': missing field dropped=5");
    lp_result_cleanup(&r);
    o.max_reported_errors = 0;
    parse_o("bad\n", &o, &r);
    assert_int_equal(r.nerrors, 0);
    assert_null(r.errors);
    lp_summary_message(&r, msg, sizeof(msg));
    assert_string_equal(msg, "partial write: unable to parse 'bad': missing field dropped=1");
    lp_result_cleanup(&r);

    /* Text truncated to 256 bytes, summary line to 200, both UTF-8 safe. */
    char body[1200];
    memset(body, 0, sizeof(body));
    memcpy(body, "m s=", sizeof("m s="));
    memset(body + 4, 'x', 600); /* bare word: invalid */
    parse(body, &r);
    assert_int_equal(strlen(r.errors[0].text), 256);
    assert_int_equal(strncmp(r.errors[0].text, "m s=xxx", 7), 0);
    assert_int_equal(strlen(r.first_rejected), 200);
    lp_summary_message(&r, msg, sizeof(msg));
    assert_true(strlen(msg) < 512);
    lp_result_cleanup(&r);
    /* "é" (2 bytes) straddling byte 256 is dropped whole. */
    memset(body, 0, sizeof(body));
    memcpy(body, "m s=", sizeof("m s="));
    memset(body + 4, 'x', 251);                               /* bytes 0..254 */
    memcpy(body + 255, "\xC3\xA9zzz", sizeof("\xC3\xA9zzz")); /* é at bytes 255-256 */
    parse(body, &r);
    assert_int_equal(strlen(r.errors[0].text), 255);
    lp_result_cleanup(&r);
}

static void test_long_lines(void **state)
{
    (void)state;
    struct lp_options o = opts();
    o.max_line_bytes = 32;
    struct lp_result r;
    parse_o("m f=1\n"
            "m,host=a-very-long-host-name-that-exceeds f=1\n"
            "m f=2\n"
            "m f=123456789012345678901234567 1\n"       /* 33 bytes */
            "   m f=1234567890123456789012345 1  \r\n", /* 32 bytes after trimming */
            &o, &r);
    assert_int_equal(r.lines_received, 5);
    assert_int_equal(r.lines_accepted, 3);
    assert_int_equal(r.lines_rejected, 2);
    assert_int_equal(r.errors[0].line, 2);
    assert_string_equal(r.errors[0].reason, "line too long (max 32 bytes)");
    assert_int_equal(r.errors[1].line, 4);
    lp_result_cleanup(&r);

    /* A huge line (8 MiB, default 1 MiB limit) is skipped in linear time
     * and the next line is still parsed. */
    size_t big = 8u << 20;
    char *body = xmalloc(big + 64);
    memcpy(body, "m f=", 4);
    memset(body + 4, '1', big - 4);
    memcpy(body + big, "\nm g=2\n", sizeof("\nm g=2\n"));
    o = opts();
    clock_t t0 = clock();
    assert_int_equal(lp_parse(body, strlen(body), &o, &r), RC_OK);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 2.0);
    assert_int_equal(r.lines_rejected, 1);
    assert_int_equal(r.lines_accepted, 1);
    assert_string_equal(r.errors[0].reason, "line too long (max 1048576 bytes)");
    assert_int_equal(strlen(r.errors[0].text), 256);
    assert_true(f64_at(r.batches[0], "g", 0) == 2.0);
    lp_result_cleanup(&r);
    xfree(body);
}

static void test_multiline_strings(void **state)
{
    (void)state;
    struct lp_result r;
    parse("m s=\"line1\nline2\r\n  line3\" 1000\n"
          "m s=\"x\" 2000\n"
          "bad line\n",
          &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_accepted, 2);
    const struct batch *b = r.batches[0];
    assert_string_equal(str_at(b, "s", 0), "line1\nline2\r\n  line3");
    assert_int_equal(b->time_us[0], 1);
    assert_string_equal(str_at(b, "s", 1), "x");
    assert_int_equal(r.errors[0].line, 5); /* physical line numbers */
    lp_result_cleanup(&r);

    /* Error after a multi-line string: the record is rejected whole, the
     * line number is where it starts, and parsing resumes after it. */
    parse("m f=1\nm s=\"a\nb\" xx\nm g=2\n", &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_accepted, 2);
    assert_int_equal(r.errors[0].line, 2);
    assert_string_equal(r.errors[0].reason, "invalid timestamp");
    assert_string_equal(r.errors[0].text, "m s=\"a\nb\" xx");
    lp_result_cleanup(&r);

    /* Unterminated at end of body: rejected, resume at the next physical
     * line (which is then parsed as a record of its own). */
    parse("m s=\"abc\nm f=1 5\n\nm g=1", &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_accepted, 2);
    assert_int_equal(r.lines_rejected, 1);
    assert_int_equal(r.errors[0].line, 1);
    assert_string_equal(r.errors[0].reason, "unterminated string value for key \"s\"");
    assert_string_equal(r.errors[0].text, "m s=\"abc");
    assert_int_equal(r.batches[0]->time_us[0], 0);
    assert_true(f64_at(r.batches[0], "g", 1) == 1.0);
    lp_result_cleanup(&r);

    /* A quote on a later line closes the open string (InfluxDB pairs quotes
     * across lines): the record then spans lines 1-3 and fails after it. */
    parse("m s=\"abc\nm f=1 5\nm g=\"x\nm h=1\n", &r);
    assert_int_equal(r.lines_received, 2);
    assert_int_equal(r.lines_accepted, 1);
    assert_int_equal(r.errors[0].line, 1);
    assert_string_equal(r.errors[0].reason, "invalid field value for key \"s\"");
    assert_string_equal(r.errors[0].text, "m s=\"abc\nm f=1 5\nm g=\"x");
    lp_result_cleanup(&r);

    /* Quote open past max_line_bytes: rejected, resume after first line. */
    struct lp_options o = opts();
    o.max_line_bytes = 20;
    parse_o("m s=\"abc\nm f=1\nm g=2\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\nm h=3\n", &o, &r);
    assert_int_equal(r.lines_received, 5);
    assert_int_equal(r.lines_accepted, 3);
    assert_string_equal(r.errors[0].reason,
                        "unterminated string value for key \"s\" (exceeds max line length)");
    assert_int_equal(r.errors[0].line, 1);
    assert_int_equal(r.errors[1].line, 4);
    assert_string_equal(r.errors[1].reason, "line too long (max 20 bytes)");
    lp_result_cleanup(&r);

    /* The closing quote lies past the limit: unterminated. */
    parse_o("m s=\"abc\nabcdefghijklmnopqrstuvwxyz\"\nm f=1\n", &o, &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_rejected, 2);
    assert_string_equal(r.errors[0].reason,
                        "unterminated string value for key \"s\" (exceeds max line length)");
    lp_result_cleanup(&r);
    /* A closed multi-line record longer than the limit is rejected whole. */
    o.max_line_bytes = 30;
    parse_o("m s=\"abc\nabcdefghijklmnopq\" 12345678\nm f=1\n", &o, &r);
    assert_int_equal(r.lines_received, 2);
    assert_int_equal(r.lines_rejected, 1);
    assert_int_equal(r.lines_accepted, 1);
    assert_string_equal(r.errors[0].reason, "line too long (max 30 bytes)");
    assert_string_equal(r.errors[0].text, "m s=\"abc\nabcdefghijklmnopq\" 12345678");
    lp_result_cleanup(&r);

    /* Control bytes in a key quoted by the reason are blanked too. */
    char msg[512];
    parse("m k\x01=abc\n", &r);
    lp_summary_message(&r, msg, sizeof(msg));
    assert_string_equal(msg, "partial write: unable to parse 'm k =abc': invalid field value "
                             "for key \"k \" dropped=1");
    assert_string_equal(r.errors[0].reason, "invalid field value for key \"k\x01\"");
    lp_result_cleanup(&r);

    /* Summary message of a multi-line record stays on one line. */
    parse("m s=\"a\nb\" bad\n", &r);
    lp_summary_message(&r, msg, sizeof(msg));
    assert_string_equal(msg, "partial write: unable to parse 'm s=\"a b\" bad': invalid "
                             "timestamp dropped=1");
    lp_result_cleanup(&r);
}

static void test_unterminated_linear(void **state)
{
    (void)state;
    /* One string that never closes, then 300k quote-free lines, with the
     * default 1 MiB limit: the string is scanned once (≤ 1 MiB), then every
     * line once more. */
    size_t nlines = 300000;
    const char *pat = "m f=1\n";
    size_t pl = strlen(pat);
    char *body = xmalloc(nlines * pl + 16);
    memcpy(body, "m s=\"\n", 6);
    for (size_t i = 0; i < nlines; i++)
        memcpy(body + 6 + i * pl, pat, pl);
    size_t len = 6 + nlines * pl;
    struct lp_options o = opts();
    struct lp_result r;
    clock_t t0 = clock();
    assert_int_equal(lp_parse(body, len, &o, &r), RC_OK);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 3.0);
    assert_int_equal(r.lines_received, nlines + 1);
    assert_int_equal(r.lines_rejected, 1);
    assert_int_equal(r.rows, 1); /* all merged: same series, receipt time */
    lp_result_cleanup(&r);

    /* Lines that each open a string: each string closes at the next line's
     * opening quote, so records pair up two lines at a time. */
    pat = "m f=\"\n";
    pl = strlen(pat);
    for (size_t i = 0; i < nlines; i++)
        memcpy(body + i * pl, pat, pl);
    len = nlines * pl;
    t0 = clock();
    assert_int_equal(lp_parse(body, len, &o, &r), RC_OK);
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 3.0);
    assert_int_equal(r.lines_received, nlines / 2);
    assert_int_equal(r.lines_accepted, nlines / 2);
    assert_string_equal(str_at(r.batches[0], "f", 0), "\nm f=");
    lp_result_cleanup(&r);

    /* A record that reopens the same unterminated quote (its first line was
     * inside a closed string of the record before). */
    parse("m a=\"x\n\",b=\"zzz\nm c=1\n", &r);
    assert_int_equal(r.lines_received, 3);
    assert_int_equal(r.lines_rejected, 2);
    assert_int_equal(r.lines_accepted, 1);
    assert_int_equal(r.errors[0].line, 1);
    assert_string_equal(r.errors[0].reason, "unterminated string value for key \"b\"");
    assert_int_equal(r.errors[1].line, 2);
    lp_result_cleanup(&r);
    xfree(body);
}

static void test_type_conflicts_in_request(void **state)
{
    (void)state;
    struct lp_result r;
    parse("m f=1 1000\nm f=1i 2000\nm f=2 3000\n", &r);
    assert_int_equal(r.lines_accepted, 2);
    assert_int_equal(r.errors[0].line, 2);
    assert_string_equal(r.errors[0].reason,
                        "field type conflict: field \"f\" is float, got integer");
    assert_int_equal(r.batches[0]->nrows, 2);
    lp_result_cleanup(&r);

    /* A rejected line leaves nothing behind: not even its new column. */
    parse("m a=1 1000\nm b=2,c=\"s\",a=1i 2000\nm d=1 3000\n", &r);
    assert_int_equal(r.lines_accepted, 2);
    const struct batch *b = r.batches[0];
    assert_false(has_col(b, "b"));
    assert_false(has_col(b, "c"));
    assert_int_equal(b->ncols, 2);
    assert_int_equal(b->nrows, 2);
    assert_int_equal(b->heap_len, 0);
    lp_result_cleanup(&r);

    /* Tags count as STRING. */
    parse("m,x=a f=1\nm x=1i\nm x=\"str\"\n", &r);
    assert_int_equal(r.lines_accepted, 2);
    assert_string_equal(r.errors[0].reason,
                        "field type conflict: field \"x\" is string, got integer");
    b = r.batches[0];
    assert_string_equal(str_at(b, "x", 0), "a");
    assert_string_equal(str_at(b, "x", 1), "str");
    lp_result_cleanup(&r);
    parse("m x=1i\nm,x=a f=1\n", &r);
    assert_int_equal(r.lines_accepted, 1);
    assert_string_equal(r.errors[0].reason,
                        "field type conflict: tag \"x\" is integer, got string");
    lp_result_cleanup(&r);

    /* Types are per measurement. */
    parse("a f=1\nb f=1i\n", &r);
    assert_int_equal(r.lines_accepted, 2);
    lp_result_cleanup(&r);

    /* A conflicting line does not disturb a merge target row. */
    parse("m,t=a f=1,g=2 1000\nm,t=a f=5,g=3i 1000\n", &r);
    assert_int_equal(r.lines_accepted, 1);
    assert_true(f64_at(r.batches[0], "f", 0) == 1.0);
    lp_result_cleanup(&r);
}

/* Schema checker stub: "cpu"."usage" is INT64, "cpu"."host" is INT64 (to
 * test tags); everything else is accepted and counted. */
struct stub {
    int calls;
    int fail_rc;
    char last_col[64];
};

static int stub_check(void *ctx, const char *db, const char *measurement, const char *col,
                      size_t col_len, enum col_type type, enum col_type *existing)
{
    struct stub *s = ctx;
    s->calls++;
    assert_string_equal(db, "db1");
    snprintf(s->last_col, sizeof(s->last_col), "%.*s", (int)col_len, col);
    if (s->fail_rc)
        return s->fail_rc;
    if (strcmp(measurement, "cpu") == 0 && ((col_len == 5 && memcmp(col, "usage", 5) == 0) ||
                                            (col_len == 4 && memcmp(col, "host", 4) == 0))) {
        if (type != COL_INT64) {
            *existing = COL_INT64;
            return RC_INVALID;
        }
    }
    return RC_OK;
}

static void test_schema_checker(void **state)
{
    (void)state;
    struct stub st = {0};
    struct lp_options o = opts();
    o.schema.check = stub_check;
    o.schema.ctx = &st;
    struct lp_result r;
    parse_o("cpu usage=1.5\ncpu usage=2i,idle=3 1000\ncpu usage=4i,idle=5 2000\nmem usage=1.5\n"
            "cpu,host=a idle=1\n",
            &o, &r);
    assert_int_equal(r.lines_accepted, 3);
    assert_int_equal(r.lines_rejected, 2);
    assert_string_equal(r.errors[0].reason,
                        "field type conflict: field \"usage\" is integer, got float");
    assert_int_equal(r.errors[0].line, 1);
    assert_string_equal(r.errors[1].reason,
                        "field type conflict: tag \"host\" is integer, got string");
    /* Called for columns the request had not created yet: usage (line 1),
     * usage+idle (line 2), mem.usage (line 4), host (line 5). */
    assert_int_equal(st.calls, 5);
    const struct batch *b = batch_of(&r, "cpu");
    assert_int_equal(b->nrows, 2);
    assert_int_equal(i64_at(b, "usage", 1), 4);
    assert_false(has_col(b, "host"));
    lp_result_cleanup(&r);

    /* A checker failure that is not a conflict aborts the request. */
    st.fail_rc = RC_DB;
    assert_int_equal(lp_parse("cpu a=1\n", 8, &o, &r), RC_DB);
    assert_int_equal(r.nbatches, 0);
    assert_null(r.batches);
    lp_result_cleanup(&r);
}

static void test_merge_rule(void **state)
{
    (void)state;
    struct lp_result r;
    parse("m,a=1,b=2 x=1 100000\n"
          "m,b=2,a=1 y=2 100000\n"         /* same series, other tag order */
          "m,a=1,b=2 x=3 100000\n"         /* later line wins */
          "m,a=1,b=2 x=4 200000\n"         /* other timestamp */
          "m,a=1 x=5 100000\n"             /* other tag set */
          "n,a=1,b=2 x=6 100000\n"         /* other measurement */
          "m,a=1,b=2,b=2 z=\"s\" 100000\n" /* duplicate tag, same set */
          "m,a=1,b=3 x=7 100000\n",
          &r);
    assert_int_equal(r.lines_accepted, 8);
    assert_int_equal(r.rows, 5);
    const struct batch *b = batch_of(&r, "m");
    assert_int_equal(b->nrows, 4);
    assert_true(f64_at(b, "x", 0) == 3.0);
    assert_true(f64_at(b, "y", 0) == 2.0);
    assert_string_equal(str_at(b, "z", 0), "s");
    assert_string_equal(str_at(b, "a", 0), "1");
    assert_string_equal(str_at(b, "b", 0), "2");
    assert_true(f64_at(b, "x", 1) == 4.0);
    assert_true(is_null(b, "y", 1));
    assert_true(f64_at(b, "x", 2) == 5.0);
    assert_true(is_null(b, "b", 2));
    assert_string_equal(str_at(b, "b", 3), "3");
    assert_int_equal(batch_of(&r, "n")->nrows, 1);
    lp_result_cleanup(&r);

    /* Lines without timestamp share the receipt time: one point. */
    parse("m,h=a f=1\nm,h=a g=2\nm,h=a f=3\n", &r);
    assert_int_equal(r.rows, 1);
    assert_true(f64_at(r.batches[0], "f", 0) == 3.0);
    assert_true(f64_at(r.batches[0], "g", 0) == 2.0);
    lp_result_cleanup(&r);

    /* Merging is on the stored microsecond: 1000 ns and 1999 ns collide. */
    parse("m f=1 1000\nm f=2 1999\nm f=3 2000\n", &r);
    assert_int_equal(r.rows, 2);
    assert_true(f64_at(r.batches[0], "f", 0) == 2.0);
    lp_result_cleanup(&r);

    /* Tag values are compared after unescaping. */
    parse("m,t=a\\b f=1 5000\nm,t=a\\b g=2 5000\nm,t=a\\,b f=3 5000\n", &r);
    assert_int_equal(r.rows, 2);
    lp_result_cleanup(&r);

    /* Many rows: merging keeps up (hash, not scan). */
    size_t n = 100000;
    char *body = xmalloc(n * 48);
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        cat(body, n * 48, &len, "m,h=%zu f=%zu %zu\n", i % 100, i, (i / 200) * 1000);
    assert_int_equal(
        lp_parse(body, len,
                 &(struct lp_options){.db = "d", .max_line_bytes = 1024, .max_reported_errors = 10},
                 &r),
        RC_OK);
    assert_int_equal(r.lines_accepted, n);
    assert_int_equal(r.rows, n / 2); /* each (h, ts) appears twice */
    lp_result_cleanup(&r);

    /* Same with time going backwards, and each (h, ts) repeated 50k lines
     * later (uses the (series, timestamp) table). */
    len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = i % (n / 2);
        cat(body, n * 48, &len, "m,h=%zu f=%zu %zu\n", k % 100, i, (n - k) * 1000);
    }
    assert_int_equal(
        lp_parse(body, len,
                 &(struct lp_options){.db = "d", .max_line_bytes = 1024, .max_reported_errors = 10},
                 &r),
        RC_OK);
    assert_int_equal(r.rows, n / 2);
    const struct batch *mb = r.batches[0];
    /* Row k holds the later line's value (i = k + n/2). */
    assert_true(f64_at(mb, "f", 0) == (double)(n / 2));
    assert_true(f64_at(mb, "f", 123) == (double)(n / 2 + 123));
    assert_int_equal(mb->time_us[123], (int64_t)(n - 123));
    lp_result_cleanup(&r);
    xfree(body);
}

static void test_duplicates_and_rename(void **state)
{
    (void)state;
    struct lp_result r;
    expect_accept("m,t=a,t=b f=1,f=2i,g=1,g=\"x\"", &r);
    const struct batch *b = r.batches[0];
    assert_string_equal(str_at(b, "t", 0), "b");
    assert_int_equal(i64_at(b, "f", 0), 2); /* no DOUBLE column "f" was created */
    assert_string_equal(str_at(b, "g", 0), "x");
    assert_int_equal(b->ncols, 3);
    lp_result_cleanup(&r);

    expect_accept("m,host=a host=1,x=2", &r);
    b = r.batches[0];
    assert_string_equal(str_at(b, "host", 0), "a");
    assert_true(f64_at(b, "host_value", 0) == 1.0);
    assert_true(f64_at(b, "x", 0) == 2.0);
    assert_false(b->cols[batch_col_find(b, "host_value", 10)].is_tag);
    lp_result_cleanup(&r);

    /* Renamed field and a literal host_value field: later wins. */
    expect_accept("m,host=a host=1,host_value=2i", &r);
    assert_int_equal(i64_at(r.batches[0], "host_value", 0), 2);
    assert_int_equal(r.batches[0]->ncols, 2);
    lp_result_cleanup(&r);
    /* The renamed key must fit in 255 bytes too. */
    char lk[600];
    size_t ll = 0;
    cat(lk, sizeof(lk), &ll, "m,");
    for (int i = 0; i < 250; i++)
        cat(lk, sizeof(lk), &ll, "k");
    cat(lk, sizeof(lk), &ll, "=v ");
    for (int i = 0; i < 250; i++)
        cat(lk, sizeof(lk), &ll, "k");
    cat(lk, sizeof(lk), &ll, "=1");
    expect_reject(lk, "field key too long (max 255 bytes)");
    expect_reject("m,host=a,host_value=b host=1",
                  "field key \"host\" collides with tag keys \"host\" and \"host_value\"");

    /* Tag keys duplicated with the field only after "last wins". */
    expect_accept("m,a=1,a=2 a=3", &r);
    assert_string_equal(str_at(r.batches[0], "a", 0), "2");
    assert_true(f64_at(r.batches[0], "a_value", 0) == 3.0);
    lp_result_cleanup(&r);

    /* Long lines (hash path): 20 tags, 20 fields, duplicates. */
    char body[2048];
    size_t len = 0;
    cat(body, sizeof(body), &len, "m");
    for (int i = 19; i >= 0; i--) /* unsorted tags */
        cat(body, sizeof(body), &len, ",t%02d=v%d", i, i);
    cat(body, sizeof(body), &len, ",t05=last,t00=zero ");
    for (int i = 0; i < 20; i++)
        cat(body, sizeof(body), &len, "%sf%02d=%d", i ? "," : "", i, i);
    cat(body, sizeof(body), &len, ",f03=\"dup\",t07=1i 1000");
    expect_accept(body, &r);
    b = r.batches[0];
    assert_int_equal(b->ncols, 20 + 20 + 1);
    assert_string_equal(str_at(b, "t05", 0), "last");
    assert_string_equal(str_at(b, "t00", 0), "zero");
    assert_string_equal(str_at(b, "t19", 0), "v19");
    assert_string_equal(str_at(b, "f03", 0), "dup");
    assert_int_equal(i64_at(b, "t07_value", 0), 1);
    assert_true(f64_at(b, "f19", 0) == 19.0);
    lp_result_cleanup(&r);

    /* The same series written with tags in another order merges (sorting
     * via qsort for > 16 tags). */
    char body2[4096];
    len = 0;
    for (int pass = 0; pass < 2; pass++) {
        cat(body2, sizeof(body2), &len, "m");
        for (int i = 0; i < 20; i++) {
            int k = pass ? 19 - i : i;
            cat(body2, sizeof(body2), &len, ",k%02d=v", k);
        }
        cat(body2, sizeof(body2), &len, " f%d=1 1000\n", pass);
    }
    parse(body2, &r);
    assert_int_equal(r.lines_accepted, 2);
    assert_int_equal(r.rows, 1);
    lp_result_cleanup(&r);
}

static void test_utf8(void **state)
{
    (void)state;
    struct lp_result r;
    /* BOM at the start of the body is skipped. */
    parse("\xEF\xBB\xBFm f=1\n", &r);
    assert_int_equal(r.lines_accepted, 1);
    assert_string_equal(r.batches[0]->measurement, "m");
    lp_result_cleanup(&r);
    /* A BOM elsewhere is data: invalid measurement. */
    parse("m f=1\n\xEF\xBB\xBFm f=1\n", &r);
    assert_int_equal(r.lines_rejected, 1);
    assert_string_equal(r.errors[0].reason, "invalid measurement name");
    lp_result_cleanup(&r);

    /* Valid multi-byte UTF-8 in names and values. */
    expect_accept("m,h\xC3\xB4te=\xE6\x9D\xB1\xE4\xBA\xAC s=\"\xF0\x9F\x98\x80\"", &r);
    assert_string_equal(str_at(r.batches[0], "h\xC3\xB4te", 0), "\xE6\x9D\xB1\xE4\xBA\xAC");
    assert_string_equal(str_at(r.batches[0], "s", 0), "\xF0\x9F\x98\x80");
    lp_result_cleanup(&r);

    /* Invalid bytes in values → U+FFFD, one per bad byte. */
    expect_accept("m,t=a\xFF"
                  "b s=\"x\xC3\" 1\n",
                  &r); /* truncated sequence */
    assert_string_equal(str_at(r.batches[0], "t", 0), "a\xEF\xBF\xBD"
                                                      "b");
    assert_string_equal(str_at(r.batches[0], "s", 0), "x\xEF\xBF\xBD");
    lp_result_cleanup(&r);
    expect_accept("m s=\"\xED\xA0\x80\"", &r); /* surrogate: 3 bad bytes */
    assert_string_equal(str_at(r.batches[0], "s", 0), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    lp_result_cleanup(&r);
    expect_accept("m s=\"\xC0\xAF\\\"\"", &r); /* overlong + escape */
    assert_string_equal(str_at(r.batches[0], "s", 0), "\xEF\xBF\xBD\xEF\xBF\xBD\"");
    lp_result_cleanup(&r);

    /* Invalid UTF-8 in names rejects the line. */
    expect_reject("m,k\xFF=v f=1", "invalid UTF-8 in tag key");
    expect_reject("m k\xC3=1", "invalid UTF-8 in field key");
    /* Long names are scanned 8 bytes at a time: a bad byte in a skipped
     * word must still be seen. */
    expect_reject("m,\xFF"
                  "bcdefghijklmnop=v f=1",
                  "invalid UTF-8 in tag key");
    expect_reject("m,abcdefghij\xFF=v f=1", "invalid UTF-8 in tag key");
    expect_reject("m \xFF"
                  "bcdefghijklmnop=1",
                  "invalid UTF-8 in field key");
    expect_accept("m,t=\xFF"
                  "bcdefghijklmnopqrstuvwxyz f=1",
                  &r);
    assert_string_equal(str_at(r.batches[0], "t", 0), "\xEF\xBF\xBD"
                                                      "bcdefghijklmnopqrstuvwxyz");
    lp_result_cleanup(&r);
    expect_reject("m\xC3\xA9 f=1", "invalid measurement name");
}

static void test_nul_bytes(void **state)
{
    (void)state;
    /* NUL is an ordinary byte: valid in values, shown as a space in texts. */
    static const char body[] = "m,t=a\0b s=\"x\0y\" 1000\nm f=\0\n";
    struct lp_options o = opts();
    struct lp_result r;
    assert_int_equal(lp_parse(body, sizeof(body) - 1, &o, &r), RC_OK);
    assert_int_equal(r.lines_accepted, 1);
    assert_int_equal(r.lines_rejected, 1);
    const struct batch *b = r.batches[0];
    const struct batch_col *c = col_of(b, "t", COL_STRING);
    size_t n;
    const char *v = batch_str(b, c, 0, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "a\0b", 3);
    c = col_of(b, "s", COL_STRING);
    v = batch_str(b, c, 0, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "x\0y", 3);
    assert_string_equal(r.errors[0].text, "m f= ");
    assert_string_equal(r.errors[0].reason, "invalid field value for key \"f\"");
    lp_result_cleanup(&r);
}

/* --- fast path (lines that repeat an earlier tag section and field layout) --- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A random numeric text in one of the forms clients send, or one of the
 * hard cases (long mantissas, 2^53 neighbours, exponents, tiny values). */
static void gen_float_text(uint64_t *s, char *out, size_t cap)
{
    uint64_t r = rng_next(s);
    unsigned w = (unsigned)(r >> 8) % 7 + 1;
    switch (r % 10) {
    case 0: /* d+.d+ with 1..7 fraction digits */
    case 1:
        snprintf(out, cap, "%u.%0*u", (unsigned)(r >> 20) % 100000, (int)w,
                 (unsigned)(rng_next(s) % 10000000) % (w >= 7 ? 10000000u : 1u << (3 * w)));
        break;
    case 2:
        snprintf(out, cap, "-%u.%u", (unsigned)(r >> 20) % 1000, (unsigned)(r >> 40) % 1000);
        break;
    case 3: snprintf(out, cap, ".%0*u", (int)w, (unsigned)(r >> 20) % 1000); break;
    case 4: snprintf(out, cap, "%llu", (unsigned long long)(r >> 12)); break; /* <= 16 digits */
    case 5: /* 17..20 significant digits: above 2^53, exact fallback */
        snprintf(out, cap, "%llu.%llu", (unsigned long long)(rng_next(s) >> (r % 8)),
                 (unsigned long long)(r >> 30));
        break;
    case 6:
        snprintf(out, cap, "%u.%ue%d", (unsigned)(r >> 20) % 100, (unsigned)(r >> 30) % 1000,
                 (int)((r >> 40) % 600) - 300);
        break;
    case 7:
        snprintf(out, cap, "0.%0*u%u", (int)((r >> 20) % 25), 0u, (unsigned)(r >> 40) % 100000);
        break;
    case 8: {
        static const char *const hard[] = {"9007199254740992",
                                           "9007199254740993",
                                           "9007199254740991.5",
                                           "900719925474099.25",
                                           "0.1",
                                           "0.30000000000000004",
                                           "123456789012345678",
                                           "1234567890123456789",
                                           "-0",
                                           "-0.0",
                                           "00000000000000000001.5",
                                           "4.9406564584124654",
                                           "1797693134862315.7",
                                           "0.000000000000000000000001"};
        snprintf(out, cap, "%s", hard[(r >> 20) % (sizeof(hard) / sizeof(hard[0]))]);
        break;
    }
    default: snprintf(out, cap, "%u.%02u", (unsigned)(r >> 20) % 100, (unsigned)(r >> 40) % 100);
    }
}

/* Floats parsed on the fast path (every line after the second repeats the
 * tag section and the layout) and on the full parse (a new series on every
 * line) must be bit for bit what strtod returns; integers what strtoll and
 * strtoull return. */
static void test_fast_numbers_vs_strtod(void **state)
{
    (void)state;
    enum { N = 20000 };
    char(*txt)[64] = xmalloc(N * sizeof(*txt));
    int64_t *iv = xmalloc(N * sizeof(*iv));
    uint64_t *uv = xmalloc(N * sizeof(*uv));
    uint64_t seed = UINT64_C(0x9E3779B97F4A7C15);
    for (size_t i = 0; i < N; i++) {
        gen_float_text(&seed, txt[i], sizeof(txt[i]));
        uint64_t r = rng_next(&seed);
        iv[i] = (int64_t)(r >> (r % 64));
        if (r & 1)
            iv[i] = -iv[i];
        if (i % 97 == 0)
            iv[i] = i % 2 ? INT64_MAX : INT64_MIN;
        uv[i] = rng_next(&seed) >> (r % 64);
        if (i % 89 == 0)
            uv[i] = UINT64_MAX;
    }
    size_t cap = (size_t)N * 160;
    char *body = xmalloc(cap);
    for (int pass = 0; pass < 2; pass++) {
        size_t len = 0;
        for (size_t i = 0; i < N; i++) {
            if (pass == 0)
                cat(body, cap, &len, "m,h=a v=%s,i=%lldi,u=%lluu %zu\n", txt[i], (long long)iv[i],
                    (unsigned long long)uv[i], i * 1000);
            else
                cat(body, cap, &len, "m,h=%zu v=%s,i=%lldi,u=%lluu %zu\n", i, txt[i],
                    (long long)iv[i], (unsigned long long)uv[i], i * 1000);
        }
        struct lp_result r;
        struct lp_options o = opts();
        assert_int_equal(lp_parse(body, len, &o, &r), RC_OK);
        if (r.lines_rejected)
            fail_msg("pass %d: rejected line %zu: %s", pass, r.errors[0].line, r.errors[0].reason);
        assert_int_equal(r.rows, N);
        const struct batch *b = r.batches[0];
        const struct batch_col *cv = col_of(b, "v", COL_DOUBLE);
        const struct batch_col *ci = col_of(b, "i", COL_INT64);
        const struct batch_col *cu = col_of(b, "u", COL_UINT64);
        for (size_t i = 0; i < N; i++) {
            double want = strtod(txt[i], NULL);
            if (memcmp(&cv->v.f64[i], &want, sizeof(want)) != 0)
                fail_msg("pass %d: \"%s\" parsed as %.17g, strtod says %.17g", pass, txt[i],
                         cv->v.f64[i], want);
            assert_true(ci->v.i64[i] == iv[i]);
            assert_true(cu->v.u64[i] == uv[i]);
            assert_int_equal(b->time_us[i], (int64_t)i);
        }
        lp_result_cleanup(&r);
    }
    xfree(body);
    xfree(txt);
    xfree(iv);
    xfree(uv);
}

/* Byte-identical tag sections with escapes, non-ASCII and invalid UTF-8,
 * and the same tag set written in another order: same series, same values,
 * merged on equal timestamps; every row of a series points at the same
 * heap bytes for its tags. */
static void test_series_cache_tags(void **state)
{
    (void)state;
    enum { K = 50 };
    char body[K * 256];
    size_t len = 0;
    for (int k = 0; k < K; k++) {
        cat(body, sizeof(body), &len, "m,h=a\\ b,r=x\\,y,s=a\\\\ b f=%d %d000\n", k, k);
        cat(body, sizeof(body), &len, "m,s=a\\\\ b,h=a\\ b,r=x\\,y g=%di %d000\n", k, k);
        cat(body, sizeof(body), &len, "m,h=\xc3\xa9\xff,r=x\\,y f=%d %d000\n", k, k);
        cat(body, sizeof(body), &len, "n,h=a\\ b f=%di %d000\n", k, k);
    }
    struct lp_result r;
    parse(body, &r);
    assert_int_equal(r.lines_accepted, 4 * K);
    assert_int_equal(r.rows, 3 * K);
    const struct batch *b = batch_of(&r, "m");
    assert_int_equal(b->nrows, 2 * K);
    assert_int_equal(b->ncols, 5);
    for (int k = 0; k < K; k++) {
        size_t r1 = 2 * (size_t)k, r2 = r1 + 1;
        assert_int_equal(b->time_us[r1], k);
        assert_string_equal(str_at(b, "h", r1), "a b");
        assert_string_equal(str_at(b, "r", r1), "x,y");
        assert_string_equal(str_at(b, "s", r1), "a\\ b");
        assert_true(f64_at(b, "f", r1) == k);
        assert_int_equal(i64_at(b, "g", r1), k);
        assert_string_equal(str_at(b, "h", r2), "\xc3\xa9\xef\xbf\xbd");
        assert_string_equal(str_at(b, "r", r2), "x,y");
        assert_true(is_null(b, "s", r2));
        assert_true(is_null(b, "g", r2));
        assert_true(f64_at(b, "f", r2) == k);
    }
    /* Tag values are stored once per series, not once per row. */
    const struct batch_col *h = col_of(b, "h", COL_STRING);
    for (int k = 1; k < K; k++) {
        assert_int_equal(h->v.s[2 * k].off, h->v.s[0].off);
        assert_int_equal(h->v.s[2 * k + 1].off, h->v.s[1].off);
    }
    assert_true(b->heap_len < 64);
    const struct batch *n = batch_of(&r, "n");
    assert_int_equal(n->nrows, K);
    assert_string_equal(str_at(n, "h", K - 1), "a b");
    assert_int_equal(i64_at(n, "f", K - 1), K - 1);
    lp_result_cleanup(&r);
}

/* Warm-up lines (a repeated section and layout) followed by `line`: parses
 * the lot; the outcome for `line` is the caller's to check. */
#define WARM                                                                                       \
    "m,h=a x=1,y=2i,s=\"q\",b=t 1000\nm,h=a x=1,y=2i,s=\"q\",b=t 2000\n"                           \
    "m,h=a x=1,y=2i,s=\"q\",b=t 3000\n"

static void warm_reject(const char *line, const char *reason)
{
    char body[512];
    snprintf(body, sizeof(body), WARM "%s\nm,h=a x=5,y=6i,s=\"z\",b=f 9000\n", line);
    struct lp_result r;
    parse(body, &r);
    if (r.lines_rejected != 1 || r.nerrors != 1)
        fail_msg("'%s': expected 1 rejection, got %zu", line, r.lines_rejected);
    assert_string_equal(r.errors[0].reason, reason);
    assert_int_equal(r.errors[0].line, 4);
    assert_int_equal(r.lines_accepted, 4);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->nrows, 4);
    assert_int_equal(b->ncols, 5);
    assert_true(f64_at(b, "x", 3) == 5.0);
    lp_result_cleanup(&r);
}

/* Lines that start like the warm-up lines but differ later fall back to the
 * full parse: same errors, same values, word for word. */
static void test_fast_path_fallbacks(void **state)
{
    (void)state;
    warm_reject("m,h=a x=1i,y=2i,s=\"q\",b=t 4000",
                "field type conflict: field \"x\" is float, got integer");
    warm_reject("m,h=a x=1,y=2i,s=\"q\",b=1 4000",
                "field type conflict: field \"b\" is boolean, got float");
    warm_reject("m,h=a x=abc,y=2i,s=\"q\",b=t 4000", "invalid field value for key \"x\"");
    warm_reject("m,h=a x=1.,y=2i,s=\"q\",b=t 4000", "invalid field value for key \"x\"");
    warm_reject("m,h=a x=1e999,y=2i,s=\"q\",b=t 4000", "float value out of range for key \"x\"");
    warm_reject("m,h=a x=1,y=9223372036854775808i,s=\"q\",b=t 4000",
                "integer value out of range for key \"y\"");
    warm_reject("m,h=a x=1,y=2i,s=\"q\",b=t 1x", "invalid timestamp");
    warm_reject("m,h=a x=1,y=2i ,s=\"q\"", "invalid timestamp");
    warm_reject("m,h=a x=1,y=2i,s=\"q\",b=t 9223372036854775808", "timestamp out of range");
    warm_reject("m,h=a x=1,y=2i,s=\"q\",b=t\t4000", "invalid field value for key \"b\"");
    warm_reject("m,h=a x=1,y=2i,s=\"q\"x,b=t 4000", "invalid field value for key \"s\"");
    warm_reject("m,h=a x=1,y=2i,s=\"q\",b=t,", "empty field key");
    warm_reject("m,h=a x=1,,y=2i", "empty field key");
    warm_reject("m,h=a x=1,time=2i", "invalid field key \"time\": reserved for the timestamp");
    warm_reject("m,h=a x=", "missing field value for key \"x\"");

    struct lp_result r;
    parse(WARM "m,h=a x=1,y=2i,s=\"q", &r);
    assert_int_equal(r.lines_rejected, 1);
    assert_string_equal(r.errors[0].reason, "unterminated string value for key \"s\"");
    lp_result_cleanup(&r);

    const struct batch *b;
    /* Extra field, fewer fields, other order, duplicate, renamed field. */
    parse(WARM "m,h=a x=1,y=2i,s=\"q\",b=t,z=5 4000\n"
               "m,h=a x=6,y=7i 5000\n"
               "m,h=a y=8i,x=9,s=\"r\",b=F 6000\n"
               "m,h=a x=1,x=2,s=\"q\",b=t 7000\n"
               "m,h=a x=1,y=2i,s=\"q\",h=3 8000\n",
          &r);
    assert_int_equal(r.lines_accepted, 8);
    b = r.batches[0];
    assert_int_equal(b->nrows, 8);
    assert_true(f64_at(b, "z", 3) == 5.0);
    assert_true(is_null(b, "z", 4));
    assert_true(f64_at(b, "x", 4) == 6.0);
    assert_true(is_null(b, "s", 4));
    assert_true(is_null(b, "b", 4));
    assert_int_equal(i64_at(b, "y", 5), 8);
    assert_true(f64_at(b, "x", 5) == 9.0);
    assert_false(bool_at(b, "b", 5));
    assert_true(f64_at(b, "x", 6) == 2.0);
    assert_true(f64_at(b, "h_value", 7) == 3.0);
    assert_string_equal(str_at(b, "h", 7), "a");
    assert_true(is_null(b, "b", 7));
    lp_result_cleanup(&r);

    /* Values the fast path hands to the full value parser: strings with
     * escapes, invalid UTF-8 and newlines, signed zeros, other booleans;
     * no timestamp, CRLF, extra blanks; line numbers after a multi-line
     * string stay right. */
    parse(WARM "m,h=a x=-0,y=-0i,s=\"\",b=FALSE 4000\n"
               "m,h=a x=1,y=2i,s=\"a\\\"b\xff\",b=true 5000\r\n"
               "m,h=a  x=1,y=2i,s=\"line1\nline2\",b=t   6000  \n"
               "m,h=a x=1,y=2i,s=\"q\",b=t\n"
               "m,h=a x=1,y=2i,s=\"q\",b=t 1x\n",
          &r);
    assert_int_equal(r.lines_accepted, 7);
    assert_int_equal(r.lines_rejected, 1);
    assert_int_equal(r.errors[0].line, 9);
    b = r.batches[0];
    assert_int_equal(b->nrows, 7);
    double x = f64_at(b, "x", 3);
    assert_true(x == 0.0 && signbit(x));
    assert_int_equal(i64_at(b, "y", 3), 0);
    assert_string_equal(str_at(b, "s", 3), "");
    assert_false(bool_at(b, "b", 3));
    assert_string_equal(str_at(b, "s", 4), "a\"b\xef\xbf\xbd");
    assert_true(bool_at(b, "b", 4));
    assert_string_equal(str_at(b, "s", 5), "line1\nline2");
    assert_int_equal(b->time_us[5], 6);
    assert_int_equal(b->time_us[6], TS0);
    lp_result_cleanup(&r);

    /* Only the last line: no newline after it (the fast value scan needs a
     * byte after the line; the full parser takes over). */
    parse(WARM "m,h=a x=2.5,y=3i,s=\"w\",b=t 4000", &r);
    assert_int_equal(r.lines_accepted, 4);
    assert_true(f64_at(r.batches[0], "x", 3) == 2.5);
    assert_int_equal(i64_at(r.batches[0], "y", 3), 3);
    lp_result_cleanup(&r);
}

/* A series may follow the field layout another series of its measurement
 * wrote, unless a field key of that layout is one of its tag keys: then
 * the field is renamed "<key>_value" (the full parse decides). */
static void test_fast_path_layout_and_rename(void **state)
{
    (void)state;
    struct lp_result r;
    parse("m,h=1 a=\"s\",c=1 1000\nm,h=1 a=\"s\",c=2 2000\nm,h=1 a=\"s\",c=3 3000\n"
          "m,a=x a=\"t\",c=4 1000\nm,a=x a=\"t\",c=5 2000\nm,a=x a=\"t\",c=6 3000\n"
          "m,h=2 a=\"u\",c=7 1000\nm,h=2 a=\"u\",c=8 2000\nm,h=2 a=\"u\",c=9 3000\n",
          &r);
    assert_int_equal(r.lines_accepted, 9);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->nrows, 9);
    for (size_t i = 0; i < 9; i++)
        assert_true(f64_at(b, "c", i) == (double)(i + 1));
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(str_at(b, "a", i), "s");
        assert_true(is_null(b, "a_value", i));
        assert_string_equal(str_at(b, "a", 3 + i), "x");
        assert_string_equal(str_at(b, "a_value", 3 + i), "t");
        assert_string_equal(str_at(b, "a", 6 + i), "u");
        assert_true(is_null(b, "a_value", 6 + i));
        assert_string_equal(str_at(b, "h", 6 + i), "2");
    }
    assert_true(b->cols[batch_col_find(b, "a", 1)].is_tag);
    lp_result_cleanup(&r);

    /* The schema checker is asked once per new column, however many lines
     * take the fast path. */
    struct stub st = {0};
    struct lp_options o = opts();
    o.schema.check = stub_check;
    o.schema.ctx = &st;
    char body[8192];
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        cat(body, sizeof(body), &len, "sys,host=h%d,dc=x idle=%d.5,n=%du %d000\n", i % 3, i, i, i);
    parse_o(body, &o, &r);
    assert_int_equal(r.lines_accepted, 100);
    assert_int_equal(st.calls, 4);
    lp_result_cleanup(&r);
}

/* Wide lines: more fields than the per-line arrays start with, keys longer
 * than the word compare covers, 19-digit and boundary timestamps. */
static void test_fast_path_wide_and_timestamps(void **state)
{
    (void)state;
    size_t cap = 64 * 1024, len = 0;
    char *body = xmalloc(cap);
    for (int k = 0; k < 6; k++) {
        cat(body, cap, &len, "wide,host=h%d", k % 2);
        for (int f = 0; f < 40; f++)
            cat(body, cap, &len, "%cf%02d=%d.%d", f ? ',' : ' ', f, f, k);
        cat(body, cap, &len, ",a_very_long_field_key_number_1=%di,abcdefghijklmnopqrstuvw=%d %d\n",
            k, k, 1700000000 + k);
    }
    struct lp_options o = opts();
    o.precision = LP_S;
    struct lp_result r;
    parse_o(body, &o, &r);
    assert_int_equal(r.lines_accepted, 6);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->ncols, 1 + 40 + 2);
    for (int k = 0; k < 6; k++) {
        for (int f = 0; f < 40; f++) {
            char name[8], val[16];
            snprintf(name, sizeof(name), "f%02d", f);
            snprintf(val, sizeof(val), "%d.%d", f, k);
            assert_true(f64_at(b, name, (size_t)k) == strtod(val, NULL));
        }
        assert_int_equal(i64_at(b, "a_very_long_field_key_number_1", (size_t)k), k);
        assert_true(f64_at(b, "abcdefghijklmnopqrstuvw", (size_t)k) == k);
        assert_int_equal(b->time_us[k], (INT64_C(1700000000) + k) * 1000000);
    }
    lp_result_cleanup(&r);
    xfree(body);

    /* Timestamps after warm-up lines (fast path), exact or rejected. */
    static const struct {
        const char *ts;
        int64_t us; /* INT64_MIN = rejected with "timestamp out of range" */
    } cases[] = {
        {"1451606400000000000", INT64_C(1451606400000000)},
        {"1451606400000000999", INT64_C(1451606400000000)},
        {"9223372036854775807", INT64_C(9223372036854775)},
        {"-9223372036854775808", INT64_C(-9223372036854776)},
        {"9223372036854775808", INT64_MIN},
        {"-9223372036854775809", INT64_MIN},
        {"99999999999999999999", INT64_MIN},
        {"00000000000000000001000", 1},
        {"-1", -1},
        {"-1000", -1},
        {"-1001", -2},
        {"12345678", 12345},
        {"0", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), WARM "m,h=a x=1,y=2i,s=\"q\",b=t %s\n", cases[i].ts);
        parse(line, &r);
        if (cases[i].us == INT64_MIN) {
            assert_int_equal(r.lines_rejected, 1);
            assert_string_equal(r.errors[0].reason, "timestamp out of range");
        } else {
            if (r.lines_rejected)
                fail_msg("ts %s rejected: %s", cases[i].ts, r.errors[0].reason);
            const struct batch *mb = r.batches[0];
            /* Merged into a warm-up row when it lands on 1, 2 or 3 us. */
            bool found = false;
            for (size_t k = 0; k < mb->nrows; k++)
                found |= mb->time_us[k] == cases[i].us;
            assert_true(found);
        }
        lp_result_cleanup(&r);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct lp_result r;
    struct lp_options o = opts();
    assert_int_equal(lp_parse(NULL, 5, &o, &r), RC_INVALID);
    assert_int_equal(lp_parse("m f=1", 5, NULL, &r), RC_INVALID);
    assert_int_equal(lp_parse(NULL, 0, &o, &r), RC_OK);
    assert_int_equal(r.lines_received, 0);
    lp_result_cleanup(&r);
    lp_result_cleanup(NULL);
    /* Body need not be NUL-terminated: only len bytes are read. */
    char buf[8] = {'m', ' ', 'f', '=', '1', '2', '3', '4'};
    assert_int_equal(lp_parse(buf, 5, &o, &r), RC_OK);
    assert_true(f64_at(r.batches[0], "f", 0) == 1.0);
    /* The caller may keep a batch past cleanup by taking a reference. */
    struct batch *keep = batch_ref(r.batches[0]);
    lp_result_cleanup(&r);
    assert_int_equal(keep->nrows, 1);
    batch_unref(&keep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_line),
        cmocka_unit_test(test_multiple_measurements_and_nulls),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_float_grammar),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_timestamps_and_precision),
        cmocka_unit_test(test_precision_parse),
        cmocka_unit_test(test_blank_comment_crlf),
        cmocka_unit_test(test_partial_write_and_errors),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_multiline_strings),
        cmocka_unit_test(test_unterminated_linear),
        cmocka_unit_test(test_type_conflicts_in_request),
        cmocka_unit_test(test_schema_checker),
        cmocka_unit_test(test_merge_rule),
        cmocka_unit_test(test_duplicates_and_rename),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_fast_numbers_vs_strtod),
        cmocka_unit_test(test_series_cache_tags),
        cmocka_unit_test(test_fast_path_fallbacks),
        cmocka_unit_test(test_fast_path_layout_and_rename),
        cmocka_unit_test(test_fast_path_wide_and_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
