/*
 * tests/unit/query/test_fresh.c — SPEC §4.4 fresh reads: rows acknowledged
 * but still in the write buffer are visible to the next query, typed and
 * NULL-filled like flushed rows, and no row is seen twice or missed while
 * a flush publishes its files (the snapshot copies the catalog's file list
 * under the buffer lock).
 */
#include "qfixture.h"

#include <pthread.h>

static struct qfix F;

static int setup(void **state)
{
    (void)state;
    qfix_open(&F);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    qfix_close(&F);
    return 0;
}

#define SCALAR(sql, db, want)                                                                      \
    do {                                                                                           \
        char v_[512];                                                                              \
        assert_string_equal(qfix_scalar(F.qe, (sql), (db), v_, sizeof(v_)), (want));               \
    } while (0)

static const int64_t T0 = INT64_C(1736949600000000); /* 2025-01-15T14:00:00Z */

static void test_buffer_only_rows_visible(void **state)
{
    (void)state;
    qfix_admit(&F, qfix_batch("default", "buf", T0, 1000000, 5, 10.0));
    SCALAR("SELECT count(*), sum(value), min(time), max(host) FROM buf", NULL,
           "5|60|2025-01-15T14:00:00Z|h2");
    struct qres r;
    qfix_ok(F.qe, "SELECT * FROM buf ORDER BY time LIMIT 2", NULL, &r);
    assert_int_equal(r.ncols, 3);
    assert_string_equal(r.names[0], "time");
    assert_string_equal(r.names[1], "host");
    assert_string_equal(r.names[2], "value");
    assert_string_equal(r.rows[0], "2025-01-15T14:00:00Z|h0|10");
    assert_string_equal(r.rows[1], "2025-01-15T14:00:01Z|h1|11");
    assert_int_equal(r.files, 0);
    qres_free(&r);
    /* Another database's buffer is separate. */
    qfix_admit(&F, qfix_batch("other", "buf", T0, 1, 2, 0.0));
    SCALAR("SELECT count(*) FROM buf", NULL, "5");
    SCALAR("SELECT count(*) FROM other.buf", NULL, "2");
    SCALAR("SELECT count(*) FROM buf", "other", "2");
    assert_int_equal(qscan_registered_count(), 0);
}

static void test_types_nulls_and_utf8(void **state)
{
    (void)state;
    struct batch *b = batch_new("default", "typed");
    enum col_type ex;
    int ci = batch_col_get(b, "i", 1, COL_INT64, false, &ex);
    int cu = batch_col_get(b, "u", 1, COL_UINT64, false, &ex);
    int cb = batch_col_get(b, "b", 1, COL_BOOL, false, &ex);
    int cs = batch_col_get(b, "s", 1, COL_STRING, false, &ex);
    /* 3000 rows: more than one DuckDB vector (2048). */
    for (size_t i = 0; i < 3000; i++) {
        size_t r = batch_row_add(b, T0 + (int64_t)i);
        if (i % 3 != 0)
            batch_set_i64(b, ci, r, -(int64_t)i);
        batch_set_u64(b, cu, r, UINT64_MAX - i);
        if (i % 2 == 0)
            batch_set_bool(b, cb, r, i % 4 == 0);
        if (i == 2999)
            batch_set_str(b, cs, r, "ok\xff", 3); /* invalid UTF-8 */
        else if (i == 2998)
            batch_set_str(b, cs, r, "caf\xc3\xa9", 5);
    }
    batch_seal(b);
    qfix_admit(&F, b);
    SCALAR("SELECT count(*), count(i), min(i), count(b), sum(b::INT), count(s) FROM typed", NULL,
           "3000|2000|-2999|1500|750|2");
    SCALAR("SELECT max(u)::VARCHAR, min(u)::VARCHAR FROM typed", NULL,
           "18446744073709551615|18446744073709548616");
    SCALAR("SELECT s FROM typed WHERE time = TIMESTAMPTZ '2025-01-15 14:00:00.002998+00'", NULL,
           "café");
    SCALAR("SELECT s = 'ok' || chr(65533) FROM typed WHERE s LIKE 'ok%'", NULL, "true");
    SCALAR("SELECT typeof(time), typeof(i), typeof(u), typeof(b), typeof(s) FROM typed LIMIT 1",
           NULL, "TIMESTAMP WITH TIME ZONE|BIGINT|UBIGINT|BOOLEAN|VARCHAR");

    /* A later batch without column s and with a new column z. */
    struct batch *b2 = batch_new("default", "typed");
    int cz = batch_col_get(b2, "z", 1, COL_DOUBLE, false, &ex);
    size_t r = batch_row_add(b2, T0 + 5000);
    batch_set_f64(b2, cz, r, 1.5);
    batch_seal(b2);
    qfix_admit(&F, b2);
    SCALAR("SELECT count(*), count(s), count(z), sum(z) FROM typed", NULL, "3001|2|1|1.5");
    struct qres rs;
    qfix_ok(F.qe, "SELECT * FROM typed LIMIT 1", NULL, &rs);
    assert_int_equal(rs.ncols, 6); /* time + b i s u z, sorted by name */
    assert_string_equal(rs.names[0], "time");
    assert_string_equal(rs.names[1], "b");
    assert_string_equal(rs.names[2], "i");
    assert_string_equal(rs.names[3], "s");
    assert_string_equal(rs.names[4], "u");
    assert_string_equal(rs.names[5], "z");
    qres_free(&rs);
}

static void test_files_and_buffer_union_by_name(void **state)
{
    (void)state;
    /* A flushed file with host/value, buffered rows with a new column. */
    qfix_schema(&F, "default", "mix", "host", COL_STRING);
    qfix_schema(&F, "default", "mix", "value", COL_DOUBLE);
    qfix_add_file(&F, "default", "mix",
                  "SELECT TIMESTAMPTZ '2025-01-15 13:00:00+00' + INTERVAL (i) SECOND AS time, "
                  "'f' AS host, i::DOUBLE AS value FROM range(4) t(i)",
                  T0 - 3600000000, T0 - 3600000000 + 3000000, 4, true);
    struct batch *b = batch_new("default", "mix");
    enum col_type ex;
    int ch = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int cx = batch_col_get(b, "extra", 5, COL_INT64, false, &ex);
    size_t r = batch_row_add(b, T0);
    batch_set_str(b, ch, r, "b", 1);
    batch_set_i64(b, cx, r, 7);
    batch_seal(b);
    qfix_admit(&F, b);
    struct qres rs;
    qfix_ok(F.qe, "SELECT * FROM mix ORDER BY time", NULL, &rs);
    assert_int_equal(rs.ncols, 4);
    assert_string_equal(rs.names[0], "time");
    assert_string_equal(rs.names[1], "extra");
    assert_string_equal(rs.names[2], "host");
    assert_string_equal(rs.names[3], "value");
    assert_int_equal(rs.nrows, 5);
    assert_string_equal(rs.rows[0], "2025-01-15T13:00:00Z|NULL|f|0");
    assert_string_equal(rs.rows[4], "2025-01-15T14:00:00Z|7|b|NULL");
    assert_int_equal(rs.files, 1);
    qres_free(&rs);
}

/* ---- flush emulation ----------------------------------------------------- */

struct publish_ctx {
    struct catalog *cat;
    uint64_t *ids;
    size_t n;
};

static void publish_cb(void *arg)
{
    struct publish_ctx *p = arg;
    catalog_files_publish(p->cat, p->ids, p->n);
}

/* Writes batch b as one Parquet file (unpublished). */
static uint64_t write_batch_file(struct qfix *f, const struct batch *b)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(strbuf_puts(&sb, "SELECT make_timestamp(t)::TIMESTAMPTZ AS time, host, value "
                                      "FROM (VALUES "),
                     RC_OK);
    int hc = batch_col_find(b, "host", 4), vc = batch_col_find(b, "value", 5);
    for (size_t i = 0; i < b->nrows; i++) {
        size_t len;
        const char *h = batch_str(b, &b->cols[hc], i, &len);
        assert_int_equal(strbuf_printf(&sb, "%s(%lld::BIGINT, '%.*s', %.17g::DOUBLE)",
                                       i ? ", " : "", (long long)b->time_us[i], (int)len, h,
                                       b->cols[vc].v.f64[i]),
                         RC_OK);
    }
    assert_int_equal(strbuf_puts(&sb, ") AS v(t, host, value)"), RC_OK);
    uint64_t id = qfix_add_file(f, b->db, b->measurement, sb.data, b->min_time_us, b->max_time_us,
                                (int64_t)b->nrows, false);
    strbuf_cleanup(&sb);
    return id;
}

/* One flush of every due key: files written, then published under the
 * buffer lock by colbuf_complete. pause_us: delay between writing the files
 * and publishing them (widens the window queries must handle). */
static bool flush_once(struct qfix *f, int pause_us)
{
    struct colbuf_take take;
    if (colbuf_take_ready(f->cb, 0, &take) != RC_OK)
        return false;
    uint64_t *ids = xcalloc(take.n, sizeof(*ids));
    for (size_t i = 0; i < take.n; i++)
        ids[i] = write_batch_file(f, take.batches[i]);
    if (pause_us)
        usleep(pause_us);
    struct publish_ctx pc = {.cat = f->cat, .ids = ids, .n = take.n};
    colbuf_complete(f->cb, &take, RC_OK, NULL, publish_cb, &pc);
    xfree(ids);
    return true;
}

static void test_exactly_once_across_a_flush(void **state)
{
    (void)state;
    struct colbuf_limits lim = {.flush_rows = 1,
                                .max_age_ms = 3600000,
                                .hard_limit_rows = 10000000,
                                .max_total_bytes = 1u << 30};
    colbuf_set_limits(F.cb, &lim);
    qfix_admit(&F, qfix_batch("default", "fl", T0, 1000, 100, 0.0));
    SCALAR("SELECT count(*) FROM fl", NULL, "100");

    /* Step by step: taken (in flight) + file written but unpublished. */
    struct colbuf_take take;
    assert_int_equal(colbuf_take_ready(F.cb, 0, &take), RC_OK);
    assert_string_equal(take.measurement, "fl");
    uint64_t id = write_batch_file(&F, take.batches[0]);
    struct qres r;
    qfix_ok(F.qe, "SELECT count(*), count(DISTINCT time) FROM fl", NULL, &r);
    assert_string_equal(r.rows[0], "100|100");
    assert_int_equal(r.files, 0); /* in the buffer, not yet in a visible file */
    qres_free(&r);
    struct publish_ctx pc = {.cat = F.cat, .ids = &id, .n = 1};
    colbuf_complete(F.cb, &take, RC_OK, NULL, publish_cb, &pc);
    qfix_ok(F.qe, "SELECT count(*), count(DISTINCT time) FROM fl", NULL, &r);
    assert_string_equal(r.rows[0], "100|100");
    assert_int_equal(r.files, 1); /* now only in the file */
    qres_free(&r);
    struct colbuf_key_info ki;
    assert_false(colbuf_key_info(F.cb, "default", "fl", &ki));
}

struct flusher_arg {
    struct qfix *f;
    atomic_int rounds_done;
    atomic_int round_go;
    atomic_bool stop;
};

static void *flusher_main(void *arg)
{
    struct flusher_arg *a = arg;
    int seen = 0;
    while (!atomic_load(&a->stop)) {
        if (atomic_load(&a->round_go) == seen) {
            usleep(200);
            continue;
        }
        seen++;
        usleep(2000);
        while (flush_once(a->f, 3000))
            ;
        atomic_store(&a->rounds_done, seen);
    }
    return NULL;
}

static void test_exactly_once_concurrent(void **state)
{
    (void)state;
    struct colbuf_limits lim = {.flush_rows = 1,
                                .max_age_ms = 3600000,
                                .hard_limit_rows = 10000000,
                                .max_total_bytes = 1u << 30};
    colbuf_set_limits(F.cb, &lim);
    struct flusher_arg a = {.f = &F};
    atomic_init(&a.rounds_done, 0);
    atomic_init(&a.round_go, 0);
    atomic_init(&a.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flusher_main, &a), 0);
    int total = 0, queries = 0, saw_mixed = 0;
    for (int round = 1; round <= 8; round++) {
        for (int k = 0; k < 3; k++) {
            qfix_admit(&F, qfix_batch("default", "cc", T0 + (int64_t)total * 1000, 1000, 50,
                                      (double)total));
            total += 50;
        }
        atomic_store(&a.round_go, round);
        char want[64];
        snprintf(want, sizeof(want), "%d|%d", total, total);
        do {
            struct qres r;
            qfix_ok(F.qe, "SELECT count(*), count(DISTINCT time) FROM cc", NULL, &r);
            if (strcmp(r.rows[0], want))
                fprintf(stderr, "round %d: got %s, want %s\n", round, r.rows[0], want);
            assert_string_equal(r.rows[0], want);
            if (r.files > 0 && r.files < (size_t)round * 3)
                saw_mixed++;
            qres_free(&r);
            queries++;
        } while (atomic_load(&a.rounds_done) < round);
    }
    atomic_store(&a.stop, true);
    pthread_join(th, NULL);
    SCALAR("SELECT count(*), count(DISTINCT time) FROM cc", NULL, "1200|1200");
    fprintf(stderr, "exactly-once: %d queries during 8 flush rounds, %d saw files and buffer\n",
            queries, saw_mixed);
    assert_true(queries >= 8);
    assert_int_equal(qscan_registered_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_buffer_only_rows_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_nulls_and_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_and_buffer_union_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once_across_a_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
