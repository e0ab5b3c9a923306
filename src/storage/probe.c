/*
 * storage/probe.c — background storage health probe (see probe.h).
 *
 * Owns one thread ("arc-probe") and the last result. The probe thread
 * writes the state under mu after each probe; readers copy it under mu.
 * mu is never held across the storage call.
 *
 * Logging: the first failure after a success is logged at WARN, reaching
 * STORAGE_PROBE_FAIL_THRESHOLD at ERROR (once per streak), and the first
 * success after a failure at INFO with the streak length.
 */
#include "storage/probe.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "storage/s3.h"
#include "storage/storage.h"
#include "util/condvar.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define DEFAULT_INTERVAL_MS 10000
#define DEFAULT_KEY "_arc/probe"

struct storage_probe {
    /* Immutable after start. */
    struct storage *st;
    char *key;
    int64_t interval_ms;
    pthread_t thread;
    bool thread_started;
    struct metric *m_failures, *m_consecutive, *m_duration;

    /* mu guards the fields below. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop requested */
    bool stop;
    struct storage_probe_state state;
};

int storage_probe_run_once(struct storage_probe *p, struct errbuf *eb)
{
    int64_t t0 = time_mono_ms();
    struct storage_object_info info;
    struct errbuf local;
    errbuf_clear(&local);
    int rc = storage_head(p->st, p->key, &info, &local);
    bool ok = rc == RC_OK || rc == RC_NOT_FOUND; /* the backend answered */
    int64_t took = time_mono_ms() - t0;
    metric_observe(p->m_duration, (double)took / 1000.0);

    pthread_mutex_lock(&p->mu);
    struct storage_probe_state *s = &p->state;
    uint32_t streak = s->consecutive_failures;
    s->runs++;
    s->last_ok = ok;
    s->last_run_us = time_now_us();
    s->last_duration_ms = took;
    if (ok) {
        s->last_ok_us = s->last_run_us;
        s->consecutive_failures = 0;
    } else {
        s->total_failures++;
        s->consecutive_failures++;
        snprintf(s->last_error, sizeof(s->last_error), "%s: %.230s", rc_name(rc), local.msg);
    }
    uint32_t now_streak = s->consecutive_failures;
    pthread_mutex_unlock(&p->mu);

    metric_set(p->m_consecutive, now_streak);
    if (ok) {
        if (streak)
            log_info("storage", "probe recovered after %u failed probes backend=%s", streak,
                     storage_backend_name(p->st));
        return RC_OK;
    }
    metric_inc(p->m_failures);
    if (now_streak == 1)
        log_warn("storage", "probe failed backend=%s key=%s ms=%lld err=%s",
                 storage_backend_name(p->st), p->key, (long long)took, local.msg);
    else if (now_streak == STORAGE_PROBE_FAIL_THRESHOLD)
        log_error("storage", "probe failed %u times in a row: storage not ready backend=%s err=%s",
                  now_streak, storage_backend_name(p->st), local.msg);
    if (eb)
        errbuf_set(eb, rc, "%s", local.msg);
    return rc;
}

static void *probe_main(void *arg)
{
    struct storage_probe *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pthread_mutex_unlock(&p->mu);
        if (storage_probe_run_once(p, NULL) != RC_OK) {
            /* recorded in the state and logged by run_once */
        }
        pthread_mutex_lock(&p->mu);
        struct timespec ts;
        cond_deadline_ms(&ts, p->interval_ms);
        while (!p->stop) {
            if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
                break; /* interval passed */
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void probe_free(struct storage_probe *p)
{
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    xfree(p->key);
    xfree(p);
}

int storage_probe_start(struct storage *st, const struct storage_probe_options *opts,
                        struct storage_probe **out, struct errbuf *eb)
{
    const char *key = opts && opts->key ? opts->key : DEFAULT_KEY;
    if (!st || !storage_key_is_valid(key))
        return errbuf_set(eb, RC_INVALID, "storage probe: invalid key or no storage");
    struct storage_probe *p = xcalloc(1, sizeof(*p));
    p->st = st;
    p->key = xstrdup(key);
    p->interval_ms = opts && opts->interval_ms > 0 ? opts->interval_ms : DEFAULT_INTERVAL_MS;
    p->state.last_ok = true;
    pthread_mutex_init(&p->mu, NULL);
    cond_init_monotonic(&p->cv);
    p->m_failures = metrics_counter("arc_storage_probe_failures_total",
                                    "Failed background storage probes", NULL);
    p->m_consecutive = metrics_gauge("arc_storage_probe_consecutive_failures",
                                     "Storage probes failed since the last success", NULL);
    p->m_duration = metrics_histogram("arc_storage_probe_duration_seconds",
                                      "Time taken by one storage probe", NULL);
    metric_set(p->m_consecutive, 0);
    if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
        probe_free(p);
        return errbuf_set(eb, RC_INTERNAL, "storage probe: cannot start thread");
    }
    pthread_setname_np(p->thread, "arc-probe");
    p->thread_started = true;
    log_info("storage", "probe started backend=%s interval_ms=%lld key=%s",
             storage_backend_name(st), (long long)p->interval_ms, p->key);
    *out = p;
    return RC_OK;
}

void storage_probe_stop(struct storage_probe **pp)
{
    if (!pp || !*pp)
        return;
    struct storage_probe *p = *pp;
    *pp = NULL;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->thread_started)
        pthread_join(p->thread, NULL);
    probe_free(p);
}

void storage_probe_get_state(const struct storage_probe *p, struct storage_probe_state *out)
{
    /* The mutex is the only mutable part of a const probe. */
    struct storage_probe *mp = (struct storage_probe *)p;
    pthread_mutex_lock(&mp->mu);
    *out = p->state;
    pthread_mutex_unlock(&mp->mu);
}

bool storage_probe_is_ready(const struct storage_probe *p)
{
    if (!p)
        return true;
    struct storage_probe_state s;
    storage_probe_get_state(p, &s);
    return s.consecutive_failures < STORAGE_PROBE_FAIL_THRESHOLD;
}

const char *storage_probe_component(const struct storage_probe *p)
{
    if (!p)
        return "disabled";
    struct storage_probe_state s;
    storage_probe_get_state(p, &s);
    if (!s.last_ok || storage_s3_circuit_open(p->st))
        return "degraded";
    return "ok";
}
