/*
 * flush/flusher.h — the flush worker threads: take a due key from the write
 * buffer, write its batches through the sink (Parquet), publish, repeat.
 *
 * Callers: main (start/stop), HTTP worker threads (flusher_flush for
 * POST /api/v1/write/flush), the WAL (on_batches_flushed hook). Thread-safe.
 */
#ifndef FLUSH_FLUSHER_H
#define FLUSH_FLUSHER_H

#include <stdint.h>

#include "buffer/colbuf.h"
#include "flush/sink.h"
#include "util/rc.h"

struct flusher;

struct flusher_options {
    unsigned nworkers; /* flush worker threads, 0 = 2 */
    /* Optional. Called by a flush worker after a successful flush has been
     * published, without any lock held: rows of (db, measurement) in batches
     * up to max_seq that were in that flush are in storage. Batches dropped
     * after failures (R3.3) are never reported, so a seq below max_seq is not
     * proof of being written (the WAL must not retire entries by max_seq
     * alone). */
    void (*on_flushed)(void *ctx, const char *db, const char *measurement, uint64_t max_seq);
    void *on_flushed_ctx;
    /* Optional. Called right after on_flushed, also without any lock held,
     * with every batch that successful flush wrote (references valid during
     * the call only). Batches dropped after failures (R3.3) never appear.
     * The WAL retires its records with it (wal_batches_flushed). */
    void (*on_batches_flushed)(void *ctx, struct batch *const *batches, size_t n);
    void *on_batches_flushed_ctx;
};

/* Starts the workers ("arc-flush-0", "arc-flush-1", …) on cb, which must
 * outlive the flusher. sink.write and sink.publish must be set; the sink
 * itself bounds each write by ingestion.flush_timeout_seconds (R2.3) and
 * its error counts as a failed flush. opts may be NULL. Returns RC_INVALID
 * for a bad sink, RC_INTERNAL if a thread cannot be created (nothing is left
 * running then). Free with flusher_stop. */
MUST_CHECK int flusher_start(struct colbuf *cb, struct flush_sink sink,
                             const struct flusher_options *opts, struct flusher **out,
                             struct errbuf *eb);

/*
 * Synchronous flush of the keys matching db / measurement (NULL = any): every
 * row they held when called, including rows then in flight, is written (or
 * has failed) before it returns; rows admitted meanwhile may or may not be
 * included. *out_records (may be NULL) gets the count of those rows written.
 * Returns RC_OK, RC_IO ("Flush failed: …", some rows could not be written;
 * they stay buffered for retry or were dropped per R3.3), RC_TIMEOUT after
 * timeout_ms (< 0: no limit), RC_SHUTDOWN once flusher_stop has begun.
 * Must not be called after flusher_stop returned.
 */
MUST_CHECK int flusher_flush(struct flusher *f, const char *db, const char *measurement,
                             int64_t timeout_ms, uint64_t *out_records, struct errbuf *eb);

/*
 * Graceful stop: closes the buffer to new writes (colbuf_admit then returns
 * RC_SHUTDOWN), flushes everything, retrying failed keys, until the buffer is
 * empty or timeout_ms has passed, then stops and joins the workers. A worker
 * busy in sink.write is waited for (the sink's own flush timeout bounds it).
 * Rows still held afterwards are logged at ERROR with their count (with the
 * WAL on they are replayed at the next start). Returns RC_OK if everything
 * was flushed, else RC_TIMEOUT. Frees the flusher and sets *fp to NULL;
 * accepts NULL. The buffer itself is left for the caller to free.
 */
int flusher_stop(struct flusher **fp, int64_t timeout_ms);

#endif
