/*
 * query/bufscan.c — arc_buffer_scan(BIGINT): the rows of a measurement that
 * are still in the write buffer, as a DuckDB table function (SPEC §4.4
 * "fresh reads").
 *
 * A query takes a snapshot per measurement (engine.c: colbuf_snapshot, with
 * the catalog's file list copied under the same lock, so every row is in
 * exactly one of the two), registers it here under a process-unique id and
 * references it as arc_buffer_scan(<id>) inside the measurement's subquery.
 * The function's bind looks the id up, checks the calling connection is the
 * one the snapshot was made for (another query cannot read it by guessing
 * ids), declares `time` TIMESTAMP WITH TIME ZONE plus the snapshot's columns
 * (the measurement's catalog schema, so the subquery has every column even
 * when the chosen files lack some) and its scan converts batches chunk by
 * chunk: numbers and validity bitmaps are copied, strings assigned (invalid
 * UTF-8 repaired exactly as the flusher repairs it, so a row reads the same
 * before and after its flush), a batch lacking a column yields NULLs.
 *
 * Lifetimes: the snapshot is refcounted. The registry holds one reference
 * from qscan_register to qscan_unregister (the cursor's lifetime), every
 * bind holds one until DuckDB destroys its bind data, so DuckDB may bind
 * again (prepare, execute) while the cursor lives, and a late destroy after
 * the cursor closed is harmless.
 *
 * Threads: bind/init/scan run on DuckDB threads of the query's connection
 * (the function is single-threaded: one scan state per query); the registry
 * is guarded by reg_lock, held only for list operations.
 */
#include "query/query_internal.h"

#include <pthread.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/utf8.h"

/* ---- snapshots ------------------------------------------------------------- */

static atomic_uint_fast64_t next_id = 1;

struct qscan_snapshot *qscan_snapshot_new(struct batch **batches, size_t n, struct qscan_col *cols,
                                          size_t ncols, idx_t conn_id)
{
    struct qscan_snapshot *s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->id = atomic_fetch_add(&next_id, 1);
    s->conn_id = conn_id;
    s->batches = batches;
    s->nbatches = n;
    s->cols = cols;
    s->ncols = ncols;
    return s;
}

static struct qscan_snapshot *snap_ref(struct qscan_snapshot *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void qscan_snapshot_unref(struct qscan_snapshot **sp)
{
    if (!sp || !*sp)
        return;
    struct qscan_snapshot *s = *sp;
    *sp = NULL;
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < s->nbatches; i++)
        batch_unref(&s->batches[i]);
    xfree(s->batches);
    for (size_t i = 0; i < s->ncols; i++)
        xfree(s->cols[i].name);
    xfree(s->cols);
    xfree(s);
}

/* ---- registry ------------------------------------------------------------------ */

struct reg_node {
    struct reg_node *next;
    struct qscan_snapshot *snap; /* one reference */
};

/* reg_lock guards reg_head and reg_count. Never held across DuckDB calls. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_node *reg_head;
static size_t reg_count;

void qscan_register(struct qscan_snapshot *s)
{
    struct reg_node *n = xmalloc(sizeof(*n));
    n->snap = snap_ref(s);
    pthread_mutex_lock(&reg_lock);
    n->next = reg_head;
    reg_head = n;
    reg_count++;
    pthread_mutex_unlock(&reg_lock);
}

void qscan_unregister(struct qscan_snapshot *s)
{
    struct reg_node *found = NULL;
    pthread_mutex_lock(&reg_lock);
    for (struct reg_node **pp = &reg_head; *pp; pp = &(*pp)->next) {
        if ((*pp)->snap == s) {
            found = *pp;
            *pp = found->next;
            reg_count--;
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    if (found) {
        qscan_snapshot_unref(&found->snap);
        xfree(found);
    }
}

size_t qscan_registered_count(void)
{
    pthread_mutex_lock(&reg_lock);
    size_t n = reg_count;
    pthread_mutex_unlock(&reg_lock);
    return n;
}

/* Returns a new reference, or NULL. */
static struct qscan_snapshot *reg_lookup(uint64_t id)
{
    struct qscan_snapshot *s = NULL;
    pthread_mutex_lock(&reg_lock);
    for (struct reg_node *n = reg_head; n; n = n->next) {
        if (n->snap->id == id) {
            s = snap_ref(n->snap);
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return s;
}

/* ---- the table function ------------------------------------------------------------ */

static duckdb_type duck_type(enum col_type t)
{
    switch (t) {
    case COL_DOUBLE: return DUCKDB_TYPE_DOUBLE;
    case COL_INT64: return DUCKDB_TYPE_BIGINT;
    case COL_UINT64: return DUCKDB_TYPE_UBIGINT;
    case COL_STRING: return DUCKDB_TYPE_VARCHAR;
    case COL_BOOL: return DUCKDB_TYPE_BOOLEAN;
    }
    return DUCKDB_TYPE_VARCHAR;
}

static void bind_data_free(void *p)
{
    struct qscan_snapshot *s = p;
    qscan_snapshot_unref(&s);
}

static void scan_bind(duckdb_bind_info info)
{
    duckdb_value v = duckdb_bind_get_parameter(info, 0);
    int64_t id = v ? duckdb_get_int64(v) : -1;
    duckdb_destroy_value(&v);

    duckdb_client_context ctx = NULL;
    duckdb_table_function_get_client_context(info, &ctx);
    idx_t conn_id = ctx ? duckdb_client_context_get_connection_id(ctx) : (idx_t)-1;
    duckdb_destroy_client_context(&ctx);

    struct qscan_snapshot *s = id > 0 ? reg_lookup((uint64_t)id) : NULL;
    if (!s || s->conn_id != conn_id) {
        qscan_snapshot_unref(&s);
        duckdb_bind_set_error(info, "arc_buffer_scan: unknown snapshot");
        return;
    }
    duckdb_logical_type t = duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP_TZ);
    duckdb_bind_add_result_column(info, "time", t);
    duckdb_destroy_logical_type(&t);
    size_t rows = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        t = duckdb_create_logical_type(duck_type(s->cols[i].type));
        duckdb_bind_add_result_column(info, s->cols[i].name, t);
        duckdb_destroy_logical_type(&t);
    }
    for (size_t i = 0; i < s->nbatches; i++)
        rows += s->batches[i]->nrows;
    duckdb_bind_set_cardinality(info, rows, true);
    duckdb_bind_set_bind_data(info, s, bind_data_free);
}

struct scan_state {
    size_t batch;      /* current batch */
    size_t off;        /* next row in it (a multiple of the vector size) */
    int *map;          /* per snapshot column: batch column index or -1 */
    size_t map_batch;  /* batch the map was computed for; SIZE_MAX none */
    struct strbuf fix; /* UTF-8 repair scratch */
};

static void scan_state_free(void *p)
{
    struct scan_state *st = p;
    xfree(st->map);
    strbuf_cleanup(&st->fix);
    xfree(st);
}

static void scan_init(duckdb_init_info info)
{
    struct qscan_snapshot *s = duckdb_init_get_bind_data(info);
    struct scan_state *st = xcalloc(1, sizeof(*st));
    st->map = xcalloc(s->ncols ? s->ncols : 1, sizeof(int));
    st->map_batch = SIZE_MAX;
    strbuf_init(&st->fix, 0);
    duckdb_init_set_init_data(info, st, scan_state_free);
}

static void fill_column(const struct batch *b, const struct batch_col *bc, size_t off, size_t cnt,
                        duckdb_vector v, struct strbuf *fix)
{
    duckdb_vector_ensure_validity_writable(v);
    uint64_t *validity = duckdb_vector_get_validity(v);
    if (!bc) {
        memset(validity, 0, (cnt + 63) / 64 * sizeof(uint64_t));
        return;
    }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* off is a multiple of the vector size (a multiple of 64), so the
     * batch's bitmap bytes line up with DuckDB's uint64 words. */
    memcpy(validity, bc->valid + off / 8, (cnt + 7) / 8);
#else
    for (size_t r = 0; r < cnt; r++)
        duckdb_validity_set_row_validity(validity, r, batch_is_valid(bc, off + r));
#endif
    void *data = duckdb_vector_get_data(v);
    switch (bc->type) {
    case COL_DOUBLE:
    case COL_INT64:
    case COL_UINT64: memcpy(data, (const char *)bc->v.any + off * 8, cnt * 8); break;
    case COL_BOOL: {
        bool *out = data;
        for (size_t r = 0; r < cnt; r++)
            out[r] = bc->v.b[off + r] != 0;
        break;
    }
    case COL_STRING:
        for (size_t r = 0; r < cnt; r++) {
            if (!batch_is_valid(bc, off + r))
                continue;
            size_t len;
            const char *str = batch_str(b, bc, off + r, &len);
            if (utf8_valid((const unsigned char *)str, len)) {
                duckdb_vector_assign_string_element_len(v, r, str, len);
            } else {
                utf8_repair((const unsigned char *)str, len, fix);
                duckdb_vector_assign_string_element_len(v, r, fix->data ? fix->data : "", fix->len);
            }
        }
        break;
    }
}

static void scan_fn(duckdb_function_info info, duckdb_data_chunk out)
{
    struct qscan_snapshot *s = duckdb_function_get_bind_data(info);
    struct scan_state *st = duckdb_function_get_init_data(info);
    while (st->batch < s->nbatches && st->off >= s->batches[st->batch]->nrows) {
        st->batch++;
        st->off = 0;
    }
    if (st->batch >= s->nbatches) {
        duckdb_data_chunk_set_size(out, 0);
        return;
    }
    const struct batch *b = s->batches[st->batch];
    if (st->map_batch != st->batch) {
        for (size_t j = 0; j < s->ncols; j++) {
            const struct qscan_col *c = &s->cols[j];
            int k = batch_col_find(b, c->name, strlen(c->name));
            st->map[j] = (k >= 0 && b->cols[k].type == c->type) ? k : -1;
        }
        st->map_batch = st->batch;
    }
    size_t vsize = duckdb_vector_size();
    size_t cnt = b->nrows - st->off;
    if (cnt > vsize)
        cnt = vsize;
    duckdb_vector tv = duckdb_data_chunk_get_vector(out, 0);
    memcpy(duckdb_vector_get_data(tv), b->time_us + st->off, cnt * sizeof(int64_t));
    for (size_t j = 0; j < s->ncols; j++)
        fill_column(b, st->map[j] >= 0 ? &b->cols[st->map[j]] : NULL, st->off, cnt,
                    duckdb_data_chunk_get_vector(out, j + 1), &st->fix);
    duckdb_data_chunk_set_size(out, cnt);
    st->off += cnt;
}

int qscan_register_function(duckdb_connection c, struct errbuf *eb)
{
    duckdb_table_function tf = duckdb_create_table_function();
    duckdb_table_function_set_name(tf, "arc_buffer_scan");
    duckdb_logical_type t = duckdb_create_logical_type(DUCKDB_TYPE_BIGINT);
    duckdb_table_function_add_parameter(tf, t);
    duckdb_destroy_logical_type(&t);
    duckdb_table_function_set_bind(tf, scan_bind);
    duckdb_table_function_set_init(tf, scan_init);
    duckdb_table_function_set_function(tf, scan_fn);
    duckdb_state st = duckdb_register_table_function(c, tf);
    duckdb_destroy_table_function(&tf);
    if (st == DuckDBError)
        return errbuf_set(eb, RC_DB, "cannot register arc_buffer_scan");
    return RC_OK;
}
