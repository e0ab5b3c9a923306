/*
 * tests/unit/wal/test_walrec.c — the WAL's on-disk format: CRC-32C, record
 * framing, batch encoding of every column type, intent/flushed bodies,
 * segment names and headers, and the start-up scan on torn, corrupt and
 * truncated segments (every byte offset of the last record).
 */
#include "test_helpers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/batch.h"
#include "util/mem.h"
#include "util/timeutil.h"
#include "wal/wal_internal.h"

/* ---- helpers ------------------------------------------------------------------ */

static char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/arc-walrec-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A batch with every column type, some nulls, tags, empty and binary
 * strings. */
static struct batch *sample_batch(size_t nrows, unsigned seed)
{
    struct batch *b = batch_new("db_1", "cpu-load");
    int c_host = batch_col_get(b, "host", 4, COL_STRING, true, NULL);
    int c_f = batch_col_get(b, "usage", 5, COL_DOUBLE, false, NULL);
    int c_i = batch_col_get(b, "count", 5, COL_INT64, false, NULL);
    int c_u = batch_col_get(b, "bytes", 5, COL_UINT64, false, NULL);
    int c_b = batch_col_get(b, "ok", 2, COL_BOOL, false, NULL);
    int c_s = batch_col_get(b, "msg with space", 14, COL_STRING, false, NULL);
    int c_null = batch_col_get(b, "never", 5, COL_INT64, false, NULL);
    (void)c_null;
    for (size_t r = 0; r < nrows; r++) {
        size_t row = batch_row_add(b, INT64_C(1736950000000000) + (int64_t)(r * 1000) + seed);
        char host[32];
        int hl = snprintf(host, sizeof(host), "h%zu", (r + seed) % 7);
        batch_set_str(b, c_host, row, host, (size_t)hl);
        if (r % 3 != 1)
            batch_set_f64(b, c_f, row, (double)r * 1.25 - 3.5);
        if (r % 5 != 0)
            batch_set_i64(b, c_i, row, (int64_t)r * -1000003 + seed);
        batch_set_u64(b, c_u, row, UINT64_MAX - r);
        if (r % 2)
            batch_set_bool(b, c_b, row, r % 4 == 1);
        if (r % 4 == 0)
            batch_set_str(b, c_s, row, "", 0);
        else if (r % 4 == 1)
            batch_set_str(b, c_s, row, "a\0b\"\n", 5);
    }
    batch_seal(b);
    return b;
}

static void assert_batches_equal(const struct batch *a, const struct batch *b)
{
    assert_string_equal(a->db, b->db);
    assert_string_equal(a->measurement, b->measurement);
    assert_int_equal(a->nrows, b->nrows);
    assert_int_equal(a->ncols, b->ncols);
    assert_true(b->sealed);
    for (size_t r = 0; r < a->nrows; r++)
        assert_int_equal(a->time_us[r], b->time_us[r]);
    for (size_t i = 0; i < a->ncols; i++) {
        const struct batch_col *x = &a->cols[i];
        int j = batch_col_find(b, x->name, x->name_len);
        assert_true(j >= 0);
        const struct batch_col *y = &b->cols[j];
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->is_tag, y->is_tag);
        for (size_t r = 0; r < a->nrows; r++) {
            assert_int_equal(batch_is_valid(x, r), batch_is_valid(y, r));
            if (!batch_is_valid(x, r))
                continue;
            switch (x->type) {
            case COL_DOUBLE: assert_true(x->v.f64[r] == y->v.f64[r]); break;
            case COL_INT64: assert_int_equal(x->v.i64[r], y->v.i64[r]); break;
            case COL_UINT64: assert_true(x->v.u64[r] == y->v.u64[r]); break;
            case COL_BOOL: assert_int_equal(x->v.b[r], y->v.b[r]); break;
            case COL_STRING: {
                size_t la, lb;
                const char *sa = batch_str(a, x, r, &la);
                const char *sb = batch_str(b, y, r, &lb);
                assert_int_equal(la, lb);
                assert_memory_equal(sa, sb, la);
                break;
            }
            }
        }
    }
}

/* ---- CRC ----------------------------------------------------------------------- */

static void test_crc32c_vectors(void **state)
{
    (void)state;
    /* RFC 3720 / iSCSI check value. */
    assert_int_equal(wal__crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(wal__crc32c_portable(0, "123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    assert_int_equal(wal__crc32c(0, zeros, 32), 0x8A9136AAu);
    /* Incremental == one shot; hardware == table, at every alignment. */
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len < 300; len += 37) {
            uint32_t one = wal__crc32c(0, buf + off, len);
            assert_int_equal(one, wal__crc32c_portable(0, buf + off, len));
            size_t cut = len / 3;
            uint32_t inc = wal__crc32c(wal__crc32c(0, buf + off, cut), buf + off + cut, len - cut);
            assert_int_equal(one, inc);
        }
    }
}

/* ---- batches ----------------------------------------------------------------------- */

/* Encodes b, decodes it, checks equality and that re-encoding is identical;
 * returns the encoded size. */
static size_t roundtrip(const struct batch *b)
{
    struct wbuf w = {0};
    walrec_batch_encode(&w, b);
    struct batch *d = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(walrec_batch_decode(w.p, w.len, &d, &eb), RC_OK);
    assert_batches_equal(b, d);
    struct wbuf w2 = {0};
    walrec_batch_encode(&w2, d);
    assert_int_equal(w.len, w2.len);
    assert_memory_equal(w.p, w2.p, w.len);
    size_t n = w.len;
    wal__wbuf_free(&w);
    wal__wbuf_free(&w2);
    batch_unref(&d);
    return n;
}

static void test_batch_roundtrip_every_type(void **state)
{
    (void)state;
    size_t sizes[] = {1, 7, 8, 9, 64, 100};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct batch *b = sample_batch(sizes[k], (unsigned)k);
        roundtrip(b);
        batch_unref(&b);
    }
}

static void test_batch_decode_truncated_and_garbage(void **state)
{
    (void)state;
    struct batch *b = sample_batch(13, 3);
    struct wbuf w = {0};
    walrec_batch_encode(&w, b);
    /* Every strict prefix is malformed, never a crash or a partial batch. */
    for (size_t len = 0; len < w.len; len++) {
        struct batch *d = NULL;
        struct errbuf eb;
        errbuf_clear(&eb);
        assert_int_equal(walrec_batch_decode(w.p, len, &d, &eb), RC_PARSE);
        assert_null(d);
        assert_true(eb.msg[0] != '\0');
    }
    /* Trailing garbage. */
    uint8_t *longer = xmalloc(w.len + 1);
    memcpy(longer, w.p, w.len);
    longer[w.len] = 0;
    struct batch *d = NULL;
    assert_int_equal(walrec_batch_decode(longer, w.len + 1, &d, NULL), RC_PARSE);
    xfree(longer);
    /* Single-byte corruption anywhere: decodes or fails cleanly. */
    for (size_t i = 0; i < w.len; i++) {
        uint8_t saved = w.p[i];
        w.p[i] ^= 0x5a;
        d = NULL;
        int rc = walrec_batch_decode(w.p, w.len, &d, NULL);
        assert_true(rc == RC_OK || rc == RC_PARSE);
        batch_unref(&d);
        w.p[i] = saved;
    }
    /* Specific invariants: a duplicated column, a bad type. */
    struct batch *two = batch_new("db", "m");
    batch_row_add(two, 1);
    int c = batch_col_get(two, "a", 1, COL_INT64, false, NULL);
    batch_set_i64(two, c, 0, 5);
    batch_seal(two);
    struct wbuf w3 = {0};
    walrec_batch_encode(&w3, two);
    /* ncols is at offset 1+2+1+1+4 = 9; make it 2 and append the column again. */
    size_t col_off = 1 + 2 + 1 + 1 + 4 + 4 + 8;
    size_t col_len = w3.len - col_off;
    uint32_t two_cols = 2;
    memcpy(w3.p + 9, &two_cols, 4);
    wal__wbuf_reserve(&w3, col_len);
    memcpy(w3.p + w3.len, w3.p + col_off, col_len);
    w3.len += col_len;
    d = NULL;
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(walrec_batch_decode(w3.p, w3.len, &d, &eb), RC_PARSE);
    assert_non_null(strstr(eb.msg, "twice"));
    w3.len -= col_len;
    memcpy(w3.p + 9, &(uint32_t){1}, 4);
    w3.p[col_off + 2 + 1] = 9; /* type byte after u16 len + "a" */
    assert_int_equal(walrec_batch_decode(w3.p, w3.len, &d, NULL), RC_PARSE);
    wal__wbuf_free(&w3);
    batch_unref(&two);
    wal__wbuf_free(&w);
    batch_unref(&b);
}

/* Offset of the first byte after column `name`'s validity bitmap in an
 * encoding of b (b has no dictionary column before it). */
static size_t after_bitmap(const uint8_t *p, const struct batch *b, const char *name)
{
    size_t off = 1 + strlen(b->db) + 1 + strlen(b->measurement) + 8 + b->nrows * 8;
    size_t nb = (b->nrows + 7) / 8;
    for (size_t i = 0; i < b->ncols; i++) {
        uint16_t nl;
        memcpy(&nl, p + off, 2);
        bool hit = nl == strlen(name) && !memcmp(p + off + 2, name, nl);
        off += 2 + nl + 2 + nb;
        if (hit)
            return off;
        assert_int_equal(b->cols[i].type, COL_DOUBLE); /* skipped columns: 8 bytes a row */
        off += b->nrows * 8;
    }
    fail();
    return 0;
}

static void test_string_dictionaries(void **state)
{
    (void)state;
    /* Repeated tags (1-byte indexes), > 256 distinct values (2-byte
     * indexes), all distinct (stays plain), empty strings, null rows, and
     * equal values at different heap offsets (msgpack-style batches). */
    size_t nrows = 2000;
    struct batch *b = batch_new("db", "m");
    int c_v = batch_col_get(b, "v", 1, COL_DOUBLE, false, NULL);
    int c_host = batch_col_get(b, "host", 4, COL_STRING, true, NULL);
    int c_many = batch_col_get(b, "many", 4, COL_STRING, true, NULL);
    int c_uniq = batch_col_get(b, "uniq", 4, COL_STRING, false, NULL);
    int c_sparse = batch_col_get(b, "sparse", 6, COL_STRING, true, NULL);
    for (size_t r = 0; r < nrows; r++) {
        size_t row = batch_row_add(b, (int64_t)r);
        batch_set_f64(b, c_v, row, (double)r);
        char s[32];
        int n = snprintf(s, sizeof(s), "host-%zu", r % 20);
        batch_set_str(b, c_host, row, s, (size_t)n);
        n = snprintf(s, sizeof(s), "k%zu", r % 700);
        batch_set_str(b, c_many, row, s, (size_t)n);
        n = snprintf(s, sizeof(s), "u%zu", r);
        batch_set_str(b, c_uniq, row, s, (size_t)n);
        if (r % 3 == 0)
            batch_set_str(b, c_sparse, row, r % 2 ? "x" : "", r % 2 ? 1 : 0);
    }
    batch_seal(b);
    size_t dict_size = roundtrip(b);
    /* host: 2,000 × (4 + 6..7 bytes) plain; as a dictionary 20 values + 2,000 bytes. */
    size_t plain_host = 0;
    for (size_t r = 0; r < nrows; r++) {
        size_t l;
        batch_str(b, &b->cols[c_host], r, &l);
        plain_host += 4 + l;
    }
    assert_true(dict_size < plain_host + nrows * 30);

    struct wbuf w = {0};
    walrec_batch_encode(&w, b);
    /* Flags byte just before host's bitmap: tag + dictionary. */
    size_t nb = (nrows + 7) / 8;
    size_t host_vals = after_bitmap(w.p, b, "host");
    assert_int_equal(w.p[host_vals - nb - 1], 3);
    uint32_t n;
    memcpy(&n, w.p + host_vals, 4);
    assert_int_equal(n, 20);

    /* Malformed dictionaries fail cleanly: no values, an index out of range,
     * a bad index width. */
    struct batch *d = NULL;
    uint8_t saved[4];
    memcpy(saved, w.p + host_vals, 4);
    memset(w.p + host_vals, 0, 4);
    assert_int_equal(walrec_batch_decode(w.p, w.len, &d, NULL), RC_PARSE);
    memcpy(w.p + host_vals, saved, 4);
    size_t width_at = host_vals + 4;
    for (uint32_t i = 0; i < 20; i++) {
        uint32_t l;
        memcpy(&l, w.p + width_at, 4);
        width_at += 4 + l;
    }
    assert_int_equal(w.p[width_at], 1);
    w.p[width_at] = 3;
    assert_int_equal(walrec_batch_decode(w.p, w.len, &d, NULL), RC_PARSE);
    w.p[width_at] = 1;
    w.p[width_at + 1 + 5] = 20; /* row 5's index: one past the last value */
    assert_int_equal(walrec_batch_decode(w.p, w.len, &d, NULL), RC_PARSE);
    w.p[width_at + 1 + 5] = 5;
    assert_int_equal(walrec_batch_decode(w.p, w.len, &d, NULL), RC_OK);
    batch_unref(&d);
    /* A dictionary flag on a non-string column. */
    size_t v_flags = after_bitmap(w.p, b, "v") - nb - 1;
    w.p[v_flags] = 2;
    assert_int_equal(walrec_batch_decode(w.p, w.len, &d, NULL), RC_PARSE);
    wal__wbuf_free(&w);
    batch_unref(&b);

    /* Equal values at different heap offsets share one dictionary entry. */
    struct batch *m = batch_new("db", "m");
    int c = batch_col_get(m, "t", 1, COL_STRING, true, NULL);
    for (size_t r = 0; r < 64; r++) {
        size_t row = batch_row_add(m, (int64_t)r);
        batch_set_str(m, c, row, r % 2 ? "odd" : "even", r % 2 ? 3 : 4);
    }
    batch_seal(m);
    assert_true(roundtrip(m) < 64 * 8 + 64 + 100);
    batch_unref(&m);
}

static void test_copy_rows(void **state)
{
    (void)state;
    struct batch *b = sample_batch(20, 1);
    uint32_t rows[] = {0, 3, 4, 19};
    struct batch *c = wal__batch_copy_rows(b, rows, 4);
    assert_int_equal(c->nrows, 4);
    assert_true(c->sealed);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(c->time_us[i], b->time_us[rows[i]]);
        for (size_t k = 0; k < b->ncols; k++) {
            const struct batch_col *x = &b->cols[k];
            const struct batch_col *y = &c->cols[batch_col_find(c, x->name, x->name_len)];
            assert_int_equal(batch_is_valid(x, rows[i]), batch_is_valid(y, i));
            if (x->type == COL_STRING && batch_is_valid(x, rows[i])) {
                size_t la, lb;
                const char *sa = batch_str(b, x, rows[i], &la);
                const char *sb = batch_str(c, y, i, &lb);
                assert_int_equal(la, lb);
                assert_memory_equal(sa, sb, la);
            }
        }
    }
    batch_unref(&c);
    batch_unref(&b);
}

/* ---- framing ------------------------------------------------------------------------ */

static void test_frame_roundtrip_and_damage(void **state)
{
    (void)state;
    struct batch *b = sample_batch(5, 2);
    struct wbuf w = {0};
    walrec_data_append(&w, 42, b);
    size_t first_len = w.len;
    uint64_t lsns[] = {9, 3, 1000000000000ULL, 4};
    walrec_intent_append(&w, 77, INT64_C(1736949600000000), "db_1", "cpu-load",
                         "db_1/cpu-load/2025/01/15/14/x.parquet", lsns, 4);
    size_t second_end = w.len;
    walrec_flushed_append(&w, lsns, 4);

    struct wal_frame f;
    assert_int_equal(wal__frame_parse(w.p, w.len, &f), WAL_FRAME_OK);
    assert_int_equal(f.type, WALREC_DATA);
    assert_int_equal(f.total_len, first_len);
    uint64_t lsn;
    memcpy(&lsn, f.body, 8);
    assert_int_equal(lsn, 42);
    struct batch *d = NULL;
    assert_int_equal(walrec_batch_decode(f.body + 8, f.body_len - 8, &d, NULL), RC_OK);
    assert_batches_equal(b, d);
    batch_unref(&d);

    assert_int_equal(wal__frame_parse(w.p + first_len, w.len - first_len, &f), WAL_FRAME_OK);
    assert_int_equal(f.type, WALREC_INTENT);
    struct walrec_intent in;
    assert_int_equal(walrec_intent_decode(f.body, f.body_len, &in), RC_OK);
    assert_int_equal(in.slot, 77);
    assert_int_equal(in.hour_start_us, INT64_C(1736949600000000));
    assert_string_equal(in.db, "db_1");
    assert_string_equal(in.measurement, "cpu-load");
    assert_string_equal(in.key, "db_1/cpu-load/2025/01/15/14/x.parquet");
    assert_int_equal(in.n, 4);
    uint64_t sorted[] = {3, 4, 9, 1000000000000ULL};
    for (int i = 0; i < 4; i++)
        assert_true(in.lsns[i] == sorted[i]);
    xfree(in.lsns);

    assert_int_equal(wal__frame_parse(w.p + second_end, w.len - second_end, &f), WAL_FRAME_OK);
    assert_int_equal(f.type, WALREC_FLUSHED);
    uint64_t *fl = NULL;
    size_t nfl = 0;
    assert_int_equal(walrec_flushed_decode(f.body, f.body_len, &fl, &nfl), RC_OK);
    assert_int_equal(nfl, 4);
    assert_true(fl[3] == 1000000000000ULL);
    xfree(fl);

    /* Torn: every strict prefix of the first record. */
    assert_int_equal(wal__frame_parse(w.p, 0, &f), WAL_FRAME_END);
    for (size_t len = 1; len < first_len; len++)
        assert_int_equal(wal__frame_parse(w.p, len, &f), WAL_FRAME_TORN);
    /* Corrupt: a flipped bit in the body, the length or the magic. */
    w.p[first_len - 1] ^= 1;
    assert_int_equal(wal__frame_parse(w.p, w.len, &f), WAL_FRAME_CORRUPT);
    /* The two valid records after it are counted as unreadable. */
    assert_int_equal(wal__frame_count_after(w.p, w.len, 0), 2);
    w.p[first_len - 1] ^= 1;
    w.p[8] ^= 1;
    assert_int_equal(wal__frame_parse(w.p, w.len, &f), WAL_FRAME_CORRUPT);
    w.p[8] ^= 1;
    w.p[0] = 'X';
    assert_int_equal(wal__frame_parse(w.p, w.len, &f), WAL_FRAME_CORRUPT);
    assert_int_equal(wal__frame_parse(w.p, 3, &f), WAL_FRAME_CORRUPT);
    w.p[0] = 'A';
    /* An absurd length is corrupt, not "torn waiting for a gigabyte". */
    uint32_t huge = 0xFFFFFFF0u;
    memcpy(w.p + 8, &huge, 4);
    assert_int_equal(wal__frame_parse(w.p, w.len, &f), WAL_FRAME_CORRUPT);
    wal__wbuf_free(&w);
    batch_unref(&b);
}

/* ---- names and headers ---------------------------------------------------------------- */

static void test_segment_names_and_header(void **state)
{
    (void)state;
    char name[WAL_NAME_MAX];
    wal__segment_name(name, sizeof(name), INT64_C(1736949787000000), 12);
    assert_string_equal(name, "arc-20250115_140307-000012.wal");
    uint64_t seq = 0;
    bool rec = true;
    assert_true(wal__segment_name_parse(name, &seq, &rec));
    assert_int_equal(seq, 12);
    assert_false(rec);
    assert_true(wal__segment_name_parse("arc-20250115_140307-1234567.wal.recovered", &seq, &rec));
    assert_int_equal(seq, 1234567);
    assert_true(rec);
    const char *bad[] = {"arc-20250115_140307-.wal",      "arc-2025011_140307-1.wal",
                         "arc-20250115-140307-1.wal",     "xrc-20250115_140307-1.wal",
                         "arc-20250115_140307-1.wa",      "arc-20250115_140307-1x.wal",
                         "arc-20250115_140307-1.wal.tmp", ".arc-20250115_140307-1.wal"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(wal__segment_name_parse(bad[i], &seq, &rec));

    uint8_t h[WAL_SEG_HDR_BYTES];
    wal__segment_header(h, 99, 123456);
    int64_t created = 0;
    assert_true(wal__segment_header_check(h, sizeof(h), &seq, &created));
    assert_int_equal(seq, 99);
    assert_int_equal(created, 123456);
    assert_memory_equal(h, "ARCW", 4);
    for (size_t i = 0; i < sizeof(h); i++) {
        h[i] ^= 0x10;
        assert_false(wal__segment_header_check(h, sizeof(h), NULL, NULL));
        h[i] ^= 0x10;
    }
    assert_false(wal__segment_header_check(h, sizeof(h) - 1, NULL, NULL));
}

/* ---- scan ---------------------------------------------------------------------------- */

/* Writes a segment file with nrec DATA records; returns the offset where
 * the last record starts and the total size. */
static void write_segment(const char *dir, const char *name, uint64_t seq, size_t nrec,
                          size_t *last_off, size_t *size)
{
    struct wbuf w = {0};
    uint8_t hdr[WAL_SEG_HDR_BYTES];
    wal__segment_header(hdr, seq, time_now_us());
    wal__wbuf_put(&w, hdr, sizeof(hdr));
    for (size_t i = 0; i < nrec; i++) {
        *last_off = w.len;
        struct batch *b = sample_batch(3 + i, (unsigned)i);
        walrec_data_append(&w, 1000 + seq * 100 + i, b);
        batch_unref(&b);
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, w.p, w.len), (ssize_t)w.len);
    close(fd);
    *size = w.len;
    wal__wbuf_free(&w);
}

static void scan(const char *dir, struct wscan **s, struct wseg **segs)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    struct errbuf eb;
    errbuf_clear(&eb);
    assert_int_equal(wal__scan_dir(dfd, dir, s, segs, &eb), RC_OK);
    close(dfd);
}

static void free_segs(struct wseg *g)
{
    while (g) {
        struct wseg *n = g->next;
        xfree(g);
        g = n;
    }
}

static void test_scan_torn_tail_every_offset(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    const char *name = "arc-20250115_140307-000001.wal";
    size_t last_off = 0, size = 0;
    write_segment(dir, name, 1, 5, &last_off, &size);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    /* Truncate at every byte of the last record (and at its end). */
    for (size_t cut = size; cut >= last_off; cut--) {
        assert_int_equal(truncate(path, (off_t)cut), 0);
        struct wscan *s = NULL;
        struct wseg *segs = NULL;
        scan(dir, &s, &segs);
        assert_int_equal(s->nsegs, 1);
        bool whole = cut == size, boundary = cut == last_off;
        assert_int_equal(s->records, whole ? 5 : 4);
        assert_int_equal(s->segs[0].nrecs, whole ? 5 : 4);
        assert_int_equal(s->corrupt_records, (whole || boundary) ? 0 : 1);
        assert_int_equal(s->corrupt_segments, 0);
        assert_true(segs->pinned && segs->replayed);
        wal__scan_free(&s);
        free_segs(segs);
    }
    /* Torn header (file shorter than 32 bytes) and an empty file. */
    assert_int_equal(truncate(path, 17), 0);
    struct wscan *s = NULL;
    struct wseg *segs = NULL;
    scan(dir, &s, &segs);
    assert_int_equal(s->records, 0);
    assert_int_equal(s->corrupt_segments, 1);
    wal__scan_free(&s);
    free_segs(segs);
    assert_int_equal(truncate(path, 0), 0);
    scan(dir, &s, &segs);
    assert_int_equal(s->records, 0);
    assert_int_equal(s->corrupt_segments, 0);
    assert_int_equal(s->nsegs, 1);
    wal__scan_free(&s);
    free_segs(segs);
    rm_rf(dir);
    xfree(dir);
}

/* Segments are preallocated with zeros: zeros after the last record are
 * the clean end of the log, a record torn inside the zeros is counted like
 * a torn tail, and a file whose header is still zeros holds nothing. */
static void test_scan_preallocated_zero_tail(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    const char *name = "arc-20250115_140307-000001.wal";
    size_t last_off = 0, size = 0;
    write_segment(dir, name, 1, 5, &last_off, &size);
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    uint8_t *full = xmalloc(size);
    int fd = open(path, O_RDONLY);
    assert_int_equal(read(fd, full, size), (ssize_t)size);
    close(fd);
    size_t prealloc = size + 8192;
    uint8_t *img = xcalloc(1, prealloc);
    for (size_t cut = size; cut >= last_off; cut -= (cut - last_off > 40 ? 37 : 1)) {
        memset(img, 0, prealloc);
        memcpy(img, full, cut);
        fd = open(path, O_WRONLY | O_TRUNC);
        assert_int_equal(write(fd, img, prealloc), (ssize_t)prealloc);
        close(fd);
        struct wscan *s = NULL;
        struct wseg *segs = NULL;
        scan(dir, &s, &segs);
        bool whole = cut == size, boundary = cut == last_off;
        assert_int_equal(s->records, whole ? 5 : 4);
        assert_int_equal(s->corrupt_records, (whole || boundary) ? 0 : 1);
        assert_int_equal(s->corrupt_segments, 0);
        /* The segment's size is what its records use, not the zeros. */
        assert_int_equal(segs->bytes, whole ? size : last_off);
        wal__scan_free(&s);
        free_segs(segs);
        if (cut == last_off)
            break;
    }
    /* Zeros, then something that is not zero: damage, not the end. */
    memset(img, 0, prealloc);
    memcpy(img, full, size);
    img[size + 100] = 0x41;
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, img, prealloc), (ssize_t)prealloc);
    close(fd);
    struct wscan *s = NULL;
    struct wseg *segs = NULL;
    scan(dir, &s, &segs);
    assert_int_equal(s->records, 5);
    assert_int_equal(s->corrupt_records, 1);
    wal__scan_free(&s);
    free_segs(segs);
    /* A spare renamed into place whose header never reached the disk. */
    memset(img, 0, prealloc);
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, img, prealloc), (ssize_t)prealloc);
    close(fd);
    scan(dir, &s, &segs);
    assert_int_equal(s->records, 0);
    assert_int_equal(s->corrupt_segments, 0);
    assert_int_equal(segs->bytes, 0);
    wal__scan_free(&s);
    free_segs(segs);
    xfree(img);
    xfree(full);
    rm_rf(dir);
    xfree(dir);
}

static void test_scan_corrupt_middle_and_header(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    size_t last1, size1, last2, size2, last3, size3;
    write_segment(dir, "arc-20250115_140307-000001.wal", 1, 6, &last1, &size1);
    write_segment(dir, "arc-20250115_140308-000002.wal", 2, 3, &last2, &size2);
    write_segment(dir, "arc-20250115_140309-000003.wal", 3, 2, &last3, &size3);
    /* Recovered files only move the segment counter. */
    write_segment(dir, "arc-20250115_140310-000009.wal.recovered", 9, 1, &last3, &size3);

    /* Segment 1: flip a byte inside record 3 of 6 (0-based 2). */
    struct wscan *s = NULL;
    struct wseg *segs = NULL;
    scan(dir, &s, &segs);
    assert_int_equal(s->records, 11);
    size_t off3 = s->segs[0].recs[2].off + 30;
    wal__scan_free(&s);
    free_segs(segs);
    char p1[512], p2[512];
    snprintf(p1, sizeof(p1), "%s/arc-20250115_140307-000001.wal", dir);
    snprintf(p2, sizeof(p2), "%s/arc-20250115_140308-000002.wal", dir);
    int fd = open(p1, O_RDWR);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)off3), 1);
    byte ^= 0xff;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)off3), 1);
    close(fd);
    /* Segment 2: destroy the header magic. */
    fd = open(p2, O_RDWR);
    assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
    close(fd);

    scan(dir, &s, &segs);
    assert_int_equal(s->nsegs, 3);
    assert_int_equal(s->max_seg_seq, 9);
    /* Segment 1: records 1-2 kept; record 3 corrupt; 4-6 unreadable. */
    assert_int_equal(s->segs[0].nrecs, 2);
    assert_int_equal(s->segs[0].corrupt, 4);
    assert_false(s->segs[1].header_ok);
    assert_int_equal(s->segs[1].nrecs, 0);
    assert_true(s->segs[2].header_ok);
    assert_int_equal(s->segs[2].nrecs, 2);
    assert_int_equal(s->records, 4);
    assert_int_equal(s->corrupt_records, 4);
    assert_int_equal(s->corrupt_segments, 1);
    assert_int_equal(s->max_lsn, 1000 + 300 + 1);
    int n = 0;
    for (struct wseg *g = segs; g; g = g->next)
        n++;
    assert_int_equal(n, 3);
    wal__scan_free(&s);
    free_segs(segs);
    rm_rf(dir);
    xfree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_batch_roundtrip_every_type),
        cmocka_unit_test(test_batch_decode_truncated_and_garbage),
        cmocka_unit_test(test_string_dictionaries),
        cmocka_unit_test(test_copy_rows),
        cmocka_unit_test(test_frame_roundtrip_and_damage),
        cmocka_unit_test(test_segment_names_and_header),
        cmocka_unit_test(test_scan_torn_tail_every_offset),
        cmocka_unit_test(test_scan_corrupt_middle_and_header),
        cmocka_unit_test(test_scan_preallocated_zero_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
