/*
 * api/api_query.c — query endpoints (SPEC §4): SQL as JSON / CSV / Arrow,
 * estimates, GET /api/v1/query/{measurement}, measurement and database
 * listings, database create/delete, query cache endpoints.
 *
 * A query response is produced like this (the handler runs on an HTTP worker
 * thread, so blocking on DuckDB is fine; the stream reader runs on that same
 * worker after the handler returns):
 *
 *   parse body, validate header ──► cache lookup (JSON /api/v1/query only)
 *     │ hit: cached prefix + fresh tail ("cached": true) ──► buffered reply
 *     ▼ miss
 *   query_execute ──► encoder begin ──► pull chunks while the output is
 *   below BUFFERED_MAX (errors so far ─► §4.2 JSON error, right status)
 *     │ result complete: buffered reply with X-Row-Count,
 *     │ X-Execution-Time-Ms, X-Wait-Time-Ms (gzip if accepted)
 *     ▼ more rows
 *   http_respond_stream: the reader drains the encoder's buffer into the
 *   http layer's bounded pipe (the I/O thread only copies chunks out), pulls
 *   the next chunk when it is empty (so memory stays at about one chunk plus
 *   the pipe), gzips on the fly when accepted; a failure now closes the
 *   connection (Arrow: no end-of-stream marker; JSON: truncated body).
 *
 * JSON results of POST /api/v1/query up to query_cache.max_result_mb are
 * captured as they are produced and stored in the result cache (the part up
 * to "row_count"), keyed by SQL + effective database + format, unless the
 * cache was cleared while the query ran (generation check).
 */
#include "api/api_query.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "api/api_internal.h"
#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "ingest/batch.h"
#include "metrics/metrics.h"
#include "query/encode.h"
#include "query/predicate.h"
#include "query/qcache.h"
#include "query/query.h"
#include "storage/storage.h"
#include "util/json.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Results whose encoded size stays below this are sent in one piece (with
 * row-count headers); larger ones are streamed chunk by chunk. */
#define BUFFERED_MAX (1u << 20)
/* Buffered bodies smaller than this are not worth compressing. */
#define GZIP_MIN_BYTES 860
/* Cap on one chunk's encoded output (a safety net for pathological rows). */
#define ENCODER_MAX_BYTES ((size_t)512 << 20)
/* How long DELETE /api/v1/databases waits for buffered rows to flush. */
#define DELETE_FLUSH_TIMEOUT_MS 60000

/* api_query_engine_global is defined in api/api_metrics.c (which reads it
 * for the query-pool metrics); the cache pointer lives here. */
struct qcache *api_query_cache_global;

struct query_engine *api_query_engine(struct http_request *req)
{
    /* Once struct app has `struct query_engine *query` this becomes:
     *   return ((struct app *)http_req_app(req))->query;                    */
    (void)req;
    return api_query_engine_global;
}

struct qcache *api_query_cache(struct http_request *req)
{
    /* Likewise `((struct app *)http_req_app(req))->qcache`. */
    (void)req;
    return api_query_cache_global;
}

/* ---- metrics ------------------------------------------------------------- */

static struct metric *m_rows, *m_stream_aborts, *m_streamed, *m_buffered, *m_cache_hits;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
    m_rows = metrics_counter("arc_query_result_rows_total", "Rows sent in query results", NULL);
    m_stream_aborts = metrics_counter("arc_query_stream_aborts_total",
                                      "Streamed query responses cut off by an error", NULL);
    m_streamed = metrics_counter("arc_query_responses_total", "Query responses by delivery",
                                 "mode=\"streamed\"");
    m_buffered = metrics_counter("arc_query_responses_total", "Query responses by delivery",
                                 "mode=\"buffered\"");
    m_cache_hits = metrics_counter("arc_query_responses_total", "Query responses by delivery",
                                   "mode=\"cached\"");
}

/* ---- small helpers ------------------------------------------------------- */

static double elapsed_ms(int64_t start_ns)
{
    return (double)(time_mono_ns() - start_ns) / 1e6;
}

static int status_for_query_rc(int rc)
{
    switch (rc) {
    case RC_INVALID:
    case RC_PARSE: return 400;
    case RC_DENIED: return 403;
    case RC_NOT_FOUND: return 404;
    case RC_LIMIT: return 413;
    case RC_BUSY:
    case RC_SHUTDOWN: return 503;
    case RC_TIMEOUT: return 504;
    default: return 500;
    }
}

/* The §4.2 error body with status (Retry-After on 503). */
static void respond_query_error(struct http_request *req, int status, const char *msg,
                                int64_t start_ns)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    if (qenc_json_error(&sb, msg, elapsed_ms(start_ns), time_now_us()) != RC_OK) {
        strbuf_cleanup(&sb);
        http_respond_error(req, 500, "Internal error");
        return;
    }
    if (status == 503)
        http_add_header(req, "Retry-After", "1");
    http_respond_json(req, status, &sb);
}

static void respond_query_rc(struct http_request *req, int rc, const struct errbuf *eb,
                             int64_t start_ns)
{
    int status = status_for_query_rc(rc);
    const char *msg = eb->msg[0] ? eb->msg : rc_name(rc);
    if (rc == RC_TIMEOUT)
        msg = "Query timed out";
    if (status >= 500)
        log_warn("query", "query failed request_id=%s status=%d rc=%s err=%s", http_req_id(req),
                 status, rc_name(rc), msg);
    respond_query_error(req, status, msg, start_ns);
}

bool api_query_accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    const char *p = ae;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t tl = (size_t)(p - tok);
        double q = 1.0;
        while (*p && *p != ',') {
            /* parameters: look for q=<value> */
            while (*p == ' ' || *p == '\t' || *p == ';')
                p++;
            if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
                q = strtod(p + 2, NULL);
            }
            while (*p && *p != ',' && *p != ';')
                p++;
        }
        bool match = (tl == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
                     (tl == 6 && strncasecmp(tok, "x-gzip", 6) == 0) || (tl == 1 && tok[0] == '*');
        if (match && q > 0)
            return true;
    }
    return false;
}

/* Compresses in[0..n) as one gzip member into out. */
static int gzip_buffer(const char *in, size_t n, struct strbuf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16: gzip header and trailer instead of zlib's. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return RC_INTERNAL;
    size_t bound = deflateBound(&z, (uLong)n);
    int rc = strbuf_reserve(out, bound);
    if (rc == RC_OK) {
        z.next_in = (Bytef *)(uintptr_t)in;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            rc = RC_INTERNAL;
        else
            out->len += z.total_out;
    }
    deflateEnd(&z);
    return rc;
}

/* Sends a complete body, gzipped when accepted and worth it. */
static void respond_body(struct http_request *req, int status, const char *ctype, const char *body,
                         size_t len, bool gzip)
{
    if (gzip && len >= GZIP_MIN_BYTES) {
        struct strbuf z;
        strbuf_init(&z, 0);
        if (gzip_buffer(body, len, &z) == RC_OK) {
            http_add_header(req, "Content-Encoding", "gzip");
            http_add_header(req, "Vary", "Accept-Encoding");
            http_respond(req, status, ctype, z.data, z.len);
            strbuf_cleanup(&z);
            return;
        }
        strbuf_cleanup(&z);
    }
    if (gzip)
        http_add_header(req, "Vary", "Accept-Encoding");
    http_respond(req, status, ctype, body, len);
}

static void add_header_fmt(struct http_request *req, const char *name, const char *fmt, ...)
    ARC_PRINTF(3, 4);
static void add_header_fmt(struct http_request *req, const char *name, const char *fmt, ...)
{
    char v[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    http_add_header(req, name, v);
}

/* x-arc-database: NULL if absent; responds 400 (and returns false) if
 * invalid. */
static bool header_database(struct http_request *req, const char **out, int64_t start_ns)
{
    const char *db = http_req_header(req, "x-arc-database");
    *out = NULL;
    if (!db)
        return true;
    if (!name_is_valid_database(db, strlen(db))) {
        respond_query_error(req, 400, "Invalid database name in x-arc-database", start_ns);
        return false;
    }
    *out = db;
    return true;
}

/* ---- request body ---------------------------------------------------------- */

struct sql_body {
    struct json_value *doc;
    const char *sql; /* into doc */
    enum qenc_format format;
};

/* Parses {"sql": "...", "format": "json"|"csv", "limit": n}. On error fills
 * msg and returns RC_INVALID. */
static int parse_sql_body(struct http_request *req, bool allow_format, struct sql_body *out,
                          char *msg, size_t cap)
{
    memset(out, 0, sizeof(*out));
    out->format = QENC_JSON;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    struct errbuf eb = {0};
    if (!body || len == 0) {
        snprintf(msg, cap, "Request body must be a JSON object with a \"sql\" field");
        return RC_INVALID;
    }
    if (json_parse(body, len, &out->doc, &eb) != RC_OK) {
        snprintf(msg, cap, "Invalid JSON body: %.400s", eb.msg);
        return RC_INVALID;
    }
    if (json_type(out->doc) != JSON_OBJECT) {
        snprintf(msg, cap, "Request body must be a JSON object with a \"sql\" field");
        return RC_INVALID;
    }
    size_t sl = 0;
    const char *sql = json_as_str(json_obj_get(out->doc, "sql"), &sl);
    size_t i = 0;
    while (sql && i < sl && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r'))
        i++;
    if (!sql || i == sl) {
        snprintf(msg, cap, "Missing or empty \"sql\" field");
        return RC_INVALID;
    }
    if (memchr(sql, '\0', sl)) {
        snprintf(msg, cap, "\"sql\" must not contain NUL characters");
        return RC_INVALID;
    }
    out->sql = sql;
    const struct json_value *f = json_obj_get(out->doc, "format");
    if (allow_format && f && !json_is_null(f)) {
        const char *fs = json_as_str(f, NULL);
        if (fs && strcasecmp(fs, "json") == 0)
            out->format = QENC_JSON;
        else if (fs && strcasecmp(fs, "csv") == 0)
            out->format = QENC_CSV;
        else {
            snprintf(msg, cap, "\"format\" must be \"json\" or \"csv\"");
            return RC_INVALID;
        }
    }
    /* "limit" is accepted and ignored (SPEC §4.2). */
    return RC_OK;
}

/* ---- running a query ----------------------------------------------------------- */

struct run_opts {
    enum qenc_format fmt;
    const char *sql;
    const char *header_db;    /* x-arc-database or NULL */
    const char *csv_filename; /* CSV: Content-Disposition file name */
    bool use_cache;           /* JSON results of POST /api/v1/query */
};

/* Everything a response needs after the handler returned; owned by the
 * stream reader (freed by stream_free) or freed by the handler when the
 * reply was buffered. */
struct qstream {
    struct query_cursor *cur;
    struct qenc *enc;
    duckdb_arrow_options arrow_opts;
    const char **names;
    duckdb_logical_type *types;
    idx_t ncols;
    enum qenc_format fmt;
    bool no_rows; /* empty measurement: nothing to fetch */
    bool done;    /* encoder ended; output complete once drained */
    size_t pos;   /* drained bytes of the encoder's buffer */
    int64_t start_ns;
    double wait_ms;
    char request_id[160];
    /* result cache capture (JSON) */
    struct qcache *cache;
    bool capturing;
    struct strbuf capture;
    size_t capture_max;
    char *key_sql, *key_db;
    uint64_t generation;
    /* streamed gzip */
    bool gzip, z_ready, z_finished;
    z_stream z;
};

static void qstream_free(void *p)
{
    struct qstream *s = p;
    if (!s)
        return;
    qenc_free(&s->enc);
    query_cursor_close(&s->cur);
    if (s->arrow_opts)
        duckdb_destroy_arrow_options(&s->arrow_opts);
    xfree(s->names);
    xfree(s->types);
    strbuf_cleanup(&s->capture);
    xfree(s->key_sql);
    xfree(s->key_db);
    if (s->z_ready)
        deflateEnd(&s->z);
    xfree(s);
}

static void capture(struct qstream *s, const char *p, size_t n)
{
    if (!s->capturing || n == 0)
        return;
    if (s->capture.len + n > s->capture_max || strbuf_append(&s->capture, p, n) != RC_OK) {
        s->capturing = false;
        strbuf_cleanup(&s->capture);
    }
}

/* Appends the next chunk's encoding (or the end of the body) to the
 * encoder's buffer. */
static int produce(struct qstream *s, struct errbuf *eb)
{
    struct strbuf *out = qenc_output(s->enc);
    size_t before = out->len;
    int rc;
    if (!s->no_rows) {
        duckdb_data_chunk ch = NULL;
        rc = query_cursor_next(s->cur, &ch, eb);
        if (rc)
            return rc;
        if (ch) {
            rc = qenc_chunk(s->enc, ch, eb);
            duckdb_destroy_data_chunk(&ch);
            if (rc == RC_OK)
                capture(s, out->data + before, out->len - before);
            return rc;
        }
    }
    rc = qenc_end(s->enc, eb);
    if (rc)
        return rc;
    capture(s, out->data + before, out->len - before);
    uint64_t rows = qenc_rows(s->enc);
    if (s->fmt == QENC_JSON) {
        if (s->capturing)
            (void)qcache_put(s->cache, s->key_sql, s->key_db, "json", s->generation,
                             s->capture.data, s->capture.len, rows, (size_t)s->ncols);
        rc = qenc_json_tail(out, elapsed_ms(s->start_ns), time_now_us(), -1);
    }
    s->done = true;
    metric_add(m_rows, rows);
    /* Hand the pooled connection back now; the rest is only draining. */
    query_cursor_close(&s->cur);
    return rc;
}

static void stream_abort(struct qstream *s, const struct errbuf *eb, int rc)
{
    metric_inc(m_stream_aborts);
    log_warn("query", "streamed response aborted request_id=%s rc=%s err=%s", s->request_id,
             rc_name(rc), eb->msg);
}

/* http_reader_fn: copies (or gzips) encoder output into buf; pulls the next
 * chunk when the output is drained. */
static long stream_reader(void *ctx, char *buf, size_t cap)
{
    struct qstream *s = ctx;
    struct strbuf *out = qenc_output(s->enc);
    struct errbuf eb = {0};
    for (;;) {
        if (s->gzip) {
            if (s->z_finished)
                return 0;
            s->z.next_out = (Bytef *)buf;
            s->z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
            int zr;
            if (s->pos < out->len) {
                s->z.next_in = (Bytef *)out->data + s->pos;
                s->z.avail_in = (uInt)(out->len - s->pos);
                zr = deflate(&s->z, Z_NO_FLUSH);
                s->pos = out->len - s->z.avail_in;
            } else if (s->done) {
                s->z.next_in = NULL;
                s->z.avail_in = 0;
                zr = deflate(&s->z, Z_FINISH);
                if (zr == Z_STREAM_END)
                    s->z_finished = true;
            } else {
                strbuf_reset(out);
                s->pos = 0;
                int rc = produce(s, &eb);
                if (rc) {
                    stream_abort(s, &eb, rc);
                    return -1;
                }
                continue;
            }
            if (zr == Z_STREAM_ERROR) {
                errbuf_set(&eb, RC_INTERNAL, "deflate failed");
                stream_abort(s, &eb, RC_INTERNAL);
                return -1;
            }
            size_t produced = (size_t)((char *)s->z.next_out - buf);
            if (produced > 0)
                return (long)produced;
            if (s->z_finished)
                return 0;
            continue;
        }
        if (s->pos < out->len) {
            size_t n = out->len - s->pos;
            if (n > cap)
                n = cap;
            memcpy(buf, out->data + s->pos, n);
            s->pos += n;
            return (long)n;
        }
        strbuf_reset(out);
        s->pos = 0;
        if (s->done)
            return 0;
        int rc = produce(s, &eb);
        if (rc) {
            stream_abort(s, &eb, rc);
            return -1;
        }
    }
}

static const char *content_type_of(enum qenc_format f)
{
    switch (f) {
    case QENC_CSV: return "text/csv; charset=utf-8";
    case QENC_ARROW: return "application/vnd.apache.arrow.stream";
    default: return "application/json";
    }
}

static void respond_cached(struct http_request *req, const struct qcache_hit *hit, bool gzip,
                           int64_t start_ns)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    if (strbuf_append(&sb, hit->body, hit->len) != RC_OK ||
        qenc_json_tail(&sb, elapsed_ms(start_ns), time_now_us(), hit->age_s) != RC_OK) {
        strbuf_cleanup(&sb);
        respond_query_error(req, 500, "Internal error", start_ns);
        return;
    }
    add_header_fmt(req, "X-Row-Count", "%" PRIu64, hit->row_count);
    add_header_fmt(req, "X-Execution-Time-Ms", "%.3f", elapsed_ms(start_ns));
    http_add_header(req, "X-Cache", "HIT");
    metric_inc(m_cache_hits);
    respond_body(req, 200, "application/json", sb.data, sb.len, gzip);
    strbuf_cleanup(&sb);
}

static void run_query(struct http_request *req, const struct run_opts *ro)
{
    pthread_once(&metrics_once, metrics_init);
    struct app *app = http_req_app(req);
    int64_t start_ns = http_req_start_ns(req);
    struct query_engine *qe = api_query_engine(req);
    if (!qe) {
        respond_query_error(req, 503, "Query engine not initialised", start_ns);
        return;
    }
    const char *db = ro->header_db ? ro->header_db : app->cfg->storage.database;
    bool gzip = api_query_accepts_gzip(http_req_header(req, "Accept-Encoding"));
    struct qcache *cache = ro->use_cache && ro->fmt == QENC_JSON ? api_query_cache(req) : NULL;
    if (cache && !qcache_enabled(cache))
        cache = NULL;
    if (cache) {
        struct qcache_hit hit;
        if (qcache_get(cache, ro->sql, db, "json", &hit)) {
            respond_cached(req, &hit, gzip, start_ns);
            qcache_hit_release(&hit);
            return;
        }
    }

    struct qstream *s = xcalloc(1, sizeof(*s));
    s->fmt = ro->fmt;
    s->start_ns = start_ns;
    snprintf(s->request_id, sizeof(s->request_id), "%s", http_req_id(req));
    strbuf_init(&s->capture, 0);
    if (cache) {
        s->cache = cache;
        s->generation = qcache_generation(cache);
        s->capturing = true;
        s->capture_max = qcache_options(cache)->max_result_bytes;
        s->key_sql = xstrdup(ro->sql);
        s->key_db = xstrdup(db);
    }
    struct errbuf eb = {0};
    struct query_request qr = {.sql = ro->sql, .default_db = ro->header_db, .allow_special = true};
    int rc = query_execute(qe, &qr, &s->cur, &eb);
    if (rc)
        goto fail;
    s->wait_ms = query_cursor_wait_ms(s->cur);
    s->no_rows = query_cursor_is_empty_measurement(s->cur);
    s->ncols = s->no_rows ? 0 : query_cursor_column_count(s->cur);
    s->names = xcalloc(s->ncols + 1, sizeof(*s->names));
    s->types = xcalloc(s->ncols + 1, sizeof(*s->types));
    for (idx_t i = 0; i < s->ncols; i++) {
        s->names[i] = query_cursor_column_name(s->cur, i);
        s->types[i] = query_cursor_column_type(s->cur, i);
    }
    if (ro->fmt == QENC_ARROW && s->ncols > 0)
        s->arrow_opts = duckdb_result_get_arrow_options(query_cursor_result(s->cur));
    struct qenc_options eo = {
        .format = ro->fmt, .arrow_options = s->arrow_opts, .max_buffer_bytes = ENCODER_MAX_BYTES};
    if ((rc = qenc_new(&eo, &s->enc, &eb)) ||
        (rc = qenc_begin(s->enc, s->ncols, s->names, s->types, &eb)))
        goto fail;
    struct strbuf *out = qenc_output(s->enc);
    capture(s, out->data, out->len);
    /* Errors up to here (bind errors, the first chunk's runtime errors,
     * timeouts) still get a proper JSON error response. */
    while (!s->done && out->len < BUFFERED_MAX)
        if ((rc = produce(s, &eb)))
            goto fail;

    if (ro->fmt == QENC_CSV)
        add_header_fmt(req, "Content-Disposition", "attachment; filename=%s",
                       ro->csv_filename ? ro->csv_filename : "query_result.csv");
    if (s->done) {
        add_header_fmt(req, "X-Row-Count", "%" PRIu64, qenc_rows(s->enc));
        add_header_fmt(req, "X-Execution-Time-Ms", "%.3f", elapsed_ms(start_ns));
        add_header_fmt(req, "X-Wait-Time-Ms", "%.3f", s->wait_ms);
        metric_inc(m_buffered);
        respond_body(req, 200, content_type_of(ro->fmt), out->data, out->len, gzip);
        qstream_free(s);
        return;
    }
    if (gzip) {
        if (deflateInit2(&s->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) == Z_OK) {
            s->z_ready = s->gzip = true;
            http_add_header(req, "Content-Encoding", "gzip");
        }
        http_add_header(req, "Vary", "Accept-Encoding");
    }
    metric_inc(m_streamed);
    http_respond_stream(req, 200, content_type_of(ro->fmt), stream_reader, s, qstream_free);
    return;

fail:
    respond_query_rc(req, rc, &eb, start_ns);
    qstream_free(s);
}

static void sql_endpoint(struct http_request *req, enum qenc_format forced, bool allow_format,
                         bool use_cache)
{
    int64_t start_ns = http_req_start_ns(req);
    const char *hdr_db;
    if (!header_database(req, &hdr_db, start_ns))
        return;
    struct sql_body b;
    char msg[ERRBUF_SIZE];
    if (parse_sql_body(req, allow_format, &b, msg, sizeof(msg)) != RC_OK) {
        respond_query_error(req, 400, msg, start_ns);
        json_free(&b.doc);
        return;
    }
    struct run_opts ro = {.fmt = allow_format ? b.format : forced,
                          .sql = b.sql,
                          .header_db = hdr_db,
                          .use_cache = use_cache};
    run_query(req, &ro);
    json_free(&b.doc);
}

void api_query_sql(struct http_request *req)
{
    sql_endpoint(req, QENC_JSON, true, true);
}

void api_query_arrow(struct http_request *req)
{
    sql_endpoint(req, QENC_ARROW, false, false);
}

void api_query_stream_csv(struct http_request *req)
{
    sql_endpoint(req, QENC_CSV, false, false);
}

/* ---- estimate (SPEC §4.11) ------------------------------------------------------ */

static void thousands(char *out, size_t cap, int64_t v)
{
    char digits[32];
    snprintf(digits, sizeof(digits), "%lld", (long long)(v < 0 ? -v : v));
    size_t nd = strlen(digits), o = 0;
    if (v < 0 && o + 1 < cap)
        out[o++] = '-';
    for (size_t i = 0; i < nd && o + 2 < cap; i++) {
        if (i && (nd - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

static void estimate_error(struct http_request *req, int status, const char *msg, int64_t start_ns)
{
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", false);
    jsonw_kv_null(&w, "estimated_rows");
    jsonw_kv_str(&w, "warning_level", "error");
    jsonw_kv_str(&w, "error", msg);
    jsonw_kv_str(&w, "detail", msg);
    jsonw_key(&w, "execution_time_ms");
    jsonw_f64_fixed(&w, elapsed_ms(start_ns), 3);
    if (status == 503)
        http_add_header(req, "Retry-After", "1");
    api_json_send(req, status, &sb, &w);
}

void api_query_estimate(struct http_request *req)
{
    struct app *app = http_req_app(req);
    int64_t start_ns = http_req_start_ns(req);
    const char *hdr = http_req_header(req, "x-arc-database");
    if (hdr && !name_is_valid_database(hdr, strlen(hdr))) {
        estimate_error(req, 400, "Invalid database name in x-arc-database", start_ns);
        return;
    }
    struct sql_body b;
    char msg[ERRBUF_SIZE];
    if (parse_sql_body(req, false, &b, msg, sizeof(msg)) != RC_OK) {
        estimate_error(req, 400, msg, start_ns);
        json_free(&b.doc);
        return;
    }
    struct query_engine *qe = api_query_engine(req);
    if (!qe) {
        estimate_error(req, 503, "Query engine not initialised", start_ns);
        json_free(&b.doc);
        return;
    }
    struct query_request qr = {.sql = b.sql,
                               .default_db = hdr,
                               .timeout_ms = app->cfg->query.estimate_timeout_seconds * 1000,
                               .allow_special = false};
    int64_t rows = 0;
    struct errbuf eb = {0};
    int rc = query_estimate(qe, &qr, &rows, &eb);
    json_free(&b.doc);
    if (rc != RC_OK) {
        int status = status_for_query_rc(rc);
        if (status == 500) {
            /* Execution failure: 200 with success false (SPEC §4.11). */
            char m[ERRBUF_SIZE + 32];
            snprintf(m, sizeof(m), "Cannot estimate query: %s", eb.msg);
            estimate_error(req, 200, m, start_ns);
        } else {
            estimate_error(req, status,
                           rc == RC_TIMEOUT ? "Estimate timed out"
                                            : (eb.msg[0] ? eb.msg : rc_name(rc)),
                           start_ns);
        }
        return;
    }
    const char *level = rows > 1000000  ? "high"
                        : rows > 100000 ? "medium"
                        : rows > 10000  ? "low"
                                        : "none";
    char num[40], wmsg[160];
    thousands(num, sizeof(num), rows);
    if (rows > 1000000)
        snprintf(wmsg, sizeof(wmsg),
                 "about %s rows; very large result, consider a LIMIT or a "
                 "narrower time range",
                 num);
    else if (rows > 100000)
        snprintf(wmsg, sizeof(wmsg), "about %s rows; expect a slow response", num);
    else if (rows > 10000)
        snprintf(wmsg, sizeof(wmsg), "about %s rows", num);
    else
        snprintf(wmsg, sizeof(wmsg), "about %s rows; small result", num);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_i64(&w, "estimated_rows", rows);
    jsonw_kv_str(&w, "warning_level", level);
    jsonw_kv_str(&w, "warning_message", wmsg);
    jsonw_key(&w, "execution_time_ms");
    jsonw_f64_fixed(&w, elapsed_ms(start_ns), 3);
    api_json_send(req, 200, &sb, &w);
}

/* ---- GET /api/v1/query/{measurement} (SPEC §4.8) ------------------------------- */

static int put_ident(struct strbuf *sb, const char *s, size_t n)
{
    int rc = strbuf_putc(sb, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        if (s[i] == '"')
            rc = strbuf_putc(sb, '"');
        if (!rc)
            rc = strbuf_putc(sb, s[i]);
    }
    return rc ? rc : strbuf_putc(sb, '"');
}

static bool column_known(const char *name, size_t n, const char *const *known, size_t n_known)
{
    if (n_known == 0)
        return true;
    if (n == 4 && strncmp(name, "time", 4) == 0)
        return true;
    for (size_t i = 0; i < n_known; i++)
        if (strlen(known[i]) == n && memcmp(known[i], name, n) == 0)
            return true;
    return false;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* One column reference of `columns` / `order_by`: bare or "quoted" (with
 * "" for a quote). Writes the unquoted name to name (cap bytes). */
static bool parse_colref(const char *s, size_t n, char *name, size_t cap, size_t *out_len)
{
    size_t o = 0;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] == '"') {
                if (i + 2 < n && s[i + 1] == '"')
                    i++;
                else
                    return false;
            }
            if (o + 1 >= cap)
                return false;
            name[o++] = s[i];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '"' || s[i] == ' ' || s[i] == '\t' || (unsigned char)s[i] < 0x20)
                return false;
            if (o + 1 >= cap)
                return false;
            name[o++] = s[i];
        }
    }
    if (o == 0 || o > COLUMN_NAME_MAX)
        return false;
    name[o] = '\0';
    *out_len = o;
    return true;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

int api_query_build_measurement_sql(const struct api_measurement_query *q, const char *const *known,
                                    size_t n_known, struct strbuf *out, struct errbuf *eb)
{
    if (!q->database || !name_is_valid_database(q->database, strlen(q->database)))
        return errbuf_set(eb, RC_INVALID, "Invalid database name");
    if (!q->measurement || !name_is_valid_measurement(q->measurement, strlen(q->measurement)))
        return errbuf_set(eb, RC_INVALID, "Invalid measurement name");
    char name[COLUMN_NAME_MAX + 2];
    size_t nl;
    int rc = strbuf_puts(out, "SELECT ");
    /* columns */
    if (q->columns && *q->columns) {
        const char *p = q->columns;
        bool first = true;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            const char *item = p;
            trim(&item, &n);
            if (!parse_colref(item, n, name, sizeof(name), &nl))
                return errbuf_set(eb, RC_INVALID, "Invalid column name in columns: '%.*s'",
                                  (int)(n > 64 ? 64 : n), item);
            if (!column_known(name, nl, known, n_known))
                return errbuf_set(eb, RC_INVALID, "Unknown column in columns: '%s'", name);
            if (!rc && !first)
                rc = strbuf_puts(out, ", ");
            if (!rc)
                rc = put_ident(out, name, nl);
            first = false;
            if (!e)
                break;
            p = e + 1;
        }
    } else if (!rc) {
        rc = strbuf_putc(out, '*');
    }
    if (!rc)
        rc = strbuf_puts(out, " FROM ");
    if (!rc)
        rc = put_ident(out, q->database, strlen(q->database));
    if (!rc)
        rc = strbuf_putc(out, '.');
    if (!rc)
        rc = put_ident(out, q->measurement, strlen(q->measurement));

    /* filters */
    bool have_where = false;
    int64_t ts;
    char tsb[64];
    const char *bounds[2] = {q->start_time, q->end_time};
    for (int i = 0; i < 2; i++) {
        if (!bounds[i] || !*bounds[i])
            continue;
        if (!time_parse_rfc3339(bounds[i], strlen(bounds[i]), &ts))
            return errbuf_set(eb, RC_INVALID, "Invalid %s: expected an RFC 3339 timestamp",
                              i == 0 ? "start_time" : "end_time");
        time_format_rfc3339_us(ts, tsb, sizeof(tsb));
        if (!rc)
            rc = strbuf_printf(out, "%s\"time\" %s TIMESTAMPTZ '%s'",
                               have_where ? " AND " : " WHERE ", i == 0 ? ">=" : "<", tsb);
        have_where = true;
    }
    if (q->where && *q->where) {
        struct pred *p;
        int prc = pred_parse(q->where, strlen(q->where), &p, eb);
        if (prc)
            return prc;
        for (size_t i = 0; i < pred_column_count(p); i++) {
            const char *c = pred_column(p, i);
            if (!column_known(c, strlen(c), known, n_known)) {
                prc = errbuf_set(eb, RC_INVALID, "Unknown column in where: '%s'", c);
                pred_free(&p);
                return prc;
            }
        }
        if (!rc)
            rc = strbuf_puts(out, have_where ? " AND " : " WHERE ");
        if (!rc)
            rc = pred_render(p, out);
        pred_free(&p);
    }

    /* order */
    if (!rc)
        rc = strbuf_puts(out, " ORDER BY ");
    if (q->order_by && *q->order_by) {
        const char *p = q->order_by;
        bool first = true;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            const char *item = p;
            trim(&item, &n);
            /* Split off a trailing ASC / DESC. */
            const char *dir = "ASC";
            size_t cn = n;
            if (n > 4 && strncasecmp(item + n - 4, " ASC", 4) == 0) {
                cn = n - 4;
            } else if (n > 5 && strncasecmp(item + n - 5, " DESC", 5) == 0) {
                cn = n - 5;
                dir = "DESC";
            }
            const char *col = item;
            trim(&col, &cn);
            if (!parse_colref(col, cn, name, sizeof(name), &nl))
                return errbuf_set(eb, RC_INVALID,
                                  "Invalid order_by item '%.*s': expected 'column [ASC|DESC]'",
                                  (int)(n > 64 ? 64 : n), item);
            if (!column_known(name, nl, known, n_known))
                return errbuf_set(eb, RC_INVALID, "Unknown column in order_by: '%s'", name);
            if (!rc && !first)
                rc = strbuf_puts(out, ", ");
            if (!rc)
                rc = put_ident(out, name, nl);
            if (!rc)
                rc = strbuf_printf(out, " %s", dir);
            first = false;
            if (!e)
                break;
            p = e + 1;
        }
    } else if (!rc) {
        rc = strbuf_puts(out, "\"time\" DESC");
    }

    uint64_t limit = 100, offset = 0;
    if (q->limit && !parse_uint(q->limit, 1000000, &limit))
        return errbuf_set(eb, RC_INVALID, "Invalid limit: expected an integer 0..1000000");
    if (q->offset && !parse_uint(q->offset, UINT64_C(1000000000000), &offset))
        return errbuf_set(eb, RC_INVALID, "Invalid offset: expected a non-negative integer");
    if (!rc)
        rc = strbuf_printf(out, " LIMIT %" PRIu64 " OFFSET %" PRIu64, limit, offset);
    if (rc)
        return errbuf_set(eb, rc, "query too long");
    return RC_OK;
}

static void measurement_query(struct http_request *req, bool csv)
{
    struct app *app = http_req_app(req);
    int64_t start_ns = http_req_start_ns(req);
    const char *db = http_req_query(req, "database");
    if (!db)
        db = http_req_header(req, "x-arc-database");
    if (!db)
        db = app->cfg->storage.database;
    const char *m = http_req_param(req, "measurement");
    if (!name_is_valid_database(db, strlen(db))) {
        respond_query_error(req, 400, "Invalid database name", start_ns);
        return;
    }
    if (!m || !name_is_valid_measurement(m, strlen(m))) {
        respond_query_error(req, 400, "Invalid measurement name", start_ns);
        return;
    }
    struct catalog_column *cols = NULL;
    size_t ncols = 0;
    if (app->catalog)
        catalog_schema_get(app->catalog, db, m, &cols, &ncols);
    const char **known = xcalloc(ncols + 1, sizeof(*known));
    for (size_t i = 0; i < ncols; i++)
        known[i] = cols[i].name;
    struct api_measurement_query q = {
        .database = db,
        .measurement = m,
        .columns = http_req_query(req, "columns"),
        .start_time = http_req_query(req, "start_time"),
        .end_time = http_req_query(req, "end_time"),
        .where = http_req_query(req, "where"),
        .order_by = http_req_query(req, "order_by"),
        .limit = http_req_query(req, "limit"),
        .offset = http_req_query(req, "offset"),
    };
    struct strbuf sql;
    strbuf_init(&sql, 0);
    struct errbuf eb = {0};
    int rc = api_query_build_measurement_sql(&q, known, ncols, &sql, &eb);
    xfree(known);
    catalog_columns_free(&cols);
    if (rc) {
        respond_query_error(req, 400, eb.msg, start_ns);
        strbuf_cleanup(&sql);
        return;
    }
    char fname[MEASUREMENT_NAME_MAX + 8];
    snprintf(fname, sizeof(fname), "%s.csv", m);
    struct run_opts ro = {.fmt = csv ? QENC_CSV : QENC_JSON,
                          .sql = sql.data,
                          .header_db = db,
                          .csv_filename = fname,
                          .use_cache = false};
    run_query(req, &ro);
    strbuf_cleanup(&sql);
}

void api_query_measurement(struct http_request *req)
{
    measurement_query(req, false);
}

void api_query_measurement_csv(struct http_request *req)
{
    measurement_query(req, true);
}

/* ---- measurements and databases (SPEC §4.9, §4.10) ----------------------------- */

static void storage_path(const struct config *cfg, const char *db, const char *m, char *out,
                         size_t cap)
{
    const char *be = cfg->storage.backend;
    if (strcmp(be, "s3") == 0) {
        snprintf(out, cap, "s3://%s/%s%s/%s/", cfg->storage.s3.bucket, cfg->storage.s3.prefix, db,
                 m);
    } else if (strcmp(be, "minio") == 0) {
        snprintf(out, cap, "s3://%s/%s/%s/", cfg->storage.minio.bucket, db, m);
    } else if (strcmp(be, "gcs") == 0) {
        snprintf(out, cap, "gs://%s/%s/%s/", cfg->storage.gcs.bucket, db, m);
    } else {
        const char *base = cfg->storage.local.base_path;
        size_t bl = strlen(base);
        while (bl > 1 && base[bl - 1] == '/')
            bl--;
        snprintf(out, cap, "%.*s/%s/%s/", (int)bl, base, db, m);
    }
}

static double mb2(uint64_t bytes)
{
    return round((double)bytes / (1024.0 * 1024.0) * 100.0) / 100.0;
}

void api_measurements_list(struct http_request *req)
{
    struct app *app = http_req_app(req);
    int64_t start_ns = http_req_start_ns(req);
    const char *filter = http_req_query(req, "database");
    if (filter && !name_is_valid_database(filter, strlen(filter))) {
        http_respond_error(req, 400, "Invalid database name");
        return;
    }
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t ndb = 0;
    if (filter) {
        dbs = xcalloc(1, sizeof(*dbs));
        snprintf(dbs[0], sizeof(dbs[0]), "%s", filter);
        ndb = 1;
    } else if (app->catalog) {
        catalog_databases(app->catalog, &dbs, &ndb);
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_key(&w, "measurements");
    jsonw_arr_begin(&w);
    size_t count = 0;
    for (size_t d = 0; d < ndb; d++) {
        struct catalog_measurement_info *ms = NULL;
        size_t nm = 0;
        if (app->catalog)
            catalog_measurements(app->catalog, dbs[d], &ms, &nm);
        for (size_t i = 0; i < nm; i++) {
            char path[1200];
            storage_path(app->cfg, dbs[d], ms[i].name, path, sizeof(path));
            jsonw_obj_begin(&w);
            jsonw_kv_str(&w, "database", dbs[d]);
            jsonw_kv_str(&w, "measurement", ms[i].name);
            jsonw_kv_u64(&w, "file_count", ms[i].file_count);
            jsonw_kv_f64(&w, "total_size_mb", mb2(ms[i].total_bytes));
            jsonw_kv_str(&w, "storage_path", path);
            jsonw_obj_end(&w);
            count++;
        }
        xfree(ms);
    }
    xfree(dbs);
    jsonw_arr_end(&w);
    jsonw_kv_u64(&w, "count", count);
    jsonw_key(&w, "execution_time_ms");
    jsonw_f64_fixed(&w, elapsed_ms(start_ns), 3);
    api_json_send(req, 200, &sb, &w);
}

static bool is_reserved_db(const char *name)
{
    return strcasecmp(name, "system") == 0 || strcasecmp(name, "internal") == 0 ||
           strcasecmp(name, "_internal") == 0;
}

#define MARKER_NAME ".arc-database"

/* Marker of `db`: true if it exists (its mtime in *mtime_us). */
static bool marker_exists(struct app *app, const char *db, int64_t *mtime_us)
{
    if (!app->storage)
        return false;
    char key[DB_NAME_MAX + 32];
    snprintf(key, sizeof(key), "%s/" MARKER_NAME, db);
    struct storage_object_info info;
    struct errbuf eb = {0};
    if (storage_head(app->storage, key, &info, &eb) != RC_OK)
        return false;
    if (mtime_us)
        *mtime_us = info.mtime_us;
    return true;
}

static size_t measurement_count(struct app *app, const char *db)
{
    struct catalog_measurement_info *ms = NULL;
    size_t n = 0;
    if (app->catalog)
        catalog_measurements(app->catalog, db, &ms, &n);
    xfree(ms);
    return n;
}

static bool db_exists(struct app *app, const char *db)
{
    return measurement_count(app, db) > 0 || marker_exists(app, db, NULL);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Databases: those with visible files plus (local storage) directories
 * holding a marker. Sorted, unique; *out freed with xfree. */
static void list_databases(struct app *app, char (**out)[DB_NAME_MAX + 1], size_t *n)
{
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t nd = 0;
    if (app->catalog)
        catalog_databases(app->catalog, &dbs, &nd);
    const char *root = app->storage ? storage_local_root(app->storage) : NULL;
    DIR *dir = root ? opendir(root) : NULL;
    if (dir) {
        struct dirent *de;
        while ((de = readdir(dir))) {
            size_t l = strlen(de->d_name);
            if (!name_is_valid_database(de->d_name, l))
                continue; /* also skips ".", "..", hidden and internal names */
            bool known = false;
            for (size_t i = 0; i < nd && !known; i++)
                known = strcmp(dbs[i], de->d_name) == 0;
            if (known || !marker_exists(app, de->d_name, NULL))
                continue;
            dbs = xrealloc(dbs, (nd + 1) * sizeof(*dbs));
            memcpy(dbs[nd], de->d_name, l + 1); /* l <= DB_NAME_MAX: validated */
            nd++;
        }
        closedir(dir);
    }
    if (nd > 1)
        qsort(dbs, nd, sizeof(*dbs), cmp_names);
    *out = dbs;
    *n = nd;
}

static void db_entry(struct jsonw *w, struct app *app, const char *db)
{
    int64_t mt = 0;
    jsonw_obj_begin(w);
    jsonw_kv_str(w, "name", db);
    jsonw_kv_u64(w, "measurement_count", measurement_count(app, db));
    if (marker_exists(app, db, &mt)) {
        jsonw_key(w, "created_at");
        jsonw_time_us(w, mt);
    }
    jsonw_obj_end(w);
}

void api_databases_list(struct http_request *req)
{
    struct app *app = http_req_app(req);
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t n = 0;
    list_databases(app, &dbs, &n);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "databases");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        db_entry(&w, app, dbs[i]);
    jsonw_arr_end(&w);
    jsonw_kv_u64(&w, "count", n);
    xfree(dbs);
    api_json_send(req, 200, &sb, &w);
}

/* Validates the {name} path parameter; responds and returns NULL if bad or
 * (must_exist) absent. */
static const char *db_param(struct http_request *req, bool must_exist)
{
    const char *name = http_req_param(req, "name");
    if (!name || !name_is_valid_database(name, strlen(name))) {
        http_respond_error(req, 400, "Invalid database name");
        return NULL;
    }
    if (must_exist && !db_exists(http_req_app(req), name)) {
        http_respond_error(req, 404, "Database not found");
        return NULL;
    }
    return name;
}

void api_database_get(struct http_request *req)
{
    const char *name = db_param(req, true);
    if (!name)
        return;
    struct strbuf sb;
    struct jsonw w;
    strbuf_init(&sb, 0);
    jsonw_init(&w, &sb);
    db_entry(&w, http_req_app(req), name);
    if (jsonw_finish(&w) != RC_OK) {
        strbuf_cleanup(&sb);
        http_respond_error(req, 500, "Internal error");
        return;
    }
    http_respond_json(req, 200, &sb);
}

void api_database_measurements(struct http_request *req)
{
    struct app *app = http_req_app(req);
    const char *name = db_param(req, true);
    if (!name)
        return;
    struct catalog_measurement_info *ms = NULL;
    size_t n = 0;
    if (app->catalog)
        catalog_measurements(app->catalog, name, &ms, &n);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "database", name);
    jsonw_key(&w, "measurements");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(&w);
        jsonw_kv_str(&w, "name", ms[i].name);
        jsonw_kv_u64(&w, "file_count", ms[i].file_count);
        jsonw_kv_f64(&w, "total_size_mb", mb2(ms[i].total_bytes));
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    jsonw_kv_u64(&w, "count", n);
    xfree(ms);
    api_json_send(req, 200, &sb, &w);
}

/* Creates {db}/.arc-database through storage (atomic, no-clobber). */
static int create_marker(struct app *app, const char *db, struct errbuf *eb)
{
    char key[DB_NAME_MAX + 32], path[4096];
    snprintf(key, sizeof(key), "%s/" MARKER_NAME, db);
    int rc = storage_staging_path(app->storage, key, path, sizeof(path), eb);
    if (rc)
        return rc;
    FILE *f = fopen(path, "w");
    if (!f)
        return errbuf_set(eb, RC_IO, "cannot create %s: %s", path, strerror(errno));
    char ts[64];
    time_format_rfc3339_us(time_now_us(), ts, sizeof(ts));
    fprintf(f, "{\"name\":\"%s\",\"created_at\":\"%s\"}\n", db, ts);
    if (fclose(f) != 0) {
        rc = errbuf_set(eb, RC_IO, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return rc;
    }
    uint64_t bytes = 0;
    rc = storage_put_file(app->storage, path, key, STORAGE_PUT_NOREPLACE, &bytes, eb);
    if (rc)
        unlink(path);
    return rc;
}

void api_database_create(struct http_request *req)
{
    struct app *app = http_req_app(req);
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    struct json_value *doc = NULL;
    struct errbuf eb = {0};
    if (!body || json_parse(body, len, &doc, &eb) != RC_OK || json_type(doc) != JSON_OBJECT) {
        json_free(&doc);
        http_respond_error(req, 400, "Request body must be a JSON object with a \"name\" field");
        return;
    }
    size_t nl = 0;
    const char *name = json_as_str(json_obj_get(doc, "name"), &nl);
    char db[DB_NAME_MAX + 1];
    if (!name || nl > DB_NAME_MAX || memchr(name, '\0', nl)) {
        json_free(&doc);
        http_respond_error(req, 400, "Invalid database name");
        return;
    }
    snprintf(db, sizeof(db), "%s", name);
    json_free(&doc);
    if (is_reserved_db(db)) {
        http_respond_error(req, 403, "Database name is reserved");
        return;
    }
    if (!name_is_valid_database(db, strlen(db))) {
        http_respond_error(req, 400,
                           "Invalid database name: must match ^[A-Za-z][A-Za-z0-9_-]*$ "
                           "and be at most 64 characters");
        return;
    }
    if (!app->storage) {
        http_respond_error(req, 503, "Storage not initialised");
        return;
    }
    if (db_exists(app, db)) {
        http_respond_error(req, 409, "Database already exists");
        return;
    }
    int rc = create_marker(app, db, &eb);
    if (rc == RC_EXISTS) {
        http_respond_error(req, 409, "Database already exists");
        return;
    }
    if (rc) {
        log_error("query", "database create failed db=%s err=%s", db, eb.msg);
        http_respond_error(req, 500, "Cannot create database");
        return;
    }
    log_info("query", "database created db=%s principal=%s", db,
             http_req_principal(req) ? http_req_principal(req) : "-");
    struct strbuf sb;
    struct jsonw w;
    strbuf_init(&sb, 0);
    jsonw_init(&w, &sb);
    db_entry(&w, app, db);
    if (jsonw_finish(&w) != RC_OK) {
        strbuf_cleanup(&sb);
        http_respond_error(req, 500, "Internal error");
        return;
    }
    http_respond_json(req, 201, &sb);
}

/* Every visible file of db: keys (pointing into lists) and ids. */
struct db_files {
    struct catalog_file_list *lists;
    size_t nlists;
    const char **keys;
    uint64_t *ids;
    size_t n;
};

static void db_files_collect(struct app *app, const char *db, struct db_files *f)
{
    memset(f, 0, sizeof(*f));
    struct catalog_measurement_info *ms = NULL;
    size_t nm = 0;
    catalog_measurements(app->catalog, db, &ms, &nm);
    f->lists = xcalloc(nm + 1, sizeof(*f->lists));
    size_t total = 0;
    for (size_t i = 0; i < nm; i++) {
        catalog_files_list(app->catalog, db, ms[i].name, INT64_MIN, INT64_MAX, &f->lists[i]);
        total += f->lists[i].n;
    }
    f->nlists = nm;
    xfree(ms);
    f->keys = xcalloc(total + 1, sizeof(*f->keys));
    f->ids = xcalloc(total + 1, sizeof(*f->ids));
    for (size_t i = 0; i < nm; i++)
        for (size_t k = 0; k < f->lists[i].n; k++) {
            f->keys[f->n] = f->lists[i].files[k].key;
            f->ids[f->n++] = f->lists[i].files[k].id;
        }
}

static void db_files_free(struct db_files *f)
{
    for (size_t i = 0; i < f->nlists; i++)
        catalog_file_list_free(&f->lists[i]);
    xfree(f->lists);
    xfree(f->keys);
    xfree(f->ids);
}

void api_database_delete(struct http_request *req)
{
    struct app *app = http_req_app(req);
    int64_t start_ns = http_req_start_ns(req);
    if (!app->cfg->delete.enabled) {
        http_respond_error(req, 403, "Delete operations are disabled (delete.enabled = false)");
        return;
    }
    const char *confirm = http_req_query(req, "confirm");
    if (!confirm || strcasecmp(confirm, "true") != 0) {
        http_respond_error(req, 400, "Deleting a database requires ?confirm=true");
        return;
    }
    const char *name = db_param(req, true);
    if (!name)
        return;
    if (!app->catalog || !app->storage) {
        http_respond_error(req, 503, "Storage not initialised");
        return;
    }
    struct errbuf eb = {0};
    /* Rows acknowledged before this request are deleted too: flush them
     * into files first (SPEC §8.3 rule 6 applies the same way). */
    if (app->colbuf) {
        int rc = colbuf_flush_wait(app->colbuf, name, NULL, DELETE_FLUSH_TIMEOUT_MS, NULL, &eb);
        if (rc) {
            log_error("query", "database delete: flush failed db=%s err=%s", name, eb.msg);
            http_respond_error(req, status_for_query_rc(rc),
                               "Cannot flush buffered rows before deleting the database");
            return;
        }
    }
    struct db_files f;
    db_files_collect(app, name, &f);
    size_t failed = 0;
    int rc = f.n ? storage_delete_many(app->storage, f.keys, f.n, &failed, &eb) : RC_OK;
    size_t nremove = f.n;
    if (rc) {
        /* Forget only the files that are really gone. */
        nremove = 0;
        for (size_t i = 0; i < f.n; i++) {
            struct storage_object_info info;
            struct errbuf e2 = {0};
            if (storage_head(app->storage, f.keys[i], &info, &e2) == RC_NOT_FOUND)
                f.ids[nremove++] = f.ids[i];
        }
        log_error("query", "database delete: %zu of %zu files not deleted db=%s err=%s", failed,
                  f.n, name, eb.msg);
    }
    struct errbuf eb2 = {0};
    int crc = nremove ? catalog_files_remove(app->catalog, f.ids, nremove, &eb2) : RC_OK;
    if (crc)
        log_error("query", "database delete: catalog update failed db=%s err=%s", name, eb2.msg);
    char mkey[DB_NAME_MAX + 32];
    snprintf(mkey, sizeof(mkey), "%s/" MARKER_NAME, name);
    struct errbuf eb3 = {0};
    int mrc = rc ? RC_OK : storage_delete(app->storage, mkey, &eb3);
    if (mrc)
        log_error("query", "database delete: marker not removed db=%s err=%s", name, eb3.msg);
    /* Whatever happened, cached results may now be stale. */
    if (api_query_cache(req))
        qcache_clear(api_query_cache(req));
    (void)query_cache_clear();
    size_t deleted = nremove;
    log_info("query", "database deleted db=%s files=%zu failed=%zu principal=%s", name, deleted,
             failed, http_req_principal(req) ? http_req_principal(req) : "-");
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    bool ok = rc == RC_OK && crc == RC_OK && mrc == RC_OK;
    jsonw_kv_bool(&w, "success", ok);
    if (ok) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Database '%s' deleted", name);
        jsonw_kv_str(&w, "message", msg);
    } else {
        const char *msg = rc    ? "Some files could not be deleted"
                          : crc ? "Files deleted but the catalog update failed"
                                : "Data deleted but the database marker could not be removed";
        jsonw_kv_str(&w, "error", msg);
        jsonw_kv_str(&w, "detail", msg);
    }
    jsonw_kv_str(&w, "database", name);
    jsonw_kv_u64(&w, "files_deleted", deleted);
    jsonw_kv_u64(&w, "files_failed", rc ? f.n - nremove : 0);
    jsonw_key(&w, "execution_time_ms");
    jsonw_f64_fixed(&w, elapsed_ms(start_ns), 3);
    db_files_free(&f);
    api_json_send(req, ok ? 200 : 500, &sb, &w);
}

/* ---- query cache endpoints (SPEC §4.12) ------------------------------------------ */

static double hit_rate(const struct qcache_stats *st)
{
    return st->total_requests
               ? round((double)st->hits * 10000.0 / (double)st->total_requests) / 100.0
               : 0.0;
}

void api_cache_stats(struct http_request *req)
{
    struct qcache *c = api_query_cache(req);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    if (!qcache_enabled(c)) {
        jsonw_kv_bool(&w, "enabled", false);
        jsonw_kv_str(&w, "message", "Query cache is disabled (query_cache.enabled = false)");
        api_json_send(req, 200, &sb, &w);
        return;
    }
    const struct qcache_options *o = qcache_options(c);
    struct qcache_stats st;
    qcache_get_stats(c, &st);
    jsonw_kv_bool(&w, "enabled", true);
    jsonw_kv_i64(&w, "ttl_seconds", o->ttl_ms / 1000);
    jsonw_kv_u64(&w, "max_size", o->max_entries);
    jsonw_kv_u64(&w, "max_result_size_mb", o->max_result_bytes >> 20);
    jsonw_kv_u64(&w, "current_size", st.current_size);
    jsonw_kv_f64(&w, "utilization_percent",
                 round((double)st.current_size * 10000.0 / (double)o->max_entries) / 100.0);
    jsonw_kv_f64(&w, "total_size_mb", mb2(st.total_bytes));
    jsonw_key(&w, "metrics");
    jsonw_obj_begin(&w);
    jsonw_kv_u64(&w, "total_requests", st.total_requests);
    jsonw_kv_u64(&w, "hits", st.hits);
    jsonw_kv_u64(&w, "misses", st.misses);
    jsonw_kv_f64(&w, "hit_rate_percent", hit_rate(&st));
    jsonw_kv_u64(&w, "evictions", st.evictions);
    jsonw_kv_u64(&w, "expirations", st.expirations);
    jsonw_obj_end(&w);
    size_t max = st.current_size + 8;
    struct qcache_entry_info *ents = xcalloc(max, sizeof(*ents));
    size_t n = qcache_list(c, ents, max);
    jsonw_key(&w, "entries");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(&w);
        jsonw_kv_str(&w, "key_hash", ents[i].key_hash);
        jsonw_key(&w, "age_seconds");
        jsonw_f64_fixed(&w, ents[i].age_seconds, 1);
        jsonw_kv_u64(&w, "row_count", ents[i].row_count);
        jsonw_kv_u64(&w, "columns", ents[i].columns);
        jsonw_key(&w, "cached_at");
        jsonw_time_us(&w, ents[i].cached_at_us);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    xfree(ents);
    api_json_send(req, 200, &sb, &w);
}

void api_cache_health(struct http_request *req)
{
    struct qcache *c = api_query_cache(req);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    if (!qcache_enabled(c)) {
        jsonw_kv_bool(&w, "enabled", false);
        jsonw_kv_bool(&w, "healthy", true);
        api_json_send(req, 200, &sb, &w);
        return;
    }
    const struct qcache_options *o = qcache_options(c);
    struct qcache_stats st;
    qcache_get_stats(c, &st);
    double rate = hit_rate(&st);
    double util = (double)st.current_size * 100.0 / (double)o->max_entries;
    /* Advisory: a cache that is hardly ever hit after a warm-up, or that is
     * full and evicting, is not doing its job. */
    bool low_hits = st.total_requests >= 100 && rate < 10.0;
    bool full = util >= 90.0;
    jsonw_kv_bool(&w, "healthy", !low_hits);
    jsonw_kv_f64(&w, "hit_rate_percent", rate);
    jsonw_kv_u64(&w, "current_size", st.current_size);
    jsonw_kv_u64(&w, "total_requests", st.total_requests);
    jsonw_key(&w, "warnings");
    jsonw_arr_begin(&w);
    if (low_hits)
        jsonw_str(&w, "Low hit rate: most queries are not repeated within the TTL");
    if (full)
        jsonw_str(&w, "Cache nearly full: consider a larger query_cache.max_size");
    jsonw_arr_end(&w);
    api_json_send(req, 200, &sb, &w);
}

void api_cache_clear(struct http_request *req)
{
    struct qcache *c = api_query_cache(req);
    size_t n = c ? qcache_clear(c) : 0;
    log_info("query", "query cache cleared entries=%zu principal=%s", n,
             http_req_principal(req) ? http_req_principal(req) : "-");
    char msg[64];
    snprintf(msg, sizeof(msg), "cleared %zu cached results", n);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "message", msg);
    jsonw_kv_u64(&w, "cleared", n);
    api_json_send(req, 200, &sb, &w);
}
