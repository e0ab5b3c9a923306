/*
 * tests/unit/query/test_qcache.c — the query result cache (query/qcache.c,
 * SPEC §4.12): keys, TTL, LRU by count and bytes, the per-result cap,
 * clears and generations (no stale put after a clear), hits that outlive
 * a clear, the process-wide query_cache_clear(), and concurrent use.
 */
#include "test_helpers.h"

#include <pthread.h>
#include <unistd.h>

#include "query/qcache.h"
#include "util/timeutil.h"

static struct qcache *mk(size_t entries, size_t max_result, size_t max_total, int64_t ttl_ms)
{
    struct qcache_options o = {.enabled = true,
                               .ttl_ms = ttl_ms,
                               .max_entries = entries,
                               .max_result_bytes = max_result,
                               .max_total_bytes = max_total};
    return qcache_new(&o);
}

static bool put(struct qcache *c, const char *sql, const char *body)
{
    return qcache_put(c, sql, "default", "json", qcache_generation(c), body, strlen(body), 7, 2);
}

static bool has(struct qcache *c, const char *sql, const char *want_body)
{
    struct qcache_hit h;
    if (!qcache_get(c, sql, "default", "json", &h))
        return false;
    assert_int_equal(h.len, strlen(want_body));
    assert_memory_equal(h.body, want_body, h.len);
    qcache_hit_release(&h);
    assert_null(h.ref_);
    return true;
}

static void test_roundtrip_and_keys(void **state)
{
    (void)state;
    struct qcache *c = mk(10, 1000, 10000, 60000);
    assert_true(qcache_enabled(c));
    assert_false(has(c, "SELECT 1", "x"));
    assert_true(put(c, "SELECT 1", "{\"a\":1"));
    struct qcache_hit h;
    assert_true(qcache_get(c, "SELECT 1", "default", "json", &h));
    assert_string_equal(h.body, "{\"a\":1");
    assert_int_equal(h.row_count, 7);
    assert_true(h.age_s >= 0 && h.age_s < 5);
    qcache_hit_release(&h);
    qcache_hit_release(&h); /* twice is harmless */
    /* Every key part matters, exactly. */
    assert_false(qcache_get(c, "SELECT 1 ", "default", "json", &h));
    assert_false(qcache_get(c, "select 1", "default", "json", &h));
    assert_false(qcache_get(c, "SELECT 1", "other", "json", &h));
    assert_false(qcache_get(c, "SELECT 1", "default", "csv", &h));
    /* "a" + "bc" and "ab" + "c" are different keys. */
    assert_true(qcache_put(c, "a", "bc", "json", qcache_generation(c), "1", 1, 1, 1));
    assert_false(qcache_get(c, "ab", "c", "json", &h));
    assert_true(qcache_get(c, "a", "bc", "json", &h));
    qcache_hit_release(&h);

    struct qcache_stats st;
    qcache_get_stats(c, &st);
    assert_int_equal(st.current_size, 2);
    assert_int_equal(st.total_requests, 8);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 6);
    assert_int_equal(st.evictions, 0);

    /* Replacing a key keeps one entry. */
    assert_true(put(c, "SELECT 1", "{\"a\":2"));
    assert_true(has(c, "SELECT 1", "{\"a\":2"));
    qcache_get_stats(c, &st);
    assert_int_equal(st.current_size, 2);
    qcache_free(&c);
    assert_null(c);
    qcache_free(&c);
}

static void test_disabled(void **state)
{
    (void)state;
    struct qcache_options o = {.enabled = false,
                               .ttl_ms = 1000,
                               .max_entries = 10,
                               .max_result_bytes = 100,
                               .max_total_bytes = 1000};
    struct qcache *c = qcache_new(&o);
    assert_false(qcache_enabled(c));
    assert_false(put(c, "q", "b"));
    assert_false(has(c, "q", "b"));
    qcache_free(&c);
}

static void test_ttl(void **state)
{
    (void)state;
    struct qcache *c = mk(10, 1000, 10000, 60);
    assert_true(put(c, "q", "body"));
    assert_true(has(c, "q", "body"));
    time_sleep_ms(90);
    assert_false(has(c, "q", "body"));
    struct qcache_stats st;
    qcache_get_stats(c, &st);
    assert_int_equal(st.expirations, 1);
    assert_int_equal(st.current_size, 0);
    assert_int_equal(st.total_bytes, 0);
    qcache_free(&c);
}

static void test_lru_count(void **state)
{
    (void)state;
    struct qcache *c = mk(3, 1000, 100000, 60000);
    assert_true(put(c, "a", "A"));
    assert_true(put(c, "b", "B"));
    assert_true(put(c, "c", "C"));
    assert_true(has(c, "a", "A")); /* a is now the most recent */
    assert_true(put(c, "d", "D")); /* evicts b, the least recent */
    assert_false(has(c, "b", "B"));
    assert_true(has(c, "a", "A"));
    assert_true(has(c, "c", "C"));
    assert_true(has(c, "d", "D"));
    struct qcache_stats st;
    qcache_get_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.current_size, 3);

    struct qcache_entry_info info[8];
    size_t n = qcache_list(c, info, 8);
    assert_int_equal(n, 3);
    assert_int_equal(strlen(info[0].key_hash), 16);
    assert_int_equal(info[0].row_count, 7);
    assert_int_equal(info[0].columns, 2);
    assert_true(info[0].cached_at_us > 1600000000000000LL);
    /* Most recently used first: d was read last. */
    struct qcache_entry_info one;
    assert_true(has(c, "c", "C"));
    assert_int_equal(qcache_list(c, &one, 1), 1);
    assert_string_not_equal(one.key_hash, info[0].key_hash); /* c moved to the front */
    qcache_free(&c);
}

static void test_lru_bytes_and_result_cap(void **state)
{
    (void)state;
    /* Entries count body + key ("1\0default\0json" = 14 bytes). */
    struct qcache *c = mk(100, 60, 100, 60000);
    char body[61];
    memset(body, 'x', 60);
    body[60] = '\0';
    assert_true(put(c, "1", body + 30)); /* 30 + 14 */
    assert_true(put(c, "2", body + 30)); /* 88 total */
    assert_true(put(c, "3", body + 40)); /* 20 + 14: evicts "1" */
    assert_false(has(c, "1", body + 30));
    assert_true(has(c, "2", body + 30));
    assert_true(has(c, "3", body + 40));
    struct qcache_stats st;
    qcache_get_stats(c, &st);
    assert_int_equal(st.total_bytes, 44 + 34);
    /* Larger than max_result_bytes: refused, nothing evicted. */
    char big[62];
    memset(big, 'y', 61);
    big[61] = '\0';
    assert_false(put(c, "4", big));
    assert_true(has(c, "2", body + 30));
    /* Exactly max_result_bytes is fine (and evicts what it must). */
    assert_true(put(c, "5", body));
    assert_true(has(c, "5", body));
    qcache_get_stats(c, &st);
    assert_true(st.total_bytes <= 100);
    qcache_free(&c);
}

static void test_clear_and_generation(void **state)
{
    (void)state;
    struct qcache *c = mk(10, 1000, 10000, 60000);
    assert_true(put(c, "a", "A"));
    assert_true(put(c, "b", "B"));
    uint64_t gen = qcache_generation(c);
    /* A hit taken before the clear stays readable after it. */
    struct qcache_hit h;
    assert_true(qcache_get(c, "a", "default", "json", &h));
    assert_int_equal(qcache_clear(c), 2);
    assert_string_equal(h.body, "A");
    qcache_hit_release(&h);
    assert_false(has(c, "a", "A"));
    /* A query that started before the clear cannot store its result. */
    assert_false(qcache_put(c, "a", "default", "json", gen, "stale", 5, 1, 1));
    assert_false(has(c, "a", "stale"));
    assert_true(qcache_generation(c) == gen + 1);
    assert_true(put(c, "a", "fresh"));
    assert_true(has(c, "a", "fresh"));
    assert_int_equal(qcache_clear(c), 1);
    assert_int_equal(qcache_clear(c), 0);
    struct qcache_stats st;
    qcache_get_stats(c, &st);
    assert_int_equal(st.clears, 3);
    qcache_free(&c);
}

static void test_global_clear(void **state)
{
    (void)state;
    assert_int_equal(query_cache_clear(), 0); /* none registered */
    struct qcache *c = mk(10, 1000, 10000, 60000);
    qcache_set_global(c);
    assert_true(put(c, "a", "A"));
    assert_true(put(c, "b", "B"));
    assert_int_equal(query_cache_clear(), 2);
    assert_false(has(c, "a", "A"));
    assert_true(put(c, "a", "A"));
    qcache_free(&c); /* unregisters itself */
    assert_int_equal(query_cache_clear(), 0);
}

struct worker {
    struct qcache *c;
    int id;
    int ops;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    char sql[32], body[64];
    for (int i = 0; i < w->ops; i++) {
        snprintf(sql, sizeof(sql), "q%d", i % 13);
        snprintf(body, sizeof(body), "body-%d-%d", w->id, i);
        struct qcache_hit h;
        switch ((i + w->id) % 4) {
        case 0:
            (void)qcache_put(w->c, sql, "db", "json", qcache_generation(w->c), body, strlen(body),
                             1, 1);
            break;
        case 1:
        case 2:
            if (qcache_get(w->c, sql, "db", "json", &h)) {
                /* Read the whole body while others clear and evict. */
                if (strncmp(h.body, "body-", 5) != 0 || strlen(h.body) != h.len)
                    abort();
                qcache_hit_release(&h);
            }
            break;
        default:
            if (i % 50 == 3)
                (void)query_cache_clear();
            break;
        }
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    struct qcache *c = mk(5, 1000, 100000, 60000);
    qcache_set_global(c);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.c = c, .id = i, .ops = 20000};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    struct qcache_stats st;
    qcache_get_stats(c, &st);
    assert_true(st.current_size <= 5);
    assert_int_equal(st.total_requests, st.hits + st.misses);
    qcache_set_global(NULL);
    qcache_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_keys),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_lru_count),
        cmocka_unit_test(test_lru_bytes_and_result_cap),
        cmocka_unit_test(test_clear_and_generation),
        cmocka_unit_test(test_global_clear),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
