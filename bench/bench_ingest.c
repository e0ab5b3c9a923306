/*
 * bench/bench_ingest.c — HTTP ingestion load generator.
 *
 * Sends pre-generated request bodies over N keep-alive connections (one
 * thread each, plain blocking sockets, no client library in the way) for a
 * fixed time, and reports records/s, fields/s and request latency
 * p50/p99/p999. Data is shaped like TSBS "cpu-only": measurement cpu, 10
 * tags, 10 float fields, H hosts, one row per host per timestamp.
 *
 *   bench_ingest [--host 127.0.0.1] [--port 8000] [--path /api/v1/write/line-protocol]
 *                [--format lp|msgpack] [--connections 8] [--seconds 10]
 *                [--batch 5000] [--hosts 100] [--gzip] [--header "Name: value"]
 *                [--warmup 0]
 *
 * The same line-protocol bodies work against InfluxDB 1.x (--path
 * "/write?db=bench") and VictoriaMetrics (--path /write). Results are
 * reported, not asserted (BENCHMARKS.md). records_per_sec counts only
 * acknowledged (2xx) rows; after a 503 a connection waits 20 ms. With
 * --warmup W the connections send for W seconds first and nothing of that
 * is counted: the measurement starts on a server past its start-up (caches,
 * allocator, the WAL's first segments), which is the server's steady state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <msgpuck.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define NFIELDS 10
#define NTAGS 10
#define MAX_LAT_SAMPLES 200000

static const char *tag_names[NTAGS] = {
    "hostname", "region",          "datacenter",         "rack", "os", "arch", "team",
    "service",  "service_version", "service_environment"};
static const char *field_names[NFIELDS] = {
    "usage_user", "usage_system",  "usage_idle",  "usage_nice",  "usage_iowait",
    "usage_irq",  "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"};

struct opts {
    const char *host;
    int port;
    const char *path;
    const char *format;
    int connections;
    int seconds;
    int warmup;
    int batch;
    int hosts;
    bool gzip;
    const char *extra_header;
};

struct body {
    char *req; /* full HTTP request (headers + body) */
    size_t len;
    int rows;
};

static struct body *bodies;
static int nbodies;
static atomic_bool stop_flag, measuring;
static atomic_uint_fast64_t total_rows, total_requests, total_errors, total_bytes;

struct worker {
    pthread_t th;
    const struct opts *o;
    int id;
    double *lat_ms;
    size_t nlat;
    int last_status;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Tag values of host h: deterministic like TSBS (host_N, region from a
 * small set, ...). */
static void host_tags(int h, const char *vals[NTAGS], char bufs[NTAGS][32])
{
    static const char *regions[] = {"us-east-1", "us-west-1", "eu-west-1", "ap-south-1"};
    snprintf(bufs[0], 32, "host_%d", h);
    snprintf(bufs[1], 32, "%s", regions[h % 4]);
    snprintf(bufs[2], 32, "%s%c", regions[h % 4], 'a' + h % 3);
    snprintf(bufs[3], 32, "%d", h % 100);
    snprintf(bufs[4], 32, "Ubuntu%d.04LTS", 15 + h % 3);
    snprintf(bufs[5], 32, "%s", h % 2 ? "x64" : "x86");
    snprintf(bufs[6], 32, "%s", h % 3 ? "SF" : "NYC");
    snprintf(bufs[7], 32, "%d", h % 20);
    snprintf(bufs[8], 32, "%d", h % 2);
    snprintf(bufs[9], 32, "%s", h % 2 ? "production" : "staging");
    for (int i = 0; i < NTAGS; i++)
        vals[i] = bufs[i];
}

static double field_value(int row, int f)
{
    return (double)((row * 7919 + f * 104729) % 10000) / 100.0;
}

static char *gen_lp(const struct opts *o, int64_t t0_ns, int *rows, size_t *len)
{
    size_t cap = (size_t)o->batch * 400 + 1024, n = 0;
    char *b = malloc(cap);
    int r = 0;
    for (int64_t t = 0; r < o->batch; t++) {
        for (int h = 0; h < o->hosts && r < o->batch; h++, r++) {
            const char *tv[NTAGS];
            char tb[NTAGS][32];
            host_tags(h, tv, tb);
            n += (size_t)snprintf(b + n, cap - n, "cpu");
            for (int i = 0; i < NTAGS; i++)
                n += (size_t)snprintf(b + n, cap - n, ",%s=%s", tag_names[i], tv[i]);
            for (int f = 0; f < NFIELDS; f++)
                n += (size_t)snprintf(b + n, cap - n, "%c%s=%.2f", f ? ',' : ' ', field_names[f],
                                      field_value(r, f));
            n +=
                (size_t)snprintf(b + n, cap - n, " %lld\n", (long long)(t0_ns + t * 10000000000LL));
        }
    }
    *rows = r;
    *len = n;
    return b;
}

static char *gen_msgpack(const struct opts *o, int64_t t0_ns, int *rows, size_t *len)
{
    int nrows = o->batch;
    size_t cap = (size_t)nrows * (NTAGS * 24 + NFIELDS * 10 + 16) + 4096;
    char *b = malloc(cap), *p = b;
    p = mp_encode_map(p, 3);
    p = mp_encode_str(p, "m", 1);
    p = mp_encode_str(p, "cpu", 3);
    p = mp_encode_str(p, "tags", 4);
    p = mp_encode_array(p, NTAGS);
    for (int i = 0; i < NTAGS; i++)
        p = mp_encode_str(p, tag_names[i], (uint32_t)strlen(tag_names[i]));
    p = mp_encode_str(p, "columns", 7);
    p = mp_encode_map(p, 1 + NTAGS + NFIELDS);
    p = mp_encode_str(p, "time", 4);
    p = mp_encode_array(p, (uint32_t)nrows);
    for (int r = 0; r < nrows; r++) /* milliseconds (inferred from magnitude) */
        p = mp_encode_uint(p, (uint64_t)(t0_ns / 1000000 + (r / o->hosts) * 10000));
    for (int i = 0; i < NTAGS; i++) {
        p = mp_encode_str(p, tag_names[i], (uint32_t)strlen(tag_names[i]));
        p = mp_encode_array(p, (uint32_t)nrows);
        for (int r = 0; r < nrows; r++) {
            const char *tv[NTAGS];
            char tb[NTAGS][32];
            host_tags(r % o->hosts, tv, tb);
            p = mp_encode_str(p, tv[i], (uint32_t)strlen(tv[i]));
        }
    }
    for (int f = 0; f < NFIELDS; f++) {
        p = mp_encode_str(p, field_names[f], (uint32_t)strlen(field_names[f]));
        p = mp_encode_array(p, (uint32_t)nrows);
        for (int r = 0; r < nrows; r++)
            p = mp_encode_double(p, field_value(r, f));
    }
    *rows = nrows;
    *len = (size_t)(p - b);
    return b;
}

static char *gzip_buf(const char *in, size_t n, size_t *out_len)
{
    uLong cap = compressBound((uLong)n) + 64;
    char *out = malloc(cap);
    z_stream zs = {0};
    deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static void build_bodies(const struct opts *o)
{
    nbodies = 64;
    bodies = calloc((size_t)nbodies, sizeof(*bodies));
    int64_t t0 = 1700000000LL * 1000000000LL;
    bool mp = !strcmp(o->format, "msgpack");
    for (int i = 0; i < nbodies; i++) {
        size_t blen;
        int rows;
        int64_t start = t0 + (int64_t)i * ((o->batch / o->hosts) + 1) * 10000000000LL;
        char *body = mp ? gen_msgpack(o, start, &rows, &blen) : gen_lp(o, start, &rows, &blen);
        if (o->gzip) {
            size_t glen;
            char *g = gzip_buf(body, blen, &glen);
            free(body);
            body = g;
            blen = glen;
        }
        size_t cap = blen + 1024;
        char *req = malloc(cap);
        int h = snprintf(
            req, cap,
            "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
            "Content-Length: %zu\r\n%s%s%s%s",
            o->path, o->host, o->port, mp ? "application/msgpack" : "text/plain; charset=utf-8",
            blen, o->gzip ? "Content-Encoding: gzip\r\n" : "",
            o->extra_header ? o->extra_header : "", o->extra_header ? "\r\n" : "", "\r\n");
        memcpy(req + h, body, blen);
        bodies[i].req = req;
        bodies[i].len = (size_t)h + blen;
        bodies[i].rows = rows;
        free(body);
    }
}

static int connect_to(const struct opts *o)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    inet_pton(AF_INET, o->host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads one response; returns the status or -1. Handles Content-Length and
 * chunked bodies. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    char *hdr_end = NULL;
    while (!hdr_end) {
        ssize_t k = recv(fd, buf + have, cap - 1 - have, 0);
        if (k <= 0)
            return -1;
        have += (size_t)k;
        buf[have] = '\0';
        hdr_end = strstr(buf, "\r\n\r\n");
        if (!hdr_end && have >= cap - 1)
            return -1;
    }
    int status = atoi(buf + 9); /* banned-ok: bench tool, not server code */
    size_t hlen = (size_t)(hdr_end + 4 - buf);
    size_t body_have = have - hlen;
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl && cl < hdr_end) {
        size_t want = (size_t)strtoull(cl + 17, NULL, 10);
        while (body_have < want) {
            ssize_t k = recv(fd, buf, cap, 0);
            if (k <= 0)
                return -1;
            body_have += (size_t)k;
        }
        return status;
    }
    if (strcasestr(buf, "transfer-encoding: chunked")) {
        /* Read until the terminating chunk; responses of interest are small. */
        memmove(buf, buf + hlen, body_have);
        buf[body_have] = '\0';
        while (!strstr(buf, "0\r\n\r\n")) {
            ssize_t k = recv(fd, buf + body_have, cap - 1 - body_have, 0);
            if (k <= 0)
                return -1;
            body_have += (size_t)k;
            buf[body_have] = '\0';
            if (body_have >= cap - 1)
                break;
        }
    }
    return status;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct opts *o = w->o;
    char *buf = malloc(1 << 16);
    int fd = connect_to(o);
    int i = w->id;
    while (!atomic_load(&stop_flag)) {
        if (fd < 0) {
            usleep(100000);
            fd = connect_to(o);
            continue;
        }
        struct body *b = &bodies[i++ % nbodies];
        bool counted = atomic_load(&measuring); /* requests sent in the window */
        double t = now_s();
        int st = -1;
        if (send_all(fd, b->req, b->len))
            st = read_response(fd, buf, 1 << 16);
        double dt = (now_s() - t) * 1000.0;
        if (st < 0) {
            close(fd);
            fd = -1;
            if (counted)
                atomic_fetch_add(&total_errors, 1);
            continue;
        }
        w->last_status = st;
        if (!counted) {
            if (st == 503)
                usleep(20 * 1000);
            continue;
        }
        if (st == 204 || st == 200) {
            atomic_fetch_add(&total_rows, (uint64_t)b->rows);
            atomic_fetch_add(&total_bytes, b->len);
        } else {
            atomic_fetch_add(&total_errors, 1);
            /* Back-pressure (503 + Retry-After): back off briefly as real
             * clients do instead of hammering; only acknowledged rows count. */
            if (st == 503)
                usleep(20 * 1000);
        }
        atomic_fetch_add(&total_requests, 1);
        if (w->nlat < MAX_LAT_SAMPLES)
            w->lat_ms[w->nlat++] = dt;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct opts o = {"127.0.0.1", 8000, "/api/v1/write/line-protocol", "lp", 8, 10, 0, 5000, 100,
                     false,       NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--host"))
            o.host = v, i++;
        else if (!strcmp(a, "--port"))
            o.port = (int)strtol(v, NULL, 10), i++;
        else if (!strcmp(a, "--path"))
            o.path = v, i++;
        else if (!strcmp(a, "--format"))
            o.format = v, i++;
        else if (!strcmp(a, "--connections"))
            o.connections = (int)strtol(v, NULL, 10), i++;
        else if (!strcmp(a, "--seconds"))
            o.seconds = (int)strtol(v, NULL, 10), i++;
        else if (!strcmp(a, "--warmup"))
            o.warmup = (int)strtol(v, NULL, 10), i++;
        else if (!strcmp(a, "--batch"))
            o.batch = (int)strtol(v, NULL, 10), i++;
        else if (!strcmp(a, "--hosts"))
            o.hosts = (int)strtol(v, NULL, 10), i++;
        else if (!strcmp(a, "--header"))
            o.extra_header = v, i++;
        else if (!strcmp(a, "--gzip"))
            o.gzip = true;
        else {
            fprintf(stderr, "usage: see the comment at the top of bench/bench_ingest.c\n");
            return 2;
        }
    }
    build_bodies(&o);
    size_t body_bytes = 0;
    for (int i = 0; i < nbodies; i++)
        body_bytes += bodies[i].len;
    struct worker *ws = calloc((size_t)o.connections, sizeof(*ws));
    atomic_store(&measuring, o.warmup <= 0);
    for (int i = 0; i < o.connections; i++) {
        ws[i].o = &o;
        ws[i].id = i * 7;
        ws[i].lat_ms = malloc(sizeof(double) * MAX_LAT_SAMPLES);
        pthread_create(&ws[i].th, NULL, worker_main, &ws[i]);
    }
    if (o.warmup > 0) {
        sleep((unsigned)o.warmup);
        atomic_store(&measuring, true);
    }
    double t0 = now_s();
    sleep((unsigned)o.seconds);
    atomic_store(&stop_flag, true);
    size_t nlat = 0;
    for (int i = 0; i < o.connections; i++) {
        pthread_join(ws[i].th, NULL);
        nlat += ws[i].nlat;
    }
    double elapsed = now_s() - t0;
    double *lat = malloc(sizeof(double) * (nlat ? nlat : 1));
    size_t k = 0;
    int last_status = 0;
    for (int i = 0; i < o.connections; i++) {
        memcpy(lat + k, ws[i].lat_ms, ws[i].nlat * sizeof(double));
        k += ws[i].nlat;
        if (ws[i].last_status)
            last_status = ws[i].last_status;
    }
    qsort(lat, nlat, sizeof(double), cmp_d);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] : 0.0)
    uint64_t rows = atomic_load(&total_rows);
    printf("format=%s gzip=%d connections=%d batch=%d hosts=%d seconds=%.1f warmup=%d\n", o.format,
           o.gzip, o.connections, o.batch, o.hosts, elapsed, o.warmup);
    printf("requests=%llu errors=%llu last_status=%d avg_body_bytes=%zu\n",
           (unsigned long long)atomic_load(&total_requests),
           (unsigned long long)atomic_load(&total_errors), last_status,
           body_bytes / (size_t)nbodies);
    printf("records_per_sec=%.0f fields_per_sec=%.0f MB_per_sec=%.1f\n", (double)rows / elapsed,
           (double)rows * NFIELDS / elapsed, (double)atomic_load(&total_bytes) / elapsed / 1e6);
    printf("latency_ms p50=%.2f p99=%.2f p999=%.2f max=%.2f\n", PCT(0.50), PCT(0.99), PCT(0.999),
           nlat ? lat[nlat - 1] : 0.0);
    return 0;
}
