/*
 * tests/unit/query/test_check.c — the lexical helpers of query/check.c:
 * token boundaries (strings, quoted identifiers, dollar quotes, nested
 * comments), special-command recognition (§4.5) with its ugly inputs, the
 * statement shape (trailing ';', EXPLAIN prefix, refusal labels), literal
 * escaping and character counting. No DuckDB involved.
 */
#include "test_helpers.h"

#include "query/query_internal.h"

static int special(const char *sql, struct qspecial *sp)
{
    struct errbuf eb = {0};
    return qcheck_special(sql, strlen(sql), sp, &eb);
}

static void test_special_recognised(void **state)
{
    (void)state;
    struct qspecial sp;
    assert_int_equal(special("SHOW DATABASES", &sp), RC_OK);
    assert_int_equal(sp.kind, QUERY_SHOW_DATABASES);
    assert_int_equal(special(" show\n\tdatabases ;;", &sp), RC_OK);
    assert_int_equal(sp.kind, QUERY_SHOW_DATABASES);
    assert_int_equal(special("/* a /* nested */ b */ SHOW -- c\nDATABASES", &sp), RC_OK);
    assert_int_equal(sp.kind, QUERY_SHOW_DATABASES);

    assert_int_equal(special("SHOW TABLES", &sp), RC_OK);
    assert_int_equal(sp.kind, QUERY_SHOW_TABLES);
    assert_false(sp.has_db);
    assert_int_equal(special("show measurements from \"my-db\";", &sp), RC_OK);
    assert_int_equal(sp.kind, QUERY_SHOW_TABLES);
    assert_true(sp.has_db);
    assert_string_equal(sp.db, "my-db");
    assert_int_equal(special("SHOW TABLES FROM 'prod'", &sp), RC_OK);
    assert_string_equal(sp.db, "prod");

    assert_int_equal(special("DESCRIBE cpu", &sp), RC_OK);
    assert_int_equal(sp.kind, QUERY_DESCRIBE);
    assert_false(sp.has_db);
    assert_string_equal(sp.table, "cpu");
    assert_int_equal(special("desc \"default\" . \"cpu-1\" ;", &sp), RC_OK);
    assert_int_equal(sp.kind, QUERY_DESCRIBE);
    assert_string_equal(sp.db, "default");
    assert_string_equal(sp.table, "cpu-1");
}

static void test_special_not_ours(void **state)
{
    (void)state;
    struct qspecial sp;
    const char *others[] = {"SELECT 1",          "SHOW ALL TABLES",   "SHOW cpu",
                            "SHOWDATABASES",     "DESCRIBE SELECT 1", "DESCRIBE",
                            "describe with x",   "DESC a.b.c",        "DESCRIBE cpu extra",
                            "-- SHOW DATABASES", "'SHOW DATABASES'",  "EXPLAIN SHOW TABLES"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        assert_int_equal(special(others[i], &sp), RC_OK);
        assert_int_equal(sp.kind, QUERY_SELECT);
    }
}

static void test_special_invalid(void **state)
{
    (void)state;
    struct qspecial sp;
    assert_int_equal(special("SHOW DATABASES x", &sp), RC_INVALID);
    assert_int_equal(special("SHOW TABLES x", &sp), RC_INVALID);
    assert_int_equal(special("SHOW TABLES FROM", &sp), RC_INVALID);
    assert_int_equal(special("SHOW TABLES FROM \"a b\"", &sp), RC_INVALID);
    assert_int_equal(special("SHOW TABLES FROM a.b", &sp), RC_INVALID);
    assert_int_equal(special("SHOW TABLES FROM \"../x\"", &sp), RC_INVALID);
    assert_int_equal(special("DESCRIBE \"a b\"", &sp), RC_INVALID);
    assert_int_equal(special("DESCRIBE \"1db\".cpu", &sp), RC_INVALID);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    char sql[400];
    snprintf(sql, sizeof(sql), "DESCRIBE %s", longname);
    assert_int_equal(special(sql, &sp), RC_INVALID);
    snprintf(sql, sizeof(sql), "SHOW TABLES FROM %.65s", longname);
    assert_int_equal(special(sql, &sp), RC_INVALID);
    snprintf(sql, sizeof(sql), "SHOW TABLES FROM %.64s", longname);
    assert_int_equal(special(sql, &sp), RC_OK);
}

static void shape(const char *sql, struct qshape *sh)
{
    qcheck_shape(sql, strlen(sql), sh);
}

static void test_shape(void **state)
{
    (void)state;
    struct qshape sh;
    shape("SELECT 1;  -- after\n", &sh);
    assert_false(sh.empty);
    assert_int_equal(sh.body_end, 8);
    assert_false(sh.explain);
    assert_string_equal(sh.kind, "SELECT");
    shape("SELECT ';' -- ;\n", &sh);
    assert_int_equal(sh.body_end, 10);
    shape("SELECT $x$;$x$ ;;", &sh);
    assert_int_equal(sh.body_end, 14);
    shape("SELECT 'unterminated", &sh);
    assert_int_equal(sh.body_end, strlen("SELECT 'unterminated"));
    shape("  ; -- nothing\n ;", &sh);
    assert_true(sh.empty);
    shape("/* unterminated comment", &sh);
    assert_false(sh.empty); /* left for DuckDB's parser to reject */

    shape("explain analyze SELECT 1", &sh);
    assert_true(sh.explain);
    assert_int_equal(sh.inner_start, 16);
    assert_string_equal(sh.kind, "EXPLAIN SELECT");
    shape("EXPLAIN (FORMAT json) FROM cpu", &sh);
    assert_true(sh.explain);
    assert_int_equal(sh.inner_start, 22);
    shape("EXPLAIN (INSERT INTO t VALUES (1)) SELECT 1", &sh);
    assert_true(sh.explain);
    assert_int_equal(sh.inner_start, 8); /* the '(' stays: DuckDB rejects it */
    shape("EXPLAIN WITH x AS (SELECT 1) DELETE FROM t", &sh);
    assert_string_equal(sh.kind, "EXPLAIN DELETE");

    shape("with a as (select 1), b as (insert into x values (1)) update t set y = 1", &sh);
    assert_string_equal(sh.kind, "UPDATE");
    shape("  copy t to 'x'", &sh);
    assert_string_equal(sh.kind, "COPY");
    assert_string_equal(sh.first_word, "COPY");
    shape("(SELECT 1)", &sh);
    assert_string_equal(sh.kind, "UNKNOWN");
}

static void test_lexer_tokens(void **state)
{
    (void)state;
    const char *s = "a.\"b\"\"c\" E'x\\'y' $t$ $ $t$ $1 ? U&\"d\" 1.5e-3 /* /* */ */ -- x\n;";
    struct qlex lx;
    struct qlex_tok t;
    qlex_init(&lx, s, strlen(s));
    enum qlex_kind want[] = {QTOK_WORD,   QTOK_PUNCT, QTOK_QIDENT, QTOK_STRING,
                             QTOK_STRING, QTOK_PARAM, QTOK_PARAM,  QTOK_QIDENT,
                             QTOK_NUMBER, QTOK_PUNCT, QTOK_END};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        qlex_next(&lx, &t);
        assert_int_equal(t.kind, want[i]);
        if (i == 2) {
            char id[16];
            assert_true(qlex_ident(&lx, &t, id, sizeof(id)));
            assert_string_equal(id, "b\"c");
        }
    }
    qlex_init(&lx, "\"open", 5);
    qlex_next(&lx, &t);
    assert_int_equal(t.kind, QTOK_ERROR);
    qlex_init(&lx, "$$never closed", 14);
    qlex_next(&lx, &t);
    assert_int_equal(t.kind, QTOK_ERROR);
    char small[4];
    qlex_init(&lx, "abcdef", 6);
    qlex_next(&lx, &t);
    assert_false(qlex_ident(&lx, &t, small, sizeof(small)));
}

static void test_literals_and_counts(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(qcheck_append_literal(&sb, "it's '' x", 9), RC_OK);
    assert_string_equal(sb.data, "'it''s '''' x'");
    strbuf_reset(&sb);
    assert_int_equal(qcheck_append_ident(&sb, "a\"b", 3), RC_OK);
    assert_string_equal(sb.data, "\"a\"\"b\"");
    strbuf_cleanup(&sb);
    assert_int_equal(qcheck_utf8_chars("h\xc3\xa9\xe2\x82\xac!", 7), 4);
    assert_int_equal(qcheck_rc_for_error(DUCKDB_ERROR_PERMISSION), RC_DENIED);
    assert_int_equal(qcheck_rc_for_error(DUCKDB_ERROR_BINDER), RC_INVALID);
    assert_int_equal(qcheck_rc_for_error(DUCKDB_ERROR_OUT_OF_MEMORY), RC_DB);
    assert_string_equal(qcheck_statement_type_name(DUCKDB_STATEMENT_TYPE_COPY), "COPY");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_special_recognised), cmocka_unit_test(test_special_not_ours),
        cmocka_unit_test(test_special_invalid),    cmocka_unit_test(test_shape),
        cmocka_unit_test(test_lexer_tokens),       cmocka_unit_test(test_literals_and_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
