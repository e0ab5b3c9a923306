/*
 * tests/unit/query/test_estimate.c — SPEC §4.11 row-count estimate:
 * SELECT COUNT(*) FROM (<query>) over the rewritten query (files + buffered
 * rows), with the same validation as a query and no special commands.
 */
#include "qfixture.h"

static struct qfix F;

static int setup(void **state)
{
    (void)state;
    qfix_open(&F);
    qfix_add_file(&F, "default", "cpu",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'h' || (i % 2) AS host, i::DOUBLE AS value FROM range(100) t(i)",
                  INT64_C(1736949600000000), INT64_C(1736949600000000) + 99 * US_PER_SEC, 100,
                  true);
    qfix_admit(&F, qfix_batch("default", "cpu", INT64_C(1736953200000000), 1000, 10, 0));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qfix_close(&F);
    return 0;
}

static int64_t estimate(const char *sql, const char *db, int want_rc)
{
    struct query_request req = {.sql = sql, .default_db = db, .allow_special = false};
    int64_t rows = -1;
    struct errbuf eb = {0};
    int rc = query_estimate(F.qe, &req, &rows, &eb);
    if (rc != want_rc)
        fprintf(stderr, "estimate(%s): %s %s\n", sql, rc_name(rc), eb.msg);
    assert_int_equal(rc, want_rc);
    return rows;
}

static void test_counts(void **state)
{
    (void)state;
    assert_int_equal(estimate("SELECT * FROM cpu", NULL, RC_OK), 110);
    assert_int_equal(estimate("SELECT * FROM cpu WHERE host = 'h0'", NULL, RC_OK), 50 + 4);
    assert_int_equal(estimate("SELECT * FROM cpu ORDER BY time LIMIT 5;", NULL, RC_OK), 5);
    assert_int_equal(
        estimate("SELECT host, count(*) FROM cpu GROUP BY host -- by host", NULL, RC_OK), 3);
    assert_int_equal(estimate("WITH x AS (SELECT * FROM cpu) SELECT * FROM x, x AS y", NULL, RC_OK),
                     110 * 110);
    assert_int_equal(estimate("SELECT * FROM cpu WHERE time >= '2025-01-15 15:00'", NULL, RC_OK),
                     10);
    assert_int_equal(estimate("SELECT * FROM nothing", NULL, RC_OK), 0);
    assert_int_equal(estimate("SELECT * FROM cpu", "otherdb", RC_OK), 0);
}

static void test_validation(void **state)
{
    (void)state;
    estimate("", NULL, RC_INVALID);
    estimate("SHOW TABLES", NULL, RC_INVALID);
    estimate("DESCRIBE cpu", NULL, RC_INVALID);
    estimate("EXPLAIN SELECT * FROM cpu", NULL, RC_INVALID);
    estimate("DELETE FROM cpu", NULL, RC_INVALID);
    estimate("SELECT 1; SELECT 2", NULL, RC_INVALID);
    estimate("SELECT nope FROM cpu", NULL, RC_INVALID);
    estimate("SELECT 1", "bad db", RC_INVALID);
    estimate("SELECT * FROM read_csv('/etc/passwd')", NULL, RC_DENIED);
    struct query_pool_stats s;
    query_pool_stats(F.qe, &s);
    assert_int_equal(s.in_use, 0);
    assert_int_equal(qscan_registered_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
