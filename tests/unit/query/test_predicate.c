/*
 * tests/unit/query/test_predicate.c — the restricted predicate grammar
 * (query/predicate.c, SPEC §8.4): exact re-rendering of valid input, the
 * injection examples of the spec and many more rejected, limits, time
 * strings, and that every rendering is valid DuckDB SQL.
 */
#include "test_helpers.h"

#include <duckdb.h>

#include "query/predicate.h"
#include "util/mem.h"

static char *render(const char *in, struct errbuf *eb)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    errbuf_clear(eb);
    int rc = pred_to_sql(in, strlen(in), &sb, eb);
    if (rc) {
        strbuf_cleanup(&sb);
        return NULL;
    }
    return strbuf_detach(&sb, NULL);
}

static void expect(const char *in, const char *want)
{
    struct errbuf eb = {0};
    char *got = render(in, &eb);
    if (!got)
        fail_msg("rejected %s: %s", in, eb.msg);
    assert_string_equal(got, want);
    xfree(got);
}

/* Rejected with RC_INVALID and a message containing `why`. */
static void reject(const char *in, const char *why)
{
    struct errbuf eb = {0};
    struct pred *p = (struct pred *)1;
    int rc = pred_parse(in, strlen(in), &p, &eb);
    if (rc == RC_OK) {
        struct strbuf sb;
        strbuf_init(&sb, 0);
        if (pred_render(p, &sb) != RC_OK)
            fail_msg("render failed");
        fail_msg("accepted %s as %s", in, sb.data);
    }
    assert_int_equal(rc, RC_INVALID);
    assert_null(p);
    if (why && !strstr(eb.msg, why))
        fail_msg("%s: message '%s' lacks '%s'", in, eb.msg, why);
}

static void test_render_basic(void **state)
{
    (void)state;
    expect("host = 'a'", "(\"host\" = 'a')");
    expect("WHERE host = 'a'", "(\"host\" = 'a')");
    expect("where  usage_idle>=90.5", "(\"usage_idle\" >= 90.5)");
    expect("a != 1 and b <> -2 OR c < 3e5 or d <= -1.5E-3 AND e > 0",
           "(((\"a\" <> 1) AND (\"b\" <> -2)) OR (\"c\" < 3e5) OR ((\"d\" <= -1.5E-3) AND (\"e\" > "
           "0)))");
    expect("NOT (x = 1 OR y = 2)", "(NOT ((\"x\" = 1) OR (\"y\" = 2)))");
    expect("not x = 1", "(NOT (\"x\" = 1))");
    expect("host IN ('a', 'b''c')", "(\"host\" IN ('a', 'b''c'))");
    expect("n not in (1, 2.5, NULL, true)", "(\"n\" NOT IN (1, 2.5, NULL, TRUE))");
    expect("v BETWEEN 1 AND 5 AND w = 2", "((\"v\" BETWEEN 1 AND 5) AND (\"w\" = 2))");
    expect("v NOT BETWEEN -1 AND x", "(\"v\" NOT BETWEEN -1 AND \"x\")");
    expect("region IS NULL or region is not null",
           "((\"region\" IS NULL) OR (\"region\" IS NOT NULL))");
    expect("host LIKE 'web%' AND host NOT ILIKE '%_test'",
           "((\"host\" LIKE 'web%') AND (\"host\" NOT ILIKE '%_test'))");
    expect("\"my col\" = 'x' AND \"we\"\"ird\" = 1 AND \"and\" = 2",
           "((\"my col\" = 'x') AND (\"we\"\"ird\" = 1) AND (\"and\" = 2))");
    expect("'a' = host", "('a' = \"host\")");
    expect("1 = 1", "(1 = 1)");
    expect("TRUE", "TRUE");
    expect("false", "FALSE");
    expect("1", "(1 <> 0)");
    expect("(((a = 1)))", "(\"a\" = 1)");
    expect("a = 'it''s; DROP TABLE x --'", "(\"a\" = 'it''s; DROP TABLE x --')");
    expect("msg = '/* not a comment */'", "(\"msg\" = '/* not a comment */')");
    expect("\"x;y\" = 1", "(\"x;y\" = 1)");
    expect("s = 'ü€😀'", "(\"s\" = 'ü€😀')");
}

static void test_render_time(void **state)
{
    (void)state;
    expect("time >= '2025-01-15T14:03:07Z'", "(\"time\" >= TIMESTAMPTZ '2025-01-15T14:03:07Z')");
    expect("time < '2025-01-15T16:03:07.120+02:00'",
           "(\"time\" < TIMESTAMPTZ '2025-01-15T14:03:07.12Z')");
    expect("'2025-01-15' <= time", "(TIMESTAMPTZ '2025-01-15T00:00:00Z' <= \"time\")");
    expect("TIME between '2025-01-01' and '2025-02-01 00:00:00'",
           "(\"TIME\" BETWEEN TIMESTAMPTZ '2025-01-01T00:00:00Z' AND "
           "TIMESTAMPTZ '2025-02-01T00:00:00Z')");
    expect(
        "time IN ('2025-01-01T00:00:00Z', '2025-01-02')",
        "(\"time\" IN (TIMESTAMPTZ '2025-01-01T00:00:00Z', TIMESTAMPTZ '2025-01-02T00:00:00Z'))");
    expect("time > now() - INTERVAL '1 hour'", "(\"time\" > (now() - INTERVAL '1 hour'))");
    expect("time > NOW() - interval '30 Minutes'", "(\"time\" > (now() - INTERVAL '30 minutes'))");
    expect("time < CURRENT_TIMESTAMP + INTERVAL '2 days'",
           "(\"time\" < (CURRENT_TIMESTAMP + INTERVAL '2 days'))");
    expect("time > TIMESTAMP '2025-01-15 14:00:00' - INTERVAL '-3 weeks'",
           "(\"time\" > (TIMESTAMPTZ '2025-01-15T14:00:00Z' - INTERVAL '-3 weeks'))");
    expect("time <= now()", "(\"time\" <= now())");
    expect("time BETWEEN now() - INTERVAL '1 year' AND now()",
           "(\"time\" BETWEEN (now() - INTERVAL '1 year') AND now())");
    /* Strings compared with other columns stay strings. */
    expect("host = '2025-01-15'", "(\"host\" = '2025-01-15')");

    reject("time > 'yesterday'", "invalid timestamp");
    reject("time BETWEEN '2025-01-01' AND 'soon'", "invalid timestamp");
    reject("time IN ('2025-13-01')", "invalid timestamp");
    reject("time > TIMESTAMP 'x'", "invalid timestamp");
    reject("time > now() - INTERVAL '1 fortnight'", "INTERVAL unit");
    reject("time > now() - INTERVAL '1.5 hours'", "INTERVAL");
    reject("time > now() - INTERVAL '1 hour; DROP'", "INTERVAL");
    reject("time > now() - INTERVAL 1", "string after INTERVAL");
    reject("time > now() - 5", "arithmetic");
    reject("time > now(1)", "now()");
    reject("a = 1 + 1", NULL);
}

static void test_injections_rejected(void **state)
{
    (void)state;
    /* The five examples of SPEC §8.4. */
    reject("1=1; DROP TABLE x", "';' is not allowed");
    reject("host IN (SELECT host FROM y)", "subqueries");
    reject("read_csv('/etc/passwd') IS NOT NULL", "function calls");
    reject("host = 'a' -- x", "comments");
    reject("host = 'a' UNION SELECT 1", "UNION");
    /* More of the same kind. */
    reject("host = 'a' /* c */", "comments");
    reject("host = 'a';", "';'");
    reject("lower(host) = 'a'", "function calls");
    reject("host = upper('a')", "function calls");
    reject("host = version()", "function calls");
    reject("host::VARCHAR = 'a'", "casts");
    reject("host = CAST('a' AS VARCHAR)", "function calls");
    reject("x = (SELECT 1)", "subqueries");
    reject("(SELECT 1) = 1", "subqueries");
    reject("EXISTS (SELECT 1)", "function calls");
    reject("host = 'a' OR 1=1 --", "comments");
    reject("host = \"a\" OR SELECT", NULL);
    reject("host = 'unterminated", "unterminated string");
    reject("\"unterminated = 1", "unterminated quoted identifier");
    reject("host = 'a' AND", NULL);
    reject("host = 'a')", "unbalanced");
    reject("(host = 'a'", "')'");
    reject("host == 'a'", "'='");
    reject("host = 'a' host = 'b'", NULL);
    reject("a[1] = 2", "unexpected character '['");
    reject("a = $1", "unexpected character '$'");
    reject("a = ?", "unexpected character '?'");
    reject("a = 1e", "malformed number");
    reject("a = 1.", "malformed number");
    reject("a = 12abc", "malformed number");
    reject("a = 0x10", "malformed number");
    reject("a = 1.2.3", "malformed number");
    reject("a || 'x' = 'y'", "unexpected character '|'");
    reject("a = 'x' COLLATE nocase", NULL);
    reject("NOT NOT a = 1", NULL);
    reject("host", NULL);
    reject("host AND 1", NULL);
    reject("'a'", NULL);
    reject("NULL", NULL);
    reject("1 IN (1)", "column on the left");
    reject("host IN ()", "literal");
    reject("host IN (other_col)", "literal");
    reject("host LIKE other", "string after LIKE");
    reject("host IS 1", "NULL after IS");
    reject("host NOT = 1", "after NOT");
    reject("\"\" = 1", "empty column name");
    reject("", "empty predicate");
    reject("   ", "empty predicate");
    reject("WHERE", "empty predicate");
    reject("a = 'bad \xff utf8'", "UTF-8");
    reject("a = 1 \x01", "unexpected byte 0x01");
    reject("and = 1", NULL);
    reject("a = 1 OR", NULL);
}

static void test_limits(void **state)
{
    (void)state;
    char *big = xmalloc(PRED_MAX_CHARS + 64);
    /* Exactly 4096 characters is fine, one more is not. */
    memset(big, ' ', PRED_MAX_CHARS);
    memcpy(big, "a = 1", 5);
    big[PRED_MAX_CHARS] = '\0';
    struct errbuf eb = {0};
    char *r = render(big, &eb);
    assert_non_null(r);
    xfree(r);
    big[PRED_MAX_CHARS] = ' ';
    big[PRED_MAX_CHARS + 1] = '\0';
    reject(big, "longer than 4096");

    /* Nesting: 31 parentheses inside the top level pass, 32 fail. */
    struct strbuf sb;
    strbuf_init(&sb, 0);
    for (int i = 0; i < 31; i++)
        assert_int_equal(strbuf_putc(&sb, '('), RC_OK);
    assert_int_equal(strbuf_puts(&sb, "a = 1"), RC_OK);
    for (int i = 0; i < 31; i++)
        assert_int_equal(strbuf_putc(&sb, ')'), RC_OK);
    r = render(sb.data, &eb);
    assert_non_null(r);
    assert_string_equal(r, "(\"a\" = 1)");
    xfree(r);
    strbuf_reset(&sb);
    for (int i = 0; i < 32; i++)
        assert_int_equal(strbuf_putc(&sb, '('), RC_OK);
    assert_int_equal(strbuf_puts(&sb, "a = 1"), RC_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(strbuf_putc(&sb, ')'), RC_OK);
    reject(sb.data, "deeper than 32");
    /* NOT counts as a level too. */
    strbuf_reset(&sb);
    for (int i = 0; i < 20; i++)
        assert_int_equal(strbuf_puts(&sb, "NOT ("), RC_OK);
    assert_int_equal(strbuf_puts(&sb, "a = 1"), RC_OK);
    for (int i = 0; i < 20; i++)
        assert_int_equal(strbuf_putc(&sb, ')'), RC_OK);
    reject(sb.data, "deeper than 32");

    /* Nodes: "a = 1" is 3 nodes, joined by one AND node. 85 terms = 256
     * nodes pass, 86 terms fail. */
    for (int terms = 85; terms <= 86; terms++) {
        strbuf_reset(&sb);
        for (int i = 0; i < terms; i++)
            assert_int_equal(strbuf_printf(&sb, "%sa = %d", i ? " AND " : "", i), RC_OK);
        if (terms == 85) {
            struct pred *p;
            assert_int_equal(pred_parse(sb.data, sb.len, &p, &eb), RC_OK);
            pred_free(&p);
            assert_null(p);
        } else {
            reject(sb.data, "more than 256 grammar nodes");
        }
    }
    strbuf_cleanup(&sb);
    xfree(big);
}

static void test_columns_and_constant(void **state)
{
    (void)state;
    struct errbuf eb = {0};
    struct pred *p;
    const char *in = "host = 'a' AND (\"usage\" > 1 OR host IN ('b')) AND time > now()";
    assert_int_equal(pred_parse(in, strlen(in), &p, &eb), RC_OK);
    assert_false(pred_is_constant(p));
    assert_int_equal(pred_column_count(p), 3);
    assert_string_equal(pred_column(p, 0), "host");
    assert_string_equal(pred_column(p, 1), "usage");
    assert_string_equal(pred_column(p, 2), "time");
    assert_null(pred_column(p, 3));
    pred_free(&p);

    const char *constants[] = {"1=1", "TRUE", "1", "'a' = 'a' OR 2 > 1",
                               "now() > TIMESTAMP '2020-01-01'"};
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        assert_int_equal(pred_parse(constants[i], strlen(constants[i]), &p, &eb), RC_OK);
        assert_true(pred_is_constant(p));
        assert_int_equal(pred_column_count(p), 0);
        pred_free(&p);
    }
    pred_free(&p); /* NULL is fine */
}

/* Every rendering is valid SQL that DuckDB evaluates in a WHERE clause. */
static void test_renderings_run_in_duckdb(void **state)
{
    (void)state;
    duckdb_database db;
    duckdb_connection conn;
    assert_int_equal(duckdb_open(NULL, &db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(db, &conn), DuckDBSuccess);
    assert_int_equal(duckdb_query(conn,
                                  "CREATE TABLE m AS SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' + "
                                  "to_minutes(i) AS time, 'web' || (i % 3)::VARCHAR AS host, "
                                  "i * 1.5 AS usage, CASE WHEN i % 4 = 0 THEN NULL ELSE 'r' END "
                                  "AS region, i AS \"my col\" FROM range(0, 100) t(i)",
                                  NULL),
                     DuckDBSuccess);
    struct {
        const char *pred;
        int64_t want;
    } cases[] = {
        {"host = 'web1'", 33},
        {"host IN ('web0', 'web2') AND usage >= 30", 54},
        {"NOT (host = 'web1' OR region IS NULL)", 50},
        {"time >= '2025-01-15T14:10:00Z' AND time < '2025-01-15T15:00:00+01:00'", 0},
        {"time >= '2025-01-15T14:10:00Z' AND time < '2025-01-15T14:20:00Z'", 10},
        {"time BETWEEN '2025-01-15T14:00:00Z' AND TIMESTAMP '2025-01-15 14:04:00' + INTERVAL '1 "
         "minute'",
         6},
        {"time > now() - INTERVAL '100 years'", 100},
        {"host LIKE 'web%' AND host NOT ILIKE 'WEB2'", 67},
        {"\"my col\" NOT BETWEEN 10 AND 89", 20},
        {"1=1", 100},
        {"1", 100},
        {"FALSE", 0},
        {"usage > 1e2", 33},
        {"region IS NOT NULL AND usage <> 3", 74},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strbuf sql;
        strbuf_init(&sql, 0);
        struct errbuf eb = {0};
        assert_int_equal(strbuf_puts(&sql, "SELECT count(*) FROM m WHERE "), RC_OK);
        if (pred_to_sql(cases[i].pred, strlen(cases[i].pred), &sql, &eb) != RC_OK)
            fail_msg("%s: %s", cases[i].pred, eb.msg);
        duckdb_result res;
        if (duckdb_query(conn, sql.data, &res) != DuckDBSuccess)
            fail_msg("%s -> %s: %s", cases[i].pred, sql.data, duckdb_result_error(&res));
        int64_t n = duckdb_value_int64(&res, 0, 0);
        if (n != cases[i].want)
            fail_msg("%s -> %s: %lld rows, want %lld", cases[i].pred, sql.data, (long long)n,
                     (long long)cases[i].want);
        duckdb_destroy_result(&res);
        strbuf_cleanup(&sql);
    }
    duckdb_disconnect(&conn);
    duckdb_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_basic),
        cmocka_unit_test(test_render_time),
        cmocka_unit_test(test_injections_rejected),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_columns_and_constant),
        cmocka_unit_test(test_renderings_run_in_duckdb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
