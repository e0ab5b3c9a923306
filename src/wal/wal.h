/*
 * wal/wal.h — the write-ahead log (SPEC §6, §11 R6; docs/wal.md has the
 * record layout, the segment state diagram and the idempotence design).
 *
 * Every accepted write is serialised into a log record on the request
 * thread and handed to the one WAL writer thread ("arc-wal"), which writes
 * the records of many requests with one write() and covers them with one
 * fsync()/fdatasync() (group commit). Only WAL threads call write, fsync,
 * fdatasync, rename or unlink on WAL files (R6.1).
 *
 * Write path, on the request's thread (the HTTP I/O thread for the write
 * routes), in this order (docs/wal.md says why):
 *
 *   wal_prepare(batches)   RC_BUSY (queue full / size cap: 503), RC_IO
 *        │                 (degraded: 500), RC_SHUTDOWN; reserves queue
 *        │                 room and serialises — nothing is logged yet
 *   colbuf_admit(batches)  on failure: wal_abort() → the request left no
 *        │                 trace in memory or in the log
 *   wal_commit()           enqueues; waits until the records are durable
 *                          (fsync, fdatasync) or written to the OS (async);
 *                          RC_IO → 500 (rows stay buffered: at-least-once).
 *                          An event-loop thread uses wal_commit_async instead
 *                          and responds from its callback.
 *
 * Flush side (flush worker threads), wired by the server:
 *   flush writer option before_put  → wal_put_intent   (before a file is put)
 *   flusher option on_batches_flushed → wal_batches_flushed (after publish)
 * A segment is deleted once every batch logged in it (and in every older
 * segment) has been reported flushed. Batches dropped after failed flushes
 * (SPEC R3.3) are never reported, so their segments stay and are replayed.
 *
 * Start-up: wal_open (scans the existing segments) → wal_replay (re-admits
 * un-flushed records, flushes, renames replayed segments .wal.recovered) →
 * serve. Shutdown: stop HTTP → flusher_stop → wal_close (deletes every
 * segment whose rows all reached storage; the rest is replayed next time).
 *
 * Thread-safety: every function is thread-safe unless noted.
 */
#ifndef WAL_WAL_H
#define WAL_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

struct batch;
struct config_wal;
struct wal;
struct wal_ticket;

/* ---- configuration ------------------------------------------------------ */

enum wal_sync_mode {
    WAL_SYNC_FSYNC = 0,     /* ack after write + fsync() */
    WAL_SYNC_FDATASYNC = 1, /* ack after write + fdatasync() */
    WAL_SYNC_ASYNC = 2,     /* ack after write(); a sync thread syncs periodically */
};

/* "fsync" | "fdatasync" | "async" (exact). Returns false if unknown. */
bool wal_sync_mode_parse(const char *s, enum wal_sync_mode *out);
const char *wal_sync_mode_name(enum wal_sync_mode m);

struct wal_options {
    const char *dir;                /* wal.dir (created if missing); copied */
    enum wal_sync_mode sync_mode;   /* wal.sync_mode */
    uint64_t max_segment_bytes;     /* wal.max_size_mb in bytes; 0 = 100 MiB */
    int64_t max_segment_age_ms;     /* wal.max_age_seconds * 1000; 0 = 1 hour */
    size_t queue_size;              /* wal.queue_size (records); 0 = 10000 */
    int64_t async_sync_interval_ms; /* wal.async_sync_interval_ms; 0 = 1000 */
    uint64_t max_total_bytes;       /* wal.max_total_size_mb in bytes; 0 = unlimited */
    int64_t recovered_retention_ms; /* .recovered files older than this are removed
                                       automatically (checked every minute); < 0 = never */
    bool no_preallocate;            /* !wal.preallocate: segments grow by appending
                                       instead of being zero-filled ahead of use */
    int64_t group_delay_us;         /* wal.group_commit_delay_us: when the machine has no
                                       idle CPU, the writer waits this long before taking
                                       the queue to gather a larger group; 0 = never */
};

/* Fills *out from the [wal] section (SPEC §6.1). out->dir points into c. */
void wal_options_from_config(const struct config_wal *c, struct wal_options *out);

/* ---- lifecycle ---------------------------------------------------------- */

/*
 * Opens the WAL: creates the directory, reads every existing segment
 * (`arc-*.wal`, validating headers and record checksums; nothing is replayed
 * yet), starts the writer thread (and the sync thread in async mode) and
 * creates a fresh active segment. Segments found on disk are kept until
 * wal_replay has re-admitted them; without wal_replay they are left for the
 * next start. Fault hooks (util/faults.h) are read here: wal_write_fail,
 * fsync_delay_ms=N. RC_IO if the directory or the first segment cannot be
 * created (message names the path). On error *out is untouched.
 */
int wal_open(const struct wal_options *opts, struct wal **out, struct errbuf *eb) MUST_CHECK;

/*
 * Stops the WAL: writes everything still queued, stops the threads, then
 * deletes every segment whose rows have all been reported flushed (in
 * segment order; a clean shutdown after a complete flush leaves no segment).
 * Segments holding rows not reported flushed stay for the next start. Call
 * after the flusher has stopped and no request can reach the WAL. Sets *wp
 * to NULL; accepts NULL.
 */
void wal_close(struct wal **wp);

/* True once a write or sync failed (sticky until the process reopens the
 * WAL): /ready answers 503, /health reports components.wal = "degraded". */
bool wal_is_degraded(struct wal *wal);

/* ---- start-up replay ---------------------------------------------------- */

/* How wal_replay reaches the rest of the server (all called on the calling
 * thread). */
struct wal_replay_ops {
    /* colbuf_admit: admits sealed batches, sets batch->seq. RC_BUSY makes
     * replay call flush() and retry; RC_LIMIT (a record larger than the
     * buffer's hard limit, e.g. after a config change) makes it split the
     * record into smaller batches. */
    int (*admit)(void *ctx, struct batch *const *batches, size_t n, struct errbuf *eb);
    /* Synchronous flush of every buffer (flusher_flush). Called when admit
     * is busy and once at the end. */
    int (*flush)(void *ctx, struct errbuf *eb);
    /* True if storage holds the Parquet file `key` of (db, measurement) for
     * the UTC hour starting at hour_start_us (a catalog lookup, after
     * catalog reconciliation). Used to skip rows a flush already wrote just
     * before a crash. May be NULL (then such rows are replayed again:
     * at-least-once). */
    bool (*file_exists)(void *ctx, const char *db, const char *measurement, int64_t hour_start_us,
                        const char *key);
    void *ctx;
    int64_t busy_timeout_ms; /* give up when admit stays busy this long; 0 = 60000 */
};

struct wal_replay_stats {
    uint64_t segments;         /* segments found at open */
    uint64_t records;          /* valid data records in them */
    uint64_t replayed_records; /* records (or parts) re-admitted */
    uint64_t replayed_rows;
    uint64_t skipped_records;    /* already in storage (flushed marker or covering file) */
    uint64_t skipped_rows;       /* rows left out because a covering file exists */
    uint64_t corrupt_records;    /* torn/corrupt records and the unreadable rest of a segment */
    uint64_t corrupt_segments;   /* segments with a bad or torn header */
    uint64_t segments_recovered; /* renamed .wal.recovered before returning */
    int flush_rc;                /* result of the final flush (RC_OK if none needed) */
};

/*
 * Replays what wal_open found, oldest segment first: data records already
 * flushed (a flushed marker, or files recorded by a flush intent that exist
 * according to ops->file_exists) are skipped, the rest is decoded and
 * admitted with its original database and measurement; then ops->flush runs
 * and, once the flushed batches are reported (wal_batches_flushed), each
 * replayed segment is renamed `.wal.recovered`. Call once, after the flusher
 * is running and before the server accepts writes. stats may be NULL.
 *
 * Returns RC_OK when every record was admitted — even if the final flush
 * failed (stats->flush_rc says so; the rows stay buffered and their
 * segments stay until they are flushed). RC_BUSY if admission stayed busy
 * past busy_timeout_ms; the records not admitted stay in their segments
 * (kept for the next start). Never fails because of a corrupt record.
 */
int wal_replay(struct wal *wal, const struct wal_replay_ops *ops, struct wal_replay_stats *stats,
               struct errbuf *eb) MUST_CHECK;

/* ---- write path (HTTP I/O threads; workers and CQs) ---------------------- */

/*
 * Reserves queue room for the non-empty batches[0..n) of one request and
 * serialises them (on the calling thread). Call BEFORE colbuf_admit, then
 * wal_commit (admitted) or wal_abort (not admitted). Returns
 *   RC_BUSY      queue has wal.queue_size records waiting, or the WAL holds
 *                more than max_total_bytes — 503 + Retry-After, immediately;
 *   RC_IO        the WAL is degraded (an earlier write or sync failed) — 500;
 *   RC_SHUTDOWN  wal_close has begun.
 * On success *out is the ticket (NULL if every batch was empty; wal_commit
 * and wal_abort accept that). The batches are borrowed: keep them alive
 * until wal_commit/wal_abort returns.
 */
int wal_prepare(struct wal *wal, struct batch *const *batches, size_t n, struct wal_ticket **out,
                struct errbuf *eb) MUST_CHECK;

/*
 * The batches were admitted (batch->seq is set): queues their records and
 * blocks the calling thread until the WAL writer has written them with one
 * write() and — in fsync/fdatasync mode — covered them with a completed
 * sync. Only the calling thread waits (workers, the CQ thread; an
 * event-loop thread uses wal_commit_async). RC_OK → acknowledge (2xx).
 * RC_IO → 500: the write or sync failed, or the WAL was degraded meanwhile
 * (the WAL is degraded from now on; the rows are buffered and will still be
 * flushed: at-least-once for a 500). RC_SHUTDOWN if the WAL closed first.
 * Frees the ticket and sets *tp to NULL.
 */
int wal_commit(struct wal_ticket **tp, struct errbuf *eb) MUST_CHECK;

/*
 * wal_commit without blocking: queues the records and returns at once;
 * done(ctx, rc, err) is called exactly once with what wal_commit would have
 * returned (err: the message, "" on RC_OK) — from the WAL writer thread when
 * the records are durable or written, or from this call itself if the WAL
 * is already degraded or closed. done must be quick and must not call into
 * the WAL (the HTTP layer resumes the suspended request there). Frees the
 * ticket; *tp must not be NULL.
 */
typedef void (*wal_done_fn)(void *ctx, int rc, const char *err);
void wal_commit_async(struct wal_ticket **tp, wal_done_fn done, void *ctx);

/* The batches were not admitted: releases the reservation without logging
 * anything. Frees the ticket; sets *tp to NULL; accepts NULL. */
void wal_abort(struct wal_ticket **tp);

/* ---- flush hooks (flush worker threads) ---------------------------------- */

/*
 * flush_writer_options.before_put: the flush writer is about to put `key`,
 * holding the rows of batches[0..n) (one flush of db/measurement) whose time
 * falls in the UTC hour starting at hour_start_us. Logs a flush-intent
 * record and waits until it is durable (sync modes) or written (async), so
 * that after a crash the replay skips exactly those rows if `key` exists.
 * *slot is 0 on the first call for a file; the same value must be passed on
 * name-collision retries (a later intent of the same slot replaces the
 * earlier one). wal is the struct wal * (void * so the function can be the
 * hook itself). RC_OK also when the WAL is degraded or closing (the intent
 * is then skipped: at-least-once); RC_IO if the intent could not be
 * written (the flush fails and is retried).
 */
int wal_put_intent(void *wal, const char *db, const char *measurement, const char *key,
                   int64_t hour_start_us, struct batch *const *batches, size_t n, uint64_t *slot,
                   struct errbuf *eb);

/*
 * flusher_options.on_batches_flushed: batches[0..n) are in storage and
 * published. Their log records are retired: a flushed marker is logged
 * (asynchronously; never waited for) and segments whose records are all
 * flushed are deleted in order. Batches the WAL does not know are ignored.
 */
void wal_batches_flushed(void *wal, struct batch *const *batches, size_t n);

/* ---- observability (SPEC §6.4) ------------------------------------------- */

/* Resolved options (defaults filled in); valid while the WAL is open. */
const struct wal_options *wal_get_options(struct wal *wal);

#define WAL_NAME_MAX 96

struct wal_stats {
    char current_file[WAL_NAME_MAX]; /* name of the active segment ("" if none) */
    uint64_t current_size_bytes;
    double current_age_seconds;
    enum wal_sync_mode sync_mode;
    uint64_t total_entries; /* data records written */
    uint64_t total_bytes;   /* bytes written (all records and headers) */
    uint64_t total_syncs;
    double total_sync_seconds; /* time spent in fsync/fdatasync (mean = / total_syncs) */
    uint64_t total_rotations;
    uint64_t pending_entries;   /* records reserved or queued, not yet written */
    uint64_t failed_writes;     /* failed write() / sync calls */
    uint64_t recovered_entries; /* records re-admitted by wal_replay */
    uint64_t corrupt_records;   /* found by wal_open's scan */
    uint64_t groups;            /* group commits (one write + sync each) */
    uint64_t rejected_busy;     /* wal_prepare answered RC_BUSY */
    size_t segments;            /* live segments (active included) */
    uint64_t segments_bytes;
    size_t queue_size;
    bool degraded;
    char last_error[256];   /* "" if none */
    int64_t last_error_us;  /* wall clock of the last write/sync error, 0 if none */
    double disk_free_ratio; /* free / total of the WAL file system; < 0 unknown */
};

/* Snapshot of counters and state (memory only, no I/O). */
void wal_get_stats(struct wal *wal, struct wal_stats *out);

struct wal_file_info {
    char name[WAL_NAME_MAX];
    uint64_t size_bytes;
    int64_t mtime_us; /* for .recovered files: when they were recovered */
    bool recovered;   /* *.wal.recovered (else *.wal) */
};

/* Lists the WAL directory (readdir + stat only), sorted by name. *out is
 * xmalloc'ed (NULL if *n == 0); xfree it. RC_IO if unreadable. */
int wal_files_list(struct wal *wal, struct wal_file_info **out, size_t *n,
                   struct errbuf *eb) MUST_CHECK;

/* Deletes `.wal.recovered` files last modified (= recovered) more than
 * max_age_ms ago; done by the WAL thread, waited for. Counts go to *deleted
 * and *freed_bytes. RC_SHUTDOWN if closing; RC_IO if the directory cannot
 * be read. */
int wal_cleanup_recovered(struct wal *wal, int64_t max_age_ms, uint64_t *deleted,
                          uint64_t *freed_bytes, struct errbuf *eb) MUST_CHECK;

#endif
