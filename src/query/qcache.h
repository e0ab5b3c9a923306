/*
 * query/qcache.h — the query result cache (SPEC §4.12 [Py]).
 *
 * Caches the JSON bodies of successful POST /api/v1/query results, up to
 * and including "row_count" (the handler appends a fresh tail with
 * execution_time_ms, timestamp and "cached": true). Key = exact SQL text +
 * effective default database + format. Entries expire after the TTL and are
 * evicted least-recently-used when there are more than max_entries or more
 * than max_total_bytes; a body larger than max_result_bytes is not cached.
 *
 * Staleness [Stricter]: every data change (flush, delete, retention,
 * compaction swap, continuous-query write, database deletion) must call
 * query_cache_clear(). A clear also bumps a generation counter: a query
 * that started before the clear (qcache_generation() read first) cannot
 * store its possibly stale result afterwards (qcache_put refuses it).
 *
 * Threads: every function is thread-safe (one mutex, never held across
 * I/O or while copying a body out: hits hand out a reference).
 */
#ifndef QUERY_QCACHE_H
#define QUERY_QCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qcache;
struct qcache_entry;

struct qcache_options {
    bool enabled;            /* query_cache.enabled */
    int64_t ttl_ms;          /* query_cache.ttl_seconds * 1000; > 0 */
    size_t max_entries;      /* query_cache.max_size */
    size_t max_result_bytes; /* query_cache.max_result_mb << 20 */
    size_t max_total_bytes;  /* query_cache.max_total_mb << 20 */
};

/* Creates a cache (also when disabled: then every get misses and every put
 * is refused). Free with qcache_free. */
struct qcache *qcache_new(const struct qcache_options *o);

/* Frees every entry not referenced by a hit (referenced ones go when
 * released) and the cache; sets *c to NULL. Accepts NULL. No other call may
 * be running. */
void qcache_free(struct qcache **c);

bool qcache_enabled(const struct qcache *c);
const struct qcache_options *qcache_options(const struct qcache *c);

/* A hit: the cached body stays valid until qcache_hit_release. */
struct qcache_hit {
    const char *body; /* JSON up to and including "row_count":N */
    size_t len;
    uint64_t row_count;
    double age_s;              /* seconds since it was stored */
    struct qcache_entry *ref_; /* private */
};

/* Current generation; read it before running a query whose result may be
 * stored with qcache_put. */
uint64_t qcache_generation(struct qcache *c);

/* Looks up (sql, db, format). Counts a request and a hit or a miss (an
 * expired entry is removed and counted as an expiration and a miss). */
bool qcache_get(struct qcache *c, const char *sql, const char *db, const char *format,
                struct qcache_hit *out);
void qcache_hit_release(struct qcache_hit *h);

/* Stores a copy of body under (sql, db, format), replacing an older entry.
 * Returns false (nothing stored) if the cache is disabled, the body is
 * larger than max_result_bytes or max_total_bytes, or a clear happened
 * since `generation` was read. */
bool qcache_put(struct qcache *c, const char *sql, const char *db, const char *format,
                uint64_t generation, const char *body, size_t len, uint64_t row_count,
                size_t ncolumns);

/* Drops every entry and bumps the generation. Returns how many were
 * dropped. */
size_t qcache_clear(struct qcache *c);

struct qcache_stats {
    size_t current_size; /* entries */
    size_t total_bytes;  /* bodies + keys */
    uint64_t total_requests, hits, misses, evictions, expirations, clears;
};
void qcache_get_stats(struct qcache *c, struct qcache_stats *out);

/* One entry for GET /api/v1/cache/stats (most recently used first). */
struct qcache_entry_info {
    char key_hash[17]; /* 16 hex digits of the key's 64-bit FNV-1a hash */
    double age_seconds;
    uint64_t row_count;
    size_t columns;
    size_t bytes;
    int64_t cached_at_us; /* wall clock */
};
/* Copies out up to max entries; returns the count. */
size_t qcache_list(struct qcache *c, struct qcache_entry_info *out, size_t max);

/* ---- process-wide invalidation ------------------------------------------ */

/* Registers the cache that query_cache_clear() clears (NULL unregisters).
 * Set once at startup, cleared at shutdown before qcache_free. */
void qcache_set_global(struct qcache *c);

/* Clears the registered cache (no-op when none). Called by every path that
 * changes data: flush completion, deletes, retention, compaction swaps,
 * continuous-query writes, database deletion. Cheap, never blocks on I/O,
 * safe from any thread. Returns the number of entries dropped. */
size_t query_cache_clear(void);

#endif
