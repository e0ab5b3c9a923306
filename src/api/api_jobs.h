/*
 * api/api_jobs.h — HTTP side of compaction (SPEC §7.3) and retention
 * policies (SPEC §8.1). The work lives in jobs/compaction.h and
 * jobs/retention.h; these handlers only parse requests and format JSON.
 *
 * Threads: every handler runs on an HTTP worker thread. A retention
 * execution runs synchronously on that worker (the connection is suspended
 * meanwhile; other requests are not held up).
 */
#ifndef API_API_JOBS_H
#define API_API_JOBS_H

#include "http/http.h"

struct compaction;
struct retention;

/* Homes of the instances until struct app carries them: set once at
 * startup (after compaction_new / retention_open), cleared before they are
 * freed. NULL compaction: every /api/v1/compaction endpoint answers 503
 * {"error": "Compaction not initialized"} (SPEC §7.3); NULL retention:
 * every /api/v1/retention endpoint answers 503 "Retention not initialized"
 * (retention.enabled = false). */
extern struct compaction *api_compaction_global;
extern struct retention *api_retention_global;

/* Compaction (route entries in docs/compaction.md). */
void api_compaction_status(struct http_request *req); /* GET  /api/v1/compaction/status (read) */
void api_compaction_stats(struct http_request *req);  /* GET  /api/v1/compaction/stats (read) */
void api_compaction_candidates(struct http_request *req); /* GET  /api/v1/compaction/candidates
                                                             ?database=&tier= (read) */
void api_compaction_trigger(struct http_request *req);    /* POST /api/v1/compaction/trigger
                                                             ?database=&tier= (admin) */
void api_compaction_jobs(struct http_request *req);       /* GET  /api/v1/compaction/jobs (read) */
void api_compaction_history(struct http_request *req);    /* GET  /api/v1/compaction/history
                                                             ?limit=10 (read) */

/* Retention (route entries in docs/retention.md). */
void api_retention_create(struct http_request *req);     /* POST   /api/v1/retention (admin) */
void api_retention_list(struct http_request *req);       /* GET    /api/v1/retention (read) */
void api_retention_get(struct http_request *req);        /* GET    /api/v1/retention/{id} (read) */
void api_retention_update(struct http_request *req);     /* PUT    /api/v1/retention/{id} (admin) */
void api_retention_delete(struct http_request *req);     /* DELETE /api/v1/retention/{id} (admin) */
void api_retention_execute(struct http_request *req);    /* POST   /api/v1/retention/{id}/execute
                                                            (admin) */
void api_retention_executions(struct http_request *req); /* GET    /api/v1/retention/{id}/executions
                                                            ?limit=50 (read) */

#endif
