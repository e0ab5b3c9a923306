/*
 * api/api_query.h — HTTP side of the query API (SPEC §4.1-§4.12): SQL
 * queries as JSON, CSV and Arrow IPC streams, estimates, the parameterised
 * measurement read, measurement and database listings, database creation
 * and deletion, and the query cache endpoints.
 *
 * The work itself is done by query/ (engine, encoders, predicate grammar,
 * result cache), catalog/ and storage/; this file validates requests,
 * chooses buffered or streamed responses (gzip when the client accepts it)
 * and maps errors to statuses.
 *
 * Threads: every handler runs on an HTTP worker thread (it may block on
 * DuckDB), and so do the streaming reader callbacks, on the same worker
 * after the handler returns: they pull chunks from the query cursor into
 * the http layer's bounded pipe, which the I/O thread sends.
 */
#ifndef API_API_QUERY_H
#define API_API_QUERY_H

#include "http/http.h"

struct query_engine;
struct qcache;

/* Fallback homes of the query engine and the result cache until struct app
 * carries them (`struct query_engine *query; struct qcache *qcache;`): set
 * once at startup after query_engine_new / qcache_new, cleared at shutdown
 * before they are freed. api_query_engine_global is the same variable
 * api/api_metrics.h declares (defined in api_metrics.c). */
extern struct query_engine *api_query_engine_global;
extern struct qcache *api_query_cache_global;

/* The engine / cache serving req (NULL if none: query endpoints answer 503,
 * cache endpoints report a disabled cache). */
struct query_engine *api_query_engine(struct http_request *req);
struct qcache *api_query_cache(struct http_request *req);

/* Handlers (route table: docs/query-encoding.md, "HTTP endpoints"). */
void api_query_sql(struct http_request *req);         /* POST /api/v1/query (JSON, format=csv) */
void api_query_arrow(struct http_request *req);       /* POST /api/v1/query/arrow */
void api_query_stream_csv(struct http_request *req);  /* POST /api/v1/query/stream */
void api_query_estimate(struct http_request *req);    /* POST /api/v1/query/estimate */
void api_query_measurement(struct http_request *req); /* GET  /api/v1/query/{measurement} */
void api_query_measurement_csv(struct http_request *req); /* GET /api/v1/query/{measurement}/csv */
void api_measurements_list(struct http_request *req);     /* GET  /api/v1/measurements */
void api_databases_list(struct http_request *req);        /* GET  /api/v1/databases */
void api_database_get(struct http_request *req);          /* GET  /api/v1/databases/{name} */
void api_database_measurements(
    struct http_request *req);                      /* GET /api/v1/databases/{name}/measurements */
void api_database_create(struct http_request *req); /* POST /api/v1/databases */
void api_database_delete(struct http_request *req); /* DELETE /api/v1/databases/{name} */
void api_cache_stats(struct http_request *req);     /* GET  /api/v1/cache/stats */
void api_cache_health(struct http_request *req);    /* GET  /api/v1/cache/health */
void api_cache_clear(struct http_request *req);     /* POST /api/v1/cache/clear */

/* ---- helpers exposed for tests ------------------------------------------ */

/* True if an Accept-Encoding header value accepts gzip ("gzip", "x-gzip",
 * "*", with q > 0). NULL -> false. */
bool api_query_accepts_gzip(const char *accept_encoding);

/* Builds the SQL of GET /api/v1/query/{measurement} from its parameters
 * (each may be NULL = default). known_cols (n_known, without "time") is the
 * measurement's schema; n_known == 0 skips the existence checks. Appends to
 * out; RC_INVALID with a message naming the bad parameter. */
struct api_measurement_query {
    const char *database, *measurement, *columns, *start_time, *end_time, *where, *order_by, *limit,
        *offset;
};
int api_query_build_measurement_sql(const struct api_measurement_query *q,
                                    const char *const *known_cols, size_t n_known,
                                    struct strbuf *out, struct errbuf *eb) MUST_CHECK;

#endif
