/*
 * metrics/collector.h — the background metrics collector (SPEC §9.6, §11 R5).
 *
 * One thread ("arc-collector") wakes every interval and runs the
 * sub-collectors:
 *
 *   system       /proc/stat (CPU), /proc/meminfo, /proc/loadavg, /proc/net/dev,
 *                statvfs(data_dir), and the process itself (/proc/self/stat,
 *                /proc/self/status, /proc/self/fd)
 *   application  numbers of other modules, through the app_fn callback the
 *                api layer registers (this module depends on util only), plus
 *                registry families (arc_buffer_records_buffered, ...)
 *   api          HTTP totals and rates from the registry (arc_http_*)
 *
 * Each successful cycle appends one sample per type to a bounded ring
 * (retention_minutes * 60 / interval samples). A cycle fails if any
 * sub-collector fails or the test fault `metrics_collect_fail` is active
 * (see docs/monitoring.md); failures are counted, never propagated:
 *
 *   total_failures, consecutive_failures (reset by a success), last_error,
 *   last_error_time; WARN at failure_warn_threshold and every further
 *   threshold failures of the same streak; ERROR once at
 *   failure_unhealthy_threshold; INFO "recovered" with the streak length on
 *   the first success after a streak. Mirrored to the metrics
 *   arc_metrics_collection_failures_total and
 *   arc_metrics_collection_consecutive_failures.
 *
 * Thread-safety: collector_start/stop/free on one controlling thread; every
 * reader (status, samples, component state) from any thread.
 */
#ifndef METRICS_COLLECTOR_H
#define METRICS_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"

struct collector;

/* Sample types, in the order of the timeseries endpoint's valid_types. */
enum collector_type {
    COLLECTOR_SYSTEM = 0,
    COLLECTOR_APPLICATION,
    COLLECTOR_API,
    COLLECTOR_NTYPES,
};

/* "system" | "application" | "api". */
const char *collector_type_name(enum collector_type t);
/* Inverse of collector_type_name; -1 if unknown (case-sensitive). */
int collector_type_parse(const char *s);

/* How a field's value is written to JSON. */
enum collector_field_kind {
    COLLECTOR_F_NUM = 0, /* double */
    COLLECTOR_F_INT,     /* integer-valued (written without a fraction) */
    COLLECTOR_F_BOOL,    /* 0 / 1, written as false / true */
};

struct collector_field {
    const char *name;
    enum collector_field_kind kind;
};

#define COLLECTOR_MAX_FIELDS 24

/* Field table of a type (static storage). The index of a field is its slot
 * in collector_sample.v. */
const struct collector_field *collector_fields(enum collector_type t, size_t *n);
/* Index of a field by name, -1 if absent. */
int collector_field_index(enum collector_type t, const char *name);

struct collector_sample {
    int64_t ts_us;                  /* wall clock of the cycle */
    double v[COLLECTOR_MAX_FIELDS]; /* by collector_fields() order */
};

/* Numbers the api layer supplies each cycle. */
struct collector_app_stats {
    bool query_engine_ok;     /* a query engine is running */
    uint64_t active_queries;  /* pool connections in use */
    uint64_t active_requests; /* HTTP requests being handled */
    uint64_t query_pool_size;
    uint64_t query_pool_idle;
    uint64_t query_pool_waiting;
};

/* Fills *out (zeroed by the caller). Return RC_OK, or an RC_* code with eb
 * set: the cycle then counts as failed. Called on the collector thread. */
typedef int (*collector_app_fn)(void *ctx, struct collector_app_stats *out, struct errbuf *eb);

struct collector_options {
    int64_t interval_ms;                 /* collection_interval_seconds * 1000; >= 1 */
    int64_t retention_minutes;           /* samples kept per type; capped at 1440 */
    int64_t failure_warn_threshold;      /* N, >= 1 (default 3) */
    int64_t failure_unhealthy_threshold; /* M, >= 1 (default 10) */
    const char *data_dir;                /* statvfs target for disk usage; NULL = "." */
    const char *proc_root;               /* NULL = "/proc" (tests point it elsewhere) */
    collector_app_fn app_fn;             /* may be NULL */
    void *app_ctx;
};

/* Creates a stopped collector (copies the strings) and registers its metric
 * families and the computed process gauges arc_uptime_seconds,
 * arc_memory_rss_bytes and arc_threads. RC_INVALID on bad options. */
int collector_new(const struct collector_options *o, struct collector **out,
                  struct errbuf *eb) MUST_CHECK;

/* Starts the thread; the first cycle runs immediately. RC_INTERNAL if the
 * thread cannot be created, RC_INVALID if already running. */
int collector_start(struct collector *c, struct errbuf *eb) MUST_CHECK;

/* Stops and joins the thread (returns within one sub-collector call).
 * Idempotent. */
void collector_stop(struct collector *c);

/* Stops if needed and frees; sets *c to NULL. Accepts NULL. */
void collector_free(struct collector **c);

/* Runs one cycle on the calling thread (tests, or a forced refresh). Must
 * not be called while the thread is running. Returns RC_OK if the cycle
 * succeeded, else the failure's code (already counted and logged). */
int collector_collect_once(struct collector *c);

struct collector_status {
    bool running;          /* thread alive */
    bool healthy;          /* running && consecutive < unhealthy threshold */
    uint64_t cycles_total; /* cycles run */
    uint64_t total_failures;
    uint64_t consecutive_failures;
    uint64_t samples_collected;   /* samples held now (system ring) */
    int64_t last_error_us;        /* wall clock of the last failure, 0 = never */
    char last_error[ERRBUF_SIZE]; /* "" if never failed */
    int64_t interval_ms;
    int64_t retention_minutes;
    int64_t warn_threshold;
    int64_t unhealthy_threshold;
};

/* Consistent snapshot of the counters. */
void collector_get_status(struct collector *c, struct collector_status *out);

/* "ok", "degraded" (consecutive failures >= min(warn, unhealthy threshold),
 * or the thread is not running), or "disabled" for c == NULL. For /health
 * components.metrics_collector. */
const char *collector_component_state(struct collector *c);

/* Copies the samples of type t taken at or after since_us, oldest first,
 * into a new array (*out, free with xfree; NULL when 0). Returns the count. */
size_t collector_samples(struct collector *c, enum collector_type t, int64_t since_us,
                         struct collector_sample **out);

/* Latest sample of type t; false (out zeroed) if none yet. */
bool collector_latest(struct collector *c, enum collector_type t, struct collector_sample *out);

/* --- process and host readers (also used by the endpoints) -------------- */

struct collector_process {
    uint64_t rss_bytes;      /* VmRSS */
    uint64_t peak_rss_bytes; /* VmHWM */
    uint64_t virtual_bytes;  /* VmSize */
    uint64_t threads;        /* Threads */
    uint64_t open_fds;       /* entries of <proc>/self/fd */
    uint64_t cpu_ticks;      /* utime + stime, clock ticks */
};

/* Reads the calling process' numbers from <proc_root>/self/{status,stat,fd}
 * (proc_root NULL = "/proc"). RC_IO with eb naming the file on failure. */
int collector_read_process(const char *proc_root, struct collector_process *out,
                           struct errbuf *eb) MUST_CHECK;

#endif
