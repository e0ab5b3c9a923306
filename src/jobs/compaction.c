/*
 * jobs/compaction.c — the compaction manager (compaction.h): cycles, jobs,
 * the swap of one batch, retirement of inputs, statistics and history.
 *
 * DESIGN.
 *
 *   compaction_trigger ──► pending cycle ──► manager thread "arc-compact"
 *        run_cycle: per tier (hourly, then daily): plan the eligible
 *        partitions, start min(max_concurrent_jobs, n) workers
 *        "arc-compact-w" that take partitions from a shared index, wait
 *        for them (checking job deadlines every second), join.
 *   run_job (worker): partition lock ──► fresh listing of the partition
 *        ──► batches ──► run_batch each ──► unlock ──► history.
 *   run_batch: local inputs (downloaded for remote storage) ──► merge
 *        (compaction_merge.c) ──► manifest ──► put ──► catalog add ──►
 *        catalog swap ──► query_cache_clear ──► retire (delete now, or
 *        queue for retire_grace_ms) ──► manifest removed after the delete.
 *
 * Why a grace period instead of reference counts: a query copies the
 * visible file list at its start and DuckDB opens the files some time
 * later; deleting an input right after the swap would give such a query an
 * IO error. The query engine has no per-file pins, so inputs are deleted
 * retire_grace_ms (default: the query timeout + 30 s) after the swap. The
 * manifest stays until then, so a crash during the grace period is
 * completed at the next start.
 *
 * Locks: `lock` guards the cycle state, the job list, history, statistics
 * and the retire queue. It is never held across I/O or DuckDB calls, with
 * one exception: duckdb_interrupt (it only sets a flag) is called under it
 * so that a job's connection cannot be closed meanwhile (as in
 * flush/parquet.c). Lock order: lock → partlock's mutex (partlock_is_held
 * is never called under lock, so in practice there is no nesting) ;
 * catalog and storage are called without lock.
 *
 * Threads: see compaction.h.
 */
#include "jobs/compaction.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "flush/parquet.h"
#include "jobs/compaction_internal.h"
#include "jobs/scheduler.h"
#include "metrics/metrics.h"
#include "query/qcache.h"
#include "storage/storage.h"
#include "util/condvar.h"
#include "util/config.h"
#include "util/faults.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define DEADLINE_MARGIN_MS (5 * 60 * 1000)
#define MIN_DEADLINE_MS (60 * 1000)
#define RETIRE_RETRY_MS (30 * 1000)
#define WORK_PATH_MAX 1200

static const char *const sched_names[COMPACTION_NTIERS] = {"compaction-hourly", "compaction-daily"};

struct retire {
    struct cmanifest m;
    int64_t due_mono_ms;
    struct retire *next;
};

struct cjob {
    struct compaction_job_info info; /* under lock */
    int64_t start_mono_ms;
    int64_t deadline_mono_ms;
    duckdb_connection conn; /* under lock; NULL when none */
};

struct compaction {
    /* Immutable after compaction_new. */
    struct compaction_options o;
    char *temp_dir, *manifest_dir, *node_id, *schedules[COMPACTION_NTIERS];
    char **sort_key_entries;
    const char *duck_compression;
    int64_t lock_ttl_ms, retire_grace_ms;
    struct storage *st;
    struct catalog *cat;
    duckdb_database duck;
    pthread_t thread;
    struct metric *m_jobs_started, *m_jobs_ok, *m_jobs_failed, *m_files, *m_bytes_before,
        *m_bytes_after, *m_corrupt;

    atomic_bool stopping;

    /* lock guards everything below. */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* manager wake-ups, worker completion */
    pthread_cond_t idle; /* a cycle ended */
    struct scheduler *sched;
    bool pending, running;
    unsigned pending_tiers;
    char pending_db[DB_NAME_MAX + 1];
    uint64_t cycle_id; /* running/pending one, or the last */
    int64_t last_cycle_start_us, last_cycle_end_us;
    /* the current tier's work queue (manager + its workers) */
    struct cplan_part *queue;
    size_t qn, qnext, workers_done;
    uint64_t next_job_id;
    struct cjob **active;
    size_t nactive, active_cap;
    struct compaction_job_info *hist; /* ring of COMPACTION_HISTORY_MAX */
    size_t hist_start, hist_n;
    uint64_t hist_total;
    struct compaction_tier_stats ts[COMPACTION_NTIERS];
    uint64_t skipped_corrupt;
    struct retire *retire_head, *retire_tail;
    size_t nretire;
};

/* ---- options ---------------------------------------------------------------- */

void compaction_options_from_config(const struct config *cfg, struct compaction_options *o)
{
    memset(o, 0, sizeof(*o));
    const struct config_compaction *c = &cfg->compaction;
    o->tiers[COMPACTION_HOURLY] = (struct compaction_tier_options){
        .enabled = c->enabled,
        .schedule = c->schedule,
        .min_age_hours = c->min_age_hours,
        .min_files = c->min_files,
        .target_file_size_mb = c->target_file_size_mb,
    };
    o->tiers[COMPACTION_DAILY] = (struct compaction_tier_options){
        .enabled = c->enabled && c->daily.enabled,
        .schedule = c->daily.schedule,
        .min_age_hours = c->daily.min_age_hours,
        .min_files = c->daily.min_files,
        .target_file_size_mb = c->daily.target_file_size_mb,
    };
    o->max_concurrent_jobs = c->max_concurrent_jobs;
    o->max_files_per_batch = c->max_files_per_batch;
    o->settle_seconds = c->settle_seconds;
    o->lock_ttl_hours = c->lock_ttl_hours;
    o->temp_dir = c->temp_dir;
    o->compression = c->compression;
    o->compression_level = (int)c->compression_level;
    o->dedup = c->dedup;
    o->sort_keys = (const char *const *)cfg->ingestion.sort_keys.items;
    o->n_sort_keys = cfg->ingestion.sort_keys.count;
    int64_t qt = cfg->query.timeout_seconds > 0 ? cfg->query.timeout_seconds : 300;
    o->retire_grace_ms = (qt + 30) * 1000;
    o->duckdb_threads = 1;
    o->duckdb_memory_limit = cfg->duckdb.memory_limit;
}

static const char *duck_compression(const char *name, bool *ok)
{
    enum parquet_compression pc;
    *ok = parquet_compression_parse(name ? name : "zstd", &pc);
    switch (pc) {
    case PARQUET_SNAPPY: return "snappy";
    case PARQUET_ZSTD: return "zstd";
    case PARQUET_GZIP: return "gzip";
    case PARQUET_LZ4: return "lz4_raw";
    case PARQUET_NONE: return "uncompressed";
    }
    return "zstd";
}

/* ---- history and statistics (lock held) ------------------------------------- */

static void hist_push(struct compaction *c, const struct compaction_job_info *info)
{
    if (!c->hist)
        c->hist = xcalloc(COMPACTION_HISTORY_MAX, sizeof(*c->hist));
    size_t idx = (c->hist_start + c->hist_n) % COMPACTION_HISTORY_MAX;
    if (c->hist_n == COMPACTION_HISTORY_MAX)
        c->hist_start = (c->hist_start + 1) % COMPACTION_HISTORY_MAX;
    else
        c->hist_n++;
    c->hist[idx] = *info;
    c->hist_total++;
}

static void active_remove(struct compaction *c, struct cjob *j)
{
    for (size_t i = 0; i < c->nactive; i++) {
        if (c->active[i] == j) {
            memmove(&c->active[i], &c->active[i + 1], (c->nactive - i - 1) * sizeof(*c->active));
            c->nactive--;
            return;
        }
    }
}

/* ---- one batch ------------------------------------------------------------------ */

struct batch_ctx {
    struct compaction *c;
    struct cjob *job;
    const struct cplan_part *part;
    const char *workdir;
    duckdb_connection conn;
    char **sort_cols;
    size_t n_sort_cols;
};

/* Puts the output under a fresh key, retrying on a name collision (the
 * manifest is rewritten for each new key). On success m->path is the
 * manifest and *bytes the object size. */
static int put_output(struct batch_ctx *b, unsigned batch_no, const char *out_path,
                      struct cmanifest *m, uint64_t *bytes, struct errbuf *eb)
{
    struct compaction *c = b->c;
    char key[STORAGE_KEY_MAX + 1];
    for (int attempt = 0; attempt < 5; attempt++) {
        int64_t ns = time_now_us() * 1000 + attempt;
        if (!compaction__output_key(key, sizeof(key), b->part, ns, batch_no, c->node_id) ||
            !storage_key_is_valid(key))
            return errbuf_set(eb, RC_INVALID, "compaction: output key too long for %s",
                              b->part->path);
        xfree(m->output_key);
        m->output_key = xstrdup(key);
        int rc = compaction__manifest_write(c->manifest_dir, m, eb);
        if (rc != RC_OK)
            return rc;
        compaction__crash_point("compaction_crash_after_manifest");
        rc = storage_put_file(c->st, out_path, key, STORAGE_PUT_NOREPLACE, bytes, eb);
        if (rc == RC_OK)
            return RC_OK;
        compaction__manifest_remove(m);
        m->path[0] = '\0';
        if (rc != RC_EXISTS)
            return rc;
        errbuf_clear(eb);
    }
    return errbuf_set(eb, RC_EXISTS, "compaction: no free output name in %s", b->part->path);
}

static void retire_enqueue(struct compaction *c, struct cmanifest *m)
{
    struct retire *r = xcalloc(1, sizeof(*r));
    r->m = *m; /* takes the strings */
    memset(m, 0, sizeof(*m));
    r->due_mono_ms = time_mono_ms() + c->retire_grace_ms;
    pthread_mutex_lock(&c->lock);
    if (c->retire_tail)
        c->retire_tail->next = r;
    else
        c->retire_head = r;
    c->retire_tail = r;
    c->nretire++;
    pthread_mutex_unlock(&c->lock);
}

/* Deletes the inputs of one swap and removes its manifest. */
static int retire_now(struct compaction *c, struct cmanifest *m, struct errbuf *eb)
{
    uint64_t deleted = 0;
    int rc = compaction__delete_inputs(c->st, m, &deleted, eb);
    if (rc != RC_OK)
        return rc;
    compaction__crash_point("compaction_crash_after_delete");
    compaction__manifest_remove(m);
    return RC_OK;
}

static int run_batch(struct batch_ctx *b, const struct cplan_file *files, size_t n,
                     unsigned batch_no, struct errbuf *eb)
{
    struct compaction *c = b->c;
    const char *root = storage_local_root(c->st);
    struct cmerge_input *in = xcalloc(n, sizeof(*in));
    char **paths = xcalloc(n, sizeof(*paths));
    uint64_t *ids = xcalloc(n, sizeof(*ids));
    struct cmanifest m = {0};
    char out_path[WORK_PATH_MAX];
    bool put_done = false;
    uint64_t new_id = 0;
    int rc = RC_OK;
    int pl = snprintf(out_path, sizeof(out_path), "%s/out-b%u.parquet", b->workdir, batch_no);
    if (pl < 0 || (size_t)pl >= sizeof(out_path)) {
        out_path[0] = '\0'; /* never remove() a truncated path */
        rc = errbuf_set(eb, RC_INVALID, "compaction: work path too long");
        goto out;
    }

    for (size_t i = 0; i < n; i++) {
        char p[WORK_PATH_MAX + STORAGE_KEY_MAX + 2];
        pl = root ? snprintf(p, sizeof(p), "%s/%s", root, files[i].key)
                  : snprintf(p, sizeof(p), "%s/in-b%u-%zu.parquet", b->workdir, batch_no, i);
        if (pl < 0 || (size_t)pl >= sizeof(p)) {
            rc = errbuf_set(eb, RC_INVALID, "compaction: path too long for %s", files[i].key);
            goto out;
        }
        if (!root) {
            struct errbuf geb = {0};
            int grc = storage_get_file(c->st, files[i].key, p, &geb);
            if (grc == RC_NOT_FOUND) {
                in[i].skipped = true; /* gone meanwhile: nothing to merge */
            } else if (grc != RC_OK) {
                rc = errbuf_set(eb, grc, "compaction: download %s: %s", files[i].key, geb.msg);
                goto out;
            }
        }
        paths[i] = xstrdup(p);
        in[i].path = paths[i];
    }
    struct cmerge_options mo = {
        .compression = c->duck_compression,
        .compression_level = c->o.compression_level,
        .dedup = c->o.dedup,
        .sort_cols = b->sort_cols,
        .n_sort_cols = b->n_sort_cols,
    };
    struct cmerge_result res;
    /* Inputs already known missing are dropped before merging. */
    struct cmerge_input *use = xcalloc(n, sizeof(*use));
    size_t *map = xcalloc(n, sizeof(*map));
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].skipped)
            continue;
        use[nu] = in[i];
        map[nu++] = i;
    }
    rc = nu ? compaction__merge(b->conn, use, nu, out_path, &mo, &res, eb)
            : errbuf_set(eb, RC_NOT_FOUND, "compaction: every input of the batch is gone");
    for (size_t k = 0; k < nu; k++)
        in[map[k]] = use[k];
    xfree(use);
    xfree(map);
    for (size_t i = 0; i < n; i++) {
        if (in[i].skipped && in[i].reason[0]) {
            log_warn("compaction", "skipping unreadable input (left in place) key=%s reason=%s",
                     files[i].key, in[i].reason);
            pthread_mutex_lock(&c->lock);
            c->skipped_corrupt++;
            b->job->info.files_skipped++;
            pthread_mutex_unlock(&c->lock);
            metric_inc(c->m_corrupt);
        }
    }
    if (rc != RC_OK)
        goto out;
    compaction__crash_point("compaction_crash_before_manifest");

    /* The manifest lists exactly the inputs the output contains. */
    snprintf(m.db, sizeof(m.db), "%s", b->part->db);
    snprintf(m.measurement, sizeof(m.measurement), "%s", b->part->measurement);
    m.tier = b->part->tier;
    m.inputs = xcalloc(n, sizeof(*m.inputs));
    uint64_t bytes_in = 0;
    size_t nids = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].skipped)
            continue;
        m.inputs[m.n_inputs++] = xstrdup(files[i].key);
        ids[nids++] = files[i].id;
        bytes_in += files[i].bytes;
    }
    m.output_rows = (int64_t)res.rows_out;
    m.output_min_us = res.rows_out ? res.min_us : b->part->start_us;
    m.output_max_us = res.rows_out ? res.max_us : b->part->start_us;
    struct stat sb;
    m.output_bytes = stat(out_path, &sb) == 0 ? (uint64_t)sb.st_size : 0;

    uint64_t out_bytes = 0;
    if ((rc = put_output(b, batch_no, out_path, &m, &out_bytes, eb)) != RC_OK)
        goto out;
    put_done = true;
    compaction__crash_point("compaction_crash_after_output");

    struct catalog_file_entry e = {
        .key = m.output_key,
        .db = m.db,
        .measurement = m.measurement,
        .min_time_us = m.output_min_us,
        .max_time_us = m.output_max_us,
        .row_count = m.output_rows,
        .bytes = out_bytes,
        .tier = m.tier == COMPACTION_DAILY ? CATALOG_TIER_DAILY : CATALOG_TIER_COMPACTED,
    };
    if ((rc = catalog_files_add(c->cat, &e, 1, &new_id, eb)) != RC_OK)
        goto out;
    compaction__crash_point("compaction_crash_after_catalog_add");
    if ((rc = catalog_files_swap(c->cat, &new_id, 1, ids, nids, eb)) != RC_OK)
        goto out;
    (void)query_cache_clear(); /* SPEC §4.12 */
    new_id = 0;                /* swapped: no longer ours to undo */
    put_done = false;
    compaction__crash_point("compaction_crash_after_swap");
    log_info("compaction",
             "swapped tier=%s partition=%s batch=%u inputs=%zu rows=%llu bytes_before=%llu "
             "bytes_after=%llu output=%s",
             compaction_tier_name(m.tier), b->part->path, batch_no, m.n_inputs,
             (unsigned long long)res.rows_out, (unsigned long long)bytes_in,
             (unsigned long long)out_bytes, m.output_key);

    pthread_mutex_lock(&c->lock);
    struct compaction_tier_stats *ts = &c->ts[m.tier];
    ts->files_compacted += m.n_inputs;
    ts->bytes_before += bytes_in;
    ts->bytes_after += out_bytes;
    ts->outputs++;
    b->job->info.files_compacted += m.n_inputs;
    b->job->info.bytes_before += bytes_in;
    b->job->info.bytes_after += out_bytes;
    b->job->info.outputs++;
    pthread_mutex_unlock(&c->lock);
    metric_add(c->m_files, m.n_inputs);
    metric_add(c->m_bytes_before, bytes_in);
    metric_add(c->m_bytes_after, out_bytes);

    if (c->retire_grace_ms <= 0) {
        struct errbuf deb = {0};
        if (retire_now(c, &m, &deb) != RC_OK) {
            log_warn("compaction", "deleting inputs failed, will retry manifest=%s err=%s", m.path,
                     deb.msg);
            retire_enqueue(c, &m);
        }
    } else {
        retire_enqueue(c, &m);
    }
out:
    if (rc != RC_OK) {
        /* Undo what became durable, newest first; nothing is visible yet. */
        struct errbuf ueb = {0};
        if (new_id && catalog_files_remove(c->cat, &new_id, 1, &ueb) != RC_OK)
            log_error("compaction", "undo: cannot forget output id=%llu err=%s",
                      (unsigned long long)new_id, ueb.msg);
        if (put_done && storage_delete(c->st, m.output_key, &ueb) != RC_OK) {
            /* Keep the manifest: recovery finishes it at the next start. */
            log_error("compaction", "undo: cannot delete output key=%s err=%s", m.output_key,
                      ueb.msg);
        } else if (m.path[0]) {
            compaction__manifest_remove(&m);
        }
    }
    compaction__manifest_free(&m);
    remove(out_path);
    for (size_t i = 0; i < n; i++) {
        if (!root && paths[i])
            remove(paths[i]);
        xfree(paths[i]);
    }
    xfree(paths);
    xfree(in);
    xfree(ids);
    return rc;
}

/* ---- one job ---------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* Re-lists the partition's inputs now that we hold its lock (the planning
 * listing may be stale). Replaces part->files; false if none are left. */
static bool refresh_part(struct compaction *c, struct cplan_part *part)
{
    struct catalog_file_list fl;
    catalog_files_list(c->cat, part->db, part->measurement, part->start_us,
                       part->start_us + part->span_us, &fl);
    struct cplan_part *parts = NULL;
    size_t np = 0;
    compaction__plan(&fl, part->db, part->measurement, part->tier, &parts, &np);
    catalog_file_list_free(&fl);
    bool found = false;
    for (size_t i = 0; i < np; i++) {
        if (strcmp(parts[i].path, part->path) != 0)
            continue;
        for (size_t k = 0; k < part->n; k++)
            xfree(part->files[k].key);
        xfree(part->files);
        part->files = parts[i].files;
        part->n = parts[i].n;
        part->bytes = parts[i].bytes;
        part->newest_created_us = parts[i].newest_created_us;
        parts[i].files = NULL;
        parts[i].n = 0;
        found = true;
        break;
    }
    compaction__parts_free(&parts, np);
    return found && part->n >= 2;
}

static void run_job(struct compaction *c, struct cplan_part *part, uint64_t cycle_id)
{
    struct cjob *job = xcalloc(1, sizeof(*job));
    struct compaction_job_info *info = &job->info;
    job->start_mono_ms = time_mono_ms();
    int64_t dl = c->lock_ttl_ms - DEADLINE_MARGIN_MS;
    job->deadline_mono_ms = job->start_mono_ms + (dl < MIN_DEADLINE_MS ? MIN_DEADLINE_MS : dl);
    char owner[64];

    pthread_mutex_lock(&c->lock);
    info->job_id = ++c->next_job_id;
    pthread_mutex_unlock(&c->lock);
    info->cycle_id = cycle_id;
    snprintf(info->database, sizeof(info->database), "%s", part->db);
    snprintf(info->measurement, sizeof(info->measurement), "%s", part->measurement);
    snprintf(info->partition_path, sizeof(info->partition_path), "%s", part->path);
    info->tier = part->tier;
    info->status = "running";
    info->file_count = part->n;
    info->started_at_us = time_now_us();
    snprintf(owner, sizeof(owner), "compaction:%llu", (unsigned long long)info->job_id);

    if (!partlock_try(part->path, owner, c->lock_ttl_ms)) {
        log_info("compaction", "partition busy (locked by another job), skipped partition=%s",
                 part->path);
        xfree(job);
        return;
    }
    if (!refresh_part(c, part)) {
        partlock_release(part->path, owner);
        xfree(job);
        return;
    }
    info->file_count = part->n;
    metric_inc(c->m_jobs_started);
    pthread_mutex_lock(&c->lock);
    if (c->nactive == c->active_cap) {
        c->active_cap = c->active_cap ? c->active_cap * 2 : 8;
        c->active = xrealloc(c->active, c->active_cap * sizeof(*c->active));
    }
    c->active[c->nactive++] = job;
    pthread_mutex_unlock(&c->lock);

    struct errbuf eb = {0};
    int rc = RC_OK;
    char workdir[WORK_PATH_MAX];
    int wl = snprintf(workdir, sizeof(workdir), "%s/job-%llu-%llu", c->temp_dir,
                      (unsigned long long)cycle_id, (unsigned long long)info->job_id);
    char **sort_cols = NULL;
    size_t n_sort = 0;
    duckdb_connection conn = NULL;
    size_t *starts = xcalloc(part->n + 1, sizeof(*starts));
    if (wl < 0 || (size_t)wl >= sizeof(workdir)) {
        workdir[0] = '\0';
        rc = errbuf_set(&eb, RC_INVALID, "compaction: temp_dir path too long");
        goto done;
    }
    if (mkdir(workdir, 0700) != 0 && errno != EEXIST) {
        rc = errbuf_set(&eb, RC_IO, "compaction: mkdir %s: %s", workdir, strerror(errno));
        goto done;
    }
    if ((rc = compaction__sort_keys((const char *const *)c->sort_key_entries, c->o.n_sort_keys,
                                    part->measurement, &sort_cols, &n_sort, &eb)) != RC_OK)
        goto done;
    if ((rc = compaction__duckdb_connect(c->duck, &conn, &eb)) != RC_OK)
        goto done;
    pthread_mutex_lock(&c->lock);
    job->conn = conn;
    pthread_mutex_unlock(&c->lock);

    const struct compaction_tier_options *t = &c->o.tiers[part->tier];
    uint64_t target = t->target_file_size_mb > 0 ? (uint64_t)t->target_file_size_mb << 20 : 0;
    size_t nb =
        compaction__batches(part->files, part->n, (size_t)c->o.max_files_per_batch, target, starts);
    struct batch_ctx b = {c, job, part, workdir, conn, sort_cols, n_sort};
    for (size_t k = 0; k < nb && rc == RC_OK; k++) {
        if (atomic_load(&c->stopping)) {
            rc = errbuf_set(&eb, RC_SHUTDOWN, "compaction: stopping");
            break;
        }
        if (time_mono_ms() > job->deadline_mono_ms) {
            rc = errbuf_set(&eb, RC_TIMEOUT, "compaction: job deadline passed");
            break;
        }
        rc =
            run_batch(&b, &part->files[starts[k]], starts[k + 1] - starts[k], (unsigned)k + 1, &eb);
    }
done:
    pthread_mutex_lock(&c->lock);
    job->conn = NULL;
    pthread_mutex_unlock(&c->lock);
    if (conn)
        duckdb_disconnect(&conn);
    xfree(sort_cols);
    xfree(starts);
    if (workdir[0] && nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        log_warn("compaction", "cannot remove work directory %s", workdir);
    partlock_release(part->path, owner);

    info->duration_seconds = (double)(time_mono_ms() - job->start_mono_ms) / 1000.0;
    if (rc == RC_OK) {
        info->status = "completed";
        metric_inc(c->m_jobs_ok);
    } else {
        info->status = "failed";
        snprintf(info->error, sizeof(info->error), "%s", eb.msg);
        log_error("compaction", "job failed tier=%s partition=%s err=%s",
                  compaction_tier_name(part->tier), part->path, eb.msg);
        metric_inc(c->m_jobs_failed);
    }
    pthread_mutex_lock(&c->lock);
    if (rc == RC_OK)
        c->ts[part->tier].jobs_completed++;
    else
        c->ts[part->tier].jobs_failed++;
    active_remove(c, job);
    hist_push(c, info);
    pthread_mutex_unlock(&c->lock);
    xfree(job);
}

/* ---- cycles ------------------------------------------------------------------ */

/* Eligible partitions of one tier (optionally one database), sorted by
 * database, measurement, path. */
static void plan_tier(struct compaction *c, enum compaction_tier tier, const char *db_filter,
                      int64_t now_us, bool check_locks, struct cplan_part **out, size_t *n_out)
{
    struct cplan_part *all = NULL;
    size_t n = 0, cap = 0;
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t ndb = 0;
    catalog_databases(c->cat, &dbs, &ndb);
    for (size_t d = 0; d < ndb; d++) {
        if (db_filter && db_filter[0] && strcmp(dbs[d], db_filter) != 0)
            continue;
        struct catalog_measurement_info *ms = NULL;
        size_t nm = 0;
        catalog_measurements(c->cat, dbs[d], &ms, &nm);
        for (size_t k = 0; k < nm; k++) {
            struct catalog_file_list fl;
            catalog_files_list(c->cat, dbs[d], ms[k].name, INT64_MIN, INT64_MAX, &fl);
            struct cplan_part *parts = NULL;
            size_t np = 0;
            compaction__plan(&fl, dbs[d], ms[k].name, tier, &parts, &np);
            catalog_file_list_free(&fl);
            for (size_t i = 0; i < np; i++) {
                bool ok = compaction__eligible(&parts[i], &c->o.tiers[tier], c->o.settle_seconds,
                                               now_us) &&
                          (!check_locks || !partlock_is_held(parts[i].path, NULL));
                if (!ok) {
                    for (size_t f = 0; f < parts[i].n; f++)
                        xfree(parts[i].files[f].key);
                    xfree(parts[i].files);
                    continue;
                }
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    all = xrealloc(all, cap * sizeof(*all));
                }
                all[n++] = parts[i];
            }
            xfree(parts);
        }
        xfree(ms);
    }
    xfree(dbs);
    *out = all;
    *n_out = n;
}

static void *worker_main(void *arg)
{
    struct compaction *c = arg;
    pthread_setname_np(pthread_self(), "arc-compact-w");
    pthread_mutex_lock(&c->lock);
    uint64_t cycle = c->cycle_id;
    for (;;) {
        if (atomic_load(&c->stopping) || c->qnext >= c->qn)
            break;
        struct cplan_part *p = &c->queue[c->qnext++];
        pthread_mutex_unlock(&c->lock);
        run_job(c, p, cycle);
        pthread_mutex_lock(&c->lock);
    }
    c->workers_done++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Interrupts the DuckDB work of jobs past their deadline (all with all).
 * lock held. */
static void interrupt_jobs(struct compaction *c, bool all)
{
    int64_t now = time_mono_ms();
    for (size_t i = 0; i < c->nactive; i++) {
        struct cjob *j = c->active[i];
        if (j->conn && (all || now > j->deadline_mono_ms)) {
            if (!all)
                log_warn("compaction", "job past its deadline, interrupting partition=%s",
                         j->info.partition_path);
            duckdb_interrupt(j->conn);
        }
    }
}

static void run_tier(struct compaction *c, enum compaction_tier tier, const char *db)
{
    struct cplan_part *parts = NULL;
    size_t n = 0;
    plan_tier(c, tier, db, time_now_us(), false, &parts, &n);
    log_info("compaction", "cycle tier=%s eligible_partitions=%zu", compaction_tier_name(tier), n);
    if (n == 0) {
        xfree(parts);
        return;
    }
    size_t nw = (size_t)c->o.max_concurrent_jobs;
    if (nw < 1)
        nw = 1;
    if (nw > n)
        nw = n;
    pthread_t *th = xcalloc(nw, sizeof(*th));
    size_t started = 0;
    pthread_mutex_lock(&c->lock);
    c->queue = parts;
    c->qn = n;
    c->qnext = 0;
    c->workers_done = 0;
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < nw; i++) {
        if (pthread_create(&th[i], NULL, worker_main, c) != 0) {
            log_error("compaction", "cannot start worker thread");
            break;
        }
        started++;
    }
    pthread_mutex_lock(&c->lock);
    if (started == 0) {
        /* Run the jobs on this thread instead. */
        while (c->qnext < c->qn && !atomic_load(&c->stopping)) {
            struct cplan_part *p = &c->queue[c->qnext++];
            pthread_mutex_unlock(&c->lock);
            run_job(c, p, c->cycle_id);
            pthread_mutex_lock(&c->lock);
        }
    }
    while (c->workers_done < started) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        interrupt_jobs(c, atomic_load(&c->stopping));
    }
    c->queue = NULL;
    c->qn = c->qnext = 0;
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    xfree(th);
    compaction__parts_free(&parts, n);
}

static void run_cycle(struct compaction *c, unsigned tiers, const char *db)
{
    int64_t start = time_now_us();
    pthread_mutex_lock(&c->lock);
    c->last_cycle_start_us = start;
    uint64_t id = c->cycle_id;
    for (int t = 0; t < COMPACTION_NTIERS; t++)
        if (tiers & COMPACTION_TIER_BIT(t))
            c->ts[t].last_run_us = start;
    pthread_mutex_unlock(&c->lock);
    log_info("compaction", "cycle started id=%llu tiers=%s%s database=%s", (unsigned long long)id,
             tiers & COMPACTION_TIER_BIT(COMPACTION_HOURLY) ? "hourly," : "",
             tiers & COMPACTION_TIER_BIT(COMPACTION_DAILY) ? "daily" : "", db[0] ? db : "*");
    for (int t = 0; t < COMPACTION_NTIERS && !atomic_load(&c->stopping); t++)
        if (tiers & COMPACTION_TIER_BIT(t))
            run_tier(c, (enum compaction_tier)t, db);
    pthread_mutex_lock(&c->lock);
    c->last_cycle_end_us = time_now_us();
    pthread_mutex_unlock(&c->lock);
    log_info("compaction", "cycle finished id=%llu seconds=%.3f", (unsigned long long)id,
             (double)(time_now_us() - start) / 1e6);
}

static void *manager_main(void *arg)
{
    struct compaction *c = arg;
    pthread_setname_np(pthread_self(), "arc-compact");
    pthread_mutex_lock(&c->lock);
    while (!atomic_load(&c->stopping)) {
        if (c->pending) {
            unsigned tiers = c->pending_tiers;
            char db[DB_NAME_MAX + 1];
            memcpy(db, c->pending_db, sizeof(db));
            c->pending = false;
            c->running = true;
            pthread_mutex_unlock(&c->lock);
            run_cycle(c, tiers, db);
            pthread_mutex_lock(&c->lock);
            c->running = false;
            pthread_cond_broadcast(&c->idle);
            continue;
        }
        pthread_mutex_unlock(&c->lock);
        (void)compaction_retire_due(c, false);
        pthread_mutex_lock(&c->lock);
        if (atomic_load(&c->stopping) || c->pending)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    }
    c->pending = false;
    pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- public API ----------------------------------------------------------- */

size_t compaction_retire_due(struct compaction *c, bool all)
{
    int64_t now = time_mono_ms();
    struct retire *due = NULL, **tail = &due;
    pthread_mutex_lock(&c->lock);
    struct retire **pp = &c->retire_head;
    c->retire_tail = NULL;
    while (*pp) {
        struct retire *r = *pp;
        if (all || r->due_mono_ms <= now) {
            *pp = r->next;
            r->next = NULL;
            *tail = r;
            tail = &r->next;
            c->nretire--;
        } else {
            c->retire_tail = r;
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&c->lock);
    size_t done = 0;
    while (due) {
        struct retire *r = due;
        due = r->next;
        struct errbuf eb = {0};
        if (retire_now(c, &r->m, &eb) == RC_OK) {
            done++;
            compaction__manifest_free(&r->m);
            xfree(r);
            continue;
        }
        log_warn("compaction", "deleting retired inputs failed, retrying later manifest=%s err=%s",
                 r->m.path, eb.msg);
        if (all) {
            /* Shutting down: the manifest stays, start-up recovery finishes. */
            compaction__manifest_free(&r->m);
            xfree(r);
            continue;
        }
        r->due_mono_ms = time_mono_ms() + RETIRE_RETRY_MS;
        pthread_mutex_lock(&c->lock);
        r->next = NULL;
        if (c->retire_tail)
            c->retire_tail->next = r;
        else
            c->retire_head = r;
        c->retire_tail = r;
        c->nretire++;
        pthread_mutex_unlock(&c->lock);
    }
    return done;
}

static int make_dir(const char *path, struct errbuf *eb)
{
    char buf[1100];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errbuf_set(eb, RC_IO, "compaction: mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return errbuf_set(eb, RC_IO, "compaction: mkdir %s: %s", buf, strerror(errno));
    return RC_OK;
}

static void free_manager(struct compaction *c)
{
    xfree(c->temp_dir);
    xfree(c->manifest_dir);
    xfree(c->node_id);
    for (int t = 0; t < COMPACTION_NTIERS; t++)
        xfree(c->schedules[t]);
    for (size_t i = 0; i < c->o.n_sort_keys; i++)
        xfree(c->sort_key_entries[i]);
    xfree(c->sort_key_entries);
    xfree(c->hist);
    xfree(c->active);
    xfree(c);
}

int compaction_new(const struct compaction_options *o, struct storage *st, struct catalog *cat,
                   struct compaction **out, struct errbuf *eb)
{
    if (!o || !st || !cat)
        return errbuf_set(eb, RC_INVALID, "compaction: missing options, storage or catalog");
    if (o->max_files_per_batch < 2 || o->max_files_per_batch > 500)
        return errbuf_set(eb, RC_INVALID, "compaction.max_files_per_batch must be 2-500 (got %lld)",
                          (long long)o->max_files_per_batch);
    if (o->max_concurrent_jobs < 1)
        return errbuf_set(eb, RC_INVALID, "compaction.max_concurrent_jobs must be >= 1");
    if (!o->temp_dir || !o->temp_dir[0] || strlen(o->temp_dir) > 900)
        return errbuf_set(eb, RC_INVALID, "compaction.temp_dir must be set");
    if (o->node_id && o->node_id[0] && strpbrk(o->node_id, "/_\n"))
        return errbuf_set(eb, RC_INVALID, "compaction: bad node id");
    bool comp_ok;
    const char *dc = duck_compression(o->compression, &comp_ok);
    if (!comp_ok)
        return errbuf_set(eb, RC_INVALID, "compaction.compression: unknown codec \"%.40s\"",
                          o->compression);
    for (int t = 0; t < COMPACTION_NTIERS; t++) {
        struct cron_expr ce;
        struct errbuf ceb = {0};
        if (o->tiers[t].enabled && cron_parse(o->tiers[t].schedule, &ce, &ceb) != RC_OK)
            return errbuf_set(eb, RC_INVALID, "compaction%s.schedule: %s",
                              t == COMPACTION_DAILY ? ".daily" : "", ceb.msg);
    }
    for (size_t i = 0; i < o->n_sort_keys; i++) {
        char **cols = NULL;
        size_t nc = 0;
        int rc = compaction__sort_keys(&o->sort_keys[i], 1, NULL, &cols, &nc, eb);
        if (rc != RC_OK)
            return rc;
    }
    int rc = RC_OK;
    struct compaction *c = xcalloc(1, sizeof(*c));
    c->o = *o;
    c->st = st;
    c->cat = cat;
    c->duck_compression = dc;
    c->temp_dir = xstrdup(o->temp_dir);
    size_t tl = strlen(c->temp_dir);
    while (tl > 1 && c->temp_dir[tl - 1] == '/')
        c->temp_dir[--tl] = '\0';
    c->manifest_dir = xmalloc(tl + 16);
    snprintf(c->manifest_dir, tl + 16, "%s/manifests", c->temp_dir);
    c->node_id = o->node_id && o->node_id[0] ? xstrdup(o->node_id) : NULL;
    for (int t = 0; t < COMPACTION_NTIERS; t++) {
        c->schedules[t] = xstrdup(o->tiers[t].schedule ? o->tiers[t].schedule : "");
        c->o.tiers[t].schedule = c->schedules[t];
        if (c->o.tiers[t].min_age_hours < 1) {
            if (o->tiers[t].enabled)
                log_warn("compaction", "min_age_hours < 1 raised to 1 tier=%s",
                         compaction_tier_name((enum compaction_tier)t));
            c->o.tiers[t].min_age_hours = 1;
        }
    }
    c->sort_key_entries = xcalloc(o->n_sort_keys + 1, sizeof(char *));
    for (size_t i = 0; i < o->n_sort_keys; i++)
        c->sort_key_entries[i] = xstrdup(o->sort_keys[i]);
    c->o.sort_keys = (const char *const *)c->sort_key_entries;
    c->o.temp_dir = c->temp_dir;
    c->o.node_id = c->node_id;
    c->o.compression = dc;
    c->o.duckdb_memory_limit = NULL;
    c->lock_ttl_ms = (o->lock_ttl_hours > 0 ? o->lock_ttl_hours : 2) * 3600 * 1000;
    c->retire_grace_ms = faults_value("compaction_retire_grace_ms", (long)o->retire_grace_ms);
    atomic_init(&c->stopping, false);

    char spill[1100];
    snprintf(spill, sizeof(spill), "%s/duckdb_spill", c->temp_dir);
    if ((rc = make_dir(c->temp_dir, eb)) != RC_OK || (rc = make_dir(c->manifest_dir, eb)) != RC_OK)
        goto fail;
    if ((rc = compaction__duckdb_open(o->duckdb_threads, o->duckdb_memory_limit, spill, &c->duck,
                                      eb)) != RC_OK)
        goto fail;

    /* SPEC §9.4 families (declared as placeholders by metrics/families.c). */
    c->m_jobs_started =
        metrics_counter("arc_compaction_jobs_total", "Compaction jobs started", NULL);
    c->m_jobs_ok = metrics_counter("arc_compaction_jobs_success_total",
                                   "Compaction jobs that succeeded", NULL);
    c->m_jobs_failed =
        metrics_counter("arc_compaction_jobs_failed_total", "Compaction jobs that failed", NULL);
    c->m_files = metrics_counter("arc_compaction_files_compacted_total",
                                 "Input files merged by compaction", NULL);
    c->m_bytes_before =
        metrics_counter("arc_compaction_bytes_before_total", "Bytes of compaction inputs", NULL);
    c->m_bytes_after =
        metrics_counter("arc_compaction_bytes_after_total", "Bytes of compaction outputs", NULL);
    c->m_corrupt = metrics_counter("arc_compaction_corrupt_files_total",
                                   "Unreadable compaction inputs skipped (left in place)", NULL);

    pthread_mutex_init(&c->lock, NULL);
    cond_init_monotonic(&c->cond);
    pthread_cond_init(&c->idle, NULL);
    if (pthread_create(&c->thread, NULL, manager_main, c) != 0) {
        rc = errbuf_set(eb, RC_INTERNAL, "compaction: cannot start manager thread");
        pthread_cond_destroy(&c->idle);
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        duckdb_close(&c->duck);
        goto fail;
    }
    log_info("compaction",
             "started hourly=%s daily=%s max_files_per_batch=%lld dedup=%s grace_ms=%lld "
             "temp_dir=%s",
             c->o.tiers[0].enabled ? c->o.tiers[0].schedule : "off",
             c->o.tiers[1].enabled ? c->o.tiers[1].schedule : "off",
             (long long)o->max_files_per_batch, o->dedup ? "on" : "off",
             (long long)c->retire_grace_ms, c->temp_dir);
    *out = c;
    return RC_OK;
fail:
    free_manager(c);
    return rc;
}

static void on_cron(struct compaction *c, enum compaction_tier tier)
{
    uint64_t id = 0;
    struct errbuf eb = {0};
    int rc = compaction_trigger(c, NULL, COMPACTION_TIER_BIT(tier), &id, &eb);
    if (rc == RC_EXISTS)
        log_info("compaction", "scheduled %s run skipped: cycle %llu is still running",
                 compaction_tier_name(tier), (unsigned long long)id);
    else if (rc != RC_OK)
        log_warn("compaction", "scheduled %s run not started: %s", compaction_tier_name(tier),
                 eb.msg);
}

static void on_cron_hourly(void *ctx, int64_t now_us)
{
    (void)now_us;
    on_cron(ctx, COMPACTION_HOURLY);
}

static void on_cron_daily(void *ctx, int64_t now_us)
{
    (void)now_us;
    on_cron(ctx, COMPACTION_DAILY);
}

int compaction_schedule(struct compaction *c, struct scheduler *s, struct errbuf *eb)
{
    sched_job_fn fns[COMPACTION_NTIERS] = {on_cron_hourly, on_cron_daily};
    for (int t = 0; t < COMPACTION_NTIERS; t++) {
        if (!c->o.tiers[t].enabled)
            continue;
        int rc = scheduler_add_cron(s, sched_names[t], c->o.tiers[t].schedule, fns[t], c, eb);
        if (rc != RC_OK) {
            for (int u = 0; u < t; u++)
                (void)scheduler_remove(s, sched_names[u]);
            return rc;
        }
    }
    pthread_mutex_lock(&c->lock);
    c->sched = s;
    pthread_mutex_unlock(&c->lock);
    return RC_OK;
}

void compaction_free(struct compaction **cp)
{
    if (!cp || !*cp)
        return;
    struct compaction *c = *cp;
    *cp = NULL;
    pthread_mutex_lock(&c->lock);
    struct scheduler *s = c->sched;
    c->sched = NULL;
    pthread_mutex_unlock(&c->lock);
    if (s)
        for (int t = 0; t < COMPACTION_NTIERS; t++)
            (void)scheduler_remove(s, sched_names[t]);
    atomic_store(&c->stopping, true);
    pthread_mutex_lock(&c->lock);
    interrupt_jobs(c, true);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    size_t n = compaction_retire_due(c, true);
    if (n)
        log_info("compaction", "deleted retired inputs at shutdown swaps=%zu", n);
    duckdb_close(&c->duck);
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free_manager(c);
}

int compaction_trigger(struct compaction *c, const char *database, unsigned tiers,
                       uint64_t *out_cycle_id, struct errbuf *eb)
{
    if (database && database[0] && !name_is_valid_database(database, strlen(database)))
        return errbuf_set(eb, RC_INVALID, "Invalid database name: %.80s", database);
    if (tiers == 0 || (tiers & ~(unsigned)COMPACTION_ALL_TIERS))
        return errbuf_set(eb, RC_INVALID, "Invalid tier (use hourly, daily)");
    int rc = RC_OK;
    pthread_mutex_lock(&c->lock);
    if (atomic_load(&c->stopping)) {
        rc = errbuf_set(eb, RC_SHUTDOWN, "compaction is stopping");
    } else if (c->pending || c->running) {
        if (out_cycle_id)
            *out_cycle_id = c->cycle_id;
        rc = errbuf_set(eb, RC_EXISTS, "Compaction cycle already running");
    } else {
        c->pending = true;
        c->pending_tiers = tiers;
        snprintf(c->pending_db, sizeof(c->pending_db), "%s", database ? database : "");
        c->cycle_id++;
        if (out_cycle_id)
            *out_cycle_id = c->cycle_id;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

bool compaction_wait_idle(struct compaction *c, int64_t timeout_ms)
{
    int64_t end = timeout_ms < 0 ? INT64_MAX : time_mono_ms() + timeout_ms;
    pthread_mutex_lock(&c->lock);
    while ((c->pending || c->running) && !atomic_load(&c->stopping)) {
        int64_t left = end == INT64_MAX ? 1000 : end - time_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t step = left < 200 ? left : 200;
        ts.tv_nsec += (long)step * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->idle, &c->lock, &ts);
    }
    bool idle = !c->pending && !c->running;
    pthread_mutex_unlock(&c->lock);
    return idle;
}

void compaction_get_status(struct compaction *c, struct compaction_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&c->lock);
    struct scheduler *s = c->sched;
    out->scheduled = s != NULL;
    out->cycle_running = c->pending || c->running;
    out->cycle_id = c->cycle_id;
    out->last_run_us = c->last_cycle_start_us;
    out->last_cycle_end_us = c->last_cycle_end_us;
    out->active_jobs = c->nactive;
    out->skipped_corrupt_files = c->skipped_corrupt;
    out->pending_retirements = c->nretire;
    for (int t = 0; t < COMPACTION_NTIERS; t++) {
        const struct compaction_tier_stats *ts = &c->ts[t];
        out->tier_stats[t] = *ts;
        out->total_completed += ts->jobs_completed;
        out->total_failed += ts->jobs_failed;
        out->total_files_compacted += ts->files_compacted;
        out->total_bytes_before += ts->bytes_before;
        out->total_bytes_after += ts->bytes_after;
        out->tiers[t].enabled = c->o.tiers[t].enabled;
        snprintf(out->tiers[t].schedule, sizeof(out->tiers[t].schedule), "%s",
                 c->o.tiers[t].schedule);
        out->tiers[t].last_run_us = ts->last_run_us;
    }
    pthread_mutex_unlock(&c->lock);
    /* The scheduler has its own lock: ask it without ours. It outlives the
     * manager or is detached in compaction_free before being stopped. */
    for (int t = 0; s && t < COMPACTION_NTIERS; t++) {
        int64_t next = 0, last = 0;
        if (!c->o.tiers[t].enabled || !scheduler_job_times(s, sched_names[t], &next, &last))
            continue;
        out->tiers[t].next_run_us = next;
        if (last > out->tiers[t].last_run_us)
            out->tiers[t].last_run_us = last;
        if (next && (out->next_run_us == 0 || next < out->next_run_us))
            out->next_run_us = next;
    }
}

void compaction_candidates(struct compaction *c, int64_t now_us, unsigned tiers,
                           const char *database, struct compaction_candidate **out, size_t *n_out)
{
    struct compaction_candidate *v = NULL;
    size_t n = 0, cap = 0;
    for (int t = 0; t < COMPACTION_NTIERS; t++) {
        if (!(tiers & COMPACTION_TIER_BIT(t)))
            continue;
        struct cplan_part *parts = NULL;
        size_t np = 0;
        plan_tier(c, (enum compaction_tier)t, database, now_us, true, &parts, &np);
        for (size_t i = 0; i < np; i++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                v = xrealloc(v, cap * sizeof(*v));
            }
            struct compaction_candidate *cd = &v[n++];
            memset(cd, 0, sizeof(*cd));
            snprintf(cd->database, sizeof(cd->database), "%s", parts[i].db);
            snprintf(cd->measurement, sizeof(cd->measurement), "%s", parts[i].measurement);
            snprintf(cd->partition_path, sizeof(cd->partition_path), "%s", parts[i].path);
            cd->tier = parts[i].tier;
            cd->file_count = parts[i].n;
            cd->bytes = parts[i].bytes;
        }
        compaction__parts_free(&parts, np);
    }
    *out = v;
    *n_out = n;
}

void compaction_jobs(struct compaction *c, struct compaction_job_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int64_t now = time_mono_ms();
    pthread_mutex_lock(&c->lock);
    if (c->nactive) {
        *out = xmalloc(c->nactive * sizeof(**out));
        for (size_t i = 0; i < c->nactive; i++) {
            (*out)[i] = c->active[i]->info;
            (*out)[i].duration_seconds = (double)(now - c->active[i]->start_mono_ms) / 1000.0;
        }
        *n = c->nactive;
    }
    pthread_mutex_unlock(&c->lock);
}

void compaction_history(struct compaction *c, size_t limit, struct compaction_job_info **out,
                        size_t *n, uint64_t *total)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&c->lock);
    if (total)
        *total = c->hist_total;
    size_t k = limit < c->hist_n ? limit : c->hist_n;
    if (k) {
        *out = xmalloc(k * sizeof(**out));
        for (size_t i = 0; i < k; i++) {
            size_t idx = (c->hist_start + c->hist_n - 1 - i) % COMPACTION_HISTORY_MAX;
            (*out)[i] = c->hist[idx];
        }
        *n = k;
    }
    pthread_mutex_unlock(&c->lock);
}
