/*
 * catalog/schema.c — the schema registry: (db, measurement, column) → type.
 *
 * A hash table of immutable entries under a rwlock. check() (called by the
 * ingest decoders on HTTP threads, for every column they are about to create
 * in a batch) takes the read lock for a known column; a new column takes the
 * write lock, looks again (another thread may have won), inserts, and queues
 * the entry for persistence. The first writer of a column fixes its type.
 * Entries reach SQLite later, with db_lock held, in catalog.c
 * (persist_pending), so no HTTP thread ever waits for disk.
 */
#include "catalog/catalog_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"
#include "util/mem.h"
#include "util/timeutil.h"

static inline unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* True if a and b (same length n) are equal ignoring ASCII case, the way
 * DuckDB compares identifiers. */
static bool ci_equal(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
            return false;
    return true;
}

/* The column part is hashed case-folded, so names that differ only in ASCII
 * case land in the same probe chain and lookup() can see the collision. */
static uint32_t key_hash(const char *db, size_t dl, const char *meas, size_t ml, const char *col,
                         size_t cl)
{
    uint32_t h = hash_fnv1a(db, dl, HASH_FNV1A_INIT);
    h = hash_fnv1a("", 1, h);
    h = hash_fnv1a(meas, ml, h);
    h = hash_fnv1a("", 1, h);
    for (size_t i = 0; i < cl; i++) { /* FNV-1a, folded */
        h ^= fold((unsigned char)col[i]);
        h *= 16777619u;
    }
    return h;
}

static bool entry_is(const struct schema_entry *e, uint32_t h, const char *db, size_t dl,
                     const char *meas, size_t ml, const char *col, size_t cl)
{
    return e->hash == h && e->db_len == dl && e->meas_len == ml && e->col_len == cl &&
           memcmp(schema_entry_db(e), db, dl) == 0 && memcmp(schema_entry_meas(e), meas, ml) == 0 &&
           memcmp(schema_entry_col(e), col, cl) == 0;
}

/* Finds the exact column; if there is none, *ci (when not NULL) is set to a
 * column of the same measurement whose name differs only in ASCII case, or
 * NULL. Caller holds schema_lock (read or write). */
static struct schema_entry *lookup(struct catalog *cat, uint32_t h, const char *db, size_t dl,
                                   const char *meas, size_t ml, const char *col, size_t cl,
                                   struct schema_entry **ci)
{
    if (ci)
        *ci = NULL;
    if (!cat->sch_cap)
        return NULL;
    size_t mask = cat->sch_cap - 1;
    for (size_t slot = h & mask;; slot = (slot + 1) & mask) {
        struct schema_entry *e = cat->sch_table[slot];
        if (!e)
            return NULL;
        if (entry_is(e, h, db, dl, meas, ml, col, cl))
            return e;
        if (ci && !*ci && e->hash == h && e->db_len == dl && e->meas_len == ml &&
            e->col_len == cl && !memcmp(schema_entry_db(e), db, dl) &&
            !memcmp(schema_entry_meas(e), meas, ml) && ci_equal(schema_entry_col(e), col, cl))
            *ci = e;
    }
}

static void table_put(struct schema_entry **table, size_t cap, struct schema_entry *e)
{
    size_t mask = cap - 1;
    size_t slot = e->hash & mask;
    while (table[slot])
        slot = (slot + 1) & mask;
    table[slot] = e;
}

/* Caller holds the write lock. */
static struct schema_entry *insert(struct catalog *cat, uint32_t h, const char *db, size_t dl,
                                   const char *meas, size_t ml, const char *col, size_t cl,
                                   enum col_type type, int64_t created_at_us)
{
    if ((cat->sch_n + 1) * 2 > cat->sch_cap) {
        size_t ncap = cat->sch_cap ? cat->sch_cap * 2 : 256;
        struct schema_entry **nt = xcalloc(ncap, sizeof(*nt));
        for (size_t i = 0; i < cat->sch_cap; i++)
            if (cat->sch_table[i])
                table_put(nt, ncap, cat->sch_table[i]);
        xfree(cat->sch_table);
        cat->sch_table = nt;
        cat->sch_cap = ncap;
    }
    struct schema_entry *e = xmalloc(sizeof(*e) + dl + ml + cl + 3);
    e->hash = h;
    e->db_len = (uint32_t)dl;
    e->meas_len = (uint32_t)ml;
    e->col_len = (uint32_t)cl;
    e->type = type;
    e->created_at_us = created_at_us;
    char *k = e->key;
    memcpy(k, db, dl);
    k[dl] = '\0';
    memcpy(k + dl + 1, meas, ml);
    k[dl + 1 + ml] = '\0';
    memcpy(k + dl + ml + 2, col, cl);
    k[dl + ml + 2 + cl] = '\0';
    table_put(cat->sch_table, cat->sch_cap, e);
    cat->sch_n++;
    return e;
}

void catalog__schema_load(struct catalog *cat, const char *db, const char *meas, const char *col,
                          size_t col_len, enum col_type type, int64_t created_at_us)
{
    size_t dl = strlen(db), ml = strlen(meas);
    uint32_t h = key_hash(db, dl, meas, ml, col, col_len);
    if (!lookup(cat, h, db, dl, meas, ml, col, col_len, NULL))
        insert(cat, h, db, dl, meas, ml, col, col_len, type, created_at_us);
}

static int schema_check(void *ctx, const char *db, const char *meas, const char *col,
                        size_t col_len, enum col_type type, enum col_type *existing)
{
    struct catalog *cat = ctx;
    size_t dl = strlen(db), ml = strlen(meas);
    uint32_t h = key_hash(db, dl, meas, ml, col, col_len);

    pthread_rwlock_rdlock(&cat->schema_lock);
    struct schema_entry *e = lookup(cat, h, db, dl, meas, ml, col, col_len, NULL);
    enum col_type have = e ? e->type : type;
    pthread_rwlock_unlock(&cat->schema_lock);
    if (!e) {
        /* DuckDB identifiers are case-insensitive: "Host" next to "host" (or
         * "Time" next to the timestamp) cannot be told apart in a query and
         * would be renamed in Parquet ("host_1"). The first spelling wins;
         * a later case variant is a conflict with the winner's type. */
        if (col_len == 4 && ci_equal(col, "time", 4)) {
            if (!memcmp(col, "time", 4))
                return RC_OK; /* the timestamp itself: always exists, never recorded */
            if (existing)
                *existing = COL_INT64; /* the timestamp column's storage type */
            return RC_INVALID;
        }
        struct schema_entry *ci = NULL;
        pthread_rwlock_wrlock(&cat->schema_lock);
        e = lookup(cat, h, db, dl, meas, ml, col, col_len, &ci);
        if (e) {
            have = e->type; /* another thread won the race: its type counts */
        } else if (ci) {
            pthread_rwlock_unlock(&cat->schema_lock);
            if (existing)
                *existing = ci->type;
            return RC_INVALID;
        } else {
            e = insert(cat, h, db, dl, meas, ml, col, col_len, type, time_now_us());
            if (cat->sch_npending == cat->sch_pending_cap) {
                cat->sch_pending_cap = cat->sch_pending_cap ? cat->sch_pending_cap * 2 : 64;
                cat->sch_pending =
                    xrealloc(cat->sch_pending, cat->sch_pending_cap * sizeof(*cat->sch_pending));
            }
            cat->sch_pending[cat->sch_npending++] = e;
            have = type;
        }
        pthread_rwlock_unlock(&cat->schema_lock);
    }
    if (have != type) {
        if (existing)
            *existing = have;
        return RC_INVALID;
    }
    return RC_OK;
}

struct schema_checker catalog_schema_checker(struct catalog *cat)
{
    struct schema_checker sc = {.check = schema_check, .ctx = cat};
    return sc;
}

struct schema_entry **catalog__schema_take_pending(struct catalog *cat, size_t *n)
{
    pthread_rwlock_wrlock(&cat->schema_lock);
    struct schema_entry **list = cat->sch_pending;
    *n = cat->sch_npending;
    cat->sch_pending = NULL;
    cat->sch_npending = cat->sch_pending_cap = 0;
    pthread_rwlock_unlock(&cat->schema_lock);
    return list;
}

void catalog__schema_restore_pending(struct catalog *cat, struct schema_entry **list, size_t n)
{
    if (!list)
        return;
    pthread_rwlock_wrlock(&cat->schema_lock);
    size_t need = cat->sch_npending + n;
    if (need > cat->sch_pending_cap) {
        cat->sch_pending_cap = need;
        cat->sch_pending = xrealloc(cat->sch_pending, need * sizeof(*cat->sch_pending));
    }
    memcpy(cat->sch_pending + cat->sch_npending, list, n * sizeof(*list));
    cat->sch_npending += n;
    pthread_rwlock_unlock(&cat->schema_lock);
    xfree(list);
}

void catalog__schema_free(struct catalog *cat)
{
    for (size_t i = 0; i < cat->sch_cap; i++)
        xfree(cat->sch_table[i]);
    xfree(cat->sch_table);
    xfree(cat->sch_pending);
    cat->sch_table = NULL;
    cat->sch_pending = NULL;
    cat->sch_cap = cat->sch_n = cat->sch_npending = cat->sch_pending_cap = 0;
}

static int cmp_col(const void *a, const void *b)
{
    const struct catalog_column *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c)
        return c;
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

void catalog_schema_get(struct catalog *cat, const char *db, const char *measurement,
                        struct catalog_column **out, size_t *out_n)
{
    size_t dl = strlen(db), ml = strlen(measurement);
    *out = NULL;
    *out_n = 0;
    pthread_rwlock_rdlock(&cat->schema_lock);
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < cat->sch_cap; i++) {
        const struct schema_entry *e = cat->sch_table[i];
        if (e && e->db_len == dl && e->meas_len == ml && !memcmp(schema_entry_db(e), db, dl) &&
            !memcmp(schema_entry_meas(e), measurement, ml)) {
            n++;
            bytes += e->col_len + 1;
        }
    }
    if (n) {
        /* One allocation: the array, then the names. */
        struct catalog_column *cols = xmalloc(n * sizeof(*cols) + bytes);
        char *names = (char *)(cols + n);
        size_t k = 0;
        for (size_t i = 0; i < cat->sch_cap && k < n; i++) {
            const struct schema_entry *e = cat->sch_table[i];
            if (e && e->db_len == dl && e->meas_len == ml && !memcmp(schema_entry_db(e), db, dl) &&
                !memcmp(schema_entry_meas(e), measurement, ml)) {
                memcpy(names, schema_entry_col(e), e->col_len + 1);
                cols[k].name = names;
                cols[k].name_len = e->col_len;
                cols[k].type = e->type;
                names += e->col_len + 1;
                k++;
            }
        }
        *out = cols;
        *out_n = n;
    }
    pthread_rwlock_unlock(&cat->schema_lock);
    if (*out_n > 1)
        qsort(*out, *out_n, sizeof(**out), cmp_col);
}

void catalog_columns_free(struct catalog_column **cols)
{
    if (!cols)
        return;
    xfree(*cols);
    *cols = NULL;
}
