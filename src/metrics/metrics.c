/*
 * metrics/metrics.c — metric registry and Prometheus rendering (see metrics.h).
 *
 * Owns every series of the process. Series are kept in a singly linked list
 * in registration order, guarded by reg_lock for insertion and traversal;
 * values are C11 atomics so updates never lock. Doubles (gauge_f64,
 * histogram sums) are stored as their bit patterns in an atomic uint64 and
 * updated with a CAS loop.
 *
 * Called from every thread: modules update handles from their own threads,
 * HTTP threads render (/metrics, /api/v1/metrics*).
 *
 * Invariants:
 *  - A family (name) has one kind. A conflicting registration gets a
 *    detached series: it accepts updates but is never rendered or summed.
 *  - A histogram's +Inf bucket and _count are the sum of its bucket
 *    counters as read during one render, so buckets are always cumulative
 *    and never exceed the +Inf bucket, even while observations race.
 *  - Computed gauges (metrics_gauge_fn) are evaluated with no lock held
 *    (they may read /proc), then stored like a plain f64 gauge.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jsonw.h"
#include "util/log.h"
#include "util/mem.h"

static const double default_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                         0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
#define NBUCKETS (sizeof(default_buckets) / sizeof(default_buckets[0]))

struct metric {
    struct metric *next; /* guarded by reg_lock */
    /* Immutable after registration. */
    char *name;
    char *help;
    char *labels; /* "" if none */
    enum metric_kind kind;
    bool detached; /* kind conflict: never rendered */
    /* Guarded by reg_lock. */
    bool placeholder;    /* metrics_declare'd, not registered by a module yet */
    metrics_value_fn fn; /* computed gauge, or NULL */
    void *fn_ctx;
    /* Values (lock-free). */
    _Atomic bool is_f64;                    /* gauge holding a double */
    _Atomic uint64_t value;                 /* counter/gauge value, or f64 bits */
    _Atomic uint64_t buckets[NBUCKETS + 1]; /* histogram: non-cumulative; [NBUCKETS] = above 60 s */
    _Atomic uint64_t count;                 /* histogram observations */
    _Atomic uint64_t sum_bits;              /* histogram sum as double bits */
};

/* reg_lock guards the list head/tail, every ->next link, ->placeholder and
 * ->fn/fn_ctx. Never held while calling a computed gauge's fn. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *head, *tail;

static const char *kind_name(enum metric_kind k)
{
    static const char *kinds[] = {"counter", "gauge", "histogram"};
    return (unsigned)k < 3 ? kinds[k] : "untyped";
}

/* Caller holds reg_lock. */
static struct metric *append(const char *name, const char *help, const char *labels,
                             enum metric_kind kind)
{
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
    return m;
}

/* Finds or creates a series. Caller holds reg_lock. *conflict is set when a
 * new detached series was made (logged by the caller, outside the lock). */
static struct metric *get_locked(const char *name, const char *help, const char *labels,
                                 enum metric_kind kind, bool placeholder, bool *conflict,
                                 enum metric_kind *family_kind)
{
    struct metric *family = NULL;
    for (struct metric *m = head; m; m = m->next) {
        if (strcmp(m->name, name))
            continue;
        if (!m->detached && !family)
            family = m;
        if (!strcmp(m->labels, labels) && m->kind == kind) {
            if (!placeholder)
                m->placeholder = false;
            return m;
        }
    }
    struct metric *m = append(name, help, labels, kind);
    m->placeholder = placeholder;
    if (family && family->kind != kind) {
        m->detached = true;
        *conflict = true;
        *family_kind = family->kind;
    }
    return m;
}

static struct metric *get(const char *name, const char *help, const char *labels,
                          enum metric_kind kind, bool placeholder)
{
    if (!labels)
        labels = "";
    bool conflict = false;
    enum metric_kind fk = kind;
    pthread_mutex_lock(&reg_lock);
    struct metric *m = get_locked(name, help, labels, kind, placeholder, &conflict, &fk);
    pthread_mutex_unlock(&reg_lock);
    if (conflict)
        log_error("metrics",
                  "metric registered with two kinds; series not exported name=%s "
                  "kind=%s family_kind=%s",
                  name, kind_name(kind), kind_name(fk));
    return m;
}

struct metric *metrics_counter(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_COUNTER, false);
}

struct metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_GAUGE, false);
}

struct metric *metrics_histogram(const char *name, const char *help, const char *labels)
{
    return get(name, help, labels, METRIC_HISTOGRAM, false);
}

struct metric *metrics_gauge_fn(const char *name, const char *help, const char *labels,
                                metrics_value_fn fn, void *ctx)
{
    struct metric *m = get(name, help, labels, METRIC_GAUGE, false);
    pthread_mutex_lock(&reg_lock);
    m->fn = fn;
    m->fn_ctx = ctx;
    pthread_mutex_unlock(&reg_lock);
    return m;
}

void metrics_declare(const char *name, const char *help, enum metric_kind kind, const char *labels)
{
    (void)get(name, help, labels, kind, true);
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
    atomic_store_explicit(&m->is_f64, false, memory_order_relaxed);
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
    atomic_store_explicit(&m->value, f2b(v), memory_order_relaxed);
    atomic_store_explicit(&m->is_f64, true, memory_order_relaxed);
}

void metric_observe(struct metric *m, double v)
{
    size_t i = 0;
    if (isnan(v))
        i = NBUCKETS; /* only in +Inf */
    else
        while (i < NBUCKETS && v > default_buckets[i])
            i++;
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
    if (atomic_load(&m->is_f64))
        return b2f(v);
    if (m->kind == METRIC_GAUGE)
        return (double)(int64_t)v;
    return (double)v;
}

/* Evaluates the computed gauges (all, or those of family `only`) with no
 * lock held and stores the results. Series are never freed before
 * metrics_shutdown, so the pointers collected under the lock stay valid. */
static void refresh_computed(const char *only)
{
    struct fn_ref {
        struct metric *m;
        metrics_value_fn fn;
        void *ctx;
    };
    size_t n = 0, cap = 0;
    struct fn_ref *refs = NULL;
    pthread_mutex_lock(&reg_lock);
    for (struct metric *m = head; m; m = m->next)
        if (m->fn && (!only || !strcmp(m->name, only)))
            cap++;
    if (cap) {
        refs = xmalloc(cap * sizeof(*refs));
        for (struct metric *m = head; m && n < cap; m = m->next)
            if (m->fn && (!only || !strcmp(m->name, only)))
                refs[n++] = (struct fn_ref){m, m->fn, m->fn_ctx};
    }
    pthread_mutex_unlock(&reg_lock);
    for (size_t i = 0; i < n; i++)
        metric_set_f64(refs[i].m, refs[i].fn(refs[i].ctx));
    xfree(refs);
}

double metric_value_f64(const struct metric *m)
{
    struct metric *mm = (struct metric *)m;
    pthread_mutex_lock(&reg_lock);
    metrics_value_fn fn = mm->fn;
    void *ctx = mm->fn_ctx;
    pthread_mutex_unlock(&reg_lock);
    if (fn)
        metric_set_f64(mm, fn(ctx));
    return value_f64(mm);
}

/* True if m is the first exported series of its family. Caller holds reg_lock. */
static bool is_family_head(const struct metric *m)
{
    if (m->detached)
        return false;
    for (const struct metric *p = head; p != m; p = p->next)
        if (!p->detached && !strcmp(p->name, m->name))
            return false;
    return true;
}

/* True if the family has a series that is not a placeholder. Caller holds
 * reg_lock. */
static bool family_has_real(const struct metric *fam)
{
    for (const struct metric *s = fam; s; s = s->next)
        if (!s->detached && !s->placeholder && !strcmp(s->name, fam->name))
            return true;
    return false;
}

/* Whether series s of the family headed by fam is exported. */
static bool exported(const struct metric *s, const struct metric *fam, bool has_real)
{
    return !s->detached && !strcmp(s->name, fam->name) && !(s->placeholder && has_real);
}

double metrics_family_total(const char *name)
{
    refresh_computed(name);
    double t = 0;
    pthread_mutex_lock(&reg_lock);
    for (struct metric *m = head; m; m = m->next)
        if (!m->detached && !strcmp(m->name, name))
            t += value_f64(m);
    pthread_mutex_unlock(&reg_lock);
    return t;
}

bool metrics_histogram_totals(const char *name, uint64_t *count, double *sum)
{
    bool found = false;
    uint64_t c = 0;
    double s = 0;
    pthread_mutex_lock(&reg_lock);
    for (struct metric *m = head; m; m = m->next) {
        if (m->detached || m->kind != METRIC_HISTOGRAM || strcmp(m->name, name))
            continue;
        found = true;
        c += atomic_load(&m->count);
        s += b2f(atomic_load(&m->sum_bits));
    }
    pthread_mutex_unlock(&reg_lock);
    *count = c;
    *sum = s;
    return found;
}

/* --- text helpers ------------------------------------------------------- */

int metrics_label_escape(struct strbuf *sb, const char *v)
{
    int rc = RC_OK;
    for (const char *p = v; *p && rc == RC_OK; p++) {
        if (*p == '\\')
            rc = strbuf_puts(sb, "\\\\");
        else if (*p == '"')
            rc = strbuf_puts(sb, "\\\"");
        else if (*p == '\n')
            rc = strbuf_puts(sb, "\\n");
        else
            rc = strbuf_putc(sb, *p);
    }
    return rc;
}

bool metrics_label_value(const char *labels, const char *key, char *out, size_t cap)
{
    if (!labels || !cap)
        return false;
    size_t klen = strlen(key);
    const char *p = labels;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq || eq[1] != '"')
            return false;
        bool match = (size_t)(eq - p) == klen && !strncmp(p, key, klen);
        size_t n = 0;
        bool fits = true;
        for (p = eq + 2; *p && *p != '"'; p++) {
            char c = *p;
            if (c == '\\' && p[1]) {
                p++;
                c = *p == 'n' ? '\n' : *p;
            }
            if (n + 1 < cap)
                out[n++] = c;
            else
                fits = false;
        }
        if (*p != '"')
            return false; /* unterminated */
        if (match) {
            out[n] = '\0';
            return fits;
        }
        p++;
        if (*p == ',')
            p++;
    }
    return false;
}

/* Render state: the first strbuf error is kept, later appends still tried
 * (they fail the same way). */
struct render {
    struct strbuf *sb;
    int rc;
};

static void r_rc(struct render *r, int rc)
{
    if (rc != RC_OK && r->rc == RC_OK)
        r->rc = rc;
}

static void r_puts(struct render *r, const char *s)
{
    r_rc(r, strbuf_puts(r->sb, s));
}

static void r_putc(struct render *r, char c)
{
    r_rc(r, strbuf_putc(r->sb, c));
}

/* Shortest decimal text that parses back to v; Prometheus spellings for
 * NaN and infinities. */
static void fmt_double(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
    } else if (isinf(v)) {
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(out, cap, "%.0f", v);
    } else {
        snprintf(out, cap, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, cap, "%.17g", v);
    }
}

/* HELP text: backslash and newline escaped (exposition format 0.0.4). */
static void r_help(struct render *r, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            r_puts(r, "\\\\");
        else if (*p == '\n')
            r_puts(r, "\\n");
        else
            r_putc(r, *p);
    }
}

static void r_series(struct render *r, const char *name, const char *suffix, const char *labels,
                     const char *extra)
{
    r_puts(r, name);
    r_puts(r, suffix);
    bool has = labels && *labels;
    if (has || extra) {
        r_putc(r, '{');
        if (has)
            r_puts(r, labels);
        if (has && extra)
            r_putc(r, ',');
        if (extra)
            r_puts(r, extra);
        r_putc(r, '}');
    }
    r_putc(r, ' ');
}

static void r_u64(struct render *r, uint64_t v)
{
    char b[32];
    snprintf(b, sizeof(b), "%llu\n", (unsigned long long)v);
    r_puts(r, b);
}

static void r_value(struct render *r, struct metric *s)
{
    char b[64];
    uint64_t v = atomic_load(&s->value);
    if (atomic_load(&s->is_f64))
        fmt_double(b, sizeof(b), b2f(v));
    else if (s->kind == METRIC_GAUGE)
        snprintf(b, sizeof(b), "%lld", (long long)(int64_t)v);
    else
        snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    r_puts(r, b);
    r_putc(r, '\n');
}

static void r_histogram(struct render *r, struct metric *s)
{
    uint64_t b[NBUCKETS + 1];
    for (size_t i = 0; i <= NBUCKETS; i++)
        b[i] = atomic_load(&s->buckets[i]);
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += b[i];
        char num[40], le[64];
        fmt_double(num, sizeof(num), default_buckets[i]);
        snprintf(le, sizeof(le), "le=\"%s\"", num);
        r_series(r, s->name, "_bucket", s->labels, le);
        r_u64(r, cum);
    }
    uint64_t total = cum + b[NBUCKETS];
    r_series(r, s->name, "_bucket", s->labels, "le=\"+Inf\"");
    r_u64(r, total);
    r_series(r, s->name, "_sum", s->labels, NULL);
    char num[40];
    fmt_double(num, sizeof(num), b2f(atomic_load(&s->sum_bits)));
    r_puts(r, num);
    r_putc(r, '\n');
    r_series(r, s->name, "_count", s->labels, NULL);
    r_u64(r, total);
}

int metrics_render_prometheus(struct strbuf *sb)
{
    refresh_computed(NULL);
    struct render r = {sb, RC_OK};
    pthread_mutex_lock(&reg_lock);
    for (struct metric *fam = head; fam; fam = fam->next) {
        if (!is_family_head(fam))
            continue;
        bool has_real = family_has_real(fam);
        r_puts(&r, "# HELP ");
        r_puts(&r, fam->name);
        r_putc(&r, ' ');
        r_help(&r, fam->help);
        r_puts(&r, "\n# TYPE ");
        r_puts(&r, fam->name);
        r_putc(&r, ' ');
        r_puts(&r, kind_name(fam->kind));
        r_putc(&r, '\n');
        /* Every series of the family together, as the format requires. */
        for (struct metric *s = fam; s; s = s->next) {
            if (!exported(s, fam, has_real))
                continue;
            if (s->kind == METRIC_HISTOGRAM) {
                r_histogram(&r, s);
            } else {
                r_series(&r, s->name, "", s->labels, NULL);
                r_value(&r, s);
            }
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return r.rc;
}

void metrics_write_json(struct jsonw *w, const char *strip_prefix, const char *const *skip)
{
    refresh_computed(NULL);
    size_t plen = strip_prefix ? strlen(strip_prefix) : 0;
    pthread_mutex_lock(&reg_lock);
    for (struct metric *fam = head; fam; fam = fam->next) {
        if (!is_family_head(fam))
            continue;
        const char *key = fam->name;
        if (plen && !strncmp(key, strip_prefix, plen))
            key += plen;
        bool skipped = false;
        for (size_t i = 0; skip && skip[i] && !skipped; i++)
            skipped = !strcmp(skip[i], key);
        if (skipped)
            continue;
        bool has_real = family_has_real(fam);
        uint64_t u = 0;
        int64_t i64 = 0;
        double d = 0;
        bool any_f64 = false;
        for (struct metric *s = fam; s; s = s->next) {
            if (!exported(s, fam, has_real))
                continue;
            if (s->kind == METRIC_HISTOGRAM) {
                u += atomic_load(&s->count);
                d += b2f(atomic_load(&s->sum_bits));
            } else if (s->kind == METRIC_COUNTER) {
                u += atomic_load(&s->value);
            } else if (atomic_load(&s->is_f64)) {
                any_f64 = true;
                d += b2f(atomic_load(&s->value));
            } else {
                i64 += (int64_t)atomic_load(&s->value);
            }
        }
        if (fam->kind == METRIC_HISTOGRAM) {
            char k[300];
            snprintf(k, sizeof(k), "%s_count", key);
            jsonw_kv_u64(w, k, u);
            snprintf(k, sizeof(k), "%s_sum", key);
            jsonw_kv_f64(w, k, d);
        } else if (fam->kind == METRIC_COUNTER) {
            jsonw_kv_u64(w, key, u);
        } else if (any_f64) {
            jsonw_kv_f64(w, key, d + (double)i64);
        } else {
            jsonw_kv_i64(w, key, i64);
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

void metrics_foreach(void (*fn)(void *ctx, const char *name, const char *labels,
                                enum metric_kind kind, double value),
                     void *ctx)
{
    refresh_computed(NULL);
    pthread_mutex_lock(&reg_lock);
    for (struct metric *fam = head; fam; fam = fam->next) {
        if (!is_family_head(fam))
            continue;
        bool has_real = family_has_real(fam);
        for (struct metric *s = fam; s; s = s->next)
            if (exported(s, fam, has_real))
                fn(ctx, s->name, s->labels, s->kind, value_f64(s));
    }
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
