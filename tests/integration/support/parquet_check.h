/*
 * tests/integration/support/parquet_check.h — read the Parquet files a test
 * server wrote, directly with DuckDB (not through the server), so ingestion
 * tests can check exactly what landed on disk.
 *
 * A measurement's files are <p->dir>/data/arc/<db>/<m>/ ** / *.parquet (the
 * harness runs the server with cwd = p->dir and the default base path
 * ./data/arc). Queries run on one in-memory DuckDB database opened on first
 * use (TimeZone = UTC) and closed at exit; the test programs are single
 * threaded, so no locking. Failures print DuckDB's message and return the
 * "error" value documented per function; they never abort by themselves.
 */
#ifndef ITEST_PARQUET_CHECK_H
#define ITEST_PARQUET_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* "<p->dir>/data/arc/<db>/<m>" into out. */
void pq_dir(const struct arc_proc *p, const char *db, const char *m, char *out, size_t cap);

/* Lists the visible *.parquet files under the measurement directory
 * (recursively), sorted by path. Returns the count; *paths (may be NULL when
 * the caller only wants the count) gets a malloc'd array of malloc'd paths,
 * freed with pq_paths_free. A missing directory gives 0. */
size_t pq_files(const struct arc_proc *p, const char *db, const char *m, char ***paths);
void pq_paths_free(char **paths, size_t n);

/* Number of rows in the measurement's files matching `where` (an SQL
 * condition over the columns, or NULL for all rows). 0 when there are no
 * files; -1 on a DuckDB error. */
int64_t pq_count(const struct arc_proc *p, const char *db, const char *m, const char *where);

/* Runs `sql`, in which the name `t` is a view over the measurement's files
 * (read_parquet(glob, union_by_name=true)), and returns the result as text:
 * one line per row, values separated by '|', NULL printed as "NULL", each row
 * ending in '\n' (an empty result is ""). Values are DuckDB's VARCHAR casts.
 * Returns malloc'd text (free it), or NULL on error / no files. */
char *pq_rows(const struct arc_proc *p, const char *db, const char *m, const char *sql);

/* Runs any SQL (e.g. over parquet_schema('<file>')) and returns the result
 * text as pq_rows does. NULL on error. */
char *pq_sql(const char *sql);

/* Runs `sql` over the view `t` as pq_rows does and copies the first column,
 * read as DOUBLE through the C API (bit exact, no text round trip), into
 * out[0..cap). NULL values become NaN. Returns the row count, -1 on error. */
long pq_doubles(const struct arc_proc *p, const char *db, const char *m, const char *sql,
                double *out, size_t cap);

/* Asserts that pq_rows(p, db, m, sql) equals `expected` exactly, printing
 * both on failure. */
#define assert_pq_rows(p, db, m, sql, expected)                                                    \
    do {                                                                                           \
        char *got_ = pq_rows((p), (db), (m), (sql));                                               \
        if (!got_ || strcmp(got_, (expected)) != 0) {                                              \
            print_error("query: %s\nexpected:\n%s\ngot:\n%s\n", (sql), (expected),                 \
                        got_ ? got_ : "(error)");                                                  \
            free(got_);                                                                            \
            fail();                                                                                \
        }                                                                                          \
        free(got_);                                                                                \
    } while (0)

#endif
