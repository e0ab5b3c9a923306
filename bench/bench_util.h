/*
 * bench/bench_util.h — small helpers shared by the single-file benchmarks:
 * thread CPU time and positive integer arguments.
 */
#ifndef BENCH_BENCH_UTIL_H
#define BENCH_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* CPU time of the calling thread, seconds. */
static inline double bench_thread_cpu_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* argv[i] as a positive integer, dflt if absent; prints `usage` and exits 2
 * if it is not one. */
static inline size_t bench_arg(int argc, char **argv, int i, size_t dflt, const char *usage)
{
    if (argc <= i)
        return dflt;
    char *end = NULL;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (!end || *end || v == 0) {
        fprintf(stderr, "usage: %s\n", usage);
        exit(2);
    }
    return (size_t)v;
}

#endif
