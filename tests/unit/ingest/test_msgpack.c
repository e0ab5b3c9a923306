/* Unit tests for ingest/msgpack: top-level forms, columnar and row items,
 * timestamp units, value types, validation failures, catalog conflicts. */
#include "test_helpers.h"

#include <math.h>

#include <msgpuck.h>

#include "ingest/msgpack.h"

/* ---- body builder (msgpuck encoders into one static buffer) ---- */

static char B[1 << 20];
static char *w = B;

static void reset(void)
{
    w = B;
}
static void S(const char *s)
{
    w = mp_encode_str(w, s, (uint32_t)strlen(s));
}
static void SN(const char *s, uint32_t n)
{
    w = mp_encode_str(w, s, n);
}
static void MAP(uint32_t n)
{
    w = mp_encode_map(w, n);
}
static void ARR(uint32_t n)
{
    w = mp_encode_array(w, n);
}
static void I(int64_t v)
{
    w = v >= 0 ? mp_encode_uint(w, (uint64_t)v) : mp_encode_int(w, v);
}
static void U(uint64_t v)
{
    w = mp_encode_uint(w, v);
}
static void D(double v)
{
    w = mp_encode_double(w, v);
}
static void F32(float v)
{
    w = mp_encode_float(w, v);
}
static void NIL(void)
{
    w = mp_encode_nil(w);
}
static void BOOL(bool v)
{
    w = mp_encode_bool(w, v);
}
static void RAW(const void *p, size_t n)
{
    memcpy(w, p, n);
    w += n;
}
static size_t blen(void)
{
    return (size_t)(w - B);
}

/* ---- fake catalog ---- */

struct sc_entry {
    char meas[64], col[64];
    enum col_type type;
};
static struct sc_entry sc_tab[64];
static int sc_n, sc_calls;

static int sc_check(void *ctx, const char *db, const char *meas, const char *col, size_t len,
                    enum col_type type, enum col_type *existing)
{
    (void)ctx;
    (void)db;
    sc_calls++;
    for (int i = 0; i < sc_n; i++) {
        if (strcmp(sc_tab[i].meas, meas) == 0 && strlen(sc_tab[i].col) == len &&
            memcmp(sc_tab[i].col, col, len) == 0) {
            if (sc_tab[i].type == type)
                return RC_OK;
            *existing = sc_tab[i].type;
            return RC_INVALID;
        }
    }
    snprintf(sc_tab[sc_n].meas, 64, "%s", meas);
    snprintf(sc_tab[sc_n].col, 64, "%.*s", (int)len, col);
    sc_tab[sc_n].type = type;
    sc_n++;
    return RC_OK;
}

static void sc_reset(void)
{
    sc_n = 0;
    sc_calls = 0;
}

static void sc_add(const char *meas, const char *col, enum col_type t)
{
    snprintf(sc_tab[sc_n].meas, 64, "%s", meas);
    snprintf(sc_tab[sc_n].col, 64, "%s", col);
    sc_tab[sc_n].type = t;
    sc_n++;
}

/* ---- decode helpers ---- */

#define RECEIPT_US INT64_C(1736950000123456)

static struct mpdec_options opts(void)
{
    struct mpdec_options o;
    memset(&o, 0, sizeof(o));
    o.db = "testdb";
    o.default_ts_us = RECEIPT_US;
    return o;
}

static struct errbuf eb;

static int dec_opts(const struct mpdec_options *o, struct mpdec_result *r)
{
    errbuf_clear(&eb);
    int rc = mpdec_decode(B, blen(), o, r, &eb);
    if (rc == RC_OK) {
        /* Invariants of every successful result. */
        size_t rows = 0;
        for (size_t i = 0; i < r->nbatches; i++) {
            const struct batch *b = r->batches[i];
            assert_true(b->sealed);
            assert_string_equal(b->db, "testdb");
            assert_true(b->nrows > 0);
            rows += b->nrows;
        }
        assert_int_equal(rows, r->rows);
    } else {
        assert_null(r->batches);
        assert_int_equal(r->nbatches, 0);
        assert_true(eb.msg[0] != '\0');
    }
    return rc;
}

static int dec(struct mpdec_result *r)
{
    struct mpdec_options o = opts();
    return dec_opts(&o, r);
}

static void expect_fail(int want_rc, const char *want_msg)
{
    struct mpdec_result r;
    int rc = dec(&r);
    if (rc != want_rc || !strstr(eb.msg, want_msg)) {
        print_error("rc=%d msg=\"%s\", wanted rc=%d containing \"%s\"\n", rc, eb.msg, want_rc,
                    want_msg);
        fail();
    }
    mpdec_result_cleanup(&r);
}

static const struct batch *find_batch(const struct mpdec_result *r, const char *m)
{
    for (size_t i = 0; i < r->nbatches; i++)
        if (strcmp(r->batches[i]->measurement, m) == 0)
            return r->batches[i];
    fail_msg("no batch %s", m);
    return NULL;
}

static const struct batch_col *col(const struct batch *b, const char *name)
{
    int i = batch_col_find(b, name, strlen(name));
    if (i < 0)
        fail_msg("no column %s", name);
    return &b->cols[i];
}

static void assert_str_at(const struct batch *b, const char *name, size_t row, const char *want)
{
    const struct batch_col *c = col(b, name);
    assert_int_equal(c->type, COL_STRING);
    assert_true(batch_is_valid(c, row));
    size_t n;
    const char *s = batch_str(b, c, row, &n);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
}

/* One row item {"m": m, "t": <t>, "fields": {"v": 1}}: the timestamp
 * encoder is called between. Returns the stored time. */
static int64_t row_time(void (*enc)(void), const struct mpdec_options *o, int *rc_out)
{
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("t");
    enc();
    S("fields");
    MAP(1);
    S("v");
    I(1);
    struct mpdec_result r;
    int rc = dec_opts(o, &r);
    *rc_out = rc;
    int64_t t = rc == RC_OK ? r.batches[0]->time_us[0] : 0;
    mpdec_result_cleanup(&r);
    return t;
}

static int64_t t_int;
static void enc_int(void)
{
    I(t_int);
}
static uint64_t t_uint;
static void enc_uint(void)
{
    U(t_uint);
}
static double t_dbl;
static void enc_dbl(void)
{
    D(t_dbl);
}

static int64_t time_of_int(int64_t v, int unit)
{
    struct mpdec_options o = opts();
    o.forced_unit = unit;
    int rc;
    t_int = v;
    int64_t t = row_time(enc_int, &o, &rc);
    if (rc)
        fail_msg("time %lld: %s", (long long)v, eb.msg);
    return t;
}

static int64_t time_of_dbl(double v, int unit)
{
    struct mpdec_options o = opts();
    o.forced_unit = unit;
    int rc;
    t_dbl = v;
    int64_t t = row_time(enc_dbl, &o, &rc);
    if (rc)
        fail_msg("time %f: %s", v, eb.msg);
    return t;
}

/* ---- tests: forms ---- */

/* The SPEC §1.4 example payload. */
static void encode_example(void)
{
    MAP(3);
    S("m");
    S("sensor");
    S("tags");
    ARR(1);
    S("site");
    S("columns");
    MAP(4);
    S("time");
    ARR(2);
    I(1736950000000);
    I(1736950001000);
    S("site");
    ARR(2);
    S("north");
    S("south");
    S("temp");
    ARR(2);
    D(21.5);
    D(19.25);
    S("ok");
    ARR(2);
    BOOL(true);
    BOOL(false);
}

static void test_columnar_example(void **state)
{
    (void)state;
    reset();
    encode_example();
    struct mpdec_result r;
    assert_int_equal(dec(&r), RC_OK);
    assert_int_equal(r.nbatches, 1);
    assert_int_equal(r.items, 1);
    assert_int_equal(r.rows, 2);
    const struct batch *b = r.batches[0];
    assert_string_equal(b->measurement, "sensor");
    assert_int_equal(b->nrows, 2);
    assert_int_equal(b->ncols, 3);
    assert_int_equal(b->time_us[0], INT64_C(1736950000000000));
    assert_int_equal(b->time_us[1], INT64_C(1736950001000000));
    assert_int_equal(b->min_time_us, INT64_C(1736950000000000));
    assert_int_equal(b->max_time_us, INT64_C(1736950001000000));
    assert_true(col(b, "site")->is_tag);
    assert_false(col(b, "temp")->is_tag);
    assert_str_at(b, "site", 0, "north");
    assert_str_at(b, "site", 1, "south");
    assert_int_equal(col(b, "temp")->type, COL_DOUBLE);
    assert_true(col(b, "temp")->v.f64[0] == 21.5);
    assert_true(col(b, "temp")->v.f64[1] == 19.25);
    assert_int_equal(col(b, "ok")->type, COL_BOOL);
    assert_int_equal(col(b, "ok")->v.b[0], 1);
    assert_int_equal(col(b, "ok")->v.b[1], 0);
    assert_true(batch_is_valid(col(b, "ok"), 1));
    char tags[64];
    batch_tag_list(b, tags, sizeof(tags));
    assert_string_equal(tags, "site");
    mpdec_result_cleanup(&r);
    assert_null(r.batches);
    mpdec_result_cleanup(&r); /* twice is harmless */
}

static void encode_small(const char *m, int64_t v)
{
    MAP(2);
    S("m");
    S(m);
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    I(v);
}

static void test_forms(void **state)
{
    (void)state;
    struct mpdec_result r;

    /* {"batch": [a, b, a]} */
    reset();
    MAP(1);
    S("batch");
    ARR(3);
    encode_small("a", 1);
    encode_small("b", 2);
    encode_small("a", 3);
    assert_int_equal(dec(&r), RC_OK);
    assert_int_equal(r.items, 3);
    assert_int_equal(r.nbatches, 2);
    assert_string_equal(r.batches[0]->measurement, "a");
    assert_int_equal(find_batch(&r, "a")->nrows, 2);
    assert_int_equal(col(find_batch(&r, "a"), "v")->v.i64[1], 3);
    assert_int_equal(col(find_batch(&r, "b"), "v")->v.i64[0], 2);
    assert_int_equal(find_batch(&r, "a")->time_us[0], RECEIPT_US);
    mpdec_result_cleanup(&r);

    /* [a, b] */
    reset();
    ARR(2);
    encode_small("a", 1);
    encode_small("b", 2);
    assert_int_equal(dec(&r), RC_OK);
    assert_int_equal(r.items, 2);
    assert_int_equal(r.nbatches, 2);
    mpdec_result_cleanup(&r);

    /* Concatenated: item, array, batch wrapper. */
    reset();
    encode_small("a", 1);
    ARR(1);
    encode_small("a", 2);
    MAP(1);
    S("batch");
    ARR(2);
    encode_small("c", 3);
    encode_small("a", 4);
    assert_int_equal(dec(&r), RC_OK);
    assert_int_equal(r.items, 4);
    assert_int_equal(r.nbatches, 2);
    const struct batch *a = find_batch(&r, "a");
    assert_int_equal(a->nrows, 3);
    assert_int_equal(col(a, "v")->v.i64[0], 1);
    assert_int_equal(col(a, "v")->v.i64[1], 2);
    assert_int_equal(col(a, "v")->v.i64[2], 4);
    mpdec_result_cleanup(&r);

    /* Empty array: nothing to store, not an error. */
    reset();
    ARR(0);
    assert_int_equal(dec(&r), RC_OK);
    assert_int_equal(r.nbatches, 0);
    assert_int_equal(r.items, 0);
    mpdec_result_cleanup(&r);
}

/* Keys in any order: `columns` before `m` (sorted-key encoders), `tags`
 * after `columns`; duplicate and misplaced keys. */
static void test_key_order(void **state)
{
    (void)state;
    struct mpdec_result r;
    reset();
    MAP(4);
    S("columns");
    MAP(2);
    S("site");
    ARR(2);
    S("n");
    S("s");
    S("time");
    ARR(2);
    I(1700000000);
    I(1700000001);
    S("extra");
    MAP(1); /* unknown keys are ignored, whatever they hold */
    S("x");
    ARR(0);
    S("m");
    S("sorted");
    S("tags");
    ARR(1);
    S("site");
    assert_int_equal(dec(&r), RC_OK);
    const struct batch *b = r.batches[0];
    assert_string_equal(b->measurement, "sorted");
    assert_int_equal(b->time_us[1], INT64_C(1700000001000000));
    assert_true(col(b, "site")->is_tag);
    assert_str_at(b, "site", 1, "s");
    mpdec_result_cleanup(&r);

    /* m first, tags after columns */
    reset();
    MAP(3);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("site");
    ARR(1);
    S("n");
    S("tags");
    ARR(1);
    S("site");
    assert_int_equal(dec(&r), RC_OK);
    assert_true(col(r.batches[0], "site")->is_tag);
    mpdec_result_cleanup(&r);

    /* duplicate key */
    reset();
    MAP(3);
    S("m");
    S("a");
    S("f");
    ARR(1);
    I(1);
    S("m");
    S("b");
    expect_fail(RC_INVALID, "item 0: duplicate key \"m\"");

    /* batch wrapper mixed with item keys, after or before */
    reset();
    MAP(2);
    S("batch");
    ARR(1);
    encode_small("a", 1);
    S("m");
    S("a");
    expect_fail(RC_INVALID, "\"batch\" wrapper mixed with item keys");
    reset();
    MAP(3);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    I(1);
    S("batch");
    ARR(0);
    expect_fail(RC_INVALID, "\"batch\" wrapper mixed");
    /* nested wrapper */
    reset();
    ARR(1);
    MAP(1);
    S("batch");
    ARR(0);
    expect_fail(RC_INVALID, "nested");
    /* fields after columns */
    reset();
    MAP(3);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    I(1);
    S("fields");
    MAP(1);
    S("v");
    I(1);
    expect_fail(RC_INVALID, "both \"columns\" and \"fields\"");
}

static void test_integer_measurement(void **state)
{
    (void)state;
    reset();
    MAP(2);
    S("m");
    I(42);
    S("fields");
    MAP(1);
    S("v");
    I(1);
    struct mpdec_result r;
    assert_int_equal(dec(&r), RC_OK);
    assert_string_equal(r.batches[0]->measurement, "measurement_42");
    mpdec_result_cleanup(&r);
}

/* ---- tests: timestamps ---- */

static void test_unit_inference(void **state)
{
    (void)state;
    assert_int_equal(time_of_int(INT64_C(9999999999), 0), INT64_C(9999999999000000));
    assert_int_equal(time_of_int(INT64_C(10000000000), 0), INT64_C(10000000000000)); /* ms */
    assert_int_equal(time_of_int(INT64_C(9999999999999), 0), INT64_C(9999999999999000));
    assert_int_equal(time_of_int(INT64_C(10000000000000), 0), INT64_C(10000000000000)); /* us */
    assert_int_equal(time_of_int(INT64_C(9999999999999999), 0), INT64_C(9999999999999999));
    assert_int_equal(time_of_int(INT64_C(10000000000000000), 0), INT64_C(10000000000000)); /* ns */
    assert_int_equal(time_of_int(INT64_C(1736950000123456789), 0), INT64_C(1736950000123456));
    assert_int_equal(time_of_int(0, 0), 0);
    /* Negative: magnitude decides. */
    assert_int_equal(time_of_int(-1000, 0), INT64_C(-1000000000));
    assert_int_equal(time_of_int(INT64_C(-10000000000), 0), INT64_C(-10000000000000));
    assert_int_equal(time_of_int(INT64_C(-10000000000000001), 0), INT64_C(-10000000000001));
    /* Floats infer too. */
    assert_int_equal(time_of_dbl(1e10, 0), INT64_C(10000000000000));
    assert_int_equal(time_of_dbl(9999999999.5, 0), INT64_C(9999999999500000));
    /* uint64 above INT64_MAX: nanoseconds. */
    struct mpdec_options o = opts();
    int rc;
    t_uint = UINT64_C(10000000000000000000);
    assert_int_equal(row_time(enc_uint, &o, &rc), INT64_C(10000000000000000));
    assert_int_equal(rc, RC_OK);
    /* Year outside 0001-9999 rejected. */
    t_int = INT64_C(9999999999999);
    o.forced_unit = MPDEC_UNIT_S;
    row_time(enc_int, &o, &rc);
    assert_int_equal(rc, RC_INVALID);
    assert_non_null(strstr(eb.msg, "out of range"));
    assert_non_null(strstr(eb.msg, "item 0"));
}

static void test_forced_units(void **state)
{
    (void)state;
    assert_int_equal(time_of_int(1700000000, MPDEC_UNIT_S), INT64_C(1700000000000000));
    assert_int_equal(time_of_int(1700000000, MPDEC_UNIT_MS), INT64_C(1700000000000));
    assert_int_equal(time_of_int(1700000000, MPDEC_UNIT_US), INT64_C(1700000000));
    assert_int_equal(time_of_int(1700000000, MPDEC_UNIT_NS), INT64_C(1700000));
    /* Would infer ns, forced us. */
    assert_int_equal(time_of_int(INT64_C(17000000000000000), MPDEC_UNIT_US),
                     INT64_C(17000000000000000));
    /* ns floored, also below zero. */
    assert_int_equal(time_of_int(1999, MPDEC_UNIT_NS), 1);
    assert_int_equal(time_of_int(-1, MPDEC_UNIT_NS), -1);
    assert_int_equal(time_of_int(-1000, MPDEC_UNIT_NS), -1);
    assert_int_equal(time_of_int(-1001, MPDEC_UNIT_NS), -2);
    assert_int_equal(time_of_dbl(1500.5, MPDEC_UNIT_MS), 1500500);

    /* Invalid unit value. */
    struct mpdec_options o = opts();
    o.forced_unit = 9;
    reset();
    encode_small("a", 1);
    struct mpdec_result r;
    assert_int_equal(dec_opts(&o, &r), RC_INVALID);
}

static void test_float_seconds(void **state)
{
    (void)state;
    assert_int_equal(time_of_dbl(1700000000.25, 0), INT64_C(1700000000250000));
    assert_int_equal(time_of_dbl(1700000000.000001, 0), INT64_C(1700000000000001));
    assert_int_equal(time_of_dbl(1700000000.123456, 0), INT64_C(1700000000123456));
    assert_int_equal(time_of_dbl(1700000000123.456, 0), INT64_C(1700000000123456));
    assert_int_equal(time_of_dbl(-1.5, 0), INT64_C(-1500000));
    /* Small values where v * 1e6 lands just below the intended integer:
     * rounding, not flooring, gives the microsecond that was meant. */
    assert_int_equal(time_of_dbl(1.000001, 0), INT64_C(1000001));
    assert_int_equal(time_of_dbl(0.000249, 0), INT64_C(249));
    assert_int_equal(time_of_dbl(1.7e18 + 2048.0, 0), INT64_C(1700000000000002));
    /* NaN in time. */
    int rc;
    struct mpdec_options o = opts();
    t_dbl = NAN;
    row_time(enc_dbl, &o, &rc);
    assert_int_equal(rc, RC_INVALID);
}

/* Columnar: the unit is decided once, from the first value. */
static void test_columnar_unit_once(void **state)
{
    (void)state;
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(2);
    S("time");
    ARR(3);
    I(INT64_C(1700000000000)); /* ms */
    I(5);                      /* still ms */
    D(1700000000500.5);        /* ms, fraction kept */
    S("v");
    ARR(3);
    I(1);
    I(2);
    I(3);
    struct mpdec_result r;
    assert_int_equal(dec(&r), RC_OK);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->time_us[0], INT64_C(1700000000000000));
    assert_int_equal(b->time_us[1], 5000);
    assert_int_equal(b->time_us[2], INT64_C(1700000000500500));
    mpdec_result_cleanup(&r);

    /* Seconds decided first, then a value that is out of range in seconds. */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("time");
    ARR(2);
    I(1700000000);
    I(INT64_C(1700000000000000000));
    expect_fail(RC_INVALID, "row 1");
}

static void ext_fix4(uint32_t sec)
{
    unsigned char e[6] = {0xd6,
                          0xff,
                          (unsigned char)(sec >> 24),
                          (unsigned char)(sec >> 16),
                          (unsigned char)(sec >> 8),
                          (unsigned char)sec};
    RAW(e, sizeof(e));
}

static void ext_fix8(uint64_t sec34, uint32_t nsec)
{
    uint64_t v = ((uint64_t)nsec << 34) | sec34;
    unsigned char e[10] = {0xd7, 0xff};
    for (int i = 0; i < 8; i++)
        e[2 + i] = (unsigned char)(v >> (56 - 8 * i));
    RAW(e, sizeof(e));
}

static void ext_12(int64_t sec, uint32_t nsec)
{
    unsigned char e[15] = {0xc7, 12, 0xff};
    for (int i = 0; i < 4; i++)
        e[3 + i] = (unsigned char)(nsec >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        e[7 + i] = (unsigned char)((uint64_t)sec >> (56 - 8 * i));
    RAW(e, sizeof(e));
}

static void test_timestamp_ext(void **state)
{
    (void)state;
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(2);
    S("time");
    ARR(4);
    ext_fix4(1700000000);
    ext_fix8(1700000001, 123456789);
    ext_12(-2, 999999999);
    I(1700000003000); /* numeric after ext: unit inferred from this value (ms) */
    S("v");
    ARR(4);
    I(1);
    I(2);
    I(3);
    I(4);
    struct mpdec_result r;
    assert_int_equal(dec(&r), RC_OK);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->time_us[0], INT64_C(1700000000000000));
    assert_int_equal(b->time_us[1], INT64_C(1700000001123456));
    assert_int_equal(b->time_us[2], INT64_C(-1000001));
    assert_int_equal(b->time_us[3], INT64_C(1700000003000000));
    mpdec_result_cleanup(&r);

    /* Other extension types in time: rejected. */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("time");
    ARR(1);
    RAW("\xd6\x05\x00\x00\x00\x01", 6);
    expect_fail(RC_INVALID, "extension");

    /* nsec out of range in the 12-byte form. */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("time");
    ARR(1);
    ext_12(5, 1000000000);
    expect_fail(RC_INVALID, "out of range");

    /* Row item with an ext timestamp. */
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("t");
    ext_fix4(42);
    S("f");
    ARR(1);
    I(1);
    assert_int_equal(dec(&r), RC_OK);
    assert_int_equal(r.batches[0]->time_us[0], 42000000);
    mpdec_result_cleanup(&r);
}

static void test_time_bad_values(void **state)
{
    (void)state;
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(2);
    S("v");
    ARR(2);
    I(1);
    I(2);
    S("time");
    ARR(2);
    I(1700000000);
    S("2024-01-01");
    expect_fail(RC_INVALID, "item 0, column \"time\", row 1: timestamp is a string");

    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("time");
    ARR(2);
    NIL();
    I(1700000000);
    expect_fail(RC_INVALID, "column \"time\", row 0: timestamp is nil");

    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("t");
    S("now");
    S("f");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "timestamp is a string");
}

/* ---- tests: value types ---- */

static void encode_one_col(const char *name, void (*values)(void), uint32_t n)
{
    MAP(2);
    S("m");
    S("t1");
    S("columns");
    MAP(1);
    S(name);
    ARR(n);
    values();
}

static void vals_mixed(void)
{
    I(1);
    D(2.5);
    NIL();
    I(-3);
    F32(0.5f);
}
static void vals_big(void)
{
    I(1);
    U(UINT64_MAX);
    NIL();
}
static void vals_big_neg(void)
{
    I(-1);
    U(UINT64_MAX);
}
static void vals_nil(void)
{
    NIL();
    NIL();
    NIL();
}
static void vals_ints(void)
{
    I(INT64_MIN);
    NIL();
    I(INT64_MAX);
    RAW("\xd0\x05", 2); /* int8 encoding of +5 */
}
static void vals_str_num(void)
{
    S("a");
    NIL();
    I(1);
}
static void vals_bool_str(void)
{
    BOOL(true);
    S("x");
}
static void vals_nested_map(void)
{
    I(1);
    MAP(1);
    S("k");
    I(1);
}
static void vals_nested_arr(void)
{
    ARR(0);
}
static void vals_bin(void)
{
    S("ok");
    NIL();
    w = mp_encode_bin(w, "\x01\x02", 2);
}
static void vals_ext(void)
{
    ext_fix4(1);
}
static void vals_bad_utf8(void)
{
    SN("a\xff"
       "b",
       3);
    SN("\xe2\x82", 2); /* truncated sequence */
}

static void test_value_types(void **state)
{
    (void)state;
    struct mpdec_result r;
    const struct batch_col *c;

    reset();
    encode_one_col("x", vals_mixed, 5);
    assert_int_equal(dec(&r), RC_OK);
    c = col(r.batches[0], "x");
    assert_int_equal(c->type, COL_DOUBLE);
    assert_true(c->v.f64[0] == 1.0);
    assert_true(c->v.f64[1] == 2.5);
    assert_false(batch_is_valid(c, 2));
    assert_true(c->v.f64[3] == -3.0);
    assert_true(c->v.f64[4] == 0.5);
    mpdec_result_cleanup(&r);

    reset();
    encode_one_col("x", vals_big, 3);
    assert_int_equal(dec(&r), RC_OK);
    c = col(r.batches[0], "x");
    assert_int_equal(c->type, COL_UINT64);
    assert_true(c->v.u64[0] == 1);
    assert_true(c->v.u64[1] == UINT64_MAX);
    assert_false(batch_is_valid(c, 2));
    mpdec_result_cleanup(&r);

    reset();
    encode_one_col("x", vals_big_neg, 2);
    expect_fail(RC_INVALID, "item 0, column \"x\", row 1");

    reset();
    encode_one_col("x", vals_ints, 4);
    assert_int_equal(dec(&r), RC_OK);
    c = col(r.batches[0], "x");
    assert_int_equal(c->type, COL_INT64);
    assert_true(c->v.i64[0] == INT64_MIN);
    assert_true(c->v.i64[2] == INT64_MAX);
    assert_true(c->v.i64[3] == 5);
    assert_false(batch_is_valid(c, 1));
    mpdec_result_cleanup(&r);

    /* All nil: an all-null STRING column. */
    reset();
    encode_one_col("x", vals_nil, 3);
    assert_int_equal(dec(&r), RC_OK);
    c = col(r.batches[0], "x");
    assert_int_equal(c->type, COL_STRING);
    assert_int_equal(r.batches[0]->nrows, 3);
    for (int i = 0; i < 3; i++)
        assert_false(batch_is_valid(c, (size_t)i));
    mpdec_result_cleanup(&r);

    reset();
    encode_one_col("x", vals_str_num, 3);
    expect_fail(RC_INVALID, "item 0, column \"x\", row 2: number value in a column of string");
    reset();
    encode_one_col("x", vals_bool_str, 2);
    expect_fail(RC_INVALID, "row 1: string value in a column of boolean");
    reset();
    encode_one_col("x", vals_nested_map, 2);
    expect_fail(RC_INVALID, "item 0, column \"x\", row 1: nested maps are not supported");
    reset();
    encode_one_col("x", vals_nested_arr, 1);
    expect_fail(RC_INVALID, "row 0: nested arrays");
    reset();
    encode_one_col("x", vals_bin, 3);
    expect_fail(RC_INVALID, "item 0, column \"x\", row 2: binary values are not supported");
    reset();
    encode_one_col("x", vals_ext, 1);
    expect_fail(RC_INVALID, "extension values");

    /* Invalid UTF-8 in values is repaired with U+FFFD. */
    reset();
    encode_one_col("s", vals_bad_utf8, 2);
    assert_int_equal(dec(&r), RC_OK);
    assert_str_at(r.batches[0], "s", 0,
                  "a\xef\xbf\xbd"
                  "b");
    assert_str_at(r.batches[0], "s", 1, "\xef\xbf\xbd\xef\xbf\xbd");
    mpdec_result_cleanup(&r);
}

/* The same column over several items of one request: types are joined. */
static void test_cross_item_merge(void **state)
{
    (void)state;
    struct mpdec_result r;
    reset();
    ARR(4);
    encode_small("a", 7); /* x: INT64 */
    MAP(2);               /* x: DOUBLE -> column converted */
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    D(0.5);
    encode_small("a", 9); /* ints into a DOUBLE column */
    MAP(2);               /* nil only: no effect on the type */
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    NIL();
    assert_int_equal(dec(&r), RC_OK);
    const struct batch_col *c = col(r.batches[0], "v");
    assert_int_equal(c->type, COL_DOUBLE);
    assert_true(c->v.f64[0] == 7.0);
    assert_true(c->v.f64[1] == 0.5);
    assert_true(c->v.f64[2] == 9.0);
    assert_false(batch_is_valid(c, 3));
    mpdec_result_cleanup(&r);

    /* All-nil column first, then strings: takes the string type; then ints
     * into it conflict. */
    reset();
    ARR(3);
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    NIL();
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    D(1.5);
    encode_small("a", 1);
    assert_int_equal(dec(&r), RC_OK);
    c = col(r.batches[0], "v");
    assert_int_equal(c->type, COL_DOUBLE);
    assert_true(c->v.f64[1] == 1.5);
    assert_true(c->v.f64[2] == 1.0);
    mpdec_result_cleanup(&r);

    reset();
    ARR(2);
    encode_small("a", 1);
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    S("text");
    expect_fail(RC_INVALID, "item 1, column \"v\", row 0: field type conflict: field \"v\" is "
                            "integer, got string");

    /* INT64 then a uint above INT64_MAX: UINT64 if nothing is negative. */
    reset();
    ARR(2);
    encode_small("a", 1);
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    U(UINT64_MAX);
    assert_int_equal(dec(&r), RC_OK);
    c = col(r.batches[0], "v");
    assert_int_equal(c->type, COL_UINT64);
    assert_true(c->v.u64[0] == 1 && c->v.u64[1] == UINT64_MAX);
    mpdec_result_cleanup(&r);

    /* The single-pass writer meets a value that does not fit halfway: ints
     * then a float, and ints then a big uint, into an existing column. */
    reset();
    ARR(3);
    encode_small("a", 5);
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(4);
    I(3);
    NIL();
    U(UINT64_MAX);
    I(4);
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(3);
    I(-0); /* stays UINT64: no negative */
    D(0.25);
    NIL();
    assert_int_equal(dec(&r), RC_OK);
    c = col(r.batches[0], "v");
    assert_int_equal(r.batches[0]->nrows, 8);
    assert_int_equal(c->type, COL_DOUBLE);
    assert_true(c->v.f64[0] == 5.0);
    assert_true(c->v.f64[1] == 3.0);
    assert_false(batch_is_valid(c, 2));
    assert_true(c->v.f64[3] == 18446744073709551615.0);
    assert_true(c->v.f64[4] == 4.0);
    assert_true(c->v.f64[5] == 0.0);
    assert_true(c->v.f64[6] == 0.25);
    assert_false(batch_is_valid(c, 7));
    mpdec_result_cleanup(&r);

    reset();
    ARR(2);
    encode_small("a", -1);
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    U(UINT64_MAX);
    expect_fail(RC_INVALID, "is integer, got unsigned");
}

/* ---- tests: row items ---- */

static void test_row_host_rule(void **state)
{
    (void)state;
    struct mpdec_result r;
    reset();
    ARR(4);
    /* tags.host wins over h */
    MAP(4);
    S("m");
    S("cpu");
    S("h");
    S("from-h");
    S("tags");
    MAP(1);
    S("host");
    S("from-tags");
    S("fields");
    MAP(1);
    S("v");
    I(1);
    /* h string */
    MAP(3);
    S("m");
    S("cpu");
    S("h");
    S("web1");
    S("fields");
    MAP(1);
    S("v");
    I(2);
    /* h integer */
    MAP(3);
    S("m");
    S("cpu");
    S("h");
    I(7);
    S("fields");
    MAP(1);
    S("v");
    I(3);
    /* nothing */
    MAP(2);
    S("m");
    S("cpu");
    S("fields");
    MAP(1);
    S("v");
    I(4);
    assert_int_equal(dec(&r), RC_OK);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->nrows, 4);
    assert_int_equal(r.items, 4);
    assert_true(col(b, "host")->is_tag);
    assert_str_at(b, "host", 0, "from-tags");
    assert_str_at(b, "host", 1, "web1");
    assert_str_at(b, "host", 2, "host_7");
    assert_str_at(b, "host", 3, "unknown");
    assert_int_equal(col(b, "v")->v.i64[3], 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(b->time_us[i], RECEIPT_US);
    mpdec_result_cleanup(&r);
}

static void test_row_f_array_and_tags(void **state)
{
    (void)state;
    struct mpdec_result r;
    reset();
    ARR(2);
    MAP(4);
    S("m");
    S("mem");
    S("t");
    I(1700000000);
    S("tags");
    MAP(5);
    S("rack");
    I(12);
    S("ratio");
    D(21.5);
    S("on");
    BOOL(true);
    S("gone");
    NIL();
    S("neg");
    I(-3);
    S("f");
    ARR(3);
    D(1.5);
    S("x");
    NIL();
    /* second row: per-row unit, int into the DOUBLE field_0 column, field
     * named like one of its tags -> <key>_value */
    MAP(4);
    S("m");
    S("mem");
    S("t");
    I(INT64_C(1700000001000));
    S("tags");
    MAP(1);
    S("zone");
    S("eu");
    S("fields");
    MAP(2);
    S("field_0");
    I(2);
    S("zone");
    I(5);
    assert_int_equal(dec(&r), RC_OK);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->nrows, 2);
    assert_int_equal(b->time_us[0], INT64_C(1700000000000000));
    assert_int_equal(b->time_us[1], INT64_C(1700000001000000));
    assert_str_at(b, "rack", 0, "12");
    assert_str_at(b, "ratio", 0, "21.5");
    assert_str_at(b, "on", 0, "true");
    assert_str_at(b, "neg", 0, "-3");
    assert_true(col(b, "rack")->is_tag);
    assert_int_equal(batch_col_find(b, "gone", 4), -1);
    const struct batch_col *f0 = col(b, "field_0");
    assert_int_equal(f0->type, COL_DOUBLE);
    assert_true(f0->v.f64[0] == 1.5);
    assert_true(f0->v.f64[1] == 2.0);
    assert_str_at(b, "field_1", 0, "x");
    assert_false(batch_is_valid(col(b, "field_1"), 1));
    assert_int_equal(batch_col_find(b, "field_2", 7), -1); /* nil only: no column */
    assert_str_at(b, "zone", 1, "eu");
    assert_true(col(b, "zone")->is_tag);
    assert_int_equal(col(b, "zone_value")->type, COL_INT64);
    assert_int_equal(col(b, "zone_value")->v.i64[1], 5);
    assert_str_at(b, "host", 0, "unknown");
    mpdec_result_cleanup(&r);
}

/* Python encoders send 20.0 as 20: rows mixing ints and floats join to
 * DOUBLE. */
static void test_row_int_float_mix(void **state)
{
    (void)state;
    struct mpdec_result r;
    reset();
    ARR(3);
    for (int i = 0; i < 3; i++) {
        MAP(2);
        S("m");
        S("temp");
        S("fields");
        MAP(1);
        S("c");
        if (i == 1)
            D(20.5);
        else
            I(20 + i);
    }
    assert_int_equal(dec(&r), RC_OK);
    const struct batch_col *c = col(r.batches[0], "c");
    assert_int_equal(c->type, COL_DOUBLE);
    assert_true(c->v.f64[0] == 20.0);
    assert_true(c->v.f64[1] == 20.5);
    assert_true(c->v.f64[2] == 22.0);
    mpdec_result_cleanup(&r);
}

/* Empty strings, also as the very first string of a batch (its string heap
 * is not allocated yet). */
static void test_empty_strings(void **state)
{
    (void)state;
    struct mpdec_result r;
    reset();
    ARR(2);
    MAP(3);
    S("m");
    S("e");
    S("tags");
    MAP(1);
    S("host");
    S("");
    S("fields");
    MAP(1);
    S("s");
    S("");
    MAP(2);
    S("m");
    S("e2");
    S("columns");
    MAP(2);
    S("s");
    ARR(3);
    S("");
    S("");
    S("");
    S("t");
    ARR(3);
    S("");
    S("ab");
    S("");
    assert_int_equal(dec(&r), RC_OK);
    assert_str_at(find_batch(&r, "e"), "s", 0, "");
    assert_str_at(find_batch(&r, "e"), "host", 0, "");
    const struct batch *b = find_batch(&r, "e2");
    assert_str_at(b, "s", 0, "");
    assert_str_at(b, "s", 2, "");
    assert_str_at(b, "t", 0, "");
    assert_str_at(b, "t", 1, "ab");
    assert_str_at(b, "t", 2, "");
    mpdec_result_cleanup(&r);
}

/* A declared tag column that is all nil stays a string column: numbers for
 * it later in the request conflict instead of retyping a tag. */
static void test_declared_tag_stays_string(void **state)
{
    (void)state;
    reset();
    ARR(2);
    MAP(3);
    S("m");
    S("a");
    S("tags");
    ARR(1);
    S("site");
    S("columns");
    MAP(1);
    S("site");
    ARR(1);
    NIL();
    encode_small("a", 1); /* column v */
    struct mpdec_result r;
    assert_int_equal(dec(&r), RC_OK);
    assert_true(col(r.batches[0], "site")->is_tag);
    assert_int_equal(col(r.batches[0], "site")->type, COL_STRING);
    mpdec_result_cleanup(&r);

    reset();
    ARR(2);
    MAP(3);
    S("m");
    S("a");
    S("tags");
    ARR(1);
    S("site");
    S("columns");
    MAP(1);
    S("site");
    ARR(1);
    NIL();
    MAP(2);
    S("m");
    S("a");
    S("columns");
    MAP(1);
    S("site");
    ARR(1);
    I(3);
    expect_fail(RC_INVALID, "field \"site\" is string, got integer");
}

/* ---- tests: validation failures ---- */

static void test_validation_failures(void **state)
{
    (void)state;

    /* length mismatch */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(2);
    S("a");
    ARR(2);
    I(1);
    I(2);
    S("b");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "item 0, column \"b\": 1 values, but column \"a\" has 2");

    /* missing m (second item: index 1, and the first is not kept) */
    reset();
    ARR(2);
    encode_small("ok", 1);
    MAP(1);
    S("columns");
    MAP(1);
    S("a");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "item 1: missing \"m\"");

    /* empty columns */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(0);
    expect_fail(RC_INVALID, "item 0: \"columns\" is empty");

    /* empty arrays */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("a");
    ARR(0);
    expect_fail(RC_INVALID, "array is empty");

    /* missing fields */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("t");
    I(1);
    expect_fail(RC_INVALID, "item 0: missing \"columns\"");

    /* both fields and f */
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("f");
    ARR(1);
    I(1);
    S("fields");
    MAP(1);
    S("v");
    I(1);
    expect_fail(RC_INVALID, "item 0: both \"fields\" and \"f\" given");

    /* h of another type */
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("h");
    D(1.5);
    S("f");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "\"h\" (host) must be a string or an integer");

    /* empty fields */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("fields");
    MAP(0);
    expect_fail(RC_INVALID, "\"fields\" is empty");

    /* bad measurement names */
    reset();
    encode_small("9cpu", 1);
    expect_fail(RC_INVALID, "invalid measurement name \"9cpu\"");
    reset();
    encode_small("cpu load", 1);
    expect_fail(RC_INVALID, "invalid measurement name");
    char longname[140];
    memset(longname, 'a', 129);
    longname[129] = '\0';
    reset();
    encode_small(longname, 1);
    expect_fail(RC_INVALID, "invalid measurement name");
    reset();
    MAP(2);
    S("m");
    D(1.5);
    S("f");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "must be a string or an integer");

    /* bad column names */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("fields");
    MAP(1);
    S("time");
    I(1);
    expect_fail(RC_INVALID, "reserved");
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "empty column name");
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    SN("\xc0\xaf", 2);
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "not valid UTF-8");
    char name256[257];
    memset(name256, 'n', 256);
    name256[256] = '\0';
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S(name256);
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "longer than 255");

    /* duplicate column in one item */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(2);
    S("a");
    ARR(1);
    I(1);
    S("a");
    ARR(1);
    I(2);
    expect_fail(RC_INVALID, "duplicate column \"a\"");

    /* nested map in a row field */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("fields");
    MAP(1);
    S("x");
    MAP(0);
    expect_fail(RC_INVALID, "item 0, column \"x\", row 0: nested maps");

    /* bin in a row tag */
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("tags");
    MAP(1);
    S("k");
    w = mp_encode_bin(w, "b", 1);
    S("f");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "binary values");

    /* declared tag that is not a string column / not a column */
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("tags");
    ARR(1);
    S("v");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "a tag column must hold strings, got integer");
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("tags");
    ARR(1);
    S("nope");
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "tag \"nope\" is not a column");

    /* columns value not an array, item not a map, top-level scalar */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("v");
    I(1);
    expect_fail(RC_INVALID, "must be an array");
    reset();
    ARR(2);
    encode_small("a", 1);
    I(5);
    expect_fail(RC_INVALID, "item 1: not a map");
    reset();
    encode_small("a", 1);
    S("junk");
    expect_fail(RC_INVALID, "top-level object 1 is not a map");

    /* both forms in one item */
    reset();
    MAP(3);
    S("m");
    S("cpu");
    S("f");
    ARR(1);
    I(1);
    S("columns");
    MAP(1);
    S("v");
    ARR(1);
    I(1);
    expect_fail(RC_INVALID, "both");
}

static void test_malformed(void **state)
{
    (void)state;
    /* truncated body */
    reset();
    encode_example();
    size_t full = blen();
    w = B + full - 3;
    expect_fail(RC_PARSE, "malformed MessagePack at byte");
    w = B + 1;
    expect_fail(RC_PARSE, "malformed MessagePack at byte 1");

    /* trailing garbage: a valid item then the never-used byte 0xc1 */
    reset();
    encode_example();
    size_t at = blen();
    RAW("\xc1", 1);
    char want[64];
    snprintf(want, sizeof(want), "malformed MessagePack at byte %zu", at);
    expect_fail(RC_PARSE, want);

    /* trailing truncated object */
    reset();
    encode_example();
    RAW("\xa5xy", 3);
    expect_fail(RC_PARSE, "malformed MessagePack");

    /* Counts that overflow msgpuck 1.0.3's mp_check counter. */
    reset();
    RAW("\xdd\xff\xff\xff\xff", 5);
    expect_fail(RC_PARSE, "malformed MessagePack");
    reset();
    RAW("\xdf\x80\x00\x00\x00", 5);
    expect_fail(RC_PARSE, "malformed MessagePack");
    reset();
    RAW("\xdb\xff\xff\xff\xff"
        "abc",
        8);
    expect_fail(RC_PARSE, "malformed MessagePack at byte 0");

    /* empty body */
    reset();
    expect_fail(RC_PARSE, "empty");
}

/* ---- tests: catalog ---- */

static void test_schema_conflict_and_widening(void **state)
{
    (void)state;
    struct mpdec_options o = opts();
    o.schema.check = sc_check;
    struct mpdec_result r;

    /* Catalog: x is integer; a float arrives. */
    sc_reset();
    sc_add("cpu", "x", COL_INT64);
    reset();
    ARR(2);
    encode_small("other", 1);
    MAP(2);
    S("m");
    S("cpu");
    S("fields");
    MAP(1);
    S("x");
    D(1.5);
    assert_int_equal(dec_opts(&o, &r), RC_INVALID);
    assert_non_null(
        strstr(eb.msg, "item 1: field type conflict: field \"x\" is integer, got float"));

    /* Catalog: x is float; integers within 2^53 are widened. */
    sc_reset();
    sc_add("cpu", "x", COL_DOUBLE);
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("x");
    ARR(3);
    I(20);
    I(-INT64_C(9007199254740992));
    NIL();
    assert_int_equal(dec_opts(&o, &r), RC_OK);
    const struct batch_col *c = col(r.batches[0], "x");
    assert_int_equal(c->type, COL_DOUBLE);
    assert_true(c->v.f64[0] == 20.0);
    assert_true(c->v.f64[1] == -9007199254740992.0);
    assert_false(batch_is_valid(c, 2));
    assert_int_equal(sc_n, 1); /* the int type was not recorded */
    mpdec_result_cleanup(&r);

    /* ... but not beyond 2^53. */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("x");
    ARR(2);
    I(20);
    I(INT64_C(9007199254740993));
    assert_int_equal(dec_opts(&o, &r), RC_INVALID);
    assert_non_null(strstr(eb.msg, "field type conflict: field \"x\" is float, got integer"));

    /* Catalog: x is unsigned; non-negative ints are stored as UINT64. */
    sc_reset();
    sc_add("cpu", "x", COL_UINT64);
    reset();
    encode_small("cpu", 5);
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("x");
    ARR(1);
    I(5);
    assert_int_equal(dec_opts(&o, &r), RC_OK);
    assert_int_equal(col(find_batch(&r, "cpu"), "x")->type, COL_UINT64);
    assert_true(col(find_batch(&r, "cpu"), "x")->v.u64[1] == 5);
    mpdec_result_cleanup(&r);

    /* Catalog: tag column (string), a number arrives as a field. */
    sc_reset();
    sc_add("cpu", "host", COL_STRING);
    sc_add("cpu", "x", COL_BOOL);
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(2);
    S("host");
    ARR(1);
    I(3);
    S("x");
    ARR(1);
    NIL();
    assert_int_equal(dec_opts(&o, &r), RC_INVALID);
    assert_non_null(strstr(eb.msg, "field \"host\" is string, got integer"));

    /* All-nil column takes the catalog's type. */
    reset();
    MAP(2);
    S("m");
    S("cpu");
    S("columns");
    MAP(1);
    S("x");
    ARR(2);
    NIL();
    NIL();
    assert_int_equal(dec_opts(&o, &r), RC_OK);
    assert_int_equal(col(r.batches[0], "x")->type, COL_BOOL);
    mpdec_result_cleanup(&r);

    /* A content error elsewhere means the catalog is never asked. */
    sc_reset();
    reset();
    ARR(2);
    encode_small("cpu", 1);
    encode_small("9bad", 1);
    assert_int_equal(dec_opts(&o, &r), RC_INVALID);
    assert_int_equal(sc_calls, 0);
}

static void test_memory_cap(void **state)
{
    (void)state;
    /* Many items, each bringing a new column for one batch: cells grow
     * quadratically; the cap stops it with RC_LIMIT. */
    reset();
    ARR(400);
    for (int i = 0; i < 400; i++) {
        char name[16];
        snprintf(name, sizeof(name), "c%d", i);
        MAP(2);
        S("m");
        S("wide");
        S("columns");
        MAP(1);
        S(name);
        ARR(1);
        I(i);
    }
    struct mpdec_options o = opts();
    o.max_mem_bytes = 100000;
    struct mpdec_result r;
    assert_int_equal(dec_opts(&o, &r), RC_LIMIT);
    assert_non_null(strstr(eb.msg, "exceed 100000 bytes"));
    /* Default cap: fine. */
    assert_int_equal(dec(&r), RC_OK);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->ncols, 400);
    assert_int_equal(b->nrows, 400);
    assert_int_equal(col(b, "c399")->v.i64[399], 399);
    assert_false(batch_is_valid(col(b, "c0"), 399));
    mpdec_result_cleanup(&r);
}

/* A larger columnar body round trip (several batch growth steps). */
static void test_columnar_many_rows(void **state)
{
    (void)state;
    const uint32_t n = 5000;
    reset();
    MAP(2);
    S("m");
    S("big");
    S("columns");
    MAP(3);
    S("time");
    ARR(n);
    for (uint32_t i = 0; i < n; i++)
        I(INT64_C(1700000000000000000) + (int64_t)i * 1000);
    S("d");
    ARR(n);
    for (uint32_t i = 0; i < n; i++)
        if (i % 7 == 0)
            NIL();
        else
            D(i * 0.5);
    S("s");
    ARR(n);
    for (uint32_t i = 0; i < n; i++) {
        char v[16];
        snprintf(v, sizeof(v), "v%u", i % 13);
        S(v);
    }
    struct mpdec_result r;
    assert_int_equal(dec(&r), RC_OK);
    const struct batch *b = r.batches[0];
    assert_int_equal(b->nrows, n);
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(b->time_us[i], INT64_C(1700000000000000) + i);
        const struct batch_col *d = col(b, "d");
        if (i % 7 == 0)
            assert_false(batch_is_valid(d, i));
        else
            assert_true(d->v.f64[i] == i * 0.5);
    }
    assert_str_at(b, "s", 4999, "v7");
    mpdec_result_cleanup(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columnar_example),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_integer_measurement),
        cmocka_unit_test(test_unit_inference),
        cmocka_unit_test(test_forced_units),
        cmocka_unit_test(test_float_seconds),
        cmocka_unit_test(test_columnar_unit_once),
        cmocka_unit_test(test_timestamp_ext),
        cmocka_unit_test(test_time_bad_values),
        cmocka_unit_test(test_value_types),
        cmocka_unit_test(test_cross_item_merge),
        cmocka_unit_test(test_row_host_rule),
        cmocka_unit_test(test_row_f_array_and_tags),
        cmocka_unit_test(test_row_int_float_mix),
        cmocka_unit_test(test_empty_strings),
        cmocka_unit_test(test_declared_tag_stays_string),
        cmocka_unit_test(test_validation_failures),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_schema_conflict_and_widening),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_columnar_many_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
