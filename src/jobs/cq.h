/*
 * jobs/cq.h — continuous queries (SPEC §8.2): scheduled SQL aggregations
 * that write their result into a destination measurement (downsampling),
 * with a watermark (`last_processed_time`) so that each interval is
 * processed once, also across restarts.
 *
 * Three parts, one prefix:
 *
 *   definitions   struct cq_def, parsed and validated from a JSON request
 *                 body (cq_def_from_json) and checked against the query
 *                 engine's read-only rules (cq_check_query);
 *   store         SQLite persistence of definitions, watermarks and the
 *                 execution history (cq_store_*; file jobs.db next to the
 *                 catalog, see docs/continuous-queries.md);
 *   service       execution (cq_execute): substitute the window into the
 *                 query, run it through the query engine, convert the
 *                 result into sealed batches, admit them to the write
 *                 buffer, flush that key, advance the watermark; plus the
 *                 optional scheduler (cq_service_start_scheduler).
 *
 * Execution, one run of CQ q over the window [start, end):
 *
 *   cq_execute ──► slot (≤ max_concurrent, q not already running)
 *       ──► SQL = q.query with {start_time}/{end_time} → 'RFC 3339' literals
 *       ──► query_execute (default db = q.database, timeout) → chunks
 *       ──► batches (types per §8.2; `time` column, or execution time)
 *       ──► schema check (catalog) ──► colbuf_admit ──► flusher_flush(q.dest)
 *       ──► query_cache_clear ──► store: history row + watermark = end
 *
 * Watermark: the window's start is never below last_processed_time (an
 * explicit start_time below it is raised to it), and last_processed_time
 * only moves forward. Re-executing a window that was already processed
 * therefore writes nothing; see docs/continuous-queries.md for why and for
 * how to backfill. A crash between the flush and the watermark update (a
 * few milliseconds) can make the next run redo that window: at-least-once
 * there, exactly-once otherwise.
 *
 * Threads: store functions are thread-safe (one mutex around the SQLite
 * connection). cq_execute runs on the calling thread (HTTP connection
 * threads, the CQ worker thread "arc-cq"); the scheduler callback only wakes
 * the worker, so the scheduler thread never waits for a query.
 */
#ifndef JOBS_CQ_H
#define JOBS_CQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"
#include "util/strbuf.h"

struct json_value;
struct query_engine;
struct catalog;
struct colbuf;
struct flusher;
struct scheduler;

/* "No value" for the optional timestamps of a definition. */
#define CQ_TIME_NONE INT64_MIN

#define CQ_NAME_MAX 255
#define CQ_DESCRIPTION_MAX 1000
#define CQ_QUERY_MAX 100000 /* bytes; the query engine's max_sql_length applies too */
#define CQ_MAX_TAG_COLUMNS 256

/* ---- definitions -------------------------------------------------------- */

/* A continuous query: definition fields (request) plus state (response).
 * Strings are owned (xmalloc); release with cq_def_cleanup. */
struct cq_def {
    int64_t id; /* 0 until stored */
    char *name;
    char *description; /* NULL = none */
    char *database;
    char *source_measurement;
    char *destination_measurement;
    char *query;    /* contains {start_time} and {end_time} */
    char *interval; /* as given, e.g. "1h" */
    int64_t interval_us;
    char **tag_columns; /* n_tag_columns names */
    size_t n_tag_columns;
    int64_t retention_days;           /* 0 = null; stored, informational */
    int64_t delete_source_after_days; /* 0 = null; stored, informational */
    bool is_active;

    /* State, maintained by the store. */
    int64_t last_execution_time_us; /* CQ_TIME_NONE = never */
    char last_execution_status[16]; /* "completed" | "failed" | "" (never) */
    int64_t last_processed_time_us; /* watermark; CQ_TIME_NONE = never */
    int64_t last_records_written;   /* -1 = never */
    int64_t created_at_us, updated_at_us;
};

/* Frees the strings of d and zeroes it. Accepts NULL. */
void cq_def_cleanup(struct cq_def *d);

/* Deep copy of src into *dst (dst is overwritten, not cleaned). */
void cq_def_copy(struct cq_def *dst, const struct cq_def *src);

/* Parses a definition from a request body (SPEC §8.2 "Definition fields")
 * and validates every field: required strings, names (§0.4), query with
 * both placeholders, interval (^[1-9][0-9]*[smhdw]$), tag_columns (array of
 * valid column names, not `time`, no duplicates), retention_days and
 * delete_source_after_days (integers > 0 or null), is_active (boolean,
 * default true). Unknown fields are ignored. RC_INVALID with a message
 * naming the field; then *out holds nothing (cleaned). State fields are
 * set to "never". Does not check the SQL against the engine: see
 * cq_check_query. */
int cq_def_from_json(const struct json_value *body, struct cq_def *out,
                     struct errbuf *eb) MUST_CHECK;

/* Parses an interval "<n><unit>" (unit s, m, h, d, w; n without leading
 * zero) into microseconds. False if invalid or too large. */
bool cq_interval_parse(const char *s, int64_t *out_us);

/* Appends `query` with every {start_time} / {end_time} replaced by the
 * single-quoted RFC 3339 UTC literal of start_us / end_us
 * ('2025-10-20T00:00:00Z'). RC_LIMIT if out is capped and full. */
int cq_substitute(const char *query, int64_t start_us, int64_t end_us,
                  struct strbuf *out) MUST_CHECK;

/* Checks the query of d after substituting sample timestamps: it must pass
 * the engine's read-only rules (SPEC §4.3: one SELECT statement). Done with
 * the engine's own checks on `EXPLAIN <query>`, which parses and plans but
 * runs nothing. RC_INVALID with the engine's message ("Only read-only
 * queries are allowed: INSERT", a parser error, an unknown column of a
 * measurement that has data); RC_BUSY if no connection was free; qe NULL →
 * RC_OK (nothing to check with). */
int cq_check_query(struct query_engine *qe, const struct cq_def *d, struct errbuf *eb) MUST_CHECK;

/* ---- store -------------------------------------------------------------- */

struct cq_store;

/* Opens or creates the store at path (SQLite, WAL journal, synchronous
 * FULL, file mode 0600; missing parent directories are created). Tables:
 * cq_definitions, cq_executions. On error *out is untouched. */
int cq_store_open(const char *path, struct cq_store **out, struct errbuf *eb) MUST_CHECK;

/* Closes; sets *sp to NULL; accepts NULL. No other call may be running. */
void cq_store_close(struct cq_store **sp);

/* Stores a new definition (state "never"): sets d->id, created_at_us and
 * updated_at_us. RC_EXISTS if the name is taken, RC_DB. */
int cq_store_create(struct cq_store *s, struct cq_def *d, struct errbuf *eb) MUST_CHECK;

/* Loads definition id into *out (caller cleans it). RC_NOT_FOUND, RC_DB. */
int cq_store_get(struct cq_store *s, int64_t id, struct cq_def *out, struct errbuf *eb) MUST_CHECK;

/* Lists definitions ordered by id. database NULL = all; is_active < 0 =
 * all, 0 / 1 = only inactive / active. *out is an array of *n definitions
 * (NULL when none), freed with cq_defs_free. RC_DB. */
int cq_store_list(struct cq_store *s, const char *database, int is_active, struct cq_def **out,
                  size_t *n, struct errbuf *eb) MUST_CHECK;
void cq_defs_free(struct cq_def **defs, size_t n);

/* Full replacement of the definition fields of id with those of d (state
 * is kept); on success d receives the stored id, state and timestamps.
 * RC_NOT_FOUND, RC_EXISTS (name taken by another CQ), RC_DB. */
int cq_store_update(struct cq_store *s, int64_t id, struct cq_def *d, struct errbuf *eb) MUST_CHECK;

/* Deletes definition id and its history. RC_NOT_FOUND, RC_DB. */
int cq_store_delete(struct cq_store *s, int64_t id, struct errbuf *eb) MUST_CHECK;

/* One entry of the execution history. */
struct cq_execution {
    int64_t id;
    int64_t query_id;
    char execution_id[24]; /* "cq-exec-<8 hex>" */
    int64_t execution_time_us;
    char status[16]; /* "completed" | "failed" */
    int64_t start_us, end_us;
    int64_t records_written;
    double duration_s;
    char error_message[ERRBUF_SIZE]; /* "" = none */
};

/* In one transaction: appends e to the history of e->query_id, sets the
 * CQ's last_execution_time/status/records_written from it and, when
 * e->status is "completed", raises last_processed_time to max(current,
 * e->end_us). RC_NOT_FOUND if the CQ is gone (nothing recorded), RC_DB. */
int cq_store_record(struct cq_store *s, const struct cq_execution *e, struct errbuf *eb) MUST_CHECK;

/* The newest `limit` executions of query_id, newest first. *out (NULL when
 * none) is freed with xfree. RC_DB. */
int cq_store_executions(struct cq_store *s, int64_t query_id, size_t limit,
                        struct cq_execution **out, size_t *n, struct errbuf *eb) MUST_CHECK;

/* ---- service (execution and scheduling) --------------------------------- */

struct cq_service;

struct batch;

struct cq_service_options {
    int64_t timeout_ms;      /* continuous_queries.timeout × 1000 (query and flush), > 0 */
    unsigned max_concurrent; /* continuous_queries.max_concurrent, ≥ 1 */
    /* Optional write-ahead log of the output (SPEC §6: continuous-query
     * output is logged like every write). Same contract as wal_prepare /
     * wal_commit / wal_abort (wal/wal.h) with the ticket as a void *:
     * prepare before each colbuf_admit, then commit if admitted (a commit
     * error fails the run; the rows stay buffered) or abort if not. The jobs
     * module does not link the WAL, so app.c passes three small adapters. */
    int (*wal_prepare)(void *ctx, struct batch *const *batches, size_t n, void **ticket,
                       struct errbuf *eb);
    int (*wal_commit)(void **ticket, struct errbuf *eb);
    void (*wal_abort)(void **ticket);
    void *wal_ctx;
};

/* Creates the service. Every pointer is borrowed and must outlive it; qe,
 * cat and cb are required; fl may be NULL only if something else flushes
 * (then cq_execute waits on colbuf_flush_wait, which needs running flush
 * workers). RC_INVALID for a missing dependency. */
int cq_service_new(const struct cq_service_options *o, struct cq_store *store,
                   struct query_engine *qe, struct catalog *cat, struct colbuf *cb,
                   struct flusher *fl, struct cq_service **out, struct errbuf *eb) MUST_CHECK;

/* Shutdown, step 1 (before flusher_stop): disarms the scheduler callback,
 * stops the worker thread (waiting for a running execution) and makes
 * every later cq_execute fail with RC_SHUTDOWN before it touches the
 * buffer or the flusher (dry runs still answer). Executions already running
 * on HTTP threads are not waited for: drain HTTP first. Idempotent. */
void cq_service_stop(struct cq_service *svc);

/* Step 2 (after HTTP threads are gone): cq_service_stop if not done, then
 * frees; sets *sp to NULL; accepts NULL. The scheduler may still be running
 * or already stopped: its callback never reaches a freed service. */
void cq_service_free(struct cq_service **sp);

struct cq_store *cq_service_store(struct cq_service *svc);

/* Executions running right now (manual and scheduled). */
size_t cq_service_running(struct cq_service *svc);

/* Execution request (SPEC §8.2 "Execution"). */
struct cq_exec_request {
    bool has_start, has_end;
    int64_t start_us, end_us;
    bool dry_run;
    int64_t now_us; /* 0 = the wall clock (tests pass a fixed time) */
};

/* Execution outcome. executed_query is owned (xfree via cq_exec_result_cleanup). */
struct cq_exec_result {
    int64_t query_id;
    char query_name[CQ_NAME_MAX + 1];
    char execution_id[24];
    const char *status; /* "completed" | "dry_run" | "failed" */
    int64_t start_us, end_us;
    uint64_t records_written;
    double execution_time_s;
    char destination_measurement[129];
    bool dry_run;
    int64_t executed_at_us;
    char *executed_query; /* the substituted SQL (always set once known) */
    bool failed;          /* the run started and failed: HTTP 500, history entry "failed" */
    bool nothing_to_do;   /* the window lay entirely below the watermark: no query ran */
};
void cq_exec_result_cleanup(struct cq_exec_result *r);

/*
 * Executes CQ id once. Window: start = start_us if given, else
 * last_processed_time, else now − 1 h; end = end_us if given, else now;
 * 400 if start >= end. Then start is raised to last_processed_time (see
 * the watermark above); if that leaves nothing, returns RC_OK with status
 * "completed", records_written 0, nothing_to_do set, and records nothing.
 * dry_run: only fills executed_query (status "dry_run").
 * Returns RC_OK, RC_NOT_FOUND (unknown id), RC_INVALID (inactive CQ, bad
 * window), RC_BUSY (max_concurrent executions running), RC_EXISTS (this CQ
 * is running already), or — with out->failed set and a "failed" history
 * entry — the code of the failure (query error, type conflict, missing tag
 * column, buffer full, flush failure, timeout). *out is always filled as
 * far as known; clean it with cq_exec_result_cleanup.
 */
int cq_execute(struct cq_service *svc, int64_t id, const struct cq_exec_request *req,
               struct cq_exec_result *out, struct errbuf *eb) MUST_CHECK;

/* One scheduler pass, synchronously on the calling thread: every active CQ
 * whose window [last_processed_time, now truncated to its interval) is
 * non-empty runs over it (a CQ that never ran starts one interval before
 * the truncated now). *out_ran (may be NULL) = executions started. Errors
 * of single CQs are logged and recorded, not returned; RC_DB only if the
 * definitions cannot be listed. */
int cq_run_due(struct cq_service *svc, int64_t now_us, size_t *out_ran,
               struct errbuf *eb) MUST_CHECK;

/* continuous_queries.scheduler_enabled: starts the worker thread "arc-cq"
 * and registers the job "continuous_queries" (every second) with the
 * scheduler; each tick wakes the worker, which runs cq_run_due. RC_INTERNAL
 * if the thread cannot start, or the scheduler's error. */
int cq_service_start_scheduler(struct cq_service *svc, struct scheduler *sched,
                               struct errbuf *eb) MUST_CHECK;

#endif
