/*
 * metrics/metrics.h — process-wide counters, gauges and histograms, rendered
 * as Prometheus text exposition 0.0.4 (and as flat JSON for /api/v1/metrics).
 *
 * A module gets a handle once (at init) and updates it lock-free:
 *
 *   static struct metric *m_flushes;
 *   m_flushes = metrics_counter("arc_buffer_flushes_total", "Buffer flushes", NULL);
 *   metric_inc(m_flushes);
 *
 * Labels are given as one pre-rendered string `key="value",key2="v2"` (or
 * NULL): a family name plus a label string identifies a series; asking again
 * returns the same handle. Label values that come from data must be escaped
 * with metrics_label_escape. Registration takes a mutex; updates are atomic
 * adds. Handles live until metrics_shutdown. Thread-safe.
 *
 * A family has one kind: registering an existing name with another kind
 * logs an error and returns a detached series that is never rendered.
 */
#ifndef METRICS_METRICS_H
#define METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

struct jsonw;

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric;

struct metric *metrics_counter(const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(const char *name, const char *help, const char *labels);
/* Histogram with the default latency buckets in seconds (0.0005 .. 60). */
struct metric *metrics_histogram(const char *name, const char *help, const char *labels);

/* Value source of a computed gauge: called at render/snapshot time, without
 * any registry lock held, from the rendering thread. Must be cheap and
 * thread-safe. */
typedef double (*metrics_value_fn)(void *ctx);

/* Gauge whose value is fn(ctx), computed each time the registry is rendered
 * or read (metrics_render_prometheus, metrics_foreach, metrics_family_total,
 * metrics_write_json, metric_value_f64). If the series exists already (e.g.
 * a plain gauge), fn is attached to it. fn NULL detaches: the series keeps
 * its last value. ctx must stay valid until detached or metrics_shutdown. */
struct metric *metrics_gauge_fn(const char *name, const char *help, const char *labels,
                                metrics_value_fn fn, void *ctx);

/* Declares a placeholder series so that the family always appears (value 0)
 * even when the module that owns it is not running (SPEC §9.4 "MUST exist").
 * A placeholder is rendered only while its family has no other series; a
 * later metrics_counter/... call with the same name and labels turns it into
 * a normal series. */
void metrics_declare(const char *name, const char *help, enum metric_kind kind, const char *labels);

/* Declares a placeholder for every family SPEC §9.4 lists (families.c).
 * Idempotent. */
void metrics_declare_spec_families(void);
/* Name of the i-th §9.4 family (several entries may share a name when the
 * family has several label sets), NULL past the end. For tests. */
const char *metrics_spec_family_name(size_t i);

void metric_add(struct metric *m, uint64_t n); /* counters and gauges */
static inline void metric_inc(struct metric *m)
{
    metric_add(m, 1);
}
void metric_sub(struct metric *m, uint64_t n);   /* gauges */
void metric_set(struct metric *m, int64_t v);    /* gauges */
void metric_set_f64(struct metric *m, double v); /* gauges holding a double */
void metric_observe(struct metric *m, double v); /* histograms, v in seconds */

uint64_t metric_value(const struct metric *m); /* counter/gauge value */
double metric_value_f64(const struct metric *m);
/* Sum of a family across all label sets (0 if unknown; histograms count). */
double metrics_family_total(const char *name);
/* Observation count and sum of a histogram family across label sets. Returns
 * false (zeros) if no histogram of that name exists. */
bool metrics_histogram_totals(const char *name, uint64_t *count, double *sum);

/* Appends v escaped for a Prometheus label value (\\, \", \n) to sb. */
int metrics_label_escape(struct strbuf *sb, const char *v);
/* Extracts and unescapes the value of `key` from a rendered label string
 * (`a="x",b="y"`). Returns false if absent or if it does not fit cap. */
bool metrics_label_value(const char *labels, const char *key, char *out, size_t cap);

/* Renders every registered series as Prometheus text into sb: one HELP and
 * TYPE line per family followed by all its series, families in first
 * registration order; histograms with cumulative buckets, `le` last. Returns
 * the strbuf's error (RC_LIMIT past its cap), RC_OK otherwise. */
int metrics_render_prometheus(struct strbuf *sb);

/* Writes one `"key": value` pair per family into the JSON object w is in:
 * key = name minus strip_prefix (if it starts with it), value = sum across
 * label sets; histograms give `<key>_count` and `<key>_sum`. Families whose
 * stripped key is in skip (NULL-terminated, may be NULL) are left out. */
void metrics_write_json(struct jsonw *w, const char *strip_prefix, const char *const *skip);

/* Calls fn for every series (name, labels or "", value; histograms report
 * their count), in registration order, with the registry lock held: fn must
 * not call back into the registry. Placeholders hidden by real series of
 * their family are skipped. For the JSON snapshot endpoints. */
void metrics_foreach(void (*fn)(void *ctx, const char *name, const char *labels,
                                enum metric_kind kind, double value),
                     void *ctx);

/* Frees every series. Handles become invalid; only for process exit and
 * tests (no other thread may use the registry at the time). */
void metrics_shutdown(void);

#endif
