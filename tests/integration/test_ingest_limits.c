/*
 * Integration tests of ingestion limits and failure paths against the real
 * `arc` binary: compressed bodies (SPEC §1.2: gzip / zstd by header and by
 * magic, multi-member gzip, 415 for other encodings, corrupt → 400 with
 * nothing written), decompression bombs (§11 R4: 413 while the server's peak
 * RSS stays near the cap, exact-limit bodies), back-pressure (§1.6: 503 +
 * Retry-After, nothing of the request admitted, every acknowledged row
 * stored exactly once after flushes), and a failing flush (500, rows kept
 * and counted, all stored once storage works again).
 */
#include "harness.h"
#include "ingest_util.h"
#include "parquet_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

/* --- compression helpers ------------------------------------------------------------ */

struct bytes {
    unsigned char *p;
    size_t len;
};

/* gzip of `reps` copies of in[0..n) at `level`, streamed (the input is never
 * materialised whole). */
static struct bytes gzip_repeat(const void *in, size_t n, size_t reps, int level)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)n) + 1024 + n * reps / 500, len = 0;
    unsigned char *out = malloc(cap);
    for (size_t r = 0; r <= reps; r++) {
        int flush = r == reps ? Z_FINISH : Z_NO_FLUSH;
        z.next_in = (Bytef *)(r == reps ? NULL : in);
        z.avail_in = r == reps ? 0 : (uInt)n;
        int zr;
        do {
            if (cap - len < 65536) {
                cap *= 2;
                out = realloc(out, cap);
            }
            z.next_out = out + len;
            z.avail_out = (uInt)(cap - len);
            zr = deflate(&z, flush);
            len = cap - z.avail_out;
        } while (z.avail_in > 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    }
    deflateEnd(&z);
    return (struct bytes){out, len};
}

static struct bytes gzip_of(const char *s, size_t n)
{
    return gzip_repeat(s, n, 1, 6);
}

static struct bytes zstd_repeat(const void *in, size_t n, size_t reps)
{
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
    size_t cap = ZSTD_compressBound(n) + 4096 + n * reps / 1000, len = 0;
    unsigned char *out = malloc(cap);
    for (size_t r = 0; r <= reps; r++) {
        ZSTD_inBuffer ib = {r == reps ? NULL : in, r == reps ? 0 : n, 0};
        ZSTD_EndDirective mode = r == reps ? ZSTD_e_end : ZSTD_e_continue;
        size_t left;
        do {
            if (cap - len < 65536) {
                cap *= 2;
                out = realloc(out, cap);
            }
            ZSTD_outBuffer ob = {out + len, cap - len, 0};
            left = ZSTD_compressStream2(c, &ob, &ib, mode);
            assert_false(ZSTD_isError(left));
            len += ob.pos;
        } while (ib.pos < ib.size || (mode == ZSTD_e_end && left != 0));
    }
    ZSTD_freeCCtx(c);
    return (struct bytes){out, len};
}

static struct http_resp post_bytes(const struct arc_proc *p, const char *path, const char *enc,
                                   const void *body, size_t len, long status)
{
    char h[96];
    snprintf(h, sizeof(h), "Content-Encoding: %s", enc ? enc : "");
    const char *hs[] = {h, NULL};
    return it_post(p, path, enc ? hs : NULL, body, len, status);
}

static void post_expect(const struct arc_proc *p, const char *path, const char *enc,
                        const void *body, size_t len, long status, const char *code,
                        const char *err_part)
{
    struct http_resp r = post_bytes(p, path, enc, body, len, status);
    if (code || err_part) {
        struct json_value *doc = it_json(&r);
        if (code)
            assert_string_equal(it_jstr(doc, "code"), code);
        if (err_part && !strstr(it_jstr(doc, "error"), err_part)) {
            print_error("error '%s' lacks '%s'\n", it_jstr(doc, "error"), err_part);
            fail();
        }
        json_free(&doc);
    }
    http_resp_free(&r);
}

static const char *const quiet_env[] = {"ARC_INGESTION_BUFFER_AGE_SECONDS=3600", NULL};

/* Servers started by a single test; the teardown kills one that a failed
 * test left running (arc_cleanup is a no-op after arc_stop + arc_cleanup). */
static struct arc_proc solo;

static int kill_solo(void **state)
{
    (void)state;
    arc_cleanup(&solo);
    return 0;
}

/* --- compressed bodies -------------------------------------------------------------- */

/* Sends one fresh row "cz v=<n>i <n>" encoded as `kind` (0 plain, 1 gzip,
 * 2 zstd) under Content-Encoding `enc` (NULL = no header); expects 204. */
static void send_row(const struct arc_proc *p, int *n, int kind, const char *enc)
{
    char line[64];
    snprintf(line, sizeof(line), "cz v=%di %d\n", *n, *n);
    (*n)++;
    struct bytes b = {(unsigned char *)line, strlen(line)};
    if (kind == 1)
        b = gzip_of(line, strlen(line));
    else if (kind == 2)
        b = zstd_repeat(line, strlen(line), 1);
    post_expect(p, "/write?db=cz&precision=s", enc, b.p, b.len, 204, NULL, NULL);
    if (kind)
        free(b.p);
}

/* Two rows as two concatenated gzip members (kind 1) or zstd frames (2). */
static void send_two_members(const struct arc_proc *p, int *n, int kind)
{
    char l1[64], l2[64];
    snprintf(l1, sizeof(l1), "cz v=%di %d\n", *n, *n);
    (*n)++;
    snprintf(l2, sizeof(l2), "cz v=%di %d\n", *n, *n);
    (*n)++;
    struct bytes a = kind == 1 ? gzip_of(l1, strlen(l1)) : zstd_repeat(l1, strlen(l1), 1);
    struct bytes b = kind == 1 ? gzip_of(l2, strlen(l2)) : zstd_repeat(l2, strlen(l2), 1);
    unsigned char *both = malloc(a.len + b.len);
    memcpy(both, a.p, a.len);
    memcpy(both + a.len, b.p, b.len);
    post_expect(p, "/write?db=cz&precision=s", kind == 1 ? "gzip" : NULL, both, a.len + b.len, 204,
                NULL, NULL);
    free(both);
    free(a.p);
    free(b.p);
}

static void test_compressed_bodies(void **state)
{
    (void)state;
    arc_start(&solo, quiet_env);
    int ts = 0;
    send_row(&solo, &ts, 1, "gzip");
    send_row(&solo, &ts, 1, NULL);   /* gzip detected by magic */
    send_row(&solo, &ts, 1, "GZIP"); /* case-insensitive */
    send_row(&solo, &ts, 1, "x-gzip");
    send_row(&solo, &ts, 1, "zstd"); /* the magic wins over a wrong header */
    send_row(&solo, &ts, 1, "identity");
    send_row(&solo, &ts, 2, "zstd");
    send_row(&solo, &ts, 2, NULL); /* zstd by magic */
    send_row(&solo, &ts, 2, "identity");
    send_row(&solo, &ts, 0, "identity");
    send_row(&solo, &ts, 0, NULL);
    send_two_members(&solo, &ts, 1); /* multi-member gzip: every member decoded */
    send_two_members(&solo, &ts, 2); /* several zstd frames */
    struct bytes g, z;
    struct http_resp r;

    /* MessagePack bodies may be compressed too: {"m":"czmp","columns":{"v":[1]}} */
    static const unsigned char mp[] = {0x82, 0xa1, 'm', 0xa4, 'c', 'z',  'm',  'p', 0xa7, 'c', 'o',
                                       'l',  'u',  'm', 'n',  's', 0x81, 0xa1, 'v', 0x91, 0x01};
    g = gzip_of((const char *)mp, sizeof(mp));
    const char *hmp[] = {"Content-Encoding: gzip", "x-arc-database: cz", NULL};
    r = it_post(&solo, "/api/v1/write/msgpack", hmp, g.p, g.len, 204);
    http_resp_free(&r);
    free(g.p);

    /* Unsupported encodings → 415, nothing written. */
    const char *bad_path = "/write?db=czbad&precision=s";
    static const char *const encs[] = {"br", "deflate", "gzip, br", "compress"};
    for (size_t i = 0; i < 4; i++)
        post_expect(&solo, bad_path, encs[i], "czbad v=1i 1\n", 13, 415, "unsupported media type",
                    NULL);
    /* Corrupt and truncated compressed data → 400. */
    g = gzip_of("czbad v=1i 1\nczbad v=2i 2\n", 26);
    unsigned char *corrupt = malloc(g.len);
    memcpy(corrupt, g.p, g.len);
    for (size_t i = 10; i < g.len - 8; i++)
        corrupt[i] ^= 0x5a;
    post_expect(&solo, bad_path, "gzip", corrupt, g.len, 400, "invalid", NULL);
    post_expect(&solo, bad_path, NULL, corrupt, g.len, 400, "invalid", NULL);
    post_expect(&solo, bad_path, "gzip", g.p, g.len - 6, 400, "invalid", NULL); /* truncated */
    unsigned char *trail = malloc(g.len + 4);
    memcpy(trail, g.p, g.len);
    memcpy(trail + g.len, "junk", 4);
    post_expect(&solo, bad_path, "gzip", trail, g.len + 4, 400, "invalid", NULL);
    free(trail);
    free(corrupt);
    free(g.p);
    z = zstd_repeat("czbad v=1i 1\n", 13, 1);
    post_expect(&solo, bad_path, "zstd", z.p, z.len - 3, 400, "invalid", NULL);
    free(z.p);
    post_expect(&solo, bad_path, "gzip", "czbad v=1i 1\n", 13, 400, "invalid", NULL); /* not gzip */
    g = gzip_of("", 0);
    post_expect(&solo, bad_path, "gzip", g.p, g.len, 400, "invalid", "Empty request body");
    free(g.p);

    assert_int_equal(it_flush(&solo, NULL, NULL), ts + 1); /* + the msgpack row */
    assert_int_equal(pq_count(&solo, "czbad", "czbad", NULL), 0);
    char want[256];
    snprintf(want, sizeof(want), "%d|%d|%d\n", ts, 0, ts - 1);
    assert_pq_rows(&solo, "cz", "cz", "SELECT count(*), min(v), max(v) FROM t", want);
    assert_pq_rows(&solo, "cz", "cz", "SELECT count(DISTINCT v) = count(*) FROM t", "true\n");
    assert_pq_rows(&solo, "cz", "czmp", "SELECT v FROM t", "1\n");

    r = http_get(&solo, "/api/v1/write/stats");
    struct json_value *doc = it_json(&r);
    assert_true(it_jint(json_obj_get(doc, "stats"), "total_bytes_gzipped") > 0);
    json_free(&doc);
    http_resp_free(&r);
    arc_stop(&solo, 15000);
    arc_cleanup(&solo);
}

/* --- decompression bombs ---------------------------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Posts a bomb and checks 413 and the peak RSS growth of the server. */
static void bomb(const struct arc_proc *p, const char *enc, const struct bytes *b, long cap_kb)
{
    bool reset = arc_reset_peak_rss(p);
    long rss0 = arc_rss_kb(p);
    long hwm0 = arc_peak_rss_kb(p);
    double t0 = mono_s();
    post_expect(p, "/write?db=bomb", enc, b->p, b->len, 413, "request too large",
                "decompressed body larger than 8 MB");
    double dt = mono_s() - t0;
    long hwm1 = arc_peak_rss_kb(p);
    long base = reset ? rss0 : hwm0;
    print_message("bomb %s: %zu wire bytes, %.2f s, peak RSS %ld KiB -> %ld KiB (+%ld KiB)\n",
                  enc ? enc : "(magic)", b->len, dt, base, hwm1, hwm1 - base);
    /* cap + one chunk + decoder state; 32 MiB margin for allocator slack (and
     * ASan's quarantine and redzones). Decoding all of it would need GiBs. */
    assert_true(hwm1 - base < cap_kb + 32 * 1024);
    assert_true(dt < 20.0);
}

static void test_decompression_bombs(void **state)
{
    (void)state;
    const char *env[] = {"ARC_INGESTION_BUFFER_AGE_SECONDS=3600",
                         "ARC_SERVER_MAX_DECOMPRESSED_SIZE_MB=8", NULL};
    arc_start(&solo, env);
    const long cap_kb = 8 * 1024;
    /* 1 MiB of one repeated line, repeated 64 times: 64 MiB decoded, 8 x the cap. */
    const char *ln = "bomb,host=server01 value=1i 1700000000000000000\n";
    size_t lnl = strlen(ln), chunk = (1u << 20) / lnl * lnl;
    char *mb = malloc(chunk);
    for (size_t o = 0; o < chunk; o += lnl)
        memcpy(mb + o, ln, lnl);
    struct bytes g = gzip_repeat(mb, chunk, 64, 9);
    assert_true(g.len < 256 * 1024); /* ~200 KB on the wire */
    bomb(&solo, "gzip", &g, cap_kb);
    bomb(&solo, NULL, &g, cap_kb);
    free(g.p);
    struct bytes z = zstd_repeat(mb, chunk, 64);
    bomb(&solo, "zstd", &z, cap_kb);
    free(z.p);
    /* Five gzip members of 2 MiB each: 10 MiB in total passes the cap. */
    struct bytes m1 = gzip_repeat(mb, chunk, 2, 9);
    unsigned char *five = malloc(m1.len * 5);
    for (int i = 0; i < 5; i++)
        memcpy(five + m1.len * i, m1.p, m1.len);
    struct bytes fb = {five, m1.len * 5};
    bomb(&solo, "gzip", &fb, cap_kb);
    free(five);
    /* Four members (8 MiB - a little) fit. */
    struct bytes four = {malloc(m1.len * 4), m1.len * 4};
    for (int i = 0; i < 4; i++)
        memcpy(four.p + m1.len * i, m1.p, m1.len);
    struct http_resp r = post_bytes(&solo, "/write?db=bombok", "gzip", four.p, four.len, 204);
    http_resp_free(&r);
    free(four.p);
    free(m1.p);
    free(mb);

    /* Exactly the limit is accepted, one byte more is not (identity and gzip). */
    size_t lim = 8u << 20;
    char *body = malloc(lim + 1);
    const char *data = "exact v=1i 1700000000000000000\n";
    size_t o = strlen(data);
    memcpy(body, data, o);
    /* The rest is comment lines. */
    for (size_t i = o; i <= lim; i++)
        body[i] = (i == o || body[i - 1] == '\n') ? '#' : (i % 64 == 63 ? '\n' : 'c');
    r = post_bytes(&solo, "/write?db=exact", NULL, body, lim, 204);
    http_resp_free(&r);
    post_expect(&solo, "/write?db=exact", NULL, body, lim + 1, 413, "request too large", NULL);
    struct bytes ge = gzip_repeat(body, lim, 1, 6);
    r = post_bytes(&solo, "/write?db=exact", "gzip", ge.p, ge.len, 204);
    http_resp_free(&r);
    free(ge.p);
    ge = gzip_repeat(body, lim + 1, 1, 6);
    post_expect(&solo, "/write?db=exact", "gzip", ge.p, ge.len, 413, "request too large",
                "decompressed body larger than 8 MB");
    free(ge.p);
    free(body);

    /* The server is fine and a normal write works. */
    r = http_get(&solo, "/health");
    assert_status(r, 200);
    http_resp_free(&r);
    it_write_ok(&solo, "/write?db=after", "ok v=1i 1700000000000000000\n");
    it_flush(&solo, NULL, NULL);
    assert_int_equal(pq_count(&solo, "after", "ok", NULL), 1);
    assert_int_equal(pq_count(&solo, "bomb", "bomb", NULL), 0);
    assert_int_equal(pq_count(&solo, "bombok", "bomb", NULL), 1); /* merged: same tags and time */
    assert_int_equal(pq_count(&solo, "exact", "exact", NULL), 2); /* identity + gzip */
    r = http_get(&solo, "/metrics");
    assert_body_contains(r, "arc_request_body_rejected_total{reason=\"decompressed_too_large\"}");
    http_resp_free(&r);
    arc_stop(&solo, 15000);
    arc_cleanup(&solo);
}

/* --- back-pressure ----------------------------------------------------------------- */

/* n rows "bp id=<first..first+n-1>i <ts = id>" as one body (precision=s). */
static char *rows_body(const char *m, int first, int n, size_t pad)
{
    size_t cap = (size_t)n * (64 + pad) + 1, o = 0;
    char *b = malloc(cap);
    for (int i = 0; i < n; i++) {
        o += (size_t)snprintf(b + o, cap - o, "%s id=%di", m, first + i);
        if (pad) {
            o += (size_t)snprintf(b + o, cap - o, ",pad=\"");
            memset(b + o, 'p', pad);
            o += pad;
            b[o++] = '"';
        }
        o += (size_t)snprintf(b + o, cap - o, " %d\n", 1700000000 + first + i);
    }
    return b;
}

static long post_rows(const struct arc_proc *p, const char *m, int first, int n, size_t pad,
                      char *retry_after, size_t ra_cap)
{
    char *b = rows_body(m, first, n, pad);
    struct http_resp r = http_do(p, "POST", "/write?db=bp&precision=s", NULL, b, strlen(b));
    free(b);
    long st = r.status;
    if (st == 503) {
        assert_true(http_resp_header(&r, "Retry-After", retry_after, ra_cap));
        struct json_value *doc = it_json(&r);
        assert_string_equal(it_jstr(doc, "code"), "unavailable");
        json_free(&doc);
    } else if (st != 204 && st != 413) {
        print_error("unexpected %ld: %s\n", st, r.body);
        http_resp_free(&r);
        fail();
    }
    http_resp_free(&r);
    return st;
}

static void test_backpressure(void **state)
{
    (void)state;
    const char *env[] = {"ARC_INGESTION_BUFFER_AGE_SECONDS=3600", "ARC_INGESTION_BUFFER_SIZE=1000",
                         "ARC_INGESTION_BUFFER_HARD_LIMIT=1000",
                         "ARC_INGESTION_MAX_TOTAL_BUFFER_MB=1", NULL};
    arc_start(&solo, env);
    char ra[32];
    /* Rows: L = 1000 per key. */
    for (int i = 0; i < 9; i++)
        assert_int_equal(post_rows(&solo, "rows", i * 100, 100, 0, ra, sizeof(ra)), 204);
    assert_int_equal(it_held_rows(&solo, "bp/rows"), 900);
    assert_int_equal(post_rows(&solo, "rows", 900, 200, 0, ra, sizeof(ra)), 503);
    assert_true(strtol(ra, NULL, 10) >= 1);
    assert_int_equal(post_rows(&solo, "rows", 900, 101, 0, ra, sizeof(ra)), 503);
    assert_int_equal(it_held_rows(&solo, "bp/rows"), 900); /* nothing of them admitted */
    assert_int_equal(post_rows(&solo, "rows", 5000, 1001, 0, ra, sizeof(ra)), 413); /* never fits */
    assert_int_equal(it_flush(&solo, "bp", "rows"), 900);
    assert_int_equal(post_rows(&solo, "rows", 900, 200, 0, ra, sizeof(ra)), 204);
    assert_int_equal(it_flush(&solo, "bp", "rows"), 200);
    assert_pq_rows(&solo, "bp", "rows",
                   "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t",
                   "1100|1100|0|1099\n");

    /* Bytes: all buffers together ≤ 1 MiB; 40 rows of ~4 KiB per request. */
    int acked = 0, next = 0, got503 = 0;
    for (int i = 0; i < 40 && !got503; i++) {
        long st = post_rows(&solo, "fat", next, 40, 4000, ra, sizeof(ra));
        if (st == 204) {
            acked += 40;
            next += 40;
        } else {
            assert_int_equal(st, 503);
            got503 = 1;
        }
    }
    assert_true(got503);
    assert_true(acked > 0);
    assert_int_equal(it_held_rows(&solo, "bp/fat"), acked);
    /* A flush clears it; writes are accepted again. */
    assert_int_equal(it_flush(&solo, "bp", "fat"), acked);
    assert_int_equal(post_rows(&solo, "fat", next, 40, 4000, ra, sizeof(ra)), 204);
    acked += 40;
    it_flush(&solo, "bp", "fat");
    char want[128];
    snprintf(want, sizeof(want), "%d|%d|0|%d\n", acked, acked, acked - 1);
    assert_pq_rows(&solo, "bp", "fat",
                   "SELECT count(*), count(DISTINCT id), min(id), max(id) FROM t", want);
    arc_stop(&solo, 15000);
    arc_cleanup(&solo);
}

/* --- flush failure ------------------------------------------------------------------ */

static void test_flush_failure_keeps_rows(void **state)
{
    (void)state;
    arc_start(&solo, quiet_env);
    it_write_ok(&solo, "/write?db=ff&precision=s",
                "mf,k=a v=1i 1700000000\nmf,k=b v=2i 1700000001\n"
                "mf,k=c v=3i 1700000002\n");
    it_write_ok(&solo, "/write?db=ff&precision=s", "ok v=1i 1700000000\n");
    /* Root ignores permission bits, so block the measurement directory with
     * a regular file of the same name: mkdir under it fails (ENOTDIR). */
    char dir[1024], blocker[1100];
    snprintf(dir, sizeof(dir), "%s/data/arc/ff", solo.dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(blocker, sizeof(blocker), "%s/mf", dir);
    FILE *f = fopen(blocker, "w");
    assert_non_null(f);
    fclose(f);

    struct http_resp r = it_post(&solo, "/api/v1/write/flush?database=ff", NULL, NULL, 0, 500);
    struct json_value *doc = it_json(&r);
    assert_string_equal(it_jstr(doc, "status"), "error");
    const char *err = it_jstr(doc, "error");
    assert_int_equal(strncmp(err, "Flush failed: ", 14), 0);
    json_free(&doc);
    http_resp_free(&r);
    /* The rows are retained and counted; the other key was written. */
    assert_int_equal(it_held_rows(&solo, "ff/mf"), 3);
    assert_int_equal(it_held_rows(&solo, "ff/ok"), 0);
    assert_int_equal(pq_count(&solo, "ff", "ok", NULL), 1);
    r = http_get(&solo, "/api/v1/write/stats");
    doc = it_json(&r);
    assert_true(it_jint(json_obj_get(doc, "buffer_stats"), "total_errors") >= 1);
    assert_int_equal(it_jint(json_obj_get(doc, "buffer_stats"), "total_records_dropped"), 0);
    json_free(&doc);
    http_resp_free(&r);
    /* Writes to the failing key are still accepted while under its limit. */
    it_write_ok(&solo, "/write?db=ff&precision=s",
                "mf,k=d v=4i 1700000003\nmf,k=e v=5i 1700000004\n");
    assert_int_equal(it_held_rows(&solo, "ff/mf"), 5);
    r = it_post(&solo, "/api/v1/write/flush?database=ff&measurement=mf", NULL, NULL, 0, 500);
    http_resp_free(&r);
    assert_int_equal(it_held_rows(&solo, "ff/mf"), 5);

    /* Storage works again: the next flush writes everything exactly once
     * (a background retry may get there first). */
    assert_int_equal(unlink(blocker), 0);
    int64_t n = it_flush(&solo, "ff", "mf");
    assert_true(n == 0 || n == 5);
    assert_int_equal(it_held_rows(&solo, "ff/mf"), 0);
    assert_pq_rows(&solo, "ff", "mf", "SELECT string_agg(k || v, ',' ORDER BY time) FROM t",
                   "a1,b2,c3,d4,e5\n");
    /* No staging file left behind. */
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -name '*.tmp' 2>/dev/null)\"", dir);
    assert_int_equal(system(cmd), 0);
    arc_stop(&solo, 15000);
    arc_cleanup(&solo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_compressed_bodies, kill_solo),
        cmocka_unit_test_teardown(test_decompression_bombs, kill_solo),
        cmocka_unit_test_teardown(test_backpressure, kill_solo),
        cmocka_unit_test_teardown(test_flush_failure_keeps_rows, kill_solo),
    };
    return cmocka_run_group_tests_name("ingest_limits", tests, NULL, NULL);
}
