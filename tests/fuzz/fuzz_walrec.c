/*
 * tests/fuzz/fuzz_walrec.c — libFuzzer target for the WAL record decoders
 * (src/wal/walrec.c): what replay reads back from disk.
 *
 * Input: bytes 0.. = one batch encoding (the body of a DATA record after its
 * LSN). Also runs the frame parser, the intent and flushed-marker decoders
 * on the same bytes.
 *
 * Checks, besides "no crash / no sanitizer report": a batch that decodes
 * re-encodes to bytes that decode to the same batch, and encoding is
 * deterministic (the re-encoding of the re-decoded batch is identical).
 *
 * Seeds: tests/fuzz/corpus/walrec/. Run:
 *   ./fuzz_walrec -max_total_time=60 tests/fuzz/corpus/walrec/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/batch.h"
#include "fuzz_common.h"
#include "util/mem.h"
#include "wal/wal_internal.h"

FUZZ_QUIET_LOGS

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wal_frame f;
    (void)wal__frame_parse(data, size, &f);
    struct walrec_intent in;
    if (walrec_intent_decode(data, size, &in) == RC_OK)
        xfree(in.lsns);
    uint64_t *lsns = NULL;
    size_t n = 0;
    if (walrec_flushed_decode(data, size, &lsns, &n) == RC_OK)
        xfree(lsns);

    struct batch *b = NULL;
    if (walrec_batch_decode(data, size, &b, NULL) != RC_OK) {
        CHECK(b == NULL);
        return 0;
    }
    struct wbuf w1 = {0}, w2 = {0};
    walrec_batch_encode(&w1, b);
    struct batch *b2 = NULL;
    CHECK(walrec_batch_decode(w1.p, w1.len, &b2, NULL) == RC_OK);
    CHECK(b2->nrows == b->nrows && b2->ncols == b->ncols);
    walrec_batch_encode(&w2, b2);
    CHECK(w1.len == w2.len && memcmp(w1.p, w2.p, w1.len) == 0);
    wal__wbuf_free(&w1);
    wal__wbuf_free(&w2);
    batch_unref(&b2);
    batch_unref(&b);
    return 0;
}
