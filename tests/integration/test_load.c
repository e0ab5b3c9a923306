/*
 * Load check of the HTTP foundation against the real `arc` binary: 10,000
 * requests over 50 keep-alive connections (one thread and one reused curl
 * easy handle per connection), mixing GET /health (200), unknown paths
 * (404), bodies over server.max_request_size_mb (413, announced by
 * Content-Length and refused before upload) and small line-protocol writes
 * (204). Every answer must carry the right status; afterwards every
 * acknowledged row is stored exactly once and the server exits cleanly on
 * SIGTERM. CI also runs this under ASan+UBSan. Bounded: < 60 s.
 */
#include "harness.h"
#include "ingest_util.h"
#include "parquet_check.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 50
#define PER_THREAD 200
#define BIG_BYTES (2u << 20) /* over the 1 MiB limit */

static struct arc_proc srv;
static char *big_body;

struct worker {
    pthread_t tid;
    int idx;
    int wrong;      /* requests answered with an unexpected status */
    long first_bad; /* first unexpected status, for the report */
    char first_bad_what[64];
    long connects; /* new connections opened */
    int writes_ok;
    int counts[4]; /* per kind */
    long kconn[4]; /* connections opened, per kind */
};

static size_t discard(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return s * n;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    struct curl_slist *expect = curl_slist_append(NULL, "Expect: 100-continue");
    for (int i = 0; i < PER_THREAD; i++) {
        int seq = w->idx * PER_THREAD + i;
        int kind = seq % 10 < 5 ? 0 : seq % 10 < 7 ? 1 : seq % 10 < 9 ? 2 : 3;
        char url[256], body[128];
        long want;
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        switch (kind) {
        case 0:
            snprintf(url, sizeof(url), "%s/health", srv.base_url);
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
            want = 200;
            break;
        case 1:
            snprintf(url, sizeof(url), "%s/no/such/path/%d", srv.base_url, seq);
            curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
            want = 404;
            break;
        case 2:
            snprintf(url, sizeof(url), "%s/api/v1/write/line-protocol", srv.base_url);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, big_body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)BIG_BYTES);
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, expect);
            want = 413;
            break;
        default:
            snprintf(url, sizeof(url), "%s/write?db=load&precision=s", srv.base_url);
            snprintf(body, sizeof(body), "l,w=t%d id=%di %d\n", w->idx, seq, 1700000000 + seq);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
            want = 204;
            break;
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        long status = 0, nconn = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
        w->connects += nconn;
        w->kconn[kind] += nconn;
        w->counts[kind]++;
        if (status != want) {
            if (!w->wrong++) {
                w->first_bad = status;
                snprintf(w->first_bad_what, sizeof(w->first_bad_what), "kind %d want %ld", kind,
                         want);
            }
        } else if (kind == 3) {
            w->writes_ok++;
        }
    }
    curl_slist_free_all(expect);
    curl_easy_cleanup(c);
    return NULL;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_mixed_load_then_clean_exit(void **state)
{
    (void)state;
    const char *env[] = {"ARC_SERVER_MAX_REQUEST_SIZE_MB=1",
                         "ARC_INGESTION_BUFFER_AGE_SECONDS=3600", NULL};
    arc_start(&srv, env);
    big_body = malloc(BIG_BYTES);
    memset(big_body, 'x', BIG_BYTES);
    static struct worker ws[NTHREADS];
    double t0 = mono_s();
    for (int i = 0; i < NTHREADS; i++) {
        ws[i] = (struct worker){.idx = i};
        assert_int_equal(pthread_create(&ws[i].tid, NULL, run, &ws[i]), 0);
    }
    int wrong = 0, writes = 0;
    long connects = 0;
    int counts[4] = {0};
    long kconn[4] = {0};
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(ws[i].tid, NULL);
        if (ws[i].wrong) {
            print_error("thread %d: %d unexpected answers, first %ld (%s)\n", i, ws[i].wrong,
                        ws[i].first_bad, ws[i].first_bad_what);
        }
        wrong += ws[i].wrong;
        writes += ws[i].writes_ok;
        connects += ws[i].connects;
        for (int k = 0; k < 4; k++) {
            counts[k] += ws[i].counts[k];
            kconn[k] += ws[i].kconn[k];
        }
    }
    double dt = mono_s() - t0;
    free(big_body);
    print_message("%d requests (%d health, %d 404, %d oversized, %d writes) in %.2f s, "
                  "%ld connections opened (%ld %ld %ld %ld by kind)\n",
                  NTHREADS * PER_THREAD, counts[0], counts[1], counts[2], counts[3], dt, connects,
                  kconn[0], kconn[1], kconn[2], kconn[3]);
    assert_int_equal(wrong, 0);
    assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3], 10000);
    /* Keep-alive: successful requests never cost a new connection. Error
     * responses may close theirs (a refused upload must; the server
     * currently closes after every 404 too, see the report), so the next
     * request on that thread reconnects. */
    assert_true(kconn[0] <= NTHREADS);
    assert_true(connects <= NTHREADS + counts[1] + counts[2]);
    assert_true(dt < 60.0);

    struct http_resp r = http_get(&srv, "/health");
    assert_status(r, 200);
    http_resp_free(&r);
    assert_int_equal(it_flush(&srv, "load", "l"), writes);
    char want[64];
    snprintf(want, sizeof(want), "%d|%d\n", writes, writes);
    assert_pq_rows(&srv, "load", "l", "SELECT count(*), count(DISTINCT id) FROM t", want);
    arc_stop(&srv, 20000); /* asserts a clean exit */
    arc_cleanup(&srv);
}

/* Kills the server if a failed assertion left it running. */
static int kill_srv(void **state)
{
    (void)state;
    arc_cleanup(&srv);
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_mixed_load_then_clean_exit, kill_srv),
    };
    int failed = cmocka_run_group_tests_name("load", tests, NULL, NULL);
    curl_global_cleanup();
    return failed;
}
