/*
 * metrics/metrics.c — metric registry and Prometheus rendering (see metrics.h).
 *
 * Series are kept in a singly linked list in registration order, guarded by
 * reg_lock for insertion and traversal; values are C11 atomics so updates
 * never lock. Doubles (gauge_f64, histogram sums) are stored as their bit
 * patterns in an atomic uint64 and updated with a CAS loop.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"

static const double default_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,   5,     10,
                                         30,     60};
#define NBUCKETS (sizeof(default_buckets) / sizeof(default_buckets[0]))

struct metric {
    struct metric *next;
    char *name;
    char *help;
    char *labels;               /* "" if none */
    enum metric_kind kind;
    _Atomic bool is_f64;        /* gauge holding a double */
    _Atomic uint64_t value;     /* counter/gauge value, or f64 bits */
    _Atomic uint64_t buckets[NBUCKETS]; /* histogram: non-cumulative counts */
    _Atomic uint64_t count;     /* histogram */
    _Atomic uint64_t sum_bits;  /* histogram sum as double bits */
};

/* reg_lock guards the list head and every ->next link. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *head, *tail;

static struct metric *get(const char *name, const char *help, const char *labels,
                          enum metric_kind kind)
{
    if (!labels)
        labels = "";
    pthread_mutex_lock(&reg_lock);
    for (struct metric *m = head; m; m = m->next) {
        if (!strcmp(m->name, name) && !strcmp(m->labels, labels)) {
            pthread_mutex_unlock(&reg_lock);
            return m;
        }
    }
    struct metric *m = xcalloc(1, sizeof(*m));
    m->name = xstrdup(name);
    m->help = xstrdup(help ? help : name);
    m->labels = xstrdup(labels);
    m->kind = kind;
    if (tail)
        tail->next = m;
    else
        head = m;
    tail = m;
    pthread_mutex_unlock(&reg_lock);
    return m;
}

struct metric *metrics_counter(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_COUNTER);
}

struct metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_GAUGE);
}

struct metric *metrics_histogram(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_HISTOGRAM);
}

void metric_add(struct metric *m, uint64_t n)
{
    atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}

void metric_sub(struct metric *m, uint64_t n)
{
    atomic_fetch_sub_explicit(&m->value, n, memory_order_relaxed);
}

void metric_set(struct metric *m, int64_t v)
{
    atomic_store_explicit(&m->value, (uint64_t)v, memory_order_relaxed);
}

static uint64_t f2b(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double b2f(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

void metric_set_f64(struct metric *m, double v)
{
    m->is_f64 = true;
    atomic_store_explicit(&m->value, f2b(v), memory_order_relaxed);
}

void metric_observe(struct metric *m, double v)
{
    size_t i = 0;
    while (i < NBUCKETS && v > default_buckets[i])
        i++;
    if (i < NBUCKETS)
        atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak(&m->sum_bits, &old, f2b(b2f(old) + v)))
        ;
}

uint64_t metric_value(const struct metric *m)
{
    if (m->kind == METRIC_HISTOGRAM)
        return atomic_load(&((struct metric *)m)->count);
    return atomic_load(&((struct metric *)m)->value);
}

static double value_f64(struct metric *m)
{
    if (m->kind == METRIC_HISTOGRAM)
        return (double)atomic_load(&m->count);
    uint64_t v = atomic_load(&m->value);
    if (m->is_f64)
        return b2f(v);
    if (m->kind == METRIC_GAUGE)
        return (double)(int64_t)v;
    return (double)v;
}

double metric_value_f64(const struct metric *m)
{
    return value_f64((struct metric *)m);
}

double metrics_family_total(const char *name)
{
    double t = 0;
    pthread_mutex_lock(&reg_lock);
    for (struct metric *m = head; m; m = m->next)
        if (!strcmp(m->name, name))
            t += value_f64(m);
    pthread_mutex_unlock(&reg_lock);
    return t;
}

static void fmt_num(struct strbuf *sb, double v)
{
    if (isnan(v))
        (void)strbuf_puts(sb, "NaN");
    else if (isinf(v))
        (void)strbuf_puts(sb, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        (void)strbuf_printf(sb, "%.0f", v);
    else
        (void)strbuf_printf(sb, "%.9g", v);
}

static void series(struct strbuf *sb, const char *name, const char *suffix, const char *labels,
                   const char *extra)
{
    (void)strbuf_printf(sb, "%s%s", name, suffix);
    bool has = labels && *labels;
    if (has || extra) {
        (void)strbuf_putc(sb, '{');
        if (has)
            (void)strbuf_puts(sb, labels);
        if (has && extra)
            (void)strbuf_putc(sb, ',');
        if (extra)
            (void)strbuf_puts(sb, extra);
        (void)strbuf_putc(sb, '}');
    }
    (void)strbuf_putc(sb, ' ');
}

int metrics_render_prometheus(struct strbuf *sb)
{
    static const char *kinds[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&reg_lock);
    for (struct metric *m = head; m; m = m->next) {
        /* HELP/TYPE once per family: at its first series. */
        bool first = true;
        for (struct metric *p = head; p != m; p = p->next)
            if (!strcmp(p->name, m->name)) {
                first = false;
                break;
            }
        if (first) {
            (void)strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                                kinds[m->kind]);
            /* Emit every series of this family together, as the format
             * requires. */
            for (struct metric *s = m; s; s = s->next) {
                if (strcmp(s->name, m->name))
                    continue;
                if (s->kind != METRIC_HISTOGRAM) {
                    series(sb, s->name, "", s->labels, NULL);
                    fmt_num(sb, value_f64(s));
                    (void)strbuf_putc(sb, '\n');
                    continue;
                }
                uint64_t cum = 0;
                for (size_t i = 0; i < NBUCKETS; i++) {
                    cum += atomic_load(&s->buckets[i]);
                    char le[48];
                    snprintf(le, sizeof(le), "le=\"%g\"", default_buckets[i]);
                    series(sb, s->name, "_bucket", s->labels, le);
                    (void)strbuf_printf(sb, "%llu\n", (unsigned long long)cum);
                }
                uint64_t count = atomic_load(&s->count);
                series(sb, s->name, "_bucket", s->labels, "le=\"+Inf\"");
                (void)strbuf_printf(sb, "%llu\n", (unsigned long long)count);
                series(sb, s->name, "_sum", s->labels, NULL);
                fmt_num(sb, b2f(atomic_load(&s->sum_bits)));
                (void)strbuf_putc(sb, '\n');
                series(sb, s->name, "_count", s->labels, NULL);
                (void)strbuf_printf(sb, "%llu\n", (unsigned long long)count);
            }
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return RC_OK;
}

void metrics_foreach(void (*fn)(void *ctx, const char *name, const char *labels,
                                enum metric_kind kind, double value),
                     void *ctx)
{
    pthread_mutex_lock(&reg_lock);
    for (struct metric *m = head; m; m = m->next)
        fn(ctx, m->name, m->labels, m->kind, value_f64(m));
    pthread_mutex_unlock(&reg_lock);
}

void metrics_shutdown(void)
{
    pthread_mutex_lock(&reg_lock);
    struct metric *m = head;
    while (m) {
        struct metric *n = m->next;
        xfree(m->name);
        xfree(m->help);
        xfree(m->labels);
        xfree(m);
        m = n;
    }
    head = tail = NULL;
    pthread_mutex_unlock(&reg_lock);
}
