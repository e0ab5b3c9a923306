/*
 * query/pool.c — the DuckDB connection pool of the query engine
 * (SPEC §11 R1, DESIGN invariant 5).
 *
 * Slots and their states (R1.2: every slot is in exactly one state, so the
 * four counts always sum to the pool size):
 *
 *            acquire                          release(HEALTHY)
 *   IDLE ─────────────► IN_USE ─────────────────────────────────► IDLE
 *                         │ release(REPLACE / failed CHECK / stale generation)
 *                         ▼
 *                     REPLACING ── new connection opened ──► IDLE  (+ signal)
 *                         │ open failed
 *                         ▼
 *   EMPTY ── acquire finds no IDLE slot ──► REPLACING ── opened ──► IN_USE (the acquirer's)
 *                                                       └ failed ─► EMPTY (+ signal), RC_DB
 *
 * Rules (R1.1, R1.3):
 *   - `lock` is held only to read or change slot states and counters: never
 *     while opening, checking, closing or interrupting a connection or
 *     running SQL (those happen between two short critical sections, with
 *     the slot in REPLACING or IN_USE so nobody else touches it);
 *   - a borrower never gets a NULL connection: IN_USE always has one;
 *   - every borrowed slot is returned exactly once (dbpool_release), and
 *     every path that ends a REPLACING state signals one waiter;
 *   - waiting is bounded: at most max_queue waiters, each at most
 *     acquire_timeout_ms (timed wait on a CLOCK_MONOTONIC condvar), then
 *     RC_BUSY (HTTP 503 + Retry-After).
 *
 * Fault hooks (util/faults.h): duckdb_connect_fail_every=N fails every Nth
 * connection attempt; dbpool_test_fail_connects fails all of them (T1.3).
 *
 * Metrics: arc_db_connections_open, arc_db_connections_in_use (gauges),
 * arc_db_pool_wait_timeouts_total, arc_db_connection_replacements_total,
 * arc_db_connection_replacement_failures_total.
 *
 * Threads: query threads (acquire/release), the scheduler or tests
 * (invalidate_all), startup/shutdown (new/free).
 */
#include "query/query_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "util/condvar.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct slot {
    enum dbpool_slot_state state;
    duckdb_connection conn; /* non-NULL in IDLE and IN_USE */
    idx_t conn_id;
    uint64_t generation; /* pool generation at open */
};

struct dbpool {
    /* Immutable after dbpool_new. */
    duckdb_database db;
    unsigned size, max_queue;
    int64_t acquire_timeout_ms;
    long fail_every; /* fault hook, 0 = off */

    atomic_uint_fast64_t connect_attempts;
    atomic_bool test_fail;

    /* lock guards every field below. Held only for state changes (no
     * DuckDB call, no I/O, no other lock taken inside). */
    pthread_mutex_t lock;
    pthread_cond_t avail; /* a slot became IDLE or EMPTY */
    struct slot *slots;
    unsigned waiting;    /* threads in the timed wait */
    uint64_t generation; /* bumped by dbpool_invalidate_all */
    uint64_t acquire_timeouts, replacements, replacement_failures;
};

static struct metric *m_open, *m_in_use, *m_wait_timeouts, *m_repl, *m_repl_fail;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
    m_open = metrics_gauge("arc_db_connections_open", "Open DuckDB query connections", NULL);
    m_in_use = metrics_gauge("arc_db_connections_in_use", "DuckDB query connections in use", NULL);
    m_wait_timeouts =
        metrics_counter("arc_db_pool_wait_timeouts_total",
                        "Queries refused: no pool connection in time or queue full", NULL);
    m_repl = metrics_counter("arc_db_connection_replacements_total",
                             "Query connections (re)opened in place of an unhealthy or missing one",
                             NULL);
    m_repl_fail = metrics_counter("arc_db_connection_replacement_failures_total",
                                  "Failed attempts to open a replacement query connection", NULL);
}

/* Longest wait for `lock` seen (instrumentation for T1.2). */
static atomic_int_fast64_t max_lock_wait_ns;

static void pool_lock(struct dbpool *p)
{
    int64_t t0 = time_mono_ns();
    pthread_mutex_lock(&p->lock);
    int64_t w = time_mono_ns() - t0;
    int64_t prev = atomic_load(&max_lock_wait_ns);
    while (w > prev && !atomic_compare_exchange_weak(&max_lock_wait_ns, &prev, w))
        ;
}

static void pool_unlock(struct dbpool *p)
{
    pthread_mutex_unlock(&p->lock);
}

/* Call with lock held. */
static void update_gauges(struct dbpool *p)
{
    int64_t open = 0, used = 0;
    for (unsigned i = 0; i < p->size; i++) {
        if (p->slots[i].state == SLOT_IDLE)
            open++;
        else if (p->slots[i].state == SLOT_IN_USE)
            open++, used++;
    }
    metric_set(m_open, open);
    metric_set(m_in_use, used);
}

/* Opens one connection. Never called with the lock held. */
static int open_conn(struct dbpool *p, duckdb_connection *out, idx_t *out_id, struct errbuf *eb)
{
    uint64_t n = atomic_fetch_add(&p->connect_attempts, 1) + 1;
    if (atomic_load(&p->test_fail) || (p->fail_every > 0 && n % (uint64_t)p->fail_every == 0))
        return errbuf_set(eb, RC_DB, "cannot open a DuckDB connection (fault injection)");
    duckdb_connection c = NULL;
    if (duckdb_connect(p->db, &c) == DuckDBError)
        return errbuf_set(eb, RC_DB, "cannot open a DuckDB connection");
    duckdb_client_context ctx = NULL;
    duckdb_connection_get_client_context(c, &ctx);
    *out_id = ctx ? duckdb_client_context_get_connection_id(ctx) : (idx_t)-1;
    duckdb_destroy_client_context(&ctx);
    *out = c;
    return RC_OK;
}

int dbpool_new(duckdb_database db, const struct dbpool_options *o, struct dbpool **out,
               struct errbuf *eb)
{
    if (o->size == 0)
        return errbuf_set(eb, RC_INVALID, "duckdb.pool_size must be at least 1");
    pthread_once(&metrics_once, metrics_init);
    struct dbpool *p = xcalloc(1, sizeof(*p));
    p->db = db;
    p->size = o->size;
    p->max_queue = o->max_queue;
    p->acquire_timeout_ms = o->acquire_timeout_ms > 0 ? o->acquire_timeout_ms : 0;
    p->fail_every = faults_value("duckdb_connect_fail_every", 0);
    atomic_init(&p->connect_attempts, 0);
    atomic_init(&p->test_fail, false);
    pthread_mutex_init(&p->lock, NULL);
    cond_init_monotonic(&p->avail);
    p->slots = xcalloc(p->size, sizeof(*p->slots));
    unsigned opened = 0;
    for (unsigned i = 0; i < p->size; i++) {
        struct errbuf e = {0};
        if (open_conn(p, &p->slots[i].conn, &p->slots[i].conn_id, &e) == RC_OK) {
            p->slots[i].state = SLOT_IDLE;
            opened++;
        } else {
            p->slots[i].state = SLOT_EMPTY;
            log_warn("query", "pool slot starts empty slot=%u err=%s", i, e.msg);
        }
    }
    pool_lock(p);
    update_gauges(p);
    pool_unlock(p);
    log_info("query", "connection pool ready size=%u open=%u max_queue=%u acquire_timeout_ms=%lld",
             p->size, opened, p->max_queue, (long long)p->acquire_timeout_ms);
    *out = p;
    return RC_OK;
}

void dbpool_free(struct dbpool **pp)
{
    if (!pp || !*pp)
        return;
    struct dbpool *p = *pp;
    *pp = NULL;
    for (unsigned i = 0; i < p->size; i++)
        if (p->slots[i].conn)
            duckdb_disconnect(&p->slots[i].conn);
    metric_set(m_open, 0);
    metric_set(m_in_use, 0);
    pthread_cond_destroy(&p->avail);
    pthread_mutex_destroy(&p->lock);
    xfree(p->slots);
    xfree(p);
}

static int find_slot(const struct dbpool *p, enum dbpool_slot_state st)
{
    for (unsigned i = 0; i < p->size; i++)
        if (p->slots[i].state == st)
            return (int)i;
    return -1;
}

static void take(struct dbpool *p, unsigned i, struct dbpool_conn *out)
{
    struct slot *s = &p->slots[i];
    s->state = SLOT_IN_USE;
    out->slot = i;
    out->conn = s->conn;
    out->conn_id = s->conn_id;
    out->generation = s->generation;
    update_gauges(p);
}

int dbpool_acquire(struct dbpool *p, struct dbpool_conn *out, double *wait_ms, struct errbuf *eb)
{
    int64_t t0 = time_mono_ns();
    int64_t deadline_ns = t0 + p->acquire_timeout_ms * 1000000;
    bool queued = false, timed_out = false;
    int rc = RC_OK;
    memset(out, 0, sizeof(*out));

    pool_lock(p);
    for (;;) {
        int i = find_slot(p, SLOT_IDLE);
        if (i >= 0) {
            take(p, (unsigned)i, out);
            break;
        }
        i = find_slot(p, SLOT_EMPTY);
        if (i >= 0) {
            /* R1.3: take the empty slot and open its connection ourselves,
             * outside the lock. */
            struct slot *s = &p->slots[i];
            s->state = SLOT_REPLACING;
            uint64_t gen = p->generation;
            pool_unlock(p);
            duckdb_connection c = NULL;
            idx_t id = 0;
            rc = open_conn(p, &c, &id, eb);
            pool_lock(p);
            if (rc == RC_OK) {
                s->conn = c;
                s->conn_id = id;
                s->generation = gen;
                p->replacements++;
                metric_inc(m_repl);
                take(p, (unsigned)i, out);
            } else {
                s->state = SLOT_EMPTY;
                p->replacement_failures++;
                metric_inc(m_repl_fail);
                pthread_cond_signal(&p->avail);
            }
            break;
        }
        if (timed_out) {
            p->acquire_timeouts++;
            metric_inc(m_wait_timeouts);
            rc = errbuf_set(eb, RC_BUSY, "no query connection available within %lld ms",
                            (long long)p->acquire_timeout_ms);
            break;
        }
        if (!queued) {
            if (p->waiting >= p->max_queue || p->acquire_timeout_ms == 0) {
                p->acquire_timeouts++;
                metric_inc(m_wait_timeouts);
                rc = errbuf_set(eb, RC_BUSY, "query queue is full (%u waiting)", p->waiting);
                break;
            }
            p->waiting++;
            queued = true;
        }
        struct timespec ts = {.tv_sec = deadline_ns / 1000000000,
                              .tv_nsec = deadline_ns % 1000000000};
        int w = pthread_cond_timedwait(&p->avail, &p->lock, &ts);
        if (w == ETIMEDOUT || time_mono_ns() >= deadline_ns)
            timed_out = true; /* one more look, then give up */
    }
    if (queued)
        p->waiting--;
    pool_unlock(p);
    if (wait_ms)
        *wait_ms = (double)(time_mono_ns() - t0) / 1e6;
    return rc;
}

/* Runs a trivial query; false if the connection does not answer. */
static bool conn_check(duckdb_connection c)
{
    duckdb_result res;
    bool ok = duckdb_query(c, "SELECT 1", &res) == DuckDBSuccess;
    duckdb_destroy_result(&res);
    return ok;
}

/* Closes the slot's connection and opens a new one; slot is REPLACING and
 * `old` was its connection. Never called with the lock held. */
static void replace_slot(struct dbpool *p, unsigned i, duckdb_connection old, uint64_t gen)
{
    if (old)
        duckdb_disconnect(&old);
    duckdb_connection c = NULL;
    idx_t id = 0;
    struct errbuf e = {0};
    int rc = open_conn(p, &c, &id, &e);
    pool_lock(p);
    struct slot *s = &p->slots[i];
    if (rc == RC_OK) {
        s->conn = c;
        s->conn_id = id;
        s->generation = gen;
        s->state = SLOT_IDLE;
        p->replacements++;
        metric_inc(m_repl);
    } else {
        s->conn = NULL;
        s->state = SLOT_EMPTY;
        p->replacement_failures++;
        metric_inc(m_repl_fail);
    }
    update_gauges(p);
    pthread_cond_signal(&p->avail);
    pool_unlock(p);
    if (rc != RC_OK)
        log_warn("query", "replacing a query connection failed slot=%u err=%s", i, e.msg);
}

void dbpool_release(struct dbpool *p, struct dbpool_conn *c, enum dbpool_health h)
{
    if (!c || !c->conn)
        return;
    if (h == DBPOOL_CHECK && !conn_check(c->conn))
        h = DBPOOL_REPLACE;
    pool_lock(p);
    struct slot *s = &p->slots[c->slot];
    if (h != DBPOOL_REPLACE && s->generation != p->generation)
        h = DBPOOL_REPLACE;
    if (h != DBPOOL_REPLACE) {
        s->state = SLOT_IDLE;
        update_gauges(p);
        pthread_cond_signal(&p->avail);
        pool_unlock(p);
        c->conn = NULL;
        return;
    }
    s->state = SLOT_REPLACING;
    duckdb_connection old = s->conn;
    s->conn = NULL;
    uint64_t gen = p->generation;
    update_gauges(p);
    pool_unlock(p);
    c->conn = NULL;
    replace_slot(p, c->slot, old, gen);
}

void dbpool_invalidate_all(struct dbpool *p)
{
    unsigned n = 0;
    unsigned *idx = xmalloc(p->size * sizeof(*idx));
    duckdb_connection *old = xmalloc(p->size * sizeof(*old));
    pool_lock(p);
    p->generation++;
    uint64_t gen = p->generation;
    for (unsigned i = 0; i < p->size; i++) {
        if (p->slots[i].state == SLOT_IDLE) {
            p->slots[i].state = SLOT_REPLACING;
            old[n] = p->slots[i].conn;
            p->slots[i].conn = NULL;
            idx[n++] = i;
        }
    }
    update_gauges(p);
    pool_unlock(p);
    for (unsigned k = 0; k < n; k++)
        replace_slot(p, idx[k], old[k], gen);
    xfree(idx);
    xfree(old);
}

void dbpool_counts(struct dbpool *p, struct dbpool_counts *out)
{
    memset(out, 0, sizeof(*out));
    pool_lock(p);
    out->size = p->size;
    out->max_queue = p->max_queue;
    out->waiting = p->waiting;
    for (unsigned i = 0; i < p->size; i++) {
        switch (p->slots[i].state) {
        case SLOT_IDLE: out->idle++; break;
        case SLOT_IN_USE: out->in_use++; break;
        case SLOT_REPLACING: out->replacing++; break;
        case SLOT_EMPTY: out->empty++; break;
        }
    }
    out->acquire_timeouts = p->acquire_timeouts;
    out->replacements = p->replacements;
    out->replacement_failures = p->replacement_failures;
    pool_unlock(p);
    out->max_lock_wait_ns = atomic_load(&max_lock_wait_ns);
}

void dbpool_test_fail_connects(struct dbpool *p, bool on)
{
    atomic_store(&p->test_fail, on);
}
