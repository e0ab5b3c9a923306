/*
 * bench/bench_walrec.c — cost of serialising a batch into a WAL record
 * (reported, not asserted).
 *
 *   bench_walrec [rows_per_request] [hosts] [rounds]
 *
 * Parses one TSBS "cpu-only"-shaped request (measurement cpu, 10 tags, 10
 * float fields, `hosts` hosts, default 500 rows over 20 hosts — the shape
 * bench_ingest sends) with lp_parse, then encodes the resulting batch into a
 * DATA record (walrec_data_append: what wal_prepare does on the request
 * thread), and decodes it again (what replay does), `rounds` times each
 * (default 2000). Prints thread CPU ns per row for encode and decode and the
 * record's bytes per row, next to the line protocol's bytes per row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/batch.h"
#include "ingest/lp.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include "bench_util.h"
#include "wal/wal_internal.h"

#define USAGE "bench_walrec [rows_per_request] [hosts] [rounds]"

int main(int argc, char **argv)
{
    size_t nrows = bench_arg(argc, argv, 1, 500, USAGE);
    size_t nhosts = bench_arg(argc, argv, 2, 20, USAGE);
    size_t rounds = bench_arg(argc, argv, 3, 2000, USAGE);

    size_t cap = nrows * 400 + 1, len = 0;
    char *body = xmalloc(cap);
    for (size_t i = 0; i < nrows; i++) {
        size_t h = i % nhosts;
        long long ts = 1736949600LL * 1000000000LL + (long long)(i / nhosts) * 10000000000LL;
        len += (size_t)snprintf(
            body + len, cap - len,
            "cpu,hostname=host_%zu,region=%s,datacenter=%s%zu,rack=%zu,os=Ubuntu16.10,"
            "arch=x64,team=%s,service=%zu,service_version=%zu,service_environment=%s "
            "usage_user=%zu.5,usage_system=%zu.25,usage_idle=%zu.75,usage_nice=%zu.0,"
            "usage_iowait=%zu.5,usage_irq=1.5,usage_softirq=%zu.25,usage_steal=0.5,"
            "usage_guest=0.25,usage_guest_nice=%zu.125 %lld\n",
            h, h % 3 ? "us-west-1" : "eu-central-1", h % 3 ? "us-west-1" : "eu-central-1", h % 2,
            h % 50, h % 4 ? "SF" : "NYC", h % 19, h % 2, h % 2 ? "production" : "staging", i % 100,
            (i * 7) % 100, (i * 13) % 100, i % 5, (i * 3) % 50, i % 9, i % 11, ts);
    }
    struct lp_options o = {.db = "bench", .precision = LP_NS, .default_ts_us = time_now_us()};
    struct lp_result r;
    if (lp_parse(body, len, &o, &r) != RC_OK || r.nbatches != 1 || r.rows != nrows) {
        fprintf(stderr, "bench_walrec: unexpected parse result (rows=%zu)\n", r.rows);
        return 1;
    }
    const struct batch *b = r.batches[0];

    struct wbuf w = {0};
    double enc_best = 1e30, dec_best = 1e30;
    size_t rec_bytes = 0;
    for (int pass = 0; pass < 3; pass++) {
        double c0 = bench_thread_cpu_secs();
        for (size_t k = 0; k < rounds; k++) {
            w.len = 0;
            walrec_data_append(&w, 1, b);
        }
        double enc = (bench_thread_cpu_secs() - c0) / (double)rounds;
        rec_bytes = w.len;
        c0 = bench_thread_cpu_secs();
        for (size_t k = 0; k < rounds; k++) {
            struct batch *d = NULL;
            if (walrec_batch_decode(w.p + WAL_REC_HDR_BYTES + 8, w.len - WAL_REC_HDR_BYTES - 8, &d,
                                    NULL) != RC_OK) {
                fprintf(stderr, "bench_walrec: decode failed\n");
                return 1;
            }
            batch_unref(&d);
        }
        double dec = (bench_thread_cpu_secs() - c0) / (double)rounds;
        if (enc < enc_best)
            enc_best = enc;
        if (dec < dec_best)
            dec_best = dec;
    }
    printf("rows=%zu hosts=%zu line_protocol_bytes_per_row=%.0f record_bytes_per_row=%.0f\n", nrows,
           nhosts, (double)len / (double)nrows, (double)rec_bytes / (double)nrows);
    printf("encode %.0f ns/row (%.1f us/request), decode %.0f ns/row (best of 3 x %zu, CPU)\n",
           enc_best * 1e9 / (double)nrows, enc_best * 1e6, dec_best * 1e9 / (double)nrows, rounds);
    wal__wbuf_free(&w);
    lp_result_cleanup(&r);
    xfree(body);
    return 0;
}
