/*
 * tests/unit/util/test_faults.c — the ARC_TEST_FAULTS parser (util/faults.h):
 * names with and without values, "0"/"false"/"off" disabling, malformed
 * values falling back to the default, spaces and empty entries.
 */
#include "test_helpers.h"

#include "util/faults.h"

static void load(const char *v)
{
    if (v)
        setenv("ARC_TEST_FAULTS", v, 1);
    else
        unsetenv("ARC_TEST_FAULTS");
    faults_reload();
}

static void test_parse(void **state)
{
    (void)state;
    load(NULL);
    assert_false(faults_enabled("duckdb_mark_unhealthy_after_query"));
    assert_int_equal(faults_value("duckdb_connect_fail_every", 7), 7);

    load("duckdb_connect_fail_every=2,duckdb_mark_unhealthy_after_query");
#ifdef ARC_TEST_HOOKS
    assert_true(faults_enabled("duckdb_mark_unhealthy_after_query"));
    assert_true(faults_enabled("duckdb_connect_fail_every"));
    assert_int_equal(faults_value("duckdb_connect_fail_every", 0), 2);
    assert_int_equal(faults_value("duckdb_mark_unhealthy_after_query", 5), 5); /* no value */
    assert_false(faults_enabled("duckdb_connect_fail")); /* exact names only */

    load(" a = 3 ,, b=0, c=false, d=off, e=x12, f=-4, g");
    assert_int_equal(faults_value("a", 0), 3);
    assert_true(faults_enabled("a"));
    assert_false(faults_enabled("b"));
    assert_false(faults_enabled("c"));
    assert_false(faults_enabled("d"));
    assert_true(faults_enabled("e"));
    assert_int_equal(faults_value("e", 9), 9); /* not an integer */
    assert_int_equal(faults_value("f", 0), -4);
    assert_true(faults_enabled("g"));
    assert_false(faults_enabled("h"));
#else
    assert_false(faults_enabled("duckdb_mark_unhealthy_after_query"));
    assert_int_equal(faults_value("duckdb_connect_fail_every", 0), 0);
#endif
    load(NULL);
    assert_false(faults_enabled("a"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
