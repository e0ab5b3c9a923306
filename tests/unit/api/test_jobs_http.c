/*
 * tests/unit/api/test_jobs_http.c — the compaction and retention endpoints
 * of api/api_jobs.c over real HTTP: a server on 127.0.0.1 (ephemeral port)
 * with only these routes, a real catalog, local storage with raw flush
 * files, a compaction manager and a retention store; libcurl as client and
 * util/json to check the response shapes of SPEC §7.3 and §8.1.
 */
#include "test_helpers.h"

#include <curl/curl.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "api/api_jobs.h"
#include "catalog/catalog.h"
#include "flush/writer.h"
#include "ingest/batch.h"
#include "jobs/compaction.h"
#include "jobs/retention.h"
#include "storage/storage.h"
#include "util/config.h"
#include "util/json.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

static struct app g_app;
static struct config *g_cfg;
static struct compaction *g_comp;
static struct retention *g_ret;
static struct flush_writer *g_w;
static char g_dir[64];
static char g_base[128];
static int g_port;

#define R(m, p, h, perm, body)                                                                     \
    {                                                                                              \
        m, p, h, perm, body, NULL, NULL, NULL, HTTP_EXEC_WORKER                                    \
    }
static const struct http_route routes[] = {
    R("GET", "/api/v1/compaction/status", api_compaction_status, HTTP_PERM_READ, HTTP_BODY_NONE),
    R("GET", "/api/v1/compaction/stats", api_compaction_stats, HTTP_PERM_READ, HTTP_BODY_NONE),
    R("GET", "/api/v1/compaction/candidates", api_compaction_candidates, HTTP_PERM_READ,
      HTTP_BODY_NONE),
    R("POST", "/api/v1/compaction/trigger", api_compaction_trigger, HTTP_PERM_ADMIN,
      HTTP_BODY_NONE),
    R("GET", "/api/v1/compaction/jobs", api_compaction_jobs, HTTP_PERM_READ, HTTP_BODY_NONE),
    R("GET", "/api/v1/compaction/history", api_compaction_history, HTTP_PERM_READ, HTTP_BODY_NONE),
    R("POST", "/api/v1/retention", api_retention_create, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER),
    R("GET", "/api/v1/retention", api_retention_list, HTTP_PERM_READ, HTTP_BODY_NONE),
    R("GET", "/api/v1/retention/{id}", api_retention_get, HTTP_PERM_READ, HTTP_BODY_NONE),
    R("PUT", "/api/v1/retention/{id}", api_retention_update, HTTP_PERM_ADMIN, HTTP_BODY_BUFFER),
    R("DELETE", "/api/v1/retention/{id}", api_retention_delete, HTTP_PERM_ADMIN, HTTP_BODY_NONE),
    R("POST", "/api/v1/retention/{id}/execute", api_retention_execute, HTTP_PERM_ADMIN,
      HTTP_BODY_BUFFER),
    R("GET", "/api/v1/retention/{id}/executions", api_retention_executions, HTTP_PERM_READ,
      HTTP_BODY_NONE),
};

/* One raw file of default/cpu in the hour of t0 (n rows, 1 s apart). */
static void add_file(int64_t t0, size_t n)
{
    struct batch *b = batch_new("default", "cpu");
    enum col_type ex;
    int host = batch_col_get(b, "host", 4, COL_STRING, true, &ex);
    int v = batch_col_get(b, "v", 1, COL_DOUBLE, false, &ex);
    for (size_t i = 0; i < n; i++) {
        size_t r = batch_row_add(b, t0 + (int64_t)i * US_PER_SEC);
        batch_set_str(b, host, r, "a", 1);
        batch_set_f64(b, v, r, (double)i);
    }
    batch_seal(b);
    void *tok = NULL;
    struct errbuf eb = {0};
    if (flush_writer_write(g_w, "default", "cpu", &b, 1, &tok, &eb) != RC_OK)
        fail_msg("write: %s", eb.msg);
    flush_writer_publish(g_w, tok);
    batch_unref(&b);
}

static int setup(void **state)
{
    (void)state;
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    snprintf(g_dir, sizeof(g_dir), "/tmp/arc-jhttp-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_base, sizeof(g_base), "%s/data", g_dir);
    g_cfg = config_new();
    memset(&g_app, 0, sizeof(g_app));
    g_app.cfg = g_cfg;
    g_app.start_mono_ns = time_mono_ns();
    char cpath[256], tmp[256], meta[256];
    snprintf(cpath, sizeof(cpath), "%s/catalog.db", g_dir);
    snprintf(tmp, sizeof(tmp), "%s/compaction", g_dir);
    snprintf(meta, sizeof(meta), "%s/arc.db", g_dir);
    struct errbuf eb = {0};
    if (storage_new_local(g_base, &g_app.storage, &eb) ||
        catalog_open(cpath, &g_app.catalog, &eb) ||
        flush_writer_new(g_app.storage, g_app.catalog, NULL, &g_w, &eb)) {
        fprintf(stderr, "setup: %s\n", eb.msg);
        return -1;
    }
    struct compaction_options o;
    compaction_options_from_config(g_cfg, &o);
    o.temp_dir = tmp;
    o.settle_seconds = 0;
    o.retire_grace_ms = 0;
    if (compaction_new(&o, g_app.storage, g_app.catalog, &g_comp, &eb)) {
        fprintf(stderr, "compaction: %s\n", eb.msg);
        return -1;
    }
    struct retention_options ro = {.db_path = meta, .temp_dir = tmp};
    if (retention_open(&ro, g_app.storage, g_app.catalog, &g_ret, &eb)) {
        fprintf(stderr, "retention: %s\n", eb.msg);
        return -1;
    }
    struct http_options ho = {.host = "127.0.0.1",
                              .port = 0,
                              .max_body_bytes = 1 << 20,
                              .max_connections = 16,
                              .idle_timeout_s = 30,
                              .cors_origins = ""};
    if (http_server_start(&ho, routes, sizeof(routes) / sizeof(routes[0]), NULL, &g_app,
                          &g_app.http, &eb)) {
        fprintf(stderr, "http: %s\n", eb.msg);
        return -1;
    }
    g_port = http_server_port(g_app.http);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    http_server_stop(&g_app.http);
    api_compaction_global = NULL;
    api_retention_global = NULL;
    compaction_free(&g_comp);
    retention_close(&g_ret);
    flush_writer_free(&g_w);
    catalog_close(&g_app.catalog);
    storage_free(&g_app.storage);
    config_free(&g_cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", g_dir);
    curl_global_cleanup();
    return 0;
}

/* ---- client -------------------------------------------------------------- */

struct resp {
    long status;
    char *body;
    struct json_value *json;
    char headers[4096];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    return strbuf_append(ud, p, sz * n) == RC_OK ? sz * n : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t l = strlen(r->headers);
    snprintf(r->headers + l, sizeof(r->headers) - l, "%.*s", (int)(sz * n), p);
    return sz * n;
}

static struct resp request(const char *method, const char *path, const char *body)
{
    struct resp r;
    memset(&r, 0, sizeof(r));
    struct strbuf sb;
    strbuf_init(&sb, 0);
    CURL *c = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *h = NULL;
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        h = curl_slist_append(h, "Content-Type: application/json");
    } else if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        fail_msg("curl %s %s: %s", method, path, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.body = strbuf_detach(&sb, NULL);
    if (!r.body)
        r.body = xstrdup("");
    struct errbuf eb = {0};
    if (r.body[0] && json_parse(r.body, strlen(r.body), &r.json, &eb) != RC_OK)
        fail_msg("%s %s: bad JSON (%s): %s", method, path, eb.msg, r.body);
    return r;
}

static void resp_free(struct resp *r)
{
    xfree(r->body);
    json_free(&r->json);
}

#define EXPECT(r, code)                                                                            \
    do {                                                                                           \
        if ((r).status != (code))                                                                  \
            fail_msg("expected %d, got %ld: %s", (code), (r).status, (r).body);                    \
    } while (0)

static const struct json_value *jget(const struct json_value *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *s = buf, *dot; s; s = dot ? dot + 1 : NULL) {
        dot = strchr(s, '.');
        if (dot)
            *dot = '\0';
        v = json_obj_get(v, s);
        if (!v)
            fail_msg("missing member %s", path);
    }
    return v;
}

static int64_t jint(const struct json_value *v, const char *path)
{
    int64_t x = 0;
    if (!json_as_i64(jget(v, path), &x))
        fail_msg("%s is not an integer", path);
    return x;
}

static const char *jstr(const struct json_value *v, const char *path)
{
    const char *s = json_as_str(jget(v, path), NULL);
    if (!s)
        fail_msg("%s is not a string", path);
    return s;
}

static bool jbool(const struct json_value *v, const char *path)
{
    bool b = false;
    if (!json_as_bool(jget(v, path), &b))
        fail_msg("%s is not a boolean", path);
    return b;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_disabled(void **state)
{
    (void)state;
    api_compaction_global = NULL;
    api_retention_global = NULL;
    const char *get[] = {"/api/v1/compaction/status", "/api/v1/compaction/stats",
                         "/api/v1/compaction/candidates", "/api/v1/compaction/jobs",
                         "/api/v1/compaction/history"};
    for (size_t i = 0; i < sizeof(get) / sizeof(get[0]); i++) {
        struct resp r = request("GET", get[i], NULL);
        EXPECT(r, 503);
        assert_string_equal(jstr(r.json, "error"), "Compaction not initialized");
        assert_non_null(strcasestr(r.headers, "Retry-After:"));
        resp_free(&r);
    }
    struct resp r = request("POST", "/api/v1/compaction/trigger", NULL);
    EXPECT(r, 503);
    resp_free(&r);
    r = request("GET", "/api/v1/retention", NULL);
    EXPECT(r, 503);
    assert_string_equal(jstr(r.json, "error"), "Retention not initialized");
    resp_free(&r);
}

static void test_compaction_endpoints(void **state)
{
    (void)state;
    api_compaction_global = g_comp;
    /* 14:00 three days ago: compactable, and younger than the retention
     * policy below. */
    int64_t t0 = time_floor_day(time_now_us()) - 3 * US_PER_DAY + 14 * US_PER_HOUR;
    struct civil_time ct;
    time_to_civil(t0, &ct);
    char hour_path[96], day_path[64];
    snprintf(day_path, sizeof(day_path), "default/cpu/%04d/%02d/%02d", ct.year, ct.month, ct.day);
    snprintf(hour_path, sizeof(hour_path), "%s/14", day_path);
    for (int i = 0; i < 12; i++)
        add_file(t0 + i * 60 * US_PER_SEC, 5);

    struct resp r = request("GET", "/api/v1/compaction/status", NULL);
    EXPECT(r, 200);
    assert_false(jbool(r.json, "scheduler.running"));
    assert_true(json_is_null(jget(r.json, "scheduler.last_run")));
    assert_true(jbool(r.json, "schedulers.hourly.enabled"));
    assert_string_equal(jstr(r.json, "schedulers.hourly.schedule"), "5 * * * *");
    assert_string_equal(jstr(r.json, "schedulers.daily.schedule"), "0 3 * * *");
    assert_int_equal(jint(r.json, "manager.active_jobs"), 0);
    assert_int_equal(jint(r.json, "manager.total_completed"), 0);
    assert_int_equal(jint(r.json, "manager.total_failed"), 0);
    resp_free(&r);

    /* 12 files: the hour (min 10) and the day (min 12) are both eligible. */
    r = request("GET", "/api/v1/compaction/candidates", NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "count"), 2);
    const struct json_value *c0 = json_arr_at(jget(r.json, "candidates"), 0);
    assert_string_equal(jstr(c0, "database"), "default");
    assert_string_equal(jstr(c0, "measurement"), "cpu");
    assert_string_equal(jstr(c0, "partition_path"), hour_path);
    assert_int_equal(jint(c0, "file_count"), 12);
    assert_string_equal(jstr(c0, "tier"), "hourly");
    c0 = json_arr_at(jget(r.json, "candidates"), 1);
    assert_string_equal(jstr(c0, "partition_path"), day_path);
    assert_string_equal(jstr(c0, "tier"), "daily");
    resp_free(&r);
    r = request("GET", "/api/v1/compaction/candidates?tier=daily", NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "count"), 1);
    resp_free(&r);
    r = request("GET", "/api/v1/compaction/candidates?database=nope", NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "count"), 0);
    resp_free(&r);

    /* Bad filters. */
    r = request("POST", "/api/v1/compaction/trigger?tier=weekly", NULL);
    EXPECT(r, 400);
    resp_free(&r);
    r = request("POST", "/api/v1/compaction/trigger?database=9x", NULL);
    EXPECT(r, 400);
    resp_free(&r);
    r = request("GET", "/api/v1/compaction/history?limit=0", NULL);
    EXPECT(r, 400);
    resp_free(&r);

    /* Trigger; an immediate second trigger finds the cycle running. */
    r = request("POST", "/api/v1/compaction/trigger", NULL);
    EXPECT(r, 200);
    assert_string_equal(jstr(r.json, "message"), "Compaction triggered");
    assert_string_equal(jstr(r.json, "status"), "running");
    int64_t cycle = jint(r.json, "cycle_id");
    assert_int_equal(cycle, 1);
    const struct json_value *tiers = jget(r.json, "tiers");
    assert_int_equal(json_arr_len(tiers), 2);
    assert_string_equal(json_as_str(json_arr_at(tiers, 0), NULL), "hourly");
    assert_string_equal(json_as_str(json_arr_at(tiers, 1), NULL), "daily");
    resp_free(&r);
    r = request("POST", "/api/v1/compaction/trigger?tier=hourly", NULL);
    if (r.status == 409) {
        assert_string_equal(jstr(r.json, "error"), "Compaction cycle already running");
        assert_int_equal(jint(r.json, "cycle_id"), cycle);
        assert_true(jbool(r.json, "is_running"));
    } else {
        /* The first cycle was already over: this is cycle 2. */
        EXPECT(r, 200);
        assert_int_equal(jint(r.json, "cycle_id"), 2);
    }
    resp_free(&r);
    r = request("GET", "/api/v1/compaction/jobs", NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "active_jobs"), (int64_t)json_arr_len(jget(r.json, "jobs")));
    resp_free(&r);
    assert_true(compaction_wait_idle(g_comp, 30000));

    r = request("GET", "/api/v1/compaction/history?limit=5", NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "total_jobs"), 1);
    const struct json_value *j0 = json_arr_at(jget(r.json, "recent_jobs"), 0);
    assert_int_equal(jint(j0, "job_id"), 1);
    assert_string_equal(jstr(j0, "database"), "default");
    assert_string_equal(jstr(j0, "measurement"), "cpu");
    assert_string_equal(jstr(j0, "partition_path"), hour_path);
    assert_string_equal(jstr(j0, "tier"), "hourly");
    assert_string_equal(jstr(j0, "status"), "completed");
    assert_int_equal(jint(j0, "files_compacted"), 12);
    assert_true(jint(j0, "bytes_before") > jint(j0, "bytes_after"));
    assert_non_null(jstr(j0, "started_at"));
    double dur = -1;
    assert_true(json_as_f64(jget(j0, "duration_seconds"), &dur) && dur >= 0);
    assert_true(json_is_null(jget(j0, "error")));
    resp_free(&r);

    r = request("GET", "/api/v1/compaction/stats", NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "total_jobs_completed"), 1);
    assert_int_equal(jint(r.json, "total_jobs_failed"), 0);
    assert_int_equal(jint(r.json, "total_files_compacted"), 12);
    assert_int_equal(jint(r.json, "total_bytes_saved"),
                     jint(r.json, "total_bytes_before") - jint(r.json, "total_bytes_after"));
    assert_int_equal(jint(r.json, "active_jobs"), 0);
    assert_int_equal(jint(r.json, "tiers.hourly.files_compacted"), 12);
    assert_int_equal(jint(r.json, "tiers.daily.jobs_completed"), 0);
    assert_non_null(jstr(r.json, "last_cycle_at"));
    resp_free(&r);

    r = request("GET", "/api/v1/compaction/status", NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "manager.total_completed"), 1);
    assert_non_null(jstr(r.json, "scheduler.last_run"));
    resp_free(&r);
}

static void test_retention_endpoints(void **state)
{
    (void)state;
    api_retention_global = g_ret;
    /* A file 400 days old. */
    add_file(time_floor_hour(time_now_us()) - 400 * US_PER_DAY, 3);

    struct resp r =
        request("POST", "/api/v1/retention",
                "{\"name\": \"old\", \"database\": \"default\", \"retention_days\": 30}");
    EXPECT(r, 201);
    int64_t id = jint(r.json, "id");
    assert_true(id > 0);
    assert_string_equal(jstr(r.json, "name"), "old");
    assert_string_equal(jstr(r.json, "database"), "default");
    assert_true(json_is_null(jget(r.json, "measurement")));
    assert_int_equal(jint(r.json, "retention_days"), 30);
    assert_int_equal(jint(r.json, "buffer_days"), 7); /* default */
    assert_true(jbool(r.json, "is_active"));
    assert_true(json_is_null(jget(r.json, "last_execution_time")));
    assert_true(json_is_null(jget(r.json, "last_execution_status")));
    assert_true(json_is_null(jget(r.json, "last_deleted_count")));
    assert_non_null(jstr(r.json, "created_at"));
    assert_non_null(jstr(r.json, "updated_at"));
    resp_free(&r);

    struct {
        const char *body;
        int status;
        const char *msg;
    } bad[] = {
        {"{\"name\": \"old\", \"database\": \"default\", \"retention_days\": 30}", 409,
         "already exists"},
        {"{\"name\": \"x\", \"database\": \"default\", \"retention_days\": 7, \"buffer_days\": 7}",
         400, "retention_days must be greater than buffer_days"},
        {"{\"name\": \"x\", \"database\": \"default\", \"retention_days\": \"30\"}", 400,
         "retention_days"},
        {"{\"name\": \"x\", \"database\": \"default\", \"retention_days\": 3.5}", 400,
         "retention_days"},
        {"{\"name\": \"x\", \"retention_days\": 30}", 400, "database is required"},
        {"{\"database\": \"default\", \"retention_days\": 30}", 400, "name is required"},
        {"{\"name\": \"x\", \"database\": \"default\", \"retention_days\": 30, \"is_active\": 1}",
         400, "is_active"},
        {"[1]", 400, "JSON object"},
        {"{", 400, "JSON"},
        {NULL, 400, "JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = request("POST", "/api/v1/retention", bad[i].body);
        EXPECT(r, bad[i].status);
        if (!strstr(jstr(r.json, "error"), bad[i].msg))
            fail_msg("case %zu: %s", i, r.body);
        assert_string_equal(jstr(r.json, "error"), jstr(r.json, "detail"));
        resp_free(&r);
    }

    char path[128], path2[256];
    snprintf(path, sizeof(path), "/api/v1/retention/%lld", (long long)id);
    r = request("GET", "/api/v1/retention", NULL);
    EXPECT(r, 200);
    assert_int_equal(json_type(r.json), JSON_ARRAY);
    assert_int_equal(json_arr_len(r.json), 1);
    assert_int_equal(jint(json_arr_at(r.json, 0), "id"), id);
    resp_free(&r);
    r = request("GET", path, NULL);
    EXPECT(r, 200);
    assert_string_equal(jstr(r.json, "name"), "old");
    resp_free(&r);
    r = request("GET", "/api/v1/retention/999", NULL);
    EXPECT(r, 404);
    resp_free(&r);
    r = request("GET", "/api/v1/retention/abc", NULL);
    EXPECT(r, 404);
    resp_free(&r);
    r = request("PUT", path,
                "{\"name\": \"old-cpu\", \"database\": \"default\", \"measurement\": \"cpu\", "
                "\"retention_days\": 20, \"buffer_days\": 1}");
    EXPECT(r, 200);
    assert_string_equal(jstr(r.json, "name"), "old-cpu");
    assert_string_equal(jstr(r.json, "measurement"), "cpu");
    assert_int_equal(jint(r.json, "retention_days"), 20);
    assert_int_equal(jint(r.json, "buffer_days"), 1);
    resp_free(&r);
    r = request("PUT", "/api/v1/retention/999",
                "{\"name\": \"z\", \"database\": \"default\", \"retention_days\": 20}");
    EXPECT(r, 404);
    resp_free(&r);

    /* Execute: confirm required; dry run; real run; history. */
    snprintf(path2, sizeof(path2), "%s/execute", path);
    r = request("POST", path2, NULL);
    EXPECT(r, 400);
    assert_non_null(strstr(jstr(r.json, "error"), "confirm"));
    resp_free(&r);
    r = request("POST", path2, "{\"dry_run\": \"yes\"}");
    EXPECT(r, 400);
    resp_free(&r);
    r = request("POST", path2, "{\"dry_run\": true}");
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "policy_id"), id);
    assert_string_equal(jstr(r.json, "policy_name"), "old-cpu");
    assert_int_equal(jint(r.json, "deleted_count"), 3);
    assert_int_equal(jint(r.json, "files_deleted"), 1);
    assert_true(jbool(r.json, "dry_run"));
    double ms = -1;
    assert_true(json_as_f64(jget(r.json, "execution_time_ms"), &ms) && ms >= 0);
    int64_t cut = 0;
    const char *cs = jstr(r.json, "cutoff_date");
    assert_true(time_parse_rfc3339(cs, strlen(cs), &cut));
    assert_true(llabs(cut - (time_now_us() - 21 * US_PER_DAY)) < 60 * US_PER_SEC);
    const struct json_value *aff = jget(r.json, "affected_measurements");
    assert_int_equal(json_arr_len(aff), 1);
    assert_string_equal(json_as_str(json_arr_at(aff, 0), NULL), "cpu");
    resp_free(&r);
    r = request("POST", path2, "{\"confirm\": true}");
    EXPECT(r, 200);
    assert_false(jbool(r.json, "dry_run"));
    assert_int_equal(jint(r.json, "deleted_count"), 3);
    resp_free(&r);
    snprintf(path2, sizeof(path2), "%s/executions?limit=10", path);
    r = request("GET", path2, NULL);
    EXPECT(r, 200);
    assert_int_equal(jint(r.json, "policy_id"), id);
    const struct json_value *ex = jget(r.json, "executions");
    assert_int_equal(json_arr_len(ex), 1);
    const struct json_value *e0 = json_arr_at(ex, 0);
    assert_true(jint(e0, "id") > 0);
    assert_int_equal(jint(e0, "policy_id"), id);
    assert_string_equal(jstr(e0, "status"), "completed");
    assert_int_equal(jint(e0, "deleted_count"), 3);
    assert_non_null(jstr(e0, "execution_time"));
    assert_non_null(jstr(e0, "cutoff_date"));
    assert_true(json_as_f64(jget(e0, "execution_duration_ms"), &ms));
    assert_true(json_is_null(jget(e0, "error_message")));
    resp_free(&r);
    r = request("GET", path, NULL);
    EXPECT(r, 200);
    assert_string_equal(jstr(r.json, "last_execution_status"), "completed");
    assert_int_equal(jint(r.json, "last_deleted_count"), 3);
    assert_non_null(jstr(r.json, "last_execution_time"));
    resp_free(&r);

    /* Inactive: refused. */
    r = request("PUT", path,
                "{\"name\": \"old-cpu\", \"database\": \"default\", \"retention_days\": 20, "
                "\"is_active\": false}");
    EXPECT(r, 200);
    resp_free(&r);
    snprintf(path2, sizeof(path2), "%s/execute", path);
    r = request("POST", path2, "{\"dry_run\": true}");
    EXPECT(r, 400);
    assert_string_equal(jstr(r.json, "error"), "Retention policy is not active");
    resp_free(&r);
    r = request("POST", "/api/v1/retention/999/execute", "{\"dry_run\": true}");
    EXPECT(r, 404);
    resp_free(&r);

    r = request("DELETE", path, NULL);
    EXPECT(r, 200);
    assert_true(jbool(r.json, "success"));
    assert_string_equal(jstr(r.json, "message"), "Retention policy deleted successfully");
    resp_free(&r);
    r = request("DELETE", path, NULL);
    EXPECT(r, 404);
    resp_free(&r);
    snprintf(path2, sizeof(path2), "%s/executions", path);
    r = request("GET", path2, NULL);
    EXPECT(r, 404);
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_compaction_endpoints),
        cmocka_unit_test(test_retention_endpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
