/* Unit tests for jobs/compaction*.c (part 2): batches of
 * max_files_per_batch with b1..bK names, candidates (current hour, settle,
 * database filter, partition locks held by others), trigger errors and
 * the "already running" answer, scheduler registration. */
#include "compaction_fixture.h"

static void test_batches(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, true);
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 65, 4, 1000000);
    char *before = jfix_query(f.qe, queries[1], NULL);
    struct compaction_options o = opts(&f);
    struct compaction *c = start(&f, &o);
    cycle(c, COMPACTION_TIER_BIT(COMPACTION_HOURLY));
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 3);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, "_b1_compacted.parquet"), 1);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, "_b2_compacted.parquet"), 1);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, "_b3_compacted.parquet"), 1);
    /* Grace 0: inputs deleted right after each swap. */
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 3);
    char *after = jfix_query(f.qe, queries[1], NULL);
    assert_string_equal(before, after);
    /* Row counts of the outputs: 30, 30 and 5 files of 4 rows. */
    struct catalog_file_list fl;
    catalog_files_list(f.cat, DB, M, INT64_MIN, INT64_MAX, &fl);
    int64_t sum = 0;
    for (size_t i = 0; i < fl.n; i++)
        sum += fl.files[i].row_count;
    assert_int_equal(sum, 260);
    catalog_file_list_free(&fl);
    /* Nothing left to do: compacted files are not hourly inputs. */
    struct compaction_candidate *cand = NULL;
    size_t nc = 9;
    compaction_candidates(c, time_now_us(), COMPACTION_TIER_BIT(COMPACTION_HOURLY), NULL, &cand,
                          &nc);
    assert_int_equal(nc, 0);
    xfree(cand);
    cycle(c, COMPACTION_TIER_BIT(COMPACTION_HOURLY));
    struct compaction_status s;
    compaction_get_status(c, &s);
    assert_int_equal(s.total_completed, 1);
    assert_int_equal(s.tier_stats[COMPACTION_HOURLY].outputs, 3);
    compaction_free(&c);
    xfree(before);
    xfree(after);
    jfix_close(&f);
}

static void test_candidates_and_locks(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 10, 2, 1000000);
    jfix_fill_hour(&f, "other", "mem", h14, 10, 2, 1000000);
    /* The current hour is never a candidate: the hour that is current at
     * "later" below (now + 301 s; it may already be the next one). */
    int64_t now_h = time_floor_hour(time_now_us() + 301 * US_PER_SEC);
    jfix_fill_hour(&f, DB, M, now_h, 10, 1, 1000);
    struct compaction_options o = opts(&f);
    o.settle_seconds = 300;
    struct compaction *c = start(&f, &o);
    struct compaction_candidate *cand = NULL;
    size_t n = 0;
    /* Files were written just now: not settled yet. */
    compaction_candidates(c, time_now_us(), COMPACTION_ALL_TIERS, NULL, &cand, &n);
    assert_int_equal(n, 0);
    xfree(cand);
    int64_t later = time_now_us() + 301 * US_PER_SEC;
    compaction_candidates(c, later, COMPACTION_ALL_TIERS, NULL, &cand, &n);
    assert_int_equal(n, 2);
    assert_string_equal(cand[0].database, "default");
    assert_string_equal(cand[0].measurement, "cpu");
    assert_string_equal(cand[0].partition_path, "default/cpu/2025/01/15/14");
    assert_int_equal(cand[0].file_count, 10);
    assert_int_equal(cand[0].tier, COMPACTION_HOURLY);
    assert_string_equal(cand[1].partition_path, "other/mem/2025/01/15/14");
    xfree(cand);
    compaction_candidates(c, later, COMPACTION_ALL_TIERS, "other", &cand, &n);
    assert_int_equal(n, 1);
    xfree(cand);
    /* A locked partition (a day lock by a delete) is not a candidate, and a
     * cycle skips it. */
    assert_true(partlock_try("default/cpu/2025/01/15", "delete:1", 60000));
    compaction_candidates(c, later, COMPACTION_ALL_TIERS, NULL, &cand, &n);
    assert_int_equal(n, 1);
    assert_string_equal(cand[0].partition_path, "other/mem/2025/01/15/14");
    xfree(cand);
    compaction_free(&c);
    o.settle_seconds = 0;
    c = start(&f, &o);
    cycle(c, COMPACTION_ALL_TIERS);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 10);
    assert_int_equal(jfix_count_visible(&f, "other", "mem", NULL, "_compacted.parquet"), 1);
    partlock_release("default/cpu/2025/01/15", "delete:1");
    /* Database filter. */
    uint64_t id = 0;
    struct errbuf eb = {0};
    assert_int_equal(compaction_trigger(c, "nosuchdb", COMPACTION_ALL_TIERS, &id, &eb), RC_OK);
    assert_true(compaction_wait_idle(c, 30000));
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 10);
    assert_int_equal(compaction_trigger(c, "default", COMPACTION_ALL_TIERS, &id, &eb), RC_OK);
    assert_true(compaction_wait_idle(c, 30000));
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 1);
    /* The current hour is still untouched. */
    struct catalog_file_list fl;
    catalog_files_list(f.cat, DB, M, now_h, now_h + US_PER_HOUR, &fl);
    assert_int_equal(fl.n, 10);
    catalog_file_list_free(&fl);
    compaction_free(&c);
    jfix_close(&f);
}

static void test_trigger(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 12, 50, 1000);
    struct compaction_options o = opts(&f);
    o.max_files_per_batch = 2; /* many small batches: the cycle takes a while */
    o.max_concurrent_jobs = 1;
    struct compaction *c = start(&f, &o);
    uint64_t id1 = 0, id2 = 0;
    struct errbuf eb = {0};
    assert_int_equal(compaction_trigger(c, "bad name!", COMPACTION_ALL_TIERS, &id1, &eb),
                     RC_INVALID);
    errbuf_clear(&eb);
    assert_int_equal(compaction_trigger(c, NULL, 0, &id1, &eb), RC_INVALID);
    errbuf_clear(&eb);
    assert_int_equal(compaction_trigger(c, NULL, 8, &id1, &eb), RC_INVALID);
    errbuf_clear(&eb);
    assert_int_equal(compaction_trigger(c, NULL, COMPACTION_ALL_TIERS, &id1, &eb), RC_OK);
    assert_int_equal(compaction_trigger(c, NULL, COMPACTION_ALL_TIERS, &id2, &eb), RC_EXISTS);
    assert_int_equal(id2, id1);
    assert_string_equal(eb.msg, "Compaction cycle already running");
    struct compaction_status s;
    compaction_get_status(c, &s);
    assert_true(s.cycle_running);
    assert_false(s.scheduled);
    assert_true(compaction_wait_idle(c, 60000));
    errbuf_clear(&eb);
    assert_int_equal(compaction_trigger(c, NULL, COMPACTION_ALL_TIERS, &id2, &eb), RC_OK);
    assert_int_equal(id2, id1 + 1);
    assert_true(compaction_wait_idle(c, 60000));
    /* Scheduling registers the tier jobs; free unregisters them. */
    struct scheduler *sched = NULL;
    assert_int_equal(scheduler_start(&sched, &eb), RC_OK);
    assert_int_equal(compaction_schedule(c, sched, &eb), RC_OK);
    compaction_get_status(c, &s);
    assert_true(s.scheduled);
    assert_true(s.tiers[COMPACTION_HOURLY].next_run_us > time_now_us());
    assert_true(s.tiers[COMPACTION_DAILY].next_run_us > time_now_us());
    assert_string_equal(s.tiers[COMPACTION_DAILY].schedule, "0 3 * * *");
    compaction_free(&c);
    assert_false(scheduler_job_times(sched, "compaction-hourly", NULL, NULL));
    scheduler_stop(&sched);
    /* Bad options. */
    o.max_files_per_batch = 1;
    assert_int_equal(compaction_new(&o, f.st, f.cat, &c, &eb), RC_INVALID);
    o.max_files_per_batch = 30;
    o.compression = "brotli9";
    errbuf_clear(&eb);
    assert_int_equal(compaction_new(&o, f.st, f.cat, &c, &eb), RC_INVALID);
    o.compression = "zstd";
    o.tiers[COMPACTION_DAILY].schedule = "0 25 * * *";
    errbuf_clear(&eb);
    assert_int_equal(compaction_new(&o, f.st, f.cat, &c, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "compaction.daily.schedule"));
    assert_null(c);
    jfix_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_candidates_and_locks),
        cmocka_unit_test(test_trigger),
    };
    return jtest_run(tests, sizeof(tests) / sizeof(tests[0]));
}
