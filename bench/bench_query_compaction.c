/*
 * bench/bench_query_compaction.c — query latency over one day of data
 * before compaction, after the hourly tier and after the daily tier
 * (SPEC §7; issue "Data lifecycle", BENCHMARKS.md).
 *
 *   bench_query_compaction [files_per_hour=120] [rows_per_file=500] [runs=5]
 *                          [duckdb_threads=2]
 *
 * In-process, in a temporary directory: local storage, the real catalog,
 * raw files written by the real flush writer (24 hours × files_per_hour,
 * measurement cpu: time + 3 tags + 5 fields, 8 hosts), the real query
 * engine. Each query runs once to warm up, then `runs` times; the median
 * and the minimum wall time are printed, with the number of files the
 * query scanned. Then the hourly tier (max_files_per_batch 500: one file
 * per hour) and the daily tier (one file for the day) run and the same
 * queries are measured again. Every query's result text must be identical
 * in the three states (checked, the program exits 1 otherwise). Reported,
 * not asserted.
 */
#include <duckdb.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "jobs/compaction.h"
#include "query/query.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define DAY_START_US INT64_C(1736899200000000) /* 2025-01-15T00:00:00Z */
#define NQ 6

static const char *const queries[NQ] = {
    "SELECT count(*) FROM cpu",
    "SELECT host, avg(usage_user), max(usage_system) FROM cpu GROUP BY host ORDER BY host",
    "SELECT date_trunc('hour', time) AS h, avg(usage_idle), count(*) FROM cpu GROUP BY 1 "
    "ORDER BY 1",
    "SELECT * FROM cpu WHERE time >= '2025-01-15T12:00:00Z' AND time < '2025-01-15T12:05:00Z' "
    "ORDER BY time, host",
    "SELECT time, usage_user FROM cpu WHERE host = 'server-07' AND "
    "time >= '2025-01-15T06:00:00Z' AND time < '2025-01-15T07:00:00Z' ORDER BY time LIMIT 100",
    "SELECT region, dc, percentile_disc(0.99) WITHIN GROUP (ORDER BY load1) FROM cpu "
    "GROUP BY ALL ORDER BY ALL",
};
static const char *const qnames[NQ] = {"count(*)",       "group by host",
                                       "hourly buckets", "5-minute range (pruned)",
                                       "1 host, 1 hour", "p99 by region, dc"};

static struct batch *make_batch(int64_t t0, int64_t step_us, size_t nrows, size_t seed)
{
    static const char *hosts[] = {"server-00", "server-01", "server-02", "server-03",
                                  "server-04", "server-05", "server-06", "server-07"};
    static const char *regions[] = {"us-east-1", "us-west-2", "eu-central-1", "ap-south-1"};
    static const char *dcs[] = {"dc-a", "dc-b", "dc-c"};
    struct batch *b = batch_new("bench", "cpu");
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int region = batch_col_get(b, "region", 6, COL_STRING, true, &ex);
    int dc = batch_col_get(b, "dc", 2, COL_STRING, true, &ex);
    const char *fn[5] = {"usage_user", "usage_system", "usage_idle", "load1", "processes"};
    int f[5];
    for (int i = 0; i < 4; i++)
        f[i] = batch_col_get(b, fn[i], strlen(fn[i]), COL_DOUBLE, false, &ex);
    f[4] = batch_col_get(b, fn[4], strlen(fn[4]), COL_INT64, false, &ex);
    for (size_t i = 0; i < nrows; i++) {
        size_t g = seed + i;
        size_t r = batch_row_add(b, t0 + (int64_t)i * step_us);
        const char *h = hosts[g % 8], *rg = regions[g % 4], *d = dcs[g % 3];
        batch_set_str(b, host, r, h, strlen(h));
        batch_set_str(b, region, r, rg, strlen(rg));
        batch_set_str(b, dc, r, d, strlen(d));
        for (int k = 0; k < 4; k++)
            batch_set_f64(b, f[k], r, (double)((g * 31 + (size_t)k * 17) % 10000) / 100.0);
        batch_set_i64(b, f[4], r, (int64_t)(g % 500));
    }
    batch_seal(b);
    return b;
}

/* Runs sql; returns the result as text (xfree) and the files scanned. */
static char *run(struct query_engine *qe, const char *sql, size_t *files)
{
    struct query_request req = {.sql = sql, .default_db = "bench"};
    struct query_cursor *c = NULL;
    struct errbuf eb = {0};
    if (query_execute(qe, &req, &c, &eb) != RC_OK) {
        fprintf(stderr, "query failed: %s: %s\n", sql, eb.msg);
        exit(1);
    }
    struct strbuf sb;
    strbuf_init(&sb, 0);
    idx_t nc = query_cursor_column_count(c);
    for (;;) {
        duckdb_data_chunk ch = NULL;
        if (query_cursor_next(c, &ch, &eb) != RC_OK) {
            fprintf(stderr, "query failed: %s: %s\n", sql, eb.msg);
            exit(1);
        }
        if (!ch)
            break;
        idx_t n = duckdb_data_chunk_get_size(ch);
        /* A digest of the values is enough to compare states: hash the
         * raw vector bytes of fixed-width columns and the strings. */
        for (idx_t j = 0; j < nc; j++) {
            duckdb_vector v = duckdb_data_chunk_get_vector(ch, j);
            duckdb_logical_type t = query_cursor_column_type(c, j);
            void *d = duckdb_vector_get_data(v);
            uint64_t *valid = duckdb_vector_get_validity(v);
            for (idx_t i = 0; i < n; i++) {
                if (valid && !duckdb_validity_row_is_valid(valid, i)) {
                    (void)strbuf_puts(&sb, "N|");
                    continue;
                }
                switch (duckdb_get_type_id(t)) {
                case DUCKDB_TYPE_VARCHAR: {
                    duckdb_string_t *s = (duckdb_string_t *)d;
                    (void)strbuf_append(&sb, duckdb_string_t_data(&s[i]),
                                        duckdb_string_t_length(s[i]));
                    break;
                }
                case DUCKDB_TYPE_DOUBLE: (void)strbuf_printf(&sb, "%.12g", ((double *)d)[i]); break;
                case DUCKDB_TYPE_BIGINT:
                case DUCKDB_TYPE_TIMESTAMP:
                case DUCKDB_TYPE_TIMESTAMP_TZ:
                    (void)strbuf_printf(&sb, "%" PRId64, ((int64_t *)d)[i]);
                    break;
                default: (void)strbuf_printf(&sb, "t%d", (int)duckdb_get_type_id(t)); break;
                }
                (void)strbuf_putc(&sb, '|');
            }
        }
        duckdb_destroy_data_chunk(&ch);
    }
    *files = query_cursor_files_scanned(c);
    query_cursor_close(&c);
    return strbuf_detach(&sb, NULL);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct measure {
    double median_ms, min_ms;
    size_t files;
    char *text;
};

static void measure_all(struct query_engine *qe, int runs, struct measure *out)
{
    double *t = xcalloc((size_t)runs, sizeof(double));
    for (int q = 0; q < NQ; q++) {
        size_t files = 0;
        out[q].text = run(qe, queries[q], &files); /* warm-up */
        out[q].files = files;
        for (int r = 0; r < runs; r++) {
            int64_t t0 = time_mono_ns();
            char *x = run(qe, queries[q], &files);
            t[r] = (double)(time_mono_ns() - t0) / 1e6;
            xfree(x);
        }
        qsort(t, (size_t)runs, sizeof(double), cmp_d);
        out[q].median_ms = t[runs / 2];
        out[q].min_ms = t[0];
    }
    xfree(t);
}

static void compact(struct storage *st, struct catalog *cat, const char *temp, unsigned tiers)
{
    struct compaction_options o;
    memset(&o, 0, sizeof(o));
    for (int t = 0; t < COMPACTION_NTIERS; t++)
        o.tiers[t] = (struct compaction_tier_options){.enabled = true,
                                                      .schedule = "0 0 1 1 *",
                                                      .min_age_hours = t ? 24 : 1,
                                                      .min_files = t ? 12 : 10,
                                                      .target_file_size_mb = 4096};
    o.max_concurrent_jobs = 2;
    o.max_files_per_batch = 500;
    o.lock_ttl_hours = 2;
    o.temp_dir = temp;
    o.compression = "zstd";
    o.compression_level = 3;
    o.duckdb_threads = 2;
    struct compaction *c = NULL;
    struct errbuf eb = {0};
    uint64_t id;
    if (compaction_new(&o, st, cat, &c, &eb) != RC_OK ||
        compaction_trigger(c, NULL, tiers, &id, &eb) != RC_OK) {
        fprintf(stderr, "compaction: %s\n", eb.msg);
        exit(1);
    }
    int64_t t0 = time_mono_ns();
    compaction_wait_idle(c, -1);
    struct compaction_status s;
    compaction_get_status(c, &s);
    printf("compaction (%s): %.2f s, %" PRIu64 " files merged, %.1f MB -> %.1f MB\n",
           tiers == COMPACTION_TIER_BIT(COMPACTION_HOURLY) ? "hourly" : "daily",
           (double)(time_mono_ns() - t0) / 1e9, s.total_files_compacted,
           (double)s.total_bytes_before / 1048576.0, (double)s.total_bytes_after / 1048576.0);
    compaction_free(&c);
}

int main(int argc, char **argv)
{
    size_t files_per_hour = argc > 1 ? strtoul(argv[1], NULL, 10) : 120;
    size_t rows_per_file = argc > 2 ? strtoul(argv[2], NULL, 10) : 500;
    int runs = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
    unsigned threads = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 2;
    if (!files_per_hour || !rows_per_file || runs < 1)
        return 2;
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    char dir[] = "/tmp/arc-bench-qc-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char root[128], temp[128], catpath[128];
    snprintf(root, sizeof(root), "%s/data", dir);
    snprintf(temp, sizeof(temp), "%s/compaction", dir);
    snprintf(catpath, sizeof(catpath), "%s/catalog.db", dir);
    struct errbuf eb = {0};
    struct storage *st = NULL;
    struct catalog *cat = NULL;
    struct flush_writer *w = NULL;
    struct colbuf *cb = NULL;
    struct query_engine *qe = NULL;
    struct flush_writer_options wo = {.compression = "snappy", .duckdb_threads = 1};
    struct colbuf_limits lim = {.flush_rows = 1000000,
                                .max_age_ms = 3600000,
                                .hard_limit_rows = 10000000,
                                .max_total_bytes = 1u << 30};
    struct query_engine_options qo = {.data_root = root,
                                      .default_db = "bench",
                                      .pool_size = 1,
                                      .max_queue_size = 4,
                                      .acquire_timeout_ms = 60000,
                                      .query_timeout_ms = 0,
                                      .max_sql_length = 10000,
                                      .threads = threads,
                                      .enable_object_cache = true};
    if (storage_new_local(root, &st, &eb) || catalog_open(catpath, &cat, &eb) ||
        flush_writer_new(st, cat, &wo, &w, &eb) || colbuf_new(&lim, NULL, &cb, &eb) ||
        query_engine_new(&qo, cat, cb, st, &qe, &eb)) {
        fprintf(stderr, "setup: %s\n", eb.msg);
        return 1;
    }
    /* One day: 24 h × files_per_hour files; the rows of a file span its
     * slice of the hour, 8 hosts round-robin. */
    int64_t t_write = time_mono_ns();
    struct schema_checker sc = catalog_schema_checker(cat);
    int64_t slice_us = US_PER_HOUR / (int64_t)files_per_hour;
    int64_t step_us = slice_us / (int64_t)rows_per_file;
    if (step_us < 1)
        step_us = 1;
    size_t seed = 0;
    for (int h = 0; h < 24; h++) {
        for (size_t k = 0; k < files_per_hour; k++) {
            int64_t t0 = DAY_START_US + h * US_PER_HOUR + (int64_t)k * slice_us;
            struct batch *b = make_batch(t0, step_us, rows_per_file, seed);
            seed += rows_per_file;
            for (size_t j = 0; j < b->ncols; j++) {
                enum col_type ex;
                (void)sc.check(sc.ctx, "bench", "cpu", b->cols[j].name, strlen(b->cols[j].name),
                               b->cols[j].type, &ex);
            }
            void *tok = NULL;
            if (flush_writer_write(w, "bench", "cpu", &b, 1, &tok, &eb) != RC_OK) {
                fprintf(stderr, "write: %s\n", eb.msg);
                return 1;
            }
            flush_writer_publish(w, tok);
            batch_unref(&b);
        }
    }
    printf("data: 24 h x %zu files x %zu rows = %zu files, %zu rows (written in %.1f s)\n",
           files_per_hour, rows_per_file, 24 * files_per_hour, 24 * files_per_hour * rows_per_file,
           (double)(time_mono_ns() - t_write) / 1e9);

    struct measure m[3][NQ];
    measure_all(qe, runs, m[0]);
    compact(st, cat, temp, COMPACTION_TIER_BIT(COMPACTION_HOURLY));
    measure_all(qe, runs, m[1]);
    compact(st, cat, temp, COMPACTION_TIER_BIT(COMPACTION_DAILY));
    measure_all(qe, runs, m[2]);

    int bad = 0;
    printf("\n| query | raw: files | raw: median ms (min) | hourly: files | hourly: median ms "
           "(min) | daily: files | daily: median ms (min) |\n|---|---|---|---|---|---|---|\n");
    for (int q = 0; q < NQ; q++) {
        printf("| %s | %zu | %.1f (%.1f) | %zu | %.1f (%.1f) | %zu | %.1f (%.1f) |\n", qnames[q],
               m[0][q].files, m[0][q].median_ms, m[0][q].min_ms, m[1][q].files, m[1][q].median_ms,
               m[1][q].min_ms, m[2][q].files, m[2][q].median_ms, m[2][q].min_ms);
        for (int s = 1; s < 3; s++)
            if (strcmp(m[0][q].text, m[s][q].text) != 0) {
                fprintf(stderr, "RESULT DIFFERS after %s: %s\n", s == 1 ? "hourly" : "daily",
                        queries[q]);
                bad = 1;
            }
        for (int s = 0; s < 3; s++)
            xfree(m[s][q].text);
    }
    query_engine_free(&qe);
    colbuf_free(&cb);
    flush_writer_free(&w);
    catalog_close(&cat);
    storage_free(&st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return bad;
}
