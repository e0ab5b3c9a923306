/*
 * api/api_metrics.h — HTTP side of monitoring (SPEC §9.4-§9.7, §11 R5): the
 * metrics endpoints, the logs endpoint, the access log hook, and the
 * lifetime of the background collector (metrics/collector.h).
 *
 * Lifecycle (main thread, called from app_start / app_stop):
 *
 *   app_start:  ... http_server_start ... api_metrics_start(app, &eb)
 *   app_stop:   http quiesce + drain ... api_metrics_stop() ...
 *               http_server_stop ... api_metrics_free()
 *
 * api_metrics_start needs app->http (active request count) and reads
 * api_query_engine_global, so it comes after both are set; api_metrics_stop
 * joins the collector thread, so it must come before http_server_stop and
 * before the query engine is freed. Handlers may run until http_server_stop
 * returns, so the collector object itself is freed only by api_metrics_free.
 *
 * Threads: handlers run on HTTP worker threads; api_access_log on the I/O
 * thread that completes the request (it must not block); the collector
 * callback on the collector thread.
 */
#ifndef API_API_METRICS_H
#define API_API_METRICS_H

#include "http/http.h"
#include "util/rc.h"

struct app;
struct query_engine;

/* The query engine, for /api/v1/metrics/query-pool and the collector's
 * application numbers. Set once at startup before api_metrics_start, cleared
 * after api_metrics_stop. NULL → pool_size 0, query_engine_status false. */
extern struct query_engine *api_query_engine_global;

/* Declares the §9.4 metric families (zero placeholders), creates the
 * collector from app->cfg->monitoring and starts its thread. The disk usage
 * is measured on storage.local.base_path for the local backend, else on the
 * working directory. RC_INVALID / RC_INTERNAL with eb set on failure. */
int api_metrics_start(struct app *app, struct errbuf *eb) MUST_CHECK;
/* Stops and joins the collector thread (status turns "not running").
 * Idempotent; safe if never started. */
void api_metrics_stop(void);
/* Frees the collector (after http_server_stop). Idempotent. */
void api_metrics_free(void);

/* For /health components.metrics_collector: "ok", "degraded" (from the
 * failure warn threshold on, or stopped) or "disabled" (never started). */
const char *api_metrics_collector_state(void);

/* http_hooks.on_complete: one access-log line per request, component
 * "access": INFO for status >= 400 or slower than 1 s, DEBUG otherwise.
 * Logs method, path (never the query string: a `p=` token is shown as
 * p=[REDACTED]), status, duration_ms, request_id, principal (token name,
 * "-" if none; never a token) and client_ip. */
void api_access_log(void *app, struct http_request *req, int status, double seconds);

/* Handlers (routes in docs/monitoring.md). */
void api_metrics_text(struct http_request *req);       /* GET /metrics */
void api_metrics_json(struct http_request *req);       /* GET /api/v1/metrics */
void api_metrics_timeseries(struct http_request *req); /* GET /api/v1/metrics/timeseries/{type} */
void api_metrics_endpoints(struct http_request *req);  /* GET /api/v1/metrics/endpoints */
void api_metrics_query_pool(struct http_request *req); /* GET /api/v1/metrics/query-pool */
void api_metrics_memory(struct http_request *req);     /* GET /api/v1/metrics/memory */
void api_metrics_health(struct http_request *req);     /* GET /api/v1/metrics/health */
void api_logs(struct http_request *req);               /* GET /api/v1/logs (admin) */

#endif
