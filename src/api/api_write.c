/*
 * api/api_write.c — ingestion endpoints (SPEC §1): line protocol on every
 * InfluxDB-compatible path, MessagePack, flush, stats and health.
 *
 * Request flow (all on the connection's I/O thread — the routes are
 * HTTP_EXEC_INLINE — with no disk I/O and no blocking wait):
 *
 *   api_write_begin   target database, precision, Content-Encoding (415),
 *                     body decoder with the decoded-size cap (SPEC R4)
 *   api_write_body    each wire chunk → body_decoder_feed (413 as soon as
 *                     the decoded size passes the cap)
 *   api_write_lp /    decode → batches → wal_prepare → colbuf_admit (503 on
 *   api_write_msgpack back-pressure, nothing admitted) → wal_commit_async:
 *                     the request is deferred (connection suspended) until
 *                     the WAL writer reports the records written/durable
 *   lp_finish /       (WAL off: at once) → 204, or 400 with the partial-
 *   mp_finish         write report (valid lines are kept), or 500 if the
 *                     WAL write failed
 */
#include "api/api_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "codec/codec.h"
#include "flush/flusher.h"
#include "ingest/batch.h"
#include "ingest/lp.h"
#include "ingest/msgpack.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "wal/wal.h"
#include "api/api_wal.h"

/* Per-request state of a write, freed with the request. */
struct write_req {
    char db[DB_NAME_MAX + 1];
    enum lp_precision precision;
    int mp_unit; /* msgpack forced unit, 0 = infer */
    struct body_decoder *dec;
    /* The decoded request, kept until the response (past the WAL wait). */
    struct lp_result lp;
    struct mpdec_result mp; /* both zero when unused (cleanup is then a no-op) */
    /* Outcome of the deferred WAL commit (set on the WAL writer thread
     * before the resume, read on the I/O thread after it). */
    int wal_rc;
    char wal_err[200];
};

static void write_req_release(struct write_req *w)
{
    lp_result_cleanup(&w->lp);
    mpdec_result_cleanup(&w->mp);
}

static void write_req_free(void *p)
{
    struct write_req *w = p;
    write_req_release(w);
    body_decoder_free(&w->dec);
    xfree(w);
}

static bool path_is(struct http_request *req, const char *p)
{
    return strcmp(http_req_path(req), p) == 0;
}

/* Picks the target database per SPEC §1.1. Returns NULL and responds 400 if
 * the name is invalid. */
static bool resolve_database(struct http_request *req, const struct app *app, char *out)
{
    const char *db = http_req_header(req, "x-arc-database");
    char tmp[256];
    if (!db || !*db) {
        db = NULL;
        if (path_is(req, "/write") || path_is(req, "/api/v1/write")) {
            db = http_req_query(req, "db");
        } else if (path_is(req, "/api/v2/write") || path_is(req, "/api/v1/write/influxdb")) {
            const char *bucket = http_req_query(req, "bucket");
            if (bucket) {
                /* InfluxDB "db/rp" convention: keep the part before '/'. */
                snprintf(tmp, sizeof(tmp), "%s", bucket);
                char *slash = strchr(tmp, '/');
                if (slash)
                    *slash = '\0';
                db = tmp;
            }
        }
        if (!db || !*db)
            db = app->cfg->storage.database;
    }
    if (!name_is_valid_database(db, strlen(db))) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Invalid database name: '%.80s'", db);
        http_respond_write_error(req, 400, msg);
        return false;
    }
    snprintf(out, DB_NAME_MAX + 1, "%.*s", DB_NAME_MAX, db);
    return true;
}

static void count_error(struct app *app)
{
    atomic_fetch_add(&app->wstats.total_errors, 1);
    metric_inc(app->m_ingest_errors);
}

int api_write_begin(struct http_request *req)
{
    struct app *app = http_req_app(req);
    if (atomic_load(&app->shutting_down)) {
        count_error(app);
        http_respond_write_error(req, 503, "Server is shutting down");
        return RC_SHUTDOWN;
    }
    struct write_req *w = xcalloc(1, sizeof(*w));
    http_req_set_user(req, w, write_req_free);
    if (!resolve_database(req, app, w->db)) {
        count_error(app);
        return RC_INVALID;
    }
    const char *prec = http_req_query(req, "precision");
    bool is_msgpack = path_is(req, "/api/v1/write/msgpack");
    if (is_msgpack) {
        static const char *units[] = {"", "s", "ms", "us", "ns"};
        w->mp_unit = 0;
        if (prec && *prec) {
            for (int i = 1; i <= 4; i++)
                if (!strcmp(prec, units[i]))
                    w->mp_unit = i;
            if (!w->mp_unit) {
                count_error(app);
                http_respond_write_error(req, 400, "Invalid precision: use ns, us, ms or s");
                return RC_INVALID;
            }
        }
    } else if (lp_precision_parse(prec, &w->precision) != RC_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid precision '%.40s': use ns, us, ms, s, m or h", prec);
        count_error(app);
        http_respond_write_error(req, 400, msg);
        return RC_INVALID;
    }
    enum codec_encoding enc;
    if (codec_encoding_from_header(http_req_header(req, "Content-Encoding"), &enc) != RC_OK) {
        metric_inc(app->m_body_bad_encoding);
        count_error(app);
        http_respond_write_error(req, 415,
                                 "Unsupported Content-Encoding: use gzip, zstd or identity");
        return RC_UNSUPPORTED;
    }
    size_t max_out = (size_t)app->cfg->server.max_decompressed_size_mb << 20;
    w->dec = body_decoder_new(enc, max_out);
    return RC_OK;
}

/* Maps a decoder error to a response. */
static void respond_decode_error(struct http_request *req, struct app *app, int rc,
                                 const struct errbuf *eb)
{
    count_error(app);
    int status = http_status_for_rc(rc);
    if (rc == RC_LIMIT)
        metric_inc(app->m_body_decomp_too_large);
    else if (rc == RC_PARSE)
        metric_inc(app->m_body_bad_encoding);
    if (status == 503)
        http_add_header(req, "Retry-After", "1");
    http_respond_write_error(req, status, eb->msg[0] ? eb->msg : "Invalid request body");
}

int api_write_body(struct http_request *req, const char *data, size_t len)
{
    struct write_req *w = http_req_user(req);
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = body_decoder_feed(w->dec, data, len, &eb);
    if (rc != RC_OK) {
        respond_decode_error(req, http_req_app(req), rc, &eb);
        body_decoder_free(&w->dec);
    }
    return rc;
}

/* The decoded body is not needed once parsed (rows are copied into batches,
 * error lines into the result): give it back before the WAL wait, so that
 * requests parked on the WAL do not each hold their body (tens of KB to MBs)
 * and the next request reuses that memory while it is still in cache. */
static void release_body(struct write_req *w)
{
    body_decoder_free(&w->dec);
}

/* Finishes decoding; responds and returns NULL on error or empty body. */
static const char *finish_body(struct http_request *req, struct write_req *w, size_t *len)
{
    struct app *app = http_req_app(req);
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = body_decoder_finish(w->dec, &eb);
    if (rc != RC_OK) {
        respond_decode_error(req, app, rc, &eb);
        return NULL;
    }
    const char *data = body_decoder_data(w->dec, len);
    if (*len == 0) {
        count_error(app);
        http_respond_write_error(req, 400, "Empty request body");
        return NULL;
    }
    atomic_fetch_add(&app->wstats.total_bytes, *len);
    metric_add(app->m_ingest_bytes, *len);
    if (body_decoder_encoding(w->dec) != CODEC_IDENTITY)
        atomic_fetch_add(&app->wstats.total_bytes_gzipped, body_decoder_wire_bytes(w->dec));
    return data;
}

static void respond_admit_error(struct http_request *req, struct app *app, int rc, const char *msg)
{
    count_error(app);
    int status = http_status_for_rc(rc);
    if (rc == RC_BUSY) {
        metric_inc(app->m_backpressure);
        http_add_header(req, "Retry-After", "1");
    }
    http_respond_write_error(req, status, msg && *msg ? msg : "Write buffer unavailable");
}

/* WAL writer thread: the deferred commit is done. */
static void wal_done(void *ctx, int rc, const char *err)
{
    struct http_request *req = ctx;
    struct write_req *w = http_req_user(req);
    w->wal_rc = rc;
    snprintf(w->wal_err, sizeof(w->wal_err), "%s", err ? err : "");
    http_req_resume(req);
}

enum admit_result {
    ADMIT_FAILED,  /* responded (503/413/500) */
    ADMIT_DONE,    /* admitted (and logged): respond now */
    ADMIT_WAITING, /* admitted; deferred until the WAL commit, then `finish` runs */
};

/* Admits decoded batches, logging them first when the WAL is on. */
static enum admit_result admit(struct http_request *req, struct app *app,
                               struct batch *const *batches, size_t n, http_handler_fn finish)
{
    if (n == 0)
        return ADMIT_DONE;
    struct errbuf eb;
    errbuf_clear(&eb);
    struct wal_ticket *tk = NULL;
    int rc = RC_OK;
    if (api_wal_global)
        rc = wal_prepare(api_wal_global, batches, n, &tk, &eb);
    if (rc == RC_OK) {
        rc = colbuf_admit(app->colbuf, batches, n, &eb);
        if (rc != RC_OK) {
            wal_abort(&tk);
        } else if (tk) {
            /* Suspend first: the WAL may finish before wal_commit_async
             * returns, and its resume must find the request parked. From
             * here the request is the WAL callback's: do not touch it. */
            http_req_defer(req, finish);
            wal_commit_async(&tk, wal_done, req);
            return ADMIT_WAITING;
        }
    }
    if (rc == RC_OK)
        return ADMIT_DONE;
    respond_admit_error(req, app, rc, eb.msg);
    return ADMIT_FAILED;
}

static void count_accepted(struct app *app, size_t rows, size_t nbatches)
{
    atomic_fetch_add(&app->wstats.total_records, rows);
    metric_add(app->m_ingest_records, rows);
    metric_add(app->m_ingest_batches, nbatches);
}

/* 400 partial-write response of SPEC §1.3. */
static void respond_partial(struct http_request *req, const struct lp_result *r)
{
    char summary[700];
    lp_summary_message(r, summary, sizeof(summary));
    char header[513];
    snprintf(header, sizeof(header), "%.512s", summary);
    http_add_header(req, "X-Influxdb-Error", header);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", false);
    jsonw_kv_str(&w, "code", "invalid");
    jsonw_kv_str(&w, "error", summary);
    jsonw_kv_str(&w, "message", summary);
    jsonw_kv_str(&w, "detail", summary);
    jsonw_kv_u64(&w, "lines_received", r->lines_received);
    jsonw_kv_u64(&w, "lines_accepted", r->lines_accepted);
    jsonw_kv_u64(&w, "lines_rejected", r->lines_rejected);
    jsonw_key(&w, "errors");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->nerrors; i++) {
        jsonw_obj_begin(&w);
        jsonw_kv_u64(&w, "line", r->errors[i].line);
        jsonw_kv_str(&w, "error", r->errors[i].reason);
        jsonw_kv_str(&w, "text", r->errors[i].text);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    api_json_send(req, 400, &sb, &w);
}

/* Back-pressure before parsing: when the measurement of the first data line
 * already holds its hard limit of rows, the request cannot be admitted (all
 * or nothing), so answer 503 without spending CPU on parsing it. A request
 * whose first line is malformed or escaped is simply parsed. */
static bool first_key_full(struct app *app, const char *db, const char *body, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
            i++;
        if (i < len && body[i] == '#') {
            while (i < len && body[i] != '\n')
                i++;
            continue;
        }
        break;
    }
    size_t start = i;
    while (i < len && i - start <= MEASUREMENT_NAME_MAX && body[i] != ',' && body[i] != ' ') {
        if (body[i] == '\\' || body[i] == '\n')
            return false;
        i++;
    }
    size_t n = i - start;
    if (n == 0 || n > MEASUREMENT_NAME_MAX || !name_is_valid_measurement(body + start, n))
        return false;
    char meas[MEASUREMENT_NAME_MAX + 1];
    memcpy(meas, body + start, n);
    meas[n] = '\0';
    return colbuf_key_is_full(app->colbuf, db, meas);
}

/* The line-protocol request was admitted (and logged, WAL on): answer. */
static void lp_finish(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct write_req *w = http_req_user(req);
    const struct lp_result *r = &w->lp;
    if (w->wal_rc != RC_OK) {
        respond_admit_error(req, app, w->wal_rc, w->wal_err);
    } else {
        count_accepted(app, r->rows, r->nbatches);
        metric_add(app->m_lp_records, r->rows);
        if (r->lines_rejected > 0) {
            atomic_fetch_add(&app->wstats.total_lines_rejected, r->lines_rejected);
            metric_add(app->m_lines_rejected, r->lines_rejected);
            count_error(app);
            respond_partial(req, r);
        } else {
            http_respond(req, 204, NULL, NULL, 0);
        }
    }
    write_req_release(w);
}

void api_write_lp(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct write_req *w = http_req_user(req);
    atomic_fetch_add(&app->wstats.total_requests, 1);
    metric_inc(app->m_lp_requests);
    size_t len;
    const char *body = finish_body(req, w, &len);
    if (!body)
        return;

    if (first_key_full(app, w->db, body, len)) {
        count_error(app);
        metric_inc(app->m_backpressure);
        http_add_header(req, "Retry-After", "1");
        http_respond_write_error(req, 503, "Write buffer full for this measurement; retry later");
        return;
    }

    struct lp_options o = {
        .db = w->db,
        .precision = w->precision,
        .default_ts_us = time_now_us(),
        .max_line_bytes = (size_t)app->cfg->ingestion.max_line_bytes,
        .max_reported_errors = (size_t)app->cfg->ingestion.max_reported_errors,
        .schema = catalog_schema_checker(app->catalog),
    };
    struct lp_result *r = &w->lp;
    int64_t t0 = time_mono_ns();
    int rc = lp_parse(body, len, &o, r);
    metric_observe(app->m_decode_seconds, (double)(time_mono_ns() - t0) / 1e9);
    release_body(w);
    if (rc != RC_OK) {
        count_error(app);
        http_respond_write_error(req, http_status_for_rc(rc), "Cannot parse request body");
        write_req_release(w);
        return;
    }
    if (r->lines_received == 0) {
        count_error(app);
        http_respond_write_error(req, 400, "No valid records in request");
        write_req_release(w);
        return;
    }
    switch (admit(req, app, r->batches, r->nbatches, lp_finish)) {
    case ADMIT_FAILED: write_req_release(w); return;
    case ADMIT_WAITING: return;
    case ADMIT_DONE: lp_finish(req); return;
    }
}

/* The MessagePack request was admitted (and logged, WAL on): answer. */
static void mp_finish(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct write_req *w = http_req_user(req);
    if (w->wal_rc != RC_OK) {
        respond_admit_error(req, app, w->wal_rc, w->wal_err);
    } else {
        count_accepted(app, w->mp.rows, w->mp.nbatches);
        metric_add(app->m_mp_records, w->mp.rows);
        http_respond(req, 204, NULL, NULL, 0);
    }
    write_req_release(w);
}

void api_write_msgpack(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct write_req *w = http_req_user(req);
    atomic_fetch_add(&app->wstats.total_requests, 1);
    metric_inc(app->m_mp_requests);
    size_t len;
    const char *body = finish_body(req, w, &len);
    if (!body)
        return;
    struct mpdec_options o = {
        .db = w->db,
        .default_ts_us = time_now_us(),
        .forced_unit = w->mp_unit,
        .schema = catalog_schema_checker(app->catalog),
        .max_mem_bytes = 0,
    };
    struct mpdec_result *r = &w->mp;
    memset(r, 0, sizeof(*r));
    struct errbuf eb;
    errbuf_clear(&eb);
    int64_t t0 = time_mono_ns();
    int rc = mpdec_decode(body, len, &o, r, &eb);
    metric_observe(app->m_decode_seconds, (double)(time_mono_ns() - t0) / 1e9);
    release_body(w);
    if (rc != RC_OK) {
        atomic_fetch_add(&app->wstats.msgpack_errors, 1);
        count_error(app);
        http_respond_write_error(req, http_status_for_rc(rc),
                                 eb.msg[0] ? eb.msg : "Invalid MessagePack body");
        write_req_release(w);
        return;
    }
    atomic_fetch_add(&app->wstats.msgpack_decoded, 1);
    switch (admit(req, app, r->batches, r->nbatches, mp_finish)) {
    case ADMIT_FAILED: write_req_release(w); return;
    case ADMIT_WAITING: return;
    case ADMIT_DONE: mp_finish(req); return;
    }
}

void api_write_flush(struct http_request *req)
{
    struct app *app = http_req_app(req);
    const char *db = http_req_query(req, "database");
    const char *meas = http_req_query(req, "measurement");
    if (db && !name_is_valid_database(db, strlen(db))) {
        http_respond_error(req, 400, "Invalid database name");
        return;
    }
    if (meas && !name_is_valid_measurement(meas, strlen(meas))) {
        http_respond_error(req, 400, "Invalid measurement name");
        return;
    }
    uint64_t records = 0;
    struct errbuf eb;
    errbuf_clear(&eb);
    int64_t timeout_ms = (app->cfg->ingestion.flush_timeout_seconds + 5) * 1000;
    int rc = flusher_flush(app->flusher, db, meas, timeout_ms, &records, &eb);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    if (rc == RC_OK) {
        jsonw_kv_str(&w, "status", "success");
        jsonw_kv_str(&w, "message", "All buffers flushed");
        jsonw_kv_u64(&w, "flushed_records", records);
        api_json_send(req, 200, &sb, &w);
        return;
    }
    char msg[ERRBUF_SIZE + 32];
    snprintf(msg, sizeof(msg), "Flush failed: %s", eb.msg[0] ? eb.msg : rc_name(rc));
    jsonw_kv_str(&w, "status", "error");
    jsonw_kv_bool(&w, "success", false);
    jsonw_kv_str(&w, "error", msg);
    jsonw_kv_str(&w, "detail", msg);
    jsonw_kv_u64(&w, "flushed_records", records);
    api_json_send(req, 500, &sb, &w);
}

static void write_buffer_stats(struct jsonw *w, struct app *app)
{
    struct colbuf_stats st;
    colbuf_get_stats(app->colbuf, &st);
    jsonw_obj_begin(w);
    jsonw_kv_u64(w, "total_records_buffered", st.total_records_buffered);
    jsonw_kv_u64(w, "total_records_written", st.total_records_written);
    jsonw_kv_u64(w, "total_flushes", st.total_flushes);
    jsonw_kv_u64(w, "total_errors", st.total_errors);
    jsonw_kv_u64(w, "total_records_dropped", st.total_records_dropped);
    jsonw_key(w, "current_buffer_sizes");
    jsonw_obj_begin(w);
    struct colbuf_key_size *ks = NULL;
    size_t nk = 0;
    colbuf_key_sizes(app->colbuf, &ks, &nk);
    for (size_t i = 0; i < nk; i++) {
        char key[DB_NAME_MAX + MEASUREMENT_NAME_MAX + 2];
        snprintf(key, sizeof(key), "%s/%s", ks[i].db, ks[i].measurement);
        jsonw_kv_u64(w, key, ks[i].held_rows);
    }
    xfree(ks);
    jsonw_obj_end(w);
    jsonw_kv_u64(w, "buffer_hard_limit", st.hard_limit_rows);
    jsonw_kv_u64(w, "held_bytes", st.held_bytes);
    jsonw_key(w, "oldest_buffer_age_seconds");
    jsonw_f64_fixed(w, st.oldest_buffer_age_seconds, 3);
    jsonw_kv_bool(w, "wal_enabled", app->cfg->wal.enabled);
    jsonw_obj_end(w);
}

void api_write_stats(struct http_request *req)
{
    struct app *app = http_req_app(req);
    struct write_stats *s = &app->wstats;
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "status", "success");
    jsonw_key(&w, "timestamp");
    jsonw_time_us(&w, time_now_us());
    jsonw_key(&w, "stats");
    jsonw_obj_begin(&w);
    jsonw_kv_u64(&w, "total_requests", atomic_load(&s->total_requests));
    jsonw_kv_u64(&w, "total_records", atomic_load(&s->total_records));
    jsonw_kv_u64(&w, "total_bytes", atomic_load(&s->total_bytes));
    jsonw_kv_u64(&w, "total_bytes_gzipped", atomic_load(&s->total_bytes_gzipped));
    jsonw_kv_u64(&w, "total_errors", atomic_load(&s->total_errors));
    jsonw_kv_u64(&w, "total_lines_rejected", atomic_load(&s->total_lines_rejected));
    jsonw_obj_end(&w);
    jsonw_key(&w, "buffer_stats");
    write_buffer_stats(&w, app);
    api_json_send(req, 200, &sb, &w);
}

void api_write_health(struct http_request *req)
{
    struct app *app = http_req_app(req);
    bool ok = atomic_load(&app->startup_complete) && !atomic_load(&app->shutting_down);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_str(&w, "status", ok ? "healthy" : "unhealthy");
    jsonw_kv_str(&w, "service", "line_protocol_writer");
    jsonw_key(&w, "stats");
    write_buffer_stats(&w, app);
    api_json_send(req, ok ? 200 : 503, &sb, &w);
}

void api_msgpack_stats(struct http_request *req)
{
    struct app *app = http_req_app(req);
    uint64_t dec = atomic_load(&app->wstats.msgpack_decoded);
    uint64_t err = atomic_load(&app->wstats.msgpack_errors);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_key(&w, "decoder");
    jsonw_obj_begin(&w);
    jsonw_kv_u64(&w, "total_decoded", dec);
    jsonw_kv_u64(&w, "total_errors", err);
    jsonw_kv_f64(&w, "error_rate", dec + err ? (double)err / (double)(dec + err) : 0.0);
    jsonw_obj_end(&w);
    jsonw_key(&w, "buffer");
    write_buffer_stats(&w, app);
    api_json_send(req, 200, &sb, &w);
}

void api_msgpack_spec(struct http_request *req)
{
    static const char spec[] =
        "{\"version\":\"2.0\",\"protocol\":\"MessagePack\",\"endpoint\":\"/api/v1/write/msgpack\","
        "\"content_type\":\"application/msgpack\",\"compression\":[\"gzip\",\"zstd\"],"
        "\"authentication\":\"Authorization: Bearer <token> | Token <token> | x-api-key\","
        "\"database\":\"x-arc-database header, else the configured default\","
        "\"format\":{"
        "\"columnar\":{\"m\":\"measurement (string)\",\"columns\":\"map: column name -> array, "
        "equal lengths; optional time column\",\"tags\":\"optional array of tag column names\"},"
        "\"row\":{\"m\":\"measurement\",\"fields\":\"map name -> scalar (or f: array)\","
        "\"t\":\"optional timestamp\",\"tags\":\"optional map\",\"h\":\"optional host\"},"
        "\"batch\":\"{\\\"batch\\\": [item, ...]} or an array of items\","
        "\"time_units\":\"inferred: <1e10 s, <1e13 ms, <1e16 us, else ns; ?precision= "
        "overrides\"},"
        "\"example_columnar\":{\"m\":\"sensor\",\"tags\":[\"site\"],\"columns\":{\"time\":"
        "[1736950000000,1736950001000],\"site\":[\"north\",\"south\"],\"temp\":[21.5,19.25]}},"
        "\"example_row\":{\"m\":\"cpu\",\"t\":1736950000000,\"h\":\"server01\",\"tags\":"
        "{\"region\":\"us-east\"},\"fields\":{\"usage_idle\":95.5}}}";
    http_respond(req, 200, "application/json", spec, sizeof(spec) - 1);
}

/* InfluxQL is not supported (SPEC §4.13); CREATE DATABASE is answered so
 * Telegraf's start-up call succeeds. */
void api_influx_query(struct http_request *req)
{
    const char *q = http_req_query(req, "q");
    char buf[512];
    if (!q) {
        size_t len;
        const char *body = http_req_body(req, &len);
        /* form-encoded q=... */
        if (body && len > 2 && strncmp(body, "q=", 2) == 0) {
            size_t o = 0;
            for (size_t i = 2; i < len && o + 1 < sizeof(buf) && body[i] != '&'; i++) {
                char c = body[i];
                if (c == '+')
                    c = ' ';
                else if (c == '%' && i + 2 < len) {
                    char hex[3] = {body[i + 1], body[i + 2], 0};
                    c = (char)strtol(hex, NULL, 16);
                    i += 2;
                }
                buf[o++] = c;
            }
            buf[o] = '\0';
            q = buf;
        }
    }
    if (q) {
        while (isspace((unsigned char)*q))
            q++;
        if (strncasecmp(q, "CREATE DATABASE ", 16) == 0) {
            char name[128];
            snprintf(name, sizeof(name), "%s", q + 16);
            size_t nl = strlen(name);
            /* The influx CLI sends the statement with its newline. */
            while (nl && (isspace((unsigned char)name[nl - 1]) || name[nl - 1] == ';'))
                name[--nl] = '\0';
            if (nl >= 2 && name[0] == '"' && name[nl - 1] == '"') {
                memmove(name, name + 1, nl - 2);
                name[nl - 2] = '\0';
                nl -= 2;
            }
            if (!name_is_valid_database(name, nl)) {
                http_respond_error(req, 400, "Invalid database name");
                return;
            }
            static const char ok[] = "{\"results\":[{\"statement_id\":0}]}";
            http_respond(req, 200, "application/json", ok, sizeof(ok) - 1);
            return;
        }
    }
    http_respond_error(req, 501, "InfluxQL is not supported; use POST /api/v1/query with SQL");
}
