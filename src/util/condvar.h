/*
 * util/condvar.h — condition variables that wait on CLOCK_MONOTONIC, and
 * the absolute deadlines pthread_cond_timedwait wants for them. Every timed
 * wait in Arc uses these: a wall-clock jump must neither stall a wait nor
 * make it spin.
 */
#ifndef UTIL_CONDVAR_H
#define UTIL_CONDVAR_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* pthread_cond_init with a CLOCK_MONOTONIC clock. */
static inline void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

/* *ts = now + ms on CLOCK_MONOTONIC (ms >= 0), for a cond from
 * cond_init_monotonic. */
static inline void cond_deadline_ms(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

#endif
