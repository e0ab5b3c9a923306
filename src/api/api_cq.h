/*
 * api/api_cq.h — HTTP side of continuous queries (SPEC §8.2) and deletes
 * (SPEC §8.3): request parsing, response shapes, status codes. The work is
 * done by jobs/cq.h and jobs/delete.h.
 *
 * Threads: every handler runs on an HTTP worker thread (so a CQ execution
 * or a delete may block it; the connection is suspended meanwhile).
 */
#ifndef API_API_CQ_H
#define API_API_CQ_H

#include "http/http.h"

struct cq_service;
struct del_service;

/* Fallback homes of the services until struct app carries them: set once at
 * startup after cq_service_new / del_service_new, cleared at shutdown
 * before they are freed. NULL: the CQ endpoints answer 503 "Continuous
 * queries not initialized"; POST /api/v1/delete answers 403 when
 * delete.enabled is false, else 503. */
extern struct cq_service *api_cq_global;
extern struct del_service *api_del_global;

/* Continuous queries (SPEC §8.2). */
void api_cq_list(struct http_request *req);    /* GET    /api/v1/continuous_queries */
void api_cq_create(struct http_request *req);  /* POST   /api/v1/continuous_queries */
void api_cq_get(struct http_request *req);     /* GET    /api/v1/continuous_queries/{id} */
void api_cq_update(struct http_request *req);  /* PUT    /api/v1/continuous_queries/{id} */
void api_cq_delete(struct http_request *req);  /* DELETE /api/v1/continuous_queries/{id} */
void api_cq_execute(struct http_request *req); /* POST   /api/v1/continuous_queries/{id}/execute */
void api_cq_executions(
    struct http_request *req); /* GET    /api/v1/continuous_queries/{id}/executions */

/* Deletes (SPEC §8.3). */
void api_delete_config(struct http_request *req); /* GET  /api/v1/delete/config */
void api_delete_rows(struct http_request *req);   /* POST /api/v1/delete */

#endif
