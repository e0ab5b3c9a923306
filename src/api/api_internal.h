/*
 * api/api_internal.h — shared helpers of the endpoint handlers (api_*.c).
 * Not part of any public contract.
 */
#ifndef API_API_INTERNAL_H
#define API_API_INTERNAL_H

#include "api/app.h"
#include "http/http.h"
#include "util/jsonw.h"

/* Handlers, one group per file. */
void api_root(struct http_request *req);
void api_health(struct http_request *req);
void api_ready(struct http_request *req);
void api_ping(struct http_request *req);

int api_write_begin(struct http_request *req);
int api_write_body(struct http_request *req, const char *data, size_t len);
void api_write_lp(struct http_request *req);
void api_write_msgpack(struct http_request *req);
void api_write_flush(struct http_request *req);
void api_write_stats(struct http_request *req);
void api_write_health(struct http_request *req);
void api_msgpack_stats(struct http_request *req);
void api_msgpack_spec(struct http_request *req);
void api_influx_query(struct http_request *req);

/* Starts a JSON object response body: sb initialised, "{" written. */
void api_json_begin(struct strbuf *sb, struct jsonw *w);
/* Closes the object and sends it with status. */
void api_json_send(struct http_request *req, int status, struct strbuf *sb, struct jsonw *w);

/* Process uptime in seconds. */
double api_uptime_seconds(const struct app *app);

#endif
