/*
 * jobs/retention.c — retention policy store (SQLite) and scheduled runs
 * (retention.h). Execution itself is in retention_exec.c.
 *
 * Tables (in the file of auth.db_path, next to the token tables):
 *
 *   retention_policies(id INTEGER PRIMARY KEY AUTOINCREMENT, name UNIQUE,
 *       database, measurement NULL, retention_days, buffer_days, is_active,
 *       last_execution_time_us NULL, last_execution_status NULL,
 *       last_deleted_count NULL, created_at_us, updated_at_us)
 *   retention_executions(id INTEGER PRIMARY KEY AUTOINCREMENT, policy_id,
 *       execution_time_us, status, deleted_count, cutoff_us, duration_ms,
 *       error_message NULL)
 *
 * One connection guarded by db_lock; statements are prepared per call
 * (policies change rarely). Threads: any.
 */
#include "jobs/retention_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/compaction_internal.h"
#include "jobs/scheduler.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define SCHED_NAME "retention"

static const char *const ddl = "CREATE TABLE IF NOT EXISTS retention_policies ("
                               "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               "  name TEXT NOT NULL UNIQUE,"
                               "  database TEXT NOT NULL,"
                               "  measurement TEXT,"
                               "  retention_days INTEGER NOT NULL,"
                               "  buffer_days INTEGER NOT NULL,"
                               "  is_active INTEGER NOT NULL,"
                               "  last_execution_time_us INTEGER,"
                               "  last_execution_status TEXT,"
                               "  last_deleted_count INTEGER,"
                               "  created_at_us INTEGER NOT NULL,"
                               "  updated_at_us INTEGER NOT NULL);"
                               "CREATE TABLE IF NOT EXISTS retention_executions ("
                               "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
                               "  policy_id INTEGER NOT NULL,"
                               "  execution_time_us INTEGER NOT NULL,"
                               "  status TEXT NOT NULL,"
                               "  deleted_count INTEGER NOT NULL,"
                               "  cutoff_us INTEGER NOT NULL,"
                               "  duration_ms REAL NOT NULL,"
                               "  error_message TEXT);"
                               "CREATE INDEX IF NOT EXISTS retention_executions_by_policy"
                               "  ON retention_executions (policy_id, id);";

static const char *const policy_cols =
    "id, name, database, measurement, retention_days, buffer_days, is_active,"
    " last_execution_time_us, last_execution_status, last_deleted_count, created_at_us,"
    " updated_at_us";

static int db_err(struct retention *r, struct errbuf *eb, const char *what)
{
    return errbuf_set(eb, RC_DB, "retention: %s: %s", what, sqlite3_errmsg(r->db));
}

static int exec_sql(struct retention *r, const char *sql, struct errbuf *eb)
{
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = errbuf_set(eb, RC_DB, "retention: %s", msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return rc;
    }
    return RC_OK;
}

static int mkdir_parents(const char *path, struct errbuf *eb)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errbuf_set(eb, RC_IO, "retention: mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    return RC_OK;
}

int retention_open(const struct retention_options *o, struct storage *st, struct catalog *cat,
                   struct retention **out, struct errbuf *eb)
{
    if (!o || !o->db_path || !o->db_path[0] || !st || !cat)
        return errbuf_set(eb, RC_INVALID, "retention: missing db_path, storage or catalog");
    int rc = mkdir_parents(o->db_path, eb);
    if (rc != RC_OK)
        return rc;
    /* 0600 from the first byte, like the token database. */
    int fd = open(o->db_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errbuf_set(eb, RC_IO, "retention: open %s: %s", o->db_path, strerror(errno));
    close(fd);
    if (o->temp_dir && o->temp_dir[0]) {
        char probe[1100];
        snprintf(probe, sizeof(probe), "%s/x", o->temp_dir);
        if ((rc = mkdir_parents(probe, eb)) != RC_OK)
            return rc;
    }
    struct retention *r = xcalloc(1, sizeof(*r));
    r->st = st;
    r->cat = cat;
    r->temp_dir = xstrdup(o->temp_dir && o->temp_dir[0] ? o->temp_dir : "./data/compaction");
    r->lock_wait_ms = o->lock_wait_ms > 0 ? o->lock_wait_ms : 10000;
    r->lock_ttl_ms = o->lock_ttl_ms > 0 ? o->lock_ttl_ms : 2 * 3600 * 1000;
    r->m_runs_ok = metrics_counter("arc_retention_executions_total",
                                   "Retention policy executions (not dry runs) by outcome",
                                   "status=\"completed\"");
    r->m_runs_failed = metrics_counter("arc_retention_executions_total",
                                       "Retention policy executions (not dry runs) by outcome",
                                       "status=\"failed\"");
    r->m_files = metrics_counter("arc_retention_files_deleted_total",
                                 "Parquet files removed by retention", NULL);
    r->m_rows = metrics_counter("arc_retention_rows_deleted_total",
                                "Rows in the files removed by retention", NULL);
    pthread_mutex_init(&r->db_lock, NULL);
    pthread_mutex_init(&r->duck_lock, NULL);
    pthread_mutex_init(&r->sched_lock, NULL);
    atomic_init(&r->run_busy, false);
    atomic_init(&r->exec_seq, 0);
    if (sqlite3_open_v2(o->db_path, &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = errbuf_set(eb, RC_DB, "retention: open %s: %s", o->db_path,
                        r->db ? sqlite3_errmsg(r->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(r->db, 5000);
    if ((rc = exec_sql(r, "PRAGMA journal_mode=WAL", eb)) != RC_OK ||
        (rc = exec_sql(r, "PRAGMA synchronous=FULL", eb)) != RC_OK ||
        (rc = exec_sql(r, ddl, eb)) != RC_OK)
        goto fail;
    *out = r;
    return RC_OK;
fail:
    retention_close(&r);
    return rc;
}

void retention_close(struct retention **rp)
{
    if (!rp || !*rp)
        return;
    struct retention *r = *rp;
    *rp = NULL;
    pthread_mutex_lock(&r->sched_lock);
    struct scheduler *s = r->sched;
    r->sched = NULL;
    pthread_mutex_unlock(&r->sched_lock);
    if (s)
        (void)scheduler_remove(s, SCHED_NAME);
    pthread_mutex_lock(&r->sched_lock);
    bool live = r->run_thread_live;
    r->run_thread_live = false;
    pthread_mutex_unlock(&r->sched_lock);
    if (live)
        pthread_join(r->run_thread, NULL);
    if (r->duck_conn)
        duckdb_disconnect(&r->duck_conn);
    if (r->duck)
        duckdb_close(&r->duck);
    if (r->db)
        sqlite3_close(r->db);
    pthread_mutex_destroy(&r->db_lock);
    pthread_mutex_destroy(&r->duck_lock);
    pthread_mutex_destroy(&r->sched_lock);
    xfree(r->temp_dir);
    xfree(r);
}

/* ---- policies ------------------------------------------------------------------ */

int retention_policy_validate(const struct retention_policy_input *in, struct errbuf *eb)
{
    if (!in->name || !in->name[0])
        return errbuf_set(eb, RC_INVALID, "name is required");
    if (strlen(in->name) > RETENTION_NAME_MAX)
        return errbuf_set(eb, RC_INVALID, "name must be at most %d bytes", RETENTION_NAME_MAX);
    if (!in->database || !in->database[0])
        return errbuf_set(eb, RC_INVALID, "database is required");
    if (!name_is_valid_database(in->database, strlen(in->database)))
        return errbuf_set(eb, RC_INVALID,
                          "Invalid database name: must match ^[A-Za-z][A-Za-z0-9_-]*$ and be at "
                          "most %d characters",
                          DB_NAME_MAX);
    if (in->measurement && !name_is_valid_measurement(in->measurement, strlen(in->measurement)))
        return errbuf_set(eb, RC_INVALID,
                          "Invalid measurement name: must match ^[A-Za-z][A-Za-z0-9_-]*$ and be "
                          "at most %d characters",
                          MEASUREMENT_NAME_MAX);
    if (in->retention_days <= 0)
        return errbuf_set(eb, RC_INVALID, "retention_days must be an integer greater than 0");
    if (in->buffer_days < 0)
        return errbuf_set(eb, RC_INVALID, "buffer_days must be an integer >= 0");
    /* Bounded so that (retention_days + buffer_days) days in µs cannot
     * overflow (~292k years); 100 years is plenty. */
    if (in->retention_days > 36500 || in->buffer_days > 36500)
        return errbuf_set(eb, RC_INVALID, "retention_days and buffer_days must be at most 36500");
    if (in->retention_days <= in->buffer_days)
        return errbuf_set(eb, RC_INVALID, "retention_days must be greater than buffer_days");
    return RC_OK;
}

static void row_to_policy(sqlite3_stmt *st, struct retention_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->id = sqlite3_column_int64(st, 0);
    const char *s = (const char *)sqlite3_column_text(st, 1);
    snprintf(p->name, sizeof(p->name), "%s", s ? s : "");
    s = (const char *)sqlite3_column_text(st, 2);
    snprintf(p->database, sizeof(p->database), "%s", s ? s : "");
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        s = (const char *)sqlite3_column_text(st, 3);
        snprintf(p->measurement, sizeof(p->measurement), "%s", s ? s : "");
        p->has_measurement = true;
    }
    p->retention_days = sqlite3_column_int64(st, 4);
    p->buffer_days = sqlite3_column_int64(st, 5);
    p->is_active = sqlite3_column_int(st, 6) != 0;
    if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
        p->has_last_execution = true;
        p->last_execution_time_us = sqlite3_column_int64(st, 7);
        s = (const char *)sqlite3_column_text(st, 8);
        snprintf(p->last_execution_status, sizeof(p->last_execution_status), "%s", s ? s : "");
        p->last_deleted_count = sqlite3_column_int64(st, 9);
    }
    p->created_at_us = sqlite3_column_int64(st, 10);
    p->updated_at_us = sqlite3_column_int64(st, 11);
}

/* Loads policy id (db_lock held). */
static int load_policy(struct retention *r, int64_t id, struct retention_policy *out,
                       struct errbuf *eb)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM retention_policies WHERE id = ?", policy_cols);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(r, eb, "prepare");
    sqlite3_bind_int64(st, 1, id);
    int rc = RC_OK;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        row_to_policy(st, out);
    else if (s == SQLITE_DONE)
        rc = errbuf_set(eb, RC_NOT_FOUND, "Retention policy not found");
    else
        rc = db_err(r, eb, "select policy");
    sqlite3_finalize(st);
    return rc;
}

static void bind_input(sqlite3_stmt *st, const struct retention_policy_input *in, int64_t now)
{
    sqlite3_bind_text(st, 1, in->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, in->database, -1, SQLITE_STATIC);
    if (in->measurement)
        sqlite3_bind_text(st, 3, in->measurement, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, in->retention_days);
    sqlite3_bind_int64(st, 5, in->buffer_days);
    sqlite3_bind_int(st, 6, in->is_active ? 1 : 0);
    sqlite3_bind_int64(st, 7, now);
}

static int write_policy(struct retention *r, int64_t id, const struct retention_policy_input *in,
                        struct retention_policy *out, struct errbuf *eb)
{
    int rc = retention_policy_validate(in, eb);
    if (rc != RC_OK)
        return rc;
    int64_t now = time_now_us();
    const char *sql =
        id ? "UPDATE retention_policies SET name = ?1, database = ?2, measurement = ?3,"
             " retention_days = ?4, buffer_days = ?5, is_active = ?6, updated_at_us = ?7"
             " WHERE id = ?8"
           : "INSERT INTO retention_policies (name, database, measurement, retention_days,"
             " buffer_days, is_active, created_at_us, updated_at_us)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";
    pthread_mutex_lock(&r->db_lock);
    sqlite3_stmt *st = NULL;
    if (id) {
        struct retention_policy cur;
        if ((rc = load_policy(r, id, &cur, eb)) != RC_OK)
            goto out;
    }
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(r, eb, "prepare");
        goto out;
    }
    bind_input(st, in, now);
    if (id)
        sqlite3_bind_int64(st, 8, id);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE) {
        if (sqlite3_extended_errcode(r->db) == SQLITE_CONSTRAINT_UNIQUE)
            rc = errbuf_set(eb, RC_EXISTS, "Retention policy '%.200s' already exists", in->name);
        else
            rc = db_err(r, eb, id ? "update policy" : "insert policy");
        goto out;
    }
    if (!id)
        id = sqlite3_last_insert_rowid(r->db);
    rc = load_policy(r, id, out, eb);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->db_lock);
    if (rc == RC_OK)
        log_info("retention", "policy %s id=%lld name=%s database=%s measurement=%s days=%lld+%lld",
                 sql[0] == 'U' ? "updated" : "created", (long long)out->id, out->name,
                 out->database, out->has_measurement ? out->measurement : "*",
                 (long long)out->retention_days, (long long)out->buffer_days);
    return rc;
}

int retention_create(struct retention *r, const struct retention_policy_input *in,
                     struct retention_policy *out, struct errbuf *eb)
{
    return write_policy(r, 0, in, out, eb);
}

int retention_update(struct retention *r, int64_t id, const struct retention_policy_input *in,
                     struct retention_policy *out, struct errbuf *eb)
{
    if (id <= 0)
        return errbuf_set(eb, RC_NOT_FOUND, "Retention policy not found");
    return write_policy(r, id, in, out, eb);
}

int retention_get(struct retention *r, int64_t id, struct retention_policy *out, struct errbuf *eb)
{
    pthread_mutex_lock(&r->db_lock);
    int rc = load_policy(r, id, out, eb);
    pthread_mutex_unlock(&r->db_lock);
    return rc;
}

int retention_list(struct retention *r, struct retention_policy **out, size_t *n, struct errbuf *eb)
{
    *out = NULL;
    *n = 0;
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT %s FROM retention_policies ORDER BY id", policy_cols);
    pthread_mutex_lock(&r->db_lock);
    sqlite3_stmt *st = NULL;
    int rc = RC_OK;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(r, eb, "prepare");
        goto out;
    }
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        row_to_policy(st, &(*out)[(*n)++]);
    }
    if (s != SQLITE_DONE) {
        rc = db_err(r, eb, "list policies");
        xfree(*out);
        *out = NULL;
        *n = 0;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->db_lock);
    return rc;
}

int retention_delete(struct retention *r, int64_t id, struct errbuf *eb)
{
    pthread_mutex_lock(&r->db_lock);
    struct retention_policy cur;
    int rc = load_policy(r, id, &cur, eb);
    if (rc == RC_OK) {
        char sql[200];
        snprintf(sql, sizeof(sql),
                 "BEGIN IMMEDIATE; DELETE FROM retention_executions WHERE policy_id = %lld;"
                 " DELETE FROM retention_policies WHERE id = %lld; COMMIT;",
                 (long long)id, (long long)id);
        rc = exec_sql(r, sql, eb);
        if (rc != RC_OK)
            (void)exec_sql(r, "ROLLBACK", NULL);
    }
    pthread_mutex_unlock(&r->db_lock);
    if (rc == RC_OK)
        log_info("retention", "policy deleted id=%lld name=%s", (long long)id, cur.name);
    return rc;
}

int retention__record(struct retention *r, int64_t policy_id, int64_t at_us, bool ok,
                      int64_t deleted, int64_t cutoff_us, double duration_ms, const char *error,
                      struct errbuf *eb)
{
    const char *status = ok ? "completed" : "failed";
    pthread_mutex_lock(&r->db_lock);
    sqlite3_stmt *a = NULL, *b = NULL;
    int rc = exec_sql(r, "BEGIN IMMEDIATE", eb);
    if (rc != RC_OK)
        goto out;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT INTO retention_executions (policy_id, execution_time_us, status,"
                           " deleted_count, cutoff_us, duration_ms, error_message)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db,
                           "UPDATE retention_policies SET last_execution_time_us = ?,"
                           " last_execution_status = ?, last_deleted_count = ? WHERE id = ?",
                           -1, &b, NULL) != SQLITE_OK) {
        rc = db_err(r, eb, "prepare");
        goto rollback;
    }
    sqlite3_bind_int64(a, 1, policy_id);
    sqlite3_bind_int64(a, 2, at_us);
    sqlite3_bind_text(a, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(a, 4, deleted);
    sqlite3_bind_int64(a, 5, cutoff_us);
    sqlite3_bind_double(a, 6, duration_ms);
    if (error && error[0])
        sqlite3_bind_text(a, 7, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(a, 7);
    sqlite3_bind_int64(b, 1, at_us);
    sqlite3_bind_text(b, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 3, deleted);
    sqlite3_bind_int64(b, 4, policy_id);
    if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(b) != SQLITE_DONE) {
        rc = db_err(r, eb, "record execution");
        goto rollback;
    }
    rc = exec_sql(r, "COMMIT", eb);
    if (rc == RC_OK)
        goto out;
rollback:
    (void)exec_sql(r, "ROLLBACK", NULL);
out:
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    pthread_mutex_unlock(&r->db_lock);
    return rc;
}

int retention_executions(struct retention *r, int64_t policy_id, size_t limit,
                         struct retention_execution **out, size_t *n, struct errbuf *eb)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&r->db_lock);
    struct retention_policy p;
    sqlite3_stmt *st = NULL;
    int rc = load_policy(r, policy_id, &p, eb);
    if (rc != RC_OK)
        goto out;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT id, policy_id, execution_time_us, status, deleted_count,"
                           " cutoff_us, duration_ms, error_message FROM retention_executions"
                           " WHERE policy_id = ? ORDER BY id DESC LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(r, eb, "prepare");
        goto out;
    }
    sqlite3_bind_int64(st, 1, policy_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(limit > INT64_MAX ? INT64_MAX : limit));
    size_t cap = 0;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = xrealloc(*out, cap * sizeof(**out));
        }
        struct retention_execution *e = &(*out)[(*n)++];
        memset(e, 0, sizeof(*e));
        e->id = sqlite3_column_int64(st, 0);
        e->policy_id = sqlite3_column_int64(st, 1);
        e->execution_time_us = sqlite3_column_int64(st, 2);
        const char *t = (const char *)sqlite3_column_text(st, 3);
        snprintf(e->status, sizeof(e->status), "%s", t ? t : "");
        e->deleted_count = sqlite3_column_int64(st, 4);
        e->cutoff_us = sqlite3_column_int64(st, 5);
        e->execution_duration_ms = sqlite3_column_double(st, 6);
        if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
            e->has_error = true;
            t = (const char *)sqlite3_column_text(st, 7);
            snprintf(e->error_message, sizeof(e->error_message), "%s", t ? t : "");
        }
    }
    if (s != SQLITE_DONE) {
        rc = db_err(r, eb, "list executions");
        xfree(*out);
        *out = NULL;
        *n = 0;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->db_lock);
    return rc;
}

/* ---- scheduled runs -------------------------------------------------------------- */

struct run_arg {
    struct retention *r;
    int64_t now_us;
};

static void *run_main(void *arg)
{
    struct run_arg *a = arg;
    pthread_setname_np(pthread_self(), "arc-retention");
    size_t ran = 0;
    struct errbuf eb = {0};
    if (retention_run_all(a->r, a->now_us, &ran, &eb) != RC_OK)
        log_error("retention", "scheduled run had failures policies=%zu err=%s", ran, eb.msg);
    else
        log_info("retention", "scheduled run finished policies=%zu", ran);
    atomic_store(&a->r->run_busy, false);
    xfree(a);
    return NULL;
}

static void on_cron(void *ctx, int64_t now_us)
{
    struct retention *r = ctx;
    if (atomic_exchange(&r->run_busy, true)) {
        log_warn("retention", "scheduled run skipped: the previous one is still running");
        return;
    }
    pthread_mutex_lock(&r->sched_lock);
    if (r->run_thread_live) {
        /* Finished (run_busy was false): reap it before starting another. */
        pthread_join(r->run_thread, NULL);
        r->run_thread_live = false;
    }
    struct run_arg *a = xmalloc(sizeof(*a));
    a->r = r;
    a->now_us = now_us;
    if (pthread_create(&r->run_thread, NULL, run_main, a) != 0) {
        log_error("retention", "cannot start the scheduled run thread");
        xfree(a);
        atomic_store(&r->run_busy, false);
    } else {
        r->run_thread_live = true;
    }
    pthread_mutex_unlock(&r->sched_lock);
}

int retention_schedule(struct retention *r, struct scheduler *s, const char *cron,
                       struct errbuf *eb)
{
    if (!cron || !cron[0])
        return RC_OK;
    struct cron_expr ce;
    struct errbuf ceb = {0};
    if (cron_parse(cron, &ce, &ceb) != RC_OK)
        return errbuf_set(eb, RC_INVALID, "retention.schedule: %s", ceb.msg);
    int rc = scheduler_add_cron(s, SCHED_NAME, cron, on_cron, r, eb);
    if (rc == RC_OK) {
        pthread_mutex_lock(&r->sched_lock);
        r->sched = s;
        pthread_mutex_unlock(&r->sched_lock);
        log_info("retention", "automatic runs scheduled cron=%s", cron);
    }
    return rc;
}
