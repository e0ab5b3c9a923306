/*
 * api/api_health.c — GET /, /health, /ready and /ping (SPEC §9).
 *
 * /health and /ready read only in-memory state (atomics): they never touch
 * storage, DuckDB or the WAL, so they answer while those hang (SPEC §9.2,
 * R2.4). All four run inline on the HTTP I/O thread (HTTP_EXEC_INLINE):
 * memory only, never blocking. /metrics is in api_metrics.c.
 */
#include "api/api_internal.h"

#include <stdio.h>

#include "api/api_metrics.h"
#include "api/api_wal.h"
#include "metrics/metrics.h"
#include "wal/wal.h"
#include "storage/probe.h"
#include "util/mem.h"
#include "util/timeutil.h"

void api_json_begin(struct strbuf *sb, struct jsonw *w)
{
    strbuf_init(sb, 0);
    jsonw_init(w, sb);
    jsonw_obj_begin(w);
}

void api_json_send(struct http_request *req, int status, struct strbuf *sb, struct jsonw *w)
{
    jsonw_obj_end(w);
    if (jsonw_finish(w) != RC_OK) {
        strbuf_cleanup(sb);
        http_respond_error(req, 500, "Internal error: response too large");
        return;
    }
    http_respond_json(req, status, sb);
}

double api_uptime_seconds(const struct app *app)
{
    return (double)(time_mono_ns() - app->start_mono_ns) / 1e9;
}

void api_root(struct http_request *req)
{
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "service", "Arc");
    jsonw_kv_str(&w, "version", ARC_VERSION);
    jsonw_kv_str(&w, "status", "running");
    jsonw_kv_str(&w, "health", "/health");
    api_json_send(req, 200, &sb, &w);
}

static void format_uptime(double secs, char *out, size_t cap)
{
    long s = (long)secs;
    long h = s / 3600, m = s / 60 % 60;
    s %= 60;
    if (h)
        snprintf(out, cap, "%ldh%ldm%lds", h, m, s);
    else if (m)
        snprintf(out, cap, "%ldm%lds", m, s);
    else
        snprintf(out, cap, "%lds", s);
}

void api_health(struct http_request *req)
{
    struct app *app = http_req_app(req);
    double up = api_uptime_seconds(app);
    char upt[64];
    format_uptime(up, upt, sizeof(upt));
    int64_t now = time_now_us();
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "status", "ok");
    jsonw_kv_str(&w, "service", "arc-compatible");
    jsonw_kv_str(&w, "version", ARC_VERSION);
    jsonw_key(&w, "time");
    jsonw_time_us(&w, now);
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, now);
    jsonw_kv_str(&w, "uptime", upt);
    jsonw_key(&w, "uptime_sec");
    jsonw_f64_fixed(&w, up, 1);
    jsonw_key(&w, "components");
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "metrics_collector", api_metrics_collector_state());
    jsonw_kv_str(&w, "wal",
                 !api_wal_global                   ? "disabled"
                 : wal_is_degraded(api_wal_global) ? "degraded"
                                                   : "ok");
    jsonw_kv_str(&w, "storage_probe", storage_probe_component(app->probe));
    jsonw_kv_str(&w, "ingestion", atomic_load(&app->shutting_down) ? "degraded" : "ok");
    jsonw_obj_end(&w);
    api_json_send(req, 200, &sb, &w);
}

void api_ready(struct http_request *req)
{
    struct app *app = http_req_app(req);
    bool started = atomic_load(&app->startup_complete);
    bool stopping = atomic_load(&app->shutting_down);
    /* The probe's last result only: never blocks on storage (SPEC §9.3). */
    bool storage_ok = storage_probe_is_ready(app->probe);
    bool storage_blocks = !storage_ok && app->cfg->monitoring.ready_requires_storage;
    bool wal_ok = !api_wal_global || !wal_is_degraded(api_wal_global);
    bool ready = started && !stopping && !storage_blocks && wal_ok;
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "status", ready ? "ready" : "not_ready");
    jsonw_key(&w, "time");
    jsonw_time_us(&w, time_now_us());
    jsonw_key(&w, "uptime_sec");
    jsonw_f64_fixed(&w, api_uptime_seconds(app), 1);
    if (!ready)
        jsonw_kv_str(&w, "reason",
                     stopping   ? "shutting down"
                     : !started ? "startup not complete"
                                : "storage probe failed 3 consecutive times");
    jsonw_key(&w, "checks");
    jsonw_obj_begin(&w);
    jsonw_kv_bool(&w, "startup_complete", started);
    jsonw_kv_bool(&w, "query_engine", started);
    jsonw_kv_bool(&w, "storage", storage_ok);
    if (api_wal_global)
        jsonw_kv_bool(&w, "wal", wal_ok);
    else
        jsonw_kv_null(&w, "wal");
    jsonw_obj_end(&w);
    if (!ready)
        http_add_header(req, "Retry-After", "1");
    api_json_send(req, ready ? 200 : 503, &sb, &w);
}

void api_ping(struct http_request *req)
{
    http_add_header(req, "X-Influxdb-Version", "1.8.10-arc-compat");
    http_add_header(req, "X-Influxdb-Build", "OSS");
    http_respond(req, 204, NULL, NULL, 0);
}
