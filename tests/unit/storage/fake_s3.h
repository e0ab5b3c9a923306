/*
 * tests/unit/storage/fake_s3.h — a fault-injecting HTTP server for the S3
 * backend tests (one thread, one connection at a time, 127.0.0.1, ephemeral
 * port), and a server-side SigV4 verifier.
 *
 * Modes:
 *   FAKE_BLACKHOLE  accept connections and never read or answer
 *   FAKE_STALL      read a request, send 200 headers announcing 1 MB and
 *                   100 bytes of body, then stall forever
 *   FAKE_SCRIPT     answer requests in order from a script of raw responses
 *                   (the last one repeats); every response closes the
 *                   connection; FAKE_HANG in a script holds that request
 * Every request (head + up to FAKE_BODY_MAX bytes of body) is recorded.
 *
 * Header-only with static functions: each test executable includes it once.
 */
#ifndef TESTS_UNIT_STORAGE_FAKE_S3_H
#define TESTS_UNIT_STORAGE_FAKE_S3_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "storage/sigv4.h"
#include "util/strbuf.h"

enum fake_mode { FAKE_BLACKHOLE, FAKE_STALL, FAKE_SCRIPT };

#define FAKE_MAX_RESP 64
#define FAKE_MAX_REQ 64
#define FAKE_HEAD_MAX 16384
#define FAKE_BODY_MAX 65536
#define FAKE_HANG "HANG"

struct fake_req {
    char head[FAKE_HEAD_MAX]; /* request line + headers, NUL-terminated */
    char *body;               /* malloc'd, body_len bytes (capped), NUL-terminated */
    size_t body_len;          /* bytes kept */
    size_t content_length;    /* announced */
};

struct fake_srv {
    int lfd;
    int port;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu; /* guards everything below */
    enum fake_mode mode;
    char *resp[FAKE_MAX_RESP];
    int nresp, next;
    int nreq;
    struct fake_req req[FAKE_MAX_REQ];
    int held[256];
    int nheld;
};

/* "HTTP/1.1 <status> X" response with a body and extra header lines
 * (each ending in \r\n). Returned string is malloc'd. */
static inline char *fake_resp(int status, const char *extra_headers, const char *body)
{
    size_t bl = body ? strlen(body) : 0;
    size_t n = 256 + (extra_headers ? strlen(extra_headers) : 0) + bl;
    char *r = malloc(n);
    snprintf(r, n, "HTTP/1.1 %d Fake\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s",
             status, bl, extra_headers ? extra_headers : "", body ? body : "");
    return r;
}

static inline char *fake_s3_error(int status, const char *code)
{
    char body[512];
    snprintf(body, sizeof(body),
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>fake "
             "%s</Message><RequestId>REQ123</RequestId></Error>",
             code, code);
    return fake_resp(status, "Content-Type: application/xml\r\nx-amz-request-id: REQ123\r\n", body);
}

/* Replaces the script (takes ownership of the strings). */
static inline void fake_script(struct fake_srv *f, int n, char **responses)
{
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nresp; i++)
        if (strcmp(f->resp[i], FAKE_HANG) != 0)
            free(f->resp[i]);
    f->nresp = n;
    f->next = 0;
    for (int i = 0; i < n; i++)
        f->resp[i] = responses[i];
    f->mode = FAKE_SCRIPT;
    pthread_mutex_unlock(&f->mu);
}

static inline int fake_nreq(struct fake_srv *f)
{
    pthread_mutex_lock(&f->mu);
    int n = f->nreq;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static inline void fake_hold(struct fake_srv *f, int fd)
{
    pthread_mutex_lock(&f->mu);
    if (f->nheld < (int)(sizeof(f->held) / sizeof(f->held[0])))
        f->held[f->nheld++] = fd;
    else
        close(fd);
    pthread_mutex_unlock(&f->mu);
}

/* Reads until "\r\n\r\n" then the body; false on EOF, error or stop. */
static inline bool fake_read_request(struct fake_srv *f, int fd, struct fake_req *out)
{
    size_t n = 0;
    memset(out->head, 0, sizeof(out->head));
    out->body = NULL;
    out->body_len = out->content_length = 0;
    char *end = NULL;
    while (!end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (atomic_load(&f->stop))
            return false;
        int pr = poll(&p, 1, 50);
        if (pr <= 0)
            continue;
        if (n >= sizeof(out->head) - 1)
            return false;
        ssize_t r = recv(fd, out->head + n, sizeof(out->head) - 1 - n, MSG_PEEK);
        if (r <= 0)
            return false;
        /* Consume only through the end of the head, keep the body. */
        char *e = memmem(out->head, n + (size_t)r, "\r\n\r\n", 4);
        size_t take = e ? (size_t)(e + 4 - out->head) - n : (size_t)r;
        r = recv(fd, out->head + n, take, 0);
        if (r <= 0)
            return false;
        n += (size_t)r;
        out->head[n] = '\0';
        end = strstr(out->head, "\r\n\r\n");
    }
    for (char *l = out->head; l && *l; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL)
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            out->content_length = strtoull(l + 15, NULL, 10);
    out->body = malloc(FAKE_BODY_MAX + 1);
    size_t got = 0;
    char sink[65536];
    while (got < out->content_length) {
        struct pollfd p = {fd, POLLIN, 0};
        if (atomic_load(&f->stop))
            return false;
        if (poll(&p, 1, 50) <= 0)
            continue;
        size_t want = out->content_length - got;
        if (want > sizeof(sink))
            want = sizeof(sink);
        ssize_t r = recv(fd, sink, want, 0);
        if (r <= 0)
            return false;
        if (out->body_len < FAKE_BODY_MAX) {
            size_t keep = (size_t)r < FAKE_BODY_MAX - out->body_len ? (size_t)r
                                                                    : FAKE_BODY_MAX - out->body_len;
            memcpy(out->body + out->body_len, sink, keep);
            out->body_len += keep;
        }
        got += (size_t)r;
    }
    out->body[out->body_len] = '\0';
    return true;
}

static inline void fake_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static inline void *fake_thread(void *arg)
{
    struct fake_srv *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {f->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&f->mu);
        enum fake_mode mode = f->mode;
        pthread_mutex_unlock(&f->mu);
        if (mode == FAKE_BLACKHOLE) {
            fake_hold(f, fd);
            continue;
        }
        struct fake_req rq;
        if (!fake_read_request(f, fd, &rq)) {
            free(rq.body);
            close(fd);
            continue;
        }
        pthread_mutex_lock(&f->mu);
        int idx = f->nreq++;
        if (idx < FAKE_MAX_REQ)
            f->req[idx] = rq;
        else
            free(rq.body);
        char *resp = NULL; /* a copy: the test may replace the script meanwhile */
        if (f->mode == FAKE_SCRIPT && f->nresp > 0) {
            resp = strdup(f->resp[f->next < f->nresp ? f->next : f->nresp - 1]);
            if (f->next < f->nresp)
                f->next++;
        }
        pthread_mutex_unlock(&f->mu);
        if (mode == FAKE_STALL) {
            static const char stall[] =
                "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\nContent-Type: "
                "application/xml\r\n\r\n"
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Contents><Key>";
            fake_write_all(fd, stall, sizeof(stall) - 1);
            fake_hold(f, fd);
            free(resp);
            continue;
        }
        if (!resp || strcmp(resp, FAKE_HANG) == 0) {
            fake_hold(f, fd);
            free(resp);
            continue;
        }
        fake_write_all(fd, resp, strlen(resp));
        free(resp);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
    return NULL;
}

static inline void fake_start(struct fake_srv *f, enum fake_mode mode)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    f->mode = mode;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(f->lfd, 64) != 0)
        abort();
    socklen_t al = sizeof(a);
    getsockname(f->lfd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    atomic_init(&f->stop, 0);
    pthread_create(&f->th, NULL, fake_thread, f);
}

static inline void fake_stop(struct fake_srv *f)
{
    atomic_store(&f->stop, 1);
    pthread_join(f->th, NULL);
    close(f->lfd);
    for (int i = 0; i < f->nheld; i++)
        close(f->held[i]);
    for (int i = 0; i < f->nresp; i++)
        if (strcmp(f->resp[i], FAKE_HANG) != 0)
            free(f->resp[i]);
    for (int i = 0; i < f->nreq && i < FAKE_MAX_REQ; i++)
        free(f->req[i].body);
    pthread_mutex_destroy(&f->mu);
}

/* Copy of recorded request i (valid until fake_stop). */
static inline const struct fake_req *fake_request(struct fake_srv *f, int i)
{
    pthread_mutex_lock(&f->mu);
    const struct fake_req *r = i < f->nreq && i < FAKE_MAX_REQ ? &f->req[i] : NULL;
    pthread_mutex_unlock(&f->mu);
    return r;
}

/* Value of header `name` in a recorded head ("" if absent), into out. */
static inline const char *fake_header(const struct fake_req *r, const char *name, char *out,
                                      size_t cap)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    const char *l = strstr(r->head, "\r\n");
    while (l && l[2] && !(l[2] == '\r' && l[3] == '\n')) {
        l += 2;
        const char *e = strstr(l, "\r\n");
        if (strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(e - v), v);
            return out;
        }
        l = e;
    }
    return out;
}

static inline int fake_hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

static inline void fake_pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && fake_hexval(s[i + 1]) >= 0 && fake_hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(fake_hexval(s[i + 1]) * 16 + fake_hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}

/* Server-side SigV4 check of a recorded request, as S3 does it: rebuild the
 * canonical request from what arrived (decoded path and query, the headers
 * named in SignedHeaders, x-amz-content-sha256) and compare signatures.
 * Also checks that the path arrived in canonical encoding, that the payload
 * hash matches the body when the whole body was recorded, and that the
 * Authorization header does not contain the secret. Returns NULL if all is
 * well, else a static description. */
static inline const char *fake_verify_sigv4(const struct fake_req *r, const char *secret,
                                            const char *region)
{
    static char why[8192];
    char method[16], target[4096];
    if (sscanf(r->head, "%15s %4095s", method, target) != 2)
        return "bad request line";
    char auth[2048], date[64], payload[128];
    fake_header(r, "Authorization", auth, sizeof(auth));
    fake_header(r, "x-amz-date", date, sizeof(date));
    fake_header(r, "x-amz-content-sha256", payload, sizeof(payload));
    if (!auth[0] || !date[0] || !payload[0])
        return "missing Authorization, x-amz-date or x-amz-content-sha256";
    if (strstr(auth, secret))
        return "the secret appears in Authorization";
    char ak[256] = "";
    const char *cred = strstr(auth, "Credential=");
    const char *sh = strstr(auth, "SignedHeaders=");
    if (!cred || !sh)
        return "malformed Authorization";
    sscanf(cred + 11, "%255[^/]", ak);
    char signed_names[1024];
    sscanf(sh + 14, "%1023[^,]", signed_names);

    char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    static char path[4096];
    fake_pct_decode(target, plen, path);
    /* Canonical encoding on the wire. */
    struct strbuf enc;
    strbuf_init(&enc, 0);
    if (sigv4_uri_encode(&enc, path, strlen(path), false) != 0 || enc.len != plen ||
        memcmp(enc.data, target, plen) != 0) {
        snprintf(why, sizeof(why), "path not canonically encoded: %.*s", (int)plen, target);
        strbuf_cleanup(&enc);
        return why;
    }
    strbuf_cleanup(&enc);

    struct sigv4_kv qkv[16];
    static char qbuf[16][2][2048];
    size_t nq = 0;
    if (q) {
        char *save = NULL;
        static char qs[4096];
        snprintf(qs, sizeof(qs), "%s", q + 1);
        for (char *item = strtok_r(qs, "&", &save); item && nq < 16;
             item = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(item, '=');
            size_t kl = eq ? (size_t)(eq - item) : strlen(item);
            fake_pct_decode(item, kl, qbuf[nq][0]);
            fake_pct_decode(eq ? eq + 1 : "", eq ? strlen(eq + 1) : 0, qbuf[nq][1]);
            qkv[nq] = (struct sigv4_kv){qbuf[nq][0], qbuf[nq][1]};
            nq++;
        }
    }
    struct sigv4_kv hkv[16];
    static char hval[16][2048];
    static char names[1024];
    snprintf(names, sizeof(names), "%s", signed_names);
    size_t nh = 0;
    char *save = NULL;
    for (char *nm = strtok_r(names, ";", &save); nm && nh < 16; nm = strtok_r(NULL, ";", &save)) {
        fake_header(r, nm, hval[nh], sizeof(hval[nh]));
        hkv[nh] = (struct sigv4_kv){nm, hval[nh]};
        nh++;
    }
    struct sigv4_request sr = {method, path, qkv, nq, hkv, nh, payload};
    struct sigv4_credentials c = {ak, secret};
    struct sigv4_scope sc = {date, region, "s3"};
    struct strbuf out;
    strbuf_init(&out, 0);
    int rc = sigv4_authorization(&sr, &c, &sc, &out, NULL, NULL);
    const char *res = NULL;
    if (rc != 0) {
        res = "verifier could not sign";
    } else if (strcmp(out.data, auth) != 0) {
        snprintf(why, sizeof(why), "signature mismatch:\n got  %s\n want %s", auth, out.data);
        res = why;
    } else if (r->body_len == r->content_length && strcmp(payload, SIGV4_UNSIGNED_PAYLOAD) != 0) {
        char h[65];
        sigv4_sha256_hex(r->body, r->body_len, h);
        if (strcmp(h, payload) != 0)
            res = "x-amz-content-sha256 does not match the body";
    }
    strbuf_cleanup(&out);
    return res;
}

#endif
