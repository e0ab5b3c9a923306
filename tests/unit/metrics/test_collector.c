/*
 * Unit tests of the metrics collector (metrics/collector.c, SPEC §11 R5):
 * the failure-streak logic with an injected failing sub-collector (WARN
 * exactly at N and every further N, ERROR once at M, INFO recovery with the
 * streak length, counters and metrics), a real sub-collector failure (a
 * fake /proc without files), the test fault from ARC_TEST_FAULTS and from
 * the re-read ARC_TEST_FAULTS_FILE, the thread at a fast interval, the
 * bounded sample rings and the values of a real sample.
 */
#include "test_helpers.h"

#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics/collector.h"
#include "metrics/metrics.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

static _Atomic bool app_fail;
static _Atomic int app_calls;

static int app_fn(void *ctx, struct collector_app_stats *out, struct errbuf *eb)
{
    (void)ctx;
    atomic_fetch_add(&app_calls, 1);
    if (atomic_load(&app_fail))
        return errbuf_set(eb, RC_IO, "injected: application source down");
    out->query_engine_ok = true;
    out->active_queries = 2;
    out->active_requests = 5;
    out->query_pool_size = 4;
    out->query_pool_idle = 2;
    return RC_OK;
}

static int setup(void **state)
{
    (void)state;
    metrics_shutdown();
    log_shutdown();
    log_configure(LOG_DEBUG, LOG_FORMAT_TEXT, 4096);
    atomic_store(&app_fail, false);
    atomic_store(&app_calls, 0);
    unsetenv("ARC_TEST_FAULTS");
    unsetenv("ARC_TEST_FAULTS_FILE");
    faults_reload();
    return 0;
}

static struct collector_options opts(int64_t interval_ms, int64_t warn, int64_t unhealthy)
{
    struct collector_options o = {
        .interval_ms = interval_ms,
        .retention_minutes = 30,
        .failure_warn_threshold = warn,
        .failure_unhealthy_threshold = unhealthy,
        .data_dir = "/tmp",
        .app_fn = app_fn,
    };
    return o;
}

/* Log lines of component "metrics" at exactly `level` whose message
 * contains needle. */
static int count_logs(enum log_level level, const char *needle)
{
    static struct log_entry e[4096];
    size_t n = log_recent(e, 4096, LOG_DEBUG, 0);
    int k = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].level == level && !strcmp(e[i].component, "metrics") &&
            strstr(e[i].message, needle))
            k++;
    return k;
}

static void test_streak_logging_and_counters(void **state)
{
    (void)state;
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 3, 10);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    struct metric *mf = metrics_counter("arc_metrics_collection_failures_total", NULL, NULL);
    struct metric *mc = metrics_gauge("arc_metrics_collection_consecutive_failures", NULL, NULL);

    assert_int_equal(collector_collect_once(c), RC_OK);
    assert_string_equal(collector_component_state(c), "degraded"); /* thread not running */

    atomic_store(&app_fail, true);
    struct collector_status st;
    for (int i = 1; i <= 12; i++) {
        assert_int_equal(collector_collect_once(c), RC_IO);
        int warns = count_logs(LOG_WARN, "metrics collection failed");
        /* WARN at 3, 6, 9, 12: exactly i/3 so far, once per multiple. */
        assert_int_equal(warns, i / 3);
        assert_int_equal(count_logs(LOG_ERROR, "metrics collection unhealthy"), i >= 10 ? 1 : 0);
        collector_get_status(c, &st);
        assert_int_equal(st.consecutive_failures, i);
        assert_int_equal(st.total_failures, i);
        assert_int_equal(metric_value(mf), i);
        assert_int_equal(metric_value(mc), i);
        assert_false(st.healthy); /* not running */
    }
    assert_int_equal(count_logs(LOG_WARN, "metrics collection failed 3 times in a row"), 1);
    assert_int_equal(count_logs(LOG_WARN, "metrics collection failed 12 times in a row"), 1);
    assert_int_equal(count_logs(LOG_ERROR, "failed 10 times in a row"), 1);
    assert_int_equal(count_logs(LOG_INFO, "recovered"), 0);
    collector_get_status(c, &st);
    assert_string_equal(st.last_error, "injected: application source down");
    assert_true(st.last_error_us > 0 && st.last_error_us <= time_now_us());
    assert_int_equal(st.cycles_total, 13);

    atomic_store(&app_fail, false);
    assert_int_equal(collector_collect_once(c), RC_OK);
    collector_get_status(c, &st);
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(st.total_failures, 12);
    assert_int_equal(metric_value(mf), 12);
    assert_int_equal(metric_value(mc), 0);
    assert_int_equal(
        count_logs(LOG_INFO, "metrics collection recovered after 12 consecutive failures"), 1);
    /* The error text stays for diagnosis after recovery. */
    assert_string_equal(st.last_error, "injected: application source down");

    /* A second, shorter streak: one more WARN at 3, no new ERROR. */
    atomic_store(&app_fail, true);
    for (int i = 0; i < 4; i++)
        assert_int_equal(collector_collect_once(c), RC_IO);
    assert_int_equal(count_logs(LOG_WARN, "metrics collection failed 3 times in a row"), 2);
    assert_int_equal(count_logs(LOG_ERROR, "metrics collection unhealthy"), 1);
    atomic_store(&app_fail, false);
    assert_int_equal(collector_collect_once(c), RC_OK);
    assert_int_equal(count_logs(LOG_INFO, "recovered after 4 consecutive failures"), 1);
    collector_get_status(c, &st);
    assert_int_equal(st.total_failures, 16);
    collector_free(&c);
    assert_null(c);
}

/* With the thread: degraded from N on, unhealthy from M on, back to healthy
 * after recovery. */
static void wait_for(struct collector *c, bool (*cond)(const struct collector_status *),
                     struct collector_status *st)
{
    int64_t deadline = time_mono_ms() + 5000;
    for (;;) {
        collector_get_status(c, st);
        if (cond(st))
            return;
        if (time_mono_ms() > deadline)
            fail_msg("condition not reached: consecutive=%llu total=%llu",
                     (unsigned long long)st->consecutive_failures,
                     (unsigned long long)st->total_failures);
        time_sleep_ms(2);
    }
}

static bool reached_unhealthy(const struct collector_status *st)
{
    return st->consecutive_failures >= 5;
}

static bool recovered(const struct collector_status *st)
{
    return st->consecutive_failures == 0 && st->cycles_total > st->total_failures + 1;
}

static void test_thread_fast_interval(void **state)
{
    (void)state;
    struct collector *c = NULL;
    struct collector_options o = opts(10, 2, 5);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    atomic_store(&app_fail, true);
    assert_int_equal(collector_start(c, &eb), RC_OK);
    assert_int_equal(collector_start(c, &eb), RC_INVALID);
    struct collector_status st;
    wait_for(c, reached_unhealthy, &st);
    assert_true(st.running);
    assert_false(st.healthy);
    assert_string_equal(collector_component_state(c), "degraded");
    atomic_store(&app_fail, false);
    wait_for(c, recovered, &st);
    assert_true(st.healthy);
    assert_string_equal(collector_component_state(c), "ok");
    collector_stop(c);
    collector_stop(c); /* idempotent */
    collector_get_status(c, &st);
    assert_false(st.running);
    assert_false(st.healthy);
    uint64_t total = st.total_failures;
    assert_true(total >= 5);
    assert_int_equal(count_logs(LOG_INFO, "recovered after"), 1);
    assert_int_equal(count_logs(LOG_ERROR, "unhealthy"), 1);
    /* Stopped: no more cycles. */
    uint64_t cycles = st.cycles_total;
    time_sleep_ms(50);
    collector_get_status(c, &st);
    assert_int_equal(st.cycles_total, cycles);
    collector_free(&c);
}

/* Degraded starts at min(warn, unhealthy). */
static void test_component_state_thresholds(void **state)
{
    (void)state;
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 20, 2); /* warn above unhealthy */
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    assert_int_equal(collector_start(c, &eb), RC_OK); /* first cycle runs at once */
    struct collector_status st;
    int64_t deadline = time_mono_ms() + 5000;
    do {
        collector_get_status(c, &st);
        time_sleep_ms(2);
    } while (st.cycles_total < 1 && time_mono_ms() < deadline);
    assert_string_equal(collector_component_state(c), "ok");
    collector_stop(c);
    atomic_store(&app_fail, true);
    assert_int_equal(collector_collect_once(c), RC_IO);
    assert_int_equal(collector_collect_once(c), RC_IO);
    assert_int_equal(count_logs(LOG_WARN, "metrics collection failed"), 0);
    assert_int_equal(count_logs(LOG_ERROR, "failed 2 times in a row"), 1);
    collector_free(&c);
    assert_string_equal(collector_component_state(NULL), "disabled");
}

static void test_invalid_options(void **state)
{
    (void)state;
    struct collector *c = NULL;
    struct errbuf eb;
    struct collector_options o = opts(0, 3, 10);
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_INVALID);
    o = opts(1000, 0, 10);
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_INVALID);
    o = opts(1000, 3, 10);
    o.retention_minutes = 0;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_INVALID);
    assert_null(c);
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

/* A real sub-collector failure: proc_root without the files. */
static void test_proc_failure_and_recovery(void **state)
{
    (void)state;
    char dir[] = "/tmp/arc-collector-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 3, 10);
    o.proc_root = dir;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    assert_int_equal(collector_collect_once(c), RC_IO);
    struct collector_status st;
    collector_get_status(c, &st);
    char want[200];
    snprintf(want, sizeof(want), "reading %s/stat: No such file or directory", dir);
    assert_string_equal(st.last_error, want);
    /* The application type does not depend on /proc: still sampled. */
    struct collector_sample s;
    assert_false(collector_latest(c, COLLECTOR_SYSTEM, &s));
    assert_true(collector_latest(c, COLLECTOR_APPLICATION, &s));
    assert_int_equal(st.samples_collected, 0);

    /* Garbage meminfo: a parse error names the file. */
    char p[300];
    snprintf(p, sizeof(p), "%s/stat", dir);
    write_file(p, "cpu  100 0 50 800 50 0 0 0 0 0\n");
    snprintf(p, sizeof(p), "%s/meminfo", dir);
    write_file(p, "Nothing: 1 kB\n");
    assert_int_equal(collector_collect_once(c), RC_PARSE);
    collector_get_status(c, &st);
    snprintf(want, sizeof(want), "parsing %s/meminfo: no MemTotal", dir);
    assert_string_equal(st.last_error, want);

    write_file(p, "MemTotal: 2048000 kB\nMemFree: 100 kB\nMemAvailable: 1024000 kB\n");
    snprintf(p, sizeof(p), "%s/loadavg", dir);
    write_file(p, "0.50 0.25 0.125 1/100 4242\n");
    snprintf(p, sizeof(p), "%s/self", dir);
    assert_int_equal(symlink("/proc/self", p), 0);
    assert_int_equal(collector_collect_once(c), RC_OK);
    collector_get_status(c, &st);
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(st.total_failures, 2);
    assert_int_equal(st.samples_collected, 1);
    assert_true(collector_latest(c, COLLECTOR_SYSTEM, &s));
    int i = collector_field_index(COLLECTOR_SYSTEM, "memory_total_mb");
    assert_true(i >= 0);
    assert_true(s.v[i] == 2000.0); /* 2048000 kB = 2000 MiB */
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "memory_percent")] == 50.0);
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "memory_available_mb")] == 1000.0);
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "load_average_15m")] == 0.125);
    /* First cycle: CPU busy share since boot = (100+50) / 1000. */
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "cpu_percent")] == 15.0);
    /* Second cycle: delta only. */
    snprintf(p, sizeof(p), "%s/stat", dir);
    write_file(p, "cpu  115 0 50 885 0 0 0 0 0 0\n");
    assert_int_equal(collector_collect_once(c), RC_OK);
    assert_true(collector_latest(c, COLLECTOR_SYSTEM, &s));
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "cpu_percent")] == 30.0);
    assert_int_equal(count_logs(LOG_INFO, "recovered after 2 consecutive failures"), 1);
    collector_free(&c);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_fault_from_env_count(void **state)
{
    (void)state;
    setenv("ARC_TEST_FAULTS", "metrics_collect_fail=2", 1);
    faults_reload();
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 3, 10);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    assert_int_equal(collector_collect_once(c), RC_INTERNAL);
    assert_int_equal(collector_collect_once(c), RC_INTERNAL);
    assert_int_equal(atomic_load(&app_calls), 0); /* a faulted cycle samples nothing */
    struct collector_status st;
    collector_get_status(c, &st);
    assert_string_equal(st.last_error, "fault injection: metrics_collect_fail");
    assert_int_equal(st.samples_collected, 0);
    assert_int_equal(collector_collect_once(c), RC_OK);
    assert_int_equal(collector_collect_once(c), RC_OK);
    collector_get_status(c, &st);
    assert_int_equal(st.total_failures, 2);
    assert_int_equal(st.samples_collected, 2);
    collector_free(&c);

    /* Without a count: every cycle fails. */
    setenv("ARC_TEST_FAULTS", "other_fault,metrics_collect_fail", 1);
    faults_reload();
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal(collector_collect_once(c), RC_INTERNAL);
    collector_free(&c);
    unsetenv("ARC_TEST_FAULTS");
    faults_reload();
}

static void test_fault_file_toggle(void **state)
{
    (void)state;
    const char *path = test_write_tmp("faults", "metrics_collect_fail\n");
    assert_non_null(path);
    char fpath[512];
    snprintf(fpath, sizeof(fpath), "%s", path);
    /* The file wins over ARC_TEST_FAULTS. */
    setenv("ARC_TEST_FAULTS", "metrics_collect_fail", 1);
    faults_reload();
    setenv("ARC_TEST_FAULTS_FILE", fpath, 1);
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 3, 10);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    assert_int_equal(collector_collect_once(c), RC_INTERNAL);
    write_file(fpath, "wal_write_fail, metrics_collect_fail=off");
    assert_int_equal(collector_collect_once(c), RC_OK);
    write_file(fpath, "metrics_collect_fail=1");
    assert_int_equal(collector_collect_once(c), RC_INTERNAL);
    write_file(fpath, "metrics_collect_failure"); /* another name */
    assert_int_equal(collector_collect_once(c), RC_OK);
    write_file(fpath, "x,metrics_collect_fail");
    assert_int_equal(collector_collect_once(c), RC_INTERNAL);
    unlink(fpath); /* no file: no fault */
    assert_int_equal(collector_collect_once(c), RC_OK);
    struct collector_status st;
    collector_get_status(c, &st);
    assert_int_equal(st.total_failures, 3);
    collector_free(&c);
    unsetenv("ARC_TEST_FAULTS_FILE");
    unsetenv("ARC_TEST_FAULTS");
    faults_reload();
}

static void test_ring_bound_and_order(void **state)
{
    (void)state;
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 3, 10);
    o.retention_minutes = 3; /* 3 samples at one per minute */
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    int64_t ts[5];
    for (int i = 0; i < 5; i++) {
        ts[i] = time_now_us();
        assert_int_equal(collector_collect_once(c), RC_OK);
        time_sleep_ms(2);
    }
    struct collector_status st;
    collector_get_status(c, &st);
    assert_int_equal(st.samples_collected, 3);
    struct collector_sample *s = NULL;
    size_t n = collector_samples(c, COLLECTOR_API, 0, &s);
    assert_int_equal(n, 3);
    /* The oldest two were dropped; order is oldest first. */
    assert_true(s[0].ts_us >= ts[2] && s[0].ts_us < ts[3]);
    assert_true(s[1].ts_us >= ts[3] && s[1].ts_us < ts[4]);
    assert_true(s[2].ts_us >= ts[4]);
    xfree(s);
    n = collector_samples(c, COLLECTOR_API, ts[4], &s);
    assert_int_equal(n, 1);
    xfree(s);
    n = collector_samples(c, COLLECTOR_API, time_now_us() + 1000000, &s);
    assert_int_equal(n, 0);
    assert_null(s);
    n = collector_samples(c, (enum collector_type)7, 0, &s);
    assert_int_equal(n, 0);
    collector_free(&c);
}

static void test_sample_values(void **state)
{
    (void)state;
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 3, 10);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    struct metric *total = metrics_counter("arc_http_requests_total", "t", NULL);
    struct metric *err = metrics_counter("arc_http_requests_error_total", "e", NULL);
    struct metric *lat = metrics_histogram("arc_http_latency_seconds", "l", NULL);
    metric_set(metrics_gauge("arc_buffer_records_buffered", "b", NULL), 1234);
    metric_add(total, 10);
    metric_add(err, 1);
    for (int i = 0; i < 10; i++)
        metric_observe(lat, 0.002);
    assert_int_equal(collector_collect_once(c), RC_OK);
    struct collector_sample s;
    assert_true(collector_latest(c, COLLECTOR_API, &s));
    assert_true(s.v[collector_field_index(COLLECTOR_API, "total_requests")] == 10);
    assert_true(s.v[collector_field_index(COLLECTOR_API, "failed_requests")] == 1);
    assert_true(s.v[collector_field_index(COLLECTOR_API, "error_rate_percent")] == 10);
    assert_true(s.v[collector_field_index(COLLECTOR_API, "avg_response_time_ms")] == 2);
    assert_true(s.v[collector_field_index(COLLECTOR_API, "active_requests")] == 5);
    assert_true(collector_latest(c, COLLECTOR_APPLICATION, &s));
    assert_true(s.v[collector_field_index(COLLECTOR_APPLICATION, "query_engine_status")] == 1);
    assert_true(s.v[collector_field_index(COLLECTOR_APPLICATION, "buffered_records")] == 1234);
    assert_true(s.v[collector_field_index(COLLECTOR_APPLICATION, "active_queries")] == 2);
    assert_true(collector_latest(c, COLLECTOR_SYSTEM, &s));
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "memory_total_mb")] > 0);
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "process_threads")] >= 1);
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "process_open_files")] >= 3);
    assert_true(s.v[collector_field_index(COLLECTOR_SYSTEM, "disk_total_gb")] > 0);

    /* Second sample: only the 5 new requests (at 4 ms) count for the mean. */
    metric_add(total, 5);
    for (int i = 0; i < 5; i++)
        metric_observe(lat, 0.004);
    assert_int_equal(collector_collect_once(c), RC_OK);
    assert_true(collector_latest(c, COLLECTOR_API, &s));
    assert_true(s.v[collector_field_index(COLLECTOR_API, "avg_response_time_ms")] == 4);
    assert_true(s.v[collector_field_index(COLLECTOR_API, "requests_per_minute")] > 0);

    /* Process gauges are computed at render time. */
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(metrics_render_prometheus(&sb), RC_OK);
    assert_non_null(strstr(sb.data, "# TYPE arc_uptime_seconds gauge\narc_uptime_seconds "));
    assert_non_null(strstr(sb.data, "\narc_threads "));
    assert_null(strstr(sb.data, "\narc_threads 0\n"));
    assert_null(strstr(sb.data, "\narc_memory_rss_bytes 0\n"));
    assert_non_null(strstr(sb.data, "\narc_system_load_average{period=\"15m\"} "));
    strbuf_cleanup(&sb);

    struct collector_process pr;
    errbuf_clear(&eb);
    assert_int_equal(collector_read_process(NULL, &pr, &eb), RC_OK);
    assert_true(pr.rss_bytes > 0 && pr.peak_rss_bytes >= pr.rss_bytes / 2);
    assert_true(pr.threads >= 1);
    errbuf_clear(&eb);
    assert_int_equal(collector_read_process("/nonexistent", &pr, &eb), RC_IO);
    assert_string_equal(eb.msg, "reading /nonexistent/self/status: No such file or directory");
    collector_free(&c);
}

/* Process CPU percent is the CPU time used between two cycles over the wall
 * time between them. */
static void test_process_cpu_percent(void **state)
{
    (void)state;
    struct collector *c = NULL;
    struct collector_options o = opts(60000, 3, 10);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(collector_new(&o, &c, &eb), RC_OK);
    assert_int_equal(collector_collect_once(c), RC_OK);
    struct collector_sample s;
    assert_true(collector_latest(c, COLLECTOR_SYSTEM, &s));
    int i = collector_field_index(COLLECTOR_SYSTEM, "process_cpu_percent");
    assert_true(s.v[i] == 0); /* no previous cycle */
    /* Burn 200 ms of CPU time (whatever the wall time it takes). */
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    volatile uint64_t x = 0;
    do {
        for (int k = 0; k < 100000; k++)
            x += (uint64_t)k;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 200);
    assert_int_equal(collector_collect_once(c), RC_OK);
    assert_true(collector_latest(c, COLLECTOR_SYSTEM, &s));
    if (!(s.v[i] > 5 && s.v[i] <= 100.0 * (double)sysconf(_SC_NPROCESSORS_ONLN) + 1))
        fail_msg("process_cpu_percent=%g", s.v[i]);
    collector_free(&c);
}

static void test_types_and_fields(void **state)
{
    (void)state;
    assert_int_equal(collector_type_parse("system"), COLLECTOR_SYSTEM);
    assert_int_equal(collector_type_parse("application"), COLLECTOR_APPLICATION);
    assert_int_equal(collector_type_parse("api"), COLLECTOR_API);
    assert_int_equal(collector_type_parse("System"), -1);
    assert_int_equal(collector_type_parse(""), -1);
    assert_int_equal(collector_type_parse(NULL), -1);
    assert_string_equal(collector_type_name(COLLECTOR_API), "api");
    size_t n;
    const struct collector_field *f = collector_fields(COLLECTOR_SYSTEM, &n);
    assert_true(n > 0 && n <= COLLECTOR_MAX_FIELDS);
    assert_string_equal(f[0].name, "cpu_percent");
    assert_int_equal(collector_field_index(COLLECTOR_API, "nope"), -1);
    f = collector_fields(COLLECTOR_APPLICATION, &n);
    assert_int_equal(f[0].kind, COLLECTOR_F_BOOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_streak_logging_and_counters, setup),
        cmocka_unit_test_setup(test_thread_fast_interval, setup),
        cmocka_unit_test_setup(test_component_state_thresholds, setup),
        cmocka_unit_test_setup(test_invalid_options, setup),
        cmocka_unit_test_setup(test_proc_failure_and_recovery, setup),
        cmocka_unit_test_setup(test_fault_from_env_count, setup),
        cmocka_unit_test_setup(test_fault_file_toggle, setup),
        cmocka_unit_test_setup(test_ring_bound_and_order, setup),
        cmocka_unit_test_setup(test_sample_values, setup),
        cmocka_unit_test_setup(test_process_cpu_percent, setup),
        cmocka_unit_test_setup(test_types_and_fields, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_shutdown();
    log_shutdown();
    return rc;
}
