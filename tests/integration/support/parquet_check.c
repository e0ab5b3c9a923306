/*
 * tests/integration/support/parquet_check.c — see parquet_check.h.
 *
 * Owns one in-memory DuckDB database and connection (opened lazily, closed
 * by an atexit handler). Single-threaded use only.
 */
#include "parquet_check.h"

#include <dirent.h>
#include <duckdb.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static duckdb_database pq_db;
static duckdb_connection pq_con;
static bool pq_open_done;

static void pq_close(void)
{
    if (pq_open_done) {
        duckdb_disconnect(&pq_con);
        duckdb_close(&pq_db);
        pq_open_done = false;
    }
}

static bool pq_exec_ok(const char *sql)
{
    duckdb_result res;
    bool ok = duckdb_query(pq_con, sql, &res) == DuckDBSuccess;
    if (!ok)
        print_error("duckdb: %s\n  sql: %s\n", duckdb_result_error(&res), sql);
    duckdb_destroy_result(&res);
    return ok;
}

static bool pq_open(void)
{
    if (pq_open_done)
        return true;
    if (duckdb_open(NULL, &pq_db) != DuckDBSuccess) {
        print_error("duckdb_open failed\n");
        return false;
    }
    if (duckdb_connect(pq_db, &pq_con) != DuckDBSuccess) {
        duckdb_close(&pq_db);
        print_error("duckdb_connect failed\n");
        return false;
    }
    pq_open_done = true;
    atexit(pq_close);
    /* Timestamps print in UTC whatever the machine's zone; nothing is
     * fetched from the network. */
    return pq_exec_ok("SET TimeZone = 'UTC'") && pq_exec_ok("SET threads = 1") &&
           pq_exec_ok("SET autoinstall_known_extensions = false");
}

void pq_dir(const struct arc_proc *p, const char *db, const char *m, char *out, size_t cap)
{
    snprintf(out, cap, "%s/data/arc/%s/%s", p->dir, db, m);
}

struct pathlist {
    char **v;
    size_t n, cap;
};

static void walk(const char *dir, struct pathlist *pl, int depth)
{
    if (depth > 16)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            walk(path, pl, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            size_t l = strlen(e->d_name);
            if (l > 8 && strcmp(e->d_name + l - 8, ".parquet") == 0) {
                if (pl->n == pl->cap) {
                    pl->cap = pl->cap ? pl->cap * 2 : 16;
                    pl->v = realloc(pl->v, pl->cap * sizeof(*pl->v));
                }
                pl->v[pl->n++] = strdup(path);
            }
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t pq_files(const struct arc_proc *p, const char *db, const char *m, char ***paths)
{
    char dir[1024];
    pq_dir(p, db, m, dir, sizeof(dir));
    struct pathlist pl = {0};
    walk(dir, &pl, 0);
    if (pl.n > 1)
        qsort(pl.v, pl.n, sizeof(*pl.v), cmp_str);
    if (paths)
        *paths = pl.v;
    else
        pq_paths_free(pl.v, pl.n);
    return pl.n;
}

void pq_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
}

/* Points the view `t` at the measurement's files; false if there are none
 * or DuckDB failed. */
static bool pq_view(const struct arc_proc *p, const char *db, const char *m)
{
    if (!pq_open())
        return false;
    if (pq_files(p, db, m, NULL) == 0)
        return false;
    char dir[1024], sql[1400];
    pq_dir(p, db, m, dir, sizeof(dir));
    snprintf(sql, sizeof(sql),
             "CREATE OR REPLACE TEMP VIEW t AS SELECT * FROM "
             "read_parquet('%s/**/*.parquet', union_by_name = true)",
             dir);
    return pq_exec_ok(sql);
}

static char *result_text(duckdb_result *res)
{
    idx_t rows = duckdb_row_count(res), cols = duckdb_column_count(res);
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (idx_t r = 0; r < rows; r++) {
        for (idx_t c = 0; c < cols; c++) {
            char *v = duckdb_value_is_null(res, c, r) ? NULL : duckdb_value_varchar(res, c, r);
            const char *s = v ? v : "NULL";
            size_t need = len + strlen(s) + 3;
            if (need > cap) {
                while (cap < need)
                    cap *= 2;
                out = realloc(out, cap);
            }
            len += (size_t)snprintf(out + len, cap - len, "%s%s", c ? "|" : "", s);
            if (v)
                duckdb_free(v);
        }
        out[len++] = '\n';
        out[len] = '\0';
    }
    return out;
}

char *pq_sql(const char *sql)
{
    if (!pq_open())
        return NULL;
    duckdb_result res;
    if (duckdb_query(pq_con, sql, &res) != DuckDBSuccess) {
        print_error("duckdb: %s\n  sql: %s\n", duckdb_result_error(&res), sql);
        duckdb_destroy_result(&res);
        return NULL;
    }
    char *out = result_text(&res);
    duckdb_destroy_result(&res);
    return out;
}

char *pq_rows(const struct arc_proc *p, const char *db, const char *m, const char *sql)
{
    if (!pq_view(p, db, m)) {
        print_error("no Parquet files for %s/%s\n", db, m);
        return NULL;
    }
    return pq_sql(sql);
}

int64_t pq_count(const struct arc_proc *p, const char *db, const char *m, const char *where)
{
    if (pq_files(p, db, m, NULL) == 0)
        return 0;
    if (!pq_view(p, db, m))
        return -1;
    char sql[2048];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM t%s%s", where ? " WHERE " : "",
             where ? where : "");
    duckdb_result res;
    if (duckdb_query(pq_con, sql, &res) != DuckDBSuccess) {
        print_error("duckdb: %s\n  sql: %s\n", duckdb_result_error(&res), sql);
        duckdb_destroy_result(&res);
        return -1;
    }
    int64_t n = duckdb_value_int64(&res, 0, 0);
    duckdb_destroy_result(&res);
    return n;
}

long pq_doubles(const struct arc_proc *p, const char *db, const char *m, const char *sql,
                double *out, size_t cap)
{
    if (!pq_view(p, db, m))
        return -1;
    duckdb_result res;
    if (duckdb_query(pq_con, sql, &res) != DuckDBSuccess) {
        print_error("duckdb: %s\n  sql: %s\n", duckdb_result_error(&res), sql);
        duckdb_destroy_result(&res);
        return -1;
    }
    idx_t rows = duckdb_row_count(&res);
    for (idx_t r = 0; r < rows && r < cap; r++)
        out[r] = duckdb_value_is_null(&res, 0, r) ? NAN : duckdb_value_double(&res, 0, r);
    duckdb_destroy_result(&res);
    return (long)rows;
}
