/*
 * tests/fuzz/fuzz_lp.c — libFuzzer target for the line-protocol decoder.
 *
 * Input layout: byte 0 selects options, byte 1 the small line limit, the
 * rest is the body:
 *   byte0 & 0x07   precision (mod 6)
 *   byte0 & 0x18   line limit: 0x08 → 8 + byte1 % 64 bytes, 0x10 → none,
 *                  otherwise 1 MiB
 *   byte0 & 0x60   max_reported_errors 0..3
 *   byte0 & 0x80   schema checker stub on (columns starting with 'i' are
 *                  INT64, 'b' BOOLEAN; everything else is accepted)
 *
 * Checked invariants: accepted + rejected == received; the error list
 * holds min(rejected, max) entries with sane text; rows == sum of batch
 * rows; every batch is sealed, non-empty, has a valid measurement name and
 * valid column names, every column has nrows entries (no validity bit past
 * nrows, string slices inside the heap, valid UTF-8, finite doubles), time
 * inside years 0001..9999 and inside [min_time_us, max_time_us]; the summary
 * message is one line under 512 bytes; lines_received does not depend on
 * precision, error cap or schema (only on the body and the line limit).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/batch.h"
#include "ingest/lp.h"
#include "util/timeutil.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_lp: invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__);    \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int stub_check(void *ctx, const char *db, const char *measurement, const char *col,
                      size_t col_len, enum col_type type, enum col_type *existing)
{
    (void)ctx;
    CHECK(db && measurement && col && col_len > 0);
    CHECK(name_is_valid_measurement(measurement, strlen(measurement)));
    if (col[0] == 'i' && type != COL_INT64) {
        *existing = COL_INT64;
        return RC_INVALID;
    }
    if (col[0] == 'b' && type != COL_BOOL) {
        *existing = COL_BOOL;
        return RC_INVALID;
    }
    return RC_OK;
}

static int utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    int len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < (size_t)len)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

static int utf8_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        int l = utf8_len(u + i, n - i);
        if (!l)
            return 0;
        i += (size_t)l;
    }
    return 1;
}

static void check_batch(const struct batch *b, const char *db)
{
    CHECK(b->sealed);
    CHECK(b->nrows > 0);
    CHECK(strcmp(b->db, db) == 0);
    CHECK(name_is_valid_measurement(b->measurement, strlen(b->measurement)));
    for (size_t r = 0; r < b->nrows; r++) {
        CHECK(b->time_us[r] >= TIME_MIN_US && b->time_us[r] <= TIME_MAX_US);
        CHECK(b->time_us[r] >= b->min_time_us && b->time_us[r] <= b->max_time_us);
    }
    for (size_t c = 0; c < b->ncols; c++) {
        const struct batch_col *col = &b->cols[c];
        CHECK(col->name_len > 0 && col->name_len <= COLUMN_NAME_MAX);
        CHECK(strlen(col->name) <= col->name_len); /* NUL bytes allowed inside */
        CHECK(utf8_ok(col->name, col->name_len));
        CHECK(!(col->name_len == 4 && memcmp(col->name, "time", 4) == 0));
        CHECK(batch_col_find(b, col->name, col->name_len) == (int)c);
        CHECK(col_type_valid(col->type));
        /* No validity bit past nrows in the last bitmap byte. */
        for (size_t r = b->nrows; r < ((b->nrows + 7) & ~(size_t)7); r++)
            CHECK(!batch_is_valid(col, r));
        for (size_t r = 0; r < b->nrows; r++) {
            if (!batch_is_valid(col, r))
                continue;
            if (col->type == COL_STRING) {
                CHECK((size_t)col->v.s[r].off + col->v.s[r].len <= b->heap_len);
                if (col->v.s[r].len)
                    CHECK(utf8_ok(b->heap + col->v.s[r].off, col->v.s[r].len));
            } else if (col->type == COL_DOUBLE) {
                double d = col->v.f64[r];
                CHECK(d == d && d - d == 0); /* finite */
            } else if (col->type == COL_BOOL) {
                CHECK(col->v.b[r] <= 1);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t cfg = data[0];
    struct lp_options o;
    memset(&o, 0, sizeof(o));
    o.db = "fuzz";
    o.precision = (enum lp_precision)((cfg & 0x07) % 6);
    o.default_ts_us = INT64_C(1700000000000000);
    if (cfg & 0x08)
        o.max_line_bytes = 8 + data[1] % 64;
    else if (cfg & 0x10)
        o.max_line_bytes = 0;
    else
        o.max_line_bytes = 1 << 20;
    o.max_reported_errors = (size_t)((cfg >> 5) & 0x03);
    if (cfg & 0x80)
        o.schema.check = stub_check;

    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    struct lp_result r;
    CHECK(lp_parse(body, len, &o, &r) == RC_OK);

    CHECK(r.lines_accepted + r.lines_rejected == r.lines_received);
    size_t want_errors =
        r.lines_rejected < o.max_reported_errors ? r.lines_rejected : o.max_reported_errors;
    CHECK(r.nerrors == want_errors);
    size_t last_line = 0;
    for (size_t i = 0; i < r.nerrors; i++) {
        CHECK(r.errors[i].line > last_line); /* increasing, 1-based */
        last_line = r.errors[i].line;
        CHECK(strlen(r.errors[i].text) <= LP_TEXT_MAX);
        CHECK(r.errors[i].reason[0] != '\0');
    }
    CHECK(strlen(r.first_rejected) <= LP_SUMMARY_LINE_MAX);
    size_t rows = 0;
    for (size_t i = 0; i < r.nbatches; i++) {
        check_batch(r.batches[i], o.db);
        rows += r.batches[i]->nrows;
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(r.batches[i]->measurement, r.batches[j]->measurement) != 0);
    }
    CHECK(rows == r.rows);
    CHECK(rows <= r.lines_accepted);
    CHECK((r.lines_accepted == 0) == (r.nbatches == 0));

    char msg[1024];
    size_t n = lp_summary_message(&r, msg, sizeof(msg));
    CHECK(n == strlen(msg));
    if (r.lines_rejected) {
        CHECK(strncmp(msg, "partial write: unable to parse '", 32) == 0);
        CHECK(n < 512);
        for (size_t i = 0; i < n; i++)
            CHECK((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
    } else {
        CHECK(n == 0);
    }

    /* Record boundaries depend only on the body and the line limit. */
    struct lp_options o2 = o;
    o2.precision = LP_NS;
    o2.max_reported_errors = 1000;
    o2.schema.check = NULL;
    struct lp_result r2;
    CHECK(lp_parse(body, len, &o2, &r2) == RC_OK);
    CHECK(r2.lines_received == r.lines_received);
    lp_result_cleanup(&r2);

    lp_result_cleanup(&r);
    return 0;
}
