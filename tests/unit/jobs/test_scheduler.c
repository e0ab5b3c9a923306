/* Unit tests for jobs/scheduler.c: interval jobs fire repeatedly on the
 * scheduler thread, job times are reported, duplicate and invalid jobs are
 * refused, a cron job's next run is its next match, remove waits for a
 * running callback, and stop waits for a running callback. */
#include "test_helpers.h"

#include <pthread.h>
#include <stdatomic.h>

#include "jobs/scheduler.h"
#include "util/timeutil.h"

struct counter {
    atomic_int n;
    atomic_int sleeping; /* set while the callback sleeps */
    int sleep_ms;
    atomic_bool done;
    char thread_name[32];
};

static void tick(void *ctx, int64_t now_us)
{
    struct counter *c = ctx;
    assert_true(now_us > 0);
    pthread_getname_np(pthread_self(), c->thread_name, sizeof(c->thread_name));
    if (c->sleep_ms) {
        atomic_store(&c->sleeping, 1);
        time_sleep_ms(c->sleep_ms);
        atomic_store(&c->sleeping, 0);
    }
    atomic_fetch_add(&c->n, 1);
    atomic_store(&c->done, true);
}

static void wait_for(atomic_int *v, int want, int timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    while (atomic_load(v) < want && time_mono_ms() < end)
        time_sleep_ms(5);
}

static void test_interval(void **state)
{
    (void)state;
    struct scheduler *s = NULL;
    struct errbuf eb = {0};
    assert_int_equal(scheduler_start(&s, &eb), RC_OK);
    struct counter c = {0};
    int64_t t0 = time_mono_ms();
    assert_int_equal(scheduler_add_interval(s, "tick", 50, tick, &c, &eb), RC_OK);
    wait_for(&c.n, 3, 3000);
    assert_true(atomic_load(&c.n) >= 3);
    /* First run only after one interval: 3 runs take >= 150 ms. */
    assert_true(time_mono_ms() - t0 >= 145);
    assert_string_equal(c.thread_name, "arc-sched");
    int64_t next = 0, last = 0;
    assert_true(scheduler_job_times(s, "tick", &next, &last));
    int64_t now = time_now_us();
    assert_true(last > 0 && last <= now);
    assert_true(next > now - 1000000 && next <= now + 60000);
    assert_false(scheduler_job_times(s, "nope", &next, &last));
    assert_int_equal(next, 0);
    assert_int_equal(last, 0);

    /* Duplicate names and bad arguments. */
    assert_int_equal(scheduler_add_interval(s, "tick", 50, tick, &c, &eb), RC_EXISTS);
    errbuf_clear(&eb);
    assert_int_equal(scheduler_add_interval(s, "zero", 0, tick, &c, &eb), RC_INVALID);
    errbuf_clear(&eb);
    assert_int_equal(scheduler_add_interval(s, "", 10, tick, &c, &eb), RC_INVALID);
    errbuf_clear(&eb);
    assert_int_equal(scheduler_add_cron(s, "bad", "61 * * * *", tick, &c, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "minute"));
    errbuf_clear(&eb);
    assert_int_equal(scheduler_add_cron(s, "nofn", "* * * * *", NULL, &c, &eb), RC_INVALID);
    scheduler_stop(&s);
    assert_null(s);
    int n = atomic_load(&c.n);
    time_sleep_ms(120);
    assert_int_equal(atomic_load(&c.n), n); /* stopped means stopped */
}

static void test_cron_times(void **state)
{
    (void)state;
    struct scheduler *s = NULL;
    struct errbuf eb = {0};
    assert_int_equal(scheduler_start(&s, &eb), RC_OK);
    struct counter c = {0};
    assert_int_equal(scheduler_add_cron(s, "hourly", "5 * * * *", tick, &c, &eb), RC_OK);
    int64_t next = 0, last = -1;
    assert_true(scheduler_job_times(s, "hourly", &next, &last));
    struct cron_expr e;
    assert_int_equal(cron_parse("5 * * * *", &e, &eb), RC_OK);
    int64_t want = cron_next(&e, time_now_us());
    /* Computed at add time: equal unless a minute boundary passed since. */
    assert_true(next == want || next == cron_next(&e, want - 120 * US_PER_SEC));
    assert_int_equal(last, 0);
    assert_true(scheduler_remove(s, "hourly"));
    assert_false(scheduler_remove(s, "hourly"));
    assert_false(scheduler_job_times(s, "hourly", &next, &last));
    scheduler_stop(&s);
}

static void test_remove_and_stop_wait(void **state)
{
    (void)state;
    struct scheduler *s = NULL;
    struct errbuf eb = {0};
    assert_int_equal(scheduler_start(&s, &eb), RC_OK);
    struct counter c = {.sleep_ms = 300};
    assert_int_equal(scheduler_add_interval(s, "slow", 10, tick, &c, &eb), RC_OK);
    wait_for(&c.sleeping, 1, 3000);
    assert_int_equal(atomic_load(&c.sleeping), 1);
    /* remove returns only after the running callback finished. */
    assert_true(scheduler_remove(s, "slow"));
    assert_int_equal(atomic_load(&c.sleeping), 0);
    assert_int_equal(atomic_load(&c.n), 1);

    struct counter d = {.sleep_ms = 200};
    assert_int_equal(scheduler_add_interval(s, "slow2", 10, tick, &d, &eb), RC_OK);
    wait_for(&d.sleeping, 1, 3000);
    scheduler_stop(&s);
    assert_int_equal(atomic_load(&d.n), 1); /* the running callback completed */
    assert_int_equal(atomic_load(&d.sleeping), 0);
}

/* A slow job does not lose the other job's runs: it runs right after. */
static void test_two_jobs(void **state)
{
    (void)state;
    struct scheduler *s = NULL;
    struct errbuf eb = {0};
    assert_int_equal(scheduler_start(&s, &eb), RC_OK);
    struct counter a = {0}, b = {0};
    assert_int_equal(scheduler_add_interval(s, "a", 20, tick, &a, &eb), RC_OK);
    assert_int_equal(scheduler_add_interval(s, "b", 30, tick, &b, &eb), RC_OK);
    wait_for(&a.n, 5, 3000);
    wait_for(&b.n, 5, 3000);
    assert_true(atomic_load(&a.n) >= 5);
    assert_true(atomic_load(&b.n) >= 5);
    scheduler_stop(&s);
    scheduler_stop(&s); /* NULL is fine */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval),
        cmocka_unit_test(test_cron_times),
        cmocka_unit_test(test_remove_and_stop_wait),
        cmocka_unit_test(test_two_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
