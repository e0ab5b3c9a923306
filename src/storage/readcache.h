/*
 * storage/readcache.h — a bounded local cache of remote data files, so that
 * DuckDB (which cannot reach S3 itself: no httpfs in this build) reads
 * Parquet files of an object store from local disk (docs/s3.md, "Read
 * cache").
 *
 * A cached object `key` lives at <dir>/<key> (the key's directories are
 * mirrored), so a path handed to DuckDB looks like the local backend's.
 * Files appear atomically: fetched with storage_get_file into a hidden
 * temporary name in <dir>, then renamed into place. Objects are immutable
 * (SPEC §3.2 names are unique per writer and never reused), so a cached
 * file is valid for as long as its key exists.
 *
 * Size cap and eviction: the files in the cache total at most max_bytes;
 * past it the least recently used files are deleted. A file handed out by
 * readcache_get is pinned until readcache_release and is never deleted
 * while pinned, so the cap can be exceeded while running queries hold more
 * than max_bytes (it is restored as they release).
 *
 * Fetching: misses are downloaded by a few fetch threads owned by the
 * cache ("arc-cache-N"), so concurrent gets of one key fetch it once, many
 * files of one query download in parallel (readcache_prefetch), and a caller
 * can stop waiting at its own deadline while the download finishes in the
 * background (readcache_get_until). Every download is bounded by the storage
 * timeouts (SPEC §11 R2).
 *
 * Restart: readcache_new scans <dir>; complete files whose path is a valid
 * key are indexed again (Parquet files must start and end with "PAR1",
 * others with that name are deleted), leftover temporary files are deleted,
 * anything else is left alone. Oldest modification time = least recently
 * used. <dir> must be dedicated to the cache.
 *
 * Local backend: nothing is cached; readcache_get returns the file's path in
 * the storage root (files are read in place), pins nothing and counts
 * nothing.
 *
 * Metrics: arc_storage_cache_hits_total (gets served by a complete cached
 * file), arc_storage_cache_misses_total (downloads started),
 * arc_storage_cache_bytes (gauge: bytes of cached files),
 * arc_storage_cache_evictions_total (files deleted to respect the cap).
 *
 * Threads: every function is thread-safe (query threads call get/release;
 * the cache's own fetch threads download). No lock is held across storage
 * calls or file-system I/O.
 */
#ifndef STORAGE_READCACHE_H
#define STORAGE_READCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

struct storage;
struct readcache;

#define READCACHE_FETCH_THREADS 4 /* concurrent downloads per cache */

/* Creates the cache for storage st (borrowed; must outlive the cache) in
 * directory dir (created with parents if missing; its absolute path is
 * kept), capped at max_bytes (> 0), scans dir (see above) and starts the
 * fetch threads. For the local backend dir is not used and nothing is
 * started. RC_INVALID for a bad dir or max_bytes, RC_IO if dir cannot be
 * created or read, RC_INTERNAL if a thread cannot start. On error *out is
 * untouched. */
int readcache_new(struct storage *st, const char *dir, uint64_t max_bytes, struct readcache **out,
                  struct errbuf *eb) MUST_CHECK;

/* Stops the fetch threads (a download in progress is waited for; it is
 * bounded by the storage timeouts), frees the index and sets *cp to NULL;
 * cached files stay on disk for the next start. Accepts NULL. No get may be
 * running and no file may be pinned any more. */
void readcache_free(struct readcache **cp);

/* Makes object `key` available locally and writes the NUL-terminated
 * absolute path of the local file into local_path_out. On a hit the file is
 * there already; on a miss it is downloaded (once, however many callers ask
 * at the same time). On success the file is pinned: call
 * readcache_release(c, key) exactly once when done reading it. Errors
 * (nothing pinned then): RC_INVALID (bad key), RC_LIMIT (cap too small for
 * the path), RC_NOT_FOUND (no such object), the storage error of the
 * download (RC_S3, RC_TIMEOUT, RC_IO; shared by every caller that waited for
 * that download), RC_SHUTDOWN while the cache is being freed. */
int readcache_get(struct readcache *c, const char *key, char *local_path_out, size_t cap,
                  struct errbuf *eb) MUST_CHECK;

/* readcache_get that waits at most until deadline_mono_ms (time_mono_ms()
 * clock; 0 = no deadline) and then returns RC_TIMEOUT, while the download
 * goes on in the background and lands in the cache for the next caller.
 * This is what keeps a query over a hung endpoint within its timeout. */
int readcache_get_until(struct readcache *c, const char *key, int64_t deadline_mono_ms,
                        char *local_path_out, size_t cap, struct errbuf *eb) MUST_CHECK;

/* Starts downloading `key` in the background if it is neither cached nor
 * being fetched; returns at once and pins nothing. A query calls it for all
 * its files first, then readcache_get_until for each, so the downloads run
 * in parallel. Invalid keys and a local backend are ignored. */
void readcache_prefetch(struct readcache *c, const char *key);

/* Unpins a file returned by readcache_get. Once unpinned it may be evicted.
 * A release without a matching get is a caller bug: logged, otherwise
 * ignored. No-op for the local backend. */
void readcache_release(struct readcache *c, const char *key);

/* Absolute cache directory (for DuckDB's allowed_directories), or NULL for
 * the local backend (files are read in the storage root). Lives as long as
 * the cache. */
const char *readcache_dir(const struct readcache *c);

/* True for the local backend: readcache_get only builds paths. */
bool readcache_is_passthrough(const struct readcache *c);

/* Counters of this cache (the metrics above are process-wide). */
struct readcache_stats {
    uint64_t files;          /* complete files in the cache */
    uint64_t bytes;          /* their total size */
    uint64_t max_bytes;      /* the cap */
    uint64_t pinned_files;   /* complete files with at least one pin */
    uint64_t fetching;       /* downloads queued or running */
    uint64_t hits;           /* gets served by a complete cached file */
    uint64_t misses;         /* downloads started */
    uint64_t evictions;      /* files deleted to respect the cap */
    uint64_t fetch_failures; /* downloads that failed */
};

/* Snapshot of the counters (in-memory, no I/O). */
void readcache_get_stats(struct readcache *c, struct readcache_stats *out);

#endif
