/*
 * tests/unit/http/test_server.c — the HTTP layer's threading model, over
 * real sockets: inline handlers on the I/O thread, worker-run handlers that
 * block, deferred responses resumed from another thread (what the WAL
 * does), streamed responses produced by a worker, authorization decided on
 * a worker, and shutdown with work still queued.
 *
 * The server runs with ONE I/O thread so that every connection shares the
 * same event loop: a handler that blocked it would show up as latency on
 * the other connections. The client is raw HTTP/1.0 over a socket (the
 * response ends when the server closes), which also lets a test walk away
 * in the middle of a stream.
 */
#include "test_helpers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* ---- routes ---------------------------------------------------------------- */

static void h_ping(struct http_request *req)
{
    http_respond(req, 200, "text/plain", "pong", 4);
}

/* Worker route: blocks for ?ms= milliseconds, like a long query. */
static void h_sleep(struct http_request *req)
{
    const char *ms = http_req_query(req, "ms");
    time_sleep_ms(ms ? atol(ms) : 0);
    http_respond(req, 200, "text/plain", "slept", 5);
}

/* Inline route that defers; a helper thread resumes after ?ms=. */
struct resumer {
    struct http_request *req;
    long ms;
};

static void *resume_later(void *arg)
{
    struct resumer *r = arg;
    time_sleep_ms(r->ms);
    struct http_request *req = r->req;
    xfree(r);
    http_req_resume(req);
    return NULL;
}

static void deferred_done(struct http_request *req)
{
    http_respond(req, 200, "text/plain", "resumed", 7);
}

static void defer_and_resume_later(struct http_request *req)
{
    struct resumer *r = xmalloc(sizeof(*r));
    r->req = req;
    const char *ms = http_req_query(req, "ms");
    r->ms = ms ? atol(ms) : 0;
    http_req_defer(req, deferred_done);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, resume_later, r), 0);
    pthread_detach(t);
    /* req may be answered and freed by now: not touched again. */
}

static void h_defer(struct http_request *req)
{
    assert_true(http_req_on_io_thread(req));
    defer_and_resume_later(req);
}

/* The same from a worker: the worker is released at once, the
 * continuation still runs on the I/O thread. */
static void h_wdefer(struct http_request *req)
{
    assert_false(http_req_on_io_thread(req));
    defer_and_resume_later(req);
}

/* Deferred requests parked until the test resumes them all at once. */
static pthread_mutex_t g_park_lock = PTHREAD_MUTEX_INITIALIZER;
static struct http_request *g_parked[64];
static _Atomic int g_nparked;

static void h_park(struct http_request *req)
{
    http_req_defer(req, deferred_done);
    pthread_mutex_lock(&g_park_lock);
    g_parked[atomic_fetch_add(&g_nparked, 1)] = req;
    pthread_mutex_unlock(&g_park_lock);
}

static void resume_all_parked(void)
{
    pthread_mutex_lock(&g_park_lock);
    int n = atomic_exchange(&g_nparked, 0);
    for (int i = 0; i < n; i++)
        http_req_resume(g_parked[i]);
    pthread_mutex_unlock(&g_park_lock);
}

/* Worker route streaming ?kb= KiB of a known pattern, 1000 bytes per read,
 * sleeping now and then so that the consumer finds the pipe empty. */
struct gen {
    size_t total, sent;
    unsigned reads;
};
static _Atomic int g_streams_freed;

static long gen_read(void *ctx, char *buf, size_t cap)
{
    struct gen *g = ctx;
    if (++g->reads % 50 == 0)
        time_sleep_ms(2);
    size_t n = g->total - g->sent;
    if (n > cap)
        n = cap;
    if (n > 1000)
        n = 1000;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (g->sent + i) % 26);
    g->sent += n;
    return (long)n;
}

static void gen_free(void *ctx)
{
    xfree(ctx);
    atomic_fetch_add(&g_streams_freed, 1);
}

static void h_stream(struct http_request *req)
{
    struct gen *g = xcalloc(1, sizeof(*g));
    const char *kb = http_req_query(req, "kb");
    g->total = (size_t)(kb ? atol(kb) : 1) * 1024;
    http_respond_stream(req, 200, "text/plain", gen_read, g, gen_free);
}

/* Buffered-body route (inline) answering the body's length and where it
 * ran: on the I/O thread, or on a worker for a large body. */
static void h_echo_len(struct http_request *req)
{
    size_t len = 0;
    http_req_body(req, &len);
    char out[48];
    int n =
        snprintf(out, sizeof(out), "%zu %s", len, http_req_on_io_thread(req) ? "inline" : "worker");
    http_respond(req, 200, "text/plain", out, (size_t)n);
}

/* Authorization hook like the server's: public routes pass; on the I/O
 * thread it only says "ask again on a worker" (RC_AGAIN); on the worker it
 * takes 100 ms (a slow token store) and accepts the token "good". */
static _Atomic int g_auth_on_worker;

static int slow_authorize(void *app, struct http_request *req, const struct http_route *route)
{
    (void)app;
    if (route->perm == HTTP_PERM_PUBLIC)
        return RC_OK;
    if (http_req_on_io_thread(req))
        return RC_AGAIN;
    atomic_fetch_add(&g_auth_on_worker, 1);
    time_sleep_ms(100);
    const char *tok = http_req_header(req, "X-Token");
    if (tok && strcmp(tok, "good") == 0)
        return RC_OK;
    http_respond_error(req, 401, "bad token");
    return RC_UNAUTH;
}

// clang-format off
static const struct http_route routes[] = {
    {"GET", "/ping", h_ping, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_INLINE},
    {"GET", "/sleep", h_sleep, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/defer", h_defer, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_INLINE},
    {"GET", "/wdefer", h_wdefer, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"GET", "/park", h_park, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_INLINE},
    {"GET", "/stream", h_stream, HTTP_PERM_PUBLIC, HTTP_BODY_NONE, NULL, NULL, NULL, HTTP_EXEC_WORKER},
    {"POST", "/echo", h_echo_len, HTTP_PERM_WRITE, HTTP_BODY_BUFFER, NULL, NULL, NULL, HTTP_EXEC_INLINE},
};
// clang-format on

static struct http_server *start_with(unsigned max_workers, const struct http_hooks *hooks)
{
    struct http_options o = {.host = "127.0.0.1",
                             .port = 0,
                             .max_body_bytes = 1 << 20,
                             .max_connections = 128,
                             .idle_timeout_s = 30,
                             .io_threads = 1,
                             .max_workers = max_workers,
                             .cors_origins = ""};
    struct http_server *s = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(
        http_server_start(&o, routes, sizeof(routes) / sizeof(routes[0]), hooks, NULL, &s, &eb),
        RC_OK);
    return s;
}

static struct http_server *start(unsigned max_workers)
{
    return start_with(max_workers, NULL);
}

/* ---- client ---------------------------------------------------------------- */

static int conn_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int send_get(int port, const char *path)
{
    int fd = conn_open(port);
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    return fd;
}

/* Reads the whole response (until the server closes, at most timeout_ms);
 * returns the status, the body in *body (xfree) unless body is NULL. */
/* Waits up to timeout_ms for *v to reach at least `want`; returns its value. */
static int wait_count(_Atomic int *v, int want, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (atomic_load(v) < want && time_mono_ms() < deadline)
        time_sleep_ms(5);
    return atomic_load(v);
}

static int read_resp(int fd, int timeout_ms, char **body, size_t *blen)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    int64_t deadline = time_mono_ms() + timeout_ms;
    char buf[16384];
    for (;;) {
        int left = (int)(deadline - time_mono_ms());
        assert_true(left > 0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t k = read(fd, buf, sizeof(buf));
        if (k < 0 && errno == EINTR)
            continue;
        assert_true(k >= 0);
        if (k == 0)
            break;
        assert_int_equal(strbuf_append(&sb, buf, (size_t)k), RC_OK);
    }
    close(fd);
    size_t len;
    char *all = strbuf_detach(&sb, &len);
    int status = 0;
    assert_int_equal(sscanf(all ? all : "", "HTTP/1.%*d %d", &status), 1);
    char *sep = all ? strstr(all, "\r\n\r\n") : NULL;
    assert_non_null(sep);
    if (body) {
        size_t off = (size_t)(sep + 4 - all);
        *blen = len - off;
        *body = xmalloc(*blen + 1);
        memcpy(*body, sep + 4, *blen);
        (*body)[*blen] = '\0';
    }
    xfree(all);
    return status;
}

static int get(int port, const char *path, int timeout_ms)
{
    return read_resp(send_get(port, path), timeout_ms, NULL, NULL);
}

/* ---- tests ----------------------------------------------------------------- */

/* A worker-run handler blocking for 800 ms holds neither the I/O thread nor
 * other requests: inline and worker routes on other connections answer at
 * once. */
static void test_blocking_handler_does_not_hold_the_loop(void **state)
{
    (void)state;
    struct http_server *s = start(0);
    int port = http_server_port(s);
    int slow = send_get(port, "/sleep?ms=800");
    time_sleep_ms(50);
    int64_t t0 = time_mono_ms();
    assert_int_equal(get(port, "/ping", 5000), 200);
    assert_int_equal(get(port, "/sleep?ms=0", 5000), 200);
    assert_true(time_mono_ms() - t0 < 300);
    assert_int_equal(read_resp(slow, 5000, NULL, NULL), 200);
    http_server_stop(&s);
}

/* A deferred request waits for its resume without holding the loop, then
 * its continuation answers. */
static void test_deferred_request_resumed_from_another_thread(void **state)
{
    (void)state;
    struct http_server *s = start(0);
    int port = http_server_port(s);
    int64_t t0 = time_mono_ms();
    int fd = send_get(port, "/defer?ms=300");
    time_sleep_ms(30);
    assert_int_equal(get(port, "/ping", 2000), 200);
    assert_true(time_mono_ms() - t0 < 250);
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(read_resp(fd, 5000, &body, &len), 200);
    assert_true(time_mono_ms() - t0 >= 290);
    assert_string_equal(body, "resumed");
    xfree(body);
    /* Resumed before the handler even returned (the thread is instant),
     * from the I/O thread and from a worker. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(get(port, "/defer?ms=0", 2000), 200);
        assert_int_equal(get(port, "/wdefer?ms=0", 2000), 200);
    }
    assert_int_equal(read_resp(send_get(port, "/wdefer?ms=200"), 5000, &body, &len), 200);
    assert_string_equal(body, "resumed");
    xfree(body);
    http_server_stop(&s);
}

/* Many requests parked at once and resumed together (a group commit) all
 * get their answer. */
static void test_group_of_parked_requests(void **state)
{
    (void)state;
    struct http_server *s = start(0);
    int port = http_server_port(s);
    enum { N = 40 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = send_get(port, "/park");
    assert_int_equal(wait_count(&g_nparked, N, 5000), N);
    assert_int_equal(get(port, "/ping", 2000), 200); /* the loop is free */
    resume_all_parked();
    for (int i = 0; i < N; i++)
        assert_int_equal(read_resp(fds[i], 5000, NULL, NULL), 200);
    http_server_stop(&s);
}

/* A streamed response produced by a worker arrives whole and in order,
 * including when the consumer finds the pipe empty, and in parallel with
 * other requests. */
static void test_stream_arrives_whole(void **state)
{
    (void)state;
    struct http_server *s = start(0);
    int port = http_server_port(s);
    int before = atomic_load(&g_streams_freed);
    int a = send_get(port, "/stream?kb=3000");
    int b = send_get(port, "/stream?kb=7");
    assert_int_equal(get(port, "/ping", 2000), 200);
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(read_resp(a, 20000, &body, &len), 200);
    assert_int_equal(len, 3000 * 1024);
    for (size_t i = 0; i < len; i++)
        if (body[i] != (char)('a' + i % 26))
            fail_msg("byte %zu differs", i);
    xfree(body);
    assert_int_equal(read_resp(b, 5000, &body, &len), 200);
    assert_int_equal(len, 7 * 1024);
    xfree(body);
    assert_int_equal(wait_count(&g_streams_freed, before + 2, 2000), before + 2);
    http_server_stop(&s);
}

/* A client that leaves in the middle of a large stream: the producer stops
 * and its context is freed, and the server stops cleanly. */
static void test_stream_client_leaves(void **state)
{
    (void)state;
    struct http_server *s = start(0);
    int port = http_server_port(s);
    int before = atomic_load(&g_streams_freed);
    int fd = send_get(port, "/stream?kb=1000000"); /* ~1 GB: never finishes */
    char buf[4096];
    assert_true(read(fd, buf, sizeof(buf)) > 0);
    close(fd);
    assert_int_equal(wait_count(&g_streams_freed, before + 1, 5000), before + 1);
    assert_int_equal(get(port, "/ping", 2000), 200);
    http_server_stop(&s);
}

/* With one worker busy, a queued worker request waits (no 503) and runs
 * next; the inline route is unaffected. At stop, a request still queued is
 * answered 503 rather than dropped. */
static void test_worker_limit_and_stop(void **state)
{
    (void)state;
    struct http_server *s = start(1);
    int port = http_server_port(s);
    int a = send_get(port, "/sleep?ms=400");
    time_sleep_ms(50);
    int b = send_get(port, "/sleep?ms=0");
    time_sleep_ms(50);
    int64_t t0 = time_mono_ms();
    assert_int_equal(get(port, "/ping", 2000), 200);
    assert_true(time_mono_ms() - t0 < 200);
    assert_int_equal(read_resp(a, 5000, NULL, NULL), 200);
    assert_int_equal(read_resp(b, 5000, NULL, NULL), 200);

    int c = send_get(port, "/sleep?ms=500");
    time_sleep_ms(50);
    int d = send_get(port, "/sleep?ms=0");
    time_sleep_ms(50);
    http_server_stop(&s); /* c finishes; d is answered 503 */
    assert_int_equal(read_resp(c, 5000, NULL, NULL), 200);
    assert_int_equal(read_resp(d, 5000, NULL, NULL), 503);
}

static int send_post(int port, const char *path, const char *token, size_t body_len)
{
    int fd = conn_open(port);
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.0\r\nHost: x\r\nX-Token: %s\r\nContent-Length: %zu\r\n\r\n",
                     path, token, body_len);
    assert_int_equal(write(fd, head, (size_t)n), n);
    char *body = xmalloc(body_len);
    memset(body, 'x', body_len);
    size_t off = 0;
    while (off < body_len) {
        ssize_t k = write(fd, body + off, body_len - off);
        if (k < 0 && errno == EPIPE)
            break; /* refused before the upload: fine */
        assert_true(k > 0);
        off += (size_t)k;
    }
    xfree(body);
    return fd;
}

/* An authorization that needs a blocking lookup is made on a worker while
 * the I/O thread serves others; the request then goes on (body, inline
 * handler) or is refused. */
static void test_authorization_on_a_worker(void **state)
{
    (void)state;
    static const struct http_hooks hooks = {.authorize = slow_authorize};
    struct http_server *s = start_with(0, &hooks);
    int port = http_server_port(s);
    int before = atomic_load(&g_auth_on_worker);
    int64_t t0 = time_mono_ms();
    int ok = send_post(port, "/echo", "good", 100000);
    int small = send_post(port, "/echo", "good", 1000);
    int bad = send_post(port, "/echo", "evil", 10);
    assert_int_equal(get(port, "/ping", 2000), 200);
    assert_true(time_mono_ms() - t0 < 90); /* did not wait for the 100 ms decisions */
    char *body = NULL;
    size_t len = 0;
    assert_int_equal(read_resp(ok, 5000, &body, &len), 200);
    assert_string_equal(body, "100000 worker"); /* over 64 KiB: not on the loop */
    xfree(body);
    assert_int_equal(read_resp(small, 5000, &body, &len), 200);
    assert_string_equal(body, "1000 inline");
    xfree(body);
    assert_int_equal(read_resp(bad, 5000, NULL, NULL), 401);
    assert_int_equal(atomic_load(&g_auth_on_worker), before + 3);
    http_server_stop(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a refused upload must not kill the client */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocking_handler_does_not_hold_the_loop),
        cmocka_unit_test(test_deferred_request_resumed_from_another_thread),
        cmocka_unit_test(test_group_of_parked_requests),
        cmocka_unit_test(test_stream_arrives_whole),
        cmocka_unit_test(test_stream_client_leaves),
        cmocka_unit_test(test_worker_limit_and_stop),
        cmocka_unit_test(test_authorization_on_a_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
