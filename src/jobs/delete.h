/*
 * jobs/delete.h — row deletes (SPEC §8.3): rewrite-based, no tombstones.
 * Every Parquet file holding rows that match a restricted predicate (§8.4,
 * query/predicate.h) is rewritten without them and swapped in atomically;
 * a file left without rows is removed.
 *
 * One delete, in order (SPEC §8.3 rules 1-8):
 *
 *   enabled? (403) ──► names (400) ──► where: grammar, known columns (400)
 *     ──► constant predicate needs confirm (400) ──► real delete needs confirm (400)
 *     ──► flush the measurement's buffer ──► count matching rows per file
 *     ──► dry run: report count, exceeds_max_rows, requires_confirmation
 *     ──► count > max_rows_per_delete (400)
 *     ──► lock the affected day partitions ──► count files that appeared meanwhile
 *     ──► per file: rewrite or remove (below) ──► release locks
 *     ──► query_cache_clear ──► audit log line
 *
 * Per file, crash-safe through an intent row in jobs.db (table del_intents):
 *
 *   intent(old, new, state=writing) ──► COPY kept rows → staging file
 *     ──► storage_put_file(new key, no-replace) ──► catalog_files_add(new)
 *     ──► catalog_files_swap(old → new)      (readers switch atomically)
 *     ──► intent state=swapped, due = now + grace
 *     ──► (del_reap, after the grace period) storage_delete(old), intent row gone
 *
 * A file whose rows all match skips the COPY: its intent has no new key
 * and the swap only removes it. At startup (del_service_new) unfinished
 * intents are resolved: "writing" → the new object and its catalog entry
 * are removed (the old file stays: the delete never answered), "swapped" →
 * the old object and any catalog entry it regained are removed. The grace
 * period lets queries that listed the old file before the swap finish
 * reading it.
 *
 * Threads: del_execute on HTTP worker threads, one delete at a time (later
 * ones wait on the service's run lock); del_reap on the scheduler thread (or
 * any). DuckDB is used here directly (an in-memory database private to
 * this module), like the flush writer, because rewriting Parquet is a
 * COPY the sandboxed query engine must never run.
 */
#ifndef JOBS_DELETE_H
#define JOBS_DELETE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

struct catalog;
struct storage;
struct colbuf;
struct flusher;
struct scheduler;

struct del_options {
    bool enabled;                    /* delete.enabled */
    int64_t confirmation_threshold;  /* delete.confirmation_threshold (rows) */
    int64_t max_rows_per_delete;     /* delete.max_rows_per_delete */
    bool audit_enabled;              /* delete.audit_enabled */
    int64_t lock_ttl_ms;             /* compaction.lock_ttl_hours × 3 600 000; 0 = 2 h */
    int64_t lock_wait_ms;            /* wait for a busy partition; 0 = 30 s; < 0 = don't wait */
    int64_t grace_ms;                /* keep replaced files this long; 0 = 300 s; < 0 = none */
    int64_t flush_timeout_ms;        /* rule 6 flush; 0 = 60 s */
    const char *spool_dir;           /* local copies of remote files; required for remote storage */
    const char *duckdb_memory_limit; /* NULL/"" = DuckDB default */
    const char *duckdb_temp_directory; /* NULL = DuckDB default */
};

struct del_service;

/* Opens the service: its DuckDB, the intent table in the SQLite file
 * state_path (jobs.db; created 0600 with missing parent directories), and
 * resolves intents left by a crash (see above; I/O on storage and catalog).
 * cat and st are required and borrowed; fl may be NULL (then the rule-6
 * flush uses colbuf_flush_wait on cb, which needs running flush workers);
 * cb may be NULL only together with fl (nothing to flush). On error *out is
 * untouched. */
int del_service_new(const struct del_options *o, const char *state_path, struct catalog *cat,
                    struct storage *st, struct colbuf *cb, struct flusher *fl,
                    struct del_service **out, struct errbuf *eb) MUST_CHECK;

/* Waits for a running delete, closes; sets *sp to NULL; accepts NULL.
 * Replaced files still in their grace period stay recorded and are removed
 * at the next start. */
void del_service_free(struct del_service **sp);

/* The options in force (for GET /api/v1/delete/config). */
const struct del_options *del_service_options(const struct del_service *svc);

struct del_request {
    const char *database;
    const char *measurement;
    const char *where; /* restricted predicate; a leading WHERE is ignored */
    bool dry_run;
    bool confirm;
    const char *principal; /* token name for the audit line; NULL = "-" */
};

struct del_result {
    uint64_t deleted_count; /* rows removed (dry run: rows that would be) */
    size_t affected_files;  /* files holding matching rows */
    size_t rewritten_files; /* files replaced by a rewritten copy */
    size_t deleted_files;   /* files removed because no row was left */
    double execution_time_ms;
    bool dry_run;
    bool exceeds_max_rows;      /* dry run: count > max_rows_per_delete */
    bool requires_confirmation; /* dry run: count > confirmation_threshold */
    char **files_processed;     /* storage keys (old names) rewritten or removed */
    size_t n_processed;
    char **failed_files; /* storage keys that could not be processed */
    size_t n_failed;
};

/* Frees the lists of r and zeroes it. Accepts NULL. */
void del_result_cleanup(struct del_result *r);

/*
 * Runs one delete (see the file comment). Returns
 *   RC_OK        done (or dry run); *out filled
 *   RC_DENIED    delete.enabled is false (403)
 *   RC_INVALID   rules 2-5 and 7 (400), message says which
 *   RC_IO / RC_TIMEOUT / RC_BUSY / RC_SHUTDOWN  the rule-6 flush failed
 *   RC_INTERNAL  some files failed (500); *out lists them in failed_files,
 *                files that succeeded stay rewritten
 *   RC_DB / RC_IO / RC_S3  counting failed before anything changed (500)
 * *out is always initialised; clean it with del_result_cleanup.
 */
int del_execute(struct del_service *svc, const struct del_request *req, struct del_result *out,
                struct errbuf *eb) MUST_CHECK;

/* Drops every file of (db, measurement) (DELETE
 * /api/v1/continuous_queries/{id}?delete_destination=true): flushes its
 * buffer, locks the whole measurement, removes the files from the catalog
 * and schedules their objects for removal after the grace period (crash
 * safe like a delete). *out_files (may be NULL) = files dropped.
 * RC_DENIED if deletes are disabled, RC_INVALID for bad names, RC_BUSY if
 * another job holds a partition of the measurement, the flush's or the
 * catalog's error otherwise. */
int del_drop_measurement(struct del_service *svc, const char *db, const char *measurement,
                         size_t *out_files, struct errbuf *eb) MUST_CHECK;

/* Removes replaced files whose grace period has ended at now_us (all of
 * them with now_us = INT64_MAX). *out_removed (may be NULL) = objects
 * deleted. Failures are logged and retried at the next call. */
int del_reap(struct del_service *svc, int64_t now_us, size_t *out_removed,
             struct errbuf *eb) MUST_CHECK;

/* Registers the job "delete_reaper" (every 10 s: del_reap) with the
 * scheduler. Remove it (scheduler_remove) or stop the scheduler before
 * del_service_free. */
int del_service_start_scheduler(struct del_service *svc, struct scheduler *sched,
                                struct errbuf *eb) MUST_CHECK;

#endif
