/*
 * jobs/cq_store.c — SQLite persistence of continuous queries: definitions,
 * their state (watermark = last_processed_time) and the execution history.
 *
 * File: jobs.db next to the catalog (<dir of auth.db_path>/jobs.db; the
 * delete module keeps its intents in the same file, other tables). WAL
 * journal, synchronous=FULL, mode 0600. Tables:
 *
 *   cq_definitions (id PK, name UNIQUE, definition columns, tag_columns as
 *                   a JSON array, state columns, created/updated µs)
 *   cq_executions  (id PK, query_id, execution_id, execution_time_us,
 *                   status, start_us, end_us, records_written, duration_s,
 *                   error_message); at most HISTORY_KEEP rows per query
 *
 * The watermark and the history row of an execution are written in one
 * transaction (cq_store_record), so after a crash they always agree.
 *
 * Threads: any; one mutex guards the connection and is held across SQLite
 * calls only (never while calling other modules). SQLite I/O under our own
 * lock is the point of this lock: it serialises users of one connection.
 */
#include "jobs/cq.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/json.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Executions kept per continuous query (older ones are pruned). */
#define HISTORY_KEEP 1000

struct cq_store {
    /* lock guards db. */
    pthread_mutex_t lock;
    sqlite3 *db;
};

static const char *const ddl =
    "CREATE TABLE IF NOT EXISTS cq_definitions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " description TEXT,"
    " database TEXT NOT NULL,"
    " source_measurement TEXT NOT NULL,"
    " destination_measurement TEXT NOT NULL,"
    " query TEXT NOT NULL,"
    " interval TEXT NOT NULL,"
    " tag_columns TEXT,"
    " retention_days INTEGER,"
    " delete_source_after_days INTEGER,"
    " is_active INTEGER NOT NULL,"
    " last_execution_time_us INTEGER,"
    " last_execution_status TEXT,"
    " last_processed_time_us INTEGER,"
    " last_records_written INTEGER,"
    " created_at_us INTEGER NOT NULL,"
    " updated_at_us INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cq_executions ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " query_id INTEGER NOT NULL,"
    " execution_id TEXT NOT NULL,"
    " execution_time_us INTEGER NOT NULL,"
    " status TEXT NOT NULL,"
    " start_us INTEGER,"
    " end_us INTEGER,"
    " records_written INTEGER NOT NULL,"
    " duration_s REAL NOT NULL,"
    " error_message TEXT);"
    "CREATE INDEX IF NOT EXISTS cq_executions_query ON cq_executions(query_id, id);";

#define DEF_COLUMNS                                                                                \
    "id, name, description, database, source_measurement, destination_measurement, query, "        \
    "interval, tag_columns, retention_days, delete_source_after_days, is_active, "                 \
    "last_execution_time_us, last_execution_status, last_processed_time_us, "                      \
    "last_records_written, created_at_us, updated_at_us"

static int db_err(struct cq_store *s, struct errbuf *eb, const char *what)
{
    return errbuf_set(eb, RC_DB, "continuous queries: %s: %s", what, sqlite3_errmsg(s->db));
}

static int exec_sql(struct cq_store *s, const char *sql, struct errbuf *eb)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        int rc = errbuf_set(eb, RC_DB, "continuous queries: %s", err ? err : "SQLite error");
        sqlite3_free(err);
        return rc;
    }
    return RC_OK;
}

/* mkdir -p of the directory holding `path`. */
static int mkdir_parents(const char *path, struct errbuf *eb)
{
    char buf[1024];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return errbuf_set(eb, RC_INVALID, "continuous queries: path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errbuf_set(eb, RC_IO, "continuous queries: cannot create %s: %s", buf,
                              strerror(errno));
        *p = '/';
    }
    return RC_OK;
}

int cq_store_open(const char *path, struct cq_store **out, struct errbuf *eb)
{
    int rc = mkdir_parents(path, eb);
    if (rc != RC_OK)
        return rc;
    /* Create the file ourselves so it is 0600 from the first byte. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errbuf_set(eb, RC_IO, "continuous queries: cannot open %s: %s", path,
                          strerror(errno));
    if (fchmod(fd, 0600) != 0)
        log_warn("cq", "cannot chmod 0600 path=%s err=%s", path, strerror(errno));
    close(fd);
    struct cq_store *s = xcalloc(1, sizeof(*s));
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rc = errbuf_set(eb, RC_DB, "continuous queries: cannot open %s: %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if ((rc = exec_sql(s, "PRAGMA journal_mode=WAL", eb)) != RC_OK ||
        (rc = exec_sql(s, "PRAGMA synchronous=FULL", eb)) != RC_OK ||
        (rc = exec_sql(s, ddl, eb)) != RC_OK)
        goto fail;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return RC_OK;
fail:
    sqlite3_close(s->db);
    xfree(s);
    return rc;
}

void cq_store_close(struct cq_store **sp)
{
    if (!sp || !*sp)
        return;
    struct cq_store *s = *sp;
    *sp = NULL;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    xfree(s);
}

/* ---- row <-> struct ------------------------------------------------------ */

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? xstrndup((const char *)t, (size_t)sqlite3_column_bytes(st, i)) : NULL;
}

static int64_t col_time(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? CQ_TIME_NONE : sqlite3_column_int64(st, i);
}

static void load_tags(struct cq_def *d, const char *json)
{
    if (!json || !*json)
        return;
    struct json_value *doc = NULL;
    struct errbuf eb = {0};
    if (json_parse(json, strlen(json), &doc, &eb) != RC_OK) {
        log_error("cq", "stored tag_columns unreadable id=%lld err=%s", (long long)d->id, eb.msg);
        return;
    }
    size_t n = json_arr_len(doc);
    if (n)
        d->tag_columns = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *s = json_as_str(json_arr_at(doc, i), &len);
        if (s)
            d->tag_columns[d->n_tag_columns++] = xstrndup(s, len);
    }
    json_free(&doc);
}

static void row_to_def(sqlite3_stmt *st, struct cq_def *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(st, 0);
    d->name = col_text(st, 1);
    d->description = col_text(st, 2);
    d->database = col_text(st, 3);
    d->source_measurement = col_text(st, 4);
    d->destination_measurement = col_text(st, 5);
    d->query = col_text(st, 6);
    d->interval = col_text(st, 7);
    if (!d->interval || !cq_interval_parse(d->interval, &d->interval_us))
        d->interval_us = US_PER_HOUR; /* cannot happen: validated before storing */
    char *tags = col_text(st, 8);
    load_tags(d, tags);
    xfree(tags);
    d->retention_days = sqlite3_column_int64(st, 9);
    d->delete_source_after_days = sqlite3_column_int64(st, 10);
    d->is_active = sqlite3_column_int(st, 11) != 0;
    d->last_execution_time_us = col_time(st, 12);
    const unsigned char *status = sqlite3_column_text(st, 13);
    snprintf(d->last_execution_status, sizeof(d->last_execution_status), "%s",
             status ? (const char *)status : "");
    d->last_processed_time_us = col_time(st, 14);
    d->last_records_written =
        sqlite3_column_type(st, 15) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 15);
    d->created_at_us = sqlite3_column_int64(st, 16);
    d->updated_at_us = sqlite3_column_int64(st, 17);
}

/* tag_columns as a JSON array (NULL when there are none). Caller frees. */
static char *tags_json(const struct cq_def *d)
{
    if (d->n_tag_columns == 0)
        return NULL;
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct jsonw w;
    jsonw_init(&w, &sb);
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < d->n_tag_columns; i++)
        jsonw_str(&w, d->tag_columns[i]);
    jsonw_arr_end(&w);
    return strbuf_detach(&sb, NULL);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_pos_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

/* Binds the 11 definition columns starting at parameter first. */
static void bind_definition(sqlite3_stmt *st, int first, const struct cq_def *d, const char *tags)
{
    bind_text_or_null(st, first + 0, d->name);
    bind_text_or_null(st, first + 1, d->description);
    bind_text_or_null(st, first + 2, d->database);
    bind_text_or_null(st, first + 3, d->source_measurement);
    bind_text_or_null(st, first + 4, d->destination_measurement);
    bind_text_or_null(st, first + 5, d->query);
    bind_text_or_null(st, first + 6, d->interval);
    bind_text_or_null(st, first + 7, tags);
    bind_pos_or_null(st, first + 8, d->retention_days);
    bind_pos_or_null(st, first + 9, d->delete_source_after_days);
    sqlite3_bind_int(st, first + 10, d->is_active ? 1 : 0);
}

/* Loads id while the lock is held. */
static int get_locked(struct cq_store *s, int64_t id, struct cq_def *out, struct errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT " DEF_COLUMNS " FROM cq_definitions WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return db_err(s, eb, "prepare");
    sqlite3_bind_int64(st, 1, id);
    int rc = RC_OK;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        row_to_def(st, out);
    else if (step == SQLITE_DONE)
        rc = errbuf_set(eb, RC_NOT_FOUND, "Continuous query %lld not found", (long long)id);
    else
        rc = db_err(s, eb, "select");
    sqlite3_finalize(st);
    return rc;
}

/* ---- API -------------------------------------------------------------------- */

/* Runs an INSERT or UPDATE that binds every definition column from ?1,
 * `now` as ?12 and `last` (created_at or the id) as ?13; a UNIQUE violation
 * on the name is RC_EXISTS. Caller holds s->lock. */
static int write_definition_locked(struct cq_store *s, const char *sql, const struct cq_def *d,
                                   const char *tags, int64_t now, int64_t last, const char *what,
                                   struct errbuf *eb)
{
    sqlite3_stmt *st = NULL;
    int rc = RC_OK;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
    } else {
        bind_definition(st, 1, d, tags);
        sqlite3_bind_int64(st, 12, now);
        sqlite3_bind_int64(st, 13, last);
        int step = sqlite3_step(st);
        if (step == SQLITE_CONSTRAINT)
            rc = errbuf_set(eb, RC_EXISTS, "Continuous query '%s' already exists", d->name);
        else if (step != SQLITE_DONE)
            rc = db_err(s, eb, what);
    }
    sqlite3_finalize(st);
    return rc;
}

int cq_store_create(struct cq_store *s, struct cq_def *d, struct errbuf *eb)
{
    char *tags = tags_json(d);
    int64_t now = time_now_us();
    pthread_mutex_lock(&s->lock);
    int rc = write_definition_locked(
        s,
        "INSERT INTO cq_definitions (name, description, database, source_measurement, "
        "destination_measurement, query, interval, tag_columns, retention_days, "
        "delete_source_after_days, is_active, created_at_us, updated_at_us) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        d, tags, now, now, "insert", eb);
    if (rc == RC_OK) {
        d->id = sqlite3_last_insert_rowid(s->db);
        d->created_at_us = d->updated_at_us = now;
        d->last_execution_time_us = CQ_TIME_NONE;
        d->last_processed_time_us = CQ_TIME_NONE;
        d->last_records_written = -1;
        d->last_execution_status[0] = '\0';
    }
    pthread_mutex_unlock(&s->lock);
    xfree(tags);
    return rc;
}

int cq_store_get(struct cq_store *s, int64_t id, struct cq_def *out, struct errbuf *eb)
{
    pthread_mutex_lock(&s->lock);
    int rc = get_locked(s, id, out, eb);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int cq_store_list(struct cq_store *s, const char *database, int is_active, struct cq_def **out,
                  size_t *n, struct errbuf *eb)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = RC_OK;
    size_t cap = 0;
    struct cq_def *defs = NULL;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " DEF_COLUMNS " FROM cq_definitions WHERE (?1 IS NULL OR "
                           "database = ?1) AND (?2 < 0 OR is_active = ?2) ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    bind_text_or_null(st, 1, database);
    sqlite3_bind_int(st, 2, is_active < 0 ? -1 : is_active ? 1 : 0);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            defs = xrealloc(defs, cap * sizeof(*defs));
        }
        row_to_def(st, &defs[(*n)++]);
    }
    if (step != SQLITE_DONE) {
        rc = db_err(s, eb, "select");
        cq_defs_free(&defs, *n);
        *n = 0;
        goto out;
    }
    *out = defs;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void cq_defs_free(struct cq_def **defs, size_t n)
{
    if (!defs || !*defs)
        return;
    for (size_t i = 0; i < n; i++)
        cq_def_cleanup(&(*defs)[i]);
    xfree(*defs);
    *defs = NULL;
}

int cq_store_update(struct cq_store *s, int64_t id, struct cq_def *d, struct errbuf *eb)
{
    char *tags = tags_json(d);
    int64_t now = time_now_us();
    struct cq_def cur;
    memset(&cur, 0, sizeof(cur));
    pthread_mutex_lock(&s->lock);
    int rc = write_definition_locked(
        s,
        "UPDATE cq_definitions SET name = ?, description = ?, database = ?, "
        "source_measurement = ?, destination_measurement = ?, query = ?, interval = ?, "
        "tag_columns = ?, retention_days = ?, delete_source_after_days = ?, is_active = ?, "
        "updated_at_us = ? WHERE id = ?",
        d, tags, now, id, "update", eb);
    if (rc == RC_OK && sqlite3_changes(s->db) == 0)
        rc = errbuf_set(eb, RC_NOT_FOUND, "Continuous query %lld not found", (long long)id);
    if (rc == RC_OK)
        rc = get_locked(s, id, &cur, eb);
    if (rc == RC_OK) {
        cq_def_cleanup(d);
        *d = cur;
    }
    pthread_mutex_unlock(&s->lock);
    xfree(tags);
    return rc;
}

int cq_store_delete(struct cq_store *s, int64_t id, struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->lock);
    if ((rc = exec_sql(s, "BEGIN IMMEDIATE", eb)) != RC_OK)
        goto out;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM cq_definitions WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, eb, "delete");
        goto rollback;
    }
    if (sqlite3_changes(s->db) == 0) {
        rc = errbuf_set(eb, RC_NOT_FOUND, "Continuous query %lld not found", (long long)id);
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM cq_executions WHERE query_id = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, eb, "delete history");
        goto rollback;
    }
    rc = exec_sql(s, "COMMIT", eb);
    if (rc == RC_OK)
        goto out;
rollback:
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int cq_store_record(struct cq_store *s, const struct cq_execution *e, struct errbuf *eb)
{
    bool completed = strcmp(e->status, "completed") == 0;
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->lock);
    if ((rc = exec_sql(s, "BEGIN IMMEDIATE", eb)) != RC_OK)
        goto out;
    /* State first: it tells whether the CQ still exists. */
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE cq_definitions SET last_execution_time_us = ?1, "
                           "last_execution_status = ?2, last_records_written = ?3, "
                           "last_processed_time_us = CASE WHEN ?4 THEN "
                           "max(coalesce(last_processed_time_us, ?5), ?5) "
                           "ELSE last_processed_time_us END WHERE id = ?6",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, e->execution_time_us);
    sqlite3_bind_text(st, 2, e->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, e->records_written);
    sqlite3_bind_int(st, 4, completed ? 1 : 0);
    sqlite3_bind_int64(st, 5, e->end_us);
    sqlite3_bind_int64(st, 6, e->query_id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, eb, "update state");
        goto rollback;
    }
    if (sqlite3_changes(s->db) == 0) {
        rc =
            errbuf_set(eb, RC_NOT_FOUND, "Continuous query %lld not found", (long long)e->query_id);
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO cq_executions (query_id, execution_id, "
                           "execution_time_us, status, start_us, end_us, records_written, "
                           "duration_s, error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, e->query_id);
    sqlite3_bind_text(st, 2, e->execution_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, e->execution_time_us);
    sqlite3_bind_text(st, 4, e->status, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 5, e->start_us);
    sqlite3_bind_int64(st, 6, e->end_us);
    sqlite3_bind_int64(st, 7, e->records_written);
    sqlite3_bind_double(st, 8, e->duration_s);
    bind_text_or_null(st, 9, e->error_message[0] ? e->error_message : NULL);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, eb, "insert execution");
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* Bounded history. */
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM cq_executions WHERE query_id = ?1 AND id <= (SELECT id "
                           "FROM cq_executions WHERE query_id = ?1 ORDER BY id DESC LIMIT 1 "
                           "OFFSET ?2)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, e->query_id);
    sqlite3_bind_int(st, 2, HISTORY_KEEP);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, eb, "prune history");
        goto rollback;
    }
    rc = exec_sql(s, "COMMIT", eb);
    if (rc == RC_OK)
        goto out;
rollback:
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int cq_store_executions(struct cq_store *s, int64_t query_id, size_t limit,
                        struct cq_execution **out, size_t *n, struct errbuf *eb)
{
    *out = NULL;
    *n = 0;
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    struct cq_execution *ex = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&s->lock);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, query_id, execution_id, execution_time_us, status, "
                           "start_us, end_us, records_written, duration_s, error_message FROM "
                           "cq_executions WHERE query_id = ? ORDER BY id DESC LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    sqlite3_bind_int64(st, 1, query_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            ex = xrealloc(ex, cap * sizeof(*ex));
        }
        struct cq_execution *e = &ex[(*n)++];
        memset(e, 0, sizeof(*e));
        e->id = sqlite3_column_int64(st, 0);
        e->query_id = sqlite3_column_int64(st, 1);
        const unsigned char *t = sqlite3_column_text(st, 2);
        snprintf(e->execution_id, sizeof(e->execution_id), "%s", t ? (const char *)t : "");
        e->execution_time_us = sqlite3_column_int64(st, 3);
        t = sqlite3_column_text(st, 4);
        snprintf(e->status, sizeof(e->status), "%s", t ? (const char *)t : "");
        e->start_us = sqlite3_column_int64(st, 5);
        e->end_us = sqlite3_column_int64(st, 6);
        e->records_written = sqlite3_column_int64(st, 7);
        e->duration_s = sqlite3_column_double(st, 8);
        t = sqlite3_column_text(st, 9);
        snprintf(e->error_message, sizeof(e->error_message), "%s", t ? (const char *)t : "");
    }
    if (step != SQLITE_DONE) {
        rc = db_err(s, eb, "select");
        xfree(ex);
        ex = NULL;
        *n = 0;
    }
    *out = ex;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
