/*
 * storage/probe.h — background storage health probe for /ready and /health
 * (SPEC §9.3, §11 R2.4).
 *
 * A thread ("arc-probe") asks the backend one cheap question every
 * interval: HEAD of the probe key (default "_arc/probe", a hidden name that
 * never appears in listings). Any answer from the backend counts as success,
 * including "not found" (the object need not exist); an error, a timeout or
 * an open circuit breaker counts as a failure. The request runs with the
 * backend's own timeouts and retries (storage.*_timeout_seconds), so one
 * probe is bounded by storage.operation_timeout_seconds.
 *
 * HTTP handlers only read the last result (storage_probe_get_state,
 * storage_probe_is_ready, storage_probe_component): in-memory, never
 * blocking on storage, so /ready and /health answer while storage hangs.
 *
 * Metrics: arc_storage_probe_failures_total,
 * arc_storage_probe_consecutive_failures (gauge),
 * arc_storage_probe_duration_seconds (histogram).
 *
 * Threads: start/stop on the main thread; the readers from any thread.
 */
#ifndef STORAGE_PROBE_H
#define STORAGE_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/rc.h"

struct storage;
struct storage_probe;

/* /ready turns not-ready after this many consecutive failed probes (SPEC §9.3). */
#define STORAGE_PROBE_FAIL_THRESHOLD 3

struct storage_probe_options {
    int64_t interval_ms; /* monitoring.storage_probe_interval_seconds × 1000; <= 0 = 10 s */
    const char *key;     /* object to HEAD; NULL = "_arc/probe" */
};

/* Starts the probe thread on st (borrowed; must outlive the probe). The
 * first probe runs at once. opts may be NULL. RC_INVALID for a bad key,
 * RC_INTERNAL if the thread cannot start. On error *out is untouched. */
int storage_probe_start(struct storage *st, const struct storage_probe_options *opts,
                        struct storage_probe **out, struct errbuf *eb) MUST_CHECK;

/* Stops and joins the thread (a probe in flight is waited for: bounded by
 * the storage timeouts), frees the probe, sets *pp to NULL. Accepts NULL. */
void storage_probe_stop(struct storage_probe **pp);

/* What the last probes found. */
struct storage_probe_state {
    uint64_t runs;                 /* probes completed */
    uint64_t total_failures;       /* failed probes since start */
    uint32_t consecutive_failures; /* failed probes since the last success */
    bool last_ok;                  /* result of the last probe; true before the first */
    int64_t last_run_us;           /* wall clock (UTC µs) when the last probe ended; 0 = none */
    int64_t last_ok_us;            /* ... the last successful one; 0 = none */
    int64_t last_duration_ms;      /* how long the last probe took */
    char last_error[256];          /* message of the last failure ("" if none yet) */
};

/* Copies the current state. In-memory only; never blocks on storage. */
void storage_probe_get_state(const struct storage_probe *p, struct storage_probe_state *out);

/* /ready's storage check: false once STORAGE_PROBE_FAIL_THRESHOLD
 * consecutive probes have failed, true otherwise (also before the first
 * probe, and for p == NULL: no probe configured). */
bool storage_probe_is_ready(const struct storage_probe *p);

/* /health's components.storage_probe: "disabled" for p == NULL, "degraded"
 * while the last probe failed or the S3 circuit breaker of the probed
 * storage is open or half-open (storage_s3_circuit_open), else "ok". */
const char *storage_probe_component(const struct storage_probe *p);

/* Runs one probe synchronously on the calling thread and records its result
 * exactly as the thread does (tests; also usable right after start-up). */
int storage_probe_run_once(struct storage_probe *p, struct errbuf *eb) MUST_CHECK;

#endif
