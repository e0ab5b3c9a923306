/* Unit tests for jobs/compaction*.c (part 1): the pure planning helpers
 * (batches, output names, key parsing, tier lists, sort keys), manifests,
 * eligibility rules, and the headline case with real raw flush files, the
 * real catalog and the real query engine: 200 small files of one hour
 * become one file; every query result is identical before and after
 * (engine and plain read_parquet of the visible files); the output is
 * zstd, sorted by time, with the union of columns (byte order) and of
 * arc:tags; the query cache is cleared; inputs wait for the grace period,
 * then are deleted. Other parts: test_compaction_{jobs,tiers,concurrent,
 * crash}.c. */
#include "compaction_fixture.h"

static void test_helpers(void **state)
{
    (void)state;
    struct cplan_file fs[8];
    memset(fs, 0, sizeof(fs));
    for (int i = 0; i < 8; i++)
        fs[i].bytes = 100;
    size_t st[9];
    /* A single leftover file is not a batch: 7 = 3 + 3 + (1). */
    assert_int_equal(compaction__batches(fs, 7, 3, 0, st), 2);
    assert_int_equal(st[0], 0);
    assert_int_equal(st[1], 3);
    assert_int_equal(st[2], 6);
    assert_int_equal(compaction__batches(fs, 8, 3, 0, st), 3);
    assert_int_equal(st[3], 8);
    assert_int_equal(compaction__batches(fs, 4, 3, 0, st), 1);
    assert_int_equal(st[1], 3);
    /* Target bytes close a batch early (but never below 2 files). */
    assert_int_equal(compaction__batches(fs, 7, 30, 250, st), 2);
    assert_int_equal(st[1], 3);
    assert_int_equal(st[2], 6);
    assert_int_equal(compaction__batches(fs, 7, 30, 50, st), 3);
    assert_int_equal(st[1], 2);
    assert_int_equal(compaction__batches(fs, 1, 30, 0, st), 0);

    unsigned mask = 0;
    assert_true(compaction_tiers_parse("hourly,daily", &mask));
    assert_int_equal(mask, COMPACTION_ALL_TIERS);
    assert_true(compaction_tiers_parse(" daily ", &mask));
    assert_int_equal(mask, COMPACTION_TIER_BIT(COMPACTION_DAILY));
    assert_false(compaction_tiers_parse("weekly", &mask));
    assert_false(compaction_tiers_parse("", &mask));
    assert_false(compaction_tiers_parse(",", &mask));

    struct cplan_part p = {.db = "db",
                           .measurement = "cpu",
                           .path = "db/cpu/2025/01/15/14",
                           .tier = COMPACTION_HOURLY};
    char key[512];
    int64_t ns = jfix_time("2025-02-03T04:05:06Z") * 1000 + 789;
    assert_true(compaction__output_key(key, sizeof(key), &p, ns, 2, NULL) > 0);
    assert_string_equal(key, "db/cpu/2025/01/15/14/cpu_20250203_040506_1738555506000000789_b2_"
                             "compacted.parquet");
    p.tier = COMPACTION_DAILY;
    snprintf(p.path, sizeof(p.path), "db/cpu/2025/01/15");
    assert_true(compaction__output_key(key, sizeof(key), &p, ns, 1, "node-1") > 0);
    assert_string_equal(key, "db/cpu/2025/01/15/cpu_20250203_040506_1738555506000000789_b1_node-1_"
                             "daily.parquet");
    char nid[64];
    assert_true(flush_key_node_id(key, nid, sizeof(nid)));
    assert_string_equal(nid, "node-1");
    assert_int_equal(compaction__output_key(key, 20, &p, ns, 1, NULL), 0);

    struct compaction_key k;
    assert_true(compaction__parse_key("db/cpu/2025/01/15/14/x.parquet", &k));
    assert_true(k.in_hour_dir);
    assert_int_equal(k.dir_start_us, jfix_time("2025-01-15T14:00:00Z"));
    assert_int_equal(k.hour_dir_len, strlen("db/cpu/2025/01/15/14"));
    assert_int_equal(k.day_dir_len, strlen("db/cpu/2025/01/15"));
    assert_string_equal(k.name, "x.parquet");
    assert_true(compaction__parse_key("db/cpu/2025/01/15/y_daily.parquet", &k));
    assert_false(k.in_hour_dir);
    assert_false(compaction__parse_key("db/cpu/2025/01/15/14/x.csv", &k));
    assert_false(compaction__parse_key("db/cpu/2025/13/15/14/x.parquet", &k));
    assert_false(compaction__parse_key("db/cpu/2025/01/15/14/00/x.parquet", &k));
    assert_false(compaction__parse_key("1db/cpu/2025/01/15/14/x.parquet", &k));

    char **cols = NULL;
    size_t nc = 0;
    struct errbuf eb = {0};
    const char *sk[] = {"mem:a", "cpu:host,region"};
    assert_int_equal(compaction__sort_keys(sk, 2, "cpu", &cols, &nc, &eb), RC_OK);
    assert_int_equal(nc, 2);
    assert_string_equal(cols[0], "host");
    assert_string_equal(cols[1], "region");
    xfree(cols);
    assert_int_equal(compaction__sort_keys(sk, 2, "disk", &cols, &nc, &eb), RC_OK);
    assert_int_equal(nc, 0);
    assert_null(cols);
    const char *bad[] = {"cpu"};
    assert_int_equal(compaction__sort_keys(bad, 1, "cpu", &cols, &nc, &eb), RC_INVALID);
    const char *bad2[] = {"cpu:a,,b"};
    errbuf_clear(&eb);
    assert_int_equal(compaction__sort_keys(bad2, 1, "cpu", &cols, &nc, &eb), RC_INVALID);
}

static void test_manifest(void **state)
{
    (void)state;
    char dir[] = "/tmp/arc-jtest-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char mdir[300];
    snprintf(mdir, sizeof(mdir), "%s/manifests", dir);
    char *inputs[] = {"db/cpu/2025/01/15/14/a.parquet", "db/cpu/2025/01/15/14/b.parquet"};
    struct cmanifest m = {.db = "db",
                          .measurement = "cpu",
                          .tier = COMPACTION_DAILY,
                          .output_key = "db/cpu/2025/01/15/o_daily.parquet",
                          .output_rows = 42,
                          .output_min_us = -5,
                          .output_max_us = 99,
                          .output_bytes = 1234,
                          .inputs = inputs,
                          .n_inputs = 2};
    struct errbuf eb = {0};
    assert_int_equal(compaction__manifest_write(mdir, &m, &eb), RC_OK);
    assert_int_equal(jfix_dir_entries(mdir, NULL), 1);
    struct cmanifest r;
    assert_int_equal(compaction__manifest_read(m.path, &r, &eb), RC_OK);
    assert_string_equal(r.db, "db");
    assert_string_equal(r.measurement, "cpu");
    assert_int_equal(r.tier, COMPACTION_DAILY);
    assert_string_equal(r.output_key, m.output_key);
    assert_int_equal(r.output_rows, 42);
    assert_int_equal(r.output_min_us, -5);
    assert_int_equal(r.output_max_us, 99);
    assert_int_equal(r.output_bytes, 1234);
    assert_int_equal(r.n_inputs, 2);
    assert_string_equal(r.inputs[1], inputs[1]);
    compaction__manifest_remove(&r);
    compaction__manifest_free(&r);
    assert_int_equal(jfix_dir_entries(mdir, NULL), 0);
    /* Truncated (no "end") and foreign files are refused. */
    char p[400];
    snprintf(p, sizeof(p), "%s/x.manifest", mdir);
    FILE *fp = fopen(p, "w");
    fputs("arc-compaction-manifest 1\ndatabase db\nmeasurement cpu\ntier hourly\noutput "
          "db/cpu/2025/01/15/14/o.parquet\n",
          fp);
    fclose(fp);
    errbuf_clear(&eb);
    assert_int_equal(compaction__manifest_read(p, &r, &eb), RC_PARSE);
    fp = fopen(p, "w");
    fputs("hello\n", fp);
    fclose(fp);
    errbuf_clear(&eb);
    assert_int_equal(compaction__manifest_read(p, &r, &eb), RC_PARSE);
    fp = fopen(p, "w");
    fputs("arc-compaction-manifest 1\ndatabase db\nmeasurement cpu\ntier hourly\noutput "
          "db/cpu/2025/01/15/14/o.parquet\ninput ../../etc/passwd\nend\n",
          fp);
    fclose(fp);
    errbuf_clear(&eb);
    assert_int_equal(compaction__manifest_read(p, &r, &eb), RC_PARSE);
    jfix_rm_rf(dir);
}

static void test_eligibility(void **state)
{
    (void)state;
    struct cplan_part p = {.start_us = jfix_time(H14), .span_us = US_PER_HOUR, .n = 10};
    p.newest_created_us = p.start_us + US_PER_HOUR + 60 * US_PER_SEC;
    struct compaction_tier_options t = {.min_age_hours = 1, .min_files = 10};
    int64_t end = p.start_us + US_PER_HOUR;
    /* The hour has not ended. */
    assert_false(compaction__eligible(&p, &t, 0, end - 1));
    assert_true(compaction__eligible(&p, &t, 0, end + 61 * US_PER_SEC));
    /* Settle: newest input written at end+60s, settle 300 s. */
    assert_false(compaction__eligible(&p, &t, 300, end + 300 * US_PER_SEC));
    assert_true(compaction__eligible(&p, &t, 300, end + 360 * US_PER_SEC));
    /* min_age 3 h. */
    t.min_age_hours = 3;
    assert_false(compaction__eligible(&p, &t, 0, p.start_us + 3 * US_PER_HOUR - 1));
    assert_true(compaction__eligible(&p, &t, 0, p.start_us + 3 * US_PER_HOUR));
    /* min_age < 1 acts as 1. */
    t.min_age_hours = 0;
    assert_false(compaction__eligible(&p, &t, 0, end - 1));
    /* min_files. */
    t.min_files = 11;
    assert_false(compaction__eligible(&p, &t, 0, end + US_PER_HOUR));
    t.min_files = 1; /* still needs 2 */
    p.n = 1;
    assert_false(compaction__eligible(&p, &t, 0, end + US_PER_HOUR));
}

static void test_200_files_into_one(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, true);
    struct qcache_options qo = {.enabled = true,
                                .ttl_ms = 60000,
                                .max_entries = 10,
                                .max_result_bytes = 1 << 20,
                                .max_total_bytes = 1 << 20};
    struct qcache *qc = qcache_new(&qo);
    qcache_set_global(qc);
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 200, 20, 500000);
    /* Another hour with too few files is left alone. */
    jfix_fill_hour(&f, DB, M, h14 + US_PER_HOUR, 3, 10, 1000000);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 200);

    char *before[NQ], *after[NQ];
    run_queries(&f, before);
    assert_string_equal(before[0], "count_star()\n4030\n");
    char *raw_before = raw_rows(&f);
    uint64_t gen0 = qcache_generation(qc);

    struct compaction_options o = opts(&f);
    o.max_files_per_batch = 500;
    o.retire_grace_ms = 600000; /* inputs stay until retired below */
    struct compaction *c = start(&f, &o);
    cycle(c, COMPACTION_ALL_TIERS);

    /* One visible output; the inputs are invisible but still stored. */
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 1);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, "_b1_compacted.parquet"), 1);
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 201);
    assert_true(qcache_generation(qc) > gen0); /* cache cleared by the swap */
    run_queries(&f, after);
    for (size_t i = 0; i < NQ; i++) {
        if (strcmp(before[i], after[i]) != 0)
            fail_msg("query %zu differs after compaction:\n%s\n--- before ---\n%.2000s\n--- after "
                     "---\n%.2000s",
                     i, queries[i], before[i], after[i]);
    }
    char *raw_after = raw_rows(&f);
    assert_string_equal(raw_before, raw_after);

    struct compaction_status s;
    compaction_get_status(c, &s);
    assert_int_equal(s.pending_retirements, 1);
    assert_int_equal(s.total_completed, 1);
    assert_int_equal(s.total_failed, 0);
    assert_int_equal(s.total_files_compacted, 200);
    assert_true(s.total_bytes_after > 0 && s.total_bytes_after < s.total_bytes_before);
    assert_int_equal(s.tier_stats[COMPACTION_HOURLY].outputs, 1);
    assert_int_equal(s.tier_stats[COMPACTION_DAILY].jobs_completed, 0);
    assert_false(s.cycle_running);
    assert_int_equal(s.cycle_id, 1);
    assert_int_equal(jfix_dir_entries(f.temp, "job-"), 0);
    char mdir[400];
    snprintf(mdir, sizeof(mdir), "%s/manifests", f.temp);
    assert_int_equal(jfix_dir_entries(mdir, NULL), 1); /* until the inputs are deleted */

    /* Not due yet; then forced. */
    assert_int_equal(compaction_retire_due(c, false), 0);
    assert_int_equal(compaction_retire_due(c, true), 1);
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 1);
    assert_int_equal(jfix_dir_entries(mdir, NULL), 0);

    struct compaction_job_info *h = NULL;
    size_t nh = 0;
    uint64_t total = 0;
    compaction_history(c, 10, &h, &nh, &total);
    assert_int_equal(nh, 1);
    assert_int_equal(total, 1);
    assert_string_equal(h[0].status, "completed");
    assert_string_equal(h[0].partition_path, "default/cpu/2025/01/15/14");
    assert_int_equal(h[0].tier, COMPACTION_HOURLY);
    assert_int_equal(h[0].file_count, 200);
    assert_int_equal(h[0].files_compacted, 200);
    assert_int_equal(h[0].outputs, 1);
    assert_string_equal(h[0].error, "");
    xfree(h);
    compaction_free(&c);
    assert_null(c);

    /* The output file itself. */
    struct catalog_file_list fl;
    catalog_files_list(f.cat, DB, M, h14, h14 + US_PER_HOUR, &fl);
    assert_int_equal(fl.n, 1);
    assert_int_equal(fl.files[0].tier, CATALOG_TIER_COMPACTED);
    assert_int_equal(fl.files[0].row_count, 4000);
    assert_int_equal(fl.files[0].min_time_us, h14);
    assert_int_equal(fl.files[0].max_time_us, h14 + (int64_t)(19 * 200 + 199) * 500000);
    char sql[2048], path[1024];
    snprintf(path, sizeof(path), "%s/%s", f.root, fl.files[0].key);
    /* Name: <m>_YYYYMMDD_HHMMSS_<unixnanos>_b1_compacted.parquet */
    const char *name = strrchr(fl.files[0].key, '/') + 1;
    assert_int_equal(strncmp(name, "cpu_", 4), 0);
    assert_true(strlen(name) > 40);
    assert_non_null(strstr(name, "_b1_compacted.parquet"));
    catalog_file_list_free(&fl);
    snprintf(sql, sizeof(sql),
             "SELECT string_agg(name, ',' ORDER BY rowid) FROM (SELECT name, row_number() OVER () "
             "AS rowid FROM parquet_schema('%s') WHERE name <> 'duckdb_schema')",
             path);
    char *cols = jfix_duck(f.conn, sql, NULL);
    assert_string_equal(cols, "string_agg(\"name\", ',' ORDER BY rowid)\n"
                              "time,count,host,msg,ok,region,u,value\n");
    xfree(cols);
    snprintf(sql, sizeof(sql), "SELECT DISTINCT compression FROM parquet_metadata('%s')", path);
    char *comp = jfix_duck(f.conn, sql, NULL);
    assert_string_equal(comp, "compression\nZSTD\n");
    xfree(comp);
    snprintf(sql, sizeof(sql),
             "SELECT decode(value) FROM parquet_kv_metadata('%s') WHERE decode(key) = 'arc:tags'",
             path);
    char *tags = jfix_duck(f.conn, sql, NULL);
    assert_string_equal(tags, "decode(\"value\")\nhost,region\n");
    xfree(tags);
    snprintf(sql, sizeof(sql),
             "SELECT logical_type LIKE '%%isAdjustedToUTC=1%%MICROS=MicroSeconds%%' FROM "
             "parquet_schema('%s') WHERE name = 'time'",
             path);
    char *tt = jfix_duck(f.conn, sql, NULL);
    assert_non_null(strstr(tt, "true"));
    xfree(tt);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT time < lag(time) OVER () AS back FROM "
             "read_parquet('%s')) WHERE back",
             path);
    assert_int_equal(jfix_int(f.conn, sql), 0); /* sorted by time */

    for (size_t i = 0; i < NQ; i++) {
        xfree(before[i]);
        xfree(after[i]);
    }
    xfree(raw_before);
    xfree(raw_after);
    qcache_set_global(NULL);
    qcache_free(&qc);
    jfix_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_eligibility),
        cmocka_unit_test(test_200_files_into_one),
    };
    return jtest_run(tests, sizeof(tests) / sizeof(tests[0]));
}
