/*
 * auth/store.c — the token table in SQLite (layout in auth_internal.h).
 *
 * One connection, serialised by db_lock. The lock is held across SQLite
 * calls on purpose — it exists to serialise this connection — and nothing
 * else is ever taken while holding it, so it cannot be part of a deadlock.
 * The request path only reaches it on a cache miss (a read); writes come
 * from token management, bootstrap and the background last-use flush.
 * Statements are prepared per call: token management is rare, and a miss is
 * dominated by the lookup itself.
 *
 * The file is created 0600 before SQLite opens it (SQLite would use 0644);
 * the -wal and -shm files inherit the mode. Other processes (`arc token …`)
 * may open the same file: writes use BEGIN IMMEDIATE and a busy timeout.
 *
 * Threads: any (thread-safe through db_lock).
 */
#include "auth/auth_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/log.h"
#include "util/mem.h"

struct auth__store {
    /* db_lock guards db (one connection, NOMUTEX mode). */
    pthread_mutex_t db_lock;
    sqlite3 *db;
};

static const char ddl[] =
    "CREATE TABLE IF NOT EXISTS auth_tokens ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " description TEXT NOT NULL DEFAULT '',"
    " permissions TEXT NOT NULL,"
    " lookup_key TEXT NOT NULL,"
    " verifier TEXT NOT NULL,"
    " created_at_us INTEGER NOT NULL,"
    " last_used_us INTEGER,"
    " expires_at_us INTEGER,"
    " enabled INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX IF NOT EXISTS auth_tokens_lookup ON auth_tokens(lookup_key);";

#define COLS                                                                                       \
    "id, name, description, permissions, created_at_us, last_used_us, expires_at_us, enabled"

static int db_err(struct auth__store *s, struct errbuf *eb, const char *what)
{
    return errbuf_set(eb, RC_DB, "auth store: %s: %s", what, sqlite3_errmsg(s->db));
}

/* Creates every missing parent directory of path (0755). */
static int make_parents(const char *path, struct errbuf *eb)
{
    char *dir = xstrdup(path);
    int rc = RC_OK;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            rc = errbuf_set(eb, RC_IO, "auth store: mkdir %s: %s", dir, strerror(errno));
            goto out;
        }
        *p = '/';
    }
out:
    xfree(dir);
    return rc;
}

static int exec_sql(struct auth__store *s, const char *sql, struct errbuf *eb)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = errbuf_set(eb, RC_DB, "auth store: %s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return rc;
    }
    return RC_OK;
}

int auth__store_open(const char *path, struct auth__store **out, struct errbuf *eb)
{
    int rc = make_parents(path, eb);
    if (rc != RC_OK)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errbuf_set(eb, RC_IO, "auth store: open %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0)
        log_warn("auth", "cannot chmod 0600 path=%s err=%s", path, strerror(errno));
    close(fd);

    struct auth__store *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->db_lock, NULL);
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = errbuf_set(eb, RC_DB, "auth store: open %s: %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    if ((rc = exec_sql(s, "PRAGMA journal_mode=WAL", eb)) != RC_OK ||
        (rc = exec_sql(s, "PRAGMA synchronous=FULL", eb)) != RC_OK ||
        (rc = exec_sql(s, ddl, eb)) != RC_OK)
        goto fail;
    *out = s;
    return RC_OK;
fail:
    auth__store_close(&s);
    return rc;
}

void auth__store_close(struct auth__store **sp)
{
    if (!sp || !*sp)
        return;
    struct auth__store *s = *sp;
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->db_lock);
    xfree(s);
    *sp = NULL;
}

/* --- row helpers ------------------------------------------------------------- */

static char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return xstrdup(t ? (const char *)t : "");
}

static unsigned col_perms(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    unsigned mask = 0;
    if (t && auth_perms_parse((const char *)t, strlen((const char *)t), &mask, NULL) != RC_OK)
        log_warn("auth", "stored permissions contain an unknown value; ignored");
    return mask;
}

/* Reads the COLS columns starting at column 0. */
static void read_info(sqlite3_stmt *st, struct auth_token_info *t)
{
    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(st, 0);
    t->name = col_str(st, 1);
    t->description = col_str(st, 2);
    t->perms = col_perms(st, 3);
    t->created_at_us = sqlite3_column_int64(st, 4);
    t->has_last_used = sqlite3_column_type(st, 5) != SQLITE_NULL;
    t->last_used_at_us = t->has_last_used ? sqlite3_column_int64(st, 5) : 0;
    t->has_expiry = sqlite3_column_type(st, 6) != SQLITE_NULL;
    t->expires_at_us = t->has_expiry ? sqlite3_column_int64(st, 6) : 0;
    t->enabled = sqlite3_column_int(st, 7) != 0;
}

static void bind_expiry(sqlite3_stmt *st, int i, bool has, int64_t v)
{
    if (has)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static bool is_unique_violation(int src)
{
    return src == SQLITE_CONSTRAINT_UNIQUE;
}

/* --- queries ----------------------------------------------------------------- */

int auth__store_count(struct auth__store *s, int64_t *out, struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_prepare_v2(s->db, "SELECT COUNT(*) FROM auth_tokens", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = db_err(s, eb, "count");
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int auth__store_insert(struct auth__store *s, const struct auth_token_spec *spec,
                       int64_t created_at_us, const char *lookup, const char *verifier,
                       unsigned flags, int64_t *out_id, struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    bool in_tx = false;
    char perms[64];
    auth_perms_format(spec->set_perms ? spec->perms : AUTH_PERM_DEFAULT, perms, sizeof(perms));

    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "begin");
        goto out;
    }
    in_tx = true;
    if (flags & AUTH__INS_IF_EMPTY) {
        if (sqlite3_prepare_v2(s->db, "SELECT COUNT(*) FROM auth_tokens", -1, &st, NULL) !=
                SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
            rc = db_err(s, eb, "count");
            goto out;
        }
        int64_t n = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        st = NULL;
        if (n > 0) {
            rc = errbuf_set(eb, RC_EXISTS, "auth store: not empty");
            goto out;
        }
    }
    if (flags & AUTH__INS_REPLACE) {
        if (sqlite3_prepare_v2(s->db,
                               "UPDATE auth_tokens SET permissions = ?, lookup_key = ?,"
                               " verifier = ?, expires_at_us = ?, enabled = 1 WHERE name = ?",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = db_err(s, eb, "prepare");
            goto out;
        }
        sqlite3_bind_text(st, 1, perms, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, lookup, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, verifier, -1, SQLITE_TRANSIENT);
        bind_expiry(st, 4, spec->set_expiry && spec->has_expiry, spec->expires_at_us);
        sqlite3_bind_text(st, 5, spec->name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_err(s, eb, "update");
            goto out;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (sqlite3_changes(s->db) > 0) {
            if (sqlite3_prepare_v2(s->db, "SELECT id FROM auth_tokens WHERE name = ?", -1, &st,
                                   NULL) != SQLITE_OK) {
                rc = db_err(s, eb, "prepare");
                goto out;
            }
            sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_ROW) {
                rc = db_err(s, eb, "select");
                goto out;
            }
            *out_id = sqlite3_column_int64(st, 0);
            goto commit;
        }
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO auth_tokens (name, description, permissions, lookup_key,"
                           " verifier, created_at_us, expires_at_us, enabled)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, spec->description ? spec->description : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, perms, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, lookup, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, verifier, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 6, created_at_us);
    bind_expiry(st, 7, spec->set_expiry && spec->has_expiry, spec->expires_at_us);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE) {
        if (is_unique_violation(src))
            rc = errbuf_set(eb, RC_EXISTS, "Token name '%s' already exists", spec->name);
        else
            rc = db_err(s, eb, "insert");
        goto out;
    }
    *out_id = sqlite3_last_insert_rowid(s->db);
commit:
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "commit");
        goto out;
    }
    in_tx = false;
out:
    sqlite3_finalize(st);
    if (in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int auth__store_find(struct auth__store *s, const char *lookup, struct auth__cand **out, size_t *n,
                     struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    struct auth__cand *v = NULL;
    size_t cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, name, permissions, expires_at_us, enabled, verifier"
                           " FROM auth_tokens WHERE lookup_key = ? ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    sqlite3_bind_text(st, 1, lookup, -1, SQLITE_TRANSIENT);
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        struct auth__cand *c = &v[cnt++];
        memset(c, 0, sizeof(*c));
        c->p.id = sqlite3_column_int64(st, 0);
        const unsigned char *name = sqlite3_column_text(st, 1);
        snprintf(c->p.name, sizeof(c->p.name), "%s", name ? (const char *)name : "");
        c->p.perms = col_perms(st, 2);
        c->p.has_expiry = sqlite3_column_type(st, 3) != SQLITE_NULL;
        c->p.expires_at_us = c->p.has_expiry ? sqlite3_column_int64(st, 3) : 0;
        c->enabled = sqlite3_column_int(st, 4) != 0;
        c->verifier = col_str(st, 5);
    }
    if (src != SQLITE_DONE) {
        rc = db_err(s, eb, "lookup");
        goto out;
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_lock);
    if (rc != RC_OK) {
        auth__cands_free(v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return RC_OK;
}

void auth__cands_free(struct auth__cand *c, size_t n)
{
    for (size_t i = 0; c && i < n; i++) {
        if (c[i].verifier) {
            memset(c[i].verifier, 0, strlen(c[i].verifier));
            xfree(c[i].verifier);
        }
    }
    xfree(c);
}

int auth__store_get(struct auth__store *s, int64_t id, const char *name,
                    struct auth_token_info *out, struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->db_lock);
    const char *sql = name ? "SELECT " COLS " FROM auth_tokens WHERE name = ?"
                           : "SELECT " COLS " FROM auth_tokens WHERE id = ?";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        if (name)
            rc = errbuf_set(eb, RC_NOT_FOUND, "Token '%s' not found", name);
        else
            rc = errbuf_set(eb, RC_NOT_FOUND, "Token %lld not found", (long long)id);
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = db_err(s, eb, "get");
        goto out;
    }
    read_info(st, out);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int auth__store_list(struct auth__store *s, struct auth_token_info **out, size_t *n,
                     struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    struct auth_token_info *v = NULL;
    size_t cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM auth_tokens ORDER BY id", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof(*v));
        }
        read_info(st, &v[cnt++]);
    }
    if (src != SQLITE_DONE)
        rc = db_err(s, eb, "list");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_lock);
    if (rc != RC_OK) {
        auth_token_list_free(&v, cnt);
        return rc;
    }
    *out = v;
    *n = cnt;
    return RC_OK;
}

int auth__store_update(struct auth__store *s, int64_t id, const struct auth_token_spec *spec,
                       struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    bool in_tx = false;
    struct auth_token_info cur;
    bool have_cur = false;

    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "begin");
        goto out;
    }
    in_tx = true;
    if (sqlite3_prepare_v2(s->db, "SELECT " COLS " FROM auth_tokens WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    sqlite3_bind_int64(st, 1, id);
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        rc = errbuf_set(eb, RC_NOT_FOUND, "Token %lld not found", (long long)id);
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = db_err(s, eb, "get");
        goto out;
    }
    read_info(st, &cur);
    have_cur = true;
    sqlite3_finalize(st);
    st = NULL;

    const char *name = spec->name ? spec->name : cur.name;
    const char *desc = spec->description ? spec->description : cur.description;
    unsigned perms = spec->set_perms ? spec->perms : cur.perms;
    bool has_exp = spec->set_expiry ? spec->has_expiry : cur.has_expiry;
    int64_t exp = spec->set_expiry ? spec->expires_at_us : cur.expires_at_us;
    bool enabled = spec->set_enabled ? spec->enabled : cur.enabled;
    char pbuf[64];
    auth_perms_format(perms, pbuf, sizeof(pbuf));

    if (sqlite3_prepare_v2(s->db,
                           "UPDATE auth_tokens SET name = ?, description = ?, permissions = ?,"
                           " expires_at_us = ?, enabled = ? WHERE id = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, desc, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, pbuf, -1, SQLITE_TRANSIENT);
    bind_expiry(st, 4, has_exp, exp);
    sqlite3_bind_int(st, 5, enabled ? 1 : 0);
    sqlite3_bind_int64(st, 6, id);
    src = sqlite3_step(st);
    if (src != SQLITE_DONE) {
        if (is_unique_violation(src))
            rc = errbuf_set(eb, RC_EXISTS, "Token name '%s' already exists", name);
        else
            rc = db_err(s, eb, "update");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "commit");
        goto out;
    }
    in_tx = false;
out:
    sqlite3_finalize(st);
    if (in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->db_lock);
    if (have_cur)
        auth_token_info_cleanup(&cur);
    return rc;
}

/* Runs a one-statement write on row id; RC_NOT_FOUND when no row changed. */
static int write_one(struct auth__store *s, const char *sql, int64_t id, const char *a1,
                     const char *a2, struct errbuf *eb)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    int i = 1;
    if (a1)
        sqlite3_bind_text(st, i++, a1, -1, SQLITE_TRANSIENT);
    if (a2)
        sqlite3_bind_text(st, i++, a2, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, i, id);
    if (sqlite3_step(st) != SQLITE_DONE) {
        rc = db_err(s, eb, "write");
        goto out;
    }
    if (sqlite3_changes(s->db) == 0)
        rc = errbuf_set(eb, RC_NOT_FOUND, "Token %lld not found", (long long)id);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int auth__store_set_secret(struct auth__store *s, int64_t id, const char *lookup,
                           const char *verifier, struct errbuf *eb)
{
    return write_one(s, "UPDATE auth_tokens SET lookup_key = ?, verifier = ? WHERE id = ?", id,
                     lookup, verifier, eb);
}

int auth__store_delete(struct auth__store *s, int64_t id, struct errbuf *eb)
{
    return write_one(s, "DELETE FROM auth_tokens WHERE id = ?", id, NULL, NULL, eb);
}

int auth__store_touch(struct auth__store *s, const struct auth__use *uses, size_t n,
                      struct errbuf *eb)
{
    if (n == 0)
        return RC_OK;
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    bool in_tx = false;
    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "begin");
        goto out;
    }
    in_tx = true;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE auth_tokens SET last_used_us = ?1 WHERE id = ?2"
                           " AND (last_used_us IS NULL OR last_used_us < ?1)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "prepare");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, uses[i].ts_us);
        sqlite3_bind_int64(st, 2, uses[i].id);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = db_err(s, eb, "touch");
            goto out;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_err(s, eb, "commit");
        goto out;
    }
    in_tx = false;
out:
    sqlite3_finalize(st);
    if (in_tx)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}

int auth__store_data_version(struct auth__store *s, int64_t *out)
{
    int rc = RC_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->db_lock);
    if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = RC_DB;
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->db_lock);
    return rc;
}
