/*
 * jobs/delete.c — rewrite-based row deletes (SPEC §8.3); the protocol and
 * its crash recovery are drawn in delete.h.
 *
 * Owns: a private in-memory DuckDB (one connection, used under run_lock),
 * the SQLite connection to jobs.db holding the intent table del_intents,
 * and the run lock that serialises deletes.
 *
 *   del_intents (id PK, db, measurement, old_key, new_key NULL = removal,
 *                state 0 = writing / 1 = swapped, due_us)
 *
 * SQL built here contains user text only through pred_render (identifiers
 * quoted, literals escaped by query/predicate.c) and file paths / metadata
 * as escaped string literals.
 *
 * Threads: del_execute on HTTP worker threads, serialised by run_lock (held
 * for a whole delete, across DuckDB and storage I/O: that is its purpose —
 * only other deletes wait on it). state_lock guards the SQLite connection and
 * is held only around SQLite calls; it may be taken while run_lock is held,
 * never the other way round. del_reap takes only state_lock.
 */
#include "jobs/delete.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <duckdb.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "flush/flusher.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "jobs/scheduler.h"
#include "metrics/metrics.h"
#include "query/predicate.h"
#include "query/qcache.h"
#include "storage/storage.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define DEFAULT_LOCK_TTL_MS (2 * 3600 * INT64_C(1000))
#define DEFAULT_LOCK_WAIT_MS (30 * INT64_C(1000))
#define DEFAULT_GRACE_MS (300 * INT64_C(1000))
#define DEFAULT_FLUSH_TIMEOUT_MS (60 * INT64_C(1000))
#define ROW_GROUP_ROWS 122880
#define REAP_INTERVAL_MS 10000
#define PUT_ATTEMPTS 5

struct del_service {
    /* Immutable after del_service_new. */
    struct del_options o;
    char *spool_dir;
    struct catalog *cat;
    struct storage *st;
    struct colbuf *cb;
    struct flusher *fl;
    duckdb_database duck;

    /* run_lock serialises deletes and guards conn and seq. */
    pthread_mutex_t run_lock;
    duckdb_connection conn;
    uint64_t seq;

    /* state_lock guards state (SQLite). */
    pthread_mutex_t state_lock;
    sqlite3 *state;
};

static struct metric *m_deletes, *m_rows, *m_failed_files;

/* ---- small helpers --------------------------------------------------------- */

static int append_literal(struct strbuf *sb, const char *s)
{
    int rc = strbuf_putc(sb, '\'');
    for (const char *p = s; rc == RC_OK && *p; p++)
        rc = *p == '\'' ? strbuf_puts(sb, "''") : strbuf_putc(sb, *p);
    return rc == RC_OK ? strbuf_putc(sb, '\'') : rc;
}

static int append_ident(struct strbuf *sb, const char *s)
{
    int rc = strbuf_putc(sb, '"');
    for (const char *p = s; rc == RC_OK && *p; p++)
        rc = *p == '"' ? strbuf_puts(sb, "\"\"") : strbuf_putc(sb, *p);
    return rc == RC_OK ? strbuf_putc(sb, '"') : rc;
}

/* DuckDB expands glob characters in read_parquet paths: such keys cannot be
 * passed (the query engine skips them as well). */
static bool key_is_plain(const char *key)
{
    return storage_key_is_valid(key) && !strpbrk(key, "*?[]{}\\");
}

static int duck_exec(duckdb_connection conn, const char *sql, duckdb_result *res, bool keep,
                     struct errbuf *eb)
{
    duckdb_result r;
    if (duckdb_query(conn, sql, &r) == DuckDBError) {
        int rc = errbuf_set(eb, RC_DB, "delete: DuckDB: %s", duckdb_result_error(&r));
        duckdb_destroy_result(&r);
        return rc;
    }
    if (keep)
        *res = r;
    else
        duckdb_destroy_result(&r);
    return RC_OK;
}

/* ---- intents (SQLite) ------------------------------------------------------ */

static int state_err(struct del_service *svc, struct errbuf *eb, const char *what)
{
    return errbuf_set(eb, RC_DB, "delete: %s: %s", what, sqlite3_errmsg(svc->state));
}

static int mkdir_parents(const char *path, struct errbuf *eb)
{
    char buf[1024];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return errbuf_set(eb, RC_INVALID, "delete: path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errbuf_set(eb, RC_IO, "delete: cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    return RC_OK;
}

static int state_open(struct del_service *svc, const char *path, struct errbuf *eb)
{
    int rc = mkdir_parents(path, eb);
    if (rc != RC_OK)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errbuf_set(eb, RC_IO, "delete: cannot open %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0)
        log_warn("delete", "cannot chmod 0600 path=%s err=%s", path, strerror(errno));
    close(fd);
    if (sqlite3_open_v2(path, &svc->state,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = errbuf_set(eb, RC_DB, "delete: cannot open %s: %s", path,
                        svc->state ? sqlite3_errmsg(svc->state) : "out of memory");
        sqlite3_close(svc->state);
        svc->state = NULL;
        return rc;
    }
    sqlite3_busy_timeout(svc->state, 5000);
    char *err = NULL;
    if (sqlite3_exec(svc->state,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE IF NOT EXISTS del_intents ("
                     " id INTEGER PRIMARY KEY AUTOINCREMENT, db TEXT NOT NULL,"
                     " measurement TEXT NOT NULL, old_key TEXT NOT NULL, new_key TEXT,"
                     " state INTEGER NOT NULL, due_us INTEGER NOT NULL)",
                     NULL, NULL, &err) != SQLITE_OK) {
        rc = errbuf_set(eb, RC_DB, "delete: %s", err ? err : "SQLite error");
        sqlite3_free(err);
        sqlite3_close(svc->state);
        svc->state = NULL;
        return rc;
    }
    return RC_OK;
}

/* Runs one statement with up to 4 text/int parameters (NULL text = SQL
 * NULL). Returns the last insert rowid through *rowid if not NULL. */
struct sparam {
    const char *text;
    int64_t i;
    bool is_int;
};

static int state_run(struct del_service *svc, const char *sql, const struct sparam *p, int np,
                     int64_t *rowid, struct errbuf *eb)
{
    pthread_mutex_lock(&svc->state_lock);
    sqlite3_stmt *st = NULL;
    int rc = RC_OK;
    if (sqlite3_prepare_v2(svc->state, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = state_err(svc, eb, "prepare");
        goto out;
    }
    for (int i = 0; i < np; i++) {
        if (p[i].is_int)
            sqlite3_bind_int64(st, i + 1, p[i].i);
        else if (p[i].text)
            sqlite3_bind_text(st, i + 1, p[i].text, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, i + 1);
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = state_err(svc, eb, "write intent");
        goto out;
    }
    if (rowid)
        *rowid = sqlite3_last_insert_rowid(svc->state);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&svc->state_lock);
    return rc;
}

#define SP_T(s)                                                                                    \
    {                                                                                              \
        .text = (s)                                                                                \
    }
#define SP_I(v)                                                                                    \
    {                                                                                              \
        .i = (v), .is_int = true                                                                   \
    }

static int intent_add(struct del_service *svc, const char *db, const char *meas,
                      const char *old_key, const char *new_key, int64_t *id, struct errbuf *eb)
{
    struct sparam p[] = {SP_T(db), SP_T(meas), SP_T(old_key), SP_T(new_key)};
    return state_run(svc,
                     "INSERT INTO del_intents (db, measurement, old_key, new_key, state, due_us) "
                     "VALUES (?, ?, ?, ?, 0, 0)",
                     p, 4, id, eb);
}

static int intent_set_new_key(struct del_service *svc, int64_t id, const char *new_key,
                              struct errbuf *eb)
{
    struct sparam p[] = {SP_T(new_key), SP_I(id)};
    return state_run(svc, "UPDATE del_intents SET new_key = ? WHERE id = ?", p, 2, NULL, eb);
}

static int intent_swapped(struct del_service *svc, int64_t id, int64_t due_us, struct errbuf *eb)
{
    struct sparam p[] = {SP_I(due_us), SP_I(id)};
    return state_run(svc, "UPDATE del_intents SET state = 1, due_us = ? WHERE id = ?", p, 2, NULL,
                     eb);
}

static int intent_drop(struct del_service *svc, int64_t id, struct errbuf *eb)
{
    struct sparam p[] = {SP_I(id)};
    return state_run(svc, "DELETE FROM del_intents WHERE id = ?", p, 1, NULL, eb);
}

struct intent {
    int64_t id;
    char *db, *meas, *old_key, *new_key; /* new_key NULL = removal */
    int state;
    int64_t due_us;
};

static void intents_free(struct intent *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        xfree(v[i].db);
        xfree(v[i].meas);
        xfree(v[i].old_key);
        xfree(v[i].new_key);
    }
    xfree(v);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrdup((const char *)t) : NULL;
}

/* Intents with state = `state` (-1 any) and due_us <= max_due. */
static int intents_load(struct del_service *svc, int state, int64_t max_due, struct intent **out,
                        size_t *n, struct errbuf *eb)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    struct intent *v = NULL;
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&svc->state_lock);
    if (sqlite3_prepare_v2(svc->state,
                           "SELECT id, db, measurement, old_key, new_key, state, due_us FROM "
                           "del_intents WHERE (?1 < 0 OR state = ?1) AND due_us <= ?2 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = state_err(svc, eb, "prepare");
        goto out;
    }
    sqlite3_bind_int(st, 1, state);
    sqlite3_bind_int64(st, 2, max_due);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        struct intent *it = &v[(*n)++];
        it->id = sqlite3_column_int64(st, 0);
        it->db = col_dup(st, 1);
        it->meas = col_dup(st, 2);
        it->old_key = col_dup(st, 3);
        it->new_key = col_dup(st, 4);
        it->state = sqlite3_column_int(st, 5);
        it->due_us = sqlite3_column_int64(st, 6);
    }
    if (step != SQLITE_DONE)
        rc = state_err(svc, eb, "read intents");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&svc->state_lock);
    if (rc != RC_OK) {
        intents_free(v, *n);
        *n = 0;
        return rc;
    }
    *out = v;
    return RC_OK;
}

/* Forgets `key` of (db, meas) in the catalog if it is listed there. */
static int catalog_forget_key(struct del_service *svc, const char *db, const char *meas,
                              const char *key, struct errbuf *eb)
{
    if (!db || !meas || !key)
        return RC_OK;
    struct catalog_file_list fl;
    catalog_files_list(svc->cat, db, meas, INT64_MIN, INT64_MAX, &fl);
    uint64_t id = 0;
    for (size_t i = 0; i < fl.n; i++)
        if (strcmp(fl.files[i].key, key) == 0)
            id = fl.files[i].id;
    catalog_file_list_free(&fl);
    /* Added-but-unpublished entries are not listed; catalog_open makes
     * every entry visible, so at startup the listing is complete. */
    return id ? catalog_files_remove(svc->cat, &id, 1, eb) : RC_OK;
}

/* Startup: completes or undoes what a crash interrupted. */
static void recover(struct del_service *svc)
{
    struct intent *v = NULL;
    size_t n = 0;
    struct errbuf eb = {0};
    if (intents_load(svc, -1, INT64_MAX, &v, &n, &eb) != RC_OK) {
        log_error("delete", "cannot read intents err=%s", eb.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct intent *it = &v[i];
        const char *drop = it->state == 0 ? it->new_key : it->old_key;
        errbuf_clear(&eb);
        int rc = catalog_forget_key(svc, it->db, it->meas, drop, &eb);
        if (rc == RC_OK && drop)
            rc = storage_delete(svc->st, drop, &eb);
        if (rc == RC_OK)
            rc = intent_drop(svc, it->id, &eb);
        if (rc != RC_OK)
            log_error("delete", "recovery incomplete key=%s state=%d err=%s", drop ? drop : "-",
                      it->state, eb.msg);
        else
            log_info("delete", "recovered interrupted delete %s key=%s",
                     it->state == 0 ? "rolled back" : "completed", drop ? drop : "-");
    }
    intents_free(v, n);
}

/* ---- lifecycle ----------------------------------------------------------------- */

static int set_cfg(duckdb_config cfg, const char *name, const char *value, struct errbuf *eb)
{
    if (duckdb_set_config(cfg, name, value) == DuckDBError)
        return errbuf_set(eb, RC_INVALID, "delete: bad DuckDB setting %s=%s", name, value);
    return RC_OK;
}

static int open_duck(struct del_service *svc, const struct del_options *o, struct errbuf *eb)
{
    duckdb_config cfg = NULL;
    if (duckdb_create_config(&cfg) == DuckDBError)
        return errbuf_set(eb, RC_DB, "delete: cannot create DuckDB config");
    int rc;
    /* One thread keeps the rewrite's row order trivially (plus
     * preserve_insertion_order) and leaves the cores to queries. */
    if ((rc = set_cfg(cfg, "threads", "1", eb)) != RC_OK ||
        (rc = set_cfg(cfg, "preserve_insertion_order", "true", eb)) != RC_OK ||
        (rc = set_cfg(cfg, "autoinstall_known_extensions", "false", eb)) != RC_OK ||
        (rc = set_cfg(cfg, "autoload_known_extensions", "false", eb)) != RC_OK)
        goto out;
    if (o->duckdb_memory_limit && o->duckdb_memory_limit[0] &&
        (rc = set_cfg(cfg, "memory_limit", o->duckdb_memory_limit, eb)) != RC_OK)
        goto out;
    if (o->duckdb_temp_directory && o->duckdb_temp_directory[0] &&
        (rc = set_cfg(cfg, "temp_directory", o->duckdb_temp_directory, eb)) != RC_OK)
        goto out;
    char *err = NULL;
    if (duckdb_open_ext(NULL, &svc->duck, cfg, &err) == DuckDBError) {
        rc = errbuf_set(eb, RC_DB, "delete: cannot open DuckDB: %s", err ? err : "?");
        duckdb_free(err);
        goto out;
    }
    if (duckdb_connect(svc->duck, &svc->conn) == DuckDBError) {
        duckdb_close(&svc->duck);
        rc = errbuf_set(eb, RC_DB, "delete: cannot connect to DuckDB");
        goto out;
    }
    rc = duck_exec(svc->conn, "SET TimeZone = 'UTC'", NULL, false, eb);
    if (rc != RC_OK) {
        duckdb_disconnect(&svc->conn);
        duckdb_close(&svc->duck);
    }
out:
    duckdb_destroy_config(&cfg);
    return rc;
}

int del_service_new(const struct del_options *o, const char *state_path, struct catalog *cat,
                    struct storage *st, struct colbuf *cb, struct flusher *fl,
                    struct del_service **out, struct errbuf *eb)
{
    if (!o || !state_path || !cat || !st)
        return errbuf_set(eb, RC_INVALID, "delete: missing dependency");
    if (!storage_local_root(st) && (!o->spool_dir || !o->spool_dir[0]))
        return errbuf_set(eb, RC_INVALID, "delete: remote storage needs a spool directory");
    struct del_service *svc = xcalloc(1, sizeof(*svc));
    svc->o = *o;
    if (svc->o.lock_ttl_ms <= 0)
        svc->o.lock_ttl_ms = DEFAULT_LOCK_TTL_MS;
    if (svc->o.lock_wait_ms == 0)
        svc->o.lock_wait_ms = DEFAULT_LOCK_WAIT_MS;
    if (svc->o.grace_ms == 0)
        svc->o.grace_ms = DEFAULT_GRACE_MS;
    if (svc->o.flush_timeout_ms <= 0)
        svc->o.flush_timeout_ms = DEFAULT_FLUSH_TIMEOUT_MS;
    svc->spool_dir = o->spool_dir ? xstrdup(o->spool_dir) : NULL;
    svc->o.spool_dir = svc->spool_dir;
    svc->o.duckdb_memory_limit = NULL; /* borrowed strings: used at open only */
    svc->o.duckdb_temp_directory = NULL;
    svc->cat = cat;
    svc->st = st;
    svc->cb = cb;
    svc->fl = fl;
    pthread_mutex_init(&svc->run_lock, NULL);
    pthread_mutex_init(&svc->state_lock, NULL);
    int rc = open_duck(svc, o, eb);
    if (rc != RC_OK)
        goto fail;
    if ((rc = state_open(svc, state_path, eb)) != RC_OK) {
        duckdb_disconnect(&svc->conn);
        duckdb_close(&svc->duck);
        goto fail;
    }
    m_deletes =
        metrics_counter("arc_delete_operations_total", "Deletes executed (not dry runs)", NULL);
    m_rows = metrics_counter("arc_delete_rows_total", "Rows removed by deletes", NULL);
    m_failed_files =
        metrics_counter("arc_delete_failed_files_total", "Files a delete could not rewrite", NULL);
    recover(svc);
    *out = svc;
    return RC_OK;
fail:
    pthread_mutex_destroy(&svc->run_lock);
    pthread_mutex_destroy(&svc->state_lock);
    xfree(svc->spool_dir);
    xfree(svc);
    return rc;
}

void del_service_free(struct del_service **sp)
{
    if (!sp || !*sp)
        return;
    struct del_service *svc = *sp;
    *sp = NULL;
    pthread_mutex_lock(&svc->run_lock); /* a running delete finishes first */
    duckdb_disconnect(&svc->conn);
    duckdb_close(&svc->duck);
    pthread_mutex_unlock(&svc->run_lock);
    sqlite3_close(svc->state);
    pthread_mutex_destroy(&svc->run_lock);
    pthread_mutex_destroy(&svc->state_lock);
    xfree(svc->spool_dir);
    xfree(svc);
}

const struct del_options *del_service_options(const struct del_service *svc)
{
    return &svc->o;
}

void del_result_cleanup(struct del_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_processed; i++)
        xfree(r->files_processed[i]);
    xfree(r->files_processed);
    for (size_t i = 0; i < r->n_failed; i++)
        xfree(r->failed_files[i]);
    xfree(r->failed_files);
    memset(r, 0, sizeof(*r));
}

static void list_push(char ***list, size_t *n, const char *s)
{
    *list = xrealloc(*list, (*n + 1) * sizeof(char *));
    (*list)[(*n)++] = xstrdup(s);
}

/* ---- one delete ------------------------------------------------------------------ */

/* A file of the measurement taking part in a delete. */
struct dfile {
    uint64_t id;
    char *key;
    char *path; /* local path DuckDB reads */
    bool temp;  /* path is a spool copy (remote storage) to unlink */
    int64_t matches;
    int64_t min_us, max_us, rows, created_at_us;
    enum catalog_tier tier;
    char day[STORAGE_KEY_MAX + 1]; /* "db/m/YYYY/MM/DD" partition */
    bool locked;
};

struct run {
    struct del_service *svc;
    const struct del_request *req;
    struct pred *pred;
    struct strbuf pred_sql; /* rendered predicate */
    struct catalog_column *schema;
    size_t nschema;
    struct dfile *files;
    size_t nfiles;
    char owner[48];
    char **days; /* locked partitions */
    size_t ndays;
    size_t nattempted; /* files process_file started (fault hook) */
};

static void dfile_cleanup(struct dfile *f)
{
    if (f->temp && f->path)
        (void)unlink(f->path);
    xfree(f->key);
    xfree(f->path);
}

/* The day partition of a key: its first five components. */
static void key_day(const char *key, char *out, size_t cap)
{
    size_t slashes = 0, i = 0;
    for (; key[i] && i + 1 < cap; i++) {
        if (key[i] == '/' && ++slashes == 5)
            break;
        out[i] = key[i];
    }
    out[i] = '\0';
    if (slashes < 5) { /* not the normal layout: lock the measurement */
        const char *p = strchr(key, '/');
        p = p ? strchr(p + 1, '/') : NULL;
        size_t n = p ? (size_t)(p - key) : strlen(key);
        if (n >= cap)
            n = cap - 1;
        memcpy(out, key, n);
        out[n] = '\0';
    }
}

/* Local path for f: in place on a local backend, else a spool copy. */
static int file_local(struct run *r, struct dfile *f, struct errbuf *eb)
{
    struct del_service *svc = r->svc;
    const char *root = storage_local_root(svc->st);
    char buf[4096];
    if (root) {
        snprintf(buf, sizeof(buf), "%s/%s", root, f->key);
        f->path = xstrdup(buf);
        return RC_OK;
    }
    if (mkdir(svc->spool_dir, 0755) != 0 && errno != EEXIST)
        return errbuf_set(eb, RC_IO, "delete: cannot create %s: %s", svc->spool_dir,
                          strerror(errno));
    snprintf(buf, sizeof(buf), "%s/.del-%d-%" PRIu64 ".parquet.part", svc->spool_dir, (int)getpid(),
             ++svc->seq);
    int rc = storage_get_file(svc->st, f->key, buf, eb);
    if (rc != RC_OK)
        return rc;
    f->path = xstrdup(buf);
    f->temp = true;
    return RC_OK;
}

static const struct catalog_column *schema_find(const struct run *r, const char *name)
{
    for (size_t i = 0; i < r->nschema; i++)
        if (strcasecmp(r->schema[i].name, name) == 0)
            return &r->schema[i];
    return NULL;
}

/* Column names DuckDB sees in `from` (a FROM-clause item). */
static int describe(struct run *r, const char *from, char ***names, size_t *n, struct errbuf *eb)
{
    struct strbuf sql;
    strbuf_init(&sql, 0);
    *names = NULL;
    *n = 0;
    int rc = strbuf_printf(&sql, "DESCRIBE SELECT * FROM %s", from);
    duckdb_result res;
    if (rc == RC_OK)
        rc = duck_exec(r->svc->conn, sql.data, &res, true, eb);
    strbuf_cleanup(&sql);
    if (rc != RC_OK)
        return rc;
    idx_t rows = duckdb_row_count(&res);
    *names = xcalloc(rows ? rows : 1, sizeof(char *));
    for (idx_t i = 0; i < rows; i++) {
        char *v = duckdb_value_varchar(&res, 0, i);
        (*names)[(*n)++] = xstrdup(v ? v : "");
        duckdb_free(v);
    }
    duckdb_destroy_result(&res);
    return RC_OK;
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xfree(names[i]);
    xfree(names);
}

/*
 * Appends "(SELECT *, NULL::T AS "c" ... FROM <src>)" so that every column
 * the predicate uses exists even where a file lacks it (a missing column is
 * NULL, as in a query over the measurement). *added receives the injected
 * names (for EXCLUDE), NULL if none.
 */
static int source_sql(struct run *r, const char *src, struct strbuf *out, char ***added,
                      size_t *nadded, struct errbuf *eb)
{
    char **have = NULL;
    size_t nhave = 0;
    *added = NULL;
    *nadded = 0;
    int rc = describe(r, src, &have, &nhave, eb);
    if (rc != RC_OK)
        return rc;
    rc = strbuf_puts(out, "(SELECT *");
    for (size_t i = 0; rc == RC_OK && i < pred_column_count(r->pred); i++) {
        const char *c = pred_column(r->pred, i);
        bool found = false;
        for (size_t k = 0; k < nhave && !found; k++)
            found = strcasecmp(have[k], c) == 0;
        if (found)
            continue;
        const struct catalog_column *sc = schema_find(r, c);
        const char *type = strcasecmp(c, "time") == 0 ? "TIMESTAMPTZ"
                           : sc                       ? col_type_sql(sc->type)
                                                      : "VARCHAR";
        rc = strbuf_puts(out, ", NULL::");
        if (rc == RC_OK)
            rc = strbuf_printf(out, "%s AS ", type);
        if (rc == RC_OK)
            rc = append_ident(out, c);
        *added = xrealloc(*added, (*nadded + 1) * sizeof(char *));
        (*added)[(*nadded)++] = xstrdup(c);
    }
    if (rc == RC_OK)
        rc = strbuf_printf(out, " FROM %s)", src);
    names_free(have, nhave);
    if (rc != RC_OK)
        rc = errbuf_set(eb, RC_INTERNAL, "delete: statement too large");
    return rc;
}

/* read_parquet([...]) over files[from..to) that have a path. */
static int read_list(struct run *r, const size_t *idx, size_t n, bool with_filename,
                     struct strbuf *out)
{
    int rc = strbuf_puts(out, "read_parquet([");
    for (size_t i = 0; rc == RC_OK && i < n; i++) {
        if (i)
            rc = strbuf_puts(out, ", ");
        if (rc == RC_OK)
            rc = append_literal(out, r->files[idx[i]].path);
    }
    if (rc == RC_OK)
        rc = strbuf_printf(out, "], union_by_name = true, hive_partitioning = false%s)",
                           with_filename ? ", filename = '__arc_file'" : "");
    return rc;
}

/* Counts matching rows of files idx[0..n) into their ->matches. */
static int count_matches(struct run *r, const size_t *idx, size_t n, struct errbuf *eb)
{
    if (n == 0)
        return RC_OK;
    struct strbuf rd, src, sql;
    strbuf_init(&rd, 0);
    strbuf_init(&src, 0);
    strbuf_init(&sql, 0);
    char **added = NULL;
    size_t nadded = 0;
    duckdb_result res;
    bool has_res = false;
    int rc = read_list(r, idx, n, true, &rd);
    if (rc == RC_OK)
        rc = source_sql(r, rd.data, &src, &added, &nadded, eb);
    if (rc == RC_OK)
        rc = strbuf_printf(&sql,
                           "SELECT __arc_file, count(*)::BIGINT FROM %s AS __arc_src WHERE (%s) "
                           "IS TRUE GROUP BY __arc_file",
                           src.data, r->pred_sql.data);
    if (rc == RC_OK) {
        rc = duck_exec(r->svc->conn, sql.data, &res, true, eb);
        has_res = rc == RC_OK;
    }
    for (size_t i = 0; rc == RC_OK && i < n; i++)
        r->files[idx[i]].matches = 0;
    if (rc == RC_OK) {
        idx_t rows = duckdb_row_count(&res);
        for (idx_t k = 0; k < rows; k++) {
            char *path = duckdb_value_varchar(&res, 0, k);
            int64_t cnt = duckdb_value_int64(&res, 1, k);
            for (size_t i = 0; path && i < n; i++)
                if (strcmp(r->files[idx[i]].path, path) == 0)
                    r->files[idx[i]].matches = cnt;
            duckdb_free(path);
        }
    }
    if (has_res)
        duckdb_destroy_result(&res);
    names_free(added, nadded);
    strbuf_cleanup(&rd);
    strbuf_cleanup(&src);
    strbuf_cleanup(&sql);
    return rc;
}

/* Loads the visible files of the measurement, keeping those not yet in
 * r->files (by id). Files whose key cannot be read are reported failed.
 * *first receives the index of the first new file. */
static int load_files(struct run *r, struct del_result *res, size_t *first, struct errbuf *eb)
{
    const struct del_request *q = r->req;
    struct catalog_file_list fl;
    catalog_files_list(r->svc->cat, q->database, q->measurement, INT64_MIN, INT64_MAX, &fl);
    *first = r->nfiles;
    int rc = RC_OK;
    for (size_t i = 0; i < fl.n; i++) {
        const struct catalog_file *cf = &fl.files[i];
        bool known = false;
        for (size_t k = 0; k < r->nfiles && !known; k++)
            known = r->files[k].id == cf->id;
        if (known)
            continue;
        if (!key_is_plain(cf->key)) {
            log_warn("delete", "file skipped: its name cannot be passed to DuckDB key=%s", cf->key);
            list_push(&res->failed_files, &res->n_failed, cf->key);
            continue;
        }
        r->files = xrealloc(r->files, (r->nfiles + 1) * sizeof(*r->files));
        struct dfile *f = &r->files[r->nfiles];
        memset(f, 0, sizeof(*f));
        f->id = cf->id;
        f->key = xstrdup(cf->key);
        f->min_us = cf->min_time_us;
        f->max_us = cf->max_time_us;
        f->rows = cf->row_count;
        f->created_at_us = cf->created_at_us;
        f->tier = cf->tier;
        key_day(cf->key, f->day, sizeof(f->day));
        r->nfiles++;
        if ((rc = file_local(r, f, eb)) != RC_OK) {
            r->nfiles--;
            dfile_cleanup(f);
            break;
        }
    }
    catalog_file_list_free(&fl);
    return rc;
}

/* Removes files that are no longer listed by the catalog (compacted or
 * deleted meanwhile) from r->files. */
static void drop_vanished(struct run *r)
{
    const struct del_request *q = r->req;
    struct catalog_file_list fl;
    catalog_files_list(r->svc->cat, q->database, q->measurement, INT64_MIN, INT64_MAX, &fl);
    size_t w = 0;
    for (size_t i = 0; i < r->nfiles; i++) {
        bool listed = false;
        for (size_t k = 0; k < fl.n && !listed; k++)
            listed = fl.files[k].id == r->files[i].id;
        if (listed)
            r->files[w++] = r->files[i];
        else
            dfile_cleanup(&r->files[i]);
    }
    r->nfiles = w;
    catalog_file_list_free(&fl);
}

static bool day_locked(const struct run *r, const char *day)
{
    for (size_t i = 0; i < r->ndays; i++)
        if (strcmp(r->days[i], day) == 0)
            return true;
    return false;
}

/* Locks the day partition of every affected file (waiting up to
 * lock_wait_ms for busy ones). Files whose day stays busy are not marked
 * locked. */
static void lock_days(struct run *r)
{
    struct del_service *svc = r->svc;
    int64_t deadline = time_mono_ms() + (svc->o.lock_wait_ms > 0 ? svc->o.lock_wait_ms : 0);
    for (;;) {
        bool pending = false;
        for (size_t i = 0; i < r->nfiles; i++) {
            struct dfile *f = &r->files[i];
            if (f->matches <= 0 || f->locked)
                continue;
            if (day_locked(r, f->day) || partlock_try(f->day, r->owner, svc->o.lock_ttl_ms)) {
                if (!day_locked(r, f->day)) {
                    r->days = xrealloc(r->days, (r->ndays + 1) * sizeof(char *));
                    r->days[r->ndays++] = xstrdup(f->day);
                }
                f->locked = true;
            } else {
                pending = true;
            }
        }
        if (!pending || time_mono_ms() >= deadline)
            return;
        time_sleep_ms(100);
    }
}

static void unlock_days(struct run *r)
{
    for (size_t i = 0; i < r->ndays; i++) {
        partlock_release(r->days[i], r->owner);
        xfree(r->days[i]);
    }
    xfree(r->days);
    r->days = NULL;
    r->ndays = 0;
}

/* The new key of a rewritten file: same directory, fresh name, same tier
 * suffix, same node id. */
static int new_key_for(struct run *r, const struct dfile *f, char *out, size_t cap)
{
    const char *slash = strrchr(f->key, '/');
    if (!slash)
        return RC_INVALID;
    int64_t now_ns = (int64_t)time_now_us() * 1000 + (int64_t)(++r->svc->seq % 1000);
    struct civil_time ct;
    time_to_civil(now_ns / 1000, &ct);
    char node[FLUSH_NODE_ID_MAX + 2] = "";
    char nid[FLUSH_NODE_ID_MAX + 1];
    if (flush_key_node_id(f->key, nid, sizeof(nid)))
        snprintf(node, sizeof(node), "_%s", nid);
    size_t klen = strlen(f->key);
    const char *suffix = ".parquet";
    if (klen > 18 && strcmp(f->key + klen - 18, "_compacted.parquet") == 0)
        suffix = "_compacted.parquet";
    else if (klen > 14 && strcmp(f->key + klen - 14, "_daily.parquet") == 0)
        suffix = "_daily.parquet";
    int n;
    if (strcmp(suffix, ".parquet") == 0)
        n = snprintf(out, cap, "%.*s/%s_%04d%02d%02d_%02d%02d%02d_%09" PRId64 "%s%s",
                     (int)(slash - f->key), f->key, r->req->measurement, ct.year, ct.month, ct.day,
                     ct.hour, ct.minute, ct.second, now_ns % 1000000000, node, suffix);
    else
        n = snprintf(out, cap, "%.*s/%s_%04d%02d%02d_%02d%02d%02d_%" PRId64 "_b1%s%s",
                     (int)(slash - f->key), f->key, r->req->measurement, ct.year, ct.month, ct.day,
                     ct.hour, ct.minute, ct.second, now_ns, node, suffix);
    return n > 0 && (size_t)n < cap ? RC_OK : RC_LIMIT;
}

/* COPY options matching the input file: its compression and key/value
 * metadata. */
static int copy_options(struct run *r, const struct dfile *f, struct strbuf *out, struct errbuf *eb)
{
    struct strbuf sql;
    strbuf_init(&sql, 0);
    duckdb_result res;
    const char *comp = "snappy";
    int rc = strbuf_puts(&sql, "SELECT compression FROM parquet_metadata(");
    if (rc == RC_OK)
        rc = append_literal(&sql, f->path);
    if (rc == RC_OK)
        rc = strbuf_puts(&sql, ") LIMIT 1");
    if (rc == RC_OK && (rc = duck_exec(r->svc->conn, sql.data, &res, true, eb)) == RC_OK) {
        char *c = duckdb_row_count(&res) ? duckdb_value_varchar(&res, 0, 0) : NULL;
        if (c) {
            if (!strcasecmp(c, "ZSTD"))
                comp = "zstd";
            else if (!strcasecmp(c, "GZIP"))
                comp = "gzip";
            else if (!strncasecmp(c, "LZ4", 3))
                comp = "lz4";
            else if (!strcasecmp(c, "UNCOMPRESSED"))
                comp = "uncompressed";
            else if (!strcasecmp(c, "BROTLI"))
                comp = "brotli";
        }
        duckdb_free(c);
        duckdb_destroy_result(&res);
    }
    if (rc != RC_OK)
        goto out;
    rc = strbuf_printf(out, "FORMAT parquet, COMPRESSION '%s', ROW_GROUP_SIZE %d", comp,
                       ROW_GROUP_ROWS);
    strbuf_reset(&sql);
    if (rc == RC_OK)
        rc = strbuf_puts(&sql, "SELECT decode(key), TRY(decode(value)) FROM parquet_kv_metadata(");
    if (rc == RC_OK)
        rc = append_literal(&sql, f->path);
    if (rc == RC_OK)
        rc = strbuf_putc(&sql, ')');
    if (rc == RC_OK && (rc = duck_exec(r->svc->conn, sql.data, &res, true, eb)) == RC_OK) {
        idx_t rows = duckdb_row_count(&res);
        size_t kept = 0;
        for (idx_t i = 0; rc == RC_OK && i < rows; i++) {
            char *k = duckdb_value_varchar(&res, 0, i);
            char *v = duckdb_value_varchar(&res, 1, i);
            /* DuckDB writes its own ARROW:schema when asked; a copied one
             * could disagree with the new file. */
            if (k && v && strcmp(k, "ARROW:schema") != 0) {
                rc = strbuf_puts(out, kept ? ", " : ", KV_METADATA {");
                if (rc == RC_OK)
                    rc = append_literal(out, k);
                if (rc == RC_OK)
                    rc = strbuf_puts(out, ": ");
                if (rc == RC_OK)
                    rc = append_literal(out, v);
                kept++;
            }
            duckdb_free(k);
            duckdb_free(v);
        }
        if (rc == RC_OK && kept)
            rc = strbuf_putc(out, '}');
        duckdb_destroy_result(&res);
    }
out:
    strbuf_cleanup(&sql);
    return rc;
}

/* Single-value BIGINT queries. */
static int query_i64s(struct run *r, const char *sql, int64_t *vals, idx_t n, struct errbuf *eb)
{
    duckdb_result res;
    int rc = duck_exec(r->svc->conn, sql, &res, true, eb);
    if (rc != RC_OK)
        return rc;
    if (duckdb_row_count(&res) < 1 || duckdb_column_count(&res) < n) {
        duckdb_destroy_result(&res);
        return errbuf_set(eb, RC_DB, "delete: unexpected DuckDB result");
    }
    for (idx_t i = 0; i < n; i++)
        vals[i] = duckdb_value_int64(&res, i, 0);
    duckdb_destroy_result(&res);
    return RC_OK;
}

/* Rewrites (or removes) one affected file. Returns RC_OK with the file
 * replaced, or an error with everything of this file undone. */
static int process_file(struct run *r, struct dfile *f, bool *removed, struct errbuf *eb)
{
    struct del_service *svc = r->svc;
    const struct del_request *q = r->req;
    struct strbuf sql, src, opts;
    strbuf_init(&sql, 0);
    strbuf_init(&src, 0);
    strbuf_init(&opts, 0);
    char **added = NULL;
    size_t nadded = 0;
    char staging[4096] = "";
    char new_key[STORAGE_KEY_MAX + 1] = "";
    int64_t intent = 0;
    bool put = false, in_catalog = false;
    uint64_t new_id = 0;
    int rc;
    *removed = false;

    long fail_after = faults_value("delete_fail_after", -1);
    if (fail_after >= 0 && r->nattempted++ >= (size_t)fail_after) {
        rc = errbuf_set(eb, RC_IO, "fault injected: delete_fail_after");
        goto out;
    }
    /* Total rows of the file. */
    rc = strbuf_puts(&sql, "SELECT num_rows::BIGINT FROM parquet_file_metadata(");
    if (rc == RC_OK)
        rc = append_literal(&sql, f->path);
    if (rc == RC_OK)
        rc = strbuf_putc(&sql, ')');
    int64_t total = 0;
    if (rc == RC_OK)
        rc = query_i64s(r, sql.data, &total, 1, eb);
    if (rc != RC_OK)
        goto out;

    if (f->matches >= total) {
        /* Nothing left: remove the file. */
        if ((rc = intent_add(svc, q->database, q->measurement, f->key, NULL, &intent, eb)))
            goto out;
        if ((rc = catalog_files_remove(svc->cat, &f->id, 1, eb)) != RC_OK)
            goto out;
        *removed = true;
        goto swapped;
    }

    /* Kept rows → staging file, with the input's compression and metadata. */
    strbuf_reset(&sql);
    struct strbuf rd;
    strbuf_init(&rd, 0);
    rc = strbuf_puts(&rd, "read_parquet(");
    if (rc == RC_OK)
        rc = append_literal(&rd, f->path);
    if (rc == RC_OK)
        rc = strbuf_puts(&rd, ", hive_partitioning = false)");
    if (rc == RC_OK)
        rc = source_sql(r, rd.data, &src, &added, &nadded, eb);
    strbuf_cleanup(&rd);
    if (rc == RC_OK)
        rc = copy_options(r, f, &opts, eb);
    if (rc == RC_OK && (rc = new_key_for(r, f, new_key, sizeof(new_key))) != RC_OK)
        rc = errbuf_set(eb, RC_INTERNAL, "delete: new key too long for %s", f->key);
    if (rc == RC_OK)
        rc = storage_staging_path(svc->st, new_key, staging, sizeof(staging), eb);
    if (rc != RC_OK)
        goto out;
    rc = strbuf_puts(&sql, "COPY (SELECT *");
    for (size_t i = 0; rc == RC_OK && i < nadded; i++) {
        rc = strbuf_puts(&sql, i ? ", " : " EXCLUDE (");
        if (rc == RC_OK)
            rc = append_ident(&sql, added[i]);
    }
    if (rc == RC_OK && nadded)
        rc = strbuf_putc(&sql, ')');
    if (rc == RC_OK)
        rc = strbuf_printf(&sql, " FROM %s AS __arc_src WHERE (%s) IS NOT TRUE) TO ", src.data,
                           r->pred_sql.data);
    if (rc == RC_OK)
        rc = append_literal(&sql, staging);
    if (rc == RC_OK)
        rc = strbuf_printf(&sql, " (%s)", opts.data);
    if (rc != RC_OK) {
        rc = errbuf_set(eb, RC_INTERNAL, "delete: statement too large");
        goto out;
    }
    int64_t written = 0;
    if ((rc = query_i64s(r, sql.data, &written, 1, eb)) != RC_OK)
        goto out;
    if (written != total - f->matches) {
        rc = errbuf_set(eb, RC_INTERNAL,
                        "delete: rewrite of %s kept %" PRId64 " rows, expected %" PRId64, f->key,
                        written, total - f->matches);
        goto out;
    }
    /* Catalog entry of the new file. */
    strbuf_reset(&sql);
    rc = strbuf_puts(&sql, "SELECT epoch_us(min(\"time\")), epoch_us(max(\"time\")), "
                           "count(*)::BIGINT FROM read_parquet(");
    if (rc == RC_OK)
        rc = append_literal(&sql, staging);
    if (rc == RC_OK)
        rc = strbuf_puts(&sql, ", hive_partitioning = false)");
    int64_t st3[3] = {0, 0, 0};
    if (rc == RC_OK)
        rc = query_i64s(r, sql.data, st3, 3, eb);
    if (rc != RC_OK)
        goto out;

    if ((rc = intent_add(svc, q->database, q->measurement, f->key, new_key, &intent, eb)))
        goto out;
    uint64_t bytes = 0;
    for (int attempt = 0;; attempt++) {
        rc = storage_put_file(svc->st, staging, new_key, STORAGE_PUT_NOREPLACE, &bytes, eb);
        if (rc != RC_EXISTS || attempt + 1 == PUT_ATTEMPTS)
            break;
        errbuf_clear(eb);
        if ((rc = new_key_for(r, f, new_key, sizeof(new_key))) != RC_OK ||
            (rc = intent_set_new_key(svc, intent, new_key, eb)) != RC_OK)
            goto out;
    }
    if (rc != RC_OK)
        goto out;
    put = true;
    staging[0] = '\0';
    struct catalog_file_entry e = {.key = new_key,
                                   .db = q->database,
                                   .measurement = q->measurement,
                                   .min_time_us = st3[0],
                                   .max_time_us = st3[1],
                                   .row_count = st3[2],
                                   .bytes = bytes,
                                   .created_at_us = 0,
                                   .tier = f->tier};
    if ((rc = catalog_files_add(svc->cat, &e, 1, &new_id, eb)) != RC_OK)
        goto out;
    in_catalog = true;
    /* The swap: readers see the old file or the new one, never both. */
    if ((rc = catalog_files_swap(svc->cat, &new_id, 1, &f->id, 1, eb)) != RC_OK)
        goto out;
swapped:
    in_catalog = false;
    put = false;
    {
        int64_t due = svc->o.grace_ms > 0 ? time_now_us() + svc->o.grace_ms * 1000 : 0;
        struct errbuf ieb = {0};
        if (intent_swapped(svc, intent, due, &ieb) != RC_OK)
            /* The swap is done; only the cleanup record is stale. At the
             * next start the intent looks unfinished and the new file would
             * be rolled back: log it, it needs an operator. */
            log_error("delete", "cannot mark intent done key=%s err=%s", f->key, ieb.msg);
        intent = 0;
        if (svc->o.grace_ms < 0) {
            size_t n = 0;
            struct errbuf reb = {0};
            if (del_reap(svc, INT64_MAX, &n, &reb) != RC_OK)
                log_warn("delete", "cleanup of replaced files failed err=%s", reb.msg);
        }
    }
out:
    if (rc != RC_OK && intent) {
        /* Undo; if that fails the intent stays and startup recovery
         * finishes the job (a new object must never outlive its intent:
         * reconciliation would publish it next to the old file). */
        bool clean = true;
        struct errbuf ueb = {0};
        if (in_catalog && catalog_files_remove(svc->cat, &new_id, 1, &ueb) != RC_OK) {
            log_error("delete", "undo: cannot forget %s err=%s", new_key, ueb.msg);
            clean = false;
        }
        if (put && storage_delete(svc->st, new_key, &ueb) != RC_OK) {
            log_error("delete", "undo: cannot delete %s err=%s", new_key, ueb.msg);
            clean = false;
        }
        if (clean && intent_drop(svc, intent, &ueb) != RC_OK)
            log_error("delete", "undo: cannot drop intent key=%s err=%s", f->key, ueb.msg);
    }
    if (staging[0])
        (void)unlink(staging);
    names_free(added, nadded);
    strbuf_cleanup(&sql);
    strbuf_cleanup(&src);
    strbuf_cleanup(&opts);
    return rc;
}

static int validate(struct run *r, struct errbuf *eb)
{
    const struct del_request *q = r->req;
    if (!q->database || !name_is_valid_database(q->database, strlen(q->database)))
        return errbuf_set(eb, RC_INVALID,
                          "Invalid or missing database: names start with a letter, then "
                          "letters, digits, '_' or '-' (at most %d)",
                          DB_NAME_MAX);
    if (!q->measurement || !name_is_valid_measurement(q->measurement, strlen(q->measurement)))
        return errbuf_set(eb, RC_INVALID,
                          "Invalid or missing measurement: names start with a letter, then "
                          "letters, digits, '_' or '-' (at most %d)",
                          MEASUREMENT_NAME_MAX);
    const char *w = q->where ? q->where : "";
    size_t wl = strlen(w);
    size_t a = 0;
    while (a < wl && (w[a] == ' ' || w[a] == '\t' || w[a] == '\n' || w[a] == '\r'))
        a++;
    /* "WHERE" alone counts as empty. */
    const char *rest = w + a;
    if (strncasecmp(rest, "where", 5) == 0) {
        const char *p = rest + 5;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            a = wl;
    }
    if (a == wl)
        return errbuf_set(eb, RC_INVALID, "where clause is required");
    int rc = pred_parse(w, wl, &r->pred, eb);
    if (rc != RC_OK)
        return errbuf_set(eb, RC_INVALID, "invalid where clause");
    catalog_schema_get(r->svc->cat, q->database, q->measurement, &r->schema, &r->nschema);
    for (size_t i = 0; i < pred_column_count(r->pred); i++) {
        const char *c = pred_column(r->pred, i);
        if (strcasecmp(c, "time") != 0 && !schema_find(r, c))
            return errbuf_set(eb, RC_INVALID, "where: unknown column '%s' in %s.%s", c, q->database,
                              q->measurement);
    }
    if (pred_is_constant(r->pred) && !q->confirm)
        return errbuf_set(eb, RC_INVALID,
                          "where references no column: this deletes every row of the "
                          "measurement and requires confirm=true");
    if (!q->dry_run && !q->confirm)
        return errbuf_set(eb, RC_INVALID,
                          "Delete requires confirm=true (or dry_run=true to preview)");
    if (pred_render(r->pred, &r->pred_sql) != RC_OK)
        return errbuf_set(eb, RC_INVALID, "where clause too large");
    return RC_OK;
}

static int flush_measurement(struct run *r, struct errbuf *eb)
{
    struct del_service *svc = r->svc;
    const struct del_request *q = r->req;
    struct errbuf feb = {0};
    int rc = RC_OK;
    if (svc->fl)
        rc = flusher_flush(svc->fl, q->database, q->measurement, svc->o.flush_timeout_ms, NULL,
                           &feb);
    else if (svc->cb)
        rc = colbuf_flush_wait(svc->cb, q->database, q->measurement, svc->o.flush_timeout_ms, NULL,
                               &feb);
    if (rc != RC_OK)
        return errbuf_set(eb, rc, "cannot flush buffered rows before deleting: %s", feb.msg);
    return RC_OK;
}

int del_execute(struct del_service *svc, const struct del_request *q, struct del_result *out,
                struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    out->dry_run = q->dry_run;
    int64_t t0 = time_mono_ns();
    if (!svc->o.enabled)
        return errbuf_set(eb, RC_DENIED,
                          "Delete operations are disabled (set delete.enabled = true)");
    struct run r;
    memset(&r, 0, sizeof(r));
    r.svc = svc;
    r.req = q;
    strbuf_init(&r.pred_sql, 0);
    bool locked = false;
    int rc = validate(&r, eb);
    if (rc != RC_OK)
        goto out;
    if ((rc = flush_measurement(&r, eb)) != RC_OK)
        goto out;

    pthread_mutex_lock(&svc->run_lock);
    locked = true;
    snprintf(r.owner, sizeof(r.owner), "delete:%d:%" PRIu64, (int)getpid(), ++svc->seq);
    size_t first = 0;
    if ((rc = load_files(&r, out, &first, eb)) != RC_OK)
        goto out;
    size_t *idx = xcalloc(r.nfiles ? r.nfiles : 1, sizeof(size_t));
    for (size_t i = 0; i < r.nfiles; i++)
        idx[i] = i;
    rc = count_matches(&r, idx, r.nfiles, eb);
    xfree(idx);
    if (rc != RC_OK)
        goto out;
    uint64_t total = 0;
    size_t affected = 0;
    for (size_t i = 0; i < r.nfiles; i++) {
        total += (uint64_t)r.files[i].matches;
        affected += r.files[i].matches > 0;
    }
    out->deleted_count = total;
    out->affected_files = affected;
    if (q->dry_run) {
        out->exceeds_max_rows = total > (uint64_t)svc->o.max_rows_per_delete;
        out->requires_confirmation = total > (uint64_t)svc->o.confirmation_threshold;
        goto out;
    }
    if (total > (uint64_t)svc->o.max_rows_per_delete) {
        rc = errbuf_set(eb, RC_INVALID,
                        "Delete would remove %" PRIu64 " rows, more than max_rows_per_delete "
                        "(%" PRId64 "); narrow the where clause",
                        total, svc->o.max_rows_per_delete);
        out->deleted_count = 0;
        goto out;
    }
    if (total == 0)
        goto done;

    /* Lock the affected days, then account for files that changed
     * meanwhile: vanished ones (compacted) are dropped, new ones counted. */
    lock_days(&r);
    drop_vanished(&r);
    if ((rc = load_files(&r, out, &first, eb)) != RC_OK)
        goto out;
    if (r.nfiles > first) {
        size_t nnew = r.nfiles - first;
        idx = xcalloc(nnew, sizeof(size_t));
        for (size_t i = 0; i < nnew; i++)
            idx[i] = first + i;
        rc = count_matches(&r, idx, nnew, eb);
        xfree(idx);
        if (rc != RC_OK)
            goto out;
        lock_days(&r);
    }
    out->deleted_count = 0;
    out->affected_files = 0;
    for (size_t i = 0; i < r.nfiles; i++) {
        struct dfile *f = &r.files[i];
        if (f->matches <= 0)
            continue;
        out->affected_files++;
        if (!f->locked) {
            log_warn("delete", "partition busy, file not processed key=%s partition=%s", f->key,
                     f->day);
            list_push(&out->failed_files, &out->n_failed, f->key);
            continue;
        }
        struct errbuf feb = {0};
        bool removed = false;
        int frc = process_file(&r, f, &removed, &feb);
        if (frc != RC_OK) {
            log_error("delete", "file not processed key=%s err=%s", f->key, feb.msg);
            list_push(&out->failed_files, &out->n_failed, f->key);
            continue;
        }
        list_push(&out->files_processed, &out->n_processed, f->key);
        out->deleted_count += (uint64_t)f->matches;
        if (removed)
            out->deleted_files++;
        else
            out->rewritten_files++;
    }
    if (out->n_processed)
        (void)query_cache_clear(); /* SPEC §4.12 */
    if (out->n_failed) {
        metric_add(m_failed_files, out->n_failed);
        rc = errbuf_set(eb, RC_INTERNAL, "Delete failed for %zu of %zu files", out->n_failed,
                        out->affected_files);
    }
done:
    metric_inc(m_deletes);
    metric_add(m_rows, out->deleted_count);
    if (svc->o.audit_enabled)
        log_info("delete",
                 "audit principal=%s db=%s measurement=%s where=%s deleted=%" PRIu64
                 " files=%zu rewritten=%zu removed=%zu failed=%zu",
                 q->principal ? q->principal : "-", q->database, q->measurement,
                 r.pred_sql.data ? r.pred_sql.data : "", out->deleted_count, out->affected_files,
                 out->rewritten_files, out->deleted_files, out->n_failed);
out:
    unlock_days(&r);
    for (size_t i = 0; i < r.nfiles; i++)
        dfile_cleanup(&r.files[i]);
    xfree(r.files);
    if (locked)
        pthread_mutex_unlock(&svc->run_lock);
    catalog_columns_free(&r.schema);
    pred_free(&r.pred);
    strbuf_cleanup(&r.pred_sql);
    out->execution_time_ms = (double)(time_mono_ns() - t0) / 1e6;
    return rc;
}

int del_drop_measurement(struct del_service *svc, const char *db, const char *measurement,
                         size_t *out_files, struct errbuf *eb)
{
    if (out_files)
        *out_files = 0;
    if (!svc->o.enabled)
        return errbuf_set(eb, RC_DENIED,
                          "Delete operations are disabled (set delete.enabled = true)");
    if (!db || !name_is_valid_database(db, strlen(db)) || !measurement ||
        !name_is_valid_measurement(measurement, strlen(measurement)))
        return errbuf_set(eb, RC_INVALID, "invalid database or measurement name");
    struct del_request q = {.database = db, .measurement = measurement};
    struct run r;
    memset(&r, 0, sizeof(r));
    r.svc = svc;
    r.req = &q;
    int rc = flush_measurement(&r, eb);
    if (rc != RC_OK)
        return rc;
    pthread_mutex_lock(&svc->run_lock);
    char part[DB_NAME_MAX + MEASUREMENT_NAME_MAX + 2];
    snprintf(part, sizeof(part), "%s/%s", db, measurement);
    char owner[48];
    snprintf(owner, sizeof(owner), "delete:%d:%" PRIu64, (int)getpid(), ++svc->seq);
    int64_t deadline = time_mono_ms() + (svc->o.lock_wait_ms > 0 ? svc->o.lock_wait_ms : 0);
    bool got;
    while (!(got = partlock_try(part, owner, svc->o.lock_ttl_ms)) && time_mono_ms() < deadline)
        time_sleep_ms(100);
    if (!got) {
        pthread_mutex_unlock(&svc->run_lock);
        return errbuf_set(eb, RC_BUSY, "%s is locked by another job; try again later", part);
    }
    struct catalog_file_list fl;
    catalog_files_list(svc->cat, db, measurement, INT64_MIN, INT64_MAX, &fl);
    int64_t *intents = xcalloc(fl.n ? fl.n : 1, sizeof(int64_t));
    uint64_t *ids = xcalloc(fl.n ? fl.n : 1, sizeof(uint64_t));
    size_t ni = 0;
    for (size_t i = 0; rc == RC_OK && i < fl.n; i++) {
        rc = intent_add(svc, db, measurement, fl.files[i].key, NULL, &intents[ni], eb);
        if (rc == RC_OK)
            ids[ni++] = fl.files[i].id;
    }
    if (rc == RC_OK && ni)
        rc = catalog_files_remove(svc->cat, ids, ni, eb);
    int64_t due = svc->o.grace_ms > 0 ? time_now_us() + svc->o.grace_ms * 1000 : 0;
    for (size_t i = 0; i < ni; i++) {
        struct errbuf ieb = {0};
        int irc = rc == RC_OK ? intent_swapped(svc, intents[i], due, &ieb)
                              : intent_drop(svc, intents[i], &ieb);
        if (irc != RC_OK)
            log_error("delete", "cannot update intent err=%s", ieb.msg);
    }
    catalog_file_list_free(&fl);
    xfree(intents);
    xfree(ids);
    partlock_release(part, owner);
    pthread_mutex_unlock(&svc->run_lock);
    if (rc == RC_OK) {
        (void)query_cache_clear();
        if (out_files)
            *out_files = ni;
        if (svc->o.audit_enabled)
            log_info("delete", "audit measurement dropped db=%s measurement=%s files=%zu", db,
                     measurement, ni);
        if (svc->o.grace_ms < 0) {
            struct errbuf reb = {0};
            if (del_reap(svc, INT64_MAX, NULL, &reb) != RC_OK)
                log_warn("delete", "cleanup of dropped files failed err=%s", reb.msg);
        }
    }
    return rc;
}

/* ---- reaping -------------------------------------------------------------------- */

int del_reap(struct del_service *svc, int64_t now_us, size_t *out_removed, struct errbuf *eb)
{
    if (out_removed)
        *out_removed = 0;
    struct intent *v = NULL;
    size_t n = 0;
    int rc = intents_load(svc, 1, now_us, &v, &n, eb);
    if (rc != RC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct errbuf deb = {0};
        if (storage_delete(svc->st, v[i].old_key, &deb) != RC_OK) {
            log_warn("delete", "cannot remove replaced file key=%s err=%s", v[i].old_key, deb.msg);
            continue;
        }
        if (intent_drop(svc, v[i].id, &deb) != RC_OK)
            log_warn("delete", "cannot drop intent key=%s err=%s", v[i].old_key, deb.msg);
        else if (out_removed)
            (*out_removed)++;
    }
    intents_free(v, n);
    return RC_OK;
}

static void on_reap(void *ctx, int64_t now_us)
{
    struct errbuf eb = {0};
    if (del_reap(ctx, now_us, NULL, &eb) != RC_OK)
        log_warn("delete", "reaper pass failed err=%s", eb.msg);
}

int del_service_start_scheduler(struct del_service *svc, struct scheduler *sched, struct errbuf *eb)
{
    return scheduler_add_interval(sched, "delete_reaper", REAP_INTERVAL_MS, on_reap, svc, eb);
}
