/*
 * api/api_auth.c — the authorize hook and the token endpoints (SPEC §5).
 *
 * Every decision is made in auth/ (auth_authorize, auth_check,
 * auth_spec_from_json, the auth_token_* functions); this file reads request
 * headers and bodies and writes the exact response shapes of SPEC §5.5/§5.6.
 * Secrets appear only in the create and rotate responses, which carry
 * Cache-Control: no-store.
 *
 * Threads: api_auth_authorize runs on the HTTP I/O thread (cache only; a
 * miss returns RC_AGAIN and the http layer runs it again on a worker, where
 * the store may be read); the token handlers run on HTTP worker threads.
 * The auth instance is thread-safe.
 */
#include "api/api_auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "auth/auth.h"
#include "util/json.h"
#include "util/jsonw.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct auth *api_auth_global;

struct auth *api_auth_instance(struct http_request *req)
{
    /* Once struct app has a `struct auth *auth` member this becomes:
     *   return ((struct app *)http_req_app(req))->auth;                     */
    (void)req;
    return api_auth_global;
}

static unsigned needed_for(enum http_perm perm)
{
    switch (perm) {
    case HTTP_PERM_READ: return AUTH_PERM_READ;
    case HTTP_PERM_WRITE: return AUTH_PERM_WRITE;
    case HTTP_PERM_DELETE: return AUTH_PERM_DELETE;
    case HTTP_PERM_ADMIN: return AUTH_PERM_ADMIN;
    case HTTP_PERM_PUBLIC:
    default: return 0;
    }
}

static void creds_of(struct http_request *req, struct auth_creds *c)
{
    c->authorization = http_req_header(req, "Authorization");
    c->x_api_key = http_req_header(req, "x-api-key");
    c->query_p = http_req_query(req, "p");
}

int api_auth_authorize(void *app, struct http_request *req, const struct http_route *route)
{
    (void)app;
    struct auth_creds c;
    creds_of(req, &c);
    struct auth_decision d;
    /* On an I/O thread only the cache is consulted; a miss is decided again
     * on a worker (the store is a file). */
    if (http_req_on_io_thread(req))
        auth_authorize_cached(api_auth_instance(req), http_req_path(req), needed_for(route->perm),
                              &c, &d);
    else
        auth_authorize(api_auth_instance(req), http_req_path(req), needed_for(route->perm), &c, &d);
    if (d.needs_store)
        return RC_AGAIN;
    if (d.status == 0) {
        if (d.authenticated)
            http_req_set_principal(req, d.principal.name);
        return RC_OK;
    }
    if (route->perm == HTTP_PERM_WRITE)
        http_respond_write_error(req, d.status, d.message);
    else
        http_respond_error(req, d.status, d.message);
    return d.status == 401 ? RC_UNAUTH : d.status == 403 ? RC_DENIED : RC_INTERNAL;
}

/* --- helpers ------------------------------------------------------------------ */

/* The instance, or a 503 answer when none was opened. */
static struct auth *need_auth(struct http_request *req)
{
    struct auth *a = api_auth_instance(req);
    if (!a)
        http_respond_error(req, 503, "Authentication store not initialised");
    return a;
}

static void respond_rc(struct http_request *req, int rc, const struct errbuf *eb)
{
    int status;
    switch (rc) {
    case RC_INVALID:
    case RC_PARSE: status = 400; break;
    case RC_NOT_FOUND: status = 404; break;
    case RC_EXISTS: status = 409; break;
    default: status = 500; break;
    }
    if (status == 404) {
        http_respond_error(req, 404, "Token not found");
        return;
    }
    http_respond_error(req, status, eb->msg[0] ? eb->msg : "Internal error");
}

/* Token id from the {id} path segment: a positive decimal integer. */
static bool parse_id(struct http_request *req, int64_t *out)
{
    const char *s = http_req_param(req, "id");
    if (!s || !*s || strlen(s) > 18)
        goto bad;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            goto bad;
    *out = strtoll(s, NULL, 10);
    if (*out <= 0)
        goto bad;
    return true;
bad:
    http_respond_error(req, 400, "Invalid token id: must be a positive integer");
    return false;
}

/* Parses the JSON body into a spec; responds 400 and returns false on error.
 * *doc must be freed by the caller (json_free) on success. */
static bool parse_spec(struct http_request *req, bool for_create, struct json_value **doc,
                       struct auth_token_spec *spec)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    struct errbuf eb;
    errbuf_clear(&eb);
    *doc = NULL;
    if (!body || len == 0) {
        http_respond_error(req, 400, "Request body must be a JSON object");
        return false;
    }
    if (json_parse(body, len, doc, &eb) != RC_OK) {
        char msg[ERRBUF_SIZE + 16];
        snprintf(msg, sizeof(msg), "Invalid JSON: %s", eb.msg);
        http_respond_error(req, 400, msg);
        return false;
    }
    if (auth_spec_from_json(*doc, for_create, time_now_us(), spec, &eb) != RC_OK) {
        json_free(doc);
        http_respond_error(req, 400, eb.msg);
        return false;
    }
    return true;
}

/* Writes "token": TokenInfo followed by the TokenInfo fields flattened. */
static void write_info_union(struct jsonw *w, const struct auth_token_info *t)
{
    jsonw_key(w, "token");
    auth_token_info_write(w, t);
    auth_token_info_write_fields(w, t);
}

/* --- GET /api/v1/auth/verify ------------------------------------------------------ */

static void verify_fail(struct http_request *req, const char *msg)
{
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "valid", false);
    jsonw_kv_bool(&w, "success", false);
    jsonw_kv_str(&w, "error", msg);
    jsonw_kv_str(&w, "detail", msg);
    api_json_send(req, 401, &sb, &w);
}

void api_auth_verify(struct http_request *req)
{
    struct auth *a = need_auth(req);
    if (!a)
        return;
    struct auth_creds c;
    creds_of(req, &c);
    char token[AUTH_TOKEN_MAX_BYTES + 1];
    enum auth_cred_source src = AUTH_SRC_NONE;
    enum auth_extract_result r = auth_extract_token(&c, token, sizeof(token), &src);
    if (r == AUTH_CREDS_NONE) {
        verify_fail(req, "Authentication required");
        return;
    }
    if (r != AUTH_CREDS_OK) {
        verify_fail(req, "Invalid or expired token");
        return;
    }
    struct auth_principal p;
    int rc = auth_check(a, token, 0, &p);
    memset(token, 0, sizeof(token));
    if (src == AUTH_SRC_QUERY)
        auth_note_url_token(a, rc == RC_OK ? p.name : NULL);
    if (rc == RC_UNAUTH) {
        verify_fail(req, "Invalid or expired token");
        return;
    }
    if (rc != RC_OK) {
        http_respond_error(req, 500, "Authentication store error");
        return;
    }
    http_req_set_principal(req, p.name);
    struct auth_token_info info;
    struct errbuf eb;
    errbuf_clear(&eb);
    if ((rc = auth_token_get(a, p.id, &info, &eb)) != RC_OK) {
        if (rc == RC_NOT_FOUND) /* deleted in between */
            verify_fail(req, "Invalid or expired token");
        else
            respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "valid", true);
    jsonw_kv_bool(&w, "success", true);
    jsonw_key(&w, "token_info");
    auth_token_info_write(&w, &info);
    jsonw_key(&w, "permissions");
    auth_perms_write_json(&w, info.perms);
    auth_token_info_cleanup(&info);
    api_json_send(req, 200, &sb, &w);
}

/* --- /api/v1/auth/tokens ---------------------------------------------------------- */

void api_auth_tokens_list(struct http_request *req)
{
    struct auth *a = need_auth(req);
    if (!a)
        return;
    struct auth_token_info *list = NULL;
    size_t n = 0;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_list(a, &list, &n, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_key(&w, "tokens");
    jsonw_arr_begin(&w);
    for (size_t i = 0; i < n; i++)
        auth_token_info_write(&w, &list[i]);
    jsonw_arr_end(&w);
    jsonw_kv_u64(&w, "count", n);
    auth_token_list_free(&list, n);
    api_json_send(req, 200, &sb, &w);
}

void api_auth_tokens_create(struct http_request *req)
{
    struct auth *a = need_auth(req);
    if (!a)
        return;
    if (!auth_create_rate_ok(a, http_req_client_ip(req))) {
        http_add_header(req, "Retry-After", "60");
        http_respond_error(req, 429, "Too many token creation requests: limit is 10 per minute");
        return;
    }
    struct json_value *doc = NULL;
    struct auth_token_spec spec;
    if (!parse_spec(req, true, &doc, &spec))
        return;
    char *secret = NULL;
    struct auth_token_info info;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_create(a, &spec, &secret, &info, &eb);
    json_free(&doc);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_str(&w, "message", "Token created successfully");
    jsonw_kv_str(&w, "token", secret);
    auth_token_info_write_fields(&w, &info);
    jsonw_kv_str(&w, "warning", "Store this token securely: it will not be shown again");
    memset(secret, 0, strlen(secret));
    xfree(secret);
    auth_token_info_cleanup(&info);
    http_add_header(req, "Cache-Control", "no-store");
    api_json_send(req, 201, &sb, &w);
}

void api_auth_token_get(struct http_request *req)
{
    struct auth *a = need_auth(req);
    int64_t id;
    if (!a || !parse_id(req, &id))
        return;
    struct auth_token_info info;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_get(a, id, &info, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    write_info_union(&w, &info);
    auth_token_info_cleanup(&info);
    api_json_send(req, 200, &sb, &w);
}

void api_auth_token_update(struct http_request *req)
{
    struct auth *a = need_auth(req);
    int64_t id;
    if (!a || !parse_id(req, &id))
        return;
    struct json_value *doc = NULL;
    struct auth_token_spec spec;
    if (!parse_spec(req, false, &doc, &spec))
        return;
    struct auth_token_info info;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_update(a, id, &spec, &info, &eb);
    json_free(&doc);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_str(&w, "message", "Token updated successfully");
    write_info_union(&w, &info);
    auth_token_info_cleanup(&info);
    api_json_send(req, 200, &sb, &w);
}

void api_auth_token_delete(struct http_request *req)
{
    struct auth *a = need_auth(req);
    int64_t id;
    if (!a || !parse_id(req, &id))
        return;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_delete(a, id, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_str(&w, "message", "Token deleted successfully");
    jsonw_kv_i64(&w, "token_id", id);
    api_json_send(req, 200, &sb, &w);
}

void api_auth_token_rotate(struct http_request *req)
{
    struct auth *a = need_auth(req);
    int64_t id;
    if (!a || !parse_id(req, &id))
        return;
    char *secret = NULL;
    struct auth_token_info info;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_rotate(a, id, &secret, &info, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_str(&w, "message", "Token rotated successfully: the old value no longer works");
    jsonw_kv_str(&w, "new_token", secret);
    jsonw_kv_str(&w, "token", secret);
    auth_token_info_write_fields(&w, &info);
    memset(secret, 0, strlen(secret));
    xfree(secret);
    auth_token_info_cleanup(&info);
    http_add_header(req, "Cache-Control", "no-store");
    api_json_send(req, 200, &sb, &w);
}

void api_auth_token_revoke(struct http_request *req)
{
    struct auth *a = need_auth(req);
    int64_t id;
    if (!a || !parse_id(req, &id))
        return;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = auth_token_revoke(a, id, &eb);
    if (rc != RC_OK) {
        respond_rc(req, rc, &eb);
        return;
    }
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_str(&w, "message", "Token revoked successfully");
    jsonw_kv_i64(&w, "token_id", id);
    api_json_send(req, 200, &sb, &w);
}

/* --- /api/v1/auth/cache ------------------------------------------------------------ */

void api_auth_cache_stats(struct http_request *req)
{
    struct auth *a = need_auth(req);
    if (!a)
        return;
    struct auth_cache_stats s;
    auth_cache_get_stats(a, &s);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_key(&w, "stats");
    jsonw_obj_begin(&w);
    auth_cache_stats_write_fields(&w, &s);
    jsonw_obj_end(&w);
    auth_cache_stats_write_fields(&w, &s);
    api_json_send(req, 200, &sb, &w);
}

void api_auth_cache_invalidate(struct http_request *req)
{
    struct auth *a = need_auth(req);
    if (!a)
        return;
    auth_cache_invalidate(a);
    struct auth_cache_stats s;
    auth_cache_get_stats(a, &s);
    struct strbuf sb;
    struct jsonw w;
    api_json_begin(&sb, &w);
    jsonw_kv_bool(&w, "success", true);
    jsonw_kv_str(&w, "message", "Cache invalidated successfully");
    jsonw_kv_i64(&w, "cache_ttl_seconds", s.cache_ttl_seconds);
    api_json_send(req, 200, &sb, &w);
}
