/*
 * http/http.h — the HTTP server: libmicrohttpd glue, routing, request and
 * response API. The only module that includes <microhttpd.h>.
 *
 * Threading model: event loops (libmicrohttpd thread pool, epoll; one I/O
 * thread per CPU) own the connections: headers, bodies, responses. A
 * route's handler runs either on a worker thread (the default: it may block
 * on DuckDB, disk or a wait; the connection is suspended meanwhile) or, for
 * HTTP_EXEC_INLINE routes (writes, health), right on the I/O thread, which
 * is the cheap path for small frequent requests; such a handler never
 * blocks, and one that must wait for another thread (the WAL's group commit)
 * defers: the connection is suspended and resumed by that thread, many at a
 * time with one wake-up of the loop. See docs/http.md.
 *
 * Request lifecycle, for one route:
 *
 *   headers arrive ──► route lookup (404/405) ──► http_hooks.authorize (401/403)
 *        ──► body limits (413 on Content-Length) ──► route->begin (optional)
 *        ──► body chunks: route->body(chunk) or buffered up to the limit
 *        ──► route->handle (worker, or inline) ──► exactly one http_respond_*
 *            (inline: or http_req_defer ──► … http_req_resume ──► cont)
 *
 * Everything before the body runs before "100 Continue" is sent, so a
 * rejected request never uploads its body.
 */
#ifndef HTTP_HTTP_H
#define HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/rc.h"
#include "util/strbuf.h"

struct http_server;
struct http_request;

/* Body handling of a route. */
enum http_body_mode {
    HTTP_BODY_NONE = 0, /* body ignored (GET etc.) */
    HTTP_BODY_BUFFER,   /* raw body buffered up to max_body_bytes; http_req_body() */
    HTTP_BODY_STREAM,   /* each chunk passed to route->body as it arrives */
};

/* Permission a route needs (checked by http_hooks.authorize). */
enum http_perm {
    HTTP_PERM_PUBLIC = 0,
    HTTP_PERM_READ,
    HTTP_PERM_WRITE,
    HTTP_PERM_DELETE,
    HTTP_PERM_ADMIN,
};

/* Where a route's handler runs. */
enum http_exec {
    HTTP_EXEC_WORKER = 0, /* a worker thread: the handler may block (disk, DuckDB, waits) */
    HTTP_EXEC_INLINE,     /* the connection's I/O thread: CPU and memory only, never
                             blocks; may wait for another thread with http_req_defer.
                             A request whose body is over 64 KiB runs on a worker
                             anyway (bounded loop time); http_req_on_io_thread tells */
};

typedef void (*http_handler_fn)(struct http_request *req);
/* Called once before the body; return RC_OK to go on, or respond and return
 * non-zero to stop (the body is then discarded). */
typedef int (*http_begin_fn)(struct http_request *req);
/* Called per body chunk (HTTP_BODY_STREAM). Return non-zero after calling
 * http_respond_* to stop reading. */
typedef int (*http_body_fn)(struct http_request *req, const char *data, size_t len);

struct http_route {
    const char *method;  /* "GET", "POST", ... ; "GET" also answers HEAD */
    const char *pattern; /* "/api/v1/query/{measurement}/csv"; {x} = one segment */
    http_handler_fn handle;
    enum http_perm perm;
    enum http_body_mode body_mode;
    http_begin_fn begin; /* optional */
    http_body_fn body;   /* required for HTTP_BODY_STREAM */
    const char *name;    /* metrics label; defaults to pattern */
    enum http_exec exec; /* where handle runs (default: a worker thread) */
};

/* Hooks the application provides (all optional). */
struct http_hooks {
    /* Decides access before the body is read. Return RC_OK to allow; on
     * RC_UNAUTH / RC_DENIED it must have called http_respond_*. */
    int (*authorize)(void *app, struct http_request *req, const struct http_route *route);
    /* Called when a request is done (for access logs), after the response. */
    void (*on_complete)(void *app, struct http_request *req, int status, double seconds);
};

struct http_options {
    const char *host;                 /* bind address, "0.0.0.0" */
    int port;                         /* 0 = pick a free port (tests) */
    size_t max_body_bytes;            /* server.max_request_size_mb */
    unsigned max_connections;         /* cap on concurrent connections (threads) */
    unsigned idle_timeout_s;          /* per-connection idle timeout */
    unsigned max_concurrent_requests; /* requests being handled at once; 503 beyond */
    const char *cors_origins;         /* "" = no CORS headers; "*" or comma list */
    unsigned io_threads;              /* event-loop threads; 0 = one per CPU (max 16) */
    unsigned max_workers;             /* worker threads; 0 = max_concurrent_requests or
                                         max_connections, at most 256 */
};

/* Starts listening. routes must stay valid until http_server_stop. */
int http_server_start(const struct http_options *opts, const struct http_route *routes,
                      size_t nroutes, const struct http_hooks *hooks, void *app,
                      struct http_server **out, struct errbuf *eb) MUST_CHECK;
/* Port actually bound (useful with port 0). */
int http_server_port(const struct http_server *s);
/* Stops accepting new connections (existing ones finish their requests). */
void http_server_quiesce(struct http_server *s);
/* Requests being handled right now. */
unsigned http_server_inflight(const struct http_server *s);
/* Waits up to timeout_ms for in-flight requests to finish. Returns true if
 * none remain. */
bool http_server_drain(struct http_server *s, int64_t timeout_ms);
/* Closes every connection and frees the server; sets *s to NULL. */
void http_server_stop(struct http_server **s);

/* --- request accessors (valid until the response is sent) ------------- */
const char *http_req_method(const struct http_request *req);
const char *http_req_path(const struct http_request *req); /* normalised */
/* Header value (case-insensitive name) or NULL. */
const char *http_req_header(struct http_request *req, const char *name);
/* Query parameter (URL-decoded) or NULL. */
const char *http_req_query(struct http_request *req, const char *name);
/* Path parameter from a {name} segment of the route pattern, or NULL. */
const char *http_req_param(const struct http_request *req, const char *name);
/* Buffered body (HTTP_BODY_BUFFER), NUL-terminated; NULL if empty. */
const char *http_req_body(const struct http_request *req, size_t *len);
/* Declared Content-Length, or -1 if absent (chunked). */
int64_t http_req_content_length(struct http_request *req);
/* Client address as text ("127.0.0.1"). */
const char *http_req_client_ip(struct http_request *req);
/* X-Request-ID (echoed or generated). */
const char *http_req_id(const struct http_request *req);
const struct http_route *http_req_route(const struct http_request *req);
void *http_req_app(const struct http_request *req);
/* Per-request slot for handler state, freed by the given function when the
 * request ends (after the response). */
void http_req_set_user(struct http_request *req, void *p, void (*free_fn)(void *));
void *http_req_user(const struct http_request *req);
/* Monotonic start time of the request, ns. */
int64_t http_req_start_ns(const struct http_request *req);
/* Sets the authenticated principal (for logs): a token name, never a secret. */
void http_req_set_principal(struct http_request *req, const char *name);
const char *http_req_principal(const struct http_request *req);

/* --- responses (exactly one per request) -------------------------------- */
/* Adds a response header (copied). Call before http_respond_*. */
void http_add_header(struct http_request *req, const char *name, const char *value);
/* Sends body (copied). content_type may be NULL for no body (204). */
void http_respond(struct http_request *req, int status, const char *content_type, const char *body,
                  size_t len);
/* Sends the content of sb as JSON, taking ownership of its buffer. */
void http_respond_json(struct http_request *req, int status, struct strbuf *sb);
/* Sends the standard error envelope {"success":false,"error":msg,"detail":msg}
 * (SPEC §0.3), plus Retry-After for 503. */
void http_respond_error(struct http_request *req, int status, const char *msg);
/* Same, with an extra "code" and "message" (InfluxDB-style write errors). */
void http_respond_write_error(struct http_request *req, int status, const char *msg);
/* Streaming body (worker-run handlers only): after the handler returns, its
 * worker thread calls reader repeatedly (it may block) and queues what it
 * returns — bytes written into buf (0 < n <= cap), 0 at the end, or -1 to
 * abort the connection — a few chunks ahead of the client. free_fn(ctx) is
 * called on that thread when the stream ends or the client has gone. */
typedef long (*http_reader_fn)(void *ctx, char *buf, size_t cap);
void http_respond_stream(struct http_request *req, int status, const char *content_type,
                         http_reader_fn reader, void *ctx, void (*free_fn)(void *));
bool http_req_responded(const struct http_request *req);

/* --- deferred responses ----------------------------------------------------- */
/* Suspends the request: the handler returns without responding (and, on a
 * worker, the worker is free at once). Later some thread calls
 * http_req_resume(req) exactly once; then cont(req) runs on the I/O thread
 * and responds (http_respond_*, or defers again). From the call on, the
 * request belongs to whoever will resume it: the handler must not touch it
 * after handing it over (the resume may come before the handler returns). */
void http_req_defer(struct http_request *req, http_handler_fn cont);
/* Any thread; req must not be touched afterwards by the caller. */
void http_req_resume(struct http_request *req);
/* True when the caller runs on an I/O thread: it must not block (no file,
 * network, DuckDB or SQLite call, no wait); false on a worker. */
bool http_req_on_io_thread(const struct http_request *req);

/* HTTP status for an RC_* code (the one table, STYLE.md §4). */
int http_status_for_rc(int rc);
/* InfluxDB-style `code` word for a write-endpoint status (§1.3). */
const char *http_write_code_for_status(int status);

/* Normalises a URL path in place: collapses "//", resolves "." and "..",
 * never goes above "/". Returns the new length. */
size_t http_path_normalize(char *path);

/* Route matching, exposed for tests: index of the route matching method and
 * path, -1 if no route has that path (404), -2 if the path exists with other
 * methods (405; *allow gets "GET, POST"). Path params are written to
 * params/values (up to max, pointers into path_buf, which is modified). */
int http_route_match(const struct http_route *routes, size_t n, const char *method, char *path_buf,
                     const char **names, const char **values, size_t max, size_t *nparams,
                     char *allow, size_t allow_cap);

#endif
