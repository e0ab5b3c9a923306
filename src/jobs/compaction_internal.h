/*
 * jobs/compaction_internal.h — declarations shared by the compaction*.c and
 * retention*.c files of src/jobs/ only (planning, the DuckDB merge, the
 * manifest and swap protocol, small storage/DuckDB helpers). Not part of
 * any public contract.
 */
#ifndef JOBS_COMPACTION_INTERNAL_H
#define JOBS_COMPACTION_INTERNAL_H

#include <duckdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "jobs/compaction.h"
#include "util/rc.h"
#include "util/strbuf.h"

struct storage;

/* ---- fault hooks (util/faults.h) ------------------------------------------ */

/* If ARC_TEST_FAULTS lists `name`, logs it and kills the process with
 * SIGKILL (a crash at that step of the swap, for the recovery tests). */
void compaction__crash_point(const char *name);

/* ---- keys and planning (compaction_plan.c) ------------------------------- */

/* A data key split into its layout parts (SPEC §3.2). */
struct compaction_key {
    char db[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];
    bool in_hour_dir;     /* db/m/YYYY/MM/DD/HH/name (else db/m/YYYY/MM/DD/name) */
    int64_t dir_start_us; /* start of the hour (in_hour_dir) or day */
    int64_t day_start_us;
    size_t hour_dir_len; /* length of "db/m/YYYY/MM/DD/HH" (in_hour_dir only) */
    size_t day_dir_len;  /* length of "db/m/YYYY/MM/DD" */
    const char *name;    /* file name (points into the key) */
};

/* Parses key; false if it does not follow the layout or is not *.parquet. */
bool compaction__parse_key(const char *key, struct compaction_key *out);

bool compaction__ends_with(const char *s, const char *suffix);

/* One input file of a partition (copied out of a catalog listing). */
struct cplan_file {
    uint64_t id;
    char *key; /* owned */
    const char *name;
    uint64_t bytes;
    int64_t created_at_us;
    int64_t min_time_us, max_time_us, row_count;
};

/* A partition with its tier's inputs, sorted by file name (= write order). */
struct cplan_part {
    char db[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];
    char path[COMPACTION_PARTITION_MAX + 1]; /* db/m/YYYY/MM/DD[/HH] */
    enum compaction_tier tier;
    int64_t start_us, span_us;
    struct cplan_file *files;
    size_t n;
    uint64_t bytes;
    int64_t newest_created_us;
};

/* Groups the files of one measurement listing into the partitions of
 * `tier` with their inputs (SPEC §7.1). *out xmalloc'ed; free with
 * compaction__parts_free. Partitions come sorted by path. */
void compaction__plan(const struct catalog_file_list *fl, const char *db, const char *measurement,
                      enum compaction_tier tier, struct cplan_part **out, size_t *n);
void compaction__parts_free(struct cplan_part **parts, size_t n);

/* Eligibility at now_us (SPEC §7.1, without the lock check). */
bool compaction__eligible(const struct cplan_part *p, const struct compaction_tier_options *t,
                          int64_t settle_seconds, int64_t now_us);

/* Splits files[0..n) (in order) into batches of at most max_per_batch
 * files that close once their bytes reach target_bytes (0 = no cap); a
 * batch has at least 2 files, a single leftover file is left out. Writes
 * the start index of batch i to starts[i] and its end to starts[i + 1];
 * starts must hold n + 1 entries. Returns the number of batches. */
size_t compaction__batches(const struct cplan_file *files, size_t n, size_t max_per_batch,
                           uint64_t target_bytes, size_t *starts);

/* Output key of batch `batch` (1-based) of a partition (SPEC §3.2):
 *   hourly db/m/YYYY/MM/DD/HH/m_YYYYMMDD_HHMMSS_UNIXNANOS_bK[_node]_compacted.parquet
 *   daily  db/m/YYYY/MM/DD/m_YYYYMMDD_HHMMSS_UNIXNANOS_bK[_node]_daily.parquet
 * YYYYMMDD_HHMMSS and UNIXNANOS are the write time write_ns. Returns the
 * length, 0 if it does not fit. */
size_t compaction__output_key(char *buf, size_t cap, const struct cplan_part *p, int64_t write_ns,
                              unsigned batch, const char *node_id);

/* Sort columns of `measurement` from ingestion.sort_keys entries
 * ("measurement:col1,col2"); *out is one xmalloc'ed block (array + strings),
 * NULL with *n = 0 if none. RC_INVALID for a malformed entry. */
int compaction__sort_keys(const char *const *entries, size_t n_entries, const char *measurement,
                          char ***out, size_t *n, struct errbuf *eb) MUST_CHECK;

/* ---- DuckDB helpers (compaction_merge.c) --------------------------------- */

/* Opens an in-memory DuckDB for jobs: threads (<= 0 = 1), memory limit
 * (NULL/"" = default), spill directory (NULL = default), no extension
 * auto-loading, UTC time zone. */
int compaction__duckdb_open(int threads, const char *memory_limit, const char *temp_directory,
                            duckdb_database *out, struct errbuf *eb) MUST_CHECK;
/* A connection with TimeZone = 'UTC'. */
int compaction__duckdb_connect(duckdb_database db, duckdb_connection *out,
                               struct errbuf *eb) MUST_CHECK;

/* Appends s as a SQL string literal ('...' with quotes doubled). */
int compaction__sql_literal(struct strbuf *sb, const char *s);
/* Appends s as a quoted identifier ("..." with quotes doubled). */
int compaction__sql_ident(struct strbuf *sb, const char *s);
/* True if path can be handed to read_parquet verbatim (no glob characters). */
bool compaction__path_is_plain(const char *path);

/* Rows and time range of a Parquet file (from its footer and, for time,
 * a scan that DuckDB answers from the row-group statistics where it can).
 * min/max are 0 for an empty file. RC_DB if unreadable. */
int compaction__file_stats(duckdb_connection conn, const char *path, int64_t *rows, int64_t *min_us,
                           int64_t *max_us, struct errbuf *eb) MUST_CHECK;

/* One input of a merge. */
struct cmerge_input {
    const char *path; /* local file DuckDB reads */
    bool skipped;     /* set by the merge: unreadable, left out */
    char reason[160];
    uint64_t rows; /* rows of this input (set by the merge) */
};

struct cmerge_options {
    const char *compression; /* DuckDB name: zstd, snappy, gzip, lz4, uncompressed */
    int compression_level;   /* 0 = default */
    bool dedup;
    char *const *sort_cols; /* extra sort columns before time (missing ones skipped) */
    size_t n_sort_cols;
};

struct cmerge_result {
    uint64_t rows_in, rows_out;
    int64_t min_us, max_us; /* of the output; 0 if it has no rows */
    size_t n_used, n_skipped;
    char tags[1024]; /* arc:tags written ("" = none) */
};

/* Merges the readable inputs into the new local file out_path (SPEC §7.2):
 * union of columns by name, time as TIMESTAMPTZ, columns in byte order,
 * sorted by sort columns then time, the given compression, row groups of
 * 122 880, union of the inputs' arc:tags, optional de-duplication. Inputs
 * that cannot be read are marked skipped (with a reason) and left out.
 * Without dedup the output row count is checked against the inputs.
 * RC_INVALID if no input is readable, RC_DB / RC_TIMEOUT (interrupted) on
 * failure; out_path may then hold a partial file (the caller removes it). */
int compaction__merge(duckdb_connection conn, struct cmerge_input *in, size_t n,
                      const char *out_path, const struct cmerge_options *o,
                      struct cmerge_result *res, struct errbuf *eb) MUST_CHECK;

/* ---- manifests and the swap (compaction_swap.c) -------------------------- */

struct cmanifest {
    char db[DB_NAME_MAX + 1];
    char measurement[MEASUREMENT_NAME_MAX + 1];
    enum compaction_tier tier;
    char *output_key;
    int64_t output_rows, output_min_us, output_max_us;
    uint64_t output_bytes;
    char **inputs; /* keys */
    size_t n_inputs;
    char path[1024]; /* the manifest file (set by write/read) */
};

/* Writes m to dir/<unique>.manifest atomically (temp file, fsync, rename,
 * directory fsync); sets m->path. */
int compaction__manifest_write(const char *dir, struct cmanifest *m, struct errbuf *eb) MUST_CHECK;
/* Reads a manifest file; on success m owns its strings (manifest_free). */
int compaction__manifest_read(const char *path, struct cmanifest *m, struct errbuf *eb) MUST_CHECK;
void compaction__manifest_free(struct cmanifest *m);
/* Removes the manifest file (and fsyncs its directory). */
void compaction__manifest_remove(const struct cmanifest *m);

/* Deletes the inputs of a completed swap from storage and, for the daily
 * tier, removes hour directories left empty. RC_OK when every input is
 * gone (missing ones count as gone). */
int compaction__delete_inputs(struct storage *st, const struct cmanifest *m, uint64_t *deleted,
                              struct errbuf *eb) MUST_CHECK;

/* Removes the directories of key (its parent, and up to levels - 1 more
 * ancestors, never the measurement directory) that are empty, on a local
 * backend (no-op on object stores, which have no directories). */
void compaction__remove_empty_dirs(struct storage *st, const char *key, int levels);

#endif
