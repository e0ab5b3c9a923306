/*
 * jobs/retention.h — retention policies (SPEC §8.1): per database (and
 * optionally one measurement), data older than retention_days +
 * buffer_days is removed, whole Parquet files at a time.
 *
 * Policies and their execution history live in SQLite (tables
 * retention_policies and retention_executions) in the file given as
 * db_path — Arc keeps "token and policy metadata" in auth.db_path
 * (SPEC §10.2), so the server passes that path; the auth module's tables
 * are separate and SQLite serialises the two connections.
 *
 * Execution (retention_execute):
 *   cutoff = now − (retention_days + buffer_days) days;
 *   a visible file is deleted iff its maximum `time` < cutoff — from the
 *   catalog, which holds exact statistics for files Arc wrote; for files
 *   learned from a storage listing (row count unknown, time range = their
 *   hour/day directory) the Parquet statistics are read when the directory
 *   range straddles the cutoff; files straddling the cutoff are kept;
 *   per partition (hour or day directory): partition lock (shared with
 *   compaction and deletes) → catalog entries removed (queries stop
 *   seeing the rows) → objects deleted → emptied hour/day (and month)
 *   directories removed (local backend) → unlock; then the query cache is
 *   cleared. A partition whose lock stays busy for lock_wait_ms is skipped
 *   this time (logged, counted in files_skipped).
 *   dry_run reports the same numbers and changes nothing.
 *
 * A crash between the catalog removal and the object deletion leaves
 * objects that start-up reconciliation registers again; the next run
 * removes them (documented in docs/retention.md).
 *
 * Threads: every function is thread-safe (HTTP threads, the scheduler).
 * SQLite access is serialised by an internal lock that is never held
 * during an execution's storage or DuckDB work.
 */
#ifndef JOBS_RETENTION_H
#define JOBS_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/batch.h"
#include "util/rc.h"

struct catalog;
struct scheduler;
struct storage;
struct retention;

#define RETENTION_NAME_MAX 255 /* bytes */

struct retention_options {
    const char *db_path;  /* SQLite file (auth.db_path); parent directories created */
    const char *temp_dir; /* downloads of remote files whose statistics are needed */
    int64_t lock_wait_ms; /* wait for a busy partition before skipping it; 0 = 10 s */
    int64_t lock_ttl_ms;  /* partition lock TTL; 0 = 2 h */
};

/* Opens (creates) the tables. storage and catalog are borrowed and must
 * outlive the instance. On error *out is untouched. */
int retention_open(const struct retention_options *o, struct storage *st, struct catalog *cat,
                   struct retention **out, struct errbuf *eb) MUST_CHECK;

/* Unregisters the scheduled job, waits for a scheduled run in progress,
 * closes. Sets *rp to NULL; accepts NULL. */
void retention_close(struct retention **rp);

/* Runs every active policy (as confirm=true) at each match of cron
 * (retention.schedule; "" or NULL = manual only: returns RC_OK and
 * registers nothing). The run happens on a thread of its own, so the
 * scheduler thread is never blocked; a run still in progress when the next
 * one is due makes that one skip. RC_INVALID for a bad expression. */
int retention_schedule(struct retention *r, struct scheduler *s, const char *cron,
                       struct errbuf *eb) MUST_CHECK;

/* ---- policies ---------------------------------------------------------------- */

/* A policy as the client sends it (POST, PUT). */
struct retention_policy_input {
    const char *name;        /* required, 1..RETENTION_NAME_MAX bytes, unique */
    const char *database;    /* required, SPEC §0.4 */
    const char *measurement; /* NULL = every measurement of the database */
    int64_t retention_days;  /* > 0 */
    int64_t buffer_days;     /* >= 0 (clients default it to 7) */
    bool is_active;
};

/* A stored policy. */
struct retention_policy {
    int64_t id;
    char name[RETENTION_NAME_MAX + 1];
    char database[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1]; /* "" when has_measurement is false */
    bool has_measurement;
    int64_t retention_days, buffer_days;
    bool is_active;
    bool has_last_execution; /* false: the last_* fields are null */
    int64_t last_execution_time_us;
    char last_execution_status[16]; /* "completed" | "failed" */
    int64_t last_deleted_count;
    int64_t created_at_us, updated_at_us;
};

/* Checks an input (SPEC §8.1). RC_INVALID with the client-facing message,
 * e.g. "retention_days must be greater than buffer_days". */
int retention_policy_validate(const struct retention_policy_input *in,
                              struct errbuf *eb) MUST_CHECK;

/* Creates a policy. RC_INVALID (validation), RC_EXISTS (name taken:
 * "Retention policy '<name>' already exists"), RC_DB. */
int retention_create(struct retention *r, const struct retention_policy_input *in,
                     struct retention_policy *out, struct errbuf *eb) MUST_CHECK;
/* Every policy, by id. *out xmalloc'ed (NULL if *n == 0). */
int retention_list(struct retention *r, struct retention_policy **out, size_t *n,
                   struct errbuf *eb) MUST_CHECK;
/* RC_NOT_FOUND ("Retention policy not found") for an unknown id. */
int retention_get(struct retention *r, int64_t id, struct retention_policy *out,
                  struct errbuf *eb) MUST_CHECK;
/* Full replacement (execution fields and created_at are kept). RC_NOT_FOUND,
 * RC_INVALID, RC_EXISTS (another policy has the name). */
int retention_update(struct retention *r, int64_t id, const struct retention_policy_input *in,
                     struct retention_policy *out, struct errbuf *eb) MUST_CHECK;
/* Deletes the policy and its execution history. RC_NOT_FOUND. */
int retention_delete(struct retention *r, int64_t id, struct errbuf *eb) MUST_CHECK;

/* ---- execution ---------------------------------------------------------------- */

struct retention_result {
    int64_t policy_id;
    char policy_name[RETENTION_NAME_MAX + 1];
    int64_t deleted_count; /* rows in the deleted files */
    uint64_t files_deleted;
    uint64_t files_skipped; /* would be deleted, but their partition stayed locked */
    double execution_time_ms;
    bool dry_run;
    int64_t cutoff_us;
    char (*affected)[MEASUREMENT_NAME_MAX + 1]; /* measurements with deleted files, sorted */
    size_t n_affected;
};
void retention_result_cleanup(struct retention_result *res);

/* Executes policy id at now_us (SPEC §8.1, top of this file). RC_NOT_FOUND
 * (unknown policy), RC_INVALID ("Retention policy is not active", or
 * "confirm must be true to execute a retention policy (or use dry_run)"
 * when !dry_run && !confirm). Storage/catalog failures return their code
 * with *out filled as far as it got; non-dry runs are recorded in the
 * execution history as completed/failed either way (except for the
 * RC_NOT_FOUND/RC_INVALID refusals). */
int retention_execute(struct retention *r, int64_t id, bool dry_run, bool confirm, int64_t now_us,
                      struct retention_result *out, struct errbuf *eb) MUST_CHECK;

/* Executes every active policy as confirm=true (the scheduled run).
 * *out_ran = policies executed. Returns the first failure (the others
 * still run). */
int retention_run_all(struct retention *r, int64_t now_us, size_t *out_ran,
                      struct errbuf *eb) MUST_CHECK;

struct retention_execution {
    int64_t id, policy_id;
    int64_t execution_time_us;
    char status[16]; /* completed | failed */
    int64_t deleted_count;
    int64_t cutoff_us;
    double execution_duration_ms;
    bool has_error;
    char error_message[ERRBUF_SIZE];
};

/* The newest `limit` executions of a policy, newest first. RC_NOT_FOUND
 * for an unknown policy. *out xmalloc'ed (NULL if *n == 0). */
int retention_executions(struct retention *r, int64_t policy_id, size_t limit,
                         struct retention_execution **out, size_t *n, struct errbuf *eb) MUST_CHECK;

#endif
