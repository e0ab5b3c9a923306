/*
 * tests/unit/util/test_procstat.c — parsing the CPU line of /proc/stat
 * (util/procstat.h), used by the metrics collector and the WAL writer.
 */
#include "test_helpers.h"

#include "util/procstat.h"

/* The CPU line of /proc/stat: busy (user nice system irq softirq steal) and
 * total (busy + idle + iowait). */
static void test_cpu_times(void **state)
{
    (void)state;
    uint64_t busy = 0, total = 0;
    assert_true(
        procstat_cpu_times("cpu  100 5 50 800 40 3 2 10 0 0\ncpu0 1 2 3 4\n", &busy, &total));
    assert_int_equal(busy, 100 + 5 + 50 + 3 + 2 + 10);
    assert_int_equal(total, busy + 800 + 40);
    /* Old kernels stop after idle; iowait and the rest count as 0. */
    assert_true(procstat_cpu_times("cpu 1 2 3 4\n", &busy, &total));
    assert_int_equal(busy, 6);
    assert_int_equal(total, 10);
    assert_false(procstat_cpu_times("intr 1 2 3\n", &busy, &total));
    assert_false(procstat_cpu_times("", &busy, &total));
    /* And the real file parses, with some time busy and some not. */
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        char line[512];
        assert_non_null(fgets(line, sizeof(line), f));
        fclose(f);
        assert_true(procstat_cpu_times(line, &busy, &total));
        assert_true(total > busy);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
