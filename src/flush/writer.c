/*
 * flush/writer.c — the flush sink (see writer.h): batches → one Parquet file
 * per UTC hour → storage → catalog.
 *
 * write(), per call:
 *
 *   parquet_job_begin (load batches into DuckDB, split by hour)
 *   for each hour:
 *       flush_key_format        key  db/m/YYYY/MM/DD/HH/m_YYYYMMDD_HHMMSS_NNNNNNNNN.parquet
 *       storage_staging_path    hidden local path next to the destination
 *       parquet_job_write_hour  DuckDB COPY → staging file
 *       storage_put_file        fsync + no-clobber rename (RC_EXISTS → next name)
 *   catalog_files_add           persisted, invisible
 *   → token {ids, keys}
 *
 * publish(token) → catalog_files_publish (memory only) and frees the token.
 *
 * Failure anywhere: staging files are unlinked and files already put by this
 * call are deleted from storage (and nothing was added to the catalog, which
 * is the last step), so a retry of the same batches cannot duplicate rows.
 *
 * Unique names: the nanosecond field is the write time's microseconds × 1000
 * plus a process-wide counter mod 1000; the no-clobber put catches the rest
 * (clock steps, other processes) and retries with the next counter value.
 * With a node id (flush_writer_options.node_id, storage.node_id) the name
 * ends in `_<node_id>.parquet`, so nodes sharing a bucket never collide and
 * the catalog refresh (flush/refresh.h) can tell its own files from others'.
 *
 * Threads: any number of flush workers call write() concurrently; the
 * writer's own state is immutable after flush_writer_new (the counter is
 * atomic). publish() does no I/O.
 */
#include "flush/writer.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "ingest/batch.h"
#include "metrics/metrics.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define PUT_ATTEMPTS 8

struct sort_rule {
    char *measurement;
    char **cols;
    size_t ncols;
};

struct flush_writer {
    /* Immutable after flush_writer_new. */
    struct storage *st;
    struct catalog *cat;
    struct parquet_engine *eng;
    enum parquet_compression compression;
    int compression_level;
    int64_t timeout_ms;
    char node_id[FLUSH_NODE_ID_MAX + 1]; /* "" = names without a node id */
    /* flush_writer_options.before_put (WAL flush intents), may be NULL */
    int (*before_put)(void *ctx, const char *db, const char *measurement, const char *key,
                      int64_t hour_start_us, struct batch *const *batches, size_t n, uint64_t *slot,
                      struct errbuf *eb);
    void *before_put_ctx;
    struct sort_rule *rules;
    size_t nrules;
    struct metric *m_duration; /* arc_flush_duration_seconds */
    struct metric *m_files;    /* arc_flush_files_written_total */
    struct metric *m_rows;     /* arc_flush_rows_written_total */
    struct metric *m_failures; /* arc_flush_write_failures_total */
};

struct token {
    size_t n;
    uint64_t *ids;
    char **keys;
};

static _Atomic uint64_t name_seq;

/* ---- options ---------------------------------------------------------------- */

static void free_rules(struct flush_writer *w)
{
    for (size_t i = 0; i < w->nrules; i++) {
        for (size_t k = 0; k < w->rules[i].ncols; k++)
            xfree(w->rules[i].cols[k]);
        xfree(w->rules[i].cols);
        xfree(w->rules[i].measurement);
    }
    xfree(w->rules);
    w->rules = NULL;
    w->nrules = 0;
}

/* "measurement:col1,col2" → rule. Column names are taken literally (no
 * trimming: names may contain spaces). */
static int parse_rule(const char *s, struct sort_rule *r, struct errbuf *eb)
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return errbuf_set(eb, RC_INVALID,
                          "ingestion.sort_keys: entry \"%.200s\" is not \"measurement:col1,col2\"",
                          s);
    size_t ml = (size_t)(colon - s);
    if (!name_is_valid_measurement(s, ml))
        return errbuf_set(eb, RC_INVALID, "ingestion.sort_keys: bad measurement in \"%.200s\"", s);
    memset(r, 0, sizeof(*r));
    r->measurement = xstrndup(s, ml);
    const char *c = colon + 1;
    for (;;) {
        const char *comma = strchr(c, ',');
        size_t cl = comma ? (size_t)(comma - c) : strlen(c);
        if (cl == 0 || cl > COLUMN_NAME_MAX) {
            for (size_t k = 0; k < r->ncols; k++)
                xfree(r->cols[k]);
            xfree(r->cols);
            xfree(r->measurement);
            return errbuf_set(eb, RC_INVALID, "ingestion.sort_keys: empty column in \"%.200s\"", s);
        }
        r->cols = xrealloc(r->cols, (r->ncols + 1) * sizeof(*r->cols));
        r->cols[r->ncols++] = xstrndup(c, cl);
        if (!comma)
            break;
        c = comma + 1;
    }
    return RC_OK;
}

static const struct sort_rule *rule_for(const struct flush_writer *w, const char *meas)
{
    for (size_t i = 0; i < w->nrules; i++)
        if (!strcmp(w->rules[i].measurement, meas))
            return &w->rules[i];
    return NULL;
}

int flush_writer_new(struct storage *st, struct catalog *cat,
                     const struct flush_writer_options *opts, struct flush_writer **out,
                     struct errbuf *eb)
{
    struct flush_writer *w = xcalloc(1, sizeof(*w));
    w->st = st;
    w->cat = cat;
    int rc = RC_OK;
    const char *comp = opts && opts->compression ? opts->compression : "snappy";
    if (!parquet_compression_parse(comp, &w->compression)) {
        rc = errbuf_set(eb, RC_INVALID,
                        "ingestion.compression: unknown codec \"%.64s\" (snappy, zstd, gzip, lz4, "
                        "none)",
                        comp);
        goto fail;
    }
    if (opts) {
        w->compression_level = opts->compression_level;
        w->timeout_ms = (int64_t)opts->flush_timeout_seconds * 1000;
        w->before_put = opts->before_put;
        w->before_put_ctx = opts->before_put_ctx;
        if (opts->node_id && opts->node_id[0]) {
            if (!flush_node_id_is_valid(opts->node_id)) {
                rc = errbuf_set(eb, RC_INVALID,
                                "storage.node_id: \"%.64s\" is not 1-%d characters of "
                                "[A-Za-z0-9-] starting with a letter",
                                opts->node_id, FLUSH_NODE_ID_MAX);
                goto fail;
            }
            snprintf(w->node_id, sizeof(w->node_id), "%s", opts->node_id);
        }
        if (opts->n_sort_keys)
            w->rules = xcalloc(opts->n_sort_keys, sizeof(*w->rules));
        for (size_t i = 0; i < opts->n_sort_keys; i++) {
            rc = parse_rule(opts->sort_keys[i], &w->rules[w->nrules], eb);
            if (rc != RC_OK)
                goto fail;
            w->nrules++;
            if (rule_for(w, w->rules[w->nrules - 1].measurement) != &w->rules[w->nrules - 1]) {
                rc = errbuf_set(eb, RC_INVALID,
                                "ingestion.sort_keys: measurement \"%s\" listed twice",
                                w->rules[w->nrules - 1].measurement);
                goto fail;
            }
        }
    }
    struct parquet_engine_options eo = {0};
    if (opts) {
        eo.threads = opts->duckdb_threads;
        eo.memory_limit = opts->duckdb_memory_limit;
        eo.temp_directory = opts->duckdb_temp_directory;
    }
    rc = parquet_engine_new(&eo, &w->eng, eb);
    if (rc != RC_OK)
        goto fail;
    w->m_duration = metrics_histogram("arc_flush_duration_seconds",
                                      "Time to write one flush to storage (all its files)", NULL);
    w->m_files =
        metrics_counter("arc_flush_files_written_total", "Parquet files written by flushes", NULL);
    w->m_rows =
        metrics_counter("arc_flush_rows_written_total", "Rows written to Parquet by flushes", NULL);
    w->m_failures = metrics_counter("arc_flush_write_failures_total",
                                    "Flush writes that failed (and were cleaned up)", NULL);
    *out = w;
    return RC_OK;
fail:
    free_rules(w);
    xfree(w);
    return rc;
}

void flush_writer_free(struct flush_writer **wp)
{
    if (!wp || !*wp)
        return;
    struct flush_writer *w = *wp;
    *wp = NULL;
    parquet_engine_free(&w->eng);
    free_rules(w);
    xfree(w);
}

/* ---- names -------------------------------------------------------------------- */

size_t flush_key_format(char *buf, size_t cap, const char *db, const char *measurement,
                        int64_t hour_start_us, int64_t write_ns, uint64_t seq)
{
    return flush_key_format_node(buf, cap, db, measurement, hour_start_us, write_ns, seq, NULL);
}

size_t flush_key_format_node(char *buf, size_t cap, const char *db, const char *measurement,
                             int64_t hour_start_us, int64_t write_ns, uint64_t seq,
                             const char *node_id)
{
    struct civil_time h, wt;
    time_to_civil(hour_start_us, &h);
    int64_t wsec = write_ns / 1000000000;
    int64_t wfrac = write_ns % 1000000000;
    if (wfrac < 0) {
        wfrac += 1000000000;
        wsec--;
    }
    time_to_civil(wsec * US_PER_SEC, &wt);
    long long nanos = (long long)(wfrac / 1000 * 1000 + (int64_t)(seq % 1000));
    bool node = node_id && node_id[0];
    int n = snprintf(
        buf, cap, "%s/%s/%04d/%02d/%02d/%02d/%s_%04d%02d%02d_%02d%02d%02d_%09lld%s%s.parquet", db,
        measurement, h.year, h.month, h.day, h.hour, measurement, wt.year, wt.month, wt.day,
        wt.hour, wt.minute, wt.second, nanos, node ? "_" : "", node ? node_id : "");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- write ---------------------------------------------------------------------- */

static void token_free(struct token *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        xfree(t->keys[i]);
    xfree(t->keys);
    xfree(t->ids);
    xfree(t);
}

size_t flush_writer_token_files(const void *token, const char *const **keys, const uint64_t **ids)
{
    const struct token *t = token;
    if (keys)
        *keys = (const char *const *)t->keys;
    if (ids)
        *ids = t->ids;
    return t->n;
}

/* Writes hour `hi` of the job to a fresh key; on success *key_out is the
 * (xmalloc'd) key and *bytes its size. Cleans up its staging file itself. */
static int write_one_hour(struct flush_writer *w, struct parquet_job *job, size_t hi,
                          const char *db, const char *meas, const struct parquet_write_options *po,
                          struct batch *const *batches, size_t n, char **key_out, uint64_t *bytes,
                          struct errbuf *eb)
{
    const struct parquet_hour *hours;
    parquet_job_hours(job, &hours);
    char key[STORAGE_KEY_MAX + 1], staging[4096];
    uint64_t seq = atomic_fetch_add_explicit(&name_seq, 1, memory_order_relaxed);
    if (!flush_key_format_node(key, sizeof(key), db, meas, hours[hi].hour_start_us, wall_ns(), seq,
                               w->node_id))
        return errbuf_set(eb, RC_INTERNAL, "flush: key too long");
    int rc = storage_staging_path(w->st, key, staging, sizeof(staging), eb);
    if (rc != RC_OK)
        return rc;
    rc = parquet_job_write_hour(job, hi, staging, po, eb);
    if (rc != RC_OK) {
        unlink(staging);
        return rc;
    }
    uint64_t intent_slot = 0;
    for (int attempt = 0;; attempt++) {
        /* The WAL logs which file will hold these rows before it can exist,
         * so a replay after a crash skips exactly the rows that made it. */
        if (w->before_put) {
            rc = w->before_put(w->before_put_ctx, db, meas, key, hours[hi].hour_start_us, batches,
                               n, &intent_slot, eb);
            if (rc != RC_OK)
                break;
        }
        rc = storage_put_file(w->st, staging, key, STORAGE_PUT_NOREPLACE, bytes, eb);
        if (rc != RC_EXISTS || attempt + 1 >= PUT_ATTEMPTS)
            break;
        /* Name taken (clock step, another writer): the next counter value. */
        errbuf_clear(eb);
        log_warn("flush", "file name collision, retrying key=%s", key);
        seq = atomic_fetch_add_explicit(&name_seq, 1, memory_order_relaxed);
        if (!flush_key_format_node(key, sizeof(key), db, meas, hours[hi].hour_start_us, wall_ns(),
                                   seq, w->node_id)) {
            rc = errbuf_set(eb, RC_INTERNAL, "flush: key too long");
            break;
        }
    }
    if (rc != RC_OK) {
        unlink(staging); /* put failed: the staging file was not moved */
        return rc;
    }
    *key_out = xstrdup(key);
    return RC_OK;
}

int flush_writer_write(struct flush_writer *w, const char *db, const char *measurement,
                       struct batch *const *batches, size_t n, void **out_token, struct errbuf *eb)
{
    int64_t t0 = time_mono_ns();
    int64_t deadline = w->timeout_ms ? time_mono_ms() + w->timeout_ms : 0;
    struct parquet_job *job = NULL;
    struct token *tok = xcalloc(1, sizeof(*tok));
    struct catalog_file_entry *entries = NULL;
    size_t nhours = 0;
    int rc = RC_OK;

    if (!db || !measurement || !name_is_valid_database(db, strlen(db)) ||
        !name_is_valid_measurement(measurement, strlen(measurement))) {
        rc = errbuf_set(eb, RC_INVALID, "flush: invalid database or measurement name");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(batches[i]->db, db) || strcmp(batches[i]->measurement, measurement)) {
            rc = errbuf_set(eb, RC_INVALID, "flush: batch of %s/%s handed in for %s/%s",
                            batches[i]->db, batches[i]->measurement, db, measurement);
            goto out;
        }
    }
    rc = parquet_job_begin(w->eng, batches, n, deadline, &job, eb);
    if (rc != RC_OK)
        goto out;
    const struct parquet_hour *hours;
    nhours = parquet_job_hours(job, &hours);
    const struct sort_rule *rule = rule_for(w, measurement);
    struct parquet_write_options po = {
        .compression = w->compression,
        .compression_level = w->compression_level,
        .sort_keys = rule ? (const char *const *)rule->cols : NULL,
        .n_sort_keys = rule ? rule->ncols : 0,
    };
    tok->ids = xcalloc(nhours ? nhours : 1, sizeof(*tok->ids));
    tok->keys = xcalloc(nhours ? nhours : 1, sizeof(*tok->keys));
    entries = xcalloc(nhours ? nhours : 1, sizeof(*entries));
    for (size_t hi = 0; hi < nhours; hi++) {
        if (deadline && time_mono_ms() >= deadline) {
            rc = errbuf_set(eb, RC_TIMEOUT, "flush: deadline passed after %zu of %zu files", hi,
                            nhours);
            goto out;
        }
        uint64_t bytes = 0;
        rc = write_one_hour(w, job, hi, db, measurement, &po, batches, n, &tok->keys[tok->n],
                            &bytes, eb);
        if (rc != RC_OK)
            goto out;
        entries[hi] = (struct catalog_file_entry){
            .key = tok->keys[tok->n],
            .db = db,
            .measurement = measurement,
            .min_time_us = hours[hi].min_time_us,
            .max_time_us = hours[hi].max_time_us,
            .row_count = (int64_t)hours[hi].rows,
            .bytes = bytes,
            .tier = CATALOG_TIER_RAW,
        };
        tok->n++;
    }
    if (tok->n) {
        rc = catalog_files_add(w->cat, entries, tok->n, tok->ids, eb);
        if (rc != RC_OK)
            goto out;
    }
out:;
    uint64_t rows = job ? parquet_job_rows(job) : 0;
    parquet_job_end(&job);
    xfree(entries);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    metric_observe(w->m_duration, secs);
    if (rc != RC_OK) {
        metric_inc(w->m_failures);
        if (tok->n) {
            /* Undo: a retry of these batches must not find their rows twice. */
            struct errbuf eb2 = {0};
            size_t failed = 0;
            if (storage_delete_many(w->st, (const char *const *)tok->keys, tok->n, &failed, &eb2) !=
                RC_OK)
                log_error("flush", "cleanup after failed flush left %zu files: %s", failed,
                          eb2.msg);
        }
        log_warn("flush", "write failed db=%s measurement=%s rc=%s err=%s", db ? db : "",
                 measurement ? measurement : "", rc_name(rc), eb ? eb->msg : "");
        token_free(tok);
        return rc;
    }
    metric_add(w->m_files, tok->n);
    metric_add(w->m_rows, rows);
    log_debug("flush", "wrote db=%s measurement=%s rows=%llu files=%zu seconds=%.3f", db,
              measurement, (unsigned long long)rows, tok->n, secs);
    *out_token = tok;
    return RC_OK;
}

void flush_writer_publish(struct flush_writer *w, void *token)
{
    struct token *t = token;
    if (!t)
        return;
    catalog_files_publish(w->cat, t->ids, t->n);
    token_free(t);
}

void flush_writer_discard(struct flush_writer *w, void *token)
{
    struct token *t = token;
    if (!t)
        return;
    if (t->n) {
        struct errbuf eb = {0};
        if (catalog_files_remove(w->cat, t->ids, t->n, &eb) != RC_OK)
            log_error("flush", "discard: cannot remove catalog entries: %s", eb.msg);
        errbuf_clear(&eb);
        size_t failed = 0;
        if (storage_delete_many(w->st, (const char *const *)t->keys, t->n, &failed, &eb) != RC_OK)
            log_error("flush", "discard: %zu files left in storage: %s", failed, eb.msg);
    }
    token_free(t);
}

static int sink_write(void *ctx, const char *db, const char *measurement,
                      struct batch *const *batches, size_t n, void **out_token, struct errbuf *eb)
{
    return flush_writer_write(ctx, db, measurement, batches, n, out_token, eb);
}

static void sink_publish(void *ctx, void *token)
{
    flush_writer_publish(ctx, token);
}

static void sink_discard(void *ctx, void *token)
{
    flush_writer_discard(ctx, token);
}

struct flush_sink flush_writer_sink(struct flush_writer *w)
{
    struct flush_sink s = {
        .write = sink_write, .publish = sink_publish, .discard = sink_discard, .ctx = w};
    return s;
}

/* ---- reconcile glue ------------------------------------------------------------ */

static int lister_list(void *ctx, const char *prefix, catalog_object_fn fn, void *fn_ctx,
                       struct errbuf *eb)
{
    /* catalog_object_fn and storage_list_fn are the same function type. */
    return storage_list(ctx, prefix, fn, fn_ctx, eb);
}

int flush_catalog_reconcile(struct catalog *cat, struct storage *st,
                            struct catalog_reconcile_stats *stats, struct errbuf *eb)
{
    struct catalog_lister l = {.list = lister_list, .ctx = st};
    return catalog_reconcile(cat, &l, stats, eb);
}
