/*
 * Integration tests of the write-ahead log against the real `arc` binary
 * (SPEC §6, §11 R6):
 *
 *   - crash: clients ingest continuously with fdatasync while the server is
 *     killed with SIGKILL at random moments (several rounds); after the last
 *     restart and a flush, every row that got a 2xx is present exactly once
 *     (each row carries a unique id);
 *   - T6.1: fsync takes 2 s; 50 concurrent writes complete in < 5 s (group
 *     commit) while /health on other connections stays fast; with a 200 ms
 *     sync, /health and queries answer quickly while writes wait;
 *   - T6.3: a tiny queue and a stuck sync: writes beyond the queue get 503 in
 *     < 100 ms, none is acknowledged, and their rows never appear;
 *   - T6.4: wal_write_fail: writes get 500, /ready 503, /api/v1/wal/health
 *     lists the error;
 *   - the §6.4 endpoints, and a clean shutdown leaving no segment.
 *
 * These need the WAL wired into the server (api/app.c, api/api_write.c).
 */
#include "harness.h"

#include <curl/curl.h>
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROWS_PER_REQ 10
#define T0_NS INT64_C(1736949600000000000) /* 2025-01-15T14:00:00Z */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Line protocol for ids [id0, id0 + n): one row per second, so a request
 * and a flush span hour boundaries now and then. */
static char *lp_body(int64_t id0, int n)
{
    size_t cap = (size_t)n * 96 + 1;
    char *b = malloc(cap);
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        int64_t id = id0 + i;
        o += (size_t)snprintf(b + o, cap - o, "m,host=h%lld id=%lldi,v=%lld.5 %lld\n",
                              (long long)(id % 5), (long long)id, (long long)id,
                              (long long)(T0_NS + id * INT64_C(1000000000)));
    }
    return b;
}

static struct http_resp post_rows(const struct arc_proc *p, int64_t id0, int n)
{
    char *body = lp_body(id0, n);
    struct http_resp r = http_post(p, "/api/v1/write", body, NULL);
    free(body);
    return r;
}

static int count_dir(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > sl && !strcmp(de->d_name + l - sl, suffix))
            n++;
    }
    closedir(d);
    return n;
}

/* Parses the integers of `"data":[[1],[2],...]` (one integer column). */
static int64_t *parse_ids(const char *body, size_t *n)
{
    *n = 0;
    const char *p = body ? strstr(body, "\"data\":[") : NULL;
    if (!p)
        return NULL;
    p += 8;
    size_t cap = 1024;
    int64_t *v = malloc(cap * sizeof(*v));
    while (*p && *p != ']') {
        if (*p == '[') {
            char *end;
            long long x = strtoll(p + 1, &end, 10);
            if (*n == cap) {
                cap *= 2;
                v = realloc(v, cap * sizeof(*v));
            }
            v[(*n)++] = x;
            p = strchr(end, ']');
            if (!p)
                break;
        }
        p++;
    }
    return v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void flush_all(const struct arc_proc *p)
{
    struct http_resp r = http_post(p, "/api/v1/write/flush", "", NULL);
    assert_status(r, 200);
    http_resp_free(&r);
}

/* ---- crash test -------------------------------------------------------------- */

struct crash_state {
    struct arc_proc *srv;
    _Atomic int64_t next_id;
    _Atomic bool stop;
    pthread_mutex_t mu;
    int64_t *acked; /* first id of each acknowledged request */
    size_t nacked, cap;
    _Atomic uint64_t rejected;
};

static void *crash_client(void *arg)
{
    struct crash_state *s = arg;
    while (!atomic_load(&s->stop)) {
        int64_t id0 = atomic_fetch_add(&s->next_id, ROWS_PER_REQ);
        struct http_resp r = post_rows(s->srv, id0, ROWS_PER_REQ);
        if (r.status == 204) {
            pthread_mutex_lock(&s->mu);
            if (s->nacked == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 1024;
                s->acked = realloc(s->acked, s->cap * sizeof(*s->acked));
            }
            s->acked[s->nacked++] = id0;
            pthread_mutex_unlock(&s->mu);
        } else {
            atomic_fetch_add(&s->rejected, 1);
            if (r.status == 0)
                usleep(20 * 1000); /* server down: wait for the next round */
        }
        http_resp_free(&r);
    }
    return NULL;
}

static void test_kill9_no_loss_no_dup(void **state)
{
    (void)state;
    const char *env[] = {"ARC_WAL_ENABLED=true",
                         "ARC_WAL_SYNC_MODE=fdatasync",
                         "ARC_INGESTION_BUFFER_SIZE=300",
                         "ARC_INGESTION_BUFFER_AGE_SECONDS=1",
                         "ARC_WAL_MAX_SIZE_MB=1",
                         "ARC_LOGGING_LEVEL=INFO",
                         NULL};
    struct arc_proc srv;
    arc_start(&srv, env);
    struct crash_state s = {.srv = &srv};
    atomic_init(&s.next_id, 1);
    pthread_mutex_init(&s.mu, NULL);
    unsigned seed = (unsigned)time(NULL);
    print_message("crash test seed=%u\n", seed);
    enum { ROUNDS = 4, CLIENTS = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&s.stop, false);
        pthread_t th[CLIENTS];
        for (int i = 0; i < CLIENTS; i++)
            pthread_create(&th[i], NULL, crash_client, &s);
        usleep((useconds_t)(400 + rand_r(&seed) % 1200) * 1000);
        arc_kill9(&srv); /* mid-write, often mid-flush */
        atomic_store(&s.stop, true);
        for (int i = 0; i < CLIENTS; i++)
            pthread_join(th[i], NULL);
        print_message("round %d: %zu requests acknowledged so far\n", round, s.nacked);
        arc_restart(&srv, env); /* replays the WAL before /ready */
    }
    assert_true(s.nacked > 0);
    flush_all(&srv);

    struct http_resp r = arc_query(&srv, "SELECT id FROM m ORDER BY id");
    assert_status(r, 200);
    size_t n = 0;
    int64_t *ids = parse_ids(r.body, &n);
    http_resp_free(&r);
    qsort(ids, n, sizeof(*ids), cmp_i64);
    size_t dups = 0;
    for (size_t i = 1; i < n; i++)
        dups += ids[i] == ids[i - 1];
    size_t missing = 0;
    for (size_t k = 0; k < s.nacked; k++) {
        for (int64_t id = s.acked[k]; id < s.acked[k] + ROWS_PER_REQ; id++) {
            if (!bsearch(&id, ids, n, sizeof(*ids), cmp_i64)) {
                if (missing < 5)
                    print_error("acknowledged id %lld is missing\n", (long long)id);
                missing++;
            }
        }
    }
    print_message("rows stored %zu, acknowledged %zu, duplicates %zu, missing %zu\n", n,
                  s.nacked * ROWS_PER_REQ, dups, missing);
    assert_int_equal(missing, 0);
    assert_int_equal(dups, 0);
    /* Cross-check with SQL. */
    r = arc_query(&srv, "SELECT count(*) - count(DISTINCT id) FROM m");
    assert_status(r, 200);
    assert_body_contains(r, "\"data\":[[0]]");
    http_resp_free(&r);

    /* A clean shutdown after the flush leaves no live segment. */
    arc_stop(&srv, 20000);
    char waldir[400];
    snprintf(waldir, sizeof(waldir), "%s/data/wal", srv.dir);
    assert_int_equal(count_dir(waldir, ".wal"), 0);
    assert_true(count_dir(waldir, ".wal.recovered") >= 1);
    free(ids);
    free(s.acked);
    pthread_mutex_destroy(&s.mu);
    arc_cleanup(&srv);
}

/* ---- T6.1: slow fsync, group commit, /health unaffected ------------------------- */

struct one_write {
    pthread_t th;
    struct arc_proc *srv;
    int64_t id0;
    long status;
    int64_t ms;
};

static void *one_write_thread(void *arg)
{
    struct one_write *w = arg;
    int64_t t0 = mono_ms();
    struct http_resp r = post_rows(w->srv, w->id0, 2);
    w->ms = mono_ms() - t0;
    w->status = r.status;
    http_resp_free(&r);
    return NULL;
}

struct poller {
    pthread_t th;
    struct arc_proc *srv;
    const char *path;
    int interval_ms;
    _Atomic bool stop;
    double lat_ms[4096];
    int n, bad;
};

static void *poll_thread(void *arg)
{
    struct poller *p = arg;
    while (!atomic_load(&p->stop) && p->n < 4096) {
        struct http_resp r = http_get(p->srv, p->path);
        if (r.status != 200)
            p->bad++;
        p->lat_ms[p->n++] = r.seconds * 1000.0;
        http_resp_free(&r);
        usleep((useconds_t)p->interval_ms * 1000);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double p99(struct poller *p)
{
    qsort(p->lat_ms, (size_t)p->n, sizeof(double), cmp_double);
    return p->n ? p->lat_ms[(p->n * 99) / 100 < p->n ? (p->n * 99) / 100 : p->n - 1] : 0;
}

static void test_t61_group_commit_slow_fsync(void **state)
{
    (void)state;
    const char *env[] = {"ARC_WAL_ENABLED=true", "ARC_WAL_SYNC_MODE=fsync",
                         "ARC_TEST_FAULTS=fsync_delay_ms=2000", "ARC_LOGGING_LEVEL=INFO", NULL};
    struct arc_proc srv;
    arc_start(&srv, env);
    struct poller hp = {.srv = &srv, .path = "/health", .interval_ms = 50};
    atomic_init(&hp.stop, false);
    pthread_create(&hp.th, NULL, poll_thread, &hp);
    enum { N = 50 };
    static struct one_write w[N];
    int64_t t0 = mono_ms();
    for (int i = 0; i < N; i++) {
        w[i] = (struct one_write){.srv = &srv, .id0 = 1000 + i * 10};
        pthread_create(&w[i].th, NULL, one_write_thread, &w[i]);
    }
    int64_t worst = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(w[i].th, NULL);
        assert_int_equal(w[i].status, 204);
        if (w[i].ms > worst)
            worst = w[i].ms;
    }
    int64_t all = mono_ms() - t0;
    atomic_store(&hp.stop, true);
    pthread_join(hp.th, NULL);
    double hp99 = p99(&hp);
    print_message("T6.1: 50 writes done in %lld ms (worst %lld ms); /health p99 %.1f ms over %d\n",
                  (long long)all, (long long)worst, hp99, hp.n);
    assert_true(all < 5000);
    assert_true(worst >= 1900); /* each one really waited for its sync */
    assert_int_equal(hp.bad, 0);
    assert_true(hp99 < 100.0);
    arc_kill9(&srv); /* a graceful stop would sit through more 2 s syncs */
    arc_cleanup(&srv);
}

static void test_slow_disk_health_and_queries_fast(void **state)
{
    (void)state;
    const char *env[] = {"ARC_WAL_ENABLED=true", "ARC_WAL_SYNC_MODE=fdatasync",
                         "ARC_TEST_FAULTS=fsync_delay_ms=200", "ARC_LOGGING_LEVEL=INFO", NULL};
    struct arc_proc srv;
    arc_start(&srv, env);
    /* Some data to query, flushed, and a warm query engine. */
    struct http_resp r = post_rows(&srv, 1, 50);
    assert_status(r, 204);
    assert_true(r.seconds >= 0.19);
    http_resp_free(&r);
    flush_all(&srv);
    r = arc_query(&srv, "SELECT count(*) FROM m");
    assert_status(r, 200);
    http_resp_free(&r);

    struct poller hp = {.srv = &srv, .path = "/health", .interval_ms = 20};
    atomic_init(&hp.stop, false);
    pthread_create(&hp.th, NULL, poll_thread, &hp);
    enum { N = 16 };
    static struct one_write w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct one_write){.srv = &srv, .id0 = 10000 + i * 10};
        pthread_create(&w[i].th, NULL, one_write_thread, &w[i]);
    }
    double qms[10];
    for (int i = 0; i < 10; i++) {
        r = arc_query(&srv, "SELECT count(*) FROM m");
        assert_status(r, 200);
        qms[i] = r.seconds * 1000.0;
        http_resp_free(&r);
        usleep(30 * 1000);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(w[i].th, NULL);
        assert_int_equal(w[i].status, 204);
        assert_true(w[i].ms >= 190);
    }
    atomic_store(&hp.stop, true);
    pthread_join(hp.th, NULL);
    qsort(qms, 10, sizeof(double), cmp_double);
    double hp99 = p99(&hp);
    print_message("slow disk: /health p99 %.1f ms, query median %.1f ms max %.1f ms\n", hp99,
                  qms[5], qms[9]);
    assert_int_equal(hp.bad, 0);
    assert_true(hp99 < 50.0);
    assert_true(qms[5] < 50.0);
    arc_stop(&srv, 20000);
    arc_cleanup(&srv);
}

/* ---- T6.3: queue full → 503 fast, nothing unlogged acknowledged --------------------- */

static void test_t63_queue_full(void **state)
{
    (void)state;
    const char *env[] = {"ARC_WAL_ENABLED=true",   "ARC_WAL_SYNC_MODE=fsync",
                         "ARC_WAL_QUEUE_SIZE=10",  "ARC_TEST_FAULTS=fsync_delay_ms=30000",
                         "ARC_LOGGING_LEVEL=INFO", NULL};
    struct arc_proc srv;
    arc_start(&srv, env);
    /* One write goes into the (stuck) sync, ten fill the queue. */
    enum { BLOCKED = 11, EXTRA = 20 };
    static struct one_write w[BLOCKED];
    for (int i = 0; i < BLOCKED; i++) {
        w[i] = (struct one_write){.srv = &srv, .id0 = 1 + i * 10};
        pthread_create(&w[i].th, NULL, one_write_thread, &w[i]);
        usleep(i == 0 ? 300 * 1000 : 20 * 1000);
    }
    usleep(300 * 1000);
    int busy = 0;
    for (int i = 0; i < EXTRA; i++) {
        int64_t t0 = mono_ms();
        struct http_resp r = post_rows(&srv, 100000 + i * 10, 2);
        int64_t ms = mono_ms() - t0;
        assert_int_not_equal(r.status, 204); /* never acknowledged */
        if (r.status == 503) {
            busy++;
            assert_true(ms < 100);
            char ra[16];
            assert_true(http_resp_header(&r, "Retry-After", ra, sizeof(ra)));
        }
        http_resp_free(&r);
    }
    print_message("T6.3: %d of %d extra writes got 503\n", busy, EXTRA);
    assert_int_equal(busy, EXTRA);
    struct http_resp r = http_get(&srv, "/api/v1/wal/stats");
    assert_status(r, 200);
    assert_body_contains(r, "\"pending_entries\":10");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/health");
    assert_body_contains(r, "queue");
    http_resp_free(&r);

    arc_kill9(&srv);
    for (int i = 0; i < BLOCKED; i++) {
        pthread_join(w[i].th, NULL);
        assert_int_not_equal(w[i].status, 204);
    }
    /* Restart without the fault: the rejected rows never appear. */
    const char *env2[] = {"ARC_WAL_ENABLED=true", "ARC_WAL_SYNC_MODE=fsync", NULL};
    arc_restart(&srv, env2);
    flush_all(&srv);
    r = arc_query(&srv, "SELECT count(*) FROM m WHERE id >= 100000");
    if (r.status == 200)
        assert_body_contains(r, "\"data\":[[0]]");
    http_resp_free(&r);
    arc_stop(&srv, 20000);
    arc_cleanup(&srv);
}

/* ---- T6.4: write failure ------------------------------------------------------------------ */

static void test_t64_write_fail(void **state)
{
    (void)state;
    const char *env[] = {"ARC_WAL_ENABLED=true", "ARC_WAL_SYNC_MODE=fdatasync",
                         "ARC_TEST_FAULTS=wal_write_fail", "ARC_LOGGING_LEVEL=INFO", NULL};
    struct arc_proc srv;
    arc_start(&srv, env); /* segment creation is not affected: it starts */
    struct http_resp r = post_rows(&srv, 1, 3);
    assert_status(r, 500);
    http_resp_free(&r);
    r = post_rows(&srv, 100, 3); /* sticky */
    assert_status(r, 500);
    http_resp_free(&r);
    r = http_get(&srv, "/ready");
    assert_status(r, 503);
    http_resp_free(&r);
    r = http_get(&srv, "/health");
    assert_status(r, 200);
    assert_body_contains(r, "\"wal\":\"degraded\"");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/health");
    assert_status(r, 200);
    assert_body_contains(r, "\"healthy\":false");
    assert_body_contains(r, "write failed");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/stats");
    assert_body_contains(r, "\"degraded\":true");
    http_resp_free(&r);
    arc_kill9(&srv);
    arc_cleanup(&srv);
}

/* ---- endpoints ------------------------------------------------------------------------------ */

static void test_endpoints_and_recovery_history(void **state)
{
    (void)state;
    const char *off[] = {NULL};
    struct arc_proc srv;
    arc_start(&srv, off);
    struct http_resp r = http_get(&srv, "/api/v1/wal/status");
    assert_status(r, 200);
    assert_body_contains(r, "\"enabled\":false");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/stats");
    assert_status(r, 400);
    assert_body_contains(r, "WAL is not enabled");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/health");
    assert_status(r, 200);
    assert_body_contains(r, "\"wal_enabled\":false");
    http_resp_free(&r);
    arc_stop(&srv, 20000);
    arc_cleanup(&srv);

    const char *env[] = {"ARC_WAL_ENABLED=true", "ARC_WAL_SYNC_MODE=fdatasync",
                         "ARC_INGESTION_BUFFER_AGE_SECONDS=3600", NULL};
    arc_start(&srv, env);
    r = http_get(&srv, "/api/v1/wal/status");
    assert_status(r, 200);
    assert_body_contains(r, "\"enabled\":true");
    assert_body_contains(r, "\"sync_mode\":\"fdatasync\"");
    assert_body_contains(r, "\"configuration\":{");
    assert_body_contains(r, "\"max_size_mb\":100");
    http_resp_free(&r);
    r = post_rows(&srv, 1, 5);
    assert_status(r, 204);
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/stats");
    assert_status(r, 200);
    assert_body_contains(r, "\"total_entries\":1");
    assert_body_contains(r, "\"current_file\":\"");
    assert_body_contains(r, "\"recovered_entries\":0");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/files");
    assert_status(r, 200);
    assert_body_contains(r, "\"active\":[{\"name\":\"arc-");
    assert_body_contains(r, "\"recovered\":[]");
    assert_body_contains(r, "\"wal_directory\":");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/health");
    assert_body_contains(r, "\"healthy\":true");
    assert_body_contains(r, "\"stats_summary\":{");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/recovery/history");
    assert_status(r, 200);
    assert_body_contains(r, "\"total_recovered\":0");
    assert_body_contains(r, "\"last_recovery\":null");
    http_resp_free(&r);

    /* Crash with unflushed rows: they come back and the segment is kept as
     * .wal.recovered. */
    arc_kill9(&srv);
    arc_restart(&srv, env);
    r = http_get(&srv, "/api/v1/wal/stats");
    assert_body_contains(r, "\"recovered_entries\":1");
    http_resp_free(&r);
    flush_all(&srv);
    r = arc_query(&srv, "SELECT count(*) FROM m");
    assert_body_contains(r, "\"data\":[[5]]");
    http_resp_free(&r);
    r = http_get(&srv, "/api/v1/wal/recovery/history");
    assert_body_contains(r, "\"total_recovered\":1");
    assert_body_contains(r, "\"recovered_at\":\"");
    http_resp_free(&r);
    r = http_post(&srv, "/api/v1/wal/cleanup?max_age_hours=abc", "", NULL);
    assert_status(r, 400);
    http_resp_free(&r);
    r = http_post(&srv, "/api/v1/wal/cleanup?max_age_hours=0", "", NULL);
    assert_status(r, 200);
    assert_body_contains(r, "\"deleted_count\":1");
    assert_body_contains(r, "\"max_age_hours\":0");
    http_resp_free(&r);
    arc_stop(&srv, 20000);
    char waldir[400];
    snprintf(waldir, sizeof(waldir), "%s/data/wal", srv.dir);
    assert_int_equal(count_dir(waldir, ".wal"), 0);
    assert_int_equal(count_dir(waldir, ".recovered"), 0);
    arc_cleanup(&srv);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints_and_recovery_history),
        cmocka_unit_test(test_t64_write_fail),
        cmocka_unit_test(test_t63_queue_full),
        cmocka_unit_test(test_t61_group_commit_slow_fsync),
        cmocka_unit_test(test_slow_disk_health_and_queries_fast),
        cmocka_unit_test(test_kill9_no_loss_no_dup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
