/*
 * tests/fuzz/fuzz_msgpack.c — libFuzzer target for ingest/msgpack.
 *
 * Feeds arbitrary bytes to mpdec_decode and checks, on success, that every
 * batch is consistent (sealed, rows > 0, column names distinct and findable,
 * types valid, tag columns are strings, string slices inside the heap,
 * timestamps in range and within min/max, row totals add up) and, on
 * failure, that the result is empty and an error message was set. ASan and
 * LeakSanitizer catch overreads and leaks. A fake schema checker derives an
 * "existing" type from the column name, so conflict, widening and retype
 * paths run too. Seeds: tests/fuzz/corpus/msgpack/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ingest/batch.h"
#include "ingest/msgpack.h"
#include "util/timeutil.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

/* Columns whose name starts with 'd', 'i', 'u', 's', 'b' already "exist" as
 * DOUBLE, INT64, UINT64, STRING, BOOL; anything else is new. */
static int fake_check(void *ctx, const char *db, const char *meas, const char *col, size_t len,
                      enum col_type type, enum col_type *existing)
{
    (void)ctx;
    (void)db;
    (void)meas;
    enum col_type have;
    switch (len ? col[0] : 0) {
    case 'd': have = COL_DOUBLE; break;
    case 'i': have = COL_INT64; break;
    case 'u': have = COL_UINT64; break;
    case 's': have = COL_STRING; break;
    case 'b': have = COL_BOOL; break;
    default: return RC_OK;
    }
    if (have == type)
        return RC_OK;
    *existing = have;
    return RC_INVALID;
}

static void check_batch(const struct batch *b)
{
    CHECK(b->sealed);
    CHECK(b->nrows > 0);
    CHECK(strcmp(b->db, "fuzz") == 0);
    CHECK(name_is_valid_measurement(b->measurement, strlen(b->measurement)));
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t r = 0; r < b->nrows; r++) {
        int64_t t = b->time_us[r];
        CHECK(t >= TIME_MIN_US && t <= TIME_MAX_US);
        if (t < lo)
            lo = t;
        if (t > hi)
            hi = t;
    }
    CHECK(lo == b->min_time_us && hi == b->max_time_us);
    for (size_t i = 0; i < b->ncols; i++) {
        const struct batch_col *c = &b->cols[i];
        CHECK(col_type_valid((int)c->type));
        CHECK(c->name_len > 0 && c->name_len <= COLUMN_NAME_MAX);
        CHECK(strlen(c->name) == c->name_len);
        CHECK(strcmp(c->name, "time") != 0);
        CHECK(batch_col_find(b, c->name, c->name_len) == (int)i);
        CHECK(!c->is_tag || c->type == COL_STRING);
        for (size_t r = 0; r < b->nrows; r++) {
            if (!batch_is_valid(c, r))
                continue;
            if (c->type == COL_STRING) {
                size_t n;
                const char *s = batch_str(b, c, r, &n);
                CHECK(s >= b->heap && (size_t)(s - b->heap) + n <= b->heap_len);
            } else if (c->type == COL_BOOL) {
                CHECK(c->v.b[r] <= 1);
            }
        }
        /* No validity bit beyond the last row. */
        if (b->nrows % 8)
            CHECK((c->valid[b->nrows / 8] >> (b->nrows % 8)) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mpdec_options o;
    memset(&o, 0, sizeof(o));
    o.db = "fuzz";
    o.default_ts_us = INT64_C(1736950000000000);
    o.forced_unit = (int)(size % 5); /* cover inference and every forced unit */
    o.max_mem_bytes = (size_t)64 << 20;
    if (size % 3 == 0) {
        o.schema.check = fake_check;
    }

    struct mpdec_result r;
    struct errbuf eb;
    errbuf_clear(&eb);
    int rc = mpdec_decode((const char *)data, size, &o, &r, &eb);
    if (rc == RC_OK) {
        size_t rows = 0;
        for (size_t i = 0; i < r.nbatches; i++) {
            check_batch(r.batches[i]);
            rows += r.batches[i]->nrows;
            for (size_t j = 0; j < i; j++)
                CHECK(strcmp(r.batches[i]->measurement, r.batches[j]->measurement) != 0);
        }
        CHECK(rows == r.rows);
    } else {
        CHECK(r.batches == NULL && r.nbatches == 0);
        CHECK(eb.msg[0] != '\0');
    }
    mpdec_result_cleanup(&r);
    return 0;
}
