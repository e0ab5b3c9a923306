/*
 * storage/readcache.c — bounded local cache of remote data files (see
 * readcache.h).
 *
 * Owns: the cache directory's contents, an index of entries (hash table by
 * key), the LRU list of complete files, the fetch queue and the fetch
 * threads "arc-cache-N".
 *
 * Threads: query threads call get / get_until / prefetch / release; the
 * fetch threads download; readcache_new / readcache_free run on the main
 * thread. One mutex (mu) guards all in-memory state; it is never held
 * across storage calls or file-system I/O (downloads, rename, unlink, the
 * startup scan).
 *
 * Entry states and who moves them:
 *
 *   (none) ──get/prefetch: miss──► FETCHING ──fetch thread: ok──► READY
 *                                     │                           │  ▲ get: pin
 *                    fetch thread:    │                           │  │ release: unpin
 *                    error / shutdown ▼                           ▼  │
 *                                   FAILED (out of the index;  evict_locked (pins == 0,
 *                                   freed by the last waiter)   over the cap)
 *                                                                 ▼
 *                                                             EVICTING ──unlink done──► (none)
 *
 * A FETCHING or EVICTING entry stays in the index, so nobody starts a
 * second download of its key or reuses its path while the file is being
 * written or deleted: a get finding EVICTING waits until it is gone, then
 * misses. Waiters on a FETCHING entry hold a pin, so the entry outlives the
 * wait even when the download fails (then it leaves the index at once and
 * the last waiter frees it).
 *
 * Accounting: `bytes` counts READY files only; an entry leaves it when it
 * turns EVICTING. Pinned files are never evicted, so bytes may exceed
 * max_bytes while queries hold them.
 */
#include "storage/readcache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "storage/storage.h"
#include "util/condvar.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/timeutil.h"

#define PATH_CAP 4096
#define DIR_MAX 2048      /* longest cache directory; keys add up to STORAGE_KEY_MAX */
#define SCAN_MAX_DEPTH 32 /* keys are a handful of components deep */
#define RENAME_ATTEMPTS 8 /* a concurrent eviction may remove an empty parent dir */
#define INITIAL_BUCKETS 256
#define TMP_PREFIX ".fetch-" /* temporary download names (hidden: never keys) */

enum ent_state { ENT_FETCHING, ENT_READY, ENT_EVICTING, ENT_FAILED };

struct ent {
    char *key; /* immutable while the entry exists */
    uint64_t hash;
    struct ent *hnext;       /* hash chain, while in_index */
    struct ent *prev, *next; /* LRU list (READY), or victim list (EVICTING, next only) */
    struct ent *qnext;       /* fetch queue, while queued */
    uint64_t bytes;          /* file size (READY, EVICTING) */
    int64_t mtime_us;        /* startup ordering only */
    uint32_t pins;           /* callers holding or waiting for the file */
    enum ent_state state;
    bool in_index;
    bool in_lru;
    struct errbuf err; /* FAILED: why (shared by every waiter) */
};

struct readcache {
    /* Immutable after readcache_new. */
    struct storage *st;
    char *dir;        /* absolute cache directory; NULL = passthrough (local backend) */
    const char *root; /* passthrough: the storage's local root */
    uint64_t max_bytes;
    pthread_t threads[READCACHE_FETCH_THREADS];
    size_t nthreads;
    struct metric *m_hits, *m_misses, *m_bytes, *m_evictions;

    /* mu guards every field below and every entry's mutable fields. */
    pthread_mutex_t mu;
    pthread_cond_t work_cv; /* fetch threads: queue not empty, or stop */
    pthread_cond_t done_cv; /* waiters: some entry changed state */
    struct ent **buckets;
    size_t nbuckets;
    size_t nindex;
    struct ent *lru_head, *lru_tail; /* head = least recently used */
    struct ent *q_head, *q_tail;
    bool stop;
    uint64_t seq; /* temporary names */
    struct readcache_stats s;
};

/* ---- index, LRU, queue (mu held) --------------------------------------------- */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static struct ent *index_find(struct readcache *c, const char *key, uint64_t h)
{
    for (struct ent *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void index_grow(struct readcache *c)
{
    size_t nb = c->nbuckets * 2;
    struct ent **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct ent *e = c->buckets[i];
        while (e) {
            struct ent *nx = e->hnext;
            e->hnext = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = nx;
        }
    }
    xfree(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

static void index_insert(struct readcache *c, struct ent *e)
{
    if (c->nindex >= c->nbuckets)
        index_grow(c);
    struct ent **b = &c->buckets[e->hash & (c->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    e->in_index = true;
    c->nindex++;
}

static void index_remove(struct readcache *c, struct ent *e)
{
    if (!e->in_index)
        return;
    struct ent **p = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*p && *p != e)
        p = &(*p)->hnext;
    if (*p)
        *p = e->hnext;
    e->hnext = NULL;
    e->in_index = false;
    c->nindex--;
}

static void lru_unlink(struct readcache *c, struct ent *e)
{
    if (!e->in_lru)
        return;
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
    e->in_lru = false;
}

static void lru_append(struct readcache *c, struct ent *e)
{
    e->prev = c->lru_tail;
    e->next = NULL;
    if (c->lru_tail)
        c->lru_tail->next = e;
    else
        c->lru_head = e;
    c->lru_tail = e;
    e->in_lru = true;
}

static void lru_touch(struct readcache *c, struct ent *e)
{
    lru_unlink(c, e);
    lru_append(c, e);
}

static struct ent *ent_new(const char *key, uint64_t h, enum ent_state state)
{
    struct ent *e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    e->hash = h;
    e->state = state;
    return e;
}

static void ent_free(struct ent *e)
{
    if (!e)
        return;
    xfree(e->key);
    xfree(e);
}

static void set_bytes_gauge(struct readcache *c)
{
    metric_set(c->m_bytes, (int64_t)c->s.bytes);
}

/* Creates a FETCHING entry for key and queues it for a fetch thread. */
static struct ent *start_fetch(struct readcache *c, const char *key, uint64_t h)
{
    struct ent *e = ent_new(key, h, ENT_FETCHING);
    index_insert(c, e);
    if (c->q_tail)
        c->q_tail->qnext = e;
    else
        c->q_head = e;
    c->q_tail = e;
    c->s.fetching++;
    c->s.misses++;
    metric_inc(c->m_misses);
    pthread_cond_signal(&c->work_cv);
    return e;
}

/* Picks unpinned files, least recently used first, until the cap holds;
 * marks them EVICTING (still in the index) and returns them as a list
 * linked through ->next. The caller deletes them with delete_victims. */
static struct ent *evict_locked(struct readcache *c)
{
    struct ent *victims = NULL;
    struct ent *e = c->lru_head;
    while (c->s.bytes > c->max_bytes && e) {
        struct ent *nx = e->next;
        if (e->pins == 0) {
            lru_unlink(c, e);
            e->state = ENT_EVICTING;
            c->s.bytes -= e->bytes;
            c->s.files--;
            c->s.evictions++;
            metric_inc(c->m_evictions);
            e->next = victims;
            victims = e;
        }
        e = nx;
    }
    set_bytes_gauge(c);
    return victims;
}

/* ---- file system (no lock held) ---------------------------------------------- */

/* Creates the directories of path below the cache directory (mkdir -p of
 * its parent). */
static void mkdir_parents(const struct readcache *c, char *path)
{
    size_t base = strlen(c->dir);
    for (char *p = path + base + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            log_debug("readcache", "mkdir failed path=%s err=%s", path, strerror(errno));
        *p = '/';
    }
}

/* Removes the now possibly empty directories above path, up to the cache
 * directory (a concurrent download recreates what it needs). */
static void rmdir_parents(const struct readcache *c, char *path)
{
    size_t base = strlen(c->dir);
    for (;;) {
        char *slash = strrchr(path, '/');
        if (!slash || (size_t)(slash - path) <= base)
            return;
        *slash = '\0';
        if (rmdir(path) != 0)
            return;
    }
}

static void delete_victims(struct readcache *c, struct ent *victims)
{
    if (!victims)
        return;
    for (struct ent *e = victims; e; e = e->next) {
        char path[PATH_CAP];
        snprintf(path, sizeof(path), "%s/%s", c->dir, e->key);
        if (unlink(path) != 0 && errno != ENOENT)
            log_warn("readcache", "cannot delete evicted file path=%s err=%s", path,
                     strerror(errno));
        rmdir_parents(c, path);
        log_debug("readcache", "evicted key=%s bytes=%llu", e->key, (unsigned long long)e->bytes);
    }
    pthread_mutex_lock(&c->mu);
    while (victims) {
        struct ent *nx = victims->next;
        index_remove(c, victims);
        ent_free(victims);
        victims = nx;
    }
    pthread_cond_broadcast(&c->done_cv);
    pthread_mutex_unlock(&c->mu);
}

/* Downloads key to a hidden temporary file in the cache directory, then
 * renames it to <dir>/<key>. On success *bytes is the file size. */
static int fetch_file(struct readcache *c, const char *key, uint64_t seq, uint64_t *bytes,
                      struct errbuf *eb)
{
    char tmp[PATH_CAP], final[PATH_CAP];
    snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "%ld-%llu.tmp", c->dir, (long)getpid(),
             (unsigned long long)seq);
    int n = snprintf(final, sizeof(final), "%s/%s", c->dir, key);
    if (n < 0 || (size_t)n >= sizeof(final))
        return errbuf_set(eb, RC_LIMIT, "read cache: path too long for key %.200s", key);
    int rc = storage_get_file(c->st, key, tmp, eb);
    if (rc != RC_OK)
        return rc; /* storage_get_file leaves no partial file */
    struct stat sb;
    if (stat(tmp, &sb) != 0) {
        rc = errbuf_set(eb, RC_IO, "read cache: stat %s: %s", tmp, strerror(errno));
        goto fail;
    }
    for (int attempt = 0;; attempt++) {
        mkdir_parents(c, final);
        if (rename(tmp, final) == 0)
            break;
        if (errno != ENOENT || attempt + 1 >= RENAME_ATTEMPTS) {
            rc = errbuf_set(eb, RC_IO, "read cache: rename to %s: %s", final, strerror(errno));
            goto fail;
        }
    }
    *bytes = (uint64_t)sb.st_size;
    return RC_OK;
fail:
    unlink(tmp);
    return rc;
}

/* ---- fetch threads -------------------------------------------------------------- */

static void *fetch_main(void *arg)
{
    struct readcache *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && !c->q_head)
            pthread_cond_wait(&c->work_cv, &c->mu);
        if (c->stop)
            break;
        struct ent *e = c->q_head;
        c->q_head = e->qnext;
        if (!c->q_head)
            c->q_tail = NULL;
        e->qnext = NULL;
        uint64_t seq = c->seq++;
        pthread_mutex_unlock(&c->mu);

        /* e stays FETCHING and in the index until we change it: no one else
         * frees it, and e->key is immutable. */
        struct errbuf eb;
        errbuf_clear(&eb);
        uint64_t bytes = 0;
        int64_t t0 = time_mono_ms();
        int rc = fetch_file(c, e->key, seq, &bytes, &eb);
        if (rc == RC_OK)
            log_debug("readcache", "fetched key=%s bytes=%llu ms=%lld", e->key,
                      (unsigned long long)bytes, (long long)(time_mono_ms() - t0));
        else if (rc != RC_NOT_FOUND)
            log_warn("readcache", "fetch failed key=%s rc=%s err=%s", e->key, rc_name(rc), eb.msg);

        pthread_mutex_lock(&c->mu);
        struct ent *victims = NULL;
        c->s.fetching--;
        if (rc == RC_OK) {
            e->state = ENT_READY;
            e->bytes = bytes;
            lru_append(c, e);
            c->s.files++;
            c->s.bytes += bytes;
            victims = evict_locked(c);
        } else {
            e->state = ENT_FAILED;
            e->err = eb;
            if (e->err.rc == RC_OK)
                e->err.rc = rc;
            index_remove(c, e);
            c->s.fetch_failures++;
            if (e->pins == 0)
                ent_free(e);
        }
        if (victims) {
            /* Waiters are woken by delete_victims, after the evicted files
             * are gone: a caller never sees the cache above its cap on
             * disk because of its own download. */
            pthread_mutex_unlock(&c->mu);
            delete_victims(c, victims);
            pthread_mutex_lock(&c->mu);
        } else {
            pthread_cond_broadcast(&c->done_cv);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- startup scan --------------------------------------------------------------- */

struct scan {
    struct ent **ents;
    size_t n, cap;
    uint64_t ignored, removed;
};

static bool has_hidden_component(const char *key)
{
    for (const char *p = key;;) {
        if (*p == '.')
            return true;
        p = strchr(p, '/');
        if (!p)
            return false;
        p++;
    }
}

/* Keys the cache accepts: valid storage keys without components starting
 * with '.', which are reserved for temporary files. */
static bool key_ok(const char *key)
{
    return storage_key_is_valid(key) && !has_hidden_component(key);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* A complete Parquet file starts and ends with "PAR1". A file cut short by
 * a crash (rename without fsync) fails this check. */
static bool parquet_magic_ok(const char *path, uint64_t size)
{
    if (size < 8)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char a[4], b[4];
    bool ok = pread(fd, a, 4, 0) == 4 && pread(fd, b, 4, (off_t)(size - 4)) == 4 &&
              memcmp(a, "PAR1", 4) == 0 && memcmp(b, "PAR1", 4) == 0;
    close(fd);
    return ok;
}

static void scan_file(struct readcache *c, struct scan *sc, const char *path, const char *rel,
                      const char *name, const struct stat *sb)
{
    if (name[0] == '.') {
        /* Our temporary names and the backend's temporary next to them. */
        if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0 ||
            strncmp(name, "." TMP_PREFIX, strlen(TMP_PREFIX) + 1) == 0) {
            if (unlink(path) == 0)
                sc->removed++;
        } else {
            sc->ignored++;
        }
        return;
    }
    if (!key_ok(rel)) {
        sc->ignored++;
        return;
    }
    if (ends_with(rel, ".parquet") && !parquet_magic_ok(path, (uint64_t)sb->st_size)) {
        log_warn("readcache", "deleting incomplete cached file path=%s", path);
        if (unlink(path) == 0)
            sc->removed++;
        return;
    }
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 64;
        sc->ents = xrealloc(sc->ents, sc->cap * sizeof(*sc->ents));
    }
    struct ent *e = ent_new(rel, hash_key(rel), ENT_READY);
    e->bytes = (uint64_t)sb->st_size;
    e->mtime_us = (int64_t)sb->st_mtim.tv_sec * US_PER_SEC + sb->st_mtim.tv_nsec / 1000;
    sc->ents[sc->n++] = e;
}

/* Walks <dir>/<rel> (rel "" = the top). Directories whose name starts with
 * '.' are not entered. Empty directories below the top are removed. */
static int scan_dir(struct readcache *c, struct scan *sc, const char *rel, int depth,
                    struct errbuf *eb)
{
    char path[PATH_CAP];
    snprintf(path, sizeof(path), "%s%s%s", c->dir, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) {
        if (depth == 0)
            return errbuf_set(eb, RC_IO, "read cache: open directory %s: %s", path,
                              strerror(errno));
        return RC_OK;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        char crel[PATH_CAP], cpath[PATH_CAP];
        int n1 = snprintf(crel, sizeof(crel), "%s%s%s", rel, rel[0] ? "/" : "", name);
        int n2 = snprintf(cpath, sizeof(cpath), "%s/%s", path, name);
        if (n1 < 0 || (size_t)n1 >= sizeof(crel) || n2 < 0 || (size_t)n2 >= sizeof(cpath)) {
            sc->ignored++;
            continue;
        }
        struct stat sb;
        if (lstat(cpath, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            if (name[0] == '.' || depth + 1 >= SCAN_MAX_DEPTH) {
                sc->ignored++;
                continue;
            }
            int rc = scan_dir(c, sc, crel, depth + 1, eb);
            if (rc != RC_OK) {
                closedir(d);
                return rc;
            }
            (void)rmdir(cpath); /* only succeeds when empty */
        } else if (S_ISREG(sb.st_mode)) {
            scan_file(c, sc, cpath, crel, name, &sb);
        } else {
            sc->ignored++;
        }
    }
    closedir(d);
    return RC_OK;
}

static int cmp_mtime(const void *a, const void *b)
{
    const struct ent *x = *(const struct ent *const *)a, *y = *(const struct ent *const *)b;
    return (x->mtime_us > y->mtime_us) - (x->mtime_us < y->mtime_us);
}

/* Rebuilds the index from the directory (single-threaded: at creation). */
static int scan_startup(struct readcache *c, struct errbuf *eb)
{
    struct scan sc = {0};
    int rc = scan_dir(c, &sc, "", 0, eb);
    if (rc != RC_OK) {
        for (size_t i = 0; i < sc.n; i++)
            ent_free(sc.ents[i]);
        xfree(sc.ents);
        return rc;
    }
    if (sc.n)
        qsort(sc.ents, sc.n, sizeof(*sc.ents), cmp_mtime);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < sc.n; i++) {
        struct ent *e = sc.ents[i];
        index_insert(c, e);
        lru_append(c, e);
        c->s.files++;
        c->s.bytes += e->bytes;
    }
    struct ent *victims = evict_locked(c);
    pthread_mutex_unlock(&c->mu);
    delete_victims(c, victims);
    xfree(sc.ents);
    if (sc.n || sc.removed || sc.ignored)
        log_info("readcache", "startup scan dir=%s files=%zu bytes=%llu removed=%llu ignored=%llu",
                 c->dir, sc.n, (unsigned long long)c->s.bytes, (unsigned long long)sc.removed,
                 (unsigned long long)sc.ignored);
    return RC_OK;
}

/* ---- public ---------------------------------------------------------------------- */

static int mkdir_p(const char *path, struct errbuf *eb)
{
    char buf[PATH_CAP];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errbuf_set(eb, RC_IO, "read cache: mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return errbuf_set(eb, RC_IO, "read cache: mkdir %s: %s", buf, strerror(errno));
    return RC_OK;
}

static void free_struct(struct readcache *c)
{
    if (c->buckets) {
        for (size_t i = 0; i < c->nbuckets; i++) {
            struct ent *e = c->buckets[i];
            while (e) {
                struct ent *nx = e->hnext;
                ent_free(e);
                e = nx;
            }
        }
    }
    xfree(c->buckets);
    xfree(c->dir);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->work_cv);
    pthread_cond_destroy(&c->done_cv);
    xfree(c);
}

static void stop_threads(struct readcache *c)
{
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    /* Queued downloads will not run: fail them for their waiters. */
    while (c->q_head) {
        struct ent *e = c->q_head;
        c->q_head = e->qnext;
        e->qnext = NULL;
        e->state = ENT_FAILED;
        errbuf_clear(&e->err);
        errbuf_set(&e->err, RC_SHUTDOWN, "read cache: shutting down");
        index_remove(c, e);
        c->s.fetching--;
        if (e->pins == 0)
            ent_free(e);
    }
    c->q_tail = NULL;
    pthread_cond_broadcast(&c->work_cv);
    pthread_cond_broadcast(&c->done_cv);
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < c->nthreads; i++)
        pthread_join(c->threads[i], NULL);
    c->nthreads = 0;
}

int readcache_new(struct storage *st, const char *dir, uint64_t max_bytes, struct readcache **out,
                  struct errbuf *eb)
{
    if (!st)
        return errbuf_set(eb, RC_INVALID, "read cache: no storage");
    if (max_bytes == 0)
        return errbuf_set(eb, RC_INVALID, "storage.cache_max_mb: must be positive");
    struct readcache *c = xcalloc(1, sizeof(*c));
    c->st = st;
    c->max_bytes = max_bytes;
    c->s.max_bytes = max_bytes;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->work_cv, NULL);
    cond_init_monotonic(&c->done_cv);
    c->nbuckets = INITIAL_BUCKETS;
    c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
    c->root = storage_local_root(st);
    if (c->root) { /* local backend: files are read in place */
        *out = c;
        return RC_OK;
    }
    int rc = RC_OK;
    if (!dir || !dir[0] || strlen(dir) > DIR_MAX) {
        rc =
            errbuf_set(eb, RC_INVALID, "storage.cache_dir: empty or longer than %d bytes", DIR_MAX);
        goto fail;
    }
    if ((rc = mkdir_p(dir, eb)) != RC_OK)
        goto fail;
    char real[PATH_MAX];
    if (!realpath(dir, real)) {
        rc = errbuf_set(eb, RC_IO, "storage.cache_dir: %s: %s", dir, strerror(errno));
        goto fail;
    }
    c->dir = xstrdup(real);
    c->m_hits = metrics_counter("arc_storage_cache_hits_total",
                                "Read cache gets served by a cached file", NULL);
    c->m_misses = metrics_counter("arc_storage_cache_misses_total",
                                  "Read cache downloads from storage", NULL);
    c->m_bytes = metrics_gauge("arc_storage_cache_bytes", "Bytes of files in the read cache", NULL);
    c->m_evictions = metrics_counter("arc_storage_cache_evictions_total",
                                     "Files evicted from the read cache", NULL);
    if ((rc = scan_startup(c, eb)) != RC_OK)
        goto fail;
    for (size_t i = 0; i < READCACHE_FETCH_THREADS; i++) {
        if (pthread_create(&c->threads[i], NULL, fetch_main, c) != 0) {
            rc = errbuf_set(eb, RC_INTERNAL, "read cache: cannot start fetch thread");
            goto fail;
        }
        char name[16];
        snprintf(name, sizeof(name), "arc-cache-%zu", i);
        pthread_setname_np(c->threads[i], name);
        c->nthreads++;
    }
    log_info("readcache", "read cache dir=%s max_bytes=%llu files=%llu bytes=%llu", c->dir,
             (unsigned long long)max_bytes, (unsigned long long)c->s.files,
             (unsigned long long)c->s.bytes);
    *out = c;
    return RC_OK;
fail:
    stop_threads(c);
    free_struct(c);
    return rc;
}

void readcache_free(struct readcache **cp)
{
    if (!cp || !*cp)
        return;
    struct readcache *c = *cp;
    *cp = NULL;
    stop_threads(c);
    uint64_t pinned = 0;
    for (struct ent *e = c->lru_head; e; e = e->next)
        pinned += e->pins ? 1 : 0;
    if (pinned)
        log_error("readcache", "freed with %llu pinned files (a release is missing)",
                  (unsigned long long)pinned);
    free_struct(c);
}

const char *readcache_dir(const struct readcache *c)
{
    return c->dir;
}

bool readcache_is_passthrough(const struct readcache *c)
{
    return c->dir == NULL;
}

/* Waits on done_cv until woken or deadline (0 = none). False once the
 * deadline has passed (checked before waiting). */
static bool wait_done(struct readcache *c, int64_t deadline_mono_ms)
{
    if (!deadline_mono_ms) {
        pthread_cond_wait(&c->done_cv, &c->mu);
        return true;
    }
    int64_t now = time_mono_ms();
    if (now >= deadline_mono_ms)
        return false;
    struct timespec ts;
    cond_deadline_ms(&ts, deadline_mono_ms - now);
    pthread_cond_timedwait(&c->done_cv, &c->mu, &ts);
    return true;
}

int readcache_get_until(struct readcache *c, const char *key, int64_t deadline_mono_ms,
                        char *local_path_out, size_t cap, struct errbuf *eb)
{
    if (!key_ok(key))
        return errbuf_set(eb, RC_INVALID, "read cache: invalid key \"%.200s\"", key ? key : "");
    int n = snprintf(local_path_out, cap, "%s/%s", c->dir ? c->dir : c->root, key);
    if (n < 0 || (size_t)n >= cap)
        return errbuf_set(eb, RC_LIMIT, "read cache: path buffer too small for key %.200s", key);
    if (!c->dir)
        return RC_OK;

    uint64_t h = hash_key(key);
    int rc = RC_OK;
    pthread_mutex_lock(&c->mu);
    struct ent *e;
    for (;;) {
        if (c->stop) {
            rc = errbuf_set(eb, RC_SHUTDOWN, "read cache: shutting down");
            goto out;
        }
        e = index_find(c, key, h);
        if (!e) {
            e = start_fetch(c, key, h);
            break;
        }
        if (e->state == ENT_READY) {
            e->pins++;
            lru_touch(c, e);
            c->s.hits++;
            metric_inc(c->m_hits);
            goto out;
        }
        if (e->state == ENT_FETCHING)
            break;
        /* EVICTING: its file is being deleted; once gone, this is a miss. */
        if (!wait_done(c, deadline_mono_ms)) {
            rc = errbuf_set(eb, RC_TIMEOUT, "read cache: deadline passed waiting for %.200s", key);
            goto out;
        }
    }
    /* FETCHING (by us or someone else): wait, pinned so e stays alive. */
    e->pins++;
    while (e->state == ENT_FETCHING) {
        if (!wait_done(c, deadline_mono_ms)) {
            e->pins--; /* the download goes on and lands in the cache */
            rc = errbuf_set(eb, RC_TIMEOUT,
                            "read cache: download of %.200s still running at the deadline", key);
            goto out;
        }
    }
    if (e->state == ENT_READY) {
        lru_touch(c, e);
        goto out; /* keeps the pin */
    }
    /* FAILED: out of the index already; the last waiter frees it. */
    rc = e->err.rc != RC_OK ? e->err.rc : RC_IO;
    errbuf_set(eb, rc, "%s", e->err.msg[0] ? e->err.msg : "read cache: download failed");
    if (--e->pins == 0)
        ent_free(e);
out:
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int readcache_get(struct readcache *c, const char *key, char *local_path_out, size_t cap,
                  struct errbuf *eb)
{
    return readcache_get_until(c, key, 0, local_path_out, cap, eb);
}

void readcache_prefetch(struct readcache *c, const char *key)
{
    if (!c->dir || !key_ok(key))
        return;
    uint64_t h = hash_key(key);
    pthread_mutex_lock(&c->mu);
    if (!c->stop && !index_find(c, key, h))
        start_fetch(c, key, h);
    pthread_mutex_unlock(&c->mu);
}

void readcache_release(struct readcache *c, const char *key)
{
    if (!c->dir || !key)
        return;
    uint64_t h = hash_key(key);
    struct ent *victims = NULL;
    pthread_mutex_lock(&c->mu);
    struct ent *e = index_find(c, key, h);
    if (!e || e->state != ENT_READY || e->pins == 0) {
        pthread_mutex_unlock(&c->mu);
        log_error("readcache", "release without a matching get key=%.200s", key);
        return;
    }
    if (--e->pins == 0 && c->s.bytes > c->max_bytes)
        victims = evict_locked(c);
    pthread_mutex_unlock(&c->mu);
    delete_victims(c, victims);
}

void readcache_get_stats(struct readcache *c, struct readcache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->s;
    out->pinned_files = 0;
    for (struct ent *e = c->lru_head; e; e = e->next)
        out->pinned_files += e->pins ? 1 : 0;
    pthread_mutex_unlock(&c->mu);
}
