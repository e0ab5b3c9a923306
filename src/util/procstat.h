/*
 * util/procstat.h — the machine's CPU time from the first line of
 * /proc/stat, for the metrics collector (CPU %) and the WAL writer (is the
 * machine CPU-bound?).
 */
#ifndef UTIL_PROCSTAT_H
#define UTIL_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Busy and total CPU time of all CPUs, in clock ticks, from /proc/stat's
 * text ("cpu  user nice system idle iowait irq softirq steal ..."): idle
 * and iowait are the not-busy part; guest time is already in user. Older
 * kernels stop after idle (the rest count as 0). False if the line is not
 * there. */
static inline bool procstat_cpu_times(const char *text, uint64_t *busy, uint64_t *total)
{
    unsigned long long v[8] = {0};
    if (sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) < 4)
        return false;
    *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    *total = *busy + v[3] + v[4];
    return true;
}

#endif
