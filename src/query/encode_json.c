/*
 * query/encode_json.c — the SPEC §4.2 JSON body, streamed:
 *
 *   {"success":true,"columns":["a","b"],"data":[[1,"x"],[2,"y"]],"row_count":2
 *   <- qenc_begin ->                     <- qenc_chunk ->       <- qenc_end ->
 *   ,"execution_time_ms":1.5,"timestamp":"2025-01-15T14:00:11Z"}   qenc_json_tail
 *
 * Rows are written as they come; nothing is held back except the output
 * buffer the caller drains. Threads: the encoder's owner.
 */
#include "query/encode_internal.h"

#include <string.h>

#include "util/jsonw.h"

static int json_begin(struct qenc *e, struct errbuf *eb)
{
    (void)eb;
    struct strbuf *sb = &e->out;
    int rc = strbuf_puts(sb, "{\"success\":true,\"columns\":[");
    for (idx_t i = 0; i < e->ncols && !rc; i++) {
        if (i)
            rc = strbuf_putc(sb, ',');
        if (!rc)
            rc = json_append_string(sb, e->names[i], strlen(e->names[i]));
    }
    return rc ? rc : strbuf_puts(sb, "],\"data\":[");
}

static int json_chunk(struct qenc *e, duckdb_data_chunk chunk, idx_t nrows, struct errbuf *eb)
{
    (void)eb;
    struct strbuf *sb = &e->out;
    duckdb_vector vec[e->ncols ? e->ncols : 1];
    for (idx_t c = 0; c < e->ncols; c++)
        vec[c] = duckdb_data_chunk_get_vector(chunk, c);
    int rc = RC_OK;
    for (idx_t r = 0; r < nrows && !rc; r++) {
        rc = strbuf_append(sb, e->rows + r ? ",[" : "[", e->rows + r ? 2 : 1);
        for (idx_t c = 0; c < e->ncols && !rc; c++) {
            if (c)
                rc = strbuf_putc(sb, ',');
            if (!rc)
                rc = qenc__json_value(sb, e->ti[c], vec[c], r);
        }
        if (!rc)
            rc = strbuf_putc(sb, ']');
    }
    return rc;
}

static int json_end(struct qenc *e, struct errbuf *eb)
{
    (void)eb;
    return strbuf_printf(&e->out, "],\"row_count\":%llu", (unsigned long long)e->rows);
}

const struct qenc_ops qenc__json_ops = {json_begin, json_chunk, json_end, NULL};
