/*
 * catalog/catalog.h — what Arc knows about its data: the column types of
 * every measurement (schema registry, SPEC §2.3) and the manifest of Parquet
 * files (key, time range, rows, bytes, tier) that queries prune by time.
 *
 * Persistence is one SQLite database (WAL journal, synchronous=FULL, file
 * mode 0600); everything is also held in memory, so lookups never touch
 * SQLite. The tables are drawn in docs/storage-layout.md.
 *
 * File lifecycle (docs/storage-layout.md has the whole diagram):
 *
 *   catalog_files_add ──► added: persisted, NOT visible to queries
 *        │ catalog_files_publish (in memory only, O(n), no I/O)
 *        ▼
 *   visible ──► catalog_files_remove ──► gone
 *
 * The "visible" flag is persisted lazily (at the next add/remove/sync/close).
 * After a crash, a file that was added but not yet published (or published
 * but not yet persisted as such) is a complete, valid file: catalog_open
 * treats it as visible. With the WAL on, its rows may also be replayed from
 * the WAL, so such a crash can duplicate rows (at-least-once, never loss).
 *
 * Schema registry: catalog_schema_checker() implements ingest's struct
 * schema_checker. A new column is recorded in memory at once (first writer
 * wins, atomically) and persisted later, in the transaction of the next
 * catalog_files_add or by catalog_sync/catalog_close — so the types of the
 * columns of every file in the manifest are always persisted with it, and
 * HTTP threads never do SQLite I/O.
 *
 * Threads: HTTP threads (schema check), flush workers (add, publish),
 * query threads (list), scheduler (remove, sync), startup (open, reconcile).
 * Every function is thread-safe. Locks (see catalog.c): db_lock (SQLite
 * connection) may be held while taking schema_lock or files_lock briefly;
 * never the other way round; schema_lock and files_lock are never held
 * across SQLite I/O and never together.
 */
#ifndef CATALOG_CATALOG_H
#define CATALOG_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/batch.h"
#include "util/rc.h"

struct catalog;

/* ---- lifecycle ---------------------------------------------------------- */

/* Opens or creates the catalog at `path` (e.g. "./data/catalog.db"; missing
 * parent directories are created), creates missing tables, loads schema and
 * manifest into memory, and marks added-but-unpublished files visible (see
 * above). On error *out is untouched. */
int catalog_open(const char *path, struct catalog **out, struct errbuf *eb) MUST_CHECK;

/* Persists pending schema entries and visibility changes (catalog_sync), then
 * closes. Sets *catp to NULL; accepts NULL. No other call may be running. */
void catalog_close(struct catalog **catp);

/* Persists what is only in memory so far: new columns and publish flags.
 * Cheap when there is nothing pending. Call it periodically (scheduler) and
 * at shutdown. RC_DB on a SQLite error (the pending items stay pending). */
int catalog_sync(struct catalog *cat, struct errbuf *eb) MUST_CHECK;

/* ---- schema registry ---------------------------------------------------- */

/* The schema checker for the ingest decoders. check() returns RC_OK if
 * (db, measurement, col) may hold `type`, recording it if new, or RC_INVALID
 * with *existing set on a conflict. Thread-safe, lock-light (read lock for
 * known columns), no I/O. The catalog must outlive every user of the
 * returned struct.
 *
 * Names are compared exactly, but because DuckDB identifiers are
 * case-insensitive a new column whose name differs only in ASCII case from
 * an existing column of the measurement is a conflict too (*existing = that
 * column's type), as is a case variant of "time" such as "Time" (*existing =
 * COL_INT64). Exactly "time" is the timestamp: RC_OK, never recorded. */
struct schema_checker catalog_schema_checker(struct catalog *cat);

/* One column of a measurement's schema. */
struct catalog_column {
    char *name;      /* NUL-terminated */
    size_t name_len; /* bytes */
    enum col_type type;
};

/* Lists the columns of (db, measurement) in byte-wise ascending name order
 * (`time` is not included: it always exists). *out is one allocation freed
 * with catalog_columns_free; *out_n 0 (and *out NULL) if the measurement is
 * unknown. Never fails. */
void catalog_schema_get(struct catalog *cat, const char *db, const char *measurement,
                        struct catalog_column **out, size_t *out_n);
void catalog_columns_free(struct catalog_column **cols);

/* ---- file manifest ------------------------------------------------------ */

enum catalog_tier {
    CATALOG_TIER_RAW = 0,       /* written by a flush */
    CATALOG_TIER_COMPACTED = 1, /* hourly compaction output */
    CATALOG_TIER_DAILY = 2,     /* daily compaction output */
};

/* "raw", "compacted", "daily". */
const char *catalog_tier_name(enum catalog_tier tier);

#define CATALOG_ROWS_UNKNOWN (-1)

/* A file to add. Strings are copied. */
struct catalog_file_entry {
    const char *key; /* storage key, e.g. "db/m/2025/01/15/14/m_....parquet" */
    const char *db;
    const char *measurement;
    int64_t min_time_us;   /* smallest `time` in the file */
    int64_t max_time_us;   /* largest `time` in the file (inclusive) */
    int64_t row_count;     /* CATALOG_ROWS_UNKNOWN if unknown */
    uint64_t bytes;        /* object size */
    int64_t created_at_us; /* 0 = now */
    enum catalog_tier tier;
};

/* Adds entries[0..n) in one SQLite transaction (together with every pending
 * schema entry and publish flag), then to memory, NOT visible. out_ids[i]
 * receives the id of entries[i] (ids are positive and never reused). All or
 * nothing: on error nothing was added. RC_EXISTS if a key is already in the
 * catalog, RC_INVALID for a bad entry (names, min > max), RC_DB. */
int catalog_files_add(struct catalog *cat, const struct catalog_file_entry *entries, size_t n,
                      uint64_t *out_ids, struct errbuf *eb) MUST_CHECK;

/* Makes files ids[0..n) visible to listings. Memory only: O(n), no I/O, never
 * fails, safe to call while holding other modules' locks (the flusher holds
 * its buffer lock). Unknown ids are ignored. */
void catalog_files_publish(struct catalog *cat, const uint64_t *ids, size_t n);

/* Forgets files ids[0..n) (visible or not): removed from SQLite, then from
 * memory. Unknown ids are ignored. Does not touch storage. RC_DB on error
 * (then nothing was removed). */
int catalog_files_remove(struct catalog *cat, const uint64_t *ids, size_t n,
                         struct errbuf *eb) MUST_CHECK;

/* Replaces files in one step (compaction's swap, SPEC §7.2): makes
 * add_ids[0..n_add) visible and forgets remove_ids[0..n_remove). Both are
 * persisted in one SQLite transaction and then applied in memory under one
 * hold of the manifest lock, so a concurrent catalog_files_list sees either
 * the old files or the new ones, never both and never neither. add_ids
 * come from catalog_files_add; unknown ids are ignored. RC_DB on error
 * (then nothing changed). Does not touch storage. */
int catalog_files_swap(struct catalog *cat, const uint64_t *add_ids, size_t n_add,
                       const uint64_t *remove_ids, size_t n_remove, struct errbuf *eb) MUST_CHECK;

/* One file of a listing. */
struct catalog_file {
    uint64_t id;
    const char *key; /* points into the list's memory */
    int64_t min_time_us;
    int64_t max_time_us; /* inclusive */
    int64_t row_count;   /* CATALOG_ROWS_UNKNOWN if unknown */
    uint64_t bytes;
    int64_t created_at_us;
    enum catalog_tier tier;
};

/* A copied-out listing: callers hold no catalog lock while using it. */
struct catalog_file_list {
    struct catalog_file *files;
    size_t n;
    void *mem_; /* private: the one allocation */
};

/* Lists the visible files of (db, measurement), sorted by (min_time_us, key).
 * With from_us < to_us, only files overlapping [from_us, to_us) are listed
 * (max_time_us >= from_us && min_time_us < to_us); pass from_us = INT64_MIN,
 * to_us = INT64_MAX (or from_us >= to_us) for all. Free with
 * catalog_file_list_free. Never fails (an unknown measurement lists none). */
void catalog_files_list(struct catalog *cat, const char *db, const char *measurement,
                        int64_t from_us, int64_t to_us, struct catalog_file_list *out);
void catalog_file_list_free(struct catalog_file_list *list);

/* Statistics of one measurement (visible files only). */
struct catalog_measurement_info {
    char name[MEASUREMENT_NAME_MAX + 1];
    uint64_t file_count;
    uint64_t total_bytes;
    int64_t row_count;   /* sum; CATALOG_ROWS_UNKNOWN if any file's count is unknown */
    int64_t min_time_us; /* over all files; 0 if file_count == 0 */
    int64_t max_time_us;
};

/* Databases that have at least one visible file, sorted byte-wise. *out is
 * an array of n names (each DB_NAME_MAX + 1 bytes), freed with xfree. */
void catalog_databases(struct catalog *cat, char (**out)[DB_NAME_MAX + 1], size_t *out_n);

/* Measurements of `db` with at least one visible file, sorted by name. *out
 * is freed with xfree. */
void catalog_measurements(struct catalog *cat, const char *db,
                          struct catalog_measurement_info **out, size_t *out_n);

/* ---- reconciliation ----------------------------------------------------- */

/* Callback signature of one listed storage object; identical to
 * storage_list_fn, so storage_list can feed catalog_reconcile directly. */
typedef int (*catalog_object_fn)(void *ctx, const char *key, uint64_t size_bytes, int64_t mtime_us);

/* How catalog_reconcile lists storage. The catalog does not link the storage
 * module (it stays independent of it); flush_catalog_reconcile() in
 * flush/writer.h wires storage_list in. list() must call fn for every object
 * under `prefix` ("" = all) and return RC_OK or an error. */
struct catalog_lister {
    int (*list)(void *ctx, const char *prefix, catalog_object_fn fn, void *fn_ctx,
                struct errbuf *eb);
    void *ctx;
};

struct catalog_reconcile_stats {
    uint64_t listed;  /* *.parquet objects seen under valid db/measurement names */
    uint64_t added;   /* unknown files added (and published) */
    uint64_t removed; /* catalog entries whose object was gone */
    uint64_t ignored; /* objects not following the layout (logged) */
};

/* Makes the manifest match storage, at startup before flush workers run:
 * every "{db}/{measurement}/.../NAME.parquet" object the catalog does not know is
 * added and made visible (time range from its YYYY/MM/DD[/HH] directories,
 * or the whole time range if they cannot be parsed; rows unknown; tier from
 * the _compacted/_daily suffix); every entry whose object is not listed is
 * forgotten. If listing fails, nothing is removed. out may be NULL. */
int catalog_reconcile(struct catalog *cat, const struct catalog_lister *lister,
                      struct catalog_reconcile_stats *out, struct errbuf *eb) MUST_CHECK;

/* Parses the time range of a storage key from its directories:
 * db/m/YYYY/MM/DD/HH/name → that hour, db/m/YYYY/MM/DD/name → that day.
 * Returns false if the key does not have that shape. */
bool catalog_key_time_range(const char *key, int64_t *min_us, int64_t *max_us);

#endif
