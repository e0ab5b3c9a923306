/*
 * tests/unit/query/test_special.c — SPEC §4.5 special commands: SHOW
 * DATABASES, SHOW TABLES / MEASUREMENTS [FROM db], DESCRIBE / DESC
 * [db.]table, with their exact columns, sorting, hidden names, buffered-only
 * measurements, empty results, invalid names and the estimate restriction.
 */
#include "qfixture.h"

static struct qfix F;

static int64_t T(int h)
{
    return time_from_civil(&(struct civil_time){2025, 1, 15, h, 0, 0, 0});
}

static int setup(void **state)
{
    (void)state;
    qfix_open(&F);
    qfix_add_file(&F, "default", "cpu",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' AS time, 'a' AS host, "
                  "1.5::DOUBLE AS value",
                  T(14), T(14), 1, true);
    qfix_schema(&F, "default", "cpu", "host", COL_STRING);
    qfix_schema(&F, "default", "cpu", "value", COL_DOUBLE);
    qfix_add_file(&F, "default", "mem",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' AS time, 5::BIGINT AS used", T(14),
                  T(14), 1, true);
    qfix_schema(&F, "default", "mem", "used", COL_INT64);
    qfix_add_file(&F, "prod", "disk",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' AS time, true AS ok", T(14), T(14),
                  1, true);
    qfix_schema(&F, "prod", "disk", "ok", COL_BOOL);
    /* Files whose columns the catalog does not know (reconciled data). */
    qfix_add_file(&F, "default", "legacy",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' AS time, 7::UBIGINT AS n, "
                  "'x' AS tag",
                  T(14), T(14), 1, true);
    /* A catalog entry with a known size, for total_size_mb (no file needed). */
    struct catalog_file_entry e = {.key = "default/sized/2025/01/15/14/sized_1.parquet",
                                   .db = "default",
                                   .measurement = "sized",
                                   .min_time_us = T(14),
                                   .max_time_us = T(14),
                                   .row_count = 1,
                                   .bytes = 1234567};
    uint64_t id;
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_add(F.cat, &e, 1, &id, &eb), RC_OK);
    catalog_files_publish(F.cat, &id, 1);
    /* Rows only in the buffer: a new measurement and a new database. */
    qfix_admit(&F, qfix_batch("default", "fresh", T(15), 1, 2, 0));
    qfix_admit(&F, qfix_batch("bufdb", "m", T(15), 1, 1, 0));
    /* An empty database created with its marker; hidden directories. */
    char p[600];
    snprintf(p, sizeof(p), "%s/markerdb", F.root);
    qfix_mkdir_p(p);
    snprintf(p, sizeof(p), "%s/markerdb/.arc-database", F.root);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(p, sizeof(p), "%s/.staging", F.root);
    qfix_mkdir_p(p);
    snprintf(p, sizeof(p), "%s/_internal", F.root);
    qfix_mkdir_p(p);
    snprintf(p, sizeof(p), "%s/nomarker", F.root);
    qfix_mkdir_p(p);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qfix_close(&F);
    return 0;
}

static void assert_rows(const struct qres *r, const char *const *want, size_t n)
{
    if (r->nrows != n) {
        for (size_t i = 0; i < r->nrows; i++)
            fprintf(stderr, "  row %zu: %s\n", i, r->rows[i]);
    }
    assert_int_equal(r->nrows, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r->rows[i], want[i]);
}

static void test_show_databases(void **state)
{
    (void)state;
    const char *variants[] = {"SHOW DATABASES", "show databases;", "  Show   Databases ; ",
                              "/* x */ SHOW -- y\n DATABASES -- z"};
    for (size_t v = 0; v < 4; v++) {
        struct qres r;
        qfix_ok(F.qe, variants[v], NULL, &r);
        assert_int_equal(r.kind, QUERY_SHOW_DATABASES);
        assert_int_equal(r.ncols, 1);
        assert_string_equal(r.names[0], "database");
        const char *want[] = {"bufdb", "default", "markerdb", "prod"};
        assert_rows(&r, want, 4);
        qres_free(&r);
    }
}

static void test_show_tables(void **state)
{
    (void)state;
    struct qres r;
    qfix_ok(F.qe, "SHOW TABLES", NULL, &r);
    assert_int_equal(r.kind, QUERY_SHOW_TABLES);
    assert_int_equal(r.ncols, 5);
    const char *cols[] = {"database", "table_name", "storage_path", "file_count", "total_size_mb"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(r.names[i], cols[i]);
    assert_int_equal(r.nrows, 5);
    char want[5][700];
    const char *names[] = {"cpu", "fresh", "legacy", "mem", "sized"};
    for (int i = 0; i < 5; i++) {
        /* storage_path = {base_path}/{db}/{m}/ */
        assert_non_null(strstr(r.rows[i], names[i]));
        snprintf(want[i], sizeof(want[i]), "default|%s|%s/default/%s/|", names[i], F.root,
                 names[i]);
        assert_memory_equal(r.rows[i], want[i], strlen(want[i]));
    }
    assert_non_null(strstr(r.rows[1], "|0|0"));    /* fresh: only buffered */
    assert_non_null(strstr(r.rows[4], "|1|1.18")); /* 1234567 bytes = 1.177 MB */
    qres_free(&r);

    /* MEASUREMENTS alias, FROM db (quoted or not), header database. */
    const char *forms[][2] = {{"SHOW MEASUREMENTS FROM prod", NULL},
                              {"SHOW TABLES FROM \"prod\";", NULL},
                              {"show tables", "prod"},
                              {"SHOW TABLES FROM prod", "default"}};
    for (int i = 0; i < 4; i++) {
        qfix_ok(F.qe, forms[i][0], forms[i][1], &r);
        assert_int_equal(r.nrows, 1);
        char w[700];
        snprintf(w, sizeof(w), "prod|disk|%s/prod/disk/|1|0", F.root);
        assert_string_equal(r.rows[0], w);
        qres_free(&r);
    }
    /* Unknown database: empty result with the same columns. */
    qfix_ok(F.qe, "SHOW TABLES FROM nodb", NULL, &r);
    assert_int_equal(r.ncols, 5);
    assert_int_equal(r.nrows, 0);
    assert_false(r.empty);
    qres_free(&r);
    qfix_fails(F.qe, "SHOW TABLES FROM \"bad name\"", NULL, RC_INVALID, "invalid database name");
    qfix_fails(F.qe, "SHOW TABLES FROM _internal", NULL, RC_INVALID, "invalid database name");
    qfix_fails(F.qe, "SHOW TABLES FROM a b", NULL, RC_INVALID, NULL);
    qfix_fails(F.qe, "SHOW TABLES", "bad/db", RC_INVALID, "x-arc-database");
}

static void test_describe(void **state)
{
    (void)state;
    const char *forms[][2] = {{"DESCRIBE cpu", NULL},
                              {"desc cpu;", NULL},
                              {"DESCRIBE \"default\".cpu", "prod"},
                              {"DESCRIBE cpu", "default"}};
    for (int i = 0; i < 4; i++) {
        struct qres r;
        qfix_ok(F.qe, forms[i][0], forms[i][1], &r);
        assert_int_equal(r.kind, QUERY_DESCRIBE);
        assert_int_equal(r.ncols, 3);
        assert_string_equal(r.names[0], "column_name");
        assert_string_equal(r.names[1], "column_type");
        assert_string_equal(r.names[2], "null");
        const char *want[] = {"time|TIMESTAMP WITH TIME ZONE|NO", "host|VARCHAR|YES",
                              "value|DOUBLE|YES"};
        assert_rows(&r, want, 3);
        qres_free(&r);
    }
    struct qres r;
    qfix_ok(F.qe, "DESC prod.disk", NULL, &r);
    const char *want_disk[] = {"time|TIMESTAMP WITH TIME ZONE|NO", "ok|BOOLEAN|YES"};
    assert_rows(&r, want_disk, 2);
    qres_free(&r);
    /* Buffered-only measurement: its schema is in the catalog. */
    qfix_ok(F.qe, "DESCRIBE fresh", NULL, &r);
    const char *want_fresh[] = {"time|TIMESTAMP WITH TIME ZONE|NO", "host|VARCHAR|YES",
                                "value|DOUBLE|YES"};
    assert_rows(&r, want_fresh, 3);
    qres_free(&r);
    /* Files without a catalog schema: DuckDB reads the files' columns. */
    qfix_ok(F.qe, "DESCRIBE legacy", NULL, &r);
    const char *want_legacy[] = {"time|TIMESTAMP WITH TIME ZONE|NO", "n|UBIGINT|YES",
                                 "tag|VARCHAR|YES"};
    assert_rows(&r, want_legacy, 3);
    qres_free(&r);
    qfix_fails(F.qe, "DESCRIBE nothing", NULL, RC_INVALID, "Table not found");
    qfix_fails(F.qe, "DESCRIBE nodb.cpu", NULL, RC_INVALID, "Table not found");
    qfix_fails(F.qe, "DESCRIBE \"bad name\"", NULL, RC_INVALID, "invalid measurement name");
    qfix_fails(F.qe, "DESCRIBE \"a/b\".cpu", NULL, RC_INVALID, "invalid database name");
    /* DESCRIBE of a query is DuckDB's own. */
    qfix_ok(F.qe, "DESCRIBE SELECT host FROM cpu", NULL, &r);
    assert_int_equal(r.kind, QUERY_SELECT);
    assert_int_equal(r.nrows, 1);
    qres_free(&r);
}

static void test_not_on_estimate_or_without_allow(void **state)
{
    (void)state;
    struct query_request req = {.sql = "SHOW DATABASES", .allow_special = false};
    struct qres r;
    qfix_query_req(F.qe, &req, &r);
    assert_int_equal(r.rc, RC_INVALID);
    qres_free(&r);
    int64_t rows = -1;
    struct errbuf eb = {0};
    req.allow_special = true;
    req.sql = "DESCRIBE cpu";
    assert_int_equal(query_estimate(F.qe, &req, &rows, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "SHOW and DESCRIBE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_show_databases),
        cmocka_unit_test(test_show_tables),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_not_on_estimate_or_without_allow),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
