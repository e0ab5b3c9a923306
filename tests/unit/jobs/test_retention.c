/* Unit tests for jobs/retention*.c with real raw flush files, the real
 * catalog and local storage:
 *   - policy CRUD: validation messages, duplicate names, full replacement,
 *     delete with history, persistence across reopen;
 *   - exact cut-off semantics: now − (retention_days + buffer_days); a file
 *     goes iff its max time < cutoff (a row exactly at the cutoff keeps its
 *     file, a straddling file is kept); files only known from a storage
 *     listing (approximate range) are decided by their Parquet statistics;
 *     policy scope (one measurement or the whole database, never another
 *     database);
 *   - dry run changes nothing and reports the same numbers;
 *   - confirm required, inactive policy refused, unknown id;
 *   - emptied hour/day directories removed, others kept;
 *   - execution history and last_* fields; busy partition locks skip files;
 *   - query cache cleared; run_all and scheduling. */
#include "jobs_fixture.h"

#include "jobs/retention.h"
#include "jobs/scheduler.h"
#include "query/qcache.h"

#define DB "default"

/* now = 2025-03-01T12:30:00Z; policy 10 + 2 days -> cutoff 2025-02-17T12:30:00Z. */
#define NOW "2025-03-01T12:30:00Z"
#define CUTOFF "2025-02-17T12:30:00Z"

static struct retention *ropen(struct jfix *f)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/meta/arc.db", f->dir);
    struct retention_options o = {.db_path = path, .temp_dir = f->temp, .lock_wait_ms = 100};
    struct retention *r = NULL;
    struct errbuf eb = {0};
    if (retention_open(&o, f->st, f->cat, &r, &eb) != RC_OK)
        fail_msg("retention_open: %s", eb.msg);
    return r;
}

/* One raw file of (db, m) with rows at the given RFC 3339 times. */
static void file_at(struct jfix *f, const char *db, const char *m, const char *const *times,
                    size_t n)
{
    struct batch *b = batch_new(db, m);
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int v = batch_col_get(b, "v", 1, COL_DOUBLE, false, &ex);
    for (size_t i = 0; i < n; i++) {
        size_t r = batch_row_add(b, jfix_time(times[i]));
        batch_set_str(b, host, r, "a", 1);
        batch_set_f64(b, v, r, (double)i);
    }
    batch_seal(b);
    jfix_flush(f, b);
}

#define FILE_AT(f, db, m, ...)                                                                     \
    do {                                                                                           \
        const char *const t_[] = {__VA_ARGS__};                                                    \
        file_at((f), (db), (m), t_, sizeof(t_) / sizeof(t_[0]));                                   \
    } while (0)

static int64_t rows_of(struct jfix *f, const char *db, const char *m)
{
    struct catalog_file_list fl;
    catalog_files_list(f->cat, db, m, INT64_MIN, INT64_MAX, &fl);
    int64_t n = 0;
    for (size_t i = 0; i < fl.n; i++)
        n += fl.files[i].row_count;
    catalog_file_list_free(&fl);
    return n;
}

static bool exists(struct jfix *f, const char *rel)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", f->root, rel);
    return access(p, F_OK) == 0;
}

static struct retention_policy_input input(const char *name, const char *db, const char *m,
                                           int64_t days, int64_t buffer)
{
    return (struct retention_policy_input){.name = name,
                                           .database = db,
                                           .measurement = m,
                                           .retention_days = days,
                                           .buffer_days = buffer,
                                           .is_active = true};
}

static void test_crud(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    struct retention *r = ropen(&f);
    struct retention_policy p, q;
    struct errbuf eb = {0};
    struct {
        struct retention_policy_input in;
        const char *msg;
    } bad[] = {
        {input(NULL, DB, NULL, 30, 7), "name is required"},
        {input("", DB, NULL, 30, 7), "name is required"},
        {input("x", NULL, NULL, 30, 7), "database is required"},
        {input("x", "9bad", NULL, 30, 7), "Invalid database name"},
        {input("x", DB, "bad m", 30, 7), "Invalid measurement name"},
        {input("x", DB, NULL, 0, 0), "retention_days must be an integer greater than 0"},
        {input("x", DB, NULL, 30, -1), "buffer_days must be an integer >= 0"},
        {input("x", DB, NULL, 7, 7), "retention_days must be greater than buffer_days"},
        {input("x", DB, NULL, 5, 7), "retention_days must be greater than buffer_days"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errbuf_clear(&eb);
        assert_int_equal(retention_create(r, &bad[i].in, &p, &eb), RC_INVALID);
        if (!strstr(eb.msg, bad[i].msg))
            fail_msg("case %zu: %s", i, eb.msg);
    }
    struct retention_policy_input a = input("keep-30", DB, NULL, 30, 7);
    errbuf_clear(&eb);
    assert_int_equal(retention_create(r, &a, &p, &eb), RC_OK);
    assert_true(p.id > 0);
    assert_string_equal(p.name, "keep-30");
    assert_string_equal(p.database, DB);
    assert_false(p.has_measurement);
    assert_int_equal(p.retention_days, 30);
    assert_int_equal(p.buffer_days, 7);
    assert_true(p.is_active);
    assert_false(p.has_last_execution);
    assert_true(p.created_at_us > 0 && p.created_at_us == p.updated_at_us);
    assert_int_equal(retention_create(r, &a, &q, &eb), RC_EXISTS);
    assert_string_equal(eb.msg, "Retention policy 'keep-30' already exists");
    struct retention_policy_input b = input("cpu-only", DB, "cpu", 3, 0);
    b.is_active = false;
    errbuf_clear(&eb);
    assert_int_equal(retention_create(r, &b, &q, &eb), RC_OK);
    assert_true(q.has_measurement);
    assert_string_equal(q.measurement, "cpu");
    assert_false(q.is_active);

    struct retention_policy *all = NULL;
    size_t n = 0;
    assert_int_equal(retention_list(r, &all, &n, &eb), RC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(all[0].id, p.id);
    assert_int_equal(all[1].id, q.id);
    xfree(all);

    /* Full replacement: measurement back to NULL, created_at kept. */
    time_sleep_ms(2);
    struct retention_policy_input c = input("cpu-all", "other", NULL, 9, 1);
    struct retention_policy u;
    assert_int_equal(retention_update(r, q.id, &c, &u, &eb), RC_OK);
    assert_int_equal(u.id, q.id);
    assert_string_equal(u.name, "cpu-all");
    assert_string_equal(u.database, "other");
    assert_false(u.has_measurement);
    assert_true(u.is_active);
    assert_int_equal(u.created_at_us, q.created_at_us);
    assert_true(u.updated_at_us > q.updated_at_us);
    /* Renaming onto another policy's name; unknown ids. */
    c.name = "keep-30";
    assert_int_equal(retention_update(r, q.id, &c, &u, &eb), RC_EXISTS);
    errbuf_clear(&eb);
    assert_int_equal(retention_update(r, 999, &a, &u, &eb), RC_NOT_FOUND);
    assert_string_equal(eb.msg, "Retention policy not found");
    errbuf_clear(&eb);
    assert_int_equal(retention_get(r, 999, &u, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);
    assert_int_equal(retention_delete(r, 999, &eb), RC_NOT_FOUND);

    /* Persistence. */
    retention_close(&r);
    assert_null(r);
    r = ropen(&f);
    errbuf_clear(&eb);
    assert_int_equal(retention_get(r, q.id, &u, &eb), RC_OK);
    assert_string_equal(u.name, "cpu-all");
    assert_int_equal(retention_delete(r, q.id, &eb), RC_OK);
    assert_int_equal(retention_get(r, q.id, &u, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);
    assert_int_equal(retention_list(r, &all, &n, &eb), RC_OK);
    assert_int_equal(n, 1);
    xfree(all);
    /* A new policy never reuses an id. */
    struct retention_policy_input d = input("new", DB, NULL, 2, 1);
    assert_int_equal(retention_create(r, &d, &u, &eb), RC_OK);
    assert_true(u.id > q.id);
    retention_close(&r);
    jfix_close(&f);
}

/* The data set of the cut-off tests (cutoff = 2025-02-17T12:30:00Z):
 *   cpu/2025/02/16/10  A: 2 rows, all older            -> deleted
 *   cpu/2025/02/17/11  B: 3 rows up to 11:59:59.999999   -> deleted
 *   cpu/2025/02/17/12  C: 12:00, 12:29:59.999999         -> deleted (max < cutoff)
 *   cpu/2025/02/17/12  D: 12:10, 12:30:00 (= cutoff)     -> kept
 *   cpu/2025/02/17/12  E: 12:00, 12:45 (straddles)       -> kept
 *   cpu/2025/02/18/00  F: 1 row, newer                   -> kept
 *   mem/2025/02/10/00  G: 4 rows, older                  -> deleted (whole-database policy)
 *   other/cpu/2025/01/01/00  H: older, other database    -> kept
 */
static void fill_cutoff_data(struct jfix *f)
{
    FILE_AT(f, DB, "cpu", "2025-02-16T10:00:00Z", "2025-02-16T10:59:00Z");
    FILE_AT(f, DB, "cpu", "2025-02-17T11:00:00Z", "2025-02-17T11:30:00Z",
            "2025-02-17T11:59:59.999999Z");
    FILE_AT(f, DB, "cpu", "2025-02-17T12:00:00Z", "2025-02-17T12:29:59.999999Z");
    FILE_AT(f, DB, "cpu", "2025-02-17T12:10:00Z", CUTOFF);
    FILE_AT(f, DB, "cpu", "2025-02-17T12:00:00Z", "2025-02-17T12:45:00Z");
    FILE_AT(f, DB, "cpu", "2025-02-18T00:00:00Z");
    FILE_AT(f, DB, "mem", "2025-02-10T00:00:00Z", "2025-02-10T00:00:01Z", "2025-02-10T00:00:02Z",
            "2025-02-10T00:00:03Z");
    FILE_AT(f, "other", "cpu", "2025-01-01T00:00:00Z");
}

static void test_cutoff_and_dry_run(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    struct qcache_options qo = {.enabled = true,
                                .ttl_ms = 60000,
                                .max_entries = 10,
                                .max_result_bytes = 1 << 20,
                                .max_total_bytes = 1 << 20};
    struct qcache *qc = qcache_new(&qo);
    qcache_set_global(qc);
    fill_cutoff_data(&f);
    assert_int_equal(rows_of(&f, DB, "cpu"), 12);
    struct retention *r = ropen(&f);
    struct retention_policy p;
    struct errbuf eb = {0};
    struct retention_policy_input in = input("db-12d", DB, NULL, 10, 2);
    assert_int_equal(retention_create(r, &in, &p, &eb), RC_OK);
    int64_t now = jfix_time(NOW);

    /* Dry run: numbers, nothing changed, nothing recorded. */
    struct retention_result res;
    assert_int_equal(retention_execute(r, p.id, true, false, now, &res, &eb), RC_OK);
    assert_int_equal(res.policy_id, p.id);
    assert_string_equal(res.policy_name, "db-12d");
    assert_true(res.dry_run);
    assert_int_equal(res.cutoff_us, jfix_time(CUTOFF));
    assert_int_equal(res.files_deleted, 4);  /* A, B, C, G */
    assert_int_equal(res.deleted_count, 11); /* 2 + 3 + 2 + 4 */
    assert_int_equal(res.n_affected, 2);
    assert_string_equal(res.affected[0], "cpu");
    assert_string_equal(res.affected[1], "mem");
    retention_result_cleanup(&res);
    assert_int_equal(rows_of(&f, DB, "cpu"), 12);
    assert_int_equal(jfix_count_objects(&f, ""), 8);
    struct retention_execution *ex = NULL;
    size_t nex = 9;
    assert_int_equal(retention_executions(r, p.id, 50, &ex, &nex, &eb), RC_OK);
    assert_int_equal(nex, 0);
    uint64_t gen0 = qcache_generation(qc);

    /* Refusals. */
    assert_int_equal(retention_execute(r, p.id, false, false, now, &res, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "confirm"));
    errbuf_clear(&eb);
    assert_int_equal(retention_execute(r, 4242, false, true, now, &res, &eb), RC_NOT_FOUND);
    errbuf_clear(&eb);

    /* The real run. */
    assert_int_equal(retention_execute(r, p.id, false, true, now, &res, &eb), RC_OK);
    assert_false(res.dry_run);
    assert_int_equal(res.files_deleted, 4);
    assert_int_equal(res.deleted_count, 11);
    assert_int_equal(res.files_skipped, 0);
    retention_result_cleanup(&res);
    assert_true(qcache_generation(qc) > gen0);
    /* Exactly D, E, F remain of cpu: 2 + 2 + 1 rows; the row at 12:00 of E
     * (older than the cutoff) stays with its straddling file. */
    assert_int_equal(rows_of(&f, DB, "cpu"), 5);
    assert_int_equal(rows_of(&f, DB, "mem"), 0);
    assert_int_equal(rows_of(&f, "other", "cpu"), 1);
    char *list = jfix_visible_list(&f, DB, "cpu", NULL);
    char sql[4096];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FILTER (WHERE time < '%s'), min(time) >= '2025-02-17T12:00:00Z' "
             "FROM read_parquet(%s)",
             CUTOFF, list);
    char *txt = jfix_duck(f.conn, sql, NULL);
    assert_non_null(strstr(txt, "\n2|true\n")); /* D 12:10 and E 12:00 */
    xfree(txt);
    xfree(list);
    assert_int_equal(jfix_count_objects(&f, ""), 4);
    /* Emptied directories: hour and day of A (and the day of G, and its
     * month); the hour of B; the 12 hour dir (still has D, E) stays. */
    assert_false(exists(&f, "default/cpu/2025/02/16/10"));
    assert_false(exists(&f, "default/cpu/2025/02/16"));
    assert_false(exists(&f, "default/cpu/2025/02/17/11"));
    assert_true(exists(&f, "default/cpu/2025/02/17/12"));
    assert_true(exists(&f, "default/cpu/2025/02/18/00"));
    assert_false(exists(&f, "default/mem/2025/02/10"));
    assert_true(exists(&f, "default/mem"));
    assert_true(exists(&f, "other/cpu/2025/01/01/00"));

    /* History and last_* fields. */
    assert_int_equal(retention_executions(r, p.id, 50, &ex, &nex, &eb), RC_OK);
    assert_int_equal(nex, 1);
    assert_string_equal(ex[0].status, "completed");
    assert_int_equal(ex[0].deleted_count, 11);
    assert_int_equal(ex[0].cutoff_us, jfix_time(CUTOFF));
    assert_int_equal(ex[0].policy_id, p.id);
    assert_false(ex[0].has_error);
    assert_true(ex[0].execution_duration_ms >= 0);
    xfree(ex);
    struct retention_policy after;
    assert_int_equal(retention_get(r, p.id, &after, &eb), RC_OK);
    assert_true(after.has_last_execution);
    assert_string_equal(after.last_execution_status, "completed");
    assert_int_equal(after.last_deleted_count, 11);

    /* Again: nothing left to do; history newest first with a limit. */
    assert_int_equal(retention_execute(r, p.id, false, true, now, &res, &eb), RC_OK);
    assert_int_equal(res.files_deleted, 0);
    assert_int_equal(res.n_affected, 0);
    retention_result_cleanup(&res);
    assert_int_equal(retention_executions(r, p.id, 1, &ex, &nex, &eb), RC_OK);
    assert_int_equal(nex, 1);
    assert_int_equal(ex[0].deleted_count, 0);
    xfree(ex);
    assert_int_equal(retention_executions(r, 777, 5, &ex, &nex, &eb), RC_NOT_FOUND);

    /* Inactive policies are refused. */
    in.is_active = false;
    errbuf_clear(&eb);
    assert_int_equal(retention_update(r, p.id, &in, &after, &eb), RC_OK);
    assert_int_equal(retention_execute(r, p.id, true, false, now, &res, &eb), RC_INVALID);
    assert_string_equal(eb.msg, "Retention policy is not active");
    retention_close(&r);
    qcache_set_global(NULL);
    qcache_free(&qc);
    jfix_close(&f);
}

/* Measurement scope, files known only from a storage listing, busy locks. */
static void test_scope_listing_locks(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    fill_cutoff_data(&f);
    /* Two files put straight into storage (another node, or lost catalog
     * entries): reconciliation registers them with their hour's range and
     * unknown rows. In hour 12: one entirely older, one straddling. */
    char p1[600], p2[600];
    snprintf(p1, sizeof(p1), "%s/x1.parquet", f.dir);
    snprintf(p2, sizeof(p2), "%s/x2.parquet", f.dir);
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "COPY (SELECT TIMESTAMPTZ '2025-02-17 12:05:00+00' + INTERVAL (i) MINUTE AS time, "
             "'b' AS host FROM range(3) t(i)) TO '%s' (FORMAT parquet)",
             p1);
    xfree(jfix_duck(f.conn, sql, NULL));
    snprintf(sql, sizeof(sql),
             "COPY (SELECT TIMESTAMPTZ '2025-02-17 12:25:00+00' + INTERVAL (i) MINUTE AS time, "
             "'b' AS host FROM range(10) t(i)) TO '%s' (FORMAT parquet)",
             p2);
    xfree(jfix_duck(f.conn, sql, NULL));
    struct errbuf eb = {0};
    assert_int_equal(
        storage_put_file(f.st, p1, "default/cpu/2025/02/17/12/ext_1.parquet", 0, NULL, &eb), RC_OK);
    assert_int_equal(
        storage_put_file(f.st, p2, "default/cpu/2025/02/17/12/ext_2.parquet", 0, NULL, &eb), RC_OK);
    struct catalog_reconcile_stats rs;
    assert_int_equal(flush_catalog_reconcile(f.cat, f.st, &rs, &eb), RC_OK);
    assert_int_equal(rs.added, 2);

    struct retention *r = ropen(&f);
    struct retention_policy p;
    struct retention_policy_input in = input("cpu-12d", DB, "cpu", 10, 2);
    assert_int_equal(retention_create(r, &in, &p, &eb), RC_OK);
    int64_t now = jfix_time(NOW);
    struct retention_result res;
    assert_int_equal(retention_execute(r, p.id, true, false, now, &res, &eb), RC_OK);
    assert_int_equal(res.files_deleted, 4);  /* A, B, C, ext_1 (not G: other measurement) */
    assert_int_equal(res.deleted_count, 10); /* 2 + 3 + 2 + 3 */
    assert_int_equal(res.n_affected, 1);
    retention_result_cleanup(&res);

    /* Someone holds the day of B and C: those are skipped this time. */
    assert_true(partlock_try("default/cpu/2025/02/17", "compaction:99", 60000));
    assert_int_equal(retention_execute(r, p.id, false, true, now, &res, &eb), RC_OK);
    assert_int_equal(res.files_deleted, 1); /* A */
    assert_int_equal(res.files_skipped, 3); /* B, C, ext_1 */
    assert_int_equal(res.deleted_count, 2);
    retention_result_cleanup(&res);
    partlock_release("default/cpu/2025/02/17", "compaction:99");
    assert_int_equal(retention_execute(r, p.id, false, true, now, &res, &eb), RC_OK);
    assert_int_equal(res.files_deleted, 3);
    assert_int_equal(res.deleted_count, 8);
    retention_result_cleanup(&res);
    assert_true(exists(&f, "default/cpu/2025/02/17/12/ext_2.parquet"));
    assert_false(exists(&f, "default/cpu/2025/02/17/12/ext_1.parquet"));
    assert_int_equal(rows_of(&f, DB, "mem"), 4);
    struct retention_execution *ex = NULL;
    size_t nex = 0;
    assert_int_equal(retention_executions(r, p.id, 50, &ex, &nex, &eb), RC_OK);
    assert_int_equal(nex, 2);
    assert_int_equal(ex[0].deleted_count, 8); /* newest first */
    assert_int_equal(ex[1].deleted_count, 2);
    assert_true(ex[0].id > ex[1].id);
    xfree(ex);
    retention_close(&r);
    jfix_close(&f);
}

static void test_run_all_and_schedule(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, false);
    fill_cutoff_data(&f);
    struct retention *r = ropen(&f);
    struct retention_policy p;
    struct errbuf eb = {0};
    struct retention_policy_input a = input("mem", DB, "mem", 10, 2);
    struct retention_policy_input b = input("other", "other", NULL, 10, 2);
    struct retention_policy_input c = input("off", DB, "cpu", 10, 2);
    c.is_active = false;
    assert_int_equal(retention_create(r, &a, &p, &eb), RC_OK);
    assert_int_equal(retention_create(r, &b, &p, &eb), RC_OK);
    assert_int_equal(retention_create(r, &c, &p, &eb), RC_OK);
    size_t ran = 0;
    assert_int_equal(retention_run_all(r, jfix_time(NOW), &ran, &eb), RC_OK);
    assert_int_equal(ran, 2);
    assert_int_equal(rows_of(&f, DB, "mem"), 0);
    assert_int_equal(rows_of(&f, "other", "cpu"), 0);
    assert_int_equal(rows_of(&f, DB, "cpu"), 12); /* inactive policy */

    struct scheduler *s = NULL;
    assert_int_equal(scheduler_start(&s, &eb), RC_OK);
    assert_int_equal(retention_schedule(r, s, "", &eb), RC_OK);
    assert_false(scheduler_job_times(s, "retention", NULL, NULL));
    assert_int_equal(retention_schedule(r, s, "0 4 * * *", &eb), RC_OK);
    int64_t next = 0;
    assert_true(scheduler_job_times(s, "retention", &next, NULL));
    assert_true(next > time_now_us());
    errbuf_clear(&eb);
    assert_int_equal(retention_schedule(r, s, "0 99 * * *", &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "retention.schedule"));
    retention_close(&r); /* unregisters */
    assert_false(scheduler_job_times(s, "retention", NULL, NULL));
    scheduler_stop(&s);
    jfix_close(&f);
}

int main(void)
{
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crud),
        cmocka_unit_test(test_cutoff_and_dry_run),
        cmocka_unit_test(test_scope_listing_locks),
        cmocka_unit_test(test_run_all_and_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
