/*
 * flush/refresh.c — periodic catalog refresh from a storage listing, for
 * several nodes sharing one bucket (see refresh.h).
 *
 * One pass:
 *   1. snapshot the visible catalog files (key, id, created_at), sorted by
 *      key — catalog locks are taken briefly inside catalog_files_list;
 *   2. storage_list("") with no lock held: known keys are marked seen;
 *      unknown *.parquet keys of other nodes are collected;
 *   3. listing ok → forget snapshot entries not seen (except young ones),
 *      then add + publish the collected keys, then catalog_sync.
 *
 * Why the snapshot comes first: a file in it was uploaded before it was
 * added to the catalog, so it was in storage before the listing began; if
 * the listing does not show it, it was deleted (or the listing lags: the
 * grace period). Files of this node that appear in the listing but not in
 * the snapshot may be mid-flush (uploaded, catalog add pending): adding
 * them here would make the writer's own catalog_files_add fail with
 * RC_EXISTS, so they are skipped by node id.
 *
 * Owns: the refresh thread "arc-refresh" and its stats (mu).
 */
#include "flush/refresh.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog/catalog.h"
#include "flush/writer.h"
#include "metrics/metrics.h"
#include "storage/storage.h"
#include "util/condvar.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define CHUNK 1000                  /* catalog add/remove per transaction */
#define MIN_GRACE_MS INT64_C(60000) /* listing lag we tolerate for fresh uploads */

struct known {
    char *key;
    uint64_t id;
    int64_t created_at_us;
    bool seen;
};

struct found {
    char *key;
    char db[DB_NAME_MAX + 1];
    char meas[MEASUREMENT_NAME_MAX + 1];
    uint64_t bytes;
    int64_t mtime_us;
};

struct pass {
    const char *node_id;
    const _Atomic bool *cancel; /* may be NULL */
    struct known *known;
    size_t nknown, capknown;
    struct found *found;
    size_t nfound, capfound;
    struct refresh_pass_stats st;
};

static int cmp_known(const void *a, const void *b)
{
    return strcmp(((const struct known *)a)->key, ((const struct known *)b)->key);
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static void snapshot(struct catalog *cat, struct pass *p)
{
    char(*dbs)[DB_NAME_MAX + 1] = NULL;
    size_t ndb = 0;
    catalog_databases(cat, &dbs, &ndb);
    for (size_t d = 0; d < ndb; d++) {
        struct catalog_measurement_info *ms = NULL;
        size_t nm = 0;
        catalog_measurements(cat, dbs[d], &ms, &nm);
        for (size_t m = 0; m < nm; m++) {
            struct catalog_file_list fl;
            catalog_files_list(cat, dbs[d], ms[m].name, INT64_MIN, INT64_MAX, &fl);
            for (size_t i = 0; i < fl.n; i++) {
                if (p->nknown == p->capknown) {
                    p->capknown = p->capknown ? p->capknown * 2 : 256;
                    p->known = xrealloc(p->known, p->capknown * sizeof(*p->known));
                }
                p->known[p->nknown++] = (struct known){
                    .key = xstrdup(fl.files[i].key),
                    .id = fl.files[i].id,
                    .created_at_us = fl.files[i].created_at_us,
                };
            }
            catalog_file_list_free(&fl);
        }
        xfree(ms);
    }
    xfree(dbs);
    if (p->nknown)
        qsort(p->known, p->nknown, sizeof(*p->known), cmp_known);
}

/* storage_list callback. */
static int on_object(void *ctx, const char *key, uint64_t size_bytes, int64_t mtime_us)
{
    struct pass *p = ctx;
    if (p->cancel && atomic_load(p->cancel))
        return RC_SHUTDOWN;
    size_t kl = strlen(key);
    if (!ends_with(key, kl, ".parquet"))
        return RC_OK;
    const char *s1 = strchr(key, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s2 || !name_is_valid_database(key, (size_t)(s1 - key)) ||
        !name_is_valid_measurement(s1 + 1, (size_t)(s2 - s1 - 1)))
        return RC_OK; /* not in the layout: catalog_reconcile logs these at startup */
    p->st.listed++;
    struct known probe = {.key = (char *)key};
    struct known *k =
        p->nknown ? bsearch(&probe, p->known, p->nknown, sizeof(*p->known), cmp_known) : NULL;
    if (k) {
        k->seen = true;
        return RC_OK;
    }
    char owner[FLUSH_NODE_ID_MAX + 1];
    if (flush_key_node_id(key, owner, sizeof(owner)) && strcmp(owner, p->node_id) == 0) {
        p->st.own_skipped++;
        return RC_OK;
    }
    if (p->nfound == p->capfound) {
        p->capfound = p->capfound ? p->capfound * 2 : 64;
        p->found = xrealloc(p->found, p->capfound * sizeof(*p->found));
    }
    struct found *f = &p->found[p->nfound++];
    memset(f, 0, sizeof(*f));
    f->key = xstrdup(key);
    memcpy(f->db, key, (size_t)(s1 - key));
    memcpy(f->meas, s1 + 1, (size_t)(s2 - s1 - 1));
    f->bytes = size_bytes;
    f->mtime_us = mtime_us;
    return RC_OK;
}

static int forget_gone(struct catalog *cat, struct pass *p, int64_t grace_ms, struct errbuf *eb)
{
    int64_t young_after = time_now_us() - grace_ms * 1000;
    uint64_t ids[CHUNK];
    size_t n = 0;
    int rc = RC_OK;
    for (size_t i = 0; i <= p->nknown && rc == RC_OK; i++) {
        if (i < p->nknown && !p->known[i].seen) {
            if (p->known[i].created_at_us > young_after) {
                p->st.kept_young++;
            } else {
                log_info("refresh", "forgetting file gone from storage key=%.200s",
                         p->known[i].key);
                ids[n++] = p->known[i].id;
            }
        }
        if (n && (n == CHUNK || i == p->nknown)) {
            rc = catalog_files_remove(cat, ids, n, eb);
            if (rc == RC_OK)
                p->st.removed += n;
            n = 0;
        }
    }
    return rc;
}

static void fill_entry(const struct found *f, struct catalog_file_entry *e)
{
    size_t kl = strlen(f->key);
    *e = (struct catalog_file_entry){
        .key = f->key,
        .db = f->db,
        .measurement = f->meas,
        .row_count = CATALOG_ROWS_UNKNOWN,
        .bytes = f->bytes,
        .created_at_us = f->mtime_us ? f->mtime_us : time_now_us(),
        .tier = ends_with(f->key, kl, "_compacted.parquet") ? CATALOG_TIER_COMPACTED
                : ends_with(f->key, kl, "_daily.parquet")   ? CATALOG_TIER_DAILY
                                                            : CATALOG_TIER_RAW,
    };
    if (!catalog_key_time_range(f->key, &e->min_time_us, &e->max_time_us)) {
        /* Unknown range: the file must never be pruned away. */
        e->min_time_us = TIME_MIN_US;
        e->max_time_us = TIME_MAX_US;
    }
}

static int add_found(struct catalog *cat, struct pass *p, struct errbuf *eb)
{
    struct catalog_file_entry *entries = xmalloc(CHUNK * sizeof(*entries));
    uint64_t *ids = xmalloc(CHUNK * sizeof(*ids));
    int rc = RC_OK;
    for (size_t start = 0; start < p->nfound && rc == RC_OK; start += CHUNK) {
        size_t n = p->nfound - start < CHUNK ? p->nfound - start : CHUNK;
        for (size_t i = 0; i < n; i++)
            fill_entry(&p->found[start + i], &entries[i]);
        struct errbuf eb2;
        errbuf_clear(&eb2);
        rc = catalog_files_add(cat, entries, n, ids, &eb2);
        if (rc == RC_OK) {
            catalog_files_publish(cat, ids, n);
            p->st.added += n;
            continue;
        }
        if (rc != RC_EXISTS) {
            errbuf_set(eb, rc, "%s", eb2.msg);
            break;
        }
        /* Someone added one of them meanwhile: add one by one, skipping
         * those that exist (all or nothing per call). */
        rc = RC_OK;
        for (size_t i = 0; i < n && rc == RC_OK; i++) {
            errbuf_clear(&eb2);
            int r = catalog_files_add(cat, &entries[i], 1, &ids[0], &eb2);
            if (r == RC_OK) {
                catalog_files_publish(cat, ids, 1);
                p->st.added++;
            } else if (r != RC_EXISTS) {
                rc = errbuf_set(eb, r, "%s", eb2.msg);
            }
        }
    }
    xfree(entries);
    xfree(ids);
    return rc;
}

static int pass_run(struct catalog *cat, struct storage *st, const char *node_id, int64_t grace_ms,
                    const _Atomic bool *cancel, struct refresh_pass_stats *out, struct errbuf *eb)
{
    if (!flush_node_id_is_valid(node_id))
        return errbuf_set(eb, RC_INVALID, "refresh: invalid node id \"%.64s\"",
                          node_id ? node_id : "");
    if (grace_ms <= 0)
        grace_ms = MIN_GRACE_MS;
    struct pass p = {.node_id = node_id, .cancel = cancel};
    snapshot(cat, &p);
    int rc = storage_list(st, "", on_object, &p, eb);
    if (rc != RC_OK)
        goto out; /* nothing changed */
    rc = forget_gone(cat, &p, grace_ms, eb);
    if (rc == RC_OK)
        rc = add_found(cat, &p, eb);
    if (rc == RC_OK)
        rc = catalog_sync(cat, eb);
out:
    if (out)
        *out = p.st;
    for (size_t i = 0; i < p.nknown; i++)
        xfree(p.known[i].key);
    xfree(p.known);
    for (size_t i = 0; i < p.nfound; i++)
        xfree(p.found[i].key);
    xfree(p.found);
    return rc;
}

int refresh_once(struct catalog *cat, struct storage *st, const char *node_id, int64_t grace_ms,
                 struct refresh_pass_stats *out, struct errbuf *eb)
{
    return pass_run(cat, st, node_id, grace_ms, NULL, out, eb);
}

/* ---- thread ------------------------------------------------------------------ */

struct refresh {
    /* Immutable after refresh_start. */
    struct catalog *cat;
    struct storage *st;
    char node_id[FLUSH_NODE_ID_MAX + 1];
    int64_t interval_ms;
    int64_t grace_ms;
    pthread_t thread;
    struct metric *m_runs, *m_failures, *m_added, *m_removed;

    _Atomic bool stop; /* also read by the listing callback */
    /* mu guards cv waits and stats. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct refresh_stats stats;
};

static void one_pass(struct refresh *r)
{
    struct errbuf eb;
    errbuf_clear(&eb);
    struct refresh_pass_stats ps;
    int64_t t0 = time_mono_ms();
    int rc = pass_run(r->cat, r->st, r->node_id, r->grace_ms, &r->stop, &ps, &eb);
    int64_t took = time_mono_ms() - t0;
    if (rc == RC_SHUTDOWN && atomic_load(&r->stop))
        return; /* abandoned at stop: not a failure */
    metric_inc(r->m_runs);
    metric_add(r->m_added, ps.added);
    metric_add(r->m_removed, ps.removed);
    pthread_mutex_lock(&r->mu);
    uint32_t streak = r->stats.consecutive_failures;
    r->stats.runs++;
    r->stats.added_total += ps.added;
    r->stats.removed_total += ps.removed;
    r->stats.last_run_us = time_now_us();
    r->stats.last_duration_ms = took;
    if (rc == RC_OK) {
        r->stats.consecutive_failures = 0;
    } else {
        r->stats.failures++;
        r->stats.consecutive_failures++;
        snprintf(r->stats.last_error, sizeof(r->stats.last_error), "%s: %.230s", rc_name(rc),
                 eb.msg);
    }
    pthread_mutex_unlock(&r->mu);
    if (rc != RC_OK) {
        metric_inc(r->m_failures);
        if (streak == 0)
            log_warn("refresh", "catalog refresh failed (catalog unchanged) rc=%s err=%s",
                     rc_name(rc), eb.msg);
        return;
    }
    if (streak)
        log_info("refresh", "catalog refresh recovered after %u failures", streak);
    if (ps.added || ps.removed)
        log_info("refresh",
                 "catalog refreshed listed=%llu added=%llu removed=%llu own_skipped=%llu ms=%lld",
                 (unsigned long long)ps.listed, (unsigned long long)ps.added,
                 (unsigned long long)ps.removed, (unsigned long long)ps.own_skipped,
                 (long long)took);
    else
        log_debug("refresh", "catalog refresh: no change listed=%llu ms=%lld",
                  (unsigned long long)ps.listed, (long long)took);
}

static void *refresh_main(void *arg)
{
    struct refresh *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        struct timespec ts;
        cond_deadline_ms(&ts, r->interval_ms);
        while (!atomic_load(&r->stop)) {
            if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) != 0)
                break; /* interval passed */
        }
        pthread_mutex_unlock(&r->mu);
        if (atomic_load(&r->stop))
            break;
        one_pass(r);
    }
    return NULL;
}

int refresh_start(struct catalog *cat, struct storage *st, const struct refresh_options *o,
                  struct refresh **out, struct errbuf *eb)
{
    if (!cat || !st || !o || o->interval_ms <= 0)
        return errbuf_set(eb, RC_INVALID, "refresh: needs catalog, storage and an interval > 0");
    if (!flush_node_id_is_valid(o->node_id))
        return errbuf_set(eb, RC_INVALID, "storage.node_id: invalid node id \"%.64s\"",
                          o->node_id ? o->node_id : "");
    struct refresh *r = xcalloc(1, sizeof(*r));
    r->cat = cat;
    r->st = st;
    snprintf(r->node_id, sizeof(r->node_id), "%s", o->node_id);
    r->interval_ms = o->interval_ms;
    r->grace_ms = o->grace_ms > 0 ? o->grace_ms : 2 * o->interval_ms;
    if (r->grace_ms < MIN_GRACE_MS && o->grace_ms <= 0)
        r->grace_ms = MIN_GRACE_MS;
    atomic_init(&r->stop, false);
    pthread_mutex_init(&r->mu, NULL);
    cond_init_monotonic(&r->cv);
    r->m_runs = metrics_counter("arc_catalog_refresh_runs_total",
                                "Catalog refreshes from a storage listing", NULL);
    r->m_failures = metrics_counter("arc_catalog_refresh_failures_total",
                                    "Catalog refreshes that failed (catalog unchanged)", NULL);
    r->m_added = metrics_counter("arc_catalog_refresh_files_added_total",
                                 "Files of other nodes added by catalog refreshes", NULL);
    r->m_removed =
        metrics_counter("arc_catalog_refresh_files_removed_total",
                        "Catalog files forgotten because storage no longer has them", NULL);
    if (pthread_create(&r->thread, NULL, refresh_main, r) != 0) {
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        xfree(r);
        return errbuf_set(eb, RC_INTERNAL, "refresh: cannot start thread");
    }
    pthread_setname_np(r->thread, "arc-refresh");
    log_info("refresh", "catalog refresh started node_id=%s interval_ms=%lld grace_ms=%lld",
             r->node_id, (long long)r->interval_ms, (long long)r->grace_ms);
    *out = r;
    return RC_OK;
}

void refresh_stop(struct refresh **rp)
{
    if (!rp || !*rp)
        return;
    struct refresh *r = *rp;
    *rp = NULL;
    pthread_mutex_lock(&r->mu);
    atomic_store(&r->stop, true);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    xfree(r);
}

void refresh_get_stats(const struct refresh *r, struct refresh_stats *out)
{
    struct refresh *mr = (struct refresh *)r; /* the mutex is the only mutable part */
    pthread_mutex_lock(&mr->mu);
    *out = r->stats;
    pthread_mutex_unlock(&mr->mu);
}
