/*
 * catalog/catalog.c — SQLite persistence and the in-memory file manifest
 * (see catalog.h for the contract, docs/storage-layout.md for the tables).
 *
 * Memory: measurements live in an open-addressing table keyed by
 * (db, measurement); each owns an unordered array of its files; an id index
 * (open addressing with backward-shift deletion) finds a file by id in O(1)
 * for publish/remove. All of it is guarded by files_lock, which is never held
 * across SQLite calls.
 *
 * SQLite: one connection guarded by db_lock. Writers (add, remove, sync) run
 * one transaction that first persists whatever is pending in memory (new
 * schema columns, publish flags), so a file row is never committed without
 * the types of its columns.
 *
 * Threads: see catalog.h. Every public function is thread-safe.
 */
#include "catalog/catalog_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/hash.h"
#include "util/mem.h"
#include "util/timeutil.h"

static const char *const ddl =
    "CREATE TABLE IF NOT EXISTS catalog_meta ("
    "  key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO catalog_meta(key, value) VALUES ('schema_version', '1');"
    "CREATE TABLE IF NOT EXISTS columns ("
    "  db TEXT NOT NULL, measurement TEXT NOT NULL, name TEXT NOT NULL,"
    "  col_type INTEGER NOT NULL, created_at_us INTEGER NOT NULL,"
    "  PRIMARY KEY (db, measurement, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS files ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  key TEXT NOT NULL UNIQUE,"
    "  db TEXT NOT NULL, measurement TEXT NOT NULL,"
    "  min_time_us INTEGER NOT NULL, max_time_us INTEGER NOT NULL,"
    "  row_count INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    "  created_at_us INTEGER NOT NULL, tier INTEGER NOT NULL,"
    "  visible INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS files_by_measurement ON files (db, measurement, min_time_us);";

const char *catalog_tier_name(enum catalog_tier tier)
{
    switch (tier) {
    case CATALOG_TIER_RAW: return "raw";
    case CATALOG_TIER_COMPACTED: return "compacted";
    case CATALOG_TIER_DAILY: return "daily";
    }
    return "unknown";
}

static int db_err(struct catalog *cat, struct errbuf *eb, const char *what)
{
    int code = sqlite3_extended_errcode(cat->db);
    if (code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY)
        return errbuf_set(eb, RC_EXISTS, "catalog: %s: %s", what, sqlite3_errmsg(cat->db));
    return errbuf_set(eb, RC_DB, "catalog: %s: %s", what, sqlite3_errmsg(cat->db));
}

static int exec(struct catalog *cat, const char *sql, struct errbuf *eb)
{
    char *msg = NULL;
    if (sqlite3_exec(cat->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = errbuf_set(eb, RC_DB, "catalog: %s: %s", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return rc;
    }
    return RC_OK;
}

/* ---- in-memory manifest (files_lock held) -------------------------------- */

static uint32_t meas_hash(const char *db, const char *meas)
{
    uint32_t h = hash_fnv1a(db, strlen(db), HASH_FNV1A_INIT);
    h = hash_fnv1a("", 1, h);
    return hash_fnv1a(meas, strlen(meas), h);
}

static struct cat_meas *meas_find(struct catalog *cat, const char *db, const char *meas)
{
    if (!cat->meas_cap)
        return NULL;
    uint32_t h = meas_hash(db, meas);
    size_t mask = cat->meas_cap - 1;
    for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
        struct cat_meas *m = cat->meas_table[slot];
        if (!m)
            return NULL;
        if (m->hash == h && !strcmp(m->db, db) && !strcmp(m->name, meas))
            return m;
    }
}

static void meas_put(struct cat_meas **table, size_t cap, struct cat_meas *m)
{
    size_t mask = cap - 1;
    size_t slot = m->hash & mask;
    while (table[slot])
        slot = (slot + 1) & mask;
    table[slot] = m;
}

static struct cat_meas *meas_get(struct catalog *cat, const char *db, const char *meas)
{
    struct cat_meas *m = meas_find(cat, db, meas);
    if (m)
        return m;
    if ((cat->meas_n + 1) * 2 > cat->meas_cap) {
        size_t ncap = cat->meas_cap ? cat->meas_cap * 2 : 64;
        struct cat_meas **nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < cat->meas_cap; i++)
            if (cat->meas_table[i])
                meas_put(nt, ncap, cat->meas_table[i]);
        xfree(cat->meas_table);
        cat->meas_table = nt;
        cat->meas_cap = ncap;
    }
    m = xcalloc(1, sizeof(*m));
    snprintf(m->db, sizeof(m->db), "%s", db);
    snprintf(m->name, sizeof(m->name), "%s", meas);
    m->hash = meas_hash(m->db, m->name);
    meas_put(cat->meas_table, cat->meas_cap, m);
    cat->meas_n++;
    return m;
}

static size_t id_slot(uint64_t id, size_t cap)
{
    return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
}

static struct cat_file *id_find(struct catalog *cat, uint64_t id)
{
    if (!cat->id_cap)
        return NULL;
    size_t mask = cat->id_cap - 1;
    for (size_t slot = id_slot(id, cat->id_cap);; slot = (slot + 1) & mask) {
        struct cat_file *f = cat->id_table[slot];
        if (!f)
            return NULL;
        if (f->id == id)
            return f;
    }
}

static void id_put(struct cat_file **table, size_t cap, struct cat_file *f)
{
    size_t mask = cap - 1;
    size_t slot = id_slot(f->id, cap);
    while (table[slot])
        slot = (slot + 1) & mask;
    table[slot] = f;
}

static void id_insert(struct catalog *cat, struct cat_file *f)
{
    if ((cat->id_n + 1) * 2 > cat->id_cap) {
        size_t ncap = cat->id_cap ? cat->id_cap * 2 : 1024;
        struct cat_file **nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < cat->id_cap; i++)
            if (cat->id_table[i])
                id_put(nt, ncap, cat->id_table[i]);
        xfree(cat->id_table);
        cat->id_table = nt;
        cat->id_cap = ncap;
    }
    id_put(cat->id_table, cat->id_cap, f);
    cat->id_n++;
}

/* Linear-probing deletion without tombstones: shift later members of the
 * probe chain back into the hole when their home slot allows it. */
static void id_erase(struct catalog *cat, uint64_t id)
{
    if (!cat->id_cap)
        return;
    size_t mask = cat->id_cap - 1;
    size_t i = id_slot(id, cat->id_cap);
    while (cat->id_table[i] && cat->id_table[i]->id != id)
        i = (i + 1) & mask;
    if (!cat->id_table[i])
        return;
    cat->id_table[i] = NULL;
    cat->id_n--;
    for (size_t j = (i + 1) & mask; cat->id_table[j]; j = (j + 1) & mask) {
        size_t home = id_slot(cat->id_table[j]->id, cat->id_cap);
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        bool home_in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!home_in_range) {
            cat->id_table[i] = cat->id_table[j];
            cat->id_table[j] = NULL;
            i = j;
        }
    }
}

static struct cat_file *file_insert(struct catalog *cat, uint64_t id, const char *key,
                                    const char *db, const char *meas, int64_t min_us,
                                    int64_t max_us, int64_t rows, uint64_t bytes,
                                    int64_t created_us, enum catalog_tier tier, bool visible)
{
    struct cat_meas *m = meas_get(cat, db, meas);
    struct cat_file *f = xcalloc(1, sizeof(*f));
    f->id = id;
    f->key = xstrdup(key);
    f->meas = m;
    f->min_time_us = min_us;
    f->max_time_us = max_us;
    f->row_count = rows;
    f->bytes = bytes;
    f->created_at_us = created_us;
    f->tier = tier;
    f->visible = visible;
    if (m->nfiles == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->files = xrealloc(m->files, m->cap * sizeof(*m->files));
    }
    f->slot = m->nfiles;
    m->files[m->nfiles++] = f;
    id_insert(cat, f);
    return f;
}

static void file_erase(struct catalog *cat, struct cat_file *f)
{
    struct cat_meas *m = f->meas;
    struct cat_file *last = m->files[--m->nfiles];
    m->files[f->slot] = last;
    last->slot = f->slot;
    id_erase(cat, f->id);
    xfree(f->key);
    xfree(f);
}

/* ---- persistence of pending memory state (db_lock held, in a txn) -------- */

struct pending {
    struct schema_entry **cols;
    size_t ncols;
    uint64_t *pub;
    size_t npub;
};

static void take_pending(struct catalog *cat, struct pending *p)
{
    p->cols = catalog__schema_take_pending(cat, &p->ncols);
    pthread_mutex_lock(&cat->files_lock);
    p->pub = cat->pub_pending;
    p->npub = cat->pub_npending;
    cat->pub_pending = NULL;
    cat->pub_npending = cat->pub_cap = 0;
    pthread_mutex_unlock(&cat->files_lock);
}

/* Puts taken items back after a failed transaction. */
static void restore_pending(struct catalog *cat, struct pending *p)
{
    catalog__schema_restore_pending(cat, p->cols, p->ncols);
    p->cols = NULL;
    if (p->pub) {
        pthread_mutex_lock(&cat->files_lock);
        size_t need = cat->pub_npending + p->npub;
        if (need > cat->pub_cap) {
            cat->pub_cap = need;
            cat->pub_pending = xrealloc(cat->pub_pending, need * sizeof(uint64_t));
        }
        memcpy(cat->pub_pending + cat->pub_npending, p->pub, p->npub * sizeof(uint64_t));
        cat->pub_npending = need;
        pthread_mutex_unlock(&cat->files_lock);
        xfree(p->pub);
        p->pub = NULL;
    }
}

static void drop_pending(struct pending *p)
{
    xfree(p->cols);
    xfree(p->pub);
    p->cols = NULL;
    p->pub = NULL;
}

static int step_done(struct catalog *cat, sqlite3_stmt *st, struct errbuf *eb, const char *what)
{
    int r = sqlite3_step(st);
    int rc = r == SQLITE_DONE ? RC_OK : db_err(cat, eb, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int write_pending(struct catalog *cat, const struct pending *p, struct errbuf *eb)
{
    for (size_t i = 0; i < p->ncols; i++) {
        const struct schema_entry *e = p->cols[i];
        sqlite3_stmt *st = cat->st_insert_col;
        sqlite3_bind_text(st, 1, schema_entry_db(e), (int)e->db_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, schema_entry_meas(e), (int)e->meas_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, schema_entry_col(e), (int)e->col_len, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, (int)e->type);
        sqlite3_bind_int64(st, 5, e->created_at_us);
        int rc = step_done(cat, st, eb, "insert column");
        if (rc != RC_OK)
            return rc;
    }
    for (size_t i = 0; i < p->npub; i++) {
        sqlite3_bind_int64(cat->st_publish, 1, (sqlite3_int64)p->pub[i]);
        int rc = step_done(cat, cat->st_publish, eb, "publish file");
        if (rc != RC_OK)
            return rc;
    }
    return RC_OK;
}

/* Runs body(cat, arg, eb) inside one transaction together with everything
 * pending. Caller holds db_lock. */
static int in_txn(struct catalog *cat, int (*body)(struct catalog *, void *, struct errbuf *),
                  void *arg, struct errbuf *eb)
{
    struct pending p = {0};
    int rc = exec(cat, "BEGIN IMMEDIATE", eb);
    if (rc != RC_OK)
        return rc;
    take_pending(cat, &p);
    rc = write_pending(cat, &p, eb);
    if (rc == RC_OK && body)
        rc = body(cat, arg, eb);
    if (rc == RC_OK)
        rc = exec(cat, "COMMIT", eb);
    if (rc != RC_OK) {
        (void)exec(cat, "ROLLBACK", NULL);
        restore_pending(cat, &p);
        return rc;
    }
    drop_pending(&p);
    return RC_OK;
}

/* ---- open / close --------------------------------------------------------- */

static int mkdir_parents(const char *path, struct errbuf *eb)
{
    char *p = xstrdup(path);
    int rc = RC_OK;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = errbuf_set(eb, RC_IO, "catalog: mkdir %s: %s", p, strerror(errno));
            break;
        }
        *s = '/';
    }
    xfree(p);
    return rc;
}

static int prepare(struct catalog *cat, const char *sql, sqlite3_stmt **st, struct errbuf *eb)
{
    if (sqlite3_prepare_v3(cat->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_err(cat, eb, "prepare");
    return RC_OK;
}

static int load(struct catalog *cat, struct errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc =
        prepare(cat, "SELECT db, measurement, name, col_type, created_at_us FROM columns", &st, eb);
    if (rc != RC_OK)
        return rc;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int type = sqlite3_column_int(st, 3);
        const char *db = (const char *)sqlite3_column_text(st, 0);
        const char *meas = (const char *)sqlite3_column_text(st, 1);
        const char *col = (const char *)sqlite3_column_text(st, 2);
        int col_len = sqlite3_column_bytes(st, 2);
        if (!db || !meas || !col || !col_type_valid(type)) {
            log_warn("catalog", "skipping bad schema row type=%d", type);
            continue;
        }
        catalog__schema_load(cat, db, meas, col, (size_t)col_len, (enum col_type)type,
                             sqlite3_column_int64(st, 4));
    }
    if (r != SQLITE_DONE)
        rc = db_err(cat, eb, "load columns");
    sqlite3_finalize(st);
    if (rc != RC_OK)
        return rc;

    rc = prepare(cat,
                 "SELECT id, key, db, measurement, min_time_us, max_time_us, row_count, bytes,"
                 " created_at_us, tier, visible FROM files",
                 &st, eb);
    if (rc != RC_OK)
        return rc;
    uint64_t unpublished = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 1);
        const char *db = (const char *)sqlite3_column_text(st, 2);
        const char *meas = (const char *)sqlite3_column_text(st, 3);
        int tier = sqlite3_column_int(st, 9);
        if (!key || !db || !meas || strlen(db) > DB_NAME_MAX ||
            strlen(meas) > MEASUREMENT_NAME_MAX) {
            log_warn("catalog", "skipping bad file row id=%lld",
                     (long long)sqlite3_column_int64(st, 0));
            continue;
        }
        if (!sqlite3_column_int(st, 10))
            unpublished++;
        /* Not yet published at the last shutdown/crash: the file is complete
         * (it was renamed into place before being added), so it is visible. */
        file_insert(cat, (uint64_t)sqlite3_column_int64(st, 0), key, db, meas,
                    sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5),
                    sqlite3_column_int64(st, 6), (uint64_t)sqlite3_column_int64(st, 7),
                    sqlite3_column_int64(st, 8),
                    tier >= CATALOG_TIER_RAW && tier <= CATALOG_TIER_DAILY ? (enum catalog_tier)tier
                                                                           : CATALOG_TIER_RAW,
                    true);
    }
    if (r != SQLITE_DONE)
        rc = db_err(cat, eb, "load files");
    sqlite3_finalize(st);
    if (rc == RC_OK && unpublished) {
        log_warn("catalog",
                 "treating %llu added-but-unpublished files as visible (crash before publish)",
                 (unsigned long long)unpublished);
        rc = exec(cat, "UPDATE files SET visible = 1 WHERE visible = 0", eb);
    }
    return rc;
}

static void free_memory(struct catalog *cat)
{
    for (size_t i = 0; i < cat->meas_cap; i++) {
        struct cat_meas *m = cat->meas_table[i];
        if (!m)
            continue;
        for (size_t j = 0; j < m->nfiles; j++) {
            xfree(m->files[j]->key);
            xfree(m->files[j]);
        }
        xfree(m->files);
        xfree(m);
    }
    xfree(cat->meas_table);
    xfree(cat->id_table);
    xfree(cat->pub_pending);
    catalog__schema_free(cat);
}

int catalog_open(const char *path, struct catalog **out, struct errbuf *eb)
{
    if (!path || !path[0])
        return errbuf_set(eb, RC_INVALID, "catalog: empty path");
    int rc = mkdir_parents(path, eb);
    if (rc != RC_OK)
        return rc;
    /* Create the file ourselves so it is 0600 from the first byte (SQLite
     * would use 0644); its -wal/-shm files inherit the mode. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errbuf_set(eb, RC_IO, "catalog: open %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0)
        log_warn("catalog", "cannot chmod 0600 path=%s err=%s", path, strerror(errno));
    close(fd);

    struct catalog *cat = xcalloc(1, sizeof(*cat));
    cat->path = xstrdup(path);
    pthread_mutex_init(&cat->db_lock, NULL);
    pthread_rwlock_init(&cat->schema_lock, NULL);
    pthread_mutex_init(&cat->files_lock, NULL);

    /* NOMUTEX: db_lock serialises every use of the connection. */
    if (sqlite3_open_v2(path, &cat->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = errbuf_set(eb, RC_DB, "catalog: open %s: %s", path,
                        cat->db ? sqlite3_errmsg(cat->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(cat->db, 1);
    sqlite3_busy_timeout(cat->db, 5000);
    /* synchronous=FULL: a committed file row or column type survives power
     * loss; one fsync per flush is small next to the Parquet file's own. */
    if ((rc = exec(cat, "PRAGMA journal_mode=WAL", eb)) != RC_OK ||
        (rc = exec(cat, "PRAGMA synchronous=FULL", eb)) != RC_OK ||
        (rc = exec(cat, ddl, eb)) != RC_OK)
        goto fail;
    if ((rc = load(cat, eb)) != RC_OK)
        goto fail;
    if ((rc = prepare(cat,
                      "INSERT OR IGNORE INTO columns (db, measurement, name, col_type,"
                      " created_at_us) VALUES (?, ?, ?, ?, ?)",
                      &cat->st_insert_col, eb)) != RC_OK ||
        (rc = prepare(cat,
                      "INSERT INTO files (key, db, measurement, min_time_us, max_time_us,"
                      " row_count, bytes, created_at_us, tier, visible)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                      &cat->st_insert_file, eb)) != RC_OK ||
        (rc = prepare(cat, "DELETE FROM files WHERE id = ?", &cat->st_delete_file, eb)) != RC_OK ||
        (rc = prepare(cat, "UPDATE files SET visible = 1 WHERE id = ?", &cat->st_publish, eb)) !=
            RC_OK)
        goto fail;
    log_info("catalog", "opened path=%s columns=%zu files=%zu measurements=%zu", path, cat->sch_n,
             cat->id_n, cat->meas_n);
    *out = cat;
    return RC_OK;
fail:
    catalog_close(&cat);
    return rc;
}

int catalog_sync(struct catalog *cat, struct errbuf *eb)
{
    pthread_rwlock_rdlock(&cat->schema_lock);
    bool cols = cat->sch_npending > 0;
    pthread_rwlock_unlock(&cat->schema_lock);
    pthread_mutex_lock(&cat->files_lock);
    bool pubs = cat->pub_npending > 0;
    pthread_mutex_unlock(&cat->files_lock);
    if (!cols && !pubs)
        return RC_OK;
    pthread_mutex_lock(&cat->db_lock);
    int rc = in_txn(cat, NULL, NULL, eb);
    pthread_mutex_unlock(&cat->db_lock);
    return rc;
}

void catalog_close(struct catalog **catp)
{
    if (!catp || !*catp)
        return;
    struct catalog *cat = *catp;
    *catp = NULL;
    if (cat->st_insert_col) {
        struct errbuf eb = {0};
        if (catalog_sync(cat, &eb) != RC_OK)
            log_error("catalog", "sync at close failed: %s", eb.msg);
    }
    sqlite3_finalize(cat->st_insert_col);
    sqlite3_finalize(cat->st_insert_file);
    sqlite3_finalize(cat->st_delete_file);
    sqlite3_finalize(cat->st_publish);
    if (cat->db)
        sqlite3_close(cat->db);
    free_memory(cat);
    pthread_mutex_destroy(&cat->db_lock);
    pthread_rwlock_destroy(&cat->schema_lock);
    pthread_mutex_destroy(&cat->files_lock);
    xfree(cat->path);
    xfree(cat);
}

/* ---- add / publish / remove ---------------------------------------------- */

struct add_args {
    const struct catalog_file_entry *entries;
    size_t n;
    int64_t now_us;
    uint64_t *ids;
};

static int add_body(struct catalog *cat, void *arg, struct errbuf *eb)
{
    struct add_args *a = arg;
    sqlite3_stmt *st = cat->st_insert_file;
    for (size_t i = 0; i < a->n; i++) {
        const struct catalog_file_entry *e = &a->entries[i];
        sqlite3_bind_text(st, 1, e->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->db, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, e->measurement, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, e->min_time_us);
        sqlite3_bind_int64(st, 5, e->max_time_us);
        sqlite3_bind_int64(st, 6, e->row_count);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)e->bytes);
        sqlite3_bind_int64(st, 8, e->created_at_us ? e->created_at_us : a->now_us);
        sqlite3_bind_int(st, 9, (int)e->tier);
        int rc = step_done(cat, st, eb, "insert file");
        if (rc != RC_OK)
            return rc;
        a->ids[i] = (uint64_t)sqlite3_last_insert_rowid(cat->db);
    }
    return RC_OK;
}

int catalog_files_add(struct catalog *cat, const struct catalog_file_entry *entries, size_t n,
                      uint64_t *out_ids, struct errbuf *eb)
{
    for (size_t i = 0; i < n; i++) {
        const struct catalog_file_entry *e = &entries[i];
        if (!e->key || !e->key[0] || !e->db || !e->measurement ||
            !name_is_valid_database(e->db, strlen(e->db)) ||
            !name_is_valid_measurement(e->measurement, strlen(e->measurement)))
            return errbuf_set(eb, RC_INVALID, "catalog: bad file entry key=%.200s",
                              e->key ? e->key : "(null)");
        if (e->min_time_us > e->max_time_us)
            return errbuf_set(eb, RC_INVALID, "catalog: min_time > max_time key=%.200s", e->key);
        if ((int)e->tier < CATALOG_TIER_RAW || e->tier > CATALOG_TIER_DAILY)
            return errbuf_set(eb, RC_INVALID, "catalog: bad tier key=%.200s", e->key);
    }
    if (n == 0)
        return RC_OK;
    uint64_t *ids = xmalloc(n * sizeof(*ids));
    struct add_args a = {entries, n, time_now_us(), ids};
    pthread_mutex_lock(&cat->db_lock);
    int rc = in_txn(cat, add_body, &a, eb);
    if (rc == RC_OK) {
        /* Still under db_lock, so a concurrent remove of these ids (which
         * could only come from someone who already has them) cannot
         * interleave between the commit and the memory insert. */
        pthread_mutex_lock(&cat->files_lock);
        for (size_t i = 0; i < n; i++) {
            const struct catalog_file_entry *e = &entries[i];
            file_insert(cat, ids[i], e->key, e->db, e->measurement, e->min_time_us, e->max_time_us,
                        e->row_count, e->bytes, e->created_at_us ? e->created_at_us : a.now_us,
                        e->tier, false);
        }
        pthread_mutex_unlock(&cat->files_lock);
        memcpy(out_ids, ids, n * sizeof(*ids));
    }
    pthread_mutex_unlock(&cat->db_lock);
    xfree(ids);
    return rc;
}

void catalog_files_publish(struct catalog *cat, const uint64_t *ids, size_t n)
{
    pthread_mutex_lock(&cat->files_lock);
    if (cat->pub_npending + n > cat->pub_cap) {
        size_t ncap = cat->pub_cap ? cat->pub_cap * 2 : 64;
        while (ncap < cat->pub_npending + n)
            ncap *= 2;
        cat->pub_pending = xrealloc(cat->pub_pending, ncap * sizeof(uint64_t));
        cat->pub_cap = ncap;
    }
    for (size_t i = 0; i < n; i++) {
        struct cat_file *f = id_find(cat, ids[i]);
        if (f && !f->visible) {
            f->visible = true;
            cat->pub_pending[cat->pub_npending++] = ids[i];
        }
    }
    pthread_mutex_unlock(&cat->files_lock);
}

struct remove_args {
    const uint64_t *ids;
    size_t n;
};

static int remove_body(struct catalog *cat, void *arg, struct errbuf *eb)
{
    struct remove_args *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        sqlite3_bind_int64(cat->st_delete_file, 1, (sqlite3_int64)a->ids[i]);
        int rc = step_done(cat, cat->st_delete_file, eb, "delete file");
        if (rc != RC_OK)
            return rc;
    }
    return RC_OK;
}

int catalog_files_remove(struct catalog *cat, const uint64_t *ids, size_t n, struct errbuf *eb)
{
    if (n == 0)
        return RC_OK;
    struct remove_args a = {ids, n};
    pthread_mutex_lock(&cat->db_lock);
    int rc = in_txn(cat, remove_body, &a, eb);
    if (rc == RC_OK) {
        pthread_mutex_lock(&cat->files_lock);
        for (size_t i = 0; i < n; i++) {
            struct cat_file *f = id_find(cat, ids[i]);
            if (f)
                file_erase(cat, f);
        }
        pthread_mutex_unlock(&cat->files_lock);
    }
    pthread_mutex_unlock(&cat->db_lock);
    return rc;
}

struct swap_args {
    const uint64_t *add, *remove;
    size_t n_add, n_remove;
};

static int swap_body(struct catalog *cat, void *arg, struct errbuf *eb)
{
    struct swap_args *a = arg;
    for (size_t i = 0; i < a->n_add; i++) {
        sqlite3_bind_int64(cat->st_publish, 1, (sqlite3_int64)a->add[i]);
        int rc = step_done(cat, cat->st_publish, eb, "publish file");
        if (rc != RC_OK)
            return rc;
    }
    struct remove_args r = {a->remove, a->n_remove};
    return remove_body(cat, &r, eb);
}

int catalog_files_swap(struct catalog *cat, const uint64_t *add_ids, size_t n_add,
                       const uint64_t *remove_ids, size_t n_remove, struct errbuf *eb)
{
    if (n_add == 0 && n_remove == 0)
        return RC_OK;
    struct swap_args a = {add_ids, remove_ids, n_add, n_remove};
    pthread_mutex_lock(&cat->db_lock);
    int rc = in_txn(cat, swap_body, &a, eb);
    if (rc == RC_OK) {
        /* One critical section: listings see the old set or the new one. */
        pthread_mutex_lock(&cat->files_lock);
        for (size_t i = 0; i < n_add; i++) {
            struct cat_file *f = id_find(cat, add_ids[i]);
            if (f)
                f->visible = true; /* persisted above, so not put on pub_pending */
        }
        for (size_t i = 0; i < n_remove; i++) {
            struct cat_file *f = id_find(cat, remove_ids[i]);
            if (f)
                file_erase(cat, f);
        }
        pthread_mutex_unlock(&cat->files_lock);
    }
    pthread_mutex_unlock(&cat->db_lock);
    return rc;
}

/* ---- listings -------------------------------------------------------------- */

static bool overlaps(const struct cat_file *f, int64_t from_us, int64_t to_us)
{
    if (from_us >= to_us)
        return true;
    return f->max_time_us >= from_us && f->min_time_us < to_us;
}

static int cmp_file(const void *a, const void *b)
{
    const struct catalog_file *x = a, *y = b;
    if (x->min_time_us != y->min_time_us)
        return x->min_time_us < y->min_time_us ? -1 : 1;
    return strcmp(x->key, y->key);
}

void catalog_files_list(struct catalog *cat, const char *db, const char *measurement,
                        int64_t from_us, int64_t to_us, struct catalog_file_list *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&cat->files_lock);
    struct cat_meas *m = meas_find(cat, db, measurement);
    size_t n = 0, bytes = 0;
    if (m) {
        for (size_t i = 0; i < m->nfiles; i++) {
            const struct cat_file *f = m->files[i];
            if (f->visible && overlaps(f, from_us, to_us)) {
                n++;
                bytes += strlen(f->key) + 1;
            }
        }
    }
    if (n) {
        struct catalog_file *files = xmalloc(n * sizeof(*files) + bytes);
        char *keys = (char *)(files + n);
        size_t k = 0;
        for (size_t i = 0; i < m->nfiles; i++) {
            const struct cat_file *f = m->files[i];
            if (!f->visible || !overlaps(f, from_us, to_us))
                continue;
            size_t kl = strlen(f->key) + 1;
            memcpy(keys, f->key, kl);
            files[k] = (struct catalog_file){
                .id = f->id,
                .key = keys,
                .min_time_us = f->min_time_us,
                .max_time_us = f->max_time_us,
                .row_count = f->row_count,
                .bytes = f->bytes,
                .created_at_us = f->created_at_us,
                .tier = f->tier,
            };
            keys += kl;
            k++;
        }
        out->files = files;
        out->n = n;
        out->mem_ = files;
    }
    pthread_mutex_unlock(&cat->files_lock);
    if (out->n > 1)
        qsort(out->files, out->n, sizeof(*out->files), cmp_file);
}

void catalog_file_list_free(struct catalog_file_list *list)
{
    if (!list)
        return;
    xfree(list->mem_);
    memset(list, 0, sizeof(*list));
}

static bool has_visible(const struct cat_meas *m)
{
    for (size_t i = 0; i < m->nfiles; i++)
        if (m->files[i]->visible)
            return true;
    return false;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

void catalog_databases(struct catalog *cat, char (**out)[DB_NAME_MAX + 1], size_t *out_n)
{
    pthread_mutex_lock(&cat->files_lock);
    char(*names)[DB_NAME_MAX + 1] = xmalloc((cat->meas_n + 1) * sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; i < cat->meas_cap; i++) {
        const struct cat_meas *m = cat->meas_table[i];
        if (m && has_visible(m))
            memcpy(names[n++], m->db, sizeof(m->db));
    }
    pthread_mutex_unlock(&cat->files_lock);
    qsort(names, n, sizeof(*names), cmp_name);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(names[u - 1], names[i]) != 0)
            memmove(names[u++], names[i], sizeof(*names));
    *out = names;
    *out_n = u;
}

static int cmp_meas_info(const void *a, const void *b)
{
    const struct catalog_measurement_info *x = a, *y = b;
    return strcmp(x->name, y->name);
}

void catalog_measurements(struct catalog *cat, const char *db,
                          struct catalog_measurement_info **out, size_t *out_n)
{
    pthread_mutex_lock(&cat->files_lock);
    struct catalog_measurement_info *v = xcalloc(cat->meas_n + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < cat->meas_cap; i++) {
        const struct cat_meas *m = cat->meas_table[i];
        if (!m || strcmp(m->db, db) != 0)
            continue;
        struct catalog_measurement_info *mi = &v[n];
        for (size_t j = 0; j < m->nfiles; j++) {
            const struct cat_file *f = m->files[j];
            if (!f->visible)
                continue;
            if (mi->file_count == 0 || f->min_time_us < mi->min_time_us)
                mi->min_time_us = f->min_time_us;
            if (mi->file_count == 0 || f->max_time_us > mi->max_time_us)
                mi->max_time_us = f->max_time_us;
            if (f->row_count < 0 || mi->row_count < 0)
                mi->row_count = CATALOG_ROWS_UNKNOWN;
            else
                mi->row_count += f->row_count;
            mi->file_count++;
            mi->total_bytes += f->bytes;
        }
        if (mi->file_count) {
            memcpy(mi->name, m->name, sizeof(mi->name));
            n++;
        } else {
            memset(mi, 0, sizeof(*mi));
        }
    }
    pthread_mutex_unlock(&cat->files_lock);
    qsort(v, n, sizeof(*v), cmp_meas_info);
    *out = v;
    *out_n = n;
}
