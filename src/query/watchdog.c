/*
 * query/watchdog.c — query deadlines: one thread interrupts connections
 * whose query ran past query.timeout_seconds (SPEC §11 R1.4).
 *
 * A cursor links an entry (connection + deadline) when it gets its
 * connection and unlinks it before returning the connection to the pool.
 * The thread sleeps until the earliest deadline (or a new entry), then calls
 * duckdb_interrupt on every expired entry and marks it fired; the cursor
 * sees the INTERRUPT error, reports RC_TIMEOUT and returns the connection
 * with DBPOOL_CHECK.
 *
 * Lock: w->lock guards the list and `stop`. duckdb_interrupt is called with
 * it held — deliberately: it only sets a flag on the connection's context
 * (no I/O, no DuckDB lock), and holding w->lock is what guarantees the
 * connection is not returned and closed meanwhile (qwatch_remove takes the
 * same lock). This is not the pool lock (R1.1 concerns that one).
 *
 * Threads: the watchdog thread "arc-qwatch"; query threads add/remove.
 */
#include "query/query_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "util/condvar.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct qwatch {
    pthread_t thread;
    /* lock guards head and stop. */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* list changed or stop */
    struct qwatch_entry *head;
    bool stop;
};

static void *watch_main(void *arg)
{
    struct qwatch *w = arg;
    pthread_setname_np(pthread_self(), "arc-qwatch");
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        int64_t now = time_mono_ms();
        int64_t next = INT64_MAX;
        for (struct qwatch_entry *e = w->head; e; e = e->next) {
            if (atomic_load(&e->fired))
                continue;
            if (e->deadline_ms <= now) {
                atomic_store(&e->fired, true);
                duckdb_interrupt(e->conn);
            } else if (e->deadline_ms < next) {
                next = e->deadline_ms;
            }
        }
        if (next == INT64_MAX) {
            pthread_cond_wait(&w->cond, &w->lock);
        } else {
            int64_t ns = next * 1000000;
            struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int qwatch_start(struct qwatch **out, struct errbuf *eb)
{
    struct qwatch *w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    cond_init_monotonic(&w->cond);
    int e = pthread_create(&w->thread, NULL, watch_main, w);
    if (e) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        xfree(w);
        return errbuf_set(eb, RC_INTERNAL, "cannot start the query watchdog: %s", strerror(e));
    }
    *out = w;
    return RC_OK;
}

void qwatch_stop(struct qwatch **wp)
{
    if (!wp || !*wp)
        return;
    struct qwatch *w = *wp;
    *wp = NULL;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    xfree(w);
}

void qwatch_add(struct qwatch *w, struct qwatch_entry *e, duckdb_connection conn,
                int64_t deadline_ms)
{
    e->conn = conn;
    e->deadline_ms = deadline_ms;
    atomic_init(&e->fired, false);
    pthread_mutex_lock(&w->lock);
    e->prev = NULL;
    e->next = w->head;
    if (w->head)
        w->head->prev = e;
    w->head = e;
    e->linked = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void qwatch_remove(struct qwatch *w, struct qwatch_entry *e)
{
    pthread_mutex_lock(&w->lock);
    if (e->linked) {
        if (e->prev)
            e->prev->next = e->next;
        else
            w->head = e->next;
        if (e->next)
            e->next->prev = e->prev;
        e->linked = false;
    }
    pthread_mutex_unlock(&w->lock);
}
