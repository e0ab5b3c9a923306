/*
 * Unit tests for buffer/colbuf: admission (all or nothing, hard limit L over
 * all three states, global byte cap, oversized requests), flush selection by
 * rows and age, re-queue ahead of newer rows, back-off, retry limit, the
 * R3.2 fit check, snapshots, stats and many keys. The flush worker is played
 * by the test itself (colbuf_take_ready / colbuf_complete), so every step is
 * deterministic; the threaded paths are in tests/unit/flush/test_flusher.c.
 */
#include <pthread.h>

#include "test_helpers.h"

#include "buffer/colbuf.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

static struct batch *mk(const char *db, const char *meas, size_t rows)
{
    struct batch *b = batch_new(db, meas);
    enum col_type existing;
    int c = batch_col_get(b, "v", 1, COL_DOUBLE, false, &existing);
    for (size_t r = 0; r < rows; r++) {
        size_t row = batch_row_add(b, (int64_t)(1000 + r));
        batch_set_f64(b, c, row, (double)r);
    }
    batch_seal(b);
    return b;
}

static struct colbuf *mkbuf(size_t flush_rows, int64_t max_age_ms, size_t L, size_t max_bytes,
                            uint32_t retry_limit, int64_t base_ms, int64_t max_ms)
{
    struct colbuf_limits lim = {.flush_rows = flush_rows,
                                .max_age_ms = max_age_ms,
                                .hard_limit_rows = L,
                                .max_total_bytes = max_bytes};
    struct colbuf_retry rt = {
        .retry_limit = retry_limit, .backoff_base_ms = base_ms, .backoff_max_ms = max_ms};
    struct colbuf *cb = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(colbuf_new(&lim, &rt, &cb, &eb), RC_OK);
    return cb;
}

/* Admits one batch of `rows` rows and drops the caller's reference. */
static int admit1(struct colbuf *cb, const char *db, const char *meas, size_t rows, uint64_t *seq)
{
    struct batch *b = mk(db, meas, rows);
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = colbuf_admit(cb, &b, 1, &eb);
    if (seq)
        *seq = b->seq;
    batch_unref(&b);
    return rc;
}

static size_t held(struct colbuf *cb, const char *db, const char *meas)
{
    struct colbuf_key_info ki;
    if (!colbuf_key_info(cb, db, meas, &ki))
        return 0;
    return ki.buffered_rows + ki.in_flight_rows + ki.retry_rows;
}

static uint64_t counter(const char *name, const char *labels)
{
    return metric_value(metrics_counter(name, NULL, labels));
}

#define BIG (1u << 30)

static void test_admit_all_or_nothing(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(100, 60000, 10, BIG, 0, 0, 0);
    uint64_t rej0 = counter("arc_buffer_backpressure_rejections_total", NULL);
    assert_int_equal(admit1(cb, "db", "a", 8, NULL), RC_OK);

    /* a: 8 + 1 + 2 = 11 > 10 — the whole request is refused, b included. */
    struct batch *req[3] = {mk("db", "a", 1), mk("db", "b", 5), mk("db", "a", 2)};
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(colbuf_admit(cb, req, 3, &eb), RC_BUSY);
    assert_non_null(strstr(eb.msg, "db/a"));
    assert_int_equal(held(cb, "db", "a"), 8);
    assert_int_equal(held(cb, "db", "b"), 0);
    assert_int_equal(req[0]->seq, 0);
    assert_int_equal(req[1]->seq, 0);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.nkeys, 1);
    assert_int_equal(st.held_rows, 8);
    assert_int_equal(st.total_rejections, 1);
    assert_int_equal(counter("arc_buffer_backpressure_rejections_total", NULL), rej0 + 1);
    assert_true(colbuf_invariants_ok(cb));

    /* Exactly up to L fits: a 8 + 2 = 10, b 5. */
    struct batch *ok[2] = {mk("db", "b", 5), mk("db", "a", 2)};
    errbuf_clear(&eb);
    assert_int_equal(colbuf_admit(cb, ok, 2, &eb), RC_OK);
    assert_int_equal(held(cb, "db", "a"), 10);
    assert_int_equal(held(cb, "db", "b"), 5);
    assert_int_equal(ok[0]->seq, 2); /* the first admission got seq 1 */
    assert_int_equal(ok[1]->seq, 3);
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.total_records_buffered, 15);
    assert_true(colbuf_invariants_ok(cb));

    /* The caller keeps its references; the buffer has its own. */
    assert_int_equal(atomic_load(&ok[0]->refs), 2);
    for (int i = 0; i < 3; i++)
        batch_unref(&req[i]);
    for (int i = 0; i < 2; i++)
        batch_unref(&ok[i]);
    colbuf_free(&cb);
    assert_null(cb);
}

static void test_busy_counts_in_flight_and_retry(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(5, 60000, 10, BIG, 0, 30, 30);
    assert_int_equal(admit1(cb, "db", "m", 6, NULL), RC_OK);
    struct colbuf_take t;
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    assert_int_equal(t.rows, 6);

    /* In flight: 6; buffered may only grow to 4. */
    assert_int_equal(admit1(cb, "db", "m", 5, NULL), RC_BUSY);
    assert_int_equal(admit1(cb, "db", "m", 4, NULL), RC_OK);
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_BUSY);
    /* Full at L counting in-flight rows; other keys are not. */
    assert_true(colbuf_key_is_full(cb, "db", "m"));
    assert_false(colbuf_key_is_full(cb, "db", "other"));
    struct colbuf_key_info ki;
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.in_flight_rows, 6);
    assert_int_equal(ki.buffered_rows, 4);

    /* Failed: 6 awaiting retry + 4 buffered still count. */
    colbuf_complete(cb, &t, RC_IO, "disk on fire", NULL, NULL);
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.retry_rows, 6);
    assert_int_equal(ki.buffered_rows, 4);
    assert_int_equal(ki.in_flight_rows, 0);
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_BUSY);
    assert_true(colbuf_invariants_ok(cb));

    /* Retry (after the 30 ms back-off) succeeds: the key is empty again. */
    assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
    assert_int_equal(t.rows, 10);
    assert_int_equal(t.n, 2);
    colbuf_complete(cb, &t, RC_OK, NULL, NULL, NULL);
    assert_int_equal(held(cb, "db", "m"), 0);
    assert_int_equal(admit1(cb, "db", "m", 10, NULL), RC_OK);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.total_records_written, 10);
    assert_int_equal(st.total_flushes, 1);
    assert_int_equal(st.total_errors, 1);
    assert_int_equal(st.total_rejections, 3);
    colbuf_free(&cb);
}

static void test_byte_cap(void **state)
{
    (void)state;
    struct batch *probe = mk("db", "x", 3);
    size_t one = batch_mem_bytes(probe);
    batch_unref(&probe);

    struct colbuf *cb = mkbuf(100, 60000, 1000, 2 * one + one / 2, 0, 0, 0);
    assert_int_equal(admit1(cb, "db", "a", 3, NULL), RC_OK);
    assert_int_equal(admit1(cb, "db", "b", 3, NULL), RC_OK);
    struct errbuf eb;
    errbuf_clear(&eb);
    struct batch *b = mk("db", "c", 3);
    assert_int_equal(colbuf_admit(cb, &b, 1, &eb), RC_BUSY);
    assert_non_null(strstr(eb.msg, "bytes"));
    assert_int_equal(held(cb, "db", "c"), 0);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.held_bytes, 2 * one);
    assert_int_equal(st.nkeys, 2);

    /* Three such batches in one request can never fit: 413, not 503. */
    struct batch *req[3] = {mk("db", "d", 3), mk("db", "e", 3), mk("db", "f", 3)};
    errbuf_clear(&eb);
    assert_int_equal(colbuf_admit(cb, req, 3, &eb), RC_LIMIT);
    assert_int_equal(held(cb, "db", "d"), 0);
    for (int i = 0; i < 3; i++)
        batch_unref(&req[i]);
    batch_unref(&b);
    assert_true(colbuf_invariants_ok(cb));
    colbuf_free(&cb);
}

static void test_limit_single_request(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(5, 60000, 10, BIG, 0, 0, 0);
    struct errbuf eb;
    errbuf_clear(&eb);
    struct batch *one = mk("db", "m", 11);
    assert_int_equal(colbuf_admit(cb, &one, 1, &eb), RC_LIMIT);
    assert_non_null(strstr(eb.msg, "hard limit"));
    assert_non_null(strstr(eb.msg, "11 rows"));
    batch_unref(&one);

    /* Spread over two batches of the same key, and next to a fitting key. */
    struct batch *req[3] = {mk("db", "ok", 2), mk("db", "m", 6), mk("db", "m", 5)};
    errbuf_clear(&eb);
    assert_int_equal(colbuf_admit(cb, req, 3, &eb), RC_LIMIT);
    assert_int_equal(held(cb, "db", "ok"), 0);
    for (int i = 0; i < 3; i++)
        batch_unref(&req[i]);

    /* A full key still answers RC_LIMIT (not BUSY) for an oversized request,
     * so the client does not retry forever. */
    assert_int_equal(admit1(cb, "db", "m", 10, NULL), RC_OK);
    assert_int_equal(admit1(cb, "db", "m", 11, NULL), RC_LIMIT);
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_BUSY);

    /* Empty requests and empty batches are accepted and hold nothing. */
    struct batch *empty = batch_new("db", "e");
    batch_seal(empty);
    assert_int_equal(colbuf_admit(cb, &empty, 1, &eb), RC_OK);
    assert_int_equal(colbuf_admit(cb, NULL, 0, &eb), RC_OK);
    assert_int_equal(held(cb, "db", "e"), 0);
    batch_unref(&empty);

    /* An unsealed batch is a bug in the caller. */
    struct batch *open = batch_new("db", "u");
    batch_row_add(open, 1);
    errbuf_clear(&eb);
    assert_int_equal(colbuf_admit(cb, &open, 1, &eb), RC_INTERNAL);
    batch_unref(&open);
    colbuf_free(&cb);
}

static void test_flush_at_row_threshold(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(5, 60000, 20, BIG, 0, 0, 0);
    struct colbuf_take t;
    uint64_t s1, s2;
    assert_int_equal(admit1(cb, "db", "m", 4, &s1), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_TIMEOUT);
    assert_int_equal(admit1(cb, "db", "m", 1, &s2), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    assert_string_equal(t.db, "db");
    assert_string_equal(t.measurement, "m");
    assert_int_equal(t.n, 2);
    assert_int_equal(t.rows, 5);
    assert_int_equal(t.batches[0]->seq, s1);
    assert_int_equal(t.batches[1]->seq, s2);
    assert_int_equal(t.max_seq, s2);

    /* While in flight the key is not taken again, even when full. */
    assert_int_equal(admit1(cb, "db", "m", 6, NULL), RC_OK);
    struct colbuf_take other;
    assert_int_equal(colbuf_take_ready(cb, 0, &other), RC_TIMEOUT);
    uint64_t w0 = counter("arc_buffer_records_written_total", NULL);
    colbuf_complete(cb, &t, RC_OK, NULL, NULL, NULL);
    assert_null(t.batches);
    assert_int_equal(t.rows, 5);
    assert_int_equal(counter("arc_buffer_records_written_total", NULL), w0 + 5);
    /* The 6 rows that arrived meanwhile are due right away. */
    struct colbuf_take t2;
    assert_int_equal(colbuf_take_ready(cb, 0, &t2), RC_OK);
    assert_int_equal(t2.rows, 6);
    colbuf_complete(cb, &t2, RC_OK, NULL, NULL, NULL);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.nkeys, 0); /* garbage-collected */
    assert_int_equal(st.held_rows, 0);
    assert_true(colbuf_invariants_ok(cb));
    colbuf_free(&cb);
}

static void test_flush_at_age(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(1000, 150, 2000, BIG, 0, 0, 0);
    struct colbuf_take t;
    int64_t t0 = time_mono_ms();
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_TIMEOUT);
    assert_int_equal(colbuf_take_ready(cb, 50, &t), RC_TIMEOUT);
    assert_int_equal(colbuf_take_ready(cb, 3000, &t), RC_OK);
    int64_t waited = time_mono_ms() - t0;
    assert_true(waited >= 150);
    assert_true(waited < 600);
    assert_int_equal(t.rows, 1);
    colbuf_complete(cb, &t, RC_OK, NULL, NULL, NULL);

    struct colbuf_stats st;
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
    time_sleep_ms(60);
    colbuf_get_stats(cb, &st);
    assert_true(st.oldest_buffer_age_seconds >= 0.06);
    assert_true(st.oldest_buffer_age_seconds < 1.0);
    colbuf_free(&cb);
}

static void test_requeue_ahead_of_newer_rows(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(5, 60000, 100, BIG, 0, 20, 20);
    struct colbuf_take t;
    uint64_t sa, sb, sc;
    assert_int_equal(admit1(cb, "db", "m", 5, &sa), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    assert_int_equal(admit1(cb, "db", "m", 2, &sb), RC_OK);
    colbuf_complete(cb, &t, RC_S3, "503 from S3", NULL, NULL);
    assert_int_equal(admit1(cb, "db", "m", 1, &sc), RC_OK);

    struct colbuf_key_info ki;
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.retry_rows, 5);
    assert_int_equal(ki.buffered_rows, 3);
    assert_int_equal(ki.nbatches, 3);
    assert_int_equal(ki.max_attempts, 1);

    /* The snapshot shows all three, retry first, seq order. */
    struct batch **snap;
    size_t n;
    assert_int_equal(colbuf_snapshot(cb, "db", "m", NULL, NULL, &snap, &n), RC_OK);
    assert_int_equal(n, 3);
    assert_int_equal(snap[0]->seq, sa);
    assert_int_equal(snap[1]->seq, sb);
    assert_int_equal(snap[2]->seq, sc);
    colbuf_snapshot_free(&snap, n);
    assert_null(snap);

    /* The retry carries the failed batch first, then the newer ones. */
    assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.batches[0]->seq, sa);
    assert_int_equal(t.batches[1]->seq, sb);
    assert_int_equal(t.batches[2]->seq, sc);
    assert_int_equal(t.rows, 8);
    colbuf_complete(cb, &t, RC_IO, "again", NULL, NULL);
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.retry_rows, 8);
    assert_int_equal(ki.max_attempts, 2);
    assert_int_equal(ki.consecutive_failures, 2);
    assert_true(colbuf_invariants_ok(cb));
    colbuf_free(&cb);
}

static void *flush_all_thread(void *arg)
{
    struct errbuf eb;
    errbuf_clear(&eb);
    uint64_t records = 0;
    int rc = colbuf_flush_wait(arg, NULL, NULL, 10000, &records, &eb);
    return rc == RC_OK && records == 40 ? arg : NULL;
}

/* A take holds everything a key has until a flush of the key runs out of
 * time: each RC_TIMEOUT halves the rows the next take may hold (never less
 * than one batch), each success doubles them back up to the hard limit, and
 * the rows left behind are due again at once when a flush was requested. */
static void test_take_cap_and_timeout_shrink(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(10, 60000, 40, BIG, 0, 1, 1);
    for (int i = 0; i < 8; i++)
        assert_int_equal(admit1(cb, "db", "m", 5, NULL), RC_OK);
    struct colbuf_take t;
    size_t expect_fail[] = {40, 20, 10, 5, 5}; /* the last: one batch, cap 2 */
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
        assert_int_equal(t.rows, expect_fail[i]);
        colbuf_complete(cb, &t, RC_TIMEOUT, "flush: deadline passed", NULL, NULL);
        assert_true(colbuf_invariants_ok(cb));
        assert_int_equal(held(cb, "db", "m"), 40);
    }
    /* Other failures leave the cap (1 row: one batch a take). */
    assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
    assert_int_equal(t.rows, 5);
    colbuf_complete(cb, &t, RC_IO, "disk", NULL, NULL);
    /* Successes double it: 2, 4, 8 (one batch each), 16 rows. */
    size_t expect_ok[] = {5, 5, 5, 5, 15};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
        assert_int_equal(t.rows, expect_ok[i]);
        colbuf_complete(cb, &t, RC_OK, NULL, NULL, NULL);
        assert_true(colbuf_invariants_ok(cb));
    }
    /* 5 rows left: below buffer_size and young, so not due by themselves. */
    assert_int_equal(held(cb, "db", "m"), 5);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_TIMEOUT);
    /* A flush request writes everything, one capped take after another. */
    for (int i = 0; i < 7; i++)
        assert_int_equal(admit1(cb, "db", "m", 5, NULL), RC_OK);
    struct colbuf_take t1;
    assert_int_equal(colbuf_take_ready(cb, 0, &t1), RC_OK); /* >= buffer_size: due */
    assert_int_equal(t1.rows, 30);                          /* cap 32 after the last success */
    colbuf_complete(cb, &t1, RC_TIMEOUT, "flush: deadline passed", NULL, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flush_all_thread, cb), 0);
    size_t taken = 0;
    for (size_t cap = 16; taken < 40; cap *= 2) {
        assert_int_equal(colbuf_take_ready(cb, 5000, &t), RC_OK);
        assert_true(t.rows <= cap);
        taken += t.rows;
        colbuf_complete(cb, &t, RC_OK, NULL, NULL, NULL);
    }
    void *ret = NULL;
    pthread_join(th, &ret);
    assert_ptr_equal(ret, cb);
    assert_int_equal(held(cb, "db", "m"), 0);
    colbuf_free(&cb);
}

static void test_backoff_timing(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(1, 60000, 100, BIG, 0, 100, 400);
    struct colbuf_take t;
    struct colbuf_key_info ki;
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    /* 1 s base doubling to 60 s in production; 100 ms doubling to 400 ms here. */
    const int64_t expect[] = {100, 200, 400, 400};
    for (int i = 0; i < 4; i++) {
        colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL);
        int64_t failed_at = time_mono_ms();
        assert_true(colbuf_key_info(cb, "db", "m", &ki));
        assert_int_equal(ki.consecutive_failures, (uint32_t)i + 1);
        assert_true(ki.retry_in_ms <= expect[i]);
        assert_true(ki.retry_in_ms > expect[i] / 2);
        /* Buffered rows over flush_rows do not jump the back-off. */
        assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
        assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_TIMEOUT);
        assert_int_equal(colbuf_take_ready(cb, 3000, &t), RC_OK);
        int64_t waited = time_mono_ms() - failed_at;
        assert_true(waited >= expect[i] - 5);
        assert_true(waited < expect[i] + 300);
        assert_int_equal(t.rows, (size_t)i + 2);
    }
    /* A success resets the back-off. */
    colbuf_complete(cb, &t, RC_OK, NULL, NULL, NULL);
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL);
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.consecutive_failures, 1);
    assert_true(ki.retry_in_ms <= 100 && ki.retry_in_ms > 50);
    colbuf_free(&cb);
}

static void test_default_backoff_is_one_second(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(1, 60000, 100, BIG, 0, 0, 0);
    struct colbuf_take t;
    struct colbuf_key_info ki;
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL);
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_true(ki.retry_in_ms > 900 && ki.retry_in_ms <= 1000);
    colbuf_free(&cb);
}

static void test_retry_limit_drops_and_counts(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(1, 60000, 100, BIG, 2, 10, 10);
    uint64_t d0 = counter("arc_ingest_records_dropped_total", "reason=\"flush_failed\"");
    uint64_t e0 = log_count_at_least(LOG_ERROR);
    struct colbuf_take t;
    uint64_t sb;
    assert_int_equal(admit1(cb, "db", "m", 3, NULL), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL); /* A: attempt 1 */
    assert_int_equal(held(cb, "db", "m"), 3);
    assert_int_equal(admit1(cb, "db", "m", 2, &sb), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
    assert_int_equal(t.rows, 5);
    colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL); /* A: 2 = limit, B: 1 */

    struct colbuf_key_info ki;
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.retry_rows, 2);
    assert_int_equal(ki.nbatches, 1);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.total_records_dropped, 3);
    assert_int_equal(st.held_rows, 2);
    assert_int_equal(counter("arc_ingest_records_dropped_total", "reason=\"flush_failed\""),
                     d0 + 3);
    assert_int_equal(log_count_at_least(LOG_ERROR), e0 + 1);
    struct batch **snap;
    size_t n;
    assert_int_equal(colbuf_snapshot(cb, "db", "m", NULL, NULL, &snap, &n), RC_OK);
    assert_int_equal(n, 1);
    assert_int_equal(snap[0]->seq, sb);
    colbuf_snapshot_free(&snap, n);

    /* B fails its second attempt too: the key empties and is collected. */
    assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
    colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL);
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.total_records_dropped, 5);
    assert_int_equal(st.held_rows, 0);
    assert_int_equal(st.nkeys, 0);
    assert_int_equal(st.total_records_buffered, st.total_records_written + 5);
    assert_true(colbuf_invariants_ok(cb));
    colbuf_free(&cb);
}

/* R3.2: the re-queue checks buffered + returned <= L with the limit in force
 * at that moment; a `buffered < L` check would keep everything here. */
static void test_requeue_fit_check(void **state)
{
    (void)state;
    struct colbuf_limits lim = {
        .flush_rows = 5, .max_age_ms = 60000, .hard_limit_rows = 20, .max_total_bytes = BIG};
    struct colbuf *cb = mkbuf(5, 60000, 20, BIG, 0, 10, 10);
    uint64_t d0 = counter("arc_ingest_records_dropped_total", "reason=\"flush_failed\"");
    uint64_t sa1, sa2, sb;
    struct batch *req[2] = {mk("db", "m", 2), mk("db", "m", 3)};
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(colbuf_admit(cb, req, 2, &eb), RC_OK);
    sa1 = req[0]->seq;
    sa2 = req[1]->seq;
    batch_unref(&req[0]);
    batch_unref(&req[1]);
    struct colbuf_take t;
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    assert_int_equal(t.rows, 5);
    assert_int_equal(admit1(cb, "db", "m", 4, &sb), RC_OK);

    /* L drops to 7: buffered 4 + A1 2 = 6 fits, + A2 3 = 9 does not. */
    lim.hard_limit_rows = 7;
    colbuf_set_limits(cb, &lim);
    colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL);
    struct colbuf_key_info ki;
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.retry_rows, 2);
    assert_int_equal(ki.buffered_rows, 4);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.total_records_dropped, 3);
    assert_int_equal(counter("arc_ingest_records_dropped_total", "reason=\"flush_failed\""),
                     d0 + 3);
    struct batch **snap;
    size_t n;
    assert_int_equal(colbuf_snapshot(cb, "db", "m", NULL, NULL, &snap, &n), RC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(snap[0]->seq, sa1);
    assert_int_equal(snap[1]->seq, sb);
    (void)sa2;
    colbuf_snapshot_free(&snap, n);
    assert_true(colbuf_invariants_ok(cb)); /* held 6 <= 7 */

    /* L drops below the buffered rows alone: every returned row is dropped. */
    assert_int_equal(colbuf_take_ready(cb, 2000, &t), RC_OK);
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
    lim.hard_limit_rows = 1;
    colbuf_set_limits(cb, &lim);
    colbuf_complete(cb, &t, RC_IO, "down", NULL, NULL);
    assert_true(colbuf_key_info(cb, "db", "m", &ki));
    assert_int_equal(ki.retry_rows, 0);
    assert_int_equal(ki.buffered_rows, 1);
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.total_records_dropped, 9);
    assert_true(colbuf_invariants_ok(cb));
    colbuf_free(&cb);
}

struct visible {
    int calls;
    size_t held_at_call;
};

static void under_lock_cb(void *ctx)
{
    struct visible *v = ctx;
    v->calls++;
}

static void publish_cb(void *ctx)
{
    int *published = ctx;
    (*published)++;
}

static void test_snapshot_and_publish(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(3, 60000, 100, BIG, 0, 10, 10);
    struct visible v = {0};
    struct batch **snap;
    size_t n;
    /* Unknown key: empty, the callback still runs. */
    assert_int_equal(colbuf_snapshot(cb, "db", "none", under_lock_cb, &v, &snap, &n), RC_OK);
    assert_int_equal(n, 0);
    assert_null(snap);
    assert_int_equal(v.calls, 1);

    assert_int_equal(admit1(cb, "db", "m", 3, NULL), RC_OK);
    struct colbuf_take t;
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    assert_int_equal(admit1(cb, "db", "m", 1, NULL), RC_OK);
    assert_int_equal(colbuf_snapshot(cb, "db", "m", under_lock_cb, &v, &snap, &n), RC_OK);
    assert_int_equal(n, 2); /* in flight + buffered */
    assert_int_equal(v.calls, 2);
    /* The snapshot's references keep the rows alive after the flush. */
    int published = 0;
    colbuf_complete(cb, &t, RC_OK, NULL, publish_cb, &published);
    assert_int_equal(published, 1);
    assert_int_equal(snap[0]->nrows, 3);
    assert_int_equal(snap[0]->time_us[2], 1002);
    colbuf_snapshot_free(&snap, n);
    assert_int_equal(colbuf_snapshot(cb, "db", "m", NULL, NULL, &snap, &n), RC_OK);
    assert_int_equal(n, 1);
    colbuf_snapshot_free(&snap, n);
    /* publish is not called on failure */
    assert_int_equal(admit1(cb, "db", "m", 2, NULL), RC_OK);
    assert_int_equal(colbuf_take_ready(cb, 0, &t), RC_OK);
    colbuf_complete(cb, &t, RC_IO, "x", publish_cb, &published);
    assert_int_equal(published, 1);
    colbuf_free(&cb);
}

static void test_stats_and_key_sizes(void **state)
{
    (void)state;
    struct colbuf *cb = mkbuf(100, 60000, 100, BIG, 0, 0, 0);
    assert_int_equal(admit1(cb, "db1", "cpu", 7, NULL), RC_OK);
    assert_int_equal(admit1(cb, "db2", "cpu", 3, NULL), RC_OK);
    assert_int_equal(admit1(cb, "db1", "cpu", 1, NULL), RC_OK);
    struct colbuf_key_size *ks;
    size_t n;
    colbuf_key_sizes(cb, &ks, &n);
    assert_int_equal(n, 2);
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(ks[i].db, "db1")) {
            assert_string_equal(ks[i].measurement, "cpu");
            assert_int_equal(ks[i].held_rows, 8);
        } else {
            assert_string_equal(ks[i].db, "db2");
            assert_int_equal(ks[i].held_rows, 3);
        }
        sum += ks[i].held_rows;
    }
    assert_int_equal(sum, 11);
    xfree(ks);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.held_rows, 11);
    assert_int_equal(st.total_records_buffered, 11);
    assert_int_equal(st.hard_limit_rows, 100);
    assert_true(st.held_bytes > 0);

    /* After close, nothing more is admitted. */
    colbuf_close(cb);
    assert_int_equal(admit1(cb, "db1", "cpu", 1, NULL), RC_SHUTDOWN);
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.held_rows, 11);

    struct colbuf_limits bad = {0};
    struct colbuf *x = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(colbuf_new(&bad, NULL, &x, &eb), RC_INVALID);
    assert_null(x);
    colbuf_free(&cb);
    colbuf_free(&cb); /* NULL-safe */
}

static void test_many_keys(void **state)
{
    (void)state;
    enum { NKEYS = 10000 };
    struct colbuf *cb = mkbuf(2, 60000, 10, BIG, 0, 0, 0);
    char name[32];
    int64_t t0 = time_mono_ms();
    for (int i = 0; i < NKEYS; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        assert_int_equal(admit1(cb, "db", name, 1, NULL), RC_OK);
    }
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.nkeys, NKEYS);
    struct colbuf_key_info ki;
    assert_true(colbuf_key_info(cb, "db", "m4242", &ki));
    assert_int_equal(ki.buffered_rows, 1);
    /* A second row makes each key due; all are taken and flushed. */
    for (int i = 0; i < NKEYS; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        assert_int_equal(admit1(cb, "db", name, 1, NULL), RC_OK);
    }
    struct colbuf_take t;
    int taken = 0;
    while (colbuf_take_ready(cb, 0, &t) == RC_OK) {
        assert_int_equal(t.rows, 2);
        colbuf_complete(cb, &t, RC_OK, NULL, NULL, NULL);
        taken++;
    }
    assert_int_equal(taken, NKEYS);
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.nkeys, 0);
    assert_int_equal(st.held_rows, 0);
    assert_int_equal(st.held_bytes, 0);
    assert_int_equal(st.total_records_written, 2 * NKEYS);
    assert_true(colbuf_invariants_ok(cb));
    int64_t took = time_mono_ms() - t0;
    assert_true(took < 5000); /* O(1) per key; this is ~50 ms without sanitizers */
    colbuf_free(&cb);
}

int main(void)
{
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_all_or_nothing),
        cmocka_unit_test(test_busy_counts_in_flight_and_retry),
        cmocka_unit_test(test_byte_cap),
        cmocka_unit_test(test_limit_single_request),
        cmocka_unit_test(test_flush_at_row_threshold),
        cmocka_unit_test(test_flush_at_age),
        cmocka_unit_test(test_requeue_ahead_of_newer_rows),
        cmocka_unit_test(test_take_cap_and_timeout_shrink),
        cmocka_unit_test(test_backoff_timing),
        cmocka_unit_test(test_default_backoff_is_one_second),
        cmocka_unit_test(test_retry_limit_drops_and_counts),
        cmocka_unit_test(test_requeue_fit_check),
        cmocka_unit_test(test_snapshot_and_publish),
        cmocka_unit_test(test_stats_and_key_sizes),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
