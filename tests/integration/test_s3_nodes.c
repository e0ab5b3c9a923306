/*
 * Integration tests of object storage with the real `arc` binary:
 *
 * test_two_nodes_share_bucket — scale-out on shared storage (docs/s3.md):
 *   two Arc nodes (own temp dirs, node ids "alpha" and "beta") write to one
 *   s3rver bucket and flush at the same time. Every file name is unique,
 *   has the SPEC §3.2 shape and ends in its writer's node id; each node's
 *   catalog learns the other's files through the periodic listing refresh
 *   (arc_catalog_refresh_files_added_total on /metrics), and — when the
 *   query endpoints answer 200 — each node answers queries over all data
 *   (GET /api/v1/measurements, SELECT count(*) through the read cache).
 *
 * test_t21_hung_endpoint — SPEC §11 T2.1: the storage endpoint is a TCP
 *   server that accepts connections and never answers (it answers normally
 *   until the test switches it, so that the server can start). POST
 *   /api/v1/write/flush returns 500 within flush_timeout_seconds + 5 s,
 *   /health keeps p99 < 200 ms meanwhile, writes are still acknowledged,
 *   arc_storage_timeouts_total > 0 on /metrics; /health reports the storage
 *   probe degraded and /ready turns 503 after 3 failed probes.
 *
 * s3rver (tests/s3, `npm ci --prefix tests/s3`) and node are needed for the
 * first test; it is skipped with a message when they are missing.
 */
#include "harness.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/storage/s3rver_harness.h"

#define H14_NS "1736949600" /* 2025-01-15T14:00:00Z, seconds */
#define ROUNDS 3

/* Servers of the running test; the teardown kills what a failed test left. */
static struct arc_proc g_a, g_b;

/* ---- helpers ----------------------------------------------------------------- */

/* Environment of one node on the shared bucket. Strings live in e. */
#define ENV_MAX 32
struct node_env {
    char s[ENV_MAX][160];
    const char *v[ENV_MAX + 1];
};

static void node_env_init(struct node_env *e, const char *endpoint, const char *node_id,
                          const char *const *extra)
{
    size_t n = 0;
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_BACKEND=s3");
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_S3_BUCKET=%s", BUCKET);
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_S3_ENDPOINT=%s", endpoint);
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_S3_ACCESS_KEY=S3RVER");
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_S3_SECRET_KEY=S3RVER");
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_S3_USE_SSL=false");
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_S3_PATH_STYLE=true");
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_S3_PREFIX=nodes/");
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_NODE_ID=%s", node_id);
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_STORAGE_REFRESH_INTERVAL_SECONDS=1");
    snprintf(e->s[n++], sizeof(e->s[0]), "ARC_INGESTION_BUFFER_AGE_SECONDS=3600");
    for (size_t i = 0; extra && extra[i]; i++) {
        assert_true(n < ENV_MAX);
        snprintf(e->s[n++], sizeof(e->s[0]), "%s", extra[i]);
    }
    for (size_t i = 0; i < n; i++)
        e->v[i] = e->s[i];
    e->v[n] = NULL;
}

/* Value of the series `series` (exact name with labels, e.g.
 * `arc_storage_timeouts_total{backend="s3"}`) in the server's /metrics,
 * -1 if absent. */
static double metric_of(const struct arc_proc *p, const char *series)
{
    struct http_resp r = http_get(p, "/metrics");
    assert_status(r, 200);
    double v = -1;
    size_t sl = strlen(series);
    for (const char *line = r.body; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (!strncmp(line, series, sl) && line[sl] == ' ')
            v = strtod(line + sl + 1, NULL);
        line = nl ? nl + 1 : NULL;
    }
    http_resp_free(&r);
    return v;
}

/* Keys in the bucket under `prefix` (anonymous ListObjectsV2 on s3rver).
 * Returns the count; keys[i] are malloc'd. */
static size_t bucket_keys(const char *prefix, char ***keys_out)
{
    struct arc_proc fake = {0};
    snprintf(fake.base_url, sizeof(fake.base_url), "http://127.0.0.1:%d", g_port);
    char path[256];
    snprintf(path, sizeof(path), "/%s?list-type=2&prefix=%s", BUCKET, prefix);
    struct http_resp r = http_get(&fake, path);
    assert_status(r, 200);
    assert_non_null(strstr(r.body, "<IsTruncated>false</IsTruncated>"));
    char **keys = NULL;
    size_t n = 0;
    for (const char *s = r.body; (s = strstr(s, "<Key>")) != NULL;) {
        s += 5;
        const char *e = strstr(s, "</Key>");
        assert_non_null(e);
        keys = realloc(keys, (n + 1) * sizeof(*keys));
        keys[n++] = strndup(s, (size_t)(e - s));
        s = e;
    }
    http_resp_free(&r);
    *keys_out = keys;
    return n;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* key (after the "nodes/" prefix) has the shape
 * {db}/{m}/YYYY/MM/DD/HH/{m}_YYYYMMDD_HHMMSS_NNNNNNNNN_{node}.parquet;
 * *node_out points into key at the node id. */
static bool raw_name_ok(const char *key, const char **node_out, size_t *node_len)
{
    const char *c[8];
    size_t len[8], n = 0;
    for (const char *s = key; n < 8;) {
        const char *sl = strchr(s, '/');
        c[n] = s;
        len[n++] = sl ? (size_t)(sl - s) : strlen(s);
        if (!sl)
            break;
        s = sl + 1;
    }
    if (n != 7 || !all_digits(c[2], 4) || len[2] != 4 || len[3] != 2 || !all_digits(c[3], 2) ||
        len[4] != 2 || !all_digits(c[4], 2) || len[5] != 2 || !all_digits(c[5], 2))
        return false;
    const char *f = c[6];
    size_t fl = len[6], ml = len[1];
    /* m_ + 8 + _ + 6 + _ + 9 + _ + node + .parquet */
    if (fl < ml + 1 + 8 + 1 + 6 + 1 + 9 + 1 + 1 + 8 || memcmp(f, c[1], ml) || f[ml] != '_')
        return false;
    const char *d = f + ml + 1;
    if (!all_digits(d, 8) || d[8] != '_' || !all_digits(d + 9, 6) || d[15] != '_' ||
        !all_digits(d + 16, 9) || d[25] != '_')
        return false;
    if (strcmp(f + fl - 8, ".parquet"))
        return false;
    *node_out = d + 26;
    *node_len = (size_t)(f + fl - 8 - (d + 26));
    return true;
}

/* The first number in the first data row of a query response. */
static long long first_cell(const struct http_resp *r)
{
    const char *d = strstr(r->body, "\"data\":[[");
    assert_non_null(d);
    return atoll(d + 9);
}

struct flush_job {
    struct arc_proc *p;
    long status;
};

static void *flush_thread(void *arg)
{
    struct flush_job *j = arg;
    struct http_resp r = http_post(j->p, "/api/v1/write/flush", NULL, NULL);
    j->status = r.status;
    http_resp_free(&r);
    return NULL;
}

/* Writes one round of rows to node p: `per_hour` cpu rows in each of two
 * hours (tag host=<node>) and `per_hour / 2` rows of <node>_only. */
static void write_round(struct arc_proc *p, const char *node, int round, int per_hour)
{
    char body[16384];
    size_t o = 0;
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < per_hour; i++)
            o += (size_t)snprintf(body + o, sizeof(body) - o, "cpu,host=%s v=%d %lld\n", node, i,
                                  (1736949600LL + h * 3600 + round * 100 + i) * 1000000000LL);
    for (int i = 0; i < per_hour / 2; i++)
        o += (size_t)snprintf(body + o, sizeof(body) - o, "%s_only v=%d %lld\n", node, i,
                              (1736949600LL + round * 100 + i) * 1000000000LL);
    struct http_resp r = http_post(p, "/api/v1/write", body, NULL);
    assert_status(r, 204);
    http_resp_free(&r);
}

/* ---- scale-out on one bucket ----------------------------------------------------- */

static void test_two_nodes_share_bucket(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", g_port);
    struct node_env ea, eb;
    node_env_init(&ea, ep, "alpha", NULL);
    node_env_init(&eb, ep, "beta", NULL);
    struct arc_proc *a = &g_a, *b = &g_b;
    arc_start(a, ea.v);
    arc_start(b, eb.v);

    const int per_hour = 10;
    for (int round = 0; round < ROUNDS; round++) {
        write_round(a, "alpha", round, per_hour);
        write_round(b, "beta", round, per_hour);
        /* Both nodes flush at the same moment: same clock, same counters,
         * different node ids. */
        struct flush_job ja = {a, 0}, jb = {b, 0};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, flush_thread, &ja);
        pthread_create(&tb, NULL, flush_thread, &jb);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        assert_int_equal(ja.status, 200);
        assert_int_equal(jb.status, 200);
    }

    /* Each round wrote 3 files per node (cpu in two hours, <node>_only). */
    char **keys;
    size_t n = bucket_keys("nodes/", &keys);
    assert_int_equal(n, 2 * 3 * ROUNDS);
    size_t per_node[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        assert_true(strncmp(keys[i], "nodes/default/", 14) == 0);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(keys[i], keys[k]);
        const char *node = NULL;
        size_t nl = 0;
        if (!raw_name_ok(keys[i] + 6, &node, &nl)) {
            print_error("file name without the SPEC 3.2 shape and a node id: %s\n", keys[i]);
            fail();
        }
        bool is_a = nl == 5 && !strncmp(node, "alpha", 5);
        bool is_b = nl == 4 && !strncmp(node, "beta", 4);
        assert_true(is_a || is_b);
        /* A node only writes its own measurement. */
        if (strstr(keys[i], "/alpha_only/"))
            assert_true(is_a);
        if (strstr(keys[i], "/beta_only/"))
            assert_true(is_b);
        per_node[is_a ? 0 : 1]++;
    }
    assert_int_equal(per_node[0], 3 * ROUNDS);
    assert_int_equal(per_node[1], 3 * ROUNDS);
    free_keys(keys, n);

    /* The refresh (every second) adds the other node's files. */
    int64_t end = time_mono_ms() + 15000;
    double added_a = 0, added_b = 0;
    while (time_mono_ms() < end) {
        added_a = metric_of(a, "arc_catalog_refresh_files_added_total");
        added_b = metric_of(b, "arc_catalog_refresh_files_added_total");
        if (added_a >= 3 * ROUNDS && added_b >= 3 * ROUNDS)
            break;
        usleep(200 * 1000);
    }
    if (added_a < 0 || added_b < 0) {
        print_error("arc_catalog_refresh_files_added_total missing: the catalog refresh is not "
                    "running (storage.refresh_interval_seconds wiring, docs/s3.md)\n");
        fail();
    }
    assert_int_equal((long)added_a, 3 * ROUNDS);
    assert_int_equal((long)added_b, 3 * ROUNDS);
    assert_true(metric_of(b, "arc_catalog_refresh_failures_total") == 0.0);

    /* Queries over all data from either node (when the endpoints answer). */
    struct http_resp r = http_get(b, "/api/v1/measurements");
    if (r.status == 200) {
        assert_body_contains(r, "\"measurement\":\"alpha_only\"");
        assert_body_contains(r, "\"measurement\":\"beta_only\"");
        assert_body_contains(r, "\"measurement\":\"cpu\"");
    } else {
        print_message("GET /api/v1/measurements answered %ld: catalog assertions skipped\n",
                      r.status);
    }
    http_resp_free(&r);
    struct {
        struct arc_proc *p;
        const char *sql;
        long long want;
    } q[] = {
        {b, "SELECT count(*) FROM cpu", 2LL * ROUNDS * 2 * per_hour},
        {b, "SELECT count(*) FROM alpha_only", (long long)ROUNDS * per_hour / 2},
        {a, "SELECT count(*) FROM beta_only", (long long)ROUNDS * per_hour / 2},
        {a, "SELECT count(*) FROM cpu WHERE host = 'beta' AND time >= '2025-01-15T15:00:00Z'",
         (long long)ROUNDS * per_hour},
    };
    double miss0 = metric_of(b, "arc_storage_cache_misses_total");
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        r = arc_query(q[i].p, q[i].sql);
        if (r.status == 200) {
            long long got = first_cell(&r);
            if (got != q[i].want) {
                print_error("%s on %s: got %lld, want %lld: %s\n", q[i].sql,
                            q[i].p == a ? "alpha" : "beta", got, q[i].want, r.body);
                fail();
            }
        } else {
            print_message("query endpoint answered %ld for \"%s\": query assertions skipped: %s\n",
                          r.status, q[i].sql, r.body ? r.body : "");
        }
        http_resp_free(&r);
    }
    r = arc_query(b, "SELECT count(*) FROM cpu");
    if (r.status == 200) {
        /* Reads through the local read cache: the second query is all hits. */
        double miss1 = metric_of(b, "arc_storage_cache_misses_total");
        assert_true(miss1 > miss0 || miss0 > 0);
        assert_true(metric_of(b, "arc_storage_cache_bytes") > 0);
        http_resp_free(&r);
        r = arc_query(b, "SELECT count(*) FROM cpu");
        assert_status(r, 200);
        assert_true(metric_of(b, "arc_storage_cache_misses_total") == miss1);
        assert_true(metric_of(b, "arc_storage_cache_hits_total") > 0);
    }
    http_resp_free(&r);

    arc_stop(a, 20000);
    arc_stop(b, 20000);
    arc_cleanup(a);
    arc_cleanup(b);
}

/* ---- T2.1: an endpoint that accepts and never answers ----------------------------- */

/* A minimal S3 endpoint: answers LIST (one object, FAKE_KEY, another
 * node's file), HEAD/GET (404), PUT (200), DELETE (204), POST (empty
 * DeleteResult) while `hang` is false; once it is true it reads requests
 * and never answers, on new and kept-alive connections alike. */
#define FAKE_KEY "default/cpu/2025/01/15/14/cpu_20250115_140000_000000001_other.parquet"
struct fake_s3 {
    int lfd;
    int port;
    _Atomic bool hang;
    _Atomic bool stop;
    pthread_t acceptor;
    pthread_mutex_t mu;
    pthread_t conns[256];
    size_t nconns;
};

static bool read_some(struct fake_s3 *f, int fd, char *buf, size_t cap, size_t *len)
{
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, 100);
        if (r == 0)
            continue;
        if (r < 0)
            return false;
        ssize_t got = read(fd, buf + *len, cap - *len);
        if (got <= 0)
            return false;
        *len += (size_t)got;
        return true;
    }
    return false;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

struct conn_arg {
    struct fake_s3 *f;
    int fd;
};

static void *fake_conn(void *arg)
{
    struct conn_arg *ca = arg;
    struct fake_s3 *f = ca->f;
    int fd = ca->fd;
    free(ca);
    enum { CAP = 1 << 16 };
    char *buf = malloc(CAP);
    size_t len = 0;
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == CAP || !read_some(f, fd, buf, CAP, &len))
                goto out;
        }
        size_t head = (size_t)(end - buf) + 4;
        buf[head - 1] = '\0'; /* headers as a string (the last \n is not needed) */
        long clen = 0;
        char *cl = strcasestr(buf, "\r\ncontent-length:");
        if (cl)
            clen = atol(cl + 17);
        bool expect = strcasestr(buf, "\r\nexpect:") != NULL;
        bool is_head = !strncmp(buf, "HEAD ", 5);
        bool is_get = !strncmp(buf, "GET ", 4);
        bool is_list = is_get && strstr(buf, "list-type=2") != NULL;
        bool is_delete = !strncmp(buf, "DELETE ", 7);
        bool is_post = !strncmp(buf, "POST ", 5);
        if (atomic_load(&f->hang)) {
            /* Accept everything, answer nothing. */
            len = 0;
            while (read_some(f, fd, buf, CAP, &len))
                len = 0;
            goto out;
        }
        if (expect)
            send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        /* Discard the body; keep whatever follows it. */
        size_t have = len - head;
        if ((long)have >= clen) {
            memmove(buf, buf + head + clen, have - (size_t)clen);
            len = have - (size_t)clen;
        } else {
            size_t remaining = (size_t)clen - have;
            len = 0;
            while (remaining) {
                if (!read_some(f, fd, buf, CAP, &len))
                    goto out;
                size_t take = len < remaining ? len : remaining;
                memmove(buf, buf + take, len - take);
                len -= take;
                remaining -= take;
            }
        }
        const char *body = "";
        const char *status = "200 OK";
        if (is_list) {
            body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "
                   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>arcbucket</Name>"
                   "<Prefix>nodes/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
                   "<IsTruncated>false</IsTruncated><Contents><Key>nodes/" FAKE_KEY "</Key>"
                   "<LastModified>2025-01-15T14:00:00.000Z</LastModified><ETag>&quot;x&quot;"
                   "</ETag><Size>100</Size><StorageClass>STANDARD</StorageClass></Contents>"
                   "</ListBucketResult>";
        } else if (is_get) {
            status = "404 Not Found";
            body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code>"
                   "<Message>no</Message></Error>";
        } else if (is_head) {
            status = "404 Not Found";
        } else if (is_delete) {
            status = "204 No Content";
        } else if (is_post) {
            body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DeleteResult></DeleteResult>";
        }
        char resp[512];
        int n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 %s\r\nContent-Length: %zu\r\nETag: \"0123\"\r\n"
                         "Content-Type: application/xml\r\n\r\n",
                         status, is_head ? (size_t)0 : strlen(body));
        send_all(fd, resp, (size_t)n);
        if (!is_head)
            send_all(fd, body, strlen(body));
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static void *fake_accept(void *arg)
{
    struct fake_s3 *f = arg;
    while (!atomic_load(&f->stop)) {
        struct pollfd p = {f->lfd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&f->mu);
        if (f->nconns < sizeof(f->conns) / sizeof(f->conns[0])) {
            struct conn_arg *ca = malloc(sizeof(*ca));
            ca->f = f;
            ca->fd = fd;
            pthread_create(&f->conns[f->nconns++], NULL, fake_conn, ca);
        } else {
            close(fd);
        }
        pthread_mutex_unlock(&f->mu);
    }
    return NULL;
}

static void fake_start(struct fake_s3 *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 64), 0);
    socklen_t l = sizeof(a);
    getsockname(f->lfd, (struct sockaddr *)&a, &l);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->acceptor, NULL, fake_accept, f);
}

static void fake_stop(struct fake_s3 *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->acceptor, NULL);
    for (size_t i = 0; i < f->nconns; i++)
        pthread_join(f->conns[i], NULL);
    close(f->lfd);
    pthread_mutex_destroy(&f->mu);
}

struct health_poll {
    struct arc_proc *p;
    _Atomic bool stop;
    double lat_ms[4096];
    size_t n;
    size_t non200;
};

static void *health_thread(void *arg)
{
    struct health_poll *h = arg;
    while (!atomic_load(&h->stop) && h->n < sizeof(h->lat_ms) / sizeof(h->lat_ms[0])) {
        struct http_resp r = http_get(h->p, "/health");
        if (r.status != 200)
            h->non200++;
        h->lat_ms[h->n++] = r.seconds * 1000.0;
        http_resp_free(&r);
        usleep(20 * 1000);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_t21_hung_endpoint(void **state)
{
    (void)state;
    struct fake_s3 *f = calloc(1, sizeof(*f));
    fake_start(f);
    char ep[64];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", f->port);
    static const char *const extra[] = {
        "ARC_STORAGE_CONNECT_TIMEOUT_SECONDS=1",
        "ARC_STORAGE_REQUEST_TIMEOUT_SECONDS=2",
        "ARC_STORAGE_OPERATION_TIMEOUT_SECONDS=4",
        "ARC_STORAGE_LOW_SPEED_TIME_SECONDS=2",
        "ARC_STORAGE_MAX_RETRIES=1",
        "ARC_INGESTION_FLUSH_TIMEOUT_SECONDS=5",
        "ARC_MONITORING_STORAGE_PROBE_INTERVAL_SECONDS=1",
        "ARC_QUERY_TIMEOUT_SECONDS=3",
        NULL,
    };
    struct node_env e;
    node_env_init(&e, ep, "gamma", extra);
    struct arc_proc *p = &g_a;
    arc_start(p, e.v);
    bool probe_wired = arc_log_contains(p, "probe started");

    struct http_resp r =
        http_post(p, "/api/v1/write", "cpu,host=x v=1 " H14_NS "000000000\n", NULL);
    assert_status(r, 204);
    http_resp_free(&r);

    atomic_store(&f->hang, true);
    struct health_poll *h = calloc(1, sizeof(*h));
    h->p = p;
    pthread_t ht;
    pthread_create(&ht, NULL, health_thread, h);

    int64_t t0 = time_mono_ms();
    r = http_post(p, "/api/v1/write/flush", NULL, NULL);
    int64_t took = time_mono_ms() - t0;
    assert_status(r, 500);
    assert_body_contains(r, "Flush failed");
    http_resp_free(&r);
    assert_true(took <= (5 + 5) * 1000);

    /* Writes are still acknowledged (buffered for retry). */
    t0 = time_mono_ms();
    r = http_post(p, "/api/v1/write", "cpu,host=y v=2 " H14_NS "000000001\n", NULL);
    assert_status(r, 204);
    http_resp_free(&r);
    assert_true(time_mono_ms() - t0 < 1000);

    /* T2.4: a query over a file only the hung endpoint has (FAKE_KEY, from
     * the startup listing) ends with 5xx within query.timeout_seconds + 5 s,
     * and its connection is usable afterwards. */
    t0 = time_mono_ms();
    r = arc_query(p, "SELECT count(*) FROM cpu");
    took = time_mono_ms() - t0;
    if (r.status < 500) {
        print_error("query over the hung endpoint: HTTP %ld: %s\n", r.status, r.body);
        fail();
    }
    print_message("query over the hung endpoint: HTTP %ld after %lld ms\n", r.status,
                  (long long)took);
    http_resp_free(&r);
    assert_true(took <= (3 + 5) * 1000);
    r = arc_query(p, "SELECT 42");
    assert_status(r, 200);
    assert_true(first_cell(&r) == 42);
    http_resp_free(&r);

    double timeouts = metric_of(p, "arc_storage_timeouts_total{backend=\"s3\"}");
    if (timeouts <= 0) {
        print_error("arc_storage_timeouts_total{backend=\"s3\"} = %g, want > 0\n", timeouts);
        fail();
    }

    if (probe_wired) {
        /* /health: the storage probe component degrades (breaker or probe);
         * /ready: 503 after 3 consecutive failed probes. */
        int64_t end = time_mono_ms() + 30000;
        bool degraded = false, not_ready = false;
        while (time_mono_ms() < end && !(degraded && not_ready)) {
            r = http_get(p, "/health");
            assert_status(r, 200);
            degraded = degraded || strstr(r.body, "\"storage_probe\":\"degraded\"");
            http_resp_free(&r);
            r = http_get(p, "/ready");
            if (r.status == 503) {
                assert_body_contains(r, "\"storage\":false");
                not_ready = true;
            }
            http_resp_free(&r);
            usleep(200 * 1000);
        }
        assert_true(degraded);
        assert_true(not_ready);
    } else {
        print_message("storage probe not wired (no \"probe started\" in the log): /ready and "
                      "/health storage assertions skipped\n");
    }

    atomic_store(&h->stop, true);
    pthread_join(ht, NULL);
    assert_true(h->n >= 20);
    assert_int_equal(h->non200, 0);
    qsort(h->lat_ms, h->n, sizeof(double), cmp_double);
    double p99 = h->lat_ms[(h->n * 99) / 100 < h->n ? (h->n * 99) / 100 : h->n - 1];
    print_message("/health during the hang: %zu requests, p99 %.1f ms, max %.1f ms\n", h->n, p99,
                  h->lat_ms[h->n - 1]);
    assert_true(p99 < 200.0);
    free(h);

    /* The buffered rows cannot be flushed any more: no graceful stop. */
    arc_kill9(p);
    arc_cleanup(p);
    fake_stop(f);
    free(f);
}

static int test_teardown(void **state)
{
    (void)state;
    arc_cleanup(&g_a); /* SIGKILL if still running, then remove its directory */
    arc_cleanup(&g_b);
    return 0;
}

static int group_setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return s3rver_setup(state);
}

static int group_teardown(void **state)
{
    int rc = s3rver_teardown(state);
    curl_global_cleanup();
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_two_nodes_share_bucket, test_teardown),
        cmocka_unit_test_teardown(test_t21_hung_endpoint, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
