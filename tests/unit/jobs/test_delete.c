/*
 * Unit tests for rewrite-based deletes (jobs/delete.c, SPEC §8.3, §8.4) with
 * a real DuckDB, catalog, buffer, flush writer and local storage:
 *   - exactly the matching rows are removed (counts and contents before and
 *     after), files are rewritten with the same metadata and compression,
 *     files left without rows are deleted, replaced objects are removed;
 *   - thresholds: dry runs report exceeds_max_rows / requires_confirmation,
 *     a real delete above max_rows_per_delete is refused;
 *   - confirm rules, full-table (constant) predicates, injection attempts
 *     and unknown columns refused (400), disabled → RC_DENIED (403);
 *   - buffered rows are flushed and covered; columns missing from some files
 *     are NULL there; busy partitions and failing files give a partial
 *     result (500) with failed_files; crash recovery of intents.
 */
#include "cqdel_fixture.h"

#include <sqlite3.h>

#include "jobs/delete.h"
#include "jobs/scheduler.h"
#include "util/faults.h"

/* Each test writes to its own database (one fixture for the whole group:
 * opening DuckDB engines dominates the run time). */
static char g_db[16];
#define DB g_db
#define M "cpu"
#define H14 "2025-01-15T14:00:00Z"

struct dfx {
    struct fx f;
    struct del_service *svc;
    struct del_options o;
};

static void open_del(struct dfx *d)
{
    struct errbuf eb = {0};
    if (del_service_new(&d->o, d->f.jobs_db, d->f.cat, d->f.st, d->f.cb, d->f.fl, &d->svc, &eb) !=
        RC_OK)
        fail_msg("del_service_new: %s", eb.msg);
}

/* 3 hours × 100 rows (host h0..h3, region eu/us, value = i), flushed: one
 * file per hour; then 20 rows of host h9 in hour 17: a fourth file. */
static void load_data(struct dfx *d)
{
    int64_t t0 = fx_t(H14);
    for (int h = 0; h < 3; h++) {
        struct batch *b = batch_new(DB, M);
        enum col_type ex;
        int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
        int region = batch_col_get(b, "region", 6, COL_STRING, true, &ex);
        int val = batch_col_get(b, "value", 5, COL_INT64, false, &ex);
        for (int i = 0; i < 100; i++) {
            size_t r = batch_row_add(b, t0 + h * US_PER_HOUR + (int64_t)i * 10 * US_PER_SEC);
            char s[8];
            snprintf(s, sizeof(s), "h%d", i % 4);
            batch_set_str(b, host, r, s, strlen(s));
            batch_set_str(b, region, r, i % 2 ? "us" : "eu", 2);
            batch_set_i64(b, val, r, i);
        }
        batch_seal(b);
        fx_admit(&d->f, b);
    }
    fx_flush(&d->f);
    struct batch *b = batch_new(DB, M);
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int val = batch_col_get(b, "value", 5, COL_INT64, false, &ex);
    for (int i = 0; i < 20; i++) {
        size_t r = batch_row_add(b, t0 + 3 * US_PER_HOUR + i * US_PER_SEC);
        batch_set_str(b, host, r, "h9", 2);
        batch_set_i64(b, val, r, 1000 + i);
    }
    batch_seal(b);
    fx_admit(&d->f, b);
    fx_flush(&d->f);
    assert_int_equal(fx_nfiles(&d->f, DB, M), 4);
}

static struct del_options default_options(void)
{
    return (struct del_options){.enabled = true,
                                .confirmation_threshold = 50,
                                .max_rows_per_delete = 1000,
                                .audit_enabled = true,
                                .lock_wait_ms = -1,
                                .grace_ms = -1};
}

static int group_setup(void **state)
{
    struct dfx *d = xcalloc(1, sizeof(*d));
    fx_open(&d->f);
    d->o = default_options();
    open_del(d);
    *state = d;
    return 0;
}

static int group_teardown(void **state)
{
    struct dfx *d = *state;
    del_service_free(&d->svc);
    assert_null(d->svc);
    fx_close(&d->f);
    xfree(d);
    return 0;
}

static void reopen_del(struct dfx *d);

/* Per test: a fresh database with the standard data, default options. */
static int setup(void **state)
{
    static int n;
    struct dfx *d = *state;
    snprintf(g_db, sizeof(g_db), "d%d", ++n);
    struct del_options o = default_options();
    if (memcmp(&o, &d->o, sizeof(o)) != 0) {
        d->o = o;
        reopen_del(d);
    }
    load_data(d);
    return 0;
}

static void reopen_del(struct dfx *d)
{
    del_service_free(&d->svc);
    open_del(d);
}

static int run(struct dfx *d, const char *where, bool dry, bool confirm, struct del_result *res,
               struct errbuf *eb)
{
    struct del_request q = {.database = DB,
                            .measurement = M,
                            .where = where,
                            .dry_run = dry,
                            .confirm = confirm,
                            .principal = "tester"};
    errbuf_clear(eb);
    return del_execute(d->svc, &q, res, eb);
}

static int64_t count(struct dfx *d, const char *where)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM " M "%s%s", where ? " WHERE " : "",
             where ? where : "");
    return fx_count(&d->f, DB, sql);
}

/* Catalog keys of the measurement, sorted, joined by '\n'. */
static char *keys(struct dfx *d)
{
    struct catalog_file_list l;
    catalog_files_list(d->f.cat, DB, M, INT64_MIN, INT64_MAX, &l);
    struct strbuf sb;
    strbuf_init(&sb, 0);
    for (size_t i = 0; i < l.n; i++)
        (void)strbuf_printf(&sb, "%s\n", l.files[i].key);
    catalog_file_list_free(&l);
    return strbuf_detach(&sb, NULL);
}

/* Runs sql on a private DuckDB; returns the first value as text. */
static char *duck1(const char *sql)
{
    duckdb_database db;
    duckdb_connection c;
    assert_int_equal(duckdb_open(NULL, &db), DuckDBSuccess);
    assert_int_equal(duckdb_connect(db, &c), DuckDBSuccess);
    duckdb_result r;
    if (duckdb_query(c, sql, &r) == DuckDBError)
        fail_msg("%s: %s", sql, duckdb_result_error(&r));
    char *v = duckdb_row_count(&r) ? duckdb_value_varchar(&r, 0, 0) : NULL;
    char *out = xstrdup(v ? v : "");
    duckdb_free(v);
    duckdb_destroy_result(&r);
    duckdb_disconnect(&c);
    duckdb_close(&db);
    return out;
}

/* ---- exact rows ------------------------------------------------------------------ */

static void test_delete_exact_rows(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    assert_int_equal(count(d, NULL), 320);
    char *keep_before = fx_rows(
        &d->f, DB, "SELECT time, host, region, value FROM " M " WHERE host <> 'h1' ORDER BY 1, 2");
    char *keys_before = keys(d);

    /* Dry run: counts only. */
    assert_int_equal(run(d, "host = 'h1'", true, false, &res, &eb), RC_OK);
    assert_true(res.dry_run);
    assert_int_equal(res.deleted_count, 75);
    assert_int_equal(res.affected_files, 3);
    assert_true(res.requires_confirmation); /* 75 > 50 */
    assert_false(res.exceeds_max_rows);
    assert_int_equal(res.n_processed, 0);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 320);
    char *k = keys(d);
    assert_string_equal(k, keys_before);
    xfree(k);

    /* The real delete. */
    assert_int_equal(run(d, "WHERE host = 'h1'", false, true, &res, &eb), RC_OK);
    assert_false(res.dry_run);
    assert_int_equal(res.deleted_count, 75);
    assert_int_equal(res.affected_files, 3);
    assert_int_equal(res.rewritten_files, 3);
    assert_int_equal(res.deleted_files, 0);
    assert_int_equal(res.n_processed, 3);
    assert_int_equal(res.n_failed, 0);
    for (size_t i = 0; i < res.n_processed; i++) {
        assert_non_null(strstr(keys_before, res.files_processed[i]));
        assert_false(fx_object_exists(&d->f, res.files_processed[i])); /* grace < 0 */
    }
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 245);
    assert_int_equal(count(d, "host = 'h1'"), 0);
    char *keep_after = fx_rows(
        &d->f, DB, "SELECT time, host, region, value FROM " M " WHERE host <> 'h1' ORDER BY 1, 2");
    assert_string_equal(keep_after, keep_before);
    xfree(keep_before);
    xfree(keep_after);
    assert_int_equal(fx_nfiles(&d->f, DB, M), 4);

    /* Rewritten files: same directory, same compression and arc:tags,
     * rows still sorted by time, exact catalog entries. */
    struct catalog_file_list l;
    catalog_files_list(d->f.cat, DB, M, INT64_MIN, INT64_MAX, &l);
    size_t rewritten = 0;
    for (size_t i = 0; i < l.n; i++) {
        const struct catalog_file *cf = &l.files[i];
        if (strstr(keys_before, cf->key))
            continue; /* the untouched h9 file */
        rewritten++;
        assert_true(fx_object_exists(&d->f, cf->key));
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "%s/cpu/2025/01/15/1", DB);
        assert_int_equal(strncmp(cf->key, prefix, strlen(prefix)), 0);
        assert_int_equal(cf->row_count, 75);
        assert_int_equal(cf->min_time_us % US_PER_HOUR, 0); /* i = 0 is host h0 */
        char sql[1600];
        snprintf(sql, sizeof(sql),
                 "SELECT decode(value) FROM parquet_kv_metadata('%s/%s') WHERE decode(key) = "
                 "'arc:tags'",
                 d->f.root, cf->key);
        char *tags = duck1(sql);
        assert_string_equal(tags, "host,region");
        xfree(tags);
        snprintf(sql, sizeof(sql), "SELECT DISTINCT compression FROM parquet_metadata('%s/%s')",
                 d->f.root, cf->key);
        char *comp = duck1(sql);
        assert_string_equal(comp, "ZSTD");
        xfree(comp);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM (SELECT time < lag(time) OVER () AS back FROM "
                 "read_parquet('%s/%s')) WHERE back",
                 d->f.root, cf->key);
        char *back = duck1(sql);
        assert_string_equal(back, "0");
        xfree(back);
    }
    catalog_file_list_free(&l);
    assert_int_equal(rewritten, 3);
    xfree(keys_before);

    /* Deleting again finds nothing. */
    assert_int_equal(run(d, "host = 'h1'", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 0);
    assert_int_equal(res.affected_files, 0);
    del_result_cleanup(&res);
}

static void test_zero_row_files_deleted(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    char *before = keys(d);
    assert_int_equal(run(d, "host = 'h9' OR value >= 1000", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 20);
    assert_int_equal(res.affected_files, 1);
    assert_int_equal(res.deleted_files, 1);
    assert_int_equal(res.rewritten_files, 0);
    assert_int_equal(res.n_processed, 1);
    assert_non_null(strstr(before, res.files_processed[0]));
    assert_false(fx_object_exists(&d->f, res.files_processed[0]));
    del_result_cleanup(&res);
    assert_int_equal(fx_nfiles(&d->f, DB, M), 3);
    assert_int_equal(count(d, NULL), 300);
    /* The other files were not touched. */
    char *after = keys(d);
    assert_non_null(strstr(before, after));
    xfree(before);
    xfree(after);
}

/* ---- thresholds and confirmation ------------------------------------------------------ */

static void test_thresholds(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    d->o.max_rows_per_delete = 50;
    reopen_del(d);
    /* Real delete above the maximum: refused even with confirm. */
    assert_int_equal(run(d, "host = 'h1'", false, true, &res, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "max_rows_per_delete"));
    assert_int_equal(res.deleted_count, 0);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 320);
    /* A dry run never fails on thresholds. */
    assert_int_equal(run(d, "host = 'h1'", true, false, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 75);
    assert_true(res.exceeds_max_rows);
    assert_true(res.requires_confirmation);
    del_result_cleanup(&res);
    /* 25 rows: below both. */
    assert_int_equal(
        run(d, "host = 'h1' AND time < '2025-01-15T15:00:00Z'", true, false, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 25);
    assert_false(res.exceeds_max_rows);
    assert_false(res.requires_confirmation);
    del_result_cleanup(&res);
    assert_int_equal(
        run(d, "host = 'h1' AND time < '2025-01-15T15:00:00Z'", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 25);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 295);
}

static void test_confirm_rules(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    /* Rule 5: a real delete needs confirm. */
    assert_int_equal(run(d, "host = 'h1'", false, false, &res, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "confirm"));
    del_result_cleanup(&res);
    /* Rule 4: constant predicates are full-table deletes, even for dry runs. */
    const char *consts[] = {"1=1", "TRUE", "1", "WHERE 1 = 1", "NOT FALSE", "(1=1) OR (2=3)"};
    for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
        assert_int_equal(run(d, consts[i], true, false, &res, &eb), RC_INVALID);
        if (!strstr(eb.msg, "requires confirm=true"))
            fail_msg("%s: %s", consts[i], eb.msg);
        del_result_cleanup(&res);
    }
    assert_int_equal(run(d, "1=1", true, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 320);
    assert_int_equal(res.affected_files, 4);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 320);
    assert_int_equal(run(d, "1=1", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 320);
    assert_int_equal(res.deleted_files, 4);
    del_result_cleanup(&res);
    assert_int_equal(fx_nfiles(&d->f, DB, M), 0);
    /* A constant false predicate deletes nothing. */
    assert_int_equal(run(d, "1=0", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 0);
    del_result_cleanup(&res);
}

/* ---- refused input -------------------------------------------------------------------- */

static void test_injection_refused(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    const char *bad[] = {
        "1=1; DROP TABLE x",
        "host IN (SELECT host FROM y)",
        "read_csv('/etc/passwd') IS NOT NULL",
        "host = 'a' -- x",
        "host = 'a' UNION SELECT 1",
        "host = 'a' /* c */",
        "host = 'a'; DELETE FROM cpu",
        "CAST(value AS VARCHAR) = '1'",
        "value::VARCHAR = '1'",
        "host = (SELECT 'h1')",
        "length(host) = 2",
        "EXISTS (SELECT 1)",
        "value + 1 = 2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = run(d, bad[i], false, true, &res, &eb);
        if (rc != RC_INVALID)
            fail_msg("'%s' not refused: %s %s", bad[i], rc_name(rc), eb.msg);
        del_result_cleanup(&res);
        rc = run(d, bad[i], true, true, &res, &eb);
        assert_int_equal(rc, RC_INVALID);
        del_result_cleanup(&res);
    }
    /* Empty, unknown column, a column of another measurement. */
    const char *invalid[] = {"", "   ", "WHERE", "nope = 1", "\"Host \" = 'h1'"};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        int rc = run(d, invalid[i], false, true, &res, &eb);
        if (rc != RC_INVALID)
            fail_msg("'%s' not refused: %s", invalid[i], rc_name(rc));
        del_result_cleanup(&res);
    }
    assert_int_equal(run(d, "nope = 1", true, true, &res, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "unknown column 'nope'"));
    del_result_cleanup(&res);
    struct del_request q = {
        .database = NULL, .measurement = M, .where = "host = 'a'", .confirm = true};
    assert_int_equal(del_execute(d->svc, &q, &res, &eb), RC_INVALID);
    del_result_cleanup(&res);
    q.database = "bad/db";
    errbuf_clear(&eb);
    assert_int_equal(del_execute(d->svc, &q, &res, &eb), RC_INVALID);
    del_result_cleanup(&res);
    q.database = DB;
    q.measurement = "../x";
    errbuf_clear(&eb);
    assert_int_equal(del_execute(d->svc, &q, &res, &eb), RC_INVALID);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 320);
    assert_int_equal(fx_nfiles(&d->f, DB, M), 4);
    /* Quoted identifiers and escaped literals work. */
    assert_int_equal(run(d, "\"host\" = 'h''1' OR \"region\" IN ('xx')", true, true, &res, &eb),
                     RC_OK);
    assert_int_equal(res.deleted_count, 0);
    del_result_cleanup(&res);
}

static void test_disabled(void **state)
{
    struct dfx *d = *state;
    d->o.enabled = false;
    reopen_del(d);
    struct del_result res;
    struct errbuf eb = {0};
    assert_int_equal(run(d, "host = 'h1'", false, true, &res, &eb), RC_DENIED);
    del_result_cleanup(&res);
    assert_int_equal(run(d, "host = 'h1'", true, false, &res, &eb), RC_DENIED);
    del_result_cleanup(&res);
    /* Rule 1 comes first: even an invalid request is 403. */
    assert_int_equal(run(d, "1=1; DROP TABLE x", false, false, &res, &eb), RC_DENIED);
    del_result_cleanup(&res);
    size_t n = 0;
    errbuf_clear(&eb);
    assert_int_equal(del_drop_measurement(d->svc, DB, M, &n, &eb), RC_DENIED);
    assert_int_equal(count(d, NULL), 320);
}

/* ---- buffered rows, missing columns, time predicates ----------------------------------- */

static void test_buffered_rows_and_missing_columns(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    /* Rows acknowledged but still buffered, with a column the files lack. */
    int64_t t = fx_t("2025-01-15T18:00:00Z");
    struct batch *b = batch_new(DB, M);
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int extra = batch_col_get(b, "extra", 5, COL_STRING, false, &ex);
    for (int i = 0; i < 10; i++) {
        size_t r = batch_row_add(b, t + i * US_PER_SEC);
        batch_set_str(b, host, r, "h1", 2);
        if (i < 8) /* rows 8 and 9 lack `extra`: the predicate is NULL there */
            batch_set_str(b, extra, r, i < 4 ? "x" : "y", 1);
    }
    batch_seal(b);
    fx_admit(&d->f, b);
    assert_int_equal(count(d, NULL), 330);
    /* Only the buffered rows have extra = 'x'; rows where the predicate is
     * NULL are kept. */
    assert_int_equal(run(d, "extra = 'x'", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 4);
    assert_int_equal(res.affected_files, 1);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 326);
    assert_int_equal(count(d, "extra = 'y'"), 4);
    assert_int_equal(count(d, "extra IS NULL AND time >= '2025-01-15T18:00:00Z'"), 2);
    /* Files without `extra` read it as NULL: hour 14 only, by time. */
    assert_int_equal(run(d,
                         "extra IS NULL AND time >= TIMESTAMP '2025-01-15T14:00:00Z' AND time < "
                         "'2025-01-15T15:00:00Z'",
                         false, true, &res, &eb),
                     RC_OK);
    assert_int_equal(res.deleted_count, 100);
    assert_int_equal(res.deleted_files, 1);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 226);
    assert_int_equal(count(d, "time < '2025-01-15T15:00:00Z'"), 0);
    /* BETWEEN, NOT IN, LIKE, IS NOT NULL over several files. */
    assert_int_equal(run(d,
                         "value BETWEEN 10 AND 19 AND host NOT IN ('h0') AND region LIKE 'e%' "
                         "AND region IS NOT NULL",
                         false, true, &res, &eb),
                     RC_OK);
    /* i in 10..19, even (eu), i % 4 != 0: 10, 14, 18 → per hour 15 and 16. */
    assert_int_equal(res.deleted_count, 6);
    del_result_cleanup(&res);
    assert_int_equal(count(d, NULL), 220);
}

/* ---- partial failures ------------------------------------------------------------------ */

static void test_partial_failure(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    setenv("ARC_TEST_FAULTS", "delete_fail_after=1", 1);
    faults_reload();
    int rc = run(d, "host = 'h2'", false, true, &res, &eb);
    unsetenv("ARC_TEST_FAULTS");
    faults_reload();
    assert_int_equal(rc, RC_INTERNAL);
    assert_int_equal(res.affected_files, 3);
    assert_int_equal(res.n_processed, 1);
    assert_int_equal(res.n_failed, 2);
    assert_int_equal(res.deleted_count, 25);
    for (size_t i = 0; i < res.n_failed; i++)
        assert_true(fx_object_exists(&d->f, res.failed_files[i])); /* untouched */
    del_result_cleanup(&res);
    assert_int_equal(count(d, "host = 'h2'"), 50);
    assert_int_equal(count(d, NULL), 295);
    /* No leftovers: exactly 4 files, no staging files. */
    assert_int_equal(fx_nfiles(&d->f, DB, M), 4);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -name '.*' -type f)\"", d->f.root);
    assert_int_equal(system(cmd), 0);
    /* Retry completes the job. */
    assert_int_equal(run(d, "host = 'h2'", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 50);
    del_result_cleanup(&res);
    assert_int_equal(count(d, "host = 'h2'"), 0);
}

static void test_busy_partition(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    char hour[64], day[64];
    snprintf(hour, sizeof(hour), "%s/cpu/2025/01/15/15", DB);
    snprintf(day, sizeof(day), "%s/cpu/2025/01/15", DB);
    assert_true(partlock_try(hour, "compaction:test", 60000));
    int rc = run(d, "host = 'h3'", false, true, &res, &eb);
    assert_int_equal(rc, RC_INTERNAL);
    assert_int_equal(res.n_failed, 3); /* all three hours share the locked day */
    assert_int_equal(res.n_processed, 0);
    del_result_cleanup(&res);
    partlock_release(hour, "compaction:test");
    assert_int_equal(count(d, "host = 'h3'"), 75);
    /* The delete released its own locks. */
    assert_false(partlock_is_held(day, NULL));
    assert_int_equal(run(d, "host = 'h3'", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.deleted_count, 75);
    del_result_cleanup(&res);
}

/* ---- grace period and recovery ----------------------------------------------------------- */

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
    sqlite3_close(db);
}

static void test_grace_and_recovery(void **state)
{
    struct dfx *d = *state;
    struct del_result res;
    struct errbuf eb = {0};
    /* With a grace period the replaced object stays until reaped. */
    d->o.grace_ms = 3600 * 1000;
    reopen_del(d);
    assert_int_equal(run(d, "host = 'h9'", false, true, &res, &eb), RC_OK);
    assert_int_equal(res.n_processed, 1);
    char *old = xstrdup(res.files_processed[0]);
    del_result_cleanup(&res);
    assert_true(fx_object_exists(&d->f, old));
    assert_int_equal(count(d, NULL), 300); /* but not visible */
    size_t n = 9;
    assert_int_equal(del_reap(d->svc, time_now_us(), &n, &eb), RC_OK);
    assert_int_equal(n, 0);
    assert_true(fx_object_exists(&d->f, old));
    /* A restart removes it (no query can be reading it then). */
    reopen_del(d);
    assert_false(fx_object_exists(&d->f, old));
    xfree(old);

    /* A crash after the new file was put, before the swap: rolled back. */
    struct catalog_file_list l;
    catalog_files_list(d->f.cat, DB, M, INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 3);
    char src[1400], dst[1400], key_new[1100], key_old[1100];
    snprintf(key_old, sizeof(key_old), "%s", l.files[0].key);
    snprintf(key_new, sizeof(key_new), "%.*s/cpu_20250115_140000_000000777.parquet",
             (int)(strrchr(l.files[0].key, '/') - l.files[0].key), l.files[0].key);
    char other_old[1100];
    snprintf(other_old, sizeof(other_old), "%s", l.files[1].key);
    catalog_file_list_free(&l);
    snprintf(src, sizeof(src), "%s/%s", d->f.root, key_old);
    snprintf(dst, sizeof(dst), "%s/%s", d->f.root, key_new);
    char cmd[3000];
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
    assert_int_equal(system(cmd), 0);
    struct catalog_file_entry e = {.key = key_new,
                                   .db = DB,
                                   .measurement = M,
                                   .min_time_us = fx_t(H14),
                                   .max_time_us = fx_t(H14) + US_PER_HOUR - 1,
                                   .row_count = 100,
                                   .bytes = 1,
                                   .tier = CATALOG_TIER_RAW};
    uint64_t id = 0;
    assert_int_equal(catalog_files_add(d->f.cat, &e, 1, &id, &eb), RC_OK);
    catalog_files_publish(d->f.cat, &id, 1); /* as catalog_open would after a crash */
    assert_int_equal(count(d, NULL), 400);
    char sql[4000];
    snprintf(sql, sizeof(sql),
             "INSERT INTO del_intents (db, measurement, old_key, new_key, state, due_us) VALUES "
             "('%s', '" M "', '%s', '%s', 0, 0);"
             /* and one that was swapped: its old file must go */
             "INSERT INTO del_intents (db, measurement, old_key, new_key, state, due_us) VALUES "
             "('%s', '" M "', '%s', NULL, 1, 9223372036854775807);",
             DB, key_old, key_new, DB, other_old);
    sql_exec(d->f.jobs_db, sql);
    reopen_del(d);
    assert_false(fx_object_exists(&d->f, key_new));
    assert_true(fx_object_exists(&d->f, key_old));
    assert_false(fx_object_exists(&d->f, other_old));
    assert_int_equal(fx_nfiles(&d->f, DB, M), 2);
    assert_int_equal(count(d, NULL), 200);
    /* Nothing left to recover. */
    reopen_del(d);
    assert_int_equal(fx_nfiles(&d->f, DB, M), 2);
}

static void test_drop_measurement(void **state)
{
    struct dfx *d = *state;
    struct errbuf eb = {0};
    char *before = keys(d);
    size_t n = 0;
    assert_int_equal(del_drop_measurement(d->svc, DB, M, &n, &eb), RC_OK);
    assert_int_equal(n, 4);
    assert_int_equal(fx_nfiles(&d->f, DB, M), 0);
    for (char *line = before, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        *nl = '\0';
        assert_false(fx_object_exists(&d->f, line));
    }
    xfree(before);
    errbuf_clear(&eb);
    assert_int_equal(del_drop_measurement(d->svc, DB, "bad/name", &n, &eb), RC_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_delete_exact_rows, setup),
        cmocka_unit_test_setup(test_zero_row_files_deleted, setup),
        cmocka_unit_test_setup(test_thresholds, setup),
        cmocka_unit_test_setup(test_confirm_rules, setup),
        cmocka_unit_test_setup(test_injection_refused, setup),
        cmocka_unit_test_setup(test_disabled, setup),
        cmocka_unit_test_setup(test_buffered_rows_and_missing_columns, setup),
        cmocka_unit_test_setup(test_partial_failure, setup),
        cmocka_unit_test_setup(test_busy_partition, setup),
        cmocka_unit_test_setup(test_grace_and_recovery, setup),
        cmocka_unit_test_setup(test_drop_measurement, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
