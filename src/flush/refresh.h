/*
 * flush/refresh.h — scale-out on shared storage: a background thread that
 * keeps this node's catalog in step with files other Arc nodes write to the
 * same bucket (docs/s3.md, "Scale-out on shared storage").
 *
 * Every storage.refresh_interval_seconds the thread ("arc-refresh") lists
 * the storage and reconciles the catalog with it, additively:
 *   - a *.parquet object under a valid {db}/{measurement}/ that the catalog
 *     does not know and that was NOT written by this node (its name does
 *     not carry this node's id, flush_key_node_id) is added and published,
 *     with the time range of its YYYY/MM/DD[/HH] directories, unknown row
 *     count and the tier of its suffix (as catalog_reconcile does);
 *   - a visible catalog file whose object is no longer listed (another
 *     node compacted or deleted it) is forgotten, unless its catalog entry
 *     is younger than a grace period (created_at: the write time, or the
 *     object's mtime for files learned from a listing; default
 *     max(60 s, 2 × interval)), so that a listing that lags behind a fresh
 *     upload cannot make this node forget its own new file for good.
 * This node's own files are never added here: its flush writer adds them
 * (they may be uploaded but not yet in the catalog while a flush runs), and
 * startup's flush_catalog_reconcile covers anything left from a crash.
 *
 * The catalog is snapshotted (visible files) before the listing, the
 * listing runs without any lock held, and changes are applied through the
 * catalog's own thread-safe functions, so writers and queries never wait for
 * the listing. A listing is bounded by the storage timeouts (per page); a
 * failed listing changes nothing. The catalog module does not depend on
 * storage (DESIGN), which is why this lives in flush/.
 *
 * Metrics: arc_catalog_refresh_runs_total, arc_catalog_refresh_failures_total,
 * arc_catalog_refresh_files_added_total, arc_catalog_refresh_files_removed_total.
 *
 * Threads: start/stop on the main thread; refresh_once on any thread (one
 * at a time per catalog); refresh_get_stats from any thread.
 */
#ifndef FLUSH_REFRESH_H
#define FLUSH_REFRESH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/rc.h"

struct catalog;
struct storage;
struct refresh;

struct refresh_options {
    int64_t interval_ms; /* storage.refresh_interval_seconds × 1000; must be > 0 */
    const char *node_id; /* this node's id, as given to the flush writer (required) */
    int64_t grace_ms;    /* see above; 0 = max(60 s, 2 × interval_ms) */
};

/* Result of one pass. */
struct refresh_pass_stats {
    uint64_t listed;      /* *.parquet objects under valid db/measurement names */
    uint64_t added;       /* other nodes' files added to the catalog */
    uint64_t removed;     /* catalog files forgotten because their object is gone */
    uint64_t own_skipped; /* unknown files carrying this node's id (left to the writer) */
    uint64_t kept_young;  /* missing files kept because they are within the grace period */
};

/* One synchronous pass (see above) with grace period grace_ms (0 = 60 s).
 * node_id must be valid (flush_node_id_is_valid). RC_INVALID for a bad
 * node id, the storage error if listing fails (nothing changed then),
 * RC_DB if the catalog cannot be updated. out may be NULL. */
int refresh_once(struct catalog *cat, struct storage *st, const char *node_id, int64_t grace_ms,
                 struct refresh_pass_stats *out, struct errbuf *eb) MUST_CHECK;

/* Starts the refresh thread; cat and st are borrowed and must outlive it.
 * The first pass runs one interval after the start (startup has just run
 * flush_catalog_reconcile). RC_INVALID for interval_ms <= 0 or a bad node
 * id, RC_INTERNAL if the thread cannot start. On error *out is untouched. */
int refresh_start(struct catalog *cat, struct storage *st, const struct refresh_options *o,
                  struct refresh **out, struct errbuf *eb) MUST_CHECK;

/* Stops the thread: a listing in progress is abandoned at its next object
 * or page (bounded by the storage timeouts), then joined. Frees, sets *rp
 * to NULL, accepts NULL. Call before the catalog and storage are freed. */
void refresh_stop(struct refresh **rp);

/* State of the refresh thread (in-memory). */
struct refresh_stats {
    uint64_t runs;     /* passes finished (ok or not) */
    uint64_t failures; /* passes that failed */
    uint32_t consecutive_failures;
    uint64_t added_total, removed_total;
    int64_t last_run_us;      /* wall clock when the last pass ended; 0 = none yet */
    int64_t last_duration_ms; /* of the last pass */
    char last_error[256];     /* last failure ("" if none) */
};

void refresh_get_stats(const struct refresh *r, struct refresh_stats *out);

#endif
