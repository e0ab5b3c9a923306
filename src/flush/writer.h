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

#include <stdbool.h>
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
    const char *node_id; /* storage.node_id as resolved by flush_node_id_resolve: appended to
                            file names (`..._NNNNNNNNN_<node_id>.parquet`) so that nodes
                            sharing a bucket never collide; NULL/"" = no node id */
    /* Optional (the WAL's wal_put_intent; docs/wal.md "idempotent replay"):
     * called on the flush worker right before each attempt to put a file,
     * with the storage key, the UTC hour whose rows of batches[0..n) the
     * file holds, and *slot (0 on the first attempt for a file; whatever the
     * hook stored there on the retries of the same file after a name
     * collision). A non-OK return fails the write like a failed put. */
    int (*before_put)(void *ctx, const char *db, const char *measurement, const char *key,
                      int64_t hour_start_us, struct batch *const *batches, size_t n, uint64_t *slot,
                      struct errbuf *eb);
    void *before_put_ctx;
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

/* ---- node ids (scale-out on shared storage, docs/s3.md) ------------------- */

#define FLUSH_NODE_ID_MAX 32 /* characters */

/* Same as flush_key_format, plus `_<node_id>` before ".parquet" when node_id
 * is neither NULL nor "" (it must satisfy flush_node_id_is_valid):
 * {db}/{meas}/{YYYY}/{MM}/{DD}/{HH}/{meas}_{YYYYMMDD}_{HHMMSS}_{NNNNNNNNN}_{node}.parquet
 * Returns the length, or 0 if cap is too small. */
size_t flush_key_format_node(char *buf, size_t cap, const char *db, const char *measurement,
                             int64_t hour_start_us, int64_t write_ns, uint64_t seq,
                             const char *node_id);

/* True if s is a usable node id: 1..FLUSH_NODE_ID_MAX characters of
 * [A-Za-z0-9-], starting with a letter, and not of the form b<digits> (the
 * compaction batch field). These rules make the id the unambiguous last
 * `_` field of a file name. */
bool flush_node_id_is_valid(const char *s);

/* Resolves storage.node_id: a non-empty `configured` must be valid (else
 * RC_INVALID naming the key); "" or NULL derives the id from the host name
 * (gethostname): characters outside [A-Za-z0-9-] become '-', an 'n' is put
 * in front when it does not start with a letter or looks like b<digits>,
 * truncated to FLUSH_NODE_ID_MAX. Writes the NUL-terminated id into out
 * (cap >= FLUSH_NODE_ID_MAX + 1, else RC_LIMIT). Nodes that share a bucket
 * must resolve to different ids (distinct host names, or set it). */
int flush_node_id_resolve(const char *configured, char *out, size_t cap,
                          struct errbuf *eb) MUST_CHECK;

/* The node id carried by a data file key (last `_` field of its name before
 * ".parquet", "_compacted.parquet" or "_daily.parquet" that satisfies
 * flush_node_id_is_valid), copied into out. False for names without one
 * (written without a node id) or if it does not fit cap. */
bool flush_key_node_id(const char *key, char *out, size_t cap);

/* Runs catalog_reconcile against this storage (the catalog module does not
 * link storage). Call at startup, before flush workers start. stats may be
 * NULL. */
int flush_catalog_reconcile(struct catalog *cat, struct storage *st,
                            struct catalog_reconcile_stats *stats, struct errbuf *eb) MUST_CHECK;

#endif
