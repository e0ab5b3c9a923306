/*
 * jobs/scheduler.c — the scheduler thread ("arc-sched", scheduler.h).
 *
 * Owns a list of named jobs, each either a cron expression (wall clock,
 * UTC) or a fixed interval (monotonic clock). The thread sleeps on a
 * condition variable (CLOCK_MONOTONIC) until the earliest due time, but
 * never longer than one second, so a wall-clock jump delays a cron job by
 * at most a second and never fires it twice for the same minute. Due
 * callbacks run one after another on this thread with `lock` released;
 * the scheduler only decides *when* (long work belongs on the caller's own
 * threads). A callback taking longer than SLOW_CALLBACK_MS is logged.
 *
 * Cron jobs that are missed (the thread was busy or the process asleep)
 * run once, not once per missed minute; their next time is computed from
 * the time they actually ran.
 *
 * Threads: scheduler_* from any thread; callbacks on "arc-sched".
 */
#include "jobs/scheduler.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/condvar.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define SLOW_CALLBACK_MS 5000
#define MAX_SLEEP_MS 1000
#define JOB_NAME_MAX 64

struct sched_job {
    char name[JOB_NAME_MAX];
    bool is_cron;
    struct cron_expr cron;
    int64_t interval_ms;
    sched_job_fn fn;
    void *ctx;
    int64_t next_wall_us; /* cron: next match (wall clock) */
    int64_t next_mono_ms; /* interval: next run (monotonic) */
    int64_t last_us;      /* wall clock of the last start, 0 = never */
    bool removing;        /* scheduler_remove is waiting: never start it again */
};

struct scheduler {
    pthread_t thread;
    /* lock guards everything below; never held while a callback runs. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sched_job *jobs;
    size_t njobs, cap;
    bool stop;
    char running[JOB_NAME_MAX]; /* name of the callback running now, "" = none */
    pthread_cond_t idle;        /* signalled when a callback returns */
};

static bool job_due(const struct sched_job *j, int64_t now_us, int64_t now_ms)
{
    return j->is_cron ? j->next_wall_us <= now_us : j->next_mono_ms <= now_ms;
}

/* Milliseconds until job j is due (0 if due). */
static int64_t job_wait_ms(const struct sched_job *j, int64_t now_us, int64_t now_ms)
{
    int64_t d =
        j->is_cron
            ? (j->next_wall_us == INT64_MAX ? INT64_MAX : (j->next_wall_us - now_us + 999) / 1000)
            : j->next_mono_ms - now_ms;
    return d < 0 ? 0 : d;
}

static void *sched_main(void *arg)
{
    struct scheduler *s = arg;
    pthread_setname_np(pthread_self(), "arc-sched");
    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        int64_t now_us = time_now_us(), now_ms = time_mono_ms();
        size_t due = s->njobs;
        int64_t wait = MAX_SLEEP_MS;
        for (size_t i = 0; i < s->njobs; i++) {
            if (s->jobs[i].removing)
                continue;
            if (job_due(&s->jobs[i], now_us, now_ms)) {
                due = i;
                break;
            }
            int64_t w = job_wait_ms(&s->jobs[i], now_us, now_ms);
            if (w < wait)
                wait = w;
        }
        if (due == s->njobs) {
            struct timespec ts;
            cond_deadline_ms(&ts, wait > 0 ? wait : 1);
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
            continue;
        }
        struct sched_job *j = &s->jobs[due];
        /* Reschedule before running, so the job cannot fire twice. */
        if (j->is_cron)
            j->next_wall_us = cron_next(&j->cron, now_us);
        else
            j->next_mono_ms = now_ms + j->interval_ms;
        j->last_us = now_us;
        sched_job_fn fn = j->fn;
        void *ctx = j->ctx;
        char name[JOB_NAME_MAX];
        memcpy(name, j->name, sizeof(name));
        memcpy(s->running, j->name, sizeof(s->running));
        pthread_mutex_unlock(&s->lock);
        log_debug("sched", "running job name=%s", name);
        int64_t t0 = time_mono_ms();
        fn(ctx, now_us);
        int64_t took = time_mono_ms() - t0;
        if (took > SLOW_CALLBACK_MS)
            log_warn("sched",
                     "job callback was slow name=%s took_ms=%lld (hand long work to a "
                     "worker thread)",
                     name, (long long)took);
        pthread_mutex_lock(&s->lock);
        s->running[0] = '\0';
        pthread_cond_broadcast(&s->idle);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int scheduler_start(struct scheduler **out, struct errbuf *eb)
{
    struct scheduler *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    cond_init_monotonic(&s->cond);
    pthread_cond_init(&s->idle, NULL);
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
        pthread_cond_destroy(&s->idle);
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        xfree(s);
        return errbuf_set(eb, RC_INTERNAL, "scheduler: cannot start thread");
    }
    *out = s;
    return RC_OK;
}

static int add_job(struct scheduler *s, const struct sched_job *j, struct errbuf *eb)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->njobs; i++) {
        if (strcmp(s->jobs[i].name, j->name) == 0) {
            pthread_mutex_unlock(&s->lock);
            return errbuf_set(eb, RC_EXISTS, "scheduler: job %s already exists", j->name);
        }
    }
    if (s->njobs == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->jobs = xrealloc(s->jobs, s->cap * sizeof(*s->jobs));
    }
    s->jobs[s->njobs++] = *j;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return RC_OK;
}

static int check_name(const char *name, sched_job_fn fn, struct errbuf *eb)
{
    if (!name || !name[0] || strlen(name) >= JOB_NAME_MAX)
        return errbuf_set(eb, RC_INVALID, "scheduler: job name must be 1-%d characters",
                          JOB_NAME_MAX - 1);
    if (!fn)
        return errbuf_set(eb, RC_INVALID, "scheduler: job %s has no function", name);
    return RC_OK;
}

int scheduler_add_cron(struct scheduler *s, const char *name, const char *cron, sched_job_fn fn,
                       void *ctx, struct errbuf *eb)
{
    int rc = check_name(name, fn, eb);
    if (rc != RC_OK)
        return rc;
    struct sched_job j = {.is_cron = true, .fn = fn, .ctx = ctx};
    snprintf(j.name, sizeof(j.name), "%s", name);
    if ((rc = cron_parse(cron, &j.cron, eb)) != RC_OK)
        return rc;
    j.next_wall_us = cron_next(&j.cron, time_now_us());
    if (j.next_wall_us == INT64_MAX)
        log_warn("sched", "cron expression never matches name=%s cron=%s", name, cron);
    return add_job(s, &j, eb);
}

int scheduler_add_interval(struct scheduler *s, const char *name, int64_t interval_ms,
                           sched_job_fn fn, void *ctx, struct errbuf *eb)
{
    int rc = check_name(name, fn, eb);
    if (rc != RC_OK)
        return rc;
    if (interval_ms <= 0)
        return errbuf_set(eb, RC_INVALID, "scheduler: job %s needs an interval > 0", name);
    struct sched_job j = {.is_cron = false, .interval_ms = interval_ms, .fn = fn, .ctx = ctx};
    snprintf(j.name, sizeof(j.name), "%s", name);
    j.next_mono_ms = time_mono_ms() + interval_ms;
    return add_job(s, &j, eb);
}

bool scheduler_job_times(struct scheduler *s, const char *name, int64_t *next_us, int64_t *last_us)
{
    if (next_us)
        *next_us = 0;
    if (last_us)
        *last_us = 0;
    if (!s || !name)
        return false;
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->njobs; i++) {
        const struct sched_job *j = &s->jobs[i];
        if (strcmp(j->name, name) != 0)
            continue;
        found = true;
        if (next_us) {
            if (j->is_cron)
                *next_us = j->next_wall_us == INT64_MAX ? 0 : j->next_wall_us;
            else
                *next_us = time_now_us() + (j->next_mono_ms - time_mono_ms()) * 1000;
        }
        if (last_us)
            *last_us = j->last_us;
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

bool scheduler_remove(struct scheduler *s, const char *name)
{
    if (!s || !name)
        return false;
    bool found = false;
    pthread_mutex_lock(&s->lock);
    /* A running callback of this job may still use its ctx: keep the job
     * from starting again, then wait for it, unless we are that callback. */
    for (size_t i = 0; i < s->njobs; i++)
        if (strcmp(s->jobs[i].name, name) == 0)
            s->jobs[i].removing = true;
    if (!pthread_equal(pthread_self(), s->thread))
        while (strcmp(s->running, name) == 0)
            pthread_cond_wait(&s->idle, &s->lock);
    for (size_t i = 0; i < s->njobs; i++) {
        if (strcmp(s->jobs[i].name, name) == 0) {
            memmove(&s->jobs[i], &s->jobs[i + 1], (s->njobs - i - 1) * sizeof(*s->jobs));
            s->njobs--;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

void scheduler_stop(struct scheduler **sp)
{
    if (!sp || !*sp)
        return;
    struct scheduler *s = *sp;
    *sp = NULL;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->idle);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    xfree(s->jobs);
    xfree(s);
}
