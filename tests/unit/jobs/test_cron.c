/* Unit tests for jobs/cron.c: parsing (lists, ranges, steps, names, macros,
 * errors) and cron_next (minute boundaries, day-of-month OR day-of-week,
 * leap days, month/year rollover, expressions that never match). */
#include "test_helpers.h"

#include "jobs/scheduler.h"
#include "util/timeutil.h"

static int64_t T(const char *s)
{
    int64_t t = 0;
    if (!time_parse_rfc3339(s, strlen(s), &t))
        fail_msg("bad time %s", s);
    return t;
}

static struct cron_expr P(const char *s) {
    struct cron_expr c;
    struct errbuf eb = {0};
    if (cron_parse(s, &c, &eb) != RC_OK)
        fail_msg("cron_parse(%s): %s", s, eb.msg);
    return c;
}

/* Asserts cron_next(expr, after) == want (RFC 3339 strings). */
static void
next_is(const char *expr, const char *after, const char *want)
{
    struct cron_expr c = P(expr);
    int64_t got = cron_next(&c, T(after));
    char gb[64];
    time_format_rfc3339_us(got, gb, sizeof(gb));
    if (got != T(want))
        fail_msg("cron_next(\"%s\", %s) = %s, want %s", expr, after, gb, want);
}

static void test_parse_fields(void **state)
{
    (void)state;
    struct cron_expr c = P("5 * * * *");
    assert_int_equal(c.minutes, UINT64_C(1) << 5);
    assert_int_equal(c.hours, 0xFFFFFFu);
    assert_int_equal(c.mdays, 0xFFFFFFFEu);
    assert_int_equal(c.months, 0x1FFE);
    assert_int_equal(c.wdays, 0x7F);
    assert_true(c.mday_star);
    assert_true(c.wday_star);

    c = P("*/15 0-6 1,15 * 1-5");
    assert_int_equal(c.minutes, (UINT64_C(1) << 0) | (UINT64_C(1) << 15) | (UINT64_C(1) << 30) |
                                    (UINT64_C(1) << 45));
    assert_int_equal(c.hours, 0x7Fu);
    assert_int_equal(c.mdays, (1u << 1) | (1u << 15));
    assert_int_equal(c.wdays, 0x3E);
    assert_false(c.mday_star);
    assert_false(c.wday_star);

    /* Range with step, N/step (= N-max/step), Sunday as 7, names. */
    c = P("10-20/5 3/8 * jan,MAR-may sun");
    assert_int_equal(c.minutes, (UINT64_C(1) << 10) | (UINT64_C(1) << 15) | (UINT64_C(1) << 20));
    assert_int_equal(c.hours, (1u << 3) | (1u << 11) | (1u << 19));
    assert_int_equal(c.months, (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5));
    assert_int_equal(c.wdays, 1);
    c = P("0 0 * * 7");
    assert_int_equal(c.wdays, 1);
    c = P("  0   3 * * *  "); /* extra blanks */
    assert_int_equal(c.hours, 1u << 3);

    c = P("@hourly");
    assert_int_equal(c.minutes, 1);
    assert_int_equal(c.hours, 0xFFFFFFu);
    c = P("@daily");
    assert_int_equal(c.hours, 1);
    c = P("@weekly");
    assert_int_equal(c.wdays, 1);
    assert_false(c.wday_star);
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "* * * *",
                         "* * * * * *",
                         "60 * * * *",
                         "* 24 * * *",
                         "* * 0 * *",
                         "* * 32 * *",
                         "* * * 13 *",
                         "* * * * 8",
                         "5-1 * * * *",
                         "*/0 * * * *",
                         "a * * * *",
                         "1,,2 * * * *",
                         "1- * * * *",
                         "*/ * * * *",
                         "1/x * * * *",
                         "@often",
                         "-1 * * * *",
                         "* * * foo *",
                         "1;2 * * * *"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cron_expr c;
        struct errbuf eb = {0};
        if (cron_parse(bad[i], &c, &eb) != RC_INVALID)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_true(strncmp(eb.msg, "cron:", 5) == 0);
    }
    struct cron_expr c;
    assert_int_equal(cron_parse(NULL, &c, NULL), RC_INVALID);
}

static void test_next_basic(void **state)
{
    (void)state;
    /* Strictly after: exactly on a match goes to the next one. */
    next_is("5 * * * *", "2025-01-15T14:05:00Z", "2025-01-15T15:05:00Z");
    next_is("5 * * * *", "2025-01-15T14:04:59.999999Z", "2025-01-15T14:05:00Z");
    next_is("5 * * * *", "2025-01-15T14:05:00.000001Z", "2025-01-15T15:05:00Z");
    next_is("* * * * *", "2025-01-15T14:05:30Z", "2025-01-15T14:06:00Z");
    next_is("0 3 * * *", "2025-01-15T03:00:00Z", "2025-01-16T03:00:00Z");
    next_is("0 3 * * *", "2025-12-31T23:59:00Z", "2026-01-01T03:00:00Z");
    next_is("*/15 * * * *", "2025-01-15T14:46:00Z", "2025-01-15T15:00:00Z");
    next_is("30 23 31 * *", "2025-02-01T00:00:00Z", "2025-03-31T23:30:00Z");
    /* Leap day: next Feb 29 after 2025 is 2028. */
    next_is("0 0 29 2 *", "2025-03-01T00:00:00Z", "2028-02-29T00:00:00Z");
    /* Before the epoch works too (negative timestamps). */
    next_is("0 0 * * *", "1969-12-31T12:00:00Z", "1970-01-01T00:00:00Z");
}

static void test_next_day_semantics(void **state)
{
    (void)state;
    /* 2025-01-15 is a Wednesday. Weekday only: next Monday. */
    next_is("0 0 * * 1", "2025-01-15T00:00:00Z", "2025-01-20T00:00:00Z");
    next_is("0 0 * * mon", "2025-01-15T00:00:00Z", "2025-01-20T00:00:00Z");
    /* Both restricted: the 1st OR a Friday (the 17th comes first). */
    next_is("0 0 1 * 5", "2025-01-15T00:00:00Z", "2025-01-17T00:00:00Z");
    next_is("0 0 16 * 5", "2025-01-15T00:00:00Z", "2025-01-16T00:00:00Z");
    /* Day-of-month with `*` weekday: both must match (weekday always does). */
    next_is("0 0 20 * *", "2025-01-15T00:00:00Z", "2025-01-20T00:00:00Z");
    /* Sunday as 0 and 7. */
    next_is("0 12 * * 0", "2025-01-15T00:00:00Z", "2025-01-19T12:00:00Z");
    next_is("0 12 * * 7", "2025-01-15T00:00:00Z", "2025-01-19T12:00:00Z");
}

static void test_next_never(void **state)
{
    (void)state;
    struct cron_expr c = P("0 0 30 2 *");
    assert_true(cron_next(&c, T("2025-01-01T00:00:00Z")) == INT64_MAX);
    c = P("0 0 31 4,6,9,11 *");
    assert_true(cron_next(&c, T("2025-01-01T00:00:00Z")) == INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_next_basic),   cmocka_unit_test(test_next_day_semantics),
        cmocka_unit_test(test_next_never),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
