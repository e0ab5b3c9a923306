/* Unit tests for the pure parts of the S3 backend: the XML reader/writer
 * (s3_xml.c) on real and hostile responses, endpoint parsing and request
 * addressing (path-style, virtual-hosted, AWS default, base paths), and
 * option validation / configuration presets (s3_options_from_config). */
#include "test_helpers.h"

#include <unistd.h>

#include "storage/s3.h"
#include "storage/s3_internal.h"
#include "util/config.h"
#include "util/strbuf.h"

/* ---- XML find / unescape / escape ------------------------------------------ */

static const char *find(const char *xml, const char *name)
{
    static char out[256];
    size_t pos = 0;
    const char *in;
    size_t il;
    if (!s3__xml_find(xml, strlen(xml), &pos, name, &in, &il))
        return NULL;
    snprintf(out, sizeof(out), "%.*s", (int)il, in);
    return out;
}

static void test_xml_find(void **state)
{
    (void)state;
    assert_string_equal(find("<a><Key>k</Key></a>", "Key"), "k");
    /* Exact names: KeyMarker is not Key. */
    assert_string_equal(find("<KeyMarker>m</KeyMarker><Key>k</Key>", "Key"), "k");
    assert_null(find("<KeyMarker>m</KeyMarker>", "Key"));
    /* Attributes, including a quoted '>', and spaces in the closing tag. */
    assert_string_equal(find("<Key a=\"x>y\" b='1'>v</Key >", "Key"), "v");
    /* Self-closing. */
    assert_string_equal(find("<Key/><Key>late</Key>", "Key"), "");
    /* Comments, CDATA and processing instructions are not elements. */
    assert_string_equal(find("<?xml version=\"1.0\"?><!-- <Key>no</Key> --><Key>yes</Key>", "Key"),
                        "yes");
    assert_string_equal(find("<![CDATA[<Key>no</Key>]]><Key>yes</Key>", "Key"), "yes");
    /* Truncated documents: no match, no overread (ASan checks). */
    assert_null(find("<Key>unterminated", "Key"));
    assert_null(find("<Key", "Key"));
    assert_null(find("<", "Key"));
    assert_null(find("<!-- open", "Key"));
    assert_null(find("", "Key"));
    /* Iteration over siblings. */
    const char *doc = "<L><C><K>1</K></C><C><K>2</K></C><C><K>3</K></C></L>";
    size_t pos = 0, n = 0;
    const char *in;
    size_t il;
    while (s3__xml_find(doc, strlen(doc), &pos, "C", &in, &il))
        n++;
    assert_int_equal(n, 3);
}

static int unesc(const char *s, char *out, size_t cap)
{
    struct strbuf sb;
    strbuf_init(&sb, 1024);
    int rc = s3__xml_unescape(&sb, s, strlen(s));
    snprintf(out, cap, "%s", rc == RC_OK ? sb.data : "");
    strbuf_cleanup(&sb);
    return rc;
}

static void test_xml_unescape(void **state)
{
    (void)state;
    char o[256];
    assert_int_equal(unesc("a&amp;b&lt;c&gt;d&quot;e&apos;f", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "a&b<c>d\"e'f");
    assert_int_equal(unesc("&#233;t&#xE9;&#x1F600;&#9;", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "\xc3\xa9t\xc3\xa9\xf0\x9f\x98\x80\t");
    assert_int_equal(unesc("a\r\nb\rc", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "a\nb\nc");
    assert_int_equal(unesc("x<![CDATA[<&>]]>y", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "x<&>y");
    assert_int_equal(unesc("", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "");
    /* Refusals: unknown entity, unterminated, NUL, surrogates, too big,
     * markup inside text. */
    assert_int_equal(unesc("&nbsp;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&amp", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&#0;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&#xD800;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&#x110000;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&#99999999999999999999;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&#;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&#x;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("&#12a;", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("a<b>c</b>", o, sizeof(o)), RC_PARSE);
    assert_int_equal(unesc("<![CDATA[open", o, sizeof(o)), RC_PARSE);
}

static int esc(const char *s, char *out, size_t cap)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    int rc = s3__xml_escape(&sb, s);
    snprintf(out, cap, "%s", rc == RC_OK && sb.data ? sb.data : "");
    strbuf_cleanup(&sb);
    return rc;
}

static void test_xml_escape(void **state)
{
    (void)state;
    char o[256];
    assert_int_equal(esc("a&b<c>d\"e'f", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    assert_int_equal(esc("t\tn\nr\r", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "t&#9;n&#10;r&#13;");
    assert_int_equal(esc("\xc3\xa9\xf0\x9f\x98\x80", o, sizeof(o)), RC_OK);
    assert_string_equal(o, "\xc3\xa9\xf0\x9f\x98\x80");
    /* Not representable in XML 1.0, or not UTF-8. */
    assert_int_equal(esc("a\x01"
                         "b",
                         o, sizeof(o)),
                     RC_INVALID);
    assert_int_equal(esc("\xff", o, sizeof(o)), RC_INVALID);
    assert_int_equal(esc("\xc0\xaf", o, sizeof(o)), RC_INVALID);     /* overlong '/' */
    assert_int_equal(esc("\xed\xa0\x80", o, sizeof(o)), RC_INVALID); /* surrogate */
    assert_int_equal(esc("\xef\xbf\xbf", o, sizeof(o)), RC_INVALID); /* U+FFFF */
    assert_int_equal(esc("\xe2\x82", o, sizeof(o)), RC_INVALID);     /* truncated */
    /* Round trip. */
    const char *weird = "db/m\xc3\xa9/a&b <c> \"q\" 'a'\t.parquet";
    assert_int_equal(esc(weird, o, sizeof(o)), RC_OK);
    char back[256];
    assert_int_equal(unesc(o, back, sizeof(back)), RC_OK);
    assert_string_equal(back, weird);
}

/* ---- responses ------------------------------------------------------------- */

struct seen {
    char keys[16][128];
    uint64_t sizes[16];
    int64_t mtimes[16];
    int n;
    int stop_after;
};

static int collect(void *ctx, const char *key, uint64_t size, int64_t mtime_us)
{
    struct seen *s = ctx;
    if (s->n < 16) {
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
        s->sizes[s->n] = size;
        s->mtimes[s->n] = mtime_us;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? RC_LIMIT : RC_OK;
}

static const char *list_page =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bucket</Name><Prefix>arc/db/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<ContinuationToken>abc</ContinuationToken>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&amp;x</"
    "NextContinuationToken>"
    "<Contents><Key>arc/db/m/a.parquet</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
    "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
    "<StorageClass>STANDARD</StorageClass><Owner><ID>x</ID></Owner></Contents>"
    "<Contents><Key>arc/db/m/caf&#xE9; &amp; b.parquet</Key><Size>0</Size>"
    "<LastModified>not a date</LastModified></Contents>"
    "<Contents>\n  <Size> 18446744073709551615 </Size>\n  <Key>arc/db/z</Key>\n</Contents>"
    "</ListBucketResult>";

static void test_parse_list(void **state)
{
    (void)state;
    struct seen s = {0};
    bool truncated = false;
    struct strbuf tok;
    strbuf_init(&tok, 1024);
    struct errbuf eb = {0};
    assert_int_equal(
        s3__parse_list(list_page, strlen(list_page), collect, &s, &truncated, &tok, &eb), RC_OK);
    assert_true(truncated);
    assert_string_equal(tok.data, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=&x");
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[0], "arc/db/m/a.parquet");
    assert_int_equal(s.sizes[0], 434234);
    assert_int_equal(s.mtimes[0], INT64_C(1255369830000000));
    assert_string_equal(s.keys[1], "arc/db/m/caf\xc3\xa9 & b.parquet");
    assert_int_equal(s.sizes[1], 0);
    assert_int_equal(s.mtimes[1], 0); /* bad date tolerated */
    assert_string_equal(s.keys[2], "arc/db/z");
    assert_true(s.sizes[2] == UINT64_MAX);

    /* The callback's code stops the parse and comes back. */
    struct seen s2 = {.stop_after = 2};
    assert_int_equal(
        s3__parse_list(list_page, strlen(list_page), collect, &s2, &truncated, &tok, NULL),
        RC_LIMIT);
    assert_int_equal(s2.n, 2);

    /* Last page: not truncated, no token. */
    const char *last = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    struct seen s3 = {0};
    assert_int_equal(s3__parse_list(last, strlen(last), collect, &s3, &truncated, &tok, NULL),
                     RC_OK);
    assert_false(truncated);
    assert_int_equal(tok.len, 0);
    assert_int_equal(s3.n, 0);

    /* Broken documents. */
    const char *bad[] = {
        "<Error><Code>AccessDenied</Code></Error>",
        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size></Contents>"
        "</ListBucketResult>",
        "<ListBucketResult><Contents><Key>a&#0;b</Key></Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct seen sb = {0};
        errbuf_clear(&eb);
        int rc = s3__parse_list(bad[i], strlen(bad[i]), collect, &sb, &truncated, &tok, &eb);
        if (rc != RC_PARSE)
            fail_msg("bad list %zu: rc %d", i, rc);
        assert_int_equal(sb.n, 0);
    }
    strbuf_cleanup(&tok);
}

static void test_parse_error(void **state)
{
    (void)state;
    const char *x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                    "<Message>The resource you requested does not exist &amp; never did</Message>"
                    "<Resource>/mybucket/myfoto.jpg</Resource><RequestId>4442587FB7D0A2F9"
                    "</RequestId></Error>";
    char code[64], msg[256];
    assert_true(s3__parse_error(x, strlen(x), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "NoSuchKey");
    assert_string_equal(msg, "The resource you requested does not exist & never did");
    assert_false(
        s3__parse_error("<html>502 Bad Gateway</html>", 28, code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "");
    assert_false(s3__parse_error(NULL, 0, code, sizeof(code), msg, sizeof(msg)));
    /* Truncation into small buffers. */
    char small[4];
    assert_true(s3__parse_error(x, strlen(x), small, sizeof(small), msg, sizeof(msg)));
    assert_string_equal(small, "NoS");
}

struct del_seen {
    int n;
    char key[128], code[64];
};

static void del_cb(void *ctx, const char *key, const char *code, const char *msg)
{
    (void)msg;
    struct del_seen *d = ctx;
    if (d->n++ == 0) {
        snprintf(d->key, sizeof(d->key), "%s", key);
        snprintf(d->code, sizeof(d->code), "%s", code);
    }
}

static void test_parse_delete_result(void **state)
{
    (void)state;
    const char *x = "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                    "<Deleted><Key>a</Key></Deleted>"
                    "<Error><Key>b&amp;c</Key><Code>AccessDenied</Code><Message>Access Denied"
                    "</Message></Error>"
                    "<Error><Key>d</Key><Code>InternalError</Code><Message>x</Message></Error>"
                    "</DeleteResult>";
    struct del_seen d = {0};
    size_t errors = 99;
    assert_int_equal(s3__parse_delete_result(x, strlen(x), del_cb, &d, &errors, NULL), RC_OK);
    assert_int_equal(errors, 2);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.key, "b&c");
    assert_string_equal(d.code, "AccessDenied");
    const char *quiet_ok = "<DeleteResult/>";
    assert_int_equal(s3__parse_delete_result(quiet_ok, strlen(quiet_ok), NULL, NULL, &errors, NULL),
                     RC_OK);
    assert_int_equal(errors, 0);
    const char *notit = "<Error><Code>NotImplemented</Code></Error>";
    assert_int_equal(s3__parse_delete_result(notit, strlen(notit), NULL, NULL, &errors, NULL),
                     RC_PARSE);
}

/* ---- endpoints and addressing ------------------------------------------------ */

struct target {
    char host[256], path[512], url[768];
};

static int target(const char *endpoint, bool ssl, const char *region, const char *bucket,
                  bool path_style, const char *object, struct target *t)
{
    struct s3__endpoint ep;
    struct errbuf eb = {0};
    int rc = s3__endpoint_parse(endpoint, ssl, region, &ep, &eb);
    if (rc != RC_OK)
        return rc;
    struct strbuf h, p, u;
    strbuf_init(&h, 0);
    strbuf_init(&p, 0);
    strbuf_init(&u, 0);
    rc = s3__target(&ep, bucket, path_style, object, &h, &p, &u);
    snprintf(t->host, sizeof(t->host), "%s", h.data);
    snprintf(t->path, sizeof(t->path), "%s", p.data);
    snprintf(t->url, sizeof(t->url), "%s", u.data);
    strbuf_cleanup(&h);
    strbuf_cleanup(&p);
    strbuf_cleanup(&u);
    s3__endpoint_cleanup(&ep);
    return rc;
}

static void test_addressing(void **state)
{
    (void)state;
    struct target t;
    /* AWS default endpoint, virtual-hosted. */
    assert_int_equal(target("", true, "eu-west-1", "bkt", false, "arc/db/a b+c.parquet", &t),
                     RC_OK);
    assert_string_equal(t.host, "bkt.s3.eu-west-1.amazonaws.com");
    assert_string_equal(t.path, "/arc/db/a b+c.parquet");
    assert_string_equal(t.url, "https://bkt.s3.eu-west-1.amazonaws.com/arc/db/a%20b%2Bc.parquet");
    /* Bucket root, virtual-hosted and path-style. */
    assert_int_equal(target("", false, "us-east-1", "bkt", false, NULL, &t), RC_OK);
    assert_string_equal(t.url, "http://bkt.s3.us-east-1.amazonaws.com/");
    assert_int_equal(target("http://127.0.0.1:9000", true, "us-east-1", "bkt", true, "", &t),
                     RC_OK);
    assert_string_equal(t.host, "127.0.0.1:9000");
    assert_string_equal(t.path, "/bkt");
    assert_string_equal(t.url, "http://127.0.0.1:9000/bkt");
    /* Path-style object, endpoint with a base path and trailing slashes; the
     * endpoint's scheme wins over use_ssl. */
    assert_int_equal(
        target("https://ceph.example:8443/s3//", false, "x", "b", true, "k/\xc3\xa9", &t), RC_OK);
    assert_string_equal(t.host, "ceph.example:8443");
    assert_string_equal(t.path, "/s3/b/k/\xc3\xa9");
    assert_string_equal(t.url, "https://ceph.example:8443/s3/b/k/%C3%A9");
    /* No scheme: use_ssl decides. */
    assert_int_equal(target("minio:9000", false, "us-east-1", "arc", true, "x", &t), RC_OK);
    assert_string_equal(t.url, "http://minio:9000/arc/x");
    assert_int_equal(target("minio:9000", true, "us-east-1", "arc", false, "x", &t), RC_OK);
    assert_string_equal(t.url, "https://arc.minio:9000/x");
    /* IPv6 literal. */
    assert_int_equal(target("http://[::1]:9000", false, "r", "b", true, "k", &t), RC_OK);
    assert_string_equal(t.host, "[::1]:9000");
    assert_string_equal(t.url, "http://[::1]:9000/b/k");
    /* R2 / GCS shapes. */
    assert_int_equal(
        target("https://acct.r2.cloudflarestorage.com", true, "auto", "b", true, "k", &t), RC_OK);
    assert_string_equal(t.url, "https://acct.r2.cloudflarestorage.com/b/k");

    /* Refusals. */
    const char *bad[] = {
        "ftp://h",     "http://",     "http://user:pw@h", "http://h/a?b", "http://h#x",
        "http://h:",   "http://h:0",  "http://h:65536",   "http://h:12a", "h o",
        "http://[::1", "http://[]:1", "http://::1:9000",  "http://h/%41", ":9000",
        "http://h\\x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (target(bad[i], true, "r", "b", true, "k", &t) != RC_INVALID)
            fail_msg("endpoint %s accepted", bad[i]);
    assert_int_equal(target("", true, "us east", "b", true, "k", &t), RC_INVALID);
    assert_int_equal(target("", true, "", "b", true, "k", &t), RC_INVALID);
}

/* ---- options and configuration ----------------------------------------------- */

static void test_new_s3_validation(void **state)
{
    (void)state;
    char dir[] = "/tmp/arc-test-s3opt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct s3_options o;
    s3_options_init(&o);
    assert_true(o.use_ssl);
    assert_int_equal(o.connect_timeout_s, 10);
    assert_int_equal(o.request_timeout_s, 60);
    assert_int_equal(o.low_speed_limit_bytes, 1024);
    assert_int_equal(o.low_speed_time_s, 30);
    assert_int_equal(o.operation_timeout_s, 300);
    assert_int_equal(o.max_retries, 3);
    assert_int_equal(o.multipart_threshold_bytes, 64u << 20);
    assert_int_equal(o.part_size_bytes, 16u << 20);
    o.staging_dir = dir;
    o.bucket = "b";
    o.access_key = "AK";
    o.secret_key = "SK";
    struct storage *st = NULL;
    struct errbuf eb = {0};
    assert_int_equal(storage_new_s3(&o, &st, &eb), RC_OK);
    assert_string_equal(storage_backend_name(st), "s3");
    assert_null(storage_local_root(st));
    assert_false(storage_s3_circuit_open(st));
    /* Staging names: hidden, in the spool dir, not *.parquet, unique. */
    char p1[512], p2[512];
    assert_int_equal(
        storage_staging_path(st, "db/m/2025/01/01/00/m_1.parquet", p1, sizeof(p1), &eb), RC_OK);
    assert_int_equal(
        storage_staging_path(st, "db/m/2025/01/01/00/m_1.parquet", p2, sizeof(p2), &eb), RC_OK);
    assert_string_not_equal(p1, p2);
    assert_memory_equal(p1, dir, strlen(dir));
    assert_int_equal(p1[strlen(dir) + 1], '.');
    assert_null(strstr(p1 + strlen(p1) - 8, ".parquet"));
    assert_int_equal(storage_staging_path(st, "k", p1, 8, &eb), RC_LIMIT);
    storage_free(&st);
    assert_null(st);

    struct s3_options b = o;
    b.bucket = "";
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.bucket = "a/b";
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.secret_key = "";
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.part_size_bytes = 1 << 20;
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.endpoint = "gopher://x";
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.prefix = "a/../b";
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.session_token = "tok\r\nX-Evil: 1";
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.list_page_size = 1001;
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    b = o;
    b.max_retries = -1;
    assert_int_equal(storage_new_s3(&b, &st, NULL), RC_INVALID);
    assert_null(st);
    /* Error messages never contain the secret. */
    b = o;
    b.secret_key = "TOPSECRET-abc";
    b.region = "bad region";
    errbuf_clear(&eb);
    assert_int_equal(storage_new_s3(&b, &st, &eb), RC_INVALID);
    assert_null(strstr(eb.msg, "TOPSECRET"));
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static struct config *cfg_with(const char *const *kv)
{
    struct config *cfg = config_new();
    struct errbuf eb = {0};
    for (size_t i = 0; kv[i]; i += 2)
        if (config_set(cfg, kv[i], kv[i + 1], &eb) != RC_OK)
            fail_msg("config_set %s: %s", kv[i], eb.msg);
    return cfg;
}

static void test_options_from_config(void **state)
{
    (void)state;
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    struct s3_options o;
    struct errbuf eb = {0};

    /* s3 with explicit keys and timeouts. */
    /* The backend goes last: config_set checks cross-key rules each time. */
    const char *s3kv[] = {"storage.s3.bucket",
                          "bkt",
                          "storage.s3.access_key",
                          "AK",
                          "storage.s3.secret_key",
                          "SK",
                          "storage.s3.endpoint",
                          "https://r2.example",
                          "storage.s3.path_style",
                          "true",
                          "storage.s3.prefix",
                          "arc/",
                          "storage.connect_timeout_seconds",
                          "3",
                          "storage.request_timeout_seconds",
                          "7",
                          "storage.operation_timeout_seconds",
                          "20",
                          "storage.max_retries",
                          "5",
                          "storage.low_speed_limit_bytes",
                          "10",
                          "storage.low_speed_time_seconds",
                          "4",
                          "storage.backend",
                          "s3",
                          NULL};
    struct config *cfg = cfg_with(s3kv);
    assert_int_equal(s3_options_from_config(cfg, &o, &eb), RC_OK);
    assert_string_equal(o.bucket, "bkt");
    assert_string_equal(o.endpoint, "https://r2.example");
    assert_string_equal(o.region, "us-east-1");
    assert_string_equal(o.prefix, "arc/");
    assert_true(o.path_style);
    assert_int_equal(o.connect_timeout_s, 3);
    assert_int_equal(o.request_timeout_s, 7);
    assert_int_equal(o.operation_timeout_s, 20);
    assert_int_equal(o.max_retries, 5);
    assert_int_equal(o.low_speed_limit_bytes, 10);
    assert_int_equal(o.low_speed_time_s, 4);
    assert_string_equal(o.staging_dir, cfg->storage.local.base_path);
    /* AWS_REGION replaces only the default region. */
    setenv("AWS_REGION", "eu-north-1", 1);
    assert_int_equal(s3_options_from_config(cfg, &o, &eb), RC_OK);
    assert_string_equal(o.region, "eu-north-1");
    config_free(&cfg);
    const char *s3kv2[] = {"storage.s3.bucket",
                           "bkt",
                           "storage.s3.region",
                           "ap-south-1",
                           "storage.backend",
                           "s3",
                           NULL};
    cfg = cfg_with(s3kv2);
    /* No keys anywhere: refused, naming the key. */
    errbuf_clear(&eb);
    assert_int_equal(s3_options_from_config(cfg, &o, &eb), RC_INVALID);
    assert_non_null(strstr(eb.msg, "storage.s3.access_key"));
    /* Keys from the environment, with a session token. */
    setenv("AWS_ACCESS_KEY_ID", "ENVAK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "ENVSK", 1);
    setenv("AWS_SESSION_TOKEN", "ENVTOK", 1);
    assert_int_equal(s3_options_from_config(cfg, &o, &eb), RC_OK);
    assert_string_equal(o.access_key, "ENVAK");
    assert_string_equal(o.secret_key, "ENVSK");
    assert_string_equal(o.session_token, "ENVTOK");
    assert_string_equal(o.region, "ap-south-1"); /* explicit region beats AWS_REGION */
    config_free(&cfg);

    /* minio preset: path-style, its own keys and bucket. */
    const char *mkv[] = {"storage.minio.access_key",
                         "MAK",
                         "storage.minio.secret_key",
                         "MSK",
                         "storage.backend",
                         "minio",
                         NULL};
    cfg = cfg_with(mkv);
    assert_int_equal(s3_options_from_config(cfg, &o, &eb), RC_OK);
    assert_string_equal(o.endpoint, "http://localhost:9000");
    assert_string_equal(o.bucket, "arc");
    assert_string_equal(o.access_key, "MAK");
    assert_true(o.path_style);
    assert_false(o.use_ssl);
    assert_string_equal(o.service_name, "minio");
    config_free(&cfg);

    /* gcs preset: XML API endpoint, region auto even with AWS_REGION set. */
    const char *gkv[] = {"storage.gcs.bucket",
                         "gb",
                         "storage.gcs.hmac_key_id",
                         "GOOG1E",
                         "storage.gcs.hmac_secret",
                         "GSK",
                         "storage.backend",
                         "gcs",
                         NULL};
    cfg = cfg_with(gkv);
    assert_int_equal(s3_options_from_config(cfg, &o, &eb), RC_OK);
    assert_string_equal(o.endpoint, "https://storage.googleapis.com");
    assert_string_equal(o.region, "auto");
    assert_string_equal(o.bucket, "gb");
    assert_string_equal(o.access_key, "GOOG1E");
    assert_string_equal(o.secret_key, "GSK");
    assert_true(o.path_style);
    assert_true(o.use_ssl);
    config_free(&cfg);

    /* local is not an S3 backend. */
    cfg = config_new();
    assert_int_equal(s3_options_from_config(cfg, &o, &eb), RC_INVALID);
    config_free(&cfg);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_REGION");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_find),
        cmocka_unit_test(test_xml_unescape),
        cmocka_unit_test(test_xml_escape),
        cmocka_unit_test(test_parse_list),
        cmocka_unit_test(test_parse_error),
        cmocka_unit_test(test_parse_delete_result),
        cmocka_unit_test(test_addressing),
        cmocka_unit_test(test_new_s3_validation),
        cmocka_unit_test(test_options_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
