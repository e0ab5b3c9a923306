/*
 * tests/unit/query/test_readonly.c — SPEC §4.3 read-only enforcement and
 * §4.2 request validation: every kind of writing or escaping statement is
 * refused with 400 naming its kind (decided by DuckDB's parser), files
 * outside the data directory are refused by DuckDB (403), harmless forms
 * (comments, trailing ';', EXPLAIN of a SELECT, VALUES, WITH) run.
 */
#include "qfixture.h"

static struct qfix F;

static int setup(void **state)
{
    (void)state;
    qfix_open(&F);
    qfix_add_file(&F, "default", "cpu",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'h' || (i % 2) AS host, i::DOUBLE AS value FROM range(10) t(i)",
                  time_from_civil(&(struct civil_time){2025, 1, 15, 14, 0, 0, 0}),
                  time_from_civil(&(struct civil_time){2025, 1, 15, 14, 0, 9, 0}), 10, true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qfix_close(&F);
    return 0;
}

static void test_select_forms_run(void **state)
{
    (void)state;
    char v[256];
    assert_string_equal(qfix_scalar(F.qe, "SELECT count(*) FROM cpu", NULL, v, sizeof(v)), "10");
    assert_string_equal(qfix_scalar(F.qe, "SELECT count(*) FROM cpu;", NULL, v, sizeof(v)), "10");
    assert_string_equal(
        qfix_scalar(F.qe,
                    "-- leading comment\n/* block /* nested */ */ SELECT count(*) FROM cpu "
                    "-- trailing\n ; -- after the semicolon\n",
                    NULL, v, sizeof(v)),
        "10");
    assert_string_equal(
        qfix_scalar(F.qe, "WITH x AS (SELECT 41 AS a) SELECT a + 1 FROM x", NULL, v, sizeof(v)),
        "42");
    assert_string_equal(qfix_scalar(F.qe, "VALUES (7)", NULL, v, sizeof(v)), "7");
    assert_string_equal(qfix_scalar(F.qe, "SELECT 1 UNION SELECT 1", NULL, v, sizeof(v)), "1");
    assert_string_equal(qfix_scalar(F.qe, "FROM cpu SELECT max(value)", NULL, v, sizeof(v)), "9");
    /* A column called `update` is harmless ([Py] rejected it). */
    assert_string_equal(qfix_scalar(F.qe, "SELECT 3 AS \"update\"", NULL, v, sizeof(v)), "3");
    assert_string_equal(
        qfix_scalar(F.qe, "SELECT 'DROP TABLE cpu; DELETE FROM cpu' AS s", NULL, v, sizeof(v)),
        "DROP TABLE cpu; DELETE FROM cpu");

    struct qres r;
    qfix_ok(F.qe, "EXPLAIN SELECT * FROM cpu WHERE value > 3", NULL, &r);
    assert_true(r.nrows >= 1);
    qres_free(&r);
    qfix_ok(F.qe, "EXPLAIN ANALYZE SELECT count(*) FROM cpu", NULL, &r);
    assert_true(r.nrows >= 1);
    qres_free(&r);
    /* Reading files of the data directory directly is allowed. */
    char sql[600];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM read_parquet('%s/default/cpu/**/*.parquet')",
             F.root);
    assert_string_equal(qfix_scalar(F.qe, sql, NULL, v, sizeof(v)), "10");
}

struct refusal {
    const char *sql;
    const char *kind;
};

static void test_writes_refused_with_kind(void **state)
{
    (void)state;
    char copy_sql[600], export_sql[600], attach_sql[600];
    snprintf(copy_sql, sizeof(copy_sql), "COPY (SELECT 1) TO '%s/x.csv'", F.root);
    snprintf(export_sql, sizeof(export_sql), "EXPORT DATABASE '%s/exp'", F.root);
    snprintf(attach_sql, sizeof(attach_sql), "ATTACH '%s/x.duckdb' AS x", F.root);
    const struct refusal cases[] = {
        {copy_sql, "COPY"},
        {"COPY cpu TO '/tmp/arc-qtest-copy.csv'", "COPY"},
        {"COPY (SELECT * FROM cpu) TO '/tmp/out.parquet' (FORMAT parquet)", "COPY"},
        {export_sql, "EXPORT"},
        {attach_sql, "ATTACH"},
        {"DETACH x", "DETACH"},
        {"INSTALL httpfs", "INSTALL"},
        {"LOAD httpfs", "LOAD"},
        {"LOAD '/tmp/evil.duckdb_extension'", "LOAD"},
        {"CREATE TABLE t (a INT)", "CREATE"},
        {"CREATE TEMP VIEW v AS SELECT 1", "CREATE"},
        {"CREATE MACRO m(x) AS x", "CREATE"},
        {"CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", "CREATE"},
        {"INSERT INTO cpu VALUES (1)", "INSERT"},
        {"INSERT INTO cpu SELECT * FROM cpu", "INSERT"},
        {"UPDATE cpu SET value = 0", "UPDATE"},
        {"DELETE FROM cpu", "DELETE"},
        {"DROP TABLE cpu", "DROP"},
        {"ALTER TABLE cpu ADD COLUMN x INT", "ALTER"},
        {"SET threads = 64", "SET"},
        {"SET enable_external_access = true", "SET"},
        {"SET lock_configuration = false", "SET"},
        {"RESET threads", "RESET"},
        {"SET VARIABLE x = 1", "SET"},
        {"USE memory", "USE"},
        {"PRAGMA version", "PRAGMA"},
        {"PRAGMA enable_profiling", "PRAGMA"},
        {"CALL pragma_version()", "CALL"},
        {"CHECKPOINT", "CHECKPOINT"},
        {"VACUUM", "VACUUM"},
        {"BEGIN TRANSACTION", "BEGIN"},
        {"PREPARE p AS SELECT 1", "PREPARE"},
        {"EXECUTE p", "EXECUTE"},
        {"EXPLAIN ANALYZE CREATE TABLE q AS SELECT 1", "EXPLAIN CREATE"},
        {"EXPLAIN ANALYZE INSERT INTO cpu VALUES (1)", "EXPLAIN INSERT"},
        {"EXPLAIN COPY (SELECT 1) TO '/tmp/x.csv'", "EXPLAIN COPY"},
        {"  /* comment */ insert into cpu values (1);", "INSERT"},
        {"WITH x AS (SELECT 1 AS a) INSERT INTO cpu SELECT * FROM x", "INSERT"},
        {"WITH x AS (SELECT 1 AS a) DELETE FROM cpu WHERE value IN (SELECT a FROM x)", "DELETE"},
        {"EXPLAIN WITH x AS (SELECT 1) UPDATE cpu SET value = 1", "EXPLAIN UPDATE"},
        {"PIVOT cpu ON host", "Only one statement"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char want[128];
        if (strstr(cases[i].kind, " statement"))
            snprintf(want, sizeof(want), "%s", cases[i].kind);
        else
            snprintf(want, sizeof(want), "Only read-only queries are allowed: %s", cases[i].kind);
        qfix_fails(F.qe, cases[i].sql, NULL, RC_INVALID, want);
    }
    /* Nothing was written. */
    struct stat st;
    char p[600];
    snprintf(p, sizeof(p), "%s/x.csv", F.root);
    assert_int_not_equal(stat(p, &st), 0);
    snprintf(p, sizeof(p), "%s/exp", F.root);
    assert_int_not_equal(stat(p, &st), 0);
    assert_int_not_equal(stat("/tmp/arc-qtest-copy.csv", &st), 0);
}

static void test_side_effect_table_functions_refused(void **state)
{
    (void)state;
    char sql[700];
    snprintf(sql, sizeof(sql),
             "SELECT * FROM enable_logging(storage = 'file', storage_path = '%s/logs')", F.root);
    qfix_fails(F.qe, sql, NULL, RC_INVALID, "enable_logging is not allowed");
    struct stat st;
    char p[600];
    snprintf(p, sizeof(p), "%s/logs", F.root);
    assert_int_not_equal(stat(p, &st), 0);
    snprintf(sql, sizeof(sql),
             "SELECT * FROM query('SELECT * FROM enable_logging(storage = ''file'', "
             "storage_path = ''%s/logs'')')",
             F.root);
    qfix_fails(F.qe, sql, NULL, RC_INVALID, "query is not allowed");
    assert_int_not_equal(stat(p, &st), 0);
    const char *refused[] = {
        "SELECT * FROM query_table('cpu')",
        "SELECT * FROM json_execute_serialized_sql('{}')",
        "SELECT * FROM arrow_scan(1, 2, 3)",
        "SELECT * FROM checkpoint()",
        "FROM force_checkpoint()",
        "SELECT * FROM enable_profiling()",
        "SELECT * FROM Enable_Peg_Parser()",
        "SELECT * FROM truncate_duckdb_logs()",
        "SELECT * FROM cpu, LATERAL (SELECT * FROM query('SELECT 1'))",
        "WITH x AS (SELECT * FROM disable_logging()) SELECT 1",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        qfix_fails(F.qe, refused[i], NULL, RC_INVALID, "is not allowed");
    /* Ordinary table functions work. */
    char v[64];
    assert_string_equal(qfix_scalar(F.qe, "SELECT count(*) FROM range(3)", NULL, v, sizeof(v)),
                        "3");
    assert_string_equal(
        qfix_scalar(F.qe, "SELECT sum(g) FROM generate_series(1, 4) t(g)", NULL, v, sizeof(v)),
        "10");
    assert_string_equal(
        qfix_scalar(F.qe, "SELECT count(*) FROM cpu, unnest([1, 2])", NULL, v, sizeof(v)), "20");
    assert_string_equal(
        qfix_scalar(F.qe, "SELECT count(*) > 0 FROM duckdb_functions()", NULL, v, sizeof(v)),
        "true");
}

static void test_multiple_statements_refused(void **state)
{
    (void)state;
    qfix_fails(F.qe, "SELECT 1; SELECT 2", NULL, RC_INVALID, "Only one statement");
    qfix_fails(F.qe, "SELECT 1; DROP TABLE cpu", NULL, RC_INVALID, "Only one statement");
    qfix_fails(F.qe, "SELECT 1;;SELECT 2;", NULL, RC_INVALID, "Only one statement");
    /* A ';' inside a string or comment is not a separator. */
    char v[64];
    assert_string_equal(qfix_scalar(F.qe, "SELECT ';' -- ; SELECT 2\n", NULL, v, sizeof(v)), ";");
    assert_string_equal(qfix_scalar(F.qe, "SELECT $$a;b$$", NULL, v, sizeof(v)), "a;b");
    assert_string_equal(qfix_scalar(F.qe, "SELECT E'x\\';y'", NULL, v, sizeof(v)), "x';y");
}

static void test_files_outside_data_dir_denied(void **state)
{
    (void)state;
    /* A Parquet file outside the root. */
    qfix_exec(&F, "COPY (SELECT 1 AS x) TO '/tmp/arc-qtest-outside.parquet' (FORMAT parquet)");
    qfix_fails(F.qe, "SELECT * FROM read_csv('/etc/passwd')", NULL, RC_DENIED, "Permission");
    qfix_fails(F.qe, "SELECT * FROM read_parquet('/tmp/arc-qtest-outside.parquet')", NULL,
               RC_DENIED, NULL);
    qfix_fails(F.qe, "SELECT * FROM read_text('/etc/hostname')", NULL, RC_DENIED, NULL);
    qfix_fails(F.qe, "SELECT * FROM glob('/etc/*')", NULL, RC_DENIED, NULL);
    char sql[600];
    snprintf(sql, sizeof(sql), "SELECT * FROM read_parquet('%s/../../arc-qtest-outside.parquet')",
             F.root);
    qfix_fails(F.qe, sql, NULL, RC_DENIED, NULL);
    /* A file name as a table goes to DuckDB's replacement scan: same rules. */
    qfix_fails(F.qe, "SELECT * FROM '/tmp/arc-qtest-outside.parquet'", NULL, RC_DENIED, NULL);
    unlink("/tmp/arc-qtest-outside.parquet");
    char v0[64];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM '%s/default/cpu/**/*.parquet'", F.root);
    assert_string_equal(qfix_scalar(F.qe, sql, NULL, v0, sizeof(v0)), "10");
    /* The settings stayed locked. */
    char v[64];
    assert_string_equal(qfix_scalar(F.qe, "SELECT current_setting('lock_configuration')::VARCHAR",
                                    NULL, v, sizeof(v)),
                        "true");
    assert_string_equal(qfix_scalar(F.qe,
                                    "SELECT current_setting('enable_external_access')::VARCHAR",
                                    NULL, v, sizeof(v)),
                        "false");
}

static void test_request_validation(void **state)
{
    (void)state;
    qfix_fails(F.qe, "", NULL, RC_INVALID, "sql is required");
    qfix_fails(F.qe, "  -- only a comment\n ; ", NULL, RC_INVALID, "empty");
    qfix_fails(F.qe, "SELEC 1", NULL, RC_INVALID, "syntax error");
    qfix_fails(F.qe, "SELECT nope FROM cpu", NULL, RC_INVALID, "nope");
    qfix_fails(F.qe, "SELECT no_such_fn(1)", NULL, RC_INVALID, "no_such_fn");
    /* Header database validated (§4.2). */
    qfix_fails(F.qe, "SELECT 1", "bad name", RC_INVALID, "x-arc-database");
    qfix_fails(F.qe, "SELECT 1", "../etc", RC_INVALID, "x-arc-database");
    qfix_fails(F.qe, "SELECT 1", "1abc", RC_INVALID, "x-arc-database");

    /* max_sql_length counts characters, not bytes. */
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(strbuf_puts(&sb, "SELECT '"), RC_OK);
    while (sb.len < 9990)
        assert_int_equal(strbuf_puts(&sb, "\xC3\xA9"), RC_OK); /* é: 2 bytes, 1 character */
    assert_int_equal(strbuf_puts(&sb, "'"), RC_OK);
    struct qres r;
    qfix_query(F.qe, sb.data, NULL, &r);
    assert_int_equal(r.rc, RC_OK); /* ~5000 characters */
    qres_free(&r);
    strbuf_reset(&sb);
    assert_int_equal(strbuf_puts(&sb, "SELECT 1 -- "), RC_OK);
    while (sb.len <= 10000)
        assert_int_equal(strbuf_putc(&sb, 'x'), RC_OK);
    qfix_fails(F.qe, sb.data, NULL, RC_INVALID, "too long");
    strbuf_cleanup(&sb);
}

static void test_parameters_and_errors(void **state)
{
    (void)state;
    /* A statement with parameters cannot run (nothing binds them). */
    struct qres r;
    qfix_query(F.qe, "SELECT $1", NULL, &r);
    assert_int_equal(r.rc, RC_INVALID);
    qres_free(&r);
    /* A runtime conversion error is the query's fault: 400. */
    qfix_fails(F.qe, "SELECT CAST('x' || i AS INT) FROM range(3000) t(i)", NULL, RC_INVALID,
               "Conversion");
    /* Error text does not leak the rewritten statement. */
    qfix_query(F.qe, "SELECT missing_col FROM cpu", NULL, &r);
    assert_int_equal(r.rc, RC_INVALID);
    assert_null(strstr(r.err, "arc_buffer_scan"));
    assert_null(strstr(r.err, "read_parquet"));
    qres_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_forms_run),
        cmocka_unit_test(test_writes_refused_with_kind),
        cmocka_unit_test(test_side_effect_table_functions_refused),
        cmocka_unit_test(test_multiple_statements_refused),
        cmocka_unit_test(test_files_outside_data_dir_denied),
        cmocka_unit_test(test_request_validation),
        cmocka_unit_test(test_parameters_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
