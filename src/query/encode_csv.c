/*
 * query/encode_csv.c — CSV (SPEC §4.7): a header line of column names, then
 * one line per row, RFC 4180 (fields holding a comma, quote, CR or LF are
 * quoted, quotes doubled; lines end in CRLF). NULL is an empty field; an
 * empty string is written as "" so the two stay distinguishable. Values are
 * rendered as in JSON (timestamps RFC 3339 UTC, BLOB base64, nested values
 * as JSON text). Threads: the encoder's owner.
 */
#include "query/encode_internal.h"

#include <string.h>

#include "util/mem.h"

/* Appends field f (n bytes) with RFC 4180 quoting when needed. */
static int put_field(struct strbuf *sb, const char *f, size_t n, bool force_quotes)
{
    bool quote = force_quotes;
    for (size_t i = 0; i < n && !quote; i++)
        quote = f[i] == ',' || f[i] == '"' || f[i] == '\r' || f[i] == '\n';
    if (!quote)
        return strbuf_append(sb, f, n);
    int rc = strbuf_putc(sb, '"');
    size_t start = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (f[i] == '"') {
            rc = strbuf_append(sb, f + start, i + 1 - start); /* includes the quote */
            if (!rc)
                rc = strbuf_putc(sb, '"');
            start = i + 1;
        }
    }
    if (!rc)
        rc = strbuf_append(sb, f + start, n - start);
    return rc ? rc : strbuf_putc(sb, '"');
}

static int csv_begin(struct qenc *e, struct errbuf *eb)
{
    (void)eb;
    int rc = RC_OK;
    for (idx_t i = 0; i < e->ncols && !rc; i++) {
        if (i)
            rc = strbuf_putc(&e->out, ',');
        if (!rc)
            rc = put_field(&e->out, e->names[i], strlen(e->names[i]), e->names[i][0] == '\0');
    }
    return rc ? rc : strbuf_append(&e->out, "\r\n", 2);
}

struct csv_state {
    struct strbuf cell; /* one rendered value before quoting */
};

static int csv_chunk(struct qenc *e, duckdb_data_chunk chunk, idx_t nrows, struct errbuf *eb)
{
    (void)eb;
    struct csv_state *st = e->state;
    if (!st) {
        st = e->state = xcalloc(1, sizeof(*st));
        strbuf_init(&st->cell, e->o.max_buffer_bytes);
    }
    duckdb_vector vec[e->ncols ? e->ncols : 1];
    for (idx_t c = 0; c < e->ncols; c++)
        vec[c] = duckdb_data_chunk_get_vector(chunk, c);
    int rc = RC_OK;
    for (idx_t r = 0; r < nrows && !rc; r++) {
        for (idx_t c = 0; c < e->ncols && !rc; c++) {
            if (c)
                rc = strbuf_putc(&e->out, ',');
            bool is_null;
            strbuf_reset(&st->cell);
            if (!rc)
                rc = qenc__text_value(&st->cell, e->ti[c], vec[c], r, &is_null);
            if (!rc && !is_null)
                rc = put_field(&e->out, st->cell.data ? st->cell.data : "", st->cell.len,
                               st->cell.len == 0);
        }
        if (!rc)
            rc = strbuf_append(&e->out, "\r\n", 2);
    }
    return rc;
}

static int csv_end(struct qenc *e, struct errbuf *eb)
{
    (void)e;
    (void)eb;
    return RC_OK;
}

static void csv_free(struct qenc *e)
{
    struct csv_state *st = e->state;
    if (!st)
        return;
    strbuf_cleanup(&st->cell);
    xfree(st);
    e->state = NULL;
}

const struct qenc_ops qenc__csv_ops = {csv_begin, csv_chunk, csv_end, csv_free};
