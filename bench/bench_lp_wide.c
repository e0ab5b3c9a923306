/*
 * bench/bench_lp_wide.c — line-protocol decoder on wide, TSBS-shaped lines
 * (reported, not asserted).
 *
 *   bench_lp_wide [lines] [hosts] [rounds]      defaults: 100000 100 5
 *
 * Builds `lines` lines in memory shaped like the TSBS "cpu-only" use case
 * (measurement `cpu`, 10 tags, 10 float fields, nanosecond timestamp, about
 * 300 bytes per line):
 *
 *   cpu,hostname=host_42,region=us-west-2,datacenter=us-west-2b,rack=73,
 *   os=Ubuntu16.04LTS,arch=x64,team=NYC,service=11,service_version=0,
 *   service_environment=staging usage_user=12.34,usage_system=...,
 *   usage_guest_nice=7.5 1451606400000000000
 *
 * spread over `hosts` hosts (each host has fixed tags, as in TSBS; lines go
 * round the hosts, one point per host every 10 s, so every line is a
 * distinct row). Then parses the body `rounds` times with lp_parse on one
 * thread and prints the best round in lines/s and MB/s by wall clock and by
 * thread CPU time (the CPU figure is the one to compare on a shared machine;
 * for a repeatable figure run it under `valgrind --tool=callgrind
 * --toggle-collect=lp_parse` and divide Ir by lines × rounds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/lp.h"
#include "util/mem.h"
#include "util/timeutil.h"

#include "bench_util.h"

#define USAGE "bench_lp_wide [lines] [hosts] [rounds]"

/* Deterministic generator (xorshift64*), so every run parses the same bytes. */
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static const char *const regions[] = {"us-east-1",      "us-west-1",      "us-west-2",
                                      "eu-west-1",      "eu-central-1",   "ap-southeast-1",
                                      "ap-southeast-2", "ap-northeast-1", "sa-east-1"};
static const char *const oses[] = {"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"};
static const char *const archs[] = {"x64", "x86"};
static const char *const teams[] = {"SF", "NYC", "LON", "CHI"};
static const char *const envs[] = {"production", "staging", "test"};
static const char *const fields[] = {
    "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
    "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

int main(int argc, char **argv)
{
    size_t nlines = bench_arg(argc, argv, 1, 100000, USAGE);
    size_t nhosts = bench_arg(argc, argv, 2, 100, USAGE);
    size_t rounds = bench_arg(argc, argv, 3, 5, USAGE);

    /* Per-host tag section: fixed for the host, like TSBS. */
    char **tagsec = xmalloc(nhosts * sizeof(char *));
    for (size_t h = 0; h < nhosts; h++) {
        char buf[512];
        size_t ri = rnd() % N_OF(regions);
        snprintf(buf, sizeof(buf),
                 "cpu,hostname=host_%zu,region=%s,datacenter=%s%c,rack=%u,os=%s,arch=%s,team=%s,"
                 "service=%u,service_version=%u,service_environment=%s",
                 h, regions[ri], regions[ri], (char)('a' + rnd() % 3), (unsigned)(rnd() % 100),
                 oses[rnd() % N_OF(oses)], archs[rnd() % N_OF(archs)], teams[rnd() % N_OF(teams)],
                 (unsigned)(rnd() % 20), (unsigned)(rnd() % 2), envs[rnd() % N_OF(envs)]);
        tagsec[h] = xstrdup(buf);
    }

    size_t cap = nlines * 400 + 1;
    char *body = xmalloc(cap);
    size_t len = 0;
    for (size_t i = 0; i < nlines; i++) {
        long long ts = 1451606400LL * 1000000000LL + (long long)(i / nhosts) * 10000000000LL;
        int n = snprintf(body + len, cap - len, "%s ", tagsec[i % nhosts]);
        len += (size_t)n;
        for (size_t f = 0; f < N_OF(fields); f++) {
            /* Values like 12.34: 0..99 with two decimals, now and then one. */
            uint64_t r = rnd();
            unsigned ip = (unsigned)(r % 100), fp = (unsigned)((r >> 8) % 100);
            if ((r >> 20) % 8 == 0)
                n = snprintf(body + len, cap - len, "%s%s=%u.%u", f ? "," : "", fields[f], ip,
                             fp % 10);
            else
                n = snprintf(body + len, cap - len, "%s%s=%u.%02u", f ? "," : "", fields[f], ip,
                             fp);
            len += (size_t)n;
        }
        n = snprintf(body + len, cap - len, " %lld\n", ts);
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
        if (r.lines_accepted != nlines || r.rows != nlines || r.nbatches != 1 ||
            r.batches[0]->ncols != 20) {
            fprintf(stderr, "unexpected result: accepted=%zu rows=%zu rejected=%zu%s%s\n",
                    r.lines_accepted, r.rows, r.lines_rejected, r.nerrors ? " first: " : "",
                    r.nerrors ? r.errors[0].reason : "");
            return 1;
        }
        if (k + 1 < rounds)
            lp_result_cleanup(&r);
    }
    printf("lines=%zu hosts=%zu bytes=%zu (%.0f B/line) rows=%zu cols=%zu heap=%zu B\n", nlines,
           nhosts, len, (double)len / (double)nlines, r.rows, r.batches[0]->ncols,
           r.batches[0]->heap_len);
    printf("best of %zu (wall): %.3f s  %.0f k lines/s  %.1f MB/s\n", rounds, best,
           (double)nlines / best / 1e3, (double)len / best / 1e6);
    printf("best of %zu (cpu):  %.3f s  %.0f k lines/s  %.1f MB/s\n", rounds, best_cpu,
           (double)nlines / best_cpu / 1e3, (double)len / best_cpu / 1e6);
    lp_result_cleanup(&r);
    for (size_t h = 0; h < nhosts; h++)
        xfree(tagsec[h]);
    xfree(tagsec);
    xfree(body);
    return 0;
}
