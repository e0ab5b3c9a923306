/*
 * buffer/colbuf.h — the write buffer: sealed batches held in memory per
 * (database, measurement) until a flush worker writes them out.
 *
 * The buffer stores references to sealed, immutable batches (ingest/batch.h);
 * it never copies rows. Every held batch of a key is in one of three states:
 *
 *   buffered   admitted, waiting for its key to become due
 *   in_flight  handed to a flush worker (colbuf_take_ready), being written
 *   retry      its flush failed; it waits for the back-off to elapse and is
 *              written again ahead of every newer (buffered) batch
 *
 * held = buffered + in_flight + retry is what the hard limit L bounds (SPEC
 * §1.6, §11 R3) and what GET /api/v1/write/stats reports per key.
 *
 * Callers:
 *   HTTP threads   colbuf_admit, colbuf_get_stats, colbuf_key_sizes
 *   flush workers  colbuf_take_ready, colbuf_complete (through flush/flusher.c)
 *   query workers  colbuf_snapshot (fresh, unflushed rows)
 *   main/shutdown  colbuf_new, colbuf_close, colbuf_flush_wait, colbuf_free
 * Every function is thread-safe unless it says otherwise.
 */
#ifndef BUFFER_COLBUF_H
#define BUFFER_COLBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/batch.h"
#include "util/rc.h"

struct colbuf;
struct colbuf_key;

/* ---- configuration -------------------------------------------------- */

struct colbuf_limits {
    size_t flush_rows;      /* ingestion.buffer_size: a key is due at >= this many buffered rows */
    int64_t max_age_ms;     /* ingestion.buffer_age_seconds * 1000: due when the oldest buffered
                               row has waited this long */
    size_t hard_limit_rows; /* L = ingestion.buffer_hard_limit, already resolved, > 0 */
    size_t max_total_bytes; /* ingestion.max_total_buffer_mb in bytes, all keys together, > 0 */
};

struct colbuf_retry {
    uint32_t retry_limit;    /* ingestion.flush_retry_limit: failed attempts after which a batch is
                                dropped; 0 = retry until storage recovers */
    int64_t backoff_base_ms; /* first back-off after a failed flush; 0 = 1000 (SPEC R3.2) */
    int64_t backoff_max_ms;  /* back-off doubles up to this; 0 = 60000 */
};

/* ---- lifecycle ------------------------------------------------------ */

/* Creates an empty buffer. retry may be NULL (unlimited retries, 1 s .. 60 s
 * back-off). Returns RC_INVALID if a limit is 0. The caller frees *out with
 * colbuf_free. */
MUST_CHECK int colbuf_new(const struct colbuf_limits *limits, const struct colbuf_retry *retry,
                          struct colbuf **out, struct errbuf *eb);

/* Releases every held batch and the buffer; sets *cbp to NULL. Accepts NULL.
 * No other thread may use the buffer any more (stop the flusher first). */
void colbuf_free(struct colbuf **cbp);

/* Replaces the limits at run time (configuration reload). Rows already held
 * stay; a lower L only affects later admissions and re-queues (R3.2). */
void colbuf_set_limits(struct colbuf *cb, const struct colbuf_limits *limits);

/* From now on colbuf_admit fails with RC_SHUTDOWN (graceful shutdown: no
 * new writes, the held ones get flushed). Irreversible. */
void colbuf_close(struct colbuf *cb);

/* ---- ingestion ------------------------------------------------------ */

/*
 * Admits the sealed batches of one request, all or nothing. Batches may be
 * for several keys; empty batches are ignored. Counting every state
 * (buffered + in_flight + retry) per key:
 *   - a key whose rows in this request alone exceed L, or a request whose
 *     bytes alone exceed max_total_bytes, can never fit: RC_LIMIT (HTTP 413);
 *   - a key that would exceed L, or a total above max_total_bytes: RC_BUSY
 *     (HTTP 503 + Retry-After), counted in
 *     arc_buffer_backpressure_rejections_total;
 *   - after colbuf_close: RC_SHUTDOWN; an unsealed batch: RC_INTERNAL.
 * On any error nothing is admitted. On success the buffer takes its own
 * reference to each batch (the caller keeps and still owns its references)
 * and writes an increasing global sequence number into batch->seq.
 */
MUST_CHECK int colbuf_admit(struct colbuf *cb, struct batch *const *batches, size_t n,
                            struct errbuf *eb);

/* ---- flush workers ---------------------------------------------------- */

/* One flush of one key, from colbuf_take_ready to colbuf_complete. The
 * caller provides the storage; the fields are read-only for it. */
struct colbuf_take {
    struct colbuf_key *key; /* private handle */
    char db[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];
    struct batch **batches; /* references owned by the take, seq order: retry first */
    size_t n;
    size_t rows;      /* sum of batches[i]->nrows */
    uint64_t max_seq; /* highest seq among batches */
};

/*
 * Waits up to wait_ms (< 0: forever, 0: just check) for a key that is due —
 * buffered rows >= flush_rows, oldest buffered row older than max_age, retry
 * back-off elapsed, or a pending colbuf_flush_wait — and moves all of its
 * retry and buffered batches to in_flight, filling *out. A key has at most
 * one flush in flight, so order within a key is kept. Due-ness by age and
 * back-off is evaluated at least once per second.
 * Returns RC_OK (the caller must call colbuf_complete exactly once),
 * RC_TIMEOUT (nothing due) or RC_SHUTDOWN (colbuf_stop_workers was called).
 */
MUST_CHECK int colbuf_take_ready(struct colbuf *cb, int64_t wait_ms, struct colbuf_take *out);

/* Called under the buffer lock by colbuf_complete on success. */
typedef void (*colbuf_publish_fn)(void *ctx);

/*
 * Ends a flush. write_rc == RC_OK: under the buffer lock, calls
 * publish(publish_ctx) (which makes the written files visible to queries)
 * and drops the in-flight batches, so a colbuf_snapshot never sees a row
 * twice or misses one. Otherwise (err_msg may say why): the batches return
 * to the retry state ahead of newer rows if `buffered + returned <= L`
 * (R3.2), their attempt count grows, the key backs off (base doubling to
 * max); a batch that reached retry_limit, or that does not fit, is dropped,
 * counted (total_records_dropped and
 * arc_ingest_records_dropped_total{reason="flush_failed"}) and logged at
 * ERROR. Releases the take's references and array; take->db, measurement,
 * rows and max_seq stay readable. Must not be called with the lock held.
 */
void colbuf_complete(struct colbuf *cb, struct colbuf_take *take, int write_rc, const char *err_msg,
                     colbuf_publish_fn publish, void *publish_ctx);

/* stopping = true: colbuf_take_ready returns RC_SHUTDOWN from now on (and
 * wakes every waiting worker), flush waiters give up with RC_SHUTDOWN.
 * false re-enables workers (for a new flusher). */
void colbuf_set_workers_stopping(struct colbuf *cb, bool stopping);

/*
 * Synchronous flush (POST /api/v1/write/flush, shutdown). Selects keys
 * matching db and measurement (NULL = any), makes them due immediately
 * (ignoring back-off) and waits until every batch those keys held when the
 * call began (seq <= the highest seq at that moment, including batches then
 * in flight) has been written or has failed once more. Needs running flush
 * workers. *out_records (may be NULL) = rows of those batches written.
 * Returns RC_OK; RC_IO if some of them failed (message has the count and the
 * sink's error); RC_TIMEOUT after timeout_ms (< 0: no limit); RC_SHUTDOWN if
 * workers stop meanwhile.
 */
MUST_CHECK int colbuf_flush_wait(struct colbuf *cb, const char *db, const char *measurement,
                                 int64_t timeout_ms, uint64_t *out_records, struct errbuf *eb);

/* ---- queries -------------------------------------------------------- */

/*
 * Fresh reads. Returns in *out (xmalloc'ed, may be NULL when *n == 0) new
 * references to every held batch of (db, measurement) — buffered, in flight
 * and retry — in seq order, and calls under_lock(ctx) (may be NULL) while
 * holding the same lock colbuf_complete holds when it publishes. If the
 * caller copies the catalog's visible file list inside under_lock, every row
 * is then in exactly one of the two. Free with colbuf_snapshot_free.
 */
MUST_CHECK int colbuf_snapshot(struct colbuf *cb, const char *db, const char *measurement,
                               void (*under_lock)(void *ctx), void *ctx, struct batch ***out,
                               size_t *n);

/* Drops the references of a snapshot and frees the array; sets *bs to NULL. */
void colbuf_snapshot_free(struct batch ***bs, size_t n);

/* ---- stats ---------------------------------------------------------- */

struct colbuf_stats {
    uint64_t total_records_buffered; /* rows ever admitted */
    uint64_t total_records_written;  /* rows written by successful flushes */
    uint64_t total_flushes;          /* successful flushes */
    uint64_t total_errors;           /* failed flush attempts */
    uint64_t total_records_dropped;  /* rows dropped after failed flushes (R3.3) */
    uint64_t total_rejections;       /* admissions refused with RC_BUSY */
    size_t held_rows;                /* all keys, all states */
    size_t held_bytes;
    size_t nkeys;                     /* keys currently holding rows */
    size_t hard_limit_rows;           /* L */
    double oldest_buffer_age_seconds; /* oldest held row, 0 if none */
};

void colbuf_get_stats(struct colbuf *cb, struct colbuf_stats *out);

struct colbuf_key_size {
    char db[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];
    size_t held_rows; /* buffered + in flight + retry */
};

/* current_buffer_sizes: one entry per key holding rows, in no particular
 * order. *out is xmalloc'ed (NULL if *n == 0); the caller xfree()s it. */
void colbuf_key_sizes(struct colbuf *cb, struct colbuf_key_size **out, size_t *n);

/* Detailed state of one key (for tests and debugging). */
struct colbuf_key_info {
    size_t buffered_rows, in_flight_rows, retry_rows;
    size_t held_bytes;
    size_t nbatches;
    uint32_t consecutive_failures; /* failed flushes since the last success */
    int64_t retry_in_ms;           /* time until the retry back-off ends, 0 if none */
    uint32_t max_attempts;         /* highest failed-attempt count among held batches */
};

/* True if (db, measurement) already holds its hard limit of rows, so no
 * request with a row for it can be admitted now. O(1): for the write path's
 * check before parsing. */
bool colbuf_key_is_full(struct colbuf *cb, const char *db, const char *measurement);

/* Returns false (and zeroes *out) if the key holds nothing. O(batches held):
 * for stats, not for the write path. */
bool colbuf_key_info(struct colbuf *cb, const char *db, const char *measurement,
                     struct colbuf_key_info *out);

/* Recounts every key's rows and bytes from its batches and checks them
 * against the counters, the limits (held <= L per key) and the seq order.
 * For tests and assert(); O(held batches). */
bool colbuf_invariants_ok(struct colbuf *cb);

#endif
