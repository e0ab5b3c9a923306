/*
 * storage/s3.c — the S3-compatible backend of storage.h (s3.h), on libcurl
 * with AWS Signature Version 4 (sigv4.c) and a minimal XML reader
 * (s3_xml.c). This is the only file of Arc that calls libcurl.
 *
 * Owns: the immutable connection settings (copied from s3_options, secrets
 * wiped on free), a small pool of idle curl easy handles (each keeps its
 * live connections, so requests reuse TCP/TLS sessions), the circuit
 * breaker, and counters for staging names.
 *
 * Threads: flush workers (put), query threads (get, read_range, head, list),
 * the scheduler (delete, list), the storage probe (head/list). Any number
 * at once: a request borrows a handle from the pool for its duration.
 * Locks: pool_mu guards the idle-handle stack, br_mu the breaker fields;
 * both are leaves held for a few instructions, never across a request,
 * a sleep or a log call.
 *
 * DESIGN
 *
 * One logical request (call()) = up to 1 + max_retries HTTP attempts:
 *
 *   breaker_enter ──fail fast──────────────────────────────► RC_S3
 *        │
 *        ▼
 *   attempt: sign (fresh x-amz-date) ─► curl_easy_perform ─► classify
 *        ▲                                                     │
 *        │ back-off: min(10 s, base·2^n), jittered to [d/2, d],│
 *        │ at least Retry-After; never past the deadline       │
 *        └──── retryable: curl timeout / connect / reset,  ◄───┤
 *              HTTP 5xx, 429, 400 RequestTimeout               │
 *                                                              ▼
 *   breaker_leave(failed = the endpoint did not answer usefully) ─► rc
 *
 * Every attempt sets CURLOPT_CONNECTTIMEOUT_MS and CURLOPT_TIMEOUT_MS to
 * min(configured, time left before the operation deadline), plus
 * CURLOPT_LOW_SPEED_LIMIT/TIME and CURLOPT_NOSIGNAL (SPEC §11 R2). A curl
 * timeout (connect, request or stall) increments arc_storage_timeouts_total
 * and is logged with the operation and key; so is an operation that runs
 * out of its deadline between attempts.
 *
 * Circuit breaker (per backend):
 *
 *   CLOSED ──breaker_threshold consecutive failed calls──► OPEN
 *   OPEN ──first call after breaker_cooldown_ms──► HALF_OPEN (that call is
 *          the probe, run with no retries; other calls still fail fast)
 *   HALF_OPEN ──probe ok──► CLOSED        HALF_OPEN ──probe failed──► OPEN
 *   any state ──a call succeeds (or gets a 4xx answer)──► CLOSED
 *
 * "Failed" means the endpoint did not answer usefully: timeouts, connection
 * errors, 5xx/429 after retries. A 404 or 403 proves the endpoint is alive.
 *
 * Put (SPEC §3.3, an object is visible only when complete):
 *
 *   size <= multipart_threshold:  PUT key  (body streamed from the file)
 *   larger:  POST key?uploads ─► UploadId
 *            PUT key?partNumber=i&uploadId=… (i = 1..n, streamed ranges)
 *            POST key?uploadId=… <CompleteMultipartUpload>
 *            on any failure: DELETE key?uploadId=… (abort; a bucket
 *            lifecycle rule should also abort stale uploads)
 *
 * Payload signing: every body is signed with its real SHA-256
 * (x-amz-content-sha256), computed by reading the file (or part) once more
 * before sending it. This costs one extra sequential read (page-cached, about
 * 1 GB/s) and buys end-to-end integrity over plain HTTP (MinIO's default)
 * and acceptance by S3-compatibles that refuse UNSIGNED-PAYLOAD; S3 rejects
 * a body that does not match (XAmzContentSHA256Mismatch).
 *
 * NOREPLACE puts send If-None-Match: * (honoured by AWS S3, R2, recent
 * MinIO: 412 -> RC_EXISTS) after a HEAD check, which is all older
 * S3-compatibles allow (a narrow race remains there). Ambiguous outcomes of
 * a retried request (412 / NoSuchUpload after a timed-out attempt that may
 * have succeeded) are resolved by a HEAD comparing the object size.
 */
#include "storage/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "metrics/metrics.h"
#include "storage/s3_internal.h"
#include "storage/sigv4.h"
#include "storage/storage_internal.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define POOL_MAX 16             /* idle easy handles kept for reuse */
#define ERRBODY_MAX (64 * 1024) /* error response bodies kept for parsing */
#define XMLBODY_MAX (32 << 20)  /* LIST / multipart / delete responses */
#define MAX_PARTS 10000         /* S3 limit */
#define DELETE_BATCH 1000       /* S3 limit per DeleteObjects request */
#define HASH_CHUNK (256 * 1024)
#define MAX_EXTRA_HEADERS 4
#define MAX_QUERY 5

#ifndef ARC_VERSION
#define ARC_VERSION "0"
#endif

enum breaker_state { BR_CLOSED = 0, BR_OPEN = 1, BR_HALF_OPEN = 2 };

struct s3 {
    /* Immutable after storage_new_s3. */
    char *name; /* "s3" (metrics label, logs) */
    struct s3__endpoint ep;
    char *bucket;
    char *prefix; /* "" or ends with '/' */
    char *region;
    char *access_key;
    char *secret_key;    /* secret: wiped on free */
    char *session_token; /* secret or NULL: wiped on free */
    bool path_style;
    long connect_timeout_ms, request_timeout_ms;
    long low_speed_limit_bytes, low_speed_time_s;
    int64_t operation_timeout_ms;
    int max_retries;
    uint64_t multipart_threshold_bytes, part_size_bytes;
    char *staging_dir;
    char *ca_file; /* NULL = system CAs */
    int list_page_size;
    int breaker_threshold;
    long breaker_cooldown_ms, retry_base_ms;
    struct metric *m_timeouts, *m_retries, *m_circuit_open, *m_circuit_rejected, *m_circuit_state;

    _Atomic uint64_t seq;                 /* staging and download temp names */
    atomic_bool multi_delete_unsupported; /* DeleteObjects refused: use single deletes */

    /* pool_mu guards the idle-handle stack. */
    pthread_mutex_t pool_mu;
    CURL *idle[POOL_MAX];
    int nidle;

    /* br_mu guards the breaker fields below. */
    pthread_mutex_t br_mu;
    enum breaker_state br_state;
    int br_failures;          /* consecutive failed calls */
    int64_t br_open_until_ms; /* monotonic */
    bool br_probe_inflight;
};

static const struct storage_ops s3_ops;

static struct s3 *S(const struct storage *st)
{
    return st->impl;
}

/* ---- endpoint and addressing ---------------------------------------------- */

static bool bad_char(unsigned char c)
{
    return c <= 0x20 || c == 0x7F;
}

void s3__endpoint_cleanup(struct s3__endpoint *ep)
{
    if (!ep)
        return;
    xfree(ep->authority);
    xfree(ep->base_path);
    ep->authority = ep->base_path = NULL;
}

static bool region_ok(const char *r)
{
    if (!r || !*r || strlen(r) > 64)
        return false;
    for (; *r; r++)
        if (!((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') || (*r >= '0' && *r <= '9') ||
              *r == '-' || *r == '_'))
            return false;
    return true;
}

int s3__endpoint_parse(const char *endpoint, bool use_ssl, const char *region,
                       struct s3__endpoint *out, struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    if (!endpoint || !*endpoint) {
        if (!region_ok(region))
            return errbuf_set(eb, RC_INVALID, "storage: s3 region \"%.64s\" is invalid",
                              region ? region : "");
        struct strbuf a;
        strbuf_init(&a, 256);
        if (strbuf_printf(&a, "s3.%s.amazonaws.com", region) != RC_OK) {
            strbuf_cleanup(&a);
            return errbuf_set(eb, RC_INVALID, "storage: s3 region too long");
        }
        out->https = use_ssl;
        out->authority = strbuf_detach(&a, NULL);
        out->base_path = xstrdup("");
        return RC_OK;
    }
    const char *p = endpoint;
    bool https = use_ssl;
    if (strncasecmp(p, "https://", 8) == 0) {
        https = true;
        p += 8;
    } else if (strncasecmp(p, "http://", 7) == 0) {
        https = false;
        p += 7;
    } else if (strstr(p, "://")) {
        return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has an unsupported scheme");
    }
    size_t alen = strcspn(p, "/");
    if (alen == 0 || alen > 255)
        return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has no host");
    for (size_t i = 0; p[i]; i++)
        if (bad_char((unsigned char)p[i]) || p[i] == '?' || p[i] == '#' || p[i] == '%' ||
            p[i] == '\\')
            return errbuf_set(eb, RC_INVALID,
                              "storage: s3 endpoint contains whitespace, '?', '#', '%%' or a "
                              "control character");
    if (memchr(p, '@', alen))
        return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint must not contain user info");
    /* Port: after the last ':' outside an IPv6 literal. */
    const char *host_end = p + alen;
    const char *colon = NULL;
    if (p[0] == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb || rb == p + 1)
            return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has a bad IPv6 literal");
        if (rb + 1 < host_end) {
            if (rb[1] != ':')
                return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has a bad IPv6 literal");
            colon = rb + 1;
        }
    } else {
        colon = memchr(p, ':', alen);
        if (colon && memchr(colon + 1, ':', (size_t)(host_end - colon - 1)))
            return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint: bracket IPv6 addresses");
        if (colon == p)
            return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has no host");
    }
    if (colon) {
        const char *d = colon + 1;
        long port = 0;
        if (d == host_end)
            return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has an empty port");
        for (; d < host_end; d++) {
            if (*d < '0' || *d > '9' || port > 65535)
                return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has a bad port");
            port = port * 10 + (*d - '0');
        }
        if (port < 1 || port > 65535)
            return errbuf_set(eb, RC_INVALID, "storage: s3 endpoint has a bad port");
    }
    const char *base = p + alen;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    out->https = https;
    out->authority = xstrndup(p, alen);
    out->base_path = xstrndup(base, blen);
    return RC_OK;
}

int s3__target(const struct s3__endpoint *ep, const char *bucket, bool path_style,
               const char *object, struct strbuf *host, struct strbuf *path, struct strbuf *url)
{
    int rc = RC_OK;
    if (path_style)
        rc = strbuf_puts(host, ep->authority);
    else if ((rc = strbuf_puts(host, bucket)) == RC_OK && (rc = strbuf_putc(host, '.')) == RC_OK)
        rc = strbuf_puts(host, ep->authority);
    if (rc == RC_OK)
        rc = strbuf_puts(path, ep->base_path);
    if (rc == RC_OK && path_style) {
        if ((rc = strbuf_putc(path, '/')) == RC_OK)
            rc = strbuf_puts(path, bucket);
        /* Bucket requests go to "/bucket"; object requests to "/bucket/key". */
        if (rc == RC_OK && object && *object && (rc = strbuf_putc(path, '/')) == RC_OK)
            rc = strbuf_puts(path, object);
    } else if (rc == RC_OK) {
        if ((rc = strbuf_putc(path, '/')) == RC_OK && object && *object)
            rc = strbuf_puts(path, object);
    }
    if (rc == RC_OK)
        rc = strbuf_puts(url, ep->https ? "https://" : "http://");
    if (rc == RC_OK)
        rc = strbuf_append(url, host->data, host->len);
    if (rc == RC_OK)
        rc = sigv4_uri_encode(url, path->data, path->len, false);
    return rc;
}

/* ---- small helpers -------------------------------------------------------- */

static uint64_t rng_next(void)
{
    static _Thread_local uint64_t state;
    if (!state)
        state = ((uint64_t)time_mono_ns() ^ ((uint64_t)(uintptr_t)&state << 16)) | 1;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * UINT64_C(2685821657736338717);
}

/* Secrets are wiped before they are freed. */
static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        xfree(s);
    }
}

/* Lower-case hex SHA-256 of fd[off, off+len). */
static int hash_file_range(int fd, uint64_t off, uint64_t len, char out[SIGV4_HEX_LEN + 1],
                           const char *path, struct errbuf *eb)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return errbuf_set(eb, RC_INTERNAL, "storage: s3: SHA-256 unavailable");
    }
    char *buf = xmalloc(HASH_CHUNK);
    int rc = RC_OK;
    uint64_t done = 0;
    while (done < len) {
        size_t want = len - done < HASH_CHUNK ? (size_t)(len - done) : HASH_CHUNK;
        ssize_t r = pread(fd, buf, want, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = errbuf_set(eb, RC_IO, "storage: read %s: %s", path,
                            r < 0 ? strerror(errno) : "file shrank while uploading");
            break;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        done += (uint64_t)r;
    }
    if (rc == RC_OK) {
        unsigned char md[32];
        unsigned int mdlen = 0;
        EVP_DigestFinal_ex(ctx, md, &mdlen);
        sigv4_hex(md, 32, out);
    }
    xfree(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* base64(MD5(p[0..n))) for Content-MD5 (DeleteObjects requires it). */
static void content_md5(const void *p, size_t n, char out[32])
{
    unsigned char md[16];
    unsigned int len = 0;
    if (EVP_Digest(p, n, md, &len, EVP_md5(), NULL) != 1)
        memset(md, 0, sizeof(md));
    EVP_EncodeBlock((unsigned char *)out, md, 16); /* 24 chars + NUL */
}

/* Joins prefix and key into a new string (xfree). */
static char *object_name(const struct s3 *s3, const char *key)
{
    size_t pl = strlen(s3->prefix), kl = strlen(key);
    char *o = xmalloc(pl + kl + 1);
    memcpy(o, s3->prefix, pl);
    memcpy(o + pl, key, kl + 1);
    return o;
}

/* ---- the request engine --------------------------------------------------- */

struct body {
    const char *mem; /* in-memory body, or NULL for the file range */
    int fd;
    uint64_t off;   /* file offset of the range */
    uint64_t len;   /* bytes to send */
    uint64_t pos;   /* sent in this attempt */
    int read_errno; /* local read failure */
    char sha256[SIGV4_HEX_LEN + 1];
};

enum sink_kind { SINK_DISCARD, SINK_STRBUF, SINK_FD, SINK_MEM };

struct sink {
    enum sink_kind kind;
    struct strbuf *sb; /* SINK_STRBUF (capped by its owner) */
    int fd;            /* SINK_FD */
    char *buf;         /* SINK_MEM */
    size_t cap, got;
    uint64_t skip;   /* SINK_MEM: bytes to drop first (server ignored Range) */
    int write_errno; /* local write failure */
    bool overflow;   /* SINK_STRBUF passed its cap */
};

struct req {
    /* Set by the operation. */
    const char *op;     /* "put", "get", ... for logs and errors */
    const char *method; /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *object; /* full object name (prefix applied); NULL = bucket */
    const char *log_key;
    struct sigv4_kv query[MAX_QUERY];
    size_t nquery;
    struct sigv4_kv hdr[MAX_EXTRA_HEADERS]; /* extra headers, all signed */
    size_t nhdr;
    struct body *body; /* NULL = no body */
    struct sink sink;  /* where a 2xx body goes */
    uint64_t range_offset;
    bool range;        /* a ranged GET: 416 is an answer, 200 means "from 0" */
    bool error_in_200; /* CompleteMultipartUpload can fail inside a 200 */
    /* Filled by call(). */
    long status; /* HTTP status of the last attempt, 0 if none */
    int attempts;
    bool endpoint_failed; /* the last attempt failed for lack of a useful answer */
    bool local_failure;   /* the last attempt failed on our side (file, signing) */
    char s3_code[64];
    char s3_msg[256];
    char request_id[80];
    char etag[160];
    long retry_after_s;
    int64_t content_length; /* response Content-Length, -1 if unknown */
    int64_t filetime_s;     /* Last-Modified (HEAD), -1 if unknown */
    struct strbuf errbody;  /* non-2xx body of the last attempt */
    /* Per attempt, for the callbacks. */
    CURL *h;
    bool decided, to_err;
};

static void req_init(struct req *r, const char *op, const char *method, const char *object,
                     const char *log_key)
{
    memset(r, 0, sizeof(*r));
    r->op = op;
    r->method = method;
    r->object = object;
    r->log_key = log_key ? log_key : "";
    strbuf_init(&r->errbody, ERRBODY_MAX);
}

static void req_cleanup(struct req *r)
{
    strbuf_cleanup(&r->errbody);
}

static void req_query(struct req *r, const char *name, const char *value)
{
    if (r->nquery < MAX_QUERY)
        r->query[r->nquery++] = (struct sigv4_kv){name, value};
}

static void req_header(struct req *r, const char *name, const char *value)
{
    if (r->nhdr < MAX_EXTRA_HEADERS)
        r->hdr[r->nhdr++] = (struct sigv4_kv){name, value};
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t n = size * nmemb;
    if (!r->decided) {
        long st = 0;
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &st);
        r->to_err = st < 200 || st >= 300;
        r->decided = true;
        if (!r->to_err && r->range && st == 200 && r->sink.kind == SINK_MEM)
            r->sink.skip = r->range_offset; /* Range ignored: the body starts at 0 */
    }
    if (r->to_err) {
        size_t room = ERRBODY_MAX - r->errbody.len;
        (void)strbuf_append(&r->errbody, ptr, n < room ? n : room); /* truncation is fine */
        return n;
    }
    struct sink *s = &r->sink;
    switch (s->kind) {
    case SINK_DISCARD: return n;
    case SINK_STRBUF:
        if (strbuf_append(s->sb, ptr, n) != RC_OK) {
            s->overflow = true;
            return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        return n;
    case SINK_FD:
        for (size_t off = 0; off < n;) {
            ssize_t w = write(s->fd, ptr + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                s->write_errno = errno;
                return 0;
            }
            off += (size_t)w;
        }
        return n;
    case SINK_MEM: {
        size_t off = 0;
        if (s->skip) {
            off = s->skip < n ? (size_t)s->skip : n;
            s->skip -= off;
        }
        size_t take = n - off;
        if (take > s->cap - s->got)
            take = s->cap - s->got;
        memcpy(s->buf + s->got, ptr + off, take);
        s->got += take;
        return n;
    }
    }
    return n;
}

/* Copies the value of header line buf[0..n) into out if its name is `name`. */
static bool header_value(const char *buf, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || buf[nl] != ':' || strncasecmp(buf, name, nl) != 0)
        return false;
    const char *v = buf + nl + 1, *e = buf + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t len = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct req *r = ud;
    size_t n = size * nitems;
    char tmp[32];
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue or similar): forget the old. */
        r->etag[0] = r->request_id[0] = '\0';
        r->retry_after_s = -1;
        r->decided = false;
    } else if (header_value(buf, n, "etag", r->etag, sizeof(r->etag))) {
    } else if (header_value(buf, n, "x-amz-request-id", r->request_id, sizeof(r->request_id))) {
    } else if (header_value(buf, n, "retry-after", tmp, sizeof(tmp))) {
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && *end == '\0' && v >= 0)
            r->retry_after_s = v;
    }
    return n;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    struct body *b = ud;
    size_t want = size * nitems;
    uint64_t left = b->len - b->pos;
    if (left == 0)
        return 0;
    if (want > left)
        want = (size_t)left;
    if (b->mem) {
        memcpy(buf, b->mem + b->pos, want);
        b->pos += want;
        return want;
    }
    ssize_t r;
    do
        r = pread(b->fd, buf, want, (off_t)(b->off + b->pos));
    while (r < 0 && errno == EINTR);
    if (r <= 0) {
        b->read_errno = r < 0 ? errno : EIO; /* 0: the file shrank under us */
        return CURL_READFUNC_ABORT;
    }
    b->pos += (uint64_t)r;
    return (size_t)r;
}

static int seek_cb(void *ud, curl_off_t offset, int origin)
{
    struct body *b = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > b->len)
        return CURL_SEEKFUNC_FAIL;
    b->pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static CURL *pool_get(struct s3 *s3)
{
    CURL *h = NULL;
    pthread_mutex_lock(&s3->pool_mu);
    if (s3->nidle > 0)
        h = s3->idle[--s3->nidle];
    pthread_mutex_unlock(&s3->pool_mu);
    if (!h)
        h = curl_easy_init();
    return h;
}

static void pool_put(struct s3 *s3, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&s3->pool_mu);
    if (s3->nidle < POOL_MAX) {
        s3->idle[s3->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&s3->pool_mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- circuit breaker -------------------------------------------------------- */

static int breaker_enter(struct s3 *s3, const struct req *r, bool *probe, struct errbuf *eb)
{
    *probe = false;
    int64_t now = time_mono_ms();
    pthread_mutex_lock(&s3->br_mu);
    if (s3->br_state == BR_OPEN && now >= s3->br_open_until_ms) {
        s3->br_state = BR_HALF_OPEN;
        s3->br_probe_inflight = false;
    }
    enum breaker_state state = s3->br_state;
    if (state == BR_HALF_OPEN && !s3->br_probe_inflight) {
        s3->br_probe_inflight = true;
        *probe = true;
    }
    int failures = s3->br_failures;
    int64_t left_ms = state == BR_OPEN ? s3->br_open_until_ms - now : 0;
    pthread_mutex_unlock(&s3->br_mu);

    if (state == BR_CLOSED)
        return RC_OK;
    metric_set(s3->m_circuit_state, state);
    if (*probe) {
        log_info("storage", "%s circuit half-open: probing endpoint op=%s key=%.200s", s3->name,
                 r->op, r->log_key);
        return RC_OK;
    }
    metric_inc(s3->m_circuit_rejected);
    return errbuf_set(eb, RC_S3,
                      "storage: %s %s %.200s: endpoint unavailable (circuit open after %d "
                      "consecutive failures, next probe in %lld ms)",
                      s3->name, r->op, r->log_key, failures,
                      (long long)(left_ms > 0 ? left_ms : 0));
}

/* A probe that sent nothing (local error, no time left) proves nothing:
 * give the probe slot back without changing the state. */
static void breaker_release_probe(struct s3 *s3)
{
    pthread_mutex_lock(&s3->br_mu);
    s3->br_probe_inflight = false;
    pthread_mutex_unlock(&s3->br_mu);
}

static void breaker_leave(struct s3 *s3, bool probe, bool failed)
{
    int64_t now = time_mono_ms();
    bool opened = false, closed = false;
    int failures;
    pthread_mutex_lock(&s3->br_mu);
    if (!failed) {
        closed = s3->br_state != BR_CLOSED;
        s3->br_state = BR_CLOSED;
        s3->br_failures = 0;
        s3->br_probe_inflight = false;
    } else {
        s3->br_failures++;
        if (probe || (s3->br_state == BR_CLOSED && s3->br_failures >= s3->breaker_threshold)) {
            opened = true;
            s3->br_state = BR_OPEN;
            s3->br_open_until_ms = now + s3->breaker_cooldown_ms;
            s3->br_probe_inflight = false;
        }
    }
    failures = s3->br_failures;
    enum breaker_state state = s3->br_state;
    pthread_mutex_unlock(&s3->br_mu);

    metric_set(s3->m_circuit_state, state);
    if (opened) {
        metric_inc(s3->m_circuit_open);
        log_warn("storage",
                 "%s circuit open after %d consecutive failures: failing fast for %ld ms "
                 "endpoint=%s bucket=%s",
                 s3->name, failures, s3->breaker_cooldown_ms, s3->ep.authority, s3->bucket);
    } else if (closed) {
        log_info("storage", "%s circuit closed: endpoint answers again endpoint=%s", s3->name,
                 s3->ep.authority);
    }
}

/* ---- one request with retries ------------------------------------------------ */

enum outcome { OUT_OK, OUT_RETRY, OUT_FAIL };

static bool curl_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY: return true;
    default: return false;
    }
}

/* Runs one attempt; returns the curl code. detail receives a readable
 * reason on failure. */
static CURLcode perform_once(struct s3 *s3, struct req *r, CURL *h, const char *url,
                             const char *host, const char *sign_path, int64_t deadline_ms,
                             char *detail, size_t detail_cap, int *local_rc)
{
    *local_rc = RC_OK;
    char date[SIGV4_AMZ_DATE_LEN + 1];
    sigv4_amz_date(time_now_us(), date);
    const char *payload = r->body ? r->body->sha256 : SIGV4_EMPTY_SHA256;

    struct sigv4_kv hs[4 + MAX_EXTRA_HEADERS];
    size_t nh = 0;
    hs[nh++] = (struct sigv4_kv){"host", host};
    hs[nh++] = (struct sigv4_kv){"x-amz-content-sha256", payload};
    hs[nh++] = (struct sigv4_kv){"x-amz-date", date};
    if (s3->session_token)
        hs[nh++] = (struct sigv4_kv){"x-amz-security-token", s3->session_token};
    bool has_ctype = false;
    for (size_t i = 0; i < r->nhdr; i++) {
        hs[nh++] = r->hdr[i];
        if (strcasecmp(r->hdr[i].name, "content-type") == 0)
            has_ctype = true;
    }
    struct sigv4_request sreq = {r->method, sign_path, r->query, r->nquery, hs, nh, payload};
    struct sigv4_credentials cred = {s3->access_key, s3->secret_key};
    struct sigv4_scope scope = {date, s3->region, "s3"};
    struct strbuf auth, line;
    strbuf_init(&auth, 0);
    strbuf_init(&line, 0);
    struct curl_slist *hl = NULL;
    CURLcode cc = CURLE_OK;
    struct errbuf seb = {0};
    if (sigv4_authorization(&sreq, &cred, &scope, &auth, NULL, &seb) != RC_OK) {
        snprintf(detail, detail_cap, "%s", seb.msg);
        *local_rc = RC_INVALID;
        cc = CURLE_ABORTED_BY_CALLBACK;
        goto out;
    }
    for (size_t i = 0; i < nh; i++) {
        strbuf_reset(&line);
        if (strbuf_printf(&line, "%s: %s", hs[i].name, hs[i].value) != RC_OK)
            goto oom;
        struct curl_slist *n2 = curl_slist_append(hl, line.data);
        if (!n2)
            goto oom;
        hl = n2;
    }
    strbuf_reset(&line);
    if (strbuf_printf(&line, "Authorization: %s", auth.data) != RC_OK)
        goto oom;
    static const char *const fixed[] = {"Expect:", "Accept:", "Content-Type:"};
    {
        struct curl_slist *n2 = curl_slist_append(hl, line.data);
        if (!n2)
            goto oom;
        hl = n2;
        /* No 100-continue round trip; no curl default headers we did not sign
         * (an unsigned Content-Type would also become the object's type). */
        for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
            if (i == 2 && has_ctype)
                continue;
            n2 = curl_slist_append(hl, fixed[i]);
            if (!n2)
                goto oom;
            hl = n2;
        }
    }
    OPENSSL_cleanse(line.data, line.len);

    int64_t left = deadline_ms - time_mono_ms();
    if (left < 1)
        left = 1;
    long connect_ms = s3->connect_timeout_ms < left ? s3->connect_timeout_ms : (long)left;
    long total_ms = s3->request_timeout_ms < left ? s3->request_timeout_ms : (long)left;
    char errtxt[CURL_ERROR_SIZE] = "";

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, s3->low_speed_limit_bytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s3->low_speed_time_s);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s3->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, s3->ca_file);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would break the signature */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);     /* send the path we signed, unnormalised */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "arc/" ARC_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errtxt);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    if (r->body) {
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, r->body);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r->body);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
    }
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)(r->body ? r->body->len : 0));
        if (!r->body) { /* an empty body still needs a read function */
            static struct body empty = {.fd = -1, .mem = ""};
            curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
            curl_easy_setopt(h, CURLOPT_READDATA, &empty);
        }
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        if (r->body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body->len);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
        }
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }

    r->h = h;
    r->decided = r->to_err = false;
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_off_t cl = -1, ft = -1;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
        r->content_length = cl;
    if (curl_easy_getinfo(h, CURLINFO_FILETIME_T, &ft) == CURLE_OK)
        r->filetime_s = ft;
    /* The handle goes back to the pool: drop every pointer into this frame
     * (error buffer, header list, callbacks' data); connections stay. */
    curl_easy_reset(h);
    if (cc != CURLE_OK) {
        size_t el = strlen(errtxt);
        while (el && (errtxt[el - 1] == '\n' || errtxt[el - 1] == '\r'))
            errtxt[--el] = '\0';
        snprintf(detail, detail_cap, "%s", errtxt[0] ? errtxt : curl_easy_strerror(cc));
    }
    goto out;
oom:
    snprintf(detail, detail_cap, "out of memory building headers");
    *local_rc = RC_NOMEM;
    cc = CURLE_OUT_OF_MEMORY;
out:
    /* The signed header block holds the session token: wipe our copies. */
    if (auth.data)
        OPENSSL_cleanse(auth.data, auth.len);
    for (struct curl_slist *p = hl; p; p = p->next)
        OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(hl);
    strbuf_cleanup(&auth);
    strbuf_cleanup(&line);
    return cc;
}

static void reset_attempt(struct req *r)
{
    r->status = 0;
    r->s3_code[0] = r->s3_msg[0] = r->etag[0] = r->request_id[0] = '\0';
    r->retry_after_s = -1;
    r->content_length = r->filetime_s = -1;
    strbuf_reset(&r->errbody);
    if (r->body) {
        r->body->pos = 0;
        r->body->read_errno = 0;
    }
    struct sink *s = &r->sink;
    s->write_errno = 0;
    s->overflow = false;
    switch (s->kind) {
    case SINK_STRBUF: strbuf_reset(s->sb); break;
    case SINK_FD:
        if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) < 0)
            s->write_errno = errno;
        break;
    case SINK_MEM:
        s->got = 0;
        s->skip = 0;
        break;
    case SINK_DISCARD: break;
    }
}

/* Sends r (with retries) before deadline_ms. Sets eb and returns the code:
 * RC_OK, RC_NOT_FOUND (404), RC_EXISTS (412), RC_TIMEOUT, RC_IO (local file),
 * RC_S3 (anything else the endpoint did or did not do). */
static int call(struct s3 *s3, struct req *r, int64_t deadline_ms, int max_retries,
                struct errbuf *eb)
{
    bool probe = false;
    int rc = breaker_enter(s3, r, &probe, eb);
    if (rc != RC_OK)
        return rc;
    if (probe)
        max_retries = 0; /* one quick answer decides the half-open circuit */

    struct strbuf host, path, url;
    strbuf_init(&host, 0);
    strbuf_init(&path, 0);
    strbuf_init(&url, 0);
    CURL *h = NULL;
    char detail[512] = "";
    r->attempts = 0;
    r->endpoint_failed = false;
    int64_t start_ms = time_mono_ms();

    if (s3__target(&s3->ep, s3->bucket, s3->path_style, r->object, &host, &path, &url) != RC_OK) {
        rc = errbuf_set(eb, RC_INVALID, "storage: %s %s: key too long", s3->name, r->op);
        goto out;
    }
    /* Query string: names and values encoded exactly as sigv4 signs them. */
    for (size_t i = 0; i < r->nquery; i++) {
        const char *v = r->query[i].value ? r->query[i].value : "";
        if (strbuf_putc(&url, i ? '&' : '?') != RC_OK ||
            sigv4_uri_encode(&url, r->query[i].name, strlen(r->query[i].name), true) != RC_OK ||
            strbuf_putc(&url, '=') != RC_OK ||
            sigv4_uri_encode(&url, v, strlen(v), true) != RC_OK) {
            rc = errbuf_set(eb, RC_INVALID, "storage: %s %s: query too long", s3->name, r->op);
            goto out;
        }
    }
    h = pool_get(s3);
    if (!h) {
        rc = errbuf_set(eb, RC_NOMEM, "storage: %s: curl_easy_init failed", s3->name);
        goto out;
    }

    for (;;) {
        if (time_mono_ms() >= deadline_ms) {
            /* Out of time before (another) attempt: the operation timed out. */
            metric_inc(s3->m_timeouts);
            log_warn("storage",
                     "%s operation deadline reached op=%s key=%.200s attempts=%d "
                     "elapsed_ms=%lld",
                     s3->name, r->op, r->log_key, r->attempts,
                     (long long)(time_mono_ms() - start_ms));
            char prev[400];
            snprintf(prev, sizeof(prev), "%.390s", detail[0] ? detail : "no attempt made");
            snprintf(detail, sizeof(detail),
                     "operation deadline (%lld s) reached after %d "
                     "attempt(s); last: %.380s",
                     (long long)(s3->operation_timeout_ms / 1000), r->attempts, prev);
            rc = RC_TIMEOUT;
            break;
        }
        reset_attempt(r);
        if (r->sink.write_errno) {
            rc = RC_IO;
            snprintf(detail, sizeof(detail), "local file: %s", strerror(r->sink.write_errno));
            r->local_failure = true;
            break;
        }
        r->attempts++;
        int local_rc = RC_OK;
        int64_t t0 = time_mono_ms();
        CURLcode cc = perform_once(s3, r, h, url.data, host.data, path.data, deadline_ms, detail,
                                   sizeof(detail), &local_rc);
        enum outcome out = OUT_FAIL;
        r->endpoint_failed = r->local_failure = false;
        if (local_rc != RC_OK) {
            rc = local_rc;
            r->local_failure = true;
        } else if (cc != CURLE_OK) {
            if (r->body && r->body->read_errno) {
                rc = RC_IO;
                r->local_failure = true;
                snprintf(detail, sizeof(detail), "reading the upload: %s",
                         strerror(r->body->read_errno));
            } else if (r->sink.write_errno) {
                rc = RC_IO;
                r->local_failure = true;
                snprintf(detail, sizeof(detail), "writing the download: %s",
                         strerror(r->sink.write_errno));
            } else if (r->sink.overflow) {
                rc = RC_S3;
                snprintf(detail, sizeof(detail), "response larger than %d bytes", XMLBODY_MAX);
            } else {
                rc = cc == CURLE_OPERATION_TIMEDOUT ? RC_TIMEOUT : RC_S3;
                r->endpoint_failed = true;
                out = curl_retryable(cc) ? OUT_RETRY : OUT_FAIL;
                if (cc == CURLE_OPERATION_TIMEDOUT) {
                    metric_inc(s3->m_timeouts);
                    log_warn("storage",
                             "%s timeout op=%s key=%.200s attempt=%d elapsed_ms=%lld: %s", s3->name,
                             r->op, r->log_key, r->attempts, (long long)(time_mono_ms() - t0),
                             detail);
                }
            }
        } else {
            long st = r->status;
            if (st < 200 || st >= 300)
                s3__parse_error(r->errbody.data, r->errbody.len, r->s3_code, sizeof(r->s3_code),
                                r->s3_msg, sizeof(r->s3_msg));
            else if (r->error_in_200 && r->sink.kind == SINK_STRBUF && r->sink.sb->data)
                s3__parse_error(r->sink.sb->data, r->sink.sb->len, r->s3_code, sizeof(r->s3_code),
                                r->s3_msg, sizeof(r->s3_msg));
            if (st >= 200 && st < 300 && !r->s3_code[0]) {
                out = OUT_OK;
                rc = RC_OK;
            } else if (st == 416 && r->range) {
                out = OUT_OK; /* offset at or past the end: an empty read */
                rc = RC_OK;
            } else {
                /* 501 Not Implemented will not get better with time. */
                bool retry = (st >= 500 && st != 501) || st == 429 || (st >= 200 && st < 300) ||
                             strcmp(r->s3_code, "RequestTimeout") == 0 ||
                             strcmp(r->s3_code, "ConditionalRequestConflict") == 0;
                out = retry ? OUT_RETRY : OUT_FAIL;
                r->endpoint_failed = retry;
                rc = st == 404 ? RC_NOT_FOUND : st == 412 ? RC_EXISTS : RC_S3;
                snprintf(detail, sizeof(detail), "HTTP %ld%s%s%s%.200s%s%s", st,
                         r->s3_code[0] ? " " : "", r->s3_code, r->s3_msg[0] ? ": " : "", r->s3_msg,
                         r->request_id[0] ? " request-id=" : "", r->request_id);
                if (st >= 300 && st < 400)
                    snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
                             " (redirect: check storage region \"%s\" and endpoint)", s3->region);
            }
        }
        if (out != OUT_RETRY)
            break;
        if (r->attempts > max_retries)
            break;
        /* Exponential back-off with jitter, at least Retry-After, <= 10 s. */
        int64_t d = s3->retry_base_ms;
        for (int i = 1; i < r->attempts && d < S3_MAX_BACKOFF_MS; i++)
            d *= 2;
        if (d > S3_MAX_BACKOFF_MS)
            d = S3_MAX_BACKOFF_MS;
        int64_t wait = d / 2 + (int64_t)(rng_next() % (uint64_t)(d / 2 + 1));
        if (r->retry_after_s > 0 && r->retry_after_s * 1000 > wait)
            wait = r->retry_after_s * 1000 < S3_MAX_BACKOFF_MS ? r->retry_after_s * 1000
                                                               : S3_MAX_BACKOFF_MS;
        if (time_mono_ms() + wait >= deadline_ms) {
            /* Sleeping would cross the deadline: stop now, as a timeout
             * (counted once: a request that just timed out was counted). */
            if (rc != RC_TIMEOUT)
                metric_inc(s3->m_timeouts);
            log_warn("storage",
                     "%s operation deadline reached op=%s key=%.200s attempts=%d "
                     "elapsed_ms=%lld",
                     s3->name, r->op, r->log_key, r->attempts,
                     (long long)(time_mono_ms() - start_ms));
            char prev[400];
            snprintf(prev, sizeof(prev), "%.390s", detail);
            snprintf(detail, sizeof(detail),
                     "operation deadline (%lld s) reached after %d attempt(s); last: %.380s",
                     (long long)(s3->operation_timeout_ms / 1000), r->attempts, prev);
            rc = RC_TIMEOUT;
            break;
        }
        metric_inc(s3->m_retries);
        log_info("storage", "%s retry op=%s key=%.200s attempt=%d/%d wait_ms=%lld: %s", s3->name,
                 r->op, r->log_key, r->attempts, max_retries + 1, (long long)wait, detail);
        time_sleep_ms(wait);
    }
out:
    pool_put(s3, h);
    if (r->attempts > 0 && !r->local_failure)
        breaker_leave(s3, probe, r->endpoint_failed);
    else if (probe)
        breaker_release_probe(s3);
    if (rc != RC_OK) {
        errbuf_set(eb, rc, "storage: %s %s %.200s: %s (attempt %d of %d)", s3->name, r->op,
                   r->log_key, detail, r->attempts, max_retries + 1);
        if (rc != RC_NOT_FOUND && rc != RC_EXISTS)
            log_warn("storage", "%s %s failed key=%.200s attempts=%d: %s", s3->name, r->op,
                     r->log_key, r->attempts, detail);
    }
    strbuf_cleanup(&host);
    strbuf_cleanup(&path);
    strbuf_cleanup(&url);
    return rc;
}

static int64_t op_deadline(const struct s3 *s3)
{
    return time_mono_ms() + s3->operation_timeout_ms;
}

/* ---- head --------------------------------------------------------------------- */

static int head_object(struct s3 *s3, const char *object, const char *key, int64_t deadline_ms,
                       struct storage_object_info *out, struct errbuf *eb)
{
    struct req r;
    req_init(&r, "head", "HEAD", object, key);
    r.sink.kind = SINK_DISCARD;
    int rc = call(s3, &r, deadline_ms, s3->max_retries, eb);
    if (rc == RC_OK && out) {
        out->size_bytes = r.content_length > 0 ? (uint64_t)r.content_length : 0;
        out->mtime_us = r.filetime_s > 0 ? r.filetime_s * US_PER_SEC : 0;
    }
    req_cleanup(&r);
    return rc;
}

static int s3_head(struct storage *st, const char *key, struct storage_object_info *out,
                   struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    char *object = object_name(s3, key);
    int rc = head_object(s3, object, key, op_deadline(s3), out, eb);
    xfree(object);
    return rc;
}

/* ---- staging ------------------------------------------------------------------- */

static int s3_staging_path(struct storage *st, const char *key, char *buf, size_t cap,
                           struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    const char *slash = strrchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    uint64_t n = atomic_fetch_add_explicit(&s3->seq, 1, memory_order_relaxed);
    /* Flat spool directory; the name keeps a bounded part of the key's file
     * name for readability and stays hidden ('.') and not *.parquet. */
    int w = snprintf(buf, cap, "%s/.%.100s.%ld.%llu.tmp", s3->staging_dir, name, (long)getpid(),
                     (unsigned long long)n);
    if (w < 0 || (size_t)w >= cap)
        return errbuf_set(eb, RC_LIMIT, "storage: staging path too long for key %.200s", key);
    return RC_OK;
}

/* ---- put ------------------------------------------------------------------------ */

/* After a retried request reported RC_EXISTS or NoSuchUpload, an earlier
 * attempt may have succeeded without us seeing the answer. The object is
 * ours if it exists with our size (keys are unique per writer, SPEC §3.2). */
static bool landed_anyway(struct s3 *s3, const char *object, const char *key, uint64_t size,
                          int64_t deadline_ms)
{
    struct storage_object_info info;
    struct errbuf scratch = {0};
    if (head_object(s3, object, key, deadline_ms, &info, &scratch) != RC_OK)
        return false;
    if (info.size_bytes != size)
        return false;
    log_info("storage", "%s put key=%.200s: an earlier attempt had succeeded (size %llu matches)",
             s3->name, key, (unsigned long long)size);
    return true;
}

static int put_single(struct s3 *s3, int fd, uint64_t size, const char *local_path,
                      const char *object, const char *key, unsigned flags, int64_t deadline_ms,
                      struct errbuf *eb)
{
    struct body b = {.fd = fd, .off = 0, .len = size};
    int rc = hash_file_range(fd, 0, size, b.sha256, local_path, eb);
    if (rc != RC_OK)
        return rc;
    struct req r;
    req_init(&r, "put", "PUT", object, key);
    r.body = &b;
    r.sink.kind = SINK_DISCARD;
    if (flags & STORAGE_PUT_NOREPLACE)
        req_header(&r, "If-None-Match", "*");
    struct errbuf local = {0};
    rc = call(s3, &r, deadline_ms, s3->max_retries, &local);
    if (rc == RC_EXISTS && r.attempts > 1 && landed_anyway(s3, object, key, size, deadline_ms))
        rc = RC_OK;
    if (rc == RC_EXISTS)
        rc = errbuf_set(eb, RC_EXISTS, "storage: object exists %.200s", key);
    else if (rc != RC_OK)
        rc = errbuf_set(eb, rc, "%s", local.msg);
    req_cleanup(&r);
    return rc;
}

/* Best effort: an incomplete upload costs storage until aborted. Runs with
 * its own short deadline, since the operation's may be what ran out. */
static void mpu_abort(struct s3 *s3, const char *object, const char *key, const char *upload_id)
{
    struct req r;
    req_init(&r, "abort_multipart", "DELETE", object, key);
    req_query(&r, "uploadId", upload_id);
    r.sink.kind = SINK_DISCARD;
    int64_t budget = s3->connect_timeout_ms + s3->request_timeout_ms;
    if (budget > s3->operation_timeout_ms)
        budget = s3->operation_timeout_ms;
    struct errbuf scratch = {0};
    int rc = call(s3, &r, time_mono_ms() + budget, 1, &scratch);
    if (rc == RC_OK || rc == RC_NOT_FOUND)
        log_info("storage", "%s multipart upload aborted key=%.200s", s3->name, key);
    else
        log_warn("storage",
                 "%s could not abort multipart upload key=%.200s upload_id=%.100s (a bucket "
                 "lifecycle rule for incomplete uploads will reclaim it): %s",
                 s3->name, key, upload_id, scratch.msg);
    req_cleanup(&r);
}

static int put_multipart(struct s3 *s3, int fd, uint64_t size, const char *local_path,
                         const char *object, const char *key, unsigned flags, int64_t deadline_ms,
                         struct errbuf *eb)
{
    uint64_t part = s3->part_size_bytes;
    if ((size + part - 1) / part > MAX_PARTS) {
        /* Keep within S3's 10 000 parts: grow parts to whole MiB. */
        part = (size + MAX_PARTS - 1) / MAX_PARTS;
        part = (part + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    }
    uint64_t nparts = (size + part - 1) / part;

    struct strbuf xml, done;
    strbuf_init(&xml, XMLBODY_MAX);
    strbuf_init(&done, XMLBODY_MAX);
    char upload_id[1024] = "";
    struct errbuf local = {0};
    struct req r;
    int rc;

    /* 1. Initiate. */
    req_init(&r, "create_multipart", "POST", object, key);
    req_query(&r, "uploads", "");
    r.sink = (struct sink){.kind = SINK_STRBUF, .sb = &xml};
    rc = call(s3, &r, deadline_ms, s3->max_retries, &local);
    req_cleanup(&r);
    if (rc != RC_OK)
        goto out;
    if (!s3__xml_text(xml.data ? xml.data : "", xml.len, "UploadId", upload_id,
                      sizeof(upload_id)) ||
        !upload_id[0]) {
        rc = errbuf_set(&local, RC_S3, "storage: %s create_multipart %.200s: no UploadId in reply",
                        s3->name, key);
        goto out;
    }
    log_debug("storage", "%s multipart upload started key=%.200s parts=%llu part_bytes=%llu",
              s3->name, key, (unsigned long long)nparts, (unsigned long long)part);

    /* 2. Parts, in order, each streamed from its file range. */
    if (strbuf_puts(&done, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/"
                           "2006-03-01/\">") != RC_OK) {
        rc = errbuf_set(&local, RC_LIMIT, "storage: multipart manifest too large");
        goto abort;
    }
    for (uint64_t i = 1; i <= nparts; i++) {
        uint64_t off = (i - 1) * part;
        struct body b = {.fd = fd, .off = off, .len = size - off < part ? size - off : part};
        rc = hash_file_range(fd, b.off, b.len, b.sha256, local_path, &local);
        if (rc != RC_OK)
            goto abort;
        char pn[24];
        snprintf(pn, sizeof(pn), "%llu", (unsigned long long)i);
        req_init(&r, "upload_part", "PUT", object, key);
        req_query(&r, "partNumber", pn);
        req_query(&r, "uploadId", upload_id);
        r.body = &b;
        r.sink.kind = SINK_DISCARD;
        rc = call(s3, &r, deadline_ms, s3->max_retries, &local);
        if (rc == RC_OK && !r.etag[0])
            rc = errbuf_set(&local, RC_S3, "storage: %s upload_part %.200s: no ETag for part %s",
                            s3->name, key, pn);
        if (rc == RC_OK) {
            if (strbuf_printf(&done, "<Part><PartNumber>%s</PartNumber><ETag>", pn) != RC_OK ||
                s3__xml_escape(&done, r.etag) != RC_OK ||
                strbuf_puts(&done, "</ETag></Part>") != RC_OK)
                rc = errbuf_set(&local, RC_S3, "storage: %s: bad ETag or manifest too large",
                                s3->name);
        }
        req_cleanup(&r);
        if (rc != RC_OK)
            goto abort;
    }
    if (strbuf_puts(&done, "</CompleteMultipartUpload>") != RC_OK) {
        rc = errbuf_set(&local, RC_LIMIT, "storage: multipart manifest too large");
        goto abort;
    }

    /* 3. Complete: the object appears atomically now. */
    {
        struct body b = {.mem = done.data, .fd = -1, .len = done.len};
        sigv4_sha256_hex(done.data, done.len, b.sha256);
        req_init(&r, "complete_multipart", "POST", object, key);
        req_query(&r, "uploadId", upload_id);
        req_header(&r, "Content-Type", "application/xml");
        if (flags & STORAGE_PUT_NOREPLACE)
            req_header(&r, "If-None-Match", "*");
        r.body = &b;
        r.sink = (struct sink){.kind = SINK_STRBUF, .sb = &xml};
        r.error_in_200 = true;
        rc = call(s3, &r, deadline_ms, s3->max_retries, &local);
        bool ambiguous =
            r.attempts > 1 &&
            (rc == RC_EXISTS || (rc == RC_NOT_FOUND && strcmp(r.s3_code, "NoSuchUpload") == 0));
        req_cleanup(&r);
        if (ambiguous && landed_anyway(s3, object, key, size, deadline_ms))
            rc = RC_OK;
    }
    if (rc == RC_OK)
        goto out;
abort:
    mpu_abort(s3, object, key, upload_id);
out:
    if (rc == RC_EXISTS)
        rc = errbuf_set(eb, RC_EXISTS, "storage: object exists %.200s", key);
    else if (rc != RC_OK)
        rc = errbuf_set(eb, rc == RC_NOT_FOUND ? RC_S3 : rc, "%s", local.msg);
    strbuf_cleanup(&xml);
    strbuf_cleanup(&done);
    return rc;
}

static int s3_put_file(struct storage *st, const char *local_path, const char *key, unsigned flags,
                       uint64_t *out_bytes, struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    int64_t deadline_ms = op_deadline(s3);
    int fd = open(local_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errbuf_set(eb, errno == ENOENT ? RC_NOT_FOUND : RC_IO, "storage: open %s: %s",
                          local_path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return errbuf_set(eb, RC_IO, "storage: %s is not a regular file", local_path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    char *object = object_name(s3, key);
    int rc = RC_OK;
    if (flags & STORAGE_PUT_NOREPLACE) {
        /* Portable part of no-clobber: S3-compatibles without conditional
         * writes ignore If-None-Match, so look first. */
        struct errbuf scratch = {0};
        int hr = head_object(s3, object, key, deadline_ms, NULL, &scratch);
        if (hr == RC_OK) {
            rc = errbuf_set(eb, RC_EXISTS, "storage: object exists %.200s", key);
            goto out;
        }
        if (hr != RC_NOT_FOUND) {
            rc = errbuf_set(eb, hr, "%s", scratch.msg);
            goto out;
        }
    }
    if (size <= s3->multipart_threshold_bytes)
        rc = put_single(s3, fd, size, local_path, object, key, flags, deadline_ms, eb);
    else
        rc = put_multipart(s3, fd, size, local_path, object, key, flags, deadline_ms, eb);
    if (rc == RC_OK) {
        *out_bytes = size;
        if (unlink(local_path) != 0) /* the object is stored; a stray spool file is not fatal */
            log_warn("storage", "%s put key=%.200s: could not remove %s: %s", s3->name, key,
                     local_path, strerror(errno));
    }
out:
    close(fd);
    xfree(object);
    return rc;
}

/* ---- get ------------------------------------------------------------------------ */

static int s3_get_file(struct storage *st, const char *key, const char *local_path,
                       struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    /* Download next to the destination, then rename: local_path never holds
     * a partial object, even for a concurrent reader. */
    char tmp[4096];
    const char *slash = strrchr(local_path, '/');
    uint64_t n = atomic_fetch_add_explicit(&s3->seq, 1, memory_order_relaxed);
    int w = slash ? snprintf(tmp, sizeof(tmp), "%.*s/.%s.%ld.%llu.part", (int)(slash - local_path),
                             local_path, slash + 1, (long)getpid(), (unsigned long long)n)
                  : snprintf(tmp, sizeof(tmp), ".%s.%ld.%llu.part", local_path, (long)getpid(),
                             (unsigned long long)n);
    if (w < 0 || (size_t)w >= sizeof(tmp))
        return errbuf_set(eb, RC_LIMIT, "storage: path too long %.200s", local_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return errbuf_set(eb, RC_IO, "storage: create %s: %s", tmp, strerror(errno));
    char *object = object_name(s3, key);
    struct req r;
    req_init(&r, "get", "GET", object, key);
    r.sink = (struct sink){.kind = SINK_FD, .fd = fd};
    int rc = call(s3, &r, op_deadline(s3), s3->max_retries, eb);
    req_cleanup(&r);
    if (close(fd) != 0 && rc == RC_OK)
        rc = errbuf_set(eb, RC_IO, "storage: close %s: %s", tmp, strerror(errno));
    if (rc == RC_OK && rename(tmp, local_path) != 0)
        rc = errbuf_set(eb, RC_IO, "storage: rename %s: %s", local_path, strerror(errno));
    if (rc != RC_OK)
        unlink(tmp);
    xfree(object);
    return rc;
}

static int s3_read_range(struct storage *st, const char *key, uint64_t offset, void *buf,
                         size_t len, size_t *out_len, struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    if (len == 0) { /* no byte range to ask for: existence is the only answer */
        int rc = s3_head(st, key, NULL, eb);
        if (rc == RC_OK)
            *out_len = 0;
        return rc;
    }
    if (offset > UINT64_MAX - len)
        return errbuf_set(eb, RC_INVALID, "storage: range overflows");
    char range[64];
    snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + len - 1));
    char *object = object_name(s3, key);
    struct req r;
    req_init(&r, "get_range", "GET", object, key);
    req_header(&r, "Range", range);
    r.range = true;
    r.range_offset = offset;
    r.sink = (struct sink){.kind = SINK_MEM, .buf = buf, .cap = len};
    int rc = call(s3, &r, op_deadline(s3), s3->max_retries, eb);
    if (rc == RC_OK)
        *out_len = r.status == 416 ? 0 : r.sink.got;
    req_cleanup(&r);
    xfree(object);
    return rc;
}

/* ---- list ----------------------------------------------------------------------- */

struct list_ctx {
    struct s3 *s3;
    storage_list_fn fn;
    void *ctx;
    size_t plen;
};

static int list_item(void *vctx, const char *key, uint64_t size_bytes, int64_t mtime_us)
{
    struct list_ctx *lc = vctx;
    if (strncmp(key, lc->s3->prefix, lc->plen) != 0)
        return RC_OK; /* not ours (cannot happen with a correct server) */
    const char *rel = key + lc->plen;
    /* Objects written by other tools may not be valid keys here ("a//b",
     * "dir/" markers): callers could not use them, so skip them. */
    if (!storage_key_is_valid(rel))
        return RC_OK;
    const char *c = rel;
    for (;;) { /* hidden components (SPEC §0.4); storage.c checks again */
        const char *slash = strchr(c, '/');
        size_t n = slash ? (size_t)(slash - c) : strlen(c);
        if (storage__component_hidden(c, n))
            return RC_OK;
        if (!slash)
            break;
        c = slash + 1;
    }
    return lc->fn(lc->ctx, rel, size_bytes, mtime_us);
}

static int s3_list(struct storage *st, const char *prefix, storage_list_fn fn, void *ctx,
                   struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    char *full = object_name(s3, prefix);
    struct strbuf xml, token, prev;
    strbuf_init(&xml, XMLBODY_MAX);
    strbuf_init(&token, 64 * 1024);
    strbuf_init(&prev, 64 * 1024);
    char maxkeys[16];
    snprintf(maxkeys, sizeof(maxkeys), "%d", s3->list_page_size);
    struct list_ctx lc = {s3, fn, ctx, strlen(s3->prefix)};
    int rc = RC_OK;
    for (int page = 0;; page++) {
        struct req r;
        req_init(&r, "list", "GET", NULL, prefix);
        req_query(&r, "list-type", "2");
        req_query(&r, "prefix", full);
        req_query(&r, "max-keys", maxkeys);
        if (page > 0)
            req_query(&r, "continuation-token", token.data);
        r.sink = (struct sink){.kind = SINK_STRBUF, .sb = &xml};
        /* Each page is one operation with its own deadline: a listing of a
         * million keys is a thousand requests. */
        rc = call(s3, &r, op_deadline(s3), s3->max_retries, eb);
        req_cleanup(&r);
        if (rc != RC_OK)
            break;
        strbuf_reset(&prev);
        if (page > 0 && strbuf_append(&prev, token.data, token.len) != RC_OK) {
            rc = errbuf_set(eb, RC_S3, "storage: %s list: continuation token too long", s3->name);
            break;
        }
        bool truncated = false;
        rc = s3__parse_list(xml.data ? xml.data : "", xml.len, list_item, &lc, &truncated, &token,
                            eb);
        if (rc != RC_OK)
            break;
        if (!truncated)
            break;
        /* A truncated page must move on, or we would loop forever. */
        if (token.len == 0 ||
            (page > 0 && prev.len == token.len && memcmp(prev.data, token.data, token.len) == 0)) {
            rc = errbuf_set(eb, RC_S3,
                            "storage: %s list %.200s: truncated page without a new "
                            "continuation token",
                            s3->name, prefix);
            break;
        }
    }
    strbuf_cleanup(&xml);
    strbuf_cleanup(&token);
    strbuf_cleanup(&prev);
    xfree(full);
    return rc;
}

/* ---- delete --------------------------------------------------------------------- */

static int s3_delete(struct storage *st, const char *key, struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    char *object = object_name(s3, key);
    struct req r;
    req_init(&r, "delete", "DELETE", object, key);
    r.sink.kind = SINK_DISCARD;
    struct errbuf local = {0};
    int rc = call(s3, &r, op_deadline(s3), s3->max_retries, &local);
    if (rc == RC_NOT_FOUND) /* deleting a missing object succeeds */
        rc = RC_OK;
    if (rc != RC_OK)
        rc = errbuf_set(eb, rc, "%s", local.msg);
    req_cleanup(&r);
    xfree(object);
    return rc;
}

struct del_ctx {
    struct s3 *s3;
    struct errbuf *eb;
    int first_rc;
};

static void delete_error(void *vctx, const char *key, const char *code, const char *msg)
{
    struct del_ctx *dc = vctx;
    if (dc->first_rc == RC_OK)
        dc->first_rc = errbuf_set(dc->eb, RC_S3, "storage: %s delete %.200s: %s: %.200s",
                                  dc->s3->name, key, code, msg);
    log_warn("storage", "%s delete failed key=%.200s code=%s", dc->s3->name, key, code);
}

/* Single deletes for keys[0..n); counts failures, keeps the first error. */
static void delete_singly(struct storage *st, const char *const *keys, size_t n, size_t *failed,
                          int *first, struct errbuf *eb)
{
    for (size_t i = 0; i < n; i++) {
        struct errbuf local = {0};
        int rc = s3_delete(st, keys[i], &local);
        if (rc != RC_OK) {
            (*failed)++;
            if (*first == RC_OK)
                *first = errbuf_set(eb, rc, "%s", local.msg);
        }
    }
}

static int s3_delete_many(struct storage *st, const char *const *keys, size_t n, size_t *out_failed,
                          struct errbuf *eb)
{
    struct s3 *s3 = S(st);
    size_t failed = 0;
    int first = RC_OK;
    struct strbuf body, reply;
    strbuf_init(&body, 0);
    strbuf_init(&reply, XMLBODY_MAX);
    const char **single = xmalloc((n ? n : 1) * sizeof(*single));
    for (size_t start = 0; start < n; start += DELETE_BATCH) {
        size_t cnt = n - start < DELETE_BATCH ? n - start : DELETE_BATCH;
        if (atomic_load(&s3->multi_delete_unsupported)) {
            delete_singly(st, keys + start, cnt, &failed, &first, eb);
            continue;
        }
        /* Keys XML cannot carry (control characters) go one by one. */
        size_t nsingle = 0, in_xml = 0;
        strbuf_reset(&body);
        int brc = strbuf_puts(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns="
                                     "\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true"
                                     "</Quiet>");
        for (size_t i = start; i < start + cnt && brc == RC_OK; i++) {
            char *object = object_name(s3, keys[i]);
            size_t mark = body.len;
            brc = strbuf_puts(&body, "<Object><Key>");
            if (brc == RC_OK && s3__xml_escape(&body, object) != RC_OK) {
                body.len = mark;
                body.data[mark] = '\0';
                single[nsingle++] = keys[i];
            } else if (brc == RC_OK) {
                brc = strbuf_puts(&body, "</Key></Object>");
                in_xml++;
            }
            xfree(object);
        }
        if (brc == RC_OK)
            brc = strbuf_puts(&body, "</Delete>");
        if (in_xml > 0 && brc == RC_OK) {
            char md5[32];
            content_md5(body.data, body.len, md5);
            struct body b = {.mem = body.data, .fd = -1, .len = body.len};
            sigv4_sha256_hex(body.data, body.len, b.sha256);
            struct req r;
            req_init(&r, "delete_many", "POST", NULL, keys[start]);
            req_query(&r, "delete", "");
            req_header(&r, "Content-MD5", md5);
            req_header(&r, "Content-Type", "application/xml");
            r.body = &b;
            r.sink = (struct sink){.kind = SINK_STRBUF, .sb = &reply};
            struct errbuf local = {0};
            int rc = call(s3, &r, op_deadline(s3), s3->max_retries, &local);
            if (rc == RC_OK) {
                size_t errors = 0;
                struct del_ctx dc = {s3, eb, first};
                rc = s3__parse_delete_result(reply.data ? reply.data : "", reply.len, delete_error,
                                             &dc, &errors, &local);
                if (rc == RC_OK) {
                    failed += errors;
                    first = dc.first_rc;
                }
            }
            if (rc != RC_OK && r.status >= 400 && !r.endpoint_failed) {
                /* The endpoint answered but refused the API (GCS, old
                 * S3-compatibles): delete these one by one. */
                bool unsupported =
                    r.status == 501 || r.status == 405 || strcmp(r.s3_code, "NotImplemented") == 0;
                if (unsupported && !atomic_exchange(&s3->multi_delete_unsupported, true))
                    log_warn("storage",
                             "%s: DeleteObjects not supported (HTTP %ld %s); "
                             "using single deletes",
                             s3->name, r.status, r.s3_code);
                req_cleanup(&r);
                nsingle = 0; /* the whole batch, including non-XML keys */
                for (size_t i = start; i < start + cnt; i++)
                    single[nsingle++] = keys[i];
            } else {
                if (rc != RC_OK) {
                    failed += in_xml;
                    if (first == RC_OK)
                        first = errbuf_set(eb, rc, "%s", local.msg);
                }
                req_cleanup(&r);
            }
        } else if (brc != RC_OK) {
            failed += cnt - nsingle;
            if (first == RC_OK)
                first = errbuf_set(eb, RC_LIMIT, "storage: delete request too large");
        }
        delete_singly(st, single, nsingle, &failed, &first, eb);
    }
    xfree(single);
    strbuf_cleanup(&body);
    strbuf_cleanup(&reply);
    *out_failed = failed;
    return first;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void s3_destroy(struct storage *st)
{
    struct s3 *s3 = S(st);
    for (int i = 0; i < s3->nidle; i++)
        curl_easy_cleanup(s3->idle[i]);
    pthread_mutex_destroy(&s3->pool_mu);
    pthread_mutex_destroy(&s3->br_mu);
    s3__endpoint_cleanup(&s3->ep);
    free_secret(s3->access_key);
    free_secret(s3->secret_key);
    free_secret(s3->session_token);
    xfree(s3->name);
    xfree(s3->bucket);
    xfree(s3->prefix);
    xfree(s3->region);
    xfree(s3->staging_dir);
    xfree(s3->ca_file);
    xfree(s3);
}

static const struct storage_ops s3_ops = {
    .name = "s3",
    .staging_path = s3_staging_path,
    .put_file = s3_put_file,
    .get_file = s3_get_file,
    .read_range = s3_read_range,
    .head = s3_head,
    .list = s3_list,
    .delete_one = s3_delete,
    .delete_many = s3_delete_many,
    .local_root = NULL,
    .destroy = s3_destroy,
};

bool storage_s3_circuit_open(const struct storage *st)
{
    if (!st || st->ops != &s3_ops)
        return false;
    struct s3 *s3 = S(st);
    pthread_mutex_lock(&s3->br_mu);
    bool open = s3->br_state != BR_CLOSED;
    pthread_mutex_unlock(&s3->br_mu);
    return open;
}

void s3_options_init(struct s3_options *o)
{
    memset(o, 0, sizeof(*o));
    o->endpoint = "";
    o->region = "us-east-1";
    o->bucket = "";
    o->prefix = "";
    o->access_key = "";
    o->secret_key = "";
    o->session_token = "";
    o->use_ssl = true;
    o->connect_timeout_s = 10;
    o->request_timeout_s = 60;
    o->low_speed_limit_bytes = 1024;
    o->low_speed_time_s = 30;
    o->operation_timeout_s = 300;
    o->max_retries = 3;
    o->multipart_threshold_bytes = S3_DEFAULT_MULTIPART_THRESHOLD_BYTES;
    o->part_size_bytes = S3_DEFAULT_PART_SIZE_BYTES;
    o->staging_dir = "./data/arc";
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool is_empty(const char *s)
{
    return !s || !*s;
}

int s3_options_from_config(const struct config *cfg, struct s3_options *out, struct errbuf *eb)
{
    const struct config_storage *st = &cfg->storage;
    s3_options_init(out);
    out->connect_timeout_s = (long)st->connect_timeout_seconds;
    out->request_timeout_s = (long)st->request_timeout_seconds;
    out->low_speed_limit_bytes = (long)st->low_speed_limit_bytes;
    out->low_speed_time_s = (long)st->low_speed_time_seconds;
    out->operation_timeout_s = (long)st->operation_timeout_seconds;
    out->max_retries = (int)st->max_retries;
    out->prefix = st->s3.prefix ? st->s3.prefix : "";
    out->staging_dir = st->local.base_path;

    enum config_source region_src = CONFIG_SRC_DEFAULT;
    (void)config_key_source(cfg, "storage.s3.region", &region_src);
    bool region_default = region_src == CONFIG_SRC_DEFAULT;
    const char *key_name = "storage.s3.access_key";

    if (strcmp(st->backend, "s3") == 0) {
        out->service_name = "s3";
        out->endpoint = st->s3.endpoint;
        out->region = st->s3.region;
        out->bucket = st->s3.bucket;
        out->access_key = st->s3.access_key;
        out->secret_key = st->s3.secret_key;
        out->use_ssl = st->s3.use_ssl;
        out->path_style = st->s3.path_style;
        if (is_empty(out->bucket))
            return errbuf_set(eb, RC_INVALID,
                              "storage.s3.bucket: required when storage.backend = \"s3\"");
    } else if (strcmp(st->backend, "minio") == 0) {
        out->service_name = "minio";
        out->endpoint = st->minio.endpoint;
        out->region = st->s3.region;
        out->bucket = st->minio.bucket;
        out->access_key = st->minio.access_key;
        out->secret_key = st->minio.secret_key;
        out->use_ssl = st->minio.use_ssl;
        out->path_style = true;
        key_name = "storage.minio.access_key";
        if (is_empty(out->bucket))
            return errbuf_set(eb, RC_INVALID, "storage.minio.bucket: required");
    } else if (strcmp(st->backend, "gcs") == 0) {
        out->service_name = "gcs";
        out->endpoint = "https://storage.googleapis.com";
        out->region = "auto";
        region_default = false; /* GCS signs with "auto" whatever AWS_REGION says */
        out->bucket = st->gcs.bucket;
        out->access_key = st->gcs.hmac_key_id;
        out->secret_key = st->gcs.hmac_secret;
        out->use_ssl = true;
        out->path_style = true;
        key_name = "storage.gcs.hmac_key_id";
        if (is_empty(out->bucket))
            return errbuf_set(eb, RC_INVALID, "storage.gcs.bucket: required");
    } else {
        return errbuf_set(eb, RC_INVALID, "storage.backend: \"%.32s\" is not an S3 backend",
                          st->backend);
    }
    if (is_empty(out->access_key) && is_empty(out->secret_key)) {
        /* The environment part of the standard AWS credential chain. */
        const char *ak = env_nonempty("AWS_ACCESS_KEY_ID");
        const char *sk = env_nonempty("AWS_SECRET_ACCESS_KEY");
        if (ak && sk) {
            out->access_key = ak;
            out->secret_key = sk;
            const char *tok = env_nonempty("AWS_SESSION_TOKEN");
            out->session_token = tok ? tok : "";
        }
    }
    if (is_empty(out->access_key) || is_empty(out->secret_key))
        return errbuf_set(eb, RC_INVALID,
                          "%s: no credentials (set the access and secret key, or "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                          key_name);
    if (region_default) {
        const char *r = env_nonempty("AWS_REGION");
        if (!r)
            r = env_nonempty("AWS_DEFAULT_REGION");
        if (r)
            out->region = r;
    }
    return RC_OK;
}

/* Creates dir and its parents (mode 0755). */
static int mkdirs(const char *dir, struct errbuf *eb)
{
    char *p = xstrdup(dir);
    int rc = RC_OK;
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = errbuf_set(eb, RC_IO, "storage: mkdir %s: %s", p, strerror(errno));
            break;
        }
        p[i] = saved;
    }
    struct stat sb;
    if (rc == RC_OK && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        rc = errbuf_set(eb, RC_IO, "storage: %s is not a directory", dir);
    xfree(p);
    return rc;
}

static void curl_init_once(void)
{
    /* Process-wide and not undone: libcurl's global state lives as long as
     * the process (curl_global_cleanup would race other users). */
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool bucket_ok(const char *b)
{
    if (is_empty(b) || strlen(b) > 255)
        return false;
    for (; *b; b++)
        if (bad_char((unsigned char)*b) || *b == '/' || *b == '?' || *b == '#' || *b == '\\' ||
            *b == '%')
            return false;
    return true;
}

int storage_new_s3(const struct s3_options *o, struct storage **out, struct errbuf *eb)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (!o)
        return errbuf_set(eb, RC_INVALID, "storage: no s3 options");
    const char *name = is_empty(o->service_name) ? "s3" : o->service_name;
    if (!bucket_ok(o->bucket))
        return errbuf_set(eb, RC_INVALID, "storage: %s bucket is empty or invalid", name);
    if (is_empty(o->access_key) || is_empty(o->secret_key))
        return errbuf_set(eb, RC_INVALID, "storage: %s credentials are missing", name);
    for (const char *p = o->access_key; *p; p++)
        if (bad_char((unsigned char)*p) || *p == '/')
            return errbuf_set(eb, RC_INVALID, "storage: %s access key id is malformed", name);
    if (!is_empty(o->session_token))
        for (const char *p = o->session_token; *p; p++)
            if (*p == '\r' || *p == '\n')
                return errbuf_set(eb, RC_INVALID, "storage: %s session token is malformed", name);
    if (!region_ok(o->region))
        return errbuf_set(eb, RC_INVALID, "storage: %s region \"%.64s\" is invalid", name,
                          o->region ? o->region : "");
    if (o->part_size_bytes && o->part_size_bytes < S3_MIN_PART_SIZE_BYTES)
        return errbuf_set(eb, RC_INVALID, "storage: %s part size must be at least 5 MiB", name);
    if (o->list_page_size < 0 || o->list_page_size > 1000)
        return errbuf_set(eb, RC_INVALID, "storage: %s list page size must be 1..1000", name);
    if (o->connect_timeout_s < 0 || o->request_timeout_s < 0 || o->low_speed_limit_bytes < 0 ||
        o->low_speed_time_s < 0 || o->operation_timeout_s < 0 || o->max_retries < 0 ||
        o->breaker_threshold < 0 || o->breaker_cooldown_ms < 0 || o->retry_base_ms < 0)
        return errbuf_set(eb, RC_INVALID, "storage: %s timeouts and counts must not be negative",
                          name);
    if (is_empty(o->staging_dir))
        return errbuf_set(eb, RC_INVALID, "storage: %s needs a staging directory", name);
    if (o->prefix && (o->prefix[0] == '/' ? !storage__prefix_is_valid(o->prefix + 1)
                                          : !storage__prefix_is_valid(o->prefix)))
        return errbuf_set(eb, RC_INVALID, "storage: %s prefix \"%.200s\" is invalid", name,
                          o->prefix);

    struct s3__endpoint ep;
    int rc = s3__endpoint_parse(o->endpoint, o->use_ssl, o->region, &ep, eb);
    if (rc != RC_OK)
        return rc;
    size_t sl = strlen(o->staging_dir);
    while (sl > 1 && o->staging_dir[sl - 1] == '/')
        sl--;
    char *staging = xstrndup(o->staging_dir, sl);
    rc = mkdirs(staging, eb);
    if (rc != RC_OK) {
        xfree(staging);
        s3__endpoint_cleanup(&ep);
        return rc;
    }
    pthread_once(&once, curl_init_once);

    struct s3 *s3 = xcalloc(1, sizeof(*s3));
    s3->name = xstrdup(name);
    s3->ep = ep;
    s3->bucket = xstrdup(o->bucket);
    /* Prefix: no leading '/', and a trailing '/' so "arc" means "arc/...". */
    const char *p = o->prefix ? o->prefix : "";
    while (*p == '/')
        p++;
    size_t pl = strlen(p);
    s3->prefix = xmalloc(pl + 2);
    memcpy(s3->prefix, p, pl + 1);
    if (pl > 0 && p[pl - 1] != '/') {
        s3->prefix[pl] = '/';
        s3->prefix[pl + 1] = '\0';
    }
    s3->region = xstrdup(o->region);
    s3->access_key = xstrdup(o->access_key);
    s3->secret_key = xstrdup(o->secret_key);
    s3->session_token = is_empty(o->session_token) ? NULL : xstrdup(o->session_token);
    s3->path_style = o->path_style;
    if (!s3->path_style && s3->ep.https && strchr(s3->bucket, '.')) {
        /* *.s3.amazonaws.com certificates cover one label only. */
        s3->path_style = true;
        log_info("storage", "%s bucket %s contains '.': using path-style addressing", name,
                 s3->bucket);
    }
    s3->connect_timeout_ms = (o->connect_timeout_s ? o->connect_timeout_s : 10) * 1000;
    s3->request_timeout_ms = (o->request_timeout_s ? o->request_timeout_s : 60) * 1000;
    s3->low_speed_limit_bytes = o->low_speed_limit_bytes ? o->low_speed_limit_bytes : 1024;
    s3->low_speed_time_s = o->low_speed_time_s ? o->low_speed_time_s : 30;
    s3->operation_timeout_ms =
        (int64_t)(o->operation_timeout_s ? o->operation_timeout_s : 300) * 1000;
    s3->max_retries = o->max_retries;
    s3->multipart_threshold_bytes = o->multipart_threshold_bytes
                                        ? o->multipart_threshold_bytes
                                        : S3_DEFAULT_MULTIPART_THRESHOLD_BYTES;
    s3->part_size_bytes = o->part_size_bytes ? o->part_size_bytes : S3_DEFAULT_PART_SIZE_BYTES;
    s3->staging_dir = staging;
    s3->ca_file = is_empty(o->ca_file) ? NULL : xstrdup(o->ca_file);
    s3->list_page_size = o->list_page_size ? o->list_page_size : 1000;
    s3->breaker_threshold =
        o->breaker_threshold ? o->breaker_threshold : S3_DEFAULT_BREAKER_THRESHOLD;
    s3->breaker_cooldown_ms =
        o->breaker_cooldown_ms ? o->breaker_cooldown_ms : S3_DEFAULT_BREAKER_COOLDOWN_MS;
    s3->retry_base_ms = o->retry_base_ms ? o->retry_base_ms : S3_DEFAULT_RETRY_BASE_MS;
    atomic_init(&s3->seq, 0);
    atomic_init(&s3->multi_delete_unsupported, false);
    pthread_mutex_init(&s3->pool_mu, NULL);
    pthread_mutex_init(&s3->br_mu, NULL);
    s3->br_state = BR_CLOSED;

    char labels[64];
    snprintf(labels, sizeof(labels), "backend=\"%s\"", s3_ops.name);
    s3->m_timeouts = metrics_counter("arc_storage_timeouts_total",
                                     "Storage requests or operations that timed out", labels);
    s3->m_retries = metrics_counter("arc_storage_retries_total", "Storage request retries", labels);
    s3->m_circuit_open = metrics_counter("arc_storage_circuit_open_total",
                                         "Times the storage circuit breaker opened", labels);
    s3->m_circuit_rejected = metrics_counter("arc_storage_circuit_rejected_total",
                                             "Storage requests failed fast by the breaker", labels);
    s3->m_circuit_state =
        metrics_gauge("arc_storage_circuit_state",
                      "Storage circuit breaker: 0 closed, 1 open, 2 half-open", labels);
    metric_set(s3->m_circuit_state, BR_CLOSED);

    log_info("storage", "%s backend endpoint=%s://%s%s bucket=%s prefix=%s region=%s addressing=%s",
             name, s3->ep.https ? "https" : "http", s3->ep.authority, s3->ep.base_path, s3->bucket,
             s3->prefix, s3->region, s3->path_style ? "path" : "virtual-host");
    *out = storage__new(&s3_ops, s3);
    (*out)->fault_hang_ms = s3->request_timeout_ms; /* storage_hang fault hook (storage.h) */
    return RC_OK;
}
