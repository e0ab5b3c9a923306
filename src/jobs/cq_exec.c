/*
 * jobs/cq_exec.c — continuous-query execution and scheduling (SPEC §8.2
 * "Execution", "Concurrency", "Scheduling"); the diagram is in cq.h.
 *
 * Owns: the service (borrowed pointers to store, query engine, catalog,
 * buffer, flusher), the set of running CQ ids (at most max_concurrent, one
 * run per CQ at a time) and the optional worker thread "arc-cq" that runs
 * scheduled passes.
 *
 * Result conversion (DuckDB → struct batch, docs/continuous-queries.md):
 *   DOUBLE, FLOAT, DECIMAL           → float (DOUBLE)
 *   TINYINT..BIGINT, UTINYINT..UINTEGER, HUGEINT/UHUGEINT that fit → integer (INT64)
 *   UBIGINT                          → unsigned (UINT64)
 *   VARCHAR                          → string; BOOLEAN → boolean
 *   anything else                    → string: its JSON rendering (query/encode.h),
 *                                      unquoted when that is a JSON string
 *   `time`: TIMESTAMP[_TZ/_S/_MS/_NS], DATE, a number (unit inferred from the
 *   first non-null value as in SPEC §1.4) or an RFC 3339 string; absent →
 *   the execution time for every row.
 * A destination column that is already float accepts integer results (they
 * are converted); any other type conflict fails the execution.
 *
 * Threads: cq_execute on HTTP worker threads and on the CQ worker; the
 * scheduler thread only signals the worker (tick), never waits for a query.
 * Lock order: svc->lock is a leaf (never held across a call into another
 * module). tick_target.lock may be held while taking svc->lock.
 */
#include "jobs/cq.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <duckdb.h>

#include "buffer/colbuf.h"
#include "catalog/catalog.h"
#include "flush/flusher.h"
#include "ingest/batch.h"
#include "jobs/scheduler.h"
#include "metrics/metrics.h"
#include "query/encode.h"
#include "query/qcache.h"
#include "query/query.h"
#include "util/faults.h"
#include "util/json.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Rows admitted to the buffer per colbuf_admit call (further capped at half
 * the per-key hard limit, so a result never needs more room than exists). */
#define ADMIT_GROUP_ROWS 50000
/* colbuf_admit retries after RC_BUSY, each after flushing the key. */
#define ADMIT_RETRIES 3
/* Scheduler tick. */
#define TICK_MS 1000

struct cq_service {
    /* Immutable after cq_service_new. */
    struct cq_service_options o;
    struct cq_store *store;
    struct query_engine *qe;
    struct catalog *cat;
    struct colbuf *cb;
    struct flusher *fl;

    /* lock guards everything below. */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* slot released, tick, stopping */
    int64_t *running;    /* ids of executing CQs */
    size_t nrunning, running_cap;
    bool worker_started;
    bool stopping;
    bool tick_pending;
    pthread_t worker;
};

static struct metric *m_runs_ok, *m_runs_failed, *m_records;

/* The scheduler has no "remove job": its callback reaches the service
 * through this static cell, which cq_service_free clears. */
static struct {
    pthread_mutex_t lock; /* guards svc */
    struct cq_service *svc;
} tick_target = {PTHREAD_MUTEX_INITIALIZER, NULL};

/* ---- service lifecycle ------------------------------------------------------ */

int cq_service_new(const struct cq_service_options *o, struct cq_store *store,
                   struct query_engine *qe, struct catalog *cat, struct colbuf *cb,
                   struct flusher *fl, struct cq_service **out, struct errbuf *eb)
{
    if (!o || !store || !qe || !cat || !cb)
        return errbuf_set(eb, RC_INVALID, "continuous queries: missing dependency");
    if (o->wal_prepare && (!o->wal_commit || !o->wal_abort))
        return errbuf_set(eb, RC_INVALID, "continuous queries: incomplete WAL hooks");
    struct cq_service *svc = xcalloc(1, sizeof(*svc));
    svc->o = *o;
    if (svc->o.timeout_ms <= 0)
        svc->o.timeout_ms = 3600 * 1000;
    if (svc->o.max_concurrent == 0)
        svc->o.max_concurrent = 1;
    svc->store = store;
    svc->qe = qe;
    svc->cat = cat;
    svc->cb = cb;
    svc->fl = fl;
    pthread_mutex_init(&svc->lock, NULL);
    pthread_cond_init(&svc->cond, NULL);
    m_runs_ok = metrics_counter("arc_cq_executions_total", "Continuous-query executions",
                                "status=\"completed\"");
    m_runs_failed = metrics_counter("arc_cq_executions_total", "Continuous-query executions",
                                    "status=\"failed\"");
    m_records =
        metrics_counter("arc_cq_records_written_total", "Rows written by continuous queries", NULL);
    *out = svc;
    return RC_OK;
}

void cq_service_stop(struct cq_service *svc)
{
    if (!svc)
        return;
    pthread_mutex_lock(&tick_target.lock);
    if (tick_target.svc == svc)
        tick_target.svc = NULL;
    pthread_mutex_unlock(&tick_target.lock);
    pthread_mutex_lock(&svc->lock);
    svc->stopping = true;
    pthread_cond_broadcast(&svc->cond);
    bool join = svc->worker_started;
    svc->worker_started = false;
    pthread_mutex_unlock(&svc->lock);
    if (join)
        pthread_join(svc->worker, NULL);
}

void cq_service_free(struct cq_service **sp)
{
    if (!sp || !*sp)
        return;
    struct cq_service *svc = *sp;
    *sp = NULL;
    cq_service_stop(svc);
    /* HTTP threads are gone by now (the caller stops them first). */
    pthread_mutex_destroy(&svc->lock);
    pthread_cond_destroy(&svc->cond);
    xfree(svc->running);
    xfree(svc);
}

struct cq_store *cq_service_store(struct cq_service *svc)
{
    return svc->store;
}

size_t cq_service_running(struct cq_service *svc)
{
    pthread_mutex_lock(&svc->lock);
    size_t n = svc->nrunning;
    pthread_mutex_unlock(&svc->lock);
    return n;
}

void cq_exec_result_cleanup(struct cq_exec_result *r)
{
    if (!r)
        return;
    xfree(r->executed_query);
    memset(r, 0, sizeof(*r));
}

/* ---- slots ------------------------------------------------------------------- */

static bool is_running(const struct cq_service *svc, int64_t id)
{
    for (size_t i = 0; i < svc->nrunning; i++)
        if (svc->running[i] == id)
            return true;
    return false;
}

/* Takes an execution slot for id. wait: block until a slot frees up
 * (scheduled runs), else RC_BUSY at once. */
static int slot_acquire(struct cq_service *svc, int64_t id, bool wait, struct errbuf *eb)
{
    int rc = RC_OK;
    pthread_mutex_lock(&svc->lock);
    for (;;) {
        if (svc->stopping) {
            rc = errbuf_set(eb, RC_SHUTDOWN, "continuous queries are stopping");
            break;
        }
        if (is_running(svc, id)) {
            rc = errbuf_set(eb, RC_EXISTS, "Continuous query %lld is already running",
                            (long long)id);
            break;
        }
        if (svc->nrunning < svc->o.max_concurrent) {
            if (svc->nrunning == svc->running_cap) {
                svc->running_cap = svc->running_cap ? svc->running_cap * 2 : 4;
                svc->running = xrealloc(svc->running, svc->running_cap * sizeof(int64_t));
            }
            svc->running[svc->nrunning++] = id;
            break;
        }
        if (!wait) {
            rc =
                errbuf_set(eb, RC_BUSY, "Too many continuous queries running (max_concurrent = %u)",
                           svc->o.max_concurrent);
            break;
        }
        pthread_cond_wait(&svc->cond, &svc->lock);
    }
    pthread_mutex_unlock(&svc->lock);
    return rc;
}

static void slot_release(struct cq_service *svc, int64_t id)
{
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->nrunning; i++) {
        if (svc->running[i] == id) {
            svc->running[i] = svc->running[--svc->nrunning];
            break;
        }
    }
    pthread_cond_broadcast(&svc->cond);
    pthread_mutex_unlock(&svc->lock);
}

/* ---- result conversion ------------------------------------------------------- */

enum time_mode {
    TM_NONE = 0, /* no time column: execution time */
    TM_TS_US,    /* TIMESTAMP / TIMESTAMP_TZ */
    TM_TS_S,
    TM_TS_MS,
    TM_TS_NS,
    TM_DATE,
    TM_NUMBER, /* unit inferred from the first non-null value */
    TM_STRING, /* RFC 3339 text */
};

struct out_col {
    idx_t src;              /* cursor column */
    const char *name;       /* cursor-owned */
    duckdb_logical_type lt; /* cursor-owned */
    duckdb_type tid;
    enum col_type type; /* stored type */
    bool is_tag;
    bool text; /* rendered through qenc_value_json */
    uint8_t dec_scale;
    duckdb_type dec_internal;
};

struct conv {
    const struct cq_def *def;
    int64_t exec_time_us;
    struct out_col *cols;
    size_t ncols;
    idx_t time_src;
    duckdb_type time_tid;
    enum time_mode tmode;
    int64_t num_factor; /* TM_NUMBER: µs per unit, 0 = not decided yet */
    bool num_ns;        /* TM_NUMBER: nanoseconds (divide) */
    struct strbuf tmp;  /* scratch for text rendering */
};

static bool is_integer_type(duckdb_type t)
{
    switch (t) {
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER:
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT: return true;
    default: return false;
    }
}

/* Stored type of a result column. */
static void classify(struct out_col *c)
{
    c->text = false;
    switch (c->tid) {
    case DUCKDB_TYPE_BOOLEAN: c->type = COL_BOOL; break;
    case DUCKDB_TYPE_UBIGINT: c->type = COL_UINT64; break;
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE: c->type = COL_DOUBLE; break;
    case DUCKDB_TYPE_DECIMAL:
        c->type = COL_DOUBLE;
        c->dec_scale = duckdb_decimal_scale(c->lt);
        c->dec_internal = duckdb_decimal_internal_type(c->lt);
        break;
    case DUCKDB_TYPE_VARCHAR: c->type = COL_STRING; break;
    default:
        if (is_integer_type(c->tid)) {
            c->type = COL_INT64;
        } else {
            c->type = COL_STRING;
            c->text = true;
        }
        break;
    }
}

static bool hugeint_to_i64(duckdb_hugeint h, int64_t *out)
{
    if ((h.upper == 0 && h.lower <= (uint64_t)INT64_MAX) ||
        (h.upper == -1 && h.lower > (uint64_t)INT64_MAX)) {
        *out = (int64_t)h.lower;
        return true;
    }
    return false;
}

/* Integer value of row r of an integer vector; false if it does not fit. */
static bool read_int(duckdb_type t, const void *d, idx_t r, int64_t *out)
{
    switch (t) {
    case DUCKDB_TYPE_TINYINT: *out = ((const int8_t *)d)[r]; return true;
    case DUCKDB_TYPE_SMALLINT: *out = ((const int16_t *)d)[r]; return true;
    case DUCKDB_TYPE_INTEGER: *out = ((const int32_t *)d)[r]; return true;
    case DUCKDB_TYPE_BIGINT: *out = ((const int64_t *)d)[r]; return true;
    case DUCKDB_TYPE_UTINYINT: *out = ((const uint8_t *)d)[r]; return true;
    case DUCKDB_TYPE_USMALLINT: *out = ((const uint16_t *)d)[r]; return true;
    case DUCKDB_TYPE_UINTEGER: *out = ((const uint32_t *)d)[r]; return true;
    case DUCKDB_TYPE_UBIGINT: {
        uint64_t u = ((const uint64_t *)d)[r];
        *out = (int64_t)u;
        return u <= (uint64_t)INT64_MAX;
    }
    case DUCKDB_TYPE_HUGEINT: return hugeint_to_i64(((const duckdb_hugeint *)d)[r], out);
    case DUCKDB_TYPE_UHUGEINT: {
        duckdb_uhugeint u = ((const duckdb_uhugeint *)d)[r];
        *out = (int64_t)u.lower;
        return u.upper == 0 && u.lower <= (uint64_t)INT64_MAX;
    }
    default: return false;
    }
}

/* Value of row r of a numeric vector as a double. */
static double read_double(const struct out_col *c, duckdb_type t, const void *d, idx_t r)
{
    switch (t) {
    case DUCKDB_TYPE_FLOAT: return ((const float *)d)[r];
    case DUCKDB_TYPE_DOUBLE: return ((const double *)d)[r];
    case DUCKDB_TYPE_UBIGINT: return (double)((const uint64_t *)d)[r];
    case DUCKDB_TYPE_HUGEINT: return duckdb_hugeint_to_double(((const duckdb_hugeint *)d)[r]);
    case DUCKDB_TYPE_UHUGEINT: return duckdb_uhugeint_to_double(((const duckdb_uhugeint *)d)[r]);
    case DUCKDB_TYPE_DECIMAL: {
        double v;
        switch (c->dec_internal) {
        case DUCKDB_TYPE_SMALLINT: v = ((const int16_t *)d)[r]; break;
        case DUCKDB_TYPE_INTEGER: v = ((const int32_t *)d)[r]; break;
        case DUCKDB_TYPE_BIGINT: v = (double)((const int64_t *)d)[r]; break;
        default: v = duckdb_hugeint_to_double(((const duckdb_hugeint *)d)[r]); break;
        }
        return v / pow(10.0, c->dec_scale);
    }
    default: {
        int64_t i = 0;
        (void)read_int(t, d, r, &i);
        return (double)i;
    }
    }
}

static bool is_numeric_type(duckdb_type t)
{
    return is_integer_type(t) || t == DUCKDB_TYPE_UBIGINT || t == DUCKDB_TYPE_FLOAT ||
           t == DUCKDB_TYPE_DOUBLE || t == DUCKDB_TYPE_DECIMAL;
}

/* Sets up columns, tags and the time mode from the cursor's shape. */
static int conv_init(struct conv *cv, struct query_cursor *cur, const struct cq_def *def,
                     struct catalog *cat, struct errbuf *eb)
{
    idx_t n = query_cursor_column_count(cur);
    cv->def = def;
    cv->cols = xcalloc(n ? n : 1, sizeof(*cv->cols));
    cv->tmode = TM_NONE;
    strbuf_init(&cv->tmp, 0);
    bool seen_time = false;
    for (idx_t i = 0; i < n; i++) {
        const char *name = query_cursor_column_name(cur, i);
        duckdb_logical_type lt = query_cursor_column_type(cur, i);
        duckdb_type tid = duckdb_get_type_id(lt);
        if (strcasecmp(name, "time") == 0) {
            if (seen_time)
                return errbuf_set(eb, RC_INVALID, "query result has more than one time column");
            seen_time = true;
            cv->time_src = i;
            cv->time_tid = tid;
            switch (tid) {
            case DUCKDB_TYPE_TIMESTAMP:
            case DUCKDB_TYPE_TIMESTAMP_TZ: cv->tmode = TM_TS_US; break;
            case DUCKDB_TYPE_TIMESTAMP_S: cv->tmode = TM_TS_S; break;
            case DUCKDB_TYPE_TIMESTAMP_MS: cv->tmode = TM_TS_MS; break;
            case DUCKDB_TYPE_TIMESTAMP_NS: cv->tmode = TM_TS_NS; break;
            case DUCKDB_TYPE_DATE: cv->tmode = TM_DATE; break;
            case DUCKDB_TYPE_VARCHAR: cv->tmode = TM_STRING; break;
            default:
                if (!is_numeric_type(tid))
                    return errbuf_set(eb, RC_INVALID,
                                      "the time column of the query result must be a timestamp, "
                                      "a number or an RFC 3339 string");
                cv->tmode = TM_NUMBER;
                break;
            }
            continue;
        }
        size_t len = strlen(name);
        if (len == 0 || len > COLUMN_NAME_MAX)
            return errbuf_set(eb, RC_INVALID,
                              "query result column name must be 1-%d bytes: '%.60s'",
                              COLUMN_NAME_MAX, name);
        for (size_t k = 0; k < cv->ncols; k++)
            if (strcasecmp(cv->cols[k].name, name) == 0)
                return errbuf_set(eb, RC_INVALID,
                                  "query result has two columns named '%s' (names are "
                                  "case-insensitive)",
                                  name);
        struct out_col *c = &cv->cols[cv->ncols++];
        c->src = i;
        c->name = name;
        c->lt = lt;
        c->tid = tid;
        classify(c);
    }
    for (size_t t = 0; t < def->n_tag_columns; t++) {
        bool found = false;
        for (size_t k = 0; k < cv->ncols; k++) {
            if (strcmp(cv->cols[k].name, def->tag_columns[t]) == 0) {
                cv->cols[k].is_tag = true;
                found = true;
            }
        }
        if (!found)
            return errbuf_set(eb, RC_INVALID, "tag column '%s' is not a column of the query result",
                              def->tag_columns[t]);
    }
    /* Destination schema (SPEC §2.3: a column's type is fixed by its first
     * value). Integers go into an existing float column as floats. */
    struct schema_checker sc = catalog_schema_checker(cat);
    for (size_t k = 0; k < cv->ncols; k++) {
        struct out_col *c = &cv->cols[k];
        enum col_type existing = c->type;
        if (sc.check(sc.ctx, def->database, def->destination_measurement, c->name, strlen(c->name),
                     c->type, &existing) == RC_OK)
            continue;
        if (existing == COL_DOUBLE && (c->type == COL_INT64 || c->type == COL_UINT64)) {
            c->type = COL_DOUBLE;
            continue;
        }
        return errbuf_set(eb, RC_INVALID,
                          "column '%s' of %s.%s is %s but the query returns %s (%s)", c->name,
                          def->database, def->destination_measurement, col_type_name(existing),
                          col_type_name(c->type), col_type_sql(c->type));
    }
    return RC_OK;
}

static void conv_cleanup(struct conv *cv)
{
    xfree(cv->cols);
    strbuf_cleanup(&cv->tmp);
}

static bool row_valid(duckdb_vector v, idx_t r)
{
    uint64_t *valid = duckdb_vector_get_validity(v);
    return !valid || duckdb_validity_row_is_valid(valid, r);
}

/* Timestamp of row r. */
static int row_time(struct conv *cv, duckdb_vector v, idx_t r, int64_t *out, struct errbuf *eb)
{
    if (cv->tmode == TM_NONE) {
        *out = cv->exec_time_us;
        return RC_OK;
    }
    if (!row_valid(v, r))
        return errbuf_set(eb, RC_INVALID, "the time column of the query result is NULL");
    const void *d = duckdb_vector_get_data(v);
    int64_t ts = 0;
    bool ok = true;
    switch (cv->tmode) {
    case TM_TS_US: ts = ((const int64_t *)d)[r]; break;
    case TM_TS_S: {
        int64_t s = ((const int64_t *)d)[r];
        ok = s > INT64_MIN / US_PER_SEC && s < INT64_MAX / US_PER_SEC;
        ts = ok ? s * US_PER_SEC : 0;
        break;
    }
    case TM_TS_MS: {
        int64_t ms = ((const int64_t *)d)[r];
        ok = ms > INT64_MIN / 1000 && ms < INT64_MAX / 1000;
        ts = ok ? ms * 1000 : 0;
        break;
    }
    case TM_TS_NS: {
        int64_t ns = ((const int64_t *)d)[r];
        ts = ns / 1000 - (ns % 1000 < 0 ? 1 : 0); /* floor */
        break;
    }
    case TM_DATE: ts = (int64_t)((const int32_t *)d)[r] * US_PER_DAY; break;
    case TM_STRING: {
        duckdb_string_t *s = (duckdb_string_t *)d;
        const char *p = duckdb_string_t_data(&s[r]);
        uint32_t len = duckdb_string_t_length(s[r]);
        if (!time_parse_rfc3339(p, len, &ts))
            return errbuf_set(eb, RC_INVALID,
                              "the time column holds '%.*s', which is not an RFC 3339 timestamp",
                              (int)(len > 60 ? 60 : len), p);
        break;
    }
    case TM_NUMBER: {
        bool is_int = is_integer_type(cv->time_tid) || cv->time_tid == DUCKDB_TYPE_UBIGINT;
        int64_t iv = 0;
        double dv = 0;
        if (is_int && cv->time_tid != DUCKDB_TYPE_UBIGINT) {
            if (!read_int(cv->time_tid, d, r, &iv))
                return errbuf_set(eb, RC_INVALID, "a time value of the query result is too large");
            dv = (double)iv;
        } else {
            dv = read_double(NULL, cv->time_tid, d, r);
            is_int = false;
        }
        if (!isfinite(dv))
            return errbuf_set(eb, RC_INVALID, "a time value of the query result is not finite");
        if (cv->num_factor == 0) { /* SPEC §1.4, decided once per column */
            double a = fabs(dv);
            cv->num_ns = false;
            if (a < 1e10)
                cv->num_factor = US_PER_SEC;
            else if (a < 1e13)
                cv->num_factor = 1000;
            else if (a < 1e16)
                cv->num_factor = 1;
            else
                cv->num_factor = 1, cv->num_ns = true;
        }
        if (is_int && !cv->num_ns) {
            ok = iv > INT64_MIN / cv->num_factor && iv < INT64_MAX / cv->num_factor;
            ts = ok ? iv * cv->num_factor : 0;
        } else if (is_int) {
            ts = iv / 1000 - (iv % 1000 < 0 ? 1 : 0);
        } else {
            double us = cv->num_ns ? dv / 1000.0 : dv * (double)cv->num_factor;
            ok = us > (double)TIME_MIN_US - 1 && us < (double)TIME_MAX_US + 1;
            ts = ok ? (int64_t)floor(us) : 0;
        }
        break;
    }
    default: break;
    }
    if (!ok || ts < TIME_MIN_US || ts > TIME_MAX_US)
        return errbuf_set(eb, RC_INVALID,
                          "a time value of the query result is outside years 0001-9999");
    *out = ts;
    return RC_OK;
}

/* Text of a value of another type (JSON rendering; strings unquoted). */
static int render_text(struct conv *cv, const struct out_col *c, duckdb_vector v, idx_t r,
                       struct batch *b, int col, size_t row, struct errbuf *eb)
{
    strbuf_reset(&cv->tmp);
    if (qenc_value_json(&cv->tmp, v, c->lt, r) != RC_OK)
        return errbuf_set(eb, RC_INTERNAL, "cannot render a value of column '%s'", c->name);
    const char *s = cv->tmp.data ? cv->tmp.data : "";
    size_t len = cv->tmp.len;
    if (len >= 2 && s[0] == '"') {
        struct json_value *doc = NULL;
        struct errbuf jeb = {0};
        if (json_parse(s, len, &doc, &jeb) == RC_OK) {
            size_t sl = 0;
            const char *str = json_as_str(doc, &sl);
            if (str) {
                batch_set_str(b, col, row, str, sl);
                json_free(&doc);
                return RC_OK;
            }
            json_free(&doc);
        }
    }
    batch_set_str(b, col, row, s, len);
    return RC_OK;
}

/* Converts one chunk into a new sealed batch (*out NULL for an empty chunk). */
static int conv_chunk(struct conv *cv, duckdb_data_chunk ch, struct batch **out, struct errbuf *eb)
{
    *out = NULL;
    idx_t n = duckdb_data_chunk_get_size(ch);
    if (n == 0)
        return RC_OK;
    const struct cq_def *def = cv->def;
    struct batch *b = batch_new(def->database, def->destination_measurement);
    int *idx = xcalloc(cv->ncols ? cv->ncols : 1, sizeof(int));
    int rc = RC_OK;
    for (size_t k = 0; k < cv->ncols; k++) {
        enum col_type ex;
        idx[k] = batch_col_get(b, cv->cols[k].name, strlen(cv->cols[k].name), cv->cols[k].type,
                               cv->cols[k].is_tag, &ex);
        if (idx[k] < 0) {
            rc = errbuf_set(eb, RC_INTERNAL, "cannot add column '%s'", cv->cols[k].name);
            goto out;
        }
    }
    duckdb_vector tv = cv->tmode != TM_NONE ? duckdb_data_chunk_get_vector(ch, cv->time_src) : NULL;
    for (idx_t r = 0; r < n; r++) {
        int64_t ts = 0;
        if ((rc = row_time(cv, tv, r, &ts, eb)) != RC_OK)
            goto out;
        size_t row = batch_row_add(b, ts);
        for (size_t k = 0; k < cv->ncols; k++) {
            const struct out_col *c = &cv->cols[k];
            duckdb_vector v = duckdb_data_chunk_get_vector(ch, c->src);
            if (!row_valid(v, r))
                continue; /* rows start null */
            const void *d = duckdb_vector_get_data(v);
            if (c->text) {
                if ((rc = render_text(cv, c, v, r, b, idx[k], row, eb)) != RC_OK)
                    goto out;
                continue;
            }
            switch (c->type) {
            case COL_BOOL: batch_set_bool(b, idx[k], row, ((const bool *)d)[r]); break;
            case COL_UINT64: batch_set_u64(b, idx[k], row, ((const uint64_t *)d)[r]); break;
            case COL_DOUBLE: batch_set_f64(b, idx[k], row, read_double(c, c->tid, d, r)); break;
            case COL_INT64: {
                int64_t iv;
                if (!read_int(c->tid, d, r, &iv)) {
                    rc = errbuf_set(eb, RC_INVALID,
                                    "column '%s' holds a value that does not fit a 64-bit "
                                    "integer; CAST it to DOUBLE in the query",
                                    c->name);
                    goto out;
                }
                batch_set_i64(b, idx[k], row, iv);
                break;
            }
            case COL_STRING: {
                duckdb_string_t *s = (duckdb_string_t *)d;
                batch_set_str(b, idx[k], row, duckdb_string_t_data(&s[r]),
                              duckdb_string_t_length(s[r]));
                break;
            }
            }
        }
    }
    batch_seal(b);
    *out = b;
    b = NULL;
out:
    batch_unref(&b);
    xfree(idx);
    return rc;
}

/* ---- execution --------------------------------------------------------------- */

static void new_execution_id(char *out, size_t cap)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)time_mono_ns() ^ (uint32_t)((uint64_t)time_now_us() >> 7);
    snprintf(out, cap, "cq-exec-%08" PRIx32, r);
}

static int flush_dest(struct cq_service *svc, const struct cq_def *d, struct errbuf *eb)
{
    if (svc->fl)
        return flusher_flush(svc->fl, d->database, d->destination_measurement, svc->o.timeout_ms,
                             NULL, eb);
    return colbuf_flush_wait(svc->cb, d->database, d->destination_measurement, svc->o.timeout_ms,
                             NULL, eb);
}

/* Admits batches[0..n) in groups that fit the per-key limit; on
 * back-pressure flushes the destination and retries. */
static int admit_all(struct cq_service *svc, const struct cq_def *d, struct batch **bs, size_t n,
                     struct errbuf *eb)
{
    struct colbuf_stats st;
    colbuf_get_stats(svc->cb, &st);
    size_t group = st.hard_limit_rows / 2;
    if (group > ADMIT_GROUP_ROWS)
        group = ADMIT_GROUP_ROWS;
    if (group == 0)
        group = 1;
    size_t i = 0;
    while (i < n) {
        size_t j = i, rows = 0;
        while (j < n && (j == i || rows + bs[j]->nrows <= group))
            rows += bs[j++]->nrows;
        int rc = RC_OK;
        for (int attempt = 0;; attempt++) {
            struct errbuf aeb = {0};
            void *ticket = NULL;
            if (svc->o.wal_prepare &&
                (rc = svc->o.wal_prepare(svc->o.wal_ctx, bs + i, j - i, &ticket, &aeb)) != RC_OK) {
                if (rc == RC_BUSY && attempt < ADMIT_RETRIES) {
                    time_sleep_ms(100 << attempt); /* WAL queue full: let it drain */
                    continue;
                }
                errbuf_set(eb, rc, "cannot log the result to the WAL: %s", aeb.msg);
                break;
            }
            rc = colbuf_admit(svc->cb, bs + i, j - i, &aeb);
            if (rc == RC_OK && svc->o.wal_prepare) {
                if ((rc = svc->o.wal_commit(&ticket, &aeb)) != RC_OK) {
                    errbuf_set(eb, rc, "the WAL did not log the result: %s", aeb.msg);
                    break;
                }
            } else if (svc->o.wal_prepare) {
                svc->o.wal_abort(&ticket);
            }
            if (rc != RC_BUSY || attempt == ADMIT_RETRIES) {
                if (rc != RC_OK)
                    errbuf_set(eb, rc, "cannot buffer the result: %s", aeb.msg);
                break;
            }
            struct errbuf feb = {0};
            if (flush_dest(svc, d, &feb) != RC_OK)
                log_warn("cq", "flush before retrying admission failed name=%s err=%s", d->name,
                         feb.msg);
        }
        if (rc != RC_OK)
            return rc;
        i = j;
    }
    return RC_OK;
}

/* Runs the substituted SQL and converts its result. *out / *nout receive
 * the sealed batches (caller unrefs and frees). */
static int run_query(struct cq_service *svc, const struct cq_def *d, const char *sql,
                     int64_t exec_time_us, struct batch ***out, size_t *nout, struct errbuf *eb)
{
    *out = NULL;
    *nout = 0;
    struct query_request req = {
        .sql = sql, .default_db = d->database, .timeout_ms = svc->o.timeout_ms};
    struct query_cursor *cur = NULL;
    struct conv cv;
    memset(&cv, 0, sizeof(cv)); /* conv_cleanup accepts it as it is */
    struct batch **bs = NULL;
    size_t nb = 0, cap = 0;
    int rc = query_execute(svc->qe, &req, &cur, eb);
    if (rc != RC_OK)
        goto out;
    if (query_cursor_is_empty_measurement(cur))
        goto out; /* the source has no data at all */
    cv.exec_time_us = exec_time_us;
    if ((rc = conv_init(&cv, cur, d, svc->cat, eb)) != RC_OK)
        goto out;
    for (;;) {
        duckdb_data_chunk ch = NULL;
        if ((rc = query_cursor_next(cur, &ch, eb)) != RC_OK)
            goto out;
        if (!ch)
            break;
        struct batch *b = NULL;
        rc = conv_chunk(&cv, ch, &b, eb);
        duckdb_destroy_data_chunk(&ch);
        if (rc != RC_OK)
            goto out;
        if (!b)
            continue;
        if (nb == cap) {
            cap = cap ? cap * 2 : 8;
            bs = xrealloc(bs, cap * sizeof(*bs));
        }
        bs[nb++] = b;
    }
out:
    conv_cleanup(&cv);
    query_cursor_close(&cur);
    if (rc != RC_OK) {
        for (size_t i = 0; i < nb; i++)
            batch_unref(&bs[i]);
        xfree(bs);
        return rc;
    }
    *out = bs;
    *nout = nb;
    return RC_OK;
}

/* The run itself (slot held): query, buffer, flush, record. */
static int run_window(struct cq_service *svc, const struct cq_def *d, struct cq_exec_result *res,
                      struct errbuf *eb)
{
    int64_t t0 = time_mono_ns();
    struct batch **bs = NULL;
    size_t nb = 0;
    uint64_t rows = 0;
    int rc;
    if (faults_enabled("cq_fail")) {
        rc = errbuf_set(eb, RC_INTERNAL, "fault injected: cq_fail");
        goto out;
    }
    rc = run_query(svc, d, res->executed_query, res->executed_at_us, &bs, &nb, eb);
    if (rc != RC_OK)
        goto out;
    for (size_t i = 0; i < nb; i++)
        rows += bs[i]->nrows;
    if (nb) {
        if ((rc = admit_all(svc, d, bs, nb, eb)) != RC_OK)
            goto out;
        struct errbuf feb = {0};
        if ((rc = flush_dest(svc, d, &feb)) != RC_OK) {
            errbuf_set(eb, rc, "cannot flush the result: %s", feb.msg);
            goto out;
        }
        /* Results of queries that ran before this write are now stale
         * (SPEC §4.12). */
        (void)query_cache_clear();
    }
out:
    for (size_t i = 0; i < nb; i++)
        batch_unref(&bs[i]);
    xfree(bs);
    res->execution_time_s = (double)(time_mono_ns() - t0) / 1e9;
    struct cq_execution e;
    memset(&e, 0, sizeof(e));
    e.query_id = d->id;
    snprintf(e.execution_id, sizeof(e.execution_id), "%s", res->execution_id);
    e.execution_time_us = res->executed_at_us;
    e.start_us = res->start_us;
    e.end_us = res->end_us;
    e.duration_s = res->execution_time_s;
    if (rc == RC_OK) {
        snprintf(e.status, sizeof(e.status), "completed");
        e.records_written = (int64_t)rows;
        res->records_written = rows;
        res->status = "completed";
        metric_inc(m_runs_ok);
        metric_add(m_records, rows);
    } else {
        snprintf(e.status, sizeof(e.status), "failed");
        snprintf(e.error_message, sizeof(e.error_message), "%s",
                 eb && eb->msg[0] ? eb->msg : rc_name(rc));
        res->status = "failed";
        res->failed = true;
        metric_inc(m_runs_failed);
    }
    struct errbuf seb = {0};
    int src = cq_store_record(svc->store, &e, &seb);
    if (src != RC_OK) {
        /* The rows are written but the watermark did not move: the next
         * run redoes this window. Say so loudly. */
        log_error("cq", "cannot record execution name=%s execution_id=%s err=%s", d->name,
                  res->execution_id, seb.msg);
        if (rc == RC_OK) {
            res->status = "failed";
            res->failed = true;
            rc = errbuf_set(eb, src, "result written but the watermark could not be stored: %s",
                            seb.msg);
        }
    }
    if (rc == RC_OK)
        log_info("cq", "executed name=%s id=%lld window=[%lld,%lld) records=%llu seconds=%.3f",
                 d->name, (long long)d->id, (long long)res->start_us, (long long)res->end_us,
                 (unsigned long long)rows, res->execution_time_s);
    else
        log_error("cq", "execution failed name=%s id=%lld err=%s", d->name, (long long)d->id,
                  eb ? eb->msg : rc_name(rc));
    return rc;
}

static int execute(struct cq_service *svc, int64_t id, const struct cq_exec_request *req,
                   bool wait_slot, struct cq_exec_result *out, struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    out->query_id = id;
    out->status = "failed";
    out->dry_run = req->dry_run;
    int64_t now = req->now_us ? req->now_us : time_now_us();
    out->executed_at_us = now;
    struct cq_def d;
    memset(&d, 0, sizeof(d));
    struct strbuf sql;
    strbuf_init(&sql, 0);
    bool slot = false;
    int rc = cq_store_get(svc->store, id, &d, eb);
    if (rc != RC_OK)
        goto out;
    snprintf(out->query_name, sizeof(out->query_name), "%s", d.name);
    snprintf(out->destination_measurement, sizeof(out->destination_measurement), "%s",
             d.destination_measurement);
    if (!d.is_active) {
        rc = errbuf_set(eb, RC_INVALID, "Continuous query '%s' is not active", d.name);
        goto out;
    }
    int64_t lpt = d.last_processed_time_us;
    int64_t start = req->has_start ? req->start_us : lpt != CQ_TIME_NONE ? lpt : now - US_PER_HOUR;
    int64_t end = req->has_end ? req->end_us : now;
    if (start >= end) {
        rc = errbuf_set(eb, RC_INVALID, "start_time must be before end_time");
        goto out;
    }
    /* The watermark: never process time before it again. */
    if (lpt != CQ_TIME_NONE && start < lpt)
        start = lpt;
    out->start_us = start;
    out->end_us = end < start ? start : end;
    new_execution_id(out->execution_id, sizeof(out->execution_id));
    if (start >= end) {
        out->status = req->dry_run ? "dry_run" : "completed";
        out->nothing_to_do = true;
        goto out;
    }
    if ((rc = cq_substitute(d.query, start, end, &sql)) != RC_OK) {
        rc = errbuf_set(eb, RC_INTERNAL, "out of memory");
        goto out;
    }
    out->executed_query = strbuf_detach(&sql, NULL);
    if (req->dry_run) {
        out->status = "dry_run";
        goto out;
    }
    if ((rc = slot_acquire(svc, id, wait_slot, eb)) != RC_OK)
        goto out;
    slot = true;
    rc = run_window(svc, &d, out, eb);
out:
    if (slot)
        slot_release(svc, id);
    strbuf_cleanup(&sql);
    cq_def_cleanup(&d);
    return rc;
}

int cq_execute(struct cq_service *svc, int64_t id, const struct cq_exec_request *req,
               struct cq_exec_result *out, struct errbuf *eb)
{
    return execute(svc, id, req, false, out, eb);
}

/* ---- scheduling ---------------------------------------------------------------- */

/* Floor of t to a multiple of step (correct for negative t). */
static int64_t floor_to(int64_t t, int64_t step)
{
    int64_t q = t / step;
    if (t % step < 0)
        q--;
    return q * step;
}

int cq_run_due(struct cq_service *svc, int64_t now_us, size_t *out_ran, struct errbuf *eb)
{
    if (out_ran)
        *out_ran = 0;
    struct cq_def *defs = NULL;
    size_t n = 0;
    int rc = cq_store_list(svc->store, NULL, 1, &defs, &n, eb);
    if (rc != RC_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&svc->lock);
        bool stop = svc->stopping;
        pthread_mutex_unlock(&svc->lock);
        if (stop)
            break;
        const struct cq_def *d = &defs[i];
        int64_t end = floor_to(now_us, d->interval_us);
        int64_t start = d->last_processed_time_us != CQ_TIME_NONE ? d->last_processed_time_us
                                                                  : end - d->interval_us;
        if (start >= end)
            continue;
        struct cq_exec_request req = {
            .has_start = true, .has_end = true, .start_us = start, .end_us = end, .now_us = now_us};
        struct cq_exec_result res;
        struct errbuf xeb = {0};
        int xrc = execute(svc, d->id, &req, true, &res, &xeb);
        if (xrc == RC_OK || res.failed) {
            if (out_ran)
                (*out_ran)++;
        } else if (xrc != RC_EXISTS && xrc != RC_NOT_FOUND && xrc != RC_SHUTDOWN) {
            log_warn("cq", "scheduled run skipped name=%s err=%s", d->name, xeb.msg);
        }
        cq_exec_result_cleanup(&res);
    }
    cq_defs_free(&defs, n);
    return RC_OK;
}

static void *worker_main(void *arg)
{
    struct cq_service *svc = arg;
    pthread_setname_np(pthread_self(), "arc-cq");
    pthread_mutex_lock(&svc->lock);
    for (;;) {
        while (!svc->stopping && !svc->tick_pending)
            pthread_cond_wait(&svc->cond, &svc->lock);
        if (svc->stopping)
            break;
        svc->tick_pending = false;
        pthread_mutex_unlock(&svc->lock);
        struct errbuf eb = {0};
        if (cq_run_due(svc, time_now_us(), NULL, &eb) != RC_OK)
            log_error("cq", "scheduled pass failed err=%s", eb.msg);
        pthread_mutex_lock(&svc->lock);
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

/* Scheduler callback (scheduler thread): wake the worker, nothing else. */
static void on_tick(void *ctx, int64_t now_us)
{
    (void)ctx;
    (void)now_us;
    pthread_mutex_lock(&tick_target.lock);
    struct cq_service *svc = tick_target.svc;
    if (svc) {
        pthread_mutex_lock(&svc->lock);
        svc->tick_pending = true;
        pthread_cond_broadcast(&svc->cond);
        pthread_mutex_unlock(&svc->lock);
    }
    pthread_mutex_unlock(&tick_target.lock);
}

int cq_service_start_scheduler(struct cq_service *svc, struct scheduler *sched, struct errbuf *eb)
{
    pthread_mutex_lock(&svc->lock);
    if (svc->stopping) {
        pthread_mutex_unlock(&svc->lock);
        return errbuf_set(eb, RC_SHUTDOWN, "continuous queries are stopping");
    }
    if (!svc->worker_started) {
        if (pthread_create(&svc->worker, NULL, worker_main, svc) != 0) {
            pthread_mutex_unlock(&svc->lock);
            return errbuf_set(eb, RC_INTERNAL, "continuous queries: cannot start worker thread");
        }
        svc->worker_started = true;
    }
    pthread_mutex_unlock(&svc->lock);
    pthread_mutex_lock(&tick_target.lock);
    tick_target.svc = svc;
    pthread_mutex_unlock(&tick_target.lock);
    if (!sched)
        return RC_OK;
    return scheduler_add_interval(sched, "continuous_queries", TICK_MS, on_tick, NULL, eb);
}
