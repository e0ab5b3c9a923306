/*
 * jobs/retention_exec.c — executing a retention policy (retention.h,
 * SPEC §8.1): choosing the files entirely older than the cut-off, then per
 * partition lock → catalog removal → object deletion → empty directory
 * removal → unlock, and recording the run.
 *
 * File selection. The catalog's time range is exact for files Arc wrote
 * (flush, compaction); for files registered from a storage listing
 * (row_count unknown) it is the range of their hour/day directory, an
 * over-approximation. A file is a candidate when its catalog max < cutoff
 * (exact either way, since the true max is not larger); when only the
 * approximate range straddles the cutoff, the Parquet statistics decide.
 * Rows of files with unknown counts are read from their footers, so
 * deleted_count is exact for dry runs too.
 *
 * Threads: HTTP worker threads (execute) and the scheduled-run thread.
 */
#include "jobs/retention_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "jobs/compaction_internal.h"
#include "jobs/scheduler.h"
#include "query/qcache.h"
#include "storage/storage.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

struct cand {
    uint64_t id;
    char *key;
    int64_t rows;
    char part[COMPACTION_PARTITION_MAX + 1];
};

static int cmp_cand(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    int c = strcmp(x->part, y->part);
    return c ? c : strcmp(x->key, y->key);
}

/* Reads rows and time range of one file from its footer (downloading it
 * for remote storage). */
static int file_stats(struct retention *r, const char *key, int64_t *rows, int64_t *min_us,
                      int64_t *max_us, struct errbuf *eb)
{
    const char *root = storage_local_root(r->st);
    char path[1400];
    bool tmp = false;
    int rc = RC_OK;
    if (root) {
        snprintf(path, sizeof(path), "%s/%s", root, key);
    } else {
        snprintf(path, sizeof(path), "%s/retention-%d-%llu.parquet", r->temp_dir, (int)getpid(),
                 (unsigned long long)atomic_fetch_add(&r->exec_seq, 1));
        if ((rc = storage_get_file(r->st, key, path, eb)) != RC_OK)
            return rc;
        tmp = true;
    }
    pthread_mutex_lock(&r->duck_lock);
    if (!r->duck) {
        rc = compaction__duckdb_open(1, NULL, NULL, &r->duck, eb);
        if (rc == RC_OK && (rc = compaction__duckdb_connect(r->duck, &r->duck_conn, eb)) != RC_OK)
            duckdb_close(&r->duck);
    }
    if (rc == RC_OK)
        rc = compaction__file_stats(r->duck_conn, path, rows, min_us, max_us, eb);
    pthread_mutex_unlock(&r->duck_lock);
    if (tmp)
        unlink(path);
    return rc;
}

static void part_of(const char *db, const char *meas, const char *key, char *out, size_t cap)
{
    struct compaction_key k;
    if (compaction__parse_key(key, &k)) {
        size_t len = k.in_hour_dir ? k.hour_dir_len : k.day_dir_len;
        snprintf(out, cap, "%.*s", (int)len, key);
    } else {
        /* Outside the layout: lock the whole measurement. */
        snprintf(out, cap, "%s/%s", db, meas);
    }
}

/* Candidates of one measurement. */
static void collect(struct retention *r, const char *db, const char *meas, int64_t cutoff,
                    struct cand **out, size_t *n_out)
{
    struct catalog_file_list fl;
    catalog_files_list(r->cat, db, meas, INT64_MIN, INT64_MAX, &fl);
    struct cand *v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < fl.n; i++) {
        const struct catalog_file *f = &fl.files[i];
        bool approx = f->row_count == CATALOG_ROWS_UNKNOWN;
        int64_t rows = f->row_count;
        if (f->max_time_us >= cutoff) {
            /* Straddles or is newer. Only an approximate range can hide a
             * file that is really older. */
            if (!approx || f->min_time_us >= cutoff)
                continue;
        }
        if (approx) {
            int64_t lo = 0, hi = 0;
            struct errbuf seb = {0};
            if (file_stats(r, f->key, &rows, &lo, &hi, &seb) != RC_OK) {
                if (f->max_time_us >= cutoff) {
                    log_warn("retention", "cannot read statistics, file kept key=%s err=%s", f->key,
                             seb.msg);
                    continue;
                }
                /* Entirely older by its directory: delete; rows unknown. */
                log_warn("retention", "cannot count rows of an expired file key=%s err=%s", f->key,
                         seb.msg);
                rows = 0;
            } else if (rows > 0 && hi >= cutoff) {
                continue;
            }
        }
        if (!n || (n & (n - 1)) == 0)
            v = xrealloc(v, (n ? n * 2 : 1) * sizeof(*v));
        struct cand *c = &v[n++];
        c->id = f->id;
        c->key = xstrdup(f->key);
        c->rows = rows < 0 ? 0 : rows;
        part_of(db, meas, f->key, c->part, sizeof(c->part));
    }
    catalog_file_list_free(&fl);
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_cand);
    *out = v;
    *n_out = n;
}

static void cands_free(struct cand *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xfree(v[i].key);
    xfree(v);
}

static bool lock_wait(struct retention *r, const char *part, const char *owner)
{
    int64_t end = time_mono_ms() + r->lock_wait_ms;
    for (;;) {
        if (partlock_try(part, owner, r->lock_ttl_ms))
            return true;
        if (time_mono_ms() >= end)
            return false;
        time_sleep_ms(50);
    }
}

/* Deletes the candidates v[0..n) of one partition (lock held). Counts
 * what was deleted. */
static int delete_part(struct retention *r, const char *db, const char *meas, struct cand *v,
                       size_t n, uint64_t *files, int64_t *rows, struct errbuf *eb)
{
    /* Keep only files still visible: another run may have removed some
     * before we got the lock. */
    struct catalog_file_list fl;
    catalog_files_list(r->cat, db, meas, INT64_MIN, INT64_MAX, &fl);
    uint64_t *ids = xmalloc(n * sizeof(*ids));
    const char **keys = xmalloc(n * sizeof(*keys));
    size_t k = 0;
    int64_t k_rows = 0;
    for (size_t i = 0; i < n; i++) {
        bool visible = false;
        for (size_t j = 0; j < fl.n && !visible; j++)
            visible = fl.files[j].id == v[i].id;
        if (!visible)
            continue;
        ids[k] = v[i].id;
        keys[k] = v[i].key;
        k_rows += v[i].rows;
        k++;
    }
    catalog_file_list_free(&fl);
    int rc = RC_OK;
    if (k) {
        /* Catalog first: from here on no query lists these files. */
        rc = catalog_files_remove(r->cat, ids, k, eb);
        if (rc == RC_OK) {
            size_t failed = 0;
            rc = storage_delete_many(r->st, keys, k, &failed, eb);
            for (size_t i = 0; i < k; i++)
                compaction__remove_empty_dirs(r->st, keys[i], 4);
            *files += k;
            *rows += k_rows;
        }
    }
    xfree(ids);
    xfree(keys);
    return rc;
}

static void add_affected(struct retention_result *out, const char *meas)
{
    for (size_t i = 0; i < out->n_affected; i++)
        if (strcmp(out->affected[i], meas) == 0)
            return;
    out->affected = xrealloc(out->affected, (out->n_affected + 1) * sizeof(*out->affected));
    snprintf(out->affected[out->n_affected++], sizeof(*out->affected), "%s", meas);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

void retention_result_cleanup(struct retention_result *res)
{
    if (!res)
        return;
    xfree(res->affected);
    res->affected = NULL;
    res->n_affected = 0;
}

int retention_execute(struct retention *r, int64_t id, bool dry_run, bool confirm, int64_t now_us,
                      struct retention_result *out, struct errbuf *eb)
{
    memset(out, 0, sizeof(*out));
    int64_t t0 = time_mono_ns();
    struct retention_policy p;
    int rc = retention_get(r, id, &p, eb);
    if (rc != RC_OK)
        return rc;
    if (!p.is_active)
        return errbuf_set(eb, RC_INVALID, "Retention policy is not active");
    if (!dry_run && !confirm)
        return errbuf_set(eb, RC_INVALID,
                          "confirm must be true to execute a retention policy (or use dry_run)");
    out->policy_id = p.id;
    snprintf(out->policy_name, sizeof(out->policy_name), "%s", p.name);
    out->dry_run = dry_run;
    out->cutoff_us = now_us - (p.retention_days + p.buffer_days) * US_PER_DAY;

    char(*names)[MEASUREMENT_NAME_MAX + 1] = NULL;
    size_t nm = 0;
    if (p.has_measurement) {
        names = xmalloc(sizeof(*names));
        snprintf(names[0], sizeof(names[0]), "%s", p.measurement);
        nm = 1;
    } else {
        struct catalog_measurement_info *ms = NULL;
        catalog_measurements(r->cat, p.database, &ms, &nm);
        names = xmalloc((nm + 1) * sizeof(*names));
        for (size_t i = 0; i < nm; i++)
            snprintf(names[i], sizeof(names[i]), "%s", ms[i].name);
        xfree(ms);
    }
    char owner[64];
    snprintf(owner, sizeof(owner), "retention:%lld:%llu", (long long)p.id,
             (unsigned long long)atomic_fetch_add(&r->exec_seq, 1));
    for (size_t m = 0; m < nm && rc == RC_OK; m++) {
        struct cand *v = NULL;
        size_t n = 0;
        collect(r, p.database, names[m], out->cutoff_us, &v, &n);
        for (size_t i = 0; i < n && rc == RC_OK;) {
            size_t j = i + 1;
            while (j < n && strcmp(v[j].part, v[i].part) == 0)
                j++;
            uint64_t files_before = out->files_deleted;
            if (dry_run) {
                for (size_t k = i; k < j; k++)
                    out->deleted_count += v[k].rows;
                out->files_deleted += j - i;
            } else if (!lock_wait(r, v[i].part, owner)) {
                log_warn("retention",
                         "partition busy, skipped this run policy=%s partition=%s "
                         "files=%zu",
                         p.name, v[i].part, j - i);
                out->files_skipped += j - i;
            } else {
                rc = delete_part(r, p.database, names[m], &v[i], j - i, &out->files_deleted,
                                 &out->deleted_count, eb);
                partlock_release(v[i].part, owner);
            }
            if (out->files_deleted > files_before)
                add_affected(out, names[m]);
            i = j;
        }
        cands_free(v, n);
    }
    xfree(names);
    if (!dry_run && out->files_deleted)
        (void)query_cache_clear(); /* SPEC §4.12 */
    if (out->n_affected > 1)
        qsort(out->affected, out->n_affected, sizeof(*out->affected), cmp_name);
    out->execution_time_ms = (double)(time_mono_ns() - t0) / 1e6;
    char cut[40];
    time_format_rfc3339_us(out->cutoff_us, cut, sizeof(cut));
    if (rc == RC_OK)
        log_info("retention", "%s policy=%s cutoff=%s files=%llu rows=%lld skipped=%llu ms=%.1f",
                 dry_run ? "dry run" : "executed", p.name, cut,
                 (unsigned long long)out->files_deleted, (long long)out->deleted_count,
                 (unsigned long long)out->files_skipped, out->execution_time_ms);
    else
        log_error("retention", "execution failed policy=%s cutoff=%s err=%s", p.name, cut,
                  eb ? eb->msg : "");
    if (!dry_run) {
        metric_inc(rc == RC_OK ? r->m_runs_ok : r->m_runs_failed);
        metric_add(r->m_files, out->files_deleted);
        metric_add(r->m_rows, (uint64_t)out->deleted_count);
        struct errbuf reb = {0};
        if (retention__record(r, p.id, time_now_us(), rc == RC_OK, out->deleted_count,
                              out->cutoff_us, out->execution_time_ms,
                              rc == RC_OK ? NULL : (eb ? eb->msg : "failed"), &reb) != RC_OK)
            log_error("retention", "cannot record execution policy=%s err=%s", p.name, reb.msg);
    }
    return rc;
}

int retention_run_all(struct retention *r, int64_t now_us, size_t *out_ran, struct errbuf *eb)
{
    *out_ran = 0;
    struct retention_policy *ps = NULL;
    size_t n = 0;
    int rc = retention_list(r, &ps, &n, eb);
    if (rc != RC_OK)
        return rc;
    int first = RC_OK;
    for (size_t i = 0; i < n; i++) {
        if (!ps[i].is_active)
            continue;
        struct retention_result res;
        struct errbuf peb = {0};
        int prc = retention_execute(r, ps[i].id, false, true, now_us, &res, &peb);
        retention_result_cleanup(&res);
        if (prc == RC_NOT_FOUND)
            continue; /* deleted meanwhile */
        (*out_ran)++;
        if (prc != RC_OK && first == RC_OK) {
            first = prc;
            errbuf_set(eb, prc, "policy %s: %s", ps[i].name, peb.msg);
        }
    }
    xfree(ps);
    return first;
}
