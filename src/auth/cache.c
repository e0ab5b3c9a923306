/*
 * auth/cache.c — LRU cache of successful verifications (SPEC §5.6).
 *
 * Keyed by SHA-256 of the token (the token itself is never kept). Chained
 * hash table plus a doubly linked recency list: head = most recently used,
 * tail = next to evict. An entry lives at most ttl_ms from its insertion;
 * expiry of the token itself (expires_at) is checked by the caller on every
 * hit, since a token may expire while cached.
 *
 * Not thread-safe: struct auth guards it with cache_lock (auth.c).
 */
#include "auth/auth_internal.h"

#include <string.h>

#include "util/mem.h"

struct auth__centry {
    unsigned char key[AUTH__SHA256_LEN];
    struct auth_principal p;
    int64_t inserted_ms;
    struct auth__centry *hnext;       /* bucket chain */
    struct auth__centry *prev, *next; /* recency list */
};

void auth__cache_init(struct auth__cache *c, size_t max_size, int64_t ttl_ms)
{
    memset(c, 0, sizeof(*c));
    c->max_size = max_size;
    c->ttl_ms = ttl_ms;
    size_t nb = 16;
    while (nb < max_size * 2 && nb < ((size_t)1 << 24))
        nb <<= 1;
    c->nbuckets = nb;
    c->buckets = xcalloc(nb, sizeof(*c->buckets));
}

void auth__cache_cleanup(struct auth__cache *c)
{
    auth__cache_clear(c);
    xfree(c->buckets);
    c->buckets = NULL;
    c->nbuckets = 0;
}

static size_t bucket_of(const struct auth__cache *c, const unsigned char *key)
{
    /* The key is a SHA-256 digest: its bytes are already uniformly spread. */
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return (size_t)(h & (c->nbuckets - 1));
}

static void lru_unlink(struct auth__cache *c, struct auth__centry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct auth__cache *c, struct auth__centry *e)
{
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head)
        c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static void remove_entry(struct auth__cache *c, struct auth__centry *e)
{
    struct auth__centry **pp = &c->buckets[bucket_of(c, e->key)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    c->size--;
    xfree(e);
}

static struct auth__centry *find(struct auth__cache *c, const unsigned char *key)
{
    for (struct auth__centry *e = c->buckets[bucket_of(c, key)]; e; e = e->hnext)
        if (memcmp(e->key, key, AUTH__SHA256_LEN) == 0)
            return e;
    return NULL;
}

bool auth__cache_get(struct auth__cache *c, const unsigned char key[AUTH__SHA256_LEN],
                     int64_t now_ms, struct auth_principal *out)
{
    struct auth__centry *e = c->max_size && c->ttl_ms > 0 ? find(c, key) : NULL;
    if (e && now_ms - e->inserted_ms >= c->ttl_ms) {
        remove_entry(c, e);
        e = NULL;
    }
    if (!e) {
        c->misses++;
        return false;
    }
    c->hits++;
    lru_unlink(c, e);
    lru_push_front(c, e);
    *out = e->p;
    return true;
}

void auth__cache_put(struct auth__cache *c, const unsigned char key[AUTH__SHA256_LEN],
                     const struct auth_principal *p, int64_t now_ms)
{
    if (!c->max_size || c->ttl_ms <= 0)
        return;
    struct auth__centry *e = find(c, key);
    if (e) {
        e->p = *p;
        e->inserted_ms = now_ms;
        lru_unlink(c, e);
        lru_push_front(c, e);
        return;
    }
    while (c->size >= c->max_size && c->lru_tail) {
        remove_entry(c, c->lru_tail);
        c->evictions++;
    }
    e = xcalloc(1, sizeof(*e));
    memcpy(e->key, key, AUTH__SHA256_LEN);
    e->p = *p;
    e->inserted_ms = now_ms;
    size_t b = bucket_of(c, key);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lru_push_front(c, e);
    c->size++;
}

void auth__cache_clear(struct auth__cache *c)
{
    struct auth__centry *e = c->lru_head;
    while (e) {
        struct auth__centry *next = e->next;
        xfree(e);
        e = next;
    }
    c->lru_head = c->lru_tail = NULL;
    if (c->buckets)
        memset(c->buckets, 0, c->nbuckets * sizeof(*c->buckets));
    c->size = 0;
    c->generation++;
}
