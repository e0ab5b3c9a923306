/*
 * flush/parquet.h — columnar batches in, Parquet files out (SPEC §3.4).
 *
 * The one place that produces Parquet. This implementation goes through a
 * process-wide in-memory DuckDB database; the interface is deliberately
 * narrow (batches in, one file per hour out) so a native writer can replace
 * it without touching writer.c.
 *
 * A job loads n sealed batches of one (db, measurement) once, splits their
 * rows by the UTC hour of `time`, and writes any hour to a local path:
 *
 *   parquet_job_begin ──► parquet_job_hours ──► parquet_job_write_hour (per hour)
 *                                                 ──► parquet_job_end
 *
 * Files hold `time` first (TIMESTAMP WITH TIME ZONE = INT64
 * TIMESTAMP(MICROS, UTC)), then the union of the batches' columns in
 * byte-wise ascending name order (NULL where a batch lacked a column), rows
 * sorted by the sort keys then `time`, row groups of at most 122 880 rows,
 * min/max statistics, and key/value metadata `arc:tags` (sorted tag names)
 * when any column is a tag.
 *
 * Threads: flush workers. The engine is thread-safe; a job belongs to one
 * thread. Each job borrows its own DuckDB connection from the engine's pool
 * (DuckDB connections are not thread-safe). An engine watchdog thread
 * interrupts a job's DuckDB work once its deadline passes.
 */
#ifndef FLUSH_PARQUET_H
#define FLUSH_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

struct batch;
struct parquet_engine;
struct parquet_job;

enum parquet_compression {
    PARQUET_SNAPPY = 0,
    PARQUET_ZSTD,
    PARQUET_GZIP,
    PARQUET_LZ4,
    PARQUET_NONE,
};

/* Parses "snappy" | "zstd" | "gzip" | "lz4" | "none" (case-insensitive;
 * "uncompressed" is accepted for none). Returns false if unknown. */
bool parquet_compression_parse(const char *s, enum parquet_compression *out);
/* Lower-case name as accepted by parquet_compression_parse. */
const char *parquet_compression_name(enum parquet_compression c);

/* How a job hands its rows to DuckDB (bench/bench_flush.c compares them). */
enum parquet_load_mode {
    PARQUET_LOAD_SCAN = 0, /* table function streaming the batches (default, faster) */
    PARQUET_LOAD_APPENDER, /* appender into a temporary table, then COPY from it */
};

struct parquet_engine_options {
    int threads; /* DuckDB worker threads per engine; 0 = DuckDB default */
    enum parquet_load_mode load_mode;
    const char *memory_limit;   /* e.g. "2GB"; NULL or "" = DuckDB default */
    const char *temp_directory; /* spill directory; NULL = DuckDB default */
};

/* Opens the process-wide writing database (in memory) and starts the
 * watchdog thread. opts may be NULL. On error *out is untouched. */
int parquet_engine_new(const struct parquet_engine_options *opts, struct parquet_engine **out,
                       struct errbuf *eb) MUST_CHECK;

/* Closes every pooled connection and the database; sets *ep to NULL. No job
 * may be running. Accepts NULL. */
void parquet_engine_free(struct parquet_engine **ep);

/* One UTC hour of a job's rows. */
struct parquet_hour {
    int64_t hour_start_us; /* floor of the hour */
    int64_t min_time_us;   /* smallest / largest `time` in this hour */
    int64_t max_time_us;
    uint64_t rows;
};

/* Loads batches[0..n) (sealed, all of one database and measurement) into a
 * fresh job. deadline_mono_ms (time_mono_ms() clock) bounds all DuckDB work of
 * the job, 0 = none; past it DuckDB is interrupted and calls fail with
 * RC_TIMEOUT. Fails with RC_INVALID if the batches disagree on a column's
 * type, or hold a column named "time", an empty name or a name with a NUL;
 * RC_DB on a DuckDB error. On error *out is untouched. */
int parquet_job_begin(struct parquet_engine *eng, struct batch *const *batches, size_t n,
                      int64_t deadline_mono_ms, struct parquet_job **out,
                      struct errbuf *eb) MUST_CHECK;

/* The job's hours in ascending order (*out lives until parquet_job_end).
 * Returns their count; 0 if the batches hold no rows. */
size_t parquet_job_hours(const struct parquet_job *job, const struct parquet_hour **out);

/* Total rows of the job. */
uint64_t parquet_job_rows(const struct parquet_job *job);

struct parquet_write_options {
    enum parquet_compression compression;
    int compression_level;        /* codec level (zstd/gzip); 0 = DuckDB default */
    const char *const *sort_keys; /* columns to sort by before `time`; missing ones skipped */
    size_t n_sort_keys;
};

/* Writes the rows of hour `hour_idx` to the local file `path` (created;
 * must not exist). On error a partial file may remain at path: the caller
 * removes it. RC_TIMEOUT past the deadline, RC_DB / RC_IO otherwise. */
int parquet_job_write_hour(struct parquet_job *job, size_t hour_idx, const char *path,
                           const struct parquet_write_options *opts, struct errbuf *eb) MUST_CHECK;

/* Drops the job's DuckDB data and returns its connection. Sets *jp to NULL;
 * accepts NULL. */
void parquet_job_end(struct parquet_job **jp);

#endif
