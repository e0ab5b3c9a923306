/*
 * catalog/reconcile.c — make the manifest match what storage holds
 * (catalog_reconcile, run once at startup before flush workers start).
 *
 * Steps: snapshot the known keys (files_lock, copied out); list storage
 * through the caller's lister, collecting unknown *.parquet objects and
 * marking known ones as seen; if listing succeeded, forget entries never seen
 * and add + publish the unknown ones. Layout parsing (db/measurement names,
 * YYYY/MM/DD[/HH] directories, _compacted/_daily suffixes) follows SPEC §3.2.
 */
#include "catalog/catalog_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

/* Add/remove in chunks so one transaction stays bounded. */
#define RECONCILE_CHUNK 1000

static bool parse_digits(const char *s, size_t n, size_t want, int *out)
{
    if (n != want)
        return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Splits key into at most max components (pointers into key + lengths);
 * returns the count, or max + 1 if there are more. */
static size_t split(const char *key, const char **c, size_t *len, size_t max)
{
    size_t n = 0;
    const char *s = key;
    for (;;) {
        const char *slash = strchr(s, '/');
        if (n == max)
            return max + 1;
        c[n] = s;
        len[n] = slash ? (size_t)(slash - s) : strlen(s);
        n++;
        if (!slash)
            return n;
        s = slash + 1;
    }
}

bool catalog_key_time_range(const char *key, int64_t *min_us, int64_t *max_us)
{
    const char *c[8];
    size_t len[8];
    size_t n = split(key, c, len, 7);
    if (n != 6 && n != 7)
        return false;
    struct civil_time ct = {0};
    if (!parse_digits(c[2], len[2], 4, &ct.year) || !parse_digits(c[3], len[3], 2, &ct.month) ||
        !parse_digits(c[4], len[4], 2, &ct.day))
        return false;
    if (ct.year < 1 || ct.month < 1 || ct.month > 12 || ct.day < 1 || ct.day > 31)
        return false;
    int64_t span = US_PER_DAY;
    if (n == 7) {
        if (!parse_digits(c[5], len[5], 2, &ct.hour) || ct.hour > 23)
            return false;
        span = US_PER_HOUR;
    }
    int64_t t = time_from_civil(&ct);
    /* Reject dates such as 2025/02/30 that normalise to another day. */
    struct civil_time back;
    time_to_civil(t, &back);
    if (back.year != ct.year || back.month != ct.month || back.day != ct.day)
        return false;
    *min_us = t;
    *max_us = t + span - 1;
    return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

struct known {
    char *key;
    uint64_t id;
    bool seen;
};

struct found {
    char *key;
    char db[DB_NAME_MAX + 1];
    char meas[MEASUREMENT_NAME_MAX + 1];
    uint64_t bytes;
    int64_t mtime_us;
};

struct rec {
    struct known *known;
    size_t nknown;
    struct found *found;
    size_t nfound, capfound;
    struct catalog_reconcile_stats stats;
};

static int cmp_known(const void *a, const void *b)
{
    return strcmp(((const struct known *)a)->key, ((const struct known *)b)->key);
}

static int on_object(void *ctx, const char *key, uint64_t size_bytes, int64_t mtime_us)
{
    struct rec *r = ctx;
    size_t kl = strlen(key);
    if (!ends_with(key, kl, ".parquet"))
        return RC_OK; /* not data: markers, other files */
    const char *c[3];
    size_t len[3];
    size_t n = split(key, c, len, 2);
    if (n < 3 || !name_is_valid_database(c[0], len[0]) ||
        !name_is_valid_measurement(c[1], len[1])) {
        r->stats.ignored++;
        log_warn("catalog", "reconcile: ignoring object outside the layout key=%.200s", key);
        return RC_OK;
    }
    r->stats.listed++;
    struct known probe = {.key = (char *)key};
    struct known *k =
        r->nknown ? bsearch(&probe, r->known, r->nknown, sizeof(*r->known), cmp_known) : NULL;
    if (k) {
        k->seen = true;
        return RC_OK;
    }
    if (r->nfound == r->capfound) {
        r->capfound = r->capfound ? r->capfound * 2 : 64;
        r->found = xrealloc(r->found, r->capfound * sizeof(*r->found));
    }
    struct found *f = &r->found[r->nfound++];
    memset(f, 0, sizeof(*f));
    f->key = xstrdup(key);
    memcpy(f->db, c[0], len[0]);
    memcpy(f->meas, c[1], len[1]);
    f->bytes = size_bytes;
    f->mtime_us = mtime_us;
    return RC_OK;
}

static void snapshot_known(struct catalog *cat, struct rec *r)
{
    pthread_mutex_lock(&cat->files_lock);
    r->known = xmalloc((cat->id_n + 1) * sizeof(*r->known));
    for (size_t i = 0; i < cat->id_cap; i++) {
        const struct cat_file *f = cat->id_table[i];
        if (f)
            r->known[r->nknown++] = (struct known){xstrdup(f->key), f->id, false};
    }
    pthread_mutex_unlock(&cat->files_lock);
    qsort(r->known, r->nknown, sizeof(*r->known), cmp_known);
}

static int forget_gone(struct catalog *cat, struct rec *r, struct errbuf *eb)
{
    uint64_t *ids = xmalloc(RECONCILE_CHUNK * sizeof(*ids));
    size_t n = 0;
    int rc = RC_OK;
    for (size_t i = 0; i <= r->nknown && rc == RC_OK; i++) {
        if (i < r->nknown && !r->known[i].seen) {
            log_info("catalog", "reconcile: forgetting missing file key=%.200s", r->known[i].key);
            ids[n++] = r->known[i].id;
        }
        if (n && (n == RECONCILE_CHUNK || i == r->nknown)) {
            rc = catalog_files_remove(cat, ids, n, eb);
            if (rc == RC_OK)
                r->stats.removed += n;
            n = 0;
        }
    }
    xfree(ids);
    return rc;
}

static int add_found(struct catalog *cat, struct rec *r, struct errbuf *eb)
{
    struct catalog_file_entry *entries = xmalloc(RECONCILE_CHUNK * sizeof(*entries));
    uint64_t *ids = xmalloc(RECONCILE_CHUNK * sizeof(*ids));
    int rc = RC_OK;
    for (size_t start = 0; start < r->nfound && rc == RC_OK; start += RECONCILE_CHUNK) {
        size_t n = r->nfound - start < RECONCILE_CHUNK ? r->nfound - start : RECONCILE_CHUNK;
        for (size_t i = 0; i < n; i++) {
            const struct found *f = &r->found[start + i];
            size_t kl = strlen(f->key);
            struct catalog_file_entry *e = &entries[i];
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
        rc = catalog_files_add(cat, entries, n, ids, eb);
        if (rc == RC_OK) {
            catalog_files_publish(cat, ids, n);
            r->stats.added += n;
        }
    }
    xfree(entries);
    xfree(ids);
    return rc;
}

int catalog_reconcile(struct catalog *cat, const struct catalog_lister *lister,
                      struct catalog_reconcile_stats *out, struct errbuf *eb)
{
    struct rec r = {0};
    snapshot_known(cat, &r);
    int rc = lister->list(lister->ctx, "", on_object, &r, eb);
    if (rc != RC_OK) {
        log_error("catalog", "reconcile: listing storage failed, catalog unchanged: %s",
                  eb ? eb->msg : "");
        goto out;
    }
    rc = forget_gone(cat, &r, eb);
    if (rc == RC_OK)
        rc = add_found(cat, &r, eb);
    if (rc == RC_OK)
        rc = catalog_sync(cat, eb);
    log_info("catalog", "reconcile: listed=%llu added=%llu removed=%llu ignored=%llu",
             (unsigned long long)r.stats.listed, (unsigned long long)r.stats.added,
             (unsigned long long)r.stats.removed, (unsigned long long)r.stats.ignored);
out:
    if (out)
        *out = r.stats;
    for (size_t i = 0; i < r.nknown; i++)
        xfree(r.known[i].key);
    xfree(r.known);
    for (size_t i = 0; i < r.nfound; i++)
        xfree(r.found[i].key);
    xfree(r.found);
    return rc;
}
