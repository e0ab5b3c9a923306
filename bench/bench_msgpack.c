/*
 * bench/bench_msgpack.c — throughput of the MessagePack write decoder.
 *
 * Builds two request bodies in memory with msgpuck's encoders and decodes
 * each several times with mpdec_decode, printing rows/s and MB/s:
 *   columnar: {"batch": [items]}, each item 10,000 rows x 10 columns
 *             (time in ns, 3 string tags, 5 doubles, 1 integer);
 *   row:      an array of row items {m, t, h, tags{2}, fields{6}}.
 * Usage: bench_msgpack [columnar_rows] [row_items] [iterations]
 * Reported, not asserted (a Release build is what the numbers mean). Both
 * wall-clock and thread CPU time are shown: on a shared machine the CPU-time
 * rate is the steadier number.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpuck.h>

#include "ingest/msgpack.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define ITEM_ROWS 10000

static char *build_columnar(size_t rows, size_t *len)
{
    /* Generous upper bound: ~120 bytes per row. */
    char *buf = xmalloc(rows * 120 + 1024);
    char *w = buf;
    size_t nitems = (rows + ITEM_ROWS - 1) / ITEM_ROWS;
    static const char *regions[] = {"eu-west", "eu-north", "us-east", "ap-south"};
    w = mp_encode_map(w, 1);
    w = mp_encode_str(w, "batch", 5);
    w = mp_encode_array(w, (uint32_t)nitems);
    for (size_t it = 0; it < nitems; it++) {
        uint32_t n = (uint32_t)(it + 1 < nitems ? ITEM_ROWS : rows - it * ITEM_ROWS);
        size_t r0 = it * ITEM_ROWS;
        w = mp_encode_map(w, 3);
        w = mp_encode_str(w, "m", 1);
        w = mp_encode_str(w, "cpu", 3);
        w = mp_encode_str(w, "tags", 4);
        w = mp_encode_array(w, 3);
        w = mp_encode_str(w, "host", 4);
        w = mp_encode_str(w, "region", 6);
        w = mp_encode_str(w, "core", 4);
        w = mp_encode_str(w, "columns", 7);
        w = mp_encode_map(w, 10);
        w = mp_encode_str(w, "time", 4);
        w = mp_encode_array(w, n);
        for (uint32_t i = 0; i < n; i++)
            w = mp_encode_uint(w, UINT64_C(1736950000000000000) + (r0 + i) * UINT64_C(1000000));
        char s[32];
        w = mp_encode_str(w, "host", 4);
        w = mp_encode_array(w, n);
        for (uint32_t i = 0; i < n; i++) {
            int sl = snprintf(s, sizeof(s), "server-%02zu", (r0 + i) % 50);
            w = mp_encode_str(w, s, (uint32_t)sl);
        }
        w = mp_encode_str(w, "region", 6);
        w = mp_encode_array(w, n);
        for (uint32_t i = 0; i < n; i++) {
            const char *rg = regions[(r0 + i) % 4];
            w = mp_encode_str(w, rg, (uint32_t)strlen(rg));
        }
        w = mp_encode_str(w, "core", 4);
        w = mp_encode_array(w, n);
        for (uint32_t i = 0; i < n; i++) {
            int sl = snprintf(s, sizeof(s), "cpu%zu", (r0 + i) % 8);
            w = mp_encode_str(w, s, (uint32_t)sl);
        }
        static const char *dnames[] = {"usage_user", "usage_system", "usage_idle", "load1", "temp"};
        for (int d = 0; d < 5; d++) {
            w = mp_encode_str(w, dnames[d], (uint32_t)strlen(dnames[d]));
            w = mp_encode_array(w, n);
            for (uint32_t i = 0; i < n; i++)
                w = mp_encode_double(w, (double)((r0 + i) % 1000) * 0.125 + d);
        }
        w = mp_encode_str(w, "procs", 5);
        w = mp_encode_array(w, n);
        for (uint32_t i = 0; i < n; i++)
            w = mp_encode_uint(w, (r0 + i) % 700);
    }
    *len = (size_t)(w - buf);
    return buf;
}

static char *build_rows(size_t rows, size_t *len)
{
    char *buf = xmalloc(rows * 200 + 1024);
    char *w = buf;
    w = mp_encode_array(w, (uint32_t)rows);
    for (size_t r = 0; r < rows; r++) {
        w = mp_encode_map(w, 5);
        w = mp_encode_str(w, "m", 1);
        w = mp_encode_str(w, "mem", 3);
        w = mp_encode_str(w, "t", 1);
        w = mp_encode_uint(w, UINT64_C(1736950000000) + r);
        w = mp_encode_str(w, "h", 1);
        w = mp_encode_uint(w, r % 20);
        w = mp_encode_str(w, "tags", 4);
        w = mp_encode_map(w, 2);
        w = mp_encode_str(w, "dc", 2);
        w = mp_encode_str(w, r % 2 ? "fra1" : "ams3", 4);
        w = mp_encode_str(w, "rack", 4);
        w = mp_encode_uint(w, r % 16);
        w = mp_encode_str(w, "fields", 6);
        w = mp_encode_map(w, 6);
        /* ints and floats alternating in one column (Python sends 20.0 as 20) */
        w = mp_encode_str(w, "temp", 4);
        w = r % 2 ? mp_encode_double(w, 20.5) : mp_encode_uint(w, 20);
        w = mp_encode_str(w, "used", 4);
        w = mp_encode_uint(w, 1000000 + r);
        w = mp_encode_str(w, "free", 4);
        w = mp_encode_uint(w, 2000000 - r % 1000);
        w = mp_encode_str(w, "pct", 3);
        w = mp_encode_double(w, (double)(r % 100) * 0.5);
        w = mp_encode_str(w, "swap", 4);
        w = mp_encode_bool(w, r % 3 == 0);
        w = mp_encode_str(w, "state", 5);
        w = mp_encode_str(w, "ok", 2);
    }
    *len = (size_t)(w - buf);
    return buf;
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int run(const char *label, const char *body, size_t len, int iters)
{
    struct mpdec_options o;
    memset(&o, 0, sizeof(o));
    o.db = "bench";
    o.default_ts_us = time_now_us();
    double best = 0, best_cpu = 0;
    size_t rows = 0;
    for (int i = 0; i < iters; i++) {
        struct mpdec_result r;
        struct errbuf eb;
        errbuf_clear(&eb);
        int64_t t0 = time_mono_ns(), c0 = cpu_ns();
        int rc = mpdec_decode(body, len, &o, &r, &eb);
        int64_t t1 = time_mono_ns(), c1 = cpu_ns();
        if (rc != RC_OK) {
            fprintf(stderr, "%s: decode failed: %s\n", label, eb.msg);
            return 1;
        }
        rows = r.rows;
        mpdec_result_cleanup(&r);
        double rate = (double)rows / ((double)(t1 - t0) / 1e9);
        double rate_cpu = (double)rows / ((double)(c1 - c0) / 1e9);
        if (rate > best)
            best = rate;
        if (rate_cpu > best_cpu)
            best_cpu = rate_cpu;
    }
    printf("%-9s rows=%zu body=%.1f MB, best of %d: wall %.2f M rows/s (%.0f MB/s), "
           "cpu %.2f M rows/s (%.0f MB/s)\n",
           label, rows, (double)len / 1e6, iters, best / 1e6, (double)len / 1e6 / (rows / best),
           best_cpu / 1e6, (double)len / 1e6 / (rows / best_cpu));
    return 0;
}

int main(int argc, char **argv)
{
    size_t crows = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    size_t rrows = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
    int iters = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
    size_t clen, rlen;
    char *cbody = build_columnar(crows, &clen);
    char *rbody = build_rows(rrows, &rlen);
    int rc = run("columnar", cbody, clen, iters) || run("row", rbody, rlen, iters);
    xfree(cbody);
    xfree(rbody);
    return rc;
}
