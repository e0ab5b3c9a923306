/*
 * catalog/catalog_internal.h — struct catalog, shared by the .c files of
 * src/catalog/ only (catalog.c: SQLite + manifest, schema.c: schema
 * registry, reconcile.c: storage reconciliation).
 */
#ifndef CATALOG_CATALOG_INTERNAL_H
#define CATALOG_CATALOG_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "catalog/catalog.h"

/* One registered column. Immutable once inserted into the table, so a
 * pointer to it may be read without schema_lock. */
struct schema_entry {
    uint32_t hash;
    uint32_t db_len, meas_len, col_len;
    enum col_type type;
    int64_t created_at_us;
    char key[]; /* db NUL measurement NUL column NUL */
};

static inline const char *schema_entry_db(const struct schema_entry *e)
{
    return e->key;
}
static inline const char *schema_entry_meas(const struct schema_entry *e)
{
    return e->key + e->db_len + 1;
}
static inline const char *schema_entry_col(const struct schema_entry *e)
{
    return e->key + e->db_len + 1 + e->meas_len + 1;
}

struct cat_meas;

/* One file of the manifest (memory copy of a `files` row). */
struct cat_file {
    uint64_t id;
    char *key; /* owned */
    struct cat_meas *meas;
    size_t slot; /* index in meas->files */
    int64_t min_time_us, max_time_us;
    int64_t row_count;
    uint64_t bytes;
    int64_t created_at_us;
    enum catalog_tier tier;
    bool visible;
};

/* Files of one (db, measurement). Never freed before catalog_close. */
struct cat_meas {
    char db[DB_NAME_MAX + 1];
    char name[MEASUREMENT_NAME_MAX + 1];
    uint32_t hash;
    struct cat_file **files; /* unordered */
    size_t nfiles, cap;
};

struct catalog {
    char *path;

    /* db_lock guards db and every prepared statement. Lock order: db_lock
     * may be held while taking schema_lock or files_lock (briefly, no I/O
     * under those); never take db_lock while holding either of them. */
    pthread_mutex_t db_lock;
    sqlite3 *db;
    sqlite3_stmt *st_insert_col;
    sqlite3_stmt *st_insert_file;
    sqlite3_stmt *st_delete_file;
    sqlite3_stmt *st_publish;

    /* schema_lock guards the schema hash table and the pending list. Read
     * lock for lookups, write lock for inserts. Never held across I/O. */
    pthread_rwlock_t schema_lock;
    struct schema_entry **sch_table; /* open addressing, power-of-2 size */
    size_t sch_cap, sch_n;
    struct schema_entry **sch_pending; /* not yet in SQLite */
    size_t sch_npending, sch_pending_cap;

    /* files_lock guards the measurement table, every cat_meas/cat_file, the
     * id index and the publish list. Never held across I/O. */
    pthread_mutex_t files_lock;
    struct cat_meas **meas_table; /* open addressing */
    size_t meas_cap, meas_n;
    struct cat_file **id_table; /* open addressing on id, backward-shift delete */
    size_t id_cap, id_n;
    uint64_t *pub_pending; /* published ids whose flag is not persisted */
    size_t pub_npending, pub_cap;
};

/* schema.c */
/* Inserts an entry loaded from SQLite (at open, single-threaded). */
void catalog__schema_load(struct catalog *cat, const char *db, const char *meas, const char *col,
                          size_t col_len, enum col_type type, int64_t created_at_us);
/* Takes the pending list (caller owns the array; entries stay owned by the
 * table). Called with db_lock held. */
struct schema_entry **catalog__schema_take_pending(struct catalog *cat, size_t *n);
/* Puts a taken list back (persisting it failed). */
void catalog__schema_restore_pending(struct catalog *cat, struct schema_entry **list, size_t n);
void catalog__schema_free(struct catalog *cat);

#endif
