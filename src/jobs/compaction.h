/*
 * jobs/compaction.h — merging many small Parquet files of a partition into
 * few large ones (SPEC §7), invisibly to query results.
 *
 * Tiers (SPEC §7.1):
 *   hourly  partition = one HH directory; inputs = its files not ending in
 *           _compacted.parquet; output ..._b{K}_compacted.parquet in the
 *           same directory;
 *   daily   partition = one DD directory; inputs = every file of its hour
 *           subdirectories; output ..._b{K}_daily.parquet in the day
 *           directory; emptied hour directories are removed (local backend).
 * The catalog (catalog/catalog.h) is the list of files: a partition's inputs
 * are its visible catalog files, their write time is the entry's created_at.
 *
 * One batch (at most max_files_per_batch inputs, fewer when their bytes
 * reach target_file_size_mb) becomes one output, through the swap protocol
 * (docs/compaction.md draws it):
 *
 *   merge into a local work file (DuckDB, zstd; corrupt inputs skipped)
 *     ──► (1) manifest written (temp_dir/manifests, fsynced, atomic rename)
 *     ──► (2) output put into storage atomically (STORAGE_PUT_NOREPLACE)
 *     ──► catalog_files_add (invisible) ──► catalog_files_swap (output
 *         visible and inputs forgotten in one step) ──► query_cache_clear()
 *     ──► (3) inputs deleted from storage after retire_grace_ms (queries
 *         that listed them before the swap may still be opening them)
 *     ──► (4) manifest removed.
 * compaction_recover() completes every manifest at start-up: output in
 * storage → inputs forgotten and deleted (output registered if missing);
 * no output → inputs kept, partial output and manifest removed. So after a
 * crash at any step exactly one of the two sets is visible.
 *
 * Threads: compaction_new starts one manager thread ("arc-compact") that
 * runs cycles (each with up to max_concurrent_jobs worker threads
 * "arc-compact-w") and deletes retired inputs. Every other function may be
 * called from any thread (HTTP handlers, the scheduler thread). DuckDB work
 * of a job is interrupted when the job's deadline (lock TTL minus a margin)
 * passes or when compaction_free runs.
 */
#ifndef JOBS_COMPACTION_H
#define JOBS_COMPACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/batch.h"
#include "util/rc.h"

struct catalog;
struct config;
struct scheduler;
struct storage;
struct compaction;

enum compaction_tier {
    COMPACTION_HOURLY = 0,
    COMPACTION_DAILY = 1,
};
#define COMPACTION_NTIERS 2
#define COMPACTION_TIER_BIT(t) (1u << (t))
#define COMPACTION_ALL_TIERS                                                                       \
    (COMPACTION_TIER_BIT(COMPACTION_HOURLY) | COMPACTION_TIER_BIT(COMPACTION_DAILY))

/* "hourly" / "daily". */
const char *compaction_tier_name(enum compaction_tier t);
/* Parses a comma-separated tier list ("hourly,daily", blanks ignored) into a
 * bit mask. False for an unknown or empty list. */
bool compaction_tiers_parse(const char *s, unsigned *out_mask);

/* Longest partition path: db/measurement/YYYY/MM/DD/HH. */
#define COMPACTION_PARTITION_MAX (DB_NAME_MAX + MEASUREMENT_NAME_MAX + 16)

struct compaction_tier_options {
    bool enabled;                /* compaction[.daily].enabled (daily: also needs [compaction]) */
    const char *schedule;        /* 5-field cron, UTC */
    int64_t min_age_hours;       /* partition_start + this <= now (and the partition ended) */
    int64_t min_files;           /* inputs needed */
    int64_t target_file_size_mb; /* a batch closes when its input bytes reach this; 0 = no cap */
};

struct compaction_options {
    struct compaction_tier_options tiers[COMPACTION_NTIERS];
    int64_t max_concurrent_jobs;  /* worker threads per cycle, >= 1 */
    int64_t max_files_per_batch;  /* 2..500 */
    int64_t settle_seconds;       /* newest input written at least this long ago */
    int64_t lock_ttl_hours;       /* partition lock TTL; job deadline = TTL - 5 min */
    const char *temp_dir;         /* work files, downloads, manifests (created) */
    const char *compression;      /* zstd | snappy | gzip | lz4 | none */
    int compression_level;        /* zstd / gzip level; 0 = codec default */
    bool dedup;                   /* SPEC §7.2 [Ext] */
    const char *const *sort_keys; /* ingestion.sort_keys ("measurement:col1,col2") */
    size_t n_sort_keys;
    const char *node_id;             /* appended to output names (flush/writer.h); NULL/"" = none */
    int64_t retire_grace_ms;         /* delay between the swap and deleting the inputs */
    int duckdb_threads;              /* threads of compaction's own DuckDB; 0 = 1 */
    const char *duckdb_memory_limit; /* "" / NULL = DuckDB default */
};

/* Fills o from the configuration (SPEC §10.2 [compaction], [compaction.daily];
 * sort keys from ingestion.sort_keys). The strings point into cfg, which
 * must outlive o. retire_grace_ms = query.timeout_seconds + 30 s (330 s
 * when queries have no timeout); the test hook
 * ARC_TEST_FAULTS=compaction_retire_grace_ms=N overrides it. */
void compaction_options_from_config(const struct config *cfg, struct compaction_options *o);

/* ---- start-up recovery ---------------------------------------------------- */

struct compaction_recovery_stats {
    uint64_t manifests;      /* unfinished manifests found */
    uint64_t rolled_forward; /* output existed: inputs forgotten and deleted */
    uint64_t rolled_back;    /* no output: partial output removed, inputs kept */
    uint64_t inputs_deleted; /* input objects deleted */
    uint64_t failed;         /* manifests left in place (storage error; retried next start) */
};

/* Completes the unfinished swaps recorded under temp_dir/manifests and
 * removes leftover work directories (see the top of this file). Call at
 * start-up after catalog_open and BEFORE catalog reconciliation (which
 * would otherwise register a half-swapped output next to its inputs),
 * before the HTTP server starts, whether or not compaction is enabled.
 * Clears the query cache if anything changed. Returns RC_OK when every
 * manifest was completed, else the first storage/catalog error (the
 * manifests concerned stay for the next start). out may be NULL. */
int compaction_recover(const char *temp_dir, struct storage *st, struct catalog *cat,
                       struct compaction_recovery_stats *out, struct errbuf *eb) MUST_CHECK;

/* ---- manager -------------------------------------------------------------- */

/* Validates o (RC_INVALID naming the key: max_files_per_batch 2..500,
 * max_concurrent_jobs >= 1, unknown compression, bad cron, bad sort key),
 * creates temp_dir, opens compaction's DuckDB and starts the manager
 * thread. st and cat are borrowed and must outlive the manager. Strings of
 * o are copied. On error *out is untouched. */
int compaction_new(const struct compaction_options *o, struct storage *st, struct catalog *cat,
                   struct compaction **out, struct errbuf *eb) MUST_CHECK;

/* Registers the cron jobs "compaction-hourly" / "compaction-daily" (for the
 * enabled tiers) on s; each trigger starts a cycle of that tier unless one
 * is running (then it is skipped and logged). s must outlive the manager or
 * be stopped before compaction_free (which unregisters the jobs). */
int compaction_schedule(struct compaction *c, struct scheduler *s, struct errbuf *eb) MUST_CHECK;

/* Stops: unregisters scheduler jobs, interrupts running DuckDB work, joins
 * the threads, deletes retired inputs still waiting for their grace period
 * (call it after the HTTP server has drained, so no query reads them) and
 * frees. Sets *cp to NULL; accepts NULL. */
void compaction_free(struct compaction **cp);

/* Starts a cycle asynchronously for the tiers in `tiers` (a mask of
 * COMPACTION_TIER_BIT; hourly runs before daily) and, if database is not
 * NULL/"", only that database. *out_cycle_id receives the new cycle id, or
 * the running one with RC_EXISTS if a cycle is already running or queued.
 * RC_INVALID for an invalid database name or an empty/unknown tier mask,
 * RC_SHUTDOWN while stopping. A disabled tier is still run on an explicit
 * trigger. */
int compaction_trigger(struct compaction *c, const char *database, unsigned tiers,
                       uint64_t *out_cycle_id, struct errbuf *eb) MUST_CHECK;

/* Waits up to timeout_ms (< 0: forever) until no cycle is running or
 * queued. Returns true if idle. */
bool compaction_wait_idle(struct compaction *c, int64_t timeout_ms);

/* Deletes retired inputs whose grace period has passed (all of them with
 * all = true) and removes their manifests. The manager thread calls it
 * about every second; exposed for tests. Returns the number of swaps whose
 * inputs were deleted. */
size_t compaction_retire_due(struct compaction *c, bool all);

/* ---- observability (SPEC §7.3) ------------------------------------------ */

struct compaction_tier_stats {
    uint64_t jobs_completed, jobs_failed;
    uint64_t files_compacted;           /* inputs merged into outputs */
    uint64_t bytes_before, bytes_after; /* input bytes / output bytes */
    uint64_t outputs;                   /* output files written */
    int64_t last_run_us;                /* start of the last cycle of this tier, 0 = never */
};

struct compaction_status {
    bool scheduled;      /* compaction_schedule was called */
    bool cycle_running;  /* a cycle is running or queued */
    uint64_t cycle_id;   /* the running cycle, or the last one (0 = none yet) */
    int64_t next_run_us; /* earliest scheduled run of any tier, 0 = none */
    int64_t last_run_us; /* start of the last cycle, 0 = never */
    int64_t last_cycle_end_us;
    struct {
        bool enabled;
        char schedule[64];
        int64_t next_run_us, last_run_us;
    } tiers[COMPACTION_NTIERS];
    uint64_t active_jobs;
    uint64_t total_completed, total_failed;
    uint64_t total_files_compacted, total_bytes_before, total_bytes_after;
    uint64_t skipped_corrupt_files; /* inputs skipped as unreadable (left in place) */
    uint64_t pending_retirements;   /* swaps whose inputs wait for the grace period */
    struct compaction_tier_stats tier_stats[COMPACTION_NTIERS];
};

void compaction_get_status(struct compaction *c, struct compaction_status *out);

/* A partition that is eligible now (SPEC §7.1). */
struct compaction_candidate {
    char database[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];
    char partition_path[COMPACTION_PARTITION_MAX + 1];
    enum compaction_tier tier;
    size_t file_count;
    uint64_t bytes;
};

/* Eligible partitions of the tiers in `tiers` (enabled or not) at now_us,
 * optionally of one database (NULL = all). *out is xmalloc'ed (NULL when
 * *n == 0); the caller xfree()s it. */
void compaction_candidates(struct compaction *c, int64_t now_us, unsigned tiers,
                           const char *database, struct compaction_candidate **out, size_t *n);

/* One job (one partition of one tier). */
struct compaction_job_info {
    uint64_t job_id;
    uint64_t cycle_id;
    char database[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];
    char partition_path[COMPACTION_PARTITION_MAX + 1];
    enum compaction_tier tier;
    const char *status;       /* "running" | "completed" | "failed" (static) */
    size_t file_count;        /* inputs planned */
    uint64_t files_compacted; /* inputs merged and retired */
    uint64_t files_skipped;   /* corrupt inputs left in place */
    uint64_t outputs;
    uint64_t bytes_before, bytes_after;
    int64_t started_at_us;
    double duration_seconds; /* so far, for running jobs */
    char error[ERRBUF_SIZE]; /* "" if none */
};

/* Running jobs, oldest first. *out xmalloc'ed (NULL if *n == 0). */
void compaction_jobs(struct compaction *c, struct compaction_job_info **out, size_t *n);

/* The most recent finished jobs, newest first, at most `limit`; *total =
 * jobs finished since start. *out xmalloc'ed (NULL if *n == 0). The
 * manager keeps the last COMPACTION_HISTORY_MAX. */
#define COMPACTION_HISTORY_MAX 1000
void compaction_history(struct compaction *c, size_t limit, struct compaction_job_info **out,
                        size_t *n, uint64_t *total);

#endif
