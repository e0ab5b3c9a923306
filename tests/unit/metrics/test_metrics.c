/*
 * Unit tests of the metric registry (metrics/metrics.c): handle identity,
 * the exact Prometheus text (HELP escaping, family grouping, integer and
 * float values, label escaping), cumulative histogram buckets with an exact
 * bound and overflow, placeholders, kind conflicts, computed gauges, the
 * flat JSON writer and the §9.4 family table. Each test starts from an empty
 * registry (metrics_shutdown).
 */
#include "test_helpers.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "metrics/metrics.h"
#include "util/jsonw.h"
#include "util/mem.h"
#include "util/strbuf.h"

static int reset(void **state)
{
    (void)state;
    metrics_shutdown();
    return 0;
}

/* Renders the registry; caller frees with xfree. */
static char *render(void)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(metrics_render_prometheus(&sb), RC_OK);
    return strbuf_detach(&sb, NULL);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        print_error("missing \"%s\" in:\n%s\n", needle, hay);
        fail();
    }
}

static void assert_not_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle)) {
        print_error("unexpected \"%s\" in:\n%s\n", needle, hay);
        fail();
    }
}

static void test_handles_are_shared(void **state)
{
    (void)state;
    struct metric *a = metrics_counter("t_a_total", "A", NULL);
    struct metric *b = metrics_counter("t_a_total", "other help", "");
    struct metric *c = metrics_counter("t_a_total", "A", "x=\"1\"");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    metric_add(a, 3);
    metric_inc(b);
    metric_add(c, 10);
    assert_int_equal(metric_value(a), 4);
    assert_true(metrics_family_total("t_a_total") == 14.0);
    assert_true(metrics_family_total("t_unknown") == 0.0);
}

static void test_exact_text(void **state)
{
    (void)state;
    struct metric *req = metrics_counter("t_requests_total", "Requests\nwith \\ backslash", NULL);
    metric_add(req, 5);
    struct metric *ta = metrics_gauge("t_temp", "Temp", "room=\"a\"");
    metric_set(ta, -3);
    (void)metrics_counter("t_other_total", "Other", NULL);
    /* Second series of t_temp registered after another family: must still
     * be rendered next to its family. */
    struct metric *tb = metrics_gauge("t_temp", "Temp", "room=\"b\"");
    metric_set_f64(tb, 1.5);
    char *text = render();
    assert_string_equal(text, "# HELP t_requests_total Requests\\nwith \\\\ backslash\n"
                              "# TYPE t_requests_total counter\n"
                              "t_requests_total 5\n"
                              "# HELP t_temp Temp\n"
                              "# TYPE t_temp gauge\n"
                              "t_temp{room=\"a\"} -3\n"
                              "t_temp{room=\"b\"} 1.5\n"
                              "# HELP t_other_total Other\n"
                              "# TYPE t_other_total counter\n"
                              "t_other_total 0\n");
    xfree(text);
}

static void test_value_formats(void **state)
{
    (void)state;
    struct metric *big = metrics_counter("t_big_total", "Big", NULL);
    metric_add(big, UINT64_C(1) << 60); /* beyond double's exact integers */
    metric_add(big, 1);
    struct metric *nan_g = metrics_gauge("t_nan", "NaN", NULL);
    metric_set_f64(nan_g, NAN);
    struct metric *inf_g = metrics_gauge("t_inf", "Inf", NULL);
    metric_set_f64(inf_g, -INFINITY);
    struct metric *frac = metrics_gauge("t_frac", "Frac", NULL);
    metric_set_f64(frac, 0.1);
    struct metric *back = metrics_gauge("t_back", "Back to int", NULL);
    metric_set_f64(back, 2.5);
    metric_set(back, 7); /* an integer set after a double must not reuse the double bits */
    char *text = render();
    assert_contains(text, "\nt_big_total 1152921504606846977\n");
    assert_contains(text, "\nt_nan NaN\n");
    assert_contains(text, "\nt_inf -Inf\n");
    assert_contains(text, "\nt_frac 0.1\n");
    assert_contains(text, "\nt_back 7\n");
    xfree(text);
}

static void test_label_escaping(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(strbuf_puts(&sb, "path=\""), RC_OK);
    assert_int_equal(metrics_label_escape(&sb, "a\"b\\c\nd"), RC_OK);
    assert_int_equal(strbuf_puts(&sb, "\",m=\"GET\""), RC_OK);
    assert_string_equal(sb.data, "path=\"a\\\"b\\\\c\\nd\",m=\"GET\"");

    char out[64];
    assert_true(metrics_label_value(sb.data, "path", out, sizeof(out)));
    assert_string_equal(out, "a\"b\\c\nd");
    assert_true(metrics_label_value(sb.data, "m", out, sizeof(out)));
    assert_string_equal(out, "GET");
    assert_false(metrics_label_value(sb.data, "pat", out, sizeof(out)));
    assert_false(metrics_label_value(sb.data, "path", out, 4)); /* does not fit */
    assert_false(metrics_label_value("x=\"unterminated", "x", out, sizeof(out)));
    assert_false(metrics_label_value("", "x", out, sizeof(out)));

    /* The escaped label renders verbatim. */
    struct metric *m = metrics_counter("t_paths_total", "Paths", sb.data);
    metric_inc(m);
    char *text = render();
    assert_contains(text, "\nt_paths_total{path=\"a\\\"b\\\\c\\nd\",m=\"GET\"} 1\n");
    xfree(text);
    strbuf_cleanup(&sb);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    struct metric *h = metrics_histogram("t_lat_seconds", "Latency", "route=\"/x\"");
    metric_observe(h, 0.0005); /* exactly on the first bound: counted in le="0.0005" */
    metric_observe(h, 0.003);
    metric_observe(h, 0.003);
    metric_observe(h, 100); /* above the largest bound: only +Inf */
    char *text = render();
    assert_contains(text, "# TYPE t_lat_seconds histogram\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"0.0005\"} 1\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"0.001\"} 1\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"0.0025\"} 1\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"0.005\"} 3\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"0.01\"} 3\n");
    assert_contains(text, "t_lat_seconds_bucket{route=\"/x\",le=\"2.5\"} 3\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"5\"} 3\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"10\"} 3\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"30\"} 3\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"60\"} 3\n"
                          "t_lat_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n"
                          "t_lat_seconds_sum{route=\"/x\"} 100.0065\n"
                          "t_lat_seconds_count{route=\"/x\"} 4\n");
    xfree(text);
    uint64_t n;
    double sum;
    assert_true(metrics_histogram_totals("t_lat_seconds", &n, &sum));
    assert_int_equal(n, 4);
    assert_true(fabs(sum - 100.0065) < 1e-9);
    assert_false(metrics_histogram_totals("t_none", &n, &sum));
    assert_int_equal(n, 0);
    /* Unlabelled histogram: le is the only label. */
    struct metric *u = metrics_histogram("t_u_seconds", "U", NULL);
    metric_observe(u, 0.2);
    text = render();
    assert_contains(text,
                    "\nt_u_seconds_bucket{le=\"0.1\"} 0\nt_u_seconds_bucket{le=\"0.25\"} 1\n");
    assert_contains(text, "\nt_u_seconds_sum 0.2\nt_u_seconds_count 1\n");
    xfree(text);
}

/* Observers race with renders: every rendered histogram must stay
 * cumulative, with +Inf == _count. */
static _Atomic bool stop_observers;

static void *observer(void *arg)
{
    struct metric *h = arg;
    unsigned i = 0;
    while (!atomic_load(&stop_observers)) {
        metric_observe(h, (i % 7) * 0.01 + (i % 3 ? 0 : 90));
        i++;
    }
    return NULL;
}

static void test_histogram_consistent_under_race(void **state)
{
    (void)state;
    struct metric *h = metrics_histogram("t_race_seconds", "Race", NULL);
    atomic_store(&stop_observers, false);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, observer, h);
    for (int round = 0; round < 200; round++) {
        char *text = render();
        unsigned long long prev = 0, v = 0, count = 0;
        for (char *line = text; line && *line;
             line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
            if (!strncmp(line, "t_race_seconds_bucket", 21)) {
                char *sp = strchr(line, ' ');
                v = strtoull(sp + 1, NULL, 10);
                assert_true(v >= prev);
                prev = v;
            } else if (!strncmp(line, "t_race_seconds_count ", 21)) {
                count = strtoull(line + 21, NULL, 10);
            }
        }
        assert_true(prev == count); /* last bucket is +Inf */
        xfree(text);
    }
    atomic_store(&stop_observers, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
}

static void test_placeholders(void **state)
{
    (void)state;
    metrics_declare("t_wal_total", "WAL entries", METRIC_COUNTER, NULL);
    metrics_declare("t_store_total", "Store writes", METRIC_COUNTER, NULL);
    metrics_declare("t_same_total", "Same labels", METRIC_COUNTER, "r=\"x\"");
    char *text = render();
    assert_contains(text, "# TYPE t_wal_total counter\nt_wal_total 0\n");
    assert_contains(text, "\nt_store_total 0\n");
    assert_contains(text, "\nt_same_total{r=\"x\"} 0\n");
    xfree(text);

    /* A module registers the family with labels: the unlabelled placeholder
     * disappears, the family header stays once. */
    struct metric *s = metrics_counter("t_store_total", "Store writes", "backend=\"local\"");
    metric_add(s, 2);
    /* Same name and labels as the placeholder: it becomes the real series. */
    struct metric *same = metrics_counter("t_same_total", "Same labels", "r=\"x\"");
    metric_add(same, 9);
    text = render();
    assert_not_contains(text, "\nt_store_total 0\n");
    assert_contains(text, "# TYPE t_store_total counter\nt_store_total{backend=\"local\"} 2\n");
    assert_contains(text, "\nt_same_total{r=\"x\"} 9\n");
    assert_contains(text, "\nt_wal_total 0\n");
    const char *first = strstr(text, "# TYPE t_store_total");
    assert_null(strstr(first + 1, "# TYPE t_store_total"));
    xfree(text);
    assert_true(metrics_family_total("t_store_total") == 2.0);

    /* Declaring again changes nothing. */
    metrics_declare("t_same_total", "Same labels", METRIC_COUNTER, "r=\"x\"");
    assert_int_equal(metric_value(same), 9);
}

static void test_kind_conflict_detached(void **state)
{
    (void)state;
    struct metric *c = metrics_counter("t_kind", "Kind", NULL);
    metric_add(c, 4);
    struct metric *g = metrics_gauge("t_kind", "Kind", "x=\"1\"");
    assert_non_null(g);
    metric_set(g, 100); /* accepted but never exported */
    char *text = render();
    assert_contains(text, "# TYPE t_kind counter\nt_kind 4\n");
    assert_not_contains(text, "gauge");
    assert_not_contains(text, "100");
    xfree(text);
    assert_true(metrics_family_total("t_kind") == 4.0);
}

static double fn_value = 42.25;
static int fn_calls;

static double computed(void *ctx)
{
    fn_calls++;
    return *(double *)ctx;
}

static void test_computed_gauge(void **state)
{
    (void)state;
    fn_calls = 0;
    (void)metrics_gauge("t_up", "Up", NULL); /* plain gauge first: fn attaches to it */
    struct metric *m = metrics_gauge_fn("t_up", "Up", NULL, computed, &fn_value);
    char *text = render();
    assert_contains(text, "\nt_up 42.25\n");
    xfree(text);
    assert_int_equal(fn_calls, 1);
    fn_value = 7;
    assert_true(metric_value_f64(m) == 7.0);
    assert_true(metrics_family_total("t_up") == 7.0);
    fn_value = 8;
    (void)metrics_gauge_fn("t_up", "Up", NULL, NULL, NULL); /* detach: keeps the last value */
    text = render();
    assert_contains(text, "\nt_up 7\n");
    xfree(text);
}

static void test_json_flat(void **state)
{
    (void)state;
    metric_add(metrics_counter("arc_x_total", "X", "a=\"1\""), 2);
    metric_add(metrics_counter("arc_x_total", "X", "a=\"2\""), 3);
    metric_set(metrics_gauge("arc_g", "G", NULL), -4);
    metric_set_f64(metrics_gauge("arc_f", "F", NULL), 0.5);
    metric_observe(metrics_histogram("arc_h_seconds", "H", NULL), 0.25);
    metric_set(metrics_gauge("arc_uptime_seconds", "U", NULL), 3);
    metric_inc(metrics_counter("other_total", "O", NULL));
    metrics_declare("arc_ph_total", "P", METRIC_COUNTER, NULL);
    struct strbuf sb;
    struct jsonw w;
    strbuf_init(&sb, 0);
    jsonw_init(&w, &sb);
    jsonw_obj_begin(&w);
    static const char *const skip[] = {"uptime_seconds", NULL};
    metrics_write_json(&w, "arc_", skip);
    jsonw_obj_end(&w);
    assert_int_equal(jsonw_finish(&w), RC_OK);
    assert_string_equal(sb.data, "{\"x_total\":5,\"g\":-4,\"f\":0.5,\"h_seconds_count\":1,"
                                 "\"h_seconds_sum\":0.25,\"other_total\":1,\"ph_total\":0}");
    strbuf_cleanup(&sb);
}

static void test_spec_families_all_rendered(void **state)
{
    (void)state;
    metrics_declare_spec_families();
    metrics_declare_spec_families(); /* idempotent */
    char *text = render();
    size_t n = 0;
    for (const char *name; (name = metrics_spec_family_name(n)); n++) {
        char want[200];
        snprintf(want, sizeof(want), "# TYPE %s ", name);
        assert_contains(text, want);
        const char *first = strstr(text, want);
        assert_null(strstr(first + 1, want)); /* one header per family */
    }
    assert_true(n >= 55);
    assert_contains(text, "arc_request_body_rejected_total{reason=\"decompressed_too_large\"} 0\n");
    assert_contains(text, "# TYPE arc_http_latency_seconds histogram\n");
    assert_contains(text, "arc_http_latency_seconds_bucket{le=\"+Inf\"} 0\n");
    assert_contains(text, "# TYPE arc_wal_queue_depth gauge\narc_wal_queue_depth 0\n");
    xfree(text);
}

static void test_render_cap(void **state)
{
    (void)state;
    metric_inc(metrics_counter("t_long_name_for_a_cap_test_total", "Long help text here", NULL));
    struct strbuf sb;
    strbuf_init(&sb, 16);
    assert_int_equal(metrics_render_prometheus(&sb), RC_LIMIT);
    strbuf_cleanup(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_handles_are_shared, reset),
        cmocka_unit_test_setup(test_exact_text, reset),
        cmocka_unit_test_setup(test_value_formats, reset),
        cmocka_unit_test_setup(test_label_escaping, reset),
        cmocka_unit_test_setup(test_histogram_cumulative, reset),
        cmocka_unit_test_setup(test_histogram_consistent_under_race, reset),
        cmocka_unit_test_setup(test_placeholders, reset),
        cmocka_unit_test_setup(test_kind_conflict_detached, reset),
        cmocka_unit_test_setup(test_computed_gauge, reset),
        cmocka_unit_test_setup(test_json_flat, reset),
        cmocka_unit_test_setup(test_spec_families_all_rendered, reset),
        cmocka_unit_test_setup(test_render_cap, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_shutdown();
    return rc;
}
