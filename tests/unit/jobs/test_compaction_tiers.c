/* Unit tests for jobs/compaction*.c (part 3): de-duplication on and off
 * (last non-null value per field in write order), corrupt inputs skipped
 * and left in place (truncated footer; garbage in a page with an intact
 * footer), and the daily tier (one day file, emptied hour directories
 * removed, query results unchanged). */
#include "compaction_fixture.h"

/* ---- dedup ------------------------------------------------------------------ */

static struct batch *dedup_batch(int64_t t0, const char *host, int vcol_null, double v,
                                 int wcol_null, int64_t w)
{
    struct batch *b = batch_new(DB, M);
    enum col_type ex;
    int hc = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int vc = batch_col_get(b, "v", 1, COL_DOUBLE, false, &ex);
    int wc = batch_col_get(b, "w", 1, COL_INT64, false, &ex);
    size_t r = batch_row_add(b, t0);
    batch_set_str(b, hc, r, host, strlen(host));
    if (vcol_null)
        batch_set_null(b, vc, r);
    else
        batch_set_f64(b, vc, r, v);
    if (wcol_null)
        batch_set_null(b, wc, r);
    else
        batch_set_i64(b, wc, r, w);
    /* A second row of its own, never duplicated. */
    r = batch_row_add(b, t0 + 1000 + (int64_t)(v * 10));
    batch_set_str(b, hc, r, host, strlen(host));
    batch_set_f64(b, vc, r, v);
    batch_set_i64(b, wc, r, w);
    batch_seal(b);
    return b;
}

static void dedup_case(bool dedup, const char *want)
{
    struct jfix f;
    jfix_open(&f, true);
    int64_t t0 = jfix_time("2025-01-15T14:30:00Z");
    /* In write order: a(v=1, w=NULL), a(v=NULL, w=2), a(v=3, w=NULL), b(v=9, w=9). */
    jfix_flush(&f, dedup_batch(t0, "a", 0, 1, 1, 0));
    jfix_flush(&f, dedup_batch(t0, "a", 1, 0, 0, 2));
    jfix_flush(&f, dedup_batch(t0, "a", 0, 3, 1, 0));
    jfix_flush(&f, dedup_batch(t0, "b", 0, 9, 0, 9));
    struct compaction_options o = opts(&f);
    o.tiers[COMPACTION_HOURLY].min_files = 2;
    o.dedup = dedup;
    struct compaction *c = start(&f, &o);
    cycle(c, COMPACTION_TIER_BIT(COMPACTION_HOURLY));
    compaction_free(&c);
    assert_int_equal(jfix_count_visible(&f, DB, M, NULL, NULL), 1);
    char *txt = jfix_query(f.qe,
                           "SELECT time, host, v, w FROM cpu WHERE time = '2025-01-15T14:30:00Z' "
                           "ORDER BY host, v NULLS FIRST, w NULLS FIRST",
                           NULL);
    assert_string_equal(txt, want);
    xfree(txt);
    char *all = jfix_query(f.qe, "SELECT count(*) FROM cpu", NULL);
    assert_string_equal(all, dedup ? "count_star()\n6\n" : "count_star()\n8\n");
    xfree(all);
    jfix_close(&f);
}

static void test_dedup(void **state)
{
    (void)state;
    dedup_case(true, "time|host|v|w\n"
                     "2025-01-15T14:30:00Z|a|3|2\n"
                     "2025-01-15T14:30:00Z|b|9|9\n");
    dedup_case(false, "time|host|v|w\n"
                      "2025-01-15T14:30:00Z|a|NULL|2\n"
                      "2025-01-15T14:30:00Z|a|1|NULL\n"
                      "2025-01-15T14:30:00Z|a|3|NULL\n"
                      "2025-01-15T14:30:00Z|b|9|9\n");
}

/* ---- corrupt inputs ---------------------------------------------------------- */

static void test_corrupt_inputs(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 12, 5, 1000000);
    struct catalog_file_list fl;
    catalog_files_list(f.cat, DB, M, INT64_MIN, INT64_MAX, &fl);
    assert_int_equal(fl.n, 12);
    char bad1[600], bad2[600], key1[300], key2[300];
    snprintf(key1, sizeof(key1), "%s", fl.files[3].key);
    snprintf(key2, sizeof(key2), "%s", fl.files[7].key);
    snprintf(bad1, sizeof(bad1), "%s/%s", f.root, key1);
    snprintf(bad2, sizeof(bad2), "%s/%s", f.root, key2);
    catalog_file_list_free(&fl);
    /* bad1: truncated (no footer); bad2: garbage in the first page, footer intact. */
    assert_int_equal(truncate(bad1, 100), 0);
    FILE *fp = fopen(bad2, "r+");
    assert_non_null(fp);
    fseek(fp, 20, SEEK_SET);
    fputs("XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", fp);
    fclose(fp);

    struct compaction_options o = opts(&f);
    struct compaction *c = start(&f, &o);
    cycle(c, COMPACTION_TIER_BIT(COMPACTION_HOURLY));
    struct compaction_status s;
    compaction_get_status(c, &s);
    assert_int_equal(s.skipped_corrupt_files, 2);
    assert_int_equal(s.total_completed, 1);
    assert_int_equal(s.total_files_compacted, 10);
    struct compaction_job_info *h = NULL;
    size_t nh = 0;
    compaction_history(c, 5, &h, &nh, NULL);
    assert_int_equal(nh, 1);
    assert_int_equal(h[0].files_skipped, 2);
    assert_int_equal(h[0].files_compacted, 10);
    xfree(h);
    compaction_free(&c);
    /* Output + the two corrupt files, which stay where they were. */
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 3);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, "_compacted.parquet"), 1);
    assert_int_equal(access(bad1, F_OK), 0);
    assert_int_equal(access(bad2, F_OK), 0);
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 3);
    catalog_files_list(f.cat, DB, M, INT64_MIN, INT64_MAX, &fl);
    for (size_t i = 0; i < fl.n; i++)
        if (strstr(fl.files[i].key, "_compacted"))
            assert_int_equal(fl.files[i].row_count, 50);
    catalog_file_list_free(&fl);
    jfix_close(&f);
}

/* ---- daily tier -------------------------------------------------------------- */

static void test_daily(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, true);
    int64_t day = jfix_time("2025-01-15T00:00:00Z");
    /* Hours 02, 03, 04: 5 files each (15 >= 12); the hourly tier (min 10)
     * leaves them alone. Hour 05 gets 1 file. */
    for (int hh = 2; hh <= 4; hh++)
        jfix_fill_hour(&f, DB, M, day + hh * US_PER_HOUR, 5, 6, 1000000);
    jfix_fill_hour(&f, DB, M, day + 5 * US_PER_HOUR, 1, 6, 1000000);
    /* Another day with too few files. */
    jfix_fill_hour(&f, DB, M, day + US_PER_DAY, 3, 3, 1000000);
    char *before = jfix_query(f.qe, "SELECT * FROM cpu ORDER BY time", NULL);
    struct compaction_options o = opts(&f);
    struct compaction *c = start(&f, &o);
    cycle(c, COMPACTION_ALL_TIERS);
    struct compaction_status s;
    compaction_get_status(c, &s);
    assert_int_equal(s.tier_stats[COMPACTION_HOURLY].jobs_completed, 0);
    assert_int_equal(s.tier_stats[COMPACTION_DAILY].jobs_completed, 1);
    assert_int_equal(s.tier_stats[COMPACTION_DAILY].files_compacted, 16);
    compaction_free(&c);
    assert_int_equal(jfix_count_visible(&f, DB, M, "default/cpu/2025/01/15/", NULL), 1);
    assert_int_equal(
        jfix_count_visible(&f, DB, M, "default/cpu/2025/01/15/cpu_", "_b1_daily.parquet"), 1);
    assert_int_equal(jfix_count_objects(&f, "default/cpu/2025/01/15/"), 1);
    struct catalog_file_list fl;
    catalog_files_list(f.cat, DB, M, day, day + US_PER_DAY, &fl);
    assert_int_equal(fl.n, 1);
    assert_int_equal(fl.files[0].tier, CATALOG_TIER_DAILY);
    assert_int_equal(fl.files[0].row_count, 96);
    catalog_file_list_free(&fl);
    /* Emptied hour directories are gone; the day directory stays. */
    char p[600];
    for (int hh = 2; hh <= 5; hh++) {
        snprintf(p, sizeof(p), "%s/default/cpu/2025/01/15/%02d", f.root, hh);
        assert_int_equal(access(p, F_OK), -1);
    }
    snprintf(p, sizeof(p), "%s/default/cpu/2025/01/15", f.root);
    assert_int_equal(access(p, F_OK), 0);
    char *after = jfix_query(f.qe, "SELECT * FROM cpu ORDER BY time", NULL);
    assert_string_equal(before, after);
    xfree(before);
    xfree(after);
    jfix_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_corrupt_inputs),
        cmocka_unit_test(test_daily),
    };
    return jtest_run(tests, sizeof(tests) / sizeof(tests[0]));
}
