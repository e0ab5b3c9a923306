/* The storage fault hooks (storage_fail, storage_hang in storage.c) and the
 * background storage probe (storage/probe.h) on the local backend:
 * injected failures per operation with the right codes and metrics, a hang
 * bounded by the request timeout, probe results, the 3-failure readiness
 * threshold, recovery, the thread's period and a prompt stop. */
#include "test_helpers.h"

#include <unistd.h>

#include "metrics/metrics.h"
#include "storage/probe.h"
#include "storage/storage.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/timeutil.h"

static char g_dir[256];

static int setup(void **state)
{
    (void)state;
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 1024);
    snprintf(g_dir, sizeof(g_dir), "/tmp/arc-test-probe-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    unsetenv("ARC_TEST_FAULTS");
    faults_reload();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void set_faults(const char *v)
{
    if (v)
        setenv("ARC_TEST_FAULTS", v, 1);
    else
        unsetenv("ARC_TEST_FAULTS");
    faults_reload();
}

static struct storage *open_local(void)
{
    char base[300];
    snprintf(base, sizeof(base), "%s/data", g_dir);
    struct storage *st = NULL;
    struct errbuf eb = {0};
    assert_int_equal(storage_new_local(base, &st, &eb), RC_OK);
    return st;
}

static int list_count(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)key;
    (void)size;
    (void)mtime;
    (*(int *)ctx)++;
    return RC_OK;
}

static int put_small(struct storage *st, const char *key, struct errbuf *eb)
{
    char path[512];
    int rc = storage_staging_path(st, key, path, sizeof(path), eb);
    if (rc != RC_OK)
        return rc;
    FILE *f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    rc = storage_put_file(st, path, key, 0, NULL, eb);
    if (rc != RC_OK)
        unlink(path);
    return rc;
}

static void test_fault_fail(void **state)
{
    (void)state;
    struct storage *st = open_local();
    struct errbuf eb = {0};
    assert_int_equal(put_small(st, "db/m/a.parquet", &eb), RC_OK);
    double err0 = metrics_family_total("arc_storage_errors_total");

    set_faults("storage_fail");
    char path[512], buf[8];
    size_t got = 0;
    struct storage_object_info info;
    int n = 0;
    const char *keys[] = {"db/m/a.parquet"};
    size_t failed = 0;
    errbuf_clear(&eb);
    assert_int_equal(put_small(st, "db/m/b.parquet", &eb), RC_IO);
    assert_non_null(strstr(eb.msg, "storage_fail"));
    assert_non_null(strstr(eb.msg, "op=put"));
    snprintf(path, sizeof(path), "%s/got", g_dir);
    assert_int_equal(storage_get_file(st, "db/m/a.parquet", path, &eb), RC_IO);
    assert_int_equal(storage_read_range(st, "db/m/a.parquet", 0, buf, 4, &got, &eb), RC_IO);
    assert_int_equal(storage_head(st, "db/m/a.parquet", &info, &eb), RC_IO);
    assert_int_equal(storage_list(st, "", list_count, &n, &eb), RC_IO);
    assert_int_equal(n, 0);
    assert_int_equal(storage_delete(st, "db/m/a.parquet", &eb), RC_IO);
    assert_int_equal(storage_delete_many(st, keys, 1, &failed, &eb), RC_IO);
    assert_int_equal(failed, 1);
    /* Key validation still comes first. */
    assert_int_equal(storage_head(st, "../x", &info, &eb), RC_INVALID);
    assert_true(metrics_family_total("arc_storage_errors_total") - err0 == 7.0);
    /* Staging does no storage I/O and is not affected. */
    assert_int_equal(storage_staging_path(st, "db/m/c.parquet", path, sizeof(path), &eb), RC_OK);

    set_faults(NULL);
    assert_int_equal(storage_head(st, "db/m/a.parquet", &info, &eb), RC_OK);
    assert_int_equal(info.size_bytes, 5);
    assert_int_equal(storage_list(st, "", list_count, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    storage_free(&st);
}

static void test_fault_hang(void **state)
{
    (void)state;
    struct storage *st = open_local();
    storage_set_request_timeout_ms(st, 300);
    storage_set_request_timeout_ms(st, 0); /* ignored */
    set_faults("storage_hang");
    double to0 = metrics_family_total("arc_storage_timeouts_total");
    struct errbuf eb = {0};
    struct storage_object_info info;
    int64_t t0 = time_mono_ms();
    assert_int_equal(storage_head(st, "db/m/a.parquet", &info, &eb), RC_TIMEOUT);
    int64_t took = time_mono_ms() - t0;
    assert_true(took >= 290 && took < 1500);
    assert_non_null(strstr(eb.msg, "storage_hang"));
    int n = 0;
    assert_int_equal(storage_list(st, "db/", list_count, &n, &eb), RC_TIMEOUT);
    assert_true(metrics_family_total("arc_storage_timeouts_total") - to0 == 2.0);
    /* storage_fail wins when both are set: no waiting. */
    set_faults("storage_hang,storage_fail");
    t0 = time_mono_ms();
    assert_int_equal(storage_head(st, "db/m/a.parquet", &info, &eb), RC_IO);
    assert_true(time_mono_ms() - t0 < 200);
    set_faults("storage_hang=0"); /* explicitly off */
    assert_int_equal(storage_head(st, "db/m/none.parquet", &info, &eb), RC_NOT_FOUND);
    set_faults(NULL);
    storage_free(&st);
}

static void test_probe_once_and_threshold(void **state)
{
    (void)state;
    struct storage *st = open_local();
    struct storage_probe *p = NULL;
    struct errbuf eb = {0};
    /* A long interval: only the immediate first probe runs on the thread. */
    struct storage_probe_options o = {.interval_ms = 3600 * 1000};
    assert_true(storage_probe_is_ready(NULL));
    assert_string_equal(storage_probe_component(NULL), "disabled");
    assert_int_equal(storage_probe_start(st, &o, &p, &eb), RC_OK);
    struct storage_probe_state s;
    int64_t end = time_mono_ms() + 5000;
    do {
        storage_probe_get_state(p, &s);
        if (s.runs)
            break;
        usleep(5000);
    } while (time_mono_ms() < end);
    assert_int_equal(s.runs, 1);
    assert_true(s.last_ok); /* "not found" counts: the backend answered */
    assert_int_equal(s.consecutive_failures, 0);
    assert_true(s.last_ok_us > 0 && s.last_run_us == s.last_ok_us);
    assert_true(storage_probe_is_ready(p));
    assert_string_equal(storage_probe_component(p), "ok");

    set_faults("storage_fail");
    double f0 = metrics_family_total("arc_storage_probe_failures_total");
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(storage_probe_run_once(p, &eb), RC_IO);
        storage_probe_get_state(p, &s);
        assert_int_equal(s.consecutive_failures, i);
        assert_false(s.last_ok);
        assert_string_equal(storage_probe_component(p), "degraded");
        /* Ready until the third consecutive failure. */
        assert_int_equal(storage_probe_is_ready(p), i < STORAGE_PROBE_FAIL_THRESHOLD);
    }
    assert_non_null(strstr(s.last_error, "storage_fail"));
    assert_int_equal(s.total_failures, 3);
    assert_int_equal(s.runs, 4);
    assert_true(metrics_family_total("arc_storage_probe_failures_total") - f0 == 3.0);
    assert_true(metrics_family_total("arc_storage_probe_consecutive_failures") == 3.0);

    set_faults(NULL);
    assert_int_equal(storage_probe_run_once(p, &eb), RC_OK);
    storage_probe_get_state(p, &s);
    assert_int_equal(s.consecutive_failures, 0);
    assert_int_equal(s.total_failures, 3);
    assert_true(s.last_ok);
    assert_true(storage_probe_is_ready(p));
    assert_string_equal(storage_probe_component(p), "ok");
    assert_true(metrics_family_total("arc_storage_probe_consecutive_failures") == 0.0);

    /* Stop does not wait for the hour-long interval. */
    int64_t t0 = time_mono_ms();
    storage_probe_stop(&p);
    assert_null(p);
    assert_true(time_mono_ms() - t0 < 1000);
    storage_probe_stop(&p); /* accepts NULL */
    struct storage_probe_options bad = {.key = "../x"};
    assert_int_equal(storage_probe_start(st, &bad, &p, &eb), RC_INVALID);
    assert_null(p);
    storage_free(&st);
}

static void test_probe_thread_period_and_hang(void **state)
{
    (void)state;
    struct storage *st = open_local();
    storage_set_request_timeout_ms(st, 400);
    struct storage_probe *p = NULL;
    struct errbuf eb = {0};
    struct storage_probe_options o = {.interval_ms = 50};
    assert_int_equal(storage_probe_start(st, &o, &p, &eb), RC_OK);
    usleep(400 * 1000);
    struct storage_probe_state s;
    storage_probe_get_state(p, &s);
    assert_true(s.runs >= 4 && s.runs <= 10); /* ~every 50 ms */
    assert_int_equal(s.total_failures, 0);
    storage_probe_stop(&p);

    /* A hanging backend: readers still answer at once; failures add up,
     * one per request timeout. */
    set_faults("storage_hang");
    assert_int_equal(storage_probe_start(st, &o, &p, &eb), RC_OK);
    int64_t t0 = time_mono_ms();
    for (int i = 0; i < 100; i++) {
        int64_t a = time_mono_ms();
        (void)storage_probe_is_ready(p);
        (void)storage_probe_component(p);
        assert_true(time_mono_ms() - a < 50);
        usleep(10 * 1000);
    }
    storage_probe_get_state(p, &s);
    assert_true(time_mono_ms() - t0 >= 1000);
    assert_true(s.consecutive_failures >= 2 && s.consecutive_failures <= 4);
    assert_true(s.last_duration_ms >= 390);
    storage_probe_stop(&p); /* waits for the probe in flight: < 400 ms */
    set_faults(NULL);
    storage_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_fail),
        cmocka_unit_test(test_fault_hang),
        cmocka_unit_test(test_probe_once_and_threshold),
        cmocka_unit_test(test_probe_thread_period_and_hang),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
