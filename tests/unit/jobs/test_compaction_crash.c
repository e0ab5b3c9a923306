/* Unit tests for jobs/compaction*.c (part 5): the process is killed
 * (SIGKILL from a fault hook, in a forked child) at every step of the swap
 * protocol; start-up recovery followed by catalog reconciliation leaves
 * exactly one valid set (inputs or output) in the catalog and in storage,
 * with the same rows, no manifests, work directories or staging files
 * left, and compaction works again afterwards; and an output removed (as by
 * retention) between the crash and the restart does not bring the inputs
 * back. */
#include "compaction_fixture.h"

/* ---- crash at every step ---------------------------------------------------- */

struct crash_case {
    const char *hook;
    bool forward; /* after recovery: output (true) or the inputs (false) */
};

static const struct crash_case crash_cases[] = {
    {"compaction_crash_before_manifest", false}, {"compaction_crash_after_manifest", false},
    {"compaction_crash_after_output", true},     {"compaction_crash_after_catalog_add", true},
    {"compaction_crash_after_swap", true},       {"compaction_crash_after_delete", true},
};

static void test_crash_recovery(void **state)
{
    (void)state;
    for (size_t ci = 0; ci < sizeof(crash_cases) / sizeof(crash_cases[0]); ci++) {
        const struct crash_case *cc = &crash_cases[ci];
        struct jfix f;
        jfix_open(&f, false);
        int64_t h14 = jfix_time(H14);
        jfix_fill_hour(&f, DB, M, h14, 12, 5, 1000000);
        char *before = raw_rows(&f);
        jfix_close_parts(&f);

        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char env[256];
            snprintf(env, sizeof(env), "%s,compaction_retire_grace_ms=0", cc->hook);
            setenv("ARC_TEST_FAULTS", env, 1);
            faults_reload();
            struct jfix g = f;
            jfix_open_parts(&g, false);
            struct compaction_options o = opts(&g);
            struct compaction *c = NULL;
            struct errbuf eb = {0};
            if (compaction_new(&o, g.st, g.cat, &c, &eb) != RC_OK)
                _exit(3);
            uint64_t id;
            if (compaction_trigger(c, NULL, COMPACTION_ALL_TIERS, &id, &eb) != RC_OK)
                _exit(4);
            compaction_wait_idle(c, 30000);
            _exit(5); /* the hook should have killed us */
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
            fail_msg("%s: child did not crash (status %d)", cc->hook, status);

        /* Start-up: catalog, recovery, then reconciliation with storage. */
        jfix_open_parts(&f, false);
        struct compaction_recovery_stats rs;
        struct errbuf eb = {0};
        assert_int_equal(compaction_recover(f.temp, f.st, f.cat, &rs, &eb), RC_OK);
        assert_int_equal(rs.manifests,
                         strcmp(cc->hook, "compaction_crash_before_manifest") ? 1 : 0);
        assert_int_equal(rs.failed, 0);
        if (rs.manifests) {
            assert_int_equal(rs.rolled_forward, cc->forward ? 1 : 0);
            assert_int_equal(rs.rolled_back, cc->forward ? 0 : 1);
        }
        struct catalog_reconcile_stats rcs;
        assert_int_equal(flush_catalog_reconcile(f.cat, f.st, &rcs, &eb), RC_OK);
        assert_int_equal(rcs.added, 0);
        assert_int_equal(rcs.removed, 0);

        size_t visible = jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL);
        size_t outputs = jfix_count_visible(&f, DB, M, HOUR_PREFIX, "_compacted.parquet");
        if (cc->forward) {
            assert_int_equal(visible, 1);
            assert_int_equal(outputs, 1);
        } else {
            assert_int_equal(visible, 12);
            assert_int_equal(outputs, 0);
        }
        /* Storage holds exactly the visible set: no orphans either way. */
        assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), visible);
        char hourdir[600];
        snprintf(hourdir, sizeof(hourdir), "%s/%s", f.root, HOUR_PREFIX);
        assert_int_equal(jfix_dir_entries(hourdir, "."), 0); /* no staging leftovers */
        char mdir[400];
        snprintf(mdir, sizeof(mdir), "%s/manifests", f.temp);
        assert_int_equal(jfix_dir_entries(mdir, NULL), 0);
        assert_int_equal(jfix_dir_entries(f.temp, "job-"), 0);
        char *after = raw_rows(&f);
        if (strcmp(before, after) != 0)
            fail_msg("%s: rows differ after recovery", cc->hook);
        xfree(after);

        /* A second recovery is a no-op, and compaction still works. */
        assert_int_equal(compaction_recover(f.temp, f.st, f.cat, &rs, &eb), RC_OK);
        assert_int_equal(rs.manifests, 0);
        struct compaction_options o = opts(&f);
        struct compaction *c = start(&f, &o);
        cycle(c, COMPACTION_ALL_TIERS);
        compaction_free(&c);
        assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 1);
        after = raw_rows(&f);
        assert_string_equal(before, after);
        xfree(after);
        xfree(before);
        jfix_close(&f);
    }
}

/* A crash during the grace period, after which retention removed the
 * output before the restart: recovery must delete the inputs too, not let
 * reconciliation bring their (expired) rows back. */
static void test_output_removed_before_recovery(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 12, 5, 1000000);
    jfix_close_parts(&f);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("ARC_TEST_FAULTS", "compaction_crash_after_swap", 1);
        faults_reload();
        struct jfix g = f;
        jfix_open_parts(&g, false);
        struct compaction_options o = opts(&g);
        struct compaction *c = NULL;
        struct errbuf eb = {0};
        uint64_t id;
        if (compaction_new(&o, g.st, g.cat, &c, &eb) != RC_OK ||
            compaction_trigger(c, NULL, COMPACTION_ALL_TIERS, &id, &eb) != RC_OK)
            _exit(3);
        compaction_wait_idle(c, 30000);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* "Retention": the output is forgotten and deleted (no recovery yet). */
    jfix_open_parts(&f, false);
    struct catalog_file_list fl;
    catalog_files_list(f.cat, DB, M, INT64_MIN, INT64_MAX, &fl);
    assert_int_equal(fl.n, 1);
    uint64_t out_id = fl.files[0].id;
    char out_key[400];
    snprintf(out_key, sizeof(out_key), "%s", fl.files[0].key);
    catalog_file_list_free(&fl);
    struct errbuf eb = {0};
    assert_int_equal(catalog_files_remove(f.cat, &out_id, 1, &eb), RC_OK);
    assert_int_equal(storage_delete(f.st, out_key, &eb), RC_OK);
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 12); /* the inputs */

    struct compaction_recovery_stats rs;
    assert_int_equal(compaction_recover(f.temp, f.st, f.cat, &rs, &eb), RC_OK);
    assert_int_equal(rs.rolled_forward, 1);
    assert_int_equal(rs.inputs_deleted, 12);
    struct catalog_reconcile_stats rcs;
    assert_int_equal(flush_catalog_reconcile(f.cat, f.st, &rcs, &eb), RC_OK);
    assert_int_equal(rcs.added, 0);
    assert_int_equal(jfix_count_visible(&f, DB, M, NULL, NULL), 0);
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 0);
    jfix_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_output_removed_before_recovery),
    };
    return jtest_run(tests, sizeof(tests) / sizeof(tests[0]));
}
