/*
 * tests/integration/support/ingest_util.c — see ingest_util.h.
 */
#include "ingest_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct http_resp it_post(const struct arc_proc *p, const char *path, const char *const *headers,
                         const void *body, size_t len, long want_status)
{
    struct http_resp r = http_do(p, "POST", path, headers, body, len);
    if (r.status != want_status) {
        print_error("POST %s: expected HTTP %ld, got %ld: %s\n", path, want_status, r.status,
                    r.body ? r.body : "(null)");
        http_resp_free(&r);
        fail();
    }
    return r;
}

void it_write_ok(const struct arc_proc *p, const char *path, const char *body)
{
    struct http_resp r = it_post(p, path, NULL, body, strlen(body), 204);
    assert_int_equal(r.len, 0);
    http_resp_free(&r);
}

int64_t it_flush(const struct arc_proc *p, const char *db, const char *m)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/write/flush%s%s%s%s", db ? "?database=" : "",
             db ? db : "", m ? (db ? "&measurement=" : "?measurement=") : "", m ? m : "");
    struct http_resp r = it_post(p, path, NULL, NULL, 0, 200);
    struct json_value *doc = it_json(&r);
    assert_string_equal(it_jstr(doc, "status"), "success");
    assert_string_equal(it_jstr(doc, "message"), "All buffers flushed");
    int64_t n = it_jint(doc, "flushed_records");
    json_free(&doc);
    http_resp_free(&r);
    return n;
}

int64_t it_held_rows(const struct arc_proc *p, const char *key)
{
    struct http_resp r = http_get(p, "/api/v1/write/stats");
    assert_status(r, 200);
    struct json_value *doc = it_json(&r);
    const struct json_value *sizes =
        json_obj_get(json_obj_get(doc, "buffer_stats"), "current_buffer_sizes");
    assert_int_equal(json_type(sizes), JSON_OBJECT);
    int64_t n = 0;
    const struct json_value *v = json_obj_get(sizes, key);
    if (v && !json_as_i64(v, &n)) {
        print_error("current_buffer_sizes[%s] is not an integer: %s\n", key, r.body);
        fail();
    }
    json_free(&doc);
    http_resp_free(&r);
    return n;
}

struct json_value *it_json(const struct http_resp *r)
{
    struct json_value *doc = NULL;
    struct errbuf eb = {0};
    if (json_parse(r->body, r->len, &doc, &eb) != RC_OK) {
        print_error("response is not JSON (%s): %s\n", eb.msg, r->body);
        fail();
    }
    return doc;
}

const char *it_jstr(const struct json_value *obj, const char *key)
{
    const char *s = json_as_str(json_obj_get(obj, key), NULL);
    if (!s) {
        print_error("JSON member \"%s\" missing or not a string\n", key);
        fail();
    }
    return s;
}

int64_t it_jint(const struct json_value *obj, const char *key)
{
    int64_t v;
    if (!json_as_i64(json_obj_get(obj, key), &v)) {
        print_error("JSON member \"%s\" missing or not an integer\n", key);
        fail();
    }
    return v;
}

int64_t it_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
