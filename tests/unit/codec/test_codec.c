/*
 * Unit tests for codec/: header mapping, magic detection, streaming gzip /
 * zstd decoding fed in arbitrary pieces, multi-member / multi-frame bodies,
 * truncation and corruption, the exact size cap, decompression bombs (built
 * cheaply in memory, never expanded by the test itself) and the in-flight
 * budget. Every test checks that no in-flight reservation leaks.
 */
#include "test_helpers.h"

#include <pthread.h>
#include <time.h>

#include <zlib.h>
#include <zstd.h>

#include "codec/codec.h"
#include "util/log.h"
#include "util/mem.h"

#define MIB ((size_t)1024 * 1024)

/* --- helpers ------------------------------------------------------------- */

struct buf {
    unsigned char *p;
    size_t len;
};

static void buf_free(struct buf *b)
{
    xfree(b->p);
    b->p = NULL;
    b->len = 0;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: deterministic, good enough to pick piece sizes */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(2685821657736338717);
}

/* Line-protocol-like text of exactly n bytes (compressible, not trivially). */
static struct buf make_text(size_t n, uint64_t seed)
{
    struct buf b = {xmalloc(n + 1), n};
    size_t i = 0;
    while (i < n) {
        char line[128];
        int k = snprintf(line, sizeof(line), "cpu,host=h%u,region=r%u usage=%u.%u %llu\n",
                         (unsigned)(rng_next(&seed) % 50), (unsigned)(rng_next(&seed) % 4),
                         (unsigned)(rng_next(&seed) % 100), (unsigned)(rng_next(&seed) % 1000),
                         (unsigned long long)(1700000000000000000ULL + i));
        size_t take = (size_t)k < n - i ? (size_t)k : n - i;
        memcpy(b.p + i, line, take);
        i += take;
    }
    b.p[n] = 0;
    return b;
}

/* Incompressible bytes (deflate falls back to stored blocks). */
static struct buf make_random(size_t n, uint64_t seed)
{
    struct buf b = {xmalloc(n + 1), n};
    for (size_t i = 0; i < n; i++)
        b.p[i] = (unsigned char)(rng_next(&seed) >> 56);
    return b;
}

static struct buf gzip_of(const void *data, size_t n, int level)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    struct buf b = {xmalloc(cap), 0};
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)n;
    zs.next_out = b.p;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    b.len = cap - zs.avail_out;
    deflateEnd(&zs);
    return b;
}

static struct buf zstd_of(const void *data, size_t n, int level, bool checksum)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    assert_non_null(cc);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, checksum ? 1 : 0)));
    size_t cap = ZSTD_compressBound(n);
    struct buf b = {xmalloc(cap), 0};
    b.len = ZSTD_compress2(cc, b.p, cap, data, n);
    assert_false(ZSTD_isError(b.len));
    ZSTD_freeCCtx(cc);
    return b;
}

/* zstd frame written by the streaming API with the size unknown (no content
 * size in the header), like a client that compresses on the fly. */
static struct buf zstd_stream_of(const void *data, size_t n)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t cap = ZSTD_compressBound(n) + 1024;
    struct buf b = {xmalloc(cap), 0};
    ZSTD_outBuffer ob = {b.p, cap, 0};
    const unsigned char *p = data;
    size_t off = 0;
    while (off < n) {
        size_t k = n - off < 10000 ? n - off : 10000;
        ZSTD_inBuffer ib = {p + off, k, 0};
        while (ib.pos < ib.size)
            assert_false(ZSTD_isError(ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue)));
        off += k;
    }
    ZSTD_inBuffer empty = {NULL, 0, 0};
    size_t r;
    do {
        r = ZSTD_compressStream2(cc, &ob, &empty, ZSTD_e_end);
        assert_false(ZSTD_isError(r));
    } while (r != 0);
    b.len = ob.pos;
    ZSTD_freeCCtx(cc);
    assert_int_equal(ZSTD_getFrameContentSize(b.p, b.len), ZSTD_CONTENTSIZE_UNKNOWN);
    return b;
}

static struct buf concat(const struct buf *parts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += parts[i].len;
    struct buf b = {xmalloc(total + 1), total};
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(b.p + off, parts[i].p, parts[i].len);
        off += parts[i].len;
    }
    return b;
}

/* Feeds buf in random-sized pieces (a quarter of them 1 byte, else up to
 * max_piece). Stops at the first error and returns it. */
static int feed_pieces(struct body_decoder *d, const unsigned char *p, size_t n, uint64_t seed,
                       size_t max_piece, struct errbuf *eb)
{
    size_t off = 0;
    while (off < n) {
        uint64_t r = rng_next(&seed);
        size_t k = (r & 3) == 0 ? 1 : (size_t)((r >> 8) % max_piece) + 1;
        if (k > n - off)
            k = n - off;
        int rc = body_decoder_feed(d, p + off, k, eb);
        if (rc != RC_OK)
            return rc;
        off += k;
    }
    return RC_OK;
}

/* Decodes wire in pieces and checks the result equals expect. */
static void check_decodes(enum codec_encoding hdr, const struct buf *wire, const void *expect,
                          size_t expect_len, enum codec_encoding want_enc, uint64_t seed,
                          size_t max_piece)
{
    struct body_decoder *d = body_decoder_new(hdr, expect_len + 10);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(feed_pieces(d, wire->p, wire->len, seed, max_piece, &eb), RC_OK);
    assert_int_equal(body_decoder_finish(d, &eb), RC_OK);
    assert_string_equal(eb.msg, "");
    size_t len;
    const char *out = body_decoder_data(d, &len);
    assert_int_equal(len, expect_len);
    assert_memory_equal(out, expect, expect_len);
    assert_int_equal(out[len], '\0');
    assert_int_equal(body_decoder_encoding(d), want_enc);
    assert_int_equal(body_decoder_wire_bytes(d), wire->len);
    body_decoder_free(&d);
    assert_null(d);
}

/* Feeds all of wire, then finishes; returns the first non-OK code. */
static int decode_all(struct body_decoder *d, const void *wire, size_t n, struct errbuf *eb)
{
    int rc = body_decoder_feed(d, wire, n, eb);
    if (rc != RC_OK)
        return rc;
    return body_decoder_finish(d, eb);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One gzip member that expands to `mib` MiB of zeros, built without ever
 * deflating more than 1 MiB: a raw deflate of 1 MiB of zeros ended with
 * Z_FULL_FLUSH is a self-contained, byte-aligned, non-final run of blocks
 * that references nothing before it, so it can be repeated; an empty fixed
 * final block (03 00) and a trailer (CRC via crc32_combine) close it. */
static struct buf gzip_zeros_member(size_t mib)
{
    static const unsigned char zeros[1 << 20];
    static unsigned char blk[16384];
    static size_t blk_len;
    static uLong crc_1mib;
    if (!blk_len) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = (Bytef *)zeros;
        zs.avail_in = sizeof(zeros);
        zs.next_out = blk;
        zs.avail_out = sizeof(blk);
        assert_int_equal(deflate(&zs, Z_FULL_FLUSH), Z_OK);
        assert_int_equal(zs.avail_in, 0);
        assert_true(zs.avail_out > 0);
        blk_len = sizeof(blk) - zs.avail_out;
        deflateEnd(&zs);
        crc_1mib = crc32(0, zeros, sizeof(zeros));
    }
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    struct buf b = {xmalloc(sizeof(hdr) + blk_len * mib + 2 + 8), 0};
    memcpy(b.p, hdr, sizeof(hdr));
    b.len = sizeof(hdr);
    uLong crc = 0;
    for (size_t i = 0; i < mib; i++) {
        memcpy(b.p + b.len, blk, blk_len);
        b.len += blk_len;
        crc = i == 0 ? crc_1mib : crc32_combine(crc, crc_1mib, (z_off_t)sizeof(zeros));
    }
    b.p[b.len++] = 0x03;
    b.p[b.len++] = 0x00;
    uint32_t isize = (uint32_t)((uint64_t)mib * MIB);
    for (int i = 0; i < 4; i++)
        b.p[b.len++] = (unsigned char)(crc >> (8 * i));
    for (int i = 0; i < 4; i++)
        b.p[b.len++] = (unsigned char)(isize >> (8 * i));
    return b;
}

/* A hand-made zstd frame of `total` zero bytes as RLE blocks (4 wire bytes
 * per 128 KiB): no content size, window 2^window_log. */
static struct buf zstd_rle_frame(size_t total, unsigned window_log)
{
    size_t block_max = window_log >= 17 ? 128 * 1024 : (size_t)1 << window_log;
    size_t nblocks = total ? (total + block_max - 1) / block_max : 1;
    struct buf b = {xmalloc(6 + nblocks * 4), 0};
    const unsigned char magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    memcpy(b.p, magic, 4);
    b.len = 4;
    b.p[b.len++] = 0x00;                                    /* FHD: no FCS, no checksum, no dict */
    b.p[b.len++] = (unsigned char)((window_log - 10) << 3); /* window descriptor */
    if (total == 0) {
        uint32_t h = 1; /* last, raw, size 0 */
        for (int i = 0; i < 3; i++)
            b.p[b.len++] = (unsigned char)(h >> (8 * i));
        return b;
    }
    size_t left = total;
    while (left) {
        size_t sz = left < block_max ? left : block_max;
        left -= sz;
        uint32_t h = (uint32_t)(sz << 3) | (1u << 1) | (left == 0 ? 1u : 0u);
        for (int i = 0; i < 3; i++)
            b.p[b.len++] = (unsigned char)(h >> (8 * i));
        b.p[b.len++] = 0x00; /* the repeated byte */
    }
    return b;
}

static bool all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static int teardown(void **state)
{
    (void)state;
    /* No test may leak an in-flight reservation. */
    assert_int_equal(codec_inflight_bytes(), 0);
    codec_inflight_configure(0);
    return 0;
}

/* --- tests --------------------------------------------------------------- */

static void test_header_mapping(void **state)
{
    (void)state;
    struct {
        const char *v;
        enum codec_encoding e;
    } ok[] = {
        {NULL, CODEC_AUTO},           {"", CODEC_AUTO},     {"identity", CODEC_AUTO},
        {"  Identity\t", CODEC_AUTO}, {"gzip", CODEC_GZIP}, {"GZip", CODEC_GZIP},
        {" x-gzip ", CODEC_GZIP},     {"zstd", CODEC_ZSTD}, {"ZSTD  ", CODEC_ZSTD},
        {"   ", CODEC_AUTO},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        enum codec_encoding e = CODEC_IDENTITY;
        assert_int_equal(codec_encoding_from_header(ok[i].v, &e), RC_OK);
        assert_int_equal(e, ok[i].e);
    }
    struct codec_stats before, after;
    codec_stats_get(&before);
    const char *bad[] = {"br",       "deflate", "gzip, br", "gzip,identity",
                         "compress", "zst",     "gzipx",    "g zip"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum codec_encoding e = CODEC_ZSTD;
        assert_int_equal(codec_encoding_from_header(bad[i], &e), RC_UNSUPPORTED);
        assert_int_equal(e, CODEC_ZSTD); /* untouched */
    }
    codec_stats_get(&after);
    assert_int_equal(after.rejected_unsupported - before.rejected_unsupported,
                     sizeof(bad) / sizeof(bad[0]));
    assert_string_equal(codec_encoding_name(CODEC_ZSTD), "zstd");
}

static void test_identity_one_byte_at_a_time(void **state)
{
    (void)state;
    struct buf text = make_text(100000, 1);
    struct body_decoder *d = body_decoder_new(CODEC_AUTO, MIB);
    struct errbuf eb;
    errbuf_clear(&eb);
    for (size_t i = 0; i < text.len; i++)
        assert_int_equal(body_decoder_feed(d, text.p + i, 1, &eb), RC_OK);
    assert_int_equal(body_decoder_finish(d, &eb), RC_OK);
    assert_int_equal(body_decoder_finish(d, &eb), RC_OK); /* idempotent */
    size_t len;
    const char *out = body_decoder_data(d, &len);
    assert_int_equal(len, text.len);
    assert_memory_equal(out, text.p, text.len);
    assert_int_equal(body_decoder_encoding(d), CODEC_IDENTITY);
    assert_int_equal(body_decoder_wire_bytes(d), text.len);
    /* Geometric growth never went past the cap. */
    assert_true(body_decoder_peak_bytes(d) <= MIB + 1);
    /* Feeding after finish is a caller bug. */
    assert_int_equal(body_decoder_feed(d, "x", 1, NULL), RC_INVALID);
    body_decoder_free(&d);
    body_decoder_free(&d); /* NULL-safe */
    body_decoder_free(NULL);
    buf_free(&text);
}

static void test_identity_short_and_empty_bodies(void **state)
{
    (void)state;
    struct {
        const char *body;
        size_t len;
        enum codec_encoding hdr;
    } cases[] = {
        {"a", 1, CODEC_AUTO},
        {"\x1f", 1, CODEC_AUTO},             /* gzip prefix only: identity at end */
        {"\x1f\x8a", 2, CODEC_AUTO},         /* not the gzip magic */
        {"\x28\xb5\x2f", 3, CODEC_AUTO},     /* zstd prefix only */
        {"\x28\xb5\x2f\xfe", 4, CODEC_AUTO}, /* not the zstd magic */
        {"m v=1 1\n", 8, CODEC_AUTO},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct body_decoder *d = body_decoder_new(cases[i].hdr, 100);
        for (size_t k = 0; k < cases[i].len; k++)
            assert_int_equal(body_decoder_feed(d, cases[i].body + k, 1, NULL), RC_OK);
        assert_int_equal(body_decoder_finish(d, NULL), RC_OK);
        size_t len;
        const char *out = body_decoder_data(d, &len);
        assert_int_equal(len, cases[i].len);
        assert_memory_equal(out, cases[i].body, len);
        assert_int_equal(body_decoder_encoding(d), CODEC_IDENTITY);
        body_decoder_free(&d);
    }
    /* Empty body: empty output whatever the header said (caller says 400). */
    enum codec_encoding hdrs[] = {CODEC_AUTO, CODEC_GZIP, CODEC_ZSTD};
    for (size_t i = 0; i < 3; i++) {
        struct body_decoder *d = body_decoder_new(hdrs[i], 100);
        assert_int_equal(body_decoder_feed(d, NULL, 0, NULL), RC_OK);
        assert_int_equal(body_decoder_finish(d, NULL), RC_OK);
        size_t len = 99;
        assert_string_equal(body_decoder_data(d, &len), "");
        assert_int_equal(len, 0);
        char *p = body_decoder_detach(d, &len);
        assert_non_null(p);
        assert_int_equal(len, 0);
        assert_string_equal(p, "");
        xfree(p);
        body_decoder_free(&d);
    }
}

static void test_gzip_roundtrip_random_pieces(void **state)
{
    (void)state;
    struct buf text = make_text(3 * MIB + 12345, 2);
    struct buf gz = gzip_of(text.p, text.len, 6);
    assert_true(gz.len < text.len / 3);
    for (uint64_t seed = 1; seed <= 4; seed++) {
        check_decodes(CODEC_GZIP, &gz, text.p, text.len, CODEC_GZIP, seed, 70000);
        check_decodes(CODEC_AUTO, &gz, text.p, text.len, CODEC_GZIP, seed + 100, 5000);
    }
    /* Incompressible data (stored blocks), tiny pieces. */
    struct buf rnd = make_random(300000, 3);
    struct buf gz2 = gzip_of(rnd.p, rnd.len, 1);
    check_decodes(CODEC_AUTO, &gz2, rnd.p, rnd.len, CODEC_GZIP, 9, 7);
    buf_free(&gz2);
    buf_free(&rnd);
    buf_free(&gz);
    buf_free(&text);
}

static void test_zstd_roundtrip_random_pieces(void **state)
{
    (void)state;
    struct buf text = make_text(3 * MIB + 777, 4);
    struct buf zs = zstd_of(text.p, text.len, 3, false);
    struct buf zs_stream = zstd_stream_of(text.p, text.len);
    for (uint64_t seed = 1; seed <= 4; seed++) {
        check_decodes(CODEC_ZSTD, &zs, text.p, text.len, CODEC_ZSTD, seed, 70000);
        check_decodes(CODEC_AUTO, &zs_stream, text.p, text.len, CODEC_ZSTD, seed + 50, 3000);
    }
    struct buf rnd = make_random(300000, 5);
    struct buf zs2 = zstd_of(rnd.p, rnd.len, 1, true);
    check_decodes(CODEC_AUTO, &zs2, rnd.p, rnd.len, CODEC_ZSTD, 9, 7);
    buf_free(&zs2);
    buf_free(&rnd);
    buf_free(&zs_stream);
    buf_free(&zs);
    buf_free(&text);
}

static void test_header_magic_mismatch(void **state)
{
    (void)state;
    struct buf text = make_text(50000, 6);
    struct buf gz = gzip_of(text.p, text.len, 6);
    struct buf zs = zstd_of(text.p, text.len, 3, false);
    /* The magic wins over the header. */
    check_decodes(CODEC_ZSTD, &gz, text.p, text.len, CODEC_GZIP, 1, 3);
    check_decodes(CODEC_GZIP, &zs, text.p, text.len, CODEC_ZSTD, 2, 3);
    /* "identity"/absent header: magic still decides. */
    enum codec_encoding e;
    assert_int_equal(codec_encoding_from_header("identity", &e), RC_OK);
    check_decodes(e, &gz, text.p, text.len, CODEC_GZIP, 3, 1000);
    check_decodes(e, &zs, text.p, text.len, CODEC_ZSTD, 4, 1000);
    /* Header says compressed, body has no magic: decoded as the header says,
     * which fails as corrupt. */
    struct errbuf eb;
    enum codec_encoding hdrs[] = {CODEC_GZIP, CODEC_ZSTD};
    for (size_t i = 0; i < 2; i++) {
        errbuf_clear(&eb);
        struct body_decoder *d = body_decoder_new(hdrs[i], MIB);
        assert_int_equal(decode_all(d, text.p, text.len, &eb), RC_PARSE);
        assert_int_equal(body_decoder_encoding(d), hdrs[i]);
        assert_non_null(strstr(eb.msg, i == 0 ? "corrupt gzip data" : "corrupt zstd data"));
        body_decoder_free(&d);
    }
    buf_free(&zs);
    buf_free(&gz);
    buf_free(&text);
}

static void test_gzip_multi_member(void **state)
{
    (void)state;
    struct buf t[3] = {make_text(100000, 7), make_text(1, 8), make_text(400000, 9)};
    struct buf g[3] = {gzip_of(t[0].p, t[0].len, 6), gzip_of(t[1].p, t[1].len, 1),
                       gzip_of(t[2].p, t[2].len, 9)};
    struct buf all_text = concat(t, 3);
    struct buf wire = concat(g, 3);
    for (uint64_t seed = 1; seed <= 3; seed++)
        check_decodes(CODEC_AUTO, &wire, all_text.p, all_text.len, CODEC_GZIP, seed, 1000);
    /* An empty member in the middle is fine too. */
    struct buf empty_member = gzip_of("", 0, 6);
    struct buf parts[3] = {g[0], empty_member, g[2]};
    struct buf wire2 = concat(parts, 3);
    struct buf tparts[2] = {t[0], t[2]};
    struct buf text2 = concat(tparts, 2);
    check_decodes(CODEC_GZIP, &wire2, text2.p, text2.len, CODEC_GZIP, 5, 333);

    /* Trailing zero padding after the last member is tolerated... */
    struct buf padded = {xmalloc(wire.len + 100), wire.len + 100};
    memcpy(padded.p, wire.p, wire.len);
    memset(padded.p + wire.len, 0, 100);
    check_decodes(CODEC_AUTO, &padded, all_text.p, all_text.len, CODEC_GZIP, 6, 17);
    /* ...but anything else after it is corrupt, even after zeros. */
    struct errbuf eb;
    for (int variant = 0; variant < 3; variant++) {
        struct buf tail = {xmalloc(wire.len + 8), wire.len};
        memcpy(tail.p, wire.p, wire.len);
        if (variant == 0) {
            memcpy(tail.p + tail.len, "garbage!", 8);
            tail.len += 8;
        } else if (variant == 1) {
            memcpy(tail.p + tail.len, "\0\0\0x", 4);
            tail.len += 4;
        } else {
            /* A zlib (not gzip) stream after a member is not accepted. */
            tail.p[tail.len++] = 0x78;
            tail.p[tail.len++] = 0x9c;
            tail.p[tail.len++] = 0x03;
            tail.p[tail.len++] = 0x00;
        }
        errbuf_clear(&eb);
        struct body_decoder *d = body_decoder_new(CODEC_AUTO, 4 * MIB);
        assert_int_equal(feed_pieces(d, tail.p, tail.len, 7, 5000, &eb) == RC_OK
                             ? body_decoder_finish(d, &eb)
                             : eb.rc,
                         RC_PARSE);
        assert_non_null(strstr(eb.msg, "corrupt gzip data"));
        size_t len;
        body_decoder_data(d, &len);
        assert_int_equal(len, 0); /* released at once */
        body_decoder_free(&d);
        buf_free(&tail);
    }
    buf_free(&padded);
    buf_free(&text2);
    buf_free(&wire2);
    buf_free(&empty_member);
    buf_free(&wire);
    buf_free(&all_text);
    for (int i = 0; i < 3; i++) {
        buf_free(&t[i]);
        buf_free(&g[i]);
    }
}

static void test_zstd_concatenated_frames(void **state)
{
    (void)state;
    struct buf t[3] = {make_text(200000, 10), make_text(5, 11), make_text(300000, 12)};
    /* A skippable frame (magic 0x184D2A50, 4-byte size, payload) in the middle. */
    static const unsigned char skip[12] = {0x50, 0x2A, 0x4D, 0x18, 4, 0, 0, 0, 1, 2, 3, 4};
    struct buf z[4] = {zstd_of(t[0].p, t[0].len, 3, true),
                       {(unsigned char *)skip, sizeof(skip)},
                       zstd_stream_of(t[1].p, t[1].len),
                       zstd_of(t[2].p, t[2].len, 19, false)};
    struct buf wire = concat(z, 4);
    struct buf all_text = concat(t, 3);
    for (uint64_t seed = 1; seed <= 3; seed++)
        check_decodes(CODEC_AUTO, &wire, all_text.p, all_text.len, CODEC_ZSTD, seed, 1000);
    /* Garbage after the last frame is corrupt. */
    struct buf tail = {xmalloc(wire.len + 5), wire.len + 5};
    memcpy(tail.p, wire.p, wire.len);
    memcpy(tail.p + wire.len, "junk!", 5);
    struct errbuf eb;
    errbuf_clear(&eb);
    struct body_decoder *d = body_decoder_new(CODEC_ZSTD, 4 * MIB);
    assert_int_equal(decode_all(d, tail.p, tail.len, &eb), RC_PARSE);
    assert_non_null(strstr(eb.msg, "corrupt zstd data"));
    body_decoder_free(&d);
    buf_free(&tail);
    buf_free(&wire);
    buf_free(&all_text);
    for (int i = 0; i < 3; i++)
        buf_free(&t[i]);
    buf_free(&z[0]);
    buf_free(&z[2]);
    buf_free(&z[3]);
}

static void test_truncated(void **state)
{
    (void)state;
    struct buf text = make_text(3000, 13);
    struct buf gz = gzip_of(text.p, text.len, 6);
    struct buf zs = zstd_of(text.p, text.len, 3, true);
    struct buf *wires[2] = {&gz, &zs};
    enum codec_encoding hdrs[2] = {CODEC_GZIP, CODEC_ZSTD};
    struct errbuf eb;
    for (int w = 0; w < 2; w++) {
        /* Every proper prefix fails: at finish for most, never as success. */
        size_t at_finish = 0;
        for (size_t cut = 1; cut < wires[w]->len; cut++) {
            errbuf_clear(&eb);
            struct body_decoder *d = body_decoder_new(hdrs[w], MIB);
            int rc = body_decoder_feed(d, wires[w]->p, cut, &eb);
            if (rc == RC_OK) {
                rc = body_decoder_finish(d, &eb);
                at_finish++;
            }
            assert_int_equal(rc, RC_PARSE);
            body_decoder_free(&d);
        }
        assert_true(at_finish > wires[w]->len / 2);
        /* A cut in the middle, fed in pieces with AUTO: OK until finish. */
        errbuf_clear(&eb);
        struct body_decoder *d = body_decoder_new(CODEC_AUTO, MIB);
        assert_int_equal(feed_pieces(d, wires[w]->p, wires[w]->len / 2, 3, 50, &eb), RC_OK);
        assert_int_equal(body_decoder_finish(d, &eb), RC_PARSE);
        assert_string_equal(eb.msg, w == 0 ? "truncated gzip data: incomplete member"
                                           : "truncated zstd data: incomplete frame");
        /* Sticky. */
        struct errbuf eb2;
        errbuf_clear(&eb2);
        assert_int_equal(body_decoder_finish(d, &eb2), RC_PARSE);
        assert_string_equal(eb2.msg, eb.msg);
        size_t len;
        assert_null(body_decoder_detach(d, &len));
        assert_int_equal(len, 0);
        body_decoder_free(&d);
        /* Trailer cut off (gzip: only the last byte of ISIZE missing). */
        errbuf_clear(&eb);
        d = body_decoder_new(CODEC_AUTO, MIB);
        assert_int_equal(body_decoder_feed(d, wires[w]->p, wires[w]->len - 1, &eb), RC_OK);
        assert_int_equal(body_decoder_finish(d, &eb), RC_PARSE);
        body_decoder_free(&d);
    }
    buf_free(&zs);
    buf_free(&gz);
    buf_free(&text);
}

static void test_corrupt(void **state)
{
    (void)state;
    struct buf text = make_text(200000, 14);
    struct buf gz = gzip_of(text.p, text.len, 6);
    struct buf zs = zstd_of(text.p, text.len, 3, true);
    struct codec_stats before, after;
    codec_stats_get(&before);
    struct errbuf eb;
    size_t rejected = 0;
    for (int w = 0; w < 2; w++) {
        struct buf *src = w == 0 ? &gz : &zs;
        /* Flip one byte at several places past the magic (not gzip's MTIME,
         * XFL and OS bytes 4..9, which nobody checks). */
        size_t where[] = {w == 0 ? 3 : 4, w == 0 ? 10 : 9, 20,          src->len / 3,
                          src->len / 2,   src->len - 9,    src->len - 2};
        for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
            struct buf bad = {xmalloc(src->len), src->len};
            memcpy(bad.p, src->p, src->len);
            bad.p[where[i]] ^= 0x5a;
            errbuf_clear(&eb);
            struct body_decoder *d = body_decoder_new(CODEC_AUTO, MIB);
            int rc = feed_pieces(d, bad.p, bad.len, i, 4000, &eb);
            if (rc == RC_OK)
                rc = body_decoder_finish(d, &eb);
            assert_int_equal(rc, RC_PARSE);
            assert_int_equal(eb.rc, RC_PARSE);
            rejected++;
            /* Sticky with the same message; memory already released. */
            struct errbuf eb2;
            errbuf_clear(&eb2);
            assert_int_equal(body_decoder_feed(d, "x", 1, &eb2), RC_PARSE);
            assert_string_equal(eb2.msg, eb.msg);
            size_t len;
            body_decoder_data(d, &len);
            assert_int_equal(len, 0);
            body_decoder_free(&d);
            buf_free(&bad);
        }
    }
    /* zstd frame header asking for a 2 GiB window: refused before allocating. */
    struct buf huge = zstd_rle_frame(1000, 31);
    errbuf_clear(&eb);
    struct body_decoder *d = body_decoder_new(CODEC_AUTO, MIB);
    assert_int_equal(decode_all(d, huge.p, huge.len, &eb), RC_PARSE);
    assert_string_equal(eb.msg, "zstd frame needs a window larger than 128 MiB");
    assert_true(body_decoder_peak_bytes(d) < MIB);
    rejected++;
    body_decoder_free(&d);
    buf_free(&huge);
    codec_stats_get(&after);
    assert_int_equal(after.rejected_corrupt - before.rejected_corrupt, rejected);
    buf_free(&zs);
    buf_free(&gz);
    buf_free(&text);
}

/* Exactly `cap` decoded bytes pass, cap + 1 fail with RC_LIMIT, for every
 * encoding, several caps (including chunk multiples and 0) and piece sizes. */
static void test_limit_exact(void **state)
{
    (void)state;
    size_t caps[] = {0, 1, 1000, CODEC_CHUNK_BYTES, 2 * CODEC_CHUNK_BYTES + 1, MIB};
    struct codec_stats before, after;
    codec_stats_get(&before);
    size_t limited = 0;
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
        size_t cap = caps[c];
        struct buf text = make_text(cap + 1, 15 + c);
        for (int enc = 0; enc < 3; enc++) {
            for (int over = 0; over <= 1; over++) {
                size_t n = cap + (size_t)over;
                struct buf wire;
                if (enc == 0) {
                    wire.p = xmalloc(n + 1);
                    memcpy(wire.p, text.p, n);
                    wire.len = n;
                } else if (enc == 1) {
                    wire = gzip_of(text.p, n, 6);
                } else {
                    wire = zstd_of(text.p, n, 3, false);
                }
                enum codec_encoding hdr = enc == 0   ? CODEC_AUTO
                                          : enc == 1 ? CODEC_GZIP
                                                     : CODEC_ZSTD;
                for (int pieces = 0; pieces <= 1; pieces++) {
                    struct errbuf eb;
                    errbuf_clear(&eb);
                    struct body_decoder *d = body_decoder_new(hdr, cap);
                    int rc = pieces ? feed_pieces(d, wire.p, wire.len, c + 1, 9000, &eb)
                                    : body_decoder_feed(d, wire.p, wire.len, &eb);
                    if (rc == RC_OK)
                        rc = body_decoder_finish(d, &eb);
                    size_t len;
                    const char *out = body_decoder_data(d, &len);
                    if (!over || n == 0) {
                        assert_int_equal(rc, RC_OK);
                        assert_int_equal(len, n);
                        assert_memory_equal(out, text.p, n);
                    } else {
                        assert_int_equal(rc, RC_LIMIT);
                        limited++;
                        assert_int_equal(len, 0);
                        assert_true(body_decoder_peak_bytes(d) <=
                                    cap + 1 + CODEC_CHUNK_BYTES + (enc == 2 ? MIB : 0));
                        if (cap == MIB)
                            assert_string_equal(eb.msg, enc == 0
                                                            ? "request body larger than 1 MB"
                                                            : "decompressed body larger than 1 MB");
                        if (cap == 1000)
                            assert_string_equal(
                                eb.msg, enc == 0 ? "request body larger than 0.000953674 MB"
                                                 : "decompressed body larger than 0.000953674 MB");
                        /* Released at once: nothing reserved before free. */
                        assert_int_equal(codec_inflight_bytes(), 0);
                        struct errbuf eb2;
                        errbuf_clear(&eb2);
                        assert_int_equal(body_decoder_finish(d, &eb2), RC_LIMIT);
                        assert_string_equal(eb2.msg, eb.msg);
                    }
                    body_decoder_free(&d);
                }
                buf_free(&wire);
            }
        }
        buf_free(&text);
    }
    codec_stats_get(&after);
    assert_int_equal(after.rejected_too_large - before.rejected_too_large, limited);
    assert_int_equal(limited, 6 * 3 * 2); /* every cap x encoding x feeding mode */
}

static void test_gzip_bomb(void **state)
{
    (void)state;
    /* The generator is right: a small instance decodes to exact zeros
     * (zlib verifies the CRC and length we wrote). */
    struct buf small = gzip_zeros_member(3);
    struct body_decoder *d = body_decoder_new(CODEC_AUTO, 3 * MIB);
    assert_int_equal(decode_all(d, small.p, small.len, NULL), RC_OK);
    size_t len;
    const char *out = body_decoder_data(d, &len);
    assert_int_equal(len, 3 * MIB);
    assert_true(all_zero(out, len));
    body_decoder_free(&d);
    buf_free(&small);

    /* 1 GiB of zeros in about 1 MiB of gzip, against a 16 MiB cap. */
    struct buf bomb = gzip_zeros_member(1024);
    assert_true(bomb.len < 2 * MIB);
    const size_t cap = 16 * MIB;
    for (int mode = 0; mode < 2; mode++) {
        struct errbuf eb;
        errbuf_clear(&eb);
        double t0 = now_s();
        d = body_decoder_new(CODEC_GZIP, cap);
        int rc = mode == 0 ? body_decoder_feed(d, bomb.p, bomb.len, &eb) /* one call */
                           : feed_pieces(d, bomb.p, bomb.len, 42, 64 * 1024, &eb);
        double dt = now_s() - t0;
        assert_int_equal(rc, RC_LIMIT);
        assert_string_equal(eb.msg, "decompressed body larger than 16 MB");
        assert_true(dt < 2.0);
        /* Output buffer never passed cap (+NUL); plus zlib state < one chunk. */
        size_t peak = body_decoder_peak_bytes(d);
        assert_true(peak > cap);
        assert_true(peak <= cap + CODEC_CHUNK_BYTES);
        if (mode == 1) /* stopped after ~16 KiB of the ~1 MiB body */
            assert_true(body_decoder_wire_bytes(d) < bomb.len / 8);
        assert_int_equal(codec_inflight_bytes(), 0);
        body_decoder_free(&d);
    }
    buf_free(&bomb);
}

static void test_zstd_bomb(void **state)
{
    (void)state;
    /* Generator check: 3 MiB + 5 of zeros, window 2^20. */
    struct buf small = zstd_rle_frame(3 * MIB + 5, 20);
    struct body_decoder *d = body_decoder_new(CODEC_AUTO, 4 * MIB);
    assert_int_equal(decode_all(d, small.p, small.len, NULL), RC_OK);
    size_t len;
    const char *out = body_decoder_data(d, &len);
    assert_int_equal(len, 3 * MIB + 5);
    assert_true(all_zero(out, len));
    body_decoder_free(&d);
    buf_free(&small);

    /* 1 GiB of zeros in 32 KiB; two window sizes. */
    const size_t cap = 16 * MIB;
    unsigned logs[2] = {17, 23};
    for (int i = 0; i < 2; i++) {
        struct buf bomb = zstd_rle_frame((size_t)1 << 30, logs[i]);
        for (int mode = 0; mode < 2; mode++) {
            struct errbuf eb;
            errbuf_clear(&eb);
            double t0 = now_s();
            d = body_decoder_new(CODEC_AUTO, cap);
            int rc = mode == 0 ? body_decoder_feed(d, bomb.p, bomb.len, &eb)
                               : feed_pieces(d, bomb.p, bomb.len, 7, 4096, &eb);
            double dt = now_s() - t0;
            assert_int_equal(rc, RC_LIMIT);
            assert_string_equal(eb.msg, "decompressed body larger than 16 MB");
            assert_true(dt < 2.0);
            size_t peak = body_decoder_peak_bytes(d);
            assert_true(peak > cap);
            /* cap + NUL + zstd state (context + window of 2^log + a block) */
            assert_true(peak <= cap + ((size_t)1 << logs[i]) + MIB);
            print_message("zstd bomb window 2^%u: peak %zu bytes over cap\n", logs[i], peak - cap);
            assert_int_equal(codec_inflight_bytes(), 0);
            body_decoder_free(&d);
        }
        buf_free(&bomb);
    }
}

static void test_multi_member_bomb(void **state)
{
    (void)state;
    struct buf m = gzip_zeros_member(8);
    struct buf parts[5] = {m, m, m, m, m};
    const size_t cap = 32 * MIB;
    /* 4 x 8 MiB == the cap exactly: accepted, fully decoded. */
    struct buf four = concat(parts, 4);
    struct body_decoder *d = body_decoder_new(CODEC_AUTO, cap);
    assert_int_equal(feed_pieces(d, four.p, four.len, 3, 3000, NULL), RC_OK);
    assert_int_equal(body_decoder_finish(d, NULL), RC_OK);
    size_t len;
    const char *out = body_decoder_data(d, &len);
    assert_int_equal(len, cap);
    assert_true(all_zero(out, len));
    assert_true(body_decoder_peak_bytes(d) <= cap + CODEC_CHUNK_BYTES);
    /* Detach hands over exactly len reserved bytes. */
    char *body = body_decoder_detach(d, &len);
    assert_int_equal(len, cap);
    assert_int_equal(codec_inflight_bytes(), cap);
    body_decoder_free(&d);
    assert_int_equal(codec_inflight_bytes(), cap);
    xfree(body);
    codec_inflight_release(len);
    buf_free(&four);

    /* 5 x 8 MiB against 32 MiB: refused in the fifth member. */
    struct buf five = concat(parts, 5);
    struct errbuf eb;
    errbuf_clear(&eb);
    double t0 = now_s();
    d = body_decoder_new(CODEC_GZIP, cap);
    assert_int_equal(body_decoder_feed(d, five.p, five.len, &eb), RC_LIMIT);
    assert_true(now_s() - t0 < 3.0);
    assert_string_equal(eb.msg, "decompressed body larger than 32 MB");
    assert_true(body_decoder_peak_bytes(d) <= cap + CODEC_CHUNK_BYTES);
    assert_int_equal(codec_inflight_bytes(), 0);
    body_decoder_free(&d);
    buf_free(&five);
    buf_free(&m);
}

static void test_inflight_budget(void **state)
{
    (void)state;
    struct codec_stats before, after;
    codec_stats_get(&before);
    /* Raw API. */
    codec_inflight_configure(100);
    assert_true(codec_inflight_reserve(60));
    assert_false(codec_inflight_reserve(41));
    assert_true(codec_inflight_reserve(40));
    assert_int_equal(codec_inflight_bytes(), 100);
    assert_false(codec_inflight_reserve(1));
    codec_inflight_release(100);
    assert_int_equal(codec_inflight_bytes(), 0);

    /* Two identity bodies of 700 KiB do not fit in 1 MiB together. */
    codec_inflight_configure(MIB);
    struct buf text = make_text(700 * 1024, 16);
    struct body_decoder *a = body_decoder_new(CODEC_AUTO, 10 * MIB);
    struct body_decoder *b = body_decoder_new(CODEC_AUTO, 10 * MIB);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(body_decoder_feed(a, text.p, text.len, &eb), RC_OK);
    size_t held_a = codec_inflight_bytes();
    assert_true(held_a >= text.len && held_a <= text.len + 1);
    assert_int_equal(body_decoder_feed(b, text.p, text.len, &eb), RC_BUSY);
    assert_string_equal(eb.msg, "server busy: too many in-flight request bytes");
    assert_int_equal(codec_inflight_bytes(), held_a);
    assert_int_equal(body_decoder_finish(b, NULL), RC_BUSY); /* sticky */
    body_decoder_free(&b);
    body_decoder_free(&a);
    assert_int_equal(codec_inflight_bytes(), 0);

    /* Released: a new body fits again; detach moves the reservation. */
    struct body_decoder *c = body_decoder_new(CODEC_AUTO, 10 * MIB);
    assert_int_equal(feed_pieces(c, text.p, text.len, 5, 10000, NULL), RC_OK);
    assert_int_equal(body_decoder_finish(c, NULL), RC_OK);
    size_t len;
    char *body = body_decoder_detach(c, &len);
    assert_int_equal(len, text.len);
    assert_memory_equal(body, text.p, len);
    assert_int_equal(body[len], '\0');
    assert_int_equal(codec_inflight_bytes(), len);
    size_t len2 = 99;
    char *again = body_decoder_detach(c, &len2); /* the decoder is now empty */
    assert_int_equal(len2, 0);
    assert_string_equal(again, "");
    xfree(again);
    body_decoder_free(&c);
    xfree(body);
    codec_inflight_release(text.len);
    assert_int_equal(codec_inflight_bytes(), 0);

    /* Decoder state counts too: a budget too small for zlib's / zstd's state
     * gives RC_BUSY before any output. */
    struct buf gz = gzip_of(text.p, text.len, 6);
    struct buf zs = zstd_of(text.p, text.len, 3, false);
    codec_inflight_configure(4096);
    struct buf *w[2] = {&gz, &zs};
    for (int i = 0; i < 2; i++) {
        errbuf_clear(&eb);
        struct body_decoder *d = body_decoder_new(CODEC_AUTO, 10 * MIB);
        assert_int_equal(body_decoder_feed(d, w[i]->p, w[i]->len, &eb), RC_BUSY);
        assert_string_equal(eb.msg, "server busy: too many in-flight request bytes");
        assert_int_equal(codec_inflight_bytes(), 0);
        body_decoder_free(&d);
    }
    /* Budget fits the state but not all the output: RC_BUSY mid-stream,
     * everything released. */
    codec_inflight_configure(300 * 1024 + 200 * 1024);
    double t0 = now_s();
    for (int i = 0; i < 2; i++) {
        errbuf_clear(&eb);
        struct body_decoder *d = body_decoder_new(CODEC_AUTO, 10 * MIB);
        assert_int_equal(feed_pieces(d, w[i]->p, w[i]->len, 8, 2000, &eb), RC_BUSY);
        assert_true(body_decoder_wire_bytes(d) > 4);
        assert_int_equal(codec_inflight_bytes(), 0);
        body_decoder_free(&d);
    }
    /* Growth near the budget goes by chunks, not bytes (was quadratic once). */
    assert_true(now_s() - t0 < 3.0);
    codec_inflight_configure(0);
    codec_stats_get(&after);
    assert_int_equal(after.rejected_busy - before.rejected_busy, 5);
    assert_int_equal(after.inflight_max_bytes, 0);
    buf_free(&zs);
    buf_free(&gz);
    buf_free(&text);
}

/* Reservations from several threads never pass the budget and balance out. */
static void *hammer(void *arg)
{
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    size_t over = 0;
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rng_next(&seed) % 400) + 1;
        if (codec_inflight_reserve(n)) {
            if (codec_inflight_bytes() > 1000)
                over++;
            codec_inflight_release(n);
        }
    }
    return (void *)(uintptr_t)over;
}

static void test_inflight_threads(void **state)
{
    (void)state;
    codec_inflight_configure(1000);
    pthread_t th[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++) {
        void *over;
        assert_int_equal(pthread_join(th[i], &over), 0);
        assert_int_equal((uintptr_t)over, 0);
    }
    assert_int_equal(codec_inflight_bytes(), 0);
}

int main(int argc, char **argv)
{
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, 0);
    if (argc > 1) /* optional test-name pattern, e.g. "*bomb*" */
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_header_mapping, teardown),
        cmocka_unit_test_teardown(test_identity_one_byte_at_a_time, teardown),
        cmocka_unit_test_teardown(test_identity_short_and_empty_bodies, teardown),
        cmocka_unit_test_teardown(test_gzip_roundtrip_random_pieces, teardown),
        cmocka_unit_test_teardown(test_zstd_roundtrip_random_pieces, teardown),
        cmocka_unit_test_teardown(test_header_magic_mismatch, teardown),
        cmocka_unit_test_teardown(test_gzip_multi_member, teardown),
        cmocka_unit_test_teardown(test_zstd_concatenated_frames, teardown),
        cmocka_unit_test_teardown(test_truncated, teardown),
        cmocka_unit_test_teardown(test_corrupt, teardown),
        cmocka_unit_test_teardown(test_limit_exact, teardown),
        cmocka_unit_test_teardown(test_gzip_bomb, teardown),
        cmocka_unit_test_teardown(test_zstd_bomb, teardown),
        cmocka_unit_test_teardown(test_multi_member_bomb, teardown),
        cmocka_unit_test_teardown(test_inflight_budget, teardown),
        cmocka_unit_test_teardown(test_inflight_threads, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
