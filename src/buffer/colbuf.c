/*
 * buffer/colbuf.c — per (database, measurement) write buffers (see colbuf.h).
 *
 * Owns: the key table, every key's queue of batch references, the due queue
 * that feeds flush workers, the registry of pending synchronous flushes, the
 * buffer counters and the arc_buffer_* metrics.
 *
 * Threads: HTTP threads admit and read stats; flush workers take and
 * complete; query workers snapshot; main flushes on shutdown.
 *
 * DESIGN
 *
 * Each key holds one FIFO of entries in seq (admission) order:
 *
 *     ents[0 .. nfront)        ents[nfront .. nents)
 *     in_flight  (in_flight)   buffered
 *     or retry   (!in_flight)
 *
 * Lifecycle of a batch, with the function performing each transition:
 *
 *     colbuf_admit ──► buffered ──colbuf_take_ready──► in_flight
 *                          ▲ (retry first,                │
 *                          │  then buffered)              │ colbuf_complete
 *                        retry ◄──────── failed ──────────┤
 *                          │                              │ ok: publish + drop,
 *                          │ attempts == retry_limit       ▼     under the lock
 *                          │ or buffered+returned > L    written
 *                          ▼
 *                       dropped (counted, logged ERROR)
 *
 * A take moves a prefix of the key's entries — retries first, then buffered
 * ones, at most take_cap rows (see take_key; all of them unless flushes of
 * the key timed out) — to in_flight, so the front section is uniform (all in
 * flight, or all awaiting retry) and always has lower seqs than the buffered
 * section. Retries that did not fit a smaller take count as buffered again
 * (keeping their attempt counts). One flush per key at a time keeps
 * order and makes the re-queue a state change of the front section.
 *
 * Invariants (colbuf_invariants_ok checks them):
 *   - per key held = front_rows + buf_rows <= L (admission counts all three
 *     states; a re-queue only keeps rows while buffered + returned <= L);
 *   - held_bytes of all keys <= max_total_bytes;
 *   - entries are in strictly increasing seq order.
 *
 * Scheduling: a key is put on the due queue (FIFO) when it becomes due on an
 * event (admission crosses flush_rows, a flush request forces it, a flush of
 * a forced or full key ends). Time-based due-ness (age, back-off end) is found
 * by a scan of all keys that a worker runs inside colbuf_take_ready at
 * next_scan_ms: the earliest known deadline, at most 1 s away (the SPEC's age
 * check) and at least SCAN_MIN_INTERVAL_MS after the previous scan so 10k keys
 * with spread deadlines cost at most ~20 scans per second.
 */
#include "buffer/colbuf.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "util/condvar.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define SCAN_MAX_INTERVAL_MS 1000 /* SPEC §1.5: age is checked at least once per second */
#define SCAN_MIN_INTERVAL_MS 50   /* bounds scan cost with many keys; see DESIGN above */
#define DEFAULT_BACKOFF_BASE_MS 1000
#define DEFAULT_BACKOFF_MAX_MS 60000
#define INITIAL_BUCKETS 64

struct entry {
    struct batch *b; /* the queue's own reference */
    uint64_t seq;
    size_t rows;
    size_t bytes;       /* batch_mem_bytes at admission */
    int64_t arrival_ms; /* monotonic */
    uint32_t attempts;  /* failed flush attempts so far */
    uint64_t fail_gen;  /* cb->gen of the last failure (flush request accounting) */
};

struct colbuf_key {
    struct colbuf_key *hnext;    /* hash chain */
    struct colbuf_key *due_next; /* due queue link, valid while queued */
    uint64_t hash;
    char db[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];

    struct entry *ents;
    size_t nents, ents_cap;
    size_t nfront; /* ents[0..nfront) are in flight or awaiting retry */
    size_t front_rows, front_bytes;
    size_t buf_rows, buf_bytes;

    bool in_flight;  /* a worker holds a take of the front section */
    bool queued;     /* on the due queue */
    bool forced;     /* a flush request wants this key written now */
    size_t take_cap; /* rows one take may hold (take_key); 0 = take_cap_max */
    uint32_t consecutive_failures;
    int64_t retry_at_ms; /* back-off end (monotonic), valid while nfront && !in_flight */

    size_t admit_rows; /* scratch of colbuf_admit, 0 outside it */
};

/* A pending colbuf_flush_wait, on the stack of the waiting thread. */
struct flush_req {
    struct flush_req *next;
    const char *db; /* filter, NULL = any */
    const char *measurement;
    uint64_t max_seq;      /* batches with seq <= max_seq count */
    uint64_t start_gen;    /* cb->gen when the request began */
    uint64_t pending_rows; /* rows held by selected keys at the start */
    uint64_t written_rows;
    uint64_t failed_rows;
    char err[256]; /* first sink error seen */
};

struct colbuf {
    /* Set at creation, never changed. */
    struct colbuf_retry retry;

    /*
     * lock guards everything below. Lock order: lock may be held while
     * calling the publish callback of colbuf_complete and the under_lock
     * callback of colbuf_snapshot, and they may take their own (catalog)
     * locks: colbuf lock first, catalog lock second. Those callbacks must not
     * call back into colbuf. This one lock is also the visibility invariant:
     * publish (files become visible + in-flight batches dropped) and a query's
     * snapshot (held batches + visible file list) both run under it, so a
     * snapshot sees every row exactly once. Never held across I/O, a sink
     * call, or logging.
     */
    pthread_mutex_t lock;
    _Atomic unsigned long lock_owner; /* debug aid for assert_held, 0 = nobody */
    pthread_cond_t work_cond;         /* a key became due, next_scan_ms moved, or stopping */
    pthread_cond_t done_cond;         /* a flush completed (flush waiters) */

    struct colbuf_limits limits;
    struct colbuf_key **buckets;
    size_t nbuckets; /* power of two */
    size_t nkeys;
    struct colbuf_key *due_head, *due_tail;
    int64_t next_scan_ms;
    int64_t last_scan_ms;
    struct flush_req *reqs;
    bool closed; /* colbuf_close: admissions refused */
    bool workers_stopping;
    uint64_t next_seq; /* last assigned seq; batches get 1, 2, ... */
    uint64_t gen;      /* bumped on every failed completion */

    size_t held_rows, held_bytes;
    uint64_t total_buffered, total_written, total_flushes, total_errors, total_dropped;
    uint64_t total_rejections;
};

static struct {
    pthread_once_t once;
    struct metric *records_buffered; /* gauge, held rows of all buffers */
    struct metric *bytes;            /* gauge, held bytes */
    struct metric *written;
    struct metric *flushes;
    struct metric *failures;
    struct metric *rejections;
    struct metric *dropped;
} m = {.once = PTHREAD_ONCE_INIT};

static void metrics_init(void)
{
    m.records_buffered =
        metrics_gauge("arc_buffer_records_buffered",
                      "Rows held in write buffers (buffered, in flight, retry)", NULL);
    m.bytes = metrics_gauge("arc_buffer_bytes", "Bytes held in write buffers", NULL);
    m.written = metrics_counter("arc_buffer_records_written_total",
                                "Rows written to storage by buffer flushes", NULL);
    m.flushes = metrics_counter("arc_buffer_flushes_total", "Successful buffer flushes", NULL);
    m.failures = metrics_counter("arc_buffer_flush_failures_total", "Failed buffer flushes", NULL);
    m.rejections = metrics_counter("arc_buffer_backpressure_rejections_total",
                                   "Write requests refused because a buffer was full", NULL);
    m.dropped = metrics_counter("arc_ingest_records_dropped_total",
                                "Acknowledged rows dropped from memory", "reason=\"flush_failed\"");
}

/* ---- locking helpers --------------------------------------------------- */

static unsigned long self_id(void)
{
    /* pthread_t is an integer on glibc; only used for a debug assertion. */
    return (unsigned long)pthread_self();
}

static void lock(struct colbuf *cb)
{
    pthread_mutex_lock(&cb->lock);
    atomic_store_explicit(&cb->lock_owner, self_id(), memory_order_relaxed);
}

static void unlock(struct colbuf *cb)
{
    atomic_store_explicit(&cb->lock_owner, 0, memory_order_relaxed);
    pthread_mutex_unlock(&cb->lock);
}

static inline __attribute__((unused)) bool lock_held(struct colbuf *cb)
{
    return atomic_load_explicit(&cb->lock_owner, memory_order_relaxed) == self_id();
}

/* Costly or debug-only checks (STYLE.md §4): off when NDEBUG is set. */
#define DEBUG_ASSERT(x) assert(x)
#define ASSERT_HELD(cb) DEBUG_ASSERT(lock_held(cb))

/* Waits on cond until the monotonic time deadline_ms (< 0: no deadline).
 * Must hold the lock; the owner marker is restored afterwards. */
static void cond_wait_until(struct colbuf *cb, pthread_cond_t *cond, int64_t deadline_ms)
{
    atomic_store_explicit(&cb->lock_owner, 0, memory_order_relaxed);
    if (deadline_ms < 0) {
        pthread_cond_wait(cond, &cb->lock);
    } else {
        struct timespec ts = {.tv_sec = deadline_ms / 1000,
                              .tv_nsec = (deadline_ms % 1000) * 1000000};
        pthread_cond_timedwait(cond, &cb->lock, &ts);
    }
    atomic_store_explicit(&cb->lock_owner, self_id(), memory_order_relaxed);
}

/* ---- key table ---------------------------------------------------------- */

static uint64_t key_hash(const char *db, const char *meas)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)db; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    h = (h ^ 0xff) * UINT64_C(1099511628211); /* separator that is never in a name */
    for (const unsigned char *p = (const unsigned char *)meas; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    return h;
}

static struct colbuf_key *key_find(struct colbuf *cb, uint64_t h, const char *db, const char *meas)
{
    for (struct colbuf_key *k = cb->buckets[h & (cb->nbuckets - 1)]; k; k = k->hnext)
        if (k->hash == h && !strcmp(k->db, db) && !strcmp(k->measurement, meas))
            return k;
    return NULL;
}

static void table_grow(struct colbuf *cb)
{
    size_t nb = cb->nbuckets * 2;
    struct colbuf_key **nbk = xcalloc(nb, sizeof(*nbk));
    for (size_t i = 0; i < cb->nbuckets; i++) {
        struct colbuf_key *k = cb->buckets[i];
        while (k) {
            struct colbuf_key *next = k->hnext;
            k->hnext = nbk[k->hash & (nb - 1)];
            nbk[k->hash & (nb - 1)] = k;
            k = next;
        }
    }
    xfree(cb->buckets);
    cb->buckets = nbk;
    cb->nbuckets = nb;
}

static struct colbuf_key *key_get(struct colbuf *cb, uint64_t h, const char *db, const char *meas)
{
    struct colbuf_key *k = key_find(cb, h, db, meas);
    if (k)
        return k;
    if (cb->nkeys >= cb->nbuckets)
        table_grow(cb);
    k = xcalloc(1, sizeof(*k));
    k->hash = h;
    snprintf(k->db, sizeof(k->db), "%s", db);
    snprintf(k->measurement, sizeof(k->measurement), "%s", meas);
    size_t i = h & (cb->nbuckets - 1);
    k->hnext = cb->buckets[i];
    cb->buckets[i] = k;
    cb->nkeys++;
    return k;
}

/* Frees k if it holds nothing and nobody refers to it (garbage collection of
 * empty keys keeps the table proportional to the keys in use). */
static void key_gc(struct colbuf *cb, struct colbuf_key *k)
{
    ASSERT_HELD(cb);
    if (k->nents || k->in_flight || k->queued || k->admit_rows)
        return;
    struct colbuf_key **pp = &cb->buckets[k->hash & (cb->nbuckets - 1)];
    while (*pp != k)
        pp = &(*pp)->hnext;
    *pp = k->hnext;
    cb->nkeys--;
    xfree(k->ents);
    xfree(k);
}

static bool key_matches(const struct colbuf_key *k, const char *db, const char *meas)
{
    return (!db || !strcmp(k->db, db)) && (!meas || !strcmp(k->measurement, meas));
}

static size_t key_held(const struct colbuf_key *k)
{
    return k->front_rows + k->buf_rows;
}

/* ---- scheduling ---------------------------------------------------------- */

static void due_push(struct colbuf *cb, struct colbuf_key *k)
{
    k->queued = true;
    k->due_next = NULL;
    if (cb->due_tail)
        cb->due_tail->due_next = k;
    else
        cb->due_head = k;
    cb->due_tail = k;
    pthread_cond_signal(&cb->work_cond);
}

static struct colbuf_key *due_pop(struct colbuf *cb)
{
    struct colbuf_key *k = cb->due_head;
    if (!k)
        return NULL;
    cb->due_head = k->due_next;
    if (!cb->due_head)
        cb->due_tail = NULL;
    k->queued = false;
    k->due_next = NULL;
    return k;
}

/* When k becomes due by time (INT64_MAX: never, or only by an event). */
static int64_t key_deadline(const struct colbuf *cb, const struct colbuf_key *k)
{
    if (k->nfront)
        return k->retry_at_ms; /* retry goes first; buffered rows wait behind it */
    if (k->buf_rows)
        return k->ents[0].arrival_ms + cb->limits.max_age_ms;
    return INT64_MAX;
}

/* Is k due now? Keys in flight or already queued are not schedulable. */
static bool key_is_due(const struct colbuf *cb, const struct colbuf_key *k, int64_t now)
{
    if (k->in_flight || k->queued || k->nents == 0)
        return false;
    if (k->forced)
        return true;
    if (k->nfront)
        return now >= k->retry_at_ms;
    return k->buf_rows >= cb->limits.flush_rows || now >= key_deadline(cb, k);
}

/* Queues k if it is due; otherwise makes sure the scan runs by its deadline. */
static void key_schedule(struct colbuf *cb, struct colbuf_key *k, int64_t now)
{
    ASSERT_HELD(cb);
    if (k->in_flight || k->queued || k->nents == 0)
        return;
    if (key_is_due(cb, k, now)) {
        due_push(cb, k);
        return;
    }
    int64_t d = key_deadline(cb, k);
    if (d < cb->next_scan_ms) {
        cb->next_scan_ms = d;
        pthread_cond_signal(&cb->work_cond); /* a waiting worker shortens its sleep */
    }
}

/* Queues every due key and computes the next scan time. O(keys). */
static void scan(struct colbuf *cb, int64_t now)
{
    ASSERT_HELD(cb);
    int64_t next = now + SCAN_MAX_INTERVAL_MS;
    for (size_t i = 0; i < cb->nbuckets; i++) {
        for (struct colbuf_key *k = cb->buckets[i]; k; k = k->hnext) {
            if (k->in_flight || k->queued || k->nents == 0)
                continue;
            if (key_is_due(cb, k, now)) {
                due_push(cb, k);
            } else {
                int64_t d = key_deadline(cb, k);
                if (d < next)
                    next = d;
            }
        }
    }
    if (next < now + SCAN_MIN_INTERVAL_MS)
        next = now + SCAN_MIN_INTERVAL_MS;
    cb->last_scan_ms = now;
    cb->next_scan_ms = next;
}

static int64_t backoff_ms(const struct colbuf *cb, uint32_t failures)
{
    int64_t d = cb->retry.backoff_base_ms;
    for (uint32_t i = 1; i < failures && d < cb->retry.backoff_max_ms; i++)
        d *= 2;
    return d < cb->retry.backoff_max_ms ? d : cb->retry.backoff_max_ms;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int check_limits(const struct colbuf_limits *l, struct errbuf *eb)
{
    if (!l || !l->flush_rows || l->max_age_ms <= 0 || !l->hard_limit_rows || !l->max_total_bytes)
        return errbuf_set(eb, RC_INVALID,
                          "buffer limits must be > 0 (buffer_size, buffer_age_seconds, "
                          "buffer_hard_limit, max_total_buffer_mb)");
    return RC_OK;
}

int colbuf_new(const struct colbuf_limits *limits, const struct colbuf_retry *retry,
               struct colbuf **out, struct errbuf *eb)
{
    int rc = check_limits(limits, eb);
    if (rc != RC_OK)
        return rc;
    pthread_once(&m.once, metrics_init);

    struct colbuf *cb = xcalloc(1, sizeof(*cb));
    if (retry)
        cb->retry = *retry;
    if (cb->retry.backoff_base_ms <= 0)
        cb->retry.backoff_base_ms = DEFAULT_BACKOFF_BASE_MS;
    if (cb->retry.backoff_max_ms <= 0)
        cb->retry.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
    if (cb->retry.backoff_max_ms < cb->retry.backoff_base_ms)
        cb->retry.backoff_max_ms = cb->retry.backoff_base_ms;
    cb->limits = *limits;
    cb->nbuckets = INITIAL_BUCKETS;
    cb->buckets = xcalloc(cb->nbuckets, sizeof(*cb->buckets));

    pthread_mutex_init(&cb->lock, NULL);
    /* Monotonic waits: a wall-clock jump must not stall or spin the workers. */
    cond_init_monotonic(&cb->work_cond);
    cond_init_monotonic(&cb->done_cond);
    *out = cb;
    return RC_OK;
}

void colbuf_free(struct colbuf **cbp)
{
    if (!cbp || !*cbp)
        return;
    struct colbuf *cb = *cbp;
    for (size_t i = 0; i < cb->nbuckets; i++) {
        struct colbuf_key *k = cb->buckets[i];
        while (k) {
            struct colbuf_key *next = k->hnext;
            for (size_t j = 0; j < k->nents; j++)
                batch_unref(&k->ents[j].b);
            xfree(k->ents);
            xfree(k);
            k = next;
        }
    }
    metric_sub(m.records_buffered, cb->held_rows);
    metric_sub(m.bytes, cb->held_bytes);
    xfree(cb->buckets);
    pthread_cond_destroy(&cb->work_cond);
    pthread_cond_destroy(&cb->done_cond);
    pthread_mutex_destroy(&cb->lock);
    xfree(cb);
    *cbp = NULL;
}

void colbuf_set_limits(struct colbuf *cb, const struct colbuf_limits *limits)
{
    if (check_limits(limits, NULL) != RC_OK)
        return;
    lock(cb);
    cb->limits = *limits;
    cb->next_scan_ms = 0; /* thresholds changed: rescan at the next chance */
    pthread_cond_broadcast(&cb->work_cond);
    unlock(cb);
}

void colbuf_close(struct colbuf *cb)
{
    lock(cb);
    cb->closed = true;
    unlock(cb);
}

/* ---- admission ----------------------------------------------------------- */

static void key_append(struct colbuf_key *k, struct batch *b, uint64_t seq, size_t bytes,
                       int64_t now)
{
    if (k->nents == k->ents_cap) {
        k->ents_cap = k->ents_cap ? k->ents_cap * 2 : 8;
        k->ents = xrealloc(k->ents, k->ents_cap * sizeof(*k->ents));
    }
    k->ents[k->nents++] =
        (struct entry){.b = b, .seq = seq, .rows = b->nrows, .bytes = bytes, .arrival_ms = now};
    k->buf_rows += b->nrows;
    k->buf_bytes += bytes;
}

int colbuf_admit(struct colbuf *cb, struct batch *const *batches, size_t n, struct errbuf *eb)
{
    int rc = RC_OK;
    /* Everything that needs no lock is computed first. */
    struct colbuf_key **keys = n ? xcalloc(n, sizeof(*keys)) : NULL;
    size_t *bytes = n ? xcalloc(n, sizeof(*bytes)) : NULL;
    uint64_t *hashes = n ? xcalloc(n, sizeof(*hashes)) : NULL;
    size_t req_bytes = 0, req_rows = 0;
    for (size_t i = 0; i < n; i++) {
        const struct batch *b = batches[i];
        if (!b->sealed) {
            rc = errbuf_set(eb, RC_INTERNAL, "buffer: batch %s/%s is not sealed", b->db,
                            b->measurement);
            goto out_nolock;
        }
        if (b->nrows == 0)
            continue;
        bytes[i] = batch_mem_bytes(b);
        hashes[i] = key_hash(b->db, b->measurement);
        req_bytes += bytes[i];
        req_rows += b->nrows;
    }
    if (req_rows == 0)
        goto out_nolock;

    lock(cb);
    const size_t L = cb->limits.hard_limit_rows;
    if (cb->closed) {
        rc = errbuf_set(eb, RC_SHUTDOWN, "server is shutting down, writes are not accepted");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (batches[i]->nrows == 0)
            continue;
        keys[i] = key_get(cb, hashes[i], batches[i]->db, batches[i]->measurement);
        keys[i]->admit_rows += batches[i]->nrows;
    }
    /* A request that can never fit is a client error, not back-pressure. */
    for (size_t i = 0; i < n && rc == RC_OK; i++) {
        if (keys[i] && keys[i]->admit_rows > L)
            rc = errbuf_set(eb, RC_LIMIT,
                            "request has %zu rows for %s/%s, more than the buffer hard limit "
                            "of %zu rows; split it into smaller requests",
                            keys[i]->admit_rows, keys[i]->db, keys[i]->measurement, L);
    }
    if (rc == RC_OK && req_bytes > cb->limits.max_total_bytes)
        rc = errbuf_set(eb, RC_LIMIT,
                        "request needs %zu bytes of buffer memory, more than "
                        "max_total_buffer_mb allows (%zu bytes); split it into smaller requests",
                        req_bytes, cb->limits.max_total_bytes);
    for (size_t i = 0; i < n && rc == RC_OK; i++) {
        struct colbuf_key *k = keys[i];
        if (k && key_held(k) + k->admit_rows > L)
            rc = errbuf_set(eb, RC_BUSY,
                            "write buffer for %s/%s is full: %zu rows held, %zu more in this "
                            "request, limit %zu; retry later",
                            k->db, k->measurement, key_held(k), k->admit_rows, L);
    }
    if (rc == RC_OK && cb->held_bytes + req_bytes > cb->limits.max_total_bytes)
        rc = errbuf_set(eb, RC_BUSY,
                        "write buffers are full: %zu bytes held, %zu more in this request, "
                        "cap %zu bytes; retry later",
                        cb->held_bytes, req_bytes, cb->limits.max_total_bytes);

    for (size_t i = 0; i < n; i++)
        if (keys[i])
            keys[i]->admit_rows = 0;

    if (rc != RC_OK) {
        if (rc == RC_BUSY) {
            cb->total_rejections++;
            metric_inc(m.rejections);
        }
        /* Keys created for this request and left empty go away again. keys[i]
         * may repeat a key freed in an earlier iteration, so look it up. */
        for (size_t i = 0; i < n; i++) {
            if (!keys[i])
                continue;
            struct colbuf_key *k = key_find(cb, hashes[i], batches[i]->db, batches[i]->measurement);
            if (k)
                key_gc(cb, k);
        }
        goto out;
    }

    int64_t now = time_mono_ms();
    for (size_t i = 0; i < n; i++) {
        if (!keys[i])
            continue;
        struct batch *b = batches[i];
        uint64_t seq = ++cb->next_seq;
        /* batch->seq is the one field the buffer writes into a sealed batch;
         * readers see it through this lock or a later reference handoff. */
        b->seq = seq;
        key_append(keys[i], batch_ref(b), seq, bytes[i], now);
    }
    cb->held_rows += req_rows;
    cb->held_bytes += req_bytes;
    cb->total_buffered += req_rows;
    metric_add(m.records_buffered, req_rows);
    metric_add(m.bytes, req_bytes);
    for (size_t i = 0; i < n; i++)
        if (keys[i])
            key_schedule(cb, keys[i], now);

out:
    unlock(cb);
out_nolock:
    xfree(keys);
    xfree(bytes);
    xfree(hashes);
    return rc;
}

/* ---- flush workers ------------------------------------------------------ */

/*
 * Rows per flush. A take that held everything a key buffers could, with a
 * large ingestion.buffer_hard_limit, outlast flush_timeout_seconds, fail, and
 * be retried with the same rows forever. So a take holds at most take_cap
 * rows (whole batches, at least one): the hard limit at first (everything
 * the key holds), halved after each flush of the key that ran out of time
 * (RC_TIMEOUT) and doubled back after each success. Other failures (storage
 * errors) leave it alone.
 * What stays behind keeps its age and the key's `forced` flag, so it is due
 * again as soon as the take completes.
 */
static size_t take_cap_max(const struct colbuf *cb)
{
    return cb->limits.hard_limit_rows ? cb->limits.hard_limit_rows : SIZE_MAX;
}

static void take_cap_update(const struct colbuf *cb, struct colbuf_key *k, int write_rc)
{
    size_t cap = k->take_cap ? k->take_cap : take_cap_max(cb);
    if (write_rc == RC_TIMEOUT)
        cap = cap > 1 ? cap / 2 : 1;
    else if (write_rc == RC_OK)
        cap = cap < take_cap_max(cb) / 2 ? cap * 2 : take_cap_max(cb);
    k->take_cap = cap;
}

static void take_key(struct colbuf *cb, struct colbuf_key *k, struct colbuf_take *out)
{
    ASSERT_HELD(cb);
    size_t cap = k->take_cap ? k->take_cap : take_cap_max(cb);
    size_t total_rows = k->front_rows + k->buf_rows, total_bytes = k->front_bytes + k->buf_bytes;
    size_t n = 0, rows = 0, bytes = 0;
    while (n < k->nents && (n == 0 || rows + k->ents[n].rows <= cap)) {
        rows += k->ents[n].rows;
        bytes += k->ents[n].bytes;
        n++;
    }
    k->forced = k->forced && n < k->nents;
    k->in_flight = true;
    k->nfront = n;
    k->front_rows = rows;
    k->front_bytes = bytes;
    k->buf_rows = total_rows - rows;
    k->buf_bytes = total_bytes - bytes;

    memset(out, 0, sizeof(*out));
    out->key = k;
    snprintf(out->db, sizeof(out->db), "%s", k->db);
    snprintf(out->measurement, sizeof(out->measurement), "%s", k->measurement);
    out->n = k->nfront;
    out->batches = xmalloc(out->n * sizeof(*out->batches));
    for (size_t i = 0; i < k->nfront; i++) {
        out->batches[i] = batch_ref(k->ents[i].b);
        out->rows += k->ents[i].rows;
        out->max_seq = k->ents[i].seq;
    }
}

int colbuf_take_ready(struct colbuf *cb, int64_t wait_ms, struct colbuf_take *out)
{
    int rc;
    int64_t deadline = wait_ms < 0 ? -1 : time_mono_ms() + wait_ms;
    lock(cb);
    for (;;) {
        if (cb->workers_stopping) {
            rc = RC_SHUTDOWN;
            break;
        }
        int64_t now = time_mono_ms();
        if (now >= cb->next_scan_ms && now >= cb->last_scan_ms + SCAN_MIN_INTERVAL_MS)
            scan(cb, now);
        struct colbuf_key *k = due_pop(cb);
        if (k) {
            take_key(cb, k, out);
            rc = RC_OK;
            break;
        }
        if (deadline >= 0 && now >= deadline) {
            rc = RC_TIMEOUT;
            break;
        }
        int64_t until = cb->next_scan_ms;
        if (until < cb->last_scan_ms + SCAN_MIN_INTERVAL_MS)
            until = cb->last_scan_ms + SCAN_MIN_INTERVAL_MS;
        if (deadline >= 0 && deadline < until)
            until = deadline;
        cond_wait_until(cb, &cb->work_cond, until);
    }
    unlock(cb);
    return rc;
}

/* Counts the outcome of entry e (of key k) for every pending flush request
 * that selected it. A request counts each batch once: its first outcome after
 * the request began. */
static void account_reqs(struct colbuf *cb, const struct colbuf_key *k, const struct entry *e,
                         bool ok, const char *err_msg)
{
    for (struct flush_req *r = cb->reqs; r; r = r->next) {
        if (e->seq > r->max_seq || !key_matches(k, r->db, r->measurement))
            continue;
        if (e->fail_gen > r->start_gen)
            continue; /* already counted as failed for this request */
        if (ok) {
            r->written_rows += e->rows;
        } else {
            r->failed_rows += e->rows;
            if (!r->err[0])
                snprintf(r->err, sizeof(r->err), "%s", err_msg && *err_msg ? err_msg : "unknown");
        }
    }
}

void colbuf_complete(struct colbuf *cb, struct colbuf_take *take, int write_rc, const char *err_msg,
                     colbuf_publish_fn publish, void *publish_ctx)
{
    struct colbuf_key *k = take->key;
    bool ok = write_rc == RC_OK;
    /* References released after unlocking (freeing memory is not I/O, but
     * keeps the critical section short). */
    struct batch **release = xmalloc((take->n ? take->n : 1) * sizeof(*release));
    size_t nrelease = 0;
    size_t retry_dropped = 0, fit_dropped = 0;
    uint32_t attempts_seen = 0;
    size_t buffered_after = 0;

    lock(cb);
    DEBUG_ASSERT(k->in_flight && k->nfront == take->n);
    int64_t now = time_mono_ms();
    k->in_flight = false;
    if (ok) {
        if (publish)
            publish(publish_ctx);
        for (size_t i = 0; i < k->nfront; i++) {
            account_reqs(cb, k, &k->ents[i], true, NULL);
            release[nrelease++] = k->ents[i].b;
        }
        cb->held_rows -= k->front_rows;
        cb->held_bytes -= k->front_bytes;
        metric_sub(m.records_buffered, k->front_rows);
        metric_sub(m.bytes, k->front_bytes);
        cb->total_written += k->front_rows;
        cb->total_flushes++;
        metric_add(m.written, k->front_rows);
        metric_inc(m.flushes);
        memmove(k->ents, k->ents + k->nfront, (k->nents - k->nfront) * sizeof(*k->ents));
        k->nents -= k->nfront;
        k->nfront = 0;
        k->front_rows = k->front_bytes = 0;
        k->consecutive_failures = 0;
        k->retry_at_ms = 0;
        take_cap_update(cb, k, RC_OK);
    } else {
        const size_t L = cb->limits.hard_limit_rows;
        uint32_t limit = cb->retry.retry_limit;
        cb->total_errors++;
        metric_inc(m.failures);
        cb->gen++;
        size_t kept = 0, kept_rows = 0, kept_bytes = 0;
        for (size_t i = 0; i < k->nfront; i++) {
            struct entry e = k->ents[i];
            account_reqs(cb, k, &e, false, err_msg);
            e.fail_gen = cb->gen;
            e.attempts++;
            if (e.attempts > attempts_seen)
                attempts_seen = e.attempts;
            bool exhausted = limit > 0 && e.attempts >= limit;
            /* R3.2: the returned rows go back ahead of the buffered ones only
             * while buffered + returned <= L. */
            bool fits = k->buf_rows + kept_rows + e.rows <= L;
            if (exhausted || !fits) {
                if (exhausted)
                    retry_dropped += e.rows;
                else
                    fit_dropped += e.rows;
                release[nrelease++] = e.b;
                cb->held_rows -= e.rows;
                cb->held_bytes -= e.bytes;
                metric_sub(m.records_buffered, e.rows);
                metric_sub(m.bytes, e.bytes);
                continue;
            }
            k->ents[kept++] = e;
            kept_rows += e.rows;
            kept_bytes += e.bytes;
        }
        size_t dropped = retry_dropped + fit_dropped;
        if (kept < k->nfront)
            memmove(k->ents + kept, k->ents + k->nfront, (k->nents - k->nfront) * sizeof(*k->ents));
        k->nents -= k->nfront - kept;
        k->nfront = kept;
        k->front_rows = kept_rows;
        k->front_bytes = kept_bytes;
        cb->total_dropped += dropped;
        metric_add(m.dropped, dropped);
        k->consecutive_failures++;
        k->retry_at_ms = now + backoff_ms(cb, k->consecutive_failures);
        take_cap_update(cb, k, write_rc);
    }
    buffered_after = k->buf_rows;
    if (k->nents == 0)
        k->forced = false;
    key_schedule(cb, k, now);
    if (cb->reqs)
        pthread_cond_broadcast(&cb->done_cond);
    char db[DB_NAME_MAX + 1], meas[MEASUREMENT_NAME_MAX + 1];
    snprintf(db, sizeof(db), "%s", k->db);
    snprintf(meas, sizeof(meas), "%s", k->measurement);
    key_gc(cb, k);
    unlock(cb);

    for (size_t i = 0; i < take->n; i++)
        batch_unref(&take->batches[i]);
    xfree(take->batches);
    take->batches = NULL;
    take->n = 0;
    take->key = NULL;
    for (size_t i = 0; i < nrelease; i++)
        batch_unref(&release[i]);
    xfree(release);

    if (retry_dropped)
        log_error("buffer",
                  "dropping rows after failed flushes db=%s measurement=%s rows=%zu attempts=%u "
                  "reason=flush_retry_limit error=\"%s\"",
                  db, meas, retry_dropped, attempts_seen, err_msg ? err_msg : "");
    if (fit_dropped)
        log_error("buffer",
                  "dropping rows after failed flush, they no longer fit the buffer db=%s "
                  "measurement=%s rows=%zu buffered=%zu error=\"%s\"",
                  db, meas, fit_dropped, buffered_after, err_msg ? err_msg : "");
}

void colbuf_set_workers_stopping(struct colbuf *cb, bool stopping)
{
    lock(cb);
    cb->workers_stopping = stopping;
    pthread_cond_broadcast(&cb->work_cond);
    pthread_cond_broadcast(&cb->done_cond);
    unlock(cb);
}

int colbuf_flush_wait(struct colbuf *cb, const char *db, const char *measurement,
                      int64_t timeout_ms, uint64_t *out_records, struct errbuf *eb)
{
    int rc = RC_OK;
    struct flush_req req = {.db = db, .measurement = measurement};
    int64_t deadline = timeout_ms < 0 ? -1 : time_mono_ms() + timeout_ms;

    lock(cb);
    req.max_seq = cb->next_seq;
    req.start_gen = cb->gen;
    int64_t now = time_mono_ms();
    /* Every batch held now has seq <= max_seq, so all held rows of a selected
     * key are pending. */
    if (db && measurement) {
        struct colbuf_key *k = key_find(cb, key_hash(db, measurement), db, measurement);
        if (k && k->nents) {
            req.pending_rows = key_held(k);
            k->forced = true;
            key_schedule(cb, k, now);
        }
    } else {
        for (size_t i = 0; i < cb->nbuckets; i++) {
            for (struct colbuf_key *k = cb->buckets[i]; k; k = k->hnext) {
                if (!k->nents || !key_matches(k, db, measurement))
                    continue;
                req.pending_rows += key_held(k);
                k->forced = true;
                key_schedule(cb, k, now);
            }
        }
    }
    req.next = cb->reqs;
    cb->reqs = &req;
    while (req.written_rows + req.failed_rows < req.pending_rows) {
        if (cb->workers_stopping) {
            rc = errbuf_set(eb, RC_SHUTDOWN, "Flush failed: flush workers are stopping");
            break;
        }
        if (deadline >= 0 && time_mono_ms() >= deadline) {
            rc = errbuf_set(eb, RC_TIMEOUT,
                            "Flush failed: timed out after %lld ms with %llu of %llu rows "
                            "written",
                            (long long)timeout_ms, (unsigned long long)req.written_rows,
                            (unsigned long long)req.pending_rows);
            break;
        }
        cond_wait_until(cb, &cb->done_cond, deadline);
    }
    struct flush_req **pp = &cb->reqs;
    while (*pp != &req)
        pp = &(*pp)->next;
    *pp = req.next;
    unlock(cb);

    if (rc == RC_OK && req.failed_rows)
        rc = errbuf_set(eb, RC_IO, "Flush failed: %llu of %llu rows could not be written: %s",
                        (unsigned long long)req.failed_rows, (unsigned long long)req.pending_rows,
                        req.err);
    if (out_records)
        *out_records = req.written_rows;
    return rc;
}

/* ---- queries ------------------------------------------------------------- */

int colbuf_snapshot(struct colbuf *cb, const char *db, const char *measurement,
                    void (*under_lock)(void *ctx), void *ctx, struct batch ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    lock(cb);
    struct colbuf_key *k = key_find(cb, key_hash(db, measurement), db, measurement);
    if (k && k->nents) {
        *out = xmalloc(k->nents * sizeof(**out));
        for (size_t i = 0; i < k->nents; i++)
            (*out)[i] = batch_ref(k->ents[i].b);
        *n = k->nents;
    }
    if (under_lock)
        under_lock(ctx);
    unlock(cb);
    return RC_OK;
}

void colbuf_snapshot_free(struct batch ***bs, size_t n)
{
    if (!bs || !*bs)
        return;
    for (size_t i = 0; i < n; i++)
        batch_unref(&(*bs)[i]);
    xfree(*bs);
    *bs = NULL;
}

/* ---- stats --------------------------------------------------------------- */

void colbuf_get_stats(struct colbuf *cb, struct colbuf_stats *out)
{
    memset(out, 0, sizeof(*out));
    lock(cb);
    int64_t now = time_mono_ms();
    int64_t oldest = INT64_MAX;
    size_t nkeys = 0;
    for (size_t i = 0; i < cb->nbuckets; i++) {
        for (struct colbuf_key *k = cb->buckets[i]; k; k = k->hnext) {
            if (!k->nents)
                continue;
            nkeys++;
            if (k->ents[0].arrival_ms < oldest)
                oldest = k->ents[0].arrival_ms;
        }
    }
    out->total_records_buffered = cb->total_buffered;
    out->total_records_written = cb->total_written;
    out->total_flushes = cb->total_flushes;
    out->total_errors = cb->total_errors;
    out->total_records_dropped = cb->total_dropped;
    out->total_rejections = cb->total_rejections;
    out->held_rows = cb->held_rows;
    out->held_bytes = cb->held_bytes;
    out->nkeys = nkeys;
    out->hard_limit_rows = cb->limits.hard_limit_rows;
    out->oldest_buffer_age_seconds = oldest == INT64_MAX ? 0.0 : (double)(now - oldest) / 1000.0;
    unlock(cb);
}

void colbuf_key_sizes(struct colbuf *cb, struct colbuf_key_size **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    lock(cb);
    size_t cap = cb->nkeys, cnt = 0;
    struct colbuf_key_size *arr = cap ? xmalloc(cap * sizeof(*arr)) : NULL;
    for (size_t i = 0; i < cb->nbuckets; i++) {
        for (struct colbuf_key *k = cb->buckets[i]; k; k = k->hnext) {
            if (!k->nents)
                continue;
            memcpy(arr[cnt].db, k->db, sizeof(arr[cnt].db));
            memcpy(arr[cnt].measurement, k->measurement, sizeof(arr[cnt].measurement));
            arr[cnt].held_rows = key_held(k);
            cnt++;
        }
    }
    unlock(cb);
    if (!cnt) {
        xfree(arr);
        arr = NULL;
    }
    *out = arr;
    *n = cnt;
}

bool colbuf_key_is_full(struct colbuf *cb, const char *db, const char *measurement)
{
    lock(cb);
    struct colbuf_key *k = key_find(cb, key_hash(db, measurement), db, measurement);
    bool full = k && key_held(k) >= cb->limits.hard_limit_rows;
    unlock(cb);
    return full;
}

bool colbuf_key_info(struct colbuf *cb, const char *db, const char *measurement,
                     struct colbuf_key_info *out)
{
    memset(out, 0, sizeof(*out));
    lock(cb);
    struct colbuf_key *k = key_find(cb, key_hash(db, measurement), db, measurement);
    bool found = k && k->nents;
    if (found) {
        out->buffered_rows = k->buf_rows;
        out->in_flight_rows = k->in_flight ? k->front_rows : 0;
        out->retry_rows = k->in_flight ? 0 : k->front_rows;
        out->held_bytes = k->front_bytes + k->buf_bytes;
        out->nbatches = k->nents;
        out->consecutive_failures = k->consecutive_failures;
        if (!k->in_flight && k->nfront) {
            int64_t left = k->retry_at_ms - time_mono_ms();
            out->retry_in_ms = left > 0 ? left : 0;
        }
        for (size_t i = 0; i < k->nents; i++)
            if (k->ents[i].attempts > out->max_attempts)
                out->max_attempts = k->ents[i].attempts;
    }
    unlock(cb);
    return found;
}

bool colbuf_invariants_ok(struct colbuf *cb)
{
    bool ok = true;
    lock(cb);
    size_t rows = 0, bytes = 0, nkeys = 0;
    for (size_t i = 0; i < cb->nbuckets; i++) {
        for (struct colbuf_key *k = cb->buckets[i]; k; k = k->hnext) {
            nkeys++;
            size_t fr = 0, fb = 0, br = 0, bb = 0;
            for (size_t j = 0; j < k->nents; j++) {
                const struct entry *e = &k->ents[j];
                if (e->rows != e->b->nrows || e->seq != e->b->seq)
                    ok = false;
                if (j > 0 && k->ents[j - 1].seq >= e->seq)
                    ok = false;
                if (j < k->nfront) {
                    fr += e->rows;
                    fb += e->bytes;
                } else {
                    br += e->rows;
                    bb += e->bytes;
                }
            }
            if (fr != k->front_rows || fb != k->front_bytes || br != k->buf_rows ||
                bb != k->buf_bytes || k->nfront > k->nents || k->admit_rows)
                ok = false;
            if (key_held(k) > cb->limits.hard_limit_rows)
                ok = false;
            if (!k->nents && !k->in_flight && !k->queued)
                ok = false; /* empty keys are garbage-collected */
            if (k->in_flight && !k->nfront)
                ok = false;
            rows += fr + br;
            bytes += fb + bb;
        }
    }
    if (rows != cb->held_rows || bytes != cb->held_bytes || nkeys != cb->nkeys ||
        bytes > cb->limits.max_total_bytes)
        ok = false;
    unlock(cb);
    return ok;
}
