/*
 * tests/unit/wal/test_wal.c — the WAL at run time: append/commit/replay
 * round trips, rotation by size and age, group commit, async mode never
 * waiting for a sync, queue-full and size-cap back-pressure, sticky write
 * failure, a slow disk not slowing other threads, in-order retirement and
 * dropped batches, cleanup of recovered files by age, the commit barrier of
 * the flush hooks, and replay idempotence when a covering Parquet file
 * already exists (the buffer and storage are played by a fake target).
 */
#include "test_helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/batch.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "wal/wal.h"
#include "wal/wal_internal.h"

#define HOUR INT64_C(3600000000)
#define T0 INT64_C(1736949600000000) /* 2025-01-15T14:00:00Z, an hour start */

/* ---- helpers ---------------------------------------------------------------------- */

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/arc-wal-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static void rm_rf(char **dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", *dir);
    assert_int_equal(system(cmd), 0);
    xfree(*dir);
    *dir = NULL;
}

/* Counts files in dir ending in suffix (".wal" or ".wal.recovered"). */
static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > sl && !strcmp(de->d_name + l - sl, suffix))
            n++;
    }
    closedir(d);
    return n;
}

/* Polls until count_files(dir, suffix) == want (up to 3 s). */
static void wait_files(const char *dir, const char *suffix, int want)
{
    int64_t until = time_mono_ms() + 3000;
    while (count_files(dir, suffix) != want && time_mono_ms() < until)
        time_sleep_ms(5);
    assert_int_equal(count_files(dir, suffix), want);
}

static void wait_segments(struct wal *w, size_t want)
{
    int64_t until = time_mono_ms() + 3000;
    struct wal_stats st;
    for (;;) {
        wal_get_stats(w, &st);
        if (st.segments == want || time_mono_ms() >= until)
            break;
        time_sleep_ms(5);
    }
    assert_int_equal(st.segments, want);
}

static struct wal_options opts(const char *dir, enum wal_sync_mode mode)
{
    struct wal_options o = {.dir = dir, .sync_mode = mode, .recovered_retention_ms = -1};
    return o;
}

static struct wal *open_wal(const struct wal_options *o)
{
    struct wal *w = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = wal_open(o, &w, &eb);
    if (rc != RC_OK)
        fail_msg("wal_open: %s", eb.msg);
    return w;
}

/* A batch of rows at times ts[0..n). */
static struct batch *mk_batch(const char *meas, const int64_t *ts, size_t n, int64_t id0)
{
    struct batch *b = batch_new("db", meas);
    int c_id = batch_col_get(b, "id", 2, COL_INT64, false, NULL);
    int c_host = batch_col_get(b, "host", 4, COL_STRING, true, NULL);
    int c_v = batch_col_get(b, "v", 1, COL_DOUBLE, false, NULL);
    for (size_t i = 0; i < n; i++) {
        size_t r = batch_row_add(b, ts[i]);
        batch_set_i64(b, c_id, r, id0 + (int64_t)i);
        batch_set_str(b, c_host, r, "server-01", 9);
        batch_set_f64(b, c_v, r, (double)(id0 + (int64_t)i) / 4);
    }
    batch_seal(b);
    return b;
}

static struct batch *mk_simple(int64_t id0, size_t n)
{
    int64_t ts[64];
    for (size_t i = 0; i < n; i++)
        ts[i] = T0 + (int64_t)i * 1000;
    return mk_batch("m", ts, n, id0);
}

static int64_t id_at(const struct batch *b, size_t row)
{
    int c = batch_col_find(b, "id", 2);
    return b->cols[c].v.i64[row];
}

/* The buffer and storage as seen from the WAL. */
struct target {
    pthread_mutex_t mu;
    struct wal *wal;
    _Atomic uint64_t next_seq;
    struct batch **admitted; /* references */
    size_t n, cap, reported;
    int busy_times;       /* admit answers RC_BUSY this many times */
    size_t limit_rows;    /* RC_LIMIT for batches with more rows (0 = none) */
    bool report_on_flush; /* flush() reports every admitted batch flushed */
    bool flush_fails;     /* flush() fails (a crash before the flush finished) */
    int flush_calls;
    const char *keys[8]; /* files that exist in storage */
};

static void target_init(struct target *t)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->next_seq, 1000);
}

static void target_cleanup(struct target *t)
{
    for (size_t i = 0; i < t->n; i++)
        batch_unref(&t->admitted[i]);
    xfree(t->admitted);
    pthread_mutex_destroy(&t->mu);
}

static int t_admit(void *ctx, struct batch *const *batches, size_t n, struct errbuf *eb)
{
    struct target *t = ctx;
    pthread_mutex_lock(&t->mu);
    if (t->busy_times > 0) {
        t->busy_times--;
        pthread_mutex_unlock(&t->mu);
        return errbuf_set(eb, RC_BUSY, "fake buffer full");
    }
    for (size_t i = 0; i < n; i++)
        if (t->limit_rows && batches[i]->nrows > t->limit_rows) {
            pthread_mutex_unlock(&t->mu);
            return errbuf_set(eb, RC_LIMIT, "fake hard limit");
        }
    for (size_t i = 0; i < n; i++) {
        batches[i]->seq = atomic_fetch_add(&t->next_seq, 1);
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 16;
            t->admitted = xrealloc(t->admitted, t->cap * sizeof(*t->admitted));
        }
        t->admitted[t->n++] = batch_ref(batches[i]);
    }
    pthread_mutex_unlock(&t->mu);
    return RC_OK;
}

static int t_flush(void *ctx, struct errbuf *eb)
{
    struct target *t = ctx;
    pthread_mutex_lock(&t->mu);
    t->flush_calls++;
    if (t->flush_fails) {
        pthread_mutex_unlock(&t->mu);
        return errbuf_set(eb, RC_IO, "fake storage down");
    }
    size_t from = t->reported, to = t->n;
    t->reported = to;
    pthread_mutex_unlock(&t->mu);
    if (t->report_on_flush && to > from)
        wal_batches_flushed(t->wal, t->admitted + from, to - from);
    return RC_OK;
}

static bool t_exists(void *ctx, const char *db, const char *meas, int64_t hour, const char *key)
{
    struct target *t = ctx;
    (void)db;
    (void)meas;
    (void)hour;
    for (int i = 0; i < 8 && t->keys[i]; i++)
        if (!strcmp(t->keys[i], key))
            return true;
    return false;
}

static struct wal_replay_ops t_ops(struct target *t)
{
    struct wal_replay_ops o = {
        .admit = t_admit, .flush = t_flush, .file_exists = t_exists, .ctx = t};
    return o;
}

/* The request path: prepare → admit → commit. */
static int write_batches(struct wal *w, struct target *t, struct batch **bs, size_t n)
{
    struct wal_ticket *tk = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = wal_prepare(w, bs, n, &tk, &eb);
    if (rc != RC_OK)
        return rc;
    rc = t_admit(t, bs, n, &eb);
    if (rc != RC_OK) {
        wal_abort(&tk);
        return rc;
    }
    return wal_commit(&tk, &eb);
}

static int write_one(struct wal *w, struct target *t, struct batch *b)
{
    return write_batches(w, t, &b, 1);
}

static struct wal_replay_stats replay(struct wal *w, struct target *t)
{
    struct wal_replay_ops o = t_ops(t);
    struct wal_replay_stats st;
    struct errbuf eb;
    errbuf_clear(&eb);
    t->wal = w;
    int rc = wal_replay(w, &o, &st, &eb);
    if (rc != RC_OK)
        fail_msg("wal_replay: %s", eb.msg);
    return st;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_commit_close_reopen_replay(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    struct batch *orig[20];
    for (int i = 0; i < 20; i++) {
        int64_t ts[3] = {T0 + i, T0 + i + 1, T0 + HOUR + i};
        orig[i] = mk_batch(i % 3 == 0 ? "cpu" : "mem", ts, 3, i * 10);
        assert_int_equal(write_one(w, &t, orig[i]), RC_OK);
    }
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_int_equal(st.total_entries, 20);
    assert_int_equal(st.pending_entries, 0);
    assert_true(st.total_syncs >= 1);
    assert_string_equal(wal_sync_mode_name(st.sync_mode), "fdatasync");
    assert_int_equal(strncmp(st.current_file, "arc-", 4), 0);
    assert_false(st.degraded);
    wal_close(&w); /* nothing reported flushed: the segment stays */
    assert_int_equal(count_files(dir, ".wal"), 1);
    target_cleanup(&t);

    /* Restart: every record comes back, in order, with its database. */
    w = open_wal(&o);
    target_init(&t);
    t.report_on_flush = true;
    struct wal_replay_stats rs = replay(w, &t);
    assert_int_equal(rs.segments, 1);
    assert_int_equal(rs.records, 20);
    assert_int_equal(rs.replayed_records, 20);
    assert_int_equal(rs.replayed_rows, 60);
    assert_int_equal(rs.skipped_records, 0);
    assert_int_equal(rs.corrupt_records, 0);
    assert_int_equal(rs.flush_rc, RC_OK);
    assert_int_equal(rs.segments_recovered, 1);
    assert_int_equal(t.n, 20);
    for (int i = 0; i < 20; i++) {
        assert_string_equal(t.admitted[i]->db, "db");
        assert_string_equal(t.admitted[i]->measurement, orig[i]->measurement);
        assert_int_equal(t.admitted[i]->nrows, 3);
        assert_int_equal(id_at(t.admitted[i], 2), i * 10 + 2);
        assert_int_equal(t.admitted[i]->time_us[2], T0 + HOUR + i);
    }
    assert_int_equal(count_files(dir, ".wal.recovered"), 1);
    wal_get_stats(w, &st);
    assert_int_equal(st.recovered_entries, 20);
    struct wal_file_info *files = NULL;
    size_t nf = 0;
    assert_int_equal(wal_files_list(w, &files, &nf, NULL), RC_OK);
    assert_int_equal(nf, 2); /* the active segment and the recovered one */
    int rec = 0;
    for (size_t i = 0; i < nf; i++)
        rec += files[i].recovered;
    assert_int_equal(rec, 1);
    xfree(files);
    wal_close(&w); /* everything was flushed: no live segment remains */
    assert_int_equal(count_files(dir, ".wal"), 0);
    target_cleanup(&t);

    /* A third start finds nothing to replay. */
    w = open_wal(&o);
    target_init(&t);
    rs = replay(w, &t);
    assert_int_equal(rs.records, 0);
    assert_int_equal(t.n, 0);
    wal_close(&w);
    target_cleanup(&t);
    for (int i = 0; i < 20; i++)
        batch_unref(&orig[i]);
    rm_rf(&dir);
}

static void test_clean_shutdown_after_flush_leaves_nothing(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FSYNC);
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    struct batch *b[5];
    for (int i = 0; i < 5; i++) {
        b[i] = mk_simple(i * 100, 4);
        assert_int_equal(write_one(w, &t, b[i]), RC_OK);
    }
    wal_batches_flushed(w, b, 5);
    wal_close(&w);
    assert_int_equal(count_files(dir, ".wal"), 0);
    assert_int_equal(count_files(dir, ".recovered"), 0);
    for (int i = 0; i < 5; i++)
        batch_unref(&b[i]);
    target_cleanup(&t);
    rm_rf(&dir);
}

static void test_rotation_by_size(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    o.max_segment_bytes = 2048;
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    struct batch *b[30];
    for (int i = 0; i < 30; i++) {
        b[i] = mk_simple(i * 10, 5);
        assert_int_equal(write_one(w, &t, b[i]), RC_OK);
    }
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_true(st.total_rotations >= 3);
    assert_int_equal(st.segments, st.total_rotations + 1);
    assert_int_equal(count_files(dir, ".wal"), (int)st.segments);
    assert_true(st.current_size_bytes <= 2048);
    /* Everything flushed: every sealed segment goes, the active one stays. */
    wal_batches_flushed(w, b, 30);
    wait_segments(w, 1);
    wait_files(dir, ".wal", 1);
    wal_close(&w);
    for (int i = 0; i < 30; i++)
        batch_unref(&b[i]);
    target_cleanup(&t);
    rm_rf(&dir);
}

static void test_rotation_by_age(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    o.max_segment_age_ms = 300;
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    struct wal_stats st0, st;
    wal_get_stats(w, &st0);
    /* An empty active segment is not rotated, however old. */
    time_sleep_ms(1300);
    wal_get_stats(w, &st);
    assert_int_equal(st.total_rotations, 0);
    struct batch *b = mk_simple(1, 2);
    assert_int_equal(write_one(w, &t, b), RC_OK);
    int64_t until = time_mono_ms() + 3000;
    do {
        time_sleep_ms(50);
        wal_get_stats(w, &st);
    } while (st.total_rotations == 0 && time_mono_ms() < until);
    assert_int_equal(st.total_rotations, 1);
    assert_string_not_equal(st.current_file, st0.current_file);
    assert_int_equal(st.segments, 2); /* the old one holds an unflushed record */
    wal_batches_flushed(w, &b, 1);
    wait_segments(w, 1);
    wal_close(&w);
    batch_unref(&b);
    target_cleanup(&t);
    rm_rf(&dir);
}

struct writer_arg {
    struct wal *w;
    struct target *t;
    int n;
    int failures;
    int64_t max_ms;
    int first_rc;
};

static void *writer_thread(void *p)
{
    struct writer_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        struct batch *b = mk_simple(i, 2);
        int64_t t0 = time_mono_ms();
        int rc = write_one(a->w, a->t, b);
        int64_t took = time_mono_ms() - t0;
        if (took > a->max_ms)
            a->max_ms = took;
        if (i == 0)
            a->first_rc = rc;
        if (rc != RC_OK)
            a->failures++;
        batch_unref(&b);
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    wal__test_set_faults(w, false, 3); /* a 3 ms sync makes groups form reliably */
    struct target t;
    target_init(&t);
    enum { NT = 32, PER = 40 };
    pthread_t th[NT];
    struct writer_arg args[NT];
    for (int i = 0; i < NT; i++) {
        args[i] = (struct writer_arg){.w = w, .t = &t, .n = PER};
        pthread_create(&th[i], NULL, writer_thread, &args[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_int_equal(st.total_entries, NT * PER);
    print_message("group commit: %d appends, %llu syncs, %llu groups\n", NT * PER,
                  (unsigned long long)st.total_syncs, (unsigned long long)st.groups);
    assert_true(st.total_syncs * 4 < NT * PER);
    assert_true(st.groups <= st.total_syncs);
    wal_close(&w);
    target_cleanup(&t);
    rm_rf(&dir);
}

static void test_async_never_waits_for_sync(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_ASYNC);
    o.async_sync_interval_ms = 100;
    struct wal *w = open_wal(&o);
    wal__test_set_faults(w, false, 800); /* every sync takes 0.8 s */
    struct target t;
    target_init(&t);
    int64_t t0 = time_mono_ms(), worst = 0;
    for (int i = 0; i < 30; i++) {
        struct batch *b = mk_simple(i, 3);
        int64_t s = time_mono_ms();
        assert_int_equal(write_one(w, &t, b), RC_OK);
        int64_t took = time_mono_ms() - s;
        if (took > worst)
            worst = took;
        batch_unref(&b);
        time_sleep_ms(10);
    }
    int64_t total = time_mono_ms() - t0;
    print_message("async: 30 writes in %lld ms, worst %lld ms, sync 800 ms\n", (long long)total,
                  (long long)worst);
    assert_true(worst < 100);
    /* The sync thread did sync meanwhile. */
    int64_t until = time_mono_ms() + 3000;
    struct wal_stats st;
    do {
        wal_get_stats(w, &st);
        time_sleep_ms(20);
    } while (st.total_syncs == 0 && time_mono_ms() < until);
    assert_true(st.total_syncs >= 1);
    assert_int_equal(st.total_entries, 30);
    wal__test_set_faults(w, false, 0);
    wal_close(&w);
    target_cleanup(&t);
    rm_rf(&dir);
}

static void test_queue_full_busy_fast(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FSYNC);
    o.queue_size = 4;
    struct wal *w = open_wal(&o);
    struct batch *b[6];
    struct wal_ticket *tk[6] = {0};
    for (int i = 0; i < 6; i++)
        b[i] = mk_simple(i, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(wal_prepare(w, &b[i], 1, &tk[i], NULL), RC_OK);
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_int_equal(st.pending_entries, 4);
    struct errbuf eb;
    errbuf_clear(&eb);
    int64_t t0 = time_mono_ns();
    assert_int_equal(wal_prepare(w, &b[4], 1, &tk[4], &eb), RC_BUSY);
    int64_t took_us = (time_mono_ns() - t0) / 1000;
    assert_true(took_us < 50000);
    assert_null(tk[4]);
    assert_non_null(strstr(eb.msg, "queue is full"));
    wal_get_stats(w, &st);
    assert_int_equal(st.rejected_busy, 1);
    /* An empty request needs no room. */
    struct batch *empty = batch_new("db", "m");
    batch_seal(empty);
    struct wal_ticket *none = (struct wal_ticket *)1;
    assert_int_equal(wal_prepare(w, &empty, 1, &none, NULL), RC_OK);
    assert_null(none);
    assert_int_equal(wal_commit(&none, NULL), RC_OK);
    batch_unref(&empty);
    /* Releasing one reservation makes room again. */
    wal_abort(&tk[0]);
    assert_null(tk[0]);
    assert_int_equal(wal_prepare(w, &b[5], 1, &tk[5], NULL), RC_OK);
    for (int i = 0; i < 6; i++)
        wal_abort(&tk[i]);
    wal_get_stats(w, &st);
    assert_int_equal(st.pending_entries, 0);
    assert_int_equal(st.total_entries, 0); /* nothing aborted was logged */
    wal_close(&w);
    assert_int_equal(count_files(dir, ".wal"), 0);
    for (int i = 0; i < 6; i++)
        batch_unref(&b[i]);
    rm_rf(&dir);
}

static void test_max_total_bytes_busy(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    o.max_total_bytes = 4096;
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    int ok = 0, rc = RC_OK;
    struct errbuf eb;
    errbuf_clear(&eb);
    for (int i = 0; i < 100 && rc == RC_OK; i++) {
        struct batch *b = mk_simple(i, 4);
        struct wal_ticket *tk = NULL;
        rc = wal_prepare(w, &b, 1, &tk, &eb);
        if (rc == RC_OK) {
            assert_int_equal(t_admit(&t, &b, 1, NULL), RC_OK);
            assert_int_equal(wal_commit(&tk, NULL), RC_OK);
            ok++;
        }
        batch_unref(&b);
    }
    assert_int_equal(rc, RC_BUSY);
    assert_non_null(strstr(eb.msg, "max_total_size_mb"));
    assert_true(ok > 3 && ok < 40);
    /* Flushing everything retires... nothing: the active segment holds it
     * all; the cap still counts it until it rotates away. */
    wal_close(&w);
    target_cleanup(&t);
    rm_rf(&dir);
}

static void test_write_fail_sticky(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    /* One good write first. */
    struct batch *good = mk_simple(0, 2);
    assert_int_equal(write_one(w, &t, good), RC_OK);
    assert_false(wal_is_degraded(w));

    wal__test_set_faults(w, true, 5);
    enum { NT = 6 };
    pthread_t th[NT];
    struct writer_arg args[NT];
    for (int i = 0; i < NT; i++) {
        args[i] = (struct writer_arg){.w = w, .t = &t, .n = 1};
        pthread_create(&th[i], NULL, writer_thread, &args[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        /* Never acknowledged: RC_IO from the failed write, or from prepare
         * once the WAL is degraded. */
        assert_int_equal(args[i].failures, 1);
        assert_int_equal(args[i].first_rc, RC_IO);
    }
    assert_true(wal_is_degraded(w));
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_true(st.degraded);
    assert_true(st.failed_writes >= 1);
    assert_non_null(strstr(st.last_error, "write failed"));
    assert_true(st.last_error_us > 0);

    /* Sticky: the disk "recovers", the WAL still refuses. */
    wal__test_set_faults(w, false, 0);
    struct batch *b = mk_simple(50, 2);
    struct wal_ticket *tk = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(wal_prepare(w, &b, 1, &tk, &eb), RC_IO);
    assert_non_null(strstr(eb.msg, "restart required"));
    /* Flush intents are skipped, not failed (flushes keep working). */
    uint64_t slot = 0;
    assert_int_equal(wal_put_intent(w, "db", "m", "db/m/k.parquet", T0, &good, 1, &slot, NULL),
                     RC_OK);
    wal_close(&w);
    target_cleanup(&t);

    /* Reopened, the WAL works again; the good record is replayed. */
    w = open_wal(&o);
    assert_false(wal_is_degraded(w));
    target_init(&t);
    t.report_on_flush = true;
    struct wal_replay_stats rs = replay(w, &t);
    assert_int_equal(rs.replayed_records, 1);
    assert_int_equal(id_at(t.admitted[0], 1), 1);
    assert_int_equal(write_one(w, &t, b), RC_OK);
    wal_close(&w);
    target_cleanup(&t);
    batch_unref(&b);
    batch_unref(&good);
    rm_rf(&dir);
}

struct slow_arg {
    struct wal *w;
    struct target *t;
    int64_t took_ms;
    int rc;
};

static void *slow_writer(void *p)
{
    struct slow_arg *a = p;
    struct batch *b = mk_simple(7, 2);
    int64_t t0 = time_mono_ms();
    a->rc = write_one(a->w, a->t, b);
    a->took_ms = time_mono_ms() - t0;
    batch_unref(&b);
    return NULL;
}

static void test_slow_disk_other_threads_unaffected(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    wal__test_set_faults(w, false, 400);
    struct target t;
    target_init(&t);
    struct slow_arg a = {.w = w, .t = &t}, b2 = {.w = w, .t = &t};
    pthread_t th, th2;
    pthread_create(&th, NULL, slow_writer, &a);
    time_sleep_ms(100); /* a's sync is running now */
    pthread_create(&th2, NULL, slow_writer, &b2);
    /* Everything that is not a durable write stays fast. */
    for (int i = 0; i < 20; i++) {
        int64_t t0 = time_mono_ns();
        struct wal_stats st;
        wal_get_stats(w, &st);
        (void)wal_is_degraded(w);
        struct wal_file_info *files = NULL;
        size_t nf = 0;
        assert_int_equal(wal_files_list(w, &files, &nf, NULL), RC_OK);
        xfree(files);
        struct batch *x = mk_simple(100 + i, 1);
        struct wal_ticket *tk = NULL;
        assert_int_equal(wal_prepare(w, &x, 1, &tk, NULL), RC_OK);
        wal_abort(&tk);
        batch_unref(&x);
        int64_t us = (time_mono_ns() - t0) / 1000;
        assert_true(us < 20000);
        time_sleep_ms(10);
    }
    pthread_join(th, NULL);
    pthread_join(th2, NULL);
    assert_int_equal(a.rc, RC_OK);
    assert_int_equal(b2.rc, RC_OK);
    assert_true(a.took_ms >= 390);  /* it waited for its (slow) sync */
    assert_true(b2.took_ms < 1200); /* covered by the next single sync */
    wal__test_set_faults(w, false, 0);
    wal_close(&w);
    target_cleanup(&t);
    rm_rf(&dir);
}

static void test_retirement_in_order_and_dropped(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    o.max_segment_bytes = 200; /* every record gets a segment of its own */
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    struct batch *b[5];
    for (int i = 0; i < 5; i++)
        b[i] = mk_simple(i * 10, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(write_one(w, &t, b[i]), RC_OK);
    struct wal_file_info *files = NULL;
    size_t nf = 0;
    assert_int_equal(wal_files_list(w, &files, &nf, NULL), RC_OK);
    assert_int_equal(nf, 3);
    char s0[700], s1[700], s2[700];
    snprintf(s0, sizeof(s0), "%s/%s", dir, files[0].name);
    snprintf(s1, sizeof(s1), "%s/%s", dir, files[1].name);
    snprintf(s2, sizeof(s2), "%s/%s", dir, files[2].name);
    xfree(files);
    /* b1 flushed, b0 not: the older segment holds the newer one back
     * (flushed markers may rotate more segments in; these stay too). */
    wal_batches_flushed(w, &b[1], 1);
    time_sleep_ms(200);
    assert_int_equal(access(s0, F_OK), 0);
    assert_int_equal(access(s1, F_OK), 0);
    wal_batches_flushed(w, &b[0], 1);
    int64_t until = time_mono_ms() + 3000;
    while ((access(s0, F_OK) == 0 || access(s1, F_OK) == 0) && time_mono_ms() < until)
        time_sleep_ms(5);
    assert_int_equal(access(s0, F_OK), -1);
    assert_int_equal(access(s1, F_OK), -1);
    assert_int_equal(access(s2, F_OK), 0); /* b2 is not flushed yet */
    /* Unknown batches are ignored. */
    struct batch *stranger = mk_simple(999, 1);
    stranger->seq = 123456789;
    wal_batches_flushed(w, &stranger, 1);
    batch_unref(&stranger);

    /* b3 is "dropped" after failed flushes (never reported); b2, b4 are
     * flushed. */
    assert_int_equal(write_one(w, &t, b[3]), RC_OK);
    assert_int_equal(write_one(w, &t, b[4]), RC_OK);
    wal_batches_flushed(w, &b[2], 1);
    wal_batches_flushed(w, &b[4], 1);
    wal_close(&w);
    /* b3's segment stays, and the ones after it. */
    assert_true(count_files(dir, ".wal") >= 1);
    target_cleanup(&t);

    w = open_wal(&o);
    target_init(&t);
    t.report_on_flush = true;
    struct wal_replay_stats rs = replay(w, &t);
    assert_int_equal(rs.replayed_records, 1);
    assert_int_equal(t.n, 1);
    assert_int_equal(id_at(t.admitted[0], 0), 30);
    assert_true(rs.skipped_records >= 1); /* b4: flushed marker */
    wal_close(&w);
    assert_int_equal(count_files(dir, ".wal"), 0);
    target_cleanup(&t);
    for (int i = 0; i < 5; i++)
        batch_unref(&b[i]);
    rm_rf(&dir);
}

static void touch_recovered(const char *dir, const char *name, int64_t age_s, size_t bytes)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < bytes; i++)
        fputc('x', f);
    fclose(f);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age_s;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_cleanup_recovered_by_age(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    touch_recovered(dir, "arc-20250101_000000-000001.wal.recovered", 48 * 3600, 1000);
    touch_recovered(dir, "arc-20250101_010000-000002.wal.recovered", 3600, 300);
    touch_recovered(dir, "notes.txt", 48 * 3600, 10); /* not ours: never touched */
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    struct wal_stats st;
    wal_get_stats(w, &st);
    /* Numbering continues after the recovered files. */
    assert_non_null(strstr(st.current_file, "-000003.wal"));
    uint64_t deleted = 9, freed = 9;
    assert_int_equal(wal_cleanup_recovered(w, 24 * 3600 * 1000LL, &deleted, &freed, NULL), RC_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(freed, 1000);
    assert_int_equal(count_files(dir, ".wal.recovered"), 1);
    assert_int_equal(wal_cleanup_recovered(w, 0, &deleted, &freed, NULL), RC_OK);
    assert_int_equal(deleted, 1);
    assert_int_equal(freed, 300);
    assert_int_equal(count_files(dir, ".wal.recovered"), 0);
    assert_int_equal(count_files(dir, ".txt"), 1);
    wal_close(&w);
    rm_rf(&dir);
}

struct intent_arg {
    struct wal *w;
    struct batch *b;
    _Atomic bool done;
    int rc;
    uint64_t slot;
};

static void *intent_thread(void *p)
{
    struct intent_arg *a = p;
    a->rc = wal_put_intent(a->w, "db", "m", "db/m/2025/01/15/14/m_a.parquet", T0, &a->b, 1,
                           &a->slot, NULL);
    atomic_store(&a->done, true);
    return NULL;
}

static void test_intent_waits_for_commit(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    struct batch *b = mk_simple(5, 3);
    struct wal_ticket *tk = NULL;
    assert_int_equal(wal_prepare(w, &b, 1, &tk, NULL), RC_OK);
    assert_int_equal(t_admit(&t, &b, 1, NULL), RC_OK); /* visible to "flush workers" now */
    struct intent_arg a = {.w = w, .b = b};
    atomic_init(&a.done, false);
    pthread_t th;
    pthread_create(&th, NULL, intent_thread, &a);
    time_sleep_ms(200);
    assert_false(atomic_load(&a.done)); /* waits for the commit */
    assert_int_equal(wal_commit(&tk, NULL), RC_OK);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, RC_OK);
    assert_true(a.slot != 0);
    wal_close(&w); /* "crash" before the flush finished */
    target_cleanup(&t);

    /* The file named by the intent exists: the rows are not replayed. */
    w = open_wal(&o);
    target_init(&t);
    t.keys[0] = "db/m/2025/01/15/14/m_a.parquet";
    struct wal_replay_stats rs = replay(w, &t);
    assert_int_equal(rs.records, 1);
    assert_int_equal(rs.replayed_records, 0);
    assert_int_equal(rs.skipped_records, 1);
    assert_int_equal(rs.skipped_rows, 3);
    wal_close(&w);
    target_cleanup(&t);
    batch_unref(&b);
    rm_rf(&dir);
}

static void test_replay_idempotent_covering_file(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    /* R1: 3 rows in hour H1 (T0) and 2 in H2 (T0 + 1h); R2, R3: hour H1. */
    int64_t ts1[5] = {T0 + 1, T0 + 2, T0 + 3, T0 + HOUR + 1, T0 + HOUR + 2};
    int64_t ts2[2] = {T0 + 10, T0 + 11};
    struct batch *r1 = mk_batch("m", ts1, 5, 100);
    struct batch *r2 = mk_batch("m", ts2, 2, 200);
    struct batch *r3 = mk_batch("m", ts2, 2, 300);
    struct batch *both[2] = {r1, r2};
    assert_int_equal(write_batches(w, &t, both, 2), RC_OK);
    assert_int_equal(write_one(w, &t, r3), RC_OK);
    /* A flush of R1+R2 put the H1 file, then crashed before putting H2. */
    uint64_t s1 = 0, s2 = 0;
    assert_int_equal(wal_put_intent(w, "db", "m", "k-H1", T0, both, 2, &s1, NULL), RC_OK);
    /* Its first name collided; the retry with another name replaces it. */
    assert_int_equal(wal_put_intent(w, "db", "m", "k-H1b", T0, both, 2, &s1, NULL), RC_OK);
    assert_int_equal(wal_put_intent(w, "db", "m", "k-H2", T0 + HOUR, both, 1, &s2, NULL), RC_OK);
    assert_true(s1 != s2);
    /* R3 was flushed completely (flushed marker). */
    wal_batches_flushed(w, &r3, 1);
    wal_close(&w);
    target_cleanup(&t);

    /* Restart #1: storage has k-H1 and (the stale first name) k-H1: only the
     * latest intent of a slot counts, so k-H1b decides. */
    w = open_wal(&o);
    target_init(&t);
    t.keys[0] = "k-H1";
    t.flush_fails = true; /* and the replay's own flush crashes too */
    struct wal_replay_stats rs = replay(w, &t);
    assert_int_equal(rs.records, 3);
    assert_int_equal(rs.skipped_records, 1);  /* R3 */
    assert_int_equal(rs.replayed_records, 2); /* all of R1, R2: k-H1b does not exist */
    assert_int_equal(rs.replayed_rows, 7);
    wal_close(&w);
    target_cleanup(&t);

    /* Restart #2: k-H1b exists now. R1 keeps only its H2 rows, R2 is gone. */
    w = open_wal(&o);
    target_init(&t);
    t.keys[0] = "k-H1b";
    t.flush_fails = true;
    rs = replay(w, &t);
    assert_int_equal(rs.replayed_records, 1);
    assert_int_equal(rs.replayed_rows, 2);
    assert_int_equal(rs.skipped_records, 2); /* R2 (covered), R3 (marker) */
    assert_int_equal(rs.skipped_rows, 3 + 2);
    assert_int_equal(t.n, 1);
    struct batch *part = t.admitted[0];
    assert_int_equal(part->nrows, 2);
    assert_int_equal(id_at(part, 0), 103);
    assert_int_equal(id_at(part, 1), 104);
    assert_int_equal(part->time_us[0], T0 + HOUR + 1);
    /* The replay's flush puts the H2 file of the replayed part, then the
     * process dies again. */
    uint64_t s3 = 0;
    assert_int_equal(wal_put_intent(w, "db", "m", "k2-H2", T0 + HOUR, &part, 1, &s3, NULL), RC_OK);
    wal_close(&w);
    target_cleanup(&t);

    /* Restart #3: both files exist: nothing at all is replayed twice. */
    w = open_wal(&o);
    target_init(&t);
    t.keys[0] = "k-H1b";
    t.keys[1] = "k2-H2";
    t.report_on_flush = true;
    rs = replay(w, &t);
    assert_int_equal(rs.replayed_records, 0);
    assert_int_equal(rs.replayed_rows, 0);
    assert_int_equal(rs.skipped_records, 3);
    assert_int_equal(t.n, 0);
    wal_close(&w);
    target_cleanup(&t);
    batch_unref(&r1);
    batch_unref(&r2);
    batch_unref(&r3);
    rm_rf(&dir);
}

static void test_replay_busy_and_oversized(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    struct batch *b = mk_simple(0, 9);
    struct batch *c = mk_simple(50, 2);
    assert_int_equal(write_one(w, &t, b), RC_OK);
    assert_int_equal(write_one(w, &t, c), RC_OK);
    wal_close(&w);
    target_cleanup(&t);

    w = open_wal(&o);
    target_init(&t);
    t.busy_times = 3; /* the buffer is full three times: flush and retry */
    t.limit_rows = 4; /* the hard limit was lowered below 9 rows: split */
    t.report_on_flush = true;
    struct wal_replay_stats rs = replay(w, &t);
    assert_int_equal(rs.replayed_rows, 11);
    assert_true(t.flush_calls >= 3);
    size_t rows = 0;
    int64_t next_id = 0;
    for (size_t i = 0; i < t.n; i++) {
        assert_true(t.admitted[i]->nrows <= 4);
        for (size_t r = 0; r < t.admitted[i]->nrows; r++, rows++) {
            if (rows < 9)
                assert_int_equal(id_at(t.admitted[i], r), next_id++);
        }
    }
    assert_int_equal(rows, 11);
    assert_int_equal(rs.segments_recovered, 1);
    wal_close(&w);
    assert_int_equal(count_files(dir, ".wal"), 0);
    target_cleanup(&t);
    batch_unref(&b);
    batch_unref(&c);
    rm_rf(&dir);
}

static void test_corrupt_segments_replay(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    o.max_segment_bytes = 200;
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    for (int i = 0; i < 3; i++) {
        struct batch *b = mk_simple(i * 10, 3);
        assert_int_equal(write_one(w, &t, b), RC_OK);
        batch_unref(&b);
    }
    struct wal_file_info *files = NULL;
    size_t nf = 0;
    assert_int_equal(wal_files_list(w, &files, &nf, NULL), RC_OK);
    assert_int_equal(nf, 3);
    char p0[600], p1[600];
    snprintf(p0, sizeof(p0), "%s/%s", dir, files[0].name);
    snprintf(p1, sizeof(p1), "%s/%s", dir, files[1].name);
    uint64_t size1 = files[1].size_bytes;
    xfree(files);
    wal_close(&w);
    target_cleanup(&t);
    /* Segment 0: bad header. Segment 1: torn in the middle of its record. */
    int fd = open(p0, O_RDWR);
    assert_int_equal(pwrite(fd, "ARCX", 4, 0), 4);
    close(fd);
    assert_int_equal(truncate(p1, (off_t)(size1 - 7)), 0);

    w = open_wal(&o);
    target_init(&t);
    t.report_on_flush = true;
    struct wal_replay_stats rs = replay(w, &t);
    assert_int_equal(rs.segments, 3);
    assert_int_equal(rs.corrupt_segments, 1);
    assert_int_equal(rs.corrupt_records, 1);
    assert_int_equal(rs.replayed_records, 1);
    assert_int_equal(id_at(t.admitted[0], 0), 20);
    assert_int_equal(rs.segments_recovered, 3); /* kept for inspection */
    assert_int_equal(count_files(dir, ".wal.recovered"), 3);
    struct wal_stats st;
    wal_get_stats(w, &st);
    assert_int_equal(st.corrupt_records, 1);
    wal_close(&w);
    target_cleanup(&t);
    rm_rf(&dir);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct wal *w = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    struct wal_options o = opts("", WAL_SYNC_FSYNC);
    assert_int_equal(wal_open(&o, &w, &eb), RC_INVALID);
    errbuf_clear(&eb);
    o = opts("/proc/arc-no-such-dir/wal", WAL_SYNC_FSYNC);
    assert_int_equal(wal_open(&o, &w, &eb), RC_IO);
    assert_non_null(strstr(eb.msg, "/proc/arc-no-such-dir"));
    assert_null(w);
    /* One process per WAL directory. */
    char *dir = make_tmpdir();
    o = opts(dir, WAL_SYNC_FSYNC);
    struct wal *first = open_wal(&o);
    errbuf_clear(&eb);
    assert_int_equal(wal_open(&o, &w, &eb), RC_IO);
    assert_non_null(strstr(eb.msg, "in use by another process"));
    assert_null(w);
    wal_close(&first);
    w = open_wal(&o);
    wal_close(&w);
    rm_rf(&dir);
    enum wal_sync_mode m;
    assert_true(wal_sync_mode_parse("fdatasync", &m));
    assert_int_equal(m, WAL_SYNC_FDATASYNC);
    assert_false(wal_sync_mode_parse("FSYNC", &m));
    assert_false(wal_sync_mode_parse(NULL, &m));
}

/* When the CPU is saturated the writer waits group_delay_us before taking
 * the queue; when it is not, it never waits. */
static void check_group_wait(enum wal_sync_mode mode)
{
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, mode);
    o.group_delay_us = 300 * 1000;
    o.no_preallocate = true;
    struct wal *w = open_wal(&o);
    struct target t;
    target_init(&t);
    int64_t ts = T0;
    struct batch *b[4];
    for (int i = 0; i < 4; i++)
        b[i] = mk_batch("m", &ts, 1, i + 1);
    wal__test_force_cpu_saturated(1);
    time_sleep_ms(10); /* the writer's current loop pass may predate the change */
    assert_int_equal(write_one(w, &t, b[0]), RC_OK);
    int64_t t0 = time_mono_ms();
    assert_int_equal(write_one(w, &t, b[1]), RC_OK);
    assert_true(time_mono_ms() - t0 >= 290);
    wal__test_force_cpu_saturated(0);
    assert_int_equal(write_one(w, &t, b[2]), RC_OK);
    t0 = time_mono_ms();
    assert_int_equal(write_one(w, &t, b[3]), RC_OK);
    assert_true(time_mono_ms() - t0 < 250);
    wal__test_force_cpu_saturated(-1);
    wal_close(&w);
    target_cleanup(&t);
    for (int i = 0; i < 4; i++)
        batch_unref(&b[i]);
    rm_rf(&dir);
}

/* Syncing or not, a saturated CPU makes the writer wait before taking the
 * queue (async: fewer, larger writes and thread wake-ups); an idle one
 * never does. */
static void test_group_wait_only_when_saturated(void **state)
{
    (void)state;
    check_group_wait(WAL_SYNC_FDATASYNC);
    check_group_wait(WAL_SYNC_ASYNC);
}

/* While the CPU is saturated the preparer does not zero-fill a spare (the
 * writer appends instead); it makes one once CPU is idle again. */
static void test_prealloc_pauses_when_saturated(void **state)
{
    (void)state;
    wal__test_force_cpu_saturated(1);
    char *dir = make_tmpdir();
    struct wal_options o = opts(dir, WAL_SYNC_FDATASYNC);
    o.max_segment_bytes = 4 << 20;
    struct wal *w = open_wal(&o);
    time_sleep_ms(400);
    pthread_mutex_lock(&w->lock);
    int spare = w->spare_fd;
    pthread_mutex_unlock(&w->lock);
    assert_true(spare < 0);
    wal__test_force_cpu_saturated(0);
    int64_t deadline = time_mono_ms() + 10000;
    do {
        time_sleep_ms(20);
        pthread_mutex_lock(&w->lock);
        spare = w->spare_fd;
        pthread_mutex_unlock(&w->lock);
    } while (spare < 0 && time_mono_ms() < deadline);
    assert_true(spare >= 0);
    wal__test_force_cpu_saturated(-1);
    wal_close(&w);
    rm_rf(&dir);
}

int main(void)
{
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_close_reopen_replay),
        cmocka_unit_test(test_clean_shutdown_after_flush_leaves_nothing),
        cmocka_unit_test(test_rotation_by_size),
        cmocka_unit_test(test_rotation_by_age),
        cmocka_unit_test(test_group_commit),
        cmocka_unit_test(test_async_never_waits_for_sync),
        cmocka_unit_test(test_queue_full_busy_fast),
        cmocka_unit_test(test_max_total_bytes_busy),
        cmocka_unit_test(test_write_fail_sticky),
        cmocka_unit_test(test_slow_disk_other_threads_unaffected),
        cmocka_unit_test(test_retirement_in_order_and_dropped),
        cmocka_unit_test(test_cleanup_recovered_by_age),
        cmocka_unit_test(test_intent_waits_for_commit),
        cmocka_unit_test(test_replay_idempotent_covering_file),
        cmocka_unit_test(test_replay_busy_and_oversized),
        cmocka_unit_test(test_corrupt_segments_replay),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_group_wait_only_when_saturated),
        cmocka_unit_test(test_prealloc_pauses_when_saturated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
