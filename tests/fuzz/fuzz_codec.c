/*
 * tests/fuzz/fuzz_codec.c — libFuzzer target for codec/ (bounded body decoding).
 *
 * Input layout: byte 0 = options (bits 0-1 header encoding, bit 2 small
 * in-flight budget, bit 3 feed one byte at a time, bit 4 detach), bytes 1-2 =
 * where to split the body into three feed calls, the rest = the wire body.
 *
 * Checks, besides "no crash / no sanitizer report": the decoded body never
 * exceeds the cap, the decoder's peak memory stays within cap + state bound,
 * identity bodies come out byte for byte, sticky errors stay sticky, and no
 * in-flight reservation leaks.
 *
 * Seeds: tests/fuzz/corpus/codec/. Run:
 *   ./fuzz_codec -max_total_time=60 tests/fuzz/corpus/codec/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "fuzz_common.h"
#include "util/mem.h"

#define CAP_BYTES ((size_t)64 * 1024)

FUZZ_QUIET_LOGS

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    uint8_t opt = data[0];
    const uint8_t *body = data + 3;
    size_t len = size - 3;

    static const enum codec_encoding hdrs[4] = {CODEC_AUTO, CODEC_IDENTITY, CODEC_GZIP, CODEC_ZSTD};
    enum codec_encoding hdr = hdrs[opt & 3];
    /* A budget below zstd's context size makes every zstd body RC_BUSY;
     * 512 KiB lets small frames through and refuses big windows. */
    codec_inflight_configure((opt & 4) ? 512 * 1024 : 0);

    /* The header parser too, on a prefix of the body. */
    char hv[17];
    size_t hn = len < 16 ? len : 16;
    memcpy(hv, body, hn);
    hv[hn] = '\0';
    enum codec_encoding parsed;
    if (codec_encoding_from_header(hv, &parsed) == RC_OK)
        CHECK(parsed == CODEC_AUTO || parsed == CODEC_GZIP || parsed == CODEC_ZSTD);

    struct body_decoder *d = body_decoder_new(hdr, CAP_BYTES);
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = RC_OK;
    if ((opt & 8) && len <= 4096) {
        for (size_t i = 0; i < len && rc == RC_OK; i++)
            rc = body_decoder_feed(d, body + i, 1, &eb);
    } else {
        size_t p1 = (size_t)data[1] * len / 256;
        size_t p2 = p1 + (size_t)data[2] * (len - p1) / 256;
        rc = body_decoder_feed(d, body, p1, &eb);
        if (rc == RC_OK)
            rc = body_decoder_feed(d, body + p1, p2 - p1, &eb);
        if (rc == RC_OK)
            rc = body_decoder_feed(d, body + p2, len - p2, &eb);
    }
    if (rc == RC_OK)
        rc = body_decoder_finish(d, &eb);
    CHECK(rc == RC_OK || rc == RC_PARSE || rc == RC_LIMIT || rc == RC_BUSY);
    CHECK(body_decoder_wire_bytes(d) <= len);

    size_t out_len;
    const char *out = body_decoder_data(d, &out_len);
    CHECK(out != NULL && out[out_len] == '\0');
    CHECK(out_len <= CAP_BYTES);
    /* Output buffer <= cap + NUL; state <= zstd context + max window + blocks. */
    CHECK(body_decoder_peak_bytes(d) <=
          CAP_BYTES + 1 + ((size_t)1 << CODEC_ZSTD_WINDOW_LOG_MAX) + 2 * 1024 * 1024);

    if (rc == RC_OK) {
        enum codec_encoding enc = body_decoder_encoding(d);
        CHECK(enc == CODEC_IDENTITY || enc == CODEC_GZIP || enc == CODEC_ZSTD);
        if (enc == CODEC_IDENTITY)
            CHECK(out_len == len && memcmp(out, body, len) == 0);
        if (opt & 16) {
            size_t n;
            char *p = body_decoder_detach(d, &n);
            CHECK(p != NULL && n == out_len);
            xfree(p);
            codec_inflight_release(n);
        }
    } else {
        CHECK(out_len == 0); /* released at once */
        CHECK(eb.rc == rc);
        struct errbuf eb2;
        errbuf_clear(&eb2);
        CHECK(body_decoder_finish(d, &eb2) == rc);
        CHECK(strcmp(eb2.msg, eb.msg) == 0);
    }
    body_decoder_free(&d);
    CHECK(codec_inflight_bytes() == 0);
    codec_inflight_configure(0);
    return 0;
}
