/*
 * flush/flusher.c — flush worker threads (see flusher.h).
 *
 * Owns: the worker threads and the sink handle. The buffer (buffer/colbuf.c)
 * owns all scheduling state: which key is due, back-off, retry accounting and
 * the pending synchronous flushes; the flusher only moves data:
 *
 *   worker loop:  colbuf_take_ready      (buffer lock, waits until a key is due)
 *                 sink.write             (no lock held; may take seconds)
 *                 colbuf_complete        (buffer lock; on success sink.publish
 *                                         runs under it, so queries see each row
 *                                         either buffered or in a file, once)
 *                 on_flushed, on_batches_flushed hooks (no lock held)
 *
 * Threads: N workers named arc-flush-<i>; flusher_flush runs on HTTP worker
 * threads, flusher_start/stop on main. Age-based due-ness is evaluated by the
 * workers inside colbuf_take_ready at least once per second.
 */
#include "flush/flusher.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define DEFAULT_WORKERS 2
#define MAX_WORKERS 64
#define STOP_RETRY_PAUSE_MS 500 /* between shutdown flush attempts while storage fails */

struct flusher {
    /* Set at start, never changed. */
    struct colbuf *cb;
    struct flush_sink sink;
    struct flusher_options opts;
    pthread_t *threads;
    unsigned nthreads;

    _Atomic bool stopping; /* flusher_stop has begun: flusher_flush refuses */
};

struct worker_arg {
    struct flusher *f;
    unsigned index;
};

struct publish_ctx {
    const struct flush_sink *sink;
    void *token;
};

/* Runs under the buffer lock (colbuf_complete). */
static void publish_cb(void *ctx)
{
    struct publish_ctx *p = ctx;
    p->sink->publish(p->sink->ctx, p->token);
}

static void flush_one(struct flusher *f, struct colbuf_take *take)
{
    struct errbuf eb;
    errbuf_clear(&eb);
    void *token = NULL;
    int64_t t0 = time_mono_ms();
    int rc = f->sink.write(f->sink.ctx, take->db, take->measurement,
                           (struct batch *const *)take->batches, take->n, &token, &eb);
    int64_t took_ms = time_mono_ms() - t0;
    if (rc == RC_OK) {
        /* colbuf_complete releases the take's references: the batches hook
         * needs its own. */
        struct batch **flushed = NULL;
        size_t nflushed = f->opts.on_batches_flushed ? take->n : 0;
        if (nflushed) {
            flushed = xmalloc(nflushed * sizeof(*flushed));
            for (size_t i = 0; i < nflushed; i++)
                flushed[i] = batch_ref(take->batches[i]);
        }
        struct publish_ctx pc = {.sink = &f->sink, .token = token};
        colbuf_complete(f->cb, take, RC_OK, NULL, publish_cb, &pc);
        log_debug("flush", "flushed db=%s measurement=%s rows=%zu took_ms=%lld", take->db,
                  take->measurement, take->rows, (long long)took_ms);
        if (f->opts.on_flushed)
            f->opts.on_flushed(f->opts.on_flushed_ctx, take->db, take->measurement, take->max_seq);
        if (nflushed) {
            f->opts.on_batches_flushed(f->opts.on_batches_flushed_ctx, flushed, nflushed);
            for (size_t i = 0; i < nflushed; i++)
                batch_unref(&flushed[i]);
            xfree(flushed);
        }
    } else {
        const char *msg = eb.msg[0] ? eb.msg : rc_name(rc);
        log_warn("flush", "flush failed db=%s measurement=%s rows=%zu took_ms=%lld err=%s",
                 take->db, take->measurement, take->rows, (long long)took_ms, msg);
        colbuf_complete(f->cb, take, rc, msg, NULL, NULL);
    }
}

static void *worker_main(void *arg)
{
    struct worker_arg wa = *(struct worker_arg *)arg;
    xfree(arg);
    char name[16];
    snprintf(name, sizeof(name), "arc-flush-%u", wa.index);
    pthread_setname_np(pthread_self(), name);

    for (;;) {
        struct colbuf_take take;
        int rc = colbuf_take_ready(wa.f->cb, -1, &take);
        if (rc == RC_SHUTDOWN)
            break;
        if (rc != RC_OK)
            continue; /* RC_TIMEOUT cannot happen with an unbounded wait */
        flush_one(wa.f, &take);
    }
    return NULL;
}

/* Stops and joins the first n threads. */
static void join_workers(struct flusher *f, unsigned n)
{
    colbuf_set_workers_stopping(f->cb, true);
    for (unsigned i = 0; i < n; i++)
        pthread_join(f->threads[i], NULL);
}

int flusher_start(struct colbuf *cb, struct flush_sink sink, const struct flusher_options *opts,
                  struct flusher **out, struct errbuf *eb)
{
    if (!cb || !sink.write || !sink.publish)
        return errbuf_set(eb, RC_INVALID,
                          "flusher: buffer, sink.write and sink.publish are "
                          "required");
    struct flusher *f = xcalloc(1, sizeof(*f));
    f->cb = cb;
    f->sink = sink;
    if (opts)
        f->opts = *opts;
    if (f->opts.nworkers == 0)
        f->opts.nworkers = DEFAULT_WORKERS;
    if (f->opts.nworkers > MAX_WORKERS)
        f->opts.nworkers = MAX_WORKERS;
    atomic_init(&f->stopping, false);
    f->threads = xcalloc(f->opts.nworkers, sizeof(*f->threads));

    colbuf_set_workers_stopping(cb, false);
    for (unsigned i = 0; i < f->opts.nworkers; i++) {
        struct worker_arg *wa = xmalloc(sizeof(*wa));
        wa->f = f;
        wa->index = i;
        int err = pthread_create(&f->threads[i], NULL, worker_main, wa);
        if (err) {
            xfree(wa);
            join_workers(f, i);
            xfree(f->threads);
            xfree(f);
            return errbuf_set(eb, RC_INTERNAL, "flusher: cannot start worker thread: %s",
                              strerror(err));
        }
        f->nthreads++;
    }
    log_info("flush", "flush workers started count=%u", f->nthreads);
    *out = f;
    return RC_OK;
}

int flusher_flush(struct flusher *f, const char *db, const char *measurement, int64_t timeout_ms,
                  uint64_t *out_records, struct errbuf *eb)
{
    if (out_records)
        *out_records = 0;
    if (atomic_load(&f->stopping))
        return errbuf_set(eb, RC_SHUTDOWN, "Flush failed: the server is shutting down");
    return colbuf_flush_wait(f->cb, db, measurement, timeout_ms, out_records, eb);
}

int flusher_stop(struct flusher **fp, int64_t timeout_ms)
{
    if (!fp || !*fp)
        return RC_OK;
    struct flusher *f = *fp;
    int64_t deadline = time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    atomic_store(&f->stopping, true);
    colbuf_close(f->cb);

    struct colbuf_stats st;
    uint64_t flushed = 0;
    for (;;) {
        colbuf_get_stats(f->cb, &st);
        int64_t left = deadline - time_mono_ms();
        if (st.held_rows == 0 || left <= 0)
            break;
        struct errbuf eb;
        errbuf_clear(&eb);
        uint64_t n = 0;
        int rc = colbuf_flush_wait(f->cb, NULL, NULL, left, &n, &eb);
        flushed += n;
        if (rc == RC_TIMEOUT)
            break;
        if (rc != RC_OK) {
            log_warn("flush", "shutdown flush incomplete, retrying err=%s", eb.msg);
            left = deadline - time_mono_ms();
            if (left > 0)
                time_sleep_ms(left < STOP_RETRY_PAUSE_MS ? left : STOP_RETRY_PAUSE_MS);
        }
    }

    join_workers(f, f->nthreads);
    colbuf_get_stats(f->cb, &st);
    int rc = RC_OK;
    if (st.held_rows) {
        log_error("flush",
                  "shutdown: rows could not be flushed in time rows=%zu keys=%zu "
                  "timeout_ms=%lld",
                  st.held_rows, st.nkeys, (long long)timeout_ms);
        rc = RC_TIMEOUT;
    } else {
        log_info("flush", "shutdown: all buffers flushed rows=%llu", (unsigned long long)flushed);
    }
    xfree(f->threads);
    xfree(f);
    *fp = NULL;
    return rc;
}
