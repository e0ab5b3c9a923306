/*
 * tests/unit/query/test_arrow.c — the Arrow IPC stream writer
 * (query/encode_arrow.c).
 *
 * Two independent checks of every stream:
 *   1. a framing walk here in C: continuation markers, 8-byte aligned
 *      metadata and bodies, message types, body lengths, buffer offsets
 *      inside the body, the end-of-stream marker last;
 *   2. the npm `apache-arrow` reader (tests/arrow/read-arrow.js) decodes
 *      the stream and the printed schema and rows are compared exactly.
 *      Skipped with a message when node or tests/arrow/node_modules is
 *      missing (npm install --prefix tests/arrow).
 */
#include "test_helpers.h"

#include <limits.h>
#include <unistd.h>

#include "encode_helpers.h"
#include "util/strbuf.h"

static char g_root[PATH_MAX]; /* repository root */
static char g_tmpdir[64];
static bool g_have_node;

static int arrow_setup(void **state)
{
    if (setup(state))
        return -1;
    /* __FILE__ is <root>/tests/unit/query/test_arrow.c */
    snprintf(g_root, sizeof(g_root), "%s", __FILE__);
    for (int i = 0; i < 4; i++) {
        char *slash = strrchr(g_root, '/');
        if (slash)
            *slash = '\0';
    }
    snprintf(g_tmpdir, sizeof(g_tmpdir), "/tmp/arc-arrow-XXXXXX");
    if (!mkdtemp(g_tmpdir))
        return -1;
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof(probe), "%s/tests/arrow/node_modules/apache-arrow/package.json", g_root);
    g_have_node = access(probe, R_OK) == 0 && system("node --version >/dev/null 2>&1") == 0;
    if (!g_have_node)
        fprintf(stderr, "test_arrow: node or apache-arrow missing; reader checks skipped "
                        "(run: npm install --prefix tests/arrow)\n");
    return 0;
}

static int arrow_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_tmpdir);
    return teardown(state);
}

/* ---- framing walk ------------------------------------------------------- */

static uint32_t rd_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int64_t rd_i64(const uint8_t *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Address of field `id` of the flatbuffer table at t, or NULL if absent. */
static const uint8_t *fb_field(const uint8_t *t, int id)
{
    int32_t soff;
    memcpy(&soff, t, 4);
    const uint8_t *vt = t - soff;
    uint16_t vsize, off;
    memcpy(&vsize, vt, 2);
    if (4 + 2 * id >= vsize)
        return NULL;
    memcpy(&off, vt + 4 + 2 * id, 2);
    return off ? t + off : NULL;
}

static const uint8_t *fb_deref(const uint8_t *p)
{
    return p + rd_u32(p);
}

struct walk {
    int schemas, batches;
    int64_t rows;
    int nfields;
};

/* Checks the whole stream; fails the test on any violation. */
static void walk_stream(const uint8_t *s, size_t len, struct walk *w)
{
    memset(w, 0, sizeof(*w));
    size_t pos = 0;
    bool eos = false;
    while (pos < len) {
        assert_true(pos % 8 == 0);
        assert_true(pos + 8 <= len);
        assert_int_equal(rd_u32(s + pos), 0xFFFFFFFFu);
        uint32_t mlen = rd_u32(s + pos + 4);
        if (mlen == 0) {
            eos = true;
            pos += 8;
            break;
        }
        assert_int_equal(mlen % 8, 0);
        assert_true(pos + 8 + mlen <= len);
        const uint8_t *fbuf = s + pos + 8;
        const uint8_t *msg = fb_deref(fbuf);
        const uint8_t *ver = fb_field(msg, 0);
        assert_non_null(ver);
        assert_int_equal(ver[0], 4); /* MetadataVersion V5 */
        const uint8_t *htype = fb_field(msg, 1);
        assert_non_null(htype);
        const uint8_t *hdr = fb_deref(fb_field(msg, 2));
        const uint8_t *bl = fb_field(msg, 3);
        int64_t body_len = bl ? rd_i64(bl) : 0;
        assert_int_equal(body_len % 8, 0);
        if (htype[0] == 1) {
            assert_int_equal(w->schemas, 0);
            assert_int_equal(w->batches, 0);
            assert_int_equal(body_len, 0);
            const uint8_t *fields = fb_field(hdr, 1);
            w->nfields = fields ? (int)rd_u32(fb_deref(fields)) : 0;
            w->schemas++;
        } else {
            assert_int_equal(htype[0], 3); /* RecordBatch */
            assert_int_equal(w->schemas, 1);
            int64_t length = rd_i64(fb_field(hdr, 0));
            assert_true(length > 0);
            w->rows += length;
            const uint8_t *bufs = fb_deref(fb_field(hdr, 2));
            uint32_t nbufs = rd_u32(bufs);
            for (uint32_t i = 0; i < nbufs; i++) {
                int64_t off = rd_i64(bufs + 4 + 16 * i), blen = rd_i64(bufs + 4 + 16 * i + 8);
                assert_int_equal(off % 8, 0);
                assert_true(off >= 0 && blen >= 0 && off + blen <= body_len);
            }
            w->batches++;
        }
        pos += 8 + mlen + (size_t)body_len;
    }
    assert_true(eos);
    assert_int_equal(pos, len);
    assert_int_equal(w->schemas, 1);
}

/* ---- node reader -------------------------------------------------------- */

/* Writes the stream to a file and returns read-arrow.js's stdout (xfree),
 * or NULL when node is unavailable. */
static char *node_read(const uint8_t *s, size_t len, const char *name)
{
    if (!g_have_node)
        return NULL;
    char path[256];
    snprintf(path, sizeof(path), "%s/%s.arrows", g_tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(s, 1, len, f), len);
    fclose(f);
    char cmd[PATH_MAX + 512];
    snprintf(cmd, sizeof(cmd), "node %s/tests/arrow/read-arrow.js %s", g_root, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    struct strbuf sb;
    strbuf_init(&sb, 0);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        assert_int_equal(strbuf_append(&sb, buf, n), RC_OK);
    int status = pclose(p);
    if (status != 0)
        fail_msg("read-arrow.js failed (status %d) on %s", status, path);
    if (sb.len && sb.data[sb.len - 1] == '\n')
        sb.data[--sb.len] = '\0';
    return strbuf_detach(&sb, NULL);
}

/* Encodes sql as Arrow, walks it, and (if node is there) compares the
 * reader's output with want_json (NULL: only walk). Returns the walk. */
static struct walk check_arrow(const char *name, const char *sql, const char *want_json)
{
    struct encoded enc;
    struct errbuf eb = {0};
    int rc = encode_sql(QENC_ARROW, sql, 0, &enc, &eb);
    if (rc)
        fail_msg("encode %s: %s", name, eb.msg);
    struct walk w;
    walk_stream((const uint8_t *)enc.data, enc.len, &w);
    assert_int_equal(w.rows, (int64_t)enc.rows);
    char *got = node_read((const uint8_t *)enc.data, enc.len, name);
    if (got && want_json)
        assert_string_equal(got, want_json);
    xfree(got);
    xfree(enc.data);
    return w;
}

#define F(name, type) "{\"name\":\"" name "\",\"type\":\"" type "\",\"nullable\":true}"

static void test_scalars(void **state)
{
    (void)state;
    struct walk w = check_arrow(
        "scalars",
        "SELECT (-128)::TINYINT a, 18446744073709551615::UBIGINT b, "
        "(-170141183460469231731687303715884105727::HUGEINT - 1) c, "
        "340282366920938463463374607431768211455::UHUGEINT d, -0.05::DECIMAL(4,2) e, 'x\"y' f, "
        "'hello'::BLOB g, TIMESTAMP '2020-01-01 01:02:03.1' h, "
        "TIMESTAMPTZ '1969-12-31 23:59:59.999999+00' i, "
        "'2020-01-01 00:00:00.123456789'::TIMESTAMP_NS j, '2020-01-01 00:00:00.5'::TIMESTAMP_MS k, "
        "'2020-01-01 00:00:01'::TIMESTAMP_S l, DATE '9999-12-31' m, TIME '01:02:03.5' n, "
        "INTERVAL '1 year 2 months 3 days 04:05:06.789' o, 'b'::ENUM('a','b') u, NULL v, "
        "'101'::BIT w, true x, 1.5::FLOAT y, 0.1::DOUBLE y2, TIMETZ '01:02:03+02' z, "
        "'x'::UNION(a int, b varchar) aa, '-12345678901234567890'::BIGNUM bb, "
        "'00000000-0000-0000-0000-000000000001'::UUID uu, 32767::SMALLINT s16, "
        "4294967295::UINTEGER u32, 123456789012.345678::DECIMAL(18,6) dec18",
        "{\"fields\":[" F("a", "Int8") "," F(
            "b", "Uint64") "," F("c", "Decimal[38e0]") "," F("d",
                                                             "Utf8") "," F("e",
                                                                           "Float64") "," F("f", "U"
                                                                                                 "t"
                                                                                                 "f"
                                                                                                 "8") "," F("g", "Binary") "," F("h", "Timestamp<MICROSECOND>") "," F("i", "Timestamp<MICROSECOND, UTC>") "," F("j", "Timestamp<NANOSECOND>") "," F("k", "Timestamp<MILLISECOND>") "," F("l", "Timestamp<SECOND>") "," F("m",
                                                                                                                                                                                                                                                                                                                         "Date32<DAY>") "," F("n",
                                                                                                                                                                                                                                                                                                                                              "Time64<MICROSECOND>") "," F("o", "Utf8") "," F("u", "Utf8") "," F("v", "Int32") "," F("w", "Utf8") "," F("x",
                                                                                                                                                                                                                                                                                                                                                                                                                                                        "Bool") "," F("y",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                      "Float32") "," F("y2", "Float64") "," F("z", "Utf8") "," F("aa", "Utf8") "," F("bb",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                     "Utf8") "," F("uu",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                   "Utf8") "," F("s16",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "Int16") "," F("u32", "Uint32") "," F("dec18",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                       "Float64") "],\"batches\":1,\"rows\":[[-128,\"18446744073709551615\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "\"-170141183460469231731687303715884105728\",\"340282366920938463463374607431768211455\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "-0.05,\"x\\\"y\",\"aGVsbG8=\",{\"raw\":\"1577840523100000\",\"unit\":\"MICROSECOND\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "\"tz\":null},{\"raw\":\"-1\",\"unit\":\"MICROSECOND\",\"tz\":\"UTC\"},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "{\"raw\":\"1577836800123456789\",\"unit\":\"NANOSECOND\",\"tz\":null},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "{\"raw\":\"1577836800500\",\"unit\":\"MILLISECOND\",\"tz\":null},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "{\"raw\":\"1577836801\",\"unit\":\"SECOND\",\"tz\":null},253402214400000,"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "{\"raw\":\"3723500000\",\"unit\":\"MICROSECOND\",\"tz\":null},"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "\"1 year 2 months 3 days 04:05:06.789\",\"b\",null,\"101\",true,1.5,0.1,\"01:02:03+02\","
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "\"x\",\"-12345678901234567890\",\"00000000-0000-0000-0000-000000000001\",32767,"
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                  "4294967295,123456789012.34567]]}");
    assert_int_equal(w.nfields, 28);
    assert_int_equal(w.batches, 1);
}

static void test_nulls(void **state)
{
    (void)state;
    check_arrow(
        "nulls",
        "SELECT * FROM (VALUES (1::BIGINT, 'a', 1.5::DECIMAL(3,1), true, "
        "TIMESTAMPTZ '2025-01-15 14:03:07+00', 'x'::BLOB, INTERVAL '1 day', 'e'::ENUM('e'), "
        "[1], {'k': 1}), (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)) "
        "t(i, s, d, b, t, bl, iv, en, l, st)",
        "{\"fields\":[" F("i", "Int64") "," F("s", "Utf8") "," F("d", "Float64") "," F("b", "Bool") "," F("t", "Timestamp<MICROSECOND, UTC>") "," F(
            "bl",
            "Binary") "," F("iv",
                            "Utf8") "," F("en",
                                          "Utf8") ","
                                                  "{\"name\":\"l\",\"type\":\"List<Int32>\","
                                                  "\"nullable\":true,\"children\":[" F(
                                                      "l",
                                                      "Int32") "]},"
                                                               "{\"name\":\"st\",\"type\":\"Struct<"
                                                               "{k:Int32}>\",\"nullable\":true,"
                                                               "\"children\":[" F(
                                                                   "k",
                                                                   "Int32") "]}],\"batches\":1,"
                                                                            "\"rows\":["
                                                                            "[\"1\",\"a\",1.5,true,"
                                                                            "{\"raw\":"
                                                                            "\"1736949787000000\","
                                                                            "\"unit\":"
                                                                            "\"MICROSECOND\","
                                                                            "\"tz\":\"UTC\"},\"eA=="
                                                                            "\",\"1 "
                                                                            "day\",\"e\",[1],{"
                                                                            "\"k\":1}],"
                                                                            "[null,null,null,null,"
                                                                            "null,null,null,null,"
                                                                            "null,null]]}");
}

static void test_empty_result(void **state)
{
    (void)state;
    struct walk w = check_arrow(
        "empty", "SELECT 1::INTEGER AS a, 'x' AS b WHERE false",
        "{\"fields\":[" F("a", "Int32") "," F("b", "Utf8") "],\"batches\":0,\"rows\":[]}");
    assert_int_equal(w.batches, 0);
    assert_int_equal(w.nfields, 2);

    /* No columns at all: a schema without fields, then end of stream. */
    struct qenc_options o = {.format = QENC_ARROW};
    struct qenc *e;
    struct errbuf eb = {0};
    assert_int_equal(qenc_new(&o, &e, &eb), RC_OK);
    assert_int_equal(qenc_begin(e, 0, NULL, NULL, &eb), RC_OK);
    assert_int_equal(qenc_end(e, &eb), RC_OK);
    struct strbuf *out = qenc_output(e);
    walk_stream((const uint8_t *)out->data, out->len, &w);
    assert_int_equal(w.nfields, 0);
    char *got = node_read((const uint8_t *)out->data, out->len, "nocols");
    if (got)
        assert_string_equal(got, "{\"fields\":[],\"batches\":0,\"rows\":[]}");
    xfree(got);
    /* The last 8 bytes are the end-of-stream marker. */
    assert_memory_equal(out->data + out->len - 8, "\xff\xff\xff\xff\0\0\0\0", 8);
    qenc_free(&e);
}

/* 5000 rows: three record batches (2048 + 2048 + 904), nulls sprinkled,
 * strings of varying length, values checked across batch boundaries. */
static void test_multiple_batches(void **state)
{
    (void)state;
    struct encoded enc;
    struct errbuf eb = {0};
    assert_int_equal(
        encode_sql(
            QENC_ARROW,
            "SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE repeat('s', (i % 5)::INT) END AS s, "
            "CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END AS b, "
            "(i / 4)::DECIMAL(10,2) AS d FROM range(0, 5000) t(i)",
            0, &enc, &eb),
        RC_OK);
    struct walk w;
    walk_stream((const uint8_t *)enc.data, enc.len, &w);
    assert_int_equal(w.batches, 3);
    assert_int_equal(w.rows, 5000);
    char *got = node_read((const uint8_t *)enc.data, enc.len, "multi");
    if (got) {
        assert_non_null(strstr(got, "\"batches\":3,\"rows\":[[\"0\",null,null,0],"
                                    "[\"1\",\"s\",false,0.25],[\"2\",\"ss\",true,0.5],"));
        assert_non_null(strstr(got, "[\"2047\",\"ss\",false,511.75],[\"2048\",\"sss\",true,512],"));
        assert_non_null(strstr(got, "[\"4095\",null,null,1023.75],[\"4096\",\"s\",true,1024],"));
        assert_non_null(strstr(got, "[\"4999\",\"ssss\",false,1249.75]]}"));
    }
    xfree(got);
    xfree(enc.data);
}

static void test_nested(void **state)
{
    (void)state;
    check_arrow(
        "nested",
        "SELECT * FROM (VALUES "
        "([1, NULL, 3], [{'t': 1.5::DECIMAL(3,1), 'e': 'b'::ENUM('a','b')}], MAP {'k': 1, 'z': "
        "NULL}, "
        "[1, 2]::INT[2], {'l': ['x', NULL], 'n': {'q': true}}, [INTERVAL '1 hour'], MAP {1: "
        "'one'}),"
        "(NULL, [], MAP {}, NULL, NULL, NULL, NULL), "
        "([], [NULL, {'t': NULL, 'e': NULL}], NULL, [NULL, 4]::INT[2], {'l': [], 'n': NULL}, [], "
        "MAP {})) t(l, ls, m, a, st, li, mi)",
        "{\"fields\":["
        "{\"name\":\"l\",\"type\":\"List<Int32>\",\"nullable\":true,\"children\":[" F(
            "l",
            "Int32") "]},"
                     "{\"name\":\"ls\",\"type\":\"List<Struct<{t:Float64, "
                     "e:Utf8}>>\",\"nullable\":true,"
                     "\"children\":[{\"name\":\"l\",\"type\":\"Struct<{t:Float64, "
                     "e:Utf8}>\",\"nullable\":true,"
                     "\"children\":[" F("t", "Float64") "," F(
                         "e",
                         "Utf8") "]}]},"
                                 "{\"name\":\"m\",\"type\":\"Map<{key:Utf8, "
                                 "value:Int32}>\",\"nullable\":true,\"children\":["
                                 "{\"name\":\"entries\",\"type\":\"Struct<{key:Utf8, "
                                 "value:Int32}>\",\"nullable\":false,"
                                 "\"children\":[{\"name\":\"key\",\"type\":\"Utf8\",\"nullable\":"
                                 "false}," F(
                                     "value",
                                     "Int32") "]}]},"
                                              "{\"name\":\"a\",\"type\":\"FixedSizeList[2]<Int32>"
                                              "\",\"nullable\":true,\"children\":[" F(
                                                  "",
                                                  "Int32") "]},"
                                                           "{\"name\":\"st\",\"type\":\"Struct<{l:"
                                                           "List<Utf8>, "
                                                           "n:Struct<{q:Bool}>}>\",\"nullable\":"
                                                           "true,"
                                                           "\"children\":[{\"name\":\"l\",\"type\":"
                                                           "\"List<Utf8>\",\"nullable\":true,"
                                                           "\"children\":[" F(
                                                               "l",
                                                               "Utf8") "]},{\"name\":\"n\","
                                                                       "\"type\":\"Struct<{q:Bool}>"
                                                                       "\",\"nullable\":true,"
                                                                       "\"children\":[" F(
                                                                           "q",
                                                                           "Boo"
                                                                           "l") "]}]}," F("li",
                                                                                          "Utf8") ","
                                                                                                  "{\"name\":"
                                                                                                  "\"mi\","
                                                                                                  "\"type\":\"Map<"
                                                                                                  "{key:Int32, "
                                                                                                  "value:Utf8}>\","
                                                                                                  "\"nullable\":"
                                                                                                  "true,"
                                                                                                  "\"children\":["
                                                                                                  "{\"name\":"
                                                                                                  "\"entries\","
                                                                                                  "\"type\":"
                                                                                                  "\"Struct<{key:"
                                                                                                  "Int32, "
                                                                                                  "value:Utf8}>\","
                                                                                                  "\"nullable\":"
                                                                                                  "false,"
                                                                                                  "\"children\":[{"
                                                                                                  "\"name\":"
                                                                                                  "\"key\","
                                                                                                  "\"type\":"
                                                                                                  "\"Int32\","
                                                                                                  "\"nullable\":"
                                                                                                  "false}," F(
                                                                                                      "value",
                                                                                                      "Utf8") "]}]"
                                                                                                              "}],"
                                                                                                              "\"b"
                                                                                                              "atc"
                                                                                                              "hes"
                                                                                                              "\":"
                                                                                                              "1,"
                                                                                                              "\"r"
                                                                                                              "ows"
                                                                                                              "\":"
                                                                                                              "["
                                                                                                              "[["
                                                                                                              "1,"
                                                                                                              "nul"
                                                                                                              "l,"
                                                                                                              "3],"
                                                                                                              "[{"
                                                                                                              "\"t"
                                                                                                              "\":"
                                                                                                              "1."
                                                                                                              "5,"
                                                                                                              "\"e"
                                                                                                              "\":"
                                                                                                              "\"b"
                                                                                                              "\"}"
                                                                                                              "],["
                                                                                                              "[\""
                                                                                                              "k\""
                                                                                                              ",1]"
                                                                                                              ",["
                                                                                                              "\"z"
                                                                                                              "\","
                                                                                                              "nul"
                                                                                                              "l]]"
                                                                                                              ",["
                                                                                                              "1,"
                                                                                                              "2],"
                                                                                                              "{\""
                                                                                                              "l\""
                                                                                                              ":["
                                                                                                              "\"x"
                                                                                                              "\","
                                                                                                              "nul"
                                                                                                              "l],"
                                                                                                              "\"n"
                                                                                                              "\":"
                                                                                                              "{\""
                                                                                                              "q\""
                                                                                                              ":tr"
                                                                                                              "ue}"
                                                                                                              "},"
                                                                                                              "\"["
                                                                                                              "\\"
                                                                                                              "\"0"
                                                                                                              "1:"
                                                                                                              "00:"
                                                                                                              "00"
                                                                                                              "\\"
                                                                                                              "\"]"
                                                                                                              "\","
                                                                                                              "[["
                                                                                                              "1,"
                                                                                                              "\"o"
                                                                                                              "ne"
                                                                                                              "\"]"
                                                                                                              "]],"
                                                                                                              "[nu"
                                                                                                              "ll,"
                                                                                                              "[],"
                                                                                                              "[],"
                                                                                                              "nul"
                                                                                                              "l,"
                                                                                                              "nul"
                                                                                                              "l,"
                                                                                                              "nul"
                                                                                                              "l,"
                                                                                                              "nul"
                                                                                                              "l],"
                                                                                                              "[[]"
                                                                                                              ",["
                                                                                                              "nul"
                                                                                                              "l,{"
                                                                                                              "\"t"
                                                                                                              "\":"
                                                                                                              "nul"
                                                                                                              "l,"
                                                                                                              "\"e"
                                                                                                              "\":"
                                                                                                              "nul"
                                                                                                              "l}]"
                                                                                                              ",nu"
                                                                                                              "ll,"
                                                                                                              "[nu"
                                                                                                              "ll,"
                                                                                                              "4],"
                                                                                                              "{\""
                                                                                                              "l\""
                                                                                                              ":[]"
                                                                                                              ",\""
                                                                                                              "n\""
                                                                                                              ":nu"
                                                                                                              "ll}"
                                                                                                              ",\""
                                                                                                              "[]"
                                                                                                              "\","
                                                                                                              "[]]"
                                                                                                              "]"
                                                                                                              "}");
}

/* TIMESTAMPTZ is tagged UTC whatever DuckDB's TimeZone setting is. */
static void test_timestamptz_utc(void **state)
{
    (void)state;
    assert_int_equal(duckdb_query(g_conn, "SET TimeZone = 'America/New_York'", NULL),
                     DuckDBSuccess);
    check_arrow(
        "tz",
        "SELECT TIMESTAMPTZ '2025-01-15 14:03:07.5+00' AS time, "
        "[TIMESTAMPTZ '1970-01-01 00:00:00+00'] AS lt",
        "{\"fields\":[" F(
            "time",
            "Timestamp<MICROSECOND, UTC>") ","
                                           "{\"name\":\"lt\",\"type\":\"List<Timestamp<MICROSECOND,"
                                           " UTC>>\",\"nullable\":true,"
                                           "\"children\":[" F(
                                               "l",
                                               "Timestamp<MICROSECOND, UTC>") "]}],\"batches\":1,"
                                                                              "\"rows\":["
                                                                              "[{\"raw\":"
                                                                              "\"1736949787500000\""
                                                                              ",\"unit\":"
                                                                              "\"MICROSECOND\","
                                                                              "\"tz\":\"UTC\"},"
                                                                              "[{\"raw\":\"0\","
                                                                              "\"unit\":"
                                                                              "\"MICROSECOND\","
                                                                              "\"tz\":\"UTC\"}]]]"
                                                                              "}");
    assert_int_equal(duckdb_query(g_conn, "SET TimeZone = 'UTC'", NULL), DuckDBSuccess);
}

/* A sliced chunk (DuckDB's LIMIT/OFFSET produce offset vectors internally,
 * exported flat) and a wide string column stay readable. */
static void test_strings_offsets(void **state)
{
    (void)state;
    struct walk w = check_arrow(
        "strings", "SELECT s FROM (VALUES (''), ('a'), (NULL), ('ü€😀'), (repeat('z', 20))) t(s)",
        "{\"fields\":[" F("s", "Utf8") "],\"batches\":1,\"rows\":[[\"\"],[\"a\"],[null],"
                                       "[\"ü€😀\"],[\"zzzzzzzzzzzzzzzzzzzz\"]]}");
    assert_int_equal(w.rows, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),         cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_empty_result),    cmocka_unit_test(test_multiple_batches),
        cmocka_unit_test(test_nested),          cmocka_unit_test(test_timestamptz_utc),
        cmocka_unit_test(test_strings_offsets),
    };
    return cmocka_run_group_tests(tests, arrow_setup, arrow_teardown);
}
