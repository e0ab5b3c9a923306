/*
 * tests/unit/query/test_pool.c — SPEC §11 R1 and DESIGN invariant 5: query
 * timeout interrupts and the slot is usable afterwards; acquire timeout and
 * a full queue give RC_BUSY (503); under injected faults (every 2nd
 * connection attempt fails, every connection replaced after its query)
 * many threads all finish and the slot states always sum to pool_size
 * (T1.1); replacing every connection over and over never holds the pool
 * lock long (T1.2); a total connection outage fails fast and recovers
 * (T1.3).
 */
#include "qfixture.h"

#include <pthread.h>
#include <stdatomic.h>

#include "util/faults.h"

static struct qfix F;

static int setup_with(int64_t query_timeout_ms, unsigned pool, unsigned queue, int64_t acquire_ms)
{
    struct query_engine_options o;
    qfix_default_options(&F, &o);
    o.pool_size = pool;
    o.max_queue_size = queue;
    o.acquire_timeout_ms = acquire_ms;
    o.query_timeout_ms = query_timeout_ms;
    qfix_open_with(&F, &o);
    qfix_add_file(&F, "default", "cpu",
                  "SELECT TIMESTAMPTZ '2025-01-15 14:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'h' || (i % 2) AS host, i::DOUBLE AS value FROM range(100) t(i)",
                  INT64_C(1736949600000000), INT64_C(1736949600000000) + 99 * US_PER_SEC, 100,
                  true);
    qfix_admit(&F, qfix_batch("default", "cpu", INT64_C(1736953200000000), 1000, 10, 0));
    return 0;
}

static int setup_small(void **state)
{
    (void)state;
    return setup_with(400, 1, 1, 300);
}

static int teardown(void **state)
{
    (void)state;
    qfix_close(&F);
    return 0;
}

static void assert_counts_sum(struct query_engine *qe)
{
    struct query_pool_stats s;
    query_pool_stats(qe, &s);
    assert_int_equal(s.idle + s.in_use + s.replacing + s.empty, s.pool_size);
}

static const char *SLOW = "SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3";

static void test_query_timeout_interrupts(void **state)
{
    (void)state;
    int64_t t0 = time_mono_ms();
    struct qres r;
    qfix_query(F.qe, SLOW, NULL, &r);
    int64_t took = time_mono_ms() - t0;
    assert_int_equal(r.rc, RC_TIMEOUT);
    assert_string_equal(r.err, "Query timed out");
    qres_free(&r);
    assert_true(took >= 350 && took < 5000);
    /* The slot is usable afterwards (pool_size is 1). */
    char v[32];
    assert_string_equal(qfix_scalar(F.qe, "SELECT 42", NULL, v, sizeof(v)), "42");
    assert_string_equal(qfix_scalar(F.qe, "SELECT count(*) FROM cpu", NULL, v, sizeof(v)), "110");
    struct query_pool_stats s;
    query_pool_stats(F.qe, &s);
    assert_int_equal(s.pool_size, 1);
    assert_int_equal(s.idle, 1);
    assert_int_equal(s.in_use, 0);
    assert_true(s.query_errors_total >= 1);
    /* A per-request timeout overrides the engine's. */
    struct query_request req = {.sql = SLOW, .timeout_ms = 150, .allow_special = true};
    t0 = time_mono_ms();
    qfix_query_req(F.qe, &req, &r);
    assert_int_equal(r.rc, RC_TIMEOUT);
    assert_true(time_mono_ms() - t0 < 380);
    qres_free(&r);
    /* Estimate honours it too. */
    int64_t rows = 0;
    struct errbuf eb = {0};
    req.sql = "SELECT * FROM range(100000000000) t(i) WHERE i % 7 = 3";
    assert_int_equal(query_estimate(F.qe, &req, &rows, &eb), RC_TIMEOUT);
    assert_int_equal(qscan_registered_count(), 0);
    assert_string_equal(qfix_scalar(F.qe, "SELECT 43", NULL, v, sizeof(v)), "43");
}

static void test_acquire_timeout_busy(void **state)
{
    (void)state;
    struct query_request req = {.sql = "SELECT * FROM cpu", .allow_special = true};
    struct query_cursor *held = NULL;
    struct errbuf eb = {0};
    assert_int_equal(query_execute(F.qe, &req, &held, &eb), RC_OK);
    int64_t t0 = time_mono_ms();
    struct qres r;
    qfix_query(F.qe, "SELECT 1", NULL, &r);
    int64_t took = time_mono_ms() - t0;
    assert_int_equal(r.rc, RC_BUSY);
    qres_free(&r);
    assert_true(took >= 250 && took < 3000);
    struct query_pool_stats s;
    query_pool_stats(F.qe, &s);
    assert_int_equal(s.in_use, 1);
    assert_true(s.acquire_timeouts_total >= 1);
    query_cursor_close(&held);
    char v[32];
    assert_string_equal(qfix_scalar(F.qe, "SELECT 2", NULL, v, sizeof(v)), "2");
}

struct waiter {
    struct query_engine *qe;
    int rc;
};

static void *wait_main(void *arg)
{
    struct waiter *w = arg;
    struct qres r;
    qfix_query(w->qe, "SELECT count(*) FROM cpu", NULL, &r);
    w->rc = r.rc;
    qres_free(&r);
    return NULL;
}

static int setup_queue(void **state)
{
    (void)state;
    return setup_with(5000, 1, 1, 3000);
}

static void test_queue_full_busy(void **state)
{
    (void)state;
    struct query_request req = {.sql = "SELECT 1", .allow_special = true};
    struct query_cursor *held = NULL;
    struct errbuf eb = {0};
    assert_int_equal(query_execute(F.qe, &req, &held, &eb), RC_OK);
    struct waiter w = {.qe = F.qe, .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_main, &w), 0);
    struct query_pool_stats s;
    for (int i = 0; i < 500; i++) {
        query_pool_stats(F.qe, &s);
        if (s.waiting == 1)
            break;
        usleep(2000);
    }
    assert_int_equal(s.waiting, 1);
    /* The queue (1) is full: refused at once, not after 3 s. */
    int64_t t0 = time_mono_ms();
    struct qres r;
    qfix_query(F.qe, "SELECT 1", NULL, &r);
    assert_int_equal(r.rc, RC_BUSY);
    assert_non_null(strstr(r.err, "queue"));
    qres_free(&r);
    assert_true(time_mono_ms() - t0 < 1000);
    query_cursor_close(&held);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, RC_OK);
    query_pool_stats(F.qe, &s);
    assert_int_equal(s.waiting, 0);
    assert_int_equal(s.idle, 1);
}

/* ---- R1 under faults (T1.1) ------------------------------------------------ */

struct stress {
    struct query_engine *qe;
    atomic_int ok, busy, db, other;
    atomic_int done_threads;
    atomic_bool stop_monitor;
    atomic_int bad_sums;
    atomic_long max_ms;
    int per_thread;
};

static void *stress_main(void *arg)
{
    struct stress *s = arg;
    for (int i = 0; i < s->per_thread; i++) {
        int64_t t0 = time_mono_ms();
        struct qres r;
        qfix_query(s->qe, (i % 3) ? "SELECT count(*) FROM cpu WHERE value >= 0" : "SHOW TABLES",
                   NULL, &r);
        long took = (long)(time_mono_ms() - t0);
        long prev = atomic_load(&s->max_ms);
        while (took > prev && !atomic_compare_exchange_weak(&s->max_ms, &prev, took))
            ;
        if (r.rc == RC_OK)
            atomic_fetch_add(&s->ok, 1);
        else if (r.rc == RC_BUSY)
            atomic_fetch_add(&s->busy, 1);
        else if (r.rc == RC_DB)
            atomic_fetch_add(&s->db, 1);
        else
            atomic_fetch_add(&s->other, 1);
        qres_free(&r);
    }
    atomic_fetch_add(&s->done_threads, 1);
    return NULL;
}

static void *monitor_main(void *arg)
{
    struct stress *s = arg;
    while (!atomic_load(&s->stop_monitor)) {
        struct query_pool_stats st;
        query_pool_stats(s->qe, &st);
        if (st.idle + st.in_use + st.replacing + st.empty != st.pool_size)
            atomic_fetch_add(&s->bad_sums, 1);
        usleep(500);
    }
    return NULL;
}

static void run_stress(struct query_engine *qe, int nthreads, int per_thread, struct stress *s)
{
    memset(s, 0, sizeof(*s));
    s->qe = qe;
    s->per_thread = per_thread;
    pthread_t th[64], mon;
    assert_int_equal(pthread_create(&mon, NULL, monitor_main, s), 0);
    for (int i = 0; i < nthreads; i++)
        assert_int_equal(pthread_create(&th[i], NULL, stress_main, s), 0);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    atomic_store(&s->stop_monitor, true);
    pthread_join(mon, NULL);
}

static int setup_faults(void **state)
{
    (void)state;
    setenv("ARC_TEST_FAULTS", "duckdb_connect_fail_every=2,duckdb_mark_unhealthy_after_query", 1);
    faults_reload();
    assert_int_equal(faults_value("duckdb_connect_fail_every", 0), 2);
    assert_true(faults_enabled("duckdb_mark_unhealthy_after_query"));
    return setup_with(3000, 2, 100, 2000);
}

static int teardown_faults(void **state)
{
    int rc = teardown(state);
    unsetenv("ARC_TEST_FAULTS");
    faults_reload();
    assert_false(faults_enabled("duckdb_mark_unhealthy_after_query"));
    return rc;
}

static void test_r1_under_faults(void **state)
{
    (void)state;
    struct stress s;
    run_stress(F.qe, 16, 12, &s);
    fprintf(stderr, "T1.1: ok=%d busy=%d db=%d other=%d max_ms=%ld\n", s.ok, s.busy, s.db, s.other,
            (long)s.max_ms);
    assert_int_equal(s.ok + s.busy + s.db + s.other, 16 * 12);
    assert_int_equal(s.other, 0);
    assert_true(s.ok > 0);
    assert_int_equal(s.bad_sums, 0);
    assert_true(s.max_ms < 2000 + 3000 + 2000); /* acquire + query timeout + slack */
    /* Afterwards: nothing in use, the sum holds, and a query succeeds (one
     * attempt may meet an injected connect failure). */
    struct query_pool_stats st;
    for (int i = 0; i < 100; i++) {
        query_pool_stats(F.qe, &st);
        if (st.in_use == 0 && st.replacing == 0)
            break;
        usleep(50000);
    }
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle + st.in_use + st.replacing + st.empty, 2);
    assert_true(st.replacements_total > 0);
    assert_true(st.replacement_failures_total > 0);
    int ok = 0;
    for (int i = 0; i < 3 && !ok; i++) {
        struct qres r;
        qfix_query(F.qe, "SELECT count(*) FROM cpu", NULL, &r);
        ok = r.rc == RC_OK && !strcmp(r.rows[0], "110");
        qres_free(&r);
    }
    assert_true(ok);
    assert_int_equal(qscan_registered_count(), 0);
}

/* ---- T1.2: constant replacement ----------------------------------------------- */

struct churn {
    struct dbpool *pool;
    atomic_bool stop;
    int rounds;
};

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    while (!atomic_load(&c->stop) && c->rounds < 300) {
        dbpool_invalidate_all(c->pool);
        c->rounds++;
    }
    return NULL;
}

static int setup_churn(void **state)
{
    (void)state;
    return setup_with(3000, 2, 100, 3000);
}

static void test_replacement_churn(void **state)
{
    (void)state;
    struct churn c = {.pool = query__engine_pool(F.qe)};
    atomic_init(&c.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
    struct stress s;
    run_stress(F.qe, 8, 10, &s);
    atomic_store(&c.stop, true);
    pthread_join(th, NULL);
    struct dbpool_counts pc;
    dbpool_counts(query__engine_pool(F.qe), &pc);
    fprintf(stderr, "T1.2: rounds=%d ok=%d busy=%d db=%d max_lock_wait_ms=%.3f\n", c.rounds, s.ok,
            s.busy, s.db, (double)pc.max_lock_wait_ns / 1e6);
    assert_int_equal(s.ok, 80); /* replacement never fails here: every query succeeds */
    assert_int_equal(s.bad_sums, 0);
    assert_true(pc.max_lock_wait_ns < INT64_C(1000000000));
    assert_int_equal(pc.in_use, 0);
    assert_int_equal(pc.idle, 2);
    assert_true(pc.replacements > 0);
}

/* ---- T1.3: outage and recovery -------------------------------------------------- */

static void test_outage_and_recovery(void **state)
{
    (void)state;
    struct dbpool *p = query__engine_pool(F.qe);
    dbpool_test_fail_connects(p, true);
    dbpool_invalidate_all(p); /* both slots: replacement fails -> empty */
    struct query_pool_stats st;
    query_pool_stats(F.qe, &st);
    assert_int_equal(st.empty, 2);
    for (int i = 0; i < 5; i++) {
        int64_t t0 = time_mono_ms();
        struct qres r;
        qfix_query(F.qe, "SELECT 1", NULL, &r);
        assert_true(r.rc == RC_DB || r.rc == RC_BUSY);
        qres_free(&r);
        assert_true(time_mono_ms() - t0 < 3000 + 500);
    }
    assert_counts_sum(F.qe);
    dbpool_test_fail_connects(p, false);
    char v[16];
    assert_string_equal(qfix_scalar(F.qe, "SELECT 7", NULL, v, sizeof(v)), "7");
    assert_string_equal(qfix_scalar(F.qe, "SELECT 8", NULL, v, sizeof(v)), "8");
    query_pool_stats(F.qe, &st);
    assert_int_equal(st.in_use, 0);
    assert_true(st.idle >= 1);
    assert_counts_sum(F.qe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_timeout_interrupts, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_acquire_timeout_busy, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_queue_full_busy, setup_queue, teardown),
        cmocka_unit_test_setup_teardown(test_r1_under_faults, setup_faults, teardown_faults),
        cmocka_unit_test_setup_teardown(test_replacement_churn, setup_churn, teardown),
        cmocka_unit_test_setup_teardown(test_outage_and_recovery, setup_churn, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
