/*
 * metrics/metrics.h — process-wide counters, gauges and histograms, rendered
 * as Prometheus text exposition 0.0.4.
 *
 * A module gets a handle once (at init) and updates it lock-free:
 *
 *   static struct metric *m_flushes;
 *   m_flushes = metrics_counter("arc_buffer_flushes_total", "Buffer flushes", NULL);
 *   metric_inc(m_flushes);
 *
 * Labels are given as one pre-rendered string `key="value",key2="v2"` (or
 * NULL): a family name plus a label string identifies a series; asking again
 * returns the same handle. Registration takes a mutex; updates are atomic
 * adds. Handles live until metrics_shutdown. Thread-safe.
 */
#ifndef METRICS_METRICS_H
#define METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric;

struct metric *metrics_counter(const char *name, const char *help, const char *labels);
struct metric *metrics_gauge(const char *name, const char *help, const char *labels);
/* Histogram with the default latency buckets in seconds (0.0005 .. 60). */
struct metric *metrics_histogram(const char *name, const char *help, const char *labels);

void metric_add(struct metric *m, uint64_t n);   /* counters and gauges */
static inline void metric_inc(struct metric *m) { metric_add(m, 1); }
void metric_sub(struct metric *m, uint64_t n);   /* gauges */
void metric_set(struct metric *m, int64_t v);    /* gauges */
void metric_set_f64(struct metric *m, double v); /* gauges holding a double */
void metric_observe(struct metric *m, double v); /* histograms, v in seconds */

uint64_t metric_value(const struct metric *m);   /* counter/gauge value */
double metric_value_f64(const struct metric *m);
/* Sum of a family across all label sets (0 if unknown). */
double metrics_family_total(const char *name);

/* Renders every registered series as Prometheus text into sb. */
int metrics_render_prometheus(struct strbuf *sb);

/* Calls fn for every series (name, labels or "", value; histograms report
 * their count). For the JSON snapshot endpoints. */
void metrics_foreach(void (*fn)(void *ctx, const char *name, const char *labels,
                                enum metric_kind kind, double value),
                     void *ctx);

void metrics_shutdown(void);

#endif
