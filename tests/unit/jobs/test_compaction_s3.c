/* Unit tests for jobs/compaction*.c on S3-compatible storage (s3rver, a
 * real S3 implementation; skipped when node or s3rver is missing): inputs
 * are downloaded into compaction.temp_dir, the output is uploaded, the
 * inputs are deleted from the bucket, rows are unchanged; and a crash right
 * after the upload is completed by start-up recovery (HEAD on the bucket). */
#include "compaction_fixture.h"

#include "storage/s3rver_harness.h"

static char g_prefix[64];

static struct storage *make_s3(void)
{
    return open_real(g_prefix, false, 1000);
}

/* Rows of the visible files of hour `hour_prefix`, downloaded to dl. */
static char *s3_rows(struct jfix *f, const char *hour_prefix)
{
    char dl[400];
    snprintf(dl, sizeof(dl), "%s/dl", f->dir);
    mkdir(dl, 0755);
    struct catalog_file_list fl;
    catalog_files_list(f->cat, "default", "cpu", INT64_MIN, INT64_MAX, &fl);
    struct strbuf sql;
    strbuf_init(&sql, 0);
    (void)strbuf_puts(&sql, "SELECT time, host, region, value, count FROM read_parquet([");
    size_t n = 0;
    for (size_t i = 0; i < fl.n; i++) {
        if (strncmp(fl.files[i].key, hour_prefix, strlen(hour_prefix)) != 0)
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%zu.parquet", dl, i);
        struct errbuf eb = {0};
        if (storage_get_file(f->st, fl.files[i].key, path, &eb) != RC_OK)
            fail_msg("get %s: %s", fl.files[i].key, eb.msg);
        (void)strbuf_printf(&sql, "%s'%s'", n++ ? ", " : "", path);
    }
    catalog_file_list_free(&fl);
    (void)strbuf_puts(&sql, "], union_by_name = true) ORDER BY time");
    char *txt = jfix_duck(f->conn, sql.data, NULL);
    strbuf_cleanup(&sql);
    char cmd[500];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dl);
    if (system(cmd) != 0)
        fail_msg("rm %s", dl);
    return txt;
}

static void test_s3_compaction(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    snprintf(g_prefix, sizeof(g_prefix), "c%lld/", (long long)time_now_us());
    jfix_storage_factory = make_s3;
    struct jfix f;
    jfix_open(&f, false);
    assert_null(storage_local_root(f.st));
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 12, 5, 1000000);
    char *before = s3_rows(&f, HOUR_PREFIX);
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 12);

    struct compaction_options o = opts(&f);
    struct compaction *c = start(&f, &o);
    cycle(c, COMPACTION_ALL_TIERS);
    struct compaction_status s;
    compaction_get_status(c, &s);
    assert_int_equal(s.total_completed, 1);
    assert_int_equal(s.total_files_compacted, 12);
    compaction_free(&c);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 1);
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, "_b1_compacted.parquet"), 1);
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 1);
    assert_int_equal(jfix_dir_entries(f.temp, "job-"), 0); /* downloads removed */
    char *after = s3_rows(&f, HOUR_PREFIX);
    assert_string_equal(before, after);
    xfree(before);
    xfree(after);

    /* Crash right after the upload: recovery finds the output by HEAD. */
    const char *h15p = "default/cpu/2025/01/15/15/";
    jfix_fill_hour(&f, DB, M, h14 + US_PER_HOUR, 12, 5, 1000000);
    before = s3_rows(&f, h15p);
    jfix_close_parts(&f);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("ARC_TEST_FAULTS", "compaction_crash_after_output", 1);
        faults_reload();
        struct jfix g = f;
        jfix_open_parts(&g, false);
        struct compaction_options go = opts(&g);
        struct compaction *gc = NULL;
        struct errbuf geb = {0};
        uint64_t id;
        if (compaction_new(&go, g.st, g.cat, &gc, &geb) != RC_OK ||
            compaction_trigger(gc, NULL, COMPACTION_ALL_TIERS, &id, &geb) != RC_OK)
            _exit(3);
        compaction_wait_idle(gc, 30000);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    jfix_open_parts(&f, false);
    assert_int_equal(jfix_count_objects(&f, h15p), 13); /* inputs + orphan output */
    struct compaction_recovery_stats rs;
    struct errbuf eb = {0};
    assert_int_equal(compaction_recover(f.temp, f.st, f.cat, &rs, &eb), RC_OK);
    assert_int_equal(rs.rolled_forward, 1);
    assert_int_equal(rs.inputs_deleted, 12);
    struct catalog_reconcile_stats rcs;
    assert_int_equal(flush_catalog_reconcile(f.cat, f.st, &rcs, &eb), RC_OK);
    assert_int_equal(rcs.added, 0);
    assert_int_equal(jfix_count_visible(&f, DB, M, h15p, NULL), 1);
    assert_int_equal(jfix_count_objects(&f, h15p), 1);
    after = s3_rows(&f, h15p);
    assert_string_equal(before, after);
    xfree(before);
    xfree(after);
    jfix_close(&f);
    jfix_storage_factory = NULL;
}

int main(void)
{
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_compaction),
    };
    return cmocka_run_group_tests(tests, s3rver_setup, s3rver_teardown);
}
