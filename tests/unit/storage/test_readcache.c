/* The read cache (storage/readcache.h) against a real S3 implementation
 * (s3rver, see s3rver_harness.h): misses and hits, exact LRU eviction by
 * bytes (and removal of emptied directories), pinned files surviving
 * eviction, one download for many concurrent gets of a key, prefetch,
 * restart (index rebuilt from the directory, leftovers and truncated files
 * removed, oldest evicted under a smaller cap), failures shared by waiters
 * (storage_fail), callers leaving at their deadline while a hung download
 * goes on (storage_hang), and the local backend's pass-through.
 *
 * Skipped, with a message, when node or s3rver is not installed (except the
 * local pass-through test). */
#include "test_helpers.h"

#include <pthread.h>
#include <sys/time.h>

#include "metrics/metrics.h"
#include "s3rver_harness.h"
#include "storage/readcache.h"
#include "storage/storage.h"
#include "util/faults.h"

static int g_ndir;

/* A fresh, not yet existing cache directory under g_root. */
static const char *new_dir(char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/cache-%d", g_root, ++g_ndir);
    return buf;
}

/* An S3 storage with a short request timeout and no retries (fault tests). */
static struct storage *open_fast(long request_timeout_s)
{
    char ep[128], staging[128];
    snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", g_port);
    snprintf(staging, sizeof(staging), "%s/staging", g_root);
    struct s3_options o;
    s3_options_init(&o);
    o.endpoint = ep;
    o.bucket = BUCKET;
    o.prefix = "rc/";
    o.access_key = "S3RVER";
    o.secret_key = "S3RVER";
    o.use_ssl = false;
    o.path_style = true;
    o.connect_timeout_s = 2;
    o.request_timeout_s = request_timeout_s;
    o.operation_timeout_s = request_timeout_s + 2;
    o.max_retries = 0;
    o.breaker_threshold = 1000; /* keep the breaker out of these tests */
    o.staging_dir = staging;
    struct storage *st = NULL;
    struct errbuf eb = {0};
    if (storage_new_s3(&o, &st, &eb) != RC_OK)
        fail_msg("storage_new_s3: %s", eb.msg);
    return st;
}

/* "PAR1" + filler + "PAR1", exactly size bytes (size >= 8). Static buffer. */
static const char *parquetish(size_t size, char fill)
{
    static char buf[1 << 21];
    assert_true(size >= 8 && size < sizeof(buf));
    memcpy(buf, "PAR1", 4);
    memset(buf + 4, fill, size - 8);
    memcpy(buf + size - 4, "PAR1", 4);
    buf[size] = '\0';
    return buf;
}

static void put_obj(struct storage *st, const char *key, size_t size, char fill)
{
    put_str(st, key, parquetish(size, fill), 0, RC_OK);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static double fam(const char *name)
{
    return metrics_family_total(name);
}

static struct readcache *new_cache(struct storage *st, const char *dir, uint64_t max)
{
    struct readcache *c = NULL;
    struct errbuf eb = {0};
    if (readcache_new(st, dir, max, &c, &eb) != RC_OK)
        fail_msg("readcache_new: %s", eb.msg);
    return c;
}

static void get_ok(struct readcache *c, const char *key, char *path, size_t cap)
{
    struct errbuf eb = {0};
    int rc = readcache_get(c, key, path, cap, &eb);
    if (rc != RC_OK)
        fail_msg("readcache_get %s: rc %d (%s)", key, rc, eb.msg);
}

static void cached_path(struct readcache *c, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", readcache_dir(c), key);
}

static struct readcache_stats stats(struct readcache *c)
{
    struct readcache_stats s;
    readcache_get_stats(c, &s);
    return s;
}

/* Sets ARC_TEST_FAULTS (NULL = none) and re-reads it. Only while no cache
 * thread is downloading. */
static void set_faults(const char *v)
{
    if (v)
        setenv("ARC_TEST_FAULTS", v, 1);
    else
        unsetenv("ARC_TEST_FAULTS");
    faults_reload();
}

static void wait_idle(struct readcache *c, int64_t ms)
{
    int64_t end = time_mono_ms() + ms;
    while (stats(c).fetching && time_mono_ms() < end)
        usleep(10000);
    assert_int_equal(stats(c).fetching, 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_miss_then_hit(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_fast(10);
    const char *k1 = "db/cpu/2025/01/15/14/cpu_20250115_140307_000000001_n1.parquet";
    put_obj(st, k1, 100, 'a');
    char dir[256], path[4096], want[4096];
    struct readcache *c = new_cache(st, new_dir(dir, sizeof(dir)), 1 << 20);
    assert_false(readcache_is_passthrough(c));
    assert_non_null(readcache_dir(c));
    assert_int_equal(readcache_dir(c)[0], '/'); /* absolute */

    double reads0 = fam("arc_storage_reads_total");
    double hits0 = fam("arc_storage_cache_hits_total");
    double miss0 = fam("arc_storage_cache_misses_total");
    get_ok(c, k1, path, sizeof(path));
    cached_path(c, k1, want, sizeof(want));
    assert_string_equal(path, want);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[256];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    assert_int_equal(n, 100);
    assert_memory_equal(buf, parquetish(100, 'a'), 100);
    struct readcache_stats s = stats(c);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.files, 1);
    assert_int_equal(s.bytes, 100);
    assert_int_equal(s.pinned_files, 1);
    readcache_release(c, k1);
    assert_int_equal(stats(c).pinned_files, 0);

    get_ok(c, k1, path, sizeof(path));
    assert_string_equal(path, want);
    readcache_release(c, k1);
    s = stats(c);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 1);
    assert_true(fam("arc_storage_reads_total") - reads0 == 1.0); /* downloaded once */
    assert_true(fam("arc_storage_cache_hits_total") - hits0 == 1.0);
    assert_true(fam("arc_storage_cache_misses_total") - miss0 == 1.0);
    assert_true(fam("arc_storage_cache_bytes") == 100.0);

    /* A missing object: RC_NOT_FOUND, nothing cached or pinned, not
     * remembered (the next get asks storage again). */
    struct errbuf eb = {0};
    const char *nope = "db/cpu/2025/01/15/14/nope.parquet";
    assert_int_equal(readcache_get(c, nope, path, sizeof(path), &eb), RC_NOT_FOUND);
    assert_int_equal(readcache_get(c, nope, path, sizeof(path), &eb), RC_NOT_FOUND);
    s = stats(c);
    assert_int_equal(s.misses, 3);
    assert_int_equal(s.fetch_failures, 2);
    assert_int_equal(s.files, 1);
    assert_int_equal(s.pinned_files, 0);
    cached_path(c, nope, want, sizeof(want));
    assert_false(exists(want));

    /* Bad keys and a small buffer. */
    assert_int_equal(readcache_get(c, "../etc/passwd", path, sizeof(path), &eb), RC_INVALID);
    assert_int_equal(readcache_get(c, "db/.hidden/x.parquet", path, sizeof(path), &eb), RC_INVALID);
    assert_int_equal(readcache_get(c, "", path, sizeof(path), &eb), RC_INVALID);
    char small[16];
    assert_int_equal(readcache_get(c, k1, small, sizeof(small), &eb), RC_LIMIT);
    s = stats(c);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.pinned_files, 0);

    /* Only temporary names never show up: no hidden file is left behind. */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test -z \"$(find '%s' -name '.*' -type f)\"", readcache_dir(c));
    assert_int_equal(system(cmd), 0);

    readcache_free(&c);
    assert_null(c);
    readcache_free(&c); /* accepts NULL */
    storage_free(&st);
}

static void test_eviction_lru(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_fast(10);
    const char *keys[] = {
        "db/m/2025/01/15/10/m_a.parquet", "db/m/2025/01/15/11/m_b.parquet",
        "db/m/2025/01/15/11/m_c.parquet", "db/m/2025/01/15/12/m_d.parquet",
        "db/m/2025/01/15/12/m_e.parquet",
    };
    for (size_t i = 0; i < 5; i++)
        put_obj(st, keys[i], 100, (char)('a' + i));
    char dir[256], path[4096], p[5][4096];
    struct readcache *c = new_cache(st, new_dir(dir, sizeof(dir)), 300);
    for (size_t i = 0; i < 5; i++)
        cached_path(c, keys[i], p[i], sizeof(p[i]));
    double ev0 = fam("arc_storage_cache_evictions_total");

    for (size_t i = 0; i < 3; i++) { /* a, b, c: exactly at the cap */
        get_ok(c, keys[i], path, sizeof(path));
        readcache_release(c, keys[i]);
    }
    struct readcache_stats s = stats(c);
    assert_int_equal(s.files, 3);
    assert_int_equal(s.bytes, 300);
    assert_int_equal(s.evictions, 0);

    get_ok(c, keys[1], path, sizeof(path)); /* touch b: LRU order a, c, b */
    readcache_release(c, keys[1]);
    get_ok(c, keys[3], path, sizeof(path)); /* d: 400 > 300 → a goes */
    readcache_release(c, keys[3]);
    s = stats(c);
    assert_int_equal(s.files, 3);
    assert_int_equal(s.bytes, 300);
    assert_int_equal(s.evictions, 1);
    assert_false(exists(p[0]));
    assert_true(exists(p[1]) && exists(p[2]) && exists(p[3]));
    /* a's hour directory became empty and was removed; the day stays. */
    char hourdir[4096];
    snprintf(hourdir, sizeof(hourdir), "%s/db/m/2025/01/15/10", readcache_dir(c));
    assert_false(exists(hourdir));
    snprintf(hourdir, sizeof(hourdir), "%s/db/m/2025/01/15", readcache_dir(c));
    assert_true(exists(hourdir));

    get_ok(c, keys[4], path, sizeof(path)); /* e: c is now least recently used */
    readcache_release(c, keys[4]);
    s = stats(c);
    assert_int_equal(s.evictions, 2);
    assert_int_equal(s.bytes, 300);
    assert_false(exists(p[2]));
    assert_true(exists(p[1]) && exists(p[3]) && exists(p[4]));
    assert_true(fam("arc_storage_cache_evictions_total") - ev0 == 2.0);
    assert_true(fam("arc_storage_cache_bytes") == 300.0);

    /* An evicted file comes back as a miss. */
    uint64_t m0 = stats(c).misses;
    get_ok(c, keys[0], path, sizeof(path));
    assert_true(exists(p[0]));
    readcache_release(c, keys[0]);
    assert_int_equal(stats(c).misses, m0 + 1);
    assert_int_equal(stats(c).bytes, 300);
    readcache_free(&c);
    storage_free(&st);
}

static void test_pinning(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_fast(10);
    const char *keys[] = {"db/p/2025/01/15/10/p_a.parquet", "db/p/2025/01/15/10/p_b.parquet",
                          "db/p/2025/01/15/10/p_c.parquet", "db/p/2025/01/15/10/p_d.parquet"};
    for (size_t i = 0; i < 4; i++)
        put_obj(st, keys[i], 100, (char)('p' + i));
    char dir[256], path[4096], p[4][4096];
    struct readcache *c = new_cache(st, new_dir(dir, sizeof(dir)), 200);
    for (size_t i = 0; i < 4; i++)
        cached_path(c, keys[i], p[i], sizeof(p[i]));

    get_ok(c, keys[0], path, sizeof(path)); /* a pinned (held by a "query") */
    get_ok(c, keys[1], path, sizeof(path));
    readcache_release(c, keys[1]);          /* b unpinned */
    get_ok(c, keys[2], path, sizeof(path)); /* c pinned: 300 > 200, only b may go */
    struct readcache_stats s = stats(c);
    assert_int_equal(s.evictions, 1);
    assert_false(exists(p[1]));
    assert_true(exists(p[0]) && exists(p[2]));
    get_ok(c, keys[3], path, sizeof(path)); /* d pinned: all pinned, over the cap */
    s = stats(c);
    assert_int_equal(s.bytes, 300);
    assert_int_equal(s.pinned_files, 3);
    assert_int_equal(s.evictions, 1);
    assert_true(exists(p[0]) && exists(p[2]) && exists(p[3]));

    /* Releasing a pinned file while over the cap evicts it at once. */
    readcache_release(c, keys[0]);
    s = stats(c);
    assert_int_equal(s.bytes, 200);
    assert_int_equal(s.evictions, 2);
    assert_false(exists(p[0]));
    readcache_release(c, keys[2]);
    readcache_release(c, keys[3]);
    s = stats(c);
    assert_int_equal(s.bytes, 200); /* within the cap: both stay */
    assert_int_equal(s.pinned_files, 0);
    assert_true(exists(p[2]) && exists(p[3]));

    /* Two gets of one file need two releases. */
    get_ok(c, keys[2], path, sizeof(path));
    get_ok(c, keys[2], path, sizeof(path));
    readcache_release(c, keys[2]);
    assert_int_equal(stats(c).pinned_files, 1);
    readcache_release(c, keys[2]);
    assert_int_equal(stats(c).pinned_files, 0);
    /* A release without a get is logged and ignored. */
    readcache_release(c, keys[2]);
    readcache_release(c, "db/p/never.parquet");
    assert_int_equal(stats(c).pinned_files, 0);
    assert_int_equal(stats(c).files, 2);
    readcache_free(&c);
    storage_free(&st);
}

struct racer {
    struct readcache *c;
    const char *key;
    pthread_barrier_t *bar;
    int rc;
    char path[4096];
};

static void *race_get(void *arg)
{
    struct racer *r = arg;
    struct errbuf eb = {0};
    pthread_barrier_wait(r->bar);
    r->rc = readcache_get(r->c, r->key, r->path, sizeof(r->path), &eb);
    return NULL;
}

static void test_concurrent_same_key(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_fast(20);
    const char *key = "db/big/2025/01/15/10/big_1.parquet";
    put_obj(st, key, 1 << 20, 'z'); /* 1 MiB: the download takes a moment */
    char dir[256], want[4096];
    struct readcache *c = new_cache(st, new_dir(dir, sizeof(dir)), 64 << 20);
    cached_path(c, key, want, sizeof(want));
    double reads0 = fam("arc_storage_reads_total");

    enum { N = 8 };
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, N);
    struct racer r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct racer){.c = c, .key = key, .bar = &bar, .rc = -1};
        pthread_create(&t[i], NULL, race_get, &r[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].rc, RC_OK);
        assert_string_equal(r[i].path, want);
    }
    struct readcache_stats s = stats(c);
    assert_int_equal(s.misses, 1); /* one download ... */
    assert_true(fam("arc_storage_reads_total") - reads0 == 1.0);
    assert_int_equal(s.files, 1);
    assert_int_equal(s.bytes, 1 << 20);
    assert_int_equal(s.pinned_files, 1); /* ... pinned by all eight */
    for (int i = 0; i < N; i++)
        readcache_release(c, key);
    assert_int_equal(stats(c).pinned_files, 0);
    unsigned char a[32], b[32];
    char src[256];
    snprintf(src, sizeof(src), "%s/src.bin", g_root);
    FILE *f = fopen(src, "wb");
    fwrite(parquetish(1 << 20, 'z'), 1, 1 << 20, f);
    fclose(f);
    sha256_file(src, a);
    sha256_file(want, b);
    assert_memory_equal(a, b, 32);

    /* Prefetch: many keys download in parallel; each is fetched once. */
    char keys[6][128];
    for (int i = 0; i < 6; i++) {
        snprintf(keys[i], sizeof(keys[i]), "db/pf/2025/01/15/10/pf_%d.parquet", i);
        put_obj(st, keys[i], 4096, (char)('0' + i));
    }
    reads0 = fam("arc_storage_reads_total");
    uint64_t m0 = stats(c).misses;
    for (int i = 0; i < 6; i++) {
        readcache_prefetch(c, keys[i]);
        readcache_prefetch(c, keys[i]); /* second one is a no-op */
    }
    char path[4096];
    for (int i = 0; i < 6; i++) {
        struct errbuf eb = {0};
        assert_int_equal(
            readcache_get_until(c, keys[i], time_mono_ms() + 10000, path, sizeof(path), &eb),
            RC_OK);
        readcache_release(c, keys[i]);
    }
    assert_int_equal(stats(c).misses, m0 + 6);
    assert_true(fam("arc_storage_reads_total") - reads0 == 6.0);
    readcache_prefetch(c, "../bad"); /* ignored */
    assert_int_equal(stats(c).misses, m0 + 6);
    readcache_free(&c);
    storage_free(&st);
}

static void set_mtime(const char *path, time_t t)
{
    struct timeval tv[2] = {{t, 0}, {t, 0}};
    assert_int_equal(utimes(path, tv), 0);
}

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void test_restart(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_fast(10);
    const char *keys[] = {"db/r/2025/01/15/10/r_a.parquet", "db/r/2025/01/15/10/r_b.parquet",
                          "db/r/2025/01/15/11/r_c.parquet"};
    for (size_t i = 0; i < 3; i++)
        put_obj(st, keys[i], 100, (char)('a' + i));
    char dir[256], path[4096], p[3][4096];
    new_dir(dir, sizeof(dir));
    struct readcache *c = new_cache(st, dir, 1 << 20);
    for (size_t i = 0; i < 3; i++) {
        get_ok(c, keys[i], path, sizeof(path));
        readcache_release(c, keys[i]);
        cached_path(c, keys[i], p[i], sizeof(p[i]));
    }
    char root[4096];
    snprintf(root, sizeof(root), "%s", readcache_dir(c));
    readcache_free(&c);
    /* Files stay on disk; make a the oldest, c the newest. */
    set_mtime(p[0], 1000000000);
    set_mtime(p[1], 1000000100);
    set_mtime(p[2], 1000000200);
    /* Leftovers of a crash, a cut-short file, and things that are not ours. */
    char tmp1[4200], tmp2[4200], bad[4400], keep[4200], baddir[4200];
    snprintf(tmp1, sizeof(tmp1), "%s/.fetch-999-1.tmp", root);
    snprintf(tmp2, sizeof(tmp2), "%s/..fetch-999-1.tmp.999.3.part", root);
    snprintf(baddir, sizeof(baddir), "%s/db/r/2025/01/15/09", root);
    snprintf(bad, sizeof(bad), "%s/bad.parquet", baddir);
    snprintf(keep, sizeof(keep), "%s/.keep", root);
    write_file(tmp1, "partial");
    write_file(tmp2, "partial");
    assert_int_equal(mkdir(baddir, 0755), 0);
    write_file(bad, "PAR1 cut sh");
    write_file(keep, "not ours");

    /* Restart with a smaller cap: a (oldest) must go at once. */
    double reads0 = fam("arc_storage_reads_total");
    c = new_cache(st, dir, 250);
    struct readcache_stats s = stats(c);
    assert_int_equal(s.files, 2);
    assert_int_equal(s.bytes, 200);
    assert_int_equal(s.evictions, 1);
    assert_int_equal(s.misses, 0);
    assert_false(exists(p[0]));
    assert_true(exists(p[1]) && exists(p[2]));
    assert_false(exists(tmp1));
    assert_false(exists(tmp2));
    assert_false(exists(bad));
    assert_false(exists(baddir)); /* emptied, removed */
    assert_true(exists(keep));    /* unknown hidden file left alone */

    get_ok(c, keys[1], path, sizeof(path)); /* served from disk */
    assert_string_equal(path, p[1]);
    readcache_release(c, keys[1]);
    s = stats(c);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.misses, 0);
    assert_true(fam("arc_storage_reads_total") - reads0 == 0.0);
    get_ok(c, keys[0], path, sizeof(path)); /* evicted one: downloaded again */
    readcache_release(c, keys[0]);
    assert_int_equal(stats(c).misses, 1);
    readcache_free(&c);
    storage_free(&st);
}

struct waiter {
    struct readcache *c;
    const char *key;
    int64_t deadline;
    int rc;
    int64_t took_ms;
};

static void *wait_get(void *arg)
{
    struct waiter *w = arg;
    char path[4096];
    struct errbuf eb = {0};
    int64_t t0 = time_mono_ms();
    w->rc = readcache_get_until(w->c, w->key, w->deadline, path, sizeof(path), &eb);
    w->took_ms = time_mono_ms() - t0;
    if (w->rc == RC_OK)
        readcache_release(w->c, w->key);
    return NULL;
}

static void test_faults_and_deadline(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct storage *st = open_fast(2); /* storage_hang blocks for 2 s */
    const char *key = "db/f/2025/01/15/10/f_1.parquet";
    put_obj(st, key, 100, 'f');
    char dir[256], path[4096];
    struct readcache *c = new_cache(st, new_dir(dir, sizeof(dir)), 1 << 20);
    struct errbuf eb = {0};

    /* storage_fail: the download fails at once with RC_S3, nothing cached. */
    set_faults("storage_fail");
    int64_t t0 = time_mono_ms();
    assert_int_equal(readcache_get(c, key, path, sizeof(path), &eb), RC_S3);
    assert_true(time_mono_ms() - t0 < 1000);
    assert_non_null(strstr(eb.msg, "storage_fail"));
    struct readcache_stats s = stats(c);
    assert_int_equal(s.fetch_failures, 1);
    assert_int_equal(s.files, 0);
    assert_int_equal(s.pinned_files, 0);

    /* storage_hang: callers leave at their deadline; both join the one
     * download, which times out after the request timeout (2 s). */
    set_faults("storage_hang");
    double to0 = fam("arc_storage_timeouts_total");
    uint64_t m0 = stats(c).misses;
    struct waiter w[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (struct waiter){.c = c, .key = key, .deadline = time_mono_ms() + 300 + 100 * i};
        pthread_create(&t[i], NULL, wait_get, &w[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].rc, RC_TIMEOUT);
        assert_true(w[i].took_ms >= 250 && w[i].took_ms < 1500);
    }
    assert_int_equal(stats(c).misses, m0 + 1); /* one download for both */
    assert_int_equal(stats(c).fetching, 1);    /* still running in the background */
    wait_idle(c, 5000);
    s = stats(c);
    assert_int_equal(s.fetch_failures, 2);
    assert_int_equal(s.files, 0);
    assert_true(fam("arc_storage_timeouts_total") - to0 >= 1.0);

    /* A waiter without deadline gets the download's own error. */
    struct waiter w3 = {.c = c, .key = key, .deadline = 0};
    wait_get(&w3);
    assert_int_equal(w3.rc, RC_TIMEOUT);
    assert_true(w3.took_ms >= 1500);
    wait_idle(c, 5000);

    /* Storage recovers: the next get downloads and succeeds. */
    set_faults(NULL);
    get_ok(c, key, path, sizeof(path));
    readcache_release(c, key);
    assert_int_equal(stats(c).files, 1);
    readcache_free(&c);
    storage_free(&st);
}

static void test_local_passthrough(void **state)
{
    (void)state;
    char base[256];
    snprintf(base, sizeof(base), "%s/localdata", g_root);
    struct storage *st = NULL;
    struct errbuf eb = {0};
    assert_int_equal(storage_new_local(base, &st, &eb), RC_OK);
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/never-created", g_root);
    struct readcache *c = new_cache(st, dir, 1);
    assert_true(readcache_is_passthrough(c));
    assert_null(readcache_dir(c));
    assert_false(exists(dir));
    char path[4096], want[4096];
    const char *key = "db/m/2025/01/15/10/m_1.parquet";
    assert_int_equal(readcache_get(c, key, path, sizeof(path), &eb), RC_OK);
    snprintf(want, sizeof(want), "%s/%s", base, key);
    assert_string_equal(path, want);
    readcache_release(c, key); /* no-op */
    readcache_prefetch(c, key);
    assert_int_equal(readcache_get(c, "a/../b", path, sizeof(path), &eb), RC_INVALID);
    struct readcache_stats s = stats(c);
    assert_int_equal(s.hits + s.misses + s.files + s.pinned_files, 0);
    readcache_free(&c);
    storage_free(&st);
    struct storage *none = NULL;
    assert_int_equal(readcache_new(none, dir, 100, &c, &eb), RC_INVALID);
    assert_int_equal(storage_new_local(base, &st, &eb), RC_OK);
    assert_int_equal(readcache_new(st, dir, 0, &c, &eb), RC_INVALID);
    assert_null(c);
    storage_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_miss_then_hit),     cmocka_unit_test(test_eviction_lru),
        cmocka_unit_test(test_pinning),           cmocka_unit_test(test_concurrent_same_key),
        cmocka_unit_test(test_restart),           cmocka_unit_test(test_faults_and_deadline),
        cmocka_unit_test(test_local_passthrough),
    };
    return cmocka_run_group_tests(tests, s3rver_setup, s3rver_teardown);
}
