/*
 * flush/writer.h — the flush sink: sealed batches → Parquet files in
 * storage → catalog entries (SPEC §3).
 *
 * flush_writer_sink() returns the struct flush_sink (flush/sink.h) the
 * flusher calls: write() produces one file per UTC hour of the rows
 * (flush/parquet.h), moves each into storage atomically and adds it to the
 * catalog, still invisible; publish() makes them visible (memory only).
 * docs/storage-layout.md draws the whole lifecycle.
 *
 * Threads: write() and discard() run on flush worker threads, any number at
 * once; publish() may run under the flusher's buffer lock (no I/O).
 */
#ifndef FLUSH_WRITER_H
#define FLUSH_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "flush/parquet.h"
#include "flush/sink.h"
#include "util/rc.h"

struct storage;
struct catalog;
struct catalog_reconcile_stats;
struct flush_writer;

struct flush_writer_options {
    const char *compression; /* ingestion.compression: snappy|zstd|gzip|lz4|none; NULL = snappy */
    int compression_level;   /* 0 = codec default */
    const char *const *sort_keys; /* ingestion.sort_keys entries "measurement:col1,col2" */
    size_t n_sort_keys;
    int flush_timeout_seconds;         /* ingestion.flush_timeout_seconds; 0 = no deadline */
    int duckdb_threads;                /* threads of the writing DuckDB; 0 = DuckDB default */
    const char *duckdb_memory_limit;   /* NULL/"" = DuckDB default */
    const char *duckdb_temp_directory; /* spill directory; NULL = DuckDB default */
};

/* Creates the writer (and the process-wide writing DuckDB). storage and
 * catalog are borrowed and must outlive it. opts may be NULL (defaults).
 * RC_INVALID for an unknown compression or a malformed sort_keys entry
 * (message names it). On error *out is untouched. */
int flush_writer_new(struct storage *st, struct catalog *cat,
                     const struct flush_writer_options *opts, struct flush_writer **out,
                     struct errbuf *eb) MUST_CHECK;

/* Frees the writer; sets *wp to NULL; accepts NULL. No write may be running. */
void flush_writer_free(struct flush_writer **wp);

/* The sink for the flusher; ctx is the writer. */
struct flush_sink flush_writer_sink(struct flush_writer *w);

/* What write() produced, for tests and logs (the token is otherwise opaque).
 * keys[i] lives as long as the token. */
size_t flush_writer_token_files(const void *token, const char *const **keys, const uint64_t **ids);

/* Direct entry points (the sink's functions), for callers other than the
 * flusher (compaction tests, benchmarks). Same contracts as struct
 * flush_sink. */
int flush_writer_write(struct flush_writer *w, const char *db, const char *measurement,
                       struct batch *const *batches, size_t n, void **out_token,
                       struct errbuf *eb) MUST_CHECK;
void flush_writer_publish(struct flush_writer *w, void *token);
/* Undoes a write that will not be published: deletes its files from
 * storage and the catalog (best effort; does I/O), frees the token. */
void flush_writer_discard(struct flush_writer *w, void *token);

/* Builds the raw-flush key of SPEC §3.2 for rows of the hour starting at
 * hour_start_us, written at wall-clock write_ns (ns since the epoch) with the
 * uniqueness counter seq folded into the nanosecond field:
 * {db}/{meas}/{YYYY}/{MM}/{DD}/{HH}/{meas}_{YYYYMMDD}_{HHMMSS}_{NNNNNNNNN}.parquet
 * Returns the length, or 0 if cap is too small. */
size_t flush_key_format(char *buf, size_t cap, const char *db, const char *measurement,
                        int64_t hour_start_us, int64_t write_ns, uint64_t seq);

/* Runs catalog_reconcile against this storage (the catalog module does not
 * link storage). Call at startup, before flush workers start. stats may be
 * NULL. */
int flush_catalog_reconcile(struct catalog *cat, struct storage *st,
                            struct catalog_reconcile_stats *stats, struct errbuf *eb) MUST_CHECK;

#endif
