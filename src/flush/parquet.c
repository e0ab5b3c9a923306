/*
 * flush/parquet.c — Parquet through DuckDB (see parquet.h).
 *
 * DESIGN. One in-memory DuckDB database per engine (one engine per process).
 * A job:
 *
 *   1. builds the union schema of its batches (sorted by name bytes; a type
 *      disagreement fails the job) and the hour partitions of their rows
 *      (noting whether the rows already come in time order);
 *   2. borrows a connection from the engine pool;
 *   3. per hour runs
 *        COPY (SELECT c0 AS "time", c1 AS "<name>" ... FROM arc_batches(<job id>)
 *              [WHERE <hour>] [ORDER BY [sort keys,] c0])
 *        TO '<path>' (FORMAT parquet, COMPRESSION .., ROW_GROUP_SIZE 122880,
 *                     KV_METADATA {'arc:tags': '..'})
 *      where arc_batches is a table function registered once per engine that
 *      fills full DuckDB vectors straight from the batch arrays: memcpy for
 *      numbers and booleans, validity bitmaps copied byte-wise (their bit
 *      layout matches DuckDB's uint64 words on little-endian hosts),
 *      duckdb_vector_assign_string_element_len for strings (after a UTF-8
 *      check: DuckDB requires valid UTF-8). Columns get generic names c0..cN,
 *      so arbitrary UTF-8 names only ever appear quoted, as aliases. ORDER BY
 *      is left out when the rows are already in time order and no sort key
 *      applies (insertion order is preserved).
 *
 * PARQUET_LOAD_APPENDER is the alternative step 3: append the same chunks
 * into a temporary table, then COPY from it. It is kept for comparison:
 * bench/bench_flush.c measured the scan about 1.4x faster per flush because
 * it skips materialising the rows once more inside DuckDB.
 *
 * Deadlines: every live job is linked into the engine's active list (also
 * how arc_batches finds it by id); the watchdog thread sleeps until the earliest deadline and calls
 * duckdb_interrupt on expired jobs' connections. duckdb_interrupt only sets
 * a flag, so calling it under the engine lock is safe (the one exception to
 * "no lock across a DuckDB call"); a job unlinks itself under the same lock
 * before its connection is reused or closed. An interrupted connection is
 * closed, never pooled.
 *
 * Threads: flush workers call job functions; the watchdog thread only
 * interrupts. engine->lock guards the pool, the active list and `stop`.
 */
#include "flush/parquet.h"

#include <duckdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* In libduckdb 1.5 but not in the 1.4.4 header we build against (the C API
 * only grows): assigns a string without DuckDB's UTF-8 validation. The
 * caller guarantees valid UTF-8. */
DUCKDB_C_API void duckdb_unsafe_vector_assign_string_element_len(duckdb_vector vector, idx_t index,
                                                                 const char *str, idx_t str_len);

#include "ingest/batch.h"
#include "util/condvar.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/utf8.h"

#define ROW_GROUP_ROWS 122880
#define POOL_MAX_IDLE 16

/* ---- compression names ------------------------------------------------------ */

static const char *const comp_names[] = {"snappy", "zstd", "gzip", "lz4", "none"};
/* DuckDB's spelling of each codec. */
static const char *const comp_sql[] = {"snappy", "zstd", "gzip", "lz4_raw", "uncompressed"};

bool parquet_compression_parse(const char *s, enum parquet_compression *out)
{
    if (!s)
        return false;
    for (size_t i = 0; i < sizeof(comp_names) / sizeof(comp_names[0]); i++) {
        if (!strcasecmp(s, comp_names[i])) {
            *out = (enum parquet_compression)i;
            return true;
        }
    }
    if (!strcasecmp(s, "uncompressed")) {
        *out = PARQUET_NONE;
        return true;
    }
    return false;
}

const char *parquet_compression_name(enum parquet_compression c)
{
    if ((int)c < 0 || c > PARQUET_NONE)
        return "unknown";
    return comp_names[c];
}

/* ---- engine ---------------------------------------------------------------- */

struct parquet_engine {
    /* Immutable after parquet_engine_new. */
    duckdb_database db;
    enum parquet_load_mode load_mode;
    pthread_t watchdog;

    /* lock guards everything below. */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; wakes the watchdog */
    bool stop;
    duckdb_connection pool[POOL_MAX_IDLE];
    size_t npool;
    struct parquet_job *active; /* every live job, linked by next_active */
    uint64_t next_scan_id;
};

/* One column of the union schema. */
struct ucol {
    const char *name; /* points into a batch (alive for the job) */
    uint32_t name_len;
    enum col_type type;
    bool is_tag;
};

struct parquet_job {
    struct parquet_engine *eng;
    duckdb_connection conn;
    bool has_conn;
    bool table_created;
    int64_t deadline_mono_ms;        /* 0 = none */
    _Atomic bool interrupted;        /* set by the watchdog */
    struct parquet_job *next_active; /* engine->lock */
    bool linked;                     /* engine->lock */
    uint64_t scan_id;                /* arc_batches(scan_id) names this job; immutable */

    struct batch *const *batches;
    size_t nbatches;
    struct ucol *cols; /* union schema, sorted by name bytes */
    size_t ncols;
    struct parquet_hour *hours;
    size_t nhours;
    uint64_t rows;
    bool time_sorted; /* rows already in ascending time order (batch order) */
    char *tags;       /* sorted tag names joined by ',' ("" if none) */
};

static int register_scan(struct parquet_engine *eng, struct errbuf *eb);

static void *watchdog_main(void *arg)
{
    struct parquet_engine *eng = arg;
    pthread_mutex_lock(&eng->lock);
    while (!eng->stop) {
        int64_t now = time_mono_ms();
        int64_t next = INT64_MAX;
        for (struct parquet_job *j = eng->active; j; j = j->next_active) {
            if (!j->deadline_mono_ms || atomic_load(&j->interrupted))
                continue;
            if (j->deadline_mono_ms <= now) {
                atomic_store(&j->interrupted, true);
                /* Sets a flag in the connection's context: non-blocking. */
                duckdb_interrupt(j->conn);
                log_warn("flush", "parquet job past its deadline, interrupting DuckDB");
            } else if (j->deadline_mono_ms < next) {
                next = j->deadline_mono_ms;
            }
        }
        if (next == INT64_MAX) {
            pthread_cond_wait(&eng->cond, &eng->lock);
        } else {
            struct timespec ts;
            cond_deadline_ms(&ts, next - now);
            pthread_cond_timedwait(&eng->cond, &eng->lock, &ts);
        }
    }
    pthread_mutex_unlock(&eng->lock);
    return NULL;
}

static int set_cfg(duckdb_config cfg, const char *name, const char *value, struct errbuf *eb)
{
    if (duckdb_set_config(cfg, name, value) == DuckDBError)
        return errbuf_set(eb, RC_INVALID, "parquet: bad DuckDB setting %s=%s", name, value);
    return RC_OK;
}

int parquet_engine_new(const struct parquet_engine_options *opts, struct parquet_engine **out,
                       struct errbuf *eb)
{
    duckdb_config cfg = NULL;
    if (duckdb_create_config(&cfg) == DuckDBError)
        return errbuf_set(eb, RC_DB, "parquet: cannot create DuckDB config");
    int rc = RC_OK;
    char num[32];
    if (opts && opts->threads > 0) {
        snprintf(num, sizeof(num), "%d", opts->threads);
        if ((rc = set_cfg(cfg, "threads", num, eb)) != RC_OK)
            goto fail_cfg;
    }
    if (opts && opts->memory_limit && opts->memory_limit[0] &&
        (rc = set_cfg(cfg, "memory_limit", opts->memory_limit, eb)) != RC_OK)
        goto fail_cfg;
    if (opts && opts->temp_directory &&
        (rc = set_cfg(cfg, "temp_directory", opts->temp_directory, eb)) != RC_OK)
        goto fail_cfg;
    /* Only Arc's own statements run here, but there is no reason to let any
     * of them load extensions from the network. */
    /* write_hour relies on it to skip sorting rows that arrive in order. */
    if ((rc = set_cfg(cfg, "preserve_insertion_order", "true", eb)) != RC_OK ||
        (rc = set_cfg(cfg, "autoinstall_known_extensions", "false", eb)) != RC_OK ||
        (rc = set_cfg(cfg, "autoload_known_extensions", "false", eb)) != RC_OK)
        goto fail_cfg;

    struct parquet_engine *eng = xcalloc(1, sizeof(*eng));
    char *err = NULL;
    if (duckdb_open_ext(NULL, &eng->db, cfg, &err) == DuckDBError) {
        rc = errbuf_set(eb, RC_DB, "parquet: cannot open DuckDB: %s", err ? err : "?");
        duckdb_free(err);
        xfree(eng);
        goto fail_cfg;
    }
    duckdb_destroy_config(&cfg);
    eng->load_mode = opts ? opts->load_mode : PARQUET_LOAD_SCAN;
    if (eng->load_mode == PARQUET_LOAD_SCAN && (rc = register_scan(eng, eb)) != RC_OK) {
        duckdb_close(&eng->db);
        xfree(eng);
        return rc;
    }
    pthread_mutex_init(&eng->lock, NULL);
    cond_init_monotonic(&eng->cond);
    if (pthread_create(&eng->watchdog, NULL, watchdog_main, eng) != 0) {
        duckdb_close(&eng->db);
        pthread_mutex_destroy(&eng->lock);
        pthread_cond_destroy(&eng->cond);
        xfree(eng);
        return errbuf_set(eb, RC_INTERNAL, "parquet: cannot start watchdog thread");
    }
    pthread_setname_np(eng->watchdog, "arc-pq-watchdog");
    *out = eng;
    return RC_OK;
fail_cfg:
    duckdb_destroy_config(&cfg);
    return rc;
}

void parquet_engine_free(struct parquet_engine **ep)
{
    if (!ep || !*ep)
        return;
    struct parquet_engine *eng = *ep;
    *ep = NULL;
    pthread_mutex_lock(&eng->lock);
    eng->stop = true;
    pthread_cond_signal(&eng->cond);
    pthread_mutex_unlock(&eng->lock);
    pthread_join(eng->watchdog, NULL);
    for (size_t i = 0; i < eng->npool; i++)
        duckdb_disconnect(&eng->pool[i]);
    duckdb_close(&eng->db);
    pthread_mutex_destroy(&eng->lock);
    pthread_cond_destroy(&eng->cond);
    xfree(eng);
}

/* Takes a pooled connection or opens one (outside the lock). */
static int conn_acquire(struct parquet_engine *eng, duckdb_connection *out, struct errbuf *eb)
{
    pthread_mutex_lock(&eng->lock);
    if (eng->npool) {
        *out = eng->pool[--eng->npool];
        pthread_mutex_unlock(&eng->lock);
        return RC_OK;
    }
    pthread_mutex_unlock(&eng->lock);
    if (duckdb_connect(eng->db, out) == DuckDBError)
        return errbuf_set(eb, RC_DB, "parquet: cannot connect to DuckDB");
    return RC_OK;
}

static void conn_release(struct parquet_engine *eng, duckdb_connection *c, bool healthy)
{
    if (healthy) {
        pthread_mutex_lock(&eng->lock);
        if (eng->npool < POOL_MAX_IDLE) {
            eng->pool[eng->npool++] = *c;
            *c = NULL;
        }
        pthread_mutex_unlock(&eng->lock);
    }
    if (*c)
        duckdb_disconnect(c);
}

/* ---- SQL text helpers ------------------------------------------------------- */

/* "name" with embedded double quotes doubled. */
static int sql_ident(struct strbuf *sb, const char *s, size_t n)
{
    int rc = strbuf_putc(sb, '"');
    for (size_t i = 0; i < n && rc == RC_OK; i++)
        rc = s[i] == '"' ? strbuf_append(sb, "\"\"", 2) : strbuf_putc(sb, s[i]);
    return rc == RC_OK ? strbuf_putc(sb, '"') : rc;
}

/* 'text' with embedded single quotes doubled (DuckDB does not treat
 * backslashes as escapes in standard string literals). */
static int sql_literal(struct strbuf *sb, const char *s)
{
    int rc = strbuf_putc(sb, '\'');
    for (; *s && rc == RC_OK; s++)
        rc = *s == '\'' ? strbuf_append(sb, "''", 2) : strbuf_putc(sb, *s);
    return rc == RC_OK ? strbuf_putc(sb, '\'') : rc;
}

static const char *duck_type_sql(enum col_type t)
{
    return col_type_sql(t); /* DOUBLE, BIGINT, UBIGINT, VARCHAR, BOOLEAN */
}

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

/* ---- running statements ---------------------------------------------------- */

static int deadline_passed(struct parquet_job *job, struct errbuf *eb)
{
    if (atomic_load(&job->interrupted) ||
        (job->deadline_mono_ms && time_mono_ms() >= job->deadline_mono_ms)) {
        atomic_store(&job->interrupted, true);
        return errbuf_set(eb, RC_TIMEOUT, "parquet: flush deadline passed");
    }
    return RC_OK;
}

static int run(struct parquet_job *job, const char *sql, struct errbuf *eb)
{
    int rc = deadline_passed(job, eb);
    if (rc != RC_OK)
        return rc;
    duckdb_result res;
    if (duckdb_query(job->conn, sql, &res) == DuckDBError) {
        duckdb_error_type et = duckdb_result_error_type(&res);
        const char *msg = duckdb_result_error(&res);
        if (et == DUCKDB_ERROR_INTERRUPT || atomic_load(&job->interrupted))
            rc = errbuf_set(eb, RC_TIMEOUT, "parquet: flush deadline passed (DuckDB interrupted)");
        else
            rc = errbuf_set(eb, et == DUCKDB_ERROR_IO ? RC_IO : RC_DB, "parquet: %s",
                            msg ? msg : "DuckDB error");
    }
    duckdb_destroy_result(&res);
    return rc;
}

/* ---- schema and hours ------------------------------------------------------ */

static int cmp_name(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static int cmp_ucol(const void *x, const void *y)
{
    const struct ucol *a = x, *b = y;
    return cmp_name(a->name, a->name_len, b->name, b->name_len);
}

static int ci_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    for (size_t i = 0; i < n; i++) {
        int x = (unsigned char)a[i], y = (unsigned char)b[i];
        x = x >= 'A' && x <= 'Z' ? x + 32 : x;
        y = y >= 'A' && y <= 'Z' ? y + 32 : y;
        if (x != y)
            return x - y;
    }
    return al < bl ? -1 : al > bl;
}

static int cmp_ucol_ci(const void *x, const void *y)
{
    const struct ucol *a = *(const struct ucol *const *)x, *b = *(const struct ucol *const *)y;
    return ci_cmp(a->name, a->name_len, b->name, b->name_len);
}

/* DuckDB identifiers are case-insensitive, so of two output names that
 * differ only in case the later one is renamed ("host" -> "host_1"). The
 * schema registry refuses such pairs at ingest; batches that still carry
 * them (older WAL entries, no registry) are written anyway — renaming keeps
 * the rows, refusing would leave them stuck in the buffer — with a warning. */
static void warn_case_collisions(const struct parquet_job *job)
{
    const struct ucol **v = xmalloc((job->ncols + 1) * sizeof(*v));
    static const struct ucol time_col = {"time", 4, COL_INT64, false};
    v[0] = &time_col;
    for (size_t i = 0; i < job->ncols; i++)
        v[i + 1] = &job->cols[i];
    qsort(v, job->ncols + 1, sizeof(*v), cmp_ucol_ci);
    for (size_t i = 1; i <= job->ncols; i++)
        if (ci_cmp(v[i - 1]->name, v[i - 1]->name_len, v[i]->name, v[i]->name_len) == 0)
            log_warn("flush",
                     "columns \"%.*s\" and \"%.*s\" differ only in case; DuckDB renames one "
                     "in the Parquet file db=%s measurement=%s",
                     (int)v[i - 1]->name_len, v[i - 1]->name, (int)v[i]->name_len, v[i]->name,
                     job->batches[0]->db, job->batches[0]->measurement);
    xfree(v);
}

static int build_schema(struct parquet_job *job, struct errbuf *eb)
{
    size_t total = 0;
    for (size_t i = 0; i < job->nbatches; i++)
        total += job->batches[i]->ncols;
    struct ucol *all = xmalloc((total ? total : 1) * sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < job->nbatches; i++) {
        const struct batch *b = job->batches[i];
        for (size_t c = 0; c < b->ncols; c++) {
            const struct batch_col *bc = &b->cols[c];
            if (bc->name_len == 0 || strlen(bc->name) != bc->name_len) {
                xfree(all);
                return errbuf_set(eb, RC_INVALID, "parquet: column name empty or with NUL byte");
            }
            if (bc->name_len == 4 && !memcmp(bc->name, "time", 4)) {
                xfree(all);
                return errbuf_set(eb, RC_INVALID,
                                  "parquet: a column named \"time\" besides the timestamp");
            }
            if (!col_type_valid((int)bc->type)) {
                xfree(all);
                return errbuf_set(eb, RC_INVALID, "parquet: column \"%.200s\" has bad type %d",
                                  bc->name, (int)bc->type);
            }
            all[k++] = (struct ucol){bc->name, bc->name_len, bc->type, bc->is_tag};
        }
    }
    if (k > 1)
        qsort(all, k, sizeof(*all), cmp_ucol);
    size_t u = 0;
    for (size_t i = 0; i < k; i++) {
        if (u && cmp_ucol(&all[u - 1], &all[i]) == 0) {
            if (all[u - 1].type != all[i].type) {
                int rc = errbuf_set(eb, RC_INVALID,
                                    "parquet: column \"%.200s\" is %s in one batch and %s in "
                                    "another",
                                    all[i].name, col_type_name(all[u - 1].type),
                                    col_type_name(all[i].type));
                xfree(all);
                return rc;
            }
            all[u - 1].is_tag |= all[i].is_tag;
            continue;
        }
        all[u++] = all[i];
    }
    job->cols = all;
    job->ncols = u;
    if (u)
        warn_case_collisions(job);

    struct strbuf tags;
    strbuf_init(&tags, 0);
    for (size_t i = 0; i < u; i++) {
        if (!all[i].is_tag)
            continue;
        if (tags.len)
            (void)strbuf_putc(&tags, ',');
        (void)strbuf_append(&tags, all[i].name, all[i].name_len);
    }
    job->tags = strbuf_detach(&tags, NULL);
    return RC_OK;
}

static int cmp_hour(const void *x, const void *y)
{
    const struct parquet_hour *a = x, *b = y;
    return a->hour_start_us < b->hour_start_us ? -1 : a->hour_start_us > b->hour_start_us;
}

static void build_hours(struct parquet_job *job)
{
    size_t cap = 4, n = 0;
    struct parquet_hour *h = xmalloc(cap * sizeof(*h));
    size_t last = 0;
    bool sorted = true;
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < job->nbatches; i++) {
        const struct batch *b = job->batches[i];
        for (size_t r = 0; r < b->nrows; r++) {
            int64_t t = b->time_us[r];
            if (t < prev)
                sorted = false;
            prev = t;
            int64_t hs = time_floor_hour(t);
            size_t idx;
            if (n && h[last].hour_start_us == hs) {
                idx = last;
            } else {
                /* Rare (hour change): linear search; flushes span few hours. */
                for (idx = 0; idx < n && h[idx].hour_start_us != hs; idx++)
                    ;
                if (idx == n) {
                    if (n == cap) {
                        cap *= 2;
                        h = xrealloc(h, cap * sizeof(*h));
                    }
                    h[n++] = (struct parquet_hour){hs, t, t, 0};
                }
                last = idx;
            }
            struct parquet_hour *ph = &h[idx];
            if (t < ph->min_time_us)
                ph->min_time_us = t;
            if (t > ph->max_time_us)
                ph->max_time_us = t;
            ph->rows++;
        }
        job->rows += b->nrows;
    }
    if (n > 1)
        qsort(h, n, sizeof(*h), cmp_hour);
    job->hours = h;
    job->nhours = n;
    job->time_sorted = sorted;
}

/* ---- loading ---------------------------------------------------------------- */

/* Validity of rows [o, o + cnt) of a DuckDB mask from bits [off, off + cnt)
 * of a batch bitmap (LSB-first bytes, as DuckDB's uint64 words are on a
 * little-endian host), or cleared when src is NULL. */
static void bits_copy(uint64_t *mask, size_t o, const uint8_t *src, size_t off, size_t cnt)
{
    size_t done = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if ((o & 7) == 0 && (off & 7) == 0) {
        /* Byte-aligned (the usual case): whole bytes at once. */
        size_t nbytes = cnt / 8;
        if (src)
            memcpy((uint8_t *)mask + o / 8, src + off / 8, nbytes);
        else
            memset((uint8_t *)mask + o / 8, 0, nbytes);
        done = nbytes * 8;
    }
#endif
    for (size_t r = done; r < cnt; r++) {
        size_t d = o + r;
        uint64_t bit = UINT64_C(1) << (d & 63);
        bool valid = src && ((src[(off + r) >> 3] >> ((off + r) & 7)) & 1);
        if (valid)
            mask[d >> 6] |= bit;
        else
            mask[d >> 6] &= ~bit;
    }
}

/* Copies rows [off, off + cnt) of batch b into rows [o, o + cnt) of chunk:
 * column 0 is `time`, column j + 1 is union column j (batch column map[j],
 * or NULL if the batch lacks it). Does not set the chunk size. */
static void fill_segment(const struct parquet_job *job, const struct batch *b, const int *map,
                         size_t off, size_t cnt, duckdb_data_chunk chunk, size_t o,
                         struct strbuf *fix)
{
    duckdb_vector tv = duckdb_data_chunk_get_vector(chunk, 0);
    memcpy((int64_t *)duckdb_vector_get_data(tv) + o, b->time_us + off, cnt * sizeof(int64_t));
    for (size_t j = 0; j < job->ncols; j++) {
        duckdb_vector v = duckdb_data_chunk_get_vector(chunk, j + 1);
        duckdb_vector_ensure_validity_writable(v);
        uint64_t *validity = duckdb_vector_get_validity(v);
        if (map[j] < 0) {
            bits_copy(validity, o, NULL, 0, cnt);
            continue;
        }
        const struct batch_col *bc = &b->cols[map[j]];
        bits_copy(validity, o, bc->valid, off, cnt);
        char *data = duckdb_vector_get_data(v);
        switch (bc->type) {
        case COL_DOUBLE:
        case COL_INT64:
        case COL_UINT64: memcpy(data + o * 8, (const char *)bc->v.any + off * 8, cnt * 8); break;
        case COL_BOOL: memcpy(data + o, bc->v.b + off, cnt); break;
        case COL_STRING:
            for (size_t r = 0; r < cnt; r++) {
                if (!batch_is_valid(bc, off + r))
                    continue;
                size_t len;
                const char *s = batch_str(b, bc, off + r, &len);
                /* Validated (or repaired) here once, so DuckDB's own
                 * check is skipped: it cost ~15% of a flush of tag-heavy
                 * rows (perf, TSBS cpu-only). */
                if (utf8_valid((const unsigned char *)s, len)) {
                    duckdb_unsafe_vector_assign_string_element_len(v, o + r, s, len);
                } else {
                    utf8_repair((const unsigned char *)s, len, fix);
                    duckdb_unsafe_vector_assign_string_element_len(
                        v, o + r, fix->data ? fix->data : "", fix->len);
                }
            }
            break;
        }
    }
}

static void map_columns(const struct parquet_job *job, const struct batch *b, int *map)
{
    for (size_t j = 0; j < job->ncols; j++)
        map[j] = batch_col_find(b, job->cols[j].name, job->cols[j].name_len);
}

/* PARQUET_LOAD_APPENDER: copies the rows into a temporary table. */
static int load_appender(struct parquet_job *job, struct errbuf *eb)
{
    size_t nc = job->ncols + 1;
    struct strbuf sql, fix;
    strbuf_init(&sql, 0);
    strbuf_init(&fix, 0);
    duckdb_logical_type *types = xcalloc(nc, sizeof(*types));
    int *map = xmalloc(nc * sizeof(int));
    duckdb_appender app = NULL;
    duckdb_data_chunk chunk = NULL;
    int rc;

    (void)strbuf_puts(&sql, "CREATE OR REPLACE TEMP TABLE arc_flush_rows (c0 TIMESTAMPTZ");
    for (size_t j = 0; j < job->ncols; j++)
        (void)strbuf_printf(&sql, ", c%zu %s", j + 1, duck_type_sql(job->cols[j].type));
    (void)strbuf_putc(&sql, ')');
    rc = run(job, sql.data, eb);
    if (rc != RC_OK)
        goto out;
    job->table_created = true;

    if (duckdb_appender_create_ext(job->conn, "temp", "main", "arc_flush_rows", &app) ==
        DuckDBError) {
        rc = errbuf_set(eb, RC_DB, "parquet: cannot create appender: %s",
                        app ? duckdb_appender_error(app) : "?");
        goto out;
    }
    types[0] = duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP_TZ);
    for (size_t j = 0; j < job->ncols; j++)
        types[j + 1] = duckdb_create_logical_type(duck_type(job->cols[j].type));
    chunk = duckdb_create_data_chunk(types, nc);
    const size_t vsize = duckdb_vector_size();

    for (size_t bi = 0; bi < job->nbatches; bi++) {
        const struct batch *b = job->batches[bi];
        map_columns(job, b, map);
        for (size_t off = 0; off < b->nrows; off += vsize) {
            rc = deadline_passed(job, eb);
            if (rc != RC_OK)
                goto out;
            size_t cnt = b->nrows - off < vsize ? b->nrows - off : vsize;
            duckdb_data_chunk_reset(chunk);
            fill_segment(job, b, map, off, cnt, chunk, 0, &fix);
            duckdb_data_chunk_set_size(chunk, cnt);
            if (duckdb_append_data_chunk(app, chunk) == DuckDBError) {
                rc =
                    errbuf_set(eb, RC_DB, "parquet: append failed: %s", duckdb_appender_error(app));
                goto out;
            }
        }
    }
    if (duckdb_appender_close(app) == DuckDBError) {
        rc = atomic_load(&job->interrupted)
                 ? errbuf_set(eb, RC_TIMEOUT, "parquet: flush deadline passed")
                 : errbuf_set(eb, RC_DB, "parquet: appender close failed: %s",
                              duckdb_appender_error(app));
        goto out;
    }
    rc = RC_OK;
out:
    if (app)
        duckdb_appender_destroy(&app);
    if (chunk)
        duckdb_destroy_data_chunk(&chunk);
    for (size_t j = 0; j < nc; j++)
        if (types[j])
            duckdb_destroy_logical_type(&types[j]);
    xfree(types);
    xfree(map);
    strbuf_cleanup(&sql);
    strbuf_cleanup(&fix);
    return rc;
}

/* PARQUET_LOAD_SCAN: the table function arc_batches(job_id) streams the
 * job's batches straight into the query, one vector at a time. It is
 * registered once per engine; job_id is looked up in the engine's job list
 * (never a raw pointer in SQL text). */
struct scan_state {
    size_t bi, off;    /* next row: batch index, row in batch */
    int *map;          /* union column -> column of batch bi */
    size_t map_bi;     /* batch the map was built for (SIZE_MAX: none) */
    struct strbuf fix; /* UTF-8 repair scratch */
};

static void scan_state_free(void *p)
{
    struct scan_state *st = p;
    xfree(st->map);
    strbuf_cleanup(&st->fix);
    xfree(st);
}

static void scan_bind(duckdb_bind_info info)
{
    struct parquet_engine *eng = duckdb_bind_get_extra_info(info);
    duckdb_value v = duckdb_bind_get_parameter(info, 0);
    uint64_t id = duckdb_get_uint64(v);
    duckdb_destroy_value(&v);
    struct parquet_job *job = NULL;
    pthread_mutex_lock(&eng->lock);
    for (struct parquet_job *j = eng->active; j; j = j->next_active)
        if (j->scan_id == id)
            job = j;
    pthread_mutex_unlock(&eng->lock);
    if (!job) {
        duckdb_bind_set_error(info, "arc_batches: unknown job");
        return;
    }
    duckdb_logical_type t = duckdb_create_logical_type(DUCKDB_TYPE_TIMESTAMP_TZ);
    duckdb_bind_add_result_column(info, "c0", t);
    duckdb_destroy_logical_type(&t);
    for (size_t j = 0; j < job->ncols; j++) {
        char name[32];
        snprintf(name, sizeof(name), "c%zu", j + 1);
        t = duckdb_create_logical_type(duck_type(job->cols[j].type));
        duckdb_bind_add_result_column(info, name, t);
        duckdb_destroy_logical_type(&t);
    }
    duckdb_bind_set_cardinality(info, job->rows, true);
    /* The job outlives every query that names it (it unlinks only at end). */
    duckdb_bind_set_bind_data(info, job, NULL);
}

static void scan_init(duckdb_init_info info)
{
    struct parquet_job *job = duckdb_init_get_bind_data(info);
    struct scan_state *st = xcalloc(1, sizeof(*st));
    st->map = xmalloc((job->ncols + 1) * sizeof(int));
    st->map_bi = SIZE_MAX;
    strbuf_init(&st->fix, 0);
    duckdb_init_set_init_data(info, st, scan_state_free);
    duckdb_init_set_max_threads(info, 1); /* one stream, in batch order */
}

/* Emits full vectors (spanning batch boundaries) like a table scan does:
 * DuckDB's Parquet writer cuts row groups at chunk boundaries, so partial
 * chunks would let a row group overshoot ROW_GROUP_SIZE. */
static void scan_fn(duckdb_function_info info, duckdb_data_chunk output)
{
    const struct parquet_job *job = duckdb_function_get_bind_data(info);
    struct scan_state *st = duckdb_function_get_init_data(info);
    size_t vsize = duckdb_vector_size(), filled = 0;
    while (filled < vsize) {
        while (st->bi < job->nbatches && st->off >= job->batches[st->bi]->nrows) {
            st->bi++;
            st->off = 0;
        }
        if (st->bi >= job->nbatches)
            break;
        const struct batch *b = job->batches[st->bi];
        if (st->map_bi != st->bi) {
            map_columns(job, b, st->map);
            st->map_bi = st->bi;
        }
        size_t cnt = b->nrows - st->off;
        if (cnt > vsize - filled)
            cnt = vsize - filled;
        fill_segment(job, b, st->map, st->off, cnt, output, filled, &st->fix);
        st->off += cnt;
        filled += cnt;
    }
    duckdb_data_chunk_set_size(output, filled);
}

static int register_scan(struct parquet_engine *eng, struct errbuf *eb)
{
    duckdb_connection c = NULL;
    if (duckdb_connect(eng->db, &c) == DuckDBError)
        return errbuf_set(eb, RC_DB, "parquet: cannot connect to DuckDB");
    duckdb_table_function tf = duckdb_create_table_function();
    duckdb_table_function_set_name(tf, "arc_batches");
    duckdb_logical_type t = duckdb_create_logical_type(DUCKDB_TYPE_UBIGINT);
    duckdb_table_function_add_parameter(tf, t);
    duckdb_destroy_logical_type(&t);
    duckdb_table_function_set_extra_info(tf, eng, NULL);
    duckdb_table_function_set_bind(tf, scan_bind);
    duckdb_table_function_set_init(tf, scan_init);
    duckdb_table_function_set_function(tf, scan_fn);
    int rc = RC_OK;
    if (duckdb_register_table_function(c, tf) == DuckDBError)
        rc = errbuf_set(eb, RC_DB, "parquet: cannot register arc_batches");
    duckdb_destroy_table_function(&tf);
    duckdb_disconnect(&c);
    return rc;
}

/* ---- jobs ------------------------------------------------------------------- */

static void job_unlink(struct parquet_job *job)
{
    struct parquet_engine *eng = job->eng;
    pthread_mutex_lock(&eng->lock);
    if (job->linked) {
        for (struct parquet_job **pp = &eng->active; *pp; pp = &(*pp)->next_active) {
            if (*pp == job) {
                *pp = job->next_active;
                break;
            }
        }
        job->linked = false;
    }
    pthread_mutex_unlock(&eng->lock);
}

void parquet_job_end(struct parquet_job **jp)
{
    if (!jp || !*jp)
        return;
    struct parquet_job *job = *jp;
    *jp = NULL;
    /* After this the watchdog can no longer touch the connection. */
    job_unlink(job);
    if (job->has_conn) {
        bool healthy = !atomic_load(&job->interrupted);
        if (healthy && job->table_created) {
            duckdb_result res;
            healthy = duckdb_query(job->conn, "DROP TABLE IF EXISTS temp.main.arc_flush_rows",
                                   &res) == DuckDBSuccess;
            duckdb_destroy_result(&res);
        }
        conn_release(job->eng, &job->conn, healthy);
    }
    xfree(job->cols);
    xfree(job->hours);
    xfree(job->tags);
    xfree(job);
}

int parquet_job_begin(struct parquet_engine *eng, struct batch *const *batches, size_t n,
                      int64_t deadline_mono_ms, struct parquet_job **out, struct errbuf *eb)
{
    struct parquet_job *job = xcalloc(1, sizeof(*job));
    job->eng = eng;
    job->batches = batches;
    job->nbatches = n;
    job->deadline_mono_ms = deadline_mono_ms;
    atomic_init(&job->interrupted, false);
    int rc = build_schema(job, eb);
    if (rc != RC_OK)
        goto fail;
    build_hours(job);
    if (job->rows == 0) {
        *out = job; /* nothing to load */
        return RC_OK;
    }
    rc = conn_acquire(eng, &job->conn, eb);
    if (rc != RC_OK)
        goto fail;
    job->has_conn = true;
    pthread_mutex_lock(&eng->lock);
    job->scan_id = ++eng->next_scan_id;
    job->next_active = eng->active;
    eng->active = job;
    job->linked = true;
    if (deadline_mono_ms)
        pthread_cond_signal(&eng->cond);
    pthread_mutex_unlock(&eng->lock);
    if (eng->load_mode == PARQUET_LOAD_APPENDER) {
        rc = load_appender(job, eb);
        if (rc != RC_OK)
            goto fail;
    } else {
        rc = deadline_passed(job, eb);
        if (rc != RC_OK)
            goto fail;
    }
    *out = job;
    return RC_OK;
fail:
    parquet_job_end(&job);
    return rc;
}

size_t parquet_job_hours(const struct parquet_job *job, const struct parquet_hour **out)
{
    *out = job->hours;
    return job->nhours;
}

uint64_t parquet_job_rows(const struct parquet_job *job)
{
    return job->rows;
}

/* Index of a sort key in the union schema, or -1. */
static int find_col(const struct parquet_job *job, const char *name)
{
    size_t nl = strlen(name);
    size_t lo = 0, hi = job->ncols;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_name(job->cols[mid].name, job->cols[mid].name_len, name, nl);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int parquet_job_write_hour(struct parquet_job *job, size_t hour_idx, const char *path,
                           const struct parquet_write_options *opts, struct errbuf *eb)
{
    if (hour_idx >= job->nhours)
        return errbuf_set(eb, RC_INTERNAL, "parquet: no hour %zu", hour_idx);
    const struct parquet_hour *h = &job->hours[hour_idx];
    struct strbuf sql;
    strbuf_init(&sql, 0);
    (void)strbuf_puts(&sql, "COPY (SELECT c0 AS \"time\"");
    for (size_t j = 0; j < job->ncols; j++) {
        (void)strbuf_printf(&sql, ", c%zu AS ", j + 1);
        (void)sql_ident(&sql, job->cols[j].name, job->cols[j].name_len);
    }
    if (job->eng->load_mode == PARQUET_LOAD_APPENDER)
        (void)strbuf_puts(&sql, " FROM temp.main.arc_flush_rows");
    else
        (void)strbuf_printf(&sql, " FROM arc_batches(%llu::UBIGINT)",
                            (unsigned long long)job->scan_id);
    if (job->nhours > 1) {
        /* Whole seconds are exact in to_timestamp's double argument, and the
         * constant bounds let DuckDB skip row groups by their min/max. */
        int64_t s = h->hour_start_us / US_PER_SEC;
        (void)strbuf_printf(&sql, " WHERE c0 >= to_timestamp(%lld) AND c0 < to_timestamp(%lld)",
                            (long long)s, (long long)(s + 3600));
    }
    /* Rows usually arrive in time order; then, without sort keys, the sort
     * is skipped: a table scan (and filter) keeps insertion order, because
     * preserve_insertion_order is on (DuckDB's default). */
    struct strbuf order;
    strbuf_init(&order, 0);
    for (size_t k = 0; opts && k < opts->n_sort_keys; k++) {
        int idx = find_col(job, opts->sort_keys[k]);
        if (idx >= 0)
            (void)strbuf_printf(&order, "c%d, ", idx + 1);
    }
    if (order.len || !job->time_sorted)
        (void)strbuf_printf(&sql, " ORDER BY %sc0", order.data ? order.data : "");
    strbuf_cleanup(&order);
    (void)strbuf_puts(&sql, ") TO ");
    (void)sql_literal(&sql, path);
    enum parquet_compression comp = opts ? opts->compression : PARQUET_SNAPPY;
    (void)strbuf_printf(&sql, " (FORMAT parquet, COMPRESSION '%s', ROW_GROUP_SIZE %d",
                        comp_sql[comp <= PARQUET_NONE ? comp : PARQUET_SNAPPY], ROW_GROUP_ROWS);
    if (opts && opts->compression_level > 0 && (comp == PARQUET_ZSTD || comp == PARQUET_GZIP))
        (void)strbuf_printf(&sql, ", COMPRESSION_LEVEL %d", opts->compression_level);
    if (job->tags[0]) {
        (void)strbuf_puts(&sql, ", KV_METADATA {'arc:tags': ");
        (void)sql_literal(&sql, job->tags);
        (void)strbuf_putc(&sql, '}');
    }
    (void)strbuf_putc(&sql, ')');
    int rc = run(job, sql.data, eb);
    strbuf_cleanup(&sql);
    return rc;
}
