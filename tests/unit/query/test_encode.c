/*
 * tests/unit/query/test_encode.c — JSON and CSV encoders (query/encode*.c)
 * on real DuckDB results: every type of the SPEC §4.2 table, NULLs, NaN,
 * exact 128-bit integers, nested values, timestamp units and fraction
 * trimming, CSV quoting, empty and multi-chunk results with a bounded
 * output buffer. Independent of the query engine: results come from a plain
 * in-memory DuckDB connection.
 */
#include "test_helpers.h"

#include <math.h>

#include <duckdb.h>

#include "query/encode.h"
#include "query/encode_internal.h"
#include "util/mem.h"

#include "encode_helpers.h"

/* The "data" array of a JSON body: between "data": and ,"row_count". */
static char *json_data(const char *body)
{
    const char *s = strstr(body, "\"data\":");
    const char *e = strstr(body, ",\"row_count\":");
    if (!s || !e || e < s)
        return xstrdup("<no data>");
    s += 7;
    return xstrndup(s, (size_t)(e - s));
}

/* Encodes `sql` as JSON and checks the data array exactly. */
static void check_json(const char *sql, const char *want_data)
{
    struct encoded enc;
    struct errbuf eb = {0};
    int rc = encode_sql(QENC_JSON, sql, 0, &enc, &eb);
    if (rc)
        fprintf(stderr, "encode failed: %s\n", eb.msg);
    assert_int_equal(rc, RC_OK);
    char *data = json_data(enc.data);
    assert_string_equal(data, want_data);
    xfree(data);
    xfree(enc.data);
}

static void test_json_envelope(void **state)
{
    (void)state;
    struct encoded enc;
    struct errbuf eb = {0};
    assert_int_equal(encode_sql(QENC_JSON, "SELECT 1 AS a, 'x' AS \"b\"\"q\"", 0, &enc, &eb),
                     RC_OK);
    assert_string_equal(enc.data,
                        "{\"success\":true,\"columns\":[\"a\",\"b\\\"q\"],\"data\":[[1,\"x\"]],"
                        "\"row_count\":1,\"execution_time_ms\":2.500,"
                        "\"timestamp\":\"2025-01-15T14:03:07Z\"}");
    assert_int_equal(enc.rows, 1);
    xfree(enc.data);

    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(qenc_json_tail(&sb, 1.25, 0, 3.5), RC_OK);
    assert_string_equal(sb.data,
                        ",\"execution_time_ms\":1.250,\"timestamp\":\"1970-01-01T00:00:00Z\","
                        "\"cached\":true,\"cache_age_seconds\":3.500}");
    strbuf_reset(&sb);
    assert_int_equal(qenc_json_error(&sb, "Only read-only \"queries\"", 4, 0), RC_OK);
    assert_string_equal(sb.data, "{\"success\":false,\"error\":\"Only read-only \\\"queries\\\"\","
                                 "\"detail\":\"Only read-only \\\"queries\\\"\",\"columns\":[],"
                                 "\"data\":[],\"row_count\":0,\"execution_time_ms\":4.000,"
                                 "\"timestamp\":\"1970-01-01T00:00:00Z\"}");
    strbuf_cleanup(&sb);
}

static void test_json_integers(void **state)
{
    (void)state;
    check_json("SELECT true, false, (-128)::TINYINT, 32767::SMALLINT, (-2147483648)::INTEGER, "
               "(-9223372036854775808)::BIGINT, 255::UTINYINT, 65535::USMALLINT, "
               "4294967295::UINTEGER, 18446744073709551615::UBIGINT",
               "[[true,false,-128,32767,-2147483648,-9223372036854775808,255,65535,4294967295,"
               "18446744073709551615]]");
    /* 128-bit extremes keep every digit. */
    check_json(
        "SELECT 170141183460469231731687303715884105727::HUGEINT, "
        "(-170141183460469231731687303715884105727::HUGEINT - 1), 0::HUGEINT, "
        "340282366920938463463374607431768211455::UHUGEINT, 18446744073709551616::UHUGEINT",
        "[[170141183460469231731687303715884105727,-170141183460469231731687303715884105728,0,"
        "340282366920938463463374607431768211455,18446744073709551616]]");
}

static void test_json_floats(void **state)
{
    (void)state;
    check_json("SELECT 0.1::FLOAT, 1.1::FLOAT, 3.4028235e38::FLOAT, 1e100, -0.0::DOUBLE, "
               "0.30000000000000004::DOUBLE, 1.0::DOUBLE, 1e21::DOUBLE, 1e-7::DOUBLE, "
               "123456789012345680000::DOUBLE",
               "[[0.1,1.1,3.4028235e+38,1e+100,-0,0.30000000000000004,1,1e+21,1e-07,"
               "1.2345678901234568e+20]]");
    /* NaN and infinities are not JSON numbers: null. */
    check_json("SELECT 'nan'::DOUBLE, 'inf'::DOUBLE, '-inf'::DOUBLE, 'nan'::FLOAT, '-inf'::FLOAT",
               "[[null,null,null,null,null]]");
}

static void test_json_decimals(void **state)
{
    (void)state;
    check_json("SELECT -0.05::DECIMAL(4,2), 1.5::DECIMAL(9,3), 123456789012.345678::DECIMAL(18,6), "
               "-1234567890123456789012345678.0123456789::DECIMAL(38,10), 7::DECIMAL(5,0), "
               "0::DECIMAL(10,4)",
               "[[-0.05,1.500,123456789012.345678,-1234567890123456789012345678.0123456789,7,"
               "0.0000]]");
    /* Every width against DuckDB's own exact rendering. */
    const char *qs[] = {
        "SELECT d::VARCHAR, d FROM (SELECT (((i * 7919) % 19999 - 9999) / 10.0)::DECIMAL(4,1) "
        "AS d FROM range(0, 200) t(i))",
        "SELECT d::VARCHAR, d FROM (SELECT (((i * 7919 * 104729) % 1999999999 - 999999999) / "
        "10000.0)::DECIMAL(9,4) AS d FROM range(0, 200) t(i))",
        "SELECT d::VARCHAR, d FROM (SELECT (((i * 7919 * 104729 * 1299709) % 1999999999999999 "
        "- 999999999999999) / 1e6)::DECIMAL(18,9) AS d FROM range(0, 200) t(i))",
        "SELECT d::VARCHAR, d FROM (SELECT printf('%s%d.%010d%010d', CASE WHEN i % 2 = 0 THEN '-' "
        "ELSE '' END, i * 7919 * 104729 % 100000000000000000, i * 1299709 % 10000000000, "
        "i * 15485863 % 10000000000)::DECIMAL(38,20) AS d FROM range(0, 200) t(i))",
    };
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        const char *q = qs[k];
        /* Only the cast column matters: compare "want" with the value. */
        duckdb_result res;
        if (duckdb_query(g_conn, q, &res) != DuckDBSuccess)
            fail_msg("query %zu: %s", k, duckdb_result_error(&res));
        duckdb_logical_type t = duckdb_column_logical_type(&res, 1);
        struct strbuf sb;
        strbuf_init(&sb, 0);
        duckdb_data_chunk ch;
        while ((ch = duckdb_fetch_chunk(res))) {
            duckdb_vector wv = duckdb_data_chunk_get_vector(ch, 0);
            duckdb_vector dv = duckdb_data_chunk_get_vector(ch, 1);
            for (idx_t r = 0; r < duckdb_data_chunk_get_size(ch); r++) {
                uint32_t len;
                const char *w =
                    qenc__str(&((duckdb_string_t *)duckdb_vector_get_data(wv))[r], &len);
                strbuf_reset(&sb);
                assert_int_equal(qenc_value_json(&sb, dv, t, r), RC_OK);
                char want[128];
                snprintf(want, sizeof(want), "%.*s", (int)len, w);
                assert_string_equal(sb.data, want);
            }
            duckdb_destroy_data_chunk(&ch);
        }
        strbuf_cleanup(&sb);
        duckdb_destroy_logical_type(&t);
        duckdb_destroy_result(&res);
    }
}

static void test_json_strings_blobs(void **state)
{
    (void)state;
    check_json(
        "SELECT ''::BLOB, '\\x00'::BLOB, 'ab'::BLOB, 'abc'::BLOB, '\\xFF\\xFE\\x00\\x01'::BLOB, "
        "E'tab\\there\\nnl \\\\ \"q\" \\x01', 'ü€😀', ''",
        "[[\"\",\"AA==\",\"YWI=\",\"YWJj\",\"//4AAQ==\","
        "\"tab\\there\\nnl \\\\ \\\"q\\\" \\u0001\",\"ü€😀\",\"\"]]");
    check_json(
        "SELECT '00000000-0000-0000-0000-000000000001'::UUID, "
        "'ffffffff-ffff-4fff-8fff-ffffffffffff'::UUID, 'b'::ENUM('a', 'b', 'c')",
        "[[\"00000000-0000-0000-0000-000000000001\",\"ffffffff-ffff-4fff-8fff-ffffffffffff\","
        "\"b\"]]");
}

static void test_json_timestamps(void **state)
{
    (void)state;
    /* Every unit, RFC 3339 UTC with Z, fraction only when non-zero and
     * trimmed; pre-1970, year 1, year 9999, infinities. */
    check_json(
        "SET TimeZone = 'America/New_York'; "
        "SELECT TIMESTAMP_NS '1969-12-31 23:59:59.999999999', "
        "'2020-01-01 00:00:00.5'::TIMESTAMP_MS, '2020-01-01 00:00:01'::TIMESTAMP_S, "
        "TIMESTAMPTZ '9999-12-31 23:59:59.999999+00', TIMESTAMP '0001-01-01 00:00:00', "
        "TIMESTAMP '1900-03-01 12:00:00.000100', TIMESTAMP '1970-01-01 00:00:00.000001', "
        "TIMESTAMPTZ '2025-01-15 14:03:07.1234+02:00', TIMESTAMP_NS '2025-01-15 14:03:07.120', "
        "'infinity'::TIMESTAMP, '-infinity'::TIMESTAMPTZ, TIMESTAMP '10000-01-01 00:00:00'",
        "[[\"1969-12-31T23:59:59.999999999Z\",\"2020-01-01T00:00:00.5Z\","
        "\"2020-01-01T00:00:01Z\",\"9999-12-31T23:59:59.999999Z\",\"0001-01-01T00:00:00Z\","
        "\"1900-03-01T12:00:00.0001Z\",\"1970-01-01T00:00:00.000001Z\","
        "\"2025-01-15T12:03:07.1234Z\",\"2025-01-15T14:03:07.12Z\",\"infinity\",\"-infinity\","
        "\"+10000-01-01T00:00:00Z\"]]");
    assert_int_equal(duckdb_query(g_conn, "SET TimeZone = 'UTC'", NULL), DuckDBSuccess);
    check_json("SELECT DATE '1969-12-31', DATE '0001-01-01', DATE '9999-12-31', "
               "DATE '0044-03-15 (BC)', '-infinity'::DATE, TIME '00:00:00', TIME '01:02:03.5', "
               "'23:59:59.999999999'::TIME_NS, TIMETZ '01:02:03.25+02:30', TIMETZ '01:02:03-08'",
               "[[\"1969-12-31\",\"0001-01-01\",\"9999-12-31\",\"-0043-03-15\",\"-infinity\","
               "\"00:00:00\",\"01:02:03.5\",\"23:59:59.999999999\",\"01:02:03.25+02:30\","
               "\"01:02:03-08\"]]");
}

/* Rendering of types that have a DuckDB text form equals ::VARCHAR. */
static void test_matches_duckdb_text(void **state)
{
    (void)state;
    const char *queries[] = {
        "SELECT v::VARCHAR, v FROM (SELECT to_months(i * 7 - 40) + to_days(i % 5 - 2) + "
        "to_microseconds(i * 987654321 - 50000000000) AS v FROM range(0, 60) t(i))",
        "SELECT v::VARCHAR, v FROM (VALUES (INTERVAL '1 year'), (INTERVAL '-1 year -3 months'), "
        "(INTERVAL '25 hours'), (INTERVAL '0 seconds'), (INTERVAL '-00:00:01.5'), "
        "(INTERVAL '1 day 1 second'), (to_microseconds(-9223372036854775807))) t(v)",
        "SELECT v::VARCHAR, v FROM (SELECT make_time(i % 24, i % 60, (i * 1.37) % 60) AS v "
        "FROM range(0, 50) t(i))",
        "SELECT v::VARCHAR, v FROM (VALUES (TIMETZ '01:02:03+02:30:15'), (TIMETZ "
        "'23:59:59.999999-15:59'), "
        "(TIMETZ '00:00:00+00')) t(v)",
        "SELECT v::VARCHAR, v FROM (SELECT gen_random_uuid() AS v FROM range(0, 20))",
        "SELECT v::VARCHAR, v FROM (VALUES ('0'::BIT), ('1'::BIT), ('0101'::BIT), "
        "('111100001'::BIT), ('0000000000000001'::BIT)) t(v)",
        "SELECT v::VARCHAR, v FROM (VALUES ('0'::BIGNUM), ('-1'::BIGNUM), ('255'::BIGNUM), "
        "('256'::BIGNUM), ('-256'::BIGNUM), ('123456789012345678901234567890'::BIGNUM), "
        "('-99999999999999999999999999999999999999999'::BIGNUM)) t(v)",
    };
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        duckdb_result res;
        if (duckdb_query(g_conn, queries[q], &res) != DuckDBSuccess)
            fail_msg("query %zu: %s", q, duckdb_result_error(&res));
        duckdb_logical_type t = duckdb_column_logical_type(&res, 1);
        struct qenc_tinfo *ti = qenc__tinfo_new(t);
        struct strbuf sb;
        strbuf_init(&sb, 0);
        duckdb_data_chunk ch;
        size_t checked = 0;
        while ((ch = duckdb_fetch_chunk(res))) {
            duckdb_vector wv = duckdb_data_chunk_get_vector(ch, 0);
            duckdb_vector dv = duckdb_data_chunk_get_vector(ch, 1);
            for (idx_t r = 0; r < duckdb_data_chunk_get_size(ch); r++) {
                uint32_t len;
                const char *w =
                    qenc__str(&((duckdb_string_t *)duckdb_vector_get_data(wv))[r], &len);
                char want[256];
                snprintf(want, sizeof(want), "%.*s", (int)len, w);
                bool is_null;
                strbuf_reset(&sb);
                assert_int_equal(qenc__text_value(&sb, ti, dv, r, &is_null), RC_OK);
                assert_false(is_null);
                assert_string_equal(sb.data, want);
                checked++;
            }
            duckdb_destroy_data_chunk(&ch);
        }
        assert_true(checked >= 3);
        strbuf_cleanup(&sb);
        qenc__tinfo_free(&ti);
        duckdb_destroy_logical_type(&t);
        duckdb_destroy_result(&res);
    }
}

static void test_json_nested(void **state)
{
    (void)state;
    check_json(
        "SELECT [1, NULL, 3], []::INT[], [[1], [], NULL], {'a': 1, 'b': 'x', 'c': NULL}, "
        "[{'t': TIMESTAMPTZ '2025-01-15 14:03:07+00', 'v': 1.5::DECIMAL(3,1)}], "
        "MAP {'k': 1, 'q\"': NULL}, MAP {1: 'one', 2: 'two'}, MAP {}::MAP(VARCHAR, INT), "
        "[1, 2]::INT[2], [[1,2],[3,4]]::INT[2][2], "
        "{'l': [1.5, 'nan'::DOUBLE], 'm': MAP {'x': [true]}}",
        "[[[1,null,3],[],[[1],[],null],{\"a\":1,\"b\":\"x\",\"c\":null},"
        "[{\"t\":\"2025-01-15T14:03:07Z\",\"v\":1.5}],{\"k\":1,\"q\\\"\":null},"
        "[{\"key\":1,\"value\":\"one\"},{\"key\":2,\"value\":\"two\"}],{},[1,2],[[1,2],[3,4]],"
        "{\"l\":[1.5,null],\"m\":{\"x\":[true]}}]]");
    /* UNION renders its active member; a NULL struct/list is null. */
    check_json("SELECT 'x'::UNION(a INT, b VARCHAR), 5::UNION(a INT, b VARCHAR), "
               "NULL::STRUCT(a INT), NULL::INT[], NULL::MAP(INT, INT), NULL::INT[2]",
               "[[\"x\",5,null,null,null,null]]");
}

static void test_json_nulls_every_type(void **state)
{
    (void)state;
    check_json(
        "SELECT NULL, NULL::BOOLEAN, NULL::TINYINT, NULL::SMALLINT, NULL::INTEGER, "
        "NULL::BIGINT, NULL::HUGEINT, NULL::UTINYINT, NULL::USMALLINT, NULL::UINTEGER, "
        "NULL::UBIGINT, NULL::UHUGEINT, NULL::FLOAT, NULL::DOUBLE, NULL::DECIMAL(4,1), "
        "NULL::DECIMAL(38,2), NULL::VARCHAR, NULL::BLOB, NULL::UUID, NULL::DATE, NULL::TIME, "
        "NULL::TIMESTAMP, NULL::TIMESTAMPTZ, NULL::TIMESTAMP_S, NULL::TIMESTAMP_MS, "
        "NULL::TIMESTAMP_NS, NULL::INTERVAL, NULL::TIMETZ, NULL::BIT, NULL::ENUM('a'), "
        "NULL::BIGNUM",
        "[[null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,"
        "null,null,null,null,null,null,null,null,null,null,null,null,null,null,null]]");
}

static void test_empty_results(void **state)
{
    (void)state;
    struct encoded enc;
    struct errbuf eb = {0};
    assert_int_equal(encode_sql(QENC_JSON, "SELECT 1 AS a, 'x' AS b WHERE false", 0, &enc, &eb),
                     RC_OK);
    assert_string_equal(enc.data, "{\"success\":true,\"columns\":[\"a\",\"b\"],\"data\":[],"
                                  "\"row_count\":0,\"execution_time_ms\":2.500,"
                                  "\"timestamp\":\"2025-01-15T14:03:07Z\"}");
    xfree(enc.data);
    assert_int_equal(encode_sql(QENC_CSV, "SELECT 1 AS a, 'x' AS b WHERE false", 0, &enc, &eb),
                     RC_OK);
    assert_string_equal(enc.data, "a,b\r\n");
    xfree(enc.data);

    /* No columns at all (a measurement without data, SPEC §4.4). */
    struct qenc_options o = {.format = QENC_JSON};
    struct qenc *e;
    assert_int_equal(qenc_new(&o, &e, &eb), RC_OK);
    assert_int_equal(qenc_begin(e, 0, NULL, NULL, &eb), RC_OK);
    assert_int_equal(qenc_end(e, &eb), RC_OK);
    assert_string_equal(qenc_output(e)->data,
                        "{\"success\":true,\"columns\":[],\"data\":[],\"row_count\":0");
    qenc_free(&e);
    assert_null(e);
    o.format = QENC_CSV;
    assert_int_equal(qenc_new(&o, &e, &eb), RC_OK);
    assert_int_equal(qenc_begin(e, 0, NULL, NULL, &eb), RC_OK);
    assert_int_equal(qenc_end(e, &eb), RC_OK);
    assert_string_equal(qenc_output(e)->data, "\r\n");
    qenc_free(&e);
}

static void test_csv(void **state)
{
    (void)state;
    struct encoded enc;
    struct errbuf eb = {0};
    assert_int_equal(
        encode_sql(
            QENC_CSV,
            "SELECT 'a,b' AS \"x,1\", 'say \"hi\"' AS y, E'two\\nlines' AS z, NULL AS n, "
            "'' AS e, [1,2] AS l, {'k': 'v,w'} AS s, TIMESTAMPTZ '2025-01-15 14:03:07+00' AS t, "
            "1.5 AS d, E'cr\\rhere' AS cr, 'nan'::DOUBLE AS f, 'AB'::BLOB AS bl "
            "UNION ALL SELECT 'plain', 'p', 'q', 1, 'e', [], NULL, NULL, NULL, NULL, 2.5, NULL",
            0, &enc, &eb),
        RC_OK);
    assert_string_equal(
        enc.data, "\"x,1\",y,z,n,e,l,s,t,d,cr,f,bl\r\n"
                  "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,\"\",\"[1,2]\","
                  "\"{\"\"k\"\":\"\"v,w\"\"}\",2025-01-15T14:03:07Z,1.5,\"cr\rhere\",,QUI=\r\n"
                  "plain,p,q,1,e,[],,,,,2.5,\r\n");
    assert_int_equal(enc.rows, 2);
    xfree(enc.data);
}

/* 100 000 rows over ~49 chunks: the output is several MB, the encoder's
 * buffer never holds more than about one chunk. */
static void test_multi_chunk_bounded(void **state)
{
    (void)state;
    const char *sql =
        "SELECT i, 'row-' || i::VARCHAR AS s, i * 0.5 AS h FROM range(0, 100000) t(i)";
    struct encoded enc;
    struct errbuf eb = {0};
    assert_int_equal(encode_sql(QENC_JSON, sql, 0, &enc, &eb), RC_OK);
    assert_true(enc.chunks >= 48);
    assert_int_equal(enc.rows, 100000);
    assert_true(enc.len > 2 * 1000 * 1000);
    assert_true(enc.max_buffer_cap <= 128 * 1024);
    assert_non_null(strstr(enc.data, "\"data\":[[0,\"row-0\",0.0],[1,\"row-1\",0.5],"));
    assert_non_null(strstr(enc.data, ",[99999,\"row-99999\",49999.5]],\"row_count\":100000,"));
    /* Row separators are right across chunk boundaries. */
    assert_non_null(strstr(enc.data, "[2047,\"row-2047\",1023.5],[2048,\"row-2048\",1024.0]"));
    assert_null(strstr(enc.data, "]["));
    xfree(enc.data);

    assert_int_equal(encode_sql(QENC_CSV, sql, 0, &enc, &eb), RC_OK);
    assert_true(enc.max_buffer_cap <= 128 * 1024);
    assert_non_null(strstr(enc.data, "i,s,h\r\n0,row-0,0.0\r\n1,row-1,0.5\r\n"));
    assert_non_null(strstr(enc.data, "\r\n99999,row-99999,49999.5\r\n"));
    xfree(enc.data);
}

static void test_buffer_cap(void **state)
{
    (void)state;
    struct encoded enc;
    struct errbuf eb = {0};
    /* One chunk of 2048 rows * ~1 KB cannot fit in 64 KB. */
    int rc =
        encode_sql(QENC_JSON, "SELECT repeat('x', 1000) FROM range(0, 3000)", 64 * 1024, &enc, &eb);
    assert_int_equal(rc, RC_LIMIT);
    assert_non_null(strstr(eb.msg, "limit"));
    xfree(enc.data);
}

static void test_formatters(void **state)
{
    (void)state;
    char b[QENC_FMT_MAX];
    qenc__fmt_timestamp(b, -1, 1000000);
    assert_string_equal(b, "1969-12-31T23:59:59.999999Z");
    qenc__fmt_timestamp(b, -1, 1);
    assert_string_equal(b, "1969-12-31T23:59:59Z");
    qenc__fmt_timestamp(b, 1500, 1000);
    assert_string_equal(b, "1970-01-01T00:00:01.5Z");
    qenc__fmt_timestamp(b, 253402300799999999, 1000000);
    assert_string_equal(b, "9999-12-31T23:59:59.999999Z");
    qenc__fmt_decimal(b, 5, 3);
    assert_string_equal(b, "0.005");
    qenc__fmt_decimal(b, -5, 1);
    assert_string_equal(b, "-0.5");
    qenc__fmt_decimal(b, 0, 0);
    assert_string_equal(b, "0");
    duckdb_interval iv = {.months = 0, .days = 0, .micros = INT64_MIN};
    qenc__fmt_interval(b, &iv);
    assert_string_equal(b, "-2562047788:00:54.775808");
    iv = (duckdb_interval){.months = 14, .days = -1, .micros = 0};
    qenc__fmt_interval(b, &iv);
    assert_string_equal(b, "1 year 2 months -1 day");
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(qenc__append_base64(&sb, (const unsigned char *)"foobar", 6), RC_OK);
    assert_string_equal(sb.data, "Zm9vYmFy");
    strbuf_cleanup(&sb);
}

/* Significant digits of a rendered number ("-0.0125" -> 3, "1e+21" -> 1). */
static int sig_digits(const char *s)
{
    int n = 0, lead = 1, trailing_zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = 0;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return n - trailing_zeros;
}

/* Every double renders as a number that reads back exactly, with no more
 * significant digits than the %.15g/%.16g/%.17g search would use. */
static void test_double_roundtrip(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        switch (i % 5) {
        case 0: v = (double)(int64_t)(x % 2000000001ULL - 1000000000LL) / 100.0; break;
        case 1: v = (double)(x % 100000) * 1.5 - 70000.0; break;
        case 2: v = (double)(int64_t)(x % 20000001ULL - 10000000LL) / 1e6; break;
        case 3:
            memcpy(&v, &x, sizeof(v)); /* any bit pattern */
            break;
        default: v = (double)(x % 1000000007ULL) * 0.1; break;
        }
        char got[QENC_FMT_MAX];
        size_t n = qenc__fmt_double(got, v);
        if (!isfinite(v)) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_int_equal(n, strlen(got));
        if (strtod(got, NULL) != v)
            fail_msg("%s does not read back as %.17g", got, v);
        char ref[64];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(ref, sizeof(ref), "%.*g", prec, v);
            if (strtod(ref, NULL) == v)
                break;
        }
        if (sig_digits(got) > sig_digits(ref))
            fail_msg("%s is longer than %s", got, ref);
    }
    char b[QENC_FMT_MAX];
    qenc__fmt_double(b, 93.25);
    assert_string_equal(b, "93.25");
    qenc__fmt_double(b, -0.000001);
    assert_string_equal(b, "-0.000001");
    qenc__fmt_double(b, 0.1 + 0.2);
    assert_string_equal(b, "0.30000000000000004");
    qenc__fmt_double(b, 123456789012345.0);
    assert_string_equal(b, "123456789012345");
    qenc__fmt_double(b, 1e15);
    assert_string_equal(b, "1e+15");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_envelope),
        cmocka_unit_test(test_json_integers),
        cmocka_unit_test(test_json_floats),
        cmocka_unit_test(test_json_decimals),
        cmocka_unit_test(test_json_strings_blobs),
        cmocka_unit_test(test_json_timestamps),
        cmocka_unit_test(test_matches_duckdb_text),
        cmocka_unit_test(test_json_nested),
        cmocka_unit_test(test_json_nulls_every_type),
        cmocka_unit_test(test_empty_results),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_multi_chunk_bounded),
        cmocka_unit_test(test_buffer_cap),
        cmocka_unit_test(test_formatters),
        cmocka_unit_test(test_double_roundtrip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
