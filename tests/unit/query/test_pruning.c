/*
 * tests/unit/query/test_pruning.c — time-based file pruning (SPEC §4.4):
 * a one-hour query over 30 days of hourly files references one file, the
 * predicate forms that bound `time` are recognised, the ones that do not
 * (OR, non-constant, POSITIONAL joins, upper bounds on now()) prune nothing,
 * and every query gives the same rows with pruning on and off.
 */
#include "qfixture.h"

static struct qfix F;
static struct query_engine *NOPRUNE; /* same catalog and buffer, pruning off */

#define NFILES (30 * 24) /* "big": 30 days of hourly files */
#define NSMALL (2 * 24)  /* "p": 2 days */

static int64_t hour_us(int i) /* start of hour i after 2025-01-01T00:00:00Z */
{
    return INT64_C(1735689600000000) + (int64_t)i * US_PER_HOUR;
}

/* Writes n hourly files of measurement m (2 rows each, at :00 and :30;
 * value = hour index; column `late` only in the last 24 files) with one
 * partitioned COPY, moves them to Arc's layout and registers them in one
 * catalog transaction. */
static void write_hourly(const char *m, int n)
{
    char stage[400], sql[1024];
    snprintf(stage, sizeof(stage), "%s/stage-%s", F.dir, m);
    snprintf(sql, sizeof(sql),
             "COPY (SELECT TIMESTAMPTZ '2025-01-01 00:00:00+00' + INTERVAL (i // 2) HOUR + "
             "INTERVAL ((i %% 2) * 30) MINUTE AS time, 'h' || (i %% 3) AS host, "
             "(i // 2)::DOUBLE AS value, CASE WHEN i // 2 >= %d THEN 'x' END AS late, "
             "i // 2 AS part FROM range(%d) t(i)) TO '%s' "
             "(FORMAT parquet, PARTITION_BY (part), WRITE_PARTITION_COLUMNS false)",
             n - 24, n * 2, stage);
    qfix_exec(&F, sql);
    struct catalog_file_entry *e = xcalloc((size_t)n, sizeof(*e));
    char(*keys)[160] = xcalloc((size_t)n, sizeof(*keys));
    for (int i = 0; i < n; i++) {
        struct civil_time ct;
        time_to_civil(hour_us(i), &ct);
        snprintf(keys[i], sizeof(keys[i]),
                 "default/%s/%04d/%02d/%02d/%02d/%s_%04d%02d%02d_%02d0000_000000001.parquet", m,
                 ct.year, ct.month, ct.day, ct.hour, m, ct.year, ct.month, ct.day, ct.hour);
        char from[600], to[600], dir[600];
        snprintf(from, sizeof(from), "%s/part=%d/data_0.parquet", stage, i);
        snprintf(to, sizeof(to), "%s/%s", F.root, keys[i]);
        snprintf(dir, sizeof(dir), "%s", to);
        *strrchr(dir, '/') = '\0';
        qfix_mkdir_p(dir);
        assert_int_equal(rename(from, to), 0);
        e[i] = (struct catalog_file_entry){.key = keys[i],
                                           .db = "default",
                                           .measurement = m,
                                           .min_time_us = hour_us(i),
                                           .max_time_us = hour_us(i) + 30 * 60 * US_PER_SEC,
                                           .row_count = 2,
                                           .bytes = 1000};
    }
    qfix_schema(&F, "default", m, "host", COL_STRING);
    qfix_schema(&F, "default", m, "late", COL_STRING);
    qfix_schema(&F, "default", m, "value", COL_DOUBLE);
    uint64_t *ids = xcalloc((size_t)n, sizeof(*ids));
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(F.cat, e, (size_t)n, ids, &eb), RC_OK);
    catalog_files_publish(F.cat, ids, (size_t)n);
    xfree(ids);
    xfree(keys);
    xfree(e);
}

static int setup(void **state)
{
    (void)state;
    qfix_open(&F);
    write_hourly("big", NFILES); /* 30 days */
    write_hourly("p", NSMALL);   /* 2 days, for the many predicate forms */
    /* A few buffered rows just after the files. */
    qfix_admit(&F, qfix_batch("default", "p", hour_us(NSMALL), 60 * US_PER_SEC, 3, 1000.0));
    struct errbuf eb = {0};

    struct query_engine_options o;
    qfix_default_options(&F, &o);
    o.disable_time_pruning = true;
    assert_int_equal(query_engine_new(&o, F.cat, F.cb, NULL, &NOPRUNE, &eb), RC_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    query_engine_free(&NOPRUNE);
    qfix_close(&F);
    return 0;
}

/* Runs sql on both engines; asserts identical output and returns the files
 * the pruning engine referenced (nfiles: files of the measurement). */
static size_t run_both_n(const char *sql, size_t want_rows, size_t nfiles)
{
    struct qres a, b;
    qfix_ok(F.qe, sql, NULL, &a);
    qfix_ok(NOPRUNE, sql, NULL, &b);
    assert_int_equal(a.ncols, b.ncols);
    for (size_t i = 0; i < a.ncols; i++)
        assert_string_equal(a.names[i], b.names[i]);
    if (a.nrows != b.nrows)
        fprintf(stderr, "rows differ: %zu vs %zu for %s\n", a.nrows, b.nrows, sql);
    assert_int_equal(a.nrows, b.nrows);
    for (size_t i = 0; i < a.nrows; i++)
        assert_string_equal(a.rows[i], b.rows[i]);
    if (want_rows != SIZE_MAX)
        assert_int_equal(a.nrows, want_rows);
    assert_true(b.files >= nfiles && b.files % nfiles == 0 && b.files >= a.files);
    size_t files = a.files;
    qres_free(&a);
    qres_free(&b);
    return files;
}

static size_t run_both(const char *sql, size_t want_rows)
{
    return run_both_n(sql, want_rows, NSMALL);
}

static void test_one_hour_of_thirty_days(void **state)
{
    (void)state;
    /* Day 10, 05:00-06:00: hour index 9*24+5 = 221. */
    size_t f = run_both_n("SELECT * FROM big WHERE time >= '2025-01-10 05:00:00' AND "
                          "time < '2025-01-10 06:00:00' ORDER BY time",
                          2, NFILES);
    assert_int_equal(f, 1);
    char v[128];
    assert_string_equal(qfix_scalar(F.qe,
                                    "SELECT min(value), count(*) FROM big WHERE time >= "
                                    "'2025-01-10 05:00:00' AND time < '2025-01-10 06:00:00'",
                                    NULL, v, sizeof(v)),
                        "221|2");
}

static void test_predicate_forms(void **state)
{
    (void)state;
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time BETWEEN "
                              "TIMESTAMP '2025-01-02 05:00:00' AND TIMESTAMP '2025-01-02 05:59:59'",
                              1),
                     1);
    assert_int_equal(
        run_both("SELECT count(*) FROM p WHERE time = TIMESTAMPTZ '2025-01-02 05:30:00+00'", 1), 1);
    /* Reversed operands, casts, DATE, offsets. */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE '2025-01-02 05:00:00'::TIMESTAMPTZ <= "
                              "time AND CAST('2025-01-02 06:00' AS TIMESTAMP) > time",
                              1),
                     1);
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time >= DATE '2025-01-02'", 1), 24);
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time > '2025-01-02 07:00:00+02:00' AND "
                              "time <= '2025-01-02 05:30:00Z'",
                              1),
                     1);
    /* Arithmetic on constants. */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time >= TIMESTAMPTZ '2025-01-02 "
                              "00:00:00+00' + INTERVAL 5 HOUR AND time < TIMESTAMPTZ '2025-01-02 "
                              "00:00:00+00' + INTERVAL '6 hours'",
                              1),
                     1);
    /* A qualified time in a join bounds each side. */
    assert_int_equal(run_both("SELECT count(*) FROM p a JOIN p b ON a.time = b.time WHERE "
                              "a.time >= '2025-01-02 05:00' AND a.time < '2025-01-02 06:00' AND "
                              "b.time >= '2025-01-02 05:00' AND b.time < '2025-01-02 07:00'",
                              1),
                     3);
    /* In a subquery and in a CTE body. */
    assert_int_equal(run_both("SELECT count(*) FROM (SELECT * FROM p WHERE time >= "
                              "'2025-01-02 05:00' AND time < '2025-01-02 06:00')",
                              1),
                     1);
    assert_int_equal(run_both("WITH x AS (SELECT * FROM p WHERE time < '2025-01-01 03:00') "
                              "SELECT count(*) FROM x",
                              1),
                     3);
    /* Contradictory bounds: no file at all, still the normal columns. */
    struct qres r;
    qfix_ok(F.qe, "SELECT * FROM p WHERE time > '2025-02-01' AND time < '2025-01-01'", NULL, &r);
    assert_false(r.empty);
    assert_int_equal(r.ncols, 4); /* time, host, late, value */
    assert_int_equal(r.nrows, 0);
    assert_int_equal(r.files, 0);
    qres_free(&r);
    /* Nothing in range: same columns as without pruning (the catalog schema). */
    assert_int_equal(run_both("SELECT * FROM p WHERE time < '2024-12-31'", 0), 0);
    /* now(): a lower bound prunes; the data is from 2025-01, so nothing matches... */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time > now() - INTERVAL 1 HOUR", 1), 0);
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time >= date_trunc('hour', now()) - "
                              "INTERVAL '1 day'",
                              1),
                     0);
    /* current_date / current_timestamp parse as column references (a
     * column of that name would win): not used for pruning. */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time >= current_date - 1", 1), NSMALL);
    /* A lower bound just below the data (now() far in the future of it is
     * the usual case; here a constant stands in). */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time >= TIMESTAMPTZ '2025-01-02 "
                              "23:00:00+00' - INTERVAL 0 SECOND",
                              1),
                     1);
    /* ...except the buffered rows, which are never pruned. */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time > '2025-01-03 00:00'", 1), 0);
    char v[64];
    assert_string_equal(qfix_scalar(F.qe, "SELECT count(*) FROM p WHERE time >= '2025-01-03 00:00'",
                                    NULL, v, sizeof(v)),
                        "3");
}

static void test_forms_that_do_not_prune(void **state)
{
    (void)state;
    /* OR: not a conjunct of time bounds. */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time < '2025-01-01 01:00' OR "
                              "value = 700",
                              1),
                     NSMALL);
    /* An upper bound on now() would be evaluated too early. */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time < now()", 1), NSMALL);
    /* Volatile and non-constant expressions. */
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time > TIMESTAMPTZ '2025-01-02 "
                              "00:00:00+00' + to_seconds(random() * 0)",
                              1),
                     NSMALL);
    assert_int_equal(run_both("SELECT count(*) FROM p WHERE time > (SELECT max(time) FROM p) - "
                              "INTERVAL 1 HOUR",
                              1),
                     2 * NSMALL);
    /* POSITIONAL pairs rows by position: removing rows would change pairs. */
    assert_int_equal(run_both("SELECT count(*) FROM p a POSITIONAL JOIN p b WHERE "
                              "a.time >= '2025-01-02 00:00'",
                              1),
                     2 * NSMALL);
    /* Unqualified time in a join is ambiguous: left alone (DuckDB errors). */
    struct qres r;
    qfix_query(F.qe, "SELECT count(*) FROM p a JOIN p b USING (host) WHERE time > '2025-01-02'",
               NULL, &r);
    qres_free(&r);
    /* Renamed columns: `time` may be something else. */
    assert_int_equal(run_both("SELECT count(*) FROM p AS q(ts, h) WHERE ts > '2025-01-02'", 1),
                     NSMALL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_hour_of_thirty_days),
        cmocka_unit_test(test_predicate_forms),
        cmocka_unit_test(test_forms_that_do_not_prune),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
