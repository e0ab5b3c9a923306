/*
 * jobs/compaction_plan.c — which files compaction merges (SPEC §7.1,
 * §7.2): key parsing, grouping a measurement's catalog files into hour/day
 * partitions, eligibility, batching and output names.
 *
 * Pure functions over copied-out catalog listings; any thread.
 */
#include "jobs/compaction_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mem.h"
#include "util/timeutil.h"

const char *compaction_tier_name(enum compaction_tier t)
{
    return t == COMPACTION_DAILY ? "daily" : "hourly";
}

bool compaction_tiers_parse(const char *s, unsigned *out_mask)
{
    if (!s)
        return false;
    unsigned mask = 0;
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 6 && strncasecmp(p, "hourly", 6) == 0)
            mask |= COMPACTION_TIER_BIT(COMPACTION_HOURLY);
        else if (n == 5 && strncasecmp(p, "daily", 5) == 0)
            mask |= COMPACTION_TIER_BIT(COMPACTION_DAILY);
        else
            return false;
        p = e;
    }
    if (!mask)
        return false;
    *out_mask = mask;
    return true;
}

bool compaction__ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

bool compaction__parse_key(const char *key, struct compaction_key *out)
{
    if (!key || !compaction__ends_with(key, ".parquet"))
        return false;
    const char *slash[8];
    size_t ns = 0;
    for (const char *p = key; *p; p++) {
        if (*p == '/') {
            if (ns == 8)
                return false;
            slash[ns++] = p;
        }
    }
    if (ns != 5 && ns != 6)
        return false;
    memset(out, 0, sizeof(*out));
    size_t dl = (size_t)(slash[0] - key), ml = (size_t)(slash[1] - slash[0] - 1);
    if (!name_is_valid_database(key, dl) || !name_is_valid_measurement(slash[0] + 1, ml))
        return false;
    memcpy(out->db, key, dl);
    memcpy(out->measurement, slash[0] + 1, ml);
    int64_t lo, hi;
    if (!catalog_key_time_range(key, &lo, &hi))
        return false;
    out->in_hour_dir = ns == 6;
    out->dir_start_us = lo;
    out->day_start_us = time_floor_day(lo);
    out->day_dir_len = (size_t)(slash[4] - key);
    out->hour_dir_len = out->in_hour_dir ? (size_t)(slash[5] - key) : 0;
    out->name = slash[ns - 1] + 1;
    return true;
}

/* Sort key of planning: partition path, then file name. */
struct plan_item {
    const struct catalog_file *f;
    struct compaction_key k;
    size_t plen; /* partition path length */
};

static int cmp_item(const void *a, const void *b)
{
    const struct plan_item *x = a, *y = b;
    size_t n = x->plen < y->plen ? x->plen : y->plen;
    int c = memcmp(x->f->key, y->f->key, n);
    if (c)
        return c;
    if (x->plen != y->plen)
        return x->plen < y->plen ? -1 : 1;
    return strcmp(x->k.name, y->k.name);
}

static bool is_input(const struct compaction_key *k, enum compaction_tier tier)
{
    if (!k->in_hour_dir)
        return false; /* day-level files are outputs of the daily tier */
    if (tier == COMPACTION_HOURLY)
        return !compaction__ends_with(k->name, "_compacted.parquet") &&
               !compaction__ends_with(k->name, "_daily.parquet");
    return true;
}

void compaction__plan(const struct catalog_file_list *fl, const char *db, const char *measurement,
                      enum compaction_tier tier, struct cplan_part **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    struct plan_item *items = xmalloc((fl->n + 1) * sizeof(*items));
    size_t ni = 0;
    for (size_t i = 0; i < fl->n; i++) {
        struct plan_item *it = &items[ni];
        /* Keys that cannot go into a manifest line or a read_parquet list
         * verbatim (never written by Arc) are left alone. */
        if (!compaction__path_is_plain(fl->files[i].key) ||
            !compaction__parse_key(fl->files[i].key, &it->k) || strcmp(it->k.db, db) != 0 ||
            strcmp(it->k.measurement, measurement) != 0 || !is_input(&it->k, tier))
            continue;
        it->f = &fl->files[i];
        it->plen = tier == COMPACTION_HOURLY ? it->k.hour_dir_len : it->k.day_dir_len;
        if (it->plen > COMPACTION_PARTITION_MAX)
            continue;
        ni++;
    }
    if (ni == 0) {
        xfree(items);
        return;
    }
    qsort(items, ni, sizeof(*items), cmp_item);
    struct cplan_part *parts = NULL;
    size_t np = 0, cap = 0;
    for (size_t i = 0; i < ni;) {
        size_t j = i + 1;
        while (j < ni && items[j].plen == items[i].plen &&
               memcmp(items[j].f->key, items[i].f->key, items[i].plen) == 0)
            j++;
        if (np == cap) {
            cap = cap ? cap * 2 : 8;
            parts = xrealloc(parts, cap * sizeof(*parts));
        }
        struct cplan_part *p = &parts[np++];
        memset(p, 0, sizeof(*p));
        snprintf(p->db, sizeof(p->db), "%s", db);
        snprintf(p->measurement, sizeof(p->measurement), "%s", measurement);
        memcpy(p->path, items[i].f->key, items[i].plen);
        p->path[items[i].plen] = '\0';
        p->tier = tier;
        p->start_us = tier == COMPACTION_HOURLY ? items[i].k.dir_start_us : items[i].k.day_start_us;
        p->span_us = tier == COMPACTION_HOURLY ? US_PER_HOUR : US_PER_DAY;
        p->n = j - i;
        p->files = xcalloc(p->n, sizeof(*p->files));
        for (size_t k = 0; k < p->n; k++) {
            const struct catalog_file *f = items[i + k].f;
            struct cplan_file *pf = &p->files[k];
            pf->id = f->id;
            pf->key = xstrdup(f->key);
            pf->name = pf->key + (items[i + k].k.name - f->key);
            pf->bytes = f->bytes;
            pf->created_at_us = f->created_at_us;
            pf->min_time_us = f->min_time_us;
            pf->max_time_us = f->max_time_us;
            pf->row_count = f->row_count;
            p->bytes += f->bytes;
            if (f->created_at_us > p->newest_created_us)
                p->newest_created_us = f->created_at_us;
        }
        i = j;
    }
    xfree(items);
    *out = parts;
    *n_out = np;
}

void compaction__parts_free(struct cplan_part **parts, size_t n)
{
    if (!parts || !*parts)
        return;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < (*parts)[i].n; k++)
            xfree((*parts)[i].files[k].key);
        xfree((*parts)[i].files);
    }
    xfree(*parts);
    *parts = NULL;
}

bool compaction__eligible(const struct cplan_part *p, const struct compaction_tier_options *t,
                          int64_t settle_seconds, int64_t now_us)
{
    int64_t min_age_h = t->min_age_hours < 1 ? 1 : t->min_age_hours;
    /* The partition has ended (the current hour/day is never compacted) ... */
    if (p->start_us + p->span_us > now_us)
        return false;
    /* ... and is old enough ... */
    if (p->start_us + min_age_h * US_PER_HOUR > now_us)
        return false;
    /* ... its newest input has settled ... */
    if (settle_seconds > 0 && p->newest_created_us + settle_seconds * US_PER_SEC > now_us)
        return false;
    /* ... and there are enough inputs (at least 2: one file is already compact). */
    size_t min_files = t->min_files < 2 ? 2 : (size_t)t->min_files;
    return p->n >= min_files;
}

size_t compaction__batches(const struct cplan_file *files, size_t n, size_t max_per_batch,
                           uint64_t target_bytes, size_t *starts)
{
    if (max_per_batch < 2)
        max_per_batch = 2;
    size_t nb = 0, i = 0;
    while (i < n) {
        size_t j = i;
        uint64_t bytes = 0;
        while (j < n && j - i < max_per_batch) {
            bytes += files[j].bytes;
            j++;
            if (target_bytes && bytes >= target_bytes && j - i >= 2)
                break;
        }
        if (j - i < 2)
            break; /* a single file left: nothing to merge it with */
        starts[nb++] = i;
        i = j;
        starts[nb] = j;
    }
    return nb;
}

size_t compaction__output_key(char *buf, size_t cap, const struct cplan_part *p, int64_t write_ns,
                              unsigned batch, const char *node_id)
{
    struct civil_time w;
    time_to_civil(write_ns / 1000, &w);
    bool node = node_id && node_id[0];
    int len = snprintf(buf, cap, "%s/%s_%04d%02d%02d_%02d%02d%02d_%lld_b%u%s%s_%s.parquet", p->path,
                       p->measurement, w.year, w.month, w.day, w.hour, w.minute, w.second,
                       (long long)write_ns, batch, node ? "_" : "", node ? node_id : "",
                       p->tier == COMPACTION_HOURLY ? "compacted" : "daily");
    if (len < 0 || (size_t)len >= cap)
        return 0;
    return (size_t)len;
}

int compaction__sort_keys(const char *const *entries, size_t n_entries, const char *measurement,
                          char ***out, size_t *n, struct errbuf *eb)
{
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < n_entries; i++) {
        const char *e = entries[i];
        const char *colon = e ? strchr(e, ':') : NULL;
        if (!colon || colon == e || !colon[1])
            return errbuf_set(eb, RC_INVALID,
                              "ingestion.sort_keys: entry \"%.100s\" is not measurement:col1,col2",
                              e ? e : "");
        if (!measurement || (size_t)(colon - e) != strlen(measurement) ||
            memcmp(e, measurement, (size_t)(colon - e)) != 0)
            continue;
        const char *cols = colon + 1;
        size_t count = 1;
        for (const char *p = cols; *p; p++)
            count += *p == ',';
        size_t len = strlen(cols) + 1;
        char **arr = xmalloc(count * sizeof(char *) + len);
        char *text = (char *)(arr + count);
        memcpy(text, cols, len);
        size_t k = 0;
        for (char *s = text;;) {
            char *comma = strchr(s, ',');
            if (comma)
                *comma = '\0';
            if (!*s) {
                xfree(arr);
                return errbuf_set(eb, RC_INVALID, "ingestion.sort_keys: empty column in \"%.100s\"",
                                  e);
            }
            arr[k++] = s;
            if (!comma)
                break;
            s = comma + 1;
        }
        *out = arr;
        *n = k;
        return RC_OK;
    }
    return RC_OK;
}
