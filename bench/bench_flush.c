/*
 * bench/bench_flush.c — flush throughput: N rows × (time + 3 tags + 7
 * fields) in batches of 5 000 rows → flush_writer_write → local storage in a
 * temporary directory. Prints rows/s per codec, plus the split between
 * loading into DuckDB and writing Parquet, and the cost of a DuckDB connect.
 *
 *   bench_flush [rows=1000000] [flush_rows=50000] [duckdb_threads=1]
 *
 * flush_rows is the rows handed to one write() call (ingestion.buffer_size);
 * each call writes one file. Reported, not asserted.
 */
#include <duckdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "flush/parquet.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define BATCH_ROWS 5000

static struct batch *make_batch(size_t first_row, size_t nrows, int64_t t0)
{
    static const char *hosts[] = {"server-01", "server-02", "server-03", "server-04",
                                  "server-05", "server-06", "server-07", "server-08"};
    static const char *regions[] = {"us-east-1", "us-west-2", "eu-central-1", "ap-south-1"};
    static const char *dcs[] = {"dc-a", "dc-b", "dc-c"};
    struct batch *b = batch_new("bench", "cpu");
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int region = batch_col_get(b, "region", 6, COL_STRING, true, &ex);
    int dc = batch_col_get(b, "dc", 2, COL_STRING, true, &ex);
    int f[7];
    const char *fn[7] = {"usage_user", "usage_system", "usage_idle", "usage_iowait",
                         "load1",      "processes",    "uptime"};
    for (int i = 0; i < 5; i++)
        f[i] = batch_col_get(b, fn[i], strlen(fn[i]), COL_DOUBLE, false, &ex);
    f[5] = batch_col_get(b, fn[5], strlen(fn[5]), COL_INT64, false, &ex);
    f[6] = batch_col_get(b, fn[6], strlen(fn[6]), COL_INT64, false, &ex);
    for (size_t i = 0; i < nrows; i++) {
        size_t g = first_row + i;
        size_t r = batch_row_add(b, t0 + (int64_t)g * 1000); /* 1 ms apart */
        const char *h = hosts[g % 8], *rg = regions[g % 4], *d = dcs[g % 3];
        batch_set_str(b, host, r, h, strlen(h));
        batch_set_str(b, region, r, rg, strlen(rg));
        batch_set_str(b, dc, r, d, strlen(d));
        for (int k = 0; k < 5; k++)
            batch_set_f64(b, f[k], r, (double)((g * 31 + (size_t)k * 17) % 10000) / 100.0);
        batch_set_i64(b, f[5], r, (int64_t)(g % 500));
        batch_set_i64(b, f[6], r, (int64_t)g);
    }
    batch_seal(b);
    return b;
}

static double now_s(void)
{
    return (double)time_mono_ns() / 1e9;
}

/* CPU seconds of the whole process (all threads): the machine is shared, so
 * rows per CPU-second is steadier than wall-clock rows/s. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    size_t nrows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t flush_rows = argc > 2 ? strtoull(argv[2], NULL, 10) : 50000;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    if (flush_rows < BATCH_ROWS)
        flush_rows = BATCH_ROWS;
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);

    char dir[] = "/tmp/arc-bench-flush-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char base[128], cpath[128];
    snprintf(base, sizeof(base), "%s/data", dir);
    snprintf(cpath, sizeof(cpath), "%s/catalog.db", dir);
    struct storage *st = NULL;
    struct catalog *cat = NULL;
    struct errbuf eb = {0};
    if (storage_new_local(base, &st, &eb) != RC_OK || catalog_open(cpath, &cat, &eb) != RC_OK) {
        fprintf(stderr, "setup: %s\n", eb.msg);
        return 1;
    }

    size_t nbatches = (nrows + BATCH_ROWS - 1) / BATCH_ROWS;
    struct batch **bs = xcalloc(nbatches, sizeof(*bs));
    /* Rows start at 2025-01-15T14:00Z, 1 ms apart: 1 M rows span ~17 min. */
    int64_t t0 = INT64_C(1736949600) * US_PER_SEC;
    double tb = now_s();
    for (size_t i = 0; i < nbatches; i++) {
        size_t n = nrows - i * BATCH_ROWS < BATCH_ROWS ? nrows - i * BATCH_ROWS : BATCH_ROWS;
        bs[i] = make_batch(i * BATCH_ROWS, n, t0);
    }
    printf("built %zu rows in %zu batches of %d in %.2fs (%s DuckDB %s, %d thread(s), "
           "%zu rows per write)\n",
           nrows, nbatches, BATCH_ROWS, now_s() - tb, "libduckdb", duckdb_library_version(),
           threads, flush_rows);

    const char *codecs[] = {"snappy", "zstd"};
    size_t per_call = flush_rows / BATCH_ROWS;
    for (int c = 0; c < 2; c++) {
        struct flush_writer_options o = {.compression = codecs[c], .duckdb_threads = threads};
        struct flush_writer *w = NULL;
        if (flush_writer_new(st, cat, &o, &w, &eb) != RC_OK) {
            fprintf(stderr, "writer: %s\n", eb.msg);
            return 1;
        }
        struct catalog_measurement_info *mi = NULL;
        size_t nm = 0;
        catalog_measurements(cat, "bench", &mi, &nm);
        uint64_t bytes0 = nm ? mi[0].total_bytes : 0;
        xfree(mi);
        double t = now_s(), cpu = cpu_s();
        size_t files = 0;
        for (size_t i = 0; i < nbatches; i += per_call) {
            size_t n = nbatches - i < per_call ? nbatches - i : per_call;
            void *tok = NULL;
            if (flush_writer_write(w, "bench", "cpu", bs + i, n, &tok, &eb) != RC_OK) {
                fprintf(stderr, "write: %s\n", eb.msg);
                return 1;
            }
            files += flush_writer_token_files(tok, NULL, NULL);
            flush_writer_publish(w, tok);
        }
        double el = now_s() - t, cel = cpu_s() - cpu;
        catalog_measurements(cat, "bench", &mi, &nm);
        printf("%-7s %8.0f rows/s wall (%.2fs)  %8.0f rows/CPU-s (%.2fs)  files=%zu  "
               "size=%.1f MB\n",
               codecs[c], (double)nrows / el, el, (double)nrows / cel, cel, files,
               nm ? (double)(mi[0].total_bytes - bytes0) / 1e6 : 0.0);
        xfree(mi);
        flush_writer_free(&w);
    }

    /* One write of flush_rows rows, both ways of handing rows to DuckDB:
     * "load" is parquet_job_begin (appender: the temp-table copy; scan:
     * nothing), "copy" is the COPY ... TO parquet of the one hour. */
    size_t nb = per_call < nbatches ? per_call : nbatches;
    const char *mode_names[] = {"scan", "appender"};
    for (int mode = 0; mode < 2; mode++) {
        struct parquet_engine *eng = NULL;
        struct parquet_engine_options eo = {.threads = threads,
                                            .load_mode = (enum parquet_load_mode)mode};
        if (parquet_engine_new(&eo, &eng, &eb) != RC_OK) {
            fprintf(stderr, "engine: %s\n", eb.msg);
            return 1;
        }
        double load = 0, copy = 0, cpu0 = cpu_s();
        int reps = 10;
        for (int r = 0; r < reps; r++) {
            struct parquet_job *job = NULL;
            double a = now_s();
            if (parquet_job_begin(eng, bs, nb, 0, &job, &eb) != RC_OK) {
                fprintf(stderr, "job: %s\n", eb.msg);
                return 1;
            }
            double b = now_s();
            char path[256];
            snprintf(path, sizeof(path), "%s/split.parquet", dir);
            struct parquet_write_options po = {.compression = PARQUET_SNAPPY};
            if (parquet_job_write_hour(job, 0, path, &po, &eb) != RC_OK) {
                fprintf(stderr, "copy: %s\n", eb.msg);
                return 1;
            }
            double c2 = now_s();
            unlink(path);
            parquet_job_end(&job);
            load += b - a;
            copy += c2 - b;
        }
        double cpu = cpu_s() - cpu0;
        printf("%-8s one write of %zu rows (snappy, no fsync): load %5.1f ms + COPY %5.1f ms = "
               "%5.1f ms wall, %5.1f ms CPU -> %.0f rows/CPU-s\n",
               mode_names[mode], nb * BATCH_ROWS, load / reps * 1e3, copy / reps * 1e3,
               (load + copy) / reps * 1e3, cpu / reps * 1e3,
               (double)(nb * BATCH_ROWS) * reps / cpu);
        parquet_engine_free(&eng);
    }

    /* Cost of a connection (why the engine pools them). */
    duckdb_database db;
    duckdb_open(NULL, &db);
    double a = now_s();
    for (int i = 0; i < 200; i++) {
        duckdb_connection cn;
        duckdb_connect(db, &cn);
        duckdb_disconnect(&cn);
    }
    printf("duckdb_connect+disconnect: %.1f us each\n", (now_s() - a) / 200 * 1e6);
    duckdb_close(&db);

    for (size_t i = 0; i < nbatches; i++)
        batch_unref(&bs[i]);
    xfree(bs);
    catalog_close(&cat);
    storage_free(&st);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
    return 0;
}
