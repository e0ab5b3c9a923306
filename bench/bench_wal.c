/*
 * bench/bench_wal.c — cost of the write-ahead log on the write path
 * (reported, not asserted).
 *
 *   bench_wal [threads] [lines_per_request] [seconds_per_mode] [rounds] [dir] [modes]
 *
 * Each of `threads` writer threads (default 64) repeatedly does what an HTTP
 * write does after the body is decoded: parse a line-protocol request of
 * `lines_per_request` lines (default 20, Telegraf-like rows), then
 *   off:                   colbuf_admit
 *   async/fdatasync/fsync: wal_prepare → colbuf_admit → wal_commit
 * against a real buffer whose flush workers use a no-op sink and report the
 * flushed batches to the WAL (so segments are retired as in the server).
 * Thread i writes measurement cpu<i % 16>, so 16 buffer keys flush in
 * parallel. Every mode runs for `seconds_per_mode` (default 3) in a fresh
 * WAL directory under `dir` (default /tmp, should be the disk the WAL would
 * live on); the four modes are run `rounds` times (default 3) interleaved,
 * so that load from other processes hits them alike, and the median round
 * of each mode is reported: requests/s, rows/s, process CPU time per
 * request (stable on a shared machine, unlike requests/s), latency, the
 * WAL's syncs and mean group size; the last lines compare each mode with
 * "off". `modes` (default "off,async,fdatasync,fsync") picks modes, e.g. for
 * profiling one of them with perf.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "buffer/colbuf.h"
#include "flush/flusher.h"
#include "flush/sink.h"
#include "ingest/batch.h"
#include "ingest/lp.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "wal/wal.h"

#define MAX_LAT 200000

struct run {
    struct colbuf *cb;
    struct wal *wal; /* NULL = off */
    int lines;
    _Atomic bool stop;
    _Atomic uint64_t requests, rows, errors, busy;
};

struct worker {
    pthread_t th;
    struct run *run;
    int index;
    double *lat_us;
    size_t nlat;
};

static int noop_write(void *ctx, const char *db, const char *m, struct batch *const *b, size_t n,
                      void **tok, struct errbuf *eb)
{
    (void)ctx, (void)db, (void)m, (void)b, (void)n, (void)eb;
    *tok = NULL;
    return RC_OK;
}

static void noop_publish(void *ctx, void *tok)
{
    (void)ctx, (void)tok;
}

static char *make_body(int index, uint64_t round, int lines, size_t *len)
{
    size_t cap = (size_t)lines * 160 + 1;
    char *b = xmalloc(cap);
    size_t o = 0;
    for (int i = 0; i < lines; i++) {
        long long ts = 1736949600LL * 1000000000LL + (long long)round * 1000000000LL + i * 1000LL;
        o += (size_t)snprintf(b + o, cap - o,
                              "cpu%d,host=server%04d,region=us-west,cpu=cpu%d usage_idle=%d.5,"
                              "usage_user=%di,usage_system=1.25,ok=true %lld\n",
                              index % 16, index, i % 8, (int)(round % 100), i, ts);
    }
    *len = o;
    return b;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    uint64_t round = 0;
    while (!atomic_load(&r->stop)) {
        size_t len;
        char *body = make_body(w->index, round++, r->lines, &len);
        int64_t t0 = time_mono_ns();
        struct lp_options o = {.db = "bench",
                               .precision = LP_NS,
                               .default_ts_us = time_now_us(),
                               .max_reported_errors = 10};
        struct lp_result res;
        if (lp_parse(body, len, &o, &res) != RC_OK || res.lines_rejected) {
            fprintf(stderr, "lp_parse failed\n");
            exit(1);
        }
        struct errbuf eb;
        errbuf_clear(&eb);
        int rc = RC_OK;
        struct wal_ticket *tk = NULL;
        if (r->wal)
            rc = wal_prepare(r->wal, res.batches, res.nbatches, &tk, &eb);
        if (rc == RC_OK) {
            rc = colbuf_admit(r->cb, res.batches, res.nbatches, &eb);
            if (rc != RC_OK)
                wal_abort(&tk);
            else if (r->wal)
                rc = wal_commit(&tk, &eb);
        }
        int64_t t1 = time_mono_ns();
        if (rc == RC_OK) {
            atomic_fetch_add(&r->requests, 1);
            atomic_fetch_add(&r->rows, res.rows);
            if (w->nlat < MAX_LAT)
                w->lat_us[w->nlat++] = (double)(t1 - t0) / 1000.0;
        } else if (rc == RC_BUSY) {
            atomic_fetch_add(&r->busy, 1);
            time_sleep_ms(1);
        } else {
            atomic_fetch_add(&r->errors, 1);
        }
        lp_result_cleanup(&res);
        xfree(body);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct result {
    const char *mode;
    double req_s, rows_s, p50_us, p99_us;
    double cpu_us; /* process CPU time (user + system) per acknowledged request */
    uint64_t syncs, groups, entries, busy, errors;
    double sync_ms; /* mean duration of one sync */
};

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static struct result run_mode(const char *mode, int threads, int lines, int secs, const char *base)
{
    struct result res = {.mode = mode};
    struct colbuf_limits lim = {.flush_rows = 20000,
                                .max_age_ms = 1000,
                                .hard_limit_rows = 2000000,
                                .max_total_bytes = (size_t)4 << 30};
    struct colbuf *cb = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    if (colbuf_new(&lim, NULL, &cb, &eb) != RC_OK) {
        fprintf(stderr, "colbuf_new: %s\n", eb.msg);
        exit(1);
    }
    struct wal *wal = NULL;
    char dir[512] = "";
    if (strcmp(mode, "off") != 0) {
        snprintf(dir, sizeof(dir), "%s/bench-wal-XXXXXX", base);
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(1);
        }
        struct wal_options o = {.dir = dir, .recovered_retention_ms = -1};
        if (!wal_sync_mode_parse(mode, &o.sync_mode))
            exit(2);
        if (wal_open(&o, &wal, &eb) != RC_OK) {
            fprintf(stderr, "wal_open: %s\n", eb.msg);
            exit(1);
        }
    }
    struct flush_sink sink = {.write = noop_write, .publish = noop_publish};
    struct flusher_options fo = {.nworkers = 2,
                                 .on_batches_flushed = wal ? wal_batches_flushed : NULL,
                                 .on_batches_flushed_ctx = wal};
    struct flusher *f = NULL;
    if (flusher_start(cb, sink, &fo, &f, &eb) != RC_OK) {
        fprintf(stderr, "flusher_start: %s\n", eb.msg);
        exit(1);
    }
    struct run r = {.cb = cb, .wal = wal, .lines = lines};
    atomic_init(&r.stop, false);
    struct worker *ws = xcalloc((size_t)threads, sizeof(*ws));
    int64_t t0 = time_mono_ns();
    double c0 = cpu_now();
    for (int i = 0; i < threads; i++) {
        ws[i].run = &r;
        ws[i].index = i;
        ws[i].lat_us = xmalloc(MAX_LAT * sizeof(double));
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    }
    time_sleep_ms((int64_t)secs * 1000);
    atomic_store(&r.stop, true);
    size_t nlat = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].th, NULL);
        nlat += ws[i].nlat;
    }
    double elapsed = (double)(time_mono_ns() - t0) / 1e9;
    double cpu = cpu_now() - c0;
    double *all = xmalloc((nlat ? nlat : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < threads; i++) {
        memcpy(all + k, ws[i].lat_us, ws[i].nlat * sizeof(double));
        k += ws[i].nlat;
        xfree(ws[i].lat_us);
    }
    qsort(all, nlat, sizeof(double), cmp_double);
    res.req_s = (double)atomic_load(&r.requests) / elapsed;
    res.cpu_us = atomic_load(&r.requests) ? cpu * 1e6 / (double)atomic_load(&r.requests) : 0;
    res.rows_s = (double)atomic_load(&r.rows) / elapsed;
    res.p50_us = nlat ? all[nlat / 2] : 0;
    res.p99_us = nlat ? all[nlat * 99 / 100] : 0;
    res.busy = atomic_load(&r.busy);
    res.errors = atomic_load(&r.errors);
    if (wal) {
        struct wal_stats st;
        wal_get_stats(wal, &st);
        res.syncs = st.total_syncs;
        res.sync_ms = st.total_syncs ? st.total_sync_seconds * 1000.0 / (double)st.total_syncs : 0;
        res.groups = st.groups;
        res.entries = st.total_entries;
    }
    (void)flusher_stop(&f, 10000);
    wal_close(&wal);
    colbuf_free(&cb);
    xfree(all);
    xfree(ws);
    if (dir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
    return res;
}

static int int_arg(int argc, char **argv, int i, int dflt)
{
    if (argc <= i)
        return dflt;
    char *end = NULL;
    long v = strtol(argv[i], &end, 10);
    return (!end || *end || v <= 0 || v > 100000) ? -1 : (int)v;
}

/* Whether the comma-separated `list` contains `tok` as a whole item. */
static bool has_token(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, tok, n) == 0)
            return true;
        p += len + (end ? 1 : 0);
    }
    return false;
}

static int cmp_result(const void *a, const void *b)
{
    double x = ((const struct result *)a)->req_s, y = ((const struct result *)b)->req_s;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int threads = int_arg(argc, argv, 1, 64);
    int lines = int_arg(argc, argv, 2, 20);
    int secs = int_arg(argc, argv, 3, 3);
    int rounds = int_arg(argc, argv, 4, 3);
    const char *base = argc > 5 ? argv[5] : "/tmp";
    if (threads <= 0 || lines <= 0 || secs <= 0 || rounds <= 0 || rounds > 15) {
        fprintf(
            stderr,
            "usage: bench_wal [threads] [lines_per_request] [seconds] [rounds] [dir] [modes]\n");
        return 2;
    }
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    const char *all_modes[] = {"off", "async", "fdatasync", "fsync"};
    const char *pick = argc > 6 ? argv[6] : "off,async,fdatasync,fsync";
    const char *modes[4];
    int nmodes = 0;
    for (int i = 0; i < 4; i++)
        if (has_token(pick, all_modes[i]))
            modes[nmodes++] = all_modes[i];
    if (nmodes == 0) {
        fprintf(stderr, "bench_wal: no known mode in \"%s\"\n", pick);
        return 2;
    }
    struct result r[4][15];
    printf("bench_wal: %d writer threads, %d lines/request, %d s per mode, %d rounds, WAL under "
           "%s\n",
           threads, lines, secs, rounds, base);
    for (int k = 0; k < rounds; k++)
        for (int i = 0; i < nmodes; i++)
            r[i][k] = run_mode(modes[i], threads, lines, secs, base);
    printf("%-10s %12s %12s %10s %10s %10s %8s %8s %10s %6s   (median of %d rounds; all "
           "rounds req/s)\n",
           "mode", "requests/s", "rows/s", "cpu_us/req", "p50_us", "p99_us", "syncs", "sync_ms",
           "avg_group", "busy", rounds);
    struct result med[4];
    for (int i = 0; i < nmodes; i++) {
        struct result sorted[15];
        memcpy(sorted, r[i], (size_t)rounds * sizeof(sorted[0]));
        qsort(sorted, (size_t)rounds, sizeof(sorted[0]), cmp_result);
        med[i] = sorted[rounds / 2];
        double avg = med[i].groups ? (double)med[i].entries / (double)med[i].groups : 0;
        printf("%-10s %12.0f %12.0f %10.1f %10.0f %10.0f %8llu %8.2f %10.1f %6llu%s  ", modes[i],
               med[i].req_s, med[i].rows_s, med[i].cpu_us, med[i].p50_us, med[i].p99_us,
               (unsigned long long)med[i].syncs, med[i].sync_ms, avg,
               (unsigned long long)med[i].busy, med[i].errors ? "  ERRORS" : "");
        for (int k = 0; k < rounds; k++)
            printf(" %.0f", r[i][k].req_s);
        printf("\n");
    }
    for (int i = 1; i < nmodes && strcmp(modes[0], "off") == 0; i++)
        printf("%s costs %.1f%% of the throughput of off, %+.1f us CPU per request\n", modes[i],
               med[0].req_s > 0 ? 100.0 * (1.0 - med[i].req_s / med[0].req_s) : 0.0,
               med[i].cpu_us - med[0].cpu_us);
    return 0;
}
