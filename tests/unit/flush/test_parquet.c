/* Unit tests for flush/parquet.c + flush/writer.c: files are read back with a
 * separate real DuckDB (read_parquet, parquet_schema, parquet_kv_metadata,
 * parquet_metadata) and checked for column order and types, NULLs, sort
 * order, hour partitioning and directory names, arc:tags, statistics,
 * compression, row-group size, odd column names, staging leftovers, unique
 * names under concurrent writers, failure cleanup, catalog visibility. */
#include "test_helpers.h"

#include <dirent.h>
#include <duckdb.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "flush/parquet.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "storage/storage.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* 2025-01-15T14:00:00Z */
#define H14 (INT64_C(1736949600) * US_PER_SEC)

struct env {
    char dir[256];
    char base[300];
    struct storage *st;
    struct catalog *cat;
    struct flush_writer *w;
    duckdb_database rdb; /* reader */
    duckdb_connection rc;
};

static struct env E;

static struct flush_writer *new_writer(const struct flush_writer_options *o)
{
    struct flush_writer *w = NULL;
    struct errbuf eb = {0};
    if (flush_writer_new(E.st, E.cat, o, &w, &eb) != RC_OK)
        fail_msg("flush_writer_new: %s", eb.msg);
    return w;
}

static int setup(void **state)
{
    snprintf(E.dir, sizeof(E.dir), "/tmp/arc-test-flush-XXXXXX");
    if (!mkdtemp(E.dir))
        return -1;
    /* A quote in the base path: every path literal must be escaped. */
    snprintf(E.base, sizeof(E.base), "%s/da'ta", E.dir);
    struct errbuf eb = {0};
    if (storage_new_local(E.base, &E.st, &eb) != RC_OK)
        return -1;
    char cpath[300];
    snprintf(cpath, sizeof(cpath), "%s/catalog.db", E.dir);
    if (catalog_open(cpath, &E.cat, &eb) != RC_OK)
        return -1;
    struct flush_writer_options o = {
        .compression = "snappy", .flush_timeout_seconds = 30, .duckdb_threads = 1};
    E.w = new_writer(&o);
    if (duckdb_open(NULL, &E.rdb) == DuckDBError || duckdb_connect(E.rdb, &E.rc) == DuckDBError)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    duckdb_disconnect(&E.rc);
    duckdb_close(&E.rdb);
    flush_writer_free(&E.w);
    catalog_close(&E.cat);
    storage_free(&E.st);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- reading back --------------------------------------------------------- */

/* Runs sql (with %s replaced by the quoted path) and returns row 0 col 0 as
 * a string (static buffer), "NULL" for NULL. */
/* fmt is always a literal in this file; it carries the path's %s. */
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static const char *q1(const char *fmt, const char *path)
{
    static char out[4096];
    char lit[1200], sql[4096];
    size_t k = 0;
    lit[k++] = '\'';
    for (const char *p = path; *p; p++) {
        if (*p == '\'')
            lit[k++] = '\'';
        lit[k++] = *p;
    }
    lit[k++] = '\'';
    lit[k] = '\0';
    snprintf(sql, sizeof(sql), fmt, lit);
    duckdb_result res;
    if (duckdb_query(E.rc, sql, &res) == DuckDBError)
        fail_msg("query failed: %s\n%s", duckdb_result_error(&res), sql);
    if (duckdb_row_count(&res) == 0) {
        snprintf(out, sizeof(out), "<no rows>");
    } else if (duckdb_value_is_null(&res, 0, 0)) {
        snprintf(out, sizeof(out), "NULL");
    } else {
        char *v = duckdb_value_varchar(&res, 0, 0);
        snprintf(out, sizeof(out), "%s", v);
        duckdb_free(v);
    }
    duckdb_destroy_result(&res);
    return out;
}

static long long q1i(const char *fmt, const char *path)
{
    return atoll(q1(fmt, path));
}

static const char *local_path(const char *key)
{
    static char p[1500];
    snprintf(p, sizeof(p), "%s/%s", storage_local_root(E.st), key);
    return p;
}

/* Counts regular files below dir; hidden ones (staging) separately. */
static void count_files(const char *dir, int *parquet, int *hidden, int *other)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char p[2048];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            count_files(p, parquet, hidden, other);
        } else if (de->d_name[0] == '.') {
            (*hidden)++;
        } else {
            size_t n = strlen(de->d_name);
            if (n > 8 && !strcmp(de->d_name + n - 8, ".parquet"))
                (*parquet)++;
            else
                (*other)++;
        }
    }
    closedir(d);
}

static void assert_storage_files(int want_parquet)
{
    int pq = 0, hidden = 0, other = 0;
    count_files(E.base, &pq, &hidden, &other);
    assert_int_equal(hidden, 0);
    assert_int_equal(other, 0);
    assert_int_equal(pq, want_parquet);
}

/* ---- building batches ------------------------------------------------------ */

static int col(struct batch *b, const char *name, enum col_type t, bool tag)
{
    enum col_type ex;
    int c = batch_col_get(b, name, strlen(name), t, tag, &ex);
    assert_true(c >= 0);
    return c;
}

static size_t write_ok(struct flush_writer *w, const char *db, const char *m, struct batch **bs,
                       size_t n, const char *const **keys, const uint64_t **ids, void **tok)
{
    struct errbuf eb = {0};
    int rc = flush_writer_write(w, db, m, bs, n, tok, &eb);
    if (rc != RC_OK)
        fail_msg("write: %s", eb.msg);
    return flush_writer_token_files(*tok, keys, ids);
}

static void unref_all(struct batch **bs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        batch_unref(&bs[i]);
}

#define WEIRD "we\"ird 'name'"
#define UNI "t\xc3\xabmp\xc2\xb0" /* "tëmp°" */

/* ---- tests ---------------------------------------------------------------- */

static void test_types_order_nulls(void **state)
{
    /* Batch A: every type, unsorted times in one hour. */
    struct batch *a = batch_new("db", "cpu");
    int host = col(a, "host", COL_STRING, true);
    int region = col(a, "region", COL_STRING, true);
    int usage = col(a, "usage", COL_DOUBLE, false);
    int cnt = col(a, "count", COL_INT64, false);
    int big = col(a, "big", COL_UINT64, false);
    int ok = col(a, "ok", COL_BOOL, false);
    int weird = col(a, WEIRD, COL_STRING, false);
    int uni = col(a, UNI, COL_DOUBLE, false);
    for (int i = 0; i < 3000; i++) {
        int64_t t = H14 + (int64_t)((i * 7919) % 3000) * 1000000; /* permutation of seconds */
        size_t r = batch_row_add(a, t);
        batch_set_str(a, host, r, i % 2 ? "a" : "bb", i % 2 ? 1 : 2);
        batch_set_str(a, region, r, "eu", 2);
        batch_set_f64(a, usage, r, i * 0.5);
        batch_set_i64(a, cnt, r, -i);
        batch_set_u64(a, big, r, UINT64_C(9223372036854775808) + (uint64_t)i);
        batch_set_bool(a, ok, r, i % 3 == 0);
        if (i % 10 != 0) /* some NULLs inside a present column */
            batch_set_str(a, weird, r, "x'y\"z", 5);
        batch_set_f64(a, uni, r, 1.25);
    }
    batch_seal(a);
    /* Batch B: lacks usage/weird/uni, adds extra; host is a field here. */
    struct batch *b = batch_new("db", "cpu");
    int bh = col(b, "host", COL_STRING, false);
    int extra = col(b, "extra", COL_INT64, false);
    int bok = col(b, "ok", COL_BOOL, false);
    for (int i = 0; i < 1000; i++) {
        size_t r = batch_row_add(b, H14 + 3000 * INT64_C(1000000) + i);
        batch_set_str(b, bh, r, "c", 1);
        batch_set_i64(b, extra, r, i);
        batch_set_bool(b, bok, r, true);
    }
    batch_seal(b);

    struct batch *bs[2] = {a, b};
    const char *const *keys;
    const uint64_t *ids;
    void *tok;
    size_t n = write_ok(E.w, "db", "cpu", bs, 2, &keys, &ids, &tok);
    assert_int_equal(n, 1);
    /* Key: db/cpu/2025/01/15/14/cpu_YYYYMMDD_HHMMSS_NNNNNNNNN.parquet */
    const char *k = keys[0];
    assert_memory_equal(k, "db/cpu/2025/01/15/14/cpu_", 25);
    assert_int_equal(strlen(k), 25 + 8 + 1 + 6 + 1 + 9 + 8);
    for (int i = 0; i < 8; i++)
        assert_true(k[25 + i] >= '0' && k[25 + i] <= '9');
    assert_int_equal(k[33], '_');
    assert_int_equal(k[40], '_');
    assert_string_equal(k + 50, ".parquet");

    /* Not visible before publish, visible after. */
    struct catalog_file_list l;
    catalog_files_list(E.cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 0);
    char key[256];
    snprintf(key, sizeof(key), "%s", k);
    uint64_t id = ids[0];
    flush_writer_publish(E.w, tok);
    catalog_files_list(E.cat, "db", "cpu", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.files[0].id, id);
    assert_string_equal(l.files[0].key, key);
    assert_int_equal(l.files[0].row_count, 4000);
    assert_int_equal(l.files[0].min_time_us, H14);
    assert_int_equal(l.files[0].max_time_us, H14 + 3000 * INT64_C(1000000) + 999);
    struct stat sb;
    const char *p = local_path(key);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(l.files[0].bytes, (uint64_t)sb.st_size);
    catalog_file_list_free(&l);
    assert_storage_files(1);

    /* Column order and DuckDB types. */
    assert_string_equal(
        q1("SELECT string_agg(column_name || ':' || column_type, '|') FROM "
           "(DESCRIBE SELECT * FROM read_parquet(%s))",
           p),
        "time:TIMESTAMP WITH TIME ZONE|big:UBIGINT|count:BIGINT|extra:BIGINT|host:VARCHAR|"
        "ok:BOOLEAN|region:VARCHAR|" UNI ":DOUBLE|usage:DOUBLE|" WEIRD ":VARCHAR");
    /* Physical/logical Parquet types of time and big. */
    assert_string_equal(q1("SELECT type || ' ' || logical_type FROM parquet_schema(%s) "
                           "WHERE name = 'time'",
                           p),
                        "INT64 TimestampType(isAdjustedToUTC=1, unit=TimeUnit(MILLIS=<null>, "
                        "MICROS=MicroSeconds(), NANOS=<null>))");
    /* Unsigned: DuckDB annotates the legacy ConvertedType UINT_64, which the
     * Parquet format defines as equivalent to LogicalType INT(64, false). */
    assert_string_equal(q1("SELECT type || ' ' || converted_type FROM parquet_schema(%s) "
                           "WHERE name = 'big'",
                           p),
                        "INT64 UINT_64");
    /* Values. */
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", p), 4000);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s) WHERE usage IS NULL", p), 1000);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s) WHERE extra IS NULL", p), 3000);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s) WHERE \"" UNI "\" IS NULL", p),
                     1000);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s) WHERE \"we\"\"ird 'name'\" IS "
                         "NULL",
                         p),
                     1000 + 300);
    assert_string_equal(q1("SELECT any_value(\"we\"\"ird 'name'\") FROM read_parquet(%s)", p),
                        "x'y\"z");
    assert_string_equal(q1("SELECT max(big)::VARCHAR FROM read_parquet(%s)", p),
                        "9223372036854778807");
    assert_int_equal(q1i("SELECT min(count) FROM read_parquet(%s)", p), -2999);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s) WHERE ok", p), 1000 + 1000);
    assert_int_equal(q1i("SELECT epoch_us(min(time)) FROM read_parquet(%s)", p), H14);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s) WHERE host = 'c'", p), 1000);
    /* Sorted by time in file order. */
    assert_int_equal(q1i("SELECT count(*) FROM (SELECT time, lag(time) OVER (ORDER BY "
                         "file_row_number) AS prev FROM read_parquet(%s, file_row_number=true)) "
                         "WHERE prev > time",
                         p),
                     0);
    assert_int_equal(q1i("SELECT epoch_us(time) FROM read_parquet(%s, file_row_number=true) "
                         "WHERE file_row_number = 1",
                         p),
                     H14 + 1000000);
    /* arc:tags: host is a tag in one batch, region in the other -> both. */
    assert_string_equal(q1("SELECT decode(value) FROM parquet_kv_metadata(%s) "
                           "WHERE decode(key) = 'arc:tags'",
                           p),
                        "host,region");
    /* Statistics and codec on every column chunk. */
    assert_int_equal(q1i("SELECT count(*) FROM parquet_metadata(%s)", p), 10);
    assert_int_equal(q1i("SELECT count(*) FROM parquet_metadata(%s) WHERE compression = "
                         "'SNAPPY'",
                         p),
                     10);
    assert_int_equal(q1i("SELECT count(*) FROM parquet_metadata(%s) WHERE stats_min_value IS "
                         "NOT NULL AND stats_max_value IS NOT NULL",
                         p),
                     10);
    assert_string_equal(q1("SELECT stats_min_value || '..' || stats_max_value FROM "
                           "parquet_metadata(%s) WHERE path_in_schema = 'count'",
                           p),
                        "-2999..0");
    assert_int_equal(q1i("SELECT stats_null_count FROM parquet_metadata(%s) WHERE "
                         "path_in_schema = 'usage'",
                         p),
                     1000);
    unref_all(bs, 2);
}

static void test_three_hours(void **state)
{
    struct batch *a = batch_new("db", "m");
    int v = col(a, "v", COL_INT64, false);
    /* Rows spanning 14:xx, 15:xx, 16:xx, plus one before the epoch (floor of
     * a negative time) — interleaved. */
    int64_t times[] = {
        H14 + 2 * US_PER_HOUR + 5, H14 + 10, H14 + US_PER_HOUR,    H14 + US_PER_HOUR - 1,
        H14 + 2 * US_PER_HOUR,     -1,       H14 + US_PER_HOUR + 7};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        size_t r = batch_row_add(a, times[i]);
        batch_set_i64(a, v, r, (int64_t)i);
    }
    batch_seal(a);
    struct batch *bs[1] = {a};
    const char *const *keys;
    const uint64_t *ids;
    void *tok;
    size_t n = write_ok(E.w, "db", "m", bs, 1, &keys, &ids, &tok);
    assert_int_equal(n, 4);
    const char *dirs[] = {"db/m/1969/12/31/23/m_", "db/m/2025/01/15/14/m_", "db/m/2025/01/15/15/m_",
                          "db/m/2025/01/15/16/m_"};
    long long rows[] = {1, 2, 2, 2};
    long long first[] = {-1, H14 + 10, H14 + US_PER_HOUR, H14 + 2 * US_PER_HOUR};
    for (size_t i = 0; i < 4; i++) {
        assert_memory_equal(keys[i], dirs[i], strlen(dirs[i]));
        const char *p = local_path(keys[i]);
        assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", p), rows[i]);
        assert_int_equal(q1i("SELECT epoch_us(time) FROM read_parquet(%s, file_row_number=true) "
                             "WHERE file_row_number = 0",
                             p),
                         first[i]);
        /* arc:tags absent when there are no tags. */
        assert_int_equal(q1i("SELECT count(*) FROM parquet_kv_metadata(%s) WHERE decode(key) = "
                             "'arc:tags'",
                             p),
                         0);
    }
    flush_writer_publish(E.w, tok);
    struct catalog_file_list l;
    catalog_files_list(E.cat, "db", "m", H14 + US_PER_HOUR, H14 + 2 * US_PER_HOUR, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.files[0].min_time_us, H14 + US_PER_HOUR);
    assert_int_equal(l.files[0].max_time_us, H14 + US_PER_HOUR + 7);
    assert_int_equal(l.files[0].row_count, 2);
    catalog_file_list_free(&l);
    assert_storage_files(4);
    unref_all(bs, 1);
}

static void test_row_groups_zstd_sort_keys(void **state)
{
    const char *sk[] = {"other:x", "big:host,nope"};
    struct flush_writer_options o = {
        .compression = "ZSTD", .sort_keys = sk, .n_sort_keys = 2, .duckdb_threads = 2};
    struct flush_writer *w = new_writer(&o);
    enum { NB = 50, PER = 5000 }; /* 250 000 rows: 3 row groups */
    struct batch *bs[NB];
    for (int i = 0; i < NB; i++) {
        bs[i] = batch_new("db", "big");
        int h = col(bs[i], "host", COL_STRING, true);
        int f = col(bs[i], "f", COL_DOUBLE, false);
        for (int r = 0; r < PER; r++) {
            size_t row = batch_row_add(bs[i], H14 + (int64_t)i * PER + r);
            char hs[8];
            int hl = snprintf(hs, sizeof(hs), "h%d", (i * PER + r) % 3);
            batch_set_str(bs[i], h, row, hs, (size_t)hl);
            batch_set_f64(bs[i], f, row, r);
        }
        batch_seal(bs[i]);
    }
    const char *const *keys;
    const uint64_t *ids;
    void *tok;
    size_t n = write_ok(w, "db", "big", bs, NB, &keys, &ids, &tok);
    assert_int_equal(n, 1);
    const char *p = local_path(keys[0]);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", p), NB * PER);
    assert_int_equal(q1i("SELECT max(row_group_num_rows) FROM parquet_metadata(%s)", p) <= 122880,
                     1);
    assert_int_equal(q1i("SELECT count(DISTINCT row_group_id) FROM parquet_metadata(%s)", p) >= 3,
                     1);
    assert_int_equal(
        q1i("SELECT count(*) FROM parquet_metadata(%s) WHERE compression <> 'ZSTD'", p), 0);
    /* Sorted by host, then time ("nope" does not exist and is skipped). */
    assert_int_equal(q1i("SELECT count(*) FROM (SELECT host, time, lag(host) OVER w AS ph, "
                         "lag(time) OVER w AS pt FROM read_parquet(%s, file_row_number=true) "
                         "WINDOW w AS (ORDER BY file_row_number)) "
                         "WHERE ph > host OR (ph = host AND pt > time)",
                         p),
                     0);
    assert_string_equal(q1("SELECT host FROM read_parquet(%s, file_row_number=true) "
                           "WHERE file_row_number = 0",
                           p),
                        "h0");
    flush_writer_publish(w, tok);
    flush_writer_free(&w);

    /* Same rows (already in time order) without sort keys and with 2 DuckDB
     * threads: the sort is skipped, order must still hold across row groups. */
    struct flush_writer_options o2 = {.compression = "snappy", .duckdb_threads = 2};
    w = new_writer(&o2);
    n = write_ok(w, "db", "big", bs, NB, &keys, &ids, &tok);
    assert_int_equal(n, 1);
    p = local_path(keys[0]);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", p), NB * PER);
    assert_int_equal(q1i("SELECT count(*) FROM (SELECT time, lag(time) OVER (ORDER BY "
                         "file_row_number) AS prev FROM read_parquet(%s, file_row_number=true)) "
                         "WHERE prev >= time",
                         p),
                     0);
    assert_int_equal(q1i("SELECT max(row_group_num_rows) FROM parquet_metadata(%s)", p) <= 122880,
                     1);
    flush_writer_publish(w, tok);
    flush_writer_free(&w);
    unref_all(bs, NB);
}

static void test_codecs(void **state)
{
    const char *codecs[] = {"gzip", "lz4", "none"};
    const char *want[] = {"GZIP", "LZ4_RAW", "UNCOMPRESSED"};
    for (int c = 0; c < 3; c++) {
        struct flush_writer_options o = {.compression = codecs[c]};
        struct flush_writer *w = new_writer(&o);
        struct batch *b = batch_new("db", "codec");
        int v = col(b, "v", COL_DOUBLE, false);
        for (int i = 0; i < 100; i++)
            batch_set_f64(b, v, batch_row_add(b, H14 + i), i);
        batch_seal(b);
        const char *const *keys;
        const uint64_t *ids;
        void *tok;
        write_ok(w, "db", "codec", &b, 1, &keys, &ids, &tok);
        assert_string_equal(
            q1("SELECT any_value(compression) FROM parquet_metadata(%s)", local_path(keys[0])),
            want[c]);
        flush_writer_publish(w, tok);
        flush_writer_free(&w);
        batch_unref(&b);
    }
}

static void test_bad_options(void **state)
{
    struct flush_writer *w = NULL;
    struct errbuf eb = {0};
    struct flush_writer_options o = {.compression = "brotli"};
    assert_int_equal(flush_writer_new(E.st, E.cat, &o, &w, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "brotli"));
    const char *bad[][2] = {{"m", NULL},    {"m:", NULL},     {":a", NULL},
                            {"9m:a", NULL}, {"m:a,,b", NULL}, {"m:a", "m:b"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errbuf_clear(&eb);
        struct flush_writer_options so = {.sort_keys = bad[i], .n_sort_keys = bad[i][1] ? 2 : 1};
        assert_int_equal(flush_writer_new(E.st, E.cat, &so, &w, &eb), RC_INVALID);
        assert_non_null(strstr(eb.msg, "sort_keys"));
    }
    assert_null(w);
    enum parquet_compression c;
    assert_true(parquet_compression_parse("Snappy", &c));
    assert_int_equal(c, PARQUET_SNAPPY);
    assert_true(parquet_compression_parse("uncompressed", &c));
    assert_int_equal(c, PARQUET_NONE);
    assert_false(parquet_compression_parse("", &c));
}

static void test_type_conflict_and_bad_input(void **state)
{
    struct batch *a = batch_new("db", "cx");
    batch_set_i64(a, col(a, "x", COL_INT64, false), batch_row_add(a, H14), 1);
    batch_seal(a);
    struct batch *b = batch_new("db", "cx");
    batch_set_f64(b, col(b, "x", COL_DOUBLE, false), batch_row_add(b, H14), 1.5);
    batch_seal(b);
    struct batch *bs[2] = {a, b};
    void *tok = NULL;
    struct errbuf eb = {0};
    assert_int_equal(flush_writer_write(E.w, "db", "cx", bs, 2, &tok, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "\"x\" is integer in one batch and float in another"));
    assert_null(tok);
    /* Batch of another measurement. */
    errbuf_clear(&eb);
    assert_int_equal(flush_writer_write(E.w, "db", "other", bs, 1, &tok, &eb), RC_INVALID);
    /* A column named time. */
    struct batch *t = batch_new("db", "cx");
    batch_set_i64(t, col(t, "time", COL_INT64, false), batch_row_add(t, H14), 1);
    batch_seal(t);
    errbuf_clear(&eb);
    assert_int_equal(flush_writer_write(E.w, "db", "cx", &t, 1, &tok, &eb), RC_INVALID);
    assert_storage_files(0);
    struct catalog_file_list l;
    catalog_files_list(E.cat, "db", "cx", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 0);
    unref_all(bs, 2);
    batch_unref(&t);
}

static void test_failure_cleanup_and_retry(void **state)
{
    struct batch *a = batch_new("db", "fc");
    int v = col(a, "v", COL_INT64, false);
    for (int i = 0; i < 10; i++)
        batch_set_i64(a, v, batch_row_add(a, H14 + (i % 2) * US_PER_HOUR + i), i);
    batch_seal(a);
    /* A regular file where the second hour's directory must go. */
    char blocker[400];
    snprintf(blocker, sizeof(blocker), "%s/db/fc/2025/01/15", E.base);
    char cmd[1000];
    snprintf(cmd, sizeof(cmd), "mkdir -p \"%s\" && touch \"%s/15\"", blocker, blocker);
    assert_int_equal(system(cmd), 0);
    void *tok = NULL;
    struct errbuf eb = {0};
    assert_int_equal(flush_writer_write(E.w, "db", "fc", &a, 1, &tok, &eb), RC_IO);
    assert_null(tok);
    /* The first hour's file was written and put, then removed again. */
    snprintf(cmd, sizeof(cmd), "rm \"%s/15\"", blocker);
    assert_int_equal(system(cmd), 0);
    assert_storage_files(0);
    struct catalog_file_list l;
    catalog_files_list(E.cat, "db", "fc", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 0);
    /* Retry: exactly the rows once. */
    const char *const *keys;
    const uint64_t *ids;
    size_t n = write_ok(E.w, "db", "fc", &a, 1, &keys, &ids, &tok);
    assert_int_equal(n, 2);
    flush_writer_publish(E.w, tok);
    char glob[700];
    snprintf(glob, sizeof(glob), "%s/db/fc/**/*.parquet", E.base);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", glob), 10);
    assert_storage_files(2);
    batch_unref(&a);
}

static void test_discard_and_empty(void **state)
{
    struct batch *a = batch_new("db", "dc");
    batch_set_bool(a, col(a, "b", COL_BOOL, false), batch_row_add(a, H14), true);
    batch_seal(a);
    const char *const *keys;
    const uint64_t *ids;
    void *tok;
    assert_int_equal(write_ok(E.w, "db", "dc", &a, 1, &keys, &ids, &tok), 1);
    assert_storage_files(1);
    flush_writer_discard(E.w, tok);
    assert_storage_files(0);
    struct catalog_file_list l;
    catalog_files_list(E.cat, "db", "dc", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 0);
    /* Empty batches: success, nothing written. */
    struct batch *e = batch_new("db", "dc");
    col(e, "b", COL_BOOL, false);
    batch_seal(e);
    assert_int_equal(write_ok(E.w, "db", "dc", &e, 1, &keys, &ids, &tok), 0);
    flush_writer_publish(E.w, tok);
    assert_int_equal(write_ok(E.w, "db", "dc", NULL, 0, &keys, &ids, &tok), 0);
    flush_writer_publish(E.w, tok);
    assert_storage_files(0);
    batch_unref(&a);
    batch_unref(&e);
}

/* flush_writer_options.before_put (WAL flush intents): called once per file
 * before the file exists, with its key and hour and the flush's batches; a
 * failing hook fails the write and leaves nothing behind. */
struct put_calls {
    int n;
    char keys[4][300];
    int64_t hours[4];
    uint64_t slots[4];
    bool existed;
    size_t nbatches;
    int fail;
};

static int before_put_hook(void *ctx, const char *db, const char *m, const char *key,
                           int64_t hour_start_us, struct batch *const *batches, size_t n,
                           uint64_t *slot, struct errbuf *eb)
{
    struct put_calls *c = ctx;
    (void)db;
    (void)m;
    (void)batches;
    if (c->fail)
        return errbuf_set(eb, RC_IO, "hook refused");
    if (access(local_path(key), F_OK) == 0)
        c->existed = true;
    if (*slot == 0)
        *slot = 100 + (uint64_t)c->n;
    if (c->n < 4) {
        snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", key);
        c->hours[c->n] = hour_start_us;
        c->slots[c->n] = *slot;
    }
    c->nbatches = n;
    c->n++;
    return RC_OK;
}

static void test_before_put_hook(void **state)
{
    struct put_calls calls = {0};
    struct flush_writer_options o = {.compression = "snappy",
                                     .flush_timeout_seconds = 30,
                                     .duckdb_threads = 1,
                                     .before_put = before_put_hook,
                                     .before_put_ctx = &calls};
    struct flush_writer *w = new_writer(&o);
    struct batch *a = batch_new("db", "bp");
    int v = col(a, "v", COL_INT64, false);
    batch_set_i64(a, v, batch_row_add(a, H14 + 5), 1);
    batch_set_i64(a, v, batch_row_add(a, H14 + US_PER_HOUR + 5), 2);
    batch_seal(a);
    struct batch *b = batch_new("db", "bp");
    batch_set_i64(b, col(b, "v", COL_INT64, false), batch_row_add(b, H14 + 9), 3);
    batch_seal(b);
    struct batch *bs[2] = {a, b};
    const char *const *keys;
    const uint64_t *ids;
    void *tok;
    assert_int_equal(write_ok(w, "db", "bp", bs, 2, &keys, &ids, &tok), 2);
    assert_int_equal(calls.n, 2);
    assert_false(calls.existed);
    assert_int_equal(calls.nbatches, 2);
    assert_string_equal(calls.keys[0], keys[0]);
    assert_string_equal(calls.keys[1], keys[1]);
    assert_int_equal(calls.hours[0], H14);
    assert_int_equal(calls.hours[1], H14 + US_PER_HOUR);
    assert_true(calls.slots[0] != calls.slots[1]);
    flush_writer_publish(w, tok);
    assert_storage_files(2);

    calls.fail = 1;
    struct errbuf eb = {0};
    tok = NULL;
    assert_int_equal(flush_writer_write(w, "db", "bp", bs, 2, &tok, &eb), RC_IO);
    assert_null(tok);
    assert_non_null(strstr(eb.msg, "hook refused"));
    assert_storage_files(2); /* nothing new, no staging file left */
    flush_writer_free(&w);
    unref_all(bs, 2);
}

static void test_invalid_utf8_and_case(void **state)
{
    struct batch *a = batch_new("db", "u8");
    int s = col(a, "s", COL_STRING, false);
    /* Names differing only in case are different columns (SPEC §0.4). */
    int up = col(a, "Host", COL_STRING, true);
    int lo = col(a, "host", COL_STRING, true);
    size_t r = batch_row_add(a, H14);
    batch_set_str(a, s, r,
                  "a\xff"
                  "b\xc3",
                  4);
    batch_set_str(a, up, r, "UP", 2);
    batch_set_str(a, lo, r, "lo", 2);
    batch_seal(a);
    const char *const *keys;
    const uint64_t *ids;
    void *tok;
    write_ok(E.w, "db", "u8", &a, 1, &keys, &ids, &tok);
    const char *p = local_path(keys[0]);
    assert_string_equal(q1("SELECT s FROM read_parquet(%s)", p), "a\xef\xbf\xbd"
                                                                 "b\xef\xbf\xbd");
    /* DuckDB identifiers are case-insensitive: the second spelling is renamed
     * (the schema registry keeps such pairs out; the writer keeps the data). */
    assert_string_equal(q1("SELECT string_agg(name, ',') FROM parquet_schema(%s) "
                           "WHERE name <> 'duckdb_schema'",
                           p),
                        "time,Host,host_1,s");
    assert_string_equal(q1("SELECT \"Host\" || host_1 FROM read_parquet(%s)", p), "UPlo");
    assert_string_equal(
        q1("SELECT decode(value) FROM parquet_kv_metadata(%s) WHERE decode(key) = 'arc:tags'", p),
        "Host,host");
    flush_writer_publish(E.w, tok);
    batch_unref(&a);
}

struct conc {
    int thread;
    int files;
    int rc;
};

static void *conc_thread(void *arg)
{
    struct conc *c = arg;
    for (int i = 0; i < 15; i++) {
        struct batch *b = batch_new("db", "conc");
        enum col_type ex;
        int v = batch_col_get(b, "v", 1, COL_INT64, false, &ex);
        for (int r = 0; r < 100; r++)
            batch_set_i64(b, v, batch_row_add(b, H14 + r), c->thread);
        batch_seal(b);
        void *tok = NULL;
        struct errbuf eb = {0};
        int rc = flush_writer_write(E.w, "db", "conc", &b, 1, &tok, &eb);
        batch_unref(&b);
        if (rc != RC_OK) {
            c->rc = rc;
            return NULL;
        }
        c->files += (int)flush_writer_token_files(tok, NULL, NULL);
        flush_writer_publish(E.w, tok);
    }
    return NULL;
}

static void test_concurrent_unique_names(void **state)
{
    pthread_t th[2];
    struct conc c[2] = {{1, 0, RC_OK}, {2, 0, RC_OK}};
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, conc_thread, &c[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(c[0].rc, RC_OK);
    assert_int_equal(c[1].rc, RC_OK);
    assert_int_equal(c[0].files + c[1].files, 30);
    /* 30 distinct files, all in the same hour directory, no staging left. */
    assert_storage_files(30);
    struct catalog_file_list l;
    catalog_files_list(E.cat, "db", "conc", INT64_MIN, INT64_MAX, &l);
    assert_int_equal(l.n, 30);
    for (size_t i = 0; i < l.n; i++)
        for (size_t j = i + 1; j < l.n; j++)
            assert_string_not_equal(l.files[i].key, l.files[j].key);
    catalog_file_list_free(&l);
    char glob[700];
    snprintf(glob, sizeof(glob), "%s/db/conc/2025/01/15/14/*.parquet", E.base);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", glob), 3000);
    assert_int_equal(q1i("SELECT sum(v) FROM read_parquet(%s)", glob), 1500 * 1 + 1500 * 2);
}

static void test_deadline(void **state)
{
    struct parquet_engine *eng = NULL;
    struct errbuf eb = {0};
    assert_int_equal(parquet_engine_new(NULL, &eng, &eb), RC_OK);
    struct batch *b = batch_new("db", "dl");
    int v = col(b, "v", COL_STRING, false);
    for (int r = 0; r < 100000; r++)
        batch_set_str(b, v, batch_row_add(b, H14 + r), "some string value here", 22);
    batch_seal(b);
    struct parquet_job *job = NULL;
    /* Already past. */
    assert_int_equal(parquet_job_begin(eng, &b, 1, time_mono_ms() - 1, &job, &eb), RC_TIMEOUT);
    assert_null(job);
    /* Passes while loading or writing (watchdog or the between-chunk check). */
    errbuf_clear(&eb);
    int rc = parquet_job_begin(eng, &b, 1, time_mono_ms() + 2, &job, &eb);
    if (rc == RC_OK) {
        char path[400];
        snprintf(path, sizeof(path), "%s/deadline.parquet", E.dir);
        struct parquet_write_options po = {.compression = PARQUET_ZSTD};
        rc = parquet_job_write_hour(job, 0, path, &po, &eb);
        unlink(path);
        parquet_job_end(&job);
    }
    assert_int_equal(rc, RC_TIMEOUT);
    /* The engine still works afterwards. */
    errbuf_clear(&eb);
    assert_int_equal(parquet_job_begin(eng, &b, 1, time_mono_ms() + 60000, &job, &eb), RC_OK);
    const struct parquet_hour *h;
    assert_int_equal(parquet_job_hours(job, &h), 1);
    assert_int_equal(h[0].rows, 100000);
    char path[400];
    snprintf(path, sizeof(path), "%s/ok.parquet", E.dir);
    struct parquet_write_options po = {.compression = PARQUET_SNAPPY};
    assert_int_equal(parquet_job_write_hour(job, 0, path, &po, &eb), RC_OK);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", path), 100000);
    parquet_job_end(&job);
    parquet_engine_free(&eng);
    assert_null(eng);
    batch_unref(&b);
}

/* Batches whose sizes are not multiples of 8 make the scan copy validity
 * bits at unaligned offsets (a vector spans batch boundaries). Compare every
 * value with what was put in, for both load modes. */
static void check_odd_batches(enum parquet_load_mode mode)
{
    struct parquet_engine *eng = NULL;
    struct errbuf eb = {0};
    struct parquet_engine_options eo = {.threads = 1, .load_mode = mode};
    assert_int_equal(parquet_engine_new(&eo, &eng, &eb), RC_OK);
    size_t sizes[] = {7, 1, 2049, 13, 4096, 3, 2040, 9};
    enum { NB = sizeof(sizes) / sizeof(sizes[0]) };
    struct batch *bs[NB];
    size_t g = 0;
    for (size_t i = 0; i < NB; i++) {
        bs[i] = batch_new("db", "odd");
        /* Every other batch lacks column s; i is null on a pattern. */
        int ic = col(bs[i], "i", COL_INT64, false);
        int sc = i % 2 ? -1 : col(bs[i], "s", COL_STRING, false);
        for (size_t r = 0; r < sizes[i]; r++, g++) {
            size_t row = batch_row_add(bs[i], H14 + (int64_t)g);
            if (g % 3 != 0)
                batch_set_i64(bs[i], ic, row, (int64_t)g);
            if (sc >= 0 && g % 5 != 0)
                batch_set_str(bs[i], sc, row, g % 2 ? "odd" : "even", g % 2 ? 3 : 4);
        }
        batch_seal(bs[i]);
    }
    struct parquet_job *job = NULL;
    assert_int_equal(parquet_job_begin(eng, bs, NB, 0, &job, &eb), RC_OK);
    assert_int_equal(parquet_job_rows(job), g);
    char path[400];
    snprintf(path, sizeof(path), "%s/odd-%d.parquet", E.dir, (int)mode);
    struct parquet_write_options po = {.compression = PARQUET_SNAPPY};
    assert_int_equal(parquet_job_write_hour(job, 0, path, &po, &eb), RC_OK);
    parquet_job_end(&job);
    /* Recompute the expectation in SQL from the row number (= g). */
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM (SELECT epoch_us(time) - %lld AS g, i, s FROM "
             "read_parquet(%%s)) WHERE "
             "(i IS DISTINCT FROM (CASE WHEN g %% 3 = 0 THEN NULL ELSE g END)) OR "
             "(s IS DISTINCT FROM (CASE WHEN %s OR g %% 5 = 0 THEN NULL "
             "WHEN g %% 2 = 1 THEN 'odd' ELSE 'even' END))",
             (long long)H14,
             /* batch index of row g is odd -> s absent */
             "((g >= 7 AND g < 8) OR (g >= 2057 AND g < 2070) OR (g >= 6166 AND g < 6169) OR "
             "(g >= 8209))");
    assert_int_equal(q1i(sql, path), 0);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s)", path), (long long)g);
    assert_int_equal(q1i("SELECT count(*) FROM read_parquet(%s) WHERE i IS NULL", path),
                     (long long)((g + 2) / 3));
    parquet_engine_free(&eng);
    unref_all(bs, NB);
}

static void test_unaligned_batches_both_modes(void **state)
{
    check_odd_batches(PARQUET_LOAD_SCAN);
    check_odd_batches(PARQUET_LOAD_APPENDER);
}

static void test_key_format(void **state)
{
    char buf[256];
    size_t n =
        flush_key_format(buf, sizeof(buf), "db", "m", H14, INT64_C(1736950000123456789), 1001);
    assert_string_equal(buf, "db/m/2025/01/15/14/m_20250115_140640_123456001.parquet");
    assert_int_equal(n, strlen(buf));
    flush_key_format(buf, sizeof(buf), "d", "x", TIME_MIN_US, 999, 7);
    assert_string_equal(buf, "d/x/0001/01/01/00/x_19700101_000000_000000007.parquet");
    flush_key_format(buf, sizeof(buf), "d", "x", -US_PER_HOUR, -1, 0);
    assert_string_equal(buf, "d/x/1969/12/31/23/x_19691231_235959_999999000.parquet");
    assert_int_equal(flush_key_format(buf, 10, "d", "x", 0, 0, 0), 0);
}

static void test_reconcile_from_storage(void **state)
{
    struct batch *a = batch_new("db", "rc");
    int v = col(a, "v", COL_INT64, false);
    for (int i = 0; i < 4; i++)
        batch_set_i64(a, v, batch_row_add(a, H14 + i * US_PER_HOUR), i);
    batch_seal(a);
    const char *const *keys;
    const uint64_t *ids;
    void *tok;
    assert_int_equal(write_ok(E.w, "db", "rc", &a, 1, &keys, &ids, &tok), 4);
    flush_writer_publish(E.w, tok);
    /* A fresh catalog learns every file from storage. */
    char cpath[300];
    snprintf(cpath, sizeof(cpath), "%s/catalog2.db", E.dir);
    struct catalog *c2 = NULL;
    struct errbuf eb = {0};
    assert_int_equal(catalog_open(cpath, &c2, &eb), RC_OK);
    struct catalog_reconcile_stats stats;
    assert_int_equal(flush_catalog_reconcile(c2, E.st, &stats, &eb), RC_OK);
    assert_int_equal(stats.added, 4);
    struct catalog_file_list l;
    catalog_files_list(c2, "db", "rc", H14 + US_PER_HOUR, H14 + US_PER_HOUR + 1, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.files[0].min_time_us, H14 + US_PER_HOUR);
    assert_int_equal(l.files[0].row_count, CATALOG_ROWS_UNKNOWN);
    catalog_file_list_free(&l);
    catalog_close(&c2);
    batch_unref(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_types_order_nulls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_three_hours, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_groups_zstd_sort_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_codecs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_conflict_and_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_cleanup_and_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discard_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_and_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_unique_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unaligned_batches_both_modes, setup, teardown),
        cmocka_unit_test(test_key_format),
        cmocka_unit_test_setup_teardown(test_reconcile_from_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_put_hook, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
