/* The S3 backend against a scripted fake endpoint (fake_s3.h): retries on
 * 5xx / 429 / RequestTimeout and none on other 4xx, Retry-After, the circuit
 * breaker (open, fail fast, half-open probe, re-open), no-clobber puts,
 * multipart (error inside a 200 on Complete, abort after a failed part),
 * DeleteObjects (Content-MD5, partial errors, fallback to single deletes),
 * list pagination, virtual-hosted addressing, and on every recorded request
 * a server-side SigV4 verification, so what is sent is what was signed.
 * Secrets must never reach the logs. */
#include "test_helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fake_s3.h"
#include "metrics/metrics.h"
#include "storage/s3.h"
#include "util/log.h"
#include "util/timeutil.h"

#define AK "AKIDFAULTS"
#define SECRET "fAkE/SeCrEt+KeY=never-logged"
#define TOKEN "FwoGZXIvYXdzEJr//////////session+token=="

static char g_dir[64];

struct opts {
    const char *endpoint_host; /* default 127.0.0.1 */
    bool vhost;
    int retries;
    const char *prefix;
    size_t threshold;
    long cooldown_ms;
    int page;
};

static struct storage *open_fake(struct fake_srv *f, const struct opts *x)
{
    static char ep[128];
    snprintf(ep, sizeof(ep), "http://%s:%d", x->endpoint_host ? x->endpoint_host : "127.0.0.1",
             f->port);
    struct s3_options o;
    s3_options_init(&o);
    o.endpoint = ep;
    o.bucket = "bkt";
    o.region = "eu-west-3";
    o.access_key = AK;
    o.secret_key = SECRET;
    o.session_token = TOKEN;
    o.use_ssl = false;
    o.path_style = !x->vhost;
    o.connect_timeout_s = 2;
    o.request_timeout_s = 5;
    o.operation_timeout_s = 20;
    o.max_retries = x->retries;
    o.retry_base_ms = 20;
    o.prefix = x->prefix ? x->prefix : "";
    if (x->threshold)
        o.multipart_threshold_bytes = x->threshold;
    o.part_size_bytes = 5u << 20;
    o.breaker_cooldown_ms = x->cooldown_ms ? x->cooldown_ms : 60000;
    o.list_page_size = x->page;
    o.staging_dir = g_dir;
    struct storage *st = NULL;
    struct errbuf eb = {0};
    if (storage_new_s3(&o, &st, &eb) != RC_OK)
        fail_msg("storage_new_s3: %s", eb.msg);
    return st;
}

/* Every recorded request carries a valid signature and the session token,
 * and never the secret. */
static void verify_all(struct fake_srv *f)
{
    for (int i = 0; i < fake_nreq(f); i++) {
        const struct fake_req *r = fake_request(f, i);
        const char *why = fake_verify_sigv4(r, SECRET, "eu-west-3");
        if (why)
            fail_msg("request %d: %s\n%s", i, why, r->head);
        char tok[256];
        assert_string_equal(fake_header(r, "x-amz-security-token", tok, sizeof(tok)), TOKEN);
        assert_null(strstr(r->head, SECRET));
    }
}

static const char *reqline(struct fake_srv *f, int i)
{
    static char line[1024];
    const struct fake_req *r = fake_request(f, i);
    assert_non_null(r);
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(r->head, "\r"), r->head);
    return line;
}

static double metric(const char *name)
{
    return metrics_family_total(name);
}

static void write_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

/* ---- retries ----------------------------------------------------------------- */

static void test_retry_503_then_ok(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_s3_error(503, "SlowDown"),
                 fake_resp(206, "Content-Range: bytes 0-4/11\r\n", "hello")};
    fake_script(&f, 2, s);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 3});
    double r0 = metric("arc_storage_retries_total");
    char buf[16] = "";
    size_t got = 0;
    struct errbuf eb = {0};
    assert_int_equal(storage_read_range(st, "db/m/x.parquet", 0, buf, 5, &got, &eb), RC_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(fake_nreq(&f), 2);
    assert_true(metric("arc_storage_retries_total") >= r0 + 1);
    char range[64];
    assert_string_equal(fake_header(fake_request(&f, 1), "Range", range, sizeof(range)),
                        "bytes=0-4");
    assert_string_equal(reqline(&f, 1), "GET /bkt/db/m/x.parquet HTTP/1.1");
    verify_all(&f);
    storage_free(&st);
    fake_stop(&f);
}

static void test_retry_exhausted(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_s3_error(500, "InternalError")};
    fake_script(&f, 1, s);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 2});
    struct errbuf eb = {0};
    struct storage_object_info info;
    char local[128];
    snprintf(local, sizeof(local), "%s/dl", g_dir);
    assert_int_equal(storage_get_file(st, "db/m/x.parquet", local, &eb), RC_S3);
    assert_int_equal(fake_nreq(&f), 3);
    assert_non_null(strstr(eb.msg, "HTTP 500 InternalError: fake InternalError"));
    assert_non_null(strstr(eb.msg, "request-id=REQ123"));
    assert_non_null(strstr(eb.msg, "attempt 3 of 3"));
    assert_true(access(local, F_OK) != 0);
    (void)info;
    verify_all(&f);
    storage_free(&st);
    fake_stop(&f);
}

static void test_4xx_not_retried(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 3});
    struct errbuf eb = {0};
    struct storage_object_info info;

    char *s1[] = {fake_resp(404, NULL, NULL)};
    fake_script(&f, 1, s1);
    assert_int_equal(storage_head(st, "db/m/missing.parquet", &info, &eb), RC_NOT_FOUND);
    assert_int_equal(fake_nreq(&f), 1);

    char *s2[] = {fake_s3_error(403, "AccessDenied")};
    fake_script(&f, 1, s2);
    char buf[4];
    size_t got;
    errbuf_clear(&eb);
    assert_int_equal(storage_read_range(st, "db/m/x.parquet", 0, buf, 4, &got, &eb), RC_S3);
    assert_int_equal(fake_nreq(&f), 2);
    assert_non_null(strstr(eb.msg, "AccessDenied"));

    /* Deleting a missing object succeeds (S3 semantics). */
    char *s3[] = {fake_s3_error(404, "NoSuchKey")};
    fake_script(&f, 1, s3);
    assert_int_equal(storage_delete(st, "db/m/gone.parquet", &eb), RC_OK);
    assert_int_equal(fake_nreq(&f), 3);
    assert_string_equal(reqline(&f, 2), "DELETE /bkt/db/m/gone.parquet HTTP/1.1");

    /* 400 RequestTimeout is S3's way of saying "retry". */
    char *s4[] = {fake_s3_error(400, "RequestTimeout"), fake_resp(204, NULL, NULL)};
    fake_script(&f, 2, s4);
    assert_int_equal(storage_delete(st, "db/m/k.parquet", &eb), RC_OK);
    assert_int_equal(fake_nreq(&f), 5);

    /* 416 on a range past the end is an empty read. */
    char *s5[] = {fake_s3_error(416, "InvalidRange")};
    fake_script(&f, 1, s5);
    got = 77;
    assert_int_equal(storage_read_range(st, "db/m/x.parquet", 100, buf, 4, &got, &eb), RC_OK);
    assert_int_equal(got, 0);

    /* A server that ignores Range and sends the whole object. */
    char *s6[] = {fake_resp(200, NULL, "0123456789")};
    fake_script(&f, 1, s6);
    assert_int_equal(storage_read_range(st, "db/m/x.parquet", 3, buf, 4, &got, &eb), RC_OK);
    assert_int_equal(got, 4);
    assert_memory_equal(buf, "3456", 4);
    verify_all(&f);
    storage_free(&st);
    fake_stop(&f);
}

static void test_retry_after(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_resp(429, "Retry-After: 1\r\n", NULL),
                 fake_resp(200,
                           "Content-Length-Ignored: x\r\nLast-Modified: Wed, 15 Jan 2025 "
                           "14:03:07 GMT\r\n",
                           "abcdefghij")};
    fake_script(&f, 2, s);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 2});
    struct errbuf eb = {0};
    struct storage_object_info info = {0};
    int64_t start = time_mono_ms();
    assert_int_equal(storage_head(st, "db/m/x.parquet", &info, &eb), RC_OK);
    assert_true(time_mono_ms() - start >= 950); /* waited Retry-After, not 20 ms */
    assert_int_equal(info.size_bytes, 10);
    assert_int_equal(info.mtime_us, INT64_C(1736949787) * 1000000);
    assert_int_equal(fake_nreq(&f), 2);
    assert_string_equal(reqline(&f, 1), "HEAD /bkt/db/m/x.parquet HTTP/1.1");
    storage_free(&st);
    fake_stop(&f);
}

/* ---- circuit breaker ------------------------------------------------------------ */

static void test_circuit_breaker(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_s3_error(500, "InternalError")};
    fake_script(&f, 1, s);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 0, .cooldown_ms = 400});
    struct errbuf eb = {0};
    struct storage_object_info info;
    double opened0 = metric("arc_storage_circuit_open_total");
    double rejected0 = metric("arc_storage_circuit_rejected_total");

    /* 4xx answers prove the endpoint is alive: they never open it. */
    char *nf[] = {fake_resp(404, NULL, NULL)};
    fake_script(&f, 1, nf);
    for (int i = 0; i < 8; i++)
        assert_int_equal(storage_head(st, "db/k", &info, &eb), RC_NOT_FOUND);
    assert_false(storage_s3_circuit_open(st));

    /* Five consecutive failures open it. */
    char *err[] = {fake_s3_error(500, "InternalError")};
    fake_script(&f, 1, err);
    int base = fake_nreq(&f);
    for (int i = 0; i < 5; i++) {
        assert_false(storage_s3_circuit_open(st));
        assert_int_equal(storage_head(st, "db/k", &info, &eb), RC_S3);
    }
    assert_int_equal(fake_nreq(&f), base + 5);
    assert_true(storage_s3_circuit_open(st));
    assert_true(metric("arc_storage_circuit_open_total") >= opened0 + 1);

    /* Open: fail fast, nothing sent. */
    errbuf_clear(&eb);
    int64_t start = time_mono_ms();
    assert_int_equal(storage_head(st, "db/k", &info, &eb), RC_S3);
    char buf[4];
    size_t got;
    assert_int_equal(storage_read_range(st, "db/k", 0, buf, 4, &got, NULL), RC_S3);
    assert_true(time_mono_ms() - start < 100);
    assert_int_equal(fake_nreq(&f), base + 5);
    assert_non_null(strstr(eb.msg, "circuit open"));
    assert_true(metric("arc_storage_circuit_rejected_total") >= rejected0 + 2);

    /* After the cool-down one probe goes through; it fails: open again. */
    time_sleep_ms(450);
    assert_int_equal(storage_head(st, "db/k", &info, &eb), RC_S3);
    assert_int_equal(fake_nreq(&f), base + 6); /* one attempt, no retries */
    assert_true(storage_s3_circuit_open(st));
    assert_int_equal(storage_head(st, "db/k", &info, &eb), RC_S3);
    assert_int_equal(fake_nreq(&f), base + 6); /* failing fast again */

    /* The endpoint recovers: the next probe closes the circuit. */
    char *ok[] = {fake_resp(200, NULL, NULL)};
    fake_script(&f, 1, ok);
    time_sleep_ms(450);
    assert_int_equal(storage_head(st, "db/k", &info, &eb), RC_OK);
    assert_false(storage_s3_circuit_open(st));
    assert_int_equal(storage_head(st, "db/k", &info, &eb), RC_OK);
    assert_int_equal(fake_nreq(&f), base + 8);
    storage_free(&st);
    fake_stop(&f);
}

/* ---- put ----------------------------------------------------------------------- */

static void sha256_hex_str(const char *s, char out[65])
{
    sigv4_sha256_hex(s, strlen(s), out);
}

static void test_put_single_signed(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_resp(200, "ETag: \"abc\"\r\n", NULL)};
    fake_script(&f, 1, s);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 1, .prefix = "arc"});
    char local[128];
    struct errbuf eb = {0};
    assert_int_equal(storage_staging_path(st, "db/m\xc3\xa9 sure/a b+c=d&e;f.parquet", local,
                                          sizeof(local), &eb),
                     RC_OK);
    const char *content = "PAR1 fake parquet bytes\n";
    write_file(local, content);
    uint64_t bytes = 0;
    assert_int_equal(
        storage_put_file(st, local, "db/m\xc3\xa9 sure/a b+c=d&e;f.parquet", 0, &bytes, &eb),
        RC_OK);
    assert_int_equal(bytes, strlen(content));
    assert_true(access(local, F_OK) != 0); /* moved, as the local backend does */
    assert_int_equal(fake_nreq(&f), 1);
    /* Prefix "arc" became "arc/"; the key is encoded once, canonically. */
    assert_string_equal(reqline(&f, 0),
                        "PUT /bkt/arc/db/m%C3%A9%20sure/a%20b%2Bc%3Dd%26e%3Bf.parquet HTTP/1.1");
    const struct fake_req *r = fake_request(&f, 0);
    char h[128], want[65];
    sha256_hex_str(content, want);
    assert_string_equal(fake_header(r, "x-amz-content-sha256", h, sizeof(h)), want);
    assert_string_equal(r->body, content);
    assert_string_equal(fake_header(r, "Content-Length", h, sizeof(h)), "24");
    assert_string_equal(fake_header(r, "Content-Type", h, sizeof(h)), "");
    assert_string_equal(fake_header(r, "Expect", h, sizeof(h)), "");
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", f.port);
    assert_string_equal(fake_header(r, "Host", h, sizeof(h)), host);
    verify_all(&f);

    /* A missing local file is RC_NOT_FOUND and sends nothing. */
    assert_int_equal(storage_put_file(st, "/nonexistent/x", "db/k", 0, &bytes, &eb), RC_NOT_FOUND);
    assert_int_equal(fake_nreq(&f), 1);
    storage_free(&st);
    fake_stop(&f);
}

static void test_put_noreplace(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 1});
    char local[128];
    snprintf(local, sizeof(local), "%s/.nr", g_dir);
    write_file(local, "x");
    struct errbuf eb = {0};
    uint64_t bytes;

    /* HEAD says it exists: no PUT at all. */
    char *s1[] = {fake_resp(200, NULL, NULL)};
    fake_script(&f, 1, s1);
    assert_int_equal(storage_put_file(st, local, "db/k", STORAGE_PUT_NOREPLACE, &bytes, &eb),
                     RC_EXISTS);
    assert_int_equal(fake_nreq(&f), 1);
    assert_string_equal(reqline(&f, 0), "HEAD /bkt/db/k HTTP/1.1");

    /* HEAD 404, then the conditional PUT loses a race: 412. */
    char *s2[] = {fake_resp(404, NULL, NULL), fake_s3_error(412, "PreconditionFailed")};
    fake_script(&f, 2, s2);
    errbuf_clear(&eb);
    assert_int_equal(storage_put_file(st, local, "db/k", STORAGE_PUT_NOREPLACE, &bytes, &eb),
                     RC_EXISTS);
    assert_int_equal(fake_nreq(&f), 3);
    char h[16];
    assert_string_equal(fake_header(fake_request(&f, 2), "If-None-Match", h, sizeof(h)), "*");
    assert_true(access(local, F_OK) == 0);

    /* A retried PUT whose first attempt had landed: 412 on the retry, HEAD
     * shows our size, so it is a success. */
    char *s3[] = {fake_resp(404, NULL, NULL), fake_s3_error(500, "InternalError"),
                  fake_s3_error(412, "PreconditionFailed"),
                  fake_resp(200, "X-Note: size 1\r\n", "x")};
    fake_script(&f, 4, s3);
    assert_int_equal(storage_put_file(st, local, "db/k", STORAGE_PUT_NOREPLACE, &bytes, &eb),
                     RC_OK);
    assert_int_equal(fake_nreq(&f), 7);
    assert_true(access(local, F_OK) != 0);
    verify_all(&f);
    storage_free(&st);
    fake_stop(&f);
}

static void test_virtual_hosted(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_resp(200, NULL, "abc")};
    fake_script(&f, 1, s);
    /* *.localhost resolves to loopback inside libcurl. */
    struct storage *st =
        open_fake(&f, &(struct opts){.endpoint_host = "s3.localhost", .vhost = true});
    char buf[8];
    size_t got;
    struct errbuf eb = {0};
    assert_int_equal(storage_read_range(st, "db/k", 0, buf, 3, &got, &eb), RC_OK);
    assert_string_equal(reqline(&f, 0), "GET /db/k HTTP/1.1");
    char h[128], want[128];
    snprintf(want, sizeof(want), "bkt.s3.localhost:%d", f.port);
    assert_string_equal(fake_header(fake_request(&f, 0), "Host", h, sizeof(h)), want);
    verify_all(&f);
    storage_free(&st);
    fake_stop(&f);
}

/* ---- multipart ----------------------------------------------------------------- */

static void make_sparse(const char *path, off_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, size), 0);
    assert_int_equal(pwrite(fd, "head", 4, 0), 4);
    assert_int_equal(pwrite(fd, "tail", 4, size - 4), 4);
    close(fd);
}

static const char *initiate_xml =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><InitiateMultipartUploadResult><Bucket>bkt</Bucket>"
    "<Key>db/big</Key><UploadId>up/1+2=&amp;3</UploadId></InitiateMultipartUploadResult>";

static void test_multipart_error_in_200(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_resp(200, NULL, initiate_xml), fake_resp(200, "ETag: \"e1\"\r\n", NULL),
                 fake_resp(200, "ETag: \"e2\"\r\n", NULL),
                 fake_resp(200, NULL,
                           "<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code>"
                           "<Message>We encountered an internal error.</Message></Error>"),
                 fake_resp(200, NULL,
                           "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
                           "</CompleteMultipartUploadResult>")};
    fake_script(&f, 5, s);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 2, .threshold = 1 << 20});
    char local[128];
    snprintf(local, sizeof(local), "%s/.big", g_dir);
    make_sparse(local, (6 << 20) + 3);
    uint64_t bytes = 0;
    struct errbuf eb = {0};
    assert_int_equal(storage_put_file(st, local, "db/big", 0, &bytes, &eb), RC_OK);
    assert_int_equal(bytes, (6u << 20) + 3);
    assert_int_equal(fake_nreq(&f), 5);
    assert_string_equal(reqline(&f, 0), "POST /bkt/db/big?uploads= HTTP/1.1");
    assert_string_equal(reqline(&f, 1),
                        "PUT /bkt/db/big?partNumber=1&uploadId=up%2F1%2B2%3D%263 HTTP/1.1");
    assert_string_equal(reqline(&f, 2),
                        "PUT /bkt/db/big?partNumber=2&uploadId=up%2F1%2B2%3D%263 HTTP/1.1");
    assert_int_equal(fake_request(&f, 1)->content_length, 5u << 20);
    assert_int_equal(fake_request(&f, 2)->content_length, (1u << 20) + 3);
    const struct fake_req *c = fake_request(&f, 4);
    assert_string_equal(reqline(&f, 4), "POST /bkt/db/big?uploadId=up%2F1%2B2%3D%263 HTTP/1.1");
    assert_non_null(strstr(c->body, "<Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>"
                                    "</Part><Part><PartNumber>2</PartNumber><ETag>&quot;e2&quot;"
                                    "</ETag></Part></CompleteMultipartUpload>"));
    char h[64];
    assert_string_equal(fake_header(c, "Content-Type", h, sizeof(h)), "application/xml");
    assert_true(access(local, F_OK) != 0);
    verify_all(&f); /* part 2's body hash is checked against the wire */
    storage_free(&st);
    fake_stop(&f);
}

static void test_multipart_abort(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {fake_resp(200, NULL, initiate_xml), fake_s3_error(400, "InvalidArgument"),
                 fake_resp(204, NULL, NULL)};
    fake_script(&f, 3, s);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 2, .threshold = 1 << 20});
    char local[128];
    snprintf(local, sizeof(local), "%s/.big2", g_dir);
    make_sparse(local, 6 << 20);
    uint64_t bytes = 0;
    struct errbuf eb = {0};
    assert_int_equal(storage_put_file(st, local, "db/big", 0, &bytes, &eb), RC_S3);
    assert_non_null(strstr(eb.msg, "InvalidArgument"));
    assert_int_equal(fake_nreq(&f), 3);
    assert_string_equal(reqline(&f, 2), "DELETE /bkt/db/big?uploadId=up%2F1%2B2%3D%263 HTTP/1.1");
    assert_true(access(local, F_OK) == 0); /* the caller still owns it */
    verify_all(&f);
    unlink(local);
    storage_free(&st);
    fake_stop(&f);
}

/* ---- delete_many ---------------------------------------------------------------- */

static void test_delete_many(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    struct storage *st = open_fake(&f, &(struct opts){.retries = 1, .prefix = "p/"});
    const char *keys[] = {"db/a&b.parquet", "db/<c>.parquet", "db/ctl\x01.parquet", "db/d"};
    size_t failed = 99;
    struct errbuf eb = {0};

    /* Partial failure inside a 200 DeleteResult; the control-character key
     * cannot travel in XML and is deleted on its own. */
    char *s1[] = {fake_resp(200, NULL,
                            "<DeleteResult><Error><Key>p/db/d</Key><Code>AccessDenied</Code>"
                            "<Message>no</Message></Error></DeleteResult>"),
                  fake_resp(204, NULL, NULL)};
    fake_script(&f, 2, s1);
    assert_int_equal(storage_delete_many(st, keys, 4, &failed, &eb), RC_S3);
    assert_int_equal(failed, 1);
    assert_non_null(strstr(eb.msg, "p/db/d"));
    assert_int_equal(fake_nreq(&f), 2);
    const struct fake_req *r = fake_request(&f, 0);
    assert_string_equal(reqline(&f, 0), "POST /bkt?delete= HTTP/1.1");
    assert_non_null(strstr(r->body, "<Quiet>true</Quiet><Object><Key>p/db/a&amp;b.parquet</Key>"
                                    "</Object><Object><Key>p/db/&lt;c&gt;.parquet</Key></Object>"
                                    "<Object><Key>p/db/d</Key></Object></Delete>"));
    assert_null(strstr(r->body, "ctl"));
    /* Content-MD5 is the base64 MD5 of the body as received. */
    unsigned char md[16];
    unsigned int ml;
    EVP_Digest(r->body, r->body_len, md, &ml, EVP_md5(), NULL);
    char b64[32], h[64];
    EVP_EncodeBlock((unsigned char *)b64, md, 16);
    assert_string_equal(fake_header(r, "Content-MD5", h, sizeof(h)), b64);
    assert_string_equal(reqline(&f, 1), "DELETE /bkt/p/db/ctl%01.parquet HTTP/1.1");

    /* An endpoint without DeleteObjects: fall back to single deletes, and
     * remember it. */
    char *s2[] = {fake_s3_error(501, "NotImplemented"), fake_resp(204, NULL, NULL)};
    fake_script(&f, 2, s2);
    failed = 99;
    errbuf_clear(&eb);
    assert_int_equal(storage_delete_many(st, keys, 2, &failed, &eb), RC_OK);
    assert_int_equal(failed, 0);
    assert_int_equal(fake_nreq(&f), 2 + 3);
    assert_string_equal(reqline(&f, 3), "DELETE /bkt/p/db/a%26b.parquet HTTP/1.1");
    assert_string_equal(reqline(&f, 4), "DELETE /bkt/p/db/%3Cc%3E.parquet HTTP/1.1");
    char *s3[] = {fake_resp(204, NULL, NULL)};
    fake_script(&f, 1, s3);
    assert_int_equal(storage_delete_many(st, keys, 2, &failed, &eb), RC_OK);
    assert_int_equal(fake_nreq(&f), 5 + 2); /* no POST this time */
    assert_string_equal(reqline(&f, 5), "DELETE /bkt/p/db/a%26b.parquet HTTP/1.1");
    verify_all(&f);
    storage_free(&st);
    fake_stop(&f);
}

/* ---- list ----------------------------------------------------------------------- */

struct listed {
    char keys[16][128];
    int n;
};

static int collect(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
    (void)size;
    (void)mtime;
    struct listed *l = ctx;
    if (l->n < 16)
        snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
    l->n++;
    return RC_OK;
}

static void test_list_pages(void **state)
{
    (void)state;
    struct fake_srv f;
    fake_start(&f, FAKE_SCRIPT);
    char *s[] = {
        fake_resp(200, NULL,
                  "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>"
                  "t/1+=&amp;</NextContinuationToken><Contents><Key>arc/db/m/a.parquet</Key>"
                  "<Size>5</Size></Contents><Contents><Key>arc/db/m/.staging.tmp</Key>"
                  "<Size>1</Size></Contents><Contents><Key>arc/db/_internal/x</Key><Size>1</Size>"
                  "</Contents></ListBucketResult>"),
        fake_resp(200, NULL,
                  "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>arc/db//dbl"
                  "</Key></Contents><Contents><Key>arc/db/dir/</Key></Contents><Contents><Key>"
                  "arc/db/m/b.parquet</Key><Size>7</Size></Contents></ListBucketResult>")};
    fake_script(&f, 2, s);
    struct storage *st = open_fake(&f, &(struct opts){.prefix = "/arc/", .page = 3});
    struct listed l = {0};
    struct errbuf eb = {0};
    assert_int_equal(storage_list(st, "db/", collect, &l, &eb), RC_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.keys[0], "db/m/a.parquet");
    assert_string_equal(l.keys[1], "db/m/b.parquet");
    assert_string_equal(reqline(&f, 0),
                        "GET /bkt?list-type=2&prefix=arc%2Fdb%2F&max-keys=3 HTTP/1.1");
    assert_string_equal(reqline(&f, 1),
                        "GET /bkt?list-type=2&prefix=arc%2Fdb%2F&max-keys=3&continuation-token="
                        "t%2F1%2B%3D%26 HTTP/1.1");
    verify_all(&f);

    /* A server that says "truncated" without a token must not loop. */
    char *s2[] = {fake_resp(200, NULL,
                            "<ListBucketResult><IsTruncated>true</IsTruncated>"
                            "</ListBucketResult>")};
    fake_script(&f, 1, s2);
    errbuf_clear(&eb);
    assert_int_equal(storage_list(st, "", collect, &l, &eb), RC_S3);
    assert_non_null(strstr(eb.msg, "continuation token"));
    /* Garbage instead of XML. */
    char *s3[] = {fake_resp(200, NULL, "<html>proxy error</html>")};
    fake_script(&f, 1, s3);
    assert_int_equal(storage_list(st, "", collect, &l, NULL), RC_PARSE);
    storage_free(&st);
    fake_stop(&f);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    log_configure(LOG_DEBUG, LOG_FORMAT_TEXT, 8192);
    snprintf(g_dir, sizeof(g_dir), "/tmp/arc-test-s3f-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    static struct log_entry e[8192];
    size_t n = log_recent(e, 8192, LOG_DEBUG, 0);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (strstr(e[i].message, SECRET) || strstr(e[i].message, TOKEN) ||
            strstr(e[i].message, "AWS4-HMAC") || strstr(e[i].message, "Signature=")) {
            fprintf(stderr, "secret in log: %s\n", e[i].message);
            rc = -1;
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        rc = -1;
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_503_then_ok),
        cmocka_unit_test(test_retry_exhausted),
        cmocka_unit_test(test_4xx_not_retried),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_circuit_breaker),
        cmocka_unit_test(test_put_single_signed),
        cmocka_unit_test(test_put_noreplace),
        cmocka_unit_test(test_virtual_hosted),
        cmocka_unit_test(test_multipart_error_in_200),
        cmocka_unit_test(test_multipart_abort),
        cmocka_unit_test(test_delete_many),
        cmocka_unit_test(test_list_pages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
