/*
 * http/http.c — libmicrohttpd glue (see http.h for the model).
 *
 * Owns: the MHD daemon, one struct http_request per request, route matching,
 * body limits, response construction and the per-route HTTP metrics.
 * Threads: MHD's I/O threads (one event loop each) call in here for
 * headers, body chunks, inline handlers and continuations; worker threads
 * run the other handlers and produce streamed responses. A request is
 * touched by one thread at a time: a worker or a deferring owner only while
 * the connection is suspended, and the hand-over is MHD_resume_connection
 * (a mutex, so a release/acquire pair). Shared mutable state: atomic
 * counters, the worker queue (workers.lock) and each stream's pipe
 * (pipe.lock); routes and options are read-only after start.
 *
 * Invariant: every request gets exactly one response. Handlers call
 * http_respond_*, which builds an MHD_Response and stores it in the request;
 * access_handler queues it at the first point MHD allows (right away for
 * errors found from the headers, after the body otherwise).
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "util/condvar.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define MAX_PARAMS 8
#define HTTP_MAX_WORKERS 256      /* ceiling of the worker pool */
#define STOP_PARKED_WAIT_MS 10000 /* http_server_stop: wait for suspended requests */
/* Per-connection memory pool (headers, read buffer). libmicrohttpd zeroes the
 * whole pool after every request, so its size is a per-request cost: 256 KiB
 * made memset ~15 % of the server's CPU on 20-row writes; 32 KiB slowed
 * multi-MB uploads (smaller reads) by a third; 64 KiB keeps both. */
#define CONN_POOL_BYTES (64 * 1024)
/* Bodies above this many wire bytes are handled on a worker even for inline
 * routes: ~1 ms of line-protocol parsing uncompressed (~10 ms gzip), the
 * longest an I/O thread may be held; the hand-off is small next to it. */
#define INLINE_BODY_MAX (64 * 1024)
#define MAX_RESP_HEADERS 16
#define NSTATUS_CLASSES 6

struct route_metrics {
    struct metric *by_class[NSTATUS_CLASSES]; /* index status/100 */
};

/* The worker pool: handlers that may block run here, never on an I/O
 * thread. Threads are started on demand up to max and live until stop. */
struct workers {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cv;    /* a job was queued, or workers_stop was set */
    struct http_request *head, *tail;
    unsigned nthreads, idle, max, queued;
    pthread_t *threads;
};

struct http_server {
    struct MHD_Daemon *daemon;
    /* Immutable after start: */
    const struct http_route *routes;
    size_t nroutes;
    struct http_hooks hooks;
    void *app;
    struct http_options opts;
    char *cors_origins;
    int port;
    struct route_metrics *route_metrics; /* nroutes + 1 (last = unmatched) */
    struct metric *m_total, *m_success, *m_error, *m_latency, *m_rejected_too_large, *m_busy;
    struct metric *m_workers, *m_work_queued;
    /* Shared, atomic: */
    _Atomic unsigned inflight;
    _Atomic unsigned suspended; /* connections parked by us (jobs, deferrals, streams) */
    _Atomic bool quiesced;
    _Atomic bool workers_stop;
    struct workers workers;
};

struct resp_header {
    char *name;
    char *value;
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char *path;            /* normalised copy, owned */
    char *path_params_buf; /* copy matched against the route, owned */
    int route_idx;         /* -1 none */
    const char *param_names[MAX_PARAMS];
    const char *param_values[MAX_PARAMS];
    size_t nparams;
    int64_t content_length;
    size_t body_bytes;    /* wire bytes seen so far */
    struct strbuf body;   /* HTTP_BODY_BUFFER */
    bool counted;         /* counted in srv->inflight */
    bool stop_body;       /* discard the rest of the body */
    bool handled;         /* handle() was called */
    bool queued;          /* response handed to MHD */
    http_handler_fn cont; /* deferred: called on the I/O thread after resume */
    struct pipe *pipe;    /* streamed response produced by a worker */
    bool in_worker;       /* the handler runs on a worker thread */
    bool auth_wait;       /* suspended while a worker decides authorization */
    struct http_request *job_next;
    struct MHD_Response *resp; /* built by http_respond_*, queued later */
    int status;
    struct resp_header headers[MAX_RESP_HEADERS];
    size_t nheaders;
    void *user;
    void (*user_free)(void *);
    char request_id[129];
    char principal[101];
    char client_ip[INET6_ADDRSTRLEN];
    int64_t start_ns;
};

/* ---------------------------------------------------------------------- */
/* status table                                                            */

int http_status_for_rc(int rc)
{
    switch (rc) {
    case RC_OK: return 200;
    case RC_INVALID:
    case RC_PARSE: return 400;
    case RC_UNAUTH: return 401;
    case RC_DENIED: return 403;
    case RC_NOT_FOUND: return 404;
    case RC_EXISTS: return 409;
    case RC_LIMIT: return 413;
    case RC_UNSUPPORTED: return 415;
    case RC_BUSY:
    case RC_SHUTDOWN: return 503;
    case RC_TIMEOUT: return 504;
    default: return 500;
    }
}

const char *http_write_code_for_status(int status)
{
    switch (status) {
    case 400: return "invalid";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not found";
    case 413: return "request too large";
    case 415: return "unsupported media type";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal error" : "invalid";
    }
}

/* ---------------------------------------------------------------------- */
/* paths and routes                                                        */

size_t http_path_normalize(char *path)
{
    /* Split on '/', drop empty and "." segments, pop on "..". Work in place:
     * the output never gets longer than the input. */
    size_t in = 0, out = 0;
    size_t len = strlen(path);
    size_t seg_starts[256];
    size_t depth = 0;
    while (in < len) {
        while (in < len && path[in] == '/')
            in++;
        if (in >= len)
            break;
        size_t s = in;
        while (in < len && path[in] != '/')
            in++;
        size_t sl = in - s;
        if (sl == 1 && path[s] == '.')
            continue;
        if (sl == 2 && path[s] == '.' && path[s + 1] == '.') {
            if (depth > 0)
                out = seg_starts[--depth];
            continue;
        }
        if (depth < 256)
            seg_starts[depth++] = out;
        path[out++] = '/';
        memmove(path + out, path + s, sl);
        out += sl;
    }
    if (out == 0)
        path[out++] = '/';
    path[out] = '\0';
    return out;
}

/* Matches one pattern against a path; fills params on success. */
static bool match_pattern(const char *pattern, char *path, const char **names, const char **values,
                          size_t max, size_t *nparams)
{
    size_t np = 0;
    const char *p = pattern;
    char *s = path;
    while (*p && *s) {
        if (*p == '{') {
            const char *name = p + 1;
            p = strchr(p, '}');
            if (!p)
                return false;
            p++;
            char *end = strchr(s, '/');
            size_t seglen = end ? (size_t)(end - s) : strlen(s);
            if (seglen == 0)
                return false;
            if (np < max) {
                names[np] = name;
                values[np] = s;
                np++;
            }
            s += seglen;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*p || *s)
        return false;
    *nparams = np;
    return true;
}

int http_route_match(const struct http_route *routes, size_t n, const char *method, char *path_buf,
                     const char **names, const char **values, size_t max, size_t *nparams,
                     char *allow, size_t allow_cap)
{
    bool path_found = false;
    if (allow_cap)
        allow[0] = '\0';
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    for (size_t i = 0; i < n; i++) {
        /* Matching needs a scratch copy: values point into it and are
         * terminated after a successful match only. */
        char tmp[2048];
        snprintf(tmp, sizeof(tmp), "%s", path_buf);
        size_t np = 0;
        if (!match_pattern(routes[i].pattern, tmp, names, values, max, &np))
            continue;
        if (strcmp(routes[i].method, m) == 0) {
            /* Re-run on the caller's buffer so values point into it, then
             * NUL-terminate each parameter segment. */
            match_pattern(routes[i].pattern, path_buf, names, values, max, &np);
            for (size_t k = 0; k < np; k++) {
                char *v = (char *)values[k];
                char *slash = strchr(v, '/');
                if (slash)
                    *slash = '\0';
            }
            *nparams = np;
            return (int)i;
        }
        path_found = true;
        if (allow_cap && !strstr(allow, routes[i].method)) {
            size_t al = strlen(allow);
            snprintf(allow + al, allow_cap - al, "%s%s", al ? ", " : "", routes[i].method);
        }
    }
    return path_found ? -2 : -1;
}

/* ---------------------------------------------------------------------- */
/* request accessors                                                       */

const char *http_req_method(const struct http_request *req)
{
    return req->method;
}
const char *http_req_path(const struct http_request *req)
{
    return req->path;
}
const char *http_req_id(const struct http_request *req)
{
    return req->request_id;
}
void *http_req_app(const struct http_request *req)
{
    return req->srv->app;
}
void *http_req_user(const struct http_request *req)
{
    return req->user;
}
int64_t http_req_start_ns(const struct http_request *req)
{
    return req->start_ns;
}
const char *http_req_principal(const struct http_request *req)
{
    return req->principal;
}
bool http_req_responded(const struct http_request *req)
{
    return req->resp != NULL || req->queued;
}

const struct http_route *http_req_route(const struct http_request *req)
{
    return req->route_idx >= 0 ? &req->srv->routes[req->route_idx] : NULL;
}

const char *http_req_header(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_param(const struct http_request *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->nparams; i++)
        if (strncmp(req->param_names[i], name, nl) == 0 && req->param_names[i][nl] == '}')
            return req->param_values[i];
    return NULL;
}

const char *http_req_body(const struct http_request *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data;
}

int64_t http_req_content_length(struct http_request *req)
{
    return req->content_length;
}

const char *http_req_client_ip(struct http_request *req)
{
    return req->client_ip;
}

void http_req_set_user(struct http_request *req, void *p, void (*free_fn)(void *))
{
    if (req->user && req->user_free)
        req->user_free(req->user);
    req->user = p;
    req->user_free = free_fn;
}

void http_req_set_principal(struct http_request *req, const char *name)
{
    snprintf(req->principal, sizeof(req->principal), "%s", name ? name : "");
}

/* ---------------------------------------------------------------------- */
/* responses                                                               */

void http_add_header(struct http_request *req, const char *name, const char *value)
{
    if (req->nheaders >= MAX_RESP_HEADERS)
        return;
    req->headers[req->nheaders].name = xstrdup(name);
    req->headers[req->nheaders].value = xstrdup(value);
    req->nheaders++;
}

static void add_common_headers(struct http_request *req, struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Request-ID", req->request_id);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    const char *origins = req->srv->cors_origins;
    if (origins && *origins) {
        const char *origin = http_req_header(req, "Origin");
        if (origin) {
            bool ok = strcmp(origins, "*") == 0;
            if (!ok) {
                size_t ol = strlen(origin);
                const char *p = origins;
                while (*p && !ok) {
                    while (*p == ' ' || *p == ',')
                        p++;
                    size_t l = strcspn(p, ",");
                    size_t tl = l;
                    while (tl && p[tl - 1] == ' ')
                        tl--;
                    ok = tl == ol && strncmp(p, origin, ol) == 0;
                    p += l;
                }
            }
            if (ok) {
                MHD_add_response_header(r, "Access-Control-Allow-Origin",
                                        strcmp(origins, "*") == 0 ? "*" : origin);
                MHD_add_response_header(r, "Vary", "Origin");
            }
        }
    }
    for (size_t i = 0; i < req->nheaders; i++)
        MHD_add_response_header(r, req->headers[i].name, req->headers[i].value);
}

static void set_response(struct http_request *req, int status, struct MHD_Response *r,
                         const char *content_type)
{
    if (req->resp || req->queued) {
        /* A second response is a bug in a handler: keep the first. */
        log_error("http", "second response ignored path=%s status=%d", req->path, status);
        MHD_destroy_response(r);
        return;
    }
    if (content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    add_common_headers(req, r);
    req->resp = r;
    req->status = status;
}

void http_respond(struct http_request *req, int status, const char *content_type, const char *body,
                  size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    set_response(req, status, r, len || content_type ? content_type : NULL);
}

static void free_cb(void *p)
{
    xfree(p);
}

void http_respond_json(struct http_request *req, int status, struct strbuf *sb)
{
    size_t len;
    char *data = strbuf_detach(sb, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, data, free_cb);
    set_response(req, status, r, "application/json");
}

static void respond_error_common(struct http_request *req, int status, const char *msg,
                                 bool write_style)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct jsonw w;
    jsonw_init(&w, &sb);
    jsonw_obj_begin(&w);
    jsonw_kv_bool(&w, "success", false);
    if (write_style)
        jsonw_kv_str(&w, "code", http_write_code_for_status(status));
    jsonw_kv_str(&w, "error", msg);
    if (write_style)
        jsonw_kv_str(&w, "message", msg);
    jsonw_kv_str(&w, "detail", msg);
    jsonw_obj_end(&w);
    if (status == 503 || status == 429) {
        bool has = false;
        for (size_t i = 0; i < req->nheaders; i++)
            if (!strcasecmp(req->headers[i].name, "Retry-After"))
                has = true;
        if (!has)
            http_add_header(req, "Retry-After", "1");
    }
    http_respond_json(req, status, &sb);
}

void http_respond_error(struct http_request *req, int status, const char *msg)
{
    respond_error_common(req, status, msg, false);
}

void http_respond_write_error(struct http_request *req, int status, const char *msg)
{
    respond_error_common(req, status, msg, true);
}

/*
 * Streamed responses. The handler's reader may block (it pulls DuckDB
 * chunks), so it never runs on an I/O thread: the worker that ran the
 * handler becomes the producer and fills a small queue of chunks; MHD's
 * content reader, on the I/O thread, only copies chunks out. When the queue
 * is empty the reader suspends the connection and returns 0; the producer
 * resumes it with the next chunk. Memory per stream: PIPE_SLOTS chunks.
 */
#define PIPE_SLOTS 4
#define PIPE_CHUNK (64 * 1024)

struct pipe {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t space; /* the consumer freed a slot, or cancelled */
    char *chunk[PIPE_SLOTS];
    size_t len[PIPE_SLOTS];
    size_t head, count, off; /* ring of filled chunks; off: read position in head */
    bool eof, failed;        /* producer: end of data / reader error */
    bool cancelled;          /* consumer: the response was dropped (client gone) */
    bool consumer_waiting;   /* the connection is suspended until the next chunk */
    int refs;                /* producer + MHD response */
    struct http_server *srv;
    struct MHD_Connection *conn;
    http_reader_fn reader;
    void *ctx;
    void (*free_fn)(void *);
};

static void pipe_unref(struct pipe *p)
{
    pthread_mutex_lock(&p->lock);
    bool last = --p->refs == 0;
    pthread_mutex_unlock(&p->lock);
    if (!last)
        return;
    for (size_t i = 0; i < PIPE_SLOTS; i++)
        xfree(p->chunk[i]);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->space);
    xfree(p);
}

/* Resumes a connection we suspended; any thread. The request may be freed
 * as soon as this returns. */
static void unpark_conn(struct http_server *srv, struct MHD_Connection *conn)
{
    atomic_fetch_sub(&srv->suspended, 1);
    MHD_resume_connection(conn);
}

/* MHD content reader: I/O thread, never blocks. */
static ssize_t pipe_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct pipe *p = cls;
    ssize_t n = 0;
    pthread_mutex_lock(&p->lock);
    if (p->count) {
        size_t h = p->head;
        size_t left = p->len[h] - p->off;
        n = (ssize_t)(left < max ? left : max);
        memcpy(buf, p->chunk[h] + p->off, (size_t)n);
        p->off += (size_t)n;
        if (p->off == p->len[h]) {
            p->off = 0;
            p->head = (h + 1) % PIPE_SLOTS;
            p->count--;
            pthread_cond_signal(&p->space);
        }
    } else if (p->failed) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (p->eof) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing yet: park until the producer has a chunk (MHD allows
         * suspending from a content reader; 0 = no data for now). */
        p->consumer_waiting = true;
        atomic_fetch_add(&p->srv->suspended, 1);
        MHD_suspend_connection(p->conn);
    }
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* MHD is done with the response (sent, or the connection closed). */
static void pipe_dropped(void *cls)
{
    struct pipe *p = cls;
    pthread_mutex_lock(&p->lock);
    p->cancelled = true;
    pthread_cond_signal(&p->space);
    pthread_mutex_unlock(&p->lock);
    pipe_unref(p);
}

/* Runs on the worker after the handler returned: reads the handler's
 * stream into the pipe until the end, an error, the client leaving or the
 * server stopping. Frees the handler's context. */
static void pipe_produce(struct pipe *p)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->count == PIPE_SLOTS && !p->cancelled && !atomic_load(&p->srv->workers_stop)) {
            struct timespec ts;
            cond_deadline_ms(&ts, 100); /* also notices a stopping server */
            pthread_cond_timedwait(&p->space, &p->lock, &ts);
        }
        bool stop = p->cancelled || p->count == PIPE_SLOTS;
        size_t slot = (p->head + p->count) % PIPE_SLOTS;
        pthread_mutex_unlock(&p->lock);
        long n = -1;
        if (!stop) {
            /* The slot is ours until count covers it: the consumer only
             * reads filled slots. */
            if (!p->chunk[slot])
                p->chunk[slot] = xmalloc(PIPE_CHUNK);
            n = p->reader(p->ctx, p->chunk[slot], PIPE_CHUNK);
        }
        pthread_mutex_lock(&p->lock);
        if (n > 0) {
            p->len[slot] = (size_t)n;
            p->count++;
        } else if (n == 0) {
            p->eof = true;
        } else {
            p->failed = true;
        }
        if (p->consumer_waiting) {
            p->consumer_waiting = false;
            unpark_conn(p->srv, p->conn);
        }
        pthread_mutex_unlock(&p->lock);
        if (n <= 0)
            break;
    }
    if (p->free_fn)
        p->free_fn(p->ctx);
    pipe_unref(p);
}

void http_respond_stream(struct http_request *req, int status, const char *content_type,
                         http_reader_fn reader, void *ctx, void (*free_fn)(void *))
{
    if (req->resp || req->queued || !req->in_worker) {
        if (!req->in_worker)
            log_error("http", "streamed response outside a worker path=%s", req->path);
        if (free_fn)
            free_fn(ctx);
        if (!req->resp && !req->queued)
            http_respond_error(req, 500, "Internal error: cannot stream here");
        return;
    }
    struct pipe *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    cond_init_monotonic(&p->space);
    p->refs = 2;
    p->srv = req->srv;
    p->conn = req->conn;
    p->reader = reader;
    p->ctx = ctx;
    p->free_fn = free_fn;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, PIPE_CHUNK, pipe_read, p, pipe_dropped);
    set_response(req, status, r, content_type);
    req->pipe = p;
}

/* ---------------------------------------------------------------------- */
/* MHD callbacks                                                           */

static void make_request_id(struct http_request *req)
{
    const char *given = http_req_header(req, "X-Request-ID");
    if (given) {
        size_t n = strlen(given);
        bool ok = n > 0 && n <= 128;
        for (size_t i = 0; ok && i < n; i++) {
            char c = given[i];
            ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        }
        if (ok) {
            memcpy(req->request_id, given, n + 1);
            return;
        }
    }
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
        uint64_t t = (uint64_t)time_mono_ns() ^ (uint64_t)(uintptr_t)req;
        memcpy(rnd, &t, sizeof(rnd));
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(req->request_id + 2 * i, 3, "%02x", rnd[i]);
}

static void client_ip(struct http_request *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    req->client_ip[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->client_ip,
                  sizeof(req->client_ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->client_ip,
                  sizeof(req->client_ip));
}

/* Hands the stored response to MHD if MHD is at a point where it takes one.
 * Returns MHD_NO only when the connection must be dropped. */
static enum MHD_Result try_queue(struct http_request *req)
{
    if (!req->resp || req->queued)
        return MHD_YES;
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)req->status, req->resp);
    if (r == MHD_YES) {
        req->queued = true;
        MHD_destroy_response(req->resp);
        req->resp = NULL;
    }
    /* MHD refuses a response in the middle of an upload; it is queued again
     * after the last chunk (the rest of the body is discarded meanwhile). */
    return MHD_YES;
}

static bool has_body(struct http_request *req)
{
    const char *te = http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te)
        return true;
    const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl && strcmp(cl, "0") != 0;
}

static bool parse_content_length(struct http_request *req)
{
    const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    req->content_length = -1;
    if (!cl)
        return true;
    char *end;
    unsigned long long v = strtoull(cl, &end, 10);
    if (end == cl || *end)
        return false;
    req->content_length = (int64_t)v;
    return true;
}

static void after_auth(struct http_server *srv, struct http_request *req,
                       const struct http_route *route);
static void dispatch(struct http_server *srv, struct http_request *req);

static void first_call(struct http_server *srv, struct http_request *req, const char *url)
{
    req->path = xstrdup(url);
    http_path_normalize(req->path);
    make_request_id(req);
    client_ip(req);

    unsigned now = atomic_fetch_add(&srv->inflight, 1) + 1;
    req->counted = true;
    if (srv->opts.max_concurrent_requests && now > srv->opts.max_concurrent_requests) {
        metric_inc(srv->m_busy);
        http_respond_error(req, 503, "Server busy: too many concurrent requests");
        return;
    }

    /* CORS preflight. */
    if (strcmp(req->method, "OPTIONS") == 0 && srv->cors_origins && *srv->cors_origins) {
        http_add_header(req, "Access-Control-Allow-Methods",
                        "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        http_add_header(req, "Access-Control-Allow-Headers",
                        "Authorization, Content-Type, Content-Encoding, x-api-key, x-arc-database");
        http_add_header(req, "Access-Control-Max-Age", "600");
        http_respond(req, 204, NULL, NULL, 0);
        return;
    }

    req->path_params_buf = xstrdup(req->path);
    char allow[128];
    int idx = http_route_match(srv->routes, srv->nroutes, req->method, req->path_params_buf,
                               req->param_names, req->param_values, MAX_PARAMS, &req->nparams,
                               allow, sizeof(allow));
    if (idx == -1) {
        char msg[300];
        snprintf(msg, sizeof(msg), "Not found: %.200s", req->path);
        http_respond_error(req, 404, msg);
        return;
    }
    if (idx == -2) {
        http_add_header(req, "Allow", allow);
        char msg[200];
        snprintf(msg, sizeof(msg), "Method %s not allowed; allowed: %s", req->method, allow);
        http_respond_error(req, 405, msg);
        return;
    }
    req->route_idx = idx;
    const struct http_route *route = &srv->routes[idx];

    if (srv->hooks.authorize) {
        int rc = srv->hooks.authorize(srv->app, req, route);
        if (rc == RC_AGAIN) {
            /* The decision needs a blocking read: a worker makes it, and
             * after_auth runs when the connection is resumed. */
            req->auth_wait = true;
            dispatch(srv, req);
            return;
        }
        if (rc != RC_OK) {
            if (!http_req_responded(req))
                http_respond_error(req, 401, "Authentication required");
            return;
        }
    }
    after_auth(srv, req, route);
}

/* The rest of the header phase, once the request is allowed. */
static void after_auth(struct http_server *srv, struct http_request *req,
                       const struct http_route *route)
{
    if (!parse_content_length(req)) {
        http_respond_error(req, 400, "Invalid Content-Length header");
        return;
    }
    if (route->body_mode != HTTP_BODY_NONE && req->content_length >= 0 &&
        (uint64_t)req->content_length > srv->opts.max_body_bytes) {
        metric_inc(srv->m_rejected_too_large);
        char msg[160];
        snprintf(msg, sizeof(msg), "Request body too large: %lld bytes, limit %zu MB",
                 (long long)req->content_length, srv->opts.max_body_bytes >> 20);
        if (strncmp(req->path, "/api/", 5) == 0 && strstr(req->path, "write") == NULL)
            http_respond_error(req, 413, msg);
        else
            http_respond_write_error(req, 413, msg);
        return;
    }
    if (route->body_mode == HTTP_BODY_BUFFER)
        strbuf_init(&req->body, srv->opts.max_body_bytes);
    if (route->begin && route->begin(req) != RC_OK && !http_req_responded(req))
        http_respond_error(req, 400, "Bad request");
}

static void body_chunk(struct http_server *srv, struct http_request *req, const char *data,
                       size_t n)
{
    req->body_bytes += n;
    if (req->body_bytes > srv->opts.max_body_bytes) {
        metric_inc(srv->m_rejected_too_large);
        char msg[160];
        snprintf(msg, sizeof(msg), "Request body too large: limit %zu MB",
                 srv->opts.max_body_bytes >> 20);
        http_respond_write_error(req, 413, msg);
        req->stop_body = true;
        return;
    }
    const struct http_route *route = &srv->routes[req->route_idx];
    if (route->body_mode == HTTP_BODY_BUFFER) {
        if (strbuf_append(&req->body, data, n) != RC_OK) {
            http_respond_write_error(req, 413, "Request body too large");
            req->stop_body = true;
        }
    } else if (route->body_mode == HTTP_BODY_STREAM) {
        if (route->body(req, data, n) != RC_OK) {
            if (!http_req_responded(req))
                http_respond_error(req, 400, "Bad request body");
            req->stop_body = true;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* suspension and the worker pool                                          */

/* Suspends the request's connection: I/O thread, inside an MHD callback. */
static void park(struct http_request *req)
{
    atomic_fetch_add(&req->srv->suspended, 1);
    MHD_suspend_connection(req->conn);
}

/* Set by http_req_defer on a worker: the request now belongs to whoever
 * resumes it, so run_job must not look at it again. */
static __thread bool tl_deferred;

void http_req_defer(struct http_request *req, http_handler_fn cont)
{
    req->cont = cont;
    if (req->in_worker) {
        /* Already suspended (dispatch parked it). */
        req->in_worker = false;
        tl_deferred = true;
        return;
    }
    park(req);
}

void http_req_resume(struct http_request *req)
{
    unpark_conn(req->srv, req->conn);
}

bool http_req_on_io_thread(const struct http_request *req)
{
    return !req->in_worker;
}

static void run_job(struct http_server *srv, struct http_request *req)
{
    req->in_worker = true;
    const struct http_route *route = &srv->routes[req->route_idx];
    if (req->auth_wait) {
        /* Authorization only: the header phase goes on on the I/O thread. */
        int rc = atomic_load(&srv->workers_stop) ? RC_SHUTDOWN
                                                 : srv->hooks.authorize(srv->app, req, route);
        if (rc != RC_OK && !http_req_responded(req)) {
            if (rc == RC_SHUTDOWN)
                http_respond_error(req, 503, "Server is shutting down");
            else
                http_respond_error(req, 401, "Authentication required");
        }
        req->in_worker = false;
        unpark_conn(srv, req->conn);
        return;
    }
    tl_deferred = false;
    if (atomic_load(&srv->workers_stop))
        http_respond_error(req, 503, "Server is shutting down");
    else
        route->handle(req);
    if (tl_deferred)
        return; /* whoever resumes it owns it (it may be gone already) */
    if (!req->resp && !req->queued) {
        log_error("http", "handler sent no response path=%s", req->path);
        http_respond_error(req, 500, "Internal error: no response");
    }
    struct pipe *p = req->pipe;
    req->pipe = NULL;
    /* The I/O thread queues the response; req may be gone after this. */
    unpark_conn(srv, req->conn);
    if (p)
        pipe_produce(p);
}

static void *worker_main(void *arg)
{
    struct http_server *srv = arg;
    struct workers *wp = &srv->workers;
    pthread_setname_np(pthread_self(), "arc-http-work");
    pthread_mutex_lock(&wp->lock);
    for (;;) {
        while (!wp->head && !atomic_load(&srv->workers_stop)) {
            wp->idle++;
            pthread_cond_wait(&wp->cv, &wp->lock);
            wp->idle--;
        }
        struct http_request *req = wp->head;
        if (!req)
            break; /* stop, and nothing queued */
        wp->head = req->job_next;
        if (!wp->head)
            wp->tail = NULL;
        wp->queued--;
        metric_set(srv->m_work_queued, (int64_t)wp->queued);
        pthread_mutex_unlock(&wp->lock);
        run_job(srv, req);
        pthread_mutex_lock(&wp->lock);
    }
    pthread_mutex_unlock(&wp->lock);
    return NULL;
}

/* Hands a request whose handler may block to the pool: I/O thread. */
static void dispatch(struct http_server *srv, struct http_request *req)
{
    struct workers *wp = &srv->workers;
    pthread_mutex_lock(&wp->lock);
    /* Once stopping, no thread is started that http_server_stop would not
     * join (it reads nthreads under this lock after setting the flag). */
    bool stopping = atomic_load(&srv->workers_stop);
    if (!stopping && wp->idle <= wp->queued && wp->nthreads < wp->max) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker_main, srv) == 0) {
            wp->threads[wp->nthreads++] = t;
            metric_set(srv->m_workers, (int64_t)wp->nthreads);
        } else {
            log_warn("http", "cannot start a worker thread (%u running)", wp->nthreads);
        }
    }
    bool none = stopping || wp->nthreads == 0;
    if (!none) {
        /* Parked before any worker can see it: the worker's resume must
         * find the connection suspended. */
        park(req);
        req->job_next = NULL;
        if (wp->tail)
            wp->tail->job_next = req;
        else
            wp->head = req;
        wp->tail = req;
        wp->queued++;
        metric_set(srv->m_work_queued, (int64_t)wp->queued);
        pthread_cond_signal(&wp->cv);
    }
    pthread_mutex_unlock(&wp->lock);
    if (none) {
        req->auth_wait = false;
        http_respond_error(req, 503,
                           stopping ? "Server is shutting down"
                                    : "Server busy: no worker thread available");
    }
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)version;
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    if (!req) {
        req = xcalloc(1, sizeof(*req));
        req->srv = srv;
        req->conn = conn;
        req->route_idx = -1;
        req->start_ns = time_mono_ns();
        snprintf(req->method, sizeof(req->method), "%s", method);
        *con_cls = req;
        first_call(srv, req, url);
        if (req->auth_wait)
            return MHD_YES; /* a worker has it now: hands off until the resume */
        if (!req->resp)
            return MHD_YES;
        req->stop_body = true;
        /* An early answer (404, 401, 413, ...) is queued at once only when
         * it saves an upload; for a request without a body, queueing now
         * would make MHD close the keep-alive connection, so it waits for
         * the next call. */
        if (has_body(req))
            return try_queue(req);
        return MHD_YES;
    }
    if (req->auth_wait) {
        /* Resumed after a worker's authorization decision (MHD calls again
         * in the header phase). */
        req->auth_wait = false;
        if (!req->resp)
            after_auth(srv, req, &srv->routes[req->route_idx]);
        if (!req->resp)
            return MHD_YES;
        req->stop_body = true;
        return has_body(req) ? try_queue(req) : MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!req->stop_body && !req->resp)
            body_chunk(srv, req, upload_data, n);
        return try_queue(req);
    }
    /* Whole body received, or called again after a resume. */
    if (req->cont && !req->resp && !req->queued) {
        http_handler_fn cont = req->cont;
        req->cont = NULL;
        cont(req);
    } else if (!req->resp && !req->queued && !req->handled && req->route_idx >= 0) {
        req->handled = true;
        const struct http_route *route = &srv->routes[req->route_idx];
        /* A large body would hold the loop for its whole parse: inline
         * routes run on a worker above INLINE_BODY_MAX wire bytes. */
        if (route->exec != HTTP_EXEC_INLINE || req->body_bytes > INLINE_BODY_MAX) {
            dispatch(srv, req);
            return MHD_YES;
        }
        route->handle(req);
    }
    if (req->cont)
        return MHD_YES; /* deferred: parked until http_req_resume */
    if (!req->resp && !req->queued) {
        log_error("http", "handler sent no response path=%s", req->path);
        http_respond_error(req, 500, "Internal error: no response");
    }
    return try_queue(req);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct http_server *srv = cls;
    struct http_request *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    double secs = (double)(time_mono_ns() - req->start_ns) / 1e9;
    int status = req->status ? req->status : 500;
    if (req->queued) {
        metric_inc(srv->m_total);
        metric_inc(status < 400 ? srv->m_success : srv->m_error);
        metric_observe(srv->m_latency, secs);
        size_t ri = req->route_idx >= 0 ? (size_t)req->route_idx : srv->nroutes;
        int cls_idx = status / 100;
        if (cls_idx >= 0 && cls_idx < NSTATUS_CLASSES)
            metric_inc(srv->route_metrics[ri].by_class[cls_idx]);
        if (srv->hooks.on_complete)
            srv->hooks.on_complete(srv->app, req, status, secs);
    }
    if (req->resp)
        MHD_destroy_response(req->resp);
    if (req->user && req->user_free)
        req->user_free(req->user);
    for (size_t i = 0; i < req->nheaders; i++) {
        xfree(req->headers[i].name);
        xfree(req->headers[i].value);
    }
    strbuf_cleanup(&req->body);
    xfree(req->path);
    xfree(req->path_params_buf);
    if (req->counted)
        atomic_fetch_sub(&srv->inflight, 1);
    xfree(req);
}

/* The format comes from libmicrohttpd itself, hence the non-literal. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
#pragma GCC diagnostic pop
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
        msg[--l] = '\0';
    log_warn("http", "libmicrohttpd: %s", msg);
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                               */

static void init_metrics(struct http_server *srv)
{
    srv->m_total = metrics_counter("arc_http_requests_total", "HTTP requests answered", NULL);
    srv->m_success = metrics_counter("arc_http_requests_success_total",
                                     "HTTP requests answered with status < 400", NULL);
    srv->m_error = metrics_counter("arc_http_requests_error_total",
                                   "HTTP requests answered with status >= 400", NULL);
    srv->m_latency = metrics_histogram("arc_http_latency_seconds", "HTTP request latency", NULL);
    srv->m_rejected_too_large = metrics_counter("arc_request_body_rejected_total",
                                                "Request bodies rejected", "reason=\"too_large\"");
    srv->m_busy = metrics_counter("arc_http_busy_rejections_total",
                                  "Requests refused: max_concurrent_requests reached", NULL);
    srv->m_workers = metrics_gauge("arc_http_worker_threads",
                                   "HTTP worker threads started (handlers that may block)", NULL);
    srv->m_work_queued = metrics_gauge("arc_http_worker_queue_depth",
                                       "Requests waiting for an HTTP worker thread", NULL);
    srv->route_metrics = xcalloc(srv->nroutes + 1, sizeof(*srv->route_metrics));
    for (size_t i = 0; i <= srv->nroutes; i++) {
        const char *name =
            i < srv->nroutes ? (srv->routes[i].name ? srv->routes[i].name : srv->routes[i].pattern)
                             : "unmatched";
        const char *method = i < srv->nroutes ? srv->routes[i].method : "ANY";
        for (int c = 1; c < NSTATUS_CLASSES; c++) {
            char labels[300];
            snprintf(labels, sizeof(labels), "method=\"%s\",route=\"%s\",status=\"%dxx\"", method,
                     name, c);
            srv->route_metrics[i].by_class[c] = metrics_counter(
                "arc_http_route_requests_total", "HTTP requests by route and status class", labels);
        }
    }
}

int http_server_start(const struct http_options *opts, const struct http_route *routes,
                      size_t nroutes, const struct http_hooks *hooks, void *app,
                      struct http_server **out, struct errbuf *eb)
{
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    srv->routes = routes;
    srv->nroutes = nroutes;
    if (hooks)
        srv->hooks = *hooks;
    srv->app = app;
    srv->opts = *opts;
    srv->cors_origins = xstrdup(opts->cors_origins ? opts->cors_origins : "");
    srv->opts.cors_origins = srv->cors_origins;
    init_metrics(srv);

    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa;
    memset(&a4, 0, sizeof(a4));
    memset(&a6, 0, sizeof(a6));
    const char *host = opts->host && *opts->host ? opts->host : "0.0.0.0";
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)opts->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)opts->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        int rc = errbuf_set(eb, RC_INVALID, "server.host: not an IP address: %s", host);
        xfree(srv->route_metrics);
        xfree(srv->cors_origins);
        xfree(srv);
        return rc;
    }

    unsigned max_conns = opts->max_connections ? opts->max_connections : 1024;
    unsigned io_threads = opts->io_threads;
    if (!io_threads) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        io_threads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (unsigned)ncpu;
    }
    if (io_threads > max_conns)
        io_threads = max_conns;
    struct workers *wp = &srv->workers;
    pthread_mutex_init(&wp->lock, NULL);
    pthread_cond_init(&wp->cv, NULL);
    wp->max = opts->max_workers;
    if (!wp->max) {
        unsigned cap = opts->max_concurrent_requests ? opts->max_concurrent_requests : max_conns;
        wp->max = cap < HTTP_MAX_WORKERS ? cap : HTTP_MAX_WORKERS;
    }
    wp->threads = xcalloc(wp->max, sizeof(*wp->threads));

    /* One event loop per I/O thread; MHD wants no pool option at all for a
     * single thread. */
    struct MHD_OptionItem pool[] = {
        {io_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, io_threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, access_handler, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* must come first */
                                   MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT, max_conns,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)opts->idle_timeout_s,
                                   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_POOL_BYTES,
                                   MHD_OPTION_NOTIFY_COMPLETED, completed, srv, MHD_OPTION_ARRAY,
                                   pool, MHD_OPTION_END);
    if (!srv->daemon) {
        pthread_mutex_destroy(&wp->lock);
        pthread_cond_destroy(&wp->cv);
        xfree(wp->threads);
        int rc = errbuf_set(eb, RC_IO, "cannot listen on %s:%d (address in use or not permitted)",
                            host, opts->port);
        xfree(srv->route_metrics);
        xfree(srv->cors_origins);
        xfree(srv);
        return rc;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : opts->port;
    *out = srv;
    return RC_OK;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_quiesce(struct http_server *s)
{
    if (atomic_exchange(&s->quiesced, true))
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

unsigned http_server_inflight(const struct http_server *s)
{
    return atomic_load(&((struct http_server *)s)->inflight);
}

bool http_server_drain(struct http_server *s, int64_t timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (atomic_load(&s->inflight) > 0) {
        if (time_mono_ms() >= deadline)
            return false;
        time_sleep_ms(10);
    }
    return true;
}

void http_server_stop(struct http_server **sp)
{
    if (!sp || !*sp)
        return;
    struct http_server *s = *sp;
    *sp = NULL;
    http_server_quiesce(s);
    /* Workers finish the handlers they run, answer what is still queued
     * with 503 and exit; streams still producing are cut. */
    struct workers *wp = &s->workers;
    atomic_store(&s->workers_stop, true);
    pthread_mutex_lock(&wp->lock);
    pthread_cond_broadcast(&wp->cv);
    unsigned n = wp->nthreads;
    pthread_mutex_unlock(&wp->lock);
    for (unsigned i = 0; i < n; i++)
        pthread_join(wp->threads[i], NULL);
    /* Let the I/O threads send what the workers and resumed requests
     * answered. MHD_stop_daemon aborts the process if a connection is still
     * suspended: deferred requests must have been resumed by their owners
     * (app_stop closes the WAL first, which completes every commit). */
    int64_t deadline = time_mono_ms() + STOP_PARKED_WAIT_MS;
    while ((atomic_load(&s->suspended) > 0 || atomic_load(&s->inflight) > 0) &&
           time_mono_ms() < deadline)
        time_sleep_ms(5);
    if (atomic_load(&s->suspended) > 0) {
        /* Leaking the daemon beats aborting: the process is exiting. */
        log_error("http", "%u requests still suspended at stop; HTTP server left running",
                  atomic_load(&s->suspended));
        return;
    }
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&wp->lock);
    pthread_cond_destroy(&wp->cv);
    xfree(wp->threads);
    xfree(s->route_metrics);
    xfree(s->cors_origins);
    xfree(s);
}
