/*
 * api/api_cq.c — endpoints of continuous queries (SPEC §8.2) and deletes
 * (SPEC §8.3). Validation and execution live in jobs/cq*.c and
 * jobs/delete.c; this file reads requests, writes the exact response
 * shapes and maps return codes to statuses:
 *
 *   RC_INVALID 400, RC_DENIED 403, RC_NOT_FOUND 404, RC_EXISTS 409,
 *   RC_BUSY 503 (+ Retry-After), RC_TIMEOUT 504, anything else 500;
 *   a CQ execution that started and failed is always 500.
 *
 * Threads: HTTP worker threads only (executions and deletes block).
 */
#include "api/api_cq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "api/api_query.h"
#include "jobs/cq.h"
#include "jobs/delete.h"
#include "util/json.h"
#include "util/jsonw.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct cq_service *api_cq_global;
struct del_service *api_del_global;

#define EXECUTIONS_DEFAULT_LIMIT 50
#define EXECUTIONS_MAX_LIMIT 1000

/* ---- helpers ------------------------------------------------------------------- */

static struct cq_service *cq_svc(struct http_request *req)
{
    if (!api_cq_global) {
        http_respond_error(req, 503, "Continuous queries not initialized");
        return NULL;
    }
    return api_cq_global;
}

static void respond_rc(struct http_request *req, int rc, const struct errbuf *eb)
{
    int status = http_status_for_rc(rc);
    if (status < 400)
        status = 500;
    http_respond_error(req, status, eb->msg[0] ? eb->msg : rc_name(rc));
}

/* Parses the {id} path parameter; responds 400 and returns false if it is
 * not a positive integer. */
static bool path_id(struct http_request *req, int64_t *out)
{
    const char *s = http_req_param(req, "id");
    char *end = NULL;
    errno = 0;
    long long v = s && *s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || errno != 0 || !end || *end != '\0' || v <= 0) {
        http_respond_error(req, 400, "Invalid continuous query id: expected a positive integer");
        return false;
    }
    *out = v;
    return true;
}

/* Parses the body as a JSON object; an empty body gives NULL (allowed when
 * allow_empty). Responds 400 and returns false on a parse error. */
static bool body_json(struct http_request *req, bool allow_empty, struct json_value **out)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    *out = NULL;
    if (!body || len == 0) {
        if (allow_empty)
            return true;
        http_respond_error(req, 400, "Request body must be a JSON object");
        return false;
    }
    struct errbuf eb = {0};
    if (json_parse(body, len, out, &eb) != RC_OK) {
        http_respond_error(req, 400, eb.msg);
        return false;
    }
    if (json_type(*out) != JSON_OBJECT) {
        json_free(out);
        http_respond_error(req, 400, "Request body must be a JSON object");
        return false;
    }
    return true;
}

static void kv_time_or_null(struct jsonw *w, const char *key, int64_t us)
{
    jsonw_key(w, key);
    if (us == CQ_TIME_NONE)
        jsonw_null(w);
    else
        jsonw_time_us(w, us);
}

static void kv_pos_or_null(struct jsonw *w, const char *key, int64_t v)
{
    if (v > 0)
        jsonw_kv_i64(w, key, v);
    else
        jsonw_kv_null(w, key);
}

/* The CQ object of SPEC §8.2 (members only; caller opens/closes). */
static void write_cq_members(struct jsonw *w, const struct cq_def *d)
{
    jsonw_kv_i64(w, "id", d->id);
    jsonw_kv_str(w, "name", d->name);
    jsonw_kv_str(w, "description", d->description); /* NULL -> null */
    jsonw_kv_str(w, "database", d->database);
    jsonw_kv_str(w, "source_measurement", d->source_measurement);
    jsonw_kv_str(w, "destination_measurement", d->destination_measurement);
    jsonw_kv_str(w, "query", d->query);
    jsonw_kv_str(w, "interval", d->interval);
    jsonw_key(w, "tag_columns");
    jsonw_arr_begin(w);
    for (size_t i = 0; i < d->n_tag_columns; i++)
        jsonw_str(w, d->tag_columns[i]);
    jsonw_arr_end(w);
    kv_pos_or_null(w, "retention_days", d->retention_days);
    kv_pos_or_null(w, "delete_source_after_days", d->delete_source_after_days);
    jsonw_kv_bool(w, "is_active", d->is_active);
    kv_time_or_null(w, "last_execution_time", d->last_execution_time_us);
    if (d->last_execution_status[0])
        jsonw_kv_str(w, "last_execution_status", d->last_execution_status);
    else
        jsonw_kv_null(w, "last_execution_status");
    kv_time_or_null(w, "last_processed_time", d->last_processed_time_us);
    if (d->last_records_written >= 0)
        jsonw_kv_i64(w, "last_records_written", d->last_records_written);
    else
        jsonw_kv_null(w, "last_records_written");
    jsonw_key(w, "created_at");
    jsonw_time_us(w, d->created_at_us);
    jsonw_key(w, "updated_at");
    jsonw_time_us(w, d->updated_at_us);
}

static void respond_cq(struct http_request *req, int status, const struct cq_def *d)
{
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    write_cq_members(&w, d);
    api_json_send(req, status, &sb, &w);
}

/* Parses and checks a definition from the body (create and replace).
 * Responds and returns false on error. */
static bool read_definition(struct http_request *req, struct cq_def *d)
{
    struct json_value *doc = NULL;
    if (!body_json(req, false, &doc))
        return false;
    struct errbuf eb = {0};
    int rc = cq_def_from_json(doc, d, &eb);
    json_free(&doc);
    if (rc == RC_OK)
        rc = cq_check_query(api_query_engine(req), d, &eb);
    if (rc != RC_OK) {
        cq_def_cleanup(d);
        respond_rc(req, rc, &eb);
        return false;
    }
    return true;
}

/* ---- continuous queries --------------------------------------------------------- */

void api_cq_list(struct http_request *req)
{
    struct cq_service *svc = cq_svc(req);
    if (!svc)
        return;
    const char *db = http_req_query(req, "database");
    if (db && !*db)
        db = NULL;
    const char *act = http_req_query(req, "is_active");
    int is_active = -1;
    if (act && *act) {
        if (!strcasecmp(act, "true") || !strcmp(act, "1"))
            is_active = 1;
        else if (!strcasecmp(act, "false") || !strcmp(act, "0"))
            is_active = 0;
        else {
            http_respond_error(req, 400, "is_active must be true or false");
            return;
        }
    }
    struct cq_def *defs = NULL;
    size_t n = 0;
    struct errbuf eb = {0};
    int rc = cq_store_list(cq_service_store(svc), db, is_active, &defs, &n, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct jsonw w;
    jsonw_init(&w, &sb);
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        jsonw_obj_begin(&w);
        write_cq_members(&w, &defs[i]);
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    cq_defs_free(&defs, n);
    if (jsonw_finish(&w) != RC_OK) {
        strbuf_cleanup(&sb);
        http_respond_error(req, 500, "Internal error: response too large");
        return;
    }
    http_respond_json(req, 200, &sb);
}

void api_cq_create(struct http_request *req)
{
    struct cq_service *svc = cq_svc(req);
    if (!svc)
        return;
    struct cq_def d;
    if (!read_definition(req, &d))
        return;
    struct errbuf eb = {0};
    int rc = cq_store_create(cq_service_store(svc), &d, &eb);
    if (rc != RC_OK)
        respond_rc(req, rc, &eb);
    else {
        log_info("cq", "created id=%lld name=%s principal=%s", (long long)d.id, d.name,
                 http_req_principal(req) ? http_req_principal(req) : "-");
        respond_cq(req, 201, &d);
    }
    cq_def_cleanup(&d);
}

void api_cq_get(struct http_request *req)
{
    struct cq_service *svc = cq_svc(req);
    int64_t id;
    if (!svc || !path_id(req, &id))
        return;
    struct cq_def d;
    memset(&d, 0, sizeof(d));
    struct errbuf eb = {0};
    int rc = cq_store_get(cq_service_store(svc), id, &d, &eb);
    if (rc != RC_OK)
        respond_rc(req, rc, &eb);
    else
        respond_cq(req, 200, &d);
    cq_def_cleanup(&d);
}

void api_cq_update(struct http_request *req)
{
    struct cq_service *svc = cq_svc(req);
    int64_t id;
    if (!svc || !path_id(req, &id))
        return;
    struct cq_def d;
    if (!read_definition(req, &d))
        return;
    struct errbuf eb = {0};
    int rc = cq_store_update(cq_service_store(svc), id, &d, &eb);
    if (rc != RC_OK)
        respond_rc(req, rc, &eb);
    else
        respond_cq(req, 200, &d);
    cq_def_cleanup(&d);
}

void api_cq_delete(struct http_request *req)
{
    struct cq_service *svc = cq_svc(req);
    int64_t id;
    if (!svc || !path_id(req, &id))
        return;
    const char *dd = http_req_query(req, "delete_destination");
    bool drop = dd && (!strcasecmp(dd, "true") || !strcmp(dd, "1"));
    struct app *app = http_req_app(req);
    if (drop && (!app || !app->cfg->delete.enabled)) {
        http_respond_error(req, 403, "delete_destination=true requires delete.enabled = true");
        return;
    }
    struct cq_store *store = cq_service_store(svc);
    struct cq_def d;
    memset(&d, 0, sizeof(d));
    struct errbuf eb = {0};
    int rc = cq_store_get(store, id, &d, &eb);
    if (rc == RC_OK)
        rc = cq_store_delete(store, id, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        cq_def_cleanup(&d);
        return;
    }
    log_info("cq", "deleted id=%lld name=%s principal=%s", (long long)id, d.name,
             http_req_principal(req) ? http_req_principal(req) : "-");
    size_t files = 0;
    if (drop) {
        if (!api_del_global) {
            http_respond_error(req, 503, "Deletes not initialized");
            cq_def_cleanup(&d);
            return;
        }
        rc = del_drop_measurement(api_del_global, d.database, d.destination_measurement, &files,
                                  &eb);
        if (rc != RC_OK) {
            log_error("cq", "destination not deleted db=%s measurement=%s err=%s", d.database,
                      d.destination_measurement, eb.msg);
            char msg[ERRBUF_SIZE + 96];
            snprintf(msg, sizeof(msg), "Continuous query deleted, but its destination was not: %s",
                     eb.msg);
            http_respond_error(req, http_status_for_rc(rc) >= 500 ? 500 : http_status_for_rc(rc),
                               msg);
            cq_def_cleanup(&d);
            return;
        }
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_str(&w, "message", "Continuous query deleted successfully");
    if (drop) {
        jsonw_kv_bool(&w, "destination_deleted", true);
        jsonw_kv_u64(&w, "files_deleted", files);
    }
    api_json_send(req, 200, &sb, &w);
    cq_def_cleanup(&d);
}

/* Reads an optional RFC 3339 member. Responds 400 and returns false if it
 * is present but not a valid timestamp string. */
static bool opt_time(struct http_request *req, const struct json_value *doc, const char *key,
                     bool *has, int64_t *out)
{
    const struct json_value *v = json_obj_get(doc, key);
    *has = false;
    if (!v || json_is_null(v))
        return true;
    size_t len = 0;
    const char *s = json_as_str(v, &len);
    if (!s || !time_parse_rfc3339(s, len, out)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%s must be an RFC 3339 timestamp", key);
        http_respond_error(req, 400, msg);
        return false;
    }
    *has = true;
    return true;
}

static void write_exec_result(struct jsonw *w, const struct cq_exec_result *r)
{
    jsonw_kv_i64(w, "query_id", r->query_id);
    jsonw_kv_str(w, "query_name", r->query_name);
    jsonw_kv_str(w, "execution_id", r->execution_id);
    jsonw_kv_str(w, "status", r->status);
    jsonw_key(w, "start_time");
    jsonw_time_us(w, r->start_us);
    jsonw_key(w, "end_time");
    jsonw_time_us(w, r->end_us);
    jsonw_kv_null(w, "records_read");
    jsonw_kv_u64(w, "records_written", r->records_written);
    jsonw_key(w, "execution_time_seconds");
    jsonw_f64_fixed(w, r->execution_time_s, 3);
    jsonw_kv_str(w, "destination_measurement", r->destination_measurement);
    jsonw_kv_bool(w, "dry_run", r->dry_run);
    jsonw_key(w, "executed_at");
    jsonw_time_us(w, r->executed_at_us);
    if (r->dry_run && r->executed_query)
        jsonw_kv_str(w, "executed_query", r->executed_query);
    if (r->nothing_to_do)
        jsonw_kv_str(w, "message",
                     "Nothing to do: the window was already processed (last_processed_time)");
}

void api_cq_execute(struct http_request *req)
{
    struct cq_service *svc = cq_svc(req);
    int64_t id;
    if (!svc || !path_id(req, &id))
        return;
    struct json_value *doc = NULL;
    if (!body_json(req, true, &doc))
        return;
    struct cq_exec_request er;
    memset(&er, 0, sizeof(er));
    if (!opt_time(req, doc, "start_time", &er.has_start, &er.start_us) ||
        !opt_time(req, doc, "end_time", &er.has_end, &er.end_us)) {
        json_free(&doc);
        return;
    }
    const struct json_value *dr = json_obj_get(doc, "dry_run");
    if (dr && !json_is_null(dr) && !json_as_bool(dr, &er.dry_run)) {
        json_free(&doc);
        http_respond_error(req, 400, "dry_run must be a boolean");
        return;
    }
    json_free(&doc);
    if (er.has_start && er.has_end && er.start_us >= er.end_us) {
        http_respond_error(req, 400, "start_time must be before end_time");
        return;
    }
    struct cq_exec_result res;
    struct errbuf eb = {0};
    int rc = cq_execute(svc, id, &er, &res, &eb);
    if (rc != RC_OK && !res.failed) {
        respond_rc(req, rc, &eb);
        cq_exec_result_cleanup(&res);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    if (res.failed) {
        const char *msg = eb.msg[0] ? eb.msg : "Continuous query execution failed";
        jsonw_kv_bool(&w, "success", false);
        jsonw_kv_str(&w, "error", msg);
        jsonw_kv_str(&w, "detail", msg);
    }
    write_exec_result(&w, &res);
    api_json_send(req, res.failed ? 500 : 200, &sb, &w);
    cq_exec_result_cleanup(&res);
}

void api_cq_executions(struct http_request *req)
{
    struct cq_service *svc = cq_svc(req);
    int64_t id;
    if (!svc || !path_id(req, &id))
        return;
    long long limit = EXECUTIONS_DEFAULT_LIMIT;
    const char *ls = http_req_query(req, "limit");
    if (ls && *ls) {
        char *end = NULL;
        errno = 0;
        limit = strtoll(ls, &end, 10);
        if (errno || !end || *end || limit < 1 || limit > EXECUTIONS_MAX_LIMIT) {
            http_respond_error(req, 400, "limit must be an integer from 1 to 1000");
            return;
        }
    }
    struct cq_store *store = cq_service_store(svc);
    struct cq_def d;
    memset(&d, 0, sizeof(d));
    struct errbuf eb = {0};
    int rc = cq_store_get(store, id, &d, &eb);
    cq_def_cleanup(&d);
    struct cq_execution *ex = NULL;
    size_t n = 0;
    if (rc == RC_OK)
        rc = cq_store_executions(store, id, (size_t)limit, &ex, &n, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_i64(&w, "query_id", id);
    jsonw_key(&w, "executions");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++) {
        const struct cq_execution *e = &ex[i];
        jsonw_obj_begin(&w);
        jsonw_kv_i64(&w, "id", e->id);
        jsonw_kv_i64(&w, "query_id", e->query_id);
        jsonw_kv_str(&w, "execution_id", e->execution_id);
        jsonw_key(&w, "execution_time");
        jsonw_time_us(&w, e->execution_time_us);
        jsonw_kv_str(&w, "status", e->status);
        jsonw_key(&w, "start_time");
        jsonw_time_us(&w, e->start_us);
        jsonw_key(&w, "end_time");
        jsonw_time_us(&w, e->end_us);
        jsonw_kv_null(&w, "records_read");
        jsonw_kv_i64(&w, "records_written", e->records_written);
        jsonw_key(&w, "execution_duration_seconds");
        jsonw_f64_fixed(&w, e->duration_s, 3);
        if (e->error_message[0])
            jsonw_kv_str(&w, "error_message", e->error_message);
        else
            jsonw_kv_null(&w, "error_message");
        jsonw_obj_end(&w);
    }
    jsonw_arr_end(&w);
    jsonw_kv_u64(&w, "count", n);
    xfree(ex);
    api_json_send(req, 200, &sb, &w);
}

/* ---- deletes ---------------------------------------------------------------------- */

void api_delete_config(struct http_request *req)
{
    struct app *app = http_req_app(req);
    const struct config_delete *c = &app->cfg->delete;
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "enabled", c->enabled);
    jsonw_kv_i64(&w, "confirmation_threshold", c->confirmation_threshold);
    jsonw_kv_i64(&w, "max_rows_per_delete", c->max_rows_per_delete);
    jsonw_kv_str(&w, "implementation", "rewrite-based");
    jsonw_key(&w, "performance_impact");
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "writes", "none: deletes leave no tombstones for writes to check");
    jsonw_kv_str(&w, "queries", "none: deleted rows are physically removed from the files");
    jsonw_kv_str(&w, "deletes",
                 "expensive: every file holding matching rows is read and rewritten");
    jsonw_obj_end(&w);
    api_json_send(req, 200, &sb, &w);
}

/* Reads an optional boolean member (default false). */
static bool opt_bool(struct http_request *req, const struct json_value *doc, const char *key,
                     bool *out)
{
    const struct json_value *v = json_obj_get(doc, key);
    *out = false;
    if (!v || json_is_null(v))
        return true;
    if (!json_as_bool(v, out)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s must be a boolean", key);
        http_respond_error(req, 400, msg);
        return false;
    }
    return true;
}

static void write_str_list(struct jsonw *w, const char *key, char *const *list, size_t n)
{
    jsonw_key(w, key);
    jsonw_arr_begin(w);
    for (size_t i = 0; i < n; i++)
        jsonw_str(w, list[i]);
    jsonw_arr_end(w);
}

void api_delete_rows(struct http_request *req)
{
    struct app *app = http_req_app(req);
    if (!app->cfg->delete.enabled) { /* rule 1 comes before looking at the body */
        http_respond_error(req, 403, "Delete operations are disabled (set delete.enabled = true)");
        return;
    }
    if (!api_del_global) {
        http_respond_error(req, 503, "Deletes not initialized");
        return;
    }
    struct json_value *doc = NULL;
    if (!body_json(req, false, &doc))
        return;
    struct del_request dr;
    memset(&dr, 0, sizeof(dr));
    const struct json_value *v;
    if ((v = json_obj_get(doc, "database")) && !json_is_null(v) &&
        !(dr.database = json_as_str(v, NULL))) {
        json_free(&doc);
        http_respond_error(req, 400, "database must be a string");
        return;
    }
    if ((v = json_obj_get(doc, "measurement")) && !json_is_null(v) &&
        !(dr.measurement = json_as_str(v, NULL))) {
        json_free(&doc);
        http_respond_error(req, 400, "measurement must be a string");
        return;
    }
    if ((v = json_obj_get(doc, "where")) && !json_is_null(v) &&
        !(dr.where = json_as_str(v, NULL))) {
        json_free(&doc);
        http_respond_error(req, 400, "where must be a string");
        return;
    }
    if (!opt_bool(req, doc, "dry_run", &dr.dry_run) ||
        !opt_bool(req, doc, "confirm", &dr.confirm)) {
        json_free(&doc);
        return;
    }
    dr.principal = http_req_principal(req);
    struct del_result res;
    struct errbuf eb = {0};
    int rc = del_execute(api_del_global, &dr, &res, &eb);
    json_free(&doc);
    bool partial = rc == RC_INTERNAL && res.n_failed > 0;
    if (rc != RC_OK && !partial) {
        respond_rc(req, rc, &eb);
        del_result_cleanup(&res);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", !partial);
    if (partial) {
        jsonw_kv_str(&w, "error", eb.msg);
        jsonw_kv_str(&w, "detail", eb.msg);
    }
    jsonw_kv_u64(&w, "deleted_count", res.deleted_count);
    jsonw_kv_u64(&w, "affected_files", res.affected_files);
    jsonw_kv_u64(&w, "rewritten_files", res.rewritten_files);
    jsonw_kv_u64(&w, "deleted_files", res.deleted_files);
    jsonw_key(&w, "execution_time_ms");
    jsonw_f64_fixed(&w, res.execution_time_ms, 1);
    jsonw_kv_bool(&w, "dry_run", res.dry_run);
    if (res.dry_run) {
        jsonw_kv_bool(&w, "exceeds_max_rows", res.exceeds_max_rows);
        jsonw_kv_bool(&w, "requires_confirmation", res.requires_confirmation);
    }
    write_str_list(&w, "files_processed", res.files_processed, res.n_processed);
    write_str_list(&w, "failed_files", res.failed_files, res.n_failed);
    api_json_send(req, partial ? 500 : 200, &sb, &w);
    del_result_cleanup(&res);
}
