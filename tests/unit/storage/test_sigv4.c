/* Unit tests for storage/sigv4: AWS's published SigV4 test-suite vectors
 * (AKIDEXAMPLE, 20150830T123600Z, service "service"), the S3 documentation's
 * signing examples (AKIAIOSFODNN7EXAMPLE, examplebucket, 20130524T000000Z),
 * a table of requests signed by botocore (sigv4_botocore_vectors.h, made by
 * gen_sigv4_vectors.py), and the refusals (header injection, bad dates,
 * missing host, bad payload hashes). */
#include "test_helpers.h"

#include "storage/sigv4.h"
#include "util/strbuf.h"

/* ---- helpers -------------------------------------------------------------- */

#define SUITE_AK "AKIDEXAMPLE"
#define SUITE_SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define DOC_AK "AKIAIOSFODNN7EXAMPLE"
#define DOC_SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define DOC_DATE "20130524T000000Z"
#define DOC_HOST "examplebucket.s3.amazonaws.com"

/* Signs and returns the Authorization value (static buffer), failing the
 * test on error. dbg may be NULL. */
static const char *sign(const struct sigv4_request *req, const char *ak, const char *sk,
                        const char *date, const char *region, const char *service,
                        struct sigv4_debug *dbg)
{
    static char out[2048];
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct sigv4_credentials cred = {ak, sk};
    struct sigv4_scope scope = {date, region, service};
    struct errbuf eb = {0};
    int rc = sigv4_authorization(req, &cred, &scope, &sb, dbg, &eb);
    if (rc != RC_OK)
        fail_msg("sigv4_authorization: %s", eb.msg);
    snprintf(out, sizeof(out), "%s", sb.data);
    strbuf_cleanup(&sb);
    return out;
}

static const char *suite_sign(const struct sigv4_request *req, struct sigv4_debug *dbg)
{
    return sign(req, SUITE_AK, SUITE_SK, SUITE_DATE, "us-east-1", "service", dbg);
}

static const char *doc_sign(const struct sigv4_request *req, struct sigv4_debug *dbg)
{
    return sign(req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", "s3", dbg);
}

#define SUITE_AUTH(signed_headers, sig)                                                            \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "            \
    "SignedHeaders=" signed_headers ", Signature=" sig

#define DOC_AUTH(signed_headers, sig)                                                              \
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "        \
    "SignedHeaders=" signed_headers ", Signature=" sig

static const struct sigv4_kv suite_base_headers[] = {
    {"Host", "example.amazonaws.com"},
    {"X-Amz-Date", SUITE_DATE},
};

/* ---- AWS SigV4 test suite ------------------------------------------------- */

static void test_suite_get_vanilla(void **state)
{
    (void)state;
    struct sigv4_request req = {"GET", "/", NULL, 0, suite_base_headers, 2, SIGV4_EMPTY_SHA256};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(suite_sign(&req, &dbg),
                        SUITE_AUTH("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260"
                                                      "956d9b8aae1d763fbf31"));
    assert_string_equal(dbg.canonical_request.data,
                        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                        "host;x-amz-date\n" SIGV4_EMPTY_SHA256);
    assert_string_equal(
        dbg.string_to_sign.data,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    assert_string_equal(dbg.signed_headers.data, "host;x-amz-date");
    sigv4_debug_cleanup(&dbg);
}

static void test_suite_query_order_key_case(void **state)
{
    (void)state;
    const struct sigv4_kv q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    struct sigv4_request req = {"GET", "/", q, 2, suite_base_headers, 2, SIGV4_EMPTY_SHA256};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(suite_sign(&req, &dbg),
                        SUITE_AUTH("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b7992216"
                                                      "46efd99d3219ec94cdf2500"));
    assert_non_null(strstr(dbg.string_to_sign.data,
                           "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0"));
    assert_non_null(strstr(dbg.canonical_request.data, "\nParam1=value1&Param2=value2\n"));
    sigv4_debug_cleanup(&dbg);
}

static void test_suite_get_utf8(void **state)
{
    (void)state;
    struct sigv4_request req = {"GET", "/\xe1\x88\xb4",   NULL, 0, suite_base_headers,
                                2,     SIGV4_EMPTY_SHA256};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(suite_sign(&req, &dbg),
                        SUITE_AUTH("host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e6"
                                                      "78f255a891fd03141be5d85"));
    assert_memory_equal(dbg.canonical_request.data, "GET\n/%E1%88%B4\n\n", 16);
    assert_non_null(strstr(dbg.string_to_sign.data,
                           "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102"));
    sigv4_debug_cleanup(&dbg);
}

static void test_suite_get_unreserved(void **state)
{
    (void)state;
    struct sigv4_request req = {
        "GET",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        NULL,
        0,
        suite_base_headers,
        2,
        SIGV4_EMPTY_SHA256};
    assert_string_equal(suite_sign(&req, NULL),
                        SUITE_AUTH("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d40"
                                                      "4d0cfa977f52a65bbf5f24f"));
}

static void test_suite_post_vanilla(void **state)
{
    (void)state;
    struct sigv4_request req = {"POST", "/", NULL, 0, suite_base_headers, 2, SIGV4_EMPTY_SHA256};
    assert_string_equal(suite_sign(&req, NULL),
                        SUITE_AUTH("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862"
                                                      "966e37dddb68e92efbe5d6b"));
}

static void test_suite_post_form(void **state)
{
    (void)state;
    const char *body = "Param1=value1";
    char hash[65];
    sigv4_sha256_hex(body, strlen(body), hash);
    assert_string_equal(hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    const struct sigv4_kv h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", SUITE_DATE},
    };
    struct sigv4_request req = {"POST", "/", NULL, 0, h, 3, hash};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(
        suite_sign(&req, &dbg),
        SUITE_AUTH("content-type;host;x-amz-date",
                   "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"));
    assert_non_null(strstr(dbg.string_to_sign.data,
                           "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"));
    sigv4_debug_cleanup(&dbg);
}

static void test_suite_header_value_trim(void **state)
{
    (void)state;
    const struct sigv4_kv h[] = {
        {"Host", "example.amazonaws.com"},
        {"My-Header1", " value1"},
        {"My-Header2", " \"a   b   c\""},
        {"X-Amz-Date", SUITE_DATE},
    };
    struct sigv4_request req = {"GET", "/", NULL, 0, h, 4, SIGV4_EMPTY_SHA256};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(
        suite_sign(&req, &dbg),
        SUITE_AUTH("host;my-header1;my-header2;x-amz-date",
                   "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"));
    assert_non_null(
        strstr(dbg.canonical_request.data, "\nmy-header1:value1\nmy-header2:\"a b c\"\n"));
    sigv4_debug_cleanup(&dbg);
}

static void test_suite_header_key_duplicate(void **state)
{
    (void)state;
    /* Repeated names join in the order given, after sorting by name. */
    const struct sigv4_kv h[] = {
        {"Host", "example.amazonaws.com"}, {"My-Header1", "value2"},   {"My-Header1", "value2"},
        {"My-Header1", "value1"},          {"X-Amz-Date", SUITE_DATE},
    };
    struct sigv4_request req = {"GET", "/", NULL, 0, h, 5, SIGV4_EMPTY_SHA256};
    assert_string_equal(
        suite_sign(&req, NULL),
        SUITE_AUTH("host;my-header1;x-amz-date",
                   "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"));
}

static void test_suite_session_token(void **state)
{
    (void)state;
    const struct sigv4_kv h[] = {
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", SUITE_DATE},
        {"X-Amz-Security-Token",
         "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"},
    };
    struct sigv4_request req = {"GET", "/", NULL, 0, h, 3, SIGV4_EMPTY_SHA256};
    assert_string_equal(
        suite_sign(&req, NULL),
        SUITE_AUTH("host;x-amz-date;x-amz-security-token",
                   "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"));
}

/* ---- S3 documentation examples ------------------------------------------- */

static void test_s3_doc_get_range(void **state)
{
    (void)state;
    const struct sigv4_kv h[] = {
        {"Host", DOC_HOST},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
        {"x-amz-date", DOC_DATE},
    };
    struct sigv4_request req = {"GET", "/test.txt", NULL, 0, h, 4, SIGV4_EMPTY_SHA256};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(
        doc_sign(&req, &dbg),
        DOC_AUTH("host;range;x-amz-content-sha256;x-amz-date",
                 "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"));
    assert_string_equal(dbg.canonical_request.data,
                        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                        "x-amz-content-sha256:" SIGV4_EMPTY_SHA256
                        "\nx-amz-date:20130524T000000Z\n\n"
                        "host;range;x-amz-content-sha256;x-amz-date\n" SIGV4_EMPTY_SHA256);
    assert_string_equal(dbg.string_to_sign.data,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
                        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    sigv4_debug_cleanup(&dbg);
}

static void test_s3_doc_put_object(void **state)
{
    (void)state;
    const char *body = "Welcome to Amazon S3.";
    char hash[65];
    sigv4_sha256_hex(body, strlen(body), hash);
    assert_string_equal(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const struct sigv4_kv h[] = {
        {"Host", DOC_HOST},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"x-amz-date", DOC_DATE},
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"x-amz-content-sha256", hash},
    };
    /* '$' must be encoded in the path (%24). */
    struct sigv4_request req = {"PUT", "/test$file.text", NULL, 0, h, 5, hash};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(
        doc_sign(&req, &dbg),
        DOC_AUTH("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                 "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"));
    assert_memory_equal(dbg.canonical_request.data, "PUT\n/test%24file.text\n\n", 23);
    assert_non_null(strstr(dbg.string_to_sign.data,
                           "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"));
    sigv4_debug_cleanup(&dbg);
}

static void test_s3_doc_get_lifecycle(void **state)
{
    (void)state;
    const struct sigv4_kv h[] = {
        {"Host", DOC_HOST},
        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
        {"x-amz-date", DOC_DATE},
    };
    const struct sigv4_kv q[] = {{"lifecycle", NULL}};
    struct sigv4_request req = {"GET", "/", q, 1, h, 3, SIGV4_EMPTY_SHA256};
    struct sigv4_debug dbg;
    sigv4_debug_init(&dbg);
    assert_string_equal(
        doc_sign(&req, &dbg),
        DOC_AUTH("host;x-amz-content-sha256;x-amz-date",
                 "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"));
    assert_non_null(strstr(dbg.canonical_request.data, "GET\n/\nlifecycle=\n"));
    assert_non_null(strstr(dbg.string_to_sign.data,
                           "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"));
    sigv4_debug_cleanup(&dbg);
}

static void test_s3_doc_list_objects(void **state)
{
    (void)state;
    const struct sigv4_kv h[] = {
        {"Host", DOC_HOST},
        {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
        {"x-amz-date", DOC_DATE},
    };
    const struct sigv4_kv q[] = {{"prefix", "J"}, {"max-keys", "2"}};
    struct sigv4_request req = {"GET", "/", q, 2, h, 3, SIGV4_EMPTY_SHA256};
    assert_string_equal(
        doc_sign(&req, NULL),
        DOC_AUTH("host;x-amz-content-sha256;x-amz-date",
                 "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"));
}

/* ---- botocore cross-check ------------------------------------------------- */

struct boto_vector {
    const char *name, *method, *path;
    size_t nquery;
    struct sigv4_kv query[8];
    size_t nheaders;
    struct sigv4_kv headers[8];
    const char *payload_hash, *region, *amz_date, *expected;
};

#include "sigv4_botocore_vectors.h"

static void test_botocore_vectors(void **state)
{
    (void)state;
    size_t n = sizeof(boto_vectors) / sizeof(boto_vectors[0]);
    assert_true(n >= 15);
    for (size_t i = 0; i < n; i++) {
        const struct boto_vector *v = &boto_vectors[i];
        struct sigv4_request req = {v->method,  v->path,     v->query,       v->nquery,
                                    v->headers, v->nheaders, v->payload_hash};
        const char *got = sign(&req, BOTO_AK, BOTO_SK, v->amz_date, v->region, "s3", NULL);
        if (strcmp(got, v->expected) != 0)
            fail_msg("botocore vector %s:\n got  %s\n want %s", v->name, got, v->expected);
    }
}

/* ---- encoding, dates, hashing --------------------------------------------- */

static const char *enc(const char *s, bool encode_slash)
{
    static char out[512];
    struct strbuf sb;
    strbuf_init(&sb, 0);
    assert_int_equal(sigv4_uri_encode(&sb, s, strlen(s), encode_slash), RC_OK);
    snprintf(out, sizeof(out), "%s", sb.data ? sb.data : "");
    strbuf_cleanup(&sb);
    return out;
}

static void test_uri_encode(void **state)
{
    (void)state;
    assert_string_equal(enc("", false), "");
    assert_string_equal(enc("A-z_0.9~", true), "A-z_0.9~");
    assert_string_equal(enc("a b+c", false), "a%20b%2Bc");
    assert_string_equal(enc("a/b", false), "a/b");
    assert_string_equal(enc("a/b", true), "a%2Fb");
    assert_string_equal(enc("=&?#%", true), "%3D%26%3F%23%25");
    assert_string_equal(enc("!'()*", true), "%21%27%28%29%2A");
    assert_string_equal(enc("\xc3\xa9\xff\x01", true), "%C3%A9%FF%01");
}

static void test_amz_date(void **state)
{
    (void)state;
    char d[SIGV4_AMZ_DATE_LEN + 1];
    sigv4_amz_date(0, d);
    assert_string_equal(d, "19700101T000000Z");
    sigv4_amz_date(INT64_C(1369353600) * 1000000 + 999999, d); /* fraction dropped */
    assert_string_equal(d, "20130524T000000Z");
    sigv4_amz_date(INT64_C(951868799) * 1000000, d); /* 2000-02-29 23:59:59 */
    assert_string_equal(d, "20000229T235959Z");
}

static void test_sha256_hex(void **state)
{
    (void)state;
    char h[65];
    sigv4_sha256_hex("", 0, h);
    assert_string_equal(h, SIGV4_EMPTY_SHA256);
    sigv4_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- refusals and properties ---------------------------------------------- */

static int try_sign(const struct sigv4_request *req, const char *ak, const char *sk,
                    const char *date, const char *region, struct errbuf *eb)
{
    struct strbuf sb;
    strbuf_init(&sb, 0);
    struct sigv4_credentials cred = {ak, sk};
    struct sigv4_scope scope = {date, region, "s3"};
    int rc = sigv4_authorization(req, &cred, &scope, &sb, NULL, eb);
    strbuf_cleanup(&sb);
    return rc;
}

static void test_refusals(void **state)
{
    (void)state;
    struct errbuf eb;
    const struct sigv4_kv ok_h[] = {{"host", "h"}, {"x-amz-date", DOC_DATE}};
    struct sigv4_request req = {"GET", "/k", NULL, 0, ok_h, 2, SIGV4_EMPTY_SHA256};
    errbuf_clear(&eb);
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", &eb), RC_OK);

    /* Header injection through a value. */
    const struct sigv4_kv crlf[] = {{"host", "h"}, {"x-amz-meta-a", "v\r\nX-Evil: 1"}};
    struct sigv4_request r2 = {"GET", "/k", NULL, 0, crlf, 2, SIGV4_EMPTY_SHA256};
    errbuf_clear(&eb);
    assert_int_equal(try_sign(&r2, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", &eb), RC_INVALID);
    const struct sigv4_kv lf[] = {{"host", "h\n"}};
    struct sigv4_request r2b = {"GET", "/k", NULL, 0, lf, 1, SIGV4_EMPTY_SHA256};
    assert_int_equal(try_sign(&r2b, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    /* A header name that is not a token. */
    const struct sigv4_kv badname[] = {{"host", "h"}, {"x amz", "v"}};
    struct sigv4_request r3 = {"GET", "/k", NULL, 0, badname, 2, SIGV4_EMPTY_SHA256};
    assert_int_equal(try_sign(&r3, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    /* No host header. */
    const struct sigv4_kv nohost[] = {{"x-amz-date", DOC_DATE}};
    struct sigv4_request r4 = {"GET", "/k", NULL, 0, nohost, 1, SIGV4_EMPTY_SHA256};
    assert_int_equal(try_sign(&r4, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    /* Dates. */
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, "20130524T000000", "us-east-1", NULL),
                     RC_INVALID);
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, "2013-05-24T00:00", "us-east-1", NULL),
                     RC_INVALID);
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, NULL, "us-east-1", NULL), RC_INVALID);
    /* Payload hashes: upper-case hex, short, junk. */
    req.payload_hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    req.payload_hash = "abc";
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    req.payload_hash = NULL;
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    req.payload_hash = SIGV4_UNSIGNED_PAYLOAD;
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_OK);
    /* Credentials, scope and path. */
    assert_int_equal(try_sign(&req, DOC_AK, "", DOC_DATE, "us-east-1", NULL), RC_INVALID);
    assert_int_equal(try_sign(&req, "", DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    assert_int_equal(try_sign(&req, "AK/X", DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us/east", NULL), RC_INVALID);
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "", NULL), RC_INVALID);
    req.path = "k";
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
    req.path = "/k";
    const struct sigv4_kv emptyq[] = {{"", "v"}};
    req.query = emptyq;
    req.nquery = 1;
    assert_int_equal(try_sign(&req, DOC_AK, DOC_SK, DOC_DATE, "us-east-1", NULL), RC_INVALID);
}

static void test_properties(void **state)
{
    (void)state;
    const struct sigv4_kv h[] = {{"host", DOC_HOST}, {"x-amz-date", DOC_DATE}};
    struct sigv4_request req = {"PUT", "/k", NULL, 0, h, 2, SIGV4_EMPTY_SHA256};
    char a[1024], b[1024];
    snprintf(a, sizeof(a), "%s", doc_sign(&req, NULL));
    /* Deterministic. */
    assert_string_equal(doc_sign(&req, NULL), a);
    /* The secret never appears in the output. */
    assert_null(strstr(a, DOC_SK));
    assert_null(strstr(a, "wJalrXUtnFEMI"));
    /* One bit of the body hash, method, path or header changes the signature. */
    req.payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b854";
    snprintf(b, sizeof(b), "%s", doc_sign(&req, NULL));
    assert_string_not_equal(a, b);
    req.payload_hash = SIGV4_EMPTY_SHA256;
    req.method = "GET";
    assert_string_not_equal(doc_sign(&req, NULL), a);
    req.method = "PUT";
    req.path = "/K";
    assert_string_not_equal(doc_sign(&req, NULL), a);
    req.path = "/k";
    /* Header name case and order do not matter; value inner spacing neither. */
    const struct sigv4_kv h2[] = {{"X-AMZ-DATE", DOC_DATE}, {"HOST", "  " DOC_HOST "  "}};
    req.headers = h2;
    assert_string_equal(doc_sign(&req, NULL), a);
    /* A long request signs (no fixed-size buffers). */
    static char longpath[8192];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[0] = '/';
    req.path = longpath;
    assert_non_null(strstr(doc_sign(&req, NULL), "Signature="));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suite_get_vanilla),
        cmocka_unit_test(test_suite_query_order_key_case),
        cmocka_unit_test(test_suite_get_utf8),
        cmocka_unit_test(test_suite_get_unreserved),
        cmocka_unit_test(test_suite_post_vanilla),
        cmocka_unit_test(test_suite_post_form),
        cmocka_unit_test(test_suite_header_value_trim),
        cmocka_unit_test(test_suite_header_key_duplicate),
        cmocka_unit_test(test_suite_session_token),
        cmocka_unit_test(test_s3_doc_get_range),
        cmocka_unit_test(test_s3_doc_put_object),
        cmocka_unit_test(test_s3_doc_get_lifecycle),
        cmocka_unit_test(test_s3_doc_list_objects),
        cmocka_unit_test(test_botocore_vectors),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_amz_date),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
