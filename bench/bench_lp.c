/*
 * bench/bench_lp.c — line-protocol decoder throughput (reported, not asserted).
 *
 *   bench_lp [lines] [series] [rounds]
 *
 * Generates `lines` lines in memory, shaped like Telegraf's cpu input:
 *   cpu,host=server00042,region=us-west usage_idle=95.5,usage_user=3i,ok=true 1700000000000000000
 * spread over `series` distinct hosts (every line is a distinct row: each
 * series gets one point per second), then parses the body `rounds` times
 * with lp_parse on one thread and prints the best round in lines/s and MB/s,
 * by wall clock and by thread CPU time (the CPU figure is the stable one on
 * a shared machine).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/lp.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include "bench_util.h"

#define USAGE "bench_lp [lines] [series] [rounds]"

int main(int argc, char **argv)
{
    size_t nlines = bench_arg(argc, argv, 1, 1000000, USAGE);
    size_t nseries = bench_arg(argc, argv, 2, 1000, USAGE);
    size_t rounds = bench_arg(argc, argv, 3, 3, USAGE);

    size_t cap = nlines * 128 + 1;
    char *body = xmalloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < nlines; i++) {
        long long ts = 1700000000LL * 1000000000LL + (long long)(i / nseries) * 1000000000LL;
        int n = snprintf(body + len, cap - len,
                         "cpu,host=server%05zu,region=us-west usage_idle=%zu.%zu,"
                         "usage_user=%zui,ok=true %lld\n",
                         i % nseries, (i * 7) % 100, i % 10, i % 97, ts);
        if (n < 0 || (size_t)n >= cap - len) {
            fprintf(stderr, "buffer too small\n");
            return 1;
        }
        len += (size_t)n;
    }

    struct lp_options o = {
        .db = "bench",
        .precision = LP_NS,
        .default_ts_us = time_now_us(),
        .max_line_bytes = 1 << 20,
        .max_reported_errors = 100,
    };
    double best = 1e30, best_cpu = 1e30;
    struct lp_result r;
    for (size_t k = 0; k < rounds; k++) {
        int64_t t0 = time_mono_ns();
        double c0 = bench_thread_cpu_secs();
        if (lp_parse(body, len, &o, &r) != RC_OK) {
            fprintf(stderr, "lp_parse failed\n");
            return 1;
        }
        double secs = (double)(time_mono_ns() - t0) / 1e9;
        double csecs = bench_thread_cpu_secs() - c0;
        if (secs < best)
            best = secs;
        if (csecs < best_cpu)
            best_cpu = csecs;
        if (r.lines_accepted != nlines || r.rows != nlines) {
            fprintf(stderr, "unexpected result: accepted=%zu rows=%zu rejected=%zu\n",
                    r.lines_accepted, r.rows, r.lines_rejected);
            return 1;
        }
        if (k + 1 < rounds)
            lp_result_cleanup(&r);
    }
    printf("lines=%zu series=%zu bytes=%zu batches=%zu rows=%zu\n", nlines, nseries, len,
           r.nbatches, r.rows);
    printf("best of %zu (wall): %.3f s  %.2f M lines/s  %.1f MB/s\n", rounds, best,
           (double)nlines / best / 1e6, (double)len / best / 1e6);
    printf("best of %zu (cpu):  %.3f s  %.2f M lines/s  %.1f MB/s\n", rounds, best_cpu,
           (double)nlines / best_cpu / 1e6, (double)len / best_cpu / 1e6);
    lp_result_cleanup(&r);
    xfree(body);
    return 0;
}
