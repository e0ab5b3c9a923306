/* Unit tests for jobs/compaction*.c (part 4): a reader running queries
 * (plain read_parquet of the visible catalog files, and the query engine)
 * in a loop during 20 swaps never sees a row twice or misses one. */
#include "compaction_fixture.h"

/* ---- concurrent reader ---------------------------------------------------- */

struct reader {
    struct jfix *f;
    int64_t expect_rows;
    atomic_bool stop;
    atomic_int reads, bad, states_seen;
    char err[512];
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    duckdb_database db;
    duckdb_connection conn;
    if (duckdb_open(NULL, &db) != DuckDBSuccess || duckdb_connect(db, &conn) != DuckDBSuccess) {
        atomic_fetch_add(&r->bad, 1);
        return NULL;
    }
    size_t last_n = 0;
    while (!atomic_load(&r->stop)) {
        size_t n = 0;
        char *list = jfix_visible_list(r->f, DB, M, &n);
        if (n != last_n) {
            atomic_fetch_add(&r->states_seen, 1);
            last_n = n;
        }
        struct strbuf sql;
        strbuf_init(&sql, 0);
        (void)strbuf_printf(&sql,
                            "SELECT count(*), count(DISTINCT time) FROM read_parquet(%s, "
                            "union_by_name = true)",
                            list);
        duckdb_result res;
        if (duckdb_query(conn, sql.data, &res) == DuckDBError) {
            snprintf(r->err, sizeof(r->err), "%s", duckdb_result_error(&res));
            atomic_fetch_add(&r->bad, 1);
        } else {
            int64_t rows = duckdb_value_int64(&res, 0, 0);
            int64_t distinct = duckdb_value_int64(&res, 1, 0);
            if (rows != r->expect_rows || distinct != r->expect_rows) {
                snprintf(r->err, sizeof(r->err), "files=%zu rows=%lld distinct=%lld", n,
                         (long long)rows, (long long)distinct);
                atomic_fetch_add(&r->bad, 1);
            }
        }
        duckdb_destroy_result(&res);
        strbuf_cleanup(&sql);
        xfree(list);
        /* And through the query engine. */
        int rc = 0;
        char *txt = jfix_query(r->f->qe, "SELECT count(*) FROM cpu", &rc);
        char want[64];
        snprintf(want, sizeof(want), "count_star()\n%lld\n", (long long)r->expect_rows);
        if (!txt || strcmp(txt, want) != 0) {
            snprintf(r->err, sizeof(r->err), "engine: rc=%d %s", rc, txt ? txt : "");
            atomic_fetch_add(&r->bad, 1);
        }
        xfree(txt);
        atomic_fetch_add(&r->reads, 1);
    }
    duckdb_disconnect(&conn);
    duckdb_close(&db);
    return NULL;
}

static void test_concurrent_reader(void **state)
{
    (void)state;
    struct jfix f;
    jfix_open(&f, true);
    int64_t h14 = jfix_time(H14);
    jfix_fill_hour(&f, DB, M, h14, 200, 10, 1000000);
    struct reader r = {.f = &f, .expect_rows = 2000};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    while (atomic_load(&r.reads) < 2)
        time_sleep_ms(5);
    struct compaction_options o = opts(&f);
    o.max_files_per_batch = 10; /* 20 swaps */
    o.max_concurrent_jobs = 1;
    o.retire_grace_ms = 600000; /* readers may still open the inputs */
    struct compaction *c = start(&f, &o);
    cycle(c, COMPACTION_TIER_BIT(COMPACTION_HOURLY));
    int reads_at_end = atomic_load(&r.reads);
    while (atomic_load(&r.reads) < reads_at_end + 2)
        time_sleep_ms(5);
    atomic_store(&r.stop, true);
    pthread_join(th, NULL);
    if (atomic_load(&r.bad))
        fail_msg("reader saw %d bad reads: %s", atomic_load(&r.bad), r.err);
    print_message("reader: %d reads, %d file-set states\n", atomic_load(&r.reads),
                  atomic_load(&r.states_seen));
    assert_int_equal(jfix_count_visible(&f, DB, M, HOUR_PREFIX, NULL), 20);
    compaction_free(&c); /* deletes the retired inputs */
    assert_int_equal(jfix_count_objects(&f, HOUR_PREFIX), 20);
    jfix_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_reader),
    };
    return jtest_run(tests, sizeof(tests) / sizeof(tests[0]));
}
