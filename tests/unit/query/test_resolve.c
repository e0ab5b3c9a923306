/*
 * tests/unit/query/test_resolve.c — SPEC §4.4 table-name resolution: header
 * database, db.measurement, quoted names, CTE names, every position (FROM,
 * joins, comma joins, subqueries, CTE bodies, set operations), catalog
 * objects untouched, string literals untouched, empty measurements, invalid
 * and three-part names.
 */
#include "qfixture.h"

static struct qfix F;

static int64_t T(int h, int m, int s)
{
    return time_from_civil(&(struct civil_time){2025, 1, 15, h, m, s, 0});
}

static int setup(void **state)
{
    (void)state;
    qfix_open(&F);
    qfix_add_file(&F, "default", "cpu",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'h' || (i % 2) AS host, i::DOUBLE AS value FROM range(10) t(i)",
                  T(14, 0, 0), T(14, 0, 9), 10, true);
    qfix_add_file(&F, "default", "mem",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'h' || i AS host, (i * 100)::BIGINT AS used FROM range(4) t(i)",
                  T(14, 0, 0), T(14, 0, 3), 4, true);
    qfix_add_file(&F, "prod", "cpu",
                  "SELECT TIMESTAMPTZ '2025-01-15 15:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'p' || i AS host, (100 + i)::DOUBLE AS value FROM range(3) t(i)",
                  T(15, 0, 0), T(15, 0, 2), 3, true);
    qfix_add_file(&F, "my-db", "cpu-1",
                  "SELECT TIMESTAMPTZ '2025-01-15 16:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'q' || i AS host FROM range(2) t(i)",
                  T(16, 0, 0), T(16, 0, 1), 2, true);
    qfix_add_file(&F, "default", "CPU",
                  "SELECT TIMESTAMPTZ '2025-01-15 16:00:00+00' AS time, 'upper' AS host",
                  T(16, 0, 0), T(16, 0, 0), 1, true);
    /* A file added but not published is invisible. */
    qfix_add_file(&F, "default", "cpu",
                  "SELECT TIMESTAMPTZ '2025-01-15 17:00:00+00' AS time, 'hidden' AS host, "
                  "1.0::DOUBLE AS value",
                  T(17, 0, 0), T(17, 0, 0), 1, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qfix_close(&F);
    return 0;
}

#define SCALAR(sql, db, want)                                                                      \
    do {                                                                                           \
        char v_[256];                                                                              \
        assert_string_equal(qfix_scalar(F.qe, (sql), (db), v_, sizeof(v_)), (want));               \
    } while (0)

static void test_database_selection(void **state)
{
    (void)state;
    SCALAR("SELECT count(*) FROM cpu", NULL, "10");
    SCALAR("SELECT count(*) FROM cpu", "default", "10");
    SCALAR("SELECT count(*) FROM cpu", "prod", "3");
    /* db.measurement wins over the header ([Go] refused this). */
    SCALAR("SELECT count(*) FROM prod.cpu", "default", "3");
    SCALAR("SELECT count(*) FROM prod.cpu", "other", "3");
    SCALAR("SELECT count(*) FROM \"default\".cpu", "prod", "10");
    SCALAR("SELECT count(*) FROM \"my-db\".\"cpu-1\"", NULL, "2");
    SCALAR("SELECT count(*) FROM \"cpu-1\"", "my-db", "2");
    /* Names are case-sensitive: CPU is another measurement. */
    SCALAR("SELECT host FROM \"CPU\"", NULL, "upper");
    SCALAR("SELECT host FROM CPU", NULL, "upper");
    /* Whitespace and comments inside the name chain, UTF-8 before it. */
    SCALAR("SELECT count(*) FROM prod /* c */ . \"cpu\"", NULL, "3");
    SCALAR("SELECT 'é€' AS x, count(*) AS n FROM cpu", NULL, "é€|10");
    SCALAR("select COUNT(*) from CPU where HOST = 'upper'", NULL, "1");
}

static void test_qualified_columns_and_aliases(void **state)
{
    (void)state;
    SCALAR("SELECT cpu.host FROM cpu ORDER BY cpu.value DESC LIMIT 1", NULL, "h1");
    SCALAR("SELECT c.host FROM cpu AS c ORDER BY c.value LIMIT 1", NULL, "h0");
    SCALAR("SELECT c.host FROM cpu c ORDER BY c.value LIMIT 1", NULL, "h0");
    SCALAR("SELECT cpu.host FROM prod.cpu ORDER BY 1 LIMIT 1", NULL, "p0");
    SCALAR("SELECT x.a FROM cpu AS x(t, a) ORDER BY x.a LIMIT 1", NULL, "h0");
    SCALAR("SELECT count(*) FROM (SELECT cpu.* FROM cpu)", NULL, "10");
    SCALAR("SELECT count(*) FROM cpu TABLESAMPLE 100%", NULL, "10");
}

static void test_every_position(void **state)
{
    (void)state;
    /* joins of every kind, comma joins, self joins */
    SCALAR("SELECT count(*) FROM cpu c JOIN mem m ON c.host = m.host", NULL, "10");
    SCALAR("SELECT count(*) FROM cpu c LEFT JOIN mem m ON c.value = m.used", NULL, "10");
    SCALAR("SELECT count(*) FROM mem RIGHT JOIN cpu USING (host)", NULL, "10");
    SCALAR("SELECT count(*) FROM cpu FULL OUTER JOIN prod.cpu p ON cpu.host = p.host", NULL, "13");
    SCALAR("SELECT count(*) FROM cpu, mem WHERE cpu.host = mem.host", NULL, "10");
    SCALAR("SELECT count(*) FROM cpu, prod.cpu AS p", NULL, "30");
    SCALAR("SELECT count(*) FROM cpu a JOIN cpu b ON a.time = b.time", NULL, "10");
    SCALAR("SELECT count(*) FROM cpu CROSS JOIN mem", NULL, "40");
    SCALAR("SELECT count(*) FROM cpu NATURAL JOIN mem", NULL, "2");
    /* subqueries: FROM, WHERE, scalar, EXISTS, LATERAL */
    SCALAR("SELECT count(*) FROM (SELECT * FROM cpu WHERE value > 6)", NULL, "3");
    SCALAR("SELECT count(*) FROM cpu WHERE host IN (SELECT host FROM mem WHERE used >= 100)", NULL,
           "5");
    SCALAR("SELECT (SELECT max(used) FROM mem) + (SELECT count(*) FROM prod.cpu)", NULL, "303");
    SCALAR("SELECT count(*) FROM mem WHERE EXISTS (SELECT 1 FROM cpu WHERE cpu.host = mem.host)",
           NULL, "2");
    SCALAR("SELECT count(*) FROM mem, LATERAL (SELECT * FROM cpu WHERE cpu.host = mem.host) l",
           NULL, "10");
    /* set operations */
    SCALAR("SELECT count(*) FROM (SELECT host FROM cpu UNION ALL SELECT host FROM prod.cpu)", NULL,
           "13");
    SCALAR("SELECT count(*) FROM (SELECT host FROM cpu UNION SELECT host FROM mem)", NULL, "4");
    SCALAR("SELECT count(*) FROM (SELECT host FROM mem EXCEPT SELECT host FROM cpu)", NULL, "2");
    SCALAR("SELECT count(*) FROM (SELECT host FROM mem INTERSECT SELECT host FROM cpu)", NULL, "2");
    /* CTE bodies */
    SCALAR("WITH a AS (SELECT * FROM cpu), b AS (SELECT * FROM a WHERE value < 2) "
           "SELECT count(*) FROM b",
           NULL, "2");
    /* FROM-first, DESCRIBE/SUMMARIZE of a query, SUMMARIZE of a measurement */
    SCALAR("FROM prod.cpu SELECT count(*)", NULL, "3");
    struct qres r;
    qfix_ok(F.qe, "DESCRIBE SELECT host, value FROM cpu", NULL, &r);
    assert_int_equal(r.nrows, 2);
    qres_free(&r);
    qfix_ok(F.qe, "SUMMARIZE cpu", NULL, &r);
    assert_int_equal(r.nrows, 3); /* time, host, value */
    qres_free(&r);
    /* PIVOT with an explicit IN list is one SELECT */
    SCALAR("SELECT sum(h0) FROM (PIVOT cpu ON host IN ('h0', 'h1') USING count(*))", NULL, "5");
}

static void test_cte_names(void **state)
{
    (void)state;
    /* A CTE named like a measurement is the CTE. */
    SCALAR("WITH cpu AS (SELECT 99 AS x) SELECT x FROM cpu", NULL, "99");
    SCALAR("WITH CPU AS (SELECT 98 AS x) SELECT x FROM cpu", NULL, "98"); /* CTEs: any case */
    /* Inside its own (non-recursive) body the name is the measurement. */
    SCALAR("WITH cpu AS (SELECT count(*) AS n FROM cpu) SELECT n FROM cpu", NULL, "10");
    /* A CTE is not visible in CTEs defined before it. */
    SCALAR("WITH a AS (SELECT count(*) AS n FROM mem), mem AS (SELECT 1 AS z) SELECT n FROM a",
           NULL, "4");
    /* Recursive CTE sees itself. */
    SCALAR("WITH RECURSIVE cpu AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM cpu WHERE n < 3) "
           "SELECT count(*) FROM cpu",
           NULL, "3");
    /* CTE scope reaches into subqueries, and a nested WITH shadows. */
    SCALAR("WITH mem AS (SELECT 5 AS v) SELECT (SELECT v FROM mem) + (SELECT count(*) FROM cpu)",
           NULL, "15");
    SCALAR("WITH x AS (SELECT 1 AS v) SELECT * FROM (WITH cpu AS (SELECT 7 AS v) SELECT v FROM "
           "cpu)",
           NULL, "7");
    /* Outside the WITH, the name is the measurement again. */
    SCALAR("SELECT (WITH cpu AS (SELECT 1 AS v) SELECT v FROM cpu) + (SELECT count(*) FROM cpu)",
           NULL, "11");
}

static void test_literals_and_catalog_objects(void **state)
{
    (void)state;
    SCALAR("SELECT 'cpu' || ' FROM cpu; DROP TABLE cpu' FROM mem LIMIT 1", NULL,
           "cpu FROM cpu; DROP TABLE cpu");
    SCALAR("SELECT \"cpu\" FROM (SELECT 1 AS \"cpu\")", NULL, "1");
    SCALAR("SELECT count(*) >= 0 FROM information_schema.tables", NULL, "true");
    SCALAR("SELECT count(*) >= 0 FROM pg_catalog.pg_class", NULL, "true");
    SCALAR("SELECT count(*) >= 0 FROM duckdb_tables", NULL, "true");
    SCALAR("SELECT count(*) FROM range(5)", NULL, "5");
    SCALAR("SELECT count(*) FROM (VALUES (1), (2)) AS cpu(a)", NULL, "2");
}

static void test_empty_measurements(void **state)
{
    (void)state;
    struct qres r;
    qfix_ok(F.qe, "SELECT * FROM nothing", NULL, &r);
    assert_true(r.empty);
    assert_int_equal(r.ncols, 0);
    assert_int_equal(r.nrows, 0);
    qres_free(&r);
    qfix_ok(F.qe, "SELECT count(*) FROM nothing WHERE time > now()", NULL, &r);
    assert_true(r.empty);
    qres_free(&r);
    qfix_ok(F.qe, "SELECT * FROM nodb.cpu", NULL, &r);
    assert_true(r.empty);
    qres_free(&r);
    qfix_ok(F.qe, "SELECT * FROM cpu", "nodb", &r);
    assert_true(r.empty);
    qres_free(&r);
    /* Next to a measurement with data, an empty one reads as no rows. */
    qfix_ok(F.qe, "SELECT count(*) FROM cpu WHERE host NOT IN (SELECT 'x' FROM nothing)", NULL, &r);
    assert_false(r.empty);
    assert_string_equal(r.rows[0], "10");
    qres_free(&r);
    /* A query with no measurement at all is not "empty". */
    qfix_ok(F.qe, "SELECT 1", NULL, &r);
    assert_false(r.empty);
    qres_free(&r);
}

static void test_invalid_names(void **state)
{
    (void)state;
    qfix_fails(F.qe, "SELECT * FROM a.b.c", NULL, RC_INVALID, "three-part");
    qfix_fails(F.qe, "SELECT * FROM \"bad name\"", NULL, RC_INVALID, "invalid measurement name");
    qfix_fails(F.qe, "SELECT * FROM \"../../etc\"", NULL, RC_INVALID, "invalid measurement name");
    qfix_fails(F.qe, "SELECT * FROM \"x'y\"", NULL, RC_INVALID, "invalid measurement name");
    qfix_fails(F.qe, "SELECT * FROM \"a/b\".cpu", NULL, RC_INVALID, "invalid database name");
    qfix_fails(F.qe, "SELECT * FROM _internal.cpu", NULL, RC_INVALID, "invalid database name");
    qfix_fails(F.qe, "SELECT * FROM \".hidden\"", NULL, RC_INVALID, "invalid measurement name");
    /* The buffer scan cannot be called with another query's snapshot. */
    struct qres r;
    qfix_query(F.qe, "SELECT * FROM arc_buffer_scan(1)", NULL, &r);
    assert_int_equal(r.rc, RC_INVALID);
    qres_free(&r);
    assert_int_equal(qscan_registered_count(), 0);
}

static void test_unpublished_file_invisible(void **state)
{
    (void)state;
    SCALAR("SELECT count(*) FROM cpu WHERE host = 'hidden'", NULL, "0");
    SCALAR("SELECT max(time) FROM cpu", NULL, "2025-01-15T14:00:09Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_database_selection),
        cmocka_unit_test(test_qualified_columns_and_aliases),
        cmocka_unit_test(test_every_position),
        cmocka_unit_test(test_cte_names),
        cmocka_unit_test(test_literals_and_catalog_objects),
        cmocka_unit_test(test_empty_measurements),
        cmocka_unit_test(test_invalid_names),
        cmocka_unit_test(test_unpublished_file_invisible),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
