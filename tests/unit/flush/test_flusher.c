/*
 * Unit tests for flush/flusher with a fault-injecting fake sink (can fail N
 * times or randomly, can block until released, records what it got, and
 * simulates catalog visibility with counters changed in publish()).
 *
 * Covered: flush by rows and age through real worker threads, the
 * synchronous flush waiting for exactly the rows held at call time
 * (including rows then in flight), failures and timeouts of that flush,
 * snapshot + publish atomicity under concurrent flushes, the T3.1 property
 * (held <= L in every state) in a randomized run with failures, and stop.
 */
#include "test_helpers.h"

#include <pthread.h>
#include <stdatomic.h>

#include "buffer/colbuf.h"
#include "flush/flusher.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- fake sink ------------------------------------------------------------ */

#define MAX_KEYS 64

struct fake_sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* guarded by mu */
    int fail_next; /* fail this many writes, then succeed */
    bool fail_always;
    int fail_pct; /* random failures, percent */
    unsigned seed;
    int max_delay_ms; /* random delay per write */
    bool block;       /* writes wait while set */
    int blocked;      /* writes currently waiting */
    int writes, failures;
    int order_violations; /* batches not in increasing seq order per key */
    bool bad_thread_name;
    uint64_t rows_attempted;
    char last_key[MAX_KEYS][64];
    uint64_t last_written_seq[MAX_KEYS];
    int nkeys;

    /* The "catalog": changed only in publish(), which runs under the buffer
     * lock, and read in the snapshot callback under the same lock. No mutex:
     * TSan proves the buffer lock covers both. */
    uint64_t visible_rows;
    uint64_t visible_batches;
    uint64_t visible_max_seq;
    int publishes;

    _Atomic uint64_t flushed_hook_rows;
    _Atomic uint64_t flushed_hook_max_seq;
};

struct token {
    uint64_t rows, batches, max_seq;
};

static int key_slot(struct fake_sink *s, const char *db, const char *meas)
{
    char k[64];
    snprintf(k, sizeof(k), "%s/%s", db, meas);
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->last_key[i], k))
            return i;
    if (s->nkeys == MAX_KEYS) { /* no cmocka asserts off the test thread */
        s->order_violations++;
        return 0;
    }
    snprintf(s->last_key[s->nkeys], sizeof(s->last_key[0]), "%s", k);
    return s->nkeys++;
}

static int fake_write(void *ctx, const char *db, const char *meas, struct batch *const *batches,
                      size_t n, void **out_token, struct errbuf *eb)
{
    struct fake_sink *s = ctx;
    char name[16] = "";
    pthread_getname_np(pthread_self(), name, sizeof(name));
    uint64_t rows = 0;
    for (size_t i = 0; i < n; i++)
        rows += batches[i]->nrows;

    pthread_mutex_lock(&s->mu);
    if (strncmp(name, "arc-flush-", 10) != 0)
        s->bad_thread_name = true;
    s->writes++;
    s->rows_attempted += rows;
    s->blocked++;
    pthread_cond_broadcast(&s->cv);
    while (s->block)
        pthread_cond_wait(&s->cv, &s->mu);
    s->blocked--;
    int delay = s->max_delay_ms ? (int)(rand_r(&s->seed) % (unsigned)(s->max_delay_ms + 1)) : 0;
    bool fail = s->fail_always;
    if (s->fail_next > 0) {
        s->fail_next--;
        fail = true;
    }
    if (s->fail_pct && (int)(rand_r(&s->seed) % 100) < s->fail_pct)
        fail = true;
    int slot = key_slot(s, db, meas);
    if (!fail) {
        /* Within a key, what gets written is in increasing seq order. */
        for (size_t i = 0; i < n; i++) {
            if (batches[i]->seq <= s->last_written_seq[slot])
                s->order_violations++;
            s->last_written_seq[slot] = batches[i]->seq;
        }
    } else {
        s->failures++;
    }
    pthread_mutex_unlock(&s->mu);
    if (delay)
        time_sleep_ms(delay);
    if (fail)
        return errbuf_set(eb, RC_S3, "fake storage failure");
    struct token *t = xmalloc(sizeof(*t));
    t->rows = rows;
    t->batches = n;
    t->max_seq = batches[n - 1]->seq;
    *out_token = t;
    return RC_OK;
}

static void fake_publish(void *ctx, void *token)
{
    struct fake_sink *s = ctx;
    struct token *t = token;
    s->visible_rows += t->rows;
    s->visible_batches += t->batches;
    if (t->max_seq > s->visible_max_seq)
        s->visible_max_seq = t->max_seq;
    s->publishes++;
    xfree(t);
}

static void on_flushed(void *ctx, const char *db, const char *meas, uint64_t max_seq)
{
    struct fake_sink *s = ctx;
    (void)db;
    (void)meas;
    atomic_fetch_add(&s->flushed_hook_rows, 1);
    atomic_store(&s->flushed_hook_max_seq, max_seq);
}

static struct fake_sink *sink_new(void)
{
    struct fake_sink *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->seed = 12345;
    return s;
}

static void sink_free(struct fake_sink *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    xfree(s);
}

static struct flush_sink as_sink(struct fake_sink *s)
{
    return (struct flush_sink){.write = fake_write, .publish = fake_publish, .ctx = s};
}

#define SINK_SET(s, field, value)                                                                  \
    do {                                                                                           \
        pthread_mutex_lock(&(s)->mu);                                                              \
        (s)->field = (value);                                                                      \
        pthread_cond_broadcast(&(s)->cv);                                                          \
        pthread_mutex_unlock(&(s)->mu);                                                            \
    } while (0)

static int sink_get(struct fake_sink *s, const int *field)
{
    pthread_mutex_lock(&s->mu);
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* Waits (up to 3 s) until n writes are blocked in the sink. */
static void wait_blocked(struct fake_sink *s, int n)
{
    int64_t until = time_mono_ms() + 3000;
    pthread_mutex_lock(&s->mu);
    while (s->blocked < n && time_mono_ms() < until) {
        pthread_mutex_unlock(&s->mu);
        time_sleep_ms(2);
        pthread_mutex_lock(&s->mu);
    }
    int b = s->blocked;
    pthread_mutex_unlock(&s->mu);
    assert_int_equal(b, n);
}

/* ---- helpers ----------------------------------------------------------------- */

static struct batch *mk(const char *db, const char *meas, size_t rows)
{
    struct batch *b = batch_new(db, meas);
    for (size_t r = 0; r < rows; r++)
        batch_row_add(b, (int64_t)r);
    batch_seal(b);
    return b;
}

static int admit1(struct colbuf *cb, const char *db, const char *meas, size_t rows)
{
    struct batch *b = mk(db, meas, rows);
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = colbuf_admit(cb, &b, 1, &eb);
    batch_unref(&b);
    return rc;
}

static struct colbuf *mkbuf(size_t flush_rows, int64_t max_age_ms, size_t L, uint32_t retry_limit,
                            int64_t base_ms, int64_t max_ms)
{
    struct colbuf_limits lim = {.flush_rows = flush_rows,
                                .max_age_ms = max_age_ms,
                                .hard_limit_rows = L,
                                .max_total_bytes = (size_t)1 << 30};
    struct colbuf_retry rt = {
        .retry_limit = retry_limit, .backoff_base_ms = base_ms, .backoff_max_ms = max_ms};
    struct colbuf *cb = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(colbuf_new(&lim, &rt, &cb, &eb), RC_OK);
    return cb;
}

static struct flusher *start(struct colbuf *cb, struct fake_sink *s, unsigned nworkers)
{
    struct flusher_options o = {
        .nworkers = nworkers, .on_flushed = on_flushed, .on_flushed_ctx = s};
    struct flusher *f = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(flusher_start(cb, as_sink(s), &o, &f, &eb), RC_OK);
    return f;
}

static size_t held(struct colbuf *cb, const char *db, const char *meas)
{
    struct colbuf_key_info ki;
    if (!colbuf_key_info(cb, db, meas, &ki))
        return 0;
    return ki.buffered_rows + ki.in_flight_rows + ki.retry_rows;
}

/* Reads the catalog counters under the buffer lock. */
struct vis {
    struct fake_sink *s;
    uint64_t rows, batches, max_seq;
};

static void read_visible(void *ctx)
{
    struct vis *v = ctx;
    v->rows = v->s->visible_rows;
    v->batches = v->s->visible_batches;
    v->max_seq = v->s->visible_max_seq;
}

static uint64_t visible_rows(struct colbuf *cb, struct fake_sink *s)
{
    struct vis v = {.s = s};
    struct batch **snap;
    size_t n;
    assert_int_equal(colbuf_snapshot(cb, "-", "-", read_visible, &v, &snap, &n), RC_OK);
    colbuf_snapshot_free(&snap, n);
    return v.rows;
}

static bool wait_visible(struct colbuf *cb, struct fake_sink *s, uint64_t rows, int64_t max_ms)
{
    int64_t until = time_mono_ms() + max_ms;
    while (visible_rows(cb, s) < rows) {
        if (time_mono_ms() > until)
            return false;
        time_sleep_ms(2);
    }
    return visible_rows(cb, s) == rows;
}

/* flusher_flush on a helper thread. */
struct flush_call {
    pthread_t th;
    struct flusher *f;
    const char *db, *meas;
    int64_t timeout_ms;
    int rc;
    uint64_t records;
    struct errbuf eb;
    _Atomic bool done;
};

static void *flush_thread(void *arg)
{
    struct flush_call *c = arg;
    errbuf_clear(&c->eb);
    c->rc = flusher_flush(c->f, c->db, c->meas, c->timeout_ms, &c->records, &c->eb);
    atomic_store(&c->done, true);
    return NULL;
}

static void flush_async(struct flush_call *c, struct flusher *f, const char *db, const char *meas,
                        int64_t timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->f = f;
    c->db = db;
    c->meas = meas;
    c->timeout_ms = timeout_ms;
    assert_int_equal(pthread_create(&c->th, NULL, flush_thread, c), 0);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_flush_by_rows_and_age(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    struct colbuf *cb = mkbuf(100, 600, 1000, 0, 0, 0);
    struct flusher *f = start(cb, s, 2);

    int64_t t0 = time_mono_ms();
    assert_int_equal(admit1(cb, "db", "rows", 60), RC_OK);
    assert_int_equal(admit1(cb, "db", "rows", 40), RC_OK);
    assert_true(wait_visible(cb, s, 100, 2000));
    assert_true(time_mono_ms() - t0 < 500); /* by row count, well before the age */
    assert_int_equal(atomic_load(&s->flushed_hook_rows), 1);
    assert_int_equal(atomic_load(&s->flushed_hook_max_seq), 2);

    t0 = time_mono_ms();
    assert_int_equal(admit1(cb, "db", "age", 1), RC_OK);
    time_sleep_ms(300);
    assert_int_equal(visible_rows(cb, s), 100); /* not due yet */
    assert_true(wait_visible(cb, s, 101, 3000));
    int64_t waited = time_mono_ms() - t0;
    assert_true(waited >= 600);
    assert_true(waited < 1800); /* age checked at least once per second */
    assert_false(s->bad_thread_name);

    assert_int_equal(flusher_stop(&f, 2000), RC_OK);
    assert_null(f);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.total_flushes, 2);
    assert_int_equal(st.total_records_written, 101);
    colbuf_free(&cb);
    sink_free(s);
}

/* The flush returns once the rows held at call time are written, not
 * earlier, and does not wait for rows admitted after it began. */
static void test_flush_waits_for_preexisting_rows(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    struct colbuf *cb = mkbuf(1000, 60000, 1000, 0, 0, 0);
    struct flusher *f = start(cb, s, 2);

    assert_int_equal(admit1(cb, "db", "m", 10), RC_OK);
    assert_int_equal(admit1(cb, "db", "other", 7), RC_OK);
    SINK_SET(s, block, true);
    struct flush_call c;
    flush_async(&c, f, "db", "m", 5000);
    wait_blocked(s, 1); /* the forced flush of db/m is in the sink */
    assert_int_equal(admit1(cb, "db", "m", 5), RC_OK);
    time_sleep_ms(100);
    assert_false(atomic_load(&c.done));
    SINK_SET(s, block, false);
    pthread_join(c.th, NULL);
    assert_int_equal(c.rc, RC_OK);
    assert_int_equal(c.records, 10);
    assert_int_equal(visible_rows(cb, s), 10);
    /* The later 5 rows and the unselected key are still held. */
    assert_int_equal(held(cb, "db", "m"), 5);
    assert_int_equal(held(cb, "db", "other"), 7);
    assert_int_equal(sink_get(s, &s->writes), 1);

    /* Nothing selected: returns at once with 0. */
    struct errbuf eb;
    errbuf_clear(&eb);
    uint64_t n = 99;
    assert_int_equal(flusher_flush(f, "nodb", NULL, 1000, &n, &eb), RC_OK);
    assert_int_equal(n, 0);

    /* Database-wide flush takes both keys. */
    assert_int_equal(flusher_flush(f, "db", NULL, 5000, &n, &eb), RC_OK);
    assert_int_equal(n, 12);
    assert_int_equal(held(cb, "db", "m"), 0);
    assert_int_equal(held(cb, "db", "other"), 0);
    assert_int_equal(flusher_stop(&f, 2000), RC_OK);
    colbuf_free(&cb);
    sink_free(s);
}

/* Rows in flight when the flush request arrives count too: the request waits
 * for that write and then for the rows buffered behind it. */
static void test_flush_includes_in_flight_rows(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    struct colbuf *cb = mkbuf(10, 60000, 100, 0, 0, 0);
    struct flusher *f = start(cb, s, 2);

    SINK_SET(s, block, true);
    assert_int_equal(admit1(cb, "db", "m", 10), RC_OK); /* due by rows */
    wait_blocked(s, 1);
    assert_int_equal(admit1(cb, "db", "m", 3), RC_OK); /* buffered behind it */
    struct flush_call c;
    flush_async(&c, f, NULL, NULL, 5000);
    time_sleep_ms(50);
    assert_false(atomic_load(&c.done));
    SINK_SET(s, block, false);
    pthread_join(c.th, NULL);
    assert_int_equal(c.rc, RC_OK);
    assert_int_equal(c.records, 13);
    assert_int_equal(visible_rows(cb, s), 13);
    assert_int_equal(sink_get(s, &s->writes), 2);
    assert_int_equal(held(cb, "db", "m"), 0);
    assert_int_equal(flusher_stop(&f, 2000), RC_OK);
    colbuf_free(&cb);
    sink_free(s);
}

static void test_flush_failure_and_timeout(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    /* Long back-off: only forced flushes retry during this test. */
    struct colbuf *cb = mkbuf(1000, 60000, 1000, 0, 60000, 60000);
    struct flusher *f = start(cb, s, 2);
    struct errbuf eb;
    uint64_t n;

    assert_int_equal(admit1(cb, "db", "a", 4), RC_OK);
    assert_int_equal(admit1(cb, "db", "b", 6), RC_OK);
    SINK_SET(s, fail_always, true);
    errbuf_clear(&eb);
    assert_int_equal(flusher_flush(f, NULL, NULL, 5000, &n, &eb), RC_IO);
    assert_non_null(strstr(eb.msg, "Flush failed"));
    assert_non_null(strstr(eb.msg, "fake storage failure"));
    assert_non_null(strstr(eb.msg, "10 of 10"));
    assert_int_equal(n, 0);
    struct colbuf_key_info ki;
    assert_true(colbuf_key_info(cb, "db", "b", &ki));
    assert_int_equal(ki.retry_rows, 6); /* kept for retry */

    /* Partial failure: one key fails, the other is written. */
    SINK_SET(s, fail_always, false);
    SINK_SET(s, fail_next, 1);
    errbuf_clear(&eb);
    assert_int_equal(flusher_flush(f, NULL, NULL, 5000, &n, &eb), RC_IO);
    assert_true(n == 4 || n == 6);
    uint64_t first = n;
    assert_int_equal(held(cb, "db", "a") + held(cb, "db", "b"), 10 - first);

    /* Storage back: the forced flush ignores the 60 s back-off. */
    errbuf_clear(&eb);
    assert_int_equal(flusher_flush(f, NULL, NULL, 5000, &n, &eb), RC_OK);
    assert_int_equal(n, 10 - first);
    assert_int_equal(visible_rows(cb, s), 10);

    /* A hanging sink: the flush gives up after its timeout. */
    assert_int_equal(admit1(cb, "db", "a", 2), RC_OK);
    SINK_SET(s, block, true);
    int64_t t0 = time_mono_ms();
    errbuf_clear(&eb);
    assert_int_equal(flusher_flush(f, "db", "a", 200, &n, &eb), RC_TIMEOUT);
    int64_t took = time_mono_ms() - t0;
    assert_true(took >= 200 && took < 1500);
    assert_non_null(strstr(eb.msg, "timed out"));
    assert_int_equal(n, 0);
    SINK_SET(s, block, false);
    assert_true(wait_visible(cb, s, 12, 3000));
    assert_int_equal(flusher_stop(&f, 2000), RC_OK);
    colbuf_free(&cb);
    sink_free(s);
}

/* Concurrent snapshots during flushes (with failures and retries) see every
 * admitted row exactly once: in the snapshot or in the "catalog". */
static void test_snapshot_consistent_with_publish(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    s->fail_pct = 20;
    s->max_delay_ms = 2;
    struct colbuf *cb = mkbuf(20, 5, 400, 0, 2, 10);
    struct flusher *f = start(cb, s, 2);

    uint64_t admitted_rows = 0, admitted_batches = 0;
    unsigned seed = 7;
    int64_t until = time_mono_ms() + 1500;
    int snapshots = 0;
    while (time_mono_ms() < until) {
        size_t rows = 1 + rand_r(&seed) % 10;
        int rc = admit1(cb, "db", "m", rows);
        if (rc == RC_OK) {
            admitted_rows += rows;
            admitted_batches++;
        } else {
            assert_int_equal(rc, RC_BUSY);
        }
        struct vis v = {.s = s};
        struct batch **snap;
        size_t n;
        assert_int_equal(colbuf_snapshot(cb, "db", "m", read_visible, &v, &snap, &n), RC_OK);
        uint64_t rows_in_snap = 0;
        for (size_t i = 0; i < n; i++) {
            rows_in_snap += snap[i]->nrows;
            /* seqs are 1..admitted_batches: published ones are a prefix,
             * the snapshot holds exactly the rest, in order */
            assert_int_equal(snap[i]->seq, v.batches + 1 + i);
        }
        assert_int_equal(v.batches + n, admitted_batches);
        assert_int_equal(v.rows + rows_in_snap, admitted_rows);
        colbuf_snapshot_free(&snap, n);
        snapshots++;
        if (snapshots % 4 == 0)
            time_sleep_ms(1);
    }
    SINK_SET(s, fail_pct, 0);
    struct errbuf eb;
    errbuf_clear(&eb);
    uint64_t n;
    /* A write that already decided to fail may still fail this flush; stop
     * retries it (no retry limit here, so nothing is dropped). */
    int rc = flusher_flush(f, NULL, NULL, 5000, &n, &eb);
    assert_true(rc == RC_OK || rc == RC_IO);
    assert_int_equal(flusher_stop(&f, 3000), RC_OK);
    assert_int_equal(s->visible_rows, admitted_rows);
    assert_int_equal(s->order_violations, 0);
    assert_true(s->failures > 0);
    assert_true(s->publishes > 5);
    colbuf_free(&cb);
    sink_free(s);
}

/* T3.1 in process: writers push as fast as they can into two keys while the
 * sink fails half the time; held <= L in every sample, in every state. */
struct writer {
    pthread_t th;
    struct colbuf *cb;
    unsigned seed;
    _Atomic bool *stop;
    uint64_t accepted, busy, other_rc;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    while (!atomic_load(w->stop)) {
        const char *meas = rand_r(&w->seed) % 2 ? "m1" : "m2";
        size_t rows = 1 + rand_r(&w->seed) % 40;
        int rc = admit1(w->cb, "default", meas, rows);
        if (rc == RC_OK)
            w->accepted += rows;
        else if (rc == RC_BUSY)
            w->busy++;
        else
            w->other_rc++; /* checked on the test thread */
    }
    return NULL;
}

static void test_randomized_limit_property(void **state)
{
    (void)state;
    enum { L = 200, NWRITERS = 3 };
    struct fake_sink *s = sink_new();
    s->fail_pct = 50;
    s->max_delay_ms = 3;
    struct colbuf *cb = mkbuf(100, 20, L, 3, 2, 20);
    struct flusher *f = start(cb, s, 2);
    _Atomic bool stop = false;
    struct writer w[NWRITERS];
    for (int i = 0; i < NWRITERS; i++) {
        w[i] = (struct writer){.cb = cb, .seed = 100u + (unsigned)i, .stop = &stop};
        assert_int_equal(pthread_create(&w[i].th, NULL, writer_main, &w[i]), 0);
    }
    int64_t until = time_mono_ms() + 2000;
    size_t max_seen = 0, samples = 0;
    bool saw_retry = false, saw_in_flight = false;
    while (time_mono_ms() < until) {
        const char *keys[] = {"m1", "m2"};
        for (int k = 0; k < 2; k++) {
            struct colbuf_key_info ki;
            if (!colbuf_key_info(cb, "default", keys[k], &ki))
                continue;
            size_t h = ki.buffered_rows + ki.in_flight_rows + ki.retry_rows;
            assert_true(h <= L);
            if (h > max_seen)
                max_seen = h;
            saw_retry |= ki.retry_rows > 0;
            saw_in_flight |= ki.in_flight_rows > 0;
        }
        struct colbuf_key_size *ks;
        size_t nks;
        colbuf_key_sizes(cb, &ks, &nks);
        for (size_t i = 0; i < nks; i++)
            assert_true(ks[i].held_rows <= L);
        xfree(ks);
        if (++samples % 20 == 0)
            assert_true(colbuf_invariants_ok(cb));
        time_sleep_ms(1);
    }
    atomic_store(&stop, true);
    uint64_t accepted = 0, busy = 0;
    for (int i = 0; i < NWRITERS; i++) {
        pthread_join(w[i].th, NULL);
        accepted += w[i].accepted;
        busy += w[i].busy;
        assert_int_equal(w[i].other_rc, 0);
    }
    assert_true(busy > 0);         /* back-pressure happened */
    assert_true(max_seen > L / 2); /* and the buffer was really under pressure */
    assert_true(saw_retry);
    assert_true(saw_in_flight);

    /* Storage recovers: acknowledged = written + dropped (R3.3, T3.2). */
    SINK_SET(s, fail_pct, 0);
    struct errbuf eb;
    errbuf_clear(&eb);
    uint64_t n;
    int rc = flusher_flush(f, NULL, NULL, 5000, &n, &eb);
    assert_true(rc == RC_OK || rc == RC_IO); /* a batch may hit its limit on a last failure */
    assert_int_equal(flusher_stop(&f, 3000), RC_OK);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.held_rows, 0);
    assert_int_equal(st.total_records_buffered, accepted);
    assert_int_equal(s->visible_rows, st.total_records_written);
    assert_int_equal(accepted, st.total_records_written + st.total_records_dropped);
    assert_true(st.total_records_dropped > 0); /* retry_limit 3 at 50 % failures */
    assert_int_equal(s->order_violations, 0);
    assert_true(colbuf_invariants_ok(cb));
    colbuf_free(&cb);
    sink_free(s);
}

static void test_stop_flushes_everything(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    s->fail_next = 3; /* the first attempts fail; stop retries them */
    struct colbuf *cb = mkbuf(1000, 60000, 1000, 0, 60000, 60000);
    struct flusher *f = start(cb, s, 3);
    uint64_t total = 0;
    char name[16];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "m%d", i);
        assert_int_equal(admit1(cb, "db", name, (size_t)i + 1), RC_OK);
        total += (uint64_t)i + 1;
    }
    assert_int_equal(flusher_stop(&f, 5000), RC_OK);
    assert_null(f);
    assert_int_equal(s->visible_rows, total);
    struct colbuf_stats st;
    colbuf_get_stats(cb, &st);
    assert_int_equal(st.held_rows, 0);
    assert_int_equal(st.nkeys, 0);
    /* The buffer is closed for writes now. */
    assert_int_equal(admit1(cb, "db", "late", 1), RC_SHUTDOWN);
    assert_int_equal(flusher_stop(&f, 1000), RC_OK); /* NULL is fine */
    colbuf_free(&cb);
    sink_free(s);
}

static void test_stop_timeout_logs_unflushed_rows(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    s->fail_always = true;
    struct colbuf *cb = mkbuf(1000, 60000, 1000, 0, 10, 10);
    struct flusher *f = start(cb, s, 2);
    assert_int_equal(admit1(cb, "db", "m", 9), RC_OK);
    uint64_t e0 = log_count_at_least(LOG_ERROR);
    int64_t t0 = time_mono_ms();
    assert_int_equal(flusher_stop(&f, 300), RC_TIMEOUT);
    int64_t took = time_mono_ms() - t0;
    assert_true(took >= 250 && took < 2000);
    assert_int_equal(log_count_at_least(LOG_ERROR), e0 + 1);
    assert_int_equal(held(cb, "db", "m"), 9); /* kept (the WAL would replay them) */
    assert_true(sink_get(s, &s->failures) >= 1);
    colbuf_free(&cb);
    sink_free(s);
}

struct stop_call {
    pthread_t th;
    struct flusher *f;
    int64_t timeout_ms;
    int rc;
};

static void *stop_thread(void *arg)
{
    struct stop_call *c = arg;
    c->rc = flusher_stop(&c->f, c->timeout_ms);
    return NULL;
}

/* Once stop has begun, writes get RC_SHUTDOWN and flush requests are refused;
 * a flush request already waiting still completes. */
static void test_stop_refuses_new_work(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    struct colbuf *cb = mkbuf(1000, 60000, 1000, 0, 0, 0);
    struct flusher *f = start(cb, s, 1);
    assert_int_equal(admit1(cb, "db", "m", 3), RC_OK);
    SINK_SET(s, block, true);
    struct flush_call c;
    flush_async(&c, f, NULL, NULL, 10000);
    wait_blocked(s, 1);

    struct stop_call sc = {.f = f, .timeout_ms = 5000};
    assert_int_equal(pthread_create(&sc.th, NULL, stop_thread, &sc), 0);
    int64_t until = time_mono_ms() + 3000;
    int rc;
    uint64_t extra = 0;
    while ((rc = admit1(cb, "db", "m", 1)) == RC_OK && time_mono_ms() < until) {
        extra++;
        time_sleep_ms(1);
    }
    assert_int_equal(rc, RC_SHUTDOWN);
    struct errbuf eb;
    errbuf_clear(&eb);
    uint64_t n = 5;
    assert_int_equal(flusher_flush(f, NULL, NULL, 1000, &n, &eb), RC_SHUTDOWN);
    assert_int_equal(n, 0);

    SINK_SET(s, block, false);
    pthread_join(c.th, NULL);
    assert_int_equal(c.rc, RC_OK);
    assert_int_equal(c.records, 3); /* exactly the rows held when it was called */
    pthread_join(sc.th, NULL);
    assert_int_equal(sc.rc, RC_OK);
    assert_null(sc.f);
    assert_int_equal(held(cb, "db", "m"), 0);
    assert_int_equal(s->visible_rows, 3 + extra); /* stop flushed the later rows too */

    /* A bad sink is refused at start. */
    struct flusher *g = NULL;
    errbuf_clear(&eb);
    struct flush_sink bad = {0};
    assert_int_equal(flusher_start(cb, bad, NULL, &g, &eb), RC_INVALID);
    assert_null(g);
    colbuf_free(&cb);
    sink_free(s);
}

/* on_batches_flushed (the WAL's retirement hook): every batch of every
 * successful flush is reported once, batches of failed flushes only when a
 * later attempt succeeds. */
struct reported {
    pthread_mutex_t mu;
    uint64_t seqs[64];
    uint64_t rows;
    int n, calls;
};

static void on_batches(void *ctx, struct batch *const *batches, size_t n)
{
    struct reported *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->calls++;
    for (size_t i = 0; i < n; i++) {
        if (r->n < 64)
            r->seqs[r->n++] = batches[i]->seq;
        r->rows += batches[i]->nrows;
    }
    pthread_mutex_unlock(&r->mu);
}

static void test_batches_flushed_hook(void **state)
{
    (void)state;
    struct fake_sink *s = sink_new();
    struct colbuf *cb = mkbuf(1000, 60000, 1000, 0, 10, 20);
    struct reported r = {.n = 0};
    pthread_mutex_init(&r.mu, NULL);
    struct flusher_options o = {
        .nworkers = 1, .on_batches_flushed = on_batches, .on_batches_flushed_ctx = &r};
    struct flusher *f = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(flusher_start(cb, as_sink(s), &o, &f, &eb), RC_OK);
    assert_int_equal(admit1(cb, "db", "a", 2), RC_OK);
    assert_int_equal(admit1(cb, "db", "a", 3), RC_OK);
    SINK_SET(s, fail_next, 1);
    uint64_t rec = 0;
    assert_int_equal(flusher_flush(f, NULL, NULL, 5000, &rec, &eb), RC_IO);
    pthread_mutex_lock(&r.mu);
    assert_int_equal(r.calls, 0); /* a failed flush reports nothing */
    pthread_mutex_unlock(&r.mu);
    errbuf_clear(&eb);
    assert_int_equal(admit1(cb, "db", "b", 4), RC_OK);
    assert_int_equal(flusher_flush(f, NULL, NULL, 5000, &rec, &eb), RC_OK);
    assert_int_equal(flusher_stop(&f, 5000), RC_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.rows, 9);
    bool seen[4] = {false};
    for (int i = 0; i < r.n; i++) {
        assert_true(r.seqs[i] >= 1 && r.seqs[i] <= 3);
        assert_false(seen[r.seqs[i]]);
        seen[r.seqs[i]] = true;
    }
    pthread_mutex_destroy(&r.mu);
    colbuf_free(&cb);
    sink_free(s);
}

int main(void)
{
    log_configure(LOG_ERROR, LOG_FORMAT_TEXT, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_by_rows_and_age),
        cmocka_unit_test(test_flush_waits_for_preexisting_rows),
        cmocka_unit_test(test_flush_includes_in_flight_rows),
        cmocka_unit_test(test_flush_failure_and_timeout),
        cmocka_unit_test(test_snapshot_consistent_with_publish),
        cmocka_unit_test(test_randomized_limit_property),
        cmocka_unit_test(test_stop_flushes_everything),
        cmocka_unit_test(test_stop_timeout_logs_unflushed_rows),
        cmocka_unit_test(test_stop_refuses_new_work),
        cmocka_unit_test(test_batches_flushed_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
