/* Unit tests for util/timeutil: civil conversion, RFC 3339 format/parse. */
#include "test_helpers.h"

#include "util/timeutil.h"

static void test_format_trims_fraction(void **state)
{
    (void)state;
    char b[64];
    int64_t t = INT64_C(1736949787) * US_PER_SEC + 123400; /* 2025-01-15T14:03:07.1234Z */
    time_format_rfc3339_us(t, b, sizeof(b));
    assert_string_equal(b, "2025-01-15T14:03:07.1234Z");
    time_format_rfc3339_us(INT64_C(1736949787) * US_PER_SEC, b, sizeof(b));
    assert_string_equal(b, "2025-01-15T14:03:07Z");
    time_format_rfc3339_us(0, b, sizeof(b));
    assert_string_equal(b, "1970-01-01T00:00:00Z");
    time_format_rfc3339_us(-1, b, sizeof(b));
    assert_string_equal(b, "1969-12-31T23:59:59.999999Z");
}

static void test_parse_roundtrip(void **state)
{
    (void)state;
    int64_t t;
    const char *s = "2025-01-15T14:03:07.1234Z";
    assert_true(time_parse_rfc3339(s, strlen(s), &t));
    assert_int_equal(t, INT64_C(1736949787) * US_PER_SEC + 123400);
    s = "2025-01-15T16:03:07+02:00";
    assert_true(time_parse_rfc3339(s, strlen(s), &t));
    assert_int_equal(t, INT64_C(1736949787) * US_PER_SEC);
    s = "2025-01-15";
    assert_true(time_parse_rfc3339(s, strlen(s), &t));
    assert_int_equal(t, INT64_C(1736899200) * US_PER_SEC);
    s = "0001-01-01T00:00:00Z";
    assert_true(time_parse_rfc3339(s, strlen(s), &t));
    assert_int_equal(t, TIME_MIN_US);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    int64_t t;
    const char *bad[] = {"2025-13-01",
                         "2025-02-30T00:00:00Z",
                         "2025-01-15T25:00:00Z",
                         "2025-01-15T14:03:07Zjunk",
                         "yesterday",
                         "2025-01-15T14:03:07.Z",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(time_parse_rfc3339(bad[i], strlen(bad[i]), &t));
}

static void test_floor(void **state)
{
    (void)state;
    assert_int_equal(time_floor_hour(US_PER_HOUR + 5), US_PER_HOUR);
    assert_int_equal(time_floor_hour(-1), -US_PER_HOUR);
    assert_int_equal(time_floor_day(US_PER_DAY * 3 + 7), US_PER_DAY * 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_trims_fraction),
        cmocka_unit_test(test_parse_roundtrip),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
