/*
 * query/qcache.c — query result cache (see qcache.h).
 *
 * Entries sit in one doubly linked list in LRU order (head = most recently
 * used). Lookup is a linear scan comparing 64-bit key hashes first: the
 * cache holds at most query_cache.max_size entries (default 100), so a hash
 * table would not pay for itself. Each entry is reference counted: the list
 * holds one reference, every outstanding hit another, so a hit can copy the
 * body to the network without holding the lock while a clear drops the
 * entry from the list.
 *
 * Lock: `lock` guards the list, the counters and `generation`. It is never
 * held across I/O, allocation of a body copy, or a call into another
 * module. Threads: HTTP worker threads (get/put/stats), flush workers
 * and the scheduler (query_cache_clear).
 */
#include "query/qcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"
#include "util/timeutil.h"

struct qcache_entry {
    struct qcache_entry *prev, *next;
    _Atomic int refs;
    uint64_t hash;
    char *key; /* sql \0 db \0 format */
    size_t key_len;
    char *body;
    size_t len;
    uint64_t row_count;
    size_t ncolumns;
    int64_t stored_mono_ns;
    int64_t stored_wall_us;
};

struct qcache {
    struct qcache_options o; /* never changes after qcache_new */

    /* `lock` guards everything below. */
    pthread_mutex_t lock;
    struct qcache_entry *head, *tail;
    size_t count, bytes;
    uint64_t generation;
    uint64_t requests, hits, misses, evictions, expirations, clears;
};

static _Atomic(struct qcache *) g_cache;

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Builds the key "sql\0db\0format" (xmalloc'ed). */
static char *make_key(const char *sql, const char *db, const char *format, size_t *len)
{
    size_t a = strlen(sql), b = strlen(db ? db : ""), c = strlen(format ? format : "");
    *len = a + b + c + 2;
    char *k = xmalloc(*len + 1);
    memcpy(k, sql, a);
    k[a] = '\0';
    memcpy(k + a + 1, db ? db : "", b);
    k[a + 1 + b] = '\0';
    memcpy(k + a + b + 2, format ? format : "", c);
    k[*len] = '\0';
    return k;
}

static void entry_unref(struct qcache_entry *e)
{
    if (atomic_fetch_sub(&e->refs, 1) == 1) {
        xfree(e->key);
        xfree(e->body);
        xfree(e);
    }
}

/* Unlinks e from the list (lock held); the caller drops the list's ref
 * after unlocking. */
static void unlink_entry(struct qcache *c, struct qcache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
    c->count--;
    c->bytes -= e->len + e->key_len;
}

static void push_front(struct qcache *c, struct qcache_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
    c->count++;
    c->bytes += e->len + e->key_len;
}

static struct qcache_entry *find(struct qcache *c, uint64_t hash, const char *key, size_t key_len)
{
    for (struct qcache_entry *e = c->head; e; e = e->next)
        if (e->hash == hash && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
            return e;
    return NULL;
}

struct qcache *qcache_new(const struct qcache_options *o)
{
    struct qcache *c = xcalloc(1, sizeof(*c));
    c->o = *o;
    if (c->o.ttl_ms <= 0)
        c->o.ttl_ms = 60000;
    if (c->o.max_entries == 0)
        c->o.enabled = false;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void qcache_free(struct qcache **cp)
{
    struct qcache *c = cp ? *cp : NULL;
    if (!c)
        return;
    struct qcache *expected = c;
    atomic_compare_exchange_strong(&g_cache, &expected, NULL);
    struct qcache_entry *e = c->head;
    while (e) {
        struct qcache_entry *n = e->next;
        entry_unref(e);
        e = n;
    }
    pthread_mutex_destroy(&c->lock);
    xfree(c);
    *cp = NULL;
}

bool qcache_enabled(const struct qcache *c)
{
    return c && c->o.enabled;
}

const struct qcache_options *qcache_options(const struct qcache *c)
{
    return &c->o;
}

uint64_t qcache_generation(struct qcache *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t g = c->generation;
    pthread_mutex_unlock(&c->lock);
    return g;
}

bool qcache_get(struct qcache *c, const char *sql, const char *db, const char *format,
                struct qcache_hit *out)
{
    memset(out, 0, sizeof(*out));
    if (!c || !c->o.enabled)
        return false;
    size_t key_len;
    char *key = make_key(sql, db, format, &key_len);
    uint64_t hash = fnv1a(key, key_len);
    int64_t now = time_mono_ns();
    struct qcache_entry *expired = NULL, *hit = NULL;
    pthread_mutex_lock(&c->lock);
    c->requests++;
    struct qcache_entry *e = find(c, hash, key, key_len);
    if (e && now - e->stored_mono_ns >= c->o.ttl_ms * 1000000) {
        unlink_entry(c, e);
        c->expirations++;
        expired = e;
        e = NULL;
    }
    if (e) {
        /* Move to the front: most recently used. */
        unlink_entry(c, e);
        push_front(c, e);
        atomic_fetch_add(&e->refs, 1);
        c->hits++;
        hit = e;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->lock);
    xfree(key);
    if (expired)
        entry_unref(expired);
    if (!hit)
        return false;
    out->body = hit->body;
    out->len = hit->len;
    out->row_count = hit->row_count;
    out->age_s = (double)(now - hit->stored_mono_ns) / 1e9;
    out->ref_ = hit;
    return true;
}

void qcache_hit_release(struct qcache_hit *h)
{
    if (h && h->ref_) {
        entry_unref(h->ref_);
        h->ref_ = NULL;
        h->body = NULL;
    }
}

bool qcache_put(struct qcache *c, const char *sql, const char *db, const char *format,
                uint64_t generation, const char *body, size_t len, uint64_t row_count,
                size_t ncolumns)
{
    if (!c || !c->o.enabled || len > c->o.max_result_bytes || len > c->o.max_total_bytes)
        return false;
    /* The copy is made before taking the lock (it may be megabytes). */
    struct qcache_entry *e = xcalloc(1, sizeof(*e));
    atomic_init(&e->refs, 1);
    e->key = make_key(sql, db, format, &e->key_len);
    e->hash = fnv1a(e->key, e->key_len);
    e->body = xmalloc(len + 1);
    memcpy(e->body, body, len);
    e->body[len] = '\0';
    e->len = len;
    e->row_count = row_count;
    e->ncolumns = ncolumns;
    e->stored_mono_ns = time_mono_ns();
    e->stored_wall_us = time_now_us();

    /* Unlinked entries are chained through `next` and released after the
     * lock is dropped. */
    struct qcache_entry *dropped = NULL;
    bool stored = false;
    pthread_mutex_lock(&c->lock);
    if (generation == c->generation) {
        struct qcache_entry *old = find(c, e->hash, e->key, e->key_len);
        if (old) {
            unlink_entry(c, old);
            old->next = dropped;
            dropped = old;
        }
        while (c->tail && (c->count >= c->o.max_entries ||
                           c->bytes + e->len + e->key_len > c->o.max_total_bytes)) {
            struct qcache_entry *victim = c->tail;
            unlink_entry(c, victim);
            c->evictions++;
            victim->next = dropped;
            dropped = victim;
        }
        push_front(c, e);
        stored = true;
    }
    pthread_mutex_unlock(&c->lock);
    while (dropped) {
        struct qcache_entry *n = dropped->next;
        entry_unref(dropped);
        dropped = n;
    }
    if (!stored)
        entry_unref(e);
    return stored;
}

size_t qcache_clear(struct qcache *c)
{
    if (!c)
        return 0;
    pthread_mutex_lock(&c->lock);
    struct qcache_entry *list = c->head;
    size_t n = c->count;
    c->head = c->tail = NULL;
    c->count = 0;
    c->bytes = 0;
    c->generation++;
    c->clears++;
    pthread_mutex_unlock(&c->lock);
    while (list) {
        struct qcache_entry *next = list->next;
        entry_unref(list);
        list = next;
    }
    return n;
}

void qcache_get_stats(struct qcache *c, struct qcache_stats *out)
{
    pthread_mutex_lock(&c->lock);
    out->current_size = c->count;
    out->total_bytes = c->bytes;
    out->total_requests = c->requests;
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->expirations = c->expirations;
    out->clears = c->clears;
    pthread_mutex_unlock(&c->lock);
}

size_t qcache_list(struct qcache *c, struct qcache_entry_info *out, size_t max)
{
    int64_t now = time_mono_ns();
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (struct qcache_entry *e = c->head; e && n < max; e = e->next, n++) {
        snprintf(out[n].key_hash, sizeof(out[n].key_hash), "%016llx", (unsigned long long)e->hash);
        out[n].age_seconds = (double)(now - e->stored_mono_ns) / 1e9;
        out[n].row_count = e->row_count;
        out[n].columns = e->ncolumns;
        out[n].bytes = e->len;
        out[n].cached_at_us = e->stored_wall_us;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

void qcache_set_global(struct qcache *c)
{
    atomic_store(&g_cache, c);
}

size_t query_cache_clear(void)
{
    return qcache_clear(atomic_load(&g_cache));
}
